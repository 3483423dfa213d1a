"""nbval over every template in notebooks/, on the demo fixture store.

nbval runs a notebook as it is; templates need parameters, so each one is first parameterized
with papermill (``prepare_only``: the injected cell, no execution) into a temporary copy. The
headline cells marked ``# NBVAL_CHECK_OUTPUT`` get reference outputs computed here from the
engine's ``metric_values`` (numerator / denominator for rates), so nbval proves the notebook
shows the right provider's numbers for the right month; their HTML is sanitized away (compared:
the one-line text form). Every other cell must merely run (``--nbval-lax``).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from acm_helpers.core import text

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
PERIOD = "2026-10"
SANITIZE = """[html]
regex: (?s)^<(div|h1|h2|h3|section|table|ul|p)\\b.*
replace: [html]
"""


def template_parameters(name: str, program_path: Path, data_dir: Path) -> dict:
    """Parameters each template needs on the fixture store (one entry per template)."""
    common = {"program_path": str(program_path), "data_dir": str(data_dir)}
    table = {
        "01_intake": {**common, "period": PERIOD},
        "02_dashboard": {**common, "provider": "cascade", "period": PERIOD, "audience": "provider"},
        "03_deep_dive": {**common, "provider": "harbor", "period": PERIOD, "audience": "internal"},
        "04_end_of_contract": {**common, "provider": "harbor", "audience": "internal"},
        "05_explorer": {
            "program_files": str(program_path),
            "data_dir": str(data_dir),
            "provider": "harbor",
        },
        "06_system": {**common, "period": PERIOD},
    }
    if name not in table:
        pytest.fail(
            f"notebooks/{name}.ipynb has no test parameters: add it to template_parameters()"
        )
    return table[name]


def _value(row: pd.Series) -> str:
    if row["suppressed"]:
        return "suppressed"
    value = row["numerator"] / row["denominator"] if row["kind"] == "rate" else row["value"]
    return text.value(value, row["format"], row["unit"])


def expected_tiles(mv: pd.DataFrame, program, provider: str) -> str:
    rows = mv[
        (mv["provider_id"] == provider)
        & (mv["period"] == PERIOD)
        & (mv["grain"] == "month")
        & (mv["dimension"] == "")
    ].set_index("metric_id")
    parts = [f"{m.label} {_value(rows.loc[mid])}" for mid, m in program.metrics.items() if m.key]
    return f"<tiles: {provider} {PERIOD}: " + "; ".join(parts) + ">"


def expected_status(mv: pd.DataFrame, program) -> str:
    rows = mv[(mv["period"] == PERIOD) & (mv["grain"] == "month") & (mv["dimension"] == "")]
    parts = []
    for p in program.providers:
        own = rows[rows["provider_id"] == p.id].set_index("metric_id")
        parts.append(
            f"{p.name}: "
            + ", ".join(_value(own.loc[mid]) for mid, m in program.metrics.items() if m.key)
        )
    return f"<status: {PERIOD}: " + "; ".join(parts) + ">"


def prepare(template: Path, params: dict, out: Path, references: dict[str, str]) -> Path:
    """Parameterized copy of a template, with reference outputs for its checked cells."""
    import papermill

    nb = papermill.execute_notebook(
        str(template), None, parameters=params, prepare_only=True, progress_bar=False
    )
    for cell in nb.cells:
        if cell.cell_type == "code" and "NBVAL_CHECK_OUTPUT" in cell.source:
            call = next(k for k in references if k in cell.source)
            cell.outputs = [
                nbformat.v4.new_output(
                    "execute_result",
                    data={"text/plain": references[call], "text/html": "[html]"},
                    execution_count=1,
                )
            ]
            cell.execution_count = 1
    path = out / template.name
    nbformat.write(nb, str(path))
    return path


@pytest.mark.slow
def test_every_template_runs_under_nbval(tmp_path, demo_store, program, program_path):
    templates = sorted(NOTEBOOKS.glob("*.ipynb"))
    assert {t.stem for t in templates} >= {"02_dashboard", "06_system"}
    mv = demo_store.read_table("metric_values")
    references = {
        "dashboard.tiles(p)": expected_tiles(mv, program, "cascade"),
        "system.status(s)": expected_status(mv, program),
    }
    assert "Exits to permanent housing" in references["dashboard.tiles(p)"]
    copies = [
        prepare(t, template_parameters(t.stem, program_path, demo_store.root), tmp_path, references)
        for t in templates
    ]
    (tmp_path / "sanitize.cfg").write_text(SANITIZE)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--nbval-lax",
            "--nbval-sanitize-with",
            "sanitize.cfg",
            *[c.name for c in copies],
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    # every code cell of every template was collected and passed
    n_cells = sum(
        1
        for c in copies
        for cell in nbformat.read(str(c), as_version=4).cells
        if cell.cell_type == "code"
    )
    assert f"{n_cells} passed" in proc.stdout, proc.stdout[-2000:]
