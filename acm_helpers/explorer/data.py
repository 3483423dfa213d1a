"""What the staff explorer shows, as pure transforms of the engine's tables.

The Voilà app (:mod:`acm_helpers.explorer.app`) loads a program's tables once per session
(:func:`load_data`) and then, on every widget change, validates the selection
(:func:`make_selection`) and calls the functions below, which only filter and reshape frames
already in memory: no SQL, no file access, nothing formatted into code. Each returns a small
tidy frame (or text) that a chart function in :mod:`acm_helpers.views.charts` or a widget shows.

Why a separate module: the same numbers are tested without a browser (tests/unit), and the
widget module stays about layout and callbacks.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import date
from functools import cached_property

import numpy as np
import pandas as pd

from acm_helpers.core import text
from acm_helpers.core.calendar import period_bounds
from acm_helpers.core.config import Program
from acm_helpers.core.errors import ConfigError, StoreError, UnknownIdError
from acm_helpers.core.schema import ALL, CELL_NUMBERS, neutralize_formula
from acm_helpers.store import quality as store_quality

MONTH = "month"
GRAINS = ("month", "quarter", "year", "term")
GRAIN_LABELS = {"month": "Month", "quarter": "Quarter", "year": "Year", "term": "Contract term"}
# Columns of the CSV export: aggregates only (no client-level field exists in these tables).
CSV_COLUMNS = [
    *["section", "provider_id", "period", "grain", "metric_id", "dimension", "group"],
    *CELL_NUMBERS,
]
NUMBER_COLUMNS = list(CELL_NUMBERS)


@dataclass(frozen=True)
class ExplorerData:
    """One program's tables, read once per session.

    Attributes:
        program: the validated program.
        values: ``metric_values`` (one version), suppressed cells already nulled by the engine.
        equity: ``equity`` table (disparity flags per group), possibly empty.
        quality: ``quality`` table from intake, possibly empty.
        actions: ``action_items``, possibly empty.
    """

    program: Program
    values: pd.DataFrame
    equity: pd.DataFrame
    quality: pd.DataFrame
    actions: pd.DataFrame

    @cached_property
    def monthly(self) -> pd.DataFrame:
        """Overall (no breakdown) monthly rows: what tiles, trend and peers filter."""
        v = self.values
        return v[(v["grain"] == MONTH) & (v["dimension"] == "")]

    @property
    def groups(self) -> pd.DataFrame:
        """What the breakdown filters: rows by group of a dimension, every grain.

        This is ``values`` itself, not a copy of its rows with a dimension (nearly all of them:
        a copy would double a kernel's largest frame). A reader selects
        ``dimension == <a dimension>``, which leaves out the overall rows (dimension "").
        """
        return self.values


@dataclass(frozen=True)
class Allowed:
    """Every value a widget may take, from the program and the data (the allowlist)."""

    providers: tuple[str, ...]  # ALL first, then program providers with values
    metrics: tuple[str, ...]
    periods: tuple[str, ...]  # months with values, ascending
    dimensions: tuple[str, ...]  # "" (no breakdown) first, then dimensions with values
    grains: tuple[str, ...] = (MONTH,)  # windows a breakdown can cover: month, quarter, year, term


@dataclass(frozen=True)
class Selection:
    """A validated view: who, what, when and broken down by what."""

    provider: str
    metric: str
    start: str
    end: str
    dimension: str = ""
    grain: str = MONTH  # the breakdown's window: the month, quarter, year or term holding ``end``


# Memory per kernel: columns the explorer never shows stay on disk. metric_values loses only
# the engine's bookkeeping; equity keeps what a breakdown's flags need (it has 39 columns).
VALUES_SKIP = ("version", "benchmarks")
EQUITY_COLUMNS = (
    *("provider_id", "period", "grain", "metric_id", "dimension", "group", "suppressed"),
    *("value", "reference_group", "is_reference", "flag_disparity", "disparity_reason"),
    "suppression_reason",
)


def _read(
    store, name: str, *, keep: tuple[str, ...] | None = None, skip: tuple[str, ...] = ()
) -> pd.DataFrame:
    """Read a table's columns in ``keep`` (all when None) except ``skip``; a column the file
    lacks (an older store) is simply not read. Partitioned tables are read whole."""
    path = store.table_path(name)
    if not path.exists():
        return store.read_table(name)
    import pyarrow.parquet as pq

    names = pq.read_schema(path).names
    cols = [c for c in names if (keep is None or c in keep) and c not in skip]
    return store.read_table(name, columns=cols)


def load_data(program: Program, store) -> ExplorerData:
    """Read the tables the explorer shows, once (the only place here that touches the store).

    Raises:
        StoreError: when ``metric_values`` is missing or empty, naming the data directory and
            the command that computes it.
    """
    values = _read(store, "metric_values", skip=VALUES_SKIP)
    if values.empty:
        raise StoreError(
            f"Program {program.id}: no metric_values in {store.root}. Run `acm demo` "
            "(demo program) or compute metrics for this data directory first."
        )
    from acm_helpers.meetings import actions
    from acm_helpers.metrics import privacy

    def optional(name: str, keep: tuple[str, ...] | None = None) -> pd.DataFrame:
        return _read(store, name, keep=keep) if store.has_table(name) else pd.DataFrame()

    def tidy(frame: pd.DataFrame) -> pd.DataFrame:
        if frame.empty:
            return frame
        for col in ("dimension", "group"):
            frame[col] = frame[col].fillna("").astype(str)
        frame["suppressed"] = frame["suppressed"].fillna(False).astype(bool)
        # Staff view: peers named; suppressed cells nulled again (they already are).
        return privacy.for_audience(frame, program, "internal")

    return ExplorerData(
        program,
        tidy(values),
        tidy(optional("equity", EQUITY_COLUMNS)),
        optional("quality"),
        actions.read_actions(store),
    )


def allowed(data: ExplorerData) -> Allowed:
    """The allowlist of widget values for this program and its data."""
    vals, prog = data.values, data.program

    def distinct(col: pd.Series) -> set[str]:
        # unique() first: iterating every row of an Arrow-backed column costs seconds
        return {str(v) for v in col.unique()}

    have = distinct(vals["provider_id"])
    months = sorted(distinct(vals.loc[vals["grain"] == MONTH, "period"]))
    if not months:
        raise StoreError(f"Program {prog.id}: metric_values has no monthly values to explore.")
    metric_ids, dim_ids = distinct(vals["metric_id"]), distinct(vals["dimension"])
    metrics = [m for m in prog.metrics if m in metric_ids]
    dims = [d for d in prog.dimensions if d in dim_ids]
    grains = [g for g in GRAINS if g in distinct(vals.loc[vals["dimension"] != "", "grain"])]
    grains = grains or [MONTH]
    return Allowed(
        providers=(ALL, *[p for p in prog.provider_ids if p in have]),
        metrics=tuple(metrics),
        periods=tuple(months),
        dimensions=("", *dims),
        grains=tuple(grains),
    )


def _check(kind: str, value: object, known: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in known:
        raise UnknownIdError(kind, value, [k for k in known if k] or ["(none)"])
    return value


def make_selection(
    ok: Allowed,
    provider: object,
    metric: object,
    start: object,
    end: object,
    dimension: object = "",
    grain: object = MONTH,
) -> Selection:
    """Validate raw widget (or URL) values against the allowlist and build a Selection.

    Why: widget values arrive from a browser; anything not in the allowed set is refused with
    a plain message naming the known values, and nothing is ever formatted into SQL or code.

    Raises:
        UnknownIdError: a provider, metric, month or breakdown that is not allowed.
        ConfigError: a range whose first month is after its last.
    """
    sel = Selection(
        provider=_check("provider", provider, ok.providers),
        metric=_check("metric", metric, ok.metrics),
        start=_check("month", start, ok.periods),
        end=_check("month", end, ok.periods),
        dimension=_check("breakdown", dimension, ok.dimensions),
        grain=_check("breakdown period", grain, ok.grains),
    )
    if sel.start > sel.end:
        raise ConfigError(
            f"The range starts ({sel.start}) after it ends ({sel.end}); "
            "pick a first month before the last."
        )
    return sel


def provider_label(program: Program, provider_id: str) -> str:
    """Display name of a provider (staff view: peers are named), or "All providers"."""
    return "All providers" if provider_id == ALL else program.provider(provider_id).name


def trend(data: ExplorerData, sel: Selection) -> pd.DataFrame:
    """Monthly values of the selected provider and metric over the range, with peer quartiles.

    Columns: period, numerator, denominator, value, ci_low, ci_high, suppressed, peer_q1,
    peer_median, peer_q3 (the shape :func:`acm_helpers.views.charts.trend_chart` reads; the
    quartiles are the engine's, over all providers with a value that month).
    """
    m = data.monthly
    rows = m[
        (m["metric_id"] == sel.metric)
        & (m["provider_id"] == sel.provider)
        & (m["period"] >= sel.start)
        & (m["period"] <= sel.end)
    ]
    cols = ["period", *NUMBER_COLUMNS, "suppressed", "peer_q1", "peer_median", "peer_q3"]
    return rows[cols].sort_values("period", ignore_index=True)


def peers(data: ExplorerData, sel: Selection) -> pd.DataFrame:
    """Every provider's value in the last month of the range, the selected one marked.

    Columns: provider_id, provider (name), value, ci_low, ci_high, suppressed, is_self.
    """
    m = data.monthly
    rows = m[(m["metric_id"] == sel.metric) & (m["period"] == sel.end) & (m["provider_id"] != ALL)]
    out = rows[["provider_id", "provider_label", "value", "ci_low", "ci_high", "suppressed"]]
    out = out.rename(columns={"provider_label": "provider"})
    out = out.assign(is_self=out["provider_id"] == sel.provider)
    return out.sort_values("value", ascending=False, na_position="last", ignore_index=True)


def breakdown_period(sel: Selection) -> str:
    """Label of the breakdown's window: the month, quarter, year or contract term of ``end``."""
    from acm_helpers.core.calendar import quarter_of, year_of

    return {
        "month": sel.end,
        "quarter": quarter_of(sel.end),
        "year": year_of(sel.end),
        "term": "term",
    }[sel.grain]


def breakdown(data: ExplorerData, sel: Selection) -> pd.DataFrame:
    """The selected metric by group of the selected dimension, over the window holding the last
    month of the range (:func:`breakdown_period`; the engine computed each window from episodes).

    Columns: group, numerator, denominator, value, ci_low, ci_high, suppressed, flagged,
    reason. Suppressed groups keep their row (values null) so the chart can mark them;
    ``flagged``/``reason`` are the engine's disparity flag and sentence for the group.
    """
    cols = ["group", *NUMBER_COLUMNS, "suppressed", "flagged", "reason"]
    if not sel.dimension:
        return pd.DataFrame(columns=cols)
    g, period = data.groups, breakdown_period(sel)
    rows = g[
        (g["grain"] == sel.grain)
        & (g["metric_id"] == sel.metric)
        & (g["provider_id"] == sel.provider)
        & (g["period"] == period)
        & (g["dimension"] == sel.dimension)
    ]
    out = rows[["group", *NUMBER_COLUMNS, "suppressed"]]
    eq = data.equity
    if not eq.empty and "flag_disparity" in eq.columns:
        flags = eq[
            (eq["grain"] == sel.grain)
            & (eq["metric_id"] == sel.metric)
            & (eq["provider_id"] == sel.provider)
            & (eq["period"] == period)
            & (eq["dimension"] == sel.dimension)
        ]
        flags = flags[["group", "flag_disparity", "disparity_reason"]].rename(
            columns={"flag_disparity": "flagged", "disparity_reason": "reason"}
        )
        out = out.merge(flags, on="group", how="left")
    else:
        out = out.assign(flagged=False, reason="")
    out = out.assign(
        flagged=out["flagged"].fillna(False).astype(bool),
        reason=out["reason"].fillna("").astype(str),
    )
    return out[cols].sort_values("group", ignore_index=True)


FLAG_COLUMNS = [
    "flag_below_target",
    "flag_worse_than_peers",
    "flag_significant_change",
    "flag_special_cause",
]


def _text_of(row: pd.Series | None, col: str) -> str:
    """A text column of a tile's row ("" when absent: an older table, or no row)."""
    if row is None:
        return ""
    v = row.get(col, "")
    return v if isinstance(v, str) else ""


def tiles(data: ExplorerData, sel: Selection) -> pd.DataFrame:
    """Headline tiles: each key metric (and the selected one) for the selected provider in the
    last month of the range, with the engine's flags.

    Columns: metric_id, label, value, fmt, target, suppressed, math, flags (the engine's
    reason sentences), flagged (any flag raised), note (e.g. system-wide metrics), signal and
    assurance (``spc_signal`` / ``spc_assurance``) and direction.
    """
    m = data.monthly
    month = m[(m["period"] == sel.end) & (m["provider_id"] == sel.provider)].set_index("metric_id")
    out = []
    for metric_id, metric in data.program.metrics.items():
        if not metric.key and metric_id != sel.metric:
            continue
        row = month.loc[metric_id] if metric_id in month.index else None
        flagged = row is not None and bool(row[FLAG_COLUMNS].fillna(False).any())
        reasons = "" if row is None or pd.isna(row["flag_reasons"]) else str(row["flag_reasons"])
        out.append(
            {
                "metric_id": metric_id,
                "label": metric.label,
                "value": np.nan if row is None else row["value"],
                "fmt": metric.format,
                "unit": metric.unit,
                "target": metric.target,
                "suppressed": bool(row is not None and row["suppressed"]),
                "math": "" if row is None or pd.isna(row["math"]) else str(row["math"]),
                "flags": [r for r in re.split(r"(?<=\.)\s+", reasons) if r],
                "flagged": flagged,
                "note": "" if row is None else str(row.get("note", "") or ""),
                # Making Data Count: "" (no limits) | common | improvement | concern | neither
                "signal": _text_of(row, "spc_signal"),
                "assurance": _text_of(row, "spc_assurance"),
                "direction": metric.direction,
            }
        )
    return pd.DataFrame(out)


def quality_status(data: ExplorerData, sel: Selection) -> pd.DataFrame:
    """Data quality of the last month's submissions: one row per provider shown.

    Columns: provider, rows_accepted, rows_rejected, completeness, days_late, top_problem.
    """
    q = data.quality
    wanted = [p for p in data.program.provider_ids if sel.provider in (ALL, p)]
    out = []
    for pid in wanted:
        rows = q[(q["provider_id"] == pid) & (q["period"] == sel.end)] if len(q) else q
        s = store_quality.summarize(rows)
        out.append(
            {
                "provider": provider_label(data.program, pid),
                "submitted": bool(len(rows)),
                "rows_accepted": s["rows_accepted"],
                "rows_rejected": s["rows_rejected"],
                "completeness": s["completeness"],
                "days_late": s["days_late"],
                "top_problem": s["top_problems"][0] if s["top_problems"] else "",
            }
        )
    return pd.DataFrame(out)


def open_actions(data: ExplorerData, sel: Selection) -> pd.DataFrame:
    """Action items open at the end of the last month of the range (overdue first)."""
    from acm_helpers.meetings import actions

    if data.actions.empty:
        return data.actions
    as_of: date = period_bounds(sel.end)[1]
    return actions.open_items(data.actions, as_of, None if sel.provider == ALL else sel.provider)


def roadmap_topic(program: Program, period: str) -> dict | None:
    """The roadmap's deep-dive topic for a month, or None when the roadmap has none."""
    item = program.roadmap.get(period)
    return None if item is None else item.model_dump()


def view_csv(data: ExplorerData, sel: Selection) -> str:
    """The numbers behind the current view as CSV text: aggregates only.

    Why: staff take numbers into their own spreadsheets; only what the engine computed and
    did not suppress leaves the dashboard. Suppressed cells are dropped (not written as
    blanks), values keep the precision the packet shows (``core.text.csv_number``: 0.605 for
    60.5%) and text cells are neutralised against spreadsheet formulas.
    """
    vals = data.values
    vals = vals[(vals["metric_id"] == sel.metric) & ~vals["suppressed"] & vals["value"].notna()]
    base = vals[vals["grain"] == MONTH]
    in_range = (base["period"] >= sel.start) & (base["period"] <= sel.end)
    parts = [
        base[in_range & (base["provider_id"] == sel.provider) & (base["dimension"] == "")].assign(
            section="trend"
        ),
        base[
            (base["period"] == sel.end) & (base["provider_id"] != ALL) & (base["dimension"] == "")
        ].assign(section="peers"),
    ]
    if sel.dimension:
        parts.append(
            vals[
                (vals["grain"] == sel.grain)
                & (vals["period"] == breakdown_period(sel))
                & (vals["provider_id"] == sel.provider)
                & (vals["dimension"] == sel.dimension)
            ].assign(section="breakdown")
        )
    out = pd.concat(parts, ignore_index=True)
    out = out[CSV_COLUMNS]
    fmt = data.program.metric(sel.metric).format
    for col in ("value", "ci_low", "ci_high"):  # the digits the packet shows (core.text)
        out[col] = [text.csv_number(x, fmt) for x in out[col]]
    for col in ("provider_id", "group", "dimension"):
        out[col] = out[col].astype(str).map(neutralize_formula)
    buf = io.StringIO()
    out.to_csv(buf, index=False, lineterminator="\n")
    return buf.getvalue()
