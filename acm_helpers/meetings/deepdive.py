"""Deep-dive topic library: the monthly roadmap topic, answered from the episodes.

Five topics, each a pure function ``(context, options) -> TopicResult`` and each a value of the
``topic`` parameter of ``notebooks/03_deep_dive.ipynb``:

- ``disparity``: one metric by one equity dimension, each group against the reference group,
  now and a year earlier.
- ``duration_outcome``: time in service against the outcome (3+ months vs fewer), with a caution
  on selection.
- ``referral_funnel``: from enrollment back to referral: how many have a referral date, how
  many enrolled within the target wait, how they left; the wait over time.
- ``cohort_trend``: the metric before and after a practice change, against peers over the same
  months.
- ``peer_comparison``: this provider against every provider, with context metrics for peer
  learning.

Numbers: every value, interval and count a topic shows is a cell of the metrics engine for the
topic's window (:func:`acm_helpers.metrics.windows.window_cells`), ad-hoc breakdowns such as
time-in-service bands included, so it equals the packet's number for the same window.

Audience: every result is aggregated. For ``audience="provider"`` the cells the engine
suppresses (:func:`acm_helpers.metrics.privacy.suppress`: small cells, their complements across
groups, providers and time, linked metrics) are nulled, numerators are not shown, and other
providers are anonymized when the program says so. Client-level rows never leave this module;
the case sampler (:mod:`acm_helpers.meetings.cases`) is the internal-only tool for those.

:mod:`acm_helpers.explorer.topic_widgets` wraps each topic in ipywidgets for JupyterLab.
"""

from __future__ import annotations

import inspect
import math
from pathlib import Path

import numpy as np
import pandas as pd

from acm_helpers.core import text
from acm_helpers.core.calendar import month_label, period_bounds, shift_period
from acm_helpers.core.config import Dimension, Metric
from acm_helpers.core.errors import ConfigError, MetricError, UnknownIdError
from acm_helpers.core.schema import ALL
from acm_helpers.meetings.context import (
    CUTOFF_CHOICES,
    TOPICS,
    WINDOW_CHOICES,
    DeepDiveContext,
    Section,
    TopicResult,
    before_after,
    cases,
    check_choice,
    ci_cell,
    ctx_metric,
    engine_cells,
    make_context,
    n_cell,
    open_context,
    rate_difference,
    roadmap_item,
    value_cell,
)
from acm_helpers.meetings.deepdive_trends import (
    cohort_trend,
    peer_comparison,
    referral_funnel,
)
from acm_helpers.meetings.disparities import GAP_CHANGE_WORDS, gap_change, gap_size_change
from acm_helpers.metrics import intervals as iv
from acm_helpers.metrics import windows as em
from acm_helpers.views import charts

DAYS_PER_MONTH = 30.44
UNRECORDED = ("Not recorded", "Unknown")  # shown, never flagged: a data-quality matter, not a group
__all__ = [
    "TOPICS",
    "DeepDiveContext",
    "TopicResult",
    "make_context",
    "open_context",
    "run",
    "title",
    "topic_for",
    "disparity",
    "duration_outcome",
    "referral_funnel",
    "cohort_trend",
    "peer_comparison",
    "before_after",
    "roadmap_item",
]


