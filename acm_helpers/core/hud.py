"""HUD rules, one function per rule, each citing the HUD specification it implements.

Pure code lists and transforms (no I/O). ``hmis`` uses them to map an HMIS CSV export onto
canonical episodes; ``derive.flag_returns`` uses the project-type groups for the System
Performance Measure 2 return rules.

Sources (HUD Exchange; section numbers as printed in each document):

- HMIS CSV Format Specifications FY2022 (v1.3), FY2024 (v1.2) and FY2026 ("2026 v1"):
  Export.csv ``CSVVersion``; Appendix B lists 2.02.6 ProjectType, 3.12.1 Living Situation
  Option List (exit destinations), 3.12.A RentalSubsidyType, 3.04 race, 3.06 gender; FY2026
  replaces the gender fields of Client.csv with ``Sex`` and renames ``HispanicLatinaeo`` to
  ``HispanicLatinao``.
- HMIS Data Standards Manual, 3.12 Destination and 3.20 Housing Move-in Date; HMIS Standard
  Reporting Terminology Glossary ("Leavers", "Stayers", "Housing Move-in Date").
- CoC APR / ESG CAPER HMIS Programming Specifications FY2024: the report universe (each
  client once, by the latest enrollment active in the period), "Age" (at the later of the
  report start and the project start) and Q11's age bands, Q22a-c (length of participation,
  min(exit, report end + 1) - start; project start to move-in), Q23c (exit destination,
  "positive housing destinations" and destinations excluded from the calculation, Appendix A).
- System Performance Measures Programming Specifications FY2024, Measure 2 (2a and 2b: returns
  to homelessness within 6, 12 and 24 months of an exit to a permanent housing destination).
"""

from __future__ import annotations

import re
from datetime import date

import numpy as np
import pandas as pd

# -- CSV versions ---------------------------------------------------------------------------
# HMIS CSV Format Specifications, 1.x Export.csv: CSVVersion, e.g. "2022 v1.3", "2024 v1.2",
# "2026 v1". Versions share a data-standards year with their list values; FY2020-format exports
# (single Gender column, no race checkboxes as in FY2022) are not supported.
SUPPORTED_VERSIONS = ("2022", "2024", "2026")


def csv_version(value: object) -> str | None:
    """The data-standards year of an Export.csv ``CSVVersion`` value, or ``None``.

    ``"2026 v1"`` -> ``"2026"``; ``"FY2024 v1.2"`` -> ``"2024"``; a year HUD never published
    (or an empty value) -> ``None``, so the caller can fall back to the file's columns.
    """
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    match = re.search(r"(20\d\d)", str(value))
    if not match:
        return None
    return match.group(1) if match.group(1) in SUPPORTED_VERSIONS else None


def version_from_columns(client_columns: list[str]) -> str | None:
    """Guess the CSV version from Client.csv's header when Export.csv does not say.

    FY2026: ``Sex`` and no gender checkboxes; FY2024: ``Woman``/``Man`` and
    ``HispanicLatinaeo``; FY2022: ``Female``/``Male`` and a separate ``Ethnicity`` column.
    """
    cols = set(client_columns)
    if "Sex" in cols and "Woman" not in cols:
        return "2026"
    if {"Woman", "Man"} & cols or "HispanicLatinaeo" in cols:
        return "2024"
    if {"Female", "Male"} & cols or "Ethnicity" in cols:
        return "2022"
    return None


# -- project types ----------------------------------------------------------------------------
# CSV spec Appendix B, list 2.02.6 ProjectType. FY2024 split Emergency Shelter into 0 (entry/exit)
# and 1 (night-by-night); in FY2022, 1 was Emergency Shelter and Project.csv TrackingMethod said
# which (0 entry/exit, 3 night-by-night).
PROJECT_TYPES: dict[int, tuple[str, str]] = {
    0: ("ES-EE", "Emergency Shelter - Entry Exit"),
    1: ("ES-NbN", "Emergency Shelter - Night-by-Night"),
    2: ("TH", "Transitional Housing"),
    3: ("PSH", "PH - Permanent Supportive Housing"),
    4: ("SO", "Street Outreach"),
    6: ("SSO", "Services Only"),
    7: ("Other", "Other"),
    8: ("SH", "Safe Haven"),
    9: ("PH-HO", "PH - Housing Only"),
    10: ("PH-HS", "PH - Housing with Services (no disability required)"),
    11: ("Day Shelter", "Day Shelter"),
    12: ("HP", "Homelessness Prevention"),
    13: ("RRH", "PH - Rapid Re-Housing"),
    14: ("CE", "Coordinated Entry"),
}
# The episode's ``program`` is HUD's short name of the project type, as HUD's reports print it
# (SPM: "Exit was from SO"); it never collides with other programs' names (e.g. the demo's
# "emergency_shelter"), so the SPM rules below apply to HMIS episodes only.
PROJECT_TYPE_LABELS = {slug: label for slug, label in PROJECT_TYPES.values()}

