"""Data-quality problems of one provider, ranked worst first, in words a meeting reads.

Why a module of its own: the quality table (:mod:`acm_helpers.store.quality`) holds one number
per check and field; a contract manager needs to know which of them matter. This module judges
the program's required fields only (``quality:`` in the program file,
:class:`acm_helpers.core.config.QualitySettings`), follows each one over recent months, and
ranks what it finds:

1. **decline**: a required field filled in at least ``decline_points`` less often than
   ``trend_months`` earlier (the finding the brief raises as a talking point);
2. **incomplete**: a required field filled in less often than ``completeness_min``;
3. **late**: this month's file arrived more than ``late_days`` after it was due;
4. **set aside**: rows quarantined for correction;
5. **finding**: what an HMIS export's reader and mapping found (``hmis_*`` checks: records
   left out, codes not known, dates after the export), each with its count of records.

Within a rank the larger problem comes first (points fallen, points short, days late, rows).
Fields are named by label (``Race and ethnicity``, never ``race_ethnicity``). Pure functions
of the quality rows: no I/O.
"""

from __future__ import annotations

import pandas as pd

from acm_helpers.core import text
from acm_helpers.core.calendar import month_name, shift_period
from acm_helpers.core.config import Program
from acm_helpers.core.schema import REQUIRED_COLUMNS

# Labels of the canonical fields (a dimension's own label wins for its column).
RANKS = {"decline": 1, "incomplete": 2, "late": 3, "set_aside": 4, "finding": 5}
SET_ASIDE_CHECKS = ("invalid_value", "missing_required", "dates_out_of_order", "duplicate")
PROBLEM_COLUMNS = ["rank", "kind", "field", "label", "now", "before", "size", "text"]


def field_label(field: str, program: Program) -> str:
    """A field's name as people read it: the dimension's label, the outcome's description, or
    the canonical label (:func:`acm_helpers.core.text.field_label`)."""
    for dim in program.dimensions.values():
        if field in (dim.column, dim.source):
            if field == dim.column or field not in text.FIELD_LABELS:
                return dim.label
            return text.FIELD_LABELS[field]
    if field in program.outcomes and program.outcomes[field].description:
        return program.outcomes[field].description
    return text.field_label(field)  # the one canonical label list (core.text)


def required_fields(program: Program) -> list[str]:
    """The fields whose completeness counts: the canonical required columns and the program's
    ``quality.required_fields`` (by default, the episode columns its equity dimensions read)."""
    chosen = list(program.quality.required_fields)
    if not chosen:
        chosen = [d.source or d.column for d in program.dimensions.values() if not d.expression]
    return list(dict.fromkeys([*REQUIRED_COLUMNS, *chosen]))


def completeness_trend(quality: pd.DataFrame, program: Program, period: str) -> pd.DataFrame:
    """Completeness of each required field per month, ``trend_months`` before ``period`` up to
    it: columns ``period``, ``field``, ``label``, ``completeness``."""
    return _trend(quality, program, period)


def _trend(
    quality: pd.DataFrame, program: Program, period: str, keep: tuple[str, ...] = ()
) -> pd.DataFrame:
    """:func:`completeness_trend`, with the ``keep`` columns as well (``provider_id`` when the
    rows are every provider's)."""
    cols = [*keep, "period", "field", "label", "completeness"]
    if quality.empty:
        return pd.DataFrame(columns=cols)
    first = shift_period(period, -program.quality.trend_months)
    rows = quality[
        (quality["check"] == "completeness")
        & quality["field"].isin(required_fields(program))
        & quality["period"].between(first, period)
    ]
    out = rows.rename(columns={"value": "completeness"})[[*keep, "period", "field", "completeness"]]
    out = out.dropna().sort_values(["field", "period"]).reset_index(drop=True)
    out["label"] = [field_label(f, program) for f in out["field"]]
    return out[cols]


def rank_problems(quality: pd.DataFrame, program: Program, period: str) -> pd.DataFrame:
    """This month's data-quality problems, worst first (see the module docstring).

    Args:
        quality: one provider's quality rows, every month up to ``period`` at least back to
            ``trend_months`` before it (``packets.packet.Packet.quality``).
        program: the required fields and thresholds (``program.quality``).
        period: the month judged.

    Returns:
        ``PROBLEM_COLUMNS``: rank (1 = worst kind), kind, field, label, now and before
        (completeness, or days late / rows), size (what orders a rank) and a sentence.
    """
    now = quality[quality["period"] == period] if not quality.empty else quality
    if now.empty:
        return pd.DataFrame(columns=PROBLEM_COLUMNS)
    return _rank(quality, now, completeness_trend(quality, program, period), program, period)


def rank_problems_by_provider(
    quality: pd.DataFrame, program: Program, period: str
) -> dict[str, pd.DataFrame]:
    """:func:`rank_problems` of every provider that has quality rows for ``period``, from every
    provider's rows at once (the portfolio triage scores them all): the completeness trend is
    selected in one pass over the table, not once per provider. Providers without rows for the
    month (no file) are absent."""
    if quality.empty:
        return {}
    trends = dict(tuple(_trend(quality, program, period, ("provider_id",)).groupby("provider_id")))
    no_trend = pd.DataFrame(columns=["period", "field", "label", "completeness"])
    out = {}
    for pid, own in quality.groupby("provider_id", sort=False):
        now = own[own["period"] == period]
        if not now.empty:
            out[str(pid)] = _rank(own, now, trends.get(pid, no_trend), program, period)
    return out


