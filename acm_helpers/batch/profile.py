"""The cost of a packet, stage by stage: what the worker records in the manifest
(``packets[].profile``) and what ``acm run --profile`` and ``benchmarks/bench_run.py`` print.

Stages of one packet, in the order they run:

- ``kernel reset``: returning the warm kernel to its warm-up state after the notebook (none for a
  forked notebook: its process simply ends);
- ``notebook overhead``: running the notebook minus the recorded stages inside it (papermill's
  parameter injection, nbclient's messages, IPython's display formatting);
- ``data load`` and ``section: <name>``: the notebook's own work (the engine's tables read and
  put in the audience's view; each section's compute, without its charts);
- ``chart: <section> · <title>``: one chart turned into SVG (spec, Vega compile, render);
- ``HTML export``, ``XLSX``, ``audit``, ``PDF``, ``publish``: the worker's steps after the notebook
  (with a warm kernel the XLSX appendix is written in the kernel, right after the notebook, from
  the packet it loaded: its record comes with the notebook's).

Why two clocks: the wall seconds say where a packet waited, the CPU seconds what it cost
(on a shared machine the CPU seconds are the steadier figure). CPU is counted in the process that
did the work: the kernel for the notebook's stages (and its part of the overhead, when the kernel
is warm and reports it), the worker for the rest.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from acm_helpers.core.stages import CHART

HOST_STAGES = ("notebook execution", "HTML export", "PDF", "XLSX", "audit", "publish")


def _rec(name: str, wall: float, cpu: float) -> dict[str, Any]:
    return {"stage": name, "wall": round(max(wall, 0.0), 4), "cpu": round(max(cpu, 0.0), 4)}


def packet_profile(
    host: Iterable[dict[str, Any]], kernel: Sequence[dict[str, Any]], reset: dict[str, Any]
) -> dict[str, Any]:
    """One packet's profile from the worker's records, the notebook's and the kernel's reset.

    Args:
        host: the worker's stage records for this packet (names in :data:`HOST_STAGES`; others,
            such as a data load nested inside the XLSX step, are part of their step already).
        kernel: the notebook's records (:func:`acm_helpers.core.stages.collect`).
        reset: the warm kernel's reset report (``reset_wall``, ``reset_cpu``, ``notebook_cpu``;
            empty for a fresh kernel), or a forked notebook's (``notebook_cpu``, with its charts,
            and ``lent_cpu``: the worker's CPU drawing those charts, already in the charts'
            stages, so not counted again in the worker's overhead).

    Returns:
        ``{"stages": [{"stage", "wall", "cpu"}, ...], "wall": total, "cpu": total}``.
    """
    host_by = {r["stage"]: r for r in host if r["stage"] in HOST_STAGES}
    out: list[dict[str, Any]] = []
    if reset.get("reset_wall") is not None:
        out.append(_rec("kernel reset", reset["reset_wall"], reset.get("reset_cpu") or 0.0))
    ex = host_by.get("notebook execution")
    if ex is not None:
        k_wall = sum(r["wall"] for r in kernel)
        k_cpu = sum(r["cpu"] for r in kernel)
        kernel_other = (reset.get("notebook_cpu") or k_cpu) - k_cpu
        reset_wall = reset.get("reset_wall") or 0.0  # the reset runs inside the execute call
        out.append(
            _rec(
                "notebook overhead",
                ex["wall"] - k_wall - reset_wall,
                ex["cpu"] - (reset.get("lent_cpu") or 0.0) + kernel_other,
            )
        )
    out += [_rec(r["stage"], r["wall"], r["cpu"]) for r in kernel]
    for name in HOST_STAGES[1:]:
        if name in host_by:
            out.append(_rec(name, host_by[name]["wall"], host_by[name]["cpu"]))
    return {
        "stages": out,
        "wall": round(sum(r["wall"] for r in out), 3),
        "cpu": round(sum(r["cpu"] for r in out), 3),
    }


def group_of(stage: str) -> str:
    """The row a stage is summed into in the compact table (every chart in one row)."""
    return "chart rendering (all charts)" if stage.startswith(CHART) else stage


def profile_table(packets: Sequence[dict[str, Any]], *, charts: bool = True) -> str:
    """A compact text table of a run's profile: per stage, the mean wall and CPU seconds per
    packet and the CPU seconds over the run; then each packet's totals.

    Args:
        packets: manifest entries (those without a ``profile``, e.g. skipped ones, are left out).
        charts: also list each chart (mean over the packets that drew it).
    """
    built = [p for p in packets if p.get("profile")]
    if not built:
        return "no packet was built in this run: nothing to profile"
    rows: dict[str, list[tuple[float, float]]] = defaultdict(list)
    per_chart: dict[str, list[tuple[float, float]]] = defaultdict(list)
    order: list[str] = []
    for p in built:
        grouped: dict[str, list[float]] = {}
        for r in p["profile"]["stages"]:
            g = group_of(r["stage"])
            acc = grouped.setdefault(g, [0.0, 0.0])
            acc[0] += r["wall"]
            acc[1] += r["cpu"]
            if g not in order:
                order.append(g)
            if r["stage"].startswith(CHART):
                per_chart[r["stage"][len(CHART) :]].append((r["wall"], r["cpu"]))
        for g, (w, c) in grouped.items():
            rows[g].append((w, c))
    n = len(built)
    width = min(max([len(g) for g in order] + [len(c) + 2 for c in per_chart]) + 2, 64)
    lines = [
        f"cost per packet, {n} packet{'s' if n != 1 else ''} (seconds; mean over the packets "
        "that have the stage)",
        f"{'stage':<{width}}{'packets':>8}{'wall':>9}{'CPU':>9}{'CPU, run':>10}",
    ]

    def line(name: str, vals: list[tuple[float, float]], indent: str = "") -> str:
        k = len(vals)
        w = sum(v[0] for v in vals) / k
        c = sum(v[1] for v in vals) / k
        total = sum(v[1] for v in vals)
        return f"{indent + name:<{width}.{width - 1}}{k:>8}{w:>9.3f}{c:>9.3f}{total:>10.2f}"

    for g in order:
        lines.append(line(g, rows[g]))
        if charts and g.startswith("chart rendering"):
            lines += [line(name, vals, "  ") for name, vals in per_chart.items()]
    wall = [p["profile"]["wall"] for p in built]
    cpu = [p["profile"]["cpu"] for p in built]
    lines.append(
        f"{'total per packet':<{width}}{n:>8}{sum(wall) / n:>9.3f}{sum(cpu) / n:>9.3f}"
        f"{sum(cpu):>10.2f}"
    )
    lines.append(
        "per packet: "
        + ", ".join(
            f"{p['key']} {p['profile']['cpu']:.2f} s CPU / {p['profile']['wall']:.2f} s wall"
            for p in built
        )
    )
    return "\n".join(lines)


def run_table(manifest: Any) -> str:
    """The run's own steps (before the packets) and the packets' wall time, in one line each."""
    prof = getattr(manifest, "profile", None) or {}
    lines = ["run steps (seconds):"]
    for r in prof.get("run", []):
        lines.append(f"  {r['stage']:<20}{r['wall']:>9.3f} wall{r['cpu']:>9.3f} CPU")
    lines.append(
        f"  {'packets':<20}{prof.get('packets_wall', manifest.seconds):>9.3f} wall "
        f"({manifest.workers} worker{'s' if manifest.workers != 1 else ''})"
    )
    return "\n".join(lines)
