"""The differencing check: a suppressed cell that a reader can work out by subtraction, from a
packet's HTML tables and its XLSX sheets together, fails the output and is named; complementary
suppression that leaves at least the threshold unaccounted for passes. Small inline inputs."""

from __future__ import annotations

import pytest
from openpyxl import Workbook

from acm_helpers.packets import audit
from acm_helpers.packets.audit_diff import NUMERATOR, OWN, HiddenCell, period_key

EXITS = "Exits to permanent housing"
SERVED = "Clients served"
RACE = "Race and ethnicity"


def hidden(group="", who=OWN, period="2026-Q3", num=None, den=None, metric=EXITS, dim=RACE):
    return HiddenCell(
        metric=metric.lower(),
        who=who,
        period=period,
        dimension=dim.lower() if group else "",
        group=group.lower(),
        numerator=num,
        denominator=den,
        size_role=NUMERATOR if metric == SERVED else "denominator",
    )


def facts(*cells: HiddenCell) -> audit.PrivacyFacts:
    return audit.PrivacyFacts(
        provider="harbor",
        own_labels=("Harbor Light Housing",),
        other_labels=("Peer A", "Peer B", "All providers"),
        group_labels=(
            "White",
            "Black or African American",
            "Asian or Asian American",
            "Man",
            "Woman",
        ),
        dimension_labels=(RACE, "Gender"),
        metric_kinds=((EXITS, "rate"), (SERVED, "count")),
        threshold=11,
        hidden=cells,
    )


def equity_html(*rows: tuple[str, str, str]) -> str:
    """An equity table as the packet prints it: group, value, cases (or "suppressed")."""
    body = "".join(f"<tr><td>{g}</td><td>{v}</td><td>{n}</td></tr>" for g, v, n in rows)
    return (
        f"<table><caption>{EXITS} by race and ethnicity, July–September 2026</caption>"
        "<thead><tr><th>Group</th><th>Value</th><th>Cases</th></tr></thead>"
        f"<tbody>{body}</tbody></table>"
    )


def workbook(path, sheets: dict[str, list[tuple]]):
    wb = Workbook()
    wb.active.title = "Read me"
    wb.active.append(["Provider", "Harbor Light Housing"])
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for r in rows:
            ws.append(list(r))
    wb.save(path)
    return path


QUARTER_TOTAL = {
    "Quarters": [
        ("metric", "quarter", "value", "numerator", "denominator"),
        (EXITS, "2026-Q3", 0.6, 55, 92),
    ]
}


def audit_files(tmp_path, html: str, sheets: dict, f: audit.PrivacyFacts):
    page = tmp_path / "packet.html"
    page.write_text(f"<html><body>{html}</body></html>", encoding="utf-8")
    return audit.check_files(
        {"html": page, "xlsx": workbook(tmp_path / "appendix.xlsx", sheets)}, f
    )


def test_a_hidden_group_is_recovered_from_the_xlsx_total_and_the_html_groups(tmp_path):
    """92 cases in the quarter (XLSX) minus the 73 + 12 shown groups (HTML) = the 7 hidden."""
    html = equity_html(
        ("White", "55%", "73"),
        ("Asian or Asian American", "60%", "12"),
        ("Black or African American", "suppressed", "suppressed"),
    )
    found = audit_files(
        tmp_path, html, QUARTER_TOTAL, facts(hidden("Black or African American", num=4, den=7))
    )
    assert len(found) == 1
    msg = found[0].message
    assert "Black or African American" in msg and EXITS in msg and "2026-Q3" in msg
    assert "worked out by subtraction" in msg and "denominator" in msg
    assert "packet.html" in msg and "appendix.xlsx" in msg
    assert " 7 " not in msg and "73" not in msg  # names the cell, never its numbers


def test_complementary_suppression_protects_the_hidden_group(tmp_path):
    """The same table with the smallest shown group also suppressed: 92 - 73 = 19 cases hidden in
    two cells, not fewer than the threshold, so neither can be worked out."""
    html = equity_html(
        ("White", "55%", "73"),
        ("Asian or Asian American", "suppressed", "suppressed"),
        ("Black or African American", "suppressed", "suppressed"),
    )
    f = facts(
        hidden("Black or African American", num=4, den=7),
        hidden("Asian or Asian American", num=7, den=12),
    )
    assert audit_files(tmp_path, html, QUARTER_TOTAL, f) == []


def test_hidden_cells_holding_fewer_than_the_threshold_together_fail(tmp_path):
    html = equity_html(
        ("White", "55%", "82"),
        ("Asian or Asian American", "suppressed", "suppressed"),
        ("Black or African American", "suppressed", "suppressed"),
    )
    f = facts(
        hidden("Black or African American", num=2, den=4),
        hidden("Asian or Asian American", num=3, den=6),
    )
    found = audit_files(tmp_path, html, QUARTER_TOTAL, f)
    assert len(found) == 1 and "fewer than 11 cases" in found[0].message
    assert (
        "Asian or Asian American" in found[0].message
        and "Black or African American" in found[0].message
    )


