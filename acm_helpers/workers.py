"""Warm notebook workers: one live Jupyter kernel per worker process, reused for many packets.

Why: a packet notebook does little work of its own (the engine has already computed every
number), so most of a naive run's time goes to starting a Python kernel and importing pandas,
altair and ``acm_helpers`` again for every provider. A :class:`WarmKernel` starts one kernel,
imports the heavy modules once, then executes many papermill-parameterized notebooks in it.

Isolation contract (what "no data survives" means here). After every notebook the kernel is
reset to the state it had right after the warm-up imports:

- the user namespace, ``In``/``Out`` and ``_``/``__`` caches, and the execution counter
  (IPython ``reset(new_session=True)``; history is never written, not even in memory), plus the
  last exception and its traceback (``sys.last_*``, which hold the failing frame's variables);
- module state: every module imported after the warm-up from outside the Python installation
  (``acm_helpers`` and project code) is dropped from ``sys.modules``; every warm project module
  gets its globals back (added names deleted, rebound names restored, module-level dicts, lists
  and sets restored in place) and every ``functools`` cache on it cleared;
- library state that shapes output: pandas options, altair renderer, data transformer and
  theme, IPython display formatters, event callbacks and magics, open ipywidgets, matplotlib
  figures and rcParams (when loaded), ``random`` and NumPy's global random state;
- process state: working directory, ``sys.path``, ``os.environ``, builtins, warning filters
  and the root logger's handlers and level.

What a reset cannot undo is handled by starting a new kernel instead: a notebook that leaves a
thread running, a failed cell timeout, a dead kernel, or a failed reset. The kernel is also
recycled every ``max_notebooks`` notebooks. Files a notebook writes are not undone; packets
write only under their own output folder. Displayed outputs cannot leak: each notebook gets its
own client, which keeps only messages whose parent is one of its own cells.

The module is imported inside the kernel too (its ``_kernel_*`` functions run there), so its
top-level imports are the standard library only.
"""

from __future__ import annotations

import ast
import copy
import functools
import gc
import importlib.util
import json
import logging
import os
import random
import sys
import threading
import time
import warnings
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from acm_helpers.exceptions import RunError

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
# Started with every kernel: history off, so no cell source outlives its notebook.
KERNEL_ARGS = ["--HistoryManager.enabled=False"]


