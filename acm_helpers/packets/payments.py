"""Payment statements as outputs: the internal section, the provider's statement, the invoice
XLSX and the INDIGO-shaped export.

The numbers are :mod:`acm_helpers.meetings.payments`'s; this module only lays them out.

- **Internal** (:func:`statement_block`, :func:`internal_page`): every line, true counts, for
  agency staff (a section of the system packet's day, or its own page).
- **Provider-facing** (:func:`provider_page`): aggregates only and suppression-safe. A line's
  count (and its amount, which is the count times the price) is printed only where the
  provider's own view of the engine's cell shows it (not suppressed, not a count of 1 to
  threshold - 1); when any line is hidden, the outcome subtotal and the total are hidden too,
  since they would give the hidden line back by subtraction. It passes the packet privacy audit
  (:func:`acm_helpers.packets.audit.check_files`).
- **Invoice** (:func:`write_invoice`): one row per charge (fee-for-service instalment, each
  outcome, each bonus, the floor/cap adjustment), whose sum per provider is the statement total.
- **INDIGO export** (:func:`indigo_projects`): the rate cards and payments in the field names of
  the INDIGO data standard's project schema (Government Outcomes Lab: ``outcome_metrics``,
  ``outcome_pricings``, ``outcome_payment_commitments``, ``transactions``; each value wrapped
  as ``{"value": ...}`` as the standard writes it).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pandas as pd

from acm_helpers.core import text
from acm_helpers.core.calendar import month_name, period_bounds
from acm_helpers.core.config import Program
from acm_helpers.core.schema import neutralize_formula
from acm_helpers.meetings.payments import Statement
from acm_helpers.metrics import privacy
from acm_helpers.packets.packet import Block, esc, html_table
from acm_helpers.store.store import atomic_write

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2733;margin:2rem auto;
max-width:60rem;padding:0 1rem;line-height:1.4}
h1{font-size:1.5rem;margin:.2rem 0}h2{font-size:1.15rem;margin-top:1.6rem;border-bottom:1px solid #d5dbe1}
.meta{color:#5b6775}.badge{display:inline-block;padding:.1rem .5rem;border-radius:.6rem;font-size:.8rem;
margin-right:.5rem;background:#fde7e7;color:#8a1c1c;font-weight:600}.badge.provider{background:#e6f0fa;color:#174a7c}
table{border-collapse:collapse;width:100%;margin:.6rem 0;font-size:.92rem}caption{text-align:left;color:#5b6775;
padding:.2rem 0}th,td{padding:.35rem .5rem;border-bottom:1px solid #e3e7eb;text-align:left;vertical-align:top}
th{background:#eef1f4}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
tr.total td{font-weight:700;border-top:2px solid #1d2733}.note{color:#5b6775;font-size:.9rem}
.totals{display:flex;gap:1rem;flex-wrap:wrap;margin:.8rem 0}.tile{border:1px solid #d5dbe1;border-radius:.4rem;
padding:.5rem .8rem;min-width:10rem}.tile b{display:block;font-size:1.25rem}
@media print{body{margin:0}}
"""


def page(title: str, body: str) -> str:
    """A whole offline HTML page (inline CSS, nothing fetched)."""
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>'
        f"<style>{CSS}</style></head><body>{body}</body></html>"
    )


def _name(program: Program, pid: str) -> str:
    return program.provider(pid).name


def _tiles(items: list[tuple[str, str]]) -> str:
    return (
        '<div class="totals">'
        + "".join(f'<div class="tile">{esc(k)}<b>{esc(v)}</b></div>' for k, v in items)
        + "</div>"
    )


