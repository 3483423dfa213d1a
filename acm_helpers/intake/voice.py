"""Intake of survey responses and frontline reports: the second and third kinds of submission.

Each file goes through the steps episode submissions go through (:mod:`acm_helpers.intake.intake`),
with the same readers, parser, messages and tables:

1. whole-file problems (missing, empty, not CSV, no period, missing required column, unknown
   provider, a header but no rows, no row loadable) refuse the file with an :class:`IntakeError`
   naming it and the next step; the refusal is logged (``voice_submissions``, status
   ``rejected``) and the bytes kept under ``raw/rejected/<received date>/``;
2. the same bytes twice are a no-op ("already loaded");
3. text -> canonical types (:func:`acm_helpers.intake.parse.parse_chunk` with the kind's
   columns) -> the kind's pandera schema (``schema.surveys_schema`` / ``frontline_schema``);
   bad rows go to the shared ``quarantine`` table with file, row, field, value and reason; a
   repeated ``response_id`` / ``report_id`` is quarantined after its first row;
4. commit: the raw copy under ``raw/<period>/<provider>/<sha256>.csv`` (byte-for-byte), the
   partition ``<table>/<provider>/<period>.parquet`` (a new file for the same provider, period
   and kind replaces it), quarantine, and the log row (the earlier one marked ``superseded``).

Why a log of their own: the episodes log supersedes by provider and period, and a survey file
for October must not supersede October's episodes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import pandas as pd

from acm_helpers.core.config import Program
from acm_helpers.core.errors import IntakeError
from acm_helpers.core.schema import (
    FRONTLINE,
    FRONTLINE_COLUMNS,
    PANDAS_DTYPES,
    SCHEMA_VERSION,
    SURVEYS,
    VOICE_LOG_COLUMNS,
    VOICE_SUBMISSIONS,
    frontline_schema,
    survey_columns,
    surveys_schema,
)
from acm_helpers.intake import parse, readers, sniff
from acm_helpers.intake import quality as qc
from acm_helpers.intake.intake import SubmissionResult, provider_of, resolve_period
from acm_helpers.intake.readers import CSV_SUFFIXES
from acm_helpers.store.quality import QUARANTINE
from acm_helpers.store.store import Store, one_writer, sha256_file

CHUNK_ROWS = 100_000
WHO_REASON = "neither episode_id nor respondent_id is given"  # schema.surveys_schema's rule


@dataclass(frozen=True)
class Kind:
    """One kind of voice submission: its table, columns, schema and row id."""

    name: str
    table: str
    id_column: str
    columns: Callable[[Program], dict[str, tuple[str, bool]]]
    schema: Callable[..., object]
    needs: str  # the program-file block the kind needs


KINDS: dict[str, Kind] = {
    "survey": Kind(
        "survey", SURVEYS, "response_id", survey_columns, surveys_schema, "client_voice"
    ),
    "frontline": Kind(
        "frontline",
        FRONTLINE,
        "report_id",
        lambda program: dict(FRONTLINE_COLUMNS),
        frontline_schema,
        "frontline",
    ),
}


def kind_of(name: str) -> Kind:
    """The kind by name, or an IntakeError listing the known ones."""
    if name not in KINDS:
        raise IntakeError(f"unknown submission kind {name!r}; known: {', '.join(KINDS)}")
    return KINDS[name]


@one_writer("intake")
def intake_voice_file(
    path: str | Path,
    program: Program,
    store: Store,
    kind: str,
    period: str | None = None,
    received: date | str | None = None,
) -> SubmissionResult:
    """Load one survey or frontline file (``kind``: survey | frontline); see the module docstring.

    Raises:
        IntakeError: the file is refused whole (logged and kept first).
    """
    k = kind_of(kind)
    if getattr(program, k.needs) is None:
        raise IntakeError(
            f"Program {program.id} declares no {k.needs}: block, so {kind} submissions have no "
            f"columns to check. Add {k.needs}: to the program file (docs: manager/voice.md)."
        )
    path = Path(path)
    recv = pd.Timestamp(received).date() if received else date.today()
    seen: dict = {"file": path.name}
    try:
        return _load(path, program, store, k, period, recv, seen)
    except IntakeError as exc:
        _log(store, k, seen, recv, "rejected", reason=str(exc), path=path)
        raise


def _load(
    path: Path,
    program: Program,
    store: Store,
    k: Kind,
    period: str | None,
    received: date,
    seen: dict,
) -> SubmissionResult:
    if not path.is_file():
        raise IntakeError(f"{path}: no such file. Check the path.")
    if path.stat().st_size == 0:
        raise IntakeError(
            f"{path.name}: the file is empty (0 bytes). Ask the provider to send it again."
        )
    if path.suffix.lower() not in CSV_SUFFIXES:
        raise IntakeError(
            f"{path.name}: {k.name} submissions are read as CSV; save the sheet as CSV UTF-8."
        )
    seen["period"] = period = resolve_period(path, period, program)
    seen["sha256"] = sha = sha256_file(path)
    log = read_log(store)
    before = log[
        (log["sha256"] == sha)
        & (log["kind"] == k.name)
        & log["status"].isin(["current", "superseded"])
    ]
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
    cols = k.columns(program)
    required = [c for c, (_, req) in cols.items() if req]
    schema = k.schema(program, received)
    rules = parse.ParseRules.of(program)
    dialect = sniff.sniff(path)
    goods, problems, total, provider, header = [], [], 0, None, None
    for header, raw, skipped in readers.csv_chunks(path, dialect, CHUNK_ROWS):
        missing = [c for c in required if c not in header]
        if missing:
            raise IntakeError(
                f"{path.name}: missing required column(s) {', '.join(missing)} for a {k.name} "
                f"file. Found: {', '.join(header) or '(none)'}. Use the {k.name} template header "
                "(docs: manager/voice.md)."
            )
        raw = raw[~raw.isna().all(axis=1)]
        total += len(raw) + len(skipped)
        provider = seen["provider_id"] = provider_of(path, raw, program, provider)
        typed, bad = parse.parse_chunk(raw[[c for c in header if c in cols]], program, rules, cols)
        checked = _row_rules(qc.schema_problems(typed, raw, schema), raw)
        problems += [p for p in (bad, checked, skipped) if len(p)]
        goods.append(typed)
    if total == 0:
        raise IntakeError(f"{path.name}: a header but no data rows. Ask for the month's rows.")
    if provider is None:
        raise IntakeError(
            f"{path.name}: provider_id is blank on every row, so the provider is unknown. "
            f"Fill it in (known ids: {', '.join(program.provider_ids)})."
        )
    typed = pd.concat(goods)
    allbad = pd.concat(problems, ignore_index=True) if problems else parse.empty_problems()
    allbad = pd.concat([allbad, _duplicates(typed, k.id_column)], ignore_index=True)
    # a value that could not be parsed is also null: report it once, as unparseable
    allbad = allbad.drop_duplicates(["row", "field"], keep="first")
    good = typed.drop(index=allbad["row"].unique(), errors="ignore")
    quarantine = qc.quarantine_frame(allbad, sha, path.name, provider, period)
    rejected = int(allbad["row"].nunique()) if len(allbad) else 0
    seen["rows"] = (total, len(good), rejected)
    if len(quarantine):
        store.write_table(QUARANTINE, quarantine, part=sha)
    if good.empty:
        raise IntakeError(
            f"{path.name}: none of the {total:,} rows could be loaded; the reasons are in the "
            "quarantine table (`acm quality`). Fix and resend."
        )
    raw_path = store.keep_raw(path, provider, period, sha)
    good = good.assign(_period=period, _submission=sha, _row=good.index).astype(
        {"_period": "str", "_submission": "str", "_row": "Int64"}
    )
    store.write_table(k.table, good.reset_index(drop=True), part=f"{provider}/{period}")
    replaced = _log(
        store,
        k,
        seen,
        received,
        "current",
        raw_path=str(raw_path.relative_to(store.root)),
    )
    notes = [f"supersedes {replaced[:12]}"] if replaced else []
    notes += [f"{rejected:,} rows quarantined"] if rejected else []
    unknown = tuple(c for c in header or [] if c not in cols)
    notes += ["unknown columns kept in raw copy: " + ", ".join(unknown)] if unknown else []
    return SubmissionResult(
        file=path.name,
        status="loaded",
        provider_id=provider,
        period=period,
        sha256=sha,
        rows_total=total,
        rows_accepted=len(good),
        rows_rejected=rejected,
        supersedes=replaced,
        unknown_columns=unknown,
        message="; ".join(notes),
    )


def _row_rules(problems: pd.DataFrame, raw: pd.DataFrame) -> pd.DataFrame:
    """A rule over several fields (pandera reports it on every column) named on one field."""
    wide = problems["reason"] == WHO_REASON
    if not wide.any():
        return problems
    one = problems[wide].drop_duplicates("row").assign(field="episode_id")
    one["value"] = raw["episode_id"].reindex(one["row"].to_numpy()).to_numpy()
    return pd.concat([problems[~wide], one], ignore_index=True)


def _duplicates(typed: pd.DataFrame, id_column: str) -> pd.DataFrame:
    """Rows repeating an earlier row's id: quarantined, the first row kept."""
    ids = typed[id_column]
    dup = ids.notna() & ids.duplicated(keep="first")
    if not dup.any():
        return parse.empty_problems()
    first = {v: r for r, v in ids[ids.notna()][::-1].items()}
    return pd.DataFrame(
        {
            "row": typed.index[dup],
            "field": id_column,
            "value": ids[dup].to_numpy(),
            "reason": [
                f"duplicate {id_column} (first at row {first[v]}; later rows are not loaded)"
                for v in ids[dup]
            ],
        }
    )


