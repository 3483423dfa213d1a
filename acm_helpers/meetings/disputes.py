"""Disputed items on a payment statement: recorded, resolved, and kept in the store.

A dispute is about a count of outcomes on one provider's statement for one month, for one rate
card outcome. Two kinds, because the two sides of an outcomes contract question different things:

- ``challenge``: the agency (or its auditor) questions ``items`` of the outcomes the engine
  counted (an exit recorded as permanent housing without a lease on file). While open, they are
  withheld from the payment and shown as disputed. Upheld: the accepted number stays unpaid;
  rejected: they are paid.
- ``claim``: the provider claims ``items`` more outcomes than the engine counted (a destination
  confirmed after the submission closed). While open, they are shown as disputed and not paid.
  Upheld: the accepted number is paid; rejected: nothing changes.

The resolution restates the disputed month's statement (statements are computed from the store
each time, never stored), and the statement lists the dispute with its decision. Table:
``payment_disputes`` (columns in ``schema.PAYMENT_DISPUTE_COLUMNS``), written atomically under
the store's write lock like the action items. Disputes are recorded one at a time (``acm
payment dispute`` / ``acm payment resolve``) or from a YAML file (``acm payment load``).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Literal

import pandas as pd
import yaml
from pydantic import ValidationError

from acm_helpers.core.config import Frozen, Program
from acm_helpers.core.errors import ActionError, ConfigError
from acm_helpers.core.schema import PAYMENT_DISPUTE_COLUMNS
from acm_helpers.store.store import one_writer

DISPUTES = "payment_disputes"
DATE_COLUMNS = ("raised_date", "resolved_date")
INT_COLUMNS = ("items", "resolved_items")
KINDS = ("challenge", "claim")
DECISIONS = ("upheld", "rejected")


def disputes_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A ``payment_disputes`` frame with every column, typed (dates, whole counts, text)."""
    out = frame.copy()
    for col in PAYMENT_DISPUTE_COLUMNS:
        if col not in out:
            out[col] = pd.NaT if col in DATE_COLUMNS else (0 if col in INT_COLUMNS else "")
        if col in DATE_COLUMNS:
            out[col] = pd.to_datetime(out[col]).astype("datetime64[ns]")
        elif col in INT_COLUMNS:
            out[col] = pd.to_numeric(out[col]).fillna(0).astype("int64")
        else:
            out[col] = out[col].fillna("").astype("string")
    return out[list(PAYMENT_DISPUTE_COLUMNS)].reset_index(drop=True)


def read_disputes(store) -> pd.DataFrame:
    """Every dispute in the store (an empty, typed frame when none is recorded)."""
    if not store.has_table(DISPUTES):
        return disputes_frame(pd.DataFrame())
    return disputes_frame(store.read_table(DISPUTES))


def next_dispute_id(disputes: pd.DataFrame, provider_id: str) -> str:
    """``<provider>-D<NNN>``: short enough to type in ``acm payment resolve``."""
    mine = disputes.loc[disputes["provider_id"] == provider_id, "dispute_id"]
    nums = mine.str.extract(r"-D(\d+)$")[0].dropna().astype(int)
    return f"{provider_id}-D{(nums.max() + 1 if len(nums) else 1):03d}"


def _check(program: Program, provider_id: str, period: str, outcome_id: str, where: str) -> None:
    card = program.rate_card(provider_id)
    program.check_period(period)
    if outcome_id not in card.outcomes:
        raise ConfigError(
            f"{where}: unknown outcome {outcome_id!r} on {provider_id}'s rate card; "
            f"known: {', '.join(card.outcomes)}."
        )


def add_dispute(
    disputes: pd.DataFrame,
    program: Program,
    provider_id: str,
    period: str,
    outcome_id: str,
    kind: Literal["challenge", "claim"],
    items: int,
    reason: str,
    raised_by: str = "",
    raised_on: date | None = None,
    dispute_id: str | None = None,
) -> pd.DataFrame:
    """The disputes with one more (pure: the CLI and the file loader store the result)."""
    where = f"dispute for {provider_id} {period}"
    _check(program, provider_id, period, outcome_id, where)
    if kind not in KINDS:
        raise ConfigError(f"{where}: kind {kind!r}; use challenge or claim.")
    if int(items) < 1:
        raise ConfigError(f"{where}: items must be 1 or more (got {items}).")
    if not reason.strip():
        raise ConfigError(f"{where}: give the reason (what is disputed and why).")
    did = dispute_id or next_dispute_id(disputes, provider_id)
    if (disputes["dispute_id"] == did).any():
        raise ActionError(f"Dispute {did} is already recorded; resolve it or use another id.")
    row = {
        "dispute_id": did,
        "provider_id": provider_id,
        "period": period,
        "outcome_id": outcome_id,
        "kind": kind,
        "items": int(items),
        "reason": reason,
        "raised_by": raised_by,
        "raised_date": pd.Timestamp(raised_on or date.today()),
        "status": "open",
        "resolved_date": pd.NaT,
        "resolved_items": 0,
        "resolution": "",
    }
    return disputes_frame(pd.concat([disputes, disputes_frame(pd.DataFrame([row]))]))


