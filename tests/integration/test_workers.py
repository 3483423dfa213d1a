"""Warm kernel workers: notebooks run in one live kernel, and nothing of one provider's notebook
is visible to the next (variables, module caches, options, displayed outputs, process state).

The isolation test runs provider B's probe notebook first (right after the warm-up, i.e. what a
fresh kernel shows), then provider A's notebook that leaves traces everywhere it can, then B's
probe again: the two B runs must be identical and contain nothing of A.
"""

from __future__ import annotations

import json
import os

import pytest
from papermill.exceptions import PapermillExecutionError
from test_kernel_imports import make_notebook  # tests/unit, on the path (conftest.py)

from acm_helpers.batch.kernels import DEFAULT_PRELOAD, WarmKernel, WarmSpec

SECRET = "SECRET-alpha-client-C0042"
PACKAGE_ROOT = os.path.dirname(os.path.dirname(__import__("acm_helpers").__file__))


PROBE_MODULE = """
import functools
CACHE = {}
SEEN = []

@functools.lru_cache(maxsize=None)
def load(provider):
    return f"rows-of-{provider}"
"""

# Provider A: leaves a trace in every place a later notebook could look.
LEAKY_CELLS = [
    """
    import builtins, logging, os, random, sys, warnings
    import numpy as np
    import pandas as pd
    import altair as alt
    import acm_probe, acm_probe_late
    import acm_helpers.core.config as cfg
    secret = f"SECRET-{provider}-client-C0042"
    frame = pd.DataFrame({"client_id": ["C0042"], "provider": [provider]})
    """,
    """
    acm_probe.CACHE[provider] = secret
    acm_probe.SEEN.append(secret)
    acm_probe.load(provider)
    acm_probe.LEFT_BEHIND = secret
    acm_probe_late.STATE = secret
    cfg._leaked = frame
    builtins.LEAKED = secret
    """,
    """
    pd.set_option("display.max_rows", 3)
    alt.data_transformers.disable_max_rows()
    alt.theme.enable("dark")
    os.environ["ACM_LEAK"] = secret
    sys.path.append("/leak/" + provider)
    os.chdir("/")
    random.seed(provider)
    np.random.seed(7)
    warnings.simplefilter("ignore")
    logging.getLogger().addHandler(logging.StreamHandler())
    get_ipython().display_formatter.formatters["text/plain"].for_type(int, lambda n, p, c: p.text(secret))
    get_ipython().events.register("post_run_cell", lambda *a: print(secret))
    """,
    """
    display(frame)
    secret
    """,
]

# Provider B: reports everything it can see; no trace of A may appear in it.
PROBE_CELLS = [
    """
    import builtins, json, logging, os, random, sys, warnings
    import numpy as np
    import pandas as pd
    import altair as alt
    import acm_probe
    import acm_helpers.core.config as cfg
    """,
    """
    seen = {
        "globals": sorted(globals()),
        "in_history": len(In),
        "out_cache": sorted(Out),
        "probe_cache": acm_probe.CACHE,
        "probe_seen": acm_probe.SEEN,
        "probe_attrs": sorted(k for k in vars(acm_probe) if not k.startswith("__")),
        "probe_lru": list(acm_probe.load.cache_info()),
        "late_module_loaded": "acm_probe_late" in sys.modules,
        "config_attrs": sorted(k for k in vars(cfg) if "leak" in k),
        "builtins_leak": hasattr(builtins, "LEAKED"),
        "last_exception": repr(getattr(sys, "last_value", None)),
        "max_rows": pd.get_option("display.max_rows"),
        "altair": [alt.data_transformers.active, alt.data_transformers.options, alt.theme.active],
        "env": os.environ.get("ACM_LEAK"),
        "leak_paths": [p for p in sys.path if p.startswith("/leak")],
        "cwd_is_root": os.getcwd() == "/",
        "random": random.random(),
        "np_random": float(np.random.random()),
        "warning_filters": len(warnings.filters),
        "log_handlers": len(logging.getLogger().handlers),
        "post_run_cell": len(get_ipython().events.callbacks["post_run_cell"]),
    }
    print(json.dumps(seen, sort_keys=True, default=str))
    """,
    "12345",
]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    root = tmp_path_factory.mktemp("warm")
    (root / "acm_probe.py").write_text(PROBE_MODULE)
    (root / "acm_probe_late.py").write_text("STATE = None\n")
    make_notebook(root / "leaky.ipynb", *LEAKY_CELLS)
    make_notebook(root / "probe.ipynb", *PROBE_CELLS)
    make_notebook(root / "fails.ipynb", "secret = f'SECRET-{provider}'\nraise ValueError(secret)")
    make_notebook(
        root / "thread.ipynb",
        "import threading, time\nthreading.Thread(target=time.sleep, args=(60,), daemon=True).start()",
    )
    make_notebook(root / "slow.ipynb", "import time\ntime.sleep(30)")
    make_notebook(root / "hello.ipynb", "print(f'hello {provider}')")
    return root


