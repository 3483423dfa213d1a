"""A still picture of the dashboard's first view, per provider, shown while the page loads.

Why: a preheated kernel has the view ready at once, but the browser must first load Voilà's
page (about 100 JavaScript files), connect to the kernel and receive the widgets' state before
Vega draws anything: 2.5 to 4 s on a quiet 2-core machine, most of it in the browser. The
numbers a manager came for are known long before. So ``acm serve`` renders, once per state of
the store, the view a page address with only ``?provider=`` opens (tiles, the charts' one
Vega-Lite spec drawn to SVG by vl-convert, the view's title and notes), and the loading screen
shows it within the first HTML round trip. When the live board has drawn, the picture goes
away; until then its controls are drawn disabled and a line says the page is still loading.

Pieces:

- :func:`build_previews` (run by :func:`start_builder` in a child process, so the server
  never holds pandas, altair or vl-convert): the same :class:`~acm_helpers.explorer.app.Explorer`
  a kernel runs, asked for each provider's page address in turn, and its widget tree written
  out as HTML (:func:`widget_html`). Files go to ``<folder>/<stamp>/<provider>.html``.
- :func:`store_stamp`: what the pictures were drawn from (size and modification time of the
  store's tables and the program files). A picture whose stamp is not the store's current one
  is never shown; the server starts a new build instead.
- :class:`PreviewHandler`: ``/acm/preview?provider=<id>``, signed in like the page; 404 when
  there is no up-to-date picture (the page then shows only its loading line).

Only the first program's providers get pictures (a page opens on the first program), and only
page addresses without ``metric``/``breakdown``/``grain``/``from``/``to`` (the template checks):
a linked view waits for the live board. Nothing user-specific is in a picture (the "Signed in
as" line is left out), so every signed-in user may see the same file.
"""

from __future__ import annotations

import functools
import hashlib
import html
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from acm_helpers.core.schema import ALL

ENV_PREVIEW_DIR = "ACM_PREVIEW_DIR"  # where acm serve keeps the pictures (set per server)
DEFAULT_NAME = "_default"  # the picture of a page address without ?provider=
SKIP_CLASSES = {"acm-account-box", "acm-message-box", "acm-portfolio"}
# Classes the live page (and its browser tests) find parts by are renamed in the picture, so
# nothing can mistake the picture for the live board while both are on the page.
RENAME = {
    "acm-explorer": "acm-preview-root",
    "acm-idle": "",
    "acm-charts": "acm-p-charts",
    **{f"acm-{c}": "" for c in ("program", "provider", "metric", "months", "dimension", "grain")},
    **{f"acm-{c}": "" for c in ("status", "topic-button", "drill", "trend", "peers", "breakdown")},
}
NOTE = (
    '<div class="acm-preview-note" role="status">{loading} The controls work in a moment; '
    "this is the view as it will open.</div>"
)


def default_folder(data_dir: Path, program_files: list[Path]) -> Path:
    """Where a server keeps its pictures unless ``$ACM_PREVIEW_DIR`` says: the user's cache
    folder, one subfolder per store and program, so a restarted server shows the pictures it
    drew before at its first visit (while the store is unchanged) instead of drawing them again.

    Folders are created readable by the user only (the pictures hold what the staff page
    shows: aggregates, peers named).
    """
    from acm_helpers.core.resources import user_cache

    key = "\0".join(str(Path(p).resolve()) for p in [data_dir, *program_files])
    folder = user_cache() / "previews" / hashlib.sha256(key.encode()).hexdigest()[:16]
    folder.parent.parent.parent.mkdir(parents=True, exist_ok=True)
    for part in (folder.parent.parent, folder.parent, folder):
        part.mkdir(mode=0o700, exist_ok=True)
    folder.chmod(0o700)
    return folder


