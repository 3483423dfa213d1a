"""Shared pieces of the deep-dive topics: the context, the result, audience handling, formats.

Why a separate module: the topics (:mod:`acm_helpers.meetings.deepdive`), the roadmap's before/after
view (:mod:`acm_helpers.meetings.roadmap`), the widgets and the end-of-contract report all need the same
context, the same suppression-by-audience and the same way of writing a number in a sentence.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import altair as alt
import numpy as np
import pandas as pd

from acm_helpers.core import text
from acm_helpers.core.calendar import month_label
from acm_helpers.core.config import Dimension, Metric, Program
from acm_helpers.core.errors import ConfigError, MetricError, UnknownIdError
from acm_helpers.core.schema import ALL
from acm_helpers.metrics import intervals as iv
from acm_helpers.metrics import windows as em
from acm_helpers.store.store import open_store
from acm_helpers.views import charts

TOPICS = ("disparity", "duration_outcome", "referral_funnel", "cohort_trend", "peer_comparison")
WINDOW_CHOICES = (6, 12, 24)
CUTOFF_CHOICES = (1, 2, 3, 6)
Audience = Literal["internal", "provider"]


# -- context and result -------------------------------------------------------------------------
@dataclass(frozen=True)
class DeepDiveContext:
    """What every topic needs: the program, all episodes (with derived columns), whose deep dive
    it is, for which packet period and for which audience."""

    program: Program
    episodes: pd.DataFrame = field(repr=False)
    provider_id: str
    period: str
    audience: Audience = "internal"

    def __post_init__(self) -> None:
        self.program.provider(self.provider_id)
        self.program.check_period(self.period)
        if self.audience not in ("internal", "provider"):
            raise ConfigError(f"audience {self.audience!r}: use internal or provider.")

    @property
    def provider_name(self) -> str:
        return self.program.provider(self.provider_id).name

    @property
    def threshold(self) -> int:
        return self.program.suppression.threshold

    def __repr__(self) -> str:
        # the deep-dive notebook displays the context: a short line, never the whole program
        # (its repr names every provider, which a provider-audience output must not show)
        return f"Deep dive: {self.provider_name}, {self.period} ({self.audience} audience)"

    def with_(self, **changes) -> DeepDiveContext:
        """A copy with another provider, period or audience (the explorer's provider picker)."""
        return replace(self, **changes)


def make_context(
    program: Program,
    episodes: pd.DataFrame,
    provider_id: str,
    period: str,
    audience: Audience = "internal",
) -> DeepDiveContext:
    """Build a context from episodes (adds binned dimension columns such as ``age_band``)."""
    if episodes.empty:
        raise MetricError(f"No episodes for program {program.id}; load data before a deep dive.")
    return DeepDiveContext(
        program, em.with_dimensions(episodes, program), provider_id, period, audience
    )


def open_context(
    program_path: str | Path,
    data_dir: str | Path | None,
    provider_id: str,
    period: str,
    audience: Audience = "internal",
) -> DeepDiveContext:
    """Load the program file and the store's episodes: the deep-dive notebook's first call.

    Paths resolve as in the intake notebook (:func:`acm_helpers.store.store.open_store`).
    """
    program, store = open_store(program_path, data_dir or None)
    return make_context(program, store.episodes(), provider_id, period, audience)


@dataclass
class Section:
    """A titled block of a report or notebook: sentences, charts, tables and a note, rendered as
    self-contained HTML with its own heading (the packet's HTML shows outputs, so an output must
    carry its heading)."""

    title: str
    sentences: list[str] = field(default_factory=list)
    tables: list[pd.DataFrame] = field(default_factory=list)
    charts: list[alt.TopLevelMixin] = field(default_factory=list)
    note: str = ""
    data: pd.DataFrame | None = None
    intro: str = ""
    level: int = 2  # the heading level: 1 for a report's own title, 2 for its sections

    def to_html(self) -> str:
        esc = html.escape
        h = f"h{self.level}"
        parts = [
            f'<section class="acm-section" data-title="{esc(self.title)}"><{h}>{esc(self.title)}</{h}>'
        ]
        if self.intro:
            parts.append(f"<p>{esc(self.intro)}</p>")
        if self.sentences:
            parts.append("<ul>" + "".join(f"<li>{esc(s)}</li>" for s in self.sentences) + "</ul>")
        parts += [f'<div class="acm-chart">{charts.to_svg(c)}</div>' for c in self.charts]
        parts += [
            table_box(t.to_html(index=False, border=0, na_rep="–", classes="acm-table"))
            for t in self.tables
        ]
        if self.note:
            parts.append(f"<p><small>{esc(self.note)}</small></p>")
        return "\n".join(parts) + "</section>"

    def __repr__(self) -> str:  # short: the HTML is the display; keep notebooks and logs tidy
        return f"<Section {self.title}>"

    def _repr_html_(self) -> str:
        return self.to_html()


def table_box(table_html: str) -> str:
    """A table in a box that scrolls sideways, so a wide table (the case files, a peer table with
    context metrics) is never cut off at the page's right edge; cells wrap before it scrolls."""
    return f'<div class="acm-table-box" style="overflow-x:auto">{table_html}</div>'


@dataclass
class TopicResult:
    """A topic's answer: findings in plain sentences, a display table, the numeric data behind
    it (already suppressed for provider audiences), charts, the method and any caution."""

    topic: str
    title: str
    question: str
    findings: list[str]
    table: pd.DataFrame
    data: pd.DataFrame
    charts: list[alt.TopLevelMixin]
    method: str
    caution: str = ""
    audience: Audience = "internal"
    metric_id: str = ""  # the program's ids, listed for analysts who query the same numbers
    dimension_id: str = ""

    def analyst_line(self) -> str:
        """The ids behind the result, for an analyst who reruns or extends it: "For analysts:
        metric ``exits_to_permanent_housing``, dimension ``race_ethnicity``; the numbers are
        ``view.data``." """
        ids = [f"topic <code>{html.escape(self.topic)}</code>"]
        if self.metric_id:
            ids.append(f"metric <code>{html.escape(self.metric_id)}</code>")
        if self.dimension_id:
            ids.append(f"dimension <code>{html.escape(self.dimension_id)}</code>")
        return (
            f'<p class="acm-analysts"><small>For analysts: {", ".join(ids)}; the numbers behind '
            "this section are the result's <code>.data</code> frame (<code>view.data</code> in "
            "the deep-dive notebook).</small></p>"
        )

    def to_html(self) -> str:
        """Self-contained HTML (inline SVG charts, no scripts) for packets and widgets."""
        esc = html.escape
        parts = [
            f'<section class="acm-deepdive" data-topic="{esc(self.topic)}">',
            f"<h2>{esc(self.title)}</h2>",
            f'<p class="question"><em>{esc(self.question)}</em></p>',
            "<ul class='findings'>"
            + "".join(f"<li>{esc(s)}</li>" for s in self.findings)
            + "</ul>",
        ]
        if self.caution:
            parts.append(
                f'<div class="caution" style="border-left:4px solid {charts.FLAG};'
                f'padding:6px 10px;background:#fdf3e7"><strong>Caution.</strong> '
                f"{esc(self.caution)}</div>"
            )
        parts += [f'<div class="acm-chart">{charts.to_svg(c)}</div>' for c in self.charts]
        parts.append(
            table_box(
                self.table.to_html(
                    index=False, escape=True, na_rep="–", border=0, classes="acm-table"
                )
            )
        )
        parts.append(f'<p class="method"><small>{esc(self.method)}</small></p>')
        parts.append(self.analyst_line() + "</section>")
        return "\n".join(parts)

    def __repr__(self) -> str:  # short: the HTML is the display; keep notebooks and logs tidy
        return f"<TopicResult {self.topic}: {self.title}>"

    def _repr_html_(self) -> str:
        return self.to_html()


# -- option resolution ----------------------------------------------------------------------------
def roadmap_item(program: Program, period: str, topic: str):
    """The roadmap entry for ``topic``: this period's if it is that topic, else the latest
    earlier entry of that topic, else None. Why: a deep dive opened in any month defaults to
    the question the roadmap asked."""
    item = program.roadmap.get(period)
    if item is not None and item.topic == topic:
        return item
    earlier = [m for m, it in sorted(program.roadmap.items()) if it.topic == topic and m <= period]
    return program.roadmap[earlier[-1]] if earlier else None


def default_metric(program: Program, topic: str, period: str) -> str:
    item = roadmap_item(program, period, topic)
    if item is not None:
        return item.metric
    if topic == "referral_funnel":
        return funnel_metric_id(program)
    rates = [k for k, m in program.metrics.items() if m.kind == "rate" and m.key]
    return rates[0] if rates else next(iter(program.metrics))


def funnel_metric_id(program: Program) -> str:
    for k, m in program.metrics.items():
        if m.value and "days_referral_to_enrollment" in m.value:
            return k
    raise MetricError(
        f"Program {program.id} declares no metric over days_referral_to_enrollment; "
        "the referral funnel needs one (kind: median, value: days_referral_to_enrollment)."
    )


def check_choice(name: str, value: int, choices: tuple[int, ...]) -> int:
    if value not in choices:
        raise UnknownIdError(name, value, [str(c) for c in choices])
    return value


def ctx_metric(ctx: DeepDiveContext, topic: str, metric: str | None) -> tuple[str, Metric]:
    mid = metric or default_metric(ctx.program, topic, ctx.period)
    return mid, ctx.program.metric(mid)


# -- shared pieces -------------------------------------------------------------------------------


def peer_labels(program: Program, provider_id: str, audience: Audience) -> dict[str, str]:
    """Display names: internal audiences see names; a provider sees its own name and, when the
    program anonymizes peers, the same "Peer A", "Peer B"... labels as in its packets
    (:func:`acm_helpers.metrics.privacy.peer_labels`)."""
    from acm_helpers.metrics import privacy

    names = {p.id: p.name for p in program.providers}
    if audience == "internal" or program.peers.display == "named":
        return names
    return {provider_id: names[provider_id]} | privacy.peer_labels(program, provider_id)


def engine_cells(
    ctx: DeepDiveContext,
    wins: pd.DataFrame,
    metrics: list[str],
    *,
    providers: list[str] | None = None,
    dimensions: list[str] | tuple[str, ...] = (),
    breakdowns: dict[str, Dimension] | None = None,
    extra_metrics: dict[str, Metric] | None = None,
    episodes: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The engine's cells for ``wins`` (:func:`acm_helpers.metrics.windows.window_cells`) as the
    context's audience sees them.

    Why through the engine: every number a deep dive shows is then the engine's number for the
    same window, with its interval and its suppression (iterative, across groups, providers,
    time parents and linked metrics). A provider audience gets suppressed cells nulled and no
    numerators; an internal audience keeps every cell and sees small n (``suppressed`` False).
    """
    out = em.window_cells(
        ctx.program,
        ctx.episodes if episodes is None else episodes,
        wins,
        metrics,
        providers=providers,
        dimensions=dimensions,
        breakdowns=breakdowns,
        extra_metrics=extra_metrics,
        audience=ctx.audience,
    )
    if ctx.audience == "provider":
        return out.drop(columns=["numerator"])
    return out.assign(suppressed=False, suppression_reason="")


def metric_id(program: Program, metric: str | Metric) -> str:
    """The id of a metric given by id or by its definition (callers may hold either)."""
    if isinstance(metric, str):
        program.metric(metric)
        return metric
    for k, m in program.metrics.items():
        if m == metric:
            return k
    raise MetricError(f"Metric {metric.label!r} is not declared in program {program.id}.")


def rate_difference(a: pd.Series, b: pd.Series) -> tuple[float, float, float]:
    """Rate ``a`` minus rate ``b`` (cells with value and denominator) and its Newcombe hybrid
    score 95% interval (:func:`acm_helpers.metrics.intervals.newcombe_difference`)."""
    d, lo, hi = iv.newcombe_difference(
        a["value"] * a["denominator"],
        a["denominator"],
        b["value"] * b["denominator"],
        b["denominator"],
    )
    return float(d), float(lo), float(hi)


def value_cell(row: pd.Series, metric: Metric) -> str:
    """A table's value cell: the metric's format, "suppressed" when the row is hidden."""
    return text.value(
        row["value"], metric.format, metric.unit, suppressed=bool(row.get("suppressed", False))
    )


def cases(row: pd.Series) -> float:
    """The cases behind an engine cell: its denominator, or for a count (no denominator) the
    cell size, which is the count itself."""
    n = row.get("denominator", np.nan)
    return row.get("cell_size", np.nan) if pd.isna(n) else n


def ci_cell(row: pd.Series, metric: Metric) -> str:
    """A table's interval cell: "52% to 68%"; "–" when suppressed or not computable."""
    if row.get("suppressed", False):
        return text.MISSING
    return text.bounds(row["ci_low"], row["ci_high"], metric.format, metric.unit)


def n_cell(row: pd.Series) -> str:
    """A table's case-count cell: "1,234", or "suppressed"."""
    n = cases(row)
    missing = bool(row.get("suppressed", False)) or text.is_missing(n)
    return text.count(n, suppressed=missing)


def trend_with_peers(ctx: DeepDiveContext, m: str | Metric, first: str) -> pd.DataFrame:
    """Monthly values of the provider with the peers' quartiles (for ``charts.trend_chart``).

    Months are the engine's month cells (same values, intervals and suppression as the packet's);
    the quartiles are over the other providers' shown values.
    """
    mid = metric_id(ctx.program, m)
    wins = em.month_windows(first, ctx.period)
    monthly = engine_cells(ctx, wins, [mid], dimensions=())
    monthly = monthly[(monthly["dimension"] == "") & (monthly["provider_id"] != ALL)]
    own = monthly[monthly["provider_id"] == ctx.provider_id]
    peers = monthly[monthly["provider_id"] != ctx.provider_id]
    grouped = peers.groupby("window")["value"]
    q = pd.DataFrame(
        {
            "peer_q1": grouped.quantile(0.25),
            "peer_median": grouped.median(),
            "peer_q3": grouped.quantile(0.75),
        }
    )
    out = pd.DataFrame({"period": wins["window"]})
    out = out.merge(
        own.rename(columns={"window": "period"})[
            ["period", "value", "ci_low", "ci_high", "denominator", "suppressed"]
        ],
        on="period",
        how="left",
    ).merge(q, left_on="period", right_index=True, how="left")
    return out


WHO = "provider_or_peers"  # ad-hoc breakdown of the all-providers row: this provider vs the rest
PEERS = "Peers (all other providers)"


def before_after(
    ctx: DeepDiveContext, m: str | Metric, change: str, first: str, last: str
) -> pd.DataFrame:
    """Pooled values before and after ``change`` for the provider and for its peers together.

    Also the roadmap's before/after view. Both rows are engine cells of the all-providers row
    broken down by an ad-hoc dimension (this provider / every other provider), so the peers'
    pooled value is the engine's and the two are suppressed as siblings of their total.
    ``attrs['sentence']`` states the provider's change, ``attrs['peer_sentence']`` the peers';
    ``attrs['difference']`` and ``attrs['p_value']`` (two-proportion z test, rates only) carry
    the numbers.
    """
    mid = metric_id(ctx.program, m)
    m = ctx.program.metric(mid)
    wins = em.split_window(change, first, last)
    eps = ctx.episodes.assign(
        **{WHO: np.where(ctx.episodes["provider_id"] == ctx.provider_id, "self", "peers")}
    )
    who = Dimension(label="This provider or its peers", column=WHO)
    cells = engine_cells(
        ctx, wins, [mid], providers=[ALL, ctx.provider_id], breakdowns={WHO: who}, episodes=eps
    )
    both = cells[(cells["provider_id"] == ALL) & (cells["dimension"] == WHO)].copy()
    # the provider's own overall cell holds the same number: hidden if either is hidden
    own_hidden = set(
        cells.loc[
            (cells["provider_id"] == ctx.provider_id)
            & (cells["dimension"] == "")
            & cells["suppressed"],
            "window",
        ]
    )
    mask = (both["group"] == "self") & both["window"].isin(own_hidden) & ~both["suppressed"]
    if mask.any():
        both.loc[mask, "suppressed"] = True
        if ctx.audience == "provider":
            both.loc[mask, ["denominator", "value", "ci_low", "ci_high", "cell_size"]] = np.nan
    both["who"] = both["group"].map({"self": ctx.provider_name, "peers": PEERS})
    keep = ["who", "window", *[c for c in ("numerator",) if c in both], "denominator", "value"]
    table = both[[*keep, "ci_low", "ci_high", "cell_size", "suppressed"]].reset_index(drop=True)
    bounds = wins.set_index("window")
    table["start"] = table["window"].map(lambda w: f"{pd.Timestamp(bounds.loc[w, 'start']):%Y-%m}")
    table["end"] = table["window"].map(lambda w: f"{pd.Timestamp(bounds.loc[w, 'end']):%Y-%m}")
    table["months"] = table["start"].map(month_label) + " – " + table["end"].map(month_label)
    table = table.sort_values(
        ["who", "window"],
        key=lambda s: s.map({ctx.provider_name: 0, "before": 0, "after": 1}).fillna(1),
    ).reset_index(drop=True)
    table.attrs["sentence"] = change_sentence(table, ctx.provider_name, m, change)
    table.attrs["peer_sentence"] = change_sentence(table, PEERS, m, change, peers=True)
    own = table[table["who"] == ctx.provider_name].set_index("window")
    if {"before", "after"} <= set(own.index) and not own["suppressed"].any():
        table.attrs["difference"] = float(own.loc["after", "value"] - own.loc["before", "value"])
        if m.kind == "rate":
            table.attrs["p_value"] = two_prop_p(own.loc["after"], own.loc["before"])
    return table


def two_prop_p(a: pd.Series, b: pd.Series) -> float:
    """Two-sided p-value of the pooled two-proportion z test between two rate cells
    (:func:`acm_helpers.metrics.intervals.two_proportion_z`)."""
    return float(
        iv.two_proportion_z(
            a["value"] * a["denominator"],
            a["denominator"],
            b["value"] * b["denominator"],
            b["denominator"],
        )
    )


def change_sentence(
    table: pd.DataFrame, who: str, m: Metric, change: str, peers: bool = False
) -> str:
    s = table[table["who"] == who].set_index("window")
    if not {"before", "after"} <= set(s.index):
        return f"{who}: not enough months on both sides of {month_label(change)} to compare."
    if s["suppressed"].any():
        return f"{who}: fewer than the suppression threshold of cases on one side; no comparison shown."
    b, a = s.loc["before"], s.loc["after"]
    d = a["value"] - b["value"]
    diff = text.signed(d, m.format, m.unit)
    nb, na = (
        ("", "")
        if m.kind == "count"
        else (f" (n={text.count(b['denominator'])})", f" (n={text.count(a['denominator'])})")
    )
    sentence = (
        f"{'Over the same months, peers' if peers else who} went from {text.value(b['value'], m.format, m.unit)}{nb} "
        f"before {month_label(change)} to {text.value(a['value'], m.format, m.unit)}{na} from {month_label(change)} on: {diff}"
    )
    if m.kind == "rate":
        _, low, high = rate_difference(a, b)
        sentence += f" (95% interval {text.signed_range(low, high, 'percent')})"
    return sentence + "."
