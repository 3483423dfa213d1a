"""The staff explorer in a real browser: ``acm serve`` on the demo store, Debian's Chromium
driven by Playwright, every request that is not to this machine aborted (and recorded).

What is checked is what staff see: the chart's marks (Vega writes each mark's values into its
``aria-label``) and the tiles must show the selected provider's numbers from ``metric_values``
after the provider and breakdown widgets change; a bad ``?provider=`` shows a plain message and
no traceback; the CSV download holds aggregates only. Screenshots go to ``$ACM_SCREENSHOT_DIR``
(default: pytest's tmp dir) so a person can look at them.
"""

from __future__ import annotations

import io
import re
import time
from pathlib import Path

import pandas as pd
import pytest

from acm_helpers.core import text
from acm_helpers.explorer.browser_probe import FIRST_CHART_DONE, FIRST_CHART_JS
from acm_helpers.explorer.data import ALL, CSV_COLUMNS
from acm_helpers.explorer.serve import BackgroundServer, free_port
from acm_helpers.packets.render import CHROMIUM

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
EPH = "exits_to_permanent_housing"
# Every wait below is on an event (a selector, the explorer's ``acm-idle`` class, a download);
# the timeouts only bound a hang, sized for a 2-core machine at load average 8: not thresholds.
WAIT_MS = 300_000  # Playwright: launch, navigation, selectors, functions, downloads
SERVER_READY_S = 900  # acm serve listening with a preheated kernel that ran the notebook


@pytest.fixture(scope="module")
def server(demo_store, program_path):
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed (make system-deps)")
    if not demo_store.has_table("metric_values"):
        pytest.skip("the demo store has no metric_values yet (acm_helpers.metrics.engine)")
    port = free_port()
    args = ["--port", str(port), "--program", str(program_path), "--data-dir", str(demo_store.root)]
    args.append(
        "--no-token"
    )  # these tests are about the page; tests/e2e/test_voila_kernels.py: token
    with BackgroundServer(args, ROOT, timeout=SERVER_READY_S) as srv:
        srv.url = f"http://127.0.0.1:{port}/"
        yield srv


@pytest.fixture()
def page(local_context):
    context = local_context(
        WAIT_MS, viewport={"width": 1280, "height": 1900}, accept_downloads=True
    )
    pg = context.new_page()
    pg.blocked = context.blocked  # what the page tried to reach beyond this machine
    return pg


@pytest.fixture(scope="module")
def values(demo_store) -> pd.DataFrame:
    mv = demo_store.read_table("metric_values")
    mv["dimension"] = mv["dimension"].fillna("").astype(str)
    mv["group"] = mv["group"].fillna("").astype(str)
    return mv


def _monthly(values, provider, metric=EPH, dimension="") -> pd.DataFrame:
    return values[
        (values["provider_id"] == provider)
        & (values["grain"] == "month")
        & (values["metric_id"] == metric)
        & (values["dimension"] == dimension)
    ]


DRAWN = ".acm-charts svg [role='graphics-symbol']"  # Vega marks, not an empty svg


def _labels(page, marker: str) -> list[str]:
    """aria-labels of the drawn marks containing ``marker`` (trend, peers or breakdown)."""
    return page.eval_on_selector_all(
        f".acm-charts svg [aria-label*='{marker}']",
        "els => els.map(e => e.getAttribute('aria-label'))",
    )


def _trend_points(page) -> dict[str, str]:
    """Month -> value as drawn, from the own-series marks of the trend chart (their
    descriptions, written by core.text: "This provider, Oct 2026: value 62.5% (50%–70%)")."""
    out = {}
    for label in _labels(page, ": value "):
        m = re.match(
            r"(?:This provider|All providers), (\w{3} \d{4}): value (\S+?)(?: \(|$)", label
        )
        if m:
            out[f"{pd.Timestamp(m.group(1)):%Y-%m}"] = m.group(2)
    return out


def _named_values(page, names) -> set[tuple[str, str]]:
    """(name, value) of the bars whose description starts with one of ``names`` (peers by
    provider name, the breakdown by group label): "Harbor Light Housing: value 45% (...)"."""
    out = set()
    for label in _labels(page, ": value "):
        m = re.match(r"(.+?): value (\S+?)(?: \(|$)", label)
        if m and m.group(1) in names:
            out.add((m.group(1), m.group(2)))
    return out


