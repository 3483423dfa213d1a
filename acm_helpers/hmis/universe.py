"""The APR / CAPER report universe: who is in the report, by HUD's person rules.

Pure functions over the tables of :func:`acm_helpers.hmis.export.read_export` (no I/O). The
rules follow the CoC APR and ESG CAPER HMIS Programming Specifications (FY2024; FY2026 keeps
them); each is cited where it is applied, and the person rules themselves live in
:mod:`acm_helpers.core.hud` (``age_at``, ``latest_enrollment``, ``household_type``,
``stayer_length``, ``bed_nights``) so the monthly packets can use the same ones.

- Report universe ("Active clients"): enrollments in the report's projects with a project start
  on or before the report end and no exit before the report start. Night-by-night shelters
  (FY2024+ ProjectType 1; FY2022 ProjectType 1 with TrackingMethod 3) count only stays with a
  bed night (Services.csv RecordType 200) in the period.
- One row per person: the latest enrollment (``hud.latest_enrollment``) decides leaver/stayer,
  project, household and age.
- Street outreach: the data-quality count (Q5a column B) counts only engaged clients
  (DateOfEngagement on or before the report end, within the stay).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from acm_helpers.core import hud
from acm_helpers.core.errors import HmisError

# FY2024 ProjectType codes after the FY2022 ES split (hud.project_type_slug): ES entry/exit 0,
# ES night-by-night 1, TH 2, PSH 3, SO 4, SSO 6, Other 7, SH 8, PH-HO 9, PH-HS 10, Day 11, HP 12,
# RRH 13, CE 14.
PH_TYPES = (3, 9, 10, 13)
MOVE_IN_TYPES = (3, 13)  # APR Q7a/Q8a row "For PSH & RRH", Q22c universe
NBN_TYPE = 1
SO_TYPE = 4
HOMELESS_LIVING_2024 = frozenset({101, 116, 118})
INSTITUTION_LIVING_2024 = frozenset({204, 205, 206, 207, 215, 225})
# FY2022 list 3.917 codes (two digits) -> FY2024 code, as for destinations.
_LIVING_2022 = hud.DESTINATIONS_2022_TO_2024


@dataclass
class Universe:
    """Who an APR/CAPER covers: ``persons`` (one row per client, latest enrollment) and
    ``enrollments`` (every active enrollment of the period), with the report's frame."""

    tables: dict
    version: str
    start: pd.Timestamp
    end: pd.Timestamp
    projects: pd.DataFrame
    enrollments: pd.DataFrame
    persons: pd.DataFrame


def as_dates(series: pd.Series | None, index: pd.Index | None = None) -> pd.Series:
    """Dates of a column read_export does not parse (Services.DateProvided, DateToStreetESSH,
    DateCreated, InformationDate): ISO first, then any form pandas reads; times cut off."""
    if series is None:
        return pd.Series(pd.NaT, index=index, dtype="datetime64[us]")
    if pd.api.types.is_datetime64_any_dtype(series):
        return series.astype("datetime64[us]")
    text = series.astype("object").where(series.notna()).astype("str").str.strip()
    text = text.str.replace(r"[T ].*$", "", regex=True).where(series.notna())
    iso = pd.to_datetime(text, format="%Y-%m-%d", errors="coerce")
    rest = iso.isna() & text.notna()
    if rest.any():
        iso[rest] = pd.to_datetime(text[rest], format="mixed", errors="coerce")
    return iso.astype("datetime64[us]")


def _num(series: pd.Series | None, index: pd.Index) -> pd.Series:
    if series is None:
        return pd.Series(np.nan, index=index)
    return pd.to_numeric(series, errors="coerce")


def project_types(project: pd.DataFrame, version: str) -> pd.Series:
    """ProjectType in the FY2024 code space (FY2022 ES split by TrackingMethod 3 = night-by-night).

    HMIS CSV FY2024 change log: ProjectType 1 (ES) became 0 (entry/exit) and 1 (night-by-night);
    FY2022 exports say which by Project.csv TrackingMethod (3 = night-by-night).
    """
    code = _num(project.get("ProjectType"), project.index)
    if version == "2022":
        nbn = _num(project.get("TrackingMethod"), project.index).eq(3)
        code = code.where(code != 1, np.where(nbn, 1, 0))
    return code.astype("Int64")


def report_projects(tables: dict, projects: list[str] | None) -> pd.DataFrame:
    """The Project.csv rows of the report (all projects when ``projects`` is None).

    Raises:
        HmisError: a requested ProjectID is not in Project.csv (the message lists the known ones).
    """
    project = tables["Project"]
    if projects is None:
        return project.copy()
    wanted = [str(p).strip() for p in projects if str(p).strip()]
    known = set(project["ProjectID"].astype(str))
    unknown = [p for p in wanted if p not in known]
    if unknown:
        raise HmisError(
            f"Project.csv has no ProjectID {', '.join(unknown)}. Known project ids: "
            f"{', '.join(sorted(known, key=lambda s: (len(s), s)))}. Pass --projects with ids "
            "from Project.csv."
        )
    return project[project["ProjectID"].astype(str).isin(wanted)].copy()


