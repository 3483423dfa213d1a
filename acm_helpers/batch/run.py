"""The monthly run: every provider's packet (plus the internal system packet) for one period, in
parallel, with a manifest, an index page, skip-if-unchanged and a privacy audit.

Shape of a run (``acm run --period 2026-10``)::

    plan_period()  -> [Job, ...]       providers x period, the roadmap topic of the month
    fingerprint    -> input hash/job    template, parameters, data slice, package code
    run()          -> Manifest          jobs whose hash changed go to a pool of worker processes;
                                        each worker renders, audits and publishes one packet
    write_index()                       outputs/<period>/index.html + manifest.json

Why this split: :func:`run_job` (in :mod:`acm_helpers.batch.worker`) is a plain top-level
function of picklable arguments, so the same job runs in a local process pool, in a warm-kernel
worker, or as a Dask task (``pool=client.get_executor()``), and one job's failure is data (a
manifest entry), never an exception that stops the others. Data is prepared once upstream (the
engine's tables are read, not recomputed, by the notebooks; fingerprints, in
:mod:`acm_helpers.batch.manifest`, are computed once in the parent). The names of both modules are
re-exported here, so ``batch.Job``, ``batch.run_job`` and ``batch.skip_reason`` keep working.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import multiprocessing
import os
import shutil
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from acm_helpers.batch.manifest import (  # noqa: F401 - re-exported
    Manifest,
    code_hash,
    combined_hash,
    job_inputs,
    previous_manifest,
    skip_reason,
    write_index,
    write_manifest,
)
from acm_helpers.batch.worker import (  # noqa: F401 - re-exported: the batch API in one place
    INDEX,
    PACKET_FILES,
    SYSTEM_KEY,
    Audience,
    Job,
    KernelMode,
    Settings,
    init_worker,
    run_job,
    warm_up,
)
from acm_helpers.core import text
from acm_helpers.core.errors import ConfigError, RunError

DEEP_DIVE = "deep_dive"  # the registered deep-dive template (deep_dive_jobs)
DASHBOARD = "dashboard"  # a provider's packet (plan_period)
SYSTEM = "system"  # the internal system packet (plan_period)


# -- planning ------------------------------------------------------------------------------------
def plan_period(
    program,
    period: str,
    *,
    program_path: str | Path,
    data_dir: str | Path,
    providers: Sequence[str] | None = None,
    audience: Audience = "provider",
    system: bool = True,
) -> list[Job]:
    """The run list for one period: one dashboard packet per provider, plus the system packet.

    The roadmap's topic for the period (if any) is passed to every packet as ``topic``.

    Raises:
        UnknownIdError: for an unknown provider or a period outside the program.
    """
    program.check_period(period)
    chosen = list(providers) if providers else program.provider_ids
    for pid in chosen:
        program.provider(pid)  # raises with the known ids
    if audience not in ("provider", "internal"):
        raise ConfigError(f"Audience {audience!r} is not 'provider' or 'internal'.")
    topic = program.roadmap[period].topic if period in program.roadmap else ""
    common = {
        "program_path": str(Path(program_path).resolve()),
        "data_dir": str(Path(data_dir).resolve()),
        "period": period,
        "topic": topic,
    }
    jobs = [
        Job.make(
            DASHBOARD,
            pid,
            {**common, "audience": audience},
            title=f"{program.provider(pid).name} — {text.period(period)}",
        )
        for pid in chosen
    ]
    if system:
        jobs.append(
            Job.make(
                SYSTEM,
                None,
                {**common, "audience": "internal"},
                key=SYSTEM_KEY,
                appendix="system",
                title=f"{program.name} — all providers — {text.period(period)} (internal)",
            )
        )
    return jobs


def deep_dive_jobs(
    program,
    period: str,
    *,
    program_path: str | Path,
    data_dir: str | Path,
    providers: Sequence[str] | None = None,
    topics: Sequence[str] | None = None,
    audience: Audience = "provider",
) -> list[Job]:
    """Deep dives to add to a run (``run_period(extra_jobs=...)``): one per provider and topic.

    Topics default to the roadmap's topic of the period. A provider-audience deep dive is
    audited like a packet before it is published (``<period>/<provider>-<topic>/deep_dive.html``).
    """
    program.check_period(period)
    if topics is None:
        topics = [program.roadmap[period].topic] if period in program.roadmap else []
    chosen = list(providers) if providers else program.provider_ids
    common = {
        "program_path": str(Path(program_path).resolve()),
        "data_dir": str(Path(data_dir).resolve()),
        "period": period,
        "audience": audience,
    }
    return [
        Job.make(
            DEEP_DIVE,
            pid,
            {**common, "topic": topic},
            key=f"{pid}-{topic}",
            appendix=None,
            stem="deep_dive",
            audience=audience,
            title=f"{program.provider(pid).name} — deep dive: {topic} — {text.period(period)}",
        )
        for pid in chosen
        for topic in topics
    ]


# -- the parent side ------------------------------------------------------------------------------------
def max_workers(requested: int | None) -> int:
    """Workers to use: as requested, never more than the machine's cores, at least one."""
    cores = os.cpu_count() or 1
    return max(1, min(requested or cores, cores))


