"""Reporting periods as a table the engine joins episodes to.

Why a table: the engine evaluates a metric for every provider and period in one SQL statement by
joining episodes to this table (``:start``/``:end`` become the period's columns) instead of
looping over periods in Python. Months are the base grain; quarters, years and the contract term
are windows of their own, so a quarter's rate is computed from the quarter's episodes, never by
averaging monthly rates. Roll-up windows are clipped to the program's months, so a quarter that
the program only partly covers holds exactly the months it covers (and its counts are the sum of
its months' counts for metrics whose populations partition time).
"""

from __future__ import annotations

from datetime import date

import pandas as pd

from acm_helpers.core.calendar import (
    GRAINS,
    SUB_MONTH_GRAINS,
    TRAILING,
    bounds_of,
    last_full_month,
    month_range,
    period_bounds,
    quarter_of,
    shift_period,
    year_of,
)
from acm_helpers.core.config import Program
from acm_helpers.core.errors import ConfigError


def periods_table(
    program: Program,
    months: list[str] | None = None,
    grains: tuple[str, ...] | None = None,
    trailing: bool = True,
) -> pd.DataFrame:
    """Every window the engine evaluates.

    Args:
        program: the program (its months and providers' contract terms).
        months: months to report (default: all the program's months). Quarters and years are the
            ones these months fall in; their windows cover the program's months in them.
        grains: which grains to include (``month`` is needed for trailing windows); default:
            month, quarter, year and term, plus ``week`` / ``biweek`` when one of the program's
            meeting types meets weekly / biweekly (:meth:`Program.extra_grains`). A week or
            biweekly window is whole (7 or 14 days, Monday first) and inside the program's
            months; its ``end_month`` is the last month ended by its last day, so its
            trailing-12-month benchmark never reads days after it.
        trailing: also add the 12-month window ending with each month (grain ``t12``), used for
            the ``trailing_12m`` benchmark; only for months with 12 program months up to them,
            so a trailing value never silently covers fewer months.

    Returns:
        Columns ``period``, ``grain``, ``start``, ``end`` (dates), ``scope`` (a provider id for
        contract-term windows, else null: the window applies to every provider) and
        ``end_month`` (the YYYY-MM of ``end``).
    """
    if grains is None:
        grains = (*GRAINS, *program.extra_grains())
    known = (*GRAINS, *SUB_MONTH_GRAINS)
    unknown = set(grains) - set(known)
    if unknown:
        raise ConfigError(f"Unknown grain(s) {sorted(unknown)}; known grains: {', '.join(known)}.")
    all_months = program.periods()
    months = list(all_months if months is None else months)
    for m in months:
        program.check_period(m)
    lo, hi = period_bounds(program.first_period)[0], period_bounds(program.last_period)[1]
    rows: list[tuple] = []

    def add(label: str, grain: str, start: date, end: date, scope: str | None = None) -> None:
        rows.append(
            (
                label,
                grain,
                max(start, lo) if grain != "term" else start,
                min(end, hi) if grain != "term" else end,
                scope,
            )
        )

    if "month" in grains:
        for m in months:
            add(m, "month", *period_bounds(m))
    if "quarter" in grains:
        for q in dict.fromkeys(quarter_of(m) for m in months):
            qm = [m for m in all_months if quarter_of(m) == q]
            add(q, "quarter", period_bounds(qm[0])[0], period_bounds(qm[-1])[1])
    if "year" in grains:
        for y in dict.fromkeys(year_of(m) for m in months):
            ym = [m for m in all_months if year_of(m) == y]
            add(y, "year", period_bounds(ym[0])[0], period_bounds(ym[-1])[1])
    for grain in SUB_MONTH_GRAINS:
        if grain in grains:
            first, last = period_bounds(months[0])[0], period_bounds(months[-1])[1]
            for label, start, end in program.sub_month_periods(grain):
                if start >= first and end <= last:  # the weeks of the months reported
                    add(label, grain, start, end)
    if "term" in grains:
        for p in program.providers:
            add("term", "term", p.start, p.end, p.id)
    frame = pd.DataFrame(rows, columns=["period", "grain", "start", "end", "scope"])
    if trailing and "month" in grains:
        t12 = [
            (m, TRAILING, period_bounds(shift_period(m, -11))[0], period_bounds(m)[1], None)
            for m in months
            if shift_period(m, -11) >= program.first_period
        ]
        frame = pd.concat([frame, pd.DataFrame(t12, columns=frame.columns)], ignore_index=True)
    frame["end_month"] = [
        last_full_month(e) if g in SUB_MONTH_GRAINS else f"{e.year:04d}-{e.month:02d}"
        for e, g in zip(frame["end"], frame["grain"], strict=True)
    ]
    frame["scope"] = frame["scope"].astype("str")
    return frame


def term_window(program: Program) -> tuple[date, date]:
    """The program-wide window ("term" for ``__all__``): first to last month."""
    return period_bounds(program.first_period)[0], period_bounds(program.last_period)[1]


def months_in(
    program: Program, period: str, grain: str, provider_id: str | None = None
) -> list[str]:
    """The program months a period of any grain covers (for roll-up relations)."""
    all_months = program.periods()
    if grain == "month":
        return [period]
    if grain == "quarter":
        return [m for m in all_months if quarter_of(m) == period]
    if grain == "year":
        return [m for m in all_months if year_of(m) == period]
    if grain in SUB_MONTH_GRAINS:  # the months a week touches
        lo, hi = bounds_of(period)
        return [m for m in all_months if period_bounds(m)[1] >= lo and period_bounds(m)[0] <= hi]
    if provider_id and provider_id != "__all__":
        p = program.provider(provider_id)
        first, last = f"{p.start:%Y-%m}", f"{p.end:%Y-%m}"
        return [m for m in month_range(first, last) if m in all_months]
    return all_months