def _wait_changed(page, selector: str, before: str) -> None:
    """Wait until ``selector``'s content differs from ``before`` and the update has finished
    (the explorer root gets ``acm-idle`` back after its last part is sent)."""
    page.wait_for_function(
        "([s, b]) => { const e = document.querySelector(s); return e && e.innerHTML !== b; }",
        arg=[selector, before],
        timeout=WAIT_MS,
    )
    page.wait_for_selector(".acm-explorer.acm-idle", timeout=WAIT_MS)


def _expected_trend(values, provider, months) -> dict[str, str]:
    rows = _monthly(values, provider).set_index("period")
    return {
        p: text.value(rows.loc[p, "value"], "percent")
        for p in months
        if p in rows.index and pd.notna(rows.loc[p, "value"])
    }


def _check_tiles(page, values, program, provider: str, end: str) -> None:
    """Every tile shows the provider's value for ``end`` as the engine stored it."""
    month = values[
        (values["provider_id"] == provider)
        & (values["grain"] == "month")
        & (values["period"] == end)
        & (values["dimension"] == "")
    ].set_index("metric_id")
    for metric_id, metric in program.metrics.items():
        if not metric.key:
            continue
        row = month.loc[metric_id]
        want = text.value(
            row["value"], metric.format, metric.unit, suppressed=bool(row["suppressed"])
        )
        assert page.inner_text(f".acm-tile-value[data-metric='{metric_id}']") == want, metric_id


def test_first_chart_then_provider_and_breakdown_change_to_that_providers_numbers(
    server, page, values, program, shots
):
    page.goto(server.url)
    page.wait_for_selector(DRAWN, timeout=WAIT_MS)
    page.wait_for_selector(".acm-explorer.acm-idle", timeout=WAIT_MS)
    page.screenshot(path=str(shots / "01_all_providers.png"), full_page=True)

    months = sorted(_trend_points(page))
    assert len(months) == 12  # the last 12 months by default
    assert _trend_points(page) == _expected_trend(values, ALL, months)
    _check_tiles(page, values, program, ALL, months[-1])

    # provider -> Harbor Light Housing: chart and tiles redraw with harbor's numbers
    before = page.inner_html(".acm-charts")
    page.select_option(".acm-provider select", label=program.provider("harbor").name)
    _wait_changed(page, ".acm-charts", before)
    page.wait_for_function(
        "() => document.querySelector('.acm-charts').innerHTML.includes('Harbor')"
    )
    drawn = _trend_points(page)
    assert drawn == _expected_trend(values, "harbor", months)
    assert drawn != _expected_trend(values, ALL, months)
    end = months[-1]
    _check_tiles(page, values, program, "harbor", end)
    assert program.provider("harbor").name in page.inner_text(".acm-quality")
    tile = page.inner_text(f".acm-tile-value[data-metric='{EPH}']")
    harbor = program.provider("harbor").name
    assert (harbor, tile) in _named_values(page, {harbor})
    page.screenshot(path=str(shots / "02_harbor.png"), full_page=True)

    # breakdown -> race and ethnicity: one bar per unsuppressed group, suppressed ones written
    before = page.inner_html(".acm-charts")
    page.select_option(".acm-dimension select", label=program.dimension("race_ethnicity").label)
    _wait_changed(page, ".acm-charts", before)
    groups = _monthly(values, "harbor", dimension="race_ethnicity")
    groups = groups[groups["period"] == end]
    names = set(groups["group"])
    page.wait_for_function(
        "names => [...document.querySelectorAll('.acm-charts svg [aria-label]')].some("
        "e => names.some(n => e.getAttribute('aria-label').startsWith(n + ': value ')))",
        arg=sorted(names),
        timeout=WAIT_MS,
    )
    shown = _named_values(page, names)
    expected = {
        (g, text.value(v, "percent"))
        for g, v, sup in zip(groups["group"], groups["value"], groups["suppressed"], strict=True)
        if not sup
    }
    assert shown == expected
    if groups["suppressed"].any():
        assert "suppressed (small numbers)" in page.inner_html(".acm-charts")
    page.screenshot(path=str(shots / "03_harbor_by_race.png"), full_page=True)

    # another provider with the breakdown kept
    before = page.inner_html(".acm-charts")
    page.select_option(".acm-provider select", label=program.provider("cascade").name)
    _wait_changed(page, ".acm-charts", before)
    page.wait_for_function(
        "() => document.querySelector('.acm-charts').innerHTML.includes('Cascade')"
    )
    assert _trend_points(page) == _expected_trend(values, "cascade", months)
    _check_tiles(page, values, program, "cascade", end)
    assert program.provider("cascade").name in page.inner_text(".acm-quality")
    page.screenshot(path=str(shots / "04_cascade_by_race.png"), full_page=True)

    assert page.blocked == []  # nothing on the page tried to reach the network
    assert "Traceback" not in page.content()


