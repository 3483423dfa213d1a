"""What a forked child process does the same way wherever this package forks: the batch run's
notebook forks (:mod:`acm_helpers.batch.forked`) and the dashboard's kernel forks
(:mod:`acm_helpers.explorer.kernel_forks`)."""

from __future__ import annotations

import os
import sys
from typing import NoReturn


def detach_stdin() -> None:
    """Make standard input ``/dev/null``: a fork must never read its server's input (the
    server's life line: it ends when that input closes)."""
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)


def end_process(code: int) -> NoReturn:
    """Flush standard output and error, then end this process at once with ``code``. Not the
    interpreter's own exit: the fork has nothing of its own to clean up, and the exit handlers
    it inherited belong to its server."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)
