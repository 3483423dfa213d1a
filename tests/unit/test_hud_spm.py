"""HUD System Performance Measures (acm_helpers.hmis.spm): one test per rule on a tiny hand-made
export, then every table on the demo export with the cross-checks HUD's measures imply.

Each hand-made export is written as HUD CSV files to ``tmp_path`` and read back with
``read_export`` (so the tests go through the same reading as a real export). The report period is
FY2024 (2023-10-01 to 2024-09-30) throughout; expected cells are worked out by hand in comments,
with the SPM Programming Specifications (FY2024/FY2026) section each rule comes from.
"""

from __future__ import annotations

import csv
import io
import os
import zipfile
from datetime import date
from pathlib import Path

import pytest
from hmis_kit import add_required_columns

from acm_helpers.core.errors import HmisError
from acm_helpers.hmis.export import read_export
from acm_helpers.hmis.spm import (
    FILES,
    TABLES,
    bed_nights,
    cell,
    length_of_time_homeless,
    spm_enrollments,
    spm_tables,
)

START, END = date(2023, 10, 1), date(2024, 9, 30)
ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT.parent / "shared" / "sample-data" / "hmis-demo" / "hmis_csv_fy2026_demo.zip"
# CSV spec list 2.02.6 ProjectType codes of the projects every hand-made export has.
PROJECTS = {"es": 0, "nbn": 1, "th": 2, "psh": 3, "so": 4, "hp": 12, "sh": 8, "phho": 9, "rrh": 13}


def write_export(
    folder: Path,
    stays: list[dict],
    services: list[tuple] = (),
    version: str = "2026 v1",
    projects: dict[str, tuple] | None = None,
) -> Path:
    """Write a minimal HMIS CSV export: one project per type, one enrollment per stay.

    ``projects``: ProjectID -> (ProjectType, TrackingMethod) when not the FY2026 ``PROJECTS``.

    A stay is ``dict(client, project, entry, exit=None, dest=None, move_in=None, living=None,
    street=None, hh=None, rel=1, prev_street=None, los_under=None)``; ``services`` are
    ``(enrollment number, date)`` bed nights (RecordType 200), the number being the stay's
    position in ``stays``.
    """
    folder.mkdir(parents=True, exist_ok=True)

    def write(name: str, rows: list[dict], header: tuple = ()) -> None:
        fields = list(dict.fromkeys(k for r in rows for k in r)) or list(header)
        with open(folder / f"{name}.csv", "w", newline="", encoding="utf-8") as fh:
            out = csv.DictWriter(fh, fieldnames=fields)
            out.writeheader()
            out.writerows(rows)

    write(
        "Export",
        [
            {
                "ExportID": "1",
                "ExportDate": "2024-10-15",
                "ExportStartDate": "2015-01-01",
                "ExportEndDate": "2024-09-30",
                "CSVVersion": version,
            }
        ],
    )
    write("Organization", [{"OrganizationID": "o1", "OrganizationName": "Org", "ExportID": "1"}])
    write(
        "Project",
        [
            {
                "ProjectID": p,
                "OrganizationID": "o1",
                "ProjectName": p,
                "ProjectType": t[0],
                "TrackingMethod": "" if t[1] is None else t[1],
                "ExportID": "1",
            }
            for p, t in (projects or {p: (t, None) for p, t in PROJECTS.items()}).items()
        ],
    )
    clients = sorted({s["client"] for s in stays})
    write("Client", [{"PersonalID": c, "ExportID": "1"} for c in clients])
    enrollments, exits = [], []
    for i, s in enumerate(stays):
        enrollments.append(
            {
                "EnrollmentID": f"e{i}",
                "PersonalID": s["client"],
                "ProjectID": s["project"],
                "EntryDate": s["entry"],
                "HouseholdID": s.get("hh") or f"h{i}",
                "RelationshipToHoH": s.get("rel", 1),
                "LivingSituation": s.get("living") or "",
                "LOSUnderThreshold": s.get("los_under") or "",
                "PreviousStreetESSH": s.get("prev_street") or "",
                "DateToStreetESSH": s.get("street") or "",
                "MoveInDate": s.get("move_in") or "",
                "ExportID": "1",
            }
        )
        if s.get("exit"):
            exits.append(
                {
                    "ExitID": f"x{i}",
                    "EnrollmentID": f"e{i}",
                    "PersonalID": s["client"],
                    "ExitDate": s["exit"],
                    "Destination": s.get("dest") or 99,
                    "ExportID": "1",
                }
            )
    write("Enrollment", enrollments)
    write("Exit", exits, ("ExitID", "EnrollmentID", "PersonalID", "ExitDate", "Destination"))
    write(
        "Services",
        [
            {
                "ServicesID": f"s{n}",
                "EnrollmentID": f"e{i}",
                "PersonalID": stays[i]["client"],
                "DateProvided": day,
                "RecordType": 200,
                "TypeProvided": 200,
                "ExportID": "1",
            }
            for n, (i, day) in enumerate(services)
        ],
        ("ServicesID", "EnrollmentID", "PersonalID", "DateProvided", "RecordType"),
    )
    add_required_columns(folder, version)
    return folder


