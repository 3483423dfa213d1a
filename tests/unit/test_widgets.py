"""The explorer's views, validation, CSV export and widget wiring, on a small inline
metric_values frame (two providers, three months) built with hand-picked numbers."""

from __future__ import annotations

import base64
import io

import pandas as pd
import pytest

from acm_helpers import explorer, widgets
from acm_helpers.exceptions import AcmError, ConfigError, UnknownIdError
from acm_helpers.explorer import ALL, ExplorerData
from acm_helpers.store import Store

EPH = "exits_to_permanent_housing"
MONTHS = ["2026-08", "2026-09", "2026-10"]


def _row(provider, period, metric, num, den, dimension="", group="", suppressed=False):
    value = None if suppressed else num / den
    return {"version": "v1", "provider_id": provider, "period": period, "grain": "month",
            "metric_id": metric, "dimension": dimension, "group": group,
            "numerator": None if suppressed else float(num),
            "denominator": None if suppressed else float(den),
            "value": value, "ci_low": None if suppressed else value - 0.05,
            "ci_high": None if suppressed else value + 0.05, "suppressed": suppressed,
            "math": "" if suppressed else f"{num} / {den} = {value:.0%}"}


def _values() -> pd.DataFrame:
    rows = []
    # harbor: 10/20, 12/20, 9/20 ; cascade: 15/20, 14/20, 16/20 ; all = sums
    for period, h, c in zip(MONTHS, [10, 12, 9], [15, 14, 16], strict=True):
        rows += [_row("harbor", period, EPH, h, 20), _row("cascade", period, EPH, c, 20),
                 _row(ALL, period, EPH, h + c, 40)]
    rows += [
        _row("harbor", "2026-10", EPH, 6, 12, "race_ethnicity", "White"),
        _row("harbor", "2026-10", EPH, 3, 8, "race_ethnicity", "Black or African American", suppressed=True),
        _row("cascade", "2026-10", EPH, 9, 12, "race_ethnicity", "White"),
        # a quarter roll-up must never show up as a month
        {**_row("harbor", "2026-Q3", EPH, 31, 60), "grain": "quarter"},
    ]
    return pd.DataFrame(rows)


@pytest.fixture()
def data(program) -> ExplorerData:
    actions = pd.DataFrame({
        "item_id": ["harbor-001", "cascade-001"], "provider_id": ["harbor", "cascade"],
        "meeting_date": pd.to_datetime(["2026-09-15", "2026-09-15"]), "owner": ["Ana", "Bo"],
        "due_date": pd.to_datetime(["2026-10-01", "2026-12-01"]), "status": ["open", "open"],
        "metric_id": [EPH, ""], "text": ["Call landlords", "Fix zips"],
        "closed_date": pd.to_datetime([None, None]), "resolution": ["", ""]})
    return ExplorerData(program, _values(), pd.DataFrame(), pd.DataFrame(), actions)


@pytest.fixture()
def ok(data):
    return explorer.allowed(data)


def test_allowed_sets_come_from_program_and_data(ok):
    assert ok.providers == (ALL, "harbor", "cascade")  # program order, only those with data
    assert ok.metrics == (EPH,)
    assert ok.periods == tuple(MONTHS)  # "2026-Q3" is a quarter, not offered as a month
    assert ok.dimensions == ("", "race_ethnicity")


@pytest.mark.parametrize("field, value, error", [
    pytest.param("provider", "nonsense", UnknownIdError, id="unknown-provider"),
    pytest.param("provider", "puget", UnknownIdError, id="provider-without-data"),
    pytest.param("provider", "harbor'; DROP TABLE metric_values;--", UnknownIdError, id="sql-text"),
    pytest.param("provider", ["harbor"], UnknownIdError, id="not-a-string"),
    pytest.param("metric", "__import__('os')", UnknownIdError, id="code-text-metric"),
    pytest.param("start", "2026-13", UnknownIdError, id="bad-month"),
    pytest.param("dimension", "zip", UnknownIdError, id="dimension-without-data"),
    pytest.param("start", "2026-10", ConfigError, id="start-after-end"),
])
def test_make_selection_refuses_values_outside_the_allowlist(ok, field, value, error):
    raw = {"provider": "harbor", "metric": EPH, "start": "2026-08", "end": "2026-09", "dimension": ""}
    raw[field] = value
    with pytest.raises(error):
        explorer.make_selection(ok, **raw)


