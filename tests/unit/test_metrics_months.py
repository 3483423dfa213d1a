"""The month path of the metrics engine (acm_helpers.metrics.months) gives the join's cells.

Populations that partition time are evaluated per month and rolled up to quarters, years,
contract terms and trailing windows; medians from month histograms. Every test here compares
with the plain episodes x periods join (``month_rollup=False``) or with numbers worked by hand.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from metrics_kit import ep, episodes, make_program

from acm_helpers.core.config import Metric, Program
from acm_helpers.demo import generate as demo
from acm_helpers.intake.derive import derive_episodes
from acm_helpers.metrics import months as metrics_months
from acm_helpers.metrics.periods import periods_table
from acm_helpers.metrics.sql import evaluate

KEYS = ["metric_id", "provider_id", "period", "grain", "dimension", "group"]
DATES = {"exit_date", "enrollment_date", "referral_date"}


def metric(population: str, kind: str = "rate", **fields) -> Metric:
    base = {"numerator": "destination_class = 'permanent'"} if kind == "rate" else {}
    return Metric(label="m", definition="d", kind=kind, population=population, **base | fields)


@pytest.mark.parametrize(
    ("population", "column", "shift"),
    [
        ("exit_date BETWEEN :start AND :end", "exit_date", 0),
        ("exit_date between :start and :end", "exit_date", 0),
        (
            "destination_class = 'permanent' AND exit_date BETWEEN :start - INTERVAL 365 DAY "
            "AND :end - INTERVAL 365 DAY AND return_12m IS NOT NULL",
            "exit_date",
            -365,
        ),
        (
            "enrollment_date BETWEEN :start + INTERVAL 7 DAYS AND :end + INTERVAL 7 DAYS",
            "enrollment_date",
            7,
        ),
        (
            "enrollment_date BETWEEN :start AND :end AND referral_date IS NOT NULL",
            "enrollment_date",
            0,
        ),
        ("program = 'A OR B' AND exit_date BETWEEN :start AND :end", "exit_date", 0),
        (
            "(program = 'ES' OR program = 'TH') AND exit_date BETWEEN :start AND :end",
            "exit_date",
            0,
        ),
        ("NOT (program = 'SO') AND exit_date BETWEEN :start AND :end", "exit_date", 0),
    ],
)
def test_populations_that_partition_time(population, column, shift):
    part = metrics_months.partition(metric(population), DATES)
    assert part is not None and (part.column, part.shift) == (column, shift)
    assert ":start" not in part.rest and ":end" not in part.rest


@pytest.mark.parametrize(
    "population",
    [
        # one episode in many months
        "enrollment_date <= :end AND (exit_date IS NULL OR exit_date >= :start)",
        # OR at the top level could admit rows outside the period
        "exit_date BETWEEN :start AND :end OR program = 'SO'",
        "program = 'SO' OR exit_date BETWEEN :start AND :end AND cost > 0",
        # the clause is negated or nested
        "NOT exit_date BETWEEN :start AND :end",
        "exit_date NOT BETWEEN :start AND :end",
        "(exit_date BETWEEN :start AND :end OR cost > 0)",
        "CASE WHEN exit_date BETWEEN :start AND :end THEN TRUE END",
        # month shifts do not tile (29 February), unequal shifts do not either
        "exit_date BETWEEN :start - INTERVAL 1 YEAR AND :end - INTERVAL 1 YEAR",
        "exit_date BETWEEN :start - INTERVAL 30 DAY AND :end",
        "exit_date BETWEEN :start AND :start + INTERVAL 5 DAY",
        # the period is mentioned again outside the clause
        "exit_date BETWEEN :start AND :end AND enrollment_date < :end - INTERVAL 30 DAY",
        # not a date column
        "cost BETWEEN :start AND :end",
        "exit_date BETWEEN :start AND :end AND enrollment_date BETWEEN :start AND :end",
    ],
)
def test_populations_that_do_not(population):
    assert metrics_months.partition(metric(population), DATES) is None


def test_kinds_and_values_that_keep_the_join():
    pop = "exit_date BETWEEN :start AND :end"
    assert metrics_months.partition(metric(pop, kind="count", value="client_id"), DATES) is None
    stayers = metric(pop, kind="median", value="date_diff('day', enrollment_date, :end)")
    assert metrics_months.partition(stayers, DATES) is None
    assert metrics_months.partition(metric(pop, kind="count"), DATES) is not None


def same_cells(program: Program, eps: pd.DataFrame, table: pd.DataFrame, dims=None) -> int:
    months = evaluate(program, eps, table, dims)
    joined = evaluate(program, eps, table, dims, month_rollup=False)
    both = months.merge(joined, on=KEYS, how="outer", suffixes=("", "_j"), indicator=True)
    assert (both["_merge"] == "both").all(), both.loc[both["_merge"] != "both", KEYS].head()
    for col in [c for c in months.columns if c.startswith("_")]:
        a, b = both[col].to_numpy(float), both[col + "_j"].to_numpy(float)
        bad = ~np.isclose(a, b, rtol=1e-12, atol=1e-9, equal_nan=True)
        assert not bad.any(), (col, both.loc[bad, [*KEYS, col, col + "_j"]].head())
    return len(both)


@pytest.fixture(params=["histograms", "sorting"])
def median_path(request, monkeypatch):
    """Medians from month histograms, or (as for sparse data) sorted in SQL over the join."""
    cells = 10**12 if request.param == "histograms" else 0
    monkeypatch.setattr(metrics_months, "HISTOGRAM_CELLS_PER_ROW", cells)
    return request.param


def test_demo_program_every_grain_and_breakdown(program, demo_episodes, median_path):
    eps = derive_episodes(demo_episodes)
    table = periods_table(program)
    assert set(table["grain"]) == {"month", "quarter", "year", "term", "t12"}
    assert same_cells(program, eps, table) > 10_000


def test_family_preservation_program(family_program, median_path):
    eps = derive_episodes(demo.generate(family_program, seed=7, scale=0.5))
    assert same_cells(family_program, eps, periods_table(family_program)) > 1_000


def test_terms_that_are_not_whole_months_use_the_join(program, demo_episodes):
    """One provider's contract starts mid-month: every provider's term (one window id, so
    "__all__" adds them up) goes through the join, the other windows through months."""
    data = program.model_dump()
    data["providers"][0]["start"] = "2024-11-15"
    odd = Program.model_validate(data)
    table = periods_table(odd, grains=("month", "term"))
    eps = derive_episodes(demo_episodes)
    units = metrics_months.units(
        pd.DataFrame(
            {
                "__pid": table.groupby(["period", "grain"], sort=False).ngroup(),
                "__start": table["start"],
                "__end": table["end"],
                "__scope": table["scope"],
                "__grain": table["grain"],
            }
        )
    )
    assert len(units.aligned) == table["grain"].isin(["month", "t12"]).sum()  # not "term"
    assert same_cells(odd, eps, table, ["gender"]) > 1_000


def test_medians_by_hand(median_path):
    """Provider a leaves 7 people in 2025-01 (stays 1..7 days, one value missing) and 2 in
    2025-02 (stays 8 and 9): January's median is 3.5 of six values; the first quarter's is 4.5
    of eight (1-6, 8, 9); the exact 95% interval of n=8 is [x(1), x(8)] (P(Bin(8,.5) <= 0) < 0.025 <= P(<= 1))."""
    rows = [r for d in range(1, 8) for r in ep("a", "2025-01-20", los=d)]
    rows += ep("a", "2025-02-10", los=8) + ep("a", "2025-02-11", los=9)
    eps = episodes(rows)
    eps.loc[eps["length_of_stay_days"] == 7, "length_of_stay_days"] = pd.NA
    program = make_program(metrics=["stay_median"])
    table = periods_table(program, grains=("month", "quarter"))
    raw = evaluate(program, eps, table, [])
    cell = raw.set_index(["provider_id", "period"])
    jan, q1 = cell.loc[("a", "2025-01")], cell.loc[("a", "2025-Q1")]
    assert (jan["_rows"], jan["_n"], jan["_med"]) == (7, 6, 3.5)
    assert (q1["_rows"], q1["_n"], q1["_med"], q1["_lo"], q1["_hi"]) == (9, 8, 4.5, 1.0, 9.0)
    assert same_cells(program, eps, table, ["race"]) > 0


def test_medians_of_many_distinct_values_and_beyond_the_histogram_budget(monkeypatch):
    """Non-integer values are coded by np.unique; past the budget the join's sort is used."""
    monkeypatch.setattr(metrics_months, "HISTOGRAM_CELLS_PER_ROW", 10**12)
    rng = np.random.default_rng(3)
    rows = [r for k in range(300) for r in ep("abc"[k % 3], f"2025-{1 + k % 12:02d}-15", los=k)]
    eps = episodes(rows)
    eps["length_of_stay_days"] = rng.gamma(2.0, 30.0, len(eps))
    program = make_program(metrics=["stay_median"])
    table = periods_table(program)
    assert same_cells(program, eps, table) > 100
    monkeypatch.setattr(metrics_months, "HISTOGRAM_BUDGET", 10)
    assert same_cells(program, eps, table) > 100


