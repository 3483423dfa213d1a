"""Counts over episodes active during the period, from each episode's first and last month.

Why: "clients served" counts the episodes (or distinct clients) open at any time in the period,
``enrollment_date <= :end AND (exit_date IS NULL OR exit_date >= :start)``. One episode is in
many months, so the month path (:mod:`acm_helpers.metrics.months`) does not apply, and the
episodes x periods join repeats each episode once per window it touches: the largest single cost
of a refresh. For whole-month windows an episode is in window [a, b] exactly when its first month
is at most b and its last month (if any) at least a, so the number of episodes in the window is
(episodes starting by b) - (episodes ending before a): two cumulative counts per provider and
group, no join. A distinct count is such a count for every value seen in one episode only; the
values seen more than once (a client with two episodes) keep the join, which then reads a
fraction of the rows.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from acm_helpers.core.config import Metric
from acm_helpers.metrics.months import BOUND, Units, blank_strings, depth_zero_words

_ACTIVE = re.compile(
    r"^\s*(?P<a>[A-Za-z_][A-Za-z0-9_]*)\s*<=\s*:end\s+AND\s+\(\s*(?P<b>[A-Za-z_][A-Za-z0-9_]*)"
    r"\s+IS\s+NULL\s+OR\s+(?P=b)\s*>=\s*:start\s*\)(?P<rest>.*)$",
    re.IGNORECASE | re.DOTALL,
)


class Active(NamedTuple):
    """A population ``first <= :end AND (last IS NULL OR last >= :start) AND rest``."""

    first: str  # date column: the episode's first day
    last: str  # date column: its last day (null while open)
    rest: str  # the other conditions ("TRUE" when there are none)


def active(metric: Metric, date_columns: set[str]) -> Active | None:
    """How a count's population spans months, or None when it is not "active in the period".

    Only counts (of rows, or of distinct values that do not mention the period), and only the
    exact shape above on two date columns, ANDed with conditions that mention neither the
    period nor ``OR`` at the top level.
    """
    if metric.kind != "count" or (metric.value and BOUND.search(metric.value)):
        return None
    blank = blank_strings(metric.population)
    m = _ACTIVE.match(blank)
    if not m or not {m["a"].lower(), m["b"].lower()} <= date_columns:
        return None
    tail = blank[m.start("rest") :].strip()
    if tail and not re.match(r"AND\b", tail, re.IGNORECASE):
        return None
    if BOUND.search(tail) or any(w == "OR" for _, w in depth_zero_words(tail)):
        return None
    rest = re.sub(r"^\s*AND\b", "", metric.population[m.start("rest") :], flags=re.IGNORECASE)
    return Active(m["a"], m["b"], rest.strip() or "TRUE")


def _month(col: str, u: Units) -> str:
    ident = '"' + col.replace('"', '""') + '"'
    return f"date_diff('month', DATE '{u.first.isoformat()}', CAST({ident} AS DATE))"


def interval_rows(metric: Metric, act: Active, u: Units) -> str:
    """The condition of the rows counted from intervals: first and last month in order and,
    for a distinct count, a value seen in no other episode (table ``__multi`` lists those)."""
    ordered = f"({_month(act.last, u)} IS NULL OR {_month(act.last, u)} >= {_month(act.first, u)})"
    if not metric.value:
        return ordered
    return f"{ordered} AND ({metric.value}) NOT IN (SELECT v FROM __multi)"


def count_sql(metric: Metric, act: Active, u: Units, dims: list[str], grouping) -> str:
    """Counts of the interval rows in every whole-month window (table ``months_ab``: ``__pid``,
    ``__scope``, ``__a``, ``__b``) per provider and group, rolled up by ``grouping``
    (:func:`metrics_sql._grouping`); column ``_c``."""
    dsel = "".join(f", __d{i}" for i in range(len(dims)))
    c1 = "".join(f", c1.__d{i}" for i in range(len(dims)))
    same = "".join(f" AND c0.__d{i} = c1.__d{i}" for i in range(len(dims)))
    keys = f"provider_id{dsel}"
    value = f" AND ({metric.value}) IS NOT NULL" if metric.value else ""
    return f"""WITH e AS (
            SELECT {keys}, greatest(__us, 0) AS __us, __ue FROM (
                SELECT {keys}, {_month(act.first, u)} AS __us, {_month(act.last, u)} AS __ue
                FROM ep WHERE ({act.rest}){value} AND {interval_rows(metric, act, u)})
            WHERE __us <= {u.count - 1} AND (__ue IS NULL OR __ue >= 0)),
        st AS (SELECT {keys}, __us AS __u, count(*) AS __c FROM e GROUP BY ALL),
        en AS (SELECT {keys}, __ue AS __u, count(*) AS __c FROM e WHERE __ue < {u.count - 1}
               GROUP BY ALL),
        grid AS (SELECT k.*, r.range AS __u FROM (SELECT DISTINCT {keys} FROM st) k
                 CROSS JOIN range({u.count}) r),
        cum AS MATERIALIZED (
            SELECT g.*, sum(coalesce(st.__c, 0)) OVER w AS __s, sum(coalesce(en.__c, 0)) OVER w AS __x
            FROM grid g LEFT JOIN st USING ({keys}, __u) LEFT JOIN en USING ({keys}, __u)
            WINDOW w AS (PARTITION BY {keys} ORDER BY __u ROWS UNBOUNDED PRECEDING)),
        w AS (
            SELECT c1.provider_id{c1}, m.__pid, c1.__s - coalesce(c0.__x, 0) AS _c
            FROM months_ab m
            JOIN cum c1 ON c1.__u = m.__b AND (m.__scope IS NULL OR m.__scope = c1.provider_id)
            LEFT JOIN cum c0 ON c0.__u = m.__a - 1 AND c0.provider_id = c1.provider_id{same}
            WHERE c1.__s - coalesce(c0.__x, 0) > 0)
        {grouping(dims, "w", "sum(_c) AS _c")}"""
