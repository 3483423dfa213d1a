"""The batch run's planning, skip rules and failure isolation, on tiny notebooks (no PDF, no
appendix) so the whole file stays fast; the real packets are exercised in tests/e2e."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from acm_helpers.batch import run as batch
from acm_helpers.core.errors import ConfigError, UnknownIdError
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


def test_a_failed_job_leaves_no_stale_output_of_its_own_kind(tmp_path):
    """A deep dive that fails its audit now must not leave last run's deep_dive.html behind."""
    from acm_helpers.batch.worker import _discard

    for name in ["deep_dive.html", "deep_dive.pdf", "appendix.xlsx", "notes.txt"]:
        (tmp_path / name).write_text("old")
    _discard(tmp_path, "deep_dive")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_longest_first_orders_by_the_previous_runs_seconds(program, program_path, tmp_path):
    jobs = batch.plan_period(program, "2026-10", program_path=program_path, data_dir=tmp_path)
    todo = [(j, f"h{j.key}", {}, "new") for j in jobs]
    seconds = {j.key: 2.0 for j in jobs} | {"rainier": 5.0, "_system": 4.0, "puget": 2.5}
    old = {k: {"timings": {"total": s}} for k, s in seconds.items()}
    order = [t[0].key for t in batch.longest_first(todo, old)]
    # longest first; equal lengths keep the plan's order
    assert order == ["rainier", "_system", "puget", "harbor", "cascade", "northgate", "elliott"]
    assert sorted(t[1] for t in batch.longest_first(todo, old)) == sorted(t[1] for t in todo)


def test_longest_first_without_timings_starts_the_system_packet(program, program_path, tmp_path):
    jobs = batch.plan_period(program, "2026-10", program_path=program_path, data_dir=tmp_path)
    todo = [(j, "h", {}, "new") for j in jobs]
    partly = {"harbor": {"timings": {"total": 3.0}}}  # one packet new this month: no timings
    for old in ({}, partly):
        order = [t[0].key for t in batch.longest_first(todo, old)]
        assert order == ["_system", "harbor", "cascade", "rainier", "northgate", "elliott", "puget"]
    assert batch.longest_first([], {}) == []
