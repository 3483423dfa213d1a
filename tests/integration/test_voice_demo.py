"""Client voice and frontline reports on the demo (issue 19, "What it must show"): puget's brief
raises its rising transportation reports and the fall in satisfaction for Black or African
American clients; other providers' briefs do not; free text appears only once cleared; the
internal packet names puget as where transportation is rising.

Built in-process, provider audience, from the demo at full scale (the ``acm demo`` data) with
the demo's survey and frontline files loaded through intake and its meetings file."""

from __future__ import annotations

from pathlib import Path

import pytest

from acm_helpers.demo.voice import COMMENTS_BAD, COMMENTS_GOOD, FRONTLINE_TEXT
from acm_helpers.packets import brief, packet

ROOT = Path(__file__).resolve().parents[2]
SEED = 20261023
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def voice_demo(tmp_path_factory, program):
    """The demo at scale 1.0 with its surveys, frontline reports and meetings file."""
    from acm_helpers.demo import generate as demo
    from acm_helpers.demo.voice import build_voice
    from acm_helpers.intake import intake
    from acm_helpers.meetings import actions
    from acm_helpers.metrics import engine as metrics
    from acm_helpers.store.store import Store

    root = tmp_path_factory.mktemp("voice_demo")
    store = Store(root / "store")
    episodes = demo.generate(program, seed=SEED, scale=1.0)
    intake.load_canonical(store, program, episodes)
    metrics.refresh(program, store)
    build_voice(program, episodes, root / "demo", store, "2026-10", SEED)
    actions.load_file(store, program, ROOT / "parameters" / "meetings" / "homeless_demo.yaml")
    return store


def _brief(program_path, store, provider):
    p = packet.load(program_path, store.root, provider, "2026-10", "provider")
    return brief.talking_points(p), brief.brief(p).body


def test_puget_brief_raises_transportation_and_the_satisfaction_gap(program_path, voice_demo):
    points, html = _brief(program_path, voice_demo, "puget")
    texts = [p.text for p in points]
    assert any(t.startswith("Frontline reports: Transportation") for t in texts), texts
    assert any("Black or African American clients: client satisfaction" in t for t in texts), texts
    assert "Client voice and frontline reports" in html
    assert "Transportation problems surfaced in caseworker reports" in html  # puget's lesson
    for words in (*COMMENTS_GOOD, *COMMENTS_BAD, *FRONTLINE_TEXT.values()):
        assert words not in html  # nothing cleared yet: no free text


def test_other_briefs_have_no_frontline_concern(program_path, voice_demo):
    for provider in ("harbor", "cascade"):
        points, _ = _brief(program_path, voice_demo, provider)
        assert not [p for p in points if p.metric_id.startswith("frontline_")], provider


def test_a_cleared_comment_reaches_only_its_provider(program, program_path, voice_demo):
    from acm_helpers.meetings import voice

    rows = voice_demo.read_table("surveys")
    said = rows[
        (rows["provider_id"] == "puget")
        & rows["comment"].notna()
        & (rows["response_date"] >= "2026-10-01")
    ].iloc[0]
    voice.clear_comments(voice_demo, program, "survey", "puget", [said["response_id"]], "Analyst")
    _, html = _brief(program_path, voice_demo, "puget")
    assert said["comment"] in html
    others = [c for c in (*COMMENTS_GOOD, *COMMENTS_BAD) if c != said["comment"]]
    assert not [c for c in others if c in html]
    _, harbor = _brief(program_path, voice_demo, "harbor")
    assert not [c for c in (*COMMENTS_GOOD, *COMMENTS_BAD) if c in harbor]


def test_system_packet_names_where_transportation_rises(program_path, voice_demo):
    from acm_helpers.packets import system, system_voice

    s = system.load_system(program_path, voice_demo.root, "2026-10")
    issues = system_voice.issues_frame(s).set_index("category")
    assert issues.loc["Transportation", "rising_at"] == "Puget Sound Outreach Partners"
    assert (issues.drop(index="Transportation")["rising_at"] == "").all()
    assert "Rising at" in system_voice.common_issues(s).body


def test_briefs_pass_the_audit_with_the_survey_cells_known(
    tmp_path, program, program_path, voice_demo
):
    """The demo's provider briefs (client-voice section and talking points) hold none of the
    suppressed survey cells' true numbers, and the audit's facts do know those cells."""
    from acm_helpers.packets import audit, audit_facts

    for provider in ("puget", "harbor"):
        points, html = _brief(program_path, voice_demo, provider)
        facts = audit_facts.facts_for(
            program, voice_demo, provider, "2026-10", equity_period="2026-Q4"
        )
        assert any(c.metric == "Client satisfaction" for c in facts.suppressed)
        path = tmp_path / provider / "packet.html"
        path.parent.mkdir()
        body = html + "".join(f"<p>{p.text}</p>" for p in points)
        path.write_text(f"<html><body>{body}</body></html>", encoding="utf-8")
        assert audit.check_files([path], facts) == [], provider
