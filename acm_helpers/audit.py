"""Leak check of provider-facing packets, run on the finished files before they are published.

Why check the files and not trust the pipeline: suppression and anonymization happen once, in
the engine, but a packet is assembled from many hands (templates, narrative, charts, appendix).
This module reads what a provider would actually receive (the HTML text and SVG labels, the
PDF's text via ``pdftotext``, every XLSX cell) and looks for three things that must never be
there:

1. a client id (any client id in the store's episodes);
2. another provider's name or id, when peers are anonymized;
3. the true value of a suppressed cell: a text unit (table row, list item, chart label, PDF
   line, spreadsheet row) that names the suppressed cell's metric and group and also carries its
   true numerator, denominator or value.

A finding fails the packet (``privacy_failed`` in the manifest) with the reason.
"""

from __future__ import annotations

import functools
import re
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd

from acm_helpers.exceptions import PrivacyError

TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-]*")
NUMBER = re.compile(r"(?<![\w.])\d[\d,]*(?:\.\d+)?%?")
# Elements whose own text is one unit. Cells (td, th) and spans are inline here, so a table row
# or a tile (a div of spans) is one unit: its label and its numbers are checked together.
BLOCKS = {"tr", "li", "p", "h1", "h2", "h3", "h4", "h5", "h6", "div", "title", "text", "caption",
          "section", "table", "tbody", "thead", "ul", "ol", "main", "body", "svg", "g", "pre", "dt", "dd"}
LABEL_ATTRS = {"aria-label", "title", "alt", "aria-description"}


@dataclass(frozen=True)
class SuppressedCell:
    """A cell the engine suppressed, with the true numbers that must not appear next to it."""

    metric: str  # metric label as printed (and id)
    group: str  # group label ("" for an overall value)
    numbers: frozenset[str]  # the true numerator, denominator and value in printed forms
    period: str = ""
    metric_id: str = ""
    who: str = ""  # another provider's label as the packet shows it ("" = the packet's own provider)
    dimension: str = ""  # the breakdown's label ("Race and ethnicity"); "" for an overall value
    current: bool = True  # the packet's own period: rows need not name it (else they must)


@dataclass(frozen=True)
class PrivacyFacts:
    """What a provider's packet must not contain."""

    provider: str
    client_ids: frozenset[str] = frozenset()
    forbidden_names: tuple[str, ...] = ()  # other providers' names (when anonymized)
    forbidden_ids: frozenset[str] = frozenset()  # other providers' ids (lower case)
    suppressed: tuple[SuppressedCell, ...] = ()
    labels_with_digits: tuple[str, ...] = ()  # labels such as "18-24", ZIP codes, "within 12 months"
    other_labels: tuple[str, ...] = ()  # other providers as the packet names them ("Peer A", "All providers")
    group_labels: tuple[str, ...] = ()  # every group label of every dimension
    dimension_labels: tuple[str, ...] = ()  # every breakdown's label


@dataclass(frozen=True)
class Finding:
    """One leak, with where it was found and a short excerpt (the secret itself is masked)."""

    kind: str  # client_id | provider_name | suppressed_value
    file: str
    detail: str
    excerpt: str = ""

    @property
    def message(self) -> str:
        """One sentence for the manifest and the CLI."""
        return f"{self.file}: {self.kind.replace('_', ' ')} {self.detail}"

    def as_dict(self) -> dict[str, str]:
        """JSON-able form for the manifest."""
        return {"kind": self.kind, "file": self.file, "detail": self.detail, "excerpt": self.excerpt}


# -- text extraction: each file becomes a list of text units ---------------------------------------
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
    proc = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise PrivacyError(f"pdftotext could not read {pdf}: {proc.stderr.strip()}. Install poppler-utils.")
    return [line.strip() for line in proc.stdout.splitlines() if line.strip()]


def xlsx_units(xlsx: Path) -> list[str]:
    """One unit per spreadsheet row (cells joined), every sheet."""
    from openpyxl import load_workbook

    wb = load_workbook(xlsx, read_only=True, data_only=True)
    units = []
    try:
        for ws in wb.worksheets:
            for row in ws.iter_rows(values_only=True):
                cells = [_cell_text(v) for v in row if v is not None]
                if cells:
                    units.append(" | ".join(cells))
    finally:
        wb.close()
    return units


