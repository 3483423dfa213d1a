"""End-of-contract report sections on small inline frames (demo program config)."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from acm_helpers.core.errors import ConfigError, UnknownIdError
from acm_helpers.intake.derive import derive_episodes
from acm_helpers.meetings import actions
from acm_helpers.packets import contract, contract_term, contract_trends

# Halves of the demo contract term: Nov 2024..Oct 2025 and Nov 2025..Oct 2026.
H1, H2 = "2025-03-01", "2026-03-01"


def make_episodes(spec: list[tuple]) -> pd.DataFrame:
    """spec rows: (provider, count, race, exited, destination_class, zip)."""
    rows = []
    for provider, count, race, exited, dest, zip_ in spec:
        for _ in range(count):
            n = len(rows) + 1
            ex = pd.Timestamp(exited)
            rows.append(
                {
                    "episode_id": f"E{n:04d}",
                    "client_id": f"C{n:04d}",
                    "provider_id": provider,
                    "program": "x",
                    "enrollment_date": ex - pd.Timedelta(days=60),
                    "referral_date": ex - pd.Timedelta(days=70),
                    "exit_date": ex,
                    "exit_destination": "410" if dest == "permanent" else "101",
                    "destination_class": dest,
                    "race_ethnicity": race,
                    "age_at_entry": 30,
                    "zip": zip_,
                    "household_id": f"H{n:04d}",
                }
            )
    return derive_episodes(pd.DataFrame(rows), as_of=date(2026, 10, 31))


SPEC = [
    # harbor improves: 6/20 -> 14/20 exits to PH
    ("harbor", 6, "White", H1, "permanent", "98101"),
    ("harbor", 14, "White", H1, "temporary", None),
    ("harbor", 14, "White", H2, "permanent", "98101"),
    ("harbor", 6, "White", H2, "temporary", "98101"),
    # cascade: Black 4/20 vs White 16/20 in both halves
    ("cascade", 16, "White", H1, "permanent", "98118"),
    ("cascade", 4, "White", H1, "temporary", "98118"),
    ("cascade", 4, "Black or African American", H1, "permanent", "98118"),
    ("cascade", 16, "Black or African American", H1, "temporary", "98118"),
    ("cascade", 16, "White", H2, "permanent", "98118"),
    ("cascade", 4, "White", H2, "temporary", "98118"),
    ("cascade", 4, "Black or African American", H2, "permanent", "98118"),
    ("cascade", 16, "Black or African American", H2, "temporary", "98118"),
    ("puget", 10, "White", H2, "permanent", "98104"),
    ("puget", 10, "White", H2, "temporary", "98104"),
    ("northgate", 5, "White", H2, "permanent", "98125"),  # under the suppression threshold
]
ITEMS = pd.DataFrame(
    {
        "item_id": ["harbor-001", "harbor-002", "harbor-003", "cascade-001"],
        "provider_id": ["harbor", "harbor", "harbor", "cascade"],
        "meeting_date": pd.to_datetime(["2025-12-15", "2026-01-15", "2026-05-15", "2026-01-15"]),
        "owner": ["A", "B", "C", "D"],
        "due_date": pd.to_datetime(["2026-01-31", "2026-02-28", "2026-06-30", "2026-03-31"]),
        "status": ["closed", "closed", "open", "open"],
        "metric_id": ["exits_to_permanent_housing", "", "", ""],
        "text": ["Start the pilot", "Train staff", "Call back referrals", "Review referrals"],
        "closed_date": pd.to_datetime(["2026-01-10", "2026-03-20", None, None]),
        "resolution": ["Navigators hired", "Done late", "", ""],
    }
)
MEETINGS = pd.DataFrame(
    {
        "meeting_id": ["harbor-2025-12-15", "harbor-2026-01-15"],
        "provider_id": ["harbor", "harbor"],
        "meeting_date": pd.to_datetime(["2025-12-15", "2026-01-15"]),
        "period": ["2025-11", "2025-12"],
        "attendees": ["", ""],
        "notes": ["", ""],
    }
)


@pytest.fixture(scope="module")
def eps():
    return make_episodes(SPEC)


def rep_for(program, eps, provider, **kw):
    return contract_term.make_report(
        program,
        eps,
        provider,
        items=actions.items_frame(ITEMS),
        meetings=actions.meetings_frame(MEETINGS),
        **kw,
    )


@pytest.mark.parametrize(
    "kwargs, expected",
    [
        pytest.param({"provider_id": "harbor"}, "harbor", id="by-provider"),
        pytest.param({"contract_id": "HRA-2024-012"}, "cascade", id="by-contract"),
    ],
)
def test_find_provider(program, kwargs, expected):
    assert contract_term.find_provider(program, **kwargs).id == expected


def test_find_provider_errors(program):
    with pytest.raises(ConfigError, match="exactly one"):
        contract_term.find_provider(program)
    with pytest.raises(UnknownIdError, match="Unknown contract 'HRA-1'"):
        contract_term.find_provider(program, contract_id="HRA-1")


def test_term_is_clipped_to_data_and_through(program):
    harbor = program.provider("harbor")
    assert contract_term.term_months(program, harbor) == ("2024-11", "2026-10")
    assert contract_term.term_months(program, harbor, through="2026-04") == ("2024-11", "2026-04")


def test_performance_over_the_term(program, eps):
    s = contract.performance(rep_for(program, eps, "harbor"))
    row = s.data.set_index("metric_id").loc["exits_to_permanent_housing"]
    # 20 of 40 leavers over the term = 50% >= 45% target; cascade 40/80 = 50%, puget 10/20 = 50%
    assert (row["Term value"], row["Cases"], row["Target met"], row["Peer median"]) == (
        "50%",
        "40",
        "met",
        "50%",
    )


def test_trends_show_the_improvement(program, eps):
    s = contract_trends.trends(rep_for(program, eps, "harbor"))
    t = s.data.set_index("metric_id").loc["exits_to_permanent_housing"]
    assert (t["first"], t["second"], t["verdict"]) == (0.3, 0.7, "improved")
    assert s.sentences[0].startswith(
        "Exits to permanent housing: 30% in Nov 2024–Oct 2025, 70% in Nov 2025–Oct 2026: +40 points"
    )


def test_disparities_flagged_in_both_halves(program, eps):
    s = contract_trends.disparities(rep_for(program, eps, "cascade"))
    row = s.data[s.data["Group"] == "Black or African American"].iloc[0]
    # the same -60 point gap in both halves: no clear change, never "held" from two estimates
    assert (row["Flagged in"], row["Change"]) == ("both halves", "no clear change")
    assert row.iloc[4] == "-60 points" and row.iloc[5] == "-60 points"
    assert any("the data cannot tell whether the gap changed" in t for t in s.sentences)


def test_action_items_and_resolution(program, eps):
    s = contract.action_items(rep_for(program, eps, "harbor"))
    assert s.sentences[0] == (
        "2 meetings recorded; 3 action items: 1 closed on time, 1 closed late, "
        "1 still open (1 overdue)."
    )
    assert s.tables[0]["Resolution"].tolist() == ["Navigators hired", "Done late", ""]


def test_data_quality_completeness_falls(program, eps):
    s = contract_trends.data_quality(rep_for(program, eps, "harbor"))
    zip_ = s.data[s.data["field"] == "zip"].set_index("period")["completeness"]
    # leavers of 2025-03-01 enrolled 2024-12-31 (Q4): 6 of 20 have a zip; of 2026-03-01 (2025-Q4): all
    assert zip_["2024-Q4"] == pytest.approx(0.3) and zip_["2025-Q4"] == 1.0
    # 2024-Q4 holds only Nov and Dec of the term: marked, and left out of the comparison
    part = s.data.set_index(["period", "field"])["partial"]
    assert part[("2024-Q4", "zip")] and not part[("2025-Q4", "zip")]
    assert not any("2024-Q4" in t for t in s.sentences)
    assert s.tables[0]["Quarter"].iloc[0] == "2024-Q4 (part)"
    assert "ZIP code" in s.tables[0].columns and "zip" not in s.tables[0].columns
    assert "Partial quarters" in s.note and "2024-Q4 (Nov 2024 to Dec 2024)" in s.note


def test_provider_audience_suppresses_a_small_provider(program, eps):
    inside = contract.performance(rep_for(program, eps, "northgate")).data.set_index("metric_id")
    assert inside.loc["exits_to_permanent_housing", "Term value"] == "100%"  # internal: shown
    outside = contract.performance(rep_for(program, eps, "northgate", audience="provider"))
    row = outside.data.set_index("metric_id").loc["exits_to_permanent_housing"]
    assert (row["Term value"], row["Cases"], row["Rank"]) == ("suppressed", "–", "–")
    assert "100%" not in outside.to_html()


def test_narrative_sources(tmp_path):
    assert "Renew" in contract.narrative("**Renew**").data
    f = tmp_path / "n.md"
    f.write_text("From a file.")
    assert contract.narrative(path=f).data.endswith("From a file.")
    placeholder = contract.narrative().data
    assert "No narrative yet" in placeholder and "acm report" not in placeholder
    with pytest.raises(ConfigError, match="not found"):
        contract.narrative(path=tmp_path / "missing.md")


# -- the engine's numbers ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def demo_term(program, demo_episodes):
    """The demo episodes, the program with every kind as a key metric (a mean added, cost per
    exit made key) and the engine's own cells."""
    from acm_helpers.core.config import Metric
    from acm_helpers.metrics import engine
    from acm_helpers.metrics import windows as em

    mean = Metric(
        label="Mean length of stay",
        definition="Mean days enrolled, among leavers in the period.",
        kind="mean",
        population="exit_date BETWEEN :start AND :end",
        value="length_of_stay_days",
        format="days",
        unit="days",
    )
    metrics = dict(program.metrics)
    metrics["cost_per_exit_to_ph"] = metrics["cost_per_exit_to_ph"].model_copy(update={"key": True})
    prog = em.declare(program.model_copy(update={"metrics": metrics}), metrics={"mean_stay": mean})
    eps = derive_episodes(demo_episodes)
    return prog, eps, engine.compute(prog, eps, dimensions=[])


