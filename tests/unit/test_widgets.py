"""The explorer's views, validation, CSV export and widget wiring, on a small inline
metric_values frame (two providers, three months) built with hand-picked numbers."""

from __future__ import annotations

import io
import re

import pandas as pd
import pytest

from acm_helpers.core import calendar
from acm_helpers.core.errors import AcmError, ConfigError, StoreError, UnknownIdError
from acm_helpers.explorer import app as widgets
from acm_helpers.explorer import data as explorer
from acm_helpers.explorer.data import ALL, ExplorerData
from acm_helpers.store.store import Store
from acm_helpers.views import charts

EPH = "exits_to_permanent_housing"
MONTHS = ["2026-08", "2026-09", "2026-10"]


def _row(provider, period, metric, num, den, dimension="", group="", suppressed=False, **extra):
    value = None if suppressed else num / den
    row = {
        "version": "v1",
        "provider_id": provider,
        "period": period,
        "grain": "month",
        "metric_id": metric,
        "dimension": dimension,
        "group": group,
        "numerator": None if suppressed else float(num),
        "denominator": None if suppressed else float(den),
        "value": value,
        "ci_low": None if suppressed else value - 0.05,
        "ci_high": None if suppressed else value + 0.05,
        "suppressed": suppressed,
        "suppression_reason": "fewer than 11 cases" if suppressed else "",
        "math": "suppressed" if suppressed else f"{num} / {den} = {value:.0%}",
        "peer_q1": None,
        "peer_median": None,
        "peer_q3": None,
        "flag_below_target": False,
        "flag_worse_than_peers": False,
        "flag_significant_change": False,
        "flag_special_cause": False,
        "flag_reasons": "",
    }
    return {**row, **extra}


# harbor: 10/20, 12/20, 9/20 ; cascade: 15/20, 14/20, 16/20 ; all = sums.
# Peer quartiles as the engine writes them (over both providers): q1/median/q3 per month.
PEERS = {
    "2026-08": (0.5625, 0.625, 0.6875),
    "2026-09": (0.6250, 0.650, 0.6750),
    "2026-10": (0.5375, 0.625, 0.7125),
}
HARBOR_OCT_FLAG = "45% is below the peer median of 62.5% (rank 2 of 2 providers)."


def _values() -> pd.DataFrame:
    rows = []
    for period, h, c in zip(MONTHS, [10, 12, 9], [15, 14, 16], strict=True):
        q1, med, q3 = PEERS[period]
        peer = {"peer_q1": q1, "peer_median": med, "peer_q3": q3}
        flags = (
            {"flag_worse_than_peers": True, "flag_reasons": HARBOR_OCT_FLAG}
            if period == "2026-10"
            else {}
        )
        rows += [
            _row("harbor", period, EPH, h, 20, **peer, **flags),
            _row("cascade", period, EPH, c, 20, **peer),
            _row(ALL, period, EPH, h + c, 40, **peer),
        ]
    rows += [
        _row("harbor", "2026-10", EPH, 6, 12, "race_ethnicity", "White"),
        _row(
            "harbor",
            "2026-10",
            EPH,
            3,
            8,
            "race_ethnicity",
            "Black or African American",
            suppressed=True,
        ),
        _row("harbor", "2026-10", EPH, 2, 14, "race_ethnicity", "Hispanic or Latina/e/o"),
        _row("cascade", "2026-10", EPH, 9, 12, "race_ethnicity", "White"),
        # roll-ups: never offered as months; the breakdown can cover the quarter of the last month
        {**_row("harbor", "2026-Q3", EPH, 31, 60), "grain": "quarter"},
        {**_row("harbor", "2026-Q4", EPH, 20, 40, "race_ethnicity", "White"), "grain": "quarter"},
        {**_row("harbor", "2026-Q3", EPH, 30, 40, "race_ethnicity", "White"), "grain": "quarter"},
    ]
    return pd.DataFrame(rows)


DISPARITY = "Exits for Hispanic or Latina/e/o were 14%, worse than 50% for White."


