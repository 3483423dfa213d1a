"""Serve the staff explorer (``notebooks/05_explorer.ipynb``) with Voilà, locked down.

Why a module and not a shell line: the settings that make the dashboard safe and fast belong
together and are tested together:

- bound to ``127.0.0.1`` unless told otherwise; a token (``acm serve`` generates one and prints
  the address with it, unless ``--no-token``);
- tracebacks hidden and sources stripped (a user sees plain messages, never code);
- the page template is ``acm`` (voila's ``lab`` template without its CDN stylesheets), and
  ``?template=``/``?theme=`` overrides are refused, so nothing on the page loads from the network;
- a per-cell execution timeout, except for the one cell that waits for the browser's request
  (tagged :data:`WAIT_TAG`) in a preheated kernel;
- bounded kernels (:mod:`acm_helpers.explorer.voila_app`): a kernel ends ``page_timeout``
  seconds after its page closes, an open idle page's kernel after ``cull_idle_timeout``; past
  ``max_kernels`` pages a visitor gets a plain "busy, retry in a minute" page (HTTP 503);
- a pool of preheated kernels that have already loaded the data, used only once ready, so the
  first chart appears fast and a visitor never waits behind a pool refill;
- a loading screen that names the provider asked for ("Loading Harbor Light Housing…").

Hub reuse: :func:`voila_config` and :func:`build_app` are what a JupyterHub single-user
server runs; they take the same :class:`ServeSettings`.

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
        token: when set, the page needs ``?token=...`` (Jupyter server token auth; ``acm
            serve`` generates one unless ``--no-token``, :func:`new_token`).
        preheat: keep ``pool_size`` kernels that have already run the notebook up to the
            request, so the first chart appears without waiting for imports and data loading.
        fork_kernels: start each ipykernel kernel as a fork of one warm process that has
            imported the dashboard's libraries (:mod:`acm_helpers.explorer.kernel_forks`), where
            the system can fork; False: a new process per kernel, as Jupyter does.
        preview: show a still picture of the provider's first view on the loading screen
            (:mod:`acm_helpers.explorer.preview`).
        cell_timeout: seconds one notebook cell may run before Voilà stops it.
        page_timeout: seconds a kernel whose page is closed (or never connected) may stay
            quiet before it is shut down.
        connect_timeout: seconds a kernel whose page has not connected yet (still loading,
            or abandoned while loading) may stay quiet.
        cull_idle_timeout: seconds a kernel whose page is open but unused may stay quiet.
        cull_interval: how often (seconds) both rules are checked.
        max_kernels: pages served at once (one kernel each; the pool comes on top); past it
            a visitor gets the busy page. 0 means no cap.
        notebook: the explorer notebook (default: the registered ``"explorer"`` template).
    """

    programs: tuple[Path, ...] = field(default_factory=lambda: (_default_program(),))
    data_dir: Path | None = None
    port: int = 8866
    host: str = "127.0.0.1"
    token: str | None = None
    preheat: bool = True
    pool_size: int = 1
    fork_kernels: bool = True
    preview: bool = True
    cell_timeout: int = 120
    page_timeout: int = 60
    connect_timeout: int = 120
    cull_idle_timeout: int = 1800
    cull_interval: int = 10
    max_kernels: int = 16
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
        if self.pool_size < 0 or self.max_kernels < 0:
            raise ConfigError("--pool-size and --max-kernels must be >= 0 (0: no cap).")
        timeouts = (
            self.cell_timeout,
            self.page_timeout,
            self.connect_timeout,
            self.cull_idle_timeout,
            self.cull_interval,
        )
        if min(timeouts) <= 0:
            raise ConfigError(
                "--page-timeout, --idle-timeout and the cell timeout must be > 0 seconds."
            )


