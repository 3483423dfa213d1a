"""HMIS exports checked against HUD's HMIS CSV Format Specifications, on small hand-built files:
the structural check of each file, required columns per version, the version rules, zip paths,
Export.csv rows without data, findings listed by record id, subsidy codes sent as destinations,
and enrollments of PersonalIDs that Client.csv does not have.

Section references are to the HMIS CSV Format Specifications (FY2022 v1.3, FY2024 v1.2, FY2026).
"""

from __future__ import annotations

import zipfile

import pytest
from test_hmis_formats import FY22_CLIENT, base, enr, ext, write_export

from acm_helpers.core.errors import HmisError
from acm_helpers.hmis import csv_spec, findings
from acm_helpers.hmis import export as hmis

FY24_CLIENT = {
    "DOB": "1990-05-20",
    "DOBDataQuality": "1",
    "AmIndAKNative": "0",
    "Asian": "0",
    "BlackAfAmerican": "0",
    "HispanicLatinaeo": "0",
    "MidEastNAfrican": "0",
    "NativeHIPacific": "0",
    "White": "1",
    "Woman": "1",
    "DateDeleted": "",
    "ExportID": "1",
}


def fy2024_files() -> dict[str, list[dict]]:
    files = base("2024 v1.2")
    files["Project"] = [
        {
            "ProjectID": "P1",
            "OrganizationID": "O1",
            "ProjectName": "RRH",
            "ProjectType": "13",
            "DateDeleted": "",
            "ExportID": "1",
        }
    ]
    files["Client"] = [{"PersonalID": f"C{i}", **FY24_CLIENT} for i in (1, 2, 3)]
    files["Enrollment"] = [
        enr("E1", "C1", "P1", "2022-01-03"),
        enr("E2", "C2", "P1", "2022-02-01"),
        enr("E3", "C3", "P1", "2022-03-01"),
        enr("E4", "C9", "P1", "2022-03-01"),  # C9 is not in Client.csv
    ]
    files["Exit"] = [
        ext("X1", "E1", "C1", "2022-02-01", "419"),  # a subsidy type (VASH) sent as destination
        ext("X2", "E2", "C2", "2022-03-01", "435", DestinationSubsidyType="434"),
        ext("X3", "E3", "C3", "2022-04-01", "440"),  # "other PH for formerly homeless"
        ext("X8", "E8", "C1", "2022-04-01", "410"),  # orphan: E8 is not in Enrollment.csv
    ]
    return files


# -- the structural check (General Instructions: one record per line, same field count) --------
@pytest.mark.parametrize(
    "text, message",
    [
        pytest.param('a,b\n1,"x\n', "quoted field is never closed", id="unclosed-quote"),
        pytest.param('a,b\n1,"x"y\n', "quoting is not CSV", id="quote-inside-field"),
        pytest.param(
            "a,b\n1,2\n3\n4,5\n",
            r"line 3 has 1 fields, the header has 2; column b and those after it are missing",
            id="short",
        ),
        pytest.param("a,b\n1,2,3\n4,5\n", r"line 2 has 3 fields", id="long"),
        pytest.param("a,b\n1,2\n3", r"ends in the middle of line 3 .*column b", id="cut-mid-row"),
        pytest.param("a,b\n1,2\n3,4", "does not end with a line break", id="no-final-newline"),
        pytest.param("a,a\n1,2\n", "repeats the column", id="duplicate-column"),
        pytest.param("", "is empty", id="empty"),
    ],
)
def test_parse_csv_refuses_what_the_format_does_not_allow(text, message):
    with pytest.raises(HmisError, match=message) as err:
        csv_spec.parse_csv(text, "Exit", "x.zip")
    assert "x.zip: Exit.csv" in str(err.value) and "Export it again" in str(err.value)


def test_parse_csv_reads_quoted_fields_crlf_and_blank_lines():
    header, records, blank = csv_spec.parse_csv(
        'a,b\r\n"1,5","say ""hi"""\r\n\r\n"multi\nline",2\r\n', "Exit", "x"
    )
    assert header == ["a", "b"] and blank == 1
    assert records == 2
    assert csv_spec.parse_csv("a,b", "Affiliation", "x") == (["a", "b"], 0, 0)  # header only


# -- required columns per version ------------------------------------------------------------------
def test_fy2022_project_needs_tracking_method(tmp_path):
    # FY2022 2.02.C TrackingMethod tells entry/exit from night-by-night shelters (both type 1).
    files = base("2022 v1.3")
    files["Project"] = [{"ProjectID": "P1", "OrganizationID": "O1", "ProjectType": "1",
                         "DateDeleted": "", "ExportID": "1"}]  # fmt: skip
    files["Client"] = [{"PersonalID": "C1", **FY22_CLIENT}]
    files["Enrollment"] = [enr("E1", "C1", "P1", "2022-01-03")]
    files["Exit"] = [ext("X1", "E1", "C1", "2022-02-01", "10")]
    with pytest.raises(HmisError, match=r"Project\.csv .*no column TrackingMethod.*FY2022"):
        hmis.read_export(write_export(tmp_path / "x", files))


def test_fy2026_accepts_either_spelling_but_not_neither():
    header = ["PersonalID", "DOB", "DOBDataQuality", "AmIndAKNative", "Asian", "BlackAfAmerican",
              "NativeHIPacific", "White", "MidEastNAfrican", "Sex", "DateDeleted", "ExportID"]  # fmt: skip
    csv_spec.check_columns([*header, "HispanicLatinaeo"], "Client", "2026", "x")
    csv_spec.check_columns([*header, "HispanicLatinao"], "Client", "2026", "x")
    with pytest.raises(HmisError, match="no column HispanicLatinao"):
        csv_spec.check_columns(header, "Client", "2026", "x")


