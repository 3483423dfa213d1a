"""Declared metrics evaluated over arbitrary windows and groups, row by row.

The metrics engine computes each metric per provider, month, quarter, year and term. Deep
dives, before/after views and the case sampler need two things it does not keep: a metric
over a window of the analyst's choosing (the months before a practice change, the last 12
months), and the population rows themselves (which leavers exited to housing, how long each
stayed). Both come from the *same* declared SQL (``population``, ``numerator``, ``value`` ...)
bound to each window's dates, so a number here equals the engine's for the same window.

Pure functions: frames in, frames out. Small-cell suppression for provider audiences is in
:func:`suppress` and applied by the callers before anything is displayed.
"""

from __future__ import annotations

import math
from datetime import date

import duckdb
import numpy as np
import pandas as pd

from acm_helpers.core.calendar import month_range, period_bounds, shift_period
from acm_helpers.core.config import Dimension, Metric, Program
from acm_helpers.core.errors import MetricError
from acm_helpers.metrics import intervals as iv
from acm_helpers.metrics.joins import bind_period
from acm_helpers.metrics.sql import band_labels

Z95 = iv.Z95


# -- windows ----------------------------------------------------------------------------------------
def windows(labels_and_bounds: list[tuple[str, date, date]]) -> pd.DataFrame:
    """A windows frame (``window``, ``start``, ``end``) for :func:`metric_rows`."""
    return pd.DataFrame(labels_and_bounds, columns=["window", "start", "end"])


def month_windows(first: str, last: str) -> pd.DataFrame:
    """One window per month, labelled YYYY-MM."""
    return windows([(p, *period_bounds(p)) for p in month_range(first, last)])


def trailing_window(period: str, months: int, label: str | None = None) -> pd.DataFrame:
    """The ``months`` months ending with ``period`` as one window."""
    first = shift_period(period, -(months - 1))
    return windows(
        [(label or f"{first}..{period}", period_bounds(first)[0], period_bounds(period)[1])]
    )


def split_window(change_month: str, first: str, last: str) -> pd.DataFrame:
    """Two windows: ``before`` (first .. month before change) and ``after`` (change .. last)."""
    before_end = shift_period(change_month, -1)
    out = []
    if first <= before_end:
        out.append(("before", period_bounds(first)[0], period_bounds(before_end)[1]))
    if change_month <= last:
        out.append(("after", period_bounds(change_month)[0], period_bounds(last)[1]))
    return windows(out)


# -- dimensions -------------------------------------------------------------------------------------
def with_dimensions(episodes: pd.DataFrame, program: Program) -> pd.DataFrame:
    """Add binned dimension columns (e.g. ``age_band`` from ``age_at_entry``) when missing."""
    out = episodes
    for dim in program.dimensions.values():
        if dim.column in out.columns or dim.source is None:
            continue
        if out is episodes:
            out = episodes.copy()
        out[dim.column] = _bin(out[dim.source], dim)
    return out


def _bin(values: pd.Series, dim: Dimension) -> pd.Series:
    labels = band_labels(dim.bins)
    edges = [*dim.bins, math.inf]
    cut = pd.cut(
        pd.to_numeric(values, errors="coerce").astype("float64"), edges, right=False, labels=labels
    )
    return cut.astype("string")


# -- rows -------------------------------------------------------------------------------------------
def _bind(sql: str) -> str:
    return bind_period(sql, "_w_start", "_w_end")


def metric_rows(
    episodes: pd.DataFrame, metric: Metric, wins: pd.DataFrame, provider_id: str | None = None
) -> pd.DataFrame:
    """Population rows of a metric in each window, with their contribution.

    Returns the episode columns plus ``window`` and, by kind: ``_num`` (rate: 1.0/0.0;
    sum_ratio: the numerator), ``_den`` (sum_ratio), ``_val`` (mean, median, distinct count).
    An episode in several windows appears once per window.
    """
    eps = episodes if provider_id is None else episodes[episodes["provider_id"] == provider_id]
    w = wins.rename(columns={"window": "_w_label", "start": "_w_start", "end": "_w_end"}).copy()
    w["_w_start"] = pd.to_datetime(w["_w_start"]).dt.date
    w["_w_end"] = pd.to_datetime(w["_w_end"]).dt.date
    extra = {
        "rate": f", CAST(({metric.numerator}) AS DOUBLE) AS _num",
        "sum_ratio": f", CAST(({metric.numerator}) AS DOUBLE) AS _num, CAST(({metric.denominator}) AS DOUBLE) AS _den",
        "mean": f", CAST(({metric.value}) AS DOUBLE) AS _val",
        "median": f", CAST(({metric.value}) AS DOUBLE) AS _val",
        "count": f", ({metric.value}) AS _val" if metric.value else "",
    }[metric.kind]
    sql = (
        f"SELECT e.*, w._w_label AS window{_bind(extra)} FROM eps e JOIN w "
        f"ON ({_bind(metric.population)})"
    )
    with duckdb.connect() as con:
        con.register("eps", eps)
        con.register("w", w)
        try:
            out = con.execute(sql).df()
        except duckdb.Error as exc:
            raise MetricError(
                f"Metric {metric.label!r}: its SQL failed over the episodes "
                f"({exc}). Check the metric's population/numerator in the program file."
            ) from exc
    return out


# -- aggregation --------------------------------------------------------------------------------------
def wilson(x: float, n: float) -> tuple[float, float]:
    """Wilson score 95% interval for x successes of n (NaN, NaN when n is 0): the engine's."""
    lo, hi = iv.wilson([x], [n])
    return (float(lo[0]), float(hi[0]))


