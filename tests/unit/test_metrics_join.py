"""Speed-ups of the metrics engine give the same numbers as the plain path.

Shared joins (acm_helpers.metrics.joins): metrics over one population read one joined table;
evaluating a metric on its own (nothing to share) must give the same cells. The vectorized run
rule of the control chart (flags._runs) is checked on hand-made series.
"""

from __future__ import annotations

import numpy as np
import pytest

from acm_helpers.intake.derive import derive_episodes
from acm_helpers.metrics import engine as metrics
from acm_helpers.metrics.joins import _shared_joins
from acm_helpers.metrics.periods import periods_table
from acm_helpers.metrics.sql import evaluate

KEYS = ["metric_id", "provider_id", "period", "grain", "dimension", "group"]


@pytest.fixture(scope="module")
def eps(demo_episodes):
    return derive_episodes(demo_episodes)


def test_demo_program_shares_the_exits_join(program):
    plan = _shared_joins(program, list(program.metrics), ["gender"], trailing=True)
    shared = {m for (_, m) in plan}
    # exits to PH (rate), median length of stay and cost per exit share "exit_date in period"
    assert shared == {
        "exits_to_permanent_housing",
        "median_length_of_stay",
        "cost_per_exit_to_ph",
    }
    assert {t for (t, _, _) in plan.values()} == {"__shared_periods_0", "__shared_periods_t12_0"}


def test_shared_join_gives_the_same_cells_as_one_metric_alone(program, eps):
    table = periods_table(program, grains=("month", "quarter"))
    dims = ["gender", "age_band"]
    together = evaluate(program, eps, table, dims)
    for mid in ("exits_to_permanent_housing", "median_length_of_stay", "cost_per_exit_to_ph"):
        alone = evaluate(program, eps, table, dims, metrics=[mid])
        both = alone.merge(
            together[together["metric_id"] == mid], on=KEYS, suffixes=("", "_t"), how="outer"
        )
        assert len(both) == len(alone) > 0
        for col in [c for c in alone.columns if c.startswith("_")]:
            assert np.allclose(
                both[col].to_numpy(float), both[col + "_t"].to_numpy(float), equal_nan=True
            ), (mid, col)


def test_reasons_only_for_raised_flags(program, eps):
    # every row with a flag has a sentence, every row without one has none
    mv = metrics.compute(program, eps, grains=("month",), dimensions=["gender"])
    raised = mv[[c for c in mv.columns if c.startswith("flag_") and mv[c].dtype == bool]].any(
        axis=1
    )
    assert raised.any()
    assert (mv.loc[raised, "flag_reasons"] != "").all()
    assert (mv.loc[~raised, "flag_reasons"] == "").all()
