"""Intake: provider submissions (CSV, XLSX) in, canonical episodes out, nothing lost.

For each file :func:`intake_file`:

1. refuses whole-file problems with an :class:`IntakeError` naming the file and the next step
   (too large, empty, header only, missing required column, undecodable or truncated, unknown
   provider, no period) and logs the submission as ``rejected``; the store's tables are left
   as they were and the file's bytes are kept under ``raw/rejected/<received date>/``;
2. hashes it: the same bytes twice are a no-op ("already loaded");
3. streams it in chunks (memory stays bounded): text -> canonical types -> the program's pandera
   schema (``quality.check_chunk``); bad rows go to the ``quarantine`` table with file, row,
   field, value and reason, good rows to a staged Parquet partition;
4. commits: raw copy under ``raw/<period>/<provider>/<sha256>.<ext>``, partition
   ``episodes_submitted/<provider>/<period>.parquet`` (a new file for the same provider and
   period replaces it), quarantine, the quality report, and the ``submissions`` log (the earlier
   submission is marked ``superseded``, both rows kept).

:func:`rebuild_episodes` then consolidates every partition into ``episodes`` (latest row per
provider and episode, plus ``derive`` columns). :func:`load_canonical` is the fast path for
frames that are already canonical (adapters, demo, tests).

Crash safety: each step above is an atomic write, and ``episodes`` carries a build record of the
partitions it was built from (``Store.outdated``). A run killed after a partition was committed
but before ``episodes`` was rebuilt leaves ``episodes`` outdated; the next intake (even of files
already loaded) or ``acm metrics`` rebuilds it (:func:`repair_episodes`) and says so.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from acm_helpers.core import errors
from acm_helpers.core.calendar import PERIOD_RE
from acm_helpers.core.config import Program
from acm_helpers.core.errors import AcmError, IntakeError, StoreError
from acm_helpers.core.schema import (
    PANDAS_DTYPES,
    REQUIRED_COLUMNS,
    SCHEMA_VERSION,
    SUBMISSION_COLUMNS,
    conform_episodes,
    episode_columns,
    episodes_schema,
)
from acm_helpers.intake import parse, readers, sniff
from acm_helpers.intake import quality as qc
from acm_helpers.intake.derive import derive_episodes
from acm_helpers.intake.readers import CSV_SUFFIXES, XLSX_SUFFIXES
from acm_helpers.store import limits
from acm_helpers.store.quality import QUALITY, QUARANTINE, SUBMISSIONS
from acm_helpers.store.store import EPISODES, SUBMITTED, Store, one_writer, sha256_file

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 2 * 1024**3  # 2 GiB; larger files are refused before anything is read
DEFAULT_CHUNK_ROWS = 250_000
INTERNAL = "intake failed on this file because of a bug in intake"
UNSUPPORTED = {  # suffix -> what the file is and what to send instead
    ".xls": "an Excel 97-2003 workbook (.xls); save it as .xlsx or CSV UTF-8",
    ".gz": "compressed (gzip); decompress it and send the CSV",
    ".zip": "a zip archive; extract the CSV or XLSX (for an HMIS CSV export use --format hmis)",
    ".ods": "an OpenDocument spreadsheet; save it as .xlsx or CSV UTF-8",
    ".numbers": "an Apple Numbers file; export it as .xlsx or CSV UTF-8",
    ".pdf": "a PDF document; ask for the rows as CSV or XLSX",
}
JUNK_FILES = {"thumbs.db", "desktop.ini"}  # written by file managers, never submissions
LOOKS_LIKE_PERIOD = re.compile(r"^\d{4}-\d{1,2}$")  # 2026-13, 2026-1: meant as a month


@dataclass(frozen=True)
class SubmissionResult:
    """What happened to one file. ``status`` is loaded, already loaded or rejected."""

    file: str
    status: str
    provider_id: str | None = None
    period: str | None = None
    sha256: str | None = None
    rows_total: int = 0
    rows_accepted: int = 0
    rows_rejected: int = 0
    supersedes: str | None = None  # sha256 of the submission this one replaced
    unknown_columns: tuple[str, ...] = ()
    message: str = ""


def results_frame(results: Iterable[SubmissionResult]) -> pd.DataFrame:
    """Results as a table (file, provider, period, status, accepted, rejected, message)."""
    rows = [
        {
            "file": r.file,
            "provider_id": r.provider_id or "",
            "period": r.period or "",
            "status": r.status,
            "rows_total": r.rows_total,
            "accepted": r.rows_accepted,
            "rejected": r.rows_rejected,
            "message": r.message,
        }
        for r in results
    ]
    return pd.DataFrame(
        rows,
        columns=[
            "file",
            "provider_id",
            "period",
            "status",
            "rows_total",
            "accepted",
            "rejected",
            "message",
        ],
    )


# -- public API ------------------------------------------------------------------------------
@one_writer("intake")
def intake_files(
    paths: str | Path | Iterable[str | Path],
    program: Program,
    store: Store,
    period: str | None = None,
    received: date | str | Mapping[str, date | str] | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    as_of: date | None = None,
    encoding: str | None = None,
) -> list[SubmissionResult]:
    """Load submissions (files or folders of them) and rebuild ``episodes`` once at the end.

    A file that is rejected entirely does not stop the others: its result has status
    ``rejected`` and the message says why and what to do. Folders are searched recursively for
    CSV and XLSX files, taken in path order (so a later correction supersedes an earlier file).

    Args:
        paths: files or folders.
        program: the program (providers, codes, destinations, outcome columns).
        store: where the data goes.
        period: YYYY-MM for every file; default: each file's parent folder name.
        received: when the files arrived (default today); dates after it are rejected and
            lateness is measured from it. A mapping gives one date per file, keyed by path or
            file name (files it does not name get today).
        max_bytes: larger files are refused without being read.
        chunk_rows: rows validated at a time (bounds memory).
        as_of: passed to :func:`rebuild_episodes`.
        encoding: the text encoding of every CSV, when it is not UTF-8 (with or without a
            byte-order mark) and the provider's ``encoding`` in the program file does not say.

    A folder that holds no file to take at all is refused too (a ``rejected`` result), so a
    run that would do nothing says so and ``acm intake`` exits 1.
    """
    if isinstance(paths, str | Path):
        paths = [paths]  # one path, not its characters
    results = []
    todo: list[Path] = []
    for given in paths:
        try:
            todo += _expand([given], period)
        except IntakeError as exc:  # a folder with nothing to take: refused like a file
            results.append(
                SubmissionResult(file=Path(given).name, status="rejected", message=str(exc))
            )
    for path in todo:
        recv = (
            received.get(str(path), received.get(path.name))
            if isinstance(received, Mapping)
            else received
        )
        try:
            results.append(
                intake_file(
                    path,
                    program,
                    store,
                    period,
                    recv,
                    max_bytes,
                    chunk_rows,
                    rebuild=False,
                    encoding=encoding,
                )
            )
        except IntakeError as exc:
            results.append(
                SubmissionResult(file=Path(path).name, status="rejected", message=str(exc))
            )
    if any(r.status == "loaded" for r in results):
        rebuild_episodes(store, program, as_of)
    elif repair_episodes(store, program, as_of):
        results = [_repaired(r) for r in results]
    return results


@one_writer("intake")
def intake_file(
    path: str | Path,
    program: Program,
    store: Store,
    period: str | None = None,
    received: date | str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    rebuild: bool = True,
    as_of: date | None = None,
    encoding: str | None = None,
) -> SubmissionResult:
    """Load one submission; raise :class:`IntakeError` (after logging it) if it is rejected whole.

    See the module docstring for the steps. ``rebuild=False`` leaves ``episodes`` to the caller
    (``intake_files`` rebuilds once for many files). ``encoding`` declares a CSV's text
    encoding (see :func:`intake_files`).

    No traceback reaches the user: an unexpected exception while reading or checking the file
    is a bug in intake, and is raised as an :class:`IntakeError` saying so (:data:`INTERNAL`),
    chained to the original, after the file is logged and kept like any refused file.
    """
    path = Path(path)
    recv = _as_date(received) or date.today()
    seen: dict = {"file": path.name, "encoding": encoding}
    try:
        result = _load(path, program, store, period, recv, max_bytes, chunk_rows, seen)
    except IntakeError as exc:
        _log_rejected(store, seen, recv, str(exc), path)
        raise
    except AcmError:
        raise  # the store or the configuration, not this file: the caller's message stands
    except Exception as exc:  # a bug: logged and kept, shown as a message, traceback chained
        err = IntakeError(
            f"{path.name}: {INTERNAL} ({type(exc).__name__}: {exc}). The file is kept and "
            "logged as rejected; send it with this message to the workbench's maintainers."
        )
        _log_rejected(store, seen, recv, str(err), path)
        raise err from exc
    if rebuild and result.status == "loaded":
        rebuild_episodes(store, program, as_of)
    elif rebuild and repair_episodes(store, program, as_of):
        result = _repaired(result)
    return result


@one_writer("rebuilding episodes")
def rebuild_episodes(store: Store, program: Program, as_of: date | None = None) -> pd.DataFrame:
    """Consolidate every current partition into ``episodes`` and add the derived columns.

    Why DuckDB: one window query over all partitions keeps the latest row per
    (provider_id, episode_id) by period, fast at a million rows. The derived columns
    (returns, length of stay ...) need every provider's episodes at once, so they are computed
    here, system-wide, not per file.
    """
    if not store.has_table(SUBMITTED):
        raise StoreError(
            f"{store}: no submissions loaded yet. Run `acm intake FILES --period YYYY-MM` first."
        )
    inputs = store.inputs_stamp(SUBMITTED)  # the lock is held: the partitions stay as stamped
    with store.connect() as con:
        rows = con.sql(f"SELECT count(*) FROM {SUBMITTED}").fetchall()[0][0]
        limits.check_fits(
            rows * limits.EPISODE_BYTES,
            f"{store}: rebuilding episodes ({rows:,} submitted rows, every provider at once for "
            "the returns to services)",
            todo="keep fewer months in the program (first_period) per data directory",
        )
        latest = (
            con.sql(
                f"SELECT * FROM {SUBMITTED} QUALIFY row_number() OVER "
                "(PARTITION BY provider_id, episode_id ORDER BY _period DESC, _row DESC) = 1 "
                "ORDER BY provider_id, episode_id"
            )
            .to_arrow_table()
            .to_pandas()
        )
    latest = conform_episodes(latest, program)  # rebound: the unconformed rows go at once
    episodes = derive_episodes(latest, as_of)
    del latest
    store.write_table(EPISODES, episodes)
    store.record_build(EPISODES, {SUBMITTED: inputs}, as_of=as_of.isoformat() if as_of else None)
    return episodes


REPAIRED = (
    "episodes were older than the committed submissions (an earlier run stopped before "
    "rebuilding them), so they were rebuilt from the committed partitions"
)


def repair_episodes(store: Store, program: Program, as_of: date | None = None) -> bool:
    """Rebuild ``episodes`` if it is behind the committed partitions; True when it was.

    Why: a run killed (or crashed) after committing a submission but before rebuilding
    ``episodes`` leaves rows that are logged "current" and sit in their partition yet never
    reach ``episodes``; re-running intake finds every file already loaded. So every intake and
    ``acm metrics`` ask :meth:`Store.outdated` first, and rebuild from the partitions (the
    committed state) when it says so. ``as_of`` defaults to the one the last build used. The
    write lock is taken only when there is something to repair.
    """
    if not store.outdated(EPISODES, SUBMITTED):
        return False
    with store.writing("repairing episodes"):
        if not store.outdated(EPISODES, SUBMITTED):  # another writer repaired it meanwhile
            return False
        if as_of is None and (last := store.build_record(EPISODES).get("as_of")):
            as_of = date.fromisoformat(last)
        rebuild_episodes(store, program, as_of)
        unlogged = unlogged_partitions(store)
    log.warning("%s: %s.", store.root, REPAIRED)
    for provider, period, sha in unlogged.itertuples(index=False):
        log.warning(
            "%s: %s holds submission %s, which the submissions log does not record as "
            "current (an intake stopped between committing it and logging it). Its rows are in "
            "episodes; run intake on that file again (its copy is under raw/%s/%s/) so the log "
            "and the quality report describe it.",
            store.root,
            store.table_path(SUBMITTED, f"{provider}/{period}").relative_to(store.root),
            sha[:12],
            period,
            provider,
        )
    return True


def unlogged_partitions(store: Store) -> pd.DataFrame:
    """Partitions whose submission the log does not record as current (provider_id, period,
    sha256): what a run killed after a partition's rename, before its log row, leaves."""
    sql = f"SELECT DISTINCT provider_id, _period AS period, _submission AS sha256 FROM {SUBMITTED}"
    parts = store.query(sql)
    log_ = _read_log(store)
    current = log_.loc[log_["status"] == "current", ["provider_id", "period", "sha256"]]
    both = parts.merge(current.drop_duplicates(), how="left", indicator=True)
    gone = both[both["_merge"] == "left_only"].drop(columns="_merge")
    return gone.sort_values(["provider_id", "period"], ignore_index=True)


