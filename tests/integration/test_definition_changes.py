"""A changed metric definition appears in the next month's packets: `acm run` for September with
the demo program, then the program file's numerator edited and `acm run` for October; October's
packet says, in its definitions section, what changed, from which month, the old and new text
and their versions, and still passes its privacy audit. September's packet said nothing."""

from __future__ import annotations

import shutil
from html import unescape
from pathlib import Path

import yaml

from acm_helpers.batch import run as batch
from acm_helpers.core.config import load_program
from acm_helpers.metrics import definitions as defs

METRIC = "exits_to_permanent_housing"
OLD = "destination_class = 'permanent'"
NEW = "destination_class IN ('permanent', 'temporary')"


def _definitions_section(packet_html: str) -> str:
    start = packet_html.index("<h2>Definitions</h2>")
    return packet_html[start : packet_html.index("acm-footer", start)]


def test_the_next_packet_announces_a_changed_definition(demo_store, program_path, tmp_path):
    store_dir = tmp_path / "store"  # a copy: the edited definition recomputes its metrics
    shutil.copytree(demo_store.root, store_dir)
    prog_file = tmp_path / "program.yaml"
    shutil.copy(program_path, prog_file)
    out = tmp_path / "outputs"
    kw = dict(
        data_dir=store_dir,
        out_root=out,
        providers=["harbor"],
        workers=1,
        pdf=False,
        kernel="fresh",
        progress=False,
    )
    before = batch.run_period(prog_file, "2026-09", **kw)
    assert before.manifest.failures == [], [f.get("error") for f in before.manifest.failures]
    september = (out / "2026-09" / "harbor" / "packet.html").read_text(encoding="utf-8")
    assert "Changed definitions" not in _definitions_section(september)

    raw = yaml.safe_load(prog_file.read_text(encoding="utf-8"))
    assert raw["metrics"][METRIC]["numerator"] == OLD
    raw["metrics"][METRIC]["numerator"] = NEW
    raw["metrics"][METRIC]["definition"] = (
        "Share of leavers who exited to a permanent or temporary destination."
    )
    prog_file.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    old_program, new_program = load_program(program_path), load_program(prog_file)

    after = batch.run_period(prog_file, "2026-10", **kw)
    harbor = next(p for p in after.manifest.packets if p["key"] == "harbor")
    assert harbor["status"] == "ok", harbor.get("error")  # the notice passes the audit
    section = _definitions_section(
        (out / "2026-10" / "harbor" / "packet.html").read_text(encoding="utf-8")
    )
    assert "Changed definitions" in section
    assert (
        "<strong>Exits to permanent housing</strong>: definition changed from October 2026"
        in section
    )
    old_hash = defs.definition_hash(old_program.metrics[METRIC])
    new_hash = defs.definition_hash(new_program.metrics[METRIC])
    assert f"version {old_hash} → {new_hash}" in section
    assert f"engine method {defs.method_hash()}" in section
    for text in (
        OLD,
        NEW,
        old_program.metrics[METRIC].definition,
        new_program.metrics[METRIC].definition,
    ):
        assert text in unescape(section), text
    assert section.count('class="acm-definition-change"') == 1  # only the edited metric
    history = defs.history(batch_store(store_dir), new_program.id)
    mine = history[history["metric_id"] == METRIC]
    assert mine["first_period"].tolist() == ["2026-09", "2026-10"]


def batch_store(root: Path):
    from acm_helpers.store.store import Store

    return Store(root)
