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
           non-whole sum keeps one decimal); a count         481.5 -> "482"
           metric's values (medians too) always whole
========== =============================================== ==============================

Ties round to even, as Python's formatting does (124.5 -> "124"), so the engine's ``math``
sentences did not change when they moved here; a count metric's whole numbers (:func:`whole`)
round halves up, as the XLSX cell beside them does. A missing value reads "–" and a suppressed one
"suppressed", so a blank never looks like a zero and a hidden number never leaks. Differences
of rates are in percentage points with the same precision as the rate ("+5.3 points"); other
differences carry the metric's unit. Chart format strings (d3, for Vega), XLSX number formats
and CSV decimals come from the same rules, so a tooltip, a tile, a sentence and a spreadsheet
cell show the same digits (:func:`xlsx_cell_format` picks each cell's format so "18 days"
is not "18.0" there). Period names come from :mod:`acm_helpers.core.calendar`.

Beyond numbers, everything a reader sees that used to leak from the data model is written here
too (issue 15): :func:`pair` (a value and its target or control limit, to the digits that make
the sentence true), :func:`plural` ("1 row", "2 rows"), :func:`label` / :func:`field_label`
(any metric, dimension, provider or field id as its label, never ``birth_date``),
:func:`ordered_groups` (age bands by age, race as the code list orders it) and
:func:`axis_title` / :func:`vega_period_labels` (a chart's unit and "Oct 2026" on its axis).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from acm_helpers.core.calendar import (
    BIWEEK_RE,
    WEEK_RE,
    month_label,
    month_name,
    quarter_name,
    week_name,
)

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
    "money": '"$"#,##0.00',  # payment statements and invoices: dollars and cents
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
        fmt: the metric's ``format`` (percent, number, days, currency), or "count" for a
            count metric's values (whole numbers: :func:`whole`).
        unit: the metric's ``unit`` ("days", "months"); days default to "days".
        suppressed: the cell is hidden by the privacy rules: reads "suppressed", never a number.
    """
    if fmt == "count":
        return whole(x, unit, suppressed=suppressed)
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


def pair(
    x: float | None, other: float | None, fmt: str = "number", unit: str = ""
) -> tuple[str, str]:
    """``x`` and the number it is compared with (a target, a control limit, a peer median),
    both with enough decimals that the sentence reads true: "7.04 days is above the upper
    control limit of 7.01 days", never "7 days is above ... of 7.01 days" or "... of 7 days".

    Each side gets the fewest extra decimals (up to three) at which the two shown numbers
    differ in the same direction as the numbers themselves; equal numbers read the same.
    """
    shown = value(x, fmt, unit), value(other, fmt, unit)
    if is_missing(x) or is_missing(other) or fmt in ("currency", "count") or x == other:
        return shown
    scale = 100.0 if fmt == "percent" else 1.0
    a, b = float(x) * scale, float(other) * scale
    base = 1 if fmt == "percent" else (0 if max(abs(a), abs(b)) >= 99.95 else 1)

    def ordered(d: int) -> bool:
        ra, rb = round(a, d), round(b, d)
        return ra != rb and (ra > rb) == (a > b)

    if ordered(base):
        return shown
    for d in range(base + 1, base + 4):
        if ordered(d):
            if fmt == "percent":
                return _trimmed(a, d) + "%", _trimmed(b, d) + "%"
            ta, tb = _trimmed(a, d), _trimmed(b, d)
            return ta + _unit(fmt, unit, ta), tb + _unit(fmt, unit, tb)
    return shown


def cell(row: Mapping, col: str = "value") -> str:
    """One column of a ``metric_values`` row, by the row's own ``format``, ``unit``, ``kind``
    and ``suppressed``: a tile's value, its target, its peer median or its previous value.

    A count metric's columns read as whole numbers (a peer median of 481.5 clients is "482"):
    people are counted in ones, even where a median of counts falls between two."""
    unit = row.get("unit", "")
    unit = "" if is_missing(unit) else str(unit)
    suppressed = bool(row.get("suppressed", False))
    if row.get("kind") == "count":
        return whole(row.get(col), unit, suppressed=suppressed)
    return value(row.get(col), row["format"], unit, suppressed=suppressed)


def whole(n: float | None, unit: str = "", *, suppressed: bool = False) -> str:
    """A count shown in whole ones, as a count metric's value, median or quartile reads:
    481.5 -> "482", with its unit if it has one ("482 clients"). Halves round up, as the
    XLSX cell's "#,##0" shows the same number (124.5 -> "125" in both)."""
    if suppressed:
        return SUPPRESSED
    if is_missing(n):
        return MISSING
    shown = f"{math.floor(float(n) + 0.5):,}"  # half up, as a spreadsheet's "#,##0" shows it
    return shown + (_unit("number", unit, shown) if unit else "")