# -- internal ------------------------------------------------------------------------------------------
def statement_block(program: Program, st: Statement) -> Block:
    """One provider's statement with every line and true count (internal)."""
    p = program.provider(st.provider_id)
    m = text.money
    rows = [
        [
            esc(ln.label),
            esc(month_name(ln.earned)),
            text.count(ln.counted),
            text.count(ln.withheld) if ln.withheld else "",
            f"{ln.adjustment:+d}" if ln.adjustment else "",
            text.count(ln.verified),
            m(ln.price),
            m(ln.amount),
        ]
        for ln in st.lines
    ]
    rows += [
        [
            esc(f"Bonus: {b.label}"),
            esc(month_name(st.period)),
            "",
            "",
            "",
            ("rate " + text.value(b.value, "percent")) + (" (crossed)" if b.crossed else ""),
            m(b.amount_if_crossed),
            m(b.amount),
        ]
        for b in st.bonuses
    ]
    rows.append(["Earned (outcomes and bonuses)", "", "", "", "", "", "", m(st.earned_amount)])
    if st.limit_adjustment:
        rows.append([esc("; ".join(st.limits)), "", "", "", "", "", "", m(st.limit_adjustment)])
    rows.append(["Outcome payment", "", "", "", "", "", "", m(st.outcome_payment)])
    rows.append(["Fee for service", "", "", "", "", "", "", m(st.fee_for_service)])
    rows.append(["Amount due", "", "", "", "", "", "", f"<b>{m(st.total)}</b>"])
    table = html_table(
        rows,
        [
            "Item",
            "Earned in",
            "Counted",
            "Withheld",
            "Disputes resolved",
            "Paid",
            "Price",
            "Amount",
        ],
        num={2, 3, 4, 5, 6, 7},
        caption=f"{p.name}: payment statement, {month_name(st.period)}",
    )
    pend = (
        html_table(
            [
                [
                    esc(x.label),
                    esc(month_name(x.earned)),
                    esc(month_name(x.payable_from)),
                    text.count(x.count),
                    m(x.amount),
                ]  # fmt: skip
                for x in st.pending
            ]
            + [
                [
                    "All pending",
                    "",
                    "",
                    text.count(sum(x.count for x in st.pending)),
                    f"<b>{m(st.pending_amount)}</b>",
                ]
            ],  # fmt: skip
            ["Outcome", "Earned in", "Verified from", "Awaiting verification", "Up to"],
            num={3, 4},
            caption="Pending verification: the outcome's window has not closed",
        )
        if st.pending
        else '<p class="note">Nothing pending verification.</p>'
    )
    disp = (
        html_table(
            [
                [
                    esc(d.dispute_id),
                    esc(d.outcome_id),
                    esc(d.kind),
                    text.count(d.items),
                    esc(d.status)
                    + (f" ({d.resolved_items} accepted)" if d.status == "upheld" else ""),
                    esc(d.resolution or d.reason),
                    m(d.disputed_amount),
                ]  # fmt: skip
                for d in st.disputes
            ],
            ["Dispute", "Outcome", "Kind", "Items", "Status", "Reason or decision", "In question"],
            num={3, 6},
            caption=f"Disputed items, {month_name(st.period)}",
        )
        if st.disputes
        else '<p class="note">No disputed items this month.</p>'
    )
    tiles = _tiles(
        [
            ("Amount due", m(st.total)),
            ("Outcome payment", m(st.outcome_payment)),
            ("Pending verification", m(st.pending_amount)),
            ("Disputed", m(st.disputed_amount)),
            ("Outcome payments, term to date", m(st.term_paid)),
        ]
    )
    cap = (
        f'<p class="note">Cap applied: {esc("; ".join(st.limits))}.</p>'
        if st.cap_applied
        else (
            f'<p class="note">Floor applied: {esc("; ".join(st.limits))}.</p>'
            if st.floor_applied
            else ""
        )
    )
    if st.open_earlier:
        disp += (
            '<p class="note">Still open from earlier statements: '
            + "; ".join(
                f"{esc(d.dispute_id)} ({esc(month_name(month))}, {m(d.disputed_amount)} in question)"
                for month, d in st.open_earlier
            )
            + ". Their months are restated when they are resolved.</p>"
        )
    body = (
        f'<section class="acm-payment"><h2>{esc(p.name)} ({esc(p.contract_id)})</h2>'
        f"{tiles}{cap}{table}<h3>Pending verification</h3>{pend}<h3>Disputes</h3>{disp}</section>"
    )
    return Block("payment statement", body, f"{st.provider_id} {st.period}: {m(st.total)}")