def new_token() -> str:
    """A fresh random token for one ``acm serve`` run (printed with the address at start)."""
    import secrets

    return secrets.token_urlsafe(24)


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
    # Kernel memory: Arrow's default allocator (mimalloc) keeps what a parquet read freed,
    # about 45 MB per kernel on the demo program; the system allocator gives it back.
    env.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
    # and glibc's per-thread heaps (a kernel runs several threads: shell, iopub, heartbeat,
    # control) each keep their freed pages; two arenas hold a kernel's resident memory down.
    env.setdefault("MALLOC_ARENA_MAX", "2")
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
    # After a cell's reply, nbclient waits only 4 s for the cell's outputs (iopub_timeout) and
    # then moves on without them: with twenty pages starting at once the last cell's output
    # (the explorer widget, behind a hundred widget messages) came later, and that page kept
    # its loading screen for good. Wait as long as a cell may run; a dead kernel is still
    # noticed at once (nbclient polls it while waiting).
    c.VoilaExecutor.iopub_timeout = settings.cell_timeout
    c.VoilaConfiguration.multi_kernel_manager_class = (
        "acm_helpers.explorer.voila_app.BoundedKernelManager"
    )
    c.VoilaConfiguration.page_config_hook = functools.partial(
        loading_page_config, loading=loading_texts(settings)
    )
    # Refill the pool once the visitor who took its kernel has had its page connected for
    # refill_after_connect s (10), or fill_delay s after the visit at the latest: on a 2-core
    # machine a refilling kernel (start, imports, data: about 7 s of CPU) competes with that
    # page's loading. Measured 2026-12-03 on a quiet machine, live first chart (4 visits each):
    # refill 3 s after the visit 4.3-4.9 s (2 visits); 3 s after the page connected 4.2-5.2 s;
    # 15 s after it 3.9-4.4 s.
    c.VoilaKernelManager.fill_delay = 20
    c.BoundedKernelManager.page_timeout = settings.page_timeout
    c.BoundedKernelManager.connect_timeout = settings.connect_timeout
    c.MappingKernelManager.cull_idle_timeout = settings.cull_idle_timeout
    c.MappingKernelManager.cull_interval = settings.cull_interval
    c.MappingKernelManager.cull_connected = True  # a tab left open for hours still frees its kernel
    c.AcmVoila.max_kernels = settings.max_kernels
    c.AcmVoila.previews = settings.preview
    if forks_kernels(settings):
        from acm_helpers.explorer.kernel_forks import PROVISIONER_NAME

        # kernels forked from one warm process: started in a fraction of a second instead of
        # about 2.5 s of CPU each, their libraries' memory shared (kernel_forks)
        c.KernelProvisionerFactory.default_provisioner_name = PROVISIONER_NAME
    return c


def forks_kernels(settings: ServeSettings) -> bool:
    """Whether the server's ipykernel kernels are forks of one warm process (kernel_forks)."""
    return settings.fork_kernels and hasattr(os, "fork")


LOADING_DEFAULT = "Loading the dashboard\u2026"


def loading_texts(settings: ServeSettings) -> dict:
    """What the loading screen says: ``Loading <provider name>…`` per provider id, else the
    default. Names come from the program file(s), read once when the server starts."""
    return loading_texts_for(settings.programs)


def loading_texts_for(program_files) -> dict:
    """:func:`loading_texts` for program file paths (also used by the preview builder)."""
    from acm_helpers.core.config import load_program
    from acm_helpers.store.store import find_program

    names: dict[str, str] = {}
    for path in program_files:
        program = load_program(find_program(path)[0])
        names.update({p: program.provider(p).name for p in program.provider_ids})
    return {
        "default": LOADING_DEFAULT,
        "providers": {p: f"Loading {name}\u2026" for p, name in names.items()},
    }


def loading_page_config(page_config: dict, *, loading: dict, **_kwargs) -> dict:
    """Voilà's ``page_config_hook``: hand the loading texts to the template (``acmLoading``)
    and, when this server serves the chart bundle, its address (``acmVega``: the template
    preloads it and the charts import it, :mod:`acm_helpers.explorer.vega_bundle`)."""
    from acm_helpers.explorer import vega_bundle

    out = {**page_config, "acmLoading": loading}
    bundle = vega_bundle.served()
    if bundle is not None:
        out[vega_bundle.PAGE_CONFIG_KEY] = bundle.address
    return out


def build_app(settings: ServeSettings, notebook: Path | None = None, extra_config=None):
    """The Voilà application for ``settings``, initialised and ready to ``start()``.

    Sets the kernels' environment in this process first (kernels inherit it). Used by
    :func:`serve`, alone or behind JupyterHub (``extra_config``, a traitlets ``Config`` merged
    on top: :func:`acm_helpers.explorer.hub.hub_config`).
    """
    from acm_helpers.explorer.voila_app import AcmVoila

    os.environ.update(kernel_env(settings))
    if forks_kernels(settings):
        from acm_helpers.explorer import kernel_forks

        kernel_forks.start_soon()  # its imports overlap Voilà's start (it has the kernels' env)
    config = voila_config(settings)
    if extra_config is not None:
        config.merge(extra_config)
    app = AcmVoila(config=config)
    app.initialize(argv=[str(notebook or settings.notebook or find_notebook())])
    return app


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
    from acm_helpers.explorer import vega_bundle

    vega_bundle.ensure_bundle()  # once per install, in a child process (about 10 s)
    build_app(settings, extra_config=extra_config).start()


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
        if while_waiting is not None:
            while_waiting()
        # To the server's log (the kernel's real stderr): operators and tests see when a
        # preheated kernel has loaded everything and only waits for a browser.
        print(READY_LINE, file=sys.__stderr__, flush=True)
        _wait_for_request()
    return os.environ.get("QUERY_STRING", "")


