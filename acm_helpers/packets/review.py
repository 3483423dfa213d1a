"""The internal system review (meeting type ``template: internal_review``): every provider,
named, for one meeting period, a quarter by default.

Seattle reviews system-wide performance quarterly, inside the agency. This packet reads the
engine's rows at the meeting's grain (a quarter's values are the quarter's episodes, never an
average of months): every provider against every headline metric with the engine's rank, the
flags the engine raised for the period, the period's equity flags, and the action items open at
its end. The batch run adds the portfolio grid of the period's last month
(:mod:`acm_helpers.batch.portfolio`), which packets may not import.

Internal audience only: providers are named; it is never sent to a provider.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd

from acm_helpers.core import text
from acm_helpers.core.calendar import CADENCE_GRAIN, bounds_of
from acm_helpers.core.config import Program
from acm_helpers.core.errors import AcmError
from acm_helpers.core.schema import ALL
from acm_helpers.meetings import actions
from acm_helpers.meetings.tiles import FLAG_NAMES, good_news, key_metrics
from acm_helpers.metrics import privacy
from acm_helpers.packets import system
from acm_helpers.packets.packet import Block, esc, html_table
from acm_helpers.store.store import Store, open_store


@dataclass
class Review:
    """The internal review's rows: every provider's overall values of the period (named) and
    the period's equity flags (a quarter's; none for a shorter period)."""

    program: Program
    store: Store
    period: str
    grain: str
    start: date
    end: date
    values: pd.DataFrame
    equity: pd.DataFrame
    items: pd.DataFrame
    version: str

    def providers_rows(self) -> pd.DataFrame:
        """Every provider's overall row (no program-wide row)."""
        return self.values[self.values["provider_id"] != ALL]