def _repaired(result: SubmissionResult) -> SubmissionResult:
    """The result of a file that needed no loading, saying the store was repaired."""
    if result.status == "rejected":
        return result
    done = result.message.removesuffix("; nothing to do").removesuffix("nothing to do")
    return dataclasses.replace(result, message="; ".join(filter(None, [done, REPAIRED])))


@one_writer("loading episodes")
def load_canonical(
    store: Store,
    program: Program,
    episodes: pd.DataFrame,
    as_of: date | None = None,
    *,
    source: str = "canonical frame",
    received: date | str | None = None,
    rebuild: bool = True,
) -> pd.DataFrame:
    """Load an already-canonical frame (all providers, all periods) and rebuild ``episodes``.

    The fast path for adapters, the demo and tests: no text parsing, but the same pandera
    schema as file intake. A frame that fails it raises (an adapter bug, not provider data), with
    the first problems listed. Rows are written to one partition per provider and period:
    ``_period`` when the frame has it, else the enrollment month. Partitions not in the frame
    are left as they are. Each partition is logged as a submission named ``source``.

    Returns:
        The rebuilt ``episodes`` (or the conformed frame when ``rebuild=False``).
    """
    if episodes.empty:
        raise IntakeError(f"load_canonical: the {source} has no rows; nothing to load.")
    recv = _as_date(received)
    frame = conform_episodes(episodes, program).reset_index(drop=True)
    month = frame["enrollment_date"].dt.strftime("%Y-%m")
    frame["_period"] = (frame["_period"].fillna(month) if "_period" in frame else month).astype(
        "str"
    )
    frame.index = pd.RangeIndex(1, len(frame) + 1)
    problems = qc.schema_problems(frame, frame, episodes_schema(program, recv))
    dup = frame.duplicated(["provider_id", "episode_id", "_period"])
    if dup.any():
        problems = pd.concat(
            [
                problems,
                pd.DataFrame(
                    {
                        "row": dup[dup].index,
                        "field": "episode_id",
                        "value": frame.loc[dup, "episode_id"].to_numpy(),
                        "reason": "duplicate episode_id",
                    }
                ),
            ]
        )
    if len(problems):
        shown = "; ".join(
            f"row {r.row} {r.field}={r.value!r}: {r.reason}" for r in problems.head(5).itertuples()
        )
        raise IntakeError(
            f"load_canonical: {problems['row'].nunique():,} rows of the {source} break the episode "
            f"schema (first: {shown}). Fix the adapter that built the frame."
        )
    frame["_row"] = (frame.groupby(["provider_id", "_period"]).cumcount() + 1).astype("Int64")
    _write_canonical_parts(store, program, episodes, frame, recv, source)
    if not rebuild:
        return frame
    # the rebuild reads the partitions back: the checked copy is not needed through it (about
    # 3 GB at 10 million episodes). The caller's frame stays alive (the caller holds it while
    # this call runs): the memory check counts it as held.
    del frame
    return rebuild_episodes(store, program, as_of)