def _equity() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "version": "v1",
            "provider_id": "harbor",
            "period": "2026-10",
            "grain": "month",
            "metric_id": EPH,
            "dimension": "race_ethnicity",
            "group": ["White", "Hispanic or Latina/e/o", "Black or African American"],
            "flag_disparity": [False, True, False],
            "disparity_reason": ["", DISPARITY, ""],
            "suppressed": [False, False, True],
            "suppression_reason": ["", "", "fewer than 11 cases"],
        }
    )


def _actions() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "item_id": ["harbor-001", "cascade-001"],
            "provider_id": ["harbor", "cascade"],
            "meeting_date": pd.to_datetime(["2026-09-15", "2026-09-15"]),
            "owner": ["Ana", "Bo"],
            "due_date": pd.to_datetime(["2026-10-01", "2026-12-01"]),
            "status": ["open", "open"],
            "metric_id": [EPH, ""],
            "text": ["Call landlords", "Fix zips"],
            "closed_date": pd.to_datetime([None, None]),
            "resolution": ["", ""],
        }
    )


@pytest.fixture()
def store(tmp_path) -> Store:
    st = Store(tmp_path)
    st.write_table("metric_values", _values())
    st.write_table("equity", _equity())
    st.write_table("action_items", _actions())
    return st


@pytest.fixture()
def data(program, store) -> ExplorerData:
    return explorer.load_data(program, store)


@pytest.fixture()
def ok(data):
    return explorer.allowed(data)


def test_allowed_sets_come_from_program_and_data(ok):
    assert ok.providers == (ALL, "harbor", "cascade")  # program order, only those with data
    assert ok.metrics == (EPH,)
    assert ok.periods == tuple(MONTHS)  # "2026-Q3" is a quarter, not offered as a month
    assert ok.dimensions == ("", "race_ethnicity")
    assert ok.grains == ("month", "quarter")  # windows the breakdown rows cover


@pytest.mark.parametrize(
    "field, value, error",
    [
        pytest.param("provider", "nonsense", UnknownIdError, id="unknown-provider"),
        pytest.param("provider", "puget", UnknownIdError, id="provider-without-data"),
        pytest.param(
            "provider", "harbor'; DROP TABLE metric_values;--", UnknownIdError, id="sql-text"
        ),
        pytest.param("provider", ["harbor"], UnknownIdError, id="not-a-string"),
        pytest.param("metric", "__import__('os')", UnknownIdError, id="code-text-metric"),
        pytest.param("start", "2026-13", UnknownIdError, id="bad-month"),
        pytest.param("dimension", "zip", UnknownIdError, id="dimension-without-data"),
        pytest.param("start", "2026-10", ConfigError, id="start-after-end"),
    ],
)
def test_make_selection_refuses_values_outside_the_allowlist(ok, field, value, error):
    raw = {
        "provider": "harbor",
        "metric": EPH,
        "start": "2026-08",
        "end": "2026-09",
        "dimension": "",
    }
    raw[field] = value
    with pytest.raises(error):
        explorer.make_selection(ok, **raw)


def test_unknown_provider_message_lists_known_ones(ok):
    with pytest.raises(
        UnknownIdError, match=r"Unknown provider 'nonsense'\. Known providers: .*harbor"
    ):
        explorer.make_selection(ok, "nonsense", EPH, "2026-08", "2026-10")


def test_trend_has_own_values_and_peer_quartiles(data, ok):
    sel = explorer.make_selection(ok, "harbor", EPH, "2026-09", "2026-10")
    t = explorer.trend(data, sel)
    assert t["period"].tolist() == ["2026-09", "2026-10"]
    assert t["value"].tolist() == pytest.approx([0.60, 0.45])
    assert t["peer_median"].tolist() == pytest.approx([0.650, 0.625])  # the engine's, as stored
    assert t["peer_q1"].tolist() == pytest.approx([0.625, 0.5375])


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
    assert b["flagged"].to_dict() == {
        "Black or African American": False,
        "Hispanic or Latina/e/o": True,
        "White": False,
    }
    assert b.loc["Hispanic or Latina/e/o", "reason"] == DISPARITY


