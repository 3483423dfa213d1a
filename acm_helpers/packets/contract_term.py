"""The end-of-contract report's subject: one provider's contract term and what every section reads.

Term: the contract's start month to its end month, clipped to the months the program has data
for (and to ``through`` when the report is drafted before the end).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from acm_helpers.core.calendar import month_range
from acm_helpers.core.config import Program, Provider
from acm_helpers.core.errors import ConfigError, UnknownIdError
from acm_helpers.meetings import actions, deepdive
from acm_helpers.meetings.context import (
    DeepDiveContext,
)
from acm_helpers.store.store import open_store


@dataclass(frozen=True)
class ContractReport:
    """What every section reads: the deep-dive context at the end of the term, the term's
    months, and the meeting-cycle tables."""

    ctx: DeepDiveContext
    provider: Provider
    first: str
    last: str
    items: pd.DataFrame = field(repr=False)
    meetings: pd.DataFrame = field(repr=False)
    quality: pd.DataFrame | None = field(default=None, repr=False)
    lessons: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)  # meetings.voice
    exit_answers: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)

    @property
    def program(self) -> Program:
        return self.ctx.program

    @property
    def halves(self) -> tuple[tuple[str, str], tuple[str, str]]:
        """(first, mid) and (mid+1, last): the two halves of the term compared for trends."""
        months = month_range(self.first, self.last)
        mid = len(months) // 2
        return (months[0], months[mid - 1]), (months[mid], months[-1])


def find_provider(
    program: Program, provider_id: str | None = None, contract_id: str | None = None
) -> Provider:
    """The provider named by id or by contract id (exactly one of the two)."""
    if (provider_id is None) == (contract_id is None):
        raise ConfigError("Give exactly one of --provider ID or --contract ID.")
    if provider_id is not None:
        return program.provider(provider_id)
    for p in program.providers:
        if p.contract_id == contract_id:
            return p
    raise UnknownIdError("contract", contract_id, [p.contract_id for p in program.providers])


def term_months(
    program: Program, provider: Provider, through: str | None = None
) -> tuple[str, str]:
    """First and last month of the contract term that the program has data for."""
    first = max(f"{provider.start:%Y-%m}", program.first_period)
    last = min(f"{provider.end:%Y-%m}", program.last_period, through or program.last_period)
    if first > last:
        raise ConfigError(
            f"Contract {provider.contract_id} ({provider.start} to {provider.end}) has no months "
            f"with data in {program.first_period}..{program.last_period}."
        )
    return first, last


def make_report(
    program: Program,
    episodes: pd.DataFrame,
    provider_id: str,
    *,
    items: pd.DataFrame,
    meetings: pd.DataFrame,
    quality: pd.DataFrame | None = None,
    audience: str = "internal",
    through: str | None = None,
) -> ContractReport:
    """Assemble the report's inputs from frames (pure; tests use this)."""
    provider = program.provider(provider_id)
    first, last = term_months(program, provider, through)
    ctx = deepdive.make_context(program, episodes, provider_id, last, audience)
    return ContractReport(ctx, provider, first, last, items, meetings, quality)


def open_report(
    program_path: str | Path,
    data_dir: str | Path | None,
    provider: str | None = None,
    contract: str | None = None,
    audience: str = "internal",
    through: str | None = None,
) -> ContractReport:
    """Load the program and the store: the end-of-contract notebook's first call (paths resolve
    as in the intake notebook, :func:`acm_helpers.store.store.open_store`)."""
    program, store = open_store(program_path, data_dir or None)
    prov = find_provider(program, provider or None, contract or None)
    quality = store.read_table("quality") if store.has_table("quality") else None
    rep = make_report(
        program,
        store.episodes(),
        prov.id,
        items=actions.read_actions(store),
        meetings=actions.read_meetings(store),
        quality=quality,
        audience=audience,
        through=through or None,
    )
    from acm_helpers.meetings import voice  # lessons and the exit interview (issue 19)

    answers = voice.read_exit_interviews(store)
    return dataclasses.replace(
        rep,
        lessons=voice.lessons_to_date(store, prov.id, prov.end),
        exit_answers=answers[answers["provider_id"] == prov.id],
    )
