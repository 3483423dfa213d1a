"""Forked notebooks: one warm process imports the packets' modules once, and every notebook runs
in a new fork of it, so each packet starts from the same clean, warm state.

Why: a warm Jupyter kernel (:mod:`acm_helpers.batch.kernels`) is paid for once per worker, but
each one still imports ipykernel, pandas, altair and ``acm_helpers`` (about 2.5 s of CPU), talks
to its host over ZeroMQ, and must be reset after every notebook (:mod:`kernel_state`: module
globals, caches, options, random state...) with a contract of what the reset covers. A fork
costs a few milliseconds and shares the warm process's memory, and a process that ends leaves
nothing behind: no reset, nothing for a later notebook to see.

Three processes take part:

- the **server** (``python -m acm_helpers.batch.forked SOCKET MODULES...``, one per run, started by
  :class:`ForkServer`): imports the modules, builds an IPython shell, then waits on a Unix
  socket. It never runs a notebook, a DuckDB query or the chart engine itself, so it has no
  threads and forking it is safe. It exits when its host closes its standard input.
- a **child** per notebook, forked by the server for each connection: runs the notebook with
  papermill (its parameter injection and error rules) through the ``acm_fork`` engine, which
  executes each cell in the child's IPython shell and turns what it displays, prints and raises
  into notebook outputs as a kernel's messages would be. It then evaluates the job's ``after``
  call (the XLSX appendix), sends the executed notebook back and exits.
- the **worker** (the batch worker process, :class:`ForkExecutor`): sends the request and answers
  the child's chart requests. vl-convert's JavaScript engine runs threads, which do not survive a
  fork, and takes about 0.4 s to start; it is started once per worker, and each child sends its
  Vega-Lite specs there (``views.vega_svg.delegate``) and gets the SVG back.

A notebook may run at most ``timeout`` seconds per cell (the worker kills the child after it). A
child that dies (out of memory, ``os._exit``) is reported as a failed packet, and the next
notebook is forked from the same clean server.
"""

from __future__ import annotations

import functools
import os
import pickle
import socket
import struct
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from acm_helpers.core import forks
from acm_helpers.core.errors import WorkerError

ENGINE_NAME = "acm_fork"
_HEADER = struct.Struct("!Q")
# What ipykernel reports as the notebook's language (nbclient copies it into the metadata).
LANGUAGE_INFO = {
    "codemirror_mode": {"name": "ipython", "version": 3},
    "file_extension": ".py",
    "mimetype": "text/x-python",
    "name": "python",
    "nbconvert_exporter": "python",
    "pygments_lexer": "ipython3",
    "version": ".".join(str(v) for v in sys.version_info[:3]),
}


# -- the wire: length-prefixed pickles over a Unix socket (one host, one user) -------------------
def send(sock: socket.socket, obj: Any) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    sock.sendall(_HEADER.pack(len(data)) + data)


def recv(sock: socket.socket) -> Any:
    (n,) = _HEADER.unpack(_exact(sock, _HEADER.size))
    return pickle.loads(_exact(sock, n))


def _exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        part = sock.recv(min(n - len(buf), 1 << 20))
        if not part:
            raise EOFError("the other side closed the connection")
        buf += part
    return bytes(buf)


