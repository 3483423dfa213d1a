"""Sections of a provider's monthly packet (``notebooks/02_dashboard.ipynb``): one call each.

Why here and not in the notebook: the notebook stays a thin, readable script (parameters, one
call per section, narrative), and every number, sentence and chart is built by tested code from
the engine's tables. Each section returns a :class:`Block` (self-contained HTML with inline SVG
charts), which the packet's HTML shows as is; nothing here displays, writes files or queries
episodes. Peers and suppressed cells go through ``privacy.for_audience`` once, in :func:`load`,
before any section sees a row.

Sections: :func:`header`, :func:`brief` (the meeting brief, :mod:`acm_helpers.packets.brief`),
:func:`agenda`, :func:`tiles`, :func:`what_changed`, :func:`trends`,
:func:`peers`, :func:`equity`, :func:`quality`, :func:`definitions`, :func:`footer`. The data
(:class:`Packet`, :func:`load`) and the XLSX appendix live in :mod:`acm_helpers.packets.packet`; the
equity and quality sections in :mod:`acm_helpers.packets.detail`.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd

from acm_helpers.core import stages, text
from acm_helpers.core.calendar import month_name, month_range, shift_period
from acm_helpers.meetings import tiles as tiles_mod
from acm_helpers.meetings.tiles import arrow_of, flags_of
from acm_helpers.packets.brief import brief  # noqa: F401 - the notebook's first section
from acm_helpers.packets.definition_notice import definition_notice
from acm_helpers.packets.detail import (  # noqa: F401 - sections the notebook calls through here
    completeness_frame,
    equity,
    equity_frame,
    equity_metric,
    quality,
    quality_problems,
    quality_sentences,
)
from acm_helpers.packets.packet import (
    ALL,
    TREND_MONTHS,
    Block,
    Packet,
    chart_html,
    esc,
    html_table,
)
from acm_helpers.views import charts, spc_icons


# -- sections ------------------------------------------------------------------------------------------
@stages.section("header")
def header(p: Packet) -> Block:
    """Title block: provider, month, audience, contract and this month's roadmap topic."""
    prov = p.program.provider(p.provider)
    who = (
        "For the provider: other providers are shown anonymously; small numbers are suppressed."
        if p.audience == "provider"
        else "Internal: providers are named."
    )
    topic = p.program.roadmap.get(p.period)
    topic_html = (
        f"<p><strong>Roadmap topic this month:</strong> {esc(topic.title)} — <em>{esc(topic.question)}</em></p>"
        if topic
        else ""
    )
    body = (
        f'<div class="acm-header"><h1>{esc(prov.name)}</h1>'
        f'<div class="meta"><span class="acm-badge {esc(p.audience)}">{esc(p.audience)}</span>'
        f"Monthly performance packet · {esc(month_name(p.period))} · {esc(p.program.name)} · "
        f"contract {esc(prov.contract_id)}</div><p>{esc(who)}</p>{topic_html}</div>"
    )
    return Block("header", body)


@stages.section("tiles")
def tiles(p: Packet) -> Block:
    """Headline tiles: value, trend arrow, target, peers, and each raised flag with its reason."""
    own = p.own()
    tile_records = {
        t.metric_id: t
        for t in tiles_mod.tiles_of(own, p.program, p.period, "month", p.key_metrics())
    }
    out, summary = [], []
    for mid in p.key_metrics():
        summary.append(
            f"{p.program.metric(mid).label} "
            + (text.cell(own.loc[mid]) if mid in own.index else "–")
        )
        if mid not in own.index:
            out.append(
                f'<div class="acm-tile"><span class="label">{esc(p.program.metric(mid).label)}</span>'
                '<span class="value">–</span><span class="sub">no value this month</span></div>'
            )
            continue
        t = tile_records[mid]  # value, arrow, target, peers, flags: acm_helpers.meetings.tiles
        label = esc(t.label)
        if t.suppressed:
            out.append(
                f'<div class="acm-tile"><span class="label">{label}</span>'
                f'<span class="value acm-suppressed">suppressed</span>'
                f'<span class="sub">{esc(t.suppression_reason)}</span></div>'
            )
            continue
        arrow, how, sub, flags, good = t.arrow, t.how, t.sub, list(t.chips), t.good
        flag_html = (
            ('<ul class="flags">' + "".join(f"<li>{esc(r)}</li>" for r in t.reasons) + "</ul>")
            if flags
            else ""
        )
        note = f'<span class="sub">{esc(t.note)}</span>' if t.note else ""
        chips = "".join(
            f'<span class="acm-badge{" good" if good else ""}">{esc(f)}</span>' for f in flags
        )
        state = (" improved" if good else " flagged") if flags else ""
        icons = spc_icons.icons(own.loc[mid])  # Making Data Count variation and assurance
        out.append(
            f'<div class="acm-tile{state}"><span class="label">{label}</span> '
            f'<span class="value">{esc(t.shown)}<span class="arrow {how}" title="vs previous month">{arrow}</span>{icons}</span> '
            f'<span class="sub">{esc(" · ".join(sub))}</span> <span class="sub">{esc(t.math)}</span> '
            f"{chips}{note}{flag_html}</div>"
        )
    body = (
        f"<h2>Headline metrics, {esc(month_name(p.period))}</h2>"
        f'<div class="acm-tiles">{"".join(out)}</div>'
    )
    return Block("tiles", body, f"{p.provider} {p.period}: " + "; ".join(summary))


