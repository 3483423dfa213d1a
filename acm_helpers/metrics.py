"""The metrics engine: declared metrics evaluated by DuckDB for every provider, period and group.

A metric is data in the program file (``config.Metric``). For each metric the engine runs ONE SQL
statement: episodes joined to the periods table (:mod:`acm_helpers.periods`; the metric's
``:start``/``:end`` become the period's columns), grouped by provider, period and every
configured dimension at once (``GROUPING SETS``), so program-wide ("__all__") rows, breakdowns,
quarters, years, contract terms and trailing 12-month windows all come from episodes, never from
averaging months. Python then adds intervals (:mod:`acm_helpers.intervals`), suppression
(:mod:`acm_helpers.privacy`), benchmarks and flags (:mod:`acm_helpers.flags`) and the equity
table (:mod:`acm_helpers.equity`).

The only text placed into SQL is the program file's own declared expressions (population,
numerator, denominator, value) and its dimension column names (quoted as identifiers); period
bounds come from a registered table, never from formatted strings.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import NamedTuple

import duckdb
import numpy as np
import pandas as pd

from acm_helpers import flags, privacy
from acm_helpers import intervals as iv
from acm_helpers.config import Dimension, Metric, Program
from acm_helpers.exceptions import MetricError, StoreError
from acm_helpers.periods import GRAINS, TRAILING, periods_table
from acm_helpers.schema import EQUITY_COLUMNS, METRIC_VALUE_COLUMNS, PANDAS_DTYPES
from acm_helpers.store import EPISODES, Store, sha256_file

ALL = "__all__"
NOT_RECORDED = "Not recorded"
ENGINE_VERSION = "1"  # bump when the engine's numbers change for the same inputs
STAT_COLUMNS = ["_rows", "_n", "_x", "_sd", "_se"]  # internal statistics kept for tests/equity


# -- dimensions ------------------------------------------------------------------------------------
def band_labels(bins: list[float]) -> list[str]:
    """Labels of left-closed integer bins: [0, 18, 25] -> "0-17", "18-24", "25+"."""
    edges = [int(b) for b in bins]
    out = [f"{lo}" if hi - lo == 1 else f"{lo}-{hi - 1}" for lo, hi in zip(edges, edges[1:], strict=False)]
    return [*out, f"{edges[-1]}+"]


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def dimension_sql(dim: Dimension) -> str:
    """SQL for a dimension's group label; blanks become "Not recorded" so groups add up."""
    if dim.source is not None and dim.bins is not None:
        src = _ident(dim.source)
        labels = band_labels(dim.bins)
        whens = [f"WHEN {src} IS NULL OR {src} < {float(dim.bins[0])!r} THEN {_literal(NOT_RECORDED)}"]
        whens += [f"WHEN {src} < {float(hi)!r} THEN {_literal(lab)}" for hi, lab in zip(dim.bins[1:], labels, strict=False)]
        return f"CASE {' '.join(whens)} ELSE {_literal(labels[-1])} END"
    col = _ident(dim.column)
    return f"COALESCE(NULLIF(TRIM(CAST({col} AS VARCHAR)), ''), {_literal(NOT_RECORDED)})"


def _bind(sql: str) -> str:
    """Replace ``:start``/``:end`` by the joined period's bounds (``::`` casts are left alone)."""
    return re.sub(r"(?<![:\w]):end\b", "p.__end", re.sub(r"(?<![:\w]):start\b", "p.__start", sql))


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
    dname = " ".join(f"WHEN GROUPING({c}) = 0 THEN {_literal(k)}" for c, k in zip(dcols, dims, strict=True))
    gname = " ".join(f"WHEN GROUPING({c}) = 0 THEN {c}::VARCHAR" for c in dcols)
    dim_case = f"CASE {dname} ELSE '' END" if dcols else "''"
    grp_case = f"CASE {gname} ELSE '' END" if dcols else "''"
    return f"""
        SELECT CASE WHEN GROUPING(provider_id) = 1 THEN '{ALL}' ELSE provider_id::VARCHAR END AS provider_id,
               __pid AS pid, {dim_case} AS dimension, {grp_case} AS "group", {aggs}
        FROM {source} {where}
        GROUP BY GROUPING SETS ({gsets})"""