def test_a_residual_that_is_not_the_hidden_cell_is_no_leak(tmp_path):
    """Only part of the breakdown is printed: the residual mixes the hidden group with groups the
    output does not show, so it is not the hidden cell's number."""
    html = equity_html(
        ("White", "55%", "60"), ("Black or African American", "suppressed", "suppressed")
    )
    assert (
        audit_files(
            tmp_path, html, QUARTER_TOTAL, facts(hidden("Black or African American", den=7))
        )
        == []
    )


def test_a_fully_shown_breakdown_is_a_total_for_another(tmp_path):
    """No overall row anywhere, but gender's groups are all shown: their sum is the total, and
    race's one hidden group is that sum minus race's shown groups."""
    sheet = {
        "Equity 2026-Q3": [
            ("metric", "breakdown", "group", "value", "numerator", "cases"),
            (SERVED, "Gender", "Man", 50, 50, None),
            (SERVED, "Gender", "Woman", 42, 42, None),
            (SERVED, RACE, "White", 85, 85, None),
            (SERVED, RACE, "Black or African American", "suppressed", "suppressed", "suppressed"),
        ]
    }
    f = facts(hidden("Black or African American", metric=SERVED, num=7))
    found = audit_files(tmp_path, "<p>no tables</p>", sheet, f)
    assert len(found) == 1 and f"{SERVED} / {RACE} / Black or African American" in found[0].message


def test_a_hidden_provider_is_recovered_from_all_providers(tmp_path):
    sheet = {
        "Peers": [
            ("provider", "metric", "value"),
            ("Harbor Light Housing", SERVED, 249),
            ("Peer A", SERVED, "suppressed"),
            ("Peer B", SERVED, 142),
            ("All providers", SERVED, 400),
        ]
    }
    found = audit_files(
        tmp_path, "", {**sheet}, facts(hidden(who="peer a", period="", metric=SERVED, num=9))
    )
    assert len(found) == 1 and "Peer A" in found[0].message and "providers" in found[0].message


@pytest.mark.parametrize(
    "months, caught",
    [
        pytest.param(
            [("2026-07", 30), ("2026-08", "suppressed"), ("2026-09", 35)],
            True,
            id="one-month-hidden",
        ),
        pytest.param(
            [("2026-07", 30), ("2026-08", "suppressed"), ("2026-09", "suppressed")],
            False,
            id="two-hidden-enough",
        ),
    ],
)
def test_a_hidden_month_is_recovered_from_its_quarter(tmp_path, months, caught):
    rows = [("metric", "month", "value", "numerator", "denominator")]
    rows += [(EXITS, m, None, None, n) for m, n in months]
    rows += [(EXITS, "2026-Q3", None, None, 92)]
    f = facts(hidden(period="2026-08", den=27), hidden(period="2026-09", den=35))
    found = audit_files(tmp_path, "", {"Trend": rows}, f)
    assert bool(found) is caught
    if caught:
        assert "2026-08" in found[0].message and "periods inside 2026-Q3" in found[0].message


def test_a_hidden_total_is_the_sum_of_its_shown_parts(tmp_path):
    sheet = {
        "Trend": [
            ("metric", "month", "value", "numerator", "denominator"),
            (EXITS, "2026-07", None, None, 30),
            (EXITS, "2026-08", None, None, 27),
            (EXITS, "2026-09", None, None, 35),
            (EXITS, "2026-Q3", "suppressed", "suppressed", "suppressed"),
        ]
    }
    found = audit_files(tmp_path, "", sheet, facts(hidden(period="2026-Q3", den=92)))
    assert len(found) == 1 and "2026-Q3" in found[0].message and "sum" in found[0].message


def test_unknown_truth_is_judged_conservatively_for_groups(tmp_path):
    """A deep dive's own window has no stored truth: one hidden group beside a shown total fails."""
    html = (
        "<table><thead><tr><th>Group</th><th>Cases</th><th>Exits to permanent housing</th></tr></thead>"
        "<tbody><tr><td>White</td><td>80</td><td>50%</td></tr>"
        "<tr><td>Black or African American</td><td>suppressed</td><td>suppressed</td></tr></tbody></table>"
        "<table><thead><tr><th>Metric</th><th>Cases</th></tr></thead>"
        f"<tbody><tr><td>{EXITS}</td><td>86</td></tr></tbody></table>"
    )
    found = audit_files(tmp_path, html, {}, facts())
    assert len(found) == 1 and "Black or African American" in found[0].message


@pytest.mark.parametrize(
    "text, key",
    [
        ("October 2026", "2026-10"),
        ("Oct 2026", "2026-10"),
        ("2026-Q3", "2026-Q3"),
        ("Q3 2026", "2026-Q3"),
        ("July–September 2026", "2026-Q3"),
        ("Nov 2024 – Oct 2025", "2024-11..2025-10"),
        ("Gap Nov 2025–Oct 2026", "2025-11..2026-10"),
        ("White", ""),
    ],
)
def test_period_keys(text, key):
    assert period_key(text) == key
