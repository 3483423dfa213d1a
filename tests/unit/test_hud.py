"""HUD rules (acm_helpers.core.hud), each on a small hand-built frame with a hand-computed answer.

Each test names the HUD specification section it checks.
"""

from __future__ import annotations

import pandas as pd
import pytest

from acm_helpers.core import hud
from acm_helpers.intake import derive

D = pd.Timestamp


def frame(rows: list[tuple], columns: list[str]) -> pd.DataFrame:
    out = pd.DataFrame(rows, columns=columns)
    for col in out.columns:
        if col.endswith("_date"):
            out[col] = pd.to_datetime(out[col]).astype("datetime64[us]")
    return out


# -- CSV version: HMIS CSV Format Specifications, Export.csv CSVVersion -------------------------
@pytest.mark.parametrize(
    "value, expected",
    [
        pytest.param("2026 v1", "2026", id="fy2026"),
        pytest.param("2024 v1.2", "2024", id="fy2024"),
        pytest.param("FY2022 v1.3", "2022", id="fy2022-prefixed"),
        pytest.param("2020 v1.8", None, id="fy2020-unsupported"),
        pytest.param("", None, id="blank"),
        pytest.param(None, None, id="missing"),
    ],
)
def test_csv_version(value, expected):
    assert hud.csv_version(value) == expected


@pytest.mark.parametrize(
    "columns, expected",
    [
        pytest.param(["PersonalID", "Sex", "HispanicLatinao"], "2026", id="fy2026-sex"),
        pytest.param(
            ["PersonalID", "Woman", "Man", "HispanicLatinaeo"], "2024", id="fy2024-genders"
        ),
        pytest.param(["PersonalID", "Female", "Male", "Ethnicity"], "2022", id="fy2022-genders"),
        pytest.param(["PersonalID"], None, id="unknown"),
    ],
)
def test_version_from_columns(columns, expected):
    assert hud.version_from_columns(columns) == expected


# -- destinations: CSV spec list 3.12.1 (FY2022 two-digit codes; FY2024/FY2026 three-digit) ---------
@pytest.mark.parametrize(
    "version, code, fy2024, cls",
    [
        # FY2024 and FY2026 (list unchanged in FY2026): the hundreds digit is the APR Q23c group.
        pytest.param("2024", "410", "410", "permanent", id="fy24-rental-no-subsidy"),
        pytest.param("2024", "435", "435", "permanent", id="fy24-rental-with-subsidy"),
        pytest.param("2024", "422", "422", "permanent", id="fy24-family-permanent"),
        pytest.param("2024", "101", "101", "temporary", id="fy24-es-homeless-situation"),
        pytest.param("2024", "116", "116", "temporary", id="fy24-street-homeless-situation"),
        pytest.param("2024", "312", "312", "temporary", id="fy24-family-temporary"),
        pytest.param("2024", "207", "207", "institutional", id="fy24-jail"),
        pytest.param("2024", "17", "17", "other", id="fy24-other"),
        pytest.param("2024", "24", "24", "other", id="fy24-deceased"),
        pytest.param("2024", "30", "30", "unknown", id="fy24-no-exit-interview"),
        pytest.param("2024", "99", "99", "unknown", id="fy24-not-collected"),
        pytest.param("2024", "3", None, "unknown", id="fy24-old-code-3-is-unknown"),
        pytest.param("2026", "435", "435", "permanent", id="fy26-same-list"),
        pytest.param("2026", "19", None, "unknown", id="fy26-old-vash-code-unknown"),
        # FY2022: old codes, mapped to FY2024 per the FY2024 change log.
        pytest.param("2022", "3", "435", "permanent", id="fy22-ph-formerly-homeless"),
        pytest.param("2022", "10", "410", "permanent", id="fy22-rental-no-subsidy"),
        pytest.param("2022", "19", "435", "permanent", id="fy22-vash"),
        pytest.param("2022", "23", "423", "permanent", id="fy22-friends-permanent"),
        pytest.param("2022", "26", "426", "permanent", id="fy22-hopwa-ph"),
        pytest.param("2022", "34", "435", "permanent", id="fy22-public-housing"),
        pytest.param("2022", "1", "101", "temporary", id="fy22-es"),
        pytest.param("2022", "12", "312", "temporary", id="fy22-family-temporary"),
        pytest.param("2022", "29", "329", "temporary", id="fy22-halfway-house"),
        pytest.param("2022", "7", "207", "institutional", id="fy22-jail"),
        pytest.param("2022", "25", "225", "institutional", id="fy22-long-term-care"),
        pytest.param("2022", "24", "24", "other", id="fy22-deceased"),
        pytest.param("2022", "8", "8", "unknown", id="fy22-client-doesnt-know"),
        pytest.param("2022", "435", None, "unknown", id="fy22-new-code-is-unknown"),
    ],
)
def test_destination_class_per_version(version, code, fy2024, cls):
    new, _, unknown = hud.normalize_destinations(pd.Series([code]), version)
    assert (None if pd.isna(new.iloc[0]) else new.iloc[0]) == fy2024
    assert bool(unknown.iloc[0]) == (fy2024 is None)
    assert hud.destination_classes(pd.Series([code]), version).iloc[0] == cls


