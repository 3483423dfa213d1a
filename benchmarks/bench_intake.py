"""Intake of 1,000,000 episodes: validate + load + rebuild, next to a plain pandas.read_csv.

Writes a one-provider, one-month canonical CSV (numpy, seeded; ~1% of rows carry a problem so the
quarantine path runs too), then times in the same process:

- baseline: ``pandas.read_csv(path)`` (type inference only, no validation, nothing written);
- intake: ``intake.intake_file`` (sniff, hash, stream in chunks, parse types, pandera schema,
  quarantine, staged Parquet, raw copy, quality report, log) and ``rebuild_episodes`` (DuckDB
  consolidation + derived columns), i.e. everything up to a queryable ``episodes`` table.

Prints rows/second for each and the ratio. Usage: ``python benchmarks/bench_intake.py [ROWS]``.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from acm_helpers.core.config import load_program  # noqa: E402
from acm_helpers.intake import intake  # noqa: E402
from acm_helpers.store.store import Store  # noqa: E402

SEED = 20261023
BAD_SHARE = 0.01


def make_csv(path: Path, program, rows: int) -> None:
    """A canonical submission of ``rows`` episodes for one provider and October 2026."""
    rng = np.random.default_rng(SEED)
    day0 = np.datetime64("2025-01-01")
    enrol = day0 + rng.integers(0, 640, rows).astype("timedelta64[D]")
    referral = enrol - rng.integers(0, 60, rows).astype("timedelta64[D]")
    stay = rng.integers(1, 300, rows).astype("timedelta64[D]")
    exited = rng.random(rows) < 0.6
    exit_date = np.where(exited, enrol + stay, np.datetime64("NaT"))
    exit_date = np.where(exit_date > np.datetime64("2026-10-31"), np.datetime64("NaT"), exit_date)
    codes = np.array(list(program.destinations))
    dest = np.where(pd.notna(exit_date), rng.choice(codes, rows), "")
    race = rng.choice(np.array(program.codes["race_ethnicity"]), rows)
    gender = rng.choice(np.array(program.codes["gender"]), rows)
    ids = np.char.add("E", np.arange(rows).astype(str))
    frame = pd.DataFrame(
        {
            "episode_id": ids,
            "client_id": np.char.add("C", rng.integers(0, rows // 2, rows).astype(str)),
            "provider_id": "harbor",
            "program": "rapid_rehousing",
            "enrollment_date": pd.to_datetime(enrol).strftime("%Y-%m-%d"),
            "referral_date": pd.to_datetime(referral).strftime("%Y-%m-%d"),
            "exit_date": pd.Series(pd.to_datetime(exit_date)).dt.strftime("%Y-%m-%d"),
            "exit_destination": dest,
            "race_ethnicity": race,
            "gender": gender,
            "age_at_entry": rng.integers(18, 80, rows),
            "zip": rng.choice(["98101", "98104", "98118", "98122"], rows),
            "household_id": np.char.add("H", rng.integers(0, rows, rows).astype(str)),
            "cost": np.round(rng.uniform(100, 20000, rows), 2),
        }
    )
    bad = rng.random(rows) < BAD_SHARE
    frame.loc[bad, "enrollment_date"] = "not a date"
    frame.to_csv(path, index=False)


def main(rows: int = 1_000_000) -> None:
    program = load_program(ROOT / "parameters" / "program.yaml")
    work = Path(tempfile.mkdtemp(prefix="bench-intake-"))
    try:
        src = work / "in" / "2026-10" / "harbor.csv"
        src.parent.mkdir(parents=True)
        t = time.perf_counter()
        make_csv(src, program, rows)
        print(
            f"wrote {rows:,} rows ({src.stat().st_size / 2**20:,.0f} MiB) in {time.perf_counter() - t:.1f} s"
        )

        t = time.perf_counter()
        baseline = pd.read_csv(src)
        t_read = time.perf_counter() - t
        assert len(baseline) == rows
        del baseline

        store = Store(work / "store")
        t = time.perf_counter()
        r = intake.intake_file(src, program, store, received=date(2026, 11, 10), rebuild=False)
        t_load = time.perf_counter() - t
        t = time.perf_counter()
        intake.rebuild_episodes(store, program)
        t_rebuild = time.perf_counter() - t
        t_intake = t_load + t_rebuild
        assert r.status == "loaded", r.message
        n_eps = int(store.query("SELECT count(*) AS n FROM episodes")["n"].iloc[0])
        assert r.rows_accepted + r.rows_rejected == rows and n_eps == r.rows_accepted

        print(f"pandas.read_csv                : {t_read:6.2f} s  {rows / t_read:12,.0f} rows/s")
        print(
            f"intake: validate + load        : {t_load:6.2f} s  {rows / t_load:12,.0f} rows/s"
            f"  ({r.rows_accepted:,} loaded, {r.rows_rejected:,} quarantined)"
        )
        print(
            f"intake: rebuild episodes       : {t_rebuild:6.2f} s  (DuckDB consolidation + derived columns)"
        )
        print(
            f"intake: total                  : {t_intake:6.2f} s  {rows / t_intake:12,.0f} rows/s"
        )
        print(
            f"ratio intake total / read_csv  : {t_intake / t_read:.1f}x  (validate + load alone: {t_load / t_read:.1f}x)"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
