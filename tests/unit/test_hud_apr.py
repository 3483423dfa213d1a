"""HUD APR / CAPER rules, one test per rule on a hand-made export, and the demo export's
cross-checks. Sections cited are of the CoC APR and ESG CAPER HMIS Programming Specifications
(FY2024); expected cells are worked out by hand in each test."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from hmis_kit import add_required_columns

from acm_helpers.core import hud
from acm_helpers.core.errors import HmisError
from acm_helpers.hmis.export import read_export
from acm_helpers.hmis.hud_reports import REPORTS, apr_tables, caper_tables, run_report
from acm_helpers.hmis.universe import build_universe

DEMO = Path("/work/shared/sample-data/hmis-demo/hmis_csv_fy2026_demo.zip")
START, END = "2024-10-01", "2025-09-30"

CLIENT_COLS = [
    "PersonalID", "FirstName", "LastName", "NameDataQuality", "SSN", "SSNDataQuality", "DOB",
    "DOBDataQuality", "AmIndAKNative", "Asian", "BlackAfAmerican", "HispanicLatinaeo",
    "MidEastNAfrican", "NativeHIPacific", "White", "RaceNone", "Woman", "Man", "NonBinary",
    "CulturallySpecific", "Transgender", "Questioning", "DifferentIdentity", "GenderNone",
    "VeteranStatus", "DateCreated", "DateUpdated", "ExportID",
]  # fmt: skip
ENROLLMENT_COLS = [
    "EnrollmentID", "PersonalID", "ProjectID", "EntryDate", "HouseholdID", "RelationshipToHoH",
    "EnrollmentCoC", "LivingSituation", "DisablingCondition", "DateOfEngagement", "MoveInDate",
    "DateCreated", "DateUpdated", "ExportID",
]  # fmt: skip


def client(pid: str, dob: str | None, quality: int = 1, **kw) -> dict:
    """A FY2024 Client.csv row: White woman, not a veteran, unless told otherwise."""
    row = dict.fromkeys(CLIENT_COLS, "")
    row.update(
        PersonalID=pid, FirstName="x", LastName="y", NameDataQuality=1, SSN="123456789",
        SSNDataQuality=1, DOB=dob or "", DOBDataQuality=quality, White=1, Woman=1,
        VeteranStatus=0, DateCreated="2024-01-01", DateUpdated="2024-01-01", ExportID="1",
    )  # fmt: skip
    for col in ("AmIndAKNative", "Asian", "BlackAfAmerican", "HispanicLatinaeo",
                "MidEastNAfrican", "NativeHIPacific", "Man", "NonBinary", "CulturallySpecific",
                "Transgender", "Questioning", "DifferentIdentity"):  # fmt: skip
        row[col] = 0
    row.update(kw)
    return row


def enrollment(eid: str, pid: str, project: str, entry: str, hh: str, rel: int = 1, **kw) -> dict:
    row = dict.fromkeys(ENROLLMENT_COLS, "")
    row.update(
        EnrollmentID=eid, PersonalID=pid, ProjectID=project, EntryDate=entry, HouseholdID=hh,
        RelationshipToHoH=rel, EnrollmentCoC="XX-500", LivingSituation=116, DisablingCondition=0,
        DateCreated=entry, DateUpdated=entry, ExportID="1",
    )  # fmt: skip
    row.update(kw)
    return row


def exit_row(eid: str, pid: str, date: str, dest: int, subsidy: str = "") -> dict:
    return {
        "ExitID": f"x{eid}", "EnrollmentID": eid, "PersonalID": pid, "ExitDate": date,
        "Destination": dest, "DestinationSubsidyType": subsidy, "DateCreated": date,
        "DateUpdated": date, "ExportID": "1",
    }  # fmt: skip


def write_export(
    folder: Path,
    clients: list[dict],
    enrollments: list[dict],
    exits: list[dict],
    projects: dict[str, int] | None = None,
    services: list[dict] | None = None,
    version: str = "2024 v1.2",
    project_extra: dict[str, dict] | None = None,
) -> Path:
    """A minimal FY2024 HMIS CSV export (folder) with the given rows."""
    folder.mkdir(parents=True, exist_ok=True)
    projects = projects or {"P1": 3}
    pd.DataFrame(
        [
            {
                "ExportID": "1",
                "SourceID": "T",
                "ExportDate": "2025-10-02",
                "ExportStartDate": START,
                "ExportEndDate": END,
                "SoftwareName": "Test",
                "CSVVersion": version,
            }
        ]  # fmt: skip
    ).to_csv(folder / "Export.csv", index=False)
    pd.DataFrame(
        [
            {
                "OrganizationID": "O1",
                "OrganizationName": "Org",
                "VictimServiceProvider": 0,
                "ExportID": "1",
            }
        ]  # fmt: skip
    ).to_csv(folder / "Organization.csv", index=False)
    pd.DataFrame(
        [
            {
                "ProjectID": pid,
                "OrganizationID": "O1",
                "ProjectName": f"Project {pid}",
                "ProjectType": ptype,
                "ExportID": "1",
                **(project_extra or {}).get(pid, {}),
            }
            for pid, ptype in projects.items()
        ]
    ).to_csv(folder / "Project.csv", index=False)
    pd.DataFrame(
        [
            {"ProjectCoCID": f"c{p}", "ProjectID": p, "CoCCode": "XX-500", "ExportID": "1"}
            for p in projects
        ]  # fmt: skip
    ).to_csv(folder / "ProjectCoC.csv", index=False)
    cols = CLIENT_COLS + sorted({k for c in clients for k in c} - set(CLIENT_COLS))
    pd.DataFrame(clients, columns=cols).to_csv(folder / "Client.csv", index=False)
    ecols = ENROLLMENT_COLS + sorted({k for e in enrollments for k in e} - set(ENROLLMENT_COLS))
    pd.DataFrame(enrollments, columns=ecols).to_csv(folder / "Enrollment.csv", index=False)
    pd.DataFrame(
        exits,
        columns=[
            "ExitID",
            "EnrollmentID",
            "PersonalID",
            "ExitDate",
            "Destination",
            "DestinationSubsidyType",
            "DateCreated",
            "DateUpdated",
            "ExportID",
        ],  # fmt: skip
    ).to_csv(folder / "Exit.csv", index=False)
    if services is not None:
        pd.DataFrame(
            services,
            columns=[
                "ServicesID",
                "EnrollmentID",
                "PersonalID",
                "DateProvided",
                "RecordType",
                "TypeProvided",
                "ExportID",
            ],  # fmt: skip
        ).to_csv(folder / "Services.csv", index=False)
    add_required_columns(folder, version)
    return folder


def cell(frame: pd.DataFrame, ref: str):
    """A cell by HUD's reference: ``B2`` is column B (2nd) of the first data row."""
    col = ord(ref[0]) - ord("A")
    row = int(ref[1:]) - 2
    return frame.iloc[row, col]