def run(tmp_path, stays, services=(), projects=None) -> dict:
    tables = read_export(write_export(tmp_path / "export", stays, services), files="all")
    return spm_tables(tables, START, END, projects)


def nights_by_client(tmp_path, stays, include, exclude, self_reported=False, services=()):
    """Measure 1 nights per PersonalID (the per-client figure the 1a/1b cells average)."""
    tables = read_export(write_export(tmp_path / "export", stays, services), files="all")
    end = END
    enr = spm_enrollments(tables, end)
    nights = bed_nights(tables, enr, end)
    days = length_of_time_homeless(
        enr, nights, START, END, frozenset(include), frozenset(exclude), self_reported
    )
    ids = enr.drop_duplicates("client").set_index("client")["personal_id"]
    return {ids[c]: int(n) for c, n in days.items()}


ES, SH, TH = {"ES-EE", "ES-NbN"}, {"SH"}, {"TH"}
PH = {"PSH", "PH-HO", "PH-HS", "RRH"}


# -- Measure 1 ------------------------------------------------------------------------------------
def test_1a_nights_exit_day_excluded_and_th_nights_only_in_metric_2(tmp_path):
    # SPM spec Measure 1, step 2: an entry/exit stay's nights run from the project start to the
    # day before the exit; 1.1 removes nights spent in TH, 1.2 counts them as homeless.
    stays = [
        dict(client="A", project="es", entry="2024-01-01", exit="2024-01-11"),  # Jan 1-10: 10
        dict(client="B", project="es", entry="2024-03-01", exit="2024-03-21"),  # Mar 1-20
        dict(client="B", project="th", entry="2024-03-11", exit="2024-04-10"),  # Mar 11-Apr 9
        dict(client="C", project="th", entry="2024-05-01", exit="2024-05-31"),  # May 1-30: 30
    ]
    t = run(tmp_path, stays)["1a"]
    # 1.1: A 10, B Mar 1-10 = 10 (Mar 11-20 were TH nights); C has no ES/SH night -> 2 persons.
    assert (cell(t, "B2"), cell(t, "D2"), cell(t, "G2")) == (2, 10.0, 10.0)
    # 1.2: A 10, B Mar 1-Apr 9 = 31 + 9 = 40, C 30 -> mean 80/3 = 26.67, median 30.
    assert (cell(t, "B3"), cell(t, "D3"), cell(t, "G3")) == (3, 26.67, 30.0)
    assert cell(t, "A1") == "Measure 1a" and cell(t, "D1").startswith("Current FY Average")


def test_1a_ph_nights_after_move_in_are_not_homeless(tmp_path):
    # SPM spec Measure 1, step 2: nights in PH on or after the move-in date are removed.
    stays = [
        dict(client="A", project="es", entry="2024-02-01", exit="2024-02-21"),  # Feb 1-20
        dict(client="A", project="psh", entry="2024-01-20", move_in="2024-02-11"),  # housed Feb 11-
    ]
    # Feb 1-10 only: 10 nights (the PSH nights before move-in are not ES/SH nights in 1a).
    assert nights_by_client(tmp_path, stays, ES | SH, TH | PH) == {"A": 10}


def test_1_client_window_365_days_plus_the_unbroken_run_before(tmp_path):
    # SPM spec Measure 1, steps 3-4: [client end date] = the latest night (<= report end);
    # [client start date] = end - 365; earlier nights count only when unbroken up to it.
    stays = [
        # D: an old stay (ends 2022-06-30, before 2023-10-10 - 365) and Sep 1 - Oct 10, 2023.
        dict(client="D", project="es", entry="2022-01-01", exit="2022-07-01"),
        dict(client="D", project="es", entry="2023-09-01", exit="2023-10-11"),
        # E: 2022-01-01 to 2023-10-01, unbroken (one stay ends the night the next begins).
        dict(client="E", project="es", entry="2022-01-01", exit="2023-01-01"),
        dict(client="E", project="es", entry="2023-01-01", exit="2023-10-02"),
    ]
    got = nights_by_client(tmp_path, stays, ES | SH, TH | PH)
    # D: Sep 1-30 (30) + Oct 1-10 (10) = 40. E: all of 2022 (365) + Jan 1 - Oct 1, 2023 (274).
    assert got == {"D": 40, "E": 639}


