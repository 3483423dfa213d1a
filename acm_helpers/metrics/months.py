"""Metrics whose populations partition time: evaluated per month, windows rolled up from months.

Why: most ACM populations say "X happened in the period" (``exit_date BETWEEN :start AND
:end``). Months tile time, so such a population over a quarter, a year, a whole-month contract
term or a trailing 12-month window is exactly the union of its months' populations, each episode
in one month only. The engine then reads each episode once (its month is arithmetic on X, not a
range join), aggregates month cells and adds them up to every window, so quarters, years and
trailing windows cost almost nothing. Medians are not sums but value counts are:
:func:`median_cells` adds up per-month histograms and reads the median and its interval's order
statistics off cumulative counts, the same values sorting would give.

Where a population has another shape (e.g. "active during the period": one episode in many
months), a window is not whole months, or a median's values are too many distinct numbers for
histograms, the engine keeps the episodes x periods join of :mod:`acm_helpers.metrics.sql`.
"""

from __future__ import annotations

import re
from datetime import date
from typing import NamedTuple

import duckdb
import numpy as np
import pandas as pd

from acm_helpers.core.config import Metric
from acm_helpers.core.schema import ALL
from acm_helpers.metrics import intervals as iv

HISTOGRAM_BUDGET = 8_000_000  # counts held at once by median_cells (64 MB); beyond it, chunks
MAX_VALUE_SPAN = 100_000  # integer values spanning more than this are coded by np.unique
# Histograms cost (providers x months x groups x distinct values), sorting costs rows: with more
# histogram cells than this per row and grouping, the SQL sort is cheaper (sparse data: few
# episodes, many providers). Measured: 1M demo episodes ~1 cell per row (histograms 2-3x
# faster); 20k episodes ~18 and 200 providers x 10k episodes ~3,000 (sorting faster).
HISTOGRAM_CELLS_PER_ROW = 8

_DAYS = r"(?:\s*[-+]\s*INTERVAL\s+'?\d+'?\s+DAYS?)?"
_CLAUSE = re.compile(
    r"(?P<x>[A-Za-z_][A-Za-z0-9_]*)\s+BETWEEN\s+:start(?P<s>"
    + _DAYS
    + r")\s+AND\s+:end(?P<e>"
    + _DAYS
    + r")(?![\w:])",
    re.IGNORECASE,
)
BOUND = re.compile(r"(?<![:\w]):(start|end)\b")


class Partition(NamedTuple):
    """A population ``column BETWEEN :start + shift AND :end + shift AND rest``."""

    column: str
    shift: int  # days
    rest: str  # the population's other conditions ("TRUE" when there are none)


class Units(NamedTuple):
    """Whole-month windows as ranges of month units (unit 0 is the month of ``first``)."""

    first: date
    count: int
    windows: pd.DataFrame  # __pid, __scope, __a, __b (first and last unit), __t12
    aligned: frozenset[int]  # window ids evaluated from months


def _shift_days(text: str) -> int:
    if not text.strip():
        return 0
    sign = -1 if text.strip().startswith("-") else 1
    return sign * int(re.search(r"\d+", text).group())


def blank_strings(sql: str) -> str:
    """``sql`` with the insides of string literals blanked (same length), for structure checks."""
    return re.sub(r"'(?:[^']|'')*'", lambda m: "'" + " " * (len(m.group()) - 2) + "'", sql)


def depth_zero_words(sql: str) -> list[tuple[int, str]]:
    """(position, upper-case word) of the words outside parentheses."""
    depth, out = 0, []
    for m in re.finditer(r"[()]|[A-Za-z_][A-Za-z0-9_]*", sql):
        tok = m.group()
        if tok == "(":
            depth += 1
        elif tok == ")":
            depth -= 1
        elif depth == 0:
            out.append((m.start(), tok.upper()))
    return out


