"""Making Data Count icons (views.spc_icons) and their place on the packet's headline tiles."""

from __future__ import annotations

import pandas as pd
import pytest
from test_dashboard import _P, _values

from acm_helpers.packets import dashboard
from acm_helpers.views import charts, spc_icons


@pytest.mark.parametrize(
    ("signal", "direction", "letter", "colour", "title"),
    [
        pytest.param("improvement", "up", "H", spc_icons.BLUE, "an improvement (higher)", id="imp-up"),
        pytest.param("improvement", "down", "L", spc_icons.BLUE, "an improvement (lower)", id="imp-down"),
        pytest.param("concern", "up", "L", spc_icons.ORANGE, "a concern (lower)", id="concern-up"),
        pytest.param("concern", "down", "H", spc_icons.ORANGE, "a concern (higher)", id="concern-down"),
        pytest.param("common", "up", "C", spc_icons.GREY, "Common cause", id="common"),
        pytest.param("neither", "up", "N", spc_icons.PURPLE, "neither better nor worse", id="neither"),
    ],
)  # fmt: skip
def test_variation_icon_letter_colour_and_title(signal, direction, letter, colour, title):
    svg = spc_icons.variation_icon(signal, direction)
    assert f">{letter}</text>" in svg and f'stroke="{colour}"' in svg
    assert title in svg and 'role="img"' in svg and "aria-label=" in svg


def test_assurance_icon_and_no_icon_without_limits():
    assert ">P</text>" in spc_icons.assurance_icon("consistent_pass")
    assert ">F</text>" in spc_icons.assurance_icon("consistent_fail")
    assert "hit and miss against the target" in spc_icons.assurance_icon("inconsistent")
    assert spc_icons.assurance_icon("") == spc_icons.variation_icon("", "up") == ""
    assert spc_icons.icons({"spc_signal": "", "spc_assurance": "", "direction": "up"}) == ""
    assert spc_icons.icons({"direction": "up"}) == ""  # older tables without the columns
    both = spc_icons.icons(
        {"spc_signal": "improvement", "spc_assurance": "inconsistent", "direction": "up"}
    )
    assert both.count("<svg") == 2


def test_tiles_show_the_improvement_icon(program):
    values = _values(program)
    values["spc_signal"] = ""
    values["spc_assurance"] = ""
    now = (values["metric_id"] == "exits_to_permanent_housing") & (values["period"] == "2026-10")
    values.loc[now, ["spc_signal", "spc_assurance"]] = ["improvement", "consistent_pass"]
    html = dashboard.tiles(_P(program, values))._repr_html_()
    assert html.count('class="acm-spc-icon acm-spc-improvement"') == 1
    assert "Special cause: an improvement (higher)" in html
    assert "Assurance: consistently passing the target" in html
    assert "acm-spc-concern" not in html


def test_status_grid_marks_special_causes_with_their_letter():
    frame = pd.DataFrame(
        {
            "provider": ["Alpha", "Alpha", "Beacon"],
            "metric": ["Exits", "Days", "Exits"],
            "text": ["65.3%", "7 days", "31%"],
            "status": ["meets target", "below target", "below target"],
            "signal": ["improvement", "common", "concern"],
            "letter": ["H", "", "L"],
            "variation": ["improvement", "common cause", "concern"],
        }
    )
    spec = charts.status_grid(frame, title="t", width=400).to_dict()
    letters = spec["layer"][2]
    marked = spec["datasets"][letters["data"]["name"]]
    assert [(r["provider"], r["letter"], r["signal"]) for r in marked] == [
        ("Alpha", "H", "improvement"),
        ("Beacon", "L", "concern"),
    ]
    assert letters["encoding"]["color"]["scale"]["domain"] == ["improvement", "concern", "neither"]
    assert spec["resolve"]["scale"]["color"] == "independent"
    plain = charts.status_grid(frame[["provider", "metric", "text", "status"]], title="t")
    assert len(plain.to_dict()["layer"]) == 2  # no signal column: the grid as before


def test_an_improvement_tile_is_styled_as_good_news(program):
    values = _values(program)  # exits: 50% -> 60% with a significant change (better)
    now = (values["metric_id"] == "exits_to_permanent_housing") & (values["period"] == "2026-10")
    values["spc_signal"] = ""
    values.loc[now, ["flag_special_cause", "spc_signal"]] = [True, "improvement"]
    html = dashboard.tiles(_P(program, values))._repr_html_()
    assert '<div class="acm-tile improved">' in html and "acm-tile flagged" not in html
    assert '<span class="acm-badge good">Improvement</span>' in html
    assert '<span class="acm-badge good">Significant change</span>' in html
    # a concern (or any flag against the metric) keeps the warning style
    values.loc[now, "spc_signal"] = "concern"
    html = dashboard.tiles(_P(program, values))._repr_html_()
    assert '<div class="acm-tile flagged">' in html
    assert '<span class="acm-badge">Concern</span>' in html
