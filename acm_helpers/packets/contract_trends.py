"""End-of-contract sections that follow the term through time: trends (the two halves and each
quarter), disparities by half, and data completeness by quarter.

The notebook calls ``contract_trends.trends(rep)`` beside the sections of
:mod:`acm_helpers.packets.contract`.
"""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from acm_helpers.core import text
from acm_helpers.core.calendar import month_label, month_range, period_bounds, quarter_of
from acm_helpers.core.config import Metric
from acm_helpers.meetings import deepdive
from acm_helpers.meetings.context import (
    DeepDiveContext,
    Section,
    engine_cells,
    rate_difference,
)
from acm_helpers.meetings.disparities import gap_change
from acm_helpers.metrics import windows as em
from acm_helpers.packets.contract_term import ContractReport
from acm_helpers.views import charts

QUALITY_FIELDS = ("race_ethnicity", "zip", "referral_date", "exit_destination")
FIELD_LABELS = {
    "race_ethnicity": "Race and ethnicity",
    "zip": "ZIP code",
    "referral_date": "Referral date",
    "exit_destination": "Exit destination",
}
CHANGE_WORDS = {  # gap_change's verdicts as the disparity table says them
    "narrowed": "narrowed",
    "widened": "widened",
    "reversed": "reversed",
    "cannot tell": "no clear change",
}


PARTIAL = " (part)"  # the suffix of a partial quarter's label on charts and tables


def window(first: str, last: str, label: str) -> pd.DataFrame:
    return em.windows([(label, period_bounds(first)[0], period_bounds(last)[1])])


def partial_quarters(first: str, last: str) -> dict[str, list[str]]:
    """The quarters of ``first`` .. ``last`` that the span covers only in part, with the months
    it covers: a term from November 2024 has two months of 2024-Q4. Why: a partial quarter
    pooled as if whole sits beside whole quarters on a chart and invites a false comparison."""
    spans: dict[str, list[str]] = {}
    for p in month_range(first, last):
        spans.setdefault(quarter_of(p), []).append(p)
    return {q: ms for q, ms in spans.items() if len(ms) < 3}


def partial_note(first: str, last: str) -> str:
    """A sentence naming the partial quarters and their months ("" when every quarter is whole)."""
    parts = partial_quarters(first, last)
    if not parts:
        return ""
    named = "; ".join(
        f"{q} ({month_label(ms[0])}" + (f" to {month_label(ms[-1])})" if len(ms) > 1 else " only)")
        for q, ms in parts.items()
    )
    return (
        f'Partial quarters, marked "part" and lighter on the charts: {named}. '
        "They are left out of quarter-to-quarter comparisons."
    )


def mark_partial(chart: alt.TopLevelMixin, periods: list[str], partial: set[str]) -> alt.LayerChart:
    """A quarterly chart with its partial quarters veiled (a white band at 55% over them, so
    their points and band read lighter) and labelled "part" at the top."""
    shown = [p for p in periods if p in partial]
    if not shown:
        return chart
    band = pd.DataFrame({"period": shown, "label": "part"})
    x = alt.X("period:O", title=None)
    veil = (
        alt.Chart(band)
        .mark_bar(color="white", opacity=0.55, clip=True)
        .encode(x=x, y=alt.value(0), y2=alt.value(1000))
    )
    label = (
        alt.Chart(band)
        .mark_text(dy=-4, fontSize=10, color="#666", baseline="bottom")
        .encode(x=x, y=alt.value(0), text="label:N")
    )
    props = {
        k: getattr(chart, k)
        for k in ("title", "width", "height")
        if getattr(chart, k, alt.Undefined) is not alt.Undefined
    }
    inner = chart.copy()
    for k in props:
        setattr(inner, k, alt.Undefined)
    return alt.layer(inner, veil, label).properties(**props)


