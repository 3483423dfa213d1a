"""Client voice, frontline reports and lessons learned (issue 19): intake with quarantine,
the survey metrics worked out by hand, the comment-clearing rule, a frontline rise reaching the
brief, lessons on the agenda."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import numpy as np
import pandas as pd
import pytest

from acm_helpers.core.errors import IntakeError
from acm_helpers.core.schema import SURVEYS
from acm_helpers.intake.intake import load_canonical
from acm_helpers.intake.voice import intake_voice_file, read_log
from acm_helpers.meetings import agenda, voice
from acm_helpers.metrics import voice as mv
from acm_helpers.store.quality import QUARANTINE
from acm_helpers.store.store import Store

HEADER = "response_id,provider_id,response_date,episode_id,respondent_id,overall,respected,recommend,comment\n"


@pytest.fixture
def small(program):
    """The demo program with one breakdown (race and ethnicity), to keep the cells few."""
    return program.model_copy(
        update={"dimensions": {"race_ethnicity": program.dimensions["race_ethnicity"]}}
    )


def episodes(spec: dict[str, int]) -> pd.DataFrame:
    """``n`` clients served in October 2026 per provider: one open episode each."""
    rows = []
    for pid, n in spec.items():
        for i in range(n):
            rows.append(
                {
                    "episode_id": f"{pid}-e{i}",
                    "client_id": f"{pid}-c{i}",
                    "provider_id": pid,
                    "program": "x",
                    "enrollment_date": pd.Timestamp("2026-09-20"),
                    "exit_date": pd.NaT,
                    "race_ethnicity": "White" if i % 2 else "Black or African American",
                    "gender": "Woman (Girl, if child)",
                    "age_at_entry": 40,
                    "zip": "98101",
                }
            )
    return pd.DataFrame(rows)


def responses(pid: str, n: int, satisfied: int) -> pd.DataFrame:
    """``n`` respondents (the provider's first ``n`` clients), ``satisfied`` of them 4 or 5."""
    return pd.DataFrame(
        {
            "response_id": [f"{pid}-r{i}" for i in range(n)],
            "provider_id": pid,
            "response_date": pd.Timestamp("2026-10-10"),
            "episode_id": [f"{pid}-e{i}" for i in range(n)],
            "respondent_id": pd.Series([None] * n, dtype="str"),
            "overall": [5.0 if i < satisfied else 2.0 for i in range(n)],
            "comment": [f"secret comment {pid} {i}" for i in range(n)],
        }
    )


# -- intake ---------------------------------------------------------------------------------------
def test_survey_intake_quarantines_bad_rows_naming_file_row_field(tmp_path, program):
    store = Store(tmp_path / "store")
    path = tmp_path / "2026-10" / "harbor-survey.csv"
    path.parent.mkdir()
    body = (
        HEADER
        + "r1,harbor,2026-10-03,e1,,5,4,9,Kind staff\n"  # good
        + "r2,harbor,2026-10-04,,,4,4,8,\n"  # neither episode nor respondent
        + "r3,harbor,2026-10-05,e3,,7,4,8,\n"  # 7 on a 1-5 scale
        + "r4,harbor,2026-13-05,e4,,4,4,8,\n"  # not a date
        + "r1,harbor,2026-10-06,e5,,4,4,8,\n"  # repeated response_id
        + "r6,harbor,2026-10-07,,c6,3,3,11,\n"  # 11 on a 0-10 scale
        + "r7,harbor,2026-10-08,,c7,4,5,10,Fine\n"  # good
    )
    path.write_bytes(body.encode())
    res = intake_voice_file(path, program, store, "survey", received="2026-11-05")
    assert (res.status, res.rows_total, res.rows_accepted, res.rows_rejected) == (
        "loaded",
        7,
        2,
        5,
    )
    q = store.read_table(QUARANTINE).sort_values("row")
    assert set(q["file"]) == {"harbor-survey.csv"}
    got = {(int(r), f) for r, f in zip(q["row"], q["field"], strict=True)}
    assert got == {
        (2, "episode_id"),
        (3, "overall"),
        (4, "response_date"),
        (5, "response_id"),
        (6, "recommend"),
    }
    reasons = dict(zip(q["row"].astype(int), q["reason"], strict=True))
    assert reasons[3] == "answer outside the scale 1-5"
    assert reasons[6] == "answer outside the scale 0-10"
    assert "first at row 1" in reasons[5]
    loaded = store.read_table("surveys")
    assert sorted(loaded["response_id"]) == ["r1", "r7"]
    log = read_log(store)
    raw = store.root / log["raw_path"].iloc[0]
    assert raw.read_bytes() == path.read_bytes()  # kept byte-for-byte
    again = intake_voice_file(path, program, store, "survey", received="2026-11-05")
    assert again.status == "already loaded"


def test_survey_file_without_a_loadable_row_is_refused_and_logged(tmp_path, program):
    store = Store(tmp_path / "store")
    path = tmp_path / "bad.csv"
    path.write_text(HEADER + "r1,harbor,2026-10-03,e1,,9,4,9,\n")
    with pytest.raises(IntakeError, match="none of the 1 rows"):
        intake_voice_file(path, program, store, "survey", period="2026-10")
    log = read_log(store)
    assert list(log["status"]) == ["rejected"] and log["raw_path"].iloc[0].startswith("raw/")


def test_frontline_unknown_category_is_quarantined(tmp_path, program):
    store = Store(tmp_path / "store")
    path = tmp_path / "fl.csv"
    path.write_text(
        "report_id,provider_id,report_date,category,description\n"
        "f1,harbor,2026-10-02,transportation,No bus passes\n"
        "f2,harbor,2026-10-03,parking,Lot full\n"
    )
    res = intake_voice_file(
        path, program, store, "frontline", period="2026-10", received=date(2026, 11, 5)
    )
    assert (res.rows_accepted, res.rows_rejected) == (1, 1)
    q = store.read_table(QUARANTINE)
    assert (int(q["row"].iloc[0]), q["field"].iloc[0]) == (2, "category")


# -- the metrics, by hand ---------------------------------------------------------------------------
def test_satisfaction_and_response_rate_by_hand(small):
    ep = episodes({"harbor": 40, "cascade": 30})
    resp = pd.concat([responses("harbor", 20, 15), responses("cascade", 12, 6)], ignore_index=True)
    values, equity = mv.survey_tables(small, resp, ep)
    cell = values[
        (values["period"] == "2026-10") & (values["grain"] == "month") & (values["dimension"] == "")
    ]
    cell = cell.set_index(["metric_id", "provider_id"])
    # satisfaction: 15 of 20 at harbor, 6 of 12 at cascade, 21 of 32 program-wide
    assert cell.loc[("client_satisfaction", "harbor"), ["numerator", "denominator"]].tolist() == [
        15,
        20,
    ]
    assert cell.loc[("client_satisfaction", "harbor"), "value"] == pytest.approx(0.75)
    assert cell.loc[("client_satisfaction", "cascade"), "value"] == pytest.approx(0.5)
    assert cell.loc[("client_satisfaction", "__all__"), "value"] == pytest.approx(21 / 32)
    # Wilson interval of 15/20, written out
    z, n, p = 1.959963984540054, 20, 0.75
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    assert cell.loc[("client_satisfaction", "harbor"), "ci_low"] == pytest.approx(centre - half)
    # response rate: 20 respondents / 40 served, 12 / 30, 32 / 70
    rr = cell.xs("survey_response_rate")
    assert rr.loc["harbor", ["numerator", "denominator", "value"]].tolist() == [20, 40, 0.5]
    assert rr.loc["cascade", "value"] == pytest.approx(0.4)
    assert rr.loc["__all__", "value"] == pytest.approx(32 / 70)
    assert rr.loc["harbor", "math"] == "20 respondents / 40 clients served = 50%"
    # equity: harbor's respondents are half Black (even index), half White (odd)
    grp = values[
        (values["metric_id"] == "client_satisfaction")
        & (values["provider_id"] == "harbor")
        & (values["grain"] == "month")
        & (values["period"] == "2026-10")
        & (values["dimension"] == "race_ethnicity")
    ].set_index("group")
    # 15 satisfied = rows 0..14: Black rows 0,2..14 (8 of 10), White rows 1..13 (7 of 10);
    # both groups have 10 respondents, under the threshold of 11: suppressed
    assert grp["suppressed"].all()
    assert not equity.empty


def test_response_rate_suppressed_with_its_respondents(small):
    ep = episodes({"harbor": 40, "cascade": 30})
    resp = pd.concat([responses("harbor", 20, 15), responses("cascade", 5, 4)], ignore_index=True)
    values, _ = mv.survey_tables(small, resp, ep)
    rr = values[
        (values["metric_id"] == "survey_response_rate")
        & (values["period"] == "2026-10")
        & (values["grain"] == "month")
        & (values["dimension"] == "")
    ].set_index("provider_id")
    assert bool(rr.loc["cascade", "suppressed"]) and np.isnan(rr.loc["cascade", "value"])
    # harbor is suppressed as well: with __all__ shown, cascade's 5 = 25 - 20 (complementary)
    assert bool(rr.loc["harbor", "suppressed"])


# -- free text, frontline rise, lessons -------------------------------------------------------------
@pytest.fixture
def voice_store(tmp_path, small):
    """A store with episodes, October survey responses and frontline reports rising at harbor."""
    store = Store(tmp_path / "store")
    load_canonical(store, small, episodes({"harbor": 40, "cascade": 30}))
    resp = pd.concat([responses("harbor", 20, 15), responses("cascade", 12, 6)])
    folder = tmp_path / "2026-10"
    folder.mkdir()
    for pid, g in resp.groupby("provider_id"):
        path = folder / f"{pid}.csv"
        g.assign(response_date="2026-10-10").to_csv(path, index=False)
        intake_voice_file(path, small, store, "survey", received="2026-11-05")
    rows = []
    for month in small.periods():
        n = 8 if month >= "2026-04" else 1 + len(rows) % 2
        rows += [
            {
                "report_id": f"{month}-{i}",
                "provider_id": "harbor",
                "report_date": f"{month}-05",
                "category": "transportation",
                "description": f"secret description {month} {i}",
            }
            for i in range(n)
        ]
    fl = folder / "frontline.csv"
    pd.DataFrame(rows).to_csv(fl, index=False)
    intake_voice_file(fl, small, store, "frontline", received="2026-11-05")
    return store


def test_free_text_absent_from_provider_output_unless_cleared(voice_store, small):
    html = voice.voice_section(small, voice_store, "harbor", "2026-10", "provider")
    assert "Client satisfaction" in html and "secret" not in html
    voice.clear_comments(voice_store, small, "survey", "harbor", ["harbor-r3"], "M. Chen")
    voice.clear_comments(voice_store, small, "frontline", "harbor", ["2026-10-0"], "M. Chen")
    html = voice.voice_section(small, voice_store, "harbor", "2026-10", "provider")
    assert "secret comment harbor 3" in html and "secret description 2026-10 0" in html
    assert "secret comment harbor 4" not in html and "secret description 2026-10 1" not in html
    other = voice.voice_section(small, voice_store, "cascade", "2026-10", "provider")
    assert "secret" not in other  # harbor's cleared comment never reaches cascade
    with pytest.raises(Exception, match="No survey response_id nope"):
        voice.clear_comments(voice_store, small, "survey", "harbor", ["nope"], "M. Chen")


def test_frontline_rise_reaches_the_brief_points(voice_store, small):
    points = voice.voice_points(small, voice_store, "harbor", "2026-10", "provider")
    rising = [p for p in points if p.metric_id == "frontline_transportation"]
    assert rising and rising[0].kind == "concern"
    assert "Frontline reports: Transportation, 8 reports this month" in rising[0].text
    assert "above the upper control limit" in rising[0].text  # the engine's SPC sentence
    html = voice.voice_section(small, voice_store, "harbor", "2026-10", "provider")
    assert "special cause for concern" in html
    assert not [
        p
        for p in voice.voice_points(small, voice_store, "cascade", "2026-10", "provider")
        if p.metric_id.startswith("frontline_")
    ]


def test_lessons_on_the_agenda(voice_store, small):
    voice.add_lesson(voice_store, small, "Navigators cut waits.", "harbor", date(2026, 6, 15))
    voice.add_lesson(voice_store, small, "Weekly lists help everyone.", None, date(2026, 7, 15))
    voice.add_lesson(voice_store, small, "Cascade's own lesson.", "cascade", date(2026, 7, 15))
    voice.add_lesson(voice_store, small, "After the meeting.", "harbor", date(2026, 12, 1))
    page = agenda.agenda_for(small, voice_store, "harbor", "2026-10").to_html()
    assert "Lessons learned to date" in page
    assert "Navigators cut waits." in page and "Weekly lists help everyone." in page
    assert "program-wide" in page
    assert "Cascade&#x27;s own lesson." not in page and "Cascade's own lesson." not in page
    assert "After the meeting." not in page  # recorded after the 15 November meeting


def test_meetings_file_lessons_are_parsed(program, program_path):
    from acm_helpers.meetings.meetings_file import parse_meetings_file

    parsed = parse_meetings_file(program_path.parent / "meetings" / "homeless_demo.yaml", program)
    assert len(parsed.lessons) == 4 and parsed.lessons[1].provider is None


# -- spot check, notes, the command line -----------------------------------------------------------
def test_spot_check_is_uniform_seeded_and_states_its_rule(program, demo_episodes):
    from acm_helpers.core.errors import PrivacyError
    from acm_helpers.meetings import cases

    a = cases.spot_check(program, demo_episodes, "harbor", "2026-10", n=8, seed=11)
    b = cases.spot_check(program, demo_episodes, "harbor", "2026-10", n=8, seed=11)
    c = cases.spot_check(program, demo_episodes, "harbor", "2026-10", n=8, seed=12)
    assert a.sample["episode_id"].tolist() == b.sample["episode_id"].tolist()
    assert a.sample["episode_id"].tolist() != c.sample["episode_id"].tolist()
    # the pool: harbor's episodes open at any time in August-October 2026, by the rule stated
    ep = demo_episodes
    pool = ep[
        (ep["provider_id"] == "harbor")
        & (ep["enrollment_date"] <= pd.Timestamp("2026-10-31"))
        & (ep["exit_date"].isna() | (ep["exit_date"] >= pd.Timestamp("2026-08-01")))
    ]
    assert set(a.sample["episode_id"]) <= set(pool["episode_id"]) and len(a.sample) == 8
    assert f"{len(pool):,} episodes open at any time in the 3 months to Oct 2026" in a.rule
    assert "seed 11" in a.rule and "same chance whatever its outcome" in a.rule
    assert "Spot check for compliance review" in a.to_html()
    with pytest.raises(PrivacyError):
        cases.spot_check(program, demo_episodes, "harbor", "2026-10", audience="provider")


def test_topic_notes_program_wide_and_the_providers_own(tmp_path, program):
    base = tmp_path / "parameters" / "notes" / program.id / "disparity"
    (base / "harbor").mkdir(parents=True)
    (base / "all.md").write_text("# Everyone\n\nShared <b>finding</b>.")
    (base / "harbor" / "fg.md").write_text("Harbor's focus group.")
    (tmp_path / "parameters" / "notes" / program.id / "disparity" / "cascade").mkdir()
    (base / "cascade" / "fg.md").write_text("Cascade only.")
    notes = voice.topic_notes(program, tmp_path, "disparity", "harbor")
    assert [n for n, _ in notes] == ["all.md", "fg.md"]
    html = voice.notes_html(notes)
    assert "Harbor&#x27;s focus group." in html and "Cascade only." not in html
    assert "&lt;b&gt;finding&lt;/b&gt;" in html  # a note is text, never markup


def test_cli_intake_kind_survey_lesson_and_comment(tmp_path, program_path):
    from typer.testing import CliRunner

    from acm_helpers.cli import app

    folder = tmp_path / "2026-10"
    folder.mkdir()
    (folder / "harbor.csv").write_text(HEADER + "q1,harbor,2026-10-02,,c1,5,4,9,Good\n")
    store = tmp_path / "store"
    common = ["--program", str(program_path), "--data-dir", str(store)]
    run = CliRunner().invoke
    res = run(app, ["intake", "--kind", "survey", str(folder), *common, "--received", "2026-11-05"])
    assert res.exit_code == 0 and "loaded" in res.output
    res = run(
        app, ["lesson", "add", "Lists help.", "--provider", "harbor", "--on", "2026-10-01", *common]
    )
    assert res.exit_code == 0 and "harbor-L001" in res.output
    res = run(app, ["comment", "clear", "q1", "--provider", "harbor", "--by", "M. Chen", *common])
    assert res.exit_code == 0 and "1 survey comment(s) cleared" in res.output
    res = run(app, ["comment", "clear", "q2", "--provider", "harbor", "--by", "M. Chen", *common])
    assert res.exit_code == 2 and "No survey response_id q2" in res.output


def test_contract_report_carries_lessons_and_the_exit_interview(tmp_path, program):
    from types import SimpleNamespace

    from acm_helpers.meetings.meetings_file import parse_meetings_file
    from acm_helpers.packets import contract

    store = Store(tmp_path / "store")
    path = tmp_path / "m.yaml"
    question = program.exit_interview.questions[0]
    path.write_text(
        "lessons:\n"
        "  - {date: 2026-05-01, provider: harbor, text: Navigators work}\n"
        "  - {date: 2026-06-01, text: Weekly lists help}\n"
        "exit_interviews:\n"
        f'  - {{provider: harbor, date: 2026-10-28, answers: {{"{question}": The navigators}}}}\n'
    )
    voice.record_file_extras(store, program, parse_meetings_file(path, program))
    answers = voice.read_exit_interviews(store)
    rep = SimpleNamespace(
        program=program,
        provider=program.provider("harbor"),
        lessons=voice.lessons_to_date(store, "harbor", date(2026, 10, 31)),
        exit_answers=answers[answers["provider_id"] == "harbor"],
    )
    sec = contract.lessons_and_exit_interview(rep)
    assert sec.sentences == ["2 lessons recorded over the term."]
    lessons, interview = sec.tables
    assert lessons["Lesson"].tolist() == ["Navigators work", "Weekly lists help"]
    assert lessons["For"].tolist() == ["Harbor Light Housing", "program"]
    got = dict(zip(interview.iloc[:, 0], interview.iloc[:, 1], strict=True))
    assert got[question] == "The navigators"
    assert list(got)[1:] == program.exit_interview.questions[1:]
    assert set(list(got.values())[1:]) == {"not yet recorded"}


# -- the packet audit knows the suppressed survey cells ---------------------------------------------
def _voice_facts(small, store, provider="harbor"):
    from acm_helpers.metrics import engine
    from acm_helpers.packets import audit_facts

    engine.refresh(small, store)
    return audit_facts.facts_for(
        small, store, provider, "2026-10", equity_period="2026-Q4", output="packet"
    )


def test_audit_facts_hold_the_suppressed_survey_cells(voice_store, small):
    facts = _voice_facts(small, voice_store)
    truth = mv.stored_voice_truth(small, voice_store)
    assert len(truth) and set(truth["metric_id"]) <= set(mv.voice_metric_labels(small))
    survey = [c for c in facts.suppressed if c.metric_id in mv.voice_metric_labels(small)]
    # harbor's October satisfaction by race: 8 of 10 (Black), 7 of 10 (White), both suppressed
    black = [
        c
        for c in survey
        if c.metric_id == "client_satisfaction"
        and c.period == "2026-10"
        and c.group == "Black or African American"
    ]
    assert black and {"8", "10", "80%"} <= black[0].numbers and black[0].who == ""
    assert {c.metric for c in survey} >= {"Client satisfaction"}
    # other providers' cells: only this month's overall values, named as the packet names them
    peers = [c for c in survey if c.who]
    assert all(c.period == "2026-10" and not c.group for c in peers)


def test_audit_catches_a_planted_survey_leak_and_passes_the_clean_section(
    tmp_path, voice_store, small
):
    from acm_helpers.packets import audit

    facts = _voice_facts(small, voice_store)
    section = voice.voice_section(small, voice_store, "harbor", "2026-10", "provider")
    clean = tmp_path / "clean" / "packet.html"
    clean.parent.mkdir()
    clean.write_text(f"<html><body>{section}</body></html>", encoding="utf-8")
    assert audit.check_files([clean], facts) == []
    leak = tmp_path / "leak" / "packet.html"
    leak.parent.mkdir()
    planted = (
        "<table><tr><th>Measure</th><th>Group</th><th>October 2026</th></tr>"
        "<tr><td>Client satisfaction</td><td>Black or African American</td>"
        "<td>8 of 10 satisfied respondents</td></tr></table>"
    )
    leak.write_text(f"<html><body>{section}{planted}</body></html>", encoding="utf-8")
    found = audit.check_files([leak], facts)
    assert any(
        f.kind == "suppressed_value"
        and "Client satisfaction" in f.detail
        and "Black or African American" in f.detail
        for f in found
    ), found
    assert all("8 of 10" not in f.detail + f.excerpt for f in found)  # the numbers are masked
    # the episode cells alone would not have caught it
    voice_ids = set(mv.voice_metric_labels(small))
    episode_only = replace(
        facts, suppressed=tuple(c for c in facts.suppressed if c.metric_id not in voice_ids)
    )
    assert audit.check_files([leak], episode_only) == []


# -- stored at refresh, once per input state --------------------------------------------------------
def test_refresh_stores_the_voice_tables_and_a_new_survey_load_is_reflected(
    voice_store, small, tmp_path, monkeypatch
):
    from acm_helpers.metrics import engine

    engine.refresh(small, voice_store)
    stored = {
        k: mv._read_stored(voice_store, k, mv.input_stamp(small, voice_store, k)) for k in mv.STORED
    }
    for kind, tables in stored.items():  # the stored tables are the evaluation's, exactly
        assert tables is not None, kind
        for got, want in zip(tables, mv._evaluate(small, voice_store, kind), strict=True):
            if want is None:
                assert got is None
            else:
                pd.testing.assert_frame_equal(got, want)
    assert mv.refresh_voice(small, voice_store) == []  # nothing changed: a no-op

    def no_evaluation(*args):
        raise AssertionError("evaluated although the stored tables are current")

    monkeypatch.setattr(mv, "_evaluate", no_evaluation)
    mv._CACHE.clear()
    before, _ = mv.stored_survey_tables(small, voice_store)
    monkeypatch.undo()
    # a corrected October file for harbor: readers see it before any refresh, then the refresh
    # stores it (and frontline, whose inputs did not change, is left as it is)
    path = tmp_path / "harbor-fix.csv"
    responses("harbor", 20, 5).assign(response_date="2026-10-10").to_csv(path, index=False)
    intake_voice_file(path, small, voice_store, "survey", "2026-10", received="2026-11-06")
    assert (
        mv._read_stored(voice_store, SURVEYS, mv.input_stamp(small, voice_store, SURVEYS)) is None
    )
    after, _ = mv.stored_survey_tables(small, voice_store)
    assert not after.equals(before)
    assert mv.refresh_voice(small, voice_store) == [SURVEYS]
    mv._CACHE.clear()
    pd.testing.assert_frame_equal(mv.stored_survey_tables(small, voice_store)[0], after)