def _write_canonical_parts(
    store: Store,
    program: Program,
    episodes: pd.DataFrame,
    frame: pd.DataFrame,
    recv: date | None,
    source: str,
) -> None:
    """Write every provider x period partition of a checked canonical ``frame``, its quality
    report and its log row.

    Why all at once: a program of 1,000 providers over 12 months has 12,000 partitions, and
    doing each one's hash, Arrow conversion, report and log update on its own cost about 60 ms
    of pandas overhead per partition (load_canonical took 1,046 s for 101k episodes). So the
    row hashes are taken once for the whole frame (a partition's ``_submission`` is the
    SHA-256 of its rows' hashes, as before), the rows are sorted by partition (stable: a
    partition's rows keep the frame's order) and written batch by batch
    (:meth:`Store.write_table_parts`), the reports are one frame, and the log is updated once.
    """
    keys = ["provider_id", "_period"]
    fields = list(episode_columns(program))
    frame = frame.sort_values(keys, kind="stable")
    hashes = pd.util.hash_pandas_object(frame[fields], index=False).to_numpy()
    sizes = frame.groupby(keys, sort=False).size()
    ends = sizes.to_numpy().cumsum()
    shas = [
        hashlib.sha256(hashes[end - n : end].tobytes()).hexdigest()
        for end, n in zip(ends, sizes.to_numpy(), strict=True)
    ]
    frame["_submission"] = pd.Series(shas, dtype="str").repeat(sizes.to_numpy()).to_numpy()
    parts = [(f"{p}/{period}", int(n)) for (p, period), n in sizes.items()]
    store.write_table_parts(SUBMITTED, frame, parts)
    no_problems = qc.empty_problems()  # a canonical frame that passed the schema has none
    part_stats = qc.stats_by_part(frame, fields, [c for c in fields if c in episodes.columns], keys)
    reports, log_rows = [], []
    for ((provider, period), n), sha in zip(sizes.items(), shas, strict=True):
        rows = qc.report_rows(part_stats[(provider, period)], no_problems, program, period, recv, n)
        reports.append(((provider, period, sha), rows))
        n = int(n)
        log_rows.append(_log_row(sha, source, provider, period, recv, "current", n, n, 0))
    report = qc.report_frame(reports)
    counts = report.groupby(["provider_id", "period"], sort=False).size()
    store.write_table_parts(
        QUALITY, report, [(f"{p}/{period}", int(n)) for (p, period), n in counts.items()]
    )
    _update_log(store, log_rows)