def since_meeting(p: Packet) -> str:
    """The month the last meeting discussed (what the meeting compares with), or "" when there
    was no earlier meeting or it discussed last month."""
    from acm_helpers.meetings import actions

    meetings = p.meetings
    if meetings.empty:
        return ""
    last = actions.last_meeting_before(
        meetings, p.provider, actions.meeting_date_for(p.program, p.period)
    )
    if last is None or not last["period"] < shift_period(p.period, -1):
        return ""
    return str(last["period"])


def change_sentences(p: Packet, since: str = "") -> list[str]:
    """Plain sentences: how each key metric moved since last month (and, when the last meeting
    discussed an earlier month ``since``, since then too), and flags new this month."""
    prev_period = shift_period(p.period, -1)
    now, before = p.own(), p.own(prev_period)
    then = p.own(since) if since else before.iloc[0:0]
    out = []
    for mid in p.key_metrics():
        if mid not in now.index:
            continue
        row = now.loc[mid]
        name = row["label"]
        if row["suppressed"]:
            out.append(
                f"{name}: this month's value is suppressed ({row['suppression_reason']}), so it "
                "cannot be compared with last month."
            )
            continue
        if pd.isna(row["previous_value"]):
            out.append(
                f"{name} was {text.cell(row)} in {month_name(p.period)}; the month before has no "
                "comparable value (suppressed or not computed)."
            )
            continue
        prev = text.cell(row, "previous_value")
        arrow, how = arrow_of(row)
        meeting = _since_clause(row, then.loc[mid] if mid in then.index else None, since)
        if how == "same" or text.cell(row) == prev:
            out.append(
                f"{name} stayed at {text.cell(row)} (as in {month_name(prev_period)}){meeting}."
            )
            continue
        verb = "rose" if arrow == "▲" else "fell"
        sig = (
            "; the change is statistically significant"
            if row["flag_significant_change"]
            else "; the change is within normal month-to-month variation"
        )
        out.append(
            f"{name} {verb} from {prev} in {month_name(prev_period)} to {text.cell(row)} in "
            f"{month_name(p.period)} ({how}{sig}){meeting}."
        )
        if mid in before.index:
            new = [f for f in flags_of(row) if f not in flags_of(before.loc[mid])]
            if new:
                out.append(
                    f"New flag{'s' if len(new) > 1 else ''} for {name}: {', '.join(new).lower()}."
                )
    return out


def _since_clause(row: pd.Series, then: pd.Series | None, since: str) -> str:
    """ "; 42.3% in December 2025, the last meeting's month (better now)" ("" without one)."""
    if then is None or bool(then["suppressed"]) or text.is_missing(then["value"]):
        return ""
    shown = text.cell(then)
    lead = f"; {shown} in {month_name(since)}, the last meeting's month"
    if shown == text.cell(row):
        return lead + " (the same now)"
    up = row["value"] > then["value"]
    better = up == (row["direction"] == "up")
    return lead + f" ({'better' if better else 'worse'} now)"


@stages.section("what changed")
def what_changed(p: Packet) -> Block:
    """The packet's one "What changed" section: since last month and, when the last meeting
    discussed an earlier month, since then, in plain sentences."""
    since = since_meeting(p)
    sentences = change_sentences(p, since)
    items = (
        "".join(f"<li>{esc(s)}</li>" for s in sentences)
        or "<li>No comparable values this month.</li>"
    )
    head = "What changed since last month" + (" and since the last meeting" if since else "")
    return Block("what changed", f'<h2>{head}</h2><ul class="acm-changes">{items}</ul>')