def _cell_text(v) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def file_units(path: Path) -> list[str]:
    """Text units of a packet file, by extension (.html, .pdf, .xlsx)."""
    suffix = path.suffix.lower()
    if suffix in (".html", ".htm"):
        return html_units(path.read_text(encoding="utf-8"))
    if suffix == ".pdf":
        return pdf_units(path)
    if suffix == ".xlsx":
        return xlsx_units(path)
    raise PrivacyError(f"Cannot audit {path}: unknown file type {suffix!r} (expected .html, .pdf or .xlsx).")


# -- checks ------------------------------------------------------------------------------------------
def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def _numbers(text: str) -> set[str]:
    return {m.replace(",", "") for m in NUMBER.findall(text)}


def check_units(units: Iterable[str], facts: PrivacyFacts, file: str) -> list[Finding]:
    """Check text units against the facts; one finding per distinct leak."""
    findings: dict[tuple[str, str], Finding] = {}
    names = [(n, _norm(n)) for n in facts.forbidden_names if n.strip()]
    by_metric: dict[str, list[SuppressedCell]] = {}
    for cell in facts.suppressed:
        by_metric.setdefault(_norm(cell.metric), []).append(cell)
    digit_labels = tuple(sorted({c.group for c in facts.suppressed if any(ch.isdigit() for ch in c.group)}
                                | set(facts.labels_with_digits), key=len, reverse=True))
    for unit in units:
        low = _norm(unit)
        tokens = set(TOKEN.findall(unit))
        for cid in tokens & facts.client_ids:
            findings.setdefault(("client_id", cid), Finding("client_id", file, f"{_mask(cid)} appears",
                                                              _excerpt(unit, cid)))
        for name, norm in names:
            if norm in low:
                findings.setdefault(("provider_name", name), Finding(
                    "provider_name", file, f"another provider's name {name!r} appears", _excerpt(unit, name)))
        for pid in {t.lower() for t in tokens} & facts.forbidden_ids:
            findings.setdefault(("provider_name", pid), Finding(
                "provider_name", file, f"another provider's id {pid!r} appears", _excerpt(unit, pid)))
        if by_metric:
            _check_suppressed(unit, low, by_metric, file, findings, digit_labels, facts)
    return list(findings.values())


@functools.lru_cache(maxsize=4096)
def _word(text: str) -> re.Pattern:
    return re.compile(r"(?<![\w-])" + re.escape(_norm(text)) + r"(?![\w-])")


def period_forms(period: str) -> tuple[str, ...]:
    """How a period is written in packets, lower case: "2026-03", "march 2026", "mar 2026";
    quarters "2026-q3", "q3 2026", "july–september 2026"."""
    from datetime import datetime

    if re.fullmatch(r"\d{4}-\d{2}", period):
        d = datetime.strptime(period, "%Y-%m")
        return (period, f"{d:%B %Y}".lower(), f"{d:%b %Y}".lower())
    q = re.fullmatch(r"(\d{4})-Q([1-4])", period)
    if q:
        y, n = q.group(1), int(q.group(2))
        first, last = datetime(int(y), 3 * n - 2, 1), datetime(int(y), 3 * n, 1)
        return (period.lower(), f"q{n} {y}", f"{first:%B}–{last:%B} {y}".lower(), f"{first:%b}–{last:%b} {y}".lower())
    return (period.lower(),)


MONTHS = "january|february|march|april|may|june|july|august|september|october|november|december"
PERIOD_TEXT = re.compile(r"\b\d{4}-(?:q[1-4]|\d{2})(?:-\d{2})?\b|\bq[1-4] \d{4}\b"
                         rf"|\b(?:{MONTHS}|jan|feb|mar|apr|jun|jul|aug|sep|oct|nov|dec)(?:–\w+)? \d{{4}}\b")


# The suppression rule itself ("fewer than 11 cases") is not a value.
RULE_TEXT = re.compile(r"(?:fewer|less) than \d+ cases|threshold of \d+|under \d+ cases")


