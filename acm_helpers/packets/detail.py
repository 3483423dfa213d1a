"""The equity and data-quality sections of a provider's packet (``dashboard.equity``,
``dashboard.quality``): breakdowns with suppressed groups marked, disparity and
disproportionality flags, and the submission's quality in sentences and a completeness trend.
Split from :mod:`acm_helpers.packets.dashboard` for size; the notebook calls them through it.
"""

from __future__ import annotations

import pandas as pd

from acm_helpers.core import text
from acm_helpers.core.calendar import month_name, quarter_name, shift_period
from acm_helpers.packets.packet import TREND_MONTHS, Block, Packet, chart_html, esc, html_table
from acm_helpers.store import quality as store_quality
from acm_helpers.views import charts

QUALITY_FIELDS = ["race_ethnicity", "gender", "zip", "referral_date", "birth_date"]


def equity_metric(p: Packet) -> str:
    """The metric the equity section breaks down: the roadmap topic's, else the first key rate."""
    topic = p.program.roadmap.get(p.period)
    if topic is not None:
        return topic.metric
    rates = [mid for mid in p.key_metrics() if p.program.metric(mid).kind == "rate"]
    return (rates or p.key_metrics())[0]


def equity_frame(p: Packet, metric_id: str, dimension: str) -> pd.DataFrame:
    """One metric by the groups of one dimension (for :func:`charts.equity_chart`)."""
    e = p.equity
    if e.empty:
        return pd.DataFrame(
            columns=["group", "value", "ci_low", "ci_high", "suppressed", "flagged"]
        )
    rows = e[(e["metric_id"] == metric_id) & (e["dimension"] == dimension)].copy()
    rows["flagged"] = rows["flag_disparity"].astype(bool)
    # the natural order (age bands by age, race as the code list has it), never the reference
    # group first: a reader scans "0-17, 18-24, 25-34 ..." (the table marks the reference)
    dim = p.program.dimensions.get(dimension)
    order = text.ordered_groups(
        rows["group"], p.program.codes.get(dim.column if dim else dimension)
    )
    rows["_order"] = rows["group"].astype(str).map({g: i for i, g in enumerate(order)})
    return rows.sort_values("_order").drop(columns="_order").reset_index(drop=True)


def equity(p: Packet) -> Block:
    """Breakdowns by each dimension (suppressed groups say so), disparity and disproportionality
    flags with their reasons, for the last complete quarter."""
    mid = equity_metric(p)
    m = p.program.metric(mid)
    when = quarter_name(p.equity_period)
    parts = [
        f"<h2>Equity: {esc(m.label)} by group, {esc(when)}</h2>",
        f"<p>Quarterly values (the last complete quarter) are larger and steadier than one month's. "
        f"Groups with fewer than {p.program.suppression.threshold} cases, and groups that would let "
        "someone work one out, read “suppressed”. Orange bars: a disparity against the reference "
        "group that is unlikely to be chance.</p>",
    ]
    if p.equity.empty:
        parts.append('<p class="acm-note">No equity breakdown is available for this quarter.</p>')
        return Block("equity", "".join(parts))
    for did, dim in p.program.dimensions.items():
        frame = equity_frame(p, mid, did)
        if frame.empty or frame["group"].nunique() > 12:
            continue  # many-valued dimensions (e.g. ZIP) are in the appendix, not charted
        parts.append(
            chart_html(
                charts.equity_chart(
                    frame,
                    title=f"{m.label} by {dim.label.lower()}",
                    fmt=text.kind_of(m.format, m.kind),
                    unit=text.axis_title(m),
                )
            )
        )
        rows = []
        for r in frame.itertuples(index=False):
            sup = bool(r.suppressed)
            val = text.metric_value(r.value, m, suppressed=sup)
            n = text.count(r.denominator, suppressed=sup)
            ref = (
                "reference"
                if r.is_reference
                else ""
                if sup or pd.isna(r.diff_vs_reference)
                else text.signed(r.diff_vs_reference, m.format, m.unit)
            )
            flag = '<span class="acm-flag">disparity</span>' if r.flag_disparity else ""
            cls = ' class="acm-suppressed"' if sup else ""
            rows.append([esc(r.group), f"<span{cls}>{esc(val)}</span>", esc(n), esc(ref), flag])
        parts.append(
            html_table(
                rows,
                ["Group", "Value", "Cases", "vs reference", "Flag"],
                num={1, 2, 3},
                caption=f"{m.label} by {dim.label.lower()}, {when}",
            )
        )
    flagged = p.equity[p.equity["flag_disparity"].astype(bool)]
    parts.append("<h3>Disparities flagged this quarter (all metrics)</h3>")
    if flagged.empty:
        parts.append(
            "<p>No disparity was flagged: no group's gap is both large enough and based on enough cases.</p>"
        )
    else:
        parts.append(
            "<ul>"
            + "".join(f"<li>{esc(t)}</li>" for t in flagged["disparity_reason"].drop_duplicates())
            + "</ul>"
        )
    parts += _disproportionality(p, mid)
    return Block("equity", "".join(parts))


