"""Portfolio triage: which contracts get full ACM, which a light touch, which are monitored.

Why: an agency cannot hold a staff-intensive monthly meeting with every provider. The program
file declares the criteria and what each is worth (``triage:``,
:class:`acm_helpers.core.config.Triage`); this module scores every contract by that rule from
the tables every packet reads, and writes the rule out beside the score: each criterion, what
was found and the points it earned. The score puts the contract in a tier, and each tier has a
meeting cadence.

The criteria, each read from the engine's or the store's own signals, never recomputed:

- impact and risk: the contract's value, a new provider or new service (declared per contract),
  the volume served (the month's value of ``volume_metric``);
- current performance: special-cause concern signals this month (``metric_values.spc_signal``),
  metrics whose control limits say the target is consistently missed or hit and miss
  (``spc_assurance``), metrics whose last complete quarter is significantly worse than the
  quarter before (``flag_significant_change`` read by the metric's direction), and persistent
  disparities: a group's adverse gap flagged by the equity step (``equity.flag_disparity``) in
  at least ``disparity_min_quarters`` of the last ``disparity_quarters`` complete quarters (one
  flagged quarter can be chance among the many comparisons made; a repeated one is a pattern);
- data quality and timeliness: each problem :func:`acm_helpers.store.quality_rank.rank_problems`
  ranks for the month (a required field's decline, incompleteness, a late file, rows set aside);
- overdue action items at the period's meeting (:func:`acm_helpers.meetings.actions.open_items`);
- earlier terms' record, where the program file lists them.

:func:`load_inputs` reads the store once; :func:`score_contracts` and everything after it are
pure functions of those frames, so the scores can be worked out by hand in a test.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from acm_helpers.core import text
from acm_helpers.core.calendar import month_name, previous_label, quarter_name, shift_period
from acm_helpers.core.config import Program, Triage, TriageCount
from acm_helpers.core.errors import ConfigError
from acm_helpers.meetings import actions
from acm_helpers.meetings.tiles import complete_period
from acm_helpers.store import quality_rank
from acm_helpers.store.store import Store

AREAS = {
    "contract_value": "Impact and risk",
    "new_contract": "Impact and risk",
    "volume": "Impact and risk",
    "concerns": "Current performance",
    "failing_targets": "Current performance",
    "hit_and_miss": "Current performance",
    "worsening": "Current performance",
    "disparities": "Current performance",
    "data_quality": "Data quality and timeliness",
    "overdue_actions": "Overdue action items",
    "earlier_terms": "Earlier terms",
}
HEADINGS = {
    "contract_value": "Contract value",
    "new_contract": "New provider or service",
    "volume": "Volume served",
    "concerns": "Concern signals",
    "failing_targets": "Target consistently missed",
    "hit_and_miss": "Target hit and miss",
    "worsening": "Worse than the quarter before",
    "disparities": "Persistent disparities",
    "data_quality": "Data-quality problems",
    "overdue_actions": "Overdue action items",
    "earlier_terms": "Earlier terms",
}
POINT_COLUMNS = ["provider_id", "criterion", "area", "heading", "items", "found", "points", "rule"]
QUARTER_MONTHS = 3  # a quarter's ranked list compares with the list three months earlier


@dataclass(frozen=True)
class TriageInputs:
    """What the triage reads for one period, every provider at once.

    Attributes:
        month_values: ``metric_values`` of the month, overall rows (provider_id, metric_id,
            label, value, spc_signal, spc_assurance).
        quarter_values: the last complete quarter's overall rows (provider_id, metric_id, label,
            value, previous_value, direction, flag_significant_change).
        disparities: flagged ``equity`` rows of the last ``disparity_quarters`` complete
            quarters (provider_id, period, metric_id, dimension, group).
        quality: the ``quality`` rows of every provider up to the month.
        items: every action item (``actions.read_actions``).
    """

    month_values: pd.DataFrame
    quarter_values: pd.DataFrame
    disparities: pd.DataFrame
    quality: pd.DataFrame
    items: pd.DataFrame


def settings(program: Program) -> Triage:
    """The program's triage rule, or an error saying how to declare one."""
    if program.triage is None:
        raise ConfigError(
            f"Program {program.id} has no triage: block; add triage: with criteria and tiers to "
            "the program file (docs: manager/triage.md)."
        )
    return program.triage


def recent_quarters(period: str, n: int) -> list[str]:
    """The ``n`` complete quarters ending with the last complete one at ``period``, latest first."""
    last = complete_period(period, "quarter")
    return [last, *(previous_label(last, "quarter", k) for k in range(1, n))]