def run(
    jobs: Iterable[Job | tuple],
    settings: Settings,
    *,
    workers: int | None = None,
    force: bool = False,
    data_hashes: dict[str, str] | None = None,
    program_id: str = "",
    period: str = "",
    audience: str = "",
    progress: bool = True,
    pool: cf.Executor | None = None,
    write_outputs: bool = True,
    prepare: Callable[[list[Job], Settings], Settings] | None = None,
    status: Any = None,
    run_stages: Sequence[dict[str, Any]] = (),
) -> Manifest:
    """Run jobs in parallel and record a manifest; unchanged jobs are skipped unless ``force``.

    Args:
        jobs: :class:`Job` objects, or ``(template, provider, parameters)`` tuples.
        settings: paths and options shared by every job.
        workers: worker processes (capped at the number of cores).
        force: rebuild even when inputs are unchanged.
        data_hashes: data-slice hash per job key (computed once upstream); missing keys hash
            as "" so the job is rebuilt whenever the template, parameters or code change.
        pool: an existing ``concurrent.futures`` executor (e.g. ``dask_client.get_executor()``);
            by default a local process pool is created and shut down here.
        write_outputs: write manifest.json and index.html into the period folder.
        prepare: called once with the jobs that will run (not the skipped ones) before any
            starts; returns the settings to use (e.g. with the leak check's data added). Not
            called when every job is skipped.
        status: the providers' status for the index grid
            (:func:`acm_helpers.batch.portfolio.portfolio_status`); ``None``: build log only.
        run_stages: the caller's stage records before the run (``core.stages``: metrics
            refresh, fingerprints ...), kept in the manifest's run profile.
    """
    from tqdm import tqdm

    from acm_helpers import __version__

    jobs = [j if isinstance(j, Job) else Job.make(*j) for j in jobs]
    check_appendices(jobs)
    keys = [j.key for j in jobs]
    if len(set(keys)) != len(keys):
        raise RunError(
            f"Two jobs write to the same folder: {sorted({k for k in keys if keys.count(k) > 1})}. "
            "Give each job its own key."
        )
    period_dir = Path(settings.period_dir)
    period_dir.mkdir(parents=True, exist_ok=True)
    n = max_workers(workers)
    manifest = Manifest(
        program=program_id,
        period=period,
        audience=audience,
        started=datetime.now(UTC).isoformat(timespec="seconds"),
        workers=n,
        kernel=settings.kernel,
        package_version=__version__,
        code_hash=code_hash(),
    )
    t0 = time.perf_counter()
    old = previous_manifest(period_dir)
    todo: list[tuple[Job, str, dict[str, str], str]] = []
    entries: dict[str, dict[str, Any]] = {}
    for job in jobs:
        inputs = job_inputs(job, (data_hashes or {}).get(job.key, ""))
        h = combined_hash(inputs)
        skip, why = skip_reason(job, h, inputs, old.get(job.key), period_dir)
        if skip and not force:
            entries[job.key] = {
                **old[job.key],
                "status": "ok",
                "skipped": True,
                "reason": why,
                "timings": {"total": 0.0},
            }
        else:
            todo.append((job, h, inputs, "forced (--force)" if force and skip else why))
    if todo:
        own_pool = pool is None
        if own_pool:
            pool = start_pool(min(n, len(todo)), settings)
        if prepare is not None:
            settings = prepare([t[0] for t in todo], settings)
        try:
            futures = {
                pool.submit(run_job, job, settings, h, inputs, why): job
                for job, h, inputs, why in longest_first(todo, old)
            }
            with tqdm(
                total=len(futures), desc=f"packets {period}", unit="packet", disable=not progress
            ) as bar:
                for fut in cf.as_completed(futures):
                    job = futures[fut]
                    try:
                        entry = fut.result()
                    except Exception as exc:  # noqa: BLE001 - a worker died; record it, keep going
                        entry = {
                            "key": job.key,
                            "provider": job.provider,
                            "template": Path(job.template).name,
                            "status": "failed",
                            "files": {},
                            "timings": {},
                            "error": {"message": f"worker crashed: {type(exc).__name__}: {exc}"},
                        }
                    entry["skipped"] = False
                    entries[job.key] = entry
                    bar.set_postfix_str(f"{job.key}: {entry['status']}")
                    bar.update(1)
        finally:
            if own_pool:
                pool.shutdown(wait=True)
    manifest.packets = [entries[j.key] for j in jobs]
    manifest.seconds = round(time.perf_counter() - t0, 3)
    manifest.profile = {
        "run": [
            {"stage": r["stage"], "wall": round(r["wall"], 4), "cpu": round(r["cpu"], 4)}
            for r in run_stages
        ],
        "packets_wall": manifest.seconds,
    }
    manifest.finished = datetime.now(UTC).isoformat(timespec="seconds")
    shutil.rmtree(period_dir / ".staging", ignore_errors=True)
    if write_outputs:
        write_manifest(manifest, period_dir)
        write_index(manifest, period_dir, status)
    return manifest


