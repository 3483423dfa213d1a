"""What an HMIS intake records in the store besides the episodes: refusals, findings, counts.

Why a module of its own: reading and mapping (:mod:`acm_helpers.hmis.export`,
:mod:`acm_helpers.hmis.mapping`) are pure; this is the part of ``intake_export`` that writes:

- :func:`reject`: a refused export is logged ``rejected`` in ``submissions`` and kept
  byte-for-byte under ``raw/rejected/<received>/``; nothing else is written, so the export loaded
  before stays current (issue 14: "never supersedes a loaded one").
- :func:`fewer_rows`: the guard against a file cut exactly at a line break, which passes every
  format check: a new export of the same HMIS whose dates cover an earlier one's, but whose
  required files hold fewer records, is refused (``hmis_exports`` keeps each load's counts).
- :func:`write_findings`: every finding with its record ids in ``hmis_findings`` (one partition
  per period), and its counts in each provider's ``quality`` rows (``check`` = ``hmis_<kind>``).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd

from acm_helpers.core.errors import HmisError
from acm_helpers.hmis.mapping import HmisReport
from acm_helpers.store import quality as store_quality

Tables = dict[str, pd.DataFrame]  # hmis.export.HmisTables: frames by HUD file name
# Files whose record counts the guard compares (the ones episodes are built from).
GUARDED_FILES = ("Organization", "Project", "Client", "Enrollment", "Exit")


def reject(store, path: Path, received: date | str | None, reason: str) -> None:
    """Log a refused export, keep its bytes under ``raw/rejected/<received>/``, raise HmisError.

    Nothing else is written: the episodes, quality rows and the log's current rows of the export
    loaded before are left as they were, so the refused export never supersedes it.
    """
    from acm_helpers.intake import intake
    from acm_helpers.store.store import sha256_file

    recv = pd.Timestamp(received).date() if received else date.today()
    if not path.exists():
        raise HmisError(reason)
    with store.writing("logging a rejected HMIS export"):
        if path.is_file():
            sha = sha256_file(path)
            intake._log_rejected(store, {"file": path.name, "sha256": sha}, recv, reason, path)
            kept = store.keep_raw(path, recv.isoformat(), "rejected", sha)
            where = str(kept.relative_to(store.root))
        elif path.is_dir():
            files = sorted(path.rglob("*.csv"))
            for p in files:
                store.keep_raw(p, recv.isoformat(), "rejected")
            where = f"raw/{'rejected'}/{recv.isoformat()}/ ({len(files)} CSV files)"
            intake._log_rejected(
                store, {"file": path.name, "sha256": folder_sha(files)}, recv, reason, None
            )
    raise HmisError(
        f"{reason} The refused export is kept byte-for-byte as {where} and logged as rejected; "
        "the store's data were not changed, so what was loaded before stays current."
    ) from None


HMIS_EXPORTS = store_quality.HMIS_EXPORTS


def _span(tables: Tables) -> tuple[str, str]:
    """The export's ExportStartDate and ExportEndDate (ISO text, "" when blank)."""
    export = tables["Export"]
    out = []
    for col, pick in (("ExportStartDate", "min"), ("ExportEndDate", "max")):
        value = getattr(export[col], pick)() if col in export else pd.NaT
        out.append(value.date().isoformat() if pd.notna(value) else "")
    return out[0], out[1]


def _source_ids(tables: Tables) -> str:
    """The export's source system(s): Export.csv SourceID values, sorted and joined."""
    export = tables["Export"]
    ids = (
        export["SourceID"].dropna().astype(str) if "SourceID" in export else pd.Series(dtype="str")
    )
    return "; ".join(sorted(set(ids)))


def fewer_rows(store, tables: Tables, report: HmisReport) -> str:
    """Why the export looks cut (a required file lost records since the export loaded before
    whose span it covers), or "" when nothing says so."""
    if not store.has_table(HMIS_EXPORTS):
        return ""
    start, end = _span(tables)
    seen = store.read_table(HMIS_EXPORTS)
    # The same HMIS (Export.csv SourceID) only: another CoC's export is not an earlier copy.
    seen = seen[seen["source_id"] == _source_ids(tables)]
    inside = seen[(seen["export_start"] >= start) & (seen["export_end"] <= end)]
    inside = inside[inside["export_end"] != ""]
    if inside.empty or not start or not end:
        return ""
    last = inside[inside["loaded_at"] == inside["loaded_at"].max()]
    before = dict(zip(last["file"], last["rows"], strict=True))
    lost = [
        f"{name}.csv has {report.loaded[name]:,} records, {int(before[name]):,} before"
        for name in GUARDED_FILES
        if name in before and report.loaded.get(name, 0) < before[name]
    ]
    if not lost:
        return ""
    source = last["source"].iloc[0]
    return (
        f"{report.source}: {'; '.join(lost)} (in {source}, loaded {last['loaded_at'].iloc[0]}, "
        f"whose dates {last['export_start'].iloc[0]} to {last['export_end'].iloc[0]} this export "
        "covers). A file cut at the end of a row looks complete, so the export is refused. "
        "Export again from the HMIS; if records were really deleted there, load it with "
        "`--allow-fewer-rows`."
    )


def folder_sha(files: list[Path]) -> str:
    """One hash for an export given as a folder: of its files' names and hashes."""
    import hashlib

    from acm_helpers.store.store import sha256_file

    digest = hashlib.sha256()
    for p in files:
        digest.update(f"{p.name}:{sha256_file(p)}\n".encode())
    return digest.hexdigest()


