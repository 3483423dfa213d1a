"""CoC APR and ESG CAPER questions as HUD's table shells, from a :class:`Universe`.

Each question is a DataFrame in the shell's layout: the columns are the shell's header row
(row 1 of the CSV) and the first column holds the row labels, so cell ``B2`` of ``Q5a.csv`` is
HUD's cell B2. Cells HUD greys out are blank (``""``); cells HUD prints as a count are 0 when
nobody qualifies. HUD reports are internal: nothing is suppressed.

Shells follow the CoC APR and ESG CAPER HMIS Programming Specifications for the data standards
of the export's CSV version (FY2022, FY2024, FY2026). The row labels and column order of
Q5a, Q7a, Q8a, Q11, Q12 (FY2024+), Q13a1, Q22a1, Q22a2, Q22b, Q22c, Q22e, Q23c (FY2024+ and
FY2022) and Q23d were checked against a published implementation of the FY2024/FY2026 shells;
where a shell could not be confirmed (Q10 for FY2026 "Sex", Q10/Q12 for FY2022) the function
says so in its docstring. The data-quality questions Q6a-Q6f are in
:mod:`acm_helpers.hmis.apr_quality`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from acm_helpers.core import hud
from acm_helpers.hmis.universe import (
    MOVE_IN_TYPES,
    NBN_TYPE,
    PH_TYPES,
    SO_TYPE,
    Universe,
)

BLANK = ""
HH_COLUMNS = [
    "Total",
    "Without Children",
    "With Children and Adults",
    "With Only Children",
    "Unknown Household Type",
]


def _frame(header: list[str], rows: list[list]) -> pd.DataFrame:
    """A table shell: ``header`` is HUD's row 1; each row starts with its label (column A)."""
    return pd.DataFrame(rows, columns=header)


def _dk(u: Universe) -> str:
    return hud.DKPNTA_LABEL.get(u.version, hud.DKPNTA_LABEL["2024"])


def _count(mask: pd.Series) -> int:
    return int(mask.fillna(False).astype(bool).sum())


def _by_household(p: pd.DataFrame, mask: pd.Series, blanks: tuple[int, ...] = ()) -> list:
    """Counts for [Total, Without Children, With Children and Adults, With Only Children,
    Unknown Household Type] (APR/CAPER spec, "Household type" columns); ``blanks`` are column
    positions HUD greys out."""
    mask = mask.fillna(False).astype(bool)
    out = [_count(mask)] + [_count(mask & p["household_type"].eq(t)) for t in hud.HOUSEHOLD_TYPES]
    return [BLANK if i in blanks else v for i, v in enumerate(out)]


def _pct(num: float, den: float) -> float:
    """A share as HUD prints it (a fraction, 4 decimals); 0 when the denominator is 0."""
    return round(num / den, 4) if den else 0.0


# -- Q4 -------------------------------------------------------------------------------------
def q4a(u: Universe) -> pd.DataFrame:
    """Q4a Project Identifiers in HMIS: one row per report project (spec Q4a)."""
    t = u.tables
    org = t.get("Organization", pd.DataFrame(columns=["OrganizationID"]))
    orgs = org.set_index("OrganizationID") if "OrganizationID" in org else pd.DataFrame()
    coc = t.get("ProjectCoC", pd.DataFrame(columns=["ProjectID"]))
    aff = t.get("Affiliation", pd.DataFrame(columns=["ProjectID", "ResProjectID"]))
    export = t["Export"]
    software = (
        str(export["SoftwareName"].dropna().iloc[0])
        if "SoftwareName" in export and export["SoftwareName"].notna().any()
        else ""
    )
    p = u.persons
    rows = []
    proj = u.projects.sort_values("ProjectName") if "ProjectName" in u.projects else u.projects
    from acm_helpers.hmis.universe import project_types

    types = project_types(proj, u.version)
    for (_, r), ptype in zip(proj.iterrows(), types, strict=True):
        pid = r["ProjectID"]
        oid = r.get("OrganizationID")
        in_p = p["ProjectID"].eq(pid)
        cocs = coc[coc["ProjectID"].eq(pid)] if "ProjectID" in coc else coc.iloc[0:0]
        affs = aff[aff["ProjectID"].eq(pid)] if "ProjectID" in aff else aff.iloc[0:0]
        ptype = int(ptype) if pd.notna(ptype) else ""
        if u.version == "2022":
            tracking = r.get("TrackingMethod") if ptype in (0, 1) else 0
        else:
            tracking = 3 if ptype == NBN_TYPE else 0  # FY2024+: the project type says it
        residential = r.get("ResidentialAffiliation") if ptype == 6 else 0
        rows.append(
            [
                orgs["OrganizationName"].get(oid, "") if "OrganizationName" in orgs else "",
                oid,
                r.get("ProjectName", ""),
                pid,
                ptype,
                tracking,
                residential,
                ", ".join(affs["ResProjectID"].dropna().astype(str))
                if ptype == 6 and str(residential) == "1"
                else "",
                ", ".join(cocs["CoCCode"].dropna().astype(str)) if "CoCCode" in cocs else "",
                ", ".join(cocs["Geocode"].dropna().astype(str)) if "Geocode" in cocs else "",
                orgs["VictimServiceProvider"].get(oid, 0) if "VictimServiceProvider" in orgs else 0,
                software,
                u.start.date().isoformat(),
                u.end.date().isoformat(),
                _count(in_p),
                _count(in_p & p["is_head"]),
            ]
        )
    header = [
        "Organization Name",
        "Organization ID",
        "Project Name",
        "Project ID",
        "HMIS Project Type",
        "Method for Tracking ES",
        "Affiliated with a residential project",
        "Project IDs of affiliations",
        "CoC Number",
        "Geocode",
        "Victim Service Provider",
        "HMIS Software Name",
        "Report Start Date",
        "Report End Date",
        "Total Active Clients",
        "Total Active Households",
    ]
    return _frame(header, rows)


