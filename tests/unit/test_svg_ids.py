"""Inline SVG ids numbered per page: the same charts give the same bytes in any process."""

from __future__ import annotations

import re

from acm_helpers.views.svg_ids import renumber_svg_ids


def page(first: int, grad: int) -> str:
    """Two charts as vl-convert renders them after ``first`` earlier clip paths."""
    a, b = first, first + 1
    return (
        f'<svg><defs><clipPath id="clip{a}"></clipPath><linearGradient id="gradient_{grad}">'
        f'</linearGradient></defs><g clip-path="url(#clip{a})" fill="url(#gradient_{grad})"></g>'
        f'</svg><svg><defs><clipPath id="clip{b}"></clipPath></defs>'
        f'<g clip-path="url(#clip{b})"></g><g clip-path="url(#clip{a})"></g></svg>'
        '<p id="cell-id=ab12">clip7 in text is left alone</p>'
    )


def test_the_same_charts_after_different_histories_give_the_same_page():
    assert renumber_svg_ids(page(30, 4)) == renumber_svg_ids(page(53, 11))
    assert renumber_svg_ids(page(30, 4)) != page(30, 4)


def test_ids_stay_distinct_and_references_follow_them():
    out = renumber_svg_ids(page(53, 11))
    assert re.findall(r'id="(clip\d+|gradient_\d+)"', out) == ["clip1", "gradient_1", "clip2"]
    assert re.findall(r"url\(#([a-z_]+\d+)\)", out) == ["clip1", "gradient_1", "clip2", "clip1"]
    assert "clip7 in text is left alone" in out and 'id="cell-id=ab12"' in out
