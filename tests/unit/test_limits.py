"""Memory limits of the stages that hold a whole program, and the chunked writes that keep
them bounded: a stage over its limit stops with a MemoryLimitError naming the limit and the fix;
a large frame written slice by slice reads back exactly as one written in one piece."""

from __future__ import annotations

import pandas as pd
import pytest

from acm_helpers.core.errors import AcmError, MemoryLimitError
from acm_helpers.store import limits
from acm_helpers.store.store import Store, write_parquet


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("8GB", 8 * 10**9, id="decimal"),
        pytest.param("512 MiB", 512 * 2**20, id="binary-with-space"),
        pytest.param("1.5gb", 1_500_000_000, id="lower-case-fraction"),
        pytest.param("4096", 4096, id="plain-bytes"),
    ],
)
def test_memory_sizes_parse(text, expected):
    assert limits.parse_bytes(text) == expected


@pytest.mark.parametrize("text", ["lots", "8 parsecs", "-1GB", "0"])
def test_a_bad_memory_size_names_the_setting(monkeypatch, text):
    monkeypatch.setenv(limits.MEMORY_ENV, text)
    with pytest.raises(MemoryLimitError, match=r"ACM_MEMORY_LIMIT=.* is not a memory size"):
        limits.memory_limit()


def test_connections_get_the_limit_threads_and_a_spill_directory(monkeypatch, tmp_path):
    monkeypatch.setenv(limits.MEMORY_ENV, "2GB")
    monkeypatch.setenv(limits.THREADS_ENV, "1")
    with limits.duckdb_connect(tmp_path) as con:
        mem, threads, spill = con.execute(
            "SELECT current_setting('memory_limit'), current_setting('threads'), "
            "current_setting('temp_directory')"
        ).fetchall()[0]
    assert threads == 1
    assert mem == "953.0 MiB"  # DuckDB's share: half of 2 GB, in whole MiB
    assert spill == str(tmp_path / limits.SPILL_DIR)
    with Store(tmp_path).connect() as con:  # the store's connections are the same kind
        assert con.execute("SELECT current_setting('threads')").fetchall()[0][0] == 1


def test_over_the_limit_names_stage_need_limit_and_fix(monkeypatch):
    monkeypatch.setenv(limits.MEMORY_ENV, "1GB")
    monkeypatch.setattr(limits, "resident", lambda: 50e6)
    limits.check_fits(0.9e9, "a small stage")  # under the limit: nothing happens
    with pytest.raises(MemoryLimitError) as err:
        limits.check_fits(3e9, "rebuilding episodes (2,500,000 rows)", todo="load fewer months")
    msg = str(err.value)
    assert isinstance(err.value, AcmError)
    assert "rebuilding episodes (2,500,000 rows) needs about 3.0 GB" in msg
    assert "on top of the 50.0 MB this process holds" in msg
    assert "over the limit of 1.0 GB (ACM_MEMORY_LIMIT=1GB)" in msg
    assert "Raise the limit (ACM_MEMORY_LIMIT=...GB)" in msg and "or load fewer months" in msg


def test_what_the_process_already_holds_counts_against_the_limit(monkeypatch):
    monkeypatch.setenv(limits.MEMORY_ENV, "1GB")
    monkeypatch.setattr(limits, "resident", lambda: 0.5e9)
    limits.check_fits(0.4e9, "a stage that fits beside it")
    with pytest.raises(MemoryLimitError, match="0.6 GB|600.0 MB"):
        limits.check_fits(0.6e9, "a stage that alone would fit")


def test_resident_memory_leaves_out_what_arrow_freed_but_kept():
    import psutil
    import pyarrow as pa

    before = limits.resident()
    table = pa.array(range(20_000_000))  # 160 MB from Arrow's pool
    del table  # freed, but the pool may keep it for reuse (it counts in the resident set)
    assert limits.resident() < before + 80e6
    assert limits.resident() == pytest.approx(psutil.Process().memory_info().rss, rel=0.2)


