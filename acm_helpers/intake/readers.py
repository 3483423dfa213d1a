"""Submission readers: a file in, chunks of raw text out, each indexed by its data row.

Each reader yields ``(header, chunk, problems)``: the normalised header, a frame of text (missing
values as NaN) whose index holds 1-based data-row numbers (the first record after the header is
row 1; blank lines count), and problem rows for records it could not take (too many or too few
fields, broken quoting). Readers are I/O only; validation is :mod:`acm_helpers.intake.quality`,
orchestration :mod:`acm_helpers.intake.intake`.

Every CSV reader takes the :class:`~acm_helpers.intake.sniff.Dialect` that
:func:`acm_helpers.intake.sniff.sniff` found (the file is already known to decode strictly):

- :func:`arrow_chunks`: pyarrow's streaming CSV reader, fast; raises :class:`Irregular` at a line
  it cannot number exactly, and the caller re-reads with
- :func:`csv_chunks`: Python's csv module, exact row numbers, short, long and badly quoted
  records reported;
- :func:`xlsx_chunks`: openpyxl in read-only mode, cached cell values (not formula text), the
  sheet named ``episodes`` in any case, else the one holding the template header.
"""

from __future__ import annotations

import csv
import re
import sys
import warnings
import zipfile
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from acm_helpers.core.errors import IntakeError, Irregular
from acm_helpers.intake.parse import PROBLEM_COLUMNS, empty_problems
from acm_helpers.intake.sniff import SNIFF_BYTES, Dialect, head, normalize_header, what_it_is

CSV_SUFFIXES = {".csv", ".txt", ".tsv"}
XLSX_SUFFIXES = {".xlsx", ".xlsm"}
DELIMITERS = (",", ";", "\t", "|")
# Text read as "no value" in every column. "nan"/"NaN" are not here: in a number column they
# are quarantined as not finite (parse.NAN_TEXT), elsewhere read as missing.
NA_TEXT = ["", "NA", "N/A", "n/a", "NULL", "null", "None", "#N/A"]


def csv_chunks(path: Path, dialect: Dialect, chunk_rows: int) -> Iterator:
    """Exact reader: every record numbered, short, long and badly quoted ones reported.

    Why the csv module and not pandas: pandas pads a short record with blanks, so a row cut
    after ``enrollment_date`` loaded as a stayer, and renames a repeated header name
    (``zip.1``), so a duplicated column loaded as another one.
    """
    truncated = truncated_tail(path, dialect)
    if truncated:
        raise IntakeError(
            f"{path.name}: the file looks truncated ({truncated}). Ask the provider to resend it complete."
        )
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # long fields are quarantined, not fatal
    na = set(NA_TEXT)
    with open(path, encoding=dialect.encoding, newline="") as fh:
        for _ in range(dialect.skip_lines):
            fh.readline()
        reader = csv.reader(fh, delimiter=dialect.delimiter, strict=True)
        try:
            names = next(reader)
        except StopIteration:
            raise IntakeError(
                f"{path.name}: no header row. Use the program's template header."
            ) from None
        except csv.Error as exc:
            raise IntakeError(
                f"{path.name}: cannot read the header row ({exc}). Use the program's template header."
            ) from None
        header = normalize_header(names)
        width = len(header)
        rows: list[list] = []
        index: list[int] = []
        problems: list[tuple] = []
        ordinal = 0
        while True:
            try:
                rec = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                ordinal += 1
                if "unexpected end of data" in str(exc):
                    raise IntakeError(
                        f"{path.name}: a quote opened on data row {ordinal:,} is never closed, so "
                        "the file may be truncated or have an unclosed quote. Ask the provider "
                        "to resend it."
                    ) from None
                problems.append((ordinal, "", "", f"broken quoting ({exc})"))
                continue
            ordinal += 1
            if not rec:
                rows.append([None] * width)  # a blank line: counted, skipped by intake
                index.append(ordinal)
            elif len(rec) == width:
                rows.append([None if v in na else v for v in rec])
                index.append(ordinal)
            else:
                why = (
                    "an unquoted delimiter inside a value?"
                    if len(rec) > width
                    else "cut short, or a line break inside an unquoted value?"
                )
                problems.append(
                    (
                        ordinal,
                        "",
                        "",
                        f"row has {len(rec)} fields but the header has {width} ({why})",
                    )
                )
            if len(rows) >= chunk_rows:
                yield header, _text_frame(rows, header, index), _problems(problems)
                rows, index, problems = [], [], []
        if rows or problems or ordinal == 0:
            yield header, _text_frame(rows, header, index), _problems(problems)