def load_review(
    program_path: str | Path, data_dir: str | Path, period: str, cadence: str = "quarterly"
) -> Review:
    """Read the engine's rows of one meeting period, internal view (names kept).

    Raises:
        AcmError: the period is not of the cadence or outside the program, or the engine has
            no rows for it.
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
            "latest intake."
        )
    eq = (
        store.query(
            "SELECT * FROM equity WHERE grain = $grain AND period = $period "
            "AND provider_id <> '__all__' AND (flag_disparity OR flag_disproportionality)",
            {"grain": grain, "period": period},
        )
        if store.has_table("equity")
        else pd.DataFrame()
    )
    start, end = bounds_of(period)
    return Review(
        program,
        store,
        period,
        grain,
        start,
        end,
        privacy.for_audience(mv, program, "internal"),
        privacy.for_audience(eq, program, "internal") if not eq.empty else eq,
        actions.read_actions(store),
        str(mv["version"].iloc[0]),
    )


def header(r: Review) -> Block:
    """Title block."""
    n = len(r.program.providers)
    return Block(
        "header",
        f'<div class="acm-header"><h1>{esc(r.program.name)}: internal system review</h1>'
        f'<div class="meta"><span class="acm-badge internal">internal</span>'
        f"{esc(text.period(r.period))} · {n} providers · meeting "
        f"{actions.meeting_date_for(r.program, r.period):%d %b %Y}</div>"
        "<p>For agency staff only: every provider is named. Values are computed over the whole "
        "period's records (never averaged from months). Do not send this review to a provider.</p>"
        "</div>",
    )


def standing(r: Review) -> Block:
    """Every provider against every headline metric: value, rank and target status."""
    rows_ = r.providers_rows().set_index(["provider_id", "metric_id"])
    mids = key_metrics(r.program)
    body_rows = []
    for p in r.program.providers:
        row = [esc(p.name)]
        for mid in mids:
            if (p.id, mid) not in rows_.index:
                row.append(text.MISSING)
                continue
            v = rows_.loc[(p.id, mid)]
            shown = esc(text.cell(v))
            ranked = r.program.metric(mid).kind != "count"  # a volume, not a standing
            if (
                ranked
                and not v["suppressed"]
                and pd.notna(v["peer_rank"])
                and pd.notna(v["peer_n"])
            ):
                shown += (
                    f'<br><span class="sub">rank {int(v["peer_rank"])} of {int(v["peer_n"])}</span>'
                )
            if bool(v["flag_below_target"]):
                shown = f'<span class="acm-flag">{shown}</span>'
            row.append(shown)
        body_rows.append(row)
    total = r.values[r.values["provider_id"] == ALL].set_index("metric_id")
    body_rows.append(
        ["<strong>All providers</strong>"]
        + [esc(text.cell(total.loc[m])) if m in total.index else text.MISSING for m in mids]
    )
    head = ["Provider", *(r.program.metric(m).label for m in mids)]
    return Block(
        "standing",
        f"<h2>Every provider, {esc(text.period(r.period))}</h2>"
        "<p>Value for the period, and rank among providers with a value (1 = best by the "
        "metric's direction; counts are volumes and are not ranked); orange: below target.</p>"
        + html_table(
            body_rows,
            head,
            num=set(range(1, len(head))),
            caption=f"Headline metrics, {text.period(r.period)}",
        ),
    )


def flags(r: Review) -> Block:
    """The flags the engine raised for the period: concerns first, then improvements."""
    v = r.providers_rows()
    raised = v[v[list(FLAG_NAMES)].fillna(False).astype(bool).any(axis=1)]
    body = f"<h2>Flags to discuss, {esc(text.period(r.period))}</h2>"
    if raised.empty:
        return Block("flags", body + "<p>No flags this period.</p>")
    good = pd.Series([good_news(x) for x in raised.to_dict("records")], index=raised.index)
    head = ["Provider", "Metric", "Value", "Flags", "Why"]

    def rows(frame: pd.DataFrame) -> list[list[str]]:
        out = []
        for x in frame.sort_values(["provider_label", "metric_id"]).itertuples(index=False):
            names = ", ".join(n for c, n in FLAG_NAMES.items() if bool(getattr(x, c)))
            out.append(
                [
                    esc(x.provider_label),
                    esc(x.label),
                    esc(text.value(x.value, text.kind_of(x.format, x.kind), x.unit)),
                    esc(names),
                    esc(x.flag_reasons),
                ]
            )
        return out

    concerns, improved = raised[~good.astype(bool)], raised[good.astype(bool)]
    if not concerns.empty:
        body += "<h3>Concerns</h3>" + html_table(rows(concerns), head, num={2})
    if not improved.empty:
        body += "<h3>Improvements</h3>" + html_table(rows(improved), head, num={2})
    return Block("flags", body, f"{len(concerns)} concern(s), {len(improved)} improvement(s)")


def equity(r: Review) -> Block:
    """The period's disparity and disproportionality flags (quarters; the system packet's table)."""
    if r.grain != "quarter":
        return Block(
            "equity",
            f"<h2>Equity flags, {esc(text.period(r.period))}</h2><p>Equity breakdowns are "
            "judged per quarter (cells of a shorter period are too small); see the quarterly "
            "review.</p>",
        )
    packet = system.SystemPacket(
        r.program, r.store, r.period, r.values, r.equity, pd.DataFrame(), r.period, r.version
    )
    return system.equity(packet)


def follow_up(r: Review) -> Block:
    """Action items across providers: open at the period's end (overdue first), closed in it."""
    open_ = actions.open_items(r.items, date.fromordinal(r.end.toordinal() + 1))
    closed = actions.closed_between(r.items, date.fromordinal(r.start.toordinal() - 1), r.end)
    names = {p.id: p.name for p in r.program.providers}
    body = f"<h2>Action items, {esc(text.period(r.period))}</h2>"
    rows = [
        [
            esc(names.get(x.provider_id, x.provider_id)),
            esc(x.text),
            esc(f"{x.due_date:%d %b %Y}"),
            '<span class="acm-flag">overdue</span>' if x.overdue else "open",
        ]
        for x in open_.itertuples(index=False)
    ]
    rows += [
        [
            esc(names.get(x.provider_id, x.provider_id)),
            esc(x.text),
            esc(f"{x.due_date:%d %b %Y}"),
            esc(f"closed {x.closed_date:%d %b %Y}"),
        ]
        for x in closed.itertuples(index=False)
    ]
    if not rows:
        return Block("follow_up", body + "<p>No action items open or closed in the period.</p>")
    return Block(
        "follow_up",
        body + html_table(rows, ["Provider", "Item", "Due", "Status"]),
        f"{len(open_)} open, {len(closed)} closed",
    )


def footer(r: Review) -> Block:
    """Provenance line."""
    return Block(
        "footer",
        f'<div class="acm-footer">Internal. Generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC '
        f"from metric table version {esc(r.version)}. Cells with fewer than "
        f"{r.program.suppression.threshold} cases are suppressed.</div>",
    )


def blocks(r: Review, portfolio: Block | None = None) -> list[Block]:
    """The review's sections in order; ``portfolio``: the batch run's grid, after the header."""
    extra = [portfolio] if portfolio is not None else []
    return [header(r), *extra, standing(r), flags(r), equity(r), follow_up(r), footer(r)]
