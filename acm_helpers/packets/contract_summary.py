"""The end-of-contract report's executive summary: the term on one screen, and the renewal decision.

Why a summary first: the report is read to decide whether to renew the contract. The manager
needs the term's record (targets and peers, value for money, equity, data quality, follow-through
on action items) in one place, next to the decision, before the sections that hold the detail.

Every number here is taken from the report's own sections (:mod:`acm_helpers.packets.contract`,
:mod:`acm_helpers.packets.contract_trends`), which read the metrics engine, or from the engine's
term cells directly (the outcome count behind cost per outcome); nothing is recounted.

The recommendation (renew / renew with conditions / re-procure) is the contract manager's: it
comes from the report's ``recommendation`` parameter (``acm report --recommendation``). Unset,
the summary shows an empty form line, "To be decided by the contract manager".
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from acm_helpers.core import text
from acm_helpers.core.calendar import month_label, month_range
from acm_helpers.core.errors import ConfigError
from acm_helpers.meetings import actions
from acm_helpers.meetings.context import engine_cells
from acm_helpers.metrics import intervals as iv
from acm_helpers.packets import contract, contract_trends
from acm_helpers.packets.contract_term import ContractReport
from acm_helpers.packets.contract_trends import window

RECOMMENDATIONS = {
    "renew": "Renew",
    "renew_with_conditions": "Renew with conditions",
    "re-procure": "Re-procure",
}
UNDECIDED = "To be decided by the contract manager"


def recommendation_choice(value: str | None) -> str:
    """The recommendation's key from what a manager types ("Renew with conditions",
    "renew-with-conditions", "reprocure" ...); "" when unset.

    Raises:
        ConfigError: not one of the three choices (the message lists them).
    """
    if value is None or not str(value).strip():
        return ""
    key = str(value).strip().lower().replace(" ", "_").replace("-", "_")
    aliases = {"renew": "renew", "renew_with_conditions": "renew_with_conditions"}
    aliases |= {"re_procure": "re-procure", "reprocure": "re-procure", "re_tender": "re-procure"}
    if key not in aliases:
        raise ConfigError(
            f"Recommendation {value!r} is not one of: {', '.join(RECOMMENDATIONS.values())}; "
            "pass --recommendation renew, renew_with_conditions or re-procure, or leave it "
            "empty for the manager to fill in."
        )
    return aliases[key]


# -- the record's parts ---------------------------------------------------------------------------------
def outcome_metric(rep: ContractReport) -> str | None:
    """The outcome the contract buys: the first key rate metric where higher is better (the
    demo's exits to permanent housing), or None when the program declares none."""
    for mid, m in rep.program.metrics.items():
        if m.key and m.kind == "rate" and m.direction == "up":
            return mid
    return None


def contract_months(rep: ContractReport) -> int:
    """The contract's length in months (start month to end month)."""
    p = rep.provider
    return len(month_range(f"{p.start:%Y-%m}", f"{p.end:%Y-%m}"))


def cost_per_outcome(rep: ContractReport) -> dict:
    """Contract value per outcome over the term, with a 95% interval.

    Value: the contract value (pro-rated to the months the report covers, when it covers less
    than the whole contract) divided by the outcome count over the term, the numerator of the
    engine's term cell of :func:`outcome_metric`. Interval: the exact (Garwood) Poisson 95%
    interval of the count, inverted (value / upper, value / lower). Why Poisson on the count:
    the cost is fixed by the contract; what varies by chance is how many outcomes a term of
    this size yields.

    Returns a dict with ``metric_id``, ``label``, ``outcomes``, ``value`` (the money set against
    them), ``cost``, ``low``, ``high``, ``share`` (the months covered / the contract's months),
    ``suppressed`` and ``method``; ``cost`` is NaN when there is no contract value, no outcome
    metric, or no outcome.
    """
    mid = outcome_metric(rep)
    p = rep.provider
    months = len(month_range(rep.first, rep.last))
    share = min(1.0, months / contract_months(rep))
    value = p.contract_value * share if p.contract_value else np.nan
    out = {
        "metric_id": mid,
        "label": "",
        "outcomes": np.nan,
        "value": value,
        "cost": np.nan,
        "low": np.nan,
        "high": np.nan,
        "share": share,
        "suppressed": False,
        "method": "",
    }
    if mid is None:
        return out
    m = rep.program.metric(mid)
    out["label"] = m.numerator_label or m.label.lower()
    cells = engine_cells(
        rep.ctx, window(rep.first, rep.last, "term"), [mid], providers=[rep.provider.id]
    )
    cell = cells[cells["dimension"] == ""]
    if cell.empty:
        return out
    c = cell.iloc[0]
    if bool(c["suppressed"]) or pd.isna(c["value"]):
        out["suppressed"] = bool(c["suppressed"])
        return out
    k = float(c["numerator"]) if "numerator" in c else round(c["value"] * c["denominator"])
    lo, hi = iv.poisson_exact(k)
    out["outcomes"] = k
    if k > 0 and not pd.isna(value):
        out["cost"] = value / k
        out["low"], out["high"] = value / float(hi), value / float(lo)
    prorated = (
        f" pro-rated to the {months} of the contract's {contract_months(rep)} months covered"
        if share < 1
        else ""
    )
    out["method"] = (
        f"Contract value{prorated} divided by the {out['label']} recorded over the term. "
        "The 95% interval is the exact Poisson interval of the count, inverted: the contract "
        "value is fixed, the number of outcomes a term yields varies by chance."
    )
    return out


def follow_through(rep: ContractReport) -> dict:
    """Action items agreed during the term: opened, closed (on time, late), still open,
    overdue at the end of the term, and the median days from the meeting to closing."""
    items = rep.items[rep.items["provider_id"] == rep.provider.id]
    items = items[
        items["meeting_date"].between(
            pd.Timestamp(rep.provider.start), pd.Timestamp(rep.provider.end)
        )
    ]
    as_of = actions.meeting_date_for(rep.program, rep.last)
    counts = actions.resolution_summary(items, as_of)
    closed = items[items["status"] == "closed"]
    days = (closed["closed_date"] - closed["meeting_date"]).dt.days.dropna()
    return counts | {
        "closed": counts["closed_on_time"] + counts["closed_late"],
        "median_days_to_close": float(days.median()) if len(days) else np.nan,
        "as_of": as_of,
    }


def _join(names: list[str]) -> str:
    return text.series(names) or "none"


def _performance_line(perf: pd.DataFrame) -> str:
    with_target = perf[perf["Target met"].isin(["met", "not met"])]
    met = with_target[with_target["Target met"] == "met"]["Metric"].tolist()
    missed = with_target[with_target["Target met"] == "not met"]["Metric"].tolist()
    line = f"Targets met on {len(met)} of {len(with_target)} key metrics with a target"
    line += f" ({_join(met)})" if met else ""
    line += f"; not met: {_join(missed)}." if missed else "."
    return line


def _peers_line(perf: pd.DataFrame) -> str:
    ranked = perf[perf["Rank"] != text.MISSING]
    if ranked.empty:
        return "Against peers: too few cases to rank."
    return (
        "Against peers (rank 1 is the best): "
        + "; ".join(
            f"{r['Metric'].lower()} {r['Term value']}, rank {r['Rank']} (peer median "
            f"{r['Peer median']})"
            for _, r in ranked.iterrows()
        )
        + "."
    )


def _trend_line(trend: pd.DataFrame, rep: ContractReport) -> str:
    if trend.empty:
        return "Too few cases in one half of the term to compare the halves."
    labels = {k: m.label for k, m in rep.program.metrics.items()}
    better = [labels[m] for m in trend[trend["verdict"] == "improved"]["metric_id"]]
    worse = [labels[m] for m in trend[trend["verdict"] == "worsened"]["metric_id"]]
    (a1, _), (b1, b2) = rep.halves
    return (
        f"Second half of the term ({month_label(b1)} to {month_label(b2)}) against the first: "
        f"improved: {_join(better)}; worsened: {_join(worse)}; no clear change on the rest "
        "(95% intervals)."
    )


def _value_line(cpo: dict, rep: ContractReport) -> str:
    if pd.isna(cpo["value"]):
        return "Value for money: no contract value is recorded in the program file."
    if cpo["metric_id"] is None:
        return "Value for money: the program declares no outcome metric (a key rate, higher is better)."
    if cpo["suppressed"]:
        return f"Value for money: {cpo['label']} over the term are too few to show (suppressed)."
    if pd.isna(cpo["cost"]):
        return f"Value for money: no {cpo['label']} recorded over the term."
    return (
        f"Value for money: {text.value(cpo['value'], 'currency')} for {text.count(cpo['outcomes'])} "
        f"{cpo['label']} is {text.value(cpo['cost'], 'currency')} per outcome (95% interval "
        f"{text.bounds(cpo['low'], cpo['high'], 'currency')})."
    )


def _equity_line(disp: pd.DataFrame) -> str:
    if disp.empty:
        return "Equity: no disparity was flagged in either half of the term."
    both = disp[disp["Flagged in"] == "both halves"]
    line = f"Equity: {text.plural(len(disp), 'gap')} flagged in one half of the term or both"
    if both.empty:
        return line + "; none in both halves, so none is a settled finding."
    r = both.iloc[0]
    g1, g2 = disp.columns[4], disp.columns[5]
    line += (
        f"; {len(both)} in both halves, led by {r['Metric'].lower()} for {r['Group']} against "
        f"{r['Reference']} ({r[g1]}, then {r[g2]}; "
        + (
            "the data cannot tell whether the gap changed"
            if r["Change"] == "no clear change"
            else f"the gap {r['Change']}"
        )
        + ")."
    )
    return line


def _quality_line(dq) -> str:
    comp = dq.data
    fell = comp[comp["trend"] == "fell"]["field"].unique().tolist()
    parts = []
    if fell:
        parts.append(
            "completeness fell for " + _join([contract_trends.field_label(f) for f in fell])
        )
    elif len(comp):
        parts.append("no field's completeness fell between the first and last whole quarters")
    intake = [s for s in dq.sentences if s.startswith("Intake:")]
    if intake:
        parts.append(intake[0].removeprefix("Intake: ").rstrip("."))
    return "Data quality: " + ("; ".join(parts) if parts else "no records to assess") + "."


def _actions_line(ft: dict) -> str:
    if not ft["recorded"]:
        return "Action items: none recorded during the term."
    days = (
        f"; median {text.value(ft['median_days_to_close'], 'days')} from the meeting to closing"
        if not pd.isna(ft["median_days_to_close"])
        else ""
    )
    still = (
        f"{ft['open']} still open ({ft['open_overdue']} overdue on {ft['as_of'].day} {ft['as_of']:%B %Y})"
        if ft["open"]
        else "none still open"
    )
    return (
        f"Action items: {ft['recorded']} opened, {ft['closed']} closed ({ft['closed_on_time']} on "
        f"time, {ft['closed_late']} late), {still}{days}."
    )


# -- the summary ------------------------------------------------------------------------------------------
@dataclass
class Summary:
    """The executive summary: the record in sentences beside the recommendation form, and a
    value-for-money table. ``data`` holds the numbers (for tests and analysts)."""

    title: str
    record: list[str]
    recommendation: str  # a key of RECOMMENDATIONS, or "" (undecided)
    conditions: str
    evidence: list[str]
    value_table: pd.DataFrame
    note: str
    data: dict = field(default_factory=dict, repr=False)

    def _form(self) -> str:
        esc = html.escape
        boxes = "".join(
            f'<li data-choice="{k}">{"☒" if k == self.recommendation else "☐"} {esc(label)}</li>'
            for k, label in RECOMMENDATIONS.items()
        )
        if self.recommendation:
            decided = (
                f'<p class="acm-decision"><strong>Decision: '
                f"{esc(RECOMMENDATIONS[self.recommendation])}</strong> (the contract manager's)</p>"
            )
        else:
            decided = (
                '<p class="acm-decision acm-undecided"><strong>Decision:</strong> '
                '<span style="border-bottom:1px solid #555;color:#666;font-style:italic;'
                f'display:inline-block;min-width:14em">{UNDECIDED}</span></p>'
            )
        conditions = (
            f"<p><strong>Conditions:</strong> {esc(self.conditions)}</p>"
            if self.conditions
            else (
                '<p><strong>Conditions:</strong> <span style="border-bottom:1px solid #555;'
                'display:inline-block;min-width:14em">&nbsp;</span></p>'
                if self.recommendation in ("", "renew_with_conditions")
                else ""
            )
        )
        evidence = "".join(f"<li>{esc(s)}</li>" for s in self.evidence)
        return (
            '<div class="acm-recommendation" style="flex:1 1 260px;border:1px solid #bbb;'
            'border-radius:4px;padding:8px 12px;background:#fafafa">'
            f'<h3 style="margin-top:0">Recommendation</h3>{decided}'
            f'<ul style="list-style:none;padding-left:0">{boxes}</ul>{conditions}'
            f"<h4>Evidence</h4><ul>{evidence}</ul></div>"
        )

    def to_html(self) -> str:
        esc = html.escape
        record = "".join(f"<li>{esc(s)}</li>" for s in self.record)
        table = self.value_table.to_html(index=False, border=0, na_rep="–", classes="acm-table")
        return (
            f'<section class="acm-section acm-summary" data-title="{esc(self.title)}">'
            f"<h2>{esc(self.title)}</h2>"
            '<div style="display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start">'
            f'<div class="acm-record" style="flex:2 1 420px"><ul>{record}</ul>'
            f"<h3>Value for money</h3>{table}</div>{self._form()}</div>"
            f"<p><small>{esc(self.note)}</small></p></section>"
        )

    def __repr__(self) -> str:
        return f"<Summary {self.title}: {self.recommendation or 'undecided'}>"

    def _repr_html_(self) -> str:
        return self.to_html()


def equity_record(rep: ContractReport) -> str:
    """The summary's equity sentence alone (procurement input reads it without the trends)."""
    return _equity_line(contract_trends.disparities(rep).data)


def quality_record(rep: ContractReport) -> str:
    """The summary's data-quality sentence alone."""
    return _quality_line(contract_trends.data_quality(rep))


def summary(rep: ContractReport, recommendation: str = "", conditions: str = "") -> Summary:
    """The executive summary at the top of the end-of-contract report.

    Args:
        rep: the report's subject (:func:`acm_helpers.packets.contract_term.open_report`).
        recommendation: the contract manager's decision, "renew", "renew_with_conditions" or
            "re-procure" (:func:`recommendation_choice` reads looser spellings); empty leaves
            the form line for the manager to fill in.
        conditions: the conditions of a renewal, shown beside the decision.
    """
    choice = recommendation_choice(recommendation)
    perf = contract.performance(rep).data
    trend = contract_trends.trends(rep).data
    disp = contract_trends.disparities(rep).data
    dq = contract_trends.data_quality(rep)
    cpo = cost_per_outcome(rep)
    ft = follow_through(rep)
    record = [
        _performance_line(perf),
        _peers_line(perf),
        _trend_line(trend, rep),
        _value_line(cpo, rep),
        _equity_line(disp),
        _quality_line(dq),
        _actions_line(ft),
    ]
    with_target = perf[perf["Target met"].isin(["met", "not met"])]
    evidence = [
        f"Targets met: {int((with_target['Target met'] == 'met').sum())} of {len(with_target)}.",
        f"Improved / worsened between halves: {int((trend['verdict'] == 'improved').sum())} / "
        f"{int((trend['verdict'] == 'worsened').sum())}."
        if len(trend)
        else "Halves: too few cases to compare.",
        f"Cost per outcome: {text.value(cpo['cost'], 'currency')}."
        if not pd.isna(cpo["cost"])
        else "Cost per outcome: not available.",
        f"Disparities flagged in both halves: {int((disp['Flagged in'] == 'both halves').sum()) if len(disp) else 0}.",
        f"Fields whose completeness fell: {dq.data.loc[dq.data['trend'] == 'fell', 'field'].nunique()}.",
        f"Action items still open: {ft['open']} ({ft['open_overdue']} overdue).",
    ]
    rows = [
        (
            "Contract value" + (" (pro-rated)" if cpo["share"] < 1 else ""),
            text.value(cpo["value"], "currency"),
        )
    ]
    if cpo["metric_id"]:
        cap = cpo["label"][:1].upper() + cpo["label"][1:]
        rows.append(
            (
                f"{cap} over the term",
                "suppressed"
                if cpo["suppressed"]
                else text.interval(
                    cpo["outcomes"],
                    *(
                        iv.poisson_exact(cpo["outcomes"])
                        if not pd.isna(cpo["outcomes"])
                        else (np.nan, np.nan)
                    ),
                )
                if not pd.isna(cpo["outcomes"])
                else text.MISSING,
            )
        )
        rows.append(
            (
                "Contract value per outcome",
                text.interval(cpo["cost"], cpo["low"], cpo["high"], "currency"),
            )
        )
    rows += _recorded_cost_rows(rep)
    value_table = pd.DataFrame(rows, columns=["Measure", "Over the term (95% interval)"])
    note = (
        cpo["method"]
        + (" " if cpo["method"] else "")
        + "The recommendation is the contract manager's; the record beside it is computed from "
        "the sections below."
    )
    p = rep.provider
    return Summary(
        title="Summary and recommendation",
        record=record,
        recommendation=choice,
        conditions=conditions.strip() if conditions else "",
        evidence=evidence,
        value_table=value_table,
        note=note,
        data={
            "performance": perf,
            "trends": trend,
            "disparities": disp,
            "quality": dq.data,
            "cost_per_outcome": cpo,
            "follow_through": ft,
            "contract": p.contract_id,
        },
    )


def _recorded_cost_rows(rep: ContractReport) -> list[tuple[str, str]]:
    """The program's own cost metrics (sum ratios in currency, e.g. cost per exit from the
    episodes' recorded costs) over the term: the engine's term cell with its interval."""
    cols = set(rep.ctx.episodes.columns)
    ids = [
        k
        for k, m in rep.program.metrics.items()
        if m.kind == "sum_ratio"
        and m.format == "currency"
        # a cost column the submissions never had: not recorded, so no row (not an error)
        and all(
            not re.fullmatch(r"\w+", e or "") or e in cols for e in (m.numerator, m.denominator)
        )
    ]
    if not ids:
        return []
    cells = engine_cells(
        rep.ctx, window(rep.first, rep.last, "term"), ids, providers=[rep.provider.id]
    )
    cells = cells[cells["dimension"] == ""].set_index("metric_id")
    rows = []
    for mid in ids:
        m = rep.program.metric(mid)
        if mid not in cells.index:
            continue
        c = cells.loc[mid]
        shown = text.interval(
            c["value"], c["ci_low"], c["ci_high"], "currency", suppressed=bool(c["suppressed"])
        )
        target = f"; target {text.value(m.target, 'currency')}" if m.target is not None else ""
        rows.append((f"{m.label} (recorded episode costs{target})", shown))
    return rows
