"""Crash safety of the store, in-process (issue 13, item 4): the rule that says when a built table
is outdated, the clean-up of temporary files a killed writer left, and intake / the metrics
engine acting on both. The kills themselves (SIGKILL at each commit point, real processes) are
in tests/integration/test_intake_kill.py.
"""

from __future__ import annotations

import logging
import os
from datetime import date

import pandas as pd
import pytest
from test_intake import RECEIVED, row, write_csv

from acm_helpers.core.errors import StoreError
from acm_helpers.intake import intake
from acm_helpers.metrics import engine as metrics
from acm_helpers.store import store as store_module
from acm_helpers.store.store import EPISODES, SUBMITTED, Store, fault_point


@pytest.fixture
def store(tmp_path) -> Store:
    return Store(tmp_path / "data")


def part(store: Store, name: str, values: list[int]) -> None:
    store.write_table(SUBMITTED, pd.DataFrame({"v": values}), part=name)


def build(store: Store, **facts) -> None:
    """What a rebuild does: stamp the partitions, write the table, record the build."""
    inputs = store.inputs_stamp(SUBMITTED)
    store.write_table(EPISODES, pd.DataFrame({"v": [0]}))
    store.record_build(EPISODES, {SUBMITTED: inputs}, **facts)


# -- the staleness rule ------------------------------------------------------------------------
def test_without_partitions_nothing_is_outdated(store):
    assert not store.outdated(EPISODES, SUBMITTED)  # empty store
    store.write_table(EPISODES, pd.DataFrame({"v": [1]}))  # written directly (tests, benchmarks)
    assert not store.outdated(EPISODES, SUBMITTED)


def test_a_build_is_current_until_its_partitions_change(store):
    part(store, "harbor/2026-10", [1, 2])
    assert store.outdated(EPISODES, SUBMITTED)  # partitions but no episodes
    store.write_table(EPISODES, pd.DataFrame({"v": [1, 2]}))
    assert store.outdated(EPISODES, SUBMITTED)  # episodes without a build record
    build(store)
    assert not store.outdated(EPISODES, SUBMITTED)
    part(store, "harbor/2026-10", [1, 2, 3])  # a partition replaced (a resubmission)
    assert store.outdated(EPISODES, SUBMITTED)
    build(store)
    part(store, "cascade/2026-10", [4])  # a partition added
    assert store.outdated(EPISODES, SUBMITTED)
    build(store)
    (store.tables_dir / SUBMITTED / "cascade" / "2026-10.parquet").unlink()  # one removed
    assert store.outdated(EPISODES, SUBMITTED)


def test_a_table_replaced_after_its_record_is_outdated(store):
    """The record names the table file it describes: killed between writing the table and its
    record, or the table written by other means, the old record no longer matches."""
    part(store, "harbor/2026-10", [1])
    build(store, as_of="2026-10-31")
    record = store.build_record(EPISODES)
    assert record["matches"] is True and record["as_of"] == "2026-10-31"
    assert record["inputs"] == {SUBMITTED: store.inputs_stamp(SUBMITTED)}
    store.write_table(EPISODES, pd.DataFrame({"v": [1, 2, 3]}))
    assert store.build_record(EPISODES)["matches"] is False
    assert store.outdated(EPISODES, SUBMITTED)
    store.build_record_path(EPISODES).write_text("{not json")  # a damaged record: rebuild
    assert store.build_record(EPISODES) == {}
    assert store.outdated(EPISODES, SUBMITTED)