# SPM Measure 2: exits from and returns to these project types count. "Homeless" project types
# are ES (both kinds), SH, TH and SO; "PH" is every permanent housing project type (3, 9, 10, 13).
HOMELESS_PROGRAMS = frozenset({"ES-EE", "ES-NbN", "TH", "SO", "SH"})
PH_PROGRAMS = frozenset({"PSH", "PH-HO", "PH-HS", "RRH"})
SPM2_PROGRAMS = HOMELESS_PROGRAMS | PH_PROGRAMS
# HUD project types outside SPM Measure 2: enrolling there is not a return to homelessness.
NON_SPM2_PROGRAMS = frozenset(slug for slug, _ in PROJECT_TYPES.values()) - SPM2_PROGRAMS
# APR Q22c: project start to move-in is reported for PSH and RRH (and PH generally).
MOVE_IN_PROGRAMS = PH_PROGRAMS
ES_TH_PROGRAMS = frozenset({"ES-EE", "ES-NbN", "TH"})


def project_type_slug(
    codes: pd.Series, version: str, tracking_method: pd.Series | None = None
) -> pd.Series:
    """Program (HUD short name) of each ProjectType code, per the version's list 2.02.6 (null if unknown).

    FY2022: ProjectType 1 is Emergency Shelter; TrackingMethod 3 makes it night-by-night and
    anything else entry/exit (FY2024 CSV spec, change log: ES split into 0 and 1).
    """
    num = pd.to_numeric(codes, errors="coerce")
    if version == "2022":
        nbn = pd.Series(False, index=codes.index)
        if tracking_method is not None:
            nbn = pd.to_numeric(tracking_method, errors="coerce").eq(3).fillna(False)
        # FY2022 had no ProjectType 0; code 1 was ES with the tracking method deciding the kind.
        num = num.where(num != 0, np.nan)
        num = num.where(num != 1, np.where(nbn, 1, 0))
    slugs = {code: slug for code, (slug, _) in PROJECT_TYPES.items()}
    return num.map(slugs).astype("str")


# -- exit destinations ----------------------------------------------------------------------
# FY2024/FY2026 CSV spec, list 3.12.1 Living Situation Option List (destinations). The hundreds
# digit is the group: 1xx homeless, 2xx institutional, 3xx temporary, 4xx permanent; 1-99 other.
# 335/336 are prior-living-situation-only options (3.917), accepted but reported.
DESTINATIONS_2024: dict[int, str] = {
    116: "Place not meant for habitation",
    101: "Emergency shelter, including hotel or motel paid for with emergency shelter voucher, Host Home shelter",
    118: "Safe Haven",
    215: "Foster care home or foster care group home",
    206: "Hospital or other residential non-psychiatric medical facility",
    207: "Jail, prison or juvenile detention facility",
    225: "Long-term care facility or nursing home",
    204: "Psychiatric hospital or other psychiatric facility",
    205: "Substance abuse treatment facility or detox center",
    302: "Transitional housing for homeless persons (including homeless youth)",
    329: "Residential project or halfway house with no homeless criteria",
    314: "Hotel or motel paid for without emergency shelter voucher",
    332: "Host Home (non-crisis)",
    312: "Staying or living with family, temporary tenure",
    313: "Staying or living with friends, temporary tenure",
    327: "Moved from one HOPWA funded project to HOPWA TH",
    335: "Staying or living in a family member's room, apartment, or house",
    336: "Staying or living in a friend's room, apartment, or house",
    422: "Staying or living with family, permanent tenure",
    423: "Staying or living with friends, permanent tenure",
    426: "Moved from one HOPWA funded project to HOPWA PH",
    410: "Rental by client, no ongoing housing subsidy",
    435: "Rental by client, with ongoing housing subsidy",
    421: "Owned by client, with ongoing housing subsidy",
    411: "Owned by client, no ongoing housing subsidy",
    30: "No exit interview completed",
    17: "Other",
    24: "Deceased",
    37: "Worker unable to determine",
    8: "Client doesn't know",
    9: "Client prefers not to answer",
    99: "Data not collected",
}
# FY2024 CSV spec, list 3.12.A RentalSubsidyType (DestinationSubsidyType when Destination = 435).
SUBSIDY_TYPES_2024: dict[int, str] = {
    419: "VASH housing subsidy",
    420: "Other ongoing housing subsidy",
    428: "GPD TIP housing subsidy",
    431: "RRH or equivalent subsidy",
    433: "HCV voucher (tenant or project based) (not dedicated)",
    434: "Public housing unit",
    436: "Emergency Housing Voucher",
    437: "Family Unification Program Voucher (FUP)",
    438: "Foster Youth to Independence Initiative (FYI)",
    439: "Permanent Supportive Housing",
    440: "Other permanent housing dedicated for formerly homeless persons",
}
# FY2022 CSV spec list 3.12.1 (two-digit codes) -> the FY2024 code for the same destination,
# following the FY2024 change log (each FY2022 option keeps its meaning; rentals with a subsidy
# collapse into 435 + DestinationSubsidyType).
DESTINATIONS_2022_TO_2024: dict[int, int] = {
    1: 101,
    2: 302,
    4: 204,
    5: 205,
    6: 206,
    7: 207,
    8: 8,
    9: 9,
    10: 410,
    11: 411,
    12: 312,
    13: 313,
    14: 314,
    15: 215,
    16: 116,
    17: 17,
    18: 118,
    21: 421,
    22: 422,
    23: 423,
    24: 24,
    25: 225,
    26: 426,
    27: 327,
    29: 329,
    30: 30,
    32: 332,
    35: 335,
    36: 336,
    37: 37,
    99: 99,
    # rentals with an ongoing subsidy: FY2024 435 and the subsidy type below
    3: 435,
    19: 435,
    20: 435,
    28: 435,
    31: 435,
    33: 435,
    34: 435,
}
SUBSIDY_2022: dict[int, int] = {
    3: 440,  # "Permanent housing (other than RRH) for formerly homeless persons"
    19: 419,  # "Rental by client, with VASH housing subsidy"
    20: 420,  # "Rental by client, with other ongoing housing subsidy"
    28: 428,  # "Rental by client, with GPD TIP housing subsidy"
    31: 431,  # "Rental by client, with RRH or equivalent subsidy"
    33: 433,  # "Rental by client, with HCV voucher (tenant or project based)"
    34: 434,  # "Rental by client in a public housing unit"
}
OTHER_DESTINATIONS = frozenset({17, 24})  # APR Q23c "Other": Other, Deceased
UNKNOWN_DESTINATIONS = frozenset({8, 9, 30, 37, 99})  # don't know / refused / no interview / DNC


