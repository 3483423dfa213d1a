"""APR / CAPER Q6a-Q6f: the data-quality questions, as HUD's table shells.

Shells (headers, row labels, cell positions) follow the FY2026 CoC APR / ESG CAPER
specification as published implementations lay it out; the FY2024 specification is the same
except Q6a, which also has a "Gender (3.06)" row and calls the last column "% of Issue Rate"
(that FY2024 difference is from memory, unconfirmed). The universe is Q5a column B: every
client of the report, street outreach clients only when engaged. Cells HUD greys out are blank.
"""

from __future__ import annotations

import re

import pandas as pd

from acm_helpers.core import hud
from acm_helpers.hmis.apr import (
    BLANK,
    _codes,
    _count,
    _dk,
    _dq_base,
    _frame,
    _pct,
)
from acm_helpers.hmis.universe import NBN_TYPE, PH_TYPES, SO_TYPE, Universe, as_dates

INFO_MISSING = "Information Missing"
COC_CODE = re.compile(r"^[A-Z]{2}-\d{3}$")
RACE_COLUMNS = (
    "AmIndAKNative",
    "Asian",
    "BlackAfAmerican",
    "NativeHIPacific",
    "White",
    "HispanicLatinaeo",
    "HispanicLatinao",
    "MidEastNAfrican",
)
GENDER_COLUMNS = (
    "Woman",
    "Man",
    "NonBinary",
    "CulturallySpecific",
    "Transgender",
    "Questioning",
    "DifferentIdentity",
    "Female",
    "Male",
    "NoSingleGender",
)
INCOME_SOURCES = (
    "Earned",
    "Unemployment",
    "SSI",
    "SSDI",
    "VADisabilityService",
    "VADisabilityNonService",
    "PrivateDisability",
    "WorkersComp",
    "TANF",
    "GA",
    "SocSecRetirement",
    "Pension",
    "ChildSupport",
    "Alimony",
    "OtherIncomeSource",
)


def _header(u: Universe, last: str = "% of Issue Rate") -> list[str]:
    return ["Data Element", _dk(u), INFO_MISSING, "Data Issues", "Total", last]


def _any_one(p: pd.DataFrame, columns: tuple[str, ...]) -> pd.Series:
    cols = [c for c in columns if c in p]
    if not cols:
        return pd.Series(False, index=p.index)
    return p[cols].apply(pd.to_numeric, errors="coerce").eq(1).any(axis=1)


def _row(label: str, dk, missing, issue, denominator: int) -> tuple[list, pd.Series]:
    """One DQ row: counts of DK/PNTA, missing, issues (None = greyed out), their union and the
    union's share of ``denominator``."""
    parts = [m.fillna(False).astype(bool) for m in (dk, missing, issue) if m is not None]
    union = parts[0]
    for m in parts[1:]:
        union = union | m
    cells = [
        label,
        BLANK if dk is None else _count(dk),
        BLANK if missing is None else _count(missing),
        BLANK if issue is None else _count(issue),
        _count(union),
        _pct(_count(union), denominator),
    ]
    return cells, union


# -- Q6a -------------------------------------------------------------------------------------
def _valid_ssn(ssn: pd.Series) -> pd.Series:
    """HMIS Glossary, SSN data quality: 9 digits, not 000/666/9xx area, 00 group, 0000 serial,
    or one digit repeated."""
    digits = (
        ssn.astype("object").where(ssn.notna()).astype("str").str.replace(r"\D", "", regex=True)
    )
    bad = (
        digits.str.len().ne(9)
        | digits.str.match(r"^(000|666|9)")
        | digits.str[3:5].eq("00")
        | digits.str[5:].eq("0000")
        | digits.str.match(r"^(\d)\1{8}$")
    )
    return ~bad.fillna(True).astype(bool)


