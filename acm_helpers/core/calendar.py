"""The one calendar: months (``YYYY-MM``), quarters (``YYYY-Qn``), years, ISO weeks
(``YYYY-Www``), biweekly periods (``YYYY-Www-ww``) and their names.

Why one module: month, quarter and term arithmetic used to live in five modules, each with its
own edge cases. Every period label and every date bound in the package comes from here.
"""

from __future__ import annotations

import re
from datetime import date, datetime

from acm_helpers.core.errors import ConfigError

PERIOD_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def month_range(first: str, last: str) -> list[str]:
    """All YYYY-MM months from ``first`` to ``last`` inclusive."""
    y, m = map(int, first.split("-"))
    ly, lm = map(int, last.split("-"))
    out = []
    while (y, m) <= (ly, lm):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def period_bounds(period: str) -> tuple[date, date]:
    """First and last day of a YYYY-MM month."""
    if not PERIOD_RE.match(period or ""):
        raise ConfigError(f"Period {period!r} is not YYYY-MM (e.g. 2026-10).")
    y, m = map(int, period.split("-"))
    start = date(y, m, 1)
    nxt = date(y + 1, 1, 1) if m == 12 else date(y, m + 1, 1)
    return start, date.fromordinal(nxt.toordinal() - 1)


def shift_period(period: str, months: int) -> str:
    """The month ``months`` after (or before, if negative) ``period``."""
    y, m = map(int, period.split("-"))
    idx = y * 12 + (m - 1) + months
    return f"{idx // 12:04d}-{idx % 12 + 1:02d}"


GRAINS = ("month", "quarter", "year", "term")
# grains evaluated only for a program whose meeting types meet weekly or biweekly
SUB_MONTH_GRAINS = ("week", "biweek")
TRAILING = "t12"  # internal grain: the 12 months ending with a month (labelled by that month)


def quarter_of(month: str) -> str:
    """``2026-10`` -> ``2026-Q4``."""
    y, m = month.split("-")
    return f"{y}-Q{(int(m) - 1) // 3 + 1}"


def year_of(month: str) -> str:
    """``2026-10`` -> ``2026``."""
    return month[:4]


def previous_label(period: str, grain: str, steps: int = 1) -> str | None:
    """The label ``steps`` periods before ``period`` of the same grain (None for the term)."""
    if grain == "month" or grain == TRAILING:
        return shift_period(period, -steps)
    if grain == "quarter":
        y, q = int(period[:4]), int(period[-1])
        idx = y * 4 + (q - 1) - steps
        return f"{idx // 4}-Q{idx % 4 + 1}"
    if grain == "year":
        return str(int(period) - steps)
    if grain in ("week", "biweek"):
        return _days_before(period, grain, steps * (7 if grain == "week" else 14))
    return None


def same_period_last_year(period: str, grain: str) -> str | None:
    """Same month (quarter, year) one year earlier; None for the term."""
    steps = {"month": 12, "quarter": 4, "year": 1, "week": 52, "biweek": 26}.get(grain)
    return previous_label(period, grain, steps) if steps else None


def month_name(period: str) -> str:
    """ "2026-10" -> "October 2026"."""
    return datetime.strptime(period, "%Y-%m").strftime("%B %Y")


def equity_quarter(period: str) -> str:
    """The last complete quarter at or before a month: quarterly cells are larger and steadier
    than one month's, so fewer groups are suppressed and flags are less noisy."""
    y, m = map(int, period.split("-"))
    q = m // 3  # quarters complete by month m
    return f"{y}-Q{q}" if q else f"{y - 1}-Q4"


def quarter_name(q: str) -> str:
    """ "2026-Q3" -> "July–September 2026"."""
    y, n = q.split("-Q")
    first = f"{y}-{3 * int(n) - 2:02d}"
    last = f"{y}-{3 * int(n):02d}"
    return f"{datetime.strptime(first, '%Y-%m'):%B}–{month_name(last)}"


def month_label(period: str) -> str:
    """ "2026-10" -> "Oct 2026" (short, for chart axes and tables)."""
    y, m = map(int, period.split("-"))
    return f"{['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'][m - 1]} {y}"


# -- weeks and fortnights (weekly and biweekly meeting cadences) -----------------------------------
# Naming (one rule, documented in the README's "Meeting types"): a week is its ISO 8601 week,
# Monday to Sunday, "2026-W41"; a biweekly period is two ISO weeks starting on the program's
# ``meetings.anchor`` (a Monday) or a multiple of 14 days from it, named after both weeks,
# "2026-W41-42" (across a year end: "2026-W53-01"). Why ISO weeks: the names sort, fit in a
# folder name, and every calendar tool reads them; the dates are in :func:`period_name`.
WEEK_RE = re.compile(r"^(\d{4})-W(0[1-9]|[1-4]\d|5[0-3])$")
BIWEEK_RE = re.compile(r"^(\d{4})-W(0[1-9]|[1-4]\d|5[0-3])-(0[1-9]|[1-4]\d|5[0-3])$")
QUARTER_RE = re.compile(r"^\d{4}-Q[1-4]$")
SUB_MONTH = {"weekly": "week", "biweekly": "biweek"}  # cadence -> engine grain
CADENCE_GRAIN = {**SUB_MONTH, "monthly": "month", "quarterly": "quarter"}


def week_label(day: date) -> str:
    """The ISO week of ``day``: 2026-10-07 -> "2026-W41"."""
    y, w, _ = day.isocalendar()
    return f"{y:04d}-W{w:02d}"


