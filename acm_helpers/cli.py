"""The ``acm`` command. Each subcommand is a thin wrapper over one module's public function.

Errors of our own (``AcmError``) are printed as a plain message with exit code 2; anything else
is a bug and keeps its traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from acm_helpers.core.errors import AcmError, ConfigError

app = typer.Typer(
    help="ACM Workbench: intake, metrics, packets and dashboards for Active Contract Management.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

ProgramOpt = typer.Option(
    None,
    "--program",
    help="Program file (YAML). Default: parameters/program.yaml, else the shipped demo program.",
)
DataDirOpt = typer.Option(
    None, "--data-dir", help="Data directory (default: the program's data_dir)."
)


def fail(exc: AcmError) -> None:
    """Print an AcmError as a plain message and exit 2."""
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def open_program(program: Path | None, data_dir: Path | None):
    """Load the program file and open its store, by the one path rule
    (:func:`acm_helpers.store.store.open_store`, docs/admin/install.md "Paths")."""
    from acm_helpers.store.store import open_store

    return open_store(program, data_dir)


def version_text() -> str:
    """The package version and the metrics engine's method hash (what a number was computed
    with: the same program file and data give the same numbers under the same method)."""
    from acm_helpers import __version__
    from acm_helpers.metrics.definitions import method_hash

    return f"acm-workbench {__version__} (method {method_hash()})"


def _print_version(value: bool) -> None:
    if value:
        typer.echo(version_text())
        raise typer.Exit()


@app.callback()
def _root(
    show_version: bool = typer.Option(
        False,
        "--version",
        callback=_print_version,
        is_eager=True,
        help="Print the package version and the method hash, and exit.",
    ),
) -> None:
    """ACM Workbench command line."""


@app.command()
def version() -> None:
    """Print the package version and the method hash (as `acm --version`)."""
    typer.echo(version_text())


@app.command()
def serve(
    port: int = typer.Option(8866, "--port", help="Port to listen on."),
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Address to bind (default: this machine only)."
    ),
    token: str | None = typer.Option(
        None, "--token", help="Require ?token=... on the URL (default: a new random token)."
    ),
    no_token: bool = typer.Option(
        False, "--no-token", help="Serve without a token (anyone who can reach the port)."
    ),
    program: list[Path] = typer.Option(
        [],
        "--program",
        help="Program file (YAML); repeat to offer several. Default: parameters/program.yaml, "
        "else the shipped demo program.",
    ),
    data_dir: Path | None = DataDirOpt,
    preheat: bool = typer.Option(
        True,
        "--preheat/--no-preheat",
        help="Keep kernels that have already loaded the data (faster first chart).",
    ),
    pool_size: int = typer.Option(1, "--pool-size", help="Number of preheated kernels."),
    fork_kernels: bool = typer.Option(
        True,
        "--fork-kernels/--no-fork-kernels",
        help="Start each kernel as a fork of one process that has imported the dashboard's "
        "libraries (a fraction of a second, memory shared); --no-fork-kernels: a new process each.",
    ),
    preview: bool = typer.Option(
        True,
        "--preview/--no-preview",
        help="Show a still picture of the provider's first view while the page loads "
        "(drawn once per state of the store, at low priority).",
    ),
    jupyterhub: bool = typer.Option(
        False,
        "--jupyterhub",
        help="Run as a user's JupyterHub server: the hub's login instead of a token, address "
        "and URL prefix from the hub (deploy/jupyterhub/jupyterhub_config.py starts this).",
    ),
    max_kernels: int = typer.Option(
        16, "--max-kernels", help="Pages served at once; past it a 'busy, retry' page (0: no cap)."
    ),
    page_timeout: int = typer.Option(
        60, "--page-timeout", help="Seconds after its page closes that a kernel is shut down."
    ),
    connect_timeout: int = typer.Option(
        120, "--connect-timeout", help="Seconds a page may take to connect to its kernel."
    ),
    idle_timeout: int = typer.Option(
        30, "--idle-timeout", help="Minutes an open but unused page keeps its kernel."
    ),
    cull_interval: int = typer.Option(
        10, "--cull-interval", help="Seconds between checks for kernels to shut down."
    ),
) -> None:
    """Start the staff dashboard (Voila) on the explorer notebook (notebooks/05_explorer.ipynb)."""
    from acm_helpers.explorer.serve import ServeSettings, check_inputs, new_token
    from acm_helpers.explorer.serve import serve as run_server
    from acm_helpers.store.store import find_program

    if token and no_token:
        fail(ConfigError("Give --token or --no-token, not both."))
    token = None if no_token else (token or new_token())
    try:
        settings = ServeSettings(
            programs=tuple(find_program(p)[0] for p in program or [None]),
            data_dir=data_dir,
            port=port,
            host=host,
            token=token,
            preheat=preheat,
            pool_size=pool_size,
            fork_kernels=fork_kernels,
            preview=preview,
            max_kernels=max_kernels,
            page_timeout=page_timeout,
            connect_timeout=connect_timeout,
            cull_idle_timeout=idle_timeout * 60,
            cull_interval=cull_interval,
        )
        if jupyterhub:  # the hub's address and login; the inputs are checked in serve()
            from acm_helpers.explorer.hub import serve_behind_hub

            return serve_behind_hub(settings)
        check_inputs(settings)
        typer.echo(f"ACM explorer: http://{host}:{port}/" + (f"?token={token}" if token else ""))
        sys.stdout.flush()  # the address (with its token) before Voilà's own log lines
        run_server(settings)
    except AcmError as exc:
        fail(exc)


@app.command()
def demo(
    program: Path | None = ProgramOpt,
    period: str | None = typer.Option(
        None,
        "--period",
        help="Month to load up to and build packets for (default: the program's last).",
    ),
    workers: int = typer.Option(2, "--workers", help="Parallel packet builds."),
    scale: float = typer.Option(
        1.0, "--scale", help="Volume multiplier (1.0: about 20,000 episodes)."
    ),
    seed: int = typer.Option(20261023, "--seed", help="Generator seed (same seed, same data)."),
    out: Path | None = typer.Option(
        None,
        "--out",
        help="Folder everything is written under: demo/<program id>/submissions, the store "
        "(the program's data_dir) and outputs/<period> (default: the project folder).",
    ),
    data_dir: Path | None = DataDirOpt,
) -> None:
    """Generate the demo program, write its submissions, and run every stage that exists."""
    from acm_helpers.demo.build import build
    from acm_helpers.store.store import find_program

    try:
        program_path, project = find_program(program)
        result = build(
            program_path,
            out or project,
            period,
            workers,
            seed,
            scale,
            data_dir=data_dir,
            echo=typer.echo,
        )
    except AcmError as exc:
        fail(exc)
    if result.failed:  # like `acm run`: one failure does not stop the others, but is not hidden
        raise typer.Exit(1)


@app.command()
def intake(
    paths: list[Path] = typer.Argument(
        ..., help="Submission files, or folders of them (named YYYY-MM)."
    ),
    period: str | None = typer.Option(
        None, "--period", help="YYYY-MM for every file (default: each file's folder name)."
    ),
    program: Path | None = ProgramOpt,
    data_dir: Path | None = DataDirOpt,
    received: str | None = typer.Option(
        None, "--received", help="Date the files arrived, YYYY-MM-DD (default: today)."
    ),
    fmt: str = typer.Option(
        "csv", "--format", help="csv (CSV or XLSX templates) or hmis (HUD HMIS CSV export)."
    ),
    max_bytes: int | None = typer.Option(
        None, "--max-bytes", help="Refuse larger files (default 2 GiB)."
    ),
    assume_version: str | None = typer.Option(
        None,
        "--assume-version",
        help="HMIS only: read the export as this CSV version (2022, 2024 or 2026) whatever "
        "Export.csv's CSVVersion says.",
    ),
    allow_fewer_rows: bool = typer.Option(
        False,
        "--allow-fewer-rows",
        help="HMIS only: load even if a file has fewer records than the export loaded before "
        "(refused by default: a file cut at a line break looks complete).",
    ),
    race_method: str = typer.Option(
        "single",
        "--race-method",
        help="HMIS only: single (one category per person, several -> Multiracial) or multi (also "
        "writes table episode_races: each person in every category selected, as HUD's Q12).",
    ),
    encoding: str | None = typer.Option(
        None,
        "--encoding",
        help="Text encoding of the CSV files when not UTF-8, e.g. cp1252 (never guessed).",
    ),
    kind: str = typer.Option(
        "episodes",
        "--kind",
        help="episodes (service episodes), survey (client survey responses) or frontline "
        "(frontline caseworkers' reports); docs: manager/voice.md.",
    ),
) -> None:
    """Validate and load provider submissions; bad rows are quarantined. Exit 1 if a file is rejected."""
    from acm_helpers.intake import intake as intake_mod

    try:
        prog, store = open_program(program, data_dir)
        if kind != "episodes":
            from acm_helpers.core.errors import IntakeError
            from acm_helpers.intake import voice as voice_intake

            voice_intake.kind_of(kind)
            results = []
            for path in intake_mod._expand(paths, period):
                try:
                    results.append(
                        voice_intake.intake_voice_file(path, prog, store, kind, period, received)
                    )
                except IntakeError as exc:  # refused (logged, kept): the other files still load
                    results.append(
                        intake_mod.SubmissionResult(path.name, "rejected", message=str(exc))
                    )
        elif fmt == "hmis":
            from acm_helpers.core.errors import HmisError
            from acm_helpers.hmis import export as hmis

            results = []
            for path in paths:
                try:
                    got = hmis.intake_export(
                        path,
                        prog,
                        store,
                        period=period,
                        received=received,
                        assume_version=assume_version,
                        allow_fewer_rows=allow_fewer_rows,
                        race_method=race_method,
                    )
                except HmisError as exc:  # refused (logged, kept): the other exports still load
                    got = [
                        intake_mod.SubmissionResult(Path(path).name, "rejected", message=str(exc))
                    ]
                results += got if isinstance(got, list) else [got]
        elif fmt == "csv":
            results = intake_mod.intake_files(
                paths,
                prog,
                store,
                period=period,
                received=received,
                max_bytes=max_bytes or intake_mod.DEFAULT_MAX_BYTES,
                encoding=encoding,
            )
        else:
            raise typer.BadParameter(f"--format {fmt!r}: use csv or hmis")
        if race_method != "single" and fmt != "hmis":
            raise typer.BadParameter("--race-method applies to --format hmis only")
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
    program: Path | None = ProgramOpt,
    data_dir: Path | None = DataDirOpt,
) -> None:
    """Print the data-quality report and quarantine summary of one period (and provider)."""
    from acm_helpers.store import quality as store_quality

    try:
        prog, store = open_program(program, data_dir)
        prog.check_period(period)
        ids = [prog.provider(provider).id] if provider else prog.provider_ids
    except AcmError as exc:
        fail(exc)
    for pid in ids:
        report = store_quality.quality_summary(store, pid, period)
        typer.echo(f"== {pid} {period}")
        if report.empty:
            typer.echo("  no submission loaded for this provider and period")
            continue
        shown = report[report["check"] != "completeness"][["check", "field", "value", "detail"]]
        typer.echo(shown.to_string(index=False))
        comp = report[report["check"] == "completeness"]
        typer.echo(
            "completeness: "
            + ", ".join(f"{f} {v:.0%}" for f, v in zip(comp["field"], comp["value"], strict=True))
        )
    quarantine = store_quality.quarantine_summary(store, provider, period)
    if not quarantine.empty:
        typer.echo("== quarantined rows")
        typer.echo(quarantine.to_string(index=False))
    found = store_quality.hmis_findings(store, period, provider)
    if not found.empty:
        typer.echo("== HMIS export findings (record ids; provider '' = the whole export)")
        for f in found.itertuples():
            where = ".".join(x for x in (f.table, f.field) if x) + (
                f" code {f.code}" if f.code else ""
            )
            typer.echo(
                f"{f.provider_id or '(export)'}: {f.kind}: {where}: {f.rows:,} rows ({f.detail})"
            )
            if f.ids:
                typer.echo(f"    {f.id_field}: {f.ids}")


@app.command("metrics")
def metrics_cmd(
    program: Path | None = ProgramOpt,
    data_dir: Path | None = DataDirOpt,
    force: bool = typer.Option(False, "--force", help="Recompute even when inputs are unchanged."),
) -> None:
    """Compute metric_values and equity (skipped when episodes and definitions are unchanged).

    Episodes behind the committed submissions (an interrupted intake) are rebuilt first."""
    from acm_helpers.intake import intake as intake_mod
    from acm_helpers.metrics import engine as metrics_mod

    try:
        prog, store = open_program(program, data_dir)
        repaired = intake_mod.repair_episodes(store, prog)
        result = metrics_mod.refresh(prog, store, force=force)
    except AcmError as exc:
        fail(exc)
    if repaired:
        typer.echo(f"repaired: {intake_mod.REPAIRED}.")
    typer.echo(metrics_mod.summary(result))


@app.command("hmis-program")
def hmis_program(
    export: Path = typer.Argument(
        ..., help="HMIS CSV export: the zip, or the folder it was unzipped to."
    ),
    out: Path = typer.Option(
        ..., "--out", help="Program file to write, e.g. parameters/programs/hmis_<name>.yaml."
    ),
    program_id: str | None = typer.Option(
        None, "--id", help="Program id (default: the file name)."
    ),
    provider_level: str = typer.Option(
        "organization", "--provider-level", help="organization or project."
    ),
    name: str | None = typer.Option(None, "--name", help="Program display name."),
) -> None:
    """Write a program file from an HMIS export: its organizations (or projects) as providers, HUD metrics."""
    from acm_helpers.hmis.program_file import write_program

    try:
        path = write_program(
            export, out, program_id=program_id, provider_level=provider_level, name=name
        )
    except AcmError as exc:
        fail(exc)
    typer.echo(f"wrote {path}; next: acm intake --format hmis {export} --program {path}")


# -- meeting cycle: action items and the end-of-contract report (owner: meeting-cycle helper) --
action_app = typer.Typer(
    help="Meetings and action items: add, close, list, load from YAML/CSV.", no_args_is_help=True
)
app.add_typer(action_app, name="action")


def _day(text: str | None, what: str):
    """Parse YYYY-MM-DD or fail with a plain message."""
    from datetime import date

    from acm_helpers.core.errors import ActionError

    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ActionError(f"{what} {text!r} is not a date; write YYYY-MM-DD.") from None


@action_app.command("add")
def action_add(
    provider: str = typer.Option(..., "--provider", help="Provider id."),
    owner: str = typer.Option(..., "--owner", help="Who does it."),
    due: str = typer.Option(..., "--due", help="Due date, YYYY-MM-DD."),
    text: str = typer.Option(..., "--text", help="What is to be done."),
    metric: str | None = typer.Option(None, "--metric", help="Linked metric id."),
    meeting_date: str | None = typer.Option(
        None, "--meeting-date", help="Meeting that agreed it (default: today)."
    ),
    program: Path | None = ProgramOpt,
    data_dir: Path | None = DataDirOpt,
) -> None:
    """Record an action item agreed at a meeting; it appears on every later agenda until closed."""
    from acm_helpers.meetings import actions

    try:
        prog, store = open_program(program, data_dir)
        row = actions.add_action(
            store,
            prog,
            provider,
            owner,
            _day(due, "--due"),
            text,
            metric,
            _day(meeting_date, "--meeting-date"),
        )
    except AcmError as exc:
        fail(exc)
    typer.echo(f"added {row['item_id']} ({provider}, due {row['due_date']:%Y-%m-%d})")


@action_app.command("close")
def action_close(
    item_id: str = typer.Argument(..., help="Item id, e.g. harbor-003."),
    on: str | None = typer.Option(None, "--on", help="Date closed, YYYY-MM-DD (default: today)."),
    resolution: str = typer.Option("", "--resolution", help="What was done."),
    program: Path | None = ProgramOpt,
    data_dir: Path | None = DataDirOpt,
) -> None:
    """Close an action item; it drops off the agendas of meetings after that date."""
    from acm_helpers.meetings import actions

    try:
        _, store = open_program(program, data_dir)
        row = actions.close_action(store, item_id, _day(on, "--on"), resolution)
    except AcmError as exc:
        fail(exc)
    typer.echo(f"closed {row['item_id']} on {row['closed_date']:%Y-%m-%d}")


@action_app.command("list")
def action_list(
    provider: str | None = typer.Option(None, "--provider", help="One provider id (default: all)."),
    status: str = typer.Option("open", "--status", help="open (on --as-of), closed or all."),
    as_of: str | None = typer.Option(
        None, "--as-of", help="YYYY-MM-DD for 'open' (default: today)."
    ),
    program: Path | None = ProgramOpt,
    data_dir: Path | None = DataDirOpt,
) -> None:
    """List action items; open ones show OVERDUE when past due."""
    from acm_helpers.meetings import actions

    try:
        prog, store = open_program(program, data_dir)
        if provider:
            prog.provider(provider)
        items = actions.list_actions(store, provider, status, _day(as_of, "--as-of"))
    except AcmError as exc:
        fail(exc)
    if items.empty:
        typer.echo(f"no {status} action items")
        return
    for r in items.itertuples():
        flag = f"OVERDUE {r.days_overdue}d" if getattr(r, "overdue", False) else r.status
        typer.echo(f"{r.item_id:<16} {flag:<12} due {r.due_date:%Y-%m-%d}  {r.owner}: {r.text}")


@action_app.command("load")
def action_load(
    path: Path = typer.Argument(..., help="Meetings file (.yaml/.yml or .csv)."),
    program: Path | None = ProgramOpt,
    data_dir: Path | None = DataDirOpt,
) -> None:
    """Record the meetings and action items of a YAML or CSV file (loading it again changes nothing)."""
    from acm_helpers.meetings import actions

    try:
        prog, store = open_program(program, data_dir)
        counts = actions.load_file(store, prog, path)
    except AcmError as exc:
        fail(exc)
    typer.echo(
        f"{path}: {counts['meetings']} meeting(s), {counts['items']} item(s), {counts['new_items']} new"
    )


payment_app = typer.Typer(
    help="Outcome payments: statements, disputes and the INDIGO export.", no_args_is_help=True
)
app.add_typer(payment_app, name="payment")


@payment_app.command("statement")
def payment_statement(
    period: str = typer.Option(..., "--period", help="Month, YYYY-MM."),
    out: Path | None = typer.Option(
        None, "--out", help="Output folder (default: outputs/<period>/payments)."
    ),
    program: Path | None = ProgramOpt,
    data_dir: Path | None = DataDirOpt,
) -> None:
    """Write the month's payment statements: internal HTML, each provider's statement, the
    invoice XLSX and the INDIGO-shaped JSON."""
    from acm_helpers.packets import payments as pay_out

    try:
        prog, store = open_program(program, data_dir)
        prog.check_period(period)
        files = pay_out.write_statements(
            prog, store, period, out or Path("outputs") / period / "payments"
        )
    except AcmError as exc:
        fail(exc)
    for what, path in files.items():
        typer.echo(f"{what:<10} {path}")


@payment_app.command("dispute")
def payment_dispute(
    provider: str = typer.Option(..., "--provider", help="Provider id."),
    period: str = typer.Option(..., "--period", help="Statement month disputed, YYYY-MM."),
    outcome: str = typer.Option(..., "--outcome", help="Rate card outcome id, e.g. ph_exit."),
    kind: str = typer.Option(
        ..., "--kind", help="challenge (counted outcomes questioned) or claim (more claimed)."
    ),
    items: int = typer.Option(..., "--items", help="How many outcomes are disputed."),
    reason: str = typer.Option(..., "--reason", help="What is disputed and why."),
    raised_by: str = typer.Option("", "--raised-by", help="Who raised it."),
    on: str | None = typer.Option(None, "--on", help="Date raised, YYYY-MM-DD (default: today)."),
    program: Path | None = ProgramOpt,
    data_dir: Path | None = DataDirOpt,
) -> None:
    """Record a dispute on a payment statement; its items are held until it is resolved."""
    from acm_helpers.meetings import disputes

    try:
        prog, store = open_program(program, data_dir)
        row = disputes.record_dispute(
            store, prog, provider_id=provider, period=period, outcome_id=outcome, kind=kind,
            items=items, reason=reason, raised_by=raised_by, raised_on=_day(on, "--on"),
        )  # fmt: skip
    except AcmError as exc:
        fail(exc)
    typer.echo(f"recorded {row['dispute_id']} ({provider} {period}, {kind} of {items} {outcome})")


@payment_app.command("resolve")
def payment_resolve(
    dispute_id: str = typer.Argument(..., help="Dispute id, e.g. harbor-D001."),
    decision: str = typer.Option(..., "--decision", help="upheld or rejected."),
    items: int | None = typer.Option(
        None, "--items", help="Upheld: how many of the items are accepted (default: all)."
    ),
    resolution: str = typer.Option("", "--resolution", help="The decision's reason."),
    on: str | None = typer.Option(None, "--on", help="Date resolved, YYYY-MM-DD (default: today)."),
    program: Path | None = ProgramOpt,
    data_dir: Path | None = DataDirOpt,
) -> None:
    """Resolve a dispute; the disputed month's statement is restated with the decision."""
    from acm_helpers.meetings import disputes

    try:
        _, store = open_program(program, data_dir)
        row = disputes.record_resolution(
            store, dispute_id, decision=decision, resolution=resolution, items=items,
            resolved_on=_day(on, "--on"),
        )  # fmt: skip
    except AcmError as exc:
        fail(exc)
    typer.echo(
        f"{row['dispute_id']} {row['status']} ({row['resolved_items']} of {row['items']} accepted)"
    )


