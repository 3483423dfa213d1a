"""What a submission really is, and how its text is written, before a row is read.

:func:`sniff` refuses what is not a CSV with what it is (a zip, an XLSX renamed ``.csv``, an
``.xls`` or encrypted workbook, gzip, UTF-16 without a byte-order mark, binary), finds the
encoding (byte-order mark, declared, else strict UTF-8: never a guessed code page), the
delimiter and an Excel ``sep=`` line, and decodes the whole file once, strictly, so a bad byte
is refused with its offset and line instead of turning into mojibake ("Zoë" -> "ZoÃ«").
"""

from __future__ import annotations

import codecs
import csv
import re
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from acm_helpers.core.errors import IntakeError

DELIMITERS = (",", ";", "\t", "|")
SNIFF_BYTES = 1 << 20
SCAN_BYTES = 8 << 20  # the strict decoding pass reads the file in blocks of this size
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
        if ENCRYPTED_MARK in head(path, 4 * SNIFF_BYTES):
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
    the file's ASCII ``provider_id``) unless the file is valid UTF-8 (the provider has moved
    to UTF-8: reading it as latin-1 would garble every accent); else UTF-8. The whole file is then decoded strictly:
    a byte that is not valid in that encoding is refused with its offset and line, never
    replaced or re-read in a guessed code page (which turned "Zoë" into "ZoÃ«").

    Raises:
        IntakeError: naming what the file is, or the bad byte and the next step.
    """
    sample = head(path, SNIFF_BYTES)
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
        if declared_by and _valid_utf8(path, sample):
            declared_by = None  # UTF-8 now (valid UTF-8 is never accented latin-1 by chance)
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


def _valid_utf8(path: Path, sample: bytes) -> bool:
    try:
        check_decodes(path, "utf-8", False, sample)
        return True
    except IntakeError:
        return False


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


def head(path: Path, n: int) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(n)


def normalize_header(names: Iterable[object]) -> list[str]:
    """Header cells to canonical spelling: trimmed, lower case, runs of non-alphanumerics -> ``_``."""
    out = []
    for name in names:
        text = "" if name is None else str(name).replace("\ufeff", "")
        out.append(re.sub(r"[^a-z0-9]+", "_", text.strip().lower()).strip("_"))
    return out