# -- Q5 -------------------------------------------------------------------------------------
def _hoh_long_stayers(p: pd.DataFrame, end: pd.Timestamp) -> pd.Series:
    """Q5a row 17: HoH stayers in the project 365+ days (project start <= end - 365) and the
    adult stayers of their households (even if the adult joined later)."""
    long_head = p["is_head"] & p["stayer"] & ((end - p["EntryDate"]).dt.days >= 365)
    households = set(p.loc[long_head, "HouseholdID"])
    return p["stayer"] & p["HouseholdID"].isin(households) & (p["is_head"] | p["adult"])


def q5a(u: Universe) -> pd.DataFrame:
    """Q5a Report Validations Table (spec Q5a; FY2024+: column B "Count of Clients for DQ"
    counts street outreach clients only when engaged, column C every client)."""
    p = u.persons
    age = p["age"]
    under25 = age.lt(25) & age.ge(12)
    hh_max = age.groupby(p["HouseholdID"]).transform("max")
    youth = (under25 & hh_max.lt(25)).fillna(False)
    has_child = p["HouseholdID"].isin(
        p.loc[pd.to_numeric(p.get("RelationshipToHoH"), errors="coerce").eq(2), "HouseholdID"]
    )
    parenting = youth & (p["is_head"] | p["adult"]) & has_child & p["is_head"]
    rows = [
        ("Total number of persons served", pd.Series(True, index=p.index)),
        ("Number of adults (age 18 or over)", p["adult"]),
        ("Number of children (under age 18)", p["child"]),
        ("Number of persons with unknown age", age.isna()),
        ("Number of leavers", p["leaver"]),
        ("Number of adult leavers", p["leaver"] & p["adult"]),
        (
            "Number of adult and head of household leavers",
            p["leaver"] & (p["adult"] | p["is_head"]),
        ),
        ("Number of stayers", p["stayer"]),
        ("Number of adult stayers", p["stayer"] & p["adult"]),
        ("Number of veterans", p["veteran"]),
        ("Number of chronically homeless persons", p["chronic"]),
        ("Number of youth under age 25", youth),
        ("Number of parenting youth under age 25 with children", parenting),
        ("Number of adult heads of household", p["adult"] & p["is_head"]),
        ("Number of child and unknown-age heads of household", ~p["adult"] & p["is_head"]),
        (
            "Heads of households and adult stayers in the project 365 days or more",
            _hoh_long_stayers(p, u.end),
        ),
    ]
    dq = p["engaged"]
    return _frame(
        ["Category", "Count of Clients for DQ", "Count of Clients"],
        [[label, _count(m & dq), _count(m)] for label, m in rows],
    )


# -- Q6 data quality -------------------------------------------------------------------------
def _dq_base(u: Universe) -> pd.DataFrame:
    """The data-quality universe: Q5a column B (street outreach: engaged clients only)."""
    return u.persons[u.persons["engaged"]]


def _codes(series: pd.Series | None, index: pd.Index) -> pd.Series:
    if series is None:
        return pd.Series(np.nan, index=index)
    return pd.to_numeric(series, errors="coerce")


# -- Q7, Q8 ---------------------------------------------------------------------------------
def _moved_in(u: Universe) -> pd.Series:
    """PSH and RRH clients housed by the report end: a (household) move-in date on or before the
    end and not after the exit (spec Q7a/Q8a row "For PSH & RRH")."""
    p = u.persons
    move = p["move_in"]
    return (
        p["project_type"].isin(list(MOVE_IN_TYPES)).fillna(False)
        & move.notna()
        & (move <= u.end)
        & (p["ExitDate"].isna() | (p["ExitDate"] >= move))
    )


def q7a(u: Universe) -> pd.DataFrame:
    """Q7a Number of Persons Served (spec Q7a): adults, children, unknown age split into
    DK/PNTA and Data Not Collected, by household type; C3 and E2 are greyed out."""
    p = u.persons
    unknown = p["age_unknown"]
    rows = [
        ["Adults", *_by_household(p, p["adult"], blanks=(3,))],
        ["Children", *_by_household(p, p["child"], blanks=(1,))],
        [_dk(u), *_by_household(p, unknown.eq("dkpnta"))],
        ["Data Not Collected", *_by_household(p, unknown.eq("dnc"))],
        ["Total", *_by_household(p, pd.Series(True, index=p.index))],
        [
            "For PSH & RRH - the total persons served who moved into housing",
            *_by_household(p, _moved_in(u)),
        ],
    ]
    return _frame([" ", *HH_COLUMNS], rows)


