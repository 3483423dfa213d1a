"""Staff explorer speed and memory, measured in the browser at normal priority, in one run.

Usage: .venv/bin/python benchmarks/bench_voila.py [--data-dir DIR] [--rounds N] [--visits N]
       [--busy N] [--providers N [--scale S]]

Prints, each with the load average beside it:
- first chart with a preheated kernel, from a browser new to the page and from a returning one
  (one profile, so its cache holds the page's files), and cold (``--no-preheat``: a kernel
  started for the visit), cold both with forked kernels (the default) and with a new kernel
  process per visit (``--no-fork-kernels``, the baseline), with each cold kernel's memory:
  when the loading screen's still picture of the view showed its chart
  (:mod:`acm_helpers.explorer.preview`), and when the live board drew its first chart;
- median and p95 update time (provider and metric changes);
- memory per kernel (RSS and USS, psutil) once a kernel has drawn its page;
- memory (RSS over the server and its kernels) after warm-up and after N visits that each close
  their page (kernels shut down ``--page-timeout`` seconds later).

Without --data-dir it builds a demo store (demo.generate -> intake.load_canonical ->
metrics.refresh) in a temporary folder. Times are taken by the page itself
(:mod:`acm_helpers.explorer.browser_probe`). Goals (quiet 2-core machine): first chart < 1 s
preheated, updates < 300 ms; at load average 8: < 3 s and < 1 s. ``--busy N`` runs N
CPU-bound processes at normal priority throughout (started a minute before the first visit,
so the load average has risen), to measure the second pair of goals on purpose rather than
whenever the machine happens to be busy. ``--providers N`` serves a program of N providers
instead of the demo's six (``bench_scale.make_program``: the demo's providers repeated, at
``--scale`` of the demo's volume), for the memory per kernel of a large program.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from acm_helpers.explorer.browser_probe import (
    CHANGE_JS,
    FIRST_CHART_DONE,
    FIRST_CHART_JS,
    IDLE,
    percentile,
)
from acm_helpers.explorer.serve import BackgroundServer, free_port
from acm_helpers.packets.render import CHROMIUM, CHROMIUM_ARGS

ROOT = Path(__file__).resolve().parents[1]
LOCAL = ("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:")
GOAL_FIRST, GOAL_UPDATE = 1.0, 0.300
QUICK = ["--page-timeout", "3", "--cull-interval", "1", "--no-token"]
VIEWPORT = {"width": 1280, "height": 1000}


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"[load {one:.1f}/{five:.1f}/{fifteen:.1f}, {os.cpu_count()} cores]"


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


def build_large(work: Path, providers: int, scale: float) -> tuple[Path, Path]:
    """A program of ``providers`` providers (bench_scale's) and its store; (data dir, program)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import bench_scale

    program_path = bench_scale.make_program(work, providers, 12)
    program, store, _ = bench_scale.prepare(program_path, scale)
    return Path(store.root), program_path


def open_page(browser, url: str, context=None):
    """A visit from a browser that has never seen the page, or from ``context`` (a returning
    browser: its cache holds the page's files from its earlier visits)."""
    opener = context if context is not None else browser
    page = opener.new_page(**({} if context is not None else {"viewport": VIEWPORT}))
    page.route("**/*", lambda r: r.continue_() if r.request.url.startswith(LOCAL) else r.abort())
    page.add_init_script(FIRST_CHART_JS)
    page.goto(url, timeout=300_000)
    page.wait_for_function(FIRST_CHART_DONE, timeout=300_000)
    picture = page.evaluate("window.__acmPreview")
    return page, page.evaluate("window.__acmFirst") / 1000, picture and picture / 1000


def _s(seconds: float | None) -> str:
    return "none" if seconds is None else f"{seconds:.2f} s"


def wait_for(condition, deadline_s: float = 300) -> bool:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.2)
    return False


def kernel_memory(srv: BackgroundServer) -> list[tuple[float, float]]:
    """(RSS, USS) in MB of each kernel process alive now."""
    import psutil

    out = []
    for proc in srv.kernel_processes():
        try:
            info = proc.memory_full_info()
        except psutil.Error:
            continue
        out.append((info.rss / 1e6, info.uss / 1e6))
    return out


