"""Canonical tables, declared once. Intake validates against these on the way in; the store and
the engine check them on the way out.

The canonical record is one service episode (one client enrollment with one provider). See
ARCHITECTURE.md, "Canonical record".
"""

from __future__ import annotations

import numpy as np
import pandas as pd

ALL = "__all__"  # provider_id of whole-program rows (and the total of a breakdown)
NOT_RECORDED = "Not recorded"  # group label of a dimension value that is missing


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

# Columns derived at load, system-wide (see acm_helpers.intake.derive). The engine may use them in
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

# -- metric_values and equity (owner: acm_helpers.metrics.engine / equity / privacy) ----------------
# metric_values: the engine's output; every chart, packet, dashboard and report reads it. One row
# per provider (or "__all__") x period x metric x group (dimension "" / group "" = overall).
#
# Cell size and suppression. ``cell_size`` is the number suppression is judged on: the cases
# behind a rate, mean or median (its denominator), the count itself for a count, and the smaller
# of population rows and denominator for a sum_ratio. A row with cell_size under
# ``program.suppression.threshold`` is suppressed ("primary"); further rows are suppressed
# ("complementary") so that no suppressed cell can be recovered by subtraction from a total:
# groups within a dimension (vs the overall row), providers within "__all__", and months within
# quarters/years/term for metrics whose populations add up over time. A suppressed row has
# numerator, denominator, value, ci_low, ci_high, cell_size and every benchmark/flag column that
# is computed from its own cell nulled (False for flags) in the stored table and every output.
# Benchmarks taken from other cells (peer_*, trailing_12m, same_month_last_year,
# previous_value) are null when the cell they come from is suppressed.
# What identifies one cell of ``metric_values``, and the numbers a cell shows (or hides).
CELL_KEYS = ["metric_id", "provider_id", "period", "grain", "dimension", "group"]
CELL_NUMBERS = ["numerator", "denominator", "value", "ci_low", "ci_high"]

METRIC_VALUE_COLUMNS: dict[str, str] = {
    "version": "str",  # hash of inputs + metric definitions (metrics.refresh)
    "provider_id": "str",  # a provider id, or "__all__" for the whole program
    "period": "str",  # YYYY-MM, YYYY-Qn, YYYY, or "term" (the provider's contract term)
    "grain": "str",  # month | quarter | year | term | week | biweek (weekly/biweekly meetings)
    "period_start": "date",  # first day of the period's window
    "period_end": "date",  # last day of the period's window
    "metric_id": "str",
    "dimension": "str",  # "" for the overall value, else a dimension id
    "group": "str",  # "" for the overall value, else the group label ("Not recorded" = blank)
    "numerator": "float",  # rate: cases meeting the numerator; sum_ratio: sum(numerator);
    #                        count: the count; mean: sum of values; median: null
    "denominator": "float",  # rate/mean/median: cases; sum_ratio: sum(denominator); count: null
    "value": "float",  # the metric's value (rates as 0..1 fractions)
    "ci_low": "float",  # 95% interval: Wilson (rate), exact order statistics (median),
    "ci_high": "float",  #  t (mean), exact Poisson (count), delta method (sum_ratio)
    "cell_size": "float",  # what suppression is judged on (see above)
    "suppressed": "bool",  # True: numerator/denominator/value/ci are null in every output
    "suppression_reason": "str",  # "" | "fewer than 11 cases" | "complementary: ..." text
    "math": "str",  # "12 exits to permanent housing / 20 leavers = 60%"; "suppressed ..." if so
    # -- presentation, copied from the metric definition so readers need not load the program
    "label": "str",
    "format": "str",  # percent | number | days | currency
    "unit": "str",
    "direction": "str",  # up (higher is better) | down
    "kind": "str",  # rate | count | mean | median | sum_ratio
    "system_wide": "bool",  # uses outcomes derived across providers (agency-only view)
    "key": "bool",  # shown as a headline tile
    # -- benchmarks
    "previous_value": "float",  # same provider/metric/group, previous period of the same grain
    "trailing_12m": "float",  # own value over the 12 months ending with the period's last month,
    #                           computed from episodes over that window (never averaged)
    "same_month_last_year": "float",  # same month (quarter, year) one year earlier
    "peer_median": "float",  # median over providers (this one included) with an unsuppressed
    "peer_q1": "float",  #       value for the same period, grain, metric and group
    "peer_q3": "float",
    "peer_rank": "Int64",  # 1 = best among those providers (respects direction); null for __all__
    "peer_n": "Int64",  # number of providers ranked
    "target": "float",  # metric target (null when none)
    "national": "float",  # benchmark["national"] from the program file (null when none)
    "benchmarks": "str",  # JSON of the metric's whole benchmark dict (third-party values)
    "change_p_value": "float",  # test of value vs previous_value (two-proportion z for rates)
    "centre_line": "float",  # XmR chart (Making Data Count, metrics.spc) over the provider's
    "control_low": "float",  #   own monthly history up to the period: mean +/- 2.66 x mean
    "control_high": "float",  #  moving range (large ones screened out), rebased at roadmap
    #                             change months; month grain only, null under 8 months
    "spc_signal": "str",  # "" (no limits) | common | improvement | concern | neither: the month's
    #                       special cause read by the metric's direction (flag_special_cause)
    "spc_assurance": "str",  # "" (no target or limits) | consistent_pass | consistent_fail |
    #                          inconsistent (hit and miss): the target against the limits
    # -- flags: only when the cell (and, for change, the previous cell) has cell_size >= threshold
    "flag_below_target": "bool",  # worse than target in the metric's direction
    "flag_worse_than_peers": "bool",  # worse than peer_median (needs peer_n >= 3)
    "flag_significant_change": "bool",  # change vs previous period with p < 0.05
    "flag_special_cause": "bool",  # outside the limits, 7 months on one side of the centre, a
    #                                7-month trend, or 2 of 3 months beyond 2 sigma on one side
    "flag_reasons": "str",  # one plain sentence per raised flag, joined by " "
}

