"""The end-of-contract summary and recommendation, and the partial quarters, on the small inline
frames of ``test_contract`` (hand-computed expectations)."""

from __future__ import annotations

import altair as alt
import pandas as pd
import pytest
from test_contract import ITEMS, MEETINGS, SPEC, make_episodes

from acm_helpers.core.errors import ConfigError
from acm_helpers.meetings import actions
from acm_helpers.packets import contract, contract_summary, contract_term, contract_trends

# Garwood 95% limits for a Poisson count of 20 (published tables: 12.22 and 30.89)
K, K_LOW, K_HIGH = 20, 12.2165, 30.8893


@pytest.fixture(scope="module")
def eps():
    return make_episodes(SPEC)


def rep_for(program, eps, provider="harbor", **kw):
    return contract_term.make_report(
        program,
        eps,
        provider,
        items=actions.items_frame(ITEMS),
        meetings=actions.meetings_frame(MEETINGS),
        **kw,
    )


@pytest.fixture(scope="module")
def harbor(program, eps):
    return contract_summary.summary(rep_for(program, eps))


@pytest.mark.parametrize("audience", ["internal", "provider"])
def test_cost_per_outcome_is_contract_value_over_the_count(program, eps, audience):
    """Harbor: $4,200,000 over the term's 6 + 14 = 20 exits to permanent housing."""
    cpo = contract_summary.cost_per_outcome(rep_for(program, eps, audience=audience))
    assert program.provider("harbor").contract_value == 4_200_000
    assert cpo["outcomes"] == K
    assert cpo["cost"] == pytest.approx(4_200_000 / 20)
    assert cpo["low"] == pytest.approx(4_200_000 / K_HIGH, rel=1e-4)
    assert cpo["high"] == pytest.approx(4_200_000 / K_LOW, rel=1e-4)
    assert "exact Poisson interval" in cpo["method"]


def test_cost_per_outcome_is_pro_rated_when_the_report_covers_part_of_the_term(program, eps):
    cpo = contract_summary.cost_per_outcome(rep_for(program, eps, through="2025-10"))
    # 12 of the contract's 24 months; the first half's 6 exits
    assert cpo["share"] == 0.5 and cpo["outcomes"] == 6
    assert cpo["cost"] == pytest.approx(2_100_000 / 6)
    assert "pro-rated to the 12 of the contract's 24 months" in cpo["method"]


def test_summary_holds_every_part_with_the_engines_numbers(program, eps, harbor):
    rep = rep_for(program, eps)
    perf = contract.performance(rep).data
    with_target = perf[perf["Target met"].isin(["met", "not met"])]
    n_met = int((with_target["Target met"] == "met").sum())
    record = " ".join(harbor.record)
    assert f"Targets met on {n_met} of {len(with_target)} key metrics" in record
    assert "Against peers" in record and "rank" in record
    assert (
        "improved: Exits to permanent housing; worsened: none" in record
    )  # 30% -> 70% between halves
    assert "Value for money: $4,200,000 for 20 exits to permanent housing is $210,000" in record
    assert "Equity:" in record and "Data quality:" in record
    # harbor-001 closed in 26 days, harbor-002 in 64 (late); harbor-003 open past its due date
    assert (
        "Action items: 3 opened, 2 closed (1 on time, 1 late), 1 still open (1 overdue on "
        "15 November 2026); median 45 days from the meeting to closing." in record
    )
    ft = harbor.data["follow_through"]
    assert (ft["recorded"], ft["closed"], ft["open_overdue"], ft["median_days_to_close"]) == (
        3,
        2,
        1,
        45.0,
    )
    table = harbor.value_table.set_index("Measure")["Over the term (95% interval)"]
    assert (
        table["Contract value per outcome"] == "$210,000 ($135,973–$343,797)"
    )  # 4.2M / 30.8893, 4.2M / 12.2165
    assert table["Exits to permanent housing over the term"] == "20 (12.2–30.9)"


def test_summary_equity_line_names_the_gap_flagged_in_both_halves(program, eps):
    s = contract_summary.summary(rep_for(program, eps, "cascade"))
    line = next(r for r in s.record if r.startswith("Equity:"))
    assert (
        "1 in both halves, led by exits to permanent housing for Black or African American" in line
    )
    assert "the data cannot tell whether the gap changed" in line


def test_an_unset_recommendation_is_an_empty_form_line(harbor):
    page = harbor.to_html()
    assert harbor.recommendation == ""
    assert contract_summary.UNDECIDED in page and "☒" not in page
    assert page.count("☐") == 3


@pytest.mark.parametrize(
    "given, key, label",
    [
        pytest.param("renew", "renew", "Renew", id="renew"),
        pytest.param(
            "Renew with conditions", "renew_with_conditions", "Renew with conditions", id="cond"
        ),
        pytest.param("re-procure", "re-procure", "Re-procure", id="reprocure"),
    ],
)
def test_a_recommendation_is_ticked_and_named(program, eps, given, key, label):
    s = contract_summary.summary(rep_for(program, eps), given, "Quarterly data-quality review")
    page = s.to_html()
    assert s.recommendation == key
    assert f"<strong>Decision: {label}</strong>" in page
    assert f'<li data-choice="{key}">☒' in page and page.count("☐") == 2
    assert contract_summary.UNDECIDED not in page
    assert "Quarterly data-quality review" in page


def test_an_unknown_recommendation_lists_the_choices():
    with pytest.raises(ConfigError, match="Renew, Renew with conditions, Re-procure"):
        contract_summary.recommendation_choice("extend")


def test_partial_quarters_of_the_term():
    assert contract_trends.partial_quarters("2024-11", "2026-10") == {
        "2024-Q4": ["2024-11", "2024-12"],
        "2026-Q4": ["2026-10"],
    }
    assert contract_trends.partial_quarters("2025-01", "2025-12") == {}
    note = contract_trends.partial_note("2024-11", "2026-10")
    assert "2024-Q4 (Nov 2024 to Dec 2024); 2026-Q4 (Oct 2026 only)" in note


def test_trend_charts_mark_partial_quarters(program, eps):
    rep = rep_for(program, eps)
    q = contract_trends.quarterly(rep.ctx, ["exits_to_permanent_housing"], rep.first, rep.last)
    frame = q["exits_to_permanent_housing"].set_index("period")
    assert frame["partial"].to_dict() == {p: p in ("2024-Q4", "2026-Q4") for p in frame.index}
    chart = contract_trends.trends(rep).charts[0]
    spec = chart.to_dict()
    assert isinstance(chart, alt.LayerChart)
    layers = spec["layer"]
    veil, label = layers[-2], layers[-1]
    shown = {d["period"] for d in spec["datasets"][veil["data"]["name"]]}
    assert shown == {"2024-Q4 (part)", "2026-Q4 (part)"}
    assert label["mark"]["type"] == "text" and veil["mark"]["opacity"] == 0.55
    assert spec["title"] == "Exits to permanent housing, by quarter"


def test_summary_html_holds_no_developer_text(harbor):
    page = harbor.to_html() + contract.narrative().data
    for dev in ("acm report", "--provider", "runs this notebook", "`"):
        assert dev not in page
    assert isinstance(harbor.data["performance"], pd.DataFrame)
