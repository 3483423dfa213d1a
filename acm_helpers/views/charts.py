"""Charts: one house theme and pure functions from tidy, already-suppressed frames to ``alt.Chart``.

Why this shape: a chart function that only builds a spec can be tested through ``to_dict()``,
reused by the packets (static SVG), the Voilà explorer (live) and analysts (JupyterLab), and can
never leak a cell the engine suppressed, because it never sees one. Nothing here displays or
saves; :func:`to_svg` turns a chart into inline SVG for offline packets (vl-convert, no browser,
no network).

Input frames are shaped by :mod:`acm_helpers.packets.dashboard` (pure transforms of ``metric_values``);
each function documents the columns it reads.
"""

from __future__ import annotations

import functools

import altair as alt
import pandas as pd
from altair.utils import schemapi

from acm_helpers.core import text
from acm_helpers.core.calendar import shift_period
from acm_helpers.views import svg_spec

THEME = "acm"
FONT = "Liberation Sans, Arial, Helvetica, sans-serif"
INK = "#1f2933"
MUTED = "#6b7785"
ACCENT = "#1f5fa8"  # this provider / the value in focus
PEER = "#b8c2cc"  # other providers, peer bands
TARGET = "#c0392b"  # target lines
FLAG = "#d9822b"  # flagged groups / cells
GOOD = "#2e7d4f"
WIDTH = 560
PEER_BARS = 40  # a peer chart draws a bar per provider up to this many, a strip of ticks past it
HEIGHT = 220


@alt.theme.register(THEME, enable=False)
def acm_theme() -> alt.theme.ThemeConfig:
    """The house theme: quiet greys, one accent colour, readable type for print and screen."""
    return {
        "config": {
            "font": FONT,
            "background": "white",
            "view": {"stroke": None, "continuousWidth": WIDTH, "continuousHeight": HEIGHT},
            "title": {
                "fontSize": 14,
                "fontWeight": "bold",
                "color": INK,
                "anchor": "start",
                "offset": 10,
            },
            "axis": {
                "labelColor": MUTED,
                "titleColor": INK,
                "labelFontSize": 11,
                "titleFontSize": 12,
                "titleFontWeight": "normal",
                "gridColor": "#e6e9ed",
                "domainColor": "#9aa5b1",
                "tickColor": "#9aa5b1",
            },
            "axisX": {"grid": False},
            "legend": {
                "labelColor": INK,
                "titleColor": INK,
                "labelFontSize": 11,
                "titleFontSize": 12,
                "orient": "bottom",
                "direction": "horizontal",
                "symbolSize": 120,
            },
            "range": {"category": [ACCENT, PEER, TARGET, FLAG, GOOD, "#7b61a8", "#3b8ea5"]},
            "line": {"strokeWidth": 2.5},
            "point": {"filled": True, "size": 45},
            "bar": {"cornerRadiusEnd": 2},
            "text": {"font": FONT, "fontSize": 11, "color": INK},
        }
    }


@functools.cache
def _schema_lookup():
    from altair.vegalite.v6.schema import core

    return schemapi._FromDict(core.VegaLiteSchema._default_wrapper_classes())


def _from_dict(cls, dct, validate=True):
    if validate:
        cls.validate(dct)
    return _schema_lookup().from_dict(dct, cls)


def share_schema_lookup(enabled: bool = True) -> None:
    """Build altair's schema-to-class lookup once per process instead of once per channel.

    Why: altair (6.x) rebuilds that lookup, hashing every one of its ~600 schema classes, each
    time a channel is given as a shorthand string or a value (``x="period:O"``,
    ``alt.value(...)``): about 5 ms a channel, some 0.4 s of CPU per packet. The lookup depends
    only on altair's classes, so one shared copy builds the very same objects (the packet
    content test builds a packet both ways and compares). Applied when this module is
    imported; ``enabled=False`` gives altair its own method back; a no-op on an altair
    without that internal.
    """
    from altair.vegalite.v6.schema import core

    shared = "from_dict" in vars(core.VegaLiteSchema)
    if enabled and not shared and hasattr(schemapi, "_FromDict"):
        core.VegaLiteSchema.from_dict = classmethod(_from_dict)
    elif not enabled and shared:
        del core.VegaLiteSchema.from_dict


share_schema_lookup()

_LAYER_PROPS = ("params", "width", "height", "view")  # what altair lifts out of a layer
_QUICK = [True]  # quick_build()


class _Layered(alt.LayerChart):
    """An ``alt.LayerChart`` that is not rebuilt at each copy when there is nothing to merge.

    Why (issue 17): altair's ``LayerChart.__init__`` deep-copies every layer twice (to merge
    selection parameters and drop duplicate ones) and, to hoist a data frame its layers share,
    hashes the frame's printed form; and it runs again at each copy of the chart (each
    ``.properties()``, each ``to_dict()``). About a third of a packet's chart CPU went there,
    although our layers hold no parameters, sizes or facets. Layers like ours are taken as they
    are (a shared frame still goes to the top, as altair puts it); any other layer goes through
    altair's own merge, unchanged.
    """

    def __init__(self, data=alt.Undefined, layer=(), **kwargs):
        layer = list(layer)
        if not (_QUICK[0] and _nothing_to_merge(layer, kwargs)):
            super().__init__(data=data, layer=layer, **kwargs)
            return
        for spec in layer:
            alt.vegalite.v6.api._check_if_valid_subspec(spec, "LayerChart")
        if data is alt.Undefined and layer:
            shared = layer[0]._get("data")
            if shared is not alt.Undefined and all(c._get("data") is shared for c in layer):
                data = shared
                layer = [c.copy(deep=False) for c in layer]
                for c in layer:
                    c.data = alt.Undefined
        super(alt.LayerChart, self).__init__(data=data, layer=layer, **kwargs)


