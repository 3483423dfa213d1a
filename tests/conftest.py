"""Shared, session-scoped fixtures: the demo program, its episodes at a small scale, and a
store loaded with them. Kept cheap (a few seconds) so every tier can use them.

``demo_store`` loads episodes through ``intake.load_canonical`` and runs ``metrics.refresh``.
"""

from __future__ import annotations

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
