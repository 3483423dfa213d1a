"""Meetings and action items: what the ACM cycle promised, and whether it was done.

Each monthly meeting with a provider ends with action items (who does what by when, linked to
a metric). They live in two store tables, ``meetings`` and ``action_items`` (columns declared in
``schema.MEETING_COLUMNS`` and ``schema.ACTION_ITEM_COLUMNS``), and are recorded from a YAML or
CSV file (``acm action load``; the format is in :mod:`acm_helpers.meetings.meetings_file`) or one at a
time (``acm action add`` / ``close``).

Open items carry forward by construction: the agenda and the follow-up section of every packet
ask :func:`open_items` which items were open on the meeting date, so nobody copies a list from
one month to the next. An item is *overdue* when its due date is before that meeting date.

Timing convention (one place, used by the agenda and the reports): the packet for data period
``P`` is discussed at the meeting held on ``program.meetings.day_of_month`` of the month after
``P`` (the data for ``P`` is submitted after the month closes). See :func:`meeting_date_for`.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Literal

import pandas as pd

from acm_helpers.core.calendar import BIWEEK_RE, QUARTER_RE, WEEK_RE, bounds_of, shift_period
from acm_helpers.core.config import Program
from acm_helpers.core.errors import ActionError, ConfigError
from acm_helpers.core.schema import ACTION_ITEM_COLUMNS, MEETING_COLUMNS
from acm_helpers.meetings.meetings_file import (
    ActionEntry,
    MeetingEntry,
    MeetingsFile,
    check_ids,
    parse_meetings_file,
)
from acm_helpers.store.store import one_writer

MEETINGS = "meetings"
ACTION_ITEMS = "action_items"
DATE_COLUMNS = {"meeting_date", "due_date", "closed_date"}


# -- dates --------------------------------------------------------------------------------------
def meeting_date_for(program: Program, period: str) -> date:
    """The date of the meeting that discusses data period ``period``.

    Why: the agenda needs one "as of" date to decide which items are open and overdue, and the
    data for a month is only complete after the month closes, so the meeting is held on the
    program's ``meetings.day_of_month`` of the following month (quarterly cadence: the month
    after the quarter's last month, which is the same rule). A week or biweekly period
    (``2026-W41-42``) is discussed the day after its data are due: its last day plus the
    program's ``submission_due_days`` plus one.
    """
    label = str(period)
    if WEEK_RE.match(label) or BIWEEK_RE.match(label):
        # a week's or fortnight's data are due ``submission_due_days`` after it ends: the
        # meeting is held the day after they are due (issue 19: weekly / biweekly cadences)
        end = bounds_of(period)[1]
        return date.fromordinal(end.toordinal() + program.submission_due_days + 1)
    if QUARTER_RE.match(label):  # the quarter's last month in the program
        end = bounds_of(label)[1]
        period = min(f"{end.year:04d}-{end.month:02d}", program.last_period)
    program.check_period(period)
    y, m = map(int, shift_period(period, 1).split("-"))
    return date(y, m, program.meetings.day_of_month)


def period_for_meeting(meeting_day: date) -> str:
    """The data period a meeting on ``meeting_day`` discusses by default (the month before)."""
    return shift_period(f"{meeting_day.year:04d}-{meeting_day.month:02d}", -1)


def _ts(value: object) -> pd.Timestamp:
    return pd.Timestamp(value).normalize()


# -- empty tables and normalisation ---------------------------------------------------------------
def _empty(columns: dict[str, str]) -> pd.DataFrame:
    frame = pd.DataFrame(
        {c: pd.Series(dtype="datetime64[ns]" if c in DATE_COLUMNS else "string") for c in columns}
    )
    return frame


def _normalise(frame: pd.DataFrame, columns: dict[str, str]) -> pd.DataFrame:
    out = frame.copy()
    for col in columns:
        if col not in out:
            out[col] = pd.NaT if col in DATE_COLUMNS else ""
        if col in DATE_COLUMNS:
            out[col] = pd.to_datetime(out[col]).astype("datetime64[ns]")
        else:
            out[col] = out[col].fillna("").astype("string")
    return out[list(columns)].reset_index(drop=True)


def items_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """An ``action_items`` frame with every column, typed (dates as timestamps, text as string)."""
    return _normalise(frame, ACTION_ITEM_COLUMNS)


def meetings_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A ``meetings`` frame with every column, typed."""
    return _normalise(frame, MEETING_COLUMNS)


def read_actions(store) -> pd.DataFrame:
    """All action items in the store (an empty, typed frame when none are recorded yet)."""
    if not store.has_table(ACTION_ITEMS):
        return _empty(ACTION_ITEM_COLUMNS)
    return _normalise(store.read_table(ACTION_ITEMS), ACTION_ITEM_COLUMNS)


def read_meetings(store) -> pd.DataFrame:
    """All meetings in the store (an empty, typed frame when none are recorded yet)."""
    if not store.has_table(MEETINGS):
        return _empty(MEETING_COLUMNS)
    return _normalise(store.read_table(MEETINGS), MEETING_COLUMNS)