@payment_app.command("load")
def payment_load(
    path: Path = typer.Argument(..., help="Disputes file (YAML), e.g. parameters/payments/x.yaml."),
    program: Path | None = ProgramOpt,
    data_dir: Path | None = DataDirOpt,
) -> None:
    """Record the disputes of a YAML file (loading it again changes nothing)."""
    from acm_helpers.meetings import disputes

    try:
        prog, store = open_program(program, data_dir)
        n = disputes.load_disputes_file(store, prog, path)
    except AcmError as exc:
        fail(exc)
    typer.echo(f"{path}: {n} dispute(s) recorded")


@payment_app.command("disputes")
def payment_disputes(
    program: Path | None = ProgramOpt,
    data_dir: Path | None = DataDirOpt,
) -> None:
    """List every recorded dispute with its status."""
    from acm_helpers.meetings import disputes

    try:
        _, store = open_program(program, data_dir)
        rows = disputes.read_disputes(store)
    except AcmError as exc:
        fail(exc)
    if rows.empty:
        typer.echo("no disputes recorded")
    for r in rows.itertuples():
        typer.echo(
            f"{r.dispute_id:<14} {r.status:<9} {r.period} {r.outcome_id} {r.kind} {r.items}: {r.reason}"
        )


@app.command("procurement")
def procurement_cmd(
    period: str | None = typer.Option(
        None, "--period", help="Last month of the term (default: the program's last)."
    ),
    out: Path | None = typer.Option(
        None, "--out", help="Output folder (default: outputs/procurement/<period>)."
    ),
    pdf: bool = typer.Option(True, "--pdf/--no-pdf", help="Also print a PDF with Chromium."),
    program: Path | None = ProgramOpt,
    data_dir: Path | None = DataDirOpt,
) -> None:
    """Write the procurement comparison (internal): every provider side by side over the term."""
    from acm_helpers.packets import procurement

    try:
        prog, store = open_program(program, data_dir)
        per = prog.check_period(period or prog.last_period)
        files = procurement.write_comparison(
            prog, store, per, out or Path("outputs") / "procurement" / per, pdf=pdf
        )
    except AcmError as exc:
        fail(exc)
    for what, path in files.items():
        typer.echo(f"{what:<5} {path}")


