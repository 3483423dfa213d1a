"""The worker side of the batch run: what one job is, and how one worker builds, audits and
publishes it.

Why a module of its own: :func:`run_job` is a plain top-level function of picklable arguments
(:class:`Job`, :class:`Settings`), so the same job runs in a local process pool, in a
warm-kernel worker or as a Dask task, and one job's failure comes back as data (a manifest
entry), never as an exception that stops the others. :mod:`acm_helpers.batch.run` plans and
schedules jobs; this module only executes one.
"""

from __future__ import annotations

import functools
import os
import shutil
import time
import traceback
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from acm_helpers.core import errors
from acm_helpers.core.errors import AcmError

SYSTEM_KEY = "_system"
MANIFEST = "manifest.json"
INDEX = "index.html"
PACKET_FILES = ("packet.html", "packet.pdf", "appendix.xlsx")
Audience = Literal["internal", "provider"]
KernelMode = Literal["fork", "warm", "fresh"]


@dataclass(frozen=True)
class Job:
    """One packet to build: a template run with parameters into ``<period folder>/<key>/``.

    Attributes:
        key: output folder name (a provider id, or ``_system``).
        template: notebook path (:meth:`make` also takes a registered template name,
            ``"dashboard"``, and stores its path).
        parameters: injected into the notebook's ``parameters`` cell (JSON-able values).
        provider: provider id the packet is about (None for program-wide packets).
        audience: ``provider`` packets are audited for leaks before they are published.
        title: page title and PDF footer.
        appendix: name of a registered appendix builder (``"provider"``, ``"system"``: see
            :mod:`acm_helpers.packets.appendices`) that writes appendix.xlsx; None for none.
        stem: file name of the packet without extension.
    """

    key: str
    template: str
    parameters: tuple[tuple[str, Any], ...]
    provider: str | None
    audience: Audience
    title: str
    appendix: str | None = "provider"
    stem: str = "packet"

    @property
    def params(self) -> dict[str, Any]:
        """The parameters as a dict."""
        return dict(self.parameters)

    @classmethod
    def make(
        cls, template: str | Path, provider: str | None, parameters: dict[str, Any], **kw: Any
    ) -> Job:
        """Build a job from a template (a registered name such as ``"deep_dive"``, or a notebook
        path), a provider and a parameters dict (the meeting-cycle reports use this to add their
        notebooks to a run).

        Raises:
            UnknownIdError: an unknown template name (listing the known ones).
        """
        from acm_helpers.core.resources import notebook

        template = notebook(template)
        params = {**parameters}
        if provider is not None:
            params.setdefault("provider", provider)
        audience = kw.pop("audience", params.get("audience", "internal"))
        key = kw.pop("key", provider or Path(template).stem)
        title = kw.pop(
            "title", f"{Path(template).stem} {provider or ''} {params.get('period', '')}".strip()
        )
        return cls(
            key=key,
            template=str(Path(template).resolve()),
            parameters=tuple(sorted(params.items())),
            provider=provider,
            audience=audience,
            title=title,
            **kw,
        )


@dataclass(frozen=True)
class Settings:
    """Everything a worker needs besides the job. Frozen and picklable.

    Attributes:
        executor: how notebooks are executed (a picklable ``report.Executor``); None runs
            papermill with a fresh kernel per notebook. ``forked.ForkExecutor`` runs each in a
            fork of one warm server process; ``kernels.WarmExecutor`` keeps one warm kernel per
            worker process.
    """

    program_path: str
    data_dir: str
    period_dir: str
    pdf: bool = True
    kernel: KernelMode = "warm"
    executor: Any = None


# -- the worker side ------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=4)
def _program(path: str, mtime: float):
    from acm_helpers.core.config import load_program

    return load_program(path)


def _load_program(path: str):
    return _program(path, Path(path).stat().st_mtime)


@functools.lru_cache(maxsize=2)
def _truth_cached(root: str, stamp: float):
    from acm_helpers.store.store import Store

    return Store(root).suppressed_truth()


def _truth(store):
    """The store's suppressed-cell truths, read once per worker process while unchanged."""
    return _truth_cached(str(store.root), store.table_stamp("suppressed_truth"))


