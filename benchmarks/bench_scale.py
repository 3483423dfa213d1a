"""Scale benchmark (issue 8): packets per minute for a generated program of 200 providers.

Three ways to build the same dashboard packets, timed in one run on the same data:

- naive loop: for each provider, the ``papermill`` CLI then ``jupyter nbconvert --to html
  --no-input``, one after the other (timed on the first ``--naive`` providers; packets per
  minute is that subset's rate);
- ``acm run --kernel fresh``: the batch run's process pool, papermill with a new kernel per
  packet (timed on the first ``--fresh`` providers plus the system packet);
- ``acm run --kernel warm`` (the default): one warm kernel per worker process, reused for every
  packet (all providers plus the system packet);

plus a re-run of the warm run with nothing changed (incremental: no notebook runs).

Both ``acm run`` modes do more per packet than the naive loop: the offline HTML export, the
XLSX appendix and, for provider packets, the privacy audit; PDFs are off for every mode
(``--pdf`` turns them on for the two ``acm run`` modes). Every ``acm run`` uses ``--force`` so
every packet is really built.

Data: the demo program's metrics and dimensions with 200 generated providers, episodes from the
demo generator (``--scale``), loaded with ``intake.load_canonical``. The metric tables are
computed once with ``metrics.compute_tables`` (every grain, as ``metrics.refresh`` does: about
8 s and 1.6 GB at 200 providers) and stored under the engine's input version, so ``acm run``'s
refresh is a no-op and every mode times packets only.

Usage: ``python benchmarks/bench_scale.py [--providers 200] [--naive 6] [--fresh 16]``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TEMPLATE = ROOT / "notebooks" / "02_dashboard.ipynb"


def make_program(work: Path, n: int, months: int) -> Path:
    """The demo program with ``n`` providers (cycling the demo's program types) and the last
    ``months`` months."""
    from acm_helpers.core.calendar import shift_period

    raw = yaml.safe_load((ROOT / "parameters" / "program.yaml").read_text(encoding="utf-8"))
    base = raw["providers"]
    raw["providers"] = [
        {
            **base[i % len(base)],
            "id": f"p{i + 1:03d}",
            "name": f"Provider {i + 1:03d} Services",
            "contract_id": f"BENCH-{i + 1:03d}",
        }
        for i in range(n)
    ]
    raw["first_period"] = shift_period(raw["last_period"], -(months - 1))
    raw["roadmap"] = {k: v for k, v in raw.get("roadmap", {}).items() if k >= raw["first_period"]}
    raw["data_dir"] = str(work / "data")
    path = work / "program.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def prepare(program_path: Path, scale: float) -> tuple[object, object, dict]:
    """Generate, load and compute the engine's tables; return program, store and seconds."""
    from acm_helpers.core.config import load_program
    from acm_helpers.demo import generate as demo
    from acm_helpers.intake import intake
    from acm_helpers.metrics import engine as metrics
    from acm_helpers.store.store import Store

    secs = {}
    program = load_program(program_path)
    store = Store(program.data_dir)
    t = time.perf_counter()
    episodes = demo.generate(program, scale=scale)
    secs["generate"] = time.perf_counter() - t
    t = time.perf_counter()
    intake.load_canonical(store, program, episodes)
    secs["load"] = time.perf_counter() - t
    t = time.perf_counter()
    version = metrics.input_version(program, store)
    values, equity = metrics.compute_tables(program, store, version=version)
    store.write_table("equity", equity)
    store.write_table("metric_values", values)
    secs["metrics"] = time.perf_counter() - t
    secs["episodes"] = len(episodes)
    return program, store, secs


def naive_loop(
    program_path: Path, data_dir: Path, providers: list[str], period: str, out: Path
) -> float:
    """papermill CLI then nbconvert CLI per provider, sequentially; returns seconds."""
    out.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    for pid in providers:
        nb = out / f"{pid}.ipynb"
        params = {
            "program_path": program_path,
            "data_dir": data_dir,
            "provider": pid,
            "period": period,
            "audience": "provider",
        }
        cmd = [
            str(BIN / "papermill"),
            str(TEMPLATE),
            str(nb),
            "--no-progress-bar",
            "--log-level",
            "ERROR",
        ]
        for k, v in params.items():
            cmd += ["-p", k, str(v)]
        subprocess.run(cmd, check=True, cwd=TEMPLATE.parent, capture_output=True)
        subprocess.run(
            [
                str(BIN / "jupyter"),
                "nbconvert",
                "--to",
                "html",
                "--no-input",
                str(nb),
                "--output-dir",
                str(out),
            ],
            check=True,
            capture_output=True,
        )
    return time.perf_counter() - t


def acm_run(
    program_path: Path,
    data_dir: Path,
    out: Path,
    period: str,
    kernel: str,
    providers: list[str] | None,
    pdf: bool,
    force: bool = True,
) -> tuple[float, dict]:
    """``acm run`` as a user types it; returns wall seconds and the manifest."""
    cmd = [
        str(BIN / "acm"),
        "run",
        "--program",
        str(program_path),
        "--data-dir",
        str(data_dir),
        "--out",
        str(out),
        "--period",
        period,
        "--kernel",
        kernel,
        "--workers",
        "2",
        "--pdf" if pdf else "--no-pdf",
    ]
    if force:
        cmd.append("--force")
    if providers:
        cmd += ["--providers", ",".join(providers)]
    t = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - t
    if proc.returncode not in (0, 1):  # 1 = some packets failed; still timed and reported
        raise SystemExit(f"acm run failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    manifest = json.loads((out / period / "manifest.json").read_text(encoding="utf-8"))
    return seconds, manifest


def summary(manifest: dict) -> tuple[int, int, int]:
    """(packets built, skipped, failed) in a manifest."""
    packets = manifest["packets"]
    skipped = sum(1 for p in packets if p.get("skipped"))
    failed = sum(1 for p in packets if p["status"] != "ok")
    return len(packets) - skipped, skipped, failed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--providers", type=int, default=200)
    ap.add_argument("--naive", type=int, default=6, help="providers timed in the naive loop")
    ap.add_argument("--fresh", type=int, default=16, help="providers timed with --kernel fresh")
    ap.add_argument("--scale", type=float, default=0.02, help="demo generator volume")
    ap.add_argument("--months", type=int, default=12)
    ap.add_argument("--pdf", action="store_true", help="print PDFs in the acm run modes")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    t_all = time.perf_counter()
    try:
        program_path = make_program(work, args.providers, args.months)
        program, store, secs = prepare(program_path, args.scale)
        period = program.last_period
        ids = program.provider_ids
        data_dir = Path(program.data_dir)
        print(
            f"program: {args.providers} providers, {args.months} months, "
            f"{secs['episodes']:,} episodes; generate {secs['generate']:.1f} s, "
            f"load {secs['load']:.1f} s, metrics {secs['metrics']:.1f} s; {os.cpu_count()} cores"
        )

        rows = []
        t_naive = naive_loop(program_path, data_dir, ids[: args.naive], period, work / "naive")
        rows.append(("naive loop (papermill + nbconvert CLI)", args.naive, t_naive, 0))

        t_fresh, m_fresh = acm_run(
            program_path, data_dir, work / "fresh", period, "fresh", ids[: args.fresh], args.pdf
        )
        built, _, failed = summary(m_fresh)
        rows.append(("acm run --kernel fresh", built, t_fresh, failed))

        t_warm, m_warm = acm_run(
            program_path, data_dir, work / "warm", period, "warm", None, args.pdf
        )
        built, _, failed = summary(m_warm)
        rows.append(("acm run --kernel warm (default)", built, t_warm, failed))

        t_again, m_again = acm_run(
            program_path, data_dir, work / "warm", period, "warm", None, args.pdf, force=False
        )
        built_again, skipped_again, _ = summary(m_again)

        base = rows[0][1] / rows[0][2] * 60
        print(f"\n{'mode':42} {'packets':>7} {'seconds':>8} {'packets/min':>11} {'vs naive':>8}")
        for name, n, secs_, failed in rows:
            rate = n / secs_ * 60
            note = f"  ({failed} failed)" if failed else ""
            print(f"{name:42} {n:7d} {secs_:8.1f} {rate:11.1f} {rate / base:7.1f}x{note}")
        print(
            f"\nnaive loop timed on {args.naive} providers, acm run --kernel fresh on {args.fresh} "
            "(+ the system packet); packets per minute is each subset's own rate."
        )
        reasons = Counter(p["reason"] for p in m_again["packets"])
        print(
            f"re-run with nothing changed: {t_again:.1f} s, {built_again} packets built, "
            f"{skipped_again} skipped; reasons: "
            + ", ".join(f"{r} x{k}" for r, k in reasons.most_common())
        )
        warm_rate = rows[2][1] / rows[2][2] * 60
        print(
            f"goal warm >= 5x naive: {'met' if warm_rate / base >= 5 else 'NOT met'} "
            f"({warm_rate / base:.1f}x)"
        )
        print(f"benchmark wall time {time.perf_counter() - t_all:.0f} s")
    finally:
        if args.keep:
            print(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
