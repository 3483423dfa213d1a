"""End-of-contract sections that follow the term through time: trends (the two halves and each
quarter), disparities by half, and data completeness by quarter.

The notebook calls ``contract_trends.trends(rep)`` beside the sections of
:mod:`acm_helpers.packets.contract`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from acm_helpers.core import text
from acm_helpers.core.calendar import month_label, month_range, period_bounds, quarter_of
from acm_helpers.meetings import deepdive
from acm_helpers.meetings.context import (
    DeepDiveContext,
    Section,
    finish,
)
from acm_helpers.metrics import windows as em
from acm_helpers.packets.contract_term import ContractReport
from acm_helpers.views import charts

QUALITY_FIELDS = ("race_ethnicity", "zip", "referral_date", "exit_destination")


def window(first: str, last: str, label: str) -> pd.DataFrame:
    return em.windows([(label, period_bounds(first)[0], period_bounds(last)[1])])


def trends(rep: ContractReport) -> Section:
    """First half of the term against the second, and each key metric by quarter with peers."""
    ctx = rep.ctx
    (a1, a2), (b1, b2) = rep.halves
    sentences, out_rows, chart_list = [], [], []
    quarters = _quarters(rep.first, rep.last)
    for mid, m in rep.program.metrics.items():
        if not m.key:
            continue
        wins = pd.concat([window(a1, a2, "first"), window(b1, b2, "second")], ignore_index=True)
        s = (
            finish(
                ctx,
                em.summarize(em.metric_rows(ctx.episodes, m, wins, rep.provider.id), m, ["window"]),
                ["window"],
            )
            .set_index("window")
            .reindex(["first", "second"])
        )
        if s["suppressed"].fillna(True).any() or s["value"].isna().any():
            sentences.append(f"{m.label}: too few cases in one half of the term to compare.")
            continue
        f_, s_ = s.loc["first"], s.loc["second"]
        verdict, ci = "no clear change", ""
        if m.kind == "rate":
            c = em.compare_rates(
                s_["value"] * s_["denominator"],
                s_["denominator"],
                f_["value"] * f_["denominator"],
                f_["denominator"],
            )
            ci = f" (95% interval {text.signed_range(c['diff_low'], c['diff_high'], 'percent')})"
            if c["diff_low"] > 0 or c["diff_high"] < 0:
                verdict = (
                    "improved" if (c["difference"] > 0) == (m.direction == "up") else "worsened"
                )
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
            chart_list.append(
                charts.trend_chart(
                    _quarterly(ctx, m, quarters),
                    title=f"{m.label}, by quarter",
                    fmt=m.format,
                    target=m.target,
                    height=160,
                )
            )
    return Section(
        "Trends over the term",
        sentences,
        charts=chart_list,
        intro="The first half of the term against the second, and each metric by quarter.",
        note="Quarterly values are pooled over each quarter; the band is the other providers' middle half.",
        data=pd.DataFrame(out_rows, columns=["metric_id", "first", "second", "change", "verdict"]),
    )


def _quarters(first: str, last: str) -> list[tuple[str, str, str]]:
    out: dict[str, list[str]] = {}
    for p in month_range(first, last):
        out.setdefault(quarter_of(p), []).append(p)
    return [(q, ms[0], ms[-1]) for q, ms in out.items()]


def _quarterly(ctx: DeepDiveContext, m, quarters) -> pd.DataFrame:
    wins = em.windows([(q, period_bounds(a)[0], period_bounds(b)[1]) for q, a, b in quarters])
    s = em.summarize(em.metric_rows(ctx.episodes, m, wins), m, ["window", "provider_id"])
    own = finish(ctx, s[s["provider_id"] == ctx.provider_id], None)
    peers = finish(ctx, s[s["provider_id"] != ctx.provider_id], ["window"]).groupby("window")[
        "value"
    ]
    q = pd.DataFrame(
        {
            "peer_q1": peers.quantile(0.25),
            "peer_median": peers.median(),
            "peer_q3": peers.quantile(0.75),
        }
    )
    out = pd.DataFrame({"period": [q_ for q_, _, _ in quarters]})
    return out.merge(
        own.rename(columns={"window": "period"})[["period", "value", "ci_low", "ci_high"]],
        on="period",
        how="left",
    ).merge(q, left_on="period", right_index=True, how="left")


def disparities(rep: ContractReport) -> Section:
    """Gaps flagged in either half of the term, for each key rate metric and each dimension with a
    reference group, and whether they narrowed, widened or held."""
    ctx = rep.ctx
    (a1, a2), (b1, b2) = rep.halves
    wins = pd.concat([window(a1, a2, "first"), window(b1, b2, "recent")], ignore_index=True)
    rows = []
    for m in rep.program.metrics.values():
        if not (m.key and m.kind == "rate"):
            continue
        for dim in rep.program.dimensions.values():
            if dim.reference_group is None or dim.column not in ctx.episodes.columns:
                continue
            r = em.metric_rows(ctx.episodes, m, wins, rep.provider.id)
            if r.empty:
                continue
            r[dim.column] = r[dim.column].fillna("Not recorded")
            t = em.summarize(r, m, ["window", dim.column]).rename(columns={dim.column: "group"})
            ref, _ = deepdive.reference_group(t, dim.reference_group, ctx.threshold)
            t = deepdive.with_gaps(finish(ctx, t, ["window"]), m, ref, ctx.threshold)
            wide = t.pivot_table(
                index="group", columns="window", values=["difference", "flagged"], aggfunc="first"
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
                d1 = wide.loc[group].get(("difference", "first"), np.nan)
                d2 = wide.loc[group].get(("difference", "recent"), np.nan)
                change = (
                    "only one half has a gap"
                    if pd.isna(d1) or pd.isna(d2)
                    else "held"
                    if abs(d2 - d1) < 0.02
                    else "reversed"
                    if np.sign(d1) != np.sign(d2)
                    else "narrowed"
                    if abs(d2) < abs(d1)
                    else "widened"
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
            f"{'the gap ' if r['Change'] != 'only one half has a gap' else ''}{r['Change']})."
            for _, r in table.iterrows()
        ]
    return Section(
        "Disparities found and how they changed",
        sentences,
        [table] if not table.empty else [],
        intro="Gaps between groups flagged in either half of the term, and what happened to them.",
        note="Gap = group's rate minus the reference group's, in percentage points. Many groups "
        "are compared, so a few gaps are flagged by chance alone; a gap flagged in both "
        "halves of the term is the one to trust. Not recorded and Unknown are never flagged.",
        data=table,
    )


def data_quality(rep: ContractReport) -> Section:
    """Completeness of key fields by quarter (from the episodes) and, when intake logged them,
    rejected rows and late submissions."""
    eps = rep.ctx.episodes[rep.ctx.episodes["provider_id"] == rep.provider.id]
    rows = []
    for q, a, b in _quarters(rep.first, rep.last):
        start, end = pd.Timestamp(period_bounds(a)[0]), pd.Timestamp(period_bounds(b)[1])
        e = eps[(eps["enrollment_date"] >= start) & (eps["enrollment_date"] <= end)]
        for f in QUALITY_FIELDS:
            if f not in e.columns or e.empty:
                continue
            base = e[e["exit_date"].notna()] if f == "exit_destination" else e
            if len(base):
                rows.append(
                    {
                        "period": q,
                        "field": f,
                        "completeness": float(base[f].notna().mean()),
                        "n": len(base),
                    }
                )
    comp = pd.DataFrame(rows, columns=["period", "field", "completeness", "n"])
    sentences = []
    for f, g in comp.groupby("field", sort=False):
        first, last = g.iloc[0], g.iloc[-1]
        drop = first["completeness"] - last["completeness"]
        trend = "fell" if drop > 0.05 else "rose" if drop < -0.05 else "held"
        sentences.append(
            f"{f}: {text.value(first['completeness'], 'percent')} filled in {first['period']}, "
            f"{text.value(last['completeness'], 'percent')} in {last['period']} ({trend})."
        )
    wide = comp.pivot(index="period", columns="field", values="completeness")
    wide.columns.name = None
    tables = [
        wide.map(lambda v: text.value(v, "percent"))
        .reset_index()
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
            f"Intake: {text.count(rejected)} row(s) rejected over the term; {int((late > 0).sum())} of "
            f"{late.notna().sum()} submissions late (at most {text.value(late.max(), 'days')})."
            if late.notna().any()
            else f"Intake: {text.count(rejected)} row(s) rejected over the term."
        )
    chart = charts.completeness_chart(
        comp, title="Share of episodes with each field filled in, by quarter"
    )
    return Section(
        "Data quality over the term",
        sentences,
        tables,
        [chart],
        data=comp,
        intro="How complete the provider's records were, quarter by quarter.",
    )
