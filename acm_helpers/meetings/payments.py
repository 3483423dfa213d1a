"""Outcome payments: a provider's rate card and the engine's counts become a payment statement.

Why here and not in a spreadsheet: the counts an outcomes contract pays on are the counts the
ACM meetings discuss (the engine's ``metric_values``, one evaluation, never re-aggregated), so
the statement, the packet and the invoice cannot disagree. Money is :class:`~decimal.Decimal`,
rounded to cents once per line (half up, as an invoice is), never a float.

The rules, in the order they apply to one provider and month (``rate_cards:`` in the program
file, :class:`acm_helpers.core.config.RateCard`):

1. **Verified outcomes.** Each priced outcome counts the metric's numerator (or denominator, or
   denominator less numerator: exits not followed by a return) for the month. With a
   ``verification_lag_months`` of L, the month's count is the cohort earned L months earlier,
   whose window has now closed (the metric's own population says so, e.g. returns within 12
   months of exits a year before); a cohort earned before the contract term is not paid. The
   cohorts of the last L months are *pending*: the ``pending_metric``'s numerator, at the
   price, not paid.
2. **Disputes** (:mod:`acm_helpers.meetings.disputes`): open challenges withhold their items,
   upheld challenges remove the accepted items, upheld claims add them; open items are shown as
   disputed at the price.
3. **Bonuses**: each threshold a rate crosses pays its amount.
4. **Per-period floor and cap** on outcomes plus bonuses, then the **per-term cap** on the
   running total; the **per-term floor** tops up the term's last statement.
5. **Fee for service**: ``fee_for_service_share`` of the contract value in equal monthly
   instalments (the last month takes the cents left over, so the term adds up exactly).

Counts come from the engine's true numbers: the statement is the agency's, and a payment cannot
depend on whether a cell is small. What a provider may see of it is decided by
:mod:`acm_helpers.packets.payments` (suppression-safe).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pandas as pd

from acm_helpers.core.calendar import month_range, shift_period
from acm_helpers.core.config import Program, RateCard
from acm_helpers.core.errors import ConfigError

CENT = Decimal("0.01")


def cents(x: Decimal | int | float | str) -> Decimal:
    """An amount rounded to cents, half up (how an invoice rounds)."""
    return Decimal(str(x)).quantize(CENT, rounding=ROUND_HALF_UP)


# -- the statement ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class OutcomeLine:
    """One priced outcome on a statement."""

    outcome_id: str
    label: str
    metric_id: str
    earned: str  # the month the outcomes were earned (the statement month less the lag)
    counted: int  # the engine's count for the month (0 for a cohort earned before the term)
    withheld: int  # items of open challenges, not paid until resolved
    adjustment: int  # resolved disputes: + upheld claims, - upheld challenges
    price: Decimal

    @property
    def verified(self) -> int:
        """Outcomes paid: counted, less what is withheld, plus resolved adjustments."""
        return max(self.counted - self.withheld + self.adjustment, 0)

    @property
    def amount(self) -> Decimal:
        return cents(self.price * self.verified)


@dataclass(frozen=True)
class PendingLine:
    """Outcomes earned but not yet verifiable: their window has not closed."""

    outcome_id: str
    label: str
    earned: str
    payable_from: str  # the statement month on which they are verified
    count: int
    price: Decimal

    @property
    def amount(self) -> Decimal:
        """The most these outcomes can pay (before returns, caps and floors)."""
        return cents(self.price * self.count)


@dataclass(frozen=True)
class BonusLine:
    label: str
    metric_id: str
    value: float | None  # the rate for the month (None: no cases)
    threshold: float
    direction: str
    amount_if_crossed: Decimal

    @property
    def crossed(self) -> bool:
        if self.value is None or np.isnan(self.value):
            return False
        return (
            self.value >= self.threshold if self.direction == "up" else self.value <= self.threshold
        )

    @property
    def amount(self) -> Decimal:
        return self.amount_if_crossed if self.crossed else Decimal("0.00")


@dataclass(frozen=True)
class DisputeLine:
    dispute_id: str
    outcome_id: str
    kind: str
    items: int
    status: str
    resolved_items: int
    reason: str
    resolution: str
    price: Decimal

    @property
    def disputed_amount(self) -> Decimal:
        """What an open dispute puts in question (zero once resolved)."""
        return cents(self.price * self.items) if self.status == "open" else Decimal("0.00")


@dataclass(frozen=True)
class Statement:
    """One provider's payment statement for one month."""

    provider_id: str
    period: str
    currency: str
    term_first: str
    term_last: str
    lines: list[OutcomeLine]
    pending: list[PendingLine]
    bonuses: list[BonusLine]
    disputes: list[DisputeLine]
    period_floor: Decimal | None
    period_cap: Decimal | None
    term_floor: Decimal | None
    term_cap: Decimal | None
    paid_before: Decimal  # outcome payments on the term's earlier statements
    fee_for_service: Decimal
    limits: list[str] = field(default_factory=list)  # what a floor or cap did, in words
    outcome_payment: Decimal = Decimal("0.00")  # after floors and caps
    # disputes on the term's earlier statements still open now (their months are restated
    # when they are resolved): shown so a clean month does not read as "nothing in question"
    open_earlier: list[tuple[str, DisputeLine]] = field(default_factory=list)

    @property
    def outcomes_amount(self) -> Decimal:
        return sum((ln.amount for ln in self.lines), Decimal("0.00"))

    @property
    def bonus_amount(self) -> Decimal:
        return sum((b.amount for b in self.bonuses), Decimal("0.00"))

    @property
    def earned_amount(self) -> Decimal:
        """Outcomes plus bonuses, before floors and caps."""
        return self.outcomes_amount + self.bonus_amount

    @property
    def limit_adjustment(self) -> Decimal:
        """What the floors and caps added (+) or took off (-)."""
        return self.outcome_payment - self.earned_amount

    @property
    def pending_amount(self) -> Decimal:
        return sum((p.amount for p in self.pending), Decimal("0.00"))

    @property
    def disputed_amount(self) -> Decimal:
        return sum((d.disputed_amount for d in self.disputes), Decimal("0.00"))

    @property
    def total(self) -> Decimal:
        """The amount due for the month: fee for service plus outcome payments."""
        return self.fee_for_service + self.outcome_payment

    @property
    def term_paid(self) -> Decimal:
        """Outcome payments of the term up to and including this statement."""
        return self.paid_before + self.outcome_payment

    @property
    def cap_applied(self) -> bool:
        return self.limit_adjustment < 0

    @property
    def floor_applied(self) -> bool:
        return self.limit_adjustment > 0


