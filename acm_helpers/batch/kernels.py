"""Warm notebook workers: one live Jupyter kernel per worker process, reused for many packets.

Why: the engine has already computed every number, so a large part of a naive run's time goes
to starting a Python kernel and importing pandas, altair and ``acm_helpers`` again for every
provider (and to the CLIs' own start-up). A :class:`WarmKernel` starts one kernel,
imports the heavy modules once, then executes many papermill-parameterized notebooks in it
(papermill's own parameter injection and error cells, through an engine registered as
``acm_warm`` that points nbclient at the live kernel).

Between notebooks the kernel is reset to its warm-up state by :mod:`acm_helpers.batch.kernel_state`
(which documents exactly what "no data survives" covers). What a reset cannot undo is handled
by starting a new kernel instead: a notebook that leaves a thread running, a cell timeout, a
dead kernel, or a failed reset; the kernel is also recycled every ``max_notebooks`` notebooks.
Displayed outputs cannot leak: each notebook gets its own nbclient client, which keeps only
messages whose parent is one of its own cells.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import json
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from acm_helpers.core.errors import WorkerError

log = logging.getLogger(__name__)

ENGINE_NAME = "acm_warm"
# Imported in every warm kernel; modules a notebook template imports are added to these.
DEFAULT_PRELOAD: tuple[str, ...] = (
    "numpy",
    "pandas",
    "pyarrow",
    "duckdb",
    "altair",
    "vl_convert",
    "IPython.display",
)
# How host code reaches the kernel-side module (an expression, evaluated in the kernel).
KERNEL_STATE = "__import__('acm_helpers.batch.kernel_state', fromlist=['_'])"
# Started with every kernel: history off, so no cell source outlives its notebook.
KERNEL_ARGS = ["--HistoryManager.enabled=False"]


@dataclass(frozen=True)
class WarmSpec:
    """How a worker's kernel is started and warmed. Frozen and picklable (sent to workers).

    Attributes:
        preload: modules imported once in the kernel before any notebook runs.
        kernel_name: Jupyter kernel spec to start.
        max_notebooks: start a fresh kernel after this many notebooks (defence in depth).
        startup_timeout: seconds to wait for the kernel to answer.
        env: extra environment variables for the kernel process.
        restart_on_threads: start a fresh kernel when a notebook leaves a thread running.
    """

    preload: tuple[str, ...] = DEFAULT_PRELOAD
    kernel_name: str = "python3"
    max_notebooks: int = 200
    startup_timeout: float = 60.0
    env: tuple[tuple[str, str], ...] = ()
    restart_on_threads: bool = True

    @classmethod
    def for_notebooks(cls, notebooks: Iterable[str | Path], **kw: Any) -> WarmSpec:
        """A spec that preloads the defaults plus every module the given templates import."""
        names = list(kw.pop("preload", DEFAULT_PRELOAD))
        for nb in notebooks:
            names += [m for m in notebook_imports(nb) if m not in names]
        return cls(preload=tuple(names), **kw)


def notebook_imports(notebook: str | Path) -> list[str]:
    """Top-level modules a notebook's code cells import (``import x`` / ``from x import y``).

    Why: the warm-up imports exactly what the templates need, so a notebook's own ``import``
    lines become dictionary look-ups. Cells that are not valid Python (magics) are skipped.
    """
    import nbformat

    nb = nbformat.read(str(notebook), as_version=4)
    found: list[str] = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found += [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.append(node.module)
                found += [
                    f"{node.module}.{a.name}"
                    for a in node.names
                    if node.module.startswith("acm_helpers")
                ]
    return [m for m in dict.fromkeys(found) if _importable(m)]


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


# ---------------------------------------------------------------------------------------------
# Host side: the kernel, its dedicated thread, and the papermill engine that uses it.
# ---------------------------------------------------------------------------------------------
@dataclass
class KernelStats:
    """Counters a worker reports (and tests read): how much work the warm kernel did."""

    started: int = 0
    executed: int = 0
    failed: int = 0
    resets: int = 0
    warmup_seconds: float = 0.0
    reset_seconds: float = 0.0
    last_reset: dict = field(default_factory=dict)
    last_after: dict = field(default_factory=dict)


class WarmKernel:
    """One Jupyter kernel kept alive and reused for many notebooks, reset between them.

    Every call into the kernel runs on one private thread that owns the kernel client's event
    loop, so a ``WarmKernel`` may be used from any thread (a process pool's main thread or a
    Dask worker's task threads) without tying ZeroMQ sockets to the caller's loop.

    Example::

        with WarmKernel(WarmSpec.for_notebooks(["notebooks/02_dashboard.ipynb"])) as wk:
            nb = wk.execute("notebooks/02_dashboard.ipynb", {"provider": "harbor"})
    """

    def __init__(self, spec: WarmSpec | None = None, cwd: str | Path | None = None):
        self.spec = spec or WarmSpec()
        self.cwd = Path(cwd or os.getcwd()).resolve()
        self.stats = KernelStats()
        self.km: Any = None
        self.kc: Any = None
        self._since_start = 0
        self._cells_started = False
        self._ipc_dir = ""
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="acm-warm-kernel")

    # -- lifecycle --------------------------------------------------------------------------
    def __enter__(self) -> WarmKernel:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    @property
    def pid(self) -> int | None:
        """Process id of the live kernel (None before start)."""
        proc = getattr(getattr(self.km, "provisioner", None), "process", None)
        return getattr(proc, "pid", None)

    def start(self) -> None:
        """Start the kernel and import the preload modules in it (no-op when already up)."""
        if self.km is None:
            self._call(self._start)

    def shutdown(self) -> None:
        """Stop the kernel and the private thread. Safe to call twice."""
        if self.km is not None:
            self._call(self._stop)
        self._thread.shutdown(wait=True)

    def restart(self) -> None:
        """Replace the kernel with a fresh, warmed one (after a timeout, crash or leftover thread)."""
        self._call(self._restart)

    # -- work -------------------------------------------------------------------------------
    def execute(
        self,
        notebook: str | Path | Any,
        parameters: Mapping[str, Any] | None = None,
        *,
        cwd: str | Path | None = None,
        output_path: str | Path | None = None,
        timeout: float | None = None,
        after: str | None = None,
    ) -> Any:
        """Run one notebook with papermill's parameter injection in the warm kernel.

        Args:
            notebook: path to the template, or an ``nbformat`` notebook.
            parameters: values injected after the ``parameters`` cell, exactly as papermill does.
            cwd: working directory of the notebook's code (default: the worker's directory).
            output_path: also write the executed notebook here (as papermill does, including
                when a cell fails).
            timeout: seconds per cell; a timeout restarts the kernel.
            after: an expression (returning a JSON string) evaluated in the kernel after the
                notebook succeeded and before the reset, while its objects are still there
                (the batch worker writes the packet's appendix from the notebook's packet);
                what it returned is in ``stats.last_after``.

        Returns:
            The executed notebook (``nbformat.NotebookNode``), ready for nbconvert.

        Raises:
            papermill.PapermillExecutionError: a cell raised; the kernel is reset and stays warm.
        """
        self.start()
        return self._call(
            self._execute, notebook, dict(parameters or {}), cwd, output_path, timeout, after
        )

    def _call(self, fn: Any, *args: Any) -> Any:
        return self._thread.submit(fn, *args).result()

    # -- everything below runs on the private thread -----------------------------------------
    def _loop(self) -> Any:
        from jupyter_core.utils import ensure_event_loop

        return ensure_event_loop()

    def _start(self) -> None:
        from jupyter_client.manager import AsyncKernelManager

        t0 = time.perf_counter()
        _register_engine()  # imports papermill here, in the warm-up, not in the first notebook
        # Unix-socket transport in a private folder: no TCP ports on the worker's host, and no
        # "running over TCP without encryption" warning from every kernel.
        self._ipc_dir = tempfile.mkdtemp(prefix="acm-kernel-")
        km = AsyncKernelManager(
            kernel_name=self.spec.kernel_name,
            transport="ipc",
            ip=os.path.join(self._ipc_dir, "k"),
        )
        env = {**os.environ, **dict(self.spec.env)}
        loop = self._loop()
        loop.run_until_complete(
            km.start_kernel(extra_arguments=list(KERNEL_ARGS), cwd=str(self.cwd), env=env)
        )
        kc = km.client()
        kc.start_channels()
        try:
            loop.run_until_complete(kc.wait_for_ready(timeout=self.spec.startup_timeout))
        except RuntimeError as exc:
            loop.run_until_complete(km.shutdown_kernel(now=True))
            shutil.rmtree(self._ipc_dir, ignore_errors=True)
            raise WorkerError(
                f"Kernel {self.spec.kernel_name!r} did not start: {exc}. "
                "Check `jupyter kernelspec list` in this environment."
            ) from exc
        kc.allow_stdin = False
        self.km, self.kc = km, kc
        report = self._kernel_call(
            f"{KERNEL_STATE}.warm({list(self.spec.preload)!r})",
            what="warm-up",
        )
        self.stats.started += 1
        self.stats.warmup_seconds += time.perf_counter() - t0
        self._since_start = 0
        log.debug("warm kernel pid %s ready: %s", self.pid, report)

    def _stop(self) -> None:
        loop = self._loop()
        try:
            self.kc.stop_channels()
            loop.run_until_complete(self.km.shutdown_kernel(now=True))
        finally:
            self.km = self.kc = None
            shutil.rmtree(self._ipc_dir, ignore_errors=True)

    def _restart(self) -> None:
        if self.km is not None:
            self._stop()
        self._start()

    def _execute(
        self,
        notebook: Any,
        parameters: dict,
        cwd: Any,
        output_path: Any,
        timeout: float | None,
        after: str | None = None,
    ) -> Any:
        import papermill
        from papermill.exceptions import PapermillExecutionError

        workdir = str(Path(cwd).resolve()) if cwd is not None else str(self.cwd)
        self._kernel_call(
            f"{KERNEL_STATE}.begin({workdir!r})",
            what="prepare",
        )
        source = str(notebook) if isinstance(notebook, (str, Path)) else notebook
        self.stats.last_reset = {}  # this notebook's reset report replaces it (timings)
        self.stats.last_after = {}
        healthy = False
        self._cells_started = False
        try:
            nb = papermill.execute_notebook(
                source,
                str(output_path) if output_path else None,
                parameters=parameters,
                engine_name=ENGINE_NAME,
                warm_kernel=self,
                kernel_name=self.spec.kernel_name,
                progress_bar=False,
                request_save_on_cell_execute=False,
                execution_timeout=timeout,
            )
            healthy = True
            self.stats.executed += 1
            if after:
                self.stats.last_after = self._kernel_call(after, what="after-notebook call")
            return nb
        except PapermillExecutionError:
            healthy = True  # a cell raised; the kernel itself is fine
            self.stats.failed += 1
            raise
        finally:
            # An error before the first cell (unreadable notebook, bad parameters) leaves the
            # kernel untouched: reset it, no restart.
            healthy = healthy or not self._cells_started
            self._since_start += 1
            self._after(healthy)

    def _after(self, healthy: bool) -> None:
        """Reset the kernel after a notebook, or replace it when a reset cannot be trusted."""
        if healthy:
            t0 = time.perf_counter()
            try:
                report = self._kernel_call(
                    f"{KERNEL_STATE}.reset()",
                    what="reset",
                )
            except WorkerError as exc:
                log.warning("warm kernel reset failed (%s); starting a fresh kernel", exc)
                healthy = False
            else:
                self.stats.resets += 1
                report["reset_wall"] = time.perf_counter() - t0
                self.stats.reset_seconds += report["reset_wall"]
                self.stats.last_reset = report
                if report.get("new_threads") and self.spec.restart_on_threads:
                    log.info(
                        "notebook left threads %s running; starting a fresh kernel",
                        report["new_threads"],
                    )
                    healthy = False
        if not healthy or self._since_start >= self.spec.max_notebooks:
            self._restart()

    def _kernel_call(self, expr: str, what: str) -> dict:
        """Evaluate ``expr`` (which returns a JSON string) in the kernel, outside the history."""
        loop = self._loop()
        try:
            reply = loop.run_until_complete(
                self.kc.execute_interactive(
                    "",
                    silent=True,
                    store_history=False,
                    user_expressions={"r": expr},
                    timeout=self.spec.startup_timeout,
                    output_hook=lambda msg: None,
                )
            )
        except (TimeoutError, RuntimeError) as exc:
            raise WorkerError(f"Warm kernel {what} did not answer: {exc}") from exc
        result = reply["content"].get("user_expressions", {}).get("r", {})
        if reply["content"].get("status") != "ok" or result.get("status") != "ok":
            detail = result.get("evalue") or reply["content"].get("evalue") or result
            raise WorkerError(
                f"Warm kernel {what} failed: {result.get('ename', '')} {detail}. "
                "Check that every preload module imports in this environment."
            )
        return json.loads(ast.literal_eval(result["data"]["text/plain"]))


@functools.cache
def _register_engine() -> None:
    """Register the ``acm_warm`` papermill engine once per process."""
    from papermill.clientwrap import PapermillNotebookClient
    from papermill.engines import NBClientEngine, papermill_engines
    from papermill.utils import merge_kwargs, remove_args

    class WarmEngine(NBClientEngine):
        """papermill's nbclient engine, pointed at an existing kernel instead of a new one."""

        @classmethod
        def execute_managed_notebook(
            cls,
            nb_man,
            kernel_name,
            log_output=False,
            stdout_file=None,
            stderr_file=None,
            start_timeout=60,
            execution_timeout=None,
            warm_kernel=None,
            **kwargs,
        ):
            kwargs = remove_args(["input_path", "timeout", "startup_timeout"], **kwargs)
            final = merge_kwargs(
                kwargs,
                timeout=execution_timeout,
                startup_timeout=start_timeout,
                kernel_name=kernel_name,
                log=logging.getLogger("papermill"),
                log_output=log_output,
                stdout_file=stdout_file,
                stderr_file=stderr_file,
            )
            client = PapermillNotebookClient(nb_man, km=warm_kernel.km, **final)
            client.kc = warm_kernel.kc  # owns_km is False: nbclient leaves kernel and client up
            warm_kernel._cells_started = True
            return client.execute()

    papermill_engines.register(ENGINE_NAME, WarmEngine)


