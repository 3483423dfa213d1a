"""Scale benchmark (issue 8): packets per minute for a generated program of 200 providers.

Three ways to build the same dashboard packets, timed in one run on the same data:

- naive loop: for each provider, the ``papermill`` CLI then ``jupyter nbconvert --to html
  --no-input``, one after the other (timed on the first ``--naive`` providers; packets per
  minute is that subset's rate);
- ``acm run --kernel fresh``: the batch run's process pool, papermill with a new kernel per
  packet (timed on the first ``--fresh`` providers plus the system packet);
- ``acm run`` (the default, ``--kernel fork``): every notebook in a fork of one warm notebook
  server (all providers plus the system packet);
- ``acm run --kernel warm`` with ``--warm``: one warm kernel per worker process, reused for every
  packet (all providers plus the system packet);

plus a re-run of the default run with nothing changed (incremental: no notebook runs).

Both ``acm run`` modes do more per packet than the naive loop: the offline HTML export, the
XLSX appendix and, for provider packets, the privacy audit; PDFs are off for every mode
(``--pdf`` turns them on for the two ``acm run`` modes). Every ``acm run`` uses ``--force`` so
every packet is really built.

Data: the demo program's metrics and dimensions with 200 generated providers, episodes from the
demo generator (``--scale``), loaded with ``intake.load_canonical``. The metric tables are
computed once with ``metrics.compute_tables`` (every grain, as ``metrics.refresh`` does: about
8 s and 1.6 GB at 200 providers) and stored under the engine's input version, so ``acm run``'s
refresh is a no-op and every mode times packets only.

Large programs (``--large``): 1,000 providers and about 10 million episodes (``--episodes``)
through intake (``intake.load_canonical``: partitions, quality reports, the episodes rebuild),
the metrics refresh (``metrics.refresh``) and ``acm run`` on a sample of providers (``--sample``,
plus the system packet); for each stage its seconds and peak resident memory (this process and
its children, sampled every 50 ms), and for the packets the per-packet rate. A stage over the
memory limit (``ACM_MEMORY_LIMIT``, :mod:`acm_helpers.store.limits`) stops with a
``MemoryLimitError`` naming the limit; the benchmark prints it and the stages done so far.

Every run prints the load average before and after: on a shared machine the figures are only
comparable at the same load. Run it at normal priority (no ``nice``).

Usage: ``python benchmarks/bench_scale.py [--providers 200] [--naive 6] [--fresh 16] [--warm]``
       ``python benchmarks/bench_scale.py --large [--episodes 10000000] [--sample 10]``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import date
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TEMPLATE = ROOT / "notebooks" / "02_dashboard.ipynb"
# demo generator episodes per provider at scale 1.0 over 12 months (measured: 14,730 episodes for
# 1,000 providers at scale 0.01); --episodes picks the scale from it
EPISODES_PER_PROVIDER = 1473
GOAL = 10  # the default run vs the naive loop at 200 providers (issue 17)


class PeakMemory:
    """Peak resident memory of this process and its children, sampled in a thread.

    Why sampled: ``getrusage``'s maxrss is the peak of the whole process life and cannot be
    reset per stage, and it misses the children (``acm run``'s workers and kernels).
    """

    def __init__(self, every: float = 0.05):
        import psutil

        self.proc, self.every, self.peak, self._stop = psutil.Process(), every, 0, False
        threading.Thread(target=self._watch, daemon=True).start()

    def rss(self) -> int:
        import psutil

        total = self.proc.memory_info().rss
        for child in self.proc.children(recursive=True):
            try:
                total += child.memory_info().rss
            except psutil.Error:
                pass
        return total

    def _watch(self) -> None:
        while not self._stop:
            self.peak = max(self.peak, self.rss())
            time.sleep(self.every)

    def stage(self, func):
        """Run ``func()``; return its result, wall seconds, CPU seconds (this process) and peak."""
        self.peak = self.rss()
        t, c = time.perf_counter(), time.process_time()
        out = func()
        return out, time.perf_counter() - t, time.process_time() - c, max(self.peak, self.rss())


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.1f} / {five:.1f} / {fifteen:.1f} (1 / 5 / 15 min)"


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
    # sections keyed by provider (rate cards, sprints, triage contracts) follow the demo's
    # providers to the generated ones that take their place (p001 for the first, ...)
    renamed = {p["id"]: f"p{i + 1:03d}" for i, p in enumerate(base[:n])}
    raw = {k: v if k == "providers" else _rename(v, renamed) for k, v in raw.items()}
    raw["first_period"] = shift_period(raw["last_period"], -(months - 1))
    raw["roadmap"] = {k: v for k, v in raw.get("roadmap", {}).items() if k >= raw["first_period"]}
    raw["data_dir"] = str(work / "data")
    path = work / "program.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def _rename(value, names: dict[str, str]):
    """``value`` (parsed YAML) with every key or string that is an old provider id renamed."""
    if isinstance(value, dict):
        return {names.get(k, k): _rename(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [_rename(v, names) for v in value]
    return names.get(value, value) if isinstance(value, str) else value


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
    ap.add_argument("--warm", action="store_true", help="also time --kernel warm (all packets)")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    ap.add_argument("--large", action="store_true", help="the large-program stages instead")
    ap.add_argument("--episodes", type=int, default=10_000_000, help="--large: target episodes")
    ap.add_argument("--sample", type=int, default=10, help="--large: providers whose packets run")
    args = ap.parse_args()
    print(f"{date.today()}; {os.cpu_count()} cores; {load_average()}; nice {os.nice(0)}")
    if args.large:
        large(args.providers if args.providers != 200 else 1000, args)
        return

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

        t_fork, m_fork = acm_run(
            program_path, data_dir, work / "fork", period, "fork", None, args.pdf
        )
        built, _, failed = summary(m_fork)
        rows.append(("acm run (default: --kernel fork)", built, t_fork, failed))
        default_row = len(rows) - 1
        if args.warm:
            t_warm, m_warm = acm_run(
                program_path, data_dir, work / "warm", period, "warm", None, args.pdf
            )
            built, _, failed = summary(m_warm)
            rows.append(("acm run --kernel warm", built, t_warm, failed))

        t_again, m_again = acm_run(
            program_path, data_dir, work / "fork", period, "fork", None, args.pdf, force=False
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
        rate = rows[default_row][1] / rows[default_row][2] * 60
        print(
            f"goal acm run >= {GOAL}x naive at {args.providers} providers: "
            f"{'met' if rate / base >= GOAL else 'NOT met'} ({rate / base:.1f}x)"
        )
        print(load_average())
        print(f"benchmark wall time {time.perf_counter() - t_all:.0f} s")
    finally:
        if args.keep:
            print(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def large(n: int, args: argparse.Namespace) -> None:
    """Intake, refresh and a sample of packets for a large program: seconds and peak memory.

    Each stage runs in a process of its own, so a stage's peak is its own and not what the heap
    of an earlier stage kept (the generator's 10 million rows left 6.7 GB behind). The
    generated episodes pass to intake through a Parquet file, as an adapter's frame would come
    from files.
    """
    from acm_helpers.core.config import load_program
    from acm_helpers.store import limits

    work = Path(tempfile.mkdtemp(prefix="bench-scale-large-"))
    scale = args.episodes / (n * EPISODES_PER_PROVIDER) * 12 / args.months
    limit, source = limits.memory_limit()
    print(
        f"large program: {n:,} providers, {args.months} months, ~{args.episodes:,} episodes "
        f"(demo scale {scale:.3f}); memory limit {limits.human(limit)} ({source})"
    )
    try:
        program_path = make_program(work, n, args.months)
        for stage in ("generate", "intake", "refresh"):
            if not _stage_in_child(stage, program_path, scale):
                return
        program = load_program(program_path)
        ids = program.provider_ids[: args.sample]
        meter = PeakMemory()
        got = meter.stage(
            lambda: acm_run(
                program_path,
                Path(program.data_dir),
                work / "out",
                program.last_period,
                "fork",
                ids,
                args.pdf,
            )
        )
        built, _, failed = summary(got[0][1])
        _report(
            f"packets (acm run, {len(ids)} + system)",
            got,
            f"{built} built, {failed} failed; {built / got[1] * 60:.1f} packets/min, "
            f"{got[1] / max(built, 1):.1f} s per packet (wall, 2 workers)",
        )
    finally:
        print(load_average())
        if args.keep:
            print(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def _report(name: str, result: tuple, note: str = "") -> None:
    _, wall, cpu, peak = result
    print(f"  {name:28} {wall:8.1f} s  {cpu:8.1f} s CPU  peak {peak / 1e9:5.2f} GB  {note}")
    print(f"  {'':28} {load_average()}", flush=True)


def _stage_in_child(stage: str, program_path: Path, scale: float) -> bool:
    """Run one large-program stage in a fresh process; False when it stopped (printed)."""
    import multiprocessing as mp

    proc = mp.get_context("spawn").Process(
        target=_large_stage, args=(stage, str(program_path), scale)
    )
    proc.start()
    proc.join()
    if proc.exitcode and proc.exitcode < 0:
        print(
            f"STOPPED in {stage}: its process was killed by signal {-proc.exitcode} "
            "(9: the machine ran out of memory; see `dmesg`)",
            flush=True,
        )
    return proc.exitcode == 0


def _large_stage(stage: str, program_path: str, scale: float) -> None:
    """The body of one stage's process: times and reports its steps; exit 1 when stopped."""
    import pandas as pd

    from acm_helpers.core.config import load_program
    from acm_helpers.core.errors import AcmError
    from acm_helpers.demo import generate as demo
    from acm_helpers.intake import intake
    from acm_helpers.metrics import engine as metrics
    from acm_helpers.store.store import Store

    program = load_program(program_path)
    store = Store(program.data_dir)
    meter = PeakMemory()
    try:
        frame_file = Path(program_path).parent / "episodes-generated.parquet"
        if stage == "generate":
            got = meter.stage(
                lambda: demo.generate(program, scale=scale).to_parquet(frame_file) is None
            )
            _report("generate (+ Parquet)", got, f"written to {frame_file.name}")
        elif stage == "intake":
            # the frame as an adapter would hand it over: read from a file, in a fresh process
            # (it stays in memory through the stage, as a caller's frame does)
            episodes = pd.read_parquet(frame_file)
            n_rows = len(episodes)
            got = meter.stage(lambda: intake.load_canonical(store, program, episodes) is None)
            parts = sum(1 for _ in (store.tables_dir / "episodes_submitted").glob("*/*.parquet"))
            _report("intake (load_canonical)", got, f"{n_rows:,} episodes, {parts:,} partitions")
        else:
            got = meter.stage(lambda: len(metrics.refresh(program, store).metric_values))
            _report("metrics refresh", got, f"{got[0]:,} metric values")
    except AcmError as exc:
        print(f"STOPPED in {stage}: {type(exc).__name__}: {exc}", flush=True)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
