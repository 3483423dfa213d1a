"""The staff dashboard behind JupyterHub, as deployed: ``deploy/jupyterhub/jupyterhub_config.py``
run by ``jupyterhub`` on 127.0.0.1 free ports in a temporary folder, the shared-password
authenticator standing in for OAuth/LDAP, configurable-http-proxy from npm
(``deploy/jupyterhub/node_modules``, installed by ``make system-deps``).

What is checked is what a visitor meets: without a login, the dashboard's address leads to the
hub's login page and shows no dashboard, both before the user's server runs (the hub answers)
and after (the user's own Voilà server answers, through JupyterHub's identity provider); a wrong
password stays on the login page; a logged-in staff member lands on the dashboard and its charts
are drawn; another logged-in user cannot open it. Debian's Chromium, driven by Playwright, may
reach 127.0.0.1 only (every other request is aborted, recorded and must not happen).
Screenshots go to ``$ACM_SCREENSHOT_DIR`` (default: pytest's tmp dir).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from acm_helpers.explorer.serve import free_port
from acm_helpers.packets.render import CHROMIUM

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "jupyterhub"
PASSWORD = "staff-password-for-tests"  # the shared-password authenticator wants 8+ characters
DRAWN = ".acm-charts svg [role='graphics-symbol']"  # Vega marks: a chart was drawn
# Bounds on a hang, sized for a loaded 2-core machine (the user's server starts Python, Voilà
# and a preheated kernel that loads the data): every wait ends as soon as its event happens.
WAIT_MS = 600_000
HUB_READY_S = 300


def _missing(what: str) -> None:
    """Skip when a system tool is missing on a developer's machine; fail in CI, which must run
    this test (`.ci/run` installs the tools)."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{what}: CI must run the JupyterHub test (make system-deps installs it)")
    pytest.skip(f"{what} (make system-deps installs it)")


def _proxy() -> str | None:
    local = DEPLOY / "node_modules" / ".bin" / "configurable-http-proxy"
    return str(local) if local.exists() else shutil.which("configurable-http-proxy")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # report each redirect instead of following it


def _walk(url: str, hops: int = 8) -> list[tuple[int, str, str]]:
    """GET ``url`` without cookies and follow redirects by hand: ``(status, url, body)`` per hop,
    so a test sees who redirected where."""
    opener = urllib.request.build_opener(_NoRedirect)
    chain = []
    for _ in range(hops):
        try:
            with opener.open(url, timeout=120) as resp:
                chain.append((resp.status, url, resp.read().decode("utf-8", "replace")))
                return chain
        except urllib.error.HTTPError as exc:
            chain.append((exc.code, url, exc.read().decode("utf-8", "replace")))
            where = exc.headers.get("Location")
            if exc.code not in (301, 302, 303, 307) or not where:
                return chain
            url = urllib.parse.urljoin(url, where)
    return chain


def _path(url: str) -> str:
    return urllib.parse.urlparse(url).path


def _stop(proc: subprocess.Popen, tmp: Path) -> None:
    """Stop the hub and everything it started, even when it crashed: SIGTERM to its process
    group (the hub then stops the users' servers and the proxy), SIGKILL after 60 s, then kill
    the process group of any leftover the hub started in its own session (proxy, user servers,
    kernels), found as its descendants or by a working directory in this test's folder."""
    import psutil

    ours = os.getpgrp()
    try:
        left = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        left = []
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    for p in psutil.process_iter(["pid"]):
        try:
            if Path(p.cwd()).is_relative_to(tmp):
                left.append(p)
        except (psutil.Error, OSError):
            continue
    for p in left:
        try:
            group = os.getpgid(p.pid)
            if group != ours:
                os.killpg(group, signal.SIGKILL)
            else:
                p.kill()
        except (ProcessLookupError, psutil.Error):
            continue


