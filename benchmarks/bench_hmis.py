"""HMIS adapter on a 10x-replicated copy of the sample export (~48,000 enrollments).

Builds the copy from ``../shared/sample-data/hmis-demo/hmis_csv_fy2026_demo.zip``: Client,
Enrollment and Exit rows repeated 10 times with every person, enrollment, exit and household id
rewritten per copy (``<id>r<k>``), projects and organizations shared, zipped like a vendor
export. Then times, in the same process:

- baseline: ``pandas.read_csv`` of the same CSV files out of the zip (all text, no parsing);
- ``hmis.read_export`` (version detection, dates, dedup, deletions), ``hmis.to_episodes``
  (HUD mapping) and the load (``intake.load_canonical``: pandera schema, partitions, rebuild
  with the system-wide derived columns), i.e. ``hmis.intake_export`` end to end.

Prints seconds, enrollments/second and the ratio to the baseline.
Usage: ``python benchmarks/bench_hmis.py [COPIES]``.
"""

from __future__ import annotations

import io
import shutil
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from acm_helpers.core.config import load_program  # noqa: E402
from acm_helpers.hmis import export as hmis  # noqa: E402
from acm_helpers.intake import intake  # noqa: E402
from acm_helpers.store.store import Store  # noqa: E402

SAMPLE = ROOT.parent / "shared" / "sample-data" / "hmis-demo" / "hmis_csv_fy2026_demo.zip"
REPLICATED = ("Client", "Enrollment", "Exit")
ID_COLUMNS = ("PersonalID", "EnrollmentID", "ExitID", "HouseholdID")


def replicate(src: Path, dest: Path, copies: int) -> int:
    """Write a zip with Client/Enrollment/Exit repeated ``copies`` times under new ids."""
    n_enrollments = 0
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            name = Path(info.filename).stem
            if name in REPLICATED:
                frame = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
                parts = []
                for k in range(copies):
                    part = frame.copy()
                    for col in ID_COLUMNS:
                        if col in part:
                            part[col] = part[col].where(part[col] == "", part[col] + f"r{k}")
                    parts.append(part)
                big = pd.concat(parts, ignore_index=True)
                if name == "Enrollment":
                    n_enrollments = len(big)
                data = big.to_csv(index=False).encode("utf-8")
            zout.writestr(info.filename, data)
    return n_enrollments


def baseline_read(path: Path, names: list[str]) -> int:
    """Plain pandas: read the same CSV files out of the zip, every column as text."""
    rows = 0
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            if Path(info.filename).stem in names:
                rows += len(pd.read_csv(io.BytesIO(zf.read(info.filename)), dtype=str))
    return rows


def main(copies: int = 10) -> None:
    program = load_program(ROOT / "parameters" / "programs" / "hmis.yaml")
    work = Path(tempfile.mkdtemp(prefix="bench-hmis-"))
    try:
        big = work / "hmis_x10.zip"
        t = time.perf_counter()
        n = replicate(SAMPLE, big, copies)
        print(
            f"built {copies}x export: {n:,} enrollments, {big.stat().st_size / 2**20:.1f} MiB zip "
            f"in {time.perf_counter() - t:.1f} s"
        )
        names = list(hmis.REQUIRED_FILES + hmis.OPTIONAL_FILES)

        t = time.perf_counter()
        baseline_read(big, names)
        t_base = time.perf_counter() - t

        t = time.perf_counter()
        tables = hmis.read_export(big)
        t_read = time.perf_counter() - t
        t = time.perf_counter()
        episodes, report = hmis.to_episodes(tables, program)
        t_map = time.perf_counter() - t
        assert len(episodes) == n, report.excluded
        store = Store(work / "store")
        t = time.perf_counter()
        as_of = hmis.export_as_of(tables)
        frame = episodes.drop(columns="races").assign(_period=as_of.strftime("%Y-%m"))
        intake.load_canonical(store, program, frame, as_of=as_of)
        t_load = time.perf_counter() - t
        assert len(store.episodes()) == n

        store2 = Store(work / "store2")
        t = time.perf_counter()
        hmis.intake_export(big, program, store2)
        t_all = time.perf_counter() - t

        def line(label: str, secs: float) -> str:
            return f"{label:<44}: {secs:6.2f} s  {n / secs:10,.0f} enrollments/s  {secs / t_base:5.1f}x baseline"

        print(line("pandas.read_csv of the same files (baseline)", t_base))
        print(line("hmis.read_export", t_read))
        print(line("hmis.to_episodes", t_map))
        print(line("intake.load_canonical (schema, store, derive)", t_load))
        print(line("read + map + load (sum of the above)", t_read + t_map + t_load))
        print(line("hmis.intake_export end to end", t_all))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
