"""Headline tiles: one record (acm_helpers.meetings.tiles) behind the packet's tiles and the staff
dashboard's, so both show the same value, arrow, target, peer median, rank and flags.

The must-show check of issue 16: for every demo provider in 2026-10, at month and at quarter
grain, the tiles the explorer renders read exactly as the tile records computed from the
packet's data (the packet's own ``load``; at quarter grain the last complete quarter, 2026-Q3,
read the way ``load`` reads months). The browser side is tests/e2e/test_voila.py.
"""

from __future__ import annotations

import html
import re

import pytest

from acm_helpers.explorer import app as widgets
from acm_helpers.meetings import tiles

PERIOD = "2026-10"


def _row(**extra) -> dict:
    row = {
        "label": "Exits to permanent housing",
        "format": "percent",
        "unit": "",
        "direction": "up",
        "value": 0.396,
        "previous_value": 0.49,
        "target": 0.45,
        "peer_median": 0.401,
        "peer_rank": 3,
        "peer_n": 4,
        "suppressed": False,
        "math": "21 / 53 = 39.6%",
        "flag_below_target": True,
        "flag_worse_than_peers": True,
        "flag_significant_change": False,
        "flag_special_cause": False,
        "flag_reasons": "39.6% is below the target of 45%. 39.6% is below the peer median of "
        "40.1% (rank 3 of 4 providers).",
        "spc_signal": "common",
        "spc_assurance": "inconsistent",
    }
    return {**row, **extra}


def test_tile_record_says_what_the_packet_tile_says(program):
    t = tiles.tile_of(_row(), program, "exits_to_permanent_housing", PERIOD, "month")
    assert (t.shown, t.arrow, t.how, t.previous) == ("39.6%", "▼", "worse", "49%")
    assert t.sub == ["target 45%", "peer median 40.1%", "rank 3 of 4"]
    assert t.chips == ("Below target", "Worse than peers") and not t.good
    assert t.reasons == (
        "39.6% is below the target of 45%.",
        "39.6% is below the peer median of 40.1% (rank 3 of 4 providers).",
    )
    assert t.versus == "vs previous month"


@pytest.mark.parametrize(
    "extra, shown, chips, good",
    [
        pytest.param(
            {"suppressed": True, "value": None, "suppression_reason": "fewer than 11 cases"},
            "suppressed",
            (),
            False,
            id="suppressed",
        ),
        pytest.param(
            {
                "flag_below_target": False,
                "flag_worse_than_peers": False,
                "flag_special_cause": True,
                "spc_signal": "improvement",
                "value": 0.6,
                "flag_reasons": "Improvement (special cause): 7 months in a row above the centre.",
            },
            "60%",
            ("Improvement",),
            True,
            id="improvement-is-good-news",
        ),
    ],
)
def test_tile_record_cases(program, extra, shown, chips, good):
    t = tiles.tile_of(_row(**extra), program, "exits_to_permanent_housing", PERIOD, "month")
    assert (t.shown, t.chips, t.good) == (shown, chips, good)


def test_no_row_is_a_tile_without_a_value(program):
    t = tiles.tile_of(None, program, "clients_served", PERIOD, "month")
    assert (t.has_value, t.shown, t.flagged) == (False, "–", False)


@pytest.mark.parametrize(
    "month, grain, period",
    [
        pytest.param("2026-10", "month", "2026-10", id="month"),
        pytest.param("2026-10", "quarter", "2026-Q3", id="october-is-not-a-quarter"),
        pytest.param("2026-09", "quarter", "2026-Q3", id="september-completes-q3"),
        pytest.param("2026-02", "quarter", "2025-Q4", id="over-the-year-end"),
        pytest.param("2026-10", "year", "2025", id="year"),
        pytest.param("2026-12", "year", "2026", id="december-completes-the-year"),
        pytest.param("2026-10", "term", "term", id="term"),
    ],
)
def test_complete_period(month, grain, period):
    assert tiles.complete_period(month, grain) == period


# -- the must-show check: packet records == what the explorer renders, every demo provider ------
def _rendered(app: widgets.Explorer, metric_id: str) -> dict[str, object]:
    """What one explorer tile shows, read back from the HTML the widget sends the browser."""
    body = app._tile[metric_id][1].value

    def one(pattern: str) -> str:
        m = re.search(pattern, body, re.S)
        return html.unescape(m.group(1)) if m else ""

    arrow = re.search(r'<span class="acm-arrow (\w+)"[^>]*>(.)</span>', body)
    sub = one(r'<div class="acm-tile-sub">(.*?)</div>')
    return {
        "shown": one(rf'data-metric="{metric_id}">(.*?)</div>'),
        "arrow": arrow.group(2) if arrow else "",
        "how": arrow.group(1) if arrow else "",
        "sub": tuple(s for s in sub.split(" · ") if s),
        "chips": tuple(
            html.unescape(c)
            for c in re.findall(r'class="acm-chip(?: acm-good)?">(.*?)</span>', body)
        ),
        "signal": one(r'acm-spc-icon acm-spc-(common|improvement|concern|neither)"'),
        "assurance": {"P": "consistent_pass", "F": "consistent_fail", "?": "inconsistent"}.get(
            one(r'acm-spc-assurance".*?fill="[^"]+">(.)</text>'), ""
        ),
    }


@pytest.fixture(scope="module")
def explorer_app(program, demo_store):
    return widgets.Explorer([program], [demo_store], chart_mode="jupyter")


@pytest.mark.parametrize("grain", ["month", "quarter"])
def test_dashboard_tiles_equal_the_packets_for_every_demo_provider(
    program, packet_tiles, explorer_app, grain
):
    app = explorer_app
    checked = 0
    for provider in program.provider_ids:
        want = packet_tiles(provider, grain)
        app.set_view(provider=provider, grain=grain, end=PERIOD)
        assert app.message.layout.display == "none", app.message.value
        for t in want:
            facts = t.facts()
            shown = {k: facts[k] for k in ("shown", "arrow", "how", "sub", "chips")}
            shown |= {"signal": t.signal, "assurance": t.assurance}
            assert _rendered(app, t.metric_id) == shown, (provider, grain, t.metric_id)
            checked += 1
    key = [m for m, d in program.metrics.items() if d.key]
    assert checked == len(program.provider_ids) * len(key)
    # the quarter is the last complete one, and the page says so
    if grain == "quarter":
        assert "2026-Q3" in app.grain_note.value and "not complete yet" in app.grain_note.value
    assert "grain=" + grain in app.pagebar.query


def test_cascade_exits_tile_carries_its_flags_to_drill_from(explorer_app):
    """Cascade (the demo's significant disparity) is below target in October: its Exits tile
    shows the flags, and the button that opens the breakdown."""
    app = explorer_app
    app.set_view(provider="cascade", grain="month", end=PERIOD)
    box, body, button = app._tile["exits_to_permanent_housing"]
    assert "Below target" in _rendered(app, "exits_to_permanent_housing")["chips"]
    assert "acm-flagged" in box._dom_classes and button.layout.display is None
