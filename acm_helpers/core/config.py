"""The program file (``parameters/program.yaml``) as a frozen, validated model.

Everything the workbench knows about a program lives in one YAML file: providers and their
contracts, declared metrics, equity dimensions, suppression, peer display and the roadmap.
Nothing here is read at import time; call :func:`load_program`.
"""

from __future__ import annotations

import functools
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from acm_helpers.core.calendar import (
    CADENCE_GRAIN,
    PERIOD_RE,
    SUB_MONTH,
    biweek_periods,
    bounds_of,
    grain_of,
    month_range,
    period_bounds,
    quarter_of,
    week_periods,
)
from acm_helpers.core.errors import ConfigError, UnknownIdError
from acm_helpers.core.schema import EPISODE_COLUMNS

# libyaml's safe loader when PyYAML was built with it (the same documents, about 8x faster: the
# program file is read by every packet, the appendix and the audit); else the pure-Python one
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

Identifier = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_\-]*$", max_length=64)]
# An email address as written in the program file (``recipients``, ``from_address``): one
# address, no display name; checked for shape only (whether it exists is the mail server's call).
EmailAddress = Annotated[
    str, Field(pattern=r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+$", max_length=254)
]
EnvName = Annotated[str, Field(pattern=r"^[A-Z_][A-Z0-9_]*$")]


class Frozen(BaseModel):
    """Base for every config model: immutable, and unknown keys are an error, not ignored."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Provider(Frozen):
    """A contracted provider and its contract."""

    id: Identifier = Field(
        description="Short id used in file names, URLs and the `provider_id` column of submissions."
    )
    name: str = Field(description="The provider's name as packets and the dashboard show it.")
    contract_id: str = Field(
        description="The contract's id; `acm report --contract ID` finds the provider by it."
    )
    contract_value: float | None = Field(
        None,
        description="The contract's value in dollars; the end-of-contract report divides it by outcomes (value for money).",
    )
    start: date = Field(description="First day of the contract term (YYYY-MM-DD).")
    end: date = Field(description="Last day of the contract term; must be after `start`.")
    program: str | None = Field(
        None, description="Sub-program or project type, when a program has several."
    )
    # How this provider's submissions are written, when it is not UTF-8 / detectable: intake
    # never guesses a code page or a decimal separator (issue 13), it reads what is declared.
    encoding: str | None = Field(
        None,
        description="Code page of this provider's CSV files when they are not UTF-8 (e.g. latin-1, cp1252, utf-16-le); intake never guesses one.",
    )
    decimal: Literal[".", ","] | None = Field(
        None,
        description='Decimal separator of this provider\'s numbers when the file does not show it: "28220,76" is 28220.76 only when this says ",".',
    )
    # Who receives the monthly packet by email (`acm send`); none: the packet is not sent.
    recipients: list[EmailAddress] = Field(
        default_factory=list,
        description="Who receives the monthly packet by email (`acm send`); none: the packet is not sent.",
    )
    attach_xlsx: bool | None = Field(
        None,
        description="Attach the XLSX appendix to this provider's email; blank: the program's `delivery.attach_xlsx`.",
    )

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, v: str | None) -> str | None:
        if v is not None:
            import codecs

            try:
                codecs.lookup(v)
            except LookupError:
                raise ValueError(
                    f"unknown text encoding {v!r}; use a Python codec name such as utf-8, "
                    "latin-1, cp1252 or utf-16-le"
                ) from None
        return v

    @model_validator(mode="after")
    def _dates_in_order(self) -> Provider:
        if self.end <= self.start:
            raise ValueError(
                f"provider {self.id}: contract end {self.end} is not after start {self.start}"
            )
        return self


class Metric(Frozen):
    """A metric declared as data and evaluated by DuckDB over ``episodes``.

    ``population`` selects the episodes counted for one provider and period (``:start`` and
    ``:end`` are bound to the period's first and last day). What the other fields mean depends
    on ``kind``:

    - ``rate``: share of the population where ``numerator`` (a boolean SQL expression) holds.
    - ``count``: number of population rows, or ``count(DISTINCT value)`` when ``value`` is set.
    - ``mean`` / ``median``: of the SQL expression ``value`` over the population.
    - ``sum_ratio``: ``sum(numerator) / sum(denominator)``, both SQL expressions.

    ``per: person`` counts people, not episodes: in each period, of every client's episodes
    with one provider that fall in ``universe`` (default: open at any time in the period), only
    the latest (latest enrollment date, then the open or latest exit, then episode id) is kept,
    and ``population`` is judged on that episode. Why: HUD's reports count each client once, by
    their latest enrollment in the report's projects, and that enrollment decides leaver or
    stayer (a client who left and came back in a quarter is a stayer, not a leaver). The
    choice is per provider: the program-wide row adds the providers' persons, so a client served
    by two providers counts once in each.
    """

    label: str = Field(description="The metric's name on tiles, charts and tables.")
    definition: str = Field(
        description="One plain sentence saying what is counted; printed in every packet's definitions section."
    )
    kind: Literal["rate", "count", "mean", "median", "sum_ratio"] = Field(
        description="How the population is summarised: rate, count, mean, median or sum_ratio (see above)."
    )
    population: str = Field(
        description="SQL condition selecting the episodes counted for one provider and period (`:start`, `:end`)."
    )
    numerator: str | None = Field(
        None,
        description="rate: boolean SQL that marks the successes; sum_ratio: the SQL summed above the line.",
    )
    denominator: str | None = Field(None, description="sum_ratio: the SQL summed below the line.")
    value: str | None = Field(
        None,
        description="mean / median: the SQL value summarised; count: count distinct values of it.",
    )
    direction: Literal["up", "down"] = Field(
        "up",
        description="`up`: higher is better; `down`: lower is better (decides concern or improvement).",
    )
    target: float | None = Field(
        None,
        description="The contract's target, in the metric's own units (a rate as a fraction, 0.45).",
    )
    benchmark: dict[str, float] = Field(
        default_factory=dict,
        description="Outside reference values by name, e.g. `{national: 0.41}`.",
    )
    format: Literal["percent", "number", "days", "currency"] = Field(
        "number", description="How values are written: percent, number, days or currency."
    )
    unit: str = Field("", description="Unit word after a number (e.g. `clients`).")
    numerator_label: str = Field(
        "",
        description='What the numerator counts, for the math sentence ("exits to permanent housing").',
    )
    denominator_label: str = Field(
        "", description='What the denominator counts, for the math sentence ("leavers").'
    )
    key: bool = Field(True, description="Shown as a headline tile.")
    system_wide: bool = Field(
        False,
        description="Uses fields derived across providers (the agency-only view, e.g. returns to services); packets add a note.",
    )
    per: Literal["episode", "person"] = Field(
        "episode",
        description="`episode`: every episode; `person`: each client's latest episode only (as HUD counts).",
    )
    universe: str | None = Field(
        None,
        description="per person: SQL selecting the episodes the latest is chosen from (default: open in the period).",
    )

    @model_validator(mode="after")
    def _fields_for_kind(self) -> Metric:
        need = {
            "rate": ["numerator"],
            "mean": ["value"],
            "median": ["value"],
            "sum_ratio": ["numerator", "denominator"],
            "count": [],
        }[self.kind]
        missing = [f for f in need if getattr(self, f) is None]
        if missing:
            raise ValueError(f"a {self.kind} metric needs {', '.join(missing)}")
        if self.universe is not None and self.per != "person":
            raise ValueError("universe applies to per: person metrics only; add per: person")
        return self


class Dimension(Frozen):
    """An equity breakdown: a column of ``episodes``, optionally binned from a numeric source.

    ``expression`` bins an SQL value computed per period instead of a stored column: it may use
    ``:start``/``:end`` (the period's bounds), e.g. HUD's age at the later of the report start
    and the project start. Such a breakdown is evaluated over each period's own join (never
    rolled up from months), since the same episode can fall in another group in another period.
    """

    label: str = Field(description="The breakdown's name in packets and the dashboard.")
    column: str = Field(
        description="Column of `episodes` holding the groups (or receiving the bins)."
    )
    source: str | None = Field(
        None, description="Numeric column to bin into `column` (e.g. age_at_entry)."
    )
    expression: str | None = Field(
        None, description="Or: an SQL value to bin, per period (may use :start/:end)."
    )
    bins: list[float] | None = Field(
        None,
        description="Left-closed bin edges, increasing; the last bin is open-ended (0, 18, 25 ... gives 0-17, 18-24 ... 65+).",
    )
    reference_group: str | None = Field(
        None, description="The group every other group is compared with (disparity)."
    )
    reference_shares: dict[str, float] = Field(
        default_factory=dict,
        description="Each group's share of a reference population (adds up to 1), for disproportionality.",
    )
    reference_source: str = Field(
        "", description='Where the shares come from (e.g. "ACS 2023 5-year, King County").'
    )

    @model_validator(mode="after")
    def _check(self) -> Dimension:
        if self.source is not None and self.expression is not None:
            raise ValueError("give source or expression, not both")
        if (self.bins is None) != (self.source is None and self.expression is None):
            raise ValueError("give both source (or expression) and bins, or neither")
        if self.bins is not None and list(self.bins) != sorted(self.bins):
            raise ValueError("bins must be increasing")
        if self.reference_shares:
            total = sum(self.reference_shares.values())
            if not 0.95 <= total <= 1.05:
                raise ValueError(f"reference_shares add up to {total:.3f}, not 1")
        return self


class Suppression(Frozen):
    """Small-cell rule applied once, in the engine, before anything is displayed."""

    threshold: int = Field(11, ge=1, description="Cells with fewer cases than this are suppressed.")
    complementary: bool = Field(
        True,
        description="Also hide the next smallest sibling wherever a hidden cell could be recovered from a total.",
    )


class Peers(Frozen):
    """How other providers appear in provider-facing outputs."""

    display: Literal["named", "anonymized"] = Field(
        "anonymized",
        description="`anonymized`: other providers appear as Peer A, Peer B ... in provider packets; `named`: by name.",
    )


class RoadmapTopic(Frozen):
    """One month of the performance improvement roadmap."""

    topic: Literal[
        "disparity", "duration_outcome", "referral_funnel", "cohort_trend", "peer_comparison"
    ] = Field(description="The deep dive of the month.")
    title: str = Field(description="The topic's title in the packet and deep dive.")
    metric: str = Field(
        description="Metric id the topic is about (must be declared under `metrics`)."
    )
    question: str = Field(description="The question the meeting asks of the data.")
    dimension: str | None = Field(
        None,
        description="Dimension id, for a disparity topic (must be declared under `dimensions`).",
    )
    change_month: str | None = Field(
        None,
        description="For cohort_trend: the month a practice changed (YYYY-MM); charts and signals rebase there.",
    )

    @field_validator("change_month")
    @classmethod
    def _month(cls, v: str | None) -> str | None:
        if v is not None and not PERIOD_RE.match(v):
            raise ValueError(f"change_month {v!r} is not YYYY-MM")
        return v


# -- meeting types and cadences (issue 19) ---------------------------------------------------------
Cadence = Literal["weekly", "biweekly", "monthly", "quarterly"]


class MeetingType(Frozen):
    """One kind of meeting of the ACM cycle (``meetings.types.<id>`` in the program file).

    ``cadence`` decides the period a meeting's packet covers (a week, two weeks from
    ``meetings.anchor``, a month or a quarter); ``audience`` who reads it (``provider``: one
    packet per provider, peers as ``peers.display`` says, privacy-audited; ``internal``: agency
    staff, every provider named; ``executive``: all providers together in one learning-circle
    packet, peers as ``peers.display`` says, privacy-audited); ``template`` what is built
    (``checkin``: the provider check-in packet, ``internal_review``: the internal system
    review, ``learning_circle``: the executive learning-circle packet).
    """

    title: str = Field(description="The meeting's name on its packet and in the index.")
    cadence: Cadence = Field(
        description="How often it meets: weekly, biweekly (from meetings.anchor), monthly or quarterly."
    )
    audience: Literal["provider", "internal", "executive"] = Field(
        description="Who reads its packet: one provider, agency staff, or all providers together."
    )
    template: Literal["checkin", "internal_review", "learning_circle"] = Field(
        description="What is built: the provider check-in, the internal system review, or the "
        "learning-circle packet (each fits one audience)."
    )

    @model_validator(mode="after")
    def _template_fits_audience(self) -> MeetingType:
        fits = {
            "checkin": "provider",
            "internal_review": "internal",
            "learning_circle": "executive",
        }
        if fits[self.template] != self.audience:
            raise ValueError(
                f"template {self.template} is built for the {fits[self.template]} audience, "
                f"not {self.audience}; set audience: {fits[self.template]}"
            )
        return self


def default_meeting_types(cadence: str) -> dict[str, MeetingType]:
    """Seattle's three meetings: the check-in at the program's cadence, and quarterly internal
    and executive (learning-circle) reviews; used when ``meetings.types`` is not given."""
    return {
        "provider_checkin": MeetingType(
            title="Provider check-in", cadence=cadence, audience="provider", template="checkin"
        ),
        "internal_review": MeetingType(
            title="Quarterly internal system review",
            cadence="quarterly",
            audience="internal",
            template="internal_review",
        ),
        "learning_circle": MeetingType(
            title="Quarterly learning circle",
            cadence="quarterly",
            audience="executive",
            template="learning_circle",
        ),
    }


class Meetings(Frozen):
    """Meeting cadence and meeting types; packets are built for each meeting period.

    ``cadence`` is the provider check-in's (the default types' first); ``anchor`` is the first
    day of one biweekly period (a Monday: periods are pairs of ISO weeks), needed by any
    biweekly cadence; ``types`` lists the meetings (default: :func:`default_meeting_types`).
    """

    cadence: Cadence = Field(
        "monthly",
        description="How often provider check-ins are held: weekly, biweekly, monthly or quarterly.",
    )
    day_of_month: int = Field(
        15,
        ge=1,
        le=28,
        description="Day of the month after the packet's month on which its meeting is held (1-28).",
    )
    anchor: date | None = Field(
        None,
        description="First day (a Monday) of one biweekly period; needed by any biweekly cadence.",
    )
    types: dict[Identifier, MeetingType] = Field(
        default_factory=dict,
        description="The meeting types, by id (empty: the provider check-in plus quarterly "
        "internal review and learning circle).",
    )

    @model_validator(mode="after")
    def _anchor(self) -> Meetings:
        cadences = {self.cadence, *(t.cadence for t in self.types.values())}
        if "biweekly" in cadences and self.anchor is None:
            raise ValueError(
                "a biweekly cadence needs meetings.anchor, the first day (a Monday) of one "
                "biweekly period, e.g. anchor: 2026-01-05"
            )
        if self.anchor is not None and self.anchor.weekday() != 0:
            raise ValueError(
                f"meetings.anchor {self.anchor} is a {self.anchor:%A}; biweekly periods are "
                "pairs of ISO weeks, so the anchor must be a Monday"
            )
        return self

    def all_types(self) -> dict[str, MeetingType]:
        """The declared meeting types, or the default three."""
        return dict(self.types) or default_meeting_types(self.cadence)


class IntakeSettings(Frozen):
    """Limits intake applies to every submitted value (``intake:`` in the program file).

    Why settings and not constants: what is plausible is the program's call (a youth program may
    set a later ``earliest_date``), and a field limit keeps one pasted document from growing
    every table and packet a hundredfold.
    """

    max_field_chars: int = Field(10_000, ge=1, description="Longer values are quarantined.")
    earliest_date: date = Field(
        date(1900, 1, 1), description="Earlier dates (birth year 1850, 0001-01-01) are quarantined."
    )
    latest_year: int = Field(
        2200, ge=1900, description="Later years are quarantined as implausible."
    )


class QualitySettings(Frozen):
    """How the data-quality section judges a submission (``quality:`` in the program file).

    Why settings: which fields a program cannot do without, and how far their completeness may
    fall before the meeting talks about it, are the program's call. Completeness is judged over
    ``required_fields`` only (plus the canonical required columns, always): averaging in fields
    that are blank by design (``exit_date`` for clients still enrolled) hides a real decline.
    An empty ``required_fields`` means the columns the program's equity dimensions read.
    """

    required_fields: list[str] = Field(
        default_factory=list,
        description="Fields a submission must fill in (empty: the columns the equity dimensions read).",
    )
    completeness_min: float = Field(
        0.95,
        ge=0,
        le=1,
        description="A required field filled in less than this share is a problem.",
    )
    decline_points: float = Field(
        0.05,
        gt=0,
        le=1,
        description="A fall of this much (0.05 = 5 points) against `trend_months` earlier is a decline, raised in the brief.",
    )
    trend_months: int = Field(
        12, ge=2, le=60, description="How many months back a decline is measured against."
    )
    late_days: int = Field(
        0, ge=0, description="A file more days than this past its due date is late."
    )


class Delivery(Frozen):
    """How `acm send` emails packets (``delivery:`` in the program file).

    The mail server, the sender and what is attached; never the login. Why not the credentials:
    a program file is committed and shared; the user name and password are read from the
    environment variables named here when a message is actually sent (`acm send --dry-run`
    needs none). The connection is always encrypted before the login: ``starttls`` (port 587,
    the submission port) or ``ssl`` (implicit TLS, port 465), with the server's certificate
    verified against the system's authorities or ``ca_file`` (an agency relay's own CA).
    """

    host: str = Field(description="The mail server's host name.")
    port: int = Field(
        587, ge=1, le=65535, description="SMTP port: 587 (submission, with starttls) or 465 (ssl)."
    )
    security: Literal["starttls", "ssl"] = Field(
        "starttls",
        description="`starttls` or `ssl` (implicit TLS); the login is never sent unencrypted.",
    )
    ca_file: str | None = Field(
        None,
        description="PEM bundle trusted instead of the system's authorities (relative: to the project folder).",
    )
    from_address: EmailAddress = Field(description="The sender's address.")
    from_name: str = Field("", description="The sender's display name.")
    reply_to: EmailAddress | None = Field(
        None, description="Address replies go to, when not the sender."
    )
    attach_xlsx: bool = Field(
        True, description="Attach the XLSX appendix; a provider's own `attach_xlsx` overrides."
    )
    username_env: EnvName = Field(
        "ACM_SMTP_USER", description="Environment variable the SMTP user name is read from."
    )
    password_env: EnvName = Field(
        "ACM_SMTP_PASSWORD",
        description="Environment variable the SMTP password is read from (never the program file).",
    )
    timeout_s: float = Field(60.0, gt=0, description="Seconds to wait for the mail server.")


class OutcomeColumn(Frozen):
    """A program-specific column accepted by intake (e.g. ``subsequent_involvement_12m``)."""

    type: Literal["bool", "int", "float", "date", "str"] = Field(
        description="The column's type: bool, int, float, date or str."
    )
    description: str = Field(
        "",
        description="What the column means; the data-quality section uses it as the field's label.",
    )
    required: bool = Field(False, description="A row without a value is quarantined.")


# -- portfolio triage and performance-improvement sprints (issue 18) -----------------------------
class TriageScale(Frozen):
    """A criterion scored on a scale: ``points`` x min(1, amount / ``full_at``).

    ``full_at`` empty: the largest amount in the portfolio that month earns the full points, so
    the criterion ranks contracts against each other without a constant to keep up to date.
    """

    points: float = Field(
        0.0,
        ge=0,
        description="Full points, earned at `full_at` or more (scaled below it); 0 leaves the criterion out.",
    )
    full_at: float | None = Field(
        None,
        gt=0,
        description="Amount that earns the full points (dollars for `contract_value`); empty: the portfolio's largest that month.",
    )


class TriageCount(Frozen):
    """A criterion scored per item found: ``points`` each, at most ``max`` in all."""

    points: float = Field(
        0.0, ge=0, description="Points per item found; 0 leaves the criterion out."
    )
    max: float | None = Field(
        None, ge=0, description="Most points the criterion can earn in all; empty: no cap."
    )


class TriageEarlierTerms(Frozen):
    """Points per earlier term by its record (``record`` of :class:`EarlierTerm`)."""

    not_met: float = Field(
        0.0, ge=0, description="Points per earlier term whose record is not_met."
    )
    partly_met: float = Field(
        0.0, ge=0, description="Points per earlier term whose record is partly_met."
    )
    max: float | None = Field(
        None, ge=0, description="Most points earlier terms can earn in all; empty: no cap."
    )


class TriageCriteria(Frozen):
    """What each criterion is worth (docs: manager/triage.md). A criterion left out scores 0.

    Impact and risk: ``contract_value``, ``new_contract`` (a new provider or a new service,
    declared per contract), ``volume`` (the month's value of ``Triage.volume_metric``).
    Current performance: ``concerns`` (special-cause concern signals this month),
    ``failing_targets`` / ``hit_and_miss`` (control limits against target),
    ``worsening`` (the last complete quarter significantly worse than the one before),
    ``disparities`` (a group's adverse gap flagged in several recent quarters).
    Then ``data_quality`` (each ranked data-quality problem of the month), ``overdue_actions``
    and ``earlier_terms``.
    """

    contract_value: TriageScale = Field(
        TriageScale(),
        description="Points for the contract's value (`providers[].contract_value`; none declared: 0).",
    )
    new_contract: float = Field(
        0.0,
        ge=0,
        description="Points for a contract declared new (`triage.contracts.<id>.new`: provider or service).",
    )
    volume: TriageScale = Field(
        TriageScale(),
        description="Points for the volume served: the month's value of `triage.volume_metric`.",
    )
    concerns: TriageCount = Field(
        TriageCount(),
        description="Points per metric with a special-cause concern signal this month.",
    )
    failing_targets: TriageCount = Field(
        TriageCount(),
        description="Points per metric whose control limits say the target is consistently missed.",
    )
    hit_and_miss: TriageCount = Field(
        TriageCount(),
        description="Points per metric whose control limits say the target is hit and miss.",
    )
    worsening: TriageCount = Field(
        TriageCount(),
        description="Points per metric significantly worse in the last complete quarter than the one before.",
    )
    disparities: TriageCount = Field(
        TriageCount(),
        description="Points per group whose adverse gap is flagged in `disparity_min_quarters` of the last `disparity_quarters` quarters.",
    )
    data_quality: TriageCount = Field(
        TriageCount(),
        description="Points per ranked data-quality problem of the month (no file for the month is one).",
    )
    overdue_actions: TriageCount = Field(
        TriageCount(),
        description="Points per action item past due at the period's meeting.",
    )
    earlier_terms: TriageEarlierTerms = Field(
        TriageEarlierTerms(),
        description="Points per earlier term partly or not met (`triage.contracts.<id>.earlier_terms`).",
    )


class TriageTier(Frozen):
    """A tier of attention: contracts scoring at least ``min_score`` (and less than the tier
    above) meet at ``cadence``."""

    id: Identifier = Field(
        description="Short id of the tier (the `tier` column of the ranked list)."
    )
    label: str = Field(description="The tier's name as the ranked list shows it (e.g. Full ACM).")
    min_score: float = Field(
        ge=0,
        description="Lowest score in the tier; list tiers from the highest down, the last at 0.",
    )
    cadence: Literal["monthly", "quarterly", "semiannual", "annual"] = Field(
        description="How often the tier's contracts meet: monthly, quarterly, semiannual or annual."
    )
    description: str = Field(
        "", description="A sentence on what the tier means, shown with the tier list."
    )


class EarlierTerm(Frozen):
    """One earlier contract term of a provider and how it went."""

    contract_id: str = Field(description="The earlier contract's id.")
    start: date = Field(description="First day of the earlier term (YYYY-MM-DD).")
    end: date = Field(description="Last day of the earlier term (YYYY-MM-DD).")
    record: Literal["met", "partly_met", "not_met"] = Field(
        description="How the term went: met, partly_met or not_met; scored by `criteria.earlier_terms`."
    )
    note: str = Field("", description="A free-text note on the term, for the record.")


class TriageContract(Frozen):
    """What the store cannot know about a contract: is it new, and how did earlier terms go."""

    new: Literal["provider", "service"] | None = Field(
        None,
        description="`provider` or `service` when the contract is new (scored by `criteria.new_contract`); empty: not new.",
    )
    earlier_terms: list[EarlierTerm] = Field(
        default_factory=list,
        description="The provider's earlier contract terms and their record; none: nothing to score.",
    )


def _default_tiers() -> list[TriageTier]:
    return [
        TriageTier(id="full", label="Full ACM", min_score=30, cadence="monthly"),
        TriageTier(id="light", label="Light touch", min_score=15, cadence="quarterly"),
        TriageTier(id="monitor", label="Monitor", min_score=0, cadence="semiannual"),
    ]


class Triage(Frozen):
    """Portfolio triage (``triage:`` in the program file): which contracts get full ACM.

    Why declared: which risks matter and how much is the agency's policy; the workbench scores
    every contract by the written rule and shows each criterion's points beside the score.
    """

    criteria: TriageCriteria = Field(
        TriageCriteria(),
        description="What each criterion is worth; a criterion left out scores 0.",
    )
    tiers: list[TriageTier] = Field(
        default_factory=_default_tiers,
        description="Tiers of attention from the highest `min_score` down to one at 0 (default: Full ACM 30, Light touch 15, Monitor 0).",
    )
    contracts: dict[Identifier, TriageContract] = Field(
        default_factory=dict,
        description="Per provider id, what the store cannot know: a new contract, earlier terms' record.",
    )
    volume_metric: Identifier | None = Field(
        None,
        description="A count metric (e.g. clients_served) whose month's value the `volume` criterion scores; empty: volume scores 0.",
    )
    disparity_quarters: int = Field(
        4,
        ge=1,
        le=12,
        description="How many complete quarters back the `disparities` criterion looks.",
    )
    disparity_min_quarters: int = Field(
        2,
        ge=1,
        description="A gap flagged in at least this many of those quarters is persistent and scores.",
    )
    sprint_slots: int = Field(
        2, ge=0, description="Providers the sprint rotation plan proposes per quarter."
    )
    sprint_rest_months: int = Field(
        6,
        ge=0,
        description="Months after a provider's sprint ends before the rotation plan proposes it again.",
    )

    @model_validator(mode="after")
    def _tiers_in_order(self) -> Triage:
        if not self.tiers:
            raise ValueError("triage.tiers needs at least one tier")
        scores = [t.min_score for t in self.tiers]
        if scores != sorted(scores, reverse=True) or len(set(scores)) != len(scores):
            raise ValueError("triage.tiers: list tiers from the highest min_score down, each lower")
        if scores[-1] != 0:
            raise ValueError(
                "triage.tiers: the last tier needs min_score 0 so every contract has one"
            )
        if self.disparity_min_quarters > self.disparity_quarters:
            raise ValueError("triage.disparity_min_quarters is more than disparity_quarters")
        return self


class Sprint(Frozen):
    """A performance-improvement sprint (``sprints:`` in the program file).

    The engine measures ``metric`` over the sprint's months (``start`` .. ``end``) against the
    same number of months before ``start`` (``before_months`` to choose another length).
    """

    title: str = Field(description="The sprint's name in packets and the portfolio view.")
    providers: list[Identifier] = Field(
        description="Ids of the providers taking part (at least one)."
    )
    metric: Identifier = Field(description="Id of the declared metric the sprint works on.")
    start: str = Field(description="First month of the sprint (YYYY-MM).")
    end: str = Field(description="Last month of the sprint (YYYY-MM), not before `start`.")
    goal: float | None = Field(
        None,
        description="The value of `metric` the sprint aims for, judged in the metric's direction; empty: no goal.",
    )
    question: str = Field(description="The question the sprint answers, shown with its result.")
    before_months: int | None = Field(
        None,
        ge=1,
        le=24,
        description="Months before `start` compared with the sprint's months; empty: as many as the sprint lasts.",
    )

    @field_validator("start", "end")
    @classmethod
    def _month(cls, v: str) -> str:
        if not PERIOD_RE.match(v):
            raise ValueError(f"{v!r} is not YYYY-MM")
        return v

    @model_validator(mode="after")
    def _order(self) -> Sprint:
        if self.end < self.start:
            raise ValueError(f"sprint end {self.end} is before its start {self.start}")
        if not self.providers:
            raise ValueError("a sprint needs at least one provider")
        return self


# -- outcome payments (issue 18, item 3): rate cards -------------------------------------------
Money = Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=2)]


class OutcomePrice(Frozen):
    """One priced outcome of a rate card: a declared metric's count, paid per verified outcome.

    ``count`` says which of the metric's engine counts is the outcome: ``numerator`` (each exit
    to permanent housing), ``denominator``, or ``denominator_minus_numerator`` (each exit to
    permanent housing not followed by a return within 12 months: the retention metric's cohort
    less its returns). ``verification_lag_months``: an outcome earned in month M is verified,
    and payable, only on the statement for month M + lag, once its window has closed; until then
    the outcomes of ``pending_metric``'s numerator in M (the cohort awaiting its window) are shown
    as pending, at the same price.
    """

    label: str = Field(description="The outcome's name on statements and invoices.")
    metric: Identifier = Field(description="Id of the declared metric whose count is the outcome.")
    count: Literal["numerator", "denominator", "denominator_minus_numerator"] = Field(
        "numerator",
        description="Which of the metric's counts is paid: numerator, denominator or denominator_minus_numerator.",
    )
    price: Money = Field(
        description="Price per verified outcome, in the card's `currency` (up to 2 decimals)."
    )
    verification_lag_months: int = Field(
        0,
        ge=0,
        le=60,
        description="Months until an outcome earned in a month is verified and paid; 0: paid the month it is earned.",
    )
    pending_metric: Identifier | None = Field(
        None,
        description="Metric whose numerator is the cohort still inside its window, shown as pending (lag > 0); empty: none shown.",
    )
    definition: str = Field(
        "",
        description="The outcome as the contract words it (INDIGO outcome definition); empty: the metric's definition.",
    )
    target: Decimal | None = Field(
        None,
        description="Outcomes expected over the term (INDIGO outcome target); empty: none declared.",
    )


class RateBonus(Frozen):
    """A bonus paid for a period whose rate crosses a threshold.

    Judged on the metric's value for the provider and the period (the engine's rate), in the
    metric's direction: ``up`` metrics pay at ``threshold`` or above, ``down`` ones at or below.
    Several thresholds on one metric are steps: each one crossed pays its ``amount``.
    """

    label: str = Field(description="The bonus's name on statements and invoices.")
    metric: Identifier = Field(description="Id of the declared metric whose rate is judged.")
    threshold: float = Field(
        ge=0,
        description="The metric's value to reach (a rate as a share, 0.55 = 55%), in its direction.",
    )
    amount: Money = Field(description="Paid for each period the threshold is crossed.")


class PaymentLimits(Frozen):
    """A floor and a cap on the outcome payments (outcomes and bonuses) of a period or a term."""

    floor: Money | None = Field(
        None,
        description="Least paid in outcomes and bonuses over the period or term; empty: no floor.",
    )
    cap: Money | None = Field(
        None,
        description="Most paid in outcomes and bonuses over the period or term; empty: no cap.",
    )

    @model_validator(mode="after")
    def _floor_below_cap(self) -> PaymentLimits:
        if self.floor is not None and self.cap is not None and self.floor > self.cap:
            raise ValueError(f"floor {self.floor} is above cap {self.cap}")
        return self


class RateCard(Frozen):
    """How one contract pays: a fee-for-service share and priced outcomes (``rate_cards:``).

    ``fee_for_service_share`` of the contract value is paid in equal monthly instalments over the
    contract term whatever the outcomes; the outcome payments (verified outcomes times their
    price, plus bonuses) are held between ``per_period`` floor and cap, and their running total
    within ``per_term`` (the term floor is topped up on the term's last statement).
    """

    currency: str = Field("USD", description="Currency code of prices and amounts (e.g. USD).")
    fee_for_service_share: float = Field(
        0.0,
        ge=0,
        le=1,
        description="Share of `contract_value` paid in equal monthly instalments whatever the outcomes.",
    )
    outcomes: dict[Identifier, OutcomePrice] = Field(
        description="The priced outcomes, by outcome id."
    )
    bonuses: list[RateBonus] = Field(
        default_factory=list,
        description="Bonuses for a rate crossing a threshold; each step crossed pays; none: no bonus.",
    )
    per_period: PaymentLimits = Field(
        PaymentLimits(),
        description="Floor and cap on one period's outcome payments (outcomes plus bonuses).",
    )
    per_term: PaymentLimits = Field(
        PaymentLimits(),
        description="Floor and cap on the term's running total; the floor tops up the term's last statement.",
    )
    payer: str = Field(
        "",
        description="Who pays the outcomes (INDIGO outcome payer); empty: the program's `agency`.",
    )


# -- client voice, frontline reports, lessons (issue 19) ----------------------------------------
# Why one block: surveys and frontline reports are submissions of their own (not episodes), with
# their own schema and intake; their metrics are declared here like episode metrics and evaluated
# by the same engine over their own tables (``acm_helpers.metrics.voice``).
class SurveyItem(Frozen):
    """One question of the client survey, a column of the survey file."""

    label: str = Field(description="The question as packets show it.")
    scale: Literal["likert5", "0-10"] = Field(
        "likert5",
        description="`likert5` (1-5 agreement) or `0-10` (e.g. recommend); answers outside it are quarantined.",
    )

    @property
    def bounds(self) -> tuple[int, int]:
        """The lowest and highest answer the scale allows."""
        return (1, 5) if self.scale == "likert5" else (0, 10)


class ResponseRate(Frozen):
    """Respondents in the period against the clients served (an episode metric), per provider,
    period and group: both counts come from the engine, already suppressed."""

    label: str = Field("Survey response rate", description="The rate's name in packets.")
    definition: str = Field(
        "Distinct clients who answered the survey in the period / clients served.",
        description="The rate's definition in words.",
    )
    respondents: str = Field(
        description="Id of a count metric of `client_voice.metrics` counting distinct respondents."
    )
    served: str = Field(
        "clients_served", description="Id of an episode metric counting clients served."
    )
    target: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Share of clients served who should answer (0.3 = 30%); empty: no target.",
    )


class ClientVoice(Frozen):
    """Survey responses (``client_voice:`` in the program file).

    ``metrics`` are evaluated over the ``surveys`` table: one row per response with its date
    (``response_date``), provider, the items' answers (columns named after ``items``) and the
    equity columns of the episode it refers to. ``notes_dir`` holds qualitative notes from focus
    groups and interviews: ``<notes_dir>/<program id>/<roadmap topic>/*.md`` (relative: project).
    """

    items: dict[Identifier, SurveyItem] = Field(
        description="The survey's questions, by the survey file's column name."
    )
    metrics: dict[Identifier, Metric] = Field(
        default_factory=dict,
        description="Metrics over the `surveys` table, declared like episode metrics.",
    )
    response_rate: dict[Identifier, ResponseRate] = Field(
        default_factory=dict,
        description="Response rates, by metric id: respondents against clients served; none: no rate.",
    )
    notes_dir: str = Field(
        "parameters/notes",
        description="Folder of focus-group and interview notes, `<notes_dir>/<program id>/<topic>/*.md` (relative: to the project folder).",
    )
    comment_max_chars: int = Field(
        2000, ge=1, description="Longer survey comments are quarantined."
    )


class Frontline(Frozen):
    """Frontline caseworkers' reports of problems with a provider (``frontline:``).

    Each category becomes a count metric ``frontline_<category>`` over the ``frontline`` table
    (direction down: more reports is worse), with the engine's signals. Reports are about the
    provider's service, not clients' records, so their counts are not small-cell suppressed
    (``suppress: false``); descriptions are free text and follow the comment-clearing rule.
    """

    categories: dict[Identifier, str] = Field(
        description="Report categories, id to label; each becomes the metric `frontline_<id>`."
    )
    suppress: bool = Field(
        False,
        description="Suppress small report counts like client counts; false: not suppressed (reports are about the service).",
    )
    description_max_chars: int = Field(
        2000, ge=1, description="Longer report descriptions are quarantined."
    )


class ExitInterview(Frozen):
    """The end-of-contract exit interview: the questions asked of every provider."""

    questions: list[str] = Field(
        description="The questions asked of every provider at the end of its contract.",
        default_factory=lambda: [
            "What helped you most to meet the contract's goals?",
            "What got in the way, and what should the agency change?",
            "Which practice would you keep, and which would you drop?",
            "What should the next contract measure differently?",
        ],
    )


class Program(Frozen):
    """A whole program: the single source of truth for one agency program's ACM cycle."""

    id: Identifier = Field(description="Short id of the program (used in store and output paths).")
    name: str = Field(description="The program's name in packets.")
    agency: str = Field("", description="The agency running the program.")
    field: str = Field("", description="The field of services (homelessness, child welfare ...).")
    description: str = Field("", description="A sentence about the program.")
    data_dir: str = Field(
        "data", description="The store's folder, relative to the project folder (see Paths)."
    )
    first_period: str = Field(description="First month of data (YYYY-MM).")
    last_period: str = Field(description="Last month of data (YYYY-MM).")
    submission_due_days: int = Field(
        15, ge=0, description="Days after a month's end by which its submissions are due."
    )
    providers: list[Provider] = Field(description="The contracted providers.")
    metrics: dict[Identifier, Metric] = Field(description="The metrics, by id.")
    dimensions: dict[Identifier, Dimension] = Field(
        default_factory=dict, description="The equity breakdowns, by id."
    )
    suppression: Suppression = Field(Suppression(), description="The small-cell rule.")
    peers: Peers = Field(Peers(), description="How other providers appear to a provider.")
    roadmap: dict[str, RoadmapTopic] = Field(
        default_factory=dict,
        description="Performance improvement roadmap: month (YYYY-MM) -> topic.",
    )
    meetings: Meetings = Field(Meetings(), description="Meeting cadence.")
    intake: IntakeSettings = Field(
        IntakeSettings(), description="Limits intake applies to every value."
    )
    quality: QualitySettings = Field(
        QualitySettings(), description="How the data-quality section judges submissions."
    )
    delivery: Delivery | None = Field(
        None, description="`acm send`: the mail server (absent: packets are not sent)."
    )
    outcomes: dict[Identifier, OutcomeColumn] = Field(
        default_factory=dict,
        description="Program-specific outcome columns intake accepts, by name.",
    )
    codes: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Allowed codes per column (e.g. race_ethnicity, gender); other values are quarantined.",
    )
    destinations: dict[
        str, Literal["permanent", "temporary", "institutional", "other", "unknown"]
    ] = Field(
        default_factory=dict,
        description="Exit destination code -> its class (permanent, temporary, institutional, other, unknown).",
    )
    triage: Triage | None = Field(
        None, description="Portfolio triage (`acm portfolio`); absent: contracts are not scored."
    )
    sprints: dict[Identifier, Sprint] = Field(
        default_factory=dict, description="Performance-improvement sprints, by id."
    )
    rate_cards: dict[Identifier, RateCard] = Field(
        default_factory=dict,
        description="Outcome payments: a rate card per contract, by provider id.",
    )
    client_voice: ClientVoice | None = Field(
        None, description="Survey responses (client voice) and their metrics; absent: none."
    )
    frontline: Frontline | None = Field(
        None, description="Frontline caseworkers' reports and their categories; absent: none."
    )
    exit_interview: ExitInterview = Field(
        ExitInterview(), description="The exit-interview questions of the end-of-contract report."
    )

    @field_validator("first_period", "last_period")
    @classmethod
    def _period(cls, v: str) -> str:
        if not PERIOD_RE.match(v):
            raise ValueError(f"{v!r} is not a period; write YYYY-MM, e.g. 2026-10")
        return v

    @model_validator(mode="after")
    def _cross_checks(self) -> Program:
        ids = [p.id for p in self.providers]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"provider ids appear twice: {', '.join(dupes)}")
        if not self.providers:
            raise ValueError("a program needs at least one provider")
        if self.first_period > self.last_period:
            raise ValueError("first_period is after last_period")
        for month, item in self.roadmap.items():
            if not PERIOD_RE.match(month):
                raise ValueError(f"roadmap key {month!r} is not YYYY-MM")
            if item.metric not in self.metrics:
                raise ValueError(
                    f"roadmap {month}: unknown metric {item.metric!r}; known: {', '.join(self.metrics)}"
                )
            if item.dimension is not None and item.dimension not in self.dimensions:
                raise ValueError(
                    f"roadmap {month}: unknown dimension {item.dimension!r}; known: {', '.join(self.dimensions)}"
                )
        self._check_rate_cards(ids)
        self._check_voice()
        fields = [*EPISODE_COLUMNS, *self.outcomes]
        for name in self.quality.required_fields:
            if name not in fields:
                raise ValueError(
                    f"quality.required_fields: unknown field {name!r}; known: {', '.join(fields)}"
                )
        return self

    @model_validator(mode="after")
    def _triage_and_sprints(self) -> Program:
        ids = self.provider_ids
        if self.triage is not None:
            for pid in self.triage.contracts:
                if pid not in ids:
                    raise ValueError(
                        f"triage.contracts: unknown provider {pid!r}; known: {', '.join(ids)}"
                    )
            vm = self.triage.volume_metric
            if vm is not None and vm not in self.metrics:
                raise ValueError(
                    f"triage.volume_metric: unknown metric {vm!r}; known: {', '.join(self.metrics)}"
                )
        for sid, sp in self.sprints.items():
            for pid in sp.providers:
                if pid not in ids:
                    raise ValueError(
                        f"sprints.{sid}: unknown provider {pid!r}; known: {', '.join(ids)}"
                    )
            if sp.metric not in self.metrics:
                raise ValueError(
                    f"sprints.{sid}: unknown metric {sp.metric!r}; known: {', '.join(self.metrics)}"
                )
        return self

    def _check_rate_cards(self, ids: list[str]) -> None:
        for pid, card in self.rate_cards.items():
            if pid not in ids:
                raise ValueError(f"rate_cards: unknown provider {pid!r}; known: {', '.join(ids)}")
            if card.fee_for_service_share > 0 and self.provider(pid).contract_value is None:
                raise ValueError(
                    f"rate_cards.{pid}: a fee_for_service_share needs the provider's contract_value"
                )
            named = [(f"outcomes.{o}.metric", p.metric) for o, p in card.outcomes.items()]
            named += [
                (f"outcomes.{o}.pending_metric", p.pending_metric)
                for o, p in card.outcomes.items()
                if p.pending_metric
            ]
            named += [(f"bonuses[{i}].metric", b.metric) for i, b in enumerate(card.bonuses)]
            for where, mid in named:
                if mid not in self.metrics:
                    raise ValueError(
                        f"rate_cards.{pid}.{where}: unknown metric {mid!r}; known: {', '.join(self.metrics)}"
                    )
            for b in card.bonuses:
                if self.metrics[b.metric].kind != "rate":
                    raise ValueError(
                        f"rate_cards.{pid}: bonus {b.label!r} needs a rate metric, {b.metric} is a "
                        f"{self.metrics[b.metric].kind}"
                    )
            for oid, p in card.outcomes.items():
                m = self.metrics[p.metric]
                if p.count != "numerator" and m.kind != "rate":
                    raise ValueError(
                        f"rate_cards.{pid}.outcomes.{oid}: count {p.count} needs a rate metric"
                    )
                if m.kind not in ("rate", "count"):
                    raise ValueError(
                        f"rate_cards.{pid}.outcomes.{oid}: {p.metric} is a {m.kind}; price a "
                        "rate's or a count's outcomes"
                    )
                if p.verification_lag_months and p.pending_metric is None:
                    raise ValueError(
                        f"rate_cards.{pid}.outcomes.{oid}: a verification lag needs the "
                        "pending_metric whose numerator is the cohort awaiting verification"
                    )

    def _check_voice(self) -> None:
        """Survey metric ids apart from episode metrics; response rates name known metrics."""
        if self.client_voice is None:
            return
        cv = self.client_voice
        clash = sorted(set(cv.metrics) & set(self.metrics))
        if clash:
            raise ValueError(f"client_voice.metrics: ids also used by metrics: {', '.join(clash)}")
        for rid, rr in cv.response_rate.items():
            if rr.respondents not in cv.metrics or cv.metrics[rr.respondents].kind != "count":
                raise ValueError(
                    f"client_voice.response_rate.{rid}: respondents {rr.respondents!r} is not a "
                    f"count metric of client_voice.metrics; known: {', '.join(cv.metrics)}"
                )
            if rr.served not in self.metrics:
                raise ValueError(
                    f"client_voice.response_rate.{rid}: unknown served metric {rr.served!r}; "
                    f"known: {', '.join(self.metrics)}"
                )

    # -- lookups that fail with the list of known ids ---------------------------------------
    @property
    def provider_ids(self) -> list[str]:
        return [p.id for p in self.providers]

    def provider(self, provider_id: str) -> Provider:
        """Return a provider by id, or raise with the list of known ids."""
        for p in self.providers:
            if p.id == provider_id:
                return p
        raise UnknownIdError("provider", provider_id, self.provider_ids)

    def rate_card(self, provider_id: str) -> RateCard:
        """The provider's rate card, or raise naming the providers that have one."""
        self.provider(provider_id)
        if provider_id not in self.rate_cards:
            raise ConfigError(
                f"Provider {provider_id!r} has no rate card (rate_cards: in the program file); "
                f"providers with one: {', '.join(self.rate_cards) or '(none)'}."
            )
        return self.rate_cards[provider_id]

    def metric(self, metric_id: str) -> Metric:
        """Return a metric by id, or raise with the list of known ids."""
        if metric_id not in self.metrics:
            raise UnknownIdError("metric", metric_id, list(self.metrics))
        return self.metrics[metric_id]

    def dimension(self, dimension_id: str) -> Dimension:
        """Return a dimension by id, or raise with the list of known ids."""
        if dimension_id not in self.dimensions:
            raise UnknownIdError("dimension", dimension_id, list(self.dimensions))
        return self.dimensions[dimension_id]

    def periods(self) -> list[str]:
        """Every month of the program, ``first_period`` to ``last_period`` inclusive."""
        return month_range(self.first_period, self.last_period)

    def check_period(self, period: str) -> str:
        """Validate a YYYY-MM period against the program's months."""
        if not isinstance(period, str) or not PERIOD_RE.match(period):
            raise ConfigError(f"Period {period!r} is not YYYY-MM (e.g. {self.last_period}).")
        if period not in self.periods():
            raise UnknownIdError("period", period, [self.first_period + " … " + self.last_period])
        return period

    # -- meeting types and their periods (issue 19) -----------------------------------------
    def meeting_type(self, meeting_id: str) -> MeetingType:
        """A meeting type by id, or raise with the list of known ids."""
        types = self.meetings.all_types()
        if meeting_id not in types:
            raise UnknownIdError("meeting type", meeting_id, list(types))
        return types[meeting_id]

    def extra_grains(self) -> tuple[str, ...]:
        """The sub-month grains the engine evaluates for this program's meeting cadences."""
        cadences = {t.cadence for t in self.meetings.all_types().values()}
        return tuple(g for c, g in SUB_MONTH.items() if c in cadences)

    def sub_month_periods(self, grain: str) -> list[tuple[str, date, date]]:
        """Every whole week (``week``) or biweekly period (``biweek``) inside the program's
        months, as (label, first day, last day)."""
        lo, hi = period_bounds(self.first_period)[0], period_bounds(self.last_period)[1]
        if grain == "week":
            return week_periods(lo, hi)
        if grain == "biweek":
            if self.meetings.anchor is None:
                raise ConfigError(
                    f"Program {self.id}: biweekly periods need meetings.anchor (a Monday) in "
                    "the program file."
                )
            return biweek_periods(self.meetings.anchor, lo, hi)
        raise ConfigError(f"Grain {grain!r} is not week or biweek.")

    def meeting_periods(self, cadence: str) -> list[str]:
        """Every period label of a cadence that the program covers."""
        grain = CADENCE_GRAIN[cadence]
        if grain == "month":
            return self.periods()
        if grain == "quarter":
            return list(dict.fromkeys(quarter_of(m) for m in self.periods()))
        return [label for label, _, _ in self.sub_month_periods(grain)]

    def check_meeting_period(self, period: str, cadence: str) -> str:
        """Validate a period label against a cadence and the program's span.

        Raises:
            ConfigError: the label is of another grain (naming the form expected).
            UnknownIdError: the period is outside the program (with its first and last).
        """
        grain = CADENCE_GRAIN[cadence]
        examples = {
            "month": self.last_period,
            "quarter": quarter_of(self.last_period),
            "week": "2026-W41",
            "biweek": "2026-W41-42",
        }
        try:
            got = grain_of(str(period))
            bounds_of(str(period)) if got in ("week", "biweek") else None
        except ConfigError:
            got = ""
        if got != grain:
            raise ConfigError(
                f"Period {period!r} is not a {cadence} period; write it like {examples[grain]}."
            )
        known = self.meeting_periods(cadence)
        if period not in known:
            raise UnknownIdError("period", period, [known[0] + " … " + known[-1]] if known else [])
        return period

    def data_path(self, base: Path | None = None) -> Path:
        """The data directory, relative to ``base`` (the program file's project root)."""
        p = Path(self.data_dir)
        return p if p.is_absolute() or base is None else base / p


def load_program(path: str | Path) -> Program:
    """Read and validate a program file.

    Raises:
        ConfigError: naming the file and, for each problem, the key path and what is wrong.
    """
    path = Path(path)
    if not path.exists():
        raise ConfigError(
            f"Program file {path} not found. Pass --program PATH or create parameters/program.yaml."
        )
    text = path.read_text(encoding="utf-8")
    return _parse_program(str(path), text)


@functools.lru_cache(maxsize=8)
def _parse_program(path: str, text: str) -> Program:
    """The validated program of a file's text, parsed once per process and content.

    Why: a packet opens its program several times (the notebook's data load, the sections that
    read the roadmap or the payments, the appendix), and parsing and validating the YAML costs
    about 0.1 s each time. Keyed by the file's text (not its modification time), so an edited
    file is always parsed again; a :class:`Program` is frozen, so sharing one is safe. A
    warm kernel clears this cache between notebooks with every other cache of the package.
    """
    try:
        raw = yaml.load(text, Loader=SAFE_LOADER)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of program settings at the top level.")
    try:
        return Program.model_validate(raw)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "(top level)"
            msg = err["msg"]
            if err["type"] == "extra_forbidden":
                msg = "unknown key; remove it or check its spelling"
            lines.append(f"  - {where}: {msg}")
        raise ConfigError(
            f"{path}: {len(lines)} problem(s) in the program file:\n" + "\n".join(lines)
        ) from None