# -- (1) disparity -------------------------------------------------------------------------------
def disparity(
    ctx: DeepDiveContext, metric: str | None = None, dimension: str | None = None, months: int = 12
) -> TopicResult:
    """One metric by one dimension: each group against the reference group, now and a year
    earlier. Why both windows: the roadmap asks whether a disparity found earlier narrowed."""
    check_choice("window (months)", months, WINDOW_CHOICES)
    mid, m = ctx_metric(ctx, "disparity", metric)
    item = roadmap_item(ctx.program, ctx.period, "disparity")
    did = dimension or (
        item.dimension if item and item.dimension else next(iter(ctx.program.dimensions))
    )
    dim = ctx.program.dimension(did)
    if dim.column not in ctx.episodes.columns:
        raise MetricError(
            f"The episodes have no {dim.column!r} column, so there is no breakdown by "
            f"{dim.label.lower()}; check the submissions' columns or pick another dimension."
        )
    recent_first = shift_period(ctx.period, -(months - 1))
    earlier_last = shift_period(recent_first, -1)
    wins = em.windows(
        [
            (
                "earlier",
                period_bounds(shift_period(earlier_last, -(months - 1)))[0],
                period_bounds(earlier_last)[1],
            ),
            ("recent", period_bounds(recent_first)[0], period_bounds(ctx.period)[1]),
        ]
    )
    cells = engine_cells(ctx, wins, [mid], providers=[ctx.provider_id], dimensions=[did])
    table = group_table(cells, did)
    if table.empty:
        raise MetricError(
            f"{ctx.provider_name}: no {m.denominator_label or 'cases'} for {m.label} in "
            f"the {months} months to {ctx.period}; nothing to break down."
        )
    ref, ref_note = reference_group(table, dim.reference_group, ctx.threshold)
    table = with_gaps(table, m, ref, ctx.threshold)
    recent = table[table["window"] == "recent"].reset_index(drop=True)
    earlier = table[table["window"] == "earlier"].set_index("group")
    findings = ([ref_note] if ref_note else []) + _disparity_findings(
        ctx, m, dim.label, ref, recent, earlier, months
    )
    show = pd.DataFrame(
        {
            "Group": recent["group"] + np.where(recent["group"] == ref, " (reference)", ""),
            "Cases": recent.apply(n_cell, axis=1),
            m.label: recent.apply(value_cell, axis=1, metric=m),
            "95% interval": recent.apply(ci_cell, axis=1, metric=m),
            "Gap vs reference": recent["difference"].map(
                lambda d: text.signed(d, m.format, m.unit)
            ),
            "Gap a year earlier": recent["group"]
            .map(earlier["difference"])
            .map(lambda d: text.signed(d, m.format, m.unit)),
            "Flagged": recent["flagged"].map({True: "yes", False: ""}),
        }
    )
    chart = charts.equity_chart(
        recent[["group", "value", "ci_low", "ci_high", "suppressed", "flagged"]],
        title=f"{m.label} by {dim.label.lower()}, {months} months to {month_label(ctx.period)}",
        fmt=m.format,
    )
    method = (
        f"{m.definition} Window: the {months} months to {month_label(ctx.period)} against the {months} "
        f"months before. Rates are pooled over the window; intervals are Wilson (groups) and "
        f"Newcombe (gaps). A gap is flagged when both groups have at least {ctx.threshold} cases "
        f"and its 95% interval excludes zero."
    )
    return TopicResult(
        "disparity",
        f"{m.label} by {dim.label.lower()}: {ctx.provider_name}",
        item.question
        if item and item.metric == mid and item.dimension == did
        else f"Does {m.label.lower()} differ by {dim.label.lower()}?",
        findings,
        show,
        table,
        [chart],
        method,
        audience=ctx.audience,
        metric_id=mid,
        dimension_id=did,
    )


def group_table(cells: pd.DataFrame, dimension: str) -> pd.DataFrame:
    """One provider's engine cells of one dimension as a window x group table."""
    keep = [
        c
        for c in (
            "window",
            "group",
            "numerator",
            "denominator",
            "value",
            "ci_low",
            "ci_high",
            "cell_size",
            "suppressed",
        )
        if c in cells
    ]
    out = cells[cells["dimension"] == dimension][keep]
    return out.sort_values(["window", "group"]).reset_index(drop=True)


def reference_group(
    table: pd.DataFrame, configured: str | None, threshold: int, window: str = "recent"
) -> tuple[str, str]:
    """The reference group: the configured one when it has enough recent cases (and is shown),
    else the largest recent group shown (a youth provider has no 25-34 year olds), with a
    sentence saying so."""
    recent = table[table["window"] == window].set_index("group")
    size = recent["cell_size"].where(~recent["suppressed"].astype(bool))
    if size.isna().all():  # every group hidden: keep the configured one (its gap is hidden too)
        return (configured if configured in recent.index else str(recent.index[0])), ""
    largest = str(size.idxmax())
    if configured is not None and size.get(configured, 0) >= threshold:
        return configured, ""
    if configured is None:
        return largest, f"No reference group is configured; the largest group ({largest}) is used."
    hidden = configured in recent.index and bool(recent.loc[configured, "suppressed"])
    return largest, (
        f"The program's reference group ({configured}) "
        + ("is suppressed here" if hidden else f"has fewer than {threshold} cases here")
        + f", so the largest group ({largest}) is the reference."
    )