# equity: one row per provider (or "__all__") x period x metric x dimension x group, comparing
# the group with the dimension's reference group and with all other groups combined, and the
# group's share of the metric's population with the dimension's reference-population share.
# Suppression follows metric_values: a suppressed group has every value column null; a
# comparison against a suppressed reference group is null.
EQUITY_COLUMNS: dict[str, str] = {
    "version": "str",
    "provider_id": "str",
    "period": "str",
    "grain": "str",
    "metric_id": "str",
    "dimension": "str",
    "group": "str",
    "numerator": "float",  # as in metric_values, for this group
    "denominator": "float",
    "value": "float",
    "ci_low": "float",
    "ci_high": "float",
    "cell_size": "float",
    "is_reference": "bool",  # this row is the dimension's reference group
    "reference_group": "str",  # the dimension's reference group ("" when none is configured)
    "reference_value": "float",
    "diff_vs_reference": "float",  # value - reference_value
    "diff_vs_reference_low": "float",  # rates: Newcombe hybrid score; means: Welch t
    "diff_vs_reference_high": "float",
    "ratio_vs_reference": "float",  # value / reference_value
    "ratio_vs_reference_low": "float",  # rates: Katz log interval; means: delta method
    "ratio_vs_reference_high": "float",
    "others_value": "float",  # every other group of the dimension combined (total - group)
    "diff_vs_others": "float",
    "diff_vs_others_low": "float",
    "diff_vs_others_high": "float",
    "ratio_vs_others": "float",
    "ratio_vs_others_low": "float",
    "ratio_vs_others_high": "float",
    "flag_disparity": "bool",  # adverse gap (per direction) whose interval excludes no
    #                            difference after a Bonferroni adjustment for the comparisons in
    #                            the breakdown, with both groups' cell_size >= threshold
    "disparity_reason": "str",  # a sentence when flagged, else ""
    "share_served": "float",  # group cell_size / the overall cell_size (null if that is suppressed)
    "reference_share": "float",  # dimension.reference_shares[group] (null when not given)
    "disproportionality": "float",  # share_served / reference_share
    "disproportionality_p": "float",  # exact two-sided binomial test of share vs reference
    "flag_disproportionality": "bool",  # p < 0.05 and ratio outside 0.8 .. 1.25
    "disproportionality_reason": "str",
    "suppressed": "bool",
    "suppression_reason": "str",
}

