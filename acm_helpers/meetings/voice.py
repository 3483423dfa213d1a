"""Client voice, frontline reports and lessons learned, as the meeting uses them.

- Lessons learned: a log per provider and per program (``acm lesson add`` or ``lessons:`` in the
  meetings file), shown on every agenda and brief as "lessons learned to date" (the provider's
  own and the program's) and carried into the end-of-contract report.
- Free text (survey comments, frontline descriptions) never reaches a provider output unless
  an analyst has cleared that one comment (``acm comment clear`` or ``cleared_comments:``):
  :func:`cleared_texts` returns cleared text only, and nothing else here returns text.
- The brief's client-voice section and talking points: survey and frontline metrics from the
  engine (:mod:`acm_helpers.metrics.voice`), in the audience's view.
- Qualitative notes from focus groups and interviews: Markdown files per roadmap topic,
  ``<client_voice.notes_dir>/<program id>/<topic>/*.md``, shown in that topic's deep dive.
- Exit interview answers (``exit_interviews:``) for the end-of-contract report.
"""

from __future__ import annotations

import html
from datetime import date
from pathlib import Path

import pandas as pd

from acm_helpers.core import text
from acm_helpers.core.config import Program
from acm_helpers.core.errors import ActionError
from acm_helpers.core.schema import (
    CLEARED_COLUMNS,
    CLEARED_COMMENTS,
    EXIT_INTERVIEW_COLUMNS,
    EXIT_INTERVIEWS,
    FRONTLINE,
    LESSON_COLUMNS,
    LESSONS,
    SURVEYS,
    conform,
)
from acm_helpers.meetings import talking_points as tp
from acm_helpers.metrics import privacy
from acm_helpers.metrics import voice as mv
from acm_helpers.store.store import Store, one_writer

esc = html.escape
PROGRAM_WIDE = ""  # provider_id of a program-wide lesson


# -- tables ----------------------------------------------------------------------------------------
def _read(store: Store, name: str, columns: dict[str, str]) -> pd.DataFrame:
    frame = store.read_table(name)
    return conform(frame if not frame.empty else pd.DataFrame(columns=list(columns)), columns)


def read_lessons(store: Store) -> pd.DataFrame:
    """Every recorded lesson (``LESSON_COLUMNS``)."""
    return _read(store, LESSONS, LESSON_COLUMNS)


def read_cleared(store: Store) -> pd.DataFrame:
    """Every cleared comment (``CLEARED_COLUMNS``)."""
    return _read(store, CLEARED_COMMENTS, CLEARED_COLUMNS)


def read_exit_interviews(store: Store) -> pd.DataFrame:
    """Every recorded exit-interview answer (``EXIT_INTERVIEW_COLUMNS``)."""
    return _read(store, EXIT_INTERVIEWS, EXIT_INTERVIEW_COLUMNS)


@one_writer("adding a lesson")
def add_lesson(
    store: Store,
    program: Program,
    text_: str,
    provider_id: str | None = None,
    when: date | None = None,
    metric_id: str | None = None,
    source: str = "",
) -> pd.Series:
    """Record one lesson (program-wide when ``provider_id`` is None); an identical lesson
    (same provider, date and text) is recorded once. Returns its row."""
    if provider_id is not None:
        program.provider(provider_id)
    if metric_id:
        program.metric(metric_id)
    if not text_.strip():
        raise ActionError("A lesson needs its text: acm lesson add --provider P 'What we learned'.")
    lessons = read_lessons(store)
    pid = provider_id or PROGRAM_WIDE
    day = pd.Timestamp(when or date.today())
    same = lessons[
        (lessons["provider_id"] == pid) & (lessons["date"] == day) & (lessons["text"] == text_)
    ]
    if len(same):
        return same.iloc[0]
    n = int((lessons["provider_id"] == pid).sum()) + 1
    row = {
        "lesson_id": f"{pid or program.id}-L{n:03d}",
        "provider_id": pid,
        "date": day,
        "text": text_.strip(),
        "metric_id": metric_id or "",
        "source": source,
    }
    out = pd.concat([lessons, pd.DataFrame([row])], ignore_index=True)
    store.write_table(LESSONS, conform(out, LESSON_COLUMNS))
    return pd.Series(row)


