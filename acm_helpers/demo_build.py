"""Demo submissions on disk and the ``acm demo`` build (split from :mod:`acm_helpers.demo`,
which generates the episodes; use ``demo.write_submissions`` and ``demo.build``).

Why files at all: intake must be shown working on what providers really send, monthly files in
several formats, encodings and qualities, not on a clean frame.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from acm_helpers.config import Program, load_program, period_bounds
from acm_helpers.exceptions import AcmError

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
        episodes: frame from :func:`acm_helpers.demo.generate` (needs ``_period``).
        program: the program the episodes belong to.
        out_dir: written as ``out_dir/<YYYY-MM>/<provider>.<csv|xlsx>``.

    Returns:
        The submission files, in period then provider order.
    """
    from acm_helpers.demo import DEFAULT_SEED, scenario_for

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
        raise AcmError(f"{path} not found; write the submissions first (demo.write_submissions).")
    return pd.read_csv(path, dtype=str)


# -- the `acm demo` build -------------------------------------------------------------------
@dataclass
class DemoBuild:
    """What one demo build produced and which steps it ran or skipped (and why)."""

    program_id: str
    period: str
    submissions_dir: Path
    data_dir: Path
    episodes: int = 0
    files: list[Path] = field(default_factory=list)
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    outputs: dict[str, Path] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)  # e.g. packets that were not produced


def _stage(name: str):
    """The module ``acm_helpers.<name>`` when it exists yet, else None (the step is skipped)."""
    if importlib.util.find_spec(f"acm_helpers.{name}") is None:
        return None
    return importlib.import_module(f"acm_helpers.{name}")


def _need(module, func: str):
    if not hasattr(module, func):
        raise AcmError(
            f"{module.__name__} has no {func}(); the demo build cannot run that step. "
            "Update acm_helpers or run the steps by hand (acm intake / acm run)."
        )
    return getattr(module, func)


def build(
    program_path: str | Path,
    out_root: str | Path = "demo",
    period: str | None = None,
    workers: int = 2,
    seed: int | None = None,
    scale: float = 1.0,
    data_dir: str | Path | None = None,
    echo: Callable[[str], None] = print,
) -> DemoBuild:
    """Generate a demo program and run every stage that exists so far, as ``acm demo`` does.

    Why: one command must show the whole cycle on realistic data (submissions -> intake ->
    metrics -> packets) and keep working while stages are still being added; a stage whose
    module does not exist yet is skipped and named.

    Args:
        program_path: program file (its ``field`` picks the demo scenario).
        out_root: submissions go to ``<out_root>/<program id>/submissions``.
        period: month to load up to and build packets for (default: the program's last).
        workers: parallel packet builds (never more than the cores).
        seed: generator seed (default ``demo.DEFAULT_SEED``).
        scale: volume multiplier (1.0 is about 20,000 homelessness episodes).
        data_dir: the store (default: the program's ``data_dir``, relative to the cwd).
        echo: where progress lines go.
    """
    from acm_helpers import demo
    from acm_helpers.store import Store

    program = load_program(program_path)
    period = program.check_period(period or program.last_period)
    seed = demo.DEFAULT_SEED if seed is None else seed
    result = DemoBuild(
        program.id,
        period,
        Path(out_root) / program.id / "submissions",
        Path(data_dir) if data_dir else program.data_path(Path.cwd()),
    )
    episodes = demo.generate(program, seed=seed, scale=scale)
    result.episodes = len(episodes)
    result.files = write_submissions(episodes, program, result.submissions_dir)
    result.done.append("generate")
    echo(
        f"generated {len(episodes):,} episodes of {program.id}; "
        f"{len(result.files)} submission files in {result.submissions_dir}"
    )
    store = Store(result.data_dir)
    if not _run_intake(program, store, result, echo):
        return _skip_rest(result, ["metrics", "packets"], "no intake", echo)
    metrics = _stage("metrics")
    if metrics is None:
        return _skip_rest(
            result, ["metrics", "packets"], "acm_helpers.metrics does not exist yet", echo
        )
    _need(metrics, "refresh")(program, store)
    result.done.append("metrics")
    echo(f"metrics computed into {store.tables_dir}")
    _load_meetings(Path(program_path), program, store, result, echo)
    batch = _stage("batch")
    if batch is None:
        return _skip_rest(result, ["packets"], "acm_helpers.batch does not exist yet", echo)
    _run_packets(batch, Path(program_path), store, period, workers, result, echo)
    return _report(result, echo)