def with_gaps(table: pd.DataFrame, m: Metric, ref: str, threshold: int) -> pd.DataFrame:
    """Add each group's gap to ``ref`` within each window (difference with a Newcombe interval
    for rates, ratio with a Katz interval) and ``flagged``: both groups have ``threshold``+ cases
    and the gap's interval excludes zero (for medians and means: the two intervals do not
    overlap)."""
    out = table.copy()
    for col in ("difference", "diff_low", "diff_high", "ratio"):
        out[col] = np.nan
    out["flagged"] = False
    for _, block in out.groupby("window"):
        base = block[block["group"] == ref]
        if base.empty or bool(base["suppressed"].iloc[0]):
            continue
        b = base.iloc[0]
        for idx, row in block.iterrows():
            if row["group"] == ref or row["suppressed"] or pd.isna(row["value"]):
                continue
            if m.kind == "rate":
                d, lo, hi = rate_difference(row, b)
                ratio = float(
                    iv.katz_ratio(
                        row["value"] * row["denominator"],
                        row["denominator"],
                        b["value"] * b["denominator"],
                        b["denominator"],
                    )[0]
                )
            else:
                d, lo, hi = row["value"] - b["value"], np.nan, np.nan
                ratio = row["value"] / b["value"] if b["value"] else np.nan
            out.loc[idx, ["difference", "diff_low", "diff_high", "ratio"]] = [d, lo, hi, ratio]
            enough = min(row["cell_size"], b["cell_size"]) >= threshold
            if m.kind == "rate":
                excl = lo > 0 or hi < 0
            else:  # medians, means: intervals that do not overlap
                excl = row["ci_low"] > b["ci_high"] or row["ci_high"] < b["ci_low"]
            out.loc[idx, "flagged"] = bool(enough and excl and row["group"] not in UNRECORDED)
    return out


def _disparity_findings(ctx, m, dim_label, ref, recent, earlier, months) -> list[str]:
    out = []
    base = recent[recent["group"] == ref]
    if base.empty or bool(base["suppressed"].iloc[0]):
        out.append(
            f"The reference group ({ref}) is suppressed (small numbers), so no gap is computed."
        )
    flagged = recent[recent["flagged"]].copy()
    worse = -1 if m.direction == "up" else 1
    flagged["badness"] = flagged["difference"] * worse
    for _, row in flagged.sort_values("badness", ascending=False).iterrows():
        b = base.iloc[0]
        side = "lower" if row["difference"] < 0 else "higher"
        ci = (
            f" (95% interval {text.gap(row['diff_low'], m.format, m.unit, with_unit=False)} to {text.gap(row['diff_high'], m.format, m.unit)})"
            if m.kind == "rate" and np.sign(row["diff_low"]) == np.sign(row["diff_high"])
            else ""
        )
        if ci and row["difference"] < 0:
            ci = f" (95% interval {text.gap(row['diff_high'], m.format, m.unit, with_unit=False)} to {text.gap(row['diff_low'], m.format, m.unit)})"
        sent = (
            f"In the {months} months to {month_label(ctx.period)}, {m.label.lower()} for "
            f"{row['group']} was {text.value(row['value'], m.format, m.unit)} (n={text.count(cases(row))}) against "
            f"{text.value(b['value'], m.format, m.unit)} for {ref} (n={text.count(cases(b))}): "
            f"{text.gap(row['difference'], m.format, m.unit)} {side}{ci}."
        )
        if row["group"] in earlier.index and not pd.isna(earlier.loc[row["group"], "difference"]):
            e = earlier.loc[row["group"]]
            before = e["difference"]
            was = "lower" if before < 0 else "higher"
            change = gap_change(
                before, e["diff_low"], e["diff_high"],
                row["difference"], row["diff_low"], row["diff_high"],
            )  # fmt: skip
            sent += (
                f" A year earlier it was {text.gap(before, m.format, m.unit)} {was}; "
                f"{GAP_CHANGE_WORDS[change]}"
            )
            if m.kind == "rate" and np.sign(before) == np.sign(row["difference"]):
                _, lo, hi = gap_size_change(
                    before, e["diff_low"], e["diff_high"],
                    row["difference"], row["diff_low"], row["diff_high"],
                )  # fmt: skip
                sent += f" (change in the gap's size: {text.signed_range(lo, hi, 'percent')}, 95% interval)"
            sent += "."
        out.append(sent)
    if flagged.empty and not base.empty and not bool(base["suppressed"].iloc[0]):
        out.append(
            f"No group's {m.label.lower()} differs from {ref}'s beyond what chance allows "
            f"(no gap's 95% interval excludes zero among groups with {ctx.threshold}+ cases)."
        )
    n_sup = int(recent["suppressed"].sum())
    if n_sup:
        out.append(
            f"{n_sup} group(s) by {dim_label.lower()} are suppressed (fewer than {ctx.threshold} "
            "cases, or suppressed so a small group cannot be worked out from the total)."
        )
    return out


