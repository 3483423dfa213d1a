"""The performance improvement roadmap: a plan of monthly deep-dive topics, and what followed.

The roadmap is data in the program file (``roadmap:`` month -> topic, title, metric, question,
optional dimension and change month). This module answers three questions the packets, the
dashboard and the end-of-contract report ask of it:

- what is the plan, and where are we in it (:func:`roadmap_table`);
- what is this month's topic (:func:`topic_of_month`);
- for each topic already covered, did its metric move afterwards (:func:`roadmap_review`)?

Why a before/after per topic: a roadmap is only useful if the meeting later checks whether the
month's discussion changed anything; the review puts the metric's value in the months up to the
topic next to its value in the months since.
"""

from __future__ import annotations

import pandas as pd

from acm_helpers.core import text
from acm_helpers.core.calendar import month_label, period_bounds, shift_period
from acm_helpers.core.config import Program, RoadmapTopic
from acm_helpers.meetings.context import (
    DeepDiveContext,
    Section,
    cases,
    engine_cells,
    rate_difference,
)
from acm_helpers.metrics import windows as em

TOPIC_NAMES = {
    "disparity": "Disparity deep dive",
    "duration_outcome": "Service duration and outcome",
    "referral_funnel": "Referral-to-enrollment funnel",
    "cohort_trend": "Before/after a practice change",
    "peer_comparison": "Provider vs peers",
}


def topic_of_month(program: Program, period: str) -> RoadmapTopic | None:
    """This period's roadmap entry, or None when the roadmap has nothing planned for it."""
    program.check_period(period)
    return program.roadmap.get(period)


def roadmap_table(program: Program, period: str | None = None) -> pd.DataFrame:
    """The whole plan, one row per month, with each month's status relative to ``period``
    ("covered", "this month", "planned"); without a period every status is "planned"."""
    rows = []
    for month, item in sorted(program.roadmap.items()):
        status = "planned"
        if period is not None:
            status = "covered" if month < period else "this month" if month == period else "planned"
        dim = program.dimensions[item.dimension].label if item.dimension else ""
        rows.append(
            {
                "month": month,
                "topic": item.topic,
                "kind": TOPIC_NAMES[item.topic],
                "title": item.title,
                "metric_id": item.metric,
                "metric": program.metrics[item.metric].label,
                "dimension": dim,
                "change_month": item.change_month or "",
                "question": item.question,
                "status": status,
            }
        )
    cols = [
        "month",
        "topic",
        "kind",
        "title",
        "metric_id",
        "metric",
        "dimension",
        "change_month",
        "question",
        "status",
    ]
    return pd.DataFrame(rows, columns=cols)


def roadmap_review(ctx: DeepDiveContext, window: int = 6) -> pd.DataFrame:
    """Before/after view of each covered topic's metric for the context's provider.

    Before: the ``window`` months ending with the topic's month (what the deep dive looked at).
    After: the months since, up to the context's period (at most ``window``). Rates are pooled
    over each side; every value is the engine's cell for its window
    (:func:`acm_helpers.meetings.context.engine_cells`). ``change`` is after minus before;
    ``verdict`` reads "better", "worse" or "no clear change" (a rate's change counts only when
    its 95% interval excludes zero; other kinds when the medians' intervals do not overlap).
    Provider audiences get suppressed cells.
    """
    plan = roadmap_table(ctx.program, ctx.period)
    covered = list(plan[plan["status"] == "covered"].itertuples())
    spans, rows = {}, []
    for item in covered:
        after_first = shift_period(item.month, 1)
        after_last = min(ctx.period, shift_period(item.month, window))
        before_first = max(ctx.program.first_period, shift_period(item.month, -(window - 1)))
        spans[item.month] = (before_first, after_first, after_last)
        rows += [
            (f"{item.month} before", period_bounds(before_first)[0], period_bounds(item.month)[1]),
            (f"{item.month} after", period_bounds(after_first)[0], period_bounds(after_last)[1]),
        ]
    cells = pd.DataFrame(columns=["metric_id", "window", "dimension"])
    if covered:  # one evaluation for every topic's two windows
        cells = engine_cells(
            ctx,
            em.windows(rows),
            list(dict.fromkeys(item.metric_id for item in covered)),
            providers=[ctx.provider_id],
        )
    cells = cells[cells["dimension"] == ""].set_index(["metric_id", "window"])
    out = []
    for item in covered:
        m = ctx.program.metric(item.metric_id)
        before_first, after_first, after_last = spans[item.month]
        sides = [f"{item.month} before", f"{item.month} after"]
        s = cells.reindex([(item.metric_id, w) for w in sides])
        s["suppressed"] = s["suppressed"].fillna(False).astype(bool)
        b, a = s.iloc[0], s.iloc[1]
        change, verdict = _verdict(m, b, a)
        out.append(
            {
                "month": item.month,
                "title": item.title,
                "metric": item.metric_id,
                "before_months": f"{month_label(before_first)} – {month_label(item.month)}",
                "after_months": f"{month_label(after_first)} – {month_label(after_last)}",
                "before": b["value"],
                "before_n": cases(b),
                "after": a["value"],
                "after_n": cases(a),
                "change": change,
                "verdict": verdict,
            }
        )
    return pd.DataFrame(
        out,
        columns=[
            "month",
            "title",
            "metric",
            "before_months",
            "after_months",
            "before",
            "before_n",
            "after",
            "after_n",
            "change",
            "verdict",
        ],
    )


