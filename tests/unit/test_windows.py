"""The engine over arbitrary windows (``metrics.windows.window_cells``): the same cells as
``metrics.engine.compute`` where a calendar period exists, every kind's interval, ad-hoc
breakdowns and metrics, and the engine's suppression (not a second one)."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from metrics_kit import MEAN_STAY, with_mean

from acm_helpers.core.config import Dimension, Metric
from acm_helpers.core.errors import ConfigError, PrivacyError, UnknownIdError
from acm_helpers.core.schema import ALL
from acm_helpers.demo import generate as demo
from acm_helpers.intake.derive import derive_episodes
from acm_helpers.metrics import engine
from acm_helpers.metrics import windows as em

SEED, SCALE = 20261023, 0.25  # as tests/conftest.py
NUMBERS = ["numerator", "denominator", "value", "ci_low", "ci_high", "cell_size"]


@pytest.fixture(scope="module")
def homeless(program, demo_episodes):
    prog = with_mean(program)
    eps = derive_episodes(demo_episodes)
    return prog, eps, engine.compute(prog, eps)


@pytest.fixture(scope="module")
def family(family_program):
    eps = derive_episodes(demo.generate(family_program, seed=SEED, scale=SCALE))
    return family_program, eps, engine.compute(family_program, eps)


def engine_cells_of(mv: pd.DataFrame, period: str, grain: str) -> pd.DataFrame:
    keys = ["metric_id", "provider_id", "dimension", "group"]
    return mv[(mv["period"] == period) & (mv["grain"] == grain)].set_index(keys).sort_index()


def assert_same_cells(got: pd.DataFrame, mv: pd.DataFrame, period: str, grain: str) -> None:
    """Every cell of ``got`` is the engine's: numbers, intervals and suppression (``got`` for a
    provider audience: suppressed cells nulled, as ``metric_values`` holds them)."""
    want = engine_cells_of(mv, period, grain)
    got = got.set_index(["metric_id", "provider_id", "dimension", "group"]).sort_index()
    assert len(got) and set(got.index) <= set(want.index)
    want = want.loc[got.index]
    assert (got["suppressed"].to_numpy() == want["suppressed"].to_numpy()).all()
    for col in NUMBERS:
        np.testing.assert_allclose(
            got[col].to_numpy(float), want[col].to_numpy(float), rtol=1e-12, err_msg=col
        )


KINDS = {
    "homeless": [
        pytest.param("exits_to_permanent_housing", id="rate"),
        pytest.param("median_length_of_stay", id="median"),
        pytest.param("mean_length_of_stay", id="mean"),
        pytest.param("clients_served", id="count"),
        pytest.param("cost_per_exit_to_ph", id="sum_ratio"),
    ],
    "family": [
        pytest.param("completed_3_months", id="rate"),
        pytest.param("median_months_of_service", id="median"),
        pytest.param("families_served", id="count"),
    ],
}
WINDOWS = [
    pytest.param(em.quarter_windows("2025-07", "2025-09"), "2025-Q3", "quarter", id="quarter"),
    pytest.param(em.trailing_window("2025-12", 12, "2025"), "2025", "year", id="year-as-window"),
    pytest.param(
        em.windows([("term", date(2024, 11, 1), date(2026, 10, 31))]), "term", "term", id="term"
    ),
]


@pytest.mark.parametrize("wins, period, grain", WINDOWS)
@pytest.mark.parametrize("metric_id", KINDS["homeless"])
def test_cells_equal_the_engines_homeless(homeless, metric_id, wins, period, grain):
    prog, eps, mv = homeless
    got = em.window_cells(
        prog, eps, wins, [metric_id], dimensions=["race_ethnicity"], audience="provider"
    )
    assert_same_cells(got, mv, period, grain)


@pytest.mark.parametrize("wins, period, grain", WINDOWS)
@pytest.mark.parametrize("metric_id", KINDS["family"])
def test_cells_equal_the_engines_family(family, metric_id, wins, period, grain):
    prog, eps, mv = family
    got = em.window_cells(
        prog, eps, wins, [metric_id], dimensions=["age_band"], audience="provider"
    )
    assert_same_cells(got, mv, period, grain)


def test_months_carry_the_engines_time_suppression(homeless):
    """Month windows are evaluated with the program's quarters, years and term, so a month the
    packet hides to protect its quarter is hidden here too."""
    prog, eps, mv = homeless
    got = em.window_cells(
        prog, eps, em.month_windows("2025-01", "2025-12"), ["exits_to_permanent_housing"]
    )
    months = mv[(mv["grain"] == "month") & mv["period"].between("2025-01", "2025-12")]
    months = months[(months["metric_id"] == "exits_to_permanent_housing")]
    months = months[months["dimension"] == ""]
    merged = got.merge(
        months, left_on=["provider_id", "window"], right_on=["provider_id", "period"]
    )
    assert len(merged) == len(got) == len(months)
    assert (merged["suppressed_x"] == merged["suppressed_y"]).all()
    reasons = set(merged.loc[merged["suppressed_x"], "suppression_reason_x"])
    assert any("months" in r or "quarter" in r for r in reasons), reasons  # time rule was used


def small_frame(spec: list[tuple]) -> pd.DataFrame:
    """spec rows: (provider, count, exited, destination_class, length_of_stay_days)."""
    rows = []
    for provider, count, exited, dest, stay in spec:
        for _ in range(count):
            n = len(rows) + 1
            ex = pd.Timestamp(exited)
            rows.append(
                {
                    "episode_id": f"E{n:04d}",
                    "client_id": f"C{n:04d}",
                    "provider_id": provider,
                    "program": "x",
                    "enrollment_date": ex - pd.Timedelta(days=stay),
                    "exit_date": ex,
                    "destination_class": dest,
                    "race_ethnicity": "White",
                    "age_at_entry": 30,
                    "household_id": f"H{n:04d}",
                    "cost": 1000.0,
                }
            )
    return derive_episodes(pd.DataFrame(rows), as_of=date(2026, 10, 31))


def test_intervals_by_kind_by_hand(program):
    """Rate 5/10: Wilson [0.2366, 0.7634]; median of stays 1..10 days: exact order statistics
    [x(2), x(9)] (the normal approximation would give [x(1), x(10)]); a count of 10: exact
    Poisson [4.795, 18.39]; one window pooled, not an average of its months."""
    spec = [("harbor", 1, "2026-03-10", "permanent", d) for d in range(1, 6)]
    spec += [("harbor", 1, "2026-04-10", "temporary", d) for d in range(6, 11)]
    eps = small_frame(spec)
    wins = em.windows([("spring", date(2026, 3, 1), date(2026, 4, 30))])
    leavers = Metric(
        label="Leavers",
        definition="Episodes ending in the window.",
        kind="count",
        population="exit_date BETWEEN :start AND :end",
    )
    got = em.window_cells(
        program,
        eps,
        wins,
        ["exits_to_permanent_housing", "median_length_of_stay", "leavers"],
        providers=["harbor"],
        extra_metrics={"leavers": leavers},
    ).set_index("metric_id")
    rate = got.loc["exits_to_permanent_housing"]
    assert (rate["numerator"], rate["denominator"], rate["value"]) == (5, 10, 0.5)
    assert rate[["ci_low", "ci_high"]].tolist() == pytest.approx([0.2366, 0.7634], abs=1e-4)
    med = got.loc["median_length_of_stay"]
    assert (med["value"], med["ci_low"], med["ci_high"]) == (5.5, 2.0, 9.0)
    count = got.loc["leavers"]
    assert count["value"] == 10
    assert count[["ci_low", "ci_high"]].tolist() == pytest.approx([4.7954, 18.3904], abs=1e-4)
    months = em.window_cells(
        program, eps, em.month_windows("2026-03", "2026-04"), ["exits_to_permanent_housing"]
    )
    own = months[months["provider_id"] == "harbor"].set_index("window")["value"]
    assert own.to_dict() == {"2026-03": 1.0, "2026-04": 0.0}  # pooled 0.5 above, not averaged


def test_ad_hoc_breakdown_goes_through_the_engine(program):
    """Stay-length bands declared on the fly: groups labelled as configured bins are, their
    cells add up to the overall cell, and they are suppressed like any group."""
    spec = [
        ("harbor", 14, "2026-03-10", "permanent", 20),
        ("harbor", 12, "2026-03-10", "temporary", 100),
        ("harbor", 3, "2026-03-10", "temporary", 400),
    ]
    bands = Dimension(label="Stay", column="stay", source="length_of_stay_days", bins=[0, 30, 365])
    got = em.window_cells(
        program,
        small_frame(spec),
        em.windows([("march", date(2026, 3, 1), date(2026, 3, 31))]),
        ["exits_to_permanent_housing"],
        providers=["harbor"],
        breakdowns={"stay": bands},
        audience="provider",
    ).set_index("group")
    assert got.loc["", "value"] == pytest.approx(14 / 29)
    assert got.loc["0-29", ["value", "denominator"]].tolist() == [1.0, 14]
    # 365+ has 3 cases (primary); 30-364, the smallest other band, protects it (complementary)
    assert got.loc["365+", "suppressed"] and got.loc["30-364", "suppressed"]
    assert got.loc["30-364", "suppression_reason"].startswith("complementary")
    assert got.loc[["365+", "30-364"], NUMBERS].isna().all().all()  # provider audience: nulled
    assert not got.loc["0-29", "suppressed"]


def test_linked_metrics_are_suppressed_with_the_count_they_share(program):
    """Median length of stay prints the leavers count of exits to permanent housing; when the
    exits rate of a provider is hidden as a complement, its median stay is hidden too, although
    the median's own rules would have shown it.

    Exits: elliott 4 leavers (hidden), puget 14 (its complement). Median stay: elliott 4 values
    (hidden), harbor 12 values (30 leavers, 18 without a length of stay: the median's own
    complement), puget 14 (shown by its own rules, hidden by the link)."""
    spec = [
        ("harbor", 30, "2026-03-10", "permanent", 40),
        ("puget", 14, "2026-03-10", "temporary", 40),
        ("elliott", 4, "2026-03-10", "permanent", 40),
    ]
    eps = small_frame(spec)
    eps["length_of_stay_days"] = eps["length_of_stay_days"].astype("Float64")
    eps.loc[eps.index[12:30], "length_of_stay_days"] = pd.NA
    got = em.window_cells(
        program,
        eps,
        em.windows([("march", date(2026, 3, 1), date(2026, 3, 31))]),
        ["median_length_of_stay"],
        providers=["harbor", "puget", "elliott"],
    ).set_index("provider_id")
    assert got["cell_size"].to_dict() == {"elliott": 4, "harbor": 12, "puget": 14}
    assert got["suppressed"].all()
    assert got.loc["harbor", "suppression_reason"].startswith("complementary")
    assert got.loc["puget", "suppression_reason"].startswith("linked")


def test_window_builders():
    q = em.quarter_windows("2025-11", "2026-02")
    assert q["window"].tolist() == ["2025-Q4", "2026-Q1"]
    assert q["start"].tolist() == [date(2025, 11, 1), date(2026, 1, 1)]  # clipped to the months
    assert set(q["grain"]) == {"quarter"}
    s = em.split_window("2025-12", "2025-06", "2026-03")
    assert s.set_index("window")[["start", "end"]].to_dict("index") == {
        "before": {"start": date(2025, 6, 1), "end": date(2025, 11, 30)},
        "after": {"start": date(2025, 12, 1), "end": date(2026, 3, 31)},
    }
    assert em.month_windows("2026-01", "2026-03")["grain"].unique().tolist() == ["month"]


def test_clipped_quarter_is_a_plain_window(program, demo_episodes):
    """A quarter clipped to a contract's months is not the engine's quarter: it is evaluated
    as a window of its own, over its own months."""
    eps = derive_episodes(demo_episodes)
    wins = em.quarter_windows("2025-08", "2025-09")  # 2025-Q3 without July
    got = em.window_cells(program, eps, wins, ["exits_to_permanent_housing"], providers=[ALL])
    full = em.window_cells(
        program,
        eps,
        em.windows([("x", date(2025, 8, 1), date(2025, 9, 30))]),
        ["exits_to_permanent_housing"],
        providers=[ALL],
    )
    assert got["grain"].tolist() == ["window"]
    assert got["value"].iloc[0] == full["value"].iloc[0]


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        pytest.param({"metrics": ["nope"]}, UnknownIdError, "Unknown metric 'nope'", id="metric"),
        pytest.param({"dimensions": ["shoe"]}, UnknownIdError, "Unknown dimension", id="dim"),
        pytest.param({"providers": ["acme"]}, UnknownIdError, "Unknown provider", id="provider"),
        pytest.param({"audience": "press"}, PrivacyError, "Unknown audience", id="audience"),
        pytest.param(
            {"extra_metrics": {"clients_served": MEAN_STAY}},
            ConfigError,
            "already declared",
            id="ad-hoc-clash",
        ),
    ],
)
def test_errors_name_the_fix(program, kwargs, error, match):
    eps = small_frame([("harbor", 12, "2026-03-10", "permanent", 20)])
    args = {"metrics": ["exits_to_permanent_housing"]} | kwargs
    with pytest.raises(error, match=match):
        em.window_cells(
            program,
            eps,
            em.windows([("m", date(2026, 3, 1), date(2026, 3, 31))]),
            args.pop("metrics"),
            **args,
        )


def test_duplicate_window_labels_are_refused(program):
    eps = small_frame([("harbor", 12, "2026-03-10", "permanent", 20)])
    wins = em.windows([("m", date(2026, 3, 1), date(2026, 3, 31))] * 2)
    with pytest.raises(ConfigError, match="appear twice"):
        em.window_cells(program, eps, wins, ["exits_to_permanent_housing"])


def test_a_stores_episode_columns_are_read_from_the_files_schema(demo_store):
    """Without a DuckDB view: the same names, in the same order, as the view gives."""
    got = em._columns(demo_store)
    assert got == list(demo_store.query("SELECT * FROM episodes LIMIT 0").columns)
    assert "provider_id" in got