def tables_of(path: Path):
    return read_export(path, files="all")


# -- rules ------------------------------------------------------------------------------------
def test_latest_enrollment_decides_leaver_or_stayer(tmp_path):
    # Spec "Report universe": one row per client, the latest project start decides. Client A
    # left P1 on 2024-12-01 and re-entered 2025-02-01 (open): one person, a stayer. Client B
    # entered 2024-11-01 and left 2025-03-01: a leaver. Q5a C2 = 2, C6 (leavers) = 1, C9
    # (stayers) = 1.
    path = write_export(
        tmp_path / "x",
        [client("A", "1980-05-05"), client("B", "1990-01-01")],
        [
            enrollment("1", "A", "P1", "2024-06-01", "h1"),
            enrollment("2", "A", "P1", "2025-02-01", "h2"),
            enrollment("3", "B", "P1", "2024-11-01", "h3"),
        ],
        [exit_row("1", "A", "2024-12-01", 410), exit_row("3", "B", "2025-03-01", 410)],
    )
    q = apr_tables(tables_of(path), None, START, END)
    assert (cell(q["Q5a"], "C2"), cell(q["Q5a"], "C6"), cell(q["Q5a"], "C9")) == (2, 1, 1)
    # Q23c counts the one leaver (B) only, not A's earlier exit.
    assert cell(q["Q23c"], "B40") == 1