@pytest.mark.parametrize(
    "end, grain, period, white",
    [
        pytest.param("2026-10", "month", "2026-10", 0.50, id="month"),
        # October alone is not a quarter: the last complete one, as in the packets
        pytest.param("2026-10", "quarter", "2026-Q3", 0.75, id="october-shows-the-complete-q3"),
        pytest.param("2026-09", "quarter", "2026-Q3", 0.75, id="quarter-of-september"),
    ],
)
def test_breakdown_covers_the_last_complete_window(data, ok, end, grain, period, white):
    sel = explorer.make_selection(ok, "harbor", EPH, "2026-08", end, "race_ethnicity", grain)
    assert explorer.breakdown_period(sel) == period
    b = explorer.breakdown(data, sel).set_index("group")
    assert b.loc["White", "value"] == pytest.approx(white)


def test_breakdown_grain_outside_the_data_is_refused(ok):
    with pytest.raises(UnknownIdError, match="breakdown period 'year'"):
        explorer.make_selection(ok, "harbor", EPH, "2026-08", "2026-10", "race_ethnicity", "year")


def test_tiles_carry_the_engines_flags(data, ok):
    sel = explorer.make_selection(ok, "harbor", EPH, "2026-08", "2026-10")
    tiles = {t.metric_id: t for t in explorer.tile_records(data, sel)}
    eph = tiles[EPH]
    assert eph.value == pytest.approx(0.45) and eph.shown == "45%"  # 9/20
    assert eph.reasons == (HARBOR_OCT_FLAG,)
    assert eph.chips == ("Worse than peers",) and eph.flagged
    # key metrics without values still get a tile (shown as "–"), unflagged
    assert tiles["clients_served"].shown == "–" and not tiles["clients_served"].flagged
    assert "cost_per_exit_to_ph" not in tiles  # key: false and not selected
    sel_c = explorer.make_selection(ok, "cascade", EPH, "2026-08", "2026-10")
    assert {t.metric_id: t for t in explorer.tile_records(data, sel_c)}[EPH].reasons == ()


def test_quarter_grain_shows_the_last_complete_quarter_and_says_so(data, ok):
    sel = explorer.make_selection(ok, "harbor", EPH, "2026-08", "2026-10", "", "quarter")
    tiles = {t.metric_id: t for t in explorer.tile_records(data, sel)}
    assert tiles[EPH].period == "2026-Q3" and tiles[EPH].shown == "51.7%"  # 31/60, not October
    assert explorer.trend(data, sel)["period"].tolist() == ["2026-Q3"]  # no partial 2026-Q4
    assert explorer.grain_note(sel) == (
        "Quarters shown are complete: the last is 2026-Q3 (July–September 2026). "
        "October 2026 is in 2026-Q4, which is not complete yet."
    )
    month = explorer.make_selection(ok, "harbor", EPH, "2026-08", "2026-10")
    assert explorer.grain_note(month) == "" and len(explorer.trend(data, month)) == 3


def test_csv_export_has_aggregates_only_and_marks_suppressed_cells(data, ok):
    sel = explorer.make_selection(ok, "harbor", EPH, "2026-09", "2026-10", "race_ethnicity")
    csv = io.StringIO(explorer.view_csv(data, sel))
    frame = pd.read_csv(csv, keep_default_na=False, dtype=str)
    assert list(frame.columns) == explorer.CSV_COLUMNS
    assert "client_id" not in frame.columns and "episode_id" not in frame.columns
    assert frame["section"].value_counts().to_dict() == {"trend": 2, "peers": 2, "breakdown": 3}
    breakdown = frame[frame["section"] == "breakdown"].set_index("group")
    assert set(breakdown.index) >= {"White", "Hispanic or Latina/e/o", "Black or African American"}
    # a suppressed group is present, its numbers "suppressed" (never dropped, never a number)
    assert (breakdown.loc["Black or African American", NUMBERS] == "suppressed").all()
    assert "harbor" not in set(frame["provider"])  # names, not ids
    assert set(frame["metric"]) == {"Exits to permanent housing"}
    assert frame.loc[frame["section"] == "trend", "numerator"].tolist() == ["12", "9"]
    # values keep the digits a packet shows (one decimal of a percent), as core.text rounds them
    values = _values()
    trend = values[
        (values["metric_id"] == EPH)
        & (values["provider_id"] == "harbor")
        & (values["dimension"] == "")
        & values["period"].isin(["2026-09", "2026-10"])
    ]
    assert frame.loc[frame["section"] == "trend", "value"].astype(float).tolist() == [
        round(v, 3) for v in trend.sort_values("period")["value"]
    ]
    assert frame.loc[frame["section"] == "trend", "period"].tolist() == ["2026-09", "2026-10"]
    assert set(frame.loc[frame["section"] == "peers", "provider"]) == {
        "Harbor Light Housing",
        "Cascade Family Services",
    }
    assert set(frame.loc[frame["section"] == "breakdown", "breakdown"]) == {"Race and ethnicity"}