def trends(rep: ContractReport) -> Section:
    """First half of the term against the second, and each key metric by quarter with peers."""
    ctx = rep.ctx
    (a1, a2), (b1, b2) = rep.halves
    sentences, out_rows, chart_list = [], [], []
    key = [mid for mid, m in rep.program.metrics.items() if m.key]
    wins = pd.concat([window(a1, a2, "first"), window(b1, b2, "second")], ignore_index=True)
    halves = engine_cells(ctx, wins, key, providers=[rep.provider.id])
    halves = halves[halves["dimension"] == ""].set_index(["metric_id", "window"])
    quarters = quarterly(
        ctx,
        [mid for mid in key if rep.program.metrics[mid].kind in ("rate", "median")],
        rep.first,
        rep.last,
    )
    partial = {q + PARTIAL for q in partial_quarters(rep.first, rep.last)}
    labels = quarter_labels(rep.first, rep.last)
    for mid in key:
        m = rep.program.metric(mid)
        s = halves.reindex([(mid, "first"), (mid, "second")]).droplevel("metric_id")
        if s["suppressed"].fillna(True).astype(bool).any() or s["value"].isna().any():
            sentences.append(f"{m.label}: too few cases in one half of the term to compare.")
            continue
        f_, s_ = s.loc["first"], s.loc["second"]
        verdict, ci = "no clear change", ""
        if m.kind == "rate":
            d, low, high = rate_difference(s_, f_)
            ci = f" (95% interval {text.signed_range(low, high, 'percent')})"
            if low > 0 or high < 0:
                verdict = "improved" if (d > 0) == (m.direction == "up") else "worsened"
        d = s_["value"] - f_["value"]
        diff = text.signed(d, m.format, m.unit)
        sentences.append(
            f"{m.label}: {text.value(f_['value'], m.format, m.unit)} in {month_label(a1)}–{month_label(a2)}, "
            f"{text.value(s_['value'], m.format, m.unit)} in {month_label(b1)}–{month_label(b2)}: {diff}{ci}; {verdict}."
        )
        out_rows.append(
            {
                "metric_id": mid,
                "first": f_["value"],
                "second": s_["value"],
                "change": d,
                "verdict": verdict,
            }
        )
        if m.kind in ("rate", "median"):
            q = quarters[mid].assign(period=lambda f: f["period"].map(labels))
            chart = charts.trend_chart(
                q, title=f"{m.label}, by quarter", fmt=m.format, target=m.target, height=160
            )
            chart_list.append(mark_partial(chart, q["period"].tolist(), partial))
    return Section(
        "Trends over the term",
        sentences,
        charts=chart_list,
        intro="The first half of the term against the second, and each metric by quarter.",
        note="Quarterly values are pooled over each quarter; the band is the other providers' "
        "middle half. " + partial_note(rep.first, rep.last),
        data=pd.DataFrame(out_rows, columns=["metric_id", "first", "second", "change", "verdict"]),
    )


def quarter_labels(first: str, last: str) -> dict[str, str]:
    """Each quarter's label for charts and tables: "2025-Q1", or "2024-Q4 (part)" when the span
    covers only part of it."""
    parts = partial_quarters(first, last)
    return {
        q: q + (PARTIAL if q in parts else "")
        for q in dict.fromkeys(map(quarter_of, month_range(first, last)))
    }


def quarterly(
    ctx: DeepDiveContext, metrics: list[str], first: str, last: str
) -> dict[str, pd.DataFrame]:
    """Each metric by quarter of the term for the provider, with the other providers' quartiles
    (for ``charts.trend_chart``): the engine's quarter cells where a quarter is whole, else the
    engine over the clipped quarter."""
    wins = em.quarter_windows(first, last)
    out = {}
    if not metrics:
        return out
    cells = engine_cells(ctx, wins, metrics, providers=ctx.program.provider_ids)
    cells = cells[cells["dimension"] == ""]
    for mid in metrics:
        s = cells[cells["metric_id"] == mid]
        own = s[s["provider_id"] == ctx.provider_id]
        peers = s[s["provider_id"] != ctx.provider_id].groupby("window")["value"]
        q = pd.DataFrame(
            {
                "peer_q1": peers.quantile(0.25),
                "peer_median": peers.median(),
                "peer_q3": peers.quantile(0.75),
            }
        )
        frame = pd.DataFrame({"period": wins["window"]})
        frame["partial"] = frame["period"].isin(list(partial_quarters(first, last)))
        out[mid] = frame.merge(
            own.rename(columns={"window": "period"})[["period", "value", "ci_low", "ci_high"]],
            on="period",
            how="left",
        ).merge(q, left_on="period", right_index=True, how="left")
    return out


