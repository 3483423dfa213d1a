"""HUD's own reports from an HMIS export: CoC APR, ESG CAPER and the System Performance Measures.

``run_report(kind, export, start, end, out_dir, projects)`` reads the export once, builds every
question of the report as a DataFrame in HUD's table shell layout (:mod:`acm_helpers.hmis.apr`)
and writes each as ``<Qid>.csv`` plus one offline HTML page and one XLSX workbook of all
tables. HUD reports are internal (agencies submit them as they are): no suppression.

Reports are registered by name in :data:`REPORTS`: ``name -> builder(tables, projects, start,
end) -> dict[question id, DataFrame]``.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pandas as pd

from acm_helpers.core.errors import HmisError
from acm_helpers.hmis import apr, apr_quality, spm
from acm_helpers.hmis.export import read_export
from acm_helpers.hmis.universe import Universe, build_universe

ReportBuilder = Callable[..., dict[str, pd.DataFrame]]

# Question -> builder, in HUD's order. Q22a1 is the CoC APR's length table, Q22a2 the ESG
# CAPER's (spec Q22a1/Q22a2); Q23d exists from FY2024 (DestinationSubsidyType).
_COMMON_HEAD: tuple[tuple[str, Callable[[Universe], pd.DataFrame]], ...] = (
    ("Q4a", apr.q4a),
    ("Q5a", apr.q5a),
    ("Q6a", apr_quality.q6a),
    ("Q6b", apr_quality.q6b),
    ("Q6c", apr_quality.q6c),
    ("Q6d", apr_quality.q6d),
    ("Q6e", apr_quality.q6e),
    ("Q6f", apr_quality.q6f),
    ("Q7a", apr.q7a),
    ("Q8a", apr.q8a),
    ("Q10", apr.q10),
    ("Q11", apr.q11),
)


def _questions(u: Universe, length_table: str) -> dict[str, pd.DataFrame]:
    out = {qid: fn(u) for qid, fn in _COMMON_HEAD}
    out.update(apr.q12(u))
    out["Q13a1"] = apr.q13a1(u)
    out[length_table] = apr.q22a1(u) if length_table == "Q22a1" else apr.q22a2(u)
    out["Q22b"] = apr.q22b(u)
    out["Q22c"] = apr.q22c(u)
    out["Q22e"] = apr.q22e(u)
    out["Q23c"] = apr.q23c(u)
    if u.version != "2022":
        out["Q23d"] = apr.q23d(u)
    return out


def apr_tables(
    tables: dict, projects: list[str] | None, start: date | str, end: date | str
) -> dict[str, pd.DataFrame]:
    """Every CoC APR question this package builds, for ``projects`` (default all) and the period."""
    return _questions(build_universe(tables, start, end, projects), "Q22a1")


def caper_tables(
    tables: dict, projects: list[str] | None, start: date | str, end: date | str
) -> dict[str, pd.DataFrame]:
    """Every ESG CAPER question this package builds (the APR's, with Q22a2 for Q22a1)."""
    return _questions(build_universe(tables, start, end, projects), "Q22a2")


def spm_report(
    tables: dict, projects: list[str] | None, start: date | str, end: date | str
) -> dict[str, pd.DataFrame]:
    """The System Performance Measures (:func:`acm_helpers.hmis.spm.spm_tables`) in this module's
    frame layout: the shell's header row as the column labels, so every report is written alike."""
    out = {}
    for key, shell in spm.spm_tables(
        tables, _day(start, "--start"), _day(end, "--end"), projects
    ).items():
        body = shell.iloc[1:].reset_index(drop=True)
        body.columns = [("" if pd.isna(v) else str(v)) for v in shell.iloc[0]]
        out[key] = body
    return out


REPORTS: dict[str, ReportBuilder] = {"apr": apr_tables, "caper": caper_tables, "spm": spm_report}
TITLES = {
    "apr": "CoC Annual Performance Report (APR)",
    "caper": "ESG CAPER",
    "spm": "System Performance Measures",
}


def _day(value: date | str, what: str) -> date:
    try:
        return pd.Timestamp(value).date()
    except (ValueError, TypeError):
        raise HmisError(f"{what} {value!r} is not a date; write YYYY-MM-DD.") from None


def run_report(
    kind: str,
    export_path: str | Path,
    start: date | str,
    end: date | str,
    out_dir: str | Path,
    projects: list[str] | None = None,
) -> dict[str, pd.DataFrame]:
    """Build HUD report ``kind`` from an HMIS export and write its tables to ``out_dir``.

    Writes ``<Qid>.csv`` per question (row 1 HUD's column headers, column A the row labels, so
    cell B2 is HUD's B2), ``<kind>.html`` (one offline page, no scripts or CDN) and
    ``<kind>.xlsx`` (one sheet per question).

    Args:
        kind: a name in :data:`REPORTS` (``apr``, ``caper``, ``spm``).
        export_path: the HMIS CSV export (zip or folder); read, never changed.
        start, end: the report period (inclusive).
        out_dir: created if missing.
        projects: ProjectIDs of the report (several for a CoC grant); default every project.

    Returns:
        ``{question id: DataFrame}`` as written.

    Raises:
        HmisError: unknown report kind, bad dates, unknown project ids, unreadable export.
    """
    if kind not in REPORTS:
        raise HmisError(
            f"HUD report {kind!r} is not available; known reports: {', '.join(sorted(REPORTS))}."
        )
    s, e = _day(start, "--start"), _day(end, "--end")
    if e < s:
        raise HmisError(f"--end {e} is before --start {s}; swap them.")
    tables = read_export(export_path, files="all")
    result = REPORTS[kind](tables, projects, s, e)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for qid, frame in result.items():
        frame.to_csv(out / f"{qid}.csv", index=False)
    title = f"{TITLES.get(kind, kind.upper())}: {Path(export_path).name}, {s} to {e}"
    if projects:
        title += f", projects {', '.join(projects)}"
    (out / f"{kind}.html").write_text(_html(title, result), encoding="utf-8")
    with pd.ExcelWriter(out / f"{kind}.xlsx", engine="openpyxl") as xl:
        for qid, frame in result.items():
            frame.to_excel(xl, sheet_name=qid[:31], index=False)
    return result


# The questions' names as HUD's specifications title them (APR/CAPER; SPM measures).
QUESTION_NAMES = {
    "Q4a": "Project Identifiers in HMIS",
    "Q5a": "Report Validations Table",
    "Q6a": "Data Quality: Personally Identifiable Information",
    "Q6b": "Data Quality: Universal Data Elements",
    "Q6c": "Data Quality: Income and Housing Data Quality",
    "Q6d": "Data Quality: Chronic Homelessness",
    "Q6e": "Data Quality: Timeliness",
    "Q6f": "Data Quality: Inactive Records: Street Outreach and Emergency Shelter",
    "Q7a": "Number of Persons Served",
    "Q8a": "Households Served",
    "Q10": "Gender (FY2026: Sex)",
    "Q11": "Age",
    "Q12": "Race and Ethnicity",
    "Q12a": "Race",
    "Q12b": "Ethnicity",
    "Q13a1": "Physical and Mental Health Conditions at Start",
    "Q22a1": "Length of Participation - CoC Projects",
    "Q22a2": "Length of Participation - ESG Projects",
    "Q22b": "Average and Median Length of Participation in Days",
    "Q22c": "Length of Time between Project Start Date and Housing Move-in Date",
    "Q22e": "Length of Time Prior to Housing",
    "Q23c": "Exit Destination",
    "Q23d": "Exit Destination - Subsidy Type of Persons Exiting to Rental by Client With An "
    "Ongoing Subsidy",
    "1a": "Measure 1a, length of time persons remain homeless",
    "1b": "Measure 1b, length of time homeless including time before project start",
    "2a and 2b": "Measure 2, returns to homelessness after exits to permanent housing",
    "3.2": "Sheltered homeless persons",
    "5.1": "Persons homeless for the first time (ES, SH, TH)",
    "5.2": "Persons homeless for the first time (ES, SH, TH, PH)",
    "7a.1": "Exits from street outreach",
    "7b.1": "Exits to permanent housing",
    "7b.2": "Retention of or exits to permanent housing",
}


def _cell(value: object) -> str:
    """A table cell as text: blank for a cell HUD leaves blank (None, NaN)."""
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NA:
        return ""
    return html.escape(str(value))


def _html(title: str, result: dict[str, pd.DataFrame]) -> str:
    """One self-contained page: a contents list, then a table per question (wide tables scroll
    sideways inside their box, so the page never cuts a column off), inline CSS only."""
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title>",
        "<style>body{font-family:system-ui,sans-serif;margin:2em}table{border-collapse:collapse}"
        ".wrap{overflow-x:auto;max-width:100%;margin-bottom:2em}"
        "td,th{border:1px solid #999;padding:2px 6px;font-size:13px}"
        "td.n{text-align:right}th{background:#eee}nav a{margin-right:.8em}"
        "@media print{.wrap{overflow:visible}}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        "<p>Internal HUD report: counts are not suppressed.</p>",
        "<nav>"
        + "".join(f"<a href='#{html.escape(q)}'>{html.escape(q)}</a>" for q in result)
        + "</nav>",
    ]
    for qid, frame in result.items():
        name = QUESTION_NAMES.get(qid, "")
        heading = f"{qid}: {name}" if name else qid
        parts.append(
            f"<h2 id='{html.escape(qid)}'>{html.escape(heading)}</h2><div class='wrap'><table><tr>"
        )
        parts += [f"<th>{_cell(c)}</th>" for c in frame.columns]
        parts.append("</tr>")
        for row in frame.itertuples(index=False):
            cells = []
            for i, v in enumerate(row):
                cls = " class='n'" if i and isinstance(v, int | float) else ""
                cells.append(f"<td{cls}>{_cell(v)}</td>")
            parts.append("<tr>" + "".join(cells) + "</tr>")
        parts.append("</table></div>")
    parts.append("</body></html>")
    return "".join(parts)
