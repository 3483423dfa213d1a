"""The equity and data-quality sections of a provider's packet (``dashboard.equity``,
``dashboard.quality``): breakdowns with suppressed groups marked, disparity and
disproportionality flags, and the submission's quality in sentences and a completeness trend.
Split from :mod:`acm_helpers.packets.dashboard` for size; the notebook calls them through it.
"""

from __future__ import annotations

import pandas as pd

from acm_helpers.core import stages, text
from acm_helpers.core.calendar import month_name, quarter_name
from acm_helpers.core.schema import REQUIRED_COLUMNS
from acm_helpers.meetings import disparities as disp
from acm_helpers.packets.packet import Block, Packet, chart_html, esc, html_table
from acm_helpers.store import quality as store_quality
from acm_helpers.store import quality_rank
from acm_helpers.views import charts

MAX_CHARTED_GROUPS = 12  # a breakdown with more groups (e.g. ZIP codes) is a table, not a chart


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


@stages.section("equity")
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
        if frame.empty:
            continue
        many = frame["group"].nunique() > MAX_CHARTED_GROUPS
        if many:  # e.g. ZIP codes: a table, largest groups first, suppressed ones last
            frame = frame.sort_values(
                ["suppressed", "denominator", "group"], ascending=[True, False, True]
            )
        else:
            parts.append(
                chart_html(
                    charts.equity_chart(
                        frame,
                        title=f"{m.label} by {text.lower_first(dim.label)}",
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
            if many and not r.is_reference and not sup:  # no reference group: vs all others
                ref = text.signed(r.diff_vs_others, m.format, m.unit)
            rows.append([esc(r.group), f"<span{cls}>{esc(val)}</span>", esc(n), esc(ref), flag])
        parts.append(
            html_table(
                rows,
                [
                    dim.label,
                    "Value",
                    "Cases",
                    "vs all others" if many and not dim.reference_group else "vs reference",
                    "Flag",
                ],
                num={1, 2, 3},
                caption=f"{m.label} by {text.lower_first(dim.label)}, {when}",
            )
        )
    flagged = p.equity[p.equity["flag_disparity"].astype(bool)]
    parts.append("<h3>Disparities flagged this quarter (all metrics)</h3>")
    if flagged.empty:
        parts.append(
            "<p>No disparity was flagged: no group's gap is both large enough and based on enough cases.</p>"
        )
    else:
        when_q = quarter_name(p.equity_period)
        said = [
            disp.disparity_sentence(r, p.program, when_q)
            for r in flagged.itertuples(index=False)
            if r.metric_id in p.program.metrics and r.dimension in p.program.dimensions
        ]
        parts.append("<ul>" + "".join(f"<li>{esc(t)}</li>" for t in dict.fromkeys(said)) + "</ul>")
    parts += _disproportionality(p, share_metric(p, mid))
    return Block("equity", "".join(parts))


def share_metric(p: Packet, fallback: str) -> str:
    """The metric whose groups' shares are set against the population: the first count metric
    (clients served). Why: the engine tests disproportionality for count metrics only, so the
    section's sentence about the test is true only for the metric it was run on."""
    counts = [mid for mid in p.key_metrics() if p.program.metric(mid).kind == "count"]
    return counts[0] if counts else fallback


def _disproportionality(p: Packet, mid: str) -> list[str]:
    parts = []
    m = p.program.metric(mid)
    served = m.numerator_label or text.lower_first(m.label)
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
        parts.append(
            f"<h3>Who is served, against the population ({esc(text.lower_first(dim.label))})</h3>"
        )
        parts.append(
            chart_html(
                charts.disproportionality_chart(
                    frame,
                    title=f"Share of {served} vs {dim.reference_source or 'reference population'}",
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
        elif m.kind == "count":
            parts.append(
                f"<p>No group's share of {esc(served)} differs from its population share by more "
                "than the flag rule (ratio outside 0.8–1.25 and unlikely to be chance).</p>"
            )
        else:
            parts.append(
                f"<p>The shares of {esc(served)} are shown against the population without a test "
                "(the test is run on counts of people served).</p>"
            )
    return parts


def quality_sentences(p: Packet) -> list[str]:
    """This month's submission in sentences: rows received, loaded and set aside, and whether
    it was on time (the problems themselves are ranked by :func:`quality_problems`)."""
    q = p.quality
    now = q[q["period"] == p.period] if not q.empty else q
    if now.empty:
        return [
            f"No data-quality report for {month_name(p.period)}: no submission was loaded for this month."
        ]
    s = store_quality.summarize(now)
    total, loaded, aside = s["rows_total"], s["rows_accepted"], s["rows_rejected"]
    out = [
        f"{text.plural(total, 'row')} received for "
        f"{month_name(p.period)}; {text.count(loaded)} loaded and {text.count(aside)} set aside "
        "for correction."
    ]
    if pd.notna(s["days_late"]) and s["days_late"] <= p.program.quality.late_days:
        out.append("The submission arrived on time.")
    return out


def quality_problems(p: Packet) -> pd.DataFrame:
    """This month's data-quality problems, worst first (:func:`quality_rank.rank_problems`)."""
    return p.quality_problems()


def completeness_frame(p: Packet) -> pd.DataFrame:
    """Completeness of the program's chosen required fields per month (the canonical ids and
    dates, always filled in, are left out of the chart), labelled."""
    trend = quality_rank.completeness_trend(p.quality, p.program, p.period)
    trend = trend[~trend["field"].isin(REQUIRED_COLUMNS)]
    return pd.DataFrame(
        {
            "period": trend["period"],
            "field": trend["label"],
            "completeness": trend["completeness"],
        }
    )


@stages.section("quality")
def quality(p: Packet) -> Block:
    """Data quality: the submission, its problems ranked worst first (required fields only,
    with thresholds from the program file), and the completeness trend of those fields."""
    rules = p.program.quality
    items = "".join(f"<li>{esc(s)}</li>" for s in quality_sentences(p))
    parts = [f"<h2>Data quality, {esc(month_name(p.period))}</h2><ul>{items}</ul>"]
    problems = quality_problems(p)
    if problems.empty:
        if not p.quality.empty:
            parts.append(
                "<p>No problem: every required field is filled in for at least "
                f"{esc(text.value(rules.completeness_min, 'percent'))} of records and none fell "
                f"by {esc(text.gap(rules.decline_points, 'percent'))} or more.</p>"
            )
    else:
        parts.append(
            "<h3>Problems, worst first</h3>"
            + '<ol class="acm-quality-problems">'
            + "".join(f"<li>{esc(t)}</li>" for t in problems["text"])
            + "</ol>"
        )
    fields = ", ".join(
        quality_rank.field_label(f, p.program)
        for f in quality_rank.required_fields(p.program)
        if f not in REQUIRED_COLUMNS
    )
    parts.append(
        f'<p class="acm-note">Completeness is judged over the required fields ({esc(fields)}, '
        "and the ids and enrollment date); a field is a problem below "
        f"{esc(text.value(rules.completeness_min, 'percent'))}, or when it fell by "
        f"{esc(text.gap(rules.decline_points, 'percent'))} or more against {rules.trend_months} "
        "months earlier.</p>"
    )
    comp = completeness_frame(p)
    if not comp.empty:
        parts.append(
            chart_html(
                charts.completeness_chart(
                    comp, title="Share of records with each required field filled in"
                )
            )
        )
    return Block("quality", "".join(parts))
