"""The metrics engine on small inline frames: every metric kind, roll-ups, breakdowns, intervals,
math strings, errors, the versioned refresh and the CLI. Expectations are computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from metrics_kit import cell, ep, episodes, make_program
from statsmodels.stats.proportion import proportions_ztest
from typer.testing import CliRunner

from acm_helpers.core.errors import MetricError, StoreError
from acm_helpers.core.schema import METRIC_VALUE_COLUMNS
from acm_helpers.metrics import engine as metrics
from acm_helpers.metrics import intervals as iv
from acm_helpers.metrics.inputs import band_labels
from acm_helpers.store.store import Store

Z = 1.959963984540054


def wilson_by_hand(x: float, n: float) -> tuple[float, float]:
    p = x / n
    centre = (p + Z * Z / (2 * n)) / (1 + Z * Z / n)
    half = Z * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n)) / (1 + Z * Z / n)
    return centre - half, centre + half


@pytest.fixture(scope="module")
def q1():
    """Provider a: Jan 4 leavers (2 PH), Feb 5 (4 PH), Mar 1 (0 PH); provider b: Jan 2 (1 PH)."""
    eps = episodes(
        ep("a", "2026-01-10", n=2),
        ep("a", "2026-01-20", dest="temporary", n=2),
        ep("a", "2026-02-05", n=4),
        ep("a", "2026-02-25", dest="unknown"),
        ep("a", "2026-03-15", dest="temporary"),
        ep("b", "2026-01-12"),
        ep("b", "2026-01-13", dest="institutional"),
    )
    prog = make_program(metrics=["exits"])
    return metrics.compute(prog, eps, periods=["2026-01", "2026-02", "2026-03"])


def test_contract_columns_and_dtypes(q1):
    assert list(q1.columns) == list(METRIC_VALUE_COLUMNS)
    assert q1["suppressed"].dtype == bool and q1["peer_rank"].dtype == "Int64"
    assert set(q1["grain"]) == {"month", "quarter", "year", "term"}


@pytest.mark.parametrize(
    ("provider", "period", "x", "n"),
    [
        pytest.param("a", "2026-01", 2, 4, id="jan"),
        pytest.param("a", "2026-02", 4, 5, id="feb"),
        pytest.param("a", "2026-03", 0, 1, id="mar"),
        pytest.param("a", "2026-Q1", 6, 10, id="quarter-from-episodes"),
        pytest.param("__all__", "2026-01", 3, 6, id="program-wide"),
        pytest.param("b", "2026-Q1", 1, 2, id="other-provider"),
    ],
)
def test_rate_values_and_wilson(q1, provider, period, x, n):
    row = cell(q1, "exits", provider, period)
    assert (row["numerator"], row["denominator"]) == (x, n)
    assert row["value"] == pytest.approx(x / n)
    lo, hi = wilson_by_hand(x, n)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((max(lo, 0), hi), abs=1e-9)


def test_quarter_is_not_the_average_of_months(q1):
    months = [cell(q1, "exits", "a", p)["value"] for p in ("2026-01", "2026-02", "2026-03")]
    assert np.mean(months) == pytest.approx(0.4333, abs=1e-4)  # (0.5 + 0.8 + 0) / 3
    assert cell(q1, "exits", "a", "2026-Q1")["value"] == pytest.approx(0.6)  # 6 / 10


def test_year_and_term_windows(q1):
    year = cell(q1, "exits", "a", "2026")
    term = cell(q1, "exits", "a", "term")
    assert (year["numerator"], year["denominator"]) == (6, 10)
    assert (term["numerator"], term["denominator"]) == (6, 10)
    everyone = cell(q1, "exits", "__all__", "term")  # one row: a's and b's terms together
    assert (everyone["numerator"], everyone["denominator"]) == (7, 12)
    keys = ["metric_id", "provider_id", "period", "grain", "dimension", "group"]
    assert not q1.duplicated(keys).any()
    assert (
        str(term["period_start"].date()) == "2025-01-01"
        and str(term["period_end"].date()) == "2026-03-31"
    )


def test_math_string(q1):
    assert (
        cell(q1, "exits", "a", "2026-01")["math"]
        == "2 exits to permanent housing / 4 leavers = 50%"
    )
    assert (
        cell(q1, "exits", "a", "2026-02")["math"]
        == "4 exits to permanent housing / 5 leavers = 80%"
    )


def test_breakdowns_sum_to_overall_and_label_blanks():
    eps = episodes(
        ep("a", "2026-01-10", race="White", age=17, n=3),
        ep("a", "2026-01-11", race="Black", age=20, n=2),
        ep("a", "2026-01-12", race=None, age=None),
        ep("a", "2026-01-13", race="White", age=40, dest="temporary"),
    )
    out = metrics.compute(
        make_program(metrics=["exits"]), eps, periods=["2026-01"], grains=("month",)
    )
    race = out[(out["provider_id"] == "a") & (out["dimension"] == "race")].set_index("group")
    assert race["denominator"].to_dict() == {"Black": 2, "Not recorded": 1, "White": 4}
    assert race["denominator"].sum() == cell(out, "exits", "a", "2026-01")["denominator"] == 7
    age = out[(out["provider_id"] == "a") & (out["dimension"] == "age_band")].set_index("group")
    assert age["denominator"].to_dict() == {"0-17": 3, "18-24": 2, "25+": 1, "Not recorded": 1}
    assert age.loc["25+", "value"] == 0.0


def test_band_labels():
    assert band_labels([0, 18, 25, 35]) == ["0-17", "18-24", "25-34", "35+"]
    assert band_labels([0, 1, 3]) == ["0", "1-2", "3+"]


def test_counts_distinct_and_rows():
    """Client X has two episodes open in January at a, and one at b: a counts X once, __all__ once."""
    eps = episodes(
        ep("a", "2026-01-20", client="X", los=40),
        ep("a", "2026-02-10", client="X", los=20),
        ep("b", "2026-01-25", client="X", los=5),
        ep("a", "2026-01-05", client="Y", los=3),
        ep("b", None, client="Z", enrolled="2025-12-20"),
    )
    out = metrics.compute(
        make_program(metrics=["served", "leavers"]), eps, periods=["2026-01"], grains=("month",)
    )
    assert cell(out, "served", "a", "2026-01")["value"] == 2  # X, Y
    assert cell(out, "served", "b", "2026-01")["value"] == 2  # X, Z
    assert cell(out, "served", "__all__", "2026-01")["value"] == 3  # X, Y, Z
    assert cell(out, "leavers", "a", "2026-01")["value"] == 2  # exits in January: X's first, Y
    row = cell(out, "served", "__all__", "2026-01")
    lo, hi = iv.poisson_exact(3)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((float(lo), float(hi)))
    assert row["math"] == "3 clients served"


def test_median_with_exact_order_statistic_interval():
    eps = episodes(*[ep("a", "2026-01-28", los=d) for d in range(1, 21)])
    out = metrics.compute(
        make_program(metrics=["stay_median", "stay_mean"]),
        eps,
        periods=["2026-01"],
        grains=("month",),
    )
    med = cell(out, "stay_median", "a", "2026-01")
    assert med["value"] == 10.5 and med["denominator"] == 20
    assert (med["ci_low"], med["ci_high"]) == (
        6,
        15,
    )  # ranks 6 and 15 of 20 (P(Bin(20,.5) <= 5) = 2.1%)
    assert med["math"] == "median of 20 leavers = 10.5 days"
    mean = cell(out, "stay_mean", "a", "2026-01")
    assert mean["value"] == 10.5 and mean["numerator"] == 210
    half = 2.093024 * np.std(np.arange(1, 21), ddof=1) / math.sqrt(20)  # t(19) 97.5% = 2.093024
    assert (mean["ci_low"], mean["ci_high"]) == pytest.approx((10.5 - half, 10.5 + half), abs=1e-5)


def test_sum_ratio_with_delta_interval():
    eps = episodes(
        ep("a", "2026-01-10", cost=100),
        ep("a", "2026-01-11", cost=200, dest="temporary"),
        ep("a", "2026-01-12", cost=300),
    )
    out = metrics.compute(
        make_program(metrics=["cost_per_exit"]), eps, periods=["2026-01"], grains=("month",)
    )
    row = cell(out, "cost_per_exit", "a", "2026-01")
    assert (row["numerator"], row["denominator"], row["value"]) == (600, 2, 300)
    # residuals x - R y = -200, 200, 0; s^2 = 80000 / 2; se = sqrt(3 * 40000) / 2
    se = math.sqrt(3 * 40000) / 2
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((300 - Z * se, 300 + Z * se))
    assert row["math"] == "$600 cost of leavers / 2 exits to permanent housing = $300"


def test_median_ranks_small_and_large():
    lo, hi = iv.median_ranks(np.array([5, 6, 20, 100]))
    assert lo.tolist() == [0, 1, 6, 40] and hi.tolist() == [0, 6, 15, 61]


def test_two_proportion_test_matches_statsmodels():
    _, p = proportions_ztest([12, 30], [40, 50])
    assert iv.two_proportion_z(12, 40, 30, 50)[()] == pytest.approx(p)


def test_poisson_exact_known_values():
    lo, hi = iv.poisson_exact(np.array([0, 10]))
    assert lo.tolist() == pytest.approx([0.0, 4.795389], abs=1e-6)
    assert hi.tolist() == pytest.approx([3.688879, 18.390356], abs=1e-6)


def test_population_sql_error_names_the_metric():
    prog = make_program(metrics=["exits"])
    bad = prog.model_copy(
        update={
            "metrics": {
                "exits": prog.metrics["exits"].model_copy(
                    update={"population": "no_such_column > 1"}
                )
            }
        }
    )
    with pytest.raises(MetricError, match="exits.*no_such_column"):
        metrics.compute(
            bad, episodes(ep("a", "2026-01-10")), periods=["2026-01"], grains=("month",)
        )


def test_missing_dimension_column_is_explained():
    eps = episodes(ep("a", "2026-01-10")).drop(columns=["race_ethnicity"])
    with pytest.raises(MetricError, match="race.*race_ethnicity"):
        metrics.compute(
            make_program(metrics=["exits"]), eps, periods=["2026-01"], grains=("month",)
        )


def test_empty_frame_is_an_error():
    with pytest.raises(MetricError, match="empty"):
        metrics.compute(make_program(metrics=["exits"]), pd.DataFrame(), periods=["2026-01"])


def test_colon_cast_is_not_a_parameter():
    prog = make_program(metrics=["exits"])
    casted = prog.model_copy(
        update={
            "metrics": {
                "exits": prog.metrics["exits"].model_copy(
                    update={"population": "exit_date::DATE BETWEEN :start AND :end"}
                )
            }
        }
    )
    out = metrics.compute(
        casted, episodes(ep("a", "2026-01-10")), periods=["2026-01"], grains=("month",)
    )
    assert cell(out, "exits", "a", "2026-01")["denominator"] == 1


@pytest.fixture()
def kit_store(tmp_path):
    store = Store(tmp_path / "store")
    store.write_table(
        "episodes",
        episodes(ep("a", "2026-01-10", n=3), ep("b", "2026-02-10", dest="temporary", n=2)),
    )
    return store


def test_refresh_writes_versioned_tables_and_skips_when_unchanged(kit_store):
    prog = make_program()
    first = metrics.refresh(prog, kit_store)
    assert (
        not first.skipped and kit_store.has_table("metric_values") and kit_store.has_table("equity")
    )
    assert set(kit_store.read_table("metric_values")["version"]) == {first.version}
    again = metrics.refresh(prog, kit_store)
    assert again.skipped and again.version == first.version
    assert len(again.metric_values) == len(first.metric_values)
    changed = make_program(threshold=2)
    third = metrics.refresh(changed, kit_store)
    assert not third.skipped and third.version != first.version
    assert metrics.refresh(changed, kit_store, force=True).skipped is False


@pytest.fixture()
def counted_evaluations(monkeypatch):
    """Count the engine's evaluations: every number the engine makes goes through
    ``metrics.sql.evaluate`` (one call evaluates every metric)."""
    from acm_helpers.metrics import sql

    calls = []
    real = sql.evaluate

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(sql, "evaluate", counting)
    return calls


def test_refresh_writes_the_suppressed_truth_and_evaluates_once(kit_store, counted_evaluations):
    """One evaluation gives metric_values and the audit's truth table (same version); the truth
    holds exactly the cells metric_values marks suppressed, with their real numbers."""
    from acm_helpers.core.schema import CELL_KEYS, SUPPRESSED_TRUTH_COLUMNS

    prog = make_program(threshold=4)
    first = metrics.refresh(prog, kit_store)
    assert len(counted_evaluations) == 1
    truth = kit_store.suppressed_truth()
    assert list(truth.columns) == list(SUPPRESSED_TRUTH_COLUMNS)
    assert set(truth["version"]) == {first.version}
    mv = first.metric_values
    hidden = mv[mv["suppressed"]]
    assert len(hidden) and len(truth) == len(hidden)
    pairs = truth[CELL_KEYS].merge(hidden[CELL_KEYS], on=CELL_KEYS, how="inner")
    assert len(pairs) == len(truth)  # the same cells, nothing more
    assert hidden["numerator"].isna().all()  # metric_values hides them ...
    jan = truth[
        (truth["metric_id"] == "exits")
        & (truth["provider_id"] == "a")
        & (truth["period"] == "2026-01")
        & (truth["dimension"] == "")
    ].iloc[0]
    assert (jan["numerator"], jan["denominator"]) == (3, 3)  # ... the truth keeps them
    assert set(kit_store.suppressed_truth("b")["provider_id"]) == {"b"}
    # the audit's reader reads the table, it does not evaluate again
    assert len(metrics.unsuppressed_cells(prog, kit_store, "a")) == len(
        truth[truth["provider_id"] == "a"]
    )
    assert len(counted_evaluations) == 1


def test_second_refresh_with_unchanged_inputs_recomputes_nothing(kit_store, counted_evaluations):
    prog = make_program(threshold=4)
    metrics.refresh(prog, kit_store)
    stamps = {n: kit_store.table_stamp(n) for n in metrics.STORED_TABLES}
    again = metrics.refresh(prog, kit_store)
    assert again.skipped and len(counted_evaluations) == 1
    assert {n: kit_store.table_stamp(n) for n in metrics.STORED_TABLES} == stamps  # nothing written


def test_a_store_without_the_truth_table_is_refreshed(kit_store, counted_evaluations):
    """A store refreshed before the truth table existed recomputes once, then is current."""
    prog = make_program(threshold=4)
    metrics.refresh(prog, kit_store)
    kit_store.table_path("suppressed_truth").unlink()
    assert metrics.stored_version(kit_store) is None
    with pytest.raises(StoreError, match="acm metrics"):
        kit_store.suppressed_truth()
    assert not metrics.refresh(prog, kit_store).skipped
    assert kit_store.has_table("suppressed_truth") and len(counted_evaluations) == 2


def test_refresh_without_episodes_says_what_to_do(tmp_path):
    with pytest.raises(StoreError, match="acm intake"):
        metrics.refresh(make_program(), Store(tmp_path / "empty"))


def test_cli_metrics_prints_summary(kit_store, tmp_path):
    from acm_helpers.cli import app

    program_file = tmp_path / "kit.yaml"
    import yaml

    program_file.write_text(yaml.safe_dump(make_program().model_dump(mode="json")))
    result = CliRunner().invoke(
        app, ["metrics", "--program", str(program_file), "--data-dir", str(kit_store.root)]
    )
    assert result.exit_code == 0, result.output
    assert "metric_values computed" in result.output and "2 providers" in result.output
    result = CliRunner().invoke(
        app, ["metrics", "--program", str(program_file), "--data-dir", str(kit_store.root)]
    )
    assert "up to date" in result.output
    missing = CliRunner().invoke(
        app, ["metrics", "--program", str(program_file), "--data-dir", str(tmp_path / "none")]
    )
    assert missing.exit_code == 2 and "no episodes" in missing.output


def test_median_interval_for_large_cells_uses_normal_ranks():
    """n = 20,001 (> the exact-rank table): ranks floor(n/2 - 1.96 sqrt(n)/2) = 9,861 and 10,141."""
    n = 20_001
    eps = pd.DataFrame(
        {
            "episode_id": [f"E{i}" for i in range(n)],
            "client_id": [f"C{i}" for i in range(n)],
            "provider_id": "a",
            "exit_date": pd.Timestamp("2026-01-15"),
            "length_of_stay_days": np.arange(1, n + 1),
            "race_ethnicity": "White",
            "age_at_entry": 30,
        }
    )
    out = metrics.compute(
        make_program(metrics=["stay_median"]),
        eps,
        periods=["2026-01"],
        grains=("month",),
        dimensions=[],
    )
    row = cell(out, "stay_median", "a", "2026-01")
    assert (row["value"], row["ci_low"], row["ci_high"]) == (10_001, 9_861, 10_141)
