"""Turn a notebook template into a packet: execute it with parameters, export offline HTML, print
a PDF with Debian's Chromium, write an XLSX appendix. Every file is written atomically.

Why one module: the dashboard packets, the internal system packet, the deep dive and the
end-of-contract report are all "run a template, then publish it"; :func:`render_notebook` is the
one call the batch run and the meeting-cycle reports share.

Offline by construction: the nbconvert template (``templates/nbconvert/packet``) drops
require.js, MathJax, mermaid and widget scripts; charts are inline SVG; :func:`check_offline`
refuses HTML that would still fetch anything. PDF printing aborts every request that is not a
local file. Heavy objects (the HTML exporter, the browser) are created once per process and
reused, so a worker pays for them once per run, not once per packet.
"""

from __future__ import annotations

import atexit
import functools
import html as html_lib
import re
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from acm_helpers.core import stages
from acm_helpers.core.errors import NotebookFailed, OfflineError, RunError
from acm_helpers.core.resources import nbconvert_templates, notebook
from acm_helpers.packets.xlsx import SUPPRESSED, write_xlsx  # noqa: F401 - re-exported (report.write_xlsx)
from acm_helpers.store.store import atomic_write
from acm_helpers.views import svg_normal
from acm_helpers.views.svg_ids import renumber_svg_ids

TEMPLATES = nbconvert_templates()  # package data: holds packet/ (index.html.j2, packet.css)
TEMPLATE_NAME = "packet"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# A tag attribute that would make the browser fetch something from another host.
REMOTE_REF = re.compile(
    r"<(script|link|img|iframe|source|embed|object|audio|video)\b[^>]*?\b(src|href|data)\s*=\s*[\"']?\s*(https?:)?//",
    re.IGNORECASE,
)
REMOTE_CSS = re.compile(r"(@import|url\()\s*[\"']?\s*(https?:)?//", re.IGNORECASE)

Executor = Callable[[Path, Mapping[str, Any], Path | None], Any]
"""How a notebook is executed: ``(template, parameters, cwd) -> executed NotebookNode``.

The default runs papermill with a fresh kernel; a warm-kernel worker or a Dask task can pass its
own (same signature), and nothing else in the pipeline changes.
"""


@dataclass
class RenderResult:
    """What :func:`render_notebook` produced: file paths, and seconds per step."""

    html: Path
    pdf: Path | None = None
    notebook: Any = None
    timings: dict[str, float] = field(default_factory=dict)
    stages: list[dict[str, Any]] = field(default_factory=list)
    """The notebook's own stage records (data load, sections, charts: :mod:`acm_helpers.core.stages`),
    taken out of its outputs; the host's steps are recorded with ``stages.stage`` in this process."""


# -- execution ---------------------------------------------------------------------------------
def execute_fresh(template: Path, parameters: Mapping[str, Any], cwd: Path | None = None) -> Any:
    """Execute a template with papermill in a new kernel (the default executor)."""
    import papermill

    return papermill.execute_notebook(
        str(template),
        None,
        parameters=dict(parameters),
        progress_bar=False,
        request_save_on_cell_execute=False,
        cwd=str(cwd) if cwd else None,
    )


def execute(
    template: str | Path,
    parameters: Mapping[str, Any],
    *,
    executor: Executor | None = None,
    cwd: str | Path | None = None,
) -> Any:
    """Run a notebook template with parameters and return the executed notebook.

    ``template`` is a registered template name (``"contract"``, see
    :data:`acm_helpers.core.resources.TEMPLATES`) or a notebook path.

    Raises:
        UnknownIdError: an unknown template name (listing the known ones).
        NotebookFailed: a cell raised; names the cell, its first line and the error.
    """
    from papermill.exceptions import PapermillExecutionError

    template = notebook(template)
    run = executor or execute_fresh
    try:
        return run(template, dict(parameters), Path(cwd) if cwd else None)
    except PapermillExecutionError as exc:
        # papermill inserts an "injected-parameters" cell after the tagged one; report the index
        # in the template the author edits.
        index = (
            exc.cell_index - 1 if exc.cell_index > _parameters_index(template) else exc.cell_index
        )
        raise NotebookFailed(
            str(template), index, exc.source, exc.ename, exc.evalue, parameters
        ) from None