# Records the still picture's tiles the moment it is shown (it goes away once the board drew).
PICTURE_TILES_JS = """
window.__pictureTiles = null;
new MutationObserver(() => {
  const box = document.getElementById("acm-preview");
  if (window.__pictureTiles === null && box && !box.hidden && box.querySelector("svg")) {
    window.__pictureTiles = [...box.querySelectorAll(".acm-tile-value")].map(
      e => [e.dataset.metric, e.textContent]);
  }
}).observe(document, {subtree: true, childList: true, attributes: true});
"""


def test_the_loading_screen_shows_the_view_then_gives_way_to_the_live_board(
    server, page, program, shots
):
    deadline = time.monotonic() + SERVER_READY_S
    while server.status()["preview"] != "ready":  # drawn in the background at low priority
        assert time.monotonic() < deadline, "the pictures were never drawn"
        time.sleep(0.5)
    page.add_init_script(FIRST_CHART_JS + PICTURE_TILES_JS)
    page.goto(server.url + "?provider=cascade")
    page.wait_for_function(FIRST_CHART_DONE, timeout=WAIT_MS)
    assert page.evaluate("window.__acmPreview") is not None  # the picture came first
    picture = page.evaluate("window.__pictureTiles")
    page.wait_for_selector(".acm-explorer.acm-idle", timeout=WAIT_MS)
    assert page.locator("#acm-preview").count() == 0  # gone once the live board drew
    live = page.eval_on_selector_all(
        ".acm-explorer .acm-tile-value", "els => els.map(e => [e.dataset.metric, e.textContent])"
    )
    assert picture == live and len(live) >= 3  # the picture's tiles are the live ones
    assert program.provider("cascade").name in page.inner_text(".acm-view-title")
    page.screenshot(path=str(shots / "00_live_after_picture_cascade.png"), full_page=True)

    # a linked view (metric, breakdown ...) has no picture: it waits for the live board
    other = page.context.new_page()
    other.add_init_script(FIRST_CHART_JS)
    other.goto(server.url + f"?provider=harbor&metric={EPH}&breakdown=race_ethnicity")
    other.wait_for_function(FIRST_CHART_DONE, timeout=WAIT_MS)
    assert other.evaluate("window.__acmPreview") is None
    other.close()
    assert page.blocked == []


ANYWIDGET_INIT_LIMIT_MS = 2000  # anywidget rejects a model not initialised by then
FAILED = "window.__acmWidgetFailed"  # set when the page reports a failed anywidget
FAILED_WIDGET_JS = """
window.__acmWidgetFailed = false;
for (const type of ["error", "unhandledrejection"]) {
  window.addEventListener(type, (event) => {
    const error = event.reason || event.error || event;
    if (String(error && error.message || error).includes("anywidget")) {
      window.__acmWidgetFailed = true;
    }
  });
}
"""


def test_charts_draw_and_update_when_the_vega_bundle_arrives_late(server, page, program):
    """A busy machine, played out: the chart's module (the small loader, which imports Vega's
    bundle) finishes only after anywidget's 2 s limit for initialising a model. Past that
    limit anywidget marks the model failed ("[anywidget] Failed to initialize model.") and
    drops every later message, so the chart never takes an update: the 20-staff load test's
    stall until 2026-12-04. The ``acm`` template lifts the limit; without that, this test fails
    with exactly that error."""
    held, errors, released = [], [], []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    def hold(route):
        if released:
            route.continue_()
        else:
            held.append(route)

    page.route("**/acm/vega/*.js", hold)
    page.add_init_script(FIRST_CHART_JS + FAILED_WIDGET_JS)
    page.goto(server.url + "?provider=harbor", wait_until="commit")
    page.wait_for_selector(".acm-explorer .acm-charts", timeout=WAIT_MS)  # widgets are up
    page.wait_for_function("() => window.__acmFirst === null")  # and no chart yet
    page.wait_for_timeout(ANYWIDGET_INIT_LIMIT_MS + 1000)  # the slow network, played out
    assert held, "the page asked for no Vega bundle"
    released.append(True)
    for route in held:
        route.continue_()
    page.wait_for_function(f"() => window.__acmFirst !== null || {FAILED}", timeout=WAIT_MS)
    assert not [e for e in errors if "anywidget" in e], errors
    page.wait_for_selector(".acm-explorer.acm-idle", timeout=WAIT_MS)
    before = page.inner_html(".acm-charts")
    page.select_option(".acm-provider select", label=program.provider("cascade").name)
    _wait_changed(page, ".acm-charts", before)
    page.wait_for_function(
        "() => document.querySelector('.acm-charts').innerHTML.includes('Cascade')"
    )
    assert not [e for e in errors if "anywidget" in e], errors
    assert page.blocked == []