def _nothing_to_merge(layer: list, kwargs: dict) -> bool:
    """True when altair's layer merge would leave these layers as they are: plain charts
    without parameters, sizes, views or facet channels, and no parameters at the top."""
    if kwargs.get("params", alt.Undefined) is not alt.Undefined:
        return False
    for c in layer:
        if type(c) is not alt.Chart:
            return False
        if any(c._get(p) is not alt.Undefined for p in _LAYER_PROPS):
            return False
        enc = c._get("encoding")
        if enc is not alt.Undefined and any(
            enc._get(f) is not alt.Undefined for f in ("row", "column", "facet")
        ):
            return False
    return True


def layer(*layers: alt.Chart, **props) -> alt.LayerChart:
    """``alt.layer(*layers).properties(**props)``, the same chart built with far less CPU
    (:class:`_Layered`). Properties are not validated here: the charts' specs are, in the unit
    tests."""
    if not _QUICK[0]:
        return alt.layer(*layers).properties(**props)
    return _Layered(layer=layers, **props)


def quick_build(enabled: bool = True) -> None:
    """``enabled=False``: build charts altair's own way, with its layer merge and a schema check
    of every object as it is made (the packet content test compares the two ways)."""
    _QUICK[0] = enabled


def _unchecked(build):
    """Run a chart builder without altair's schema check of each object it makes.

    Why (issue 17): altair validates every axis, mark and channel against the Vega-Lite schema
    as it is created: some 40% of building a trend chart. Our builders make the same objects
    for every packet, and their specs are validated whole in the unit tests (``to_dict()``); a
    chart built by hand in a notebook is still checked as it is made.
    """

    @functools.wraps(build)
    def quiet(*args, **kwargs):
        if not _QUICK[0]:
            return build(*args, **kwargs)
        with schemapi.debug_mode(False):
            return build(*args, **kwargs)

    return quiet


def _if(test: str, yes, no, channel=alt.ColorValue):
    """``alt.condition(test, alt.value(yes), alt.value(no))`` as the channel object it becomes.

    Why (issue 17): altair turns a condition given as a dict into its channel class by trying
    the schema's alternatives one validation at a time, about 8 ms each; a peer chart has one.
    """
    return channel(condition={"test": test, "value": yes}, value=no)


def use_theme() -> None:
    """Enable the house theme for charts displayed in this process (notebooks, Voilà)."""
    alt.theme.enable(THEME)


def _check(frame: pd.DataFrame, needed: list[str], what: str) -> None:
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        # A programming error, not a user error: the caller shaped the wrong frame.
        raise ValueError(f"{what}: frame lacks columns {missing}; it has {list(frame.columns)}")


