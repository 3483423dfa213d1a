"""`acm send` against a local mail server (aiosmtpd on 127.0.0.1, STARTTLS with a certificate
made here by trustme, AUTH LOGIN required): the provider packets of a real run are emailed with
their PDF and XLSX, a packet whose privacy audit failed is not sent, a re-run sends nothing
twice, and a dry run shows the messages and sends nothing."""

from __future__ import annotations

import dataclasses
import email
import email.policy
import json
import socket
import ssl
import threading
from pathlib import Path

import nbformat
import pytest
import yaml
from typer.testing import CliRunner

from acm_helpers.batch import run as batch
from acm_helpers.cli import app
from acm_helpers.core.config import load_program
from acm_helpers.core.errors import DeliveryError
from acm_helpers.delivery import send
from acm_helpers.store.store import Store

aiosmtpd_controller = pytest.importorskip("aiosmtpd.controller")
from aiosmtpd.smtp import AuthResult, LoginPassword  # noqa: E402

trustme = pytest.importorskip("trustme")

ROOT = Path(__file__).resolve().parents[2]
PERIOD = "2026-10"
USER, PASSWORD = "acm-sender", "s3cret-for-tests"
LOGIN = {"ACM_SMTP_USER": USER, "ACM_SMTP_PASSWORD": PASSWORD}
pytestmark = pytest.mark.slow


class Inbox:
    """aiosmtpd handler keeping every message with how it arrived (TLS, login)."""

    def __init__(self) -> None:
        self.messages: list[dict] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        with self.lock:
            self.messages.append(
                {
                    "from": envelope.mail_from,
                    "to": list(envelope.rcpt_tos),
                    "message": email.message_from_bytes(
                        envelope.content, policy=email.policy.default
                    ),
                    "tls": session.ssl is not None,
                    "login": _text(session.auth_data.login) if session.auth_data else None,
                }
            )
        return "250 OK"


def _authenticate(server, session, envelope, mechanism, auth_data):
    """Accept the test login over AUTH LOGIN only (``handled=False``: the server answers 535)."""
    ok = (
        mechanism == "LOGIN"
        and isinstance(auth_data, LoginPassword)
        and (_text(auth_data.login), _text(auth_data.password)) == (USER, PASSWORD)
    )
    return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def mail(tmp_path_factory):
    """The local mail server: STARTTLS required, AUTH LOGIN only, stopped at the end."""
    folder = tmp_path_factory.mktemp("mail")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_ctx)
    ca_file = folder / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    inbox = Inbox()
    port = _free_port()
    controller = aiosmtpd_controller.Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        tls_context=server_ctx,
        require_starttls=True,
        auth_required=True,
        auth_exclude_mechanism=["PLAIN"],
        authenticator=_authenticate,
    )
    controller.start()
    try:
        yield {"port": port, "ca_file": ca_file, "inbox": inbox}
    finally:
        controller.stop()


def _planted(tmp_path: Path) -> Path:
    """The dashboard template with another provider's name in it: the audit fails it."""
    nb = nbformat.read(str(ROOT / "notebooks" / "02_dashboard.ipynb"), as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell("Harbor Light Housing houses more clients."))
    path = tmp_path / "planted.ipynb"
    nbformat.write(nb, str(path))
    return path


@pytest.fixture(scope="module")
def run(mail, demo_store, program_path, tmp_path_factory):
    """A program file with a mail server and recipients, and a provider run of two packets
    (with PDFs): harbor's passes its audit, cascade's (a planted peer name) fails it."""
    folder = tmp_path_factory.mktemp("send")
    raw = yaml.safe_load(Path(program_path).read_text(encoding="utf-8"))
    raw["delivery"] = {
        "host": "127.0.0.1",
        "port": mail["port"],
        "ca_file": str(mail["ca_file"]),
        "from_address": "acm@agency.example",
        "from_name": "Contracts team",
        "attach_xlsx": True,
    }
    for prov in raw["providers"]:
        prov["recipients"] = {
            "harbor": ["director@harbor.example", "data@harbor.example"],
            "cascade": ["director@cascade.example"],
        }.get(prov["id"], [])
    prog_file = folder / "program.yaml"
    prog_file.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    program = load_program(prog_file)
    jobs = batch.plan_period(
        program,
        PERIOD,
        program_path=prog_file,
        data_dir=demo_store.root,
        providers=["harbor", "cascade"],
        system=False,
    )
    jobs = [
        dataclasses.replace(j, template=str(_planted(folder))) if j.key == "cascade" else j
        for j in jobs
    ]
    out = folder / "outputs"
    settings = batch.Settings(
        program_path=str(prog_file),
        data_dir=str(demo_store.root),
        period_dir=str(out / PERIOD),
        pdf=True,
        kernel="fresh",
    )
    manifest = batch.run(
        jobs, settings, workers=2, program_id=program.id, period=PERIOD, progress=False
    )
    by = {p["key"]: p for p in manifest.packets}
    assert by["harbor"]["status"] == "ok", by["harbor"].get("error")
    assert by["cascade"]["status"] == "privacy_failed", by["cascade"].get("error")
    log_store = Store(folder / "log")  # the send log, apart from the shared demo store
    return {"program": program, "file": prog_file, "out": out, "store": log_store}