def _verdict(m, b: pd.Series, a: pd.Series) -> tuple[float, str]:
    if b["suppressed"] or a["suppressed"] or pd.isna(b["value"]) or pd.isna(a["value"]):
        return float("nan"), "not enough data"
    change = float(a["value"] - b["value"])
    if m.kind == "rate":
        _, low, high = rate_difference(a, b)
        clear = low > 0 or high < 0
    elif m.kind in ("median", "mean") and not pd.isna(a["ci_low"]) and not pd.isna(b["ci_low"]):
        clear = a["ci_low"] > b["ci_high"] or a["ci_high"] < b["ci_low"]
    else:
        clear = False
    if not clear:
        return change, "no clear change"
    better = (change > 0) == (m.direction == "up")
    return change, "better" if better else "worse"


def review_display(review: pd.DataFrame, program: Program) -> pd.DataFrame:
    """The review as people read it: formatted values, "suppressed" where a side is hidden."""
    rows = []
    for r in review.itertuples():
        m = program.metric(r.metric)
        change = text.signed(r.change, m.format, m.unit)
        rows.append(
            {
                "Month": month_label(r.month),
                "Topic": r.title,
                "Metric": m.label,
                "Before": "suppressed"
                if pd.isna(r.before)
                else f"{text.value(r.before, m.format, m.unit)} (n={text.count(r.before_n)})",
                "After": "suppressed"
                if pd.isna(r.after)
                else f"{text.value(r.after, m.format, m.unit)} (n={text.count(r.after_n)})",
                "Change": change,
                "Verdict": r.verdict,
            }
        )
    return pd.DataFrame(
        rows, columns=["Month", "Topic", "Metric", "Before", "After", "Change", "Verdict"]
    )


def plan_section(program: Program, period: str) -> Section:
    """The roadmap as a packet section: the plan, this month's topic, what is covered."""
    plan = roadmap_table(program, period)
    now = plan[plan["status"] == "this month"]
    sentences = (
        [
            f"This month: {now['title'].iloc[0]} ({now['kind'].iloc[0].lower()}, {now['metric'].iloc[0]}): "
            f"{now['question'].iloc[0]}"
        ]
        if len(now)
        else ["The roadmap has no topic this month."]
    )
    sentences.append(
        f"{int((plan['status'] == 'covered').sum())} of {len(plan)} topics covered so far."
    )
    show = plan.assign(month=plan["month"].map(month_label))[
        ["month", "kind", "title", "metric", "question", "status"]
    ]
    show.columns = ["Month", "Kind", "Topic", "Metric", "Question", "Status"]
    return Section(
        "Performance improvement roadmap",
        sentences,
        [show],
        data=plan,
        intro="The year's plan of deep-dive topics, one a month.",
    )


def review_section(ctx: DeepDiveContext, window: int = 6) -> Section:
    """The before/after review of covered topics as a packet section."""
    review = roadmap_review(ctx, window)
    counts = review["verdict"].value_counts()
    sentences = [
        f"{len(review)} topic(s) covered; afterwards the metric was better in {counts.get('better', 0)}, "
        f"worse in {counts.get('worse', 0)}, with no clear change in {counts.get('no clear change', 0)}."
    ]
    return Section(
        "Before and after: topics covered so far",
        sentences,
        [review_display(review, ctx.program)],
        data=review,
        intro=f"Each covered topic's metric in the {window} months up to the topic's month "
        "against the months since; better or worse only when the 95% interval excludes zero.",
    )
