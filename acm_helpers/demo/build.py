"""The ``acm demo`` build: generate a demo program, write its submissions, and run every stage.

Why one call: a newcomer (and the tests) must see the whole cycle on realistic data, from the
files providers send to the packets: generate -> submissions -> intake -> metrics -> meetings ->
packets.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from acm_helpers.batch import run as batch
from acm_helpers.core.config import Program, load_program
from acm_helpers.core.errors import ConfigError
from acm_helpers.demo import generate as demo
from acm_helpers.demo.submissions import read_received, write_submissions
from acm_helpers.demo.voice import build_voice
from acm_helpers.intake import intake
from acm_helpers.meetings import actions, disputes
from acm_helpers.metrics import engine as metrics
from acm_helpers.store.store import Store

STEPS = ("intake", "metrics", "meetings", "packets")  # after "generate", always in this order


@dataclass
class DemoBuild:
    """What one demo build produced and which steps it ran."""

    program_id: str
    period: str
    submissions_dir: Path
    data_dir: Path
    episodes: int = 0
    files: list[Path] = field(default_factory=list)
    done: list[str] = field(default_factory=list)
    outputs: dict[str, Path] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)  # e.g. packets that were not produced


def build(
    program_path: str | Path,
    out_root: str | Path = ".",
    period: str | None = None,
    workers: int = 2,
    seed: int | None = None,
    scale: float = 1.0,
    data_dir: str | Path | None = None,
    echo: Callable[[str], None] = print,
    steps: tuple[str, ...] = STEPS,
) -> DemoBuild:
    """Generate a demo program and run every stage, as ``acm demo`` does.

    Why: one command must show the whole cycle on realistic data (submissions -> intake ->
    metrics -> meetings -> packets).

    Args:
        program_path: program file (its ``field`` picks the demo scenario).
        out_root: the folder everything is written under (``acm demo --out``; default: the
            working directory): submissions to ``<out_root>/demo/<program id>/submissions``,
            the store to the program's ``data_dir`` under it (unless ``data_dir`` is given),
            packets to ``<out_root>/outputs/<period>/``.
        period: month to load up to and build packets for (default: the program's last).
        workers: parallel packet builds (never more than the cores).
        seed: generator seed (default ``demo.DEFAULT_SEED``).
        scale: volume multiplier (1.0 is about 20,000 homelessness episodes).
        data_dir: the store (default: the program's ``data_dir``, relative to ``out_root``).
        echo: where progress lines go.
        steps: which of :data:`STEPS` to run after generating (tests stop after intake).
    """
    unknown = [s for s in steps if s not in STEPS]
    if unknown:
        raise ConfigError(f"Unknown demo step(s) {unknown}; known steps: {', '.join(STEPS)}.")
    program = load_program(program_path)
    period = program.check_period(period or program.last_period)
    seed = demo.DEFAULT_SEED if seed is None else seed
    out = Path(out_root).resolve()
    result = DemoBuild(
        program.id,
        period,
        out / "demo" / program.id / "submissions",
        Path(data_dir).resolve() if data_dir else program.data_path(out),
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
    if "intake" in steps:
        _run_intake(program, store, result, echo)
        loaded = build_voice(program, episodes, result.submissions_dir.parent, store, period, seed)
        if any(loaded.values()):
            echo(
                f"client voice: {loaded['survey']:,} survey responses, "
                f"{loaded['frontline']:,} frontline reports loaded"
            )
    if "metrics" in steps:
        metrics.refresh(program, store)
        result.done.append("metrics")
        echo(f"metrics computed into {store.tables_dir}")
    if "meetings" in steps:
        _load_meetings(Path(program_path), program, store, result, echo)
    if "packets" in steps:
        _run_packets(Path(program_path), store, period, workers, out / "outputs", result, echo)
    return _report(result, echo)


def _run_intake(program: Program, store, result: DemoBuild, echo: Callable[[str], None]) -> None:
    """Intake the submissions period by period up to the build's period, with received dates."""
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
        for res in intake.intake_files(paths, program, store, period=period, received=dates):
            totals["files"] += 1
            totals["accepted"] += res.rows_accepted
            totals["rejected"] += res.rows_rejected
            totals["files rejected"] += res.status == "rejected"
    result.done.append("intake")
    result.outputs["data dir"] = store.root
    echo(
        f"intake: {totals['files']} submissions {program.first_period} .. {result.period} into "
        f"{store.root}: {totals['accepted']:,} rows accepted, {totals['rejected']:,} quarantined, "
        f"{totals['files rejected']} files rejected"
    )


def _run_packets(
    program_path: Path,
    store,
    period: str,
    workers: int,
    out_root: Path,
    result: DemoBuild,
    echo: Callable[[str], None],
) -> None:
    """Build the period's packets into ``<out_root>/<period>/``; failures are named and kept
    in ``result.failed``."""
    run = batch.run_period(
        program_path, period, data_dir=store.root, out_root=out_root, workers=workers
    )
    for failure in run.failures:
        message = (failure.get("error") or {}).get("message", "")
        result.failed.append(f"packet {failure['key']}: {failure['status']}")
        echo(f"packet {failure['key']}: {failure['status']}: {message}")
    result.done.append("packets")
    if run.index is not None:
        result.outputs["packets index"] = Path(run.index)
    _run_meeting_types(program_path, store, period, out_root, result, echo)


def _run_meeting_types(
    program_path: Path,
    store,
    period: str,
    out_root: Path,
    result: DemoBuild,
    echo: Callable[[str], None],
) -> None:
    """Build the program's other meeting types (``meetings.types``: quarterly reviews and
    learning circles, weekly or biweekly check-ins) for their last period complete by the end
    of ``period``, so the demo shows every meeting of the cycle (issue 19)."""
    from acm_helpers.batch.meetings import run_meeting
    from acm_helpers.core.calendar import bounds_of, period_bounds

    program = load_program(program_path)
    last_day = period_bounds(period)[1]
    for meeting, kind in program.meetings.all_types().items():
        if kind.template == "checkin" and kind.cadence == "monthly":
            continue  # the monthly run above
        done = [p for p in program.meeting_periods(kind.cadence) if bounds_of(p)[1] <= last_day]
        if not done:
            continue
        res = run_meeting(program_path, meeting, done[-1], data_dir=store.root, out_root=out_root)
        for key, found in res.failures.items():
            result.failed.append(f"{meeting} {key}: not published")
            echo(f"{meeting} {done[-1]} {key}: not published: {'; '.join(found)}")
        echo(f"{meeting} {done[-1]}: {len(res.files)} output(s) in {res.period_dir}")
        if res.index is not None:
            result.outputs[f"{meeting} index"] = Path(res.index)


def _load_meetings(
    program_path: Path, program: Program, store, result: DemoBuild, echo: Callable[[str], None]
) -> None:
    """Record the program's demo meetings and action items (``meetings/<program id>.yaml``
    beside the program file), so the packets' agendas show open, overdue and closed items.
    Loading again changes nothing."""
    path = program_path.parent / "meetings" / f"{program.id}.yaml"
    if not path.exists():
        return
    counts = actions.load_file(store, program, path)
    result.done.append("meetings")
    echo(f"{path}: {counts['meetings']} meeting(s), {counts['items']} action item(s) recorded")
    disputes_path = program_path.parent / "payments" / f"{program.id}.yaml"
    if disputes_path.exists() and program.rate_cards:  # the demo's payment disputes
        n = disputes.load_disputes_file(store, program, disputes_path)
        echo(f"{disputes_path}: {n} payment dispute(s) recorded")


def _report(result: DemoBuild, echo: Callable[[str], None]) -> DemoBuild:
    echo(
        f"demo {result.program_id} as of {result.period}: done {', '.join(result.done)}"
        + (f"; FAILED {', '.join(result.failed)}" if result.failed else "")
    )
    echo(f"  submissions: {result.submissions_dir}")
    for label, path in result.outputs.items():
        echo(f"  {label}: {path}")
    return result