def kind_of(fmt: str, kind: str = "") -> str:
    """The display kind of a metric: its ``format``, or "count" for a count metric (whole
    numbers in tiles, axes, XLSX and CSV)."""
    return "count" if kind == "count" else _check_format(fmt)


def metric_value(x: float | None, metric, *, suppressed: bool = False) -> str:
    """A value of ``metric`` (a :class:`~acm_helpers.core.config.Metric`) as every output shows
    it: by its format and unit, whole numbers for a count metric."""
    if metric.kind == "count":
        return whole(x, metric.unit, suppressed=suppressed)
    return value(x, metric.format, metric.unit, suppressed=suppressed)


def decimals(kind: str) -> int:
    """The most decimals a value of this display kind shows, of the number as printed (a
    percent's are of the percent: 60.5% has 1). The output scan tests hold every file to it."""
    return {"percent": 1, "number": 1, "days": 1, "currency": 0, "count": 0}[kind]


def plural(n: float | None, noun: str, many: str = "") -> str:
    """A count with its noun, singular after exactly one: "1 row", "2 rows", "1,234 clients",
    "1 entry" / "3 entries" (``many`` for irregular plurals)."""
    shown = count(n)
    if shown == "1":
        return f"1 {noun}"
    if not many:
        many = (
            noun[:-1] + "ies" if noun.endswith("y") and noun[-2:-1] not in "aeiou" else noun + "s"
        )
    return f"{shown} {many}"


def axis_title(metric) -> str:
    """The unit of a metric's value axis: "days", "dollars", "clients served", "% of leavers".

    Why: a chart's axis without a unit leaves "120" to be read as a count, days or dollars."""
    if metric.format == "percent":
        den = getattr(metric, "denominator_label", "") or ""
        # a long population ("exits to permanent housing a year earlier") would not fit an axis
        return f"% of {den}" if den and len(den) <= 24 else "percent"
    if metric.format == "currency":
        return "dollars"
    if metric.unit:
        return metric.unit
    if metric.format == "days":
        return "days"
    if metric.kind == "count":
        return getattr(metric, "numerator_label", "") or metric.label.lower()
    return ""


# Fields of the canonical record as a reader names them (others: underscores to spaces).
FIELD_LABELS = {
    "episode_id": "Episode ID",
    "client_id": "Client ID",
    "provider_id": "Provider",
    "household_id": "Household ID",
    "zip": "ZIP code",
    "race_ethnicity": "Race and ethnicity",
    "age_at_entry": "Age at entry",
    "age_band": "Age at entry",
    "birth_date": "Date of birth",
    "destination_class": "Destination type",
    "exit_destination": "Exit destination",
    "received": "Date received",
    "metric_id": "Metric",
    "ci_low": "95% interval from",
    "ci_high": "95% interval to",
    "peer_median": "Peer median",
    "peer_q1": "Peers' 25th percentile",
    "peer_q3": "Peers' 75th percentile",
    "peer_rank": "Rank among providers",
    "peer_n": "Providers ranked",
    "period": "Month",
    "dimension": "Breakdown",
}


def field_label(field: str) -> str:
    """A field's name as a reader says it: "birth_date" -> "Date of birth", "move_in_date" ->
    "Move-in date" (underscores become spaces; "id" is "ID")."""
    if field in FIELD_LABELS:
        return FIELD_LABELS[field]
    words = [w.upper() if w in ("id", "zip", "hud", "coc") else w for w in field.split("_")]
    if words[:2] == ["move", "in"]:
        words = ["move-in", *words[2:]]
    label = " ".join(words).strip()
    return label[:1].upper() + label[1:] if label else field


def label(program, ident: str) -> str:
    """The label of any id a program declares: a metric ("Exits to permanent housing"), a
    dimension ("Age at entry"), a provider (its name) or a field ("Date of birth"). Why one
    function: no output should print a raw id, and each used to look them up its own way."""
    if ident in program.metrics:
        return program.metrics[ident].label
    if ident in program.dimensions:
        return program.dimensions[ident].label
    for prov in program.providers:
        if prov.id == ident:
            return prov.name
    return field_label(ident)


_NUMBER_RUN = re.compile(r"(\d+(?:\.\d+)?)")
_LAST_GROUPS = ("not recorded", "unknown", "other", "data not collected")


def group_key(group: str) -> tuple:
    """Sort key of a group in its natural order: binned groups by their numbers ("0-17",
    "18-24", "25-34" ... "65+"), text alphabetically, "Not recorded" and "Unknown" last."""
    g = str(group)
    last = g.strip().lower() in _LAST_GROUPS
    parts = tuple(
        (0, float(t), "") if _NUMBER_RUN.fullmatch(t) else (1, 0.0, t.lower())
        for t in _NUMBER_RUN.split(g)
        if t
    )
    return (last, parts)


