"""HMIS export -> canonical episodes: the report and the field-by-field rules behind
``hmis.to_episodes``.

Split from ``hmis`` (reading) for size. Pure transforms over the frames ``hmis.read_export``
returns; every finding goes into the ``HmisReport`` (nothing is dropped silently).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from acm_helpers.core import hud
from acm_helpers.core.errors import HmisError


@dataclass
class HmisReport:
    """What reading and mapping an export found. Counts are rows unless a name says otherwise."""

    source: str = ""
    version: str = ""
    version_source: str = ""  # "Export.csv CSVVersion" or "Client.csv columns"
    versions: dict[str, str] = field(default_factory=dict)  # ExportID -> version
    exports: list[dict] = field(default_factory=list)
    files_read: list[str] = field(default_factory=list)
    files_not_read: list[str] = field(default_factory=list)
    optional_missing: list[str] = field(default_factory=list)
    rows_in_files: dict[str, int] = field(default_factory=dict)
    deleted: dict[str, int] = field(default_factory=dict)  # rows carrying DateDeleted, dropped
    superseded: dict[str, int] = field(
        default_factory=dict
    )  # older copies of a record (merged exports)
    loaded: dict[str, int] = field(default_factory=dict)
    date_formats: dict[str, list[str]] = field(default_factory=dict)
    unparsed_dates: list[dict] = field(default_factory=list)  # table, field, rows, examples
    unknown_codes: list[dict] = field(default_factory=list)  # table, field, code, rows, version
    issues: list[dict] = field(default_factory=list)  # kind, table, rows, detail
    excluded: dict[str, int] = field(default_factory=dict)  # reason -> enrollments not mapped
    excluded_ids: dict[str, list[str]] = field(default_factory=dict)  # reason -> EnrollmentIDs
    episodes: int = 0

    def add_issue(
        self,
        kind: str,
        table: str,
        rows: int,
        detail: str,
        ids: pd.Series | list | None = None,
        id_field: str = "",
    ) -> None:
        """Record a finding (only when it concerns at least one row), with the record ids it
        concerns (``id_field`` names them, e.g. ``ExitID``) so the agency can find each one."""
        if rows:
            self.issues.append(
                {
                    "kind": kind,
                    "table": table,
                    "rows": int(rows),
                    "detail": detail,
                    "id_field": id_field,
                    "ids": _id_list(ids),
                }
            )

    def add_unknown(
        self,
        table: str,
        fld: str,
        values: pd.Series,
        version: str,
        ids: pd.Series | None = None,
        id_field: str = "",
    ) -> None:
        """Record each unknown code of a field with its row count and the ids of its rows.

        ``ids`` (aligned with ``values``) defaults to ``values``' index when that index holds
        record ids (Client fields are checked on a frame indexed by PersonalID).
        """
        if ids is None and not isinstance(values.index, pd.RangeIndex):
            ids = pd.Series(values.index, index=values.index)
            id_field = id_field or (values.index.name or "")
        for code, n in values.value_counts(dropna=True).items():
            these = ids[values == code] if ids is not None else None
            self.unknown_codes.append(
                {
                    "table": table,
                    "field": fld,
                    "code": str(code),
                    "rows": int(n),
                    "version": version,
                    "id_field": id_field,
                    "ids": _id_list(these),
                }
            )

    def exclude(self, reason: str, rows: int, ids: pd.Series | None = None) -> None:
        """Count enrollments left out of the episodes, by reason, with their EnrollmentIDs."""
        if rows:
            self.excluded[reason] = self.excluded.get(reason, 0) + int(rows)
            self.excluded_ids[reason] = self.excluded_ids.get(reason, []) + _id_list(ids)

    def findings(self) -> pd.DataFrame:
        """Every finding as one tidy frame (kind, table, field, code, rows, detail, id_field, ids).

        ``ids`` is the list of record ids a finding concerns (``id_field`` says which: ExitID,
        EnrollmentID, PersonalID ...); empty for counts that have no record behind them.
        """
        rows = [
            {"kind": "deleted", "table": t, "rows": n, "detail": "records with DateDeleted dropped"}
            for t, n in self.deleted.items()
            if n
        ]
        rows += [
            {
                "kind": "superseded",
                "table": t,
                "rows": n,
                "detail": "older copy of a record in a merged export",
            }
            for t, n in self.superseded.items()
            if n
        ]
        rows += [
            {
                "kind": "unparsed_date",
                "table": d["table"],
                "field": d["field"],
                "rows": d["rows"],
                "detail": "examples: " + ", ".join(d["examples"]),
            }
            for d in self.unparsed_dates
        ]
        rows += [
            {
                "kind": "unknown_code",
                "table": u["table"],
                "field": u["field"],
                "code": u["code"],
                "rows": u["rows"],
                "detail": f"not in the FY{u['version']} list",
                "id_field": u.get("id_field", ""),
                "ids": u.get("ids", []),
            }
            for u in self.unknown_codes
        ]
        rows += [dict(i) for i in self.issues]
        rows += [
            {
                "kind": "excluded",
                "table": "Enrollment",
                "rows": n,
                "detail": r,
                "id_field": "EnrollmentID",
                "ids": self.excluded_ids.get(r, []),
            }
            for r, n in self.excluded.items()
        ]
        cols = ["kind", "table", "field", "code", "rows", "detail", "id_field", "ids"]
        out = pd.DataFrame(rows, columns=cols)
        out["ids"] = [v if isinstance(v, list) else [] for v in out["ids"]]
        out["id_field"] = out["id_field"].fillna("").astype("str")
        return out

    def lines(self) -> list[str]:
        """A short plain-text summary for the command line."""
        out = [
            f"HMIS export {self.source}: CSV version FY{self.version} (from {self.version_source}); "
            f"{len(self.exports)} export(s)"
        ]
        out.append("loaded: " + ", ".join(f"{t} {n:,}" for t, n in self.loaded.items()))
        out.append(f"episodes mapped: {self.episodes:,}")
        for _, f in self.findings().iterrows():
            where = ".".join(x for x in (f["table"], f["field"]) if isinstance(x, str) and x)
            code = f" code {f['code']}" if isinstance(f["code"], str) and f["code"] else ""
            ids = f"; {f['id_field']}: {shown_ids(f['ids'])}" if f["ids"] else ""
            out.append(f"  {f['kind']}: {where}{code}: {f['rows']:,} rows ({f['detail']}{ids})")
        return out


def _id_list(ids) -> list[str]:
    """Record ids as a sorted list of unique strings (blank ids dropped)."""
    if ids is None:
        return []
    values = pd.Series(list(ids), dtype="object").dropna().astype(str)
    return sorted(set(values[values != ""]))


def shown_ids(ids: list[str], limit: int = 10) -> str:
    """The first ``limit`` ids and how many more, for one line of text."""
    more = len(ids) - limit
    return ", ".join(ids[:limit]) + (f" and {more:,} more" if more > 0 else "")


def explode_races(episodes: pd.DataFrame) -> pd.DataFrame:
    """One row per episode per race/ethnicity category ("counted in every category").

    Why: HUD reports (APR Q12) can count a person in every category they selected; a breakdown
    over these rows gives each group's count and rate, with shares adding up to more than 100%.
    Needs the ``races`` column that :func:`to_episodes` adds (a "; "-joined list of categories);
    a person with none selected is one ``Unknown`` row.
    """
    if "races" not in episodes:
        raise HmisError("explode_races needs the `races` column that hmis.to_episodes adds.")
    listed = episodes["races"].fillna("").where(episodes["races"].fillna("") != "", UNKNOWN)
    rows = episodes.assign(race_ethnicity=listed.str.split("; ")).explode("race_ethnicity")
    return (
        rows.assign(race_ethnicity=rows["race_ethnicity"].astype("str"))
        .drop(columns="races")
        .reset_index(drop=True)
    )


# -- race and ethnicity: HMIS Data Standards 3.04 (FY2024+), 3.04 + 3.05 (FY2022) ------------------
AMIND = "American Indian, Alaska Native, or Indigenous"
ASIAN = "Asian or Asian American"
BLACK = "Black, African American, or African"
HISPANIC = "Hispanic/Latina/e/o"
MENA = "Middle Eastern or North African"
NHPI = "Native Hawaiian or Pacific Islander"
WHITE = "White"
MULTIRACIAL = "Multiracial"
UNKNOWN = "Unknown"
RACE_LABELS = [AMIND, ASIAN, BLACK, HISPANIC, MENA, NHPI, WHITE]
# Ethnicity as its own field, in HUD's FY2022 wording (APR Q12b): labels that are not the race
# category's ("Hispanic/Latina/e/o") and do not contain each other, so a packet row naming one
# group never reads as naming another
HISPANIC_ETHNICITY = "Hispanic/Latin(a)(o)(x)"
NOT_HISPANIC = "Non-Hispanic/Non-Latin(a)(o)(x)"
ETHNICITY_LABELS = [HISPANIC_ETHNICITY, NOT_HISPANIC, UNKNOWN]
# CSV spec Client.csv race fields (0 = not selected, 1 = selected). FY2022 asked ethnicity
# separately (3.05 Ethnicity: 0 Non-Hispanic, 1 Hispanic/Latin(a)(o)(x), 8/9/99 missing) and
# HUD's FY2022 APR counts it on its own (Q12a race, Q12b ethnicity), so it is not a race box
# here: White + Hispanic is White, with ethnicity Hispanic (see :func:`ethnicities`). FY2024
# made Hispanic/Latina/e/o a race/ethnicity checkbox (HispanicLatinaeo); MidEastNAfrican is
# new in FY2024. FY2026 renamed HispanicLatinaeo to HispanicLatinao.
RACE_FIELDS = {
    "2022": {
        "AmIndAKNative": AMIND,
        "Asian": ASIAN,
        "BlackAfAmerican": BLACK,
        "NativeHIPacific": NHPI,
        "White": WHITE,
    },
    "2024": {
        "AmIndAKNative": AMIND,
        "Asian": ASIAN,
        "BlackAfAmerican": BLACK,
        "HispanicLatinaeo": HISPANIC,
        "MidEastNAfrican": MENA,
        "NativeHIPacific": NHPI,
        "White": WHITE,
    },
    "2026": {
        "AmIndAKNative": AMIND,
        "Asian": ASIAN,
        "BlackAfAmerican": BLACK,
        "HispanicLatinao": HISPANIC,
        "MidEastNAfrican": MENA,
        "NativeHIPacific": NHPI,
        "White": WHITE,
    },
}
# Values allowed in a checkbox field (FY2022 race fields also allowed 99; Ethnicity 0/1/8/9/99).
CHECKBOX_VALUES = {"0", "1", "99"}
ETHNICITY_VALUES = {"0", "1", "8", "9", "99"}
NONE_VALUES = {
    "8",
    "9",
    "99",
}  # RaceNone / GenderNone: don't know, prefers not to answer, not collected

# -- gender (FY2022 and FY2024 3.06) and sex (FY2026) ------------------------------------------
WOMAN, MAN = "Woman (Girl, if child)", "Man (Boy, if child)"
GENDER_FIELDS = {
    # FY2022 -> FY2024 crosswalk: Female -> Woman, Male -> Man, NoSingleGender -> NonBinary.
    "2022": {
        "Female": WOMAN,
        "Male": MAN,
        "NoSingleGender": "Non-Binary",
        "Transgender": "Transgender",
        "Questioning": "Questioning",
    },
    "2024": {
        "Woman": WOMAN,
        "Man": MAN,
        "NonBinary": "Non-Binary",
        "CulturallySpecific": "Culturally Specific Identity",
        "Transgender": "Transgender",
        "Questioning": "Questioning",
        "DifferentIdentity": "Different Identity",
    },
}
MORE_THAN_ONE_GENDER = "More than one gender"
# FY2026 Client.csv replaces the gender checkboxes with Sex (0 Female, 1 Male, 8/9/99 missing).
SEX_CODES = {"0": "Female", "1": "Male", "8": UNKNOWN, "9": UNKNOWN, "99": UNKNOWN}
GENDER_LABELS = [
    WOMAN,
    MAN,
    "Non-Binary",
    "Culturally Specific Identity",
    "Transgender",
    "Questioning",
    "Different Identity",
    MORE_THAN_ONE_GENDER,
    "Female",
    "Male",
    UNKNOWN,
]

DOB_UNUSABLE = {"8", "9", "99"}  # 3.03.2 DOBDataQuality: don't know / refused / not collected
DOB_QUALITY = {
    "1",
    "2",
    "8",
    "9",
    "99",
}  # 3.03.2: full, approximate or partial, and the three above
RELATIONSHIP = {"1", "2", "3", "4", "5", "99"}  # 3.15.1 RelationshipToHoH
EPISODE_OUT = [
    "episode_id",
    "client_id",
    "provider_id",
    "program",
    "enrollment_date",
    "referral_date",
    "exit_date",
    "exit_destination",
    "destination_class",
    "race_ethnicity",
    "gender",
    "birth_date",
    "age_at_entry",
    "zip",
    "household_id",
    "cost",
    "move_in_date",
    "project_id",
    "destination_subsidy_type",
    "engagement_date",
    "ethnicity",
    "hud_birth_date",
    "races",
]


def races(client: pd.DataFrame, version: str, report=None) -> pd.Series:
    """Every race/ethnicity category a client selected, "; "-joined in HUD order ("" if none).

    Unknown values in a race field are reported and read as "not selected".
    """
    fields = dict(RACE_FIELDS[version])
    for ours, theirs in (
        ("HispanicLatinao", "HispanicLatinaeo"),
        ("HispanicLatinaeo", "HispanicLatinao"),
    ):
        if (
            ours in fields and ours not in client and theirs in client
        ):  # either spelling, any version
            fields = {theirs if c == ours else c: label for c, label in fields.items()}
    picked = pd.DataFrame(index=client.index)
    for col, label in fields.items():
        values = (
            client[col].astype("str").str.strip()
            if col in client
            else pd.Series(pd.NA, index=client.index, dtype="str")
        )
        bad = values.notna() & ~values.isin(CHECKBOX_VALUES)
        if report is not None and bad.any():
            report.add_unknown("Client", col, values[bad], version)
        picked[label] = values.eq("1").fillna(False).astype(bool)
    ordered = [label for label in RACE_LABELS if label in picked]
    text = pd.Series("", index=client.index, dtype="str")
    for label in ordered:
        text = text.where(~picked[label], text.where(text == "", text + "; ") + label)
    return text


# 3.05 Ethnicity; 8, 9, 99 (and blank) -> Unknown
ETHNICITY_CODES = {"0": NOT_HISPANIC, "1": HISPANIC_ETHNICITY}


def ethnicities(client: pd.DataFrame, version: str, joined: pd.Series, report=None) -> pd.Series:
    """Each client's ethnicity, Hispanic/Latina/e/o or not, as its own field.

    FY2022 (HMIS Data Standards 3.05 Ethnicity; APR Q12b counts it apart from race): 1 Hispanic,
    0 not Hispanic, 8/9/99 or blank Unknown. FY2024 and later have no Ethnicity field: the
    Hispanic/Latina/e/o checkbox says Hispanic, any other race selected says not Hispanic, none
    selected is Unknown. ``joined`` is :func:`races` of the same clients.
    """
    if version == "2022" and "Ethnicity" in client:
        values = client["Ethnicity"].astype("str").str.strip()
        bad = values.notna() & ~values.isin(ETHNICITY_VALUES)
        if report is not None and bad.any():
            report.add_unknown("Client", "Ethnicity", values[bad], version)
        return values.map(ETHNICITY_CODES).fillna(UNKNOWN).astype("str")
    hispanic = joined.str.contains(HISPANIC, regex=False)
    out = pd.Series(UNKNOWN, index=client.index, dtype="str")
    out = out.where(joined == "", NOT_HISPANIC)
    return out.where(~hispanic, HISPANIC_ETHNICITY).astype("str")


def single_race(joined: pd.Series) -> pd.Series:
    """Each person in one category: the one they selected, ``Multiracial`` for several,
    ``Unknown`` for none (RaceNone 8/9/99 or nothing collected)."""
    several = joined.str.contains("; ", regex=False)
    out = joined.where(~several, MULTIRACIAL)
    return out.where(joined != "", UNKNOWN).astype("str")


def genders(client: pd.DataFrame, version: str, report=None) -> pd.Series:
    """One gender label per client (FY2026: sex, the only such field the format has).

    Several selected -> ``More than one gender``; none or GenderNone -> ``Unknown``.
    """
    if version == "2026" and "Sex" not in client and "Woman" in client:
        version = "2024"  # an FY2026 export that still carries the FY2024 gender fields
    if version == "2026":
        sex = (
            client["Sex"].astype("str").str.strip()
            if "Sex" in client
            else pd.Series(pd.NA, index=client.index, dtype="str")
        )
        bad = sex.notna() & ~sex.isin(list(SEX_CODES))
        if report is not None and bad.any():
            report.add_unknown("Client", "Sex", sex[bad], version)
        return sex.map(SEX_CODES).fillna(UNKNOWN).astype("str")
    count = pd.Series(0, index=client.index)
    label = pd.Series(UNKNOWN, index=client.index, dtype="str")
    for col, name in GENDER_FIELDS[version].items():
        values = (
            client[col].astype("str").str.strip()
            if col in client
            else pd.Series(pd.NA, index=client.index, dtype="str")
        )
        bad = values.notna() & ~values.isin(CHECKBOX_VALUES)
        if report is not None and bad.any():
            report.add_unknown("Client", col, values[bad], version)
        on = values.eq("1").fillna(False).astype(bool)
        count += on.astype(int)
        label = label.where(~on, name)
    return label.where(count <= 1, MORE_THAN_ONE_GENDER).astype("str")


RECORD_KEYS = {"Enrollment": "EnrollmentID", "Exit": "ExitID", "Project": "ProjectID"}


def _check_codes(frame: pd.DataFrame, lists: dict[str, set[str]], table: str, report) -> None:
    """Report values of coded fields that are not on their HUD list (rows are kept)."""
    for col, allowed in lists.items():
        if col not in frame:
            continue
        values = frame[col].astype("str").str.strip()
        bad = values.notna() & ~values.isin(list(allowed))
        key = RECORD_KEYS.get(table)
        ids = frame[key] if key in frame else None
        for version, rows in frame[bad].groupby("_version").groups.items():
            report.add_unknown(
                table,
                col,
                values.loc[rows],
                str(version),
                ids=ids.loc[rows] if ids is not None else None,
                id_field=key if ids is not None else "",
            )


def calendar_age(birth: pd.Series, at: pd.Series) -> pd.Series:
    """Whole years from ``birth`` to ``at`` (HUD age: age on the project start date)."""
    years = at.dt.year - birth.dt.year
    before = (at.dt.month < birth.dt.month) | (
        (at.dt.month == birth.dt.month) & (at.dt.day < birth.dt.day)
    )
    return (years - before.astype(int)).astype("Int64")


# -- the join -----------------------------------------------------------------------------------
def _col(frame: pd.DataFrame, name: str) -> pd.Series:
    return frame[name] if name in frame else pd.Series(pd.NA, index=frame.index, dtype="str")


def _exits(ext: pd.DataFrame, enr: pd.DataFrame, report) -> pd.DataFrame:
    """One exit per enrollment: the latest exit date wins when an enrollment has several."""
    orphan = ~hud.member(ext["EnrollmentID"], enr["EnrollmentID"])
    report.add_issue(
        "orphan",
        "Exit",
        int(orphan.sum()),
        "exit of an EnrollmentID not in Enrollment.csv; ignored",
        ids=ext.loc[orphan, "ExitID"],
        id_field="ExitID",
    )
    ext = ext[~orphan].sort_values("ExitDate", kind="stable", na_position="first")
    several = ext["EnrollmentID"].duplicated(keep="last")
    report.add_issue(
        "multiple_exits",
        "Exit",
        int(several.sum()),
        "an enrollment with several exit records; the latest exit date is used",
        ids=ext.loc[several, "ExitID"],
        id_field="ExitID",
    )
    ext = ext[~several]
    return pd.DataFrame(
        {
            "EnrollmentID": ext["EnrollmentID"],
            "_exit_id": ext["ExitID"],
            "ExitDate": ext["ExitDate"],
            "Destination": _col(ext, "Destination"),
            "DestinationSubsidyType": _col(ext, "DestinationSubsidyType"),
            "_exit_version": ext["_version"],
            "_has_exit": True,
        }
    )


def map_episodes(
    tables, report, program=None, provider_level: str = "organization", race_method: str = "single"
) -> tuple[pd.DataFrame, object]:
    """See ``hmis.to_episodes`` (the public entry point and its documentation)."""
    if race_method not in ("single", "multi"):
        raise HmisError(f"race_method {race_method!r} is not one of: single, multi.")
    enr, proj, cli = tables["Enrollment"], tables["Project"], tables["Client"]
    report.excluded = {}
    eps = pd.DataFrame(
        {
            "episode_id": enr["EnrollmentID"],
            "client_id": enr["PersonalID"],
            "project_id": enr["ProjectID"],
            "enrollment_date": enr["EntryDate"],
            "household_id": _col(enr, "HouseholdID"),
            "is_head": _col(enr, "RelationshipToHoH").eq("1").fillna(False).astype(bool),
            "move_in_date": enr["MoveInDate"] if "MoveInDate" in enr else pd.NaT,
            # 4.13 Date of Engagement (street outreach): who a street outreach report counts
            "engagement_date": (enr["DateOfEngagement"] if "DateOfEngagement" in enr else pd.NaT),
        }
    )
    _check_codes(enr, {"RelationshipToHoH": RELATIONSHIP}, "Enrollment", report)
    eps = eps.merge(
        _exits(tables["Exit"], enr, report),
        left_on="episode_id",
        right_on="EnrollmentID",
        how="left",
    )
    pcols = {
        "ProjectID": "project_id",
        "OrganizationID": "OrganizationID",
        "ProjectType": "ProjectType",
        "TrackingMethod": "TrackingMethod",
        "_version": "_proj_version",
    }
    eps = eps.merge(
        proj.reindex(columns=list(pcols)).rename(columns=pcols), on="project_id", how="left"
    )
    # An enrollment of a PersonalID that Client.csv does not have is not a client we know
    # (HMIS CSV Format Specifications: Enrollment.PersonalID references Client.csv): left out
    # in _exclude and listed, never loaded with blank race, gender and age.
    eps["_client_known"] = hud.member(eps["client_id"], cli["PersonalID"])
    _program(eps, report)
    _destinations(eps, report)
    _client_fields(eps, cli, report)
    _move_in(eps, report)
    eps = _providers(eps, tables, provider_level)
    eps = _exclude(eps, report, program)
    _after_export(eps, tables, report)
    eps["referral_date"] = pd.Series(
        pd.NaT, index=eps.index, dtype="datetime64[us]"
    )  # none in HMIS
    eps["zip"] = pd.Series(pd.NA, index=eps.index, dtype="str")
    eps["cost"] = np.nan
    out = (
        eps[EPISODE_OUT]
        .sort_values(["provider_id", "episode_id"], kind="stable")
        .reset_index(drop=True)
    )
    report.episodes = len(out)
    if race_method == "multi":
        return explode_races(out), report
    return out, report


def _program(eps: pd.DataFrame, report) -> None:
    eps["program"] = pd.Series(pd.NA, index=eps.index, dtype="str")
    for version, rows in eps.groupby("_proj_version", dropna=True).groups.items():
        part = eps.loc[rows]
        slug = hud.project_type_slug(part["ProjectType"], str(version), part["TrackingMethod"])
        bad = slug.isna() & part["ProjectType"].notna()
        if bad.any():
            report.add_unknown(
                "Project",
                "ProjectType",
                part.loc[bad, "ProjectType"],
                str(version),
                ids=part.loc[bad, "episode_id"],
                id_field="EnrollmentID",
            )
            slug = slug.where(~bad, "ProjectType " + part["ProjectType"].astype("str"))
        eps.loc[rows, "program"] = slug


def _destinations(eps: pd.DataFrame, report) -> None:
    """Exit destinations in the FY2024 code space, with every unknown code listed by ExitID.

    FY2024 CSV spec, 3.12 Destination: a rental with an ongoing subsidy is Destination 435
    ("Rental by client, with ongoing housing subsidy") and the subsidy goes in 3.12.A
    DestinationSubsidyType (419 VASH, 434 public housing, 440 other PH for formerly homeless
    ...). Some vendors send the subsidy type itself as the destination; such a code is not on
    the destination list, but its meaning is unambiguous, so it is read as 435 with that
    subsidy type (and listed), instead of becoming "unknown" and losing an exit to a rental.
    """
    eps["exit_destination"] = pd.Series(pd.NA, index=eps.index, dtype="str")
    eps["destination_subsidy_type"] = pd.Series(pd.NA, index=eps.index, dtype="str")
    for version, rows in eps.groupby("_exit_version", dropna=True).groups.items():
        part = eps.loc[rows]
        dest, given_sub = part["Destination"], part["DestinationSubsidyType"]
        if str(version) != "2022":
            num = pd.to_numeric(dest, errors="coerce")
            as_sub = num.isin(list(hud.SUBSIDY_TYPES_2024)) & ~num.isin(list(hud.DESTINATIONS_2024))
            if as_sub.any():
                report.add_issue(
                    "subsidy_as_destination",
                    "Exit",
                    int(as_sub.sum()),
                    "Destination holds a RentalSubsidyType code (3.12.A): read as 435 "
                    "'Rental by client, with ongoing housing subsidy' with that subsidy type",
                    ids=part.loc[as_sub, "_exit_id"],
                    id_field="ExitID",
                )
                given_sub = given_sub.where(~as_sub | given_sub.notna(), dest)
                dest = dest.where(~as_sub, "435")
        code, sub, unknown = hud.normalize_destinations(dest, str(version), given_sub)
        if unknown.any():
            report.add_unknown(
                "Exit",
                "Destination",
                dest[unknown],
                str(version),
                ids=part.loc[unknown, "_exit_id"],
                id_field="ExitID",
            )
        given = given_sub.notna()
        if str(version) != "2022" and (given & sub.isna()).any():
            report.add_unknown(
                "Exit",
                "DestinationSubsidyType",
                given_sub[given & sub.isna()],
                str(version),
                ids=part.loc[given & sub.isna(), "_exit_id"],
                id_field="ExitID",
            )
        eps.loc[rows, "exit_destination"] = code
        eps.loc[rows, "destination_subsidy_type"] = sub
    has_exit = eps["_has_exit"].eq(True) & eps["ExitDate"].notna()
    eps["exit_date"] = eps["ExitDate"].where(has_exit).astype("datetime64[us]")
    cls = hud.destination_class(eps["exit_destination"])
    eps["destination_class"] = cls.where(has_exit).astype("str")
    no_dest = has_exit & eps["exit_destination"].isna()
    report.add_issue(
        "missing_destination",
        "Exit",
        int(no_dest.sum()),
        "exit with a blank or unknown destination: class 'unknown'",
        ids=eps.loc[no_dest, "_exit_id"],
        id_field="ExitID",
    )


def _client_fields(eps: pd.DataFrame, cli: pd.DataFrame, report) -> None:
    """Race, ethnicity, gender, date of birth and age of each episode's client.

    Dates of birth follow HUD's age rule (APR/CAPER Programming Specifications, "Age"): a
    recorded date of birth counts whatever its DOBDataQuality (approximate or partial ones
    too; 8/9/99 with a date recorded is reported, not dropped). ``age_at_entry`` is the age at
    the project start (null when the date of birth is after it or the age is over 120; the
    episode schema refuses a birth date after the enrollment, so ``birth_date`` is blank then);
    ``hud_birth_date`` keeps every recorded date of birth for HUD's age at the later of the
    report start and the project start (:func:`acm_helpers.core.hud.age_at`).
    """
    cli = cli.drop_duplicates("PersonalID", keep="last").set_index("PersonalID")
    joined = pd.Series("", index=cli.index, dtype="str")
    gender = pd.Series(UNKNOWN, index=cli.index, dtype="str")
    ethnicity = pd.Series(UNKNOWN, index=cli.index, dtype="str")
    for version, rows in cli.groupby("_version").groups.items():
        joined.loc[rows] = races(cli.loc[rows], str(version), report)
        gender.loc[rows] = genders(cli.loc[rows], str(version), report)
        ethnicity.loc[rows] = ethnicities(cli.loc[rows], str(version), joined.loc[rows], report)
    dob = cli["DOB"] if "DOB" in cli else pd.Series(pd.NaT, index=cli.index, dtype="datetime64[us]")
    dq = _col(cli, "DOBDataQuality").astype("str")
    _check_codes(
        cli,
        {"DOBDataQuality": DOB_QUALITY, "RaceNone": NONE_VALUES, "GenderNone": NONE_VALUES},
        "Client",
        report,
    )
    report.add_issue(
        "dob_quality_missing",
        "Client",
        int((dob.notna() & dq.isin(list(DOB_UNUSABLE))).sum()),
        "date of birth recorded with DOBDataQuality 8/9/99: used, as HUD's reports use it",
    )
    known = hud.member(eps["client_id"], cli.index)
    eps["races"] = eps["client_id"].map(joined).where(known, "").astype("str")
    eps["race_ethnicity"] = single_race(eps["races"]).where(known).astype("str")
    eps["ethnicity"] = eps["client_id"].map(ethnicity).where(known).astype("str")
    eps["gender"] = eps["client_id"].map(gender).where(known).astype("str")
    birth = hud.lookup(eps["client_id"], dob.astype("datetime64[us]"))
    age = calendar_age(birth, eps["enrollment_date"])
    implausible = age.notna() & ((age < 0) | (age > 120))
    report.add_issue(
        "implausible_dob",
        "Client",
        int(implausible.sum()),
        "date of birth after the project start or age over 120: age at entry left empty "
        "(HUD's age at a later report start still uses it)",
    )
    eps["hud_birth_date"] = birth.where(age.isna() | (age <= 120))
    eps["birth_date"] = birth.where(~implausible)
    eps["age_at_entry"] = age.where(~implausible).astype("Int64")


def _move_in(eps: pd.DataFrame, report) -> None:
    """HMIS Data Standards 3.20: move-in dates belong to PH projects and must fall between the
    project start and exit; household members share the head's date (hud.household_move_in)."""
    move = eps["move_in_date"].astype("datetime64[us]")
    ph = eps["program"].isin(list(hud.PH_PROGRAMS))
    report.add_issue(
        "move_in_not_ph",
        "Enrollment",
        int((move.notna() & ~ph).sum()),
        "MoveInDate on a project that is not permanent housing: ignored",
        ids=eps.loc[move.notna() & ~ph, "episode_id"],
        id_field="EnrollmentID",
    )
    frame = eps.assign(move_in_date=move.where(ph))
    invalid = frame["move_in_date"].notna() & ~hud.valid_move_in(frame)
    report.add_issue(
        "invalid_move_in",
        "Enrollment",
        int(invalid.sum()),
        "MoveInDate before the project start or after the exit: treated as not moved in",
        ids=eps.loc[invalid, "episode_id"],
        id_field="EnrollmentID",
    )
    eps["move_in_date"] = hud.household_move_in(frame).where(ph).astype("datetime64[us]")


