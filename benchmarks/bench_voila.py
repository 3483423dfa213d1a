"""Staff explorer speed, measured in the browser: time to first chart (cold kernel vs preheated)
and the median time from a widget change to the redrawn chart.

Usage: .venv/bin/python benchmarks/bench_voila.py [--data-dir DIR] [--rounds N] [--modes svg,jupyter]

Without --data-dir it builds a demo store (demo.generate -> intake.load_canonical ->
metrics.refresh) in a temporary folder. Times are taken by the page itself
(``performance.now()``): first chart = navigation start to the first drawn Vega mark in the
charts; update = the ``change`` event on a select to the charts' next DOM change that holds
drawn marks. The baseline of each ratio is run in the same script: cold vs preheated, and the
goals (first chart < 2 s preheated, updates < 300 ms).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from acm_helpers.explorer.serve import BackgroundServer, free_port  # noqa: E402
from acm_helpers.packets.render import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
LOCAL = ("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:")
GOAL_FIRST, GOAL_UPDATE = 2.0, 0.300

# A chart counts as drawn when its svg holds marks (Vega writes role="graphics-symbol" on each
# mark), not when an empty svg element appears.
DRAWN = "svg [role='graphics-symbol']"
# Records when the first chart is drawn, relative to navigation start.
FIRST_CHART_JS = """
window.__acmFirst = null;
new MutationObserver((_, obs) => {
  if (document.querySelector(".acm-charts DRAWN")) { window.__acmFirst = performance.now(); obs.disconnect(); }
}).observe(document, {subtree: true, childList: true});
""".replace("DRAWN", DRAWN)
# Select an option by index, then resolve with ms until the watched pane's content changes.
CHANGE_JS = """
([ctl, index, pane]) => new Promise((resolve) => {
  const sel = document.querySelector(`.acm-${ctl} select`);
  const target = document.querySelector(`.acm-${pane}`);
  const before = target.innerHTML;
  const obs = new MutationObserver(() => {
    if (target.innerHTML !== before && target.querySelector(`DRAWN, .acm-empty`)) {
      obs.disconnect(); resolve(performance.now() - t0);
    }
  });
  obs.observe(target, {subtree: true, childList: true, characterData: true, attributes: true});
  sel.selectedIndex = index;
  const t0 = performance.now();
  sel.dispatchEvent(new Event('change', {bubbles: true}));
  setTimeout(() => { obs.disconnect(); resolve(-1); }, 20000);
})
""".replace("DRAWN", DRAWN)


def build_store(folder: Path) -> Path:
    """A demo store with metric tables (what `acm demo` builds, without packets)."""
    from acm_helpers.core.config import load_program
    from acm_helpers.demo import generate as demo
    from acm_helpers.intake import intake
    from acm_helpers.metrics import engine as metrics
    from acm_helpers.store.store import Store

    program = load_program(ROOT / "parameters" / "program.yaml")
    store = Store(folder)
    intake.load_canonical(store, program, demo.generate(program, seed=20261023, scale=1.0))
    metrics.refresh(program, store)
    return folder


def open_page(browser, url: str):
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.route("**/*", lambda r: r.continue_() if r.request.url.startswith(LOCAL) else r.abort())
    page.add_init_script(FIRST_CHART_JS)
    page.goto(url)
    page.wait_for_function("() => window.__acmFirst !== null", timeout=120_000)
    return page, page.evaluate("window.__acmFirst") / 1000


def first_charts(browser, data_dir: Path, preheat: bool, rounds: int, mode: str) -> list[float]:
    port = free_port()
    args = ["--port", str(port), "--data-dir", str(data_dir)] + (
        [] if preheat else ["--no-preheat"]
    )
    out = []
    os.environ["ACM_CHARTS"] = mode
    with BackgroundServer(args, ROOT, preheat=preheat) as srv:
        for i in range(rounds):
            if preheat:  # wait for a kernel that has run the notebook up to the request
                deadline = time.monotonic() + 120
                while srv.kernels_ready() < i + 1 and time.monotonic() < deadline:
                    time.sleep(0.1)
            page, seconds = open_page(browser, f"http://127.0.0.1:{port}/")
            out.append(seconds)
            print(
                f"  {mode} {'preheated' if preheat else 'cold'} first chart: {seconds:.2f} s",
                file=sys.stderr,
            )
            page.close()
            time.sleep(1.0)  # let Voila shut the kernel down before the next round
    return out


def change(page, control: str, index: int, pause: float = 0.0) -> float:
    """Milliseconds from a select's change to the charts' redraw.

    Starts from a finished update (``acm-idle`` back on the page root: every part of the
    previous update has arrived), after ``pause`` seconds of a person reading the page.
    """
    page.wait_for_selector(".acm-explorer.acm-idle", timeout=60_000)
    if pause:
        page.wait_for_timeout(pause * 1000)
    return page.evaluate(CHANGE_JS, [control, index, "charts"])


def updates(browser, data_dir: Path, rounds: int, mode: str) -> dict[str, list[float]]:
    """Update times by kind of change.

    - provider, first screen: the preheated kernel drew every provider while it waited;
    - metric, breakdown: views never drawn before (the full cost of an update);
    - provider at once: right after a metric change, before idle-time drawing starts;
    - provider after 2 s: after a pause, when idle time has drawn the other providers.
    """
    os.environ["ACM_CHARTS"] = mode
    port = free_port()
    kinds = [
        "provider, first screen",
        "metric (never drawn)",
        "breakdown (never drawn)",
        "provider at once",
        "provider after 2 s",
    ]
    res = {k: [] for k in kinds}
    with BackgroundServer(["--port", str(port), "--data-dir", str(data_dir)], ROOT):
        page, _ = open_page(browser, f"http://127.0.0.1:{port}/")
        count = "s => s.options.length"
        n_prov = page.eval_on_selector(".acm-provider select", count)
        n_dim = page.eval_on_selector(".acm-dimension select", count)
        n_met = page.eval_on_selector(".acm-metric select", count)
        for i in range(rounds):
            res[kinds[0]].append(change(page, "provider", (i + 1) % n_prov))
        provider = rounds % n_prov
        for i in range(rounds):
            metric = 1 + i % (n_met - 1)
            res[kinds[1]].append(change(page, "metric", metric))
            provider = (provider + 1) % n_prov
            res[kinds[3]].append(change(page, "provider", provider))
            provider = (provider + 1) % n_prov
            res[kinds[4]].append(change(page, "provider", provider, pause=2.0))
            res[kinds[2]].append(change(page, "dimension", 1 + i % (n_dim - 1)))
            change(page, "dimension", 0)  # back to no breakdown (not timed)
        page.close()
    return {k: [v / 1000 for v in vals if v >= 0] for k, vals in res.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--modes", default="jupyter,svg", help="chart modes to compare (svg, jupyter)")
    opts = ap.parse_args()
    from playwright.sync_api import sync_playwright

    rows = {}
    print(f"load average (1, 5, 15 min) at the start: {os.getloadavg()}, on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="acm-bench-voila-") as tmp:
        data_dir = opts.data_dir or build_store(Path(tmp) / "store")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for mode in opts.modes.split(","):
                cold = first_charts(browser, data_dir, False, max(2, opts.rounds // 2), mode)
                warm = first_charts(browser, data_dir, True, opts.rounds, mode)
                upd = updates(browser, data_dir, opts.rounds, mode)
                rows[mode] = (
                    statistics.median(cold),
                    statistics.median(warm),
                    {k: statistics.median(v) for k, v in upd.items() if v},
                )
            browser.close()
    for mode, (cold, warm, upd) in rows.items():
        print(
            f"[{mode}] first chart: cold {cold:.2f} s, preheated {warm:.2f} s "
            f"(cold/preheated {cold / warm:.1f}x; preheated/goal {warm / GOAL_FIRST:.2f}x)"
        )
        for kind, sec in upd.items():
            print(
                f"[{mode}] update, {kind:24} median {sec * 1000:5.0f} ms (/goal {sec / GOAL_UPDATE:.2f}x)"
            )
    print(f"load average (1, 5, 15 min) at the end: {os.getloadavg()}, on {os.cpu_count()} cores")
    if len(rows) == 2:
        (a, ra), (b, rb) = rows.items()
        kind = "provider at once"
        print(
            f"{a}/{b}: first chart preheated {ra[1] / rb[1]:.2f}x, {kind} update "
            f"{ra[2][kind] / rb[2][kind]:.2f}x"
        )
    print(
        f"goals: first chart preheated < {GOAL_FIRST:.0f} s, updates < {GOAL_UPDATE * 1000:.0f} ms "
        "(a ratio to the goal under 1 meets it)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
