"""Dashboard kernels forked from one warm process (acm_helpers.explorer.kernel_forks), driven by
jupyter_client's own kernel manager as jupyter_server drives them: each kernel is a fork of the
kernel fork server, gets the environment and folder it was given, starts clean whatever an
earlier kernel did, can be interrupted and restarted, and is gone after a shutdown or when it
dies. Waits on kernel messages and process state, never on sleeps."""

from __future__ import annotations

import asyncio
import os
import queue
import sys

import psutil
import pytest
from traitlets.config import Config, Configurable

from acm_helpers.explorer import kernel_forks

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="forked kernels need os.fork")


@pytest.fixture(autouse=True)
def _factory_left_as_found():
    """jupyter_client's provisioner factory is a per-process singleton: one configured here for
    forked kernels would hand later tests' kernels (the batch run's warm kernels) to the fork
    server, so it is cleared after each test as well as before."""
    from jupyter_client.provisioning import KernelProvisionerFactory

    KernelProvisionerFactory.clear_instance()
    yield
    KernelProvisionerFactory.clear_instance()


def _manager(**kw):
    from jupyter_client.manager import AsyncKernelManager

    # (the provisioner factory, a per-process singleton, is cleared around each test: the
    # first manager made in a test configures it)
    c = Config()
    c.KernelProvisionerFactory.default_provisioner_name = kernel_forks.PROVISIONER_NAME
    # the factory is configured through the manager's parent, as in jupyter_server
    return AsyncKernelManager(parent=Configurable(config=c), kernel_name="python3", **kw)


async def _ready(kc) -> None:
    """Wait until the kernel answers and its output channel delivers (a subscription made just
    now can miss the first messages): kernel_info requests until a message arrives there."""
    await kc.wait_for_ready(timeout=120)
    for _ in range(240):
        kc.kernel_info()
        try:
            await kc.get_iopub_msg(timeout=0.5)
            return
        except queue.Empty:
            continue
    raise AssertionError("the kernel's output channel never delivered a message")


async def _run(kc, code: str) -> tuple[str, dict]:
    """Execute ``code``; its printed text and the reply's content."""
    out: list[str] = []

    def hook(msg):
        if msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])

    reply = await kc.execute_interactive(code, timeout=120, output_hook=hook)
    return "".join(out), reply["content"]


def _in_own_loop(coro_fn):
    return asyncio.run(coro_fn())


def test_a_kernel_is_a_fork_of_the_server_with_its_own_env_and_folder(tmp_path):
    async def main():
        km = _manager()
        await km.start_kernel(env={**os.environ, "ACM_PROBE": "one"}, cwd=str(tmp_path))
        kc = km.client()
        kc.start_channels()
        try:
            await _ready(kc)
            assert isinstance(km.provisioner, kernel_forks.ForkingProvisioner)
            server = kernel_forks.fork_server()
            kernel = psutil.Process(km.provisioner.pid)
            assert kernel.ppid() == server.pid  # a fork of the warm server, not a new process
            assert os.getpgid(kernel.pid) == kernel.pid  # its own process group (signals)
            text, _ = await _run(
                kc,
                "import os, sys; print(os.environ['ACM_PROBE'], os.getcwd(), "
                "'pandas' in sys.modules, sys.path[0] == os.getcwd())",
            )
            probe, cwd, warm, cwd_first = text.split()
            assert (probe, cwd, warm) == ("one", str(tmp_path), "True")
            assert cwd_first == "False"  # the server's folder is not put first on the path
        finally:
            kc.stop_channels()
            await km.shutdown_kernel()
        assert not await km.is_alive()
        assert not psutil.pid_exists(kernel.pid) or kernel.status() == psutil.STATUS_ZOMBIE

    _in_own_loop(main)


def test_a_kernel_starts_clean_after_another_changed_its_modules():
    async def main():
        first, second = _manager(), _manager()
        await first.start_kernel()
        kc = first.client()
        kc.start_channels()
        try:
            await _ready(kc)
            await _run(kc, "import pandas as pd; pd.set_option('display.max_rows', 3); leak = 1")
        finally:
            kc.stop_channels()
        await second.start_kernel()
        kc2 = second.client()
        kc2.start_channels()
        try:
            await _ready(kc2)
            text, _ = await _run(
                kc2,
                "import pandas as pd; print(pd.get_option('display.max_rows'), 'leak' in dir())",
            )
            assert text.split() == ["60", "False"]
        finally:
            kc2.stop_channels()
            await first.shutdown_kernel(now=True)
            await second.shutdown_kernel(now=True)

    _in_own_loop(main)


def test_interrupt_restart_and_a_dying_kernel():
    async def main():
        km = _manager()
        await km.start_kernel()
        kc = km.client()
        kc.start_channels()
        try:
            await _ready(kc)
            msg_id = kc.execute("import time; print('asleep', flush=True); time.sleep(600)")
            # interrupt only once the cell runs: an interrupt that lands in ipykernel's handler
            # before the code starts drops the request without a reply
            for _ in range(600):
                msg = await kc.get_iopub_msg(timeout=120)
                if msg["msg_type"] == "stream" and "asleep" in msg["content"]["text"]:
                    break
            reply = None
            for _ in range(600):  # interrupt until the cell's reply comes
                await km.interrupt_kernel()
                try:
                    reply = await kc.get_shell_msg(timeout=1)
                except queue.Empty:
                    continue
                if reply["parent_header"].get("msg_id") == msg_id:
                    break
            assert reply is not None and reply["content"]["status"] == "error"
            assert reply["content"]["ename"] == "KeyboardInterrupt"
            old = km.provisioner.pid
            await km.restart_kernel(now=True)
            await _ready(kc)
            assert km.provisioner.pid != old
            text, _ = await _run(kc, "print(40 + 2)")
            assert text.strip() == "42"
            # a kernel that dies (out of memory, os._exit) is seen as dead
            kc.execute("import os; os._exit(3)")
            for _ in range(1200):
                if not await km.is_alive():
                    break
                await asyncio.sleep(0.1)  # polling the kernel's state, bounded
            assert not await km.is_alive()
        finally:
            kc.stop_channels()
            await km.shutdown_kernel(now=True)

    _in_own_loop(main)


def test_other_kernel_commands_are_launched_as_usual():
    me = sys.executable
    assert kernel_forks.ipykernel_args([me, "-m", "ipykernel_launcher", "-f", "c.json"]) == [
        "-f",
        "c.json",
    ]
    assert kernel_forks.ipykernel_args(["/usr/bin/R", "--slave", "-e", "x"]) is None
    assert kernel_forks.ipykernel_args(["/other/python", "-m", "ipykernel_launcher"]) is None