def week_bounds(label: str) -> tuple[date, date]:
    """Monday and Sunday of an ISO week label ("2026-W41" -> 2026-10-05, 2026-10-11)."""
    m = WEEK_RE.match(label or "")
    if not m:
        raise ConfigError(f"Week {label!r} is not YYYY-Www (e.g. 2026-W41).")
    try:
        start = date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1)
    except ValueError:
        raise ConfigError(f"Week {label!r}: {m.group(1)} has no ISO week {m.group(2)}.") from None
    return start, date.fromordinal(start.toordinal() + 6)


def biweek_label(start: date) -> str:
    """The name of the two weeks starting on Monday ``start``: "2026-W41-42"."""
    second = date.fromordinal(start.toordinal() + 7)
    return f"{week_label(start)}-{second.isocalendar()[1]:02d}"


def biweek_bounds(label: str) -> tuple[date, date]:
    """First and last day of a biweekly period label ("2026-W41-42" -> 2026-10-05, 2026-10-18)."""
    m = BIWEEK_RE.match(label or "")
    if not m:
        raise ConfigError(f"Biweekly period {label!r} is not YYYY-Www-ww (e.g. 2026-W41-42).")
    start = week_bounds(f"{m.group(1)}-W{m.group(2)}")[0]
    if biweek_label(start) != label:
        raise ConfigError(
            f"Biweekly period {label!r}: the week after week {m.group(2)} is week "
            f"{biweek_label(start)[-2:]}; write {biweek_label(start)}."
        )
    return start, date.fromordinal(start.toordinal() + 13)


def week_periods(lo: date, hi: date) -> list[tuple[str, date, date]]:
    """Every whole ISO week inside ``lo``..``hi`` as (label, Monday, Sunday)."""
    start = date.fromordinal(lo.toordinal() + (7 - lo.weekday()) % 7)
    out = []
    while start.toordinal() + 6 <= hi.toordinal():
        out.append((week_label(start), start, date.fromordinal(start.toordinal() + 6)))
        start = date.fromordinal(start.toordinal() + 7)
    return out


def biweek_periods(anchor: date, lo: date, hi: date) -> list[tuple[str, date, date]]:
    """Every whole 14-day period inside ``lo``..``hi`` that starts 14·k days from ``anchor``."""
    k = -((anchor.toordinal() - lo.toordinal()) // 14)  # first k with anchor + 14k >= lo
    start = anchor.toordinal() + 14 * k
    out = []
    while start + 13 <= hi.toordinal():
        first = date.fromordinal(start)
        out.append((biweek_label(first), first, date.fromordinal(start + 13)))
        start += 14
    return out


def grain_of(label: str) -> str:
    """The grain a period label names: month, quarter, year, week, biweek or term."""
    if PERIOD_RE.match(label):
        return "month"
    if QUARTER_RE.match(label):
        return "quarter"
    if WEEK_RE.match(label):
        return "week"
    if BIWEEK_RE.match(label):
        return "biweek"
    if re.fullmatch(r"\d{4}", label):
        return "year"
    if label == "term":
        return "term"
    raise ConfigError(
        f"Period {label!r} is not a month (2026-10), quarter (2026-Q4), year (2026), "
        "week (2026-W41) or biweekly period (2026-W41-42)."
    )


def bounds_of(label: str) -> tuple[date, date]:
    """First and last day of a month, quarter, year, week or biweekly period label."""
    grain = grain_of(label)
    if grain == "month":
        return period_bounds(label)
    if grain == "quarter":
        y, q = int(label[:4]), int(label[-1])
        return period_bounds(f"{y}-{3 * q - 2:02d}")[0], period_bounds(f"{y}-{3 * q:02d}")[1]
    if grain == "year":
        return date(int(label), 1, 1), date(int(label), 12, 31)
    if grain == "week":
        return week_bounds(label)
    if grain == "biweek":
        return biweek_bounds(label)
    raise ConfigError("The contract term has no fixed bounds; ask the provider's contract.")


def last_full_month(end: date) -> str:
    """The last month that has ended by ``end`` (a week ending 2026-10-11 -> "2026-09").

    Why: a week's "own trailing 12 months" benchmark must not read days after the week."""
    nxt = date.fromordinal(end.toordinal() + 1)
    return shift_period(f"{nxt.year:04d}-{nxt.month:02d}", -1)


def _days_before(label: str, grain: str, days: int) -> str:
    start = bounds_of(label)[0]
    moved = date.fromordinal(start.toordinal() - days)
    return week_label(moved) if grain == "week" else biweek_label(moved)


def day_range(label: str) -> str:
    """ "5–11 Oct 2026", "28 Sep–11 Oct 2026", "28 Dec 2026–10 Jan 2027" for a week's days."""
    a, b = bounds_of(label)
    mon = lambda d: month_label(f"{d.year:04d}-{d.month:02d}").split()[0]  # noqa: E731
    if a.year != b.year:
        return f"{a.day} {mon(a)} {a.year}–{b.day} {mon(b)} {b.year}"
    if a.month != b.month:
        return f"{a.day} {mon(a)}–{b.day} {mon(b)} {b.year}"
    return f"{a.day}–{b.day} {mon(b)} {b.year}"


def week_name(label: str) -> str:
    """ "2026-W41" -> "week 41, 5–11 Oct 2026"; "2026-W41-42" -> "weeks 41–42, 5–18 Oct 2026"."""
    if WEEK_RE.match(label):
        return f"week {int(label[6:8])}, {day_range(label)}"
    return f"weeks {int(label[6:8])}–{int(label[9:11])}, {day_range(label)}"
