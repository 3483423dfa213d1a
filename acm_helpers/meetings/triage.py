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
            "the program file (README, Portfolio triage)."
        )
    return program.triage


def recent_quarters(period: str, n: int) -> list[str]:
    """The ``n`` complete quarters ending with the last complete one at ``period``, latest first."""
    last = complete_period(period, "quarter")
    return [last, *(previous_label(last, "quarter", k) for k in range(1, n))]


def load_inputs(program: Program, store: Store, period: str) -> TriageInputs:
    """Read what :func:`score_contracts` needs for ``period`` from the store."""
    program.check_period(period)
    rule = settings(program)
    has = store.has_table
    month = (
        store.query(
            "SELECT provider_id, metric_id, label, value, spc_signal, spc_assurance "
            "FROM metric_values WHERE grain = 'month' AND period = $p AND dimension = '' "
            "ORDER BY provider_id, metric_id",
            {"p": period},
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
        )
        if has("equity")
        else pd.DataFrame(columns=["provider_id", "period", "metric_id", "dimension", "group"])
    )
    quality = (
        store.query("SELECT * FROM quality WHERE period <= $p", {"p": period})
        if has("quality")
        else pd.DataFrame(columns=["provider_id", "period", "check", "field", "value", "detail"])
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
            q = inputs.quality
            q = q[q["provider_id"] == pid] if not q.empty else q
            has_file = not q.empty and bool((q["period"] == period).any())
            problems = quality_rank.rank_problems(q, program, period) if has_file else None
            if problems is None:  # no file for the month: a problem in itself
                found, n = f"no file for {month_name(period)}", 1
            else:
                n = len(problems)
                found = "; ".join(_problem_words(r) for r in problems.itertuples()) or "none"
            points, r = _capped(n, c.data_quality)
            rows.append(_row(pid, "data_quality", n, found, points, r))
        if c.overdue_actions.points:
            open_now = actions.open_items(inputs.items, meeting, pid)
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


# -- a quarter's movement -----------------------------------------------------------------------------
def previous_review(program: Program, period: str) -> str | None:
    """The period of the last quarter's review (three months earlier), if the program has it."""
    before = shift_period(period, -QUARTER_MONTHS)
    return before if before >= program.first_period else None


def movement(
    program: Program,
    now: pd.DataFrame,
    before: pd.DataFrame | None,
    period: str,
    before_period: str | None,
) -> pd.DataFrame:
    """The ranked list with each contract's move since the last quarter's review, and why.

    Args:
        now, before: :func:`triage` for ``period`` and ``before_period`` (``attrs['points']``
            is read for the reasons); ``before`` None: no earlier review, every move is "new".

    Adds ``previous_tier``, ``previous_score``, ``move`` (up / down / same / new) and ``why``:
    for a contract that changed tier, the criteria whose points changed, largest change first
    ("data-quality problems +12 (3 now: ...; 0 in July 2026)"); otherwise the score change.
    """
    levels = {t.id: i for i, t in enumerate(settings(program).tiers)}  # 0 = most attention
    labels = {t.id: t.label for t in settings(program).tiers}
    out = now.copy()
    if before is None or before_period is None:
        out["previous_tier"] = ""
        out["previous_score"] = float("nan")
        out["move"] = "new"
        out["why"] = "no review three months earlier to compare with"
        return out
    prev = before.set_index("provider_id")
    p_now, p_before = now.attrs["points"], before.attrs["points"]
    when = month_name(before_period)
    moves, whys, ptier, pscore = [], [], [], []
    for r in out.itertuples():
        if r.provider_id not in prev.index:
            moves.append("new")
            whys.append("not in the review three months earlier")
            ptier.append("")
            pscore.append(float("nan"))
            continue
        b = prev.loc[r.provider_id]
        ptier.append(b["tier"])
        pscore.append(float(b["score"]))
        step = levels[b["tier"]] - levels[r.tier]
        move = "up" if step > 0 else "down" if step < 0 else "same"
        moves.append(move)
        a_rows = p_now[p_now["provider_id"] == r.provider_id].set_index("criterion")
        b_rows = p_before[p_before["provider_id"] == r.provider_id].set_index("criterion")
        changes = []
        for crit in a_rows.index.union(b_rows.index, sort=False):
            pa = float(a_rows["points"].get(crit, 0.0))
            pb = float(b_rows["points"].get(crit, 0.0))
            if abs(pa - pb) >= 0.05:
                changes.append(
                    (
                        abs(pa - pb),
                        f"{text.lower_first(HEADINGS[crit])} {'+' if pa > pb else '−'}"
                        f"{pts(abs(pa - pb))} ({_amount(crit, a_rows, 'now')}, "
                        f"{_amount(crit, b_rows, 'in ' + when)})",
                    )
                )
        changes.sort(key=lambda t: -t[0])
        delta = r.score - float(b["score"])
        head = (
            f"{'up' if move == 'up' else 'down'} from {labels[b['tier']]} "
            f"({pts(b['score'])} → {pts(r.score)} points): "
            if move != "same"
            else f"stays {r.tier_label} ({pts(b['score'])} → {pts(r.score)} points)"
        )
        if move == "same":
            whys.append(
                head + ("" if abs(delta) < 0.05 else f"; {changes[0][1]}" if changes else "")
            )
        else:
            whys.append(head + "; ".join(c for _, c in changes) if changes else head)
    out["previous_tier"] = ptier
    out["previous_score"] = pscore
    out["move"] = moves
    out["why"] = whys
    return out


def _amount(criterion: str, rows: pd.DataFrame, when: str) -> str:
    """What a criterion counted, short: "3 now", "$4,200,000 in July 2026", "none in July 2026"."""
    if criterion not in rows.index:
        return f"not scored {when}"
    n = rows.at[criterion, "items"]
    if criterion == "contract_value":
        return f"{text.value(n, 'currency')} {when}"
    if n is None or pd.isna(n) or float(n) == 0:
        return f"none {when}"
    return f"{text.count(n)} {when}"


def quarter_review(program: Program, store: Store, period: str) -> pd.DataFrame:
    """The ranked triage for ``period`` with each contract's move since three months earlier
    (:func:`movement`): what ``acm portfolio``, the system packet and the explorer show."""
    now = triage(program, store, period)
    before_period = previous_review(program, period)
    before = triage(program, store, before_period) if before_period else None
    out = movement(program, now, before, period, before_period)
    out.attrs.update(now.attrs)
    out.attrs["previous_period"] = before_period
    return out


# -- the rule, written out -------------------------------------------------------------------------
def rule_lines(program: Program) -> list[tuple[str, str, str]]:
    """The program's rule as (area, criterion heading, how its points are earned), in the
    order the score adds them; criteria worth nothing are left out."""
    rule = settings(program)
    c = rule.criteria
    out: list[tuple[str, str, str]] = []

    def scale(name: str, what: str) -> None:
        s = getattr(c, name)
        if s.points:
            full = f"{text.count(s.full_at)}" if s.full_at is not None else f"the largest {what}"
            out.append(
                (
                    AREAS[name],
                    HEADINGS[name],
                    f"{pts(s.points)} × {what} ÷ {full} (at most {pts(s.points)})",
                )
            )

    def count(name: str, each: str) -> None:
        s: TriageCount = getattr(c, name)
        if s.points:
            cap = f", at most {pts(s.max)}" if s.max is not None else ""
            out.append((AREAS[name], HEADINGS[name], f"{pts(s.points)} per {each}{cap}"))

    scale("contract_value", "contract value")
    if c.new_contract:
        out.append(
            (
                AREAS["new_contract"],
                HEADINGS["new_contract"],
                f"{pts(c.new_contract)} if declared new",
            )
        )
    if rule.volume_metric is not None:
        scale("volume", text.lower_first(program.metric(rule.volume_metric).label) + " this month")
    count("concerns", "metric with a special-cause concern this month")
    count("failing_targets", "metric whose control limits say the target is consistently missed")
    count("hit_and_miss", "metric whose target is hit and miss")
    count(
        "worsening", "metric significantly worse in the last complete quarter than the one before"
    )
    count(
        "disparities",
        f"group whose adverse gap is flagged in {rule.disparity_min_quarters} or more of the "
        f"last {rule.disparity_quarters} complete quarters",
    )
    count(
        "data_quality",
        "data-quality problem of the month (a required field falling or "
        "incomplete, a late file, rows set aside)",
    )
    count("overdue_actions", "action item past its due date at the meeting")
    e = c.earlier_terms
    if e.not_met or e.partly_met:
        cap = f", at most {pts(e.max)}" if e.max is not None else ""
        out.append(
            (
                AREAS["earlier_terms"],
                HEADINGS["earlier_terms"],
                f"{pts(e.not_met)} per earlier term whose targets were not met, "
                f"{pts(e.partly_met)} per term partly met{cap}",
            )
        )
    return out


def tier_lines(program: Program) -> list[tuple[str, str, str, str]]:
    """Each tier as (label, score range, cadence in words, description), most attention first."""
    tiers = settings(program).tiers
    out = []
    for i, t in enumerate(tiers):
        upper = tiers[i - 1].min_score if i else None
        span = (
            f"{pts(t.min_score)} or more"
            if upper is None
            else f"{pts(t.min_score)} to under {pts(upper)}"
        )
        out.append((t.label, span, CADENCE_WORDS[t.cadence], t.description))
    return out


def review_text(program: Program, review: pd.DataFrame) -> str:
    """The quarter's ranked list as plain text (``acm portfolio``)."""
    period = review.attrs.get("period", "")
    before = review.attrs.get("previous_period")
    lines = [
        f"Portfolio triage, {program.name}, {month_name(period)}"
        + (f" (moves since {month_name(before)})" if before else ""),
        "",
    ]
    for r in review.itertuples():
        lines.append(
            f"{r.rank}. {r.provider} ({r.contract_id}): {pts(r.score)} points, {r.tier_label}, "
            f"{CADENCE_WORDS[r.cadence]}; {r.move}"
        )
        lines.append(f"   why it moved: {r.why}")
        for line in r.rule.splitlines():
            lines.append(f"   - {line}")
    lines += ["", "The rule:"]
    lines += [f"  {h}: {how}" for _, h, how in rule_lines(program)]
    lines += ["", "Tiers:"]
    lines += [f"  {label}: {span} points, {cad}" for label, span, cad, _ in tier_lines(program)]
    return "\n".join(lines)


def portfolio_view(program: Program, store: Store, period: str) -> str:
    """The portfolio triage as one HTML fragment: the ranked list with each contract's points,
    its move since three months earlier, the sprints, next quarter's rotation and the rule
    (:mod:`acm_helpers.views.triage_table`). The system packet and the explorer show this."""
    from acm_helpers.meetings import sprints
    from acm_helpers.views import triage_table

    review = quarter_review(program, store, period)
    before = review.attrs.get("previous_period")
    return triage_table.portfolio_html(
        review,
        rule_lines(program),
        tier_lines(program),
        [t.id for t in settings(program).tiers],
        sprints.sprint_results(program, store, period),
        sprints.rotation_plan(program, review, period),
        heading=f"Portfolio triage, {month_name(period)}",
        previous_name=month_name(before) if before else None,
    )
