"""The DuckDB half of the metrics engine: SQL built from the program file, and its evaluation.

Why a module of its own: the SQL text is where the program's declared expressions meet the data,
so everything that builds or runs it is here, in one place to review. The only text placed into
SQL is the program file's own declared expressions (population, numerator, denominator, value)
and its dimension column names (quoted as identifiers) and group labels (quoted as literals);
period bounds come from a registered table, never from formatted strings.
"""

from __future__ import annotations

import functools

import duckdb
import numpy as np
import pandas as pd

from acm_helpers.core.calendar import TRAILING
from acm_helpers.core.config import Metric, Program
from acm_helpers.core.errors import MetricError
from acm_helpers.core.schema import ALL
from acm_helpers.metrics import active as ma
from acm_helpers.metrics import intervals as iv
from acm_helpers.metrics import months as mm
from acm_helpers.metrics.inputs import (  # noqa: F401 - band_labels, dimension_sql re-exported
    NOT_RECORDED,
    _literal,
    band_labels,
    dimension_sql,
    load_episodes,
    period_dimensions,
)
from acm_helpers.metrics.joins import _bind, _shared_joins, _use_shared, person_join, use_latest
from acm_helpers.store.limits import duckdb_connect, out_of_memory
from acm_helpers.store.store import Store


# -- SQL -------------------------------------------------------------------------------------------
def _grouping(dims: list[str], source: str, aggs: str, where: str = "") -> str:
    """SELECT the engine's key columns and ``aggs`` from ``source`` for every grouping set:
    provider x period, program-wide x period, and each with one dimension."""
    dcols = [f"__d{i}" for i in range(len(dims))]
    base = ["__pid"]
    sets = [["provider_id", *base], base]
    for c in dcols:
        sets += [["provider_id", *base, c], [*base, c]]
    gsets = ", ".join("(" + ", ".join(s) + ")" for s in sets)
    dname = " ".join(
        f"WHEN GROUPING({c}) = 0 THEN {_literal(k)}" for c, k in zip(dcols, dims, strict=True)
    )
    gname = " ".join(f"WHEN GROUPING({c}) = 0 THEN {c}::VARCHAR" for c in dcols)
    dim_case = f"CASE {dname} ELSE '' END" if dcols else "''"
    grp_case = f"CASE {gname} ELSE '' END" if dcols else "''"
    return f"""
        SELECT CASE WHEN GROUPING(provider_id) = 1 THEN '{ALL}' ELSE provider_id::VARCHAR END AS provider_id,
               __pid AS pid, {dim_case} AS dimension, {grp_case} AS "group", {aggs}
        FROM {source} {where}
        GROUP BY GROUPING SETS ({gsets})"""


