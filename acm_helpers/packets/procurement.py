"""Procurement input: at the end of a term, every provider side by side, for internal use.

Why one comparison: the next procurement weighs the term's record, and the end-of-contract
reports give it one contract at a time. This puts the same numbers in one table per question:
cost per outcome with its interval (the contract report's :func:`cost_per_outcome`, exact
Poisson), the key outcomes against their targets (the engine's term cells), the equity and
data-quality record (the contract report's own sentences), action-item follow-through, sprint
results (when the program runs sprints) and the outcome payments made (the rate cards'
statements). Internal: providers are named; never sent to a provider.
"""

from __future__ import annotations

import importlib
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd

from acm_helpers.core import text
from acm_helpers.core.calendar import month_name
from acm_helpers.core.config import Program
from acm_helpers.meetings import actions
from acm_helpers.meetings import payments as pay
from acm_helpers.packets import contract_summary as cs
from acm_helpers.packets import contract_term
from acm_helpers.packets.packet import esc, html_table
from acm_helpers.packets.payments import page, write_text_file
from acm_helpers.store.store import atomic_write


def _sprint_results(program: Program, store, period: str):
    """The sprint results frame when the sprints module is there (issue 18 item 2), else None."""
    try:
        mod = importlib.import_module("acm_helpers.meetings.sprints")
    except ModuleNotFoundError:
        return None
    fn = getattr(mod, "sprint_results", None)
    return fn(program, store, period) if fn is not None else None


def comparison(program: Program, store, period: str) -> dict[str, pd.DataFrame]:
    """The comparison's tables, one row per provider (values formatted as the packets write
    them; ``_sort`` columns hold the numbers)."""
    episodes = store.episodes()
    items, meetings = actions.read_actions(store), actions.read_meetings(store)
    quality = store.read_table("quality") if store.has_table("quality") else None
    key = [mid for mid, m in program.metrics.items() if m.key and m.target is not None]
    term = store.query(
        "SELECT provider_id, metric_id, value, ci_low, ci_high, target, suppressed "
        "FROM metric_values WHERE grain = 'term' AND dimension = ''"
    )
    cost, targets, record, payments = [], [], [], []
    for p in program.providers:
        rep = contract_term.make_report(
            program, episodes, p.id, items=items, meetings=meetings, quality=quality,
            through=period,
        )  # fmt: skip
        c = cs.cost_per_outcome(rep)
        cost.append(
            {
                "Provider": p.name,
                "Contract": p.contract_id,
                "Contract value": text.value(p.contract_value, "currency"),
                f"Outcomes ({c['label']})": text.count(c["outcomes"], suppressed=c["suppressed"]),
                "Cost per outcome": text.value(c["cost"], "currency"),
                "95% interval": text.bounds(c["low"], c["high"], "currency")
                if not np.isnan(c["low"])
                else text.MISSING,
                "_sort": c["cost"],
            }
        )
        row = {"Provider": p.name}
        mine = term[term["provider_id"] == p.id].set_index("metric_id")
        for mid in key:
            m = program.metric(mid)
            if mid not in mine.index:
                row[m.label] = text.MISSING
                continue
            r = mine.loc[mid]
            shown = text.value(r["value"], m.format, m.unit, suppressed=bool(r["suppressed"]))
            target = text.value(m.target, m.format, m.unit)
            if bool(r["suppressed"]) or pd.isna(r["value"]):
                row[m.label] = f"{shown} (target {target})"
                continue
            good = r["value"] >= m.target if m.direction == "up" else r["value"] <= m.target
            row[m.label] = f"{shown}: {'meets' if good else 'misses'} the {target} target"
        targets.append(row)
        ft = cs.follow_through(rep)
        record.append(
            {
                "Provider": p.name,
                "Equity record": cs.equity_record(rep).removeprefix("Equity: "),
                "Data quality": cs.quality_record(rep).removeprefix("Data quality: "),
                "Action items": (
                    f"{ft['recorded']} agreed; {ft['closed_on_time']} closed on time, "
                    f"{ft['closed_late']} late, {ft['open']} open ({ft['open_overdue']} overdue)"
                ),
            }
        )
        if p.id in program.rate_cards and period in pay.term_months(program, p.id):
            sts = pay.term_statements(program, store, p.id, period)
            paid = sum((s.outcome_payment for s in sts), Decimal("0.00"))
            fees = sum((s.fee_for_service for s in sts), Decimal("0.00"))
            payments.append(
                {
                    "Provider": p.name,
                    "Rate card": "outcomes",
                    "Fee for service paid": text.money(fees),
                    "Outcome payments made": text.money(paid),
                    "Months a cap applied": str(sum(s.cap_applied for s in sts)),
                    "Pending verification at the end": text.money(sts[-1].pending_amount),
                    "Open disputes": str(sum(d.status == "open" for s in sts for d in s.disputes)),
                }
            )
        else:
            payments.append({"Provider": p.name, "Rate card": "none"})
    out = {
        "Cost per outcome": pd.DataFrame(cost).sort_values("_sort", na_position="last"),
        "Outcomes against targets": pd.DataFrame(targets),
        "Record": pd.DataFrame(record),
        "Payments made": pd.DataFrame(payments).fillna(text.MISSING),
    }
    sprints = _sprint_results(program, store, period)
    if sprints is not None and len(sprints):
        out["Sprint results"] = pd.DataFrame(sprints)
    return out