def test_the_default_limit_says_where_it_comes_from(monkeypatch):
    monkeypatch.delenv(limits.MEMORY_ENV, raising=False)
    limit, source = limits.memory_limit()
    assert limit > 0 and "60% of this machine's" in source and "ACM_MEMORY_LIMIT unset" in source


def test_duckdb_out_of_memory_in_the_refresh_names_the_metric_and_limit(
    monkeypatch, program, demo_store
):
    from acm_helpers.metrics import engine as metrics

    monkeypatch.setenv(limits.MEMORY_ENV, "20MB")  # DuckDB gets its floor, 64 MiB: too little
    with pytest.raises(MemoryLimitError) as err:
        metrics.compute_tables(program, demo_store)
    msg = str(err.value)
    assert "ran out of memory: DuckDB may use 67.1 MB (50% of the limit of 20.0 MB" in msg
    assert "ACM_MEMORY_LIMIT=20MB" in msg and "Raise the limit" in msg and "ACM_THREADS" in msg
    assert "Out of Memory Error" in msg and "\n" not in msg  # DuckDB's reason, its first line


def test_refresh_over_the_limit_names_the_cells(monkeypatch, program, demo_store):
    from acm_helpers.metrics import engine as metrics

    monkeypatch.setenv(limits.MEMORY_ENV, "8GB")
    monkeypatch.setattr(limits, "CELL_BYTES", 10**9)  # any cell count is then over the limit
    with pytest.raises(MemoryLimitError) as err:
        metrics.compute_tables(program, demo_store)
    msg = str(err.value)
    assert f"Program {program.id}: finishing " in msg and " metric cells (" in msg
    assert "over the limit of 8.0 GB (ACM_MEMORY_LIMIT=8GB)" in msg
    assert "break down by fewer dimensions" in msg


def episodes_like() -> pd.DataFrame:
    """Every kind of column the episodes table has, with gaps in each."""
    n = 25
    return pd.DataFrame(
        {
            "episode_id": [f"E{i:03d}" for i in range(n)],
            "zip": [None if i % 4 == 0 else f"981{i:02d}" for i in range(n)],
            "enrollment_date": pd.date_range("2026-01-01", periods=n, freq="5D"),
            "exit_date": [pd.NaT if i % 3 else pd.Timestamp("2026-09-01") for i in range(n)],
            "age_at_entry": pd.array([None if i % 5 == 0 else i for i in range(n)], "Int64"),
            "return_6m": pd.array([None if i % 2 else bool(i % 4) for i in range(n)], "boolean"),
            "cost": [float(i) * 10.5 for i in range(n)],
        }
    )


@pytest.mark.parametrize("chunk_rows", [1, 7, 24])
def test_chunked_write_reads_back_as_one_write(tmp_path, chunk_rows):
    frame = episodes_like()
    whole = write_parquet(frame, tmp_path / "whole.parquet")
    sliced = write_parquet(frame, tmp_path / "sliced.parquet", chunk_rows=chunk_rows)
    pd.testing.assert_frame_equal(pd.read_parquet(sliced), pd.read_parquet(whole))
    pd.testing.assert_frame_equal(pd.read_parquet(sliced), frame)


def test_chunked_write_of_the_demo_episodes_gives_the_same_metrics(tmp_path, program, demo_store):
    from acm_helpers.metrics import engine as metrics

    episodes = demo_store.episodes()
    chunked = Store(tmp_path / "chunked")
    write_parquet(episodes, chunked.table_path("episodes"), chunk_rows=len(episodes) // 5)
    pd.testing.assert_frame_equal(chunked.episodes(), episodes)
    month = ["2026-10"]
    pd.testing.assert_frame_equal(
        metrics.compute(program, chunked, periods=month, grains=("month",)),
        metrics.compute(program, demo_store, periods=month, grains=("month",)),
    )


def test_connections_show_no_progress_bar():
    """A slow query in a notebook must not put DuckDB's progress widget into a packet."""
    con = limits.duckdb_connect()
    assert con.execute("SELECT current_setting('enable_progress_bar')").fetchone() == (False,)