lesson_app = typer.Typer(help="Lessons learned: add, list.", no_args_is_help=True)
app.add_typer(lesson_app, name="lesson")
comment_app = typer.Typer(
    help="Free-text comments: clear one for the provider's packet.", no_args_is_help=True
)
app.add_typer(comment_app, name="comment")


@lesson_app.command("add")
def lesson_add(
    text: str = typer.Argument(..., help="What was learned."),
    provider: str | None = typer.Option(
        None, "--provider", help="Provider id (default: program-wide)."
    ),
    on: str | None = typer.Option(None, "--on", help="Date, YYYY-MM-DD (default: today)."),
    metric: str | None = typer.Option(None, "--metric", help="Linked metric id."),
    program: Path | None = ProgramOpt,
    data_dir: Path | None = DataDirOpt,
) -> None:
    """Record a lesson learned; it appears on every later agenda and in the contract report."""
    from acm_helpers.meetings import voice

    try:
        prog, store = open_program(program, data_dir)
        row = voice.add_lesson(store, prog, text, provider, _day(on, "--on"), metric, "acm lesson")
    except AcmError as exc:
        fail(exc)
    typer.echo(f"added {row['lesson_id']} ({provider or 'program-wide'})")


@lesson_app.command("list")
def lesson_list(
    provider: str | None = typer.Option(None, "--provider", help="One provider id (default: all)."),
    program: Path | None = ProgramOpt,
    data_dir: Path | None = DataDirOpt,
) -> None:
    """List the lessons learned (a provider's list includes the program-wide ones)."""
    from acm_helpers.meetings import voice

    try:
        prog, store = open_program(program, data_dir)
        lessons = voice.read_lessons(store)
        if provider:
            prog.provider(provider)
            lessons = lessons[lessons["provider_id"].isin([provider, ""])]
    except AcmError as exc:
        fail(exc)
    if lessons.empty:
        typer.echo("no lessons recorded")
    for r in lessons.itertuples():
        typer.echo(f"{r.lesson_id:<20} {r.date:%Y-%m-%d} {r.provider_id or 'program':<10} {r.text}")