def test_unknown_provider_message_lists_known_ones(ok):
    with pytest.raises(UnknownIdError, match=r"Unknown provider 'nonsense'\. Known providers: .*harbor"):
        explorer.make_selection(ok, "nonsense", EPH, "2026-08", "2026-10")


def test_trend_has_own_values_and_peer_quartiles(data, ok):
    sel = explorer.make_selection(ok, "harbor", EPH, "2026-09", "2026-10")
    t = explorer.trend(data, sel)
    assert t["period"].tolist() == ["2026-09", "2026-10"]
    assert t["value"].tolist() == pytest.approx([0.60, 0.45])
    # one peer (cascade): every quartile is cascade's value
    assert t["peer_median"].tolist() == pytest.approx([0.70, 0.80])
    assert t["peer_q1"].tolist() == pytest.approx([0.70, 0.80])


def test_peers_mark_the_selected_provider_and_sort_by_value(data, ok):
    sel = explorer.make_selection(ok, "harbor", EPH, "2026-08", "2026-10")
    p = explorer.peers(data, sel)
    assert p["provider"].tolist() == ["Cascade Family Services", "Harbor Light Housing"]
    assert p["value"].tolist() == pytest.approx([0.80, 0.45])
    assert p["is_self"].tolist() == [False, True]


def test_breakdown_keeps_suppressed_groups_marked_without_values(data, ok):
    sel = explorer.make_selection(ok, "harbor", EPH, "2026-08", "2026-10", "race_ethnicity")
    b = explorer.breakdown(data, sel).set_index("group")
    assert b.loc["White", "value"] == pytest.approx(0.5)
    assert bool(b.loc["Black or African American", "suppressed"]) is True
    assert pd.isna(b.loc["Black or African American", "value"])


def test_tiles_flag_worse_than_target_and_peers(data, ok):
    sel = explorer.make_selection(ok, "harbor", EPH, "2026-08", "2026-10")
    tiles = explorer.tiles(data, sel).set_index("metric_id")
    eph = tiles.loc[EPH]
    assert eph["value"] == pytest.approx(0.45)  # 9/20, target 0.45 is met (not worse)
    assert eph["flags"] == ["worse than the peer median"]  # cascade 0.80
    assert bool(eph["flagged"]) is True
    sel_c = explorer.make_selection(ok, "cascade", EPH, "2026-08", "2026-10")
    assert explorer.tiles(data, sel_c).set_index("metric_id").loc[EPH, "flags"] == []


def test_csv_export_has_aggregates_only_and_no_suppressed_cells(data, ok):
    sel = explorer.make_selection(ok, "harbor", EPH, "2026-09", "2026-10", "race_ethnicity")
    frame = pd.read_csv(io.StringIO(explorer.view_csv(data, sel)), keep_default_na=False)
    assert list(frame.columns) == explorer.CSV_COLUMNS
    assert "client_id" not in frame.columns and "episode_id" not in frame.columns
    assert frame["section"].value_counts().to_dict() == {"trend": 2, "peers": 2, "breakdown": 1}
    assert frame.loc[frame["section"] == "breakdown", "group"].tolist() == ["White"]
    assert "Black or African American" not in frame["group"].tolist()  # suppressed: dropped
    assert frame.loc[frame["section"] == "trend", "numerator"].tolist() == [12.0, 9.0]


def test_csv_export_neutralises_formula_text(data, ok):
    values = data.values.copy()
    values.loc[values["group"] == "White", "group"] = "=HYPERLINK(\"http://x\")"
    evil = ExplorerData(data.program, values, data.equity, data.quality, data.actions)
    sel = explorer.make_selection(explorer.allowed(evil), "harbor", EPH, "2026-10", "2026-10", "race_ethnicity")
    text = explorer.view_csv(evil, sel)
    assert "'=HYPERLINK" in text and ",=HYPERLINK" not in text


def test_open_actions_as_of_end_of_month(data, ok):
    sel = explorer.make_selection(ok, "harbor", EPH, "2026-08", "2026-10")
    items = explorer.open_actions(data, sel)
    assert items["item_id"].tolist() == ["harbor-001"]
    assert bool(items["overdue"].iloc[0]) is True  # due 2026-10-01, as of 2026-10-31
    all_sel = explorer.make_selection(ok, ALL, EPH, "2026-08", "2026-10")
    assert sorted(explorer.open_actions(data, all_sel)["item_id"]) == ["cascade-001", "harbor-001"]


