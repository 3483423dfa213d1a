"""The one formatter: values, counts, intervals, signed differences and periods as people read them.

Why one module: packets, deep dives, flags, the explorer, XLSX and CSV used to format numbers
in seven places with different outputs ("60%" in a tile, "60.5%" in the flag sentence beside
it, "–" in one table and "n/a" in the next). Every number a reader sees is written here, by the
metric's ``format`` and ``unit``, with one precision rule per format:

========== =============================================== ==============================
format     rule                                            examples
========== =============================================== ==============================
percent    one decimal of a percent, a trailing ".0" cut   0.6 -> "60%", 0.605 -> "60.5%"
number     one decimal below 100, whole from 100 on;        12 -> "12", 12.34 -> "12.3",
           thousands separators; the unit after it          1234.5 -> "1,234"
days       as number, unit "days" unless the metric names   41.5 -> "41.5 days", 1 -> "1 day"
           another
currency   whole dollars, thousands separators              13733.3 -> "$13,733"
counts     whole numbers with thousands separators (a       1234 -> "1,234"
           non-whole sum keeps one decimal)
========== =============================================== ==============================

Ties round to even, as Python's formatting does (124.5 -> "124"), so the engine's ``math``
sentences did not change when they moved here. A missing value reads "–" and a suppressed one
"suppressed", so a blank never looks like a zero and a hidden number never leaks. Differences
of rates are in percentage points with the same precision as the rate ("+5.3 points"); other
differences carry the metric's unit. Chart format strings (d3, for Vega), XLSX number formats
and CSV decimals come from the same rules, so a tooltip, a tile, a sentence and a spreadsheet
cell show the same digits. Period names come from :mod:`acm_helpers.core.calendar`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from acm_helpers.core.calendar import month_label, month_name, quarter_name

MISSING = "–"
SUPPRESSED = "suppressed"
FORMATS = ("percent", "number", "days", "currency")

# d3-format strings for Vega-Lite axes, tooltips and labels: "~" trims trailing zeros, so
# ".1~%" shows 0.6 as "60%" and 0.605 as "60.5%", like :func:`value` (d3 cannot say "whole from
# 100 on", so a tooltip may show 124.5 where a sentence says 124).
VEGA_FORMATS = {
    "percent": ".1~%",
    "number": ",.1~f",
    "days": ",.1~f",
    "currency": "$,.0f",
    "count": ",.0f",
}
# XLSX number formats: the cell keeps the full number, the spreadsheet shows the packet's digits.
XLSX_FORMATS = {
    "percent": "0.0%",
    "number": "#,##0.0",
    "days": "#,##0.0",
    "currency": '"$"#,##0',
    "count": "#,##0",
}
# Decimals kept in CSV exports (of the stored number: a percent is a fraction, so 3 = 60.5%).
CSV_DECIMALS = {"percent": 3, "number": 1, "days": 1, "currency": 0}

_QUARTER = re.compile(r"^\d{4}-Q[1-4]$")
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def is_missing(x: object) -> bool:
    """True for None, NaN and pandas' NA/NaT (anything that is not a number to show)."""
    if x is None:
        return True
    try:
        return bool(x != x)  # NaN, pd.NA (raises on bool), NaT
    except TypeError:
        return True


def _check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        # A programming error: config.Metric only admits these formats.
        raise ValueError(f"unknown value format {fmt!r}; known: {', '.join(FORMATS)}")
    return fmt


def _trimmed(x: float, decimals: int) -> str:
    """``x`` with ``decimals`` decimals and thousands separators, a trailing ".0" cut, never "-0"."""
    text = f"{round(x, decimals) + 0.0:,.{decimals}f}"
    if decimals and text.endswith("." + "0" * decimals):
        text = text[: -decimals - 1]
    return "0" if text in ("-0", "-0.0") else text


def _number(x: float) -> str:
    return _trimmed(x, 0 if abs(x) >= 99.95 else 1)


def _unit(fmt: str, unit: str, shown: str) -> str:
    """The unit after a number: "days" for the days format, singular after exactly 1."""
    unit = unit or ("days" if fmt == "days" else "")
    if unit.endswith("s") and shown.lstrip("+-") == "1":
        unit = unit[:-1]
    return f" {unit}" if unit else ""


def value(x: float | None, fmt: str = "number", unit: str = "", *, suppressed: bool = False) -> str:
    """A value as people read it: 0.6 -> "60%", 41 days -> "41 days", 13733.3 -> "$13,733".

    Args:
        x: the stored value (a percent is a fraction: 0.6 is 60%).
        fmt: the metric's ``format`` (percent, number, days, currency).
        unit: the metric's ``unit`` ("days", "months"); days default to "days".
        suppressed: the cell is hidden by the privacy rules: reads "suppressed", never a number.
    """
    _check_format(fmt)
    if suppressed:
        return SUPPRESSED
    if is_missing(x):
        return MISSING
    x = float(x)
    if fmt == "percent":
        return _trimmed(x * 100, 1) + "%"
    if fmt == "currency":
        text = _trimmed(abs(x), 0)
        return ("-" if text != "0" and x < 0 else "") + "$" + text
    shown = _number(x)
    return shown + _unit(fmt, unit, shown)


def distinct(x: float, other: float, fmt: str = "number", unit: str = "") -> str:
    """``x`` as :func:`value` shows it, with one more decimal when it would read the same as
    ``other``: "14.96% is below the target of 15%", never "15% is below the target of 15%"."""
    shown = value(x, fmt, unit)
    if is_missing(x) or shown != value(other, fmt, unit) or fmt == "currency":
        return shown
    if fmt == "percent":
        return _trimmed(float(x) * 100, 2) + "%"
    text = _trimmed(float(x), 2)
    return text + _unit(fmt, unit, text)


