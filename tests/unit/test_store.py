"""The store: atomic writes, immutable raw copies, staged partitions, DuckDB views."""

from __future__ import annotations

import os

import pandas as pd
import pytest

from acm_helpers.core.errors import StoreError
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


def test_one_folder_of_a_partitioned_table_reads_only_its_files(store):
    for p, period, v in [("x", "2026-09", 1), ("x", "2026-10", 2), ("y", "2026-10", 3)]:
        store.write_table("parts", pd.DataFrame({"p": [p], "v": [v]}), part=f"{p}/{period}")
    source = store.part_source("parts", "x")
    assert "parts/x/*.parquet" in source
    got = store.query(f"SELECT p, v FROM {source} ORDER BY v")
    assert got.values.tolist() == [["x", 1], ["x", 2]]
    assert store.part_source("parts", "nobody") is None  # the caller reads the whole view
    assert store.part_source("absent", "x") is None


def test_a_connection_for_one_table_does_not_look_into_the_others(store, monkeypatch):
    store.write_table("things", pd.DataFrame({"n": [1]}))
    store.write_table("parts", pd.DataFrame({"v": [1]}), part="x/2026-09")
    looked = []
    real = type(store.tables_dir).glob
    monkeypatch.setattr(
        type(store.tables_dir),
        "glob",
        lambda self, pat: looked.append(self.name) or real(self, pat),
    )
    with store.connect(only="SELECT * FROM things") as con:
        assert con.execute("SELECT n FROM things").fetchall() == [(1,)]
    assert "parts" not in looked


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