def test_1_lookback_stop_date_is_report_start_minus_7_years(tmp_path):
    # SPM spec FY2024/FY2026 Measure 1: no night before the [lookback stop date] (report start
    # - 7 years = 2016-10-01) counts, however long the stay.
    stays = [dict(client="F", project="es", entry="2015-01-01")]
    expected = (date(2024, 9, 30) - date(2016, 10, 1)).days + 1  # 8 years of nights = 2922
    assert expected == 2922
    assert nights_by_client(tmp_path, stays, ES | SH, TH | PH) == {"F": 2922}


def test_1_night_by_night_shelter_counts_bed_nights(tmp_path):
    # SPM spec Measure 1 (and Glossary method 5): ES-NbN nights are bed nights (Services.csv
    # RecordType 200) from the project start to the day before the exit, not the dates between.
    stays = [
        dict(client="G", project="nbn", entry="2024-02-01", exit="2024-02-10"),
        dict(client="H", project="nbn", entry="2023-09-01", exit="2023-10-05"),
    ]
    services = [
        (0, "2024-02-01"),
        (0, "2024-02-02"),
        (0, "2024-02-05"),
        (0, "2024-02-10"),  # on the exit date: a data-entry error, not a night
        (0, "2023-12-01"),  # before the project start
        (1, "2023-09-15"),  # H: no bed night in the period -> not in the measure
    ]
    got = nights_by_client(tmp_path, stays, ES | SH, TH | PH, services=services)
    assert got == {"G": 3}
    t = run(tmp_path, stays, services)["1a"]
    assert (cell(t, "B2"), cell(t, "D2")) == (1, 3.0)


def test_1b_ph_literally_homeless_and_self_reported_start(tmp_path):
    # SPM spec Measure 1b, steps 1c and 5: PH stays entered from literal homelessness (Glossary,
    # "Identifying Clients Experiencing Literal Homelessness at Project Entry") add their nights
    # before move-in; 3.917.3 "Approximate date this episode of homelessness started" adds every
    # night from that date to the project start.
    stays = [
        # I: PSH from the street (116), moved in Jan 21: Jan 1-20 = 20, plus Dec 1-31 = 31 -> 51.
        dict(client="I", project="psh", entry="2024-01-01", move_in="2024-01-21", living=116,
             street="2023-12-01"),
        # J: PSH from a rental (410), not on the street before: not literally homeless.
        dict(client="J", project="psh", entry="2024-01-01", move_in="2024-01-21", living=410),
        # K: ES Jun 1-10 = 10, homeless since May 22: + May 22-31 = 10 -> 20 (1a: 10).
        dict(client="K", project="es", entry="2024-06-01", exit="2024-06-11", street="2024-05-22"),
        # L: PSH from a motel (314) under the threshold, on the street before: qualifies (10).
        dict(client="L", project="psh", entry="2024-03-01", move_in="2024-03-11", living=314,
             prev_street=1, los_under=1),
    ]  # fmt: skip
    out = run(tmp_path, stays)
    b, a = out["1b"], out["1a"]
    # 1b.1: I 51, K 20, L 10 -> 3 persons, mean 81/3 = 27.0, median 20.
    assert (cell(b, "B2"), cell(b, "D2"), cell(b, "G2")) == (3, 27.0, 20.0)
    assert (cell(b, "B3"), cell(b, "D3"), cell(b, "G3")) == (3, 27.0, 20.0)  # no TH stays
    # 1a.1: only K's ES nights, without the self-reported ones.
    assert (cell(a, "B2"), cell(a, "D2"), cell(a, "G2")) == (1, 10.0, 10.0)


def test_1b_self_reported_nights_spent_in_th_or_housed_are_not_homeless(tmp_path):
    # SPM spec Measure 1b, steps 2 and 5: the nights 3.917.3 adds lose, like any other night,
    # those spent in an excluded project type (TH in 1.1; PH on and after move-in).
    stays = [
        dict(client="M", project="th", entry="2023-11-01", exit="2023-12-01"),  # Nov 1-30
        # PSH from the street, moved in on the day it started; homeless since Nov 15.
        dict(client="M", project="psh", entry="2024-01-01", move_in="2024-01-01", living=116,
             street="2023-11-15"),
    ]  # fmt: skip
    t = run(tmp_path, stays)["1b"]
    # 1.1: Nov 15 - Jan 1 less TH (Nov 15-30) and the move-in night (Jan 1): Dec 1-31 = 31.
    assert (cell(t, "B2"), cell(t, "D2")) == (1, 31.0)
    # 1.2: TH nights count: Nov 1-30 and Dec 1-31 = 61.
    assert (cell(t, "B3"), cell(t, "D3")) == (1, 61.0)


