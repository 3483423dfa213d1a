"""Shared episodes x periods joins for the metrics engine (see :mod:`acm_helpers.metrics.sql`).

Why: joining every episode to the periods it falls in (and materializing the result) is a large
part of each metric's statement. Metrics over the same population (e.g. exits in the period: a
rate, a median and a ratio of sums) read one joined table, created when the first of them runs
and dropped after the last; counts keep their own statement (their join carries extra columns).
"""

from __future__ import annotations

import hashlib
import re

import duckdb

from acm_helpers.core.config import Metric, Program


def bind_period(sql: str, start: str, end: str) -> str:
    """Replace ``:start``/``:end`` in a declared expression by the SQL of a window's bounds
    (``::`` casts are left alone)."""
    return re.sub(r"(?<![:\w]):end\b", end, re.sub(r"(?<![:\w]):start\b", start, sql))


def _bind(sql: str) -> str:
    """Replace ``:start``/``:end`` by the joined period's bounds."""
    return bind_period(sql, "p.__start", "p.__end")


# ``per: person`` metrics choose each client's latest episode among those open at any time in
# the period, unless the metric declares its own ``universe``.
PERSON_UNIVERSE = "enrollment_date <= :end AND (exit_date IS NULL OR exit_date >= :start)"
# latest enrollment first; on the same day an open episode, then the later exit; then the id
LATEST_FIRST = "enrollment_date DESC, exit_date DESC NULLS FIRST, episode_id DESC"
PERSON_COLUMNS = ("client_id", "episode_id", "enrollment_date", "exit_date")


def latest_sql(metric: Metric, source: str, periods: str) -> str:
    """Each client's latest episode per provider and period among the metric's ``universe``
    (default :data:`PERSON_UNIVERSE`): the episode's columns plus ``__pid`` and the period's
    bounds ``__ps``/``__pe``. Metrics with one universe share it (:func:`person_join`)."""
    universe = metric.universe or PERSON_UNIVERSE
    order = ", ".join("e." + k for k in LATEST_FIRST.split(", "))
    return f"""SELECT e.*, p.__pid, p.__start AS __ps, p.__end AS __pe
            FROM {source} e
            JOIN {periods} p ON (p.__scope IS NULL OR p.__scope = e.provider_id)
                AND ({_bind(universe)})
            QUALIFY row_number() OVER (PARTITION BY p.__pid, e.provider_id, e.client_id
                                       ORDER BY {order}) = 1"""


def person_join(
    metric: Metric, source: str, periods: str, select: str, latest: str | None = None
) -> str:
    """CTEs ``__pr`` and ``j``: each client's latest episode per provider and period, then the
    metric's population over those episodes (``per: person``).

    Why in SQL before any aggregate: the choice of episode decides the population (a client
    who left and came back in the period is a stayer by the later episode, not a leaver by the
    earlier one), so it must happen per period, before counting, for every kind alike.
    ``select`` is the ``j`` column list after ``provider_id, __pid``, written over alias ``e``
    with the period's bounds as ``:start``/``:end``. ``latest`` names a table already holding
    :func:`latest_sql` for this metric's universe and ``periods`` (shared by the metrics of one
    universe); without it the choice is made here.
    """
    ranked = (
        f"__pr AS (SELECT * FROM {latest})"
        if latest
        else (f"__pr AS ({latest_sql(metric, source, periods)})")
    )
    chosen = bind_period(metric.population, "e.__ps", "e.__pe")
    return f"""{ranked},
        j AS MATERIALIZED (
            SELECT e.provider_id, e.__pid{bind_period(select, "e.__ps", "e.__pe")}
            FROM __pr e
            WHERE ({chosen}))"""


