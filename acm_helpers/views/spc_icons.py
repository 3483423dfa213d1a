"""Making Data Count icons: a metric's variation and assurance at a glance, beside its value.

Why: a reader who sees an orange "special cause" badge beside good news has to work out that it
is good news; NHS England's Making Data Count summary icons answer the two questions at once:
is this month unusual, and in which direction (variation), and will the process reliably meet
its target (assurance). The letters and colours follow NHSRplotthedots' ``geom_ptd_icon`` and
``ptd_spc_colours``: grey "C" common cause; blue "H" / "L" an improvement (higher / lower);
orange "H" / "L" a concern; purple "N" a special cause neither better nor worse; blue "P"
consistently passing, orange "F" consistently failing, grey "?" hit and miss.

Pure functions from the engine's ``spc_signal`` / ``spc_assurance`` columns to inline SVG (no
files, no network: packets are opened offline); each icon carries a text title and an
``aria-label`` so it reads without colour.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape

GREY, BLUE, ORANGE, PURPLE = "#7B7D7D", "#289DE0", "#FAB428", "#361475"
ASSURANCE_LABELS = {
    "consistent_pass": "consistently passing the target",
    "consistent_fail": "consistently failing the target",
    "inconsistent": "hit and miss against the target",
}
_ASSURANCE = {
    "consistent_pass": ("P", BLUE),
    "consistent_fail": ("F", ORANGE),
    "inconsistent": ("?", GREY),
}


def _svg(letter: str, colour: str, title: str, kind: str) -> str:
    t = escape(title)
    return (
        f'<svg class="acm-spc-icon acm-spc-{kind}" role="img" aria-label="{t}" width="22" '
        f'height="22" viewBox="0 0 22 22" style="vertical-align:middle;margin:0 3px">'
        f"<title>{t}</title>"
        f'<circle cx="11" cy="11" r="9.5" fill="#fff" stroke="{colour}" stroke-width="2"/>'
        f'<text x="11" y="15" text-anchor="middle" font-size="11" font-weight="700" '
        f'font-family="sans-serif" fill="{colour}">{escape(letter)}</text></svg>'
    )


def variation(signal: str, direction: str) -> tuple[str, str, str]:
    """(letter, colour, title) of a month's ``spc_signal``; ("", "", "") without limits.

    Args:
        signal: "common", "improvement", "concern" or "neither" (``metric_values.spc_signal``).
        direction: the metric's direction, "up" (higher is better) or "down".
    """
    up = direction == "up"
    if signal == "common":
        return "C", GREY, "Common cause variation: no signal this month"
    if signal == "improvement":
        word = "higher" if up else "lower"
        return word[0].upper(), BLUE, f"Special cause: an improvement ({word})"
    if signal == "concern":
        word = "lower" if up else "higher"
        return word[0].upper(), ORANGE, f"Special cause: a concern ({word})"
    if signal == "neither":
        return "N", PURPLE, "Special cause: neither better nor worse"
    return "", "", ""


def variation_icon(signal: str, direction: str) -> str:
    """The variation icon of a month's ``spc_signal`` ("" when the month has no limits)."""
    letter, colour, title = variation(signal, direction)
    return _svg(letter, colour, title, signal) if letter else ""


def assurance_icon(assurance: str) -> str:
    """The assurance icon of ``spc_assurance`` ("" without a target or limits)."""
    if assurance not in _ASSURANCE:
        return ""
    letter, colour = _ASSURANCE[assurance]
    return _svg(letter, colour, f"Assurance: {ASSURANCE_LABELS[assurance]}", "assurance")


def icons(row: Mapping) -> str:
    """Both icons of a ``metric_values`` row, wrapped in one span ("" when it has neither)."""
    signal = row.get("spc_signal", "")
    assurance = row.get("spc_assurance", "")
    parts = [
        variation_icon(signal if isinstance(signal, str) else "", str(row.get("direction", ""))),
        assurance_icon(assurance if isinstance(assurance, str) else ""),
    ]
    inner = "".join(p for p in parts if p)
    return f'<span class="acm-spc-icons">{inner}</span>' if inner else ""