def payments_section(program: Program, sts: list[Statement]) -> Block:
    """The system packet's section: one line per provider, then each statement."""
    m = text.money
    rows = [
        [
            esc(_name(program, s.provider_id)),
            m(s.fee_for_service),
            m(s.outcome_payment),
            m(s.total),
            m(s.pending_amount),
            m(s.disputed_amount),
            esc("; ".join(s.limits)),
        ]  # fmt: skip
        for s in sts
    ]
    total = sum((s.total for s in sts), Decimal("0.00"))
    rows.append(["All providers", "", "", f"<b>{m(total)}</b>", "", "", ""])
    head = html_table(
        rows,
        [
            "Provider",
            "Fee for service",
            "Outcome payment",
            "Amount due",
            "Pending",
            "Disputed",
            "Floor or cap",
        ],  # fmt: skip
        num={1, 2, 3, 4, 5},
        caption="Outcome payments by provider",
    )
    return Block(
        "payments",
        head + "".join(statement_block(program, s).body for s in sts),
        f"{len(sts)} statements, {m(total)} due",
    )


def internal_page(program: Program, sts: list[Statement], period: str) -> str:
    """The internal statements page for a month (all providers with a rate card)."""
    body = (
        f'<h1>{esc(program.name)}: payment statements</h1><div class="meta">'
        f'<span class="badge">internal</span>{esc(month_name(period))}. For agency staff: true '
        "counts, providers named. Do not send to a provider; send each its provider statement."
        "</div><h2>Outcome payments</h2>" + payments_section(program, sts).body + _footer()
    )
    return page(f"Payment statements {period}", body)


def _footer() -> str:
    return (
        f'<p class="note">Generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC from the metrics '
        "engine's counts and the rate cards in the program file.</p>"
    )


# -- provider-facing -------------------------------------------------------------------------------------
def _shown_cells(program: Program, store, provider_id: str, period_list: list[str]) -> dict:
    """(metric, period) -> the provider's own view of the cell (nulled when suppressed, small
    counts blanked), as the packet shows it."""
    rows = store.query(
        "SELECT * FROM metric_values WHERE provider_id = $p AND grain = 'month' "
        "AND dimension = '' AND list_contains($ps, period)",
        {"p": provider_id, "ps": period_list},
    )
    view = privacy.for_audience(rows, program, "provider", provider_id)
    return {(r["metric_id"], r["period"]): r for _, r in view.iterrows()}


def _visible(cell, how: str, threshold: int) -> bool:
    if cell is None or bool(cell.get("suppressed", False)):
        return False
    num, den = cell.get("numerator"), cell.get("denominator")
    need = {"numerator": [num], "denominator": [den], "denominator_minus_numerator": [num, den]}[
        how
    ]
    if any(text.is_missing(v) for v in need):
        return False
    n = {
        "numerator": num,
        "denominator": den,
        "denominator_minus_numerator": (den or 0) - (num or 0),
    }[how]
    return not bool(privacy.is_small_count(n, threshold)[0])


