"""What the staff explorer shows, as pure transforms of the engine's tables.

The Voilà app (:mod:`acm_helpers.explorer.app`) opens a program's tables once per session
(:func:`load_data`) and then, on every widget change, validates the selection
(:func:`make_selection`) and calls the functions below. Each asks :class:`ExplorerData` for the
few rows its view shows (parameterised DuckDB queries over the store's parquet files; nothing
a user sends is formatted into SQL or code) and returns a small tidy frame (or text) that a
chart function in :mod:`acm_helpers.views.charts` or a widget shows.

Why a separate module: the same numbers are tested without a browser (tests/unit), and the
widget module stays about layout and callbacks.
"""

from __future__ import annotations

import io
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date

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


class ExplorerData:
    """One program's tables as the explorer reads them: by query, per view.

    Why queries, not frames: a kernel that held ``metric_values`` and ``equity`` in pandas
    (the largest tables; they grow with providers x months x groups) spent ~100 MB on them on
    the demo program, and would need ~1 GB at 200 providers, in every kernel. Instead each view
    asks DuckDB for the few rows it shows (a trend: one provider's months of one metric; the
    tiles: one provider's metrics of one period), read from the store's parquet files with the
    filters pushed into the scan, so a kernel holds only what is on screen. Data quality is
    read per provider and month from its partition file (:meth:`quality_rows`); action items,
    a short list, are read once.

    Every filter value is bound as a query parameter; column names come from this module
    only, so nothing a browser sends is formatted into SQL.

    Attributes:
        program: the validated program.
        quality: the ``quality`` table given in memory (:meth:`from_frames`), else None.
        actions: ``action_items``, possibly empty.
    """

    def __init__(
        self,
        program: Program,
        con,
        columns: dict[str, tuple[str, ...]],
        quality: pd.DataFrame | None,
        actions: pd.DataFrame,
        store=None,
    ):
        self.program = program
        self.quality = quality  # None: read per provider and month from ``store``
        self.actions: pd.DataFrame = actions
        self._store = store
        self._con = con
        self._cache: OrderedDict[tuple, pd.DataFrame] = OrderedDict()
        self._columns = columns  # table -> the columns a view may read (what the file has)

    @classmethod
    def from_frames(
        cls,
        program: Program,
        values: pd.DataFrame,
        equity: pd.DataFrame,
        quality: pd.DataFrame,
        actions: pd.DataFrame,
    ) -> ExplorerData:
        """The same reader over frames already in memory (tests, small scripts)."""
        con = _connect()
        columns = {}
        for name, frame in ((VALUES, values), (EQUITY, equity)):
            if not frame.empty:
                con.register(name, frame)
                columns[name] = tuple(c for c in frame.columns if c not in VALUES_SKIP)
        return cls(program, con, columns, pd.DataFrame() if quality is None else quality, actions)

    def quality_rows(self, provider_id: str, period: str) -> pd.DataFrame:
        """The intake quality rows of one provider's submission for one month (empty: none).

        Read from that submission's partition file (``quality/<provider>/<month>``), so a
        kernel never holds the whole table (one file per provider and month).
        """
        key = ("quality", provider_id, period)
        if key in self._cache:
            return self._cache[key]
        q = self.quality
        if q is None:
            path = self._store.table_path(store_quality.QUALITY, f"{provider_id}/{period}")
            single = self._store.table_path(store_quality.QUALITY)
            if path.exists():
                q = pd.read_parquet(path)
            elif single.exists():
                q = pd.read_parquet(single, filters=[("provider_id", "==", provider_id)])
            else:
                return pd.DataFrame()
        if not q.empty:
            q = q[(q["provider_id"] == provider_id) & (q["period"] == period)]
        self._cache[key] = q
        return q

    def has(self, table: str) -> bool:
        """Whether the store holds ``table`` (``equity`` is optional)."""
        return table in self._columns

    def rows(self, table: str, columns: list[str] | None = None, **where: object) -> pd.DataFrame:
        """Rows of ``table`` where each column equals its value (a list: is one of them),
        tidied as the staff view shows them (suppressed cells nulled, providers named).

        The last :data:`ROWS_CACHE` answers are kept (a few hundred rows each), so going back
        to a view, or to another provider of the same period, does not scan the file again;
        callers never change a frame they are given.

        ``dimension`` and ``group`` read a missing value as "" (the overall row).
        """
        known = self._columns[table]
        cols = [c for c in (columns or known) if c in known]
        for c in ("provider_id", "suppressed"):  # what tidying needs
            if c in known and c not in cols:
                cols.append(c)
        key = (
            table,
            tuple(cols),
            tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in where.items()),
        )
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            return hit
        cond, args = self._where(table, where)
        select = ", ".join(f'"{c}"' for c in cols)
        frame = self._con.execute(f'SELECT {select} FROM "{table}"{cond}', args).df()
        frame = _tidy(frame, self.program)
        self._cache[key] = frame
        while len(self._cache) > ROWS_CACHE:
            self._cache.popitem(last=False)
        return frame

    def distinct(self, table: str, column: str, **where: object) -> set[str]:
        """Distinct values of one column as text, a missing value as "" (the allowlist)."""
        if column not in self._columns[table]:
            raise _no_column(table, column)
        cond, args = self._where(table, where)
        query = f'SELECT DISTINCT coalesce(CAST("{column}" AS VARCHAR), \'\') FROM "{table}"'
        return {str(r[0]) for r in self._con.execute(query + cond, args).fetchall()}

    def _where(self, table: str, where: dict[str, object]) -> tuple[str, list]:
        """A WHERE clause of parameters: column = ? (a list: column IN (?, ...))."""
        sql, args = [], []
        for col, value in where.items():
            if col not in self._columns[table]:
                raise _no_column(table, col)
            ref = f"coalesce(\"{col}\", '')" if col in ("dimension", "group") else f'"{col}"'
            if isinstance(value, list | tuple):
                sql.append(f"{ref} IN ({', '.join('?' * len(value))})" if value else "false")
                args.extend(value)
            else:
                sql.append(f"{ref} = ?")
                args.append(value)
        return (f" WHERE {' AND '.join(sql)}" if sql else ""), args