# -- counts ------------------------------------------------------------------------------------------
def outcome_counts(program: Program, store, provider_id: str) -> pd.DataFrame:
    """The provider's monthly overall cells of the rate card's metrics, with their true numbers.

    Returns ``metric_id, period, numerator, denominator, value``. Suppressed cells are read back
    from ``suppressed_truth`` (internal): the agency pays on every outcome, small or not.
    """
    card = program.rate_card(provider_id)
    mids = sorted(
        {o.metric for o in card.outcomes.values()}
        | {o.pending_metric for o in card.outcomes.values() if o.pending_metric}
        | {b.metric for b in card.bonuses}
    )
    sql = (
        "SELECT metric_id, period, numerator, denominator, value FROM {t} WHERE provider_id = $p "
        "AND grain = 'month' AND dimension = '' AND list_contains($m, metric_id)"
    )
    params = {"p": provider_id, "m": mids}
    shown = store.query(sql.format(t="metric_values") + " AND NOT suppressed", params)
    parts = [shown]
    if store.has_table("suppressed_truth"):
        parts.append(store.query(sql.format(t="suppressed_truth"), params))
    out = (
        pd.concat([p for p in parts if len(p)], ignore_index=True)
        if any(map(len, parts))
        else shown
    )
    return out.drop_duplicates(["metric_id", "period"]).reset_index(drop=True)


def _lookup(counts: pd.DataFrame) -> dict[tuple[str, str], tuple[float, float, float]]:
    return {
        (r.metric_id, r.period): (r.numerator, r.denominator, r.value)
        for r in counts.itertuples(index=False)
    }


