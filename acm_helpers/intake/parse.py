"""Submitted text -> canonical types, read as written and never guessed.

Pure transforms, no I/O: :func:`parse_chunk` turns one chunk of text (canonical column names,
index = data rows) into the canonical dtypes and one problem row per value it cannot read,
with the reason. :class:`ParseRules` carries a file's limits (program settings) and its
decimal separator from chunk to chunk. :mod:`acm_helpers.intake.quality` runs the schema over
the result.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from acm_helpers.core.config import Program
from acm_helpers.core.schema import PANDAS_DTYPES, derive_destination_class, episode_columns

TRUE_TEXT = {"true", "t", "yes", "y", "1", "1.0"}
FALSE_TEXT = {"false", "f", "no", "n", "0", "0.0"}
PROBLEM_COLUMNS = ["row", "field", "value", "reason"]


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
_VALID = {
    d: rf"[+-]?(?:\d+|[1-9]\d{{0,2}}(?:{re.escape(g)}\d{{3}})+)?(?:{re.escape(d)}\d*)?(?:[eE][+-]?\d+)?"
    for d, g in _OTHER.items()
}


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
        # separators only where they can be: groups of three before the one decimal mark
        malformed = t.str.contains(r"[.,]", regex=True).fillna(False) & ~t.str.fullmatch(
            _VALID[sep]
        ).fillna(False)
        grouped = t.where(~wrong & ~malformed)
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
    raw: pd.DataFrame,
    program: Program,
    rules: ParseRules | None = None,
    columns: dict[str, tuple[str, bool]] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Turn a chunk of submitted text into canonical dtypes.

    Args:
        raw: text columns already renamed to canonical names (missing values as NaN); the
            index holds data row numbers.
        program: gives the outcome columns, code lists and exit destinations.
        rules: the file's :class:`ParseRules` (limits, decimal separator); default: the
            program's limits, separator detected from this chunk.
        columns: the canonical columns (name -> (type, required)); default: the program's
            episode columns (survey and frontline submissions pass their own).

    Returns:
        ``(typed, problems)``: every canonical column in its canonical dtype (absent columns
        empty), and one problem row per value that could not be read as its type.
    """
    rules = rules or ParseRules.of(program)
    typed = pd.DataFrame(index=raw.index)
    problems = [text_problems(raw, rules)]
    for name, (typ, _) in (columns or episode_columns(program)).items():
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
