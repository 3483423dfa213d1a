"""Weekly and biweekly periods across the engine: calendar names, the program file's anchor, and a
14-day window's values worked out by hand (issue 19)."""

from __future__ import annotations

from datetime import date

import pytest
from metrics_kit import cell, ep, episodes, make_program

from acm_helpers.core import calendar, text
from acm_helpers.core.errors import ConfigError, UnknownIdError
from acm_helpers.metrics import engine as metrics
from acm_helpers.metrics.periods import periods_table

# biweekly meetings from Monday 2025-01-06; 2026-03-02..2026-03-15 is the period "2026-W10-11"
BIWEEKLY = {
    "meetings": {
        "cadence": "biweekly",
        "anchor": "2025-01-06",
    }
}


@pytest.mark.parametrize(
    ("label", "first", "last", "name"),
    [
        pytest.param(
            "2026-W10-11",
            date(2026, 3, 2),
            date(2026, 3, 15),
            "weeks 10–11, 2–15 Mar 2026",
            id="biweek",
        ),
        pytest.param(
            "2026-W41", date(2026, 10, 5), date(2026, 10, 11), "week 41, 5–11 Oct 2026", id="week"
        ),
        pytest.param(
            "2026-W53-01",
            date(2026, 12, 28),
            date(2027, 1, 10),
            "weeks 53–1, 28 Dec 2026–10 Jan 2027",
            id="year-end",
        ),
    ],
)
def test_week_names_and_bounds(label, first, last, name):
    assert calendar.bounds_of(label) == (first, last)
    assert text.period(label) == name
    grain = calendar.grain_of(label)
    assert calendar.previous_label(calendar.previous_label(label, grain), grain) != label
    step = 7 if grain == "week" else 14
    assert (
        calendar.bounds_of(calendar.previous_label(label, grain))[0].toordinal()
        == first.toordinal() - step
    )


def test_anchor_rules():
    with pytest.raises(Exception, match="needs meetings.anchor"):
        make_program(meetings={"cadence": "biweekly"})
    with pytest.raises(Exception, match="must be a Monday"):
        make_program(meetings={"cadence": "biweekly", "anchor": "2025-01-07"})
    prog = make_program(**BIWEEKLY)
    assert prog.extra_grains() == ("biweek",)
    periods = prog.meeting_periods("biweekly")
    # whole fortnights inside 2025-01..2026-03, 14 days apart from the anchor
    assert periods[0] == "2025-W02-03" and periods[-1] == "2026-W12-13"
    assert len(periods) == (date(2026, 3, 29) - date(2025, 1, 6)).days // 14 + 1
    assert prog.check_meeting_period("2026-W10-11", "biweekly") == "2026-W10-11"
    with pytest.raises(ConfigError, match="write it like 2026-W41-42"):
        prog.check_meeting_period("2026-03", "biweekly")
    with pytest.raises(UnknownIdError):
        prog.check_meeting_period("2026-W11-12", "biweekly")  # not 14·k days from the anchor


def test_monthly_programs_get_no_week_windows():
    table = periods_table(make_program(), ["2026-01"])
    assert not table["grain"].isin(["week", "biweek"]).any()


def test_biweek_trailing_window_ends_before_the_fortnight():
    table = periods_table(make_program(**BIWEEKLY))
    row = table[(table["grain"] == "biweek") & (table["period"] == "2026-W10-11")].iloc[0]
    assert (row["start"], row["end"]) == (date(2026, 3, 2), date(2026, 3, 15))
    assert row["end_month"] == "2026-02"  # its trailing 12 months never read 16-31 March


