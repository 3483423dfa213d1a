"""The monthly packets' HMIS metrics follow HUD's rules (issue 14, "What to build" item 2).

Each rule on a small hand-made set of episodes or export, with the expected values worked out by
hand beside the data and the specification section in a comment; then, on the demo HMIS export
loaded into a store, the engine's exits to permanent housing for one project and one quarter
against a count of HUD's rule made in the test from the export's CSV rows.

Specifications: CoC APR / ESG CAPER HMIS Programming Specifications FY2024 (report universe and
"latest project stay", Q11 age, Q12, Q22a1/Q22b length of participation, Q23c destinations with
Appendix A); HMIS Data Standards 3.03 (DOB), 3.05 (FY2022 Ethnicity), 4.13 (Date of Engagement).
"""

from __future__ import annotations

import csv
import io
import os
import zipfile
from datetime import date
from pathlib import Path

import hud_count
import pandas as pd
import pytest
from test_hmis_formats import base, client22, enr, ext, write_export

from acm_helpers.core import hud
from acm_helpers.core.config import Metric, Program
from acm_helpers.hmis import export as hmis
from acm_helpers.hmis import mapping, program_file
from acm_helpers.hmis.program_file import metrics as hmis_metrics
from acm_helpers.hmis.program_file import write_program
from acm_helpers.metrics import windows as em
from acm_helpers.metrics.periods import periods_table
from acm_helpers.metrics.sql import evaluate

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT.parent / "shared" / "sample-data" / "hmis-demo" / "hmis_csv_fy2026_demo.zip"
Q1 = (date(2024, 1, 1), date(2024, 3, 31))


def program(**metrics: dict) -> Program:
    """One provider ``p``, months 2024-01 .. 2024-06, the given metrics (no suppression)."""
    return Program.model_validate(
        {
            "id": "hud",
            "name": "HUD rules",
            "first_period": "2024-01",
            "last_period": "2024-06",
            "providers": [
                {
                    "id": "p",
                    "name": "P",
                    "contract_id": "K",
                    "start": "2024-01-01",
                    "end": "2024-06-30",
                }
            ],
            "metrics": metrics,
            "dimensions": {"race": {"label": "Race", "column": "race_ethnicity"}},
            "suppression": {"threshold": 1, "complementary": False},
        }
    )


def episodes(rows: list[tuple]) -> pd.DataFrame:
    """Episodes from (episode, client, program, start, exit, destination code) tuples."""
    frame = pd.DataFrame(
        rows,
        columns=[
            "episode_id",
            "client_id",
            "program",
            "enrollment_date",
            "exit_date",
            "exit_destination",
        ],
    )
    frame["provider_id"] = "p"
    for col in ("enrollment_date", "exit_date"):
        frame[col] = pd.to_datetime(frame[col]).astype("datetime64[us]")
    frame["destination_class"] = hud.destination_class(frame["exit_destination"]).where(
        frame["exit_date"].notna()
    )
    frame["race_ethnicity"] = "White"
    frame["engagement_date"] = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[us]")
    return frame


def quarter_cell(prog: Program, eps: pd.DataFrame, metric: str) -> pd.Series:
    raw = evaluate(
        prog, eps, periods_table(prog, ["2024-01", "2024-02", "2024-03"], ("month", "quarter")), []
    )
    sel = raw[
        (raw["metric_id"] == metric) & (raw["period"] == "2024-Q1") & (raw["provider_id"] == "p")
    ]
    assert len(sel) == 1
    return sel.iloc[0]


# -- rule 1: persons, not enrollments ------------------------------------------------------------
# APR report universe, "latest project stay": each client once, by the latest enrollment active
# in the period; that enrollment decides leaver or stayer, and its destination counts.
TWO_STAYS = [
    # client A left in January to a rental (410) and came back in February, still enrolled:
    # by the latest enrollment A is a stayer, not a leaver
    ("a1", "A", "ES-EE", "2023-12-01", "2024-01-10", "410"),
    ("a2", "A", "ES-EE", "2024-02-01", None, None),
    # client B left twice in the quarter, first to a shelter (101), last to a rental (410):
    # one leaver, to permanent housing
    ("b1", "B", "ES-EE", "2024-01-05", "2024-01-20", "101"),
    ("b2", "B", "ES-EE", "2024-02-10", "2024-03-15", "410"),
    # client C left once to family, temporary tenure (312): one leaver, not to PH
    ("c1", "C", "ES-EE", "2024-01-02", "2024-02-28", "312"),
    # client D died (24): a leaver whose destination excludes them from Q23c's base
    ("d1", "D", "ES-EE", "2023-11-01", "2024-03-01", "24"),
    # client E left before the quarter: not in its universe at all
    ("e1", "E", "ES-EE", "2023-10-01", "2023-12-31", "410"),
]


