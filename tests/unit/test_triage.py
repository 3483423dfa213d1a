"""Portfolio triage and sprints: scores worked out by hand for two contracts, the reason a
contract moved tier, a sprint's before/after by hand, and the demo's story (rainier and cascade
in the full-ACM tier, a contract moving up, harbor's sprint improving with an interval)."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import date

import pandas as pd
import pytest

from acm_helpers.core.config import Program, Sprint
from acm_helpers.core.errors import ConfigError
from acm_helpers.meetings import actions, sprints, triage, triage_review
from acm_helpers.meetings.meetings_file import parse_meetings_file
from tests.unit import metrics_kit as kit

PERIOD = "2026-10"
CRITERIA = {
    "contract_value": {"points": 10},
    "new_contract": 5,
    "volume": {"points": 4},
    "concerns": {"points": 6, "max": 12},
    "failing_targets": {"points": 6, "max": 12},
    "hit_and_miss": {"points": 1, "max": 4},
    "worsening": {"points": 4, "max": 8},
    "disparities": {"points": 10, "max": 10},
    "data_quality": {"points": 6, "max": 18},
    "overdue_actions": {"points": 3, "max": 9},
    "earlier_terms": {"not_met": 6, "partly_met": 3, "max": 6},
}


def two_contracts(**triage_extra) -> Program:
    term = {"start": "2022-11-01", "end": "2024-10-31"}
    return Program.model_validate(
        {
            "id": "t",
            "name": "Triage test",
            "first_period": "2025-01",
            "last_period": "2026-12",
            "providers": [
                {
                    "id": "a",
                    "name": "Alpha",
                    "contract_id": "A-1",
                    "contract_value": 1_000_000,
                    "start": "2025-01-01",
                    "end": "2026-12-31",
                },
                {
                    "id": "b",
                    "name": "Beacon",
                    "contract_id": "B-1",
                    "contract_value": 500_000,
                    "start": "2025-01-01",
                    "end": "2026-12-31",
                },
            ],
            "metrics": {
                "exits": kit.METRICS["exits"],
                "served": kit.METRICS["served"],
            },
            "quality": {"required_fields": ["race_ethnicity"]},
            "triage": {
                "volume_metric": "served",
                "criteria": CRITERIA,
                "tiers": [
                    {"id": "full", "label": "Full ACM", "min_score": 25, "cadence": "monthly"},
                    {
                        "id": "light",
                        "label": "Light touch",
                        "min_score": 15,
                        "cadence": "quarterly",
                    },
                    {"id": "monitor", "label": "Monitor", "min_score": 0, "cadence": "semiannual"},
                ],
                "contracts": {
                    "a": {
                        "earlier_terms": [
                            {"contract_id": "A-0", "record": "not_met", **term},
                            {"contract_id": "A-00", "record": "partly_met", **term},
                        ]
                    },
                    "b": {"new": "provider"},
                },
                **triage_extra,
            },
        }
    )


def month_values(a_signal="concern") -> pd.DataFrame:
    rows = [  # provider, metric, label, value, signal, assurance
        ("a", "served", "Clients served", 200, "common", ""),
        ("a", "exits", "Exits to permanent housing", 0.3, a_signal, "consistent_fail"),
        ("b", "served", "Clients served", 100, "common", ""),
        ("b", "exits", "Exits to permanent housing", 0.5, "common", "inconsistent"),
        ("__all__", "served", "Clients served", 300, "common", ""),  # never the largest
    ]
    cols = ["provider_id", "metric_id", "label", "value", "spc_signal", "spc_assurance"]
    return pd.DataFrame(rows, columns=cols)


def quarter_values() -> pd.DataFrame:
    rows = [  # 2026-Q3 against 2026-Q2
        ("a", "exits", "Exits to permanent housing", 0.30, 0.50, "up", True),  # worse
        ("b", "exits", "Exits to permanent housing", 0.60, 0.50, "up", True),  # better
        ("b", "served", "Clients served", 90, 120, "up", False),  # not significant
    ]
    cols = [
        "provider_id",
        "metric_id",
        "label",
        "value",
        "previous_value",
        "direction",
        "flag_significant_change",
    ]
    return pd.DataFrame(rows, columns=cols)


def gaps(b_quarters=("2026-Q3", "2026-Q1")) -> pd.DataFrame:
    rows = [("b", q, "exits", "race", "Black") for q in b_quarters]
    rows += [("a", "2026-Q3", "exits", "race", "Black"), ("a", "2026-Q2", "exits", "age", "18-24")]
    return pd.DataFrame(rows, columns=["provider_id", "period", "metric_id", "dimension", "group"])


def quality_rows() -> pd.DataFrame:
    rows = [
        ("a", "2025-10", "completeness", "race_ethnicity", 0.99),
        ("a", "2026-10", "completeness", "race_ethnicity", 0.80),  # down 19 points: a decline
        ("a", "2026-10", "timeliness", "received", 3.0),  # 3 days late
        ("b", "2026-10", "completeness", "race_ethnicity", 0.97),  # fine
    ]
    out = pd.DataFrame(rows, columns=["provider_id", "period", "check", "field", "value"])
    return out.assign(detail="")


def items() -> pd.DataFrame:
    def item(n, pid, due, status="open", closed=None):
        return {
            "item_id": f"{pid}-{n:03d}",
            "provider_id": pid,
            "meeting_date": date(2026, 6, 15),
            "owner": "x",
            "due_date": due,
            "status": status,
            "metric_id": "",
            "text": "t",
            "closed_date": closed,
            "resolution": "",
        }

    return actions.items_frame(
        pd.DataFrame(
            [
                item(1, "a", date(2026, 9, 30)),  # overdue at the 2026-11-15 meeting
                item(2, "a", date(2026, 12, 31)),  # open, not yet due
                item(1, "b", date(2026, 7, 31), "closed", date(2026, 8, 1)),
            ]
        )
    )


def inputs(**changes) -> triage.TriageInputs:
    base = triage.TriageInputs(month_values(), quarter_values(), gaps(), quality_rows(), items())
    return replace(base, **changes)


def test_scores_worked_out_by_hand_for_two_contracts():
    program = two_contracts()
    points = triage.score_contracts(program, inputs(), PERIOD)
    got = points.pivot(index="criterion", columns="provider_id", values="points")
    # Alpha: $1M of the largest $1M x 10; 200 of the largest 200 served x 4; one concern x 6;
    # one target consistently missed x 6; one metric worse than last quarter x 4; no gap in
    # two quarters; a decline and a late file x 6; one overdue item x 3; earlier terms
    # not met 6 + partly met 3 = 9, capped at 6.
    alpha = {
        "contract_value": 10,
        "new_contract": 0,
        "volume": 4,
        "concerns": 6,
        "failing_targets": 6,
        "hit_and_miss": 0,
        "worsening": 4,
        "disparities": 0,
        "data_quality": 12,
        "overdue_actions": 3,
        "earlier_terms": 6,
    }
    # Beacon: $500k of $1M x 10 = 5; new provider 5; 100 of 200 served x 4 = 2; one target
    # hit and miss x 1; its exits improved (not counted); the Black group's gap flagged in
    # 2026-Q3 and 2026-Q1, two of the last four quarters: 10.
    beacon = {
        "contract_value": 5,
        "new_contract": 5,
        "volume": 2,
        "concerns": 0,
        "failing_targets": 0,
        "hit_and_miss": 1,
        "worsening": 0,
        "disparities": 10,
        "data_quality": 0,
        "overdue_actions": 0,
        "earlier_terms": 0,
    }
    assert got["a"].to_dict() == pytest.approx(alpha)
    assert got["b"].to_dict() == pytest.approx(beacon)
    ranked = triage.rank_contracts(program, points).set_index("provider_id")
    assert ranked.loc["a", "score"] == 51 and ranked.loc["a", "tier"] == "full"
    assert ranked.loc["b", "score"] == 23 and ranked.loc["b", "tier"] == "light"
    assert ranked.loc["a", "cadence"] == "monthly" and ranked.loc["b", "cadence"] == "quarterly"
    assert list(ranked["rank"]) == [1, 2]
    # the rule is written out beside the score, one line per criterion that scored
    rule_a = ranked.loc["a", "rule"].splitlines()
    assert len(rule_a) == 8
    assert (
        "Earlier terms: A-0 not met; A-00 partly met (not met 6 + partly met 3 = 9, capped at 6)"
        in rule_a
    )
    assert "Contract value: $1,000,000 ($1,000,000 ÷ $1,000,000 (largest) × 10 = 10)" in rule_a
    assert any(
        line.startswith(
            "Data-quality problems: Race and ethnicity falling; file 3 days late (2 × 6 = 12)"
        )
        for line in rule_a
    )
    assert "Overdue action items: 1 of 2 open items overdue (1 × 3 = 3)" in rule_a
    rule_b = ranked.loc["b", "rule"]
    assert (
        "Persistent disparities: Exits to permanent housing: Black (2 of 4 quarters) (1 × 10 = 10)"
        in rule_b
    )
    assert (
        "Volume served: 100 clients served in October 2026 (100 ÷ 200 (largest) × 4 = 2)" in rule_b
    )


def test_no_file_for_the_month_is_a_data_quality_problem():
    program = two_contracts()
    q = quality_rows()
    points = triage.score_contracts(program, inputs(quality=q[q["provider_id"] == "a"]), PERIOD)
    dq = points[points["criterion"] == "data_quality"].set_index("provider_id")
    assert dq.loc["b", "points"] == 6 and dq.loc["b", "found"] == "no file for October 2026"


def test_moving_tier_says_which_criteria_changed():
    program = two_contracts()
    now_points = triage.score_contracts(program, inputs(), PERIOD)
    # three months earlier: Beacon's gap was flagged in one quarter only, Alpha had no concern
    before_inputs = inputs(
        disparities=gaps(b_quarters=("2026-Q2",)), month_values=month_values(a_signal="common")
    )
    # (scored as of the same month so only the changed frames differ)
    before_points = triage.score_contracts(program, before_inputs, PERIOD)
    now = triage.rank_contracts(program, now_points)
    now.attrs["points"] = now_points
    before = triage.rank_contracts(program, before_points)
    before.attrs["points"] = before_points
    moved = triage_review.movement(program, now, before, PERIOD, "2026-07").set_index("provider_id")
    b = moved.loc["b"]
    # Beacon: 13 -> 23 points, Monitor -> Light touch, because of the persistent gap
    assert (b["previous_tier"], b["tier"], b["move"]) == ("monitor", "light", "up")
    assert b["previous_score"] == 13
    assert b["why"] == (
        "up from Monitor (13 → 23 points): persistent disparities +10 (1 now, none in July 2026)"
    )
    a = moved.loc["a"]  # 45 -> 51: stays in the full tier, the concern named
    assert a["move"] == "same" and a["why"].startswith(
        "stays Full ACM (45 → 51 points); concern signals +6"
    )
    first = triage_review.movement(program, now, None, PERIOD, None)
    assert set(first["move"]) == {"new"}


def test_program_file_checks_the_triage_and_sprint_blocks():
    with pytest.raises(ValueError, match="last tier needs min_score 0"):
        two_contracts(tiers=[{"id": "x", "label": "X", "min_score": 5, "cadence": "monthly"}])
    with pytest.raises(ValueError, match="unknown metric 'nope'"):
        two_contracts(volume_metric="nope")
    with pytest.raises(ValueError, match="sprints.s: unknown provider 'zz'"):
        kit.make_program(
            sprints={
                "s": {
                    "title": "S",
                    "providers": ["zz"],
                    "metric": "exits",
                    "start": "2025-07",
                    "end": "2025-09",
                    "question": "?",
                }
            }
        )
    bare = kit.make_program()
    with pytest.raises(ConfigError, match="no triage: block"):
        triage.settings(bare)


def _wilson(x: int, n: int) -> tuple[float, float]:
    z = 1.959963984540054
    centre = (x + z * z / 2) / (n + z * z)
    half = z / (n + z * z) * math.sqrt(x * (n - x) / n + z * z / 4)
    return centre - half, centre + half


def test_sprint_before_and_during_worked_out_by_hand(tmp_path):
    program = kit.make_program(
        threshold=1,
        sprints={
            "nav": {
                "title": "Navigation sprint",
                "providers": ["a"],
                "metric": "exits",
                "start": "2025-07",
                "end": "2025-09",
                "goal": 0.6,
                "question": "Do navigators lift exits?",
            }
        },
    )
    eps = kit.episodes(
        kit.ep("a", "2025-05-10", "permanent", n=3),  # before (Apr-Jun 2025): 3 of 10
        kit.ep("a", "2025-05-12", "temporary", n=7),
        kit.ep("a", "2025-08-10", "permanent", n=7),  # during (Jul-Sep 2025): 7 of 10
        kit.ep("a", "2025-08-12", "temporary", n=3),
        kit.ep("b", "2025-08-10", "permanent", n=2),
    )
    got = sprints.sprint_results(program, eps, "2026-03").iloc[0]
    assert (got["status"], got["before_months"], got["during_months"]) == (
        "ended",
        "Apr 2025 – Jun 2025",
        "Jul 2025 – Sep 2025",
    )
    l0, u0 = _wilson(3, 10)
    l1, u1 = _wilson(7, 10)
    assert (got["before_value"], got["during_value"]) == pytest.approx((0.3, 0.7))
    assert (got["before_low"], got["before_high"]) == pytest.approx((l0, u0))
    assert (got["before_n"], got["during_n"]) == (10, 10)
    assert got["difference"] == pytest.approx(0.4)
    # Newcombe's hybrid score interval from the two Wilson intervals
    assert got["difference_low"] == pytest.approx(
        0.4 - math.sqrt((0.7 - l1) ** 2 + (u0 - 0.3) ** 2)
    )
    assert got["difference_high"] == pytest.approx(
        0.4 + math.sqrt((u1 - 0.7) ** 2 + (0.3 - l0) ** 2)
    )
    # pooled two-proportion z: p = 0.5, se = sqrt(0.25 * 0.2)
    z = 0.4 / math.sqrt(0.5 * 0.5 * (1 / 10 + 1 / 10))
    assert got["p_value"] == pytest.approx(math.erfc(z / math.sqrt(2)))
    # 10 leavers a side: the interval (about -0.03 to +0.68 points) still holds no change
    assert got["difference_low"] < 0 and not got["improved"]
    assert "not clearly beyond chance" in got["sentence"]
    assert bool(got["goal_met"])  # 70% against a 60% goal
    assert "from 30% (" in got["sentence"] and "to 70% (" in got["sentence"]
    # before the start: planned, no numbers
    planned = sprints.sprint_results(program, eps, "2025-06").iloc[0]
    assert planned["status"] == "planned" and pd.isna(planned["during_value"])
    # while it runs, the during window stops at the period
    running = sprints.sprint_results(program, eps, "2025-08").iloc[0]
    assert running["status"] == "running" and running["during_months"] == "Jul 2025 – Aug 2025"


def test_rotation_plan_skips_providers_resting_after_a_sprint():
    program = two_contracts(sprint_slots=1, sprint_rest_months=6)
    sprint = Sprint(
        title="S", providers=["a"], metric="exits", start="2026-06", end="2026-08", question="?"
    )
    program = program.model_copy(update={"sprints": {"s": sprint}})
    points = triage.score_contracts(program, inputs(), PERIOD)
    review = triage.rank_contracts(program, points)
    plan = sprints.rotation_plan(program, review, PERIOD, points)
    # Alpha scores most but its sprint ended in August, within six months of January: Beacon
    assert list(plan["provider_id"]) == ["b"] and plan["quarter"].iloc[0] == "2027-Q1"
    assert plan["focus"].iloc[0] == "Exits to permanent housing"


# -- the demo ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def demo_review(program, demo_store):
    """The demo's quarter review as `acm demo` builds it: the store with the demo meetings."""
    from pathlib import Path

    parsed = parse_meetings_file(
        Path(__file__).resolve().parents[2] / "parameters" / "meetings" / "homeless_demo.yaml",
        program,
    )
    _, demo_items = actions.merge_entries(
        actions.read_meetings(demo_store), actions.read_actions(demo_store), parsed
    )

    def ranked(period):
        got = replace(triage.load_inputs(program, demo_store, period), items=demo_items)
        points = triage.score_contracts(program, got, period)
        out = triage.rank_contracts(program, points)
        out.attrs["points"] = points
        return out

    before = triage_review.previous_review(program, PERIOD)
    return triage_review.movement(program, ranked(PERIOD), ranked(before), PERIOD, before)