@pytest.fixture(scope="module")
def kernel(workdir):
    spec = WarmSpec(
        preload=(*DEFAULT_PRELOAD, "acm_helpers.core.config", "acm_probe"),
        # the probe modules, then the tree these tests import acm_helpers from (not another
        # checkout installed in the environment)
        env=(("PYTHONPATH", os.pathsep.join([str(workdir), PACKAGE_ROOT])),),
    )
    with WarmKernel(spec, cwd=workdir) as wk:
        yield wk


def outputs_of(nb) -> list:
    """Code cells' outputs and execution counts (run metadata such as timings left out)."""
    return [(c.get("execution_count"), c.get("outputs")) for c in nb.cells if c.cell_type == "code"]


def probe_report(nb) -> dict:
    text = "".join(o.get("text", "") for o in nb.cells[4].outputs if o.output_type == "stream")
    return json.loads(text)


def test_no_data_from_one_provider_survives_into_the_next(kernel, workdir):
    first_b = kernel.execute(workdir / "probe.ipynb", {"provider": "beta"})
    pid = kernel.pid
    leaky = kernel.execute(workdir / "leaky.ipynb", {"provider": "alpha"})
    assert SECRET in json.dumps(leaky)  # A really ran and left its traces
    assert kernel.stats.last_reset["purged_modules"] == ["acm_probe_late"]
    assert kernel.stats.last_reset["globals_restored"] >= 2  # acm_probe.LEFT_BEHIND, cfg._leaked
    assert kernel.stats.last_reset["caches_cleared"] >= 1  # acm_probe.load
    second_b = kernel.execute(workdir / "probe.ipynb", {"provider": "beta"})

    assert kernel.pid == pid  # same warm kernel throughout: isolation came from the reset
    assert "alpha" not in json.dumps(second_b) and "C0042" not in json.dumps(second_b)
    assert outputs_of(second_b) == outputs_of(first_b)  # identical to what a fresh kernel shows
    seen = probe_report(second_b)
    assert seen["probe_cache"] == {} and seen["probe_seen"] == []
    assert seen["probe_attrs"] == ["CACHE", "SEEN", "functools", "load"]
    assert seen["probe_lru"] == [0, 0, None, 0]  # hits, misses, maxsize, currsize
    assert seen["late_module_loaded"] is False
    assert seen["config_attrs"] == [] and seen["builtins_leak"] is False
    assert seen["max_rows"] == 60
    assert seen["altair"] == ["default", {}, "default"]
    assert seen["env"] is None and seen["leak_paths"] == [] and seen["cwd_is_root"] is False
    assert seen["post_run_cell"] == probe_report(first_b)["post_run_cell"]
    # the user namespace holds only what B defined plus IPython's own names
    user = [k for k in seen["globals"] if not k.startswith("_")]
    assert user == sorted(
        [
            "In",
            "Out",
            "alt",
            "builtins",
            "cfg",
            "acm_probe",
            "exit",
            "get_ipython",
            "json",
            "logging",
            "np",
            "open",
            "os",
            "pd",
            "period",
            "provider",
            "quit",
            "random",
            "sys",
            "warnings",
        ]
    )
    # B's last cell shows an int with the default formatter, not A's custom one
    assert second_b.cells[5].outputs[0]["data"]["text/plain"] == "12345"


def test_failing_cell_keeps_kernel_warm_and_leaves_no_traceback(kernel, workdir):
    pid = kernel.pid
    with pytest.raises(PapermillExecutionError) as err:
        kernel.execute(workdir / "fails.ipynb", {"provider": "alpha"})
    assert err.value.ename == "ValueError" and "SECRET-alpha" in err.value.evalue
    after = kernel.execute(workdir / "probe.ipynb", {"provider": "beta"})
    assert kernel.pid == pid
    assert probe_report(after)["last_exception"] == "None"
    assert "SECRET-alpha" not in json.dumps(after)


def test_leftover_thread_gets_a_fresh_kernel(kernel, workdir):
    pid, started = kernel.pid, kernel.stats.started
    kernel.execute(workdir / "thread.ipynb", {"provider": "alpha"})
    assert kernel.stats.started == started + 1 and kernel.pid != pid
    nb = kernel.execute(workdir / "hello.ipynb", {"provider": "beta"})
    assert nb.cells[3].outputs[0]["text"] == "hello beta\n"