def resolve_dispute(
    disputes: pd.DataFrame,
    dispute_id: str,
    decision: Literal["upheld", "rejected"],
    resolution: str = "",
    items: int | None = None,
    resolved_on: date | None = None,
) -> pd.DataFrame:
    """The disputes with one resolved (pure). ``items``: how many an upheld decision accepts
    (default: all disputed); a rejected dispute accepts none."""
    match = disputes["dispute_id"] == dispute_id
    if not match.any():
        known = ", ".join(disputes["dispute_id"].tolist()[-10:]) or "(none recorded)"
        raise ActionError(
            f"Unknown dispute {dispute_id!r}. Recent disputes: {known}. "
            "Run `acm payment disputes` to see all."
        )
    row = disputes[match].iloc[0]
    if row["status"] != "open":
        raise ActionError(
            f"Dispute {dispute_id} was already resolved ({row['status']} on "
            f"{row['resolved_date']:%Y-%m-%d}); record a new dispute to reopen the question."
        )
    if decision not in DECISIONS:
        raise ConfigError(f"Dispute {dispute_id}: decision {decision!r}; use upheld or rejected.")
    accepted = 0 if decision == "rejected" else int(row["items"] if items is None else items)
    if not 0 <= accepted <= int(row["items"]):
        raise ConfigError(
            f"Dispute {dispute_id}: {accepted} items accepted, but {row['items']} were disputed."
        )
    day = pd.Timestamp(resolved_on or date.today())
    if day < row["raised_date"]:
        raise ActionError(
            f"Dispute {dispute_id}: resolved {day:%Y-%m-%d}, before it was raised "
            f"({row['raised_date']:%Y-%m-%d})."
        )
    out = disputes.copy()
    out.loc[match, "status"] = decision
    out.loc[match, "resolved_date"] = day
    out.loc[match, "resolved_items"] = accepted
    out.loc[match, "resolution"] = resolution
    return disputes_frame(out)


# -- a disputes file (the demo's, or an agency's running log) ------------------------------------
class DisputeEntry(Frozen):
    """One dispute as written in a disputes YAML file."""

    id: str | None = None
    provider: str
    period: str
    outcome: str
    kind: Literal["challenge", "claim"]
    items: int
    reason: str
    raised_by: str = ""
    raised: date
    decision: Literal["upheld", "rejected"] | None = None
    resolved: date | None = None
    accepted_items: int | None = None
    resolution: str = ""


class DisputesFile(Frozen):
    """``disputes:`` list of a payments file (``parameters/payments/<program>.yaml``)."""

    disputes: list[DisputeEntry]


def merge_file(disputes: pd.DataFrame, program: Program, path: str | Path) -> pd.DataFrame:
    """The disputes with a file's entries recorded; loading the same file again changes nothing
    (an entry whose id is recorded is skipped, or resolved if the file now resolves it)."""
    path = Path(path)
    try:
        parsed = DisputesFile.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (yaml.YAMLError, ValidationError, OSError) as exc:
        raise ConfigError(f"{path}: not a disputes file ({exc}).") from exc
    out = disputes
    for i, e in enumerate(parsed.disputes):
        where = f"{path} disputes[{i}]"
        known = e.id is not None and (out["dispute_id"] == e.id).any()
        if not known:
            try:
                out = add_dispute(
                    out, program, e.provider, e.period, e.outcome, e.kind, e.items, e.reason,
                    e.raised_by, e.raised, e.id,
                )  # fmt: skip
            except ConfigError as exc:
                raise ConfigError(f"{where}: {exc}") from exc
        did = e.id or out["dispute_id"].iloc[-1]
        status = out.loc[out["dispute_id"] == did, "status"].iloc[0]
        if e.decision is not None and status == "open":
            out = resolve_dispute(out, did, e.decision, e.resolution, e.accepted_items, e.resolved)
    return out


# -- store operations (the CLI calls these) -------------------------------------------------------
@one_writer("recording a payment dispute")
def record_dispute(store, program: Program, **fields) -> pd.Series:
    """Record one dispute in the store; return its row."""
    new = add_dispute(read_disputes(store), program, **fields)
    store.write_table(DISPUTES, new)
    return new.iloc[-1]


@one_writer("resolving a payment dispute")
def record_resolution(store, dispute_id: str, **fields) -> pd.Series:
    """Resolve one dispute in the store; return its row."""
    new = resolve_dispute(read_disputes(store), dispute_id, **fields)
    store.write_table(DISPUTES, new)
    return new[new["dispute_id"] == dispute_id].iloc[0]


@one_writer("loading payment disputes")
def load_disputes_file(store, program: Program, path: str | Path) -> int:
    """Record a disputes file's entries; return how many disputes the store holds after."""
    new = merge_file(read_disputes(store), program, path)
    store.write_table(DISPUTES, new)
    return len(new)