def test_bad_provider_in_url_shows_a_plain_message(server, page, shots):
    page.goto(server.url + "?provider=nonsense")
    page.wait_for_selector(".acm-message", timeout=WAIT_MS)
    text = page.inner_text(".acm-message")
    assert "provider 'nonsense'" in text and "Known providers: harbor" in text
    page.wait_for_selector(DRAWN, timeout=WAIT_MS)
    html = page.content()
    assert "Traceback" not in html and "Error" not in page.inner_text("body")
    page.screenshot(path=str(shots / "05_bad_provider.png"), full_page=True)
    assert page.blocked == []


def test_url_provider_and_csv_download_of_aggregates(server, page, values, program):
    page.goto(server.url + "?provider=harbor")
    page.wait_for_function(
        "() => (document.querySelector('.acm-charts') || {innerHTML: ''}).innerHTML.includes('Harbor')",
        timeout=WAIT_MS,
    )
    page.wait_for_selector(".acm-explorer.acm-idle", timeout=WAIT_MS)
    with page.expect_download() as info:
        page.click(".acm-download-link")
    csv = io.StringIO(Path(info.value.path()).read_text())
    frame = pd.read_csv(csv, keep_default_na=False, dtype=str)
    assert list(frame.columns) == CSV_COLUMNS
    trend = frame[frame["section"] == "trend"]
    assert set(trend["provider"]) == {program.provider("harbor").name} and len(trend) > 0
    months = sorted(_monthly(values, ALL)["period"].unique())[-12:]  # the default range
    want = _monthly(values, "harbor")
    hidden = want.loc[want["suppressed"] & want["period"].isin(months), "period"]
    assert (trend.set_index("period")["value"].reindex(hidden) == "suppressed").all()
    want = want[want["period"].isin(months) & ~want["suppressed"]].set_index("period")["value"]
    trend = trend[trend["value"] != "suppressed"]
    got = trend.set_index("period")["value"].astype(float)
    metric = program.metric(EPH)  # labels, and the packet's digits (core.text), not ids and floats
    assert set(trend["metric"]) == {metric.label}
    assert got.to_dict() == {p: text.csv_number(v, metric.format) for p, v in want.items()}
    assert "harbor" not in set(frame["provider"]) and ALL not in set(frame["provider"])
    assert page.blocked == []


def _tile_facts(page, metric_id: str) -> dict:
    """What one tile shows in the browser: value, arrow, comparison line, flag chips."""
    tile = page.locator(".acm-tile").filter(has=page.locator(f"[data-metric='{metric_id}']"))
    arrow = tile.locator(".acm-arrow")
    how = ""
    if arrow.count():
        how = next(c for c in arrow.get_attribute("class").split() if c != "acm-arrow")
    sub = tile.locator(".acm-tile-sub").inner_text().strip()
    return {
        "shown": tile.locator(".acm-tile-value").inner_text(),
        "arrow": arrow.inner_text() if arrow.count() else "",
        "how": how,
        "sub": tuple(x for x in sub.split(" · ") if x),
        "chips": tuple(tile.locator(".acm-chip").all_inner_texts()),
    }


def _check_packet_tiles(page, packet_tiles, provider: str, grain: str) -> None:
    for t in packet_tiles(provider, grain):
        want = {
            k: v for k, v in t.facts().items() if k in ("shown", "arrow", "how", "sub", "chips")
        }
        assert _tile_facts(page, t.metric_id) == want, (provider, grain, t.metric_id)


