"""``acm serve`` as a command: refuses unusable inputs with a plain message, and a token locks
the page. No browser here (tests/e2e/test_voila.py drives one)."""

from __future__ import annotations

import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from acm_helpers.explorer.serve import BackgroundServer, free_port

ROOT = Path(__file__).resolve().parents[2]
ACM = [sys.executable, "-c", "from acm_helpers.cli import main; main()"]
# Bounds on a hang (a loaded 2-core machine starts Python, Voila and a kernel slowly), not
# thresholds: each wait ends as soon as its event happens.
HANG_S = 600


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # report the redirect itself, not the login page it leads to


def _status(url: str) -> tuple[int, str]:
    """HTTP status and redirect target of a GET, without following redirects."""
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(url, timeout=HANG_S) as resp:
            return resp.status, ""
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Location", "")


@pytest.mark.parametrize(
    "args, message",
    [
        pytest.param(["--port", "0"], "Port 0 is not between 1 and 65535", id="bad-port"),
        pytest.param(
            ["--program", "nope.yaml"], "Program file nope.yaml not found", id="no-program-file"
        ),
        pytest.param(["--data-dir", "{empty}"], "no metric_values in", id="store-without-metrics"),
    ],
)
def test_serve_refuses_unusable_inputs_plainly(tmp_path, args, message):
    args = [a.replace("{empty}", str(tmp_path)) for a in args]
    proc = subprocess.run(
        [*ACM, "serve", *args], cwd=ROOT, capture_output=True, text=True, timeout=HANG_S
    )
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_token_locks_the_page(demo_store, program_path):
    if not demo_store.has_table("metric_values"):
        pytest.skip("the demo store has no metric_values yet (acm_helpers.metrics.engine)")
    port = free_port()
    args = [
        "--port",
        str(port),
        "--program",
        str(program_path),
        "--data-dir",
        str(demo_store.root),
        "--token",
        "s3cret",
        "--no-preheat",
    ]
    with BackgroundServer(args, ROOT, preheat=False, timeout=HANG_S) as srv:
        base = f"http://127.0.0.1:{port}/"
        status, where = _status(base)
        assert status == 302 and "/login" in where  # to the token form, no dashboard
        status, where = _status(base + "?token=wrong")
        assert status == 302 and "/login" in where
        assert _status(base + "?token=s3cret") == (200, "")
        assert "127.0.0.1" in srv.log  # bound to this machine only