def provider_page(program: Program, store, st: Statement) -> str:
    """The provider's statement: aggregates only, nothing a small cell could be read from."""
    p = program.provider(st.provider_id)
    card = program.rate_card(st.provider_id)
    thr = program.suppression.threshold
    cohorts = sorted({x.earned for x in st.pending})
    cells = _shown_cells(program, store, st.provider_id, [st.period, *cohorts])
    m = text.money
    rows, hidden = [], False
    for ln in st.lines:
        o = card.outcomes[ln.outcome_id]
        ok = ln.counted == 0 or _visible(cells.get((o.metric, st.period)), o.count, thr)
        ok = ok and (ln.verified == 0 or ln.verified >= thr)
        hidden |= not ok
        rows.append(
            [
                esc(ln.label),
                esc(month_name(ln.earned)),
                text.count(ln.verified) if ok else text.SUPPRESSED,
                m(ln.price),
                m(ln.amount) if ok else text.SUPPRESSED,
            ]  # fmt: skip
        )
    for b in st.bonuses:
        # whether a rate crossed its threshold says something about the rate: only where the
        # provider's packet shows that rate
        cell = cells.get((b.metric_id, st.period))
        ok = cell is not None and not bool(cell.get("suppressed", False))
        ok = ok and not text.is_missing(cell.get("value"))
        hidden |= not ok
        rows.append([esc(f"Bonus: {b.label}"), esc(month_name(st.period)),
                     ("threshold crossed" if b.crossed else "not reached") if ok else text.SUPPRESSED,
                     m(b.amount_if_crossed), m(b.amount) if ok else text.SUPPRESSED])  # fmt: skip
    if hidden:
        rows.append(["Outcome payment", "", "", "", text.SUPPRESSED])
    else:
        if st.limit_adjustment:
            rows.append(
                [esc("Floor or cap: " + "; ".join(st.limits)), "", "", "", m(st.limit_adjustment)]
            )
        rows.append(["Outcome payment", "", "", "", m(st.outcome_payment)])
    rows.append(["Fee for service (monthly instalment)", "", "", "", m(st.fee_for_service)])
    rows.append(["Amount due", "", "", "", text.SUPPRESSED if hidden else f"<b>{m(st.total)}</b>"])
    table = html_table(
        rows,
        ["Item", "Earned in", "Verified outcomes", "Price", "Amount"],
        num={2, 3, 4},
        caption=f"Payment statement, {month_name(st.period)}",
    )
    pend_n = sum(x.count for x in st.pending)
    pend_ok = all(
        _visible(
            cells.get((card.outcomes[x.outcome_id].pending_metric, x.earned)), "numerator", thr
        )
        for x in st.pending
    ) and (pend_n == 0 or pend_n >= thr)
    if not st.pending:
        pending = "<p>Nothing is awaiting verification.</p>"
    elif pend_ok:
        pending = (
            f"<p>Outcomes awaiting verification (their window has not closed): "
            f"{text.count(pend_n)}, worth up to {m(st.pending_amount)} once verified.</p>"
        )
    else:
        pending = (
            f"<p>Outcomes are awaiting verification (earned {esc(month_name(cohorts[0]))} to "
            f"{esc(month_name(cohorts[-1]))}). Their number is not shown here because a month's "
            f"count is fewer than {thr}; the agency's invoice carries it.</p>"
        )
    listed = [(st.period, d) for d in st.disputes] + st.open_earlier
    disputes = (
        "<ul>"
        + "".join(
            f"<li>{esc(d.dispute_id)} ({esc(month_name(month))}): {esc(d.kind)} on "
            f"{esc(card.outcomes[d.outcome_id].label)}, {esc(d.status)}"
            f"{(': ' + esc(d.resolution)) if d.resolution else ''}</li>"
            for month, d in listed
        )
        + "</ul>"
        if listed
        else "<p>No disputed items this month, and none open from earlier months.</p>"
    )
    note = (
        f'<p class="note">Counts of fewer than {thr}, and amounts that would give them away, read '
        '"suppressed"; your invoice from the agency carries the exact amounts.</p>'
        if hidden
        else ""
    )
    body = (
        f'<h1>{esc(p.name)}: payment statement</h1><div class="meta"><span class="badge provider">'
        f"for {esc(p.name)}</span>{esc(month_name(st.period))} · contract {esc(p.contract_id)}</div>"
        f"{table}{note}<h2>Pending verification</h2>{pending}<h2>Disputes</h2>{disputes}{_footer()}"
    )
    return page(f"Payment statement {st.period}", body)


# -- invoice XLSX -------------------------------------------------------------------------------------------
def invoice_rows(program: Program, sts: list[Statement]) -> pd.DataFrame:
    """One row per charge; the amounts of a provider's rows add up to its statement's total."""
    rows = []
    for s in sts:
        p = program.provider(s.provider_id)
        base = {"provider": p.name, "contract": p.contract_id, "period": s.period}
        rows.append({**base, "item": "Fee for service", "quantity": None, "unit_price": None,
                     "amount": s.fee_for_service})  # fmt: skip
        for ln in s.lines:
            rows.append({**base, "item": f"{ln.label} (earned {ln.earned})",
                         "quantity": ln.verified, "unit_price": ln.price, "amount": ln.amount})  # fmt: skip
        for b in s.bonuses:
            if b.crossed:
                rows.append({**base, "item": f"Bonus: {b.label}", "quantity": None,
                             "unit_price": None, "amount": b.amount})  # fmt: skip
        if s.limit_adjustment:
            rows.append({**base, "item": "; ".join(s.limits), "quantity": None,
                         "unit_price": None, "amount": s.limit_adjustment})  # fmt: skip
    return pd.DataFrame(rows, columns=["provider", "contract", "period", "item", "quantity",
                                       "unit_price", "amount"])  # fmt: skip