def resolve_period(path: Path, period: str | None, program: Program) -> str:
    """The submission's month: ``period`` if given, else the parent folder's YYYY-MM name."""
    if period is None:
        if LOOKS_LIKE_PERIOD.match(path.parent.name) and not PERIOD_RE.match(path.parent.name):
            raise IntakeError(
                f"{path.name}: its folder {path.parent.name!r} is not a month (YYYY-MM, month "
                f"01 to 12, e.g. {program.last_period}). Rename the folder or pass --period YYYY-MM."
            )
        if not PERIOD_RE.match(path.parent.name):
            raise IntakeError(
                f"{path.name}: which month is this? Pass --period YYYY-MM, or put the file in "
                f"a folder named after the month (e.g. submissions/{program.last_period}/{path.name})."
            )
        period = path.parent.name
    try:
        return program.check_period(period)
    except AcmError as exc:
        raise IntakeError(f"{path.name}: {exc}") from None


# -- one file --------------------------------------------------------------------------------
def _load(
    path: Path,
    program: Program,
    store: Store,
    period: str | None,
    received: date,
    max_bytes: int,
    chunk_rows: int,
    seen: dict,
) -> SubmissionResult:
    if not path.is_file():
        raise IntakeError(f"{path}: no such file. Check the path.")
    size = path.stat().st_size
    if size > max_bytes:
        raise IntakeError(
            f"{path.name}: {_human(size)} is over the intake limit of {_human(max_bytes)}. Ask the "
            "provider to split it (one file per month), or raise the limit (max_bytes / --max-bytes)."
        )
    if size == 0:
        raise IntakeError(
            f"{path.name}: the file is empty (0 bytes). Ask the provider to send it again."
        )
    suffix = path.suffix.lower()
    if suffix not in CSV_SUFFIXES | XLSX_SUFFIXES:
        what = UNSUPPORTED.get(suffix)
        raise IntakeError(
            f"{path.name}: unsupported file type {suffix or '(none)'}"
            + (f": it is {what}." if what else "; send CSV or XLSX ")
            + ("" if what else "(for an HMIS CSV export use --format hmis).")
        )
    seen["period"] = period = resolve_period(path, period, program)
    seen["sha256"] = sha = sha256_file(path)
    log = _read_log(store)
    before = log[(log["sha256"] == sha) & log["status"].isin(["current", "superseded"])]
    if len(before):
        b = before.iloc[-1]
        return SubmissionResult(
            file=path.name,
            status="already loaded",
            provider_id=b["provider_id"],
            period=b["period"],
            sha256=sha,
            rows_total=int(b["rows_total"]),
            rows_accepted=int(b["rows_accepted"]),
            rows_rejected=int(b["rows_rejected"]),
            message=f"same file as {b['file']} ({b['status']}); nothing to do",
        )
    ingest = functools.partial(_ingest, path, program, store, period, sha, received, seen)
    if suffix in XLSX_SUFFIXES:
        return ingest(lambda: readers.xlsx_chunks(path, chunk_rows))
    declared = {p.id: p.encoding for p in program.providers if p.encoding}
    dialect = sniff.sniff(path, seen.get("encoding"), declared)
    try:  # fast reader first; any irregular line -> the exact (slower) one, from the start
        return ingest(lambda: readers.arrow_chunks(path, dialect, chunk_rows))
    except errors.Irregular:
        return ingest(lambda: readers.csv_chunks(path, dialect, chunk_rows))