def test_two_enrollments_in_the_window_count_once_by_the_latest():
    ph = hmis_metrics()["exits_to_permanent_housing"]
    per_episode = {k: v for k, v in ph.items() if k not in ("per", "universe")}
    prog = program(exits_to_permanent_housing=ph, by_episode=per_episode)
    eps = episodes(TWO_STAYS)
    # HUD: leavers B (b2, 410) and C (312); D excluded (deceased); A a stayer -> 1 / 2
    got = quarter_cell(prog, eps, "exits_to_permanent_housing")
    assert (got["_x"], got["_rows"]) == (1.0, 2.0)
    # counting enrollments instead: a1 (410), b1 (101), b2 (410), c1 (312) -> 2 / 4
    old = quarter_cell(prog, eps, "by_episode")
    assert (old["_x"], old["_rows"]) == (2.0, 4.0)
    # the HUD rule function picks the same enrollments: a2, b2, c1, d1
    latest = hud.latest_active(eps, *Q1)
    assert sorted(eps.loc[latest, "episode_id"]) == ["a2", "b2", "c1", "d1"]


def test_per_person_month_is_not_summed_into_the_quarter():
    # January alone: A left (a1, a2 not begun: a1 is A's latest active in January), B left (b1,
    # b2 not begun); the quarter is not January + February + March of those
    prog = program(exits_to_permanent_housing=hmis_metrics()["exits_to_permanent_housing"])
    eps = episodes(TWO_STAYS)
    raw = evaluate(
        prog, eps, periods_table(prog, ["2024-01", "2024-02", "2024-03"], ("month", "quarter")), []
    )
    cells = raw[(raw["provider_id"] == "p") & (raw["dimension"] == "")].set_index("period")
    # Jan: a1 (410) and b1 (101) -> 1/2; Feb: c1 (312) -> 0/1 (A's and B's latest in February
    # are open); Mar: b2 (410) -> 1/1, d1 excluded
    assert [tuple(cells.loc[m, ["_x", "_rows"]]) for m in ("2024-01", "2024-02", "2024-03")] == [
        (1.0, 2.0),
        (0.0, 1.0),
        (1.0, 1.0),
    ]
    assert tuple(cells.loc["2024-Q1", ["_x", "_rows"]]) == (1.0, 2.0)  # not 2 / 4


def test_metric_rows_list_the_latest_enrollment_only():
    ph = Metric(**hmis_metrics()["exits_to_permanent_housing"])
    got = em.metric_rows(episodes(TWO_STAYS), ph, em.windows([("q1", *Q1)]))
    assert sorted(got["episode_id"]) == ["b2", "c1"]


# -- rule 2: stayers' length to the report end + 1 ---------------------------------------------
# APR Q22a1/Q22b: length of participation = min(exit date, report end + 1) - project start.
STAYERS = [
    ("s1", "S", "TH", "2024-03-31", None, None),  # started on the last day: 1 day (not 0)
    ("s2", "T", "TH", "2023-03-31", "2024-05-01", "410"),  # exit after the end: to Apr 1 = 367
    ("s3", "U", "TH", "2024-01-01", None, None),  # Jan 1 -> Apr 1 2024 (leap year) = 91
    ("l1", "V", "TH", "2024-02-01", "2024-02-11", "410"),  # a leaver: exit - start = 10
]


def test_stayers_length_runs_to_the_day_after_the_end():
    eps = episodes(STAYERS)
    assert hud.participation_days(eps, Q1[1]).tolist() == [1, 367, 91, 10]
    m = hmis_metrics()
    prog = program(
        median_participation_stayers=m["median_participation_stayers"],
        stayers_over_one_year=m["stayers_over_one_year"],
        median_participation_leavers=m["median_participation_leavers"],
    )
    assert quarter_cell(prog, eps, "median_participation_stayers")["_med"] == 91.0  # of 1, 91, 367
    assert quarter_cell(prog, eps, "stayers_over_one_year")["_k"] == 1.0  # T: 367 days > 365
    assert quarter_cell(prog, eps, "median_participation_leavers")["_med"] == 10.0


