"""The Voilà application ``acm serve`` runs: bounded kernels, a busy page, safe static files.

Why a subclass of Voilà and not only config: three rules the dashboard needs are not Voilà
settings (voila 0.5, pinned in constraints.txt):

- **A kernel ends soon after its page does.** Voilà starts a kernel per visit and leaves it
  running when the tab closes (its ``beforeunload`` call is not sent when a browser is killed
  or a laptop lid is shut). :class:`BoundedKernelManager` culls a kernel that has no page
  connected once it has been quiet for ``page_timeout`` seconds (a page that is open but idle
  gets the longer ``cull_idle_timeout``; a page still loading gets ``connect_timeout``). Pooled kernels are never culled (Voilà's rule).
- **Preheating never starves a visitor.** Voilà hands the next visitor the first pooled kernel
  even while it is still loading data (on a busy machine a minute). :class:`GuardedVoilaHandler`
  uses a pooled kernel only when it is ready (it has reached the cell that waits for the
  request); otherwise the visitor gets a fresh kernel at once.
- **A cap, not exhaustion.** Past ``max_kernels`` pages at once, a visitor gets a plain
  "busy, please retry in a minute" page (HTTP 503, ``Retry-After``), not another kernel.

Static file handlers answer 404 to any path that leaves their folder or does not have the
``<template>/static/<file>`` shape (Voilà's own handler fails with a 500 on ``..%2f``).
"""

from __future__ import annotations

import asyncio
import html
import json
import os
import re
from datetime import timedelta

import tornado.web
from jupyter_server.base.handlers import FileFindHandler, JupyterHandler
from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager
from jupyter_server.utils import ensure_async, url_path_join
from traitlets import Bool, Float, Integer, TraitError
from voila.app import Voila
from voila.request_info_handler import RequestInfoSocketHandler
from voila.static_file_handler import (
    AllowListFileHandler,
    MultiStaticFileHandler,
    TemplateStaticFileHandler,
)
from voila.tornado.handler import TornadoVoilaHandler

BUSY_TITLE = "The dashboard is busy"
_NAME = re.compile(r"[A-Za-z0-9_.-]+")


def _utcnow():
    from jupyter_server._tz import utcnow

    return utcnow()