def load_inputs(program: Program, store: Store, period: str) -> TriageInputs:
    """Read what :func:`score_contracts` needs for ``period`` from the store (one DuckDB
    connection for every query; the quality rows only of the months the data-quality criterion
    looks at: :func:`acm_helpers.store.quality_rank.rank_problems` reads ``trend_months`` back)."""
    program.check_period(period)
    rule = settings(program)
    has = store.has_table
    with store.connect(only="metric_values equity quality") as con:
        month = (
            store.query(
                "SELECT provider_id, metric_id, label, value, spc_signal, spc_assurance "
                "FROM metric_values WHERE grain = 'month' AND period = $p AND dimension = '' "
                "ORDER BY provider_id, metric_id",
                {"p": period},
                con,
            )
            if has("metric_values")
            else pd.DataFrame(columns=["provider_id", "metric_id", "label", "value"])
        )
        quarter = (
            store.query(
                "SELECT provider_id, metric_id, label, value, previous_value, direction, "
                "flag_significant_change FROM metric_values WHERE grain = 'quarter' "
                "AND period = $q AND dimension = '' ORDER BY provider_id, metric_id",
                {"q": complete_period(period, "quarter")},
                con,
            )
            if has("metric_values")
            else pd.DataFrame(columns=["provider_id", "metric_id"])
        )
        quarters = recent_quarters(period, rule.disparity_quarters)
        gaps = (
            store.query(
                'SELECT provider_id, period, metric_id, dimension, "group" FROM equity '
                "WHERE grain = 'quarter' AND flag_disparity AND list_contains($qs, period)",
                {"qs": quarters},
                con,
            )
            if has("equity")
            else pd.DataFrame(columns=["provider_id", "period", "metric_id", "dimension", "group"])
        )
        quality = (
            store.query(
                "SELECT * FROM quality WHERE period BETWEEN $first AND $p",
                {"first": shift_period(period, -program.quality.trend_months), "p": period},
                con,
            )
            if has("quality")
            else pd.DataFrame(
                columns=["provider_id", "period", "check", "field", "value", "detail"]
            )
        )
    return TriageInputs(month, quarter, gaps, quality, actions.read_actions(store))


# -- scoring (pure) ---------------------------------------------------------------------------------
def pts(x: float) -> str:
    """Points as the rule writes them: 10, 7.5, 0.3."""
    return text.count(round(float(x), 1))


def _capped(n: int, c: TriageCount) -> tuple[float, str]:
    raw = n * c.points
    pts_ = raw if c.max is None else min(raw, c.max)
    rule = f"{n} × {pts(c.points)}"
    if c.max is not None and raw > c.max:
        rule += f" = {pts(raw)}, capped at {pts(c.max)}"
    return pts_, rule


def _row(pid, criterion, items, found, points, rule, *, equals: bool = True) -> dict:
    return {
        "provider_id": pid,
        "criterion": criterion,
        "area": AREAS[criterion],
        "heading": HEADINGS[criterion],
        "items": items,
        "found": found,
        "points": float(points),
        "rule": f"{rule} = {pts(points)}" if equals and "capped at" not in rule else rule,
    }


def _worse(row) -> bool:
    if not bool(row["flag_significant_change"]) or pd.isna(row["previous_value"]):
        return False
    d = float(row["value"]) - float(row["previous_value"])
    return d < 0 if row["direction"] == "up" else d > 0


