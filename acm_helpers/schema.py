"""Canonical tables, declared once. Intake validates against these on the way in; the store and
the engine check them on the way out.

The canonical record is one service episode (one client enrollment with one provider). See
ARCHITECTURE.md, "Canonical record".
"""

from __future__ import annotations

# name -> (type, required). Types: str, date, int, float, bool.
EPISODE_COLUMNS: dict[str, tuple[str, bool]] = {
    "episode_id": ("str", True),
    "client_id": ("str", True),
    "provider_id": ("str", True),
    "program": ("str", True),
    "enrollment_date": ("date", True),
    "referral_date": ("date", False),
    "exit_date": ("date", False),
    "exit_destination": ("str", False),
    "destination_class": ("str", False),
    "race_ethnicity": ("str", False),
    "gender": ("str", False),
    "birth_date": ("date", False),
    "age_at_entry": ("int", False),
    "zip": ("str", False),
    "household_id": ("str", False),
    "cost": ("float", False),
    "move_in_date": ("date", False),
}
REQUIRED_COLUMNS = [c for c, (_, req) in EPISODE_COLUMNS.items() if req]

# Columns the store adds to every loaded row (lineage): which submission and row it came from.
LINEAGE_COLUMNS: dict[str, str] = {"_period": "str", "_submission": "str", "_row": "int"}

# Columns derived at load, system-wide (see acm_helpers.derive). The engine may use them in
# metric expressions; providers cannot compute them from their own data.
DERIVED_COLUMNS: dict[str, str] = {
    "days_referral_to_enrollment": "int",
    "length_of_stay_days": "int",  # exit (or as-of date for stayers) minus enrollment
    "is_leaver": "bool",
    "return_6m": "bool",  # null unless the episode exited to a permanent destination
    "return_12m": "bool",
    "return_24m": "bool",
    "days_to_move_in": "int",
}

DESTINATION_CLASSES = ["permanent", "temporary", "institutional", "other", "unknown"]

# metric_values: the engine's output; every chart, packet, dashboard and report reads it.
METRIC_VALUE_COLUMNS: dict[str, str] = {
    "version": "str",  # hash of inputs + metric definitions
    "provider_id": "str",  # a provider id, or "__all__" for the whole program
    "period": "str",  # YYYY-MM, YYYY-Qn, YYYY, or "term"
    "grain": "str",  # month | quarter | year | term
    "metric_id": "str",
    "dimension": "str",  # "" for the overall value, else a dimension id
    "group": "str",  # "" for the overall value, else the group label
    "numerator": "float",
    "denominator": "float",
    "value": "float",
    "ci_low": "float",
    "ci_high": "float",
    "suppressed": "bool",  # True: numerator/denominator/value/ci are null in every output
    "math": "str",  # "12 exits to PH / 20 leavers = 60%"
}

# meetings and action_items (owner: acm_helpers.actions). Dates are stored as timestamps.
MEETING_COLUMNS: dict[str, str] = {
    "meeting_id": "str",  # "<provider>-<YYYY-MM-DD>"
    "provider_id": "str",
    "meeting_date": "date",
    "period": "str",  # the data period discussed (YYYY-MM)
    "attendees": "str",  # "; "-separated
    "notes": "str",
}
ACTION_ITEM_COLUMNS: dict[str, str] = {
    "item_id": "str",  # "<provider>-<NNN>"
    "provider_id": "str",
    "meeting_date": "date",  # the meeting that agreed the item
    "owner": "str",
    "due_date": "date",
    "status": "str",  # open | closed
    "metric_id": "str",  # "" when not linked to a metric
    "text": "str",
    "closed_date": "date",  # null while open
    "resolution": "str",
}
