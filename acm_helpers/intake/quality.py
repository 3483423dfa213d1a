"""Row-level validation of submissions and the data-quality report.

Pure transforms, no I/O: ``intake`` reads a file in chunks of raw text and hands each chunk
here. :func:`check_chunk` turns text into canonical types, runs the program's pandera schema
(``schema.episodes_schema``) and splits the chunk into good rows and problems (one row per bad
field, with the reason). :class:`FileStats` accumulates what the quality report needs across
chunks, and :func:`quality_report` writes it as a tidy frame
(provider_id, period, check, field, value, detail).

Row numbers are 1-based data rows: the first record after the header is row 1 (in a
spreadsheet that is line 2). A chunk's index carries these numbers from start to finish.
"""

from __future__ import annotations

import re
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
    derive_destination_class,
    episode_columns,
)

TRUE_TEXT = {"true", "t", "yes", "y", "1", "1.0"}
FALSE_TEXT = {"false", "f", "no", "n", "0", "0.0"}
PROBLEM_COLUMNS = ["row", "field", "value", "reason"]

# Reasons grouped into the quality report's checks (anything else is "invalid_value").
REASON_CHECK = {"required value is missing": "missing_required"}
REASON_CHECK.update({reason: "dates_out_of_order" for _, reason in DATE_ORDER_RULES.values()})
DUPLICATE_REASON = "duplicate episode_id"


def empty_problems() -> pd.DataFrame:
    """A problems frame with no rows (row, field, value, reason)."""
    return pd.DataFrame(
        {
            "row": pd.Series(dtype="int64"),
            "field": pd.Series(dtype="str"),
            "value": pd.Series(dtype="str"),
            "reason": pd.Series(dtype="str"),
        }
    )


# -- text -> canonical types ---------------------------------------------------------------
@dataclass
class ParseRules:
    """How one file's text is read: the program's limits and the file's decimal separator.

    One object per file, carried from chunk to chunk: the decimal separator is declared
    (``decimal``: the provider's ``decimal`` in the program file) or detected from the first
    values that show it (``detected``), and then holds for the rest of the file. A value whose
    meaning depends on the separator is quarantined while the separator is unknown, never guessed
    (``1,234`` may be 1234 or 1.234).
    """

    max_field_chars: int = 10_000
    earliest_date: date = date(1900, 1, 1)
    latest_year: int = 2200
    decimal: str | None = None  # declared: "." or ","
    detected: str | None = None  # seen in the file so far

    @classmethod
    def of(cls, program: Program, decimal: str | None = None) -> ParseRules:
        """The program's limits (``program.intake``), with an optional declared separator."""
        s = program.intake
        return cls(s.max_field_chars, s.earliest_date, s.latest_year, decimal)

    @property
    def separator(self) -> str | None:
        return self.decimal or self.detected


NAN_TEXT = {
    "nan",
    "NaN",
    "NAN",
}  # missing in a text or date column; not a number in a number column
_SIGN = r"[+-]?"
# Classes of number text (after removing currency signs and spaces). "D" = decimal, "G" = group.
_PLAIN_INT = re.compile(rf"^{_SIGN}\d+$")
_AMBIGUOUS = {  # one separator followed by exactly three digits: decimal or grouping?
    ".": re.compile(rf"^{_SIGN}[1-9]\d{{0,2}}\.\d{{3}}$"),
    ",": re.compile(rf"^{_SIGN}[1-9]\d{{0,2}},\d{{3}}$"),
}


def _sure(dec: str) -> re.Pattern:
    """Text that can only mean ``dec`` is the decimal separator."""
    d, g = re.escape(dec), re.escape("," if dec == "." else ".")
    return re.compile(
        rf"^{_SIGN}(?:\d*{d}\d+(?:[eE][+-]?\d+)?"  # one separator: decimal unless ambiguous
        rf"|[1-9]\d{{0,2}}(?:{g}\d{{3}})+{d}\d*"  # grouped, then a decimal part
        rf"|[1-9]\d{{0,2}}(?:{g}\d{{3}}){{2,}})$"  # two or more groups: g groups, so d decimals
    )