@stages.section("sprints")
def sprints(p: Packet) -> Block:
    """This provider's performance-improvement sprints (``sprints:`` in the program file):
    the question, and the focus metric before and during the sprint with the engine's 95%
    intervals (:func:`acm_helpers.meetings.sprints.sprint_results`). Nothing when the provider
    is in no sprint. Only this provider's rows: a sprint's other providers are not shown."""
    from acm_helpers.meetings import sprints as sprints_mod
    from acm_helpers.views import triage_table

    if not any(p.provider in sp.providers for sp in p.program.sprints.values()):
        return Block("sprints", "")
    results = sprints_mod.sprint_results(p.program, p.store, p.period)
    own = results[results["provider_id"] == p.provider].reset_index(drop=True)
    body = triage_table.sprint_table(own, title="Performance-improvement sprint")
    return Block("sprints", body, "; ".join(own["sentence"]))


def trend_frame(p: Packet, metric_id: str) -> pd.DataFrame:
    """Own monthly history of one metric with the peers' quartiles (for :func:`charts.trend_chart`)."""
    v = p.values
    rows = v[v["is_self"] & (v["dimension"] == "") & (v["metric_id"] == metric_id)]
    months = pd.DataFrame(
        {
            "period": month_range(
                max(shift_period(p.period, -(TREND_MONTHS - 1)), p.program.first_period), p.period
            )
        }
    )
    cols = ["period", "value", "ci_low", "ci_high", "peer_q1", "peer_median", "peer_q3"]
    return months.merge(rows[cols], on="period", how="left")


def trend_events(p: Packet, metric_id: str) -> pd.DataFrame:
    """What the record says happened to one metric: the roadmap's practice-change months and
    this provider's action items on it (the month each was agreed and the month it fell due).

    Why in the packet: a line that moves after a pilot started or an action fell due is the
    meeting's question; the chart marks it (:func:`charts.annotate_trend`) so nobody has to
    remember the dates. Items agreed after this period are left out (not known yet).

    Returns:
        One row per mark: ``period`` (YYYY-MM), ``label`` (a few words), ``kind``
        (``change`` | ``agreed`` | ``due``).
    """
    from acm_helpers.metrics.flags import change_months

    rows = [
        {"period": m, "label": "Practice change", "kind": "change"}
        for m in change_months(p.program).get(metric_id, [])
        if m <= p.period
    ]
    items = p.actions
    mine = items[
        (items["provider_id"] == p.provider)
        & (items["metric_id"] == metric_id)
        & (items["meeting_date"].dt.strftime("%Y-%m") <= p.period)
    ]
    for item_id, agreed, due in zip(
        mine["item_id"], mine["meeting_date"], mine["due_date"], strict=True
    ):
        short = str(item_id).rsplit("-", 1)[-1]
        rows.append({"period": f"{agreed:%Y-%m}", "label": f"#{short} agreed", "kind": "agreed"})
        if pd.notna(due):
            rows.append({"period": f"{due:%Y-%m}", "label": f"#{short} due", "kind": "due"})
    return pd.DataFrame(rows, columns=["period", "label", "kind"])


def last_year_frame(p: Packet, metric_id: str) -> pd.DataFrame:
    """This month's value one year earlier (the engine's ``same_month_last_year``), for the
    trend chart's reference mark; empty when the engine has none (suppressed, too early)."""
    own = p.own()
    if metric_id not in own.index or "same_month_last_year" not in own.columns:
        return pd.DataFrame(columns=["period", "last_year"])
    value = own.loc[metric_id, "same_month_last_year"]
    if text.is_missing(value):
        return pd.DataFrame(columns=["period", "last_year"])
    return pd.DataFrame({"period": [p.period], "last_year": [float(value)]})