# ---------------------------------------------------------------------------------------------
# Per-process kernels for pools (local process pool or Dask workers).
# ---------------------------------------------------------------------------------------------
_PROCESS_KERNELS: dict[WarmSpec, WarmKernel] = {}
_PROCESS_LOCK = threading.Lock()


def process_kernel(spec: WarmSpec, cwd: str | Path | None = None) -> WarmKernel:
    """This process's warm kernel for ``spec``, started on first use and stopped at exit.

    Why a per-process singleton: pool workers (and Dask workers) receive one job at a time but
    live for the whole run; the kernel is paid for once per worker, not per packet.
    """
    with _PROCESS_LOCK:
        wk = _PROCESS_KERNELS.get(spec)
        if wk is None:
            wk = _PROCESS_KERNELS[spec] = WarmKernel(spec, cwd=cwd)
            wk.start()
            at_exit(wk.shutdown)
        return wk


def shutdown_process_kernels() -> None:
    """Stop every warm kernel this process started (pool finalizer, Dask worker teardown)."""
    with _PROCESS_LOCK:
        kernels = list(_PROCESS_KERNELS.values())
        _PROCESS_KERNELS.clear()
    for wk in kernels:
        wk.shutdown()


def at_exit(fn: Any) -> None:
    """Call ``fn`` when this process ends, pool workers included (the warm kernels, the
    notebook servers of :mod:`acm_helpers.batch.forked`)."""
    # multiprocessing workers leave through os._exit, which skips atexit; Finalize runs there.
    import atexit
    import multiprocessing.util

    atexit.register(fn)
    multiprocessing.util.Finalize(None, fn, exitpriority=10)


