"""Submission readers: a file in, chunks of raw text out, each indexed by its data row.

Each reader yields ``(header, chunk, problems)``: the normalised header, a frame of text (missing
values as NaN) whose index holds 1-based data-row numbers (the first record after the header is
row 1; blank lines count), and problem rows for lines it could not parse (too many fields).
Readers are I/O only; validation is :mod:`acm_helpers.intake.quality`, orchestration :mod:`acm_helpers.intake.intake`.

- :func:`arrow_chunks`: pyarrow's streaming CSV reader, fast; raises :class:`Irregular` at a line
  it cannot number exactly, and the caller re-reads with
- :func:`csv_chunks`: pandas' C parser, exact row numbers, malformed lines reported;
- :func:`xlsx_chunks`: openpyxl in read-only mode (first sheet, or one named ``episodes``).
"""

from __future__ import annotations

import codecs
import csv
import re
import warnings
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from acm_helpers.core.errors import IntakeError, Irregular
from acm_helpers.intake import quality as qc

CSV_SUFFIXES = {".csv", ".txt", ".tsv"}
XLSX_SUFFIXES = {".xlsx", ".xlsm"}
SNIFF_BYTES = 1 << 20
DELIMITERS = (",", ";", "\t", "|")
NA_TEXT = ["", "NA", "N/A", "n/a", "NULL", "null", "None", "NaN", "nan", "#N/A"]
FALLBACK_ENCODINGS = ("cp1252", "latin-1")
LATIN_GUESSES = {
    "cp1250",
    "cp1252",
    "cp1254",
    "cp1257",
    "cp1258",
    "latin_1",
    "iso8859_2",
    "iso8859_3",
    "iso8859_4",
    "iso8859_9",
    "iso8859_10",
    "iso8859_13",
    "iso8859_14",
    "iso8859_15",
    "iso8859_16",
    "mac_roman",
    "mac_latin2",
}
SKIPPED_RE = re.compile(r"Skipping line (\d+): expected (\d+) fields, saw (\d+)")


def sniff(path: Path) -> tuple[str, str]:
    """Encoding (BOM, UTF-8, else charset-normalizer's guess) and delimiter (most frequent in header)."""
    with open(path, "rb") as fh:
        sample = fh.read(SNIFF_BYTES)
    if not sample.strip():
        raise IntakeError(
            f"{path.name}: the file holds no text (only blanks). Ask the provider to send it again."
        )
    if sample.startswith(codecs.BOM_UTF8):
        encoding = "utf-8-sig"
    elif sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    elif b"\x00" in sample:
        raise IntakeError(
            f"{path.name}: not a text file (binary content). Send the data as CSV or XLSX."
        )
    else:
        try:
            codecs.getincrementaldecoder("utf-8")().decode(sample, final=len(sample) < SNIFF_BYTES)
            encoding = "utf-8"
        except UnicodeDecodeError:
            from charset_normalizer import from_bytes

            best = from_bytes(sample).best()
            if best is None:
                raise IntakeError(
                    f"{path.name}: cannot tell the text encoding; ask for a UTF-8 CSV."
                ) from None
            encoding = best.encoding
            if encoding in LATIN_GUESSES and decodes(sample, "cp1252"):
                encoding = "cp1252"  # a few accented letters fit any Latin code page; Excel (US) writes cp1252
    text = sample.decode(encoding, errors="replace")
    first = next((line for line in text.splitlines() if line.strip()), "")
    delimiter = max(DELIMITERS, key=first.count)
    return encoding, delimiter


def decodes(sample: bytes, encoding: str) -> bool:
    try:
        sample.decode(encoding)
        return True
    except UnicodeDecodeError:
        return False


def normalize_header(names: Iterable[object]) -> list[str]:
    """Header cells to canonical spelling: trimmed, lower case, runs of non-alphanumerics -> ``_``."""
    out = []
    for name in names:
        text = "" if name is None else str(name).replace("\ufeff", "")
        out.append(re.sub(r"[^a-z0-9]+", "_", text.strip().lower()).strip("_"))
    return out


def csv_chunks(path: Path, encoding: str, delimiter: str, chunk_rows: int) -> Iterator:
    truncated = truncated_tail(path, encoding, delimiter)
    if truncated:
        raise IntakeError(
            f"{path.name}: the file looks truncated ({truncated}). Ask the provider to resend it complete."
        )
    try:
        reader = pd.read_csv(
            path,
            sep=delimiter,
            encoding=encoding,
            dtype="str",
            chunksize=chunk_rows,
            skip_blank_lines=False,
            on_bad_lines="warn",
            keep_default_na=False,
            na_values=NA_TEXT,
            engine="c",
        )
    except pd.errors.EmptyDataError:
        raise IntakeError(
            f"{path.name}: no header row. Use the program's template header."
        ) from None
    bad_rows: list[int] = []
    it = iter(reader)
    with reader:
        while True:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", pd.errors.ParserWarning)
                try:
                    chunk = next(it)
                except StopIteration:
                    break
                except pd.errors.ParserError as exc:
                    raise IntakeError(
                        f"{path.name}: cannot parse the file ({exc}); it may be truncated or "
                        "have an unclosed quote. Ask the provider to resend it."
                    ) from None
            skipped = []
            for w in caught:
                found = SKIPPED_RE.findall(str(w.message))
                if not found:
                    warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
                for line, expected, saw in found:
                    bad_rows.append(int(line) - 1)
                    skipped.append(
                        (
                            int(line) - 1,
                            "",
                            "",
                            f"row has {saw} fields but the header has {expected} "
                            "(an unquoted delimiter inside a value?)",
                        )
                    )
            header = normalize_header(chunk.columns)
            chunk.columns = header
            chunk.index = data_rows(chunk.index.to_numpy(), sorted(bad_rows))
            yield header, chunk, pd.DataFrame(skipped, columns=qc.PROBLEM_COLUMNS)