# -- the log ---------------------------------------------------------------------------------------
def read_log(store: Store) -> pd.DataFrame:
    """The voice submissions log (every survey and frontline file seen), possibly empty."""
    log = store.read_table(VOICE_SUBMISSIONS)
    if log.empty:
        return pd.DataFrame(
            {c: pd.Series(dtype=PANDAS_DTYPES[t]) for c, t in VOICE_LOG_COLUMNS.items()}
        )
    return log


def _log(
    store: Store,
    k: Kind,
    seen: dict,
    received: date,
    status: str,
    reason: str = "",
    raw_path: str = "",
    path: Path | None = None,
) -> str | None:
    """Append a log row; a ``current`` row supersedes the kind's current one for its provider
    and period. Returns the superseded sha256 (None when nothing was replaced)."""
    total, accepted, rejected = seen.get("rows", (0, 0, 0))
    if status == "rejected" and path is not None and path.is_file():
        kept = store.keep_raw(path, received.isoformat(), "rejected", seen.get("sha256"))
        raw_path = str(kept.relative_to(store.root))
    row = {
        "kind": k.name,
        "sha256": seen.get("sha256") or "",
        "file": seen["file"],
        "provider_id": seen.get("provider_id") or "",
        "period": seen.get("period") or "",
        "received": pd.Timestamp(received),
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
    log = read_log(store)
    replaced = None
    if status == "current":
        old = (
            (log["kind"] == k.name)
            & (log["provider_id"] == row["provider_id"])
            & (log["period"] == row["period"])
            & (log["status"] == "current")
        )
        if old.any():
            replaced = str(log.loc[old, "sha256"].iloc[-1])
            log.loc[old, "status"] = "superseded"
            log.loc[old, "superseded_by"] = row["sha256"]
    new = pd.DataFrame([row], columns=list(VOICE_LOG_COLUMNS)).astype(
        {c: PANDAS_DTYPES[t] for c, t in VOICE_LOG_COLUMNS.items()}
    )
    store.write_table(VOICE_SUBMISSIONS, pd.concat([log, new], ignore_index=True))
    return replaced
