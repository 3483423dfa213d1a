"""`acm send`: email each provider its month's packet, once, and only a packet that passed.

What is sent: the provider's packet from the period's run (``outputs/<period>/manifest.json``),
its PDF and, where the program (or the provider) says so, its XLSX appendix, to the provider's
``recipients`` in the program file, through the mail server of the program's ``delivery:``
block: SMTP with STARTTLS (or implicit TLS) and a login whose user name and password come from
environment variables, never from the file.

What is refused, each with its reason: a packet whose run did not succeed, one built for the
internal audience, one without a passed privacy audit, one whose files changed after the audit
(the manifest keeps the audited files' hashes), one without a PDF or without recipients.

Never twice: every message sent is logged in the store (table ``packets_sent``: period,
provider, the hash of the files sent, recipients, time, message id), and a packet whose files
were already sent for that period is not sent again. A rebuilt packet (new data, a corrected
submission) has new files and is sent, saying which earlier one it replaces. The log row is
written right after the server accepted the message; a crash in between (between "accepted"
and "logged") is the one way to send a packet twice.
"""

from __future__ import annotations

import hashlib
import json
import os
import smtplib
import ssl
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid
from pathlib import Path
from typing import Any

import pandas as pd

from acm_helpers.batch.worker import MANIFEST
from acm_helpers.core.calendar import month_name
from acm_helpers.core.config import Delivery, Program
from acm_helpers.core.errors import DeliveryError
from acm_helpers.store.store import Store, sha256_file

SENT = "packets_sent"  # append-only: one row per message the mail server accepted
SENT_COLUMNS = (
    "program",
    "period",
    "provider_id",
    "packet_sha256",  # hash over the attached files' hashes: what "already sent" compares
    "files",  # JSON list of the attached files (relative to the period folder)
    "recipients",  # comma-separated
    "subject",
    "message_id",
    "sent_at",
)
MIME = {
    "pdf": ("application", "pdf"),
    "xlsx": ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
}


@dataclass(frozen=True)
class Outgoing:
    """A message ready to go: the provider, its recipients, what is attached, and the message."""

    provider_id: str
    recipients: tuple[str, ...]
    files: tuple[str, ...]  # relative to the period folder
    packet_sha256: str
    replaces: str  # when an earlier packet of this period was sent ("" for none)
    message: EmailMessage = field(compare=False, repr=False)

    @property
    def attachments(self) -> list[tuple[str, int]]:
        """(file name, bytes) of each attachment, as the recipient sees them."""
        return [
            (part.get_filename() or "", len(part.get_content()))
            for part in self.message.iter_attachments()
        ]


@dataclass(frozen=True)
class NotSent:
    """A provider whose packet is not sent, and why."""

    provider_id: str
    reason: str


@dataclass
class SendResult:
    """What :func:`send_period` did (or, in a dry run, would do)."""

    period: str
    dry_run: bool
    outgoing: list[Outgoing] = field(default_factory=list)  # sent, or to be sent (dry run)
    sent: list[dict[str, Any]] = field(default_factory=list)  # the log rows written
    already: list[NotSent] = field(default_factory=list)  # sent before: nothing to do
    refused: list[NotSent] = field(default_factory=list)  # not sendable (or the server refused)


# -- reading the run's record --------------------------------------------------------------------
def read_manifest(period_dir: Path, program: Program, period: str) -> dict[str, Any]:
    """The period's manifest, checked to be this program's.

    Raises:
        DeliveryError: no manifest (no run for that month in that folder), unreadable, or
            written for another program or month.
    """
    path = period_dir / MANIFEST
    if not path.exists():
        raise DeliveryError(
            f"No packets for {period}: {path} not found. Build them first with "
            f"`acm run --period {period}` (same --out folder), then send."
        )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DeliveryError(
            f"{path}: not a readable manifest ({exc}). Re-run `acm run --period {period}`."
        ) from None
    if manifest.get("program") != program.id or manifest.get("period") != period:
        raise DeliveryError(
            f"{path} is the run of program {manifest.get('program')!r}, period "
            f"{manifest.get('period')!r}, not of {program.id!r} {period}: check --program and --out."
        )
    return manifest


