"""The meeting brief's judgement: which findings to talk about, in which order, and what the
roadmap question's answer is.

Why a module of its own: every number in a packet already has its arithmetic; what a contract
manager lacks minutes before a meeting is the order. The rule is written once here, as pure
functions of the engine's rows, so it is tested on hand-made inputs and the packet only lays
it out (:mod:`acm_helpers.packets.brief`).

The ranking rule (:func:`rank`): candidates fall in kinds, ranked in this order, and within a
kind the larger finding comes first:

1. ``concern``: a special-cause concern (Making Data Count, ``spc_signal``) or a statistically
   significant change for the worse, sized by how far the value moved, relative to where it was;
2. ``disparity``: a group whose gap against the reference (or all others) is flagged by the
   equity engine (adjusted for multiple comparisons), sized by the gap relative to the
   reference value; the roadmap topic's metric and breakdown come first among them (built by
   :func:`acm_helpers.meetings.disparities.disparity_points`);
3. ``quality``: a required field filled in less often than it was (``store.quality_rank``);
4. ``overdue``: an action item past its due date, sized by days overdue;
5. ``target``: a headline metric worse than its target, sized by its relative distance (and
   the peer median named when it is worse than that too);
6. ``peers``: a headline metric on target (or without one) but worse than the peer median.

Improvements (a special cause in the better direction, or a significant change for the better)
are never candidates: they are listed apart (:func:`improvements`), so good news is never styled
as a problem. At most :data:`MAX_POINTS` points are kept.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import partial

import pandas as pd

from acm_helpers.core import text
from acm_helpers.core.config import Program

KINDS = ("concern", "disparity", "quality", "overdue", "target", "peers")
KIND_LABELS = {
    "concern": "Concern",
    "disparity": "Disparity",
    "quality": "Data quality",
    "overdue": "Overdue action",
    "target": "Target missed",
    "peers": "Behind peers",
}
MAX_POINTS = 5


@dataclass(frozen=True)
class Point:
    """One talking point: its kind (see the module docstring), its size within the kind, the
    sentence, and what it is about (metric, and the improvement/concern signal for icons)."""

    kind: str
    size: float
    text: str
    metric_id: str = ""
    first: bool = False  # sorts first within its kind (the roadmap topic's own finding)

    @property
    def label(self) -> str:
        """The kind as the brief names it ("Concern", "Disparity" ...)."""
        return KIND_LABELS[self.kind]


def rank(points: list[Point], limit: int = MAX_POINTS) -> list[Point]:
    """The talking points in the meeting's order: by kind (``KINDS``), the roadmap topic's
    first within its kind, then by size, largest first; at most ``limit``."""
    order = {k: i for i, k in enumerate(KINDS)}
    ranked = sorted(points, key=lambda p: (order[p.kind], not p.first, -p.size, p.text))
    return ranked[:limit]


def spc_rule(reasons: object, signal: str) -> str:
    """The engine's special-cause sentence of a row's ``flag_reasons`` without its lead ("7
    months in a row below the centre line of 102."), "" when there is none."""
    if not isinstance(reasons, str):
        return ""
    lead = {"concern": "Concern", "improvement": "Improvement"}.get(signal, "")
    found = re.search(rf"{lead} \(special cause\): (.*?\.)(?=\s+[A-Z$]|\s*$)", reasons)
    return found.group(1) if lead and found else ""


def num(x: object) -> float | None:
    """A cell as a float, None when missing (NaN, None, pd.NA)."""
    return None if text.is_missing(x) else float(x)


def _relative(now: float, base: float | None) -> float:
    if base is None or base == 0 or math.isnan(base):
        return abs(now)
    return abs(now - base) / abs(base)


# -- metric findings ---------------------------------------------------------------------------------
def _better(row: pd.Series) -> bool | None:
    """Whether this month's significant change is for the better (None without a change)."""
    v, prev = num(row.get("value")), num(row.get("previous_value"))
    if not bool(row.get("flag_significant_change", False)) or v is None or prev is None:
        return None
    return (v > prev) == (row.get("direction") == "up")


def concern_points(own: pd.DataFrame, program: Program) -> list[Point]:
    """Concerns and below-target findings of the headline metrics (``own``: this provider's
    ``metric_values`` rows for the month, indexed by metric id, in the audience's view)."""
    out = []
    for mid, row in own.iterrows():
        if mid not in program.metrics or not program.metrics[mid].key or bool(row["suppressed"]):
            continue
        m = program.metrics[mid]
        v = num(row["value"])
        if v is None:
            continue
        f = partial(text.value, fmt=m.format, unit=m.unit)
        if row.get("spc_signal") == "concern":
            centre = num(row.get("centre_line"))
            rule = spc_rule(row.get("flag_reasons"), "concern") or (
                f"{'above' if m.direction == 'down' else 'below'} its usual level of {f(centre)}."
            )
            out.append(
                Point(
                    "concern",
                    _relative(v, centre),
                    f"{m.label}, {f(v)} this month: a special cause for concern. {rule}",
                    mid,
                )
            )
        elif _better(row) is False:
            prev = num(row["previous_value"])
            out.append(
                Point(
                    "concern",
                    _relative(v, prev),
                    f"{m.label} {'rose' if v > prev else 'fell'} from {f(prev)} to {f(v)} since "
                    "last month, a statistically significant change for the worse.",
                    mid,
                )
            )
        side = "below" if m.direction == "up" else "above"
        peer = num(row.get("peer_median"))
        behind = bool(row.get("flag_worse_than_peers", False)) and peer is not None
        rank_of = (
            f", rank {int(row['peer_rank'])} of {int(row['peer_n'])}"
            if behind and not text.is_missing(row.get("peer_rank"))
            else ""
        )
        if bool(row.get("flag_below_target", False)):
            tgt = m.target
            out.append(
                Point(
                    "target",
                    _relative(v, tgt),
                    f"{m.label}: {text.distinct(v, tgt, m.format, m.unit)} is {side} the target "
                    f"of {f(tgt)}"
                    + (f" and the peer median of {f(peer)}{rank_of}" if behind else "")
                    + (
                        "; it has consistently failed the target."
                        if row.get("spc_assurance") == "consistent_fail"
                        else "."
                    ),
                    mid,
                )
            )
        elif behind and not any(p.metric_id == mid for p in out):
            out.append(
                Point(
                    "peers",
                    _relative(v, peer),
                    f"{m.label}: {text.distinct(v, peer, m.format, m.unit)} is {side} the peer "
                    f"median of {f(peer)}{rank_of}.",
                    mid,
                )
            )
    return out


def improvements(own: pd.DataFrame, program: Program) -> list[tuple[str, str, str]]:
    """Good news, kept apart from the talking points: ``(metric_id, signal, sentence)`` for a
    special-cause improvement (signal "improvement") or a significant change for the better
    (signal ""), headline metrics in program order."""
    out = []
    for mid in [k for k, m in program.metrics.items() if m.key]:
        if mid not in own.index:
            continue
        row = own.loc[mid]
        m = program.metrics[mid]
        v, prev = num(row["value"]), num(row.get("previous_value"))
        if bool(row["suppressed"]) or v is None:
            continue
        f = partial(text.value, fmt=m.format, unit=m.unit)
        moved = f", from {f(prev)} last month" if prev is not None and f(prev) != f(v) else ""
        if row.get("spc_signal") == "improvement":
            rule = spc_rule(row.get("flag_reasons"), "improvement") or (
                f"Its usual level was {f(num(row.get('centre_line')))}."
            )
            # A signal reads the run of months; when this month itself moved the worse way,
            # say so after the rule, not as "from X" before "an improvement" (a contradiction).
            worse_month = bool(moved) and ((v < prev) == (m.direction == "up"))
            after = (
                f" Last month it was {f(prev)}: the signal is in the run of months, not in "
                "this month's change."
                if worse_month
                else ""
            )
            out.append(
                (
                    mid,
                    "improvement",
                    f"{m.label}: {f(v)}{'' if worse_month else moved}, an improvement beyond "
                    f"normal variation (special cause). {rule[0].upper()}{rule[1:]}{after}",
                )
            )
        elif _better(row):
            out.append(
                (
                    mid,
                    "",
                    f"{m.label} {'rose' if v > prev else 'fell'} from {f(prev)} to {f(v)}, a "
                    "statistically significant change for the better.",
                )
            )
    return out


def quality_points(problems: pd.DataFrame) -> list[Point]:
    """The data-quality findings of :func:`acm_helpers.store.quality_rank.rank_problems` as one
    talking point: the required fields that fell, worst first, and a late file; a late file
    alone is a point too (sized below any decline)."""
    if problems.empty:
        return []
    fell = problems[problems["kind"] == "decline"]
    late = problems[problems["kind"] == "late"]
    if fell.empty and late.empty:
        return []
    tail = f" {late['text'].iloc[0]}" if len(late) else ""
    if fell.empty:
        return [Point("quality", 0.0, tail.strip())]
    fields = "; ".join(
        f"{text.lower_first(r.label)} {text.value(r.before, 'percent')} → "
        f"{text.value(r.now, 'percent')}"
        for r in fell.itertuples()
    )
    return [
        Point(
            "quality",
            float(fell["size"].max()),
            f"Data quality is falling: required fields are filled in less often ({fields} of "
            f"records).{tail}",
        )
    ]


def overdue_points(open_items: pd.DataFrame) -> list[Point]:
    """One point per overdue action item (``actions.open_items`` rows with ``overdue``)."""
    if open_items.empty:
        return []
    out = []
    for r in open_items[open_items["overdue"].astype(bool)].itertuples():
        out.append(
            Point(
                "overdue",
                float(r.days_overdue),
                f"Action {r.item_id} ({r.owner}) is {int(r.days_overdue)} days overdue: {r.text}.",
                str(r.metric_id or ""),
            )
        )
    return out
