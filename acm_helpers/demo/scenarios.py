"""Demo scenarios as data: per-provider profiles and the story parameters of each field.

Why a module of its own: :mod:`acm_helpers.demo.generate` holds the generator; this holds the numbers it
draws from, which the demo docstring documents and the tests check. Nothing here is read from
files or computed at import.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    """How one provider's episodes are drawn (volumes are per month at scale 1.0)."""

    volume: float
    los_days: float
    los_sigma: float = 0.7
    ages: tuple[int, int] = (25, 64)
    household_share: float = 0.0  # share of enrollments that are multi-person households
    referral_days: float = 8.0  # median days from referral to enrollment
    cost_per_day: float = 60.0
    zips: tuple[str, ...] = ()  # home neighbourhood zips, drawn three times as often
    outcome_rate: float = 0.40  # PH exit probability (homelessness) or base (others)


@dataclass(frozen=True)
class Scenario:
    """A field's demo: provider profiles, code weights and where the stories live."""

    profiles: dict[str, Profile]
    zips: tuple[str, ...]
    race_weights: dict[str, float]
    gender_weights: dict[str, float]
    formats: dict[str, tuple[str, str, str]]  # provider -> (ext, encoding, delimiter)
    garbage_provider: str = ""
    garbage_from: int = 12  # month index from which the garbage provider's files carry junk
    late_provider: str = ""
    late_from: int = 16
    follow_up_months: int = 0  # >0: a follow-up outcome keeps closed cases in submissions


KING_COUNTY_ZIPS = (
    "98101",
    "98104",
    "98108",
    "98118",
    "98122",
    "98125",
    "98133",
    "98144",
    "98168",
    "98178",
    "98198",
    "98002",
    "98003",
    "98032",
    "98055",
)
RACE = {
    "White": 0.38,
    "Black or African American": 0.29,
    "Hispanic or Latina/e/o": 0.13,
    "Asian or Asian American": 0.04,
    "American Indian, Alaska Native, or Indigenous": 0.06,
    "Native Hawaiian or Pacific Islander": 0.03,
    "Multiracial": 0.05,
    "Unknown": 0.02,
}

HOMELESS = Scenario(
    profiles={
        "harbor": Profile(105, 120, 0.6, (18, 64), 0.15, 21, 52, ("98101", "98104", "98122"), 0.33),
        "cascade": Profile(112, 45, 0.8, (18, 64), 0.25, 7, 68, ("98108", "98118", "98168"), 0.42),
        "rainier": Profile(110, 40, 0.8, (18, 70), 0.0, 6, 65, ("98118", "98144", "98178"), 0.32),
        "northgate": Profile(14, 150, 0.6, (16, 24), 0.0, 10, 95, ("98125", "98133"), 0.42),
        "elliott": Profile(
            78,
            110,
            0.6,
            (18, 64),
            0.15,
            18,
            50,
            ("98198", "98003", "98032", "98055", "98002"),
            0.52,
        ),
        "puget": Profile(
            95, 35, 0.8, (18, 70), 0.0, 5, 62, ("98104", "98101", "98122", "98144"), 0.28
        ),
    },
    zips=KING_COUNTY_ZIPS,
    race_weights=RACE,
    gender_weights={
        "Man (Boy, if child)": 0.58,
        "Woman (Girl, if child)": 0.385,
        "Transgender": 0.01,
        "Non-Binary": 0.015,
        "Unknown": 0.01,
    },
    formats={
        "cascade": ("csv", "latin-1", ";"),
        "elliott": ("xlsx", "", ""),
        "puget": ("csv", "utf-8-sig", ","),
    },
    garbage_provider="rainier",
    garbage_from=12,
    late_provider="rainier",
    late_from=16,
)