def sent_log(store: Store, program_id: str | None = None) -> pd.DataFrame:
    """The send log (every message accepted by the mail server), oldest first."""
    if not store.has_table(SENT):
        return pd.DataFrame(columns=list(SENT_COLUMNS))
    log = store.read_table(SENT)
    if program_id is not None:
        log = log[log["program"] == program_id]
    return log.sort_values("sent_at", ignore_index=True)


def _refusal(entry: dict[str, Any] | None, provider_id: str, program: Program) -> str | None:
    """Why a manifest entry may not be sent (None: it may)."""
    if entry is None:
        return "no packet for this provider in the period's run (run `acm run` for it)"
    status = entry.get("status")
    message = (entry.get("error") or {}).get("message", "")
    if status == "privacy_failed":
        return f"privacy audit failed: {message}"
    if status != "ok":
        return f"the packet was not built ({status}): {message}"
    if entry.get("audience") != "provider":
        return (
            f"built for the {entry.get('audience')} audience (providers named, not audited); "
            "only provider packets are sent: run `acm run --audience provider`"
        )
    audit = entry.get("audit")
    if not audit:
        return "no privacy audit recorded for this packet; rebuild it with `acm run --force`"
    if audit.get("findings"):
        return f"privacy audit found {len(audit['findings'])} problem(s)"
    if "pdf" not in entry.get("files", {}):
        return "no PDF (the run was --no-pdf); rebuild with `acm run --force` and PDFs"
    if not program.provider(provider_id).recipients:
        return (
            f"no recipients: add `recipients: [name@example.org]` to provider {provider_id} "
            "in the program file"
        )
    return None


def _attached_kinds(program: Program, provider_id: str) -> list[str]:
    prov = program.provider(provider_id)
    xlsx = prov.attach_xlsx if prov.attach_xlsx is not None else program.delivery.attach_xlsx
    return ["pdf", "xlsx"] if xlsx else ["pdf"]


def packet_hash(hashes: Sequence[str]) -> str:
    """One hash over the attached files' SHA-256s (order as attached)."""
    return hashlib.sha256("\n".join(hashes).encode()).hexdigest()


# -- composing ------------------------------------------------------------------------------------
def compose(
    program: Program,
    provider_id: str,
    period: str,
    attachments: Sequence[tuple[str, Path]],
    replaces: str = "",
) -> EmailMessage:
    """The message to one provider: who from and to, a subject naming the month, a short body
    saying what is attached, and the files (named ``<provider>-<period>-<file>``)."""
    delivery = program.delivery
    prov = program.provider(provider_id)
    month = month_name(period)
    msg = EmailMessage()
    msg["From"] = formataddr((delivery.from_name or program.agency or "", delivery.from_address))
    msg["To"] = ", ".join(prov.recipients)
    if delivery.reply_to:
        msg["Reply-To"] = delivery.reply_to
    msg["Subject"] = f"{program.name}: {prov.name} performance packet, {month}" + (
        " (updated)" if replaces else ""
    )
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = make_msgid(domain=delivery.from_address.rsplit("@", 1)[1])
    names = [f"{provider_id}-{period}-{Path(rel).name}" for rel, _ in attachments]
    again = f"\nThis packet replaces the one sent on {replaces[:10]}.\n" if replaces else ""
    msg.set_content(
        f"Dear {prov.name} team,\n\n"
        f"Attached is your Active Contract Management packet for {month} ({program.name}, "
        f"contract {prov.contract_id}): {', '.join(names)}.\n{again}\n"
        "Small numbers are suppressed and other providers are shown anonymously, as in every "
        "packet. Questions about a number can be brought to the monthly meeting.\n\n"
        f"{delivery.from_name or program.agency or program.name}\n"
    )
    for (_, path), name in zip(attachments, names, strict=True):
        kind = path.suffix.lstrip(".").lower()
        maintype, subtype = MIME.get(kind, ("application", "octet-stream"))
        msg.add_attachment(path.read_bytes(), maintype=maintype, subtype=subtype, filename=name)
    return msg