def lessons_to_date(store: Store, provider_id: str, until: date) -> pd.DataFrame:
    """The provider's lessons and the program's, recorded on or before ``until``, oldest first."""
    lessons = read_lessons(store)
    mine = lessons["provider_id"].isin([provider_id, PROGRAM_WIDE])
    return lessons[mine & (lessons["date"] <= pd.Timestamp(until))].sort_values(
        ["date", "lesson_id"], ignore_index=True
    )


def lessons_html(lessons: pd.DataFrame) -> str:
    """The "lessons learned to date" list (program-wide ones marked)."""
    if lessons.empty:
        return "<p>No lesson recorded yet (<code>acm lesson add</code>).</p>"
    items = "".join(
        f"<li>{esc(r.text)} <span class='meta'>({r.date:%-d %b %Y}"
        + ("; program-wide" if r.provider_id == PROGRAM_WIDE else "")
        + ")</span></li>"
        for r in lessons.itertuples()
    )
    return f'<ul class="acm-lessons">{items}</ul>'


@one_writer("clearing comments")
def clear_comments(
    store: Store,
    program: Program,
    kind: str,
    provider_id: str,
    ids: list[str],
    by: str,
    when: date | None = None,
) -> int:
    """Mark survey comments (``kind`` survey: response ids) or frontline descriptions
    (frontline: report ids) as cleared for the provider's packet; returns how many are new.

    Raises:
        ActionError: an id that is not a loaded response/report of that provider.
    """
    program.provider(provider_id)
    table, col = {"survey": (SURVEYS, "response_id"), "frontline": (FRONTLINE, "report_id")}.get(
        kind, (None, None)
    )
    if table is None:
        raise ActionError(f"Unknown comment kind {kind!r}; use survey or frontline.")
    rows = store.read_table(table)
    known = set(rows.loc[rows["provider_id"] == provider_id, col]) if not rows.empty else set()
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise ActionError(
            f"No {kind} {col} {', '.join(unknown)} for provider {provider_id} in the store. "
            f"Check the id (the internal packet lists them) and load the file first."
        )
    cleared = read_cleared(store)
    have = set(zip(cleared["kind"], cleared["provider_id"], cleared["item_id"], strict=True))
    new = [
        {
            "kind": kind,
            "provider_id": provider_id,
            "item_id": i,
            "cleared_by": by,
            "cleared_on": pd.Timestamp(when or date.today()),
        }
        for i in dict.fromkeys(ids)
        if (kind, provider_id, i) not in have
    ]
    if new:
        out = pd.concat([cleared, pd.DataFrame(new)], ignore_index=True)
        store.write_table(CLEARED_COMMENTS, conform(out, CLEARED_COLUMNS))
    return len(new)


def record_file_extras(store: Store, program: Program, parsed) -> dict[str, int]:
    """Record a meetings file's ``lessons:``, ``cleared_comments:`` and ``exit_interviews:``."""
    for lesson in parsed.lessons:
        add_lesson(store, program, lesson.text, lesson.provider, lesson.date, lesson.metric, "file")
    for c in parsed.cleared_comments:
        clear_comments(store, program, c.kind, c.provider, [c.id], c.by, c.date)
    if parsed.exit_interviews:
        old = read_exit_interviews(store)
        rows = [
            {"provider_id": e.provider, "date": pd.Timestamp(e.date), "question": q, "answer": a}
            for e in parsed.exit_interviews
            for q, a in e.answers.items()
        ]
        redone = {(e.provider, pd.Timestamp(e.date)) for e in parsed.exit_interviews}
        keep = old[
            [(p, d) not in redone for p, d in zip(old["provider_id"], old["date"], strict=True)]
        ]
        store.write_table(
            EXIT_INTERVIEWS, conform(pd.concat([keep, pd.DataFrame(rows)]), EXIT_INTERVIEW_COLUMNS)
        )
    return {
        "lessons": len(parsed.lessons),
        "cleared_comments": len(parsed.cleared_comments),
        "exit_interviews": len(parsed.exit_interviews),
    }


