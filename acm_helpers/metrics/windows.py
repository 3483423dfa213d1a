"""The metrics engine over windows of the analyst's choosing, and the population rows behind them.

The engine's tables hold each metric per provider and calendar period. Deep dives, before/after
views, the roadmap review, the contract report and the case sampler ask for other windows (the
months before a practice change, the last 12 months, a contract's halves) and other breakdowns
(stay-length bands, the provider against its peers pooled). :func:`window_cells` answers them
with the engine itself: the windows become a periods table for :func:`acm_helpers.metrics.sql.evaluate`,
:func:`acm_helpers.metrics.engine.finish_values` turns the aggregates into values and intervals,
and :func:`acm_helpers.metrics.privacy.suppress` marks the small cells, so a number here is the
engine's number for the same window, with the engine's interval and the engine's suppression.
Ad-hoc breakdowns and populations are declared on the fly (a :class:`Dimension` or a
:class:`Metric` added to a copy of the program) and go through the same SQL.

:func:`metric_rows` lists the population rows themselves (who left to housing, how long each
stayed); it is for internal, client-level tools only (the case sampler), never for a displayed
aggregate.
"""

from __future__ import annotations

import math
import re
from datetime import date

import duckdb
import pandas as pd

from acm_helpers.core.calendar import (
    GRAINS,
    month_range,
    period_bounds,
    quarter_of,
    shift_period,
)
from acm_helpers.core.config import Dimension, Metric, Program
from acm_helpers.core.errors import ConfigError, MetricError, PrivacyError, UnknownIdError
from acm_helpers.core.schema import (
    ALL,
    CELL_NUMBERS,
    DERIVED_COLUMNS,
    EPISODE_COLUMNS,
    LINEAGE_COLUMNS,
)
from acm_helpers.metrics import privacy
from acm_helpers.metrics.engine import finish_values
from acm_helpers.metrics.joins import LATEST_FIRST, PERSON_UNIVERSE, bind_period
from acm_helpers.metrics.periods import periods_table
from acm_helpers.metrics.sql import band_labels, evaluate
from acm_helpers.store.store import Store

WINDOW = "window"  # grain of a window that is not one calendar period
CALENDAR = ("month", "quarter", "year")  # grains a window may claim (see window_cells)
CELL_COLUMNS = [
    "metric_id",
    "provider_id",
    "window",
    "grain",
    "start",
    "end",
    "dimension",
    "group",
    *CELL_NUMBERS,
    "cell_size",
    "suppressed",
    "suppression_reason",
]


# -- windows ----------------------------------------------------------------------------------------
def windows(labels_and_bounds: list[tuple[str, date, date]], grain: str = WINDOW) -> pd.DataFrame:
    """A windows frame (``window``, ``start``, ``end``, ``grain``) for :func:`window_cells`."""
    out = pd.DataFrame(labels_and_bounds, columns=["window", "start", "end"])
    out["grain"] = grain
    return out


def month_windows(first: str, last: str) -> pd.DataFrame:
    """One window per month, labelled YYYY-MM (grain ``month``)."""
    return windows([(p, *period_bounds(p)) for p in month_range(first, last)], "month")


def quarter_windows(first: str, last: str) -> pd.DataFrame:
    """One window per quarter touched by ``first`` .. ``last``, labelled YYYY-Qn and clipped to
    those months (grain ``quarter``; a clipped quarter that is not the engine's quarter is
    evaluated as a plain window, see :func:`window_cells`)."""
    spans: dict[str, list[str]] = {}
    for p in month_range(first, last):
        spans.setdefault(quarter_of(p), []).append(p)
    rows = [(q, period_bounds(ms[0])[0], period_bounds(ms[-1])[1]) for q, ms in spans.items()]
    return windows(rows, "quarter")


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