def normalize_destinations(
    codes: pd.Series, version: str, subsidy: pd.Series | None = None
) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Put exit destinations of any version into the FY2024 code space.

    Why: one code space lets the program file's SQL (APR Q23c positive and excluded
    destinations) work on merged exports of several versions, and ``destination_class`` is
    then one rule. FY2026 kept the FY2024 list unchanged.

    Returns:
        ``(code, subsidy_type, unknown)``: FY2024 codes as strings (null where blank or
        unknown), subsidy types as strings (FY2022 subsidised rentals get theirs from the old
        code), and a mask of non-blank codes that are not on the version's list.
    """
    num = pd.to_numeric(codes, errors="coerce")
    blank = codes.isna() | (codes.astype("str").str.strip() == "")
    if version == "2022":
        new = num.map(DESTINATIONS_2022_TO_2024)
        sub = num.map(SUBSIDY_2022)
    else:
        new = num.where(num.isin(list(DESTINATIONS_2024)))
        sub = (
            pd.to_numeric(subsidy, errors="coerce")
            if subsidy is not None
            else pd.Series(np.nan, index=codes.index)
        )
        sub = sub.where(sub.isin(list(SUBSIDY_TYPES_2024)) & new.eq(435))
    unknown = new.isna() & ~blank
    as_str = new.astype("Int64").astype("str").where(new.notna())
    sub_str = sub.astype("Int64").astype("str").where(sub.notna())
    return as_str, sub_str, unknown


def destination_class(codes_2024: pd.Series) -> pd.Series:
    """Destination class of FY2024-space codes (APR Q23c groups, HMIS Data Standards 3.12).

    4xx permanent; 2xx institutional; 3xx temporary; 1xx (homeless situations: street, ES, SH)
    temporary too, as the FY2022 APR grouped them, because the canonical classes have no
    "homeless" class; 17 Other and 24 Deceased other; 8, 9, 30, 37, 99 and blank unknown.
    """
    num = pd.to_numeric(codes_2024, errors="coerce")
    hundreds = num // 100
    out = np.select(
        [hundreds.eq(4), hundreds.eq(2), hundreds.isin([1, 3]), num.isin(list(OTHER_DESTINATIONS))],
        ["permanent", "institutional", "temporary", "other"],
        default="unknown",
    )
    return pd.Series(out, index=codes_2024.index, dtype="str")


def destination_classes(codes: pd.Series, version: str) -> pd.Series:
    """Destination class of raw codes as exported in ``version`` (convenience for callers)."""
    new, _, _ = normalize_destinations(codes, version)
    return destination_class(new)


# APR Q23c (FY2024 APR/CAPER Programming Specifications, Appendix A "Exit Destinations"):
# the percentage exiting to positive housing destinations is positive / (leavers - excluded).
APR_PERMANENT = frozenset({426, 411, 421, 410, 435, 422, 423})
APR_POSITIVE_SO = (
    frozenset({101, 118, 215, 204, 205, 225, 314, 312, 313, 302, 327, 332}) | APR_PERMANENT
)
APR_POSITIVE_ES_TH = frozenset({332}) | APR_PERMANENT
APR_EXCLUDED = frozenset({215, 206, 225, 24})
APR_EXCLUDED_SO = frozenset({206, 329, 24})


def apr_excluded(frame: pd.DataFrame) -> pd.Series:
    """APR Q23c: leavers whose destination excludes them from the percentage's denominator.

    Street outreach: hospital (206), halfway house (329), deceased (24); every other project
    type: foster care (215), hospital (206), long-term care (225), deceased (24).
    """
    code = pd.to_numeric(frame["exit_destination"], errors="coerce")
    so = frame["program"].eq("SO")
    return (so & code.isin(list(APR_EXCLUDED_SO))) | (~so & code.isin(list(APR_EXCLUDED)))


def apr_positive(frame: pd.DataFrame) -> pd.Series:
    """APR Q23c: leavers who exited to a positive housing destination for their project type.

    Street outreach counts temporary and some institutional destinations as positive; ES and TH
    also count Host Home (332); every other project type counts permanent destinations only.
    """
    code = pd.to_numeric(frame["exit_destination"], errors="coerce")
    prog = frame["program"]
    so = prog.eq("SO")
    es_th = prog.isin(list(ES_TH_PROGRAMS))
    return (
        (so & code.isin(list(APR_POSITIVE_SO)))
        | (es_th & code.isin(list(APR_POSITIVE_ES_TH)))
        | (~so & ~es_th & code.isin(list(APR_PERMANENT)))
    )


# -- leavers, stayers, length of participation, move-in -------------------------------------
def _ts(value: date | str | pd.Timestamp) -> pd.Timestamp:
    return pd.Timestamp(value).normalize()


def is_leaver(frame: pd.DataFrame, start: date | str, end: date | str) -> pd.Series:
    """APR leavers: episodes whose exit date falls in the report period [start, end].

    HMIS Standard Reporting Terminology Glossary, "Leavers": the client exited the project
    during the report period (an exit after the report end makes the client a stayer).
    """
    s, e = _ts(start), _ts(end)
    return frame["exit_date"].between(s, e).fillna(False).astype(bool)


def is_stayer(frame: pd.DataFrame, start: date | str, end: date | str) -> pd.Series:
    """APR stayers: active on the last day of the period (started by then, no exit by then).

    Glossary, "Stayers": clients with no exit date, or an exit date after the report end date.
    Only episodes active in the period are considered (project start on or before the end).
    """
    e = _ts(end)
    started = frame["enrollment_date"] <= e
    open_at_end = frame["exit_date"].isna() | (frame["exit_date"] > e)
    return (started & open_at_end).fillna(False).astype(bool)


def length_of_participation(frame: pd.DataFrame, start: date | str, end: date | str) -> pd.Series:
    """APR Q22a/Q22b length of participation in days for the report period.

    Every episode's length is min(exit date, report end + 1) - project start date
    (:func:`participation_days`): leavers' exit minus start, stayers' day after the report end
    minus start. Episodes that are neither (exited before the period, or started after it) are
    null. (For night-by-night shelters HUD counts bed nights from Services.csv; this date-based
    length is an upper bound.) Per episode: HUD's persons are each client's latest enrollment
    (:func:`latest_enrollment`).
    """
    leaver = is_leaver(frame, start, end)
    stayer = is_stayer(frame, start, end) & ~leaver
    days = pd.Series(pd.NA, index=frame.index, dtype="Int64")
    both = leaver | stayer
    days[both] = participation_days(frame.loc[both], end)
    return days


def valid_move_in(frame: pd.DataFrame) -> pd.Series:
    """HMIS Data Standards 3.20 / Glossary "Housing Move-in Date": a move-in date counts only
    on or after the project start date and on or before the exit date (if any)."""
    move = frame["move_in_date"]
    ok = move.notna() & (move >= frame["enrollment_date"])
    ok &= frame["exit_date"].isna() | (move <= frame["exit_date"])
    return ok.fillna(False).astype(bool)


def days_to_move_in(frame: pd.DataFrame) -> pd.Series:
    """APR Q22c: days from project start to housing move-in (null without a valid move-in)."""
    ok = valid_move_in(frame)
    days = (frame["move_in_date"] - frame["enrollment_date"]).dt.days
    return days.where(ok).astype("Int64")


def member(values: pd.Series, of: pd.Series | pd.Index) -> pd.Series:
    """``values.isin(of)`` for large id sets (a hash lookup; Arrow-string ``isin`` walks ``of`` in
    Python)."""
    index = pd.Index(pd.Series(of).dropna().unique())
    return pd.Series(index.get_indexer(values) >= 0, index=values.index) & values.notna()


def lookup(keys: pd.Series, mapping: pd.Series) -> pd.Series:
    """``keys.map(mapping)`` keeping the mapping's dtype (``map`` breaks on an empty date mapping)."""
    return pd.Series(
        mapping.reindex(keys.to_numpy()).to_numpy(), index=keys.index, dtype=mapping.dtype
    )


