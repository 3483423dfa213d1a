"""Charts are specs: tested through ``to_dict()`` (what data and encodings reach Vega-Lite), not
through images. One SVG round-trip proves the offline path (vl-convert) works."""

from __future__ import annotations

import altair as alt
import pandas as pd
import pytest

from acm_helpers.core import text
from acm_helpers.views import charts


def _layers(chart) -> list[dict]:
    return chart.to_dict()["layer"]


def _inline(chart, layer: dict) -> list[dict]:
    """Rows of a layer's data as Vega-Lite receives them (top-level datasets by name)."""
    spec = chart.to_dict()
    name = layer.get("data", spec.get("data", {})).get("name")
    return spec["datasets"][name]


TREND = pd.DataFrame(
    {
        "period": ["2026-08", "2026-09", "2026-10"],
        "value": [0.40, None, 0.50],
        "ci_low": [0.30, None, 0.41],
        "ci_high": [0.50, None, 0.59],
        "peer_q1": [0.30, 0.31, 0.32],
        "peer_median": [0.38, 0.39, 0.40],
        "peer_q3": [0.45, 0.46, 0.47],
    }
)


def test_trend_chart_layers_band_line_and_target():
    chart = charts.trend_chart(
        TREND, title="Exits to permanent housing", fmt="percent", target=0.45
    )
    layers = _layers(chart)
    marks = [
        lyr["mark"]["type"] if isinstance(lyr["mark"], dict) else lyr["mark"] for lyr in layers
    ]
    assert marks == [
        "area",
        "line",
        "area",
        "line",
        "rule",
    ]  # peer band, peer median, CI, own, target
    assert (
        layers[0]["encoding"]["y"]["field"] == "peer_q1"
        and layers[0]["encoding"]["y2"]["field"] == "peer_q3"
    )
    assert layers[3]["encoding"]["y"]["axis"]["format"] == text.vega_format("percent")
    target_rows = _inline(chart, layers[4])
    assert target_rows == [{"target": 0.45, "series": "Target", "d": "Target 45%"}]
    own_rows = _inline(chart, layers[3])
    assert [r["value"] for r in own_rows][0] == 0.40 and own_rows[1]["value"] is None
    assert layers[3]["mark"]["invalid"] == "break-paths-show-domains"  # a suppressed month is a gap
    assert chart.to_dict()["title"] == "Exits to permanent housing"


def test_trend_chart_without_peers_or_target_has_no_band_or_rule():
    frame = TREND.drop(columns=["peer_q1", "peer_median", "peer_q3"])
    marks = [
        lyr["mark"]["type"] for lyr in _layers(charts.trend_chart(frame, title="t", fmt="days"))
    ]
    assert marks == ["area", "line"]


def test_peer_chart_highlights_self_and_labels_suppressed():
    frame = pd.DataFrame(
        {
            "provider": ["Harbor Light Housing", "Provider A", "Provider B"],
            "value": [0.55, 0.30, None],
            "ci_low": [0.5, 0.25, None],
            "ci_high": [0.6, 0.35, None],
            "is_self": [True, False, False],
        }
    )
    chart = charts.peer_chart(frame, title="Peers", fmt="percent", target=0.45)
    layers = _layers(chart)
    rows = _inline(chart, layers[0])
    assert [r["shown"] for r in rows] == ["", "", "suppressed"]
    assert layers[0]["encoding"]["y"]["sort"] == [
        "Harbor Light Housing",
        "Provider A",
        "Provider B",
    ]
    assert layers[0]["encoding"]["color"]["condition"]["value"] == charts.ACCENT
    assert _inline(chart, layers[3]) == [{"target": 0.45, "d": "Target 45%"}]


def test_equity_chart_never_draws_a_suppressed_group():
    frame = pd.DataFrame(
        {
            "group": ["White", "Black or African American", "Multiracial"],
            "value": [0.5, 0.25, None],
            "ci_low": [0.45, 0.2, None],
            "ci_high": [0.55, 0.3, None],
            "suppressed": [False, False, True],
            "flagged": [False, True, False],
        }
    )
    chart = charts.equity_chart(frame, title="By race", fmt="percent")
    bars, _err, notes = _layers(chart)
    assert bars["transform"][0]["filter"] == "!datum.suppressed && isValid(datum.value)"
    assert notes["transform"][0]["filter"] == "datum.suppressed"
    rows = _inline(chart, bars)
    assert [r["note"] for r in rows] == ["", "", "suppressed (small numbers)"]
    assert rows[2]["value"] is None


def test_disproportionality_chart_is_long_by_measure():
    frame = pd.DataFrame(
        {
            "group": ["White", "Black"],
            "share_served": [0.4, 0.3],
            "reference_share": [0.58, 0.07],
            "flagged": [False, True],
        }
    )
    chart = charts.disproportionality_chart(frame, title="Served vs population")
    rows = _inline(chart, _layers(chart)[1])
    assert sorted((r["group"], r["measure"], r["share"]) for r in rows) == [
        ("Black", "Reference population", 0.07),
        ("Black", "Served", 0.3),
        ("White", "Reference population", 0.58),
        ("White", "Served", 0.4),
    ]


def test_chart_with_missing_column_names_it():
    with pytest.raises(ValueError, match=r"lacks columns \['ci_low', 'ci_high'\]"):
        charts.trend_chart(
            pd.DataFrame({"period": ["2026-10"], "value": [1.0]}), title="t", fmt="number"
        )


def test_theme_is_registered_and_applied_in_svg():
    assert charts.THEME in alt.theme.names()
    with alt.theme.enable(charts.THEME):
        spec = charts.quality_chart(
            pd.DataFrame({"field": ["zip"], "completeness": [0.8]})
        ).to_dict()
    assert spec["config"]["font"] == charts.FONT
    svg = charts.to_svg(
        charts.quality_chart(pd.DataFrame({"field": ["zip"], "completeness": [0.8]}))
    )
    assert svg.startswith("<svg") and "Completeness of key fields" in svg and "zip" in svg