# -- the engine over windows ----------------------------------------------------------------------------
def declare(
    program: Program,
    dimensions: dict[str, Dimension] | None = None,
    metrics: dict[str, Metric] | None = None,
) -> Program:
    """A copy of the program with ad-hoc dimensions and metrics declared beside its own.

    Why a copy: an ad-hoc breakdown (stay-length bands, the provider against its peers) or
    population (funnel stages) then goes through the engine's SQL, intervals and suppression
    exactly like a configured one, and the program file stays as it is.
    """
    for kind, given, known in (
        ("dimension", dimensions or {}, program.dimensions),
        ("metric", metrics or {}, program.metrics),
    ):
        clash = sorted(set(given) & set(known))
        if clash:
            raise ConfigError(
                f"Ad-hoc {kind} id(s) {', '.join(clash)} are already declared in program "
                f"{program.id}; give the ad-hoc {kind} another id."
            )
    return program.model_copy(
        update={
            "dimensions": {**program.dimensions, **(dimensions or {})},
            "metrics": {**program.metrics, **(metrics or {})},
        }
    )


def window_cells(
    program: Program,
    source: Store | pd.DataFrame,
    wins: pd.DataFrame,
    metrics: list[str],
    *,
    providers: list[str] | None = None,
    dimensions: list[str] | tuple[str, ...] = (),
    breakdowns: dict[str, Dimension] | None = None,
    extra_metrics: dict[str, Metric] | None = None,
    audience: str = "internal",
) -> pd.DataFrame:
    """The engine's cells for arbitrary windows: values, 95% intervals, cell sizes, suppression.

    Args:
        program: the program (metrics, dimensions, suppression rule).
        source: a :class:`Store` or an episodes frame with the derived columns (and any column an
            ad-hoc breakdown reads).
        wins: ``window``, ``start``, ``end`` and optionally ``grain`` (:func:`windows` and the
            builders above). A window of grain month, quarter or year that is exactly the engine's
            period of that label is evaluated together with every calendar period of the program,
            so its suppression is the engine's, time rules included (a month hidden in the packet
            to protect its quarter is hidden here too); any other window is grain ``window``.
        metrics: metric ids (configured or in ``extra_metrics``).
        providers: provider ids and/or ``"__all__"`` to return (default: all of them). Every
            provider is evaluated either way: suppression across providers needs them.
        dimensions: configured dimension ids to break down by (the overall row always comes).
        breakdowns: ad-hoc dimensions (id -> :class:`Dimension`) to break down by as well.
        extra_metrics: ad-hoc metrics (id -> :class:`Metric`) that ``metrics`` may name.
        audience: "internal" keeps every number and marks what the engine suppresses;
            "provider" also nulls the numbers of suppressed cells.

    Returns:
        One row per metric x provider x window x group (``CELL_COLUMNS``); cells without any
        population row are absent. Metrics that share a count with a requested one (linked in
        :mod:`acm_helpers.metrics.privacy`) are evaluated too, so their suppression carries over,
        but not returned.
    """
    if audience not in privacy.AUDIENCES:
        raise PrivacyError(
            f"Unknown audience {audience!r}; use one of: {', '.join(privacy.AUDIENCES)}."
        )
    prog = declare(program, breakdowns, extra_metrics)
    wanted = list(dict.fromkeys(metrics))
    if not wanted:
        raise MetricError("window_cells needs at least one metric id.")
    for mid in wanted:
        prog.metric(mid)
    dims = list(dict.fromkeys([*dimensions, *(breakdowns or {})]))
    for did in dims:
        prog.dimension(did)
    known = {*program.provider_ids, ALL}
    for pid in providers or []:
        if pid not in known:
            raise UnknownIdError("provider", pid, sorted(known))
    table, asked = _periods(prog, wins)
    evaluated = wanted + _linked(prog, wanted, source)
    raw = evaluate(prog, source, table, dims, evaluated)
    if raw.empty:
        return pd.DataFrame(columns=CELL_COLUMNS)
    cells = finish_values(raw, prog).merge(
        table[["period", "grain", "start", "end"]].drop_duplicates(["period", "grain"]),
        on=["period", "grain"],
        how="left",
    )
    cells = privacy.suppress(cells, prog)
    keep = pd.MultiIndex.from_frame(cells[["period", "grain"]]).isin(asked)
    keep &= cells["metric_id"].isin(wanted).to_numpy()
    if providers is not None:
        keep &= cells["provider_id"].isin(providers).to_numpy()
    out = cells[keep]
    if audience == "provider":
        out = privacy.null_suppressed(out)
    out = out.rename(columns={"period": "window"})[CELL_COLUMNS]
    return out.sort_values(
        ["metric_id", "grain", "window", "provider_id", "dimension", "group"], ignore_index=True
    )