@pytest.fixture(scope="module")
def fortnight():
    """Provider a in and around 2026-W10-11 (2-15 March 2026):

    - 1 March (day before): 1 leaver, permanent (outside the window);
    - 2 March (first day): 2 leavers, permanent, stays of 10 days;
    - 9 March: 1 leaver, temporary, stay 30 days;
    - 15 March (last day): 1 leaver, permanent, stay 20 days;
    - 16 March (day after): 3 leavers, temporary (outside).
    The previous fortnight (16 Feb - 1 Mar): the 1 March leaver plus 3 temporary on 20 Feb.
    Provider b in the window: 2 leavers on 10 March, 1 permanent.
    """
    eps = episodes(
        ep("a", "2026-03-01"),
        ep("a", "2026-02-20", dest="temporary", n=3),
        ep("a", "2026-03-02", los=10, n=2),
        ep("a", "2026-03-09", dest="temporary", los=30),
        ep("a", "2026-03-15", los=20),
        ep("a", "2026-03-16", dest="temporary", n=3),
        ep("b", "2026-03-10"),
        ep("b", "2026-03-10", dest="temporary"),
    )
    prog = make_program(metrics=["exits", "leavers", "stay_median", "stay_mean"], **BIWEEKLY)
    return metrics.compute(prog, eps, periods=["2026-02", "2026-03"])


def test_fortnight_values_by_hand(fortnight):
    exits = cell(fortnight, "exits", "a", "2026-W10-11")
    assert exits["grain"] == "biweek"
    # 2 (2 Mar) + 1 (15 Mar) permanent of 4 leavers; both edge days in, 1 and 16 March out
    assert (exits["numerator"], exits["denominator"]) == (3, 4)
    assert exits["value"] == pytest.approx(0.75)
    assert exits["math"] == "3 exits to permanent housing / 4 leavers = 75%"
    # previous fortnight 2026-W08-09: 1 permanent of 4 leavers
    assert exits["previous_value"] == pytest.approx(0.25)
    assert cell(fortnight, "leavers", "a", "2026-W10-11")["value"] == 4
    # stays 10, 10, 30, 20: median 15, mean 17.5
    assert cell(fortnight, "stay_median", "a", "2026-W10-11")["value"] == pytest.approx(15)
    assert cell(fortnight, "stay_mean", "a", "2026-W10-11")["value"] == pytest.approx(17.5)
    # all providers: a's 3/4 plus b's 1/2 = 4/6; b ranks below a (higher is better)
    total = cell(fortnight, "exits", "__all__", "2026-W10-11")
    assert (total["numerator"], total["denominator"]) == (4, 6)
    assert cell(fortnight, "exits", "a", "2026-W10-11")["peer_rank"] == 1
    assert cell(fortnight, "exits", "b", "2026-W10-11")["peer_rank"] == 2
    assert cell(fortnight, "exits", "a", "2026-W10-11")["peer_median"] == pytest.approx(0.625)


def test_fortnight_trailing_benchmark_is_months_before(fortnight):
    row = cell(fortnight, "exits", "a", "2026-W10-11")
    # the 12 months to February 2026 (the last month ended by 15 March): a's only leavers are
    # the three temporary exits of 20 February, so 0 of 3; were March read, the window's 3
    # permanent exits would show
    assert row["trailing_12m"] == pytest.approx(0.0)
    assert cell(fortnight, "exits", "a", "2026-03")["trailing_12m"] > 0


def test_a_new_cadence_recomputes_the_metric_table(tmp_path):
    """Adding a biweekly meeting type (or moving its anchor) changes the windows the engine
    evaluates, so the stored table's version changes; a monthly program's version does not
    depend on its meeting types."""
    from acm_helpers.store.store import Store

    store = Store(tmp_path)
    from acm_helpers.intake import intake

    prog = make_program(metrics=["exits"])
    intake.load_canonical(store, prog, episodes(ep("a", "2026-03-02")))
    monthly = metrics.input_version(prog, store)
    quarterly = make_program(metrics=["exits"], meetings={"cadence": "quarterly"})
    assert metrics.input_version(quarterly, store) == monthly
    biweekly = make_program(metrics=["exits"], **BIWEEKLY)
    moved = make_program(
        metrics=["exits"], meetings={"cadence": "biweekly", "anchor": "2025-01-13"}
    )
    assert (
        len({monthly, metrics.input_version(biweekly, store), metrics.input_version(moved, store)})
        == 3
    )