def active_enrollments(
    tables: dict, version: str, start: pd.Timestamp, end: pd.Timestamp, projects: pd.DataFrame
) -> pd.DataFrame:
    """Every enrollment of the report's projects active in [start, end], with its exit.

    APR/CAPER spec, "Report universe" / "Active clients": project start <= report end and
    (no exit or exit >= report start); ES night-by-night stays need a bed night (Services.csv
    RecordType 200) in the period, on or after the project start and before the exit.
    """
    enr = tables["Enrollment"]
    enr = enr[enr["ProjectID"].isin(projects["ProjectID"])].copy()
    ex = tables["Exit"]
    ex_cols = [
        c
        for c in (
            "EnrollmentID",
            "ExitDate",
            "Destination",
            "DestinationSubsidyType",
            "DateCreated",
        )
        if c in ex
    ]
    ex = ex[ex_cols].drop_duplicates("EnrollmentID", keep="last")
    ex = ex.rename(columns={"DateCreated": "ExitCreated"})
    enr = enr.merge(ex, on="EnrollmentID", how="left")
    if "ExitDate" not in enr:
        enr["ExitDate"] = pd.NaT
    ptype = project_types(projects, version)
    enr["project_type"] = (
        enr["ProjectID"].map(dict(zip(projects["ProjectID"], ptype, strict=True))).astype("Int64")
    )
    enr = enr[enr["EntryDate"].notna()]
    active = (enr["EntryDate"] <= end) & (enr["ExitDate"].isna() | (enr["ExitDate"] >= start))
    # An exit before the project start is a data error; HUD treats the stay as not active.
    active &= enr["ExitDate"].isna() | (enr["ExitDate"] >= enr["EntryDate"])
    enr = enr[active].copy()
    nbn = enr["project_type"].eq(NBN_TYPE).fillna(False)
    if nbn.any():
        services = tables.get("Services")
        keep = pd.Series(False, index=enr.index)
        if services is not None and not services.empty:
            beds = services[pd.to_numeric(services["RecordType"], errors="coerce").eq(200)]
            beds = beds.assign(DateProvided=as_dates(beds["DateProvided"]))
            beds = beds[(beds["DateProvided"] >= start) & (beds["DateProvided"] <= end)]
            probe = enr.loc[nbn, ["EnrollmentID", "EntryDate", "ExitDate"]].reset_index(names="row")
            both = probe.merge(beds[["EnrollmentID", "DateProvided"]], on="EnrollmentID")
            inside = (both["DateProvided"] >= both["EntryDate"]) & (
                both["ExitDate"].isna() | (both["DateProvided"] < both["ExitDate"])
            )
            keep.loc[both.loc[inside, "row"].unique()] = True
        enr = enr[~nbn | keep]
    return enr.reset_index(drop=True)


def _living_2024(codes: pd.Series, version: str) -> pd.Series:
    num = pd.to_numeric(codes, errors="coerce")
    return num.map(_LIVING_2022) if version == "2022" else num


def chronically_homeless(enr: pd.DataFrame, version: str, age: pd.Series) -> pd.Series:
    """Chronically homeless at project start, per adult/HoH, with children taking the HoH's status.

    APR/CAPER spec, "Chronically homeless" (HMIS Glossary, 3.917 and 3.08): a disabling
    condition (3.08 = 1) and either literally homeless at entry (living situation 1xx, or any
    project entry to ES/SH/SO), or entering from an institution/temporary place for under the
    threshold (LOSUnderThreshold = 1) after a night on the street/ES/SH (PreviousStreetESSH = 1);
    and homeless for 12 months: DateToStreetESSH at least 365 days before the project start, or
    4+ times in 3 years (TimesHomelessPastThreeYears = 4) totalling 12+ months
    (MonthsHomelessPastThreeYears >= 112). Simplified: the spec's institutional stays of 90+
    days and the "data not collected" outcomes are not separated.
    """
    living = _living_2024(enr.get("LivingSituation", pd.Series(index=enr.index)), version)
    disabled = _num(enr.get("DisablingCondition"), enr.index).eq(1)
    street_type = enr["project_type"].isin([0, 1, 4, 8]).fillna(False)
    homeless_now = living.isin(list(HOMELESS_LIVING_2024)) | street_type
    short_stay = _num(enr.get("LOSUnderThreshold"), enr.index).eq(1) & _num(
        enr.get("PreviousStreetESSH"), enr.index
    ).eq(1)
    since = as_dates(enr.get("DateToStreetESSH"), enr.index)
    long_enough = (enr["EntryDate"] - since).dt.days.ge(365)
    times = _num(enr.get("TimesHomelessPastThreeYears"), enr.index).eq(4)
    months = _num(enr.get("MonthsHomelessPastThreeYears"), enr.index).ge(112)
    long_enough = pd.Series(long_enough, index=enr.index).fillna(False) | (times & months)
    own = (disabled & (homeless_now | short_stay) & long_enough).fillna(False).astype(bool)
    head = _num(enr.get("RelationshipToHoH"), enr.index).eq(1)
    hoh_status = pd.Series(own[head].to_numpy(), index=enr.loc[head, "HouseholdID"].to_numpy())
    hoh_status = hoh_status[~hoh_status.index.duplicated()]
    inherited = enr["HouseholdID"].map(hoh_status).fillna(False).astype(bool)
    child = age.lt(18).fillna(False).astype(bool)
    return own.where(~child, inherited)


