"""Dashboard kernels forked from one warm process, so a visit's kernel starts in a fraction of a
second and shares most of its memory with the others.

Why: every dashboard kernel, preheated or not, used to be a new Python process that imported
ipykernel, pandas, DuckDB, altair, ipywidgets and the explorer (about 2.5 s of CPU, more on a
busy machine) and held its own copy of them (about 190 MB of private memory each). Twenty staff
arriving within a minute meant twenty such starts on two cores. A fork of a process that has
already imported them costs milliseconds and shares their pages until a kernel writes to them.

How: :class:`ForkingProvisioner` is a jupyter_client kernel provisioner (``acm serve`` makes it
the default of its Voilà server: ``KernelProvisionerFactory.default_provisioner_name``). For a
kernel that would run ``<this python> -m ipykernel_launcher ARGS`` it asks the **kernel fork
server** (``python -m acm_helpers.explorer.kernel_forks SOCKET``, one per Voilà server, started
at the first kernel) to fork a child, which becomes the kernel: a new session (its own process
group, so interrupts and kills reach it and its subprocesses), the environment and folder
jupyter_server gave it, then ipykernel's own ``IPKernelApp`` with ``ARGS``, as
``ipykernel_launcher`` would. Any other kernel command (another interpreter, another language)
is launched as jupyter_client always does.

The server only imports; it never opens a store, a socket to a kernel or a thread, so forking
it is safe. It exits when the Voilà server closes its standard input (or dies). A kernel keeps
its connection to the server open for life; the provisioner sees the kernel end when that
connection closes (the server, its parent, reaps it).
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from typing import Any

from jupyter_client.provisioning import LocalProvisioner

from acm_helpers.core import forks

PROVISIONER_NAME = "acm-forked-kernel"  # the entry point (pyproject.toml)
SERVER_MODULE = "acm_helpers.explorer.kernel_forks"
# What a dashboard kernel imports (the explorer notebook and ipykernel); imported once, here.
PRELOAD = (
    "ipykernel.kernelapp",
    "ipykernel.ipkernel",
    "ipykernel.comm",
    "ipywidgets",
    "numpy",
    "pandas",
    "pyarrow",
    "duckdb",
    "altair",
    "acm_helpers.store.store",
    "acm_helpers.explorer.app",
    "acm_helpers.explorer.serve",
)


class KernelForkServer:
    """The warm process kernels are forked from, and its socket (one per Voilà process)."""

    def __init__(self, preload: tuple[str, ...] = PRELOAD) -> None:
        self._dir = tempfile.mkdtemp(prefix="acm-kernels-")
        self.address = os.path.join(self._dir, "s")
        self.owner = os.getpid()
        # stderr is inherited: the kernels' own messages (the explorer's ready line) reach
        # the server's log as a launched kernel's would
        self._proc = subprocess.Popen(
            [sys.executable, "-m", SERVER_MODULE, self.address, *preload],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        line = self._proc.stdout.readline().decode(errors="replace").strip()
        if line != "ready":
            self._proc.wait()
            raise RuntimeError(
                f"The dashboard's kernel fork server did not start ({line or 'no answer'}); "
                "run `acm serve --no-fork-kernels` to start every kernel as a new process."
            )

    @property
    def pid(self) -> int:
        return self._proc.pid

    def alive(self) -> bool:
        return self._proc.poll() is None

    def fork_kernel(self, args: list[str], env: dict[str, str], cwd: str) -> ForkedKernel:
        """A new kernel forked from the server, running ipykernel with ``args``."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(self.address)
        sock.sendall(json.dumps({"args": args, "env": env, "cwd": cwd}).encode() + b"\n")
        reply = b""
        while not reply.endswith(b"\n"):
            part = sock.recv(64)
            if not part:
                sock.close()
                raise RuntimeError(
                    "The kernel fork server closed the connection before a kernel started."
                )
            reply += part
        return ForkedKernel(sock, int(reply))

    def close(self) -> None:
        """Stop the server (its kernels have been shut down by then, or end with it)."""
        import shutil

        if os.getpid() == self.owner and self._proc.poll() is None:
            self._proc.stdin.close()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        shutil.rmtree(self._dir, ignore_errors=True)


_SERVER: list[KernelForkServer] = []
_LOCK = threading.Lock()


def fork_server() -> KernelForkServer:
    """This process's kernel fork server, started at the first call (and again if it died)."""
    with _LOCK:
        if not _SERVER or not _SERVER[0].alive() or _SERVER[0].owner != os.getpid():
            import atexit

            _SERVER[:] = [KernelForkServer()]
            atexit.register(_SERVER[0].close)
        return _SERVER[0]


def start_soon() -> None:
    """Start this process's kernel fork server in the background (the first kernel waits for
    it), so its imports overlap the rest of the web server's start."""

    def start() -> None:
        try:
            fork_server()
        except RuntimeError as exc:  # said plainly; the first kernel tries again and fails alike
            print(f"[acm] {exc}", file=sys.stderr, flush=True)

    threading.Thread(target=start, name="acm-kernel-forks", daemon=True).start()