def score_contracts(program: Program, inputs: TriageInputs, period: str) -> pd.DataFrame:
    """Each contract's points on each criterion (``POINT_COLUMNS``), in the program's order.

    ``found`` says what was found in words, ``rule`` how the points follow from it
    ("2 × 4 = 8"). Criteria worth nothing in the program file are left out.
    """
    rule = settings(program)
    c = rule.criteria
    mv, qv = inputs.month_values, inputs.quarter_values
    values = {p.id: float(p.contract_value or 0) for p in program.providers}  # no value declared: 0
    volumes: dict[str, float] = {}
    if rule.volume_metric is not None and not mv.empty:
        vol = mv[mv["metric_id"] == rule.volume_metric].set_index("provider_id")["value"]
        ids = set(program.provider_ids)  # never the program-wide row
        volumes = {pid: float(v) for pid, v in vol.items() if pd.notna(v) and pid in ids}
    vol_metric = program.metrics.get(rule.volume_metric or "")
    meeting = actions.meeting_date_for(program, period)
    quarter = complete_period(period, "quarter")
    quarters = recent_quarters(period, rule.disparity_quarters)
    rows: list[dict] = []
    # per-provider rows selected in one pass each, not one filter of the whole table per provider
    problems_of = (  # every provider's data-quality problems, ranked in one pass
        quality_rank.rank_problems_by_provider(inputs.quality, program, period)
        if c.data_quality.points
        else {}
    )
    open_all = actions.open_items(inputs.items, meeting) if c.overdue_actions.points else None
    for p in program.providers:
        pid = p.id
        own = mv[mv["provider_id"] == pid] if not mv.empty else mv
        if c.contract_value.points:
            full = c.contract_value.full_at or max(values.values()) or 1.0
            v = values[pid]
            share = min(1.0, v / full)
            rows.append(
                _row(
                    pid,
                    "contract_value",
                    v,
                    text.value(v, "currency") if p.contract_value else "no value declared",
                    share * c.contract_value.points,
                    f"{text.value(v, 'currency')} ÷ {text.value(full, 'currency')}"
                    f"{' (largest)' if c.contract_value.full_at is None else ''}"
                    f" × {pts(c.contract_value.points)}",
                )
            )
        if c.new_contract:
            new = rule.contracts.get(pid)
            kind = new.new if new is not None else None
            rows.append(
                _row(
                    pid,
                    "new_contract",
                    int(kind is not None),
                    f"new {kind}" if kind else "neither",
                    c.new_contract if kind else 0.0,
                    f"declared new: {pts(c.new_contract)}" if kind else "not declared new: 0",
                    equals=False,
                )
            )
        if c.volume.points and vol_metric is not None:
            full = c.volume.full_at or max(volumes.values(), default=0.0) or 1.0
            v = volumes.get(pid)
            share = 0.0 if v is None else min(1.0, v / full)
            rows.append(
                _row(
                    pid,
                    "volume",
                    v,
                    f"{text.count(v)} {text.lower_first(vol_metric.label)} in {month_name(period)}"
                    if v is not None
                    else "no value this month",
                    share * c.volume.points,
                    f"{text.count(v or 0)} ÷ {text.count(full)}"
                    f"{' (largest)' if c.volume.full_at is None else ''} × {pts(c.volume.points)}",
                )
            )
        for criterion, col, wanted, what in (
            ("concerns", "spc_signal", "concern", "a concern signal this month"),
            ("failing_targets", "spc_assurance", "consistent_fail", "target consistently missed"),
            ("hit_and_miss", "spc_assurance", "inconsistent", "target hit and miss"),
        ):
            cfg: TriageCount = getattr(c, criterion)
            if not cfg.points:
                continue
            hit = own[own[col].fillna("").astype(str) == wanted] if col in own else own.iloc[:0]
            labels = list(hit["label"])
            points, r = _capped(len(labels), cfg)
            rows.append(
                _row(pid, criterion, len(labels), ", ".join(labels) or f"no {what}", points, r)
            )
        if c.worsening.points:
            q = qv[qv["provider_id"] == pid] if not qv.empty else qv
            worse = [r["label"] for _, r in q.iterrows() if _worse(r)]
            points, r = _capped(len(worse), c.worsening)
            found = (
                f"{', '.join(worse)} (in {quarter_name(quarter)})"
                if worse
                else f"none significantly worse in {quarter_name(quarter)}"
            )
            rows.append(_row(pid, "worsening", len(worse), found, points, r))
        if c.disparities.points:
            g = inputs.disparities
            g = g[g["provider_id"] == pid] if not g.empty else g
            persistent = []
            if not g.empty:
                counts = g.groupby(["metric_id", "dimension", "group"])["period"].nunique()
                for (mid, _dim, grp), n in counts.items():
                    if n >= rule.disparity_min_quarters:
                        label = text.label(program, mid)
                        persistent.append(f"{label}: {grp} ({n} of {len(quarters)} quarters)")
            points, r = _capped(len(persistent), c.disparities)
            found = "; ".join(persistent) or (
                f"none flagged in {rule.disparity_min_quarters} of the last "
                f"{len(quarters)} quarters"
            )
            rows.append(_row(pid, "disparities", len(persistent), found, points, r))
        if c.data_quality.points:
            problems = problems_of.get(pid)  # None: no quality rows for the month
            if problems is None:  # no file for the month: a problem in itself
                found, n = f"no file for {month_name(period)}", 1
            else:
                n = len(problems)
                found = "; ".join(_problem_words(r) for r in problems.itertuples()) or "none"
            points, r = _capped(n, c.data_quality)
            rows.append(_row(pid, "data_quality", n, found, points, r))
        if c.overdue_actions.points:
            open_now = open_all[open_all["provider_id"] == pid]
            n = int(open_now["overdue"].sum())
            points, r = _capped(n, c.overdue_actions)
            found = (
                f"{n} of {len(open_now)} open item{'s' if len(open_now) != 1 else ''} overdue"
                if len(open_now)
                else "no open items"
            )
            rows.append(_row(pid, "overdue_actions", n, found, points, r))
        e = c.earlier_terms
        if e.not_met or e.partly_met:
            terms = rule.contracts[pid].earlier_terms if pid in rule.contracts else []
            got = [t for t in terms if t.record != "met"]
            raw = sum(e.not_met if t.record == "not_met" else e.partly_met for t in got)
            points = raw if e.max is None else min(raw, e.max)
            found = (
                "; ".join(f"{t.contract_id} {t.record.replace('_', ' ')}" for t in terms)
                or "none listed"
            )
            parts = [
                f"{t.record.replace('_', ' ')} {pts(e.not_met if t.record == 'not_met' else e.partly_met)}"
                for t in got
            ]
            r = " + ".join(parts) or "none partly or not met: 0"
            if len(parts) > 1 or (e.max is not None and raw > e.max):
                r += f" = {pts(raw)}"
            if e.max is not None and raw > e.max:
                r += f", capped at {pts(e.max)}"
            rows.append(_row(pid, "earlier_terms", len(got), found, points, r, equals=False))
    return pd.DataFrame(rows, columns=POINT_COLUMNS)


