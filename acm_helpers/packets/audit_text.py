"""What a provider would read in a packet, as text units: each file (HTML, PDF, XLSX) becomes a
list of short strings (a table row with its caption, a tile, a list item, a chart mark's label,
a PDF line, a spreadsheet row), so the leak check can ask what each unit is about and what
numbers it carries.
"""

from __future__ import annotations

import datetime
import subprocess
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from acm_helpers.core.errors import PrivacyError

# Elements whose own text is one unit. Cells (td, th) and spans are inline here, so a table row
# or a tile (a div of spans) is one unit: its label and its numbers are checked together.
BLOCKS = {
    "tr",
    "li",
    "p",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "div",
    "title",
    "text",
    "caption",
    "section",
    "table",
    "tbody",
    "thead",
    "ul",
    "ol",
    "main",
    "body",
    "svg",
    "g",
    "pre",
    "dt",
    "dd",
}
LABEL_ATTRS = {"aria-label", "title", "alt", "aria-description"}


class _Units(HTMLParser):
    """Collect each block's own text (not its child blocks'), plus label attributes (SVG
    aria-labels, which carry a chart mark's fields and values)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.units: list[str] = []
        self._stack: list[list[str]] = [[]]
        self._skip = 0
        self._captions: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in ("style", "script"):
            self._skip += 1
        if tag == "table":
            self._captions.append("")
        for name, value in attrs:
            if name in LABEL_ATTRS and value:
                self.units.append(value)
        if tag in BLOCKS:
            self._stack.append([])

    def handle_endtag(self, tag):
        if tag in ("style", "script"):
            self._skip = max(0, self._skip - 1)
        if tag in BLOCKS and len(self._stack) > 1:
            text = " ".join(self._stack.pop()).strip()
            if tag == "caption" and self._captions:
                self._captions[-1] = text
            elif tag == "tr" and text and self._captions and self._captions[-1]:
                text = f"{self._captions[-1]} | {text}"  # a row is about what its table's caption names
            if text:
                self.units.append(text)
        if tag == "table" and self._captions:
            self._captions.pop()

    def handle_data(self, data):
        if not self._skip and data.strip():
            self._stack[-1].append(data.strip())

    def close(self):
        super().close()
        self.finish()

    def finish(self) -> None:
        """Text left outside every block ends the units."""
        rest = " ".join(" ".join(s) for s in self._stack).strip()
        if rest:
            self.units.append(rest)


def html_units(html: str) -> list[str]:
    """Text units of an HTML page: blocks (rows, items, tiles, paragraphs) and label attributes."""
    parser = _Units()
    parser.feed(html)
    parser.close()
    return parser.units


def pdf_units(pdf: Path) -> list[str]:
    """Lines of a PDF's text (``pdftotext -layout``), so a table row stays one unit."""
    proc = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, timeout=120
    )
    if proc.returncode != 0:
        raise PrivacyError(
            f"pdftotext could not read {pdf}: {proc.stderr.strip()}. Install poppler-utils."
        )
    return [line.strip() for line in proc.stdout.splitlines() if line.strip()]


def xlsx_units(xlsx: Path) -> list[str]:
    """One unit per spreadsheet row (cells joined), every sheet."""
    return _read_xlsx(xlsx)[0]


def _cell_text(v) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, datetime.datetime):
        return _date_text(v)
    return str(v)


def _date_text(v: datetime.datetime) -> str:
    """A workbook date as the audit must read it: a month cell (the first of the month at
    midnight, which the appendix shows as "Oct 2026") as its period label, so the row is tied
    to its period and its numbers are checked against that period's suppressed cells (read as
    "2026-10-01 00:00:00" it matched no period, and dated rows went unchecked); any other date
    as its ISO day (or day and time)."""
    if v.time() != datetime.time(0):
        return v.isoformat(" ")
    return v.strftime("%Y-%m") if v.day == 1 else v.date().isoformat()


def file_units(path: Path) -> list[str]:
    """Text units of a packet file, by extension (.html, .pdf, .xlsx)."""
    suffix = path.suffix.lower()
    if suffix in (".html", ".htm"):
        return html_units(path.read_text(encoding="utf-8"))
    if suffix == ".pdf":
        return pdf_units(path)
    if suffix == ".xlsx":
        return xlsx_units(path)
    raise PrivacyError(
        f"Cannot audit {path}: unknown file type {suffix!r} (expected .html, .pdf or .xlsx)."
    )


# -- tables (for the differencing check) ----------------------------------------------------------------
@dataclass(frozen=True)
class Table:
    """One published table: an HTML ``<table>`` or an XLSX sheet, as text cells.

    Attributes:
        file: the file it was read from (named in findings).
        name: its caption (HTML) or sheet name (XLSX): often names the metric, breakdown, period.
        header: the column headings.
        rows: the body rows, one text per cell ("" for an empty cell).
    """

    file: str
    name: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


