"""The differencing check: a suppressed cell that a reader can work out by subtraction, from a
packet's HTML tables and its XLSX sheets together, fails the output and is named; complementary
suppression that leaves at least the threshold unaccounted for passes. Small inline inputs."""

from __future__ import annotations

import pytest
from openpyxl import Workbook

from acm_helpers.packets import audit
from acm_helpers.packets.audit_diff import NUMERATOR, OWN, HiddenCell, period_key, share_interval

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


# -- shares are totals too -------------------------------------------------------------------------
LISTED = (
    "White",
    "Black or African American",
    "Hispanic or Latina/e/o",
    "Asian or Asian American",
    "Multiracial",
)


def share_facts(*cells: HiddenCell) -> audit.PrivacyFacts:
    """Race groups with a population share (LISTED) and two without ("Unknown", "Not recorded")."""
    return audit.PrivacyFacts(
        provider="cascade",
        own_labels=("Cascade Youth Services",),
        other_labels=("Peer A", "All providers"),
        group_labels=(*LISTED, "Unknown", "Not recorded"),
        dimension_labels=(RACE,),
        metric_kinds=((EXITS, "rate"), (SERVED, "count")),
        threshold=11,
        hidden=cells,
        share_groups=tuple((RACE, g) for g in LISTED),
    )


def share_html(rows: list[tuple[str, str, str]]) -> str:
    """Group, cases and share served, as printed (one decimal of a percent)."""
    body = "".join(f"<tr><td>{g}</td><td>{n}</td><td>{s}</td></tr>" for g, n, s in rows)
    return (
        f"<table><caption>{EXITS} by race and ethnicity, July–September 2026</caption>"
        "<thead><tr><th>Group</th><th>Cases</th><th>Share served</th></tr></thead>"
        f"<tbody>{body}</tbody></table>"
    )


# cascade, exits to permanent housing by race, 2026-Q3: leavers by month in the XLSX trend
TREND = {
    "Trend": [
        ("metric", "month", "value", "numerator", "denominator"),
        (EXITS, "2026-07", 0.4, None, 49),
        (EXITS, "2026-08", 0.4, None, 40),
        (EXITS, "2026-09", 0.4, None, 58),
    ]
}


def cascade_rows(total: int, unknown: str = "suppressed") -> list[tuple[str, str, str]]:
    """61 White, 35 Black, 19 Hispanic leavers shown; Asian (14), Multiracial (13) and Unknown
    (5) suppressed."""
    shown = [("White", 61), ("Black or African American", 35), ("Hispanic or Latina/e/o", 19)]
    rows = [(g, str(n), f"{100 * n / total:.1f}%") for g, n in shown]
    hidden_rows = [(g, "suppressed", "suppressed") for g in LISTED[3:]]
    return [*rows, *hidden_rows, ("Unknown", unknown, "")]


def cascade_truth() -> tuple[HiddenCell, ...]:
    return (
        hidden("Asian or Asian American", num=5, den=14),
        hidden("Multiracial", num=4, den=13),
        hidden("Unknown", num=2, den=5),
    )


def test_cases_over_a_share_recover_the_group_without_one(tmp_path):
    """Issue 13's cascade packet: 35 / 24.6% = 142 leavers over the groups with a population
    share, the trend's 49 + 40 + 58 = 147 leavers minus 142 = the 5 suppressed Unknown."""
    html = share_html(cascade_rows(total=142))
    assert "24.6%" in html
    found = audit_files(tmp_path, html, TREND, share_facts(*cascade_truth()))
    assert len(found) == 1, [f.message for f in found]
    msg = found[0].message
    assert f"{EXITS} / {RACE} / Unknown / 2026-Q3" in msg and "cases / share" in msg
    assert "sum of its months" in msg and "packet.html" in msg and "appendix.xlsx" in msg
    assert " 5 " not in msg and "142" not in msg


def test_shares_over_the_published_total_pass(tmp_path):
    """The same groups with shares over the 147 the output publishes: cases / share is 147."""
    html = share_html(cascade_rows(total=147))
    assert audit_files(tmp_path, html, TREND, share_facts(*cascade_truth())) == []