def longest_first(todo: Sequence[tuple], old: dict[str, dict[str, Any]]) -> list[tuple]:
    """The jobs in the order to start them: the longest first, so no worker is left with one
    long packet while the others idle at the end of the run (the manifest keeps the plan's
    order). Lengths are the previous run's seconds for the packet; without them for every
    job, the system packet (the longest: every provider's data) goes first and the rest keep
    their order."""

    def seconds(job: Job) -> float | None:
        total = (old.get(job.key) or {}).get("timings", {}).get("total")
        return float(total) if total else None

    known = [seconds(t[0]) for t in todo]
    if todo and all(s is not None for s in known):
        order = sorted(range(len(todo)), key=lambda i: -known[i])  # stable for equal lengths
        return [todo[i] for i in order]
    return sorted(todo, key=lambda t: t[0].key != SYSTEM_KEY)


def start_pool(n: int, settings: Settings) -> cf.ProcessPoolExecutor:
    """A local pool of ``n`` worker processes, each already warming up (kernel, exporter,
    browser) when this returns, so the warm-up overlaps whatever the caller prepares next.

    With ``fork``, the HTML exporter (nbconvert's imports and compiled templates) and papermill
    are loaded here first: every worker inherits them instead of loading its own copy; and with
    a forked-notebook executor, its server is started here, shared by every worker."""
    forking = can_fork_workers(settings.executor)
    ctx = multiprocessing.get_context("fork" if forking else "spawn")
    start_notebook_server(settings.executor)
    if forking and n > 1:
        import papermill  # noqa: F401 - loaded once, inherited by the workers

        from acm_helpers.packets import render as report

        report.warm_exporter()
    pool = cf.ProcessPoolExecutor(max_workers=n, mp_context=ctx, initializer=init_worker)
    for _ in range(n):
        pool.submit(warm_up, settings)
    return pool


def can_fork_workers(executor: Any) -> bool:
    """True when this process can fork its batch workers (else they are started afresh).

    Not where the system cannot fork, and not for a forked-notebook executor once this process
    has drawn charts (e.g. in a notebook): forked workers draw the packets' charts, and this
    process's chart engine would not work in them."""
    from acm_helpers.views import vega_svg

    if "fork" not in multiprocessing.get_all_start_methods():
        return False
    return getattr(executor, "preload", None) is None or not vega_svg.started_here()


def start_notebook_server(executor: Any) -> bool:
    """Start a forked-notebook executor's server now, when the workers will be forked from this
    process (they inherit it: one server for the run); its imports overlap the caller's work.
    Returns whether a server runs for it (False for other executors)."""
    preload = getattr(executor, "preload", None)
    if preload is None or not can_fork_workers(executor):
        return False
    from acm_helpers.batch import forked

    forked.start_server(preload)  # a no-op when it already runs
    return True


def jobs_to_build(
    jobs: Sequence[Job], period_dir: Path, data_hashes: dict[str, Any], force: bool
) -> int:
    """How many of ``jobs`` a run would build (not skip as unchanged), as :func:`run` decides."""
    if force:
        return len(jobs)
    old = previous_manifest(period_dir)
    n = 0
    for job in jobs:
        inputs = job_inputs(job, data_hashes.get(job.key, ""))
        skip, _ = skip_reason(job, combined_hash(inputs), inputs, old.get(job.key), period_dir)
        n += not skip
    return n


