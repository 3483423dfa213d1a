"""The monthly run: every provider's packet (plus the internal system packet) for one period, in
parallel, with a manifest, an index page, skip-if-unchanged and a privacy audit.

Shape of a run (``acm run --period 2026-10``)::

    plan_period()  -> [Job, ...]       providers x period, the roadmap topic of the month
    fingerprint    -> input hash/job    template, parameters, data slice, package code
    run()          -> Manifest          jobs whose hash changed go to a pool of worker processes;
                                        each worker renders, audits and publishes one packet
    write_index()                       outputs/<period>/index.html + manifest.json

Why this split: :func:`run_job` is a plain top-level function of picklable arguments, so the
same job runs in a local process pool, in a warm-kernel worker, or as a Dask task
(``pool=client.get_executor()``), and one job's failure is data (a manifest entry), never an
exception that stops the others. Data is prepared once upstream (the engine's tables are
read, not recomputed, by the notebooks; fingerprints are computed once in the parent).
"""

from __future__ import annotations

import concurrent.futures as cf
import functools
import hashlib
import importlib
import json
import multiprocessing
import os
import shutil
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from acm_helpers.exceptions import AcmError, ConfigError, RunError

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
DASHBOARD = NOTEBOOKS / "02_dashboard.ipynb"
SYSTEM = NOTEBOOKS / "06_system.ipynb"
SYSTEM_KEY = "_system"
MANIFEST = "manifest.json"
INDEX = "index.html"
PACKET_FILES = ("packet.html", "packet.pdf", "appendix.xlsx")
Audience = Literal["internal", "provider"]
KernelMode = Literal["fresh", "warm"]


@dataclass(frozen=True)
class Job:
    """One packet to build: a template run with parameters into ``<period folder>/<key>/``.

    Attributes:
        key: output folder name (a provider id, or ``_system``).
        template: notebook path.
        parameters: injected into the notebook's ``parameters`` cell (JSON-able values).
        provider: provider id the packet is about (None for program-wide packets).
        audience: ``provider`` packets are audited for leaks before they are published.
        title: page title and PDF footer.
        appendix: ``"module:function"`` returning ``({sheet name: frame}, [(note, text)])`` for
            appendix.xlsx (called as ``fn(program, store, parameters)``); None for no appendix.
        stem: file name of the packet without extension.
    """

    key: str
    template: str
    parameters: tuple[tuple[str, Any], ...]
    provider: str | None
    audience: Audience
    title: str
    appendix: str | None = "acm_helpers.packet:appendix"
    stem: str = "packet"

    @property
    def params(self) -> dict[str, Any]:
        """The parameters as a dict."""
        return dict(self.parameters)

    @classmethod
    def make(cls, template: str | Path, provider: str | None, parameters: dict[str, Any], **kw: Any) -> Job:
        """Build a job from a template, a provider and a parameters dict (the meeting-cycle
        reports use this to add their notebooks to a run)."""
        params = {**parameters}
        if provider is not None:
            params.setdefault("provider", provider)
        audience = kw.pop("audience", params.get("audience", "internal"))
        key = kw.pop("key", provider or Path(template).stem)
        title = kw.pop("title", f"{Path(template).stem} {provider or ''} {params.get('period', '')}".strip())
        return cls(key=key, template=str(Path(template).resolve()), parameters=tuple(sorted(params.items())),
                   provider=provider, audience=audience, title=title, **kw)


@dataclass(frozen=True)
class Settings:
    """Everything a worker needs besides the job. Frozen and picklable.

    Attributes:
        executor: how notebooks are executed (a picklable ``report.Executor``); None runs
            papermill with a fresh kernel per notebook. ``workers.WarmExecutor`` keeps one warm
            kernel per worker process.
        audit_truth: Parquet file with the engine's unsuppressed numbers of suppressed cells,
            written once per run for the leak check (internal; deleted when the run ends).
    """

    program_path: str
    data_dir: str
    period_dir: str
    pdf: bool = True
    kernel: KernelMode = "warm"
    executor: Any = None
    audit_truth: str = ""


