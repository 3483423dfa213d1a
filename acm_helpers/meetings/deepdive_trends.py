"""Deep-dive topics over time and across providers: the referral funnel, the cohort trend
before/after a practice change, and provider-vs-peers comparison.

Split from :mod:`acm_helpers.meetings.deepdive` (which dispatches every topic by name) to keep modules
small; the contract and the audience rules are the same as there.
"""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pandas as pd

from acm_helpers.core import text
from acm_helpers.core.calendar import month_label, period_bounds, shift_period
from acm_helpers.core.config import Dimension, Metric, Program
from acm_helpers.core.errors import ConfigError, MetricError
from acm_helpers.meetings.context import (
    WINDOW_CHOICES,
    DeepDiveContext,
    TopicResult,
    before_after,
    check_choice,
    ci_cell,
    ctx_metric,
    engine_cells,
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
WAIT = "wait_band"  # ad-hoc breakdown of enrollments with a referral date by their wait


def funnel_stages(program: Program, target: float, end: date) -> dict[str, Metric]:
    """The funnel's stages as ad-hoc count metrics over the window's enrollments, so each
    stage's count is an engine cell (and suppressed as one). ``end`` is the window's last day,
    only for the stage's label."""
    enrolled = "enrollment_date BETWEEN :start AND :end"
    referred = f"{enrolled} AND days_referral_to_enrollment IS NOT NULL"
    left = f"{enrolled} AND exit_date <= :end"
    stages = {
        "funnel_enrolled": ("Enrolled", enrolled),
        "funnel_referred": ("With a referral date", referred),
        "funnel_within_target": (
            f"Enrolled within {target:.0f} days of referral",
            f"{enrolled} AND days_referral_to_enrollment <= {float(target)!r}",
        ),
        "funnel_left": (f"Left by {end:%Y-%m-%d}", left),
    }
    if program.destinations:
        stages["funnel_left_permanent"] = (
            "Left to a permanent destination",
            f"{left} AND destination_class = 'permanent'",
        )
    return {
        k: Metric(
            label=label,
            definition=f"{label}: enrollments in the window at this stage of the funnel.",
            kind="count",
            population=population,
            format="number",
        )
        for k, (label, population) in stages.items()
    }


def referral_funnel(
    ctx: DeepDiveContext, metric: str | None = None, months: int = 12
) -> TopicResult:
    """Enrollments in the window traced back to their referral and forward to their exit, and
    the median wait month by month against peers."""
    check_choice("window (months)", months, WINDOW_CHOICES)
    mid = metric or funnel_metric_id(ctx.program)
    m = ctx.program.metric(mid)
    target = m.target if m.target is not None else 14
    end = period_bounds(ctx.period)[1]
    stages = funnel_stages(ctx.program, target, end)
    wait = Dimension(
        label="Wait from referral to enrollment",
        column=WAIT,
        source="days_referral_to_enrollment",
        bins=WAIT_EDGES[:-1],
    )
    cells = engine_cells(
        ctx,
        em.trailing_window(ctx.period, months, "window"),
        [*stages, mid],
        providers=[ctx.provider_id],
        breakdowns={WAIT: wait},
        extra_metrics=stages,
    )
    overall = cells[cells["dimension"] == ""].set_index("metric_id")
    if "funnel_enrolled" not in overall.index:
        raise MetricError(
            f"{ctx.provider_name}: no enrollments in the {months} months to {ctx.period}."
        )
    funnel = pd.DataFrame(
        {
            "group": [st.label for st in stages.values()],
            "denominator": [overall["value"].get(k, 0.0) for k in stages],
            "suppressed": [bool(overall["suppressed"].get(k, False)) for k in stages],
            "scope": "funnel",
        }
    )
    by_wait = cells[(cells["metric_id"] == "funnel_referred") & (cells["dimension"] == WAIT)]
    names = dict(zip(em.band_labels(WAIT_EDGES[:-1]), WAIT_LABELS, strict=True))
    by_wait = by_wait.set_index(by_wait["group"].map(names))
    waits = pd.DataFrame(
        {
            "group": WAIT_LABELS,
            "denominator": [by_wait["value"].get(lab, 0.0) for lab in WAIT_LABELS],
            "suppressed": [bool(by_wait["suppressed"].get(lab, False)) for lab in WAIT_LABELS],
            "scope": "wait",
        }
    )
    table = pd.concat([funnel, waits], ignore_index=True)
    table["denominator"] = table["denominator"].astype("float64")
    enrolled, referred = funnel["denominator"].iloc[0], funnel["denominator"].iloc[1]
    table["share"] = table["denominator"] / np.where(
        table["scope"] == "funnel", enrolled, referred or np.nan
    )
    trend = trend_with_peers(
        ctx,
        mid,
        shift_period(ctx.period, -23)
        if shift_period(ctx.period, -23) >= ctx.program.first_period
        else ctx.program.first_period,
    )
    fun = table[table["scope"] == "funnel"]
    shown = ~fun["suppressed"].to_numpy()
    median = overall.loc[mid] if mid in overall.index else None
    findings = [
        f"{text.count(enrolled)} enrollments at {ctx.provider_name} in the {months} months to "
        f"{month_label(ctx.period)}; {text.value(referred / enrolled, 'percent')} have a referral date recorded."
        if shown[:2].all()
        else f"Enrollments at {ctx.provider_name} in the {months} months to "
        f"{month_label(ctx.period)} are too few to show (suppressed).",
    ]
    if not referred and shown[1]:
        findings.append("No enrollment has a referral date, so the wait cannot be measured.")
    elif shown[1:3].all() and median is not None and not bool(median["suppressed"]):
        within = fun["denominator"].iloc[2]
        findings.append(
            f"Of those with a referral date, {text.value(within / referred, 'percent')} enrolled "
            f"within the {target:.0f}-day target; the median wait was "
            f"{text.value(median['value'], 'days')}."
        )
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
        metric_id=mid,
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
        metric_id=mid,
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
    context_ids = [k for k, v in ctx.program.metrics.items() if v.key and k != mid][:3]
    cells = engine_cells(ctx, win, [mid, *context_ids], providers=ctx.program.provider_ids)
    cells = cells[cells["dimension"] == ""]
    main = cells[cells["metric_id"] == mid].reset_index(drop=True)
    main["provider"] = main["provider_id"].map(labels)
    main["is_self"] = main["provider_id"] == ctx.provider_id
    asc = m.direction == "down"
    # Rank only providers with enough cases: a 5-of-5 month is not "the best provider".
    rankable = main["value"].where(main["cell_size"] >= ctx.threshold)
    main["rank"] = rankable.rank(ascending=asc, method="min")
    main = main.sort_values(["rank", "provider"], na_position="last").reset_index(drop=True)
    main = main.drop(columns=["metric_id", "window", "grain", "start", "end", "dimension", "group"])
    context = {}  # label -> (metric, {provider_id: formatted value})
    for cid in context_ids:
        cm = ctx.program.metric(cid)
        vals = cells[cells["metric_id"] == cid]
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
        metric_id=mid,
    )
