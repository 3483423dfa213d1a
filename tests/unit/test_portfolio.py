"""The period index as a portfolio: a provider-by-status grid counted from the store (signals,
action items, the quality report), sortable in the page, with the build log folded away."""

from __future__ import annotations

import re
from datetime import date

import pandas as pd
import pytest

from acm_helpers.batch import portfolio
from acm_helpers.batch.manifest import Manifest, finished_text, write_index
from acm_helpers.meetings import actions


def test_signals_match_the_engines_month_cells(program, demo_store):
    status = portfolio.portfolio_status(program, demo_store, "2026-10")
    assert sorted(status["provider_id"]) == sorted(program.provider_ids)
    assert status.attrs["program_name"] == program.name
    values = demo_store.query(
        "SELECT provider_id, spc_signal, spc_assurance FROM metric_values "
        "WHERE grain = 'month' AND period = '2026-10' AND dimension = ''"
    )
    for row in status.itertuples():
        own = values[values["provider_id"] == row.provider_id]
        assert row.concerns == (own["spc_signal"] == "concern").sum()
        assert row.improvements == (own["spc_signal"] == "improvement").sum()
        assert row.failing == (own["spc_assurance"] == "consistent_fail").sum()
        assert row.hit_and_miss == (own["spc_assurance"] == "inconsistent").sum()
        assert row.concern_metrics.count(",") == max(row.concerns - 1, 0)
    mine = values[values["provider_id"].isin(program.provider_ids)]
    signals = mine["spc_signal"].isin(["concern", "improvement"]).sum()
    assert (status["concerns"] + status["improvements"]).sum() == signals
    # most in need of attention first
    keys = list(zip(-status["concerns"], -status["overdue"], -status["file_problems"], strict=True))
    assert keys == sorted(keys)


def test_one_query_gives_each_providers_quality_report(program, demo_store):
    """The grid's single read of the month's quality report is each provider's own report."""
    from acm_helpers.store.quality import quality_summaries, quality_summary

    reports = quality_summaries(demo_store, [*program.provider_ids, "nobody"], "2026-10")
    for pid in program.provider_ids:
        pd.testing.assert_frame_equal(reports[pid], quality_summary(demo_store, pid, "2026-10"))
    assert reports["nobody"].empty
    assert list(reports["nobody"].columns) == list(reports[program.provider_ids[0]].columns)


def test_overdue_items_counted_at_the_periods_meeting(program, demo_store, monkeypatch):
    items = actions.items_frame(
        pd.DataFrame(
            {
                "item_id": ["rainier-001", "rainier-002", "rainier-003"],
                "provider_id": ["rainier"] * 3,
                "meeting_date": [date(2026, 6, 15), date(2026, 9, 15), date(2026, 5, 15)],
                "owner": ["x"] * 3,
                "due_date": [date(2026, 8, 31), date(2026, 12, 31), date(2026, 6, 1)],
                "status": ["open", "open", "closed"],
                "metric_id": [""] * 3,
                "text": ["t"] * 3,
                "closed_date": [None, None, date(2026, 6, 1)],
                "resolution": [""] * 3,
            }
        )
    )
    monkeypatch.setattr(actions, "read_actions", lambda store: items)
    status = portfolio.portfolio_status(program, demo_store, "2026-10").set_index("provider_id")
    assert status.loc["rainier", "overdue"] == 1 and status.loc["rainier", "open_items"] == 2
    assert status.loc["harbor", "overdue"] == 0


@pytest.mark.parametrize(
    ("row", "fields", "count", "note"),
    [
        pytest.param(None, None, 1, "no file received", id="missing"),
        pytest.param(
            {"rows_total": 390, "days_late": 23.0, "rejected": 3},
            pd.Series({"race_ethnicity": 0.68, "zip": 0.64, "gender": 1.0}),
            3,
            "23 days late; filled in: ZIP code 64%, race and ethnicity 68%; 3 rows rejected",
            id="late-incomplete-rejected",
        ),
        pytest.param(
            {"rows_total": 10, "days_late": 0.0, "rejected": 0},
            pd.Series({"zip": 0.99}),
            0,
            "on time, complete",
            id="clean",
        ),
        pytest.param(
            {"rows_total": 10, "days_late": 1.0, "rejected": 1},
            None,
            2,
            "1 day late; 1 row rejected",
            id="singular",
        ),
    ],
)
def test_file_problems(row, fields, count, note):
    assert portfolio._file_problems(pd.Series(row) if row else None, fields) == (count, note)