@_unchecked
def trend_chart(
    frame: pd.DataFrame,
    *,
    title: str,
    fmt: str,
    target: float | None = None,
    width: int = WIDTH,
    height: int = HEIGHT,
    series: str = "This provider",
    unit: str | None = None,
    period_title: str = "Month",
) -> alt.LayerChart:
    """Own monthly history against the peers' middle half and the target.

    Args:
        frame: one row per period with ``period`` (YYYY-MM), ``value``, ``ci_low``, ``ci_high``
            (null where suppressed or not computable), and optionally ``peer_q1``,
            ``peer_median``, ``peer_q3`` (the other providers' quartiles that month).
        title: chart title (the metric's label).
        fmt: the metric's format, for the axis.
        target: the metric's target, drawn as a dashed line.
        series: legend name of the line ("This provider", "All providers").
        unit: the value axis's title (:func:`acm_helpers.core.text.axis_title`); default: the
            format's unit ("days", "dollars", "percent").
        period_title: what a period is called in tooltips ("Quarter" for a quarterly trend).

    Months on the axis read "Oct 2026" (the data keeps YYYY-MM, so marks added on the same
    axis line up); the legend names only the series drawn ("Target" only with a target line);
    each mark's screen-reader description is written by :mod:`acm_helpers.core.text`.
    """
    _check(frame, ["period", "value", "ci_low", "ci_high"], "trend_chart")
    data = frame.copy()
    data["period"] = data["period"].astype(str)
    data["month"] = data["period"].map(text.period_short)
    yfmt = text.vega_format(fmt)
    ytitle = _unit_title(fmt, unit)
    x = alt.X(
        "period:O",
        title=None,
        axis=_month_axis(data["period"]),
    )
    own = series
    peers_drawn = {"peer_q1", "peer_q3"} <= set(data.columns) and data["peer_q1"].notna().any()
    drawn = [(own, ACCENT)]
    if peers_drawn:
        drawn.append(("Peers, middle half", PEER))
    if target is not None:
        drawn.append(("Target", TARGET))
    color = alt.Color(
        "series:N",
        title=None,
        scale=alt.Scale(domain=[n for n, _ in drawn], range=[c for _, c in drawn]),
    )
    data["d_value"] = [
        _describe(f"{series}, {m}", "Value", v, fmt, lo, hi)
        for m, v, lo, hi in zip(
            data["month"], data["value"], data["ci_low"], data["ci_high"], strict=True
        )
    ]
    median_drawn = "peer_median" in data.columns and data["peer_median"].notna().any()
    # every description column first, so all layers share one inline dataset
    if peers_drawn:
        data["d_peers"] = [
            f"{m}: peers' middle half {text.bounds(q1, q3, fmt)}"
            for m, q1, q3 in zip(data["month"], data["peer_q1"], data["peer_q3"], strict=True)
        ]
    if median_drawn:
        data["d_median"] = [
            f"{m}: peer median {text.value(v, fmt)}"
            for m, v in zip(data["month"], data["peer_median"], strict=True)
        ]
    base = alt.Chart(data)
    layers = []
    if peers_drawn:
        layers.append(
            base.mark_area(opacity=0.45)
            .encode(
                x=x,
                y=alt.Y("peer_q1:Q", title=ytitle, axis=alt.Axis(format=yfmt)),
                y2="peer_q3:Q",
                color=color,
                description="d_peers:N",
                tooltip=[
                    alt.Tooltip("month:N", title=period_title),
                    alt.Tooltip("peer_q1:Q", title="Peers 25th percentile", format=yfmt),
                    alt.Tooltip("peer_q3:Q", title="Peers 75th percentile", format=yfmt),
                ],
            )
            .transform_calculate(series="'Peers, middle half'")
        )
    if median_drawn:
        layers.append(
            base.mark_line(strokeDash=[2, 2], strokeWidth=1.5, color=MUTED).encode(
                x=x,
                y=alt.Y("peer_median:Q", title=ytitle, axis=alt.Axis(format=yfmt)),
                description="d_median:N",
            )
        )
    # a suppressed month is a gap in the line, never a segment drawn across it
    layers.append(
        base.mark_area(opacity=0.15, color=ACCENT, invalid="break-paths-show-domains").encode(
            x=x,
            y=alt.Y("ci_low:Q", title=ytitle, axis=alt.Axis(format=yfmt)),
            y2="ci_high:Q",
            description="d_value:N",
        )
    )
    layers.append(
        base.mark_line(point=True, invalid="break-paths-show-domains")
        .encode(
            x=x,
            y=alt.Y("value:Q", axis=alt.Axis(format=yfmt), title=ytitle),
            color=color,
            description="d_value:N",
            tooltip=[
                alt.Tooltip("month:N", title=period_title),
                alt.Tooltip("value:Q", title="Value", format=yfmt),
                alt.Tooltip("ci_low:Q", title="95% interval from", format=yfmt),
                alt.Tooltip("ci_high:Q", title="to", format=yfmt),
            ],
        )
        .transform_calculate(series=repr(own))
    )
    if target is not None:
        layers.append(
            alt.Chart(
                pd.DataFrame(
                    {
                        "target": [target],
                        "series": ["Target"],
                        "d": [f"Target {text.value(target, fmt)}"],
                    }
                )
            )
            .mark_rule(strokeDash=[6, 4], strokeWidth=1.5)
            .encode(
                y=alt.Y("target:Q", title=ytitle, axis=alt.Axis(format=yfmt)),
                color=color,
                description="d:N",
            )
        )
    return layer(*layers, title=title, width=width, height=height)


def _month_axis(periods: pd.Series) -> alt.Axis:
    """A month axis that reads "Oct 2026" while its data stays YYYY-MM. Its screen-reader
    summary is off (Vega would write it from the raw YYYY-MM values); the labels read aloud."""
    months = sorted(set(periods.astype(str)))
    return alt.Axis(labelAngle=-45, labelExpr=text.vega_period_labels(months), aria=False)


def _unit_title(fmt: str, unit: str | None) -> str | None:
    """A value axis's title: the caller's, else the format's unit (a percent axis says "percent",
    a days axis "days", a currency axis "dollars"), never none for days or dollars."""
    if unit is not None:
        return unit or None
    return {"percent": "percent", "days": "days", "currency": "dollars"}.get(fmt)


def _describe(who: str, what: str, v, fmt: str, lo=None, hi=None) -> str:
    """A mark's screen-reader description, as the packet's text writes it."""
    if text.is_missing(v):
        return f"{who}: {what.lower()} suppressed or not computed"
    return f"{who}: {what.lower()} {text.interval(v, lo, hi, fmt)}"


@_unchecked
def peer_chart(
    frame: pd.DataFrame,
    *,
    title: str,
    fmt: str,
    target: float | None = None,
    width: int = WIDTH,
    unit: str | None = None,
) -> alt.LayerChart:
    """Every provider's value this period, sorted, the one in focus highlighted.

    Args:
        frame: one row per provider with ``provider`` (display name, already anonymized for
            provider audiences), ``value``, ``ci_low``, ``ci_high`` and ``is_self`` (bool).
            Suppressed providers have a null value and are labelled, not drawn.
        title: chart title.
        fmt: the metric's format.
        target: drawn as a dashed line.
    """
    _check(frame, ["provider", "value", "ci_low", "ci_high", "is_self"], "peer_chart")
    data = frame.copy()
    data["provider"] = data["provider"].astype(str)
    data["is_self"] = data["is_self"].astype(bool)
    if peer_strip(len(data)):
        return _peer_strip(data, title=title, fmt=fmt, target=target, width=width, unit=unit)
    data["shown"] = data["value"].apply(lambda v: "suppressed" if pd.isna(v) else "")
    yfmt = text.vega_format(fmt)
    order = data.sort_values("value", ascending=False, na_position="last")["provider"].tolist()
    layers = _interval_bars(
        data,
        ("provider", "Provider", order),
        yfmt,
        color=_if("datum.is_self", ACCENT, PEER),
        drawn="",
        note=("shown", "!isValid(datum.value)"),
        xtitle=_unit_title(fmt, unit),
        fmt=fmt,
    )
    if target is not None:
        layers.append(_target_rule(target, fmt, _unit_title(fmt, unit)))
    return layer(*layers, title=title, width=width, height=max(22 * len(data), 60))


