"""Shared, session-scoped fixtures: the demo program, its episodes at a small scale, and a
store loaded with them. Kept cheap (a few seconds) so every tier can use them.

``demo_store`` grows with the package: it loads episodes through ``intake.load_canonical`` and,
once ``acm_helpers.metrics`` exists, runs ``metrics.refresh``. Tests that need a stage that does
not exist yet are skipped with a message naming the missing module.
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEMO_SCALE = 0.25  # ~5,000 episodes: every story still shows, generation takes < 1 s
DEMO_SEED = 20261023


def _module(name: str):
    """Import ``acm_helpers.<name>`` or skip the requesting test when it does not exist yet."""
    if importlib.util.find_spec(f"acm_helpers.{name}") is None:
        pytest.skip(f"acm_helpers.{name} does not exist yet")
    return importlib.import_module(f"acm_helpers.{name}")


@pytest.fixture(scope="session")
def program_path() -> Path:
    """The demo homelessness program file."""
    return ROOT / "parameters" / "program.yaml"


@pytest.fixture(scope="session")
def program(program_path):
    """The demo homelessness program (parameters/program.yaml), loaded and validated."""
    from acm_helpers.config import load_program

    return load_program(program_path)


@pytest.fixture(scope="session")
def family_program():
    """The second demo program (child welfare, family preservation)."""
    from acm_helpers.config import load_program

    return load_program(ROOT / "parameters" / "programs" / "family_preservation.yaml")


@pytest.fixture(scope="session")
def demo_episodes(program):
    """Canonical demo episodes at scale 0.25 (with ``_period``). Treat as read-only."""
    from acm_helpers import demo

    return demo.generate(program, seed=DEMO_SEED, scale=DEMO_SCALE)


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory, program, demo_episodes):
    """A temporary Store holding the demo episodes (and metric tables when metrics exists)."""
    from acm_helpers.store import Store

    intake = _module("intake")
    store = Store(tmp_path_factory.mktemp("demo_store"))
    intake.load_canonical(store, program, demo_episodes)
    if importlib.util.find_spec("acm_helpers.metrics") is not None:
        metrics = importlib.import_module("acm_helpers.metrics")
        if hasattr(metrics, "refresh"):
            metrics.refresh(program, store)
    return store