def test_period_bounds_inside_a_value_expression():
    """Stayers' length of participation (APR Q22a): days from enrollment to the period's end.
    Two stayers of provider a enrolled 2025-01-01 and 2025-01-11: 30 and 20 days at the end of
    January (median 25), 58 and 48 at the end of February (median 53); a mean over the same
    population shares the join and sees the same bound."""
    base = make_program(metrics=["stay_median"]).model_dump()
    stayers = "enrollment_date <= :end AND (exit_date IS NULL OR exit_date > :end)"
    value = "date_diff('day', CAST(enrollment_date AS DATE), :end)"
    for mid, kind in [("stayer_median", "median"), ("stayer_mean", "mean")]:
        base["metrics"][mid] = {
            "label": mid,
            "definition": "Days from enrollment to the end of the period, stayers.",
            "kind": kind,
            "population": stayers,
            "value": value,
        }
    program = Program.model_validate(base)
    eps = episodes(ep("a", None, enrolled="2025-01-01") + ep("a", None, enrolled="2025-01-11"))
    raw = evaluate(program, eps, periods_table(program, grains=("month",)), [])
    cell = raw[raw["provider_id"] == "a"].set_index(["metric_id", "period"])
    assert cell.loc[("stayer_median", "2025-01"), "_med"] == 25.0
    assert cell.loc[("stayer_median", "2025-02"), "_med"] == 53.0
    assert cell.loc[("stayer_mean", "2025-02"), "_s"] == 58 + 48


