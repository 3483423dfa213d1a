"""The demo generator: reproducible, about the right size, and its documented stories are really
in the data (checked with plain pandas, not with the metrics engine)."""

from __future__ import annotations

import re
from types import SimpleNamespace

import numpy as np
import openpyxl
import pandas as pd
import pytest

from acm_helpers.core import schema
from acm_helpers.core.errors import AcmError, ConfigError
from acm_helpers.demo import build as demo_build
from acm_helpers.demo import generate as demo
from acm_helpers.demo import submissions as demo_files
from acm_helpers.intake import derive
from acm_helpers.store.store import Store


@pytest.fixture(scope="module")
def full(program):
    """The demo at scale 1.0 (about 0.5 s): stories are checked at full size."""
    return demo.generate(program)


@pytest.fixture(scope="module")
def leavers(full):
    out = full[full["exit_date"].notna() & (full["exit_date"] >= "2024-11-01")].copy()
    out["month"] = out["exit_date"].dt.strftime("%Y-%m")
    out["ph"] = out["destination_class"] == "permanent"
    return out


@pytest.fixture(scope="module")
def submissions(tmp_path_factory, program, demo_episodes):
    out = tmp_path_factory.mktemp("subs")
    return out, demo_files.write_submissions(demo_episodes, program, out)


def two_prop_z(a: pd.Series, b: pd.Series) -> float:
    """z statistic of the difference between two proportions (pooled)."""
    p = (a.sum() + b.sum()) / (len(a) + len(b))
    se = np.sqrt(p * (1 - p) * (1 / len(a) + 1 / len(b)))
    return float((b.mean() - a.mean()) / se)


# -- reproducibility and size -----------------------------------------------------------------
def test_same_seed_same_frame_other_seed_other_frame(program):
    a = demo.generate(program, seed=7, scale=0.05)
    b = demo.generate(program, seed=7, scale=0.05)
    c = demo.generate(program, seed=8, scale=0.05)
    pd.testing.assert_frame_equal(a, b)
    assert not a["enrollment_date"].equals(c["enrollment_date"])


def test_size_near_20000_and_scale_shrinks_it(full, demo_episodes):
    assert 18_000 <= len(full) <= 23_000
    assert 0.2 <= len(demo_episodes) / len(full) <= 0.3


def test_columns_dtypes_and_schema(program, demo_episodes):
    assert list(demo_episodes.columns) == list(schema.EPISODE_COLUMNS) + ["_period"]
    schema.episodes_schema(program).validate(demo_episodes, lazy=True)
    assert not demo_episodes.duplicated(["provider_id", "episode_id"]).any()


def test_fields_are_consistent(program, full):
    age = demo._age(full["birth_date"], full["enrollment_date"])
    assert (age == full["age_at_entry"]).all()
    assert (
        full["exit_date"].dropna() >= full.loc[full["exit_date"].notna(), "enrollment_date"]
    ).all()
    ref = full["referral_date"].notna()
    assert (full.loc[ref, "referral_date"] <= full.loc[ref, "enrollment_date"]).all()
    exited = full[full["exit_date"].notna()]
    assert (
        exited["exit_destination"].map(program.destinations) == exited["destination_class"]
    ).all()
    assert full.loc[full["exit_date"].isna(), "exit_destination"].isna().all()
    assert full["exit_date"].isna().sum() > 1000  # still open at the end
    zips = full["zip"].dropna()
    assert zips.str.fullmatch(r"98\d{3}").all() and zips.nunique() == 15
    assert set(full["race_ethnicity"].dropna()) <= set(program.codes["race_ethnicity"])
    assert set(full["gender"].dropna()) <= set(program.codes["gender"])
    last = full["exit_date"].dt.strftime("%Y-%m").fillna(program.last_period)
    assert (full["_period"] == last).all()


def test_cost_per_day_differs_by_provider_type(full):
    stay = (
        full["exit_date"].fillna(pd.Timestamp("2026-10-31")) - full["enrollment_date"]
    ).dt.days.clip(lower=1)
    per_day = (full["cost"] / stay).groupby(full["program"]).median()
    assert per_day["emergency_shelter"] == pytest.approx(65, abs=4)
    assert per_day["rapid_rehousing"] == pytest.approx(51, abs=3)
    assert per_day["youth_housing"] == pytest.approx(95, abs=3)


