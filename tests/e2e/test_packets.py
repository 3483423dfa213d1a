"""The monthly run end to end on the demo fixture store: packets for every provider, offline HTML
rendered in Debian's Chromium (every non-localhost request aborted), a non-blank PDF, the XLSX
appendix, skip-on-rerun, a provider whose notebook breaks, and leaks planted in a packet."""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import nbformat
import pytest

from acm_helpers.batch import run as batch
from acm_helpers.packets import audit
from acm_helpers.packets import render as report
from acm_helpers.store.store import Store

ROOT = Path(__file__).resolve().parents[2]
# Playwright waits on events (a URL, charts drawn); this bounds a hang on a loaded 2-core
# machine and is not a threshold.
WAIT_MS = 300_000
PERIOD = "2026-10"
PROVIDERS = ["harbor", "cascade", "rainier", "northgate", "elliott", "puget"]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def packets(demo_store, program_path, tmp_path_factory):
    """One provider-audience run of every packet (warm kernels, two workers, PDFs)."""
    out = tmp_path_factory.mktemp("outputs")
    return batch.run_period(
        program_path, PERIOD, data_dir=demo_store.root, out_root=out, workers=2, progress=False
    )


def test_every_provider_gets_a_packet_and_the_index_links_it(packets):
    m = packets.manifest
    assert [p["key"] for p in m.packets] == [*PROVIDERS, "_system"]
    assert {p["key"]: p["status"] for p in m.packets} == {
        k: "ok" for k in [*PROVIDERS, "_system"]
    }, [p.get("error") for p in m.packets]
    index = packets.index.read_text()
    for key in [*PROVIDERS, "_system"]:
        for name in ("packet.html", "packet.pdf", "appendix.xlsx"):
            assert (packets.period_dir / key / name).stat().st_size > 1000
            assert f'href="{key}/{name}"' in index
    manifest = json.loads((packets.period_dir / "manifest.json").read_text())
    harbor = manifest["packets"][0]
    assert harbor["audience"] == "provider" and harbor["parameters"]["topic"] == "disparity"
    assert {"template", "parameters", "code"} <= set(harbor["inputs"]) and harbor["input_hash"]
    assert harbor["timings"]["execute"] > 0 and harbor["timings"]["audit"] > 0
    assert harbor["audit"]["findings"] == [] and harbor["audit"]["checked"] == [
        "html",
        "pdf",
        "xlsx",
    ]
    assert m.workers <= 2 and not list(packets.period_dir.glob(".staging*/*"))


def test_packets_load_nothing_from_the_network(packets):
    for page in packets.period_dir.glob("*/packet.html"):
        html = page.read_text()
        report.check_offline(html, where=str(page))
        assert "<script" not in html  # no JavaScript at all: charts are inline SVG
        assert not re.search(r"(src|href)=[\"']https?://", html)


@pytest.fixture(scope="module")
def server(packets):
    """The period folder served on localhost (the browser test opens it over http)."""
    handler = functools.partial(_QuietHandler, directory=str(packets.period_dir))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.mark.browser