# suppressed_truth (internal, never in an output): the true numbers of every cell the privacy
# step suppressed, written by ``metrics.engine.refresh`` from the same evaluation as
# ``metric_values`` (same ``version``) and read through ``Store.suppressed_truth`` by the packet
# audit alone, which looks for exactly these numbers in what a provider receives.
SUPPRESSED_TRUTH_COLUMNS: dict[str, str] = {
    "version": "str",
    "metric_id": "str",
    "provider_id": "str",
    "period": "str",
    "grain": "str",
    "dimension": "str",
    "group": "str",
    "numerator": "float",
    "denominator": "float",
    "value": "float",
    "ci_low": "float",
    "ci_high": "float",
    "cell_size": "float",
    "suppression_reason": "str",
}

# meetings and action_items (owner: acm_helpers.meetings.actions). Dates are stored as timestamps.
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

# payment_disputes (owner: acm_helpers.meetings.disputes): one row per disputed item count on a
# provider's payment statement, kept with its resolution. Dates are stored as timestamps.
PAYMENT_DISPUTE_COLUMNS: dict[str, str] = {
    "dispute_id": "str",  # "<provider>-D<NNN>"
    "provider_id": "str",
    "period": "str",  # the statement month disputed (YYYY-MM)
    "outcome_id": "str",  # a rate card outcome id
    "kind": "str",  # challenge (counted outcomes questioned: withheld) | claim (more claimed)
    "items": "int",  # outcomes disputed
    "reason": "str",
    "raised_by": "str",
    "raised_date": "date",
    "status": "str",  # open | upheld | rejected
    "resolved_date": "date",  # null while open
    "resolved_items": "int",  # upheld: how many of the items the decision accepts (0 if rejected)
    "resolution": "str",
}

# -- canonical episodes, enforced (intake helper) -------------------------------------------
# The program adds to EPISODE_COLUMNS: its declared outcome columns, its code lists
# (``program.codes``: column -> allowed values) and its exit destinations
# (``program.destinations``: code -> destination class). ``episodes_schema`` builds the pandera
# schema from both, so the same rules hold at intake, in ``intake.load_canonical`` and anywhere
# else a frame crosses into the store.

SCHEMA_VERSION = "1"  # bump when the canonical episode contract changes; logged per submission

# Canonical type name -> pandas dtype held in memory and in Parquet. Strings use pandas 3's
# default ``str`` dtype (missing = NaN); dates are day-precision values in datetime64[us].
PANDAS_DTYPES: dict[str, str] = {
    "str": "str",
    "date": "datetime64[us]",
    "int": "Int64",
    "float": "float64",
    "bool": "boolean",
}

# Leading characters that make a spreadsheet treat text as a formula (OWASP CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

# Pairs of dates that must be in order: field -> (other field, reason when out of order).
DATE_ORDER_RULES: dict[str, tuple[str, str]] = {
    "exit_date": ("enrollment_date", "exit date is before the enrollment date"),
    "referral_date": ("enrollment_date", "referral date is after the enrollment date"),
    "move_in_date": ("enrollment_date", "move-in date is before the enrollment date"),
    "birth_date": ("enrollment_date", "birth date is after the enrollment date"),
}
_EARLIER = {"referral_date", "birth_date"}  # fields that must come on or before the other one

# submissions: one row per file seen (loaded, superseded, rejected).
SUBMISSION_COLUMNS: dict[str, str] = {
    "sha256": "str",
    "file": "str",  # file name as received
    "provider_id": "str",
    "period": "str",
    "received": "date",
    "loaded_at": "str",  # ISO timestamp of the intake run
    "status": "str",  # current | superseded | rejected
    "rows_total": "int",
    "rows_accepted": "int",
    "rows_rejected": "int",
    "schema_version": "str",
    "superseded_by": "str",  # sha256 of the submission that replaced this one
    "raw_path": "str",  # raw/<period>/<provider>/<sha256>.<ext>, relative to the store root
    "reason": "str",  # why a file was rejected entirely
}