def _periods(program: Program, wins: pd.DataFrame) -> tuple[pd.DataFrame, pd.MultiIndex]:
    """The periods table for ``wins`` and the (period, grain) pairs asked for.

    Calendar windows that are the engine's periods bring every calendar period of the program
    with them (months, quarters, years, contract terms), as in :func:`engine.compute`.
    """
    missing = {"window", "start", "end"} - set(wins.columns)
    if missing:
        raise ConfigError(
            f"A windows frame needs columns window, start, end; missing {sorted(missing)}."
        )
    w = wins.copy()
    if "grain" not in w:
        w["grain"] = WINDOW
    w["window"] = w["window"].astype("str")
    w["start"] = pd.to_datetime(w["start"]).dt.date
    w["end"] = pd.to_datetime(w["end"]).dt.date
    bad = sorted(set(w["grain"]) - {WINDOW, *CALENDAR})
    if bad:
        raise ConfigError(f"Window grain(s) {bad}: use {WINDOW} or one of {', '.join(CALENDAR)}.")
    if w.duplicated(["window", "grain"]).any():
        dupes = sorted(w.loc[w.duplicated(["window", "grain"]), "window"])
        raise ConfigError(f"Window labels must be unique; {', '.join(dupes)} appear twice.")
    late = w[w["start"] > w["end"]]
    if len(late):
        raise ConfigError(f"Window {late['window'].iloc[0]!r} ends before it starts.")
    family = periods_table(program, None, GRAINS, trailing=False)
    bounds = family.set_index(["period", "grain"])[["start", "end"]]
    calendar = w["grain"] != WINDOW
    for i in w.index[calendar]:
        key = (w.at[i, "window"], w.at[i, "grain"])
        if key not in bounds.index or tuple(bounds.loc[key]) != (w.at[i, "start"], w.at[i, "end"]):
            w.at[i, "grain"] = WINDOW  # not the engine's period of that label: a plain window
    plain = w[w["grain"] == WINDOW]
    if plain.duplicated("window").any():
        raise ConfigError(
            f"Window labels must be unique; {plain.loc[plain.duplicated('window'), 'window'].iloc[0]!r} "
            "appears twice once calendar periods that are not the engine's are read as windows."
        )
    table = plain.rename(columns={"window": "period"})[["period", "grain", "start", "end"]].assign(
        scope=None
    )
    if (w["grain"] != WINDOW).any():
        table = pd.concat([family[table.columns], table], ignore_index=True)
    table["scope"] = table["scope"].astype("str")
    asked = pd.MultiIndex.from_frame(w[["window", "grain"]])
    return table.reset_index(drop=True), asked


def _linked(program: Program, wanted: list[str], source) -> list[str]:
    """Metrics linked to the wanted ones (they print the same count), that the source can
    evaluate: a linked metric whose input columns the episodes lack has no cells anywhere."""
    group = {m for s in privacy.linked_sets(program) if s & set(wanted) for m in s} - set(wanted)
    if not group:
        return []
    columns = {c.lower() for c in _columns(source)}
    schema = {
        c.lower() for c in [*EPISODE_COLUMNS, *DERIVED_COLUMNS, *LINEAGE_COLUMNS, *program.outcomes]
    }
    out = []
    for mid in sorted(group):
        m = program.metrics[mid]
        text = " ".join(t for t in (m.population, m.numerator, m.denominator, m.value) if t)
        words = {w.lower() for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text)}
        if not (words & schema) - columns:
            out.append(mid)
    return out


