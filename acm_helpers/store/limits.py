"""Memory and thread limits for the stages that hold a whole program: intake's rebuild of
``episodes``, the metrics refresh and the store's queries.

Why: a state-sized agency (1,000 providers, millions of episodes) runs on one shared machine.
DuckDB, left alone, takes 80% of the machine's memory and every core; pandas frames of every
episode can outgrow the memory left. So every DuckDB connection the store and the engine open
gets one memory limit, a thread count and a spill directory (:func:`duckdb_connect`), a stage
that would hold more episodes in memory than the limit allows stops before it starts
(:func:`check_fits`), and DuckDB running out of memory becomes a :class:`MemoryLimitError`
naming the limit and what to do (:func:`out_of_memory`), never a bare traceback or the kernel's
OOM killer.

Settings (environment, so cron, ``acm`` and the notebooks read the same ones):

- ``ACM_MEMORY_LIMIT``: e.g. ``8GB``, ``512MB``, ``24GiB``; default 60% of the machine's memory.
- ``ACM_THREADS``: DuckDB threads; default every core.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import duckdb

from acm_helpers.core.errors import MemoryLimitError

MEMORY_ENV = "ACM_MEMORY_LIMIT"
THREADS_ENV = "ACM_THREADS"
DEFAULT_SHARE = 0.6  # of the machine's memory, when ACM_MEMORY_LIMIT is unset
DUCKDB_SHARE = 0.5  # of the limit, for DuckDB's buffers: the pandas frames of a stage get the rest
# Peak bytes per row of the stages that hold a whole program in pandas at once, above what the
# process held before (``check_fits`` adds that). The episodes rebuild: measured 1,107 bytes per
# episode (11.30 GB peak, 10,066,619 episodes, 1,000 providers; the rebuild alone in a fresh
# process, 2026-12-04), so 1.2 KB keeps a small margin. The cells:
# benchmarks/bench_scale.py --large measured a refresh peak of 6.56 GB for 2,074,988 metric
# values (1,000 providers, 12 months, 2026-12-02) and 9.65 GB for 3,517,500 (10 million
# episodes, 2026-12-04); the raw cells the check counts are more than the values kept, so 3 KB
# per raw cell errs on the safe side. Recalibrate with that benchmark.
EPISODE_BYTES = 1_200
CELL_BYTES = 3_000
SPILL_DIR = ".duckdb-spill"  # under the data directory: DuckDB's temporary files
_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12}
_UNITS |= {"KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}


def parse_bytes(text: str) -> int:
    """``"8GB"`` -> 8_000_000_000 (KB/MB/GB/TB decimal, KiB/MiB/GiB/TiB binary, plain bytes).

    Raises:
        MemoryLimitError: text that is not a size, naming the setting.
    """
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*", str(text))
    unit = m.group(2).upper() if m else ""
    if not m or unit not in _UNITS or float(m.group(1)) <= 0:
        raise MemoryLimitError(
            f"{MEMORY_ENV}={text!r} is not a memory size. Give a number with a unit, e.g. "
            f"{MEMORY_ENV}=8GB or {MEMORY_ENV}=512MB."
        )
    return int(float(m.group(1)) * _UNITS[unit])


def human(n: float) -> str:
    """Bytes as the limit's messages print them (``7.5 GB``)."""
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n / 1e3:.0f} KB"


def memory_limit() -> tuple[int, str]:
    """The memory limit in bytes and where it comes from (for messages)."""
    text = os.environ.get(MEMORY_ENV, "").strip()
    if text:
        return parse_bytes(text), f"{MEMORY_ENV}={text}"
    import psutil

    total = psutil.virtual_memory().total
    return int(total * DEFAULT_SHARE), (
        f"the default, {DEFAULT_SHARE:.0%} of this machine's {human(total)} ({MEMORY_ENV} unset)"
    )


