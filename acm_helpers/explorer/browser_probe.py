"""In-page timers for the explorer, shared by the browser tests and ``benchmarks/bench_voila.py``.

Why in the package: the load test and the benchmark must time the same events the same way.
Times are taken by the page itself (``performance.now()``): first chart = navigation start to
the first drawn Vega mark in the charts; update = a select's ``change`` event to the charts'
next DOM change that holds drawn marks (or the "nothing to draw" sentence).
"""

from __future__ import annotations

# A chart counts as drawn when its svg holds marks (Vega writes role="graphics-symbol" on each
# mark), not when an empty svg element appears.
DRAWN = "svg [role='graphics-symbol']"

# Add with ``page.add_init_script``: records when the live board's first chart is drawn
# (``__acmFirst``) and when the loading screen's still picture of the view showed its chart
# (``__acmPreview``, :mod:`acm_helpers.explorer.preview`; stays null when there was none).
FIRST_CHART_JS = """
window.__acmFirst = null; window.__acmPreview = null;
new MutationObserver((_, obs) => {
  if (window.__acmPreview === null && document.querySelector("#acm-preview:not([hidden]) DRAWN")) {
    window.__acmPreview = performance.now();
  }
  if (document.querySelector(".acm-charts DRAWN")) { window.__acmFirst = performance.now(); obs.disconnect(); }
}).observe(document, {subtree: true, childList: true, attributes: true, attributeFilter: ["hidden"]});
""".replace("DRAWN", DRAWN)

# ``page.evaluate(CHANGE_JS, [control, option_index, pane, give_up_ms])``: ms until the pane
# redraws, or -1 once ``give_up_ms`` (default 60 s) have passed without a redraw (the caller
# counts that as a failure). An index of -1 picks the next option. A load test passes its own
# generous bound: a redraw that is only late (kernels queued on a busy machine) is not lost.
CHANGE_JS = """
([ctl, index, pane, giveUp]) => new Promise((resolve) => {
  const sel = document.querySelector(`.acm-${ctl} select`);
  const target = document.querySelector(`.acm-${pane}`);
  const before = target.innerHTML;
  const obs = new MutationObserver(() => {
    if (target.innerHTML !== before && target.querySelector(`DRAWN, .acm-empty`)) {
      obs.disconnect(); resolve(performance.now() - t0);
    }
  });
  obs.observe(target, {subtree: true, childList: true, characterData: true, attributes: true});
  sel.selectedIndex = index < 0 ? (sel.selectedIndex + 1) % sel.options.length : index;
  const t0 = performance.now();
  sel.dispatchEvent(new Event('change', {bubbles: true}));
  setTimeout(() => { obs.disconnect(); resolve(-1); }, giveUp || 60000);
})
""".replace("DRAWN", DRAWN)

FIRST_CHART_DONE = "() => window.__acmFirst !== null"
IDLE = ".acm-explorer.acm-idle"  # the explorer root, once every part of an update has arrived


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0-1) of ``values`` by the nearest-rank rule (no interpolation)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q * len(ordered) + 0.5)))
    return ordered[rank - 1]
