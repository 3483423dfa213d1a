"""The engine finds the demo program's built-in stories (acm_helpers.demo.generate, seed 20261023).

Scale 1.0 (about 20,000 episodes; the engine takes a few seconds): the stories are effects of
realistic size, so they need the full volume to be significant, as they would in a real program.
"""

from __future__ import annotations

import pytest

from acm_helpers.demo import generate as demo
from acm_helpers.intake.derive import derive_episodes
from acm_helpers.metrics import engine as metrics

SEED = 20261023
EXITS = "exits_to_permanent_housing"
BLACK = "Black or African American"


@pytest.fixture(scope="module")
def tables(program):
    eps = derive_episodes(demo.generate(program, seed=SEED, scale=1.0))
    return metrics.compute_tables(program, eps)


def black_exits(eq, grain):
    return eq[
        (eq["metric_id"] == EXITS)
        & (eq["dimension"] == "race_ethnicity")
        & (eq["group"] == BLACK)
        & (eq["grain"] == grain)
    ]


@pytest.mark.parametrize("grain", ["term", "year", "quarter"])
def test_cascade_disparity_is_flagged_and_no_other_provider(tables, grain):
    eq = black_exits(tables[1], grain)
    cascade = eq[eq["provider_id"] == "cascade"]
    assert cascade["flag_disparity"].all(), cascade[["period", "value", "reference_value"]]
    others = eq[~eq["provider_id"].isin(["cascade", "__all__"])]
    assert not others["flag_disparity"].any(), others[others["flag_disparity"]][
        ["provider_id", "period"]
    ]


def test_cascade_disparity_term_numbers(tables):
    term = black_exits(tables[1], "term").set_index("provider_id").loc["cascade"]
    assert term["value"] < 0.3 and term["reference_value"] > 0.45  # story: 25% vs 50%
    assert term["diff_vs_reference_high"] < -0.1
    assert "worse than" in term["disparity_reason"] and "White" in term["disparity_reason"]


def test_cascade_flagged_most_months(tables):
    months = black_exits(tables[1], "month")
    assert months.loc[months["provider_id"] == "cascade", "flag_disparity"].sum() >= 15


def test_harbor_improvement_is_a_significant_change(tables):
    mv = tables[0]
    harbor = mv[
        (mv["metric_id"] == EXITS) & (mv["provider_id"] == "harbor") & (mv["dimension"] == "")
    ]
    dec = harbor[harbor["period"] == "2025-12"].iloc[0]
    assert dec["flag_significant_change"] and dec["value"] > dec["previous_value"]
    assert "rose from" in dec["flag_reasons"] and "better" in dec["flag_reasons"]
    q1 = harbor[harbor["period"] == "2026-Q1"].iloc[0]
    assert q1["flag_significant_change"] and q1["value"] > 0.5 > q1["previous_value"]
    # Making Data Count: the rise is an improvement (never a concern), judged against the limits
    # of the months before the roadmap's change month (2025-12) until the new practice has 8
    # months of its own (2026-07), when the limits are rebased
    assert dec["spc_signal"] == "improvement"
    assert "Improvement (special cause)" in dec["flag_reasons"]
    months = harbor[harbor["grain"] == "month"]
    assert set(months["spc_signal"]) <= {"", "common", "improvement"}
    later = months[months["period"].between("2026-01", "2026-06")]
    assert later["flag_special_cause"].sum() >= 5  # sustained shift above the old centre line
    assert (later["centre_line"] < 0.35).all()
    assert (months.loc[months["period"] >= "2026-07", "centre_line"] > 0.5).all()  # rebased


def test_northgate_small_groups_are_suppressed(tables):
    mv = tables[0]
    groups = mv[(mv["dimension"].isin(["race_ethnicity", "age_band"])) & (mv["grain"] == "month")]
    share = groups.groupby("provider_id")["suppressed"].mean()
    assert share["northgate"] > 0.8
    assert share["northgate"] == share.drop("__all__").max()
    ng = groups[groups["provider_id"] == "northgate"]
    assert ng.loc[ng["suppressed"], ["value", "numerator", "denominator"]].isna().all(axis=None)


def test_no_shown_cell_under_the_threshold(tables, program):
    for table in tables:
        shown = table[~table["suppressed"]]
        assert (shown["cell_size"] >= program.suppression.threshold).all()
        assert table.loc[table["suppressed"], "value"].isna().all()


def test_every_demo_metric_has_values(tables, program):
    mv = tables[0]
    overall = mv[
        (mv["provider_id"] == "__all__") & (mv["dimension"] == "") & (mv["period"] == "2026-10")
    ]
    assert set(overall["metric_id"]) == set(program.metrics)
    values = overall.set_index("metric_id")["value"]
    assert 0.3 < values["exits_to_permanent_housing"] < 0.6
    assert 0.05 < values["returns_within_12m"] < 0.3
    assert values["clients_served"] > 1000
    assert values["cost_per_exit_to_ph"] > 1000


def test_family_preservation_program(family_program):
    eps = derive_episodes(demo.generate(family_program, seed=SEED, scale=1.0))
    mv = metrics.compute(family_program, eps, grains=("month", "term"))
    term = mv[(mv["grain"] == "term") & (mv["dimension"] == "")]
    assert set(term["metric_id"]) == set(family_program.metrics)
    completed = term[term["metric_id"] == "completed_3_months"].set_index("provider_id")["value"]
    assert completed["eastside"] == completed.drop("__all__").min()  # the program's story
    assert term[term["metric_id"] == "no_subsequent_involvement"]["value"].between(0.5, 1).all()


def test_demo_store_refresh(demo_store):
    mv = demo_store.read_table("metric_values")
    assert mv["version"].nunique() == 1 and len(mv) > 1000
    assert demo_store.has_table("equity")


def test_one_row_per_cell(tables):
    keys = ["metric_id", "provider_id", "period", "grain", "dimension", "group"]
    for table in tables:
        assert not table.duplicated(keys).any()
    mv = tables[0]
    terms = mv[(mv["grain"] == "term") & (mv["dimension"] == "") & (mv["metric_id"] == EXITS)]
    assert len(terms) == 7  # six providers and the program
