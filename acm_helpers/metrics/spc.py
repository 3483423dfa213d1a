"""Statistical process control with a direction: NHS England's "Making Data Count" XmR rules.

Why this module: a flag that only says "special cause" leaves the reader to work out whether the
month is good or bad news. Making Data Count (and its open implementation, the NHS-R community's
NHSRplotthedots R package, ``ptd_spc``) reads every special-cause point against the metric's
direction, so a rise in exits to housing is an *improvement* and a rise in days to enrollment a
*concern*, and says whether the process will reliably meet its target (*assurance*).

The rules, as NHSRplotthedots computes them (``ptd_spc_standard`` and
``ptd_calculate_point_type``), on each segment of the series (segments start at declared change
points, ``ptd_rebase``):

- centre line: the mean; moving ranges ``|x_i - x_(i-1)|`` and their mean (mR-bar). Moving ranges
  of 3.267 x mR-bar or more are screened out and mR-bar recomputed (``screen_outliers``: one
  wild month must not widen the limits that judge it);
- process limits: mean +/- 2.66 x mR-bar; "near" limits (2 sigma): mean +/- (2/3) x 2.66 x mR-bar;
- astronomical: a point above the upper or below the lower limit;
- shift: ``run_length`` (7) points in a row on the same side of the mean (a point on the mean
  breaks the run);
- trend: ``trend_length`` (7) points in a row each higher (or each lower) than the one before;
- two of three: two of three points in a row between the 2-sigma and the 3-sigma limits, all
  three on the same side of the mean (the two near points are flagged);
- a point is special cause when it is part of any of these; its side is taken from the first
  rule that applies in the order astronomical, trend, two of three, shift (a trend's side is its
  direction, the others' the side of the mean). By the metric's direction the side reads
  ``special_cause_improvement`` or ``special_cause_concern``; without a direction
  ``special_cause_neutral_high`` / ``_low`` (NHSRplotthedots' names; the one-word
  ``signal`` of those is "neither"). Other points are ``common_cause``;
- assurance, from the last point's limits and the target: the target outside the limits on the
  failing side is ``consistent_fail``, on the passing side ``consistent_pass``, within them
  ``inconsistent`` ("hit and miss").

Two deliberate differences: a segment with fewer than ``min_points`` points gets no limits
(NHSRplotthedots draws them and warns under 12); and screening never leaves mR-bar at zero when
some moving range is not (NHSRplotthedots' screening would remove the only non-zero ranges of a
near-flat series, e.g. integer medians, and give zero-width limits that flag every month).
Values within a relative 1e-9 count as equal, so rates such as 9 / 10 computed in different
months do not signal on rounding.

Two entry points, one set of rules: :func:`xmr` charts a whole series (what NHSRplotthedots
returns, tested against its published examples); :func:`as_of` classifies every month of many
series with only the data up to that month, so a month's packet never changes when later months
arrive (what the engine's flags use).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

# What a special-cause signal means, in words (tiles, flag sentences). Here, not in flags, so
# the explorer can read it without importing the intervals' scipy/statsmodels.
SIGNAL_LEADS = {
    "improvement": "Improvement (special cause)",
    "concern": "Concern (special cause)",
    "neither": "Special cause",
}

LIMIT = 2.66  # 3 sigma = 2.66 x mR-bar (3 / d2, d2 = 1.128 for ranges of two points)
NEAR = 2 * LIMIT / 3  # 2 sigma
SCREEN = 3.267  # D4 for n = 2: moving ranges at or above 3.267 x mR-bar are screened out
RUN_LENGTH = 7
TREND_LENGTH = 7
EPS = 1e-9  # relative tolerance of "equal" (see _tolerance)
MIN_POINTS = 12  # NHSRplotthedots warns ("short_group_warning") under 12 points per segment

COMMON = "common_cause"
IMPROVEMENT = "special_cause_improvement"
CONCERN = "special_cause_concern"
NEUTRAL_HIGH = "special_cause_neutral_high"
NEUTRAL_LOW = "special_cause_neutral_low"
POINT_TYPES = (COMMON, IMPROVEMENT, CONCERN, NEUTRAL_HIGH, NEUTRAL_LOW)
# the one-word signal of a point type (metric_values.spc_signal); "" = no limits
SIGNALS = {
    COMMON: "common",
    IMPROVEMENT: "improvement",
    CONCERN: "concern",
    NEUTRAL_HIGH: "neither",
    NEUTRAL_LOW: "neither",
}
RULES = ("astronomical", "trend", "two_of_three", "shift")  # in the order that sets the side
ASSURANCE = ("consistent_pass", "consistent_fail", "inconsistent")  # labels: views.spc_icons


@dataclass(frozen=True)
class Rules:
    """The configurable part of the rules.

    Attributes:
        run_length: points in a row on one side of the mean that make a shift.
        trend_length: points in a row each rising (or each falling) that make a trend.
        min_points: points a segment needs before it gets limits (and any signal).
        screen_outliers: screen very large moving ranges out of mR-bar.
    """

    run_length: int = RUN_LENGTH
    trend_length: int = TREND_LENGTH
    min_points: int = MIN_POINTS
    screen_outliers: bool = True

    def __post_init__(self) -> None:
        if self.run_length < 2 or self.trend_length < 2 or self.min_points < 2:
            raise ValueError(
                f"SPC rules need run_length, trend_length and min_points of at least 2; got "
                f"{self.run_length}, {self.trend_length}, {self.min_points}"
            )


DEFAULT_RULES = Rules()


@dataclass(frozen=True)
class Chart:
    """An XmR chart of one series (:func:`xmr`).

    Attributes:
        points: one row per point: ``value``, ``segment`` (0, 1, ... from each change point),
            ``mean``, ``lpl``, ``upl`` (null for a segment too short for limits),
            ``outside_limits``, ``relative_to_mean`` (-1, 0, 1), ``close_to_limits``,
            ``rule`` (the rule that sets the point's side, "" for common cause), ``point_type``
            ("" without limits) and ``signal``.
        assurance: ``consistent_pass`` / ``consistent_fail`` / ``inconsistent`` from the last
            segment's limits, "" without a target, a direction or limits.
        note: why some or all points have no limits ("" when every segment has them).
        short_segments: the segments (0, 1, ...) too short for limits.
    """

    points: pd.DataFrame
    assurance: str = ""
    note: str = ""
    short_segments: list[int] = field(default_factory=list)

    @property
    def has_limits(self) -> bool:
        """Whether the last segment (the one that judges the latest point) has limits."""
        return bool(len(self.points)) and bool(self.points["lpl"].notna().iloc[-1])


# -- the shared arithmetic ---------------------------------------------------------------------
def _centre_and_mr(base: np.ndarray, screen: bool) -> tuple[np.ndarray, np.ndarray]:
    """Mean and screened mR-bar of each row of ``base`` (NaN = not in the baseline).

    A moving range needs both of its points in the baseline. When screening would leave no
    moving range above zero (a flat series, or integer medians of 5 days with one month of 6),
    mR-bar keeps its unscreened value: zero-width limits would flag every month that differs
    from the mean by a day.
    """
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # rows without a baseline: NaN
        mean = np.nanmean(base, axis=1)
        mr = np.abs(np.diff(base, axis=1))
        amr = np.nanmean(mr, axis=1)
        if screen:
            kept = np.where(mr < SCREEN * amr[:, None], mr, np.nan)
            screened = np.nanmean(kept, axis=1)
            amr = np.where(screened > 0, screened, amr)
    return mean, amr


def _tolerance(mean: np.ndarray | float) -> np.ndarray:
    """How close two values must be to count as equal: rates computed as 9 / 10 in different
    months differ in the 17th digit, and a flat series must not signal because of it."""
    return EPS * np.maximum(1.0, np.abs(mean))


def _sign(x: np.ndarray, tol: np.ndarray | float) -> np.ndarray:
    """sign(x), 0 within ``tol`` of zero (NaN stays NaN)."""
    return np.where(np.abs(x) <= tol, 0.0, np.sign(x))


def _run_end(side: np.ndarray, k: int) -> np.ndarray:
    """The last ``k`` columns of ``side`` are all +1 or all -1."""
    last = side[:, -k:]
    return (last == 1).all(axis=1) | (last == -1).all(axis=1)


def _trend_end(w: np.ndarray, k: int, tol: np.ndarray) -> np.ndarray:
    """+1 (each of the last ``k`` points higher than the one before), -1 (each lower), else 0."""
    d = _sign(np.diff(w[:, -k:], axis=1), tol)
    return np.where((d > 0).all(axis=1), 1, np.where((d < 0).all(axis=1), -1, 0))


def _two_of_three_end(side: np.ndarray, near: np.ndarray) -> np.ndarray:
    """The last three points are on one side of the mean and at least two of them are near."""
    return (np.abs(np.nansum(side[:, -3:], axis=1)) == 3) & (near[:, -3:].sum(axis=1) >= 2)


def _point_type(has: np.ndarray, side: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """Point type from special cause (``has``), its side (+1 / -1) and the direction (+1 up,
    -1 down, 0 neither)."""
    oriented = side * direction
    special = np.where(
        direction == 0,
        np.where(side > 0, NEUTRAL_HIGH, NEUTRAL_LOW),
        np.where(oriented > 0, IMPROVEMENT, CONCERN),
    )
    return np.where(has, special, COMMON)


def _assurance(target: np.ndarray, lpl: np.ndarray, upl: np.ndarray, direction: np.ndarray):
    """NHSRplotthedots' ``ptd_calculate_assurance_type`` (null target or direction: "")."""
    up = direction > 0
    out = np.where(
        target > upl,
        np.where(up, "consistent_fail", "consistent_pass"),
        np.where(target < lpl, np.where(up, "consistent_pass", "consistent_fail"), "inconsistent"),
    )
    known = ~np.isnan(target) & (direction != 0) & ~np.isnan(lpl)
    return np.where(known, out, "")


DIRECTIONS = {"up": 1, "increase": 1, "down": -1, "decrease": -1}


def direction_sign(direction: str | None) -> int:
    """+1 for "up" / "increase" (higher is better), -1 for "down" / "decrease", 0 otherwise."""
    return DIRECTIONS.get(direction or "", 0)


# -- a whole series ----------------------------------------------------------------------------
def xmr(
    values: Sequence[float] | np.ndarray | pd.Series,
    *,
    direction: str | None = "up",
    target: float | None = None,
    rebase: Sequence[int] = (),
    fix_after_n_points: int | None = None,
    rules: Rules = DEFAULT_RULES,
) -> Chart:
    """XmR chart of one series, point by point, as NHSRplotthedots' ``ptd_spc`` computes it.

    Args:
        values: the series in time order, without gaps (NaN values are not allowed).
        direction: "up" (higher is better), "down", or None / "neutral" (neither).
        target: the target the assurance is judged against (None: no assurance).
        rebase: positions where a new segment starts (a declared practice change), each with
            its own mean and limits.
        fix_after_n_points: limits of each segment from its first n points only.
        rules: run and trend lengths, minimum points, outlier screening.

    Returns:
        A :class:`Chart`; segments shorter than ``rules.min_points`` have no limits and no
        point types, and ``Chart.note`` says so.
    """
    y = np.asarray(values, dtype=float)
    if np.isnan(y).any():
        raise ValueError("xmr needs a series without gaps: drop or fill the missing points first")
    n = len(y)
    starts = sorted({0, *[int(r) for r in rebase if 0 < int(r) < n]})
    segment = np.searchsorted(starts, np.arange(n), side="right") - 1
    dirn = direction_sign(direction)
    cols = {c: np.full(n, np.nan) for c in ("mean", "lpl", "upl")}
    outside = np.zeros(n, bool)
    near = np.zeros(n, bool)
    side = np.zeros(n)
    rule = np.full(n, "", dtype=object)
    ptype = np.full(n, "", dtype=object)
    short = []
    for s, a in enumerate(starts):
        b = starts[s + 1] if s + 1 < len(starts) else n
        seg = y[a:b]
        if len(seg) < rules.min_points:
            short.append(s)
            continue
        base = seg[: fix_after_n_points or len(seg)][None, :]
        mean, amr = _centre_and_mr(base, rules.screen_outliers)
        m, r = float(mean[0]), float(amr[0])
        lo, hi = m - LIMIT * r, m + LIMIT * r
        tol = float(_tolerance(m))
        out = (_sign(seg - hi, tol) > 0) | (_sign(seg - lo, tol) < 0)
        nr = ~out & (
            (_sign(seg - (m - NEAR * r), tol) < 0) | (_sign(seg - (m + NEAR * r), tol) > 0)
        )
        sd = _sign(seg - m, tol)
        types, rules_hit = _classify_series(seg, sd, out, nr, dirn, rules, tol)
        cols["mean"][a:b], cols["lpl"][a:b], cols["upl"][a:b] = m, lo, hi
        outside[a:b], near[a:b], side[a:b] = out, nr, sd
        rule[a:b], ptype[a:b] = rules_hit, types
    points = pd.DataFrame(
        {
            "value": y,
            "segment": segment,
            **cols,
            "outside_limits": outside,
            "relative_to_mean": side.astype(int),
            "close_to_limits": near,
            "rule": rule,
            "point_type": ptype,
        }
    )
    points["signal"] = points["point_type"].map(SIGNALS).fillna("")
    assurance = ""
    if n and target is not None and (len(starts) - 1) not in short:
        assurance = str(
            _assurance(
                np.array([float(target)]),
                cols["lpl"][-1:],
                cols["upl"][-1:],
                np.array([dirn]),
            )[0]
        )
    note = ""
    if short:
        parts = [
            f"segment {s + 1} (from point {starts[s] + 1}) has "
            f"{(starts[s + 1] if s + 1 < len(starts) else n) - starts[s]} points"
            for s in short
        ]
        note = (
            f"Too few points for control limits: {'; '.join(parts)}; limits need "
            f"{rules.min_points}."
        )
    return Chart(points=points, assurance=assurance, note=note, short_segments=short)


def _classify_series(
    y: np.ndarray,
    side: np.ndarray,
    outside: np.ndarray,
    near: np.ndarray,
    direction: int,
    rules: Rules,
    tol: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Point types and rules of one segment with its limits: a point is special cause when it is
    part of any rule's window (``ptd_part_of_seven_trend``, ``ptd_part_of_two_in_three``)."""
    n = len(y)
    kr, kt = rules.run_length, rules.trend_length
    width = max(kr, kt, 3)
    pad = np.full(width - 1, np.nan)
    # window j = the `width` points ending at j (left-padded with NaN)
    wins = np.lib.stride_tricks.sliding_window_view(np.concatenate([pad, y]), width)
    sides = np.lib.stride_tricks.sliding_window_view(np.concatenate([pad, side]), width)
    nears = np.lib.stride_tricks.sliding_window_view(
        np.concatenate([np.zeros(width - 1, bool), near]), width
    )
    run_end = _run_end(sides, kr)
    trend_end = _trend_end(wins, kt, np.full((len(wins), 1), tol))
    three_end = _two_of_three_end(sides, nears)

    def part_of(ends: np.ndarray, k: int) -> np.ndarray:
        """Point i is in a window of k points that ends at some j in i .. i + k - 1."""
        padded = np.concatenate([ends.astype(bool), np.zeros(k - 1, bool)])
        return np.lib.stride_tricks.sliding_window_view(padded, k).any(axis=1)

    in_run = part_of(run_end, kr)
    in_trend = part_of(trend_end != 0, kt)
    in_three = part_of(three_end, 3) & near
    # a trend point's side: the step to its right when the next point is also in a trend,
    # else the step from its left (NHSRplotthedots' ``sdy``)
    step = _sign(np.diff(y), tol)
    right = np.concatenate([step, step[-1:]]) if n > 1 else np.zeros(n)
    left = np.concatenate([[0.0], step])
    nxt = np.concatenate([in_trend[1:], [False]])
    trend_side = np.where(nxt & in_trend, right, left)
    trend_side = np.where(trend_side == 1, 1, -1)
    rule = np.select([outside, in_trend, in_three, in_run], list(RULES), default="").astype(object)
    has = rule != ""
    sd = np.where(rule == "trend", trend_side, np.where(side > 0, 1, -1))
    types = _point_type(has, sd, np.full(n, direction))
    return types, rule


# -- every month of many series, judged with the data up to that month ----------------------
def as_of(
    frame: pd.DataFrame,
    keys: list[str],
    *,
    order: str = "period",
    value: str = "value",
    direction: str = "direction",
    target: str | None = None,
    segment: str | None = None,
    rules: Rules = DEFAULT_RULES,
) -> pd.DataFrame:
    """SPC of each row's own point, with limits from its series' points up to that row.

    Why "as of": a packet for a month must say what the data said that month, and must not
    change when later months arrive; so row t is judged as the last point of the chart drawn
    from the rows up to t. For that last point "part of a rule" means the rule's window ends at
    it: the last ``run_length`` points on one side of the mean, the last ``trend_length`` points
    rising or falling, or the last three points on one side with two of them (and this one)
    near the limits.

    A declared practice change (``segment`` increases) rebases the limits once the new segment
    has ``rules.min_points`` points; before that, the new points are judged against the limits
    of the points before the change, which is how a change shows itself as a signal.

    Args:
        frame: one row per point; rows with a NaN value are ignored (no SPC columns).
        keys: the columns that identify a series.
        order: the column that orders a series (YYYY-MM periods sort as text).
        value: the value column.
        direction: column of "up" / "down" / other (neither), per row.
        target: optional column of targets for the assurance.
        segment: optional integer column, non-decreasing within a series, that increases at
            each declared practice change.
        rules: run and trend lengths, minimum points, outlier screening.

    Returns:
        A frame on ``frame``'s index with ``spc_mean``, ``spc_lpl``, ``spc_upl`` (null when the
        point has no limits), ``spc_rule`` ("" or one of :data:`RULES`), ``spc_side`` (+1 high,
        -1 low: the side of the mean, or a trend's direction; 0 without a rule), ``spc_point_type``
        ("" without limits), ``spc_signal`` ("" without limits, else "common", "improvement",
        "concern" or "neither") and ``spc_assurance`` ("" without a target or limits).
    """
    out = pd.DataFrame(
        {
            "spc_mean": np.nan,
            "spc_lpl": np.nan,
            "spc_upl": np.nan,
            "spc_rule": "",
            "spc_side": 0,
            "spc_point_type": "",
            "spc_signal": "",
            "spc_assurance": "",
        },
        index=frame.index,
    )
    present = np.flatnonzero(frame[value].notna().to_numpy())
    if not present.size:
        return out
    # positions, not labels: the caller's index need not be unique
    d = frame.iloc[present].reset_index(drop=True).assign(_at=present)
    d = d.sort_values([*keys, order], kind="stable")
    y = d[value].to_numpy(float)
    code = d.groupby(keys, sort=False, dropna=False).ngroup().to_numpy()
    seg = d[segment].to_numpy(int) if segment else np.zeros(len(d), int)
    start, base_end = _windows(code, seg, rules.min_points)
    i = np.arange(len(d))
    length = i - start + 1
    width = int(max(length.max(), rules.run_length, rules.trend_length, 3))
    cols = i[:, None] - (width - 1) + np.arange(width)  # right-aligned window of each row
    valid = cols >= start[:, None]
    w = np.where(valid, y[np.clip(cols, 0, None)], np.nan)
    base = np.where(cols < base_end[:, None], w, np.nan)
    n_base = (~np.isnan(base)).sum(axis=1)
    mean, amr = _centre_and_mr(base, rules.screen_outliers)
    lpl, upl = mean - LIMIT * amr, mean + LIMIT * amr
    tol = _tolerance(mean)[:, None]
    outside_w = (_sign(w - upl[:, None], tol) > 0) | (_sign(w - lpl[:, None], tol) < 0)
    near_lo, near_hi = (mean - NEAR * amr)[:, None], (mean + NEAR * amr)[:, None]
    near_w = ~outside_w & ((_sign(w - near_lo, tol) < 0) | (_sign(w - near_hi, tol) > 0))
    side_w = _sign(w - mean[:, None], tol)
    enough = n_base >= rules.min_points
    run = _run_end(side_w, rules.run_length)
    trend = _trend_end(w, rules.trend_length, tol)
    three = _two_of_three_end(side_w, near_w) & near_w[:, -1]
    last_out = outside_w[:, -1]
    rule = np.select([last_out, trend != 0, three, run], list(RULES), default="")
    rule = np.where(enough, rule, "")
    side = np.where(rule == "trend", trend, np.where(side_w[:, -1] > 0, 1, -1))
    dirn = d[direction].map(DIRECTIONS).fillna(0).to_numpy(int)
    types = np.where(enough, _point_type(rule != "", side, dirn), "")
    tgt = d[target].to_numpy(float) if target else np.full(len(d), np.nan)
    lim_lo, lim_hi = np.where(enough, lpl, np.nan), np.where(enough, upl, np.nan)
    res = pd.DataFrame(
        {
            "spc_mean": np.where(enough, mean, np.nan),
            "spc_lpl": lim_lo,
            "spc_upl": lim_hi,
            "spc_rule": rule,
            "spc_side": np.where(rule != "", side, 0),
            "spc_point_type": types,
            "spc_signal": pd.Series(types).map(SIGNALS).fillna("").to_numpy(),
            "spc_assurance": _assurance(tgt, lim_lo, lim_hi, dirn),
        },
    )
    at = d["_at"].to_numpy()
    for col in res.columns:
        values = out[col].to_numpy(copy=True)
        values[at] = res[col].to_numpy()
        out[col] = values
    return out


def _windows(code: np.ndarray, seg: np.ndarray, min_points: int) -> tuple[np.ndarray, np.ndarray]:
    """For each row (sorted by series then order): the first row of its chart and the end
    (exclusive) of the rows its limits come from.

    The chart starts at the latest change point whose segment already has ``min_points`` rows
    up to this one (else at the series' first row); its limits use the rows up to the next
    change point that is still too young, or all rows up to this one.
    """
    n = len(code)
    start = np.zeros(n, int)
    base_end = np.zeros(n, int)
    first = 0
    seg_starts: list[int] = []
    for i in range(n):
        if i == 0 or code[i] != code[i - 1]:
            first, seg_starts = i, [i]
        elif seg[i] != seg[i - 1]:
            seg_starts.append(i)
        a = first
        for s in seg_starts:
            if i - s + 1 >= min_points:
                a = s
        later = [s for s in seg_starts if s > a]
        start[i], base_end[i] = a, (later[0] if later else i + 1)
    return start, base_end