def test_latest_enrollment_ties_go_to_the_open_stay():
    # Spec "Report universe": latest project start; on the same start date the stay without an
    # exit wins (it is the one still running), then the higher id. Episode column names work.
    f = pd.DataFrame(
        {
            "client_id": ["a", "a", "b", "b"],
            "enrollment_date": pd.to_datetime(
                ["2025-01-01", "2025-01-01", "2025-01-01", "2025-02-01"]
            ),
            "exit_date": pd.to_datetime([None, "2025-03-01", None, "2025-03-01"]),
            "episode_id": ["1", "2", "3", "4"],
        }
    )
    got = hud.latest_enrollment(
        f, person="client_id", entry="enrollment_date", exit="exit_date", key="episode_id"
    )
    assert list(got["episode_id"]) == ["1", "4"]


def test_age_at_later_of_report_start_and_project_start():
    # Spec "Age": age on max(report start, project start). DOB 2007-03-01: entry 2024-01-01
    # (before the report start 2024-10-01) -> age on 2024-10-01 = 17; entry 2025-06-01 -> 18.
    dob = pd.Series(pd.to_datetime(["2007-03-01", "2007-03-01", None, "2030-01-01"]))
    entry = pd.Series(pd.to_datetime(["2024-01-01", "2025-06-01", "2025-01-01", "2025-01-01"]))
    age = hud.age_at(dob, entry, START)
    assert age.iloc[0] == 17 and age.iloc[1] == 18
    assert pd.isna(age.iloc[2]) and pd.isna(age.iloc[3])  # no DOB; DOB after the date


def test_age_uses_any_dob_quality_and_reports_unknowns_by_kind(tmp_path):
    # Spec "Age" / Q7a rows 4-5: a DOB is used whatever DOBDataQuality (2 = partial here);
    # no DOB with quality 9 -> "Client Doesn't Know/Prefers Not to Answer" (Q7a B4); no DOB
    # with quality 99 -> "Data Not Collected" (B5). Q7a B2 adults = 1 (the partial-DOB adult).
    path = write_export(
        tmp_path / "x",
        [client("A", "1970-01-01", 2), client("B", None, 9), client("C", None, 99)],
        [
            enrollment("1", "A", "P1", "2025-01-01", "h1"),
            enrollment("2", "B", "P1", "2025-01-01", "h2"),
            enrollment("3", "C", "P1", "2025-01-01", "h3"),
        ],
        [],
    )
    q = apr_tables(tables_of(path), None, START, END)
    assert (cell(q["Q7a"], "B2"), cell(q["Q7a"], "B4"), cell(q["Q7a"], "B5")) == (1, 1, 1)
    assert cell(q["Q7a"], "B6") == 3
    # Q11: A is 55 on 2025-01-01 -> FY2024 band "55-64" (row 9), B and C in rows 11 and 12.
    assert q["Q11"].iloc[7, 0] == "55-64" and cell(q["Q11"], "B9") == 1
    assert (cell(q["Q11"], "B11"), cell(q["Q11"], "B12"), cell(q["Q11"], "B13")) == (1, 1, 3)


def test_age_bands_follow_the_csv_version():
    # FY2022 spec Q11 ends at 55-61 / 62+; FY2024 at 55-64 / 65+. Age 63 is "62+" in FY2022
    # and "55-64" in FY2024.
    age = pd.Series([63, 4, 17], dtype="Int64")
    dob = pd.Series(pd.to_datetime(["1960-01-01"] * 3))
    q = pd.Series([1, 1, 1])
    assert list(hud.age_band(age, dob, q, "2022")) == ["62+", "Under 5", "13-17"]
    assert list(hud.age_band(age, dob, q, "2024")) == ["55-64", "Under 5", "13-17"]


