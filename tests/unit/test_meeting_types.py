"""Meeting types of the program file and what `acm run --meeting` builds from them (issue 19):
the learning circle ranks providers as the engine does and names them only when the program
file says so; every meeting type builds on the three demo programs, offline, and the pages
providers see pass the privacy audit."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from acm_helpers.batch.meetings import run_meeting
from acm_helpers.core.config import MeetingType, load_program
from acm_helpers.core.errors import ConfigError, UnknownIdError
from acm_helpers.packets import circle

ROOT = Path(__file__).resolve().parents[2]
REENTRY = ROOT / "parameters" / "programs" / "reentry.yaml"
FAMILY = ROOT / "parameters" / "programs" / "family_preservation.yaml"


def _store(tmp_path_factory, path: Path, scale: float):
    from acm_helpers.demo import generate as demo
    from acm_helpers.intake import intake
    from acm_helpers.metrics import engine as metrics
    from acm_helpers.store.store import Store

    program = load_program(path)
    store = Store(tmp_path_factory.mktemp(program.id))
    intake.load_canonical(store, program, demo.generate(program, seed=7, scale=scale))
    metrics.refresh(program, store)
    return store


@pytest.fixture(scope="module")
def reentry_store(tmp_path_factory):
    """The re-entry demo (biweekly) at half its volume."""
    return _store(tmp_path_factory, REENTRY, 0.5)


@pytest.fixture(scope="module")
def family_store(tmp_path_factory):
    return _store(tmp_path_factory, FAMILY, 0.25)


def test_default_and_declared_meeting_types(program):
    types = program.meetings.all_types()
    assert {k: (t.cadence, t.audience, t.template) for k, t in types.items()} == {
        "provider_checkin": ("monthly", "provider", "checkin"),
        "internal_review": ("quarterly", "internal", "internal_review"),
        "learning_circle": ("quarterly", "executive", "learning_circle"),
    }
    reentry = load_program(REENTRY)
    assert reentry.meeting_type("provider_checkin").cadence == "biweekly"
    assert reentry.extra_grains() == ("biweek",)
    assert program.extra_grains() == ()  # monthly programs evaluate no weeks
    with pytest.raises(UnknownIdError, match="learning_circle"):
        program.meeting_type("town_hall")
    with pytest.raises(ValueError, match="set audience: executive"):
        MeetingType(title="x", cadence="quarterly", audience="provider", template="learning_circle")


def test_meeting_periods_follow_the_cadence(program):
    assert program.check_meeting_period("2026-Q3", "quarterly") == "2026-Q3"
    with pytest.raises(ConfigError, match="write it like 2026-Q4"):
        program.check_meeting_period("2026-10", "quarterly")
    reentry = load_program(REENTRY)
    periods = reentry.meeting_periods("biweekly")
    # 3 Nov 2025 (the anchor) to 31 Oct 2026 is 363 days = 25 fortnights and 13 days: the
    # last whole one is 5-18 Oct 2026 (19 Oct - 1 Nov would end after the program)
    assert periods[0] == "2025-W45-46" and len(periods) == 25
    assert periods[-1] == "2026-W41-42"


def _circle_program(tmp_path: Path, program_path: Path, display: str) -> Path:
    raw = yaml.safe_load(program_path.read_text(encoding="utf-8"))
    raw["peers"] = {"display": display}
    out = tmp_path / f"{display}.yaml"
    out.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return out


@pytest.mark.parametrize("display", ["anonymized", "named"])
def test_learning_circle_ranks_as_the_engine_and_names_per_program_file(
    tmp_path, program, program_path, demo_store, display
):
    path = _circle_program(tmp_path, program_path, display)
    c = circle.load_circle(path, demo_store.root, "2026-Q3")
    stand = circle.standing_frame(c)
    engine = demo_store.query(
        "SELECT metric_id, provider_id, peer_rank FROM metric_values WHERE grain = 'quarter' "
        "AND period = '2026-Q3' AND dimension = '' AND provider_id <> '__all__' "
        "AND NOT suppressed AND peer_rank IS NOT NULL"
    )
    ranked = stand.dropna(subset=["rank"])
    got = {(r.metric_id, r.provider_id): int(r.rank) for r in ranked.itertuples()}
    want = {
        (r.metric_id, r.provider_id): int(r.peer_rank)
        for r in engine.itertuples()
        if r.metric_id in c.metrics()
    }
    assert got == want and len(got) >= 10
    # best first within each metric, as the engine's ranks order them
    for _, rows in ranked.groupby("metric_id"):
        assert list(rows["rank"]) == sorted(rows["rank"])
    html = "".join(b.body for b in circle.blocks(c))
    names = [p.name for p in program.providers]
    if display == "named":
        assert all(n in html for n in names)
        assert "Provider A" not in html
    else:
        assert not [n for n in names if n in html]
        assert not [p.id for p in program.providers if f">{p.id}<" in html.lower()]
        letters = sorted(circle.circle_labels(program).values())
        assert letters == [f"Provider {chr(65 + i)}" for i in range(len(names))]
        # letters follow neither program order nor rank
        assert [c.labels[p] for p in program.provider_ids] != letters
    best = circle.best_performers(c)["exits_to_permanent_housing"]
    top = engine[(engine["metric_id"] == "exits_to_permanent_housing") & (engine["peer_rank"] == 1)]
    assert best == top["provider_id"].tolist()


def _types(path: Path) -> list[tuple[str, str]]:
    """Every meeting type of a program with a period of its cadence (not the monthly check-in,
    which is the monthly run and its notebooks: tests/integration/test_batch_run.py)."""
    p = load_program(path)
    out = []
    for mid, t in p.meetings.all_types().items():
        if t.template == "checkin" and t.cadence == "monthly":
            continue
        periods = p.meeting_periods(t.cadence)
        out.append((mid, periods[-3] if t.cadence == "quarterly" else periods[-1]))
    return out


@pytest.mark.parametrize("which", ["homeless", "family", "reentry"])
def test_every_meeting_type_builds_offline_and_passes_the_audit(
    tmp_path, which, program_path, request
):
    path, store = {
        "homeless": (program_path, "demo_store"),
        "family": (FAMILY, "family_store"),
        "reentry": (REENTRY, "reentry_store"),
    }[which]
    store = request.getfixturevalue(store)
    program = load_program(path)
    built = []
    for meeting, period in _types(path):
        kind = program.meeting_type(meeting)
        res = run_meeting(path, meeting, period, data_dir=store.root, out_root=tmp_path)
        assert res.failures == {}, res.failures
        if kind.audience != "internal":
            assert sorted(res.audited) == sorted(res.files) and res.files
        for rel in res.files.values():
            html = (tmp_path / period / rel).read_text(encoding="utf-8")
            assert "http://" not in html and "https://" not in html  # nothing to fetch
            assert program.name in html or any(p.name in html for p in program.providers)
        assert (tmp_path / period / "index.html").exists()
        built.append(meeting)
    assert {"internal_review", "learning_circle"} <= set(built)
    if which == "reentry":
        assert "provider_checkin" in built  # the biweekly check-in


def test_biweekly_checkin_shows_the_fortnight(tmp_path, reentry_store):
    res = run_meeting(
        REENTRY, "provider_checkin", "2026-W41-42", data_dir=reentry_store.root, out_root=tmp_path
    )
    html = (tmp_path / "2026-W41-42" / res.files["liberty"]).read_text(encoding="utf-8")
    assert "weeks 41–42, 5–18 Oct 2026" in html
    assert "First-day attendance at job training" in html
    row = reentry_store.query(
        "SELECT value, suppressed FROM metric_values WHERE grain = 'biweek' AND period = "
        "'2026-W41-42' AND provider_id = 'liberty' AND metric_id = 'participants_enrolled' "
        "AND dimension = ''"
    ).iloc[0]
    if not row["suppressed"]:
        assert f">{int(row['value'])}<" in html


def test_a_leaking_page_is_not_published(tmp_path, program_path, demo_store, monkeypatch):
    """An anonymized learning circle that names a provider is refused, not written."""
    original = circle.standing

    def leaky(c):
        block = original(c)
        block.body += f"<p>{c.program.providers[0].name}</p>"
        return block

    monkeypatch.setattr(circle, "standing", leaky)
    res = run_meeting(
        program_path, "learning_circle", "2026-Q3", data_dir=demo_store.root, out_root=tmp_path
    )
    assert "learning_circle" in res.failures and not res.files
    assert not (tmp_path / "2026-Q3" / "learning_circle" / "learning_circle.html").exists()


def test_meeting_dates_of_every_cadence(program):
    from datetime import date

    from acm_helpers.meetings.actions import meeting_date_for

    reentry = load_program(REENTRY)
    # fortnight 5-18 Oct 2026, data due 7 days later (25 Oct): the meeting on 26 Oct
    assert meeting_date_for(reentry, "2026-W41-42") == date(2026, 10, 26)
    # a quarter: the month after its last month, on meetings.day_of_month (15)
    assert meeting_date_for(program, "2026-Q3") == date(2026, 10, 15)
    assert meeting_date_for(program, "2026-09") == date(2026, 10, 15)


def test_explorer_over_offers_fortnights(reentry_store):
    """The dashboard's "Over" control lists fortnights for the biweekly program; the trend shows
    the complete fortnights ending in the chosen months, the peers the last of them."""
    from acm_helpers.explorer import data as explorer

    reentry = load_program(REENTRY)
    d = explorer.load_data(reentry, reentry_store)
    ok = explorer.allowed(d)
    assert "biweek" in ok.grains and explorer.GRAIN_LABELS["biweek"] == "Two weeks"
    sel = explorer.make_selection(
        ok, "liberty", "first_day_attendance", "2026-09", "2026-10", "", "biweek"
    )
    # fortnights ending 1 Sep .. 31 Oct: W33-34 ends 23 Aug (out), W35-36 ends 6 Sep (in),
    # W41-42 ends 18 Oct (in), W43-44 would end 1 Nov (after the program: never evaluated)
    assert explorer.grain_periods(sel) == [
        "2026-W35-36",
        "2026-W37-38",
        "2026-W39-40",
        "2026-W41-42",
    ]
    assert explorer.breakdown_period(sel) == "2026-W41-42"
    assert "weeks 41–42, 5–18 Oct 2026" in explorer.grain_note(sel)
    trend = explorer.trend(d, sel)
    assert list(trend["period"]) == explorer.grain_periods(sel)
    peers = explorer.peers(d, sel)
    assert set(peers["provider"]) == {p.name for p in reentry.providers}
