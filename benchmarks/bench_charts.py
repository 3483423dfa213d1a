"""CPU seconds of a packet's charts (issue 17): the old rendering path against today's, in one script.

The charts are the ones a provider packet draws (the dashboard template's trends, peers, equity
and quality sections, built from a store), captured once; each repeat then renders all of them
the old way (altair's ``to_dict`` with the house theme, then ``vl_convert.vegalite_to_svg``) and
the current way (:func:`acm_helpers.views.charts.to_svg`), alternating so both see the same
machine load. It also splits the current path into its steps (spec building, Vega-Lite to Vega
compilation, Vega to SVG rendering) to show where the time goes, and checks that both paths give
the same Vega-Lite specs and the same SVG (element ids renumbered per chart, as the packet
renumbers them per page).

Usage: .venv/bin/python benchmarks/bench_charts.py --data-dir /tmp/demoA/out/data/homeless_demo
    [--program parameters/program.yaml] [--provider harbor] [--period 2026-10] [--repeat 3]
Prints CPU seconds (``time.process_time``: every thread of the process, vl-convert's included),
the median over the repeats, per chart and per packet, the ratio old / new, and the load average.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import altair as alt
import vl_convert as vlc

from acm_helpers.core import stages
from acm_helpers.packets import dashboard, packet
from acm_helpers.views import charts, svg_spec
from acm_helpers.views.svg_ids import renumber_svg_ids

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = ("trends", "peers", "equity", "quality")


def packet_charts(program: str, data_dir: str, provider: str, period: str) -> list:
    """The charts the packet's chart sections draw, in order (their HTML is thrown away)."""
    drawn: list = []

    def keep(chart) -> str:
        drawn.append(chart)
        return "<svg></svg>"

    render, charts.to_svg = charts.to_svg, keep
    try:
        p = packet.load(program, data_dir, provider, period, "provider", "")
        for section in SECTIONS:
            getattr(dashboard, section)(p)
    finally:
        charts.to_svg = render
        stages.drain()
    return drawn


def old_to_svg(chart) -> str:
    """The rendering path before issue 17 (main at 72786af)."""
    with alt.theme.enable(charts.THEME):
        spec = chart.to_dict(validate=False)
    return vlc.vegalite_to_svg(spec)


def cpu(fn, chart) -> tuple[float, str]:
    start = time.process_time()
    out = fn(chart)
    return time.process_time() - start, out


def steps(chart) -> dict[str, float]:
    """The current path's CPU seconds by step."""
    t0 = time.process_time()
    spec = svg_spec.spec(chart, charts.THEME)
    t1 = time.process_time()
    vega = vlc.vegalite_to_vega(spec)
    t2 = time.process_time()
    vlc.vega_to_svg(vega)
    t3 = time.process_time()
    return {"spec (altair)": t1 - t0, "VL -> Vega": t2 - t1, "Vega -> SVG": t3 - t2}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", required=True, help="a store built by `acm demo`")
    ap.add_argument("--program", default=str(ROOT / "parameters" / "program.yaml"))
    ap.add_argument("--provider", default="harbor")
    ap.add_argument("--period", default="2026-10")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    drawn = packet_charts(args.program, args.data_dir, args.provider, args.period)
    old_to_svg(drawn[0])  # vl-convert's engine started, as the warm kernel does
    print(f"{len(drawn)} charts, load average before {os.getloadavg()}")
    old_t: list[list[float]] = [[] for _ in drawn]
    new_t: list[list[float]] = [[] for _ in drawn]
    same = True
    for _ in range(args.repeat):
        for i, chart in enumerate(drawn):
            t_old, svg_old = cpu(old_to_svg, chart)
            t_new, svg_new = cpu(charts.to_svg, chart)
            old_t[i].append(t_old)
            new_t[i].append(t_new)
            same &= renumber_svg_ids(svg_old) == renumber_svg_ids(svg_new)
    print(f"{'chart':60s} {'old':>7s} {'new':>7s}")
    for chart, o, n in zip(drawn, old_t, new_t, strict=True):
        print(
            f"{charts.title_of(chart)[:60]:60s} {statistics.median(o):7.3f} {statistics.median(n):7.3f}"
        )
    old_sum = statistics.median(sum(r) for r in zip(*old_t, strict=True))
    new_sum = statistics.median(sum(r) for r in zip(*new_t, strict=True))
    print(
        f"{'packet (all charts), CPU s, median of ' + str(args.repeat):60s} {old_sum:7.3f} {new_sum:7.3f}"
    )
    with alt.theme.enable(charts.THEME):
        old_specs = [c.to_dict(validate=False) for c in drawn]
    same_spec = old_specs == [svg_spec.spec(c, charts.THEME) for c in drawn]
    print(f"ratio old / new: {old_sum / new_sum:.2f}; same SVG: {same}; same specs: {same_spec}")
    split: dict[str, float] = {}
    for chart in drawn:
        for k, v in steps(chart).items():
            split[k] = split.get(k, 0.0) + v
    print(
        "current path by step (one pass, CPU s): "
        + ", ".join(f"{k} {v:.3f}" for k, v in split.items())
    )
    print(f"load average after {os.getloadavg()}")


if __name__ == "__main__":
    main()
