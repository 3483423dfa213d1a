"""Which modules a notebook template imports, read without a kernel: the warm kernel preloads
them (the kernels themselves are exercised in tests/integration/test_workers.py)."""

from __future__ import annotations

import textwrap

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from acm_helpers.batch.kernels import DEFAULT_PRELOAD, WarmSpec, notebook_imports


def make_notebook(path, *cells: str):
    """Write a notebook with a tagged parameters cell followed by the given code cells."""
    nb = new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    params = new_code_cell("provider = 'nobody'\nperiod = '2026-10'")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [new_markdown_cell("# probe"), params] + [
        new_code_cell(textwrap.dedent(c)) for c in cells
    ]
    nbformat.write(nb, str(path))
    return path


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param("import pandas as pd\nimport altair as alt", ["pandas", "altair"], id="plain"),
        pytest.param(
            "from acm_helpers.core import config",
            ["acm_helpers.core", "acm_helpers.core.config"],
            id="from-package",
        ),
        pytest.param("%matplotlib inline\nimport os", [], id="magic-cell-skipped"),
        pytest.param("import not_a_module_anywhere", [], id="missing-skipped"),
    ],
)
def test_notebook_imports(tmp_path, source, expected):
    path = make_notebook(tmp_path / "n.ipynb", source)
    assert notebook_imports(path) == expected


def test_spec_for_notebooks_adds_template_imports(tmp_path):
    path = make_notebook(tmp_path / "n.ipynb", "import json\nfrom acm_helpers.core import config")
    spec = WarmSpec.for_notebooks([path])
    assert spec.preload == (
        *DEFAULT_PRELOAD,
        "json",
        "acm_helpers.core",
        "acm_helpers.core.config",
    )
