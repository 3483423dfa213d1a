"""core.text: one precision rule per format, the same text in tiles, sentences, tables and exports."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from acm_helpers.core import text


@pytest.mark.parametrize(
    ("x", "fmt", "unit", "expected"),
    [
        pytest.param(0.0, "percent", "", "0%", id="percent-zero"),
        pytest.param(0.0004, "percent", "", "0%", id="percent-tiny-rounds-to-zero"),
        pytest.param(-0.0004, "percent", "", "0%", id="percent-tiny-negative-no-minus-zero"),
        pytest.param(0.003, "percent", "", "0.3%", id="percent-small"),
        pytest.param(0.6, "percent", "", "60%", id="percent-whole-trims-zero"),
        pytest.param(0.605, "percent", "", "60.5%", id="percent-one-decimal"),
        pytest.param(0.60549, "percent", "", "60.5%", id="percent-rounds"),
        pytest.param(12.5, "percent", "", "1,250%", id="percent-large"),
        pytest.param(-0.052, "percent", "", "-5.2%", id="percent-negative"),
        pytest.param(0.0, "number", "", "0", id="number-zero"),
        pytest.param(0.25, "number", "", "0.2", id="number-small-half-even"),
        pytest.param(31.5, "number", "", "31.5", id="number-fraction"),
        pytest.param(12.0, "number", "", "12", id="number-whole"),
        pytest.param(99.96, "number", "", "100", id="number-rounds-up-to-100"),
        pytest.param(1234.5, "number", "", "1,234", id="number-large-whole"),
        pytest.param(-3.25, "number", "", "-3.2", id="number-negative"),
        pytest.param(2.5, "number", "months", "2.5 months", id="number-unit"),
        pytest.param(0.0, "days", "", "0 days", id="days-zero"),
        pytest.param(1.0, "days", "", "1 day", id="days-one-singular"),
        pytest.param(41.5, "days", "days", "41.5 days", id="days-small"),
        pytest.param(432.4, "days", "", "432 days", id="days-large"),
        pytest.param(-2.0, "days", "", "-2 days", id="days-negative"),
        pytest.param(0.0, "currency", "", "$0", id="currency-zero"),
        pytest.param(0.4, "currency", "", "$0", id="currency-small"),
        pytest.param(13733.3, "currency", "", "$13,733", id="currency-large"),
        pytest.param(-1200.0, "currency", "", "-$1,200", id="currency-negative"),
        pytest.param(None, "percent", "", "–", id="none"),
        pytest.param(math.nan, "days", "", "–", id="nan"),
        pytest.param(pd.NA, "number", "", "–", id="pandas-na"),
        pytest.param(float("nan"), "currency", "", "–", id="nan-currency"),
    ],
)
def test_value(x, fmt, unit, expected):
    assert text.value(x, fmt, unit) == expected


@pytest.mark.parametrize("fmt", text.FORMATS)
def test_suppressed_never_shows_the_number(fmt):
    assert text.value(0.5, fmt, suppressed=True) == "suppressed"
    assert text.interval(0.5, 0.4, 0.6, fmt, suppressed=True) == "suppressed"
    assert text.count(12, suppressed=True) == "suppressed"


def test_unknown_format_is_refused_with_the_known_ones():
    with pytest.raises(ValueError, match="percent, number, days, currency"):
        text.value(1.0, "ratio")


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        pytest.param(0, "0", id="zero"),
        pytest.param(7.0, "7", id="small"),
        pytest.param(1234567, "1,234,567", id="large-separators"),
        pytest.param(12.5, "12.5", id="non-whole-sum"),
        pytest.param(-3, "-3", id="negative"),
        pytest.param(None, "–", id="none"),
        pytest.param(math.nan, "–", id="nan"),
    ],
)
def test_count(n, expected):
    assert text.count(n) == expected


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        pytest.param((0.6, 0.52, 0.68, "percent"), "60% (52%–68%)", id="percent"),
        pytest.param((41.0, 35.0, 48.5, "days"), "41 days (35–48.5 days)", id="days-unit-once"),
        pytest.param((1200.0, 1000.0, 1400.0, "currency"), "$1,200 ($1,000–$1,400)", id="currency"),
        pytest.param((0.6, math.nan, math.nan, "percent"), "60%", id="no-interval"),
        pytest.param((None, 0.1, 0.2, "percent"), "–", id="missing-value"),
    ],
)
def test_interval(args, expected):
    assert text.interval(*args) == expected


def test_bounds_name_the_unit_once():
    assert text.bounds(0.52, 0.68, "percent") == "52% to 68%"
    assert text.bounds(35, 48, "days") == "35 to 48 days"
    assert text.bounds(None, 48, "days") == "–"


@pytest.mark.parametrize(
    ("d", "fmt", "unit", "expected"),
    [
        pytest.param(0.0, "percent", "", "0 points", id="points-zero-no-sign"),
        pytest.param(0.003, "percent", "", "+0.3 points", id="points-small-keeps-decimal"),
        pytest.param(0.01, "percent", "", "+1 point", id="points-one-singular"),
        pytest.param(0.2, "percent", "", "+20 points", id="points-whole"),
        pytest.param(-0.053, "percent", "", "-5.3 points", id="points-negative"),
        pytest.param(-0.0004, "percent", "", "0 points", id="points-rounds-to-zero"),
        pytest.param(-1.0, "days", "days", "-1 day", id="days-singular"),
        pytest.param(12.25, "days", "", "+12.2 days", id="days-small"),
        pytest.param(0.0, "number", "", "0", id="number-zero"),
        pytest.param(51.0, "number", "", "+51", id="number"),
        pytest.param(1234.5, "number", "", "+1,234", id="number-large"),
        pytest.param(1200.0, "currency", "", "+$1,200", id="currency"),
        pytest.param(-1200.0, "currency", "", "-$1,200", id="currency-negative"),
        pytest.param(math.nan, "percent", "", "–", id="nan"),
    ],
)
def test_signed(d, fmt, unit, expected):
    assert text.signed(d, fmt, unit) == expected


def test_signed_range_and_gap():
    assert text.signed_range(-0.025, 0.08, "percent") == "-2.5 to +8 points"
    assert text.signed_range(1, 4, "days") == "+1 to +4 days"
    assert text.signed_range(None, 4, "days") == "–"
    assert text.gap(-0.27, "percent") == "27 points"
    assert text.gap(-0.27, "percent", with_unit=False) == "27"
    assert text.gap(12, "days", "days") == "12 days"
    assert text.gap(-1200, "currency") == "$1,200"
    assert text.gap(None, "percent") == "–"


@pytest.mark.parametrize(
    ("label", "long", "short"),
    [
        pytest.param("2026-10", "October 2026", "Oct 2026", id="month"),
        pytest.param("2026-01", "January 2026", "Jan 2026", id="january"),
        pytest.param("2026-Q3", "July–September 2026", "2026-Q3", id="quarter"),
        pytest.param("2026", "2026", "2026", id="year"),
    ],
)
def test_period(label, long, short):
    assert text.period(label) == long
    assert text.period_short(label) == short


def test_possessive():
    assert text.possessive("Harbor Light Housing") == "Harbor Light Housing's"
    assert text.possessive("Eastside Family Partners") == "Eastside Family Partners'"


@pytest.mark.parametrize("fmt", text.FORMATS)
def test_exports_follow_the_same_precision(fmt):
    """Vega, XLSX and CSV keep the digits the packet shows (one decimal of a percent, etc.)."""
    assert text.vega_format(fmt)
    assert text.xlsx_format(fmt)
    shown = {"percent": 0.605, "number": 31.5, "days": 31.5, "currency": 13733.0}[fmt]
    assert text.csv_number(shown + 0.0001, fmt) == shown
    assert text.csv_number(None, fmt) is None


def test_vega_percent_trims_like_value():
    # d3's "~" trims trailing zeros: 0.6 -> "60%", 0.605 -> "60.5%", as text.value does.
    assert text.vega_format("percent") == ".1~%"
    assert text.vega_format("count") == ",.0f"
    assert text.xlsx_format("count") == "#,##0"


@pytest.mark.parametrize(
    ("x", "other", "fmt", "expected"),
    [
        pytest.param(0.1496, 0.15, "percent", "14.96%", id="percent-reads-like-target"),
        pytest.param(0.12, 0.15, "percent", "12%", id="percent-differs-already"),
        pytest.param(29.96, 30.0, "days", "29.96 days", id="days-reads-like-target"),
        pytest.param(math.nan, 0.15, "percent", "–", id="missing"),
    ],
)
def test_distinct_shows_the_digit_that_differs(x, other, fmt, expected):
    assert text.distinct(x, other, fmt) == expected


def test_cell_reads_a_metric_values_row_by_its_own_format():
    row = {"value": 4.5, "target": 6.0, "format": "number", "unit": "months", "suppressed": False}
    assert text.cell(row) == "4.5 months"
    assert text.cell(row, "target") == "6 months"
    assert text.cell({**row, "suppressed": True}) == "suppressed"
    assert text.cell({"value": 0.605, "format": "percent"}) == "60.5%"


@pytest.mark.parametrize(
    ("n", "unit", "expected"),
    [
        pytest.param(481.5, "", "482", id="median-of-counts-is-whole"),
        pytest.param(124.5, "", "125", id="half-up-as-xlsx"),
        pytest.param(1234.4, "clients", "1,234 clients", id="unit"),
        pytest.param(1.0, "clients", "1 client", id="singular"),
    ],
)
def test_whole_counts(n, unit, expected):
    assert text.whole(n, unit) == expected


def test_a_count_metric_reads_whole_everywhere():
    row = {"value": 249.0, "peer_median": 481.5, "format": "number", "unit": "", "kind": "count"}
    assert text.cell(row, "peer_median") == "482"
    assert text.value(481.5, "count") == "482" and text.value(12.5, "number") == "12.5"
    assert text.kind_of("number", "count") == "count" and text.kind_of("days", "median") == "days"
    assert text.csv_number(481.5, "count") == 482 and text.csv_number(114.0, "days") == 114


@pytest.mark.parametrize(
    ("n", "noun", "expected"),
    [
        pytest.param(1, "row", "1 row", id="one"),
        pytest.param(0, "row", "0 rows", id="zero"),
        pytest.param(1234, "row", "1,234 rows", id="many"),
        pytest.param(3, "entry", "3 entries", id="y-ies"),
        pytest.param(2, "day", "2 days", id="vowel-y"),
    ],
)
def test_plural(n, noun, expected):
    assert text.plural(n, noun) == expected


def test_labels_never_raw_ids(program):
    assert text.field_label("birth_date") == "Date of birth"
    assert text.field_label("move_in_date") == "Move-in date"
    assert text.field_label("ci_low") == "95% interval from"
    assert text.label(program, "exits_to_permanent_housing") == "Exits to permanent housing"
    assert text.label(program, "age_band") == "Age at entry"
    assert text.label(program, "harbor") == "Harbor Light Housing"


def test_groups_in_natural_order():
    bands = ["25-34", "0-17", "65+", "Not recorded", "18-24", "55-64"]
    assert text.ordered_groups(bands) == ["0-17", "18-24", "25-34", "55-64", "65+", "Not recorded"]
    codes = ["White", "Black or African American", "Multiracial"]
    assert text.ordered_groups(["Multiracial", "Unknown", "White"], codes) == [
        "White",
        "Multiracial",
        "Unknown",
    ]


@pytest.mark.parametrize(
    ("x", "kind", "expected"),
    [
        pytest.param(18.0, "days", "#,##0", id="whole-days"),
        pytest.param(18.5, "days", "#,##0.0", id="half-day"),
        pytest.param(114.4, "days", "#,##0", id="whole-from-100"),
        pytest.param(0.4, "percent", "0%", id="whole-percent"),
        pytest.param(0.405, "percent", "0.0%", id="tenth-percent"),
        pytest.param(13733.3, "currency", '"$"#,##0', id="dollars"),
    ],
)
def test_xlsx_cell_shows_the_packets_digits(x, kind, expected):
    assert text.xlsx_cell_format(x, kind) == expected


def test_axis_titles_name_the_unit(program):
    titles = {mid: text.axis_title(m) for mid, m in program.metrics.items()}
    assert titles["median_length_of_stay"] == "days"
    assert titles["exits_to_permanent_housing"] == "% of leavers"
    assert titles["cost_per_exit_to_ph"] == "dollars"
    assert titles["clients_served"] == "clients served"


def test_month_axis_labels_read_month_names():
    expr = text.vega_period_labels(["2026-09", "2026-10"])
    assert "'Sep 2026', 'Oct 2026'" in expr and "'2026-09', '2026-10'" in expr


@pytest.mark.parametrize(
    ("x", "other", "fmt", "expected"),
    [
        pytest.param(7.0, 7.04, "days", ("7 days", "7.04 days"), id="limit-reads-apart"),
        pytest.param(7.04, 7.01, "days", ("7.04 days", "7.01 days"), id="both-sides-move"),
        pytest.param(0.1496, 0.15, "percent", ("14.96%", "15%"), id="percent"),
        pytest.param(0.40, 0.45, "percent", ("40%", "45%"), id="already-apart"),
        pytest.param(481.5, 482.0, "count", ("482", "482"), id="counts-stay-whole"),
    ],
)
def test_pair_reads_true(x, other, fmt, expected):
    assert text.pair(x, other, fmt) == expected


def test_series_reads_as_prose():
    from acm_helpers.core import text

    assert text.series([]) == ""
    assert text.series(["ZIP code"]) == "ZIP code"
    assert text.series(["age", "gender"]) == "age and gender"
    assert text.series(["a", "b", "c"]) == "a, b and c"