def metric_sql(metric: Metric, dims: list[str], periods: str = "periods", ci: bool = True) -> str:
    """The statement that evaluates ``metric`` for every provider x period x group.

    Episodes (table ``ep``, with the dimension columns ``__d0`` ... already computed) are joined
    once to the periods table named ``periods``. Then, by kind:

    - additive kinds (rate, mean, sum_ratio, count of rows): one aggregation to the finest cells
      (provider x period x every dimension), then the grouping sets roll those small sums up;
    - distinct counts: rows whose value occurs once in the period are counted like an additive
      kind; only the few values seen more than once (a client with two episodes in a month) go
      through ``count(DISTINCT)``, which gives the exact distinct count at a fraction of the cost;
    - medians: grouping sets over the joined rows; with ``ci`` the sorted values give the exact
      order statistics of the interval (ranks from the registered ``ranks`` table).
    """
    dcols = [f"__d{i}" for i in range(len(dims))]
    dsel = "".join(f", e.{c}" for c in dcols)
    kind = metric.kind
    expr = {
        "rate": f", CASE WHEN CAST(({metric.numerator}) AS BOOLEAN) THEN 1.0 ELSE 0.0 END AS __x",
        "count": f", ({metric.value}) AS __v" if metric.value else "",
        "mean": f", CAST(({metric.value}) AS DOUBLE) AS __v",
        "median": f", CAST(({metric.value}) AS DOUBLE) AS __v",
        "sum_ratio": (f", COALESCE(CAST(({metric.numerator}) AS DOUBLE), 0) AS __x"
                      f", COALESCE(CAST(({metric.denominator}) AS DOUBLE), 0) AS __y"),
    }[kind]
    join = f"""j AS MATERIALIZED (
            SELECT e.provider_id, p.__pid{dsel}{expr}
            FROM ep e
            JOIN {periods} p ON (p.__scope IS NULL OR p.__scope = e.provider_id)
                AND ({_bind(metric.population)}))"""
    fine_keys = ", ".join(["provider_id", "__pid", *dcols])
    if kind == "median":
        aggs = "count(*) AS _rows, count(__v) AS _n"
        if not ci:
            return f"WITH {join} {_grouping(dims, 'j', aggs + ', median(__v) AS _med')}"
        # one sorted list per cell gives the median and the interval's order statistics
        aggs += ", list(__v ORDER BY __v) FILTER (WHERE __v IS NOT NULL) AS __vs"
        # ranks: exact binomial from the ``ranks`` table, the normal approximation beyond it
        approx = f"CAST(floor(a._n / 2 - {iv.Z95!r} * sqrt(a._n) / 2) AS BIGINT)"
        return f"""WITH {join}, a AS ({_grouping(dims, 'j', aggs)}),
            b AS (SELECT a.*, COALESCE(r.lo, {approx}) AS __lo FROM a LEFT JOIN ranks r ON r.n = a._n)
            SELECT b.* EXCLUDE (__vs, __lo),
                   (__vs[(_n + 1) // 2] + __vs[_n // 2 + 1]) / 2.0 AS _med,
                   CASE WHEN __lo >= 1 THEN __vs[__lo] END AS _lo,
                   CASE WHEN __lo >= 1 THEN __vs[_n - __lo + 1] END AS _hi
            FROM b"""
    if kind == "count" and metric.value:
        # only values seen in more than one episode can be counted twice in a cell
        multi = f"multi AS (SELECT ({metric.value}) AS v FROM ep GROUP BY 1 HAVING count(*) > 1)"
        join = join.replace(" AS __v\n", f" AS __v, ({metric.value}) IN (SELECT v FROM multi) AS __m\n", 1)
        return f"""WITH {multi}, {join},
            dup AS (SELECT __pid, __v FROM j WHERE __m GROUP BY __pid, __v HAVING count(*) > 1),
            once AS (SELECT * FROM j WHERE __v IS NOT NULL
                     AND NOT EXISTS (SELECT 1 FROM dup d WHERE d.__pid = j.__pid AND d.__v = j.__v)),
            many AS (SELECT * FROM j SEMI JOIN dup USING (__pid, __v)),
            f AS (SELECT {fine_keys}, count(*) AS _c FROM once GROUP BY ALL),
            u AS ({_grouping(dims, 'f', 'sum(_c) AS _c')}),
            m AS ({_grouping(dims, 'many', 'count(DISTINCT __v) AS _c')})
            SELECT provider_id, pid, dimension, "group", (COALESCE(u._c, 0) + COALESCE(m._c, 0))::DOUBLE AS _k
            FROM u FULL OUTER JOIN m USING (provider_id, pid, dimension, "group")"""
    fine, rolled = {
        "rate": ("count(*) AS _rows, sum(__x) AS _x", "sum(_rows) AS _rows, sum(_rows) AS _n, sum(_x) AS _x"),
        "count": ("count(*) AS _rows", "sum(_rows) AS _rows, sum(_rows)::DOUBLE AS _k"),
        "mean": ("count(*) AS _rows, count(__v) AS _n, sum(__v) AS _s, sum(__v * __v) AS _ss",
                 "sum(_rows) AS _rows, sum(_n) AS _n, sum(_s) AS _s, sum(_ss) AS _ss"),
        "sum_ratio": ("count(*) AS _rows, sum(__x) AS _sx, sum(__y) AS _sy, sum(__x * __x) AS _sxx, "
                      "sum(__y * __y) AS _syy, sum(__x * __y) AS _sxy",
                      "sum(_rows) AS _rows, sum(_sx) AS _sx, sum(_sy) AS _sy, sum(_sxx) AS _sxx, "
                      "sum(_syy) AS _syy, sum(_sxy) AS _sxy"),
    }[kind]
    return f"""WITH {join}, f AS (SELECT {fine_keys}, {fine} FROM j GROUP BY ALL)
        {_grouping(dims, 'f', rolled)}"""


