"""The staff explorer: ipywidgets wired to the pure views in :mod:`acm_helpers.explorer.data`.

Served by Voilà (``acm serve``) from ``notebooks/05_explorer.ipynb``, which builds the app with
:func:`acm_helpers.explorer.serve.explorer_from_settings`, applies the page address
(:meth:`Explorer.apply_query`) and shows :attr:`Explorer.widget`.

Rules this module keeps (see ARCHITECTURE.md, "Security"):

- Each program's tables are opened once per session (:func:`explorer.load_data`); a widget
  change re-renders only the parts whose inputs changed, each reading just its own rows.
- Every widget or URL value is checked against the allowlist (:func:`explorer.make_selection`)
  before use; nothing a user sends is formatted into SQL or code.
- Callbacks catch :class:`AcmError` only and show its message as plain text; anything else is a
  bug and is left to surface in the server log (Voilà hides tracebacks from the page).
- Charts render with no network (:mod:`acm_helpers.explorer.chartboard`): altair's ``JupyterChart`` with
  ``offline=True`` (default) or static SVG from vl-convert (``ACM_CHARTS=svg``).
"""

from __future__ import annotations

import asyncio
import html
import os
from urllib.parse import parse_qs

import ipywidgets as w
import pandas as pd

from acm_helpers.core import text
from acm_helpers.core.config import Program
from acm_helpers.core.errors import AcmError, ConfigError, StoreError, UnknownIdError
from acm_helpers.explorer import data as explorer
from acm_helpers.explorer.chartboard import ChartBoard
from acm_helpers.explorer.data import ALL, ExplorerData, Selection
from acm_helpers.explorer.page import PageBar, view_query
from acm_helpers.meetings import triage_review
from acm_helpers.metrics.spc import SIGNAL_LEADS
from acm_helpers.views import charts, spc_icons

CHART_WIDTH = 470
IDLE_DELAY = 0.3  # seconds after an update before likely next views are rendered
CSS = """<style>
.acm-message {background:#fdf1e7;border-left:4px solid #d9822b;padding:8px 12px;color:#1f2933;}
.acm-controls {gap:4px 16px;align-items:center;margin:2px 0;}
.acm-controls .widget-label {text-align:right;}
.acm-toolbar {align-items:center;gap:12px;margin:6px 0 4px 0;}
.acm-status {font-size:13px;color:#1f5fa8;min-width:110px;}
.acm-account {font-size:13px;color:#3e4c59;} .acm-account a {color:#1f5fa8;}
.acm-account-box {margin-left:auto;}
.acm-explorer:not(.acm-idle) .acm-status::before {content:"Updating…";
  padding:3px 10px;border-radius:10px;background:#e6eef8;}
.acm-explorer:not(.acm-idle) .acm-tiles, .acm-explorer:not(.acm-idle) .acm-charts
  {opacity:.55;transition:opacity .15s;}
.acm-grain-note {font-size:13px;color:#3e4c59;background:#f5f7fa;border-left:3px solid #9aa5b1;
  padding:4px 10px;margin:2px 0 6px 0;}
.acm-view-title {font-size:15px;font-weight:600;color:#1f2933;margin:4px 0;}
.acm-tile {border:1px solid #d5dbe1;border-radius:6px;padding:8px 10px;margin:4px;}
.acm-tile.acm-flagged {border-color:#d9822b;box-shadow:inset 4px 0 0 #d9822b;}
.acm-tile.acm-improved {border-color:#289de0;box-shadow:inset 4px 0 0 #289de0;}
.acm-tile-label {font-size:12px;color:#52606d;}
.acm-tile-value {font-size:24px;font-weight:600;white-space:nowrap;}
.acm-tile-row {display:flex;align-items:center;gap:6px;}
.acm-arrow {font-size:16px;} .acm-arrow.better {color:#1f7a4d;} .acm-arrow.worse {color:#b3261e;}
.acm-arrow.same {color:#6b7785;}
.acm-tile-note, .acm-tile-sub {font-size:11px;color:#6b7785;line-height:1.35;}
.acm-chip {display:inline-block;font-size:10px;padding:1px 6px;margin:3px 3px 0 0;border-radius:8px;
  background:#fdf1e7;color:#a35200;border:1px solid #f0c9a3;}
.acm-chip.acm-good {background:#e8f4fc;color:#1f5fa8;border-color:#b9dcf3;}
.acm-flag {font-size:11px;color:#a35200;line-height:1.35;margin-top:4px;}
.acm-flag.acm-good {color:#1f5fa8;}
.acm-tile .widget-html-content {white-space:normal;overflow-wrap:anywhere;}
.acm-tile .widget-html {max-width:100%;margin-right:0;}
.acm-charts .vega-embed {padding-right:0 !important;}
.acm-topic {background:#eef4fb;padding:6px 12px;border-radius:4px;}
.acm-table td, .acm-table th {padding:2px 8px;font-size:12px;text-align:left;}
.acm-empty {color:#6b7785;font-style:italic;padding:20px;}
.acm-download-link, .acm-print-button {padding:4px 10px;margin-right:8px;border:1px solid #1f5fa8;
  border-radius:4px;color:#1f5fa8;background:#fff;font-size:13px;cursor:pointer;height:auto;}
.acm-print-only {display:none;}
@media print {
  @page {size:landscape;margin:12mm;}
  .acm-controls, .acm-toolbar, .acm-drill, .acm-topic-button, .acm-message-box {display:none !important;}
  .acm-print-only {display:inline;}
  .acm-explorer .acm-tiles, .acm-explorer .acm-charts {opacity:1 !important;}
  .jp-Cell, .jp-OutputArea, .jp-OutputArea-child {break-inside:auto;}
  .acm-tile, .acm-charts svg {break-inside:avoid;}
  /* voila's lab page is a fixed-height JupyterLab shell whose panels scroll inside it: in
     print, let the page grow so every part prints, over as many pages as it needs. */
  html, body, #main, .jp-LabShell, #jp-main-content-panel, #rendered_cells {
    position:static !important;height:auto !important;min-height:0 !important;
    overflow:visible !important;contain:none !important;background:#fff !important;}
  .jp-OutputArea-child, .jp-OutputArea-output {display:block !important;break-inside:auto !important;}
  .jp-MarkdownCell {display:none;}
}
</style>"""
TILE_WIDTH = "225px"
CONTROL_WIDTH = "380px"  # every control the same width, so the two rows line up in columns
LABEL_WIDTH = "80px"


