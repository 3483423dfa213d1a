"""Making Data Count XmR rules (acm_helpers.metrics.spc) against NHSRplotthedots and by hand.

Published examples come from the NHS-R community's NHSRplotthedots R package
(github.com/nhs-r-community/NHSRplotthedots, MIT licence), its testthat suite:

- ``tests/testthat/test-ptd_spc_standard.R`` draws ``set.seed(123); y = rnorm(20)`` and its
  snapshot ``tests/testthat/_snaps/ptd_spc_standard.md`` records mean 0.1416238, limits
  -3.01138 / 3.294627; with ``y[15] <- 10`` mean 0.6694159 and limits -2.383666 / 3.722497
  (moving ranges screened) or -4.596625 / 5.935457 (``screen_outliers = FALSE``);
- ``tests/testthat/_snaps/ptd_spc.md`` (summary of ``ptd_spc`` on the same series): 20 points,
  20 common cause, no improvement, no concern;
- ``tests/testthat/test-integration_tests.R``, "ae_all performance spc returns expected values":
  England's A&E 4-hour performance (NHSRdatasets ``ae_attendances``), 36 months, point types
  from the snapshot ``tests/testthat/_snaps/integration_tests.md`` (decoded from its R
  serialization); and England's A&E attendances, with and without a rebase at April 2017
  ("ae_all attendances spc [with rebase] returns expected values");
- ``test-ptd_spc_standard.R``, "it only reports special cause for 2 of 3 points close to limits
  when they are on the same side of the mean": ``rep(c(1, -1), 8)`` with ``data[15] <- 5.5`` and
  ``data[16] <- -5.5`` leaves both last points ``common_cause``.

Every other case below is computed by hand in its comments.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from acm_helpers.metrics import spc

# R: set.seed(123); rnorm(20) (the values printed in NHSRplotthedots' snapshot, 8 decimals)
RNORM_123 = [
    -0.56047565,
    -0.23017749,
    1.55870831,
    0.07050839,
    0.12928774,
    1.71506499,
    0.46091621,
    -1.26506123,
    -0.68685285,
    -0.44566197,
    1.22408180,
    0.35981383,
    0.40077145,
    0.11068272,
    -0.55584113,
    1.78691314,
    0.49785048,
    -1.96661716,
    0.70135590,
    -0.47279141,
]
# England's A&E 4-hour performance, all trusts, April 2016 - March 2019 (NHSRdatasets
# ``ae_attendances``: 1 - breaches / attendances). NHSRplotthedots' integration test "ae_all
# performance spc returns expected values" charts it with ``ptd_spc(ae_all(), performance,
# period, fix_after_n_points = 12)``; its snapshot (``tests/testthat/_snaps/integration_tests.md``,
# an R-serialized data frame, decoded) holds these values and the point types below.
AE_PERFORMANCE = [
    0.9003512724457525,
    0.9027555860390081,
    0.9055994429248081,
    0.9028524786030435,
    0.909763097023593,
    0.9064786853944554,
    0.8905308979446662,
    0.8837903610883545,
    0.8617594559611471,
    0.851413411900772,
    0.8753090395991286,
    0.9000949482943537,
    0.9051525263083392,
    0.8970035160821932,
    0.9072518525056468,
    0.9034785895858326,
    0.9029928875860346,
    0.8966609396555797,
    0.8994186788850258,
    0.8876655246839736,
    0.8498503458662225,
    0.8529918213516818,
    0.8504476893558943,
    0.8462121637147311,
    0.8857248828216929,
    0.9039011151983545,
    0.9076297242234981,
    0.8931949047110505,
    0.8972702710007838,
    0.8894368286304747,
    0.8900933497219513,
    0.8760446687116353,
    0.8644632183941728,
    0.843525141560121,
    0.8422525009629417,
    0.8660427671795345,
]
# A&E attendances, England, all trusts, April 2016 - March 2019 (same source); NHSRplotthedots'
# "ae_all attendances spc returns expected values" (no rebase) and "... with rebase returns
# expected values" (``rebase = as.Date("2017-04-01")``, the 13th month) snapshots.
AE_ATTENDANCES = [
    1867781,
    2070340,
    1958802,
    2079034,
    1932901,
    1952464,
    2001816,
    1907871,
    1944567,
    1895272,
    1735619,
    2015834,
    1949762,
    2066789,
    1994056,
    2073944,
    1924663,
    1925961,
    2044137,
    1976971,
    2003954,
    2000086,
    1820012,
    2049785,
    1984369,
    2164458,
    2093942,
    2179896,
    1997854,
    2005695,
    2079492,
    2037847,
    2047518,
    2113413,
    1954947,
    2167550,
]
C, I, X = "common_cause", "special_cause_improvement", "special_cause_concern"  # noqa: E741
AE_POINT_TYPES = [C] * 9 + [X] * 1 + [C] * 1 + [I] * 8 + [C] * 1 + [X] * 4 + [C] * 5 + [X] * 7
ALT = [10.0, 12.0] * 6  # mean 11, every moving range 2: limits 11 +/- 5.32, near 11 +/- 3.5467


# -- NHSRplotthedots' published examples ----------------------------------------------------
def test_rnorm_limits_and_point_types_match_nhsrplotthedots():
    chart = spc.xmr(RNORM_123, direction="up")
    p = chart.points
    assert p["mean"].iloc[0] == pytest.approx(0.1416238, abs=1e-7)
    assert p["lpl"].iloc[0] == pytest.approx(-3.01138, abs=1e-5)
    assert p["upl"].iloc[0] == pytest.approx(3.294627, abs=1e-6)
    assert (p["point_type"] == "common_cause").sum() == 20  # summary: common_cause 20
    assert not p["outside_limits"].any()
    # the one point beyond 2 sigma (-1.967 < 0.142 - 2 x 1.0515) has no partner on its side
    assert p.index[p["close_to_limits"]].tolist() == [17]
    # glimpse(r1): relative_to_mean -1, -1, 1, -1, -1, 1, 1, -1, -1, -1, 1, 1, 1, -1, -1, ...
    assert p["relative_to_mean"].head(15).tolist() == [
        -1, -1, 1, -1, -1, 1, 1, -1, -1, -1, 1, 1, 1, -1, -1
    ]  # fmt: skip
    assert chart.note == "" and chart.has_limits


@pytest.mark.parametrize(
    ("screen", "lpl", "upl"),
    [
        pytest.param(True, -2.383666, 3.722497, id="screened"),
        pytest.param(False, -4.596625, 5.935457, id="not-screened"),
    ],
)
def test_screen_outliers_matches_nhsrplotthedots(screen, lpl, upl):
    y = list(RNORM_123)
    y[14] = 10  # R: data$y[15] <- 10
    p = spc.xmr(y, rules=spc.Rules(screen_outliers=screen)).points
    assert p["mean"].iloc[0] == pytest.approx(0.6694159, abs=1e-7)
    assert (p["lpl"].iloc[0], p["upl"].iloc[0]) == pytest.approx((lpl, upl), abs=1e-6)
    # glimpse(r2): relative_to_mean -1, -1, 1, -1, -1, 1, -1, -1, -1, -1, 1, -1, -1, -1
    assert p["relative_to_mean"].head(14).tolist() == [
        -1, -1, 1, -1, -1, 1, -1, -1, -1, -1, 1, -1, -1, -1
    ]  # fmt: skip
    assert p.loc[14, "point_type"] == "special_cause_improvement"  # 10 > upl either way


def test_two_near_points_on_opposite_sides_are_common_cause():
    y = [1.0, -1.0] * 8
    y[14], y[15] = 5.5, -5.5  # R: dtf$data[15] <- 5.5; dtf$data[16] <- -5.5
    p = spc.xmr(y).points
    assert p["close_to_limits"].tail(2).tolist() == [True, True]
    assert p["point_type"].tail(2).tolist() == ["common_cause", "common_cause"]


def test_ae_performance_point_types_match_nhsrplotthedots():
    chart = spc.xmr(AE_PERFORMANCE, direction="up", fix_after_n_points=12)
    p = chart.points
    # snapshot: mean 0.8908916, lpl 0.8614050, upl 0.9203781 (from the first 12 months)
    assert p["mean"].iloc[0] == pytest.approx(0.8908915564349236, abs=1e-12)
    assert p["lpl"].iloc[0] == pytest.approx(0.8614049789074258, abs=1e-12)
    assert p["upl"].iloc[0] == pytest.approx(0.9203781339624213, abs=1e-12)
    assert p["point_type"].tolist() == AE_POINT_TYPES
    assert p.index[p["outside_limits"]].tolist() == [9, 20, 21, 22, 23, 33, 34]
    assert p.index[p["close_to_limits"]].tolist() == [8, 32, 35]
    # the rules behind them: a shift of 8 months above the mean (2017-03..10), points below
    # the lower limit, and a shift of 7 months below (2018-09..2019-03)
    assert set(p["rule"].iloc[11:19]) == {"shift"}
    assert p["rule"].iloc[29:].tolist() == ["shift"] * 4 + ["astronomical"] * 2 + ["shift"]
    # assurance by ptd_calculate_assurance_type: the 95% standard lies above the upper limit
    # of a higher-is-better measure, so the process consistently fails it
    assert spc.xmr(AE_PERFORMANCE, target=0.95, fix_after_n_points=12).assurance == (
        "consistent_fail"
    )


def test_ae_attendances_rebased_limits_match_nhsrplotthedots():
    plain = spc.xmr(AE_ATTENDANCES, direction="up").points
    assert (plain["point_type"] == "common_cause").all()  # the unrebased snapshot: 36 of 36
    p = spc.xmr(AE_ATTENDANCES, direction="up", rebase=[12]).points
    assert p["segment"].tolist() == [0] * 12 + [1] * 24  # rebase_group in the snapshot
    first, second = p.iloc[0], p.iloc[-1]
    assert (first["mean"], first["lpl"], first["upl"]) == pytest.approx(
        (1946858.4166666667, 1639947.374848485, 2253769.4584848485), rel=1e-12
    )
    assert (second["mean"], second["lpl"], second["upl"]) == pytest.approx(
        (2027379.2083333333, 1772921.0639855072, 2281837.3526811595), rel=1e-12
    )
    assert (p["point_type"] == "common_cause").all()
    assert p["relative_to_mean"].iloc[:3].tolist() == [-1, 1, 1]


# -- each rule by hand --------------------------------------------------------------------
def test_astronomical_point_with_its_direction():
    y = [9.0, 13.0] * 6 + [30.0]
    # mean 162 / 13 = 12.46 (9 below, 13 above: no run); moving ranges: eleven of 4 and one of
    # 17, mean 61 / 12 = 5.08; 17 >= 3.267 x 5.08 = 16.6 is screened out: mR-bar 44 / 11 = 4,
    # limits 12.46 +/- 10.64: 30 is above the upper limit 23.1
    mean = 162 / 13
    up = spc.xmr(y, direction="up").points
    assert up["mean"].iloc[0] == pytest.approx(mean)
    assert (up["lpl"].iloc[0], up["upl"].iloc[0]) == pytest.approx((mean - 10.64, mean + 10.64))
    assert up["rule"].iloc[-1] == "astronomical"
    assert up["point_type"].iloc[-1] == "special_cause_improvement"
    assert up["signal"].iloc[-1] == "improvement"
    assert (up["point_type"].iloc[:-1] == "common_cause").all()
    down = spc.xmr(y, direction="down").points
    assert (down["point_type"].iloc[-1], down["signal"].iloc[-1]) == (
        "special_cause_concern",
        "concern",
    )
    neutral = spc.xmr(y, direction=None).points
    assert neutral["point_type"].iloc[-1] == "special_cause_neutral_high"
    assert neutral["signal"].iloc[-1] == "neither"


def test_screened_moving_range_decides_the_signal():
    y = [10.0, 12.0] * 3 + [40.0] + [12.0, 10.0] * 3 + [24.0]
    # mean 196 / 14 = 14; moving ranges: 2 (x10), 28, 28 (into and out of the 40) and 14, mean
    # 90 / 13 = 6.92. Screening drops the two 28s (>= 3.267 x 6.92 = 22.6): mR-bar 34 / 11, upper
    # limit 14 + 2.66 x 34 / 11 = 22.2, so the last month (24) is outside. Unscreened, the one
    # wild month widens the limit to 14 + 2.66 x 90 / 13 = 32.4 and hides it.
    screened = spc.xmr(y).points
    assert screened["upl"].iloc[0] == pytest.approx(14 + 2.66 * 34 / 11)
    assert screened["rule"].iloc[[6, 13]].tolist() == ["astronomical", "astronomical"]
    wide = spc.xmr(y, rules=spc.Rules(screen_outliers=False)).points
    assert wide["upl"].iloc[0] == pytest.approx(14 + 2.66 * 90 / 13)
    assert wide["rule"].iloc[[6, 13]].tolist() == ["astronomical", ""]


def test_shift_of_seven_on_one_side():
    y = [1.0, 3.0] * 3 + [4.0, 6.0, 4.0, 6.0, 4.0, 6.0, 4.0]
    # mean 46 / 13 = 3.54; moving ranges 2 (x11) and 1: mR-bar 23 / 12 = 1.92, limits
    # 3.54 +/- 5.10 and near limits 3.54 +/- 3.40: every point inside, none near. The first six
    # are below the mean, the last seven above: a shift.
    p = spc.xmr(y, direction="up").points
    assert p["mean"].iloc[0] == pytest.approx(46 / 13)
    assert p["upl"].iloc[0] == pytest.approx(46 / 13 + 2.66 * 23 / 12)
    assert p["rule"].tolist() == [""] * 6 + ["shift"] * 7
    assert p["point_type"].tolist() == ["common_cause"] * 6 + ["special_cause_improvement"] * 7
    # a configurable run length: eight in a row are needed, seven are not enough
    eight = spc.xmr(y, rules=spc.Rules(run_length=8)).points
    assert (eight["point_type"] == "common_cause").all()


def test_trend_of_seven_rising_or_falling():
    y = [5.0, 3.0] * 3 + [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    # mean 52 / 13 = 4; moving ranges 2 (x6) and 1 (x6): mR-bar 1.5, limits 4 +/- 3.99 (all in),
    # near 4 +/- 2.66 (1 and 7 near, but no three on one side with two near); 1..7 rise 7 times
    p = spc.xmr(y, direction="up").points
    assert p["mean"].iloc[0] == pytest.approx(4)
    assert p["upl"].iloc[0] == pytest.approx(4 + 2.66 * 1.5)
    assert p["rule"].tolist() == [""] * 6 + ["trend"] * 7
    # a rising trend is an improvement when higher is better, even below the mean
    assert set(p["point_type"].iloc[6:]) == {"special_cause_improvement"}
    down = spc.xmr(y, direction="down").points
    assert set(down["point_type"].iloc[6:]) == {"special_cause_concern"}
    falling = spc.xmr(y[:6] + y[6:][::-1], direction=None).points
    assert set(falling["point_type"].iloc[6:]) == {"special_cause_neutral_low"}
    assert (spc.xmr(y, rules=spc.Rules(trend_length=8)).points["rule"] != "trend").all()


def test_two_of_three_near_the_limits_on_one_side():
    y = [10.0, 12.0] * 7 + [15.5, 13.0, 15.5]
    # mean 198 / 17 = 11.65; moving ranges 2 (x13), 3.5, 2.5, 2.5: mR-bar 34.5 / 16 = 2.156;
    # limits 11.65 +/- 5.74 (all inside); near limit 11.65 + 3.82 = 15.47: both 15.5 are near
    # and 13 is above the mean, so the two near points are special cause, 13 is not
    p = spc.xmr(y, direction="up").points
    mean, amr = 198 / 17, 34.5 / 16
    assert (p["mean"].iloc[0], p["upl"].iloc[0]) == pytest.approx((mean, mean + 2.66 * amr))
    assert p["close_to_limits"].tail(3).tolist() == [True, False, True]
    assert p["rule"].tail(3).tolist() == ["two_of_three", "", "two_of_three"]
    assert p["point_type"].tail(3).tolist() == [
        "special_cause_improvement",
        "common_cause",
        "special_cause_improvement",
    ]


def test_rebased_segments_have_their_own_limits():
    y = ALT + [20.0, 22.0] * 6
    one = spc.xmr(y).points  # one segment: the step is a shift (and more)
    assert (one["point_type"] != "common_cause").sum() > 12
    two = spc.xmr(y, rebase=[12]).points
    assert two["segment"].tolist() == [0] * 12 + [1] * 12
    assert two["mean"].iloc[0] == pytest.approx(11) and two["mean"].iloc[-1] == pytest.approx(21)
    # the step between the segments is not a moving range of either: mR-bar 2 in both
    assert (two["upl"] - two["mean"]).tolist() == pytest.approx([5.32] * 24)
    assert (two["point_type"] == "common_cause").all()


def test_too_short_series_say_so_instead_of_limits():
    chart = spc.xmr(ALT[:11])
    assert not chart.has_limits and chart.points["lpl"].isna().all()
    assert (chart.points["point_type"] == "").all() and (chart.points["signal"] == "").all()
    assert chart.note == (
        "Too few points for control limits: segment 1 (from point 1) has 11 points; limits need 12."
    )
    # a rebase that leaves a short last segment: the first keeps its limits
    rebased = spc.xmr(ALT + [20.0, 22.0] * 2, rebase=[12])
    assert rebased.short_segments == [1] and not rebased.has_limits
    assert rebased.points["lpl"].notna().sum() == 12
    assert "segment 2 (from point 13) has 4 points" in rebased.note
    assert spc.xmr(ALT[:8], rules=spc.Rules(min_points=8)).has_limits


@pytest.mark.parametrize(
    ("target", "direction", "expected"),
    [
        pytest.param(20, "up", "consistent_fail", id="target-above-limits-up"),
        pytest.param(20, "down", "consistent_pass", id="target-above-limits-down"),
        pytest.param(4, "up", "consistent_pass", id="target-below-limits-up"),
        pytest.param(4, "down", "consistent_fail", id="target-below-limits-down"),
        pytest.param(11, "up", "inconsistent", id="target-within-limits"),
        pytest.param(16.3, "up", "inconsistent", id="just-inside-16.32"),
        pytest.param(11, None, "", id="no-direction"),
        pytest.param(None, "up", "", id="no-target"),
    ],
)
def test_assurance_against_the_target(target, direction, expected):
    # limits 11 +/- 5.32 = 5.68 .. 16.32
    assert spc.xmr(ALT, direction=direction, target=target).assurance == expected


def test_assurance_uses_the_last_segment():
    y = ALT + [20.0, 22.0] * 6  # last segment 15.68 .. 26.32
    assert spc.xmr(y, target=14, rebase=[12]).assurance == "consistent_pass"
    assert spc.xmr(ALT, target=14).assurance == "inconsistent"


def test_gaps_are_refused():
    with pytest.raises(ValueError, match="without gaps"):
        spc.xmr([1.0, np.nan, 2.0])


# -- as of each month (the engine's flags) ------------------------------------------------
def frame(values, direction="up", target=np.nan, segment=None, series="s"):
    months = [f"{2024 + i // 12}-{i % 12 + 1:02d}" for i in range(len(values))]
    return pd.DataFrame(
        {
            "series": series,
            "period": months,
            "value": values,
            "direction": direction,
            "target": target,
            "seg": segment if segment is not None else [0] * len(values),
        }
    )


def test_as_of_judges_each_month_with_the_data_to_date():
    y = [*ALT, 30.0]
    out = spc.as_of(frame(y, target=20.0), ["series"], target="target", segment="seg")
    last = out.iloc[-1]
    # the 13th month sees the same 13 points as the whole-series chart
    chart = spc.xmr(y, target=20.0)
    assert last["spc_mean"] == pytest.approx(chart.points["mean"].iloc[-1])
    assert last["spc_upl"] == pytest.approx(chart.points["upl"].iloc[-1])
    assert (last["spc_rule"], last["spc_signal"]) == ("astronomical", "improvement")
    assert last["spc_point_type"] == "special_cause_improvement"
    assert last["spc_assurance"] == chart.assurance == "consistent_fail"
    # months 1..11 have no limits; month 12 has, from its own 12 points (mean 11)
    assert (out["spc_signal"].iloc[:11] == "").all() and out["spc_upl"].iloc[:11].isna().all()
    assert out["spc_mean"].iloc[11] == pytest.approx(11)
    assert out["spc_signal"].iloc[11] == "common"


def test_as_of_never_changes_a_month_when_later_months_arrive():
    y = [1.0, 3.0] * 3 + [4.0, 6.0, 4.0, 6.0, 4.0, 6.0, 4.0]
    rules = spc.Rules(min_points=6)
    short = spc.as_of(frame(y[:10]), ["series"], rules=rules)
    full = spc.as_of(frame(y), ["series"], rules=rules)
    pd.testing.assert_frame_equal(short, full.iloc[:10])
    # the shift completes at the 13th month, where the 7th point above the mean arrives
    assert full["spc_rule"].iloc[-1] == "shift" and full["spc_signal"].iloc[-1] == "improvement"


def test_as_of_trend_two_of_three_and_series_apart():
    trend = frame([5.0, 3.0] * 3 + [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0], direction="down")
    near = frame([10.0, 12.0] * 7 + [15.5, 13.0, 15.5], series="t")
    out = spc.as_of(pd.concat([trend, near], ignore_index=True), ["series"])
    t = out.iloc[: len(trend)]
    assert (t["spc_rule"].iloc[-1], t["spc_signal"].iloc[-1]) == ("trend", "concern")
    n = out.iloc[len(trend) :]
    assert n["spc_rule"].iloc[-1] == "two_of_three"
    assert n["spc_rule"].iloc[-2] == ""  # 13 is not near: no signal that month


def test_as_of_rebases_once_the_new_segment_has_enough_months():
    y = ALT + [20.0, 22.0] * 6
    seg = [0] * 12 + [1] * 12
    out = spc.as_of(frame(y, segment=seg), ["series"], segment="seg")
    # months 13..23: the new months are judged against the 12 months before the change
    assert out["spc_mean"].iloc[12:23].tolist() == pytest.approx([11] * 11)
    assert (out["spc_signal"].iloc[12:23] == "improvement").all()
    # month 24: the new segment has 12 months and its own limits (mean 21): common cause
    assert out["spc_mean"].iloc[23] == pytest.approx(21)
    assert out["spc_signal"].iloc[23] == "common"


def test_as_of_skips_missing_values():
    f = frame([*ALT, np.nan, 30.0])
    out = spc.as_of(f, ["series"])
    assert out.loc[12, "spc_signal"] == "" and np.isnan(out.loc[12, "spc_mean"])
    assert out.loc[13, "spc_rule"] == "astronomical"


def test_screening_never_leaves_zero_width_limits():
    # integer medians: 6 days once, then 5 days; the one moving range of 1 is at least 3.267 x
    # 1 / 11 and would be screened, leaving mR-bar 0: it is kept, mR-bar 1 / 11
    y = [6.0] + [5.0] * 11
    p = spc.xmr(y).points
    assert p["upl"].iloc[0] - p["mean"].iloc[0] == pytest.approx(2.66 / 11)
    # the 6 stands out (6 > 61 / 12 + 0.24); the 5s, 1 / 12 under the mean, do not
    assert p.index[p["outside_limits"]].tolist() == [0]
    flat = spc.xmr([0.9] * 3 + [9 / 10] * 9).points  # equal within rounding: no signal
    assert (flat["point_type"] == "common_cause").all()


def test_as_of_works_on_positions_not_labels():
    twice = pd.concat([frame([*ALT, 30.0]), frame([*ALT, 11.0], series="t")])  # index repeats
    out = spc.as_of(twice, ["series"])
    assert out.index.equals(twice.index)
    assert out["spc_rule"].tolist()[12] == "astronomical" and out["spc_rule"].tolist()[-1] == ""
