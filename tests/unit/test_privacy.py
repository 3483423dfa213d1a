"""Small-cell suppression (primary and complementary) and audience views, on inline frames.

The key case: with primary suppression only, a lone suppressed group is recovered by subtracting
the shown groups from the shown total; complementary suppression closes that leak."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from metrics_kit import NAMES, cell, ep, episodes, make_program

from acm_helpers.core.errors import PrivacyError, UnknownIdError
from acm_helpers.metrics import engine as metrics
from acm_helpers.metrics import privacy

T = 11


def leavers(provider: str, month: str, n: int, race: str = "White") -> list[dict]:
    return ep(provider, f"{month}-10", race=race, n=n)


def compute(rows, grains=("month",), months=("2026-01",), **kw):
    return metrics.compute(
        make_program(threshold=T, metrics=["exits"], **kw),
        episodes(rows),
        periods=list(months),
        grains=grains,
    )


def race_cells(out: pd.DataFrame, provider: str = "a") -> pd.DataFrame:
    return out[
        (out["provider_id"] == provider)
        & (out["dimension"] == "race")
        & (out["period"] == "2026-01")
    ].set_index("group")


@pytest.fixture(scope="module")
def groups_case():
    """Provider a, January: White 30, Black 40, Asian 5 leavers (75 in all)."""
    rows = (
        leavers("a", "2026-01", 30)
        + leavers("a", "2026-01", 40, "Black")
        + leavers("a", "2026-01", 5, "Asian")
    )
    return rows


def test_primary_only_leaks_through_the_total(groups_case):
    out = compute(groups_case, complementary=False)
    race = race_cells(out)
    assert race["suppressed"].to_dict() == {"Asian": True, "Black": False, "White": False}
    total = cell(out, "exits", "a", "2026-01")["denominator"]
    recovered = total - race.loc[~race["suppressed"], "denominator"].sum()
    assert recovered == 5  # the suppressed cell, recovered by subtraction


def test_complementary_suppression_closes_the_leak(groups_case):
    out = compute(groups_case)
    race = race_cells(out)
    assert race["suppressed"].to_dict() == {"Asian": True, "Black": False, "White": True}
    assert race.loc["White", "suppression_reason"].startswith("complementary")
    assert race.loc["Asian", "suppression_reason"] == "fewer than 11 cases"
    total = cell(out, "exits", "a", "2026-01")["denominator"]
    hidden = total - race.loc[~race["suppressed"], "denominator"].sum()
    assert hidden == 35  # only the sum of two cells is known: Asian could be anything from 0 to 35
    assert (
        race.loc[race["suppressed"], ["numerator", "denominator", "value", "ci_low", "ci_high"]]
        .isna()
        .all()
        .all()
    )
    assert race.loc["Asian", "math"] == "suppressed: fewer than 11 cases"


def test_two_small_cells_together_under_threshold_pull_in_a_third():
    """Asian 3 and Multiracial 4 are both suppressed but sum to 7 < 11: their total must not be
    exposed either (it would bound each cell to 0..7), so the next smallest group goes too."""
    rows = (
        leavers("a", "2026-01", 30)
        + leavers("a", "2026-01", 40, "Black")
        + leavers("a", "2026-01", 3, "Asian")
        + leavers("a", "2026-01", 4, "Multiracial")
    )
    race = race_cells(compute(rows))
    assert race["suppressed"].to_dict() == {
        "Asian": True,
        "Black": False,
        "Multiracial": True,
        "White": True,
    }


def test_providers_within_the_program_total():
    rows = leavers("a", "2026-01", 5) + leavers("b", "2026-01", 30) + leavers("c", "2026-01", 40)
    out = compute(rows)
    a, b, c = (cell(out, "exits", p, "2026-01") for p in "abc")
    assert a["suppressed"] and b["suppressed"] and not c["suppressed"]
    assert "among its providers" in b["suppression_reason"]
    assert not cell(out, "exits", "__all__", "2026-01")["suppressed"]


def test_months_within_the_quarter():
    rows = leavers("a", "2026-01", 5) + leavers("a", "2026-02", 30) + leavers("a", "2026-03", 40)
    out = compute(rows, grains=("month", "quarter"), months=("2026-01", "2026-02", "2026-03"))
    sup = {
        p: cell(out, "exits", "a", p)["suppressed"]
        for p in ("2026-01", "2026-02", "2026-03", "2026-Q1")
    }
    assert sup == {"2026-01": True, "2026-02": True, "2026-03": False, "2026-Q1": False}
    assert "months of the quarter" in cell(out, "exits", "a", "2026-02")["suppression_reason"]


def test_clients_open_in_several_months_need_no_time_rule():
    """Open clients count in every month, so months do not add up to the quarter: no time rule."""
    rows = ep("a", None, enrolled="2025-12-01", n=30) + ep(
        "a", "2026-01-20", enrolled="2025-12-01", n=5
    )
    out = metrics.compute(
        make_program(threshold=T, metrics=["served"]),
        episodes(rows),
        periods=["2026-01", "2026-02", "2026-03"],
        grains=("month", "quarter"),
    )
    assert cell(out, "served", "a", "2026-01")["value"] == 35
    assert not cell(out, "served", "a", "2026-02")["suppressed"]  # 30 open clients, shown


def sibling_sets(out: pd.DataFrame) -> list[pd.DataFrame]:
    by_groups = out[out["dimension"] != ""].groupby(
        ["metric_id", "provider_id", "period", "grain", "dimension"]
    )
    by_providers = out[out["provider_id"] != "__all__"].groupby(
        ["metric_id", "period", "grain", "dimension", "group"]
    )
    return [g for _, g in by_groups] + [g for _, g in by_providers]


def test_cascade_leaves_no_set_exposing_a_hidden_cell():
    """Random small groups at three providers: after suppression, every set of siblings with
    something hidden and something shown hides at least two cells holding >= 11 cases in all."""
    rng = np.random.default_rng(7)
    rows, truth = [], {}
    for p in "abc":
        for race, mean in (("White", 25), ("Black", 9), ("Asian", 4)):
            n = int(rng.poisson(mean)) + 1
            rows += leavers(p, "2026-01", n, race)
            truth[(p, "race", race)] = n
            truth[("__all__", "race", race)] = truth.get(("__all__", "race", race), 0) + n
    out = compute(rows)
    assert out["suppressed"].sum() >= 4
    checked = 0
    for g in sibling_sets(out):
        hidden = g[g["suppressed"]]
        if len(hidden) and len(hidden) < len(g) and (g["dimension"] == "race").all():
            keys = zip(hidden["provider_id"], hidden["dimension"], hidden["group"], strict=True)
            assert len(hidden) >= 2
            assert sum(truth[k] for k in keys) >= T
            checked += 1
    assert checked >= 2


def test_null_suppressed_blanks_numbers_and_flags():
    frame = pd.DataFrame(
        {
            "provider_id": ["a"],
            "metric_id": ["exits"],
            "value": [0.4],
            "numerator": [2.0],
            "denominator": [5.0],
            "ci_low": [0.1],
            "ci_high": [0.8],
            "suppressed": [True],
            "suppression_reason": ["fewer than 11 cases"],
            "flag_below_target": [True],
            "flag_reasons": ["x"],
            "math": ["2 / 5 = 40%"],
        }
    )
    out = privacy.null_suppressed(frame)
    assert out[["value", "numerator", "denominator", "ci_low", "ci_high"]].isna().all(axis=None)
    assert not out.loc[0, "flag_below_target"] and out.loc[0, "flag_reasons"] == ""
    assert out.loc[0, "math"] == "suppressed: fewer than 11 cases"


# -- audience views --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def three():
    rows = leavers("a", "2026-01", 20) + leavers("b", "2026-01", 30) + leavers("c", "2026-01", 40)
    rows += leavers("a", "2026-01", 3, "Black")  # suppressed group at a
    return rows


def view(rows, audience, provider, display="anonymized"):
    out = metrics.compute(
        make_program(threshold=T, metrics=["exits"], display=display),
        episodes(rows),
        periods=["2026-01"],
        grains=("month",),
    )
    return out, privacy.for_audience(
        out, make_program(threshold=T, metrics=["exits"], display=display), audience, provider
    )


def test_provider_view_anonymizes_peers(three):
    out, seen = view(three, "provider", "a")
    text = seen.to_csv(index=False)
    for pid in ("b", "c"):
        assert NAMES[pid] not in text
    assert not seen["provider_id"].isin(["b", "c"]).any()
    labels = privacy.peer_labels(make_program(), "a")
    assert sorted(labels.values()) == ["Peer A", "Peer B"]
    overall = seen[(seen["dimension"] == "")].set_index("provider_label")
    assert set(overall.index) == {"Alpha House", "All providers", "Peer A", "Peer B"}
    assert overall.loc[labels["b"], "value"] == pytest.approx(
        cell(out, "exits", "b", "2026-01")["value"]
    )
    assert overall.loc["Alpha House", "is_self"] and not overall.loc[labels["b"], "is_self"]


def test_peer_labels_are_stable_and_not_by_order():
    prog = make_program()
    assert privacy.peer_labels(prog, "a") == privacy.peer_labels(prog, "a")
    other = prog.model_copy(update={"providers": list(reversed(prog.providers))})
    assert privacy.peer_labels(other, "a") == privacy.peer_labels(prog, "a")  # not program order
    assert set(privacy.peer_labels(prog, "b")) == {"a", "c"}


def test_named_peers_and_internal_keep_names(three):
    _, named = view(three, "provider", "a", display="named")
    assert {"Beacon Shelter", "Cedar Place"} <= set(named["provider_label"])
    _, internal = view(three, "internal", None)
    assert set(internal["provider_id"]) == {"a", "b", "c", "__all__"}
    assert "Alpha House" in set(internal["provider_label"])


def test_views_null_suppressed_cells(three):
    out, seen = view(three, "provider", "a")
    black = seen[(seen["group"] == "Black") & (seen["provider_id"] == "a")].iloc[0]
    assert black["suppressed"] and math.isnan(black["value"]) and math.isnan(black["denominator"])
    tampered = out.copy()
    tampered.loc[tampered["suppressed"], "value"] = 0.123
    again = privacy.for_audience(tampered, make_program(threshold=T, metrics=["exits"]), "internal")
    assert again.loc[again["suppressed"], "value"].isna().all()


def test_system_wide_metrics_carry_a_note():
    frame = pd.DataFrame(
        {"provider_id": ["a"], "metric_id": ["exits"], "suppressed": [False], "value": [0.5]}
    )
    prog = make_program(metrics=["exits"])
    wide = prog.model_copy(
        update={
            "metrics": {"exits": prog.metrics["exits"].model_copy(update={"system_wide": True})}
        }
    )
    assert (
        privacy.for_audience(frame, wide, "provider", "a").loc[0, "note"].startswith("Agency view")
    )
    assert privacy.for_audience(frame, prog, "provider", "a").loc[0, "note"] == ""


@pytest.mark.parametrize(
    ("audience", "provider", "error"),
    [
        pytest.param("public", "a", PrivacyError, id="unknown-audience"),
        pytest.param("provider", None, PrivacyError, id="provider-without-id"),
        pytest.param("provider", "zz", UnknownIdError, id="unknown-provider"),
    ],
)
def test_view_errors(audience, provider, error):
    frame = pd.DataFrame(
        {"provider_id": ["a"], "metric_id": ["exits"], "suppressed": [False], "value": [0.5]}
    )
    with pytest.raises(error):
        privacy.for_audience(frame, make_program(), audience, provider)


def test_unsuppressed_cells_returns_the_hidden_truth_for_leak_checks(tmp_path):
    from acm_helpers.store.store import Store

    store = Store(tmp_path / "store")
    rows = leavers("a", "2026-01", 5) + leavers("b", "2026-01", 30) + leavers("c", "2026-01", 40)
    store.write_table("episodes", episodes(rows))
    prog = make_program(threshold=T, metrics=["exits"])
    truth = metrics.unsuppressed_cells(prog, store, "a")
    jan = truth[(truth["period"] == "2026-01") & (truth["dimension"] == "")].iloc[0]
    assert (jan["numerator"], jan["denominator"], jan["value"]) == (5, 5, 1.0)
    assert set(truth["provider_id"]) == {"a"}
    everyone = metrics.unsuppressed_cells(prog, store)
    assert {"a", "b"} <= set(everyone["provider_id"])  # b is hidden by complementary suppression


# -- rule 3: linked suppression (a count hidden in one metric must not print in another) -------
def _linked_cells(**cols) -> pd.DataFrame:
    n = len(next(iter(cols.values())))
    base = {
        "provider_id": ["harbor"] * n,
        "period": ["2026-10"] * n,
        "grain": ["month"] * n,
        "dimension": [""] * n,
        "group": [""] * n,
    }
    return pd.DataFrame({**base, **cols})


@pytest.fixture(scope="module")
def demo_program():
    from acm_helpers.core.config import load_program

    return load_program("parameters/program.yaml")


def test_linked_sets_follow_shared_count_labels(demo_program):
    assert privacy.linked_sets(demo_program) == [
        {"exits_to_permanent_housing", "median_length_of_stay", "cost_per_exit_to_ph"}
    ]


def test_a_hidden_count_is_hidden_in_the_metric_that_prints_it(demo_program):
    # exits to PH: 8 leavers (suppressed); cost per exit would print the same exits count (12
    # exits, judged alone it passes); clients served is not linked and stays.
    cells = _linked_cells(
        metric_id=["exits_to_permanent_housing", "cost_per_exit_to_ph", "clients_served"],
        cell_size=[8.0, 12.0, 171.0],
    )
    out = privacy.suppress(cells, demo_program).set_index("metric_id")
    assert out.loc["cost_per_exit_to_ph", "suppressed"]
    assert out.loc["cost_per_exit_to_ph", "suppression_reason"].startswith("linked:")
    assert not out.loc["clients_served", "suppressed"]


def test_a_suppressed_ratio_does_not_hide_the_rate_that_shows_its_count(demo_program):
    # cost per exit suppressed for its own small base (7 exits); the exits rate (7 of 20
    # leavers) is judged on its denominator and stays shown
    cells = _linked_cells(
        metric_id=["exits_to_permanent_housing", "cost_per_exit_to_ph"], cell_size=[20.0, 7.0]
    )
    out = privacy.suppress(cells, demo_program)
    assert out["suppressed"].tolist() == [False, True]


def test_linked_suppression_is_per_cell(demo_program):
    cells = _linked_cells(
        metric_id=["exits_to_permanent_housing", "cost_per_exit_to_ph", "cost_per_exit_to_ph"],
        period=["2026-10", "2026-09", "2026-10"],
        provider_id=["harbor", "harbor", "cascade"],
        cell_size=[5.0, 30.0, 30.0],
    )
    out = privacy.suppress(cells, demo_program)
    assert out["suppressed"].tolist() == [True, False, False]