def test_demo_triage_puts_rainier_and_cascade_in_full_acm(demo_review):
    r = demo_review.set_index("provider_id")
    assert r.loc["rainier", "tier"] == "full" and r.loc["cascade", "tier"] == "full"
    # for the real reasons: rainier's required fields falling, cascade's persistent gap
    assert "Data-quality problems: " in r.loc["rainier", "rule"]
    assert "Race and ethnicity falling" in r.loc["rainier", "rule"]
    assert (
        "Persistent disparities: Exits to permanent housing: Black or African American"
        in (r.loc["cascade", "rule"])
    )
    assert set(r["tier"]) <= {"full", "light", "monitor"} and len(r) == 6


def test_demo_a_contract_moves_up_a_tier_and_says_why(demo_review):
    up = demo_review[demo_review["move"] == "up"]
    assert len(up)
    for row in up.itertuples():
        assert row.why.startswith("up from ") and " points): " in row.why


def test_demo_harbor_sprint_shows_its_improvement_with_an_interval(program, demo_store):
    got = sprints.sprint_results(program, demo_store, PERIOD)
    harbor = got[got["provider_id"] == "harbor"].iloc[0]
    assert harbor["status"] == "ended" and harbor["metric_id"] == "exits_to_permanent_housing"
    assert harbor["difference"] > 0 and harbor["difference_low"] > 0 and harbor["improved"]
    assert "95% interval +" in harbor["sentence"]


