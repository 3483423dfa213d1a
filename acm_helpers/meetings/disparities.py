"""Disparities in words and in tests: who a group is, a flagged gap as a sentence and a talking
point, whether a gap has narrowed, and whether a breakdown's groups can be compared at all.

Why apart from :mod:`acm_helpers.meetings.talking_points`: that module orders findings; this one
judges the equity engine's rows (``equity`` table, in the audience's view) for the brief's
disparity points, its roadmap answer and the packet's equity section. Pure functions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from acm_helpers.core import text
from acm_helpers.core.config import Dimension, Program
from acm_helpers.core.schema import NOT_RECORDED
from acm_helpers.meetings.talking_points import Point, num

NOT_A_GROUP = {NOT_RECORDED, "Unknown"}  # blanks and unknowns: data quality, not a population


# -- sentences and points -----------------------------------------------------------------------------------------
def _numbered(group: str) -> bool:
    """A group named by a number (a ZIP code, a census tract), not a word."""
    return group.replace("-", "").isdigit()


def group_phrase(dim: Dimension, group: str) -> str:
    """Who a group is, in a sentence: "Black or African American clients", "clients aged
    18-24", "clients in ZIP code 98108"."""
    if dim.bins is not None:
        return f"clients aged {group}"
    if _numbered(group):
        return f"clients in {dim.label} {group}"
    return f"{group} clients"


def _gap(row) -> tuple[float | None, float | None, float | None, str]:
    """The flagged comparison of an equity row: (difference, low, high, against whom)."""
    ref = num(getattr(row, "diff_vs_reference", None))
    if ref is not None and not bool(row.is_reference):
        return ref, num(row.diff_vs_reference_low), num(row.diff_vs_reference_high), "reference"
    return (
        num(row.diff_vs_others),
        num(row.diff_vs_others_low),
        num(row.diff_vs_others_high),
        "others",
    )


def disparity_sentence(row, program: Program, when: str) -> str:
    """A flagged disparity with its group and breakdown named: "Black or African American
    clients' exits to permanent housing: 27.8% against 51.4% for White clients (race and
    ethnicity, July–September 2026; gap 23.6 points, 95% CI -32.9 to -13.4 points)"."""
    m, dim = program.metrics[row.metric_id], program.dimensions[row.dimension]
    f = lambda x: text.value(x, m.format, m.unit)  # noqa: E731
    d, lo, hi, against = _gap(row)
    if against == "reference":
        other = f"{f(row.reference_value)} for {group_phrase(dim, str(row.reference_group))}"
    elif _numbered(str(row.group)):
        other = f"{f(row.others_value)} for clients in all other {dim.label}s"
    else:
        other = f"{f(row.others_value)} for all other {text.lower_first(dim.label)} groups"
    who = group_phrase(dim, str(row.group))
    named = "" if _numbered(str(row.group)) else f"{text.lower_first(dim.label)}, "
    if d is not None and lo is not None and hi is not None and (lo > 0 or hi < 0):
        a, b = sorted((abs(lo), abs(hi)))  # the gap's size: its interval excludes zero
        ci = (
            f"95% CI {text.gap(a, m.format, m.unit, with_unit=False)} to "
            f"{text.gap(b, m.format, m.unit)}"
        )
    else:
        ci = f"95% CI {text.signed_range(lo, hi, m.format, m.unit)}"
    return (
        f"{who[0].upper()}{who[1:]}: {text.lower_first(m.label)} {f(row.value)} against {other} "
        f"({named}{when}; a gap of {text.gap(d, m.format, m.unit)}, {ci})."
    )


def disparity_points(
    equity: pd.DataFrame, program: Program, when: str, topic_metric: str = "", topic_dim: str = ""
) -> list[Point]:
    """One point per flagged disparity (``equity``: this provider's rows for the quarter, in the
    audience's view); the roadmap topic's metric and breakdown sort first among them."""
    if equity.empty:
        return []
    out = []
    for row in equity[equity["flag_disparity"].astype(bool)].itertuples(index=False):
        if row.metric_id not in program.metrics or row.dimension not in program.dimensions:
            continue
        d, _, _, against = _gap(row)
        base = num(row.reference_value if against == "reference" else row.others_value)
        size = abs(d or 0) / abs(base) if base else abs(d or 0)
        out.append(
            Point(
                "disparity",
                size,
                disparity_sentence(row, program, when),
                row.metric_id,
                first=(
                    row.metric_id == topic_metric and (not topic_dim or row.dimension == topic_dim)
                ),
            )
        )
    return out


# -- has a gap changed? (the roadmap's "has the disparity narrowed?" question) ------------------------
CANNOT_TELL = "cannot tell"
GAP_CHANGE_WORDS = {
    "narrowed": "the gap has narrowed",
    "widened": "the gap has widened",
    "reversed": "the gap has reversed",
    CANNOT_TELL: "the data cannot tell whether the gap changed",
}