@comment_app.command("clear")
def comment_clear(
    ids: list[str] = typer.Argument(..., help="response_id (survey) or report_id (frontline)."),
    provider: str = typer.Option(..., "--provider", help="Provider id."),
    kind: str = typer.Option("survey", "--kind", help="survey or frontline."),
    by: str = typer.Option(..., "--by", help="Who cleared it (the analyst)."),
    on: str | None = typer.Option(None, "--on", help="Date, YYYY-MM-DD (default: today)."),
    program: Path | None = ProgramOpt,
    data_dir: Path | None = DataDirOpt,
) -> None:
    """Clear comments for the provider's packet; uncleared free text is shown to no provider."""
    from acm_helpers.meetings import voice

    try:
        prog, store = open_program(program, data_dir)
        n = voice.clear_comments(store, prog, kind, provider, ids, by, _day(on, "--on"))
    except AcmError as exc:
        fail(exc)
    typer.echo(f"{n} {kind} comment(s) cleared for {provider}")


@app.command()
def report(
    provider: str | None = typer.Option(None, "--provider", help="Provider id."),
    contract: str | None = typer.Option(
        None, "--contract", help="Contract id (instead of --provider)."
    ),
    program: Path | None = ProgramOpt,
    data_dir: Path | None = DataDirOpt,
    out: Path | None = typer.Option(
        None, "--out", help="Output folder (default: outputs/contracts/<contract id>)."
    ),
    audience: str = typer.Option(
        "internal", "--audience", help="internal or provider (suppressed, peers anonymized)."
    ),
    narrative: Path | None = typer.Option(
        None, "--narrative", help="Markdown file with the manager's narrative."
    ),
    through: str | None = typer.Option(
        None, "--through", help="YYYY-MM: draft before the term ends."
    ),
    recommendation: str = typer.Option(
        "",
        "--recommendation",
        help="renew, renew_with_conditions or re-procure (empty: a form line to fill in).",
    ),
    conditions: str = typer.Option("", "--conditions", help="The conditions of a renewal."),
    pdf: bool = typer.Option(True, "--pdf/--no-pdf", help="Also print a PDF with Chromium."),
) -> None:
    """Write the end-of-contract report (HTML and PDF, offline) for one provider or contract."""
    from acm_helpers.packets import contract as contract_mod
    from acm_helpers.store.store import resolve_paths

    if audience not in ("internal", "provider"):
        raise typer.BadParameter(f"--audience {audience!r}: use internal or provider")
    try:
        program_path, _, store_dir = resolve_paths(program, data_dir)
        result = contract_mod.render_report(
            program_path,
            provider=provider,
            contract=contract,
            data_dir=store_dir,
            out_dir=out,
            audience=audience,
            narrative_path=narrative,
            through=through,
            recommendation=recommendation,
            conditions=conditions,
            pdf=pdf,
        )
    except AcmError as exc:
        fail(exc)
    typer.echo(f"wrote {result.html}" + (f" and {result.pdf}" if result.pdf else ""))