# -- host side ---------------------------------------------------------------------------------------
class ForkServer:
    """The warm server process and its socket. Started by the run (or lazily by a worker).

    Example::

        server = ForkServer(["pandas", "acm_helpers.packets.dashboard"])
        ...                       # connect() from this process or from forked workers
        server.close()
    """

    def __init__(self, preload: Iterable[str], env: Mapping[str, str] | None = None):
        import subprocess
        import tempfile

        self.preload = tuple(preload)
        self.owner = os.getpid()
        self._dir = tempfile.mkdtemp(prefix="acm-fork-")
        self.address = os.path.join(self._dir, "s")
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "acm_helpers.batch.forked", self.address, *self.preload],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={**os.environ, **dict(env or {})},
        )
        self._ready = threading.Event()
        self._error = ""
        self._wait = threading.Thread(target=self._read_ready, name="acm-fork-ready", daemon=True)
        self._wait.start()

    def _read_ready(self) -> None:
        line = self._proc.stdout.readline().decode(errors="replace").strip()
        if line != "ready":
            self._error = line or f"it ended with exit code {self._proc.wait()}"
        self._ready.set()

    def wait_ready(self, timeout: float = 120.0) -> None:
        """Block until the server has imported its modules and listens.

        Raises:
            WorkerError: the server did not start (an import failed), naming the reason.
        """
        if os.getpid() != self.owner:
            # a forked worker: the reader thread stayed in the process that started the server.
            # The server binds its socket only once its imports are done.
            end = time.monotonic() + timeout
            while not os.path.exists(self.address):
                if not self.alive():
                    raise WorkerError(
                        "The notebook server ended before it was ready. Run `acm run` again; "
                        "if it persists, check that every template's imports work here."
                    )
                if time.monotonic() > end:
                    break
                time.sleep(0.02)
            else:
                return
        if not self._ready.wait(timeout if os.getpid() == self.owner else 0):
            raise WorkerError(
                f"The notebook server did not start within {timeout:.0f} s. "
                "Check that `python -m acm_helpers.batch.forked` runs in this environment."
            )
        if self._error:
            raise WorkerError(
                f"The notebook server did not start: {self._error}. "
                "Check that every template's imports work in this environment."
            )

    def connect(self) -> socket.socket:
        """A connection to the server: one notebook, run in a new fork."""
        self.wait_ready()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(self.address)
        return sock

    def alive(self) -> bool:
        """True while the server runs (from the process that started it, or a forked worker,
        which cannot wait on another's child)."""
        if os.getpid() == self.owner:
            return self._proc.poll() is None
        try:
            os.kill(self._proc.pid, 0)
        except OSError:
            return False
        return True

    def close(self) -> None:
        """Stop the server (only the process that started it does; forked workers leave it)."""
        import shutil

        if os.getpid() != self.owner:
            return
        if self._proc.poll() is None:
            self._proc.stdin.close()  # the server exits when its input closes
            try:
                self._proc.wait(timeout=10)
            except Exception:  # noqa: BLE001 - it did not leave: stop it
                self._proc.kill()
                self._proc.wait()
        shutil.rmtree(self._dir, ignore_errors=True)


_SERVERS: dict[tuple, ForkServer] = {}
_LOCK = threading.Lock()
_LAST = threading.local()  # per thread: a Dask worker runs jobs on several threads


def server_for(preload: Iterable[str], env: Iterable[tuple[str, str]] = ()) -> ForkServer:
    """This process's server for ``preload`` (and extra environment ``env``): the run's
    (inherited by forked workers), or one started here on first use (a Dask worker on another
    machine) and stopped at exit."""
    key = (tuple(preload), tuple(env))
    with _LOCK:
        srv = _SERVERS.get(key)
        if srv is None or not srv.alive():
            srv = _SERVERS[key] = ForkServer(key[0], env=dict(key[1]))
            from acm_helpers.batch.kernels import at_exit

            at_exit(srv.close)
        return srv


def start_server(preload: Iterable[str]) -> ForkServer:
    """Start the run's server now (its imports overlap the run's preparation); workers forked
    after this call use it."""
    return server_for(preload)


def stop_servers() -> None:
    """Stop every server this process started."""
    with _LOCK:
        servers = list(_SERVERS.values())
        _SERVERS.clear()
    for srv in servers:
        srv.close()


