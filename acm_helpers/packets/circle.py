"""The learning-circle packet: every provider together, relative performance as a learning
opportunity (the executive meeting type, ``template: learning_circle``).

Seattle's quarterly executive meetings convene the providers: where each stands, and what the
best performers did. So this packet shows, for one meeting period (a quarter by default):

- each provider's standing on every headline metric, ranked as the engine ranks
  (``metric_values.peer_rank``: among providers with an unsuppressed value, best first by the
  metric's direction, ties sharing the better rank), never re-ranked here;
- for each metric, what its best performers (rank 1) did: their action items linked to that
  metric and closed in the twelve months to the period's end, and their lessons learned (the
  lessons log, :func:`acm_helpers.meetings.voice.read_lessons`);
- providers named, or anonymized as "Provider A", "Provider B" ... in a hashed order (never
  program order or rank, so a letter says nothing about who or how well), as ``peers.display``
  says. Each provider is told its own letter outside the packet.

Audience: providers together, so the packet is privacy-audited like a provider packet (no
client ids, no suppressed cell, no provider name or id when anonymized); small cells are
suppressed by the engine as everywhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd

from acm_helpers.core import text
from acm_helpers.core.calendar import CADENCE_GRAIN, bounds_of
from acm_helpers.core.config import Program
from acm_helpers.core.errors import AcmError
from acm_helpers.core.schema import ALL
from acm_helpers.meetings import actions, voice
from acm_helpers.meetings.tiles import key_metrics
from acm_helpers.metrics import privacy
from acm_helpers.packets.packet import Block, esc, html_table
from acm_helpers.store.store import Store, open_store

LOOKBACK_DAYS = 365  # what the best performers did: items closed in the year to the period's end


@dataclass
class Circle:
    """The rows a learning-circle packet shows, already in its audience's view.

    Attributes:
        values: overall ``metric_values`` rows of the period, every provider and "all
            providers", suppressed cells nulled, small counts masked (provider audience).
        labels: provider id -> how the packet names it (a name, or "Provider A" ...).
        items: the action items table; lessons: the lessons table (empty when none is kept).
    """

    program: Program
    store: Store
    period: str
    grain: str
    start: date
    end: date
    values: pd.DataFrame
    labels: dict[str, str]
    items: pd.DataFrame
    lessons: pd.DataFrame
    version: str

    @property
    def named(self) -> bool:
        """Peers are named (``peers.display: named``)."""
        return self.program.peers.display == "named"

    def metrics(self) -> list[str]:
        """Headline metrics that measure performance, in program order: counts (clients
        served) are volumes, bigger is not better practice, so they are not ranked here."""
        return [m for m in key_metrics(self.program) if self.program.metric(m).kind != "count"]


def circle_labels(program: Program) -> dict[str, str]:
    """How the learning circle names each provider: its name when ``peers.display`` is named,
    else "Provider A", "Provider B" ... in the hashed order the packets' peer labels use
    (``privacy.peer_labels`` with the circle as viewer): stable from quarter to quarter, and
    neither program order nor rank, so a letter says nothing about who or how well."""
    if program.peers.display == "named":
        return {p.id: p.name for p in program.providers}
    hashed = privacy.peer_labels(program, "learning-circle")
    return {
        p.id: hashed[p.id].replace("Peer ", "Provider ")
        for p in sorted(program.providers, key=lambda p: hashed[p.id])
    }


def load_circle(
    program_path: str | Path, data_dir: str | Path, period: str, cadence: str = "quarterly"
) -> Circle:
    """Read the engine's rows of one meeting period for every provider.

    Raises:
        AcmError: the period is not of the cadence or outside the program, or the engine has
            no rows for it (run ``acm metrics`` after the latest intake).
    """
    program, store = open_store(program_path, data_dir or None)
    program.check_meeting_period(period, cadence)
    grain = CADENCE_GRAIN[cadence]
    if not store.has_table("metric_values"):
        raise AcmError(f"{store}: no metric_values table. Run `acm metrics` or `acm demo` first.")
    mv = store.query(
        "SELECT * FROM metric_values WHERE grain = $grain AND period = $period AND dimension = ''",
        {"grain": grain, "period": period},
    )
    if mv.empty:
        raise AcmError(
            f"No {grain} metric values for {period} in {store}. Run `acm metrics` after the "
            "latest intake (weekly and biweekly values need the meeting type in the program file)."
        )
    values = privacy.mask_small_counts(privacy.null_suppressed(mv), program)
    start, end = bounds_of(period)
    lessons = voice.read_lessons(store)
    return Circle(
        program,
        store,
        period,
        grain,
        start,
        end,
        values,
        circle_labels(program),
        actions.read_actions(store),
        lessons,
        str(mv["version"].iloc[0]),
    )


def standing_frame(c: Circle) -> pd.DataFrame:
    """One row per headline metric and provider: value as shown, the engine's rank, the peer
    median; best first within each metric (providers without a rank last, in program order)."""
    rows = []
    order = {pid: i for i, pid in enumerate(c.program.provider_ids)}
    for mid in c.metrics():
        m = c.values[c.values["metric_id"] == mid]
        for pid in c.program.provider_ids:
            r = m[m["provider_id"] == pid]
            if r.empty:
                continue
            r = r.iloc[0]
            ranked = not r["suppressed"] and pd.notna(r["peer_rank"]) and pd.notna(r["peer_n"])
            rows.append(
                {
                    "metric_id": mid,
                    "metric": c.program.metric(mid).label,
                    "provider_id": pid,
                    "provider": c.labels[pid],
                    "shown": text.cell(r),
                    "rank": int(r["peer_rank"]) if ranked else None,
                    "of": int(r["peer_n"]) if ranked else None,
                    "peer_median": None if r["suppressed"] else r["peer_median"],
                    "order": order[pid],
                }
            )
    cols = ["metric_id", "metric", "provider_id", "provider", "shown", "rank", "of", "order"]
    frame = pd.DataFrame(rows, columns=[*cols, "peer_median"])
    frame["_r"] = frame["rank"].fillna(10**6)
    return (
        frame.sort_values(["order"])
        .sort_values(["_r"], kind="stable")
        .assign(_m=lambda f: f["metric_id"].map({m: i for i, m in enumerate(c.metrics())}))
        .sort_values(["_m"], kind="stable")
        .drop(columns=["_r", "_m", "order"])
        .reset_index(drop=True)
    )


def best_performers(c: Circle) -> dict[str, list[str]]:
    """Per headline metric, the providers the engine ranks first (ties share rank 1)."""
    f = standing_frame(c)
    return {
        mid: f.loc[(f["metric_id"] == mid) & (f["rank"] == 1), "provider_id"].tolist()
        for mid in c.metrics()
    }


def _period_text(c: Circle) -> str:
    return text.period(c.period)


def header(c: Circle) -> Block:
    """Title, the period and how providers are named."""
    naming = (
        "Providers are named, as the program file says (peers.display: named)."
        if c.named
        else "Providers are shown as letters (in no order of name or rank); each provider is "
        "told its own letter before the meeting."
    )
    n = len(c.program.providers)
    return Block(
        "header",
        f'<div class="acm-header"><h1>{esc(c.program.name)}: learning circle</h1>'
        f'<div class="meta"><span class="acm-badge">all providers</span>'
        f"{esc(_period_text(c))} · {n} providers · meeting "
        f"{actions.meeting_date_for(c.program, c.period):%d %b %Y}</div>"
        "<p>Where each provider stands this period, and what the strongest performers did. "
        "A rank is a starting point for a conversation about practice, not a verdict: "
        "intervals overlap and small differences are chance.</p>"
        f"<p>{esc(naming)}</p></div>",
    )


def glance(c: Circle) -> Block:
    """One grid: every provider's rank on every headline metric (the engine's ranks)."""
    f = standing_frame(c)
    mids = [m for m in c.metrics() if (f["metric_id"] == m).any()]
    rows = []
    for pid in sorted(c.program.provider_ids, key=lambda p: c.labels[p] if not c.named else ""):
        row = [esc(c.labels[pid])]
        for mid in mids:
            r = f[(f["metric_id"] == mid) & (f["provider_id"] == pid)]
            if r.empty or pd.isna(r["rank"].iloc[0]):
                why = (
                    "suppressed"
                    if not r.empty and r["shown"].iloc[0] == text.SUPPRESSED
                    else "no value"
                )
                row.append(f'<span class="acm-suppressed">{why}, not ranked</span>')
            else:
                rank, of = int(r["rank"].iloc[0]), int(r["of"].iloc[0])
                cell = f"{rank} of {of}"
                row.append(f"<strong>{cell}</strong>" if rank == 1 else esc(cell))
        rows.append(row)
    head = ["Provider", *(c.program.metric(m).label for m in mids)]
    body = (
        f"<h2>Standing at a glance, {esc(_period_text(c))}</h2>"
        "<p>Each provider's rank on each headline metric (1 = best); the sections below give "
        "the values. Rank: among providers whose value is shown (a suppressed cell is not "
        "ranked), best first by the metric's direction; equal values share the better rank. "
        "Counts (such as clients served) measure volume, not practice, and are not ranked.</p>"
        + html_table(rows, head, num=set(range(1, len(head))), caption=f"Ranks, {_period_text(c)}")
    )
    return Block("glance", body)


def standing(c: Circle) -> Block:
    """Every headline metric: providers best first, as the engine ranks them."""
    f = standing_frame(c)
    total = c.values[c.values["provider_id"] == ALL].set_index("metric_id")
    parts = [f"<h2>Where each provider stands, {esc(_period_text(c))}</h2>"]
    summary = []
    for mid in c.metrics():
        m = c.program.metric(mid)
        rows = f[f["metric_id"] == mid]
        if rows.empty:
            continue
        better = "higher is better" if m.direction == "up" else "lower is better"
        all_text = text.cell(total.loc[mid]) if mid in total.index else text.MISSING
        median = rows["peer_median"].dropna()
        med = text.metric_value(median.iloc[0], m) if len(median) else text.MISSING
        caption = f"{m.label}, {_period_text(c)}"
        table = html_table(
            [
                [
                    esc(r.provider),
                    esc(r.shown),
                    esc(f"{int(r.rank)} of {int(r.of)}") if pd.notna(r.rank) else "not ranked",
                ]
                for r in rows.itertuples()
            ],
            ["Provider", m.label, "Rank"],
            num={1, 2},
            caption=caption,
        )
        parts.append(
            f'<h3>{esc(m.label)}</h3><p class="sub">{esc(better)}; all providers together '
            f"{esc(all_text)}; peer median {esc(med)}.</p>{table}"
        )
        first = rows[rows["rank"] == 1]["provider"].tolist()
        summary.append(f"{m.label}: {', '.join(first) or 'none ranked'}")
    return Block("standing", "".join(parts), "; ".join(summary))


def _scrub(c: Circle, words: str) -> str:
    """Free text about a provider with provider names and ids replaced by the packet's labels
    (anonymized circles only), so an item that names its provider does not unmask it."""
    if c.named:
        return words
    out = str(words)
    for p in c.program.providers:
        for name in sorted({p.name, p.id, p.name.split()[0]}, key=len, reverse=True):
            out = re.sub(rf"(?i)\b{re.escape(name)}\b", c.labels[p.id], out)
    return out


def _lessons_of(c: Circle, provider_id: str) -> list[str]:
    lessons = c.lessons
    if lessons.empty or "provider_id" not in lessons:
        return []
    own = lessons[lessons["provider_id"] == provider_id]
    own = own[pd.to_datetime(own["date"]) <= pd.Timestamp(c.end)]
    return [str(t) for t in own["text"] if str(t).strip()]


def practices(c: Circle) -> Block:
    """What the best performers did: their closed action items on the metric, and lessons."""
    best = best_performers(c)
    since = date.fromordinal(c.end.toordinal() - LOOKBACK_DAYS)
    closed = actions.closed_between(c.items, since, c.end)
    parts = [f"<h2>What the strongest performers did, {esc(_period_text(c))}</h2>"]
    parts.append(
        '<p class="sub">For each headline metric, the providers ranked first, their action '
        "items on that metric closed in the 12 months to the end of the period, and the lessons "
        "they recorded.</p>"
    )
    said = 0
    for mid, pids in best.items():
        m = c.program.metric(mid)
        if not pids:
            continue
        items_html = []
        for pid in pids:
            done = closed[(closed["provider_id"] == pid) & (closed["metric_id"] == mid)]
            li = [
                f"<li>{esc(_scrub(c, r.text))}"
                + (f" — <em>{esc(_scrub(c, r.resolution))}</em>" if str(r.resolution or "") else "")
                + f" (closed {r.closed_date:%d %b %Y})</li>"
                for r in done.itertuples()
            ]
            li += [f"<li>Lesson: {esc(_scrub(c, t))}</li>" for t in _lessons_of(c, pid)]
            said += len(li)
            body = (
                f"<ul>{''.join(li)}</ul>"
                if li
                else '<p class="sub">No action item on this metric closed in the year and no '
                "lesson recorded: ask them at the meeting what changed.</p>"
            )
            items_html.append(f"<p><strong>{esc(c.labels[pid])}</strong></p>{body}")
        parts.append(f"<h3>{esc(m.label)}</h3>{''.join(items_html)}")
    return Block("practices", "".join(parts), f"{said} practice(s) listed")


def footer(c: Circle) -> Block:
    """Provenance line."""
    return Block(
        "footer",
        f'<div class="acm-footer">Learning circle, {esc(c.period)}. Generated '
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC from metric table version {esc(c.version)}. "
        f"Cells with fewer than {c.program.suppression.threshold} cases are suppressed.</div>",
    )


def blocks(c: Circle) -> list[Block]:
    """The packet's sections in order."""
    return [header(c), glance(c), standing(c), practices(c), footer(c)]