# -- (2) service duration vs outcome ----------------------------------------------------------------
DURATION_EDGES = (0, 1, 3, 6, 12)
BANDS, SIDES = "time_in_service", "time_in_service_split"  # ad-hoc breakdowns (ids and columns)
SELECTION_CAUTION = (
    "Selection: people who stay in service longer are not like those who leave early. Early "
    "leavers include people who found housing on their own, were asked to leave, went to hospital "
    "or jail, or disengaged; those who stay are the ones the program kept. The difference shown is "
    "an association, not the effect of more service: it does not mean that keeping everyone longer "
    "would change the outcome by that much. To get closer to an effect, compare like with like "
    "(similar need, household and referral source) or follow a practice change over time "
    "(the cohort-trend topic)."
)


def duration_bands(cutoff_months: int) -> tuple[list[float], list[str]]:
    """Band edges (months) that always include the cutoff, so every band lies on one side of
    the split, and their labels ("under 1 month", "1-3 months", ..., "12+ months")."""
    edges = sorted({*DURATION_EDGES, cutoff_months})
    labels = [f"under {edges[1]} month{'s' if edges[1] > 1 else ''}"]
    labels += [f"{lo}-{hi} months" for lo, hi in zip(edges[1:], edges[2:], strict=False)]
    labels.append(f"{edges[-1]}+ months")
    return [*edges, math.inf], labels