NUMBERS = ["numerator", "denominator", "value", "95% interval from", "95% interval to"]


def test_csv_export_neutralises_formula_text(data, ok):
    values = _values()
    values.loc[values["group"] == "White", "group"] = '=HYPERLINK("http://x")'
    evil = ExplorerData.from_frames(data.program, values, _equity(), data.quality, data.actions)
    sel = explorer.make_selection(
        explorer.allowed(evil), "harbor", EPH, "2026-10", "2026-10", "race_ethnicity"
    )
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
@pytest.fixture(params=["jupyter", "svg"])
def app(request, program, store):
    return widgets.Explorer([program], [store], chart_mode=request.param)


def _own_points(app) -> dict[str, float]:
    """Month -> value of the trend's own line, from what the chart board sends the browser."""
    if app.charts.mode == "svg":
        # each point's description is written by core.text: "This provider, Oct 2026: value 62.5% (...)"
        labels = re.findall(
            r'aria-label="[^"]*?(\w{3} \d{4}): value (\d+(?:\.\d)?)%',
            app.charts.panes["trend"].value,
        )
        month = {calendar.month_label(m): m for m in calendar.month_range("2020-01", "2030-12")}
        return {month[m]: float(v) / 100 for m, v in labels}
    spec = app.charts.chart.spec
    trend = spec["vconcat"][0]["hconcat"][0] if "vconcat" in spec else spec["hconcat"][0]
    rows = (
        spec["datasets"][trend["data"]["name"]]
        if "data" in trend
        else spec["datasets"][trend["layer"][-2]["data"]["name"]]
    )
    return {r["period"]: round(r["value"], 4) for r in rows if r.get("value") is not None}


SVG_ROUNDING = 0.00051  # SVG labels show one decimal of a percent (core.text: "62.5%")


def _tile(app, metric=EPH) -> str:
    return app._tile[metric][1].value


def test_app_starts_on_all_providers_latest_year(app):
    assert app.provider.value == ALL
    assert app.months.value == ("2026-08", "2026-10")
    assert app.message.layout.display == "none"
    assert _own_points(app) == pytest.approx(
        {"2026-08": 0.625, "2026-09": 0.65, "2026-10": 0.625}, abs=SVG_ROUNDING
    )
    if app.charts.mode == "svg":
        assert "All providers, Oct 2026: value" in app.charts.panes["trend"].value


def test_app_widget_change_rerenders_with_new_provider_numbers(app):
    app.provider.value = "harbor"
    assert _own_points(app) == pytest.approx(
        {"2026-08": 0.50, "2026-09": 0.60, "2026-10": 0.45}, abs=SVG_ROUNDING
    )
    assert ">45%<" in _tile(app)
    app.provider.value = "cascade"
    assert _own_points(app) == pytest.approx(
        {"2026-08": 0.75, "2026-09": 0.70, "2026-10": 0.80}, abs=SVG_ROUNDING
    )
    assert ">80%<" in _tile(app)