# -- Measure 2 ------------------------------------------------------------------------------------
def test_2_returns_by_exit_project_type_and_time(tmp_path):
    # SPM spec Measure 2: each person's earliest exit to a permanent destination in
    # [2021-10-01, 2022-10-01] (report start/end - 730 days) from SO, ES, TH, SH or PH; a return
    # is a later start in SO/ES/TH/SH, or in PH more than 14 days after the exit; buckets 0-180,
    # 181-365, 366-730 days.
    stays = [
        # L: ES -> 410 on 2022-01-15, ES again 2022-03-01: 45 days (< 6 months).
        dict(client="L", project="es", entry="2021-12-01", exit="2022-01-15", dest=410),
        dict(client="L", project="es", entry="2022-03-01", exit="2022-03-05", dest=116),
        # M: TH -> 435 on 2022-02-01; PSH 9 days later is a transfer, not a return; ES on
        # 2022-12-01: 303 days (6-12 months).
        dict(client="M", project="th", entry="2021-06-01", exit="2022-02-01", dest=435),
        dict(client="M", project="psh", entry="2022-02-10", exit="2022-06-01", dest=116),
        dict(client="M", project="es", entry="2022-12-01", exit="2022-12-05", dest=116),
        # N: PSH -> 411 on 2022-03-01, RRH start 30 days later: a return (< 6 months).
        dict(client="N", project="psh", entry="2020-01-01", exit="2022-03-01", dest=411),
        dict(client="N", project="rrh", entry="2022-03-31"),
        # O: SO -> 422 on 2022-04-01, never back.
        dict(client="O", project="so", entry="2022-01-01", exit="2022-04-01", dest=422),
        # P: exit to a temporary destination; Q: exit before the window. Neither counts.
        dict(client="P", project="es", entry="2022-04-01", exit="2022-05-01", dest=312),
        dict(client="Q", project="es", entry="2021-05-01", exit="2021-06-01", dest=410),
        # R: two PH exits in the window; the earliest (ES, 2022-01-10) is the one; TH start
        # 2022-02-01 is a return after 22 days.
        dict(client="R", project="es", entry="2021-12-01", exit="2022-01-10", dest=410),
        dict(client="R", project="th", entry="2022-02-01", exit="2022-06-01", dest=410),
        # S: SH -> 423 on 2022-02-01, ES 2023-03-01: 365 + 28 = 393 days (13-24 months).
        dict(client="S", project="sh", entry="2021-11-01", exit="2022-02-01", dest=423),
        dict(client="S", project="es", entry="2023-03-01", exit="2023-03-10", dest=116),
        # HP is not a return (prevention): T exits ES -> 410 and enters HP 10 days later.
        dict(client="T", project="es", entry="2022-01-01", exit="2022-02-01", dest=410),
        dict(client="T", project="hp", entry="2022-02-11"),
    ]
    t = run(tmp_path, stays)["2a and 2b"]
    assert [cell(t, f"B{r}") for r in range(2, 8)] == [1, 3, 1, 1, 1, 7]  # SO ES TH SH PH total
    assert (cell(t, "C3"), cell(t, "D3"), cell(t, "I3"), cell(t, "J3")) == (2, 66.67, 2, 66.67)
    assert (cell(t, "E4"), cell(t, "F4")) == (1, 100.0)  # M: 303 days
    assert (cell(t, "G5"), cell(t, "H5")) == (1, 100.0)  # S: 393 days
    assert (cell(t, "C6"), cell(t, "I6")) == (1, 1)  # N: 30 days
    assert (cell(t, "I2"), cell(t, "J2")) == (0, 0.0)  # O never returned
    # Totals: 0-180 L, R, N = 3; 181-365 M; 366-730 S; in 2 years 5 of 7 = 71.43%.
    assert [cell(t, f"{c}7") for c in "CEGI"] == [3, 1, 1, 5]
    assert (cell(t, "D7"), cell(t, "J7")) == (42.86, 71.43)


# -- Measure 3.2 ----------------------------------------------------------------------------------
def test_3_2_unduplicated_sheltered_persons(tmp_path):
    # SPM spec Measure 3.2: persons active in the period in ES (entry/exit: by dates; NbN: a bed
    # night in the period), SH or TH; the total counts each person once.
    stays = [
        dict(client="T", project="es", entry="2023-09-01", exit="2023-10-15"),
        dict(client="T", project="th", entry="2023-10-15"),
        dict(client="U", project="sh", entry="2024-09-30"),
        # V left on the report start (the exit date is not a night); W came after the end.
        dict(client="V", project="es", entry="2023-09-01", exit="2023-10-01"),
        dict(client="W", project="es", entry="2024-10-01"),
        dict(client="X", project="nbn", entry="2023-06-01"),
        dict(client="Y", project="nbn", entry="2023-06-01"),  # no bed night in the period
        dict(client="Z", project="psh", entry="2024-01-01"),  # PH is not sheltered
    ]
    services = [(5, "2024-01-05"), (6, "2023-09-30")]
    t = run(tmp_path, stays, services)["3.2"]
    # ES: T, X; SH: U; TH: T; total T, U, X = 3 (< 2 + 1 + 1).
    assert [cell(t, f"C{r}") for r in range(2, 6)] == [3, 2, 1, 1]
    assert cell(t, "B2") is None and cell(t, "D2") is None  # filled by HDX from last year


