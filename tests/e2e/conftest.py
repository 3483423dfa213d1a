"""Browser fixtures shared by the dashboard's browser tests (test_voila.py,
test_voila_kernels.py, test_jupyterhub.py): one headless Chromium per test module, one folder
for screenshots, and browser contexts that may reach this machine only."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from acm_helpers.packets.render import CHROMIUM, CHROMIUM_ARGS

# Playwright's waits only bound a hang (a 2-core machine at load average 8 and more): not
# thresholds. A test module may pass a shorter default to its contexts.
LAUNCH_MS = 600_000
# What a page may reach: this machine and inline data; anything else is blocked and recorded.
LOCAL = ("http://127.0.0.1", "ws://127.0.0.1", "http://localhost", "data:", "blob:")


@pytest.fixture(scope="module")
def browser():
    """Headless Debian Chromium (skipped when it or Playwright is missing: make system-deps)."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Debian chromium is not installed ({CHROMIUM}; make system-deps)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=LAUNCH_MS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    """Where screenshots go: ``$ACM_SCREENSHOT_DIR``, else a temporary folder."""
    out = Path(os.environ.get("ACM_SCREENSHOT_DIR") or tmp_path_factory.mktemp("screenshots"))
    out.mkdir(parents=True, exist_ok=True)
    return out


@pytest.fixture()
def local_context(browser):
    """Make a fresh browser profile that may reach this machine only: ``local_context(timeout_ms,
    **new_context_kwargs)``; the context's ``blocked`` lists every address it refused. Closed
    after the test."""
    made = []

    def make(timeout_ms: int, **kwargs):
        context = browser.new_context(**kwargs)
        context.set_default_timeout(timeout_ms)
        context.blocked = []

        def route(r):
            if r.request.url.startswith(LOCAL):
                r.continue_()
            else:
                context.blocked.append(r.request.url)
                r.abort()

        context.route("**/*", route)
        made.append(context)
        return context

    yield make
    for context in made:
        context.close()