class BoundedKernelManager(AsyncMappingKernelManager):
    """Kernel manager whose kernels end soon after their page closes.

    Voilà builds its pooling manager on top of this class
    (``VoilaConfiguration.multi_kernel_manager_class``), so pooled kernels keep Voilà's rule
    (never culled) and every other kernel gets the one below.
    """

    page_timeout = Integer(
        60,
        config=True,
        help="Seconds a kernel with no page connected may stay quiet before it is shut down "
        "(closed tab, or a page that never connected).",
    )

    connect_timeout = Integer(
        120,
        config=True,
        help="Seconds a page kernel that never had a page connected may stay quiet: the "
        "browser may still be loading the page's JavaScript on a busy machine.",
    )

    refill_after_connect = Float(
        10,
        config=True,
        help="Seconds after the page that took a pooled kernel has connected to it before the "
        "pool is refilled (the refill's kernel start would compete with that page's loading "
        "on a small machine). The pool is refilled after fill_delay seconds in any case.",
    )

    def __init__(self, **kwargs):
        self._disconnected_at: dict[str, object] = {}
        self._connected_once: set[str] = set()
        self._pending_fill: tuple[str, dict] | None = None
        super().__init__(**kwargs)
        # Voilà's pooling subclass (built on this class) defines fill_if_needed; a refill it
        # asks for when a visitor takes a kernel (delay None) waits for that page instead.
        voila_fill = getattr(self, "fill_if_needed", None)
        if voila_fill is not None:
            self._voila_fill = voila_fill
            self.fill_if_needed = self._fill_after_page

    def _fill_after_page(self, delay=None, notebook_name=None, **kwargs) -> None:
        if delay is not None:  # at start, or an explicit delay: as Voilà does
            self._voila_fill(delay=delay, notebook_name=notebook_name, **kwargs)
            return
        self._pending_fill = (notebook_name, kwargs)
        asyncio.get_event_loop().call_later(float(self.fill_delay), self._fill_pending)

    def _fill_pending(self) -> None:
        pending, self._pending_fill = self._pending_fill, None
        if pending is not None:
            notebook_name, kwargs = pending
            self._voila_fill(delay=0, notebook_name=notebook_name, **kwargs)

    def notify_connect(self, kernel_id: str) -> None:
        """Remember that a page reached this kernel (from then on ``page_timeout`` applies);
        the first page of a kernel taken from the pool starts the refill's countdown."""
        super().notify_connect(kernel_id)
        first = kernel_id not in self._connected_once
        self._connected_once.add(kernel_id)
        if first and self._pending_fill is not None:
            asyncio.get_event_loop().call_later(self.refill_after_connect, self._fill_pending)

    def notify_disconnect(self, kernel_id: str) -> None:
        """Remember when the last page connection closed (the quiet time starts then)."""
        super().notify_disconnect(kernel_id)
        if self._kernel_connections.get(kernel_id, 0) <= 0:
            self._disconnected_at[kernel_id] = _utcnow()

    def remove_kernel(self, kernel_id: str):
        self._disconnected_at.pop(kernel_id, None)
        self._connected_once.discard(kernel_id)
        return super().remove_kernel(kernel_id)

    def page_kernel_count(self) -> int:
        """Kernels serving pages (or being started for one): all kernels except pooled ones."""
        return len(set(self.list_kernel_ids()) - pooled_kernel_ids(self))

    async def cull_kernel_if_idle(self, kernel_id: str) -> None:
        """Shut a kernel down when it is dead, or quiet past its timeout and not busy.

        Quiet means no message since ``max(last activity, last page disconnect)``; the timeout
        is ``cull_idle_timeout`` while a page is connected, ``page_timeout`` once its page has
        gone, and ``connect_timeout`` while no page has connected yet (the page may still be
        loading).
        """
        kernel = self._kernels.get(kernel_id)
        if kernel is None:
            return
        state = getattr(kernel, "execution_state", None)
        if state == "dead":
            self.log.warning("Shutting down dead kernel %s.", kernel_id)
            await ensure_async(self.shutdown_kernel(kernel_id))
            return
        if state == "busy" and not self.cull_busy:
            return
        try:
            since = kernel.last_activity
        except (AttributeError, TraitError):  # still starting: no activity recorded yet
            return  # (the trait is unset then, and reading it raises TraitError, not None)
        if since is None:
            return
        connections = self._kernel_connections.get(kernel_id, 0)
        closed = self._disconnected_at.get(kernel_id)
        if not connections and closed is not None and closed > since:
            since = closed
        if connections:
            limit = self.cull_idle_timeout
        elif kernel_id in self._connected_once:
            limit = self.page_timeout
        else:
            limit = max(self.page_timeout, self.connect_timeout)
        if connections and not self.cull_connected:
            return
        quiet = _utcnow() - since
        if quiet > timedelta(seconds=limit):
            self.log.info(
                "Shutting down kernel %s: %d page connection(s), quiet for %d s (limit %d s).",
                kernel_id,
                connections,
                int(quiet.total_seconds()),
                limit,
            )
            await ensure_async(self.shutdown_kernel(kernel_id))


def pooled_kernel_ids(km) -> set[str]:
    """Ids of the kernels waiting in Voilà's preheat pool (started, not yet given to a page)."""
    out = set()
    for pool in getattr(km, "_pools", {}).values():
        for task in pool:
            if task.done() and not task.cancelled() and task.exception() is None:
                out.add(task.result()["kernel_id"])
    return out


def promote_ready_kernel(km, notebook: str) -> bool:
    """Put a ready pooled kernel first in ``notebook``'s pool; False when none is ready.

    Ready means the kernel ran the notebook up to the cell that waits for the browser's request
    (it has opened Voilà's request-info socket). Voilà takes the first pool entry and waits for
    it, so an entry still loading data must not be first.
    """
    pool = getattr(km, "_pools", {}).get(notebook, [])
    for i, task in enumerate(pool):
        if not task.done() or task.cancelled() or task.exception() is not None:
            continue
        if task.result()["kernel_id"] in RequestInfoSocketHandler._waiters:
            pool.insert(0, pool.pop(i))
            return True
    return False


def busy_page(pages: int) -> str:
    """The plain page a visitor past the cap gets (reloads itself after a minute)."""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta http-equiv="refresh" content="60">'
        f"<title>{BUSY_TITLE}</title>"
        "<style>body{font-family:sans-serif;color:#1f2933;max-width:34em;margin:12vh auto;"
        "padding:0 1em;line-height:1.5}h1{font-size:1.6em;color:#1f5fa8}</style></head><body>"
        f"<h1>{BUSY_TITLE}</h1>"
        "<p>It is serving as many staff as it can at once "
        f"({html.escape(str(pages))} open pages).</p>"
        "<p><strong>Please retry in a minute.</strong> This page tries again by itself "
        "after a minute.</p></body></html>"
    )