def _run_intake(program: Program, store, result: DemoBuild, echo: Callable[[str], None]) -> bool:
    """Intake the submissions period by period up to the build's period, with received dates."""
    intake = _stage("intake")
    if intake is None:
        result.skipped.append("intake")
        echo("skipped intake: acm_helpers.intake does not exist yet")
        return False
    intake_files = _need(intake, "intake_files")
    received = read_received(result.submissions_dir)
    totals = {"files": 0, "accepted": 0, "rejected": 0, "files rejected": 0}
    for period in program.periods():
        if period > result.period:
            break
        rows = received[received["period"] == period]
        paths = [result.submissions_dir / f for f in rows["file"]]
        dates = {
            str(p): pd.Timestamp(d).date() for p, d in zip(paths, rows["received"], strict=True)
        }
        for res in intake_files(paths, program, store, period=period, received=dates) or []:
            totals["files"] += 1
            totals["accepted"] += getattr(res, "rows_accepted", 0)
            totals["rejected"] += getattr(res, "rows_rejected", 0)
            totals["files rejected"] += getattr(res, "status", "") == "rejected"
    result.done.append("intake")
    result.outputs["data dir"] = store.root
    echo(
        f"intake: {totals['files']} submissions {program.first_period} .. {result.period} into "
        f"{store.root}: {totals['accepted']:,} rows accepted, {totals['rejected']:,} quarantined, "
        f"{totals['files rejected']} files rejected"
    )
    return True


def _run_packets(
    batch,
    program_path: Path,
    store,
    period: str,
    workers: int,
    result: DemoBuild,
    echo: Callable[[str], None],
) -> None:
    """Build the period's packets; failures are named and kept in ``result.failed``."""
    run_period = _need(batch, "run_period")
    run = run_period(
        program_path, period, data_dir=store.root, out_root=Path.cwd() / "outputs", workers=workers
    )
    for failure in run.failures:
        message = (failure.get("error") or {}).get("message", "")
        result.failed.append(f"packet {failure['key']}: {failure['status']}")
        echo(f"packet {failure['key']}: {failure['status']}: {message}")
    result.done.append("packets")
    if run.index is not None:
        result.outputs["packets index"] = Path(run.index)


def _load_meetings(
    program_path: Path, program: Program, store, result: DemoBuild, echo: Callable[[str], None]
) -> None:
    """Record the program's demo meetings and action items (``meetings/<program id>.yaml``
    beside the program file), so the packets' agendas show open, overdue and closed items.
    Loading again changes nothing."""
    path = program_path.parent / "meetings" / f"{program.id}.yaml"
    actions = _stage("actions")
    if actions is None or not path.exists():
        return
    counts = _need(actions, "load_file")(store, program, path)
    result.done.append("meetings")
    echo(f"{path}: {counts['meetings']} meeting(s), {counts['items']} action item(s) recorded")


def _skip_rest(
    result: DemoBuild, steps: list[str], why: str, echo: Callable[[str], None]
) -> DemoBuild:
    for step in steps:
        result.skipped.append(step)
        echo(f"skipped {step}: {why}")
    return _report(result, echo)


def _report(result: DemoBuild, echo: Callable[[str], None]) -> DemoBuild:
    echo(
        f"demo {result.program_id} as of {result.period}: done {', '.join(result.done)}"
        + (f"; skipped {', '.join(result.skipped)}" if result.skipped else "")
        + (f"; FAILED {', '.join(result.failed)}" if result.failed else "")
    )
    echo(f"  submissions: {result.submissions_dir}")
    for label, path in result.outputs.items():
        echo(f"  {label}: {path}")
    return result