def peer_strip(n_providers: int) -> bool:
    """Whether :func:`peer_chart` draws ``n_providers`` as a strip of ticks (not a bar each)."""
    return n_providers > PEER_BARS


def _target_rule(target: float, fmt: str, xtitle: str | None) -> alt.Chart:
    """The dashed target line of a horizontal chart, described for screen readers."""
    return (
        alt.Chart(pd.DataFrame({"target": [target], "d": [f"Target {text.value(target, fmt)}"]}))
        .mark_rule(color=TARGET, strokeDash=[6, 4], strokeWidth=1.5)
        .encode(x=alt.X("target:Q", title=xtitle), description="d:N")
    )


def _descriptions(data: pd.DataFrame, column: str, fmt: str) -> list[str]:
    """Each row's screen-reader description: its label, value and interval."""
    return [
        _describe(str(g), "Value", v, fmt, lo, hi)
        for g, v, lo, hi in zip(
            data[column], data["value"], data["ci_low"], data["ci_high"], strict=True
        )
    ]


def _peer_strip(
    data: pd.DataFrame,
    *,
    title: str,
    fmt: str,
    target: float | None,
    width: int,
    unit: str | None,
) -> alt.LayerChart:
    """Many providers: one tick each on one value axis, the provider in focus drawn and named.

    Why not a bar each: past :data:`PEER_BARS` providers the bars made a chart thousands of
    pixels tall that nobody reads (22 px a provider: 22,000 px at 1,000), and drawing their
    labels was most of a packet's time at 200 providers and more. The strip keeps what a
    reader takes from the bars (where the provider in focus sits among the others, and the
    target); the rank line under the chart gives the position in words.
    """
    shown = data[data["value"].notna()]
    hidden = len(data) - len(shown)
    note = f"{len(data):,} providers, a tick each"
    if hidden:
        note += f"; {hidden:,} suppressed (small numbers), not drawn"
    own = data[data["is_self"]]
    if len(own) and own["value"].isna().all():
        note += f"; {own['provider'].iloc[0]}: suppressed"
    yfmt = text.vega_format(fmt)
    xtitle = _unit_title(fmt, unit)
    rows = shown.assign(
        d=_descriptions(shown, "provider", fmt),
        label=[
            f"{g}: {text.value(v, fmt)}"
            for g, v in zip(shown["provider"], shown["value"], strict=True)
        ],
    )
    base = alt.Chart(rows)
    x = alt.X("value:Q", title=xtitle, axis=alt.Axis(format=yfmt))
    tip = [alt.Tooltip("provider:N", title="Provider"), alt.Tooltip("value:Q", format=yfmt)]
    layers = [
        base.mark_tick(color=MUTED, opacity=0.35, thickness=1.5, size=26)
        .encode(x=x, description="d:N", tooltip=tip)
        .transform_filter("!datum.is_self"),
        base.mark_rule(color=INK, opacity=0.6, strokeWidth=2)
        .encode(x=alt.X("ci_low:Q", title=xtitle), x2="ci_high:Q", description="d:N")
        .transform_filter("datum.is_self && isValid(datum.ci_low) && isValid(datum.ci_high)"),
        base.mark_tick(color=ACCENT, thickness=3, size=40)
        .encode(x=x, description="d:N", tooltip=tip)
        .transform_filter("datum.is_self"),
        base.mark_text(dy=-28, color=ACCENT, fontWeight="bold")
        .encode(x=x, text="label:N", description="d:N")
        .transform_filter("datum.is_self"),
    ]
    if target is not None:
        layers.append(_target_rule(target, fmt, xtitle))
    return layer(*layers, title=alt.TitleParams(text=title, subtitle=note), width=width, height=70)


@_unchecked
def equity_chart(
    frame: pd.DataFrame, *, title: str, fmt: str, width: int = WIDTH, unit: str | None = None
) -> alt.LayerChart:
    """One metric by group, with intervals; suppressed groups are written "suppressed".

    Args:
        frame: one row per group with ``group``, ``value``, ``ci_low``, ``ci_high``,
            ``suppressed`` (bool; value and interval are already null) and ``flagged`` (bool: a
            disparity flag against the reference group).
        title: chart title (metric and dimension).
        fmt: the metric's format.
    """
    _check(frame, ["group", "value", "ci_low", "ci_high", "suppressed", "flagged"], "equity_chart")
    data = frame.copy()
    data["group"] = data["group"].astype(str)
    data["suppressed"] = data["suppressed"].astype(bool)
    data["flagged"] = data["flagged"].astype(bool)
    data["note"] = data["suppressed"].map({True: "suppressed (small numbers)", False: ""})
    yfmt = text.vega_format(fmt)
    layers = _interval_bars(
        data,
        ("group", "Group", data["group"].tolist()),
        yfmt,
        color=_if("datum.flagged", FLAG, ACCENT),
        drawn="!datum.suppressed && ",
        note=("note", "datum.suppressed"),
        xtitle=_unit_title(fmt, unit),
        fmt=fmt,
    )
    return layer(*layers, title=title, width=width, height=max(22 * len(data), 60))


