"""End-of-contract reports through the CLI, opened in Debian's Chromium with every non-local
request aborted.

On the demo store (scale 0.25): Harbor's report must show the improvement that began in
December 2025 (exits to permanent housing up about 20 points between the two halves of the term,
"improved"), Cascade's (asked for by contract id) the disparity for Black or African American
clients (flagged in both halves). Meetings and action items recorded during the term appear
with their resolution; the manager's narrative comes from a file. A provider-audience report
names no other provider and holds no client id. Screenshots go to ``$ACM_SCREENSHOT_DIR``
(default: pytest's tmp dir); the PDF's first page is rendered with pdftoppm.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from acm_helpers.packets.render import CHROMIUM, CHROMIUM_ARGS

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
MEETINGS = """
meetings:
  - provider: harbor
    date: 2025-12-15
    actions:
      - {owner: J. Rivera, due: 2026-01-31, metric: exits_to_permanent_housing,
         text: Start the housing navigation pilot, status: closed, closed: 2026-01-10,
         resolution: Two navigators hired}
  - provider: harbor
    date: 2026-05-15
    actions:
      - {owner: J. Rivera, due: 2026-06-30, metric: median_days_referral_to_enrollment,
         text: Call back every referral within 3 days}
  - provider: cascade
    date: 2026-01-15
    actions:
      - {owner: L. Okafor, due: 2026-03-31, metric: exits_to_permanent_housing,
         text: Review housing referrals for Black clients with the equity team}
"""
NARRATIVE = "Harbor raised exits to permanent housing after the navigation pilot. **Renew.**\n"


def acm(*args: str) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("acm")  # the console script of this environment
    return subprocess.run([str(exe), *args], cwd=ROOT, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def store_dir(demo_store, tmp_path_factory) -> Path:
    """A private copy of the demo store with the term's meetings recorded through the CLI."""
    root = tmp_path_factory.mktemp("contract") / "store"
    shutil.copytree(demo_store.root, root)
    meetings = root.parent / "meetings.yaml"
    meetings.write_text(MEETINGS)
    done = acm("action", "load", str(meetings), "--data-dir", str(root))
    assert done.returncode == 0, done.stderr
    return root