@functools.cache
def code_stamp() -> str:
    """The package's version and its files (size and modification time), so an upgrade draws
    the pictures again; computed once per process (a running server's code does not change)."""
    import acm_helpers

    pkg = Path(acm_helpers.__file__).resolve().parent
    h = hashlib.sha256(acm_helpers.__version__.encode())
    for path in sorted(pkg.rglob("*")):
        if path.is_file() and path.suffix != ".pyc":
            st = path.stat()
            h.update(f"{path.relative_to(pkg)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def store_stamp(data_dir: Path, program_files: list[Path]) -> str:
    """Digest of what a picture shows: the program files and the store's tables as they are,
    drawn by this version of the code (:func:`code_stamp`).

    Stat, not content (as :meth:`~acm_helpers.store.store.Store.inputs_stamp`): every table
    write is a rename of a new file, so a change gives a new size or modification time. The
    submitted-episodes partitions are left out: the explorer reads only derived tables.
    """
    h = hashlib.sha256(code_stamp().encode())
    for path in program_files:
        st = Path(path).stat()
        h.update(f"{Path(path).resolve()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    tables = Path(data_dir) / "tables"
    if tables.is_dir():
        for path in sorted(_table_files(tables)):
            st = path.stat()
            h.update(f"{path.relative_to(tables)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:20]


def _table_files(tables: Path):
    for entry in os.scandir(tables):
        if entry.is_file():
            yield Path(entry.path)
        elif entry.is_dir() and entry.name not in ("episodes_submitted", "surveys", "frontline"):
            yield from Path(entry.path).rglob("*.parquet")


# -- the widget tree as HTML -----------------------------------------------------------------
def widget_html(widget) -> str:
    """Static HTML of an ipywidgets tree as it looks now (hidden parts left out).

    Boxes become flex ``div``s with the widgets' own CSS classes (so the explorer's style
    sheet applies), HTML widgets their value, a dropdown or slider a disabled control showing
    its current value, a button a disabled button, an altair ``JupyterChart`` the SVG of its
    spec (vl-convert). Other widgets (the CSV/print bar) are left out.
    """
    import ipywidgets as w

    classes = set(getattr(widget, "_dom_classes", ()))
    layout = getattr(widget, "layout", None)
    if classes & SKIP_CLASSES or (layout is not None and layout.display == "none"):
        return ""
    cls = html.escape(" ".join(sorted(c for c in (RENAME.get(c, c) for c in classes) if c)))
    style = _layout_style(layout)
    if isinstance(widget, w.Box):
        direction = "column" if isinstance(widget, w.VBox) else "row"
        inner = "".join(widget_html(child) for child in widget.children)
        return (
            f'<div class="acm-p-box {cls}" style="display:flex;flex-direction:{direction};'
            f'{style}">{inner}</div>'
        )
    if isinstance(widget, w.HTML):
        return f'<div class="acm-p-html {cls}" style="{style}">{widget.value}</div>'
    if isinstance(widget, w.Button):
        return (
            f'<button class="acm-p-button {cls}" disabled style="{style}">'
            f"{html.escape(widget.description)}</button>"
        )
    if isinstance(widget, w.Dropdown | w.SelectionRangeSlider):
        return _control(widget, cls, style)
    if type(widget).__name__ == "PageBar":  # its two buttons, drawn as they will be
        return (
            '<div class="acm-p-pagebar">'
            '<button class="acm-p-pagebutton" disabled>Download CSV</button>'
            '<button class="acm-p-pagebutton" disabled>Print or save as PDF</button></div>'
        )
    if type(widget).__name__ == "JupyterChart":
        spec = widget.spec
        return f'<div class="vega-embed">{_svg(spec)}</div>' if spec else ""
    return ""


def _control(widget, cls: str, style: str) -> str:
    import ipywidgets as w

    if isinstance(widget, w.SelectionRangeSlider):
        labels = widget.label or ("", "")
        shown = f"{labels[0]} \u2013 {labels[1]}"
    else:
        shown = widget.label or ""
    label_width = (widget.style.description_width or "") if hasattr(widget, "style") else ""
    return (
        f'<div class="acm-p-control {cls}" style="{style}">'
        f'<span class="acm-p-label" style="width:{html.escape(label_width)}">'
        f"{html.escape(widget.description)}</span>"
        f"<select disabled><option>{html.escape(str(shown))}</option></select></div>"
    )


def _layout_style(layout) -> str:
    if layout is None:
        return ""
    parts = []
    for attr, css in (
        ("width", "width"),
        ("flex_flow", "flex-flow"),
        ("align_items", "align-items"),
    ):
        value = getattr(layout, attr, None)
        if value:
            parts.append(f"{css}:{value}")
    return html.escape(";".join(parts))


def notebook_intro(path: Path) -> str:
    """The explorer notebook's text cells as HTML (what the live page shows above the
    widgets), so the picture's parts sit where the live page will put them. Markdown by
    mistune, the renderer nbconvert itself uses."""
    import mistune

    cells = json.loads(Path(path).read_text(encoding="utf-8")).get("cells", [])
    parts = [
        mistune.html("".join(c.get("source", "")))
        for c in cells
        if c.get("cell_type") == "markdown"
    ]
    return f'<div class="acm-p-intro">{"".join(parts)}</div>' if parts else ""


def _svg(spec: dict) -> str:
    from acm_helpers.views import vega_svg  # text measured with vl-convert's own fonts

    return vega_svg.to_svg(spec)


# -- building ------------------------------------------------------------------------------
def build_previews(out_dir: Path, program_files: str = "", data_dir: str = "") -> Path:
    """Draw every provider's first view of the first program into ``out_dir/<stamp>/``.

    Arguments as :func:`acm_helpers.explorer.serve.explorer_from_settings` (empty: the env
    ``acm serve`` sets). Each file is written whole (a rename), then ``done.json`` lists them;
    a folder without ``done.json`` is an unfinished build. Returns the folder.
    """
    from acm_helpers.explorer import serve

    files = serve._paths(program_files, serve.ENV_PROGRAM)
    dirs = serve._paths(data_dir, serve.ENV_DATA_DIR)
    stamp = store_stamp(Path(dirs[0]), [Path(f) for f in files[:1]]) if dirs else "none"
    folder = Path(out_dir) / stamp
    if (folder / "done.json").exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    app = serve.explorer_from_settings(program_files, data_dir)
    if app._allowed is None:  # nothing to show: the page says why
        return folder
    loading = serve.loading_texts_for(files[:1])
    intro = notebook_intro(serve.find_notebook())
    written = {}
    views = [(DEFAULT_NAME, None)] + [
        (p, "all" if p == ALL else p) for p in app._allowed.providers if p != ""
    ]
    for name, query in views:
        if query is not None:
            app.apply_query(f"provider={query}")
        text = loading["providers"].get(query or "", loading["default"])
        page = NOTE.format(loading=html.escape(text)) + intro + widget_html(app.widget)
        target = folder / f"{name}.html"
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        tmp.write_text(page, encoding="utf-8")
        tmp.replace(target)
        written[name] = target.name
    (folder / "done.json").write_text(
        json.dumps({"stamp": stamp, "files": written, "built": time.time()}), encoding="utf-8"
    )
    prune(Path(out_dir), keep=folder)
    return folder


KEEP_SETS = 2  # finished picture sets always kept per folder: the newest, and the one before it
KEEP_S = 86_400  # and any set drawn in the last day (another server may share the folder)
STALE_BUILD_S = 3600  # an unfinished set older than this is a build that died


def prune(out_dir: Path, keep: Path, sets: int = KEEP_SETS, now: float | None = None) -> list[Path]:
    """Delete older picture sets, so a store refreshed every night does not fill the disk:
    finished sets beyond the ``sets`` newest and drawn more than a day ago (``keep``, the one
    just drawn, is always kept) and unfinished ones older than an hour (a build that died).
    Returns what was deleted."""
    import shutil

    finished, removed = [], []
    now = time.time() if now is None else now
    for entry in Path(out_dir).iterdir():
        if not entry.is_dir() or entry == keep:
            continue
        done = entry / "done.json"
        try:
            if done.exists():
                finished.append((done.stat().st_mtime, entry))
            elif now - entry.stat().st_mtime > STALE_BUILD_S:
                removed.append(entry)
        except OSError:  # another server pruned it first
            continue
    finished.sort(reverse=True)
    removed += [e for t, e in finished[max(sets - 1, 0) :] if now - t > KEEP_S]
    for entry in removed:
        shutil.rmtree(entry, ignore_errors=True)
    return removed


def start_builder(out_dir: Path) -> subprocess.Popen:
    """Build the pictures in a child process at the lowest priority (the env names the program)."""
    code = (
        "import sys; from acm_helpers.explorer.preview import build_previews; "
        "build_previews(sys.argv[1])"
    )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / "build.log", "ab") as log:  # the child keeps its own handle
        return subprocess.Popen(
            [sys.executable, "-c", code, str(out_dir)],
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=_lowest_priority,
        )


def _lowest_priority() -> None:
    """The builder yields to everything else (nice 19: about 1.5% of a core against a busy
    one, so it never starves on a server that is always busy, as ``SCHED_IDLE`` could)."""
    if hasattr(os, "nice"):
        os.nice(19)


class Previews:
    """The server's side: which picture to send, and a rebuild when the store has changed.

    Args:
        out_dir: the pictures' folder (one subfolder per stamp).
        data_dir, program_files: the first program's store and file(s), to stamp.
        builder: starts a build and returns its process (default :func:`start_builder`);
            tests pass their own.
        recheck: seconds a computed stamp is trusted before the store is looked at again.
    """

    def __init__(
        self,
        out_dir: Path,
        data_dir: Path,
        program_files: list[Path],
        builder=None,
        recheck: float = 2.0,
    ):
        self.out_dir, self.data_dir, self.program_files = Path(out_dir), data_dir, program_files
        self.builder = builder or start_builder
        self.recheck = recheck
        self._stamp: tuple[float, str] | None = None
        self._building = None
        self._tried: set[str] = set()

    def stamp(self) -> str:
        now = time.monotonic()
        if self._stamp is None or now - self._stamp[0] > self.recheck:
            self._stamp = (now, store_stamp(self.data_dir, self.program_files))
        return self._stamp[1]

    def start(self) -> None:
        """Build unless an up-to-date build exists, one is running, or one already ran for
        this state of the store (a failed build is not retried until the store changes; its
        output is in ``<out_dir>/build.log``)."""
        if self._building is not None and self._building.poll() is None:
            return
        stamp = self.stamp()
        if (self.out_dir / stamp / "done.json").exists() or stamp in self._tried:
            return
        self._tried.add(stamp)
        self._building = self.builder(self.out_dir)

    def ready(self) -> bool:
        """An up-to-date set of pictures exists (else one is being built)."""
        if (self.out_dir / self.stamp() / "done.json").exists():
            return True
        self.start()
        return False

    def page(self, provider: str) -> str | None:
        """The picture for ``?provider=`` (``""``: none given; ``all``: all providers), or
        None: the id is not one the build listed, or the store has moved on since (a rebuild
        is then started)."""
        if not self.ready():
            return None
        done = self.out_dir / self.stamp() / "done.json"
        files = json.loads(done.read_text(encoding="utf-8")).get("files", {})
        name = files.get({"": DEFAULT_NAME, "all": ALL}.get(provider, provider))
        if name is None:
            return None
        return (done.parent / name).read_text(encoding="utf-8")