def test_browser_renders_every_chart_offline(packets, server, tmp_path):
    from playwright.sync_api import sync_playwright

    # $ACM_SCREENSHOT_DIR keeps them (`make docs-screenshots` puts them in the guides)
    shots = Path(os.environ.get("ACM_SCREENSHOT_DIR") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)

    blocked: list[str] = []

    def local_only(route):
        if route.request.url.startswith(server):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    html = (packets.period_dir / "harbor" / "packet.html").read_text()
    n_charts = html.count('<div class="acm-chart">')
    assert n_charts >= 12  # 5 trends, 5 peer charts, equity, disproportionality, quality
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=report.CHROMIUM, args=report.CHROMIUM_ARGS, timeout=WAIT_MS
        )
        page = browser.new_page(viewport={"width": 1100, "height": 1400})
        page.set_default_timeout(WAIT_MS)
        page.route("**/*", local_only)
        page.goto(f"{server}/index.html")
        page.click('a[href="harbor/packet.html"]')
        page.wait_for_url(f"{server}/harbor/packet.html")
        page.wait_for_load_state("load")
        # Vega draws each chart after the load event: wait until every chart has its svg
        page.wait_for_function(
            "n => document.querySelectorAll('div.acm-chart > svg').length >= n", arg=n_charts
        )
        charts = page.locator("div.acm-chart > svg")
        assert charts.count() == n_charts
        for i in range(n_charts):
            box = charts.nth(i).bounding_box()
            assert box and box["width"] > 100 and box["height"] > 40
        assert page.locator("svg path, svg rect").count() > 200  # marks were drawn
        text = page.inner_text("body")
        assert "Error loading script" not in text
        assert "Harbor Light Housing" in text and "Headline metrics, October 2026" in text
        assert "Cascade Family Services" not in text and "Peer A" in text
        page.screenshot(path=str(shots / "harbor_packet.png"))
        page.locator("h2", has_text="Equity").evaluate("h => h.scrollIntoView()")  # at the top
        page.screenshot(path=str(shots / "harbor_equity.png"))
        browser.close()
    assert blocked == []
    assert (shots / "harbor_packet.png").stat().st_size > 20_000


@pytest.mark.browser
def test_index_grid_lists_every_provider_and_sorts_in_the_browser(packets, server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=report.CHROMIUM, args=report.CHROMIUM_ARGS, timeout=WAIT_MS
        )
        page = browser.new_page()
        page.set_default_timeout(WAIT_MS)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.route(
            "**/*", lambda r: r.continue_() if r.request.url.startswith(server) else r.abort()
        )
        page.goto(f"{server}/index.html")

        def column(n: int) -> list[str]:
            return page.locator(f"table.acm-grid tbody tr td:nth-child({n})").all_inner_texts()

        names = column(1)
        assert len(names) == len(PROVIDERS)
        page.click("table.acm-grid th:has-text('Provider')")
        assert column(1) == sorted(names)  # text: A to Z first
        page.click("table.acm-grid th:has-text('Improvements')")
        counts = [int(t.split()[0]) for t in column(3)]
        assert counts == sorted(counts, reverse=True)  # numbers: most first
        page.click("table.acm-grid th:has-text('Improvements')")
        assert [int(t.split()[0]) for t in column(3)] == sorted(counts)
        assert not page.locator("details.acm-log").get_attribute("open")  # the log is folded
        assert "Seconds" not in page.inner_text("body")
        browser.close()
    assert errors == []


def _pgm_pixels(path: Path) -> bytes:
    data = path.read_bytes()
    parts = data.split(maxsplit=4)  # P5, width, height, maxval, pixels
    assert parts[0] == b"P5"
    return parts[4]


def test_pdf_first_page_renders_and_is_not_blank(packets, tmp_path):
    pdf = packets.period_dir / "cascade" / "packet.pdf"
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert int(re.search(r"Pages:\s+(\d+)", info).group(1)) >= 3
    subprocess.run(
        [
            "pdftoppm",
            "-png",
            "-r",
            "60",
            "-f",
            "1",
            "-l",
            "1",
            "-singlefile",
            str(pdf),
            str(tmp_path / "page1"),
        ],
        check=True,
    )
    subprocess.run(
        [
            "pdftoppm",
            "-gray",
            "-r",
            "30",
            "-f",
            "1",
            "-l",
            "1",
            "-singlefile",
            str(pdf),
            str(tmp_path / "page1"),
        ],
        check=True,
    )
    assert (tmp_path / "page1.png").stat().st_size > 10_000
    pixels = _pgm_pixels(tmp_path / "page1.pgm")
    mean = sum(pixels) / len(pixels)
    variance = sum((p - mean) ** 2 for p in pixels) / len(pixels)
    dark = sum(1 for p in pixels if p < 128) / len(pixels)
    assert variance > 200 and 0.005 < dark < 0.5, (
        variance,
        dark,
    )  # ink on paper, not blank or black
    text = subprocess.run(
        ["pdftotext", "-l", "1", str(pdf), "-"], capture_output=True, text=True
    ).stdout
    assert "Cascade Family Services" in text


