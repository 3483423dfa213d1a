"""Fields derived at load, system-wide: the agency's administrative view that providers lack.

A provider sees only its own clients; the agency sees every provider's episodes, so it can tell
whether a client who exited to permanent housing came back to services anywhere within 6, 12 or
24 months. These are pure transforms: ``(frame, as_of) -> frame``.
"""

from __future__ import annotations

from datetime import date

import pandas as pd

# HUD SPM Measure 2 windows: returns in less than 6 months (0-180 days), 12 and 24 months.
RETURN_WINDOWS = {"return_6m": 180, "return_12m": 365, "return_24m": 730}


def derive_episodes(episodes: pd.DataFrame, as_of: date | None = None) -> pd.DataFrame:
    """Add the derived columns listed in ``schema.DERIVED_COLUMNS``.

    Args:
        episodes: canonical episodes of every provider (one row per episode).
        as_of: the date data is complete to; stayers' length of stay runs to it, and a return
            window that has not fully elapsed by then is left null (not counted as "no return").
    """
    out = episodes.copy()
    for col in ("enrollment_date", "referral_date", "exit_date", "move_in_date"):
        if col in out:
            out[col] = pd.to_datetime(out[col], errors="coerce")
        else:
            out[col] = pd.NaT
    as_of_ts = pd.Timestamp(as_of) if as_of else out[["enrollment_date", "exit_date"]].max().max()
    out["is_leaver"] = out["exit_date"].notna()
    out["days_referral_to_enrollment"] = (
        out["enrollment_date"] - out["referral_date"]
    ).dt.days.astype("Int64")
    end = out["exit_date"].fillna(as_of_ts)
    out["length_of_stay_days"] = (end - out["enrollment_date"]).dt.days.astype("Int64")
    out["days_to_move_in"] = (out["move_in_date"] - out["enrollment_date"]).dt.days.astype("Int64")
    returns = flag_returns(out, as_of_ts)
    for col in RETURN_WINDOWS:
        out[col] = returns[col]
    return out


def flag_returns(episodes: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """For each exit to a permanent destination, did the client start another episode (with any
    provider) within each window? Null when the exit was not to a permanent destination or the
    window had not elapsed by ``as_of`` (and the client had not returned by then).

    Windows and rules follow HUD System Performance Measure 2 (FY2024 programming
    specifications, Measure 2a/2b): returns in 0-180, 0-365 and 0-730 days, found by
    ``hud.days_to_return``. For HMIS episodes (``program`` is a HUD project type) a new
    homeless-project start on or after the exit is a return; a permanent housing start counts only
    more than 14 days after the exit and not within 14 days of another PH stay (a PH-to-PH move is
    a transfer); other project types (prevention, services only ...) are not returns. For any other
    program, any new episode more than 14 days after the exit is a return (the same 14-day
    transfer rule, applied to every re-entry).
    """
    from acm_helpers.core.hud import days_to_return

    cols = list(RETURN_WINDOWS)
    result = pd.DataFrame(
        {c: pd.array([pd.NA] * len(episodes), dtype="boolean") for c in cols}, index=episodes.index
    )
    if episodes.empty or "destination_class" not in episodes:
        return result
    exits = episodes[(episodes["destination_class"] == "permanent") & episodes["exit_date"].notna()]
    if exits.empty:
        return result
    frame = episodes if "program" in episodes else episodes.assign(program="")
    gap = days_to_return(frame, as_of).reindex(exits.index)
    for col, days in RETURN_WINDOWS.items():
        elapsed = ((as_of - exits["exit_date"]).dt.days >= days).to_numpy()
        returned = (gap <= days).fillna(False).to_numpy(dtype=bool)
        value = pd.array(returned, dtype="boolean")
        value[~elapsed & ~returned] = pd.NA
        result.loc[exits.index, col] = value
    return result
