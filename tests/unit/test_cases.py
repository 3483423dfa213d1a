"""Case-file sampler: reproducible, stratified, internal only."""

from __future__ import annotations

import pandas as pd
import pytest

from acm_helpers.core.errors import MetricError, PrivacyError
from acm_helpers.intake.derive import derive_episodes
from acm_helpers.meetings import cases, deepdive


def make_episodes(spec: list[tuple]) -> pd.DataFrame:
    """spec rows: (provider, count, race, enrolled, exited, destination_class, referred)."""
    rows = []
    for provider, count, race, enrolled, exited, dest, referred in spec:
        for _ in range(count):
            n = len(rows) + 1
            rows.append(
                {
                    "episode_id": f"E{n:04d}",
                    "client_id": f"C{n:04d}",
                    "provider_id": provider,
                    "program": "x",
                    "enrollment_date": pd.Timestamp(enrolled),
                    "referral_date": pd.Timestamp(referred) if referred else pd.NaT,
                    "exit_date": pd.Timestamp(exited),
                    "destination_class": dest,
                    "race_ethnicity": race,
                    "age_at_entry": 30,
                    "household_id": f"H{n:04d}",
                }
            )
    return derive_episodes(pd.DataFrame(rows), as_of=pd.Timestamp("2026-10-31").date())


SPEC = [
    ("harbor", 30, "White", "2026-01-01", "2026-05-01", "permanent", None),
    ("harbor", 20, "Black or African American", "2026-01-01", "2026-05-01", "temporary", None),
    ("harbor", 3, "White", "2026-01-01", "2026-05-01", "temporary", None),
    ("puget", 10, "White", "2026-01-01", "2026-05-01", "permanent", None),
    ("harbor", 10, "White", "2024-01-01", "2024-05-01", "permanent", None),
]  # outside window


@pytest.fixture(scope="module")
def eps():
    return make_episodes(SPEC)


def test_same_seed_same_sample_whatever_the_row_order(program, eps):
    a = cases.sample_cases(program, eps, "harbor", "2026-10", n_per_stratum=4, seed=7)
    b = cases.sample_cases(
        program, eps.sample(frac=1, random_state=3), "harbor", "2026-10", n_per_stratum=4, seed=7
    )
    pd.testing.assert_frame_equal(a.sample, b.sample)
    c = cases.sample_cases(program, eps, "harbor", "2026-10", n_per_stratum=4, seed=8)
    assert set(c.sample["episode_id"]) != set(a.sample["episode_id"])


def test_strata_sizes_and_rule(program, eps):
    s = cases.sample_cases(program, eps, "harbor", "2026-10", n_per_stratum=4)
    assert s.strata.to_dict("records") == [
        {"outcome": "good", "episodes": 30, "sampled": 4},
        {"outcome": "poor", "episodes": 23, "sampled": 4},
    ]
    assert set(s.sample["outcome_label"]) == {
        "exits to permanent housing: yes",
        "exits to permanent housing: no",
    }
    good = s.sample[s.sample["outcome"] == "good"]
    assert (good["destination_class"] == "permanent").all()
    assert (s.sample["exit_date"] >= "2025-11-01").all()  # only the window
    assert "From Harbor Light Housing's 53 leavers in the 12 months to Oct 2026" in s.rule
    assert "seed 20261023" in s.rule and "without replacement" in s.rule


def test_stratify_by_dimension_takes_small_strata_whole(program, eps):
    s = cases.sample_cases(program, eps, "harbor", "2026-10", n_per_stratum=5, by="race_ethnicity")
    got = {(r["outcome"], r["race_ethnicity"]): r["sampled"] for r in s.strata.to_dict("records")}
    assert got == {
        ("good", "White"): 5,
        ("poor", "Black or African American"): 5,
        ("poor", "White"): 3,
    }


def test_direction_down_metric_flips_good_and_poor(program):
    assert cases.outcome_labels(program, "returns_within_12m") == (
        "returned within 12 months: no",
        "returned within 12 months: yes",
    )


def test_provider_audience_is_refused(program, eps):
    with pytest.raises(PrivacyError, match="internal file review only"):
        cases.sample_cases(program, eps, "harbor", "2026-10", audience="provider")


def test_notebook_section_for_provider_is_a_note(program, eps):
    ctx = deepdive.make_context(program, eps, "harbor", "2026-10", "provider")
    note = cases.section(ctx)
    assert "internal step" in note.data and "E0" not in note.data
    inside = cases.section(deepdive.make_context(program, eps, "harbor", "2026-10", "internal"))
    assert "Internal only" in inside.to_html()


def test_non_rate_metric_and_empty_window(program, eps):
    with pytest.raises(MetricError, match="needs a rate metric"):
        cases.sample_cases(program, eps, "harbor", "2026-10", metric="median_length_of_stay")
    with pytest.raises(MetricError, match="nothing to sample"):
        cases.sample_cases(program, eps, "elliott", "2026-10")