def _cli(run, *extra: str, env: dict | None = None):
    args = [
        "send",
        "--period",
        PERIOD,
        "--providers",
        "harbor,cascade",
        "--program",
        str(run["file"]),
        "--data-dir",
        str(run["store"].root),
        "--out",
        str(run["out"]),
        *extra,
    ]
    return CliRunner().invoke(app, args, env=env or {}, catch_exceptions=False)


def test_dry_run_shows_the_messages_and_sends_nothing(run, mail):
    before = len(mail["inbox"].messages)
    result = _cli(run, "--dry-run", env={"ACM_SMTP_USER": "", "ACM_SMTP_PASSWORD": ""})
    out = result.output
    assert result.exit_code == 1, out  # cascade is refused
    assert "== would send harbor" in out
    assert "To: director@harbor.example, data@harbor.example" in out
    assert (
        "Subject: Homelessness Response Services (demo): Harbor Light Housing performance packet, October 2026"
        in out
    )
    assert "attached: harbor-2026-10-packet.pdf" in out and "harbor-2026-10-appendix.xlsx" in out
    assert "NOT SENT cascade: privacy audit failed" in out
    assert "1 to send (dry run), 0 already sent, 1 not sent" in out
    assert len(mail["inbox"].messages) == before
    assert send.sent_log(run["store"]).empty


def test_the_login_comes_from_the_environment(run, mail):
    with pytest.raises(DeliveryError, match="ACM_SMTP_USER and ACM_SMTP_PASSWORD are not set"):
        send.send_period(run["program"], run["store"], PERIOD, run["out"] / PERIOD, environ={})
    with pytest.raises(DeliveryError, match="refused the login of 'acm-sender'"):
        send.send_period(
            run["program"],
            run["store"],
            PERIOD,
            run["out"] / PERIOD,
            providers=["harbor"],
            environ={**LOGIN, "ACM_SMTP_PASSWORD": "wrong"},
        )
    assert send.sent_log(run["store"]).empty


def test_send_emails_the_passed_packet_once_and_refuses_the_failed_one(run, mail):
    inbox = mail["inbox"]
    before = len(inbox.messages)
    result = _cli(run, env=LOGIN)
    assert result.exit_code == 1, result.output  # cascade refused: the exit code says so
    assert "sent harbor: director@harbor.example, data@harbor.example" in result.output
    assert "NOT SENT cascade: privacy audit failed" in result.output
    got = inbox.messages[before:]
    assert len(got) == 1
    msg = got[0]
    assert msg["tls"] and msg["login"] == USER
    assert msg["from"] == "acm@agency.example"
    assert msg["to"] == ["director@harbor.example", "data@harbor.example"]
    m = msg["message"]
    assert m["Subject"].endswith("Harbor Light Housing performance packet, October 2026")
    period_dir = run["out"] / PERIOD
    attached = {
        a.get_filename(): (a.get_content_type(), a.get_content()) for a in m.iter_attachments()
    }
    assert attached == {
        "harbor-2026-10-packet.pdf": (
            "application/pdf",
            (period_dir / "harbor" / "packet.pdf").read_bytes(),
        ),
        "harbor-2026-10-appendix.xlsx": (
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            (period_dir / "harbor" / "appendix.xlsx").read_bytes(),
        ),
    }
    assert "packet for October 2026" in m.get_body(preferencelist=("plain",)).get_content()
    log = send.sent_log(run["store"])
    assert log[["period", "provider_id", "recipients"]].values.tolist() == [
        [PERIOD, "harbor", "director@harbor.example, data@harbor.example"]
    ]
    assert log["message_id"].iloc[0] == m["Message-ID"]
    assert json.loads(log["files"].iloc[0]) == ["harbor/packet.pdf", "harbor/appendix.xlsx"]

    # a re-run sends nothing twice
    again = _cli(run, env=LOGIN)
    assert "unchanged harbor: already sent on" in again.output
    assert "0 sent, 1 already sent, 1 not sent" in again.output
    assert len(inbox.messages) == before + 1
    assert len(send.sent_log(run["store"])) == 1


def test_a_packet_changed_after_its_audit_is_not_sent(run, tmp_path):
    """The manifest keeps the audited files' hashes; a file edited afterwards is refused."""
    period_dir = tmp_path / PERIOD
    for name in ("manifest.json", "harbor/packet.pdf", "harbor/appendix.xlsx"):
        (period_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (period_dir / name).write_bytes((run["out"] / PERIOD / name).read_bytes())
    with open(period_dir / "harbor" / "packet.pdf", "ab") as fh:
        fh.write(b"% edited by hand\n")
    result = send.plan(run["program"], Store(tmp_path / "log"), PERIOD, period_dir, ["harbor"])
    assert result.outgoing == []
    assert result.refused == [
        send.NotSent(
            "harbor",
            "harbor/packet.pdf changed after its privacy audit; rebuild with `acm run --force`",
        )
    ]
