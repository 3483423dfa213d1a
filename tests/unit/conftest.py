"""The unit tier's rule, enforced: a unit test starts no subprocess, kernel, browser or server.

While a test under ``tests/unit`` sets up or runs, every way Python starts a process
(``subprocess.Popen``, ``os.fork``/``posix_spawn``/``system``, multiprocessing's ``fork_exec``),
a Jupyter kernel's launch and a listening socket raise ``TierViolation``. The attempt is also
recorded, so a test whose code under test catches the error (the batch runner records failures
instead of raising) still fails, with a message saying where the test belongs. Playwright starts
its driver through ``subprocess`` and Voilà / Dask listen on sockets, so browsers and servers are
covered too. Threads, DuckDB, pandas, Altair's ``to_dict`` and in-process CLI calls
(``typer.testing.CliRunner``) stay allowed.

Why a guard and not a convention: a unit test that starts a kernel is slow on a loaded machine
and fails on timeouts there, which is how the tiers leaked before (issue 12).
"""

from __future__ import annotations

import _posixsubprocess
import contextlib
import os
import socket
import subprocess
from collections.abc import Iterator

import pytest

MOVE = "move this test to tests/integration (tests/unit starts no subprocess, kernel, browser or server)"


class TierViolation(RuntimeError):
    """A unit test tried to start a process, a kernel or a server."""


def _blocker(what: str, attempts: list[str]):
    def blocked(*args, **kwargs):
        detail = f"{what}({_describe(args)})"
        attempts.append(detail)
        raise TierViolation(f"{detail}: {MOVE}")

    return blocked


def _describe(args: tuple) -> str:
    for arg in args:
        if isinstance(arg, list | tuple | str | bytes):
            return repr(arg)[:120]
    return ""


def _async_blocker(what: str, attempts: list[str]):
    blocked = _blocker(what, attempts)

    async def async_blocked(*args, **kwargs):
        blocked(*args[1:], **kwargs)

    return async_blocked


@contextlib.contextmanager
def guard() -> Iterator[list[str]]:
    """Block process, kernel and server starts; yield the list of attempts made meanwhile."""
    attempts: list[str] = []
    mp = pytest.MonkeyPatch()
    try:
        mp.setattr(subprocess.Popen, "__init__", _popen_blocker(attempts))
        mp.setattr(_posixsubprocess, "fork_exec", _blocker("fork_exec", attempts))
        for name in ("fork", "forkpty", "posix_spawn", "posix_spawnp", "system", "execv", "execve"):
            if hasattr(os, name):
                mp.setattr(os, name, _blocker(f"os.{name}", attempts))
        mp.setattr(socket.socket, "listen", _blocker("socket.listen", attempts))
        try:
            from jupyter_client.provisioning.local_provisioner import LocalProvisioner
        except ImportError:  # pragma: no cover - jupyter_client is a dependency
            pass
        else:
            mp.setattr(
                LocalProvisioner,
                "launch_kernel",
                _async_blocker("jupyter kernel start", attempts),
            )
        yield attempts
    finally:
        mp.undo()


def _popen_blocker(attempts: list[str]):
    blocked = _blocker("subprocess.Popen", attempts)

    def popen_init(self, args, *rest, **kwargs):
        blocked(args)

    return popen_init


def _check(attempts: list[str]) -> None:
    if attempts:
        pytest.fail(f"started {', '.join(dict.fromkeys(attempts))}: {MOVE}", pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item):
    """Fixtures of a unit test are held to the same rule as the test."""
    with guard() as attempts:
        try:
            return (yield)
        finally:
            _check(attempts)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """The test body: any process, kernel or server start fails the test."""
    with guard() as attempts:
        try:
            return (yield)
        finally:
            _check(attempts)
