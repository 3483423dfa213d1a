"""Vega's JavaScript for the explorer's offline charts, bundled once and kept on disk.

Why: altair's ``JupyterChart.enable_offline()`` bundles Vega with vl-convert every time it is
called: about 10 s of CPU and a JavaScript engine's memory in every kernel, for the same
0.9 MB of text. ``acm serve`` builds the bundle once (:func:`ensure_bundle`, in a child
process so the server does not keep vl-convert's memory either) and every kernel only reads
the file (:func:`enable_offline`). The file name carries the altair and vl-convert versions,
so an upgrade builds a new one. Nothing is downloaded: vl-convert ships Vega.
"""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

ENV_BUNDLE = "ACM_VEGA_BUNDLE"  # path of the bundle file (set by acm serve for its kernels)


def bundle_path() -> Path:
    """Where the bundle lives: ``$ACM_VEGA_BUNDLE``, else the user's cache folder."""
    if os.environ.get(ENV_BUNDLE):
        return Path(os.environ[ENV_BUNDLE])
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    tag = f"altair-{version('altair')}-vlc-{version('vl-convert-python')}"
    return cache / "acm-workbench" / f"jupyterchart-offline-{tag}.js"


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
    """Make altair's ``JupyterChart`` load Vega from the bundle file, not from a CDN."""
    import altair as alt

    if alt.JupyterChart._is_offline:
        return
    path = ensure_bundle(in_child=False)
    alt.JupyterChart._esm = path.read_text(encoding="utf-8")
    alt.JupyterChart._is_offline = True
