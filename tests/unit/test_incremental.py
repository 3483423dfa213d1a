"""Incremental runs: a packet's data digest changes exactly when data it shows changes."""

from __future__ import annotations

import pandas as pd
import pytest

from acm_helpers.batch import incremental as inc
from acm_helpers.store.store import Store

PERIOD = "2026-10"


def metric_values() -> pd.DataFrame:
    """Four providers' rows: own history, a later month, program-wide, a breakdown, a term row."""
    rows = [
        # provider, period, grain, start, dimension, group, value
        ("harbor", "2026-09", "month", "2026-09-01", "", "", 0.50),
        ("harbor", "2026-10", "month", "2026-10-01", "", "", 0.55),
        ("harbor", "2026-11", "month", "2026-11-01", "", "", 0.60),  # after the run's period
        ("harbor", "2026-Q4", "quarter", "2026-10-01", "", "", 0.56),
        ("harbor", "term", "term", "2024-11-01", "", "", 0.52),
        ("cascade", "2026-09", "month", "2026-09-01", "", "", 0.40),
        ("cascade", "2026-10", "month", "2026-10-01", "", "", 0.42),
        ("cascade", "2026-10", "month", "2026-10-01", "race", "Black", 0.30),
        ("__all__", "2026-10", "month", "2026-10-01", "", "", 0.48),
    ]
    frame = pd.DataFrame(
        rows,
        columns=["provider_id", "period", "grain", "period_start", "dimension", "group", "value"],
    )
    frame["period_start"] = pd.to_datetime(frame["period_start"]).dt.date
    frame["version"] = "v1"
    return frame


def quality() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "provider_id": ["harbor", "harbor", "cascade"],
            "period": ["2026-10", "2026-11", "2026-10"],
            "check": ["completeness", "completeness", "completeness"],
            "value": [0.98, 0.97, 0.91],
        }
    )


def digests(tmp_path, mv: pd.DataFrame, q: pd.DataFrame | None = None):
    store = Store(tmp_path / "data")
    store.write_table("metric_values", mv)
    store.write_table("quality", quality() if q is None else q)
    return inc.table_digests(store, PERIOD, ["harbor", "cascade", None])


def change(
    frame: pd.DataFrame, provider: str, period: str, column: str, value, dimension: str = ""
):
    out = frame.copy()
    mask = (
        (out["provider_id"] == provider)
        & (out["period"] == period)
        & (out.get("dimension", "") == dimension)
    )
    assert mask.sum() == 1
    out.loc[mask, column] = value
    return out


@pytest.mark.parametrize(
    ("edit", "harbor_changes", "cascade_changes", "system_changes"),
    [
        pytest.param(
            lambda f: change(f, "harbor", "2026-09", "value", 0.51),
            True,
            True,
            True,
            id="own-history",
        ),
        pytest.param(
            lambda f: change(f, "harbor", "2026-11", "value", 0.9),
            False,
            False,
            False,
            id="later-month",
        ),
        pytest.param(
            lambda f: change(f, "harbor", "term", "value", 0.9),
            True,
            True,
            True,
            id="term-roll-up",
        ),
        pytest.param(
            lambda f: change(f, "cascade", "2026-09", "value", 0.1),
            True,
            True,
            True,
            id="peer-history",
        ),
        pytest.param(
            lambda f: change(f, "cascade", "2026-10", "value", 0.1),
            True,
            True,
            True,
            id="peer-this-month",
        ),
        pytest.param(
            lambda f: change(f, "cascade", "2026-10", "value", 0.1, dimension="race"),
            False,
            True,
            True,
            id="peer-breakdown",
        ),
        pytest.param(
            lambda f: change(f, "__all__", "2026-10", "value", 0.1),
            True,
            True,
            True,
            id="program-wide",
        ),
        pytest.param(lambda f: f.assign(version="v2"), False, False, False, id="version-only"),
        pytest.param(
            lambda f: f.iloc[::-1].reset_index(drop=True), False, False, False, id="row-order"
        ),
        pytest.param(
            lambda f: f[list(reversed(f.columns))], False, False, False, id="column-order"
        ),
    ],
)
def test_metric_value_edits_reach_exactly_the_packets_that_show_them(
    tmp_path, edit, harbor_changes, cascade_changes, system_changes
):
    before = digests(tmp_path / "a", metric_values())
    after = digests(tmp_path / "b", edit(metric_values()))
    moved = {p: before[p]["metric_values"] != after[p]["metric_values"] for p in before}
    assert moved == {"harbor": harbor_changes, "cascade": cascade_changes, None: system_changes}


def test_quality_slices_by_provider_and_period(tmp_path):
    before = digests(tmp_path / "a", metric_values())
    q = quality()
    q.loc[1, "value"] = 0.5  # harbor, 2026-11: after the run
    later = digests(tmp_path / "b", metric_values(), q)
    q.loc[0, "value"] = 0.5  # harbor, 2026-10
    now = digests(tmp_path / "c", metric_values(), q)
    assert later["harbor"]["quality"] == before["harbor"]["quality"]
    assert now["harbor"]["quality"] != before["harbor"]["quality"]
    assert now["cascade"]["quality"] == before["cascade"]["quality"]