def metric_sql(
    metric: Metric,
    dims: list[str],
    periods: str = "periods",
    ci: bool = True,
    joined: tuple[str, dict[str, str]] | None = None,
    source: str = "ep",
    period_dims: dict[int, str] | None = None,
    latest: str | None = None,
) -> str:
    """The statement that evaluates ``metric`` for every provider x period x group.

    Episodes (table ``source``, default ``ep``, with the dimension columns ``__d0`` ... already
    computed) are joined once to the periods table named ``periods``. Then, by kind:

    - additive kinds (rate, mean, sum_ratio, count of rows): one aggregation to the finest cells
      (provider x period x every dimension), then the grouping sets roll those small sums up;
    - distinct counts: rows whose value occurs once in the period are counted like an additive
      kind; only the few values seen more than once (a client with two episodes in a month) go
      through ``count(DISTINCT)``, which gives the exact distinct count at a fraction of the cost;
    - medians: grouping sets over the joined rows; with ``ci`` the sorted values give the exact
      order statistics of the interval (ranks from the registered ``ranks`` table).

    ``period_dims`` (:func:`acm_helpers.metrics.inputs.period_dimensions`) labels those
    dimensions in the join, with the period's bounds, instead of reading ``ep``'s columns.

    A ``per: person`` metric joins each client's latest episode per provider and period instead
    of every episode (:func:`acm_helpers.metrics.joins.person_join`); the kinds then aggregate
    as above.
    """
    dcols = [f"__d{i}" for i in range(len(dims))]
    labels = period_dims or {}  # labelled per period (unbound :start/:end), else ep's columns
    dsel = "".join(
        f", {labels[i]} AS {c}" if i in labels else f", e.{c}" for i, c in enumerate(dcols)
    )
    kind = metric.kind
    expr = _bind(row_values(metric))
    join = f"""j AS MATERIALIZED (
            SELECT e.provider_id, p.__pid{_bind(dsel)}{expr}
            FROM {source} e
            JOIN {periods} p ON (p.__scope IS NULL OR p.__scope = e.provider_id)
                AND ({_bind(metric.population)}))"""
    if metric.per == "person":
        join = person_join(metric, source, periods, dsel + row_values(metric), latest)
    if joined is not None and kind != "count":
        table, cols = joined  # a shared join (metrics_join.shared_join_sql) holds the rows
        vals = "".join(f", {col} AS {alias}" for alias, col in cols.items())
        join = (
            f"j AS (SELECT provider_id, __pid{''.join(f', {c}' for c in dcols)}{vals} FROM {table})"
        )
    fine_keys = ", ".join(["provider_id", "__pid", *dcols])
    if kind == "median":
        aggs = "count(*) AS _rows, count(__v) AS _n"
        if not ci:
            return f"WITH {join} {_grouping(dims, 'j', aggs + ', median(__v) AS _med')}"
        # one sorted list per cell gives the median and the interval's order statistics
        aggs += ", list(__v ORDER BY __v) FILTER (WHERE __v IS NOT NULL) AS __vs"
        # ranks: exact binomial from the ``ranks`` table, the normal approximation beyond it
        approx = f"CAST(floor(a._n / 2 - {iv.Z95!r} * sqrt(a._n) / 2) AS BIGINT)"
        return f"""WITH {join}, a AS ({_grouping(dims, "j", aggs)}),
            b AS (SELECT a.*, COALESCE(r.lo, {approx}) AS __lo FROM a LEFT JOIN ranks r ON r.n = a._n)
            SELECT b.* EXCLUDE (__vs, __lo),
                   (__vs[(_n + 1) // 2] + __vs[_n // 2 + 1]) / 2.0 AS _med,
                   CASE WHEN __lo >= 1 THEN __vs[__lo] END AS _lo,
                   CASE WHEN __lo >= 1 THEN __vs[_n - __lo + 1] END AS _hi
            FROM b"""
    if kind == "count" and metric.value:
        # only values seen in more than one episode can be counted twice in a cell
        multi = (
            f"multi AS (SELECT ({metric.value}) AS v FROM {source} GROUP BY 1 HAVING count(*) > 1)"
        )
        join = join.replace(
            " AS __v\n", f" AS __v, ({metric.value}) IN (SELECT v FROM multi) AS __m\n", 1
        )
        return f"""WITH {multi}, {join},
            dup AS (SELECT __pid, __v FROM j WHERE __m GROUP BY __pid, __v HAVING count(*) > 1),
            once AS (SELECT * FROM j WHERE __v IS NOT NULL
                     AND NOT EXISTS (SELECT 1 FROM dup d WHERE d.__pid = j.__pid AND d.__v = j.__v)),
            many AS (SELECT * FROM j SEMI JOIN dup USING (__pid, __v)),
            f AS (SELECT {fine_keys}, count(*) AS _c FROM once GROUP BY ALL),
            u AS ({_grouping(dims, "f", "sum(_c) AS _c")}),
            m AS ({_grouping(dims, "many", "count(DISTINCT __v) AS _c")})
            SELECT provider_id, pid, dimension, "group", (COALESCE(u._c, 0) + COALESCE(m._c, 0))::DOUBLE AS _k
            FROM u FULL OUTER JOIN m USING (provider_id, pid, dimension, "group")"""
    fine, rolled = additive_aggregates(kind)
    return f"""WITH {join}, f AS (SELECT {fine_keys}, {fine} FROM j GROUP BY ALL)
        {_grouping(dims, "f", rolled)}"""


def row_values(metric: Metric) -> str:
    """``, <expr> AS __x`` ...: the per-row values a metric's kind aggregates."""
    return {
        "rate": f", CASE WHEN CAST(({metric.numerator}) AS BOOLEAN) THEN 1.0 ELSE 0.0 END AS __x",
        "count": f", ({metric.value}) AS __v" if metric.value else "",
        "mean": f", CAST(({metric.value}) AS DOUBLE) AS __v",
        "median": f", CAST(({metric.value}) AS DOUBLE) AS __v",
        "sum_ratio": (
            f", COALESCE(CAST(({metric.numerator}) AS DOUBLE), 0) AS __x"
            f", COALESCE(CAST(({metric.denominator}) AS DOUBLE), 0) AS __y"
        ),
    }[metric.kind]


