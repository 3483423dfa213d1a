"""What a process skips or sets up at start to begin sooner, each in a fresh interpreter (imports
and vl-convert's font database are per process): jsonschema without its IRI checker still
validates notebooks and charts, and vl-convert's own fonts give the same SVG whatever the
machine's font setup and leave no variable behind for the children started later."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def run_python(code: str, **env: str) -> dict:
    """Run ``code`` in a fresh interpreter (imports are per process); it prints one JSON line."""
    full = {k: v for k, v in os.environ.items() if k not in ("ACM_CHART_FONTS", "FONTCONFIG_FILE")}
    full.update(env)
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=REPO,
        env=full,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_skip_unused_keeps_notebook_and_chart_validation():
    got = run_python(
        """
        import json, sys
        from acm_helpers.core import imports
        first = imports.skip_unused()
        import altair as alt, jsonschema, nbformat
        from nbformat.v4 import new_code_cell, new_notebook
        nb = new_notebook(cells=[new_code_cell("1 + 1")])
        nbformat.validate(nb)
        bad = dict(nb, cells=[{"cell_type": "code"}])
        try:
            nbformat.validate(nbformat.from_dict(bad))
            caught = False
        except nbformat.ValidationError:
            caught = True
        chart = alt.Chart(alt.Data(values=[{"x": 1}])).mark_point().encode(x="x:Q")
        chart.to_dict()  # validated against the Vega-Lite schema
        try:
            alt.Chart(alt.Data(values=[])).mark_point().encode(x="x:Q").properties(width="wide").to_dict()
            chart_caught = False
        except Exception:
            chart_caught = True
        print(json.dumps({
            "first": first,
            "again": imports.skip_unused(),
            "absent": sys.modules.get("rfc3987_syntax", "missing") is None,
            "caught": caught,
            "chart_caught": chart_caught,
        }))
        """
    )
    assert got == {
        "first": True,
        "again": False,  # jsonschema already imported: nothing to skip any more
        "absent": True,
        "caught": True,
        "chart_caught": True,
    }


SVG_CODE = """
    import hashlib, json, os
    from acm_helpers.views import vega_svg
    spec = {
        "data": {"values": [{"m": "2026-0%d" % i, "v": i * 1.5} for i in range(1, 10)]},
        "mark": "line",
        "encoding": {"x": {"field": "m", "type": "ordinal", "title": "Month"},
                     "y": {"field": "v", "type": "quantitative", "title": "Exits to housing"}},
        "title": "Harbor Light Housing",
    }
    svg = vega_svg.to_svg(spec)
    print(json.dumps({
        "sha": hashlib.sha256(svg.encode()).hexdigest(),
        "text": svg.count("<text"),
        "left": os.environ.get("FONTCONFIG_FILE"),
    }))
"""


def test_chart_fonts_are_vl_converts_own_and_leave_no_variable_behind():
    own = run_python(SVG_CODE)
    assert own["text"] >= 10  # title, axis titles, labels: text was measured and drawn
    assert own["left"] is None  # set only for vl-convert's first call, then put back
    again = run_python(SVG_CODE, FONTCONFIG_FILE="/etc/fonts/fonts.conf")
    assert again["left"] == "/etc/fonts/fonts.conf"  # a caller's own value is restored
    assert again["sha"] == own["sha"]  # the same layout whatever the machine's font setup


LIBERATION = Path("/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf")


@pytest.mark.skipif(not LIBERATION.exists(), reason="Debian's Liberation Sans is not installed")
def test_own_fonts_lay_out_as_debians_liberation_sans():
    """vl-convert ships Liberation Sans; Debian's is the same font, so charts did not move."""
    own = run_python(SVG_CODE)
    system = run_python(SVG_CODE, ACM_CHART_FONTS="system")
    assert system["sha"] == own["sha"]


def test_the_run_host_checks_appendix_names_without_the_packet_code():
    # `acm run`'s host checks every job's appendix name before a worker starts; the builders'
    # modules (altair, the packet code: 0.9 s of CPU) are imported only where packets are built
    got = run_python(
        """
        import json, sys
        from acm_helpers.batch.run import Job, check_appendices
        from acm_helpers.core.errors import UnknownIdError
        check_appendices([Job.make("dashboard", "harbor", {}, appendix="provider"),
                          Job.make("system", "_system", {}, appendix="system")])
        try:
            check_appendices([Job.make("dashboard", "x", {}, appendix="nope")])
            unknown = ""
        except UnknownIdError as exc:
            unknown = str(exc)
        print(json.dumps({"altair": "altair" in sys.modules, "unknown": unknown}))
        """
    )
    assert got["altair"] is False
    assert "Known appendix builders: provider, system" in got["unknown"]