def run_job(
    job: Job,
    settings: Settings,
    input_hash: str = "",
    inputs: dict[str, str] | None = None,
    reason: str = "",
) -> dict[str, Any]:
    """Build, audit and publish one packet; never raises for a packet-level failure.

    Runs in a worker process (or a Dask task). Everything is produced in a staging folder next
    to the final one, checked, then renamed into place, so a failed or leaking packet is never
    published and readers never see half a packet.

    Returns:
        The manifest entry: status (ok | failed | privacy_failed), files, timings, error.
    """
    from acm_helpers.batch.profile import packet_profile
    from acm_helpers.core import stages
    from acm_helpers.core.calendar import equity_quarter
    from acm_helpers.packets import audit, audit_facts
    from acm_helpers.packets import render as report
    from acm_helpers.packets.appendices import appendix_builder
    from acm_helpers.store.store import Store

    stages.drain()  # records of an earlier job that ended early are not this packet's
    t_start = time.perf_counter()
    kernel_stages: list[dict[str, Any]] = []
    period_dir = Path(settings.period_dir)
    final = period_dir / job.key
    staging = period_dir / ".staging" / f"{job.key}-{uuid.uuid4().hex[:8]}"
    entry: dict[str, Any] = {
        "key": job.key,
        "provider": job.provider,
        "template": Path(job.template).name,
        "audience": job.audience,
        "title": job.title,
        "parameters": job.params,
        "input_hash": input_hash,
        "inputs": inputs or {},
        "reason": reason,
        "status": "failed",
        "files": {},
        "timings": {},
        "error": None,
        "worker_pid": os.getpid(),
    }
    try:
        # the program and store are needed only for the appendix and the audit (not every job)
        program = (
            _load_program(settings.program_path)
            if job.appendix or job.audience == "provider"
            else None
        )
        store = Store(settings.data_dir)
        executor, in_kernel = _appendix_in_kernel(job, settings.executor, staging)
        result = report.render_notebook(
            job.template,
            job.params,
            staging,
            title=job.title,
            stem=job.stem,
            pdf=settings.pdf,
            executor=executor,
            footer=job.title,
        )
        entry["timings"].update(result.timings)
        kernel_stages = result.stages
        files = {"html": staging / f"{job.stem}.html"}
        if result.pdf is not None:
            files["pdf"] = result.pdf
        if in_kernel:
            written = executor.last_after()
            files["xlsx"] = Path(written["path"])
            kernel_stages = [*kernel_stages, *written["stages"]]
            entry["timings"]["xlsx"] = sum(r["wall"] for r in written["stages"])
        elif job.appendix:
            t0 = time.perf_counter()
            with stages.stage("XLSX"):
                sheets, notes = appendix_builder(job.appendix)(program, store, job.params)
                files["xlsx"] = report.write_xlsx(staging / "appendix.xlsx", sheets, notes=notes)
            entry["timings"]["xlsx"] = time.perf_counter() - t0
        if job.audience == "provider":
            t0 = time.perf_counter()
            with stages.stage("audit"):
                facts = audit_facts.facts_for(
                    program,
                    store,
                    job.provider,
                    job.params["period"],
                    truth=_truth(store),
                    equity_period=equity_quarter(job.params["period"]),
                    output=audit_facts.output_for(job.stem),
                )
                findings = audit.check_files(files, facts)
            entry["timings"]["audit"] = time.perf_counter() - t0
            entry["audit"] = {"checked": sorted(files), "findings": [f.as_dict() for f in findings]}
            if findings:
                entry["status"] = "privacy_failed"
                entry["error"] = {"message": "; ".join(f.message for f in findings[:5])}
                _discard(final, job.stem)
                return entry
        from acm_helpers.store.store import sha256_file

        with stages.stage("publish"):
            final.mkdir(parents=True, exist_ok=True)
            for kind, path in files.items():
                # the hash of what the audit passed: `acm send` sends only these very files
                entry.setdefault("sha256", {})[kind] = sha256_file(path)
                os.replace(path, final / path.name)
                entry["files"][kind] = f"{job.key}/{path.name}"
        entry["status"] = "ok"
    except errors.NotebookFailed as exc:
        entry["error"] = {
            "message": str(exc),
            "cell": exc.cell_index,
            "source": exc.source,
            "ename": exc.ename,
            "evalue": exc.evalue,
        }
        _discard(final, job.stem)
    except AcmError as exc:
        entry["error"] = {"message": str(exc), "ename": type(exc).__name__}
        _discard(final, job.stem)
    except Exception as exc:  # noqa: BLE001 - a job boundary: record the bug, keep the run going
        entry["error"] = {
            "message": f"{type(exc).__name__}: {exc}",
            "ename": type(exc).__name__,
            "traceback": traceback.format_exc(limit=8),
        }
        _discard(final, job.stem)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        entry["timings"]["total"] = time.perf_counter() - t_start
        last_reset = getattr(settings.executor, "last_reset", None)
        entry["profile"] = packet_profile(
            stages.drain(), kernel_stages, last_reset() if callable(last_reset) else {}
        )
    return entry