@app.command("portfolio")
def portfolio_cmd(
    period: str = typer.Option(..., "--period", help="YYYY-MM: the month the triage judges."),
    program: Path | None = ProgramOpt,
    data_dir: Path | None = DataDirOpt,
    csv: Path | None = typer.Option(None, "--csv", help="Also write the ranked list as CSV."),
) -> None:
    """Portfolio triage: every contract scored by the program file's rule, its tier and
    cadence, why it moved since three months earlier, the sprints and next quarter's rotation."""
    from acm_helpers.meetings import sprints, triage_review

    try:
        prog, store = open_program(program, data_dir)
        review = triage_review.quarter_review(prog, store, period)
        results = sprints.sprint_results(prog, store, period)
        plan = sprints.rotation_plan(prog, review, period)
    except AcmError as exc:
        fail(exc)
    typer.echo(triage_review.review_text(prog, review))
    if len(results):
        typer.echo("\nSprints:")
        for r in results.itertuples():
            typer.echo(f"  {r.title} ({r.status}): {r.sentence}")
    typer.echo(f"\nProposed sprints for {plan.attrs['quarter_name']}:")
    for r in plan.itertuples():
        typer.echo(f"  {r.provider}: {r.why}")
    if plan.empty:
        typer.echo("  none (no sprint slots, or every provider is resting after a sprint)")
    if csv is not None:
        cols = [
            "rank",
            "provider_id",
            "provider",
            "contract_id",
            "score",
            "tier_label",
            "cadence",
            "previous_tier",
            "previous_score",
            "move",
            "why",
            "rule",
        ]
        review[cols].to_csv(csv, index=False)
        typer.echo(f"\nwrote {csv}")