def preheated(
    browser, data_dir: Path, rounds: int, visits: int, more: tuple[str, ...] = ()
) -> dict:
    """First charts with a ready pooled kernel, updates, memory per kernel, memory after visits.
    ``more``: more ``acm serve`` options (``--program``)."""
    port = free_port()
    args = ["--port", str(port), "--data-dir", str(data_dir), *QUICK, *more]
    out = {"first": [], "picture": [], "update": [], "kernel": [], "visits": []}
    with BackgroundServer(args, ROOT) as srv:
        url = srv.address
        for i in range(rounds):
            wait_for(lambda i=i: srv.kernels_ready() >= i + 1)  # a pooled kernel is ready
            page, seconds, picture = open_page(browser, url)
            out["first"].append((seconds, load()))
            out["picture"].append(picture)
            print(
                f"  preheated: picture {_s(picture)}, live chart {seconds:.2f} s {load()}",
                file=sys.stderr,
            )
            if i == 0:  # updates on this page: provider and metric changes
                for _ in range(max(3, rounds)):
                    for control in ("provider", "metric"):
                        page.wait_for_selector(IDLE, timeout=120_000)
                        ms = page.evaluate(CHANGE_JS, [control, -1, "charts"])
                        if ms >= 0:
                            out["update"].append((control, ms / 1000))
                out["update_load"] = load()
                page_kernels = kernel_memory(srv)
                out["kernel"] = (page_kernels, load())
            page.close()
        # a returning browser: one profile, a first visit to fill its cache, then `rounds` more
        context = browser.new_context(viewport=VIEWPORT)
        out["returning"] = []
        used = rounds
        for i in range(rounds + 1):
            wait_for(lambda used=used: srv.kernels_ready() >= used + 1)
            page, seconds, picture = open_page(browser, url, context)
            used += 1
            if i:
                out["returning"].append((seconds, load()))
                print(f"  returning browser: live chart {seconds:.2f} s {load()}", file=sys.stderr)
            page.close()
        context.close()
        # memory: warm-up state (pool ready, no page), then N visits that close their page
        wait_for(lambda: len(srv.kernel_processes()) <= 1 and srv.kernels_ready() > used)
        warm = srv.memory()
        out["warm"] = (warm, len(srv.kernel_processes()), load())
        for _ in range(visits):
            page, _, _ = open_page(browser, url)
            page.close()
        right_after = (srv.memory(), len(srv.kernel_processes()))
        wait_for(lambda: len(srv.kernel_processes()) <= 1, 300)
        time.sleep(2)  # let the last shutdown finish before reading memory
        out["after"] = (srv.memory(), len(srv.kernel_processes()), right_after, load())
    return out


def cold(
    browser, data_dir: Path, rounds: int, extra: tuple[str, ...] = (), more: tuple[str, ...] = ()
) -> dict:
    """First charts from kernels started for the visit (``--no-preheat``), and the memory of
    each such kernel with its page open. ``extra``: more ``acm serve`` options (the baseline:
    ``--no-fork-kernels``, a new process per kernel)."""
    port = free_port()
    args = ["--port", str(port), "--data-dir", str(data_dir), "--no-preheat", *QUICK, *extra, *more]
    out = {"first": [], "kernel": []}
    name = " ".join(extra) or "forked kernels"
    with BackgroundServer(args, ROOT, preheat=False) as srv:
        for _ in range(rounds):
            page, seconds, picture = open_page(browser, srv.address)
            out["first"].append((seconds, load(), picture))
            out["kernel"] += kernel_memory(srv)
            print(
                f"  cold ({name}): picture {_s(picture)}, live chart {seconds:.2f} s {load()}",
                file=sys.stderr,
            )
            page.close()
            wait_for(lambda: not srv.kernel_processes(), 120)  # its kernel has ended
    return out


BURN = "import itertools\nfor _ in itertools.count(): pass"


