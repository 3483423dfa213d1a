"""HMIS adapter on small hand-built exports: FY2022 and FY2024 format differences, merged
exports, deleted records, vendor date formats, hashed names, missing files, unknown codes.

Section references are to the HMIS CSV Format Specifications of each year (Appendix B lists).
"""

from __future__ import annotations

import csv
import hashlib
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from acm_helpers.core.errors import HmisError
from acm_helpers.hmis import export as hmis
from acm_helpers.intake import derive


def write_export(folder: Path, files: dict[str, list[dict]], zip_name: str | None = None) -> Path:
    """Write CSV files (header = union of the rows' keys, in order); optionally zip them."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in files.items():
        header = list(dict.fromkeys(k for r in rows for k in r))
        with open(folder / f"{name}.csv", "w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=header, quoting=csv.QUOTE_MINIMAL)
            w.writeheader()
            w.writerows(rows)
    if zip_name is None:
        return folder
    target = folder.parent / zip_name
    with zipfile.ZipFile(target, "w") as zf:
        for name in files:
            zf.write(folder / f"{name}.csv", f"export/{name}.csv")  # nested folder, as vendors do
    return target


def hashed(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def base(version: str, export_id: str = "1", **export) -> dict[str, list[dict]]:
    exp = {
        "ExportID": export_id,
        "SourceType": "3",
        "SourceID": "COC1",
        "SourceName": "Test CoC",
        "ExportDate": "2023-01-15 10:00:00",
        "ExportStartDate": "2021-10-01",
        "ExportEndDate": "2022-09-30",
        "SoftwareName": "Vendor",
        "CSVVersion": version,
        "ExportDirective": "2",
        "HashStatus": "4",
    }
    exp.update(export)
    return {
        "Export": [exp],
        "Organization": [
            {
                "OrganizationID": "O1",
                "OrganizationName": "Org One",
                "DateDeleted": "",
                "ExportID": export_id,
            }
        ],
    }


# -- FY2022 ------------------------------------------------------------------------------------------
FY22_CLIENT = {
    "FirstName": hashed("Ann"),
    "LastName": hashed("Lee"),
    "NameDataQuality": "1",
    "SSN": hashed("1"),
    "DOB": "1990-05-20",
    "DOBDataQuality": "1",
    "AmIndAKNative": "0",
    "Asian": "0",
    "BlackAfAmerican": "0",
    "NativeHIPacific": "0",
    "White": "0",
    "RaceNone": "",
    "Ethnicity": "0",
    "Female": "0",
    "Male": "0",
    "NoSingleGender": "0",
    "Transgender": "0",
    "Questioning": "0",
    "GenderNone": "",
    "VeteranStatus": "0",
    "DateUpdated": "2022-12-01 09:00:00",
    "DateDeleted": "",
    "ExportID": "1",
}


def client22(pid: str, **kw) -> dict:
    return {"PersonalID": pid, **FY22_CLIENT, **kw}


def enr(
    eid: str, pid: str, project: str, entry: str, hh: str | None = None, rel: str = "1", **kw
) -> dict:
    return {
        "EnrollmentID": eid,
        "PersonalID": pid,
        "ProjectID": project,
        "EntryDate": entry,
        "HouseholdID": hh or f"h{eid}",
        "RelationshipToHoH": rel,
        "MoveInDate": kw.pop("MoveInDate", ""),
        "DateUpdated": kw.pop("DateUpdated", "2022-12-01 09:00:00"),
        "DateDeleted": kw.pop("DateDeleted", ""),
        "ExportID": kw.pop("ExportID", "1"),
        **kw,
    }


def ext(xid: str, eid: str, pid: str, date: str, dest: str, **kw) -> dict:
    return {
        "ExitID": xid,
        "EnrollmentID": eid,
        "PersonalID": pid,
        "ExitDate": date,
        "Destination": dest,
        "DestinationSubsidyType": kw.pop("DestinationSubsidyType", ""),
        "DateUpdated": kw.pop("DateUpdated", "2022-12-01 09:00:00"),
        "DateDeleted": kw.pop("DateDeleted", ""),
        "ExportID": kw.pop("ExportID", "1"),
        **kw,
    }


@pytest.fixture
def fy2022(tmp_path):
    files = base("2022 v1.3")
    files["Project"] = [
        {
            "ProjectID": "P1",
            "OrganizationID": "O1",
            "ProjectName": "Shelter NbN",
            "ProjectType": "1",
            "TrackingMethod": "3",
            "DateDeleted": "",
            "ExportID": "1",
        },
        {
            "ProjectID": "P2",
            "OrganizationID": "O1",
            "ProjectName": "Shelter",
            "ProjectType": "1",
            "TrackingMethod": "0",
            "DateDeleted": "",
            "ExportID": "1",
        },
        {
            "ProjectID": "P3",
            "OrganizationID": "O1",
            "ProjectName": "RRH",
            "ProjectType": "13",
            "TrackingMethod": "",
            "DateDeleted": "",
            "ExportID": "1",
        },
    ]
    files["Client"] = [
        client22("C1", Female="1", Ethnicity="1", White="1"),  # Hispanic (FY2022 Ethnicity) + White
        client22("C2", Male="1", BlackAfAmerican="1"),
        client22("C3", Female="1", Transgender="1", RaceNone="9"),
        client22("C4", DOB="", DOBDataQuality="99", White="1", Male="1"),
    ]
    files["Enrollment"] = [
        enr("E1", "C1", "P2", "2022-01-03"),
        enr("E2", "C1", "P1", "2022-03-01"),
        enr("E3", "C2", "P1", "2022-02-01"),
        enr("E4", "C3", "P3", "2022-02-01", MoveInDate="2022-02-20"),
        enr("E5", "C4", "P2", "2022-04-01"),
    ]
    files["Exit"] = [
        ext("X1", "E1", "C1", "2022-02-01", "3"),
        ext("X3", "E3", "C2", "2022-03-01", "19"),
        ext("X4", "E4", "C3", "2022-05-01", "1"),
        ext("X5", "E5", "C4", "2022-04-10", "42"),
    ]
    return write_export(tmp_path / "fy22", files, "fy22.zip")


def test_fy2022_version_and_project_types(fy2022):
    tables = hmis.read_export(fy2022)
    assert tables.report.version == "2022"
    eps, _ = hmis.to_episodes(tables)
    prog = eps.set_index("episode_id")["program"]
    # FY2022 list 2.02.6: ProjectType 1 + TrackingMethod 3 is night-by-night ES, else entry/exit.
    assert (prog["E1"], prog["E3"], prog["E4"]) == ("ES-EE", "ES-NbN", "RRH")


def test_fy2022_destinations_mapped_to_fy2024_codes_and_classes(fy2022):
    eps, report = hmis.to_episodes(hmis.read_export(fy2022))
    e = eps.set_index("episode_id")
    # FY2022 3 (PH for formerly homeless) -> 435 + subsidy 440; 19 (VASH) -> 435 + 419; 1 (ES) -> 101.
    assert e.loc[
        "E1", ["exit_destination", "destination_subsidy_type", "destination_class"]
    ].tolist() == ["435", "440", "permanent"]
    assert e.loc["E3", ["exit_destination", "destination_subsidy_type"]].tolist() == ["435", "419"]
    assert e.loc["E4", ["exit_destination", "destination_class"]].tolist() == ["101", "temporary"]
    # 42 is on no list: reported, the episode kept with class unknown.
    assert (
        pd.isna(e.loc["E5", "exit_destination"]) and e.loc["E5", "destination_class"] == "unknown"
    )
    assert {
        "table": "Exit",
        "field": "Destination",
        "code": "42",
        "rows": 1,
        "version": "2022",
        "id_field": "ExitID",
        "ids": ["X5"],  # listed by id, so the agency can find the record
    } in report.unknown_codes


def test_fy2022_race_ethnicity_and_gender(fy2022):
    eps, _ = hmis.to_episodes(hmis.read_export(fy2022))
    e = eps.set_index("episode_id")
    # FY2022 APR Q12a/Q12b count race and 3.05 Ethnicity apart: White + Ethnicity 1 is White,
    # with ethnicity Hispanic (not Multiracial, as folding Ethnicity into a race box made it).
    assert (
        e.loc["E1", "races"] == "White"
        and e.loc["E1", "race_ethnicity"] == "White"
        and e.loc["E1", "ethnicity"] == "Hispanic/Latin(a)(o)(x)"
    )
    assert e.loc["E3", "race_ethnicity"] == "Black, African American, or African"
    assert e.loc["E4", "race_ethnicity"] == "Unknown"
    # FY2022 3.06: Female -> Woman, Male -> Man; two selected -> More than one gender.
    assert (e.loc["E1", "gender"], e.loc["E3", "gender"], e.loc["E4", "gender"]) == (
        "Woman (Girl, if child)",
        "Man (Boy, if child)",
        "More than one gender",
    )


def test_fy2022_age_move_in_and_returns(fy2022):
    eps, _ = hmis.to_episodes(hmis.read_export(fy2022))
    e = eps.set_index("episode_id")
    assert e.loc["E1", "age_at_entry"] == 31  # born 1990-05-20, entered 2022-01-03
    assert pd.isna(e.loc["E5", "age_at_entry"])  # DOB data not collected
    assert e.loc["E4", "move_in_date"] == pd.Timestamp("2022-02-20")
    d = derive.derive_episodes(eps, as_of=pd.Timestamp("2024-12-31").date()).set_index("episode_id")
    # E1 exited to PH on Feb 1; E2 (night-by-night ES) started Mar 1: a return after 28 days.
    assert bool(d.loc["E1", "return_6m"]) is True
    assert bool(d.loc["E3", "return_24m"]) is False


# -- FY2024: merged export, vendor formats, deletions, missing optional files ---------------------------
FY24_CLIENT = {
    "FirstName": hashed("Bo"),
    "LastName": hashed("Ng"),
    "NameDataQuality": "1",
    "DOB": "5/20/1990",
    "DOBDataQuality": "1",
    "AmIndAKNative": "0",
    "Asian": "0",
    "BlackAfAmerican": "0",
    "HispanicLatinaeo": "0",
    "MidEastNAfrican": "0",
    "NativeHIPacific": "0",
    "White": "0",
    "RaceNone": "",
    "Woman": "0",
    "Man": "0",
    "NonBinary": "0",
    "CulturallySpecific": "0",
    "Transgender": "0",
    "Questioning": "0",
    "DifferentIdentity": "0",
    "GenderNone": "",
    "VeteranStatus": "0",
    "DateUpdated": "6/1/2024 9:15:00 AM",
    "DateDeleted": "",
    "ExportID": "A",
}


@pytest.fixture
def fy2024(tmp_path):
    files = base(
        "2024 v1.2",
        "A",
        ExportDate="6/1/2024 10:00",
        ExportStartDate="10/1/2023",
        ExportEndDate="5/31/2024",
    )
    files["Export"].append(
        {
            **files["Export"][0],
            "ExportID": "B",
            "ExportDate": "7/1/2024 10:00",
            "ExportEndDate": "6/30/2024",
        }
    )
    files["Project"] = [
        {
            "ProjectID": "P1",
            "OrganizationID": "O1",
            "ProjectName": "ES",
            "ProjectType": "0",
            "DateDeleted": "",
            "ExportID": "A",
        },
        {
            "ProjectID": "P2",
            "OrganizationID": "O1",
            "ProjectName": "PSH",
            "ProjectType": "3",
            "DateDeleted": "",
            "ExportID": "A",
        },
    ]
    files["Client"] = [
        {
            "PersonalID": "C1",
            **FY24_CLIENT,
            "Woman": "1",
            "HispanicLatinaeo": "1",
            "MidEastNAfrican": "1",
        },
        {"PersonalID": "C2", **FY24_CLIENT, "GenderNone": "8", "RaceNone": "8"},
        {"PersonalID": "C3", **FY24_CLIENT, "Man": "1", "Asian": "7"},  # 7: not a 0/1 value
    ]
    files["Enrollment"] = [
        enr("E1", "C1", "P1", "1/10/2024 08:00", DateUpdated="6/1/2024 9:00", ExportID="A"),
        enr(
            "E1", "C1", "P1", "1/12/2024 08:00", DateUpdated="7/1/2024 9:00", ExportID="B"
        ),  # newer copy wins
        enr("E2", "C2", "P2", "2024-02-01T00:00:00", MoveInDate="2024-02-15", ExportID="A"),
        enr("E3", "C3", "P1", "02/03/2024", ExportID="B"),
        enr(
            "E9", "C3", "P1", "2/4/2024", DateDeleted="2024-06-20 10:00:00", ExportID="B"
        ),  # deleted
        enr("E8", "C3", "P9", "2/5/2024", ExportID="B"),  # project not in Project.csv
        enr("E7", "C2", "P1", "2/30/2024", ExportID="B"),  # impossible date
    ]
    files["Exit"] = [
        ext("X1", "E1", "C1", "3/1/2024", "435", DestinationSubsidyType="431", ExportID="B"),
        ext("X2", "E2", "C2", "4/1/2024", "3", ExportID="A"),  # FY2022 code in a FY2024 export
        ext("X3", "E3", "C3", "2/20/2024", "207", ExportID="B"),
    ]
    return tmp_path / "fy24", files


def test_fy2024_merged_export_deleted_and_superseded(fy2024):
    folder, files = fy2024
    tables = hmis.read_export(write_export(folder, files))
    r = tables.report
    assert r.version == "2024" and r.versions == {"A": "2024", "B": "2024"}
    assert r.superseded["Enrollment"] == 1 and r.deleted["Enrollment"] == 1
    enr_ = tables["Enrollment"].set_index("EnrollmentID")
    assert enr_.loc["E1", "EntryDate"] == pd.Timestamp("2024-01-12")  # the later DateUpdated wins
    assert "E9" not in enr_.index
    assert len(tables["Enrollment"]) == 5


def test_fy2024_vendor_date_formats(fy2024):
    folder, files = fy2024
    tables = hmis.read_export(write_export(folder, files))
    e = tables["Enrollment"].set_index("EnrollmentID")["EntryDate"]
    assert e["E2"] == pd.Timestamp("2024-02-01") and e["E3"] == pd.Timestamp("2024-02-03")
    assert tables.report.date_formats["Enrollment.EntryDate"][0] == "%m/%d/%Y"
    assert {
        "table": "Enrollment",
        "field": "EntryDate",
        "rows": 1,
        "examples": ["2/30/2024"],
    } in tables.report.unparsed_dates
    assert tables["Export"]["ExportEndDate"].max() == pd.Timestamp("2024-06-30")


def test_fy2024_mapping_and_report(fy2024):
    folder, files = fy2024
    eps, report = hmis.to_episodes(hmis.read_export(write_export(folder, files)))
    e = eps.set_index("episode_id")
    assert sorted(e.index) == ["E1", "E2", "E3"]
    assert report.excluded == {
        "no project: ProjectID not in Project.csv": 1,
        "no project start date (EntryDate blank or unparseable)": 1,
    }
    assert e.loc[
        "E1", ["exit_destination", "destination_subsidy_type", "destination_class"]
    ].tolist() == ["435", "431", "permanent"]
    assert (
        e.loc["E2", "destination_class"] == "unknown"
        and e.loc["E3", "destination_class"] == "institutional"
    )
    assert e.loc["E1", "race_ethnicity"] == "Multiracial"
    assert e.loc["E1", "races"] == "Hispanic/Latina/e/o; Middle Eastern or North African"
    assert (e.loc["E1", "gender"], e.loc["E2", "gender"], e.loc["E3", "gender"]) == (
        "Woman (Girl, if child)",
        "Unknown",
        "Man (Boy, if child)",
    )
    assert e.loc["E2", "move_in_date"] == pd.Timestamp("2024-02-15")
    unknown = {(u["field"], u["code"]) for u in report.unknown_codes}
    assert unknown == {("Destination", "3"), ("Asian", "7")}
    assert set(report.optional_missing) == {
        "ProjectCoC.csv",
        "Funder.csv",
        "Inventory.csv",
        "CEParticipation.csv",
        "HMISParticipation.csv",
        "Event.csv",
    }


def test_zip_and_folder_give_the_same_episodes(fy2024):
    folder, files = fy2024
    from_dir, _ = hmis.to_episodes(hmis.read_export(write_export(folder, files)))
    from_zip, _ = hmis.to_episodes(hmis.read_export(write_export(folder, files, "x.zip")))
    pd.testing.assert_frame_equal(from_dir, from_zip)


def test_provider_level_project(fy2024):
    folder, files = fy2024
    eps, _ = hmis.to_episodes(
        hmis.read_export(write_export(folder, files)), provider_level="project"
    )
    assert eps.set_index("episode_id")["provider_id"].to_dict() == {
        "E1": "proj-p1",
        "E2": "proj-p2",
        "E3": "proj-p1",
    }


def test_several_source_systems_keep_ids_apart(tmp_path):
    files = base("2024 v1.2", "A")
    files["Export"].append({**files["Export"][0], "ExportID": "B", "SourceID": "COC2"})
    files["Organization"].append(
        {
            "OrganizationID": "O1",
            "OrganizationName": "Other Org",
            "DateDeleted": "",
            "ExportID": "B",
        }
    )
    files["Project"] = [
        {
            "ProjectID": "P1",
            "OrganizationID": "O1",
            "ProjectType": "0",
            "DateDeleted": "",
            "ExportID": x,
        }
        for x in "AB"
    ]
    files["Client"] = [{"PersonalID": "C1", **FY24_CLIENT, "ExportID": x} for x in "AB"]
    files["Enrollment"] = [enr(f"E{x}", "C1", "P1", "2024-01-10", ExportID=x) for x in "AB"]
    files["Exit"] = [ext("X1", "EA", "C1", "2024-02-01", "410", ExportID="A")]
    # The same ids in two HMISs are different people and organizations: nothing is superseded.
    tables = hmis.read_export(write_export(tmp_path / "m", files))
    assert tables.report.superseded == {}
    eps, _ = hmis.to_episodes(tables)
    assert sorted(eps["provider_id"]) == ["org-coc1-o1", "org-coc2-o1"]
    assert sorted(eps["client_id"]) == ["COC1:C1", "COC2:C1"]
    assert eps.set_index("episode_id").loc["COC1:EA", "destination_class"] == "permanent"


# -- refusals ------------------------------------------------------------------------------------------
def test_missing_required_file_names_it(fy2024):
    folder, files = fy2024
    del files["Exit"]
    with pytest.raises(HmisError, match=r"required HMIS file\(s\) missing: Exit\.csv"):
        hmis.read_export(write_export(folder, files))


@pytest.mark.parametrize(
    "version", [pytest.param("2020 v1.8", id="fy2020"), pytest.param("", id="blank")]
)
def test_unsupported_version_without_telling_columns(tmp_path, version):
    files = base(version)
    files.update(
        {
            "Project": [{"ProjectID": "P1", "OrganizationID": "O1", "ProjectType": "0"}],
            "Client": [{"PersonalID": "C1", "Gender": "1"}],  # FY2020: single Gender column
            "Enrollment": [enr("E1", "C1", "P1", "2020-01-01")],
            "Exit": [ext("X1", "E1", "C1", "2020-02-01", "10")],
        }
    )
    with pytest.raises(HmisError, match="not a supported HMIS CSV version"):
        hmis.read_export(write_export(tmp_path / "old", files))


def test_blank_version_falls_back_to_client_columns(fy2024):
    folder, files = fy2024
    for row in files["Export"]:
        row["CSVVersion"] = ""
    tables = hmis.read_export(write_export(folder, files))
    assert tables.report.version == "2024" and tables.report.version_source == "Client.csv columns"


def test_not_an_export(tmp_path):
    bad = tmp_path / "x.txt"
    bad.write_text("hello")
    with pytest.raises(HmisError, match="neither a zip file nor a folder"):
        hmis.read_export(bad)


def test_fy2026_accepts_either_hispanic_spelling_and_old_gender_fields(fy2024):
    # FY2026 renamed HispanicLatinaeo to HispanicLatinao and replaced gender with Sex; an export
    # labelled 2026 that kept the FY2024 names is still read (and its gender fields used).
    folder, files = fy2024
    for row in files["Export"]:
        row["CSVVersion"] = "2026 v1"
    eps, report = hmis.to_episodes(hmis.read_export(write_export(folder, files)))
    e = eps.set_index("episode_id")
    assert report.version == "2026"
    assert e.loc["E1", "races"] == "Hispanic/Latina/e/o; Middle Eastern or North African"
    assert e.loc["E1", "gender"] == "Woman (Girl, if child)"