def disparities(rep: ContractReport) -> Section:
    """Gaps flagged in either half of the term, for each key rate metric and each dimension with a
    reference group, and whether they narrowed, widened or reversed by the interval rule
    (:func:`acm_helpers.meetings.disparities.gap_change`), else "no clear change"."""
    ctx = rep.ctx
    (a1, a2), (b1, b2) = rep.halves
    wins = pd.concat([window(a1, a2, "first"), window(b1, b2, "recent")], ignore_index=True)
    rows = []
    rates = [k for k, m in rep.program.metrics.items() if m.key and m.kind == "rate"]
    dims = [
        did
        for did, dim in rep.program.dimensions.items()
        if dim.reference_group is not None and dim.column in ctx.episodes.columns
    ]
    cells = pd.DataFrame(columns=["metric_id", "dimension"])
    if rates and dims:
        cells = engine_cells(ctx, wins, rates, providers=[rep.provider.id], dimensions=dims)
    for mid in rates:
        m = rep.program.metric(mid)
        for did in dims:
            dim = rep.program.dimension(did)
            t = deepdive.group_table(cells[cells["metric_id"] == mid], did)
            if t.empty:
                continue
            ref, _ = deepdive.reference_group(t, dim.reference_group, ctx.threshold)
            t = deepdive.with_gaps(t, m, ref, ctx.threshold)
            wide = t.pivot_table(
                index="group",
                columns="window",
                values=["difference", "diff_low", "diff_high", "flagged"],
                aggfunc="first",
            )
            for group in wide.index:
                flags = {
                    w: bool(wide.loc[group, ("flagged", w)])
                    if ("flagged", w) in wide.columns
                    else False
                    for w in ("first", "recent")
                }
                if not any(flags.values()):
                    continue
                row = wide.loc[group]
                g1, g2 = (
                    [row.get((c, w), np.nan) for c in ("difference", "diff_low", "diff_high")]
                    for w in ("first", "recent")
                )
                d1, d2 = g1[0], g2[0]
                change = (
                    "only one half has a gap"
                    if pd.isna(d1) or pd.isna(d2)
                    else CHANGE_WORDS[gap_change(*g1, *g2)]
                )
                rows.append(
                    {
                        "Metric": m.label,
                        "Breakdown": dim.label,
                        "Group": group,
                        "Reference": ref,
                        f"Gap {month_label(a1)}–{month_label(a2)}": text.signed(d1, "percent"),
                        f"Gap {month_label(b1)}–{month_label(b2)}": text.signed(d2, "percent"),
                        "Flagged in": (
                            "both halves"
                            if all(flags.values())
                            else "first half"
                            if flags["first"]
                            else "second half"
                        ),
                        "Change": change,
                    }
                )
    table = pd.DataFrame(rows)
    if not table.empty:  # gaps flagged in both halves first: they are the ones to trust
        table = (
            table.assign(_both=table["Flagged in"] == "both halves")
            .sort_values("_both", ascending=False, kind="mergesort")
            .drop(columns="_both")
            .reset_index(drop=True)
        )
    if table.empty:
        sentences = [
            "No disparity was flagged in either half of the term (a gap is flagged when both groups "
            f"have at least {ctx.threshold} cases and its 95% interval excludes zero)."
        ]
    else:
        g1, g2 = table.columns[4], table.columns[5]
        sentences = [
            f"{r['Metric']}, {r['Group']} against {r['Reference']}: {r[g1]} then {r[g2]} "
            f"(flagged in {'the ' if r['Flagged in'] != 'both halves' else ''}{r['Flagged in']}; "
            + (
                "the data cannot tell whether the gap changed"
                if r["Change"] == CHANGE_WORDS["cannot tell"]
                else r["Change"]
                if r["Change"] == "only one half has a gap"
                else f"the gap {r['Change']}"
            )
            + ")."
            for _, r in table.iterrows()
        ]
    return Section(
        "Disparities found and how they changed",
        sentences,
        [table] if not table.empty else [],
        intro="Gaps between groups flagged in either half of the term, and what happened to them.",
        note="Gap = group's rate minus the reference group's, in percentage points. A gap "
        "narrowed or widened only when the 95% interval of its change excludes no change. Many groups "
        "are compared, so a few gaps are flagged by chance alone; a gap flagged in both "
        "halves of the term is the one to trust. Not recorded and Unknown are never flagged.",
        data=table,
    )


def completeness_metrics(fields: list[str]) -> dict[str, Metric]:
    """Completeness of each field as an ad-hoc rate metric over the window's enrollments (exit
    destination: over those who left), so every share is an engine cell, suppressed as one."""
    out = {}
    for f in fields:
        population = "enrollment_date BETWEEN :start AND :end"
        if f == "exit_destination":
            population += " AND exit_date IS NOT NULL"
        out[f"complete_{f}"] = Metric(
            label=f"{f} filled in",
            definition=f"Share of the quarter's enrollments with {f} recorded.",
            kind="rate",
            population=population,
            numerator=f'"{f}" IS NOT NULL',
            format="percent",
        )
    return out