def _check_suppressed(unit: str, low: str, by_metric: dict[str, list[SuppressedCell]], file: str,
                      findings: dict, labels_with_digits: tuple[str, ...], facts: PrivacyFacts) -> None:
    """A unit naming a suppressed cell (metric, group, peer, period) must not carry its numbers.

    Numbers are read after removing dates and labels that contain digits (age bands such as
    "18-24", ZIP codes, "within 12 months"), so a label is never mistaken for a value. A unit is
    about what it names: the periods it mentions (none: the packet's own month or quarter), the
    provider it names (none: the packet's own), the group it names (none: the overall value).
    """
    nums = None
    mentioned: set[str] = set()
    names_other = names_group = False
    named_dims: set[str] = set()
    for metric_norm, cells in by_metric.items():
        if metric_norm not in low:
            continue
        if nums is None:
            periods = PERIOD_TEXT.findall(low)
            mentioned = set(periods)
            clean = RULE_TEXT.sub(" ", PERIOD_TEXT.sub(" ", low))
            for label in labels_with_digits:
                clean = _word(label).sub(" ", clean)
            nums = _numbers(clean)
            names_other = any(_word(lab).search(low) for lab in facts.other_labels)
            names_group = any(_word(g).search(low) for g in facts.group_labels)
            named_dims = {_norm(d) for d in facts.dimension_labels if _norm(d) in low}
        if not nums:
            return
        for cell in cells:
            hit = nums & cell.numbers
            if not hit:
                continue
            if cell.group and not _word(cell.group).search(low):
                continue
            if cell.dimension and named_dims and _norm(cell.dimension) not in named_dims:
                continue  # the row names another breakdown (e.g. "Unknown" race, not gender)
            if cell.who and not _word(cell.who).search(low):
                continue
            if not cell.who and names_other:
                continue  # a row about another provider
            if not cell.group and names_group:
                continue  # a row about a group, not the overall value
            if mentioned:
                if not mentioned & set(period_forms(cell.period)):
                    continue
            elif not cell.current:
                continue
            key = ("suppressed_value", f"{cell.metric}|{cell.group}|{cell.who}|{cell.period}")
            where = " / ".join(x for x in (cell.metric, cell.group, cell.who, cell.period) if x)
            findings.setdefault(key, Finding(
                "suppressed_value", file,
                f"the suppressed cell {where} is shown with its true number(s) {sorted(hit)}", unit[:200]))


def _mask(secret: str) -> str:
    return secret[:2] + "…" + secret[-2:] if len(secret) > 5 else "…"


def _excerpt(unit: str, secret: str) -> str:
    return unit[:200].replace(secret, _mask(secret))


def check_files(files: Mapping[str, Path] | Iterable[Path], facts: PrivacyFacts) -> list[Finding]:
    """Audit every file of a packet; an empty list means the packet may be published."""
    paths = list(files.values()) if isinstance(files, Mapping) else list(files)
    findings = []
    for path in paths:
        findings += check_units(file_units(Path(path)), facts, Path(path).name)
    return findings


# -- facts from the store ----------------------------------------------------------------------------
@functools.lru_cache(maxsize=4)
def _client_ids(episodes_path: str, mtime: float) -> frozenset[str]:
    ids = pd.read_parquet(episodes_path, columns=["client_id"])["client_id"].dropna().astype(str)
    return frozenset(ids.unique().tolist())


def client_ids(store) -> frozenset[str]:
    """Every client id in the store (cached per process until episodes change)."""
    path = store.table_path("episodes")
    if not path.exists():
        return frozenset()
    return _client_ids(str(path), path.stat().st_mtime)


def printed_forms(value: float | None, fmt: str) -> set[str]:
    """The ways a number can be printed in a packet ("7", "43%", "42.9%", "0.43", "$1,200")."""
    if value is None or pd.isna(value):
        return set()
    v = float(value)
    out = {f"{v:.0f}" if v.is_integer() else f"{v:g}"}
    if fmt == "percent":
        out |= {f"{v * 100:.0f}%", f"{v * 100:.1f}%", f"{v:.2f}", f"{v:.3f}"}
    else:
        out |= {f"{v:.0f}", f"{v:.1f}"}
    return {s.replace(",", "") for s in out}