def _interval_bars(
    data: pd.DataFrame,
    label: tuple[str, str, list[str]],
    yfmt: str,
    *,
    color,
    drawn: str,
    note: tuple[str, str],
    xtitle: str | None = None,
    fmt: str = "number",
) -> list[alt.Chart]:
    """Horizontal bars of ``value`` with 95% interval rules, and a note where a row is not drawn.

    ``label`` is (column, tooltip title, order of the rows); ``drawn`` a Vega expression prefix
    that must hold for a bar and its interval (``""``: any valid value); ``note`` is (text
    column, when to write it).
    """
    column, heading, order = label
    y = alt.Y(f"{column}:N", sort=order, title=None)
    data = data.assign(d=_descriptions(data, column, fmt))
    base = alt.Chart(data)
    bars = (
        base.mark_bar()
        .encode(
            y=y,
            x=alt.X("value:Q", title=xtitle, axis=alt.Axis(format=yfmt)),
            color=color,
            description="d:N",
            tooltip=[
                alt.Tooltip(f"{column}:N", title=heading),
                alt.Tooltip("value:Q", title="Value", format=yfmt),
            ],
        )
        .transform_filter(f"{drawn}isValid(datum.value)")
    )
    err = (
        base.mark_rule(color=INK, opacity=0.6)
        .encode(y=y, x=alt.X("ci_low:Q", title=xtitle), x2="ci_high:Q", description="d:N")
        .transform_filter(f"{drawn}isValid(datum.ci_low) && isValid(datum.ci_high)")
    )
    notes = (
        base.mark_text(align="left", dx=4, color=MUTED, fontStyle="italic")
        .encode(y=y, x=alt.datum(0), text=f"{note[0]}:N", description="d:N")
        .transform_filter(note[1])
    )
    return [bars, err, notes]


@_unchecked
def disproportionality_chart(
    frame: pd.DataFrame, *, title: str, width: int = WIDTH
) -> alt.LayerChart:
    """Share of people served against the reference population's share, per group.

    Args:
        frame: one row per group with ``group``, ``share_served`` and ``reference_share``
            (0..1; null when suppressed or not configured) and ``flagged`` (bool).
    """
    _check(
        frame, ["group", "share_served", "reference_share", "flagged"], "disproportionality_chart"
    )
    data = frame.copy()
    data["group"] = data["group"].astype(str)
    data["flagged"] = data["flagged"].astype(bool)
    long = data.melt(
        id_vars=["group", "flagged"],
        value_vars=["share_served", "reference_share"],
        var_name="measure",
        value_name="share",
    )
    long["measure"] = long["measure"].map(
        {"share_served": "Served", "reference_share": "Reference population"}
    )
    long["d"] = [
        f"{g}: {m.lower()} {text.value(v, 'percent')}"
        for g, m, v in zip(long["group"], long["measure"], long["share"], strict=True)
    ]
    y = alt.Y("group:N", sort=data["group"].tolist(), title=None)
    base = alt.Chart(long)
    rule = (
        base.mark_rule(color=PEER, strokeWidth=2, aria=False)  # the dots carry the numbers
        .encode(
            y=y,
            x=alt.X(
                "min(share):Q",
                title="share of people",
                axis=alt.Axis(format=text.vega_format("percent")),
            ),
            x2="max(share):Q",
        )
        .transform_filter("isValid(datum.share)")
    )
    dots = (
        base.mark_point(filled=True, size=80)
        .encode(
            y=y,
            x=alt.X(
                "share:Q",
                title="share of people",
                axis=alt.Axis(format=text.vega_format("percent")),
            ),
            description="d:N",
            color=alt.Color(
                "measure:N",
                title=None,
                scale=alt.Scale(domain=["Served", "Reference population"], range=[ACCENT, MUTED]),
            ),
            tooltip=[
                alt.Tooltip("group:N", title="Group"),
                alt.Tooltip("measure:N", title="Share of"),
                alt.Tooltip("share:Q", title="Share", format=text.vega_format("percent")),
            ],
        )
        .transform_filter("isValid(datum.share)")
    )
    return layer(rule, dots, title=title, width=width, height=max(22 * len(data), 60))


