"""`acm intake` and `acm quality` on small files: the table, the exit codes, the messages."""

from __future__ import annotations

import csv
from pathlib import Path

from typer.testing import CliRunner

from acm_helpers.cli import app
from acm_helpers.store.store import Store

ROOT = Path(__file__).resolve().parents[2]
PROGRAM = str(ROOT / "parameters" / "program.yaml")
HEADER = [
    "episode_id",
    "client_id",
    "provider_id",
    "program",
    "enrollment_date",
    "exit_date",
    "exit_destination",
]


def write(path: Path, rows: list[list[str]], header=HEADER) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([header, *rows])
    return path


def run(*args: str):
    return CliRunner().invoke(app, list(args))


def test_intake_and_quality_commands(tmp_path):
    data = tmp_path / "data"
    write(
        tmp_path / "2026-10" / "harbor.csv",
        [
            ["E1", "C1", "harbor", "rrh", "2026-09-01", "2026-10-02", "410"],
            ["E2", "C2", "harbor", "rrh", "2026-09-05", "2026-09-01", "410"],
        ],
    )
    res = run(
        "intake",
        str(tmp_path / "2026-10"),
        "--program",
        PROGRAM,
        "--data-dir",
        str(data),
        "--received",
        "2026-11-20",
    )
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert lines[0].split() == [
        "file",
        "provider_id",
        "period",
        "status",
        "rows_total",
        "accepted",
        "rejected",
    ]
    assert lines[1].split() == ["harbor.csv", "harbor", "2026-10", "loaded", "2", "1", "1"]
    assert "harbor.csv: 1 rows quarantined" in res.output
    assert Store(data).episodes()["episode_id"].tolist() == ["E1"]

    res = run(
        "quality",
        "--period",
        "2026-10",
        "--provider",
        "harbor",
        "--program",
        PROGRAM,
        "--data-dir",
        str(data),
    )
    assert res.exit_code == 0, res.output
    assert "received 2026-11-20, due 2026-11-15: 5 days late" in res.output
    assert "exit date is before the enrollment date" in res.output
    assert "episode_id 100%" in res.output

    res = run(
        "intake",
        str(tmp_path / "2026-10" / "harbor.csv"),
        "--program",
        PROGRAM,
        "--data-dir",
        str(data),
    )
    assert res.exit_code == 0 and "already loaded" in res.output


def test_rejected_file_exits_1(tmp_path):
    write(tmp_path / "2026-10" / "bad.csv", [["E1"]], header=["episode_id"])
    res = run(
        "intake",
        str(tmp_path / "2026-10" / "bad.csv"),
        "--program",
        PROGRAM,
        "--data-dir",
        str(tmp_path / "d"),
    )
    assert res.exit_code == 1
    assert (
        "rejected" in res.output
        and "missing required column(s) client_id, provider_id" in res.output
    )


def test_bad_period_and_provider_exit_2(tmp_path):
    res = run("quality", "--period", "2026-13", "--program", PROGRAM, "--data-dir", str(tmp_path))
    assert res.exit_code == 2 and "is not YYYY-MM" in res.output
    res = run(
        "quality",
        "--period",
        "2026-10",
        "--provider",
        "nobody",
        "--program",
        PROGRAM,
        "--data-dir",
        str(tmp_path),
    )
    assert res.exit_code == 2 and "Known providers: harbor" in res.output