def q6a(u: Universe) -> pd.DataFrame:
    """Q6a Data Quality: Personally Identifiable Information (spec Q6a).

    Name (3.01): DK/PNTA NameDataQuality 8/9; missing 99 or no first/last name; issue 2
    (partial). SSN (3.02): DK 8/9; missing no SSN or 99; issue 2, or 1 with an invalid SSN
    (not checked when the export hashes SSNs: Export HashStatus 2-4). DOB (3.03): DK no DOB
    with 8/9; missing no DOB otherwise; issue 2, a DOB with 8/9/99, or (quality 1) before
    1915-01-01, after the record's creation, or after a head's project start. Race and
    ethnicity (3.04): DK RaceNone 8/9; missing no race and no RaceNone 8/9. Overall Score:
    clients with any of them. Rates are of the DQ universe.
    """
    p = _dq_base(u)
    ix = p.index
    n = len(p)
    name_q = _codes(p.get("NameDataQuality"), ix)
    no_name = (
        p.get("FirstName", pd.Series(index=ix)).isna()
        | p.get("LastName", pd.Series(index=ix)).isna()
    )
    ssn_q = _codes(p.get("SSNDataQuality"), ix)
    ssn = p.get("SSN", pd.Series(index=ix))
    export = u.tables["Export"]
    hashed = (
        "HashStatus" in export and _codes(export["HashStatus"], export.index).isin([2, 3, 4]).any()
    )
    invalid_ssn = ssn_q.eq(1) & ssn.notna() & ~_valid_ssn(ssn) if not hashed else False
    dob_q = _codes(p.get("DOBDataQuality"), ix)
    dob = p["DOB"]
    enr_created = as_dates(p.get("EnrollmentCreated"), ix)
    bad_dob = dob.notna() & (
        (dob < pd.Timestamp("1915-01-01"))
        | (enr_created.notna() & (dob > enr_created))
        | (p["is_head"] & (dob > p["EntryDate"]))
    )
    client_created = p.get("ClientCreated", pd.Series(pd.NaT, index=ix))
    dob_issue = (
        dob_q.eq(2)
        | (dob_q.eq(1) & bad_dob)
        | (dob_q.isin([8, 9, 99]) & dob.notna())
        | (dob.notna() & client_created.notna() & (dob > client_created))
    )
    race_any = _any_one(p, RACE_COLUMNS)
    race_none = _codes(p.get("RaceNone"), ix)
    specs = [
        (
            "Name (3.01)",
            name_q.isin([8, 9]),
            name_q.eq(99) | (~name_q.isin([8, 9]) & no_name),
            name_q.eq(2),
        ),
        (
            "Social Security Number (3.02)",
            ssn_q.isin([8, 9]),
            (ssn.isna() & ~ssn_q.isin([8, 9])) | ssn_q.eq(99),
            ssn_q.eq(2) | invalid_ssn,
        ),
        (
            "Date of Birth (3.03)",
            dob.isna() & dob_q.isin([8, 9]),
            dob.isna() & ~dob_q.isin([8, 9]),
            dob_issue,
        ),
        (
            "Race/Ethnicity (3.04)",
            race_none.isin([8, 9]),
            ~race_any & ~race_none.isin([8, 9]),
            None,
        ),
    ]
    if u.version != "2026":  # FY2024/FY2022: 3.06 Gender (shell unconfirmed)
        g_any = _any_one(p, GENDER_COLUMNS)
        g_none = _codes(p.get("GenderNone"), ix)
        specs.append(("Gender (3.06)", g_none.isin([8, 9]), ~g_any & ~g_none.isin([8, 9]), None))
    rows, overall = [], pd.Series(False, index=ix)
    for label, dk, missing, issue in specs:
        cells, union = _row(label, dk, missing, issue, n)
        rows.append(cells)
        overall |= union
    rows.append(["Overall Score", BLANK, BLANK, BLANK, _count(overall), _pct(_count(overall), n)])
    last = "% of Error Rate" if u.version == "2026" else "% of Issue Rate"
    return _frame(_header(u, last), rows)


# -- Q6b -------------------------------------------------------------------------------------
def _overlapping(u: Universe, p: pd.DataFrame) -> pd.Series:
    """Project start date issue (3.10): another stay of the client in the same project overlaps."""
    enr = u.enrollments[["PersonalID", "ProjectID", "EnrollmentID", "EntryDate", "ExitDate"]]
    pairs = enr.merge(enr, on=["PersonalID", "ProjectID"], suffixes=("", "_o"))
    pairs = pairs[pairs["EnrollmentID"] != pairs["EnrollmentID_o"]]
    far = pd.Timestamp("2262-01-01")
    overlap = (pairs["EntryDate"] < pairs["ExitDate_o"].fillna(far)) & (
        pairs["EntryDate_o"] < pairs["ExitDate"].fillna(far)
    )
    return p["EnrollmentID"].isin(pairs.loc[overlap, "EnrollmentID"])