class ForkedKernel:
    """The part of ``subprocess.Popen`` that jupyter_client's provisioner uses, for a kernel
    forked by the server (not a child of this process: its end is seen on its connection)."""

    stdin = stdout = stderr = None

    def __init__(self, sock: socket.socket, pid: int) -> None:
        self._sock = sock
        self.pid = pid
        self.returncode: int | None = None
        self._signalled: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            ready, _, _ = select.select([self._sock], [], [], 0)
            if ready and not self._sock.recv(1):
                self._ended()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.poll() is not None:
            return self.returncode
        ready, _, _ = select.select([self._sock], [], [], timeout)
        if not ready:
            raise subprocess.TimeoutExpired(f"kernel {self.pid}", timeout)
        while self.poll() is None:
            select.select([self._sock], [], [])
        return self.returncode

    def _ended(self) -> None:
        self._sock.close()
        self.returncode = -self._signalled if self._signalled else 0

    def send_signal(self, signum: int) -> None:
        if self.returncode is None:
            if signum in (signal.SIGKILL, signal.SIGTERM):
                self._signalled = signum
            os.kill(self.pid, signum)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


def ipykernel_args(cmd: list[str]) -> list[str] | None:
    """The arguments of an ipykernel launch by this interpreter (``python -m ipykernel_launcher
    -f conn.json``), or None for any other kernel command."""
    if len(cmd) < 3 or cmd[1:3] != ["-m", "ipykernel_launcher"]:
        return None
    if os.path.realpath(cmd[0]) != os.path.realpath(sys.executable):
        return None
    return list(cmd[3:])


class ForkingProvisioner(LocalProvisioner):
    """Starts ipykernel kernels as forks of the warm kernel fork server (see the module
    docstring); everything else (signals, kill, restart, cleanup) is jupyter_client's own
    local provisioner, acting on the forked process."""

    async def launch_kernel(self, cmd: list[str], **kwargs: Any):
        args = ipykernel_args(cmd)
        if args is None or not hasattr(os, "fork"):
            return await super().launch_kernel(cmd, **kwargs)
        import asyncio

        env = dict(kwargs.get("env") or os.environ)
        env["JPY_PARENT_PID"] = str(os.getpid())  # as jupyter_client's launcher sets it
        cwd = str(kwargs.get("cwd") or os.getcwd())
        loop = asyncio.get_running_loop()
        server = await loop.run_in_executor(None, fork_server)
        self.process = await loop.run_in_executor(None, server.fork_kernel, args, env, cwd)
        self.pid = self.pgid = self.process.pid  # the kernel leads its own process group
        self.cwd = cwd
        return self.connection_info


# -- the server and its children ------------------------------------------------------------------
def serve(address: str, preload: list[str]) -> None:
    """The server's main loop (``python -m acm_helpers.explorer.kernel_forks SOCKET MODULES``)."""
    import gc
    import importlib

    from acm_helpers.core import imports

    imports.skip_unused()  # as every dashboard kernel does first (serve._lighten_imports)
    if sys.path and sys.path[0] == os.getcwd():
        del sys.path[0]  # added by `python -m`; a kernel's path does not start with the folder
    try:
        for name in preload:
            importlib.import_module(name)
    except Exception as exc:  # noqa: BLE001 - reported to the Voilà process as the reason
        print(f"importing {name}: {type(exc).__name__}: {exc}", flush=True)
        os._exit(3)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(address)
    listener.listen(64)
    gc.collect()
    gc.freeze()  # the warm objects stay out of the kernels' collections: fewer copied pages
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    os.dup2(2, 1)  # later output (a kernel's C library printing) goes where errors go
    while True:
        _reap()
        ready, _, _ = select.select([listener, sys.stdin], [], [], 5.0)
        if sys.stdin in ready and not os.read(sys.stdin.fileno(), 1024):
            break  # the Voilà process closed our input: it is gone or done
        if listener in ready:
            conn, _ = listener.accept()
            if os.fork() == 0:
                listener.close()
                _kernel(conn)  # never returns
            conn.close()
    os._exit(0)  # the kernels are shut down by Voilà; nothing here to clean up


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _kernel(conn: socket.socket) -> None:
    """Become the kernel asked for on ``conn``; always ends the process."""
    code = 0
    try:
        data = b""
        while not data.endswith(b"\n"):
            part = conn.recv(1 << 16)
            if not part:
                os._exit(1)
            data += part
        request = json.loads(data)
        os.setsid()  # its own process group: jupyter_client signals the group
        forks.detach_stdin()
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(request["cwd"])
        signal.signal(signal.SIGINT, signal.default_int_handler)
        conn.sendall(f"{os.getpid()}\n".encode())
        # the connection stays open (not inherited by the kernel's own subprocesses): it
        # closes when this process ends, which is how the provisioner sees the kernel end
        sys.argv = [sys.executable, *request["args"]]
        from ipykernel.kernelapp import IPKernelApp

        # ipykernel reads its parent's pid from the environment when it is imported (here:
        # the server's); this kernel's comes from its own environment, as a launched one's
        app = IPKernelApp.instance(
            parent_handle=int(os.environ.get("JPY_PARENT_PID") or 0),
            interrupt=int(os.environ.get("JPY_INTERRUPT_EVENT") or 0),
        )
        app.initialize(request["args"])
        app.start()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 0
    except BaseException:  # noqa: BLE001 - the kernel's failure goes to the server's log
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        forks.end_process(code)


if __name__ == "__main__":
    serve(sys.argv[1], sys.argv[2:])