_SURE = {".": _sure("."), ",": _sure(",")}
# A full ISO date; a time (hours 00-23) and an offset or Z may follow.
_ISO_DATE = (
    r"\d{4}-\d{2}-\d{2}(?:[T ](?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:[.,]\d+)?)?"
    r"(?:[Zz]|[+-]\d{2}(?::?\d{2})?)?)?"
)
_OTHER = {".": ",", ",": "."}


def parse_dates(text: pd.Series, rules: ParseRules | None = None) -> tuple[pd.Series, pd.Series]:
    """Parse full dates: ISO ``YYYY-MM-DD`` (a time and an offset may follow), ``MM/DD/YYYY``
    and ``YYYY/MM/DD``.

    A timestamp with an offset or ``Z`` (``2025-04-03T22:00:00-05:00``) is taken at the date as
    written, the submitter's local date: episodes are dated by day, and converting to UTC would
    move an evening event to the next day. Partial dates (``2026-09``, ``2025``) and dates
    outside the program's plausible range are not completed or kept: each gets a reason.

    Returns:
        ``(dates, reasons)``: datetime64[us] at day precision, and per value a reason (or None)
        for the text that is not a date; missing text is neither.
    """
    rules = rules or ParseRules()
    reasons = pd.Series(None, index=text.index, dtype=object)
    out = pd.Series(pd.NaT, index=text.index, dtype="datetime64[us]")
    todo = text.notna()
    if not todo.any():
        return out, reasons
    t = text[todo]
    # classified with fullmatch and cut with slice: both vectorised (extract is not)
    iso = t.str.fullmatch(_ISO_DATE).fillna(False).astype(bool)
    slash = t.str.fullmatch(r"\d{4}/\d{2}/\d{2}").fillna(False).astype(bool)
    us = t.str.fullmatch(r"\d{1,2}/\d{1,2}/\d{4}").fillna(False).astype(bool)
    ymd = t.str.slice(0, 10).str.replace("/", "-", regex=False).where(iso | slash)
    year = ymd.str.slice(0, 4).where(iso | slash, t.str.slice(-4).where(us)).astype("float64")
    matched = iso | slash | us
    implausible = matched & ((year < rules.earliest_date.year) | (year > rules.latest_year))
    ok = matched & ~implausible
    got = pd.Series(pd.NaT, index=t.index, dtype="datetime64[us]")
    for sel, values, fmt in ((ok & ~us, ymd, "%Y-%m-%d"), (ok & us, t, "%m/%d/%Y")):
        if sel.any():
            parsed = pd.to_datetime(values[sel], format=fmt, errors="coerce")
            got.loc[sel[sel].index] = parsed.astype("datetime64[us]")
    early = got.notna() & (got < pd.Timestamp(rules.earliest_date))
    implausible |= early
    got = got.where(~early)
    parsed = got.notna()
    out.loc[parsed[parsed].index] = got[parsed]
    partial = ~matched & t.str.fullmatch(r"\d{4}(?:-\d{1,2})?|\d{1,2}/\d{4}").fillna(False)
    reasons.loc[t.index[(~parsed).to_numpy()]] = "not a date; write YYYY-MM-DD"
    reasons.loc[partial[partial.astype(bool)].index] = (
        "partial date (year or month only); write the full date YYYY-MM-DD"
    )
    reasons.loc[implausible[implausible].index] = (
        f"implausible date (before {rules.earliest_date} or after {rules.latest_year}); "
        "check it, or change intake.earliest_date in the program file"
    )
    return out, reasons


