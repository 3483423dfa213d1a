"""One writer at a time: a second process waits for the store's write lock, says who holds it,
and two `acm intake` processes on one data directory both land."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from acm_helpers.core.errors import StoreError
from acm_helpers.store import store as store_module
from acm_helpers.store.store import Store


@pytest.fixture
def store(tmp_path) -> Store:
    return Store(tmp_path / "data")


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