def test_store_tables_leaves_out_client_level_tables(tmp_path):
    store = Store(tmp_path)
    store.write_table("episodes", pd.DataFrame({"episode_id": ["e1"]}))
    store.write_table(
        "episodes_submitted", pd.DataFrame({"episode_id": ["e1"]}), part="harbor/2026-10"
    )
    store.write_table("metric_values", metric_values())
    store.write_table("action_items", pd.DataFrame({"provider_id": ["harbor"], "title": ["x"]}))
    assert inc.store_tables(store) == ["action_items", "metric_values"]


class _Job:
    def __init__(self, key, provider):
        self.key, self.provider = key, provider


def test_data_digests_name_each_component(tmp_path):
    store = Store(tmp_path / "data")
    store.write_table("metric_values", metric_values())
    program = tmp_path / "program.yaml"
    program.write_text("id: demo\n")
    jobs = [_Job("harbor", "harbor"), _Job("_system", None)]
    d = inc.data_digests(program, store, PERIOD, jobs)
    assert list(d["harbor"]) == ["program", "data.metric_values"]
    program.write_text("id: demo  # renamed a provider\n")
    d2 = inc.data_digests(program, store, PERIOD, jobs)
    assert inc.changed_components(d["harbor"], d2["harbor"]) == ["program"]
    assert inc.data_hashes(program, store, PERIOD, jobs)["harbor"] == inc.combine(d2["harbor"])


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        pytest.param("2026-10", "2026-10-01", id="month"),
        pytest.param("2026-Q4", "2026-10-01", id="quarter"),
        pytest.param("2026", "2026-01-01", id="year"),
        pytest.param("term", None, id="term"),
    ],
)
def test_window_start(label, expected):
    got = inc.window_start(label)
    assert (got.isoformat() if got else None) == expected


@pytest.mark.parametrize(
    ("changed", "reason"),
    [
        pytest.param(["template"], "notebook changed", id="notebook"),
        pytest.param(
            ["data.metric_values", "data.quality"],
            "data changed (metric_values, quality)",
            id="data",
        ),
        pytest.param(
            ["code", "program", "data"],
            "package changed; program file changed; data changed",
            id="mixed",
        ),
        pytest.param([], "inputs changed", id="unknown"),
    ],
)
def test_describe_changes(changed, reason):
    assert inc.describe_changes(changed) == reason


# -- the batch run: unchanged packets do no notebook work -------------------------------------------
class CountingExecutor:
    """Stands in for papermill: returns the template as the 'executed' notebook, counts calls."""

    def __init__(self):
        self.calls: list[str] = []

    def __call__(self, template, parameters, cwd=None):
        import nbformat

        self.calls.append(parameters["provider"])
        return nbformat.read(str(template), as_version=4)


def test_second_run_with_nothing_changed_does_no_notebook_work(tmp_path, program_path):
    import concurrent.futures as cf

    import nbformat
    from nbformat.v4 import new_markdown_cell, new_notebook

    from acm_helpers.batch import run as batch

    template = tmp_path / "packet.ipynb"
    nbformat.write(new_notebook(cells=[new_markdown_cell("# Packet")]), str(template))
    jobs = [
        batch.Job.make(template, p, {"period": PERIOD}, audience="internal", appendix=None)
        for p in ("harbor", "cascade", "rainier")
    ]
    executor = CountingExecutor()
    settings = batch.Settings(
        program_path=str(program_path),
        data_dir=str(tmp_path / "data"),
        period_dir=str(tmp_path / "out" / PERIOD),
        pdf=False,
        kernel="fresh",
        executor=executor,
    )
    digests = {
        j.key: {"program": "p1", "data.metric_values": "m1", "data.quality": "q1"} for j in jobs
    }

    def run(data=digests, force=False):
        executor.calls.clear()
        with cf.ThreadPoolExecutor(1) as pool:
            m = batch.run(jobs, settings, data_hashes=data, pool=pool, force=force, progress=False)
        return [(p["key"], p["status"], p["skipped"], p["reason"]) for p in m.packets]

    first = run()
    assert sorted(executor.calls) == ["cascade", "harbor", "rainier"]
    assert {r[3] for r in first} == {"new: no earlier run of this packet"}

    assert run() == [
        ("harbor", "ok", True, "inputs unchanged"),
        ("cascade", "ok", True, "inputs unchanged"),
        ("rainier", "ok", True, "inputs unchanged"),
    ]
    assert executor.calls == []  # nothing was executed

    changed = {**digests, "harbor": {**digests["harbor"], "data.quality": "q2"}}
    assert run(changed)[0] == ("harbor", "ok", False, "data changed (quality)")
    assert executor.calls == ["harbor"]

    template.write_text(template.read_text().replace("# Packet", "# Packet v2"))
    assert {r[3] for r in run(changed)} == {"notebook changed"}
    assert len(executor.calls) == 3

    assert {r[3] for r in run(changed, force=True)} == {"forced (--force)"}
    assert len(executor.calls) == 3