def arrow_chunks(path: Path, encoding: str, delimiter: str, chunk_rows: int) -> Iterator:
    """Fast path: pyarrow's streaming CSV reader, every column as text.

    It stops with :class:`Irregular` at the first line whose data-row number it could not
    keep exact (blank or malformed lines, undecodable bytes); the caller then re-reads the file
    with :func:`csv_chunks`, which quarantines such lines with their row numbers.
    """
    import pyarrow as pa
    import pyarrow.csv as pcsv

    with open(path, encoding=encoding, errors="replace", newline="") as fh:
        names = next(csv.reader(fh, delimiter=delimiter), [])
    if not names:
        raise Irregular("no header")
    header = normalize_header(names)
    arrow_enc = "utf8" if encoding in ("utf-8", "utf-8-sig") else encoding
    try:
        reader = pcsv.open_csv(
            path,
            read_options=pcsv.ReadOptions(
                column_names=[f"c{i}" for i in range(len(names))],
                skip_rows=1,
                block_size=16 << 20,
                encoding=arrow_enc,
            ),
            parse_options=pcsv.ParseOptions(
                delimiter=delimiter, newlines_in_values=True, ignore_empty_lines=False
            ),
            convert_options=pcsv.ConvertOptions(
                column_types={f"c{i}": pa.string() for i in range(len(names))},
                null_values=NA_TEXT,
                strings_can_be_null=True,
            ),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
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
                yield header, part, qc.empty_problems()
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise Irregular(str(exc)) from None


def data_rows(ordinal: np.ndarray, skipped_rows: list[int]) -> pd.Index:
    """Data row numbers of parsed rows, given the data rows pandas skipped as malformed."""
    if not skipped_rows:
        return pd.Index(ordinal + 1)
    gaps = (
        np.asarray(skipped_rows) - 1 - np.arange(len(skipped_rows))
    )  # parsed rows before each skip
    return pd.Index(ordinal + 1 + np.searchsorted(gaps, ordinal, side="right"))


def truncated_tail(path: Path, encoding: str, delimiter: str) -> str | None:
    """A last line without a newline and with fewer fields than the header means a cut-off file."""
    if encoding == "utf-16":
        return None
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.readline()
        fh.seek(max(0, size - 65536))
        tail = fh.read()
    if tail.endswith((b"\n", b"\r")) or b"\n" not in tail.strip(b"\r\n"):
        return None
    last = tail.rsplit(b"\n", 1)[-1].decode(encoding, errors="replace")
    want = len(
        next(
            csv.reader([head.decode(encoding, errors="replace").strip("\r\n")], delimiter=delimiter)
        )
    )
    got = len(next(csv.reader([last], delimiter=delimiter), []))
    if got < want:
        return f"the last line has {got} of {want} fields and no line end"
    return None


def xlsx_chunks(path: Path, chunk_rows: int) -> Iterator:
    import zipfile
    import zlib

    from openpyxl import load_workbook

    broken = (zipfile.BadZipFile, zlib.error, EOFError, KeyError, OSError, ValueError)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "no default style" from some writers
            book = load_workbook(path, read_only=True, data_only=False)
    except broken as exc:
        raise IntakeError(
            f"{path.name}: not a readable XLSX workbook ({type(exc).__name__}: {exc}); it may be "
            "truncated or another format renamed .xlsx. Ask the provider to resend it."
        ) from None
    try:
        sheet = book["episodes"] if "episodes" in book.sheetnames else book.worksheets[0]
        rows = sheet.iter_rows(values_only=True)
        first = next(rows, None)
        if first is None:
            raise IntakeError(
                f"{path.name}: the first sheet is empty. Put the rows under the template header."
            )
        header = normalize_header(first)
        keep = [i for i, h in enumerate(header) if h]
        header = [header[i] for i in keep]
        buffer, start = [], 1
        for values in rows:
            buffer.append([values[i] if i < len(values) else None for i in keep])
            if len(buffer) >= chunk_rows:
                yield header, xlsx_frame(buffer, header, start), qc.empty_problems()
                start += len(buffer)
                buffer = []
        if buffer or start == 1:
            yield header, xlsx_frame(buffer, header, start), qc.empty_problems()
    except broken as exc:
        raise IntakeError(
            f"{path.name}: the workbook is damaged ({type(exc).__name__}); it may be truncated. "
            "Ask the provider to resend it."
        ) from None
    finally:
        book.close()


def xlsx_frame(rows: list[list], header: list[str], start: int) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=header, dtype=object)
    frame = frame.apply(lambda col: col.map(cell_text)).astype("str")
    frame.index = pd.RangeIndex(start, start + len(rows))
    return frame


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
    text = str(value)
    return None if text.strip() == "" else text