# -- Measure 5 ------------------------------------------------------------------------------------
def test_5_first_time_homeless(tmp_path):
    # SPM spec Measure 5: persons whose earliest project start in the period is in ES/SH/TH (5.1;
    # 5.2 adds PH); "prior" = a stay in ES, SH, TH or PH started before it and not exited more
    # than 730 days before it.
    stays = [
        # Y: prior TH exited 2022-03-01, within 730 days of 2024-01-10 (2022-01-10).
        dict(client="Y", project="th", entry="2021-01-01", exit="2022-03-01"),
        dict(client="Y", project="es", entry="2024-01-10"),
        # Z: prior ES exited 2021-12-01, before 2022-01-10: first time.
        dict(client="Z", project="es", entry="2021-06-01", exit="2021-12-01"),
        dict(client="Z", project="es", entry="2024-01-10"),
        # AA: PSH only: not in 5.1, first time in 5.2.
        dict(client="AA", project="psh", entry="2024-02-01"),
        # AB: two starts in the period: the earliest (2023-11-01) is the one; nothing before it.
        dict(client="AB", project="es", entry="2023-11-01", exit="2023-11-05"),
        dict(client="AB", project="es", entry="2024-05-01"),
        # AC: only a prevention stay before: prevention is not in the lookback types.
        dict(client="AC", project="hp", entry="2023-06-01", exit="2023-07-01"),
        dict(client="AC", project="th", entry="2024-03-01"),
        # AD: PSH since 2020, still open: PH counts in 5.1's lookback too.
        dict(client="AD", project="psh", entry="2020-01-01"),
        dict(client="AD", project="es", entry="2024-04-01"),
    ]
    out = run(tmp_path, stays)
    five1, five2 = out["5.1"], out["5.2"]
    assert [cell(five1, f"C{r}") for r in (2, 3, 4)] == [5, 2, 3]  # Y,Z,AB,AC,AD; Y,AD
    # 5.2: AA joins as a first-timer; AD's earliest start in the period is still ES 2024-04-01.
    assert [cell(five2, f"C{r}") for r in (2, 3, 4)] == [6, 2, 4]


# -- Measure 7 ------------------------------------------------------------------------------------
def test_7a1_street_outreach_exits(tmp_path):
    # SPM spec Measure 7a.1: SO stays active in the period; persons still in SO at the end left
    # out; each person's latest exit; hospital (206), halfway house (329), deceased (24) left
    # out; successful = homeless/temporary/institutional (row 3) or permanent (row 4).
    stays = [
        dict(client="a", project="so", entry="2023-11-01", exit="2024-03-01", dest=101),
        dict(client="b", project="so", entry="2023-11-01", exit="2024-03-01", dest=410),
        dict(client="c", project="so", entry="2023-11-01", exit="2024-03-01", dest=116),
        dict(client="d", project="so", entry="2023-11-01", exit="2024-03-01", dest=206),
        dict(client="e", project="so", entry="2023-10-05", exit="2023-12-01", dest=410),
        dict(client="e", project="so", entry="2024-01-01", exit="2024-05-01", dest=116),
        dict(client="f", project="so", entry="2023-10-05", exit="2024-02-01", dest=410),
        dict(client="f", project="so", entry="2024-06-01"),
        dict(client="g", project="so", entry="2023-06-01", exit="2023-09-01", dest=410),
        # x left on the report start: an exit in the period.
        dict(client="x", project="so", entry="2023-06-01", exit="2023-10-01", dest=410),
    ]
    t = run(tmp_path, stays)["7a.1"]
    # a, b, c, e (latest exit: street), x -> 5; temporary a; permanent b, x; 3 / 5 = 60%.
    assert [cell(t, f"C{r}") for r in (2, 3, 4, 5)] == [5, 1, 2, 60.0]


