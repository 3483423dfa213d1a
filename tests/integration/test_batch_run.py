"""Batch runs that execute notebooks in kernels: one failing provider does not stop the others,
reruns skip what is unchanged, and two jobs never share a folder."""

from __future__ import annotations

import json
import os

import nbformat
import pytest

from acm_helpers.batch import run as batch
from acm_helpers.core.errors import RunError


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