def _load_episodes(con: duckdb.DuckDBPyConnection, source, dims: dict[str, Dimension], program: Program) -> int:
    """Materialize the episodes once as table ``ep`` with the dimension columns ``__d0`` ...

    Why a temporary table: every metric's statement reads it, so the Parquet decode (or pandas
    scan) and the dimension labels are paid once, not once per metric.
    """
    if isinstance(source, Store):
        path = source.table_path(EPISODES)
        if not path.exists():
            raise StoreError(f"{source}: no episodes loaded yet. Run `acm intake FILES --period YYYY-MM` "
                             "(or `acm demo`) before `acm metrics`.")
        con.execute(f"CREATE VIEW episodes AS SELECT * FROM read_parquet({_literal(str(path))})")
    elif isinstance(source, pd.DataFrame):
        if source.empty:
            raise MetricError("The episodes frame is empty: there is nothing to compute metrics from. "
                              "Load submissions first (`acm intake`).")
        con.register("episodes", source)
    else:
        raise MetricError(f"metrics.compute needs a Store or an episodes DataFrame, not {type(source).__name__}.")
    _check_columns(con, dims, program)
    cols = [r[0] for r in con.execute("DESCRIBE episodes").fetchall()]
    used = _used_columns(program, dims, cols)
    # provider and group labels as ENUMs: grouping on small integers instead of strings makes
    # every metric's aggregation about twice as fast
    con.execute("CREATE TYPE __prov AS ENUM (SELECT DISTINCT provider_id FROM episodes "
                "WHERE provider_id IS NOT NULL ORDER BY 1)")
    dsel = []
    for i, d in enumerate(dims.values()):
        con.execute(f"CREATE TYPE __dt{i} AS ENUM (SELECT DISTINCT {dimension_sql(d)} FROM episodes ORDER BY 1)")
        dsel.append(f", ({dimension_sql(d)})::__dt{i} AS __d{i}")
    others = "".join(f", {_ident(c)}" for c in used if c != "provider_id")
    con.execute(f"CREATE TEMP TABLE ep AS SELECT provider_id::__prov AS provider_id{others}{''.join(dsel)} "
                "FROM episodes")
    n = con.execute("SELECT count(*) FROM ep").fetchall()[0][0]
    if not n:
        raise MetricError(f"Program {program.id}: the episodes table has no rows; load submissions first.")
    return int(n)