def cell(row: Mapping, col: str = "value") -> str:
    """One column of a ``metric_values`` row, by the row's own ``format``, ``unit`` and
    ``suppressed``: a tile's value, its target, its peer median or its previous value."""
    unit = row.get("unit", "")
    return value(
        row.get(col),
        row["format"],
        "" if is_missing(unit) else str(unit),
        suppressed=bool(row.get("suppressed", False)),
    )


def count(n: float | None, *, suppressed: bool = False) -> str:
    """A count of people or cases: 1234 -> "1,234" (a non-whole sum keeps one decimal)."""
    if suppressed:
        return SUPPRESSED
    if is_missing(n):
        return MISSING
    n = float(n)
    return _trimmed(n, 0) if n.is_integer() else f"{n:,.1f}"


def interval(
    x: float | None,
    low: float | None,
    high: float | None,
    fmt: str = "number",
    unit: str = "",
    *,
    suppressed: bool = False,
) -> str:
    """A value with its 95% interval: "60% (52%–68%)", "41 days (35–48 days)".

    A missing interval (too few cases, or a kind without one) leaves the value alone.
    """
    shown = value(x, fmt, unit, suppressed=suppressed)
    if suppressed or is_missing(x) or is_missing(low) or is_missing(high):
        return shown
    return f"{shown} ({bounds(low, high, fmt, unit, sep='–')})"


def bounds(
    low: float | None, high: float | None, fmt: str = "number", unit: str = "", sep: str = " to "
) -> str:
    """An interval's two ends, the unit once: "52% to 68%", "35 to 48 days", "$1,000 to $1,400"."""
    if is_missing(low) or is_missing(high):
        return MISSING
    first = value(low, fmt) if fmt in ("percent", "currency") else _number(float(low))
    return f"{first}{sep}{value(high, fmt, unit)}"


def _points(d: float) -> str:
    return _trimmed(d * 100, 1)


def signed(d: float | None, fmt: str = "number", unit: str = "", *, with_unit: bool = True) -> str:
    """A signed difference in the metric's terms: "+5.3 points", "-1 day", "+$1,200", "+51".

    Differences of percents are percentage points, with the percent's precision; zero has no
    sign ("0 points"). ``with_unit=False`` drops the unit for the first end of a range.
    """
    _check_format(fmt)
    if is_missing(d):
        return MISSING
    d = float(d)
    if fmt == "percent":
        text = _points(d)
        word = (" point" if text.lstrip("-") == "1" else " points") if with_unit else ""
    elif fmt == "currency":
        text = _trimmed(abs(d), 0)
        text = ("-" if d < 0 and text != "0" else "") + "$" + text
        word = ""
    else:
        text = _number(d)
        word = _unit(fmt, unit, text) if with_unit else ""
    if text.lstrip("-$") not in ("0",) and not text.startswith("-"):
        text = "+" + text
    return text + word


def signed_range(low: float | None, high: float | None, fmt: str = "number", unit: str = "") -> str:
    """An interval of a difference, the unit once: "-2.5 to +8 points", "+1 to +4 days"."""
    if is_missing(low) or is_missing(high):
        return MISSING
    return f"{signed(low, fmt, unit, with_unit=False)} to {signed(high, fmt, unit)}"


def gap(d: float | None, fmt: str = "number", unit: str = "", *, with_unit: bool = True) -> str:
    """A gap's size without its sign, as people say it: "27 points", "12 days", "$1,200"."""
    if is_missing(d):
        return MISSING
    text = signed(abs(float(d)), fmt, unit, with_unit=with_unit)
    return text.lstrip("+")


def period(label: str) -> str:
    """A period's name in a sentence: "2026-10" -> "October 2026", "2026-Q3" ->
    "July–September 2026"; a year (or anything else) is shown as it is."""
    if _MONTH.match(label):
        return month_name(label)
    if _QUARTER.match(label):
        return quarter_name(label)
    return label


def period_short(label: str) -> str:
    """A period's short name for axes and table headers: "2026-10" -> "Oct 2026"."""
    return month_label(label) if _MONTH.match(label) else label


def possessive(name: str) -> str:
    """ "Harbor Light Housing's", "Eastside Family Partners'"."""
    return f"{name}'" if name.endswith("s") else f"{name}'s"


def vega_format(fmt: str) -> str:
    """The d3 format string for a metric's ``format`` (or "count"), for axes, tooltips, labels."""
    return VEGA_FORMATS[fmt if fmt == "count" else _check_format(fmt)]


def xlsx_format(fmt: str) -> str:
    """The XLSX number format for a metric's ``format`` (or "count" for numbers of cases)."""
    return XLSX_FORMATS[fmt if fmt == "count" else _check_format(fmt)]


def csv_number(x: float | None, fmt: str) -> float | None:
    """A stored value rounded to the precision a packet shows, for CSV exports (None if missing)."""
    if is_missing(x):
        return None
    return round(float(x), CSV_DECIMALS[_check_format(fmt)])


def lower_first(label: str) -> str:
    """A label inside a sentence: "Race and ethnicity" -> "race and ethnicity", but an
    initialism keeps its capitals ("ZIP code" stays "ZIP code")."""
    if len(label) > 1 and label[0].isupper() and label[1].islower():
        return label[0].lower() + label[1:]
    return label
