"""Incremental runs: the data-slice digest of each packet, so a re-run rebuilds only packets whose
data changed, and the manifest can say which part changed.

Why per slice, not per store: ``metric_values.version`` changes whenever any episode of any
provider changes, so keying packets on it would rebuild all of them for one corrected
submission. A packet shows its own provider's history (with peer benchmarks already folded into
its rows), the program-wide ``__all__`` rows, and its peers' overall values (``packet.load`` reads the same
rows); its digest covers exactly those rows of each aggregate table, up to the end of the run's
period, plus the program file (names, targets, suppression). The system packet covers every provider.

Episode-level tables (``episodes``, ``episodes_submitted``, ``quarantine``) are not part of any
digest: packets hold aggregates only, and every change in episodes that a packet can show
reaches it through ``metric_values``, ``equity`` or ``quality``. Tables added later are covered
by default (filtered by provider and period when they have those columns), so a new table a
notebook reads can never be silently ignored; list pure intake internals in ``NOT_READ``.

The batch run combines these with the template, parameter and package hashes
(``batch.job_inputs``) and records the decision and its reason per packet in the manifest.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from acm_helpers.core.calendar import period_bounds
from acm_helpers.core.schema import ALL
from acm_helpers.store.store import Store

# Intake internals and client-level tables: never read by a packet notebook.
NOT_READ = frozenset({"episodes", "episodes_submitted", "quarantine"})
# Columns that change for reasons that do not change what a packet shows.
VOLATILE = frozenset({"version"})
QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")


def _sha(data: bytes | str) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def row_hashes(frame: pd.DataFrame) -> np.ndarray:
    """One uint64 per row over every column (names and values), independent of column order.

    Why pandas' hash: it is vectorised and deterministic across processes and machines (a fixed
    key), unlike Python's ``hash``.
    """
    cols = sorted(c for c in frame.columns if c not in VOLATILE)
    if not cols or frame.empty:
        return np.zeros(0, dtype=np.uint64)
    out = np.zeros(len(frame), dtype=np.uint64)
    for i, col in enumerate(cols):
        values = frame[col]
        if values.dtype == object or isinstance(values.dtype, pd.CategoricalDtype):
            values = values.astype("string")
        h = pd.util.hash_pandas_object(values, index=False).to_numpy()
        name = np.uint64(int(_sha(col)[:16], 16))
        # mix in the column's name and position so swapped columns do not cancel out
        out ^= (h * np.uint64(2 * i + 1)) ^ name
    return out


def digest_of(hashes: np.ndarray) -> str:
    """Order-independent digest of a set of row hashes (rows may be stored in any order)."""
    return _sha(np.sort(hashes).tobytes() + str(len(hashes)).encode())


def window_start(period: str) -> date | None:
    """First day of a period label (YYYY-MM, YYYY-Qn, YYYY); None for ``term`` or unknown."""
    if re.fullmatch(r"\d{4}-\d{2}", period or ""):
        return period_bounds(period)[0]
    if m := QUARTER.match(period or ""):
        return date(int(m[1]), 3 * int(m[2]) - 2, 1)
    if re.fullmatch(r"\d{4}", period or ""):
        return date(int(period), 1, 1)
    return None


def _shown_by(frame: pd.DataFrame, end: date) -> pd.Series:
    """Rows whose period window starts on or before ``end`` (periods after the run are never shown).

    Rows without a recognisable period (``term``, tables without periods) are kept: conservative.
    """
    if "period_start" in frame.columns:
        starts = pd.to_datetime(frame["period_start"], errors="coerce")
    elif "period" in frame.columns:
        # one parse per distinct label, not per row (tables hold many rows per period)
        codes, labels = pd.factorize(frame["period"].astype("string").fillna(""))
        first_days = pd.to_datetime([window_start(p) or pd.NaT for p in labels], errors="coerce")
        starts = pd.Series(first_days.to_numpy()[codes], index=frame.index)
    else:
        return pd.Series(True, index=frame.index)
    return starts.isna() | (starts <= pd.Timestamp(end))


def _peer_rows(frame: pd.DataFrame) -> pd.Series:
    """Every provider's overall values (no breakdown): peer comparisons and trends show them."""
    if "dimension" not in frame.columns:
        return pd.Series(False, index=frame.index)
    return frame["dimension"].fillna("") == ""


