"""The provider check-in for a weekly, biweekly or quarterly meeting type (``template: checkin``
at a cadence other than monthly; the monthly check-in is the dashboard notebook's packet).

Why a page of its own: New York monitors its re-entry project every two weeks; between monthly
packets the check-in needs the headline numbers of the fortnight, where they stand against the
previous periods and the peers, and the action items to follow up, not the month's deep
sections. Every value is the engine's, at the meeting's grain, in the provider's view (peers
anonymized as ``peers.display`` says, small counts masked, suppressed cells nulled).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd

from acm_helpers.core import text
from acm_helpers.core.calendar import CADENCE_GRAIN, bounds_of, day_range, previous_label
from acm_helpers.core.config import Program
from acm_helpers.core.errors import AcmError
from acm_helpers.meetings import actions
from acm_helpers.meetings import tiles as tiles_mod
from acm_helpers.metrics import privacy
from acm_helpers.packets.packet import Block, esc, html_table
from acm_helpers.store.store import Store, open_store

TREND_PERIODS = 8  # the periods of the trend table, this one included


@dataclass
class CheckIn:
    """One provider's rows for a check-in period and the periods before it (provider view)."""

    program: Program
    store: Store
    provider: str
    period: str
    grain: str
    periods: list[str]
    values: pd.DataFrame
    items: pd.DataFrame
    version: str

    def own(self, period: str | None = None) -> pd.DataFrame:
        """This provider's overall rows of a period, indexed by metric."""
        v = self.values
        sel = v[v["is_self"] & (v["period"] == (period or self.period))]
        return sel.set_index("metric_id")


def load_checkin(
    program_path: str | Path,
    data_dir: str | Path,
    provider: str,
    period: str,
    cadence: str,
) -> CheckIn:
    """Read the engine's rows of ``period`` and the :data:`TREND_PERIODS` - 1 before it.

    Raises:
        AcmError: unknown provider, a period not of the cadence, or no rows for it.
    """
    program, store = open_store(program_path, data_dir or None)
    program.provider(provider)
    program.check_meeting_period(period, cadence)
    grain = CADENCE_GRAIN[cadence]
    periods = [period]
    while len(periods) < TREND_PERIODS:
        periods.insert(0, previous_label(periods[0], grain))
    if not store.has_table("metric_values"):
        raise AcmError(f"{store}: no metric_values table. Run `acm metrics` or `acm demo` first.")
    mv = store.query(
        "SELECT * FROM metric_values WHERE grain = $grain AND dimension = '' "
        "AND list_contains($periods, period)",
        {"grain": grain, "periods": periods},
    )
    if mv[mv["period"] == period].empty:
        raise AcmError(
            f"No {grain} metric values for {period} in {store}. Run `acm metrics` after the "
            "latest intake (the meeting type must be in the program file first)."
        )
    return CheckIn(
        program,
        store,
        provider,
        period,
        grain,
        [p for p in periods if p in set(mv["period"])],
        privacy.for_audience(mv, program, "provider", provider),
        actions.read_actions(store),
        str(mv["version"].iloc[0]),
    )


def header(c: CheckIn, title: str) -> Block:
    """Title block."""
    name = c.program.provider(c.provider).name
    day = actions.meeting_date_for(c.program, c.period)
    return Block(
        "header",
        f'<div class="acm-header"><h1>{esc(name)}: {esc(title.lower())}</h1>'
        f'<div class="meta">{esc(c.program.name)} · {esc(text.period(c.period))} · '
        f"meeting {day:%d %b %Y}</div></div>",
    )


def headline(c: CheckIn) -> Block:
    """The key metrics' tiles of the period (value, arrow, target, peers, flags)."""
    own = c.own()
    mids = tiles_mod.key_metrics(c.program)
    out = []
    for t in tiles_mod.tiles_of(own, c.program, c.period, c.grain, mids):
        flags = "".join(f"<li>{esc(r)}</li>" for r in t.reasons)
        out.append(
            f'<div class="acm-tile{(" improved" if t.good else " flagged") if t.flagged else ""}">'
            f'<span class="label">{esc(t.label)}</span>'
            f'<span class="value{" acm-suppressed" if t.suppressed else ""}">{esc(t.shown)}'
            f'<span class="arrow {t.how}">{t.arrow}</span></span>'
            f'<span class="sub">{esc(" · ".join(t.sub))}</span>'
            f'<span class="sub">{esc(t.math or t.suppression_reason)}</span>'
            + (f'<ul class="flags">{flags}</ul>' if flags else "")
            + "</div>"
        )
    return Block(
        "headline",
        f"<h2>Headline metrics, {esc(text.period(c.period))}</h2>"
        f'<p class="sub">Arrows compare with the previous {esc(_unit(c.grain))}.</p>'
        f'<div class="acm-tiles">{"".join(out)}</div>',
    )


def _unit(grain: str) -> str:
    return {"week": "week", "biweek": "two weeks", "quarter": "quarter"}.get(grain, "period")


def trend(c: CheckIn) -> Block:
    """The key metrics over the last periods, as a table (oldest first)."""
    mids = tiles_mod.key_metrics(c.program)
    rows = []
    for p in c.periods:
        own = c.own(p)
        if c.grain in ("week", "biweek"):  # its dates first: "29 Jun–12 Jul 2026"
            shown = f'{esc(day_range(p))}<br><span class="sub">{esc(p)}</span>'
        else:
            shown = esc(text.period(p))
        rows.append(
            [shown] + [esc(text.cell(own.loc[m])) if m in own.index else text.MISSING for m in mids]
        )
    head = ["Period", *(c.program.metric(m).label for m in mids)]
    return Block(
        "trend",
        f"<h2>The last {len(c.periods)} periods</h2>"
        + html_table(
            rows, head, num=set(range(1, len(head))), caption="Headline metrics by period"
        ),
    )


def follow_up(c: CheckIn) -> Block:
    """Action items open on the meeting day (overdue first), and those closed since the
    period began."""
    day = actions.meeting_date_for(c.program, c.period)
    start = bounds_of(c.period)[0]
    items = actions.open_items(c.items, day, c.provider)
    done = actions.closed_between(c.items, date.fromordinal(start.toordinal() - 1), day, c.provider)
    body = f"<h2>Action items to follow up at the meeting of {day:%d %b %Y}</h2>"
    if not done.empty:
        body += (
            "<p>Closed since the period began: "
            + "; ".join(
                esc(f"{x.text} (closed {x.closed_date:%d %b %Y})") for x in done.itertuples()
            )
            + ".</p>"
        )
    if items.empty:
        return Block("follow_up", body + "<p>No open action items.</p>")
    rows = [
        [
            esc(x.text),
            esc(f"{x.due_date:%d %b %Y}"),
            '<span class="acm-flag">overdue</span>' if x.overdue else "open",
        ]
        for x in items.itertuples(index=False)
    ]
    return Block("follow_up", body + html_table(rows, ["Item", "Due", "Status"]))


def footer(c: CheckIn) -> Block:
    """Provenance line."""
    return Block(
        "footer",
        f'<div class="acm-footer">Generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC from metric '
        f"table version {esc(c.version)}. Cells with fewer than "
        f"{c.program.suppression.threshold} cases are suppressed; other providers are "
        f"{'named' if c.program.peers.display == 'named' else 'anonymized'}.</div>",
    )


def blocks(c: CheckIn, title: str = "Provider check-in") -> list[Block]:
    """The check-in's sections in order."""
    return [header(c, title), headline(c), trend(c), follow_up(c), footer(c)]