def execute_warm(
    notebook: str | Path,
    parameters: Mapping[str, Any],
    spec: WarmSpec,
    cwd: str | Path | None = None,
    output_path: str | Path | None = None,
    timeout: float | None = None,
) -> Any:
    """Execute one notebook in this process's warm kernel for ``spec`` (what pool workers call)."""
    return process_kernel(spec).execute(
        notebook, parameters, cwd=cwd, output_path=output_path, timeout=timeout
    )


@dataclass(frozen=True)
class WarmExecutor:
    """A notebook executor (``report.Executor``: ``(template, parameters, cwd) -> notebook``) that
    runs in this process's warm kernel.

    Why a small frozen object: it is pickled to pool workers and Dask workers with each job, and
    each worker process maps it to its own long-lived kernel through :func:`process_kernel`.
    """

    spec: WarmSpec = WarmSpec()
    timeout: float | None = None
    after: str | None = None
    """Evaluated in the kernel after each notebook, before the reset (:meth:`WarmKernel.execute`);
    the batch worker sets it per job (``dataclasses.replace``) to write the job's appendix."""

    def __call__(
        self, template: str | Path, parameters: Mapping[str, Any], cwd: str | Path | None = None
    ) -> Any:
        return process_kernel(self.spec).execute(
            template, parameters, cwd=cwd, timeout=self.timeout, after=self.after
        )

    def last_after(self) -> dict:
        """What :attr:`after` returned for this process's last notebook (empty when none ran)."""
        with _PROCESS_LOCK:
            wk = _PROCESS_KERNELS.get(self.spec)
        return dict(wk.stats.last_after) if wk is not None else {}

    def last_reset(self) -> dict:
        """What the reset after this process's last notebook reported: its wall and CPU seconds
        (``reset_wall``, ``reset_cpu``) and the kernel's CPU seconds for the notebook itself
        (``notebook_cpu``), for the packet's cost breakdown."""
        with _PROCESS_LOCK:
            wk = _PROCESS_KERNELS.get(self.spec)
        return dict(wk.stats.last_reset) if wk is not None else {}

    @classmethod
    def for_notebooks(cls, notebooks: Iterable[str | Path], **kw: Any) -> WarmExecutor:
        """An executor whose kernels preload what the given templates import."""
        timeout = kw.pop("timeout", None)
        return cls(WarmSpec.for_notebooks(notebooks, **kw), timeout=timeout)