def _field_months(trend: pd.DataFrame) -> dict[str, tuple[str, dict[str, float]]]:
    """Each field's label and completeness by month, fields in the trend's order (by field, then
    month), read in one pass over the rows."""
    out: dict[str, tuple[str, dict[str, float]]] = {}
    for field, month, label, value in zip(
        trend["field"], trend["period"], trend["label"], trend["completeness"], strict=True
    ):
        out.setdefault(field, (label, {}))[1][month] = value
    return out


def _rank(
    quality: pd.DataFrame, now: pd.DataFrame, trend: pd.DataFrame, program: Program, period: str
) -> pd.DataFrame:
    """:func:`rank_problems` of one provider's rows, its month's rows and its completeness trend."""
    rules = program.quality
    out: list[dict] = []
    base_month = shift_period(period, -rules.trend_months)
    for field, (label, by_month) in _field_months(trend).items():
        if period not in by_month:
            continue
        value = float(by_month[period])
        earlier = [(m, v) for m, v in by_month.items() if m < period]  # months in order
        before = float(by_month[base_month]) if base_month in by_month else None
        if before is None and earlier:  # a shorter history: its first month
            before, base_month_used = float(earlier[0][1]), earlier[0][0]
        else:
            base_month_used = base_month
        fell = (before - value) if before is not None else 0.0
        shown = text.value(value, "percent")
        if fell >= rules.decline_points - 1e-9:
            out.append(
                {
                    "rank": RANKS["decline"],
                    "kind": "decline",
                    "field": field,
                    "label": label,
                    "now": value,
                    "before": before,
                    "size": fell,
                    "text": f"{label} is filled in less often: {shown} of records in "
                    f"{month_name(period)}, down from {text.value(before, 'percent')} in "
                    f"{month_name(base_month_used)} ({text.gap(fell, 'percent')} lower).",
                }
            )
        elif value < rules.completeness_min - 1e-9:
            out.append(
                {
                    "rank": RANKS["incomplete"],
                    "kind": "incomplete",
                    "field": field,
                    "label": label,
                    "now": value,
                    "before": before,
                    "size": rules.completeness_min - value,
                    "text": f"{label} is filled in for {shown} of records, below the minimum "
                    f"of {text.value(rules.completeness_min, 'percent')}.",
                }
            )
    late = now.loc[now["check"] == "timeliness", "value"].dropna()
    if len(late) and float(late.iloc[0]) > rules.late_days:
        days = int(late.iloc[0])
        months = quality[
            (quality["check"] == "timeliness")
            & quality["period"].between(shift_period(period, -(rules.trend_months - 1)), period)
        ]
        n_late = int((months["value"].astype(float) > rules.late_days).sum())
        often = (
            f" Files were late in {n_late} of the last {len(months)} months."
            if n_late > 1 and len(months) > 1
            else ""
        )
        out.append(
            {
                "rank": RANKS["late"],
                "kind": "late",
                "field": "received",
                "label": "Timeliness",
                "now": float(days),
                "before": None,
                "size": float(days),
                "text": f"The {month_name(period)} file arrived {days} day{'s' if days != 1 else ''} "
                f"after it was due.{often}",
            }
        )
    rows = now[(now["check"] == "rows") & (now["field"] == "rejected")]["value"]
    if len(rows) and float(rows.iloc[0]) > 0:
        n = float(rows.iloc[0])
        kinds = now[now["check"].isin(SET_ASIDE_CHECKS)].sort_values("value", ascending=False)
        why = (
            "; ".join(
                f"{field_label(f, program)}: {d}"
                for f, d in zip(kinds["field"], kinds["detail"], strict=True)
            )
            if len(kinds)
            else ""
        )
        why = "; ".join(why.split("; ")[:3])
        out.append(
            {
                "rank": RANKS["set_aside"],
                "kind": "set_aside",
                "field": "rows",
                "label": "Rows set aside",
                "now": n,
                "before": None,
                "size": n,
                "text": f"{text.count(n)} row{'s' if n != 1 else ''} set aside for correction"
                + (f" ({why})" if why else "")
                + "; each is listed in the quarantine report.",
            }
        )
    found = now[now["check"].astype("str").str.startswith("hmis_")].dropna(subset=["value"])
    if found.empty:
        found = found.assign(detail=pd.Series(dtype="str"))
    for fld, v, d in zip(found["field"], found["value"], found["detail"], strict=True):
        v = float(v)
        out.append(
            {
                "rank": RANKS["finding"],
                "kind": "finding",
                "field": str(fld),
                "label": field_label(str(fld), program) if fld else "Export",
                "now": v,
                "before": None,
                "size": v,
                "text": f"{d} ({text.count(v)} record{'s' if v != 1 else ''}).",
            }
        )
    frame = pd.DataFrame(out, columns=PROBLEM_COLUMNS)
    return frame.sort_values(["rank", "size"], ascending=[True, False], ignore_index=True)
