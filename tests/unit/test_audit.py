"""The leak check: each kind of leak planted in a small packet is caught, and the honest packet
passes (no false alarm from a number that merely equals a suppressed one elsewhere)."""

from __future__ import annotations

import pandas as pd
import pytest

from acm_helpers.packets import audit, audit_facts
from acm_helpers.packets import render as report

FACTS = audit.PrivacyFacts(
    provider="harbor",
    client_ids=frozenset({"C0100123", "C0100456"}),
    forbidden_names=("Cascade Family Services", "Rainier Valley Shelter Alliance"),
    forbidden_ids=frozenset({"cascade", "rainier"}),
    suppressed=(
        audit.SuppressedCell(
            metric="Exits to permanent housing",
            metric_id="exits_to_permanent_housing",
            group="Multiracial",
            numbers=frozenset({"3", "7", "43%", "42.9%"}),
            period="2026-10",
        ),
    ),
)

HONEST = """<html><body><main>
<div class="acm-tile"><span class="label">Exits to permanent housing</span>
  <span class="value">55%</span><span class="sub">Target 45% · 21 of 38 leavers</span></div>
<table><tr><th>Metric</th><th>Group</th><th>Value</th><th>Leavers</th></tr>
<tr><td>Exits to permanent housing</td><td>White</td><td>57%</td><td>7</td></tr>
<tr><td>Exits to permanent housing</td><td>Multiracial</td><td>suppressed</td><td>suppressed</td></tr>
<tr><td>Median length of stay</td><td>Multiracial</td><td>suppressed</td><td>suppressed</td></tr></table>
<p>Peers are shown as Provider A, Provider B.</p>
<svg><g aria-label="provider: Provider A; value: 0.41"></g><text>Provider A</text></svg>
</main></body></html>"""


def _kinds(findings):
    return sorted(f.kind for f in findings)


def test_html_units_keep_rows_and_tiles_whole():
    units = audit.html_units(HONEST)
    assert "Exits to permanent housing White 57% 7" in units
    assert any(u.startswith("Exits to permanent housing 55% Target 45%") for u in units)
    assert "provider: Provider A; value: 0.41" in units  # SVG aria-label is checked too


def test_honest_packet_passes():
    # "7" appears in the White row, but the White cell is not suppressed: no false alarm.
    assert audit.check_units(audit.html_units(HONEST), FACTS, "packet.html") == []


@pytest.mark.parametrize(
    ("planted", "kind"),
    [
        pytest.param(
            "<p>Follow up with client C0100123 about the move-in.</p>",
            "client_id",
            id="client-id-text",
        ),
        pytest.param(
            '<svg><g aria-label="client_id: C0100456"></g></svg>',
            "client_id",
            id="client-id-chart-label",
        ),
        pytest.param(
            "<p>Cascade Family Services exits more clients to housing.</p>",
            "provider_name",
            id="peer-name",
        ),
        pytest.param(
            "<p>Compare with   rainier valley shelter alliance.</p>",
            "provider_name",
            id="peer-name-case-space",
        ),
        pytest.param(
            "<table><tr><td>cascade</td><td>41%</td></tr></table>", "provider_name", id="peer-id"
        ),
        pytest.param(
            "<table><tr><td>Exits to permanent housing</td><td>Multiracial</td><td>43%</td></tr></table>",
            "suppressed_value",
            id="suppressed-rate",
        ),
        pytest.param(
            "<ul><li>Exits to permanent housing, Multiracial: 3 of 7</li></ul>",
            "suppressed_value",
            id="suppressed-counts",
        ),
    ],
)
def test_planted_leak_is_caught(planted, kind):
    page = HONEST.replace("</main>", planted + "</main>")
    findings = audit.check_units(audit.html_units(page), FACTS, "packet.html")
    assert set(_kinds(findings)) == {kind}  # a peer's name also holds its id: one or two findings
    assert findings[0].file == "packet.html"
    assert "C0100123" not in findings[0].excerpt  # the manifest never repeats the secret


def test_client_id_inside_a_longer_token_is_not_a_hit():
    assert audit.check_units(["id XC0100123Y"], FACTS, "x") == []


