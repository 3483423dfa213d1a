"""Outcome payments: each rate-card rule on small hand-made counts, worked out by hand."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pandas as pd
import pytest

from acm_helpers.core.config import Program
from acm_helpers.core.errors import ActionError, ConfigError
from acm_helpers.meetings import disputes as dsp
from acm_helpers.meetings import payments as pay

D = Decimal


def _program(card: dict, value: float = 240_000) -> Program:
    return Program.model_validate(
        {
            "id": "t",
            "name": "T",
            "first_period": "2026-01",
            "last_period": "2026-04",
            "providers": [
                {
                    "id": "acme",
                    "name": "Acme",
                    "contract_id": "C-1",
                    "contract_value": value,
                    "start": "2026-01-01",
                    "end": "2026-04-30",
                }
            ],
            "metrics": {
                "ph": {
                    "label": "Exits to PH",
                    "definition": "d",
                    "kind": "rate",
                    "population": "exit_date BETWEEN :start AND :end",
                    "numerator": "destination_class = 'permanent'",
                },
                "ret": {
                    "label": "Returns",
                    "definition": "d",
                    "kind": "rate",
                    "population": "true",
                    "numerator": "return_12m",
                    "direction": "down",
                },
            },
            "rate_cards": {"acme": card},
        }
    )


def _counts(rows: list[tuple[str, str, float, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"metric_id": m, "period": p, "numerator": x, "denominator": n, "value": x / n}
            for m, p, x, n in rows
        ]  # fmt: skip
    )


NO_DISPUTES = dsp.disputes_frame(pd.DataFrame())
PH = {"label": "Exit", "metric": "ph", "price": 1000}


def test_price_per_verified_outcome_and_fee_for_service_share():
    # 240,000 x 25% = 60,000 over 4 months = 15,000 a month; 7 exits x $1,000 = $7,000.
    prog = _program({"fee_for_service_share": 0.25, "outcomes": {"ph": PH}})
    counts = _counts([("ph", "2026-01", 7, 20), ("ph", "2026-02", 3, 10)])
    sts = pay.statements(prog, "acme", counts, NO_DISPUTES, "2026-04")
    assert [s.fee_for_service for s in sts] == [D("15000.00")] * 4
    assert sts[0].outcome_payment == D("7000.00") and sts[0].total == D("22000.00")
    assert sts[1].outcome_payment == D("3000.00")
    assert sts[2].outcome_payment == D("0.00")  # no cell: no outcomes


def test_fee_instalments_add_up_to_the_cent():
    # 100,000 x 1/3 = 33,333.33; / 4 = 8,333.33 x 3 + 8,333.34 in the last month.
    card = _program({"fee_for_service_share": 0.3333333, "outcomes": {"ph": PH}}, 100_000)
    fees = pay.fee_instalments(card.rate_cards["acme"], 100_000, 4)
    assert fees == [D("8333.33")] * 3 + [D("8333.34")]
    assert sum(fees) == D("33333.33")


def test_period_cap_and_floor():
    # cap 5,000: 7 exits earn 7,000 -> 5,000; floor 2,000: 1 exit earns 1,000 -> 2,000.
    prog = _program({"outcomes": {"ph": PH}, "per_period": {"floor": 2000, "cap": 5000}})
    counts = _counts([("ph", "2026-01", 7, 20), ("ph", "2026-02", 1, 10), ("ph", "2026-03", 4, 9)])
    sts = pay.statements(prog, "acme", counts, NO_DISPUTES, "2026-03")
    assert [s.outcome_payment for s in sts] == [D("5000.00"), D("2000.00"), D("4000.00")]
    assert sts[0].cap_applied and sts[0].limit_adjustment == D("-2000.00")
    assert sts[1].floor_applied and sts[1].limit_adjustment == D("1000.00")
    assert "period cap of $5,000.00 reached: $7,000.00 earned" in sts[0].limits


def test_term_cap_and_term_floor():
    # term cap 10,000: 6,000 + 6,000 -> the second pays 4,000, the third nothing.
    capped = _program({"outcomes": {"ph": PH}, "per_term": {"cap": 10000}})
    counts = _counts([("ph", m, 6, 20) for m in ("2026-01", "2026-02", "2026-03")])
    sts = pay.statements(capped, "acme", counts, NO_DISPUTES, "2026-04")
    assert [s.outcome_payment for s in sts] == [D("6000.00"), D("4000.00"), D("0"), D("0")]
    assert sts[-1].term_paid == D("10000.00")
    # term floor 25,000: 18,000 paid over the term -> the last statement tops up by 7,000.
    floored = _program({"outcomes": {"ph": PH}, "per_term": {"floor": 25000}})
    sts = pay.statements(floored, "acme", counts, NO_DISPUTES, "2026-04")
    assert [s.outcome_payment for s in sts] == [D("6000.00")] * 3 + [D("7000.00")]
    assert sts[-1].term_paid == D("25000.00") and sts[-1].floor_applied


def test_bonus_threshold_on_a_rate_in_the_metric_direction():
    # 11/20 = 55% crosses 0.55 (pays 500); 10/20 = 50% does not. Two steps: both pay.
    prog = _program(
        {
            "outcomes": {"ph": PH},
            "bonuses": [
                {"label": "55%", "metric": "ph", "threshold": 0.55, "amount": 500},
                {"label": "50%", "metric": "ph", "threshold": 0.50, "amount": 250},
                {"label": "Few returns", "metric": "ret", "threshold": 0.10, "amount": 100},
            ],
        }
    )
    counts = _counts(
        [
            ("ph", "2026-01", 11, 20),
            ("ph", "2026-02", 10, 20),
            ("ret", "2026-01", 1, 10),
            ("ret", "2026-02", 2, 10),
        ]  # fmt: skip
    )
    jan, feb = pay.statements(prog, "acme", counts, NO_DISPUTES, "2026-02")
    assert jan.bonus_amount == D("850")  # 500 + 250 + 100 (10% returns: at or below 10%)
    assert jan.outcome_payment == D("11850.00")
    assert feb.bonus_amount == D("250")  # 50% only; 20% returns is above 10%


def test_verification_lag_pays_a_retention_outcome_once_its_window_closed():
    # lag 2: the retention metric for March counts the January cohort: 8 exits, 1 return ->
    # 7 x $400 = $2,800. January's and February's own cohorts are pending until their window
    # closes: Jan (6 exits) payable from March, Feb (5) from April; March (4) from May.
    prog = _program(
        {
            "outcomes": {
                "kept": {
                    "label": "Kept housing",
                    "metric": "ret",
                    "count": "denominator_minus_numerator",
                    "price": 400,
                    "verification_lag_months": 2,
                    "pending_metric": "ph",
                }
            }
        }
    )
    counts = _counts(
        [
            ("ph", "2026-01", 6, 10),
            ("ph", "2026-02", 5, 10),
            ("ph", "2026-03", 4, 10),
            ("ret", "2026-02", 2, 9),
            ("ret", "2026-03", 1, 8),
        ]  # fmt: skip
    )
    jan, feb, mar = pay.statements(prog, "acme", counts, NO_DISPUTES, "2026-03")
    # February's retention cell is the December cohort, earned before the term: not paid.
    assert feb.lines[0].earned == "2025-12" and feb.outcome_payment == D("0.00")
    assert [(p.earned, p.payable_from, p.count) for p in jan.pending] == [("2026-01", "2026-03", 6)]
    assert mar.lines[0].earned == "2026-01" and mar.lines[0].verified == 7
    assert mar.outcome_payment == D("2800.00")
    assert [(p.earned, p.count) for p in mar.pending] == [("2026-02", 5), ("2026-03", 4)]
    assert mar.pending_amount == D("3600.00")  # (5 + 4) x 400


def test_dispute_lifecycle_challenge_and_claim():
    prog = _program({"outcomes": {"ph": PH}})
    counts = _counts([("ph", "2026-02", 9, 20)])
    d = dsp.add_dispute(
        NO_DISPUTES, prog, "acme", "2026-02", "ph", "challenge", 3, "no lease on file",
        raised_on=date(2026, 3, 5),
    )  # fmt: skip
    d = dsp.add_dispute(
        d, prog, "acme", "2026-02", "ph", "claim", 2, "destinations confirmed late",
        raised_on=date(2026, 3, 6),
    )  # fmt: skip
    assert d["dispute_id"].tolist() == ["acme-D001", "acme-D002"]
    st = pay.statements(prog, "acme", counts, d, "2026-02")[-1]
    # open: 3 withheld (9 - 3 = 6 paid), both disputes in question: (3 + 2) x 1,000.
    assert st.lines[0].verified == 6 and st.outcome_payment == D("6000.00")
    assert st.disputed_amount == D("5000.00")
    # challenge upheld for 1 of the 3 (2 are paid back); claim upheld in full (+2).
    d = dsp.resolve_dispute(d, "acme-D001", "upheld", "one lease missing", 1, date(2026, 3, 20))
    d = dsp.resolve_dispute(d, "acme-D002", "upheld", "move-in records", None, date(2026, 3, 21))
    st = pay.statements(prog, "acme", counts, d, "2026-02")[-1]
    assert st.lines[0].verified == 9 - 1 + 2 and st.outcome_payment == D("10000.00")
    assert st.disputed_amount == D("0.00") and len(st.disputes) == 2
    with pytest.raises(ActionError, match="already resolved"):
        dsp.resolve_dispute(d, "acme-D001", "rejected")
    # a rejected challenge pays every counted outcome.
    r = dsp.add_dispute(NO_DISPUTES, prog, "acme", "2026-02", "ph", "challenge", 4, "x")
    r = dsp.resolve_dispute(r, "acme-D001", "rejected", "records found")
    assert pay.statements(prog, "acme", counts, r, "2026-02")[-1].outcome_payment == D("9000.00")


def test_disputes_are_checked_against_the_rate_card():
    prog = _program({"outcomes": {"ph": PH}})
    with pytest.raises(ConfigError, match="unknown outcome 'nope'.*known: ph"):
        dsp.add_dispute(NO_DISPUTES, prog, "acme", "2026-02", "nope", "claim", 1, "x")
    with pytest.raises(ConfigError, match="items must be 1 or more"):
        dsp.add_dispute(NO_DISPUTES, prog, "acme", "2026-02", "ph", "claim", 0, "x")
    with pytest.raises(ActionError, match="Unknown dispute"):
        dsp.resolve_dispute(NO_DISPUTES, "acme-D009", "upheld")


def test_rate_card_validation_names_the_key():
    with pytest.raises(ValueError, match="outcomes.ph.metric: unknown metric 'zz'"):
        _program({"outcomes": {"ph": {**PH, "metric": "zz"}}})
    with pytest.raises(ValueError, match="verification lag needs the pending_metric"):
        _program({"outcomes": {"ph": {**PH, "verification_lag_months": 3}}})
    with pytest.raises(ValueError, match="floor 9 is above cap 5"):
        _program({"outcomes": {"ph": PH}, "per_period": {"floor": 9, "cap": 5}})


def test_cli_records_lists_and_resolves_a_dispute(program_path, tmp_path):
    """`acm payment dispute / resolve / disputes / load` on an empty data directory, in-process."""
    from typer.testing import CliRunner

    from acm_helpers.cli import app

    def acm(*args):
        opts = ["--program", str(program_path), "--data-dir", str(tmp_path)]
        return CliRunner().invoke(app, [*args, *opts])

    done = acm(
        "payment", "dispute", "--provider", "harbor", "--period", "2026-10", "--outcome",
        "ph_exit", "--kind", "challenge", "--items", "2", "--reason", "no lease", "--on",
        "2026-11-02",
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    assert "recorded harbor-D001" in done.output
    done = acm("payment", "resolve", "harbor-D001", "--decision", "upheld", "--items", "1",
               "--on", "2026-11-09")  # fmt: skip
    assert done.exit_code == 0 and "upheld (1 of 2 accepted)" in done.output
    listed = acm("payment", "disputes")
    assert "harbor-D001" in listed.output and "upheld" in listed.output
    bad = acm("payment", "dispute", "--provider", "rainier", "--period", "2026-10", "--outcome",
              "ph_exit", "--kind", "claim", "--items", "1", "--reason", "x")  # fmt: skip
    assert bad.exit_code == 2 and "has no rate card" in bad.output
    loaded = acm("payment", "load", str(program_path.parent / "payments" / "homeless_demo.yaml"))
    again = acm("payment", "load", str(program_path.parent / "payments" / "homeless_demo.yaml"))
    # the file's harbor-D001 is already recorded (by id), so only cascade-D001 is added
    assert loaded.exit_code == 0 and "2 dispute(s)" in loaded.output
    assert "2 dispute(s)" in again.output  # loading the same file again changes nothing


def test_a_later_statement_lists_disputes_still_open_from_earlier_months():
    prog = _program({"outcomes": {"ph": PH}})
    counts = _counts([("ph", "2026-01", 9, 20), ("ph", "2026-02", 4, 20)])
    d = dsp.add_dispute(NO_DISPUTES, prog, "acme", "2026-01", "ph", "challenge", 2, "no lease")
    jan, feb = pay.statements(prog, "acme", counts, d, "2026-02")
    assert jan.disputed_amount == D("2000.00") and jan.open_earlier == []
    assert feb.disputed_amount == D("0.00")  # February's own items are not in question ...
    assert [(m, x.dispute_id) for m, x in feb.open_earlier] == [("2026-01", "acme-D001")]
    d = dsp.resolve_dispute(d, "acme-D001", "rejected")
    assert pay.statements(prog, "acme", counts, d, "2026-02")[-1].open_earlier == []