KINDS = [
    pytest.param("exits_to_permanent_housing", id="rate"),
    pytest.param("median_length_of_stay", id="median"),
    pytest.param("mean_stay", id="mean"),
    pytest.param("clients_served", id="count"),
    pytest.param("cost_per_exit_to_ph", id="sum_ratio"),
]


@pytest.mark.parametrize("audience", ["internal", "provider"])
def test_performance_values_are_the_engines_term_cells(demo_term, audience):
    prog, eps, mv = demo_term
    rep = contract_term.make_report(
        prog, eps, "northgate", items=ITEMS.iloc[:0], meetings=MEETINGS.iloc[:0], audience=audience
    )
    got = contract.performance(rep).data.set_index("metric_id")
    want = mv[
        (mv["grain"] == "term") & (mv["provider_id"] == "northgate") & (mv["dimension"] == "")
    ]
    want = want.set_index("metric_id").loc[got.index]
    assert set(got.index) == {k for k, m in prog.metrics.items() if m.key}
    for col in ("value", "ci_low", "ci_high"):
        np.testing.assert_allclose(got[col].to_numpy(float), want[col].to_numpy(float), rtol=1e-12)
    assert want[["ci_low", "ci_high"]].notna().all().all()  # count and sum_ratio intervals too


@pytest.mark.parametrize("metric_id", KINDS)
def test_quarterly_trend_is_the_engines_quarter_cells(demo_term, metric_id):
    prog, eps, mv = demo_term
    rep = contract_term.make_report(
        prog,
        eps,
        "northgate",
        items=ITEMS.iloc[:0],
        meetings=MEETINGS.iloc[:0],
        audience="provider",
    )
    got = contract_trends.quarterly(rep.ctx, [metric_id], rep.first, rep.last)[metric_id]
    want = mv[
        (mv["grain"] == "quarter")
        & (mv["provider_id"] == "northgate")
        & (mv["metric_id"] == metric_id)
        & (mv["dimension"] == "")
    ].set_index("period")
    got = got.set_index("period").loc[want.index]
    for col in ("value", "ci_low", "ci_high"):
        np.testing.assert_allclose(got[col].to_numpy(float), want[col].to_numpy(float), rtol=1e-12)
    peers = mv[
        (mv["grain"] == "quarter")
        & ~mv["provider_id"].isin(["northgate", "__all__"])
        & (mv["metric_id"] == metric_id)
        & (mv["dimension"] == "")
    ].groupby("period")["value"]
    np.testing.assert_allclose(
        got["peer_median"].to_numpy(float), peers.median().loc[want.index].to_numpy(float)
    )