def test_renamed_column_is_named_with_its_likely_new_name(tmp_path):
    files = fy2024_files()
    for row in files["Exit"]:
        row["Destinaton"] = row.pop("Destination")
    with pytest.raises(HmisError, match=r"no column Destination \(the file has 'Destinaton'"):
        hmis.read_export(write_export(tmp_path / "x", files))


# -- versions --------------------------------------------------------------------------------------
def test_unknown_version_refused_even_when_columns_tell_one(tmp_path):
    files = fy2024_files()
    files["Export"][0]["CSVVersion"] = "2028 v1"  # Client.csv's columns say FY2024
    folder = write_export(tmp_path / "x", files)
    with pytest.raises(HmisError, match=r"Export\.csv line 2 \(ExportID 1\), column CSVVersion"):
        hmis.read_export(folder)
    tables = hmis.read_export(folder, assume_version="2024")
    assert tables.report.version == "2024" and tables.report.version_source == "--assume-version"
    assert [i["kind"] for i in tables.report.issues] == ["version_assumed"]
    with pytest.raises(HmisError, match="--assume-version '2019'"):
        hmis.read_export(folder, assume_version="2019")


def test_blank_version_guessed_from_columns_is_a_finding(tmp_path):
    files = fy2024_files()
    files["Export"][0]["CSVVersion"] = ""
    tables = hmis.read_export(write_export(tmp_path / "x", files))
    assert tables.report.version == "2024"
    assert any(i["kind"] == "version_guessed" for i in tables.report.issues)


# -- zip paths and stale Export.csv rows ------------------------------------------------------------
@pytest.mark.parametrize("member", ["../Exit.csv", "/tmp/Exit.csv", "export/../../x.csv"])
def test_zip_member_outside_the_export_refuses_the_zip(tmp_path, member):
    good = write_export(tmp_path / "x", fy2024_files(), "x.zip")
    with zipfile.ZipFile(good, "a") as zf:
        zf.writestr(member, "ExitID\n1\n")
    with pytest.raises(HmisError, match="has a path outside the export"):
        hmis.read_export(good)


def test_export_rows_without_data_are_ignored(tmp_path):
    files = fy2024_files()
    files["Export"].append(
        {**files["Export"][0], "ExportID": "9", "ExportEndDate": "2026-10-31"}  # no data uses 9
    )
    tables = hmis.read_export(write_export(tmp_path / "x", files))
    assert tables["Export"]["ExportID"].tolist() == ["1"]
    assert str(hmis.export_as_of(tables)) == "2022-09-30"  # the data's own ExportEndDate
    stale = [i for i in tables.report.issues if i["kind"] == "export_without_data"]
    assert stale[0]["ids"] == ["9"] and stale[0]["id_field"] == "ExportID"


# -- mapping: subsidies as destinations, unknown clients, ids -----------------------------------------
@pytest.fixture
def mapped(tmp_path):
    return hmis.to_episodes(hmis.read_export(write_export(tmp_path / "x", fy2024_files())))


def test_subsidy_codes_sent_as_destinations_are_rentals_with_a_subsidy(mapped):
    # FY2024 3.12 Destination 435 "Rental by client, with ongoing housing subsidy" + 3.12.A.
    eps, report = mapped
    e = eps.set_index("episode_id")
    assert e.loc["E1", ["exit_destination", "destination_subsidy_type"]].tolist() == ["435", "419"]
    assert e.loc["E2", ["exit_destination", "destination_subsidy_type"]].tolist() == ["435", "434"]
    assert e.loc["E3", ["exit_destination", "destination_subsidy_type"]].tolist() == ["435", "440"]
    assert set(e.loc[["E1", "E2", "E3"], "destination_class"]) == {"permanent"}
    sub = [i for i in report.issues if i["kind"] == "subsidy_as_destination"]
    assert sub[0]["rows"] == 2 and sub[0]["ids"] == ["X1", "X3"]
    assert not report.unknown_codes


def test_enrollment_of_unknown_client_left_out_and_listed(mapped):
    eps, report = mapped
    assert "E4" not in set(eps["episode_id"])
    reason = "PersonalID not in Client.csv (no such client)"
    assert report.excluded[reason] == 1 and report.excluded_ids[reason] == ["E4"]


def test_orphan_exit_listed_by_exit_id(mapped):
    _, report = mapped
    orphan = report.findings().query("kind == 'orphan' and table == 'Exit'")
    assert orphan["ids"].tolist() == [["X8"]] and orphan["id_field"].tolist() == ["ExitID"]


def test_findings_attributed_to_providers(tmp_path):
    tables = hmis.read_export(write_export(tmp_path / "x", fy2024_files()))
    _, report = hmis.to_episodes(tables)
    found = findings.findings_table(tables, report).set_index(["kind", "table"])
    # E4 belongs to project P1 of organization O1; the orphan exit X8 to no provider.
    assert found.loc[("excluded", "Enrollment"), ["provider_id", "ids"]].tolist() == [
        "org-o1",
        "E4",
    ]
    assert found.loc[("orphan", "Exit"), ["provider_id", "ids"]].tolist() == ["", "X8"]