@dataclass(frozen=True)
class ForkExecutor:
    """A notebook executor (``report.Executor``: ``(template, parameters, cwd) -> notebook``) that
    runs each notebook in a new fork of the warm server. Frozen and picklable (sent to workers).

    Attributes:
        preload: modules the server imports once (the templates' imports and the defaults).
        timeout: seconds a cell may run; the child is then stopped and the packet fails.
        after: an expression evaluated in the child after the notebook succeeded, in its
            namespace (the batch worker writes the packet's appendix there); what it returned
            (JSON) is :meth:`last_after`.
    """

    preload: tuple[str, ...] = ()
    timeout: float | None = None
    after: str | None = None
    env: tuple[tuple[str, str], ...] = ()
    """Extra environment variables of the server (and so of every notebook)."""

    @classmethod
    def for_notebooks(cls, notebooks: Iterable[str | Path], **kw: Any) -> ForkExecutor:
        """An executor whose server preloads what the given templates import."""
        from acm_helpers.batch.kernels import WarmSpec

        timeout = kw.pop("timeout", None)
        return cls(WarmSpec.for_notebooks(notebooks, **kw).preload, timeout=timeout)

    def warm(self) -> None:
        """A worker's one-off costs: the server ready, vl-convert started in this process."""
        from acm_helpers.views import vega_svg

        server_for(self.preload, self.env).wait_ready()
        vega_svg.start()

    def __call__(
        self, template: str | Path, parameters: Mapping[str, Any], cwd: str | Path | None = None
    ) -> Any:
        from papermill.exceptions import PapermillExecutionError

        _LAST.after, _LAST.report = {}, {}
        request = {
            "template": str(template),
            "parameters": dict(parameters),
            "cwd": str(Path(cwd).resolve()) if cwd is not None else os.getcwd(),
            "after": self.after,
        }
        lent = 0.0
        pid = None
        cell = None
        deadline = None
        with server_for(self.preload, self.env).connect() as sock:
            send(sock, request)
            while True:
                try:
                    sock.settimeout(max(deadline - time.monotonic(), 0.001) if deadline else None)
                    kind, body = recv(sock)
                except TimeoutError:
                    _kill(pid)
                    raise WorkerError(
                        f"Cell {cell} of {Path(template).name} ran longer than {self.timeout:.0f} s, "
                        "so the packet was stopped. Look for a loop or a very large table in it."
                    ) from None
                except EOFError:
                    raise WorkerError(
                        f"The process running {Path(template).name} ended without an answer "
                        f"(cell {cell}): it may have run out of memory. The other packets go on."
                    ) from None
                if kind == "svg":
                    c0 = time.process_time()
                    svg = _draw(body)
                    cpu = time.process_time() - c0
                    lent += cpu
                    send(sock, (svg, cpu))
                elif kind == "cell":
                    cell = body
                    deadline = time.monotonic() + self.timeout if self.timeout else None
                elif kind == "pid":
                    pid = body
                elif kind == "done":
                    _LAST.after = body["after"] or {}
                    _LAST.report = {"notebook_cpu": body["cpu"], "lent_cpu": lent}
                    return body["nb"]
                elif kind == "failed":
                    _LAST.report = {"notebook_cpu": body.pop("cpu"), "lent_cpu": lent}
                    raise PapermillExecutionError(**body)
                else:  # "crash": the child's own machinery failed (not a notebook cell)
                    raise WorkerError(f"Running {Path(template).name} failed: {body}")

    def last_after(self) -> dict:
        """What :attr:`after` returned for this process's last notebook (empty when none ran)."""
        return dict(getattr(_LAST, "after", {}))

    def last_reset(self) -> dict:
        """The last notebook's CPU seconds in its child (``notebook_cpu``, charts drawn here
        included) and the CPU this process spent drawing them (``lent_cpu``), for the profile."""
        return dict(getattr(_LAST, "report", {}))


def _draw(spec: dict) -> str:
    from acm_helpers.views import vega_svg

    return vega_svg.to_svg(spec)


def _kill(pid: int | None) -> None:
    import signal

    if pid:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


