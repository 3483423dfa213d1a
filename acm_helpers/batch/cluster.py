"""Scale-out: send the batch run's packet jobs to an existing Dask distributed cluster.

Why Dask and not a scheduler of our own: a large agency already runs (or can start) a Dask
cluster, and Dask brings what a home-made pool would have to rebuild: workers on many
machines, re-running a job whose worker died, and a dashboard. The batch run keeps one code
path: :func:`cluster_pool` yields a ``concurrent.futures.Executor`` (Dask's ``ClientExecutor``),
the same interface as the local process pool, so progress, manifest and failure handling are
unchanged whether jobs run on two local cores or on fifty machines.

Shared storage contract: a job carries only absolute paths and plain parameters; every worker
reads the store and the notebook templates and writes packets through those paths, so the data
directory, the outputs directory and the package must be mounted at the same paths on every
worker (NFS, SMB, a cloud file share, ...). Nothing is kept in a worker between jobs except the
notebook server (each notebook runs in a fork of it and ends with its process:
:mod:`acm_helpers.batch.forked`) or, with ``kernel="warm"``, the warm kernel, which holds no
data between notebooks (:mod:`acm_helpers.batch.kernel_state`).
:func:`check_workers` verifies this before the first job is sent: each worker must see every
path and run the same ``acm_helpers`` version as the machine that submits.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from acm_helpers.core.errors import ClusterError

CONNECT_TIMEOUT = 15  # seconds to reach the scheduler


def absolute(path: str | Path) -> str:
    """A path as every worker must see it: absolute, symlinks resolved."""
    return str(Path(path).expanduser().resolve())


def connect(address: str, timeout: float = CONNECT_TIMEOUT) -> Any:
    """Connect to a running Dask scheduler (``tcp://HOST:PORT``).

    Raises:
        ClusterError: the scheduler did not answer, with how to start one.
    """
    from distributed import Client

    try:
        return Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise ClusterError(
            f"Cannot reach the Dask scheduler at {address}: {exc}. Start one with "
            "`dask scheduler` and one worker per machine with "
            f"`dask worker {address} --nthreads 1 --nworkers N`, or check --cluster / ACM_CLUSTER."
        ) from None


def _worker_probe(paths: list[str]) -> dict[str, Any]:
    """Runs on each worker: what it can see and which package version it runs."""
    import acm_helpers

    return {
        "host": socket.gethostname(),
        "version": acm_helpers.__version__,
        "python": sys.version.split()[0],
        "missing": [p for p in paths if not os.path.exists(p)],
    }


def check_workers(client: Any, paths: Iterable[str | Path]) -> dict[str, dict[str, Any]]:
    """Check that every worker sees the shared paths and runs this ``acm_helpers`` version.

    Why before the run: a worker without the shared mount would fail every job it receives, one
    confusing error per provider; one clear error up front names the worker and the path.

    Returns:
        worker address -> what the worker reported (host, version, python).

    Raises:
        ClusterError: no workers, a worker missing a path, or a version mismatch.
    """
    import acm_helpers

    paths = [absolute(p) for p in paths]
    reports = client.run(_worker_probe, paths)
    if not reports:
        raise ClusterError(
            f"The Dask cluster at {client.scheduler.address} has no workers. Start them with "
            f"`dask worker {client.scheduler.address} --nthreads 1`."
        )
    problems = []
    for worker, info in sorted(reports.items()):
        if info["missing"]:
            problems.append(
                f"worker {worker} ({info['host']}) cannot see {', '.join(info['missing'])}"
            )
        if info["version"] != acm_helpers.__version__:
            problems.append(
                f"worker {worker} ({info['host']}) runs acm_helpers {info['version']}, "
                f"this machine {acm_helpers.__version__}"
            )
    if problems:
        raise ClusterError(
            "The cluster cannot run these packets: "
            + "; ".join(problems)
            + ". Mount the data, outputs and notebooks directories at the same absolute paths "
            "on every worker and install the same package version there (docs/admin/scaling.md)."
        )
    return reports


def _warm_kernel_plugin() -> Any:
    from distributed.diagnostics.plugin import WorkerPlugin

    class WarmKernelCleanup(WorkerPlugin):
        """Stops the worker's warm kernels and notebook servers when the worker closes (no
        orphan processes)."""

        name = "acm-warm-kernels"
        idempotent = True  # a later run keeps the kernels warmed by an earlier one

        def teardown(self, worker: Any) -> None:
            from acm_helpers.batch.forked import stop_servers
            from acm_helpers.batch.kernels import shutdown_process_kernels

            shutdown_process_kernels()
            stop_servers()

    return WarmKernelCleanup()


@contextmanager
def cluster_pool(address: str, paths: Iterable[str | Path] = ()) -> Iterator[Any]:
    """A ``concurrent.futures.Executor`` whose jobs run on the Dask cluster at ``address``.

    Jobs are submitted as impure tasks (never de-duplicated or cached by Dask: each writes
    files). A job whose worker dies is re-run on another worker by Dask; a job that raises
    reports the exception through its future, like the local pool.

    Args:
        address: scheduler address, ``tcp://HOST:PORT``.
        paths: shared paths every worker must see (store, outputs, notebook templates).
    """
    client = connect(address)
    try:
        check_workers(client, paths)
        client.register_plugin(_warm_kernel_plugin())
        executor = client.get_executor(pure=False)
        try:
            yield executor
        finally:
            executor.shutdown(wait=True)
    finally:
        client.close()


def worker_count(address: str) -> int:
    """Number of worker processes (threads summed) the cluster offers, for progress and sizing."""
    client = connect(address)
    try:
        return sum(client.nthreads().values())
    finally:
        client.close()


def run_period_on_cluster(address: str, program_path: str | Path, period: str, **kw: Any) -> Any:
    """``acm run --cluster ADDRESS``: the monthly run with its packet jobs on a Dask cluster.

    Same planning, skip-if-unchanged, manifest, progress bar and failure handling as the local
    run (:func:`acm_helpers.batch.run.run_period`); only the pool differs. Every path a job carries
    is made absolute here and checked on every worker first.

    Args:
        address: scheduler address, ``tcp://HOST:PORT``.
        program_path: the program file.
        period: YYYY-MM.
        **kw: as for ``batch.run_period`` (``data_dir``, ``out_root``, ``providers``, ``kernel`` ...).
    """
    from acm_helpers.batch import run as batch
    from acm_helpers.core.resources import notebooks_dir
    from acm_helpers.store.store import resolve_paths

    program_path, _, data_dir = resolve_paths(program_path, kw.pop("data_dir", None))
    out_root = Path(absolute(kw.pop("out_root", "outputs")))
    out_root.mkdir(parents=True, exist_ok=True)
    shared = [program_path, absolute(data_dir), out_root, notebooks_dir()]
    with cluster_pool(address, paths=shared) as pool:
        return batch.run_period(
            program_path, period, data_dir=absolute(data_dir), out_root=out_root, pool=pool, **kw
        )