class _Tables(HTMLParser):
    """Collect every ``<table>``: caption, the header row (``th`` cells) and body rows."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: list[tuple[str, list[str], list[list[str]]]] = []
        self._open: list[dict] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("style", "script", "svg"):
            self._skip += 1
        if tag == "table":
            self._open.append({"caption": "", "header": [], "rows": [], "row": None, "cell": None})
        elif not self._open:
            return
        t = self._open[-1]
        if tag == "tr":
            t["row"] = []
        elif tag in ("td", "th") and t["row"] is not None:
            t["cell"] = [tag, []]
        elif tag == "caption":
            t["cell"] = ["caption", []]

    def handle_endtag(self, tag):
        if tag in ("style", "script", "svg"):
            self._skip = max(0, self._skip - 1)
        if not self._open:
            return
        t = self._open[-1]
        if tag in ("td", "th", "caption") and t["cell"] is not None:
            kind, parts = t["cell"]
            text = " ".join(" ".join(parts).split())
            t["cell"] = None
            if kind == "caption":
                t["caption"] = text
            elif t["row"] is not None:
                t["row"].append((kind, text))
        elif tag == "tr" and t["row"] is not None:
            row, t["row"] = t["row"], None
            if row and all(k == "th" for k, _ in row) and not t["header"] and not t["rows"]:
                t["header"] = [c for _, c in row]
            elif row:
                t["rows"].append([c for _, c in row])
        elif tag == "table":
            done = self._open.pop()
            self.tables.append((done["caption"], done["header"], done["rows"]))

    def handle_data(self, data):
        if self._skip or not self._open or self._open[-1]["cell"] is None:
            return
        if data.strip():
            self._open[-1]["cell"][1].append(data.strip())


def html_tables(html: str, file: str = "") -> list[Table]:
    """The tables of an HTML page (charts' SVG, scripts and styles ignored)."""
    parser = _Tables()
    parser.feed(html)
    parser.close()
    return [
        Table(file, caption, tuple(header), tuple(tuple(r) for r in rows))
        for caption, header, rows in parser.tables
        if rows
    ]


def xlsx_tables(xlsx: Path) -> list[Table]:
    """Every sheet of a workbook as a table: first row the header, the rest the body."""
    return _read_xlsx(xlsx)[1]


class _UnitsAndTables(HTMLParser):
    """One pass over a page for both readings (:func:`html_units` and :func:`html_tables`)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.u, self.t = _Units(), _Tables()

    def handle_starttag(self, tag, attrs):
        self.u.handle_starttag(tag, attrs)
        self.t.handle_starttag(tag, attrs)

    def handle_endtag(self, tag):
        self.u.handle_endtag(tag)
        self.t.handle_endtag(tag)

    def handle_data(self, data):
        self.u.handle_data(data)
        self.t.handle_data(data)


def _read_xlsx(xlsx: Path) -> tuple[list[str], list[Table]]:
    """A workbook's units (:func:`xlsx_units`) and tables (:func:`xlsx_tables`), read once.

    Read with calamine (Rust): the values openpyxl gives, for about a twentieth of the CPU
    (measured on the demo appendices, 2026-12-06: 0.06-0.24 s a packet became 0.003-0.01 s).
    Calamine gives an empty cell and an empty text alike as ``""``; both are left out of a
    unit, and both are ``""`` in a table. A date cell comes as a date and is read as that day
    at midnight (a month cell still reads as its period).
    """
    from python_calamine import CalamineWorkbook

    units: list[str] = []
    tables = []
    wb = CalamineWorkbook.from_path(str(xlsx))
    try:
        for name in wb.sheet_names:
            rows = [
                tuple(_xlsx_value(v) for v in row)
                for row in wb.get_sheet_by_name(name).to_python(skip_empty_area=False)
            ]
            for row in rows:
                cells = [_cell_text(v) for v in row if v is not None]
                if cells:
                    units.append(" | ".join(cells))
            texts = [tuple("" if v is None else _cell_text(v) for v in row) for row in rows]
            texts = [r for r in texts if any(r)]
            if len(texts) > 1:
                tables.append(Table(xlsx.name, name, texts[0], tuple(texts[1:])))
    finally:
        wb.close()
    return units, tables


def _xlsx_value(v):
    """A calamine cell value as openpyxl gives it: None for empty, a datetime for a date."""
    if v == "":
        return None
    if type(v) is datetime.date:
        return datetime.datetime.combine(v, datetime.time())
    return v


def read_file(path: Path) -> tuple[list[str], list[Table]]:
    """A packet file's text units and tables, each file read and parsed once (the audit needs
    both; :func:`file_units` and :func:`file_tables` give the same lists one at a time)."""
    suffix = path.suffix.lower()
    if suffix in (".html", ".htm"):
        parser = _UnitsAndTables()
        parser.feed(path.read_text(encoding="utf-8"))
        parser.close()
        parser.u.finish()
        tables = [
            Table(path.name, caption, tuple(header), tuple(tuple(r) for r in rows))
            for caption, header, rows in parser.t.tables
            if rows
        ]
        return parser.u.units, tables
    if suffix == ".xlsx":
        return _read_xlsx(path)
    return file_units(path), file_tables(path)


def file_tables(path: Path) -> list[Table]:
    """The tables of a packet file; a PDF has none of its own (it prints the HTML's)."""
    suffix = path.suffix.lower()
    if suffix in (".html", ".htm"):
        return html_tables(path.read_text(encoding="utf-8"), path.name)
    if suffix == ".xlsx":
        return xlsx_tables(path)
    return []
