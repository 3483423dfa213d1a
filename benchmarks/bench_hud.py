"""HUD reports (APR, SPM) for every project of a 10x-replicated copy of the sample export.

Builds the copy from ``../shared/sample-data/hmis-demo/hmis_csv_fy2026_demo.zip``: every file
keyed by a person or an enrollment (Client, Enrollment, Exit, Services, IncomeBenefits, ...) is
repeated ``COPIES`` times with its person, enrollment, household and own record ids rewritten
per copy (``<id>r<k>``); projects and organizations are shared. Then times, in one process at
normal priority:

- baseline: ``pandas.read_csv`` of the same CSV files out of the zip (all text, no parsing);
- ``hmis.read_export(files="all")`` (version checks, dates, dedup);
- the APR of each project (one ``apr_tables`` call per project, the export read once);
- the APR of all projects together (one CoC-wide universe);
- the SPM over all projects (system-wide, as HUD defines it).

Prints seconds and the ratio to the baseline, with the load average before and after.
Usage: ``python benchmarks/bench_hud.py [COPIES]``.
"""

from __future__ import annotations

import io
import os
import shutil
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from acm_helpers.core.errors import AcmError  # noqa: E402
from acm_helpers.hmis.export import read_export  # noqa: E402
from acm_helpers.hmis.hud_reports import apr_tables, spm_report  # noqa: E402

SAMPLE = ROOT.parent / "shared" / "sample-data" / "hmis-demo" / "hmis_csv_fy2026_demo.zip"
ID_COLUMNS = ("PersonalID", "EnrollmentID", "ExitID", "HouseholdID")
START, END = "2021-10-01", "2022-09-30"  # the sample's last federal fiscal year


def replicate(src: Path, dest: Path, copies: int) -> int:
    """Write a zip with every person/enrollment-keyed file repeated ``copies`` times under new ids."""
    n_enrollments = 0
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            frame = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
            keyed = [c for c in ID_COLUMNS if c in frame]
            if keyed:
                rewrite = list(dict.fromkeys([frame.columns[0], *keyed]))  # own key first
                parts = []
                for k in range(copies):
                    part = frame.copy()
                    for col in rewrite:
                        part[col] = part[col].where(part[col] == "", part[col] + f"r{k}")
                    parts.append(part)
                big = pd.concat(parts, ignore_index=True)
                if Path(info.filename).stem == "Enrollment":
                    n_enrollments = len(big)
                data = big.to_csv(index=False).encode("utf-8")
            zout.writestr(info.filename, data)
    return n_enrollments


def baseline_read(path: Path) -> int:
    """Plain pandas: read every CSV file out of the zip, every column as text."""
    rows = 0
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            rows += len(pd.read_csv(io.BytesIO(zf.read(info.filename)), dtype=str))
    return rows


def main(copies: int = 10) -> None:
    print(
        f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}, nice {os.nice(0)}"
    )
    work = Path(tempfile.mkdtemp(prefix="bench-hud-"))
    try:
        big = work / "hmis_x10.zip"
        n = replicate(SAMPLE, big, copies)
        print(f"{copies}x export: {n:,} enrollments, {big.stat().st_size / 2**20:.1f} MiB zip")

        t = time.perf_counter()
        baseline_read(big)
        t_base = time.perf_counter() - t

        t = time.perf_counter()
        tables = read_export(big, files="all")
        t_read = time.perf_counter() - t

        projects = sorted(tables["Project"]["ProjectID"].astype(str))
        t = time.perf_counter()
        reported = 0
        for pid in projects:
            try:
                apr_tables(tables, [pid], START, END)
                reported += 1
            except AcmError as exc:  # a project with nobody in the period: say so, go on
                print(f"  APR {pid}: {type(exc).__name__}: {str(exc)[:80]}")
        t_apr = time.perf_counter() - t

        t = time.perf_counter()
        q5a = apr_tables(tables, None, START, END)["Q5a"]
        t_apr_all = time.perf_counter() - t

        t = time.perf_counter()
        spm = spm_report(tables, None, START, END)
        t_spm = time.perf_counter() - t

        def line(label: str, secs: float) -> str:
            return f"{label:<52}: {secs:7.2f} s  {secs / t_base:6.1f}x baseline"

        print(line("pandas.read_csv of every file (baseline)", t_base))
        print(line("hmis.read_export(files='all')", t_read))
        print(line(f"APR per project ({reported} of {len(projects)} projects)", t_apr))
        print(line("APR, all projects in one report", t_apr_all))
        print(line(f"SPM, system-wide ({len(spm)} tables)", t_spm))
        print(line("read + every report", t_read + t_apr + t_apr_all + t_spm))
        print(f"Q5a total persons (all projects): {q5a.iloc[0, 1]}")
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
