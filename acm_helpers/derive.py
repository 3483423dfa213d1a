"""Fields derived at load, system-wide: the agency's administrative view that providers lack.

A provider sees only its own clients; the agency sees every provider's episodes, so it can tell
whether a client who exited to permanent housing came back to services anywhere within 6, 12 or
24 months. These are pure transforms: ``(frame, as_of) -> frame``.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

RETURN_WINDOWS = {"return_6m": 183, "return_12m": 365, "return_24m": 730}


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
    out["days_referral_to_enrollment"] = (out["enrollment_date"] - out["referral_date"]).dt.days.astype("Int64")
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
    window had not elapsed by ``as_of``.

    Rule: a return is any later enrollment of the same client starting after the exit date and
    within the window; a re-entry within 14 days of the exit is treated as a transfer, not a
    return (HUD System Performance Measure 2 applies this to permanent-housing re-entries).
    """
    cols = list(RETURN_WINDOWS)
    result = pd.DataFrame({c: pd.array([pd.NA] * len(episodes), dtype="boolean") for c in cols}, index=episodes.index)
    if episodes.empty or "destination_class" not in episodes:
        return result
    exits = episodes[(episodes["destination_class"] == "permanent") & episodes["exit_date"].notna()]
    if exits.empty:
        return result
    starts = episodes[["client_id", "enrollment_date"]].dropna()
    pairs = exits[["client_id", "exit_date"]].reset_index().merge(starts, on="client_id", how="left")
    gap = (pairs["enrollment_date"] - pairs["exit_date"]).dt.days
    pairs["gap"] = gap.where(gap > 14)
    first_gap = pairs.groupby("index")["gap"].min()
    for col, days in RETURN_WINDOWS.items():
        elapsed = (as_of - exits["exit_date"]).dt.days >= days
        returned = first_gap.reindex(exits.index) <= days
        value = pd.array(np.where(returned, True, False), dtype="boolean")
        value[~elapsed.to_numpy() & ~returned.to_numpy()] = pd.NA
        result.loc[exits.index, col] = value
    return result