def additive_aggregates(kind: str) -> tuple[str, str]:
    """Aggregates of an additive kind over rows (fine cells) and over fine cells (roll-up)."""
    return {
        "rate": (
            "count(*) AS _rows, sum(__x) AS _x",
            "sum(_rows) AS _rows, sum(_rows) AS _n, sum(_x) AS _x",
        ),
        "count": ("count(*) AS _rows", "sum(_rows) AS _rows, sum(_rows)::DOUBLE AS _k"),
        "mean": (
            "count(*) AS _rows, count(__v) AS _n, sum(__v) AS _s, sum(__v * __v) AS _ss",
            "sum(_rows) AS _rows, sum(_n) AS _n, sum(_s) AS _s, sum(_ss) AS _ss",
        ),
        "sum_ratio": (
            "count(*) AS _rows, sum(__x) AS _sx, sum(__y) AS _sy, sum(__x * __x) AS _sxx, "
            "sum(__y * __y) AS _syy, sum(__x * __y) AS _sxy",
            "sum(_rows) AS _rows, sum(_sx) AS _sx, sum(_sy) AS _sy, sum(_sxx) AS _sxx, "
            "sum(_syy) AS _syy, sum(_sxy) AS _sxy",
        ),
    }[kind]


def evaluate(
    program: Program,
    source,
    periods: pd.DataFrame,
    dimensions: list[str] | None = None,
    metrics: list[str] | None = None,
    month_rollup: bool = True,
) -> pd.DataFrame:
    """Raw aggregates per metric x provider x period x group, straight from DuckDB.

    Returns one row per cell with ``metric_id``, ``provider_id``, ``period``, ``grain``,
    ``dimension``, ``group`` and kind-specific statistics (``_rows``, ``_n``, ``_x``, ``_k``,
    ``_s``, ``_ss``, ``_med``, ``_lo``, ``_hi``, ``_sx`` ...); :func:`finish_values` turns them
    into values and intervals.

    Metrics whose populations partition time are evaluated per month and rolled up to every
    whole-month window (:mod:`acm_helpers.metrics.months`), and counts over episodes active in
    the period come from cumulative counts of first and last months
    (:mod:`acm_helpers.metrics.active`); ``month_rollup=False`` sends every metric through the
    episodes x periods join instead (they give the same cells; tests compare them).
    """
    dims = {
        d: program.dimension(d) for d in (program.dimensions if dimensions is None else dimensions)
    }
    mids = list(program.metrics) if metrics is None else [m for m in metrics if program.metric(m)]
    # one integer id per (period, grain): the contract-term windows of different providers (one
    # row each, scoped to that provider) share an id, so "__all__" sums every provider's term
    pid = periods.groupby(["period", "grain"], sort=False).ngroup().astype("int32").to_numpy()
    per = pd.DataFrame(
        {
            "__pid": pid,
            "__start": pd.to_datetime(periods["start"]).dt.date.to_numpy(),
            "__end": pd.to_datetime(periods["end"]).dt.date.to_numpy(),
            "__scope": periods["scope"].to_numpy(),
            "__grain": periods["grain"].to_numpy(),
        }
    )
    labels = pd.DataFrame(
        {"pid": pid, "period": periods["period"].to_numpy(), "grain": periods["grain"].to_numpy()}
    ).drop_duplicates("pid")
    out = {}
    spill = source.root if isinstance(source, Store) else None
    with duckdb_connect(spill) as con:
        try:
            n_episodes = load_episodes(con, source, dims, program)
        except duckdb.OutOfMemoryException as exc:
            raise out_of_memory(exc, f"Loading the episodes of program {program.id}") from None
        trailing = per["__grain"] == TRAILING
        units = mm.units(per) if month_rollup else mm.units(per.iloc[:0])
        rest = ~per["__pid"].isin(units.aligned)
        for name, rows in [
            ("periods", ~trailing),
            ("periods_t12", trailing),
            ("periods_rest", ~trailing & rest),
            ("periods_t12_rest", trailing & rest),
            ("periods_whole", ~trailing & ~rest),
        ]:
            con.register(name, per.loc[rows, ["__pid", "__start", "__end", "__scope"]])
        con.register("months_w", mm.window_table(units, trailing=False))
        con.register("months_t12", mm.window_table(units, trailing=True))
        con.register("months_ab", units.windows.loc[~units.windows["__t12"].astype(bool)])
        rank_lo = _rank_table()["lo"].to_numpy()
        if any(program.metrics[m].kind == "median" for m in mids):
            con.register("ranks", _rank_table().head(min(n_episodes, iv.EXACT_MEDIAN_MAX_N) + 1))
        dates = {
            r[0].lower()
            for r in con.execute("DESCRIBE ep").fetchall()
            if str(r[1]).upper().startswith(("DATE", "TIMESTAMP"))
        }
        parts, spans = {}, {}
        # per-person metrics never roll up from months: a client who left in two months of a
        # quarter is one person in the quarter, so each window is evaluated over its own join
        by_episode = [m for m in mids if program.metrics[m].per == "episode"]
        # breakdowns labelled per period (e.g. HUD's age at the later of the period start and
        # the project start) exist only in each period's own join: no month roll-up either
        pdims = period_dimensions(dims)
        if pdims:
            by_episode = []
        if units.aligned:
            parts = {m: mm.partition(program.metrics[m], dates) for m in by_episode}
            parts = {m: p for m, p in parts.items() if p is not None}
            spans = {m: ma.active(program.metrics[m], dates) for m in by_episode}
            spans = {m: a for m, a in spans.items() if a is not None}
        # metrics over one population run one after the other and read one shared join
        joins = [m for m in mids if m not in parts]
        plan = {} if pdims else _shared_joins(program, joins, list(dims), bool(trailing.any()))
        first = {}
        for mid in mids:
            first.setdefault(program.metrics[mid].population, len(first))
        order = sorted(mids, key=lambda m: first[program.metrics[m].population])
        for pos, mid in enumerate(order):
            metric = program.metrics[mid]
            frame = None
            if mid in parts:
                frame = _by_months(con, metric, list(dims), parts[mid], units, rank_lo, trailing)
            elif mid in spans:
                frame = _by_intervals(con, metric, list(dims), spans[mid], units)
            if frame is None:
                joined = {
                    name: _use_shared(con, plan, name, mid) for name in ("periods", "periods_t12")
                }
                frame = _by_join(con, mid, metric, list(dims), "", joined, trailing.any(), pdims)
                later = {plan.get((name, m), ("",))[0] for name in joined for m in order[pos + 1 :]}
                for use in joined.values():  # free a shared join after its last metric
                    if use is not None and use[0] not in later:
                        con.execute(f"DROP TABLE IF EXISTS {use[0]}")
            out[mid] = frame.assign(metric_id=mid)
    raw = (
        pd.concat([out[m] for m in mids], ignore_index=True)
        .merge(labels, on="pid", how="left")
        .drop(columns="pid")
    )
    for c in ("provider_id", "period", "grain", "dimension", "group", "metric_id"):
        raw[c] = raw[c].astype("str")
    # DuckDB returns groups in any order; a fixed order makes every later step (complementary
    # suppression's tie-breaks included) reproducible
    return raw.sort_values(
        ["metric_id", "grain", "period", "provider_id", "dimension", "group"], ignore_index=True
    )