@dataclass
class Manifest:
    """The record of one run: what was built, skipped or failed, why, and how long it took."""

    program: str
    period: str
    audience: str
    started: str
    finished: str = ""
    seconds: float = 0.0
    workers: int = 1
    kernel: str = "fresh"
    package_version: str = ""
    code_hash: str = ""
    packets: list[dict[str, Any]] = field(default_factory=list)

    @property
    def failures(self) -> list[dict[str, Any]]:
        """Entries whose packet was not produced (failed or privacy_failed)."""
        return [p for p in self.packets if p["status"] in ("failed", "privacy_failed")]

    def to_json(self) -> str:
        """Stable, indented JSON (the file humans and re-runs read)."""
        return json.dumps(asdict(self), indent=2, default=str)


# -- planning ------------------------------------------------------------------------------------
def plan_period(program, period: str, *, program_path: str | Path, data_dir: str | Path,
                providers: Sequence[str] | None = None, audience: Audience = "provider",
                system: bool = True) -> list[Job]:
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
    common = {"program_path": str(Path(program_path).resolve()), "data_dir": str(Path(data_dir).resolve()),
              "period": period, "topic": topic}
    jobs = [Job.make(DASHBOARD, pid, {**common, "audience": audience},
                     title=f"{program.provider(pid).name} — {period}") for pid in chosen]
    if system:
        jobs.append(Job.make(SYSTEM, None, {**common, "audience": "internal"}, key=SYSTEM_KEY,
                             appendix="acm_helpers.system:system_appendix",
                             title=f"{program.name} — all providers — {period} (internal)"))
    return jobs


# -- fingerprints (skip unchanged) --------------------------------------------------------------------
def _sha(data: bytes | str) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


