"""The explorer's link to the browser page: the address bar and the print button.

Why a widget: the kernel cannot touch the browser's address bar or its print dialog, and an
``HTML`` widget's ``<script>`` never runs. :class:`PageBar` is a small anywidget (anywidget is
already here for altair's offline charts; its JavaScript is inline, nothing loads from the
network) that

- writes the view's state into the page address (``history.replaceState``) whenever the
  kernel changes :attr:`PageBar.query`, so the address is always a link to what is on screen;
- draws the "Print or save as PDF" button, which opens the browser's own print dialog
  (``window.print()``); the print stylesheet in :mod:`acm_helpers.explorer.app` hides the
  controls, so the PDF holds the view's title, tiles, charts and tables.

The view's keys and their order are :data:`QUERY_KEYS`; the kernel reads the same keys at start
(:meth:`acm_helpers.explorer.app.Explorer.apply_query`).
"""

from __future__ import annotations

from urllib.parse import urlencode

import anywidget
import traitlets

# The page address keys of a view, in the order they are written.
QUERY_KEYS = ("provider", "metric", "breakdown", "grain", "from", "to")

_ESM = """
const KEYS = %s;
function render({ model, el }) {
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
    """The print button, and the page address kept in step with the view (see module doc)."""

    _esm = traitlets.Unicode(_ESM).tag(sync=True)
    query = traitlets.Unicode("").tag(sync=True)


def view_query(values: dict[str, str]) -> str:
    """The page address query of a view: :data:`QUERY_KEYS` in order, empty values left out.

    Values are ids from the allowlist (never free text), URL-encoded all the same.
    """
    return urlencode([(k, values[k]) for k in QUERY_KEYS if values.get(k)])