def test_roadmap_topic_of_the_month(program):
    assert explorer.roadmap_topic(program, "2026-10")["dimension"] == "race_ethnicity"
    assert explorer.roadmap_topic(program, "2024-01") is None


# -- the widget app, driven from Python as Voila's callbacks would ----------------------------
@pytest.fixture()
def app(tmp_path, program, data, monkeypatch):
    store = Store(tmp_path)
    store.write_table("metric_values", data.values)
    store.write_table("action_items", data.actions)
    return widgets.Explorer([program], [store])


def _svg_labels(html_text: str) -> list[str]:
    import re

    return re.findall(r'aria-label="([^"]*series: This provider[^"]*)"', html_text)


def test_app_starts_on_all_providers_latest_year(app):
    assert app.provider.value == ALL
    assert app.months.value == ("2026-08", "2026-10")
    assert app.message.layout.display == "none"
    assert "<svg" in app.trend.widget.value


def test_app_widget_change_rerenders_with_new_provider_numbers(app):
    app.provider.value = "harbor"
    labels = _svg_labels(app.trend.widget.value)
    assert any("Month: 2026-10; Value: 45%" in s for s in labels), labels
    tile = app.tiles.children[0].children[0].value
    assert ">45%<" in tile
    app.provider.value = "cascade"
    assert ">80%<" in app.tiles.children[0].children[0].value


def test_app_reads_the_store_once(app, monkeypatch):
    calls = []
    monkeypatch.setattr(Store, "read_table", lambda self, name, columns=None: calls.append(name))
    for p in ("harbor", "cascade", ALL):
        app.provider.value = p
    app.dimension.value = "race_ethnicity"
    assert calls == []


def test_app_drill_from_flagged_tile_sets_metric_and_breakdown(app):
    app.provider.value = "harbor"
    tile = app.tiles.children[0]
    assert "acm-flagged" in tile._dom_classes
    tile.children[1].click()  # "Show breakdown"
    assert app.metric.value == EPH
    assert app.dimension.value == "race_ethnicity"  # the roadmap topic's dimension for 2026-10
    assert "suppressed" in app.breakdown.widget.value


@pytest.mark.parametrize("query, message", [
    pytest.param("provider=nonsense", "provider 'nonsense'", id="unknown"),
    pytest.param("provider=%3Cscript%3Ealert(1)%3C/script%3E", "&lt;script&gt;", id="markup-escaped"),
    pytest.param("metric=__import__", "metric '__import__'", id="unknown-metric"),
])
def test_app_bad_query_shows_a_plain_message(app, query, message):
    app.apply_query(query)
    assert message in app.message.value
    assert "<script>" not in app.message.value
    assert "Traceback" not in app.message.value
    assert app.provider.value == ALL  # view unchanged


def test_app_good_query_selects_provider(app):
    app.apply_query("provider=harbor&token=abc")
    assert app.provider.value == "harbor"
    assert app.message.layout.display == "none"


def test_app_download_link_is_a_data_uri_of_the_view(app):
    app.provider.value = "harbor"
    href = app.download.value.split('href="', 1)[1].split('"', 1)[0]
    assert href.startswith("data:text/csv;charset=utf-8;base64,")
    text = base64.b64decode(href.split(",", 1)[1]).decode()
    assert text.splitlines()[0] == ",".join(explorer.CSV_COLUMNS)
    assert 'download="acm_homeless_demo_harbor_exits_to_permanent_housing_2026-08_2026-10.csv"' in app.download.value


def test_app_callback_shows_acm_error_message(app, monkeypatch):
    def boom(*a, **k):
        raise AcmError("Provider harbor, 2026-10: something plain went wrong.")
    monkeypatch.setattr(explorer, "trend", boom)
    app.provider.value = "harbor"
    assert "something plain went wrong" in app.message.value
    assert app.message.layout.display is None


def test_request_query_outside_voila_reads_environment(monkeypatch):
    monkeypatch.delenv("VOILA_PREHEAT", raising=False)
    monkeypatch.setenv("QUERY_STRING", "provider=harbor")
    assert widgets.request_query() == "provider=harbor"
    monkeypatch.setenv("VOILA_PREHEAT", "False")
    assert widgets.request_query() == "provider=harbor"

