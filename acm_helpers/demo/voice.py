"""Demo survey responses and frontline reports, written as files and loaded through intake.

The stories (``scenarios.VOICE_DROP``, ``scenarios.FRONTLINE_RISE``): one provider's
satisfaction falls for one group from one month on, and frontline reports of transportation
problems rise at one provider. Files: ``<root>/surveys/<period>/<provider>.csv`` and
``<root>/frontline/<period>/<provider>.csv``, apart from the episode submissions so that a
folder given to `acm intake` holds one kind of file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from acm_helpers.core.calendar import period_bounds
from acm_helpers.core.config import Program
from acm_helpers.demo import scenarios as sc
from acm_helpers.intake.voice import intake_voice_file

COMMENTS_GOOD = (
    "Staff were kind and patient with me.",
    "My case manager helped me find an apartment.",
    "The meals were good and the beds were clean.",
)
COMMENTS_BAD = (
    "Nobody called me back about my housing application.",
    "I missed appointments because the bus passes ran out.",
    "I did not feel listened to at intake.",
)
FRONTLINE_TEXT = {
    "transportation": "Client could not get to a housing viewing: no bus tickets at the site.",
    "clothing": "Client left without winter clothing; the site said supplies had run out.",
    "service_access": "Referral for behavioural health support not followed up within a week.",
    "communication": "Provider did not return the caseworker's calls for several days.",
}


def survey_rows(program: Program, episodes: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Responses: each month a share of the clients served answer (see the module docstring)."""
    if program.client_voice is None:
        return pd.DataFrame()
    rng = np.random.default_rng(seed + 19)
    drop_provider, drop_group, drop_from, drop_rate = sc.VOICE_DROP
    enrol = pd.to_datetime(episodes["enrollment_date"])
    exits = pd.to_datetime(episodes["exit_date"])
    parts = []
    for period in program.periods():
        start, end = (pd.Timestamp(d) for d in period_bounds(period))
        open_ = episodes[(enrol <= end) & (exits.isna() | (exits >= start))]
        pick = open_[rng.random(len(open_)) < sc.VOICE_RESPONSE_RATE]
        n = len(pick)
        low = (
            (pick["provider_id"] == drop_provider)
            & (pick["race_ethnicity"] == drop_group)
            & (period >= drop_from)
        ).to_numpy()
        happy = rng.random(n) < np.where(low, drop_rate, sc.VOICE_SATISFIED)
        overall = np.where(happy, rng.integers(4, 6, n), rng.integers(1, 4, n))
        says = rng.random(n) < 0.15
        good, bad = rng.choice(COMMENTS_GOOD, n), rng.choice(COMMENTS_BAD, n)
        days = rng.integers(0, (end - start).days + 1, n)
        parts.append(
            pd.DataFrame(
                {
                    "provider_id": pick["provider_id"].to_numpy(),
                    "response_date": (start + pd.to_timedelta(days, unit="D")).strftime("%Y-%m-%d"),
                    "episode_id": pick["episode_id"].to_numpy(),
                    "respondent_id": "",
                    "overall": overall,
                    "respected": np.clip(overall + rng.integers(-1, 2, n), 1, 5),
                    "recommend": np.clip(2 * overall + rng.integers(-1, 1, n), 0, 10),
                    "comment": np.where(says, np.where(happy, good, bad), ""),
                    "_period": period,
                }
            )
        )
    out = pd.concat(parts, ignore_index=True)
    out.insert(0, "response_id", [f"sr-{i:07d}" for i in range(len(out))])
    return out


def frontline_rows(program: Program, seed: int) -> pd.DataFrame:
    """Reports per provider, month and category: Poisson counts, one provider's rising."""
    if program.frontline is None:
        return pd.DataFrame()
    rng = np.random.default_rng(seed + 23)
    rise_provider, rise_category, rise_from, rise_mean = sc.FRONTLINE_RISE
    rows = []
    for period in program.periods():
        start, end = (pd.Timestamp(d) for d in period_bounds(period))
        for pid in program.provider_ids:
            for cat in program.frontline.categories:
                mean = sc.FRONTLINE_MONTHLY.get(cat, 0.5)
                if (pid, cat) == (rise_provider, rise_category) and period >= rise_from:
                    mean = rise_mean
                for _ in range(int(rng.poisson(mean))):
                    day = int(rng.integers(0, (end - start).days + 1))
                    rows.append(
                        {
                            "report_id": f"fl-{pid}-{period}-{len(rows):05d}",
                            "provider_id": pid,
                            "report_date": (start + pd.Timedelta(days=day)).date().isoformat(),
                            "category": cat,
                            "description": FRONTLINE_TEXT.get(cat, "Problem reported."),
                            "reporter": "Coordinated entry caseworker",
                            "_period": period,
                        }
                    )
    return pd.DataFrame(rows)


def write_files(frame: pd.DataFrame, root: Path, up_to: str) -> list[Path]:
    """One file per provider, ``root/<up_to>/<provider>.csv``, with every row up to ``up_to``:
    the provider's survey export (or the caseworkers' log) as sent for the demo's month."""
    out = []
    if frame.empty:
        return out
    frame = frame[frame["_period"] <= up_to]
    for pid, g in frame.groupby("provider_id", sort=True):
        path = root / up_to / f"{pid}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        g.drop(columns="_period").to_csv(path, index=False)
        out.append(path)
    return out


def build_voice(
    program: Program, episodes: pd.DataFrame, root: Path, store, up_to: str, seed: int
) -> dict[str, int]:
    """Write and load the demo's survey and frontline files up to ``up_to``; rows loaded."""
    counts = {"survey": 0, "frontline": 0}
    kinds = (
        ("survey", root / "surveys", survey_rows(program, episodes, seed)),
        ("frontline", root / "frontline", frontline_rows(program, seed)),
    )
    received = (pd.Timestamp(period_bounds(up_to)[1]) + pd.Timedelta(days=5)).date()
    for kind, folder, rows in kinds:
        for path in write_files(rows, folder, up_to):
            res = intake_voice_file(path, program, store, kind, up_to, received)
            counts[kind] += res.rows_accepted
    return counts