def _parse_numbers(text: pd.Series, rules: ParseRules | None = None) -> tuple[pd.Series, pd.Series]:
    """Numbers as written: ``$1,200.00``, ``28220,76`` or ``1.234,5``, never a guessed separator.

    The decimal separator is the declared one, else the one the file's values show (text such
    as ``1200.50`` or ``28220,76`` can mean only one thing; the first chunk that shows one decides,
    by majority, for the whole file). A value written with the other separator, or one that
    depends on it while it is unknown (``1,234``), is quarantined with the reason; so are
    non-finite values (``inf``, ``1e400``, ``nan``).

    Returns:
        ``(numbers, reasons)``: float64 (NaN where missing or bad), and a reason per bad value.
    """
    rules = rules or ParseRules()
    reasons = pd.Series(None, index=text.index, dtype=object)
    num = pd.Series(np.nan, index=text.index, dtype="float64")
    todo = text.notna()
    if not todo.any():
        return num, reasons
    t = text[todo].str.replace(r"[$€£\s\u00a0\u202f]", "", regex=True)
    sure = {d: t.str.fullmatch(_SURE[d].pattern).fillna(False) for d in (".", ",")}
    sure["."] &= ~t.str.fullmatch(_AMBIGUOUS["."].pattern).fillna(False)
    sure[","] &= ~t.str.fullmatch(_AMBIGUOUS[","].pattern).fillna(False)
    if rules.separator is None:
        dots, commas = int(sure["."].sum()), int(sure[","].sum())
        if dots != commas:
            rules.detected = "." if dots > commas else ","
    sep = rules.separator
    ambiguous = t.str.fullmatch(_AMBIGUOUS["."].pattern).fillna(False) | t.str.fullmatch(
        _AMBIGUOUS[","].pattern
    ).fillna(False)
    if sep is None:
        bad = ambiguous | sure["."] | sure[","]
        reasons.loc[t.index[bad.to_numpy()]] = (
            "ambiguous number: the file does not show whether ',' or '.' is the decimal "
            "separator; declare it (decimal: ',' or '.' under the provider in the program file)"
        )
        clean = t.where(~bad)
    else:
        other = _OTHER[sep]
        wrong = sure[other]
        reasons.loc[wrong[wrong].index] = (
            f"written with {other!r} as the decimal separator, but this file uses {sep!r}; "
            "correct the value (or the provider's declared decimal separator)"
        )
        grouped = t.where(~wrong)
        if sep == ",":
            grouped = grouped.where(~t.str.contains(r"\.\d{1,2}$|\.\d{4,}$", regex=True))
        clean = grouped.str.replace(other, "", regex=False)
        if sep == ",":
            clean = clean.str.replace(",", ".", regex=False)
    value = pd.to_numeric(clean, errors="coerce").astype("float64")
    nonfinite = value.notna() & ~np.isfinite(value)
    nonfinite |= t.isin(NAN_TEXT) | t.str.fullmatch(r"[+-]?(?:inf|infinity)", case=False).fillna(
        False
    )
    value = value.where(~nonfinite)
    num.loc[value.index] = value
    still = reasons.loc[t.index].isna() & value.isna()
    reasons.loc[t.index[(still & nonfinite).to_numpy()]] = (
        "not a finite number (inf, nan or out of range)"
    )
    reasons.loc[t.index[(still & ~nonfinite).to_numpy()]] = "not a number"
    return num, reasons


def _parse_bools(text: pd.Series) -> pd.Series:
    low = text.str.lower()
    out = pd.Series(pd.NA, index=text.index, dtype="boolean")
    out[low.isin(TRUE_TEXT)] = True
    out[low.isin(FALSE_TEXT)] = False
    return out


def _canonical_codes(text: pd.Series, allowed: list[str]) -> pd.Series:
    """Map case and spacing variants onto the program's spelling ("white " -> "White").

    Works on the distinct values only (a code column has a handful), so it costs one factorize.
    """
    lookup = {" ".join(a.lower().split()): a for a in allowed}
    codes, uniques = pd.factorize(text)
    fixed = np.array(
        [lookup.get(" ".join(str(u).lower().split()), u) for u in uniques] + [np.nan], dtype=object
    )
    return pd.Series(fixed[codes], index=text.index).astype("str")


def _problem_rows(name: str, text: pd.Series, reasons: pd.Series) -> pd.DataFrame:
    bad = reasons.notna()
    return pd.DataFrame(
        {
            "row": bad[bad].index,
            "field": name,
            "value": text[bad].to_numpy(),
            "reason": reasons[bad].to_numpy(),
        }
    )