def _qualifying_disability(u: Universe, p: pd.DataFrame) -> pd.Series:
    """A disability that makes DisablingCondition "no" an error (spec Q6b row 6): developmental
    or HIV/AIDS "yes", or physical, chronic health, mental health or substance use "yes" and
    indefinite and impairing, on the enrollment's latest record."""
    d = u.tables.get("Disabilities")
    if d is None or d.empty:
        return pd.Series(False, index=p.index)
    d = d[d["EnrollmentID"].isin(p["EnrollmentID"])].copy()
    d["when"] = as_dates(d.get("InformationDate"), d.index)
    d = d[d["when"].isna() | (d["when"] <= u.end)]
    latest = d.groupby("EnrollmentID")["when"].transform("max")
    d = d[d["when"].eq(latest) | latest.isna()]
    typ = _codes(d["DisabilityType"], d.index)
    resp = _codes(d["DisabilityResponse"], d.index)
    impairs = _codes(d.get("IndefiniteAndImpairs"), d.index).eq(1)
    hit = (typ.isin([6, 8]) & resp.eq(1)) | (
        impairs & ((typ.isin([5, 7, 9]) & resp.eq(1)) | (typ.eq(10) & resp.isin([1, 2, 3])))
    )
    return p["EnrollmentID"].isin(d.loc[hit, "EnrollmentID"])


def q6b(u: Universe) -> pd.DataFrame:
    """Q6b Data Quality: Universal Data Elements (spec Q6b).

    Veteran status (3.07): adults 8/9 (DK) or 99/blank (missing), children marked veterans
    (issue), rate of persons of known age. Project start date (3.10): overlapping stays in the
    same project. Relationship to HoH (3.15): blank (missing); not 1-5, or a household with no
    or several heads (issue). Enrollment CoC (3.16), heads only: blank (missing) or not a CoC
    code of the form XX-999 (issue; HUD checks HUD's list of CoC codes, not shipped here).
    Disabling condition (3.08): 8/9, 99/blank, or "no" with a qualifying disability.
    """
    p = _dq_base(u)
    ix = p.index
    n = len(p)
    vet = _codes(p.get("VeteranStatus"), ix)
    adult = p["adult"]
    rel = _codes(p.get("RelationshipToHoH"), ix)
    enr = u.enrollments
    heads = enr[_codes(enr.get("RelationshipToHoH"), enr.index).eq(1)].groupby("HouseholdID").size()
    head_count = p["HouseholdID"].map(heads).fillna(0)
    head = p["is_head"]
    coc = p.get("EnrollmentCoC", pd.Series(index=ix)).astype("object")
    coc_ok = coc.map(lambda c: isinstance(c, str) and bool(COC_CODE.match(c.strip())))
    dis = _codes(p.get("DisablingCondition"), ix)
    rows = [
        _row(
            "Veteran Status (3.07)",
            adult & vet.isin([8, 9]),
            adult & (vet.eq(99) | vet.isna()),
            p["child"] & vet.eq(1),
            _count(p["age"].notna()),
        )[0],
        _row("Project Start Date (3.10)", None, None, _overlapping(u, p), n)[0],
        _row(
            "Relationship to Head of Household (3.15)",
            None,
            rel.isna(),
            rel.notna() & (~rel.isin([1, 2, 3, 4, 5]) | head_count.ne(1)),
            n,
        )[0],
        _row(
            "Enrollment CoC (3.16)",
            None,
            head & coc.isna(),
            head & coc.notna() & ~coc_ok,
            _count(head),
        )[0],
        _row(
            "Disabling Condition (3.08)",
            dis.isin([8, 9]),
            dis.eq(99) | dis.isna(),
            dis.eq(0) & _qualifying_disability(u, p),
            n,
        )[0],
    ]
    return _frame(_header(u), rows)


