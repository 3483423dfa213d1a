"""Meetings and action items: recording, carrying forward, overdue, closing, file loading."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from acm_helpers.core.errors import ActionError
from acm_helpers.meetings import actions
from acm_helpers.store.store import Store


@pytest.fixture()
def store(tmp_path):
    return Store(tmp_path / "data")


def test_meeting_date_for_is_the_month_after_the_period(program):
    # day_of_month is 15 in the demo program; the packet for 2025-12 is discussed on 2026-01-15
    assert actions.meeting_date_for(program, "2025-12") == date(2026, 1, 15)
    assert actions.meeting_date_for(program, "2026-10") == date(2026, 11, 15)
    assert actions.period_for_meeting(date(2026, 1, 15)) == "2025-12"


def test_add_then_list_and_close(store, program):
    a = actions.add_action(
        store,
        program,
        "harbor",
        "J. Rivera",
        date(2026, 2, 28),
        "Call back every referral within 3 days",
        metric_id="median_days_referral_to_enrollment",
        meeting_date=date(2026, 1, 15),
    )
    b = actions.add_action(
        store,
        program,
        "harbor",
        "Agency analyst",
        date(2026, 1, 31),
        "Pull 10 case files",
        meeting_date=date(2026, 1, 15),
    )
    assert (a["item_id"], b["item_id"]) == ("harbor-001", "harbor-002")
    meetings = actions.read_meetings(store)
    assert meetings["meeting_id"].tolist() == ["harbor-2026-01-15"]
    assert meetings["period"].tolist() == ["2025-12"]

    # On the next meeting (2026-02-15) both are open; b was due 2026-01-31, so it is overdue
    # by 15 days and listed first.
    due = actions.open_items(actions.read_actions(store), date(2026, 2, 15), "harbor")
    assert due["item_id"].tolist() == ["harbor-002", "harbor-001"]
    assert due["overdue"].tolist() == [True, False]
    assert due["days_overdue"].tolist() == [15, 0]

    actions.close_action(store, "harbor-002", closed_on=date(2026, 2, 3), resolution="done")
    items = actions.read_actions(store)
    assert actions.open_items(items, date(2026, 2, 15))["item_id"].tolist() == ["harbor-001"]
    # ...but on 2026-02-01 it was still open (history is kept, not rewritten)
    assert set(actions.open_items(items, date(2026, 2, 1))["item_id"]) == {
        "harbor-001",
        "harbor-002",
    }
    # an item agreed on 2026-01-15 is not on that meeting's own agenda, nor before it
    assert actions.open_items(items, date(2026, 1, 15)).empty
    assert len(actions.open_items(items, date(2026, 1, 16))) == 2
    assert actions.closed_between(items, date(2026, 1, 15), date(2026, 2, 15))[
        "item_id"
    ].tolist() == ["harbor-002"]


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        pytest.param(
            {"provider_id": "nowhere"}, "unknown provider 'nowhere'", id="unknown-provider"
        ),
        pytest.param({"metric_id": "happiness"}, "unknown metric 'happiness'", id="unknown-metric"),
    ],
)
def test_add_rejects_unknown_ids(store, program, kwargs, fragment):
    args = {"provider_id": "harbor", "owner": "x", "due": date(2026, 1, 1), "text": "t"} | kwargs
    with pytest.raises(ActionError, match=fragment):
        actions.add_action(store, program, **args)


def test_close_unknown_item_names_it(store):
    with pytest.raises(ActionError, match="Unknown action item 'harbor-009'"):
        actions.close_action(store, "harbor-009")


def test_close_before_meeting_is_refused(store, program):
    actions.add_action(
        store, program, "puget", "o", date(2026, 3, 1), "t", meeting_date=date(2026, 2, 15)
    )
    with pytest.raises(ActionError, match="before the meeting"):
        actions.close_action(store, "puget-001", closed_on=date(2026, 2, 1))


YAML = """
meetings:
  - provider: cascade
    date: 2026-01-15
    attendees: [M. Chen (agency), L. Okafor (Cascade)]
    notes: Reviewed the December disparity deep dive.
    actions:
      - {owner: L. Okafor, due: 2026-02-28, metric: exits_to_permanent_housing,
         text: Review housing referrals for Black clients}
      - {owner: M. Chen, due: 2026-01-31, text: Share peer practices}
  - provider: harbor
    date: 2026-01-15
    actions:
      - {owner: J. Rivera, due: 2026-03-31, text: Document the navigation pilot,
         status: closed, closed: 2026-03-02, resolution: Written up}