def _disproportionality(p: Packet, mid: str) -> list[str]:
    parts = []
    for did, dim in p.program.dimensions.items():
        if not dim.reference_shares:
            continue
        rows = p.equity[
            (p.equity["metric_id"] == mid)
            & (p.equity["dimension"] == did)
            & p.equity["reference_share"].notna()
        ]
        if rows.empty:
            continue
        order = text.ordered_groups(rows["group"], p.program.codes.get(dim.column))
        rows = rows.assign(_o=rows["group"].astype(str).map(order.index)).sort_values("_o")
        frame = pd.DataFrame(
            {
                "group": rows["group"],
                "share_served": rows["share_served"],
                "reference_share": rows["reference_share"],
                "flagged": rows["flag_disproportionality"].astype(bool),
            }
        )
        parts.append(f"<h3>Who is served, against the population ({esc(dim.label.lower())})</h3>")
        parts.append(
            chart_html(
                charts.disproportionality_chart(
                    frame,
                    title=f"Share of people served vs {dim.reference_source or 'reference population'}",
                )
            )
        )
        reasons = rows.loc[
            rows["flag_disproportionality"].astype(bool), "disproportionality_reason"
        ]
        if len(reasons):
            parts.append(
                "<ul>" + "".join(f"<li>{esc(t)}</li>" for t in reasons.drop_duplicates()) + "</ul>"
            )
        else:
            parts.append(
                "<p>No group's share differs from its population share by more than the "
                "flag rule (ratio outside 0.8–1.25 and unlikely to be chance).</p>"
            )
    return parts


def quality_sentences(p: Packet) -> list[str]:
    """This month's submission in sentences, and fields whose completeness fell over the year."""
    q = p.quality
    now = q[q["period"] == p.period] if not q.empty else q
    if now.empty:
        return [
            f"No data-quality report for {month_name(p.period)}: no submission was loaded for this month."
        ]
    s = store_quality.summarize(now)
    out = [
        f"{text.plural(s['rows_total'], 'row')} received for {month_name(p.period)}; "
        f"{text.count(s['rows_accepted'])} loaded and {text.count(s['rows_rejected'])} set aside "
        "for correction."
    ]
    if pd.notna(s["days_late"]):
        out.append(
            "The submission arrived on time."
            if s["days_late"] <= 0
            else f"The submission arrived {text.plural(s['days_late'], 'day')} after it was due."
        )
    out += [f"Most frequent problem: {t}." for t in s["top_problems"][:3]]
    comp = completeness_frame(p)
    for field, g in comp.groupby("field"):
        g = g.sort_values("period")
        if len(g) >= 2 and g["completeness"].iloc[0] - g["completeness"].iloc[-1] >= 0.05:
            out.append(
                f"{text.field_label(field)} is filled in less often: {text.value(g['completeness'].iloc[0], 'percent')} in "
                f"{month_name(g['period'].iloc[0])}, {text.value(g['completeness'].iloc[-1], 'percent')} now."
            )
    return out


def completeness_frame(p: Packet) -> pd.DataFrame:
    """Completeness of the equity and outcome fields per month over the trend window."""
    q = p.quality
    if q.empty:
        return pd.DataFrame(columns=["period", "field", "completeness"])
    first = shift_period(p.period, -(TREND_MONTHS - 1))
    rows = q[
        (q["check"] == "completeness") & q["field"].isin(QUALITY_FIELDS) & (q["period"] >= first)
    ]
    out = rows.rename(columns={"value": "completeness"})[["period", "field", "completeness"]]
    return out.dropna().reset_index(drop=True)


def quality(p: Packet) -> Block:
    """Data quality: this month's submission and the completeness trend of key fields."""
    items = "".join(f"<li>{esc(s)}</li>" for s in quality_sentences(p))
    parts = [f"<h2>Data quality, {esc(month_name(p.period))}</h2><ul>{items}</ul>"]
    comp = completeness_frame(p)
    if not comp.empty:
        parts.append(
            chart_html(
                charts.completeness_chart(
                    comp.assign(field=comp["field"].map(text.field_label)),
                    title="Share of records with each field filled in",
                )
            )
        )
    return Block("quality", "".join(parts))
