"""Performance-improvement sprints: before and after, measured by the engine.

Why: a sprint (``sprints:`` in the program file, :class:`acm_helpers.core.config.Sprint`) is a
few months of focused work on one metric with a few providers. Whether it worked is a question
for the same engine every packet reads: the sprint's months and as many months before its start
are two windows evaluated by :func:`acm_helpers.metrics.windows.window_cells` (the engine's
values, 95% intervals and suppression), the difference of two rates carries the Newcombe
interval and the two-proportion test, and the months of the sprint that the control chart
marks as special-cause improvement are counted from ``metric_values.spc_signal``.

:func:`sprint_results` is the one function other outputs call (the provider packet, the
portfolio view, the end-of-contract report, the procurement comparison);
:func:`rotation_plan` proposes next quarter's sprint providers from the triage.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from acm_helpers.core import text
from acm_helpers.core.calendar import (
    month_label,
    month_range,
    period_bounds,
    quarter_name,
    shift_period,
)
from acm_helpers.core.config import Program, Sprint
from acm_helpers.metrics import intervals as iv
from acm_helpers.metrics import windows as em
from acm_helpers.store.store import Store

RESULT_COLUMNS = [
    "sprint_id",
    "title",
    "provider_id",
    "provider",
    "metric_id",
    "label",
    "format",
    "unit",
    "start",
    "end",
    "status",  # planned | running | ended
    "question",
    "goal",
    "before_months",
    "during_months",
    "before_value",
    "before_low",
    "before_high",
    "before_n",
    "during_value",
    "during_low",
    "during_high",
    "during_n",
    "difference",
    "difference_low",
    "difference_high",
    "p_value",
    "improved",  # the difference is better in the metric's direction and its interval excludes 0
    "goal_met",
    "improvement_months",  # sprint months the control chart marks as special-cause improvement
    "suppressed",
    "sentence",
]


def windows_of(sprint: Sprint, period: str) -> tuple[str, str, str, str] | None:
    """``(before_first, before_last, during_first, during_last)`` as of ``period``; None
    before the sprint starts. The during window stops at ``period`` while the sprint runs."""
    if period < sprint.start:
        return None
    last = min(sprint.end, period)
    length = len(month_range(sprint.start, sprint.end))
    before = sprint.before_months or length
    return shift_period(sprint.start, -before), shift_period(sprint.start, -1), sprint.start, last


def sprint_results(program: Program, store: Store | pd.DataFrame, period: str) -> pd.DataFrame:
    """Every sprint x provider as of ``period`` (``RESULT_COLUMNS``), before against during.

    ``store`` may also be an episodes frame with the derived columns (tests, notebooks); then
    no control-chart months are counted (they live in the store's ``metric_values``).

    Internal figures (the agency's view): a provider-facing output shows only its own rows,
    and a window the engine suppresses has no values (``suppressed`` True). A sprint that has
    not started by ``period`` is listed as planned, without numbers.
    """
    program.check_period(period)
    rows: list[dict] = []
    for sid, sp in program.sprints.items():
        m = program.metric(sp.metric)
        wins = windows_of(sp, period)
        base = {
            "sprint_id": sid,
            "title": sp.title,
            "metric_id": sp.metric,
            "label": m.label,
            "format": m.format,
            "unit": m.unit,
            "start": sp.start,
            "end": sp.end,
            "question": sp.question,
            "goal": sp.goal,
        }
        if wins is None:
            for pid in sp.providers:
                rows.append(
                    {
                        **base,
                        "provider_id": pid,
                        "provider": program.provider(pid).name,
                        "status": "planned",
                        "sentence": f"{sp.title} starts in {month_label(sp.start)}.",
                    }
                )
            continue
        b0, b1, d0, d1 = (max(w, program.first_period) for w in wins)
        frame = em.windows(
            [
                ("before", period_bounds(b0)[0], period_bounds(b1)[1]),
                ("during", period_bounds(d0)[0], period_bounds(d1)[1]),
            ]
        )
        cells = em.window_cells(program, store, frame, [sp.metric], providers=sp.providers)
        cells = cells[cells["dimension"] == ""]
        signals = _improvement_months(store, sp, d0, d1)
        for pid in sp.providers:
            own = cells[cells["provider_id"] == pid].set_index("window")
            numbers = _compare(own, m)
            rows.append(
                {
                    **base,
                    "provider_id": pid,
                    "provider": program.provider(pid).name,
                    "status": "ended" if period >= sp.end else "running",
                    "before_months": f"{month_label(b0)} – {month_label(b1)}",
                    "during_months": f"{month_label(d0)} – {month_label(d1)}",
                    **numbers,
                    "goal_met": goal_met(numbers.get("during_value"), sp.goal, m.direction),
                    "improvement_months": signals.get(pid, 0),
                }
            )
    out = pd.DataFrame(rows, columns=RESULT_COLUMNS)
    out["sentence"] = [
        r["sentence"] if r["status"] == "planned" else sentence(r) for _, r in out.iterrows()
    ]
    return out


def _compare(own: pd.DataFrame, m) -> dict:
    out: dict = {"suppressed": False}
    for w in ("before", "during"):
        if w not in own.index:
            out.update({f"{w}_value": np.nan, f"{w}_n": 0.0})
            continue
        c = own.loc[w]
        out["suppressed"] |= bool(c["suppressed"])
        out.update(
            {
                f"{w}_value": c["value"],
                f"{w}_low": c["ci_low"],
                f"{w}_high": c["ci_high"],
                f"{w}_n": c["denominator"] if m.kind != "count" else c["numerator"],
            }
        )
    if out["suppressed"] or {"before", "during"} - set(own.index):
        out.update({k: np.nan for k in ("before_value", "during_value", "before_low")})
        out.update({"before_high": np.nan, "during_low": np.nan, "during_high": np.nan})
        return out
    b, a = own.loc["before"], own.loc["during"]
    d = float(a["value"] - b["value"])
    out["difference"] = d
    if m.kind == "rate":
        x1, n1 = a["numerator"], a["denominator"]
        x0, n0 = b["numerator"], b["denominator"]
        _, lo, hi = iv.newcombe_difference(x1, n1, x0, n0)
        out["difference_low"], out["difference_high"] = float(lo), float(hi)
        out["p_value"] = float(iv.two_proportion_z(x1, n1, x0, n0))
    sign = 1 if m.direction == "up" else -1
    low, high = out.get("difference_low"), out.get("difference_high")
    out["improved"] = bool(
        low is not None and not np.isnan(low) and (sign * low > 0 if sign > 0 else sign * high > 0)
    )
    return out


def _improvement_months(
    store: Store | pd.DataFrame, sp: Sprint, first: str, last: str
) -> dict[str, int]:
    if not isinstance(store, Store) or not store.has_table("metric_values"):
        return {}
    rows = store.query(
        "SELECT provider_id, count(*) AS n FROM metric_values WHERE grain = 'month' "
        "AND metric_id = $m AND dimension = '' AND period BETWEEN $a AND $b "
        "AND spc_signal = 'improvement' GROUP BY provider_id",
        {"m": sp.metric, "a": first, "b": last},
    )
    return dict(zip(rows["provider_id"], rows["n"].astype(int), strict=True))


def goal_met(value: float, goal: float | None, direction: str) -> bool | None:
    """Did the sprint reach its goal? None when it declares none."""
    if goal is None or value is None or pd.isna(value):
        return None
    return bool(value >= goal if direction == "up" else value <= goal)


def sentence(r: pd.Series) -> str:
    """What the sprint did, in one plain sentence with the engine's interval."""
    fmt, unit = r["format"], r["unit"]
    if r["suppressed"]:
        return (
            f"{r['provider']}: fewer than the suppression threshold of cases before or during "
            f"{r['title']}; no comparison shown."
        )
    if pd.isna(r["before_value"]) or pd.isna(r["during_value"]):
        return f"{r['provider']}: no {text.lower_first(r['label'])} before or during {r['title']}."
    verb = "went" if r["status"] == "ended" else "has gone so far"
    s = (
        f"{r['provider']}: {text.lower_first(r['label'])} {verb} from "
        f"{text.interval(r['before_value'], r['before_low'], r['before_high'], fmt, unit)} "
        f"({r['before_months']}, n={text.count(r['before_n'])}) to "
        f"{text.interval(r['during_value'], r['during_low'], r['during_high'], fmt, unit)} "
        f"during the sprint ({r['during_months']}, n={text.count(r['during_n'])}): "
        f"{text.signed(r['difference'], fmt, unit)}"
    )
    if pd.notna(r.get("difference_low")):
        s += f" (95% interval {text.signed_range(r['difference_low'], r['difference_high'], fmt, unit)})"
    s += ", an improvement beyond chance" if r["improved"] else ", not clearly beyond chance"
    if r["goal"] is not None and pd.notna(r["goal"]):
        met = r["goal_met"]
        s += f"; goal {text.value(r['goal'], fmt, unit)} {'reached' if met else 'not reached'}"
    if r["improvement_months"]:
        s += f"; {text.plural(r['improvement_months'], 'month')} marked as improvement on the control chart"
    return s + "."


def rotation_plan(
    program: Program, review: pd.DataFrame, period: str, points: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Next quarter's proposed sprint providers: the highest triage scores first, leaving out
    providers in a sprint that is still running next quarter or ended less than
    ``triage.sprint_rest_months`` before it starts; ``triage.sprint_slots`` of them.

    Args:
        review: :func:`acm_helpers.meetings.triage.triage` (or ``triage_review.quarter_review``) for ``period``.
        points: its ``attrs['points']``; the suggested focus is the metric behind the
            performance criterion that scored most (concern, missed target, worsening, gap).

    Returns:
        quarter, provider_id, provider, score, tier, focus (a metric label or ""), why.
    """
    rule = program.triage
    slots = rule.sprint_slots if rule is not None else 0
    q_first = _next_quarter_start(period)
    quarter = f"{q_first[:4]}-Q{(int(q_first[5:]) - 1) // 3 + 1}"
    rest = rule.sprint_rest_months if rule is not None else 0
    busy: dict[str, str] = {}
    for sp in program.sprints.values():
        if sp.end >= shift_period(q_first, -rest) and sp.start <= shift_period(q_first, 2):
            for pid in sp.providers:
                busy[pid] = sp.title
    points = review.attrs.get("points") if points is None else points
    rows = []
    for r in review.itertuples():
        if len(rows) >= slots:
            break
        if r.provider_id in busy:
            continue
        focus = _focus(points, r.provider_id) if points is not None else ""
        rows.append(
            {
                "quarter": quarter,
                "provider_id": r.provider_id,
                "provider": r.provider,
                "score": r.score,
                "tier": r.tier_label,
                "focus": focus,
                "why": f"triage score {r.score:g} ({r.top})"
                + (f"; focus on {text.lower_first(focus)}" if focus else ""),
            }
        )
    out = pd.DataFrame(
        rows, columns=["quarter", "provider_id", "provider", "score", "tier", "focus", "why"]
    )
    out.attrs["quarter_name"] = quarter_name(quarter)
    out.attrs["resting"] = busy
    return out


FOCUS_CRITERIA = ("concerns", "failing_targets", "worsening", "disparities")


def _focus(points: pd.DataFrame, pid: str) -> str:
    mine = points[(points["provider_id"] == pid) & points["criterion"].isin(FOCUS_CRITERIA)]
    mine = mine[mine["points"] > 0].sort_values("points", ascending=False, kind="stable")
    if mine.empty:
        dq = points[(points["provider_id"] == pid) & (points["criterion"] == "data_quality")]
        return "Data quality" if len(dq) and float(dq["points"].sum()) > 0 else ""
    found = str(mine.iloc[0]["found"])
    return found.split(":")[0].split(",")[0].split(" (")[0].strip()


def _next_quarter_start(period: str) -> str:
    y, m = map(int, period.split("-"))
    first = ((m - 1) // 3 + 1) * 3 + 1
    return f"{y + 1}-01" if first > 12 else f"{y}-{first:02d}"