def test_app_caches_views_and_prerender_fills_the_cache(app, monkeypatch):
    app.prerender()
    calls = []
    real = charts.trend_chart
    monkeypatch.setattr(charts, "trend_chart", lambda *a, **k: calls.append(1) or real(*a, **k))
    for p in ("harbor", "cascade", ALL, "harbor"):
        app.provider.value = p
    assert calls == []  # every provider's trend was rendered while "waiting for a request"
    app.months.value = ("2026-09", "2026-10")
    assert calls == [1]


def test_app_reads_the_store_once(app, monkeypatch):
    calls = []
    monkeypatch.setattr(Store, "read_table", lambda self, name, columns=None: calls.append(name))
    for p in ("harbor", "cascade", ALL):
        app.provider.value = p
    app.dimension.value = "race_ethnicity"
    assert calls == []


def test_app_renders_other_providers_in_idle_time(app, monkeypatch):
    import asyncio

    async def pick_then_idle():
        app.metric.value = EPH  # unchanged: no refresh
        app.months.value = ("2026-09", "2026-10")  # a view nothing has drawn yet
        # the kernel loop is idle meanwhile; wait for the event, not for a guessed time
        await asyncio.wait_for(app.idle_done.wait(), timeout=600)

    asyncio.run(pick_then_idle())
    calls = []
    real = charts.trend_chart
    monkeypatch.setattr(charts, "trend_chart", lambda *a, **k: calls.append(1) or real(*a, **k))
    for p in ("harbor", "cascade"):
        app.provider.value = p
    assert calls == []  # drawn while idle, so the switch only sends it


def test_app_drill_from_flagged_tile_sets_metric_and_breakdown(app):
    app.provider.value = "harbor"
    box, _, button = app._tile[EPH]
    assert "acm-flagged" in box._dom_classes and button.layout.display is None
    assert app._tile["clients_served"][2].layout.display == "none"  # unflagged: no drill button
    button.click()  # "Show breakdown"
    assert app.metric.value == EPH
    assert app.dimension.value == "race_ethnicity"  # the roadmap topic's dimension for 2026-10
    assert DISPARITY in app.findings.value
    if app.charts.mode == "svg":
        assert "suppressed (small numbers)" in app.charts.panes["breakdown"].value
    else:
        spec = app.charts.chart.spec
        rows = [r for d in spec["datasets"].values() for r in d if r.get("group")]
        assert {r["group"]: r["note"] for r in rows}[
            "Black or African American"
        ] == "suppressed (small numbers)"


@pytest.mark.parametrize(
    "query, message",
    [
        pytest.param("provider=nonsense", "provider 'nonsense'", id="unknown"),
        pytest.param(
            "provider=%3Cscript%3Ealert(1)%3C/script%3E", "&lt;script&gt;", id="markup-escaped"
        ),
        pytest.param("metric=__import__", "metric '__import__'", id="unknown-metric"),
    ],
)
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


def test_app_writes_the_view_into_the_page_address_and_a_link_reopens_it(app, program, store):
    app.set_view(provider="harbor", dimension="race_ethnicity", grain="quarter", start="2026-09")
    query = app.pagebar.query
    assert query == (
        "provider=harbor&metric=exits_to_permanent_housing&breakdown=race_ethnicity"
        "&grain=quarter&from=2026-09&to=2026-10"
    )
    again = widgets.Explorer([program], [store], chart_mode=app.charts.mode)
    again.apply_query(query + "&token=abc")
    assert again.selection() == app.selection()
    assert again.pagebar.query == query  # (the page drops the token from the address)
    assert "2026-Q3" in again.grain_note.value and again.grain_note.layout.display is None
    assert "Harbor Light Housing" in again.view_title.value


@pytest.mark.parametrize(
    "query, message",
    [
        pytest.param("grain=fortnight", "Known grains: month, quarter", id="unknown-grain"),
        pytest.param("from=1999-01", "month '1999-01'", id="month-without-data"),
        pytest.param("from=2026-10&to=2026-08", "must not be after the last", id="reversed"),
    ],
)
def test_app_bad_view_in_the_address_leaves_the_view_and_says_why(app, query, message):
    before = app.selection()
    app.apply_query(query)
    assert message in app.message.value
    assert app.selection() == before