def q8a(u: Universe) -> pd.DataFrame:
    """Q8a Number of Households Served (spec Q8a): heads of household by household type."""
    p = u.persons
    head = p["is_head"]
    rows = [
        ["Total Households", *_by_household(p, head)],
        [
            "For PSH & RRH - the total households served who moved into housing",
            *_by_household(p, head & _moved_in(u)),
        ],
    ]
    return _frame([" ", *HH_COLUMNS], rows)


# -- Q10 gender / sex -----------------------------------------------------------------------
GENDER_2024 = {  # Client.csv column -> label (HMIS CSV FY2024, 3.06 Gender)
    "Woman": "Woman",
    "Man": "Man",
    "CulturallySpecific": "Culturally Specific Identity",
    "Transgender": "Transgender",
    "NonBinary": "Non-Binary",
    "Questioning": "Questioning",
    "DifferentIdentity": "Different Identity",
}


def _selected(p: pd.DataFrame, columns: dict[str, str]) -> pd.Series:
    """The tuple of column keys each person selected (value 1), in ``columns`` order."""
    cols = [c for c in columns if c in p]
    vals = (
        p[cols].apply(pd.to_numeric, errors="coerce").eq(1) if cols else pd.DataFrame(index=p.index)
    )
    return (
        vals.apply(lambda r: tuple(c for c in cols if r[c]), axis=1)
        if cols
        else pd.Series([()] * len(p), index=p.index)
    )


def q10(u: Universe) -> pd.DataFrame:
    """Q10 Gender (FY2024: 3.06 Gender identities and pairs; FY2026: Sex; FY2022: the FY2022
    gender list), columns by household type.

    FY2024 rows are the spec's single identities, every pair, "More than 2 Gender Identities
    Selected", DK/PNTA, Data Not Collected, Total. FY2026 replaced gender with 3.06 Sex; the
    FY2026 shell (Female, Male, DK/PNTA, Data Not Collected, Total) is not confirmed. The FY2022
    spec split Q10 into Q10a (adults), Q10b (children), Q10c (unknown age); here the FY2022 rows
    are reported for all persons in one table (not HUD's FY2022 split).
    """
    p = u.persons
    dk = _dk(u)
    rows: list[tuple[str, pd.Series]] = []
    if u.version == "2026":
        sex = pd.to_numeric(p.get("Sex"), errors="coerce")
        rows = [
            ("Female", sex.eq(0)),
            ("Male", sex.eq(1)),
            (dk, sex.isin([8, 9])),
            ("Data Not Collected", sex.eq(99) | sex.isna()),
        ]
    elif u.version == "2022":
        cols = {
            "Male": "Male",
            "Female": "Female",
            "NoSingleGender": "No Single Gender",
            "Questioning": "Questioning",
            "Transgender": "Transgender",
        }
        chosen = _selected(p, cols)
        none = pd.to_numeric(p.get("GenderNone"), errors="coerce")
        single = chosen.map(len).eq(1)
        first = chosen.map(lambda t: t[0] if t else None)
        rows = [
            ("Male", single & first.eq("Male")),
            ("Female", single & first.eq("Female")),
            ("No Single Gender", first.eq("NoSingleGender") | chosen.map(len).ge(2)),
            ("Questioning", single & first.eq("Questioning")),
            ("Transgender", single & first.eq("Transgender")),
            (dk, chosen.map(len).eq(0) & none.isin([8, 9])),
            ("Data Not Collected", chosen.map(len).eq(0) & ~none.isin([8, 9])),
        ]
    else:
        chosen = _selected(p, GENDER_2024)
        keys = list(GENDER_2024)
        none = pd.to_numeric(p.get("GenderNone"), errors="coerce")
        for k in keys:
            rows.append((GENDER_2024[k], chosen.map(lambda t, k=k: t == (k,))))
        for i, a in enumerate(keys):
            for b in keys[i + 1 :]:
                label = f"{GENDER_2024[a]}/{GENDER_2024[b]}"
                rows.append((label, chosen.map(lambda t, a=a, b=b: set(t) == {a, b})))
        rows += [
            ("More than 2 Gender Identities Selected", chosen.map(len).ge(3)),
            (dk, chosen.map(len).eq(0) & none.isin([8, 9])),
            ("Data Not Collected", chosen.map(len).eq(0) & ~none.isin([8, 9])),
        ]
    rows.append(("Total", pd.Series(True, index=p.index)))
    return _frame([" ", *HH_COLUMNS], [[label, *_by_household(p, m)] for label, m in rows])


# -- Q11 age --------------------------------------------------------------------------------
def q11(u: Universe) -> pd.DataFrame:
    """Q11 Age (spec Q11): the version's bands (``hud.age_bands``), DK/PNTA, Data Not Collected,
    Total, by household type; children's bands are grey in "Without Children" (C2-C4) and
    adults' bands in "With Only Children" (E5-E10)."""
    p = u.persons
    band = hud.age_band(p["age"], p["DOB"], p.get("DOBDataQuality"), u.version)
    rows = []
    for i, (label, _, _) in enumerate(hud.age_bands(u.version)):
        blanks = (1,) if i < 3 else (3,)
        rows.append([label, *_by_household(p, band.eq(label), blanks=blanks)])
    rows.append([_dk(u), *_by_household(p, band.eq(_dk(u)))])
    rows.append(["Data Not Collected", *_by_household(p, band.eq(hud.DNC_LABEL))])
    rows.append(["Total", *_by_household(p, pd.Series(True, index=p.index))])
    return _frame([" ", *HH_COLUMNS], rows)


