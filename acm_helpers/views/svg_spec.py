"""A chart's Vega-Lite spec for static SVG, built with less CPU and exactly as altair builds it.

Why (issue 17): a provider packet renders ~15 charts, and building their specs
(``chart.to_dict()``) cost about a third of the charts' CPU, most of it in altair's data
serialisation: altair sanitises a layer's data frame once per layer that names it (a trend
chart's four layers share one frame) with a dozen pandas operations per column, then keeps one
copy. Here each frame of a spec is serialised once, and frames whose columns have plain NumPy
dtypes (numbers, booleans, ``str`` and ``object``) are turned into rows with plain Python, the
very values altair's ``sanitize_pandas_dataframe`` + ``to_dict(orient="records")`` give; any
other frame (categories, dates, nullable dtypes, odd column names) goes through altair itself.
The row limit of altair's default data transformer (``MaxRowsError``) still applies, and when
another transformer is active the spec is built by altair alone.

Nothing is cached between specs: the memo lives for one ``to_dict`` call.
"""

from __future__ import annotations

import math

import altair as alt
import numpy as np
import pandas as pd
from altair.utils import data as alt_data
from altair.utils import schemapi

ONCE = "acm-once-per-frame"


def spec(chart: alt.TopLevelMixin, theme: str) -> dict:
    """``chart.to_dict(validate=False)`` under ``theme``, each data frame serialised once.

    Not validated: the charts' specs are validated in the unit tests.
    """
    # not checked piece by piece either: altair's debug mode validates each inline data object
    # it makes while writing the spec (a tenth of a spec's CPU)
    with alt.theme.enable(theme), schemapi.debug_mode(False):
        if alt.data_transformers.active != "default":
            return chart.to_dict(validate=False)
        max_rows = alt.data_transformers.options.get("max_rows", 5000)
        with alt.data_transformers.enable(ONCE, memo={}, max_rows=max_rows):
            return chart.to_dict(validate=False)


def once_per_frame(data, *, memo: dict, max_rows: int | None):
    """altair's default data transformer, computed once per data object of one spec (``memo``
    holds the object too, so its id cannot be reused by another frame while the spec is built)."""
    if id(data) not in memo:
        memo[id(data)] = (data, _to_values(data, max_rows))
    return memo[id(data)][1]


def _to_values(data, max_rows: int | None) -> dict:
    """``{"values": rows}`` as altair's ``limit_rows`` then ``to_values`` give them."""
    frame = isinstance(data, pd.DataFrame)
    if not frame or (max_rows is not None and len(data) > max_rows):
        alt_data.limit_rows(data, max_rows=max_rows)  # raises altair's MaxRowsError
    rows = records(data) if frame else None
    return {"values": rows} if rows is not None else alt_data.to_values(data)


def records(frame: pd.DataFrame) -> list[dict] | None:
    """The rows altair would write for ``frame`` (NaN and infinite floats as None, NumPy scalars
    as Python ones), or None when a column or the frame's shape needs altair's own handling."""
    names = list(frame.columns)
    if (
        not names
        or not frame.columns.is_unique
        or not all(isinstance(n, str) for n in names)
        or isinstance(frame.index, pd.MultiIndex)
    ):
        return None
    columns = []
    for _, col in frame.items():
        values = _column(col)
        if values is None:
            return None
        columns.append(values)
    return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]


def _column(col: pd.Series) -> list | None:
    """One column's values as altair sanitises them, None for a dtype left to altair."""
    dtype = col.dtype
    if str(dtype) in ("str", "string") or dtype == object:  # noqa: E721 - object dtype
        values = col.tolist()
        if any(isinstance(v, (np.generic, np.ndarray)) for v in values):
            return None  # NumPy scalars and arrays in objects: altair converts them
        return [None if null else v for v, null in zip(values, col.isna().tolist(), strict=True)]
    if not isinstance(dtype, np.dtype):
        return None  # extension dtypes: categories, nullable numbers, dates with time zones
    if dtype.kind in "biu":
        return col.tolist()
    if dtype.kind == "f":
        return [v if math.isfinite(v) else None for v in col.tolist()]
    return None  # dates, durations, complex numbers


alt.data_transformers.register(ONCE, once_per_frame)