def _ingest(
    path: Path,
    program: Program,
    store: Store,
    period: str,
    sha: str,
    received: date,
    seen: dict,
    open_chunks,
) -> SubmissionResult:
    cols = episode_columns(program)
    required = REQUIRED_COLUMNS + [
        c for c, (_, req) in cols.items() if req and c not in REQUIRED_COLUMNS
    ]
    schema = episodes_schema(program, received)
    stats = qc.FileStats(fields=list(cols))
    problems: list[pd.DataFrame] = []
    ids = pd.Series(dtype="int64")
    provider, staged = None, None
    rules = parse.ParseRules.of(program)  # limits, and the decimal separator kept across chunks
    try:
        for header, raw, skipped in open_chunks():
            if not stats.columns_in_file:
                _check_header(path, header, required)
                stats.columns_in_file = [c for c in header if c in cols]
                stats.unknown_columns = [c for c in header if c not in cols]
            blank = raw.isna().all(axis=1)
            raw = raw[~blank]
            provider = seen["provider_id"] = provider_of(path, raw, program, provider)
            if provider is not None:
                rules.decimal = program.provider(provider).decimal
            stats.update(raw, blank_rows=int(blank.sum()))
            stats.rows += len(skipped)
            good, bad, ids = qc.check_chunk(
                raw[[c for c in header if c in cols]], program, schema, ids, rules
            )
            problems += [p for p in (bad, skipped) if len(p)]
            if len(good):
                staged = staged or store.stage(SUBMITTED, f"{provider}/{period}")
                staged.write(
                    good.assign(_period=period, _submission=sha, _row=good.index).astype(
                        {"_period": "str", "_submission": "str", "_row": "Int64"}
                    )
                )
        if stats.rows == 0:
            raise IntakeError(
                f"{path.name}: a header but no data rows. Ask the provider for the month's rows."
            )
        if provider is None:
            raise IntakeError(
                f"{path.name}: provider_id is blank on every row, so the provider is unknown. "
                f"Fill it in (known ids: {', '.join(program.provider_ids)})."
            )
        allbad = pd.concat(problems, ignore_index=True) if problems else qc.empty_problems()
        quarantine = qc.quarantine_frame(allbad, sha, path.name, provider, period)
        accepted = staged.rows if staged else 0
        if accepted == 0:
            store.write_table(QUARANTINE, quarantine, part=sha)
            seen["rows"] = (stats.rows, 0, int(allbad["row"].nunique()))
            raise IntakeError(
                f"{path.name}: none of the {stats.rows:,} rows could be loaded; the reasons are in "
                "the quarantine table (`acm quality`, or intake.quarantine_summary). Fix and resend."
            )
        # commit: everything is validated; from here on only copies, renames and small writes
        raw_path = store.keep_raw(path, provider, period, sha)
        staged.commit()
    finally:
        if staged is not None:
            staged.discard()
    if len(quarantine):
        store.write_table(QUARANTINE, quarantine, part=sha)
    report = qc.quality_report(stats, allbad, program, provider, period, sha, received, accepted)
    store.write_table(QUALITY, report, part=f"{provider}/{period}")
    rejected = int(allbad["row"].nunique()) if len(allbad) else 0
    row = _log_row(
        sha,
        path.name,
        provider,
        period,
        received,
        "current",
        stats.rows,
        accepted,
        rejected,
        raw_path=str(raw_path.relative_to(store.root)),
    )
    replaced = _update_log(store, [row])
    return SubmissionResult(
        file=path.name,
        status="loaded",
        provider_id=provider,
        period=period,
        sha256=sha,
        rows_total=stats.rows,
        rows_accepted=accepted,
        rows_rejected=rejected,
        supersedes=replaced.get((provider, period)),
        unknown_columns=tuple(stats.unknown_columns),
        message=_message(stats, rejected, replaced.get((provider, period))),
    )