def _problem_words(r) -> str:
    """A ranked data-quality problem in two or three words: "ZIP code falling"."""
    if r.kind == "decline":
        return f"{r.label} falling"
    if r.kind == "incomplete":
        return f"{r.label} incomplete"
    if r.kind == "late":
        return f"file {text.count(r.now)} day{'s' if r.now != 1 else ''} late"
    if r.kind == "set_aside":
        return f"{text.count(r.now)} row{'s' if r.now != 1 else ''} set aside"
    return f"{r.label}: {text.count(r.now)} records"


def tier_of(program: Program, score: float):
    """The tier a score falls in: the first (highest) whose ``min_score`` it reaches."""
    for tier in settings(program).tiers:
        if score >= tier.min_score - 1e-9:
            return tier
    return settings(program).tiers[-1]


CADENCE_WORDS = {
    "monthly": "meets monthly",
    "quarterly": "meets quarterly",
    "semiannual": "meets twice a year",
    "annual": "meets once a year",
}


def rank_contracts(program: Program, points: pd.DataFrame) -> pd.DataFrame:
    """One row per contract, highest score first: score, tier, cadence and the rule written out.

    Columns: rank, provider_id, provider, contract_id, score, tier, tier_label, cadence,
    rule (one line per criterion that scored: "Heading: found (rule)"), and ``top`` (the two
    criteria that earned most, for a one-line why).
    """
    order = {p.id: i for i, p in enumerate(program.providers)}
    rows = []
    for p in program.providers:
        mine = points[points["provider_id"] == p.id]
        score = round(float(mine["points"].sum()), 1)
        tier = tier_of(program, score)
        scored = mine[mine["points"] > 0].sort_values("points", ascending=False, kind="stable")
        rows.append(
            {
                "provider_id": p.id,
                "provider": p.name,
                "contract_id": p.contract_id,
                "score": score,
                "tier": tier.id,
                "tier_label": tier.label,
                "cadence": tier.cadence,
                "rule": "\n".join(
                    f"{r.heading}: {r.found} ({r.rule})" for r in scored.itertuples()
                ),
                "top": ", ".join(
                    f"{text.lower_first(r.heading)} {pts(r.points)}"
                    for r in scored.head(2).itertuples()
                ),
            }
        )
    out = pd.DataFrame(rows)
    out["_o"] = out["provider_id"].map(order)
    out = out.sort_values(["score", "_o"], ascending=[False, True], ignore_index=True)
    out.insert(0, "rank", range(1, len(out) + 1))
    return out.drop(columns="_o")


def triage(program: Program, store: Store, period: str) -> pd.DataFrame:
    """The ranked triage for ``period`` (:func:`rank_contracts`); ``attrs['points']`` holds
    every criterion's points (:func:`score_contracts`)."""
    points = score_contracts(program, load_inputs(program, store, period), period)
    out = rank_contracts(program, points)
    out.attrs["points"] = points
    out.attrs["period"] = period
    return out
