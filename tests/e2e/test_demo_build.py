"""`demo.build` end to end through the real intake: the submission files, read back, give the
generated episodes exactly; only rainier's garbage rows are quarantined; its late files are late.
Metrics and packets are skipped here (their own tests cover them)."""

from __future__ import annotations

import importlib

import pandas as pd
import pytest

from acm_helpers import demo, demo_build
from acm_helpers.store import Store

SCALE = 0.03  # ~600 episodes, 142 files: about 10 s of intake


@pytest.fixture(scope="module")
def built(tmp_path_factory, program_path):
    if importlib.util.find_spec("acm_helpers.intake") is None:
        pytest.skip("acm_helpers.intake does not exist yet")
    root = tmp_path_factory.mktemp("demo_build")
    mp = pytest.MonkeyPatch()
    real = demo_build._stage
    mp.setattr(demo_build, "_stage", lambda name: real(name) if name == "intake" else None)
    lines: list[str] = []
    try:
        result = demo.build(
            program_path, root / "demo", scale=SCALE, data_dir=root / "data", echo=lines.append
        )
    finally:
        mp.undo()
    return result, Store(root / "data"), lines


def test_intake_of_the_files_reproduces_the_generated_episodes(program, built):
    result, store, lines = built
    assert result.done == ["generate", "intake"] and result.skipped == ["metrics", "packets"]
    generated = demo.generate(program, scale=SCALE)
    loaded = store.episodes()
    assert len(loaded) == len(generated) == result.episodes
    both = generated.merge(loaded, on=["provider_id", "episode_id"], suffixes=("", "_store"))
    assert len(both) == len(generated)
    for col in [
        "client_id",
        "enrollment_date",
        "exit_date",
        "exit_destination",
        "destination_class",
        "race_ethnicity",
        "zip",
        "referral_date",
        "age_at_entry",
        "move_in_date",
    ]:
        a, b = both[col], both[f"{col}_store"]
        assert ((a == b).fillna(False) | (a.isna() & b.isna())).all(), col
    assert (both["cost"] - both["cost_store"]).abs().max() < 0.011
    assert any("0 files rejected" in line for line in lines)


def test_only_rainier_garbage_is_quarantined_and_its_late_files_logged(built):
    result, store, _ = built
    quarantine = store.read_table("quarantine")
    assert set(quarantine["provider_id"]) == {"rainier"}
    assert quarantine["period"].min() >= "2025-11"
    assert quarantine["reason"].str.contains("code|date|missing", case=False).all()
    received = demo_build.read_received(result.submissions_dir)
    log = store.read_table("submissions")
    log = log[log["status"] == "current"].merge(
        received, on=["provider_id", "period"], suffixes=("", "_file")
    )
    assert (pd.to_datetime(log["received"]).dt.strftime("%Y-%m-%d") == log["received_file"]).all()