"""


def test_load_yaml_is_idempotent(store, program, tmp_path):
    path = tmp_path / "meetings.yaml"
    path.write_text(YAML)
    first = actions.load_file(store, program, path)
    assert first == {"meetings": 2, "items": 3, "new_items": 3}
    second = actions.load_file(store, program, path)
    assert second["new_items"] == 0
    items = actions.read_actions(store)
    assert sorted(items["item_id"]) == ["cascade-001", "cascade-002", "harbor-001"]
    assert items.set_index("item_id").loc["harbor-001", "status"] == "closed"
    assert (
        actions.read_meetings(store).set_index("meeting_id").loc["cascade-2026-01-15", "attendees"]
        == "M. Chen (agency); L. Okafor (Cascade)"
    )


def test_load_csv_groups_rows_into_meetings(store, program, tmp_path):
    path = tmp_path / "items.csv"
    path.write_text(
        "provider,meeting_date,owner,due_date,metric,text\n"
        "rainier,2026-02-15,A,2026-03-15,,Fix blank race fields\n"
        "rainier,2026-02-15,B,2026-03-15,,Submit on time\n"
        "elliott,2026-02-15,C,2026-03-01,clients_served,Open 10 more slots\n"
    )
    assert actions.load_file(store, program, path) == {"meetings": 2, "items": 3, "new_items": 3}
    assert len(actions.read_meetings(store)) == 2


@pytest.mark.parametrize(
    "text, fragment",
    [
        pytest.param(
            "meetings:\n  - {provider: harbor, date: 2026-13-01}\n", "impossible", id="bad-date"
        ),
        pytest.param(
            "meetings:\n  - {provider: harbor, date: 2026-01-15, actions: [{owner: x, text: t}]}\n",
            "actions.0.due",
            id="missing-due",
        ),
        pytest.param(
            "meetings:\n  - {provider: harbour, date: 2026-01-15}\n",
            "unknown provider 'harbour'",
            id="unknown-provider",
        ),
        pytest.param(
            "meetings:\n  - {provider: harbor, date: 2026-01-15, colour: red}\n",
            "colour",
            id="unknown-key",
        ),
        pytest.param("provider: harbor\n", "top-level key `meetings:`", id="no-meetings-key"),
    ],
)
def test_bad_yaml_names_the_problem(store, program, tmp_path, text, fragment):
    path = tmp_path / "m.yaml"
    path.write_text(text)
    with pytest.raises(ActionError, match=fragment):
        actions.load_file(store, program, path)
    assert not store.has_table("action_items")  # nothing half-written


def test_csv_missing_column(store, program, tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("provider,owner,text\nharbor,a,b\n")
    with pytest.raises(ActionError, match="missing column.*meeting_date"):
        actions.load_file(store, program, path)


def test_resolution_summary():
    items = pd.DataFrame(
        {
            "status": ["closed", "closed", "open", "open"],
            "due_date": pd.to_datetime(["2026-01-31", "2026-01-31", "2026-01-31", "2026-12-31"]),
            "closed_date": pd.to_datetime(["2026-01-20", "2026-02-10", None, None]),
        }
    )
    assert actions.resolution_summary(items, date(2026, 3, 1)) == {
        "recorded": 4,
        "closed_on_time": 1,
        "closed_late": 1,
        "open": 2,
        "open_overdue": 1,
    }


def test_demo_meetings_file_loads(store, program):
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "parameters" / "meetings" / "homeless_demo.yaml"
    assert actions.load_file(store, program, path) == {
        "meetings": 5,
        "items": 8,
        "new_items": 8,
        "lessons": 4,
    }
    items = actions.read_actions(store)
    # On the meeting of 2026-06-15: cascade's review (due 2026-03-31) and rainier's two are open.
    open_ = actions.open_items(items, date(2026, 6, 15))
    assert open_["item_id"].tolist() == ["cascade-001", "rainier-002", "rainier-001"]
    assert open_["overdue"].all()
