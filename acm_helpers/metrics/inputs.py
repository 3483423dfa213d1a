"""The episodes the metrics engine reads: dimension labels and the ``ep`` table.

Why a module of its own: every metric's statement reads one materialized table of the columns
the program's expressions use, with each dimension's group label computed once (binned ages,
"Not recorded" for blanks) as small ENUMs; building it, and checking that the episodes have
what the dimensions need, is a step of its own before any metric runs.
"""

from __future__ import annotations

import re

import duckdb
import pandas as pd

from acm_helpers.core.config import Dimension, Program
from acm_helpers.core.errors import MetricError
from acm_helpers.core.schema import NOT_RECORDED
from acm_helpers.metrics.joins import PERSON_COLUMNS
from acm_helpers.store.store import EPISODES, Store


# -- dimensions ------------------------------------------------------------------------------------
def band_labels(bins: list[float]) -> list[str]:
    """Labels of left-closed integer bins: [0, 18, 25] -> "0-17", "18-24", "25+"."""
    edges = [int(b) for b in bins]
    out = [
        f"{lo}" if hi - lo == 1 else f"{lo}-{hi - 1}"
        for lo, hi in zip(edges, edges[1:], strict=False)
    ]
    return [*out, f"{edges[-1]}+"]


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def dimension_sql(dim: Dimension) -> str:
    """SQL for a dimension's group label; blanks become "Not recorded" so groups add up.

    A dimension with an ``expression`` keeps its ``:start``/``:end``: the engine binds them to
    each period's bounds in the join (:func:`period_dimensions`).
    """
    if dim.expression is not None and dim.bins is not None:
        src = f"({dim.expression})"
    elif dim.source is not None and dim.bins is not None:
        src = _ident(dim.source)
    else:
        src = None
    if src is not None and dim.bins is not None:
        labels = band_labels(dim.bins)
        whens = [
            f"WHEN {src} IS NULL OR {src} < {float(dim.bins[0])!r} THEN {_literal(NOT_RECORDED)}"
        ]
        whens += [
            f"WHEN {src} < {float(hi)!r} THEN {_literal(lab)}"
            for hi, lab in zip(dim.bins[1:], labels, strict=False)
        ]
        return f"CASE {' '.join(whens)} ELSE {_literal(labels[-1])} END"
    col = _ident(dim.column)
    return f"COALESCE(NULLIF(TRIM(CAST({col} AS VARCHAR)), ''), {_literal(NOT_RECORDED)})"


def load_episodes(
    con: duckdb.DuckDBPyConnection, source, dims: dict[str, Dimension], program: Program
) -> int:
    """Materialize the episodes once as table ``ep`` with the dimension columns ``__d0`` ...

    Why a temporary table: every metric's statement reads it, so the Parquet decode (or pandas
    scan) and the dimension labels are paid once, not once per metric.
    """
    if isinstance(source, Store):
        source.register(con, EPISODES, "episodes")
    elif isinstance(source, pd.DataFrame):
        if source.empty:
            raise MetricError(
                "The episodes frame is empty: there is nothing to compute metrics from. "
                "Load submissions first (`acm intake`)."
            )
        con.register("episodes", source)
    else:
        raise MetricError(
            f"metrics.compute needs a Store or an episodes DataFrame, not {type(source).__name__}."
        )
    _check_columns(con, dims, program)
    cols = [r[0] for r in con.execute("DESCRIBE episodes").fetchall()]
    used = _used_columns(program, dims, cols)
    # provider and group labels as ENUMs: grouping on small integers instead of strings makes
    # every metric's aggregation about twice as fast
    con.execute(
        "CREATE TYPE __prov AS ENUM (SELECT DISTINCT provider_id FROM episodes "
        "WHERE provider_id IS NOT NULL ORDER BY 1)"
    )
    dsel = []
    for i, d in enumerate(dims.values()):
        if d.expression is not None:  # labelled per period in the join: every band is a label
            labels = ", ".join(_literal(x) for x in sorted([NOT_RECORDED, *band_labels(d.bins)]))
            con.execute(f"CREATE TYPE __dt{i} AS ENUM ({labels})")
            continue
        con.execute(
            f"CREATE TYPE __dt{i} AS ENUM (SELECT DISTINCT {dimension_sql(d)} FROM episodes ORDER BY 1)"
        )
        dsel.append(f", ({dimension_sql(d)})::__dt{i} AS __d{i}")
    others = "".join(f", {_ident(c)}" for c in used if c != "provider_id")
    con.execute(
        f"CREATE TEMP TABLE ep AS SELECT provider_id::__prov AS provider_id{others}{''.join(dsel)} "
        "FROM episodes"
    )
    n = con.execute("SELECT count(*) FROM ep").fetchall()[0][0]
    if not n:
        raise MetricError(
            f"Program {program.id}: the episodes table has no rows; load submissions first."
        )
    return int(n)


def period_dimensions(dims: dict[str, Dimension]) -> dict[int, str]:
    """Position -> label SQL (``:start``/``:end`` unbound, cast to its ENUM) of the dimensions
    labelled per period (an ``expression``); the others are columns ``__d<i>`` of ``ep``."""
    return {
        i: f"({dimension_sql(d)})::__dt{i}"
        for i, d in enumerate(dims.values())
        if d.expression is not None
    }


def _used_columns(program: Program, dims: dict[str, Dimension], columns: list[str]) -> list[str]:
    """Episode columns the metric expressions and dimensions refer to (the rest is not loaded)."""
    text = " ".join(
        str(v)
        for m in program.metrics.values()
        for v in (m.population, m.numerator, m.denominator, m.value, m.universe)
        if v
    )
    words = {w.lower() for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text)}
    if any(m.per == "person" for m in program.metrics.values()):
        # per-person metrics pick each client's latest episode by these (metrics.joins)
        words |= set(PERSON_COLUMNS)
    words |= {(d.source or d.column).lower() for d in dims.values()} | {"provider_id"}
    for d in dims.values():
        if d.expression is not None:
            words |= {w.lower() for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", d.expression)}
    return [c for c in columns if c.lower() in words]


def _check_columns(
    con: duckdb.DuckDBPyConnection, dims: dict[str, Dimension], program: Program
) -> None:
    cols = {r[0] for r in con.execute("DESCRIBE episodes").fetchall()}
    for did, d in dims.items():
        if d.expression is not None:
            continue  # an SQL expression: an error in it is reported by the metric's statement
        need = d.source if d.source is not None else d.column
        if need not in cols:
            raise MetricError(
                f"Dimension {did!r} needs episode column {need!r}, which the episodes of "
                f"program {program.id} do not have. Add it to the submissions or remove the dimension."
            )
    if "provider_id" not in cols:
        raise MetricError(
            "The episodes have no provider_id column; they are not canonical episodes."
        )