def test_7b1_exits_to_permanent_housing(tmp_path):
    # SPM spec Measure 7b.1: latest exit per person across ES, SH, TH and PH (persons still in
    # one at the end left out); a latest exit from PH other than RRH after moving in belongs to
    # 7b.2; foster care, hospital, long-term care and deceased exits left out.
    stays = [
        dict(client="h", project="es", entry="2024-01-01", exit="2024-03-01", dest=410),
        dict(client="i", project="rrh", entry="2024-01-01", move_in="2024-01-15",
             exit="2024-05-01", dest=435),
        dict(client="j", project="psh", entry="2024-01-01", exit="2024-04-01", dest=116),
        dict(client="k", project="psh", entry="2024-01-01", move_in="2024-01-15",
             exit="2024-04-01", dest=410),
        dict(client="l", project="th", entry="2024-01-01", exit="2024-04-01", dest=24),
        dict(client="m", project="es", entry="2024-01-01", exit="2024-02-01", dest=410),
        dict(client="m", project="th", entry="2024-02-01"),
        dict(client="n", project="es", entry="2023-12-01", exit="2024-01-01", dest=410),
        dict(client="n", project="th", entry="2024-01-01", exit="2024-06-01", dest=312),
    ]  # fmt: skip
    t = run(tmp_path, stays)["7b.1"]
    # h, i, j, n (latest exit TH -> 312) = 4; to PH: h, i -> 50%.
    assert [cell(t, f"C{r}") for r in (2, 3, 4)] == [4, 2, 50.0]


def test_7b2_retention_in_ph_other_than_rrh(tmp_path):
    # SPM spec Measure 7b.2: PH other than RRH; stayers (still enrolled on the report end, an
    # exit after the end included) who moved in by the end are retained; leavers who had moved
    # in count as successful when they exited to a permanent destination; foster care,
    # hospital, long-term care and deceased exits are left out; household members share the
    # head's move-in date (Glossary, "Housing Move-in Date").
    stays = [
        dict(client="o", project="psh", entry="2023-04-01", move_in="2023-05-01"),
        dict(client="p", project="psh", entry="2023-04-01", move_in="2023-05-01",
             exit="2024-03-01", dest=410),
        dict(client="q", project="psh", entry="2023-04-01", move_in="2023-05-01",
             exit="2024-03-01", dest=116),
        dict(client="r", project="psh", entry="2023-04-01", move_in="2023-05-01",
             exit="2024-03-01", dest=225),
        dict(client="s", project="psh", entry="2024-04-01"),
        dict(client="t", project="psh", entry="2024-01-01", exit="2024-03-01", dest=410),
        dict(client="u", project="rrh", entry="2024-01-01", move_in="2024-01-10"),
        dict(client="v", project="phho", entry="2023-01-01", move_in="2023-02-01",
             exit="2024-12-01", dest=410),
        dict(client="w1", project="psh", entry="2024-01-01", move_in="2024-01-15", hh="H1"),
        dict(client="w2", project="psh", entry="2024-01-01", hh="H1", rel=2),
    ]  # fmt: skip
    t = run(tmp_path, stays)["7b.2"]
    # Universe o, p, q, v, w1, w2 = 6; successful o, p, v, w1, w2 = 5 -> 83.33%.
    assert [cell(t, f"C{r}") for r in (2, 3, 4)] == [6, 5, 83.33]


def test_fy2022_codes_are_read_in_their_own_version(tmp_path):
    # HMIS CSV FY2022: ProjectType 1 is ES with TrackingMethod 3 = night-by-night (else
    # entry/exit); two-digit living situations and destinations (16 street -> 116, 1 ES -> 101,
    # 10 rental -> 410) are read in the FY2024 code space before the SPM rules apply.
    projects = {"es": (1, 0), "nbn": (1, 3), "psh": (3, None), "so": (4, None)}
    stays = [
        dict(client="A", project="es", entry="2024-01-01", exit="2024-01-11", dest=10),
        dict(client="B", project="psh", entry="2024-02-01", living=16, move_in="2024-02-11"),
        dict(client="C", project="so", entry="2023-12-01", exit="2024-03-01", dest=1),
        dict(client="D", project="nbn", entry="2024-03-01"),
    ]
    folder = write_export(
        tmp_path / "fy22", stays, [(3, "2024-03-01"), (3, "2024-03-05")], "2022 v1.3", projects
    )
    out = spm_tables(read_export(folder, files="all"), START, END)
    # 1a.1: A 10 nights, D 2 bed nights -> 2 persons, mean 6, median 6.
    assert [cell(out["1a"], c) for c in ("B2", "D2", "G2")] == [2, 6.0, 6.0]
    # 1b.1 adds B (PSH from the street, Feb 1-10: 10): 10, 2, 10 -> mean 7.33, median 10.
    assert [cell(out["1b"], c) for c in ("B2", "D2", "G2")] == [3, 7.33, 10.0]
    # 7b.1: A's exit to a rental is permanent (B and D are still enrolled).
    assert [cell(out["7b.1"], f"C{r}") for r in (2, 3, 4)] == [1, 1, 100.0]
    # 7a.1: C went to an emergency shelter: a temporary destination, successful.
    assert [cell(out["7a.1"], f"C{r}") for r in (2, 3, 4, 5)] == [1, 1, 0, 100.0]