def household_move_in(frame: pd.DataFrame) -> pd.Series:
    """Move-in date per household member (Glossary, "Housing Move-in Date" for members).

    The head of household records the move-in date; members who entered on or before it share
    it, and members who joined later moved in on their own project start date. Keys: columns
    ``household_id`` and ``is_head``; a member's own valid date wins.
    """
    own = frame["move_in_date"].where(valid_move_in(frame))
    heads = frame[frame["is_head"] & own.notna()]
    head_date = heads.groupby("household_id")["move_in_date"].min()
    hh = lookup(frame["household_id"], head_date)
    inherited = hh.where(frame["enrollment_date"] <= hh, frame["enrollment_date"])
    inherited = inherited.where(hh.notna())
    inherited = inherited.where(frame["exit_date"].isna() | (inherited <= frame["exit_date"]))
    return own.fillna(inherited)


# -- SPM Measure 2: returns to homelessness ---------------------------------------------------
SPM2_WINDOWS = {"return_6m": 180, "return_12m": 365, "return_24m": 730}  # 0-180, 181-365, 366-730
PH_TRANSFER_DAYS = 14


def program_kind(programs: pd.Series) -> pd.Series:
    """SPM 2 role of each episode's program: ``homeless``, ``ph``, ``none`` (a HUD project type
    outside SPM 2, e.g. prevention or services only) or ``generic`` (not a HUD project type:
    another field's programs, where the workbench's general 14-day rule applies)."""
    kind = np.select(
        [
            programs.isin(list(HOMELESS_PROGRAMS)),
            programs.isin(list(PH_PROGRAMS)),
            programs.isin(list(NON_SPM2_PROGRAMS)),
        ],
        ["homeless", "ph", "none"],
        default="generic",
    )
    return pd.Series(kind, index=programs.index, dtype="str")


