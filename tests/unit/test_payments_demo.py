"""Outcome payments on the demo program: every rule shows, the statements add up to the
invoice XLSX, and each provider's statement passes the packet privacy audit."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
import pytest

from acm_helpers.meetings import disputes as dsp
from acm_helpers.meetings import payments as pay
from acm_helpers.packets import audit, audit_facts
from acm_helpers.packets import payments as pay_out


@pytest.fixture(scope="module")
def demo_disputes(program, program_path):
    return dsp.merge_file(
        dsp.disputes_frame(pd.DataFrame()),
        program,
        program_path.parent / "payments" / "homeless_demo.yaml",
    )


@pytest.fixture(scope="module")
def harbor_term(program, demo_store, demo_disputes):
    counts = pay.outcome_counts(program, demo_store, "harbor")
    return pay.statements(program, "harbor", counts, demo_disputes, "2026-10")


def test_demo_rate_cards_exercise_every_rule(program, demo_store, demo_disputes, harbor_term):
    sep = {s.period: s for s in harbor_term}["2026-09"]
    assert sep.cap_applied and "period cap of $30,000.00 reached" in sep.limits[0]
    assert sep.bonus_amount == Decimal("5000")  # 56% crosses 55%
    assert sep.disputed_amount == Decimal("3600.00")  # harbor-D001: 3 x $1,200, open
    assert sep.lines[0].withheld == 3
    last = harbor_term[-1]
    assert last.pending and last.pending_amount > 0  # retention outcomes awaiting 12 months
    assert {p.payable_from for p in last.pending} == {f"2027-{m:02d}" for m in range(1, 11)} | {
        "2026-11",
        "2026-12",
    }
    counts = pay.outcome_counts(program, demo_store, "cascade")
    aug = pay.statements(program, "cascade", counts, demo_disputes, "2026-08")[-1]
    assert aug.lines[0].adjustment == 2  # cascade-D001 upheld: 2 more exits paid
    assert [d.status for d in aug.disputes] == ["upheld"]
    # fee for service: 80% of $4,200,000 over 24 months, to the cent
    assert sum(s.fee_for_service for s in harbor_term) == Decimal("3360000.00")


def test_demo_statements_add_up_to_the_invoice_totals(program, demo_store, tmp_path):
    import openpyxl

    sts = pay.program_statements(program, demo_store, "2026-10")
    assert {s.provider_id for s in sts} == set(program.rate_cards)
    path = pay_out.write_invoice(tmp_path / "invoice.xlsx", program, sts)
    ws = openpyxl.load_workbook(path)["Invoice lines"]
    lines: dict[str, Decimal] = {}
    totals: dict[str, Decimal] = {}
    for provider, item, amount in (
        (r[0].value, r[3].value, r[6].value)
        for r in ws.iter_rows(min_row=2)
        if r[6].value is not None
    ):
        if item and str(item).startswith("Total due, "):
            totals[str(item).removeprefix("Total due, ")] = Decimal(str(amount))
        else:
            lines[provider] = lines.get(provider, Decimal("0")) + Decimal(str(amount)).quantize(
                Decimal("0.01")
            )
    for s in sts:
        name = program.provider(s.provider_id).name
        assert lines[name] == s.total == totals[name]
        assert s.total == s.fee_for_service + s.outcome_payment
    assert ws["G2"].number_format == '"$"#,##0.00'


def test_provider_statements_pass_the_privacy_audit(program, demo_store, tmp_path, harbor_term):
    for period in ("2026-08", "2026-09", "2026-10"):
        for pid in program.rate_cards:
            st = pay.statement_for(program, demo_store, pid, period)
            path = tmp_path / f"{pid}-{period}.html"
            path.write_text(pay_out.provider_page(program, demo_store, st), encoding="utf-8")
            facts = audit_facts.facts_for(program, demo_store, pid, period)
            assert audit.check_files([path], facts) == [], (pid, period)
            body = path.read_text()
            assert "Fee for service" in body
            for other in program.providers:
                if other.id != pid:
                    assert other.name not in body


def test_indigo_export_uses_the_standard_field_names(program, harbor_term):
    (proj,) = pay_out.indigo_projects(program, {"harbor": harbor_term})
    assert {
        "outcome_metrics",
        "outcome_pricings",
        "outcome_payment_commitments",
        "transactions",
    } <= set(proj)
    assert proj["outcome_pricings"][0]["price_per_unit"]["amount"] == {"value": 1200.0}
    paid = sum(float(s.outcome_payment) for s in harbor_term)
    assert proj["overall_project_finance"]["total_outcome_payments_made"]["amount"][
        "value"
    ] == pytest.approx(paid)
    assert all(t["transaction_type"] == {"value": "Outcome Payment"} for t in proj["transactions"])


def test_system_packet_section_shows_each_statement(program, program_path, demo_store):
    from acm_helpers.core import text
    from acm_helpers.packets import system

    s = system.load_system(program_path, demo_store.root, "2026-10")
    block = system.payments(s)
    assert "Outcome payments, October 2026" in block.body
    for st in pay.program_statements(program, demo_store, "2026-10"):
        assert program.provider(st.provider_id).name in block.body
        assert text.money(st.total) in block.body
        assert "Pending verification" in block.body
