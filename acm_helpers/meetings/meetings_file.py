"""Reading a meetings file (YAML or CSV) into validated meetings and action items.

YAML: a top-level ``meetings:`` list; each meeting has ``provider``, ``date``, optional
``period``, ``attendees``, ``notes`` and ``actions`` (``owner``, ``due``, ``text``, optional
``metric``, ``id``, ``status``, ``closed``, ``resolution``). CSV: one row per action item with
``provider, meeting_date, owner, due_date, text`` and optionally ``metric, item_id, status,
closed_date, resolution``; rows sharing a provider and meeting date form one meeting. Errors name
the file, the meeting (and CSV row) and the field. Nothing here touches the store:
:func:`acm_helpers.meetings.actions.load_file` records what this returns.
"""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from acm_helpers.core.config import Program
from acm_helpers.core.errors import ActionError


# -- the file format (YAML); CSV rows map onto ActionEntry plus a provider and meeting date ----
class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ActionEntry(_Strict):
    """One action item as written in a meetings file."""

    text: str = Field(min_length=1)
    owner: str = Field(min_length=1)
    due: date
    metric: str | None = None
    id: str | None = None
    status: Literal["open", "closed"] = "open"
    closed: date | None = None
    resolution: str = ""


class MeetingEntry(_Strict):
    """One meeting with a provider, with the action items agreed at it."""

    provider: str
    date: date
    period: str | None = None  # data period discussed; default: the month before the meeting
    attendees: list[str] = Field(default_factory=list)
    notes: str = ""
    actions: list[ActionEntry] = Field(default_factory=list)


class LessonEntry(_Strict):
    """A lesson learned (``lessons:``): for one provider, or program-wide without a provider."""

    text: str = Field(min_length=1)
    date: date
    provider: str | None = None
    metric: str | None = None


class ClearedCommentEntry(_Strict):
    """A survey comment or frontline description an analyst has cleared for the provider's
    packet (``cleared_comments:``); free text is shown nowhere else to a provider."""

    kind: Literal["survey", "frontline"]
    provider: str
    id: str = Field(min_length=1)  # response_id or report_id
    by: str = Field(min_length=1)
    date: date


class ExitInterviewEntry(_Strict):
    """The provider's answers at the end of the contract (``exit_interviews:``): question ->
    answer, the questions being the program's ``exit_interview.questions``."""

    provider: str
    date: date
    answers: dict[str, str]


class MeetingsFile(_Strict):
    """Top level of a meetings YAML file."""

    meetings: list[MeetingEntry] = Field(default_factory=list)
    lessons: list[LessonEntry] = Field(default_factory=list)
    cleared_comments: list[ClearedCommentEntry] = Field(default_factory=list)
    exit_interviews: list[ExitInterviewEntry] = Field(default_factory=list)


def check_ids(program: Program, provider: str, metric: str | None, where: str) -> None:
    if provider not in program.provider_ids:
        raise ActionError(
            f"{where}: unknown provider {provider!r}. Known providers: "
            f"{', '.join(program.provider_ids)}."
        )
    if metric and metric not in program.metrics:
        raise ActionError(
            f"{where}: unknown metric {metric!r} for provider {provider}. Known metrics: "
            f"{', '.join(program.metrics)}."
        )