@functools.lru_cache(maxsize=32)
def _parameters_index_cached(path: str, mtime: float) -> int:
    import nbformat

    nb = nbformat.read(path, as_version=4)
    for i, cell in enumerate(nb.cells):
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            return i
    return len(nb.cells)


def _parameters_index(template: Path) -> int:
    return _parameters_index_cached(str(template), template.stat().st_mtime)


# -- HTML ----------------------------------------------------------------------------------------
@functools.cache
def _exporter():
    from nbconvert import HTMLExporter

    return HTMLExporter(
        template_name=TEMPLATE_NAME,
        extra_template_basedirs=[str(TEMPLATES)],
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        embed_images=True,
    )


def warm_exporter() -> None:
    """Build this process's HTML exporter now (template loading and compiling) and export one
    tiny notebook with it, not on the first packet; once per process.

    Why the export: the first export also loads what nbconvert imports and builds only when it
    first converts (its preprocessors and filters, the Markdown renderer, BeautifulSoup):
    measured 2026-12-07, the first packet's HTML export took 0.44 s of CPU and every later
    one about 0.1 s. Done in the batch run's parent before it forks its workers, both workers
    inherit it (the cost is paid once a run, not once a worker)."""
    _warmed()


@functools.cache
def _warmed() -> None:
    import nbformat

    _exporter().environment.get_template("index.html.j2")
    chart = (
        '<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"><g><text>1</text></g></svg>'
    )
    tiny = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_markdown_cell("# Warm-up\n\nA *short* text."),
            nbformat.v4.new_code_cell(
                "",
                outputs=[nbformat.v4.new_output("display_data", data={"text/html": chart})],
            ),
        ]
    )
    export_html(tiny, title="warm-up")


def export_html(nb: Any, *, title: str) -> str:
    """Executed notebook -> one self-contained HTML page (inputs hidden, no scripts fetched).

    The inline SVG charts skip nbconvert's BeautifulSoup pass over the page: they are set aside
    and put back as that pass writes them (:mod:`acm_helpers.views.svg_normal`), so the page is
    the same, byte for byte, at a fraction of the CPU."""
    import copy
    import uuid

    nb.metadata["title"] = title
    marker, charts = f"acmsvg{uuid.uuid4().hex}n", []
    light = copy.deepcopy(nb)  # the caller's notebook keeps its outputs
    for cell in light.get("cells", []):
        for out in cell.get("outputs", []):
            data = out.get("data") or {}
            if isinstance(data.get("text/html"), str) and "<svg" in data["text/html"]:
                data["text/html"] = svg_normal.set_aside(data["text/html"], marker, charts)
    page, _resources = _exporter().from_notebook_node(
        light, resources={"metadata": {"name": title}}
    )
    body = svg_normal.put_back(page, marker, charts)
    if body is None:  # a chart where the markers cannot stand: the plain export
        body, _resources = _exporter().from_notebook_node(
            nb, resources={"metadata": {"name": title}}
        )
    body = renumber_svg_ids(body)  # the same bytes whichever worker rendered the charts
    check_offline(body, where=title)
    return body


def check_offline(html: str, *, where: str = "HTML") -> None:
    """Refuse HTML that would load anything from the network when opened.

    Raises:
        OfflineError: quoting the first offending tag, so the template or output can be fixed.
    """
    for pattern in (REMOTE_REF, REMOTE_CSS):
        match = pattern.search(html)
        if match:
            start = max(match.start() - 40, 0)
            raise OfflineError(
                f"{where}: the page would fetch from the network: "
                f"{html[start : match.end() + 60]!r}. Packets must be self-contained; "
                "remove the asset or inline it."
            )