def _pdf_pages(pdf: Path) -> list[str]:
    """Each page's text, laid out (pdftotext -layout; pages split at form feeds)."""
    out = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    return out.split("\f")[:-1] if out.endswith("\f") else out.split("\f")


def test_monthly_packets_print_on_six_letter_pages_with_tiles_on_page_one(packets):
    """The print layout: every provider's monthly packet is at most 6 Letter pages, the
    headline tiles are on page 1, a heading is never a page's last line, and a table that
    continues on the next page repeats its header row there."""
    for key in PROVIDERS:
        pdf = packets.period_dir / key / "packet.pdf"
        info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True).stdout
        assert "612 x 792 pts" in info, info  # Letter
        pages = _pdf_pages(pdf)
        assert len(pages) == int(re.search(r"Pages:\s+(\d+)", info).group(1))
        assert len(pages) <= 6, (key, len(pages))
        assert "Headline metrics" in pages[0], (key, pages[0][:400])
        for n, page in enumerate(pages[:-1], start=1):
            lines = [ln.strip() for ln in page.splitlines() if ln.strip()]
            body = lines[:-1]  # the last line is the page footer (provider, n / total)
            assert re.search(r"\d+\s*/\s*\d+$", lines[-1]), lines[-1]
            # section headings (h2) start with these words; none may end a page
            assert not re.match(
                r"(Trends over|Compared with peers|Equity:|Who is served|Data quality|Definitions)",
                body[-1],
            ), (key, n, body[-3:])


def test_print_css_keeps_rows_whole_and_repeats_table_headers(packets, tmp_path):
    """The packet stylesheet, printed by the packets' Chromium: a long table of two-line rows
    runs over several pages, every page repeats the header row, and no row is split (both
    lines of every row are on the same page)."""
    html = (packets.period_dir / "harbor" / "packet.html").read_text()
    assert '<div class="acm-charts">' in html  # trends and peers print two to a row
    css = (report.TEMPLATES / "packet" / "packet.css").read_text()
    assert css in html  # the packet carries the stylesheet tested here
    rows = "".join(
        f"<tr><td>row {i} first line<br>row {i} second line<br>row {i} third line</td>"
        f'<td class="num">{i}</td></tr>'
        for i in range(1, 121)
    )
    page = (
        f'<!DOCTYPE html><html><head><style>{css}</style></head><body class="acm-packet">'
        f"<main><h2>A long table</h2><table><thead><tr><th>Item header</th><th>Count header"
        f"</th></tr></thead><tbody>{rows}</tbody></table></main></body></html>"
    )
    src = tmp_path / "long.html"
    src.write_text(page)
    pdf = report.print_pdf(src, tmp_path / "long.pdf", footer="long table")
    pages = _pdf_pages(pdf)
    assert len(pages) >= 3
    seen = set()
    for n, text in enumerate(pages, start=1):
        assert "Item header" in text and "Count header" in text, n  # header on every page
        for i in range(1, 121):
            parts = [f"row {i} {w} line" in text for w in ("first", "second", "third")]
            assert all(parts) or not any(parts), (n, i, parts)  # a row is whole or absent
            if all(parts):
                seen.add(i)
    assert seen == set(range(1, 121))