class GuardedVoilaHandler(TornadoVoilaHandler):
    """The dashboard page: a ready pooled kernel, else a fresh one, else the busy page."""

    @tornado.web.authenticated
    async def get(self, path=None):
        km = self.kernel_manager
        notebook = self.notebook_path or path
        self._use_pool = promote_ready_kernel(km, notebook)
        limit = self.settings.get("acm_max_kernels", 0)
        pages = km.page_kernel_count() if limit else 0
        if not self._use_pool and limit and pages >= limit:
            self.log.warning("Busy: %d page kernels (limit %d); answered 503.", pages, limit)
            self.set_status(503)
            self.set_header("Retry-After", "60")
            self.set_header("Content-Type", "text/html; charset=utf-8")
            self.set_header("Cache-Control", "no-store")
            self.finish(busy_page(limit))
            return
        await super().get(path)

    def should_use_rendered_notebook(self, *args, **kwargs) -> bool:
        return getattr(self, "_use_pool", False) and super().should_use_rendered_notebook(
            *args, **kwargs
        )


class StatusHandler(JupyterHandler):
    """``/acm/status``: the server's kernels as JSON, for monitoring and for tests.

    ``page_kernels`` counts what the cap counts (kernels serving pages, including one still
    shutting down), so a check that waits for room waits on the same number the busy page uses.
    Signed in like the dashboard (the token, or the Hub).
    """

    @tornado.web.authenticated
    def get(self):
        km = self.kernel_manager
        body = {
            "page_kernels": km.page_kernel_count(),
            "pooled_kernels": len(pooled_kernel_ids(km)),
            "max_kernels": self.settings.get("acm_max_kernels", 0),
            "preview": _preview_state(self.settings.get("acm_previews")),
        }
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps(body))


class PreviewHandler(JupyterHandler):
    """``/acm/preview?provider=<id>``: the still picture of that provider's first view
    (:mod:`acm_helpers.explorer.preview`), or 404 while none is up to date. Signed in like
    the page. The id only selects among the files the build listed; it never forms a path."""

    @tornado.web.authenticated
    def get(self):
        previews = self.settings.get("acm_previews")
        provider = self.get_argument("provider", "")
        page = previews.page(provider) if previews is not None else None
        self.set_header("Cache-Control", "no-store")
        if page is None:
            self.set_status(404)
            self.set_header("Content-Type", "text/plain; charset=utf-8")
            self.finish("404: no preview\n")
            return
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(page)


class VegaBundleHandler(tornado.web.RequestHandler):
    """``/acm/vega/<hash>.js``: Vega's JavaScript for the charts
    (:mod:`acm_helpers.explorer.vega_bundle`), cached by the browser for a year (the address
    changes with the content), gzipped when the browser accepts it. Any other hash is 404.

    Not signed in: it is the same public library a CDN would serve (Vega, Vega-Lite and
    altair's widget code), with no data in it, like Voilà's own ``/voila/static`` files; a
    module import from the page must not depend on how the page was signed in.
    """

    def get(self, digest: str):
        from acm_helpers.explorer import vega_bundle

        bundle = vega_bundle.served()
        if bundle is None or digest != bundle.digest:
            self.set_status(404)
            self.set_header("Content-Type", "text/plain; charset=utf-8")
            self.finish("404: Not found\n")
            return
        self.set_header("Content-Type", "text/javascript; charset=utf-8")
        self.set_header("Cache-Control", "public, max-age=31536000, immutable")
        self.set_header("Vary", "Accept-Encoding")
        if "gzip" in self.request.headers.get("Accept-Encoding", ""):
            self.set_header("Content-Encoding", "gzip")
            self.finish(bundle.gzipped)
        else:
            self.finish(bundle.body)


class _NotFoundOutside:
    """Static-file mixin: a path outside the folder, or malformed, is 404 (never 403 or 500)."""

    def validate_absolute_path(self, root, absolute_path):
        try:
            return super().validate_absolute_path(root, absolute_path)
        except tornado.web.HTTPError as exc:
            if exc.status_code == 403:
                raise tornado.web.HTTPError(404) from None
            raise
        except (ValueError, AssertionError, OSError):
            raise tornado.web.HTTPError(404) from None

    def write_error(self, status_code: int, **kwargs) -> None:
        # A plain page: Jupyter's error template is not on Voilà's template path.
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish(f"{status_code}: {'Not found' if status_code == 404 else self._reason}\n")

    def parse_url_path(self, url_path):
        parts = url_path.replace("\\", "/").split("/")
        if any(p in ("..", "") for p in parts[:-1]) or parts[-1] == ".." or "\x00" in url_path:
            raise tornado.web.HTTPError(404)
        return super().parse_url_path(url_path)


