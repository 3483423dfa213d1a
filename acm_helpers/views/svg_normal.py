"""Inline SVG charts written as nbconvert's HTML export writes them, without parsing the page.

Why: nbconvert's ``HTMLExporter`` passes the whole page through BeautifulSoup (``html.parser``)
to add ``alt`` and ``tabindex`` attributes, and writes it back out: tag and attribute names in
lower case, attributes sorted, ``<circle/>`` written ``<circle></circle>``. A packet's inline
SVG charts are nearly nine tenths of its page, and that round trip was most of the export's
CPU. The export (:func:`acm_helpers.packets.render.export_html`) sets the charts aside, lets
nbconvert parse the rest, and puts back each chart as :func:`normalize` writes it: the same
bytes BeautifulSoup would have written (``tests/unit/test_svg_normal.py`` compares the two on
every chart of the demo packets and on made-up cases).

Only the plain markup our charts use is written here: tags with double-quoted attributes, text
without ``&``, ``<`` or ``>``, every element closed in order, no comment, script, style or HTML
void element. Anything else returns None and the chart stays in the page for BeautifulSoup.
Standard library only.
"""

from __future__ import annotations

import re

TOKEN = re.compile(
    r"<(/?)([A-Za-z][A-Za-z0-9:_-]*)((?:\s+[A-Za-z_:][A-Za-z0-9:._-]*=\"[^\"<>&]*\")*)\s*(/?)>"
    r"|([^<>&]+)"
)
ATTR = re.compile(r"([A-Za-z_:][A-Za-z0-9:._-]*)=\"([^\"<>&]*)\"")
# BeautifulSoup's html.parser builder: HTML void elements (written without an end tag), and
# elements whose content it keeps as raw text; a chart with either is left to it.
VOID = frozenset(
    "area base basefont bgsound br col command embed frame hr image img input isindex keygen "
    "link menuitem meta nextid param source spacer track wbr".split()
)
RAW = frozenset({"script", "style", "textarea", "xmp", "iframe", "noembed", "noframes", "pre"})
ASCII_SPACES = frozenset("\x20\x0a\x09\x0c\x0d")  # a text of only these is written "\n" or " "
LIST_VALUED = frozenset({"class", "accesskey", "dropzone"})  # split on whitespace, joined by " "
SVG = re.compile(r"<svg\b.*?</svg>", re.S)


def normalize(svg: str) -> str | None:
    """``svg`` as BeautifulSoup's ``html.parser`` writes it back (``str(soup)``), or None when
    it uses anything beyond the plain markup this module writes (see the module docstring)."""
    out: list[str] = []
    stack: list[str] = []
    pos = 0
    for m in TOKEN.finditer(svg):
        if m.start() != pos:
            return None  # something no token matches: a comment, an entity, a stray "<"
        pos = m.end()
        close, name, attrs, self_closing, text = m.groups()
        if text is not None:
            if all(ch in ASCII_SPACES for ch in text):
                text = "\n" if "\n" in text else " "
            out.append(text)
            continue
        name = name.lower()
        if name in VOID or name in RAW or name == "div":
            return None  # (the export also gives a div of its class list a tabindex)
        if close:
            if attrs or self_closing or not stack or stack.pop() != name:
                return None
            out.append(f"</{name}>")
            continue
        seen: dict[str, str] = {}
        for a, v in ATTR.findall(attrs):
            a = a.lower()
            if a in seen:
                return None  # a repeated attribute: BeautifulSoup's own rule applies
            seen[a] = " ".join(v.split()) if a in LIST_VALUED else v
        written = "".join(f' {a}="{v}"' for a, v in sorted(seen.items()))
        if self_closing:
            out.append(f"<{name}{written}></{name}>")
        else:
            out.append(f"<{name}{written}>")
            stack.append(name)
    if pos != len(svg) or stack:
        return None
    return "".join(out)


def set_aside(html: str, marker: str, found: list[str]) -> str:
    """``html`` with each inline ``<svg>`` that :func:`normalize` can write replaced by an empty
    element ``<marker-N></marker-N>`` (``marker``: lower-case letters and digits; an element,
    not text, so the whitespace around it is parsed as it was around the chart); the normalized
    charts are appended to ``found`` in order."""

    def swap(m: re.Match) -> str:
        done = normalize(m.group(0))
        if done is None:
            return m.group(0)
        found.append(done)
        tag = f"{marker}-{len(found) - 1}"
        return f"<{tag}></{tag}>"

    return SVG.sub(swap, html)


def put_back(html: str, marker: str, found: list[str]) -> str | None:
    """The page with every element of :func:`set_aside` replaced by its chart; None when not
    every one came back exactly once, as written (a chart that sat where markup is not
    parsed, such as inside an attribute value): then the page must be exported without
    setting charts aside."""
    if not found:
        return None if marker in html else html
    m = re.escape(marker)
    page, n = re.subn(rf"<{m}-(\d+)></{m}-\1>", lambda g: found[int(g.group(1))], html)
    return page if n == len(found) and marker not in page else None
