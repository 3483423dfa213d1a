"""The metrics engine: declared metrics evaluated by DuckDB for every provider, period and group.

A metric is data in the program file (``config.Metric``). For each metric the engine runs ONE SQL
statement: episodes joined to the periods table (:mod:`acm_helpers.metrics.periods`; the metric's
``:start``/``:end`` become the period's columns), grouped by provider, period and every
configured dimension at once (``GROUPING SETS``), so program-wide ("__all__") rows, breakdowns,
quarters, years, contract terms and trailing 12-month windows all come from episodes, never from
averaging months. Python then adds intervals (:mod:`acm_helpers.metrics.intervals`), suppression
(:mod:`acm_helpers.metrics.privacy`), benchmarks and flags (:mod:`acm_helpers.metrics.flags`) and the equity
table (:mod:`acm_helpers.metrics.equity`).

Populations that partition time ("X happened in the period") skip the join: each episode's
month is arithmetic on X, month cells are aggregated once and added up to every whole-month
window, medians from month histograms (:mod:`acm_helpers.metrics.months`); counts over
episodes active in the period ("clients served") come from cumulative counts of each episode's
first and last month (:mod:`acm_helpers.metrics.active`). The same cells, at a fraction of the
cost.

The SQL is built and run in :mod:`acm_helpers.metrics.sql` (see there for what may enter it);
this module turns its aggregates into the ``metric_values`` and ``equity`` tables and keeps them
current in the store (:func:`refresh`).
"""

from __future__ import annotations

import hashlib
import importlib
import json
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from acm_helpers.core.calendar import TRAILING
from acm_helpers.core.config import Program
from acm_helpers.core.errors import StoreError
from acm_helpers.core.schema import (
    ALL,
    CELL_KEYS,
    CELL_NUMBERS,
    EQUITY_COLUMNS,
    METRIC_VALUE_COLUMNS,
    SUPPRESSED_TRUTH_COLUMNS,
    conform,
)
from acm_helpers.metrics import equity as eq
from acm_helpers.metrics import flags, privacy, sql, voice
from acm_helpers.metrics import intervals as iv
from acm_helpers.metrics.periods import periods_table
from acm_helpers.store import limits
from acm_helpers.store.store import EPISODES, SUBMITTED, SUPPRESSED_TRUTH, Store, one_writer

ENGINE_VERSION = "2"  # bump when the engine's numbers change for the same inputs
ENGINE_MODULES = (  # acm_helpers.metrics.<name>
    "engine",
    "sql",
    "joins",
    "months",
    "active",
    "inputs",
    "flags",
    "equity",
    "privacy",
    "intervals",
    "periods",
)
STAT_COLUMNS = ["_rows", "_n", "_x", "_sd", "_se"]  # internal statistics kept for tests/equity


def finish_values(raw: pd.DataFrame, program: Program) -> pd.DataFrame:
    """Numerator, denominator, value, 95% interval and cell size from the raw aggregates."""
    parts = []
    for mid, g in raw.groupby("metric_id", sort=False):
        m = program.metrics[mid]
        g = g.copy()
        nan = np.full(len(g), np.nan)
        if m.kind == "rate":
            x, n = g["_x"].to_numpy(float), g["_n"].to_numpy(float)
            lo, hi = iv.wilson(x, n)
            with np.errstate(invalid="ignore", divide="ignore"):
                val = x / n
            g = g.assign(
                numerator=x,
                denominator=n,
                value=val,
                ci_low=lo,
                ci_high=hi,
                cell_size=n,
                _se=np.sqrt(val * (1 - val) / n),
                _sd=nan,
            )
        elif m.kind == "count":
            k = g["_k"].to_numpy(float)
            lo, hi = iv.poisson_exact(k)
            g = g.assign(
                numerator=k,
                denominator=nan,
                value=k,
                ci_low=lo,
                ci_high=hi,
                cell_size=k,
                _rows=k,
                _n=k,
                _x=k,
                _sd=nan,
                _se=np.sqrt(k),
            )
        elif m.kind == "mean":
            n, s, ss = (g[c].to_numpy(float) for c in ("_n", "_s", "_ss"))
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = np.where(n > 0, s / n, np.nan)
                sd = np.where(n > 1, np.sqrt(np.maximum(ss - n * mean**2, 0) / (n - 1)), np.nan)
            lo, hi = iv.t_interval(mean, sd, n)
            g = g.assign(
                numerator=s,
                denominator=n,
                value=mean,
                ci_low=lo,
                ci_high=hi,
                cell_size=n,
                _x=s,
                _sd=sd,
                _se=sd / np.sqrt(n),
            )
        elif m.kind == "median":
            n = g["_n"].to_numpy(float)
            g = g.assign(
                numerator=nan,
                denominator=n,
                value=g["_med"].to_numpy(float),
                ci_low=g["_lo"].to_numpy(float) if "_lo" in g else nan,
                ci_high=g["_hi"].to_numpy(float) if "_hi" in g else nan,
                cell_size=n,
                _x=nan,
                _se=nan,
            )
        else:
            cols = [g[c].to_numpy(float) for c in ("_rows", "_sx", "_sy", "_sxx", "_syy", "_sxy")]
            r, se = iv.ratio_se(*cols)
            g = g.assign(
                numerator=cols[1],
                denominator=cols[2],
                value=r,
                ci_low=r - iv.Z95 * se,
                ci_high=r + iv.Z95 * se,
                cell_size=np.minimum(cols[0], cols[2]),
                _n=cols[0],
                _x=cols[1],
                _sd=nan,
                _se=se,
            )
        parts.append(g)
    out = pd.concat(parts, ignore_index=True)
    for col in STAT_COLUMNS:
        if col not in out:
            out[col] = np.nan
    return out[[*CELL_KEYS, *CELL_NUMBERS, "cell_size", *STAT_COLUMNS]]