def gap_change_interval(
    before: float,
    before_low: float,
    before_high: float,
    after: float,
    after_low: float,
    after_high: float,
) -> tuple[float, float, float]:
    """``after - before`` for two gaps measured on separate windows, with a 95% interval.

    Method: MOVER (Zou and Donner 2008; Newcombe's "method of variance estimates recovery"):
    each gap's own 95% interval (Newcombe for a rate difference, asymmetric) gives its
    uncertainty on each side, and the two sides combine as independent errors. NaN bounds
    (a gap with no interval, e.g. a median's) give a NaN interval.
    """
    d = after - before
    low = d - math.sqrt((after - after_low) ** 2 + (before_high - before) ** 2)
    high = d + math.sqrt((after_high - after) ** 2 + (before - before_low) ** 2)
    return float(d), float(low), float(high)


def gap_change(
    before: float,
    before_low: float,
    before_high: float,
    after: float,
    after_low: float,
    after_high: float,
) -> str:
    """Did a gap narrow, widen or reverse between two windows, judged by 95% intervals?

    Why a test: two point estimates always differ, and "the gap has narrowed" read from them is
    often noise (two overlapping intervals). The rule, shared by the deep dive, the packet brief
    and the end-of-contract report:

    - ``"cannot tell"`` when the 95% interval of the change (after minus before,
      :func:`gap_change_interval`) includes zero, or a gap or an interval is missing;
    - otherwise, when both estimates lie on the same side of zero: ``"narrowed"`` if the gap
      moved toward zero, ``"widened"`` if away from it;
    - when they lie on opposite sides: ``"reversed"`` if the later gap's own interval excludes
      zero (a gap now runs the other way), else ``"narrowed"`` (the earlier gap closed).

    Returns one of the keys of :data:`GAP_CHANGE_WORDS` (which holds the sentence for each).
    """
    values = (before, before_low, before_high, after, after_low, after_high)
    if any(v is None or not np.isfinite(v) for v in values):
        return CANNOT_TELL
    _, low, high = gap_change_interval(*values)
    if low <= 0 <= high:
        return CANNOT_TELL
    if np.sign(before) * np.sign(after) < 0:
        return "reversed" if after_low > 0 or after_high < 0 else "narrowed"
    if before == 0 or after == 0:
        return "widened" if abs(after) > abs(before) else "narrowed"
    return "narrowed" if abs(after) < abs(before) else "widened"


def gap_size_change(
    before: float,
    before_low: float,
    before_high: float,
    after: float,
    after_low: float,
    after_high: float,
) -> tuple[float, float, float]:
    """The change in a gap's size (in the direction of the earlier gap: negative = smaller),
    with its 95% interval (:func:`gap_change_interval`); NaN when the gaps have no direction."""
    side = np.sign(before) or np.sign(after)
    d, low, high = gap_change_interval(
        before, before_low, before_high, after, after_low, after_high
    )
    if not side or not np.isfinite(side):
        return float("nan"), float("nan"), float("nan")
    low, high = sorted((side * low, side * high))
    return float(side * d), float(low), float(high)


# -- the roadmap question --------------------------------------------------------------------------------
@dataclass(frozen=True)
class GapChange:
    """A disparity then and now, and the test of its change (:func:`gap_size_change`: the
    change in the gap's size with its MOVER 95% interval)."""

    group: str
    then: float
    now: float
    change: float  # the gap's size now minus then: > 0 wider, < 0 narrower
    low: float  # 95% interval of that change
    high: float
    verdict: str  # a key of GAP_CHANGE_WORDS: "narrowed" | "widened" | "reversed" | "cannot tell"


def row_gap_change(then_row, now_row) -> GapChange | None:
    """A group's gap against the reference in two windows (two equity rows) and the test of
    its change (:func:`gap_change`, the one rule): "narrowed" or "widened" only when the 95%
    interval of the change in its size excludes no change; otherwise "cannot tell"."""
    d0, lo0, hi0, _ = _gap(then_row)
    d1, lo1, hi1, _ = _gap(now_row)
    if None in (d0, lo0, hi0, d1, lo1, hi1):
        return None
    change, low, high = gap_size_change(d0, lo0, hi0, d1, lo1, hi1)
    if not math.isfinite(change):
        return None
    verdict = gap_change(d0, lo0, hi0, d1, lo1, hi1)
    return GapChange(str(now_row.group), d0, d1, change, low, high, verdict)


def comparable_groups(rows: pd.DataFrame, dim: Dimension, threshold: int) -> list[str]:
    """Groups of one breakdown that can be shown and compared: not suppressed, at least the
    threshold of cases where the size is known, and not "Not recorded"/"Unknown"."""
    if rows.empty:
        return []
    ok = ~rows["suppressed"].astype(bool) & ~rows["group"].isin(NOT_A_GROUP)
    if "cell_size" in rows:
        size = pd.to_numeric(rows["cell_size"], errors="coerce")
        ok &= size.isna() | (size >= threshold)
    return rows.loc[ok, "group"].astype(str).tolist()


def groups_shown(rows: pd.DataFrame, dim: Dimension, threshold: int) -> bool:
    """A breakdown can answer a question when two groups can be compared, the reference group
    (when the dimension has one) among them."""
    shown = comparable_groups(rows, dim, threshold)
    if dim.reference_group and dim.reference_group not in shown:
        return False
    return len(shown) >= 2