def check_appendices(jobs: Sequence[Job]) -> None:
    """Fail before any worker starts when a job names an appendix builder nobody registered.

    Raises:
        UnknownIdError: (a ConfigError) listing the registered builders.
    """
    names = {j.appendix for j in jobs if j.appendix}
    if names:
        from acm_helpers.packets.appendices import APPENDICES

        for name in sorted(names):
            APPENDICES.check(name)


# -- the monthly run ---------------------------------------------------------------------------------------
@dataclass
class RunResult:
    """What :func:`run_period` produced."""

    manifest: Manifest
    period_dir: Path
    index: Path

    @property
    def failures(self) -> list[dict[str, Any]]:
        """Packets not produced, with their errors."""
        return self.manifest.failures


def data_hashes(program, store, jobs: Sequence[Job], version: str) -> dict[str, str]:
    """Hash of the data each job's packet reads, computed once for the whole run.

    A provider packet reads the metric tables (identified by the engine's version hash: any new
    data or definition changes it), its own data-quality rows and its action items and meetings;
    the system packet reads every provider's.
    """
    import pandas as pd

    tables = {
        name: store.read_table(name) if store.has_table(name) else pd.DataFrame()
        for name in ("quality", "action_items", "meetings")
    }
    out = {}
    for job in jobs:
        h = hashlib.sha256(version.encode())
        for name, frame in tables.items():
            part = frame
            if job.provider and not frame.empty and "provider_id" in frame:
                part = frame[frame["provider_id"] == job.provider]
            h.update(name.encode())
            if not part.empty:
                h.update(
                    pd.util.hash_pandas_object(part.astype("str"), index=False).values.tobytes()
                )
        out[job.key] = h.hexdigest()
    return out


def warm_executor(templates: Iterable[str | Path], timeout: float | None = 600.0):
    """A picklable executor keeping one warm kernel per worker process (``workers.WarmExecutor``)."""
    from acm_helpers.batch import kernels as workers
    from acm_helpers.core.resources import notebook

    return workers.WarmExecutor.for_notebooks(
        [str(notebook(t)) for t in templates], timeout=timeout
    )


def fork_executor(templates: Iterable[str | Path], timeout: float | None = 600.0):
    """A picklable executor running each notebook in a fork of one warm server
    (``forked.ForkExecutor``); the server is started by the run before its workers."""
    from acm_helpers.batch.forked import ForkExecutor
    from acm_helpers.core.resources import notebook

    return ForkExecutor.for_notebooks([str(notebook(t)) for t in templates], timeout=timeout)


def executor_for(kernel: KernelMode, templates: Iterable[str | Path]) -> Any:
    """The notebook executor of a kernel mode: ``fork`` (the default where the system can fork),
    ``warm`` or ``fresh`` (None: papermill with a new kernel per notebook)."""
    if kernel == "fork":
        return fork_executor(templates)
    if kernel == "warm":
        return warm_executor(templates)
    return None


def resolve_kernel(kernel: str) -> KernelMode:
    """``fork`` where the system can fork (Linux, macOS), else ``warm``; other modes as given.

    Raises:
        ConfigError: an unknown mode.
    """
    if kernel not in ("fork", "warm", "fresh"):
        raise ConfigError(f"--kernel {kernel!r}: use fork, warm or fresh.")
    if kernel == "fork" and not hasattr(os, "fork"):
        return "warm"
    return kernel  # type: ignore[return-value]


