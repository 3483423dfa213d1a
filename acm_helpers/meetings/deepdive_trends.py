"""Deep-dive topics over time and across providers: the referral funnel, the cohort trend
before/after a practice change, and provider-vs-peers comparison.

Split from :mod:`acm_helpers.meetings.deepdive` (which dispatches every topic by name) to keep modules
small; the contract and the audience rules are the same as there.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from acm_helpers.core import text
from acm_helpers.core.calendar import month_label, period_bounds, shift_period
from acm_helpers.core.errors import ConfigError, MetricError
from acm_helpers.meetings.context import (
    WINDOW_CHOICES,
    DeepDiveContext,
    TopicResult,
    before_after,
    check_choice,
    ci_cell,
    ctx_metric,
    finish,
    funnel_metric_id,
    n_cell,
    peer_labels,
    roadmap_item,
    trend_with_peers,
    value_cell,
)
from acm_helpers.metrics import windows as em
from acm_helpers.views import charts

# -- (3) referral funnel -------------------------------------------------------------------------------
WAIT_EDGES = [0, 8, 15, 31, 61, math.inf]
WAIT_LABELS = ["0-7 days", "8-14 days", "15-30 days", "31-60 days", "61+ days"]


def referral_funnel(
    ctx: DeepDiveContext, metric: str | None = None, months: int = 12
) -> TopicResult:
    """Enrollments in the window traced back to their referral and forward to their exit, and
    the median wait month by month against peers."""
    check_choice("window (months)", months, WINDOW_CHOICES)
    mid = metric or funnel_metric_id(ctx.program)
    m = ctx.program.metric(mid)
    target = m.target if m.target is not None else 14
    start, end = (
        period_bounds(shift_period(ctx.period, -(months - 1)))[0],
        period_bounds(ctx.period)[1],
    )
    eps = ctx.episodes[ctx.episodes["provider_id"] == ctx.provider_id]
    eps = eps[
        (eps["enrollment_date"] >= pd.Timestamp(start))
        & (eps["enrollment_date"] <= pd.Timestamp(end))
    ]
    if eps.empty:
        raise MetricError(
            f"{ctx.provider_name}: no enrollments in the {months} months to {ctx.period}."
        )
    wait = eps["days_referral_to_enrollment"].astype("float64")
    stages = [
        ("Enrolled", len(eps)),
        ("With a referral date", int(wait.notna().sum())),
        (f"Enrolled within {target:.0f} days of referral", int((wait <= target).sum())),
        (f"Left by {end:%Y-%m-%d}", int((eps["exit_date"] <= pd.Timestamp(end)).sum())),
    ]
    if ctx.program.destinations:
        stages.append(
            (
                "Left to a permanent destination",
                int(
                    (
                        (eps["exit_date"] <= pd.Timestamp(end))
                        & (eps["destination_class"] == "permanent")
                    ).sum()
                ),
            )
        )
    funnel = pd.DataFrame(stages, columns=["group", "denominator"]).assign(scope="funnel")
    bands = (
        pd.cut(wait.dropna(), WAIT_EDGES, right=False, labels=WAIT_LABELS)
        .value_counts()
        .reindex(WAIT_LABELS)
    )
    waits = pd.DataFrame(
        {"group": WAIT_LABELS, "denominator": bands.to_numpy(dtype="float64"), "scope": "wait"}
    )
    table = pd.concat([funnel, waits], ignore_index=True)
    table["denominator"] = table["denominator"].astype("float64")
    table = finish(ctx, table, ["scope"])
    first = float(stages[0][1])
    table["share"] = table["denominator"] / np.where(
        table["scope"] == "funnel", first, stages[1][1] or np.nan
    )
    trend = trend_with_peers(
        ctx,
        m,
        shift_period(ctx.period, -23)
        if shift_period(ctx.period, -23) >= ctx.program.first_period
        else ctx.program.first_period,
    )
    fun = table[table["scope"] == "funnel"]
    findings = [
        f"{text.count(stages[0][1])} enrollments at {ctx.provider_name} in the {months} months to {month_label(ctx.period)}; "
        f"{text.value(stages[1][1] / first, 'percent')} have a referral date recorded.",
        f"Of those with a referral date, {text.value(stages[2][1] / max(stages[1][1], 1), 'percent')} enrolled within the "
        f"{target:.0f}-day target; the median wait was {text.value(np.nanmedian(wait), 'days')}."
        if stages[1][1]
        else "No enrollment has a referral date, so the wait cannot be measured.",
    ]
    if fun["suppressed"].any():
        findings.append(f"Stages with fewer than {ctx.threshold} enrollments are suppressed.")
    last = trend.dropna(subset=["value"])
    if len(last) >= 2:
        findings.append(
            f"Monthly median wait: {text.value(last['value'].iloc[0], 'days')} in {month_label(last['period'].iloc[0])}, "
            f"{text.value(last['value'].iloc[-1], 'days')} in {month_label(last['period'].iloc[-1])}."
        )
    show = pd.DataFrame(
        {
            "Stage / wait": table["group"],
            "Enrollments": table.apply(n_cell, axis=1),
            "Share": [
                (text.MISSING if s else text.value(v, "percent"))
                for s, v in zip(table["suppressed"], table["share"], strict=True)
            ],
            "Of": table["scope"].map({"funnel": "all enrollments", "wait": "with a referral date"}),
        }
    )
    funnel_chart = charts.funnel_chart(
        fun.rename(columns={"group": "stage", "denominator": "count"})[
            ["stage", "count", "suppressed"]
        ],
        title=f"From referral to exit, {months} months to {month_label(ctx.period)}",
    )
    trend_chart = charts.trend_chart(
        trend, title=f"{m.label}, by month", fmt=m.format, target=m.target
    )
    method = (
        "The submitted data holds enrollments, so the funnel starts at enrollment and looks back "
        "to the referral date; referrals that never led to an enrollment are not in the data. "
        f"{m.definition}"
    )
    item = roadmap_item(ctx.program, ctx.period, "referral_funnel")
    return TopicResult(
        "referral_funnel",
        f"From referral to enrollment: {ctx.provider_name}",
        item.question if item else "How long do referred clients wait to enroll?",
        findings,
        show,
        table,
        [funnel_chart, trend_chart],
        method,
        audience=ctx.audience,
    )


# -- (4) cohort trend before/after a practice change ----------------------------------------------------
def cohort_trend(
    ctx: DeepDiveContext, metric: str | None = None, change_month: str | None = None
) -> TopicResult:
    """The metric month by month and pooled before vs after ``change_month``, with the peers'
    change over the same months as the check against a program-wide shift."""
    mid, m = ctx_metric(ctx, "cohort_trend", metric)
    item = roadmap_item(ctx.program, ctx.period, "cohort_trend")
    change = change_month or (item.change_month if item else None)
    if change is None:
        raise ConfigError(
            "cohort_trend needs change_month (YYYY-MM, the month the practice changed); "
            "set it in the roadmap entry or pass it."
        )
    ctx.program.check_period(change)
    first = ctx.program.first_period
    if not first < change <= ctx.period:
        raise ConfigError(
            f"change_month {change} must fall after {first} and no later than {ctx.period}."
        )
    ba = before_after(ctx, m, change, first, ctx.period)
    trend = trend_with_peers(ctx, m, first)
    findings = [ba.attrs["sentence"]]
    if ba.attrs.get("peer_sentence"):
        findings.append(ba.attrs["peer_sentence"])
    show = pd.DataFrame(
        {
            "Who": ba["who"],
            "Months": ba["months"],
            "Cases": ba.apply(n_cell, axis=1),
            m.label: ba.apply(value_cell, axis=1, metric=m),
            "95% interval": ba.apply(ci_cell, axis=1, metric=m),
        }
    )
    chart = charts.before_after_chart(
        trend,
        ba[ba["who"] == ctx.provider_name][["window", "value", "start", "end"]],
        change_month=change,
        title=f"{m.label}: before and after {month_label(change)}",
        fmt=m.format,
        target=m.target,
    )
    caution = (
        "A before/after comparison cannot rule out other changes at the same time (staffing, the "
        "housing market, who was referred). The peers' change over the same months is the check: "
        "a change seen everywhere is not this provider's practice."
    )
    method = (
        f"{m.definition} Before: {month_label(first)} to {month_label(shift_period(change, -1))}; after: "
        f"{month_label(change)} to {month_label(ctx.period)}; pooled over the months, not averaged."
    )
    return TopicResult(
        "cohort_trend",
        f"{m.label} before and after {month_label(change)}: {ctx.provider_name}",
        item.question
        if item and item.metric == mid
        else f"Did {m.label.lower()} change after {month_label(change)}?",
        findings,
        show,
        ba,
        [chart],
        method,
        caution,
        ctx.audience,
    )


# -- (5) provider vs peers --------------------------------------------------------------------------------
def peer_comparison(
    ctx: DeepDiveContext, metric: str | None = None, months: int = 12
) -> TopicResult:
    """Every provider on one metric over the window, with the other key metrics beside it so
    the meeting can ask what the strongest providers do differently."""
    check_choice("window (months)", months, WINDOW_CHOICES)
    mid, m = ctx_metric(ctx, "peer_comparison", metric)
    win = em.trailing_window(ctx.period, months, "window")
    labels = peer_labels(ctx.program, ctx.provider_id, ctx.audience)
    main = finish(ctx, em.summarize(em.metric_rows(ctx.episodes, m, win), m, ["provider_id"]), None)
    main["provider"] = main["provider_id"].map(labels)
    main["is_self"] = main["provider_id"] == ctx.provider_id
    asc = m.direction == "down"
    # Rank only providers with enough cases: a 5-of-5 month is not "the best provider".
    rankable = main["value"].where(main["denominator"] >= ctx.threshold)
    main["rank"] = rankable.rank(ascending=asc, method="min")
    main = main.sort_values(["rank", "provider"], na_position="last").reset_index(drop=True)
    context = {}  # label -> (metric, {provider_id: formatted value})
    for cid in [k for k, v in ctx.program.metrics.items() if v.key and k != mid][:3]:
        cm = ctx.program.metric(cid)
        vals = finish(
            ctx, em.summarize(em.metric_rows(ctx.episodes, cm, win), cm, ["provider_id"]), None
        )
        context[cm.label] = {
            r.provider_id: (
                "suppressed" if r.suppressed else text.value(r.value, cm.format, cm.unit)
            )
            for r in vals.itertuples()
        }
    show = pd.DataFrame(
        {
            "Provider": main["provider"],
            "Rank": main["rank"].map(lambda r: "–" if pd.isna(r) else f"{r:.0f}"),
            "Cases": main.apply(n_cell, axis=1),
            m.label: main.apply(value_cell, axis=1, metric=m),
            "95% interval": main.apply(ci_cell, axis=1, metric=m),
        }
    )
    for label, cells in context.items():
        show[label] = main["provider_id"].map(cells).fillna("–")
    own = main[main["is_self"]].iloc[0]
    others = main[~main["is_self"]]["value"].dropna()
    findings = []
    if pd.isna(own["value"]):
        findings.append(
            f"{text.possessive(ctx.provider_name)} value is suppressed (fewer than {ctx.threshold} cases)."
        )
    else:
        findings.append(
            f"{ctx.provider_name} ranks {own['rank']:.0f} of {int(main['rank'].notna().sum())} on "
            f"{m.label.lower()} ({text.value(own['value'], m.format, m.unit)}; peer median {text.value(others.median(), m.format, m.unit)}) "
            f"in the {months} months to {month_label(ctx.period)}."
        )
    ranked = main.dropna(subset=["rank"])
    if not ranked.empty and not ranked.iloc[0]["is_self"]:
        best = ranked.iloc[0]
        extra = "; ".join(
            f"{label.lower()} {cells[best['provider_id']]}"
            for label, cells in context.items()
            if cells.get(best["provider_id"], "suppressed") != "suppressed"
        )
        findings.append(
            f"Best: {best['provider']} at {text.value(best['value'], m.format, m.unit)}"
            + (f" ({extra})" if extra else "")
            + ". A question for the meeting: what do they do differently?"
        )
    if main["suppressed"].any():
        findings.append(
            f"{int(main['suppressed'].sum())} provider value(s) are suppressed (small numbers)."
        )
    chart = charts.peer_chart(
        main[["provider", "value", "ci_low", "ci_high", "is_self"]],
        title=f"{m.label}, {months} months to {month_label(ctx.period)}",
        fmt=m.format,
        target=m.target,
    )
    anonymized = labels != {p.id: p.name for p in ctx.program.providers}
    method = (
        f"{m.definition} All providers over the same {months} months, pooled. Rank 1 is the best "
        f"({'lowest' if asc else 'highest'} value); providers with fewer than {ctx.threshold} cases "
        "are not ranked." + (" Other providers are anonymized." if anonymized else "")
    )
    item = roadmap_item(ctx.program, ctx.period, "peer_comparison")
    data = main.drop(columns=["provider_id"]) if anonymized else main
    return TopicResult(
        "peer_comparison",
        f"{m.label}: {ctx.provider_name} and its peers",
        item.question if item and item.metric == mid else f"How does {ctx.provider_name} compare?",
        findings,
        show,
        data,
        [chart],
        method,
        audience=ctx.audience,
    )