def test_app_csv_is_built_on_the_download_click_for_the_view_on_screen(app, monkeypatch):
    built = []
    monkeypatch.setattr(explorer, "view_csv", lambda d, s: built.append(s) or "a,b\n")
    app.provider.value = "harbor"
    app.metric.value = app.metric.options[-1][1]
    assert built == []  # updates of the view never build the CSV
    app.metric.value = app.metric.options[0][1]
    sent = []
    monkeypatch.setattr(app.pagebar, "send", sent.append)
    app.pagebar._on_msg(app.pagebar, {"event": "csv"}, [])
    assert [s.provider for s in built] == ["harbor"]
    assert sent == [
        {
            "event": "csv",
            "name": "acm_homeless_demo_harbor_exits_to_permanent_housing_2026-08_2026-10.csv",
            "text": "a,b\n",
        }
    ]


def test_app_csv_download_of_the_view_has_the_csv_columns(app):
    name, text = app.csv_file()
    assert name == "acm_homeless_demo_all_exits_to_permanent_housing_2026-08_2026-10.csv"
    assert text.splitlines()[0] == ",".join(explorer.CSV_COLUMNS)


def test_app_callback_shows_acm_error_message(app, monkeypatch):
    def boom(*a, **k):
        raise AcmError("Provider harbor, 2026-10: something plain went wrong.")

    monkeypatch.setattr(explorer, "tile_records", boom)
    app.provider.value = "harbor"
    assert "something plain went wrong" in app.message.value
    assert app.message.layout.display is None


def test_request_query_outside_voila_reads_environment(monkeypatch):
    from acm_helpers.explorer import serve

    monkeypatch.delenv("VOILA_PREHEAT", raising=False)
    monkeypatch.setenv("QUERY_STRING", "provider=harbor")
    assert serve.request_query() == "provider=harbor"
    monkeypatch.setenv("VOILA_PREHEAT", "False")
    assert serve.request_query() == "provider=harbor"


def test_compose_puts_trend_and_peers_side_by_side_and_the_breakdown_below():
    from acm_helpers.explorer.chartboard import compose

    def spec(name):
        return {
            "$schema": "s",
            "config": {"legend": {"orient": "bottom"}},
            "datasets": {f"d-{name}": [{"x": 1}]},
            "data": {"name": f"d-{name}"},
            "mark": "bar",
        }

    out = compose([[spec("trend"), spec("peers")], [spec("breakdown")]])
    assert set(out["datasets"]) == {"d-trend", "d-peers", "d-breakdown"}
    assert [p["data"]["name"] for p in out["vconcat"][0]["hconcat"]] == ["d-trend", "d-peers"]
    assert out["vconcat"][1]["hconcat"][0]["data"]["name"] == "d-breakdown"
    # each view places its own legend, so the trend's sits right under the trend
    assert out["config"]["legend"]["orient"] == "bottom"
    assert out["resolve"]["legend"] == {"color": "independent"}
    assert all(row["resolve"]["legend"] == {"color": "independent"} for row in out["vconcat"])
    assert all(
        "datasets" not in p and "$schema" not in p for row in out["vconcat"] for p in row["hconcat"]
    )
    assert compose([[spec("trend")], []])["data"]["name"] == "d-trend"
    assert compose([[], []]) is None


def test_unknown_chart_mode_is_a_plain_error(program, store):
    with pytest.raises(ConfigError, match="jupyter, svg"):
        widgets.Explorer([program], [store], chart_mode="canvas")


def test_second_program_is_loaded_on_first_pick_and_offers_its_own_values(
    program, family_program, store, tmp_path
):
    fam = Store(tmp_path / "family")
    fam.write_table(
        "metric_values",
        pd.DataFrame(
            [
                _row("bridges", m, "no_subsequent_involvement", n, 20)
                for m, n in zip(MONTHS, [15, 16, 17], strict=True)
            ]
        ),
    )
    app = widgets.Explorer([program, family_program], [store, fam])
    assert app.program.layout.display is None  # the picker shows with two programs
    assert list(app._data) == ["homeless_demo"]  # the second program's tables are not read yet
    app.program.value = "family_preservation"
    assert [v for _, v in app.provider.options] == [ALL, "bridges"]
    assert app.metric.value == "no_subsequent_involvement"
    app.provider.value = "bridges"
    assert _own_points(app) == pytest.approx(
        {"2026-08": 0.75, "2026-09": 0.80, "2026-10": 0.85}, abs=SVG_ROUNDING
    )
    app.program.value = "homeless_demo"
    assert app.provider.value == ALL and app.metric.value == EPH


