"""Seeded demo programs: synthetic episodes with built-in stories, their monthly submission
files, and the ``acm demo`` build.

Why synthetic data with known stories: every tool of the workbench (intake quality report,
metrics engine, equity breakdowns, suppression, packets) must *surface* something, and a test can
only check that it does when the truth is known. All randomness comes from one seeded
``numpy.random.Generator``: the same program, seed and scale give the same frame.

Homelessness demo (``parameters/program.yaml``, field ``homelessness``), 2024-11 .. 2026-10,
about 20,000 episodes at ``scale=1.0`` (episodes enrolled up to 12 months before the first
period and still open at its start are included; some episodes are still open at the end).
Volumes are new households per month at scale 1.0; multi-person households add members who
share the head's dates, destination, race and zip.

===========  =================  ======  ===========  ==========================================
provider     type               volume  median stay  story
===========  =================  ======  ===========  ==========================================
harbor       rapid rehousing     150     120 days    **improves**: leavers exit to permanent
                                                     housing (PH) with p=0.33 when the exit is
                                                     before 2025-12 and p=0.55 from 2025-12 on
                                                     (step between 2025-11 and 2025-12)
cascade      emergency shelter   165      45 days    **disparity**: PH p=0.25 for Black or
                                                     African American leavers, 0.50 for White,
                                                     0.42 for every other group
rainier      emergency shelter   155      40 days    **falling data quality**: race_ethnicity,
                                                     zip and referral_date are each blank with
                                                     p = 0.02 + 0.33 * i / 23 for episodes
                                                     enrolled in month i (0 = 2024-11, clipped at
                                                     0), i.e. 2% -> 35%; its files from 2025-11
                                                     on carry 3-6 garbage rows each (quarantined
                                                     by intake) and from 2026-03 on arrive 25-40
                                                     days after month end (due: 15 days)
northgate    youth housing        14     150 days    **small**: 10-20 enrollments a month, ages
                                                     16-24; race and age groups fall under the
                                                     suppression threshold (11)
elliott      rapid rehousing     110     110 days    PH p=0.52, no gap
puget        emergency shelter   130      35 days    PH p=0.28, no gap
===========  =================  ======  ===========  ==========================================

Other providers (harbor, rainier, northgate, elliott, puget) have the same PH probability for
every race. Non-PH exits split temporary 50%, unknown 30%, institutional 12%, other 8%.

System-wide returns: a household head who exits to PH starts a new episode with *any* provider
(chosen in proportion to volume, so mostly another provider) with p=0.18, 15 + Exp(220) days
later (so ~14% return within 12 months, beyond the 14-day transfer window); after a non-PH exit
p=0.30, 15 + Exp(90) days later. Referral-to-enrollment waits shrink by 25% over the 24 months
system-wide (an optional, gentle improvement story). Cost = provider type's cost per day (with
+-10% noise per episode) x days enrolled (to the exit, or to the end of the last period).

Family preservation demo (``parameters/programs/family_preservation.yaml``, field
``child_welfare``): one episode per family (the client is the youngest child; ``age_at_entry``
is that child's age), ``months_of_service`` (days / 30.44, one decimal) and
``subsequent_involvement_12m`` (a screened-in report within 12 months of case closure: p=0.12
after 3+ months of service, p=0.27 after less; null until the 12 months have passed or the
report happened). Story: ``eastside``'s families complete 3+ months far less often (median
stay 70 days vs 130 days elsewhere), so more of them come back.

Re-entry demo (``parameters/programs/reentry.yaml``, field ``reentry``, biweekly meetings):
one episode per participant (about 2,100 at ``scale=1.0``; 28-40 a month per provider). Each
has a first day of job training scheduled 1 + Exp(9) days after enrolment
(``training_start_date``; blank past the horizon or after the participant left) and
``attended_first_day`` drawn with the provider's probability (hudson 0.68, gateway 0.64,
crossroads 0.58, liberty 0.50). Story: liberty hands out transit cards from
``LIBERTY_CHANGE`` (2026-06-01) and its attendance rises to ``LIBERTY_RATE`` (0.80). The
monthly files report a first day (and whether it was attended) once it has come.

``_period`` is the month of the last submission that reports the row: the exit month (the last
period for episodes still open); for programs with a 12-month follow-up outcome, the month the
follow-up outcome became known (capped at the last period).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from acm_helpers.core.calendar import period_bounds
from acm_helpers.core.config import Program
from acm_helpers.core.errors import ConfigError
from acm_helpers.core.schema import EPISODE_COLUMNS, conform_episodes
from acm_helpers.demo.scenarios import (  # noqa: F401  (re-exported for tests and docs)
    CASCADE_RATES,
    DEFAULT_PROFILE,
    FAMILY,
    HARBOR_CHANGE,
    HARBOR_RATES,
    HOMELESS,
    INVOLVEMENT_RATES,
    LIBERTY_CHANGE,
    LIBERTY_RATE,
    NON_PH_CLASSES,
    OTHER_MISSING,
    RAINIER_MISSING,
    REFERRAL_IMPROVEMENT,
    RETURNS,
    SCENARIOS,
    TRAINING_DAYS,
    Profile,
    Scenario,
)

DEFAULT_SEED = 20261023
DAYS_PER_MONTH = 30.44
LEAD_MONTHS = 12  # enrollments this many months before first_period form the opening caseload
PICK_CELLS = 2_000_000  # returning clients x providers weighed at once (~16 MB per array)


def scenario_for(program: Program) -> Scenario:
    """The demo scenario of a program's field; unknown fields fail with the known ones."""
    if program.field not in SCENARIOS:
        raise ConfigError(
            f"No demo scenario for field {program.field!r} of program {program.id}. "
            f"Known fields: {', '.join(SCENARIOS)}; set `field:` in the program file."
        )
    return SCENARIOS[program.field]


