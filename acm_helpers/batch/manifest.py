"""The record of a batch run: the manifest (what was built, skipped or failed, why, how long),
the input fingerprints that decide what can be skipped, and the index page linking every packet.

Why fingerprints: a packet depends on its template, its parameters, its slice of the data and
the package code; when none of their hashes changed since the last successful run, the packet
on disk is still right and the run skips it (``--force`` overrides).
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from acm_helpers.batch.worker import INDEX, MANIFEST, SYSTEM_KEY, Job


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
    profile: dict[str, Any] = field(default_factory=dict)
    """The run's own steps before the packets (metrics refresh, fingerprints, status grid), wall
    and CPU seconds; each packet's cost is its entry's ``profile`` (``batch.profile``)."""

    @property
    def failures(self) -> list[dict[str, Any]]:
        """Entries whose packet was not produced (failed or privacy_failed)."""
        return [p for p in self.packets if p["status"] in ("failed", "privacy_failed")]

    def to_json(self) -> str:
        """Stable, indented JSON (the file humans and re-runs read)."""
        return json.dumps(asdict(self), indent=2, default=str)


# -- fingerprints (skip unchanged) --------------------------------------------------------------------
def _sha(data: bytes | str) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


@functools.cache
def code_hash() -> str:
    """Hash of the package's source and templates: a code change rebuilds every packet."""
    pkg = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for p in sorted([*pkg.glob("**/*.py"), *pkg.glob("templates/nbconvert/**/*")]):
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


def skip_reason(
    job: Job, input_hash: str, inputs: dict[str, str], old: dict[str, Any] | None, period_dir: Path
) -> tuple[bool, str]:
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
    from acm_helpers.batch.incremental import changed_components, describe_changes

    return False, describe_changes(changed_components(old.get("inputs", {}), inputs))


def write_manifest(manifest: Manifest, period_dir: Path) -> Path:
    """manifest.json, atomically."""
    from acm_helpers.packets.render import write_text

    return write_text(period_dir / MANIFEST, manifest.to_json())


def finished_text(iso: str) -> str:
    """ "2026-12-02T01:46:04+00:00" -> "2 December 2026 at 01:46 UTC" (the index's run time)."""
    from datetime import UTC, datetime

    try:
        when = datetime.fromisoformat(iso)
    except (TypeError, ValueError):
        return iso or "–"
    when = when.astimezone(UTC) if when.tzinfo else when
    return f"{when.day} {when:%B %Y} at {when:%H:%M} UTC"


def write_index(manifest: Manifest, period_dir: Path, status: Any = None) -> Path:
    """index.html: the providers' status grid (when ``status`` is given), then the build log
    (one row per packet with links to its files, its status and any failure) in a collapsed
    section.

    Args:
        manifest: the run's record.
        period_dir: the period's output folder.
        status: :func:`acm_helpers.batch.portfolio.portfolio_status` for the period, computed
            once by the run; ``None`` writes the build log alone (a run of bare jobs).
    """
    from html import escape

    from acm_helpers.batch.portfolio import duration, grid_html
    from acm_helpers.core.calendar import month_name
    from acm_helpers.packets.render import TEMPLATES, check_offline, write_text

    css = (TEMPLATES / "packet" / "packet.css").read_text(encoding="utf-8")
    rows = []
    for p in manifest.packets:
        links = " ".join(
            f'<a href="{escape(path)}">{escape(kind.upper())}</a>'
            for kind, path in sorted(p.get("files", {}).items())
            if p["status"] == "ok"
        )
        status_text = escape(p["status"]) + (" (unchanged, skipped)" if p.get("skipped") else "")
        err = escape((p.get("error") or {}).get("message", ""))
        cls = "" if p["status"] == "ok" else ' class="acm-flag"'
        secs = p.get("timings", {}).get("total", 0.0)
        rows.append(
            f"<tr><td>{escape(p.get('title') or p['key'])}</td><td>{escape(p.get('audience') or '')}</td>"
            f'<td>{links}</td><td{cls}>{status_text}</td><td class="num">{duration(secs)}</td><td>{err}</td></tr>'
        )
    failures = manifest.failures
    summary = (
        f"{len(manifest.packets) - len(failures)} of {len(manifest.packets)} packets produced"
        + (
            f'; <span class="acm-flag">{len(failures)} failed: '
            + escape(", ".join(f["key"] for f in failures))
            + "</span>"
            if failures
            else ""
        )
    )
    try:
        month = month_name(manifest.period)
    except ValueError:
        month = manifest.period
    log = (
        "<table><thead><tr><th>Packet</th><th>Audience</th><th>Files</th><th>Status</th>"
        '<th class="num">Build time</th><th>Problem</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )
    if status is None:
        main = f"<p>{summary}</p>{log}"
    else:
        ok = {p["key"]: p for p in manifest.packets if p["status"] == "ok"}
        files = {k: p.get("files", {}) for k, p in ok.items()}
        system = files.get(SYSTEM_KEY, {})
        system_links = " · ".join(
            f'<a href="{escape(path)}">{escape(kind.upper())}</a>'
            for kind, path in sorted(system.items())
        )
        main = (
            grid_html(status, files, manifest.period)
            + (
                f"<p>All providers on one page (internal): {system_links}</p>"
                if system_links
                else ""
            )
            + f'<details class="acm-log"><summary>Build log: {summary}</summary>{log}</details>'
        )
    program_name = getattr(status, "attrs", {}).get("program_name") or manifest.program
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Packets, {escape(month)}</title>
<style>{css}</style></head>
<body class="acm-packet acm-index"><main>
<div class="acm-header"><h1>Packets for {escape(month)}</h1>
<div class="meta">{escape(program_name)} · run finished {escape(finished_text(manifest.finished))}
· took {duration(manifest.seconds)} with {manifest.workers} worker{"s" if manifest.workers != 1 else ""}
· <a href="{MANIFEST}">manifest.json</a></div></div>
{main}
</main></body></html>"""
    check_offline(page, where="index.html")
    return write_text(period_dir / INDEX, page)