def cleared_texts(
    store: Store, kind: str, provider_id: str, start: date, end: date
) -> pd.DataFrame:
    """The provider's cleared comments (survey) or descriptions (frontline) dated in
    ``start``..``end``: columns date, text (and category for frontline). Only cleared text
    is ever returned."""
    table, col, date_col, text_col = {
        "survey": (SURVEYS, "response_id", "response_date", "comment"),
        "frontline": (FRONTLINE, "report_id", "report_date", "description"),
    }[kind]
    empty = pd.DataFrame(columns=["date", "text", "category"])
    if not store.has_table(table):
        return empty
    cleared = read_cleared(store)
    ids = set(
        cleared.loc[(cleared["kind"] == kind) & (cleared["provider_id"] == provider_id), "item_id"]
    )
    if not ids:
        return empty
    rows = store.read_table(table)
    when = pd.to_datetime(rows[date_col])
    sel = rows[
        (rows["provider_id"] == provider_id)
        & rows[col].isin(ids)
        & (when >= pd.Timestamp(start))
        & (when <= pd.Timestamp(end))
        & rows[text_col].notna()
    ]
    return pd.DataFrame(
        {
            "date": pd.to_datetime(sel[date_col]).to_numpy(),
            "text": sel[text_col].astype("str").to_numpy(),
            "category": sel["category"].to_numpy() if "category" in sel else "",
        }
    ).sort_values("date", ignore_index=True)