def evaluate(program: Program, source, periods: pd.DataFrame, dimensions: list[str] | None = None,
             metrics: list[str] | None = None) -> pd.DataFrame:
    """Raw aggregates per metric x provider x period x group, straight from DuckDB.

    Returns one row per cell with ``metric_id``, ``provider_id``, ``period``, ``grain``,
    ``dimension``, ``group`` and kind-specific statistics (``_rows``, ``_n``, ``_x``, ``_k``,
    ``_s``, ``_ss``, ``_med``, ``_lo``, ``_hi``, ``_sx`` ...); :func:`finish_values` turns them
    into values and intervals.
    """
    dims = {d: program.dimension(d) for d in (program.dimensions if dimensions is None else dimensions)}
    mids = list(program.metrics) if metrics is None else [m for m in metrics if program.metric(m)]
    per = pd.DataFrame({"__pid": np.arange(len(periods), dtype="int32"),
                        "__start": pd.to_datetime(periods["start"]).dt.date.to_numpy(),
                        "__end": pd.to_datetime(periods["end"]).dt.date.to_numpy(),
                        "__scope": periods["scope"].to_numpy(), "__grain": periods["grain"].to_numpy()})
    labels = pd.DataFrame({"pid": per["__pid"], "period": periods["period"].to_numpy(),
                           "grain": periods["grain"].to_numpy()})
    out = []
    with duckdb.connect() as con:
        n_episodes = _load_episodes(con, source, dims, program)
        trailing = per["__grain"] == TRAILING
        con.register("periods", per.loc[~trailing, ["__pid", "__start", "__end", "__scope"]])
        con.register("periods_t12", per.loc[trailing, ["__pid", "__start", "__end", "__scope"]])
        if any(program.metrics[m].kind == "median" for m in mids):
            n = np.arange(0, min(n_episodes, iv.EXACT_MEDIAN_MAX_N) + 1)
            lo, hi = iv.median_ranks(n)
            con.register("ranks", pd.DataFrame({"n": n, "lo": lo, "hi": hi}))
        for mid in mids:
            metric = program.metrics[mid]
            try:
                frame = con.execute(metric_sql(metric, list(dims))).df()
                # trailing windows: overall rows only, no median interval; counts use the mean of
                # their months instead (flags.add_benchmarks), a 12-month distinct count not being
                # comparable with a month's
                if trailing.any() and metric.kind != "count":
                    t12 = con.execute(metric_sql(metric, [], "periods_t12", ci=False)).df()
                    frame = pd.concat([frame, t12], ignore_index=True)
            except duckdb.Error as exc:
                raise MetricError(
                    f"Metric {mid!r} ({metric.label}): its SQL failed over the episodes: {exc}. "
                    "Check its population/numerator/denominator/value expressions in the program file."
                ) from exc
            out.append(frame.assign(metric_id=mid))
    raw = pd.concat(out, ignore_index=True).merge(labels, on="pid", how="left").drop(columns="pid")
    for c in ("provider_id", "period", "grain", "dimension", "group", "metric_id"):
        raw[c] = raw[c].astype("str")
    # DuckDB returns groups in any order; a fixed order makes every later step (complementary
    # suppression's tie-breaks included) reproducible
    return raw.sort_values(["metric_id", "grain", "period", "provider_id", "dimension", "group"],
                           ignore_index=True)


def _used_columns(program: Program, dims: dict[str, Dimension], columns: list[str]) -> list[str]:
    """Episode columns the metric expressions and dimensions refer to (the rest is not loaded)."""
    text = " ".join(str(v) for m in program.metrics.values()
                    for v in (m.population, m.numerator, m.denominator, m.value) if v)
    words = {w.lower() for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text)}
    words |= {(d.source or d.column).lower() for d in dims.values()} | {"provider_id"}
    return [c for c in columns if c.lower() in words]