# -- Q12 race and ethnicity -------------------------------------------------------------------
RACE_2024 = {  # code -> (Client.csv column(s), label); FY2024 3.04 Race and Ethnicity
    1: (("AmIndAKNative",), "American Indian, Alaska Native, or Indigenous"),
    2: (("Asian",), "Asian or Asian American"),
    3: (("BlackAfAmerican",), "Black, African American, or African"),
    4: (("NativeHIPacific",), "Native Hawaiian or Pacific Islander"),
    5: (("White",), "White"),
    6: (("HispanicLatinaeo", "HispanicLatinao"), "Hispanic/Latina/e/o"),
    7: (("MidEastNAfrican",), "Middle Eastern or North African"),
}
RACE_SINGLE_ORDER = (1, 2, 3, 6, 7, 4, 5)
RACE_PAIRS = (
    (2, 1), (3, 1), (6, 1), (7, 1), (4, 1), (5, 1), (3, 2), (6, 2), (7, 2), (4, 2), (5, 2),
    (6, 3), (7, 3), (4, 3), (5, 3), (7, 6), (4, 6), (5, 6), (4, 7), (5, 7), (5, 4),
)  # fmt: skip


def _race_codes(p: pd.DataFrame) -> pd.Series:
    sel = pd.DataFrame(index=p.index)
    for code, (cols, _) in RACE_2024.items():
        present = [c for c in cols if c in p]
        sel[code] = (
            p[present].apply(pd.to_numeric, errors="coerce").eq(1).any(axis=1) if present else False
        )
    return sel.apply(lambda r: frozenset(c for c in RACE_2024 if r[c]), axis=1)


def q12(u: Universe) -> dict[str, pd.DataFrame]:
    """Q12 Race and Ethnicity (FY2024+ one table ``Q12``; FY2022 ``Q12a`` race, ``Q12b``
    ethnicity, counted separately as the FY2022 spec does).

    FY2024+ rows: each single race/ethnicity, the listed pairs (label "A & B"), 3+ selections
    with and without Hispanic/Latina/e/o, DK/PNTA (RaceNone 8/9), Data Not Collected, Total.
    The FY2022 Q12a/Q12b row labels are from the FY2022 spec as remembered, unconfirmed.
    """
    p = u.persons
    none = pd.to_numeric(p.get("RaceNone"), errors="coerce")
    dk = _dk(u)
    if u.version == "2022":
        codes = _race_codes(p)
        n = codes.map(len)
        race_rows = [
            ("White", codes.map(lambda s: s == {5})),
            ("Black, African American, or African", codes.map(lambda s: s == {3})),
            ("Asian or Asian American", codes.map(lambda s: s == {2})),
            ("American Indian, Alaska Native, or Indigenous", codes.map(lambda s: s == {1})),
            ("Native Hawaiian or Pacific Islander", codes.map(lambda s: s == {4})),
            ("Multiple Races", n.ge(2)),
            (dk, n.eq(0) & none.isin([8, 9])),
            ("Data Not Collected", n.eq(0) & ~none.isin([8, 9])),
            ("Total", pd.Series(True, index=p.index)),
        ]
        eth = pd.to_numeric(p.get("Ethnicity"), errors="coerce")
        eth_rows = [
            ("Non-Hispanic/Non-Latin(a)(o)(x)", eth.eq(0)),
            ("Hispanic/Latin(a)(o)(x)", eth.eq(1)),
            (dk, eth.isin([8, 9])),
            ("Data Not Collected", eth.eq(99) | eth.isna()),
            ("Total", pd.Series(True, index=p.index)),
        ]
        return {
            "Q12a": _frame(
                [" ", *HH_COLUMNS], [[lbl, *_by_household(p, m)] for lbl, m in race_rows]
            ),
            "Q12b": _frame(
                [" ", *HH_COLUMNS], [[lbl, *_by_household(p, m)] for lbl, m in eth_rows]
            ),
        }
    codes = _race_codes(p)
    n = codes.map(len)
    label = {c: lbl for c, (_, lbl) in RACE_2024.items()}
    rows = [(label[c], codes.map(lambda s, c=c: s == {c})) for c in RACE_SINGLE_ORDER]
    rows += [
        (f"{label[a]} & {label[b]}", codes.map(lambda s, a=a, b=b: s == {a, b}))
        for a, b in RACE_PAIRS
    ]
    rows += [
        (
            "Multiracial – more than 2 races/ethnicity, with one being Hispanic/Latina/e/o",
            n.ge(3) & codes.map(lambda s: 6 in s),
        ),
        (
            "Multiracial – more than 2 races, where no option is Hispanic/Latina/e/o",
            n.ge(3) & codes.map(lambda s: 6 not in s),
        ),
        (dk, n.eq(0) & none.isin([8, 9])),
        ("Data Not Collected", n.eq(0) & ~none.isin([8, 9])),
        ("Total", pd.Series(True, index=p.index)),
    ]
    return {"Q12": _frame([" ", *HH_COLUMNS], [[lbl, *_by_household(p, m)] for lbl, m in rows])}