def test_fy2022_subsidised_rentals_get_fy2024_subsidy_types():
    # FY2024 list 3.12.A: 419 VASH, 420 other subsidy, 428 GPD TIP, 431 RRH, 433 HCV, 434 public
    # housing, 440 other PH for formerly homeless persons (FY2022 code 3).
    old = pd.Series(["19", "20", "28", "31", "33", "34", "3", "10"])
    new, sub, _ = hud.normalize_destinations(old, "2022")
    assert new.tolist()[:7] == ["435"] * 7 and new.iloc[7] == "410"
    assert sub.tolist()[:7] == ["419", "420", "428", "431", "433", "434", "440"]
    assert pd.isna(sub.iloc[7])


def test_fy2024_subsidy_only_kept_with_destination_435():
    _, sub, _ = hud.normalize_destinations(
        pd.Series(["435", "410", "435"]), "2024", pd.Series(["431", "431", "999"])
    )
    assert sub.iloc[0] == "431" and pd.isna(sub.iloc[1]) and pd.isna(sub.iloc[2])


def test_blank_destination_is_unknown_class_not_unknown_code():
    new, _, unknown = hud.normalize_destinations(pd.Series([None, ""], dtype="str"), "2024")
    assert new.isna().all() and not unknown.any()
    assert hud.destination_class(new).tolist() == ["unknown", "unknown"]


# -- project types: CSV spec list 2.02.6; FY2022 ES split by TrackingMethod -------------------------
@pytest.mark.parametrize(
    "version, code, tracking, expected",
    [
        pytest.param("2024", "0", None, "ES-EE", id="fy24-es-entry-exit"),
        pytest.param("2024", "1", None, "ES-NbN", id="fy24-es-night-by-night"),
        pytest.param("2026", "13", None, "RRH", id="fy26-rrh"),
        pytest.param("2024", "3", None, "PSH", id="fy24-psh"),
        pytest.param("2022", "1", "3", "ES-NbN", id="fy22-es-tracking-nbn"),
        pytest.param("2022", "1", "0", "ES-EE", id="fy22-es-tracking-entry-exit"),
        pytest.param("2022", "0", None, None, id="fy22-no-type-0"),
        pytest.param("2024", "5", None, None, id="fy24-unknown-type"),
    ],
)
def test_project_type(version, code, tracking, expected):
    got = hud.project_type_slug(pd.Series([code]), version, pd.Series([tracking], dtype="str"))
    assert (None if pd.isna(got.iloc[0]) else got.iloc[0]) == expected


# -- leavers, stayers, length of participation: Glossary + APR Q22a/Q22b -----------------------------
PERIOD = ("2024-01-01", "2024-03-31")
LOP = frame(
    [
        ("A", "2023-12-01", "2024-02-10"),  # leaver: exit in the period
        ("B", "2024-01-15", None),  # stayer: no exit
        ("C", "2024-02-01", "2024-04-15"),  # stayer: exit after the period end
        ("D", "2023-01-01", "2023-06-30"),  # exited before the period: neither
        ("E", "2024-04-05", None),  # started after the period: neither
        ("F", "2024-03-31", "2024-03-31"),  # same-day leaver on the last day
    ],
    ["id", "enrollment_date", "exit_date"],
)