def test_returns_are_system_wide(full):
    d = derive.derive_episodes(full, as_of=pd.Timestamp("2026-10-31").date())
    ph = d[(d["destination_class"] == "permanent") & (d["exit_date"] <= "2025-10-31")]
    assert 0.08 <= ph["return_12m"].astype(float).mean() <= 0.20
    multi = full[full.duplicated("client_id", keep=False)]
    providers_per_client = multi.groupby("client_id")["provider_id"].nunique()
    assert (providers_per_client > 1).mean() > 0.5  # most returns are to another provider


# -- the stories --------------------------------------------------------------------------------
def test_cascade_disparity_black_vs_white(leavers):
    cas = leavers[leavers["provider_id"] == "cascade"]
    black = cas.loc[cas["race_ethnicity"] == "Black or African American", "ph"]
    white = cas.loc[cas["race_ethnicity"] == "White", "ph"]
    assert black.mean() == pytest.approx(0.25, abs=0.04)
    assert white.mean() == pytest.approx(0.50, abs=0.04)
    q = cas[cas["exit_date"].between("2025-10-01", "2025-12-31")]  # one quarter is enough
    assert (
        two_prop_z(
            q.loc[q["race_ethnicity"] == "Black or African American", "ph"],
            q.loc[q["race_ethnicity"] == "White", "ph"],
        )
        > 3
    )


@pytest.mark.parametrize("provider", ["harbor", "rainier", "elliott", "puget"])
def test_no_race_gap_elsewhere(leavers, provider):
    p = leavers[leavers["provider_id"] == provider]
    black = p.loc[p["race_ethnicity"] == "Black or African American", "ph"].mean()
    white = p.loc[p["race_ethnicity"] == "White", "ph"].mean()
    assert abs(black - white) < 0.07


def test_harbor_steps_up_in_december_2025(leavers):
    h = leavers[leavers["provider_id"] == "harbor"]
    before, after = h[h["month"] < "2025-12"], h[h["month"] >= "2025-12"]
    assert before["ph"].mean() == pytest.approx(0.33, abs=0.03)
    assert after["ph"].mean() == pytest.approx(0.55, abs=0.03)
    nov, dec = h[h["month"] == "2025-11"]["ph"], h[h["month"] == "2025-12"]["ph"]
    assert dec.mean() - nov.mean() > 0.1
    around = two_prop_z(
        h[h["month"].between("2025-09", "2025-11")]["ph"],
        h[h["month"].between("2025-12", "2026-02")]["ph"],
    )
    assert around > 4


def test_rainier_data_quality_falls(full):
    full = full.assign(month=full["enrollment_date"].dt.strftime("%Y-%m"))
    blank = full[["race_ethnicity", "zip", "referral_date"]].isna().mean(axis=1)
    rai = blank[full["provider_id"] == "rainier"].groupby(full["month"]).mean()
    assert rai.loc["2024-11":"2025-01"].mean() < 0.08
    assert rai.loc["2026-08":"2026-10"].mean() == pytest.approx(0.33, abs=0.05)
    others = blank[(full["provider_id"] != "rainier") & (full["month"] >= "2026-08")]
    assert others.mean() < 0.05


def test_northgate_is_small_and_its_groups_fall_under_11(program, full, leavers):
    ng = full[(full["provider_id"] == "northgate") & (full["enrollment_date"] >= "2024-11-01")]
    per_month = ng.groupby(ng["enrollment_date"].dt.strftime("%Y-%m")).size()
    assert 10 <= per_month.median() <= 20
    cells = (
        leavers[leavers["provider_id"] == "northgate"].groupby(["month", "race_ethnicity"]).size()
    )
    assert (cells < program.suppression.threshold).mean() > 0.9
    assert (ng["age_at_entry"] < 18).mean() < 0.4 and ng["age_at_entry"].between(16, 24).all()


