"""Crash-safe rebuilds (issue 13, item 4): `acm intake` and `acm metrics` are killed with SIGKILL
at each commit point, and the next command heals the store.

The kill comes from the store's test seam (``ACM_FAULT_AT``, :func:`store.fault_point`): the
process kills itself right before or after the atomic write the pattern names, as ``kill -9`` or
a power cut would, so nothing gets to clean up. Each case then runs the next command in a new
process and compares with a run that was never interrupted (the references, built in-process
by the same functions):

- re-running the same intake heals to the uninterrupted result: episodes, submissions log and
  (after `acm metrics`) metric_values equal;
- `acm metrics` alone heals to what was committed when the process died: the episodes of the
  submissions whose partitions had been renamed into place, and their metric_values.

No case may leave a temporary file behind. Every wait is on a process exit, never a sleep.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from test_intake import row, write_csv

from acm_helpers.intake import intake
from acm_helpers.metrics import engine as metrics
from acm_helpers.store.store import FAULT_ENV, TMP_NAME, Store

pytestmark = pytest.mark.slow
ACM = str(Path(sys.executable).parent / "acm")
RECEIVED = "2026-11-10"


# -- the submissions -------------------------------------------------------------------------
def submissions(root: Path) -> dict[str, list[Path]]:
    """A base load (harbor and cascade, October) and a batch of two files: cascade's corrected
    October (supersedes the base one) and harbor's September (a new partition, one bad row)."""
    harbor = [row(i, client_id=f"H{i}", episode_id=f"H{i}") for i in range(8)]
    cascade = [
        row(i, provider_id="cascade", client_id=f"K{i}", episode_id=f"K{i}") for i in range(6)
    ]
    fixed = [dict(r, exit_destination="101") for r in cascade[:3]] + cascade[3:]
    fixed.append(row(9, provider_id="cascade", client_id="K9", episode_id="K9", exit_date=""))
    september = [
        row(i, client_id=f"H{i}", episode_id=f"S{i}", enrollment_date="2026-08-24")
        for i in range(5)
    ]
    september[2]["enrollment_date"] = "not a date"  # quarantined
    return {
        "base": [
            write_csv(root / "base" / "2026-10" / "harbor.csv", harbor),
            write_csv(root / "base" / "2026-10" / "cascade.csv", cascade),
        ],
        "batch": [
            write_csv(root / "batch" / "2026-10" / "cascade_fixed.csv", fixed),
            write_csv(root / "batch" / "2026-09" / "harbor_september.csv", september),
        ],
    }


def state(store: Store) -> dict[str, pd.DataFrame]:
    """What a healed store must match: episodes, metric_values and the log (less its clock)."""
    return {
        "episodes": store.episodes(),
        "metric_values": store.read_table("metric_values"),
        "submissions": store.read_table("submissions").drop(columns="loaded_at"),
    }


@pytest.fixture(scope="module")
def refs(tmp_path_factory, program):
    """Stores built without interruption: ``base`` (base load + metrics, where every case
    starts), ``first`` (base + the batch's first file), ``full`` (base + the whole batch), each
    refreshed; ``intaken``, the whole batch loaded but the metrics not yet refreshed."""
    root = tmp_path_factory.mktemp("kill")
    files = submissions(root / "in")
    stores = {name: Store(root / name) for name in ("base", "first", "full", "intaken")}
    intake.intake_files(files["base"], program, stores["base"], received=RECEIVED)
    metrics.refresh(program, stores["base"])
    for name, batch in (
        ("first", files["batch"][:1]),
        ("full", files["batch"]),
        ("intaken", files["batch"]),
    ):
        shutil.copytree(stores["base"].root, stores[name].root)  # keeps modification times
        intake.intake_files(batch, program, stores[name], received=RECEIVED)
        if name != "intaken":
            metrics.refresh(program, stores[name])
    return {
        "files": files,
        "stores": stores,
        "states": {n: state(stores[n]) for n in ("base", "first", "full")},
    }