# quarantine: one row per problem found in a rejected row (a row can have several).
QUARANTINE_COLUMNS: dict[str, str] = {
    "sha256": "str",
    "file": "str",
    "provider_id": "str",
    "period": "str",
    "row": "int",  # 1-based data row: the first record after the header is row 1
    "field": "str",
    "value": "str",  # the text as submitted
    "reason": "str",
}

# quality: tidy data-quality report per provider and period (current submission).
QUALITY_COLUMNS: dict[str, str] = {
    "provider_id": "str",
    "period": "str",
    "sha256": "str",
    "check": "str",  # rows | completeness | invalid_value | missing_required | dates_out_of_order |
    #                  duplicate | formula_text | unknown_column | blank_rows | timeliness
    "field": "str",
    "value": "float",
    "detail": "str",
}


def episode_columns(program) -> dict[str, tuple[str, bool]]:
    """Canonical columns for one program: EPISODE_COLUMNS plus its declared outcome columns."""
    cols = dict(EPISODE_COLUMNS)
    for name, outcome in program.outcomes.items():
        cols[name] = (outcome.type, outcome.required)
    return cols


def neutralize_formula(value):
    """Make text safe to put in a spreadsheet cell: prefix formula-like text with ``'``.

    Submissions are stored as sent (``=HYPERLINK(...)`` stays text in Parquet); only writers of
    XLSX/CSV outputs call this, so a spreadsheet never evaluates provider-supplied text.
    """
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def episodes_schema(program, received=None):
    """The pandera schema of canonical episodes for ``program``.

    Why built from the program: allowed race/gender codes, exit destinations, providers and
    outcome columns are program data, not code. Row-level rules (codes, ranges, dates in order,
    no date after the file was received) are checks whose ``error`` text is the reason shown
    in the quarantine table.

    Args:
        program: a ``config.Program``.
        received: the date the submission arrived; dates after it are rejected. ``None`` skips
            that rule (e.g. for already-canonical frames from adapters).
    """
    import pandas as pd
    import pandera.pandas as pa

    recv = pd.Timestamp(received) if received is not None else None
    columns = {}
    for name, (typ, required) in episode_columns(program).items():
        checks = []
        if name == "provider_id":
            checks.append(pa.Check.isin(program.provider_ids, error="unknown provider id"))
        if name in program.codes:
            checks.append(
                pa.Check.isin(program.codes[name], error=f"not one of the program's {name} codes")
            )
        if name == "exit_destination" and program.destinations:
            checks.append(
                pa.Check.isin(list(program.destinations), error="unknown exit destination code")
            )
        if name == "destination_class":
            checks.append(pa.Check.isin(DESTINATION_CLASSES, error="unknown destination class"))
        if name == "age_at_entry":
            checks.append(pa.Check.in_range(0, 120, error="age outside 0-120"))
        if name == "cost":
            checks.append(pa.Check.ge(0, error="negative cost"))
        if typ == "date" and recv is not None:
            checks.append(
                pa.Check.le(recv, error=f"date is after the file was received ({recv.date()})")
            )
        columns[name] = pa.Column(PANDAS_DTYPES[typ], checks, nullable=not required)
    for name, typ in LINEAGE_COLUMNS.items():
        columns[name] = pa.Column(PANDAS_DTYPES[typ], required=False, nullable=True)
    wide = [
        pa.Check(_in_order(field, other), error=reason)
        for field, (other, reason) in DATE_ORDER_RULES.items()
    ]
    return pa.DataFrameSchema(columns, checks=wide, strict=False, name="episodes")


def _in_order(field: str, other: str):
    if field in _EARLIER:
        return lambda df: ~(df[field] > df[other])
    return lambda df: ~(df[field] < df[other])