# -- report scope and errors -----------------------------------------------------------------------
def test_projects_restrict_the_system(tmp_path):
    # The SPM is system-wide over the projects given: a return into a project outside them is
    # not seen, and persons of other projects are not counted.
    stays = [
        dict(client="A", project="es", entry="2024-01-01", exit="2024-02-01", dest=116),
        dict(client="B", project="th", entry="2024-01-01"),
    ]
    full = run(tmp_path, stays)["3.2"]
    only_es = run(tmp_path, stays, projects=["es"])["3.2"]
    assert (cell(full, "C2"), cell(only_es, "C2"), cell(only_es, "C5")) == (2, 1, 0)
    with pytest.raises(HmisError, match="nope.*not in Project.csv"):
        run(tmp_path, stays, projects=["nope"])


def test_night_by_night_needs_services(tmp_path):
    stays = [dict(client="X", project="nbn", entry="2024-01-01")]
    tables = read_export(write_export(tmp_path / "export", stays))  # default files: no Services
    with pytest.raises(HmisError, match=r"Services.csv.*files=spm.FILES"):
        spm_tables(tables, START, END)


def test_empty_universes_print_zero(tmp_path):
    # HUD's shells print 0 (and 0.00%) for an empty universe, never a blank cell.
    out = run(tmp_path, [dict(client="A", project="hp", entry="2024-01-01")])
    assert (cell(out["7b.2"], "C2"), cell(out["7b.2"], "C4")) == (0, 0.0)
    assert (cell(out["1a"], "B2"), cell(out["1a"], "D2")) == (0, 0.0)
    assert cell(out["2a and 2b"], "J7") == 0.0


# -- the demo export (HUD/Abt sample data, FY2026 format, read-only) --------------------------------
demo = pytest.mark.skipif(
    not SAMPLE.exists() and not os.environ.get("CI"), reason=f"demo export not at {SAMPLE}"
)
SHAPES = {  # (rows including the header row, columns) of each HUD shell
    "1a": (3, 8),
    "1b": (3, 8),
    "2a and 2b": (7, 10),
    "3.2": (5, 4),
    "5.1": (4, 4),
    "5.2": (4, 4),
    "7a.1": (5, 4),
    "7b.1": (4, 4),
    "7b.2": (4, 4),
}
DEMO_START, DEMO_END = date(2021, 10, 1), date(2022, 9, 30)  # the export covers FY2020-FY2022


@pytest.fixture(scope="module")
def demo_tables():
    return read_export(SAMPLE, files=FILES)


@pytest.fixture(scope="module")
def demo_spm(demo_tables):
    return spm_tables(demo_tables, DEMO_START, DEMO_END)


@demo
def test_demo_every_table_in_its_shell(demo_spm):
    assert tuple(demo_spm) == TABLES
    assert {k: t.shape for k, t in demo_spm.items()} == SHAPES
    for table in demo_spm.values():
        assert list(table.columns) == [chr(ord("A") + i) for i in range(table.shape[1])]
    assert cell(demo_spm["3.2"], "C2") > 0 and cell(demo_spm["2a and 2b"], "B7") > 0
    # Written without pandas' own header and index, spreadsheet cell B2 of 1a.csv is HUD's B2.
    text = demo_spm["1a"].to_csv(header=False, index=False)
    grid = list(csv.reader(io.StringIO(text)))
    assert grid[0][0] == "Measure 1a" and grid[1][1] == str(cell(demo_spm["1a"], "B2"))


