"""Deep-dive topics, the window evaluator behind them and the roadmap, on small inline frames
with hand-computed expectations (demo program config, tiny episode sets)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from metrics_kit import with_mean

from acm_helpers.core.errors import ConfigError, MetricError, UnknownIdError
from acm_helpers.core.schema import ALL
from acm_helpers.intake.derive import derive_episodes
from acm_helpers.meetings import deepdive, roadmap
from acm_helpers.meetings.context import peer_labels
from acm_helpers.metrics import windows as em

PERIOD = "2026-10"  # 12-month window: 2025-11-01 .. 2026-10-31


def make_episodes(spec: list[tuple]) -> pd.DataFrame:
    """spec rows: (provider, count, race, enrolled, exited, destination_class, referred)."""
    rows, n = [], 0
    for provider, count, race, enrolled, exited, dest, referred in spec:
        for _ in range(count):
            n += 1
            rows.append(
                {
                    "episode_id": f"E{n:04d}",
                    "client_id": f"C{n:04d}",
                    "provider_id": provider,
                    "program": "x",
                    "enrollment_date": enrolled,
                    "referral_date": referred,
                    "exit_date": exited,
                    "destination_class": dest,
                    "race_ethnicity": race,
                    "age_at_entry": 30,
                    "household_id": f"H{n:04d}",
                }
            )
    frame = pd.DataFrame(rows)
    for col in ("enrollment_date", "referral_date", "exit_date"):
        frame[col] = pd.to_datetime(frame[col])
    return derive_episodes(frame, as_of=pd.Timestamp("2026-10-31").date())


def ctx_for(program, spec, provider="harbor", audience="internal"):
    return deepdive.make_context(program, make_episodes(spec), provider, PERIOD, audience)


# -- the evaluator --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "bins, labels",
    [
        pytest.param([0, 18, 25], ["0-17", "18-24", "25+"], id="age"),
        pytest.param([0, 1, 3], ["0", "1-2", "3+"], id="single-year"),
    ],
)
def test_band_labels(bins, labels):
    assert em.band_labels(bins) == labels


def test_metric_rows_are_the_engines_population(program):
    """The case sampler's rows: one per population episode and window, contributing as the
    engine counts them (a rate's numerator 1.0 / 0.0)."""
    eps = make_episodes(
        [
            ("harbor", 3, "White", "2026-01-01", "2026-03-10", "permanent", None),
            ("harbor", 1, "White", "2026-01-01", "2026-03-20", "temporary", None),
            ("harbor", 2, "White", "2026-01-01", "2026-04-05", "temporary", None),
        ]
    )
    m = program.metric("exits_to_permanent_housing")
    rows = em.metric_rows(eps, m, em.month_windows("2026-03", "2026-04"))
    assert rows.groupby("window")["_num"].agg(["sum", "size"]).to_dict("index") == {
        "2026-03": {"sum": 3.0, "size": 4},
        "2026-04": {"sum": 0.0, "size": 2},
    }


# -- (1) disparity ---------------------------------------------------------------------------------
DISPARITY = [
    ("harbor", 15, "White", "2026-01-01", "2026-05-01", "permanent", None),
    ("harbor", 5, "White", "2026-01-01", "2026-05-01", "temporary", None),
    ("harbor", 5, "Black or African American", "2026-01-01", "2026-05-01", "permanent", None),
    ("harbor", 15, "Black or African American", "2026-01-01", "2026-05-01", "temporary", None),
    ("harbor", 6, "Hispanic or Latina/e/o", "2026-01-01", "2026-05-01", "permanent", None),
    ("harbor", 6, "Hispanic or Latina/e/o", "2026-01-01", "2026-05-01", "temporary", None),
    ("harbor", 4, "Asian or Asian American", "2026-01-01", "2026-05-01", "permanent", None),
    # a year earlier: White 10/20, Black 8/20 (gap -10 points)
    ("harbor", 10, "White", "2025-01-01", "2025-05-01", "permanent", None),
    ("harbor", 10, "White", "2025-01-01", "2025-05-01", "temporary", None),
    ("harbor", 8, "Black or African American", "2025-01-01", "2025-05-01", "permanent", None),
    ("harbor", 12, "Black or African American", "2025-01-01", "2025-05-01", "temporary", None),
]


def test_disparity_internal_flags_the_gap(program):
    r = deepdive.disparity(
        ctx_for(program, DISPARITY), "exits_to_permanent_housing", "race_ethnicity"
    )
    recent = r.data[r.data["window"] == "recent"].set_index("group")
    assert recent.loc["White", "value"] == 0.75
    assert recent.loc["Black or African American", "value"] == 0.25
    assert recent.loc["Black or African American", "difference"] == pytest.approx(-0.5)
    assert bool(recent.loc["Black or African American", "flagged"])
    assert not bool(recent.loc["Hispanic or Latina/e/o", "flagged"])  # 50% vs 75%, n=12: CI spans 0
    assert not recent["suppressed"].any()  # internal: small groups shown
    text = " ".join(r.findings)
    assert (
        "Black or African American was 25% (n=20) against 75% for White (n=20): 50 points lower"
        in text
    )
    # -10 then -50 points on 20 + 20 clients a window: the change's interval reaches below zero
    assert (
        "A year earlier it was 10 points lower; the data cannot tell whether the gap changed "
        "(change in the gap's size: -1.1 to +75.2 points, 95% interval)." in text
    )
    assert "has widened" not in text and "has narrowed" not in text


def test_disparity_provider_audience_suppresses(program):
    r = deepdive.disparity(
        ctx_for(program, DISPARITY, audience="provider"),
        "exits_to_permanent_housing",
        "race_ethnicity",
    )
    recent = r.data[r.data["window"] == "recent"].set_index("group")
    # Asian (4) is under 11; Hispanic (12) is the complement; White and Black stay.
    assert recent["suppressed"].to_dict() == {
        "Asian or Asian American": True,
        "Black or African American": False,
        "Hispanic or Latina/e/o": True,
        "White": False,
    }
    assert recent.loc["Asian or Asian American", ["value", "denominator"]].isna().all()
    assert "numerator" not in r.data.columns
    assert "suppressed" in r.table.set_index("Group").loc["Asian or Asian American", "Cases"]


def test_disparity_falls_back_to_largest_group(program):
    spec = [
        ("harbor", 12, "Black or African American", "2026-01-01", "2026-05-01", "permanent", None),
        ("harbor", 3, "White", "2026-01-01", "2026-05-01", "permanent", None),
    ]
    r = deepdive.disparity(ctx_for(program, spec), "exits_to_permanent_housing", "race_ethnicity")
    assert "so the largest group (Black or African American) is the reference" in r.findings[0]


# -- (2) duration vs outcome -------------------------------------------------------------------------
def test_duration_outcome_split_and_caution(program):
    spec = [
        ("harbor", 9, "White", "2026-01-01", "2026-06-01", "permanent", None),  # 151 days
        ("harbor", 3, "White", "2026-01-01", "2026-06-01", "temporary", None),
        ("harbor", 3, "White", "2026-05-01", "2026-06-01", "permanent", None),  # 31 days
        ("harbor", 9, "White", "2026-05-01", "2026-06-01", "temporary", None),
        ("puget", 12, "White", "2026-05-01", "2026-06-01", "temporary", None),
    ]
    r = deepdive.duration_outcome(ctx_for(program, spec), "exits_to_permanent_housing", 3)
    own = r.data[r.data["scope"] == "provider"].set_index("group")
    assert own.loc["3+ months", "value"] == 0.75
    assert own.loc["under 3 months", "value"] == 0.25
    both = r.data[r.data["scope"] == "all providers"].set_index("group")
    assert both.loc["under 3 months", "value"] == pytest.approx(3 / 24)
    assert "Selection" in r.caution and "association, not the effect" in r.caution
    assert "a difference of +50 points" in r.findings[0]


def test_duration_outcome_needs_a_rate(program):
    with pytest.raises(MetricError, match="needs a rate metric"):
        deepdive.duration_outcome(ctx_for(program, DISPARITY), "median_length_of_stay")


@pytest.mark.parametrize(
    "cutoff, labels",
    [
        pytest.param(
            3, ["under 1 month", "1-3 months", "3-6 months", "6-12 months", "12+ months"], id="3"
        ),
        pytest.param(
            2,
            [
                "under 1 month",
                "1-2 months",
                "2-3 months",
                "3-6 months",
                "6-12 months",
                "12+ months",
            ],
            id="2-adds-an-edge",
        ),
    ],
)
def test_duration_bands_include_the_cutoff(cutoff, labels):
    assert deepdive.duration_bands(cutoff)[1] == labels


# -- (3) referral funnel -------------------------------------------------------------------------------
def test_referral_funnel_counts(program):
    spec = [
        ("harbor", 10, "White", "2026-03-10", "2026-05-01", "permanent", "2026-03-01"),  # 9 days
        ("harbor", 5, "White", "2026-03-30", None, None, "2026-03-01"),  # 29 days
        ("harbor", 5, "White", "2026-03-30", "2026-06-01", "temporary", None),
    ]
    r = deepdive.referral_funnel(ctx_for(program, spec))
    stages = r.data[r.data["scope"] == "funnel"].set_index("group")["denominator"].to_dict()
    assert stages == {
        "Enrolled": 20,
        "With a referral date": 15,
        "Enrolled within 14 days of referral": 10,
        "Left by 2026-10-31": 15,
        "Left to a permanent destination": 10,
    }
    waits = r.data[r.data["scope"] == "wait"].set_index("group")["denominator"].to_dict()
    assert waits["8-14 days"] == 10 and waits["15-30 days"] == 5
    assert "75% have a referral date recorded" in r.findings[0]


# -- (4) cohort trend ------------------------------------------------------------------------------------
def test_cohort_trend_before_after_and_peers(program):
    spec = [
        ("harbor", 6, "White", "2025-01-01", "2025-06-01", "permanent", None),
        ("harbor", 14, "White", "2025-01-01", "2025-06-01", "temporary", None),
        ("harbor", 12, "White", "2026-01-01", "2026-06-01", "permanent", None),
        ("harbor", 8, "White", "2026-01-01", "2026-06-01", "temporary", None),
        ("puget", 10, "White", "2025-01-01", "2025-06-01", "permanent", None),
        ("puget", 10, "White", "2026-01-01", "2026-06-01", "permanent", None),
        ("puget", 10, "White", "2026-01-01", "2026-06-01", "temporary", None),
    ]
    r = deepdive.cohort_trend(ctx_for(program, spec), "exits_to_permanent_housing", "2025-12")
    own = r.data[r.data["who"] == "Harbor Light Housing"].set_index("window")["value"].to_dict()
    assert own == {"before": 0.3, "after": 0.6}
    assert r.data.attrs["difference"] == pytest.approx(0.3)
    peers = r.data[r.data["who"].str.startswith("Peers")].set_index("window")["value"].to_dict()
    assert peers == {"before": 1.0, "after": 0.5}
    assert r.findings[0].startswith(
        "Harbor Light Housing went from 30% (n=20) before Dec 2025 to 60% (n=20)"
    )


def test_cohort_trend_needs_a_valid_change_month(program):
    ctx = ctx_for(program, DISPARITY)
    with pytest.raises(ConfigError, match="must fall after 2024-11"):
        deepdive.cohort_trend(ctx, "exits_to_permanent_housing", "2024-11")


# -- (5) peers ---------------------------------------------------------------------------------------------
def test_peer_comparison_ranks_and_anonymizes(program):
    spec = [
        ("harbor", 18, "White", "2026-01-01", "2026-05-01", "permanent", None),
        ("harbor", 12, "White", "2026-01-01", "2026-05-01", "temporary", None),  # 60%, n=30
        ("elliott", 20, "White", "2026-01-01", "2026-05-01", "permanent", None),
        ("elliott", 5, "White", "2026-01-01", "2026-05-01", "temporary", None),  # 80%, n=25
        ("puget", 6, "White", "2026-01-01", "2026-05-01", "permanent", None),
        ("puget", 18, "White", "2026-01-01", "2026-05-01", "temporary", None),  # 25%, n=24
        ("northgate", 5, "White", "2026-01-01", "2026-05-01", "permanent", None),
    ]  # n=5
    internal = deepdive.peer_comparison(ctx_for(program, spec), "exits_to_permanent_housing")
    assert internal.table["Provider"].tolist()[:3] == [
        "Elliott Bay Rapid Rehousing",
        "Harbor Light Housing",
        "Puget Sound Outreach Partners",
    ]
    assert internal.findings[0].startswith("Harbor Light Housing ranks 2 of 3")
    outside = deepdive.peer_comparison(
        ctx_for(program, spec, audience="provider"), "exits_to_permanent_housing"
    )
    from acm_helpers.metrics.privacy import peer_labels

    labels = peer_labels(program, "harbor")  # the same anonymous labels as the packets use
    assert outside.table["Provider"].tolist()[:2] == [labels["elliott"], "Harbor Light Housing"]
    shown = " ".join(outside.table["Provider"])
    assert "Elliott" not in shown and "Puget" not in shown and "Northgate" not in shown
    # northgate (n=5) is suppressed, and so is the next smallest, puget (complementary)
    hidden = outside.data[outside.data["suppressed"]]["provider"].tolist()
    assert sorted(hidden) == sorted([labels["northgate"], labels["puget"]])
    assert "provider_id" not in outside.data.columns


# -- dispatch and rendering ---------------------------------------------------------------------------------
def test_run_validates_topic_and_choices(program):
    ctx = ctx_for(program, DISPARITY)
    with pytest.raises(UnknownIdError, match="Unknown topic 'gossip'"):
        deepdive.run(ctx, "gossip")
    with pytest.raises(UnknownIdError, match="window"):
        deepdive.run(ctx, "disparity", months=7)
    with pytest.raises(UnknownIdError, match="Unknown dimension 'shoe_size'"):
        deepdive.run(ctx, "disparity", dimension="shoe_size")


def test_run_defaults_to_the_roadmap(program):
    r = deepdive.run(ctx_for(program, DISPARITY))  # 2026-10 is a disparity month by race
    assert r.topic == "disparity"
    assert r.question == "Has the disparity found in December narrowed?"


def test_html_is_self_contained(program):
    page = deepdive.run(ctx_for(program, DISPARITY), "disparity").to_html()
    assert (
        "<svg" in page
        and "<script" not in page
        and "http://" not in page.replace("http://www.w3.org", "")
    )


# -- roadmap -------------------------------------------------------------------------------------------------
def test_roadmap_table_statuses(program):
    t = roadmap.roadmap_table(program, "2026-01").set_index("month")["status"]
    assert (t["2025-11"], t["2025-12"], t["2026-01"], t["2026-02"]) == (
        "covered",
        "covered",
        "this month",
        "planned",
    )
    assert roadmap.topic_of_month(program, "2025-12").topic == "disparity"
    assert roadmap.topic_of_month(program, "2025-01") is None


def test_roadmap_review_before_after(program):
    # Topic of 2025-12 (exits to PH): before = Jul..Dec 2025 (2/10), after = Jan..Jan 2026 (8/10)
    spec = [
        ("harbor", 2, "White", "2025-07-01", "2025-09-01", "permanent", None),
        ("harbor", 8, "White", "2025-07-01", "2025-09-01", "temporary", None),
        ("harbor", 8, "White", "2025-12-01", "2026-01-20", "permanent", None),
        ("harbor", 2, "White", "2025-12-01", "2026-01-20", "temporary", None),
    ]
    ctx = deepdive.make_context(program, make_episodes(spec), "harbor", "2026-01")
    review = roadmap.roadmap_review(ctx).set_index("month")
    row = review.loc["2025-12"]
    assert (row["before"], row["after"], row["verdict"]) == (0.2, 0.8, "better")
    assert roadmap.review_display(review.reset_index(), program).iloc[1]["Change"] == "+60 points"


def test_run_refuses_options_a_topic_does_not_take(program):
    with pytest.raises(
        ConfigError, match="Topic referral_funnel takes metric, months; not dimension"
    ):
        deepdive.run(ctx_for(program, DISPARITY), "referral_funnel", dimension="race_ethnicity")


# -- the engine's numbers and suppression -------------------------------------------------------------
YEAR = "2025-12"  # 12 months to December 2025 = calendar year 2025, a grain of the engine


@pytest.fixture(scope="module")
def year_2025(program, demo_episodes):
    """The demo episodes, the program with a mean metric, and the engine's own cells."""
    from acm_helpers.metrics import engine

    prog = with_mean(program)
    eps = derive_episodes(demo_episodes)
    mv = engine.compute(prog, eps, grains=("month", "quarter", "year", "term"))
    return prog, eps, mv


def engine_year(mv, metric_id, dimension=""):
    sel = mv[
        (mv["grain"] == "year")
        & (mv["period"] == "2025")
        & (mv["metric_id"] == metric_id)
        & (mv["dimension"] == dimension)
    ]
    return sel.set_index(["provider_id", "group"] if dimension else "provider_id")


@pytest.mark.parametrize("audience", ["internal", "provider"])
@pytest.mark.parametrize(
    "metric_id",
    [
        pytest.param("exits_to_permanent_housing", id="rate"),
        pytest.param("median_length_of_stay", id="median"),
        pytest.param("mean_length_of_stay", id="mean"),
        pytest.param("clients_served", id="count"),
        pytest.param("cost_per_exit_to_ph", id="sum_ratio"),
    ],
)
def test_peer_comparison_shows_the_engines_cells(year_2025, metric_id, audience):
    """Every provider's value and 95% interval in the peer comparison are the engine's cells
    for 2025 (count: exact Poisson interval; sum_ratio: delta-method interval; mean: t), and
    for a provider audience exactly the engine's cells are hidden."""
    prog, eps, mv = year_2025
    ctx = deepdive.make_context(prog, eps, "harbor", YEAR, audience)
    got = deepdive.peer_comparison(ctx, metric_id).data
    want = engine_year(mv, metric_id).drop(index=ALL)
    if "provider_id" not in got:  # provider audience, anonymized peers: map labels back
        labels = {v: k for k, v in peer_labels(prog, "harbor", audience).items()}
        got = got.assign(provider_id=got["provider"].map(labels))
    got = got.set_index("provider_id").loc[want.index]
    for col in ("value", "ci_low", "ci_high"):
        np.testing.assert_allclose(got[col].to_numpy(float), want[col].to_numpy(float), rtol=1e-12)
    if audience == "provider":
        assert (got["suppressed"].to_numpy() == want["suppressed"].to_numpy()).all()
    assert want["ci_low"].notna().any()  # every kind publishes an interval now


def test_disparity_shows_the_engines_group_cells(year_2025):
    prog, eps, mv = year_2025
    ctx = deepdive.make_context(prog, eps, "cascade", YEAR, "provider")
    got = deepdive.disparity(ctx, "exits_to_permanent_housing", "race_ethnicity").data
    got = got[got["window"] == "recent"].set_index("group")
    want = engine_year(mv, "exits_to_permanent_housing", "race_ethnicity").loc["cascade"]
    want = want.loc[got.index]
    assert (got["suppressed"].to_numpy() == want["suppressed"].to_numpy()).all()
    for col in ("denominator", "value", "ci_low", "ci_high"):
        np.testing.assert_allclose(got[col].to_numpy(float), want[col].to_numpy(float), rtol=1e-12)


def test_trend_months_are_the_engines_month_cells(year_2025):
    """The monthly trend behind the cohort and funnel charts: the engine's month cells, with the
    packet's suppression (time rules included) for a provider audience."""
    from acm_helpers.meetings.context import trend_with_peers

    prog, eps, mv = year_2025
    ctx = deepdive.make_context(prog, eps, "northgate", YEAR, "provider")
    got = trend_with_peers(ctx, "exits_to_permanent_housing", "2025-01").set_index("period")
    want = mv[
        (mv["grain"] == "month")
        & (mv["provider_id"] == "northgate")
        & (mv["metric_id"] == "exits_to_permanent_housing")
        & (mv["dimension"] == "")
        & mv["period"].between("2025-01", YEAR)
    ].set_index("period")
    got = got.loc[want.index]
    assert want["suppressed"].any()  # the small provider has hidden months
    assert (got["suppressed"].to_numpy() == want["suppressed"].to_numpy()).all()
    np.testing.assert_allclose(got["value"].to_numpy(float), want["value"].to_numpy(float))


def old_one_pass(table: pd.DataFrame, threshold: int) -> pd.Series:
    """The deep dives' former suppression (``episode_metrics.suppress``), restated: within one
    provider's groups of one window, hide groups under the threshold and, when exactly one is
    hidden, the next smallest group too. Nothing across providers or time."""
    small = table["denominator"] < threshold
    if small.sum() == 1 and len(table) > 1:
        small[table.loc[~small, "denominator"].idxmin()] = True
    return small


def test_a_cell_the_old_suppression_showed_is_now_hidden(program):
    """Harbor has 12 Asian leavers in 2025, Puget 5, Elliott 20. The old one-pass rule looked
    only at one provider's groups (none small at Harbor or Elliott) and printed Harbor's 12 and
    Elliott's 20; the engine publishes the all-providers row (37 Asian leavers in 2025), so
    37 - 20 - 12 gave away Puget's suppressed 5. The engine hides Harbor's Asian cell as
    Puget's complement across providers (and, iterating, what that exposes), and so does the
    deep dive now."""
    from acm_helpers.metrics import engine

    spec = [
        ("harbor", 15, "White", "2025-01-01", "2025-05-01", "permanent", None),
        ("harbor", 15, "White", "2025-01-01", "2025-05-01", "temporary", None),
        ("harbor", 6, "Asian or Asian American", "2025-01-01", "2025-05-01", "permanent", None),
        ("harbor", 6, "Asian or Asian American", "2025-01-01", "2025-05-01", "temporary", None),
        ("puget", 20, "White", "2025-01-01", "2025-05-01", "permanent", None),
        ("puget", 5, "Asian or Asian American", "2025-01-01", "2025-05-01", "temporary", None),
        ("elliott", 20, "White", "2025-01-01", "2025-05-01", "permanent", None),
        ("elliott", 20, "Asian or Asian American", "2025-01-01", "2025-05-01", "permanent", None),
    ]
    eps = make_episodes(spec).assign(cost=1000.0)  # every metric of the program can run
    # what the packets publish for 2025: the all-providers row shown, Puget's Asian cell hidden
    mv = engine.compute(program, eps, grains=("year",), dimensions=["race_ethnicity"])
    race = engine_year(mv, "exits_to_permanent_housing", "race_ethnicity")
    asian = "Asian or Asian American"
    assert race.loc[(ALL, asian), "denominator"] == 37
    assert bool(race.loc[("puget", asian), "suppressed"])
    # the old rule, on each provider's own groups: nothing small, so both printed their cell
    for own in ([12, 30], [20, 20]):  # harbor (Asian, White), elliott (Asian, White)
        table = pd.DataFrame({"group": [asian, "White"], "denominator": own})
        assert not old_one_pass(table, 11).any()
    assert 37 - 20 - 12 == 5  # ... and with the published total, Puget's hidden 5 came back
    # now: the deep dive hides harbor's Asian cell, exactly as the engine does
    ctx = deepdive.make_context(program, eps, "harbor", YEAR, "provider")
    r = deepdive.disparity(ctx, "exits_to_permanent_housing", "race_ethnicity")
    recent = r.data[r.data["window"] == "recent"].set_index("group")
    assert bool(recent.loc[asian, "suppressed"]) and pd.isna(recent.loc[asian, "denominator"])
    assert bool(race.loc[("harbor", asian), "suppressed"])
    assert "12" not in r.table.set_index("Group").loc[asian].to_string()


# -- has the gap changed? (the interval rule shared with the brief and the contract report) ---------
@pytest.mark.parametrize(
    "before, after, verdict",
    [
        pytest.param((-0.30, -0.40, -0.20), (-0.10, -0.15, -0.05), "narrowed", id="narrowed"),
        pytest.param((-0.10, -0.15, -0.05), (-0.30, -0.40, -0.20), "widened", id="widened"),
        pytest.param((0.10, 0.05, 0.15), (0.30, 0.20, 0.40), "widened", id="widened-up"),
        # two overlapping intervals: the point estimates moved, the data cannot tell
        pytest.param((-0.20, -0.35, -0.05), (-0.12, -0.27, 0.03), "cannot tell", id="overlap"),
        pytest.param((0.20, 0.10, 0.30), (-0.20, -0.30, -0.10), "reversed", id="reversed"),
        # crossed zero, but the later gap's interval spans zero: the earlier gap closed
        pytest.param((0.25, 0.15, 0.35), (-0.05, -0.15, 0.05), "narrowed", id="closed"),
        pytest.param((-0.2, np.nan, np.nan), (-0.1, -0.2, 0.0), "cannot tell", id="no-interval"),
    ],
)
def test_gap_change_rule(before, after, verdict):
    from acm_helpers.meetings.disparities import GAP_CHANGE_WORDS, gap_change

    assert gap_change(*before, *after) == verdict
    assert verdict in GAP_CHANGE_WORDS


def test_gap_change_interval_is_mover_by_hand():
    from acm_helpers.meetings.disparities import gap_change_interval, gap_size_change

    d, low, high = gap_change_interval(-0.30, -0.40, -0.20, -0.10, -0.15, -0.05)
    # D = 0.2; low = 0.2 - sqrt(0.05^2 + 0.1^2); high = 0.2 + sqrt(0.05^2 + 0.1^2)
    assert d == pytest.approx(0.2)
    assert low == pytest.approx(0.2 - 0.05**0.5 / 2) and high == pytest.approx(0.2 + 0.05**0.5 / 2)
    size, s_low, s_high = gap_size_change(-0.30, -0.40, -0.20, -0.10, -0.15, -0.05)
    assert (size, s_low, s_high) == pytest.approx((-0.2, -high, -low))  # 20 points smaller


def test_deep_dive_title_names_provider_and_topic(program):
    ctx = ctx_for(program, DISPARITY)
    t = deepdive.title(ctx)  # the roadmap's topic for 2026-10
    assert t.title == "Deep dive: Harbor Light Housing, Disparities one year on"
    assert t.level == 1 and t.to_html().count("<h1>") == 1
    assert "Has the disparity found in December narrowed?" in t.intro
    other = deepdive.title(ctx, "peer_comparison")
    assert other.title.startswith("Deep dive: Harbor Light Housing, ")
    assert "contract" not in repr(ctx).lower() and len(repr(ctx)) < 100


def test_result_lists_its_ids_for_analysts(program):
    r = deepdive.disparity(
        ctx_for(program, DISPARITY), "exits_to_permanent_housing", "race_ethnicity"
    )
    assert (r.metric_id, r.dimension_id) == ("exits_to_permanent_housing", "race_ethnicity")
    page = r.to_html()
    assert "For analysts:" in page
    assert "metric <code>exits_to_permanent_housing</code>" in page
    assert "dimension <code>race_ethnicity</code>" in page
    assert '<div class="acm-table-box" style="overflow-x:auto"><table' in page


def test_explorer_has_a_topic_dropdown_and_its_data_at_hand(program):
    from acm_helpers.explorer import topic_widgets

    ctx = ctx_for(program, DISPARITY)
    static = topic_widgets.show(ctx, "disparity")
    assert isinstance(static.data, pd.DataFrame)  # view.data in the batch notebook
    view = topic_widgets.show(ctx, "disparity", True)
    assert isinstance(view.data, pd.DataFrame) and view.topic_control.value == "disparity"
    assert set(dict(view.topic_control.options).values()) == set(deepdive.TOPICS)
    assert view.bar.children[0] is view.topic_control
    view.topic_control.value = "peer_comparison"
    assert view.topic == "peer_comparison" and set(view.controls) == {
        "provider",
        "metric",
        "months",
    }
    assert 'data-topic="peer_comparison"' in view.output.value and view.message.value == ""
    assert isinstance(view.data, pd.DataFrame) and "rank" in view.data.columns