def _id_providers(tables: Tables, provider_level: str) -> dict[str, pd.Series]:
    """Record id -> provider_id, per id field, for attributing findings to providers."""
    from acm_helpers.hmis.mapping import provider_table

    proj = tables["Project"]
    provs = provider_table(tables, provider_level).set_index("key")["provider_id"]
    if provider_level == "organization":
        by_project = proj.set_index("ProjectID")["OrganizationID"].map(provs)
    else:
        by_project = proj["ProjectID"].map(provs).set_axis(proj["ProjectID"])
    by_project = by_project[~by_project.index.duplicated()]
    enr = tables["Enrollment"]
    by_enrollment = pd.Series(
        enr["ProjectID"].map(by_project).to_numpy(), index=enr["EnrollmentID"].to_numpy()
    )
    by_enrollment = by_enrollment[~by_enrollment.index.duplicated()]
    ext = tables["Exit"]
    by_exit = pd.Series(
        ext["EnrollmentID"].map(by_enrollment).to_numpy(), index=ext["ExitID"].to_numpy()
    )
    by_person = pd.Series(
        by_enrollment.to_numpy(),
        index=enr["PersonalID"].to_numpy()[~enr["EnrollmentID"].duplicated().to_numpy()],
    )
    return {
        "ProjectID": by_project,
        "EnrollmentID": by_enrollment,
        "ExitID": by_exit[~by_exit.index.duplicated()],
        "PersonalID": by_person,
    }


def findings_table(
    tables: Tables, report: HmisReport, provider_level: str = "organization"
) -> pd.DataFrame:
    """The report's findings, one row per finding and provider, with the record ids.

    A finding whose records belong to several providers is split by provider (``rows`` = that
    provider's records); findings without record ids, and records of no provider (an orphan
    exit), have ``provider_id`` "" (the whole export).
    """
    maps = _id_providers(tables, provider_level)
    out = []
    for f in report.findings().to_dict("records"):
        base = {k: ("" if pd.isna(v) else v) for k, v in f.items() if k not in ("ids", "rows")}
        base["field"] = str(base.get("field") or "")
        base["code"] = str(base.get("code") or "")
        ids, lookup = f["ids"], maps.get(f["id_field"])
        if not ids or lookup is None:
            out.append({**base, "provider_id": "", "rows": int(f["rows"]), "ids": "; ".join(ids)})
            continue
        owner = pd.DataFrame({"id": ids})
        owner = owner.merge(
            lookup.rename("provider_id").rename_axis("id").reset_index(), on="id", how="left"
        )
        owner["provider_id"] = owner["provider_id"].fillna("").astype(str)
        for prov, part in owner.groupby("provider_id", sort=True):
            these = sorted(part["id"].unique())
            out.append({**base, "provider_id": prov, "rows": len(these), "ids": "; ".join(these)})
    cols = list(store_quality.HMIS_FINDINGS_COLUMNS)
    frame = pd.DataFrame(out, columns=[c for c in cols if c not in ("period", "sha256", "source")])
    return frame


def write_findings(
    store,
    tables: Tables,
    report: HmisReport,
    provider_level: str,
    period: str,
    sha: str,
    providers: list[str],
) -> None:
    """Write the findings with ids to ``hmis_findings`` (one partition per period: a newer
    export of the month replaces it) and their counts to each loaded provider's quality rows."""
    found = findings_table(tables, report, provider_level).assign(
        period=period, sha256=sha, source=report.source
    )
    found = found[list(store_quality.HMIS_FINDINGS_COLUMNS)].astype(
        {c: "str" for c in store_quality.HMIS_FINDINGS_COLUMNS if c != "rows"} | {"rows": "int64"}
    )
    start, end = _span(tables)
    counts = pd.DataFrame(
        {
            "period": period,
            "sha256": sha,
            "source": report.source,
            "source_id": _source_ids(tables),
            "file": list(report.loaded),
            "rows": [int(n) for n in report.loaded.values()],
            "export_start": start,
            "export_end": end,
            "loaded_at": pd.Timestamp.now().isoformat(timespec="seconds"),
        }
    )
    with store.writing("recording HMIS findings"):
        store.write_table(store_quality.HMIS_FINDINGS, found, part=period)
        store.append_table(HMIS_EXPORTS, counts[list(store_quality.HMIS_EXPORTS_COLUMNS)])
        for prov in providers:
            part = f"{prov}/{period}"
            path = store.table_path(store_quality.QUALITY, part)
            if not path.exists():
                continue
            quality = pd.read_parquet(path)
            quality = quality[~quality["check"].astype(str).str.startswith("hmis_")]
            mine = found[found["provider_id"] == prov]
            rows = pd.DataFrame(
                {
                    "provider_id": prov,
                    "period": period,
                    "sha256": quality["sha256"].iloc[0] if len(quality) else sha,
                    "check": "hmis_" + mine["kind"],
                    "field": [
                        ".".join(x for x in (t, f) if x)
                        for t, f in zip(mine["table"], mine["field"], strict=True)
                    ],
                    "value": mine["rows"].astype(float),
                    "detail": [
                        (f"code {c}: " if c else "")
                        + d
                        + (f" ({n}s in the agency's `acm quality` report)" if n else "")
                        for c, d, n in zip(
                            mine["code"], mine["detail"], mine["id_field"], strict=True
                        )
                    ],
                }
            )
            store.write_table(
                store_quality.QUALITY,
                pd.concat([quality, rows.astype(quality.dtypes.to_dict())], ignore_index=True),
                part=part,
            )
