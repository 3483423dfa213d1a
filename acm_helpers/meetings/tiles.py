"""Headline tiles as records: what a tile says about one metric, for the packet and the explorer.

Why one module: the provider's packet (:func:`acm_helpers.packets.dashboard.tiles`) and the staff
dashboard (:mod:`acm_helpers.explorer.app`) used to work out a tile's arrow, peer line and flags
each in its own way, so the dashboard showed no arrows, no peer median and no rank and read a
partial quarter where the packet read the last complete one. Both now build :class:`Tile` records
here, from the engine's ``metric_values`` rows, and only lay them out differently; a test checks
that the two show the same record for every provider (tests/unit/test_tiles.py).

Pure functions of one row (a ``metric_values`` row as the audience may see it, already through
``privacy.for_audience``); nothing here reads the store or writes HTML. Every number is written
by :mod:`acm_helpers.core.text`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from acm_helpers.core import text
from acm_helpers.core.calendar import equity_quarter
from acm_helpers.core.config import Program

FLAG_NAMES = {
    "flag_below_target": "Below target",
    "flag_worse_than_peers": "Worse than peers",
    "flag_significant_change": "Significant change",
    "flag_special_cause": "Special cause",
}
# A special cause chip says which way it points, not just that a rule fired.
SIGNAL_CHIPS = {"improvement": "Improvement", "concern": "Concern"}
PREVIOUS = {"month": "previous month", "quarter": "previous quarter", "year": "previous year"}
_SENTENCE_END = re.compile(r"(?<=\.)\s+")


def _get(row: Mapping, col: str, default=None):
    v = row.get(col, default)
    return default if text.is_missing(v) else v


def flags_of(row: Mapping) -> list[str]:
    """Names of the flags a ``metric_values`` row raises, in :data:`FLAG_NAMES` order."""
    return [name for col, name in FLAG_NAMES.items() if bool(_get(row, col, False))]


def arrow_of(row: Mapping) -> tuple[str, str]:
    """Trend arrow against the previous period, and whether that is better or worse.

    Returns ``("▲" | "▼" | "→" | "", "better" | "worse" | "same" | "")``; no arrow when the
    row or its previous value is suppressed or missing.
    """
    v, prev = row.get("value"), row.get("previous_value")
    if row.get("suppressed") or text.is_missing(v) or text.is_missing(prev):
        return "", ""
    if abs(v - prev) <= 1e-9 * max(abs(prev), 1):
        return "→", "same"
    up = v > prev
    better = up == (row["direction"] == "up")
    return ("▲" if up else "▼"), ("better" if better else "worse")


def good_news(row: Mapping) -> bool:
    """Every flag the row raises is good news: a special cause that is an improvement, and a
    significant change in the better direction. Why: a tile styled as a problem for an
    improvement tells the meeting the opposite of the numbers."""
    flags = {c for c in FLAG_NAMES if bool(_get(row, c, False))}
    if not flags or flags & {"flag_below_target", "flag_worse_than_peers"}:
        return False
    if "flag_special_cause" in flags and row.get("spc_signal") != "improvement":
        return False
    if "flag_significant_change" in flags:
        v, prev = row.get("value"), row.get("previous_value")
        if text.is_missing(v) or text.is_missing(prev):
            return False
        return (v > prev) == (row.get("direction") == "up")
    return True


def reasons_of(row: Mapping) -> list[str]:
    """The engine's flag sentences (``flag_reasons``), one per item, each ending in a period."""
    raw = _get(row, "flag_reasons", "")
    return [
        s.strip() + ("" if s.strip().endswith(".") else ".")
        for s in _SENTENCE_END.split(str(raw))
        if s.strip()
    ]


def complete_period(month: str, grain: str) -> str:
    """The last complete period of ``grain`` at or before ``month`` (a month is its own).

    Why: a quarter or year that is still running (2026-Q4 in October 2026) holds one month of
    three and reads as a different number from the packet, which uses the last complete
    quarter. The contract term is always "term" (to date).
    """
    if grain == "month":
        return month
    if grain == "quarter":
        return equity_quarter(month)
    if grain == "year":
        y, m = map(int, month.split("-"))
        return str(y if m == 12 else y - 1)
    return "term"


