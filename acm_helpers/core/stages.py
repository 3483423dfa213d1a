"""Stage timings: the wall and CPU seconds of each step that builds a packet.

Why: a packet's cost is spread over two processes (the notebook's kernel computes the sections
and renders the charts; the batch worker exports HTML, writes the XLSX and audits). The kernel
side records its steps here (:func:`stage` around the data load and each chart, :func:`section`
on each section function); each section's :class:`~acm_helpers.packets.packet.Block` carries the
records of its cell to the host in the output's metadata, where the worker collects them into
the manifest (``acm run --profile`` prints them). Timing never changes what a packet shows.

Standard library only; the records are plain dicts (``{"stage", "wall", "cpu"}``), JSON-able.
CPU is the process's CPU time (every thread), so the JavaScript engine that renders the charts
is counted.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

METADATA_KEY = "acm_stages"  # the key in a cell output's metadata that carries the records
CHART = "chart: "
SECTION = "section: "
F = TypeVar("F", bound=Callable[..., Any])

_RECORDS: list[dict[str, Any]] = []  # this process's records not yet attached to a Block
_CURRENT: list[str] = []  # the section being built (names the charts rendered inside it)
_ELSEWHERE = [0.0]  # CPU seconds other processes spent for this one (charts drawn by the worker)


def add_cpu_elsewhere(seconds: float) -> None:
    """Count ``seconds`` of another process's CPU as this process's (a forked notebook's charts
    are drawn by its worker: :mod:`acm_helpers.batch.forked`), so each chart's stage keeps its
    real cost."""
    _ELSEWHERE[0] += seconds


def cpu_elsewhere() -> float:
    """The CPU seconds :func:`add_cpu_elsewhere` has counted in this process."""
    return _ELSEWHERE[0]


def _cpu() -> float:
    return time.process_time() + _ELSEWHERE[0]


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Record the wall and CPU seconds of the enclosed block as stage ``name``."""
    w0, c0 = time.perf_counter(), _cpu()
    try:
        yield
    finally:
        _RECORDS.append(
            {
                "stage": name,
                "wall": time.perf_counter() - w0,
                "cpu": _cpu() - c0,
            }
        )


def chart_stage(title: str) -> Any:
    """:func:`stage` for rendering one chart, named after the section it belongs to."""
    where = f"{_CURRENT[-1]} · " if _CURRENT else ""
    return stage(f"{CHART}{where}{title}")


def drain() -> list[dict[str, Any]]:
    """The records taken since the last drain (and forget them)."""
    out = list(_RECORDS)
    _RECORDS.clear()
    return out


def section(name: str) -> Callable[[F], F]:
    """Decorate a packet section: its run is recorded as ``section: <name>`` (its own compute,
    the charts rendered inside it are recorded one by one), and the records of the cell are
    attached to the returned block (``block.stages``)."""

    def wrap(fn: F) -> F:
        @functools.wraps(fn)
        def inner(*args: Any, **kwargs: Any) -> Any:
            if _CURRENT:  # a section called by another: part of the caller's compute
                return fn(*args, **kwargs)
            _CURRENT.append(name)
            mark = len(_RECORDS)
            try:
                with stage(SECTION + name):
                    block = fn(*args, **kwargs)
            finally:
                _CURRENT.pop()
            own = _RECORDS[-1]
            for rec in _RECORDS[mark:-1]:  # the charts rendered inside: not the section's compute
                if rec["stage"].startswith(CHART):
                    own["wall"] -= rec["wall"]
                    own["cpu"] -= rec["cpu"]
            if hasattr(block, "stages"):
                block.stages = drain()
            return block

        return inner  # type: ignore[return-value]

    return wrap


def collect(nb: Any) -> list[dict[str, Any]]:
    """Take the stage records out of an executed notebook's outputs (the exported HTML never
    carries them) and return them in cell order."""
    found: list[dict[str, Any]] = []
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []):
            meta = out.get("metadata") or {}
            for holder in (meta, meta.get("text/html") or {}):
                if isinstance(holder, dict) and METADATA_KEY in holder:
                    found.extend(holder.pop(METADATA_KEY))
            if isinstance(meta.get("text/html"), dict) and not meta["text/html"]:
                del meta["text/html"]
    return found