def days_to_return(episodes: pd.DataFrame, as_of: pd.Timestamp) -> pd.Series:
    """Days from each exit to a permanent destination to the client's first return (or null).

    System Performance Measures Programming Specifications FY2024, Measure 2:

    - A return is a project start in a homeless project type (ES, SH, TH, SO) on or after the
      exit date, or in a permanent housing project type (PSH, PH, RRH) more than 14 days after
      the exit date that is not itself within 14 days of another PH exit (nor during another PH
      stay): moving from one PH project to another is a transfer, not a return to homelessness.
    - Enrollments in other HUD project types (prevention, services only, CE, day shelter,
      other) are not returns. Episodes of programs that are not HUD project types keep the
      workbench's general rule: any new episode more than 14 days after the exit.
    - Only starts within 730 days of the exit are searched; the episode itself never counts.

    Args:
        episodes: canonical episodes (``client_id``, ``program``, ``enrollment_date``,
            ``exit_date``, ``destination_class``).
        as_of: open PH stays run to this date when testing the 14-day rule.
    """
    result = pd.Series(pd.NA, index=episodes.index, dtype="Int64")
    exits = episodes[(episodes["destination_class"] == "permanent") & episodes["exit_date"].notna()]
    if exits.empty:
        return result
    kind = program_kind(episodes["program"].astype("str"))
    cand = episodes[["client_id", "enrollment_date", "exit_date"]].assign(kind=kind)
    cand = cand[cand["enrollment_date"].notna() & kind.ne("none")]
    pairs = (
        exits[["client_id", "exit_date"]]
        .rename(columns={"exit_date": "left"})
        .reset_index(names="exit_idx")
        .merge(cand.reset_index(names="cand_idx"), on="client_id", how="inner")
    )
    pairs = pairs[pairs["cand_idx"] != pairs["exit_idx"]]
    gap = (pairs["enrollment_date"] - pairs["left"]).dt.days
    pairs = pairs.assign(gap=gap)
    keep = ((pairs["kind"] == "homeless") & (gap >= 0)) | (
        (pairs["kind"].isin(["ph", "generic"])) & (gap > PH_TRANSFER_DAYS)
    )
    pairs = pairs[keep & (gap <= max(SPM2_WINDOWS.values()))]
    ph = pairs[pairs["kind"] == "ph"]
    if not ph.empty:
        pairs = pairs.drop(index=ph.index[_after_other_ph(ph, episodes, kind, as_of)])
    first = pairs.groupby("exit_idx")["gap"].min()
    result.loc[first.index] = first.astype("Int64")
    return result