# -- pure transforms ------------------------------------------------------------------------------
def next_item_id(items: pd.DataFrame, provider_id: str) -> str:
    """Next id for a provider's item: ``<provider>-<NNN>``, short enough to type in the CLI."""
    mine = items.loc[items["provider_id"] == provider_id, "item_id"]
    nums = mine.str.extract(r"-(\d+)$")[0].dropna().astype(int)
    return f"{provider_id}-{(nums.max() + 1 if len(nums) else 1):03d}"


def open_items(items: pd.DataFrame, as_of: date, provider_id: str | None = None) -> pd.DataFrame:
    """Items open on ``as_of``: agreed at a meeting before that day and not closed by then.

    Why: the same question drives the agenda, the packet's follow-up section and the Voilà
    dashboard, so an item agreed at one meeting appears at every later meeting until closed
    (not at its own meeting: that agenda was written before it). Adds ``overdue`` (due date
    before ``as_of``) and ``days_overdue``; overdue items first.
    """
    day = _ts(as_of)
    sel = items[
        (items["meeting_date"] < day) & ((items["status"] == "open") | (items["closed_date"] > day))
    ]
    if provider_id is not None:
        sel = sel[sel["provider_id"] == provider_id]
    out = sel.copy()
    out["overdue"] = out["due_date"] < day
    out["days_overdue"] = (day - out["due_date"]).dt.days.clip(lower=0).astype("int64")
    return out.sort_values(
        ["overdue", "due_date", "item_id"], ascending=[False, True, True], ignore_index=True
    )


def closed_between(
    items: pd.DataFrame, start: date, end: date, provider_id: str | None = None
) -> pd.DataFrame:
    """Items closed after ``start`` and on or before ``end`` (the follow-up "done" list)."""
    sel = items[
        (items["status"] == "closed")
        & (items["closed_date"] > _ts(start))
        & (items["closed_date"] <= _ts(end))
    ]
    if provider_id is not None:
        sel = sel[sel["provider_id"] == provider_id]
    return sel.sort_values(["closed_date", "item_id"], ignore_index=True)


def resolution_summary(items: pd.DataFrame, as_of: date) -> dict[str, int]:
    """Counts for an end-of-term view: recorded, closed on time, closed late, open, overdue."""
    day = _ts(as_of)
    closed = items[items["status"] == "closed"]
    open_ = items[items["status"] == "open"]
    return {
        "recorded": len(items),
        "closed_on_time": int((closed["closed_date"] <= closed["due_date"]).sum()),
        "closed_late": int((closed["closed_date"] > closed["due_date"]).sum()),
        "open": len(open_),
        "open_overdue": int((open_["due_date"] < day).sum()),
    }


def last_meeting_before(meetings: pd.DataFrame, provider_id: str, before: date) -> pd.Series | None:
    """The provider's most recent recorded meeting strictly before ``before``, or None."""
    sel = meetings[
        (meetings["provider_id"] == provider_id) & (meetings["meeting_date"] < _ts(before))
    ]
    if sel.empty:
        return None
    return sel.sort_values("meeting_date").iloc[-1]


# -- validation ------------------------------------------------------------------------------------


