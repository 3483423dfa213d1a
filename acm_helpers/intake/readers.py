"""Submission readers: a file in, chunks of raw text out, each indexed by its data row.

Each reader yields ``(header, chunk, problems)``: the normalised header, a frame of text (missing
values as NaN) whose index holds 1-based data-row numbers (the first record after the header is
row 1; blank lines count), and problem rows for records it could not take (too many or too few
fields, broken quoting). Readers are I/O only; validation is :mod:`acm_helpers.intake.quality`,
orchestration :mod:`acm_helpers.intake.intake`.

- :func:`sniff`: what the file really is (zip, workbook, UTF-16 without a byte-order mark ...),
  its encoding (byte-order mark, declared, else strict UTF-8: never a guessed code page), its
  delimiter and an Excel ``sep=`` line; the whole file is decoded once, strictly, so a bad byte
  is refused with its offset and line instead of turning into mojibake;
- :func:`arrow_chunks`: pyarrow's streaming CSV reader, fast; raises :class:`Irregular` at a line
  it cannot number exactly, and the caller re-reads with
- :func:`csv_chunks`: Python's csv module, exact row numbers, short, long and badly quoted
  records reported;
- :func:`xlsx_chunks`: openpyxl in read-only mode, cached cell values (not formula text), the
  sheet named ``episodes`` in any case, else the one holding the template header.
"""

from __future__ import annotations

import codecs
import csv
import re
import sys
import warnings
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from acm_helpers.core.errors import IntakeError, Irregular
from acm_helpers.intake import quality as qc

CSV_SUFFIXES = {".csv", ".txt", ".tsv"}
XLSX_SUFFIXES = {".xlsx", ".xlsm"}
SNIFF_BYTES = 1 << 20
SCAN_BYTES = 8 << 20  # the strict decoding pass reads the file in blocks of this size
DELIMITERS = (",", ";", "\t", "|")
# Text read as "no value" in every column. "nan"/"NaN" are not here: in a number column they
# are quarantined as not finite (quality.NAN_TEXT), elsewhere read as missing.
NA_TEXT = ["", "NA", "N/A", "n/a", "NULL", "null", "None", "#N/A"]
SEP_LINE_RE = re.compile(r'^\ufeff?"?sep=(.)"?\s*$', re.IGNORECASE)  # Excel's "sep=;" first line
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # .xls and password-protected .xlsx
ENCRYPTED_MARK = "EncryptionInfo".encode("utf-16-le")  # stream name inside an encrypted OOXML file
MAGIC = {  # leading bytes -> what the file really is, and what to ask for
    b"%PDF": "a PDF document; ask for the rows as CSV or XLSX",
    b"\x1f\x8b": "gzip-compressed (e.g. .csv.gz); decompress it and send the CSV",
    b"7z\xbc\xaf\x27\x1c": "a 7-Zip archive; extract it and send the CSV or XLSX",
    b"Rar!": "a RAR archive; extract it and send the CSV or XLSX",
    b"SQLite format 3\x00": "an SQLite database; export the rows as CSV",
}
LATIN_GUESSES = {
    "cp1250",
    "cp1252",
    "cp1254",
    "cp1257",
    "cp1258",
    "latin_1",
    "iso8859_2",
    "iso8859_15",
    "mac_roman",
}
BINARY_SHARE = 0.01  # more NUL bytes than this share of the file: binary, not text with stray NULs


@dataclass(frozen=True)
class Dialect:
    """How a CSV submission is written: what :func:`sniff` found or the user declared."""

    encoding: str
    delimiter: str
    skip_lines: int = 0  # lines before the header (Excel's ``sep=;`` line)
    declared: bool = False  # the encoding was declared, not detected
    nul_bytes: int = 0  # NUL characters in the text (their rows are quarantined)


def what_it_is(path: Path, sample: bytes) -> str | None:
    """What a file that is not a CSV really is (zip, workbook, PDF ...), or None.

    Why: "binary content" or "truncated zip" tells the provider nothing; "an Excel workbook
    saved with a .csv name" tells them what to do.
    """
    if sample.startswith(b"PK\x03\x04") or sample.startswith(b"PK\x05\x06"):
        try:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
        except (zipfile.BadZipFile, OSError, ValueError, EOFError):
            return "a zip archive, and a damaged one; ask the provider to resend it"
        if any(n.startswith("xl/") for n in names):
            return "an Excel workbook (.xlsx) with another name; rename it to .xlsx"
        if any(n.lower().endswith(".csv") for n in names):
            return (
                "a zip archive of CSV files (an HMIS export? use --format hmis); otherwise "
                "extract it and send one CSV"
            )
        return "a zip archive, not a CSV; extract it and send the CSV or XLSX"
    if sample.startswith(OLE2_MAGIC):
        if ENCRYPTED_MARK in _head(path, 4 * SNIFF_BYTES):
            return (
                "a password-protected (encrypted) Excel workbook; ask the provider to remove "
                "the password (File > Info > Protect Workbook) and resend it as .xlsx"
            )
        return "an Excel 97-2003 workbook (.xls); save it as .xlsx or CSV and resend it"
    for magic, what in MAGIC.items():
        if sample.startswith(magic):
            return what
    return None