def _message(stats: qc.FileStats, rejected: int, replaced: str | None) -> str:
    parts = []
    if replaced:
        parts.append(f"supersedes {replaced[:12]}")
    if rejected:
        parts.append(f"{rejected:,} rows quarantined")
    if stats.unknown_columns:
        parts.append("unknown columns kept in raw copy: " + ", ".join(stats.unknown_columns))
    if stats.formula:
        parts.append(f"{sum(stats.formula.values())} formula-like values stored as text")
    return "; ".join(parts)


def _check_header(path: Path, header: list[str], required: list[str]) -> None:
    dupes = sorted({c for c in header if header.count(c) > 1})
    if dupes:
        raise IntakeError(
            f"{path.name}: column(s) {', '.join(dupes)} appear more than once in the header. "
            "Remove the duplicates and resend."
        )
    missing = [c for c in required if c not in header]
    if missing:
        raise IntakeError(
            f"{path.name}: missing required column(s) {', '.join(missing)}. Found: "
            f"{', '.join(header) or '(none)'}. Use the program's template header."
        )


def provider_of(
    path: Path, raw: pd.DataFrame, program: Program, provider: str | None
) -> str | None:
    """The one known provider whose rows ``raw`` (a chunk of ``path``) holds, checked against
    ``provider`` (found in an earlier chunk); every kind of submission uses it (episodes,
    surveys, frontline reports). An unknown id, or two providers in one file, is an IntakeError."""
    values = raw["provider_id"].dropna().astype("str").str.strip().str.lower()
    values = values[values != ""].unique()
    for value in values:
        if provider is None:
            if value not in program.provider_ids:
                raise IntakeError(
                    f"{path.name}: unknown provider {value!r}. Known providers: "
                    f"{', '.join(program.provider_ids)}. Fix provider_id or add the provider to the program file."
                )
            provider = value
        elif value != provider and value in program.provider_ids:
            raise IntakeError(
                f"{path.name}: rows for both {provider!r} and {value!r}; send one file per provider."
            )
    return provider


