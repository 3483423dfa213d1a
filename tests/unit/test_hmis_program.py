"""The program file generated from an HMIS export, and its HUD metrics checked against the HUD
rules in acm_helpers.core.hud on the real export (APR Q22b/Q22c/Q23c, SPM Measure 2)."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from acm_helpers.cli import app
from acm_helpers.core import hud
from acm_helpers.core.calendar import period_bounds
from acm_helpers.core.config import load_program
from acm_helpers.hmis import export as hmis
from acm_helpers.hmis.program_file import write_program
from acm_helpers.intake import derive
from acm_helpers.metrics import windows as em
from acm_helpers.metrics.periods import periods_table
from acm_helpers.metrics.sql import evaluate

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT.parent / "shared" / "sample-data" / "hmis-demo" / "hmis_csv_fy2026_demo.zip"
COMMITTED = ROOT / "parameters" / "programs" / "hmis.yaml"
PERIOD = "2022-06"

pytestmark = pytest.mark.skipif(
    not SAMPLE.exists() and not os.environ.get("CI"),
    reason=f"sample HMIS export not found at {SAMPLE}",
)


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("prog") / "hmis.yaml"
    return write_program(
        SAMPLE, out, program_id="hmis", name="DEMO-CoC HMIS sample (HUD/Abt demo export)"
    )


@pytest.fixture(scope="module")
def episodes() -> pd.DataFrame:
    eps, _ = hmis.to_episodes(hmis.read_export(SAMPLE))
    return derive.derive_episodes(eps.drop(columns="races"), as_of=date(2022, 9, 30))


def test_generated_program_lists_the_export(generated):
    prog = load_program(generated)
    assert prog.provider_ids == ["org-4", "org-6", "org-96"]
    assert [p.name for p in prog.providers] == [
        "Organization A",
        "Organization B",
        "Organization O",
    ]
    assert (prog.first_period, prog.last_period) == (
        "2019-10",
        "2022-09",
    )  # ExportStartDate..ExportEndDate
    assert {
        "exits_to_permanent_housing",
        "returns_within_12m",
        "median_days_to_move_in",
        "median_participation_leavers",
        "stayers_over_one_year",
    } <= set(prog.metrics)


def test_committed_program_is_the_generated_one(generated):
    # Only the first comment line (generation date) may differ.
    def body(p: Path) -> str:
        return p.read_text().split("\n", 1)[1]

    assert body(COMMITTED) == body(generated)
    assert yaml.safe_load(COMMITTED.read_text()) == yaml.safe_load(generated.read_text())


def test_cli_hmis_program(tmp_path):
    out = tmp_path / "hmis_demo.yaml"
    res = CliRunner().invoke(
        app, ["hmis-program", str(SAMPLE), "--out", str(out), "--provider-level", "project"]
    )
    assert res.exit_code == 0, res.output
    prog = load_program(out)
    assert (
        prog.id == "hmis_demo"
        and len(prog.providers) == 27
        and prog.providers[0].id.startswith("proj-")
    )


def test_cli_hmis_program_missing_export(tmp_path):
    res = CliRunner().invoke(
        app, ["hmis-program", str(tmp_path / "nope.zip"), "--out", str(tmp_path / "p.yaml")]
    )
    assert res.exit_code == 2 and "does not exist" in res.output


def rows(program, metric_id: str, episodes: pd.DataFrame) -> pd.DataFrame:
    return em.metric_rows(
        episodes, program.metric(metric_id), em.windows([(PERIOD, *period_bounds(PERIOD))])
    )


def persons(episodes: pd.DataFrame, start, end) -> pd.DataFrame:
    """HUD's persons: each client's latest enrollment per organization active in the period
    (hud.latest_active; street outreach clients whether engaged or not, as APR Q23c)."""
    latest = hud.latest_active(episodes, start, end)
    return episodes[latest]


def test_apr_q23c_metric_sql_matches_the_hud_rule(generated, episodes):
    prog = load_program(generated)
    got = rows(prog, "positive_housing_exits", episodes)
    start, end = period_bounds(PERIOD)
    people = persons(episodes, start, end)
    leavers = people[hud.is_leaver(people, start, end)]
    kept = leavers[~hud.apr_excluded(leavers)]
    assert len(got) == len(kept) > 0
    assert got["_num"].sum() == hud.apr_positive(kept).sum()
    assert not got.duplicated(["provider_id", "client_id"]).any()  # persons, not enrollments


def test_length_of_participation_metrics_match_apr_q22(generated, episodes):
    prog = load_program(generated)
    start, end = period_bounds(PERIOD)
    people = persons(episodes, start, end)
    lop = hud.length_of_participation(people, start, end)
    leavers = hud.is_leaver(people, start, end)
    stayers = hud.is_stayer(people, start, end)
    got_l = rows(prog, "median_participation_leavers", episodes)["_val"]
    assert sorted(got_l) == sorted(lop[leavers].astype(float))
    assert len(rows(prog, "stayers", episodes)) == stayers.sum() > 0
    assert len(rows(prog, "stayers_over_one_year", episodes)) == (lop[stayers] > 365).sum() > 0
    got_s = rows(prog, "median_participation_stayers", episodes)["_val"]
    assert sorted(got_s) == sorted(lop[stayers].astype(float)) and len(got_s) > 0


def test_stayers_median_from_the_engine_matches_apr_q22a(generated, episodes):
    """The engine binds the period's end inside the value expression (stayers' length to the
    day after the end) and counts each person once."""
    prog = load_program(generated)
    start, end = period_bounds(PERIOD)
    people = persons(episodes, start, end)
    lop = hud.length_of_participation(people, start, end)
    stayers = hud.is_stayer(people, start, end)
    raw = evaluate(
        prog,
        episodes,
        periods_table(prog, [PERIOD], ("month",)),
        [],
        ["median_participation_stayers"],
    )
    cell = raw[(raw["provider_id"] == "__all__") & (raw["period"] == PERIOD)].iloc[0]
    assert cell["_n"] == stayers.sum() > 0
    assert cell["_med"] == float(np.median(lop[stayers].astype(float)))


def test_move_in_metric_matches_apr_q22c(generated, episodes):
    prog = load_program(generated)
    start, end = period_bounds(PERIOD)
    got = rows(prog, "median_days_to_move_in", episodes)["_val"]
    ph = episodes[
        episodes["program"].isin(list(hud.MOVE_IN_PROGRAMS))
        & episodes["move_in_date"].between(pd.Timestamp(start), pd.Timestamp(end))
    ]
    assert sorted(got) == sorted(hud.days_to_move_in(ph).astype(float)) and len(got) > 0


def test_returns_metric_population_is_spm2(generated, episodes):
    prog = load_program(generated)
    got = rows(prog, "returns_within_12m", episodes)
    assert (
        set(got["program"]) <= hud.SPM2_PROGRAMS and (got["destination_class"] == "permanent").all()
    )
    lo, hi = (pd.Timestamp(d) - pd.Timedelta(days=365) for d in period_bounds(PERIOD))
    assert got["exit_date"].between(lo, hi).all()
    # The numerator is SPM 2's "returned within 365 days", from hud.days_to_return.
    gap = hud.days_to_return(episodes, pd.Timestamp("2022-09-30"))
    gap = pd.Series(gap.to_numpy(), index=episodes["episode_id"].to_numpy())
    assert len(got) > 0
    assert got["_num"].sum() == (gap.reindex(got["episode_id"].to_numpy()) <= 365).sum()


def test_project_level_program_loads_by_project(tmp_path):
    from acm_helpers.store.store import Store

    path = write_program(SAMPLE, tmp_path / "hmis_projects.yaml", provider_level="project")
    prog = load_program(path)
    result = hmis.intake_export(
        SAMPLE, prog, Store(tmp_path / "store")
    )  # level inferred from proj- ids
    eps = Store(tmp_path / "store").episodes()
    assert len(eps) == 4771 and eps["provider_id"].str.startswith("proj-").all()
    assert {r.provider_id for r in result} == set(eps["provider_id"])