def threads() -> int:
    """DuckDB threads: ``ACM_THREADS`` or every core."""
    text = os.environ.get(THREADS_ENV, "").strip()
    if text:
        if not text.isdigit() or int(text) < 1:
            raise MemoryLimitError(
                f"{THREADS_ENV}={text!r} is not a thread count. Give a whole number >= 1, "
                f"e.g. {THREADS_ENV}=2."
            )
        return int(text)
    return os.cpu_count() or 1


def duckdb_bytes() -> tuple[int, str]:
    """DuckDB's share of the limit (at least 64 MiB, DuckDB's own floor) and how it is set."""
    limit, source = memory_limit()
    share = max(int(limit * DUCKDB_SHARE) // 2**20, 64) * 2**20
    return share, f"{DUCKDB_SHARE:.0%} of the limit of {human(limit)}, {source}"


def duckdb_connect(spill_root: str | Path | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection within the limits: memory, threads and, when
    ``spill_root`` (a data directory) is given, a spill directory under it, so a sort or join
    larger than memory goes to disk instead of failing."""
    config = {"memory_limit": f"{duckdb_bytes()[0] // 2**20}MiB"}
    config["threads"] = threads()
    if spill_root is not None:
        # DuckDB creates it only when it spills: a read-only data directory still opens
        config["temp_directory"] = str(Path(spill_root) / SPILL_DIR)
    con = duckdb.connect(config=config)
    # In a Jupyter kernel DuckDB shows a progress widget for any query that runs over 2 s (a
    # loaded machine is enough): it then landed in packets as a widget script. Never wanted.
    con.execute("SET enable_progress_bar = false")
    return con


def resident() -> int:
    """Bytes this process holds now (its resident set): what a stage's peak comes on top of.

    Memory that is free but kept for reuse is handed back first: Arrow's allocator (mimalloc)
    and the C library keep what a stage freed, and it counts in the resident set. After intake
    wrote 10 million episodes' partitions the process showed 6.1 GB, of which 0.3 GB was held
    (measured 2026-12-04): counted as held, it would stop a rebuild that fits.
    """
    import psutil
    import pyarrow as pa

    pa.default_memory_pool().release_unused()
    _trim_c_heap()
    return psutil.Process().memory_info().rss


def _trim_c_heap() -> None:
    """glibc's ``malloc_trim(0)``: return the C heap's free pages to the system (Linux only)."""
    import ctypes

    try:  # by its soname: ctypes.util.find_library would start ldconfig on every call
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc (macOS, musl): nothing to trim
        pass


def check_fits(need: float, what: str, todo: str = "") -> None:
    """Stop before ``what`` starts when it would need more than the memory limit.

    The estimate comes on top of what the process already holds (a caller's frames, an earlier
    stage's heap): at 10 million episodes that was 3 GB, enough to take a stage over the limit
    it had been checked against.

    Args:
        need: estimated peak bytes of the stage itself.
        what: the stage and its size, e.g. ``"rebuilding episodes (10,000,000 rows)"``.
        todo: what else the user can do, beyond raising the limit.

    Raises:
        MemoryLimitError: naming the stage, the estimate, what is held, the limit and its
            source, and the fix.
    """
    limit, source = memory_limit()
    held = resident()
    if need + held <= limit:
        return
    raise MemoryLimitError(
        f"{what} needs about {human(need)} of memory on top of the {human(held)} this process "
        f"holds, over the limit of {human(limit)} ({source}). Raise the limit "
        f"({MEMORY_ENV}=...GB) on a machine that has the memory"
        + (f", or {todo}" if todo else "")
        + "."
    )


def out_of_memory(exc: BaseException, what: str) -> MemoryLimitError:
    """DuckDB's out-of-memory error as a :class:`MemoryLimitError` naming the limit and the fix."""
    share, source = duckdb_bytes()
    first = str(exc).split("\n", 1)[0]
    return MemoryLimitError(
        f"{what} ran out of memory: DuckDB may use {human(share)} ({source}) and needed more "
        f"({first}). "
        f"Raise the limit ({MEMORY_ENV}=...GB) on a machine that has the memory, or lower "
        f"{THREADS_ENV} (each thread holds its own buffers)."
    )