@pytest.fixture(scope="module")
def hub(tmp_path_factory, demo_store, program_path):
    """The deployed hub on free 127.0.0.1 ports; ``hub.url`` is its public address."""
    if not demo_store.has_table("metric_values"):
        pytest.skip("the demo store has no metric_values yet (acm_helpers.metrics.engine)")
    if not Path(CHROMIUM).exists():
        _missing(f"Debian chromium is not installed ({CHROMIUM})")
    proxy = _proxy()
    if proxy is None:
        _missing("configurable-http-proxy is not installed (npm ci in deploy/jupyterhub)")
    jupyterhub = Path(sys.executable).with_name("jupyterhub")
    if not jupyterhub.exists():
        _missing("jupyterhub is not installed in this environment (the dev extra)")
    tmp = tmp_path_factory.mktemp("jupyterhub")
    port = free_port()
    env = {
        **os.environ,
        "ACM_PROGRAM": str(program_path),
        "ACM_DATA_DIR": str(demo_store.root),
        "ACM_HUB_STATE": str(tmp / "state"),
        "ACM_HUB_PORT": str(port),
        "ACM_HUB_API_PORT": str(free_port()),
        "ACM_HUB_PROXY_API_PORT": str(free_port()),
        "ACM_HUB_AUTHENTICATOR": "shared-password",
        "ACM_HUB_PASSWORD": PASSWORD,
        "ACM_HUB_USERS": "alice,bob",
    }
    env.pop("ACM_HUB_IP", None)  # the default, 127.0.0.1, is part of what is tested
    log = (tmp / "hub.log").open("w")
    proc = subprocess.Popen(
        [str(jupyterhub), "-f", str(DEPLOY / "jupyterhub_config.py")],
        cwd=tmp,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    proc.url = f"http://127.0.0.1:{port}"
    proc.log = lambda: (tmp / "hub.log").read_text(encoding="utf-8", errors="replace")
    try:
        deadline = time.monotonic() + HUB_READY_S
        while "JupyterHub is now running" not in proc.log():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"jupyterhub did not start (exit {proc.poll()}):\n{proc.log()}")
            time.sleep(0.2)
        yield proc
    finally:
        _stop(proc, tmp)
        log.close()


def _log_in(page, user: str, password: str) -> None:
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", password)
    page.click("#login_submit")


def _sent_to_login(chain) -> str:
    """Assert that a redirect chain ended on the hub's login form and showed no dashboard on the
    way; return the login's ``next`` (where the visitor goes after logging in)."""
    status, url, body = chain[-1]
    assert (status, _path(url)) == (200, "/hub/login"), [c[:2] for c in chain]
    assert 'name="password"' in body  # the login form
    assert not any("acm-explorer" in b or "Provider performance" in b for _, _, b in chain)
    return urllib.parse.parse_qs(urllib.parse.urlparse(url).query)["next"][0]


def test_login_then_dashboard_with_charts(hub, local_context, shots, program):
    dashboard = "/user/alice/"
    link = dashboard + "?provider=harbor"  # a link a colleague sent: it must survive the login
    # 1. No login, no server yet: the hub sends the visitor to its login page.
    chain = _walk(hub.url + link)
    assert chain[0][0] == 302
    assert _sent_to_login(chain) == "/hub" + link  # back to that view after logging in

    context = local_context(WAIT_MS, viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    page.goto(hub.url + link)
    assert _path(page.url) == "/hub/login"
    page.screenshot(path=shots / "hub-login.png")

    # 2. A wrong password stays on the login page.
    _log_in(page, "alice", "not-the-password")
    page.wait_for_selector(".login_error:has-text('Invalid username or password')")
    assert _path(page.url) == "/hub/login"

    # 3. The right one: the hub starts alice's dashboard and she lands on it, charts drawn.
    _log_in(page, "alice", PASSWORD)
    page.wait_for_url(re.compile(r"/hub/spawn-pending/alice|:\d+/user/alice/"))
    if "/hub/spawn-pending/" in page.url:  # what staff see while their dashboard starts
        assert page.get_by_text("Opening your ACM dashboard").count() == 1
        page.screenshot(path=shots / "hub-starting.png")
    page.wait_for_selector(DRAWN, timeout=WAIT_MS)
    assert _path(page.url) == dashboard
    assert page.locator(".acm-explorer").count() == 1
    assert page.locator(DRAWN).count() > 0
    page.wait_for_selector(".acm-explorer.acm-idle", timeout=WAIT_MS)
    shown = page.eval_on_selector(".acm-provider select", "s => s.options[s.selectedIndex].text")
    # the linked view, not the default one (widget labels use no-break spaces)
    assert shown.replace("\xa0", " ") == program.provider("harbor").name
    # who is signed in, and the hub's log-out link (served alone, the line is absent)
    assert page.inner_text(".acm-account").startswith("Signed in as alice")
    assert page.get_attribute(".acm-account a", "href") == "/hub/logout"
    page.screenshot(path=shots / "hub-dashboard.png", full_page=True)
    assert context.blocked == []  # the hub's pages and the dashboard load nothing from outside
    context.close()

    # 4. Her server now runs and answers its own address: still no dashboard without a login.
    # The first hop is the user's server handing the visitor to the hub's OAuth, not the hub.
    chain = _walk(hub.url + dashboard)
    assert [_path(u) for _, u, _ in chain[:2]] == [dashboard, "/hub/api/oauth2/authorize"]
    assert _path(_sent_to_login(chain)) == "/hub/api/oauth2/authorize"

    # 5. Another staff member, logged in, cannot open alice's dashboard.
    context = local_context(WAIT_MS, viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    page.goto(hub.url + "/hub/login?next=%2Fhub%2Fhome")
    _log_in(page, "bob", PASSWORD)
    page.wait_for_url("**/hub/home")
    response = page.goto(hub.url + dashboard)
    assert response.status == 403
    assert page.locator(".acm-explorer").count() == 0
    context.close()