def test_stories_show_at_fixture_scale(demo_episodes):
    lv = demo_episodes[demo_episodes["exit_date"].notna()]
    cas = lv[lv["provider_id"] == "cascade"]
    ph = cas["destination_class"] == "permanent"
    gap = (
        ph[cas["race_ethnicity"] == "White"].mean()
        - ph[cas["race_ethnicity"] == "Black or African American"].mean()
    )
    assert gap > 0.18
    h = lv[lv["provider_id"] == "harbor"]
    hph = h["destination_class"] == "permanent"
    assert (
        hph[h["exit_date"] >= "2025-12-01"].mean() - hph[h["exit_date"] < "2025-12-01"].mean()
        > 0.15
    )


# -- submission files ------------------------------------------------------------------------
def test_submission_files_in_every_format(program, submissions):
    out, paths = submissions
    assert len(paths) == 24 * 6
    assert {p.relative_to(out).as_posix() for p in paths} >= {
        "2025-06/harbor.csv",
        "2025-06/elliott.xlsx",
    }
    cascade = out / "2025-06" / "cascade.csv"
    raw = cascade.read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    frame = pd.read_csv(cascade, sep=";", encoding="latin-1", dtype=str)
    assert "site_name" in frame and frame["site_name"].str.contains("é|ñ").any()
    assert (out / "2025-06" / "puget.csv").read_bytes().startswith(b"\xef\xbb\xbfepisode_id,")
    assert (out / "2025-06" / "harbor.csv").read_bytes().startswith(b"episode_id,client_id,")
    sheet = openpyxl.load_workbook(out / "2025-06" / "elliott.xlsx", read_only=True).active
    header, first = list(sheet.iter_rows(max_row=2, values_only=True))
    assert header[0] == "episode_id" and hasattr(first[header.index("enrollment_date")], "year")


def test_monthly_files_hold_state_as_of_month_end(demo_episodes, submissions):
    out, _ = submissions
    harbor = demo_episodes[demo_episodes["provider_id"] == "harbor"]
    ep = harbor[
        (harbor["exit_date"].dt.strftime("%Y-%m") == "2025-06")
        & (harbor["enrollment_date"] < "2025-05-01")
    ].iloc[0]
    may = pd.read_csv(out / "2025-05" / "harbor.csv", dtype=str).set_index("episode_id")
    june = pd.read_csv(out / "2025-06" / "harbor.csv", dtype=str).set_index("episode_id")
    july = pd.read_csv(out / "2025-07" / "harbor.csv", dtype=str)
    assert pd.isna(may.loc[ep["episode_id"], "exit_date"])
    assert june.loc[ep["episode_id"], "exit_date"] == ep["exit_date"].strftime("%Y-%m-%d")
    assert float(june.loc[ep["episode_id"], "cost"]) == pytest.approx(ep["cost"], abs=0.02)
    assert float(may.loc[ep["episode_id"], "cost"]) < ep["cost"]
    assert ep["episode_id"] not in set(july["episode_id"])
    open_june = harbor[
        (harbor["enrollment_date"] <= "2025-06-30")
        & (harbor["exit_date"].isna() | (harbor["exit_date"] >= "2025-06-01"))
    ]
    assert set(june.index) == set(open_june["episode_id"])


def test_rainier_garbage_rows_and_late_files(program, submissions):
    out, _ = submissions
    early = pd.read_csv(out / "2025-06" / "rainier.csv", dtype=str)
    late = pd.read_csv(out / "2026-06" / "rainier.csv", dtype=str)
    assert not early["episode_id"].str.contains("-X").any()
    junk = late[late["episode_id"].str.contains("-X")]
    assert 3 <= len(junk) <= 6
    bad = (
        (junk["race_ethnicity"] == "Purple")
        | (junk["exit_destination"] == "999")
        | junk["client_id"].isna()
        | ~junk["enrollment_date"].fillna("").str.fullmatch(r"\d{4}-\d{2}-\d{2}")
        | (junk["enrollment_date"] == "2026-02-30")
        | (junk["exit_date"] == "2020-01-01")
    )
    assert bad.all()
    received = demo_files.read_received(out)
    assert len(received) == 144
    received["lag"] = (
        pd.to_datetime(received["received"]) - pd.to_datetime(received["due"])
    ).dt.days
    rai_late = received[(received["provider_id"] == "rainier") & (received["period"] >= "2026-03")]
    assert (rai_late["lag"] > 0).all() and (rai_late["late"] == "True").all()
    others = received[(received["provider_id"] != "rainier") | (received["period"] < "2026-03")]
    assert (others["lag"] <= 0).all()