@dataclass(frozen=True)
class Tile:
    """One headline tile: a metric's value for one provider and period, and what to say about it.

    Attributes:
        metric_id, label: the metric.
        period, grain: the period shown (``2026-10``, ``2026-Q3``) and its grain.
        has_value: False when the engine has no row (the tile reads "no value").
        value: the stored value (None when missing or suppressed).
        shown: the value as people read it (``core.text.cell``: "60.5%", "suppressed", "–").
        suppressed, suppression_reason: the privacy rule hid the cell, and why.
        arrow, how: "▲"/"▼"/"→"/"" against the previous period; "better"/"worse"/"same"/"".
        previous: the previous period's value as shown ("" when none).
        target, peer_median, rank: "target 45%", "peer median 40.1%", "rank 3 of 4" ("" when
            the row has none).
        chips: flag names raised (a special cause named "Improvement" or "Concern").
        reasons: the engine's sentences explaining each flag.
        good: every flag raised is good news (styled as such, not as a warning).
        signal, assurance: Making Data Count ``spc_signal`` / ``spc_assurance`` ("" without limits).
        direction: "up" (higher is better) or "down".
        math: how the number was computed ("12 exits to PH / 20 leavers = 60%").
        note: e.g. why a system-wide metric is the same for every provider.
    """

    metric_id: str
    label: str
    period: str
    grain: str
    has_value: bool
    value: float | None
    shown: str
    suppressed: bool = False
    suppression_reason: str = ""
    arrow: str = ""
    how: str = ""
    previous: str = ""
    target: str = ""
    peer_median: str = ""
    rank: str = ""
    chips: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()
    good: bool = False
    signal: str = ""
    assurance: str = ""
    direction: str = "up"
    math: str = ""
    note: str = ""

    @property
    def flagged(self) -> bool:
        """Any flag raised (good news included)."""
        return bool(self.chips)

    @property
    def sub(self) -> list[str]:
        """The comparison line: target, peer median and rank, those the row has."""
        return [s for s in (self.target, self.peer_median, self.rank) if s]

    @property
    def versus(self) -> str:
        """What the arrow compares with ("vs previous month")."""
        return f"vs {PREVIOUS.get(self.grain, 'previous period')}"

    def facts(self) -> dict[str, object]:
        """What a reader sees on the tile, as plain values (for comparing two renderings)."""
        return {
            "metric_id": self.metric_id,
            "period": self.period,
            "shown": self.shown,
            "arrow": self.arrow,
            "how": self.how,
            "sub": tuple(self.sub),
            "chips": self.chips,
            "signal": self.signal,
            "assurance": self.assurance,
        }


def tile_of(row: Mapping | None, program: Program, metric_id: str, period: str, grain: str) -> Tile:
    """The tile of one metric from its ``metric_values`` row (None: no row this period)."""
    metric = program.metric(metric_id)
    if row is None:
        return Tile(metric_id, metric.label, period, grain, False, None, text.MISSING)
    # The metric's own format, unit, direction and target where a row lacks the column.
    defaults = {
        "format": metric.format,
        "unit": metric.unit,
        "direction": metric.direction,
        "target": metric.target,
    }
    row = dict(row)
    for col, default in defaults.items():
        if col not in row or (col != "target" and text.is_missing(row[col])):
            row[col] = default
    suppressed = bool(_get(row, "suppressed", False))
    base = {
        "metric_id": metric_id,
        "label": str(_get(row, "label", metric.label)),
        "period": period,
        "grain": grain,
        "has_value": True,
        "direction": str(_get(row, "direction", metric.direction)),
        "note": str(_get(row, "note", "") or ""),
    }
    if suppressed:
        return Tile(
            **base,
            value=None,
            shown=text.SUPPRESSED,
            suppressed=True,
            suppression_reason=str(_get(row, "suppression_reason", "")),
        )
    arrow, how = arrow_of(row)
    rank, peer_n = _get(row, "peer_rank"), _get(row, "peer_n")
    chips = tuple(
        SIGNAL_CHIPS[row["spc_signal"]]
        if name == FLAG_NAMES["flag_special_cause"] and row.get("spc_signal") in SIGNAL_CHIPS
        else name
        for name in flags_of(row)
    )
    value = _get(row, "value")
    return Tile(
        **base,
        value=None if value is None else float(value),
        shown=text.cell(row),
        arrow=arrow,
        how=how,
        previous="" if _get(row, "previous_value") is None else text.cell(row, "previous_value"),
        target="" if _get(row, "target") is None else f"target {text.cell(row, 'target')}",
        peer_median=""
        if _get(row, "peer_median") is None
        else f"peer median {text.cell(row, 'peer_median')}",
        rank="" if rank is None or peer_n is None else f"rank {int(rank)} of {int(peer_n)}",
        chips=chips,
        reasons=tuple(reasons_of(row)) if chips else (),
        good=bool(chips) and good_news(row),
        signal=str(_get(row, "spc_signal", "") or ""),
        assurance=str(_get(row, "spc_assurance", "") or ""),
        math=str(_get(row, "math", "") or ""),
    )


def tiles_of(
    rows: pd.DataFrame, program: Program, period: str, grain: str, metrics: list[str]
) -> list[Tile]:
    """Tiles of ``metrics`` (in that order) from one provider's overall rows of one period.

    Args:
        rows: ``metric_values`` rows of one provider, no breakdown, the period shown, indexed
            by ``metric_id`` (as ``Packet.own()`` returns them).
        program: for labels and directions of metrics without a row.
        period, grain: the period shown and its grain.
        metrics: which metrics get a tile (the program's key metrics, and the one selected).
    """
    return [
        tile_of(rows.loc[mid] if mid in rows.index else None, program, mid, period, grain)
        for mid in metrics
    ]


def key_metrics(program: Program) -> list[str]:
    """Headline metrics, in program order."""
    return [mid for mid, m in program.metrics.items() if m.key]