def write_text(path: str | Path, text: str) -> Path:
    """Write text (UTF-8) atomically: temp file in the same folder, then rename."""
    return atomic_write(Path(path), lambda tmp: tmp.write_text(text, encoding="utf-8"))


# -- PDF -------------------------------------------------------------------------------------------
class _Browser:
    """One headless Chromium per process (Playwright driving Debian's binary, no download)."""

    def __init__(self) -> None:
        self._pw = None
        self._browser = None

    def get(self):
        if self._browser is None or not self._browser.is_connected():
            from playwright.sync_api import sync_playwright

            self.close()  # a disconnected browser's Playwright must stop before a new one starts

            self._pw = sync_playwright().start()
            self._browser = self._pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            atexit.register(self.close)
        return self._browser

    def close(self) -> None:
        try:
            if self._browser is not None and self._browser.is_connected():
                self._browser.close()
        finally:
            self._browser = None
            if self._pw is not None:
                self._pw.stop()
                self._pw = None


_BROWSER = _Browser()


def warm_browser() -> None:
    """Start this process's Chromium now, so the first PDF does not wait for it."""
    _BROWSER.get()


def close_browser() -> None:
    """Close this process's Chromium (pool finalizers call it; safe to call twice)."""
    _BROWSER.close()


def _local_only(route) -> None:
    if route.request.url.startswith(("file:", "data:", "about:")):
        route.continue_()
    else:
        route.abort()


