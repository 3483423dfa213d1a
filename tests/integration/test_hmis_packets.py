"""Per-organization packets from the real HMIS export, through the command line: ``acm intake
--format hmis`` then ``acm run`` with the HMIS program file (provider audience: peers anonymized,
small cells suppressed, every packet leak-checked by the batch run's privacy audit)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from acm_helpers.cli import app
from acm_helpers.core.config import load_program

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT.parent / "shared" / "sample-data" / "hmis-demo" / "hmis_csv_fy2026_demo.zip"
PROGRAM = ROOT / "parameters" / "programs" / "hmis.yaml"
PERIOD = "2022-09"  # the export's last month (ExportEndDate 2022-09-30)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not SAMPLE.exists() and not os.environ.get("CI"),
        reason=f"sample HMIS export not found at {SAMPLE}",
    ),
]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    data = tmp_path_factory.mktemp("hmis-data")
    out = tmp_path_factory.mktemp("hmis-out")
    cli = CliRunner()
    loaded = cli.invoke(
        app,
        [
            "intake",
            "--format",
            "hmis",
            str(SAMPLE),
            "--program",
            str(PROGRAM),
            "--data-dir",
            str(data),
        ],
    )
    ran = cli.invoke(
        app,
        [
            "run",
            "--period",
            PERIOD,
            "--program",
            str(PROGRAM),
            "--data-dir",
            str(data),
            "--out",
            str(out),
            "--no-pdf",
            "--workers",
            "2",
        ],
    )
    return loaded, ran, out / PERIOD


def test_intake_command_loads_the_export(run):
    loaded, _, _ = run
    assert loaded.exit_code == 0, loaded.output
    assert "CSV version FY2026" in loaded.output and "episodes mapped: 4,771" in loaded.output


def test_every_organization_gets_a_packet(run):
    _, ran, period_dir = run
    assert ran.exit_code == 0, ran.output
    program = load_program(PROGRAM)
    manifest = json.loads((period_dir / "manifest.json").read_text())
    status = {p["key"]: p["status"] for p in manifest["packets"]}
    assert status == {**{pid: "ok" for pid in program.provider_ids}, "_system": "ok"}, [
        p.get("error") for p in manifest["packets"]
    ]
    for p in manifest["packets"]:
        if p["key"] != "_system":
            assert p["audience"] == "provider" and p["audit"]["findings"] == []
    for provider in program.providers:
        html = (period_dir / provider.id / "packet.html").read_text()
        assert provider.name in html and "September 2022" in html
        others = [o.name for o in program.providers if o.id != provider.id]
        assert not any(name in html for name in others)  # peers are anonymized
        assert (period_dir / provider.id / "appendix.xlsx").stat().st_size > 1000


def test_hmis_findings_reach_the_packets_data_quality_section(run):
    # The export's findings are in each provider's quality rows (counts, no record ids): org-4's
    # exits dated after the export was made show in its packet; their ExitIDs do not.
    _, ran, period_dir = run
    assert ran.exit_code == 0, ran.output
    html = (period_dir / "org-4" / "packet.html").read_text()
    assert "MoveInDate on a project that is not permanent housing" in html  # 212 enrollments
    assert "ExitDate after the export was made" in html
    assert "999996" not in html
