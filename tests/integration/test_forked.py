"""Forked notebooks (``acm_helpers.batch.forked``): each notebook runs in a new fork of one warm
server, its outputs are what a kernel would have given, and nothing of one notebook is visible
to the next. The probe notebooks are the warm-kernel isolation test's (``test_workers.py``)."""

from __future__ import annotations

import os

import pytest
from papermill.exceptions import PapermillExecutionError
from test_kernel_imports import make_notebook  # tests/unit, on the path (conftest.py)
from test_workers import (
    LEAKY_CELLS,
    PACKAGE_ROOT,
    PROBE_CELLS,
    PROBE_MODULE,
    SECRET,
    probe_report,
)

from acm_helpers.batch import forked
from acm_helpers.batch.kernels import DEFAULT_PRELOAD, WarmKernel, WarmSpec
from acm_helpers.core.errors import NotebookFailed, WorkerError
from acm_helpers.packets import render as report

DISPLAYS = """
from IPython.display import HTML, display
print('to stdout')
import sys; print('to stderr', file=sys.stderr)
display(HTML('<b>shown</b>'))
class Block:
    def __repr__(self):
        return 'Block()'
    def _repr_html_(self):
        return '<p>block</p>'
Block()
"""
CHART = """
from acm_helpers.views import vega_svg
svg = vega_svg.to_svg({"data": {"values": [{"x": 1}, {"x": 2}]}, "mark": "point",
                       "encoding": {"x": {"field": "x", "type": "quantitative"}}})
print(svg[:4], os.getpid() != int(host_pid))
"""


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    root = tmp_path_factory.mktemp("forked")
    (root / "acm_probe.py").write_text(PROBE_MODULE)
    (root / "acm_probe_late.py").write_text("STATE = None\n")
    make_notebook(root / "leaky.ipynb", *LEAKY_CELLS)
    make_notebook(root / "probe.ipynb", *PROBE_CELLS)
    make_notebook(root / "shows.ipynb", DISPLAYS)
    make_notebook(
        root / "fails.ipynb", "x = 1", "secret = f'SECRET-{provider}'\nraise ValueError(secret)"
    )
    make_notebook(root / "hangs.ipynb", "import threading\nthreading.Event().wait()")
    make_notebook(root / "dies.ipynb", "import os\nos._exit(3)")
    make_notebook(root / "chart.ipynb", "import os\nhost_pid = os.environ['HOST_PID']", CHART)
    make_notebook(root / "hello.ipynb", "answer = 41 + 1\nprint(f'hello {provider}')")
    return root


@pytest.fixture(scope="module")
def executor(workdir):
    env = (
        ("PYTHONPATH", os.pathsep.join([str(workdir), PACKAGE_ROOT])),
        ("HOST_PID", str(os.getpid())),
        ("XDG_CACHE_HOME", str(workdir / "cache")),  # the modules it learns: not the user's list
    )
    ex = forked.ForkExecutor(
        preload=(*DEFAULT_PRELOAD, "acm_helpers.core.config", "acm_probe"), timeout=20, env=env
    )
    ex.warm()
    yield ex
    forked.stop_servers()


def outputs_of(nb) -> list:
    return [(c.get("execution_count"), c.get("outputs")) for c in nb.cells if c.cell_type == "code"]


def test_no_data_from_one_notebook_survives_into_the_next(executor, workdir):
    import json

    first = executor(workdir / "probe.ipynb", {"provider": "beta"}, workdir)
    leaky = executor(workdir / "leaky.ipynb", {"provider": "alpha"}, workdir)
    assert SECRET in json.dumps(leaky)  # the leaky notebook did run and leave its traces
    again = executor(workdir / "probe.ipynb", {"provider": "beta"}, workdir)
    assert "alpha" not in json.dumps(again) and "C0042" not in json.dumps(again)
    seen, before = probe_report(again), probe_report(first)
    # Python reseeds `random` in every fork (as a fresh kernel seeds it): the one difference
    assert seen.pop("random") != before.pop("random")
    assert seen == before
    assert seen["probe_cache"] == {} and seen["probe_seen"] == []
    assert seen["late_module_loaded"] is False
    assert seen["config_attrs"] == [] and seen["builtins_leak"] is False


def test_outputs_are_those_of_a_kernel(executor, workdir):
    nb = executor(workdir / "shows.ipynb", {"provider": "x"}, workdir)
    spec = WarmSpec(env=(("PYTHONPATH", PACKAGE_ROOT),))
    with WarmKernel(spec, cwd=workdir) as wk:
        by_kernel = wk.execute(workdir / "shows.ipynb", {"provider": "x"})
    assert outputs_of(nb) == outputs_of(by_kernel)
    kinds = [o["output_type"] for o in nb.cells[-1].outputs]
    assert kinds == ["stream", "stream", "display_data", "execute_result"]
    assert nb.metadata["language_info"]["name"] == "python"
    # papermill's injected cell, as with a kernel
    assert [c.metadata.get("tags") for c in nb.cells][:3] == [
        [],
        ["parameters"],
        ["injected-parameters"],
    ]