def _count(cell: tuple[float, float, float] | None, how: str) -> int:
    if cell is None:
        return 0
    num, den, _ = (0.0 if pd.isna(v) else float(v) for v in cell)
    n = {"numerator": num, "denominator": den, "denominator_minus_numerator": den - num}[how]
    return int(round(n))


def term_months(program: Program, provider_id: str) -> list[str]:
    """The contract term's months (the provider's start to end)."""
    p = program.provider(provider_id)
    return month_range(f"{p.start:%Y-%m}", f"{p.end:%Y-%m}")


def fee_instalments(card: RateCard, contract_value: float | None, months: int) -> list[Decimal]:
    """Equal monthly fee-for-service instalments that add up to the share of the value exactly."""
    if not card.fee_for_service_share:
        return [Decimal("0.00")] * months
    whole = cents(Decimal(str(contract_value)) * Decimal(str(card.fee_for_service_share)))
    each = cents(whole / months)
    return [each] * (months - 1) + [whole - each * (months - 1)]


def statements(
    program: Program,
    provider_id: str,
    counts: pd.DataFrame,
    disputes: pd.DataFrame,
    through: str,
) -> list[Statement]:
    """Every statement of the provider's term from its first month through ``through`` (pure).

    Why all of them: the term cap and floor depend on what earlier statements paid.
    """
    card = program.rate_card(provider_id)
    months = term_months(program, provider_id)
    if through not in months:
        raise ConfigError(
            f"{provider_id}: {through} is outside the contract term {months[0]} .. {months[-1]}."
        )
    cells = _lookup(counts)
    fees = fee_instalments(card, program.provider(provider_id).contract_value, len(months))
    mine = disputes[disputes["provider_id"] == provider_id]
    # each (month, outcome)'s disputes, split once: the term's statements ask for every pair
    by_cell = dict(iter(mine.groupby(["period", "outcome_id"], sort=False)))
    out: list[Statement] = []
    paid = Decimal("0.00")
    for i, month in enumerate(months[: months.index(through) + 1]):
        st = _statement(program, card, provider_id, month, months, cells, by_cell, paid, fees[i])
        earlier = [(s.period, d) for s in out for d in s.disputes if d.status == "open"]
        st = replace(st, open_earlier=earlier)
        out.append(st)
        paid = st.term_paid
    return out


def _dispute_items(mine: pd.DataFrame) -> tuple[int, int]:
    """Items withheld (open challenges) and the adjustment (upheld claims less upheld
    challenges) of one outcome's disputes in one month."""
    if mine.empty:
        return 0, 0
    open_ = mine[mine["status"] == "open"]
    upheld = mine[mine["status"] == "upheld"]
    withheld = int(open_.loc[open_["kind"] == "challenge", "items"].sum())
    adjustment = int(upheld.loc[upheld["kind"] == "claim", "resolved_items"].sum()) - int(
        upheld.loc[upheld["kind"] == "challenge", "resolved_items"].sum()
    )
    return withheld, adjustment


def _statement(program, card, provider_id, month, months, cells, by_cell, paid, fee) -> Statement:
    lines, pending, dlines = [], [], []
    for oid, o in card.outcomes.items():
        earned = shift_period(month, -o.verification_lag_months)
        counted = _count(cells.get((o.metric, month)), o.count) if earned >= months[0] else 0
        mine = by_cell.get((month, oid))
        mine = mine if mine is not None else pd.DataFrame()
        withheld, adjustment = _dispute_items(mine)
        lines.append(
            OutcomeLine(oid, o.label, o.metric, earned, counted, withheld, adjustment, o.price)
        )
        for d in mine.itertuples(index=False):
            dlines.append(
                DisputeLine(
                    d.dispute_id,
                    oid,
                    d.kind,
                    int(d.items),
                    d.status,
                    int(d.resolved_items),
                    d.reason,
                    d.resolution,
                    o.price,
                )  # fmt: skip
            )
        if o.verification_lag_months:
            for k in range(o.verification_lag_months - 1, -1, -1):
                cohort = shift_period(month, -k)
                if cohort < months[0]:
                    continue
                n = _count(cells.get((o.pending_metric, cohort)), "numerator")
                if n:
                    due = shift_period(cohort, o.verification_lag_months)
                    pending.append(PendingLine(oid, o.label, cohort, due, n, o.price))
    bonuses = [
        BonusLine(
            b.label,
            b.metric,
            (cells.get((b.metric, month)) or (np.nan, np.nan, np.nan))[2],
            b.threshold,
            program.metrics[b.metric].direction,
            b.amount,
        )
        for b in card.bonuses
    ]
    st = Statement(
        provider_id=provider_id,
        period=month,
        currency=card.currency,
        term_first=months[0],
        term_last=months[-1],
        lines=lines,
        pending=pending,
        bonuses=bonuses,
        disputes=dlines,
        period_floor=card.per_period.floor,
        period_cap=card.per_period.cap,
        term_floor=card.per_term.floor,
        term_cap=card.per_term.cap,
        paid_before=paid,
        fee_for_service=fee,
    )
    amount, limits = apply_limits(st, month == months[-1])
    return Statement(**{**st.__dict__, "outcome_payment": amount, "limits": limits})