def utf16_without_bom(sample: bytes) -> str | None:
    """``utf-16-le`` / ``utf-16-be`` when the bytes look like UTF-16 text without a byte-order mark.

    ASCII text in UTF-16 has a NUL in every other byte: in the odd bytes for little-endian, the
    even ones for big-endian.
    """
    head = sample[:4096]
    if len(head) < 4:
        return None
    even, odd = head[0::2], head[1::2]
    zero_even, zero_odd = even.count(0) / len(even), odd.count(0) / max(len(odd), 1)
    if zero_odd > 0.3 and zero_even < 0.05:
        return "utf-16-le"
    if zero_even > 0.3 and zero_odd < 0.05:
        return "utf-16-be"
    return None


def sniff(
    path: Path,
    encoding: str | None = None,
    provider_encodings: Mapping[str, str] | None = None,
) -> Dialect:
    """The file's :class:`Dialect`; refuse a file that is not text in a known encoding.

    Encoding, in this order: a byte-order mark; ``encoding`` (declared by the user); the
    provider's ``encoding`` in the program file (``provider_encodings``, the provider read from
    the file's ASCII ``provider_id``); else UTF-8. The whole file is then decoded strictly:
    a byte that is not valid in that encoding is refused with its offset and line, never
    replaced or re-read in a guessed code page (which turned "Zoë" into "ZoÃ«").

    Raises:
        IntakeError: naming what the file is, or the bad byte and the next step.
    """
    sample = _head(path, SNIFF_BYTES)
    if not sample.strip():
        raise IntakeError(
            f"{path.name}: the file holds no text (only blanks). Ask the provider to send it again."
        )
    what = what_it_is(path, sample)
    if what:
        raise IntakeError(f"{path.name}: not a text file: it is {what}.")
    if encoding is not None:
        _check_codec(path, encoding)
    declared = encoding is not None
    if sample.startswith(codecs.BOM_UTF8):
        encoding, declared = "utf-8-sig", False
    elif sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding, declared = "utf-16", False
    elif encoding is None:
        wide = utf16_without_bom(sample)
        if wide:
            raise IntakeError(
                f"{path.name}: the text is UTF-16 ({wide[-2:].upper()}) without a byte-order "
                f"mark, so it cannot be read safely. Save it as CSV UTF-8, or declare it "
                f"(acm intake --encoding {wide}, or encoding: {wide} under the provider in the "
                "program file)."
            )
        if sample.count(0) > BINARY_SHARE * len(sample):
            raise IntakeError(
                f"{path.name}: not a text file: {sample.count(0):,} NUL bytes in its first "
                f"{_size(len(sample))} (binary content, not a CSV, an Excel workbook or UTF-16 "
                "text). Send the data as CSV or XLSX."
            )
        declared_by = _provider_encoding(sample, provider_encodings or {})
        encoding, declared = (declared_by, True) if declared_by else ("utf-8", False)
    text = sample.decode(encoding, errors="replace")
    lines = [ln for ln in text.splitlines()]
    skip = 1 if lines and SEP_LINE_RE.match(lines[0]) else 0
    if skip:
        delimiter = SEP_LINE_RE.match(lines[0]).group(1)
    else:
        first = next((ln for ln in lines if ln.strip()), "")
        delimiter = max(DELIMITERS, key=first.count)
    nul = check_decodes(path, encoding, declared, sample)
    if nul > max(16, BINARY_SHARE * path.stat().st_size):
        raise IntakeError(
            f"{path.name}: not a text file: {nul:,} NUL bytes (binary content, not a CSV, an "
            "Excel workbook or UTF-16 text). Send the data as CSV or XLSX."
        )
    return Dialect(encoding, delimiter, skip, declared, nul)