@app.command("run")
def run_cmd(
    period: str = typer.Option(
        ...,
        "--period",
        help="Period to build: YYYY-MM (monthly), YYYY-Qn (quarterly), YYYY-Www (weekly) or "
        "YYYY-Www-ww (biweekly), as the meeting type's cadence says.",
    ),
    meeting: str | None = typer.Option(
        None,
        "--meeting",
        help="Meeting type from the program file's meetings.types (e.g. learning_circle, "
        "internal_review); default: the monthly provider packets.",
    ),
    providers: str | None = typer.Option(
        None, "--providers", help="Comma-separated provider ids (default: all)."
    ),
    workers: int | None = typer.Option(
        None, "--workers", help="Worker processes (default and maximum: the cores)."
    ),
    audience: str = typer.Option(
        "provider", "--audience", help="provider (peers anonymized, leak-checked) or internal."
    ),
    pdf: bool = typer.Option(
        True, "--pdf/--no-pdf", help="Also print each packet to PDF with Chromium."
    ),
    force: bool = typer.Option(
        False, "--force", help="Rebuild packets whose inputs did not change."
    ),
    kernel: str = typer.Option(
        "fork",
        "--kernel",
        help="fork (each notebook in a fork of one warm process), warm (one Jupyter kernel per "
        "worker, reset between notebooks) or fresh (a new kernel per notebook).",
    ),
    program: Path | None = ProgramOpt,
    data_dir: Path | None = DataDirOpt,
    out: Path = typer.Option(Path("outputs"), "--out", help="Packets go to <out>/<period>/."),
    cluster: str | None = typer.Option(
        None,
        "--cluster",
        envvar="ACM_CLUSTER",
        help="Run the notebooks on a Dask cluster, tcp://HOST:PORT "
        "(paths on shared storage; docs/admin/scaling.md).",
    ),
    profile: bool = typer.Option(
        False,
        "--profile",
        help="Print each packet's cost by stage (kernel reset, data load, sections, charts, "
        "HTML, audit, XLSX, PDF), wall and CPU seconds; the figures are in manifest.json.",
    ),
) -> None:
    """Build every provider's packet (HTML, PDF, XLSX) and the internal system packet for a month."""
    import functools

    from acm_helpers.batch.run import run_period

    if cluster:
        from acm_helpers.batch.cluster import run_period_on_cluster

        run_period = functools.partial(run_period_on_cluster, cluster)

    if kernel not in ("fork", "warm", "fresh"):
        fail(AcmError(f"--kernel {kernel!r}: use fork, warm or fresh."))
    from acm_helpers.core.calendar import PERIOD_RE

    if meeting is None and not PERIOD_RE.match(period):
        fail(
            AcmError(
                f"--period {period!r} is not a month; the monthly run takes YYYY-MM. For a "
                "quarterly, weekly or biweekly meeting add --meeting TYPE (the program file's "
                "meetings.types, e.g. --meeting learning_circle --period 2026-Q3)."
            )
        )
    if meeting is not None:
        _run_meeting(
            meeting, period, program, data_dir, out, providers, workers, pdf, force, kernel
        )
        return
    try:
        result = run_period(
            program,
            period,
            data_dir=data_dir,
            out_root=out,
            workers=workers,
            audience=audience,
            pdf=pdf,
            force=force,
            kernel=kernel,
            providers=[p.strip() for p in providers.split(",") if p.strip()] if providers else None,
            before_refresh=_repair_before_run,
        )
    except AcmError as exc:
        fail(exc)
    m = result.manifest
    built = sum(1 for p in m.packets if p["status"] == "ok" and not p.get("skipped"))
    skipped = sum(1 for p in m.packets if p.get("skipped"))
    typer.echo(
        f"{built} packet(s) built, {skipped} unchanged (skipped), {len(m.failures)} failed "
        f"in {m.seconds:.1f} s. Index: {result.index}"
    )
    if profile:
        from acm_helpers.batch.profile import profile_table, run_table

        typer.echo(run_table(m))
        typer.echo(profile_table(m.packets))
    for f in m.failures:
        typer.secho(
            f"FAILED {f['key']} ({f['status']}): {(f.get('error') or {}).get('message', '')}",
            fg=typer.colors.RED,
            err=True,
        )
    if m.failures:
        raise typer.Exit(1)


