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


def main() -> None:  # pragma: no cover - console entry
    try:
        app()
    except AcmError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        sys.exit(2)
