"""Demo submissions on disk: each provider's monthly files, as providers would send them.

Why files at all: intake must be shown working on what providers really send, monthly files in
several formats, encodings and qualities, not on a clean frame.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from acm_helpers.core.calendar import period_bounds
from acm_helpers.core.config import Program
from acm_helpers.core.errors import AcmError

RECEIVED_FILE = "received.csv"
LATIN1_SITES = ("Café Beacon Hill", "Casa Peña Family Center", "Georgetown Hall")
EXIT_FIELDS = ["exit_date", "exit_destination", "destination_class"]


def write_submissions(episodes: pd.DataFrame, program: Program, out_dir: str | Path) -> list[Path]:
    """Write each provider's monthly submission files, as providers would send them.

    Each month's file holds every episode open at any time during that month (plus, for
    programs with a 12-month follow-up outcome, closed cases still in follow-up) with its state
    as of the month's end: exit fields blank when the exit came later, cost and months of
    service to the month's end, follow-up outcomes blank until known. Formats follow the
    program's demo scenario (UTF-8 CSV by default; latin-1 with semicolons, UTF-8 with BOM, or
    XLSX for some providers). The falling-quality provider's later files carry garbage rows.
    ``out_dir/received.csv`` records when each file arrived (late for that provider later on).

    Args:
        episodes: frame from :func:`acm_helpers.demo.generate.generate` (needs ``_period``).
        program: the program the episodes belong to.
        out_dir: written as ``out_dir/<YYYY-MM>/<provider>.<csv|xlsx>``.

    Returns:
        The submission files, in period then provider order.
    """
    from acm_helpers.demo.generate import DEFAULT_SEED, scenario_for

    if "_period" not in episodes:
        raise AcmError("write_submissions needs the `_period` column of demo.generate's frame.")
    if episodes.empty:
        raise AcmError(f"No episodes to write for program {program.id}; run demo.generate first.")
    scen = scenario_for(program)
    out_dir = Path(out_dir)
    full_days = _days(episodes, pd.Timestamp(period_bounds(program.last_period)[1]))
    rate = episodes["cost"] / full_days
    paths, log = [], []
    for i, period in enumerate(program.periods()):
        start, end = (pd.Timestamp(d) for d in period_bounds(period))
        rows = episodes[(episodes["enrollment_date"] <= end) & (episodes["_period"] >= period)]
        month = _as_of(rows, rate[rows.index], end, period)
        rng = np.random.default_rng([DEFAULT_SEED, i])
        for provider in program.provider_ids:
            sub = month[month["provider_id"] == provider]
            if sub.empty:
                continue
            ext, encoding, sep = scen.formats.get(provider, ("csv", "utf-8", ","))
            if provider == scen.garbage_provider and i >= scen.garbage_from:
                sub = _with_garbage(_as_text(sub), rng, i)
            path = out_dir / period / f"{provider}.{ext}"
            path.parent.mkdir(parents=True, exist_ok=True)
            if ext == "xlsx":
                _write_xlsx(sub, path)
            else:
                text = _as_text(sub)
                if encoding == "latin-1":
                    text.insert(
                        len(text.columns),
                        "site_name",
                        [LATIN1_SITES[int(h[1:]) % len(LATIN1_SITES)] for h in sub["household_id"]],
                    )
                text.to_csv(path, index=False, sep=sep, encoding=encoding)
            paths.append(path)
            late = provider == scen.late_provider and i >= scen.late_from
            lag = (
                int(rng.integers(25, 41))
                if late
                else int(rng.integers(3, program.submission_due_days + 1))
            )
            log.append(
                {
                    "period": period,
                    "provider_id": provider,
                    "file": f"{period}/{path.name}",
                    "received": (end + pd.Timedelta(days=lag)).date().isoformat(),
                    "due": (end + pd.Timedelta(days=program.submission_due_days))
                    .date()
                    .isoformat(),
                    "late": late,
                }
            )
    pd.DataFrame(log).to_csv(out_dir / RECEIVED_FILE, index=False)
    return paths


def _days(frame: pd.DataFrame, until: pd.Timestamp) -> pd.Series:
    end = frame["exit_date"].where(frame["exit_date"] <= until, until).fillna(until)
    return (end - frame["enrollment_date"]).dt.days.clip(lower=1)


def _as_of(rows: pd.DataFrame, rate: pd.Series, end: pd.Timestamp, period: str) -> pd.DataFrame:
    """The rows as the provider knew them at the end of ``period``."""
    out = rows.copy()
    later = out["exit_date"] > end
    for col in EXIT_FIELDS:
        out[col] = out[col].mask(later)
    out["move_in_date"] = out["move_in_date"].mask(out["move_in_date"] > end)
    days = _days(out, end)
    out["cost"] = (rate * days).round(2)
    if "months_of_service" in out:
        out["months_of_service"] = (days / 30.44).round(1)
    if "attended_first_day" in out:  # reported once the first day of training has come
        ahead = out["training_start_date"] > end
        out["attended_first_day"] = out["attended_first_day"].mask(ahead)
        out["training_start_date"] = out["training_start_date"].mask(ahead)
    if "subsequent_involvement_12m" in out:
        out["subsequent_involvement_12m"] = out["subsequent_involvement_12m"].mask(
            out["_period"] > period
        )
    return out.drop(columns="_period")


def _as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Every column as text, dates as YYYY-MM-DD, blanks as empty strings."""
    out = pd.DataFrame(index=frame.index)
    for col in frame.columns:
        s = frame[col]
        if pd.api.types.is_datetime64_any_dtype(s):
            out[col] = s.dt.strftime("%Y-%m-%d")
        else:
            out[col] = s.astype("string")
    return out.fillna("")


