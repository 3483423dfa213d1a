"""The batch run's planning, skip rules and failure isolation, on tiny notebooks (no PDF, no
appendix) so the whole file stays fast; the real packets are exercised in tests/e2e."""

from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from acm_helpers.batch import run as batch
from acm_helpers.core.errors import ConfigError, RunError, UnknownIdError
from acm_helpers.store.store import Store


def test_plan_period_one_job_per_provider_plus_system(program, program_path, tmp_path):
    jobs = batch.plan_period(program, "2026-10", program_path=program_path, data_dir=tmp_path)
    assert [j.key for j in jobs] == [
        "harbor",
        "cascade",
        "rainier",
        "northgate",
        "elliott",
        "puget",
        "_system",
    ]
    harbor = jobs[0].params
    assert (
        harbor["topic"] == "disparity"
        and harbor["audience"] == "provider"
        and harbor["period"] == "2026-10"
    )
    assert harbor["data_dir"] == str(tmp_path.resolve())
    assert jobs[-1].params["audience"] == "internal" and jobs[-1].appendix == "system"
    assert jobs[0].appendix == "provider"
    assert [Path(j.template).name for j in (jobs[0], jobs[-1])] == [
        "02_dashboard.ipynb",
        "06_system.ipynb",
    ]


def test_plan_period_subset_and_month_without_topic(program, program_path, tmp_path):
    jobs = batch.plan_period(
        program,
        "2025-01",
        program_path=program_path,
        data_dir=tmp_path,
        providers=["northgate"],
        system=False,
        audience="internal",
    )
    assert [(j.key, j.audience, j.params["topic"]) for j in jobs] == [("northgate", "internal", "")]


@pytest.mark.parametrize(
    ("kwargs", "error", "text"),
    [
        pytest.param(
            {"providers": ["nope"]},
            UnknownIdError,
            "Known providers: harbor",
            id="unknown-provider",
        ),
        pytest.param(
            {"audience": "public"}, ConfigError, "'provider' or 'internal'", id="bad-audience"
        ),
    ],
)
def test_plan_period_rejects_bad_input(program, program_path, tmp_path, kwargs, error, text):
    with pytest.raises(error, match=text):
        batch.plan_period(
            program, "2026-10", program_path=program_path, data_dir=tmp_path, **kwargs
        )


def test_max_workers_never_exceeds_the_cores():
    cores = os.cpu_count() or 1
    assert batch.max_workers(cores + 10) == cores
    assert batch.max_workers(None) == cores
    assert batch.max_workers(0) == cores and batch.max_workers(1) == 1


def _job(tmp_path, key="a"):
    return batch.Job.make(tmp_path / "t.ipynb", key, {"period": "2026-10"}, appendix=None)


OLD = {
    "status": "ok",
    "input_hash": "h1",
    "inputs": {"template": "t", "parameters": "p", "data": "d", "code": "c"},
    "files": {"html": "a/packet.html"},
}


@pytest.mark.parametrize(
    ("old", "new_hash", "inputs", "files", "expected"),
    [
        pytest.param(
            None, "h1", OLD["inputs"], True, (False, "new: no earlier run of this packet"), id="new"
        ),
        pytest.param(
            {**OLD, "status": "failed"},
            "h1",
            OLD["inputs"],
            True,
            (False, "earlier run did not succeed (failed)"),
            id="after-failure",
        ),
        pytest.param(OLD, "h1", OLD["inputs"], True, (True, "inputs unchanged"), id="unchanged"),
        pytest.param(
            OLD, "h2", {**OLD["inputs"], "data": "d2"}, True, (False, "data"), id="data-changed"
        ),
        pytest.param(
            OLD,
            "h1",
            OLD["inputs"],
            False,
            (False, "output missing: a/packet.html"),
            id="output-deleted",
        ),
    ],
)
def test_skip_reason(tmp_path, old, new_hash, inputs, files, expected):
    if files:
        (tmp_path / "a").mkdir()
        (tmp_path / "a" / "packet.html").write_text("x")
    skip, why = batch.skip_reason(_job(tmp_path), new_hash, inputs, old, tmp_path)
    assert skip == expected[0] and expected[1] in why