def test_leavers_and_stayers_apr():
    assert hud.is_leaver(LOP, *PERIOD).tolist() == [True, False, False, False, False, True]
    assert hud.is_stayer(LOP, *PERIOD).tolist() == [False, True, True, False, False, False]


def test_length_of_participation_apr_q22():
    # Leavers: exit - start (A: Dec 1 -> Feb 10 = 71 days; F: 0). Stayers: min(exit, report
    # end + 1) - start, FY2024 APR Q22a1 (B: Jan 15 -> Apr 1 = 77; C: Feb 1 -> Apr 1 in a leap
    # year = 60; C's exit on Apr 15 is after the day after the end).
    got = hud.length_of_participation(LOP, *PERIOD)
    assert got.tolist()[:3] == [71, 77, 60] and got.iloc[5] == 0
    assert got.iloc[3:5].isna().all()


# -- move-in: Data Standards 3.20 and Glossary "Housing Move-in Date"; APR Q22c ----------------------
MOVE = frame(
    [
        ("h1", True, "2024-01-10", "2024-02-01", None),  # head moved in after 22 days
        ("h1", False, "2024-01-10", None, None),  # child shares the head's date
        ("h1", False, "2024-03-01", None, None),  # joined after move-in: own start date
        ("h1", False, "2024-01-10", None, "2024-01-20"),  # left before the move-in: never moved in
        ("h2", True, "2024-01-10", "2024-01-05", None),  # move-in before start: invalid
        ("h3", True, "2024-01-10", "2024-03-01", "2024-02-01"),  # move-in after exit: invalid
        ("h4", True, "2024-01-10", "2024-01-10", None),  # same day: 0 days
    ],
    ["household_id", "is_head", "enrollment_date", "move_in_date", "exit_date"],
)


def test_valid_move_in_and_days_to_move_in():
    assert hud.valid_move_in(MOVE).tolist() == [True, False, False, False, False, False, True]
    days = hud.days_to_move_in(MOVE)
    assert days.iloc[0] == 22 and days.iloc[6] == 0 and days.iloc[[4, 5]].isna().all()


def test_household_members_share_the_heads_move_in():
    got = hud.household_move_in(MOVE)
    assert got.iloc[0] == D("2024-02-01") and got.iloc[1] == D("2024-02-01")
    assert got.iloc[2] == D("2024-03-01")
    assert pd.isna(got.iloc[3]) and pd.isna(got.iloc[4]) and pd.isna(got.iloc[5])


# -- APR Q23c positive and excluded destinations (FY2024 APR/CAPER specs, Appendix A) ----------------
def test_apr_q23c_positive_and_excluded():
    f = pd.DataFrame(
        {
            "program": ["SO", "SO", "ES-EE", "ES-EE", "RRH", "RRH", "SO", "PSH"],
            "exit_destination": ["101", "206", "332", "215", "332", "435", "225", "24"],
        }
    )
    # SO: ES (101) is positive; hospital (206) excluded. ES: Host Home (332) positive, foster care
    # (215) excluded. RRH: only 4xx positive, 332 is not. SO: long-term care (225) positive.
    assert hud.apr_positive(f).tolist() == [True, False, True, False, False, True, True, False]
    assert hud.apr_excluded(f).tolist() == [False, True, False, True, False, False, False, True]


# -- SPM Measure 2: returns (FY2024 SPM programming specifications, Measure 2a/2b) -------------------
COLS = ["client_id", "program", "enrollment_date", "exit_date", "destination_class"]


def returns_of(rows: list[tuple], as_of: str = "2027-01-01") -> list:
    eps = frame(rows, COLS)
    got = hud.days_to_return(eps, D(as_of))
    return [None if pd.isna(v) else int(v) for v in got]