def test_cell_timeout_restarts_the_kernel(kernel, workdir):
    pid = kernel.pid
    with pytest.raises(Exception, match="(?i)timed out|timeout"):
        kernel.execute(workdir / "slow.ipynb", {"provider": "alpha"}, timeout=2)
    assert kernel.pid != pid
    nb = kernel.execute(workdir / "hello.ipynb", {"provider": "gamma"})
    assert nb.cells[3].outputs[0]["text"] == "hello gamma\n"


def test_parameters_are_injected_like_papermill(kernel, workdir):
    nb = kernel.execute(workdir / "hello.ipynb", {"provider": "delta", "period": "2026-09"})
    injected = nb.cells[2]
    assert "injected-parameters" in injected.metadata.tags
    assert 'provider = "delta"' in injected.source and 'period = "2026-09"' in injected.source
    assert nb.metadata.papermill.parameters == {"provider": "delta", "period": "2026-09"}
    assert [c.get("execution_count") for c in nb.cells if c.cell_type == "code"] == [1, 2, 3]


def test_unreadable_notebook_does_not_cost_a_kernel(kernel, workdir):
    pid, started = kernel.pid, kernel.stats.started
    with pytest.raises(FileNotFoundError):
        kernel.execute(workdir / "no-such.ipynb", {"provider": "alpha"})
    assert kernel.pid == pid and kernel.stats.started == started


def test_package_modules_imported_by_a_notebook_are_reimported_clean_and_kept(kernel, workdir):
    make_notebook(
        workdir / "lazy.ipynb",
        "import acm_helpers.batch.incremental as inc\ninc._leaked = f'SECRET-{provider}'\ninc.NOT_READ = None",
    )
    make_notebook(
        workdir / "lazy_probe.ipynb",
        "import sys\nm = sys.modules.get('acm_helpers.batch.incremental')\n"
        "print(m is not None, hasattr(m, '_leaked'), sorted(m.NOT_READ))",
    )
    kernel.execute(workdir / "lazy.ipynb", {"provider": "alpha"})
    # incremental and what it imports (store and its memory limits; core.schema is already in
    # the warm baseline, through core.config), imported again clean after the reset
    assert kernel.stats.last_reset["adopted_modules"] == [
        "acm_helpers.batch.incremental",
        "acm_helpers.store",
        "acm_helpers.store.limits",
        "acm_helpers.store.store",
    ]
    nb = kernel.execute(workdir / "lazy_probe.ipynb", {"provider": "beta"})
    assert kernel.stats.last_reset["adopted_modules"] == []  # now part of the warm baseline
    text = nb.cells[3].outputs[0]["text"]
    assert text == "True False ['episodes', 'episodes_submitted', 'quarantine']\n"


def test_a_dead_kernel_is_replaced(kernel, workdir):
    make_notebook(workdir / "dies.ipynb", "import os\nos._exit(1)")
    pid, started = kernel.pid, kernel.stats.started
    with pytest.raises(Exception, match="(?i)dead|died|kernel"):
        kernel.execute(workdir / "dies.ipynb", {"provider": "alpha"})
    assert kernel.stats.started == started + 1 and kernel.pid != pid
    nb = kernel.execute(workdir / "hello.ipynb", {"provider": "omega"})
    assert nb.cells[3].outputs[0]["text"] == "hello omega\n"


def test_after_call_sees_the_notebooks_objects_before_the_reset(kernel, workdir):
    """``after`` runs in the kernel after the notebook and before the reset (the worker writes a
    packet's appendix from the notebook's packet there); the reset still empties the memo."""
    memo = "__import__('acm_helpers.packets.memo', fromlist=['_'])._LOADED"
    remember = (
        "__import__('acm_helpers.packets.memo', fromlist=['_']).remember(('probe',), (), provider)"
    )
    code = f"__import__('json').dumps({{'seen': provider, 'memo': len({memo})}})"
    nb = kernel.execute(
        workdir / "hello.ipynb",
        {"provider": "epsilon"},
        after=f"[{remember}, {code}][1]",
    )
    assert nb.cells[3].outputs[0]["text"] == "hello epsilon\n"
    assert kernel.stats.last_after == {"seen": "epsilon", "memo": 1}
    kernel.execute(
        workdir / "hello.ipynb",
        {"provider": "zeta"},
        after=f"__import__('json').dumps(len({memo}))",
    )
    assert kernel.stats.last_after == 0  # nothing of epsilon's notebook survived its reset
    with pytest.raises(PapermillExecutionError):
        kernel.execute(workdir / "fails.ipynb", {"provider": "eta"}, after="'{}'")
    assert kernel.stats.last_after == {}  # not run after a failed notebook
