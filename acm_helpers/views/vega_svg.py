"""Vega-Lite to SVG with vl-convert, text measured with the fonts vl-convert ships.

Why: vl-convert measures every label, title and legend entry it lays out. Its font database
lists the system's fonts first, and for a font on disk it opens, maps and unmaps the file at
every text it measures: about 1,100 times for one of our trend charts, 18 µs of system time
each in a process with many threads. With no system font directory (``FONTS_CONF``, read by the
font database once, at a process's first chart) it measures with the Liberation Sans it
ships, held in memory. Measured 2026-12-06 (60 renders of a 48-point line chart): 3.2 s of CPU
(1.3 s of it system time, 144,000 page faults) became 1.6 s (0.05 s, 13,400), with the same
SVG bytes; Debian's Liberation Sans, which it used before, is the same font.

It also makes chart layout the same on every machine, whatever fonts are installed. A program
whose labels need other scripts (Chinese, Arabic ...) sets ``ACM_CHART_FONTS=system`` to measure
with the system's fonts again. The variable is set only for the first call and put back at
once, so browsers and other children started later never see it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

from acm_helpers.core.resources import shipped

FONTS_ENV = "ACM_CHART_FONTS"  # "system": measure with the system's fonts
_LOCK = threading.Lock()
_STARTED: list[int] = []  # the process id that started vl-convert
_DELEGATE: list[Callable[[dict[str, Any]], str]] = []


def delegate(draw: Callable[[dict[str, Any]], str] | None) -> None:
    """Send every later :func:`to_svg` to ``draw`` (None: draw here again).

    Why: a notebook forked from a warm server (:mod:`acm_helpers.batch.forked`) cannot start
    vl-convert cheaply (its engine's threads do not survive a fork, and a new one costs about
    0.4 s), so it hands each spec to its worker, which keeps one engine for every packet.
    """
    _DELEGATE.clear()
    if draw is not None:
        _DELEGATE.append(draw)


def started_here() -> bool:
    """True when vl-convert has been started in this process (a process forked from it cannot
    draw: the engine's threads stay behind)."""
    return bool(_STARTED) and _STARTED[0] == os.getpid()


def fonts_conf() -> str:
    """The fontconfig file vl-convert's font database reads at its first chart."""
    return str(shipped("templates") / "fonts" / "vl-convert-fonts.conf")


def start() -> None:
    """Start vl-convert (its JavaScript engine and font database) now, once per process."""
    with _LOCK:
        if _STARTED:
            if _STARTED[0] != os.getpid():
                raise RuntimeError(
                    "vl-convert was started before this process was forked; its engine's threads "
                    "are not here. Start it only in the process that draws (see batch.forked)."
                )
            return
        import vl_convert as vlc

        # One axis, so one text is measured: the font database loads at the first text.
        tiny = {
            "data": {"values": [{"x": 1}]},
            "mark": "point",
            "encoding": {"x": {"field": "x", "type": "quantitative"}},
        }
        if os.environ.get(FONTS_ENV, "").strip().lower() == "system":
            vlc.vegalite_to_svg(tiny)
        else:
            old = os.environ.get("FONTCONFIG_FILE")
            os.environ["FONTCONFIG_FILE"] = fonts_conf()
            try:
                vlc.vegalite_to_svg(tiny)
            finally:
                if old is None:
                    os.environ.pop("FONTCONFIG_FILE", None)
                else:
                    os.environ["FONTCONFIG_FILE"] = old
        _STARTED.append(os.getpid())


def to_svg(spec: dict[str, Any]) -> str:
    """A Vega-Lite spec (a dict) as SVG text."""
    if _DELEGATE:
        return _DELEGATE[0](spec)
    if not _STARTED or _STARTED[0] != os.getpid():
        start()
    import vl_convert as vlc

    return vlc.vegalite_to_svg(spec)