def conform_episodes(frame, program):
    """Give a canonical-looking frame the canonical columns and dtypes (no row is dropped).

    Adapters, the demo and DuckDB all hand back slightly different dtypes (object strings,
    datetime64[ns], numeric zip codes); the schema checks exact dtypes, so frames pass through
    here first. Missing optional columns are added empty; extra columns are kept.
    """
    import pandas as pd

    out = frame.copy()
    wanted = {name: typ for name, (typ, _) in episode_columns(program).items()}
    for name, typ in wanted.items():
        if name not in out.columns:
            out[name] = pd.Series(index=out.index, dtype=PANDAS_DTYPES[typ])
    for name, typ in {**wanted, **LINEAGE_COLUMNS}.items():
        if name not in out.columns or str(out[name].dtype) == PANDAS_DTYPES[typ]:
            continue
        col = out[name]
        if typ == "str":
            if pd.api.types.is_float_dtype(col) or pd.api.types.is_integer_dtype(col):
                col = col.astype("Int64")
            out[name] = col.astype("str").where(col.notna()).astype("str")
        elif typ == "date":
            col = pd.to_datetime(col)
            out[name] = (col.dt.tz_localize(None) if col.dt.tz is not None else col).astype(
                "datetime64[us]"
            )
        else:
            out[name] = col.astype(PANDAS_DTYPES[typ])
    return derive_destination_class(out, program)


def derive_destination_class(frame, program):
    """Set ``destination_class`` from ``exit_destination`` through ``program.destinations``.

    Why: providers report the HUD exit destination code; the class (permanent, temporary ...) is
    the program's mapping, so it is derived here rather than trusted from the file. Where the
    code is missing or unknown, a class the file supplied is kept (an unknown code is then
    rejected by the schema).
    """
    if not program.destinations or "exit_destination" not in frame.columns:
        return frame
    derived = frame["exit_destination"].map(program.destinations)
    supplied = frame["destination_class"] if "destination_class" in frame.columns else None
    out = frame.copy()
    out["destination_class"] = (
        derived if supplied is None else derived.where(derived.notna(), supplied)
    ).astype("str")
    return out


def conform(frame: pd.DataFrame, columns: dict[str, str]) -> pd.DataFrame:
    """Exactly ``columns`` in order, with the contract's dtypes."""
    out = pd.DataFrame(index=frame.index)
    for name, typ in columns.items():
        col = frame[name] if name in frame else pd.Series(np.nan, index=frame.index)
        dtype = PANDAS_DTYPES.get(typ, typ)
        if typ == "bool":
            out[name] = col.fillna(False).astype("bool")
        elif typ == "date":
            out[name] = pd.to_datetime(col).astype("datetime64[us]")
        elif typ == "str":
            out[name] = col.fillna("").astype("str")
        else:
            out[name] = col.astype(dtype)
    return out.reset_index(drop=True)


# -- client voice and frontline reports (issue 19) -------------------------------------------
# Two more kinds of submission, each kept, validated and quarantined like episodes
# (``acm_helpers.intake.voice``): survey responses and frontline caseworkers' reports. Their
# metrics are declared in the program file (``client_voice:``, ``frontline:``).
SURVEYS = "surveys"  # one row per survey response
FRONTLINE = "frontline"  # one row per frontline report
VOICE_SUBMISSIONS = "voice_submissions"  # their submissions log (SUBMISSION_COLUMNS + kind)

# name -> (canonical type, required). Item columns (``client_voice.items``) are added per program.
SURVEY_COLUMNS: dict[str, tuple[str, bool]] = {
    "response_id": ("str", True),
    "provider_id": ("str", True),
    "response_date": ("date", True),
    "episode_id": ("str", False),  # the episode answered about (gives the equity columns) ...
    "respondent_id": ("str", False),  # ... or the respondent's client id; one of them is needed
    "comment": ("str", False),  # free text: never in a provider output unless cleared
}
FRONTLINE_COLUMNS: dict[str, tuple[str, bool]] = {
    "report_id": ("str", True),
    "provider_id": ("str", True),
    "report_date": ("date", True),
    "category": ("str", True),  # one of ``frontline.categories``
    "description": ("str", False),  # free text: never in a provider output unless cleared
    "reporter": ("str", False),  # the caseworker's team or role (never shown to providers)
}
VOICE_LOG_COLUMNS: dict[str, str] = {"kind": "str", **SUBMISSION_COLUMNS}