# -- temporary files left by a killed writer -----------------------------------------------------
def leftover(folder, name: str, age_s: float = 60.0):
    """A temporary file as atomic_write names it, last written ``age_s`` before this process
    started (so: by another process, which died)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f".{name}.tmp-{'ab' * 16}"
    path.write_bytes(b"half a file")
    then = store_module.STARTED - age_s
    os.utime(path, (then, then))
    return path


def test_the_next_writer_removes_stale_temporary_files_and_logs_them(store, caplog):
    part(store, "harbor/2026-10", [1])
    dead = [
        leftover(store.tables_dir / SUBMITTED / "harbor", "2026-10.parquet"),
        leftover(store.raw_dir / "2026-10" / "harbor", "abc.csv"),
        leftover(store.tables_dir, "episodes.parquet"),
    ]
    fresh = leftover(store.tables_dir, "metric_values.parquet", age_s=-5)  # after we started
    others = [store.tables_dir / ".notes.tmp", store.tables_dir / "x.tmp-1"]
    for path in others:
        path.write_text("not ours")
        os.utime(path, (0, 0))
    with caplog.at_level(logging.WARNING, logger=store_module.__name__):
        with store.writing("test"):
            pass
    assert [p for p in dead if p.exists()] == []
    assert fresh.exists() and all(p.exists() for p in others)
    logged = [r.getMessage() for r in caplog.records]
    assert len(logged) == 3
    for path in dead:
        assert any(str(path.relative_to(store.root)) in m for m in logged), logged
    assert store.read_table(SUBMITTED)["v"].tolist() == [1]  # the partition is untouched


def test_a_writer_mid_write_keeps_its_temporary_file(store):
    """Only the outermost acquisition cleans: a nested writer of the same process (intake_files
    -> intake_file -> rebuild_episodes) must not remove the partition its caller is staging."""
    with store.writing("outer"), store.stage(SUBMITTED, "harbor/2026-10") as staged:
        staged.write(pd.DataFrame({"v": [1]}))
        os.utime(staged.tmp, (0, 0))  # even one that looks old
        with store.writing("nested"):
            pass
        assert staged.tmp.exists()
        staged.commit()
    assert store.read_table(SUBMITTED)["v"].tolist() == [1]


def test_fault_point_does_nothing_unless_its_pattern_matches(store, monkeypatch):
    monkeypatch.delenv(store_module.FAULT_ENV, raising=False)
    fault_point("after", store.table_path(EPISODES))
    monkeypatch.setenv(store_module.FAULT_ENV, "after:*/tables/metric_values.parquet")
    fault_point("after", store.table_path(EPISODES))
    fault_point("before", store.table_path("metric_values"))
    store.write_table("t", pd.DataFrame({"a": [1]}))  # writes pass every point unharmed


# -- intake and the engine on an outdated store ----------------------------------------------
@pytest.fixture
def files(tmp_path):
    sub = tmp_path / "in" / "2026-10"
    return [
        write_csv(sub / "harbor.csv", [row(i) for i in range(4)]),
        write_csv(
            sub / "cascade.csv",
            [row(i, provider_id="cascade", episode_id=f"K{i}") for i in range(3)],
        ),
    ]


def test_re_running_intake_repairs_episodes_and_says_so(program, store, files, tmp_path):
    """The issue's case: rows logged "current" and in their partition, but never in episodes
    (here: a second file loaded without the rebuild a kill would have stopped)."""
    clean = Store(tmp_path / "clean")
    intake.intake_files(files, program, clean, received=RECEIVED)
    intake.intake_files(files[:1], program, store, received=RECEIVED)
    intake.intake_file(files[1], program, store, received=RECEIVED, rebuild=False)
    assert store.outdated(EPISODES, SUBMITTED)
    assert sorted(store.episodes()["provider_id"].unique()) == ["harbor"]  # stale
    results = intake.intake_files(files, program, store, received=RECEIVED)
    assert [r.status for r in results] == ["already loaded", "already loaded"]
    for r in results:
        assert "nothing to do" not in r.message and r.message.endswith(intake.REPAIRED)
    pd.testing.assert_frame_equal(store.episodes(), clean.episodes())
    assert not store.outdated(EPISODES, SUBMITTED)
    again = intake.intake_files(files, program, store, received=RECEIVED)
    assert all(r.message.endswith("nothing to do") for r in again)  # repaired once, then quiet


def test_intake_file_repairs_too(program, store, files):
    intake.intake_file(files[0], program, store, received=RECEIVED, rebuild=False)
    result = intake.intake_file(files[0], program, store, received=RECEIVED)
    assert result.status == "already loaded" and result.message.endswith(intake.REPAIRED)
    assert len(store.episodes()) == 4


def test_repair_reuses_the_last_builds_as_of(program, store, tmp_path):
    """A stayer's length of stay runs to ``as_of``: a repair must not fall back to the data's
    last date (2026-10-05 here) when the build it replaces used another."""
    stayer = write_csv(tmp_path / "in" / "2026-10" / "h.csv", [row(1), row(2, exit_date="")])
    as_of = date(2026, 12, 31)
    intake.intake_file(stayer, program, store, received=RECEIVED, as_of=as_of)
    expected = store.episodes()
    assert expected["length_of_stay_days"].tolist() == [32, (as_of - date(2026, 9, 3)).days]
    assert store.build_record(EPISODES)["as_of"] == "2026-12-31"
    store.write_table(EPISODES, expected.head(1))  # replaced: outdated
    assert intake.repair_episodes(store, program)
    pd.testing.assert_frame_equal(store.episodes(), expected)
    assert not intake.repair_episodes(store, program)  # current: nothing to do
    store.table_path(EPISODES).unlink()  # gone: the record still says how it was built
    assert store.build_record(EPISODES)["matches"] is False
    assert intake.repair_episodes(store, program)
    pd.testing.assert_frame_equal(store.episodes(), expected)


def test_repair_of_a_store_with_nothing_to_repair_writes_nothing(program, tmp_path):
    absent = Store(tmp_path / "absent")
    assert not intake.repair_episodes(absent, program)
    assert not absent.root.exists()  # not even the lock file


def test_the_engine_refuses_outdated_episodes(program, store, files):
    intake.intake_file(files[0], program, store, received=RECEIVED, rebuild=False)
    with pytest.raises(StoreError, match=r"episodes are older than the committed submissions"):
        metrics.refresh(program, store)
    assert not store.has_table("metric_values")


def test_metric_tables_of_two_versions_are_recomputed(program, store, files):
    """A refresh killed after ``equity`` but before ``metric_values`` leaves two versions."""
    intake.intake_files(files, program, store, received=RECEIVED)
    first = metrics.refresh(program, store)
    assert metrics.stored_version(store) == first.version
    store.write_table("equity", first.equity.assign(version="another"))
    assert metrics.stored_version(store) is None
    again = metrics.refresh(program, store)
    assert not again.skipped and again.version == first.version
    pd.testing.assert_frame_equal(store.read_table("equity"), first.equity)


def test_repair_names_a_partition_the_log_does_not_record(
    program, store, files, caplog, monkeypatch
):
    """A crash after a partition's rename but before its log row (here: the log write fails):
    the rows reach episodes at the repair, which names the partition and the file to load
    again; loading it again logs it."""
    intake.intake_file(files[0], program, store, received=RECEIVED)
    fixed = write_csv(files[0].with_name("harbor_fixed.csv"), [row(i) for i in range(6)])

    def crash(*args):
        raise OSError("disk gone")

    with monkeypatch.context() as m:
        m.setattr(intake, "_update_log", crash)
        with pytest.raises(OSError, match="disk gone"):
            intake.intake_file(fixed, program, store, received=RECEIVED)
    sha = store.read_table(SUBMITTED)["_submission"].iloc[0]
    assert intake.unlogged_partitions(store).values.tolist() == [["harbor", "2026-10", sha]]
    with caplog.at_level(logging.WARNING, logger=intake.__name__):
        assert intake.repair_episodes(store, program)
    said = " ".join(r.getMessage() for r in caplog.records)
    assert f"tables/episodes_submitted/harbor/2026-10.parquet holds submission {sha[:12]}" in said
    assert intake.REPAIRED in said
    assert len(store.episodes()) == 6
    assert intake.intake_file(fixed, program, store, received=RECEIVED).status == "loaded"
    assert intake.unlogged_partitions(store).empty


# -- the commands --------------------------------------------------------------------------------
def test_acm_metrics_and_acm_run_repair_first(program_path, program, store, files, monkeypatch):
    """`acm metrics` rebuilds outdated episodes before refreshing (and says so); `acm run`
    before its batch starts, since the batch may not import intake (in-process CLI calls)."""
    from typer.testing import CliRunner

    from acm_helpers.batch import run as batch_run
    from acm_helpers.cli import app

    def acm(*args):
        opts = ["--program", str(program_path), "--data-dir", str(store.root)]
        return CliRunner().invoke(app, [*args, *opts])

    intake.intake_file(files[0], program, store, received=RECEIVED, rebuild=False)
    done = acm("metrics")
    assert done.exit_code == 0, done.output
    assert f"repaired: {intake.REPAIRED}." in done.output
    assert "metric_values computed" in done.output and len(store.episodes()) == 4
    assert "repaired" not in acm("metrics").output  # current now: nothing said

    intake.intake_file(files[1], program, store, received=RECEIVED, rebuild=False)
    seen = []

    def run_period(*args, **kwargs):
        # run_period calls its before_refresh hook once the store is open, before the refresh
        kwargs["before_refresh"](program, store)
        seen.append(store.outdated(EPISODES, SUBMITTED))
        raise StoreError("stop here")  # the batch itself is not this test's business

    monkeypatch.setattr(batch_run, "run_period", run_period)
    ran = acm("run", "--period", "2026-10")
    assert f"repaired: {intake.REPAIRED}." in ran.output and "stop here" in ran.output
    assert seen == [False] and sorted(store.episodes()["provider_id"].unique()) == [
        "cascade",
        "harbor",
    ]
