"""The import direction between stages (pyproject.toml's import-linter contracts) holds, and the
contracts have teeth: a deliberately wrong-way import in a copy of the package breaks them.

``lint-imports`` runs in-process through import-linter's ``lint_imports`` (the function behind
the command), so this stays a unit test: grimp parses the source files, nothing is imported or
started. ``make lint`` runs the command itself.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import importlinter.api  # noqa: F401  (configures import-linter as the command does)
import pytest
from importlinter.application import use_cases

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = 5  # the contracts in pyproject.toml's [tool.importlinter]


def lint(config: Path, capsys) -> tuple[bool, str]:
    """Run lint-imports on ``config``'s contracts; its verdict and the report it printed."""
    capsys.readouterr()
    ok = use_cases.lint_imports(config_filename=str(config), cache_dir=None, no_logo=True)
    return ok, capsys.readouterr().out


def verdicts(report: str) -> dict[str, str]:
    """Contract name -> KEPT / BROKEN, from the report's summary lines."""
    out = {}
    for line in report.splitlines():
        name, _, verdict = line.rpartition(" ")
        if verdict in ("KEPT", "BROKEN") and name:
            out[name] = verdict
    return out


def test_the_repository_keeps_every_contract(capsys):
    spec = importlib.util.find_spec("acm_helpers")
    assert Path(spec.origin).resolve().parent == ROOT / "acm_helpers"  # this tree is analysed
    ok, report = lint(ROOT / "pyproject.toml", capsys)
    assert ok, report
    assert list(verdicts(report).values()) == ["KEPT"] * CONTRACTS
    assert f"Contracts: {CONTRACTS} kept, 0 broken." in report


@pytest.fixture
def copy(tmp_path, monkeypatch) -> Path:
    """acm_helpers/ and pyproject.toml copied into tmp_path, which lint-imports then analyses:
    the copy comes first on the path and the installed package is out of ``sys.modules``, so
    grimp finds the copy (the line numbers it reports exist only there)."""
    shutil.copytree(
        ROOT / "acm_helpers", tmp_path / "acm_helpers", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "acm_helpers", raising=False)
    assert Path(importlib.util.find_spec("acm_helpers").origin).parent == tmp_path / "acm_helpers"
    return tmp_path


def wrong_way(copy: Path, module: str, line: str) -> int:
    """Append ``line`` to ``module`` (a path under the copy's acm_helpers/); its line number."""
    path = copy / "acm_helpers" / module
    text = path.read_text()
    path.write_text(text + ("" if text.endswith("\n") else "\n") + line + "\n")
    return len(path.read_text().splitlines())


def test_the_copy_keeps_every_contract_until_it_is_changed(copy, capsys):
    ok, report = lint(copy / "pyproject.toml", capsys)
    assert ok, report


def test_the_engine_importing_a_packet_breaks_the_layers(copy, capsys):
    line = wrong_way(
        copy, "metrics/engine.py", "from acm_helpers.packets import packet  # wrong way"
    )
    ok, report = lint(copy / "pyproject.toml", capsys)
    assert not ok
    broken = {name for name, verdict in verdicts(report).items() if verdict == "BROKEN"}
    assert broken == {
        "Stages import downwards only",
        # packets draw charts, so the engine would now reach views through them
        "The metrics engine reads the store, never intake, HMIS or views",
    }
    assert "acm_helpers.metrics is not allowed to import acm_helpers.packets:" in report
    assert f"acm_helpers.metrics.engine -> acm_helpers.packets.packet (l.{line})" in report


def test_the_explorer_importing_a_packet_breaks_their_independence(copy, capsys):
    line = wrong_way(
        copy, "explorer/data.py", "from acm_helpers.packets import packet  # wrong way"
    )
    ok, report = lint(copy / "pyproject.toml", capsys)
    assert not ok
    broken = {name for name, verdict in verdicts(report).items() if verdict == "BROKEN"}
    assert broken == {"Stages import downwards only"}
    assert "acm_helpers.explorer is not allowed to import acm_helpers.packets:" in report
    assert f"acm_helpers.explorer.data -> acm_helpers.packets.packet (l.{line})" in report