def _columns(source) -> list[str]:
    if isinstance(source, pd.DataFrame):
        return list(source.columns)
    if isinstance(source, Store):
        path = source.table_path("episodes")
        if path.is_file():  # its schema, without a DuckDB connection and view (0.04 s)
            import pyarrow.parquet as pq

            return list(pq.read_schema(path).names)
        return list(source.query("SELECT * FROM episodes LIMIT 0").columns)
    raise MetricError(
        f"window_cells needs a Store or an episodes DataFrame, not {type(source).__name__}."
    )


# -- dimension columns for row-level tools ----------------------------------------------------------------
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


# -- rows (internal, client-level tools only) -----------------------------------------------------------
def _bind(sql: str) -> str:
    return bind_period(sql, "_w_start", "_w_end")


def metric_rows(
    episodes: pd.DataFrame, metric: Metric, wins: pd.DataFrame, provider_id: str | None = None
) -> pd.DataFrame:
    """Population rows of a metric in each window, with their contribution to the engine's cell.

    For internal, client-level tools (the case sampler) only: a displayed aggregate comes from
    :func:`window_cells`. Returns the episode columns plus ``window`` and, by kind: ``_num``
    (rate: 1.0/0.0 as the engine counts it; sum_ratio: the numerator), ``_den`` (sum_ratio),
    ``_val`` (mean, median, distinct count). An episode in several windows appears once per
    window. A ``per: person`` metric lists each client's latest episode only, as the engine
    counts it.
    """
    eps = episodes if provider_id is None else episodes[episodes["provider_id"] == provider_id]
    w = wins[["window", "start", "end"]].rename(
        columns={"window": "_w_label", "start": "_w_start", "end": "_w_end"}
    )
    w = w.assign(
        _w_start=pd.to_datetime(w["_w_start"]).dt.date, _w_end=pd.to_datetime(w["_w_end"]).dt.date
    )
    extra = {
        "rate": f", CASE WHEN CAST(({metric.numerator}) AS BOOLEAN) THEN 1.0 ELSE 0.0 END AS _num",
        "sum_ratio": f", COALESCE(CAST(({metric.numerator}) AS DOUBLE), 0) AS _num, "
        f"COALESCE(CAST(({metric.denominator}) AS DOUBLE), 0) AS _den",
        "mean": f", CAST(({metric.value}) AS DOUBLE) AS _val",
        "median": f", CAST(({metric.value}) AS DOUBLE) AS _val",
        "count": f", ({metric.value}) AS _val" if metric.value else "",
    }[metric.kind]
    sql = (
        f"SELECT e.*, w._w_label AS window{_bind(extra)} FROM eps e JOIN w "
        f"ON ({_bind(metric.population)})"
    )
    if metric.per == "person":  # each client's latest episode per provider, as the engine
        order = ", ".join("e." + k for k in LATEST_FIRST.split(", "))
        ranked = (
            f"SELECT e.*, w._w_label AS window, w._w_start, w._w_end, row_number() OVER "
            f"(PARTITION BY w._w_label, e.provider_id, e.client_id ORDER BY {order}) AS __rk "
            f"FROM eps e JOIN w ON ({_bind(metric.universe or PERSON_UNIVERSE)})"
        )
        sql = (
            f"SELECT e.* EXCLUDE (__rk, _w_start, _w_end){_bind(extra)} FROM ({ranked}) e "
            f"WHERE e.__rk = 1 AND ({_bind(metric.population)})"
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