def test_household_type_from_member_ages(tmp_path):
    # Spec "Household type": h1 adult + child -> with children and adults (2 persons in D);
    # h2 one adult -> without children (C); h3 a child alone -> only children (E); h4 adult +
    # member of unknown age -> unknown (F, 2 persons). Q7a row 6 (Total): B6..F6 = 6,1,2,1,2.
    # Q8a counts heads: B2..F2 = 4,1,1,1,1.
    path = write_export(
        tmp_path / "x",
        [
            client("A", "1980-01-01"),
            client("K", "2015-01-01"),
            client("B", "1985-01-01"),
            client("C", "2010-01-01"),
            client("D", "1975-01-01"),
            client("U", None, 99),
        ],  # fmt: skip
        [
            enrollment("1", "A", "P1", "2025-01-01", "h1"),
            enrollment("2", "K", "P1", "2025-01-01", "h1", rel=2),
            enrollment("3", "B", "P1", "2025-01-01", "h2"),
            enrollment("4", "C", "P1", "2025-01-01", "h3"),
            enrollment("5", "D", "P1", "2025-01-01", "h4"),
            enrollment("6", "U", "P1", "2025-01-01", "h4", rel=3),
        ],
        [],
    )
    q = apr_tables(tables_of(path), None, START, END)
    assert list(q["Q7a"].iloc[4, 1:]) == [6, 1, 2, 1, 2]
    assert list(q["Q8a"].iloc[0, 1:]) == [4, 1, 1, 1, 1]
    # Q7a greys out "Children" in "Without Children" (C3) and "Adults" in "Only Children" (E2).
    assert cell(q["Q7a"], "C3") == "" and cell(q["Q7a"], "E2") == ""


def test_stayer_length_counts_to_report_end_plus_one(tmp_path):
    # Spec Q22a-b: length = min(exit, report end + 1) - project start. Stayer entered
    # 2025-09-01: 2025-10-01 - 2025-09-01 = 30 days. Leaver 2025-01-01 -> 2025-03-02 = 60 days.
    # Q22b B2 (leavers' average) = 60, C2 (stayers') = 30; Q22a1 "30 days or less" (row 2)
    # Total/Leavers/Stayers = 1/0/1, "31 to 60 days" (row 3) = 1/1/0.
    assert (
        hud.stayer_length(pd.Series(pd.to_datetime(["2025-09-01"])), pd.Series([pd.NaT]), END).iloc[
            0
        ]
        == 30
    )
    path = write_export(
        tmp_path / "x",
        [client("A", "1980-01-01"), client("B", "1980-01-01")],
        [
            enrollment("1", "A", "P1", "2025-09-01", "h1"),
            enrollment("2", "B", "P1", "2025-01-01", "h2"),
        ],
        [exit_row("2", "B", "2025-03-02", 410)],
    )
    q = apr_tables(tables_of(path), None, START, END)
    assert (cell(q["Q22b"], "B2"), cell(q["Q22b"], "C2")) == (60, 30)
    assert list(q["Q22a1"].iloc[0, 1:]) == [1, 0, 1]
    assert list(q["Q22a1"].iloc[1, 1:]) == [1, 1, 0]
    assert list(q["Q22a1"].iloc[-1, 1:]) == [2, 1, 1]


def test_night_by_night_shelter_counts_bed_nights(tmp_path):
    # Spec "Active clients" and Q22a for ES night-by-night (FY2024 ProjectType 1): A has bed
    # nights 2025-01-01, 2025-01-02 (twice) and 2025-01-05 -> 3 distinct nights (length 3,
    # not the 270 days to the report end). B's only bed night is before the report start, so B
    # is not in the report. Q5a C2 = 1; Q22b C2 (stayers' average) = 3.
    path = write_export(
        tmp_path / "x",
        [client("A", "1980-01-01"), client("B", "1980-01-01")],
        [
            enrollment("1", "A", "S1", "2025-01-01", "h1"),
            enrollment("2", "B", "S1", "2024-01-01", "h2"),
        ],
        [],
        projects={"S1": 1},
        services=[
            {
                "ServicesID": "s1",
                "EnrollmentID": "1",
                "PersonalID": "A",
                "DateProvided": "2025-01-01",
                "RecordType": 200,
                "TypeProvided": 200,
                "ExportID": "1",
            },
            {
                "ServicesID": "s2",
                "EnrollmentID": "1",
                "PersonalID": "A",
                "DateProvided": "2025-01-02",
                "RecordType": 200,
                "TypeProvided": 200,
                "ExportID": "1",
            },
            {
                "ServicesID": "s3",
                "EnrollmentID": "1",
                "PersonalID": "A",
                "DateProvided": "2025-01-02",
                "RecordType": 200,
                "TypeProvided": 200,
                "ExportID": "1",
            },
            {
                "ServicesID": "s4",
                "EnrollmentID": "1",
                "PersonalID": "A",
                "DateProvided": "2025-01-05",
                "RecordType": 200,
                "TypeProvided": 200,
                "ExportID": "1",
            },
            {
                "ServicesID": "s5",
                "EnrollmentID": "2",
                "PersonalID": "B",
                "DateProvided": "2024-02-01",
                "RecordType": 200,
                "TypeProvided": 200,
                "ExportID": "1",
            },
        ],  # fmt: skip
    )
    q = apr_tables(tables_of(path), None, START, END)
    assert cell(q["Q5a"], "C2") == 1
    assert cell(q["Q22b"], "C2") == 3


