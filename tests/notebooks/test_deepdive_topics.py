"""The deep-dive notebook on the demo store: every topic through papermill, every topic's
explorer changed in a live kernel, and the case-file list kept out of provider audiences."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest

from acm_helpers.meetings import cases
from acm_helpers.meetings import deepdive

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "notebooks" / "03_deep_dive.ipynb"
PERIOD = "2026-10"

# topic -> (provider, extra parameters, text the result must contain)
TOPICS = {
    "disparity": ("cascade", {"dimension": "race_ethnicity"}, "Black or African American"),
    "duration_outcome": ("harbor", {"metric": "exits_to_permanent_housing"}, "Selection:"),
    "referral_funnel": ("rainier", {}, "With a referral date"),
    "cohort_trend": ("harbor", {"change_month": "2025-12"}, "before and after Dec 2025"),
    "peer_comparison": ("elliott", {}, "and its peers"),
}


def run_papermill(demo_store, program_path, **params) -> nbformat.NotebookNode:
    import papermill

    base = {"program_path": str(program_path), "data_dir": str(demo_store.root), "period": PERIOD}
    return papermill.execute_notebook(
        str(TEMPLATE), None, parameters=base | params, progress_bar=False, cwd=str(ROOT)
    )


def html_of(nb: nbformat.NotebookNode) -> str:
    return "\n".join(
        o.get("data", {}).get("text/html", "") + o.get("data", {}).get("text/markdown", "")
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
    )


@pytest.mark.parametrize("topic", [pytest.param(t, id=t) for t in TOPICS])
def test_topic_runs_via_papermill(topic, demo_store, program_path):
    provider, extra, expect = TOPICS[topic]
    nb = run_papermill(demo_store, program_path, provider=provider, topic=topic, **extra)
    page = html_of(nb)
    assert f'data-topic="{topic}"' in page
    assert expect in page
    assert "<svg" in page  # the chart is inline SVG
    assert "Case files for review" in page and "Internal only" in page
    assert "Performance improvement roadmap" in page and "Before and after" in page
    name = program_name(program_path, provider)
    assert re.search(rf"<h1>Deep dive: {re.escape(name)}, [^<]+</h1>", page), "the title"
    assert page.count("<h1>") == 1
    assert "For analysts: topic <code>" in page
    everything = json.dumps([c.get("outputs", []) for c in nb.cells])
    for dump in ("contract_value", "HRA-2024", "Program(", "Provider(", "DeepDiveContext("):
        assert dump not in everything, f"a configuration dump ({dump}) in the outputs"


def program_name(program_path, provider: str) -> str:
    from acm_helpers.core.config import load_program

    return load_program(program_path).provider(provider).name


def test_story_numbers_in_the_notebook_match_the_functions(demo_store, program):
    """The cascade disparity the notebook shows is the one the topic function computes."""
    ctx = deepdive.make_context(program, demo_store.episodes(), "cascade", PERIOD)
    r = deepdive.disparity(ctx, "exits_to_permanent_housing", "race_ethnicity")
    row = r.data[
        (r.data["window"] == "recent") & (r.data["group"] == "Black or African American")
    ].iloc[0]
    assert bool(row["flagged"]) and row["difference"] < -0.15  # demo story: 25% vs 50%


EXPLORE = """
import json
out = {}
for topic, control, value in CHANGES:
    ex = view if topic == FIRST else deepdive_widgets.show(dd, topic, True)
    before = ex.output.value
    ex.controls[control].value = value
    out[topic] = {"before": before, "after": ex.output.value, "message": ex.message.value,
                  "options": ex.options()}
print(json.dumps(out))
"""

SWITCH = """
import json
view.topic_control.value = "cohort_trend"
print(json.dumps({"data": type(view.data).__name__, "topic": view.topic,
                  "shown": 'data-topic="cohort_trend"' in view.output.value,
                  "message": view.message.value}))
"""

CHANGES = [
    ("disparity", "dimension", "age_band"),
    ("duration_outcome", "cutoff_months", 6),
    ("referral_funnel", "months", 6),
    ("cohort_trend", "change_month", "2026-03"),
    ("peer_comparison", "metric", "exits_to_permanent_housing"),
]


def test_every_topic_updates_when_a_widget_changes_in_a_live_kernel(demo_store, program_path):
    """Run the notebook with ``interactive=True`` in a kernel that stays up, then change one
    control of each topic's explorer and read the output widget back."""
    from nbclient import NotebookClient
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    nb = load_notebook_node(str(TEMPLATE))
    nb = parameterize_notebook(
        nb,
        {
            "program_path": str(program_path),
            "data_dir": str(demo_store.root),
            "provider": "cascade",
            "period": PERIOD,
            "topic": "disparity",
            "interactive": True,
        },
    )
    client = NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    )
    with client.setup_kernel():
        for i, cell in enumerate(nb.cells):
            if cell.cell_type == "code":
                client.execute_cell(cell, i)
        probe = nbformat.v4.new_code_cell(f"CHANGES = {CHANGES!r}\nFIRST = 'disparity'\n" + EXPLORE)
        nb.cells.append(probe)
        client.execute_cell(probe, len(nb.cells) - 1)
        switch = nbformat.v4.new_code_cell(SWITCH)
        nb.cells.append(switch)
        client.execute_cell(switch, len(nb.cells) - 1)
    widget_outputs = [
        o
        for c in nb.cells
        for o in c.get("outputs", [])
        if "application/vnd.jupyter.widget-view+json" in o.get("data", {})
    ]
    assert widget_outputs, "the explorer was displayed as a widget"
    stdout = "".join(o.get("text", "") for o in probe.outputs if o.get("name") == "stdout")
    got = json.loads(stdout)
    for topic, control, value in CHANGES:
        res = got[topic]
        assert res["message"] == "", res["message"]
        assert res["before"] and res["after"] and res["before"] != res["after"], topic
        assert res["options"][control] == value
    assert "by age at entry" in got["disparity"]["after"]
    assert "6+ months" in got["duration_outcome"]["after"]
    assert "6 months to Oct 2026" in got["referral_funnel"]["after"]
    assert "before and after Mar 2026" in got["cohort_trend"]["after"]
    assert "Exits to permanent housing: Cascade" in got["peer_comparison"]["after"]
    topic = json.loads(
        "".join(o.get("text", "") for o in switch.outputs if o.get("name") == "stdout")
    )
    assert topic == {"data": "DataFrame", "topic": "cohort_trend", "shown": True, "message": ""}


def test_case_files_never_reach_a_provider_audience(demo_store, program, program_path):
    sample = cases.sample_cases(
        program, demo_store.episodes(), "harbor", PERIOD, n_per_stratum=5, seed=20261023
    )
    ids = set(sample.sample["episode_id"]) | set(sample.sample["client_id"])
    inside = html_of(run_papermill(demo_store, program_path, provider="harbor", topic="disparity"))
    assert all(i in inside for i in ids)  # the internal run shows exactly this sample (same seed)
    outside_nb = run_papermill(
        demo_store, program_path, provider="harbor", topic="disparity", audience="provider"
    )
    outside = json.dumps(outside_nb)  # every output, text and HTML alike
    assert not any(i in outside for i in ids)
    all_clients = set(demo_store.episodes().query("provider_id == 'harbor'")["client_id"])
    assert not set(re.findall(r"C\d{7}", outside)) & all_clients
    assert "Case-file review is an internal step" in outside
