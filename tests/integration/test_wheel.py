"""The wheel ships what an installed copy needs and nothing of the checkout's own: the nbconvert
and Jupyter templates, every notebook template and demo program file, the console script; no
tests, data, outputs, benchmarks or notebooks' outputs. Built offline from a copy of the source
(``pip wheel --no-deps --no-build-isolation``, with the dev extra's setuptools)."""

from __future__ import annotations

import configparser
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GENERATED = {".git", ".venv", "data", "outputs", "demo", "build", "dist"}
CACHES = shutil.ignore_patterns(
    "*.egg-info", "__pycache__", ".pytest_cache", ".ruff_cache", ".ipynb_checkpoints", "_work"
)


def _source_only(folder: str, names: list[str]) -> set[str]:
    top = set(names) & GENERATED if Path(folder) == ROOT else set()
    return top | CACHES(folder, names)


def _build_wheel(tmp_path: Path) -> Path:
    source = tmp_path / "source"  # a copy: the build writes build/ and *.egg-info there
    shutil.copytree(ROOT, source, ignore=_source_only, symlinks=True)
    dist = tmp_path / "dist"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-q",
            "-w",
            str(dist),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (wheel,) = dist.glob("acm_workbench-*.whl")
    return wheel


def test_the_wheel_ships_templates_and_notebooks_and_no_tests_or_data(tmp_path):
    wheel = _build_wheel(tmp_path)
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        notebooks = {n: zf.read(n) for n in names if n.endswith(".ipynb")}
        entry_points = zf.read(
            next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        ).decode()

    # only the package and its metadata, at the top
    assert {n.split("/")[0] for n in names} == {
        "acm_helpers",
        next(n.split("/")[0] for n in names if ".dist-info/" in n),
    }
    # templates: every file under acm_helpers/templates in the checkout
    templates = {
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / "acm_helpers" / "templates").glob("**/*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert templates and templates <= names
    # notebooks and demo program files, mapped into the package (one copy in git)
    shipped_notebooks = {
        f"acm_helpers/notebooks/{p.name}" for p in (ROOT / "notebooks").glob("*.ipynb")
    }
    assert shipped_notebooks and set(notebooks) == shipped_notebooks
    for name, raw in notebooks.items():  # committed without outputs, so shipped without
        cells = json.loads(raw)["cells"]
        assert all(not c.get("outputs") for c in cells if c["cell_type"] == "code"), name
    assert "acm_helpers/parameters/program.yaml" in names
    assert {"acm_helpers/cli.py", "acm_helpers/delivery/send.py"} <= names
    # nothing of the checkout's own
    for part in ("tests/", "/tests/", "benchmarks", "outputs/", ".parquet", "conftest.py"):
        assert not [n for n in names if part in n], part
    assert not [n for n in names if n.startswith("acm_helpers/data") or "/data/" in n]
    ep = configparser.ConfigParser()
    ep.read_string(entry_points)
    assert ep["console_scripts"]["acm"] == "acm_helpers.cli:main"