# -- counts over episodes active in the period (acm_helpers.metrics.active) ---------------------
ACTIVE = "enrollment_date <= :end AND (exit_date IS NULL OR exit_date >= :start)"


@pytest.mark.parametrize(
    ("population", "value", "ok"),
    [
        pytest.param(ACTIVE, "client_id", True, id="clients-served"),
        pytest.param(ACTIVE, None, True, id="episodes-open"),
        pytest.param(ACTIVE + " AND program = 'ES OR TH'", "client_id", True, id="and-rest"),
        pytest.param(ACTIVE + " OR program = 'SO'", "client_id", False, id="top-level-or"),
        pytest.param(ACTIVE + " AND enrollment_date < :end", None, False, id="period-again"),
        pytest.param(
            "enrollment_date <= :end AND (exit_date IS NULL OR exit_date > :end)",
            None,
            False,
            id="stayers",
        ),
        pytest.param(ACTIVE.replace("exit_date", "cost"), None, False, id="not-a-date"),
    ],
)
def test_populations_of_episodes_active_in_the_period(population, value, ok):
    from acm_helpers.metrics import active as metrics_active

    m = metric(population, kind="count", **({"value": value} if value else {}))
    assert (metrics_active.active(m, DATES) is not None) == ok


def test_clients_served_by_hand(monkeypatch):
    """Client X has two episodes (Jan-Feb and Apr 2025), Y is open since January, Z came in
    December 2024 and left in January, W (one episode) only in March: distinct clients served
    are Jan 3, Feb 2, Mar 2, Apr 2, Q1 4, Q2 2 (Y, X), and the 2025-01..2026-03 term 4. X's two
    episodes go through the join, the others through cumulative counts."""
    from acm_helpers.metrics import active as metrics_active

    calls = []
    real = metrics_active.count_sql
    monkeypatch.setattr(metrics_active, "count_sql", lambda *a: calls.append(1) or real(*a))
    rows = ep("a", "2025-02-20", client="X", enrolled="2025-01-05")
    rows += ep("a", "2025-04-30", client="X", enrolled="2025-04-02")
    rows += ep("a", None, client="Y", enrolled="2025-01-10")
    rows += ep("a", "2025-01-03", client="Z", enrolled="2024-12-20")
    rows += ep("a", "2025-03-30", client="W", enrolled="2025-03-01")
    program = make_program(metrics=["served"])
    table = periods_table(program, grains=("month", "quarter", "term"))
    raw = evaluate(program, episodes(rows), table, [])
    assert calls, "the interval path did not run"
    got = raw[raw["provider_id"] == "a"].set_index("period")["_k"]
    want = {"2025-01": 3, "2025-02": 2, "2025-03": 2, "2025-04": 2, "2025-Q1": 4, "2025-Q2": 2}
    assert {p: got[p] for p in want} == want and got["term"] == 4
    assert same_cells(program, episodes(rows), table, ["race"]) > 0