def plan(
    program: Program,
    store: Store,
    period: str,
    period_dir: Path,
    providers: Sequence[str] | None = None,
) -> SendResult:
    """Decide, for each provider, whether its packet goes out, was sent already or is refused,
    and compose the messages that go out (nothing is sent here).

    Raises:
        DeliveryError: no ``delivery:`` block in the program file, or no manifest.
        UnknownIdError: an unknown provider in ``providers``.
    """
    if program.delivery is None:
        raise DeliveryError(
            "The program file has no `delivery:` block: add one with the mail server (host, "
            "port, from_address) and each provider's `recipients` (docs/admin/sending.md)."
        )
    program.check_period(period)
    ids = [program.provider(p).id for p in providers] if providers else program.provider_ids
    manifest = read_manifest(period_dir, program, period)
    entries = {e.get("key"): e for e in manifest.get("packets", [])}
    log = sent_log(store, program.id)
    log = log[log["period"] == period]
    result = SendResult(period=period, dry_run=True)
    for pid in ids:
        entry = entries.get(pid)
        reason = _refusal(entry, pid, program)
        if reason is None:
            reason, files, hashes = _check_files(entry, _attached_kinds(program, pid), period_dir)
        if reason is not None:
            result.refused.append(NotSent(pid, reason))
            continue
        digest = packet_hash(hashes)
        mine = log[log["provider_id"] == pid]
        done = mine[mine["packet_sha256"] == digest]
        if len(done):
            first = done.iloc[0]
            result.already.append(
                NotSent(pid, f"already sent on {first['sent_at']} ({first['message_id']})")
            )
            continue
        replaces = str(mine["sent_at"].iloc[-1]) if len(mine) else ""
        attachments = [(rel, period_dir / rel) for rel in files]
        message = compose(program, pid, period, attachments, replaces)
        result.outgoing.append(
            Outgoing(
                pid,
                tuple(program.provider(pid).recipients),
                tuple(files),
                digest,
                replaces,
                message,
            )
        )
    return result


def _check_files(
    entry: dict[str, Any], kinds: Sequence[str], period_dir: Path
) -> tuple[str | None, list[str], list[str]]:
    """The attached files (relative paths) and their hashes, or why they cannot be sent: a file
    missing, or changed since the privacy audit passed it."""
    files, hashes = [], []
    audited = entry.get("sha256") or {}
    for kind in kinds:
        rel = entry.get("files", {}).get(kind)
        if rel is None:
            return f"no {kind.upper()} in the packet, and the program attaches it", [], []
        path = period_dir / rel
        if not path.is_file():
            return f"{path} is missing (moved or deleted after the run)", [], []
        digest = sha256_file(path)
        if kind in audited and audited[kind] != digest:
            return f"{rel} changed after its privacy audit; rebuild with `acm run --force`", [], []
        files.append(rel)
        hashes.append(digest)
    return None, files, hashes


# -- sending ----------------------------------------------------------------------------------------
def credentials(delivery: Delivery, environ: Mapping[str, str]) -> tuple[str, str]:
    """The login from the environment variables the ``delivery:`` block names.

    Raises:
        DeliveryError: naming the variables that are not set.
    """
    missing = [v for v in (delivery.username_env, delivery.password_env) if not environ.get(v)]
    if missing:
        raise DeliveryError(
            f"The mail server login is read from the environment; {' and '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not set. Set {delivery.username_env} and "
            f"{delivery.password_env} (never in the program file), or use --dry-run to see the "
            "messages without sending."
        )
    return environ[delivery.username_env], environ[delivery.password_env]


def connect(delivery: Delivery, environ: Mapping[str, str], base: Path) -> smtplib.SMTP:
    """An encrypted, logged-in connection to the program's mail server.

    The certificate is verified (the system's authorities, or ``ca_file`` relative to
    ``base``); the login is sent only after TLS is up.

    Raises:
        DeliveryError: no login in the environment, the server unreachable, no STARTTLS, a
            certificate that does not verify, or the login refused.
    """
    user, password = credentials(delivery, environ)
    cafile = None
    if delivery.ca_file:
        cafile = Path(delivery.ca_file)
        cafile = cafile if cafile.is_absolute() else base / cafile
        if not cafile.is_file():
            raise DeliveryError(f"delivery.ca_file {cafile} not found; fix the path.")
    context = ssl.create_default_context(cafile=str(cafile) if cafile else None)
    where = f"{delivery.host}:{delivery.port}"
    try:
        if delivery.security == "ssl":
            smtp = smtplib.SMTP_SSL(
                delivery.host, delivery.port, timeout=delivery.timeout_s, context=context
            )
        else:
            smtp = smtplib.SMTP(delivery.host, delivery.port, timeout=delivery.timeout_s)
            smtp.ehlo()
            if not smtp.has_extn("starttls"):
                smtp.quit()
                raise DeliveryError(
                    f"The mail server {where} does not offer STARTTLS; the login is never sent "
                    "unencrypted. Use the server's submission port, or security: ssl."
                )
            smtp.starttls(context=context)
            smtp.ehlo()
        smtp.login(user, password)
    except smtplib.SMTPAuthenticationError as exc:
        raise DeliveryError(
            f"The mail server {where} refused the login of {user!r} ({exc.smtp_code}); check "
            f"{delivery.username_env} and {delivery.password_env}."
        ) from None
    except ssl.SSLError as exc:
        raise DeliveryError(
            f"TLS with {where} failed ({exc.reason or exc}); if the server's certificate is the "
            "agency's own, set delivery.ca_file to its CA bundle."
        ) from None
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryError(
            f"Cannot reach the mail server {where}: {exc}. Check delivery.host and port."
        ) from None
    return smtp


