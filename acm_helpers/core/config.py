"""The program file (``parameters/program.yaml``) as a frozen, validated model.

Everything the workbench knows about a program lives in one YAML file: providers and their
contracts, declared metrics, equity dimensions, suppression, peer display and the roadmap.
Nothing here is read at import time; call :func:`load_program`.
"""

from __future__ import annotations

from datetime import date
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

    id: Identifier
    name: str
    contract_id: str
    contract_value: float | None = None
    start: date
    end: date
    program: str | None = None  # sub-program / project type, when a program has several
    # How this provider's submissions are written, when it is not UTF-8 / detectable: intake
    # never guesses a code page or a decimal separator (issue 13), it reads what is declared.
    encoding: str | None = None  # e.g. latin-1, cp1252, utf-16-le
    decimal: Literal[".", ","] | None = None  # "28220,76" is 28220.76 only when this says ","
    # Who receives the monthly packet by email (`acm send`); none: the packet is not sent.
    recipients: list[EmailAddress] = Field(default_factory=list)
    attach_xlsx: bool | None = None  # None: the program's delivery.attach_xlsx

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

    label: str
    definition: str
    kind: Literal["rate", "count", "mean", "median", "sum_ratio"]
    population: str
    numerator: str | None = None
    denominator: str | None = None
    value: str | None = None
    direction: Literal["up", "down"] = "up"
    target: float | None = None
    benchmark: dict[str, float] = Field(default_factory=dict)
    format: Literal["percent", "number", "days", "currency"] = "number"
    unit: str = ""
    numerator_label: str = ""
    denominator_label: str = ""
    key: bool = True  # shown as a headline tile
    system_wide: bool = False  # uses fields derived across providers (agency-only view)
    per: Literal["episode", "person"] = "episode"  # person: each client's latest episode only
    universe: str | None = None  # per person: the episodes the latest is chosen from

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

    label: str
    column: str
    source: str | None = None  # numeric column to bin into ``column`` (e.g. age_at_entry)
    expression: str | None = None  # or: an SQL value to bin, per period (may use :start/:end)
    bins: list[float] | None = None  # left-closed edges; last bin is open-ended
    reference_group: str | None = None
    reference_shares: dict[str, float] = Field(default_factory=dict)
    reference_source: str = ""  # where the shares come from (e.g. "ACS 2023 5-year, King County")

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

    threshold: int = Field(11, ge=1)
    complementary: bool = True


class Peers(Frozen):
    """How other providers appear in provider-facing outputs."""

    display: Literal["named", "anonymized"] = "anonymized"


class RoadmapTopic(Frozen):
    """One month of the performance improvement roadmap."""

    topic: Literal[
        "disparity", "duration_outcome", "referral_funnel", "cohort_trend", "peer_comparison"
    ]
    title: str
    metric: str
    question: str
    dimension: str | None = None
    change_month: str | None = None  # for cohort_trend: the month a practice changed

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

    title: str
    cadence: Cadence
    audience: Literal["provider", "internal", "executive"]
    template: Literal["checkin", "internal_review", "learning_circle"]

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

    cadence: Cadence = "monthly"
    day_of_month: int = Field(15, ge=1, le=28)
    anchor: date | None = None
    types: dict[Identifier, MeetingType] = Field(default_factory=dict)

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

    max_field_chars: int = Field(10_000, ge=1)  # longer values are quarantined
    earliest_date: date = date(
        1900, 1, 1
    )  # earlier dates (birth year 1850, 0001-01-01) quarantined
    latest_year: int = Field(2200, ge=1900)  # later years are quarantined as implausible


class QualitySettings(Frozen):
    """How the data-quality section judges a submission (``quality:`` in the program file).

    Why settings: which fields a program cannot do without, and how far their completeness may
    fall before the meeting talks about it, are the program's call. Completeness is judged over
    ``required_fields`` only (plus the canonical required columns, always): averaging in fields
    that are blank by design (``exit_date`` for clients still enrolled) hides a real decline.
    An empty ``required_fields`` means the columns the program's equity dimensions read.
    """

    required_fields: list[str] = Field(default_factory=list)
    completeness_min: float = Field(0.95, ge=0, le=1)  # a required field filled in less: a problem
    decline_points: float = Field(0.05, gt=0, le=1)  # a fall of this much (0.05 = 5 points) ...
    trend_months: int = Field(12, ge=2, le=60)  # ... against this many months earlier: a decline
    late_days: int = Field(0, ge=0)  # a file more days than this past its due date is late


class Delivery(Frozen):
    """How `acm send` emails packets (``delivery:`` in the program file).

    The mail server, the sender and what is attached; never the login. Why not the credentials:
    a program file is committed and shared; the user name and password are read from the
    environment variables named here when a message is actually sent (`acm send --dry-run`
    needs none). The connection is always encrypted before the login: ``starttls`` (port 587,
    the submission port) or ``ssl`` (implicit TLS, port 465), with the server's certificate
    verified against the system's authorities or ``ca_file`` (an agency relay's own CA).
    """

    host: str
    port: int = Field(587, ge=1, le=65535)
    security: Literal["starttls", "ssl"] = "starttls"
    ca_file: str | None = None  # PEM bundle trusted instead of the system's (relative: project)
    from_address: EmailAddress
    from_name: str = ""
    reply_to: EmailAddress | None = None
    attach_xlsx: bool = True  # providers may override with their own attach_xlsx
    username_env: EnvName = "ACM_SMTP_USER"
    password_env: EnvName = "ACM_SMTP_PASSWORD"
    timeout_s: float = Field(60.0, gt=0)


class OutcomeColumn(Frozen):
    """A program-specific column accepted by intake (e.g. ``subsequent_involvement_12m``)."""

    type: Literal["bool", "int", "float", "date", "str"]
    description: str = ""
    required: bool = False


class Program(Frozen):
    """A whole program: the single source of truth for one agency program's ACM cycle."""

    id: Identifier
    name: str
    agency: str = ""
    field: str = ""
    description: str = ""
    data_dir: str = "data"
    first_period: str
    last_period: str
    submission_due_days: int = Field(15, ge=0)
    providers: list[Provider]
    metrics: dict[Identifier, Metric]
    dimensions: dict[Identifier, Dimension] = Field(default_factory=dict)
    suppression: Suppression = Suppression()
    peers: Peers = Peers()
    roadmap: dict[str, RoadmapTopic] = Field(default_factory=dict)
    meetings: Meetings = Meetings()
    intake: IntakeSettings = IntakeSettings()
    quality: QualitySettings = QualitySettings()
    delivery: Delivery | None = None  # `acm send`: the mail server (absent: packets are not sent)
    outcomes: dict[Identifier, OutcomeColumn] = Field(default_factory=dict)
    codes: dict[str, list[str]] = Field(default_factory=dict)
    destinations: dict[
        str, Literal["permanent", "temporary", "institutional", "other", "unknown"]
    ] = Field(default_factory=dict)

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
        fields = [*EPISODE_COLUMNS, *self.outcomes]
        for name in self.quality.required_fields:
            if name not in fields:
                raise ValueError(
                    f"quality.required_fields: unknown field {name!r}; known: {', '.join(fields)}"
                )
        return self

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
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
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