def test_appendix_holds_the_engines_numbers_and_suppression(packets, demo_store):
    from openpyxl import load_workbook

    wb = load_workbook(packets.period_dir / "harbor" / "appendix.xlsx", read_only=True)
    # one sheet per table and metric kind (no column mixes rates, days and dollars)
    assert wb.sheetnames[:3] == ["Read me", "Key metrics (rates)", "Key metrics (days)"]
    rows = list(wb["Key metrics (rates)"].iter_rows(values_only=True))
    head, body = rows[0], rows[1:]
    exits = dict(
        zip(head, next(r for r in body if r[0] == "Exits to permanent housing"), strict=True)
    )
    mv = demo_store.read_table("metric_values")
    truth = mv[
        (mv["provider_id"] == "harbor")
        & (mv["period"] == PERIOD)
        & (mv["grain"] == "month")
        & (mv["dimension"] == "")
        & (mv["metric_id"] == "exits_to_permanent_housing")
    ].iloc[0]
    assert exits["numerator"] == truth["numerator"] and exits["denominator"] == truth["denominator"]
    assert exits["value"] == pytest.approx(truth["numerator"] / truth["denominator"])
    trend = list(wb["Trend (rates)"].iter_rows(values_only=True))
    suppressed_rows = [r for r in trend[1:] if r[-1] == "yes"]
    for r in suppressed_rows:  # numbers of a suppressed row read "suppressed", never a value
        assert all(v in ("suppressed", None) or isinstance(v, str) for v in r[2:-1]), r
    peers = {r[0] for r in wb["Peers (rates)"].iter_rows(values_only=True)} - {"provider"}
    assert "Harbor Light Housing" in peers and all(
        p == "Harbor Light Housing" or p.startswith("Peer ") for p in peers
    )


def test_provider_packets_hold_no_client_ids_or_peer_names(packets, demo_store, program):
    ids = set(demo_store.read_table("episodes", columns=["client_id"])["client_id"].astype(str))
    for pid in PROVIDERS:
        folder = packets.period_dir / pid
        text = " ".join(
            audit.file_units(folder / "packet.html")
            + audit.file_units(folder / "packet.pdf")
            + audit.file_units(folder / "appendix.xlsx")
        )
        assert not set(re.findall(r"C\d{7}", text)) & ids
        for other in program.providers:
            if other.id != pid:
                assert other.name not in text, (pid, other.name)
    system = (packets.period_dir / "_system" / "packet.html").read_text()
    assert all(p.name in system for p in program.providers)  # the internal packet names everyone


def test_rerun_with_nothing_changed_skips_every_packet(packets, demo_store, program_path, tmp_path):
    out = tmp_path / "outputs"
    shutil.copytree(packets.period_dir, out / PERIOD)
    before = {p: p.stat().st_mtime_ns for p in (out / PERIOD).glob("*/packet.*")}
    again = batch.run_period(
        program_path, PERIOD, data_dir=demo_store.root, out_root=out, workers=2, progress=False
    )
    assert all(p["skipped"] and p["reason"] == "inputs unchanged" for p in again.manifest.packets)
    assert {p: p.stat().st_mtime_ns for p in (out / PERIOD).glob("*/packet.*")} == before
    forced = batch.run_period(
        program_path,
        PERIOD,
        data_dir=demo_store.root,
        out_root=out,
        workers=2,
        providers=["northgate"],
        pdf=False,
        force=True,
        progress=False,
    )
    by = {p["key"]: p for p in forced.manifest.packets}
    assert set(by) == {"northgate", "_system"} and not by["northgate"]["skipped"]
    assert by["northgate"]["status"] == "ok"


