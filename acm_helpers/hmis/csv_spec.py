"""What HUD's HMIS CSV Format Specifications require of each file, and the check that enforces it.

Why a module of its own: an export that is cut off, has a renamed column or a version we do not
know must be refused before anything reaches the store (issue 14, "an export that cannot
silently damage the store"); the reader (:mod:`acm_helpers.hmis.export`) calls
:func:`parse_csv` and :func:`check_columns` for every file it reads.

Sources: HMIS CSV Format Specifications FY2022 (v1.3), FY2024 (v1.2) and FY2026 ("2026 v1"),
HUD Exchange. Section "General Instructions / File and Field Formats" (every file has a header
row with the column names of its section, one record per line, every record has the same number
of fields, fields containing a comma, a quote or a line break are enclosed in double quotes with
inner quotes doubled), and one section per file ("Export.csv", "Organization.csv",
"Project.csv", "Client.csv", "Enrollment.csv", "Exit.csv", ...). Vendors may add columns and
order them differently; a column the section lists is never renamed.

``REQUIRED_COLUMNS`` lists, per file and version, the columns of the specification's section for
that file that the workbench reads: without them an export cannot be mapped correctly (a renamed
``Destination`` would lose every destination, a renamed ``DateDeleted`` would load deleted
records). A tuple entry lists accepted spellings, the specification's own first (FY2026 renamed
``HispanicLatinaeo`` to ``HispanicLatinao`` and replaced the gender fields with ``Sex``; exports
labelled 2026 that kept the FY2024 names are read, see ``mapping.races`` and ``genders``).
"""

from __future__ import annotations

import csv
import difflib
import io

from acm_helpers.core.errors import HmisError

Column = str | tuple[str, ...]

# -- required columns, per file and version ---------------------------------------------------
# Export.csv section (all three versions): the export's identity, dates and version.
_EXPORT: tuple[Column, ...] = (
    "ExportID",
    "ExportDate",
    "ExportStartDate",
    "ExportEndDate",
    "CSVVersion",
)
# Organization.csv section (2.01): OrganizationID. (OrganizationName and ProjectName are read
# too, but without them providers are named by their id: visible, not silent damage.)
_ORGANIZATION: tuple[Column, ...] = ("OrganizationID",)
# Project.csv section (2.02): ProjectID, OrganizationID, 2.02.6 ProjectType. FY2022 also has
# TrackingMethod (2.02.C), which tells entry/exit from night-by-night shelters.
_PROJECT: tuple[Column, ...] = ("ProjectID", "OrganizationID", "ProjectType")
# Client.csv section: PersonalID, 3.03 DOB and DOBDataQuality, 3.04 race checkboxes (FY2022: and
# 3.05 Ethnicity; FY2024+: HispanicLatinaeo and MidEastNAfrican), 3.06 gender (FY2026: Sex).
_CLIENT_COMMON: tuple[Column, ...] = (
    "PersonalID",
    "DOB",
    "DOBDataQuality",
    "AmIndAKNative",
    "Asian",
    "BlackAfAmerican",
    "NativeHIPacific",
    "White",
)
# Enrollment.csv section: EnrollmentID, PersonalID, ProjectID, 3.10 EntryDate, 3.14
# HouseholdID, 3.15 RelationshipToHoH, 3.20 MoveInDate.
_ENROLLMENT: tuple[Column, ...] = (
    "EnrollmentID",
    "PersonalID",
    "ProjectID",
    "EntryDate",
    "HouseholdID",
    "RelationshipToHoH",
    "MoveInDate",
)
# Exit.csv section: ExitID, EnrollmentID, PersonalID, 3.11 ExitDate, 3.12 Destination (FY2024+:
# and 3.12.A DestinationSubsidyType).
_EXIT: tuple[Column, ...] = ("ExitID", "EnrollmentID", "PersonalID", "ExitDate", "Destination")
# Every data file ends with the audit columns (DateCreated, DateUpdated, UserID, DateDeleted,
# ExportID); DateDeleted and ExportID decide which records are live and which version they are.
_AUDIT: tuple[Column, ...] = ("DateDeleted", "ExportID")

REQUIRED_COLUMNS: dict[str, dict[str, tuple[Column, ...]]] = {
    "2022": {
        "Export": _EXPORT,
        "Organization": _ORGANIZATION + _AUDIT,
        "Project": _PROJECT + ("TrackingMethod",) + _AUDIT,
        "Client": _CLIENT_COMMON + ("Ethnicity",) + _AUDIT,
        "Enrollment": _ENROLLMENT + _AUDIT,
        "Exit": _EXIT + _AUDIT,
    },
    "2024": {
        "Export": _EXPORT,
        "Organization": _ORGANIZATION + _AUDIT,
        "Project": _PROJECT + _AUDIT,
        "Client": _CLIENT_COMMON + ("HispanicLatinaeo", "MidEastNAfrican") + _AUDIT,
        "Enrollment": _ENROLLMENT + _AUDIT,
        "Exit": _EXIT + ("DestinationSubsidyType",) + _AUDIT,
    },
    "2026": {
        "Export": _EXPORT,
        "Organization": _ORGANIZATION + _AUDIT,
        "Project": _PROJECT + _AUDIT,
        "Client": _CLIENT_COMMON
        + (("HispanicLatinao", "HispanicLatinaeo"), "MidEastNAfrican", ("Sex", "Woman"))
        + _AUDIT,
        "Enrollment": _ENROLLMENT + _AUDIT,
        "Exit": _EXIT + ("DestinationSubsidyType",) + _AUDIT,
    },
}
# Optional project-descriptor and event files: their key and the record they belong to.
_OPTIONAL = {
    "ProjectCoC": ("ProjectCoCID", "ProjectID"),
    "Funder": ("FunderID", "ProjectID"),
    "Inventory": ("InventoryID", "ProjectID"),
    "CEParticipation": ("CEParticipationID", "ProjectID"),
    "HMISParticipation": ("HMISParticipationID", "ProjectID"),
    "Event": ("EventID", "EnrollmentID", "PersonalID"),
}
for _files in REQUIRED_COLUMNS.values():
    _files.update(_OPTIONAL)