def check_decodes(path: Path, encoding: str, declared: bool, sample: bytes = b"") -> int:
    """Decode the whole file strictly; return its count of NUL characters.

    Raises:
        IntakeError: at the first byte that is not valid ``encoding``, with its offset and line.
    """
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    offset, newlines, nul = 0, 0, 0
    with open(path, "rb") as fh:
        while True:
            block = fh.read(SCAN_BYTES)
            final = len(block) < SCAN_BYTES
            pending = len(decoder.getstate()[0]) if hasattr(decoder, "getstate") else 0
            try:
                text = decoder.decode(block, final=final)
            except UnicodeDecodeError as exc:
                where = offset - pending + exc.start
                before = exc.object[: exc.start].decode(encoding, errors="replace")
                line = newlines + before.count("\n") + 1
                bad = exc.object[exc.start : exc.start + 1]
                raise IntakeError(
                    f"{path.name}: byte {where:,} (0x{bad.hex() or '??'}, on line {line:,}) is not "
                    f"valid {encoding} text. {_decode_hint(path, encoding, declared, sample)}"
                ) from None
            newlines += text.count("\n")
            nul += text.count("\x00")
            offset += len(block)
            if final:
                return nul


def _decode_hint(path: Path, encoding: str, declared: bool, sample: bytes) -> str:
    if declared:
        return (
            f"The declared encoding {encoding} does not fit this file: check the declaration "
            "(--encoding, or encoding: under the provider) or ask the provider for a UTF-8 CSV."
        )
    text = sample.decode("utf-8", errors="replace")
    if any(ord(c) > 127 and c != "\ufffd" for c in text):
        return (
            "The rest of the text is UTF-8, so this byte is damage (a bad copy or an edit in "
            "another program): ask the provider to resend the file."
        )
    from charset_normalizer import from_bytes

    best = from_bytes(sample).best()
    guess = best.encoding if best is not None else "cp1252"
    if guess in LATIN_GUESSES and decodes(sample, "cp1252"):
        guess = "cp1252"  # accented letters fit any Latin code page; Excel (US/EU) writes cp1252
    if codecs.lookup(guess).name.startswith("utf"):
        return (
            "It is not UTF-8 and no other encoding fits it well: ask the provider to save it "
            "again as CSV UTF-8."
        )
    return (
        f"It is not UTF-8; it may be {guess}. Intake does not guess a code page: if the provider "
        f"confirms it, declare it (acm intake --encoding {guess}, or encoding: {guess} under the "
        "provider in the program file), or ask for a UTF-8 CSV."
    )


def decodes(sample: bytes, encoding: str) -> bool:
    """True when ``sample`` is valid text in ``encoding``."""
    try:
        sample.decode(encoding)
        return True
    except UnicodeDecodeError:
        return False


def _check_codec(path: Path, encoding: str) -> None:
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise IntakeError(
            f"{path.name}: unknown text encoding {encoding!r}; use a Python codec name such as "
            "utf-8, latin-1, cp1252 or utf-16-le."
        ) from None


def _provider_encoding(sample: bytes, provider_encodings: Mapping[str, str]) -> str | None:
    """The declared encoding of the provider named in the file's first rows, if any.

    Provider ids are ASCII, so reading them through latin-1 (which maps every byte) finds the
    id whatever the file's real encoding.
    """
    if not provider_encodings:
        return None
    lines = sample.decode("latin-1").splitlines()[:200]
    if lines and SEP_LINE_RE.match(lines[0]):
        delimiter, lines = SEP_LINE_RE.match(lines[0]).group(1), lines[1:]
    else:
        first = next((ln for ln in lines if ln.strip()), "")
        delimiter = max(DELIMITERS, key=first.count)
    try:
        reader = csv.reader(lines, delimiter=delimiter)
        header = normalize_header(next(reader, []))
        if "provider_id" not in header:
            return None
        at = header.index("provider_id")
        for rec in reader:
            value = rec[at].strip().lower() if len(rec) > at else ""
            if value:
                return provider_encodings.get(value)
    except csv.Error:
        return None
    return None


def _size(n: int) -> str:
    return f"{n:,} bytes" if n < 1024 else f"{n / 1024:,.0f} KiB"


def _head(path: Path, n: int) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(n)


def normalize_header(names: Iterable[object]) -> list[str]:
    """Header cells to canonical spelling: trimmed, lower case, runs of non-alphanumerics -> ``_``."""
    out = []
    for name in names:
        text = "" if name is None else str(name).replace("\ufeff", "")
        out.append(re.sub(r"[^a-z0-9]+", "_", text.strip().lower()).strip("_"))
    return out


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
        return qc.empty_problems()
    return pd.DataFrame(rows, columns=qc.PROBLEM_COLUMNS).astype({"row": "int64"})


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
                yield header, part, qc.empty_problems()
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

    sample = _head(path, SNIFF_BYTES)
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