def _check_columns(con: duckdb.DuckDBPyConnection, dims: dict[str, Dimension], program: Program) -> None:
    cols = {r[0] for r in con.execute("DESCRIBE episodes").fetchall()}
    for did, d in dims.items():
        need = d.source if d.source is not None else d.column
        if need not in cols:
            raise MetricError(f"Dimension {did!r} needs episode column {need!r}, which the episodes of "
                              f"program {program.id} do not have. Add it to the submissions or remove the dimension.")
    if "provider_id" not in cols:
        raise MetricError("The episodes have no provider_id column; they are not canonical episodes.")


# -- values and intervals --------------------------------------------------------------------------
def finish_values(raw: pd.DataFrame, program: Program) -> pd.DataFrame:
    """Numerator, denominator, value, 95% interval and cell size from the raw aggregates."""
    parts = []
    for mid, g in raw.groupby("metric_id", sort=False):
        m = program.metrics[mid]
        g = g.copy()
        nan = np.full(len(g), np.nan)
        if m.kind == "rate":
            x, n = g["_x"].to_numpy(float), g["_n"].to_numpy(float)
            lo, hi = iv.wilson(x, n)
            with np.errstate(invalid="ignore", divide="ignore"):
                val = x / n
            g = g.assign(numerator=x, denominator=n, value=val, ci_low=lo, ci_high=hi, cell_size=n,
                         _se=np.sqrt(val * (1 - val) / n), _sd=nan)
        elif m.kind == "count":
            k = g["_k"].to_numpy(float)
            lo, hi = iv.poisson_exact(k)
            g = g.assign(numerator=k, denominator=nan, value=k, ci_low=lo, ci_high=hi, cell_size=k,
                         _rows=k, _n=k, _x=k, _sd=nan, _se=np.sqrt(k))
        elif m.kind == "mean":
            n, s, ss = (g[c].to_numpy(float) for c in ("_n", "_s", "_ss"))
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = np.where(n > 0, s / n, np.nan)
                sd = np.where(n > 1, np.sqrt(np.maximum(ss - n * mean**2, 0) / (n - 1)), np.nan)
            lo, hi = iv.t_interval(mean, sd, n)
            g = g.assign(numerator=s, denominator=n, value=mean, ci_low=lo, ci_high=hi, cell_size=n,
                         _x=s, _sd=sd, _se=sd / np.sqrt(n))
        elif m.kind == "median":
            n = g["_n"].to_numpy(float)
            g = g.assign(numerator=nan, denominator=n, value=g["_med"].to_numpy(float),
                         ci_low=g["_lo"].to_numpy(float) if "_lo" in g else nan,
                         ci_high=g["_hi"].to_numpy(float) if "_hi" in g else nan, cell_size=n,
                         _x=nan, _se=nan)
        else:
            cols = [g[c].to_numpy(float) for c in ("_rows", "_sx", "_sy", "_sxx", "_syy", "_sxy")]
            r, se = iv.ratio_se(*cols)
            g = g.assign(numerator=cols[1], denominator=cols[2], value=r, ci_low=r - iv.Z95 * se,
                         ci_high=r + iv.Z95 * se, cell_size=np.minimum(cols[0], cols[2]),
                         _n=cols[0], _x=cols[1], _sd=nan, _se=se)
        parts.append(g)
    out = pd.concat(parts, ignore_index=True)
    for col in STAT_COLUMNS:
        if col not in out:
            out[col] = np.nan
    keep = ["metric_id", "provider_id", "period", "grain", "dimension", "group", "numerator", "denominator",
            "value", "ci_low", "ci_high", "cell_size", *STAT_COLUMNS]
    return out[keep]


# -- public API ------------------------------------------------------------------------------------
def compute(program: Program, source, periods: list[str] | None = None, grains: tuple[str, ...] = GRAINS,
            dimensions: list[str] | None = None, version: str = "") -> pd.DataFrame:
    """Every declared metric for every provider (and "__all__") x period x group.

    Args:
        program: the program (metrics, dimensions, suppression).
        source: a :class:`Store` (reads ``episodes.parquet`` directly) or an episodes frame with
            the derived columns the metrics use.
        periods: months to report (default all the program's months; benchmarks that look back,
            flags and control charts need the months before, so pass None for packets).
        grains: any of month, quarter, year, term.
        dimensions: dimension ids to break down by (default: all configured).
        version: stored in the ``version`` column (see :func:`refresh`).

    Returns:
        ``metric_values`` with exactly ``schema.METRIC_VALUE_COLUMNS``, suppressed cells nulled.
    """
    return compute_tables(program, source, periods, grains, dimensions, version, equity=False)[0]


