"""A program file written from an HMIS export, so an agency can start from its own data.

``acm hmis-program EXPORT --out parameters/programs/hmis_<name>.yaml`` lists the export's
Organizations (or Projects) as providers and declares HUD-consistent metrics (APR Q22/Q23, SPM
Measure 2) over the canonical episodes that ``hmis.to_episodes`` produces. Contract ids, dates
and targets are placeholders for the agency to fill in; everything else works as written.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import yaml

from acm_helpers.core import hud
from acm_helpers.core.calendar import period_bounds, shift_period
from acm_helpers.core.config import Program
from acm_helpers.core.errors import ConfigError, HmisError
from acm_helpers.hmis.mapping import (
    ETHNICITY_LABELS,
    GENDER_LABELS,
    MULTIRACIAL,
    NOT_HISPANIC,
    RACE_LABELS,
    UNKNOWN,
    provider_table,
)

SPM2 = ", ".join(f"'{p}'" for p in sorted(hud.SPM2_PROGRAMS))
PH = ", ".join(f"'{p}'" for p in sorted(hud.MOVE_IN_PROGRAMS))
EXCLUDED = ", ".join(f"'{c}'" for c in sorted(hud.APR_EXCLUDED))
EXCLUDED_SO = ", ".join(f"'{c}'" for c in sorted(hud.APR_EXCLUDED_SO))
PERMANENT = ", ".join(f"'{c}'" for c in sorted(hud.APR_PERMANENT))
POSITIVE_SO = ", ".join(f"'{c}'" for c in sorted(hud.APR_POSITIVE_SO))
POSITIVE_ES_TH = ", ".join(f"'{c}'" for c in sorted(hud.APR_POSITIVE_ES_TH))
STAYERS = "enrollment_date <= :end AND (exit_date IS NULL OR exit_date > :end)"
# APR Q22a/Q22b length of participation: min(exit date, report end + 1) - project start
# (hud.participation_days); :end is the period's last day, bound by the engine.
LENGTH = (
    "date_diff('day', CAST(enrollment_date AS DATE), "
    "LEAST(COALESCE(CAST(exit_date AS DATE), CAST(:end + INTERVAL 1 DAY AS DATE)), "
    "CAST(:end + INTERVAL 1 DAY AS DATE)))"
)
# APR report universe (hud.latest_active): each client's latest enrollment with the provider
# active in the period. Street outreach clients who were never engaged stay in it: the
# engagement filter (DateOfEngagement on or before the report end) applies to the data-quality
# questions only (HMIS Data Quality Report Programming Specifications, "Project Stays to
# Include"; APR Q5a column B against column C), not to Q23c's leavers.
UNIVERSE = "enrollment_date <= :end AND (exit_date IS NULL OR exit_date >= :start)"
PERSON = {"per": "person", "universe": UNIVERSE}
# APR/CAPER "Age" (hud.age_at): whole years from the recorded date of birth (any DOBDataQuality)
# to the later of the period start and the project start; over 120 is not an age
_YEARS = (
    "date_sub('year', CAST(hud_birth_date AS DATE), "
    "GREATEST(CAST(enrollment_date AS DATE), CAST(:start AS DATE)))"
)
AGE = f"CASE WHEN {_YEARS} <= 120 THEN {_YEARS} END"
ES_TH = ", ".join(f"'{p}'" for p in sorted(hud.ES_TH_PROGRAMS))


# Definitions and labels are shown in packets next to numbers, so they carry no figures and no
# project-type abbreviations (group labels): the packet privacy audit reads a number beside a
# group's name as that group's value. HUD sections are cited here and in README instead.
SPAN = {6: "six months", 12: "a year", 24: "two years"}


def _returns_metric(months: int, days: int, key: bool) -> dict:
    # SPM Measure 2a/2b: exits to permanent destinations, returns within 0-180, 0-365, 0-730 days.
    col = f"return_{months}m"
    return {
        "label": f"Returns to homelessness within {months} months",
        "definition": (
            f"HUD's System Performance Measure on returns: of exits to a permanent destination from a shelter, "
            f"safe haven, transitional housing, street outreach or permanent housing project {SPAN[months]} "
            f"before the period, the share who started a homelessness project with any provider within "
            f"{SPAN[months]} (a permanent housing project counts only if it started more than two weeks after "
            "the exit and not within two weeks of another permanent housing stay). Agency-only view: providers "
            "cannot see returns to other providers."
        ),
        "kind": "rate",
        "population": (
            f"destination_class = 'permanent' AND program IN ({SPM2}) "
            f"AND exit_date BETWEEN :start - INTERVAL {days} DAY AND :end - INTERVAL {days} DAY "
            f"AND {col} IS NOT NULL"
        ),
        "numerator": col,
        "numerator_label": f"returned within {SPAN[months]}",
        "denominator_label": f"exits to a permanent destination {SPAN[months]} earlier",
        "direction": "down",
        "format": "percent",
        "system_wide": True,
        "key": key,
    }


def metrics() -> dict:
    """HUD-consistent metrics over HMIS episodes (APR Q22-Q23, SPM Measure 2)."""
    positive = (
        f"CASE WHEN program = 'SO' THEN exit_destination IN ({POSITIVE_SO}) "
        f"WHEN program IN ({ES_TH}) THEN exit_destination IN ({POSITIVE_ES_TH}) "
        f"ELSE exit_destination IN ({PERMANENT}) END"
    )
    excluded = (
        f"(program = 'SO' AND exit_destination IN ({EXCLUDED_SO})) OR "
        f"(program <> 'SO' AND exit_destination IN ({EXCLUDED}))"
    )
    return {
        # APR Q23c: persons (latest enrollment) who left in the period, over leavers minus those
        # whose destination excludes them; numerator the permanent destinations' subtotal
        "exits_to_permanent_housing": {
            "label": "Exits to permanent housing",
            "definition": "Share of people who left in the period (each person once, by their latest enrollment "
            "with the provider, as in HUD's APR) whose exit destination was a permanent housing situation, "
            "over leavers whose destination does not exclude them (hospital, foster care, long-term care, "
            "deceased; for street outreach hospital, halfway house, deceased), as in APR Q23c. Broken "
            "down by project type.",
            "kind": "rate",
            "population": f"exit_date BETWEEN :start AND :end AND NOT ({excluded})",
            "numerator": "destination_class = 'permanent'",
            "numerator_label": "exits to permanent housing",
            "denominator_label": "leavers not excluded",
            "direction": "up",
            "format": "percent",
            **PERSON,
        },
        "positive_housing_exits": {
            "label": "Exits to positive housing destinations (APR Q23c)",
            "definition": "APR Q23c percentage: leavers exiting to a positive housing destination for their project "
            "type (street outreach also counts temporary and some institutional destinations; shelters "
            "and transitional housing also count a host home), over leavers minus those whose "
            "destination excludes them (hospital, foster care, long-term care, deceased; for street "
            "outreach hospital, halfway house, deceased).",
            "kind": "rate",
            "population": f"exit_date BETWEEN :start AND :end AND NOT ({excluded})",
            "numerator": positive,
            "numerator_label": "exits to positive housing destinations",
            "denominator_label": "leavers not excluded",
            "direction": "up",
            "format": "percent",
            "key": False,
            **PERSON,
        },
        "median_participation_leavers": {
            "label": "Length of participation, leavers (median days)",
            "definition": "APR Q22b: median days from project start to exit among people who left in the period "
            "(each person once, by their latest enrollment with the provider).",
            "kind": "median",
            "population": "exit_date BETWEEN :start AND :end",
            "value": LENGTH,
            "denominator_label": "leavers",
            "direction": "down",
            "format": "days",
            "unit": "days",
            **PERSON,
        },
        # APR Q22a/Q22b for stayers: length = period end + 1 - project start (:end bound in values)
        "median_participation_stayers": {
            "label": "Length of participation, stayers (median days)",
            "definition": "APR Q22a: median days from project start to the day after the period among people "
            "still enrolled on its last day (each person once, by their latest enrollment with the "
            "provider).",
            "kind": "median",
            "population": STAYERS,
            "value": LENGTH,
            "denominator_label": "stayers",
            "direction": "down",
            "format": "days",
            "unit": "days",
            "key": False,
            **PERSON,
        },
        "stayers": {
            "label": "Stayers at the end of the period",
            "definition": "APR stayers: people whose latest enrollment with the provider is open on the last day "
            "of the period (started by then, no exit by then).",
            "kind": "count",
            "population": STAYERS,
            "numerator_label": "stayers",
            "direction": "up",
            "format": "number",
            "key": False,
            **PERSON,
        },
        "stayers_over_one_year": {
            "label": "Stayers enrolled more than a year",
            "definition": "APR Q22a length of participation of stayers, more than a year: people enrolled on the "
            "last day of the period whose stay to the day after it is longer than a year.",
            "kind": "count",
            "population": f"{STAYERS} AND {LENGTH} > 365",
            "numerator_label": "stayers over a year",
            "direction": "down",
            "format": "number",
            "key": False,
            **PERSON,
        },
        "returns_within_6m": _returns_metric(6, 180, key=False),
        "returns_within_12m": _returns_metric(12, 365, key=True),
        "returns_within_24m": _returns_metric(24, 730, key=False),
        "median_days_to_move_in": {
            "label": "Days from project start to housing move-in (median)",
            "definition": "APR Q22c: median days from project start to the household's housing move-in date, among "
            "permanent housing enrollments (supportive housing, rapid re-housing, other permanent "
            "housing) that moved in during the period.",
            "kind": "median",
            "population": f"move_in_date BETWEEN :start AND :end AND program IN ({PH})",
            "value": "days_to_move_in",
            "denominator_label": "move-ins",
            "direction": "down",
            "format": "days",
            "unit": "days",
        },
        "clients_served": {
            "label": "Clients served",
            "definition": "Distinct clients with an enrollment open at any time in the period.",
            "kind": "count",
            "population": "enrollment_date <= :end AND (exit_date IS NULL OR exit_date >= :start)",
            "value": "client_id",
            "numerator_label": "clients served",
            "direction": "up",
            "format": "number",
        },
    }


def program_dict(
    tables, program_id: str = "hmis", provider_level: str = "organization", name: str | None = None
) -> dict:
    """The program file's content for an export (see :func:`write_program`).

    Periods run from the export's start month to its end month (ExportStartDate and
    ExportEndDate; the enrollment dates when those are blank); every provider's contract spans
    them. Providers are the export's Organizations (or Projects) that have enrollments.
    """
    export = tables["Export"]
    enr = tables["Enrollment"]
    first, last = _span(export, enr)
    provs = provider_table(tables, provider_level)
    if provider_level == "organization":
        used = tables["Project"].loc[
            tables["Project"]["ProjectID"].isin(enr["ProjectID"]), "OrganizationID"
        ]
    else:
        used = enr["ProjectID"]
    provs = provs[provs["key"].isin(used)].sort_values("provider_id")
    if provs.empty:
        raise HmisError("The export has no enrollment in any of its projects: no provider to list.")
    start, end = period_bounds(first)[0], period_bounds(last)[1]
    providers = [
        {
            "id": r.provider_id,
            "name": str(r.name),
            "contract_id": f"HMIS-{r.key}",
            "start": start,
            "end": end,
        }
        for r in provs.itertuples()
    ]
    source = (
        str(export["SourceName"].dropna().iloc[0])
        if "SourceName" in export and export["SourceName"].notna().any()
        else "HMIS"
    )
    month = {m: shift_period(last, -m) for m in range(4)}
    roadmap = {
        k: v
        for k, v in {
            month[3]: {
                "topic": "peer_comparison",
                "title": "Housing exits across providers",
                "metric": "exits_to_permanent_housing",
                "question": "What do providers with more exits to housing do differently?",
            },
            month[2]: {
                "topic": "disparity",
                "title": "Who exits to housing?",
                "metric": "exits_to_permanent_housing",
                "dimension": "race_ethnicity",
                "question": "Do exits to permanent housing differ by race and ethnicity?",
            },
            month[1]: {
                "topic": "duration_outcome",
                "title": "Length of participation and outcomes",
                "metric": "exits_to_permanent_housing",
                "question": "Do clients who stay longer exit to housing more often?",
            },
            month[0]: {
                "topic": "disparity",
                "title": "Returns by race and ethnicity",
                "metric": "returns_within_12m",
                "dimension": "race_ethnicity",
                "question": "Do returns to homelessness differ by race and ethnicity?",
            },
        }.items()
        if k
    }
    return {
        "id": program_id,
        "name": name or f"{source}: HMIS homelessness programs",
        "agency": source,
        "field": "homelessness",
        "description": (
            f"Generated from an HMIS CSV export ({', '.join(sorted(tables.report.versions.values()))} format, "
            f"{len(enr):,} enrollments). Providers are HMIS {provider_level}s; metrics follow the HUD "
            "APR (Q22, Q23c) and System Performance Measure 2."
        ),
        "data_dir": f"data/{program_id}",
        "first_period": first,
        "last_period": last,
        "submission_due_days": 15,
        "providers": providers,
        "metrics": metrics(),
        "dimensions": {
            "race_ethnicity": {
                "label": "Race and ethnicity",
                "column": "race_ethnicity",
                "reference_group": "White",
            },
            "gender": {"label": "Gender (FY2026 exports: sex)", "column": "gender"},
            "ethnicity": {
                "label": "Ethnicity",
                "column": "ethnicity",
                "reference_group": NOT_HISPANIC,
            },
            # HUD's age (hud.age_at) in the export version's bands (APR Q11, hud.age_edges; 0-4 is "Under 5")
            "age_band": {
                "label": "Age (at the later of the period start and the project start)",
                "column": "age_band",
                "expression": AGE,
                "bins": list(hud.age_edges(max(tables.report.versions.values(), default="2024"))),
                "reference_group": "25-34",
            },
            "project_type": {"label": "Project type", "column": "program"},
        },
        "suppression": {"threshold": 11, "complementary": True},
        "peers": {"display": "anonymized"},
        "meetings": {"cadence": "monthly", "day_of_month": 15},
        "outcomes": {
            "project_id": {"type": "str", "description": "HMIS ProjectID of the enrollment"},
            "destination_subsidy_type": {
                "type": "str",
                "description": "HUD rental subsidy type (list 3.12.A) of a 435 exit",
            },
            "engagement_date": {
                "type": "date",
                "description": "HMIS 4.13 Date of Engagement (street outreach counts engaged clients)",
            },
            "ethnicity": {
                "type": "str",
                "description": "Hispanic/Latina/e/o or not (FY2022: 3.05 Ethnicity, apart from race)",
            },
            "hud_birth_date": {
                "type": "date",
                "description": "recorded date of birth, any DOBDataQuality (HUD's age rule)",
            },
        },
        "codes": {
            "ethnicity": ETHNICITY_LABELS,
            "race_ethnicity": [*RACE_LABELS, MULTIRACIAL, UNKNOWN],
            "gender": list(GENDER_LABELS),
        },
        "destinations": {
            str(c): str(hud.destination_class(pd.Series([str(c)])).iloc[0])
            for c in hud.DESTINATIONS_2024
        },
        "roadmap": roadmap,
    }


def _span(export: pd.DataFrame, enr: pd.DataFrame) -> tuple[str, str]:
    start = export["ExportStartDate"].min() if "ExportStartDate" in export else pd.NaT
    end = export["ExportEndDate"].max() if "ExportEndDate" in export else pd.NaT
    start = start if pd.notna(start) else enr["EntryDate"].min()
    end = end if pd.notna(end) else enr["EntryDate"].max()
    if pd.isna(start) or pd.isna(end) or end < start:
        raise HmisError(
            "The export gives no usable period (ExportStartDate/ExportEndDate and EntryDate are blank)."
        )
    return start.strftime("%Y-%m"), end.strftime("%Y-%m")


class _Dumper(yaml.SafeDumper):
    """Plain YAML: no anchors/aliases for repeated dates, so the file reads as written."""

    def ignore_aliases(self, data) -> bool:
        return True


HEADER = """\
# HMIS program file generated by `acm hmis-program` from {source} on {today}.
# Providers are the export's {level}s. Before using it for contracts, replace each provider's
# contract_id, contract_value and dates, and add targets and benchmarks to the metrics
# (HUD publishes none for these measures; they are local decisions). Metric definitions follow
# HUD's APR (Q22 length of participation, Q23c exit destinations) and System Performance
# Measure 2 (returns within 6/12/24 months); see docs/admin/hmis.md.
"""


def write_program(
    export: str | Path,
    out: str | Path,
    program_id: str | None = None,
    provider_level: str = "organization",
    name: str | None = None,
) -> Path:
    """Write a program file for an HMIS export, validated before it is written.

    Args:
        export: the export zip or folder.
        out: where to write the YAML (e.g. ``parameters/programs/hmis_<name>.yaml``).
        program_id: the program id (default from the file name: ``hmis_<name>`` -> ``hmis_<name>``).
    """
    from acm_helpers.hmis.export import read_export
    from acm_helpers.store.store import atomic_write

    out = Path(out)
    tables = read_export(
        export, files=("Export", "Organization", "Project", "Client", "Enrollment", "Exit")
    )
    pid = program_id or out.stem.lower().replace(" ", "_")
    content = program_dict(tables, pid, provider_level, name)
    try:
        Program.model_validate(content)
    except ValueError as exc:
        raise ConfigError(f"The program generated for {export} does not validate: {exc}") from exc
    text = HEADER.format(
        source=Path(export).name, today=date.today().isoformat(), level=provider_level
    )
    text += yaml.dump(content, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=110)
    atomic_write(out, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return out
