"""A tiny program and episode builder for the metrics, equity and privacy unit tests.

Three providers (a, b, c), months 2025-01 .. 2026-03, one metric of every kind, two dimensions
(race with reference shares, binned age). Episodes are written as short specs so each test's
hand-computed expectation is visible next to its data.
"""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

from acm_helpers.core.config import Metric, Program
from acm_helpers.intake.derive import derive_episodes

NAMES = {"a": "Alpha House", "b": "Beacon Shelter", "c": "Cedar Place"}

METRICS = {
    "exits": {
        "label": "Exits to permanent housing",
        "definition": "Share of leavers exiting to PH.",
        "kind": "rate",
        "population": "exit_date BETWEEN :start AND :end",
        "numerator": "destination_class = 'permanent'",
        "numerator_label": "exits to permanent housing",
        "denominator_label": "leavers",
        "direction": "up",
        "target": 0.5,
        "benchmark": {"national": 0.4},
        "format": "percent",
    },
    "served": {
        "label": "Clients served",
        "definition": "Distinct clients open in the period.",
        "kind": "count",
        "population": "enrollment_date <= :end AND (exit_date IS NULL OR exit_date >= :start)",
        "value": "client_id",
        "numerator_label": "clients served",
        "format": "number",
    },
    "leavers": {
        "label": "Leavers",
        "definition": "Episodes that ended in the period.",
        "kind": "count",
        "population": "exit_date BETWEEN :start AND :end",
        "numerator_label": "leavers",
        "format": "number",
    },
    "stay_median": {
        "label": "Median length of stay",
        "definition": "Median days enrolled, leavers.",
        "kind": "median",
        "population": "exit_date BETWEEN :start AND :end",
        "value": "length_of_stay_days",
        "denominator_label": "leavers",
        "direction": "down",
        "target": 30,
        "format": "days",
        "unit": "days",
    },
    "stay_mean": {
        "label": "Mean length of stay",
        "definition": "Mean days enrolled, leavers.",
        "kind": "mean",
        "population": "exit_date BETWEEN :start AND :end",
        "value": "length_of_stay_days",
        "denominator_label": "leavers",
        "direction": "down",
        "format": "days",
        "unit": "days",
    },
    "cost_per_exit": {
        "label": "Cost per exit to PH",
        "definition": "Cost of leavers per PH exit.",
        "kind": "sum_ratio",
        "population": "exit_date BETWEEN :start AND :end",
        "numerator": "cost",
        "denominator": "CASE WHEN destination_class = 'permanent' THEN 1 ELSE 0 END",
        "numerator_label": "cost of leavers",
        "denominator_label": "exits to permanent housing",
        "direction": "down",
        "format": "currency",
    },
}


def make_program(
    threshold: int = 1,
    metrics: list[str] | None = None,
    complementary: bool = True,
    display: str = "anonymized",
    first: str = "2025-01",
    last: str = "2026-03",
    **extra,
) -> Program:
    """The test program; ``threshold=1`` switches suppression off in practice."""
    chosen = METRICS if metrics is None else {k: METRICS[k] for k in metrics}
    spec = {
        "id": "kit",
        "name": "Kit program",
        "first_period": first,
        "last_period": last,
        "providers": [
            {
                "id": pid,
                "name": name,
                "contract_id": f"K-{pid}",
                "start": "2025-01-01",
                "end": "2026-03-31",
            }
            for pid, name in NAMES.items()
        ],
        "metrics": chosen,
        "dimensions": {
            "race": {
                "label": "Race",
                "column": "race_ethnicity",
                "reference_group": "White",
                "reference_shares": {"White": 0.6, "Black": 0.4},
                "reference_source": "kit census",
            },
            "age_band": {
                "label": "Age",
                "column": "age_band",
                "source": "age_at_entry",
                "bins": [0, 18, 25],
                "reference_group": "25+",
            },
        },
        "suppression": {"threshold": threshold, "complementary": complementary},
        "peers": {"display": display},
        **extra,
    }
    return Program.model_validate(spec)


_counter = [0]


def ep(
    provider: str,
    exit: str | None,
    dest: str = "permanent",
    race: str | None = "White",
    age: int | None = 30,
    los: int = 10,
    cost: float = 100.0,
    client: str | None = None,
    n: int = 1,
    enrolled: str | None = None,
) -> list[dict]:
    """``n`` episodes of one provider leaving on ``exit`` (None: still open) after ``los`` days."""
    rows = []
    for _ in range(n):
        _counter[0] += 1
        k = _counter[0]
        if enrolled is not None:
            start = date.fromisoformat(enrolled)
        else:
            start = date.fromisoformat(exit) - timedelta(days=los)
        rows.append(
            {
                "episode_id": f"E{k:05d}",
                "client_id": client or f"C{k:05d}",
                "provider_id": provider,
                "program": "kit",
                "enrollment_date": pd.Timestamp(start),
                "exit_date": pd.Timestamp(exit) if exit else pd.NaT,
                "destination_class": dest if exit else None,
                "race_ethnicity": race,
                "age_at_entry": age,
                "cost": cost,
                "household_id": f"H{k:05d}",
            }
        )
    return rows


def episodes(*groups: list[dict], as_of: str = "2026-03-31") -> pd.DataFrame:
    """Concatenate ``ep`` specs into derived canonical episodes."""
    rows = [r for g in groups for r in g]
    frame = pd.DataFrame(rows)
    frame["age_at_entry"] = frame["age_at_entry"].astype("Int64")
    frame["race_ethnicity"] = frame["race_ethnicity"].astype("str")
    frame["destination_class"] = frame["destination_class"].astype("str")
    return derive_episodes(frame, date.fromisoformat(as_of))


def cell(
    frame: pd.DataFrame,
    metric: str,
    provider: str,
    period: str,
    dimension: str = "",
    group: str = "",
):
    """The one row of ``frame`` for a cell (fails loudly when absent or duplicated)."""
    sel = frame[
        (frame["metric_id"] == metric)
        & (frame["provider_id"] == provider)
        & (frame["period"] == period)
        & (frame["dimension"] == dimension)
        & (frame["group"] == group)
    ]
    assert len(sel) == 1, (
        f"expected one row for {metric}/{provider}/{period}/{dimension}/{group}, got {len(sel)}"
    )
    return sel.iloc[0]


# A mean metric for the demo programs, which declare none (deep-dive and window tests).
MEAN_STAY = Metric(
    label="Mean length of stay",
    definition="Mean days enrolled, among leavers in the period.",
    kind="mean",
    population="exit_date BETWEEN :start AND :end",
    value="length_of_stay_days",
    denominator_label="leavers",
    direction="down",
    format="days",
    unit="days",
)


def with_mean(program: Program) -> Program:
    """The program with ``MEAN_STAY`` declared beside its own metrics as mean_length_of_stay."""
    from acm_helpers.metrics.windows import declare

    return declare(program, metrics={"mean_length_of_stay": MEAN_STAY})