def median_ci(values: np.ndarray) -> tuple[float, float]:
    """95% interval for a median from order statistics, with the engine's ranks (exact
    binomial up to ``intervals.EXACT_MEDIAN_MAX_N``), so a deep dive shows the tile's interval."""
    v = np.sort(values[~np.isnan(values)])
    lo, hi = (int(r[0]) for r in iv.median_ranks([len(v)]))
    if lo < 1:
        return (math.nan, math.nan)
    return (float(v[lo - 1]), float(v[hi - 1]))


def summarize(rows: pd.DataFrame, metric: Metric, by: list[str]) -> pd.DataFrame:
    """One row per group of ``by``: numerator, denominator (cases), value, ci_low, ci_high.

    Rates are pooled (sum of successes over cases), never averaged across months.
    """
    records = []
    groups = rows.groupby(by, dropna=False, sort=True) if by else [((), rows)]
    for key, g in groups:
        key = key if isinstance(key, tuple) else (key,)
        rec = dict(zip(by, key, strict=True))
        n = float(len(g))
        if metric.kind == "rate":
            x = float(g["_num"].sum())
            lo, hi = wilson(x, n)
            rec |= {
                "numerator": x,
                "denominator": n,
                "value": x / n if n else math.nan,
                "ci_low": lo,
                "ci_high": hi,
            }
        elif metric.kind == "sum_ratio":
            num, den = float(g["_num"].sum()), float(g["_den"].sum())
            rec |= {
                "numerator": num,
                "denominator": den,
                "value": num / den if den else math.nan,
                "ci_low": math.nan,
                "ci_high": math.nan,
            }
        elif metric.kind == "median":
            vals = g["_val"].to_numpy(dtype="float64", na_value=np.nan)
            lo, hi = median_ci(vals)
            rec |= {
                "numerator": math.nan,
                "denominator": float(np.sum(~np.isnan(vals))),
                "value": float(np.nanmedian(vals)) if np.any(~np.isnan(vals)) else math.nan,
                "ci_low": lo,
                "ci_high": hi,
            }
        elif metric.kind == "mean":
            vals = g["_val"].to_numpy(dtype="float64", na_value=np.nan)
            vals = vals[~np.isnan(vals)]
            m = float(vals.mean()) if len(vals) else math.nan
            se = float(vals.std(ddof=1) / math.sqrt(len(vals))) if len(vals) > 1 else math.nan
            rec |= {
                "numerator": math.nan,
                "denominator": float(len(vals)),
                "value": m,
                "ci_low": m - Z95 * se,
                "ci_high": m + Z95 * se,
            }
        else:  # count
            count = float(g["_val"].nunique()) if "_val" in g else n
            rec |= {
                "numerator": count,
                "denominator": count,
                "value": count,
                "ci_low": math.nan,
                "ci_high": math.nan,
            }
        records.append(rec)
    cols = [*by, "numerator", "denominator", "value", "ci_low", "ci_high"]
    return pd.DataFrame.from_records(records, columns=cols)


def compare_rates(x1: float, n1: float, x2: float, n2: float) -> dict[str, float]:
    """Difference (Newcombe hybrid score interval) and ratio (log interval) of two rates.

    Why these: both behave at small counts and near 0% or 100%, where the plain Wald interval
    can leave [0, 1]; they are what the equity literature reports.
    """
    if not n1 or not n2:
        return {
            "difference": math.nan,
            "diff_low": math.nan,
            "diff_high": math.nan,
            "ratio": math.nan,
            "ratio_low": math.nan,
            "ratio_high": math.nan,
        }
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson(x1, n1)
    l2, u2 = wilson(x2, n2)
    d = p1 - p2
    out = {
        "difference": d,
        "diff_low": d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2),
        "diff_high": d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2),
    }
    if x1 > 0 and x2 > 0:
        se = math.sqrt(1 / x1 - 1 / n1 + 1 / x2 - 1 / n2)
        r = p1 / p2
        out |= {
            "ratio": r,
            "ratio_low": r * math.exp(-Z95 * se),
            "ratio_high": r * math.exp(Z95 * se),
        }
    else:
        out |= {"ratio": math.nan, "ratio_low": math.nan, "ratio_high": math.nan}
    return out


def suppress(
    table: pd.DataFrame,
    threshold: int,
    group_cols: list[str] | None = None,
    value_cols: tuple[str, ...] = ("numerator", "denominator", "value", "ci_low", "ci_high"),
    count_col: str = "denominator",
) -> pd.DataFrame:
    """Null every cell whose case count is under ``threshold``, with complementary suppression.

    Why complementary: a provider packet also shows the overall count, so a single suppressed
    group could be recovered by subtraction. Within each set of rows sharing ``group_cols``
    (e.g. one dimension in one window), if exactly one row is suppressed, the next smallest is
    suppressed too. Adds a ``suppressed`` column.
    """
    out = table.copy()
    small = out[count_col].fillna(0) < threshold
    out["suppressed"] = small
    sets = out.groupby(group_cols, sort=False).groups.values() if group_cols else [out.index]
    for idx in sets:
        block = out.loc[idx]
        if block["suppressed"].sum() == 1 and len(block) > 1:
            nxt = block[~block["suppressed"]][count_col].idxmin()
            out.loc[nxt, "suppressed"] = True
    cols = [c for c in value_cols if c in out.columns]
    out[cols] = out[cols].astype("float64")
    out.loc[out["suppressed"], cols] = np.nan
    return out
