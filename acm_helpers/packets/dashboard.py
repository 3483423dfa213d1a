"""Sections of a provider's monthly packet (``notebooks/02_dashboard.ipynb``): one call each.

Why here and not in the notebook: the notebook stays a thin, readable script (parameters, one
call per section, narrative), and every number, sentence and chart is built by tested code from
the engine's tables. Each section returns a :class:`Block` (self-contained HTML with inline SVG
charts), which the packet's HTML shows as is; nothing here displays, writes files or queries
episodes. Peers and suppressed cells go through ``privacy.for_audience`` once, in :func:`load`,
before any section sees a row.

Sections: :func:`header`, :func:`agenda`, :func:`tiles`, :func:`what_changed`, :func:`trends`,
:func:`peers`, :func:`equity`, :func:`quality`, :func:`definitions`, :func:`footer`. The data
(:class:`Packet`, :func:`load`) and the XLSX appendix live in :mod:`acm_helpers.packets.packet`; the
equity and quality sections in :mod:`acm_helpers.packets.detail`.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd

from acm_helpers.core import text
from acm_helpers.core.calendar import month_name, month_range, shift_period
from acm_helpers.packets.definition_notice import definition_notice
from acm_helpers.packets.detail import (  # noqa: F401 - sections the notebook calls through here
    QUALITY_FIELDS,
    completeness_frame,
    equity,
    equity_frame,
    equity_metric,
    quality,
    quality_sentences,
)
from acm_helpers.packets.packet import (
    ALL,
    FLAG_NAMES,
    TREND_MONTHS,
    Block,
    Packet,
    arrow_of,
    chart_html,
    esc,
    flags_of,
    html_table,
)
from acm_helpers.views import charts, spc_icons


# -- sections ------------------------------------------------------------------------------------------
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


def agenda(p: Packet) -> Block:
    """The agenda page (follow-up items, changes, flags, topic) from :mod:`acm_helpers.meetings.agenda`."""
    from acm_helpers.meetings import agenda as agenda_mod

    page = agenda_mod.agenda_for(p.program, p.store, p.provider, p.period)
    return Block("agenda", page.to_html())


SIGNAL_CHIPS = {"improvement": "Improvement", "concern": "Concern"}


def good_news(row: pd.Series) -> bool:
    """Every flag the row raises is good news: a special cause that is an improvement, and a
    significant change in the better direction. Why: a tile styled as a problem for an
    improvement tells the meeting the opposite of the numbers."""
    flags = {c for c in FLAG_NAMES if bool(row.get(c, False))}
    if not flags or flags & {"flag_below_target", "flag_worse_than_peers"}:
        return False
    if "flag_special_cause" in flags and row.get("spc_signal") != "improvement":
        return False
    if "flag_significant_change" in flags:
        v, prev = row.get("value"), row.get("previous_value")
        if text.is_missing(v) or text.is_missing(prev):
            return False
        return (v > prev) == (row.get("direction") == "up")
    return True


def tiles(p: Packet) -> Block:
    """Headline tiles: value, trend arrow, target, peers, and each raised flag with its reason."""
    own = p.own()
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
        row = own.loc[mid]
        label = esc(row["label"])
        if row["suppressed"]:
            out.append(
                f'<div class="acm-tile"><span class="label">{label}</span>'
                f'<span class="value acm-suppressed">suppressed</span>'
                f'<span class="sub">{esc(row["suppression_reason"])}</span></div>'
            )
            continue
        arrow, how = arrow_of(row)
        sub = []
        if pd.notna(row["target"]):
            sub.append(f"target {text.cell(row, 'target')}")
        if pd.notna(row["peer_median"]):
            sub.append(f"peer median {text.cell(row, 'peer_median')}")
        if pd.notna(row["peer_rank"]):
            sub.append(f"rank {int(row['peer_rank'])} of {int(row['peer_n'])}")
        flags = flags_of(row)
        good = good_news(row)
        if row.get("spc_signal") in ("improvement", "concern"):  # say which, not just the rule
            flags = [
                SIGNAL_CHIPS[row["spc_signal"]] if f == FLAG_NAMES["flag_special_cause"] else f
                for f in flags
            ]
        reasons = [
            s.strip() + ("" if s.strip().endswith(".") else ".")
            for s in str(row["flag_reasons"] or "").split(". ")
            if s.strip()
        ]
        flag_html = (
            ('<ul class="flags">' + "".join(f"<li>{esc(r)}</li>" for r in reasons) + "</ul>")
            if flags
            else ""
        )
        note = f'<span class="sub">{esc(row["note"])}</span>' if row.get("note") else ""
        chips = "".join(
            f'<span class="acm-badge{" good" if good else ""}">{esc(f)}</span>' for f in flags
        )
        state = (" improved" if good else " flagged") if flags else ""
        icons = spc_icons.icons(row)  # Making Data Count variation and assurance
        out.append(
            f'<div class="acm-tile{state}"><span class="label">{label}</span> '
            f'<span class="value">{esc(text.cell(row))}<span class="arrow {how}" title="vs previous month">{arrow}</span>{icons}</span> '
            f'<span class="sub">{esc(" · ".join(sub))}</span> <span class="sub">{esc(row["math"])}</span> '
            f"{chips}{note}{flag_html}</div>"
        )
    body = (
        f"<h2>Headline metrics, {esc(month_name(p.period))}</h2>"
        f'<div class="acm-tiles">{"".join(out)}</div>'
    )
    return Block("tiles", body, f"{p.provider} {p.period}: " + "; ".join(summary))


def change_sentences(p: Packet) -> list[str]:
    """Plain sentences: how each key metric moved since last month, and flags new this month."""
    prev_period = shift_period(p.period, -1)
    now, before = p.own(), p.own(prev_period)
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
        if how == "same" or text.cell(row) == prev:
            out.append(f"{name} stayed at {text.cell(row)} (as in {month_name(prev_period)}).")
            continue
        verb = "rose" if arrow == "▲" else "fell"
        sig = (
            "; the change is statistically significant"
            if row["flag_significant_change"]
            else "; the change is within normal month-to-month variation"
        )
        out.append(
            f"{name} {verb} from {prev} in {month_name(prev_period)} to {text.cell(row)} in "
            f"{month_name(p.period)} ({how}{sig})."
        )
        if mid in before.index:
            new = [f for f in flags_of(row) if f not in flags_of(before.loc[mid])]
            if new:
                out.append(
                    f"New flag{'s' if len(new) > 1 else ''} for {name}: {', '.join(new).lower()}."
                )
    return out


def what_changed(p: Packet) -> Block:
    """ "What changed since last month", in plain sentences."""
    sentences = change_sentences(p)
    items = (
        "".join(f"<li>{esc(s)}</li>" for s in sentences)
        or "<li>No comparable values this month.</li>"
    )
    return Block(
        "what changed",
        f"<h2>What changed since {esc(month_name(shift_period(p.period, -1)))}</h2>"
        f'<ul class="acm-changes">{items}</ul>',
    )


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


def trends(p: Packet) -> Block:
    """One trend chart per key metric: own history, the peers' middle half and the target."""
    parts = [
        f"<h2>Trends over the last {TREND_MONTHS} months</h2>",
        "<p>The line is this provider's monthly value (shaded: its 95% interval); the grey band is "
        "the middle half of all providers that month (dotted: their median); the dashed red line is "
        "the target. Missing points are suppressed months (fewer than "
        f"{p.program.suppression.threshold} cases).</p>",
    ]
    for mid in p.key_metrics():
        m = p.program.metric(mid)
        parts.append(
            chart_html(
                charts.trend_chart(
                    trend_frame(p, mid), title=m.label, fmt=m.format, target=m.target
                )
            )
        )
    return Block("trends", "".join(parts))


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


def peers(p: Packet) -> Block:
    """Peer comparison per key metric (named internally, anonymized for a provider audience)."""
    anon = p.audience == "provider" and p.program.peers.display == "anonymized"
    intro = (
        "Other providers are shown as Peer A, Peer B … (the same letter every month)."
        if anon
        else "Providers are named."
    )
    parts = [
        f"<h2>Compared with peers, {esc(month_name(p.period))}</h2><p>{esc(intro)} Bars: value; "
        "lines: 95% intervals; dashed red: target.</p>"
    ]
    own = p.own()
    for mid in p.key_metrics():
        m = p.program.metric(mid)
        frame = peer_frame(p, mid)
        if frame.empty:
            continue
        parts.append(
            chart_html(charts.peer_chart(frame, title=m.label, fmt=m.format, target=m.target))
        )
        if mid in own.index and pd.notna(own.loc[mid, "peer_rank"]):
            better = "higher" if m.direction == "up" else "lower"
            parts.append(
                f"<p>Rank {int(own.loc[mid, 'peer_rank'])} of {int(own.loc[mid, 'peer_n'])} "
                f"({better} is better).</p>"
            )
    return Block("peers", "".join(parts))


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