# -- the brief's client-voice section -------------------------------------------------------------
def voice_rows(
    program: Program, store: Store, provider_id: str, period: str, audience: str
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """This month's survey and frontline rows (overall, this provider) and the survey equity
    rows of the quarter, in the audience's view."""
    from acm_helpers.core.calendar import equity_quarter

    sv, seq = mv.stored_survey_tables(program, store)
    fl = mv.stored_frontline_values(program, store)
    out = []
    for frame, view in (
        (sv, mv.survey_program(program) if not sv.empty else program),
        (fl, mv.frontline_program(program) if not fl.empty else program),
    ):
        if frame.empty:
            out.append(frame)
            continue
        rows = frame[(frame["grain"] == "month") & (frame["period"] == period)]
        rows = privacy.for_audience(rows, view, audience, provider_id)
        out.append(rows[rows["is_self"] & (rows["dimension"] == "")].set_index("metric_id"))
    q = equity_quarter(period)
    eq = seq[(seq["provider_id"] == provider_id) & (seq["period"] == q)] if not seq.empty else seq
    if not eq.empty:
        eq = privacy.for_audience(eq, mv.survey_program(program), audience, provider_id)
    return out[0], out[1], eq


def voice_points(
    program: Program, store: Store, provider_id: str, period: str, audience: str
) -> list[tp.Point]:
    """Talking points from client voice and frontline reports: a survey metric's concern, a
    group's disparity in satisfaction, and a frontline category rising (special cause for
    concern or a significant rise), each named with its numbers."""
    from acm_helpers.core.calendar import equity_quarter, quarter_name
    from acm_helpers.meetings import disparities as disp

    survey, frontline, eq = voice_rows(program, store, provider_id, period, audience)
    points = []
    if not survey.empty:
        view = mv.survey_program(program)
        points += [p for p in tp.concern_points(survey, _keyed(view)) if p.kind == "concern"]
        points += disp.disparity_points(eq, view, quarter_name(equity_quarter(period)))
    if not frontline.empty:
        view = mv.frontline_program(program)
        for p in tp.concern_points(frontline, _keyed(view)):
            if p.kind == "concern":
                points.append(p)
    return points


def _keyed(view: Program) -> Program:
    """The view program with every metric a headline one (concern_points reads key metrics)."""
    return view.model_copy(
        update={"metrics": {k: m.model_copy(update={"key": True}) for k, m in view.metrics.items()}}
    )


def voice_section(
    program: Program, store: Store, provider_id: str, period: str, audience: str
) -> str:
    """The brief's "Client voice and frontline reports" section ("" when neither is declared):
    this month's survey metrics and frontline categories with their signals, and the comments
    an analyst has cleared for this provider."""
    from acm_helpers.core.calendar import period_bounds

    if program.client_voice is None and program.frontline is None:
        return ""
    survey, frontline, _ = voice_rows(program, store, provider_id, period, audience)
    start, end = period_bounds(period)
    out = ["<h3>Client voice and frontline reports</h3>"]
    if survey.empty and frontline.empty:
        out.append("<p>No survey response or frontline report loaded for this month.</p>")
        return "\n".join(out)
    rows = []
    for frame in (survey, frontline):
        for _, r in frame.iterrows():
            sign = {"concern": "concern", "improvement": "improvement"}.get(r.get("spc_signal"), "")
            shown = (
                "suppressed (too few responses)"
                if bool(r["suppressed"])
                else text.value(r["value"], r["format"], r["unit"])
            )
            if frame is frontline and not bool(r["suppressed"]) and r["value"] == 0:
                continue  # a category nobody reported this month is not news
            rows.append(
                f"<tr><td>{esc(r['label'])}</td><td class='num'>{esc(shown)}</td>"
                f"<td>{esc(_detail(r, frame is frontline))}</td>"
                f"<td>{esc(_signal_words(sign, r))}</td></tr>"
            )
    out.append(
        '<table class="acm-table acm-voice"><thead><tr><th>Measure</th><th>This month</th>'
        "<th>Detail</th><th>Signal</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
    )
    comments = cleared_texts(store, "survey", provider_id, start, end)
    reports = cleared_texts(store, "frontline", provider_id, start, end)
    if len(comments) or len(reports):
        items = "".join(
            f"<li>“{esc(t)}” <span class='meta'>(client survey)</span></li>"
            for t in comments["text"]
        )
        items += "".join(
            f"<li>“{esc(t)}” <span class='meta'>(frontline report)</span></li>"
            for t in reports["text"]
        )
        out.append(
            f"<p>Comments cleared for this meeting:</p><ul class='acm-comments'>{items}</ul>"
        )
    else:
        out.append(
            "<p class='meta'>Free-text comments are shown only once an analyst clears them "
            "(<code>acm comment clear</code>); none is cleared for this month.</p>"
        )
    return "\n".join(out)


def _detail(row: pd.Series, frontline: bool) -> str:
    """What stands behind the number: the rate's counts, or a category's usual monthly level."""
    if bool(row["suppressed"]):
        return ""
    if frontline:
        centre = tp.num(row.get("centre_line"))
        return (
            "" if centre is None else f"usually {text.value(centre, 'number', 'reports')} a month"
        )
    return str(row["math"]) if row["kind"] == "rate" else ""


def _signal_words(sign: str, row: pd.Series) -> str:
    if sign == "concern":
        return "special cause for concern"
    if sign == "improvement":
        return "special cause for improvement"
    if bool(row.get("flag_below_target", False)):
        return "below target"
    return ""


# -- qualitative notes ----------------------------------------------------------------------------
def topic_notes(
    program: Program, project: Path, topic: str, provider_id: str | None = None
) -> list[tuple[str, str]]:
    """The Markdown notes of one roadmap topic: ``(file name, text)`` pairs, by file name.

    Where: ``<client_voice.notes_dir>/<program id>/<topic>/*.md`` (program-wide) and
    ``.../<topic>/<provider id>/*.md`` (that provider's), relative to the project folder.
    ``topic`` is a roadmap topic kind (disparity, referral_funnel ...).
    """
    base = program.client_voice.notes_dir if program.client_voice else "parameters/notes"
    folder = Path(base)
    folder = (folder if folder.is_absolute() else project / folder) / program.id / topic
    files = sorted(folder.glob("*.md"))
    if provider_id is not None:
        files += sorted((folder / provider_id).glob("*.md"))
    return [(p.name, p.read_text(encoding="utf-8")) for p in files]


def notes_html(notes: list[tuple[str, str]]) -> str:
    """Notes as HTML: each file a block of escaped text, paragraphs kept (Markdown headings
    shown as headings; nothing else is interpreted, so a note cannot inject markup)."""
    if not notes:
        return ""
    out = ["<section class='acm-notes'><h3>Focus groups and interviews</h3>"]
    for name, body in notes:
        out.append(f"<h4>{esc(Path(name).stem.replace('_', ' ').replace('-', ' '))}</h4>")
        for para in [p.strip() for p in body.split("\n\n") if p.strip()]:
            if para.startswith("#"):
                out.append(f"<h5>{esc(para.lstrip('#').strip())}</h5>")
            else:
                out.append(f"<p>{esc(para)}</p>")
    out.append("</section>")
    return "\n".join(out)