def test_xlsx_cells_are_checked(tmp_path):
    sheets = {
        "Equity": pd.DataFrame(
            {
                "metric": ["Exits to permanent housing", "Exits to permanent housing"],
                "group": ["White", "Multiracial"],
                "numerator": [4.0, 3.0],
                "denominator": [7.0, 7.0],
                "value": [0.57, 0.43],
                "suppressed": [False, True],
            }
        )
    }
    honest = report.write_xlsx(
        tmp_path / "honest.xlsx", sheets, notes=[("Provider", "Harbor Light Housing")]
    )
    assert audit.check_files([honest], FACTS) == []
    leaky_frame = sheets["Equity"].assign(suppressed=False)  # a writer that forgot to suppress
    leaky = report.write_xlsx(tmp_path / "leaky.xlsx", {"Equity": leaky_frame})
    findings = audit.check_files([leaky], FACTS)
    assert _kinds(findings) == ["suppressed_value"] and findings[0].file == "leaky.xlsx"


def test_dated_xlsx_rows_are_checked_against_their_month(tmp_path):
    # A month cell is a date in the workbook; the audit reads it as its period, so a dated row
    # that prints a suppressed cell's true value is caught (it was read as "2026-10-01 00:00:00",
    # which named no period, and the row went unchecked), and the same numbers in another
    # month's row are not a false alarm.
    def trend(month: str):
        return pd.DataFrame(
            {
                "month": [month],  # written as the date of the month's first day
                "metric": ["Exits to permanent housing"],
                "group": ["Multiracial"],
                "numerator": [3.0],
                "denominator": [7.0],
            }
        )

    leaky = report.write_xlsx(tmp_path / "leaky.xlsx", {"Trend": trend("2026-10")})
    findings = audit.check_files([leaky], FACTS)
    assert _kinds(findings) == ["suppressed_value"] and findings[0].file == "leaky.xlsx"
    other = report.write_xlsx(tmp_path / "other.xlsx", {"Trend": trend("2026-09")})
    assert audit.check_files([other], FACTS) == []


def test_printed_forms_of_a_rate():
    assert audit_facts.printed_forms(3 / 7, "percent") == {
        "0.428571",
        "43%",
        "42.9%",
        "0.43",
        "0.429",
    }
    assert audit_facts.printed_forms(7.0, "number") == {"7", "7.0"}
    assert audit_facts.printed_forms(None, "number") == set()


def test_unknown_file_type_is_an_error(tmp_path):
    p = tmp_path / "packet.docx"
    p.write_text("x")
    with pytest.raises(audit.PrivacyError, match="unknown file type '.docx'"):
        audit.file_units(p)


def test_a_table_row_is_read_with_its_caption():
    page = (
        "<table><caption>Exits to permanent housing by race and ethnicity, July–September 2026</caption>"
        "<tr><td>Multiracial</td><td>43%</td></tr></table>"
    )
    units = audit.html_units(page)
    assert (
        "Exits to permanent housing by race and ethnicity, July–September 2026 | Multiracial 43%"
        in units
    )
    cell = audit.SuppressedCell(
        metric="Exits to permanent housing",
        group="Multiracial",
        dimension="Race and ethnicity",
        numbers=frozenset({"43%"}),
        period="2026-Q3",
        current=True,
    )
    facts = audit.PrivacyFacts(
        provider="harbor", suppressed=(cell,), dimension_labels=("Race and ethnicity", "Gender")
    )
    assert [f.kind for f in audit.check_units(units, facts, "p.html")] == ["suppressed_value"]


def test_same_group_label_in_another_breakdown_is_not_confused():
    # gender "Unknown" is suppressed (true median 3 days); race "Unknown" is shown and its row has a 3
    cell = audit.SuppressedCell(
        metric="Days from referral to enrollment",
        group="Unknown",
        dimension="Gender",
        numbers=frozenset({"3"}),
        period="2026-Q1",
        current=True,
    )
    facts = audit.PrivacyFacts(
        provider="puget", suppressed=(cell,), dimension_labels=("Race and ethnicity", "Gender")
    )
    race_row = (
        "Days from referral to enrollment | Race and ethnicity | Unknown | 7 | 11 | 2 | 10 | 3"
    )
    assert audit.check_units([race_row], facts, "appendix.xlsx") == []
    gender_row = race_row.replace("Race and ethnicity", "Gender")
    assert [f.kind for f in audit.check_units([gender_row], facts, "appendix.xlsx")] == [
        "suppressed_value"
    ]