def _text_frame(rows: list[list], header: list[str], index: list[int]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=range(len(header)), dtype=object)
    frame.columns = header
    frame.index = pd.Index(np.asarray(index, dtype="int64"))
    return frame.astype("str") if len(frame.columns) else frame


def _problems(rows: list[tuple]) -> pd.DataFrame:
    if not rows:
        return empty_problems()
    return pd.DataFrame(rows, columns=PROBLEM_COLUMNS).astype({"row": "int64"})


def arrow_chunks(path: Path, dialect: Dialect, chunk_rows: int) -> Iterator:
    """Fast path: pyarrow's streaming CSV reader, every column as text.

    It stops with :class:`Irregular` at the first line whose data-row number it could not
    keep exact (blank, short or long lines); the caller then re-reads the file with
    :func:`csv_chunks`, which quarantines such lines with their row numbers.
    """
    import pyarrow as pa
    import pyarrow.csv as pcsv

    with open(path, encoding=dialect.encoding, newline="") as fh:
        for _ in range(dialect.skip_lines):
            fh.readline()
        try:
            names = next(csv.reader(fh, delimiter=dialect.delimiter), [])
        except csv.Error as exc:
            raise Irregular(str(exc)) from None
    if not names:
        raise Irregular("no header")
    header = normalize_header(names)
    if len(set(header)) < len(header):
        raise Irregular("repeated header names")  # the exact reader reports them unmangled
    arrow_enc = "utf8" if dialect.encoding in ("utf-8", "utf-8-sig") else dialect.encoding
    try:
        reader = pcsv.open_csv(
            path,
            read_options=pcsv.ReadOptions(
                column_names=[f"c{i}" for i in range(len(names))],
                skip_rows=1 + dialect.skip_lines,
                block_size=16 << 20,
                encoding=arrow_enc,
            ),
            parse_options=pcsv.ParseOptions(
                delimiter=dialect.delimiter, newlines_in_values=True, ignore_empty_lines=False
            ),
            convert_options=pcsv.ConvertOptions(
                column_types={f"c{i}": pa.string() for i in range(len(names))},
                null_values=NA_TEXT,
                strings_can_be_null=True,
            ),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError, LookupError) as exc:
        if "Empty CSV file" in str(exc):
            return  # header only
        raise Irregular(str(exc)) from None
    start = 1
    try:
        for batch in reader:
            frame = batch.to_pandas()
            frame.columns = header
            for lo in range(0, len(frame), chunk_rows):
                part = frame.iloc[lo : lo + chunk_rows]
                part.index = pd.RangeIndex(start, start + len(part))
                start += len(part)
                yield header, part, empty_problems()
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise Irregular(str(exc)) from None


def truncated_tail(path: Path, dialect: Dialect) -> str | None:
    """A last line without a newline and with fewer fields than the header means a cut-off file."""
    encoding, delimiter = dialect.encoding, dialect.delimiter
    if encoding.startswith("utf-16") or encoding.startswith("utf-32"):
        return None
    size = path.stat().st_size
    with open(path, "rb") as fh:
        for _ in range(dialect.skip_lines):
            fh.readline()
        head = fh.readline()
        fh.seek(max(0, size - 65536))
        tail = fh.read()
    if tail.endswith((b"\n", b"\r")) or b"\n" not in tail.strip(b"\r\n"):
        return None
    last = tail.rsplit(b"\n", 1)[-1].decode(encoding, errors="replace")
    try:
        want = len(
            next(
                csv.reader(
                    [head.decode(encoding, errors="replace").strip("\r\n")], delimiter=delimiter
                )
            )
        )
        got = len(next(csv.reader([last], delimiter=delimiter), []))
    except csv.Error:
        return None  # a quote that runs over the end: the exact reader names its row
    if got < want:
        return f"the last line has {got} of {want} fields and no line end"
    return None