def _run_meeting(meeting, period, program, data_dir, out, providers, workers, pdf, force, kernel):
    """`acm run --meeting TYPE --period P` (:func:`acm_helpers.batch.meetings.run_meeting`)."""
    from acm_helpers.batch.meetings import run_meeting

    try:
        _repair_before_run(*open_program(program, data_dir))
        result = run_meeting(
            program,
            meeting,
            period,
            data_dir=data_dir,
            out_root=out,
            providers=[p.strip() for p in providers.split(",") if p.strip()] if providers else None,
            workers=workers,
            pdf=pdf,
            force=force,
            kernel=kernel,
        )
    except AcmError as exc:
        fail(exc)
    typer.echo(
        f"{meeting} {period}: {len(result.files)} output(s) written, "
        f"{len(result.audited)} privacy-audited, {len(result.failures)} refused. "
        f"Index: {result.index}"
    )
    for key, found in result.failures.items():
        typer.secho(f"NOT PUBLISHED {key}: {'; '.join(found)}", fg=typer.colors.RED, err=True)
    if result.failures:
        raise typer.Exit(1)


@app.command("send")
def send_cmd(
    period: str = typer.Option(..., "--period", help="Month whose packets to send, YYYY-MM."),
    providers: str | None = typer.Option(
        None, "--providers", help="Comma-separated provider ids (default: all)."
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Show the messages; send nothing (no login needed)."
    ),
    program: Path | None = ProgramOpt,
    data_dir: Path | None = DataDirOpt,
    out: Path = typer.Option(Path("outputs"), "--out", help="The run's folder: <out>/<period>/."),
) -> None:
    """Email each provider its packet (PDF, and XLSX where configured), once, if it passed.

    Recipients and the mail server come from the program file (`recipients`, `delivery:`), the
    login from the environment (ACM_SMTP_USER, ACM_SMTP_PASSWORD by default). Exit 1 when a
    packet was refused."""
    from acm_helpers.delivery import send
    from acm_helpers.store.store import find_program

    try:
        _, project = find_program(program)
        prog, store = open_program(program, data_dir)
        result = send.send_period(
            prog,
            store,
            period,
            Path(out).resolve() / period,
            providers=[p.strip() for p in providers.split(",") if p.strip()] if providers else None,
            dry_run=dry_run,
            base=project,
            echo=typer.echo,
        )
    except AcmError as exc:
        fail(exc)
    if dry_run:
        for o in result.outgoing:
            typer.echo(f"== would send {o.provider_id}\n{send.describe(o)}\n")
    for n in result.already:
        typer.echo(f"unchanged {n.provider_id}: {n.reason}")
    for n in result.refused:
        typer.secho(f"NOT SENT {n.provider_id}: {n.reason}", fg=typer.colors.RED, err=True)
    verb = "to send (dry run)" if dry_run else "sent"
    typer.echo(
        f"{period}: {len(result.outgoing)} {verb}, {len(result.already)} already sent, "
        f"{len(result.refused)} not sent."
    )
    if result.refused:
        raise typer.Exit(1)


