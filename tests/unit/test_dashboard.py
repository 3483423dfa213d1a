"""Pure pieces of the packets: period labels, trend arrows, change sentences,
tiles — on small inline frames with hand-computed expectations."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from acm_helpers.core import calendar
from acm_helpers.meetings import tiles
from acm_helpers.packets import dashboard, packet


def _rows(**cols) -> pd.DataFrame:
    n = len(next(iter(cols.values())))
    base = {
        "provider_id": ["harbor"] * n,
        "period": ["2026-10"] * n,
        "grain": ["month"] * n,
        "dimension": [""] * n,
        "group": [""] * n,
        "suppression_reason": [""] * n,
        "math": ["m"] * n,
        "label": ["L"] * n,
    }
    return pd.DataFrame({**base, **cols})


@pytest.mark.parametrize(
    ("period", "quarter", "name"),
    [
        pytest.param("2026-10", "2026-Q3", "July–September 2026", id="mid-quarter"),
        pytest.param("2026-09", "2026-Q3", "July–September 2026", id="quarter-end"),
        pytest.param("2026-02", "2025-Q4", "October–December 2025", id="january-february"),
    ],
)
def test_equity_quarter_is_the_last_complete_one(period, quarter, name):
    assert calendar.equity_quarter(period) == quarter
    assert calendar.quarter_name(quarter) == name


@pytest.mark.parametrize(
    ("value", "previous", "direction", "expected"),
    [
        pytest.param(0.6, 0.5, "up", ("▲", "better"), id="up-good"),
        pytest.param(120.0, 100.0, "down", ("▲", "worse"), id="up-bad"),
        pytest.param(0.4, 0.5, "up", ("▼", "worse"), id="down-bad"),
        pytest.param(0.5, 0.5, "up", ("→", "same"), id="same"),
        pytest.param(0.5, None, "up", ("", ""), id="no-previous"),
    ],
)
def test_arrow(value, previous, direction, expected):
    row = pd.Series(
        {"value": value, "previous_value": previous, "direction": direction, "suppressed": False}
    )
    assert tiles.arrow_of(row) == expected


class _P:
    """A stand-in Packet: the section functions only use these attributes."""

    def __init__(self, program, values):
        self.program, self.values, self.period, self.provider = program, values, "2026-10", "harbor"
        self.audience = "provider"

    own = packet.Packet.own
    key_metrics = packet.Packet.key_metrics


def _values(program) -> pd.DataFrame:
    rows = []
    for mid, m in program.metrics.items():
        for period, value in (("2026-09", 0.50), ("2026-10", 0.60)):
            rows.append(
                {
                    "metric_id": mid,
                    "period": period,
                    "dimension": "",
                    "is_self": True,
                    "value": value,
                    "previous_value": 0.50 if period == "2026-10" else np.nan,
                    "suppressed": False,
                    "suppression_reason": "",
                    "format": "percent",
                    "direction": m.direction,
                    "label": m.label,
                    "math": f"math of {mid}",
                    "target": 0.45,
                    "peer_median": 0.40,
                    "peer_rank": 2,
                    "peer_n": 6,
                    "note": "",
                    "flag_below_target": False,
                    "flag_worse_than_peers": False,
                    "flag_significant_change": period == "2026-10"
                    and mid == "exits_to_permanent_housing",
                    "flag_special_cause": False,
                    "flag_reasons": "",
                }
            )
    frame = pd.DataFrame(rows)
    sup = (frame["metric_id"] == "clients_served") & (frame["period"] == "2026-10")
    frame.loc[sup, ["value", "suppressed", "suppression_reason"]] = [
        np.nan,
        True,
        "fewer than 11 cases",
    ]
    return frame


def test_change_sentences(program):
    p = _P(program, _values(program))
    sentences = dashboard.change_sentences(p)
    assert sentences[0] == (
        "Exits to permanent housing rose from 50% in September 2026 to 60% in October 2026 "
        "(better; the change is statistically significant)."
    )
    assert sentences[1] == "New flag for Exits to permanent housing: significant change."
    # returns: direction down, so a rise is worse
    assert (
        sentences[2].startswith("Returns within 12 months rose from 50%")
        and "(worse;" in sentences[2]
    )
    assert sentences[-1] == (
        "Clients served: this month's value is suppressed (fewer than 11 cases), so it "
        "cannot be compared with last month."
    )


def test_tiles_show_value_target_rank_and_suppressed(program):
    p = _P(program, _values(program))
    block = dashboard.tiles(p)
    assert repr(block).startswith("<tiles: harbor 2026-10: Exits to permanent housing 60%;")
    assert repr(block).endswith("Clients served suppressed>")
    html = block._repr_html_()
    assert "target 45% · peer median 40% · rank 2 of 6" in html
    assert (
        len(re.findall(r'class="acm-tile[" ]', html)) == 5
    )  # the key metrics (cost per exit is not a key metric)
    assert '<span class="value acm-suppressed">suppressed</span>' in html


def test_what_changed_adds_the_last_meetings_month_to_each_sentence(program):
    """One "What changed" section: since last month, and since the month the last meeting
    discussed (August here), when that is earlier."""
    values = _values(program)
    august = values[values["period"] == "2026-09"].assign(period="2026-08", value=0.70)
    p = _P(program, pd.concat([values, august], ignore_index=True))
    first = dashboard.change_sentences(p, since="2026-08")[0]
    assert first == (
        "Exits to permanent housing rose from 50% in September 2026 to 60% in October 2026 "
        "(better; the change is statistically significant); 70% in August 2026, the last "
        "meeting's month (worse now)."
    )
    assert dashboard.change_sentences(p)[0].endswith("statistically significant).")