def test_tiles_equal_the_packet_at_month_and_quarter_and_the_link_reopens_the_view(
    server, browser, page, packet_tiles, program, shots
):
    page.add_init_script("window.__printed = 0; window.print = () => { window.__printed++; };")
    page.goto(server.url + "?provider=harbor")
    page.wait_for_function(
        "() => (document.querySelector('.acm-charts') || {innerHTML: ''}).innerHTML.includes('Harbor')",
        timeout=WAIT_MS,
    )
    page.wait_for_selector(".acm-explorer.acm-idle", timeout=WAIT_MS)
    _check_packet_tiles(page, packet_tiles, "harbor", "month")
    page.wait_for_function("() => location.search.includes('grain=month')", timeout=WAIT_MS)
    assert "provider=harbor" in page.url and "metric=" in page.url and "token" not in page.url

    # Over: Quarter -> the last complete quarter in tiles and a quarterly trend, said in a note
    before = page.inner_html(".acm-charts")
    page.select_option(".acm-grain select", label="Quarter")
    _wait_changed(page, ".acm-charts", before)
    _check_packet_tiles(page, packet_tiles, "harbor", "quarter")
    note = page.inner_text(".acm-grain-note")
    assert "complete" in note and "2026-Q3" in note and "2026-Q4" in note
    quarters = {
        m.group(1)
        for s in _labels(page, ": value ")
        if (m := re.match(r"This provider, (\d{4}-Q\d): value ", s))
    }
    assert quarters and max(quarters) == "2026-Q3"  # no partial 2026-Q4
    page.wait_for_function("() => location.search.includes('grain=quarter')", timeout=WAIT_MS)
    page.screenshot(path=str(shots / "07_harbor_by_quarter.png"), full_page=True)

    # the address is a link to this view: a new page opens on it
    link = page.url
    other = page.context.new_page()
    other.goto(link)
    other.wait_for_selector(DRAWN, timeout=WAIT_MS)
    other.wait_for_selector(".acm-explorer.acm-idle", timeout=WAIT_MS)
    shown = "s => s.options[s.selectedIndex].text.replace(/\u00a0/g, ' ')"
    assert other.eval_on_selector(".acm-grain select", shown) == "Quarter"
    assert other.eval_on_selector(".acm-provider select", shown) == program.provider("harbor").name
    _check_packet_tiles(other, packet_tiles, "harbor", "quarter")
    other.close()

    # one button prints the view (the browser's dialog saves it as PDF); print hides controls
    page.click(".acm-print-button")
    page.wait_for_function("() => window.__printed === 1", timeout=WAIT_MS)
    page.emulate_media(media="print")
    assert not page.is_visible(".acm-controls") and page.is_visible(".acm-tiles")
    page.screenshot(path=str(shots / "08_print_view.png"), full_page=True)
    assert page.blocked == []


def test_drill_from_a_flagged_tile_opens_its_breakdown(server, page, program, shots):
    page.goto(server.url + "?provider=harbor")
    page.wait_for_function(
        "() => (document.querySelector('.acm-charts') || {innerHTML: ''}).innerHTML.includes('Harbor')",
        timeout=WAIT_MS,
    )
    page.wait_for_selector(".acm-explorer.acm-idle", timeout=WAIT_MS)
    tile = page.locator(".acm-tile.acm-flagged").filter(has=page.locator(".acm-drill:visible")).last
    metric = tile.locator(".acm-tile-value").get_attribute("data-metric")
    before = page.inner_html(".acm-charts")
    tile.locator(".acm-drill").click()
    _wait_changed(page, ".acm-charts", before)
    shown = "s => s.options[s.selectedIndex].text.replace(/\\u00a0/g, ' ')"  # widgets use nbsp
    assert page.eval_on_selector(".acm-metric select", shown) == program.metric(metric).label
    dimension = page.eval_on_selector(".acm-dimension select", shown)
    assert dimension in [d.label for d in program.dimensions.values()]
    page.wait_for_function(  # the breakdown is drawn (its chart names the dimension)
        "dim => document.querySelector('.acm-charts').innerHTML.includes('by ' + dim)",
        arg=dimension.lower(),
        timeout=WAIT_MS,
    )
    assert f"by {dimension.lower()}" in page.inner_html(".acm-charts")
    page.screenshot(path=str(shots / "06_drill.png"), full_page=True)
    assert page.blocked == []