def test_data_hash_changes_only_for_the_provider_whose_data_changed(
    program, program_path, tmp_path
):
    store = Store(tmp_path / "store")
    quality = pd.DataFrame(
        {
            "provider_id": ["harbor", "cascade"],
            "period": ["2026-10"] * 2,
            "check": ["rows", "rows"],
            "field": ["total", "total"],
            "value": [10.0, 20.0],
        }
    )
    store.write_table("quality", quality)
    jobs = batch.plan_period(
        program,
        "2026-10",
        program_path=program_path,
        data_dir=store.root,
        providers=["harbor", "cascade"],
    )
    before = batch.data_hashes(program, store, jobs, "v1")
    store.write_table("quality", quality.assign(value=[11.0, 20.0]))
    after = batch.data_hashes(program, store, jobs, "v1")
    assert before["harbor"] != after["harbor"] and before["cascade"] == after["cascade"]
    assert before["_system"] != after["_system"]  # the system packet reads every provider's rows
    assert (
        batch.data_hashes(program, store, jobs, "v2")["cascade"] != after["cascade"]
    )  # new metrics


@pytest.fixture
def tiny(tmp_path):
    """A one-parameter template: fails when ``who == "bad"``."""
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('who = "x"\nperiod = "2026-10"')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [
        params,
        nbformat.v4.new_markdown_cell("Packet"),
        nbformat.v4.new_code_cell('assert who != "bad", f"no data for {who}"\nprint("hello", who)'),
    ]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    path = tmp_path / "tiny.ipynb"
    nbformat.write(nb, str(path))
    settings = batch.Settings(
        program_path=str(tmp_path / "unused.yaml"),
        data_dir=str(tmp_path),
        pdf=False,
        period_dir=str(tmp_path / "out" / "2026-10"),
        kernel="fresh",
    )
    jobs = [
        batch.Job.make(
            path, who, {"who": who, "period": "2026-10"}, appendix=None, audience="internal"
        )
        for who in ("good", "bad")
    ]
    return settings, jobs


def test_one_failure_does_not_stop_the_others_and_reruns_skip(tiny):
    settings, jobs = tiny
    out = batch.run(jobs, settings, workers=2, progress=False, program_id="t", period="2026-10")
    by = {p["key"]: p for p in out.packets}
    assert by["good"]["status"] == "ok" and by["good"]["files"] == {"html": "good/packet.html"}
    page = open(os.path.join(settings.period_dir, "good", "packet.html")).read()
    assert "hello good" in page and "<script src=" not in page
    bad = by["bad"]
    assert bad["status"] == "failed" and bad["files"] == {}
    assert bad["error"]["cell"] == 2 and bad["error"]["ename"] == "AssertionError"
    assert (
        bad["error"]["evalue"] == "no data for bad"
        and "tiny.ipynb (period=2026-10, provider=bad) failed in cell 2" in bad["error"]["message"]
    )
    assert [f["key"] for f in out.failures] == ["bad"]
    manifest = json.loads(open(os.path.join(settings.period_dir, "manifest.json")).read())
    assert [p["status"] for p in manifest["packets"]] == ["ok", "failed"]
    index = open(os.path.join(settings.period_dir, "index.html")).read()
    assert 'href="good/packet.html"' in index and "1 failed: bad" in index
    mtime = os.path.getmtime(os.path.join(settings.period_dir, "good", "packet.html"))

    again = batch.run(jobs, settings, workers=2, progress=False)
    by = {p["key"]: p for p in again.packets}
    assert by["good"]["skipped"] and by["good"]["reason"] == "inputs unchanged"
    assert os.path.getmtime(os.path.join(settings.period_dir, "good", "packet.html")) == mtime
    assert (
        not by["bad"]["skipped"] and by["bad"]["reason"] == "earlier run did not succeed (failed)"
    )

    forced = batch.run(jobs[:1], settings, workers=1, progress=False, force=True)
    assert not forced.packets[0]["skipped"] and forced.packets[0]["reason"] == "forced (--force)"


def test_two_jobs_into_one_folder_is_refused(tiny):
    settings, jobs = tiny
    with pytest.raises(RunError, match="same folder"):
        batch.run([jobs[0], jobs[0]], settings, progress=False)