@pytest.fixture(scope="module")
def reports(store_dir, tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("reports")
    narrative = out / "narrative.md"
    narrative.write_text(NARRATIVE)
    runs = {
        "harbor": ["--provider", "harbor", "--narrative", str(narrative)],
        "cascade": [
            "--contract",
            "HRA-2024-012",
            "--no-pdf",
            "--recommendation",
            "Renew with conditions",
            "--conditions",
            "An equity plan for housing referrals by March 2027",
        ],
        "cascade_provider": ["--provider", "cascade", "--audience", "provider", "--no-pdf"],
    }
    paths = {}
    for name, args in runs.items():
        done = acm("report", *args, "--data-dir", str(store_dir), "--out", str(out / name))
        assert done.returncode == 0, done.stderr
        paths[name] = out / name
    return paths


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    out = Path(os.environ.get("ACM_SCREENSHOT_DIR") or tmp_path_factory.mktemp("screenshots"))
    out.mkdir(parents=True, exist_ok=True)
    return out


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_harbor_report_shows_the_improvement(reports):
    text = text_of((reports["harbor"] / "report.html").read_text())
    m = re.search(
        r"Exits to permanent housing: ([\d.]+)% in Nov 2024–Oct 2025, ([\d.]+)% in Nov 2025–Oct "
        r"2026: \+([\d.]+) points \(95% interval \+([\d.]+) to \+([\d.]+) points\); improved\.",
        text,
    )
    assert m, "the trend sentence for exits to permanent housing"
    first, second, _, low, _ = map(float, m.groups())
    assert second - first >= 12 and low > 0  # demo story: 33% -> 55% from 2025-12
    assert re.search(
        r"Dec 2025 Who exits to housing\? Exits to permanent housing [\d.]+% \(n=[\d,]+\) "
        r"[\d.]+% \(n=[\d,]+\) \+[\d.]+ points better",
        text,
    ), "the roadmap topic's before/after"
    assert "Start the housing navigation pilot" in text and "Two navigators hired" in text
    assert "1 closed on time, 0 closed late, 1 still open" in text
    assert "Renew." in text and "The contract manager's narrative" in text
    assert (reports["harbor"] / "report.pdf").stat().st_size > 20_000


def test_cascade_report_by_contract_id_shows_the_disparity(reports):
    text = text_of((reports["cascade"] / "report.html").read_text())
    assert "End-of-contract report: Cascade Family Services" in text and "HRA-2024-012" in text
    m = re.search(
        r"Exits to permanent housing, Black or African American against White: -([\d.]+) points "
        r"then -([\d.]+) points \(flagged in both halves; ([^)]+)\)",
        text,
    )
    assert m, "the disparity sentence"
    assert float(m.group(1)) >= 10 and float(m.group(2)) >= 10  # demo story: 25% vs 50%
    assert "Review housing referrals for Black clients" in text
    assert m.group(3) in (
        "the gap narrowed",
        "the gap widened",
        "the gap reversed",
        "the data cannot tell whether the gap changed",
    )
    page = (reports["cascade"] / "report.html").read_text()
    assert '<li data-choice="renew_with_conditions">☒ Renew with conditions</li>' in page
    assert "<strong>Decision: Renew with conditions</strong>" in page
    assert "An equity plan for housing referrals by March 2027" in text
    assert "To be decided by the contract manager" not in text


def test_summary_comes_first_with_cost_per_outcome_and_an_empty_decision(reports, program):
    page = (reports["harbor"] / "report.html").read_text()
    text = text_of(page)
    h1 = re.findall(r"<h1[^>]*>(.*?)</h1>", page, flags=re.S)
    h2 = [
        text_of(h).replace("¶", "").strip()
        for h in re.findall(r"<h2[^>]*>(.*?)</h2>", page, flags=re.S)
    ]
    assert [text_of(h).strip() for h in h1] == ["End-of-contract report: Harbor Light Housing"]
    assert h2[:3] == [
        "Summary and recommendation",
        "The contract manager's narrative",
        "Performance over the term",
    ]
    assert len(h2) == len(set(h2)), "a duplicated section title"
    # cost per outcome: the contract value over the term's exits, checked by hand
    m = re.search(
        r"Value for money: \$4,200,000 for ([\d,]+) exits to permanent housing is \$([\d,]+) "
        r"per outcome \(95% interval \$([\d,]+) to \$([\d,]+)\)",
        text,
    )
    assert m, "the value-for-money sentence"
    n, cost, low, high = (int(g.replace(",", "")) for g in m.groups())
    assert program.provider("harbor").contract_value == 4_200_000
    assert cost == round(4_200_000 / n) and low < cost < high
    for part in ("Targets met on", "Against peers", "Equity:", "Data quality:", "Action items:"):
        assert part in text
    assert "To be decided by the contract manager" in text and "☒" not in page
    # partial quarters (the term starts in November 2024, the data ends in October 2026)
    assert "2024-Q4 (part)" in text and "2026-Q4 (Oct 2026 only)" in text


def test_no_developer_text_in_the_reports(reports):
    for name in ("harbor", "cascade", "cascade_provider"):
        text = text_of((reports[name] / "report.html").read_text())
        for dev in ("acm report", "--provider", "--contract", "runs this notebook"):
            assert dev not in text, f"{name}: {dev!r}"
        page = (reports[name] / "report.html").read_text()
        paragraphs = [
            text_of(p).strip() for p in re.findall(r"<p[^>]*>(.*?)</p>", page, flags=re.S)
        ]
        paragraphs = [p for p in paragraphs if len(p) > 30]
        assert len(paragraphs) == len(set(paragraphs)), f"{name}: an intro repeated"


def test_provider_audience_report_names_no_peer_and_no_client(reports, demo_store, program):
    page = (reports["cascade_provider"] / "report.html").read_text()
    for p in program.providers:
        if p.id != "cascade":
            assert p.name not in page
    clients = set(demo_store.episodes()["client_id"])
    assert not set(re.findall(r"C\d{7}", page)) & clients
    assert "Audience: provider" in text_of(page)


def test_report_renders_offline_in_chromium(reports, shots):
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed (make system-deps)")
    sync_api = pytest.importorskip("playwright.sync_api")
    blocked: list[str] = []

    def route(r):
        url = r.request.url
        if url.startswith(("file://", "data:", "blob:", "http://127.0.0.1", "http://localhost")):
            r.continue_()
        else:
            blocked.append(url)
            r.abort()

    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1100, "height": 1400})
        page.route("**/*", route)
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        for name in ("harbor", "cascade"):
            page.goto((reports[name] / "report.html").as_uri())
            page.wait_for_load_state("load")
            headings = page.locator("h2").all_inner_texts()
            for h in (
                "Summary and recommendation",
                "Performance over the term",
                "Trends over the term",
                "Disparities found and how they changed",
                "Action items and their resolution",
                "Roadmap topics covered",
                "Data quality over the term",
                "The contract manager's narrative",
            ):
                assert h in headings
            charts = page.locator(".acm-chart svg")
            assert charts.count() >= 4
            assert all(charts.nth(i).bounding_box()["height"] > 50 for i in range(charts.count()))
            page.screenshot(path=str(shots / f"contract_{name}_top.png"))  # the summary
            box = page.locator(".acm-recommendation").bounding_box()
            assert box and box["x"] > 300  # beside the record, not below it
            page.locator("h2", has_text="Disparities found").scroll_into_view_if_needed()
            page.screenshot(path=str(shots / f"contract_{name}_disparities.png"))
        browser.close()
    assert blocked == []
    assert not [e for e in errors if "Error loading script" in e]


def test_pdf_first_page_is_not_blank(reports, tmp_path):
    if shutil.which("pdftoppm") is None:
        pytest.skip("poppler-utils (pdftoppm) is not installed")
    out = tmp_path / "page"
    subprocess.run(
        [
            "pdftoppm",
            "-png",
            "-r",
            "40",
            "-f",
            "1",
            "-l",
            "1",
            str(reports["harbor"] / "report.pdf"),
            str(out),
        ],
        check=True,
    )
    png = next(tmp_path.glob("page*.png"))
    data = png.read_bytes()
    assert (
        data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5_000
    )  # a white page compresses to ~1 kB
