"""The HMIS adapter on the real export: HUD/Abt demo data in the FY2026 CSV format
(``../shared/sample-data/hmis-demo/hmis_csv_fy2026_demo.zip``, read-only).

Expected numbers are computed here from the CSV files independently (Python's ``csv`` module,
no acm_helpers code), so a mapping bug cannot hide behind the same bug in the expectation.
"""

from __future__ import annotations

import csv
import io
import os
import zipfile
from collections import Counter
from pathlib import Path

import hud_count
import pandas as pd
import pytest

from acm_helpers.core.config import load_program
from acm_helpers.hmis import export as hmis

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT.parent / "shared" / "sample-data" / "hmis-demo" / "hmis_csv_fy2026_demo.zip"
PROGRAM = ROOT / "parameters" / "programs" / "hmis.yaml"
RACES = [
    "AmIndAKNative",
    "Asian",
    "BlackAfAmerican",
    "HispanicLatinao",
    "MidEastNAfrican",
    "NativeHIPacific",
    "White",
]

pytestmark = pytest.mark.skipif(
    not SAMPLE.exists() and not os.environ.get("CI"),
    reason=f"sample HMIS export not found at {SAMPLE}",
)


# -- independent reading --------------------------------------------------------------------------
@pytest.fixture(scope="session")
def raw() -> dict[str, list[dict]]:
    """Live rows of each CSV (DateDeleted blank), read with the csv module."""
    out = {}
    with zipfile.ZipFile(SAMPLE) as zf:
        for name in zf.namelist():
            if name.endswith(".csv"):
                rows = list(csv.DictReader(io.TextIOWrapper(zf.open(name), encoding="utf-8-sig")))
                out[Path(name).stem] = [r for r in rows if not r.get("DateDeleted")]
    return out


@pytest.fixture(scope="session")
def tables():
    return hmis.read_export(SAMPLE)


@pytest.fixture(scope="session")
def mapped(tables):
    return hmis.to_episodes(tables)


@pytest.fixture(scope="session")
def program():
    return load_program(PROGRAM)


@pytest.fixture(scope="session")
def loaded(tmp_path_factory, program):
    from acm_helpers.store.store import Store

    store = Store(tmp_path_factory.mktemp("hmis-store"))
    result = hmis.intake_export(SAMPLE, program, store, race_method="multi")
    return store, result


# -- reading --------------------------------------------------------------------------------------
def test_version_detected_from_export_csv(tables, raw):
    assert raw["Export"][0]["CSVVersion"] == "2026 v1"
    assert tables.report.version == "2026"
    assert tables.report.version_source == "Export.csv CSVVersion"
    assert tables.report.versions == {raw["Export"][0]["ExportID"]: "2026"}


@pytest.mark.parametrize(
    "name", ["Client", "Enrollment", "Exit", "Project", "Organization", "Export"]
)
def test_counts_loaded_match_the_files(tables, raw, name):
    assert len(tables[name]) == len(raw[name])
    assert tables.report.loaded[name] == len(raw[name])
    assert tables.report.deleted[name] == 0  # the demo export has no DateDeleted rows


def test_dates_parsed_and_formats_recorded(tables, raw):
    entry = tables["Enrollment"]["EntryDate"]
    assert str(entry.dtype) == "datetime64[us]" and entry.notna().all()
    assert entry.min() == pd.Timestamp(min(r["EntryDate"] for r in raw["Enrollment"]))
    assert tables.report.date_formats["Enrollment.EntryDate"] == ["%Y-%m-%d"]
    assert tables.report.unparsed_dates == []


def test_unknown_codes_reported_not_dropped(mapped, raw):
    _, report = mapped
    # List 1.6 RaceGenderNone allows 8, 9, 99 only; count other values independently.
    bad = Counter(r["RaceNone"] for r in raw["Client"] if r["RaceNone"] not in ("", "8", "9", "99"))
    found = {
        (u["field"], u["code"]): u["rows"] for u in report.unknown_codes if u["table"] == "Client"
    }
    assert bad and found.get(("RaceNone", "0")) == bad["0"]
    assert report.episodes == len(raw["Enrollment"])  # the client's rows are kept


# -- mapping --------------------------------------------------------------------------------------
def test_one_episode_per_enrollment_and_exits(mapped, raw):
    eps, _ = mapped
    assert len(eps) == len(raw["Enrollment"]) and eps["episode_id"].is_unique
    assert eps["exit_date"].notna().sum() == len(raw["Exit"])
    assert eps["client_id"].nunique() == len({r["PersonalID"] for r in raw["Enrollment"]})