def test_two_groups_without_a_share_narrowed_under_the_threshold_fail(tmp_path):
    """Harbor: the published 145 minus the 143 that the shares give = 2 = "Not recorded" (1) +
    "Unknown" (1), both known to hold fewer than 11."""
    shown = [("White", 80), ("Black or African American", 40), ("Hispanic or Latina/e/o", 12)]
    rows = [(g, str(n), f"{100 * n / 143:.1f}%") for g, n in shown]
    rows += [
        ("Asian or Asian American", "suppressed", "suppressed"),
        ("Multiracial", "suppressed", "suppressed"),
        ("Unknown", "suppressed", ""),
        ("Not recorded", "suppressed", ""),
    ]
    quarter = {
        "Quarters": [("metric", "quarter", "denominator"), (EXITS, "2026-Q3", 145)],
    }
    truth = (
        hidden("Asian or Asian American", den=5),
        hidden("Multiracial", den=6),
        hidden("Unknown", den=1),
        hidden("Not recorded", den=1),
    )
    found = audit_files(tmp_path, share_html(rows), quarter, share_facts(*truth))
    assert len(found) == 1, [f.message for f in found]
    msg = found[0].message
    assert "Not recorded" in msg and "Unknown" in msg and "fewer than 11 cases" in msg


def test_a_share_pins_down_a_hidden_total(tmp_path):
    """The quarter's leavers are suppressed, but 61 White leavers are 41.5% of them: 147."""
    rows = [("White", "61", "41.5%"), ("Black or African American", "35", "23.8%")]
    rows += [("Hispanic or Latina/e/o", "19", "12.9%"), ("Unknown", "suppressed", "")]
    rows += [(g, "suppressed", "suppressed") for g in LISTED[3:]]
    quarter = {
        "Quarters": [("metric", "quarter", "denominator"), (EXITS, "2026-Q3", "suppressed")],
    }
    found = audit_files(
        tmp_path, share_html(rows), quarter, share_facts(hidden(period="2026-Q3", den=147))
    )
    assert len(found) == 1 and f"{EXITS} / 2026-Q3" in found[0].message, [f.message for f in found]
    assert "cases / share" in found[0].message


@pytest.mark.parametrize(
    ("printed", "interval"),
    [
        pytest.param("24.6%", (0.2455, 0.2465), id="percent-one-decimal"),
        pytest.param("25%", (0.245, 0.255), id="whole-percent"),
        pytest.param("0.246479", (0.2464785, 0.2464795), id="xlsx-fraction"),
        pytest.param("White", None, id="not-a-number"),
        pytest.param("140", None, id="a-count-is-no-share"),
    ],
)
def test_share_intervals(printed, interval):
    got = share_interval(printed)
    assert got == (pytest.approx(interval) if interval else None)


# -- printed counts of 1 .. threshold - 1 -----------------------------------------------------------
@pytest.mark.parametrize(
    ("numerator", "caught"),
    [
        pytest.param("4", True, id="four"),
        pytest.param("1", True, id="one"),
        pytest.param("0", False, id="zero"),
        pytest.param("11", False, id="threshold"),
        pytest.param("", False, id="blanked"),
    ],
)
def test_a_small_numerator_in_a_table_fails(tmp_path, numerator, caught):
    sheet = {
        "Trend": [
            ("metric", "month", "value", "numerator", "denominator"),
            (EXITS, "2026-09", 0.3, numerator, 40),
        ]
    }
    found = [f for f in audit_files(tmp_path, "", sheet, facts()) if f.kind == "small_count"]
    assert bool(found) is caught
    if caught:
        assert EXITS in found[0].message and "numerator" in found[0].message
        assert "fewer than 11" in found[0].message


def test_a_small_count_value_fails_but_a_ratio_of_sums_numerator_is_money(tmp_path):
    sheet = {
        "Key metrics": [
            ("metric", "month", "value", "numerator", "denominator"),
            (SERVED, "2026-09", 7, 7, None),
            ("Cost per exit", "2026-09", 900, 9, 12),
        ]
    }
    f = facts()
    f = audit.PrivacyFacts(
        **{**f.__dict__, "metric_kinds": (*f.metric_kinds, ("Cost per exit", "sum_ratio"))}
    )
    found = [x for x in audit_files(tmp_path, "", sheet, f) if x.kind == "small_count"]
    assert len(found) == 1 and SERVED in found[0].message


@pytest.mark.parametrize(
    ("sentence", "caught"),
    [
        pytest.param("4 exits to permanent housing / 12 leavers = 33.3%", True, id="math"),
        pytest.param(
            "fewer than 11 exits to permanent housing / 12 leavers = 33.3%", False, id="masked"
        ),
        pytest.param("0 exits to permanent housing / 12 leavers = 0%", False, id="zero"),
        pytest.param("Exits to permanent housing rose 4 points in 12 months", False, id="no-label"),
    ],
)
def test_a_small_count_in_a_sentence_fails(sentence, caught):
    f = audit.PrivacyFacts(
        provider="harbor", threshold=11, count_labels=("exits to permanent housing", "leavers")
    )
    found = audit.check_small_count_text([sentence], f, "packet.html")
    assert bool(found) is caught
    if caught:
        assert "#" in found[0].excerpt and "4 " not in found[0].excerpt