# -- Q13a1 health conditions at start ---------------------------------------------------------
def q13a1(u: Universe) -> pd.DataFrame:
    """Q13a1 Physical and Mental Health Conditions at Start (spec Q13a1).

    Disabilities.csv records at project start (DataCollectionStage 1) of each person's reported
    enrollment with DisabilityResponse "yes": 9 mental health, 10 substance use (1 alcohol,
    2 drug, 3 both), 7 chronic health, 8 HIV/AIDS, 6 developmental, 5 physical. Columns: Total
    Persons, Without Children, Adults and Children in households with children and adults,
    With Only Children, Unknown Household Type (FY2024+ shell).
    """
    p = u.persons
    d = u.tables.get("Disabilities")
    flags = pd.DataFrame(
        False, index=p.index, columns=["mh", "alc", "drug", "both", "ch", "hiv", "dev", "phys"]
    )
    if d is not None and not d.empty:
        d = d[pd.to_numeric(d.get("DataCollectionStage"), errors="coerce").eq(1)]
        d = d[d["EnrollmentID"].isin(p["EnrollmentID"])]
        typ = pd.to_numeric(d["DisabilityType"], errors="coerce")
        resp = pd.to_numeric(d["DisabilityResponse"], errors="coerce")

        def has(mask: pd.Series) -> pd.Series:
            return p["EnrollmentID"].isin(d.loc[mask, "EnrollmentID"])

        flags["mh"] = has(typ.eq(9) & resp.eq(1))
        flags["alc"] = has(typ.eq(10) & resp.eq(1))
        flags["drug"] = has(typ.eq(10) & resp.eq(2))
        flags["both"] = has(typ.eq(10) & resp.eq(3))
        flags["ch"] = has(typ.eq(7) & resp.eq(1))
        flags["hiv"] = has(typ.eq(8) & resp.eq(1))
        flags["dev"] = has(typ.eq(6) & resp.eq(1))
        flags["phys"] = has(typ.eq(5) & resp.eq(1))
    ac = p["household_type"].eq("adults_and_children")
    pops = [
        pd.Series(True, index=p.index),
        p["household_type"].eq("adults_only"),
        ac & p["adult"],
        ac & p["child"],
        p["household_type"].eq("children_only"),
        p["household_type"].eq("unknown") | (ac & p["age"].isna()),
    ]
    labels = [
        ("Mental Health Disorder", "mh"),
        ("Alcohol Use Disorder", "alc"),
        ("Drug Use Disorder", "drug"),
        ("Both Alcohol and Drug Use Disorders", "both"),
        ("Chronic Health Condition", "ch"),
        ("HIV/AIDS", "hiv"),
        ("Developmental Disability", "dev"),
        ("Physical Disability", "phys"),
    ]
    rows = [[lbl, *[_count(flags[k] & pop) for pop in pops]] for lbl, k in labels]
    return _frame(
        [
            " ",
            "Total Persons",
            "Without Children",
            "Adults in HH with Children & Adults",
            "Children in HH with Children & Adults",
            "With Only Children",
            "Unknown Household Type",
        ],
        rows,
    )


# -- Q22 length of participation --------------------------------------------------------------
Q22A1_BINS = (
    ("30 days or less", 0, 30),
    ("31 to 60 days", 31, 60),
    ("61 to 90 days", 61, 90),
    ("91 to 180 days", 91, 180),
    ("181 to 365 days", 181, 365),
    ("366 to 730 days (1-2 Yrs)", 366, 730),
    ("731 to 1,095 days (2-3 Yrs)", 731, 1095),
    ("1,096 to 1,460 days (3-4 Yrs)", 1096, 1460),
    ("1,461 to 1,825 days (4-5 Yrs)", 1461, 1825),
    ("More than 1,825 days (> 5 Yrs)", 1826, None),
)
Q22A2_BINS = (
    ("0 to 7 days", 0, 7),
    ("8 to 14 days", 8, 14),
    ("15 to 21 days", 15, 21),
    ("22 to 30 days", 22, 30),
) + Q22A1_BINS[1:]
MOVE_IN_BINS = (
    ("7 days or less", 0, 7),
    ("8 to 14 days", 8, 14),
    ("15 to 21 days", 15, 21),
    ("22 to 30 days", 22, 30),
    ("31 to 60 days", 31, 60),
    ("61 to 90 days", 61, 90),
    ("91 to 180 days", 91, 180),
    ("181 to 365 days", 181, 365),
    ("366 to 730 days (1-2 Yrs)", 366, 730),
)
Q22E_BINS = MOVE_IN_BINS + (("731 days or more", 731, None),)


def _in_bin(days: pd.Series, lo: int, hi: int | None) -> pd.Series:
    hit = days.ge(lo) & (days.le(hi) if hi is not None else True)
    return hit.fillna(False).astype(bool)