def _after_other_ph(
    ph_pairs: pd.DataFrame, episodes: pd.DataFrame, kind: pd.Series, as_of: pd.Timestamp
) -> np.ndarray:
    """Mask of PH candidate starts that fall within another PH stay of the client or within 14
    days after its exit (SPM 2: PH-to-PH moves are transfers)."""
    stays = episodes.loc[kind.eq("ph"), ["client_id", "enrollment_date", "exit_date"]]
    stays = stays.assign(
        until=stays["exit_date"].add(pd.Timedelta(days=PH_TRANSFER_DAYS)).fillna(as_of)
    )
    stays = stays.reset_index(names="stay_idx")
    probe = ph_pairs[["client_id", "cand_idx", "enrollment_date"]].reset_index(names="pair_row")
    both = probe.merge(
        stays[["client_id", "stay_idx", "enrollment_date", "until"]],
        on="client_id",
        suffixes=("", "_stay"),
    )
    both = both[both["stay_idx"] != both["cand_idx"]]
    inside = (both["enrollment_date"] > both["enrollment_date_stay"]) & (
        both["enrollment_date"] <= both["until"]
    )
    hit = set(both.loc[inside, "pair_row"])
    return np.array([row in hit for row in ph_pairs.index])


# -- APR / CAPER person rules (CoC APR and ESG CAPER HMIS Programming Specifications) ---------
# Sections cited as in the FY2024 specification ("Report universe", "Age", "Household type",
# "Length of participation"); the FY2026 specification keeps these rules.
DKPNTA_LABEL = {
    "2022": "Client Doesn't Know/Client Refused",
    "2024": "Client Doesn't Know/Prefers Not to Answer",
    "2026": "Client Doesn't Know/Prefers Not to Answer",
}
DNC_LABEL = "Data Not Collected"

# APR Q11 age bands (label, lowest age, highest age; None = no upper bound). FY2022 (APR spec
# v1.x for the 2022 data standards) ends in 55-61 and 62+; the FY2024 specification changed the
# last two bands to 55-64 and 65+ (kept in FY2026).
AGE_BANDS_FY2022: tuple[tuple[str, int, int | None], ...] = (
    ("Under 5", 0, 4),
    ("5-12", 5, 12),
    ("13-17", 13, 17),
    ("18-24", 18, 24),
    ("25-34", 25, 34),
    ("35-44", 35, 44),
    ("45-54", 45, 54),
    ("55-61", 55, 61),
    ("62+", 62, None),
)
AGE_BANDS_FY2024: tuple[tuple[str, int, int | None], ...] = AGE_BANDS_FY2022[:7] + (
    ("55-64", 55, 64),
    ("65+", 65, None),
)
AGE_BANDS = AGE_BANDS_FY2024  # the current specification's bands


def age_edges(version: str = "2024") -> tuple[int, ...]:
    """Left-closed lower edges of the version's bands, for a binned breakdown (0, 5, 13, ...)."""
    return tuple(lo for _, lo, _ in age_bands(version))


def age_bands(version: str) -> tuple[tuple[str, int, int | None], ...]:
    """APR Q11 age bands of a CSV version (FY2022 ends at 62+, FY2024 and later at 65+)."""
    return AGE_BANDS_FY2022 if str(version) == "2022" else AGE_BANDS_FY2024


def age_at(dob: pd.Series, entry: pd.Series, report_start: date | str | pd.Timestamp) -> pd.Series:
    """Age in whole years at the later of the report start and the project start.

    APR/CAPER spec, "Age": age is calculated as of [report start date] or [project start date],
    whichever is later, from any recorded date of birth whatever its DOBDataQuality (a partial
    DOB is still the best date HUD has). No DOB, or a DOB after that date, gives no age (null):
    the person is reported as "Client doesn't know/prefers not to answer" or "Data not
    collected" by :func:`age_unknown_kind`.
    """
    start = _ts(report_start)
    when = entry.where(entry > start, start)
    years = when.dt.year - dob.dt.year
    before_birthday = (when.dt.month < dob.dt.month) | (
        (when.dt.month == dob.dt.month) & (when.dt.day < dob.dt.day)
    )
    age = (years - before_birthday.astype("int64")).astype("Int64")
    return age.where(dob.notna() & (age >= 0)).astype("Int64")


def age_unknown_kind(age: pd.Series, dob: pd.Series, dob_quality: pd.Series) -> pd.Series:
    """For people without an age: ``"dkpnta"`` or ``"dnc"`` (null for people with an age).

    APR/CAPER spec, "Age" and Q7a/Q11: no DOB with DOBDataQuality 8 or 9 is "Client doesn't
    know/prefers not to answer"; every other missing or invalid age (no DOB with quality 99 or
    blank, a DOB after the project start) is "Data not collected".
    """
    quality = pd.to_numeric(dob_quality, errors="coerce")
    dk = dob.isna() & quality.isin([8, 9])
    out = pd.Series(np.where(dk, "dkpnta", "dnc"), index=age.index, dtype="object")
    return out.where(age.isna())


