"""Kernel-side state of a warm worker: the warm-up snapshot and the reset between notebooks.

This module runs inside the warm Jupyter kernel (``acm_helpers.batch.kernels`` calls :func:`warm`,
:func:`begin` and :func:`reset` there), never in the host process, so it imports the standard
library only.

Isolation contract (what "no data survives" means). After every notebook the kernel returns to
the state it had right after the warm-up imports:

- the user namespace, ``In``/``Out`` and ``_``/``__`` caches, and the execution counter
  (IPython ``reset(new_session=True)``; history is never written, not even in memory), plus the
  last exception and its traceback (``sys.last_*``, which hold the failing frame's variables);
- module state: every module imported after the warm-up from outside the Python installation
  (``acm_helpers`` and project code) is dropped from ``sys.modules`` (``acm_helpers`` modules
  are then imported again, clean, and kept warm for later notebooks); every warm project
  module gets its globals back (added names deleted, rebound names restored, module-level
  dicts, lists and sets restored in place) and every ``functools`` cache on it cleared;
- library state that shapes output: pandas options, altair renderer, data transformer and
  theme, IPython display formatters, event callbacks, magics and AST transformers, open
  ipywidgets, matplotlib figures and rcParams (when loaded), ``random`` and NumPy's global
  random state (so a notebook's output does not depend on which notebook ran before it);
- process state: working directory, ``sys.path``, ``os.environ``, builtins, warning filters
  and the root logger's handlers and level.

Not covered, and handled by the host starting a new kernel instead: threads a notebook leaves
running (reported by :func:`reset`; helper threads of pyzmq, tqdm and ipykernel excepted),
state inside C extensions, and files written to disk
(packets write only under their own output folder).
"""

from __future__ import annotations

import copy
import gc
import importlib
import json
import logging
import os
import random
import sys
import threading
import warnings
from typing import Any

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
    return not in_installation(path)


def in_installation(path: str) -> bool:
    """True for a file inside the Python installation (the standard library, site-packages)."""
    roots = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    real = os.path.realpath(path)
    return any(real.startswith(r + os.sep) for r in roots)


def _module_snapshot(mod: Any) -> tuple[dict, dict]:
    names = dict(vars(mod))
    containers = {k: copy.copy(v) for k, v in names.items() if type(v) in _CONTAINERS}
    return names, containers


def warm(preload: list[str]) -> str:
    """Import the preload modules, then record the state every reset returns to."""
    from acm_helpers.core import imports

    imports.skip_unused()  # jsonschema's IRI grammars: half of a kernel's warm-up, never used
    imported = []
    for name in preload:
        __import__(name)
        imported.append(name)
    _prime_vl_convert()
    shell = _shell()
    if shell is not None:
        shell.reset(new_session=True)
    _take_baseline(threads={t.ident for t in threading.enumerate()})
    __import__("atexit").register(gc.unfreeze)  # let the interpreter's exit collect them again
    return json.dumps(
        {
            "preloaded": imported,
            "modules": len(_BASELINE["modules"]),
            "project_modules": sorted(_BASELINE["project"]),
        }
    )


def _take_baseline(threads: set[int]) -> None:
    """Record the current (clean) state as the one every reset returns to, then freeze it."""
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
    b["threads"] = set(threads)
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
    gc.collect()
    gc.freeze()  # baseline objects are permanent: each reset's collection scans only new objects


def _prime_vl_convert() -> None:
    """Start vl-convert's JavaScript engine now, not in the first notebook (holds no data)."""
    if sys.modules.get("vl_convert") is not None:
        from acm_helpers.views import vega_svg

        vega_svg.start()  # and its font database: vl-convert's own fonts (views.vega_svg)


def begin(cwd: str) -> str:
    """Move into the notebook's working directory before its first cell (and start the clock
    of the notebook's CPU seconds, which :func:`reset` reports)."""
    import time

    os.chdir(cwd)
    _NOTEBOOK_CPU[:] = [time.process_time()]
    return json.dumps({"cwd": cwd})


_NOTEBOOK_CPU: list[float] = []  # process CPU seconds when the running notebook began


def reset() -> str:
    """Return the kernel to its warm-up state; report what had to be undone."""
    import time

    b = _BASELINE
    if not b:
        raise RuntimeError("warm kernel has no baseline; warm() was not run")
    cpu0 = time.process_time()
    report: dict[str, Any] = {
        "notebook_cpu": cpu0 - _NOTEBOOK_CPU[0] if _NOTEBOOK_CPU else None,
    }
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
    new = [t for t in threading.enumerate() if t.ident not in b["threads"] and t.is_alive()]
    library = [t for t in new if _library_thread(t)]
    b["threads"] |= {t.ident for t in library}
    report["library_threads"] = sorted(t.name for t in library)
    report["new_threads"] = sorted(t.name for t in new if t not in library)

    # Package modules the notebook imported lazily: import them again, clean, and keep them warm
    # for the next notebooks (their state is import-time state, as in a fresh kernel).
    adopt = sorted(n for n in purged if n.startswith("acm_helpers."))
    if adopt:
        for n in adopt:
            importlib.import_module(n)
        _take_baseline(threads=b["threads"])
    report["adopted_modules"] = adopt
    report["reset_cpu"] = time.process_time() - cpu0
    return json.dumps(report)


# Helper threads libraries start once and keep (pyzmq's garbage collector for zero-copy sends,
# tqdm's monitor, ipykernel's own); they hold no notebook data.
LIBRARY_THREAD_MODULES = ("zmq.", "ipykernel.", "tqdm.")


def _library_thread(t: threading.Thread) -> bool:
    owner = getattr(getattr(t, "_target", None), "__module__", None) or type(t).__module__
    return owner.startswith(LIBRARY_THREAD_MODULES)


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