def data_quality(rep: ContractReport) -> Section:
    """Completeness of key fields by quarter (the engine's cells of ad-hoc rate metrics over the
    quarter's enrollments) and, when intake logged them, rejected rows and late submissions."""
    fields = [f for f in QUALITY_FIELDS if f in rep.ctx.episodes.columns]
    rows = []
    if fields:
        checks = completeness_metrics(fields)
        quarters = em.quarter_windows(rep.first, rep.last)
        cells = engine_cells(
            rep.ctx,
            quarters,
            list(checks),
            providers=[rep.provider.id],
            extra_metrics=checks,
        )
        cells = cells[cells["dimension"] == ""].set_index(["metric_id", "window"])
        for q in quarters["window"]:
            for f in fields:
                if (f"complete_{f}", q) not in cells.index:
                    continue
                c = cells.loc[(f"complete_{f}", q)]
                rows.append(
                    {"period": q, "field": f, "completeness": c["value"], "n": c["denominator"]}
                )
    comp = pd.DataFrame(rows, columns=["period", "field", "completeness", "n"])
    partial = partial_quarters(rep.first, rep.last)
    comp["partial"] = comp["period"].isin(list(partial))
    comp["trend"] = ""
    sentences = []
    whole = comp[~comp["partial"]].dropna(subset=["completeness"])  # whole quarters compared
    for f, g in whole.groupby("field", sort=False):
        first, last = g.iloc[0], g.iloc[-1]
        if len(g) == 1:
            sentences.append(
                f"{field_label(f)}: {text.value(first['completeness'], 'percent')} filled in "
                f"{first['period']}, the only whole quarter with records."
            )
            continue
        drop = first["completeness"] - last["completeness"]
        trend = "fell" if drop > 0.05 else "rose" if drop < -0.05 else "held"
        comp.loc[comp["field"] == f, "trend"] = trend
        sentences.append(
            f"{field_label(f)}: {text.value(first['completeness'], 'percent')} filled in "
            f"{first['period']}, {text.value(last['completeness'], 'percent')} in "
            f"{last['period']} ({trend})."
        )
    labels = quarter_labels(rep.first, rep.last)
    wide = comp.pivot(index="period", columns="field", values="completeness")
    wide = wide[[f for f in fields if f in wide.columns]]
    wide.columns = [field_label(f) for f in wide.columns]
    tables = [
        wide.map(lambda v: text.value(v, "percent"))
        .reset_index()
        .assign(period=lambda t: t["period"].map(labels))
        .rename(columns={"period": "Quarter"})
    ]
    if rep.quality is not None and not rep.quality.empty:
        qt = rep.quality[
            (rep.quality["provider_id"] == rep.provider.id)
            & rep.quality["period"].between(rep.first, rep.last)
        ]
        qt = qt.drop_duplicates(["period", "check", "field"], keep="last")
        rejected = qt[(qt["check"] == "rows") & (qt["field"] == "rejected")]["value"].sum()
        late = qt[(qt["check"] == "timeliness")]["value"]
        sentences.append(
            f"Intake: {text.plural(rejected, 'row')} rejected over the term; "
            + (
                f"{int((late > 0).sum())} of {text.plural(late.notna().sum(), 'submission')} "
                f"late (the latest {text.value(late.max(), 'days')} after it was due)."
                if (late > 0).any()
                else f"all {text.plural(late.notna().sum(), 'submission')} on time."
            )
            if late.notna().any()
            else f"Intake: {text.plural(rejected, 'row')} rejected over the term."
        )
    shown = comp.assign(period=comp["period"].map(labels), field=comp["field"].map(field_label))
    chart = charts.completeness_chart(
        shown, title="Share of episodes with each field filled in, by quarter"
    )
    chart = mark_partial(chart, list(labels.values()), {q + PARTIAL for q in partial})
    return Section(
        "Data quality over the term",
        sentences,
        tables,
        [chart],
        data=comp,
        intro="How complete the provider's records were, quarter by quarter.",
        note="First and last whole quarters are compared; a change of more than 5 points is a "
        "rise or a fall. " + partial_note(rep.first, rep.last),
    )


def field_label(field: str) -> str:
    """A record field as people name it ("ZIP code", never ``zip``)."""
    return FIELD_LABELS.get(field, field.replace("_", " ").capitalize())
