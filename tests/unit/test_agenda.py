"""Agenda page: action items carry forward from the meeting that agreed them until closed;
changes since the last meeting; flags; the roadmap topic."""

from __future__ import annotations

import shutil
from datetime import date

import pandas as pd
import pytest

from acm_helpers.meetings import actions, agenda
from acm_helpers.store.store import Store

MEETINGS = """
meetings:
  - provider: harbor
    date: 2026-01-15
    period: 2025-12
    attendees: [M. Chen (agency), J. Rivera (Harbor)]
    notes: December packet; the navigation pilot started this month.
    actions:
      - {owner: J. Rivera, due: 2026-02-10, metric: median_days_referral_to_enrollment,
         text: Call back every referral within 3 days}
      - {owner: M. Chen, due: 2026-03-31, metric: exits_to_permanent_housing,
         text: Write up the housing navigation pilot}
  - provider: cascade
    date: 2026-01-15
    actions:
      - {owner: L. Okafor, due: 2026-02-28, text: Review referrals for Black clients}
"""


@pytest.fixture()
def store(demo_store, tmp_path):
    """A private copy of the demo store, so recording meetings does not touch other tests."""
    root = tmp_path / "store"
    shutil.copytree(demo_store.root, root)
    return Store(root)


def test_agenda_after_a_meeting_lists_its_items_and_closing_removes_one(program, store, tmp_path):
    path = tmp_path / "meetings.yaml"
    path.write_text(MEETINGS)
    actions.load_file(store, program, path)

    # The meeting of 2026-01-15 discussed December; its own agenda had no items yet.
    before = agenda.agenda_for(program, store, "harbor", "2025-12")
    assert before.meeting_date == date(2026, 1, 15)
    assert before.open_items.empty

    # The next meeting (2026-02-15, January's packet) lists both items agreed on 2026-01-15 ...
    nxt = agenda.agenda_for(program, store, "harbor", "2026-01")
    assert nxt.meeting_date == date(2026, 2, 15)
    assert nxt.last_meeting == date(2026, 1, 15) and nxt.since_period == "2025-12"
    assert nxt.open_items["item_id"].tolist() == ["harbor-001", "harbor-002"]
    assert (nxt.open_items["meeting_date"] == pd.Timestamp("2026-01-15")).all()
    # ... the first was due 2026-02-10, so it is overdue by 5 days and highlighted.
    assert nxt.open_items["overdue"].tolist() == [True, False]
    page = nxt.to_html()
    assert "OVERDUE 5 days" in page and "Call back every referral within 3 days" in page
    assert "Review referrals for Black clients" not in page  # cascade's item stays with cascade

    # Closing one removes it from the next agenda, which reports it as done instead.
    actions.close_action(
        store, "harbor-001", closed_on=date(2026, 2, 20), resolution="Daily call list in place"
    )
    later = agenda.agenda_for(program, store, "harbor", "2026-02")
    assert later.open_items["item_id"].tolist() == ["harbor-002"]
    assert later.closed_items["item_id"].tolist() == ["harbor-001"]
    assert "Daily call list in place" in later.to_html()


def test_agenda_topic_and_changes(program, store):
    a = agenda.agenda_for(program, store, "harbor", "2025-12")
    assert a.topic.title == "Who exits to housing?"
    assert a.since_period == "2025-11"  # no earlier meeting: the month before
    assert any(s.startswith("Exits to permanent housing: ") for s in a.changes)
    assert "4. This month's deep-dive topic" in a.to_html()


VALUES = pd.DataFrame(
    {
        "provider_id": ["harbor"] * 4,
        "period": ["2026-01", "2025-12", "2026-01", "2025-12"],
        "metric_id": ["exits_to_permanent_housing"] * 2 + ["median_length_of_stay"] * 2,
        "numerator": [60, 30, None, None],
        "denominator": [100, 100, 40, 40],
        "value": [0.60, 0.30, 95.0, 95.0],
        "suppressed": [False, False, False, False],
    }
)


def test_change_and_flag_sentences_hand_computed(program):
    changes = agenda.change_sentences(program, VALUES, "harbor", "2026-01", "2025-12")
    assert changes == [
        "Exits to permanent housing: 60% in Jan 2026, up from 30% in Dec 2025 (better).",
        "Median length of stay: 95 days in Jan 2026, the same as in Dec 2025.",
    ]
    flags = agenda.flag_sentences(program, VALUES, "harbor", "2026-01", "2025-12")
    # 60/100 vs 30/100: z = 4.24, p < 0.001; median stay 95 > target 90
    assert (
        flags[0]
        == "Exits to permanent housing: the change from 30% in Dec 2025 to 60% is statistically significant (p = 0.000)."
    )
    assert flags[1] == "Median length of stay: 95 days is above the target of 90 days."


def test_suppressed_values_are_not_compared(program):
    v = VALUES.copy()
    v.loc[0, ["value", "suppressed"]] = [None, True]
    changes = agenda.change_sentences(program, v, "harbor", "2026-01", "2025-12")
    assert changes[0] == "Exits to permanent housing: suppressed in Jan 2026 (small numbers)."
    assert not any(
        "Exits" in f for f in agenda.flag_sentences(program, v, "harbor", "2026-01", "2025-12")
    )


def test_agenda_for_uses_values_the_caller_holds(program, tmp_path):
    """The dashboard passes its audience-filtered metric rows; the store then needs no table."""
    values = VALUES.assign(
        grain="month",
        dimension="",
        version="v1",
        flag_reasons=["Exits rose (significant change).", "", "", ""],
    )
    a = agenda.agenda_for(program, Store(tmp_path / "empty"), "harbor", "2026-01", values=values)
    assert a.changes[0].startswith("Exits to permanent housing: 60% in Jan 2026, up from 30%")
    assert a.flags == ["Exits to permanent housing: Exits rose (significant change)."]
    assert a.open_items.empty and a.last_meeting is None


def test_engine_reasons_that_name_the_metric_are_not_prefixed_twice(program):
    values = VALUES.assign(
        flag_reasons=["", "", "Median length of stay of 95 days is above the target.", ""]
    )
    flags = agenda.flag_sentences(program, values, "harbor", "2026-01", "2025-12")
    assert flags == ["Median length of stay of 95 days is above the target."]