class WorkerError(RunError):
    """A warm kernel could not be started, warmed up or reset."""


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
    ) -> Any:
        """Run one notebook with papermill's parameter injection in the warm kernel.

        Args:
            notebook: path to the template, or an ``nbformat`` notebook.
            parameters: values injected after the ``parameters`` cell, exactly as papermill does.
            cwd: working directory of the notebook's code (default: the worker's directory).
            output_path: also write the executed notebook here (as papermill does, including
                when a cell fails).
            timeout: seconds per cell; a timeout restarts the kernel.

        Returns:
            The executed notebook (``nbformat.NotebookNode``), ready for nbconvert.

        Raises:
            papermill.PapermillExecutionError: a cell raised; the kernel is reset and stays warm.
        """
        self.start()
        return self._call(
            self._execute, notebook, dict(parameters or {}), cwd, output_path, timeout
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
        km = AsyncKernelManager(kernel_name=self.spec.kernel_name)
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
            raise WorkerError(
                f"Kernel {self.spec.kernel_name!r} did not start: {exc}. "
                "Check `jupyter kernelspec list` in this environment."
            ) from exc
        kc.allow_stdin = False
        self.km, self.kc = km, kc
        report = self._kernel_call(
            f"__import__('acm_helpers.workers', fromlist=['_'])._kernel_warm({list(self.spec.preload)!r})",
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

    def _restart(self) -> None:
        if self.km is not None:
            self._stop()
        self._start()

    def _execute(
        self, notebook: Any, parameters: dict, cwd: Any, output_path: Any, timeout: float | None
    ) -> Any:
        import papermill
        from papermill.exceptions import PapermillExecutionError

        workdir = str(Path(cwd).resolve()) if cwd is not None else str(self.cwd)
        self._kernel_call(
            f"__import__('acm_helpers.workers', fromlist=['_'])._kernel_begin({workdir!r})",
            what="prepare",
        )
        source = str(notebook) if isinstance(notebook, (str, Path)) else notebook
        healthy = False
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
            return nb
        except PapermillExecutionError:
            healthy = True  # a cell raised; the kernel itself is fine
            self.stats.failed += 1
            raise
        finally:
            self._since_start += 1
            self._after(healthy)

    def _after(self, healthy: bool) -> None:
        """Reset the kernel after a notebook, or replace it when a reset cannot be trusted."""
        if healthy:
            t0 = time.perf_counter()
            try:
                report = self._kernel_call(
                    "__import__('acm_helpers.workers', fromlist=['_'])._kernel_reset()",
                    what="reset",
                )
            except WorkerError as exc:
                log.warning("warm kernel reset failed (%s); starting a fresh kernel", exc)
                healthy = False
            else:
                self.stats.resets += 1
                self.stats.reset_seconds += time.perf_counter() - t0
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
            _at_exit(wk.shutdown)
        return wk


def shutdown_process_kernels() -> None:
    """Stop every warm kernel this process started (pool finalizer, Dask worker teardown)."""
    with _PROCESS_LOCK:
        kernels = list(_PROCESS_KERNELS.values())
        _PROCESS_KERNELS.clear()
    for wk in kernels:
        wk.shutdown()


def _at_exit(fn: Any) -> None:
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
    """Execute one notebook in this process's warm kernel (the function pool workers call)."""
    return process_kernel(spec, cwd).execute(
        notebook, parameters, cwd=cwd, output_path=output_path, timeout=timeout
    )


def execute_fresh(
    notebook: str | Path,
    parameters: Mapping[str, Any],
    cwd: str | Path | None = None,
    output_path: str | Path | None = None,
    timeout: float | None = None,
    kernel_name: str = "python3",
) -> Any:
    """Execute one notebook with plain papermill in a new kernel (the default, cold path)."""
    import papermill

    return papermill.execute_notebook(
        str(notebook),
        str(output_path) if output_path else None,
        parameters=dict(parameters),
        kernel_name=kernel_name,
        progress_bar=False,
        request_save_on_cell_execute=False,
        execution_timeout=timeout,
        cwd=str(cwd) if cwd else None,
    )


# ---------------------------------------------------------------------------------------------
# Kernel side: runs inside the warm kernel, never in the host process.
# ---------------------------------------------------------------------------------------------
_BASELINE: dict[str, Any] = {}
_CONTAINERS = (dict, list, set)


def _is_project_module(mod: Any) -> bool:
    """True for modules from outside the Python installation (acm_helpers, project code)."""
    name = getattr(mod, "__name__", "")
    if name == __name__:
        return False
    if name == "acm_helpers" or name.startswith("acm_helpers."):
        return True
    path = getattr(mod, "__file__", None)
    if not path:
        return False
    roots = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    real = os.path.realpath(path)
    return not any(real.startswith(r + os.sep) for r in roots)


def _module_snapshot(mod: Any) -> tuple[dict, dict]:
    names = dict(vars(mod))
    containers = {k: copy.copy(v) for k, v in names.items() if type(v) in _CONTAINERS}
    return names, containers


def _kernel_warm(preload: list[str]) -> str:
    """Import the preload modules, then record the state every reset returns to."""
    imported = []
    for name in preload:
        __import__(name)
        imported.append(name)
    gc.collect()
    shell = _shell()
    b = _BASELINE
    b.clear()
    b["modules"] = set(sys.modules)
    b["project"] = {
        n: _module_snapshot(m)
        for n, m in list(sys.modules.items())
        if m is not None and _is_project_module(m)
    }
    b["cwd"] = os.getcwd()
    b["sys_path"] = list(sys.path)
    b["environ"] = dict(os.environ)
    b["builtins"] = dict(vars(__import__("builtins")))
    b["warnings"] = list(warnings.filters)
    root = logging.getLogger()
    b["logging"] = (list(root.handlers), root.level)
    b["random"] = random.getstate()
    b["threads"] = {t.ident for t in threading.enumerate()}
    b["pandas"] = _pandas_options()
    b["altair"] = _altair_registries()
    if "numpy" in sys.modules:
        b["numpy_random"] = sys.modules["numpy"].random.get_state()
    if "matplotlib" in sys.modules:
        b["rcparams"] = copy.deepcopy(dict(sys.modules["matplotlib"].rcParams))
    if shell is not None:
        fmt = shell.display_formatter.formatters
        b["formatters"] = {
            k: (dict(f.type_printers), dict(f.deferred_printers), f.enabled) for k, f in fmt.items()
        }
        b["events"] = {k: list(v) for k, v in shell.events.callbacks.items()}
        b["magics"] = {k: dict(v) for k, v in shell.magics_manager.magics.items()}
        b["ast_transformers"] = list(shell.ast_transformers)
        b["input_transformers"] = list(shell.input_transformers_post)
        shell.reset(new_session=True)
    gc.collect()
    gc.freeze()  # warm-up objects are permanent: each reset's collection scans only new objects
    __import__("atexit").register(gc.unfreeze)  # let the interpreter's exit collect them again
    return json.dumps(
        {
            "preloaded": imported,
            "modules": len(b["modules"]),
            "project_modules": sorted(b["project"]),
        }
    )


def _kernel_begin(cwd: str) -> str:
    """Move into the notebook's working directory before its first cell."""
    os.chdir(cwd)
    return json.dumps({"cwd": cwd})


def _kernel_reset() -> str:
    """Return the kernel to its warm-up state; report what had to be undone."""
    b = _BASELINE
    if not b:
        raise RuntimeError("warm kernel has no baseline; _kernel_warm was not run")
    report: dict[str, Any] = {}
    shell = _shell()
    if shell is not None:
        shell.reset(new_session=True)
        for k, (types, deferred, enabled) in b["formatters"].items():
            f = shell.display_formatter.formatters.get(k)
            if f is not None:
                f.type_printers.clear()
                f.type_printers.update(types)
                f.deferred_printers.clear()
                f.deferred_printers.update(deferred)
                f.enabled = enabled
        for k, v in b["events"].items():
            shell.events.callbacks[k][:] = v
        for k, v in b["magics"].items():
            shell.magics_manager.magics[k].clear()
            shell.magics_manager.magics[k].update(v)
        shell.ast_transformers[:] = b["ast_transformers"]
        shell.input_transformers_post[:] = b["input_transformers"]
    for name in ("last_type", "last_value", "last_traceback", "last_exc"):
        if hasattr(sys, name):
            delattr(sys, name)
    report["widgets_closed"] = _close_widgets()
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")
    if "rcparams" in b:
        sys.modules["matplotlib"].rcParams.update(b["rcparams"])

    # Modules: drop project modules imported after the warm-up, restore the warm ones.
    purged = [
        n
        for n, m in list(sys.modules.items())
        if n not in b["modules"] and m is not None and _is_project_module(m)
    ]
    for n in purged:
        del sys.modules[n]
    report["purged_modules"] = purged
    restored = cleared = 0
    for n, (names, containers) in b["project"].items():
        mod = sys.modules.get(n)
        if mod is None:
            continue
        d = vars(mod)
        for k in [k for k in d if k not in names]:
            del d[k]
            restored += 1
        for k, v in names.items():
            if d.get(k, _MISSING) is not v:
                d[k] = v
                restored += 1
            if k in containers:
                _restore_container(v, containers[k])
            cleared += _clear_caches(v)
    report["globals_restored"], report["caches_cleared"] = restored, cleared

    # Libraries and process state.
    _restore_pandas(b["pandas"])
    _restore_altair(b["altair"])
    os.chdir(b["cwd"])
    sys.path[:] = b["sys_path"]
    if dict(os.environ) != b["environ"]:
        for k in [k for k in os.environ if k not in b["environ"]]:
            del os.environ[k]
        os.environ.update(b["environ"])
    bi = vars(__import__("builtins"))
    for k in [k for k in bi if k not in b["builtins"]]:
        del bi[k]
    bi.update(b["builtins"])
    warnings.filters[:] = b["warnings"]
    warnings._filters_mutated()  # type: ignore[attr-defined]
    root = logging.getLogger()
    root.handlers[:] = b["logging"][0]
    root.setLevel(b["logging"][1])
    random.setstate(b["random"])
    if "numpy_random" in b:
        sys.modules["numpy"].random.set_state(b["numpy_random"])
    gc.collect()
    report["new_threads"] = sorted(
        t.name for t in threading.enumerate() if t.ident not in b["threads"] and t.is_alive()
    )
    return json.dumps(report)


_MISSING = object()


def _shell() -> Any:
    ipython = sys.modules.get("IPython")
    return ipython.get_ipython() if ipython is not None else None


def _restore_container(obj: Any, saved: Any) -> None:
    if isinstance(obj, dict):
        obj.clear()
        obj.update(saved)
    elif isinstance(obj, list):
        obj[:] = saved
    elif isinstance(obj, set):
        obj.clear()
        obj.update(saved)


def _clear_caches(obj: Any) -> int:
    """Clear ``functools`` caches on a module global (a cached function or a class's methods)."""
    n = 0
    if callable(getattr(obj, "cache_clear", None)):
        obj.cache_clear()
        n += 1
    if isinstance(obj, type):
        for attr in vars(obj).values():
            target = attr.__func__ if isinstance(attr, (staticmethod, classmethod)) else attr
            if callable(getattr(target, "cache_clear", None)):
                target.cache_clear()
                n += 1
    return n


def _close_widgets() -> int:
    widgets = sys.modules.get("ipywidgets")
    if widgets is None:
        return 0
    registry = getattr(sys.modules.get("ipywidgets.widgets.widget"), "_instances", {})
    n = len(registry)
    widgets.Widget.close_all()
    return n


def _pandas_options() -> dict:
    if "pandas" not in sys.modules:
        return {}
    cfg = sys.modules["pandas"]._config.config
    keys = [
        k
        for k in getattr(cfg, "_registered_options", {})
        if k not in getattr(cfg, "_deprecated_options", {})
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {k: cfg.get_option(k) for k in keys}


def _restore_pandas(saved: dict) -> None:
    if not saved:
        return
    cfg = sys.modules["pandas"]._config.config
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for k, v in saved.items():
            if cfg.get_option(k) != v:
                cfg.set_option(k, v)


def _altair_registries() -> dict:
    alt = sys.modules.get("altair")
    if alt is None:
        return {}
    regs = {
        "renderers": alt.renderers,
        "data_transformers": alt.data_transformers,
        "theme": alt.theme,
    }
    return {k: (r.active, dict(r.options)) for k, r in regs.items()}


def _restore_altair(saved: dict) -> None:
    alt = sys.modules.get("altair")
    if alt is None or not saved:
        return
    regs = {
        "renderers": alt.renderers,
        "data_transformers": alt.data_transformers,
        "theme": alt.theme,
    }
    for k, (active, options) in saved.items():
        reg = regs[k]
        if reg.active != active or dict(reg.options) != options:
            reg.enable(active, **options)