def test_street_outreach_data_quality_counts_engaged_clients(tmp_path):
    # Spec Q5a (FY2024): column B ("Count of Clients for DQ") counts street outreach clients
    # only with a DateOfEngagement by the report end; column C counts everyone. A engaged on
    # 2025-02-01, B never: B2 = 1, C2 = 2.
    path = write_export(
        tmp_path / "x",
        [client("A", "1980-01-01"), client("B", "1980-01-01")],
        [
            enrollment("1", "A", "O1", "2025-01-01", "h1", DateOfEngagement="2025-02-01"),
            enrollment("2", "B", "O1", "2025-01-01", "h2"),
        ],
        [],
        projects={"O1": 4},
    )
    q = apr_tables(tables_of(path), None, START, END)
    assert (cell(q["Q5a"], "B2"), cell(q["Q5a"], "C2")) == (1, 2)


def test_exit_destinations_groups_positive_excluded_and_percentage(tmp_path):
    # Spec Q23c and Appendix A (FY2024 codes), PSH project: leavers to 410 (rental, permanent,
    # positive), 435 with subsidy 419 (permanent, positive), 101 (ES, homeless), 24 (deceased:
    # excluded) -> rows: B3 place not meant = 0, B4 ES = 1, B6 homeless subtotal = 1, B28
    # rental no subsidy = 1, B29 rental with subsidy = 1, B32 permanent subtotal = 2, B36
    # deceased = 1, B40 total = 4, B41 positive = 2, B42 excluded = 1, B43 = 2 / (4 - 1).
    path = write_export(
        tmp_path / "x",
        [client(p, "1980-01-01") for p in "ABCD"],
        [enrollment(str(i), p, "P1", "2025-01-01", f"h{i}") for i, p in enumerate("ABCD")],
        [
            exit_row("0", "A", "2025-05-01", 410),
            exit_row("1", "B", "2025-05-01", 435, "419"),
            exit_row("2", "C", "2025-05-01", 101),
            exit_row("3", "D", "2025-05-01", 24),
        ],
    )
    q = apr_tables(tables_of(path), None, START, END)
    t = q["Q23c"]
    got = [cell(t, r) for r in ("B3", "B4", "B6", "B28", "B29", "B32", "B36", "B40", "B41", "B42")]
    assert got == [0, 1, 1, 1, 1, 2, 1, 4, 2, 1]
    assert cell(t, "B43") == round(2 / 3, 4)
    assert cell(t, "A2") == "Homeless Situations" and cell(t, "B2") == ""
    # Q23d (FY2024 subsidy types): the 435 leaver with VASH (419) is row 3 (after GPD TIP 428).
    assert cell(q["Q23d"], "A3") == "VASH housing subsidy" and cell(q["Q23d"], "B3") == 1
    assert cell(q["Q23d"], "B13") == 1


def test_zero_leavers_print_zero_cells(tmp_path):
    # HUD prints 0 (not blank) in count cells with nobody: one stayer, no leavers -> Q23c B40
    # (total) = 0, B43 (percentage) = 0; Q22b B2/B3 (leavers' average and median) = 0.
    path = write_export(
        tmp_path / "x",
        [client("A", "1980-01-01")],
        [enrollment("1", "A", "P1", "2025-01-01", "h1")],
        [],
    )
    q = apr_tables(tables_of(path), None, START, END)
    assert cell(q["Q23c"], "B40") == 0 and cell(q["Q23c"], "B43") == 0
    assert cell(q["Q22b"], "B2") == 0 and cell(q["Q22b"], "B3") == 0
    assert cell(q["Q5a"], "C6") == 0