def apply_limits(st: Statement, last_of_term: bool) -> tuple[Decimal, list[str]]:
    """The outcome payment after the period floor and cap, then the term cap and floor.

    Returns the amount and one sentence per limit that changed it."""
    amount, notes = st.earned_amount, []
    if st.period_cap is not None and amount > st.period_cap:
        notes.append(f"period cap of {money(st.period_cap)} reached: {money(amount)} earned")
        amount = st.period_cap
    if st.period_floor is not None and amount < st.period_floor:
        notes.append(f"period floor of {money(st.period_floor)} applied: {money(amount)} earned")
        amount = st.period_floor
    if st.term_cap is not None and st.paid_before + amount > st.term_cap:
        room = max(st.term_cap - st.paid_before, Decimal("0.00"))
        notes.append(
            f"term cap of {money(st.term_cap)} reached: {money(st.paid_before)} paid before, "
            f"{money(room)} of {money(amount)} payable"
        )
        amount = room
    if last_of_term and st.term_floor is not None and st.paid_before + amount < st.term_floor:
        top = st.term_floor - st.paid_before
        notes.append(
            f"term floor of {money(st.term_floor)} applied on the term's last statement: "
            f"{money(top - amount)} added"
        )
        amount = top
    return cents(amount), notes


def money(x: Decimal) -> str:
    """An amount in dollars and cents for sentences ("$12,500.00")."""
    from acm_helpers.core.text import money as fmt

    return fmt(x)


# -- the store-reading entry points --------------------------------------------------------------------
def statement_for(program: Program, store, provider_id: str, period: str) -> Statement:
    """The provider's statement for ``period``, from the store's counts and disputes."""
    from acm_helpers.meetings.disputes import read_disputes

    program.check_period(period)
    counts = outcome_counts(program, store, provider_id)
    return statements(program, provider_id, counts, read_disputes(store), period)[-1]


def program_statements(program: Program, store, period: str) -> list[Statement]:
    """The statement of every provider with a rate card whose term includes ``period``."""
    out = []
    for pid in program.rate_cards:
        if period in term_months(program, pid):
            out.append(statement_for(program, store, pid, period))
    return out


def term_statements(program: Program, store, provider_id: str, through: str) -> list[Statement]:
    """The provider's statements from the term's first month through ``through``."""
    from acm_helpers.meetings.disputes import read_disputes

    counts = outcome_counts(program, store, provider_id)
    return statements(program, provider_id, counts, read_disputes(store), through)


def statement_frame(sts: list[Statement]) -> pd.DataFrame:
    """One row per statement, amounts as Decimal: the invoice register and procurement's
    "payments made"."""
    return pd.DataFrame(
        [
            {
                "provider_id": s.provider_id,
                "period": s.period,
                "verified": sum(ln.verified for ln in s.lines),
                "outcomes_amount": s.outcomes_amount,
                "bonus_amount": s.bonus_amount,
                "limit_adjustment": s.limit_adjustment,
                "outcome_payment": s.outcome_payment,
                "fee_for_service": s.fee_for_service,
                "total": s.total,
                "pending_amount": s.pending_amount,
                "disputed_amount": s.disputed_amount,
                "limits": "; ".join(s.limits),
            }
            for s in sts
        ]
    )