def start_busy(n: int, settle_s: float = 60) -> list:
    """``n`` busy-looping Python processes at normal priority; waits ``settle_s`` so the
    one-minute load average has risen before anything is measured."""
    import subprocess

    procs = [subprocess.Popen([sys.executable, "-c", BURN]) for _ in range(n)]
    if procs:
        print(f"{n} busy processes started {load()}; waiting {settle_s:.0f} s", file=sys.stderr)
        time.sleep(settle_s)
    return procs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--visits", type=int, default=10, help="visits for the memory figure")
    ap.add_argument("--busy", type=int, default=0, help="CPU-bound processes run alongside")
    ap.add_argument("--providers", type=int, help="a program of N providers, not the demo's")
    ap.add_argument("--scale", type=float, default=0.02, help="--providers: demo volume")
    opts = ap.parse_args()
    from playwright.sync_api import sync_playwright

    print(f"start {load()}, nice {os.nice(0)}, {opts.busy} busy processes alongside")
    with tempfile.TemporaryDirectory(prefix="acm-bench-voila-") as tmp:
        more: tuple[str, ...] = ()
        if opts.providers:
            data_dir, program = build_large(Path(tmp), opts.providers, opts.scale)
            more = ("--program", str(program))
            print(f"{opts.providers} providers, scale {opts.scale}: store built {load()}")
        else:
            data_dir = opts.data_dir or build_store(Path(tmp) / "store")
        busy = start_busy(opts.busy)
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                warm = preheated(browser, data_dir, opts.rounds, opts.visits, more)
                n_cold = max(2, opts.rounds // 2 + 1)
                cold_runs = cold(browser, data_dir, n_cold, more=more)
                # the baseline, same machine, same run: a new kernel process per visit
                cold_new = cold(browser, data_dir, n_cold, ("--no-fork-kernels",), more)
                browser.close()
        finally:
            for proc in busy:
                proc.kill()
                proc.wait()

    pictures = [p for p in warm["picture"] if p is not None]
    if pictures:
        print(
            f"first chart, still picture on the loading screen (preheated): median "
            f"{statistics.median(pictures):.2f} s (/goal {statistics.median(pictures) / GOAL_FIRST:.2f}x)"
            f" over {len(pictures)} of {len(warm['picture'])}: "
            + ", ".join(_s(p) for p in warm["picture"])
        )
    firsts = [s for s, _ in warm["first"]]
    print(
        f"first chart, live board (preheated): median {statistics.median(firsts):.2f} s "
        f"(/goal {statistics.median(firsts) / GOAL_FIRST:.2f}x) over {len(firsts)}: "
        + ", ".join(f"{s:.2f} s {ld}" for s, ld in warm["first"])
    )
    back = [s for s, _ in warm["returning"]]
    print(
        f"first chart, live board (preheated), returning browser (files from its cache): median "
        f"{statistics.median(back):.2f} s (/goal {statistics.median(back) / GOAL_FIRST:.2f}x) "
        f"over {len(back)}: " + ", ".join(f"{s:.2f} s {ld}" for s, ld in warm["returning"])
    )
    for label, runs in (
        ("forked kernel", cold_runs),
        ("new kernel process, --no-fork-kernels (baseline)", cold_new),
    ):
        colds = [s for s, _, _ in runs["first"]]
        print(
            f"first chart, cold ({label}): picture "
            f"{', '.join(_s(p) for _, _, p in runs['first'])}; live board median "
            f"{statistics.median(colds):.2f} s over {len(colds)}: "
            + ", ".join(f"{s:.2f} s {ld}" for s, ld, _ in runs["first"])
        )
        uss = [u for _, u in runs["kernel"]]
        if uss:
            print(
                f"memory per kernel, cold ({label}), page open: USS median "
                f"{statistics.median(uss):.0f} MB, RSS median "
                f"{statistics.median([r for r, _ in runs['kernel']]):.0f} MB over {len(uss)}"
            )
    fork_first = statistics.median([s for s, _, _ in cold_runs["first"]])
    new_first = statistics.median([s for s, _, _ in cold_new["first"]])
    print(f"cold first chart, baseline / forked: {new_first / fork_first:.2f}x")
    ups = [s for _, s in warm["update"]]
    for kind in ("provider", "metric", "all"):
        vals = ups if kind == "all" else [s for c, s in warm["update"] if c == kind]
        if vals:
            print(
                f"update, {kind:8}: median {statistics.median(vals) * 1000:4.0f} ms, "
                f"p95 {percentile(vals, 0.95) * 1000:4.0f} ms over {len(vals)} "
                f"(/goal {statistics.median(vals) / GOAL_UPDATE:.2f}x) {warm['update_load']}"
            )
    kernels, ld = warm["kernel"]
    for rss, uss in kernels:
        print(f"memory per kernel: RSS {rss:.0f} MB, USS (its own pages) {uss:.0f} MB {ld}")
    mem, n, ld = warm["warm"]
    print(f"memory after warm-up: {mem:.0f} MB (server + {n} kernel(s)) {ld}")
    mem, n, (peak, n_peak), ld = warm["after"]
    print(
        f"memory after {opts.visits} closed visits: {mem:.0f} MB (server + {n} kernel(s)); "
        f"right after the last visit {peak:.0f} MB with {n_peak} kernel(s) {ld}"
    )
    print(f"end {load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
