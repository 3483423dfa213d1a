"""Benchmarks and flags of the metrics engine, with hand-computed expectations.

Data (exits to permanent housing, 10 leavers a month unless said):
  a: 4 PH every month of 2025; 2026-01 18 of 20; 2026-02 5; 2026-03 6. Stays of 40 days.
  b: 9 PH in 2025-01..04, then 2 PH every month (a run below its centre line). Stays of 20 days.
  c: 9 PH every month. Stays of 20 days.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest
from metrics_kit import cell, ep, episodes, make_program
from scipy import stats

from acm_helpers.core.calendar import month_range
from acm_helpers.metrics import engine as metrics
from acm_helpers.metrics import intervals as iv


def month_rows(provider: str, month: str, ph: int, leavers: int, los: int) -> list[dict]:
    day = f"{month}-15"
    return ep(provider, day, n=ph, los=los) + ep(
        provider, day, dest="temporary", n=leavers - ph, los=los
    )


@pytest.fixture(scope="module")
def values():
    rows = []
    for m in month_range("2025-01", "2026-03"):
        a = {"2026-01": (18, 20), "2026-02": (5, 10), "2026-03": (6, 10)}.get(m, (4, 10))
        rows += month_rows("a", m, *a, los=40)
        rows += month_rows("b", m, 9 if m <= "2025-04" else 2, 10, los=20)
        rows += month_rows("c", m, 9, 10, los=20)
    return metrics.compute(make_program(metrics=["exits", "stay_median"]), episodes(rows))


def test_previous_and_same_month_last_year(values):
    row = cell(values, "exits", "a", "2026-02")
    assert row["previous_value"] == pytest.approx(0.9)  # 2026-01: 18 / 20
    assert row["same_month_last_year"] == pytest.approx(0.4)  # 2025-02
    assert cell(values, "exits", "a", "2026-Q1")["same_month_last_year"] == pytest.approx(
        0.4
    )  # 2025-Q1
    assert math.isnan(cell(values, "exits", "a", "2025-01")["previous_value"])


def test_trailing_12_months_from_episodes_not_averaged(values):
    row = cell(values, "exits", "a", "2026-02")
    # 2025-03 .. 2026-02: 10 months of 4/10, 18/20, 5/10 -> 63 / 130 (the average of months is 0.4417)
    assert row["trailing_12m"] == pytest.approx(63 / 130)
    assert math.isnan(
        cell(values, "exits", "a", "2025-11")["trailing_12m"]
    )  # window starts before the program


def test_peer_median_quartiles_and_rank(values):
    a, b, c = (cell(values, "exits", p, "2026-02") for p in "abc")
    assert (a["value"], b["value"], c["value"]) == pytest.approx((0.5, 0.2, 0.9))
    assert (a["peer_median"], a["peer_q1"], a["peer_q3"]) == pytest.approx((0.5, 0.35, 0.7))
    assert (c["peer_rank"], a["peer_rank"], b["peer_rank"]) == (1, 2, 3)
    assert a["peer_n"] == 3
    assert cell(values, "exits", "__all__", "2026-02")["peer_rank"] is pd.NA
    # lower is better: the shorter stays rank first
    assert cell(values, "stay_median", "a", "2026-02")["peer_rank"] == 3


def test_target_and_national(values):
    row = cell(values, "exits", "b", "2026-02")
    assert (row["target"], row["national"]) == (0.5, 0.4)
    assert row["benchmarks"] == '{"national": 0.4}'


def test_flag_below_target_respects_direction(values):
    assert cell(values, "exits", "b", "2026-02")["flag_below_target"]
    assert not cell(values, "exits", "a", "2026-02")["flag_below_target"]  # 50% equals the target
    stay = cell(values, "stay_median", "a", "2026-02")  # 40 days, target 30, lower is better
    assert stay["flag_below_target"]
    assert (
        "Median length of stay of 40 days is above the target of 30 days (lower is better)."
        in stay["flag_reasons"]
    )
    assert not cell(values, "stay_median", "b", "2026-02")["flag_below_target"]


def test_flag_worse_than_peers(values):
    b = cell(values, "exits", "b", "2026-02")
    assert b["flag_worse_than_peers"]
    assert "20% is below the peer median of 50% (rank 3 of 3 providers)." in b["flag_reasons"]
    assert not cell(values, "exits", "a", "2026-02")["flag_worse_than_peers"]
    assert not cell(values, "exits", "__all__", "2026-02")["flag_worse_than_peers"]


def test_flag_significant_change_two_proportion(values):
    jan = cell(values, "exits", "a", "2026-01")  # 18/20 vs 4/10
    p = 22 / 30  # pooled proportion
    z = (0.9 - 0.4) / math.sqrt(p * (1 - p) * (1 / 20 + 1 / 10))
    assert jan["change_p_value"] == pytest.approx(2 * stats.norm.sf(z))
    assert jan["flag_significant_change"]
    assert (
        "rose from 40% to 90% since the previous period (better; significant change, p = 0.00"
        in jan["flag_reasons"]
    )
    mar = cell(values, "exits", "a", "2026-03")  # 6/10 vs 5/10
    assert mar["change_p_value"] > 0.5 and not mar["flag_significant_change"]


def spc_rows(ph: dict[str, int], months: list[str], provider: str) -> list[dict]:
    return [r for m in months for r in month_rows(provider, m, ph[m], 20, los=20)]


@pytest.fixture(scope="module")
def varied():
    """XmR data (20 leavers a month). a: 9 and 11 exits in turn through 2025, then 19 in
    2026-01. b: 9 and 11 in turn in 2025-01..06, then 5 and 7 in turn (a shift down). c: 8 and
    12 in turn in 2025-01..08, then 6, 7, ..., 12 (a rising trend)."""
    months = month_range("2025-01", "2026-03")
    a = {m: (9 if i % 2 == 0 else 11) for i, m in enumerate(months)} | {"2026-01": 19}
    b = {m: (9 if i % 2 == 0 else 11) if i < 6 else (5 if i % 2 == 0 else 7)
         for i, m in enumerate(months)}  # fmt: skip
    c = dict(zip(months, [8, 12] * 4 + [6, 7, 8, 9, 10, 11, 12], strict=True))
    return episodes(spc_rows(a, months, "a") + spc_rows(b, months, "b") + spc_rows(c, months, "c"))


def test_flag_special_cause_outside_limits_is_an_improvement(varied):
    values = metrics.compute(make_program(metrics=["exits"]), varied)
    jan = cell(values, "exits", "a", "2026-01")
    # 13 months: six of 45% and six of 55%, then 95%. Mean 6.95 / 13; moving ranges eleven of
    # 10 points and one of 40 (kept: under 3.267 x 1.5 / 12): mR-bar 1.5 / 12
    centre, amr = 6.95 / 13, 1.5 / 12
    assert jan["centre_line"] == pytest.approx(centre)
    assert jan["control_high"] == pytest.approx(centre + 2.66 * amr)
    assert jan["flag_special_cause"] and jan["spc_signal"] == "improvement"
    assert (
        "Improvement (special cause): 95% is above the upper control limit of 86.7% "
        "(centre line 53.5%)." in jan["flag_reasons"]
    )
    # target 50% inside the limits: hit and miss
    assert jan["spc_assurance"] == "inconsistent"
    dec = cell(values, "exits", "a", "2025-12")
    assert not dec["flag_special_cause"] and dec["spc_signal"] == "common"
    assert math.isnan(cell(values, "exits", "a", "2025-07")["centre_line"])  # under 8 months
    assert cell(values, "exits", "a", "2025-07")["spc_signal"] == ""


def test_flag_special_cause_shift_of_seven_is_a_concern(varied):
    values = metrics.compute(make_program(metrics=["exits"]), varied)
    # as of 2025-12 the last 7 months include one 55% month: no run
    assert not cell(values, "exits", "b", "2025-12")["flag_special_cause"]
    jan = cell(values, "exits", "b", "2026-01")
    # mean (3 + 0.25 x 4 + 0.35 x 3) / 13 = 5.05 / 13 = 38.8%; 2025-07..2026-01 all below it
    assert jan["centre_line"] == pytest.approx(5.05 / 13)
    assert jan["flag_special_cause"] and jan["spc_signal"] == "concern"
    assert (
        "Concern (special cause): 7 months in a row below the centre line of 38.8%."
        in jan["flag_reasons"]
    )


def test_flag_special_cause_trend_of_seven(varied):
    values = metrics.compute(make_program(metrics=["exits"]), varied)
    mar = cell(values, "exits", "c", "2026-03")
    # mean (8 x 50% + 315%) / 15 = 47.7%; moving ranges seven of 20 points, one of 30, six of 5:
    # mR-bar 2 / 14, upper limit 47.7% + 2.66 x 2 / 14 = 85.7%: 60% is inside, but it ends
    # seven months each higher than the month before
    assert mar["centre_line"] == pytest.approx(7.15 / 15)
    assert mar["control_high"] == pytest.approx(7.15 / 15 + 2.66 * 2 / 14)
    assert mar["spc_signal"] == "improvement"
    assert (
        "Improvement (special cause): 7 months in a row each higher than the month before, "
        "to 60%." in mar["flag_reasons"]
    )
    assert not cell(values, "exits", "c", "2026-02")["flag_special_cause"]  # six rises only


def test_flag_special_cause_rebased_at_the_roadmap_change_month(varied):
    roadmap = {
        "2026-02": {
            "topic": "cohort_trend",
            "title": "New practice",
            "metric": "exits",
            "question": "Did exits change?",
            "change_month": "2025-07",
        }
    }
    values = metrics.compute(make_program(metrics=["exits"], roadmap=roadmap), varied)
    # 2026-01: the new practice has 7 months, too few for its own limits, and the 6 months
    # before it are too few for the old ones: no limits, no signal
    jan = cell(values, "exits", "b", "2026-01")
    assert math.isnan(jan["centre_line"]) and not jan["flag_special_cause"]
    # 2026-02: 8 months of the new practice, their own centre line (4 x 25% + 4 x 35%) / 8
    feb = cell(values, "exits", "b", "2026-02")
    assert feb["centre_line"] == pytest.approx(0.30)
    assert not feb["flag_special_cause"] and feb["spc_signal"] == "common"


def test_flat_series_has_no_signal(values):
    assert not cell(values, "exits", "c", "2026-02")["flag_special_cause"]
    assert cell(values, "exits", "c", "2026-02")["spc_signal"] == "common"
    assert math.isnan(cell(values, "exits", "c", "2025-07")["centre_line"])  # fewer than 8 months


def test_flags_need_adequate_cells():
    """Threshold 11: months of 10 leavers are suppressed, flag nothing and are not compared with."""
    rows = month_rows("a", "2026-01", 2, 10, 10) + month_rows("a", "2026-02", 12, 12, 10)
    rows += month_rows("b", "2026-01", 5, 20, 10) + month_rows("b", "2026-02", 6, 20, 10)
    out = metrics.compute(
        make_program(threshold=11, metrics=["exits"]),
        episodes(rows),
        periods=["2026-01", "2026-02"],
        grains=("month",),
    )
    jan, feb = cell(out, "exits", "a", "2026-01"), cell(out, "exits", "a", "2026-02")
    assert jan["suppressed"] and not jan["flag_below_target"] and jan["flag_reasons"] == ""
    assert (
        not feb["suppressed"]
        and math.isnan(feb["previous_value"])
        and not feb["flag_significant_change"]
    )


def test_other_change_tests_match_scipy():
    t = stats.ttest_ind_from_stats(10, 3, 30, 13, 4, 25, equal_var=False)
    assert iv.welch_p(10, 3, 30, 13, 4, 25)[()] == pytest.approx(t.pvalue)
    assert iv.poisson_p(10, 25)[()] == pytest.approx(stats.binomtest(10, 35, 0.5).pvalue)