def xlsx_chunks(path: Path, chunk_rows: int) -> Iterator:
    """A workbook's data sheet, as the cached values Excel shows (never formula text).

    The sheet: the one named ``episodes`` (any case, spaces trimmed), else the only sheet, else
    the first whose header has ``episode_id``; otherwise refused with the list of sheets.
    """
    import zlib

    from openpyxl import load_workbook

    sample = head(path, SNIFF_BYTES)
    if not sample.startswith(b"PK\x03\x04"):
        what = what_it_is(path, sample)
        raise IntakeError(
            f"{path.name}: not an XLSX workbook: it is "
            f"{what or 'not a zip container (text or another format renamed .xlsx)'}."
        )
    broken = (zipfile.BadZipFile, zlib.error, EOFError, KeyError, OSError, ValueError, TypeError)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "no default style" from some writers
            book = load_workbook(path, read_only=True, data_only=True)
    except broken as exc:
        raise IntakeError(
            f"{path.name}: not a readable XLSX workbook ({type(exc).__name__}: {exc}); it may be "
            "truncated or another format renamed .xlsx. Ask the provider to resend it."
        ) from None
    try:
        sheet, rows, first = _data_sheet(path, book)
        full_header = normalize_header(first)
        keep = [i for i, h in enumerate(full_header) if h]
        header = [full_header[i] for i in keep]
        uncached = _uncached_formulas(book[sheet])
        buffer, index, problems, ordinal = [], [], [], 0
        for values in rows:
            ordinal += 1
            if ordinal in uncached:
                col = uncached[ordinal]
                problems.append(
                    (
                        ordinal,
                        full_header[col] if col < len(full_header) else "",
                        "",
                        "a formula with no saved value (the workbook was never recalculated): "
                        "open it in Excel, save it and resend",
                    )
                )
                continue
            buffer.append([values[i] if i < len(values) else None for i in keep])
            index.append(ordinal)
            if len(buffer) >= chunk_rows:
                yield header, xlsx_frame(buffer, header, index), _problems(problems)
                buffer, index, problems = [], [], []
        if buffer or problems or ordinal == 0:
            yield header, xlsx_frame(buffer, header, index), _problems(problems)
    except broken as exc:
        raise IntakeError(
            f"{path.name}: the workbook is damaged ({type(exc).__name__}); it may be truncated. "
            "Ask the provider to resend it."
        ) from None
    finally:
        book.close()


def _data_sheet(path: Path, book) -> tuple:
    names = list(book.sheetnames)
    listed = ", ".join(repr(n) for n in names) or "(none)"
    named = [n for n in names if n.strip().casefold() == "episodes"]
    candidates = named or names
    for name in candidates:
        rows = book[name].iter_rows(values_only=True)
        first = next(rows, None)
        if first is None:
            if named or len(names) == 1:
                raise IntakeError(
                    f"{path.name}: sheet {name!r} is empty (sheets: {listed}). Put the rows "
                    "under the template header."
                )
            continue
        if named or len(names) == 1 or "episode_id" in normalize_header(first):
            return name, rows, first
    raise IntakeError(
        f"{path.name}: no sheet is named 'episodes' or starts with the template header "
        f"(episode_id, client_id, ...). Sheets in the workbook: {listed}. Rename the data sheet "
        "to 'episodes' and resend."
    )


UNCACHED_RE = re.compile(
    rb'<c r="([A-Z]+)(\d+)"[^>]*>(?:<f>[^<]*</f>|<f[^>]*/>|<f [^>]*>[^<]*</f>)(?:<v\s*/>|<v></v>)?</c>'
)


def _uncached_formulas(sheet) -> dict[int, int]:
    """Data rows (-> 0-based column) holding a formula without a cached value.

    Why: read as cached values, such a cell is empty, which would load silently as a missing
    value; a workbook written by a program that never recalculated it has them.
    """
    from openpyxl.utils import column_index_from_string

    try:
        stream = sheet.parent._archive.open(sheet._worksheet_path)
    except (AttributeError, KeyError, OSError):
        return {}
    found: dict[int, int] = {}
    tail = b""
    with stream:
        while True:
            block = stream.read(4 << 20)
            data = tail + block
            for m in UNCACHED_RE.finditer(data):
                found.setdefault(
                    int(m.group(2)) - 1, column_index_from_string(m.group(1).decode()) - 1
                )
            if not block:
                return {r: c for r, c in found.items() if r >= 1}
            tail = data[-1024:]


def xlsx_frame(rows: list[list], header: list[str], index: list[int]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=range(len(header)), dtype=object)
    frame = frame.apply(lambda col: col.map(cell_text)).astype("str")
    frame.columns = header
    frame.index = pd.Index(np.asarray(index, dtype="int64"))
    return frame


AMBIGUOUS_FLOAT = re.compile(r"-?[1-9]\d{0,2}\.\d{3}")


def cell_text(value: object) -> object:
    """An XLSX cell as the text a CSV would hold (dates ISO, whole floats without .0)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return (
            value.strftime("%Y-%m-%d")
            if value.time() == datetime.min.time()
            else value.isoformat(sep=" ")
        )
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, float) and AMBIGUOUS_FLOAT.fullmatch(repr(value)):
        return repr(value) + "0"  # a number cell is not ambiguous: 1.234 is not "1,234"
    text = str(value)
    return None if text.strip() == "" else text