def text_problems(raw: pd.DataFrame, rules: ParseRules) -> pd.DataFrame:
    """Values no column may hold: NUL characters (wherever they are in the file) and values
    over the program's length limit (``intake.max_field_chars``)."""
    parts = []
    for name in raw.columns:
        col = raw[name]
        if not (pd.api.types.is_string_dtype(col) or col.dtype == object):
            continue
        col = col.astype("str")
        length = col.str.len()
        reasons = pd.Series(None, index=col.index, dtype=object)
        has_nul = col.str.contains("\x00", regex=False).fillna(False).astype(bool)
        reasons[has_nul] = (
            "contains a NUL byte (\\x00), which text never holds; remove it and resend"
        )
        long = (length > rules.max_field_chars).fillna(False).astype(bool)
        if long.any():
            reasons[long] = [
                f"value is {n:,} characters long, over the limit of {rules.max_field_chars:,} "
                "(intake.max_field_chars in the program file)"
                for n in length[long]
            ]
        if reasons.notna().any():
            parts.append(_problem_rows(name, col, reasons))
    return pd.concat(parts, ignore_index=True) if parts else empty_problems()


def parse_chunk(
    raw: pd.DataFrame, program: Program, rules: ParseRules | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Turn a chunk of submitted text into canonical dtypes.

    Args:
        raw: text columns already renamed to canonical names (missing values as NaN); the
            index holds data row numbers.
        program: gives the outcome columns, code lists and exit destinations.
        rules: the file's :class:`ParseRules` (limits, decimal separator); default: the
            program's limits, separator detected from this chunk.

    Returns:
        ``(typed, problems)``: every canonical column in its canonical dtype (absent columns
        empty), and one problem row per value that could not be read as its type.
    """
    rules = rules or ParseRules.of(program)
    typed = pd.DataFrame(index=raw.index)
    problems = [text_problems(raw, rules)]
    for name, (typ, _) in episode_columns(program).items():
        if name not in raw.columns:
            typed[name] = pd.Series(index=raw.index, dtype=PANDAS_DTYPES[typ])
            continue
        text = raw[name].astype("str").str.strip()
        text = text.where(text != "")
        if typ in ("str", "date", "bool"):
            text = text.where(~text.isin(NAN_TEXT))
        if typ == "str":
            if name == "provider_id":
                text = text.str.lower()
            elif name == "exit_destination":
                text = text.str.replace(r"\.0$", "", regex=True)
            elif name == "destination_class":
                text = text.str.lower()
            if name in program.codes:
                text = _canonical_codes(text, program.codes[name])
            typed[name] = text.astype("str")
            continue
        if typ == "date":
            value, reasons = parse_dates(text, rules)
        elif typ in ("int", "float"):
            num, reasons = _parse_numbers(text, rules)
            if typ == "int":
                whole = num.notna() & (num == np.floor(num)) & (num.abs() < 2**53)
                frac = num.notna() & ~whole
                reasons = reasons.mask(frac | (reasons == "not a number"), "not a whole number")
                value = num.where(whole).astype("Int64")
            else:
                value = num
        else:
            value = _parse_bools(text)
            reasons = pd.Series(None, index=text.index, dtype=object)
            reasons[text.notna() & value.isna()] = (
                "not true/false (use true, false, yes, no, 1 or 0)"
            )
        if reasons.notna().any():
            problems.append(_problem_rows(name, text, reasons))
        typed[name] = value
    typed = derive_destination_class(typed, program)
    problems = [p for p in problems if len(p)]
    return typed, (pd.concat(problems, ignore_index=True) if problems else empty_problems())


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
    for key, n in sizes.items():
        stats = FileStats(fields=fields, columns_in_file=columns_in_file, rows=int(n))
        stats.filled = Counter({c: int(v) for c, v in filled_by.loc[key].items()})
        if formula_by is not None:
            for col, hits in formula_by.loc[key].items():
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
    frame = pd.DataFrame(out, columns=["check", "field", "value", "detail"])
    frame.insert(0, "provider_id", provider_id)
    frame.insert(1, "period", period)
    frame.insert(2, "sha256", sha256)
    return frame.astype({c: PANDAS_DTYPES[t] for c, t in QUALITY_COLUMNS.items()})


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
