"""The meeting brief's rules on hand-made inputs: the ranking of talking points, good news kept
apart, the test of a gap's change, small groups, and data-quality problems ranked over the
program's required fields only."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from acm_helpers.core.config import Program
from acm_helpers.meetings import disparities as disp
from acm_helpers.meetings import talking_points as tp
from acm_helpers.store import quality_rank


# -- ranking --------------------------------------------------------------------------------------------
def test_rank_orders_by_kind_then_topic_then_size_and_keeps_five():
    points = [
        tp.Point("target", 0.9, "target far"),
        tp.Point("overdue", 200, "overdue long"),
        tp.Point("quality", 0.14, "quality decline"),
        tp.Point("disparity", 0.8, "zip gap, larger"),
        tp.Point("disparity", 0.4, "race gap, the roadmap's", first=True),
        tp.Point("concern", 0.05, "small concern"),
        tp.Point("concern", 0.30, "big concern"),
    ]
    ranked = tp.rank(points)
    assert [p.text for p in ranked] == [
        "big concern",
        "small concern",
        "race gap, the roadmap's",
        "zip gap, larger",
        "quality decline",
    ]
    assert len(tp.rank(points, limit=3)) == 3


def _own(**metrics) -> pd.DataFrame:
    base = {
        "suppressed": False,
        "previous_value": np.nan,
        "flag_significant_change": False,
        "flag_below_target": False,
        "spc_signal": "common",
        "spc_assurance": "",
        "centre_line": np.nan,
        "flag_reasons": "",
    }
    return pd.DataFrame({mid: {**base, **cols} for mid, cols in metrics.items()}).T


def test_an_improvement_is_never_a_concern(program):
    own = _own(
        exits_to_permanent_housing={
            "value": 0.576,
            "previous_value": 0.401,
            "direction": "up",
            "spc_signal": "improvement",
            "centre_line": 0.326,
            "flag_significant_change": True,
            "flag_reasons": "Exits to permanent housing rose from 40.1% to 57.6% since the "
            "previous period (better; significant change, p = 0.002). Improvement (special "
            "cause): 57.6% is above the upper control limit of 55.1% (centre line 32.6%).",
        },
        median_length_of_stay={
            "value": 126.0,
            "previous_value": 106.0,
            "direction": "down",
            "flag_significant_change": True,
        },
    )
    concerns = tp.concern_points(own, program)
    assert [p.metric_id for p in concerns] == ["median_length_of_stay"]
    assert "for the worse" in concerns[0].text
    goods = tp.improvements(own, program)
    assert [(mid, signal) for mid, signal, _ in goods] == [
        ("exits_to_permanent_housing", "improvement")
    ]
    assert "57.6% is above the upper control limit of 55.1%" in goods[0][2]


def test_a_special_cause_concern_uses_the_engines_rule(program):
    own = _own(
        clients_served={
            "value": 100.0,
            "direction": "up",
            "spc_signal": "concern",
            "centre_line": 102.0,
            "flag_reasons": "100 is below the peer median of 482 (rank 6 of 6 providers). "
            "Concern (special cause): 7 months in a row below the centre line of 102.",
        }
    )
    (point,) = tp.concern_points(own, program)
    assert point.kind == "concern"
    assert point.text.endswith("7 months in a row below the centre line of 102.")


# -- disparities -----------------------------------------------------------------------------------
def _gap_row(group, d, lo, hi, **extra):
    base = {
        "metric_id": "exits_to_permanent_housing",
        "dimension": "race_ethnicity",
        "group": group,
        "is_reference": False,
        "reference_group": "White",
        "reference_value": 0.5,
        "value": 0.5 + d,
        "diff_vs_reference": d,
        "diff_vs_reference_low": lo,
        "diff_vs_reference_high": hi,
        "others_value": np.nan,
        "diff_vs_others": np.nan,
        "diff_vs_others_low": np.nan,
        "diff_vs_others_high": np.nan,
        "flag_disparity": True,
    }
    return pd.Series({**base, **extra})


@pytest.mark.parametrize(
    ("then", "now", "verdict"),
    [
        pytest.param((-0.25, -0.30, -0.20), (-0.05, -0.10, 0.00), "narrowed", id="narrowed"),
        pytest.param((-0.05, -0.10, 0.00), (-0.25, -0.30, -0.20), "widened", id="widened"),
        pytest.param(
            (-0.229, -0.320, -0.129), (-0.236, -0.329, -0.134), "cannot tell", id="overlap"
        ),
        pytest.param((0.20, 0.15, 0.25), (0.02, -0.03, 0.07), "narrowed", id="positive-gap"),
    ],
)
def test_gap_change_says_narrowed_only_when_the_interval_excludes_no_change(then, now, verdict):
    a = _gap_row("Black or African American", *then)
    b = _gap_row("Black or African American", *now)
    res = disp.row_gap_change(a, b)
    assert res.verdict == verdict
    # hand-computed: the change in the gap's size and its MOVER 95% interval (Zou and Donner),
    # each gap's own interval giving its uncertainty on each side
    d = now[0] - then[0]
    low = d - np.hypot(now[0] - now[1], then[2] - then[0])
    high = d + np.hypot(now[2] - now[0], then[0] - then[1])
    sign = 1 if then[0] >= 0 else -1
    assert res.change == pytest.approx(sign * d)
    assert (res.low, res.high) == pytest.approx(tuple(sorted((sign * low, sign * high))))


def test_disparity_sentence_names_group_and_breakdown(program):
    row = _gap_row("Black or African American", -0.236, -0.329, -0.134)
    row["value"], row["reference_value"] = 0.278, 0.514
    text = disp.disparity_sentence(row, program, "July–September 2026")
    assert text.startswith(
        "Black or African American clients: exits to permanent housing 27.8% against 51.4% "
        "for White clients (race and ethnicity, July–September 2026; a gap of 23.6 points, "
        "95% CI 13.4 to 32.9 points)."
    )
    zip_row = _gap_row("98108", -0.316, -0.442, -0.144, dimension="zip", value=0.265)
    zip_row["diff_vs_reference"] = np.nan
    zip_row["others_value"], zip_row["diff_vs_others"] = 0.581, -0.316
    zip_row["diff_vs_others_low"], zip_row["diff_vs_others_high"] = -0.442, -0.144
    zip_text = disp.disparity_sentence(zip_row, program, "July–September 2026")
    assert zip_text.startswith("Clients in ZIP code 98108: exits to permanent housing 26.5%")
    assert "58.1% for clients in all other ZIP codes (July–September 2026;" in zip_text


def test_groups_shown_needs_the_reference_and_one_more(program):
    dim = program.dimension("race_ethnicity")
    rows = pd.DataFrame(
        {
            "group": ["White", "Black or African American", "Not recorded"],
            "suppressed": [False, True, False],
            "cell_size": [30, np.nan, 40],
        }
    )
    assert not disp.groups_shown(rows, dim, 11)  # "Not recorded" is not a group to compare
    rows.loc[1, ["suppressed", "cell_size"]] = [False, 12]
    assert disp.groups_shown(rows, dim, 11)
    rows.loc[0, "suppressed"] = True
    assert not disp.groups_shown(rows, dim, 11)  # the reference is hidden


# -- data quality ------------------------------------------------------------------------------------
def _quality(months: dict[str, dict[str, float]], late: dict[str, float] | None = None):
    rows = []
    for period, fields in months.items():
        for field, value in fields.items():
            rows.append(("completeness", field, value, period))
        rows.append(("rows", "rejected", 0.0, period))
        rows.append(("timeliness", "received", (late or {}).get(period, 0.0), period))
    return pd.DataFrame(rows, columns=["check", "field", "value", "period"]).assign(detail="")


def test_completeness_counts_required_fields_only_and_a_decline_ranks_first(program):
    fields_then = {"race_ethnicity": 0.82, "exit_date": 0.15, "episode_id": 1.0, "zip": 0.90}
    fields_now = {"race_ethnicity": 0.68, "exit_date": 0.15, "episode_id": 1.0, "zip": 0.90}
    q = _quality({"2025-10": fields_then, "2026-10": fields_now}, late={"2026-10": 23})
    ranked = quality_rank.rank_problems(q, program, "2026-10")
    assert list(ranked["kind"]) == ["decline", "incomplete", "late"]
    assert list(ranked["label"]) == ["Race and ethnicity", "ZIP code", "Timeliness"]
    assert "exit_date" not in set(ranked["field"])  # optional: never averaged in or raised
    assert ranked["text"].iloc[0] == (
        "Race and ethnicity is filled in less often: 68% of records in October 2026, down from "
        "82% in October 2025 (14 points lower)."
    )
    assert ranked["text"].iloc[2].startswith("The October 2026 file arrived 23 days after")
    (point,) = tp.quality_points(ranked)
    assert point.kind == "quality" and "race and ethnicity 82% → 68%" in point.text


def test_quality_thresholds_come_from_the_program_file(program):
    q = _quality({"2025-10": {"zip": 0.90}, "2026-10": {"zip": 0.86}})
    assert quality_rank.rank_problems(q, program, "2026-10")["kind"].tolist() == ["incomplete"]
    strict = program.model_copy(
        update={"quality": program.quality.model_copy(update={"decline_points": 0.03})}
    )
    assert quality_rank.rank_problems(q, strict, "2026-10")["kind"].tolist() == ["decline"]
    loose = program.model_copy(
        update={"quality": program.quality.model_copy(update={"completeness_min": 0.8})}
    )
    assert quality_rank.rank_problems(q, loose, "2026-10").empty


def test_an_unknown_required_field_is_refused(program):
    raw = program.model_dump()
    raw["quality"] = {"required_fields": ["race"]}
    with pytest.raises(ValueError, match="unknown field 'race'"):
        Program.model_validate(raw)


def test_required_fields_default_to_the_dimensions_columns(program):
    raw = program.model_dump()
    raw["quality"] = {}
    plain = Program.model_validate(raw)
    fields = quality_rank.required_fields(plain)
    assert {"race_ethnicity", "gender", "zip", "age_at_entry"} <= set(fields)
    assert "exit_date" not in fields


def test_a_missed_target_names_the_peers_and_peers_alone_rank_last(program):
    own = _own(
        median_length_of_stay={
            "value": 176.0,
            "direction": "down",
            "flag_below_target": True,
            "flag_worse_than_peers": True,
            "peer_median": 77.8,
            "peer_rank": 6,
            "peer_n": 6,
            "spc_assurance": "consistent_fail",
        },
        median_days_referral_to_enrollment={
            "value": 7.5,
            "direction": "down",
            "flag_worse_than_peers": True,
            "peer_median": 6.2,
            "peer_rank": 4,
            "peer_n": 6,
        },
    )
    points = tp.rank(tp.concern_points(own, program))
    assert [p.kind for p in points] == ["target", "peers"]
    assert points[0].text == (
        "Median length of stay: 176 days is above the target of 90 days and the peer median of "
        "77.8 days, rank 6 of 6; it has consistently failed the target."
    )
    assert points[1].text == (
        "Days from referral to enrollment: 7.5 days is above the peer median of 6.2 days, "
        "rank 4 of 6."
    )


def test_a_late_file_alone_is_a_quality_point(program):
    q = _quality({"2025-10": {"zip": 0.99}, "2026-10": {"zip": 0.99}}, late={"2026-10": 9})
    (point,) = tp.quality_points(quality_rank.rank_problems(q, program, "2026-10"))
    assert point.text == "The October 2026 file arrived 9 days after it was due."


def test_hmis_export_findings_are_ranked_after_the_rows_set_aside(program):
    q = _quality({"2026-10": {"zip": 0.99}})
    q = pd.concat(
        [
            q,
            pd.DataFrame(
                [("hmis_move_in", "Enrollment.MoveInDate", 212.0, "2026-10")],
                columns=["check", "field", "value", "period"],
            ).assign(detail="MoveInDate on a project that is not permanent housing"),
        ],
        ignore_index=True,
    )
    ranked = quality_rank.rank_problems(q, program, "2026-10")
    assert ranked["kind"].tolist() == ["finding"]
    assert ranked["text"].iloc[0] == (
        "MoveInDate on a project that is not permanent housing (212 records)."
    )


def test_an_improvement_signal_after_a_worse_month_says_so_after_the_rule(program):
    """Puget, 2026-10: two of three months below the centre line (an improvement for a metric
    where lower is better) while this month rose from 3 to 4 days. "4 days, from 3 days last
    month, an improvement" read as a contradiction; the month's move now follows the rule."""
    reason = (
        "Improvement (special cause): 2 of the last 3 months beyond two sigma below the centre "
        "line of 4.5 days (control limit 3.99 days), 4 days this month."
    )
    row = {"value": 4.0, "previous_value": 3.0, "spc_signal": "improvement"}
    own = _own(median_days_referral_to_enrollment=row | {"flag_reasons": reason})
    ((_, kind, said),) = tp.improvements(own, program)
    assert kind == "improvement"
    assert said.startswith("Days from referral to enrollment: 4 days, an improvement beyond")
    assert "from 3 days last month" not in said
    assert said.endswith(
        "Last month it was 3 days: the signal is in the run of months, not in this month's change."
    )
    # a month that moved the better way keeps "from ... last month" in front
    better = _own(
        median_days_referral_to_enrollment=row | {"previous_value": 6.0, "flag_reasons": reason}
    )
    ((_, _, said),) = tp.improvements(better, program)
    assert said.startswith(
        "Days from referral to enrollment: 4 days, from 6 days last month, an improvement"
    )


