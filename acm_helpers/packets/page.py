"""A standalone offline HTML page from sections (:class:`~acm_helpers.packets.packet.Block`).

Why not a notebook: the meeting packets built straight from the engine's tables (the learning
circle, the quarterly internal review, a weekly or biweekly check-in) have no analyst cells to
keep, so they skip papermill and nbconvert and take the packets' house stylesheet inline, as
the run's index page does. Nothing in the page fetches anything.
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape

from acm_helpers.core.resources import nbconvert_templates
from acm_helpers.packets.packet import Block


def page(title: str, blocks: Iterable[Block]) -> str:
    """The HTML document of ``blocks`` in order, titled ``title``, with the packet stylesheet."""
    css = (nbconvert_templates() / "packet" / "packet.css").read_text(encoding="utf-8")
    body = "\n".join(f'<section class="acm-section">{b.body}</section>' for b in blocks)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{css}</style></head>"
        f'<body class="acm-packet"><main>{body}</main></body></html>\n'
    )