# -- Q6c -------------------------------------------------------------------------------------
def _income_at(u: Universe, p: pd.DataFrame, stage: int) -> pd.DataFrame:
    """The enrollment's IncomeBenefits record of a DataCollectionStage (1 start, 5 annual,
    3 exit), latest InformationDate, aligned with ``p``."""
    inc = u.tables.get("IncomeBenefits")
    cols = ["InformationDate", "IncomeFromAnySource", *INCOME_SOURCES]
    if inc is None or inc.empty:
        out = pd.DataFrame(index=p.index, columns=cols[1:], dtype="float64")
        out.insert(0, "InformationDate", pd.Series(pd.NaT, index=p.index, dtype="datetime64[us]"))
        return out
    inc = inc[_codes(inc.get("DataCollectionStage"), inc.index).eq(stage)]
    inc = inc[inc["EnrollmentID"].isin(p["EnrollmentID"])].copy()
    inc["InformationDate"] = as_dates(inc.get("InformationDate"), inc.index)
    inc = inc.sort_values("InformationDate", kind="stable").drop_duplicates(
        "EnrollmentID", keep="last"
    )
    out = inc.set_index("EnrollmentID").reindex(p["EnrollmentID"])
    out.index = p.index
    return out


def _income_row(
    label: str, p: pd.DataFrame, rec: pd.DataFrame, on: pd.Series | None, den: int, window=None
):
    """Income and Sources (4.02): DK 8/9; missing no record, a record not dated ``on`` (or out of
    ``window``), 99/blank; issue "no" with a source or "yes" without one."""
    anys = _codes(rec.get("IncomeFromAnySource"), p.index)
    sources = _any_one(rec, INCOME_SOURCES)
    when = rec.get("InformationDate", pd.Series(pd.NaT, index=p.index))
    missing = when.isna() | anys.eq(99) | anys.isna()
    if on is not None:
        missing |= when.ne(on)
    if window is not None:
        missing |= ~window
    issue = (anys.eq(0) & sources) | (anys.eq(1) & ~sources)
    return _row(label, anys.isin([8, 9]), missing, issue, den)[0]


