"""What the staff explorer shows, as pure transforms of the engine's tables.

The Voilà app (:mod:`acm_helpers.widgets`) loads a program's tables once per session
(:func:`load_data`) and then, on every widget change, validates the selection
(:func:`make_selection`) and calls the functions below, which only filter and reshape frames
already in memory: no SQL, no file access, nothing formatted into code. Each returns a small
tidy frame (or text) that a chart function in :mod:`acm_helpers.charts` or a widget shows.

Why a separate module: the same numbers are tested without a browser (tests/unit), and the
widget module stays about layout and callbacks.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from acm_helpers.charts import format_value
from acm_helpers.config import Program, period_bounds
from acm_helpers.exceptions import ConfigError, StoreError, UnknownIdError
from acm_helpers.schema import neutralize_formula

ALL = "__all__"  # provider_id of whole-program values in metric_values
MONTH = "month"
# Columns of the CSV export: aggregates only (no client-level field exists in these tables).
CSV_COLUMNS = ["section", "provider_id", "period", "metric_id", "dimension", "group",
               "numerator", "denominator", "value", "ci_low", "ci_high"]
NUMBER_COLUMNS = ["numerator", "denominator", "value", "ci_low", "ci_high"]


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


@dataclass(frozen=True)
class Allowed:
    """Every value a widget may take, from the program and the data (the allowlist)."""

    providers: tuple[str, ...]  # ALL first, then program providers with values
    metrics: tuple[str, ...]
    periods: tuple[str, ...]  # months with values, ascending
    dimensions: tuple[str, ...]  # "" (no breakdown) first, then dimensions with values


@dataclass(frozen=True)
class Selection:
    """A validated view: who, what, when and broken down by what."""

    provider: str
    metric: str
    start: str
    end: str
    dimension: str = ""


def load_data(program: Program, store) -> ExplorerData:
    """Read the tables the explorer shows, once (the only place here that touches the store).

    Raises:
        StoreError: when ``metric_values`` is missing or empty, naming the data directory and
            the command that computes it.
    """
    values = store.read_table("metric_values")
    if values.empty:
        raise StoreError(f"Program {program.id}: no metric_values in {store.root}. Run `acm demo` "
                         "(demo program) or compute metrics for this data directory first.")
    if "version" in values.columns and values["version"].nunique() > 1:
        values = values[values["version"] == values["version"].iloc[-1]]
    for col in ("dimension", "group"):
        if col in values.columns:
            values[col] = values[col].fillna("").astype(str)
    values["suppressed"] = values["suppressed"].fillna(False).astype(bool)

    def optional(name: str) -> pd.DataFrame:
        return store.read_table(name) if store.has_table(name) else pd.DataFrame()

    from acm_helpers import actions

    return ExplorerData(program, values.reset_index(drop=True), optional("equity"),
                        optional("quality"), actions.read_actions(store))


def allowed(data: ExplorerData) -> Allowed:
    """The allowlist of widget values for this program and its data."""
    vals, prog = data.values, data.program
    have = set(vals["provider_id"].astype(str))
    months = sorted(set(vals.loc[vals["grain"] == MONTH, "period"].astype(str)))
    if not months:
        raise StoreError(f"Program {prog.id}: metric_values has no monthly values to explore.")
    metrics = [m for m in prog.metrics if m in set(vals["metric_id"])]
    dims = [d for d in prog.dimensions if d in set(vals["dimension"])]
    return Allowed(providers=(ALL, *[p for p in prog.provider_ids if p in have]),
                   metrics=tuple(metrics), periods=tuple(months), dimensions=("", *dims))


def _check(kind: str, value: object, known: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in known:
        raise UnknownIdError(kind, value, [k for k in known if k] or ["(none)"])
    return value


def make_selection(ok: Allowed, provider: object, metric: object, start: object, end: object,
                   dimension: object = "") -> Selection:
    """Validate raw widget (or URL) values against the allowlist and build a Selection.

    Why: widget values arrive from a browser; anything not in the allowed set is refused with
    a plain message naming the known values, and nothing is ever formatted into SQL or code.

    Raises:
        UnknownIdError: a provider, metric, month or breakdown that is not allowed.
        ConfigError: a range whose first month is after its last.
    """
    sel = Selection(provider=_check("provider", provider, ok.providers),
                    metric=_check("metric", metric, ok.metrics),
                    start=_check("month", start, ok.periods),
                    end=_check("month", end, ok.periods),
                    dimension=_check("breakdown", dimension, ok.dimensions))
    if sel.start > sel.end:
        raise ConfigError(f"The range starts ({sel.start}) after it ends ({sel.end}); "
                          "pick a first month before the last.")
    return sel


def provider_label(program: Program, provider_id: str) -> str:
    """Display name of a provider (staff view: peers are named), or "All providers"."""
    return "All providers" if provider_id == ALL else program.provider(provider_id).name


def _overall(vals: pd.DataFrame, metric: str | None = None) -> pd.DataFrame:
    out = vals[(vals["grain"] == MONTH) & (vals["dimension"] == "")]
    return out if metric is None else out[out["metric_id"] == metric]


def _peer_quartiles(monthly: pd.DataFrame, provider: str) -> pd.DataFrame:
    """Other providers' quartiles per month (the engine's columns when it wrote them)."""
    if {"peer_q1", "peer_median", "peer_q3"} <= set(monthly.columns):
        own = monthly[monthly["provider_id"] == provider]
        return own[["period", "peer_q1", "peer_median", "peer_q3"]]
    peers = monthly[(monthly["provider_id"] != ALL) & (monthly["provider_id"] != provider)]
    q = peers.groupby("period")["value"].quantile([0.25, 0.5, 0.75]).unstack()
    q.columns = ["peer_q1", "peer_median", "peer_q3"]
    return q.reset_index()


def trend(data: ExplorerData, sel: Selection) -> pd.DataFrame:
    """Monthly values of the selected provider and metric over the range, with peer quartiles.

    Columns: period, value, ci_low, ci_high, suppressed, peer_q1, peer_median, peer_q3 (the
    shape :func:`acm_helpers.charts.trend_chart` reads). Every month of the range has a row.
    """
    monthly = _overall(data.values, sel.metric)
    monthly = monthly[(monthly["period"] >= sel.start) & (monthly["period"] <= sel.end)]
    own = monthly[monthly["provider_id"] == sel.provider]
    own = own[["period", "numerator", "denominator", "value", "ci_low", "ci_high", "suppressed"]]
    months = pd.DataFrame({"period": [p for p in sorted(set(monthly["period"]))]})
    out = months.merge(own, on="period", how="left").merge(
        _peer_quartiles(monthly, sel.provider), on="period", how="left")
    out["suppressed"] = out["suppressed"].fillna(False).astype(bool)
    return out


def peers(data: ExplorerData, sel: Selection) -> pd.DataFrame:
    """Every provider's value in the last month of the range, the selected one marked.

    Columns: provider_id, provider (name), value, ci_low, ci_high, suppressed, is_self.
    """
    rows = _overall(data.values, sel.metric)
    rows = rows[(rows["period"] == sel.end) & (rows["provider_id"] != ALL)]
    out = rows[["provider_id", "value", "ci_low", "ci_high", "suppressed"]].copy()
    out.insert(1, "provider", [provider_label(data.program, p) for p in out["provider_id"]])
    out["is_self"] = out["provider_id"] == sel.provider
    return out.sort_values("value", ascending=False, na_position="last", ignore_index=True)


def breakdown(data: ExplorerData, sel: Selection) -> pd.DataFrame:
    """The selected metric by group of the selected dimension, last month of the range.

    Columns: group, numerator, denominator, value, ci_low, ci_high, suppressed, flagged.
    Suppressed groups keep their row (values null) so the chart can mark them; ``flagged``
    comes from the engine's equity table when it flags a disparity for that group.
    """
    if not sel.dimension:
        return pd.DataFrame(columns=["group", *NUMBER_COLUMNS, "suppressed", "flagged"])
    vals = data.values
    rows = vals[(vals["grain"] == MONTH) & (vals["metric_id"] == sel.metric)
                & (vals["provider_id"] == sel.provider) & (vals["period"] == sel.end)
                & (vals["dimension"] == sel.dimension)]
    out = rows[["group", *NUMBER_COLUMNS, "suppressed"]].copy()
    out["flagged"] = out["group"].isin(_flagged_groups(data.equity, sel))
    return out.sort_values("group", ignore_index=True)


def _flagged_groups(equity: pd.DataFrame, sel: Selection) -> set[str]:
    need = {"provider_id", "period", "metric_id", "dimension", "group"}
    if equity.empty or not need <= set(equity.columns):
        return set()
    flag_cols = [c for c in equity.columns if c.startswith("flag") and equity[c].dtype == bool]
    if not flag_cols:
        return set()
    e = equity[(equity["provider_id"] == sel.provider) & (equity["period"] == sel.end)
               & (equity["metric_id"] == sel.metric) & (equity["dimension"] == sel.dimension)]
    return set(e.loc[e[flag_cols].any(axis=1), "group"].astype(str))


def _is_worse(value: float, other: float, direction: str) -> bool:
    return value < other if direction == "up" else value > other


def tiles(data: ExplorerData, sel: Selection) -> pd.DataFrame:
    """Headline tiles: each key metric for the selected provider in the last month of the range.

    Columns: metric_id, label, value, fmt, target, suppressed, math, flags (list of reason
    sentences), flagged. A metric is flagged when it is worse than its target or than the
    peer median that month.
    """
    prog = data.program
    monthly = _overall(data.values)
    month = monthly[monthly["period"] == sel.end]
    out = []
    for metric_id, metric in prog.metrics.items():
        if not metric.key and metric_id != sel.metric:
            continue
        rows = month[(month["metric_id"] == metric_id) & (month["provider_id"] == sel.provider)]
        row = rows.iloc[0] if len(rows) else None
        value = np.nan if row is None else row["value"]
        suppressed = bool(row is not None and row["suppressed"])
        reasons = []
        if pd.notna(value) and metric.target is not None and _is_worse(value, metric.target, metric.direction):
            reasons.append(f"worse than the target of {format_value(metric.target, metric.format)}")
        peer_vals = month[(month["metric_id"] == metric_id) & (month["provider_id"] != ALL)
                          & (month["provider_id"] != sel.provider)]["value"].dropna()
        if sel.provider != ALL and pd.notna(value) and len(peer_vals):
            median = float(peer_vals.median())
            if _is_worse(value, median, metric.direction):
                reasons.append("worse than the peer median")
        out.append({"metric_id": metric_id, "label": metric.label, "value": value,
                    "fmt": metric.format, "target": metric.target, "suppressed": suppressed,
                    "math": "" if row is None or pd.isna(row.get("math")) else str(row["math"]),
                    "flags": reasons, "flagged": bool(reasons)})
    return pd.DataFrame(out)


def quality_status(data: ExplorerData, sel: Selection) -> pd.DataFrame:
    """Data quality of the last month's submissions: one row per provider shown.

    Columns: provider, rows_accepted, rows_rejected, completeness, days_late, top_problem.
    """
    from acm_helpers import quality

    q = data.quality
    wanted = [p for p in data.program.provider_ids if sel.provider in (ALL, p)]
    out = []
    for pid in wanted:
        rows = q[(q["provider_id"] == pid) & (q["period"] == sel.end)] if len(q) else q
        s = quality.summarize(rows)
        out.append({"provider": provider_label(data.program, pid),
                    "submitted": bool(len(rows)), "rows_accepted": s["rows_accepted"],
                    "rows_rejected": s["rows_rejected"], "completeness": s["completeness"],
                    "days_late": s["days_late"],
                    "top_problem": s["top_problems"][0] if s["top_problems"] else ""})
    return pd.DataFrame(out)


def open_actions(data: ExplorerData, sel: Selection) -> pd.DataFrame:
    """Action items open at the end of the last month of the range (overdue first)."""
    from acm_helpers import actions

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
    blanks) and text cells are neutralised against spreadsheet formulas.
    """
    vals = data.values
    base = vals[(vals["grain"] == MONTH) & (vals["metric_id"] == sel.metric)]
    in_range = (base["period"] >= sel.start) & (base["period"] <= sel.end)
    parts = [
        base[in_range & (base["provider_id"] == sel.provider) & (base["dimension"] == "")].assign(section="trend"),
        base[(base["period"] == sel.end) & (base["provider_id"] != ALL) & (base["dimension"] == "")].assign(section="peers"),
    ]
    if sel.dimension:
        parts.append(base[(base["period"] == sel.end) & (base["provider_id"] == sel.provider)
                          & (base["dimension"] == sel.dimension)].assign(section="breakdown"))
    out = pd.concat(parts, ignore_index=True)
    out = out[~out["suppressed"] & out["value"].notna()][CSV_COLUMNS]
    for col in ("provider_id", "group", "dimension"):
        out[col] = out[col].astype(str).map(neutralize_formula)
    buf = io.StringIO()
    out.to_csv(buf, index=False, lineterminator="\n")
    return buf.getvalue()