def test_problems_of_every_provider_at_once_are_each_providers_own(program):
    """The portfolio triage ranks every provider's problems in one pass
    (``rank_problems_by_provider``): the same frames as one provider at a time, and no entry for
    a provider without rows for the month (no file)."""
    a = _quality(
        {
            "2025-10": {"race_ethnicity": 0.82, "zip": 0.95},
            "2026-08": {"race_ethnicity": 0.75, "zip": 0.95},
            "2026-10": {"race_ethnicity": 0.68, "zip": 0.90},
        },
        late={"2026-10": 23, "2026-08": 30},
    ).assign(provider_id="a")
    b = _quality({"2026-09": {"race_ethnicity": 0.5}, "2026-10": {"zip": 0.4}}).assign(
        provider_id="b"
    )
    c = _quality({"2026-09": {"race_ethnicity": 0.5}}).assign(provider_id="c")  # no October file
    rows = pd.concat([b, a, c], ignore_index=True)
    got = quality_rank.rank_problems_by_provider(rows, program, "2026-10")
    assert sorted(got) == ["a", "b"]
    for pid, own in (("a", a), ("b", b)):
        want = quality_rank.rank_problems(own, program, "2026-10")
        pd.testing.assert_frame_equal(got[pid], want)
        assert len(want)
    assert quality_rank.rank_problems_by_provider(rows.iloc[:0], program, "2026-10") == {}