def _q22a(u: Universe, bins) -> pd.DataFrame:
    """Length of participation (``hud.stayer_length``; bed nights for ES night-by-night) of
    every person, by Total / Leavers / Stayers."""
    p = u.persons
    days = p["length"]
    pops = [pd.Series(True, index=p.index), p["leaver"], p["stayer"]]
    rows = [
        [label, *[_count(_in_bin(days, lo, hi) & pop) for pop in pops]] for label, lo, hi in bins
    ]
    rows.append(["Total", *[_count(pop) for pop in pops]])
    return _frame([" ", "Total", "Leavers", "Stayers"], rows)


def q22a1(u: Universe) -> pd.DataFrame:
    """Q22a1 Length of Participation - CoC Projects (spec Q22a1)."""
    return _q22a(u, Q22A1_BINS)


def q22a2(u: Universe) -> pd.DataFrame:
    """Q22a2 Length of Participation - ESG Projects (spec Q22a2)."""
    return _q22a(u, Q22A2_BINS)


def q22b(u: Universe) -> pd.DataFrame:
    """Q22b Average and Median Length of Participation in Days (spec Q22b): leavers and stayers,
    2 decimals; 0 when there are none."""
    p = u.persons

    def stat(mask: pd.Series, how: Callable) -> float:
        vals = p.loc[mask, "length"].dropna().astype(float)
        return round(float(how(vals)), 2) if len(vals) else 0

    rows = [
        ["Average Length", stat(p["leaver"], np.mean), stat(p["stayer"], np.mean)],
        ["Median Length", stat(p["leaver"], np.median), stat(p["stayer"], np.median)],
    ]
    return _frame([" ", "Leavers", "Stayers"], rows)


def q22c(u: Universe) -> pd.DataFrame:
    """Q22c Length of Time between Project Start Date and Housing Move-in Date (spec Q22c).

    Universe: PSH and RRH clients whose (household) move-in date is in the period, plus leavers
    who exited without one. Days = move-in - project start.
    """
    p = u.persons
    ph = p["project_type"].isin(list(MOVE_IN_TYPES)).fillna(False)
    move = p["move_in"]
    moved = ph & move.between(u.start, u.end).fillna(False)
    no_move = ph & p["leaver"] & move.isna()
    days = (move - p["EntryDate"]).dt.days
    rows = [
        [label, *_by_household(p, moved & _in_bin(days, lo, hi))] for label, lo, hi in MOVE_IN_BINS
    ]
    rows.append(["Total (persons moved into housing)", *_by_household(p, moved)])
    avg = []
    for col in [pd.Series(True, index=p.index)] + [
        p["household_type"].eq(t) for t in hud.HOUSEHOLD_TYPES
    ]:
        vals = days[moved & col]
        avg.append(int(round(float(vals.mean()))) if len(vals) else 0)
    rows.append(["Average length of time to housing", *avg])
    rows.append(["Persons who were exited without move-in", *_by_household(p, no_move)])
    rows.append(["Total persons", *_by_household(p, moved | no_move)])
    return _frame([" ", *HH_COLUMNS], rows)


def q22e(u: Universe) -> pd.DataFrame:
    """Q22e Length of Time Prior to Housing - based on 3.917 Date Homelessness Started (spec Q22e).

    Universe: clients of ES, TH, SH and PH projects. Days from DateToStreetESSH (children and
    others without one take their HoH's) to the project start, or for PH to the move-in date
    (by the report end). PH clients not yet moved in are "Not yet moved into housing"; a missing
    or later date of homelessness is "Data not collected".
    """
    p = u.persons
    ptype = p["project_type"]
    pop = ptype.isin([0, 1, 2, 8, *PH_TYPES]).fillna(False)
    ph = ptype.isin(list(PH_TYPES)).fillna(False)
    heads = (
        p[p["is_head"]].drop_duplicates("HouseholdID").set_index("HouseholdID")["DateToStreetESSH"]
    )
    since = p["DateToStreetESSH"].fillna(hud.lookup(p["HouseholdID"], heads))
    housed_on = p["EntryDate"].where(~ph, p["move_in"].where(p["move_in"] <= u.end))
    days = (housed_on - since).dt.days
    valid = days.ge(0).fillna(False).astype(bool)
    not_yet = pop & ph & housed_on.isna()
    dnc = pop & ~not_yet & ~valid
    moved = pop & valid
    rows = [
        [label, *_by_household(p, moved & _in_bin(days, lo, hi))] for label, lo, hi in Q22E_BINS
    ]
    rows.append(["Total (persons moved into housing)", *_by_household(p, moved)])
    rows.append(["Not yet moved into housing", *_by_household(p, not_yet)])
    rows.append(["Data not collected", *_by_household(p, dnc)])
    rows.append(["Total persons", *_by_household(p, pop)])
    return _frame([" ", *HH_COLUMNS], rows)