@pytest.mark.parametrize(
    "later, expected",
    [
        # A homeless project start on or after the exit is a return, even the same day.
        pytest.param(("c", "ES-EE", "2024-01-05", None, None), 4, id="homeless-after-4-days"),
        pytest.param(("c", "SO", "2024-01-01", None, None), 0, id="homeless-same-day"),
        pytest.param(("c", "TH", "2025-12-31", None, None), 730, id="homeless-day-730"),
        pytest.param(("c", "SH", "2026-01-01", None, None), None, id="homeless-day-731-outside"),
        # A PH start counts only more than 14 days after the exit.
        pytest.param(("c", "RRH", "2024-01-15", None, None), None, id="ph-day-14-is-transfer"),
        pytest.param(("c", "PSH", "2024-01-16", None, None), 15, id="ph-day-15-is-return"),
        # Other HUD project types are not returns to homelessness.
        pytest.param(("c", "HP", "2024-02-01", None, None), None, id="prevention-not-return"),
        pytest.param(("c", "SSO", "2024-02-01", None, None), None, id="services-only-not-return"),
        # Programs that are not HUD project types: any episode more than 14 days later.
        pytest.param(("c", "youth_housing", "2024-01-10", None, None), None, id="generic-day-9"),
        pytest.param(("c", "youth_housing", "2024-01-20", None, None), 19, id="generic-day-19"),
        # Another client's enrollment never counts.
        pytest.param(("d", "ES-EE", "2024-01-05", None, None), None, id="other-client"),
    ],
)
def test_spm2_return_rules(later, expected):
    exit_ = ("c", "ES-EE", "2023-10-01", "2024-01-01", "permanent")
    assert returns_of([exit_, later])[0] == expected


def test_spm2_ph_start_within_14_days_of_another_ph_exit_is_a_transfer():
    # Exit to PH Jan 1; PSH Jan 5 - Feb 1 (a transfer: within 14 days); RRH Feb 10 starts 40 days
    # after the exit but 9 days after the PSH exit: still housed, not a return. A later ES stay
    # on Jun 1 (152 days after the exit) is the first return.
    rows = [
        ("c", "TH", "2023-10-01", "2024-01-01", "permanent"),
        ("c", "PSH", "2024-01-05", "2024-02-01", "permanent"),
        ("c", "RRH", "2024-02-10", None, None),
        ("c", "ES-EE", "2024-06-01", None, None),
    ]
    assert returns_of(rows)[0] == 152


def test_spm2_ph_start_during_another_open_ph_stay_is_not_a_return():
    rows = [
        ("c", "TH", "2023-10-01", "2024-01-01", "permanent"),
        ("c", "PSH", "2024-01-05", None, None),
        ("c", "RRH", "2024-05-01", None, None),
    ]
    assert returns_of(rows)[0] is None


def test_spm2_ph_start_long_after_another_ph_exit_is_a_return():
    rows = [
        ("c", "TH", "2023-10-01", "2024-01-01", "permanent"),
        ("c", "PSH", "2024-01-05", "2024-02-01", "permanent"),
        ("c", "RRH", "2024-03-01", None, None),
    ]  # 29 days after the PSH exit: a return
    assert returns_of(rows)[0] == 60


def test_spm2_only_exits_to_permanent_destinations_are_followed():
    rows = [
        ("c", "ES-EE", "2023-10-01", "2024-01-01", "temporary"),
        ("c", "ES-EE", "2024-01-05", None, None),
    ]
    assert returns_of(rows) == [None, None]


# -- derive.flag_returns: SPM 2 windows 0-180, 0-365, 0-730 days ---------------------------------
@pytest.mark.parametrize(
    "gap, as_of, expected",
    [
        pytest.param(180, "2027-01-01", (True, True, True), id="day-180-within-6m"),
        pytest.param(181, "2027-01-01", (False, True, True), id="day-181-after-6m"),
        pytest.param(366, "2027-01-01", (False, False, True), id="day-366-after-12m"),
        pytest.param(None, "2027-01-01", (False, False, False), id="no-return-all-elapsed"),
        pytest.param(None, "2024-09-01", (False, None, None), id="no-return-12m-not-elapsed"),
        pytest.param(100, "2024-05-01", (True, True, True), id="returned-before-window-ends"),
    ],
)
def test_flag_returns_windows(gap, as_of, expected):
    rows = [("c", "ES-EE", "2023-10-01", "2024-01-01", "permanent")]
    if gap is not None:
        rows.append(
            ("c", "ES-EE", str((D("2024-01-01") + pd.Timedelta(days=gap)).date()), None, None)
        )
    eps = frame(rows, COLS)
    got = derive.flag_returns(eps, D(as_of))
    assert tuple(None if pd.isna(v) else bool(v) for v in got.iloc[0]) == expected
    assert got.iloc[1:].isna().all().all()  # rows that are not exits to PH stay null