def test_episodes_per_organization(mapped, raw):
    eps, _ = mapped
    org_of = {p["ProjectID"]: p["OrganizationID"] for p in raw["Project"]}
    expected = Counter("org-" + org_of[e["ProjectID"]] for e in raw["Enrollment"])
    assert eps["provider_id"].value_counts().to_dict() == dict(expected)
    assert set(eps["provider_id"]) == {"org-" + o["OrganizationID"] for o in raw["Organization"]}


def test_program_from_project_type(mapped, raw):
    eps, _ = mapped
    short = {
        "0": "ES-EE",
        "1": "ES-NbN",
        "2": "TH",
        "3": "PSH",
        "4": "SO",
        "6": "SSO",
        "12": "HP",
        "13": "RRH",
    }
    type_of = {p["ProjectID"]: p["ProjectType"] for p in raw["Project"]}
    expected = Counter(short[type_of[e["ProjectID"]]] for e in raw["Enrollment"])
    assert eps["program"].value_counts().to_dict() == dict(expected)


def test_destination_classes_fy2026(mapped, raw):
    eps, _ = mapped
    codes = Counter(int(r["Destination"]) for r in raw["Exit"] if r["Destination"])
    permanent = sum(n for c, n in codes.items() if 400 <= c < 500)
    institutional = sum(n for c, n in codes.items() if 200 <= c < 300)
    temporary = sum(n for c, n in codes.items() if 100 <= c < 200 or 300 <= c < 400)
    other = codes[17] + codes[24]
    got = eps["destination_class"].value_counts()
    assert (got["permanent"], got["institutional"], got["temporary"], got["other"]) == (
        permanent,
        institutional,
        temporary,
        other,
    )
    assert got["unknown"] == len(raw["Exit"]) - permanent - institutional - temporary - other
    subsidies = Counter(
        r["DestinationSubsidyType"] for r in raw["Exit"] if r["Destination"] == "435"
    )
    assert eps["destination_subsidy_type"].value_counts().to_dict() == {
        k: v for k, v in subsidies.items() if k
    }


def test_race_single_and_multi_methods(tables, mapped, raw):
    eps, _ = mapped
    client = {r["PersonalID"]: [f for f in RACES if r[f] == "1"] for r in raw["Client"]}
    picked = [client[e["PersonalID"]] for e in raw["Enrollment"]]
    assert (eps["race_ethnicity"] == "Multiracial").sum() == sum(len(p) > 1 for p in picked)
    assert (eps["race_ethnicity"] == "Unknown").sum() == sum(len(p) == 0 for p in picked)
    assert (eps["race_ethnicity"] == "White").sum() == sum(p == ["White"] for p in picked)
    multi, _ = hmis.to_episodes(tables, race_method="multi")
    assert len(multi) == sum(max(len(p), 1) for p in picked)
    assert (multi["race_ethnicity"] == "White").sum() == sum("White" in p for p in picked)
    assert multi["race_ethnicity"].isin(set(eps["race_ethnicity"]) - {"Multiracial"}).all()


def test_gender_is_sex_in_fy2026(mapped, raw):
    eps, _ = mapped
    sex = {r["PersonalID"]: r["Sex"] for r in raw["Client"]}
    females = sum(sex[e["PersonalID"]] == "0" for e in raw["Enrollment"])
    assert (eps["gender"] == "Female").sum() == females


def test_age_at_entry_is_calendar_age(mapped, raw):
    eps, _ = mapped
    e = raw["Enrollment"][0]
    dob = next(r["DOB"] for r in raw["Client"] if r["PersonalID"] == e["PersonalID"])
    b, s = pd.Timestamp(dob), pd.Timestamp(e["EntryDate"])
    age = s.year - b.year - ((s.month, s.day) < (b.month, b.day))
    assert eps.set_index("episode_id").loc[e["EnrollmentID"], "age_at_entry"] == age


def test_move_in_only_for_ph_and_valid(mapped):
    eps, _ = mapped
    has = eps["move_in_date"].notna()
    assert eps.loc[has, "program"].isin(["PSH", "RRH", "PH-HO", "PH-HS"]).all()
    assert (eps.loc[has, "move_in_date"] >= eps.loc[has, "enrollment_date"]).all()


def test_no_identifying_fields_in_episodes(mapped, raw):
    eps, _ = mapped
    names = {r["FirstName"] for r in raw["Client"] if r["FirstName"]}
    text = set(eps.select_dtypes("str").stack().astype("str"))
    assert not (names & text)


