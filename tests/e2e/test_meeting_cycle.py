"""The meeting cycle through real packets: items agreed at a meeting appear on the agenda page of
the next month's packet (``notebooks/02_dashboard.ipynb``), and a closed item drops off the one
after. Uses the CLI to record the meeting and close the item, as a contract manager would."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "notebooks" / "02_dashboard.ipynb"
MEETING = """
meetings:
  - provider: harbor
    date: 2026-01-15
    period: 2025-12
    actions:
      - {owner: J. Rivera, due: 2026-02-10, metric: median_days_referral_to_enrollment,
         text: Call back every referral within 3 days}
      - {owner: M. Chen, due: 2026-04-30, metric: exits_to_permanent_housing,
         text: Write up the housing navigation pilot}
"""


def acm(*args: str) -> str:
    exe = Path(sys.executable).with_name("acm")
    done = subprocess.run([str(exe), *args], cwd=ROOT, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr
    return done.stdout


def agenda_text(html: str) -> str:
    part = html[html.index("acm-agenda") : html.index("</section>", html.index("acm-agenda"))]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", part))


@pytest.mark.slow
def test_packet_agenda_carries_items_forward_until_closed(demo_store, program_path, tmp_path):
    if not DASHBOARD.exists():
        pytest.skip("notebooks/02_dashboard.ipynb does not exist yet")
    if not demo_store.has_table("metric_values"):
        pytest.skip("the demo store has no metric_values yet")
    from acm_helpers.packets import render as report

    store = tmp_path / "store"
    shutil.copytree(demo_store.root, store)
    (tmp_path / "meeting.yaml").write_text(MEETING)
    acm("action", "load", str(tmp_path / "meeting.yaml"), "--data-dir", str(store))

    def packet(period: str) -> str:
        params = {
            "program_path": str(program_path),
            "data_dir": str(store),
            "provider": "harbor",
            "period": period,
            "audience": "provider",
            "topic": "",
        }
        out = report.render_notebook(
            DASHBOARD, params, tmp_path / period, pdf=False, cwd=ROOT / "notebooks"
        )
        return agenda_text(out.html.read_text())

    january = packet("2026-01")  # discussed on 2026-02-15, the meeting after 2026-01-15
    assert "Meeting brief: meeting of 15 February 2026" in january
    assert "last meeting 15 January 2026" in january
    assert "harbor-001 Call back every referral within 3 days" in january
    assert "harbor-002 Write up the housing navigation pilot" in january
    assert "OVERDUE 5 days" in january  # due 2026-02-10

    assert "closed harbor-001" in acm(
        "action",
        "close",
        "harbor-001",
        "--on",
        "2026-02-20",
        "--resolution",
        "Daily call list in place",
        "--data-dir",
        str(store),
    )
    february = packet("2026-02")  # discussed on 2026-03-15
    assert "harbor-002 Write up the housing navigation pilot" in february
    assert "harbor-001 Call back" not in february
    assert (
        "Closed since the last meeting: harbor-001" in february
        and "Daily call list in place" in february
    )