# -- second program ------------------------------------------------------------------------------
def test_family_preservation_generates_and_validates(family_program):
    fp = demo.generate(family_program, scale=0.5)
    assert list(fp.columns) == list(schema.EPISODE_COLUMNS) + list(family_program.outcomes) + [
        "_period"
    ]
    schema.episodes_schema(family_program).validate(fp, lazy=True)
    assert fp["exit_destination"].isna().all() and 2000 <= len(fp) <= 3200
    closed = fp[fp["exit_date"].notna()]
    completed = (closed["months_of_service"] >= 3).groupby(closed["provider_id"]).mean()
    assert completed["eastside"] < 0.45 < completed.drop("eastside").min()
    known = closed[closed["subsequent_involvement_12m"].notna()]
    rate = (
        known["subsequent_involvement_12m"]
        .astype(float)
        .groupby(known["months_of_service"] >= 3)
        .mean()
    )
    assert rate[False] - rate[True] > 0.08
    assert fp["age_at_entry"].between(0, 17).all()


def test_family_preservation_submissions_hide_pending_follow_up(tmp_path, family_program):
    fp = demo.generate(family_program, scale=0.2)
    demo_files.write_submissions(fp, family_program, tmp_path)
    ep = fp[fp["subsequent_involvement_12m"].eq(False) & (fp["_period"] < "2026-10")].iloc[0]
    exit_month = ep["exit_date"].strftime("%Y-%m")
    provider = ep["provider_id"]
    ext = "xlsx" if provider == "kinship" else "csv"

    def row(month):
        path = tmp_path / month / f"{provider}.{ext}"
        frame = pd.read_excel(path, dtype=str) if ext == "xlsx" else pd.read_csv(path, dtype=str)
        return frame.set_index("episode_id").loc[ep["episode_id"]]

    assert pd.isna(row(exit_month)["subsequent_involvement_12m"])
    assert row(ep["_period"])["subsequent_involvement_12m"] == "False"


def test_bad_scale_and_unknown_field(program):
    with pytest.raises(ConfigError, match="scale must be positive"):
        demo.generate(program, scale=0)
    with pytest.raises(ConfigError, match="Known fields: homelessness, child_welfare"):
        demo.generate(program.model_copy(update={"field": "workforce"}))


# -- the build -------------------------------------------------------------------------------
def small_build(
    program_path, tmp_path, period: str, steps: tuple[str, ...]
) -> tuple[demo_build.DemoBuild, list[str]]:
    """A 2% demo build under ``tmp_path`` running ``steps``, with its progress lines."""
    lines: list[str] = []
    result = demo_build.build(
        program_path,
        tmp_path,
        period,
        scale=0.02,
        data_dir=tmp_path / "data",
        echo=lines.append,
        steps=steps,
    )
    return result, lines


def test_build_runs_only_the_steps_asked_for(tmp_path, program_path):
    result, lines = small_build(program_path, tmp_path, "2025-03", steps=())
    assert result.done == ["generate"] and not (tmp_path / "data").exists()
    assert (tmp_path / "demo" / "homeless_demo" / "submissions" / "2026-10" / "harbor.csv").exists()


def test_build_intakes_period_by_period_up_to_the_period(tmp_path, program_path, monkeypatch):
    calls = []
    fake = SimpleNamespace(
        __name__="acm_helpers.intake.intake",
        intake_files=lambda paths, prog, store, period=None, received=None: (
            calls.extend((period, p.name, received[str(p)]) for p in paths) or []
        ),
    )
    monkeypatch.setattr(demo_build, "intake", fake)
    result, _ = small_build(program_path, tmp_path, "2025-01", steps=("intake",))
    assert result.done == ["generate", "intake"]
    assert [c[0] for c in calls] == ["2024-11"] * 6 + ["2024-12"] * 6 + ["2025-01"] * 6
    assert all(re.fullmatch(r"[a-z]+\.(csv|xlsx)", name) for _, name, _ in calls)
    assert str(calls[0][2]).startswith("2024-12-")


