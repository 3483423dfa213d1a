"""The explorer's chart board: trend, peers and breakdown, drawn with no network.

Used by :mod:`acm_helpers.explorer.app`. Two renderers, chosen by ``acm serve`` (env ``ACM_CHARTS``)
and measured against each other by ``benchmarks/bench_voila.py``:

- ``jupyter`` (default): altair's ``JupyterChart`` with ``offline=True`` (anywidget; Vega's
  JavaScript bundled by vl-convert, nothing from a CDN). Vega draws in the browser, so a
  change only sends a new spec.
- ``svg``: static SVG rendered in the kernel by vl-convert, in ``HTML`` widgets (no
  JavaScript at all; the packets' renderer).
"""

from __future__ import annotations

import html
from collections import OrderedDict

import ipywidgets as w

from acm_helpers.core.errors import ConfigError
from acm_helpers.views import charts

PANES = ("trend", "peers", "breakdown")
TRANSFORMER = "acm_records"  # the data transformer the board's charts are converted with
# Each view of the board keeps its own colour scale and legend, placed by that view.
OWN_LEGENDS = {"legend": {"color": "independent"}, "scale": {"color": "independent"}}


class ChartBoard:
    """The explorer's three charts: trend and peers side by side, the breakdown below.

    ``jupyter`` (default): one altair ``JupyterChart`` drawing all three as one Vega-Lite
    concat spec. Its JavaScript (Vega, bundled by vl-convert: ``offline=True``) travels with
    each JupyterChart, so one chart means one 0.9 MB bundle per page instead of three; Vega
    draws in the browser and a change sends only the new spec. ``svg``: three ``HTML`` widgets
    holding SVG rendered in the kernel by vl-convert (no JavaScript at all; slower updates).
    ``benchmarks/bench_voila.py`` measures both.

    Each pane's output is kept per view key (least recently used first out), so going back to
    a view costs nothing and a preheated kernel can render likely views before anyone asks.
    """

    def __init__(self, mode: str = "jupyter", cache_size: int = 192):
        if mode not in ("jupyter", "svg"):
            raise ConfigError(f"Chart mode {mode!r} is not one of: jupyter, svg (env ACM_CHARTS).")
        self.mode, self.cache_size = mode, cache_size
        register_records()
        self._cache: OrderedDict[tuple, tuple[str, object]] = OrderedDict()
        self._shown: dict[str, tuple] = {}
        if mode == "jupyter":
            import altair as alt

            from acm_helpers.explorer import vega_bundle

            vega_bundle.enable_offline()  # Vega from a file bundled once, not per kernel
            self.chart = alt.JupyterChart(None, embed_options={"renderer": "svg", "actions": False})
            self.notes = {p: w.HTML() for p in PANES}
            for name, note in self.notes.items():
                note.add_class(f"acm-{name}")
            self.widget = w.VBox([self.chart, w.HBox(list(self.notes.values()))])
        else:
            self.panes = {p: w.HTML() for p in PANES}
            for name, pane in self.panes.items():
                pane.add_class(f"acm-{name}")
            self.widget = w.VBox(
                [
                    w.HBox(
                        [self.panes["trend"], self.panes["peers"]],
                        layout=w.Layout(flex_flow="row wrap"),
                    ),
                    self.panes["breakdown"],
                ]
            )
        self.widget.add_class("acm-charts")

    def render(self, pane: str, key: tuple, build) -> tuple[str, object]:
        """Output of one pane for view ``key``; ``build()`` gives an altair chart or a sentence."""
        cache_key = (pane, *key)
        hit = self._cache.get(cache_key)
        if hit is not None:
            self._cache.move_to_end(cache_key)
            return hit
        made = build()
        if isinstance(made, str):  # nothing to draw: a plain sentence instead
            out = ("text", f'<div class="acm-empty">{html.escape(made)}</div>')
        else:
            import altair as alt

            # Specs are validated by the chart tests; skipping altair's schema validation here
            # saves ~40 ms per chart on every change.
            with alt.theme.enable(charts.THEME), alt.data_transformers.enable(TRANSFORMER):
                spec = made.to_dict(validate=False)
            out = ("chart", spec if self.mode == "jupyter" else _svg(spec))
        self._cache[cache_key] = out
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return out

    def show(self, views: dict[str, tuple[tuple, object]]) -> None:
        """Show one view per pane: ``{pane: (key, build)}``; unchanged panes are not re-sent."""
        keys = {pane: key for pane, (key, _) in views.items()}
        if keys == self._shown:
            return
        out = {pane: self.render(pane, key, build) for pane, (key, build) in views.items()}
        if self.mode == "svg":
            for pane, (_, payload) in out.items():
                if self._shown.get(pane) != keys[pane]:
                    self.panes[pane].value = payload
        else:
            for pane in PANES:
                kind, payload = out.get(pane, ("text", ""))
                self.notes[pane].value = payload if kind == "text" else ""
            specs = [
                [out[p][1] for p in row if p in out and out[p][0] == "chart"]
                for row in (("trend", "peers"), ("breakdown",))
            ]
            self.chart.spec = compose(specs)
        self._shown = keys


