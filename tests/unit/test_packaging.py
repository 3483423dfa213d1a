"""pyproject.toml and environment.yml list the same dependencies (same specs, dev extras too)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _norm(spec: str) -> str:
    return spec.replace(" ", "").lower()


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    env = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    listed = [p for p in pip if not p.startswith("-e")]
    assert sorted(map(_norm, listed)) == sorted(map(_norm, wanted))
    assert len(listed) == len(set(map(_norm, listed)))  # no package twice
    assert "-e ." in pip  # conda users get the package itself


def test_every_dependency_is_pinned_in_constraints():
    pins = {
        line.split("==")[0].lower().replace("_", "-")
        for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines()
        if "==" in line
    }
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    names = [
        d.split("[")[0].split(">")[0].split("=")[0].split("<")[0].strip().lower().replace("_", "-")
        for d in [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    ]
    assert [n for n in names if n not in pins] == []


def test_console_script():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["scripts"]["acm"] == "acm_helpers.cli:main"


def _setuptools() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"][
        "setuptools"
    ]


def test_the_package_list_names_every_subpackage_and_the_mapped_folders():
    """`packages` is a list (a mapped folder cannot be found by `packages.find`): a new
    subpackage left off it would be missing from every installed copy."""
    on_disk = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for p in (ROOT / "acm_helpers").glob("**/__init__.py")
    }
    listed = set(_setuptools()["packages"])
    mapped = set(_setuptools()["package-dir"])
    assert mapped == {"acm_helpers.notebooks", "acm_helpers.parameters"}
    assert listed == on_disk | mapped


def test_package_data_covers_the_notebooks_and_the_demo_program_files():
    """Every notebook template and every demo program file in the checkout ships (one copy each,
    mapped from notebooks/ and parameters/)."""
    tool = _setuptools()
    data = tool["package-data"]
    for package, folder in tool["package-dir"].items():
        files = {
            p.relative_to(ROOT / folder).as_posix()
            for p in (ROOT / folder).glob("**/*")
            if p.is_file() and ".ipynb_checkpoints" not in p.parts
        }
        shipped = {
            p.relative_to(ROOT / folder).as_posix()
            for pattern in data[package]
            for p in (ROOT / folder).glob(pattern)
        }
        assert files and files == shipped, folder
    assert not (ROOT / "acm_helpers" / "notebooks").exists()  # one copy in git: notebooks/
    assert not (ROOT / "acm_helpers" / "parameters").exists()


def _pins() -> dict[str, str]:
    return {
        line.split("==")[0].lower().replace("_", "-"): line.split("==")[1]
        for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines()
        if "==" in line
    }


def test_pre_commit_runs_ruff_nbstripout_and_import_linter_at_the_pinned_versions():
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    hooks = {h["id"]: (repo, h) for repo in config["repos"] for h in repo["hooks"]}
    assert {"ruff", "ruff-format", "nbstripout", "lint-imports"} <= set(hooks)
    pins = _pins()
    assert hooks["ruff"][0]["rev"] == f"v{pins['ruff']}"
    assert hooks["nbstripout"][0]["rev"] == pins["nbstripout"]
    repo, imports = hooks["lint-imports"]
    assert repo["repo"] == "local" and imports["entry"] == "lint-imports"
    assert imports["language"] == "system" and imports["pass_filenames"] is False


def test_make_lint_runs_the_same_checks_from_the_virtualenv():
    """pre-commit downloads its hook repositories; `make lint` must work offline, so it runs
    the tools installed by the dev extra."""
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    recipe = makefile.split("\nlint:", 1)[1].split("\n\n", 1)[0]
    for command in (
        "$(BIN)/ruff check",
        "$(BIN)/ruff format --check",
        "$(BIN)/nbstripout --keep-id --verify notebooks/*.ipynb",
        "$(BIN)/lint-imports",
    ):
        assert command in recipe, command


def test_notebook_templates_are_committed_without_outputs():
    import json

    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        code = [c for c in cells if c["cell_type"] == "code"]
        assert code and all(not c["outputs"] and c["execution_count"] is None for c in code), path


def test_acm_version_prints_the_package_version_and_the_method_hash():
    from typer.testing import CliRunner

    from acm_helpers import __version__
    from acm_helpers.cli import app
    from acm_helpers.metrics.definitions import method_hash

    for args in (["--version"], ["version"]):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        assert result.output.strip() == f"acm-workbench {__version__} (method {method_hash()})"
    assert __version__ == tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