STATUS = pd.DataFrame(
    [
        {
            "provider_id": "harbor",
            "provider": "Harbor Light Housing",
            "concerns": 0,
            "concern_metrics": "",
            "improvements": 1,
            "improvement_metrics": "Exits to permanent housing",
            "overdue": 0,
            "open_items": 0,
            "file_problems": 0,
            "file_note": "on time, complete",
            "passing": 2,
            "failing": 0,
            "hit_and_miss": 3,
        },
        {
            "provider_id": "rainier",
            "provider": "Rainier <Valley>",
            "concerns": 2,
            "concern_metrics": "Clients served, Returns within 12 months",
            "improvements": 0,
            "improvement_metrics": "",
            "overdue": 1,
            "open_items": 2,
            "file_problems": 1,
            "file_note": "23 days late",
            "passing": 0,
            "failing": 1,
            "hit_and_miss": 0,
        },
    ]
)


def test_grid_links_each_packet_sorts_by_keys_and_escapes_names():
    files = {"harbor": {"html": "harbor/packet.html", "pdf": "harbor/packet.pdf"}}
    html = portfolio.grid_html(portfolio.attention_order(STATUS), files, "2026-10")
    rows = re.findall(r"<tr>(.*?)</tr>", html.split("<tbody>")[1])
    assert "Rainier &lt;Valley&gt;" in rows[0] and "Harbor Light Housing" in rows[1]
    assert 'href="harbor/packet.html"' in rows[1] and 'href="harbor/packet.pdf"' in rows[1]
    assert "not produced" in rows[0]  # rainier's packet failed or was not run
    # every sortable heading has a key in every row, numbers as numbers
    assert html.count('data-kind="num"') == 5 and html.count('data-kind="text"') == 1
    assert re.findall(r'data-sort="([^"]*)"', rows[0])[:6] == [
        "Rainier &lt;Valley&gt;",
        "2",
        "0",
        "1",
        "1",
        "100",
    ]
    assert "2 of open" not in rows[0] and "of 2 open" in rows[0]
    assert "1 failing" in rows[0] and "3 hit and miss, 2 passing" in rows[1]
    assert "<script>" in html and "src=" not in html  # sorting is inline, nothing fetched


def test_index_shows_the_grid_and_folds_the_build_log(tmp_path):
    m = Manifest(
        program="demo",
        period="2026-10",
        audience="provider",
        started="2026-12-02T01:40:00+00:00",
        finished="2026-12-02T01:46:04+00:00",
        seconds=75.4,
        packets=[
            {
                "key": "harbor",
                "status": "ok",
                "files": {"html": "harbor/packet.html"},
                "timings": {"total": 12.34},
            },
            {
                "key": "rainier",
                "status": "failed",
                "files": {},
                "timings": {"total": 3.0},
                "error": {"message": "boom"},
            },
            {
                "key": "_system",
                "status": "ok",
                "files": {"html": "_system/packet.html"},
                "timings": {"total": 65.0},
            },
        ],
    )
    page = write_index(m, tmp_path, STATUS).read_text()
    grid, log = page.split('<details class="acm-log">')
    assert '<table class="acm-grid">' in grid and "Seconds" not in page
    assert "<summary>Build log: 2 of 3 packets produced" in log and "1 failed: rainier" in log
    assert "12 s" in log and "1 min 5 s" in log and "boom" in log
    assert "2 December 2026 at 01:46 UTC" in page and "T01:46" not in page
    assert 'href="_system/packet.html"' in grid  # the system packet, linked above the log
    assert "Packets for October 2026" in page
    # without a status the index is the build log alone, as before
    bare = write_index(m, tmp_path, None).read_text()
    assert '<table class="acm-grid">' not in bare and "1 failed: rainier" in bare


@pytest.mark.parametrize(
    ("secs", "shown"), [(0.4, "0 s"), (12.3, "12 s"), (75, "1 min 15 s"), (3725, "1 h 2 min")]
)
def test_duration(secs, shown):
    assert portfolio.duration(secs) == shown


def test_finished_text_tolerates_a_missing_time():
    assert (
        finished_text("") == "–"
        and finished_text("2026-01-05T09:03:00+00:00") == "5 January 2026 at 09:03 UTC"
    )