def _table(frame: pd.DataFrame, caption: str) -> str:
    cols = [c for c in frame.columns if not c.startswith("_")]
    rows = [[esc(str(v)) for v in r] for r in frame[cols].itertuples(index=False)]
    num = {  # amounts and counts right-aligned, so a column of money reads down
        i for i, c in enumerate(cols)
        if c != "Provider"
        and frame[c].astype(str).str.fullmatch(r"(-?\$?[\d,.]+%?( to -?\$?[\d,.]+%?)?|–|)").all()
    }  # fmt: skip
    return html_table(rows, cols, num=num, caption=caption)


def comparison_html(program: Program, tables: dict[str, pd.DataFrame], period: str) -> str:
    """The comparison as one offline page, marked internal."""
    parts = [
        f"<h1>{esc(program.name)}: procurement input</h1>"
        f'<div class="meta"><span class="badge">internal</span>Contract terms through '
        f"{esc(month_name(period))} · {len(program.providers)} providers</div>"
        "<p><b>For internal use in procurement only.</b> Providers are named; do not send "
        "this to a provider. Cost per outcome is the contract value over the term's outcomes; its "
        "95% interval is the exact Poisson interval of the count (the value is fixed, the number "
        "of outcomes a term yields varies by chance). Lowest cost first.</p>"
    ]
    for name, frame in tables.items():
        parts.append(f"<h2>{esc(name)}</h2>" + _table(frame, f"{name}, contract term"))
    if "Sprint results" not in tables:
        parts.append('<p class="note">No performance-improvement sprints were run this term.</p>')
    parts.append(
        f'<p class="note">Internal. Generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC from the '
        "metrics engine's term cells, the meetings record and the payment statements.</p>"
    )
    return page(f"Procurement input {period} (internal)", "".join(parts))


def write_comparison(
    program: Program, store, period: str, out_dir: str | Path, pdf: bool = True
) -> dict[str, Path]:
    """``procurement.html``, ``procurement.xlsx`` (a sheet per table, "Read me" first) and,
    with ``pdf``, ``procurement.pdf`` into ``out_dir``."""
    from acm_helpers.packets import xlsx
    from acm_helpers.packets.render import print_pdf

    out = Path(out_dir)
    tables = comparison(program, store, period)
    files = {
        "html": write_text_file(out / "procurement.html", comparison_html(program, tables, period))
    }
    sheets = {k: v[[c for c in v.columns if not c.startswith("_")]] for k, v in tables.items()}
    files["xlsx"] = xlsx.write_xlsx(
        out / "procurement.xlsx",
        sheets,
        notes=[
            ("Program", program.name),
            ("Through", month_name(period)),
            ("Audience", "INTERNAL USE ONLY: procurement; providers named"),
        ],
    )
    if pdf:
        files["pdf"] = print_pdf(
            files["html"], out / "procurement.pdf", footer="Internal: procurement"
        )
    return files


__all__ = ["comparison", "comparison_html", "write_comparison", "atomic_write"]
