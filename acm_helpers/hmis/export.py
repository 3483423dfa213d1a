"""HUD HMIS CSV exports (FY2022, FY2024, FY2026 formats) in, canonical episodes out.

Three steps, each usable alone:

1. :func:`read_export` reads an export (zip or folder) into one frame per CSV file, refusing
   files that break HUD's CSV format or lack a column their version requires
   (:mod:`acm_helpers.hmis.csv_spec`), detecting the CSV version from Export.csv
   (``CSVVersion``; an unknown one is refused unless ``assume_version`` says how to read it),
   ignoring Export.csv rows that no data uses, keeping the latest version of each record
   across merged exports (several ExportIDs), dropping deleted records (``DateDeleted``) and
   parsing vendor date formats. What it finds is recorded in ``tables.report``.
2. :func:`to_episodes` maps Client, Enrollment, Exit, Project and Organization onto canonical
   episodes (one row per enrollment) with the HUD rules in :mod:`acm_helpers.core.hud`.
3. :func:`intake_export` keeps the raw export byte-for-byte and loads the episodes into the
   store through ``intake.load_canonical``; a refused export is logged and kept under
   ``raw/rejected/`` and changes nothing else (:mod:`acm_helpers.hmis.findings`).

Nothing is dropped silently: unknown codes, orphan records, unparseable dates and excluded
enrollments are counted in the :class:`HmisReport`, with the file and field they came from and
the ids of their records (stored in ``hmis_findings``, printed by ``acm quality``).
Names, SSNs and other identifying fields are never read into episodes (hashed or not).
"""

from __future__ import annotations

import copy
import io
import zipfile
from collections.abc import Iterable
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from acm_helpers.core import hud
from acm_helpers.core.errors import HmisError
from acm_helpers.hmis import csv_spec, findings
from acm_helpers.hmis.mapping import HmisReport, explode_races

REQUIRED_FILES = ("Export", "Organization", "Project", "Client", "Enrollment", "Exit")
OPTIONAL_FILES = (
    "ProjectCoC",
    "Funder",
    "Inventory",
    "CEParticipation",
    "HMISParticipation",
    "Event",
)
ALL_FILES = (
    REQUIRED_FILES
    + OPTIONAL_FILES
    + (
        "Affiliation",
        "Assessment",
        "AssessmentQuestions",
        "AssessmentResults",
        "CurrentLivingSituation",
        "Disabilities",
        "EmploymentEducation",
        "HealthAndDV",
        "IncomeBenefits",
        "Services",
        "User",
        "YouthEducationStatus",
    )
)
# CSV spec: the first column of each file is its primary key.
PRIMARY_KEYS = {
    "Export": "ExportID",
    "Organization": "OrganizationID",
    "Project": "ProjectID",
    "Client": "PersonalID",
    "Enrollment": "EnrollmentID",
    "Exit": "ExitID",
    "ProjectCoC": "ProjectCoCID",
    "Funder": "FunderID",
    "Inventory": "InventoryID",
    "CEParticipation": "CEParticipationID",
    "HMISParticipation": "HMISParticipationID",
    "Event": "EventID",
}
ID_COLUMNS = set(PRIMARY_KEYS.values()) - {"ExportID"} | {
    "PersonalID",
    "EnrollmentID",
    "ProjectID",
    "OrganizationID",
    "HouseholdID",
}
DATE_COLUMNS = {
    "Export": ("ExportDate", "ExportStartDate", "ExportEndDate"),
    "Project": ("OperatingStartDate", "OperatingEndDate"),
    "Client": ("DOB",),
    "Enrollment": ("EntryDate", "MoveInDate", "DateOfEngagement"),
    "Exit": ("ExitDate",),
    "Event": ("EventDate",),
}
AUDIT_DATES = ("DateUpdated",)  # parsed for "latest version wins"; never loaded
# Date part only: times ("2021-04-29 07:37:40", "4/29/2021 7:37 AM") are cut off first. Order
# breaks ties: ISO, then US month-first forms, then day-first forms (chosen only when they parse
# more of a column, e.g. "13-06-19").
DATE_FORMATS = (
    "%Y-%m-%d",
    "%m/%d/%Y",
    "%m/%d/%y",
    "%Y/%m/%d",
    "%Y%m%d",
    "%m-%d-%Y",
    "%m-%d-%y",
    "%d-%m-%y",
    "%d-%m-%Y",
    "%d/%m/%Y",
    "%d.%m.%Y",
)
NA_TEXT = ["", "NULL", "null"]