@functools.cache
def code_hash() -> str:
    """Hash of the package's source and templates: a code change rebuilds every packet."""
    pkg = Path(__file__).parent
    h = hashlib.sha256()
    for p in sorted([*pkg.glob("*.py"), *pkg.glob("templates/nbconvert/**/*")]):
        if p.is_file():
            h.update(p.relative_to(pkg).as_posix().encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def job_inputs(job: Job, data_hash: str | dict[str, str]) -> dict[str, str]:
    """The inputs a packet depends on, each hashed (the manifest records them).

    ``data_hash`` is one hash, or named component hashes (``incremental.data_digests``:
    ``program`` and ``data.<table>``), recorded one by one so a rebuild names what changed.
    """
    from acm_helpers import __version__

    data = {"data": data_hash} if isinstance(data_hash, str) else dict(data_hash)
    return {
        "template": _sha(Path(job.template).read_bytes()),
        "parameters": _sha(json.dumps(job.parameters, sort_keys=True, default=str)),
        **data,
        "code": _sha(__version__ + code_hash()),
    }


def combined_hash(inputs: dict[str, str]) -> str:
    """One hash over a job's input hashes."""
    return _sha(json.dumps(inputs, sort_keys=True))


def previous_manifest(period_dir: Path) -> dict[str, dict[str, Any]]:
    """Entries of the last run for this period, by key (empty when there was none)."""
    path = period_dir / MANIFEST
    if not path.exists():
        return {}
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return {}
    return {p["key"]: p for p in old.get("packets", [])}


def skip_reason(job: Job, input_hash: str, inputs: dict[str, str], old: dict[str, Any] | None,
                period_dir: Path) -> tuple[bool, str]:
    """Decide whether a job can be skipped, and say why it is (re)built or skipped."""
    if old is None:
        return False, "new: no earlier run of this packet"
    if old.get("status") != "ok":
        return False, f"earlier run did not succeed ({old.get('status')})"
    missing = [f for f in old.get("files", {}).values() if not (period_dir / f).exists()]
    if missing:
        return False, f"output missing: {', '.join(missing)}"
    if old.get("input_hash") == input_hash:
        return True, "inputs unchanged"
    from acm_helpers.incremental import changed_components, describe_changes

    return False, describe_changes(changed_components(old.get("inputs", {}), inputs))


# -- the worker side ------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=4)
def _program(path: str, mtime: float):
    from acm_helpers.config import load_program

    return load_program(path)


def _load_program(path: str):
    return _program(path, Path(path).stat().st_mtime)


@functools.lru_cache(maxsize=2)
def _truth_cached(path: str, mtime: float):
    import pandas as pd

    return pd.read_parquet(path)


def _truth(path: str):
    """The run's suppressed-cell truths (read once per worker process), or None."""
    if not path or not Path(path).exists():
        return None
    return _truth_cached(path, Path(path).stat().st_mtime)


def _call(dotted: str):
    module, _, name = dotted.partition(":")
    return getattr(importlib.import_module(module), name)


def run_job(job: Job, settings: Settings, input_hash: str = "", inputs: dict[str, str] | None = None,
            reason: str = "") -> dict[str, Any]:
    """Build, audit and publish one packet; never raises for a packet-level failure.

    Runs in a worker process (or a Dask task). Everything is produced in a staging folder next
    to the final one, checked, then renamed into place, so a failed or leaking packet is never
    published and readers never see half a packet.

    Returns:
        The manifest entry: status (ok | failed | privacy_failed), files, timings, error.
    """
    from acm_helpers import audit, report
    from acm_helpers.packet import equity_quarter
    from acm_helpers.store import Store

    t_start = time.perf_counter()
    period_dir = Path(settings.period_dir)
    final = period_dir / job.key
    staging = period_dir / ".staging" / f"{job.key}-{uuid.uuid4().hex[:8]}"
    entry: dict[str, Any] = {
        "key": job.key, "provider": job.provider, "template": Path(job.template).name,
        "audience": job.audience, "title": job.title, "parameters": job.params,
        "input_hash": input_hash, "inputs": inputs or {}, "reason": reason,
        "status": "failed", "files": {}, "timings": {}, "error": None,
        "worker_pid": os.getpid(),
    }
    try:
        # the program and store are needed only for the appendix and the audit (not every job)
        program = _load_program(settings.program_path) if job.appendix or job.audience == "provider" else None
        store = Store(settings.data_dir)
        result = report.render_notebook(job.template, job.params, staging, title=job.title, stem=job.stem,
                                         pdf=settings.pdf, executor=settings.executor,
                                         footer=job.title)
        entry["timings"].update(result.timings)
        files = {"html": staging / f"{job.stem}.html"}
        if result.pdf is not None:
            files["pdf"] = result.pdf
        if job.appendix:
            t0 = time.perf_counter()
            sheets, notes = _call(job.appendix)(program, store, job.params)
            files["xlsx"] = report.write_xlsx(staging / "appendix.xlsx", sheets, notes=notes)
            entry["timings"]["xlsx"] = time.perf_counter() - t0
        if job.audience == "provider":
            t0 = time.perf_counter()
            facts = audit.facts_for(program, store, job.provider, job.params["period"],
                                    truth=_truth(settings.audit_truth),
                                    equity_period=equity_quarter(job.params["period"]))
            findings = audit.check_files(files, facts)
            entry["timings"]["audit"] = time.perf_counter() - t0
            entry["audit"] = {"checked": sorted(files), "findings": [f.as_dict() for f in findings]}
            if findings:
                entry["status"] = "privacy_failed"
                entry["error"] = {"message": "; ".join(f.message for f in findings[:5])}
                _discard(final)
                return entry
        final.mkdir(parents=True, exist_ok=True)
        for kind, path in files.items():
            os.replace(path, final / path.name)
            entry["files"][kind] = f"{job.key}/{path.name}"
        entry["status"] = "ok"
    except report.NotebookFailed as exc:
        entry["error"] = {"message": str(exc), "cell": exc.cell_index, "source": exc.source,
                          "ename": exc.ename, "evalue": exc.evalue}
        _discard(final)
    except AcmError as exc:
        entry["error"] = {"message": str(exc), "ename": type(exc).__name__}
        _discard(final)
    except Exception as exc:  # noqa: BLE001 - a job boundary: record the bug, keep the run going
        entry["error"] = {"message": f"{type(exc).__name__}: {exc}", "ename": type(exc).__name__,
                          "traceback": traceback.format_exc(limit=8)}
        _discard(final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        entry["timings"]["total"] = time.perf_counter() - t_start
    return entry


def _discard(final: Path) -> None:
    """Remove an earlier packet for a job that failed now, so nobody sends a stale one."""
    for name in PACKET_FILES:
        (final / name).unlink(missing_ok=True)


def _worker_exit() -> None:
    from acm_helpers import report

    report.close_browser()


def warm_up(settings: Settings) -> int:
    """Pay a worker's one-off costs before its first packet: the kernel (for a warm executor),
    the HTML exporter's templates, the browser (when printing PDFs) and the heavy imports."""
    from acm_helpers import audit, packet, report  # noqa: F401 - imported to warm the process

    report.warm_exporter()
    spec = getattr(settings.executor, "spec", None)
    if spec is not None:
        from acm_helpers import workers

        workers.process_kernel(spec)
    if settings.pdf:
        report.warm_browser()
    return os.getpid()


def _init_worker() -> None:
    import multiprocessing.util

    multiprocessing.util.Finalize(None, _worker_exit, exitpriority=20)


# -- the parent side ------------------------------------------------------------------------------------
def max_workers(requested: int | None) -> int:
    """Workers to use: as requested, never more than the machine's cores, at least one."""
    cores = os.cpu_count() or 1
    return max(1, min(requested or cores, cores))


def run(jobs: Iterable[Job | tuple], settings: Settings, *, workers: int | None = None,
        force: bool = False, data_hashes: dict[str, str] | None = None, program_id: str = "",
        period: str = "", audience: str = "", progress: bool = True, pool: cf.Executor | None = None,
        write_outputs: bool = True, prepare: Callable[[list[Job], Settings], Settings] | None = None) -> Manifest:
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
    """
    from tqdm import tqdm

    from acm_helpers import __version__

    jobs = [j if isinstance(j, Job) else Job.make(*j) for j in jobs]
    keys = [j.key for j in jobs]
    if len(set(keys)) != len(keys):
        raise RunError(f"Two jobs write to the same folder: {sorted({k for k in keys if keys.count(k) > 1})}. "
                       "Give each job its own key.")
    period_dir = Path(settings.period_dir)
    period_dir.mkdir(parents=True, exist_ok=True)
    n = max_workers(workers)
    manifest = Manifest(program=program_id, period=period, audience=audience,
                        started=datetime.now(UTC).isoformat(timespec="seconds"), workers=n,
                        kernel=settings.kernel, package_version=__version__, code_hash=code_hash())
    t0 = time.perf_counter()
    old = previous_manifest(period_dir)
    todo: list[tuple[Job, str, dict[str, str], str]] = []
    entries: dict[str, dict[str, Any]] = {}
    for job in jobs:
        inputs = job_inputs(job, (data_hashes or {}).get(job.key, ""))
        h = combined_hash(inputs)
        skip, why = skip_reason(job, h, inputs, old.get(job.key), period_dir)
        if skip and not force:
            entries[job.key] = {**old[job.key], "status": "ok", "skipped": True, "reason": why,
                                "timings": {"total": 0.0}}
        else:
            todo.append((job, h, inputs, "forced (--force)" if force and skip else why))
    if todo:
        own_pool = pool is None
        if own_pool:
            ctx = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
            pool = cf.ProcessPoolExecutor(max_workers=min(n, len(todo)), mp_context=ctx, initializer=_init_worker)
            # each new worker starts its kernel (and browser) while this process prepares the run
            for _ in range(min(n, len(todo))):
                pool.submit(warm_up, settings)
        if prepare is not None:
            settings = prepare([t[0] for t in todo], settings)
        try:
            futures = {pool.submit(run_job, job, settings, h, inputs, why): job for job, h, inputs, why in todo}
            with tqdm(total=len(futures), desc=f"packets {period}", unit="packet", disable=not progress) as bar:
                for fut in cf.as_completed(futures):
                    job = futures[fut]
                    try:
                        entry = fut.result()
                    except Exception as exc:  # noqa: BLE001 - a worker died; record it, keep going
                        entry = {"key": job.key, "provider": job.provider, "template": Path(job.template).name,
                                 "status": "failed", "files": {}, "timings": {},
                                 "error": {"message": f"worker crashed: {type(exc).__name__}: {exc}"}}
                    entry["skipped"] = False
                    entries[job.key] = entry
                    bar.set_postfix_str(f"{job.key}: {entry['status']}")
                    bar.update(1)
        finally:
            if own_pool:
                pool.shutdown(wait=True)
    manifest.packets = [entries[j.key] for j in jobs]
    manifest.seconds = round(time.perf_counter() - t0, 3)
    manifest.finished = datetime.now(UTC).isoformat(timespec="seconds")
    shutil.rmtree(period_dir / ".staging", ignore_errors=True)
    if write_outputs:
        write_manifest(manifest, period_dir)
        write_index(manifest, period_dir)
    return manifest


def write_manifest(manifest: Manifest, period_dir: Path) -> Path:
    """manifest.json, atomically."""
    from acm_helpers.report import write_text

    return write_text(period_dir / MANIFEST, manifest.to_json())


def write_index(manifest: Manifest, period_dir: Path) -> Path:
    """index.html: one row per packet with links to its files, its status and any failure."""
    from html import escape

    from acm_helpers.report import TEMPLATES, check_offline, write_text

    css = (TEMPLATES / "packet" / "packet.css").read_text(encoding="utf-8")
    rows = []
    for p in manifest.packets:
        links = " ".join(f'<a href="{escape(path)}">{escape(kind.upper())}</a>'
                         for kind, path in sorted(p.get("files", {}).items()) if p["status"] == "ok")
        status = escape(p["status"]) + (" (unchanged, skipped)" if p.get("skipped") else "")
        err = escape((p.get("error") or {}).get("message", ""))
        cls = "" if p["status"] == "ok" else ' class="acm-flag"'
        secs = p.get("timings", {}).get("total", 0.0)
        rows.append(f"<tr><td>{escape(p.get('title') or p['key'])}</td><td>{escape(p.get('audience') or '')}</td>"
                    f"<td>{links}</td><td{cls}>{status}</td><td class=\"num\">{secs:.1f}</td><td>{err}</td></tr>")
    failures = manifest.failures
    summary = (f"{len(manifest.packets) - len(failures)} of {len(manifest.packets)} packets produced"
               + (f"; <span class=\"acm-flag\">{len(failures)} failed: "
                  + escape(", ".join(f['key'] for f in failures)) + "</span>" if failures else ""))
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Packets {escape(manifest.period)}</title>
<style>{css}</style></head>
<body class="acm-packet"><main>
<div class="acm-header"><h1>Packets for {escape(manifest.period)}</h1>
<div class="meta">{escape(manifest.program)} · run finished {escape(manifest.finished)} · {manifest.seconds:.1f} s ·
{manifest.workers} worker(s) · <a href="{MANIFEST}">manifest.json</a></div></div>
<p>{summary}</p>
<table><thead><tr><th>Packet</th><th>Audience</th><th>Files</th><th>Status</th><th class="num">Seconds</th><th>Problem</th></tr></thead>
<tbody>{''.join(rows)}</tbody></table>
</main></body></html>"""
    check_offline(page, where="index.html")
    return write_text(period_dir / INDEX, page)


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

    tables = {name: store.read_table(name) if store.has_table(name) else pd.DataFrame()
              for name in ("quality", "action_items", "meetings")}
    out = {}
    for job in jobs:
        h = hashlib.sha256(version.encode())
        for name, frame in tables.items():
            part = frame
            if job.provider and not frame.empty and "provider_id" in frame:
                part = frame[frame["provider_id"] == job.provider]
            h.update(name.encode())
            if not part.empty:
                h.update(pd.util.hash_pandas_object(part.astype("str"), index=False).values.tobytes())
        out[job.key] = h.hexdigest()
    return out


def warm_executor(templates: Iterable[str | Path], timeout: float | None = 600.0):
    """A picklable executor keeping one warm kernel per worker process (``workers.WarmExecutor``)."""
    from acm_helpers import workers

    return workers.WarmExecutor.for_notebooks([str(t) for t in templates], timeout=timeout)


def run_period(program_path: str | Path, period: str, *, data_dir: str | Path | None = None,
               out_root: str | Path = "outputs", providers: Sequence[str] | None = None,
               workers: int | None = None, audience: Audience = "provider", pdf: bool = True,
               force: bool = False, kernel: KernelMode = "warm", progress: bool = True,
               extra_jobs: Sequence[Job] = (), pool: cf.Executor | None = None) -> RunResult:
    """``acm run``: every provider's packet and the system packet for one month.

    Metrics are brought up to date once, here (``metrics.refresh`` is a no-op when nothing
    changed); notebooks only read them. The leak check's reference data is computed once and
    shared by every worker.

    Args:
        program_path: the program file.
        period: YYYY-MM.
        data_dir: the store (default: the program's data_dir, relative to the working folder).
        out_root: packets go to ``<out_root>/<period>/``.
        providers: a subset of provider ids (default: all).
        workers: worker processes (capped at the cores).
        audience: "provider" (peers anonymized, leak-checked) or "internal".
        pdf: also print PDFs.
        force: rebuild packets whose inputs did not change.
        kernel: "warm" (one kernel per worker, reused) or "fresh" (a kernel per notebook).
        extra_jobs: more jobs in the same run (e.g. the month's deep dives).
        pool: an existing ``concurrent.futures`` executor (e.g. a Dask client's).
    """
    from acm_helpers import metrics
    from acm_helpers.config import load_program
    from acm_helpers.store import Store

    program_path = Path(program_path).resolve()
    program = load_program(program_path)
    period = program.check_period(period)
    store = Store(Path(data_dir) if data_dir else program.data_path(Path.cwd()))
    metrics.refresh(program, store)  # no-op when episodes and definitions are unchanged
    jobs = plan_period(program, period, program_path=program_path, data_dir=store.root, providers=providers,
                       audience=audience) + list(extra_jobs)
    period_dir = Path(out_root).resolve() / period
    templates = sorted({j.template for j in jobs})
    executor = warm_executor(templates) if kernel == "warm" else None
    settings = Settings(program_path=str(program_path), data_dir=str(store.root.resolve()),
                        period_dir=str(period_dir), pdf=pdf, kernel=kernel, executor=executor)

    def prepare(todo: list[Job], s: Settings) -> Settings:
        if not any(j.audience == "provider" for j in todo):
            return s
        truth = stored_suppressed(metrics.unsuppressed_cells(program, store), store)
        path = period_dir / ".staging" / f"audit-truth-{uuid.uuid4().hex[:8]}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        truth.to_parquet(path, index=False)
        os.chmod(path, 0o600)
        return Settings(**{**asdict_shallow(s), "audit_truth": str(path)})

    from acm_helpers.incremental import data_digests

    digests = data_digests(program_path, store, period, jobs)  # per packet: its own data slice
    manifest = run(jobs, settings, workers=workers, force=force, data_hashes=digests,
                   program_id=program.id, period=period, audience=audience, progress=progress, pool=pool,
                   prepare=prepare)
    return RunResult(manifest, period_dir, period_dir / INDEX)


def asdict_shallow(obj: Any) -> dict[str, Any]:
    """A dataclass's fields as a dict without deep-copying values (executors stay as they are)."""
    return {f: getattr(obj, f) for f in obj.__dataclass_fields__}


def stored_suppressed(truth, store):
    """Keep the true numbers of the cells the stored ``metric_values`` marks suppressed: the leak
    check holds packets to exactly what the engine published as suppressed."""
    key = ["provider_id", "period", "grain", "metric_id", "dimension", "group"]
    marked = store.query("SELECT provider_id, period, grain, metric_id, dimension, \"group\" FROM metric_values "
                         "WHERE suppressed")
    return truth.merge(marked, on=key, how="inner")