def print_pdf(html_path: str | Path, pdf_path: str | Path, *, footer: str = "") -> Path:
    """Print an HTML file to PDF with Chromium; every non-local request is aborted.

    Why Chromium: the PDF then matches the HTML exactly (same SVG, same CSS), with no second
    layout engine to maintain. Falls back to ``chromium --headless --print-to-pdf`` when
    Playwright is not installed.
    """
    html_path, pdf_path = Path(html_path).resolve(), Path(pdf_path)
    if not Path(CHROMIUM).exists():
        raise RunError(
            f"{CHROMIUM} not found: install Debian's chromium (`make system-deps`) or run "
            "with --no-pdf."
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return _print_pdf_cli(html_path, pdf_path)
    footer_html = (
        '<div style="font-size:8px;color:#6b7785;width:100%;padding:0 0.5in;display:flex;'
        f'justify-content:space-between;"><span>{html_lib.escape(footer)}</span>'
        '<span><span class="pageNumber"></span> / <span class="totalPages"></span></span></div>'
    )

    def write(tmp: Path) -> None:
        page = _BROWSER.get().new_page()
        try:
            page.route("**/*", _local_only)
            page.goto(html_path.as_uri(), wait_until="load")
            page.pdf(
                path=str(tmp),
                format="Letter",
                print_background=True,
                prefer_css_page_size=True,
                display_header_footer=True,
                header_template="<span></span>",
                footer_template=footer_html,
            )
        finally:
            page.close()

    return atomic_write(pdf_path, write)


def _print_pdf_cli(html_path: Path, pdf_path: Path) -> Path:
    def write(tmp: Path) -> None:
        cmd = [
            CHROMIUM,
            "--headless",
            *CHROMIUM_ARGS,
            "--no-pdf-header-footer",
            f"--print-to-pdf={tmp}",
            html_path.as_uri(),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if proc.returncode != 0 or not tmp.exists():
            raise RunError(f"chromium could not print {html_path}: {proc.stderr[-500:]}")

    return atomic_write(pdf_path, write)


# -- the one call --------------------------------------------------------------------------------------
def render_notebook(
    template: str | Path,
    parameters: Mapping[str, Any],
    out_dir: str | Path,
    *,
    title: str | None = None,
    stem: str = "packet",
    pdf: bool = True,
    executor: Executor | None = None,
    cwd: str | Path | None = None,
    footer: str = "",
) -> RenderResult:
    """Execute ``template`` with ``parameters`` and publish ``out_dir/<stem>.html`` (and ``.pdf``).

    Used by the batch run for every packet and by the meeting-cycle reports (deep dive,
    end-of-contract). Files are replaced atomically, so a reader never sees half a packet, and a
    failure leaves the previous packet in place.

    Args:
        template: notebook with a tagged ``parameters`` cell: a registered template name
            (``"dashboard"``, ``"contract"`` ...) or a path.
        parameters: injected as papermill does.
        out_dir: folder for the outputs (created).
        title: HTML title (default: the template name and parameters).
        stem: file name without extension.
        pdf: also print a PDF with Chromium.
        executor: how to execute (default: papermill, fresh kernel).
        cwd: working directory for the notebook's code.
        footer: text at the bottom of every PDF page (e.g. provider and period).

    Raises:
        NotebookFailed: a cell raised (nothing is written).
        OfflineError: the exported HTML would load something from the network.
    """
    out_dir = Path(out_dir)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    with stages.stage("notebook execution"):
        nb = execute(template, parameters, executor=executor, cwd=cwd)
        kernel_stages = stages.collect(nb)  # before the export: the page never carries them
    timings["execute"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    title = title or f"{notebook(template).stem} " + " ".join(
        str(v) for k, v in parameters.items() if k in ("provider", "period")
    )
    with stages.stage("HTML export"):
        page = export_html(nb, title=title)
        html_path = write_text(out_dir / f"{stem}.html", page)
    timings["html"] = time.perf_counter() - t0
    result = RenderResult(html=html_path, notebook=nb, timings=timings, stages=kernel_stages)
    if pdf:
        t0 = time.perf_counter()
        with stages.stage("PDF"):
            result.pdf = print_pdf(html_path, out_dir / f"{stem}.pdf", footer=footer or title)
        timings["pdf"] = time.perf_counter() - t0
    return result


def publish_audited(result: RenderResult, out_dir: str | Path, facts: Any) -> RenderResult:
    """Leak-check a rendered output in its staging folder, then move it into ``out_dir``.

    Why: a provider-audience deep dive or contract report goes outside the agency, like a
    packet; it is audited the same way (:func:`acm_helpers.packets.audit.check_files`, with the
    differencing check) and published only when clean. On findings nothing is published, an
    earlier file of the same name is removed (nobody sends a stale one) and the error names the
    cells.

    Args:
        result: what :func:`render_notebook` wrote into a staging folder.
        out_dir: the final folder.
        facts: the ``audit.PrivacyFacts`` of the output's provider.

    Raises:
        PrivacyError: the output would leak; its message names each finding.
    """
    import os
    import shutil

    from acm_helpers.core.errors import PrivacyError
    from acm_helpers.packets import audit

    out_dir = Path(out_dir)
    files = [p for p in (result.html, result.pdf) if p is not None]
    staging = result.html.parent
    t0 = time.perf_counter()
    findings = audit.check_files(files, facts)
    result.timings["audit"] = time.perf_counter() - t0
    if findings:
        for path in files:
            (out_dir / path.name).unlink(missing_ok=True)
        shutil.rmtree(staging, ignore_errors=True)
        raise PrivacyError(
            f"{out_dir / result.html.name}: not published, the privacy audit found "
            f"{len(findings)} problem(s): "
            + "; ".join(f.message for f in findings[:5])
            + ". Check the suppression of these cells (the engine's privacy step) before "
            "sending this output."
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    moved = {}
    for path in files:
        os.replace(path, out_dir / path.name)
        moved[path] = out_dir / path.name
    shutil.rmtree(staging, ignore_errors=True)
    return RenderResult(
        html=moved[result.html],
        pdf=moved.get(result.pdf) if result.pdf is not None else None,
        notebook=result.notebook,
        timings=result.timings,
    )