def test_report_over_several_projects_and_unknown_project(tmp_path):
    # A CoC grant covering P1 and P2: Q4a has one row per project with its active clients
    # (column O); P3 is left out. An unknown ProjectID is an HmisError listing the known ids.
    path = write_export(
        tmp_path / "x",
        [client(p, "1980-01-01") for p in "ABC"],
        [
            enrollment("1", "A", "P1", "2025-01-01", "h1"),
            enrollment("2", "B", "P2", "2025-01-01", "h2"),
            enrollment("3", "C", "P3", "2025-01-01", "h3"),
        ],
        [],
        projects={"P1": 3, "P2": 13, "P3": 2},
    )
    tables = tables_of(path)
    q = apr_tables(tables, ["P1", "P2"], START, END)
    assert cell(q["Q5a"], "C2") == 2
    assert list(q["Q4a"]["Project ID"]) == ["P1", "P2"]
    assert list(q["Q4a"]["Total Active Clients"]) == [1, 1]
    with pytest.raises(HmisError, match="no ProjectID P9.*P1, P2, P3"):
        build_universe(tables, START, END, ["P9"])


def test_move_in_rows_and_time_to_move_in(tmp_path):
    # Spec Q7a/Q8a row "For PSH & RRH" and Q22c: an RRH household (head + child) moved in
    # 2025-01-11, 10 days after the 2025-01-01 start; the child shares the head's move-in.
    # Q7a B7 = 2, Q8a B3 = 1, Q22c "8 to 14 days" (row 3) B3 = 2, average (row 12) = 10.
    path = write_export(
        tmp_path / "x",
        [client("A", "1980-01-01"), client("K", "2015-01-01")],
        [
            enrollment("1", "A", "R1", "2025-01-01", "h1", MoveInDate="2025-01-11"),
            enrollment("2", "K", "R1", "2025-01-01", "h1", rel=2),
        ],
        [],
        projects={"R1": 13},
    )
    q = apr_tables(tables_of(path), None, START, END)
    assert cell(q["Q7a"], "B7") == 2 and cell(q["Q8a"], "B3") == 1
    assert cell(q["Q22c"], "B3") == 2 and cell(q["Q22c"], "B12") == 10


def test_fy2022_race_and_ethnicity_apart_and_fy2022_layouts(tmp_path):
    # FY2022 spec Q12a/Q12b count race and ethnicity separately: a White Hispanic client is
    # "White" in Q12a (B2 = 1, "Multiple Races" B7 = 0) and "Hispanic/Latin(a)(o)(x)" in Q12b
    # (B3 = 1). FY2022 ProjectType 1 with TrackingMethod 0 is ES entry/exit (dates, no bed
    # nights): the stayer counts from 2025-01-01 to 2025-10-01 = 273 days (Q22b C2). FY2022
    # Q23c: destination 10 (rental, no subsidy) is row 6; the FY2022 age bands end at 62+.
    path = write_export(
        tmp_path / "x",
        [
            client("A", "1960-01-01", Ethnicity=1, Female=1, Male=0, GenderNone=""),
            client("B", "1980-01-01", Ethnicity=0, Female=0, Male=1, GenderNone=""),
        ],
        [
            enrollment("1", "A", "E1", "2025-01-01", "h1"),
            enrollment("2", "B", "E1", "2025-01-01", "h2"),
        ],
        [exit_row("2", "B", "2025-03-01", 10)],
        projects={"E1": 1},
        version="2022 v1.3",
        project_extra={"E1": {"TrackingMethod": 0}},
    )
    q = apr_tables(tables_of(path), None, START, END)
    assert "Q12" not in q and "Q23d" not in q
    assert cell(q["Q12a"], "A2") == "White" and cell(q["Q12a"], "B2") == 2
    assert cell(q["Q12a"], "B7") == 0
    assert cell(q["Q12b"], "B3") == 1 and cell(q["Q12b"], "B2") == 1
    assert cell(q["Q22b"], "C2") == 273
    assert cell(q["Q23c"], "A6") == "Rental by client, no ongoing housing subsidy"
    assert cell(q["Q23c"], "B6") == 1 and cell(q["Q23c"], "B16") == 1  # row 16: subtotal
    assert cell(q["Q11"], "A10") == "62+" and cell(q["Q11"], "B10") == 1  # A is 64
    assert cell(q["Q10"], "A3") == "Female" and cell(q["Q10"], "B3") == 1