@_unchecked
def quality_chart(
    frame: pd.DataFrame, *, title: str = "Completeness of key fields", width: int = WIDTH
) -> alt.LayerChart:
    """Share of rows with each field filled in, against a 95% expectation.

    Args:
        frame: one row per field with ``field`` and ``completeness`` (0..1).
    """
    _check(frame, ["field", "completeness"], "quality_chart")
    data = frame.copy()
    data["field"] = data["field"].astype(str)
    data["ok"] = data["completeness"] >= 0.95
    y = alt.Y("field:N", sort=data["field"].tolist(), title=None)
    bars = (
        alt.Chart(data)
        .mark_bar()
        .encode(
            y=y,
            x=alt.X(
                "completeness:Q",
                title=None,
                scale=alt.Scale(domain=[0, 1]),
                axis=alt.Axis(format=text.vega_format("percent")),
            ),
            color=_if("datum.ok", ACCENT, FLAG),
            tooltip=[
                alt.Tooltip("field:N", title="Field"),
                alt.Tooltip(
                    "completeness:Q", title="Filled in", format=text.vega_format("percent")
                ),
            ],
        )
    )
    rule = (
        alt.Chart(pd.DataFrame({"x": [0.95]}))
        .mark_rule(color=TARGET, strokeDash=[6, 4])
        .encode(x="x:Q")
    )
    return layer(bars, rule, title=title, width=width, height=max(20 * len(data), 60))


@_unchecked
def status_grid(frame: pd.DataFrame, *, title: str, width: int = WIDTH) -> alt.LayerChart:
    """Providers x metrics, each cell coloured by status and labelled with its value.

    Args:
        frame: one row per provider and metric with ``provider``, ``metric`` (label), ``text``
            (the formatted value) and ``status`` ("meets target", "below target", "no target",
            "suppressed"); optionally ``signal`` (``metric_values.spc_signal``), ``letter`` and
            ``variation`` (:func:`acm_helpers.views.spc_icons.variation`): a special cause's
            Making Data Count letter, coloured by improvement or concern, at the cell's corner.
    """
    _check(frame, ["provider", "metric", "text", "status"], "status_grid")
    data = frame.copy()
    for col in ("provider", "metric", "text", "status"):
        data[col] = data[col].astype(str)
    domain = ["meets target", "below target", "no target", "suppressed"]
    base = alt.Chart(data).encode(
        x=alt.X(
            "metric:N",
            title=None,
            sort=list(dict.fromkeys(data["metric"])),
            axis=alt.Axis(orient="top", labelAngle=0, labelLimit=120, labelFontSize=10),
        ),
        y=alt.Y("provider:N", title=None, sort=list(dict.fromkeys(data["provider"]))),
    )
    cells = base.mark_rect(stroke="white", strokeWidth=2).encode(
        color=alt.Color(
            "status:N",
            title=None,
            scale=alt.Scale(domain=domain, range=["#cfe8d9", "#f6d5c8", "#eef1f4", "#f4f4f4"]),
        ),
        tooltip=["provider:N", "metric:N", "text:N", "status:N"],
    )
    labels = base.mark_text(fontSize=11).encode(text="text:N")
    layers = [cells, labels]
    if "letter" in data and data["letter"].astype(str).ne("").any():
        marks = data[data["letter"].astype(str) != ""]
        n_metrics = max(data["metric"].nunique(), 1)
        layers.append(
            alt.Chart(marks)
            .mark_text(fontSize=10, fontWeight="bold", dx=width / n_metrics / 2 - 9, dy=-8)
            .encode(
                x=alt.X("metric:N", sort=list(dict.fromkeys(data["metric"]))),
                y=alt.Y("provider:N", sort=list(dict.fromkeys(data["provider"]))),
                text="letter:N",
                color=alt.Color(
                    "signal:N",
                    legend=None,
                    scale=alt.Scale(
                        domain=["improvement", "concern", "neither"],
                        range=["#289DE0", "#E08E0B", "#361475"],  # orange darkened to read
                    ),
                ),
                tooltip=["provider:N", "metric:N", "variation:N"],
            )
        )
    n_rows = data["provider"].nunique()
    chart = layer(*layers, title=title, width=width, height=30 * max(n_rows, 2))
    # the letters' colours (improvement / concern) are not the cells' (target status)
    return chart.resolve_scale(color="independent") if len(layers) > 2 else chart


def title_of(chart: alt.TopLevelMixin) -> str:
    """A chart's title as plain text ("" for none), to name it in timings and messages."""
    title = getattr(chart, "title", alt.Undefined)
    title = getattr(title, "text", title)
    if title is alt.Undefined or title is None:
        return ""
    return " ".join(title) if isinstance(title, (list, tuple)) else str(title)


def to_svg(chart: alt.TopLevelMixin) -> str:
    """Render a chart to a static SVG string with the house theme, for offline packets.

    vl-convert runs Vega in-process (no browser, no network), so a packet needs no JavaScript.
    The spec is altair's own, built with less CPU (:mod:`acm_helpers.views.svg_spec`).
    """
    from acm_helpers.views import vega_svg

    return vega_svg.to_svg(svg_spec.spec(chart, THEME))


