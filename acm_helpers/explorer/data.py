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
from dataclasses import dataclass
from datetime import date
from functools import cached_property

import pandas as pd

from acm_helpers.core import text
from acm_helpers.core.calendar import month_range, period_bounds, quarter_of, year_of
from acm_helpers.core.config import Program
from acm_helpers.core.errors import ConfigError, StoreError, UnknownIdError
from acm_helpers.core.schema import ALL, CELL_NUMBERS, neutralize_formula
from acm_helpers.meetings import tiles as tiles_mod
from acm_helpers.store import quality as store_quality
from acm_helpers.store.quality_rank import required_fields

MONTH = "month"
GRAINS = ("month", "week", "biweek", "quarter", "year", "term")  # week/biweek: weekly programs
GRAIN_LABELS = {
    "month": "Month",
    "week": "Week",
    "biweek": "Two weeks",
    "quarter": "Quarter",
    "year": "Year",
    "term": "Contract term",
}
SUB_MONTH = ("week", "biweek")  # grains whose periods the engine lists (no arithmetic on months)
# Columns of the CSV export (view_csv): aggregates only (no client-level field exists in these
# tables), headed by labels, never raw ids.
CSV_COLUMNS = [
    *["section", "provider", "period", "grain", "metric", "breakdown", "group"],
    *["numerator", "denominator", "value", "95% interval from", "95% interval to"],
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

    @cached_property
    def overall(self) -> pd.DataFrame:
        """Overall (no breakdown) rows at every grain: tiles, trend and peers at a grain."""
        v = self.values
        return v[v["dimension"] == ""]

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
    # weeks and fortnights the engine evaluated: (grain, label, last day ISO), ascending
    windows: tuple[tuple[str, str, str], ...] = ()


@dataclass(frozen=True)
class Selection:
    """A validated view: who, what, when and broken down by what."""

    provider: str
    metric: str
    start: str
    end: str
    dimension: str = ""
    grain: str = MONTH  # the breakdown's window: the month, quarter, year or term holding ``end``
    windows: tuple[tuple[str, str], ...] = ()  # week/biweek grain: (label, last day ISO) of each


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
    sub = vals.loc[vals["grain"].isin(SUB_MONTH)]
    if "period_end" not in sub or sub.empty:  # a monthly program: no weeks to list
        sub = pd.DataFrame(columns=["grain", "period", "period_end"])
    sub = sub[["grain", "period", "period_end"]].drop_duplicates(["grain", "period"])
    sub = sub.sort_values(["grain", "period_end"])
    return Allowed(
        providers=(ALL, *[p for p in prog.provider_ids if p in have]),
        metrics=tuple(metrics),
        periods=tuple(months),
        dimensions=("", *dims),
        grains=tuple(grains),
        windows=tuple(
            (str(g), str(p), f"{pd.Timestamp(e):%Y-%m-%d}")
            for g, p, e in zip(sub["grain"], sub["period"], sub["period_end"], strict=True)
        ),
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
    if sel.grain in SUB_MONTH:
        sel = Selection(
            **{**sel.__dict__, "windows": tuple((p, e) for g, p, e in ok.windows if g == sel.grain)}
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


def _at_grain(data: ExplorerData, grain: str) -> pd.DataFrame:
    """Overall rows of one grain (months: the cached monthly frame)."""
    if grain == MONTH:
        return data.monthly
    o = data.overall
    return o[o["grain"] == grain]


def trend(data: ExplorerData, sel: Selection) -> pd.DataFrame:
    """Values of the selected provider and metric over the range, at the selected grain (the
    complete quarters or years of :func:`grain_periods`; months for month and term), with
    peer quartiles.

    Columns: period, numerator, denominator, value, ci_low, ci_high, suppressed, peer_q1,
    peer_median, peer_q3 (the shape :func:`acm_helpers.views.charts.trend_chart` reads; the
    quartiles are the engine's, over all providers with a value that period).
    """
    m = _at_grain(data, MONTH if sel.grain == "term" else sel.grain)
    rows = m[
        (m["metric_id"] == sel.metric)
        & (m["provider_id"] == sel.provider)
        & m["period"].isin(grain_periods(sel))
    ]
    cols = ["period", *NUMBER_COLUMNS, "suppressed", "peer_q1", "peer_median", "peer_q3"]
    return rows[cols].sort_values("period", ignore_index=True)


def peers(data: ExplorerData, sel: Selection) -> pd.DataFrame:
    """Every provider's value in the period shown (:func:`breakdown_period`), the selected one
    marked.

    Columns: provider_id, provider (name), value, ci_low, ci_high, suppressed, is_self.
    """
    m = _at_grain(data, sel.grain)
    rows = m[
        (m["metric_id"] == sel.metric)
        & (m["period"] == breakdown_period(sel))
        & (m["provider_id"] != ALL)
    ]
    out = rows[["provider_id", "provider_label", "value", "ci_low", "ci_high", "suppressed"]]
    out = out.rename(columns={"provider_label": "provider"})
    out = out.assign(is_self=out["provider_id"] == sel.provider)
    return out.sort_values("value", ascending=False, na_position="last", ignore_index=True)


def breakdown_period(sel: Selection) -> str:
    """Label of the window every view shows: the month ``end``, else the last complete
    quarter or year at or before it (:func:`acm_helpers.meetings.tiles.complete_period`, the
    packets' rule), or the contract term."""
    if sel.grain in SUB_MONTH:  # the last week or fortnight ended by the end of the month
        last = f"{period_bounds(sel.end)[1]:%Y-%m-%d}"
        done = [p for p, e in sel.windows if e <= last]
        return done[-1] if done else sel.end
    return tiles_mod.complete_period(sel.end, sel.grain)


def grain_periods(sel: Selection) -> list[str]:
    """The periods of the trend at the selected grain: the complete months, quarters or years
    whose last month falls in the range (the contract term: its months, see :func:`grain_note`).
    """
    months = month_range(sel.start, sel.end)
    if sel.grain in (MONTH, "term"):
        return months
    if sel.grain in SUB_MONTH:  # the weeks or fortnights ending in the range's months
        first = f"{period_bounds(sel.start)[0]:%Y-%m-%d}"
        last = f"{period_bounds(sel.end)[1]:%Y-%m-%d}"
        return [p for p, e in sel.windows if first <= e <= last]
    last = breakdown_period(sel)
    label = quarter_of if sel.grain == "quarter" else year_of
    return sorted({label(m) for m in months if label(m) <= last})


def grain_note(sel: Selection) -> str:
    """The visible sentence saying which periods the view shows ("" at month grain).

    Why: a quarter still running holds one month of three; the dashboard, like the packets,
    shows complete quarters and years only, and says so, so nobody reads 2026-Q3 as a mistake.
    """
    if sel.grain == MONTH:
        return ""
    last = breakdown_period(sel)
    if sel.grain == "term":
        return f"Contract term to date, through {text.period(sel.end)}; the trend shows its months."
    if sel.grain in SUB_MONTH:
        word = "Weeks" if sel.grain == "week" else "Fortnights"
        return f"{word} shown are complete and end in the months chosen: the last is {last} ({text.period(last)})."
    word = "Quarters" if sel.grain == "quarter" else "Years"
    now = quarter_of(sel.end) if sel.grain == "quarter" else year_of(sel.end)
    tail = f" {text.period(sel.end)} is in {now}, which is not complete yet." if now != last else ""
    return f"{word} shown are complete: the last is {last} ({text.period(last)}).{tail}"


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


def tile_records(data: ExplorerData, sel: Selection) -> list[tiles_mod.Tile]:
    """Headline tiles: each key metric (and the selected one) for the selected provider in the
    period shown (the month, or the last complete quarter or year), built by the packets' rule
    (:mod:`acm_helpers.meetings.tiles`): value, arrow, target, peer median, rank, flags and
    the Making Data Count signal and assurance.
    """
    m = _at_grain(data, sel.grain)
    period = breakdown_period(sel)
    rows = m[(m["period"] == period) & (m["provider_id"] == sel.provider)].set_index("metric_id")
    wanted = [
        mid for mid, metric in data.program.metrics.items() if metric.key or mid == sel.metric
    ]
    return tiles_mod.tiles_of(rows, data.program, period, sel.grain, wanted)


def quality_status(data: ExplorerData, sel: Selection) -> pd.DataFrame:
    """Data quality of the last month's submissions: one row per provider shown.

    Columns: provider, rows_accepted, rows_rejected, completeness, days_late, top_problem.
    """
    q = data.quality
    wanted = [p for p in data.program.provider_ids if sel.provider in (ALL, p)]
    out, fields = [], required_fields(data.program)
    for pid in wanted:
        rows = q[(q["provider_id"] == pid) & (q["period"] == sel.end)] if len(q) else q
        s = store_quality.summarize(rows, fields)
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
    """The numbers behind the current view as CSV text: aggregates only, as the page reads them.

    Why: staff take numbers into their own spreadsheets; only what the engine computed and
    did not suppress leaves the dashboard. The rows follow the view (the trend at the grain
    shown, complete periods only; every provider in the period; the breakdown). A suppressed
    cell stays as a row whose numbers read "suppressed" (a group dropped silently reads as a
    group that does not exist); headers, providers, periods, metrics and breakdowns are labels,
    not ids; numbers keep the precision the packet shows and stay numbers a spreadsheet can sort
    (``core.text.csv_number``: 0.605 for 60.5%, whole counts); text cells are neutralised
    against spreadsheet formulas.
    """
    prog = data.program
    metric = prog.metric(sel.metric)
    vals = data.values
    vals = vals[(vals["metric_id"] == sel.metric) & (vals["suppressed"] | vals["value"].notna())]
    trend_rows = trend(data, sel)
    trend_rows = trend_rows[trend_rows["suppressed"] | trend_rows["value"].notna()]
    period = breakdown_period(sel)
    who = provider_label(prog, sel.provider)
    peers_rows = vals[
        (vals["grain"] == sel.grain)
        & (vals["dimension"] == "")
        & (vals["provider_id"] != ALL)
        & (vals["period"] == period)
    ]
    parts = [
        trend_rows.assign(section="trend", provider=who, dimension="", group=""),
        peers_rows.assign(
            section="peers",
            dimension="",
            group="",
            provider=[provider_label(prog, p) for p in peers_rows["provider_id"].astype(str)],
        ),
    ]
    if sel.dimension:
        parts.append(
            vals[
                (vals["grain"] == sel.grain)
                & (vals["period"] == period)
                & (vals["provider_id"] == sel.provider)
                & (vals["dimension"] == sel.dimension)
            ].assign(section="breakdown", provider=who)
        )
    rows = pd.concat(parts, ignore_index=True)
    hidden = rows["suppressed"].astype(bool).tolist()
    kind = text.kind_of(metric.format, metric.kind)

    def num(col: str, digits: str) -> list:
        return [
            text.SUPPRESSED if h else text.csv_number(x, digits)
            for x, h in zip(rows[col], hidden, strict=True)
        ]

    out = pd.DataFrame(
        {
            "section": rows["section"],
            "provider": rows["provider"],
            "period": rows["period"].astype(str),  # 2026-10 / 2026-Q3: sorts in a spreadsheet
            "grain": GRAIN_LABELS.get(sel.grain, sel.grain),
            "metric": metric.label,
            "breakdown": [
                prog.dimension(d).label if d else "" for d in rows["dimension"].astype(str)
            ],
            "group": rows["group"].astype(str),
            "numerator": num("numerator", "currency" if metric.format == "currency" else "count"),
            "denominator": num("denominator", "count"),
            "value": num("value", kind),
            "95% interval from": num("ci_low", kind),
            "95% interval to": num("ci_high", kind),
        },
        columns=CSV_COLUMNS,
    )
    for col in ("provider", "group", "breakdown"):
        out[col] = out[col].astype(str).map(neutralize_formula)
    buf = io.StringIO()
    out.to_csv(buf, index=False, lineterminator="\n")
    return buf.getvalue()