@demo
def test_demo_cross_checks(demo_spm):
    m1a, m1b, m2, m32 = (demo_spm[k] for k in ("1a", "1b", "2a and 2b", "3.2"))
    sheltered = cell(m32, "C2")
    # 3.2: the unduplicated total is at least each row and at most their sum.
    rows = [cell(m32, f"C{r}") for r in (3, 4, 5)]
    assert max(rows) <= sheltered <= sum(rows)
    # 1a: persons with homeless nights in ES/SH (1.1) or ES/SH/TH (1.2) are sheltered persons;
    # 1.2 counts TH nights too, so it has everyone of 1.1; 1b adds nights, so everyone of 1a.
    assert 0 < cell(m1a, "B2") <= cell(m1a, "B3") <= sheltered
    assert cell(m1a, "B2") <= cell(m1b, "B2") and cell(m1a, "B3") <= cell(m1b, "B3")
    for t in (m1a, m1b):
        for r in (2, 3):
            assert 1 <= cell(t, f"G{r}") and 1 <= cell(t, f"D{r}")
    # 2: the total row is the sum of the project-type rows; 2 years = the three buckets.
    for col in "BCEGI":
        assert cell(m2, f"{col}7") == sum(cell(m2, f"{col}{r}") for r in range(2, 7))
    for r in range(2, 8):
        assert cell(m2, f"I{r}") == sum(cell(m2, f"{c}{r}") for c in "CEG") <= cell(m2, f"B{r}")
        assert (
            cell(m2, f"J{r}") == round(100 * cell(m2, f"I{r}") / cell(m2, f"B{r}"), 2)
            if cell(m2, f"B{r}")
            else cell(m2, f"J{r}") == 0.0
        )
    # 5: first-timers = universe - those with a prior stay; 5.2's universe includes 5.1's.
    for k in ("5.1", "5.2"):
        t = demo_spm[k]
        assert cell(t, "C4") == cell(t, "C2") - cell(t, "C3") >= 0
    assert cell(demo_spm["5.1"], "C2") <= cell(demo_spm["5.2"], "C2")
    # 7: successful counts are part of their universe, and the percentages follow.
    t = demo_spm["7a.1"]
    assert cell(t, "C3") + cell(t, "C4") <= cell(t, "C2")
    assert cell(t, "C5") == round(100 * (cell(t, "C3") + cell(t, "C4")) / cell(t, "C2"), 2)
    for k in ("7b.1", "7b.2"):
        t = demo_spm[k]
        assert 0 < cell(t, "C3") <= cell(t, "C2")
        assert cell(t, "C4") == round(100 * cell(t, "C3") / cell(t, "C2"), 2)


@demo
def test_demo_th_persons_match_an_independent_count(demo_spm):
    # 3.2 row 5 recomputed from the CSV files with the csv module (no acm_helpers code): persons
    # with a TH (ProjectType 2) enrollment started by the end and not exited by the start.
    with zipfile.ZipFile(SAMPLE) as zf:

        def rows(name):
            text = io.TextIOWrapper(zf.open(f"{name}.csv"), encoding="utf-8-sig")
            return [r for r in csv.DictReader(text) if not r.get("DateDeleted")]

        th = {r["ProjectID"] for r in rows("Project") if r["ProjectType"] == "2"}
        clients = {r["PersonalID"] for r in rows("Client")}
        exits = {r["EnrollmentID"]: r["ExitDate"][:10] for r in rows("Exit")}
    start, end = DEMO_START.isoformat(), DEMO_END.isoformat()
    with zipfile.ZipFile(SAMPLE) as zf:
        enrollments = list(
            csv.DictReader(io.TextIOWrapper(zf.open("Enrollment.csv"), encoding="utf-8-sig"))
        )
    persons = {
        r["PersonalID"]
        for r in enrollments
        if not r.get("DateDeleted")
        and r["ProjectID"] in th
        and r["PersonalID"] in clients
        and r["EntryDate"][:10] <= end
        and (not exits.get(r["EnrollmentID"]) or exits[r["EnrollmentID"]] > start)
    }
    assert cell(demo_spm["3.2"], "C5") == len(persons) > 0


@demo
def test_demo_one_project_is_part_of_the_system(demo_tables, demo_spm):
    es = demo_tables["Project"].loc[demo_tables["Project"]["ProjectType"] == "0", "ProjectID"]
    part = spm_tables(demo_tables, DEMO_START, DEMO_END, projects=list(es[:1]))
    assert 0 < cell(part["3.2"], "C3") <= cell(demo_spm["3.2"], "C3")
    assert cell(part["3.2"], "C5") == 0  # no TH project in the group


@demo
def test_acm_hud_spm_writes_every_table_with_hud_cell_positions(tmp_path, demo_spm):
    """`run_report("spm", ...)` writes each table as <id>.csv with HUD's C2 at spreadsheet C2."""
    from acm_helpers.hmis.hud_reports import run_report

    result = run_report("spm", SAMPLE, DEMO_START, DEMO_END, tmp_path)
    assert tuple(result) == TABLES
    rows = list(csv.reader((tmp_path / "7b.1.csv").open(encoding="utf-8")))
    assert rows[1][2] == str(cell(demo_spm["7b.1"], "C2"))  # row 2, column C
    assert rows[0][0] == str(cell(demo_spm["7b.1"], "A1"))
    assert (tmp_path / "spm.xlsx").exists()
    page = (tmp_path / "spm.html").read_text(encoding="utf-8")
    # blank cells are blank (never "None"/"nan"), tables scroll inside their box, titled
    assert ">None<" not in page and ">nan<" not in page
    assert page.count("<div class='wrap'>") == len(TABLES) and "Sheltered homeless persons" in page