# -- server side -------------------------------------------------------------------------------------
def serve(address: str, preload: list[str]) -> None:
    """The server's main loop (``python -m acm_helpers.batch.forked``)."""
    import gc
    import importlib
    import select
    import signal

    from acm_helpers.core import imports

    imports.skip_unused()
    step = "papermill"
    try:
        for step in preload:
            importlib.import_module(step)
        step = "papermill"
        import papermill  # noqa: F401 - its parameter injection, in every child

        step = "the IPython shell"
        _register_engine()
        _shell()
        _learn(_learned_before(), save=False)  # what earlier runs' children imported
        if "altair" in sys.modules:
            # altair checks every chart object against the Vega-Lite schema as it is built
            # (about 200 checks a packet, 0.06 s of CPU measured); the templates' charts are
            # checked by the test suite, so the packets' forks build them unchecked. The SVG is
            # the same: the checks only raise.
            sys.modules["altair"].utils.schemapi.disable_debug_mode()
    except Exception as exc:  # noqa: BLE001 - reported to the host as the reason
        print(f"{step}: {type(exc).__name__}: {exc}", flush=True)
        sys.exit(3)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(address)
    listener.listen(64)
    # children tell the server which modules they imported that it had not (libraries' lazy
    # imports: pyarrow.parquet, narwhals, scipy.special ...); it imports them too, so the next
    # children inherit them instead of paying for them again
    learned, teach = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    gc.collect()
    gc.freeze()  # the warm objects stay out of the children's collections: fewer copied pages
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    os.dup2(2, 1)  # later output (a child's C library printing) goes where errors go
    while True:
        _reap(block=False)
        ready, _, _ = select.select([listener, sys.stdin, learned], [], [], 5.0)
        if sys.stdin in ready and not os.read(sys.stdin.fileno(), 1024):
            break  # the host closed our input: it is gone or done
        if learned in ready:
            _learn(learned.recv(1 << 20).decode().split())
        if listener in ready:
            conn, _ = listener.accept()
            if os.fork() == 0:
                listener.close()
                learned.close()
                signal.signal(signal.SIGINT, signal.default_int_handler)
                _child(conn, teach)  # never returns
            conn.close()
    listener.close()
    _reap(block=True)  # so the children's CPU is counted in the server's, and the host's
    sys.stdout.flush()
    os._exit(0)  # nothing to clean up: the interpreter's own exit would only take time