def send_period(
    program: Program,
    store: Store,
    period: str,
    period_dir: Path,
    *,
    providers: Sequence[str] | None = None,
    dry_run: bool = False,
    environ: Mapping[str, str] | None = None,
    base: Path | None = None,
    echo: Callable[[str], None] | None = None,
) -> SendResult:
    """``acm send``: send each provider's packet for ``period`` that may go and was not sent.

    Holds the store's write lock while sending, so two ``acm send`` runs cannot both send the
    same packet; each message is logged as soon as the server accepted it. A message the server
    refuses (a bad recipient) is reported as refused and the others still go.

    Args:
        program: the program (its ``delivery:`` block and providers' recipients).
        store: where the send log is kept.
        period: YYYY-MM.
        period_dir: the run's folder, ``<out>/<period>`` (manifest and packets).
        providers: a subset of provider ids (default: all).
        dry_run: compose and return the messages, send nothing, log nothing, no login needed.
        environ: where the login is read (default: ``os.environ``).
        base: folder a relative ``delivery.ca_file`` is taken from (default: working folder).
        echo: called with one line per message sent.
    """
    result = plan(program, store, period, period_dir, providers)
    if dry_run or not result.outgoing:
        result.dry_run = dry_run
        return result
    result.dry_run = False
    environ = os.environ if environ is None else environ
    credentials(program.delivery, environ)  # before the lock and the connection: fail fast
    with store.writing("acm send"):
        # re-plan under the lock: another `acm send` may have sent some meanwhile
        result = plan(program, store, period, period_dir, providers)
        result.dry_run = False
        if not result.outgoing:
            return result
        smtp = connect(program.delivery, environ, base or Path.cwd())
        try:
            for out in result.outgoing:
                try:
                    smtp.send_message(out.message)
                except smtplib.SMTPException as exc:
                    result.refused.append(
                        NotSent(out.provider_id, f"the mail server refused the message: {exc}")
                    )
                    continue
                row = {
                    "program": program.id,
                    "period": period,
                    "provider_id": out.provider_id,
                    "packet_sha256": out.packet_sha256,
                    "files": json.dumps(list(out.files)),
                    "recipients": ", ".join(out.recipients),
                    "subject": str(out.message["Subject"]),
                    "message_id": str(out.message["Message-ID"]),
                    "sent_at": datetime.now(UTC).isoformat(timespec="seconds"),
                }
                store.append_table(SENT, pd.DataFrame([row], columns=list(SENT_COLUMNS)))
                result.sent.append(row)
                if echo:
                    echo(f"sent {out.provider_id}: {row['recipients']} ({row['message_id']})")
        finally:
            try:
                smtp.quit()
            except smtplib.SMTPException:
                smtp.close()
    result.outgoing = [
        o for o in result.outgoing if o.provider_id in {r["provider_id"] for r in result.sent}
    ]
    return result


def describe(out: Outgoing) -> str:
    """A message as `acm send --dry-run` shows it: headers, body and attachments."""
    msg = out.message
    head = "\n".join(f"{k}: {msg[k]}" for k in ("From", "To", "Reply-To", "Subject") if msg[k])
    body = msg.get_body(preferencelist=("plain",))
    text = body.get_content().rstrip() if body is not None else ""
    files = "\n".join(f"  attached: {name} ({size:,} bytes)" for name, size in out.attachments)
    return f"{head}\n\n{text}\n{files}"