def duration_outcome(
    ctx: DeepDiveContext, metric: str | None = None, cutoff_months: int = 3, months: int = 12
) -> TopicResult:
    """Outcome rate by time in service, split at ``cutoff_months``; always with the selection
    caution, because the comparison invites a causal reading it cannot support."""
    check_choice("window (months)", months, WINDOW_CHOICES)
    check_choice("cutoff (months)", cutoff_months, CUTOFF_CHOICES)
    mid, m = ctx_metric(ctx, "duration_outcome", metric)
    if m.kind != "rate":
        raise MetricError(
            f"Duration vs outcome needs a rate metric; {mid!r} is a {m.kind}. "
            f"Pick one of: {', '.join(k for k, v in ctx.program.metrics.items() if v.kind == 'rate')}."
        )
    eps = ctx.episodes
    if "months_of_service" in eps and eps["months_of_service"].notna().any():
        source, per_month, dur_label = "months_of_service", 1.0, "months of service"
    else:
        source, per_month, dur_label = "length_of_stay_days", DAYS_PER_MONTH, "length of stay"
    edges, labels = duration_bands(cutoff_months)
    long_, short = (
        f"{cutoff_months}+ months",
        f"under {cutoff_months} month{'s' if cutoff_months > 1 else ''}",
    )
    # time in service as two ad-hoc breakdowns of the engine's cells: bands, and the split
    band_bins = [e * per_month for e in edges[:-1]]
    side_bins = [0.0, cutoff_months * per_month]
    breakdowns = {
        BANDS: Dimension(label="Time in service", column=BANDS, source=source, bins=band_bins),
        SIDES: Dimension(label="Time in service", column=SIDES, source=source, bins=side_bins),
    }
    names = {
        BANDS: dict(zip(em.band_labels(band_bins), labels, strict=True)),
        SIDES: dict(zip(em.band_labels(side_bins), [short, long_], strict=True)),
    }
    cells = engine_cells(
        ctx,
        em.trailing_window(ctx.period, months, "window"),
        [mid],
        providers=[ctx.provider_id, ALL],
        breakdowns=breakdowns,
    )
    cells = cells[cells["dimension"].isin(list(breakdowns))].copy()
    cells["group"] = [
        names[d].get(g, "") for d, g in zip(cells["dimension"], cells["group"], strict=True)
    ]
    cells = cells[cells["group"] != ""]  # "Not recorded" (no time in service): not shown
    own = cells["provider_id"] == ctx.provider_id
    if not own.any():
        raise MetricError(
            f"{ctx.provider_name}: no {m.denominator_label or 'cases'} for {m.label} in the "
            f"{months} months to {ctx.period}."
        )
    cells["scope"] = np.where(
        cells["dimension"] == BANDS, "band", np.where(own, "provider", "all providers")
    )
    cells = cells[own | (cells["dimension"] == SIDES)]
    cells["order"] = cells["group"].map({lab: i for i, lab in enumerate([*labels, long_, short])})
    cells["scope_order"] = cells["scope"].map({"band": 0, "provider": 1, "all providers": 2})
    keep = [c for c in ("numerator", "denominator", "value", "ci_low", "ci_high") if c in cells]
    table = (
        cells.sort_values(["scope_order", "order"])[
            ["group", "scope", *keep, "cell_size", "suppressed"]
        ]
    ).reset_index(drop=True)
    findings = [
        _split_sentence(table, scope, who, m, long_, short, dur_label, ctx.threshold)
        for scope, who in (("provider", ctx.provider_name), ("all providers", "All providers"))
    ]
    names = {
        "band": ctx.provider_name,
        "provider": ctx.provider_name,
        "all providers": "All providers",
    }
    show = pd.DataFrame(
        {
            "Time in service": table["group"],
            "Who": table["scope"].map(names),
            "Cases": table.apply(n_cell, axis=1),
            m.label: table.apply(value_cell, axis=1, metric=m),
            "95% interval": table.apply(ci_cell, axis=1, metric=m),
        }
    )
    band_rows = table[table["scope"] == "band"].assign(flagged=False)
    chart = charts.equity_chart(
        band_rows[["group", "value", "ci_low", "ci_high", "suppressed", "flagged"]],
        title=f"{m.label} by {dur_label}, {months} months to {month_label(ctx.period)}",
        fmt=m.format,
    )
    method = (
        f"{m.definition} Population: {m.denominator_label or 'cases'} in the {months} months to "
        f"{month_label(ctx.period)}; time in service is {dur_label} in months"
        + ("." if dur_label == "months of service" else f" (days / {DAYS_PER_MONTH}).")
    )
    item = roadmap_item(ctx.program, ctx.period, "duration_outcome")
    return TopicResult(
        "duration_outcome",
        f"Time in service and {m.label.lower()}: {ctx.provider_name}",
        item.question
        if item and item.metric == mid
        else f"Do people with {long_} of service have better outcomes?",
        findings,
        show,
        table,
        [chart],
        method,
        SELECTION_CAUTION,
        ctx.audience,
        metric_id=mid,
    )


def _split_sentence(
    table: pd.DataFrame,
    scope: str,
    who: str,
    m: Metric,
    long_: str,
    short: str,
    dur_label: str,
    threshold: int,
) -> str:
    s = table[table["scope"] == scope].set_index("group")
    if not {long_, short} <= set(s.index) or s.loc[[long_, short], "suppressed"].any():
        return (
            f"{who}: one side of the split at {long_} has fewer than {threshold} cases; "
            "no comparison is shown."
        )
    a, b = s.loc[long_], s.loc[short]
    d, low, high = rate_difference(a, b)
    return (
        f"{who}: {m.label.lower()} was {text.value(a['value'], m.format, m.unit)} for those with {long_} "
        f"{'of service' if dur_label == 'months of service' else 'in the program'} "
        f"(n={text.count(a['denominator'])}) and {text.value(b['value'], m.format, m.unit)} for those with {short} "
        f"(n={text.count(b['denominator'])}), a difference of {text.signed(d, 'percent')} "
        f"(95% interval {text.signed_range(low, high, 'percent')})."
    )


