"""`acm send`'s rules without a mail server: the program file's delivery settings, which manifest
entries may be sent and why the others are not, the message composed, and the login read from
the environment only (the sending itself: tests/e2e/test_send.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from acm_helpers.core.config import load_program
from acm_helpers.core.errors import ConfigError, DeliveryError
from acm_helpers.delivery import send
from acm_helpers.store.store import Store, sha256_file

ROOT = Path(__file__).resolve().parents[2]
PERIOD = "2026-10"
DELIVERY = {"host": "mail.agency.example", "from_address": "acm@agency.example"}


def _program(tmp_path: Path, delivery=DELIVERY, recipients=None, **provider):
    raw = yaml.safe_load((ROOT / "parameters" / "program.yaml").read_text(encoding="utf-8"))
    if delivery is not None:
        raw["delivery"] = delivery
    for prov in raw["providers"]:
        prov["recipients"] = (recipients or {}).get(prov["id"], [f"director@{prov['id']}.example"])
        if prov["id"] == "harbor":
            prov.update(provider)
    path = tmp_path / "program.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return load_program(path)


def _entry(key: str, period_dir: Path, **over) -> dict:
    """A manifest entry as the batch worker writes it, with its files on disk."""
    files = {}
    hashes = {}
    for kind, name in (("html", "packet.html"), ("pdf", "packet.pdf"), ("xlsx", "appendix.xlsx")):
        path = period_dir / key / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(f"{key} {kind}".encode())
        files[kind] = f"{key}/{name}"
        hashes[kind] = sha256_file(path)
    entry = {
        "key": key,
        "provider": key,
        "audience": "provider",
        "status": "ok",
        "files": files,
        "sha256": hashes,
        "audit": {"checked": sorted(files), "findings": []},
        "error": None,
    }
    entry.update(over)
    return entry


def _manifest(period_dir: Path, entries: list[dict], program_id="homeless_demo") -> None:
    period_dir.mkdir(parents=True, exist_ok=True)
    (period_dir / "manifest.json").write_text(
        json.dumps({"program": program_id, "period": PERIOD, "packets": entries})
    )


@pytest.mark.parametrize(
    "edit, message",
    [
        pytest.param(
            {"recipients": ["not an address"]},
            r"providers\.0\.recipients\.0",
            id="bad-recipient",
        ),
        pytest.param(
            {"delivery": {**DELIVERY, "password": "x"}},
            r"delivery\.password: unknown key",
            id="no-password-in-the-file",
        ),
        pytest.param(
            {"delivery": {**DELIVERY, "security": "none"}},
            r"delivery\.security",
            id="never-unencrypted",
        ),
    ],
)
def test_delivery_settings_are_checked(tmp_path, edit, message):
    raw = yaml.safe_load((ROOT / "parameters" / "program.yaml").read_text(encoding="utf-8"))
    raw["delivery"] = edit.get("delivery", DELIVERY)
    if "recipients" in edit:
        raw["providers"][0]["recipients"] = edit["recipients"]
    path = tmp_path / "program.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_program(path)


def test_each_packet_is_sent_or_refused_with_its_reason(tmp_path):
    program = _program(tmp_path, recipients={"elliott": []})
    period_dir = tmp_path / "outputs" / PERIOD
    leak = {"message": "packet.html names another provider (Cascade Family Services)"}
    entries = [
        _entry("harbor", period_dir),
        _entry("cascade", period_dir, status="privacy_failed", error=leak, files={}),
        _entry("rainier", period_dir, audience="internal", audit=None),
        _entry("northgate", period_dir),
        _entry("elliott", period_dir),
        _entry("_system", period_dir, provider=None, audience="internal"),
    ]
    del entries[3]["files"]["pdf"]  # a --no-pdf run
    _manifest(period_dir, entries)
    result = send.plan(program, Store(tmp_path / "store"), PERIOD, period_dir)
    assert [o.provider_id for o in result.outgoing] == ["harbor"]
    reasons = {n.provider_id: n.reason for n in result.refused}
    assert reasons == {
        "cascade": f"privacy audit failed: {leak['message']}",
        "rainier": "built for the internal audience (providers named, not audited); only "
        "provider packets are sent: run `acm run --audience provider`",
        "northgate": "no PDF (the run was --no-pdf); rebuild with `acm run --force` and PDFs",
        "elliott": "no recipients: add `recipients: [name@example.org]` to provider elliott in "
        "the program file",
        "puget": "no packet for this provider in the period's run (run `acm run` for it)",
    }
    (out,) = result.outgoing
    msg = out.message
    assert msg["To"] == "director@harbor.example"
    assert msg["From"] == '"Regional Homelessness Authority (demo)" <acm@agency.example>'
    assert msg["Message-ID"].endswith("@agency.example>")
    assert out.attachments == [
        ("harbor-2026-10-packet.pdf", len(b"harbor pdf")),
        ("harbor-2026-10-appendix.xlsx", len(b"harbor xlsx")),
    ]
    assert "Harbor Light Housing performance packet, October 2026" in send.describe(out)


def test_xlsx_is_attached_where_configured(tmp_path):
    program = _program(tmp_path, {**DELIVERY, "attach_xlsx": False}, attach_xlsx=None)
    period_dir = tmp_path / PERIOD
    _manifest(period_dir, [_entry("harbor", period_dir), _entry("cascade", period_dir)])
    result = send.plan(program, Store(tmp_path / "s"), PERIOD, period_dir, ["harbor"])
    assert result.outgoing[0].files == ("harbor/packet.pdf",)
    program = _program(tmp_path, {**DELIVERY, "attach_xlsx": False}, attach_xlsx=True)
    result = send.plan(program, Store(tmp_path / "s"), PERIOD, period_dir, ["harbor", "cascade"])
    assert {o.provider_id: o.files for o in result.outgoing} == {
        "harbor": ("harbor/packet.pdf", "harbor/appendix.xlsx"),
        "cascade": ("cascade/packet.pdf",),
    }


def test_a_packet_already_sent_is_not_sent_again_and_a_rebuilt_one_replaces_it(tmp_path):
    program = _program(tmp_path)
    period_dir = tmp_path / PERIOD
    _manifest(period_dir, [_entry("harbor", period_dir)])
    store = Store(tmp_path / "store")
    (out,) = send.plan(program, store, PERIOD, period_dir, ["harbor"]).outgoing
    row = {
        "program": program.id,
        "period": PERIOD,
        "provider_id": "harbor",
        "packet_sha256": out.packet_sha256,
        "files": "[]",
        "recipients": "director@harbor.example",
        "subject": "s",
        "message_id": "<1@agency.example>",
        "sent_at": "2026-11-03T09:00:00+00:00",
    }
    import pandas as pd

    store.append_table(send.SENT, pd.DataFrame([row]))
    again = send.plan(program, store, PERIOD, period_dir, ["harbor"])
    assert again.outgoing == [] and again.already == [
        send.NotSent("harbor", "already sent on 2026-11-03T09:00:00+00:00 (<1@agency.example>)")
    ]
    _manifest(period_dir, [_entry("harbor", period_dir, sha256={})])
    (period_dir / "harbor" / "packet.pdf").write_bytes(b"rebuilt with a corrected submission")
    (rebuilt,) = send.plan(program, store, PERIOD, period_dir, ["harbor"]).outgoing
    assert rebuilt.replaces == "2026-11-03T09:00:00+00:00"
    assert rebuilt.message["Subject"].endswith("(updated)")
    assert "replaces the one sent on 2026-11-03" in send.describe(rebuilt)


def test_the_login_is_read_from_the_environment_only(tmp_path):
    program = _program(tmp_path, {**DELIVERY, "password_env": "AGENCY_SMTP_PASSWORD"})
    with pytest.raises(DeliveryError, match=r"AGENCY_SMTP_PASSWORD is not set\. Set ACM_SMTP_USER"):
        send.credentials(program.delivery, {"ACM_SMTP_USER": "me"})
    assert send.credentials(
        program.delivery, {"ACM_SMTP_USER": "me", "AGENCY_SMTP_PASSWORD": "pw"}
    ) == ("me", "pw")


@pytest.mark.parametrize(
    "setup, message",
    [
        pytest.param("no-delivery", r"no `delivery:` block", id="no-delivery-block"),
        pytest.param("no-manifest", r"No packets for 2026-10: .* Build them first", id="no-run"),
        pytest.param("other-program", r"is the run of program 'family'", id="other-program"),
    ],
)
def test_what_stops_a_send_before_any_message(tmp_path, setup, message):
    program = _program(tmp_path, None if setup == "no-delivery" else DELIVERY)
    period_dir = tmp_path / PERIOD
    if setup == "other-program":
        _manifest(period_dir, [], program_id="family")
    with pytest.raises(DeliveryError, match=message):
        send.plan(program, Store(tmp_path / "s"), PERIOD, period_dir)