def test_a_broken_provider_fails_alone_and_the_command_exits_non_zero(
    demo_store, program_path, tmp_path
):
    store = tmp_path / "store"
    shutil.copytree(demo_store.root, store)
    copy = Store(store)
    eq = copy.read_table("equity")
    broken = (eq["provider_id"] == "rainier") & (eq["period"] == "2026-Q3")
    eq.loc[broken, "group"] = None  # a damaged table: rainier's breakdown lost its group labels
    eq.loc[broken, ["flag_disparity", "flag_disproportionality"]] = False
    copy.write_table("equity", eq)
    proc = subprocess.run(
        [
            str(Path(sys.executable).parent / "acm"),
            "run",
            "--period",
            PERIOD,
            "--providers",
            "harbor,rainier",
            "--no-pdf",
            "--workers",
            "2",
            "--program",
            str(program_path),
            "--data-dir",
            str(store),
            "--out",
            str(tmp_path / "outputs"),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=1800,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    template = nbformat.read(ROOT / "notebooks" / "02_dashboard.ipynb", as_version=4)
    cell = next(
        i for i, c in enumerate(template.cells) if c.source.strip() == "dashboard.equity(p)"
    )
    assert "FAILED rainier (failed)" in proc.stderr, proc.stderr
    assert f"cell {cell} `dashboard.equity(p)`" in proc.stderr, proc.stderr
    assert "2 packet(s) built" in proc.stdout and "1 failed" in proc.stdout
    period_dir = tmp_path / "outputs" / PERIOD
    manifest = json.loads((period_dir / "manifest.json").read_text())
    by = {p["key"]: p for p in manifest["packets"]}
    assert by["harbor"]["status"] == "ok" and (period_dir / "harbor" / "packet.html").exists()
    assert by["_system"]["status"] == "ok"
    err = by["rainier"]["error"]
    assert (
        by["rainier"]["status"] == "failed"
        and not (period_dir / "rainier" / "packet.html").exists()
    )
    assert (
        err["source"] == "dashboard.equity(p)"
        and err["cell"] == cell
        and err["ename"] == "AttributeError"
    )
    assert "1 failed: rainier" in (period_dir / "index.html").read_text()


def _template_with(tmp_path: Path, name: str, markdown: str) -> Path:
    nb = nbformat.read(str(ROOT / "notebooks" / "02_dashboard.ipynb"), as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell(markdown))
    path = tmp_path / f"{name}.ipynb"
    nbformat.write(nb, str(path))
    return path


def test_planted_client_id_and_peer_name_fail_their_packets(demo_store, program_path, tmp_path):
    client = str(demo_store.read_table("episodes", columns=["client_id"])["client_id"].iloc[0])
    params = {
        "program_path": str(program_path),
        "data_dir": str(demo_store.root),
        "period": PERIOD,
        "audience": "provider",
        "topic": "",
    }
    jobs = [
        batch.Job.make(
            _template_with(tmp_path, "leak_client", f"Call client {client} about the move-in."),
            "harbor",
            params,
            key="leak_client",
            audience="provider",
        ),
        batch.Job.make(
            _template_with(tmp_path, "leak_peer", "Cascade Family Services houses more clients."),
            "harbor",
            params,
            key="leak_peer",
            audience="provider",
        ),
    ]
    settings = batch.Settings(
        program_path=str(program_path),
        data_dir=str(demo_store.root),
        pdf=False,
        period_dir=str(tmp_path / "outputs" / PERIOD),
        executor=batch.warm_executor([j.template for j in jobs]),
    )
    m = batch.run(jobs, settings, workers=2, progress=False)
    by = {p["key"]: p for p in m.packets}
    assert (
        by["leak_client"]["status"] == "privacy_failed"
        and by["leak_peer"]["status"] == "privacy_failed"
    )
    client_kinds = {(f["kind"], f["file"]) for f in by["leak_client"]["audit"]["findings"]}
    assert client_kinds == {("client_id", "packet.html")}
    assert client not in json.dumps(
        by["leak_client"]
    )  # the manifest names the leak, not the secret
    peer = by["leak_peer"]["audit"]["findings"]
    assert {f["kind"] for f in peer} == {"provider_name"} and "Cascade Family Services" in peer[0][
        "detail"
    ]
    assert not (tmp_path / "outputs" / PERIOD / "leak_client" / "packet.html").exists()
    assert not (tmp_path / "outputs" / PERIOD / "leak_peer" / "packet.html").exists()
