"""The one calendar: months (``YYYY-MM``), quarters (``YYYY-Qn``), years and their names.

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
    return None


def same_period_last_year(period: str, grain: str) -> str | None:
    """Same month (quarter, year) one year earlier; None for the term."""
    steps = {"month": 12, "quarter": 4, "year": 1}.get(grain)
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