def generate(program: Program, seed: int = DEFAULT_SEED, scale: float = 1.0) -> pd.DataFrame:
    """Generate the canonical episodes of every provider of a demo program.

    Why: a reproducible, realistic data set with known stories lets every later stage be
    demonstrated and tested end to end without real client data.

    Args:
        program: a loaded program (its ``field`` picks the scenario: homelessness or
            child_welfare); providers not in the scenario get a plain default profile.
        seed: seed of the one ``numpy.random.Generator`` used.
        scale: multiplies every volume (0.25 gives about a quarter of the episodes).

    Returns:
        One row per episode: ``schema.EPISODE_COLUMNS``, the program's outcome columns, and
        ``_period`` (the month of the last submission reporting the row), sorted by provider and
        episode id.
    """
    if not scale > 0:
        raise ConfigError(f"scale must be positive, got {scale}.")
    scen = scenario_for(program)
    rng = np.random.default_rng(seed)
    periods = program.periods()
    start = pd.Timestamp(period_bounds(periods[0])[0])
    horizon = pd.Timestamp(period_bounds(periods[-1])[1])
    heads = _enrollments(program, scen, rng, scale, start, horizon)
    frames, round_ = [], _with_members(heads, program, scen, rng)
    for _ in range(4):  # returns of returns; the fourth round is empty in practice
        round_ = _stays_and_outcomes(round_, program, scen, rng, horizon)
        frames.append(round_)
        round_ = _returns(round_, program, scen, rng, horizon)
        if round_.empty:
            break
    eps = pd.concat(frames, ignore_index=True)
    eps = eps[eps["exit_date"].isna() | (eps["exit_date"] >= start)]
    return _finish(eps, program, scen, rng, start, horizon)


# -- drawing ------------------------------------------------------------------------------------
def _profile(scen: Scenario, provider_id: str) -> Profile:
    return scen.profiles.get(provider_id, DEFAULT_PROFILE)


def _draw(
    rng: np.random.Generator, codes: list[str], weights: dict[str, float], n: int
) -> np.ndarray:
    """Draw codes by weight; program codes absent from the weights get a small weight."""
    w = np.array([weights.get(c, 0.01) for c in codes], dtype=float)
    return rng.choice(np.array(codes, dtype=object), size=n, p=w / w.sum())