def compute_tables(program: Program, source, periods: list[str] | None = None,
                   grains: tuple[str, ...] = GRAINS, dimensions: list[str] | None = None,
                   version: str = "", equity: bool = True) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """``metric_values`` and (when ``equity``) the ``equity`` table from one evaluation."""
    from acm_helpers import equity as eq

    table = periods_table(program, periods, grains)
    raw = evaluate(program, source, table, dimensions)
    cells = finish_values(raw, program)
    cells = cells.merge(table[["period", "grain", "start", "end", "end_month"]].drop_duplicates(["period", "grain"]),
                        on=["period", "grain"], how="left")
    trailing = cells[cells["grain"] == TRAILING]
    cells = cells[cells["grain"] != TRAILING].reset_index(drop=True)
    cells = privacy.suppress(cells, program)
    trailing = privacy.primary(trailing, program.suppression.threshold)
    cells = flags.add_benchmarks(cells, trailing, program)
    cells = flags.add_flags(cells, program)
    equity_table = eq.equity_table(cells, program, version) if equity else None
    return finish_table(cells, program, version), equity_table


def finish_table(cells: pd.DataFrame, program: Program, version: str) -> pd.DataFrame:
    """Presentation columns, math strings, nulls for suppressed cells; exact contract columns."""
    out = cells.copy()
    defs = pd.DataFrame([{"metric_id": k, "label": m.label, "format": m.format, "unit": m.unit,
                          "direction": m.direction, "kind": m.kind, "system_wide": m.system_wide,
                          "key": m.key, "target": m.target, "national": m.benchmark.get("national"),
                          "benchmarks": json.dumps(m.benchmark, sort_keys=True)}
                         for k, m in program.metrics.items()])
    out = out.drop(columns=[c for c in defs.columns if c != "metric_id" and c in out.columns]).merge(defs, on="metric_id", how="left")
    out["math"] = flags.math_strings(out, program)
    out["version"] = version
    out = out.rename(columns={"start": "period_start", "end": "period_end"})
    out = privacy.null_suppressed(out)
    return conform(out, METRIC_VALUE_COLUMNS).sort_values(
        ["metric_id", "grain", "period", "provider_id", "dimension", "group"], ignore_index=True)


def conform(frame: pd.DataFrame, columns: dict[str, str]) -> pd.DataFrame:
    """Exactly ``columns`` in order, with the contract's dtypes."""
    out = pd.DataFrame(index=frame.index)
    for name, typ in columns.items():
        col = frame[name] if name in frame else pd.Series(np.nan, index=frame.index)
        dtype = PANDAS_DTYPES.get(typ, typ)
        if typ == "bool":
            out[name] = col.fillna(False).astype("bool")
        elif typ == "date":
            out[name] = pd.to_datetime(col).astype("datetime64[us]")
        elif typ == "str":
            out[name] = col.fillna("").astype("str")
        else:
            out[name] = col.astype(dtype)
    return out.reset_index(drop=True)


class Refreshed(NamedTuple):
    """What :func:`refresh` returns."""

    metric_values: pd.DataFrame
    equity: pd.DataFrame
    version: str
    skipped: bool  # True when the stored tables were already up to date


def input_version(program: Program, store: Store) -> str:
    """Hash of the episodes file and of everything in the program that changes the numbers."""
    path = store.table_path(EPISODES)
    if not path.exists():
        raise StoreError(f"{store}: no episodes loaded yet. Run `acm intake FILES --period YYYY-MM` first.")
    h = hashlib.sha256()
    h.update(sha256_file(path).encode())
    spec = program.model_dump(mode="json", include={"id", "first_period", "last_period", "providers", "metrics",
                                                    "dimensions", "suppression"})
    h.update(json.dumps(spec, sort_keys=True).encode())
    h.update(ENGINE_VERSION.encode())
    return h.hexdigest()[:16]