def table_digests(
    store: Store, period: str, providers: Iterable[str | None], tables: Iterable[str] | None = None
) -> dict[str | None, dict[str, str]]:
    """Digest of each table's slice for each provider (None = the program-wide system packet).

    Each table is read and hashed once for all providers. A provider's slice is the rows every
    provider packet shows (``__all__`` rows, peers' overall values) plus its own other rows; the
    shared part is digested once and each provider's own rows are found by one sort, so the cost
    grows with the table, not with providers x rows (1,000 providers spent minutes in masks over
    the whole table per provider).
    """
    end = period_bounds(period)[1]
    providers = list(providers)
    names = sorted(tables) if tables is not None else store_tables(store)
    out: dict[str | None, dict[str, str]] = {p: {} for p in providers}
    for name in names:
        for p, h in _slice_digests(store.read_table(name), name, end, providers).items():
            out[p][name] = h
    return out


def _slice_digests(
    frame: pd.DataFrame, name: str, end: date, providers: list[str | None]
) -> dict[str | None, str]:
    """One table's digest for each provider's slice (see :func:`table_digests`)."""
    hashes = row_hashes(frame)
    if hashes.size == 0:
        return dict.fromkeys(providers, digest_of(hashes))
    shown = _shown_by(frame, end).to_numpy()
    if "provider_id" not in frame.columns:
        return dict.fromkeys(providers, digest_of(hashes[shown]))
    codes, ids = pd.factorize(frame["provider_id"].astype("string").fillna(""))
    shared = codes == _code(ids, ALL)
    if name == "metric_values":
        shared = shared | _peer_rows(frame).to_numpy()
    common = digest_of(hashes[shown & shared])
    own = np.flatnonzero(shown & ~shared)
    order = own[np.argsort(codes[own], kind="stable")]
    bounds = np.searchsorted(codes[order], np.arange(len(ids) + 1))
    out: dict[str | None, str] = {}
    for p in providers:
        if p is None:
            out[p] = digest_of(hashes[shown])
            continue
        c = _code(ids, p)
        mine = hashes[order[bounds[c] : bounds[c + 1]]] if c >= 0 else hashes[:0]
        out[p] = _sha(common + digest_of(mine))
    return out


def _code(ids: pd.Index, value: str) -> int:
    """Position of ``value`` among the factorized ids (-1 when absent)."""
    return int(ids.get_loc(value)) if value in ids else -1


def store_tables(store: Store) -> list[str]:
    """Aggregate tables in the store that packets may read (everything but ``NOT_READ``)."""
    if not store.tables_dir.exists():
        return []
    names = {p.stem for p in store.tables_dir.glob("*.parquet")}
    names |= {
        p.name for p in store.tables_dir.iterdir() if p.is_dir() and any(p.glob("**/*.parquet"))
    }
    return sorted(names - NOT_READ)


def data_digests(
    program_path: str | Path, store: Store, period: str, jobs: Iterable[object]
) -> dict[str, dict[str, str]]:
    """Component digests per job key: ``program`` plus one per table (``data.<table>``).

    ``jobs`` are ``batch.Job`` objects (anything with ``key`` and ``provider``).
    """
    jobs = list(jobs)
    program = _sha(Path(program_path).read_bytes())
    per_provider = table_digests(store, period, {getattr(j, "provider", None) for j in jobs})
    return {
        j.key: {"program": program}
        | {f"data.{t}": h for t, h in sorted(per_provider[getattr(j, "provider", None)].items())}
        for j in jobs
    }


def data_hashes(
    program_path: str | Path, store: Store, period: str, jobs: Iterable[object]
) -> dict[str, str]:
    """One data hash per job key (what ``batch.run(data_hashes=...)`` takes)."""
    return {k: combine(v) for k, v in data_digests(program_path, store, period, jobs).items()}


def combine(components: Mapping[str, str]) -> str:
    """One hash over named component hashes."""
    return _sha(json.dumps(dict(components), sort_keys=True))


def changed_components(old: Mapping[str, str], new: Mapping[str, str]) -> list[str]:
    """Names of components whose hash differs (or that appeared or disappeared)."""
    return sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))


# How each input of a packet is named in the manifest's reasons.
INPUT_NAMES = {
    "template": "notebook changed",
    "parameters": "parameters changed",
    "code": "package changed",
    "program": "program file changed",
    "data": "data changed",
}


def describe_changes(changed: Iterable[str]) -> str:
    """Plain reason for a rebuild from the names of changed inputs.

    ``["template", "data.metric_values", "data.quality"]`` ->
    ``"notebook changed; data changed (metric_values, quality)"``.
    """
    changed = list(changed)
    tables = [k.split(".", 1)[1] for k in changed if k.startswith("data.")]
    parts = [INPUT_NAMES.get(k, f"{k} changed") for k in changed if not k.startswith("data.")]
    if tables:
        parts.append(f"data changed ({', '.join(tables)})")
    return "; ".join(parts) or "inputs changed"