def merge_entries(
    meetings: pd.DataFrame, items: pd.DataFrame, parsed: MeetingsFile
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Merge parsed meetings into the tables; re-loading the same file changes nothing.

    Why idempotent: managers keep one running meetings file and load it after each meeting. A
    meeting is keyed by (provider, date); an item by its id, or else by (provider, meeting date,
    text), so an entry seen before updates its status instead of adding a duplicate.
    """
    meetings, items = meetings.copy(), items.copy()
    for m in parsed.meetings:
        day = _ts(m.date)
        mid = f"{m.provider}-{day:%Y-%m-%d}"
        row = {
            "meeting_id": mid,
            "provider_id": m.provider,
            "meeting_date": day,
            "period": m.period or period_for_meeting(m.date),
            "attendees": "; ".join(m.attendees),
            "notes": m.notes,
        }
        meetings = pd.concat(
            [
                meetings[meetings["meeting_id"] != mid],
                _normalise(pd.DataFrame([row]), MEETING_COLUMNS),
            ],
            ignore_index=True,
        )
        for a in m.actions:
            if a.id is not None:
                match = items["item_id"] == a.id
            else:
                match = (
                    (items["provider_id"] == m.provider)
                    & (items["meeting_date"] == day)
                    & (items["text"] == a.text)
                )
            item_id = (
                items.loc[match, "item_id"].iloc[0]
                if match.any()
                else a.id or next_item_id(items, m.provider)
            )
            new = {
                "item_id": item_id,
                "provider_id": m.provider,
                "meeting_date": day,
                "owner": a.owner,
                "due_date": _ts(a.due),
                "status": a.status,
                "metric_id": a.metric or "",
                "text": a.text,
                "closed_date": _ts(a.closed) if a.closed else pd.NaT,
                "resolution": a.resolution,
            }
            items = pd.concat(
                [
                    items[items["item_id"] != item_id],
                    _normalise(pd.DataFrame([new]), ACTION_ITEM_COLUMNS),
                ],
                ignore_index=True,
            )
    return (
        _normalise(meetings.sort_values(["meeting_date", "provider_id"]), MEETING_COLUMNS),
        _normalise(items.sort_values(["provider_id", "item_id"]), ACTION_ITEM_COLUMNS),
    )


# -- store operations (the CLI and notebooks call these) --------------------------------------------
@one_writer("loading meetings")
def load_file(store, program: Program, path: str | Path) -> dict[str, int]:
    """Record the meetings and action items of a YAML/CSV file in the store.

    Returns counts of meetings and items in the file, and how many items were new.
    """
    parsed = parse_meetings_file(path, program)
    meetings, items = read_meetings(store), read_actions(store)
    new_meetings, new_items = merge_entries(meetings, items, parsed)
    store.write_table(MEETINGS, new_meetings)
    store.write_table(ACTION_ITEMS, new_items)
    from acm_helpers.meetings import voice  # lessons, cleared comments, exit interviews

    return {
        "meetings": len(parsed.meetings),
        "items": sum(len(m.actions) for m in parsed.meetings),
        "new_items": len(new_items) - len(items),
        **{k: n for k, n in voice.record_file_extras(store, program, parsed).items() if n},
    }


@one_writer("adding an action item")
def add_action(
    store,
    program: Program,
    provider_id: str,
    owner: str,
    due: date,
    text: str,
    metric_id: str | None = None,
    meeting_date: date | None = None,
) -> pd.Series:
    """Record one action item (and its meeting, if not yet recorded); return the new row.

    ``meeting_date`` defaults to today, i.e. "agreed at today's meeting".
    """
    meeting_day = meeting_date or date.today()
    entry = MeetingEntry(
        provider=provider_id,
        date=meeting_day,
        actions=[ActionEntry(text=text, owner=owner, due=due, metric=metric_id)],
    )
    check_ids(program, provider_id, metric_id, f"action for {provider_id}")
    meetings, items = read_meetings(store), read_actions(store)
    known = meetings[
        (meetings["provider_id"] == provider_id) & (meetings["meeting_date"] == _ts(meeting_day))
    ]
    if not known.empty:  # keep the meeting's recorded notes and attendees
        row = known.iloc[0]
        entry = entry.model_copy(
            update={
                "period": row["period"],
                "notes": row["notes"],
                "attendees": [a for a in row["attendees"].split("; ") if a],
            }
        )
    new_meetings, new_items = merge_entries(meetings, items, MeetingsFile(meetings=[entry]))
    store.write_table(MEETINGS, new_meetings)
    store.write_table(ACTION_ITEMS, new_items)
    added = new_items[~new_items["item_id"].isin(items["item_id"])]
    if added.empty:
        raise ActionError(
            f"An identical item for {provider_id} on {meeting_day} already exists; "
            "nothing added. Use `acm action list` to see it."
        )
    return added.iloc[0]


@one_writer("closing an action item")
def close_action(
    store, item_id: str, closed_on: date | None = None, resolution: str = ""
) -> pd.Series:
    """Close an item (it drops off every agenda after ``closed_on``); return the updated row."""
    items = read_actions(store)
    match = items["item_id"] == item_id
    if not match.any():
        known = ", ".join(items["item_id"].tolist()[-10:]) or "(none recorded)"
        raise ActionError(
            f"Unknown action item {item_id!r}. Recent items: {known}. "
            "Run `acm action list` to see all."
        )
    day = _ts(closed_on or date.today())
    if day < items.loc[match, "meeting_date"].iloc[0]:
        raise ActionError(
            f"Item {item_id}: close date {day:%Y-%m-%d} is before the meeting that "
            f"recorded it ({items.loc[match, 'meeting_date'].iloc[0]:%Y-%m-%d})."
        )
    items.loc[match, "status"] = "closed"
    items.loc[match, "closed_date"] = day
    items.loc[match, "resolution"] = resolution
    store.write_table(ACTION_ITEMS, items)
    return items[match].iloc[0]


def list_actions(
    store,
    provider_id: str | None = None,
    status: Literal["open", "closed", "all"] = "open",
    as_of: date | None = None,
) -> pd.DataFrame:
    """Action items for the CLI and notebooks; ``open`` means open on ``as_of`` (default today)."""
    items = read_actions(store)
    if status == "open":
        return open_items(items, as_of or date.today(), provider_id)
    if status not in ("closed", "all"):
        raise ConfigError(f"status {status!r}: use open, closed or all.")
    sel = items if status == "all" else items[items["status"] == "closed"]
    if provider_id is not None:
        sel = sel[sel["provider_id"] == provider_id]
    return sel.reset_index(drop=True)