# -- running acm -----------------------------------------------------------------------------
def start(program_path, data: Path, *args: str, fault: str | None = None) -> subprocess.Popen:
    """Start one `acm` command (``fault``: the ACM_FAULT_AT pattern)."""
    env = {k: v for k, v in os.environ.items() if k != FAULT_ENV}
    if fault:
        env[FAULT_ENV] = fault
    return subprocess.Popen(
        [ACM, *args, "--program", str(program_path), "--data-dir", str(data)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen) -> subprocess.CompletedProcess:
    """Wait for the command to exit; its exit code and output."""
    out, err = proc.communicate(timeout=600)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def acm(program_path, data: Path, *args: str, fault: str | None = None):
    """Run one `acm` command to its exit."""
    return finish(start(program_path, data, *args, fault=fault))


def intake_cmd(program_path, data: Path, files: list[Path], fault: str | None = None):
    return acm(program_path, data, "intake", *map(str, files), "--received", RECEIVED, fault=fault)


def tmp_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if TMP_NAME.match(p.name))


def killed(proc: subprocess.CompletedProcess) -> None:
    """The process died at the fault point (so the point was reached), not of something else."""
    assert proc.returncode == -signal.SIGKILL, proc.stdout + proc.stderr


def assert_state(store: Store, expected: dict[str, pd.DataFrame], what=("episodes",)) -> None:
    got = state(store)
    for name in what:
        pd.testing.assert_frame_equal(got[name], expected[name], obj=name)


# -- intake killed at each commit point ------------------------------------------------------
# (ACM_FAULT_AT pattern, what was committed when it died, temporary files it leaves,
#  every batch file already in the submissions log, a partition renamed but not yet logged). The batch's files are taken in order:
#  cascade_fixed (cascade/2026-10) first, then harbor_september (harbor/2026-09).
INTAKE_POINTS = [
    pytest.param("writing:*/episodes_submitted/*", "base", True, False, False, id="mid-staging"),
    pytest.param("before:*/raw/*", "base", True, False, False, id="raw-copy-written"),
    pytest.param("after:*/raw/*", "base", True, False, False, id="raw-kept"),
    pytest.param(
        "before:*/episodes_submitted/*", "base", True, False, False, id="partition-staged"
    ),
    pytest.param(
        "after:*/episodes_submitted/*", "first", False, False, True, id="partition-renamed"
    ),
    pytest.param("after:*/tables/quality/*", "first", False, False, True, id="quality-written"),
    pytest.param("after:*/tables/submissions.parquet", "first", False, False, False, id="log-row"),
    pytest.param(
        "after:*/episodes_submitted/harbor/*", "full", False, False, True, id="second-partition"
    ),
    pytest.param(
        "after:*/tables/quarantine/*", "full", False, False, True, id="quarantine-written"
    ),
    pytest.param(
        "before:*/tables/episodes.parquet", "full", True, True, False, id="episodes-staged"
    ),
    pytest.param(
        "after:*/tables/episodes.parquet", "full", False, True, False, id="episodes-renamed"
    ),
    pytest.param(
        "after:*/tables/.episodes.built.json", "full", False, True, False, id="build-recorded"
    ),
]