@pytest.mark.parametrize(
    ("unit", "caught"),
    [
        pytest.param("Exits to permanent housing | 2026-03 | 3 | 7", True, id="its-month"),
        pytest.param("Exits to permanent housing | 2026-04 | 3 | 7", False, id="another-month"),
        pytest.param("Exits to permanent housing | Peer B | 3 | 7", False, id="another-provider"),
        pytest.param(
            "Returns within 12 months | 2026-03 | suppressed",
            False,
            id="label-digits-are-not-values",
        ),
    ],
)
def test_a_unit_is_about_what_it_names(unit, caught):
    cells = (
        audit.SuppressedCell(
            metric="Exits to permanent housing",
            group="",
            numbers=frozenset({"3", "7"}),
            period="2026-03",
            current=False,
        ),
        audit.SuppressedCell(
            metric="Returns within 12 months",
            group="",
            numbers=frozenset({"12"}),
            period="2026-03",
            current=False,
        ),
    )
    facts = audit.PrivacyFacts(
        provider="harbor",
        suppressed=cells,
        other_labels=("Peer A", "Peer B"),
        labels_with_digits=("Returns within 12 months",),
    )
    assert bool(audit.check_units([unit], facts, "x")) is caught


def test_the_suppression_rule_is_not_read_as_a_value():
    cell = audit.SuppressedCell(
        metric="Days from referral to first visit",
        group="",
        numbers=frozenset({"11"}),
        period="2025-11",
        current=False,
    )
    facts = audit.PrivacyFacts(provider="salish", suppressed=(cell,))
    row = (
        "Days from referral to first visit | 2025-11 | suppressed | suppressed: fewer than 11 cases"
    )
    assert audit.check_units([row], facts, "appendix.xlsx") == []
    assert (
        audit.check_units([row + " | 11 days"], facts, "appendix.xlsx")[0].kind
        == "suppressed_value"
    )


def test_a_finding_never_repeats_the_suppressed_numbers():
    page = "<ul><li>Exits to permanent housing, Multiracial: 3 of 7</li></ul>"
    (finding,) = audit.check_units(audit.html_units(page), FACTS, "packet.html")
    assert finding.message == (
        "packet.html: suppressed value the suppressed cell Exits to permanent housing / "
        "Multiracial / 2026-10 is shown with its true number(s)"
    )
    assert finding.excerpt == "Exits to permanent housing, Multiracial: # of #"


def test_a_window_ending_in_the_month_is_not_the_month():
    """A deep dive's "in the 12 months to Oct 2026" is about the window: the month's suppressed
    cell is not matched by the window's numbers; the month itself still is."""
    cell = audit.SuppressedCell(
        metric="Exits to permanent housing",
        group="Asian or Asian American",
        numbers=frozenset({"1", "13", "100%"}),
        period="2026-10",
        current=False,
    )
    facts = audit.PrivacyFacts(provider="harbor", suppressed=(cell,))
    window = (
        "In the 12 months to Oct 2026 exits to permanent housing for Asian or Asian American "
        "was 85% (n=13) against 51% for White."
    )
    assert audit.check_units([window], facts, "deep_dive.html") == []
    month = "Exits to permanent housing for Asian or Asian American in Oct 2026: 1 of 1 (100%)."
    assert _kinds(audit.check_units([month], facts, "deep_dive.html")) == ["suppressed_value"]


def test_a_metric_definitions_own_numbers_are_not_values(program):
    """The definitions section prints each metric's definition: its "12 months before the
    period" is the definition, not the suppressed cell's denominator of 12 (a false alarm seen
    on harbor's 2026-09 packet); the cell's numbers in a sentence are still caught."""
    metric = program.metrics["returns_within_12m"]
    assert any(ch.isdigit() for ch in metric.definition)
    cell = audit.SuppressedCell(
        metric=metric.label, group="", numbers=frozenset({"0", "12", "0%"}), period="2026-09"
    )
    facts = audit.PrivacyFacts(
        provider="harbor",
        suppressed=(cell,),
        labels_with_digits=audit_facts.digit_labels(program, None),
    )
    definition = f"{metric.label} {metric.definition} suppressed: complementary"
    assert audit.check_units([definition], facts, "packet.html") == []
    leak = f"{metric.label}: 0 of 12 {metric.denominator_label}"
    assert audit.check_units([leak], facts, "packet.html")[0].kind == "suppressed_value"


def test_a_stored_count_reads_as_pd_isna_reads_it():
    """The hidden cells' fast missing-value test agrees with ``pd.isna`` on every kind of
    missing value the store's columns give (NumPy NaN, None, pandas' NA) and keeps numbers."""
    import numpy as np

    values = [None, pd.NA, np.nan, np.float32("nan"), 0, 3, 3.0, np.float64(2.5), np.int64(4)]
    for v in values:
        want = None if pd.isna(v) else float(v)
        assert audit_facts._number(v) == want, v
