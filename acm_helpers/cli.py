"""The ``acm`` command. Each subcommand is a thin wrapper over one module's public function.

Errors of our own (``AcmError``) are printed as a plain message with exit code 2; anything else
is a bug and keeps its traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from acm_helpers.exceptions import AcmError

app = typer.Typer(help="ACM Workbench: intake, metrics, packets and dashboards for Active Contract Management.",
                  no_args_is_help=True, pretty_exceptions_enable=False)

DEFAULT_PROGRAM = Path("parameters/program.yaml")
ProgramOpt = typer.Option(DEFAULT_PROGRAM, "--program", help="Program file (YAML).")
DataDirOpt = typer.Option(None, "--data-dir", help="Data directory (default: the program's data_dir).")


def fail(exc: AcmError) -> None:
    """Print an AcmError as a plain message and exit 2."""
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def open_program(program: Path, data_dir: Path | None):
    """Load the program file and open its store (relative data_dir is taken from the cwd)."""
    from acm_helpers.config import load_program
    from acm_helpers.store import Store

    prog = load_program(program)
    return prog, Store(data_dir or prog.data_path(Path.cwd()))


@app.callback()
def _root() -> None:
    """ACM Workbench command line."""


@app.command()
def version() -> None:
    """Print the package version."""
    from acm_helpers import __version__

    typer.echo(__version__)


@app.command()
def serve(
    port: int = typer.Option(8866, "--port", help="Port to listen on."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (default: this machine only)."),
    token: str | None = typer.Option(None, "--token", help="Require ?token=... on the URL."),
    program: list[Path] = typer.Option([DEFAULT_PROGRAM], "--program",
                                       help="Program file (YAML); repeat to offer several."),
    data_dir: Path | None = DataDirOpt,
    preheat: bool = typer.Option(True, "--preheat/--no-preheat",
                                 help="Keep kernels that have already loaded the data (faster first chart)."),
    pool_size: int = typer.Option(1, "--pool-size", help="Number of preheated kernels."),
) -> None:
    """Start the staff dashboard (Voila) on notebooks/05_explorer.ipynb."""
    from acm_helpers.serve import ServeSettings, check_inputs
    from acm_helpers.serve import serve as run_server

    try:
        settings = ServeSettings(programs=tuple(program), data_dir=data_dir, port=port, host=host,
                                 token=token, preheat=preheat, pool_size=pool_size)
        check_inputs(settings)
        typer.echo(f"ACM explorer: http://{host}:{port}/" + (f"?token={token}" if token else ""))
        run_server(settings)
    except AcmError as exc:
        fail(exc)


@app.command()
def demo(
    program: Path = ProgramOpt,
    period: str | None = typer.Option(None, "--period", help="Month to load up to and build packets for (default: the program's last)."),
    workers: int = typer.Option(2, "--workers", help="Parallel packet builds."),
    scale: float = typer.Option(1.0, "--scale", help="Volume multiplier (1.0: about 20,000 episodes)."),
    seed: int = typer.Option(20261023, "--seed", help="Generator seed (same seed, same data)."),
    out: Path = typer.Option(Path("demo"), "--out", help="Where the submission files go (<out>/<program id>/submissions)."),
    data_dir: Path | None = DataDirOpt,
) -> None:
    """Generate the demo program, write its submissions, and run every stage that exists."""
    from acm_helpers.demo import build

    try:
        build(program, out, period, workers, seed, scale, data_dir=data_dir, echo=typer.echo)
    except AcmError as exc:
        fail(exc)


@app.command()
def intake(
    paths: list[Path] = typer.Argument(..., help="Submission files, or folders of them (named YYYY-MM)."),
    period: str | None = typer.Option(None, "--period", help="YYYY-MM for every file (default: each file's folder name)."),
    program: Path = ProgramOpt,
    data_dir: Path | None = DataDirOpt,
    received: str | None = typer.Option(None, "--received", help="Date the files arrived, YYYY-MM-DD (default: today)."),
    fmt: str = typer.Option("csv", "--format", help="csv (CSV or XLSX templates) or hmis (HUD HMIS CSV export)."),
    max_bytes: int | None = typer.Option(None, "--max-bytes", help="Refuse larger files (default 2 GiB)."),
) -> None:
    """Validate and load provider submissions; bad rows are quarantined. Exit 1 if a file is rejected."""
    from acm_helpers import intake as intake_mod

    try:
        prog, store = open_program(program, data_dir)
        if fmt == "hmis":
            from acm_helpers import hmis

            results = []
            for path in paths:
                got = hmis.intake_export(path, prog, store, period=period, received=received)
                results += got if isinstance(got, list) else [got]
        elif fmt == "csv":
            results = intake_mod.intake_files(paths, prog, store, period=period, received=received,
                                              max_bytes=max_bytes or intake_mod.DEFAULT_MAX_BYTES)
        else:
            raise typer.BadParameter(f"--format {fmt!r}: use csv or hmis")
    except AcmError as exc:
        fail(exc)
    table = intake_mod.results_frame(results)
    typer.echo(table.drop(columns="message").to_string(index=False))
    for r in results:
        if r.message:
            typer.echo(f"{r.file}: {r.message}")
    typer.echo(f"store: {store.root}")
    if any(r.status == "rejected" for r in results):
        raise typer.Exit(1)


@app.command()
def quality(
    period: str = typer.Option(..., "--period", help="YYYY-MM."),
    provider: str | None = typer.Option(None, "--provider", help="One provider id (default: all)."),
    program: Path = ProgramOpt,
    data_dir: Path | None = DataDirOpt,
) -> None:
    """Print the data-quality report and quarantine summary of one period (and provider)."""
    from acm_helpers import intake as intake_mod

    try:
        prog, store = open_program(program, data_dir)
        prog.check_period(period)
        ids = [prog.provider(provider).id] if provider else prog.provider_ids
    except AcmError as exc:
        fail(exc)
    for pid in ids:
        report = intake_mod.quality_summary(store, pid, period)
        typer.echo(f"== {pid} {period}")
        if report.empty:
            typer.echo("  no submission loaded for this provider and period")
            continue
        shown = report[report["check"] != "completeness"][["check", "field", "value", "detail"]]
        typer.echo(shown.to_string(index=False))
        comp = report[report["check"] == "completeness"]
        typer.echo("completeness: " + ", ".join(f"{f} {v:.0%}" for f, v in zip(comp["field"], comp["value"], strict=True)))
    quarantine = intake_mod.quarantine_summary(store, provider, period)
    if not quarantine.empty:
        typer.echo("== quarantined rows")
        typer.echo(quarantine.to_string(index=False))


@app.command("hmis-program")
def hmis_program(
    export: Path = typer.Argument(..., help="HMIS CSV export: the zip, or the folder it was unzipped to."),
    out: Path = typer.Option(..., "--out", help="Program file to write, e.g. parameters/programs/hmis_<name>.yaml."),
    program_id: str | None = typer.Option(None, "--id", help="Program id (default: the file name)."),
    provider_level: str = typer.Option("organization", "--provider-level", help="organization or project."),
    name: str | None = typer.Option(None, "--name", help="Program display name."),
) -> None:
    """Write a program file from an HMIS export: its organizations (or projects) as providers, HUD metrics."""
    from acm_helpers.hmis_program import write_program

    try:
        path = write_program(export, out, program_id=program_id, provider_level=provider_level, name=name)
    except AcmError as exc:
        fail(exc)
    typer.echo(f"wrote {path}; next: acm intake --format hmis {export} --program {path}")


def main() -> None:  # pragma: no cover - console entry
    try:
        app()
    except AcmError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        sys.exit(2)