# -- public API ------------------------------------------------------------------------------------
def compute(
    program: Program,
    source,
    periods: list[str] | None = None,
    grains: tuple[str, ...] | None = None,
    dimensions: list[str] | None = None,
    version: str = "",
) -> pd.DataFrame:
    """Every declared metric for every provider (and "__all__") x period x group.

    Args:
        program: the program (metrics, dimensions, suppression).
        source: a :class:`Store` (reads ``episodes.parquet`` directly) or an episodes frame with
            the derived columns the metrics use.
        periods: months to report (default all the program's months; benchmarks that look back,
            flags and control charts need the months before, so pass None for packets).
        grains: any of month, quarter, year, term, week, biweek (default: the first four plus
            the program's meeting cadences' week / biweek).
        dimensions: dimension ids to break down by (default: all configured).
        version: stored in the ``version`` column (see :func:`refresh`).

    Returns:
        ``metric_values`` with exactly ``schema.METRIC_VALUE_COLUMNS``, suppressed cells nulled.
    """
    return compute_tables(program, source, periods, grains, dimensions, version, equity=False)[0]


def compute_tables(
    program: Program,
    source,
    periods: list[str] | None = None,
    grains: tuple[str, ...] | None = None,
    dimensions: list[str] | None = None,
    version: str = "",
    equity: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """``metric_values`` and (when ``equity``) the ``equity`` table from one evaluation."""
    values, equity_table, _ = evaluate_tables(
        program, source, periods, grains, dimensions, version, equity
    )
    return values, equity_table


def evaluate_tables(
    program: Program,
    source,
    periods: list[str] | None = None,
    grains: tuple[str, ...] | None = None,
    dimensions: list[str] | None = None,
    version: str = "",
    equity: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame | None, pd.DataFrame]:
    """One evaluation, three tables: ``metric_values``, ``equity`` (when asked) and
    ``suppressed_truth``, the true numbers of the cells the privacy step hid (internal: the packet
    audit's reference; see :func:`refresh`)."""
    table = periods_table(program, periods, grains)
    raw = sql.evaluate(program, source, table, dimensions)
    limits.check_fits(
        len(raw) * limits.CELL_BYTES,
        f"Program {program.id}: finishing {len(raw):,} metric cells ({len(program.metrics)} "
        f"metrics x {len(program.providers)} providers and program-wide x every period and grain "
        "x every breakdown group)",
        todo="break down by fewer dimensions (`dimensions:` in the program file)",
    )
    cells = finish_values(raw, program)
    del raw  # about a fifth of the peak at 1,000 providers: every step below makes new frames
    cells = cells.merge(
        table[["period", "grain", "start", "end", "end_month"]].drop_duplicates(
            ["period", "grain"]
        ),
        on=["period", "grain"],
        how="left",
    )
    trailing = cells[cells["grain"] == TRAILING]
    cells = cells[cells["grain"] != TRAILING].reset_index(drop=True)
    cells = privacy.suppress(cells, program)
    truth = truth_table(cells, version)
    trailing = privacy.primary(trailing, program.suppression.threshold)
    cells = flags.add_benchmarks(cells, trailing, program)
    cells = flags.add_flags(cells, program)
    equity_table = eq.equity_table(cells, program, version) if equity else None
    return finish_table(cells, program, version), equity_table, truth


def truth_table(cells: pd.DataFrame, version: str) -> pd.DataFrame:
    """The suppressed cells' true numbers, before anything nulls them (``suppressed_truth``)."""
    hidden = cells[cells["suppressed"].to_numpy(bool)].assign(version=version)
    return conform(hidden, SUPPRESSED_TRUTH_COLUMNS).sort_values(CELL_KEYS, ignore_index=True)


def finish_table(cells: pd.DataFrame, program: Program, version: str) -> pd.DataFrame:
    """Presentation columns, math strings, nulls for suppressed cells; exact contract columns."""
    out = cells.copy()
    defs = pd.DataFrame(
        [
            {
                "metric_id": k,
                "label": m.label,
                "format": m.format,
                "unit": m.unit,
                "direction": m.direction,
                "kind": m.kind,
                "system_wide": m.system_wide,
                "key": m.key,
                "target": m.target,
                "national": m.benchmark.get("national"),
                "benchmarks": json.dumps(m.benchmark, sort_keys=True),
            }
            for k, m in program.metrics.items()
        ]
    )
    out = out.drop(
        columns=[c for c in defs.columns if c != "metric_id" and c in out.columns]
    ).merge(defs, on="metric_id", how="left")
    # sentences for shown cells only: null_suppressed writes the suppressed cells' math
    shown = ~out["suppressed"].fillna(False).astype(bool).to_numpy()
    out["math"] = ""
    out.loc[shown, "math"] = flags.math_strings(out.loc[shown], program)
    out["version"] = version
    out = out.rename(columns={"start": "period_start", "end": "period_end"})
    out = privacy.null_suppressed(out)
    return conform(out, METRIC_VALUE_COLUMNS).sort_values(
        ["metric_id", "grain", "period", "provider_id", "dimension", "group"], ignore_index=True
    )


class Refreshed(NamedTuple):
    """What :func:`refresh` returns."""

    metric_values: pd.DataFrame
    equity: pd.DataFrame
    version: str
    skipped: bool  # True when the stored tables were already up to date


def input_version(program: Program, store: Store) -> str:
    """Hash of the episodes file and of everything in the program that changes the numbers."""
    h = hashlib.sha256()
    h.update(store.table_digest(EPISODES).encode())
    spec = program.model_dump(
        mode="json",
        include={
            "id",
            "first_period",
            "last_period",
            "providers",
            "metrics",
            "dimensions",
            "suppression",
        },
        # who receives the packet (`acm send`) changes no number
        exclude={"providers": {"__all__": {"recipients", "attach_xlsx"}}},
    )
    h.update(json.dumps(spec, sort_keys=True).encode())
    if program.extra_grains():  # weekly / biweekly meetings add windows (and their anchor)
        h.update(json.dumps([program.extra_grains(), str(program.meetings.anchor)]).encode())
    add_engine_code(h)
    return h.hexdigest()[:16]


def add_engine_code(h, *extra: str) -> None:
    """Feed the engine's version and its modules' source (then ``extra`` modules of
    ``acm_helpers.metrics``) into the hash ``h``: a changed engine recomputes the tables built
    with it even if nobody bumped the version."""
    h.update(ENGINE_VERSION.encode())
    for name in (*extra, *ENGINE_MODULES):
        h.update(Path(importlib.import_module(f"acm_helpers.metrics.{name}").__file__).read_bytes())


STORED_TABLES = ("equity", SUPPRESSED_TRUTH, "metric_values")  # write order: metric_values last


def stored_version(store: Store) -> str | None:
    """The version the stored ``metric_values``, ``equity`` and ``suppressed_truth`` share;
    None when one is absent or they differ (a refresh killed between two of its writes), so
    the three are recomputed together.

    An empty table has no version row and does not count against the others."""
    if not all(store.has_table(name) for name in STORED_TABLES):
        return None
    versions = {store.first_value(name, "version") for name in STORED_TABLES} - {None}
    return versions.pop() if len(versions) == 1 else None


def check_episodes_current(store: Store) -> None:
    """Raise StoreError when ``episodes`` is behind the committed submissions.

    Why: the metrics version hashes the episodes file, so it cannot see submissions that were
    committed but never consolidated into ``episodes`` (an intake killed in between). Computing
    from such episodes would report an old state as "up to date". The engine cannot rebuild
    them (that is intake's job, above it in the import order); ``acm metrics`` and ``acm run``
    repair them before they refresh.
    """
    if store.outdated(EPISODES, SUBMITTED):
        raise StoreError(
            f"{store}: episodes are older than the committed submissions (an `acm intake` "
            "stopped before rebuilding them?). Run `acm metrics` (it rebuilds them first) or "
            "re-run the intake, then try again."
        )


@one_writer("the metrics refresh")
def refresh(program: Program, store: Store, force: bool = False) -> Refreshed:
    """Compute and store ``metric_values``, ``equity`` and ``suppressed_truth`` unless current.

    Why versioned: packets, the explorer and reports all read these tables; recomputing when
    neither the episodes nor the metric definitions changed wastes the monthly run. The version
    is a hash of the episodes file, the program's metric/dimension/suppression settings and the
    engine version. One evaluation gives all three tables; ``suppressed_truth`` (the true
    numbers of the cells the privacy step hid) is the packet audit's reference, kept in the
    store so the audit never evaluates the metrics a second time and never writes those numbers
    next to the outputs. The survey and frontline tables follow, from the same ``metric_values``
    (:func:`acm_helpers.metrics.voice.refresh_voice`, a no-op when their inputs are unchanged).
    Each table is written atomically, ``metric_values`` last, so a crash in
    between leaves tables of two versions (:func:`stored_version` is then None) and the next run
    recomputes all three. Episodes behind the committed submissions raise a StoreError
    (:func:`check_episodes_current`).
    """
    check_episodes_current(store)
    version = input_version(program, store)
    if not force and stored_version(store) == version:
        result = Refreshed(
            store.read_table("metric_values"), store.read_table("equity"), version, True
        )
    else:
        values, equity_table, truth = evaluate_tables(program, store, version=version)
        store.write_table("equity", equity_table)
        store.write_table(SUPPRESSED_TRUTH, truth)
        store.write_table("metric_values", values)
        result = Refreshed(values, equity_table, version, False)
    voice.refresh_voice(program, store, force=force)
    return result


def unsuppressed_cells(
    program: Program, store: Store, provider_id: str | None = None
) -> pd.DataFrame:
    """The true numbers of the cells the engine suppressed (internal use: leak checks only).

    Why: a provider packet must not show a suppressed cell's numbers; the packet audit searches
    the packet for exactly these numbers. They come from the store's ``suppressed_truth``,
    written by :func:`refresh` in the same evaluation as ``metric_values`` (brought up to date
    here, a no-op when current), so the metrics are never evaluated twice. Never put this frame
    in an output.
    """
    refresh(program, store)
    truth = store.suppressed_truth(provider_id)
    return truth[[*CELL_KEYS, *CELL_NUMBERS]].reset_index(drop=True)


def summary(result: Refreshed) -> str:
    """A few lines for the CLI: rows, providers, periods, suppressed cells and flags raised."""
    mv, eqt = result.metric_values, result.equity
    if result.skipped:
        head = f"metric_values up to date (version {result.version}); nothing recomputed."
    else:
        head = f"metric_values computed (version {result.version})."
    months = sorted(mv.loc[mv["grain"] == "month", "period"].unique())
    flags_raised = {
        c: int(mv[c].sum()) for c in mv.columns if c.startswith("flag_") and mv[c].dtype == bool
    }
    lines = [
        head,
        f"  {len(mv):,} values: {mv['metric_id'].nunique()} metrics, "
        f"{mv.loc[mv['provider_id'] != ALL, 'provider_id'].nunique()} providers, "
        f"{len(months)} months ({months[0] if months else '-'} .. {months[-1] if months else '-'}), "
        f"{mv.loc[mv['dimension'] != '', 'dimension'].nunique()} breakdowns",
        f"  suppressed: {int(mv['suppressed'].sum()):,} of {len(mv):,} cells",
        "  flags: "
        + ", ".join(f"{k.removeprefix('flag_')} {v:,}" for k, v in flags_raised.items()),
        f"  equity: {len(eqt):,} rows, disparities flagged {int(eqt['flag_disparity'].sum()):,}, "
        f"disproportionality flagged {int(eqt['flag_disproportionality'].sum()):,}",
    ]
    return "\n".join(lines)


def metric_columns() -> list[str]:
    """The contract's metric_values columns (for readers that validate)."""
    return list(METRIC_VALUE_COLUMNS)


def equity_columns() -> list[str]:
    """The contract's equity columns."""
    return list(EQUITY_COLUMNS)