# -- loading --------------------------------------------------------------------------------------
def test_intake_export_loads_the_store(loaded, raw, program):
    store, result = loaded
    eps = store.episodes()
    assert len(eps) == len(raw["Enrollment"])
    assert {r.provider_id for r in result} == set(program.provider_ids)
    assert sum(r.rows_accepted for r in result) == len(raw["Enrollment"])
    assert result.as_of == pd.Timestamp(raw["Export"][0]["ExportEndDate"]).date()
    assert {"return_6m", "return_12m", "return_24m", "days_to_move_in"} <= set(eps.columns)


def test_raw_export_kept_byte_for_byte(loaded):
    _, result = loaded
    (kept,) = result.raw_paths
    assert kept.read_bytes() == SAMPLE.read_bytes()
    assert kept.parent.name == "hmis" and kept.parent.parent.name == "2022-09"


def test_episode_races_table_for_counted_in_every_category(loaded):
    store, result = loaded
    races = store.read_table("episode_races")
    assert len(races) == result.race_rows
    assert races.groupby("episode_id").size().max() >= 2
    assert set(races["episode_id"]) == set(store.episodes()["episode_id"])


def test_reloading_the_same_export_changes_nothing(loaded, program):
    store, _ = loaded
    before = (
        store.episodes()
        .drop(columns=["_submission"])
        .sort_values("episode_id")
        .reset_index(drop=True)
    )
    hmis.intake_export(SAMPLE, program, store)
    after = (
        store.episodes()
        .drop(columns=["_submission"])
        .sort_values("episode_id")
        .reset_index(drop=True)
    )
    pd.testing.assert_frame_equal(before, after)


def test_per_organization_metrics(loaded, raw, program):
    """Exits to permanent housing per organization, FY2022 (Oct 2021 - Sep 2022), through the
    declared metric, against a count made from the CSV files."""
    from acm_helpers.metrics import windows as em

    store, _ = loaded
    got = em.window_cells(
        program,
        store.episodes(),
        em.trailing_window("2022-09", 12, "FY2022"),
        ["exits_to_permanent_housing"],
        dimensions=[],
    )
    got = got[got["dimension"] == ""].set_index("provider_id")
    # HUD's persons (latest enrollment per client per organization), counted from the CSV rows
    org_of = {p["ProjectID"]: "org-" + p["OrganizationID"] for p in raw["Project"]}
    leavers, ph = hud_count.exits_to_ph(raw, "2021-10-01", "2022-09-30", org_of.get)
    for org in leavers:
        assert got.loc[org, "denominator"] == leavers[org]
        assert got.loc[org, "numerator"] == ph[org]


def test_mapping_twice_reports_each_finding_once(tables):
    first = hmis.to_episodes(tables)[1].unknown_codes
    second = hmis.to_episodes(tables)[1].unknown_codes
    assert first == second and len(tables.report.unknown_codes) == 0  # reading found none itself


def test_intake_export_refuses_unknown_race_method(program, tmp_path):
    from acm_helpers.core.errors import HmisError
    from acm_helpers.store.store import Store

    with pytest.raises(HmisError, match="race_method 'both'"):
        hmis.intake_export(SAMPLE, program, Store(tmp_path), race_method="both")


def test_per_organization_metrics_through_the_engine(loaded, raw, program):
    """The metrics engine (acm_helpers.metrics.engine) on the loaded export: exits to permanent housing
    per organization in January 2022 equal the counts made from Exit.csv."""
    metrics = pytest.importorskip("acm_helpers.metrics.engine")
    store, _ = loaded
    values = metrics.compute(program, store, periods=["2022-01"], grains=("month",), dimensions=[])
    got = values[
        (values["metric_id"] == "exits_to_permanent_housing")
        & (values["period"] == "2022-01")
        & (values["dimension"] == "")
    ].set_index("provider_id")
    org_of = {p["ProjectID"]: "org-" + p["OrganizationID"] for p in raw["Project"]}
    leavers, ph = hud_count.exits_to_ph(raw, "2022-01-01", "2022-01-31", org_of.get)
    assert set(leavers) == set(program.provider_ids)
    for org in leavers:
        assert not got.loc[org, "suppressed"]
        assert (got.loc[org, "numerator"], got.loc[org, "denominator"]) == (ph[org], leavers[org])
    assert got.loc["__all__", "denominator"] == sum(leavers.values())
