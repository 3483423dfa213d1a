"""Scale-out on Dask distributed: a LocalCluster of two worker processes on localhost stands in
for an agency's cluster. Jobs reach the workers through the same ``concurrent.futures``
interface as the local pool; each worker keeps one warm kernel for all the notebooks it runs.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from nbformat.v4 import new_code_cell, new_notebook

from acm_helpers.batch.cluster import check_workers, cluster_pool, connect
from acm_helpers.batch.kernels import WarmExecutor, WarmSpec
from acm_helpers.core.errors import ClusterError

distributed = pytest.importorskip("distributed")
ROOT = Path(__file__).resolve().parents[2]
# Waits are on events (a future's result, a process exiting); these bound a hang on a loaded
# 2-core machine and are not thresholds.
HANG_S = 600  # one job's future; the cluster's start
RUN_S = 1800  # one `acm run` of three packets


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    import dask

    slow = {  # a loaded machine spawns worker processes slowly; defaults are 30 s
        "distributed.comm.timeouts.connect": f"{HANG_S}s",
        "distributed.deploy.lost-worker-timeout": f"{HANG_S}s",
    }
    with (
        dask.config.set(slow),
        distributed.LocalCluster(
            local_directory=str(tmp_path_factory.mktemp("dask")),
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            host="127.0.0.1",
            worker_dashboard_address=None,
        ) as lc,
    ):
        yield lc


@pytest.fixture(scope="module")
def notebook(tmp_path_factory):
    import nbformat

    root = tmp_path_factory.mktemp("cluster")
    nb = new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    params = new_code_cell("provider = 'nobody'")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, new_code_cell("import os\nprint(provider, os.getpid())")]
    path = root / "hello.ipynb"
    nbformat.write(nb, str(path))
    return path


def run_and_report(executor, notebook, provider):
    """A job as a worker runs it: execute, return what the packet would be built from."""
    nb = executor(notebook, {"provider": provider}, None)
    name, pid = nb.cells[-1].outputs[0]["text"].split()
    return {"provider": name, "kernel_pid": int(pid), "worker_pid": os.getpid()}


EXECUTOR = WarmExecutor(WarmSpec(preload=("pandas",)))


def test_jobs_run_on_the_cluster_in_warm_kernels(cluster, notebook):
    executor = EXECUTOR
    providers = [f"p{i}" for i in range(6)]
    with cluster_pool(cluster.scheduler_address, paths=[notebook]) as pool:
        futures = {pool.submit(run_and_report, executor, notebook, p): p for p in providers}
        results = [f.result() for f in cf.as_completed(futures, timeout=HANG_S)]
    assert sorted(r["provider"] for r in results) == providers
    assert all(r["worker_pid"] != os.getpid() for r in results)  # ran out of this process
    # one warm kernel per worker process: kernels are reused, never one per notebook
    kernels_per_worker = {}
    for r in results:
        kernels_per_worker.setdefault(r["worker_pid"], set()).add(r["kernel_pid"])
    assert all(len(k) == 1 for k in kernels_per_worker.values())
    assert len({k for ks in kernels_per_worker.values() for k in ks}) <= 2


def test_a_job_error_comes_back_through_its_future(cluster, notebook):
    with cluster_pool(cluster.scheduler_address) as pool:
        ok = pool.submit(run_and_report, EXECUTOR, notebook, "good")
        bad = pool.submit(run_and_report, EXECUTOR, notebook.with_name("missing.ipynb"), "x")
        assert ok.result(timeout=HANG_S)["provider"] == "good"
        with pytest.raises(FileNotFoundError):
            bad.result(timeout=HANG_S)


def test_workers_must_see_the_shared_paths(cluster, tmp_path):
    client = connect(cluster.scheduler_address)
    try:
        reports = check_workers(client, [tmp_path])
        assert len(reports) == 2
        with pytest.raises(ClusterError, match="cannot see /nonexistent/shared/data"):
            check_workers(client, ["/nonexistent/shared/data"])
    finally:
        client.close()


def test_unreachable_scheduler_says_how_to_start_one():
    with pytest.raises(ClusterError, match="dask scheduler"):
        connect("tcp://127.0.0.1:9", timeout=2)  # nothing listens: how long to keep trying


def warm_kernel_counts() -> dict:
    """Runs on a worker: notebooks executed by its warm kernels (0 when it has none)."""
    from acm_helpers.batch import kernels as workers

    return {"executed": sum(k.stats.executed for k in workers._PROCESS_KERNELS.values())}


def acm_run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(Path(sys.executable).parent / "acm"), "run", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=RUN_S,
    )


def _executed_so_far(address: str) -> int:
    client = connect(address)
    try:
        return sum(r["executed"] for r in client.run(warm_kernel_counts).values())
    finally:
        client.close()


@pytest.mark.slow
def test_acm_run_on_the_cluster_builds_packets_then_skips_them(cluster, demo_store, tmp_path):
    out = tmp_path / "outputs"
    args = [
        "--period",
        "2026-10",
        "--providers",
        "harbor,cascade",
        "--audience",
        "internal",
        "--no-pdf",
        "--data-dir",
        str(demo_store.root),
        "--out",
        str(out),
        "--cluster",
        cluster.scheduler_address,
        "--kernel",
        "warm",  # counted below in the workers' warm kernels (the default forks instead)
    ]
    # the cluster is shared with the other tests of this module: count from here
    before = _executed_so_far(cluster.scheduler_address)
    first = acm_run(*args)
    assert first.returncode == 0, first.stderr
    assert "3 packet(s) built, 0 unchanged (skipped), 0 failed" in first.stdout

    manifest = json.loads((out / "2026-10" / "manifest.json").read_text())
    assert [p["key"] for p in manifest["packets"]] == ["harbor", "cascade", "_system"]
    assert all(p["status"] == "ok" for p in manifest["packets"])
    client = connect(cluster.scheduler_address)
    try:
        worker_pids = set(client.run(os.getpid).values())
        # every packet was built on a Dask worker, none in the submitting process
        assert {p["worker_pid"] for p in manifest["packets"]} <= worker_pids
        for p in manifest["packets"]:
            assert p["reason"] == "new: no earlier run of this packet"
            assert (out / "2026-10" / p["files"]["html"]).stat().st_size > 10_000
            assert (out / "2026-10" / p["files"]["xlsx"]).exists()
        assert 'href="harbor/packet.html"' in (out / "2026-10" / "index.html").read_text()
        executed = sum(r["executed"] for r in client.run(warm_kernel_counts).values())
        assert executed - before == 3  # one notebook per packet, in the workers' warm kernels

        second = acm_run(*args)
        assert second.returncode == 0, second.stderr
        again = json.loads((out / "2026-10" / "manifest.json").read_text())
        reasons = [p["reason"] for p in again["packets"]]
        assert "0 packet(s) built, 3 unchanged (skipped), 0 failed" in second.stdout, reasons
        assert [(p["key"], p["skipped"], p["reason"]) for p in again["packets"]] == [
            ("harbor", True, "inputs unchanged"),
            ("cascade", True, "inputs unchanged"),
            ("_system", True, "inputs unchanged"),
        ]
        # no notebook work at all the second time
        assert sum(r["executed"] for r in client.run(warm_kernel_counts).values()) - before == 3
    finally:
        client.close()


GENERATED = re.compile(r"Generated( 20\d\d-\d\d-\d\d \d\d:\d\d UTC)")  # the packets' one clock
# nbformat gives the cell papermill injects (the parameters) a new random id in every run, local
# or not: an element id, no content
CELL_ID = re.compile(r'id="cell-id=[0-9a-f-]+"')


def packet_html(period_dir: Path) -> dict[str, str]:
    """Every packet's HTML in a run's folder, its generation time and cell ids blanked."""
    return {
        str(p.relative_to(period_dir)): CELL_ID.sub(
            'id="cell-id=<id>"', GENERATED.sub("Generated <time>", p.read_text())
        )
        for p in sorted(period_dir.glob("*/packet.html"))
    }


def first_difference(a: str, b: str) -> str:
    """Where two texts part, with some context (for the assertion message)."""
    at = next(
        (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))
    )
    return f"at {at}: {a[max(at - 80, 0) : at + 120]!r} vs {b[max(at - 80, 0) : at + 120]!r}"


@pytest.mark.slow
def test_packets_built_on_the_cluster_are_the_local_packets(
    cluster, program_path, demo_store, tmp_path
):
    from acm_helpers.batch import run as batch
    from acm_helpers.batch.cluster import run_period_on_cluster

    kw = {
        "data_dir": demo_store.root,
        "providers": ["harbor", "northgate"],
        "pdf": False,
        "force": True,
        "progress": False,
    }
    local = batch.run_period(program_path, "2026-10", out_root=tmp_path / "local", workers=1, **kw)
    on_cluster = run_period_on_cluster(
        cluster.scheduler_address, program_path, "2026-10", out_root=tmp_path / "dask", **kw
    )
    assert not local.failures and not on_cluster.failures
    here, there = packet_html(local.period_dir), packet_html(on_cluster.period_dir)
    assert sorted(here) == ["_system/packet.html", "harbor/packet.html", "northgate/packet.html"]
    assert sorted(there) == sorted(here)
    for name, html in here.items():
        assert "Generated <time>" in html, name  # the one difference was found and blanked
        assert there[name] == html, f"{name}: local vs Dask {first_difference(html, there[name])}"