def test_chronically_homeless_at_start_and_children_take_the_heads_status(tmp_path):
    # Spec "Chronically homeless" (3.08 and 3.917): head A has a disabling condition, came
    # from the street (116) and has been homeless since 2023-06-01 (580 days before the
    # 2025-01-01 start): chronic, and so is A's child K. B is disabled but homeless since
    # 2024-10-01 (92 days) and only 1 time: not chronic. Q5a C12 = 2.
    path = write_export(
        tmp_path / "x",
        [client("A", "1980-01-01"), client("K", "2015-01-01"), client("B", "1980-01-01")],
        [
            enrollment(
                "1",
                "A",
                "P1",
                "2025-01-01",
                "h1",
                DisablingCondition=1,
                DateToStreetESSH="2023-06-01",
            ),
            enrollment("2", "K", "P1", "2025-01-01", "h1", rel=2),
            enrollment(
                "3",
                "B",
                "P1",
                "2025-01-01",
                "h2",
                DisablingCondition=1,
                DateToStreetESSH="2024-10-01",
                TimesHomelessPastThreeYears=1,
            ),
        ],  # fmt: skip
        [],
    )
    q = apr_tables(tables_of(path), None, START, END)
    assert cell(q["Q5a"], "C12") == 2


def test_timeliness_days_from_start_and_exit_to_record_creation(tmp_path):
    # Spec Q6e: days from the project start (exit) date to the record's DateCreated. A's
    # enrollment created the day of entry (0 days, row 3), B's 4 days later (4-6 days, row 5);
    # B's exit created 14 days after the exit (11+ days, row 7, column C).
    path = write_export(
        tmp_path / "x",
        [client("A", "1980-01-01"), client("B", "1980-01-01")],
        [
            enrollment("1", "A", "P1", "2025-01-01", "h1"),
            enrollment("2", "B", "P1", "2025-01-01", "h2", DateCreated="2025-01-05"),
        ],
        [{**exit_row("2", "B", "2025-03-01", 410), "DateCreated": "2025-03-15"}],
    )
    q = apr_tables(tables_of(path), None, START, END)
    t = q["Q6e"]
    assert (cell(t, "B3"), cell(t, "B5"), cell(t, "C7")) == (1, 1, 1)
    assert t.iloc[:, 1].sum() == 2 and t.iloc[:, 2].sum() == 1


def test_pii_quality_counts_missing_and_dk_dates_of_birth(tmp_path):
    # Spec Q6a: no DOB with DOBDataQuality 8 -> DK/PNTA (B4); no DOB with 99 -> information
    # missing (C4); a DOB on/after the adult's project start would be a data issue (D4 = 0:
    # A's DOB is fine). Total E4 = 2 of 3 persons -> F4 = 0.6667.
    path = write_export(
        tmp_path / "x",
        [client("A", "1980-01-01"), client("B", None, 8), client("C", None, 99)],
        [enrollment(str(i), p, "P1", "2025-01-01", f"h{i}") for i, p in enumerate("ABC")],
        [],
    )
    q = apr_tables(tables_of(path), None, START, END)
    row = list(q["Q6a"].iloc[2])
    assert row == ["Date of Birth (3.03)", 1, 1, 0, 2, 0.6667]


def test_fy2024_gender_pairs_and_race_combinations(tmp_path):
    # FY2024 spec Q10: each person in exactly one row; Woman + Transgender is the pair row
    # "Woman/Transgender" (row 11: 7 single identities in rows 2-8, then Woman/Man,
    # Woman/Culturally Specific Identity, Woman/Transgender). Q12: White + Hispanic/Latina/e/o
    # is the pair "White & Hispanic/Latina/e/o" (row 26), not a single race and not
    # "Multiracial"; three selections with Hispanic/Latina/e/o are row 30.
    path = write_export(
        tmp_path / "x",
        [
            client("A", "1980-01-01", Transgender=1, HispanicLatinaeo=1),
            client("B", "1980-01-01", HispanicLatinaeo=1, Asian=1),
        ],
        [
            enrollment("1", "A", "P1", "2025-01-01", "h1"),
            enrollment("2", "B", "P1", "2025-01-01", "h2"),
        ],
        [],
    )
    q = apr_tables(tables_of(path), None, START, END)
    assert cell(q["Q10"], "A11") == "Woman/Transgender" and cell(q["Q10"], "B11") == 1
    assert cell(q["Q10"], "B2") == 1  # B: Woman only
    t = q["Q12"]
    assert cell(t, "A26") == "White & Hispanic/Latina/e/o" and cell(t, "B26") == 1
    assert cell(t, "A30").startswith("Multiracial") and cell(t, "B30") == 1
    assert cell(t, "B6") == 0 and cell(t, "B8") == 0  # neither counted as a single race
    assert cell(t, "B34") == 2