# -- street outreach: Date of Engagement -----------------------------------------------------------
def test_outreach_data_quality_universe_counts_engaged_clients_only():
    # Data Standards 4.13 and the DQ spec's "Project Stays to Include": for the data-quality
    # questions a street outreach client is counted once engaged. O's latest outreach
    # enrollment (o2) was never engaged, so the engaged o1 is O's stay: a leaver to a rental.
    eps = episodes(
        [
            ("o1", "O", "SO", "2024-01-02", "2024-01-31", "410"),
            ("o2", "O", "SO", "2024-02-05", "2024-03-01", "116"),
            ("n1", "N", "SO", "2024-01-02", "2024-02-01", "410"),  # never engaged: not in DQ
        ]
    )
    eps.loc[eps["episode_id"] == "o1", "engagement_date"] = pd.Timestamp("2024-01-05")
    latest = hud.latest_active(eps, *Q1, engaged=hud.outreach_engaged(eps, Q1[1]))
    assert eps.loc[latest, "episode_id"].tolist() == ["o1"]
    prog = program(exits_to_permanent_housing=hmis_metrics()["exits_to_permanent_housing"])
    got = quarter_cell(prog, eps, "exits_to_permanent_housing")
    # the packet's exits follow Q23c, which counts every outreach leaver, engaged or not: O by
    # the latest stay o2 (116, not permanent), N by n1 (410, permanent)
    assert (got["_x"], got["_rows"]) == (1.0, 2.0)


# -- rule 3: age at the later of the report start and the project start ----------------------------
# APR "Age" (Q5a, Q11): from the recorded date of birth whatever its DOBDataQuality.
def test_age_at_the_later_start_with_an_approximate_dob():
    birth = pd.Series(pd.to_datetime(["2006-02-15", "2006-02-15", "1960-07-01"]))
    start = pd.Series(pd.to_datetime(["2023-06-01", "2024-03-01", "2024-01-10"]))
    # 1: entered 2023-06-01 at 17, report starts 2024-01-01: age on Jan 1 = 17 (birthday Feb 15)
    # 2: entered 2024-03-01, after the report start: age then = 18
    # 3: born 1960-07-01, entered 2024-01-10: 63
    got = hud.age_at(birth, start, "2024-01-01")
    assert got.tolist() == [17, 18, 63]
    assert hud.age_at(birth, start, "2024-03-01").tolist() == [18, 18, 63]  # Mar 1: 18
    assert hud.age_band_of(pd.Series([4, 5, 12, 13, 17, 18, 24, 61, 62, None]), "2022").tolist() == [
        "Under 5", "5-12", "5-12", "13-17", "13-17", "18-24", "18-24", "55-61", "62+", pd.NA
    ]  # fmt: skip


def test_engine_age_band_at_the_later_of_period_and_project_start():
    # The HMIS program's age breakdown is labelled per period in the engine's join.
    eps = episodes(
        [
            ("a", "A", "TH", "2023-06-01", None, None),  # born 2006-02-15: 17 on Jan 1, 18 Mar 1
            ("b", "B", "TH", "2024-03-01", None, None),  # born 2006-02-15: 18 on entry (Mar 1)
            ("c", "C", "TH", "2024-01-10", "2024-02-01", "410"),  # born 1960-07-01: 63
        ]
    )
    eps["hud_birth_date"] = pd.to_datetime(["2006-02-15", "2006-02-15", "1960-07-01"]).astype(
        "datetime64[us]"
    )
    spec = program(stayers=hmis_metrics()["stayers"]).model_dump()
    # the age breakdown as the HMIS program file declares it
    spec["dimensions"] = {
        "age_band": {
            "label": "Age",
            "column": "age_band",
            "expression": program_file.AGE,
            "bins": list(hud.age_edges("2026")),
        }
    }
    prog = Program.model_validate(spec)
    raw = evaluate(
        prog, eps, periods_table(prog, ["2024-01", "2024-03"], ("month", "quarter")), None
    )
    rows = raw[(raw["provider_id"] == "p") & (raw["dimension"] == "age_band")]
    got = dict(zip(zip(rows["period"], rows["group"], strict=True), rows["_k"], strict=True))
    # January: A 17 (as of Jan 1), C 63 (entered Jan 10); March: A and B 18 (as of Mar 1);
    # the quarter starts Jan 1: A 13-17, B 18-24 (entered Mar 1); C left, not a stayer
    assert got == {
        ("2024-01", "13-17"): 1.0,
        ("2024-01", "55-64"): 1.0,  # FY2024+ bands: 63 is 55-64
        ("2024-03", "18-24"): 2.0,
        ("2024-Q1", "13-17"): 1.0,
        ("2024-Q1", "18-24"): 1.0,
    }


