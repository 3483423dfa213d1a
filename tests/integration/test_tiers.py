"""The unit tier's guard (tests/unit/conftest.py) fails a test that starts a process, a kernel or
a server, and leaves pure tests alone. Shown on a planted unit tier run by pytest in a subprocess,
which is why this lives in tests/integration."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

UNIT = Path(__file__).resolve().parents[1] / "unit"

PLANTED = """
import os
import socket
import subprocess

import altair as alt
import duckdb
import pandas as pd


def test_pure_work_is_allowed(tmp_path):
    frame = pd.DataFrame({"x": [1, 2], "y": [3, 4]})
    assert duckdb.sql("SELECT sum(y) AS s FROM frame").df()["s"][0] == 7
    assert alt.Chart(frame).mark_bar().encode(x="x", y="y").to_dict()["mark"]["type"] == "bar"
    frame.to_parquet(tmp_path / "f.parquet")


def test_subprocess():
    subprocess.run(["true"], check=True)


def test_swallowed_subprocess():
    try:
        subprocess.run(["true"])
    except Exception:
        pass  # code under test that records failures instead of raising


def test_fork():
    os.fork()


def test_server():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()


def test_kernel():
    from jupyter_client.manager import start_new_kernel

    start_new_kernel()
"""


def test_the_guard_fails_process_starts_and_passes_pure_tests(tmp_path):
    unit = tmp_path / "tests" / "unit"
    unit.mkdir(parents=True)
    shutil.copy(UNIT / "conftest.py", unit / "conftest.py")
    (unit / "test_planted.py").write_text(PLANTED)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-n",
            "0",
            "-rA",
            str(unit),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = proc.stdout
    assert proc.returncode == 1, out
    assert "PASSED tests/unit/test_planted.py::test_pure_work_is_allowed" in out
    for name in ("subprocess", "swallowed_subprocess", "fork", "server", "kernel"):
        assert f"FAILED tests/unit/test_planted.py::test_{name}" in out, out
    assert "1 passed" in out and "5 failed" in out
    assert out.count("move this test to tests/integration") >= 5
    assert "started os.fork()" in out and "started socket.listen()" in out
    assert "started jupyter kernel start" in out