# -- Q23 exit destination -------------------------------------------------------------------
def _dest_rows_2024(dk: str) -> list[tuple[str, object]]:
    """FY2024+ Q23c rows: (label, codes | None for a group heading | a keyword)."""
    return [
        ("Homeless Situations", None),
        (
            "Place not meant for habitation (e.g., a vehicle, an abandoned building, bus/train/subway station/airport or anywhere outside)",
            {116},
        ),
        (
            "Emergency shelter, including hotel or motel paid for with emergency shelter voucher, Host Home shelter",
            {101},
        ),
        ("Safe Haven", {118}),
        ("Subtotal", {101, 116, 118}),
        ("Institutional Situations", None),
        ("Foster care home or foster care group home", {215}),
        ("Hospital or other residential non-psychiatric medical facility", {206}),
        ("Jail, prison or juvenile detention facility", {207}),
        ("Long-term care facility or nursing home", {225}),
        ("Psychiatric hospital or other psychiatric facility", {204}),
        ("Substance abuse treatment facility or detox center", {205}),
        ("Subtotal", {215, 206, 207, 225, 204, 205}),
        ("Temporary Situations", None),
        ("Transitional housing for homeless persons (including homeless youth)", {302}),
        ("Residential project or halfway house with no homeless criteria", {329}),
        ("Hotel or motel paid for without emergency shelter voucher", {314}),
        ("Host Home (non-crisis)", {332}),
        (
            "Staying or living with family, temporary tenure (e.g., room, apartment, or house)",
            {312},
        ),
        (
            "Staying or living with friends, temporary tenure (e.g., room, apartment, or house)",
            {313},
        ),
        ("Moved from one HOPWA funded project to HOPWA TH", {327}),
        ("Subtotal", {302, 329, 314, 332, 312, 313, 327}),
        ("Permanent Situations", None),
        ("Staying or living with family, permanent tenure", {422}),
        ("Staying or living with friends, permanent tenure", {423}),
        ("Moved from one HOPWA funded project to HOPWA PH", {426}),
        ("Rental by client, no ongoing housing subsidy", {410}),
        ("Rental by client, with ongoing housing subsidy", {435}),
        ("Owned by client, with ongoing housing subsidy", {421}),
        ("Owned by client, no ongoing housing subsidy", {411}),
        ("Subtotal", {422, 423, 426, 410, 435, 421, 411}),
        ("Other Situations", None),
        ("No Exit Interview completed", {30}),
        ("Other", {17}),
        ("Deceased", {24}),
        (dk, {8, 9}),
        ("Data Not Collected", "dnc"),
        ("Subtotal", "other"),
        ("Total", "total"),
        ("Total persons exiting to positive housing destinations", "positive"),
        ("Total persons whose destinations excluded them from the calculation", "excluded"),
        ("Percentage of persons exiting to positive housing destinations", "pct"),
    ]


def _dest_rows_2022(dk: str) -> list[tuple[str, object]]:
    """FY2022 Q23c rows (FY2022 destination codes)."""
    return [
        ("Permanent Destinations", None),
        ("Moved from one HOPWA funded project to HOPWA PH", {26}),
        ("Owned by client, no ongoing housing subsidy", {11}),
        ("Owned by client, with ongoing housing subsidy", {21}),
        ("Rental by client, no ongoing housing subsidy", {10}),
        ("Rental by client, with VASH housing subsidy", {19}),
        ("Rental by client, with GPD TIP housing subsidy", {28}),
        ("Rental by client, with other ongoing housing subsidy", {20}),
        ("Permanent housing (other than RRH) for formerly homeless persons", {3}),
        ("Staying or living with family, permanent tenure", {22}),
        ("Staying or living with friends, permanent tenure", {23}),
        ("Rental by client, with RRH or equivalent subsidy", {31}),
        ("Rental by client, with HCV voucher (tenant or project based)", {33}),
        ("Rental by client in a public housing unit", {34}),
        ("Subtotal", {26, 11, 21, 10, 19, 28, 20, 3, 22, 23, 31, 33, 34}),
        ("Temporary Destinations", None),
        (
            "Emergency shelter, including hotel or motel paid for with emergency shelter voucher, or RHY-funded Host Home shelter",
            {1},
        ),
        ("Moved from one HOPWA funded project to HOPWA TH", {27}),
        ("Transitional housing for homeless persons (including homeless youth)", {2}),
        ("Staying or living with family, temporary tenure (e.g. room, apartment or house)", {12}),
        ("Staying or living with friends, temporary tenure (e.g. room, apartment or house)", {13}),
        (
            "Place not meant for habitation (e.g., a vehicle, an abandoned building, bus/train/subway station/airport or anywhere outside)",
            {16},
        ),
        ("Safe Haven", {18}),
        ("Hotel or motel paid for without emergency shelter voucher", {14}),
        ("Host Home (non-crisis)", {32}),
        ("Subtotal", {1, 27, 2, 12, 13, 16, 18, 14, 32}),
        ("Institutional Settings", None),
        ("Foster care home or group foster care home", {15}),
        ("Psychiatric hospital or other psychiatric facility", {4}),
        ("Substance abuse treatment facility or detox center", {5}),
        ("Hospital or other residential non-psychiatric medical facility", {6}),
        ("Jail, prison, or juvenile detention facility", {7}),
        ("Long-term care facility or nursing home", {25}),
        ("Subtotal", {15, 4, 5, 6, 7, 25}),
        ("Other Destinations", None),
        ("Residential project or halfway house with no homeless criteria", {29}),
        ("Deceased", {24}),
        ("Other", {17}),
        (dk, {8, 9}),
        ("Data Not Collected (no exit interview completed)", "dnc"),
        ("Subtotal", "other"),
        ("Total", "total"),
        ("Total persons exiting to positive housing destinations", "positive"),
        ("Total persons whose destinations excluded them from the calculation", "excluded"),
        ("Percentage", "pct"),
    ]