def test_mapping_keeps_dob_of_any_quality(tmp_path):
    files = base("2022 v1.3")
    files["Project"] = [
        {"ProjectID": "P1", "OrganizationID": "O1", "ProjectName": "TH", "ProjectType": "2",
         "TrackingMethod": "", "DateDeleted": "", "ExportID": "1"}
    ]  # fmt: skip
    files["Client"] = [
        client22("C1", DOB="2000-06-15", DOBDataQuality="2", White="1"),  # approximate: kept
        client22("C2", DOB="1980-01-01", DOBDataQuality="99", White="1"),  # recorded: kept
        client22("C3", DOB="2022-05-01", DOBDataQuality="1", White="1"),  # after the start
    ]
    files["Enrollment"] = [
        enr("E1", "C1", "P1", "2022-01-03"),
        enr("E2", "C2", "P1", "2022-01-03"),
        enr("E3", "C3", "P1", "2022-01-03"),
    ]
    files["Exit"] = [ext("X1", "E1", "C1", "2022-03-01", "410")]
    eps, report = hmis.to_episodes(hmis.read_export(write_export(tmp_path / "x", files)))
    e = eps.set_index("episode_id")
    # C1: 2000-06-15 to 2022-01-03 = 21; C2: 1980-01-01 to 2022-01-03 = 42 (quality 99 used)
    assert (e.loc["E1", "age_at_entry"], e.loc["E2", "age_at_entry"]) == (21, 42)
    # C3: born after the project start: no age at entry, but the recorded date stays for HUD's
    # age at a later report start (2022-06-01: 0 years)
    assert pd.isna(e.loc["E3", "age_at_entry"]) and pd.isna(e.loc["E3", "birth_date"])
    assert e.loc["E3", "hud_birth_date"] == pd.Timestamp("2022-05-01")
    later = hud.age_at(eps["hud_birth_date"], eps["enrollment_date"], "2022-06-01")
    assert later.tolist() == [21, 42, 0]
    assert any(i["kind"] == "dob_quality_missing" and i["rows"] == 1 for i in report.issues)


# -- rule 4: FY2022 ethnicity apart from race ------------------------------------------------------
# FY2022 APR Q12a (race) and Q12b (ethnicity, Data Standards 3.05) are separate tables.
def test_fy2022_white_and_hispanic_stays_white_with_ethnicity_hispanic():
    client = pd.DataFrame(
        [
            client22("C1", White="1", Ethnicity="1"),  # White, Hispanic
            client22("C2", White="1", BlackAfAmerican="1", Ethnicity="0"),  # two races
            client22("C3", Ethnicity="8"),  # nothing known
            client22("C4", Asian="1", Ethnicity="99"),  # Asian, ethnicity not collected
        ]
    )
    joined = mapping.races(client, "2022")
    assert mapping.single_race(joined).tolist() == [
        mapping.WHITE, mapping.MULTIRACIAL, mapping.UNKNOWN, mapping.ASIAN
    ]  # fmt: skip
    assert mapping.ethnicities(client, "2022", joined).tolist() == [
        mapping.HISPANIC_ETHNICITY, mapping.NOT_HISPANIC, mapping.UNKNOWN, mapping.UNKNOWN
    ]  # fmt: skip


def test_fy2024_ethnicity_from_the_hispanic_checkbox():
    # FY2024 3.04 made Hispanic/Latina/e/o a checkbox: ethnicity is that box
    client = pd.DataFrame(
        [
            {"White": "1", "HispanicLatinaeo": "1"},
            {"White": "1", "HispanicLatinaeo": "0"},
            {"White": "0", "HispanicLatinaeo": "0"},
        ]
    )
    joined = mapping.races(client, "2024")
    assert mapping.ethnicities(client, "2024", joined).tolist() == [
        mapping.HISPANIC_ETHNICITY, mapping.NOT_HISPANIC, mapping.UNKNOWN
    ]  # fmt: skip


# -- the demo export: the engine against HUD's rule counted from the CSV rows -----------------------
needs_sample = pytest.mark.skipif(
    not SAMPLE.exists() and not os.environ.get("CI"),
    reason=f"sample HMIS export not found at {SAMPLE}",
)


@pytest.fixture(scope="module")
def project_store(tmp_path_factory):
    from acm_helpers.core.config import load_program
    from acm_helpers.store.store import Store

    tmp = tmp_path_factory.mktemp("hud-projects")
    prog = load_program(write_program(SAMPLE, tmp / "hmis_projects.yaml", provider_level="project"))
    store = Store(tmp / "store")
    hmis.intake_export(SAMPLE, prog, store)
    return prog, store


