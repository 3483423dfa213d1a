"""`demo.build` end to end through the real intake: the submission files, read back, give the
generated episodes exactly; only rainier's garbage rows are quarantined; its late files are late.
Only the intake step runs here (their own tests cover them)."""

from __future__ import annotations

import pandas as pd
import pytest

from acm_helpers.demo import build as demo_build
from acm_helpers.demo import generate as demo
from acm_helpers.demo import submissions
from acm_helpers.store.store import Store

SCALE = 0.03  # ~600 episodes, 142 files: about 10 s of intake


@pytest.fixture(scope="module")
def built(tmp_path_factory, program_path):
    root = tmp_path_factory.mktemp("demo_build")
    lines: list[str] = []
    result = demo_build.build(
        program_path,
        root,
        scale=SCALE,
        data_dir=root / "data",
        echo=lines.append,
        steps=("intake",),
    )
    return result, Store(root / "data"), lines


def test_intake_of_the_files_reproduces_the_generated_episodes(program, built):
    result, store, lines = built
    assert result.done == ["generate", "intake"]
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
    received = submissions.read_received(result.submissions_dir)
    log = store.read_table("submissions")
    log = log[log["status"] == "current"].merge(
        received, on=["provider_id", "period"], suffixes=("", "_file")
    )
    assert (pd.to_datetime(log["received"]).dt.strftime("%Y-%m-%d") == log["received_file"]).all()