class SafeTemplateStaticFileHandler(_NotFoundOutside, TemplateStaticFileHandler):
    """``/voila/templates/<template>/static/<file>``; anything else is 404."""

    def parse_url_path(self, url_path):
        parts = url_path.split("/", 2)
        if len(parts) != 3 or parts[1] != "static" or not _NAME.fullmatch(parts[0]):
            raise tornado.web.HTTPError(404)
        return super().parse_url_path(url_path)

    @classmethod
    def get_absolute_path(cls, root, path):
        try:
            return super().get_absolute_path(root, path)
        except (ValueError, AssertionError):
            raise tornado.web.HTTPError(404) from None


class SafeMultiStaticFileHandler(_NotFoundOutside, MultiStaticFileHandler):
    """``/voila/static/``: Voilà's own assets."""


class SafeFileFindHandler(_NotFoundOutside, FileFindHandler):
    """``/voila/labextensions/``: the widget managers' JavaScript."""


class SafeAllowListFileHandler(_NotFoundOutside, AllowListFileHandler):
    """``/voila/files/``: allowlisted files next to the notebook."""


SAFE_HANDLERS = {
    TemplateStaticFileHandler: SafeTemplateStaticFileHandler,
    MultiStaticFileHandler: SafeMultiStaticFileHandler,
    FileFindHandler: SafeFileFindHandler,
    AllowListFileHandler: SafeAllowListFileHandler,
    TornadoVoilaHandler: GuardedVoilaHandler,
}


class AcmVoila(Voila):
    """Voilà with the handlers above and a cap on page kernels (``max_kernels``)."""

    max_kernels = Integer(
        16,
        config=True,
        help="Pages served at once (one kernel each, preheated pool not counted); past it a "
        "visitor gets the busy page. 0: no cap.",
    )

    previews = Bool(
        True,
        config=True,
        help="Show a still picture of the provider's first view while the page loads "
        "(drawn once per state of the store, in a child process at low priority).",
    )

    def init_settings(self) -> dict:
        from acm_helpers.explorer import vega_bundle

        if vega_bundle.served() is not None:  # before any kernel starts: kernels inherit it
            os.environ[vega_bundle.ENV_SERVED] = "1"
        settings = super().init_settings()
        settings["acm_max_kernels"] = self.max_kernels
        settings["acm_previews"] = _previews() if self.previews else None
        return settings

    def init_handlers(self) -> list:
        # first: Voilà's last pattern sends any other path to its file handler
        out = [
            (url_path_join(self.server_url, r"/acm/status"), StatusHandler),
            (url_path_join(self.server_url, r"/acm/preview"), PreviewHandler),
            (url_path_join(self.server_url, r"/acm/vega/([0-9a-f]{16})\.js"), VegaBundleHandler),
        ]
        for spec in super().init_handlers():
            pattern, cls, *rest = spec
            out.append((pattern, SAFE_HANDLERS.get(cls, cls), *rest))
        return out


def _previews():
    """The server's :class:`~acm_helpers.explorer.preview.Previews` for the first program
    ``acm serve`` put in the environment, building now; None without one."""
    from pathlib import Path

    from acm_helpers.explorer import preview, serve

    files = serve._paths("", serve.ENV_PROGRAM)
    dirs = serve._paths("", serve.ENV_DATA_DIR)
    if not files or not dirs:
        return None
    folder = os.environ.get(preview.ENV_PREVIEW_DIR) or str(
        preview.default_folder(Path(dirs[0]), [Path(files[0])])
    )
    os.environ[preview.ENV_PREVIEW_DIR] = folder
    previews = preview.Previews(Path(folder), Path(dirs[0]), [Path(files[0])])
    previews.start()
    watch_previews(previews)
    return previews


PREVIEW_WATCH_S = 60  # how often the server looks for a changed store (a few file stats)


def watch_previews(previews, every_s: float = PREVIEW_WATCH_S):
    """Look at the store every ``every_s`` seconds and redraw the pictures when it has changed,
    so that after the nightly refresh they are ready before the first visitor (otherwise the
    first visits after a refresh would find them stale, get none, and start the rebuild).
    Returns the started ``tornado.ioloop.PeriodicCallback``."""
    import logging

    import tornado.ioloop

    def check() -> None:
        try:
            previews.ready()
        except OSError as exc:  # the store moved or is being replaced: try again next time
            logging.getLogger("acm.preview").warning("Pictures: cannot read the store: %s", exc)

    watch = tornado.ioloop.PeriodicCallback(check, every_s * 1000)
    watch.start()
    return watch


def _preview_state(previews) -> str:
    """``off``, ``ready`` (an up-to-date picture set exists) or ``building``."""
    if previews is None:
        return "off"
    return "ready" if previews.ready() else "building"
