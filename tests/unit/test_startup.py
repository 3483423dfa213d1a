"""Start-up shortcuts checked for what they must not change: the Vega-Lite schema needs no IRI
checker (which processes skip, acm_helpers.core.imports), the literal z value is scipy's, and
the fonts file vl-convert reads names no system font directory (the processes that use them are
in tests/integration/test_startup_processes.py)."""

from __future__ import annotations

import json
from pathlib import Path

from acm_helpers.metrics import intervals
from acm_helpers.views import vega_svg


def test_vega_lite_schema_uses_no_iri_format():
    import altair as alt

    schema = json.dumps(alt.load_schema())
    formats = {f for f in ("iri", "iri-reference") if f'"format": "{f}"' in schema}
    assert formats == set()
    assert '"format": "uri-reference"' in schema  # the formats jsonschema still checks


def test_z95_is_scipys_quantile():
    from scipy import stats

    assert intervals.Z95 == float(stats.norm.ppf(0.975))


def test_fonts_conf_names_no_system_font_directory():
    conf = Path(vega_svg.fonts_conf()).read_text()
    assert "<dir>" in conf and "/usr/share/fonts" not in conf
    dirs = [
        line.split("<dir>")[1].split("</dir>")[0] for line in conf.splitlines() if "<dir>" in line
    ]
    assert dirs and not any(Path(d).exists() for d in dirs)
