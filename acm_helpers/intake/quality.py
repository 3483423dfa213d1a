"""Row-level validation of submissions and the data-quality report.

Pure transforms, no I/O: ``intake`` reads a file in chunks of raw text and hands each chunk
here. :func:`check_chunk` turns text into canonical types (:mod:`acm_helpers.intake.parse`), runs the program's pandera schema
(``schema.episodes_schema``) and splits the chunk into good rows and problems (one row per bad
field, with the reason). :class:`FileStats` accumulates what the quality report needs across
chunks, and :func:`quality_report` writes it as a tidy frame
(provider_id, period, check, field, value, detail).

Row numbers are 1-based data rows: the first record after the header is row 1 (in a
spreadsheet that is line 2). A chunk's index carries these numbers from start to finish.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd
import pandera.pandas as pa

from acm_helpers.core.calendar import period_bounds
from acm_helpers.core.config import Program
from acm_helpers.core.schema import (
    DATE_ORDER_RULES,
    FORMULA_PREFIXES,
    PANDAS_DTYPES,
    QUALITY_COLUMNS,
    QUARANTINE_COLUMNS,
)
from acm_helpers.intake.parse import PROBLEM_COLUMNS, ParseRules, empty_problems, parse_chunk

# Reasons grouped into the quality report's checks (anything else is "invalid_value").
REASON_CHECK = {"required value is missing": "missing_required"}
REASON_CHECK.update({reason: "dates_out_of_order" for _, reason in DATE_ORDER_RULES.values()})
DUPLICATE_REASON = "duplicate episode_id"


# -- schema checks -> problems -------------------------------------------------------------
def schema_problems(
    typed: pd.DataFrame, raw: pd.DataFrame, schema: pa.DataFrameSchema
) -> pd.DataFrame:
    """Run the pandera schema lazily and turn its failure cases into problem rows.

    Values are reported as submitted (from ``raw``), so the provider can find them in the file.
    """
    try:
        schema.validate(typed, lazy=True)
        return empty_problems()
    except pa.errors.SchemaErrors as exc:
        fc = exc.failure_cases
    fc = fc[fc["index"].notna()]
    wide_field = {reason: fld for fld, (_, reason) in DATE_ORDER_RULES.items()}
    is_wide = fc["check"].isin(list(wide_field))
    fields = fc["column"].where(~is_wide, fc["check"].map(wide_field))
    out = pd.DataFrame(
        {
            "row": fc["index"].astype("int64").to_numpy(),
            "field": fields.astype("str").to_numpy(),
            "reason": fc["check"].astype("str").to_numpy(),
        }
    )
    out["reason"] = out["reason"].replace({"not_nullable": "required value is missing"})
    out = out.drop_duplicates(["row", "field", "reason"])
    out["value"] = _lookup(raw, out["row"], out["field"])
    return out[PROBLEM_COLUMNS].reset_index(drop=True)


def _lookup(raw: pd.DataFrame, rows: pd.Series, fields: pd.Series) -> np.ndarray:
    values = np.full(len(rows), None, dtype=object)
    for fld in fields.unique():
        if fld in raw.columns:
            sel = (fields == fld).to_numpy()
            values[sel] = raw[fld].reindex(rows[sel].to_numpy()).to_numpy()
    return values


def check_chunk(
    raw: pd.DataFrame,
    program: Program,
    schema: pa.DataFrameSchema,
    seen: pd.Series,
    rules: ParseRules | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    """Validate one chunk: parse, schema checks, duplicate episode ids across the file so far.

    Duplicates: the first occurrence of an episode id in the file (in file order) is kept; every
    later row with the same id is quarantined with the row of the first one, even when the first
    row is itself rejected for another reason.

    Args:
        raw: canonical-named text columns; index = data row numbers.
        program: the program.
        schema: ``schema.episodes_schema(program, received)``, built once per file.
        seen: episode id -> first data row, for ids met in earlier chunks.
        rules: the file's :class:`ParseRules`, kept across its chunks.

    Returns:
        ``(good, problems, seen)``: accepted rows in canonical dtypes, problem rows, updated ``seen``.
    """
    typed, parse_bad = parse_chunk(raw, program, rules)
    checked = schema_problems(typed, raw, schema)
    if len(parse_bad) and len(checked):
        # a value that could not be parsed is also null: report it once, as unparseable
        unparsed = set(zip(parse_bad["row"], parse_bad["field"], strict=True))
        keep = np.array(
            [
                not (r == "required value is missing" and (row, f) in unparsed)
                for row, f, r in zip(
                    checked["row"], checked["field"], checked["reason"], strict=True
                )
            ],
            dtype=bool,
        )
        checked = checked[keep]
    problems = pd.concat(
        [p for p in (parse_bad, checked) if len(p)] or [empty_problems()], ignore_index=True
    )
    ids = typed["episode_id"]
    rows = pd.Series(typed.index, index=typed.index)
    has_id = ids.notna()
    first_here = rows[has_id].groupby(ids[has_id]).transform("min")
    first_before = ids[has_id].map(seen)
    first = first_before.where(first_before.notna(), first_here)
    dup = first.ne(rows[has_id])
    if dup.any():
        problems = pd.concat(
            [
                problems,
                pd.DataFrame(
                    {
                        "row": dup[dup].index,
                        "field": "episode_id",
                        "value": ids[dup[dup].index].to_numpy(),
                        "reason": [
                            f"{DUPLICATE_REASON} (first at row {int(f)}; later rows are not loaded)"
                            for f in first[dup]
                        ],
                    }
                ),
            ],
            ignore_index=True,
        )
    new = first_before.isna() & ~ids[has_id].duplicated()  # (isin on a large str index is slow)
    new_ids = ids[has_id][new]
    seen = pd.concat([seen, pd.Series(new_ids.index.to_numpy(), index=new_ids.to_numpy())])
    bad_rows = problems["row"].unique()
    good = typed.drop(index=bad_rows)
    return good, problems.sort_values(["row", "field"]).reset_index(drop=True), seen


def formula_like(text: pd.Series) -> pd.Series:
    """True where text would be evaluated as a formula by a spreadsheet (``=``, ``+``, ``-``, ``@``)."""
    return text.astype("str").str.startswith(FORMULA_PREFIXES).fillna(False).astype(bool)


# -- the quality report --------------------------------------------------------------------
@dataclass
class FileStats:
    """What the quality report needs, accumulated chunk by chunk (memory stays bounded)."""

    fields: list[str]  # canonical fields the program knows
    columns_in_file: list[str] = field(default_factory=list)
    unknown_columns: list[str] = field(default_factory=list)
    rows: int = 0
    blank_rows: int = 0
    filled: Counter = field(default_factory=Counter)
    formula: Counter = field(default_factory=Counter)
    formula_rows: dict[str, list[int]] = field(default_factory=dict)

    def update(self, frame: pd.DataFrame, blank_rows: int = 0) -> None:
        """Count rows, non-empty values per field and formula-like text in one chunk."""
        self.rows += len(frame)
        self.blank_rows += blank_rows
        for col in frame.columns:
            col_values = frame[col]
            if col in self.fields:
                self.filled[col] += int(col_values.notna().sum())
            if pd.api.types.is_string_dtype(col_values) or col_values.dtype == object:
                hit = formula_like(col_values)
                if hit.any():
                    self.formula[col] += int(hit.sum())
                    self.formula_rows.setdefault(col, []).extend(int(r) for r in hit[hit].index[:5])


def stats_by_part(
    frame: pd.DataFrame, fields: list[str], columns_in_file: list[str], keys: list[str]
) -> dict[tuple, FileStats]:
    """:class:`FileStats` of every part of ``frame`` (grouped by ``keys``) in one pass.

    Why: an adapter's frame holds thousands of provider x month parts; counting each part
    column by column cost most of ``load_canonical`` at 200 providers. The counts are the ones
    :meth:`FileStats.update` makes on each part (formula rows by the frame's index).
    """
    cols = [c for c in fields if c in frame.columns]
    filled = frame[cols].notna()
    text = [c for c in cols if pd.api.types.is_string_dtype(frame[c]) or frame[c].dtype == object]
    formula = pd.DataFrame({c: formula_like(frame[c]) for c in text}, index=frame.index)
    group = [frame[k] for k in keys]
    filled_by = filled.groupby(group, sort=False).sum()
    formula_by = formula.groupby(group, sort=False).sum() if text else None
    sizes = frame.groupby(group, sort=False).size()
    out = {}
    filled_rows = dict(zip(filled_by.index, filled_by.to_numpy().tolist(), strict=True))
    formula_rows = (
        {}
        if formula_by is None
        else dict(zip(formula_by.index, formula_by.to_numpy().tolist(), strict=True))
    )
    for key, n in sizes.items():  # row look-ups by dict: .loc per key cost 4 ms a part
        stats = FileStats(fields=fields, columns_in_file=columns_in_file, rows=int(n))
        stats.filled = Counter(dict(zip(filled_by.columns, filled_rows[key], strict=True)))
        if formula_by is not None:
            for col, hits in zip(formula_by.columns, formula_rows[key], strict=True):
                if hits:
                    stats.formula[col] = int(hits)
                    mask = formula[col] & np.logical_and.reduce(
                        [frame[k] == v for k, v in zip(keys, key, strict=True)]
                    )
                    stats.formula_rows[col] = [int(r) for r in frame.index[mask][:5]]
        out[key] = stats
    return out


def quality_report(
    stats: FileStats,
    problems: pd.DataFrame,
    program: Program,
    provider_id: str,
    period: str,
    sha256: str,
    received: date | None,
    rows_accepted: int,
) -> pd.DataFrame:
    """The tidy data-quality report of one submission (provider and period).

    Checks: ``rows`` (total / accepted / rejected), ``completeness`` per field (share of rows
    with a value), ``missing_required``, ``invalid_value`` and ``dates_out_of_order`` (rejected
    rows per field and reason), ``duplicate``, ``formula_text`` (stored as text, neutralised in
    spreadsheets), ``unknown_column`` (kept in the raw copy only), ``blank_rows`` and
    ``timeliness`` (days late against the period end plus ``program.submission_due_days``).
    """
    rows = report_rows(stats, problems, program, period, received, rows_accepted)
    return report_frame([((provider_id, period, sha256), rows)])


def report_frame(reports: list[tuple[tuple[str, str, str], list[tuple]]]) -> pd.DataFrame:
    """Quality reports as one frame: for each ``((provider_id, period, sha256), rows)`` its
    :func:`report_rows`, in the given order (``load_canonical`` builds thousands at once)."""
    keys = [key for key, rows in reports for _ in rows]
    frame = pd.DataFrame(
        [row for _, rows in reports for row in rows], columns=["check", "field", "value", "detail"]
    )
    for i, col in enumerate(["provider_id", "period", "sha256"]):
        frame.insert(i, col, [key[i] for key in keys])
    return frame.astype({c: PANDAS_DTYPES[t] for c, t in QUALITY_COLUMNS.items()})


def report_rows(
    stats: FileStats,
    problems: pd.DataFrame,
    program: Program,
    period: str,
    received: date | None,
    rows_accepted: int,
) -> list[tuple[str, str, float, str]]:
    """The (check, field, value, detail) rows of :func:`quality_report`."""
    out: list[tuple[str, str, float, str]] = []
    rejected = int(problems["row"].nunique()) if len(problems) else 0
    out += [
        ("rows", "total", stats.rows, "data rows in the file"),
        ("rows", "accepted", rows_accepted, "rows loaded"),
        ("rows", "rejected", rejected, "rows quarantined (see the quarantine table)"),
    ]
    for fld in stats.fields:
        if fld in stats.columns_in_file:
            n = stats.filled[fld]
            share = n / stats.rows if stats.rows else np.nan
            out.append(("completeness", fld, share, f"{n:,} of {stats.rows:,} rows have a value"))
        else:
            out.append(("completeness", fld, 0.0, "column not in the file"))
    if len(problems):
        kinds = problems.assign(kind=problems["reason"].map(_reason_check))
        grouped = kinds.groupby(["kind", "field", "reason"], sort=True)["row"].agg(
            ["nunique", "min"]
        )
        for (kind, fld, reason), rec in grouped.iterrows():
            out.append(
                (kind, fld, float(rec["nunique"]), f"{reason} (first at row {int(rec['min'])})")
            )
    for col, n in sorted(stats.formula.items()):
        rows = ", ".join(map(str, stats.formula_rows[col][:5]))
        out.append(
            (
                "formula_text",
                col,
                float(n),
                f"formula-like text stored as text (rows {rows}); neutralised in spreadsheets",
            )
        )
    for col in stats.unknown_columns:
        out.append(
            (
                "unknown_column",
                col,
                np.nan,
                "not a canonical or declared column: kept in the raw copy, not loaded",
            )
        )
    if stats.blank_rows:
        out.append(("blank_rows", "", float(stats.blank_rows), "empty lines skipped"))
    out.append(timeliness(program, period, received))
    return out


def _reason_check(reason: str) -> str:
    if reason.startswith(DUPLICATE_REASON):
        return "duplicate"
    return REASON_CHECK.get(reason, "invalid_value")


def timeliness(program: Program, period: str, received: date | None) -> tuple[str, str, float, str]:
    """Days late: received date against the period's last day plus the program's due days."""
    if received is None:
        return ("timeliness", "received", np.nan, "received date unknown")
    due = period_bounds(period)[1].toordinal() + program.submission_due_days
    late = received.toordinal() - due
    due_day = date.fromordinal(due)
    if late > 0:
        return (
            "timeliness",
            "received",
            float(late),
            f"received {received}, due {due_day}: {late} days late",
        )
    return ("timeliness", "received", 0.0, f"received {received}, due {due_day}: on time")


QUARANTINE_VALUE_CHARS = 200  # a quarantined value is shown up to this length


def shown_value(value: str) -> str:
    """A quarantined value as it is stored: NUL visible as ``\\x00``, and cut to
    :data:`QUARANTINE_VALUE_CHARS` with its full length, so one 10 MiB field does not grow the
    quarantine table."""
    value = value.replace("\x00", "\\x00")
    if len(value) > QUARANTINE_VALUE_CHARS:
        return f"{value[:QUARANTINE_VALUE_CHARS]}… ({len(value):,} characters)"
    return value


def quarantine_frame(
    problems: pd.DataFrame, sha256: str, file: str, provider_id: str | None, period: str
) -> pd.DataFrame:
    """Problems of one file with the submission's identity, in QUARANTINE_COLUMNS order."""
    out = problems.copy()
    out["value"] = out["value"].astype("str").map(shown_value, na_action="ignore").astype("str")
    out.insert(0, "sha256", sha256)
    out.insert(1, "file", file)
    out.insert(2, "provider_id", provider_id or "")
    out.insert(3, "period", period)
    return out[list(QUARANTINE_COLUMNS)].astype(
        {c: PANDAS_DTYPES[t] for c, t in QUARANTINE_COLUMNS.items()}
    )