def _decode(data: bytes, name: str, path: Path) -> str:
    """The file's text, decoded strictly as UTF-8 (a byte-order mark allowed).

    Never a fallback to a guessed code page: one bad byte would turn every accented name into
    mojibake and rewrite ids (the intake rule, :mod:`acm_helpers.intake.sniff`). The HMIS CSV
    Format Specifications call for UTF-8 files.
    """
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise HmisError(
            f"{path.name}: {name}.csv is not valid UTF-8: byte {exc.start:,} (line {line:,}) is "
            f"0x{data[exc.start]:02x}. HUD's CSV format is UTF-8; export the file again from the "
            "HMIS (or re-save it as UTF-8) and load the new export."
        ) from None


class HmisTables(dict):
    """``dict[str, DataFrame]`` of an export's files (by name, e.g. ``"Client"``) with its report."""

    report: HmisReport


# -- reading ----------------------------------------------------------------------------------
def read_export(
    path: str | Path,
    files: Iterable[str] | str | None = None,
    assume_version: str | None = None,
) -> HmisTables:
    """Read an HMIS CSV export (a .zip or a folder) into one frame per file.

    Every file read is checked against HUD's HMIS CSV Format Specifications for its version
    (:mod:`acm_helpers.hmis.csv_spec`): CSV quoting, one field per column in every record, a
    line break after the last record (a file cut mid-row is refused) and the columns its section
    requires (a missing or renamed column is refused). Export.csv rows whose ExportID no data
    file uses are left out (listed in the report), so they cannot move the export's dates.

    Args:
        path: the export zip or the folder holding its CSV files (nested folders are searched).
        files: file names to read (``"Client"``...); default the required files plus the optional
            project descriptors; ``"all"`` for every HUD file present.
        assume_version: read every ExportID as this CSV version (``"2026"``, ``"2024 v1.2"``)
            whatever Export.csv's CSVVersion says: the explicit override for an export whose
            version label is wrong or one we do not know (``acm intake --assume-version``).

    Returns:
        ``HmisTables``: frames of text columns (blank -> missing), date columns parsed to
        ``datetime64[us]``, deleted and superseded records removed, and a ``_version`` column
        (the CSV version of the row's ExportID). ``tables.report`` says what was found.

    Raises:
        HmisError: the path does not exist or is not a zip/folder, a zip member's path leaves the
            export, a required file is missing, a file breaks the CSV format or lacks a required
            column, or the CSV version is not one we read (and ``assume_version`` is not given).
    """
    path = Path(path)
    assumed = _assumed_version(assume_version)
    members = _members(path)
    report = HmisReport(source=path.name)
    wanted = ALL_FILES if files == "all" else tuple(files or REQUIRED_FILES + OPTIONAL_FILES)
    missing = [f"{name}.csv" for name in REQUIRED_FILES if name not in members]
    if missing:
        found = ", ".join(sorted(f"{m}.csv" for m in members)) or "no HUD CSV files"
        raise HmisError(
            f"{path}: required HMIS file(s) missing: {', '.join(missing)} (found: {found}). "
            "Export again with every HMIS CSV file (HMIS CSV Format Specifications: Export, "
            "Organization, Project, Client, Enrollment and Exit are required)."
        )
    report.optional_missing = [
        f"{n}.csv" for n in OPTIONAL_FILES if n in wanted and n not in members
    ]
    report.files_not_read = sorted(f"{m}.csv" for m in members if m not in wanted)
    tables = HmisTables()
    for name in [n for n in ALL_FILES if n in wanted and n in members]:
        tables[name] = _read_csv(path, members[name], name, report)
        report.files_read.append(f"{name}.csv")
        report.rows_in_files[name] = len(tables[name])
    csv_spec.check_export_columns(list(tables["Export"].columns), path.name, assumed)
    _drop_exports_without_data(tables, report, path)
    _detect_versions(tables, report, path, assumed)
    for name, frame in tables.items():
        if name == "Export":
            continue  # checked above, before the version was known
        used = (
            set(frame["ExportID"].dropna().map(report.versions).dropna())
            if "ExportID" in frame
            else set()
        )
        for version in sorted(used or {report.version}):
            csv_spec.check_columns(list(frame.columns), name, version, path.name)
    for name, frame in list(tables.items()):
        tables[name] = _clean(frame, name, tables["Export"], report)
        report.loaded[name] = len(tables[name])
    tables.report = report
    return tables