def _entries_from_csv(path: Path) -> list[dict]:
    """CSV: one row per action item; meetings are the distinct (provider, meeting_date)."""
    with open(path, newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        raise ActionError(
            f"{path}: no rows. Expected a header with provider, meeting_date, owner, "
            "due_date, text (and optionally metric, item_id, status, closed_date, resolution)."
        )
    needed = ["provider", "meeting_date", "owner", "due_date", "text"]
    missing = [c for c in needed if c not in rows[0]]
    if missing:
        raise ActionError(
            f"{path}: missing column(s) {', '.join(missing)}; the header has {', '.join(rows[0])}."
        )
    meetings: dict[tuple[str, str], dict] = {}
    for i, row in enumerate(rows, start=2):  # row 1 is the header
        key = (row["provider"].strip(), row["meeting_date"].strip())
        meeting = meetings.setdefault(
            key, {"provider": key[0], "date": key[1], "actions": [], "_row": i}
        )
        entry = {
            "text": row["text"],
            "owner": row["owner"],
            "due": row["due_date"],
            "metric": (row.get("metric") or "").strip() or None,
            "id": (row.get("item_id") or "").strip() or None,
            "status": (row.get("status") or "open").strip() or "open",
            "closed": (row.get("closed_date") or "").strip() or None,
            "resolution": row.get("resolution") or "",
            "_row": i,
        }
        meeting["actions"].append(entry)
    return list(meetings.values())


def parse_meetings_file(path: str | Path, program: Program) -> MeetingsFile:
    """Read and validate a meetings file (YAML or CSV) without touching the store.

    Raises:
        ActionError: naming the file, the meeting (and row, for CSV) and the field at fault.
    """
    path = Path(path)
    if not path.exists():
        raise ActionError(f"Meetings file {path} not found.")
    if path.suffix.lower() == ".csv":
        raw_meetings = _entries_from_csv(path)
    elif path.suffix.lower() in (".yaml", ".yml"):
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ActionError(f"{path}: not valid YAML: {exc}") from exc
        except ValueError as exc:  # PyYAML builds dates itself: 2026-13-01 fails here
            raise ActionError(f"{path}: a date is impossible ({exc}); write YYYY-MM-DD.") from exc
        extras = ("lessons", "cleared_comments", "exit_interviews")
        if not isinstance(raw, dict) or not any(k in raw for k in ("meetings", *extras)):
            raise ActionError(
                f"{path}: expected a top-level key `meetings:` holding a list of meetings "
                "(or lessons:, cleared_comments:, exit_interviews:)."
            )
        raw_meetings = raw.get("meetings") or []
    else:
        raise ActionError(
            f"{path}: unsupported file type {path.suffix!r}; use .yaml, .yml or .csv."
        )
    parsed = []
    for i, m in enumerate(raw_meetings):
        row = m.pop("_row", None) if isinstance(m, dict) else None
        for a in (m.get("actions") or []) if isinstance(m, dict) else []:
            if isinstance(a, dict):
                a.pop("_row", None)
        where = f"{path}: meeting {i + 1}" + (f" (row {row})" if row else "")
        try:
            entry = MeetingEntry.model_validate(m)
        except ValidationError as exc:
            probs = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise ActionError(f"{where}: {probs}. Fix the entry and load the file again.") from None
        check_ids(program, entry.provider, None, where)
        for j, a in enumerate(entry.actions):
            check_ids(program, entry.provider, a.metric, f"{where}, action {j + 1}")
            if a.status == "closed" and a.closed is None:
                raise ActionError(
                    f"{where}, action {j + 1}: status is closed but no `closed` date; add it."
                )
        if entry.period is not None:
            program.check_period(entry.period)
        parsed.append(entry)
    extras = _extras(path, raw, program) if path.suffix.lower() != ".csv" else {}
    return MeetingsFile(meetings=parsed, **extras)


def _extras(path: Path, raw: dict, program: Program) -> dict[str, list]:
    """The lessons, cleared comments and exit interviews of a YAML meetings file, validated."""
    models = {
        "lessons": LessonEntry,
        "cleared_comments": ClearedCommentEntry,
        "exit_interviews": ExitInterviewEntry,
    }
    out: dict[str, list] = {}
    for key, model in models.items():
        entries = []
        for i, item in enumerate(raw.get(key) or []):
            where = f"{path}: {key} entry {i + 1}"
            try:
                entry = model.model_validate(item)
            except ValidationError as exc:
                probs = "; ".join(
                    f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()
                )
                raise ActionError(f"{where}: {probs}. Fix the entry and load again.") from None
            provider = getattr(entry, "provider", None)
            if provider is not None:
                check_ids(program, provider, getattr(entry, "metric", None), where)
            entries.append(entry)
        out[key] = entries
    return out