# -- deep-dive charts (owner: meeting-cycle helper; used by acm_helpers.meetings.deepdive and contract) --
@_unchecked
def funnel_chart(frame: pd.DataFrame, *, title: str, width: int = WIDTH) -> alt.LayerChart:
    """Stages of a funnel as bars, first stage on top, each labelled with its count.

    Args:
        frame: one row per stage, in order, with ``stage``, ``count`` (null where suppressed)
            and ``suppressed`` (bool).
    """
    _check(frame, ["stage", "count", "suppressed"], "funnel_chart")
    data = frame.copy()
    data["stage"] = data["stage"].astype(str)
    data["suppressed"] = data["suppressed"].astype(bool)
    data["label"] = [
        text.count(c, suppressed=s) for s, c in zip(data["suppressed"], data["count"], strict=True)
    ]
    y = alt.Y("stage:N", sort=data["stage"].tolist(), title=None, axis=alt.Axis(labelLimit=260))
    base = alt.Chart(data)
    bars = (
        base.mark_bar(color=ACCENT)
        .encode(
            y=y,
            x=alt.X("count:Q", title=None, axis=alt.Axis(format=text.vega_format("count"))),
            tooltip=[
                alt.Tooltip("stage:N", title="Stage"),
                alt.Tooltip("count:Q", title="Count", format=text.vega_format("count")),
            ],
        )
        .transform_filter("isValid(datum.count)")
    )
    labels = (
        base.mark_text(align="left", dx=4, color=INK)
        .encode(y=y, x=alt.X("x:Q"), text="label:N")
        .transform_calculate(x="isValid(datum.count) ? datum.count : 0")
    )
    return layer(bars, labels, title=title, width=width, height=max(26 * len(data), 60))


@_unchecked
def before_after_chart(
    trend: pd.DataFrame,
    levels: pd.DataFrame,
    *,
    change_month: str,
    title: str,
    fmt: str,
    target: float | None = None,
    width: int = WIDTH,
    height: int = HEIGHT,
) -> alt.LayerChart:
    """Monthly history (as :func:`trend_chart`) with the practice-change month marked and the
    pooled level before and after it drawn as flat segments.

    Args:
        trend: as for :func:`trend_chart`.
        levels: one row per side with ``window`` ("before"/"after"), ``value`` (pooled; null
            where suppressed), ``start`` and ``end`` (YYYY-MM, the months it covers).
        change_month: YYYY-MM, drawn as a vertical rule.
    """
    _check(levels, ["window", "value", "start", "end"], "before_after_chart")
    base = trend_chart(trend, title=title, fmt=fmt, target=target, width=width, height=height)
    lv = levels.dropna(subset=["value"]).copy()
    lv["label"] = lv["window"].map({"before": "Before (pooled)", "after": "After (pooled)"})
    x = alt.X("start:O", title=None)
    segs = (
        alt.Chart(lv)
        .mark_rule(color=GOOD, strokeWidth=3, opacity=0.8)
        .encode(
            x=x,
            x2="end:O",
            y=alt.Y("value:Q", axis=alt.Axis(format=text.vega_format(fmt))),
            tooltip=[
                alt.Tooltip("label:N", title=""),
                alt.Tooltip("value:Q", title="Value", format=text.vega_format(fmt)),
            ],
        )
    )
    rule = (
        alt.Chart(
            pd.DataFrame(
                {"period": [change_month], "label": [f"Change: {text.period_short(change_month)}"]}
            )
        )
        .mark_rule(color=FLAG, strokeDash=[4, 3], strokeWidth=2)
        .encode(x="period:O")
    )
    note = (
        alt.Chart(
            pd.DataFrame(
                {"period": [change_month], "label": [f"change {text.period_short(change_month)}"]}
            )
        )
        .mark_text(align="left", dx=4, dy=-4, color=FLAG, baseline="top")
        .encode(x="period:O", y=alt.value(0), text="label:N")
    )
    return layer(*base.layer, segs, rule, note, title=title, width=width, height=height)


@_unchecked
def completeness_chart(
    frame: pd.DataFrame, *, title: str, width: int = WIDTH, height: int = 160
) -> alt.LayerChart:
    """Share of records with each field filled in, per period, one line per field, with the
    95% expectation as a dashed rule (a falling line is the data-quality story to discuss).

    Args:
        frame: one row per period and field with ``period``, ``field`` and ``completeness`` (0..1).
    """
    _check(frame, ["period", "field", "completeness"], "completeness_chart")
    data = frame.copy()
    for col in ("period", "field"):
        data[col] = data[col].astype(str)
    data["d"] = [
        f"{f}, {text.period_short(m)}: {text.value(c, 'percent')} filled in"
        for f, m, c in zip(data["field"], data["period"], data["completeness"], strict=True)
    ]
    lines = (
        alt.Chart(data)
        .mark_line(point=True)
        .encode(
            x=alt.X(
                "period:O",
                title=None,
                axis=_month_axis(data["period"]),
            ),
            y=alt.Y(
                "completeness:Q",
                title="share filled in",
                scale=alt.Scale(domain=[0, 1]),
                axis=alt.Axis(format=text.vega_format("percent")),
            ),
            color=alt.Color("field:N", title=None),
            description="d:N",
            tooltip=[
                alt.Tooltip("period:O", title="Period"),
                alt.Tooltip("field:N", title="Field"),
                alt.Tooltip(
                    "completeness:Q", title="Filled in", format=text.vega_format("percent")
                ),
            ],
        )
    )
    rule = (
        alt.Chart(pd.DataFrame({"y": [0.95]}))
        .mark_rule(color=TARGET, strokeDash=[6, 4])
        .encode(y="y:Q")
    )
    return layer(lines, rule, title=title, width=width, height=height)


# -- trend annotations (owner: print helper): separate layers added to a finished trend chart --------
EVENT = "#5b4b8a"  # practice changes and action-item dates: neither good nor bad news
LAST_YEAR = "Same month last year"


def _x_of(chart: alt.LayerChart) -> alt.X:
    """The x encoding of a trend chart's own line (so added marks share its axis and order)."""
    for layer in chart.layer:
        x = getattr(getattr(layer, "encoding", None), "x", alt.Undefined)
        if x is not alt.Undefined:
            return x
    return alt.X("period:O", title=None)