# -- dispatch ----------------------------------------------------------------------------------------------
TOPIC_FUNCTIONS = {
    "disparity": disparity,
    "duration_outcome": duration_outcome,
    "referral_funnel": referral_funnel,
    "cohort_trend": cohort_trend,
    "peer_comparison": peer_comparison,
}


def topic_for(ctx: DeepDiveContext, topic: str | None = None) -> str:
    """The topic to run: the one given, else the period's roadmap topic."""
    topic = topic or (
        ctx.program.roadmap[ctx.period].topic if ctx.period in ctx.program.roadmap else None
    )
    if topic is None:
        raise ConfigError(
            f"No roadmap topic for {ctx.period}; pass topic= one of {', '.join(TOPICS)}."
        )
    if topic not in TOPIC_FUNCTIONS:
        raise UnknownIdError("topic", topic, list(TOPICS))
    return topic


def title(ctx: DeepDiveContext, topic: str | None = None) -> Section:
    """The deep dive's own title, naming the provider and the topic (the notebook's first
    output; the context itself is never displayed: it holds the whole program, contract values
    included)."""
    from acm_helpers.meetings.roadmap import TOPIC_NAMES

    topic = topic_for(ctx, topic)
    item = roadmap_item(ctx.program, ctx.period, topic)
    kind = TOPIC_NAMES[topic]
    name = item.title if item is not None and item.title else kind
    audience = "the agency (internal)" if ctx.audience == "internal" else "the provider"
    intro = f"{kind}, with data to {month_label(ctx.period)}; prepared for {audience}."
    if item is not None:
        month = next(m for m, it in ctx.program.roadmap.items() if it is item)
        intro += f" The roadmap's question for {month_label(month)}: {item.question}"
    return Section(f"Deep dive: {ctx.provider_name}, {name}", intro=intro, level=1)


def run(ctx: DeepDiveContext, topic: str | None = None, **options) -> TopicResult:
    """Run one topic by name (default: this period's roadmap topic). Options that are None are
    left to the topic's defaults (the roadmap entry's metric, dimension, change month)."""
    topic = topic_for(ctx, topic)
    opts = {k: v for k, v in options.items() if v is not None and v != ""}
    accepted = list(inspect.signature(TOPIC_FUNCTIONS[topic]).parameters)[1:]
    unknown = sorted(set(opts) - set(accepted))
    if unknown:
        raise ConfigError(f"Topic {topic} takes {', '.join(accepted)}; not {', '.join(unknown)}.")
    return TOPIC_FUNCTIONS[topic](ctx, **opts)


def qualitative_notes(
    ctx: DeepDiveContext, program_path: str | Path | None = None, topic: str | None = None
):
    """Focus-group and interview notes for this deep dive's topic (issue 19), as HTML.

    Where: ``<client_voice.notes_dir>/<program id>/<topic>/*.md`` (program-wide) and
    ``<topic>/<provider id>/*.md`` (this provider's) under the project folder (the
    one path rule, :func:`acm_helpers.store.store.find_program`). Notes are staff's summaries of
    what clients said; a provider-audience deep dive shows only files named ``*.shared.md``
    (the analyst's decision to share), so nothing written for the agency alone reaches a packet.
    """
    from IPython.display import HTML

    from acm_helpers.meetings import voice
    from acm_helpers.store.store import find_program

    topic = topic_for(ctx, topic)
    _, project = find_program(program_path)
    notes = voice.topic_notes(ctx.program, project, topic, ctx.provider_id)
    if ctx.audience != "internal":
        notes = [(name, body) for name, body in notes if name.endswith(".shared.md")]
    return HTML(
        voice.notes_html(notes)
        or "<p><em>No focus-group or interview notes for this topic.</em></p>"
    )