def test_missing_metric_values_is_a_plain_message_not_a_crash(program, tmp_path):
    app = widgets.Explorer([program], [Store(tmp_path)])
    assert "no metric_values" in app.message.value and app.message.layout.display is None
    app.prerender()  # what the notebook does next: nothing to do, no exception
    app.apply_query("provider=harbor")
    assert "no metric_values" in app.message.value


# -- acm serve settings ------------------------------------------------------------------------
def test_serve_config_is_locked_down(tmp_path):
    from acm_helpers.explorer import serve

    cfg = serve.voila_config(serve.ServeSettings(port=9999, token="s3cret", pool_size=2))
    assert (cfg.Voila.ip, cfg.Voila.port, cfg.Voila.token) == ("127.0.0.1", 9999, "s3cret")
    assert cfg.VoilaConfiguration.show_tracebacks is False
    assert cfg.VoilaConfiguration.strip_sources is True
    assert cfg.VoilaConfiguration.template == "acm"
    assert cfg.VoilaConfiguration.allow_template_override == "NO"
    assert (
        cfg.VoilaConfiguration.preheat_kernel is True
        and cfg.VoilaConfiguration.default_pool_size == 2
    )
    assert cfg.MappingKernelManager.cull_idle_timeout == 1800  # an open, unused page: 30 min
    assert cfg.BoundedKernelManager.page_timeout == 60  # a closed page: a minute
    assert cfg.AcmVoila.max_kernels == 16
    assert cfg.VoilaExecutor.timeout == 120
    # outputs that lag their cell's reply on a busy server are waited for, not dropped
    # (nbclient's default, 4 s, left the explorer's cell empty: the twenty-staff stall)
    assert cfg.VoilaExecutor.iopub_timeout == 120
    no_preheat = serve.voila_config(serve.ServeSettings(preheat=False))
    assert no_preheat.VoilaConfiguration.preheat_kernel is False


@pytest.mark.parametrize(
    "tags, timeout",
    [
        pytest.param([], 120, id="ordinary-cell"),
        pytest.param(["acm-wait-for-request"], None, id="waits-for-the-browser"),
    ],
)
def test_only_the_request_cell_has_no_timeout(tags, timeout):
    from acm_helpers.explorer import serve

    cfg = serve.voila_config(serve.ServeSettings())
    assert cfg.VoilaExecutor.timeout_func({"metadata": {"tags": tags}}) == timeout