def _no_column(table: str, column: str) -> StoreError:
    # Column names come from this module, never from a request: a store written by an older
    # version of acm is the likely cause.
    return StoreError(
        f"The {table} table has no column {column!r}; it was written by an older version of "
        "acm. Run `acm metrics` for this data directory to rebuild it."
    )


def _connect():
    """A DuckDB connection for one kernel: one thread (a server runs many kernels on few
    cores) and a small memory cap (the views' results are a few hundred rows)."""
    import duckdb

    return duckdb.connect(config={"threads": 1, "memory_limit": "128MB"})


def _tidy(frame: pd.DataFrame, program: Program) -> pd.DataFrame:
    """The staff view of engine rows: dimension/group as text, suppressed as a flag, peers
    named, suppressed cells nulled again (the engine already nulled them)."""
    from acm_helpers.metrics import privacy

    for col in ("dimension", "group"):
        if col in frame:
            frame[col] = frame[col].fillna("").astype(str)
    if "suppressed" in frame:
        frame["suppressed"] = frame["suppressed"].fillna(False).astype(bool)
    for col in NUMBER_COLUMNS:
        if col in frame and str(frame[col].dtype) != "Int64":
            frame[col] = frame[col].astype("float64")
    return privacy.for_audience(frame, program, "internal")


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


# Columns the explorer never shows are never read: metric_values loses only the engine's
# bookkeeping; equity keeps what a breakdown's flags need (it has 39 columns).
VALUES, EQUITY = "metric_values", "equity"
ROWS_CACHE = 64  # answers of ExplorerData.rows kept per session
VALUES_SKIP = ("version", "benchmarks")
EQUITY_COLUMNS = (
    *("provider_id", "period", "grain", "metric_id", "dimension", "group", "suppressed"),
    *("value", "reference_group", "is_reference", "flag_disparity", "disparity_reason"),
    "suppression_reason",
)


def load_data(program: Program, store) -> ExplorerData:
    """Open the tables the explorer shows (the only place here that touches the store).

    ``metric_values`` and ``equity`` become DuckDB views over their parquet files (read per
    view, see :class:`ExplorerData`); the small log tables are read once.

    Raises:
        StoreError: when ``metric_values`` is missing or empty, naming the data directory and
            the command that computes it.
    """
    import pyarrow.parquet as pq

    from acm_helpers.meetings import actions

    con, columns = _connect(), {}
    for name, keep, skip in ((VALUES, None, VALUES_SKIP), (EQUITY, EQUITY_COLUMNS, ())):
        path = store.table_path(name)
        if not path.exists() or pq.read_metadata(path).num_rows == 0:
            continue
        names = pq.read_schema(path).names
        columns[name] = tuple(c for c in names if (keep is None or c in keep) and c not in skip)
        literal = "'" + str(path).replace("'", "''") + "'"
        con.execute(f'CREATE VIEW "{name}" AS SELECT * FROM read_parquet({literal})')
    if VALUES not in columns:
        raise StoreError(
            f"Program {program.id}: no metric_values in {store.root}. Run `acm demo` "
            "(demo program) or compute metrics for this data directory first."
        )
    return ExplorerData(program, con, columns, None, actions.read_actions(store), store=store)


