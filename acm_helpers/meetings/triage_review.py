"""A quarter's triage review: each contract's move since three months earlier and why, the
rule written out, and the portfolio view as text and HTML.

Why apart from :mod:`acm_helpers.meetings.triage`: that module scores one month's contracts;
this one compares two reviews (:func:`movement`, :func:`quarter_review`), says the program's
rule in words (each criterion and what it is worth, each tier and its cadence) and puts the
review together for ``acm portfolio``, the internal system packet and the staff explorer
(:func:`portfolio_view`).
"""

from __future__ import annotations

import pandas as pd

from acm_helpers.core import text
from acm_helpers.core.calendar import month_name, shift_period
from acm_helpers.core.config import Program, TriageCount
from acm_helpers.meetings import actions
from acm_helpers.meetings.triage import (
    AREAS,
    CADENCE_WORDS,
    HEADINGS,
    QUARTER_MONTHS,
    pts,
    settings,
    triage,
)
from acm_helpers.store.store import Store


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


TRIAGE_TABLES = ("metric_values", "equity", "quality", actions.ACTION_ITEMS)  # what triage reads
_REVIEWS: dict[tuple, tuple[Program, pd.DataFrame]] = {}
"""This process's last few reviews: ``{(program, store, table stamps, period): (program, review)}``.

Why: the system packet shows the review in its triage section and again as its XLSX sheet, in
the same process; each review scores two quarters (about 0.4 s of CPU, measured 2026-12-07).
The key holds the stamps of the tables the triage reads
(:meth:`~acm_helpers.store.store.Store.tables_stamp`), taken before the read, and the entry
holds the program object itself, so a replaced table or another program is always read again.
"""


def quarter_review(program: Program, store: Store, period: str) -> pd.DataFrame:
    """The ranked triage for ``period`` with each contract's move since three months earlier
    (:func:`movement`): what ``acm portfolio``, the system packet and the explorer show.

    A new frame on every call (kept per process while the tables are unchanged: ``_REVIEWS``)."""
    key = (id(program), str(store.root), store.tables_stamp(TRIAGE_TABLES), period)
    hit = _REVIEWS.get(key)
    if hit is not None and hit[0] is program:
        return hit[1].copy()
    now = triage(program, store, period)
    before_period = previous_review(program, period)
    before = triage(program, store, before_period) if before_period else None
    out = movement(program, now, before, period, before_period)
    out.attrs.update(now.attrs)
    out.attrs["previous_period"] = before_period
    while len(_REVIEWS) >= 4:
        _REVIEWS.pop(next(iter(_REVIEWS)))
    _REVIEWS[key] = (program, out)
    return out.copy()


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


MOVES = {"up": "up a tier", "down": "down a tier", "same": "same tier", "new": "first review"}


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
            f"{CADENCE_WORDS[r.cadence]}; {MOVES[r.move]}"
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