@_unchecked
def event_marks(chart: alt.LayerChart, events: pd.DataFrame, *, rows: int = 3) -> list[alt.Chart]:
    """Vertical rules with short labels at months where something happened.

    Why: a trend read without its history invites the wrong question ("why did it rise in
    January?") when the answer is on the record (the navigation pilot started, an action item
    was agreed or fell due). Labels are staggered over ``rows`` lines so neighbouring months
    stay readable.

    Args:
        chart: the trend chart the marks go on (its x encoding is reused).
        events: one row per mark with ``period`` (YYYY-MM, inside the chart's months) and
            ``label`` (a few words); optionally ``kind`` (``change`` draws a solid rule,
            anything else dashed).
    """
    _check(events, ["period", "label"], "event_marks")
    if events.empty:
        return []
    data = events.copy()
    data["period"] = data["period"].astype(str)
    data["label"] = data["label"].astype(str)
    if "kind" not in data:
        data["kind"] = "event"
    # one label per month, in date order; the row staggers neighbours vertically
    data = (
        data.groupby("period", as_index=False, sort=True)
        .agg(label=("label", "; ".join), kind=("kind", "first"))
        .reset_index(drop=True)
    )
    data["row"] = [i % rows for i in range(len(data))]
    # what a screen reader says of each mark (the month written out, as on the axis)
    data["d_event"] = [
        f"{text.period_short(p)}: {lab}"
        for p, lab in zip(data["period"], data["label"], strict=True)
    ]
    x = _x_of(chart)
    rule = (
        alt.Chart(data)
        .mark_rule(color=EVENT, strokeWidth=1.2, opacity=0.8)
        .encode(
            x=x,
            strokeDash=_if("datum.kind == 'change'", [1, 0], [3, 3], alt.StrokeDashValue),
            description="d_event:N",
            tooltip=[alt.Tooltip("label:N", title="On record")],
        )
    )
    notes = [
        alt.Chart(data[data["row"] == r])
        .mark_text(align="left", baseline="top", dx=3, dy=2 + 12 * r, fontSize=10, color=EVENT)
        .encode(x=x, y=alt.value(0), text="label:N", description="d_event:N")
        for r in sorted(data["row"].unique())
    ]
    return [rule, *notes]


@_unchecked
def last_year_marks(chart: alt.LayerChart, frame: pd.DataFrame, *, fmt: str) -> list[alt.Chart]:
    """The same month one year earlier, drawn at this month as a hollow diamond with a legend
    entry, so a seasonal rise is not read as a change.

    Args:
        chart: the trend chart the mark goes on (its x encoding is reused).
        frame: rows with ``period`` (where to draw) and ``last_year`` (the engine's
            ``same_month_last_year``; null where suppressed or before the data begins: no mark).
        fmt: the metric's format, for the tooltip.
    """
    _check(frame, ["period", "last_year"], "last_year_marks")
    data = frame.dropna(subset=["last_year"]).copy()
    if data.empty:
        return []
    data["period"] = data["period"].astype(str)
    data["series"] = LAST_YEAR
    data["month"] = data["period"].map(text.period_short)
    data["d_last_year"] = [
        f"{LAST_YEAR} ({text.period_short(shift_period(p, -12))}): {text.value(v, fmt)}"
        for p, v in zip(data["period"], data["last_year"], strict=True)
    ]
    yfmt = text.vega_format(fmt)
    return [
        alt.Chart(data)
        .mark_point(filled=False, size=110, strokeWidth=2, color=MUTED)
        .encode(
            x=_x_of(chart),
            y=alt.Y("last_year:Q", axis=alt.Axis(format=yfmt)),
            shape=alt.Shape(
                "series:N",
                title=None,
                scale=alt.Scale(domain=[LAST_YEAR], range=["diamond"]),
            ),
            description="d_last_year:N",
            tooltip=[
                alt.Tooltip("month:N", title="Month"),
                alt.Tooltip("last_year:Q", title=LAST_YEAR, format=yfmt),
            ],
        )
    ]


@_unchecked
def annotate_trend(
    chart: alt.LayerChart,
    *,
    events: pd.DataFrame | None = None,
    last_year: pd.DataFrame | None = None,
    fmt: str = "number",
) -> alt.LayerChart:
    """A trend chart (:func:`trend_chart`) with its annotations added as extra layers.

    Marks outside the chart's months are dropped: on an ordinal axis they would add months.
    """
    months = _chart_months(chart)
    extra: list[alt.Chart] = []
    if events is not None and not events.empty:
        extra += event_marks(chart, events[events["period"].astype(str).isin(months)])
    if last_year is not None and not last_year.empty:
        extra += last_year_marks(
            chart, last_year[last_year["period"].astype(str).isin(months)], fmt=fmt
        )
    if not extra:
        return chart
    out = chart.copy(deep=False)
    out.layer = [*chart.layer, *extra]
    return out


def _chart_months(chart: alt.LayerChart) -> set[str]:
    """The months a trend chart's data holds (its top-level or first layer's data)."""
    for data in (chart.data, *(getattr(lyr, "data", alt.Undefined) for lyr in chart.layer)):
        if isinstance(data, pd.DataFrame) and "period" in data:
            return set(data["period"].astype(str))
    return set()
