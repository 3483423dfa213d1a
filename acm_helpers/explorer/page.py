"""The explorer's link to the browser page: the address bar and the print button.

Why a widget: the kernel cannot touch the browser's address bar or its print dialog, and an
``HTML`` widget's ``<script>`` never runs. :class:`PageBar` is a small anywidget (anywidget is
already here for altair's offline charts; its JavaScript is inline, nothing loads from the
network) that

- writes the view's state into the page address (``history.replaceState``) whenever the
  kernel changes :attr:`PageBar.query`, so the address is always a link to what is on screen;
- draws the "Print or save as PDF" button, which opens the browser's own print dialog
  (``window.print()``); the print stylesheet in :mod:`acm_helpers.explorer.app` hides the
  controls, so the PDF holds the view's title, tiles, charts and tables;
- draws the "Download CSV" button: a click asks the kernel for the view's CSV, which is built
  then (not on every update of the view) and saved by the browser from a blob.

The view's keys and their order are :data:`QUERY_KEYS`; the kernel reads the same keys at start
(:meth:`acm_helpers.explorer.app.Explorer.apply_query`).
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

import anywidget
import traitlets

# The page address keys of a view, in the order they are written.
QUERY_KEYS = ("provider", "metric", "breakdown", "grain", "from", "to")

_ESM = """
const KEYS = %s;
function render({ model, el }) {
  const csv = document.createElement("button");
  csv.type = "button";
  csv.className = "acm-download-link jupyter-button";
  csv.textContent = "Download CSV";
  csv.title = "The numbers behind this view (aggregates only), for a spreadsheet.";
  csv.addEventListener("click", () => model.send({ event: "csv" }));
  model.on("msg:custom", (msg) => {
    if (msg.event !== "csv") return;
    const a = document.createElement("a");
    a.href = URL.createObjectURL(new Blob([msg.text], { type: "text/csv;charset=utf-8" }));
    a.download = msg.name;
    document.body.appendChild(a);
    a.click();
    setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 10000);
  });
  el.appendChild(csv);
  const button = document.createElement("button");
  button.type = "button";
  button.className = "acm-print-button jupyter-button";
  button.textContent = "Print or save as PDF";
  button.title = "Opens the browser's print dialog; choose 'Save as PDF' to keep a copy.";
  button.addEventListener("click", () => window.print());
  el.classList.add("acm-pagebar");
  el.appendChild(button);
  function sync() {
    const url = new URL(window.location.href);
    // Only the view's keys: a login token never lands in a link someone may forward.
    const wanted = new URLSearchParams(model.get("query"));
    const kept = new URLSearchParams();
    for (const [k, v] of url.searchParams) {
      if (!KEYS.includes(k) && k !== "token") kept.append(k, v);
    }
    for (const [k, v] of wanted) kept.append(k, v);
    const q = kept.toString();
    const next = url.pathname + (q ? "?" + q : "") + url.hash;
    if (next !== url.pathname + url.search + url.hash) {
      window.history.replaceState(window.history.state, "", next);
    }
    el.dataset.query = model.get("query");
  }
  model.on("change:query", sync);
  sync();
}
export default { render };
""" % ("[" + ", ".join(f'"{k}"' for k in QUERY_KEYS) + "]")


class PageBar(anywidget.AnyWidget):
    """The CSV and print buttons, and the page address kept in step with the view (see module
    doc).

    Args:
        csv: called when the CSV button is clicked; gives ``(file name, CSV text)`` of the view
            on screen, or None when there is nothing to save (it has said why on the page).
    """

    _esm = traitlets.Unicode(_ESM).tag(sync=True)
    query = traitlets.Unicode("").tag(sync=True)

    def __init__(self, csv: Callable[[], tuple[str, str] | None] | None = None, **kwargs):
        super().__init__(**kwargs)
        self._csv = csv
        self.on_msg(self._on_msg)

    def _on_msg(self, _widget, content: dict, _buffers) -> None:
        if not isinstance(content, dict) or content.get("event") != "csv" or self._csv is None:
            return
        made = self._csv()
        if made is not None:
            name, body = made
            self.send({"event": "csv", "name": name, "text": body})


def view_query(values: dict[str, str]) -> str:
    """The page address query of a view: :data:`QUERY_KEYS` in order, empty values left out.

    Values are ids from the allowlist (never free text), URL-encoded all the same.
    """
    return urlencode([(k, values[k]) for k in QUERY_KEYS if values.get(k)])
