"""Inline charts written as nbconvert's BeautifulSoup pass writes them (issue 17).

``svg_normal.normalize`` must give BeautifulSoup's bytes for every chart it accepts, and refuse
(None) anything beyond the plain markup it writes; the HTML export with the charts set aside
must be the plain nbconvert export, byte for byte.
"""

from __future__ import annotations

import copy

import altair as alt
import nbformat
import pandas as pd
import pytest
from bs4 import BeautifulSoup
from bs4.builder import HTMLTreeBuilder

from acm_helpers.packets import render
from acm_helpers.views import charts, spc_icons, svg_normal
from acm_helpers.views.svg_ids import renumber_svg_ids


def soup(markup: str) -> str:
    return str(BeautifulSoup(markup, features="html.parser"))


def a_chart_svg(odd: bool = False) -> str:
    """A small chart's SVG; ``odd``: with labels the SVG writes as entities (``&amp;``)."""
    frame = pd.DataFrame({"x": ["a", "b & c" if odd else "b", "d"], "y": [1, 3, 2]})
    title = "Made-up <chart>" if odd else "Made-up chart"
    return charts.to_svg(alt.Chart(frame, title=title).mark_bar().encode(x="x", y="y"))


@pytest.mark.parametrize(
    "svg",
    [
        pytest.param('<svg viewBox="0 0 1 1" class="a  b "><circle r="1"/></svg>', id="case-list"),
        pytest.param('<svg><clipPath id="c"><rect width="2"/></clipPath></svg>', id="camel-tag"),
        pytest.param('<svg><g z="1" a="2" m="3"><text x="1">Oct 2026</text></g></svg>', id="sort"),
        pytest.param('<svg>\n  <g>\n    <path d="M0 0"/>\n  </g>\n</svg>', id="whitespace"),
        pytest.param('<SVG WIDTH="3"><Title>T</Title></SVG>', id="upper"),
        pytest.param('<svg class=""><g/></svg>', id="empty-class"),
        pytest.param("<svg><text> </text><text>\t\n </text><text> a </text></svg>", id="spaces"),
    ],
)
def test_normalize_writes_what_beautifulsoup_writes(svg):
    assert svg_normal.normalize(svg) == soup(svg)


def test_normalize_writes_our_charts_as_beautifulsoup_does():
    for svg in [a_chart_svg(), *svg_normal.SVG.findall(spc_icons_markup())]:
        got = svg_normal.normalize(svg)
        assert got is not None and got == soup(svg)


def spc_icons_markup() -> str:
    icons = [spc_icons.assurance_icon(a) for a in spc_icons.ASSURANCE_LABELS]
    for signal in ("common", "improvement", "concern", "neither"):
        icons += [spc_icons.variation_icon(signal, d) for d in ("up", "down")]
    return "".join(icons)


@pytest.mark.parametrize(
    "svg",
    [
        pytest.param("<svg><!-- note --></svg>", id="comment"),
        pytest.param("<svg><text>a &amp; b</text></svg>", id="entity"),
        pytest.param("<svg><text>a > b</text></svg>", id="bare-gt"),
        pytest.param("<svg><g></svg>", id="unclosed"),
        pytest.param("<svg></g></svg>", id="stray-end"),
        pytest.param("<svg><image href='x.png'/></svg>", id="void-and-single-quotes"),
        pytest.param('<svg><img src="x.png"></svg>', id="img"),
        pytest.param("<svg><style>g{fill:red}</style></svg>", id="style"),
        pytest.param('<svg><div class="x"></div></svg>', id="div"),
        pytest.param('<svg a="1" A="2"></svg>', id="repeated-attribute"),
        pytest.param("<svg width=3></svg>", id="unquoted"),
        pytest.param("<svg hidden></svg>", id="no-value"),
        pytest.param("<svg><svg></svg>", id="nested-cut"),
    ],
)
def test_normalize_leaves_anything_else_to_beautifulsoup(svg):
    assert svg_normal.normalize(svg) is None


def test_void_elements_are_beautifulsoups():
    assert svg_normal.VOID == HTMLTreeBuilder.DEFAULT_EMPTY_ELEMENT_TAGS
    assert svg_normal.LIST_VALUED == set(HTMLTreeBuilder.DEFAULT_CDATA_LIST_ATTRIBUTES["*"])


def test_export_with_charts_set_aside_is_the_plain_export():
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x = 1")
    chart = a_chart_svg()
    odd = "<svg><!-- left to the parser --><g/></svg>" + a_chart_svg(odd=True)
    cell.outputs = [
        nbformat.v4.new_output(
            "display_data",
            data={
                "text/html": f'<div class="acm-chart">\n  {chart}\n</div><p>Between</p>'
                f'<div class="acm-chart">{odd}</div>{chart} {chart}'
                '<img src="data:image/png;base64,AA==">'
            },
        )
    ]
    nb.cells = [nbformat.v4.new_markdown_cell("## Charts"), cell]
    plain = copy.deepcopy(nb)
    plain.metadata["title"] = "T"
    want, _ = render._exporter().from_notebook_node(plain, resources={"metadata": {"name": "T"}})
    before = copy.deepcopy(nb)
    got = render.export_html(nb, title="T")
    assert got == renumber_svg_ids(want)
    assert nb.cells[1].outputs == before.cells[1].outputs  # the caller's notebook as it was
    assert "acmsvg" not in got
    assert svg_normal.normalize(a_chart_svg(odd=True)) is None


def test_a_chart_inside_an_attribute_value_gets_the_plain_export():
    """An ``<svg>`` where markup is not parsed (here an attribute value) cannot be set aside:
    the marker would not come back, so the page is exported the plain way."""
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x = 1")
    chart = a_chart_svg()
    cell.outputs = [
        nbformat.v4.new_output(
            "display_data", data={"text/html": f"<p title='{chart}'>x</p>{chart}"}
        )
    ]
    nb.cells = [cell]
    plain = copy.deepcopy(nb)
    plain.metadata["title"] = "T"
    want, _ = render._exporter().from_notebook_node(plain, resources={"metadata": {"name": "T"}})
    assert render.export_html(nb, title="T") == renumber_svg_ids(want)