def use_latest(con: duckdb.DuckDBPyConnection, metric: Metric, periods: str) -> str | None:
    """The shared table of :func:`latest_sql` over ``ep`` and ``periods`` for ``metric``'s
    universe (created on first use), or None when it cannot be made (the metric's own statement
    then runs and reports the error in the metric's name)."""
    universe = metric.universe or PERSON_UNIVERSE
    table = f"__latest_{periods}_{hashlib.sha1(universe.encode()).hexdigest()[:12]}"
    try:
        con.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {table} AS {latest_sql(metric, 'ep', periods)}"
        )
    except duckdb.Error:
        return None
    return table


def _value_columns(metric: Metric) -> list[tuple[str, str]]:
    """(SQL expression, alias) of the per-row values a rate, mean, median or ratio aggregates."""
    return {
        "rate": [(f"CASE WHEN CAST(({metric.numerator}) AS BOOLEAN) THEN 1.0 ELSE 0.0 END", "__x")],
        "mean": [(f"CAST(({metric.value}) AS DOUBLE)", "__v")],
        "median": [(f"CAST(({metric.value}) AS DOUBLE)", "__v")],
        "sum_ratio": [
            (f"COALESCE(CAST(({metric.numerator}) AS DOUBLE), 0)", "__x"),
            (f"COALESCE(CAST(({metric.denominator}) AS DOUBLE), 0)", "__y"),
        ],
    }[metric.kind]


def shared_join_sql(
    metrics: dict[str, Metric], dims: list[str], periods: str = "periods"
) -> tuple[str, dict[str, dict[str, str]]]:
    """One episodes x periods join for metrics that share a population (not counts).

    Why: the join (and its materialization) is a large part of each metric's statement; metrics
    over the same population (e.g. exits in the period: a rate, a median and a ratio) read one
    joined table instead of joining again. Returns the SELECT and, per metric, which joined
    column holds each of its value aliases (``__x``, ``__v``, ``__y``).
    """
    dsel = "".join(f", e.__d{i}" for i in range(len(dims)))
    exprs, names = [], {}
    population = next(iter(metrics.values())).population
    for i, (mid, metric) in enumerate(metrics.items()):
        names[mid] = {}
        for expr, alias in _value_columns(metric):
            names[mid][alias] = f"__c{i}{alias}"
            exprs.append(f", {_bind(expr)} AS __c{i}{alias}")
    sql = f"""SELECT e.provider_id, p.__pid{dsel}{"".join(exprs)}
            FROM ep e
            JOIN {periods} p ON (p.__scope IS NULL OR p.__scope = e.provider_id)
                AND ({_bind(population)})"""
    return sql, names


def _shared_joins(
    program: Program, mids: list[str], dims: list[str], trailing: bool
) -> dict[tuple[str, str], tuple[str, dict[str, str], str]]:
    """Plan one join per population used by two or more (non-count) metrics.

    Returns ``{(periods table, metric id): (joined table, value columns, SELECT)}``; the table is
    created by :func:`_use_shared` when its first metric runs.
    """
    by_population: dict[str, dict[str, Metric]] = {}
    for mid in mids:
        metric = program.metrics[mid]
        if metric.kind != "count" and metric.per == "episode":
            by_population.setdefault(metric.population, {})[mid] = metric
    plan = {}
    for i, group in enumerate(g for g in by_population.values() if len(g) > 1):
        for periods, gdims in [("periods", dims)] + ([("periods_t12", [])] if trailing else []):
            sql, names = shared_join_sql(group, gdims, periods)
            plan |= {(periods, m): (f"__shared_{periods}_{i}", names[m], sql) for m in group}
    return plan


def _use_shared(
    con: duckdb.DuckDBPyConnection, plan: dict, periods: str, mid: str
) -> tuple[str, dict[str, str]] | None:
    """The shared join of ``mid`` over ``periods`` (created on first use), or None.

    A join that fails is not shared: the metric's own statement then runs and reports the error
    in the metric's name.
    """
    if (periods, mid) not in plan:
        return None
    table, names, sql = plan[(periods, mid)]
    try:
        con.execute(f"CREATE TEMP TABLE IF NOT EXISTS {table} AS {sql}")
    except duckdb.Error:
        return None
    return table, names