def _with_garbage(text: pd.DataFrame, rng: np.random.Generator, i: int) -> pd.DataFrame:
    """Insert 3-6 rows intake must quarantine (bad dates, unknown codes, missing ids)."""
    base = text.iloc[0].to_dict()
    bad = [
        {"enrollment_date": "2026-02-30"},
        {"race_ethnicity": "Purple"},
        {"exit_destination": "999", "exit_date": base["enrollment_date"], "destination_class": ""},
        {"enrollment_date": "not a date"},
        {"client_id": ""},
        {"exit_date": "2020-01-01", "exit_destination": "410", "destination_class": "permanent"},
    ]
    pick = rng.choice(len(bad), size=int(rng.integers(3, 7)), replace=False)
    junk = []
    for k, j in enumerate(sorted(pick)):
        row = dict(base, **bad[j])
        row["episode_id"] = f"{base['episode_id'][:3]}-X{i:02d}{k}"
        junk.append(row)
    junk_frame = pd.DataFrame(junk, columns=text.columns)
    at = np.sort(rng.choice(len(text) + 1, size=len(junk), replace=True))
    parts, prev = [], 0
    for pos, (_, row) in zip(at, junk_frame.iterrows(), strict=True):
        parts += [text.iloc[prev:pos], row.to_frame().T]
        prev = pos
    parts.append(text.iloc[prev:])
    return pd.concat(parts, ignore_index=True)


def _write_xlsx(frame: pd.DataFrame, path: Path) -> None:
    """An Excel submission with real date cells, as a provider's spreadsheet would have."""
    out = frame.copy()
    for col in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[col]):
            out[col] = out[col].astype(object).where(out[col].notna(), None)
        else:
            out[col] = out[col].astype(object).where(out[col].notna(), None)
    out.to_excel(path, index=False, sheet_name="episodes", engine="xlsxwriter")


def read_received(out_dir: str | Path) -> pd.DataFrame:
    """The received log written next to the submissions (period, provider_id, file, received)."""
    path = Path(out_dir) / RECEIVED_FILE
    if not path.exists():
        raise AcmError(
            f"{path} not found; write the submissions first (submissions.write_submissions)."
        )
    return pd.read_csv(path, dtype=str)