def _by_join(
    con: duckdb.DuckDBPyConnection,
    mid: str,
    metric: Metric,
    dims: list[str],
    suffix: str,
    joined: dict,
    trailing: bool,
    period_dims: dict[int, str] | None = None,
) -> pd.DataFrame:
    """A metric over the episodes x periods join (tables ``periods{suffix}`` and
    ``periods_t12{suffix}``; ``_rest`` holds the windows that are not whole months).

    ``per: person`` metrics read each client's latest episode from a table shared by the
    metrics of one universe (:func:`acm_helpers.metrics.joins.use_latest`).
    """

    def latest(periods: str) -> str | None:
        return use_latest(con, metric, periods) if metric.per == "person" else None

    try:
        frames = [
            con.execute(
                metric_sql(
                    metric,
                    dims,
                    f"periods{suffix}",
                    joined=joined.get("periods"),
                    period_dims=period_dims,
                    latest=latest(f"periods{suffix}"),
                )
            ).df()
        ]
        # trailing windows: overall rows only, no median interval; counts use the mean of
        # their months instead (flags.add_benchmarks), a 12-month distinct count not being
        # comparable with a month's
        if trailing and metric.kind != "count":
            frames.append(
                con.execute(
                    metric_sql(
                        metric,
                        [],
                        f"periods_t12{suffix}",
                        ci=False,
                        joined=joined.get("periods_t12"),
                        latest=latest(f"periods_t12{suffix}"),
                    )
                ).df()
            )
    except duckdb.OutOfMemoryException as exc:
        raise out_of_memory(exc, f"Metric {mid!r} ({metric.label})") from None
    except duckdb.Error as exc:
        raise MetricError(
            f"Metric {mid!r} ({metric.label}): its SQL failed over the episodes: {exc}. "
            "Check its population/numerator/denominator/value expressions in the program file."
        ) from exc
    return pd.concat(frames, ignore_index=True)