def test_many_peers_make_a_strip_of_ticks_with_the_suppressed_counted_not_drawn():
    n = charts.PEER_BARS + 1
    values = [0.2 + i / 100 for i in range(n)]
    values[5] = None
    frame = pd.DataFrame(
        {
            "provider": ["Harbor Light Housing"] + [f"Peer {i}" for i in range(1, n)],
            "value": values,
            "ci_low": [v - 0.05 if v else None for v in values],
            "ci_high": [v + 0.05 if v else None for v in values],
            "is_self": [True] + [False] * (n - 1),
        }
    )
    chart = charts.peer_chart(frame, title="Peers", fmt="percent", target=0.45)
    spec = chart.to_dict()
    layers = spec["layer"]
    assert [layer["mark"]["type"] for layer in layers] == ["tick", "rule", "tick", "text", "rule"]
    assert spec["height"] == 70  # not 22 px a provider
    assert spec["title"]["subtitle"] == (
        f"{n} providers, a tick each; 1 suppressed (small numbers), not drawn"
    )
    rows = _inline(chart, layers[0])
    assert len(rows) == n - 1 and all(r["value"] is not None for r in rows)  # never drawn
    own = [r for r in rows if r["is_self"]]
    assert [r["label"] for r in own] == ["Harbor Light Housing: 20%"]
    assert layers[2]["mark"]["color"] == charts.ACCENT
    assert _inline(chart, layers[4]) == [{"target": 0.45, "d": "Target 45%"}]
    svg = charts.to_svg(chart)
    assert "Harbor Light Housing: 20%" in svg and "Peer 7: value" in svg


def test_a_suppressed_provider_in_focus_is_said_so_in_the_strip():
    n = charts.PEER_BARS + 5
    frame = pd.DataFrame(
        {
            "provider": [f"Peer {i}" for i in range(n)],
            "value": [None] + [0.4] * (n - 1),
            "ci_low": [None] + [0.35] * (n - 1),
            "ci_high": [None] + [0.45] * (n - 1),
            "is_self": [True] + [False] * (n - 1),
        }
    )
    spec = charts.peer_chart(frame, title="Peers", fmt="percent").to_dict()
    assert spec["title"]["subtitle"].endswith("; Peer 0: suppressed")


def test_the_peers_legend_says_what_the_charts_draw(program_path, demo_store, monkeypatch):
    from acm_helpers.packets import dashboard, packet

    p = packet.load(program_path, demo_store.root, "harbor", "2026-10", "provider")
    bars = dashboard.peers(p).body
    assert "Bars: value; lines: 95% intervals" in bars and "A tick per provider" not in bars
    monkeypatch.setattr(charts, "PEER_BARS", 3)  # the demo's 6 providers now make strips
    strips = dashboard.peers(p).body
    assert "A tick per provider (darker where many sit close); Harbor Light Housing in blue" in (
        strips
    )
    assert "Bars:" not in strips and "6 providers, a tick each" in strips


def _both_ways(build) -> tuple[dict, dict]:
    """The spec of ``build()`` built quickly and altair's own way."""
    quick = build().to_dict()
    charts.quick_build(enabled=False)
    try:
        plain = build().to_dict()
    finally:
        charts.quick_build(enabled=True)
    return quick, plain


def test_layers_built_quickly_give_altairs_own_spec():
    """Shared data goes to the top as altair puts it; a layer with its own data keeps it; a
    layer altair would have to merge (a selection parameter, a size) goes through altair."""
    frame = pd.DataFrame({"x": [1, 2, 3], "y": [4.0, None, 6.0]})
    other = pd.DataFrame({"y": [5.0]})
    base = alt.Chart(frame)
    line = base.mark_line().encode(x="x:Q", y="y:Q")
    dots = base.mark_point().encode(x="x:Q", y="y:Q")
    rule = alt.Chart(other).mark_rule().encode(y="y:Q")
    pick = alt.selection_point(fields=["x"])
    cases = {
        "shared data": lambda: charts.layer(line, dots, title="t", width=300),
        "own data too": lambda: charts.layer(line, dots, rule, title="t", height=100),
        "a parameter": lambda: charts.layer(line.add_params(pick), dots, title="t"),
        "a sized layer": lambda: charts.layer(line.properties(width=200), dots),
    }
    for name, build in cases.items():
        quick, plain = _both_ways(build)
        assert quick == plain, name
    assert "data" in _both_ways(cases["shared data"])[0]  # hoisted, not one copy per layer
    assert isinstance(cases["shared data"](), alt.LayerChart)
    assert cases["shared data"]().copy().to_dict() == _both_ways(cases["shared data"])[1]


def test_trend_and_peer_charts_give_the_same_spec_quickly_and_valid():
    """Built without altair's per-object schema check, the specs are still valid
    (``to_dict()`` validates the whole spec) and the same as altair's own way gives (every
    builder a packet uses is compared so in tests/integration/test_packet_content.py)."""
    peers = pd.DataFrame(
        {
            "provider": ["A", "B", "C"],
            "value": [0.4, None, 0.6],
            "ci_low": [0.3, None, 0.5],
            "ci_high": [0.5, None, 0.7],
            "is_self": [True, False, False],
        }
    )
    builds = {
        "trend": lambda: charts.trend_chart(TREND, title="Exits", fmt="percent", target=0.45),
        "peers": lambda: charts.peer_chart(peers, title="Exits", fmt="percent", target=0.5),
    }
    for name, build in builds.items():
        quick, plain = _both_ways(build)
        assert quick == plain, name