def test_acm_portfolio_prints_the_ranked_list(program_path, demo_store):
    from typer.testing import CliRunner

    from acm_helpers.cli import app

    res = CliRunner().invoke(
        app,
        [
            "portfolio",
            "--period",
            PERIOD,
            "--program",
            str(program_path),
            "--data-dir",
            str(demo_store.root),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "Portfolio triage, " in res.output and "(moves since July 2026)" in res.output
    assert "The rule:" in res.output and "Housing navigation sprint (ended)" in res.output
    assert "Proposed sprints for January–March 2027:" in res.output


def test_explorer_shows_the_triage_under_all_providers_when_opened(program, demo_store):
    from acm_helpers.explorer.app import Explorer

    app = Explorer([program], [demo_store], chart_mode="svg")
    assert (
        app.portfolio_box.layout.display is None and app.portfolio.value == ""
    )  # not yet computed
    app.portfolio_box.selected_index = 0
    shown = app.portfolio.value
    assert "Portfolio triage, October 2026" in shown and "Rainier Valley Shelter Alliance" in shown
    assert "How the score is built" in shown and "Housing navigation sprint" in shown
    app.provider.value = "harbor"  # one provider: the portfolio is not that provider's view
    assert app.portfolio_box.layout.display == "none"


def test_sprint_shown_in_its_providers_packet_and_contract_report(program_path, demo_store):
    from acm_helpers.packets import contract, contract_term, dashboard, packet

    harbor = packet.load(program_path, demo_store.root, "harbor", PERIOD, "provider")
    body = dashboard.sprints(harbor).body
    assert "Housing navigation sprint" in body and "95% interval +" in body
    assert "Cascade" not in body and "Rainier" not in body  # only this provider's rows
    cascade = packet.load(program_path, demo_store.root, "cascade", PERIOD, "provider")
    assert dashboard.sprints(cascade).body == ""  # in no sprint: no section
    rep = contract_term.open_report(program_path, demo_store.root, "harbor")
    section = contract.sprints(rep)
    row = section.tables[0].iloc[0]
    assert row["sprint"] == "Housing navigation sprint" and row["months"] == "Dec 2025 – Feb 2026"
    assert row["change (95% interval)"].startswith("+") and " (+" in row["change (95% interval)"]


def test_harbor_packet_with_its_sprint_passes_the_privacy_audit(
    program, program_path, demo_store, tmp_path
):
    from acm_helpers.core.calendar import equity_quarter
    from acm_helpers.packets import audit, audit_facts, dashboard, packet

    p = packet.load(program_path, demo_store.root, "harbor", PERIOD, "provider")
    html_file = tmp_path / "packet.html"
    html_file.write_text(
        "<html><body>"
        + "".join(getattr(dashboard, s)(p)._repr_html_() for s in ("header", "tiles", "sprints"))
        + "</body></html>",
        encoding="utf-8",
    )
    facts = audit_facts.facts_for(
        program, demo_store, "harbor", PERIOD, equity_period=equity_quarter(PERIOD)
    )
    findings = audit.check_files({"html": html_file}, facts)
    assert findings == [], [f.message for f in findings]
    assert "Housing navigation sprint" in html_file.read_text(encoding="utf-8")


def test_system_appendix_has_the_triage_sheet(program, program_path, demo_store):
    from acm_helpers.packets import system

    params = {"program_path": program_path, "data_dir": demo_store.root, "period": PERIOD}
    sheets, _ = system.system_appendix(program, demo_store, params)
    sheet = sheets["Portfolio triage"]
    assert list(sheet["rank"]) == list(range(1, len(program.providers) + 1))
    assert set(sheet["tier"]) <= {"Full ACM", "Light touch", "Monitor"}
    assert not sheet["each criterion's points"].str.contains("\n").any()


def test_scores_need_only_the_quality_months_the_criterion_reads():
    """``load_inputs`` reads the quality rows of the last ``trend_months`` only: older rows
    change no points."""
    program = two_contracts()
    q = quality_rows()
    older = q.assign(period="2024-01", value=0.1)  # before the trend window
    full = triage.score_contracts(program, inputs(quality=pd.concat([older, q])), PERIOD)
    window = triage.score_contracts(program, inputs(quality=q), PERIOD)
    pd.testing.assert_frame_equal(full, window)


def test_quarter_review_is_kept_while_its_tables_are_unchanged(
    program, demo_store, tmp_path, monkeypatch
):
    """The system packet asks for the review twice (its section and its XLSX sheet): the second
    ask is served from this process's memo, a new frame each time, and a replaced table or
    another program object is read again."""
    import shutil

    from acm_helpers.store.store import Store

    shutil.copytree(demo_store.root, tmp_path / "store")
    store = Store(tmp_path / "store")
    asked: list[str] = []
    real = triage_review.triage

    def counted(prog, st, period):
        asked.append(period)
        return real(prog, st, period)

    monkeypatch.setattr(triage_review, "triage", counted)
    monkeypatch.setattr(triage_review, "_REVIEWS", {})
    first = triage_review.quarter_review(program, store, PERIOD)
    assert asked == [PERIOD, "2026-07"]  # this quarter and the one before
    first["move"] = "changed by the caller"
    second = triage_review.quarter_review(program, store, PERIOD)
    assert asked == [PERIOD, "2026-07"]  # not scored again
    assert second is not first and not (second["move"] == "changed by the caller").any()
    assert second.attrs["previous_period"] == "2026-07" and "points" in second.attrs

    # a replaced table (every write is a new file): scored again, from what the table holds now
    mv = store.read_table("metric_values")
    store.write_table("metric_values", mv[mv["provider_id"] != "harbor"])
    third = triage_review.quarter_review(program, store, PERIOD)
    assert asked == [PERIOD, "2026-07"] * 2
    volume = third.attrs["points"].set_index(["provider_id", "criterion"]).loc[("harbor", "volume")]
    assert volume["found"] == "no value this month" and volume["points"] == 0
    assert (
        third.set_index("provider_id").at["harbor", "score"]
        < second.set_index("provider_id").at["harbor", "score"]
    )

    # another program object with the same tables: scored again
    triage_review.quarter_review(program.model_copy(), store, PERIOD)
    assert len(asked) == 6