def stored_version(store: Store) -> str | None:
    """The version of the stored ``metric_values`` (None when absent or unreadable)."""
    path = store.table_path("metric_values")
    if not path.exists() or not store.table_path("equity").exists():
        return None
    with duckdb.connect() as con:
        row = con.execute(f"SELECT version FROM read_parquet({_literal(str(path))}) LIMIT 1").fetchall()
        row = row[0] if row else None
    return row[0] if row else None


def refresh(program: Program, store: Store, force: bool = False) -> Refreshed:
    """Compute and store ``metric_values`` and ``equity`` unless they are already current.

    Why versioned: packets, the explorer and reports all read these tables; recomputing when
    neither the episodes nor the metric definitions changed wastes the monthly run. The version
    is a hash of the episodes file, the program's metric/dimension/suppression settings and the
    engine version. Each table is written atomically; ``equity`` is written first, so a crash in
    between leaves an old ``metric_values`` whose version no longer matches and the next run
    recomputes both.
    """
    version = input_version(program, store)
    if not force and stored_version(store) == version:
        return Refreshed(store.read_table("metric_values"), store.read_table("equity"), version, True)
    values, equity_table = compute_tables(program, store, version=version)
    store.write_table("equity", equity_table)
    store.write_table("metric_values", values)
    return Refreshed(values, equity_table, version, False)


def unsuppressed_cells(program: Program, store: Store, provider_id: str | None = None) -> pd.DataFrame:
    """The true numbers of the cells the engine suppressed (internal use: leak checks only).

    Why: a provider packet must not show a suppressed cell's numbers; the packet audit searches
    the packet for exactly these numbers. Never put this frame in an output.
    """
    table = periods_table(program)
    cells = finish_values(evaluate(program, store, table), program)
    cells = cells[cells["grain"] != TRAILING]
    marked = privacy.suppress(cells, program)
    out = marked[marked["suppressed"]]
    if provider_id is not None:
        out = out[out["provider_id"] == provider_id]
    cols = ["provider_id", "period", "grain", "metric_id", "dimension", "group", "numerator", "denominator",
            "value", "ci_low", "ci_high"]
    return out[cols].reset_index(drop=True)


def summary(result: Refreshed) -> str:
    """A few lines for the CLI: rows, providers, periods, suppressed cells and flags raised."""
    mv, eqt = result.metric_values, result.equity
    if result.skipped:
        head = f"metric_values up to date (version {result.version}); nothing recomputed."
    else:
        head = f"metric_values computed (version {result.version})."
    months = sorted(mv.loc[mv["grain"] == "month", "period"].unique())
    flags_raised = {c: int(mv[c].sum()) for c in mv.columns if c.startswith("flag_") and mv[c].dtype == bool}
    lines = [head,
             f"  {len(mv):,} values: {mv['metric_id'].nunique()} metrics, "
             f"{mv.loc[mv['provider_id'] != ALL, 'provider_id'].nunique()} providers, "
             f"{len(months)} months ({months[0] if months else '-'} .. {months[-1] if months else '-'}), "
             f"{mv.loc[mv['dimension'] != '', 'dimension'].nunique()} breakdowns",
             f"  suppressed: {int(mv['suppressed'].sum()):,} of {len(mv):,} cells",
             "  flags: " + ", ".join(f"{k.removeprefix('flag_')} {v:,}" for k, v in flags_raised.items()),
             f"  equity: {len(eqt):,} rows, disparities flagged {int(eqt['flag_disparity'].sum()):,}, "
             f"disproportionality flagged {int(eqt['flag_disproportionality'].sum()):,}"]
    return "\n".join(lines)


def metric_columns() -> list[str]:
    """The contract's metric_values columns (for readers that validate)."""
    return list(METRIC_VALUE_COLUMNS)


def equity_columns() -> list[str]:
    """The contract's equity columns."""
    return list(EQUITY_COLUMNS)


