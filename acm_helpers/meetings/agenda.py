"""The agenda page at the front of every packet: what to talk about at this month's meeting.

Four parts, in the order a meeting takes them:

1. **Follow-up**: action items open on the meeting date (carried forward automatically from every
   earlier meeting until closed; overdue ones first and highlighted), and items closed since the
   last meeting.
2. **What changed since the last meeting**: each key metric now against the month the last
   meeting discussed.
3. **Flags to discuss**: below target, worse than peers, significant change, special cause (from
   the metrics engine's flags when ``metric_values`` carries them; otherwise below-target and
   significant-change flags computed here from the same declared metrics).
4. **This month's roadmap topic**: title, question, metric.

:func:`build_agenda` is pure (frames in, an :class:`Agenda` out); :func:`agenda_for` reads the
store. The timing rule (packet for period P -> meeting in the month after P) is
:func:`acm_helpers.meetings.actions.meeting_date_for`.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import date

import pandas as pd

from acm_helpers.core import text
from acm_helpers.core.calendar import month_label, month_range, period_bounds, shift_period
from acm_helpers.core.config import Program, RoadmapTopic
from acm_helpers.meetings import actions, voice
from acm_helpers.meetings.context import two_prop_p
from acm_helpers.meetings.roadmap import TOPIC_NAMES
from acm_helpers.metrics import windows as em

VALUE_COLUMNS = [
    "provider_id",
    "period",
    "metric_id",
    "numerator",
    "denominator",
    "value",
    "suppressed",
]


@dataclass
class Agenda:
    """Everything on the agenda page; ``to_html`` lays it out, the fields feed tests and the
    Voilà explorer."""

    provider_id: str
    provider_name: str
    period: str
    meeting_date: date
    last_meeting: date | None
    since_period: str
    open_items: pd.DataFrame
    closed_items: pd.DataFrame
    changes: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    topic: RoadmapTopic | None = None
    topic_metric: str = ""
    lessons: pd.DataFrame = field(default_factory=pd.DataFrame)  # meetings.voice.lessons_to_date

    def to_html(self) -> str:
        """The agenda as a self-contained HTML section (overdue items highlighted)."""
        esc = html.escape
        last = (
            f"last meeting {self.last_meeting:%d %B %Y}"
            if self.last_meeting
            else "no earlier meeting recorded"
        )
        out = [
            f'<section class="acm-agenda"><h2>Agenda: meeting of {self.meeting_date:%d %B %Y}</h2>',
            f"<p>{esc(self.provider_name)} · data through {month_label(self.period)} · {esc(last)}</p>",
            "<h3>1. Follow-up on action items</h3>",
            self.actions_html(),
            "<h4>Lessons learned to date</h4>",
            voice.lessons_html(self.lessons),
        ]
        out.append(f"<h3>2. What changed since {month_label(self.since_period)}</h3>")
        out.append(
            "<ul>" + "".join(f"<li>{esc(s)}</li>" for s in self.changes) + "</ul>"
            if self.changes
            else "<p>No comparable values.</p>"
        )
        out.append("<h3>3. Flags to discuss</h3>")
        out.append(
            "<ul>" + "".join(f"<li>{esc(s)}</li>" for s in self.flags) + "</ul>"
            if self.flags
            else "<p>No flags this month.</p>"
        )
        out.append("<h3>4. This month's deep-dive topic</h3>")
        if self.topic is None:
            out.append("<p>The roadmap has no topic for this month.</p>")
        else:
            out.append(
                f"<p><strong>{esc(self.topic.title)}</strong> ({esc(TOPIC_NAMES[self.topic.topic])}, "
                f"{esc(self.topic_metric)}): <em>{esc(self.topic.question)}</em></p>"
            )
        return "\n".join(out) + "</section>"

    def actions_html(self) -> str:
        """The follow-up part: open items (overdue first and highlighted), then items closed
        since the last meeting. Shared by the agenda and the meeting brief."""
        esc = html.escape
        out = []
        if self.open_items.empty:
            out.append("<p>No open action items.</p>")
        else:
            rows = []
            for r in self.open_items.itertuples():
                style = ' style="background:#fdecea"' if r.overdue else ""
                status = (
                    f'<strong style="color:#c0392b">OVERDUE {r.days_overdue} days</strong>'
                    if r.overdue
                    else "open"
                )
                rows.append(
                    f'<tr{style} class="{"overdue" if r.overdue else "open"}"><td>{esc(r.item_id)}</td>'
                    f"<td>{esc(r.text)}</td><td>{esc(r.owner)}</td><td>{r.due_date:%-d %b %Y}</td>"
                    f"<td>{esc(r.metric_label)}</td><td>{r.meeting_date:%-d %b %Y}</td><td>{status}</td></tr>"
                )
            out.append(
                '<table class="acm-table acm-actions"><thead><tr><th>Item</th><th>Action</th>'
                "<th>Owner</th><th>Due</th><th>Metric</th><th>Agreed</th><th>Status</th></tr></thead>"
                f"<tbody>{''.join(rows)}</tbody></table>"
            )
        if not self.closed_items.empty:
            done = "".join(
                f"<li>{esc(r.item_id)}: {esc(r.text)} (closed {r.closed_date:%-d %B %Y}"
                + (f"; {esc(r.resolution)}" if r.resolution else "")
                + ")</li>"
                for r in self.closed_items.itertuples()
            )
            out.append(f"<p>Closed since the last meeting:</p><ul>{done}</ul>")
        return "\n".join(out)

    def __repr__(self) -> str:  # short: the HTML is the display; keep notebooks and logs tidy
        return f"<Agenda {self.provider_id} {self.meeting_date}>"

    def _repr_html_(self) -> str:
        return self.to_html()


# -- values -------------------------------------------------------------------------------------------
def values_from_metric_table(metric_values: pd.DataFrame) -> pd.DataFrame:
    """Monthly overall values from the engine's ``metric_values`` (month grain, no breakdown)."""
    mv = metric_values
    sel = mv[(mv["grain"] == "month") & (mv["dimension"].fillna("") == "")]
    if "version" in sel and sel["version"].nunique() > 1:  # keep the newest version only
        sel = sel[sel["version"] == sel["version"].iloc[-1]]
    out = sel.copy()
    if "suppressed" not in out:
        out["suppressed"] = False
    extra = [c for c in out.columns if c.startswith("flag_")]
    return out[[*VALUE_COLUMNS, *extra]].reset_index(drop=True)