def run_period(
    program_path: str | Path,
    period: str,
    *,
    data_dir: str | Path | None = None,
    out_root: str | Path = "outputs",
    providers: Sequence[str] | None = None,
    workers: int | None = None,
    audience: Audience = "provider",
    pdf: bool = True,
    force: bool = False,
    kernel: KernelMode = "fork",
    progress: bool = True,
    extra_jobs: Sequence[Job] = (),
    pool: cf.Executor | None = None,
    before_refresh: Callable[[Any, Any], None] | None = None,
) -> RunResult:
    """``acm run``: every provider's packet and the system packet for one month.

    Metrics are brought up to date once, here (``metrics.refresh`` is a no-op when nothing
    changed); notebooks only read them. The leak check's reference (the suppressed cells' true
    numbers) is the store's ``suppressed_truth`` table, written by that same refresh: the
    metrics are evaluated at most once per run.

    Args:
        program_path: the program file.
        period: YYYY-MM.
        data_dir: the store (default: the program's data_dir; paths as in
            :func:`acm_helpers.store.store.open_store`).
        out_root: packets go to ``<out_root>/<period>/``.
        providers: a subset of provider ids (default: all).
        workers: worker processes (capped at the cores).
        audience: "provider" (peers anonymized, leak-checked) or "internal".
        pdf: also print PDFs.
        force: rebuild packets whose inputs did not change.
        kernel: "fork" (each notebook in a fork of one warm server process; the default),
            "warm" (one Jupyter kernel per worker, reset between notebooks) or "fresh" (a new
            kernel per notebook).
        extra_jobs: more jobs in the same run (e.g. the month's deep dives).
        pool: an existing ``concurrent.futures`` executor (e.g. a Dask client's).
        before_refresh: called with ``(program, store)`` once the store is open, before the
            metrics refresh (``acm run`` repairs there the episodes an interrupted intake left
            behind: the batch does not import intake).
    """
    from acm_helpers.core import imports, stages
    from acm_helpers.core.resources import notebook

    imports.skip_unused()  # before nbformat and altair import jsonschema (1.2-1.5 s of CPU)
    stages.drain()
    kernel = resolve_kernel(kernel)
    # the templates plan_period uses, known before the program is read, so a forked-notebook
    # server starts first: its imports (1.6 s of CPU) overlap this process's (pandas, DuckDB,
    # the program) instead of following them. Only when every packet will be built: a run that
    # skips everything starts no server.
    planned = {str(notebook(t).resolve()) for t in (DASHBOARD, SYSTEM)}  # as Job.make stores them
    templates = sorted(planned | {j.template for j in extra_jobs})
    executor = executor_for(kernel, templates)
    own_pool = None
    started = False  # a notebook server started here, stopped below
    try:
        if pool is None and (force or not previous_manifest(Path(out_root).resolve() / period)):
            started = start_notebook_server(executor)

        from acm_helpers.metrics import engine as metrics
        from acm_helpers.metrics.definitions import record_definitions
        from acm_helpers.store.store import Store, resolve_paths

        program_path, program, store_dir = resolve_paths(program_path, data_dir)
        period = program.check_period(period)
        store = Store(store_dir)
        if before_refresh is not None:
            before_refresh(program, store)
        jobs = plan_period(
            program,
            period,
            program_path=program_path,
            data_dir=store.root,
            providers=providers,
            audience=audience,
        ) + list(extra_jobs)
        period_dir = Path(out_root).resolve() / period
        if not {j.template for j in jobs} <= set(templates):  # plan_period's templates changed
            templates = sorted({j.template for j in jobs})
            executor = executor_for(kernel, templates)
        settings = Settings(
            program_path=str(program_path),
            data_dir=str(store.root.resolve()),
            period_dir=str(period_dir),
            pdf=pdf,
            kernel=kernel,
            executor=executor,
        )

        from acm_helpers.batch.incremental import data_digests
        from acm_helpers.batch.portfolio import portfolio_status

        if pool is None and (force or not previous_manifest(period_dir)):
            # every packet will be built: start the workers first, so their warm-up (kernels
            # importing pandas, altair, vl-convert) overlaps the refresh, the fingerprints and the
            # status grid below. No worker reads the store before its first packet.
            own_pool = pool = start_pool(min(max_workers(workers), len(jobs)), settings)
        with stages.stage("metrics refresh"):
            metrics.refresh(program, store)  # no-op when episodes and definitions are unchanged
            record_definitions(program, store, period)  # a changed definition: dated this month
        with stages.stage("fingerprints"):
            digests = data_digests(program_path, store, period, jobs)  # per packet: its slice
        if pool is None:
            # only packets whose inputs changed are built: start workers for those, if any
            todo = jobs_to_build(jobs, period_dir, digests, force)
            if todo:
                own_pool = pool = start_pool(min(max_workers(workers), todo), settings)
        with stages.stage("status grid"):
            status = portfolio_status(program, store, period)  # the index grid, once per period
        if providers:
            status = status[status["provider_id"].isin(providers)]
        run_stages = stages.drain()
        manifest = run(
            jobs,
            settings,
            workers=workers,
            force=force,
            data_hashes=digests,
            program_id=program.id,
            period=period,
            audience=audience,
            progress=progress,
            pool=pool,
            status=status,
            run_stages=run_stages,
        )
    finally:
        if own_pool is not None:
            own_pool.shutdown(wait=True)
        if kernel == "fork" and (started or own_pool is not None):
            from acm_helpers.batch import forked

            forked.stop_servers()  # the notebook server started for this run
    return RunResult(manifest, period_dir, period_dir / INDEX)


def asdict_shallow(obj: Any) -> dict[str, Any]:
    """A dataclass's fields as a dict without deep-copying values (executors stay as they are)."""
    return {f: getattr(obj, f) for f in obj.__dataclass_fields__}