def _slug(values: pd.Series) -> pd.Series:
    return (
        values.astype("str")
        .str.lower()
        .str.replace(r"[^a-z0-9_\-]+", "-", regex=True)
        .str.strip("-")
        .str.slice(0, 64)
    )


def provider_table(tables, provider_level: str = "organization") -> pd.DataFrame:
    """Provider id and display name per Organization (default) or Project of the export.

    Ids are ``org-<OrganizationID>`` or ``proj-<ProjectID>`` (lower case; other characters
    become ``-``), stable across exports because HMIS ids are (in an export merging several
    source systems, ``read_export`` has already put the SourceID in front of every id).
    """
    if provider_level not in ("organization", "project"):
        raise HmisError(f"provider_level {provider_level!r} is not one of: organization, project.")
    table, key, label, prefix = (
        ("Organization", "OrganizationID", "OrganizationName", "org")
        if provider_level == "organization"
        else ("Project", "ProjectID", "ProjectName", "proj")
    )
    frame = tables[table]
    ids = _slug(prefix + "-" + frame[key].astype("str"))
    names = _col(frame, label).fillna(frame[key])
    return pd.DataFrame({"key": frame[key], "provider_id": ids, "name": names}).drop_duplicates(
        "provider_id"
    )


def _providers(eps: pd.DataFrame, tables, provider_level: str) -> pd.DataFrame:
    provs = provider_table(tables, provider_level)
    key = "OrganizationID" if provider_level == "organization" else "project_id"
    return eps.merge(provs.rename(columns={"key": key})[[key, "provider_id"]], on=key, how="left")