def values_from_episodes(
    program: Program, episodes: pd.DataFrame, periods: list[str], threshold: int | None = None
) -> pd.DataFrame:
    """Monthly overall values of the key metrics for every provider, as the engine computes and
    suppresses them (:func:`acm_helpers.metrics.windows.window_cells`, suppressed cells nulled);
    used when the store has no ``metric_values`` table yet. ``threshold`` overrides the
    program's suppression threshold."""
    if threshold is not None and threshold != program.suppression.threshold:
        rule = program.suppression.model_copy(update={"threshold": threshold})
        program = program.model_copy(update={"suppression": rule})
    wins = em.windows([(p, *period_bounds(p)) for p in sorted(set(periods))], "month")
    key = [mid for mid, m in program.metrics.items() if m.key]
    cells = em.window_cells(
        program, episodes, wins, key, providers=program.provider_ids, audience="provider"
    )
    out = cells[cells["dimension"] == ""].rename(columns={"window": "period"})
    return out[VALUE_COLUMNS].reset_index(drop=True)


# -- sentences ----------------------------------------------------------------------------------------
def change_sentences(
    program: Program, values: pd.DataFrame, provider_id: str, period: str, since: str
) -> list[str]:
    """One sentence per key metric: now against ``since`` ("Exits to permanent housing: 41% in
    January 2026, up from 33% in November 2025 (better)")."""
    own = values[values["provider_id"] == provider_id].set_index(["metric_id", "period"])
    out = []
    for mid, m in program.metrics.items():
        if not m.key or (mid, period) not in own.index:
            continue
        now = own.loc[(mid, period)]
        if bool(now["suppressed"]) or pd.isna(now["value"]):
            out.append(f"{m.label}: suppressed in {month_label(period)} (small numbers).")
            continue
        line = f"{m.label}: {text.value(now['value'], m.format, m.unit)} in {month_label(period)}"
        if (
            (mid, since) in own.index
            and not bool(own.loc[(mid, since), "suppressed"])
            and not pd.isna(own.loc[(mid, since), "value"])
        ):
            before = own.loc[(mid, since), "value"]
            if now["value"] == before:
                line += f", the same as in {month_label(since)}"
            else:
                up = now["value"] > before
                better = up == (m.direction == "up")
                line += (
                    f", {'up' if up else 'down'} from {text.value(before, m.format, m.unit)} in {month_label(since)} "
                    f"({'better' if better else 'worse'})"
                )
        out.append(line + ".")
    return out