# -- the submissions log ---------------------------------------------------------------------
def _read_log(store: Store) -> pd.DataFrame:
    log = store.read_table(SUBMISSIONS)
    if log.empty:
        return pd.DataFrame(
            {c: pd.Series(dtype=PANDAS_DTYPES[t]) for c, t in SUBMISSION_COLUMNS.items()}
        )
    return log


def _log_row(
    sha: str | None,
    file: str,
    provider: str | None,
    period: str | None,
    received: date | None,
    status: str,
    total: int,
    accepted: int,
    rejected: int,
    raw_path: str = "",
    reason: str = "",
) -> dict:
    return {
        "sha256": sha or "",
        "file": file,
        "provider_id": provider or "",
        "period": period or "",
        "received": pd.Timestamp(received) if received else pd.NaT,
        "loaded_at": datetime.now().isoformat(timespec="seconds"),
        "status": status,
        "rows_total": total,
        "rows_accepted": accepted,
        "rows_rejected": rejected,
        "schema_version": SCHEMA_VERSION,
        "superseded_by": "",
        "raw_path": raw_path,
        "reason": reason,
    }


def _update_log(store: Store, rows: list[dict]) -> dict[tuple[str, str], str]:
    """Append log rows; a new ``current`` row supersedes the current one of its provider+period.

    Every caller logs at most one ``current`` row per provider and period. The log is matched
    against all the rows in one pass (``load_canonical`` logs thousands at once: a pandas mask
    per row cost a minute at 1,000 providers).
    """
    log = _read_log(store)
    replaced: dict[tuple[str, str], str] = {}
    new_sha = {
        (r["provider_id"], r["period"]): r["sha256"] for r in rows if r["status"] == "current"
    }
    if new_sha and len(log):
        keys = list(zip(log["provider_id"], log["period"], strict=True))
        current = (log["status"] == "current").to_numpy(dtype=bool, na_value=False)
        same = current & np.array(
            [new_sha.get(k) == sha for k, sha in zip(keys, log["sha256"], strict=True)],
            dtype=bool,
        )
        log = log[~same]  # reloading identical content: keep one row
        keys = [k for k, s in zip(keys, same, strict=True) if not s]
        # dtype=bool: every row may be a reload of identical content, leaving no key
        old = current[~same] & np.array([k in new_sha for k in keys], dtype=bool)
        if old.any():
            hit = [k for k, o in zip(keys, old, strict=True) if o]
            replaced = dict(zip(hit, map(str, log.loc[old, "sha256"]), strict=True))
            log = log.copy()
            log.loc[old, "status"] = "superseded"
            log.loc[old, "superseded_by"] = [new_sha[k] for k in hit]
    new = pd.DataFrame(rows, columns=list(SUBMISSION_COLUMNS))
    new = new.astype({c: PANDAS_DTYPES[t] for c, t in SUBMISSION_COLUMNS.items()})
    store.write_table(SUBMISSIONS, pd.concat([log, new], ignore_index=True) if len(log) else new)
    return replaced


