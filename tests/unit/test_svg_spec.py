"""The faster spec for SVG is altair's own spec: same rows, same datasets, same errors."""

from __future__ import annotations

import json

import altair as alt
import numpy as np
import pandas as pd
import pytest
from altair.utils import data as alt_data

from acm_helpers.views import charts, svg_spec

PLAIN = pd.DataFrame(
    {
        "period": ["2026-08", "2026-09", None],
        "value": [0.4, np.nan, np.inf],
        "n": [1, 2, 3],
        "is_self": [True, False, True],
        "note": ["a", None, np.nan],
        "mixed": [1.5, "x", None],
    }
)


def _altair_values(frame: pd.DataFrame) -> list[dict]:
    return alt_data.to_values(frame)["values"]


def test_plain_frames_give_altairs_rows_with_python_values():
    rows = svg_spec.records(PLAIN)
    assert rows == _altair_values(PLAIN)
    assert json.dumps(rows) == json.dumps(_altair_values(PLAIN))  # the dataset's name hashes this
    assert [type(v) for v in rows[0].values()] == [
        type(v) for v in _altair_values(PLAIN)[0].values()
    ]


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param(pd.DataFrame({"g": pd.Categorical(["a", None])}), id="category"),
        pytest.param(pd.DataFrame({"d": pd.to_datetime(["2026-10-01", None])}), id="datetime"),
        pytest.param(pd.DataFrame({"n": pd.array([1, None], dtype="Int64")}), id="nullable-int"),
        pytest.param(pd.DataFrame({"a": [np.arange(2), np.arange(3)]}), id="arrays-in-objects"),
        pytest.param(
            pd.DataFrame({"n": pd.Series([np.int64(1), "x"], dtype=object)}), id="numpy-scalars"
        ),
        pytest.param(pd.DataFrame([[1, 2]]), id="range-index-columns"),
    ],
)
def test_other_frames_are_left_to_altair(frame):
    assert svg_spec.records(frame) is None
    assert svg_spec._to_values(frame, 5000) == alt_data.to_values(frame)


def test_the_row_limit_still_applies():
    with pytest.raises(alt.MaxRowsError):
        svg_spec._to_values(pd.DataFrame({"x": range(5001)}), 5000)


def _charts() -> list:
    trend = pd.DataFrame(
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
    peers = pd.DataFrame(
        {
            "provider": ["A", "B", "C"],
            "value": [0.5, None, 0.3],
            "ci_low": [0.4, None, 0.2],
            "ci_high": [0.6, None, 0.4],
            "is_self": [True, False, False],
        }
    )
    n = charts.PEER_BARS + 2
    many = pd.DataFrame(
        {
            "provider": [f"P{i}" for i in range(n)],
            "value": [None] + [i / n for i in range(1, n)],
            "ci_low": [None] + [i / n - 0.01 for i in range(1, n)],
            "ci_high": [None] + [i / n + 0.01 for i in range(1, n)],
            "is_self": [i == 3 for i in range(n)],
        }
    )
    return [
        charts.trend_chart(trend, title="Exits", fmt="percent", target=0.45),
        charts.peer_chart(peers, title="Exits", fmt="percent", target=0.45),
        charts.peer_chart(many, title="Exits", fmt="percent", target=0.45),  # the strip
    ]


@pytest.mark.parametrize("transformer", ["default", "json"])
def test_the_spec_is_altairs_spec(transformer, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the json transformer writes its files here
    with alt.data_transformers.enable(transformer):
        for chart in _charts():
            with alt.theme.enable(charts.THEME):
                want = chart.to_dict(validate=False)
            assert svg_spec.spec(chart, charts.THEME) == want
    assert alt.data_transformers.active == "default"