def flag_sentences(
    program: Program, values: pd.DataFrame, provider_id: str, period: str, since: str
) -> list[str]:
    """Flags for the meeting. The engine's flags (``flag_*`` columns and their ``flag_reasons``
    sentences in ``metric_values``) are used when present; otherwise: below target, and a
    significant change against ``since`` (two-proportion z test, p < 0.05, rates only)."""
    own = values[(values["provider_id"] == provider_id)]
    now = own[own["period"] == period].set_index("metric_id")
    if "flag_reasons" in now.columns:
        return [
            text
            if text.startswith(program.metric(mid).label)
            else f"{program.metric(mid).label}: {text}"
            for mid, text in now["flag_reasons"].items()
            if mid in program.metrics
            and program.metrics[mid].key
            and isinstance(text, str)
            and text
        ]
    before = own[own["period"] == since].set_index("metric_id")
    out = []
    for mid, m in program.metrics.items():
        if (
            mid not in now.index
            or bool(now.loc[mid, "suppressed"])
            or pd.isna(now.loc[mid, "value"])
        ):
            continue
        v = now.loc[mid, "value"]
        if m.target is not None and ((v < m.target) if m.direction == "up" else (v > m.target)):
            shown = text.distinct(v, m.target, m.format, m.unit)  # "14.96%" beside "15%"
            out.append(
                f"{m.label}: {shown} is {'below' if m.direction == 'up' else 'above'} the "
                f"target of {text.value(m.target, m.format, m.unit)}."
            )
        if m.kind == "rate" and mid in before.index and not bool(before.loc[mid, "suppressed"]):
            p = two_prop_p(now.loc[mid], before.loc[mid])
            if p < 0.05:
                out.append(
                    f"{m.label}: the change from {text.value(before.loc[mid, 'value'], m.format, m.unit)} in "
                    f"{month_label(since)} to {text.value(v, m.format, m.unit)} is statistically significant (p = {p:.3f})."
                )
    return out


# -- the agenda ----------------------------------------------------------------------------------------
def build_agenda(
    program: Program,
    provider_id: str,
    period: str,
    items: pd.DataFrame,
    meetings: pd.DataFrame,
    values: pd.DataFrame,
    lessons: pd.DataFrame | None = None,
) -> Agenda:
    """Assemble the agenda for the meeting that discusses ``period`` (pure).

    Args:
        items, meetings: the ``action_items`` and ``meetings`` tables.
        values: monthly overall values (:func:`values_from_metric_table` or
            :func:`values_from_episodes`), already suppressed for the audience.
    """
    provider = program.provider(provider_id)
    meeting_day = actions.meeting_date_for(program, period)
    last = actions.last_meeting_before(meetings, provider_id, meeting_day)
    since = (
        last["period"] if last is not None and last["period"] < period else shift_period(period, -1)
    )
    last_day = last["meeting_date"].date() if last is not None else None
    open_ = actions.open_items(items, meeting_day, provider_id)
    open_ = open_.assign(
        metric_label=open_["metric_id"].map(
            lambda k: program.metrics[k].label if k in program.metrics else ""
        )
    )
    closed = actions.closed_between(items, last_day or date.min, meeting_day, provider_id)
    topic = program.roadmap.get(period)
    return Agenda(
        provider_id,
        provider.name,
        period,
        meeting_day,
        last_day,
        since,
        open_,
        closed,
        change_sentences(program, values, provider_id, period, since),
        flag_sentences(program, values, provider_id, period, since),
        topic,
        program.metrics[topic.metric].label if topic else "",
        lessons if lessons is not None else pd.DataFrame(),
    )


def agenda_for(
    program: Program,
    store,
    provider_id: str,
    period: str,
    values: pd.DataFrame | None = None,
    items: pd.DataFrame | None = None,
    meetings: pd.DataFrame | None = None,
) -> Agenda:
    """Read the store and build the agenda: the packet notebook's one call for this page.

    Args:
        values: ``metric_values`` rows the caller already holds (the packet's ``history``);
            when None, this provider's monthly overall rows are read from the store (or,
            before the engine has run, computed from the episodes).
        items, meetings: the store's action items and meetings when the caller already
            read them (the packet's); when None, read from the store.
    """
    program.check_period(period)
    program.provider(provider_id)
    if values is None and store.has_table("metric_values"):
        values = store.query(
            "SELECT * FROM metric_values WHERE grain = 'month' AND dimension = '' "
            "AND provider_id = $provider AND period <= $period",
            {"provider": provider_id, "period": period},
        )
    if values is not None:
        values = values_from_metric_table(values)
    else:
        values = values_from_episodes(
            program, store.episodes(), month_range(program.first_period, period)
        )
    return build_agenda(
        program,
        provider_id,
        period,
        actions.read_actions(store) if items is None else items,
        actions.read_meetings(store) if meetings is None else meetings,
        values,
        voice.lessons_to_date(store, provider_id, actions.meeting_date_for(program, period)),
    )