def allowed(data: ExplorerData) -> Allowed:
    """The allowlist of widget values for this program and its data."""
    prog = data.program
    have = data.distinct(VALUES, "provider_id")
    months = sorted(data.distinct(VALUES, "period", grain=MONTH))
    if not months:
        raise StoreError(f"Program {prog.id}: metric_values has no monthly values to explore.")
    metric_ids, dim_ids = data.distinct(VALUES, "metric_id"), data.distinct(VALUES, "dimension")
    metrics = [m for m in prog.metrics if m in metric_ids]
    dims = [d for d in prog.dimensions if d in dim_ids]
    broken_down = data.distinct(VALUES, "grain", dimension=[d for d in dim_ids if d])
    grains = [g for g in GRAINS if g in broken_down] or [MONTH]
    sub = data.rows(VALUES, ["grain", "period", "period_end"], grain=list(SUB_MONTH))
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


def trend(data: ExplorerData, sel: Selection) -> pd.DataFrame:
    """Values of the selected provider and metric over the range, at the selected grain (the
    complete quarters or years of :func:`grain_periods`; months for month and term), with
    peer quartiles.

    Columns: period, numerator, denominator, value, ci_low, ci_high, suppressed, peer_q1,
    peer_median, peer_q3 (the shape :func:`acm_helpers.views.charts.trend_chart` reads; the
    quartiles are the engine's, over all providers with a value that period).
    """
    cols = ["period", *NUMBER_COLUMNS, "suppressed", "peer_q1", "peer_median", "peer_q3"]
    rows = data.rows(
        VALUES,
        cols,
        grain=MONTH if sel.grain == "term" else sel.grain,
        dimension="",
        metric_id=sel.metric,
        provider_id=sel.provider,
        period=grain_periods(sel),
    )
    return rows[cols].sort_values("period", ignore_index=True)


def peers(data: ExplorerData, sel: Selection) -> pd.DataFrame:
    """Every provider's value in the period shown (:func:`breakdown_period`), the selected one
    marked.

    Columns: provider_id, provider (name), value, ci_low, ci_high, suppressed, is_self.
    """
    rows = data.rows(
        VALUES,
        ["provider_id", "value", "ci_low", "ci_high", "suppressed"],
        grain=sel.grain,
        dimension="",
        metric_id=sel.metric,
        period=breakdown_period(sel),
    )
    rows = rows[rows["provider_id"] != ALL]
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
    where = {
        "grain": sel.grain,
        "metric_id": sel.metric,
        "provider_id": sel.provider,
        "period": breakdown_period(sel),
        "dimension": sel.dimension,
    }
    rows = data.rows(VALUES, ["group", *NUMBER_COLUMNS, "suppressed"], **where)
    out = rows[["group", *NUMBER_COLUMNS, "suppressed"]]
    if data.has(EQUITY) and "flag_disparity" in data._columns[EQUITY]:
        flags = data.rows(EQUITY, ["group", "flag_disparity", "disparity_reason"], **where)
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
    period = breakdown_period(sel)
    # every provider's rows of the period in one query: switching provider is then a cache hit
    rows = data.rows(VALUES, grain=sel.grain, dimension="", period=period)
    rows = rows[rows["provider_id"] == sel.provider].set_index("metric_id")
    wanted = [
        mid for mid, metric in data.program.metrics.items() if metric.key or mid == sel.metric
    ]
    return tiles_mod.tiles_of(rows, data.program, period, sel.grain, wanted)


def quality_status(data: ExplorerData, sel: Selection) -> pd.DataFrame:
    """Data quality of the last month's submissions: one row per provider shown.

    Columns: provider, rows_accepted, rows_rejected, completeness, days_late, top_problem.
    """
    wanted = [p for p in data.program.provider_ids if sel.provider in (ALL, p)]
    out, fields = [], required_fields(data.program)
    for pid in wanted:
        rows = data.quality_rows(pid, sel.end)
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
    trend_rows = trend(data, sel)
    trend_rows = trend_rows[trend_rows["suppressed"] | trend_rows["value"].notna()]
    period = breakdown_period(sel)
    who = provider_label(prog, sel.provider)

    def shown(**where: object) -> pd.DataFrame:
        rows = data.rows(VALUES, metric_id=sel.metric, grain=sel.grain, period=period, **where)
        return rows[rows["suppressed"] | rows["value"].notna()]

    peers_rows = shown(dimension="")
    peers_rows = peers_rows[peers_rows["provider_id"] != ALL]
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
            shown(provider_id=sel.provider, dimension=sel.dimension).assign(
                section="breakdown", provider=who
            )
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