def _by_months(
    con: duckdb.DuckDBPyConnection,
    metric: Metric,
    dims: list[str],
    part: mm.Partition,
    units: mm.Units,
    rank_lo: np.ndarray,
    trailing: pd.Series,
) -> pd.DataFrame | None:
    """A metric whose population partitions time: whole-month windows from month cells, other
    windows over the join. None when the month path cannot run (the caller joins instead, and
    reports any error in the metric's name)."""
    with_t12 = bool(trailing.any()) and metric.kind != "count"
    try:
        if metric.kind == "median":
            frame = mm.median_cells(con, metric, part, units, dims, rank_lo)
            if frame is None:
                return None
            t12 = frame["pid"].isin(units.windows.loc[units.windows["__t12"], "__pid"]).to_numpy()
            if not with_t12:
                frame = frame[~t12]
            else:  # as over the join: trailing windows carry no median interval
                frame.loc[t12, ["_lo", "_hi"]] = np.nan
        else:
            fine, rolled = additive_aggregates(metric.kind)
            sql = mm.rollup_sql(
                part, units, dims, row_values(metric), fine, rolled, _grouping, with_t12
            )
            frame = con.execute(sql).df()
    except duckdb.Error:
        return None
    frames = [frame]
    if con.execute("SELECT count(*) FROM periods_rest").fetchall()[0][0]:
        rest = _by_join(con, "", metric, dims, "_rest", {}, False)
        frames.append(rest)
    if with_t12 and con.execute("SELECT count(*) FROM periods_t12_rest").fetchall()[0][0]:
        t12 = con.execute(metric_sql(metric, [], "periods_t12_rest", ci=False)).df()
        frames.append(t12)
    return pd.concat(frames, ignore_index=True)


def _by_intervals(
    con: duckdb.DuckDBPyConnection,
    metric: Metric,
    dims: list[str],
    span: ma.Active,
    units: mm.Units,
) -> pd.DataFrame | None:
    """A count over episodes active in the period: whole-month windows from cumulative counts
    of first and last months (:mod:`acm_helpers.metrics.active`), values seen in more than one
    episode over the join, other windows over the join. None when this cannot run (the caller
    joins instead, and reports any error in the metric's name)."""
    try:
        if metric.value:
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE __multi AS SELECT ({metric.value}) AS v FROM ep "
                "GROUP BY 1 HAVING count(*) > 1"
            )
        counted = con.execute(ma.count_sql(metric, span, units, dims, _grouping)).df()
        counted = counted.rename(columns={"_c": "_k"})
        # the rest of the population (values seen more than once, first and last month out of
        # order) over the join: the distinct count of those values is not a sum
        value = f"({metric.value}) IS NOT NULL AND " if metric.value else ""
        con.execute(
            "CREATE OR REPLACE TEMP VIEW __ep_rest AS SELECT * FROM ep "
            f"WHERE {value}NOT ({ma.interval_rows(metric, span, units)})"
        )
        joined = con.execute(metric_sql(metric, dims, "periods_whole", source="__ep_rest")).df()
    except duckdb.Error:
        return None
    keys = ["provider_id", "pid", "dimension", "group"]
    both = pd.concat([counted[[*keys, "_k"]], joined[[*keys, "_k"]]], ignore_index=True)
    for col in ("provider_id", "dimension", "group"):
        both[col] = both[col].astype("str")
    frames = [both.groupby(keys, as_index=False, sort=False)["_k"].sum()]
    if con.execute("SELECT count(*) FROM periods_rest").fetchall()[0][0]:
        frames.append(_by_join(con, "", metric, dims, "_rest", {}, False))
    return pd.concat(frames, ignore_index=True)


@functools.cache
def _rank_table() -> pd.DataFrame:
    """Exact order-statistic ranks of the median interval for n = 0 .. EXACT_MEDIAN_MAX_N (once
    per process: the binomial quantiles take a noticeable fraction of a second)."""
    n = np.arange(0, iv.EXACT_MEDIAN_MAX_N + 1)
    lo, hi = iv.median_ranks(n)
    return pd.DataFrame({"n": n, "lo": lo, "hi": hi})