def _exclude(eps: pd.DataFrame, report, program) -> pd.DataFrame:
    """Leave out (and count) enrollments that cannot become a valid canonical episode."""
    rules = [
        ("no project: ProjectID not in Project.csv", eps["_proj_version"].isna()),
        (
            "no provider: the project's organization is not in Organization.csv",
            eps["provider_id"].isna(),
        ),
        ("no PersonalID", eps["client_id"].isna()),
        (
            "PersonalID not in Client.csv (no such client)",
            ~eps["_client_known"] if "_client_known" in eps else pd.Series(False, index=eps.index),
        ),
        ("no project start date (EntryDate blank or unparseable)", eps["enrollment_date"].isna()),
        ("exit date before the project start date", eps["exit_date"] < eps["enrollment_date"]),
    ]
    if program is not None:
        rules.append(
            (
                f"provider not in program {program.id} (regenerate it with `acm hmis-program`)",
                ~eps["provider_id"].isin(program.provider_ids),
            )
        )
    drop = pd.Series(False, index=eps.index)
    for reason, mask in rules:
        mask = mask.fillna(False).astype(bool) & ~drop
        report.exclude(reason, int(mask.sum()), ids=eps.loc[mask, "episode_id"])
        drop |= mask
    return eps[~drop].copy()


def _after_export(eps: pd.DataFrame, tables, report) -> None:
    export = tables["Export"]
    if "ExportDate" not in export or export["ExportDate"].isna().all():
        return
    made = export["ExportDate"].max()
    for col, name in (("enrollment_date", "EntryDate"), ("exit_date", "ExitDate")):
        late = eps[col] > made
        report.add_issue(
            "after_export_date",
            "Enrollment" if col == "enrollment_date" else "Exit",
            int(late.sum()),
            f"{name} after the export was made ({made.date()}): kept, check with the provider",
            ids=eps.loc[late, "episode_id" if col == "enrollment_date" else "_exit_id"],
            id_field="EnrollmentID" if col == "enrollment_date" else "ExitID",
        )
