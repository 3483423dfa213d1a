"""`acm run --meeting TYPE --period P`: build one meeting type's outputs for one period.

The program file declares its meeting types (``meetings.types``; default: a provider check-in
at ``meetings.cadence`` and quarterly internal and learning-circle reviews, see
:class:`acm_helpers.core.config.MeetingType`). This module turns a type and a period into files:

- ``checkin`` at the monthly cadence: the monthly run (:func:`acm_helpers.batch.run.run_period`,
  one dashboard packet per provider and the system packet), unchanged;
- ``checkin`` at another cadence: one page per provider, ``<period>/<provider>/checkin.html``
  (:mod:`acm_helpers.packets.checkin`);
- ``internal_review``: ``<period>/internal_review/review.html`` with the portfolio grid of the
  period's last month (:mod:`acm_helpers.packets.review`);
- ``learning_circle``: ``<period>/learning_circle/learning_circle.html``
  (:mod:`acm_helpers.packets.circle`).

Every provider- or executive-audience page is privacy-audited (:mod:`acm_helpers.packets.audit`)
before it is written: a page with a finding is not published, and the run names it. Each period
folder gets ``meetings.json`` (what was built, audited and refused) and an ``index.html``
linking them, unless the monthly run wrote its own index there.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from html import escape
from pathlib import Path

from acm_helpers.core import text
from acm_helpers.core.calendar import CADENCE_GRAIN, bounds_of
from acm_helpers.core.errors import ConfigError
from acm_helpers.packets import audit, audit_facts, checkin, circle, review
from acm_helpers.packets.audit import SuppressedCell
from acm_helpers.packets.packet import Block
from acm_helpers.packets.page import page
from acm_helpers.packets.render import check_offline, write_text

RECORD = "meetings.json"


@dataclass
class MeetingResult:
    """What one meeting build wrote (paths relative to the period folder) and refused."""

    meeting: str
    period: str
    period_dir: Path
    files: dict[str, str] = field(default_factory=dict)  # key -> relative path
    audited: list[str] = field(default_factory=list)  # keys checked by the privacy audit
    failures: dict[str, list[str]] = field(default_factory=dict)  # key -> findings' messages
    index: Path | None = None


def grain_cells(program, truth, period: str, grain: str, providers: list[str], who) -> list:
    """The suppressed cells of one period at a meeting grain that a page could show, with
    their true numbers (the audit's reference; the monthly facts cover month grain only).

    ``who(provider_id)`` is how the page labels a provider ("" for the page's own provider)."""
    if truth is None or truth.empty:
        return []
    t = truth[
        (truth["grain"] == grain)
        & (truth["period"] == period)
        & (truth["dimension"] == "")
        & truth["provider_id"].isin(providers)
    ]
    out = []
    for row in t.itertuples(index=False):
        metric = program.metric(row.metric_id)
        out.append(
            SuppressedCell(
                metric=metric.label,
                metric_id=row.metric_id,
                group="",
                numbers=frozenset(
                    audit_facts.printed_forms(row.numerator, "number")
                    | audit_facts.printed_forms(row.denominator, "number")
                    | audit_facts.printed_forms(row.value, metric.format)
                ),
                period=str(row.period),
                who=who(row.provider_id),
                current=True,
            )
        )
    return out


def _audit(html: str, facts: audit.PrivacyFacts, name: str) -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_text(html, encoding="utf-8")
        return [f.message for f in audit.check_files([path], facts)]


def run_meeting(
    program_path: str | Path,
    meeting: str,
    period: str,
    *,
    data_dir: str | Path | None = None,
    out_root: str | Path = "outputs",
    providers: list[str] | None = None,
    **monthly,
) -> MeetingResult:
    """Build meeting type ``meeting`` for ``period`` (a label of the type's cadence).

    Args:
        monthly: passed to :func:`~acm_helpers.batch.run.run_period` for the monthly check-in
            (workers, pdf, force, kernel ...).

    Raises:
        ConfigError / UnknownIdError: an unknown meeting type (listing the known ones), or a
            period not of its cadence (naming the form to write).
    """
    from acm_helpers.metrics import engine as metrics
    from acm_helpers.store.store import Store, resolve_paths

    program_path, program, store_dir = resolve_paths(program_path, data_dir)
    kind = program.meeting_type(meeting)
    program.check_meeting_period(period, kind.cadence)
    period_dir = Path(out_root).resolve() / period
    result = MeetingResult(meeting, period, period_dir)
    if kind.template == "checkin" and kind.cadence == "monthly":
        from acm_helpers.batch.run import run_period

        run = run_period(
            program_path,
            period,
            data_dir=data_dir,
            out_root=out_root,
            providers=providers,
            **monthly,
        )
        result.files = {
            p["key"]: f"{p['key']}/" for p in run.manifest.packets if p["status"] == "ok"
        }
        result.failures = {
            f["key"]: [(f.get("error") or {}).get("message", f["status"])]
            for f in run.manifest.failures
        }
        result.index = run.index
        return result
    store = Store(store_dir)
    metrics.refresh(program, store)  # no-op when episodes and definitions are unchanged
    truth = store.suppressed_truth()
    grain = CADENCE_GRAIN[kind.cadence]
    root = store.root
    chosen = providers or program.provider_ids
    pages: list[tuple[str, str, str, audit.PrivacyFacts | None]] = []  # key, path, html, facts
    if kind.template == "learning_circle":
        c = circle.load_circle(program_path, root, period, kind.cadence)
        html = page(f"{program.name}: {kind.title}, {text.period(period)}", circle.blocks(c))
        labels = circle.circle_labels(program)
        base = audit_facts.facts_for(program, store, None, period, truth)
        facts = _replace(
            base,
            suppressed=tuple(
                grain_cells(program, truth, period, grain, program.provider_ids, labels.get)
            ),
            other_labels=tuple(labels.values()),
        )
        pages.append((meeting, f"{meeting}/learning_circle.html", html, facts))
    elif kind.template == "internal_review":
        r = review.load_review(program_path, root, period, kind.cadence)
        grid = _portfolio(program, store, period, period_dir)
        html = page(f"{program.name}: {kind.title}, {text.period(period)}", review.blocks(r, grid))
        pages.append((meeting, f"{meeting}/review.html", html, None))
    else:
        for pid in chosen:
            c = checkin.load_checkin(program_path, root, pid, period, kind.cadence)
            html = page(
                f"{program.provider(pid).name}: {kind.title}, {text.period(period)}",
                checkin.blocks(c, kind.title),
            )
            base = audit_facts.facts_for(program, store, pid, period, truth)
            labels = {**_peer_names(program, pid), pid: ""}
            facts = _replace(
                base,
                suppressed=base.suppressed
                + tuple(
                    grain_cells(program, truth, period, grain, program.provider_ids, labels.get)
                ),
            )
            pages.append((pid, f"{pid}/checkin.html", html, facts))
    for key, rel, html, facts in pages:
        check_offline(html, where=rel)
        if facts is not None:
            result.audited.append(key)
            found = _audit(html, facts, Path(rel).name)
            if found:
                result.failures[key] = found
                continue
        write_text(period_dir / rel, html)
        result.files[key] = rel
    result.index = _write_record(result, program, kind.title)
    return result


def _replace(facts, **changes):
    from dataclasses import replace

    return replace(facts, **changes)


def _peer_names(program, provider: str) -> dict[str, str]:
    from acm_helpers.metrics.privacy import peer_labels

    if program.peers.display == "anonymized":
        return dict(peer_labels(program, provider))
    return {p.id: p.name for p in program.providers}


def _portfolio(program, store, period: str, period_dir: Path) -> Block | None:
    """The portfolio grid of the period's last month, when that month is in the program, linking
    to that month's packets where the monthly run has built them."""
    from acm_helpers.batch.portfolio import attention_order, grid_html, portfolio_status

    end = bounds_of(period)[1]
    month = f"{end.year:04d}-{end.month:02d}"
    if month not in program.periods():
        return None
    status = attention_order(portfolio_status(program, store, month))
    month_dir = period_dir.parent / month
    files = {
        pid: {kind: f"../../{month}/{pid}/packet.{kind}"}
        for pid in program.provider_ids
        for kind in ("html",)
        if (month_dir / pid / f"packet.{kind}").exists()
    }
    built = (
        ""
        if files
        else f" The monthly packets of {escape(text.period(month))} are not built yet "
        f"(<code>acm run --period {escape(month)}</code>), so the packet column is empty."
    )
    body = (
        f"<h2>Where attention is needed, {escape(text.period(month))}</h2>"
        "<p>The portfolio grid of the period's last month (as on the monthly index page)."
        f"{built}</p>" + grid_html(status, files, month)
    )
    return Block("portfolio", body)


def _write_record(result: MeetingResult, program, title: str) -> Path:
    """Add this build to the period's ``meetings.json`` and rewrite its index page."""
    path = result.period_dir / RECORD
    record = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    record[result.meeting] = {
        "title": title,
        "files": result.files,
        "audited": result.audited,
        "failures": result.failures,
    }
    result.period_dir.mkdir(parents=True, exist_ok=True)
    write_text(path, json.dumps(record, indent=2, sort_keys=True))
    index = result.period_dir / "index.html"
    if (result.period_dir / "manifest.json").exists():
        return index  # the monthly run's index stays the period's front page
    rows = []
    for entry in record.values():
        for key, rel in sorted(entry["files"].items()):
            shown = program.provider(key).name if key in program.provider_ids else entry["title"]
            rows.append(
                f'<tr><td>{escape(entry["title"])}</td><td><a href="{escape(rel)}">'
                f"{escape(shown)}</a></td><td>{'audited' if key in entry['audited'] else 'internal'}</td></tr>"
            )
        for key, found in sorted(entry["failures"].items()):
            rows.append(
                f"<tr><td>{escape(entry['title'])}</td><td>{escape(key)}</td>"
                f'<td class="acm-flag">not published: {escape("; ".join(found)[:300])}</td></tr>'
            )
    html = page(
        f"{program.name}: meetings, {text.period(result.period)}",
        [
            Block(
                "index",
                f'<div class="acm-header"><h1>{escape(program.name)}: meetings</h1>'
                f'<div class="meta">{escape(text.period(result.period))}</div></div>'
                "<table><thead><tr><th>Meeting</th><th>Packet</th><th>Privacy audit</th></tr>"
                f"</thead><tbody>{''.join(rows)}</tbody></table>",
            )
        ],
    )
    write_text(index, html)
    return index


def meeting_types_text(program) -> str:
    """One line per meeting type: id, title, cadence, audience (for `acm run` errors/help)."""
    if not program.meetings.all_types():
        raise ConfigError("The program declares no meeting types.")
    return "\n".join(
        f"{k}: {t.title} ({t.cadence}, {t.audience})"
        for k, t in program.meetings.all_types().items()
    )
