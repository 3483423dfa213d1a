"""The package works outside the checkout: ``pip install`` (a real, non-editable install) into a
fresh virtualenv outside the repository, then ``acm demo --out DIR`` from another folder builds
the packets under DIR, with the notebook templates, nbconvert/Voilà templates and the demo
program read from the installed package (docs/admin/install.md, Paths).

Dependencies are not downloaded again. The virtualenv sees the system site-packages, and the
environment running this test (where ``make setup`` installed the project's dependencies; a
virtualenv's ``--system-site-packages`` reaches only the base interpreter's) is hard-linked into
it, ``site-packages`` and ``share/jupyter`` (nbconvert's base templates), as if pip had installed
the same wheels there: modules then live inside the new environment, as the warm kernel's reset
expects of libraries. The editable install of this checkout is left out, so it cannot shadow the
new install; the test checks ``acm_helpers.__file__``. The one build tool a non-isolated build
needs, a setuptools that builds wheels by itself (70.1 or later), is installed with pip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

# What a source distribution would not carry either: VCS data, environments, generated files.
TOP_LEVEL_ONLY = {".git", ".venv", "data", "outputs", "demo", "build"}
ANYWHERE = shutil.ignore_patterns(
    "*.egg-info", "__pycache__", "_work", ".pytest_cache", ".ruff_cache", ".ipynb_checkpoints"
)


def not_source(folder: str, names: list[str]) -> set[str]:
    """``shutil.copytree`` ignore: generated folders at the top, caches anywhere."""
    top = set(names) & TOP_LEVEL_ONLY if Path(folder) == ROOT else set()
    return top | ANYWHERE(folder, names)


# The editable install of the checkout in the running environment: never linked into the new one.
EDITABLE = shutil.ignore_patterns("acm_helpers", "__editable__*", "acm_workbench*")


def link_tree(source: Path, target: Path) -> None:
    """Hard-link ``source`` into ``target`` (copy where links cannot be made, e.g. across
    file systems), leaving this checkout's editable install out."""

    def link(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    shutil.copytree(
        source, target, symlinks=True, ignore=EDITABLE, copy_function=link, dirs_exist_ok=True
    )


def clean_env(venv: Path) -> dict[str, str]:
    """The environment of a user who only has the new virtualenv: no PYTHONPATH, no user site."""
    drop = {"PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE", "VIRTUAL_ENV"}
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("ACM_")}
    env["PATH"] = os.pathsep.join([str(venv / "bin"), env.get("PATH", "")])
    env["VIRTUAL_ENV"] = str(venv)
    env["PYTHONNOUSERSITE"] = "1"
    return env


def run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float) -> str:
    """Run a command; on failure, fail the test with the end of its output."""
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, (
        f"{' '.join(cmd)} exited {done.returncode}\n--- stdout\n{done.stdout[-5000:]}"
        f"\n--- stderr\n{done.stderr[-5000:]}"
    )
    return done.stdout


def test_pip_install_then_acm_demo_from_another_folder_builds_the_packets(tmp_path):
    source = tmp_path / "source"  # a copy, so the build writes nothing into the checkout
    shutil.copytree(ROOT, source, ignore=not_source, symlinks=True)
    venv = tmp_path / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    paths = {"base": str(venv), "platbase": str(venv)}
    link_tree(Path(sysconfig.get_path("purelib")), Path(sysconfig.get_path("purelib", vars=paths)))
    if sysconfig.get_path("platlib") != sysconfig.get_path("purelib"):
        link_tree(
            Path(sysconfig.get_path("platlib")), Path(sysconfig.get_path("platlib", vars=paths))
        )
    jupyter_data = Path(sys.prefix) / "share" / "jupyter"
    if jupyter_data.is_dir():
        link_tree(jupyter_data, venv / "share" / "jupyter")
    env = clean_env(venv)
    work = tmp_path / "elsewhere"  # cwd of every command: neither the checkout nor the output
    work.mkdir()
    py = str(venv / "bin" / "python")
    run([py, "-m", "pip", "install", "-q", "setuptools>=70.1"], work, env, 600)
    run(
        [py, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", str(source)],
        work,
        env,
        900,
    )

    shown = run(
        [
            py,
            "-c",
            "import acm_helpers; from acm_helpers.core import resources as r; "
            "print(acm_helpers.__file__); print(r.notebook('dashboard')); print(r.demo_program())",
        ],
        work,
        env,
        120,
    ).splitlines()
    installed = Path(shown[0]).resolve()
    assert installed.is_relative_to(venv.resolve()), f"acm_helpers imported from {installed}"
    for shipped in shown[1:]:
        assert Path(shipped).resolve().is_relative_to(venv.resolve()) and Path(shipped).is_file()

    out = tmp_path / "demo out"
    log = run(
        [str(venv / "bin" / "acm"), "demo", "--out", str(out), "--scale", "0.05", "--workers", "1"],
        work,
        env,
        1800,
    )
    # months only: the demo also builds the quarter's internal review and learning circle
    period_dirs = sorted(p for p in (out / "outputs").glob("20??-??") if p.name[5:].isdigit())
    assert period_dirs, f"no packets under {out / 'outputs'}:\n{log}"
    packets = period_dirs[-1]
    assert (packets / "index.html").is_file()
    assert (packets / "harbor" / "packet.html").is_file()
    assert (packets / "_system" / "packet.html").is_file()
    assert (out / "demo" / "homeless_demo" / "submissions").is_dir()
    assert any((out / "data" / "homeless_demo" / "tables").glob("metric_values*"))
    assert list(work.iterdir()) == [], "acm demo --out wrote outside its output folder"