@stages.section("trends")
def trends(p: Packet) -> Block:
    """One trend chart per key metric: own history, the peers' middle half, the target, and
    what happened on the record (practice changes, action items, the same month last year)."""
    intro = (
        f"<h2>Trends over the last {TREND_MONTHS} months</h2>"
        "<p>The line is this provider's monthly value (shaded: its 95% interval); the grey band is "
        "the middle half of all providers that month (dotted: their median); the dashed red line is "
        "the target; the hollow diamond is the same month last year. Purple rules mark a practice "
        "change and the months an action item was agreed (#n agreed) and fell due (#n due). "
        "Missing points are suppressed months (fewer than "
        f"{p.program.suppression.threshold} cases).</p>"
    )
    shown = []
    for mid in p.key_metrics():
        m = p.program.metric(mid)
        chart = charts.trend_chart(
            trend_frame(p, mid),
            title=m.label,
            fmt=text.kind_of(m.format, m.kind),
            target=m.target,
            unit=text.axis_title(m),
        )
        chart = charts.annotate_trend(
            chart,
            events=trend_events(p, mid),
            last_year=last_year_frame(p, mid),
            fmt=text.kind_of(m.format, m.kind),
        )
        shown.append(chart_html(chart))
    return Block("trends", f'{intro}<div class="acm-charts">{"".join(shown)}</div>')


def peer_frame(p: Packet, metric_id: str) -> pd.DataFrame:
    """Every provider's value this month, labelled as the audience may see them."""
    v = p.values
    rows = v[
        (v["period"] == p.period)
        & (v["dimension"] == "")
        & (v["metric_id"] == metric_id)
        & (v["provider_id"] != ALL)
    ]
    return pd.DataFrame(
        {
            "provider": rows["provider_label"].astype(str),
            "value": rows["value"],
            "ci_low": rows["ci_low"],
            "ci_high": rows["ci_high"],
            "is_self": rows["is_self"],
        }
    )


@stages.section("peers")
def peers(p: Packet) -> Block:
    """Peer comparison per key metric (named internally, anonymized for a provider audience)."""
    anon = p.audience == "provider" and p.program.peers.display == "anonymized"
    intro = (
        "Other providers are shown as Peer A, Peer B … (the same letter every month)."
        if anon
        else "Providers are named."
    )
    frames = {mid: peer_frame(p, mid) for mid in p.key_metrics()}
    frames = {mid: f for mid, f in frames.items() if not f.empty}
    # the legend follows what the charts draw (bars, or a strip past charts.PEER_BARS)
    marks = (
        f"A tick per provider (darker where many sit close); {p.provider_name} in blue, "
        "with its 95% interval"
        if any(charts.peer_strip(len(f)) for f in frames.values())
        else "Bars: value; lines: 95% intervals"
    )
    parts = [
        f"<h2>Compared with peers, {esc(month_name(p.period))}</h2><p>{esc(intro)} "
        f"{esc(marks)}; dashed red: target.</p>"
    ]
    own = p.own()
    cells = []  # a chart and its rank line stay together (and print two to a row)
    for mid, frame in frames.items():
        m = p.program.metric(mid)
        cell = chart_html(
            charts.peer_chart(
                frame,
                title=m.label,
                fmt=text.kind_of(m.format, m.kind),
                target=m.target,
                unit=text.axis_title(m),
            )
        )
        if mid in own.index and pd.notna(own.loc[mid, "peer_rank"]):
            better = "higher" if m.direction == "up" else "lower"
            cell += (
                f"<p>Rank {int(own.loc[mid, 'peer_rank']):,} of {int(own.loc[mid, 'peer_n']):,} "
                f"({better} is better).</p>"
            )
        cells.append(f'<div class="acm-chart-cell">{cell}</div>')
    parts.append(f'<div class="acm-charts">{"".join(cells)}</div>')
    return Block("peers", "".join(parts))


@stages.section("definitions")
def definitions(p: Packet) -> Block:
    """What each metric means and how this month's number was computed."""
    own = p.own()
    rows = []
    for mid, m in p.program.metrics.items():
        math = own.loc[mid, "math"] if mid in own.index else "–"
        rows.append([esc(m.label), esc(m.definition), esc(str(math))])
    return Block(
        "definitions",
        "<h2>Definitions</h2>"
        + definition_notice(p)
        + html_table(rows, ["Metric", "Definition", "This month"]),
    )


@stages.section("footer")
def footer(p: Packet) -> Block:
    """Provenance: when, from which data version, under which privacy rules."""
    anon = p.audience == "provider" and p.program.peers.display == "anonymized"
    return Block(
        "footer",
        (
            f'<div class="acm-footer">Generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC from metric table version '
            f"{esc(p.version)}. Cells with fewer than {p.program.suppression.threshold} cases are suppressed, "
            f"with complementary suppression. {'Peers are anonymized. ' if anon else ''}"
            "Aggregates only; no client-level records. Numbers are in appendix.xlsx.</div>"
        ),
    )