def write_invoice(path: str | Path, program: Program, sts: list[Statement]) -> Path:
    """The invoice-ready workbook: "Invoice lines" (every charge, a total per provider) and
    "Statements" (one row per provider: due, pending, disputed). Amounts are numbers in
    dollars and cents (``core.text.xlsx_cell_format``'s money format), text is neutralised."""
    import xlsxwriter

    lines = invoice_rows(program, sts)

    def write(tmp: Path) -> None:
        wb = xlsxwriter.Workbook(str(tmp), {"strings_to_formulas": False, "strings_to_urls": False})
        bold = wb.add_format({"bold": True, "bg_color": "#eef1f4", "bottom": 1})
        fmt = {k: wb.add_format({"num_format": text.xlsx_format(k)}) for k in ("money", "count")}
        boldm = wb.add_format({"bold": True, "num_format": text.xlsx_format("money"), "top": 1})
        ws = wb.add_worksheet("Invoice lines")
        head = ["Provider", "Contract", "Month", "Item", "Quantity", "Unit price", "Amount"]
        ws.write_row(0, 0, head, bold)
        ws.set_column(0, 0, 30)
        ws.set_column(3, 3, 60)
        ws.set_column(4, 6, 14)
        r = 1
        for s in sts:
            name = program.provider(s.provider_id).name
            mine = lines[lines["provider"] == name]
            for x in mine.itertuples(index=False):
                for c, v in enumerate([x.provider, x.contract, x.period, x.item]):
                    ws.write_string(r, c, str(neutralize_formula(str(v))))
                if x.quantity is not None and not pd.isna(x.quantity):
                    ws.write_number(r, 4, int(x.quantity), fmt["count"])
                if x.unit_price is not None and not pd.isna(x.unit_price):
                    ws.write_number(r, 5, float(x.unit_price), fmt["money"])
                ws.write_number(r, 6, float(x.amount), fmt["money"])
                r += 1
            ws.write_string(r, 3, f"Total due, {name}", bold)
            ws.write_number(r, 6, float(s.total), boldm)
            r += 2
        st = wb.add_worksheet("Statements")
        cols = ["Provider", "Month", "Fee for service", "Outcome payment", "Amount due",
                "Pending verification", "Disputed", "Outcome payments, term to date", "Floor or cap"]  # fmt: skip
        st.write_row(0, 0, cols, bold)
        st.set_column(0, 0, 30)
        st.set_column(2, 7, 18)
        st.set_column(8, 8, 60)
        for i, s in enumerate(sts, start=1):
            st.write_string(i, 0, program.provider(s.provider_id).name)
            st.write_string(i, 1, s.period)
            for c, v in enumerate([s.fee_for_service, s.outcome_payment, s.total, s.pending_amount,
                                   s.disputed_amount, s.term_paid], start=2):  # fmt: skip
                st.write_number(i, c, float(v), fmt["money"])
            st.write_string(i, 8, str(neutralize_formula("; ".join(s.limits))))
        wb.close()

    return atomic_write(Path(path), write)


# -- INDIGO-shaped export ---------------------------------------------------------------------------------------
def _v(x) -> dict:
    return {"value": x}


