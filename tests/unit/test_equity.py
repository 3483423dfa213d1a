"""Equity: disparity against the reference group and all others, disproportionality against
reference shares; interval methods checked against published values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from metrics_kit import ep, episodes, make_program
from scipy import stats

from acm_helpers.core.schema import EQUITY_COLUMNS
from acm_helpers.metrics import engine as metrics
from acm_helpers.metrics import intervals as iv

T = 11


def test_newcombe_hybrid_score_matches_newcombe_1998():
    # Newcombe (1998), Statistics in Medicine 17:873, example (a): 56/70 vs 48/80, method 10
    d, lo, hi = iv.newcombe_difference(56, 70, 48, 80)
    assert (float(d), float(lo), float(hi)) == pytest.approx((0.2, 0.0524, 0.3339), abs=5e-5)


def test_katz_log_ratio_interval():
    r, lo, hi = iv.katz_ratio(56, 70, 48, 80)
    se = math.sqrt(1 / 56 - 1 / 70 + 1 / 48 - 1 / 80)
    assert (float(r), float(lo), float(hi)) == pytest.approx(
        (4 / 3, 4 / 3 * math.exp(-1.959964 * se), 4 / 3 * math.exp(1.959964 * se)), rel=1e-6
    )
    assert math.isnan(float(iv.katz_ratio(0, 10, 5, 10)[0]))


def group(race: str, ph: int, n: int, los: int = 10) -> list[dict]:
    return ep("a", "2026-01-10", race=race, n=ph, los=los) + ep(
        "a", "2026-01-10", race=race, dest="temporary", n=n - ph, los=los
    )


def equity_for(rows, metric_list=("exits",)):
    prog = make_program(threshold=T, metrics=list(metric_list))
    _, eq = metrics.compute_tables(prog, episodes(rows), periods=["2026-01"], grains=("month",))
    return eq


def row(eq, group_name, provider="a", metric="exits", dimension="race"):
    sel = eq[
        (eq["provider_id"] == provider)
        & (eq["metric_id"] == metric)
        & (eq["dimension"] == dimension)
        & (eq["group"] == group_name)
    ]
    assert len(sel) == 1
    return sel.iloc[0]


@pytest.fixture(scope="module")
def eq():
    """White 30 of 40 exit to PH (75%), Black 10 of 40 (25%), Asian 10 of 20 (50%)."""
    return equity_for(group("White", 30, 40) + group("Black", 10, 40) + group("Asian", 10, 20))


def test_columns(eq):
    assert list(eq.columns) == list(EQUITY_COLUMNS)


def test_disparity_against_reference_group(eq):
    black = row(eq, "Black")
    d, lo, hi = iv.newcombe_difference(10, 40, 30, 40)
    assert black["reference_group"] == "White" and black["reference_value"] == pytest.approx(0.75)
    assert (
        black["diff_vs_reference"],
        black["diff_vs_reference_low"],
        black["diff_vs_reference_high"],
    ) == pytest.approx((-0.5, float(lo), float(hi)))
    assert black["ratio_vs_reference"] == pytest.approx(1 / 3)
    assert black["flag_disparity"]
    assert black["disparity_reason"].startswith(
        "Exits to permanent housing for Black was 25%, worse than 75% for White"
    )


def test_disparity_against_all_others(eq):
    black = row(eq, "Black")
    assert black["others_value"] == pytest.approx(40 / 60)  # White + Asian
    d, lo, hi = iv.newcombe_difference(10, 40, 40, 60)
    assert (black["diff_vs_others_low"], black["diff_vs_others_high"]) == pytest.approx(
        (float(lo), float(hi))
    )
    assert "for all other groups" in black["disparity_reason"]


def test_interval_including_zero_is_not_flagged(eq):
    asian = row(eq, "Asian")  # 50% of 20 vs 75% of 40: Newcombe interval reaches just above 0
    assert asian["diff_vs_reference_low"] < 0 < asian["diff_vs_reference_high"]
    assert not asian["flag_disparity"] and asian["disparity_reason"] == ""


def test_better_than_reference_is_not_a_disparity(eq):
    white = row(eq, "White")
    assert white["is_reference"] and math.isnan(white["diff_vs_reference"])
    assert white["diff_vs_others_low"] > 0 and not white["flag_disparity"]


def test_small_reference_group_blocks_the_reference_comparison():
    """White has 10 leavers (< 11): suppressed, so Black is compared only with all others."""
    eq = equity_for(
        group("White", 9, 10)
        + group("Black", 10, 40)
        + group("Asian", 30, 40)
        + group("Other", 20, 30)
    )
    black = row(eq, "Black")
    assert row(eq, "White")["suppressed"] and math.isnan(row(eq, "White")["value"])
    assert math.isnan(black["diff_vs_reference"]) and math.isnan(black["reference_value"])
    assert black["flag_disparity"] and "for all other groups" in black["disparity_reason"]
    assert "for White" not in black["disparity_reason"]


def test_small_group_is_never_flagged():
    eq = equity_for(group("White", 30, 40) + group("Black", 0, 8) + group("Asian", 12, 30))
    black = row(eq, "Black")
    assert (
        black["suppressed"]
        and not black["flag_disparity"]
        and math.isnan(black["diff_vs_reference"])
    )


def test_mean_disparity_uses_welch():
    rows = []
    for los in (10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32):
        rows += group("White", 1, 1, los=los)
    for los in (30, 34, 38, 42, 46, 50, 54, 58, 62, 66, 70, 74):
        rows += group("Black", 1, 1, los=los)
    eq = equity_for(rows, ("stay_mean",))
    black = row(eq, "Black", metric="stay_mean")
    w, b = np.arange(10, 33, 2), np.arange(30, 75, 4)
    d, lo, hi = iv.welch_difference(b.mean(), b.std(ddof=1), 12, w.mean(), w.std(ddof=1), 12)
    assert (
        black["diff_vs_reference"],
        black["diff_vs_reference_low"],
        black["diff_vs_reference_high"],
    ) == pytest.approx((float(d), float(lo), float(hi)))
    assert black["flag_disparity"]  # longer stays are worse (direction down)


def test_disproportionality_of_clients_served():
    rows = ep("a", None, race="White", enrolled="2025-12-01", n=30) + ep(
        "a", None, race="Black", enrolled="2025-12-01", n=70
    )
    eq = equity_for(rows, ("served",))
    black, white = row(eq, "Black", metric="served"), row(eq, "White", metric="served")
    assert (black["share_served"], black["reference_share"]) == pytest.approx((0.7, 0.4))
    assert black["disproportionality"] == pytest.approx(1.75) and white[
        "disproportionality"
    ] == pytest.approx(0.5)
    # exact binomial, two-sided by doubling the smaller tail: 2 * P(X >= 70 | n=100, p=0.4)
    assert black["disproportionality_p"] == pytest.approx(
        2 * stats.binom.sf(69, 100, 0.4), rel=1e-9
    )
    assert black["flag_disproportionality"] and white["flag_disproportionality"]
    assert black["disproportionality_reason"] == (
        "Black are over-represented: 70% of clients served vs 40% of the "
        "reference population (kit census); ratio 1.75."
    )


def test_flags_are_adjusted_for_the_comparisons_in_a_breakdown():
    """White 24/40 (60%), Black 14/40 (35%), Asian 20/40 (50%): Black's 95% intervals exclude
    zero, but five comparisons are made in this breakdown, and at 0.05 / 5 they do not."""
    eq = equity_for(group("White", 24, 40) + group("Black", 14, 40) + group("Asian", 20, 40))
    black = row(eq, "Black")
    assert black["diff_vs_reference_high"] < 0 and black["diff_vs_others_high"] < 0
    assert float(iv.newcombe_difference(14, 40, 24, 40, 0.05 / 5)[2]) > 0
    assert not black["flag_disparity"]
    strong = row(
        equity_for(group("White", 30, 40) + group("Black", 10, 40) + group("Asian", 20, 40)),
        "Black",
    )
    assert strong["flag_disparity"]
    assert strong["disparity_reason"].endswith(
        "Significant after adjusting for the 5 comparisons in this breakdown."
    )