def _wait_for_request() -> None:
    """Block until Voilà hands this preheated kernel to a visitor; put the request's variables
    (``QUERY_STRING`` ...) into the environment.

    Why not ``voila.utils.get_query_string``: importing ``voila.utils`` brings jupyter_server,
    jupyterlab_server and nbconvert into every kernel, about 30 MB each, for one websocket
    read. This is the same exchange (Voilà 0.5, ``voila/utils.py`` ``wait_for_request``): the
    server's ``voila/query/<kernel id>`` websocket sends one JSON object when the kernel is
    given out.
    """
    import asyncio
    import json
    import threading
    import warnings

    import websockets

    env = os.environ
    server_url = env.get("VOILA_SERVER_URL", "/")
    url = (
        f"{env.get('VOILA_WS_PROTOCOL', 'ws')}://{env.get('VOILA_APP_IP', '127.0.0.1')}:"
        f"{env.get('VOILA_APP_PORT', '8866')}{env.get('VOILA_WS_BASE_URL', server_url)}"
        f"voila/query/{env.get('VOILA_KERNEL_ID', '')}"
    )
    got: list[str] = []

    async def receive() -> None:
        try:
            async with websockets.connect(url, open_timeout=5) as ws:
                got.append(await ws.recv())
        except (TimeoutError, ConnectionRefusedError):
            warnings.warn(f"Failed to connect to {url}", stacklevel=2)

    # the kernel's own event loop is running (the notebook cell is executing): a thread
    # with its own loop waits instead
    thread = threading.Thread(target=lambda: asyncio.run(receive()))
    thread.start()
    thread.join()
    if got:
        for key, value in json.loads(got[0]).items():
            env[key] = value


def _paths(value: str, env: str) -> list[str]:
    text = value or os.environ.get(env, "")
    return [p for p in text.split(os.pathsep) if p]


def _lighten_imports() -> None:
    """Keep a kernel's start short and small: skip what the explorer never uses
    (``core.imports``: jsonschema's IRI grammars, about 20 MB and a second of CPU per kernel;
    the explorer never validates a schema at run time, ``to_dict(validate=False)``)."""
    from acm_helpers.core import imports

    imports.skip_unused()


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
    _lighten_imports()
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
    from acm_helpers.explorer.hub import signed_in

    app = Explorer([p for p, _ in opened], [s for _, s in opened], account=signed_in())
    if provider:
        app.apply_query(f"provider={provider}")
    _release_freed_memory()
    return app


def _release_freed_memory() -> None:
    """Give the heap freed while loading (copies made by reading and tidying) back to the
    system, so a kernel's resident memory is what it keeps (glibc only; elsewhere a no-op)."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return
    trim = getattr(libc, "malloc_trim", None)
    if trim is not None:
        trim(0)


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

    @property
    def address(self) -> str:
        """The address ``acm serve`` printed (with ``?token=...`` unless ``--no-token``)."""
        for line in self.lines:
            if line.startswith("ACM explorer: "):
                return line.removeprefix("ACM explorer: ").strip()
        raise RuntimeError(f"acm serve printed no address yet:\n{self.log}")

    def page_url(self, query: str = "") -> str:
        """The dashboard's address with ``query`` (e.g. ``provider=harbor``) and the token."""
        url = self.address
        if not query:
            return url
        return url + ("&" if "?" in url else "?") + query

    def kernel_processes(self) -> list:
        """The server's kernel processes alive now (psutil), pool included."""
        import psutil

        if self.proc is None or self.proc.poll() is not None:
            return []
        from acm_helpers.explorer.kernel_forks import SERVER_MODULE

        out = []
        for child in psutil.Process(self.proc.pid).children(recursive=True):
            try:
                cmd = " ".join(child.cmdline())
                if SERVER_MODULE in cmd:  # the kernel fork server's forks, not the server
                    if child.ppid() != self.proc.pid:
                        out.append(child)
                elif "ipykernel" in cmd:  # a launched kernel
                    out.append(child)
            except psutil.Error:
                continue
        return out

    def status(self) -> dict:
        """The server's ``/acm/status``: ``page_kernels`` (what the cap counts),
        ``pooled_kernels`` and ``max_kernels``."""
        import json
        import urllib.parse
        import urllib.request

        url = urllib.parse.urlsplit(self.address)
        status = url._replace(path=url.path.rstrip("/") + "/acm/status")
        with urllib.request.urlopen(urllib.parse.urlunsplit(status), timeout=60) as resp:
            return json.loads(resp.read())

    def memory(self) -> float:
        """RSS in MB summed over the server process and all its children (kernels)."""
        import psutil

        procs = [psutil.Process(self.proc.pid)]
        procs += procs[0].children(recursive=True)
        total = 0
        for proc in procs:
            try:
                total += proc.memory_info().rss
            except psutil.Error:
                continue
        return total / 1e6

    def ready(self) -> bool:
        """Listening, and (with preheating) a pooled kernel waiting for a request."""
        if "is running at" not in self.log or "ACM explorer: " not in self.log:
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