def partition(metric: Metric, date_columns: set[str]) -> Partition | None:
    """How ``metric``'s population partitions time, or None when it does not (or may not).

    It does when the population is a top-level ``AND`` of one ``X BETWEEN :start [+-
    INTERVAL n DAY] AND :end [same shift]`` on a date column X and conditions that do not
    mention the period: a day-precision date then falls in exactly one month's window, and a
    window of whole months holds exactly the episodes of its months. Month or year shifts do not
    tile (29 February), ``OR``/``NOT`` at the top level could undo the clause, and a distinct
    count is not a sum of months, so those all keep the join.
    """
    if metric.kind == "count" and metric.value:
        return None
    if any(BOUND.search(t) for t in (metric.numerator, metric.denominator, metric.value) if t):
        return None
    pop = blank_strings(metric.population)
    found = [m for m in _CLAUSE.finditer(pop)]
    if len(found) != 1:
        return None
    m = found[0]
    if m.group("x").lower() not in date_columns:
        return None
    if re.sub(r"\s+", "", m.group("s")).upper() != re.sub(r"\s+", "", m.group("e")).upper():
        return None
    words = depth_zero_words(pop)
    if any(w == "OR" for _, w in words):
        return None
    if not any(pos == m.start() for pos, _ in words):  # inside parentheses
        return None
    before = pop[: m.start()].strip()
    if before and not re.search(r"\bAND$", before, re.IGNORECASE):
        return None
    after = pop[m.end() :].strip()
    if after and not re.match(r"AND\b", after, re.IGNORECASE):
        return None
    text = metric.population
    rest = text[: m.start()] + "TRUE" + text[m.end() :]
    if BOUND.search(blank_strings(rest)):
        return None
    return Partition(m.group("x"), _shift_days(m.group("s")), rest)


def _month_index(d: date) -> int:
    return d.year * 12 + d.month - 1