def test_a_failing_cell_is_reported_like_papermill_and_the_next_notebook_runs(executor, workdir):
    with pytest.raises(PapermillExecutionError) as err:
        executor(workdir / "fails.ipynb", {"provider": "A"}, workdir)
    assert err.value.ename == "ValueError"
    assert err.value.evalue == "SECRET-A"
    with pytest.raises(NotebookFailed) as failed:
        report.execute(workdir / "fails.ipynb", {"provider": "A"}, executor=executor, cwd=workdir)
    assert failed.value.cell_index == 3  # in the template: markdown, parameters, x = 1, raise
    nb = executor(workdir / "hello.ipynb", {"provider": "C"}, workdir)
    assert nb.cells[-1].outputs[0]["text"] == "hello C\n"


def test_a_cell_past_the_timeout_is_stopped(executor, workdir):
    import dataclasses

    quick = dataclasses.replace(executor, timeout=1)
    with pytest.raises(WorkerError, match="ran longer than 1 s"):
        quick(workdir / "hangs.ipynb", {}, workdir)
    assert executor(workdir / "hello.ipynb", {"provider": "D"}, workdir).cells[-1].outputs


def test_a_child_that_dies_fails_its_packet_only(executor, workdir):
    with pytest.raises(WorkerError, match="ended without an answer"):
        executor(workdir / "dies.ipynb", {}, workdir)
    assert executor(workdir / "hello.ipynb", {"provider": "E"}, workdir).cells[-1].outputs


def test_charts_are_drawn_by_the_worker(executor, workdir):
    nb = executor(workdir / "chart.ipynb", {}, workdir)
    assert nb.cells[-1].outputs[0]["text"] == "<svg True\n"
    assert executor.last_reset()["lent_cpu"] > 0  # this process drew it


def test_the_after_call_sees_the_notebooks_namespace(executor, workdir):
    import dataclasses

    after = dataclasses.replace(executor, after="__import__('json').dumps({'a': answer})")
    after(workdir / "hello.ipynb", {"provider": "F"}, workdir)
    assert after.last_after() == {"a": 42}


@pytest.mark.slow
def test_demo_packets_are_the_same_forked_and_in_a_warm_kernel(program_path, demo_store, tmp_path):
    """The HTML of harbor's packet and the system packet, byte for byte, apart from the time it
    was generated and papermill's random cell ids."""
    import re

    from acm_helpers.batch.kernels import WarmExecutor
    from acm_helpers.batch.run import fork_executor, warm_executor

    def norm(html: str) -> str:
        html = re.sub(r"Generated [^<]*", "Generated", html)
        return re.sub(r'id="cell-id=[^"]*"', "", html)

    templates = ["dashboard", "system"]
    fx, wx = fork_executor(templates), warm_executor(templates)
    assert isinstance(wx, WarmExecutor)
    base = {
        "program_path": str(program_path),
        "data_dir": str(demo_store.root),
        "period": "2026-10",
    }
    jobs = [
        ("dashboard", {**base, "provider": "harbor", "audience": "provider"}),
        ("system", {**base, "audience": "internal"}),
    ]
    try:
        for template, params in jobs:
            pages = {
                name: report.render_notebook(
                    template, params, tmp_path / name / template, pdf=False, executor=ex
                ).html.read_text()
                for name, ex in (("fork", fx), ("warm", wx))
            }
            assert "<svg" in pages["fork"]
            assert norm(pages["fork"]) == norm(pages["warm"]), template
    finally:
        from acm_helpers.batch.kernels import shutdown_process_kernels

        shutdown_process_kernels()
        forked.stop_servers()


def test_a_run_from_a_process_that_has_drawn_charts_still_builds(
    program_path, demo_store, tmp_path
):
    """An analyst who drew charts in a notebook, then calls ``run_period`` there: forked workers
    could not draw with that process's chart engine, so the run starts new ones."""
    from acm_helpers.batch.run import run_period
    from acm_helpers.views import vega_svg

    vega_svg.to_svg({"data": {"values": [{"x": 1}]}, "mark": "point"})
    assert vega_svg.started_here()
    result = run_period(
        program_path,
        "2026-10",
        data_dir=demo_store.root,
        out_root=tmp_path,
        providers=["harbor"],
        workers=1,
        pdf=False,
        force=True,
        progress=False,
    )
    assert [p["status"] for p in result.manifest.packets] == ["ok", "ok"]
    assert "<svg" in (result.period_dir / "harbor" / "packet.html").read_text()