def test_notebook_tags_the_request_cell_and_stays_thin():
    import nbformat

    from acm_helpers.explorer import serve

    nb = nbformat.read(serve.find_notebook(), as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "parameters" in code[0].metadata["tags"]
    waits = [c for c in code if serve.WAIT_TAG in c.metadata.get("tags", [])]
    assert len(waits) == 1 and "request_query" in waits[0].source
    for cell in code:
        assert not re.search(r"^\s*(def|class|try)\b", cell.source, re.M)
        assert len(cell.source.splitlines()) <= 15
        assert not cell.outputs


@pytest.mark.parametrize(
    "kwargs, message",
    [
        pytest.param({"port": 0}, "Port 0", id="port"),
        pytest.param({"host": "127.0.0.1 --ip 0"}, "not a host", id="host-with-spaces"),
        pytest.param({"programs": ()}, "at least one program", id="no-program"),
        pytest.param(
            {"programs": ("a.yaml", "b.yaml"), "data_dir": "d"},
            "single program",
            id="data-dir-with-two",
        ),
    ],
)
def test_serve_settings_refuse_bad_values(kwargs, message):
    from acm_helpers.explorer import serve

    with pytest.raises(ConfigError, match=message):
        serve.ServeSettings(**kwargs)


def test_kernel_env_passes_absolute_program_and_data_paths(program_path, tmp_path):
    import os

    from acm_helpers.core import resources
    from acm_helpers.explorer import serve

    env = serve.kernel_env(
        serve.ServeSettings(programs=(program_path,), data_dir=tmp_path), base={}
    )
    assert env[serve.ENV_PROGRAM] == str(program_path.resolve())
    assert env[serve.ENV_DATA_DIR] == str(tmp_path.resolve())
    shipped = resources.jupyter_data_dir()
    assert env["JUPYTER_PATH"].split(os.pathsep)[0] == str(shipped)
    assert (shipped / "voila" / "templates" / serve.TEMPLATE_NAME / "index.html.j2").exists()


def test_months_slider_reads_month_names_and_keeps_month_ids(program, store):
    app = widgets.Explorer([program], [store])
    assert app.months.label == ("Aug 2026", "Oct 2026")
    assert app.months.value == ("2026-08", "2026-10")


def test_account_line_only_behind_the_hub(program, store):
    alone = widgets.Explorer([program], [store])
    assert alone.account.value == ""
    behind = widgets.Explorer([program], [store], account=("a<b", "/hub/logout"))
    assert "Signed in as <b>a&lt;b</b>" in behind.account.value
    assert '<a href="/hub/logout">Log out</a>' in behind.account.value


def test_rows_bind_values_as_parameters_never_as_sql(data):
    """A value is data, whatever it holds: a quote or SQL finds no row and runs nothing."""
    for evil in ["harbor' OR '1'='1", 'harbor"; DROP VIEW metric_values; --']:
        assert data.rows("metric_values", provider_id=evil).empty
    assert len(data.rows("metric_values", provider_id="harbor", dimension="")) > 0
    with pytest.raises(StoreError, match="no column"):  # names come from the module only
        data.rows("metric_values", **{"provider_id = provider_id OR 1": "x"})


def test_rows_are_read_once_per_view_and_come_back_tidied(data):
    first = data.rows("metric_values", provider_id="harbor", period="2026-10", dimension="")
    assert data.rows("metric_values", provider_id="harbor", period="2026-10", dimension="") is first
    assert set(first["provider_label"]) == {"Harbor Light Housing"}  # staff view: names
    hidden = data.rows("metric_values", suppressed=True)
    assert len(hidden) > 0 and hidden["value"].isna().all()  # suppressed cells stay nulled


def test_board_records_equal_altairs_on_every_pane(program, store):
    """The chart board's quick data transformer gives altair's own values, chart for chart."""
    import itertools
    import json

    import altair as alt
    import numpy as np

    from acm_helpers.explorer.chartboard import TRANSFORMER, to_records

    app = widgets.Explorer([program], [store], chart_mode="jupyter")
    ok, sel = app._allowed, app.selection()
    made = [
        build()
        for p, d, g in itertools.product(ok.providers, ok.dimensions, ok.grains)
        for _, (_, build) in app._views(
            app.data, explorer.Selection(p, sel.metric, sel.start, sel.end, d, g)
        ).items()
    ]
    made = [c for c in made if not isinstance(c, str)]
    assert made
    with alt.theme.enable(charts.THEME):
        want = [json.dumps(c.to_dict(validate=False), sort_keys=True) for c in made]
        with alt.data_transformers.enable(TRANSFORMER):
            got = [json.dumps(c.to_dict(validate=False), sort_keys=True) for c in made]
    assert got == want
    frame = pd.DataFrame(
        {
            "x": [1.5, np.nan, np.inf],
            "n": [1, 2, 3],
            "b": [True, False, True],
            "t": ["a", None, "c"],
        }
    )
    assert to_records(frame) == alt.utils.data.to_values(frame)
    dates = pd.DataFrame({"d": pd.to_datetime(["2026-10-01", None])})  # altair's own path
    assert to_records(dates) == alt.utils.data.to_values(dates)