@pytest.fixture(scope="module")
def raw() -> dict[str, list[dict]]:
    out = {}
    with zipfile.ZipFile(SAMPLE) as zf:
        for name in zf.namelist():
            if name.endswith(".csv") and Path(name).stem in ("Project", "Enrollment", "Exit"):
                rows = list(csv.DictReader(io.TextIOWrapper(zf.open(name), encoding="utf-8-sig")))
                out[Path(name).stem] = [r for r in rows if not r.get("DateDeleted")]
    return out


@needs_sample
@pytest.mark.parametrize(
    ("project", "enrollment_leavers"),
    [
        pytest.param("1396", 28, id="emergency-shelter"),  # clients who left twice
        pytest.param("1647", 16, id="street-outreach"),  # one exit per person this quarter
    ],
)
def test_demo_exits_to_ph_equal_hud_persons_for_a_project_quarter(
    project_store, raw, project, enrollment_leavers
):
    prog, store = project_store
    pid = f"proj-{project}"
    got = em.window_cells(
        prog, store, em.quarter_windows("2022-01", "2022-03"), ["exits_to_permanent_housing"],
        providers=[pid],
    )  # fmt: skip
    cell = got[got["dimension"] == ""].iloc[0]
    assert cell["grain"] == "quarter" and cell["window"] == "2022-Q1"
    # HUD: latest enrollment per person in the project active in the quarter,
    # leavers in the quarter, minus excluded destinations; numerator the permanent ones
    leavers, ph = hud_count.exits_to_ph(
        raw, "2022-01-01", "2022-03-31", lambda p: p if p == project else None
    )
    assert (cell["numerator"], cell["denominator"]) == (ph[project], leavers[project])
    assert 0 < leavers[project] <= enrollment_leavers  # persons, never more than exit records
    exits = sum(
        "2022-01-01" <= x["ExitDate"] <= "2022-03-31"
        for x in raw["Exit"]
        if x["EnrollmentID"]
        in {e["EnrollmentID"] for e in raw["Enrollment"] if e["ProjectID"] == project}
    )
    assert exits == enrollment_leavers  # the count the enrollment rule gave


@needs_sample
def test_demo_age_breakdown_is_hud_age_of_persons(project_store):
    # APR "Age" on the demo: stayers of one project at the end of 2022-Q1, each by their latest
    # enrollment, in HUD's bands of the age at the later of Jan 1 and the project start
    prog, store = project_store
    pid = "proj-109"  # transitional housing: 33 stayers, 4 of them in another band than at entry
    got = em.window_cells(
        prog, store, em.quarter_windows("2022-01", "2022-03"), ["stayers"], providers=[pid],
        dimensions=["age_band"],
    )  # fmt: skip
    got = got[got["dimension"] == "age_band"].set_index("group")["numerator"]
    eps = store.episodes()
    eps = eps[eps["provider_id"] == pid]
    start, end = date(2022, 1, 1), date(2022, 3, 31)
    people = eps[hud.latest_active(eps, start, end)]
    people = people[hud.is_stayer(people, start, end)]
    bands = hud.age_band_of(hud.age_at(people["hud_birth_date"], people["enrollment_date"], start))
    bands = bands.str.replace("Under 5", "0-4").fillna("Not recorded")
    assert got.to_dict() == bands.value_counts().astype(float).to_dict()
    at_entry = hud.age_band_of(people["age_at_entry"]).str.replace("Under 5", "0-4")
    assert got.sum() == len(people) > 0 and (at_entry.fillna("") != bands).any()


