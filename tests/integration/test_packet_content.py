"""Packets say the same with and without the run's speed-ups.

The speed-ups of the monthly run (issue 17) may change what a packet costs, never what it shows.
Each test builds the same packet twice, once the plain way (altair's own schema lookup, layer
merge and schema checks, the audit reading each file twice) and once the fast way, and compares
what a reader gets: every section's text and every chart's Vega-Lite spec, as the notebook
template calls them. The sections run in this process, cell by cell from the template itself, so
a section added to the notebook is compared too; no kernel is started.
"""

from __future__ import annotations

import ast
import json
import re

import nbformat
import pytest

from acm_helpers.core import stages
from acm_helpers.views import charts

ROOT_NB = charts.__file__.rsplit("/acm_helpers/", 1)[0] + "/notebooks"
PERIOD = "2026-10"


def run_template(name: str, parameters: dict) -> list:
    """Each code cell of a notebook template run in one namespace (the parameters cell
    replaced by ``parameters``); the value of each cell's last expression, as Jupyter shows it."""
    nb = nbformat.read(f"{ROOT_NB}/{name}", as_version=4)
    ns: dict = dict(parameters)
    shown = []
    for cell in nb.cells:
        if cell.cell_type != "code" or "parameters" in cell.metadata.get("tags", []):
            continue
        tree = ast.parse(cell.source)
        last = tree.body[-1] if tree.body and isinstance(tree.body[-1], ast.Expr) else None
        body = tree.body[:-1] if last is not None else tree.body
        exec(compile(ast.Module(body, []), name, "exec"), ns)  # noqa: S102 - our own template
        if last is not None:
            shown.append(eval(compile(ast.Expression(last.value), name, "eval"), ns))  # noqa: S307
    return shown


def reading(blocks: list, specs: list[dict]) -> dict:
    """What a reader gets: each section's HTML with the charts as their specs."""
    svg = re.compile(r"<svg\b.*?</svg>", re.S)
    clock = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d")  # the footer's "Generated" minute

    def text(html: str) -> str:
        return clock.sub("<time>", svg.sub("<svg/>", html))

    return {
        "sections": [(b.title, b.summary, text(b.body)) for b in blocks],
        "specs": json.dumps(specs, sort_keys=True, default=str),
    }


def build(monkeypatch, template: str, parameters: dict, *, fast: bool) -> dict:
    specs: list[dict] = []

    def to_svg(chart):  # the spec is what is compared; vl-convert's rendering of it is not ours
        with charts.alt.theme.enable(charts.THEME):
            specs.append(chart.to_dict(validate=False))
        return "<svg></svg>"

    monkeypatch.setattr(charts, "to_svg", to_svg)
    charts.share_schema_lookup(enabled=fast)
    charts.quick_build(enabled=fast)
    try:
        blocks = run_template(template, parameters)
    finally:
        charts.share_schema_lookup(enabled=True)
        charts.quick_build(enabled=True)
        stages.drain()
    assert blocks and specs, "the template showed nothing"
    return reading(blocks, specs)


@pytest.mark.parametrize(
    ("template", "extra"),
    [
        pytest.param(
            "02_dashboard.ipynb", {"provider": "harbor", "audience": "provider"}, id="harbor"
        ),
        pytest.param("06_system.ipynb", {"audience": "internal"}, id="system"),
    ],
)
def test_packet_text_and_chart_specs_are_the_same_fast_and_plain(
    monkeypatch, program_path, demo_store, template, extra
):
    params = {
        "program_path": str(program_path),
        "data_dir": str(demo_store.root),
        "period": PERIOD,
        "topic": "",
        **extra,
    }
    plain = build(monkeypatch, template, params, fast=False)
    fast = build(monkeypatch, template, params, fast=True)
    assert [s[0] for s in fast["sections"]] == [s[0] for s in plain["sections"]]
    for got, want in zip(fast["sections"], plain["sections"], strict=True):
        assert got == want, f"section {want[0]} differs"
    assert fast["specs"] == plain["specs"]
    # every section reported its cost, and the timings never reach the page
    assert all("acm_stages" not in s[2] for s in fast["sections"])


def test_the_audit_reads_each_file_once_and_sees_the_same(
    tmp_path, program, demo_store, program_path
):
    """The audit's one-pass reading gives the units and tables of the two-pass one."""
    from acm_helpers.packets import audit_text, packet
    from acm_helpers.packets.xlsx import write_xlsx

    blocks = run_template(
        "02_dashboard.ipynb",
        {
            "program_path": str(program_path),
            "data_dir": str(demo_store.root),
            "provider": "cascade",
            "period": PERIOD,
            "audience": "provider",
            "topic": "",
        },
    )
    stages.drain()
    page = tmp_path / "packet.html"
    page.write_text("<html><body>" + "".join(b.body for b in blocks) + "</body></html>")
    sheets, notes = packet.appendix(
        program,
        demo_store,
        {
            "program_path": str(program_path),
            "data_dir": str(demo_store.root),
            "provider": "cascade",
            "period": PERIOD,
        },
    )
    book = write_xlsx(tmp_path / "appendix.xlsx", sheets, notes=notes)
    stages.drain()
    for path in (page, book):
        units, tables = audit_text.read_file(path)
        assert units == audit_text.file_units(path)
        assert tables == audit_text.file_tables(path)
        assert units and tables