def _assumed_version(value: str | None) -> str | None:
    """The version ``--assume-version`` names, or ``None``; an unknown one is refused."""
    if value is None or str(value).strip() == "":
        return None
    version = hud.csv_version(value)
    if version is None:
        raise HmisError(
            f"--assume-version {value!r} is not an HMIS CSV version this workbench reads. Use "
            f"one of: {', '.join(hud.SUPPORTED_VERSIONS)}."
        )
    return version


def _members(path: Path) -> dict[str, tuple[str, str]]:
    """HUD file name -> (kind, location) for every CSV in the zip or folder (case-insensitive).

    A zip whose members include an absolute path or a ``..`` step is refused whole: nothing is
    ever extracted, but such an archive was not written by an HMIS and cannot be trusted.
    """
    known = {n.lower(): n for n in ALL_FILES}
    found: dict[str, tuple[str, str]] = {}
    if path.is_dir():
        for p in sorted(path.rglob("*")):
            if p.is_file() and p.suffix.lower() == ".csv" and p.stem.lower() in known:
                found.setdefault(known[p.stem.lower()], ("dir", str(p)))
    elif path.is_file() and zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as zf:
                infos = zf.infolist()
        except zipfile.BadZipFile as exc:
            raise HmisError(
                f"{path.name} is a damaged zip file ({exc}). Export again from the HMIS."
            ) from None
        for info in infos:
            name = info.filename.replace("\\", "/")
            parts = [p for p in name.split("/") if p]
            if name.startswith("/") or ".." in parts or (parts and ":" in parts[0]):
                raise HmisError(
                    f"{path.name}: zip member {info.filename!r} has a path outside the export "
                    "(an absolute path or '..'), so the zip is refused and nothing was read. "
                    "Zip the export again with its CSV files at the top level (or in one folder)."
                )
            stem = Path(name).stem.lower()
            if not info.is_dir() and name.lower().endswith(".csv") and stem in known:
                found.setdefault(known[stem], ("zip", info.filename))
    elif path.exists():
        raise HmisError(
            f"{path} is neither a zip file nor a folder. Pass the HMIS CSV export zip or "
            "the folder it was unzipped to."
        )
    else:
        raise HmisError(f"{path} does not exist. Pass the HMIS CSV export zip or its folder.")
    return found


def _read_csv(
    path: Path, member: tuple[str, str], name: str, report: HmisReport | None = None
) -> pd.DataFrame:
    """One file as text columns, after the format check of :func:`csv_spec.parse_csv`."""
    kind, where = member
    try:
        if kind == "zip":
            with zipfile.ZipFile(path) as zf:
                data = zf.read(where)
        else:
            data = Path(where).read_bytes()
    except (zipfile.BadZipFile, OSError) as exc:
        raise HmisError(
            f"{path.name}: {name}.csv cannot be read ({exc}): the zip or file is damaged. "
            "Export again from the HMIS."
        ) from None
    text = _decode(data, name, path)
    header, records, blank = csv_spec.parse_csv(text, name, path.name)
    if report is not None and blank:
        report.add_issue("blank_lines", name, blank, "empty lines skipped")
    frame = pd.read_csv(
        io.StringIO(text), dtype=str, keep_default_na=False, na_values=NA_TEXT, quoting=0
    )
    frame.columns = header
    if len(frame) != records:  # two parsers of the same text disagree: never load a guess
        raise HmisError(
            f"{path.name}: {name}.csv: {records:,} records checked but {len(frame):,} read; "
            "check the file's quoting and line breaks, or export it again."
        )
    return frame