def ordered_groups(groups, codes=None) -> list[str]:
    """Groups in their natural order: the program's code list order when it has one (race and
    ethnicity as HUD lists them), else :func:`group_key` (bins by number, never "25-34" first
    because it is the reference group)."""
    seen = list(dict.fromkeys(str(g) for g in groups))
    if codes:
        rank = {str(c): i for i, c in enumerate(codes)}
        return sorted(seen, key=lambda g: (g not in rank, rank.get(g, 0), group_key(g)))
    return sorted(seen, key=group_key)


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
    if fmt == "count":
        first = whole(low)
    else:
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
    "July–September 2026", "2026-W41-42" -> "weeks 41–42, 5–18 Oct 2026"; a year (or anything
    else) is shown as it is."""
    if _MONTH.match(label):
        return month_name(label)
    if _QUARTER.match(label):
        return quarter_name(label)
    if WEEK_RE.match(label) or BIWEEK_RE.match(label):
        return week_name(label)
    return label


def period_short(label: str) -> str:
    """A period's short name for axes and table headers: "2026-10" -> "Oct 2026"; weeks keep
    their ISO name ("2026-W41-42")."""
    return month_label(label) if _MONTH.match(label) else label


def vega_period_labels(periods) -> str:
    """A Vega ``labelExpr`` that shows YYYY-MM axis values as :func:`period_short` does ("Oct
    2026"), so a chart keeps YYYY-MM as its data (marks added on the same axis still line up)
    while its reader sees month names."""
    keys = [str(p) for p in dict.fromkeys(periods)]
    if not keys:
        return "datum.label"
    names = [period_short(k) for k in keys]
    return (
        f"indexof({keys!r}, datum.value) >= 0 ? "
        f"{names!r}[indexof({keys!r}, datum.value)] : datum.label"
    )


def possessive(name: str) -> str:
    """ "Harbor Light Housing's", "Eastside Family Partners'"."""
    return f"{name}'" if name.endswith("s") else f"{name}'s"


def vega_format(fmt: str) -> str:
    """The d3 format string for a metric's ``format`` (or "count"), for axes, tooltips, labels."""
    return VEGA_FORMATS[fmt if fmt == "count" else _check_format(fmt)]


def xlsx_format(fmt: str) -> str:
    """The XLSX number format for a metric's ``format`` (or "count" for numbers of cases)."""
    return XLSX_FORMATS[fmt if fmt in ("count", "money") else _check_format(fmt)]


def xlsx_cell_format(x: float, kind: str) -> str:
    """The XLSX number format that shows ``x`` with the digits :func:`value` writes: "18" days
    (not "18.0"), "40%" (not "40.0%"), "114" from 100 on; other values as :func:`xlsx_format`.

    Why per cell: a spreadsheet format has a fixed number of decimals, so one format per column
    would print "18.0" beside a packet's "18 days"."""
    base = xlsx_format(kind)
    if kind in ("count", "currency", "money") or is_missing(x):
        return base
    x = float(x)
    if kind == "percent":
        return "0%" if float(_trimmed(x * 100, 1).replace(",", "")).is_integer() else base
    shown = _number(x).replace(",", "")
    return "#,##0" if float(shown).is_integer() else base


def money(x) -> str:
    """An amount of money in dollars and cents, as a payment statement or an invoice prints it:
    Decimal("12500") -> "$12,500.00", -40 -> "-$40.00", None -> "–".

    Why not :func:`value`'s currency (whole dollars): a metric's cost is an estimate, a payment
    is owed to the cent, and the statement's lines must add up to its total as printed."""
    if is_missing(x):
        return MISSING
    from decimal import ROUND_HALF_UP, Decimal

    d = Decimal(str(x)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return ("-" if d < 0 else "") + f"${abs(d):,.2f}"


def csv_number(x: float | None, fmt: str) -> float | int | None:
    """A stored value rounded to the precision a packet shows, for CSV exports (None if missing);
    "count" gives a whole number."""
    if is_missing(x):
        return None
    if fmt in ("count", "currency"):  # whole ones, halves up as whole() and XLSX show them
        return math.floor(float(x) + 0.5)
    shown = round(float(x), CSV_DECIMALS[_check_format(fmt)])
    return int(shown) if shown.is_integer() else shown


def lower_first(label: str) -> str:
    """A label inside a sentence: "Race and ethnicity" -> "race and ethnicity", but an
    initialism keeps its capitals ("ZIP code" stays "ZIP code")."""
    if len(label) > 1 and label[0].isupper() and label[1].islower():
        return label[0].lower() + label[1:]
    return label


def series(items: list[str]) -> str:
    """Items as English prose: "a", "a and b", "a, b and c" ("" for none)."""
    return ", ".join(items[:-1]) + " and " + items[-1] if len(items) > 1 else "".join(items)
