"""Shared, session-scoped fixtures: the demo program, its episodes at a small scale, and a
store loaded with them. Kept cheap (a few seconds) so every tier can use them.

``demo_store`` loads episodes through ``intake.load_canonical`` and runs ``metrics.refresh``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEMO_SCALE = 0.25  # ~5,000 episodes: every story still shows, generation takes < 1 s
DEMO_SEED = 20261023


@pytest.fixture(scope="session")
def program_path() -> Path:
    """The demo homelessness program file."""
    return ROOT / "parameters" / "program.yaml"


@pytest.fixture(scope="session")
def program(program_path):
    """The demo homelessness program (parameters/program.yaml), loaded and validated."""
    from acm_helpers.core.config import load_program

    return load_program(program_path)


@pytest.fixture(scope="session")
def family_program():
    """The second demo program (child welfare, family preservation)."""
    from acm_helpers.core.config import load_program

    return load_program(ROOT / "parameters" / "programs" / "family_preservation.yaml")


@pytest.fixture(scope="session")
def demo_episodes(program):
    """Canonical demo episodes at scale 0.25 (with ``_period``). Treat as read-only."""
    from acm_helpers.demo import generate as demo

    return demo.generate(program, seed=DEMO_SEED, scale=DEMO_SCALE)


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory, program, demo_episodes):
    """A temporary Store holding the demo episodes and the metric tables."""
    from acm_helpers.intake import intake
    from acm_helpers.metrics import engine as metrics
    from acm_helpers.store.store import Store

    store = Store(tmp_path_factory.mktemp("demo_store"))
    intake.load_canonical(store, program, demo_episodes)
    metrics.refresh(program, store)
    return store


@pytest.fixture(scope="session")
def packet_tiles(program, program_path, demo_store):
    """``packet_tiles(provider, grain)``: the headline tile records of a provider's packet for
    2026-10 (``acm_helpers.meetings.tiles``), to compare the staff dashboard's tiles with.

    Month: from ``packets.packet.load``, and checked against the packet's own HTML. Quarter: the
    last complete quarter (2026-Q3), read and put in the provider's view as ``load`` reads months.
    """
    import html

    from acm_helpers.meetings import tiles
    from acm_helpers.metrics import privacy
    from acm_helpers.packets import dashboard, packet

    period = "2026-10"

    def records(provider: str, grain: str) -> list:
        p = packet.load(program_path, demo_store.root, provider, period)
        if grain == "month":
            out = tiles.tiles_of(p.own(), program, period, "month", p.key_metrics())
            body = dashboard.tiles(p).body  # the packet shows these very records
            for t in out:
                assert html.escape(t.shown) in body, (provider, t.metric_id)
                if t.arrow:
                    assert f'class="arrow {t.how}"' in body and t.arrow in body
            return out
        quarter = tiles.complete_period(period, "quarter")
        rows = demo_store.query(
            "SELECT * FROM metric_values WHERE grain = 'quarter' AND period = $q "
            "AND (dimension = '' OR provider_id = $provider)",
            {"q": quarter, "provider": provider},
        )
        rows = privacy.for_audience(rows, program, "provider", provider)
        own = rows[rows["is_self"] & (rows["dimension"].fillna("") == "")]
        return tiles.tiles_of(
            own.set_index("metric_id"), program, quarter, "quarter", p.key_metrics()
        )

    return records


@pytest.fixture(scope="session", autouse=True)
def _pictures_in_a_session_folder(tmp_path_factory):
    """Servers the tests start keep their dashboard pictures in one folder of this session, not
    in the user's cache (where ``acm serve`` keeps them, one folder per store: every test store
    is new, so the cache would fill up with folders no later run can use)."""
    from acm_helpers.explorer import preview

    old = os.environ.get(preview.ENV_PREVIEW_DIR)
    os.environ[preview.ENV_PREVIEW_DIR] = str(tmp_path_factory.mktemp("pictures"))
    yield
    if old is None:
        os.environ.pop(preview.ENV_PREVIEW_DIR, None)
    else:
        os.environ[preview.ENV_PREVIEW_DIR] = old


@pytest.fixture(autouse=True)
def _no_pdf_browser_left_open():
    """A test that printed a PDF in this process leaves no Chromium behind: Playwright's sync
    API allows one instance per thread, so a later test's own ``sync_playwright()`` would fail."""
    yield
    import sys

    render = sys.modules.get("acm_helpers.packets.render")
    if render is not None:
        render.close_browser()


@pytest.fixture
def vega_bundle_file(tmp_path, monkeypatch):
    """A small stand-in for the charts' Vega bundle, put where ``acm serve`` looks for it
    (``$ACM_VEGA_BUNDLE``); the served copy is read afresh before and after the test."""
    from acm_helpers.explorer import vega_bundle

    path = tmp_path / "bundle.js"
    path.write_bytes(b"export default { render() {} };\n// " + b"vega " * 2000)
    monkeypatch.setenv(vega_bundle.ENV_BUNDLE, str(path))
    vega_bundle.served.cache_clear()
    yield path
    vega_bundle.served.cache_clear()