def age_band(
    age: pd.Series, dob: pd.Series, dob_quality: pd.Series, version: str = "2024"
) -> pd.Series:
    """APR Q11 band label of each person (plus the version's DK/PNTA and "Data Not Collected")."""
    out = pd.Series(pd.NA, index=age.index, dtype="object")
    for label, lo, hi in age_bands(version):
        hit = age.ge(lo) & (age.le(hi) if hi is not None else True)
        out[hit.fillna(False).astype(bool)] = label
    kind = age_unknown_kind(age, dob, dob_quality)
    out[kind.eq("dkpnta").fillna(False)] = DKPNTA_LABEL.get(str(version), DKPNTA_LABEL["2024"])
    out[kind.eq("dnc").fillna(False)] = DNC_LABEL
    return out


def latest_enrollment(
    enrollments: pd.DataFrame,
    person: str | list[str] = "PersonalID",
    entry: str = "EntryDate",
    exit: str = "ExitDate",
    key: str = "EnrollmentID",
) -> pd.DataFrame:
    """One row per person: the enrollment that represents them in the report.

    APR/CAPER spec, "Report universe" (client universe): a client with several enrollments in the
    report's projects and period is reported once, by the enrollment with the latest project
    start date; that enrollment decides leaver or stayer, age and household. Ties on the start
    date go to the enrollment without an exit (or the later exit), then the higher id (in text
    order, as the engine's ``per: person`` metrics order them:
    :data:`acm_helpers.metrics.joins.LATEST_FIRST`). ``person`` may be a list of columns (e.g.
    ``["provider_id", "client_id"]``: one per client and provider).

    Column names default to the HMIS CSV's; for canonical episodes pass
    ``person="client_id", entry="enrollment_date", exit="exit_date", key="episode_id"``.
    """
    if enrollments.empty:
        return enrollments.copy()
    ordered = enrollments.assign(
        _exit=enrollments[exit].fillna(pd.Timestamp("2262-01-01")),  # an open stay is latest
        _key=enrollments[key].astype("string"),
    ).sort_values([entry, "_exit", "_key"], kind="stable", na_position="first")
    last = ordered.drop_duplicates(person, keep="last")
    return last.drop(columns=["_exit", "_key"]).sort_index()


def is_apr_leaver(exit_date: pd.Series, end: date | str | pd.Timestamp) -> pd.Series:
    """APR leaver: the latest enrollment's exit date is on or before the report end date.

    APR/CAPER spec, "Leavers" (HMIS Reporting Glossary): the client's latest enrollment in the
    report universe ended in the period; an exit after the report end makes a stayer.
    """
    return exit_date.notna() & (exit_date <= _ts(end))


def stayer_length(
    entry: pd.Series, exit_date: pd.Series, end: date | str | pd.Timestamp
) -> pd.Series:
    """Length of participation in days: min(exit date, report end + 1) - project start date.

    APR/CAPER spec, Q22a-b "Length of participation": leavers count to their exit date; stayers
    to the day after the report end (the report end date itself is a day in the project).
    """
    stop = _ts(end) + pd.Timedelta(days=1)
    until = exit_date.where(exit_date.notna() & (exit_date < stop), stop)
    return (until - entry).dt.days.astype("Int64")


def bed_nights(
    enrollments: pd.DataFrame, services: pd.DataFrame, end: date | str | pd.Timestamp
) -> pd.Series:
    """Length of participation of night-by-night shelter stays: distinct bed nights.

    APR/CAPER spec, Q22a-b for ES night-by-night (FY2024+ ProjectType 1; FY2022 ProjectType 1
    with TrackingMethod 3): the number of distinct Services.csv RecordType 200 DateProvided on
    or after the project start and before min(exit date, report end + 1). Indexed like
    ``enrollments`` (EnrollmentID, EntryDate, ExitDate); 0 for stays without a bed night.
    """
    out = pd.Series(0, index=enrollments.index, dtype="Int64")
    if services is None or services.empty or enrollments.empty:
        return out
    nights = services.loc[
        pd.to_numeric(services["RecordType"], errors="coerce").eq(200),
        ["EnrollmentID", "DateProvided"],
    ]
    stop = _ts(end) + pd.Timedelta(days=1)
    until = enrollments["ExitDate"].where(
        enrollments["ExitDate"].notna() & (enrollments["ExitDate"] < stop), stop
    )
    keys = enrollments[["EnrollmentID", "EntryDate"]].assign(until=until).reset_index(names="row")
    both = keys.merge(nights, on="EnrollmentID", how="inner")
    ok = (both["DateProvided"] >= both["EntryDate"]) & (both["DateProvided"] < both["until"])
    counts = both[ok].drop_duplicates(["row", "DateProvided"]).groupby("row").size()
    out.loc[counts.index] = counts.astype("int64").to_numpy()
    return out


HOUSEHOLD_TYPES = ("adults_only", "adults_and_children", "children_only", "unknown")
HOUSEHOLD_TYPE_LABELS = {
    "adults_only": "Without Children",
    "adults_and_children": "With Children and Adults",
    "children_only": "With Only Children",
    "unknown": "Unknown Household Type",
}