@needs_sample
def test_cli_intake_race_method_multi(tmp_path):
    from typer.testing import CliRunner

    from acm_helpers.cli import app
    from acm_helpers.store.store import Store

    res = CliRunner().invoke(
        app,
        [
            "intake", "--format", "hmis", str(SAMPLE), "--race-method", "multi",
            "--program", str(ROOT / "parameters" / "programs" / "hmis.yaml"),
            "--data-dir", str(tmp_path),
        ],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    races = Store(tmp_path).read_table("episode_races")
    # counted in every category: at least one row per episode, more where several were chosen
    assert len(races) > races["episode_id"].nunique() > 0


# -- the engine's per: person, for any metric -------------------------------------------------------
def _kit_episodes() -> pd.DataFrame:
    """Providers a and b; clients with one to three episodes each, some re-entering."""
    from metrics_kit import ep
    from metrics_kit import episodes as kit_episodes

    rows = []
    for i in range(12):
        client = f"K{i}"
        prov = "a" if i % 3 else "b"
        rows += ep(prov, "2025-02-10", dest="temporary", los=20 + i, client=client)
        if i % 2:  # came back and left again, to housing
            rows += ep(prov, "2025-03-20", dest="permanent", los=15, client=client)
        if i % 4 == 1:  # and came back once more, still enrolled
            rows += ep(prov, None, client=client, enrolled="2025-03-25")
    return kit_episodes(rows)


@pytest.mark.parametrize(
    "window",
    [
        pytest.param(("2025-Q1", date(2025, 1, 1), date(2025, 3, 31)), id="quarter"),
        pytest.param(("2025-03", date(2025, 3, 1), date(2025, 3, 31)), id="month"),
        pytest.param(("12m", date(2024, 4, 1), date(2025, 3, 31)), id="twelve-months"),
    ],
)
def test_per_person_equals_the_episode_rule_on_each_clients_latest_episode(window):
    # Any metric may declare per: person: its cell equals the same metric per episode over the
    # episodes hud.latest_enrollment keeps for that window (one per client and provider)
    from metrics_kit import METRICS, make_program

    kinds = ["exits", "served", "leavers", "stay_median", "stay_mean", "cost_per_exit"]
    by_episode = make_program(metrics=kinds)
    per = {k: Metric(**{**METRICS[k], "per": "person"}) for k in kinds}
    by_person = by_episode.model_copy(update={"metrics": per})
    eps = _kit_episodes()
    wins = em.windows([window])
    label, start, end = window
    latest = eps[hud.latest_active(eps, start, end)]
    assert len(latest) < len(eps[(eps["enrollment_date"] <= pd.Timestamp(end))])
    cols = ["metric_id", "provider_id", "dimension", "group", "numerator", "denominator", "value"]
    got = em.window_cells(by_person, eps, wins, kinds, dimensions=["race"])[cols]
    want = em.window_cells(by_episode, latest, wins, kinds, dimensions=["race"])[cols]
    pd.testing.assert_frame_equal(got.reset_index(drop=True), want.reset_index(drop=True))
    # and it is not the per-episode count: the quarter's leavers are persons, not exits
    if label == "2025-Q1":
        all_eps = em.window_cells(by_episode, eps, wins, ["leavers"])
        people = got[(got["metric_id"] == "leavers") & (got["provider_id"] == "__all__")]
        every = all_eps[(all_eps["provider_id"] == "__all__") & (all_eps["dimension"] == "")]
        assert people[people["dimension"] == ""]["numerator"].iloc[0] < every["numerator"].iloc[0]


def test_universe_needs_per_person():
    from metrics_kit import METRICS

    with pytest.raises(ValueError, match="per: person"):
        Metric(**{**METRICS["exits"], "universe": "enrollment_date <= :end"})


@needs_sample
@pytest.mark.parametrize("project", ["1396", "1647"], ids=["emergency-shelter", "street-outreach"])
def test_demo_packet_exits_to_ph_equal_the_apr_q23c_cells(project_store, project):
    # issue 14: a project's "exits to permanent housing" for a window is that window's APR Q23c
    # (persons by their latest enrollment): numerator = the Permanent Situations subtotal,
    # denominator = Total - "persons whose destinations excluded them from the calculation".
    from acm_helpers.hmis.export import read_export
    from acm_helpers.hmis.hud_reports import apr_tables

    prog, store = project_store
    got = em.window_cells(
        prog, store, em.quarter_windows("2022-01", "2022-03"), ["exits_to_permanent_housing"],
        providers=[f"proj-{project}"],
    )  # fmt: skip
    cell = got[got["dimension"] == ""].iloc[0]
    q23c = apr_tables(read_export(SAMPLE, files="all"), [project], "2022-01-01", "2022-03-31")[
        "Q23c"
    ]
    labels = q23c.iloc[:, 0].tolist()
    permanent = labels.index("Subtotal", labels.index("Permanent Situations"))
    total = int(q23c.iloc[labels.index("Total"), 1])
    excluded = int(
        q23c.iloc[
            labels.index("Total persons whose destinations excluded them from the calculation"), 1
        ]
    )
    assert total > 0
    assert (cell["numerator"], cell["denominator"]) == (
        int(q23c.iloc[permanent, 1]),
        total - excluded,
    )