def _log_rejected(
    store: Store, seen: dict, received: date, reason: str, path: Path | None = None
) -> None:
    """Log a refused file and keep its bytes (``raw/rejected/<received>/``): nothing is lost, so
    the agency can show the provider exactly what arrived and why it was refused."""
    total, accepted, rejected = seen.get("rows", (0, 0, 0))
    raw_path = ""
    if path is not None and path.is_file():
        kept = store.keep_raw(path, received.isoformat(), "rejected", seen.get("sha256"))
        raw_path = str(kept.relative_to(store.root))
    _update_log(
        store,
        [
            _log_row(
                seen.get("sha256"),
                seen["file"],
                seen.get("provider_id"),
                seen.get("period"),
                received,
                "rejected",
                total,
                accepted,
                rejected,
                raw_path=raw_path,
                reason=reason,
            )
        ],
    )


# -- small helpers ---------------------------------------------------------------------------
def _expand(paths: Iterable[str | Path], period: str | None) -> list[Path]:
    """Files, and the submissions under folders.

    Under a folder, files are taken from YYYY-MM folders only (any folder when a period is
    given), so a folder's notes or received-dates file is not taken for a submission. Folders
    named like a month that is not one (``2026-13``) are taken, so their files are refused with
    that reason; so are the files of a month folder that holds no CSV or XLSX at all (only
    ``.xls`` or ``.csv.gz``): each is refused, logged and kept, and the run exits 1 instead of
    doing nothing.

    Raises:
        IntakeError: a folder with no file to take at all.
    """
    out: list[Path] = []
    readable = CSV_SUFFIXES | XLSX_SUFFIXES
    for p in map(Path, paths):
        if not p.is_dir():
            out.append(p)
            continue
        files = sorted(
            f
            for f in p.rglob("*")
            if f.is_file() and not f.name.startswith(".") and f.name.lower() not in JUNK_FILES
        )
        monthly = [
            f
            for f in files
            if period is not None
            or PERIOD_RE.match(f.parent.name)
            or LOOKS_LIKE_PERIOD.match(f.parent.name)
        ]
        folders: dict[Path, list[Path]] = {}
        for f in monthly:
            folders.setdefault(f.parent, []).append(f)
        taken = []
        for folder, group in folders.items():
            submissions = [f for f in group if f.suffix.lower() in readable]
            if not submissions and LOOKS_LIKE_PERIOD.match(folder.name):
                submissions = group  # a month with no readable file: refuse each, saying what it is
            taken += submissions
        if not taken:
            found = ", ".join(f.relative_to(p).as_posix() for f in files[:5]) or "nothing"
            raise IntakeError(
                f"{p}: no submission to take (found: {found}{', ...' if len(files) > 5 else ''}). "
                "Put each month's CSV or XLSX files in a folder named after the month "
                f"(e.g. {p}/2026-10/), or pass --period YYYY-MM."
            )
        out += sorted(taken)
    return out


def _as_date(value: date | str | None) -> date | None:
    if value is None or isinstance(value, date):
        return value.date() if isinstance(value, datetime) else value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise IntakeError(f"received date {value!r} is not YYYY-MM-DD.") from None


def _human(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n} bytes"
