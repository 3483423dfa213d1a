"""Procurement input on the demo store: the same cost per outcome as the end-of-contract
report, payments made from the statements, marked internal, offline."""

from __future__ import annotations

from decimal import Decimal

import openpyxl
import pytest

from acm_helpers.core import text
from acm_helpers.meetings import actions
from acm_helpers.meetings import payments as pay
from acm_helpers.packets import contract_summary, contract_term, procurement

PERIOD = "2026-10"


@pytest.fixture(scope="module")
def tables(program, demo_store):
    return procurement.comparison(program, demo_store, PERIOD)


def test_cost_per_outcome_is_the_contract_reports_and_ranked(program, demo_store, tables):
    cost = tables["Cost per outcome"]
    assert len(cost) == len(program.providers)
    assert cost["_sort"].is_monotonic_increasing  # lowest cost first
    rep = contract_term.make_report(
        program, demo_store.episodes(), "harbor", items=actions.read_actions(demo_store),
        meetings=actions.read_meetings(demo_store), through=PERIOD,
    )  # fmt: skip
    c = contract_summary.cost_per_outcome(rep)
    row = cost[cost["Provider"] == program.provider("harbor").name].iloc[0]
    assert row["Cost per outcome"] == text.value(c["cost"], "currency")
    assert row["95% interval"] == text.bounds(c["low"], c["high"], "currency")
    assert c["low"] < c["cost"] < c["high"]


def test_payments_made_come_from_the_statements(program, demo_store, tables):
    made = tables["Payments made"].set_index("Provider")
    sts = pay.term_statements(program, demo_store, "harbor", PERIOD)
    paid = sum((s.outcome_payment for s in sts), Decimal("0.00"))
    harbor = made.loc[program.provider("harbor").name]
    assert harbor["Outcome payments made"] == text.money(paid)
    assert int(harbor["Months a cap applied"]) == sum(s.cap_applied for s in sts) > 0
    assert made.loc[program.provider("rainier").name, "Rate card"] == "none"


def test_outputs_are_internal_and_offline(program, demo_store, tables, tmp_path, monkeypatch):
    monkeypatch.setattr(procurement, "comparison", lambda *a: tables)
    files = procurement.write_comparison(program, demo_store, PERIOD, tmp_path, pdf=False)
    html = files["html"].read_text(encoding="utf-8")
    assert "For internal use in procurement only" in html
    assert "http://" not in html and "https://" not in html and "<script" not in html
    for p in program.providers:
        assert p.name in html
    wb = openpyxl.load_workbook(files["xlsx"])
    assert "INTERNAL USE ONLY" in " ".join(str(c.value) for c in wb["Read me"]["B"])
    assert {"Cost per outcome", "Payments made"} <= set(wb.sheetnames)
    if "Sprint results" not in tables:  # until the sprints module is merged (issue 18 item 2)
        assert "No performance-improvement sprints" in html
