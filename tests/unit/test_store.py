"""The store: atomic writes, immutable raw copies, staged partitions, DuckDB views."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from acm_helpers.core.errors import StoreError
from acm_helpers.store import store as store_module
from acm_helpers.store.store import Store, atomic_write, sha256_file


@pytest.fixture
def store(tmp_path) -> Store:
    return Store(tmp_path / "data")


def test_write_read_and_query(store):
    frame = pd.DataFrame({"provider_id": ["a", "b", "a"], "n": [1, 2, 3]})
    store.write_table("things", frame)
    pd.testing.assert_frame_equal(store.read_table("things"), frame)
    got = store.query("SELECT provider_id, sum(n) AS n FROM things GROUP BY 1 ORDER BY 1")
    assert got.values.tolist() == [["a", 4], ["b", 2]]
    assert store.read_table("absent").empty


def test_partitioned_table_reads_as_one(store):
    store.write_table("parts", pd.DataFrame({"p": ["x"], "v": [1]}), part="x/2026-09")
    store.write_table(
        "parts", pd.DataFrame({"p": ["y"], "v": [2], "extra": ["e"]}), part="y/2026-10"
    )
    assert sorted(store.read_table("parts")["v"]) == [1, 2]
    got = store.query("SELECT p, extra FROM parts ORDER BY p")
    assert got["p"].tolist() == ["x", "y"] and pd.isna(got["extra"].iloc[0])  # union by name


def test_append_table(store):
    store.append_table("log", pd.DataFrame({"a": [1]}))
    store.append_table("log", pd.DataFrame({"a": [2]}))
    assert store.read_table("log")["a"].tolist() == [1, 2]


def test_failed_write_leaves_previous_file(store, tmp_path):
    store.write_table("t", pd.DataFrame({"a": [1]}))

    def boom(tmp):
        tmp.write_bytes(b"half a file")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write(store.table_path("t"), boom)
    assert store.read_table("t")["a"].tolist() == [1]
    assert [p.name for p in store.tables_dir.iterdir()] == ["t.parquet"]  # no temp file left


def test_staged_partition_commit_and_discard(store):
    with store.stage("sub", "p/2026-10") as staged:
        staged.write(pd.DataFrame({"a": [1, 2]}))
        staged.write(pd.DataFrame({"a": [3]}))
        assert not store.has_table("sub")  # nothing visible before commit
        staged.commit()
    assert store.read_table("sub")["a"].tolist() == [1, 2, 3]
    with store.stage("sub", "p/2026-10") as staged:
        staged.write(pd.DataFrame({"a": [9]}))  # no commit: discarded
    assert store.read_table("sub")["a"].tolist() == [1, 2, 3]
    assert sorted(p.name for p in (store.tables_dir / "sub" / "p").iterdir()) == ["2026-10.parquet"]
    with (
        store.stage("sub", "q/2026-10") as staged,
        pytest.raises(StoreError, match="nothing was written"),
    ):
        staged.commit()


def test_keep_raw_is_byte_for_byte_and_immutable(store, tmp_path):
    src = tmp_path / "harbor.CSV"
    src.write_bytes(b"a;b\r\n\xe9;2\r\n")
    dest = store.keep_raw(src, "harbor", "2026-10")
    assert dest == store.root / "raw" / "2026-10" / "harbor" / f"{sha256_file(src)}.csv"
    assert dest.read_bytes() == src.read_bytes()
    assert not os.access(dest, os.W_OK) or os.geteuid() == 0  # read-only (root may still write)
    assert oct(dest.stat().st_mode & 0o777) == "0o444"
    assert store.keep_raw(src, "harbor", "2026-10") == dest  # second copy: same file, untouched


def test_missing_tables_raise_store_errors(store):
    with pytest.raises(
        StoreError, match=r"no episodes loaded yet\. Run `acm intake FILES --period YYYY-MM` first"
    ):
        store.episodes()
    with pytest.raises(StoreError, match="Has intake been run for this data directory"):
        store.query("SELECT * FROM episodes")


# -- one writer at a time ------------------------------------------------------------------------
HOLD = """
import sys, time
from acm_helpers.store.store import Store
with Store(sys.argv[1]).writing("test"):
    print("held", flush=True)
    time.sleep(60)
"""


def hold_lock(store: Store) -> subprocess.Popen:
    """Another process holding the store's write lock (until killed)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(store.root)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_writer_waits_then_says_who_holds_the_lock(store, program, monkeypatch):
    from acm_helpers.intake import intake
    from acm_helpers.metrics import engine as metrics

    proc = hold_lock(store)
    try:
        monkeypatch.setattr(store_module, "LOCK_WAIT_S", 0.3)
        with pytest.raises(StoreError, match=r"another acm command .* so intake did not start"):
            intake.intake_files([store.root / "nothing.csv"], program, store, period="2026-10")
        with pytest.raises(StoreError, match="so the metrics refresh did not start"):
            metrics.refresh(program, store)
        assert not store.table_path("submissions").exists()  # nothing was written meanwhile
    finally:
        proc.kill()
        proc.wait()
    # the operating system drops the lock of a killed process: the next writer goes ahead
    with store.writing("after", wait=5):
        with store.writing("nested in the same process", wait=0):
            pass


def test_two_intakes_at_once_both_land(tmp_path, program_path):
    """Two `acm intake` processes on one data directory (e.g. an analyst and cron): each
    reads, changes and writes the submissions log; taking turns, neither loses the other's."""
    from test_intake import row, write_csv

    files = []
    for provider in ("harbor", "cascade"):
        files.append(
            write_csv(
                tmp_path / provider / "2026-10" / f"{provider}.csv",
                [row(i, provider_id=provider, episode_id=f"{provider}{i}") for i in range(5)],
            )
        )
    data = tmp_path / "data"
    procs = [
        subprocess.Popen(
            [
                str(Path(sys.executable).parent / "acm"),
                "intake",
                str(f),
                "--program",
                str(program_path),
                "--data-dir",
                str(data),
                "--received",
                "2026-11-10",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for f in files
    ]
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    log = Store(data).read_table("submissions")
    assert sorted(log.loc[log["status"] == "current", "provider_id"]) == ["cascade", "harbor"]
    assert sorted(Store(data).episodes()["provider_id"].unique()) == ["cascade", "harbor"]