def _drop_exports_without_data(tables: HmisTables, report: HmisReport, path: Path) -> None:
    """Leave out Export.csv rows whose ExportID no data file uses (listed in the report).

    Why: the export's dates (ExportStartDate/ExportEndDate) set the as-of date, the filing
    month, the program's span and the return windows; a stale row of an earlier or later
    export with no records behind it must not move them past the data's own dates. Files
    without an ExportID column cannot tell, so then every row is kept.
    """
    export = tables["Export"]
    used: set[str] = set()
    told = False
    for name, frame in tables.items():
        if name != "Export" and "ExportID" in frame:
            told = True
            used |= set(frame["ExportID"].dropna())
    if not told:
        return
    stale = ~export["ExportID"].isin(list(used))
    if stale.all():
        raise HmisError(
            f"{path.name}: no data file uses any ExportID of Export.csv "
            f"({', '.join(export['ExportID'].astype(str))}); the files do not belong to this "
            "export. Export again from the HMIS."
        )
    if stale.any():
        report.add_issue(
            "export_without_data",
            "Export",
            int(stale.sum()),
            "Export.csv row whose ExportID no data file uses: ignored (its dates do not set the "
            "as-of date, the filing month or the return windows)",
            ids=export.loc[stale, "ExportID"],
            id_field="ExportID",
        )
        tables["Export"] = export[~stale]  # index kept: the rows' line numbers in messages


def _detect_versions(
    tables: HmisTables, report: HmisReport, path: Path, assumed: str | None = None
) -> None:
    """Version per ExportID from Export.csv CSVVersion (``assumed`` overrides it).

    A CSVVersion that is not blank and not a version we read is refused (HmisError): reading
    FY2028 codes with the FY2026 lists would map them silently wrong. A blank one falls back to
    Client.csv's columns, with a finding.
    """
    export = tables["Export"]
    if export.empty or "ExportID" not in export:
        raise HmisError(f"{path.name}: Export.csv has no ExportID row. Export again from the HMIS.")
    guessed = hud.version_from_columns(list(tables["Client"].columns))
    for line, row in zip(export.index + 2, export.to_dict("records"), strict=True):
        label = row.get("CSVVersion")
        blank = (
            label is None
            or (isinstance(label, float) and np.isnan(label))
            or not str(label).strip()
        )
        version = hud.csv_version(label)
        source = "Export.csv CSVVersion"
        if assumed is not None:
            if version != assumed:
                report.add_issue(
                    "version_assumed",
                    "Export",
                    1,
                    f"ExportID {row['ExportID']}: CSVVersion {label!r} read as FY{assumed} "
                    "(--assume-version)",
                    ids=[row["ExportID"]],
                    id_field="ExportID",
                )
            version, source = assumed, "--assume-version"
        elif version is None and not blank:
            raise HmisError(
                f"{path.name}: Export.csv line {line} (ExportID {row['ExportID']}), column "
                f"CSVVersion: {label!r} is not a supported HMIS CSV version "
                f"({', '.join('FY' + v for v in hud.SUPPORTED_VERSIONS)}). Export in a "
                "supported format, or, if the files follow one of those versions, load them "
                "with `--assume-version YEAR`."
            )
        elif version is None:
            version, source = guessed, "Client.csv columns"
            if version is not None:
                report.add_issue(
                    "version_guessed",
                    "Export",
                    1,
                    f"ExportID {row['ExportID']} has a blank CSVVersion; read as FY{version} "
                    "from Client.csv's columns",
                    ids=[row["ExportID"]],
                    id_field="ExportID",
                )
        if version is None:
            raise HmisError(
                f"{path.name}: Export.csv CSVVersion {label!r} is not a supported HMIS CSV "
                f"version ({', '.join('FY' + v for v in hud.SUPPORTED_VERSIONS)}) and "
                "Client.csv's columns do not match one. Export in a supported format, or load "
                "it with `--assume-version YEAR`."
            )
        if guessed and guessed != version:
            report.add_issue(
                "version_mismatch",
                "Export",
                1,
                f"ExportID {row['ExportID']} says FY{version} "
                f"but Client.csv's columns look like FY{guessed}; codes read as FY{version}",
            )
        report.versions[str(row["ExportID"])] = version
        report.version_source = source
        report.exports.append(
            {
                k: row.get(k)
                for k in (
                    "ExportID",
                    "SourceID",
                    "SourceName",
                    "ExportDate",
                    "ExportStartDate",
                    "ExportEndDate",
                    "CSVVersion",
                    "SoftwareName",
                    "ExportDirective",
                    "HashStatus",
                )
            }
        )
    counts = pd.Series(list(report.versions.values())).value_counts()
    report.version = str(counts.index[0])
    if len(counts) > 1:
        report.add_issue(
            "mixed_versions",
            "Export",
            len(report.versions),
            "exports of several CSV versions; each row is read with its ExportID's version",
        )