def household_type(household_id: pd.Series, age: pd.Series) -> pd.Series:
    """HUD household type of each person from the ages of their household's reported members.

    APR/CAPER spec, "Household type": households without children (every member an adult),
    with children and adults (at least one adult and one child, whatever the other members),
    with only children (every member a child), unknown (any other mix: a member of unknown age
    and no adult-child pair). Members are the people of the report universe sharing the
    HouseholdID of their reported enrollment; a blank HouseholdID is a household of one.
    """
    hh = household_id.astype("object").where(household_id.notna(), "_solo_" + age.index.astype(str))
    frame = pd.DataFrame(
        {
            "hh": hh,
            "adult": age.ge(18).fillna(False).astype(bool),
            "child": age.lt(18).fillna(False).astype(bool),
            "unknown": age.isna(),
        }
    )
    g = frame.groupby("hh")[["adult", "child", "unknown"]].any()
    kind = np.select(
        [
            g["adult"] & g["child"],
            g["adult"] & ~g["child"] & ~g["unknown"],
            g["child"] & ~g["adult"] & ~g["unknown"],
        ],
        ["adults_and_children", "adults_only", "children_only"],
        default="unknown",
    )
    per_hh = pd.Series(kind, index=g.index)
    return pd.Series(per_hh.reindex(frame["hh"]).to_numpy(), index=age.index, dtype="object")


# -- the monthly packets' HUD rules (the same rules, on canonical episodes) --------------------
def latest_active(
    frame: pd.DataFrame,
    start: date | str,
    end: date | str,
    by: str = "provider_id",
    engaged: pd.Series | None = None,
) -> pd.Series:
    """Mask of each client's latest enrollment active in [start, end] (one per client per ``by``).

    APR/CAPER spec, "Report universe": active = project start on or before the report end and
    no exit before the report start; of those, :func:`latest_enrollment` picks the one that
    represents the client. The engine's ``per: person`` metrics apply the same rule in SQL.

    Args:
        frame: episodes with ``client_id``, ``episode_id``, ``enrollment_date``, ``exit_date``
            and ``by`` (the report's project group: ``provider_id`` or ``project_id``).
        engaged: optional mask of enrollments that may be chosen at all (street outreach:
            :func:`outreach_engaged`); the latest is chosen among those.
    """
    s, e = _ts(start), _ts(end)
    active = (frame["enrollment_date"] <= e) & (
        frame["exit_date"].isna() | (frame["exit_date"] >= s)
    )
    active = active.fillna(False).astype(bool)
    if engaged is not None:
        active &= engaged.fillna(False).astype(bool)
    rows = frame.loc[active, ["client_id", "episode_id", "enrollment_date", "exit_date", by]]
    chosen = latest_enrollment(
        rows, person=[by, "client_id"], entry="enrollment_date", exit="exit_date", key="episode_id"
    )
    return pd.Series(frame.index.isin(chosen.index), index=frame.index)


def engaged(
    outreach: pd.Series,
    engagement: pd.Series,
    entry: pd.Series,
    exit_date: pd.Series,
    end: date | str | pd.Timestamp,
) -> pd.Series:
    """Enrollments the data-quality universe counts: every non-outreach enrollment, and
    outreach enrollments with a Date of Engagement (HMIS Data Standards 4.13) within the stay
    and on or before the report end.

    HMIS Data Quality Report Programming Specifications, "Project Stays to Include" (used by
    APR Q5a column B and Q6): street outreach stays of clients never engaged are left out of the
    data-quality questions only; every other question counts them.
    """
    when = pd.to_datetime(engagement, errors="coerce")
    ok = (
        when.notna()
        & (when <= _ts(end))
        & (when >= entry)
        & (exit_date.isna() | (when <= exit_date))
    )
    return (~outreach.fillna(False).astype(bool) | ok).fillna(False).astype(bool)


def outreach_engaged(frame: pd.DataFrame, end: date | str) -> pd.Series:
    """:func:`engaged` on canonical episodes (``program`` ``SO``, ``engagement_date``; without
    that column no outreach enrollment is engaged)."""
    engagement = frame.get("engagement_date", pd.Series(pd.NaT, index=frame.index))
    return engaged(
        frame["program"].eq("SO"), engagement, frame["enrollment_date"], frame["exit_date"], end
    )


def participation_days(frame: pd.DataFrame, end: date | str) -> pd.Series:
    """APR Q22a/Q22b length of participation of canonical episodes (:func:`stayer_length`)."""
    return stayer_length(frame["enrollment_date"], frame["exit_date"], end)


def age_band_of(ages: pd.Series, version: str = "2024") -> pd.Series:
    """HUD's Q11 band label of each age (the version's :func:`age_bands`; null ages stay null)."""
    bands = age_bands(version)
    num = pd.to_numeric(ages, errors="coerce").astype("float64")
    cut = pd.cut(
        num, [lo for _, lo, _ in bands] + [np.inf], right=False, labels=[b[0] for b in bands]
    )
    return cut.astype("string")
