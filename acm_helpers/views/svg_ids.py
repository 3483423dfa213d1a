"""Element ids of inline SVG charts numbered per page, not per process.

Why: vl-convert numbers the clip paths (and gradients, patterns) of the SVGs it renders with a
counter of the process, so the same chart gets ``clip30`` in one worker and ``clip53`` in
another, after more charts. A packet's bytes would then depend on which worker built it and
what it built before (a local run and a Dask run would differ). Renumbering in the order the ids
first appear in the page gives the same bytes for the same charts; the ids stay distinct
(the counter's ids are distinct, and each one maps to its own new number), so every
``url(#clip..)`` still points at its own element.
"""

from __future__ import annotations

import re

SVG_ID = re.compile(r'(id="|url\(#)(clip|gradient_|pattern_)(\d+)(?=["\)])')


def renumber_svg_ids(html: str) -> str:
    """Renumber vl-convert's clip/gradient/pattern ids of a whole page from 1, in order of
    first appearance (pure: the same charts in any process give the same text)."""
    seen: dict[tuple[str, str], int] = {}
    counts: dict[str, int] = {}

    def new(m: re.Match) -> str:
        key = (m.group(2), m.group(3))
        if key not in seen:
            counts[m.group(2)] = seen[key] = counts.get(m.group(2), 0) + 1
        return f"{m.group(1)}{m.group(2)}{seen[key]}"

    return SVG_ID.sub(new, html)