def _clean(
    frame: pd.DataFrame, name: str, export: pd.DataFrame, report: HmisReport
) -> pd.DataFrame:
    """Parse dates, keep the latest copy of each record, drop deleted ones, tag the version."""
    versions = report.versions
    default = report.version
    _scope_ids(frame, export)
    if "ExportID" in frame:
        unknown = frame["ExportID"].notna() & ~frame["ExportID"].isin(list(versions))
        report.add_issue(
            "unknown_export_id",
            name,
            int(unknown.sum()),
            f"ExportID not in Export.csv; read as FY{default}",
        )
        frame["_version"] = frame["ExportID"].map(versions).fillna(default).astype("str")
    else:
        frame["_version"] = default
    for col in DATE_COLUMNS.get(name, ()):
        if col in frame:
            frame[col] = _parse_date_column(frame[col], name, col, report)
    key = PRIMARY_KEYS.get(name)
    deleted = (
        frame["DateDeleted"].notna()
        if "DateDeleted" in frame
        else pd.Series(False, index=frame.index)
    )
    if key in frame and frame[key].duplicated().any():
        # Merged exports: the copy with the latest DateUpdated wins (then the later export, then
        # the later row); a newer copy carrying DateDeleted deletes the record.
        made = (
            dict(zip(export["ExportID"], export["ExportDate"], strict=True))
            if "ExportDate" in export
            else {}
        )
        order = pd.DataFrame(
            {
                "updated": _quiet_dates(frame.get("DateUpdated")),
                "exported": _col_or_na(frame, "ExportID").map(made).astype("datetime64[us]"),
                "pos": np.arange(len(frame)),
            },
            index=frame.index,
        )
        ranked = order.sort_values(
            ["updated", "exported", "pos"], na_position="first", kind="stable"
        )
        keep = (~frame.loc[ranked.index, key].duplicated(keep="last")).reindex(frame.index)
        report.superseded[name] = int((~keep).sum())
        frame, deleted = frame[keep], deleted[keep]
    report.deleted[name] = int(deleted.sum())
    return frame[~deleted].reset_index(drop=True)


def _scope_ids(frame: pd.DataFrame, export: pd.DataFrame) -> None:
    """Merged exports of several source systems (SourceID): the same PersonalID (or any other id)
    in two HMISs is two different records, so every id gets its source in front ("coc2:123")."""
    if "SourceID" not in export or export["SourceID"].nunique() <= 1 or "ExportID" not in frame:
        return
    source = (
        frame["ExportID"]
        .map(dict(zip(export["ExportID"], export["SourceID"], strict=True)))
        .fillna("")
    )
    for col in [c for c in frame.columns if c in ID_COLUMNS]:
        frame[col] = (source + ":" + frame[col]).where(frame[col].notna())


def _col_or_na(frame: pd.DataFrame, name: str) -> pd.Series:
    return frame[name] if name in frame else pd.Series(pd.NA, index=frame.index, dtype="str")


def _quiet_dates(values: pd.Series | None) -> pd.Series | float:
    """Audit timestamps, for ordering only: best format, nothing reported."""
    if values is None:
        return np.nan
    return _parse_date_column(values, "", "", None)


