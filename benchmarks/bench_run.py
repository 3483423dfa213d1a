"""Time `acm run` on the demo program against the naive loop, in one script.

Baseline (what a team would write first): for each provider, sequentially, the `papermill` CLI
runs notebooks/02_dashboard.ipynb, then the `jupyter nbconvert --to html --no-input` CLI converts
it. Every step pays for a new Python process, a new kernel and every import.

`acm run` does more work than the baseline (the internal system packet, an XLSX appendix and
the privacy audit of every packet) and still has to be faster: every notebook runs in a fork of
one warm process (imports paid once per run), in-process HTML export, data prepared once
upstream, two workers. The same script also times ``--kernel warm`` (a Jupyter kernel per
worker, reset between notebooks: the mode before forked notebooks), as a same-machine baseline.

Usage: .venv/bin/python benchmarks/bench_run.py [--scale 1.0] [--repeat 2] [--skip-pdf-run]
    [--skip-fresh] [--skip-warm]
Prints wall seconds (median of the repeats, naive and acm run alternating so both see the same
machine load), the CPU seconds of their processes (steadier than wall seconds on a shared
machine), the CPU seconds per packet, the load average before and after, the ratio naive /
acm run (goal: >= 8 on 2 cores), and the per-stage cost of a packet from the warm run's
manifest of the default run (``acm_helpers.batch.profile``: data load, each section, each chart,
HTML export, XLSX, audit).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
WORK = ROOT / "benchmarks" / "_work" / "bench_run"
PERIOD = "2026-10"


def build_store(scale: float) -> Path:
    """Demo episodes loaded and metrics computed (not timed: both sides read the same store)."""
    from acm_helpers.core.config import load_program
    from acm_helpers.demo import generate as demo
    from acm_helpers.intake import intake
    from acm_helpers.metrics import engine as metrics
    from acm_helpers.store.store import Store

    program = load_program(ROOT / "parameters" / "program.yaml")
    store = Store(WORK / "store")
    if not store.has_table("metric_values"):
        intake.load_canonical(store, program, demo.generate(program, scale=scale))
    metrics.refresh(program, store)
    return store.root


def naive(store: Path, providers: list[str]) -> float:
    """papermill CLI then jupyter nbconvert CLI, per provider, one after the other."""
    out = WORK / "naive"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    t0 = time.perf_counter()
    for pid in providers:
        nb = out / f"{pid}.ipynb"
        subprocess.run(
            [
                str(BIN / "papermill"),
                str(ROOT / "notebooks" / "02_dashboard.ipynb"),
                str(nb),
                "-p",
                "program_path",
                str(ROOT / "parameters" / "program.yaml"),
                "-p",
                "data_dir",
                str(store),
                "-p",
                "provider",
                pid,
                "-p",
                "period",
                PERIOD,
                "-p",
                "audience",
                "provider",
                "--cwd",
                str(ROOT / "notebooks"),
                "--no-progress-bar",
            ],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [str(BIN / "jupyter"), "nbconvert", "--to", "html", "--no-input", str(nb)],
            check=True,
            capture_output=True,
        )
    return time.perf_counter() - t0


def acm_run(store: Path, *, pdf: bool, kernel: str) -> float:
    """The `acm run` command (a fresh process, --force so nothing is skipped)."""
    out = WORK / f"acm-{kernel}-{'pdf' if pdf else 'nopdf'}"
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    proc = subprocess.run(
        [
            str(BIN / "acm"),
            "run",
            "--period",
            PERIOD,
            "--workers",
            "2",
            "--force",
            "--kernel",
            kernel,
            "--pdf" if pdf else "--no-pdf",
            "--program",
            str(ROOT / "parameters" / "program.yaml"),
            "--data-dir",
            str(store),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"acm run failed:\n{proc.stdout}\n{proc.stderr[-3000:]}")
    return seconds


def last_manifest(kernel: str, pdf: bool = False):
    """The manifest of the last `acm run` of this kind (for its per-stage profile)."""
    from acm_helpers.batch.manifest import Manifest

    path = WORK / f"acm-{kernel}-{'pdf' if pdf else 'nopdf'}" / PERIOD / "manifest.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    return Manifest(**data)


def cpu_children() -> float:
    """CPU seconds (user + system) used so far by finished child processes."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def timed(fn, *args, **kw) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child processes) of one call."""
    cpu0 = cpu_children()
    wall = fn(*args, **kw)
    return wall, cpu_children() - cpu0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=2, help="runs per side (median reported)")
    parser.add_argument("--skip-pdf-run", action="store_true")
    parser.add_argument("--skip-fresh", action="store_true", help="no --kernel fresh run")
    parser.add_argument(
        "--skip-warm",
        action="store_true",
        help="no --kernel warm run (a Jupyter kernel per worker)",
    )
    args = parser.parse_args()
    from acm_helpers.core.config import load_program

    providers = load_program(ROOT / "parameters" / "program.yaml").provider_ids
    store = build_store(args.scale)
    load0 = os.getloadavg()
    print(
        f"demo program at scale {args.scale}: {len(providers)} providers, period {PERIOD}, "
        f"{os.cpu_count()} cores, load average {load0[0]:.1f} / {load0[1]:.1f} / {load0[2]:.1f} "
        f"(1 / 5 / 15 min), niceness {os.nice(0)}"
    )
    runs: dict[str, list[tuple[float, float]]] = {"naive": [], "fork": []}
    if not args.skip_warm:
        runs["warm"] = []
    if not args.skip_fresh:
        runs["fresh"] = []
    for _ in range(args.repeat):  # alternate, so both sides see the same load on a shared machine
        runs["naive"].append(timed(naive, store, providers))
        runs["fork"].append(timed(acm_run, store, pdf=False, kernel="fork"))
        if not args.skip_warm:
            runs["warm"].append(timed(acm_run, store, pdf=False, kernel="warm"))
        if not args.skip_fresh:
            runs["fresh"].append(timed(acm_run, store, pdf=False, kernel="fresh"))
    wall = {k: statistics.median(w for w, _ in v) for k, v in runs.items()}
    cpu = {k: statistics.median(c for _, c in v) for k, v in runs.items()}
    n_warm = len(providers) + 1  # the provider packets and the system packet
    print(
        f"naive loop (papermill CLI + nbconvert CLI, sequential): {wall['naive']:6.1f} s wall "
        f"{cpu['naive']:6.1f} s CPU  ({len(providers)} HTML packets)"
    )
    print(
        f"acm run --no-pdf (forked notebooks, 2 workers):          {wall['fork']:6.1f} s wall "
        f"{cpu['fork']:6.1f} s CPU  ({len(providers)} packets + system packet: HTML, XLSX, audit)  "
        f"ratio {wall['naive'] / wall['fork']:.2f}x"
    )
    if "warm" in wall:
        print(
            f"acm run --no-pdf --kernel warm (2 workers):              {wall['warm']:6.1f} s wall "
            f"{cpu['warm']:6.1f} s CPU  ratio {wall['naive'] / wall['warm']:.2f}x "
            f"(fork is {wall['warm'] / wall['fork']:.2f}x as fast)"
        )
    if "fresh" in wall:
        print(
            f"acm run --no-pdf --kernel fresh (2 workers):             {wall['fresh']:6.1f} s wall "
            f"{cpu['fresh']:6.1f} s CPU  ratio {wall['naive'] / wall['fresh']:.2f}x"
        )
    print(
        f"CPU seconds per packet: naive {cpu['naive'] / len(providers):.2f} "
        f"(HTML only); acm run {cpu['fork'] / n_warm:.2f} (HTML + XLSX + audit, every "
        f"process of the run: parent, workers, notebook server and its forks, divided by "
        f"{n_warm} packets)"
    )
    if not args.skip_pdf_run:
        t_pdf, c_pdf = timed(acm_run, store, pdf=True, kernel="fork")
        print(
            f"acm run with PDFs (forked notebooks, 2 workers):          {t_pdf:6.1f} s wall "
            f"{c_pdf:6.1f} s CPU  ratio {wall['naive'] / t_pdf:.2f}x (the naive loop makes no PDF)"
        )
    from acm_helpers.batch.profile import profile_table, run_table

    manifest = last_manifest("fork")
    print("\nper-stage cost of the last default (fork) run (its manifest.json):")
    print(run_table(manifest))
    print(profile_table(manifest.packets))
    load1 = os.getloadavg()
    print(
        f"\nruns per side: {args.repeat}; load average before {load0[0]:.1f}, now "
        f"{load1[0]:.1f} / {load1[1]:.1f} / {load1[2]:.1f} (1 / 5 / 15 min)"
    )
    print(f"RATIO naive / acm run (no PDF): {wall['naive'] / wall['fork']:.2f}x  (goal >= 8x)")


if __name__ == "__main__":
    main()