NEXT_STEP = "Export it again from the HMIS (all files, HUD's CSV format) and load the new export."


def required_columns(name: str, version: str) -> tuple[Column, ...]:
    """The columns file ``name`` must have in CSV version ``version`` (empty if we do not check)."""
    return REQUIRED_COLUMNS.get(version, {}).get(name, ())


# -- the structural check -----------------------------------------------------------------------
def parse_csv(text: str, name: str, source: str) -> tuple[list[str], int, int]:
    """Walk one file's records with Python's strict CSV reader, refusing what the format does not
    allow (the frame itself is then read by pandas' faster parser, which would pad a short row
    with blanks or keep a cut last row without a word).

    Refused (``HmisError`` naming the file, the line and what to do): quoting that is not CSV
    (a quote inside an unquoted field, a quoted field never closed), a record whose field count
    differs from the header's, a last record without its line break (a file cut mid-row),
    duplicate or blank column names, and a file with no header.

    A file cut exactly at a line break looks like a complete shorter file: nothing in the file
    (nor in Export.csv, which carries no row counts) can tell it apart; the reader's orphan and
    left-out counts are what show such a cut in another file.

    Returns:
        ``(header, records, blank_lines)``: the column names, the number of records, and the
        number of blank lines (skipped).
    """
    where = f"{source}: {name}.csv"
    if not text.strip():
        raise HmisError(f"{where} is empty (not even a header row). {NEXT_STEP}")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
        records = 0
        blank = 0
        width = len(header)
        for row in reader:
            if not row:
                blank += 1
                continue
            if len(row) != width:
                line = reader.line_num
                gone = (
                    f"; column {header[len(row)].strip()} and those after it are missing"
                    if len(row) < width
                    else f"; {len(row) - width} field(s) after column {header[-1].strip()}"
                )
                if next(reader, None) is None and not text.endswith(("\n", "\r")):
                    raise HmisError(
                        f"{where} ends in the middle of line {line} (its last record "
                        f"has {len(row)} of the header's {width} fields{gone}, and no line "
                        f"break): the file was cut off. {NEXT_STEP}"
                    )
                raise HmisError(
                    f"{where} line {line} has {len(row)} fields, the header has "
                    f"{width}{gone} (HMIS CSV Format Specifications: every record has one field per "
                    "column; fields with commas, quotes or line breaks are quoted). Check the "
                    f"quoting near that line, or export the file again. {NEXT_STEP}"
                )
            records += 1
    except csv.Error as exc:
        cut = "unexpected end of data" in str(exc)
        what = (
            "a quoted field is never closed (the file was cut off, or a quote is missing)"
            if cut
            else f"the quoting is not CSV ({exc})"
        )
        raise HmisError(f"{where} line {reader.line_num}: {what}. {NEXT_STEP}") from None
    if records and not text.endswith(("\n", "\r")):
        raise HmisError(
            f"{where} does not end with a line break after its last record (line "
            f"{reader.line_num}): the file was probably cut off at the end of a row, so rows may "
            f"be missing. {NEXT_STEP}"
        )
    header = [h.strip().lstrip("\ufeff") for h in header]
    dup = sorted({h for h in header if header.count(h) > 1})
    if dup or "" in header:
        what = f"repeats the column(s) {', '.join(dup)}" if dup else "has a column without a name"
        raise HmisError(f"{where}: the header {what}. {NEXT_STEP}")
    return header, records, blank


def check_export_columns(header: list[str], source: str, assumed: str | None = None) -> None:
    """Export.csv's required columns (the same in every version), read before the version is
    known; with ``--assume-version`` CSVVersion may be missing."""
    need = tuple(c for c in _EXPORT if not (assumed and c == "CSVVersion"))
    _refuse_missing(header, "Export", need, "FY2022, FY2024 and FY2026", source)


def check_columns(header: list[str], name: str, version: str, source: str) -> None:
    """Refuse a file that lacks a column its specification section requires in ``version``.

    The message names the column, the version's section, a likely renamed column in the file
    (the closest unknown header name) and the next step.
    """
    _refuse_missing(header, name, required_columns(name, version), f"FY{version}", source)


def _refuse_missing(
    header: list[str], name: str, need: tuple[Column, ...], versions: str, source: str
) -> None:
    present = set(header)
    missing = [spell for spell in need if not present & set(_spellings(spell))]
    if not missing:
        return
    known = {s for spell in need for s in _spellings(spell)}
    extra = [h for h in header if h not in known]
    parts = []
    for spell in missing:
        want = _spellings(spell)[0]
        close = difflib.get_close_matches(want, extra, n=1, cutoff=0.6)
        parts.append(want + (f" (the file has {close[0]!r}: renamed?)" if close else ""))
    raise HmisError(
        f"{source}: {name}.csv (header, line 1) has no column {', '.join(parts)}, which the "
        f"HMIS CSV Format Specifications {versions} ({name}.csv) require. Rename the column back "
        "to the HUD name, or export the file again in HUD's CSV format."
    )


def _spellings(column: Column) -> tuple[str, ...]:
    return column if isinstance(column, tuple) else (column,)