def facts_for(program, store, provider: str | None, period: str, truth: pd.DataFrame | None = None,
              equity_period: str = "") -> PrivacyFacts:
    """Build the facts for one provider's packet from the store and the program.

    Args:
        truth: the engine's unsuppressed numbers of the suppressed cells
            (``metrics.unsuppressed_cells``), computed once per run upstream; computed here when
            None (slow: it re-evaluates every metric).
        equity_period: the quarter the packet's equity section shows (its cells are "current").
    """
    others = [p for p in program.providers if p.id != provider]
    anonymized = program.peers.display == "anonymized"
    if provider and truth is None:
        from acm_helpers import metrics

        truth = metrics.unsuppressed_cells(program, store)
    cells = suppressed_truth(program, truth, provider, period, equity_period) if provider else []
    return PrivacyFacts(
        labels_with_digits=digit_labels(program, truth),
        other_labels=shown_labels(program, provider) if provider else (),
        group_labels=tuple(sorted(set(truth["group"].astype(str)) - {""})) if truth is not None and len(truth) else (),
        dimension_labels=tuple(d.label for d in program.dimensions.values()),
        provider=provider or "",
        client_ids=client_ids(store),
        forbidden_names=tuple(p.name for p in others) if anonymized else (),
        forbidden_ids=frozenset(p.id.lower() for p in others) if anonymized else frozenset(),
        suppressed=tuple(cells),
    )


def shown_labels(program, provider: str) -> tuple[str, ...]:
    """Other providers as this provider's packet names them (anonymous labels or names)."""
    from acm_helpers.privacy import peer_labels

    if program.peers.display == "anonymized":
        labels = list(peer_labels(program, provider).values())
    else:
        labels = [p.name for p in program.providers if p.id != provider]
    return (*labels, "All providers")


def digit_labels(program, truth: pd.DataFrame | None) -> tuple[str, ...]:
    """Labels that contain digits (age bands, ZIP codes, "within 12 months"): never values."""
    from acm_helpers.metrics import band_labels

    labels = {lab for dim in program.dimensions.values() if dim.bins for lab in band_labels(dim.bins)}
    for m in program.metrics.values():
        labels |= {t for t in (m.label, m.numerator_label, m.denominator_label) if any(ch.isdigit() for ch in t)}
    if truth is not None and not truth.empty:
        labels |= {g for g in truth["group"].astype(str).unique() if any(ch.isdigit() for ch in g)}
    return tuple(sorted(labels))


def suppressed_truth(program, truth: pd.DataFrame, provider: str, period: str,
                     equity_period: str = "") -> list[SuppressedCell]:
    """The suppressed cells a provider's packet could show, each with its true numbers.

    Own cells: every month up to the period and the equity quarter; peers' cells: this month's
    overall values, named as the packet names that peer. A cell is "current" (rows need not name
    its period) only where the packet shows that kind of cell without a date: this month's
    overall values (tiles) and the equity quarter's groups (equity tables).
    """
    from acm_helpers.privacy import ALL, peer_labels

    if truth is None or truth.empty:
        return []
    labels = (peer_labels(program, provider) if program.peers.display == "anonymized"
              else {p.id: p.name for p in program.providers})
    labels[ALL] = "All providers"
    t = truth
    own = t[(t["provider_id"] == provider) & (((t["grain"] == "month") & (t["period"] <= period))
                                                | ((t["grain"] == "quarter") & (t["period"] == equity_period)))]
    peers = t[(t["provider_id"] != provider) & (t["grain"] == "month") & (t["period"] == period)
              & (t["dimension"] == "")]
    cells = []
    for rows, is_own in ((own, True), (peers, False)):
        for row in rows.itertuples(index=False):
            metric = program.metric(row.metric_id)
            nums = (printed_forms(row.numerator, "number") | printed_forms(row.denominator, "number")
                    | printed_forms(row.value, metric.format))
            cells.append(SuppressedCell(
                metric=metric.label, metric_id=row.metric_id, group=str(row.group or ""), numbers=frozenset(nums),
                dimension=program.dimension(row.dimension).label if row.dimension else "",
                period=str(row.period), who="" if is_own else labels.get(row.provider_id, row.provider_id),
                current=(row.grain == "month" and row.period == period and not row.dimension)
                or (row.grain == "quarter" and row.period == equity_period and bool(row.dimension))))
    return cells