def _months(first: pd.Timestamp, last: pd.Timestamp) -> pd.DatetimeIndex:
    return pd.date_range(first, last, freq="MS")


def _enrollments(
    program: Program,
    scen: Scenario,
    rng: np.random.Generator,
    scale: float,
    start: pd.Timestamp,
    horizon: pd.Timestamp,
) -> pd.DataFrame:
    """Household heads: provider, enrollment date, stable client attributes."""
    # the draws go in the order they always went (per provider, per month: a count, then that
    # many days), but into arrays: one frame at the end, not one per provider-month
    months = _months(start - pd.DateOffset(months=LEAD_MONTHS), horizon)
    counts, days = [], []
    for prov in program.providers:
        lam = _profile(scen, prov.id).volume * scale
        for month in months:
            n = rng.poisson(lam)
            days.append(rng.integers(0, month.days_in_month, size=n))
            counts.append(n)
    cells = np.repeat(np.arange(len(counts)), counts)
    ids = np.array(program.provider_ids, dtype=object)
    first_days = months.to_numpy()[cells % len(months)]
    heads = pd.DataFrame(
        {
            "provider_id": ids[cells // len(months)],
            "enrollment_date": first_days
            + np.concatenate(days or [np.zeros(0, dtype=np.int64)]).astype("timedelta64[D]"),
        }
    )
    n = len(heads)
    heads["client_id"] = np.arange(n)
    heads["race_ethnicity"] = _draw(
        rng, program.codes.get("race_ethnicity", list(scen.race_weights)), scen.race_weights, n
    )
    heads["gender"] = _draw(
        rng, program.codes.get("gender", list(scen.gender_weights)), scen.gender_weights, n
    )
    lo = _per_provider(heads["provider_id"], lambda p: _profile(scen, p).ages[0]).to_numpy()
    hi = _per_provider(heads["provider_id"], lambda p: _profile(scen, p).ages[1]).to_numpy()
    ages = lo + np.floor(rng.beta(1.6, 2.2, n) * (hi - lo + 1)).astype(int)
    heads["birth_date"] = _birth_dates(heads["enrollment_date"], ages, rng)
    heads["zip"] = _zips(rng, scen, heads["provider_id"])
    share = _per_provider(heads["provider_id"], lambda p: _profile(scen, p).household_share)
    share = share.to_numpy()
    heads["household_size"] = np.where(rng.random(n) < share, 2 + rng.poisson(0.8, n), 1).clip(1, 5)
    heads["is_head"] = True
    return heads


def _birth_dates(enrolled: pd.Series, ages: np.ndarray, rng: np.random.Generator) -> pd.Series:
    """Birth dates that make ``ages`` the exact age on the enrollment date."""
    offset = np.floor(ages * 365.25 + rng.integers(1, 364, len(ages))).astype(int)
    return enrolled.reset_index(drop=True) - pd.to_timedelta(offset, unit="D")


def _per_provider(providers: pd.Series, value) -> pd.Series:
    """``value(provider)`` for every row, called once per distinct provider.

    Why: the per-row lookups made generating 10 million episodes take hours.
    """
    return providers.map({p: value(p) for p in providers.unique()})


def _zips(rng: np.random.Generator, scen: Scenario, providers: pd.Series) -> np.ndarray:
    """One zip per row, weighted 3:1 towards the provider profile's zips.

    The same numbers as ``rng.choice(len(scen.zips), p=w / w.sum())`` called row by row (one
    uniform draw each, looked up in the row's cumulative weights, as numpy's ``choice`` does),
    in one draw: the demo data did not change when this was vectorised.
    """
    zips = np.array([str(z) for z in scen.zips], dtype=object)
    weights: dict[tuple, int] = {}
    which = _per_provider(
        providers,
        lambda p: weights.setdefault(
            tuple(3.0 if z in _profile(scen, p).zips else 1.0 for z in scen.zips), len(weights)
        ),
    ).to_numpy()
    u = rng.random(len(providers))
    out = np.empty(len(providers), dtype=object)
    for w, i in weights.items():
        p = np.array(w) / sum(w)
        cdf = p.cumsum()
        cdf /= cdf[-1]
        rows = which == i
        out[rows] = zips[cdf.searchsorted(u[rows], side="right")]
    return out


def _with_members(
    heads: pd.DataFrame, program: Program, scen: Scenario, rng: np.random.Generator
) -> pd.DataFrame:
    """Add the other members of multi-person households (mostly children)."""
    heads = heads.copy()
    heads["household_id"] = np.arange(len(heads))
    multi = heads[heads["household_size"] > 1]
    members = multi.loc[multi.index.repeat(multi["household_size"] - 1)].copy()
    m = len(members)
    child = rng.random(m) < 0.75
    ages = np.where(child, rng.integers(0, 18, m), rng.integers(18, 56, m))
    members["birth_date"] = _birth_dates(members["enrollment_date"], ages, rng).to_numpy()
    genders = [g for g in program.codes.get("gender", list(scen.gender_weights))][:2]
    members["gender"] = rng.choice(np.array(genders, dtype=object), size=m)
    members["client_id"] = len(heads) + np.arange(m)
    members["is_head"] = False
    return pd.concat([heads, members], ignore_index=True)


# -- stays, outcomes and returns ----------------------------------------------------------------
def _stays_and_outcomes(
    eps: pd.DataFrame,
    program: Program,
    scen: Scenario,
    rng: np.random.Generator,
    horizon: pd.Timestamp,
) -> pd.DataFrame:
    """Length of stay per household, exit date (blank past the horizon) and outcomes."""
    eps = eps.copy()
    hh = eps.groupby("household_id", sort=False)["provider_id"].first()
    med = _per_provider(hh, lambda p: _profile(scen, p).los_days).to_numpy(dtype=float)
    sig = _per_provider(hh, lambda p: _profile(scen, p).los_sigma).to_numpy(dtype=float)
    los = pd.Series(
        np.maximum(1, np.round(med * np.exp(sig * rng.standard_normal(len(hh))))), index=hh.index
    )
    eps["_los"] = eps["household_id"].map(los).astype(int)
    exit_ = eps["enrollment_date"] + pd.to_timedelta(eps["_los"], unit="D")
    eps["exit_date"] = exit_.where(exit_ <= horizon)
    u = pd.Series(rng.random(len(hh)), index=hh.index)
    eps["_u"] = eps["household_id"].map(u)  # one draw per household: members share the outcome
    if program.field == "child_welfare":
        return _family_outcomes(eps, rng, horizon)
    if program.field == "reentry":
        return _reentry_outcomes(eps, scen, rng, horizon)
    return _homeless_destinations(eps, program, scen, rng)


def _homeless_destinations(
    eps: pd.DataFrame, program: Program, scen: Scenario, rng: np.random.Generator
) -> pd.DataFrame:
    p = _per_provider(eps["provider_id"], lambda x: _profile(scen, x).outcome_rate).astype(float)
    harbor = eps["provider_id"] == "harbor"
    after = eps["exit_date"] >= pd.Timestamp(HARBOR_CHANGE + "-01")
    p = p.mask(harbor, np.where(after, HARBOR_RATES[1], HARBOR_RATES[0]))
    for race, rate in CASCADE_RATES.items():
        p = p.mask((eps["provider_id"] == "cascade") & (eps["race_ethnicity"] == race), rate)
    permanent = eps["_u"] < p
    hh_u = (eps["_u"] - p) / (1 - p)  # uniform again among non-PH leavers
    cuts = np.cumsum(list(NON_PH_CLASSES.values()))
    other = np.array(list(NON_PH_CLASSES), dtype=object)[
        np.searchsorted(cuts, hh_u.clip(0, 0.999999))
    ]
    cls = pd.Series(np.where(permanent, "permanent", other), index=eps.index)
    by_class: dict[str, list[str]] = {}
    for code, c in program.destinations.items():
        by_class.setdefault(c, []).append(code)
    codes = pd.Series(_codes_of_classes(cls.to_numpy(), by_class, rng), index=eps.index)
    has_exit = eps["exit_date"].notna()
    eps["destination_class"] = cls.where(has_exit)
    eps["exit_destination"] = codes.where(has_exit)
    return eps


def _codes_of_classes(
    classes: np.ndarray, by_class: dict[str, list[str]], rng: np.random.Generator
) -> np.ndarray:
    """For each row, one of its class's codes, as ``codes[rng.integers(len(codes))]`` row by row
    would pick it (a class without codes gives ``""``).

    Why the care: numpy draws ``integers(k)`` as one 32-bit number scaled by ``k`` (Lemire's
    method; a class of one code draws nothing), so the rows' picks are computed from one block
    of 32-bit draws and the demo data is the same as before this was vectorised. In the rare case
    that Lemire's method would have drawn again for a row, the row-by-row loop runs instead, from
    the same generator state.
    """
    names = {c: i for i, c in enumerate(by_class)}
    lists = [np.array(v, dtype=object) for v in by_class.values()] + [np.array([""], dtype=object)]
    idx = pd.Series(classes).map(names).fillna(len(lists) - 1).to_numpy(dtype=np.int64)
    k = np.array([len(v) for v in lists], dtype=np.uint64)[idx]
    state = rng.bit_generator.state
    draws = k > 1
    m = rng.integers(0, 2**32, size=int(draws.sum()), dtype=np.uint32).astype(np.uint64) * k[draws]
    leftover = m & np.uint64(0xFFFFFFFF)
    threshold = (np.uint64(2**32) - k[draws]) % k[draws]
    if np.any(leftover < threshold):  # Lemire would have drawn again: the plain loop
        rng.bit_generator.state = state
        return np.array([lists[i][rng.integers(len(lists[i]))] for i in idx], dtype=object)
    pick = np.zeros(len(classes), dtype=np.int64)
    pick[draws] = (m >> np.uint64(32)).astype(np.int64)
    out = np.empty(len(classes), dtype=object)
    for i, codes in enumerate(lists):
        rows = idx == i
        out[rows] = codes[pick[rows]]
    return out


def _family_outcomes(
    eps: pd.DataFrame, rng: np.random.Generator, horizon: pd.Timestamp
) -> pd.DataFrame:
    end = eps["exit_date"].fillna(horizon)
    eps["months_of_service"] = ((end - eps["enrollment_date"]).dt.days / DAYS_PER_MONTH).round(1)
    p = np.where(eps["months_of_service"] >= 3, INVOLVEMENT_RATES[1], INVOLVEMENT_RATES[0])
    involved = eps["_u"] < p
    when = eps["exit_date"] + pd.to_timedelta(rng.integers(1, 366, len(eps)), unit="D")
    window_end = eps["exit_date"] + pd.Timedelta(days=365)
    known_true = involved & (when <= horizon)
    known_false = ~involved & (window_end <= horizon)
    value = pd.Series(pd.NA, index=eps.index, dtype="boolean")
    value[known_true] = True
    value[known_false] = False
    eps["subsequent_involvement_12m"] = value.where(eps["exit_date"].notna())
    eps["_known"] = when.where(involved, window_end).where(value.notna())
    eps["destination_class"] = pd.NA
    eps["exit_destination"] = pd.NA
    return eps


def _reentry_outcomes(
    eps: pd.DataFrame, scen: Scenario, rng: np.random.Generator, horizon: pd.Timestamp
) -> pd.DataFrame:
    """Job training: a first day scheduled 1 + Exp(TRAINING_DAYS - 1) days after intake (blank
    when it falls after the horizon or after the participant left), attended with the provider's
    probability (liberty's rises to LIBERTY_RATE from LIBERTY_CHANGE)."""
    gap = 1 + np.round(rng.exponential(TRAINING_DAYS - 1, len(eps)))
    first_day = eps["enrollment_date"] + pd.to_timedelta(gap, unit="D")
    scheduled = (first_day <= horizon) & (eps["exit_date"].isna() | (first_day <= eps["exit_date"]))
    p = _per_provider(eps["provider_id"], lambda x: _profile(scen, x).outcome_rate).astype(float)
    later = (eps["provider_id"] == "liberty") & (first_day >= pd.Timestamp(LIBERTY_CHANGE))
    p = p.mask(later, LIBERTY_RATE)
    eps["training_start_date"] = first_day.where(scheduled)
    eps["attended_first_day"] = pd.Series(eps["_u"] < p, dtype="boolean").where(scheduled)
    eps["destination_class"] = pd.NA
    eps["exit_destination"] = pd.NA
    return eps


def _returns(
    eps: pd.DataFrame,
    program: Program,
    scen: Scenario,
    rng: np.random.Generator,
    horizon: pd.Timestamp,
) -> pd.DataFrame:
    """New episodes for heads who come back to services (any provider) after an exit."""
    if program.field in ("child_welfare", "reentry"):
        return eps.iloc[0:0]
    left = eps[eps["is_head"] & eps["exit_date"].notna()]
    ph = left["destination_class"] == "permanent"
    prob = np.where(ph, RETURNS["permanent"][0], RETURNS["other"][0])
    mean = np.where(ph, RETURNS["permanent"][1], RETURNS["other"][1])
    pick = rng.random(len(left)) < prob
    back = left[pick].copy()
    gap = 15 + np.round(rng.exponential(mean[pick]))
    back["enrollment_date"] = back["exit_date"] + pd.to_timedelta(gap, unit="D")
    back = back[back["enrollment_date"] <= horizon]
    back["provider_id"] = _pick_providers(back, program, scen, rng)
    back["household_id"] = eps["household_id"].max() + 1 + np.arange(len(back))
    back["household_size"] = 1
    keep = [
        "provider_id",
        "enrollment_date",
        "client_id",
        "race_ethnicity",
        "gender",
        "birth_date",
        "zip",
        "household_size",
        "is_head",
        "household_id",
    ]
    return back[keep].reset_index(drop=True)


def _pick_providers(
    back: pd.DataFrame, program: Program, scen: Scenario, rng: np.random.Generator
) -> np.ndarray:
    """Providers for returning clients: by volume, among those serving the client's age."""
    ids = program.provider_ids
    age = _age(back["birth_date"], back["enrollment_date"]).to_numpy(dtype=float)
    lo = np.array([_profile(scen, p).ages[0] for p in ids])
    hi = np.array([_profile(scen, p).ages[1] for p in ids])
    vol = np.array([_profile(scen, p).volume for p in ids], dtype=float)
    u = rng.random(len(back))
    pick = np.empty(len(back), dtype=np.int64)
    step = max(1, PICK_CELLS // max(len(ids), 1))
    for s in range(0, len(back), step):
        a = age[s : s + step, None]
        w = vol * ((a >= lo) & (a <= hi))
        w[w.sum(axis=1) == 0] = vol  # nobody serves that age: any provider
        cum = np.cumsum(w / w.sum(axis=1, keepdims=True), axis=1)
        pick[s : s + step] = (u[s : s + step, None] > cum).sum(axis=1)
    return np.array(ids, dtype=object)[pick.clip(0, len(ids) - 1)]


# -- finishing: ids, referral, cost, data quality, column order --------------------------------
def _finish(
    eps: pd.DataFrame,
    program: Program,
    scen: Scenario,
    rng: np.random.Generator,
    start: pd.Timestamp,
    horizon: pd.Timestamp,
) -> pd.DataFrame:
    eps = eps.sort_values(
        ["provider_id", "enrollment_date", "household_id", "is_head"],
        ascending=[True, True, True, False],
        kind="stable",
    ).reset_index(drop=True)
    n = len(eps)
    first = pd.Period(start, "M")
    enrolled = eps["enrollment_date"].dt
    month_idx = (enrolled.year - first.year) * 12 + (enrolled.month - first.month)
    span = max(len(program.periods()) - 1, 1)
    # referral: median wait per provider, shrinking over the program's months
    med = _per_provider(eps["provider_id"], lambda p: _profile(scen, p).referral_days)
    med = med.to_numpy(dtype=float)
    factor = 1 - REFERRAL_IMPROVEMENT * month_idx.clip(0, span).to_numpy() / span
    wait = np.round(med * factor * np.exp(0.7 * rng.standard_normal(n)))
    referral = eps["enrollment_date"] - pd.to_timedelta(wait, unit="D")
    eps["referral_date"] = referral.groupby(eps["household_id"]).transform("first")
    # cost: per-day cost of the provider type with +-10% noise, to the exit or the horizon
    days = ((eps["exit_date"].fillna(horizon) - eps["enrollment_date"]).dt.days).clip(lower=1)
    per_day = _per_provider(eps["provider_id"], lambda p: _profile(scen, p).cost_per_day)
    per_day = per_day.to_numpy(dtype=float)
    eps["cost"] = np.round(per_day * rng.uniform(0.9, 1.1, n) * days.to_numpy(), 2)
    # move-in date for rapid rehousing exits to permanent housing
    rrh = _per_provider(
        eps["provider_id"], lambda p: program.provider(p).program == "rapid_rehousing"
    )
    move = eps["enrollment_date"] + pd.to_timedelta(
        np.floor(rng.uniform(0.2, 0.8, n) * days.clip(upper=120).to_numpy()), unit="D"
    )
    eps["move_in_date"] = move.where(rrh & (eps["destination_class"] == "permanent"))
    # data quality: blanks, rising over time at the falling-quality provider
    lo, hi = RAINIER_MISSING
    trend = lo + (hi - lo) * month_idx.clip(0, span).to_numpy() / span
    for col, base in OTHER_MISSING.items():
        p = np.where(eps["provider_id"] == scen.garbage_provider, trend, base)
        blank = rng.random(n) < p
        eps[col] = eps[col].mask(blank)
    # ids and derived attributes
    perm = rng.permutation(eps["client_id"].max() + 1)
    eps["client_id"] = [f"C{perm[c] + 100000:07d}" for c in eps["client_id"]]
    eps["household_id"] = [f"H{h + 500000:07d}" for h in eps["household_id"]]
    seq = eps.groupby("provider_id").cumcount() + 1
    eps["episode_id"] = [
        f"{p[:3].upper()}-{s:06d}" for p, s in zip(eps["provider_id"], seq, strict=True)
    ]
    eps["age_at_entry"] = _age(eps["birth_date"], eps["enrollment_date"])
    eps["program"] = _per_provider(
        eps["provider_id"], lambda p: program.provider(p).program or program.id
    )
    eps["_period"] = _last_period(eps, program, scen, horizon)
    cols = list(EPISODE_COLUMNS) + [c for c in program.outcomes if c not in EPISODE_COLUMNS]
    out = conform_episodes(eps[cols + ["_period"]], program)
    return out.sort_values(["provider_id", "episode_id"], kind="stable").reset_index(drop=True)


def _age(birth: pd.Series, at: pd.Series) -> pd.Series:
    """Whole years from ``birth`` to ``at`` (calendar age, not days / 365)."""
    years = at.dt.year - birth.dt.year
    before = (at.dt.month < birth.dt.month) | (
        (at.dt.month == birth.dt.month) & (at.dt.day < birth.dt.day)
    )
    return (years - before.astype(int)).astype("Int64")


def _last_period(
    eps: pd.DataFrame, program: Program, scen: Scenario, horizon: pd.Timestamp
) -> pd.Series:
    """Month of the last submission reporting each row (see the module docstring)."""
    last = eps["exit_date"]
    if scen.follow_up_months and "_known" in eps:
        pending = eps["exit_date"].notna() & eps["_known"].isna()
        last = eps["_known"].where(eps["_known"].notna(), last.where(~pending, horizon))
    return last.fillna(horizon).dt.strftime("%Y-%m")