FAMILY = Scenario(
    profiles={
        "bridges": Profile(55, 130, 0.6, (0, 17), 0.0, 12, 38, ("98118", "98108", "98144")),
        "kinship": Profile(45, 130, 0.6, (0, 17), 0.0, 15, 35, ("98168", "98178", "98198")),
        "eastside": Profile(40, 70, 0.7, (0, 17), 0.0, 12, 40, ("98003", "98032", "98055")),
        "southend": Profile(35, 130, 0.6, (0, 17), 0.0, 10, 36, ("98002", "98003", "98198")),
        "salish": Profile(12, 150, 0.6, (0, 17), 0.0, 9, 42, ("98125", "98133")),
    },
    zips=KING_COUNTY_ZIPS,
    race_weights={
        "White": 0.42,
        "Black or African American": 0.22,
        "Hispanic or Latina/e/o": 0.15,
        "Asian or Asian American": 0.05,
        "American Indian, Alaska Native, or Indigenous": 0.07,
        "Native Hawaiian or Pacific Islander": 0.03,
        "Multiracial": 0.05,
        "Unknown": 0.01,
    },
    gender_weights={"Female": 0.49, "Male": 0.49, "Nonbinary": 0.01, "Unknown": 0.01},
    formats={"kinship": ("xlsx", "", ""), "southend": ("csv", "utf-8-sig", ",")},
    follow_up_months=12,
)

# re-entry (New York style: biweekly monitoring of first-day attendance at job training)
REENTRY = Scenario(
    profiles={
        # volume: new participants a month; los_days: median days in the program;
        # outcome_rate: probability of attending the first day of job training
        "hudson": Profile(40, 120, 0.5, (18, 60), 0.0, 6, 45, ("10027", "10031", "10035"), 0.68),
        "liberty": Profile(36, 110, 0.5, (18, 60), 0.0, 9, 42, ("10451", "10455", "10457"), 0.50),
        "gateway": Profile(32, 130, 0.5, (18, 60), 0.0, 7, 48, ("11206", "11212", "11233"), 0.64),
        "crossroads": Profile(
            28, 100, 0.5, (18, 60), 0.0, 8, 40, ("11691", "11434", "11433"), 0.58
        ),
    },
    zips=(
        "10027",
        "10031",
        "10035",
        "10451",
        "10455",
        "10457",
        "11206",
        "11212",
        "11233",
        "11691",
        "11434",
        "11433",
    ),
    race_weights={
        "Black or African American": 0.48,
        "Hispanic or Latina/e/o": 0.30,
        "White": 0.15,
        "Asian or Asian American": 0.03,
        "Multiracial": 0.03,
        "Unknown": 0.01,
    },
    gender_weights={"Man (Boy, if child)": 0.88, "Woman (Girl, if child)": 0.11, "Unknown": 0.01},
    formats={"gateway": ("xlsx", "", "")},
)

SCENARIOS = {"homelessness": HOMELESS, "child_welfare": FAMILY, "reentry": REENTRY}
DEFAULT_PROFILE = Profile(80, 60)

# homelessness stories (see the module docstring)
HARBOR_CHANGE = "2025-12"
HARBOR_RATES = (0.33, 0.55)
CASCADE_RATES = {"Black or African American": 0.25, "White": 0.50}
RAINIER_MISSING = (0.02, 0.35)
OTHER_MISSING = {"race_ethnicity": 0.01, "zip": 0.01, "referral_date": 0.03}
RETURNS = {"permanent": (0.18, 220.0), "other": (0.30, 90.0)}  # probability, mean extra days
NON_PH_CLASSES = {"temporary": 0.50, "unknown": 0.30, "institutional": 0.12, "other": 0.08}
REFERRAL_IMPROVEMENT = 0.25
# re-entry stories: liberty hands out transit cards from this day on (first-day attendance rises
# from its base to LIBERTY_RATE: a change the biweekly control chart should catch); training
# starts TRAINING_DAYS (median) after intake
LIBERTY_CHANGE = "2026-06-01"
LIBERTY_RATE = 0.80
TRAINING_DAYS = 10.0
# family preservation stories
INVOLVEMENT_RATES = (0.27, 0.12)  # < 3 months of service, 3+ months


# -- client voice and frontline stories (issue 19; acm_helpers.demo.voice) -------------------------
# One provider's clients grow less satisfied, for one group only, from one month on; frontline
# caseworkers report more transportation problems at one provider from one month on.
VOICE_RESPONSE_RATE = 0.4  # share of clients served each month who answer the survey
VOICE_SATISFIED = 0.84  # chance a respondent answers 4 or 5 on "overall"
VOICE_DROP = ("puget", "Black or African American", "2026-04", 0.35)  # provider, group, from, rate
FRONTLINE_MONTHLY = {
    "transportation": 1.5,
    "clothing": 1.0,
    "service_access": 0.8,
    "communication": 0.7,
}
FRONTLINE_RISE = (
    "puget",
    "transportation",
    "2026-04",
    7.0,
)  # provider, category, from, monthly mean
