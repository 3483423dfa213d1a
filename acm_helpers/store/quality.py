"""The intake log tables, read: submissions, quarantine and the quality report.

Why here and not in intake: packets, the explorer and the CLI show data quality, and they may
read the store but not import intake (the import rule in ARCHITECTURE.md). Intake writes these
tables; everything else reads them through these functions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from acm_helpers.core.config import Program
from acm_helpers.store.store import Store

SUBMISSIONS, QUARANTINE, QUALITY = "submissions", "quarantine", "quality"
# HMIS exports: every finding of the reader and the mapping (orphans, unknown codes, left-out
# enrollments ...) with the ids of its records, one partition per period. Why a table of its own
# and not ids in ``quality.detail``: quality rows reach provider packets and their XLSX
# appendix, and record ids there would be client-level data (the packet audit refuses client
# ids); the quality rows carry the counts (``check`` = ``hmis_<kind>``), this table the ids,
# for ``acm quality`` and the agency's staff. ``provider_id`` "" = the whole export.
HMIS_FINDINGS = "hmis_findings"
HMIS_FINDINGS_COLUMNS = (
    "provider_id",
    "period",
    "sha256",
    "source",
    "kind",
    "table",
    "field",
    "code",
    "rows",
    "detail",
    "id_field",
    "ids",
)
# One row per loaded HMIS export and file: its live records and the export's dates and source
# (Export.csv SourceID). hmis.findings.fewer_rows compares a new export with these: a file cut
# exactly at a line break passes every format check, but has fewer records than before.
HMIS_EXPORTS = "hmis_exports"
HMIS_EXPORTS_COLUMNS = (
    "period",
    "sha256",
    "source",
    "source_id",
    "file",
    "rows",
    "export_start",
    "export_end",
    "loaded_at",
)


def summarize(quality: pd.DataFrame, fields: list[str] | None = None) -> dict:
    """A few headline numbers from one provider+period's quality rows, for packets.

    Returns rows total/accepted/rejected, mean completeness of the fields present (of
    ``fields`` only when given: the program's required fields, ``quality_rank.required_fields``,
    so a field blank by design does not pull the figure down), days late, and the three most
    frequent problems as sentences.
    """
    if quality.empty:
        return {
            "rows_total": 0,
            "rows_accepted": 0,
            "rows_rejected": 0,
            "completeness": np.nan,
            "days_late": np.nan,
            "top_problems": [],
            "formula_text": 0,
            "unknown_columns": [],
        }
    rows = quality[quality["check"] == "rows"].set_index("field")["value"]
    comp = quality[
        (quality["check"] == "completeness") & (quality["detail"] != "column not in the file")
    ]
    if fields is not None:
        comp = comp[comp["field"].isin(fields)]
    probs = quality[
        quality["check"].isin(
            ["invalid_value", "missing_required", "dates_out_of_order", "duplicate"]
        )
        | quality["check"].astype("str").str.startswith("hmis_")
    ]
    probs = probs.sort_values("value", ascending=False).head(3)
    late = quality.loc[quality["check"] == "timeliness", "value"]
    return {
        "rows_total": int(rows.get("total", 0)),
        "rows_accepted": int(rows.get("accepted", 0)),
        "rows_rejected": int(rows.get("rejected", 0)),
        "completeness": float(comp["value"].mean()) if len(comp) else np.nan,
        "days_late": float(late.iloc[0]) if len(late) else np.nan,
        "top_problems": [
            f"{int(v):,} rows: {f}: {d}"
            for f, v, d in zip(probs["field"], probs["value"], probs["detail"], strict=True)
        ],
        "formula_text": int(quality.loc[quality["check"] == "formula_text", "value"].sum()),
        "unknown_columns": quality.loc[quality["check"] == "unknown_column", "field"].tolist(),
    }


def quality_summary(store: Store, provider_id: str, period: str) -> pd.DataFrame:
    """The quality report rows of one provider and period (current submission), for packets.

    An empty frame means no submission for that provider and period; callers say so rather than
    showing an empty table (``quality.summarize`` turns the rows into headline numbers).
    """
    if not store.has_table(QUALITY):
        return pd.DataFrame(
            columns=["provider_id", "period", "sha256", "check", "field", "value", "detail"]
        )
    own = store.part_source(QUALITY, provider_id)  # its partitions only, when it has any
    return store.query(
        f"SELECT * FROM {own or QUALITY} WHERE provider_id = $p AND period = $q "
        'ORDER BY "check", field',
        {"p": provider_id, "q": period},
    )


def quality_summaries(store: Store, providers: list[str], period: str) -> dict[str, pd.DataFrame]:
    """:func:`quality_summary` for many providers of one period, from one query.

    Why: the monthly run's status grid and :func:`quality_overview` look at every provider; a
    query per provider made the grid grow to minutes at 1,000 providers.
    """
    if not store.has_table(QUALITY):
        return {p: quality_summary(store, p, period) for p in providers}
    rows = store.query(
        f'SELECT * FROM {QUALITY} WHERE period = $q ORDER BY provider_id, "check", field',
        {"q": period},
    )
    groups = {str(k): g.reset_index(drop=True) for k, g in rows.groupby("provider_id", sort=False)}
    return {p: groups.get(p, rows.iloc[:0]) for p in providers}


def quarantine_rows(
    store: Store, provider_id: str | None = None, period: str | None = None
) -> pd.DataFrame:
    """Quarantined rows (file, row, field, value, reason), optionally for one provider/period."""
    if not store.has_table(QUARANTINE):
        return pd.DataFrame(
            columns=["sha256", "file", "provider_id", "period", "row", "field", "value", "reason"]
        )
    q = store.read_table(QUARANTINE)
    if provider_id:
        q = q[q["provider_id"] == provider_id]
    if period:
        q = q[q["period"] == period]
    return q.sort_values(["period", "provider_id", "file", "row", "field"]).reset_index(drop=True)


def quality_overview(
    store: Store, program: Program, period: str, reports: dict[str, pd.DataFrame] | None = None
) -> pd.DataFrame:
    """One row per provider for a period: rows, rejects, completeness (of the program's
    required fields), days late, flags.

    Why: the intake notebook and the monthly run need a glance at every provider before
    opening any one report; ``quality_summary`` has the detail. ``reports``: the period's
    :func:`quality_summaries` when the caller has them already (the run's status grid).
    """
    from acm_helpers.store.quality_rank import required_fields

    fields, rows = required_fields(program), []
    if reports is None:
        reports = quality_summaries(store, program.provider_ids, period)
    for provider in program.provider_ids:
        s = summarize(reports[provider], fields)
        rows.append(
            {
                "provider_id": provider,
                "rows_total": s["rows_total"],
                "accepted": s["rows_accepted"],
                "rejected": s["rows_rejected"],
                "completeness": s["completeness"],
                "days_late": s["days_late"],
                "formula_text": s["formula_text"],
                "unknown_columns": ", ".join(s["unknown_columns"]),
                "top_problem": s["top_problems"][0] if s["top_problems"] else "",
            }
        )
    return pd.DataFrame(rows)


def quarantine_summary(
    store: Store, provider_id: str | None = None, period: str | None = None
) -> pd.DataFrame:
    """Rows quarantined per file, field and reason, with the first row number of each."""
    q = quarantine_rows(store, provider_id, period)
    if q.empty:
        return pd.DataFrame(
            columns=["file", "provider_id", "period", "field", "reason", "rows", "first_row"]
        )
    return (
        q.groupby(["file", "provider_id", "period", "field", "reason"], as_index=False)
        .agg(rows=("row", "nunique"), first_row=("row", "min"))
        .sort_values(["period", "provider_id", "rows"], ascending=[True, True, False])
        .reset_index(drop=True)
    )


def hmis_findings(
    store: Store, period: str | None = None, provider_id: str | None = None
) -> pd.DataFrame:
    """HMIS findings with their record ids (``HMIS_FINDINGS_COLUMNS``), for one period and
    provider; the whole-export findings (``provider_id`` "") are always included."""
    if not store.has_table(HMIS_FINDINGS):
        return pd.DataFrame(columns=list(HMIS_FINDINGS_COLUMNS))
    found = store.read_table(HMIS_FINDINGS)
    if period:
        found = found[found["period"] == period]
    if provider_id:
        found = found[found["provider_id"].isin([provider_id, ""])]
    return found.sort_values(["period", "provider_id", "kind", "table"]).reset_index(drop=True)