def _repair_before_run(prog: Any, store: Any) -> None:
    """Rebuild episodes an interrupted intake left behind, before the batch refreshes the
    metrics (the batch may not import intake; the engine refuses outdated episodes). Called by
    ``run_period`` once it has opened the store (after its notebook server has started)."""
    from acm_helpers.store.store import EPISODES, SUBMITTED

    if not store.outdated(EPISODES, SUBMITTED):
        return  # the usual case, decided without importing intake (pandera: about 0.8 s)
    from acm_helpers.intake import intake as intake_mod

    if intake_mod.repair_episodes(store, prog):
        typer.echo(f"repaired: {intake_mod.REPAIRED}.")


# -- HUD reports: APR, CAPER, SPM --------------------------------------------------------------
@app.command("hud")
def hud_cmd(
    kind: str = typer.Argument(
        ..., help="Report: apr, caper or spm (any name in hud_reports.REPORTS)."
    ),
    export: Path = typer.Argument(..., help="HMIS CSV export (zip or folder); read only."),
    start: str = typer.Option(..., "--start", help="Report start date, YYYY-MM-DD."),
    end: str = typer.Option(..., "--end", help="Report end date, YYYY-MM-DD."),
    out: Path = typer.Option(..., "--out", help="Folder for <Qid>.csv, the HTML and the XLSX."),
    projects: str | None = typer.Option(
        None, "--projects", help="ProjectIDs, comma-separated (default: every project)."
    ),
) -> None:
    """HUD's own report tables (APR, CAPER, SPM) in HUD's table shell layout, unsuppressed."""
    from acm_helpers.hmis.hud_reports import run_report

    ids = [p.strip() for p in projects.split(",") if p.strip()] if projects else None
    try:
        result = run_report(kind, export, start, end, out, projects=ids)
    except AcmError as exc:
        fail(exc)
    typer.echo(f"{kind}: {len(result)} tables written to {out}")


def main() -> None:  # pragma: no cover - console entry
    from acm_helpers.core import imports

    imports.skip_unused()  # every command starts 1.2-1.5 s sooner (jsonschema's IRI grammars)
    try:
        app()
    except AcmError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        sys.exit(2)