def survey_columns(program) -> dict[str, tuple[str, bool]]:
    """The survey file's columns for ``program``: the fixed ones plus one per declared item."""
    cols = dict(SURVEY_COLUMNS)
    for item in program.client_voice.items if program.client_voice else {}:
        cols[item] = ("float", False)
    return cols


def surveys_schema(program, received=None):
    """The pandera schema of survey responses: answers within their item's scale (whole
    numbers), a known provider, a date no later than the file's receipt, and an episode or a
    respondent named on every row (a response nobody can be counted against is quarantined)."""
    import pandas as pd
    import pandera.pandas as pa

    recv = pd.Timestamp(received) if received is not None else None
    cv = program.client_voice
    limit = cv.comment_max_chars if cv else 2000
    columns = {}
    for name, (typ, required) in survey_columns(program).items():
        checks = []
        if name == "provider_id":
            checks.append(pa.Check.isin(program.provider_ids, error="unknown provider id"))
        if cv is not None and name in cv.items:
            lo, hi = cv.items[name].bounds
            checks.append(pa.Check.in_range(lo, hi, error=f"answer outside the scale {lo}-{hi}"))
            checks.append(
                pa.Check(
                    lambda s: s.isna() | (s == s.round()), error="answer is not a whole number"
                )
            )
        if name == "comment":
            checks.append(pa.Check.str_length(max_value=limit, error=f"over {limit} characters"))
        if typ == "date" and recv is not None:
            checks.append(
                pa.Check.le(recv, error=f"date is after the file was received ({recv.date()})")
            )
        columns[name] = pa.Column(PANDAS_DTYPES[typ], checks, nullable=not required)
    who = pa.Check(
        lambda df: df["episode_id"].notna() | df["respondent_id"].notna(),
        error="neither episode_id nor respondent_id is given",
    )
    return pa.DataFrameSchema(columns, checks=[who], strict=False, name="surveys")


def frontline_schema(program, received=None):
    """The pandera schema of frontline reports: a known provider and category, a date no later
    than the file's receipt, a description within the program's length limit."""
    import pandas as pd
    import pandera.pandas as pa

    recv = pd.Timestamp(received) if received is not None else None
    fl = program.frontline
    cats = list(fl.categories) if fl else []
    limit = fl.description_max_chars if fl else 2000
    columns = {}
    for name, (typ, required) in FRONTLINE_COLUMNS.items():
        checks = []
        if name == "provider_id":
            checks.append(pa.Check.isin(program.provider_ids, error="unknown provider id"))
        if name == "category":
            checks.append(
                pa.Check.isin(cats, error="not one of the program's frontline categories")
            )
        if name == "description":
            checks.append(pa.Check.str_length(max_value=limit, error=f"over {limit} characters"))
        if typ == "date" and recv is not None:
            checks.append(
                pa.Check.le(recv, error=f"date is after the file was received ({recv.date()})")
            )
        columns[name] = pa.Column(PANDAS_DTYPES[typ], checks, nullable=not required)
    return pa.DataFrameSchema(columns, strict=False, name="frontline")


# lessons learned, cleared comments, exit interviews (owner: acm_helpers.meetings.voice)
LESSONS = "lessons"
CLEARED_COMMENTS = "cleared_comments"
EXIT_INTERVIEWS = "exit_interviews"
LESSON_COLUMNS: dict[str, str] = {
    "lesson_id": "str",  # "<provider or program>-L<NNN>"
    "provider_id": "str",  # "" for a program-wide lesson
    "date": "date",
    "text": "str",
    "metric_id": "str",  # "" when not about one metric
    "source": "str",  # who recorded it (or the meetings file)
}
CLEARED_COLUMNS: dict[str, str] = {
    "kind": "str",  # survey | frontline
    "provider_id": "str",
    "item_id": "str",  # response_id or report_id
    "cleared_by": "str",
    "cleared_on": "date",
}
EXIT_INTERVIEW_COLUMNS: dict[str, str] = {
    "provider_id": "str",
    "date": "date",
    "question": "str",
    "answer": "str",
}