class Explorer:
    """The app: controls, tiles, charts and tables for one session.

    Args:
        programs: the programs offered (a picker appears when there are several).
        stores: one store per program, same order.
        chart_mode: ``jupyter`` or ``svg`` (default from env ``ACM_CHARTS``, else ``jupyter``).
        account: behind JupyterHub, ``(user name, log-out address)``
            (:func:`acm_helpers.explorer.hub.signed_in`), shown at the top right; None alone.
    """

    def __init__(
        self,
        programs: list[Program],
        stores: list,
        chart_mode: str | None = None,
        account: tuple[str, str] | None = None,
    ):
        self._stores = {p.id: s for p, s in zip(programs, stores, strict=True)}
        self._programs = {p.id: p for p in programs}
        self._data: dict[str, ExplorerData] = {}
        self._keys: dict[str, object] = {}
        self._allowed: explorer.Allowed | None = None  # set when a program's tables are loaded
        self._muted = False
        self._idle_round = 0
        self.idle_done: asyncio.Event | None = None  # see _prerender_when_idle
        mode = chart_mode or os.environ.get("ACM_CHARTS") or "jupyter"
        self.message = w.HTML(layout=w.Layout(display="none"))
        self.message.add_class("acm-message-box")
        style = {"description_width": LABEL_WIDTH}
        box = w.Layout(width=CONTROL_WIDTH)
        self.program = w.Dropdown(
            description="Program",
            options=[(p.name, p.id) for p in programs],
            style=style,
            layout=w.Layout(width=CONTROL_WIDTH),
        )
        self.provider = w.Dropdown(description="Provider", style=style, layout=box)
        self.metric = w.Dropdown(description="Metric", style=style, layout=box)
        self.months = w.SelectionRangeSlider(
            description="Months",
            options=["-"],
            continuous_update=False,
            style=style,
            layout=box,
        )
        self.dimension = w.Dropdown(description="Breakdown", style=style, layout=box)
        self.grain = w.Dropdown(
            description="Over",
            style=style,
            layout=box,
            tooltip="The period of tiles, trend, peers and breakdown (complete periods only)",
        )
        # the CSV and print buttons; keeps the page address on this view
        self.pagebar = PageBar(csv=self.csv_file)
        self.status = w.HTML()  # reads "Updating…" while a change is computed (CSS)
        self.account = w.HTML(
            ""
            if account is None
            else f'<span class="acm-account">Signed in as <b>{html.escape(account[0])}</b> · '
            f'<a href="{html.escape(account[1])}">Log out</a></span>'
        )
        self.account.add_class("acm-account-box")  # at the right end of the toolbar
        self.grain_note = w.HTML(layout=w.Layout(display="none"))
        self.view_title = w.HTML()
        self.topic = w.HTML()
        self.topic_button = w.Button(description="Open this topic", layout=w.Layout(width="auto"))
        self.tiles = w.HBox(layout=w.Layout(flex_flow="row wrap"))
        self.charts = ChartBoard(mode)
        self.quality, self.actions, self.findings = w.HTML(), w.HTML(), w.HTML()
        # Portfolio triage (all providers, programs with a triage: block): computed when opened
        self.portfolio = w.HTML()
        self.portfolio_box = w.Accordion(children=[self.portfolio], layout=w.Layout(display="none"))
        self.portfolio_box.set_title(0, "Portfolio triage: which contracts get full ACM")
        self.portfolio_box.selected_index = None
        self.portfolio_box.add_class("acm-portfolio")
        self.portfolio_box.observe(self._on_portfolio, "selected_index")
        for el, name in (
            (self.provider, "provider"),
            (self.metric, "metric"),
            (self.months, "months"),
            (self.dimension, "dimension"),
            (self.grain, "grain"),
            (self.tiles, "tiles"),
            (self.quality, "quality"),
            (self.actions, "actions"),
            (self.topic, "topic"),
            (self.findings, "findings"),
            (self.status, "status"),
            (self.grain_note, "grain-note-box"),
            (self.topic_button, "topic-button"),
        ):
            el.add_class(f"acm-{name}")
        if len(programs) < 2:
            self.program.layout.display = "none"
        self.program.observe(self._on_program, "value")
        for ctl in (self.provider, self.metric, self.months, self.dimension, self.grain):
            ctl.observe(self._on_change, "value")
        self.topic_button.on_click(self._on_topic)
        row = w.Layout(flex_flow="row wrap", align_items="center")
        controls = [
            w.HBox([self.program, self.provider, self.metric], layout=row),
            w.HBox([self.dimension, self.grain, self.months], layout=row),
        ]
        for c in controls:
            c.add_class("acm-controls")
        toolbar = w.HBox([self.pagebar, self.status, self.account], layout=row)
        toolbar.add_class("acm-toolbar")
        self.widget = w.VBox(
            [
                w.HTML(CSS),
                self.message,
                self.view_title,
                *controls,
                toolbar,
                self.grain_note,
                w.HBox([self.topic, self.topic_button], layout=row),
                self.tiles,
                self.charts.widget,
                self.findings,
                w.HBox([self.quality, self.actions], layout=w.Layout(flex_flow="row wrap")),
                self.portfolio_box,
            ]
        )
        self.widget.add_class("acm-explorer")
        self._guard(self._load_program, programs[0].id)

    # -- plumbing ---------------------------------------------------------------------------
    def _guard(self, fn, *args) -> None:
        """Run a step; an AcmError becomes a plain message on the page, never a traceback."""
        try:
            fn(*args)
        except AcmError as exc:
            self.say(str(exc))

    def say(self, text: str = "") -> None:
        """Show (or clear, with "") the plain message above the controls."""
        self.message.value = (
            f'<div class="acm-message" role="alert">{html.escape(text, quote=False)}</div>'
            if text
            else ""
        )
        self.message.layout.display = None if text else "none"

    @property
    def data(self) -> ExplorerData:
        """The current program's tables (loaded on first use, then kept for the session)."""
        pid = self.program.value
        if pid not in self._programs:
            raise UnknownIdError("program", pid, list(self._programs))
        if pid not in self._data:
            self._data[pid] = explorer.load_data(self._programs[pid], self._stores[pid])
        return self._data[pid]

    def _load_program(self, program_id: str) -> None:
        data = self.data
        ok = explorer.allowed(data)
        prog = data.program
        self._allowed, self._keys = ok, {}
        self._make_tiles(prog)
        self._muted = True
        try:
            self.provider.options = [(explorer.provider_label(prog, p), p) for p in ok.providers]
            self.provider.value = ALL
            self.metric.options = [(prog.metric(m).label, m) for m in ok.metrics]
            self.metric.value = ok.metrics[0]
            # "Oct 2026" on the slider; its value stays the month's id ("2026-10")
            self.months.options = [(text.period_short(m), m) for m in ok.periods]
            self.months.value = (ok.periods[max(0, len(ok.periods) - 12)], ok.periods[-1])
            self.dimension.options = [("None", "")] + [
                (prog.dimension(d).label, d) for d in ok.dimensions[1:]
            ]
            self.dimension.value = ""
            self.grain.options = [(explorer.GRAIN_LABELS[g], g) for g in ok.grains]
            self.grain.value = ok.grains[0]
        finally:
            self._muted = False
        self.refresh()

    def _on_program(self, change) -> None:
        self.say()
        self._guard(self._load_program, change["new"])

    def _on_change(self, change) -> None:
        if not self._muted:
            self.say()
            self._guard(self.refresh)

    def selection(self) -> Selection:
        """The current widget values, validated against the allowlist."""
        if self._allowed is None:
            raise StoreError("No program data is loaded; see the message above.")
        start, end = self.months.value
        return explorer.make_selection(
            self._allowed,
            self.provider.value,
            self.metric.value,
            start,
            end,
            self.dimension.value,
            self.grain.value,
        )

    def set_view(self, **values: str) -> None:
        """Set several controls at once (validated), then refresh once.

        Keys: provider, metric, dimension, grain, start, end (months). Used by the tile drill,
        the roadmap topic and the page address; a value outside the allowlist raises
        UnknownIdError and changes nothing.
        """
        ok = self._allowed
        known = {
            "provider": ok.providers,
            "metric": ok.metrics,
            "dimension": ok.dimensions,
            "grain": ok.grains,
            "start": ok.periods,
            "end": ok.periods,
        }
        kinds = {"dimension": "breakdown", "start": "month", "end": "month"}
        for key, value in values.items():
            if value not in known[key]:
                raise UnknownIdError(kinds.get(key, key), value, [k for k in known[key] if k])
        start, end = values.pop("start", None), values.pop("end", None)
        if start or end:
            start, end = start or self.months.value[0], end or self.months.value[1]
            if start > end:
                raise ConfigError(
                    f"The page address asks for months from {start} to {end}; the first month "
                    "must not be after the last."
                )
        self._muted = True
        try:
            for key, value in values.items():
                getattr(self, key).value = value
            if start:
                self.months.value = (start, end)
        finally:
            self._muted = False
        self.refresh()

    def apply_query(self, query: str) -> None:
        """Apply the view the page address asks for: ``provider``, ``metric``, ``breakdown``,
        ``grain``, ``from`` and ``to`` (the keys :class:`~acm_helpers.explorer.page.PageBar`
        writes), each checked against the allowlist.

        An unknown value leaves the view as it is and shows a plain message listing the known
        values; the text from the address is escaped and shortened before it is shown.
        """
        if self._allowed is None:  # nothing loaded: the page already says why
            return
        params = parse_qs(query or "", keep_blank_values=True)
        names = {
            "provider": "provider",
            "metric": "metric",
            "breakdown": "dimension",
            "grain": "grain",
            "from": "start",
            "to": "end",
        }
        wanted = {names[k]: params[k][-1] for k in names if k in params}
        if params.get("portfolio", [""])[-1] == "open":  # ?portfolio=open: the triage, opened
            self._muted = True
            self.portfolio_box.selected_index = 0
            self._muted = False
        if wanted.get("provider") in ("all", ""):
            wanted["provider"] = ALL
        try:
            self.set_view(**wanted)
        except UnknownIdError as exc:
            shown = exc.value[:60] if isinstance(exc.value, str) else exc.value
            prog = self.data.program
            if exc.kind == "provider":
                known = ", ".join(f"{k} ({prog.provider(k).name})" for k in exc.known if k != ALL)
                now = self._describe().lower() if self.provider.value == ALL else self._describe()
            elif exc.kind == "metric":
                known = ", ".join(exc.known)
                now = prog.metric(self.metric.value).label
            else:
                known = ", ".join(exc.known[:24]) + (" …" if len(exc.known) > 24 else "")
                now = "the default view"
            self.say(
                f"The page address asks for {exc.kind} {shown!r}, which this program does not "
                f"have. Known {exc.kind}s: {known}. Showing {now} instead."
            )
        except AcmError as exc:
            self.say(str(exc))

    def view_query(self) -> str:
        """The page address of the view on screen (what :class:`PageBar` writes)."""
        sel = self.selection()
        return view_query(
            {
                "provider": "all" if sel.provider == ALL else sel.provider,
                "metric": sel.metric,
                "breakdown": sel.dimension,
                "grain": sel.grain,
                "from": sel.start,
                "to": sel.end,
            }
        )

    def _describe(self) -> str:
        return explorer.provider_label(self.data.program, self.provider.value)

    # -- rendering --------------------------------------------------------------------------
    def refresh(self) -> None:
        """Re-render every part whose inputs changed (each asks the store for its few rows).

        The page root carries the class ``acm-idle`` except while this runs, so a browser test
        can tell a finished update from one whose later parts are still on their way. Once
        done, the other providers' charts for the same view are rendered in idle time.
        """
        self._idle_round += 1  # cancels idle rendering left over from the previous view
        self.widget.remove_class("acm-idle")
        try:
            data, sel = self.data, self.selection()
            self._part("view", sel, lambda: self._view_state(data, sel))
            self.charts.show(self._views(data, sel))
            self._part(
                "tiles",
                (sel.provider, sel.end, sel.metric, sel.grain),
                lambda: self._tiles(data, sel),
            )
            self._part(
                "findings",
                (sel.provider, sel.metric, sel.end, sel.dimension, sel.grain),
                lambda: self._findings(data, sel),
            )
            self._part("topic", sel.end, lambda: self._topic(data, sel))
            self._part("quality", (sel.provider, sel.end), lambda: self._quality(data, sel))
            self._part("actions", (sel.provider, sel.end), lambda: self._actions(data, sel))
            self._portfolio_part(data, sel)
        finally:
            self.widget.add_class("acm-idle")
        self._prerender_when_idle(data, sel)

    def _view_state(self, data: ExplorerData, sel: Selection) -> None:
        """The page address, the view's title (shown on screen and at the top of a printout)
        and the note saying which complete periods the grain shows."""
        self.pagebar.query = self.view_query()
        prog = data.program
        window = explorer.breakdown_period(sel)
        over = {
            "month": f"{text.period(sel.start)} to {text.period(sel.end)}",
            "quarter": f"quarters to {window} ({text.period(window)})",
            "year": f"years to {window}",
            "week": f"weeks to {window} ({text.period(window)})",
            "biweek": f"fortnights to {window} ({text.period(window)})",
            "term": f"contract term to date (through {text.period(sel.end)})",
        }[sel.grain]
        parts = [explorer.provider_label(prog, sel.provider), prog.metric(sel.metric).label, over]
        if sel.dimension:
            parts.append(f"by {prog.dimension(sel.dimension).label.lower()}")
        self.view_title.value = (
            '<div class="acm-view-title"><span class="acm-print-only">'
            f"{html.escape(prog.name)}: </span>{html.escape(' · '.join(parts))}</div>"
        )
        note = explorer.grain_note(sel)
        self.grain_note.value = (
            f'<div class="acm-grain-note">{html.escape(note)}</div>' if note else ""
        )
        self.grain_note.layout.display = None if note else "none"

    def _likely_views(self, data: ExplorerData, sel: Selection):
        """Views someone is likely to ask for next: every other provider's charts for ``sel``.

        Not this provider's other metrics: with them an idle round cost ~4 s of CPU after
        every change (33 charts instead of 18) in every open page's kernel, which on a shared
        2-core server starved the pages still loading (the 20-staff load test).
        """
        others = [
            Selection(p, sel.metric, sel.start, sel.end, sel.dimension, sel.grain)
            for p in self._allowed.providers
            if p != sel.provider
        ]
        for other in others:
            for pane, (key, build) in self._views(data, other).items():
                yield pane, key, build

    def prerender(self) -> None:
        """Render the charts of every provider for the current view, without showing them.

        Called by a preheated kernel while it waits for a browser, so switching provider on
        the first screen is a cache hit; a fresh (cold) kernel skips it.
        """
        if self._allowed is None:
            return
        for pane, key, build in self._likely_views(self.data, self.selection()):
            self.charts.render(pane, key, build)

    def _prerender_when_idle(self, data: ExplorerData, sel: Selection) -> None:
        """Render the other providers' charts for this view, one at a time on the kernel's
        event loop.

        Each step is one chart (tens of ms), so a click arriving meanwhile waits at most one
        step; a newer view cancels the rest. Outside a running kernel loop (tests, scripts)
        nothing is scheduled.
        """
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        round_, todo = self._idle_round, self._likely_views(data, sel)
        self.idle_done = done = asyncio.Event()  # set once this view's likely views are drawn

        def step() -> None:
            if round_ != self._idle_round:
                return
            item = next(todo, None)
            if item is None:
                done.set()
                return
            try:
                self.charts.render(*item)
            except AcmError:  # a view that cannot be drawn says so when someone asks for it
                done.set()
                return
            loop.call_later(0.005, step)

        loop.call_later(IDLE_DELAY, step)

    def _part(self, name: str, key: object, render) -> None:
        if self._keys.get(name) != key:
            render()
            self._keys[name] = key

    def _views(self, data: ExplorerData, sel: Selection) -> dict[str, tuple[tuple, object]]:
        """Each chart pane's view key and how to build it (only called on a cache miss)."""
        prog = data.program
        metric = prog.metric(sel.metric)
        who = explorer.provider_label(prog, sel.provider)

        over = {
            "quarter": "by quarter",
            "year": "by year",
            "week": "by week",
            "biweek": "by fortnight",
        }.get(sel.grain, "")
        window = explorer.breakdown_period(sel)
        # "Oct 2026" for a month (quarters and years read as they are: "2026-Q3", "2026")
        shown_window = "contract term" if window == "term" else text.period_short(window)

        def trend():
            return charts.trend_chart(
                explorer.trend(data, sel),
                title=f"{metric.label}: {who}" + (f", {over}" if over else ""),
                fmt=metric.format,
                target=metric.target,
                width=CHART_WIDTH,
                series="All providers" if sel.provider == ALL else "This provider",
                period_title={
                    "quarter": "Quarter",
                    "year": "Year",
                    "week": "Week",
                    "biweek": "Fortnight",
                }.get(sel.grain, "Month"),
            )

        def peers():
            frame = explorer.peers(data, sel)
            if frame["value"].notna().sum() == 0:
                return f"No provider has a value for {metric.label} in {shown_window}."
            return charts.peer_chart(
                frame,
                title=f"Providers, {shown_window}",
                fmt=metric.format,
                target=metric.target,
                width=CHART_WIDTH - 150,
            )

        def breakdown():
            if not sel.dimension:
                return "Choose a breakdown to see this metric by group."
            frame = explorer.breakdown(data, sel)
            label = prog.dimension(sel.dimension).label.lower()
            if frame.empty:
                return f"No {label} breakdown of {metric.label} for {who} in {shown_window}."
            return charts.equity_chart(
                frame,
                title=f"{metric.label} by {label}: {who}, {shown_window}",
                fmt=metric.format,
                width=CHART_WIDTH,
            )

        base = (prog.id, sel.provider, sel.metric)
        return {
            "trend": ((*base, sel.start, sel.end, sel.grain), trend),
            "peers": ((*base, sel.end, sel.grain), peers),
            "breakdown": ((*base, sel.end, sel.dimension, sel.grain), breakdown),
        }

    def _make_tiles(self, program: Program) -> None:
        """One tile per metric, made once per program; refreshes only change their content."""
        self._tile = {}
        for metric_id, metric in program.metrics.items():
            body = w.HTML()
            btn = w.Button(
                description="Show breakdown",
                layout=w.Layout(width="auto", display="none"),
                tooltip=f"{metric.label} by group",
            )
            btn.add_class("acm-drill")
            btn.on_click(lambda _b, m=metric_id: self._guard(self._drill, m))
            box = w.VBox([body, btn], layout=w.Layout(display="none", width=TILE_WIDTH))
            box.add_class("acm-tile")
            self._tile[metric_id] = (box, body, btn)
        self.tiles.children = [box for box, _, _ in self._tile.values()]

    def _tiles(self, data: ExplorerData, sel: Selection) -> None:
        """Fill the tiles from the shared tile records (:mod:`acm_helpers.meetings.tiles`), so
        the value, arrow, target, peer median, rank and flags read as in the packet."""
        shown = set()
        good_lead = SIGNAL_LEADS["improvement"]  # good news is not styled as a warning
        for t in explorer.tile_records(data, sel):
            box, body, btn = self._tile[t.metric_id]
            esc = html.escape
            flags = "".join(
                f'<div class="acm-flag acm-good">{esc(r)}</div>'
                if t.good or r.startswith(good_lead)
                else f'<div class="acm-flag">&#9888; {esc(r)}</div>'
                for r in t.reasons
            )
            chips = "".join(
                f'<span class="acm-chip{" acm-good" if t.good else ""}">{esc(c)}</span>'
                for c in t.chips
            )
            icons = spc_icons.variation_icon(t.signal, t.direction) + spc_icons.assurance_icon(
                t.assurance
            )
            arrow = (
                f'<span class="acm-arrow {t.how}" title="{esc(t.versus)}: {esc(t.previous)}">'
                f"{t.arrow}</span>"
                if t.arrow
                else ""
            )
            when = text.period(t.period) if t.period != "term" else "Contract term to date"
            why = "no value" if not t.has_value else t.suppression_reason  # instead of a number
            body.value = (
                f'<div class="acm-tile-label">{esc(t.label)}</div>'
                f'<div class="acm-tile-row"><div class="acm-tile-value" data-metric="{esc(t.metric_id)}">'
                f"{esc(t.shown)}</div>{arrow}{icons}</div>"
                f'<div class="acm-tile-note">{esc(when)}</div>'
                + (f'<div class="acm-tile-note">{esc(why)}</div>' if why else "")
                + f'<div class="acm-tile-sub">{esc(" · ".join(t.sub))}</div>'
                f'<div class="acm-chips">{chips}</div>{flags}'
                + (f'<div class="acm-tile-note">{esc(t.note)}</div>' if t.note else "")
            )
            flagged = t.flagged and not t.good
            drill = t.flagged and bool(data.program.dimensions)
            btn.layout.display = None if drill else "none"
            (box.add_class if flagged else box.remove_class)("acm-flagged")
            (box.add_class if t.flagged and t.good else box.remove_class)("acm-improved")
            box.layout.display = None
            shown.add(t.metric_id)
        for metric_id, (box, _, _) in self._tile.items():
            if metric_id not in shown:
                box.layout.display = "none"

    def _drill(self, metric_id: str) -> None:
        """From a flagged tile to its breakdown: that metric, and a dimension if none is set."""
        sel = self.selection()
        topic = explorer.roadmap_topic(self.data.program, sel.end) or {}
        dim = sel.dimension or topic.get("dimension") or self._allowed.dimensions[1]
        self.set_view(metric=metric_id, dimension=dim)

    def _topic(self, data: ExplorerData, sel: Selection) -> None:
        topic = explorer.roadmap_topic(data.program, sel.end)
        if topic is None:
            self.topic.value, self.topic_button.layout.display = "", "none"
            return
        self.topic.value = (
            f'<div class="acm-topic"><b>Topic of the month ({html.escape(text.period(sel.end))}):</b> '
            f"{html.escape(topic['title'])} &mdash; {html.escape(topic['question'])}</div>"
        )
        self.topic_button.layout.display = None

    def _on_topic(self, _button) -> None:
        def go() -> None:
            topic = explorer.roadmap_topic(self.data.program, self.selection().end) or {}
            self.set_view(metric=topic["metric"], dimension=topic.get("dimension") or "")

        self.say()
        self._guard(go)

    def _findings(self, data: ExplorerData, sel: Selection) -> None:
        """The engine's disparity sentences for the breakdown shown (flagged groups only)."""
        frame = explorer.breakdown(data, sel)
        reasons = [r for r in frame.loc[frame["flagged"], "reason"] if r] if len(frame) else []
        self.findings.value = "".join(
            f'<div class="acm-flag">&#9888; {html.escape(r)}</div>' for r in reasons
        )

    def _quality(self, data: ExplorerData, sel: Selection) -> None:
        q = explorer.quality_status(data, sel)
        rows = []
        for r in q.itertuples():
            if not r.submitted:
                rows.append((r.provider, "no submission loaded", "", "", ""))
                continue
            late = (
                "date received unknown"  # a blank cell would read as a missing column
                if pd.isna(r.days_late)
                else ("on time" if r.days_late <= 0 else f"{text.value(r.days_late, 'days')} late")
            )
            comp = "" if pd.isna(r.completeness) else text.value(r.completeness, "percent")
            rows.append(
                (
                    r.provider,
                    f"{text.count(r.rows_accepted)} loaded / {text.count(r.rows_rejected)} rejected",
                    comp,
                    late,
                    r.top_problem,
                )
            )
        self.quality.value = _table(
            f"Data quality, {text.period(sel.end)} submissions",
            ["Provider", "Rows", "Completeness", "Timeliness", "Top problem"],
            rows,
        )

    def _actions(self, data: ExplorerData, sel: Selection) -> None:
        items = explorer.open_actions(data, sel)
        rows = (
            [
                (
                    r.item_id,
                    r.owner,
                    f"{r.due_date:%Y-%m-%d}" + (" (overdue)" if r.overdue else ""),
                    r.text,
                )
                for r in items.itertuples()
            ]
            if len(items)
            else []
        )
        title = f"Open action items at the end of {text.period(sel.end)}"
        self.actions.value = _table(
            title, ["Item", "Owner", "Due", "Action"], rows, empty="No open action items."
        )

    def _on_portfolio(self, change) -> None:
        if not self._muted and change["new"] == 0:
            self._guard(lambda: self._portfolio_part(self.data, self.selection()))

    def _portfolio_part(self, data: ExplorerData, sel: Selection) -> None:
        """The portfolio triage (:func:`acm_helpers.meetings.triage_review.portfolio_view`) for the
        last month shown, under "All providers" only; computed the first time it is opened."""
        prog = data.program
        shown = sel.provider == ALL and prog.triage is not None
        self.portfolio_box.layout.display = None if shown else "none"
        if shown and self.portfolio_box.selected_index == 0:
            self._part(
                "portfolio",
                (prog.id, sel.end),
                lambda: setattr(
                    self.portfolio,
                    "value",
                    triage_review.portfolio_view(prog, self._stores[prog.id], sel.end),
                ),
            )

    def csv_file(self) -> tuple[str, str] | None:
        """File name and text of the CSV behind the view on screen (:func:`explorer.view_csv`).

        Built when someone clicks "Download CSV", never on an update of the view; an AcmError
        becomes the page's plain message and nothing is saved.
        """
        try:
            data, sel = self.data, self.selection()
            csv = explorer.view_csv(data, sel)
        except AcmError as exc:
            self.say(str(exc))
            return None
        name = f"acm_{data.program.id}_{sel.provider}_{sel.metric}_{sel.start}_{sel.end}.csv"
        return name.replace(ALL, "all"), csv


def _table(title: str, header: list[str], rows: list[tuple], empty: str = "") -> str:
    """A small escaped HTML table (text from tables is never trusted as markup)."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows
    )
    inner = (
        f'<table class="acm-table"><tr>{head}</tr>{body}</table>'
        if rows
        else f'<div class="acm-empty">{html.escape(empty)}</div>'
    )
    return f"<h4>{html.escape(title)}</h4>{inner}"
