"""Trend annotations: the practice-change month, action-item dates and the same month last
year, added to a trend chart as separate layers (tested through ``to_dict()``)."""

from __future__ import annotations

from datetime import date

import pandas as pd

from acm_helpers.core import text
from acm_helpers.meetings import actions
from acm_helpers.packets import dashboard, packet
from acm_helpers.views import charts

MONTHS = [f"2026-{m:02d}" for m in range(1, 11)]
TREND = pd.DataFrame(
    {
        "period": MONTHS,
        "value": [0.4 + 0.01 * i for i in range(10)],
        "ci_low": [0.3] * 10,
        "ci_high": [0.6] * 10,
    }
)


def _chart():
    return charts.trend_chart(TREND, title="Exits", fmt="percent", target=0.45)


def _rows(chart, layer: dict) -> list[dict]:
    return chart.to_dict()["datasets"][layer["data"]["name"]]


def test_events_become_rules_with_labels_one_per_month_outside_months_dropped():
    base = _chart()
    events = pd.DataFrame(
        {
            "period": ["2026-03", "2026-03", "2026-06", "2025-01"],
            "label": ["Practice change", "#001 agreed", "#001 due", "too early"],
            "kind": ["change", "agreed", "due", "due"],
        }
    )
    chart = charts.annotate_trend(base, events=events, fmt="percent")
    layers = chart.to_dict()["layer"]
    assert len(layers) == len(base.layer) + 3  # a rule layer and one label layer per row used
    rule, *notes = layers[len(base.layer) :]
    assert rule["mark"]["type"] == "rule" and rule["encoding"]["x"]["field"] == "period"
    assert [(r["period"], r["label"]) for r in _rows(chart, rule)] == [
        ("2026-03", "Practice change; #001 agreed"),
        ("2026-06", "#001 due"),
    ]  # the month before the chart's first is not drawn (it would add a month to the axis)
    assert all(
        n["mark"]["type"] == "text" and n["encoding"]["text"]["field"] == "label" for n in notes
    )
    assert {n["mark"]["dy"] for n in notes} == {2, 14}  # neighbours staggered, not overprinted
    # the practice change is a solid rule, action dates dashed
    dash = rule["encoding"]["strokeDash"]
    assert dash["condition"]["test"] == "datum.kind == 'change'"
    assert dash["condition"]["value"] == [1, 0] and dash["value"] == [3, 3]
    # the base chart is not changed
    assert len(base.to_dict()["layer"]) == len(base.layer)


def test_same_month_last_year_is_a_diamond_with_its_own_legend_entry():
    ly = pd.DataFrame({"period": ["2026-10"], "last_year": [0.398]})
    chart = charts.annotate_trend(_chart(), last_year=ly, fmt="percent")
    mark = chart.to_dict()["layer"][-1]
    assert mark["mark"]["type"] == "point" and mark["mark"]["filled"] is False
    assert mark["encoding"]["shape"]["scale"] == {
        "domain": [charts.LAST_YEAR],
        "range": ["diamond"],
    }
    assert mark["encoding"]["y"]["axis"]["format"] == text.vega_format("percent")
    assert _rows(chart, mark) == [
        {
            "period": "2026-10",
            "last_year": 0.398,
            "series": charts.LAST_YEAR,
            "month": "Oct 2026",
            "d_last_year": f"{charts.LAST_YEAR} (Oct 2025): 39.8%",
        }
    ]
    svg = charts.to_svg(chart)
    assert charts.LAST_YEAR in svg  # the legend entry is drawn


def test_nothing_to_mark_leaves_the_chart_as_it_was():
    base = _chart()
    empty_ly = pd.DataFrame({"period": ["2026-10"], "last_year": [None]})
    assert (
        charts.annotate_trend(
            base, events=pd.DataFrame(columns=["period", "label"]), last_year=empty_ly
        )
        is base
    )


class _Store:
    def __init__(self, items: pd.DataFrame):
        self.items = items

    def has_table(self, name: str) -> bool:
        return name == "action_items"

    def read_table(self, name: str) -> pd.DataFrame:
        return self.items


def test_trend_events_reads_roadmap_change_months_and_this_providers_items(program):
    items = pd.DataFrame(
        {
            "item_id": ["harbor-001", "harbor-002", "cascade-001", "harbor-003"],
            "provider_id": ["harbor", "harbor", "cascade", "harbor"],
            "meeting_date": [
                date(2025, 12, 15),
                date(2026, 1, 15),
                date(2026, 1, 15),
                date(2026, 11, 15),
            ],
            "owner": ["x"] * 4,
            "due_date": [date(2026, 1, 31), None, date(2026, 3, 31), date(2026, 12, 31)],
            "status": ["closed", "open", "open", "open"],
            "metric_id": ["exits_to_permanent_housing"] * 4,
            "text": ["t"] * 4,
            "closed_date": [date(2026, 1, 10), None, None, None],
            "resolution": [""] * 4,
        }
    )

    class P:
        def __init__(self):
            self.program, self.store, self.provider, self.period = (
                program,
                _Store(items),
                "harbor",
                "2026-10",
            )
            self.actions = actions.read_actions(self.store)

    events = dashboard.trend_events(P(), "exits_to_permanent_housing")
    change = [
        r.change_month
        for r in program.roadmap.values()
        if r.change_month and r.metric == "exits_to_permanent_housing"
    ]
    assert change, "the demo roadmap declares the navigation pilot's month"
    assert events.to_dict("records") == [
        {"period": change[0], "label": "Practice change", "kind": "change"},
        {"period": "2025-12", "label": "#001 agreed", "kind": "agreed"},
        {"period": "2026-01", "label": "#001 due", "kind": "due"},
        {"period": "2026-01", "label": "#002 agreed", "kind": "agreed"},  # no due date: no due mark
    ]  # cascade's item and the item agreed after the period are left out
    assert dashboard.trend_events(P(), "clients_served").empty


def test_last_year_frame_takes_the_engines_same_month_last_year(program):
    values = pd.DataFrame(
        {
            "metric_id": ["exits_to_permanent_housing", "clients_served"],
            "period": ["2026-10", "2026-10"],
            "dimension": ["", ""],
            "is_self": [True, True],
            "same_month_last_year": [0.41, float("nan")],
        }
    )

    class P:
        def __init__(self):
            self.program, self.values, self.period = program, values, "2026-10"

        own = packet.Packet.own

    assert dashboard.last_year_frame(P(), "exits_to_permanent_housing").to_dict("records") == [
        {"period": "2026-10", "last_year": 0.41}
    ]
    assert dashboard.last_year_frame(P(), "clients_served").empty  # suppressed: no mark