def compose(rows: list[list[dict]]) -> dict | None:
    """One Vega-Lite spec from several: each row side by side (hconcat), rows stacked.

    Why by hand: the parts come from the cache as finished dicts (no altair objects are rebuilt
    on a change); their named datasets are merged at the top, as Vega-Lite requires.
    """
    rows = [row for row in rows if row]
    if not rows:
        return None
    first = rows[0][0]
    config = first.get("config", {})
    # The trend's legend sits right under the trend (each view resolves its own colour legend),
    # not at the top of the whole board nor under the breakdown; rows are not column-aligned
    # (their label widths differ).
    config = {
        **config,
        "legend": {**config.get("legend", {}), "orient": "bottom", "direction": "horizontal"},
    }
    top = {
        "$schema": first.get("$schema"),
        "config": config,
        "datasets": {},
        "spacing": 24,
        "align": "none",
    }
    bodies = []
    for row in rows:
        parts = []
        for spec in row:
            top["datasets"].update(spec.get("datasets", {}))
            parts.append(
                {k: v for k, v in spec.items() if k not in ("$schema", "config", "datasets")}
            )
        bodies.append({"hconcat": parts, "spacing": 40, "resolve": OWN_LEGENDS})
    if len(bodies) == 1:
        row = bodies[0]["hconcat"]
        return {**top, **row[0]} if len(row) == 1 else {**top, **bodies[0]}
    # Each row is its own hconcat, so Vega-Lite does not line the trend's plot area up with
    # the breakdown's (whose long group labels would push the trend to the right).
    return {**top, "vconcat": bodies, "resolve": OWN_LEGENDS}


def register_records() -> None:
    """Register :func:`to_records` as altair's data transformer :data:`TRANSFORMER` (once)."""
    import altair as alt

    if TRANSFORMER not in alt.data_transformers.names():
        alt.data_transformers.register(TRANSFORMER, to_records)


def to_records(data, max_rows: int = 5000) -> dict:
    """Altair's default data transformer, minus its cost: the same ``{"values": [...]}``.

    Why: altair sanitises a frame column by column with pandas (copy, ``astype``, ``where``):
    60% of a chart's conversion to a spec, 85 of 155 ms of kernel CPU per chart, three charts
    per change. The explorer's frames hold only floats, integers, booleans and text (pandas
    ``str`` or Python objects), whose JSON values this builds from plain lists (33 ms per
    chart in all). Any other column type (dates, categories, nullable types, arrays) or frame
    shape goes through altair's own transformer, so the values are always altair's
    (``tests/unit/test_widgets.py`` compares both on every pane of many views).
    """
    import numpy as np
    import pandas as pd
    from altair.utils.data import limit_rows, to_values

    if not isinstance(data, pd.DataFrame):
        return to_values(limit_rows(data, max_rows=max_rows))
    columns = _plain_columns(data, np, pd)
    if columns is None:
        return to_values(limit_rows(data, max_rows=max_rows))
    limit_rows(data, max_rows=max_rows)  # the same MaxRowsError past max_rows
    names = list(data.columns)
    return {"values": [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]}


def _plain_columns(frame, np, pd) -> list[list] | None:
    """Each column as a list of JSON-ready Python values, as altair's sanitiser makes them
    (NaN and infinities None); None when a column is of a kind only altair's code handles."""
    if (
        isinstance(frame.columns, pd.MultiIndex | pd.RangeIndex)
        or isinstance(frame.index, pd.MultiIndex)
        or not frame.columns.is_unique
    ):
        return None
    out = []
    for name, col in frame.items():
        if not isinstance(name, str):
            return None
        kind = col.dtype.kind if isinstance(col.dtype, np.dtype) else ""
        if kind == "f":
            values = col.to_numpy()
            good = np.isfinite(values)
            out.append([v if ok else None for v, ok in zip(values.tolist(), good, strict=True)])
        elif kind in "iub" and kind:
            out.append(col.to_numpy().tolist())
        elif isinstance(col.dtype, pd.StringDtype):  # pandas' text columns ("str")
            out.append(col.to_numpy(dtype=object, na_value=None).tolist())
        elif kind == "O":
            values = col.tolist()
            if not all(v is None or type(v) in _PLAIN for v in values):
                return None
            out.append([None if v is None or v != v else v for v in values])  # v != v: NaN
        else:
            return None
    return out


_PLAIN = (str, int, float, bool)


def _svg(spec: dict) -> str:
    from acm_helpers.views import vega_svg  # text measured with vl-convert's own fonts

    return vega_svg.to_svg(spec)