def _parse_date_column(
    values: pd.Series, table: str, col: str, report: HmisReport | None
) -> pd.Series:
    """Parse one date column whatever the vendor's format; unparseable text is reported.

    Each round picks the format that parses most of what is left, so a column in one format is
    read consistently (``03-11-21`` follows ``13-06-19`` as day-first) and a merged column of two
    formats is read in two rounds.
    """
    if isinstance(values.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(values):
        return values.astype("datetime64[us]")
    text = values.astype("str").str.strip().str.replace(r"[T ].*$", "", regex=True)
    text = text.where(values.notna() & (text != ""))
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[us]")
    todo = text.notna()
    used: list[str] = []
    while todo.any():
        # Rank the formats on a sample of what is left, then parse it all with the best one.
        for sample in (text[todo].iloc[:2000], text[todo]):
            counts = {
                f: int(pd.to_datetime(sample, format=f, errors="coerce").notna().sum())
                for f in DATE_FORMATS
            }
            best_fmt = max(DATE_FORMATS, key=lambda f: counts[f])  # ties: the earlier format
            if counts[best_fmt] or len(sample) == int(todo.sum()):
                break
        if counts[best_fmt] == 0:
            break
        parsed = pd.to_datetime(text[todo], format=best_fmt, errors="coerce")
        out.loc[parsed.index[parsed.notna()]] = parsed[parsed.notna()].astype("datetime64[us]")
        used.append(best_fmt)
        todo &= out.isna()
    if report is not None:
        if used:
            report.date_formats[f"{table}.{col}"] = used
        if todo.any():
            report.unparsed_dates.append(
                {
                    "table": table,
                    "field": col,
                    "rows": int(todo.sum()),
                    "examples": sorted(values[todo].astype("str").unique())[:3],
                }
            )
    return out


# -- mapping and loading ------------------------------------------------------------------
def to_episodes(
    tables: HmisTables,
    program=None,
    provider_level: str = "organization",
    race_method: str = "single",
) -> tuple[pd.DataFrame, HmisReport]:
    """Map an export's enrollments onto canonical episodes (``schema.EPISODE_COLUMNS``).

    One row per enrollment: provider = Organization (or Project), ``program`` = the project type
    (``hud.PROJECT_TYPES`` slug), exit destination in the FY2024 code space with its class per the
    export version's data standards, race/ethnicity and gender from the HUD fields, age at entry
    from the date of birth, household, and the household's move-in date. HMIS has no referral
    date (left empty), cost or client ZIP. Extra columns: ``project_id`` and
    ``destination_subsidy_type`` (declare them as outcomes in the program file to load them).

    Args:
        tables: from :func:`read_export`.
        program: a ``config.Program``; when given, enrollments of providers it does not list are
            left out and counted (regenerate the program with ``acm hmis-program``).
        provider_level: ``organization`` or ``project``.
        race_method: ``single`` (each person in one category; several -> ``Multiracial``) or
            ``multi`` (each person counted in every category selected: one row per episode per
            category, so group shares can add up to more than 100%; for breakdowns, not for
            loading: the store keeps one row per episode).

    Returns:
        ``(episodes, report)``; the report is ``tables.report`` extended with mapping findings.
    """
    from acm_helpers.hmis import mapping as hmis_map

    report = copy.deepcopy(tables.report)  # mapping twice never doubles the reading's findings
    return hmis_map.map_episodes(tables, report, program, provider_level, race_method)


class ExportIntake(list):
    """What :func:`intake_export` did: a list of ``intake.SubmissionResult`` (one per provider,
    as ``acm intake`` prints them) plus the export's ``report``, ``as_of`` and ``raw_paths``."""

    report: HmisReport
    as_of: date | None
    raw_paths: list[Path]
    race_rows: int = 0


def export_as_of(tables: HmisTables) -> date | None:
    """The date an export's data is complete to: the latest ExportEndDate (else ExportDate)."""
    export = tables["Export"]
    for col in ("ExportEndDate", "ExportDate"):
        if col in export and export[col].notna().any():
            return export[col].max().date()
    return None


def intake_export(
    path: str | Path,
    program,
    store,
    provider_level: str | None = None,
    race_method: str = "single",
    as_of: date | None = None,
    period: str | None = None,
    received: date | str | None = None,
    assume_version: str | None = None,
    allow_fewer_rows: bool = False,
) -> ExportIntake:
    """Read, map and load an HMIS export into ``store`` for ``program`` (``acm intake --format hmis``).

    The raw export is kept byte-for-byte under ``raw/<period>/hmis/``; episodes go through
    ``intake.load_canonical`` (the program's pandera schema; one submission per provider for
    ``period``), after rows the schema would refuse are left out and counted in the report. With ``race_method="multi"`` the store also gets a table ``episode_races``
    (episode_id, provider_id, race_ethnicity: one row per category selected) for "counted in
    every category" breakdowns; ``episodes`` keeps the single-category method.

    Args:
        provider_level: ``organization`` or ``project``; default: ``project`` when every provider
            id of the program is a ``proj-`` id (a program written with ``--provider-level
            project``), else ``organization``.
        race_method: ``single`` or ``multi`` (see :func:`to_episodes`).
        as_of: the date data is complete to (return windows, stayers' length of stay); default
            the end of ``period`` if given, else the export's end date.
        period: YYYY-MM the export is filed under (raw copy, log); default the month of ``as_of``.
        received: when the export arrived (later dates are refused); default unchecked, because
            an HMIS export carries its own export date (dates after it are reported).
        assume_version: read the export as this CSV version whatever its CSVVersion says
            (see :func:`read_export`).
        allow_fewer_rows: load even when a required file has fewer live records than in the
            export loaded before whose date span this one covers. Without it such an export is
            refused: a file cut exactly at a line break passes every format check (nothing in
            the file or in Export.csv tells it apart from a shorter file), and this comparison
            is what catches it once one good export is loaded.

    Raises:
        HmisError: the export is refused (damaged, a column missing, an unknown version, no
            enrollment for the program). It is then logged as ``rejected`` in ``submissions``
            and kept byte-for-byte under ``raw/rejected/<received date>/``; nothing else in the
            store changes, so the export loaded before stays current.

    Every finding (orphans, unknown codes, left-out enrollments ...) is written with its record
    ids to the ``hmis_findings`` table, and as counts to each provider's ``quality`` rows
    (``check`` = ``hmis_<kind>``), which ``acm quality`` and the packets read.
    """
    from acm_helpers.core.calendar import period_bounds
    from acm_helpers.core.schema import conform_episodes, episodes_schema
    from acm_helpers.intake import intake
    from acm_helpers.intake import quality as qc
    from acm_helpers.store.store import sha256_file

    if race_method not in ("single", "multi"):
        raise HmisError(f"race_method {race_method!r} is not one of: single, multi.")
    if provider_level is None:
        by_project = all(p.startswith("proj-") for p in program.provider_ids)
        provider_level = "project" if by_project else "organization"
    path = Path(path)
    try:
        tables = read_export(path, assume_version=assume_version)
        episodes, report = to_episodes(tables, program, provider_level=provider_level)
    except HmisError as exc:
        findings.reject(store, path, received, str(exc))
    if not allow_fewer_rows:
        fewer = findings.fewer_rows(store, tables, report)
        if fewer:
            findings.reject(store, path, received, fewer)
    if period is not None:
        program.check_period(period)
        as_of = as_of or period_bounds(period)[1]
    as_of = as_of or export_as_of(tables) or date.today()
    period = period or as_of.strftime("%Y-%m")
    # One submission per provider per export: the export is that month's submission (a quality
    # report per provider, and a newer export of the same month replaces it as a whole).
    frame = conform_episodes(
        episodes.drop(columns="races").assign(_period=period), program
    ).reset_index(drop=True)
    frame.index = pd.RangeIndex(1, len(frame) + 1)
    recv = pd.Timestamp(received).date() if received else None
    problems = qc.schema_problems(frame, frame, episodes_schema(program, recv))
    first = problems.drop_duplicates("row")
    for reason, rows in first.groupby("reason")["row"]:
        report.exclude(
            f"fails the episode schema: {reason}", len(rows), ids=frame.loc[rows, "episode_id"]
        )
    keep = ~frame.index.isin(problems["row"])
    frame, races = frame[keep], episodes.loc[keep, "races"].to_numpy()
    if frame.empty:
        findings.reject(
            store,
            path,
            received,
            f"{path.name}: no enrollment maps to a provider of program {program.id} "
            f"(left out: {report.excluded}). Generate the program file from this export: "
            f"`acm hmis-program {path} --out parameters/programs/hmis_<name>.yaml`.",
        )
    files = [path] if path.is_file() else sorted(path.rglob("*.csv"))
    raw = [store.keep_raw(p, "hmis", period, sha256_file(p)) for p in files]
    intake.load_canonical(store, program, frame, as_of=as_of, source=path.name, received=recv)
    counts = frame["provider_id"].value_counts().sort_index()
    export_sha = sha256_file(path) if path.is_file() else findings.folder_sha(files)
    findings.write_findings(
        store, tables, report, provider_level, period, export_sha, list(counts.index)
    )
    left_out = sum(report.excluded.values())
    summary = "\n".join(report.lines()) + (
        f"\nleft out: {left_out:,} enrollments" if left_out else ""
    )
    out = ExportIntake(
        intake.SubmissionResult(
            file=path.name,
            status="loaded",
            provider_id=prov,
            period=period,
            sha256=sha256_file(path) if path.is_file() else None,
            rows_total=int(n),
            rows_accepted=int(n),
            message=summary if prov == counts.index[-1] else "",
        )
        for prov, n in counts.items()
    )
    out.report, out.as_of, out.raw_paths = report, as_of, raw
    if race_method == "multi":
        long = explode_races(frame.assign(races=races))
        store.write_table("episode_races", long[["episode_id", "provider_id", "race_ethnicity"]])
        out.race_rows = len(long)
    return out
