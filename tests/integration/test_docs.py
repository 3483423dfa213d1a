"""The documentation site: `mkdocs build --strict` passes (a broken link or a missing image or
page fails it), the built site loads nothing from the network, and the program-file reference
generated from the pydantic models lists every field of every model."""

from __future__ import annotations

import importlib.util
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel

from acm_helpers.core import config

ROOT = Path(__file__).resolve().parents[2]

# what would make a browser fetch from outside: a remote script, stylesheet, font or import
REMOTE = [
    re.compile(r"<script[^>]*\ssrc=[\"']?(https?:)?//", re.I),
    re.compile(r"<link[^>]*\shref=[\"']?(https?:)?//", re.I),
    re.compile(r"fonts\.(googleapis|gstatic)\.com", re.I),
    re.compile(r"@import\s+(url\()?[\"']?(https?:)?//", re.I),
    re.compile(r"url\([\"']?https?://", re.I),
]


def _reference_module():
    path = ROOT / "docs" / "_hooks" / "program_reference.py"
    spec = importlib.util.spec_from_file_location("program_reference", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def test_strict_build_writes_every_guide(site):
    for page in (
        "index.html",
        "manager/packet.html",
        "staff/dashboard.html",
        "analyst/deep-dives.html",
        "admin/backups.html",
        "reference/program-file.html",
    ):
        assert (site / page).stat().st_size > 5_000, page
    assert not (site / "_hooks").exists()  # the generator is not published


def test_built_site_references_nothing_outside(site):
    found = []
    for path in site.rglob("*"):
        if path.suffix not in {".html", ".css", ".js"}:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for pattern in REMOTE:
            for m in pattern.finditer(text):
                found.append(f"{path.relative_to(site)}: {text[m.start() : m.start() + 80]}")
    assert found == []
    # the check can see one: Material's own stylesheet is linked locally
    assert re.search(
        r"<link[^>]*href=\"[^\"]*assets/stylesheets/", (site / "index.html").read_text()
    )


def _config_models() -> list[type[BaseModel]]:
    return [
        obj
        for obj in vars(config).values()
        if inspect.isclass(obj)
        and issubclass(obj, config.Frozen)
        and obj is not config.Frozen
        and obj.__module__ == config.__name__
    ]


def test_reference_lists_every_field_of_every_model_with_its_help():
    page = _reference_module().render()
    sections = dict(re.findall(r"^## (\w+)\n(.*?)(?=^## |\Z)", page, flags=re.M | re.S))
    models = _config_models()
    assert {m.__name__ for m in models} <= set(sections), "a model has no section"
    for model in models:
        for name, info in model.model_fields.items():
            row = re.search(rf"^\| `{name}` \|(.*)\|$", sections[model.__name__], flags=re.M)
            assert row, f"{model.__name__}.{name} missing from the reference"
            assert info.description, (
                f"{model.__name__}.{name} has no help: add Field(description=...) in config.py"
            )
            assert info.description.split("`")[0][:30] in row.group(1)
    # defaults are the model's: a required field says so, a default is printed
    assert re.search(r"^\| `threshold` \| integer \| `11` \|", sections["Suppression"], re.M)
    assert re.search(r"^\| `host` \| text \| \*required\* \|", sections["Delivery"], re.M)


def test_reference_page_is_in_the_built_site(site):
    html = (site / "reference" / "program-file.html").read_text(encoding="utf-8")
    for model in _config_models():
        assert f'id="{model.__name__.lower()}"' in html
    assert "submission_due_days" in html and "reference_shares" in html