def test_unknown_report_kind_lists_registered_ones(tmp_path):
    with pytest.raises(HmisError, match="known reports: apr, caper"):
        run_report("nope", tmp_path, START, END, tmp_path / "out")


# -- the demo export: every listed table and HUD's cross-checks -------------------------------
LISTED = (
    "Q4a", "Q5a", "Q6a", "Q6b", "Q6c", "Q6d", "Q6e", "Q6f", "Q7a", "Q8a", "Q10", "Q11", "Q12",
    "Q13a1", "Q22b", "Q22c", "Q22e", "Q23c",
)  # fmt: skip


@pytest.fixture(scope="module")
def demo_reports(tmp_path_factory):
    if not DEMO.exists():
        pytest.skip(f"{DEMO} not present")
    out = tmp_path_factory.mktemp("hud")
    from typer.testing import CliRunner

    from acm_helpers.cli import app

    runner = CliRunner()
    results = {}
    for kind in ("apr", "caper"):
        res = runner.invoke(
            app,
            [
                "hud",
                kind,
                str(DEMO),
                "--start",
                "2021-10-01",
                "--end",
                "2022-09-30",
                "--out",
                str(out / kind),
            ],  # fmt: skip
        )
        assert res.exit_code == 0, res.output
        results[kind] = {
            p.stem: pd.read_csv(p, keep_default_na=False) for p in (out / kind).glob("*.csv")
        }
    return out, results


def test_demo_writes_every_table_html_and_xlsx(demo_reports):
    out, results = demo_reports
    for kind, length in (("apr", "Q22a1"), ("caper", "Q22a2")):
        assert set(LISTED) | {length} <= set(results[kind])
        html = (out / kind / f"{kind}.html").read_text(encoding="utf-8")
        assert "<table>" in html and "http" not in html  # offline: no CDN, no links
        sheets = pd.ExcelFile(out / kind / f"{kind}.xlsx").sheet_names
        assert set(results[kind]) == set(sheets)


def test_demo_hud_cross_checks(demo_reports):
    # HUD's validations: Q5a total = Q7a total = Q10 total = Q11 total = Q12 total; Q22a1 total
    # = Q5a total; Q23c total = Q5a leavers; Q8a households = Q5a adult + child/unknown HoH.
    _, results = demo_reports
    q = results["apr"]
    total = int(cell(q["Q5a"], "C2"))
    assert total > 0
    assert int(cell(q["Q7a"], "B6")) == total
    assert int(q["Q10"].iloc[-1, 1]) == total
    assert int(q["Q11"].iloc[-1, 1]) == total
    assert int(q["Q12"].iloc[-1, 1]) == total
    assert int(q["Q22a1"].iloc[-1, 1]) == total
    assert int(cell(q["Q23c"], "B40")) == int(cell(q["Q5a"], "C6"))
    assert int(q["Q22a1"].iloc[-1, 2]) == int(cell(q["Q5a"], "C6"))
    assert int(cell(q["Q8a"], "B2")) == int(cell(q["Q5a"], "C15")) + int(cell(q["Q5a"], "C16"))
    c = results["caper"]
    assert int(c["Q22a2"].iloc[-1, 1]) == total
    # Every Q7a row 2-5 adds up to the total row; Q23c rows sum to the total by group.
    assert sum(int(cell(q["Q7a"], f"B{r}")) for r in range(2, 6)) == total
    subtotals = [int(cell(q["Q23c"], r)) for r in ("B6", "B14", "B23", "B32", "B39")]
    assert sum(subtotals) == int(cell(q["Q23c"], "B40"))


def test_registry_has_apr_and_caper():
    assert {"apr", "caper"} <= set(REPORTS) and REPORTS["caper"] is caper_tables
