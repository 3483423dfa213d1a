"""Vega's JavaScript for the explorer's offline charts, bundled once and kept on disk.

Why: altair's ``JupyterChart.enable_offline()`` bundles Vega with vl-convert every time it is
called: about 10 s of CPU and a JavaScript engine's memory in every kernel, for the same
0.9 MB of text. ``acm serve`` builds the bundle once (:func:`ensure_bundle`, in a child
process so the server does not keep vl-convert's memory either) and every kernel only reads
the file (:func:`enable_offline`). The file name carries the altair and vl-convert versions,
so an upgrade builds a new one. Nothing is downloaded: vl-convert ships Vega.

Served by ``acm serve`` (:func:`served`, ``/acm/vega/<hash>.js``): a kernel's chart widget
then carries only :data:`LOADER`, a few lines that import the bundle from the server, which
the browser caches (the address changes with the content) and the page preloads while Voilà's
own JavaScript loads; the kernel no longer sends 0.9 MB to every page.

anywidget's 2 s limit. anywidget gives a widget's model 2 s to load its module and initialise;
past it the model is marked failed ("[anywidget] Failed to initialize model.") and every later
message to it is dropped: that page's chart kept its first drawing and never took an update
(the page bar, with the CSV and print buttons and the address, is an anywidget too). With
twenty pages loading at once on 2 cores (load average 20 to 27) 1 to 3 pages of 20 hit it
(2026-12-04), with the inline bundle and with this small loader alike: the page's main thread
was busy for longer than 2 s. The ``acm`` template therefore lifts that one limit to 10 minutes
(``AbortSignal.timeout(2000)`` on its pages; ``tests/unit/test_vega_bundle.py`` checks that the
installed anywidget still uses that call for it).
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import os
import subprocess
import sys
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

ENV_BUNDLE = "ACM_VEGA_BUNDLE"  # path of the bundle file, to put it elsewhere than the cache
ENV_SERVED = "ACM_VEGA_SERVED"  # "1": the server serves the bundle, kernels send LOADER
PAGE_CONFIG_KEY = "acmVega"  # the bundle's address in the page config, relative to baseUrl

# The chart widget's module when the bundle is served: the bundle itself, imported from the
# address in the page config (the page has preloaded it). No address leaves the server the page
# came from. Loading waits for the bundle inside anywidget's initialisation, whose 2 s limit the
# ``acm`` template lifts (see the module docstring).
LOADER = """
const el = document.getElementById("jupyter-config-data");
const config = el ? JSON.parse(el.textContent) : {};
if (!config.KEY) { throw new Error("ACM: this page does not name the chart bundle"); }
const vega = await import(new URL((config.baseUrl || "/") + config.KEY, window.location.href).href);
export default vega.default;
""".replace("KEY", PAGE_CONFIG_KEY)


def bundle_path() -> Path:
    """Where the bundle lives: ``$ACM_VEGA_BUNDLE``, else the user's cache folder."""
    if os.environ.get(ENV_BUNDLE):
        return Path(os.environ[ENV_BUNDLE])
    from acm_helpers.core.resources import user_cache

    tag = f"altair-{version('altair')}-vlc-{version('vl-convert-python')}"
    return user_cache() / f"jupyterchart-offline-{tag}.js"


def build_bundle() -> str:
    """Vega and altair's widget code as one self-contained ES module (what altair bundles)."""
    import altair as alt

    alt.JupyterChart.enable_offline(True)
    return alt.JupyterChart._esm


def ensure_bundle(path: Path | None = None, *, in_child: bool = True) -> Path:
    """Build the bundle file unless it exists; return its path.

    Args:
        path: where to write (default :func:`bundle_path`).
        in_child: build in a child Python, so this process never loads vl-convert.
    """
    path = path or bundle_path()
    if path.exists() and path.stat().st_size > 0:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    if in_child:
        code = (
            "import sys; from pathlib import Path; "
            "from acm_helpers.explorer.vega_bundle import ensure_bundle; "
            "ensure_bundle(Path(sys.argv[1]), in_child=False)"
        )
        subprocess.run([sys.executable, "-c", code, str(path)], check=True)
        return path
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(build_bundle(), encoding="utf-8")
    tmp.replace(path)  # atomic: a kernel never reads half a file
    return path


def enable_offline() -> None:
    """Make altair's ``JupyterChart`` load Vega from the bundle, never from a CDN: from the
    server that serves the page (:data:`LOADER`) under ``acm serve``, else inline (JupyterLab).
    """
    import altair as alt

    if alt.JupyterChart._is_offline:
        return
    if os.environ.get(ENV_SERVED) == "1":
        alt.JupyterChart._esm = LOADER
    else:
        path = ensure_bundle(in_child=False)
        alt.JupyterChart._esm = path.read_text(encoding="utf-8")
    alt.JupyterChart._is_offline = True


@dataclass(frozen=True)
class Served:
    """The bundle as the server sends it: its bytes, gzipped once, and its address."""

    body: bytes
    gzipped: bytes
    digest: str  # the first 16 hex digits of the body's SHA-256

    @property
    def address(self) -> str:
        """Relative to the server's base URL; changes whenever the content does."""
        return f"acm/vega/{self.digest}.js"

    @classmethod
    def from_file(cls, path: Path) -> Served:
        body = path.read_bytes()
        return cls(body, gzip.compress(body, 6, mtime=0), hashlib.sha256(body).hexdigest()[:16])


@functools.lru_cache(maxsize=1)
def served() -> Served | None:
    """The bundle this server sends (read once); None when it has not been built."""
    path = bundle_path()
    if not path.exists() or path.stat().st_size == 0:
        return None
    return Served.from_file(path)
