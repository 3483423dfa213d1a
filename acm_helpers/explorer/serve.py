"""Serve the staff explorer (``notebooks/05_explorer.ipynb``) with Voilà, locked down.

Why a module and not a shell line: the settings that make the dashboard safe and fast belong
together and are tested together:

- bound to ``127.0.0.1`` unless told otherwise; optional token;
- tracebacks hidden and sources stripped (a user sees plain messages, never code);
- the page template is ``acm`` (voila's ``lab`` template without its CDN stylesheets), and
  ``?template=``/``?theme=`` overrides are refused, so nothing on the page loads from the network;
- a per-cell execution timeout, except for the one cell that waits for the browser's request
  (tagged :data:`WAIT_TAG`) in a preheated kernel;
- idle kernels culled; a pool of preheated kernels that have already loaded the data, so the
  first chart appears fast.

The program file(s) and data directory reach the notebook through environment variables
(:data:`ENV_PROGRAM`, :data:`ENV_DATA_DIR`), which every kernel, preheated or not, inherits;
in the kernel, :func:`explorer_from_settings` reads them and :func:`request_query` gets the
page address.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from acm_helpers.core.errors import ConfigError

ENV_PROGRAM = "ACM_PROGRAM"  # program file paths, joined with os.pathsep
ENV_DATA_DIR = "ACM_DATA_DIR"  # data directories, one per program, joined with os.pathsep
WAIT_TAG = "acm-wait-for-request"  # notebook cell tag: no execution timeout for this cell
READY_LINE = "[acm] explorer kernel ready: data loaded, waiting for a page request"
TEMPLATE_NAME = (
    "acm"  # the Voilà template the package ships (templates/jupyter/voila/templates/acm)
)


@dataclass(frozen=True)
class ServeSettings:
    """Everything ``acm serve`` decides. Defaults are the safe ones.

    Attributes:
        programs: program files; the explorer offers a picker when there are several. Default:
            ``parameters/program.yaml`` else the shipped demo program
            (:func:`acm_helpers.store.store.find_program`).
        data_dir: data directory of a single program (default: the program's ``data_dir``).
        port, host: where Voilà listens; ``127.0.0.1`` keeps it off the network.
        token: when set, the page needs ``?token=...`` (Jupyter server token auth).
        preheat: keep ``pool_size`` kernels that have already run the notebook up to the
            request, so the first chart appears without waiting for imports and data loading.
        cell_timeout: seconds one notebook cell may run before Voilà stops it.
        cull_idle_timeout, cull_interval: shut down kernels idle this long (checked every
            ``cull_interval`` seconds), including ones whose browser tab was left open.
        notebook: the explorer notebook (default: the registered ``"explorer"`` template).
    """

    programs: tuple[Path, ...] = field(default_factory=lambda: (_default_program(),))
    data_dir: Path | None = None
    port: int = 8866
    host: str = "127.0.0.1"
    token: str | None = None
    preheat: bool = True
    pool_size: int = 1
    cell_timeout: int = 120
    cull_idle_timeout: int = 3600
    cull_interval: int = 60
    notebook: Path | None = None
    extra_env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.programs:
            raise ConfigError("Give at least one program file (--program parameters/program.yaml).")
        if self.data_dir is not None and len(self.programs) > 1:
            raise ConfigError(
                "--data-dir applies to a single program; with several --program files each "
                "program's own data_dir is used. Drop --data-dir or pass one --program."
            )
        if not 1 <= self.port <= 65535:
            raise ConfigError(f"Port {self.port} is not between 1 and 65535 (default 8866).")
        if not self.host or any(c.isspace() for c in self.host):
            raise ConfigError(
                f"Host {self.host!r} is not a host name or address (default 127.0.0.1)."
            )
        if self.pool_size < 0 or self.cell_timeout <= 0 or self.cull_idle_timeout <= 0:
            raise ConfigError("pool_size must be >= 0 and the timeouts > 0 seconds.")


def _default_program() -> Path:
    from acm_helpers.store.store import find_program

    return find_program(None)[0]


def find_notebook() -> Path:
    """The explorer notebook: the registered ``"explorer"`` template the package ships
    (``notebooks/05_explorer.ipynb`` in the checkout)."""
    from acm_helpers.core.resources import notebook

    return notebook("explorer").resolve()


def cell_timeout(cell, seconds: int) -> int | None:
    """Execution timeout of one notebook cell (nbclient's ``timeout_func``).

    The cell tagged :data:`WAIT_TAG` waits, in a preheated kernel, for a browser to ask for the
    page (to read its ``?provider=``); that can take hours, so it has no timeout. Every other
    cell gets ``seconds``.
    """
    tags = cell.get("metadata", {}).get("tags", []) if cell is not None else []
    return None if WAIT_TAG in tags else seconds


def kernel_env(settings: ServeSettings, base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for the Voilà process and so for every kernel it starts.

    Program paths are made absolute (resolved by the one path rule,
    :func:`acm_helpers.store.store.find_program`) because kernels run in the notebook's folder.
    The package's Jupyter data folder is put first on ``JUPYTER_PATH`` so Voilà finds the
    ``acm`` template.
    """
    from acm_helpers.core.resources import jupyter_data_dir
    from acm_helpers.store.store import find_program

    env = dict(os.environ if base is None else base)
    env[ENV_PROGRAM] = os.pathsep.join(str(find_program(p)[0].resolve()) for p in settings.programs)
    env[ENV_DATA_DIR] = os.pathsep.join(str(d.resolve()) for d in data_dirs(settings))
    env["JUPYTER_PATH"] = os.pathsep.join(
        [str(jupyter_data_dir())] + [p for p in env.get("JUPYTER_PATH", "").split(os.pathsep) if p]
    )
    if settings.host not in ("0.0.0.0", "::", ""):
        env["VOILA_APP_IP"] = settings.host  # where a preheated kernel asks for its request
    env.update(settings.extra_env)
    return env


def voila_config(settings: ServeSettings):
    """The traitlets config Voilà runs with (see the module docstring for why each is set)."""
    from traitlets.config import Config

    c = Config()
    c.Voila.ip = settings.host
    c.Voila.port = settings.port
    c.Voila.port_retries = 0  # fail instead of silently moving to another port
    c.Voila.open_browser = False
    c.Voila.token = settings.token or ""
    c.VoilaConfiguration.show_tracebacks = False
    c.VoilaConfiguration.strip_sources = True
    c.VoilaConfiguration.template = TEMPLATE_NAME
    c.VoilaConfiguration.theme = "light"
    c.VoilaConfiguration.allow_template_override = "NO"
    c.VoilaConfiguration.allow_theme_override = "NO"
    c.VoilaConfiguration.preheat_kernel = bool(settings.preheat and settings.pool_size > 0)
    c.VoilaConfiguration.default_pool_size = settings.pool_size if settings.preheat else 0
    c.VoilaExecutor.timeout = settings.cell_timeout
    c.VoilaExecutor.timeout_func = functools.partial(cell_timeout, seconds=settings.cell_timeout)
    c.VoilaExecutor.show_tracebacks = False
    c.MappingKernelManager.cull_idle_timeout = settings.cull_idle_timeout
    c.MappingKernelManager.cull_interval = settings.cull_interval
    c.MappingKernelManager.cull_connected = True  # a tab left open for hours still frees its kernel
    return c


def data_dirs(settings: ServeSettings) -> list[Path]:
    """The data directory of each program: ``--data-dir``, else the program's ``data_dir``, by
    the rule every ``acm`` command uses (:func:`acm_helpers.store.store.find_program`)."""
    from acm_helpers.store.store import resolve_paths

    return [resolve_paths(p, settings.data_dir)[2] for p in settings.programs]


def check_inputs(settings: ServeSettings) -> None:
    """Fail before starting the server when a program file or its store cannot be used.

    Raises:
        ConfigError: unreadable program file (with the file's problems).
        StoreError: a program whose data directory has no ``metric_values`` yet.
    """
    from acm_helpers.core.errors import StoreError
    from acm_helpers.store.store import open_store

    for path in settings.programs:
        program, store = open_store(path, settings.data_dir)
        root = store.root
        if not store.has_table("metric_values"):
            raise StoreError(
                f"Program {program.id}: no metric_values in {root}. Compute them first "
                "(`acm demo` for the demo program, or `acm metrics`), or pass --data-dir."
            )


def serve(settings: ServeSettings, extra_config=None) -> None:
    """Run Voilà on the explorer notebook until interrupted (Ctrl-C or SIGTERM).

    Runs in this process, so the config above (including the timeout function) applies as is.
    ``extra_config`` (a traitlets ``Config``) is merged on top: behind JupyterHub,
    :func:`acm_helpers.explorer.hub.hub_config`.
    """
    check_inputs(settings)
    notebook = settings.notebook or find_notebook()
    os.environ.update(kernel_env(settings))
    from voila.app import Voila

    config = voila_config(settings)
    if extra_config is not None:
        config.merge(extra_config)
    app = Voila(config=config)
    app.initialize(argv=[str(notebook)])
    app.start()


# -- in the kernel: what the notebook calls --------------------------------------------------
def request_query(while_waiting: Callable[[], None] | None = None) -> str:
    """The page's query string (``provider=...``), in a preheated kernel or a fresh one.

    Why two paths: a fresh kernel is started for the request and gets ``QUERY_STRING`` in its
    environment; a preheated kernel ran the notebook before anyone asked for the page, so it
    must wait for the request (voila's ``get_query_string``). The notebook cell that calls
    this is tagged ``acm-wait-for-request`` so ``acm serve`` gives it no execution timeout.

    Args:
        while_waiting: work for a preheated kernel's idle time (e.g. :meth:`Explorer.prerender`);
            a fresh kernel skips it, since someone is already waiting for the page.
    """
    if os.environ.get("VOILA_PREHEAT") == "True":
        from voila.utils import get_query_string

        if while_waiting is not None:
            while_waiting()
        # To the server's log (the kernel's real stderr): operators and tests see when a
        # preheated kernel has loaded everything and only waits for a browser.
        print(READY_LINE, file=sys.__stderr__, flush=True)
        return get_query_string() or ""
    return os.environ.get("QUERY_STRING", "")


def _paths(value: str, env: str) -> list[str]:
    text = value or os.environ.get(env, "")
    return [p for p in text.split(os.pathsep) if p]


def explorer_from_settings(program_files: str = "", data_dir: str = "", *, provider: str = ""):
    """Build the explorer from the notebook's parameters or, when empty, ``acm serve``'s env.

    Args:
        program_files: program file paths joined with ``os.pathsep`` (env ``ACM_PROGRAM``).
        data_dir: data directories, one per program, joined the same way (env
            ``ACM_DATA_DIR``); default: each program's ``data_dir``.
        provider: provider shown first (a URL ``?provider=`` overrides it).

    Paths follow :func:`acm_helpers.store.store.open_store`, as in every notebook; no program
    file at all means ``parameters/program.yaml`` else the shipped demo program.
    """
    from acm_helpers.explorer.app import Explorer
    from acm_helpers.store.store import open_store

    files = _paths(program_files, ENV_PROGRAM) or [None]
    dirs = _paths(data_dir, ENV_DATA_DIR)
    if dirs and len(dirs) != len(files):
        raise ConfigError(
            f"{len(files)} program file(s) but {len(dirs)} data director(ies); "
            "give one data directory per program or none."
        )
    opened = [
        open_store(f, d or None) for f, d in zip(files, dirs or [""] * len(files), strict=True)
    ]
    app = Explorer([p for p, _ in opened], [s for _, s in opened])
    if provider:
        app.apply_query(f"provider={provider}")
    return app


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (for tests and benchmarks)."""
    import socket

    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class BackgroundServer:
    """``acm serve`` in a child process: start it, wait until it serves, stop it.

    Why here: the browser test and the benchmark must run the real command, and both need the
    same readiness rule. Ready means Voilà listens and, with preheating, a pooled kernel has run
    the notebook up to the request (the explorer logs :data:`READY_LINE`), so no request is
    spent on probing and the first page really gets a preheated kernel.

    Args:
        args: ``acm serve`` options, e.g. ``["--port", "8866", "--data-dir", "/tmp/store"]``.
        cwd: the working directory (relative program paths are taken from it).
        preheat: whether ``args`` leave preheating on (then readiness waits for the pool).
        timeout: seconds to wait for readiness before giving up with the server's log.
    """

    def __init__(self, args: list[str], cwd: Path, *, preheat: bool = True, timeout: float = 120):
        self.args, self.cwd, self.preheat, self.timeout = list(args), Path(cwd), preheat, timeout
        self.lines: list[str] = []
        self.proc = None

    def _command(self) -> list[str]:
        import sys

        acm = Path(sys.executable).with_name("acm")
        if acm.exists():
            return [str(acm), "serve", *self.args]
        return [
            sys.executable,
            "-c",
            "from acm_helpers.cli import main; main()",
            "serve",
            *self.args,
        ]

    def start(self) -> BackgroundServer:
        """Start the server and block until it is ready (or raise with its log)."""
        import subprocess
        import threading
        import time

        self.proc = subprocess.Popen(
            self._command(),
            cwd=self.cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        threading.Thread(target=self._pump, daemon=True).start()
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"acm serve exited with {self.proc.returncode}:\n{self.log}")
            if self.ready():
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"acm serve was not ready after {self.timeout:.0f} s:\n{self.log}")

    def _pump(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def log(self) -> str:
        """Everything the server printed so far."""
        return "\n".join(self.lines)

    def ready(self) -> bool:
        """Listening, and (with preheating) a pooled kernel waiting for a request."""
        if "is running at" not in self.log:
            return False
        return not self.preheat or self.kernels_ready() > 0

    def kernels_ready(self) -> int:
        """How many preheated kernels have reported ready so far (each is used once)."""
        return sum(READY_LINE in line for line in self.lines)

    def stop(self) -> None:
        """SIGTERM (Voilà then shuts its kernels down); kill after 20 s."""
        import subprocess

        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