@pytest.mark.parametrize(
    ("fault", "committed", "leaves_tmp", "all_logged", "unlogged"), INTAKE_POINTS
)
def test_intake_killed_then_the_next_command_heals(
    tmp_path, program_path, refs, fault, committed, leaves_tmp, all_logged, unlogged
):
    states, batch = refs["states"], refs["files"]["batch"]
    data = tmp_path / "data"
    shutil.copytree(refs["stores"]["base"].root, data)
    killed(intake_cmd(program_path, data, batch, fault=fault))
    assert bool(tmp_files(data)) == leaves_tmp, tmp_files(data)
    other = tmp_path / "other"
    shutil.copytree(data, other)  # the same killed store, healed the other way

    # two healings of the same killed store, run side by side (each waited for to its exit):
    # 1. the same intake again, then `acm metrics`; 2. `acm metrics` alone
    healing = start(program_path, other, "metrics")
    try:
        again = intake_cmd(program_path, data, batch)
        after_intake = state(Store(data)) if again.returncode == 0 else None
        left_after_intake = tmp_files(data)
        done = acm(program_path, data, "metrics")
    finally:
        healed = finish(healing)

    # 1. the uninterrupted result
    assert again.returncode == 0, again.stdout + again.stderr
    repaired = all_logged and fault != "after:*/tables/.episodes.built.json"
    assert (intake.REPAIRED in again.stdout) == repaired, again.stdout
    assert ("temporary file left by" in again.stderr) == leaves_tmp, again.stderr
    assert left_after_intake == []
    for name in ("episodes", "submissions"):
        pd.testing.assert_frame_equal(after_intake[name], states["full"][name], obj=name)
    assert done.returncode == 0, done.stdout + done.stderr
    assert_state(Store(data), states["full"], what=("episodes", "metric_values"))

    # 2. what had been committed when the process died, never the stale episodes
    assert healed.returncode == 0, healed.stdout + healed.stderr
    moved = committed != "base" and fault != "after:*/tables/.episodes.built.json"
    assert ("repaired:" in healed.stdout) == moved, healed.stdout
    assert ("temporary file left by" in healed.stderr) == leaves_tmp, healed.stderr
    assert ("does not record as current" in healed.stderr) == unlogged, healed.stderr
    assert tmp_files(other) == []
    assert_state(Store(other), states[committed], what=("episodes", "metric_values"))


# -- the metrics refresh killed at each commit point -----------------------------------------
METRICS_POINTS = [
    pytest.param("after:*/tables/equity.parquet", False, id="equity-written"),
    pytest.param("after:*/tables/suppressed_truth.parquet", False, id="truth-written"),
    pytest.param("before:*/tables/metric_values.parquet", True, id="values-staged"),
]


@pytest.mark.parametrize(("fault", "leaves_tmp"), METRICS_POINTS)
def test_metrics_killed_then_the_next_refresh_heals(
    tmp_path, program_path, refs, fault, leaves_tmp
):
    data = tmp_path / "data"
    shutil.copytree(refs["stores"]["intaken"].root, data)  # old metrics, new episodes
    killed(acm(program_path, data, "metrics", fault=fault))
    assert bool(tmp_files(data)) == leaves_tmp
    healed = acm(program_path, data, "metrics")
    assert healed.returncode == 0, healed.stdout + healed.stderr
    assert "metric_values computed" in healed.stdout  # not "up to date"
    assert ("temporary file left by" in healed.stderr) == leaves_tmp, healed.stderr
    assert tmp_files(data) == []
    full = refs["states"]["full"]
    assert_state(Store(data), full, what=("episodes", "metric_values"))
    store = Store(data)
    for name in ("equity", "suppressed_truth"):
        pd.testing.assert_frame_equal(
            store.read_table(name), refs["stores"]["full"].read_table(name), obj=name
        )


# -- a live writer's temporary file ----------------------------------------------------------
STAGING = """
import os, sys, time
from pathlib import Path
from acm_helpers.store.store import Store
store = Store(sys.argv[1])
with store.writing("test"):
    tmp = store.tables_dir / f".episodes.parquet.tmp-{'cd' * 16}"
    tmp.parent.mkdir(parents=True, exist_ok=True)
    tmp.write_bytes(b"being written")
    os.utime(tmp, (0, 0))  # looks old: only the lock says it is alive
    print("staging", flush=True)
    time.sleep(600)
"""


def test_a_live_writers_temporary_file_is_kept_until_it_dies(tmp_path, monkeypatch):
    from acm_helpers.core.errors import StoreError
    from acm_helpers.store import store as store_module

    store = Store(tmp_path / "data")
    proc = subprocess.Popen(
        [sys.executable, "-c", STAGING, str(store.root)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "staging"
        monkeypatch.setattr(store_module, "LOCK_WAIT_S", 0.3)
        with pytest.raises(StoreError, match="another acm command"):
            with store.writing("a second writer"):
                pass
        assert [p.name for p in tmp_files(store.root)] == [f".episodes.parquet.tmp-{'cd' * 16}"]
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    with store.writing("the next writer", wait=5):
        pass
    assert tmp_files(store.root) == []