# FY2022 positive/excluded lists (FY2022 APR spec Appendix A, FY2022 codes).
_PERM_2022 = {26, 11, 21, 3, 10, 28, 20, 19, 22, 23, 31, 33, 34}
_POS_2022 = {
    "so": {1, 15, 14, 27, 4, 18, 12, 13, 5, 2, 25, 32} | _PERM_2022,
    "es_th": {32} | _PERM_2022,
    "other": _PERM_2022,
}
_EXCL_2022 = {"so": {6, 29, 24}, "other": {15, 6, 25, 24}}


def destination_flags(u: Universe, leavers: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """(positive, excluded) per leaver for Q23c (spec Appendix A "Exit Destinations", by the
    project type of the leaver's enrollment: street outreach, ES/TH, everything else)."""
    code = leavers["destination"]
    ptype = leavers["project_type"]
    so = ptype.eq(SO_TYPE).fillna(False)
    if u.version == "2022":
        es_th = ptype.isin([0, 1, 2]).fillna(False)
        positive = (
            (so & code.isin(list(_POS_2022["so"])))
            | (es_th & code.isin(list(_POS_2022["es_th"])))
            | (~so & ~es_th & code.isin(list(_POS_2022["other"])))
        )
        excluded = (so & code.isin(list(_EXCL_2022["so"]))) | (
            ~so & code.isin(list(_EXCL_2022["other"]))
        )
        return positive, excluded
    es_th = ptype.isin([0, 1, 2]).fillna(False)
    positive = (
        (so & code.isin(list(hud.APR_POSITIVE_SO)))
        | (es_th & code.isin(list(hud.APR_POSITIVE_ES_TH)))
        | (~so & ~es_th & code.isin(list(hud.APR_PERMANENT)))
    )
    excluded = (so & code.isin(list(hud.APR_EXCLUDED_SO))) | (
        ~so & code.isin(list(hud.APR_EXCLUDED))
    )
    return positive, excluded


def q23c(u: Universe) -> pd.DataFrame:
    """Q23c Exit Destination (spec Q23c): leavers by destination group and code, by household
    type; group headings are blank rows; the percentage is positive / (total - excluded), a
    fraction with 4 decimals (0 when the denominator is 0).

    FY2024+ groups: homeless, institutional, temporary, permanent, other situations; FY2022:
    permanent, temporary, institutional, other destinations with the FY2022 codes.
    """
    p = u.persons
    leavers = p[p["leaver"]]
    code = leavers["destination"]
    positive, excluded = destination_flags(u, leavers)
    spec = _dest_rows_2022(_dk(u)) if u.version == "2022" else _dest_rows_2024(_dk(u))
    listed = set().union(*[c for _, c in spec if isinstance(c, set)])
    other_codes = {30, 17, 24, 8, 9} if u.version != "2022" else {29, 24, 17, 8, 9}
    dnc = code.isna() | code.eq(99) | (~code.isin(list(listed)) & ~code.isna())
    if u.version == "2022":
        dnc = dnc | code.eq(30)
    masks = {
        "dnc": dnc,
        "other": code.isin(list(other_codes)) | dnc,
        "total": pd.Series(True, index=leavers.index),
        "positive": positive,
        "excluded": excluded,
    }
    rows = []
    for label, what in spec:
        if what is None:
            rows.append([label, *[BLANK] * 5])
        elif what == "pct":
            tot = _by_household(leavers, masks["total"])
            pos = _by_household(leavers, masks["positive"])
            exc = _by_household(leavers, masks["excluded"])
            rows.append([label, *[_pct(a, t - e) for a, t, e in zip(pos, tot, exc, strict=True)]])
        elif isinstance(what, str):
            rows.append([label, *_by_household(leavers, masks[what])])
        else:
            rows.append([label, *_by_household(leavers, code.isin(list(what)))])
    return _frame([" ", *HH_COLUMNS], rows)


# HMIS Data Dictionary FY2024 list 3.12.A RentalSubsidyType, in the list's order.
SUBSIDY_ORDER = (428, 419, 431, 433, 434, 420, 436, 437, 438, 439, 440)


def q23d(u: Universe) -> pd.DataFrame:
    """Q23d Exit Destination - Subsidy Type of Persons Exiting to Rental by Client With An
    Ongoing Subsidy (FY2024+ spec Q23d): leavers to 435 by DestinationSubsidyType (3.12.A);
    homelessness prevention projects are left out."""
    p = u.persons
    leavers = p[p["leaver"] & p["destination"].eq(435) & ~p["project_type"].eq(12).fillna(False)]
    sub = pd.to_numeric(leavers.get("DestinationSubsidyType"), errors="coerce")
    rows = [
        [label, *_by_household(leavers, sub.eq(code))]
        for code, label in ((c, hud.SUBSIDY_TYPES_2024[c]) for c in SUBSIDY_ORDER)
    ]
    rows.append(["Total", *_by_household(leavers, pd.Series(True, index=leavers.index))])
    return _frame([" ", *HH_COLUMNS], rows)