def build_universe(
    tables: dict,
    start: date | str,
    end: date | str,
    projects: list[str] | None = None,
) -> Universe:
    """The report universe of an APR/CAPER over ``projects`` (default all) for [start, end].

    Returns a :class:`Universe` whose ``persons`` frame has one row per client (latest
    enrollment, ``hud.latest_enrollment``) with: leaver/stayer (``hud.is_apr_leaver``), age at
    the later of report start and project start (``hud.age_at``), adult/child/unknown, HoH,
    household type (``hud.household_type``), the household's move-in date
    (``hud.household_move_in``), length of participation (``hud.stayer_length``, bed nights
    for ES night-by-night: ``hud.bed_nights``), engagement for street outreach, veteran and
    chronic status.

    Raises:
        HmisError: the end is before the start, or a requested project is unknown.
    """
    s, e = pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize()
    if e < s:
        raise HmisError(f"report end {e.date()} is before its start {s.date()}; swap them.")
    version = getattr(getattr(tables, "report", None), "version", None) or "2024"
    proj = report_projects(tables, projects)
    enr = active_enrollments(tables, version, s, e, proj)
    if projects is None:  # every project the report covers: those with an active enrollment
        proj = proj[proj["ProjectID"].isin(enr["ProjectID"])]
    latest = hud.latest_enrollment(enr)
    client = tables["Client"].drop_duplicates("PersonalID", keep="last").set_index("PersonalID")
    persons = latest[latest["PersonalID"].isin(client.index)].copy().reset_index(drop=True)
    persons["orphan"] = False
    created = client["DateCreated"] if "DateCreated" in client else None
    persons["ClientCreated"] = as_dates(
        None
        if created is None
        else pd.Series(created.reindex(persons["PersonalID"]).to_numpy(), index=persons.index),
        persons.index,
    )
    c = client.reindex(persons["PersonalID"])
    for col in client.columns:
        if col not in persons and not col.startswith("_"):
            persons[col] = c[col].to_numpy()
    persons = persons.rename(columns={"DateCreated": "EnrollmentCreated"})
    persons["DateToStreetESSH"] = as_dates(persons.get("DateToStreetESSH"), persons.index)
    dob = pd.to_datetime(persons.get("DOB"), errors="coerce")
    persons["DOB"] = dob
    persons["age"] = hud.age_at(dob, persons["EntryDate"], s)
    persons["age_unknown"] = hud.age_unknown_kind(
        persons["age"], dob, persons.get("DOBDataQuality")
    )
    persons["adult"] = persons["age"].ge(18).fillna(False).astype(bool)
    persons["child"] = persons["age"].lt(18).fillna(False).astype(bool)
    persons["is_head"] = _num(persons.get("RelationshipToHoH"), persons.index).eq(1)
    persons["household_type"] = hud.household_type(persons["HouseholdID"], persons["age"])
    persons["leaver"] = hud.is_apr_leaver(persons["ExitDate"], e)
    persons["stayer"] = ~persons["leaver"]
    length = hud.stayer_length(persons["EntryDate"], persons["ExitDate"], e)
    nbn = persons["project_type"].eq(NBN_TYPE).fillna(False)
    if nbn.any():
        services = tables.get("Services")
        if services is not None:
            services = services.assign(DateProvided=as_dates(services["DateProvided"]))
        nights = hud.bed_nights(persons[nbn], services, e)
        length = length.where(~nbn, nights.reindex(persons.index))
    persons["length"] = length.astype("Int64")
    persons["engaged"] = hud.engaged(
        persons["project_type"].eq(SO_TYPE),
        persons.get("DateOfEngagement", pd.Series(pd.NaT, index=persons.index)),
        persons["EntryDate"],
        persons["ExitDate"],
        e,
    )
    move = pd.to_datetime(persons.get("MoveInDate"), errors="coerce")
    frame = pd.DataFrame(
        {
            "move_in_date": move,
            "enrollment_date": persons["EntryDate"],
            "exit_date": persons["ExitDate"],
            "household_id": persons["HouseholdID"],
            "is_head": persons["is_head"],
        }
    )
    persons["move_in"] = hud.household_move_in(frame)
    persons["veteran"] = persons["adult"] & _num(persons.get("VeteranStatus"), persons.index).eq(1)
    persons["chronic"] = chronically_homeless(persons, version, persons["age"])
    persons["destination"] = pd.to_numeric(persons.get("Destination"), errors="coerce").where(
        persons["leaver"]
    )
    return Universe(tables, version, s, e, proj, enr, persons)