def _appendix_in_kernel(job: Job, executor: Any, staging: Path) -> tuple[Any, bool]:
    """The executor for this job, and whether it writes the job's appendix itself.

    Why: with a warm kernel or a forked notebook, the appendix is built there right after the notebook
    (:func:`acm_helpers.packets.appendices.write_appendix`), from the packet the notebook loaded
    there, instead of this process reading the same tables again. A fresh kernel is gone when
    the notebook ends, so then the appendix is built here, as before.
    """
    import dataclasses
    import json

    from acm_helpers.batch.forked import ForkExecutor
    from acm_helpers.batch.kernels import WarmExecutor

    if not job.appendix or not isinstance(executor, (WarmExecutor, ForkExecutor)):
        return executor, False
    from acm_helpers.packets.appendices import appendix_builder

    appendix_builder(job.appendix)  # an unknown name fails here, as on the host path
    call = (
        "__import__('acm_helpers.packets.appendices', fromlist=['_']).write_appendix("
        f"{job.appendix!r}, __import__('json').loads({json.dumps(job.params)!r}), "
        f"{str(staging / 'appendix.xlsx')!r})"
    )
    return dataclasses.replace(executor, after=call), True


def _discard(final: Path, stem: str = "packet") -> None:
    """Remove an earlier output of a job that failed now (its own ``<stem>.html``/``.pdf`` and
    the appendix), so nobody sends a stale one."""
    for name in {*PACKET_FILES, f"{stem}.html", f"{stem}.pdf"}:
        (final / name).unlink(missing_ok=True)


def _worker_exit() -> None:
    from acm_helpers.packets import render as report

    report.close_browser()


def warm_up(settings: Settings) -> int:
    """Pay a worker's one-off costs before its first packet: the kernel (for a warm executor),
    the HTML exporter's templates, the browser (when printing PDFs) and the heavy imports."""
    import threading

    from acm_helpers.packets import render as report

    # the kernel boots in its own process: build the exporter here meanwhile, instead of one
    # after the other. Not the browser: Playwright's sync API belongs to the thread that started
    # it, and a browser started in this short-lived thread is dead for every packet after it.
    side = threading.Thread(target=_warm_host_side, name="acm-warm-up")
    side.start()
    spec = getattr(settings.executor, "spec", None)
    warm = getattr(settings.executor, "warm", None)  # a forked-notebook executor's own warm-up
    try:
        if callable(warm):
            warm()
        elif spec is not None:
            from acm_helpers.batch import kernels as workers

            workers.process_kernel(spec)
    finally:
        side.join()
    report.warm_exporter()  # a no-op when the thread built it; raises here if it could not
    if settings.pdf:
        try:
            report.warm_browser()  # in the worker's own thread, where its packets print
        except Exception:  # noqa: BLE001 - the first packet's PDF retries and reports it
            pass
    return os.getpid()


def _warm_host_side() -> None:
    from acm_helpers.packets import render as report

    try:
        report.warm_exporter()
    except Exception:  # noqa: BLE001 - retried (and reported) by the caller or the first packet
        return


def init_worker() -> None:
    """Process-pool initializer: close this worker's browser when the pool shuts it down."""
    import multiprocessing.util

    multiprocessing.util.Finalize(None, _worker_exit, exitpriority=20)
