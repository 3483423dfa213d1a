"""CPU seconds of a provider packet's Python compute, per section (charts and client voice apart).

What it measures: for each provider of a store, ``packet.load`` and every section the dashboard
notebook calls (``notebooks/02_dashboard.ipynb``), as the batch worker's profile records them
(``core.stages``: a section's own compute, its charts' rendering recorded apart). The client-voice
part of the brief (``meetings.voice``: survey and frontline evaluation) is timed apart too and
taken out of the brief's figure, since it is moved into the store separately.

Between packets every ``functools`` cache of ``acm_helpers`` is cleared, as the warm kernel's
reset does (``batch.kernel_state``), so no packet profits from the one before. A first packet is
built and thrown away (imports, DuckDB start-up). Prints the mean CPU seconds per packet.

Usage (from a project folder with a demo store, e.g. after ``acm demo --period 2026-10``):
``python benchmarks/bench_packet.py [--program parameters/program.yaml] [--data-dir DIR]
[--period 2026-10] [--repeat 1]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import defaultdict
from contextlib import contextmanager

from acm_helpers.batch import kernel_state
from acm_helpers.core import stages
from acm_helpers.core.config import load_program
from acm_helpers.meetings import voice
from acm_helpers.packets import brief as brief_mod
from acm_helpers.packets import dashboard, packet

SECTIONS = [
    "header",
    "brief",
    "tiles",
    "what_changed",
    "trends",
    "sprints",
    "peers",
    "equity",
    "quality",
    "definitions",
    "footer",
]
VOICE = ("voice_points", "voice_section", "lessons_html")
_voice_cpu = [0.0]


@contextmanager
def voice_timed():
    """Time the client-voice calls the brief makes (taken out of the brief's figure)."""
    saved = {name: getattr(voice, name) for name in VOICE}

    def timed(fn):
        def inner(*args, **kwargs):
            c0 = time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                _voice_cpu[0] += time.process_time() - c0

        return inner

    for name, fn in saved.items():
        setattr(voice, name, timed(fn))
    try:
        yield
    finally:
        for name, fn in saved.items():
            setattr(voice, name, fn)


def clear_caches() -> None:
    """Every functools cache of the package, as the kernel reset clears them."""
    for name, mod in list(sys.modules.items()):
        if name.startswith("acm_helpers") and mod is not None:
            for v in list(vars(mod).values()):
                kernel_state._clear_caches(v)


def one_packet(program_path: str, data_dir: str, provider: str, period: str) -> dict[str, float]:
    """CPU seconds of one packet's load and sections (stage name -> seconds)."""
    clear_caches()
    stages.drain()
    _voice_cpu[0] = 0.0
    p = packet.load(program_path, data_dir, provider, period, "provider", "")
    records = []
    for name in SECTIONS:
        records += getattr(dashboard, name)(
            p
        ).stages  # the cell's records, the load's with the first
    out: dict[str, float] = defaultdict(float)
    for rec in records + stages.drain():
        key = "charts" if rec["stage"].startswith(stages.CHART) else rec["stage"]
        out[key] += rec["cpu"]
    out[stages.SECTION + "brief"] -= _voice_cpu[0]
    out["client voice (apart)"] = _voice_cpu[0]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--program", default="parameters/program.yaml")
    ap.add_argument("--data-dir", default="")
    ap.add_argument("--period", default="2026-10")
    ap.add_argument("--repeat", type=int, default=1)
    a = ap.parse_args()
    program = load_program(a.program)
    providers = program.provider_ids
    assert brief_mod.voice is voice  # the brief calls voice through the module
    with voice_timed():
        one_packet(a.program, a.data_dir, providers[0], a.period)  # warm-up
        totals: dict[str, float] = defaultdict(float)
        n = 0
        for _ in range(a.repeat):
            for pid in providers:
                for k, v in one_packet(a.program, a.data_dir, pid, a.period).items():
                    totals[k] += v
                n += 1
    print(f"{n} packets, load average {os.getloadavg()[0]:.2f}; mean CPU seconds per packet:")
    compute = 0.0
    for k, v in sorted(totals.items(), key=lambda kv: -kv[1]):
        print(f"  {k:28s} {v / n:7.3f}")
        if k not in ("charts", "client voice (apart)"):
            compute += v / n
    print(f"  {'= load + sections':28s} {compute:7.3f}")


if __name__ == "__main__":
    main()