def q6c(u: Universe) -> pd.DataFrame:
    """Q6c Data Quality: Income and Housing Data Quality (spec Q6c).

    Destination (3.12) of leavers: DK 8/9, missing 30/99/blank (no issues cell). Income at
    start: adults and heads, record dated the project start. At annual assessment: adult/HoH
    stayers whose head has been in the project 365+ days, a record within 30 days of the head's
    anniversary (rate of adult/HoH stayers of 365+ days). At exit: adult/HoH leavers, record
    dated the exit.
    """
    p = _dq_base(u)
    leavers = p[p["leaver"]]
    dest = leavers["destination"]
    dest_row = _row(
        "Destination (3.12)",
        dest.isin([8, 9]),
        dest.isin([30, 99]) | dest.isna(),
        None,
        len(leavers),
    )[0]
    ah = p[p["adult"] | p["is_head"]]
    start_row = _income_row(
        "Income and Sources (4.02) at Start", ah, _income_at(u, ah, 1), ah["EntryDate"], len(ah)
    )
    heads = ah[ah["is_head"]].drop_duplicates("HouseholdID").set_index("HouseholdID")["EntryDate"]
    hoh_entry = hud.lookup(ah["HouseholdID"], heads).fillna(ah["EntryDate"])
    expected = ah["stayer"] & ((u.end - hoh_entry).dt.days >= 365)
    ann = ah[expected]
    years = ((u.end - hoh_entry[expected]).dt.days // 365).clip(lower=1)
    anniversary = hoh_entry[expected] + pd.to_timedelta(years * 365, unit="D")
    ann_rec = _income_at(u, ann, 5)
    in_window = (ann_rec["InformationDate"] - anniversary).dt.days.abs().le(30)
    long_stayers = _count(ah["stayer"] & ah["length"].ge(365))
    ann_row = _income_row(
        "Income and Sources (4.02) at Annual Assessment",
        ann,
        ann_rec,
        None,
        long_stayers,
        in_window,
    )
    ahl = ah[ah["leaver"]]
    exit_row = _income_row(
        "Income and Sources (4.02) at Exit", ahl, _income_at(u, ahl, 3), ahl["ExitDate"], len(ahl)
    )
    return _frame(_header(u), [dest_row, start_row, ann_row, exit_row])


# -- Q6d -------------------------------------------------------------------------------------
Q6D_GROUPS = (
    ("ES-EE, ES-NbN, SH, Street Outreach", (0, 1, 8, 4)),
    ("TH", (2,)),
    ("PH (all)", PH_TYPES),
    ("CE", (14,)),
    ("SSO, Day Shelter, HP", (6, 11, 12)),
)


def q6d(u: Universe) -> pd.DataFrame:
    """Q6d Data Quality: Chronic Homelessness (spec Q6d, 3.917 Prior Living Situation).

    Adults and heads of household with a project start after 2016-10-01 in the listed project
    types. ES/SH/SO: DateToStreetESSH missing, times (3.917.4) and months (3.917.5) 8/9/99/blank.
    Other types: time in institution missing (living situation 2xx, LengthOfStay 8/9/99/blank),
    time in housing missing (other situations), and the 3.917.3-5 fields only where they apply
    (literally homeless; or an institution stay under 90 days / other stay under 7 nights after
    a night on the street, ES or SH). "% unable to calculate": records with any of them.
    """
    p = _dq_base(u)
    p = p[(p["adult"] | p["is_head"]) & (p["EntryDate"] > pd.Timestamp("2016-10-01"))]
    ix = p.index
    living = _codes(p.get("LivingSituation"), ix)
    if u.version == "2022":
        living = living.map(hud.DESTINATIONS_2022_TO_2024)
    los = _codes(p.get("LengthOfStay"), ix)
    street = _codes(p.get("PreviousStreetESSH"), ix).eq(1)
    inst = living.between(200, 299)
    other = living.between(0, 99) | living.between(300, 499) | living.isna()
    los_missing = los.isna() | los.isin([8, 9, 99])
    applies = (
        living.between(100, 199)
        | (inst & los.isin([10, 11, 2, 3]) & street)
        | (other & los.isin([10, 11]) & street)
    )
    no_date = p["DateToStreetESSH"].isna()
    times = _codes(p.get("TimesHomelessPastThreeYears"), ix)
    months = _codes(p.get("MonthsHomelessPastThreeYears"), ix)
    bad_times = times.isna() | times.isin([8, 9, 99])
    bad_months = months.isna() | months.isin([8, 9, 99])
    rows, everyone, unable = [], pd.Series(False, index=ix), pd.Series(False, index=ix)
    for i, (label, types) in enumerate(Q6D_GROUPS):
        g = p["project_type"].isin(list(types)).fillna(False).astype(bool)
        everyone |= g
        if i == 0:
            cols = [None, None, g & no_date, g & bad_times, g & bad_months]
        else:
            cols = [
                g & inst & los_missing,
                g & other & los_missing,
                g & applies & no_date,
                g & applies & bad_times,
                g & applies & bad_months,
            ]
        any_bad = pd.Series(False, index=ix)
        for c in cols:
            if c is not None:
                any_bad |= c.fillna(False).astype(bool)
        unable |= any_bad
        rows.append(
            [
                label,
                _count(g),
                *[BLANK if c is None else _count(c) for c in cols],
                _pct(_count(any_bad), _count(g)),
            ]
        )
    rows.append(
        [
            "Total",
            _count(everyone),
            BLANK,
            BLANK,
            BLANK,
            BLANK,
            BLANK,
            _pct(_count(unable), _count(everyone)),
        ]
    )
    return _frame(
        [
            "Entering into project type",
            "Count of total records",
            "Missing time in institution (3.917.2)",
            "Missing time in housing (3.917.2)",
            "Approximate date this episode started (3.917.3) DK/PNTA/missing",
            "Number of times (3.917.4) DK/PNTA/missing",
            "Number of months (3.917.5) DK/PNTA/missing",
            "% of records unable to calculate",
        ],
        rows,
    )


# -- Q6e, Q6f ----------------------------------------------------------------------------------
TIMELINESS_BINS = (
    ("< 0 days", None, -1),
    ("0 days", 0, 0),
    ("1-3 days", 1, 3),
    ("4-6 days", 4, 6),
    ("7-10 days", 7, 10),
    ("11+ days", 11, None),
)


def _between(days: pd.Series, lo: int | None, hi: int | None) -> pd.Series:
    hit = days.notna()
    if lo is not None:
        hit &= days >= lo
    if hi is not None:
        hit &= days <= hi
    return hit.fillna(False).astype(bool)


def q6e(u: Universe) -> pd.DataFrame:
    """Q6e Data Quality: Timeliness (spec Q6e): days from the project start date to the
    enrollment record's DateCreated for clients who started in the period, and from the exit
    date to the exit record's DateCreated for leavers (negative: created before the date)."""
    p = _dq_base(u)
    arrivals = p["EntryDate"] >= u.start
    start_lag = (as_dates(p.get("EnrollmentCreated"), p.index) - p["EntryDate"]).dt.days.where(
        arrivals
    )
    exit_lag = (as_dates(p.get("ExitCreated"), p.index) - p["ExitDate"]).dt.days.where(p["leaver"])
    rows = [
        [label, _count(_between(start_lag, lo, hi)), _count(_between(exit_lag, lo, hi))]
        for label, lo, hi in TIMELINESS_BINS
    ]
    return _frame(
        [
            "Time for Record Entry",
            "Number of Project Start Records",
            "Number of Project Exit Records",
        ],
        rows,
    )


def q6f(u: Universe) -> pd.DataFrame:
    """Q6f Data Quality: Inactive Records: Street Outreach and Emergency Shelter (spec Q6f).

    Clients who started 90+ days before the report end and are still enrolled after it.
    Contacts: adults and heads in street outreach engaged before the end (and PATH-funded
    services only, Funder 21), inactive when their last contact (CurrentLivingSituation, else
    the project start) is more than 90 days before the end. Bed nights: ES night-by-night
    clients whose last bed night is more than 90 days before the end.
    """
    p = u.persons
    relevant = ((u.end - p["EntryDate"]).dt.days >= 90) & (
        p["ExitDate"].isna() | (p["ExitDate"] > u.end)
    )
    engage = as_dates(p.get("DateOfEngagement"), p.index)
    funder = u.tables.get("Funder")
    path_ids: set = set()
    if funder is not None and "Funder" in funder:
        path_ids = set(funder.loc[_codes(funder["Funder"], funder.index).eq(21), "ProjectID"])
    so = p["project_type"].eq(SO_TYPE).fillna(False) & (engage < u.end).fillna(False)
    path_sso = p["project_type"].eq(6).fillna(False) & p["ProjectID"].isin(path_ids)
    contact_pop = relevant & (p["adult"] | p["is_head"]) & (so | path_sso)
    cls = u.tables.get("CurrentLivingSituation")
    last = p["EntryDate"].copy()
    if cls is not None and not cls.empty:
        when = as_dates(cls.get("InformationDate"), cls.index)
        latest = when[when <= u.end].groupby(cls.loc[when <= u.end, "EnrollmentID"]).max()
        got = pd.Series(latest.reindex(p["EnrollmentID"]).to_numpy(), index=p.index)
        last = got.where(got.notna() & (got > last), last)
    inactive_contact = contact_pop & ((u.end - last).dt.days > 90)
    bed_pop = relevant & p["project_type"].eq(NBN_TYPE).fillna(False)
    svc = u.tables.get("Services")
    inactive_bed = pd.Series(False, index=p.index)
    if svc is not None and not svc.empty and bed_pop.any():
        when = as_dates(svc["DateProvided"], svc.index)
        beds = _codes(svc["RecordType"], svc.index).eq(200) & (when <= u.end)
        latest = when[beds].groupby(svc.loc[beds, "EnrollmentID"]).max()
        got = pd.Series(latest.reindex(p["EnrollmentID"]).to_numpy(), index=p.index)
        inactive_bed = bed_pop & ((u.end - got).dt.days > 90).fillna(False)
    rows = [
        [
            "Contact (Adults and Heads of Household in Street Outreach or PATH-funded SSO)",
            _count(contact_pop),
            _count(inactive_contact),
            _pct(_count(inactive_contact), _count(contact_pop)),
        ],
        [
            "Bed Night (All Clients in ES - NBN)",
            _count(bed_pop),
            _count(inactive_bed),
            _pct(_count(inactive_bed), _count(bed_pop)),
        ],
    ]
    return _frame(
        ["Data Element", "# of Records", "# of Inactive Records", "% of Inactive Records"], rows
    )