def _reap(block: bool) -> None:
    """Collect ended children (reaped, their CPU time is added to this process's children's)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, 0 if block else os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _library(module: Any) -> bool:
    """True for a module of the Python installation (the standard library, site-packages); not
    for project code (``acm_helpers``, a notebook's own modules), which the server never learns."""
    if module is None:
        return False
    name = getattr(module, "__name__", "")
    if name.split(".")[0] in ("acm_helpers", "__main__"):
        return False
    return _library_path(getattr(module, "__file__", None))


def _library_path(path: str | None) -> bool:
    from acm_helpers.batch.kernel_state import in_installation

    return not path or path in ("built-in", "frozen") or in_installation(path)


def _learned_file() -> Path:
    """Where the modules learned from children are kept for the next run: one file per Python
    installation in the user's cache (a list of module names, nothing about any data)."""
    import hashlib

    from acm_helpers.core.resources import user_cache

    tag = hashlib.sha256(f"{sys.executable} {sys.version}".encode()).hexdigest()[:12]
    return user_cache() / f"notebook-server-modules-{tag}.txt"


def _learned_before() -> list[str]:
    try:
        return _learned_file().read_text().split()
    except OSError:
        return []


def _learn(names: list[str], save: bool = True) -> None:
    """Import, in the server, library modules a child imported (:func:`_library`); report one
    that starts a thread (forking a process with threads is unsafe).
    With ``save``, the list is kept for the next run's server (:func:`_learned_file`)."""
    import gc
    import importlib
    import importlib.util

    new = []
    for name in names:
        if name in sys.modules or name.split(".")[0] in ("acm_helpers", "__main__"):
            continue
        threads = threading.active_count()
        try:
            spec = importlib.util.find_spec(name)
            if spec is None or not _library_path(spec.origin):
                continue
            importlib.import_module(name)
        except BaseException:  # noqa: BLE001 - a child imported it fine; here it is optional
            continue
        new.append(name)
        if threading.active_count() != threads:
            sys.stderr.write(f"acm notebook server: importing {name} started a thread\n")
    gc.freeze()
    if save and new:
        try:
            path = _learned_file()
            path.parent.mkdir(parents=True, exist_ok=True)
            known = dict.fromkeys([*_learned_before(), *new])
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text("\n".join(known) + "\n")
            os.replace(tmp, path)
        except OSError:  # a read-only cache: the next run learns again
            pass


def _child(conn: socket.socket, teach: socket.socket | None = None) -> None:
    """Run one notebook in this fresh fork and send the result; always ends the process."""
    import traceback

    code = 0
    known = set(sys.modules)
    try:
        forks.detach_stdin()
        request = recv(conn)
        send(conn, ("pid", os.getpid()))
        answer = run_request(conn, request)
        if teach is not None:
            new = [n for n, m in list(sys.modules.items()) if n not in known and _library(m)]
            if new:
                try:
                    teach.send(" ".join(new).encode()[: 1 << 20])
                except OSError:  # the server learns from the next child instead
                    pass
        send(conn, answer)
    except BaseException:  # noqa: BLE001 - the host reports it; this process ends either way
        code = 1
        try:
            send(conn, ("crash", traceback.format_exc(limit=6)))
        except Exception:  # noqa: BLE001 - the host sees the closed socket instead
            pass
    finally:
        forks.end_process(code)


def run_request(conn: socket.socket, request: dict) -> tuple[str, dict]:
    """Execute the requested notebook here (in the child) and return the message to send."""
    import json

    import papermill
    from papermill.exceptions import PapermillExecutionError

    from acm_helpers.core import stages
    from acm_helpers.views import vega_svg

    c0 = time.process_time()
    vega_svg.delegate(lambda spec: _remote_svg(conn, spec))
    os.chdir(request["cwd"])
    shell = _shell()
    shell.channel = conn
    try:
        nb = papermill.execute_notebook(
            request["template"],
            None,
            parameters=request["parameters"],
            engine_name=ENGINE_NAME,
            kernel_name="python3",
            progress_bar=False,
            request_save_on_cell_execute=False,
        )
    except PapermillExecutionError as exc:
        fields = {
            k: getattr(exc, k)
            for k in ("cell_index", "exec_count", "source", "ename", "evalue", "traceback")
        }
        return "failed", {**fields, "cpu": time.process_time() - c0 + stages.cpu_elsewhere()}
    after = None
    if request.get("after"):
        after = json.loads(eval(request["after"], shell.user_ns))  # noqa: S307 - the worker's own call
    return "done", {
        "nb": nb,
        "after": after,
        "cpu": time.process_time() - c0 + stages.cpu_elsewhere(),
    }


def _remote_svg(conn: socket.socket, spec: dict) -> str:
    from acm_helpers.core import stages

    send(conn, ("svg", spec))
    svg, cpu = recv(conn)
    stages.add_cpu_elsewhere(cpu)
    return svg


# -- the child's shell and papermill engine -----------------------------------------------------------
def _json(obj: Any) -> Any:
    """As a kernel message would carry it (JSON, with jupyter_client's conversions)."""
    import json

    from jupyter_client.jsonutil import json_default

    return json.loads(json.dumps(obj, default=json_default))


@functools.cache
def _shell_class():
    from IPython.core.displayhook import DisplayHook
    from IPython.core.displaypub import DisplayPublisher
    from IPython.core.interactiveshell import InteractiveShell

    class Hook(DisplayHook):
        """The value of a cell's last expression, as an ``execute_result`` output."""

        def write_output_prompt(self) -> None:
            pass

        def write_format_data(self, format_dict, md_dict=None) -> None:
            self.shell.add_output(
                "execute_result",
                data=_json(format_dict),
                metadata=_json(md_dict or {}),
                execution_count=self.shell.cell_count,
            )

        def finish_displayhook(self) -> None:
            pass

    class Publisher(DisplayPublisher):
        """``display(...)`` as ``display_data`` outputs (updates by display id, as nbclient)."""

        def publish(self, data, metadata=None, source=None, *, transient=None, update=False, **kw):
            display_id = (transient or {}).get("display_id")
            out = {"data": _json(data), "metadata": _json(metadata or {})}
            if update and display_id:
                for o in self.shell.display_ids.get(display_id, []):
                    o.update(out)
                return
            made = self.shell.add_output("display_data", **out)
            if display_id:
                self.shell.display_ids.setdefault(display_id, []).append(made)

        def clear_output(self, wait=False) -> None:
            self.shell.outputs.clear()

    class Shell(InteractiveShell):
        displayhook_class = Hook
        display_pub_class = Publisher

        def __init__(self, **kw):
            from traitlets.config import Config

            cfg = Config()
            cfg.HistoryManager.enabled = False
            super().__init__(config=cfg, **kw)
            self.outputs: list = []
            self.display_ids: dict = {}
            self.channel = None
            self.cell_count = None  # the running cell's execution count

        def add_output(self, output_type: str, **fields):
            from nbformat.v4 import new_output

            out = new_output(output_type, **fields)
            self.outputs.append(out)
            return out

        def _showtraceback(self, etype, evalue, stb):
            self.add_output(
                "error", ename=str(etype.__name__), evalue=str(evalue), traceback=list(stb)
            )

    return Shell


def _shell() -> Any:
    """This process's IPython shell (built in the server, inherited by every fork)."""
    return _shell_class().instance()


class _Stream:
    """``sys.stdout`` / ``sys.stderr`` of a cell: text becomes ``stream`` outputs."""

    encoding = "utf-8"

    def __init__(self, shell: Any, name: str):
        self.shell, self.name = shell, name

    def write(self, text: str) -> int:
        if not text:
            return 0
        outs = self.shell.outputs
        if outs and outs[-1].get("output_type") == "stream" and outs[-1].get("name") == self.name:
            outs[-1]["text"] += text
        else:
            self.shell.add_output("stream", name=self.name, text=text)
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def writable(self) -> bool:
        return True


def run_cell(shell: Any, cell: Any) -> bool:
    """Execute one code cell in ``shell``; its outputs and execution count go into the cell.
    Returns False when the cell raised."""
    shell.outputs = []
    shell.display_ids = {}
    count = shell.cell_count = shell.execution_count
    old = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _Stream(shell, "stdout"), _Stream(shell, "stderr")
    try:
        shell.run_cell(cell.source, store_history=True)
    finally:
        sys.stdout, sys.stderr = old
    cell.outputs = shell.outputs
    cell.execution_count = count
    return not any(o.get("output_type") == "error" for o in cell.outputs)


def _register_engine() -> None:
    from papermill.engines import Engine, papermill_engines

    class ForkEngine(Engine):
        """papermill's engine interface, executing cells in this process's IPython shell."""

        @classmethod
        def execute_managed_notebook(cls, nb_man, kernel_name, **kwargs):
            shell = _shell()
            for index, cell in enumerate(nb_man.nb.cells):
                try:
                    nb_man.cell_start(cell, index)
                    if cell.cell_type == "code" and cell.source.strip():
                        if shell.channel is not None:
                            send(shell.channel, ("cell", index))
                        if not run_cell(shell, cell):
                            nb_man.cell_exception(cell, cell_index=index)
                            break
                    elif cell.cell_type == "code":
                        cell.outputs, cell.execution_count = [], None
                finally:
                    nb_man.cell_complete(cell, cell_index=index)
            nb_man.nb.metadata["language_info"] = dict(LANGUAGE_INFO)

    papermill_engines.register(ENGINE_NAME, ForkEngine)


if __name__ == "__main__":
    serve(sys.argv[1], sys.argv[2:])