def test_build_rejects_unknown_steps_naming_the_known_ones(tmp_path, program_path):
    with pytest.raises(ConfigError, match="known steps: intake, metrics, meetings, packets"):
        demo_build.build(program_path, tmp_path, steps=("intake", "pakets"))


def test_build_rejects_unknown_period(tmp_path, program_path):
    with pytest.raises(AcmError, match="Unknown period"):
        demo_build.build(program_path, tmp_path, "2030-01", scale=0.02, data_dir=tmp_path / "d")


def test_build_records_the_demo_meetings_before_the_packets(tmp_path, program_path, monkeypatch):
    """The packets of `make demo` show action items: the meetings file beside the program is
    loaded after the metrics (intake and metrics faked here, packets skipped)."""
    from acm_helpers.meetings import actions

    monkeypatch.setattr(demo_build, "intake", SimpleNamespace(intake_files=lambda *a, **k: []))
    monkeypatch.setattr(demo_build, "metrics", SimpleNamespace(refresh=lambda *a: None))
    result, lines = small_build(
        program_path, tmp_path, "2025-01", steps=("intake", "metrics", "meetings")
    )
    assert result.done == ["generate", "intake", "metrics", "meetings"]
    items = actions.read_actions(Store(tmp_path / "data"))
    assert len(items) > 5 and {"harbor", "cascade"} <= set(items["provider_id"])
    assert any("meetings/homeless_demo.yaml" in line and "action item(s)" in line for line in lines)


# -- the vectorised draws are the row-by-row draws they replaced (so the demo data is unchanged) --
def test_zips_in_one_draw_are_the_row_by_row_choices(program):
    scen = demo.scenario_for(program)
    providers = pd.Series(np.random.default_rng(1).choice(program.provider_ids + ["other"], 5000))
    got = demo._zips(np.random.default_rng(7), scen, providers)
    rng = np.random.default_rng(7)
    want = []
    for p in providers:
        prof = demo._profile(scen, p)
        w = np.array([3.0 if z in prof.zips else 1.0 for z in scen.zips])
        want.append(str(scen.zips[rng.choice(len(scen.zips), p=w / w.sum())]))
    assert list(got) == want


@pytest.mark.parametrize("seed", [0, 20261023])
def test_codes_of_classes_are_the_row_by_row_picks(seed):
    by_class = {"permanent": ["10", "11", "12", "13", "14"], "temporary": ["1", "2"], "one": ["x"]}
    classes = np.random.default_rng(seed).choice(
        np.array(["permanent", "temporary", "one", "none"], dtype=object), 20000
    )
    rng = np.random.default_rng(seed)
    got = demo._codes_of_classes(classes, by_class, rng)
    after = rng.random()
    ref = np.random.default_rng(seed)
    want = [by_class.get(c, [""])[ref.integers(len(by_class.get(c, [""])))] for c in classes]
    assert list(got) == want
    assert after == ref.random()  # the generator is left where the loop left it


def test_returning_clients_pick_providers_in_chunks_as_in_one_block(program, monkeypatch):
    back = pd.DataFrame(
        {
            "birth_date": pd.to_datetime("1990-01-01")
            - pd.to_timedelta(np.random.default_rng(3).integers(0, 365 * 60, 3000), unit="D"),
            "enrollment_date": pd.Timestamp("2026-01-01"),
        }
    )
    scen = demo.scenario_for(program)
    whole = demo._pick_providers(back, program, scen, np.random.default_rng(5))
    monkeypatch.setattr(demo, "PICK_CELLS", 7 * len(program.provider_ids))  # 7 rows at a time
    chunked = demo._pick_providers(back, program, scen, np.random.default_rng(5))
    assert list(chunked) == list(whole)
    assert set(whole) <= set(program.provider_ids)
