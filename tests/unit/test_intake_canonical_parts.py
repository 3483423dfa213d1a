"""load_canonical writes every partition, report and log row at once; what it writes equals
what the part-by-part path it replaced wrote (that path is re-stated here as the reference)."""

from __future__ import annotations

import hashlib

import pandas as pd
import pytest

from acm_helpers.core.schema import conform_episodes, episode_columns
from acm_helpers.intake import intake
from acm_helpers.intake import quality as qc
from acm_helpers.store.store import Store


@pytest.fixture
def store(tmp_path) -> Store:
    return Store(tmp_path / "data")


def _reference(program, episodes: pd.DataFrame) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    """Partition -> (rows, quality report) as the per-partition loop built them."""
    frame = conform_episodes(episodes, program).reset_index(drop=True)
    frame.index = pd.RangeIndex(1, len(frame) + 1)
    frame["_row"] = (frame.groupby(["provider_id", "_period"]).cumcount() + 1).astype("Int64")
    fields = list(episode_columns(program))
    out = {}
    for (provider, period), part in frame.groupby(["provider_id", "_period"], sort=True):
        sha = hashlib.sha256(
            pd.util.hash_pandas_object(part[fields], index=False).to_numpy().tobytes()
        ).hexdigest()
        stats = qc.FileStats(fields=fields, columns_in_file=[c for c in fields if c in episodes])
        stats.update(part[fields])
        report = qc.quality_report(
            stats, qc.empty_problems(), program, provider, period, sha, None, len(part)
        )
        out[f"{provider}/{period}"] = (part.assign(_submission=sha), report)
    return out


def test_partitions_reports_and_log_equal_the_part_by_part_path(program, demo_episodes, store):
    sample = demo_episodes.sample(4000, random_state=3).copy()  # rows out of partition order
    sample.loc[sample.index[:3], "zip"] = ["=1+1", "+2", "@x"]  # formula-like text in reports
    intake.load_canonical(store, program, sample, rebuild=False)
    expected = _reference(program, sample)
    parts = store.tables_dir / "episodes_submitted"
    assert sorted(
        p.relative_to(parts).with_suffix("").as_posix() for p in parts.rglob("*.parquet")
    ) == sorted(expected)
    for name, (rows, report) in expected.items():
        got = pd.read_parquet(store.table_path("episodes_submitted", name))
        pd.testing.assert_frame_equal(got, rows.reset_index(drop=True))
        got = pd.read_parquet(store.table_path("quality", name))
        pd.testing.assert_frame_equal(got, report)
    log = store.read_table("submissions")
    assert sorted(log["sha256"]) == sorted(r["_submission"].iloc[0] for r, _ in expected.values())
    assert set(log["status"]) == {"current"}


def test_reloading_a_changed_frame_supersedes_only_changed_partitions(
    program, demo_episodes, store
):
    sample = demo_episodes[demo_episodes["provider_id"].isin(["harbor", "puget"])].head(600)
    intake.load_canonical(store, program, sample, rebuild=False)
    first = store.read_table("submissions")
    changed = sample.copy()
    changed.loc[changed.index[0], "zip"] = "98101"
    intake.load_canonical(store, program, changed, rebuild=False)
    log = store.read_table("submissions")
    assert len(log) == len(first) + 1  # identical partitions keep one row each
    old = log[log["status"] == "superseded"]
    assert len(old) == 1
    assert old["superseded_by"].iloc[0] in set(log.loc[log["status"] == "current", "sha256"])
    assert (log["status"] == "current").sum() == len(first)