def units(per: pd.DataFrame) -> Units:
    """The windows of ``per`` (``__pid``, ``__start``, ``__end``, ``__scope``, ``__grain``) that
    are whole months, as unit ranges; a window id counts as whole months only when all its rows
    (one per provider for contract terms) are."""
    start = pd.to_datetime(pd.Series(per["__start"], dtype="object"))
    end = pd.to_datetime(pd.Series(per["__end"], dtype="object"))
    whole = (start.dt.day == 1) & ((end + pd.Timedelta(days=1)).dt.day == 1) & (start <= end)
    whole = whole.to_numpy(bool)
    pid = per["__pid"].to_numpy()
    keep = whole & ~np.isin(pid, pid[~whole])
    if not keep.any():
        empty = pd.DataFrame({c: [] for c in ("__pid", "__scope", "__a", "__b", "__t12")})
        return Units(date(2000, 1, 1), 0, empty.astype({"__t12": bool}), frozenset())
    a = (start.dt.year * 12 + start.dt.month - 1).to_numpy("int64")[keep]
    b = (end.dt.year * 12 + end.dt.month - 1).to_numpy("int64")[keep]
    first = int(a.min())
    windows = pd.DataFrame(
        {
            "__pid": pid[keep],
            "__scope": per["__scope"].to_numpy()[keep],
            "__a": a - first,
            "__b": b - first,
            "__t12": (per["__grain"].to_numpy() == "t12")[keep],
        }
    )
    return Units(
        date(first // 12, first % 12 + 1, 1),
        int(b.max()) - first + 1,
        windows,
        frozenset(windows["__pid"].tolist()),
    )


def _unit_rows(part: Partition, u: Units, dims: int, select: str = "") -> str:
    """Episodes of the population with their month unit ``__u`` (and ``select`` columns)."""
    dsel = "".join(f", __d{i}" for i in range(dims))
    x = '"' + part.column.replace('"', '""') + '"'
    unit = f"date_diff('month', DATE '{u.first.isoformat()}', CAST({x} AS DATE) - ({part.shift}))"
    return f"""SELECT * FROM (SELECT provider_id, {unit} AS __u{dsel}{select}
            FROM ep WHERE ({part.rest})) WHERE __u BETWEEN 0 AND {u.count - 1}"""


def window_table(u: Units, trailing: bool) -> pd.DataFrame:
    """(``__u``, ``__pid``, ``__scope``): one row per month of every whole-month window."""
    w = u.windows[u.windows["__t12"] == trailing]
    if w.empty:
        return pd.DataFrame({"__u": [], "__pid": [], "__scope": []}).astype(
            {"__u": "int32", "__pid": "int32", "__scope": "str"}
        )
    size = (w["__b"] - w["__a"] + 1).to_numpy()
    first = np.repeat(w["__a"].to_numpy(), size)
    offset = np.arange(size.sum()) - np.repeat(np.cumsum(size) - size, size)
    return pd.DataFrame(
        {
            "__u": (first + offset).astype("int32"),
            "__pid": np.repeat(w["__pid"].to_numpy(), size).astype("int32"),
            "__scope": np.repeat(w["__scope"].to_numpy(), size),
        }
    )


def rollup_sql(
    part: Partition,
    u: Units,
    dims: list[str],
    expr: str,
    fine: str,
    rolled: str,
    grouping,
    t12: bool,
) -> str:
    """An additive metric from month cells: aggregate (provider, month, groups), join the small
    result to the months of each window (tables ``months_w`` and ``months_t12``), roll up.

    ``grouping`` is :func:`metrics_sql._grouping` (the grouping sets over providers and groups).
    """
    dcols = "".join(f", __d{i}" for i in range(len(dims)))
    join = "JOIN {t} m ON m.__u = f.__u AND (m.__scope IS NULL OR m.__scope = f.provider_id)"
    sql = f"""WITH j AS ({_unit_rows(part, u, len(dims), expr)}),
        f AS MATERIALIZED (SELECT provider_id, __u{dcols}, {fine} FROM j GROUP BY ALL),
        w AS (SELECT f.* EXCLUDE (__u), m.__pid FROM f {join.format(t="months_w")})"""
    if t12:
        sql += f""", w12 AS (SELECT f.* EXCLUDE (__u), m.__pid FROM f {join.format(t="months_t12")})
        {grouping(dims, "w", rolled)} UNION ALL {grouping([], "w12", rolled)}"""
    else:
        sql += grouping(dims, "w", rolled)
    return sql


# -- medians ---------------------------------------------------------------------------------------
def _codes(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct values and each value's index in them (no sort for small integer spans)."""
    if len(v) and np.isfinite(v).all():
        lo, hi = float(v.min()), float(v.max())
        if hi - lo <= MAX_VALUE_SPAN and (v == np.round(v)).all():
            return lo + np.arange(int(hi - lo) + 1, dtype="float64"), (v - lo).astype("int64")
    values, code = np.unique(v, return_inverse=True)
    return values, code.astype("int64")


def _order_stats(hist: np.ndarray, values: np.ndarray, rank_lo: np.ndarray) -> dict:
    """Median and interval order statistics of each row of a (cells x values) count matrix."""
    cum = hist.cumsum(axis=1)
    n = cum[:, -1] if cum.shape[1] else np.zeros(len(cum), dtype="int64")

    def at(rank: np.ndarray) -> np.ndarray:
        idx = (cum < rank[:, None]).sum(axis=1)
        return values[np.minimum(idx, len(values) - 1)] if len(values) else np.full(len(n), np.nan)

    small = n <= iv.EXACT_MEDIAN_MAX_N
    lo = np.where(
        small,
        rank_lo[np.minimum(n, len(rank_lo) - 1)],
        np.floor(n / 2 - iv.Z95 * np.sqrt(n) / 2),
    ).astype("int64")
    has = n > 0
    med = np.where(has, (at((n + 1) // 2) + at(n // 2 + 1)) / 2.0, np.nan)
    ok = has & (lo >= 1)
    return {
        "_n": n,
        "_med": med,
        "_lo": np.where(ok, at(np.maximum(lo, 1)), np.nan),
        "_hi": np.where(ok, at(np.maximum(n - lo + 1, 1)), np.nan),
    }


def median_cells(
    con: duckdb.DuckDBPyConnection,
    metric: Metric,
    part: Partition,
    u: Units,
    dims: list[str],
    rank_lo: np.ndarray,
) -> pd.DataFrame | None:
    """Median cells (``_rows``, ``_n``, ``_med``, ``_lo``, ``_hi``) of every whole-month window,
    provider and group, from month histograms; None when histograms would cost more than
    sorting (values too spread out, or few episodes for many providers and months): the caller
    then sorts in SQL.

    Each grouping (overall, then each dimension) counts values per provider x month x group,
    adds months up to windows with cumulative sums over months, adds providers up to
    "__all__", and takes order statistics from cumulative counts over values.
    """
    gsel = "".join(f", enum_code(__d{i}) AS __g{i}" for i in range(len(dims)))
    rows = con.execute(
        f"""SELECT enum_code(provider_id) AS __p, __u, __v IS NOT NULL AS __ok,
                   coalesce(__v, 0) AS __v{gsel}
            FROM ({_unit_rows(part, u, len(dims), f", CAST(({metric.value}) AS DOUBLE) AS __v")})"""
    ).fetchnumpy()
    p = np.asarray(rows["__p"], dtype="int64")
    if np.ma.is_masked(rows["__p"]):
        return None  # episodes without a provider: leave them to SQL's own grouping
    provs = con.execute("SELECT enum_range(NULL::__prov)").fetchall()[0][0]
    ok = np.asarray(rows["__ok"], dtype=bool)
    values, code = _codes(np.asarray(rows["__v"], dtype="float64")[ok])
    K = max(len(values), 1)
    unit = np.asarray(rows["__u"], dtype="int64")
    sets = [(None, "", [""], np.zeros(len(p), dtype="int64"))]
    for i, d in enumerate(dims):
        labels = con.execute(f"SELECT enum_range(NULL::__dt{i})").fetchall()[0][0]
        sets.append((i, d, labels, np.asarray(rows[f"__g{i}"], dtype="int64")))
    U, P = u.count, len(provs)
    if (U + 1) * max(len(s[2]) for s in sets) * K > HISTOGRAM_BUDGET:
        return None
    dense = P * (U + 1 + len(u.windows)) * sum(len(s[2]) for s in sets) * K
    if dense > HISTOGRAM_CELLS_PER_ROW * len(sets) * max(len(p), 1):
        return None
    win = u.windows
    scope_code = {name: i for i, name in enumerate(provs)}
    out = []
    for i, dname, labels, g in sets:
        w = win if i is None else win[~win["__t12"]]
        G = len(labels)
        wpid, wa, wb = (w[c].to_numpy("int64") for c in ("__pid", "__a", "__b"))
        wscope = np.array(
            [scope_code.get(s, -2) if isinstance(s, str) else -1 for s in w["__scope"]],
            dtype="int64",
        )
        pids = np.unique(wpid)
        all_hist = np.zeros((len(pids), G, K), dtype="int64")
        all_rows = np.zeros((len(pids), G), dtype="int64")
        per_prov = max(1, HISTOGRAM_BUDGET // ((U + 1 + len(w)) * G * K))
        for p0 in range(0, P, per_prov):
            pc = min(per_prov, P - p0)
            sel = (p >= p0) & (p < p0 + pc)
            key = ((p[sel] - p0) * U + unit[sel]) * G + g[sel]
            r = np.bincount(key, minlength=pc * U * G).reshape(pc, U, G)
            okc = ok[sel]
            h = np.bincount(key[okc] * K + code[sel[ok]], minlength=pc * U * G * K).reshape(
                pc, U, G, K
            )
            cs = np.zeros((pc, U + 1, G, K), dtype="int64")
            np.cumsum(h, axis=1, out=cs[:, 1:])
            del h
            cr = np.zeros((pc, U + 1, G), dtype="int64")
            np.cumsum(r, axis=1, out=cr[:, 1:])
            # (window, provider) pairs: unscoped windows for every provider of the chunk, a
            # contract-term window for its own provider
            pp, widx = np.meshgrid(np.arange(pc), np.arange(len(w)), indexing="ij")
            pp, widx = pp.ravel(), widx.ravel()
            mine = (wscope[widx] == -1) | (wscope[widx] == pp + p0)
            pp, widx = pp[mine], widx[mine]
            hw = cs[pp, wb[widx] + 1] - cs[pp, wa[widx]]
            rw = cr[pp, wb[widx] + 1] - cr[pp, wa[widx]]
            slot = np.searchsorted(pids, wpid[widx])
            order = np.argsort(slot, kind="stable")
            first, starts = np.unique(slot[order], return_index=True)
            if len(order):
                all_hist[first] += np.add.reduceat(hw[order], starts, axis=0)
                all_rows[first] += np.add.reduceat(rw[order], starts, axis=0)
            out.append(
                _cells(
                    hw, rw, values, rank_lo, [provs[k] for k in pp + p0], wpid[widx], dname, labels
                )
            )
        out.append(
            _cells(all_hist, all_rows, values, rank_lo, [ALL] * len(pids), pids, dname, labels)
        )
    return pd.concat(out, ignore_index=True)


def _cells(hist, rows, values, rank_lo, providers, pids, dname, labels) -> pd.DataFrame:
    """Flatten (cells x groups x values) counts into engine rows, dropping empty cells."""
    C, G, K = hist.shape
    flat = hist.reshape(C * G, K)
    r = rows.reshape(C * G)
    keep = r > 0
    stats = _order_stats(flat[keep], values, rank_lo)
    cell = np.repeat(np.arange(C), G)[keep]
    grp = np.tile(np.arange(G), C)[keep]
    return pd.DataFrame(
        {
            "provider_id": np.asarray(providers, dtype=object)[cell] if C else [],
            "pid": np.asarray(pids)[cell],
            "dimension": dname,
            "group": np.asarray(labels, dtype=object)[grp] if dname else "",
            "_rows": r[keep],
            **stats,
        }
    )
