"""The history of the metric definitions: which definition of each metric the packets of each
month were computed with, so a changed definition is announced with its month.

Why a history in the store and not a look at the program file: the program file only holds the
definition in force now. A packet must say "from November 2026, exits to permanent housing count
transfers as well; before: ...", which needs the old definition and the month the new one was
first used. ``acm run`` records the definitions in force for the month it builds
(:func:`record_definitions`); a packet reads the changes (:func:`definition_changes`).

What counts as the definition: the fields that decide a metric's number or its meaning
(:data:`DEFINITION_FIELDS`: the text, the kind, the SQL expressions, per person and universe),
not its label, target, benchmarks or display format. Each definition is identified by a short
hash of those fields (the definition's version); the engine's own method (its version and
source) has one hash too, :func:`method_hash`, which ``acm --version`` prints. Note that
the engine recomputes every month with the definition in force: a packet rebuilt for an earlier
month after a change shows the new definition's numbers, which the notice says.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from acm_helpers.core.config import Metric, Program
from acm_helpers.store.store import Store, one_writer

DEFINITIONS = "metric_definitions"  # append-only: one row per metric and definition version
DEFINITION_COLUMNS = (
    "program",
    "metric_id",
    "definition_hash",
    "definition",  # JSON of DEFINITION_FIELDS
    "label",
    "first_period",  # the first month whose run used this definition
    "method_hash",  # the engine's method when it was first used
    "recorded_at",
)
DEFINITION_FIELDS = (
    "definition",
    "kind",
    "population",
    "numerator",
    "denominator",
    "value",
    "per",
    "universe",
)
FIELD_NAMES = {
    "definition": "Definition",
    "kind": "Kind",
    "population": "Counted",
    "numerator": "Numerator",
    "denominator": "Denominator",
    "value": "Value",
    "per": "Counted per",
    "universe": "Chosen from",
}


@functools.cache
def method_hash() -> str:
    """Hash (12 hex digits) of the engine's method: its version and the source of every module
    that computes a number (``engine.ENGINE_MODULES``). The same program file and data give the
    same numbers under the same method hash."""
    from acm_helpers.metrics import engine

    h = hashlib.sha256(engine.ENGINE_VERSION.encode())
    for name in engine.ENGINE_MODULES:
        h.update(Path(importlib.import_module(f"acm_helpers.metrics.{name}").__file__).read_bytes())
    return h.hexdigest()[:12]


def definition_of(metric: Metric) -> dict[str, str | None]:
    """The fields of a metric that make its definition (:data:`DEFINITION_FIELDS`)."""
    dumped = metric.model_dump(mode="json")
    return {f: dumped.get(f) for f in DEFINITION_FIELDS}


def definition_hash(metric: Metric) -> str:
    """Short hash of a metric's definition (its version): equal definitions, equal hashes."""
    text = json.dumps(definition_of(metric), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def history(store: Store, program_id: str) -> pd.DataFrame:
    """The recorded definitions of one program, oldest first (empty frame when none).

    A definition recorded again for an earlier month (an earlier period run after a later one)
    counts from that month: of consecutive records with the same hash, the first is kept.
    """
    if not store.has_table(DEFINITIONS):
        return pd.DataFrame(columns=list(DEFINITION_COLUMNS))
    frame = store.read_table(DEFINITIONS)
    frame = frame[frame["program"] == program_id]
    frame = frame.sort_values(["metric_id", "first_period", "recorded_at"], ignore_index=True)
    same = (frame["metric_id"] == frame["metric_id"].shift()) & (
        frame["definition_hash"] == frame["definition_hash"].shift()
    )
    return frame[~same].reset_index(drop=True)


@one_writer("recording the metric definitions")
def record_definitions(program: Program, store: Store, period: str) -> pd.DataFrame:
    """Record each metric's definition in force for ``period`` when it is not recorded yet.

    A definition already recorded (same metric, same hash) keeps its first month, unless this
    run is for an earlier month (a backfill): then it is recorded from this month too, and
    :func:`history` keeps the earlier. Going back to an earlier definition is recorded again, as
    a change, from this month. Returns the rows added (empty when nothing changed).
    """
    program.check_period(period)
    old = history(store, program.id)
    last = old.groupby("metric_id").last() if len(old) else pd.DataFrame()
    latest = last["definition_hash"].to_dict() if len(last) else {}
    since = last["first_period"].to_dict() if len(last) else {}
    now = datetime.now(UTC).isoformat(timespec="seconds")
    rows = []
    for mid, metric in program.metrics.items():
        h = definition_hash(metric)
        if latest.get(mid) == h and str(since[mid]) <= period:
            continue
        rows.append(
            {
                "program": program.id,
                "metric_id": mid,
                "definition_hash": h,
                "definition": json.dumps(definition_of(metric), sort_keys=True),
                "label": metric.label,
                "first_period": period,
                "method_hash": method_hash(),
                "recorded_at": now,
            }
        )
    added = pd.DataFrame(rows, columns=list(DEFINITION_COLUMNS))
    if rows:
        store.append_table(DEFINITIONS, added)
    return added


@dataclass(frozen=True)
class DefinitionChange:
    """One change of a metric's definition, and the month it took effect."""

    metric_id: str
    label: str
    from_period: str
    old_hash: str
    new_hash: str
    old_method: str
    new_method: str
    old: dict[str, str | None]
    new: dict[str, str | None]

    @property
    def changed_fields(self) -> list[str]:
        """The definition fields whose text differs, in :data:`DEFINITION_FIELDS` order."""
        return [f for f in DEFINITION_FIELDS if self.old.get(f) != self.new.get(f)]


def definition_changes(program: Program, store: Store, period: str) -> list[DefinitionChange]:
    """Every recorded change of the program's metric definitions, latest first.

    A definition in the program file that no run has recorded yet (a packet built from a
    notebook right after the file was edited) counts as taking effect in ``period``. Metrics
    no longer in the program are left out; a metric new in the program is not a change.
    """
    old = history(store, program.id)
    out: list[DefinitionChange] = []
    for mid, metric in program.metrics.items():
        rows = [
            (r.definition_hash, json.loads(r.definition), r.first_period, r.method_hash)
            for r in old[old["metric_id"] == mid].itertuples()
        ]
        if not rows:
            continue
        current = definition_hash(metric)
        if rows[-1][0] != current:
            rows.append((current, definition_of(metric), period, method_hash()))
        for before, after in zip(rows, rows[1:], strict=False):
            out.append(
                DefinitionChange(
                    metric_id=mid,
                    label=metric.label,
                    from_period=after[2],
                    old_hash=before[0],
                    new_hash=after[0],
                    old_method=before[3],
                    new_method=after[3],
                    old=before[1],
                    new=after[1],
                )
            )
    return sorted(out, key=lambda c: (c.from_period, c.metric_id), reverse=True)