def indigo_projects(program: Program, term: dict[str, list[Statement]]) -> list[dict]:
    """One INDIGO ``project`` per contract with a rate card, from its statements so far.

    Field names follow the INDIGO data standard's project schema: ``outcome_metrics`` (id,
    definition, target_population, outcome_metric_target, outcome_validation_method,
    data_source_for_outcome_validation), ``outcome_pricings`` (outcome_metric_id, currency,
    price_per_unit.amount, price_description), ``outcome_payment_commitments`` (
    maximum_potential_outcome_payment, period, total_outcome_payments) and ``transactions``
    (one "Outcome Payment" per month paid). Amounts are numbers in the card's currency.
    """
    projects = []
    for pid, sts in term.items():
        p = program.provider(pid)
        card = program.rate_card(pid)
        paid = sum((s.outcome_payment for s in sts), Decimal("0.00"))
        start, _ = period_bounds(f"{p.start:%Y-%m}")
        metrics = [
            {
                "id": oid,
                "definition": _v(o.definition or program.metric(o.metric).definition),
                "target_population": _v(program.description.strip() or program.name),
                "outcome_metric_target": _v(str(o.target) if o.target is not None else ""),
                "outcome_validation_method": _v("Simple ex-post verification"),
                "data_source_for_outcome_validation": _v(
                    "Administrative data: provider submissions to the agency's HMIS/ACM store"
                    + (
                        f", verified {o.verification_lag_months} months after the outcome"
                        if o.verification_lag_months
                        else ""
                    )  # fmt: skip
                ),
                "policy_sector": _v(program.field.capitalize() or ""),
            }
            for oid, o in card.outcomes.items()
        ]
        pricings = [
            {
                "outcome_metric_id": _v(oid),
                "currency": _v(card.currency),
                "price_per_unit": {"amount": _v(float(o.price))},
                "price_description": _v(f"{o.label}: per verified outcome"),
            }
            for oid, o in card.outcomes.items()
        ]
        transactions = [
            {
                "outcome_metric_id": _v(",".join(card.outcomes)),
                "date": _v(str(period_bounds(s.period)[1])),
                "sending_organisation_id": _v(card.payer or program.agency),
                "receiving_organisation_id": _v(p.name),
                "transaction_type": _v("Outcome Payment"),
                "money": {"currency": _v(card.currency), "amount": _v(float(s.outcome_payment))},
            }
            for s in sts
            if s.outcome_payment
        ]
        projects.append(
            {
                "name": _v(f"{p.name}: {program.name} ({p.contract_id})"),
                "dates": {
                    "start_date_of_service_provision": _v(str(start)),
                    "anticipated_end_date_of_service_provision": _v(str(p.end)),
                },
                "overall_project_finance": {
                    "maximum_potential_outcome_payment_v2": {
                        "currency": _v(card.currency),
                        "amount": _v(float(card.per_term.cap) if card.per_term.cap else None),
                    },
                    "total_outcome_payments_made": {
                        "currency": _v(card.currency),
                        "amount": _v(float(paid)),
                    },
                },
                "outcome_payment_commitments": [
                    {
                        "organisation_id": _v(card.payer or program.agency),
                        "organisation_role_category": _v("Government/Public Sector/Public Bank"),
                        "result_type": _v(
                            "Interim" if sts[-1].period < sts[-1].term_last else "Overall"
                        ),
                        "period": {
                            "start_date": _v(str(start)),
                            "end_date": _v(str(period_bounds(sts[-1].period)[1])),
                        },
                        "total_outcome_payments": {
                            "currency": _v(card.currency),
                            "amount": _v(float(paid)),
                        },
                    }
                ],
                "outcome_metrics": metrics,
                "outcome_pricings": pricings,
                "transactions": transactions,
            }
        )
    return projects


def write_indigo(path: str | Path, program: Program, term: dict[str, list[Statement]]) -> Path:
    """The INDIGO-shaped export as JSON (``{"projects": [...]}``)."""
    data = json.dumps({"projects": indigo_projects(program, term)}, indent=2)
    return atomic_write(Path(path), lambda tmp: tmp.write_text(data, encoding="utf-8"))


def write_text_file(path: str | Path, body: str) -> Path:
    """An HTML page written atomically."""
    return atomic_write(Path(path), lambda tmp: tmp.write_text(body, encoding="utf-8"))


def write_statements(program: Program, store, period: str, out_dir: str | Path) -> dict[str, Path]:
    """Every output of the month's payment statements into ``out_dir``: ``statements.html``
    (internal), ``<provider>/payment_statement.html`` (each provider's), ``invoice.xlsx`` and
    ``indigo.json`` (the terms so far)."""
    from acm_helpers.meetings import payments as pay

    out = Path(out_dir)
    sts = pay.program_statements(program, store, period)
    files = {
        "internal": write_text_file(out / "statements.html", internal_page(program, sts, period))
    }
    for s in sts:
        files[s.provider_id] = write_text_file(
            out / s.provider_id / "payment_statement.html", provider_page(program, store, s)
        )
    files["invoice"] = write_invoice(out / "invoice.xlsx", program, sts)
    term = {s.provider_id: pay.term_statements(program, store, s.provider_id, period) for s in sts}
    files["indigo"] = write_indigo(out / "indigo.json", program, term)
    return files
