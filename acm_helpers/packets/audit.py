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

4. a suppressed cell that subtraction recovers, across the output's tables and its XLSX sheets
   (a total minus its shown parts, where a share and its cases also give a total;
   :mod:`acm_helpers.packets.audit_diff`);
5. a count of 1 to threshold - 1 printed as a count, a numerator or cases, in a table cell or
   in a sentence ("4 exits to permanent housing / 12 leavers"): the one rule is
   :func:`acm_helpers.metrics.privacy.is_small_count`.

A finding fails the packet (``privacy_failed`` in the manifest) with the reason. Text units come
from :mod:`acm_helpers.packets.audit_text`; the facts from :mod:`acm_helpers.packets.audit_facts`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from acm_helpers.core.errors import PrivacyError  # noqa: F401 - re-exported
from acm_helpers.packets import audit_diff
from acm_helpers.packets.audit_diff import HiddenCell
from acm_helpers.packets.audit_text import (  # noqa: F401 - re-exported
    Table,
    file_tables,
    file_units,
    html_tables,
    html_units,
    pdf_units,
    read_file,
    xlsx_tables,
    xlsx_units,
)

TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-]*")
NUMBER = re.compile(r"(?<![\w.])\d[\d,]*(?:\.\d+)?%?")


@dataclass(frozen=True)
class SuppressedCell:
    """A cell the engine suppressed, with the true numbers that must not appear next to it."""

    metric: str  # metric label as printed (and id)
    group: str  # group label ("" for an overall value)
    numbers: frozenset[str]  # the true numerator, denominator and value in printed forms
    period: str = ""
    metric_id: str = ""
    who: str = (
        ""  # another provider's label as the packet shows it ("" = the packet's own provider)
    )
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
    labels_with_digits: tuple[
        str, ...
    ] = ()  # labels such as "18-24", ZIP codes, "within 12 months"
    other_labels: tuple[
        str, ...
    ] = ()  # other providers as the packet names them ("Peer A", "All providers")
    group_labels: tuple[str, ...] = ()  # every group label of every dimension
    dimension_labels: tuple[str, ...] = ()  # every breakdown's label
    # for the differencing check: the own provider as the output names it, every metric's
    # (label, kind), the suppression threshold and the hidden cells' true counts
    own_labels: tuple[str, ...] = ()
    metric_kinds: tuple[tuple[str, str], ...] = ()
    threshold: int = 11
    hidden: tuple[HiddenCell, ...] = ()
    undated_period: str = ""  # the period a table that names none is about ("term", a month)
    # what a count is printed in front of in sentences ("leavers", "exits to permanent housing")
    count_labels: tuple[str, ...] = ()
    # (breakdown label, group label) of every group with a population share (reference_shares)
    share_groups: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Finding:
    """One leak, with where it was found and a short excerpt (the secret itself is masked)."""

    kind: str  # client_id | provider_name | suppressed_value | small_count
    file: str
    detail: str
    excerpt: str = ""

    @property
    def message(self) -> str:
        """One sentence for the manifest and the CLI."""
        return f"{self.file}: {self.kind.replace('_', ' ')} {self.detail}"

    def as_dict(self) -> dict[str, str]:
        """JSON-able form for the manifest."""
        return {
            "kind": self.kind,
            "file": self.file,
            "detail": self.detail,
            "excerpt": self.excerpt,
        }


# -- checks ------------------------------------------------------------------------------------------
def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def _numbers(text: str) -> set[str]:
    return {m.replace(",", "") for m in NUMBER.findall(text)}


def check_units(units: Iterable[str], facts: PrivacyFacts, file: str) -> list[Finding]:
    """Check text units against the facts; one finding per distinct leak."""
    return Matcher(facts).check(units, file)


class Matcher:
    """The facts of one output, indexed once for every file of it (issue 17).

    Why an index: a packet has thousands of suppressed cells and a thousand text units; the
    suppressed cells are looked up by the numbers a unit carries (a dict of printed number to
    cells), and each label's regex runs only on a unit that contains the label's text, so a
    unit costs a few set and substring tests instead of a regex per cell. The findings are
    exactly those of checking every cell against every unit (``tests/unit/test_audit_matcher.py``
    compares the two).
    """

    def __init__(self, facts: PrivacyFacts) -> None:
        self.facts = facts
        self.names = [(n, _norm(n)) for n in facts.forbidden_names if n.strip()]
        by_metric: dict[str, list[SuppressedCell]] = {}
        for cell in facts.suppressed:
            by_metric.setdefault(_norm(cell.metric), []).append(cell)
        # per metric: its cells, and each printed number's cells (as positions, kept in order)
        forms = {p: frozenset(period_forms(p)) for p in {c.period for c in facts.suppressed}}
        self.by_metric = {
            metric: (cells, _by_number(cells), [forms[c.period] for c in cells])
            for metric, cells in by_metric.items()
        }
        digit_labels = sorted(
            {c.group for c in facts.suppressed if any(ch.isdigit() for ch in c.group)}
            | set(facts.labels_with_digits),
            key=len,
            reverse=True,
        )
        self.digit_labels = [(_norm(lab), _word(lab)) for lab in digit_labels]
        self.other_labels = [(_norm(lab), _word(lab)) for lab in facts.other_labels]
        self.group_labels = [(_norm(g), _word(g)) for g in facts.group_labels]
        self.dimensions = [_norm(d) for d in facts.dimension_labels]

    def check(self, units: Iterable[str], file: str) -> list[Finding]:
        """The findings of one file's text units."""
        facts = self.facts
        findings: dict[tuple[str, str], Finding] = {}
        for unit in units:
            low = _norm(unit)
            tokens = set(TOKEN.findall(unit))
            for cid in tokens & facts.client_ids:
                findings.setdefault(
                    ("client_id", cid),
                    Finding("client_id", file, f"{_mask(cid)} appears", _excerpt(unit, cid)),
                )
            for name, norm in self.names:
                if norm in low:
                    findings.setdefault(
                        ("provider_name", name),
                        Finding(
                            "provider_name",
                            file,
                            f"another provider's name {name!r} appears",
                            _excerpt(unit, name),
                        ),
                    )
            for pid in {t.lower() for t in tokens} & facts.forbidden_ids:
                findings.setdefault(
                    ("provider_name", pid),
                    Finding(
                        "provider_name",
                        file,
                        f"another provider's id {pid!r} appears",
                        _excerpt(unit, pid),
                    ),
                )
            if self.by_metric:
                self._check_suppressed(unit, low, file, findings)
        return list(findings.values())

    def _check_suppressed(self, unit: str, low: str, file: str, findings: dict) -> None:
        """A unit naming a suppressed cell (metric, group, peer, period) must not carry its
        numbers.

        Numbers are read after removing dates and labels that contain digits (age bands such as
        "18-24", ZIP codes, "within 12 months"), so a label is never mistaken for a value. A
        unit is about what it names: the periods it mentions (none: the packet's own month or
        quarter), the provider it names (none: the packet's own), the group it names (none: the
        overall value).
        """
        metrics = [m for m in self.by_metric if m in low]
        if not metrics:
            return
        unwindowed = WINDOW_TEXT.sub(" a window ", low)
        mentioned = set(PERIOD_TEXT.findall(unwindowed)) | (
            {"a window"} if unwindowed != low else set()
        )
        clean = RULE_TEXT.sub(" ", PERIOD_TEXT.sub(" ", unwindowed))
        for norm, pattern in self.digit_labels:
            if norm in clean:
                clean = pattern.sub(" ", clean)
        nums = _numbers(clean)
        if not nums:
            return
        names_other = _names_any(self.other_labels, low)
        names_group = _names_any(self.group_labels, low)
        named_dims = {d for d in self.dimensions if d in low}
        named: dict[str, bool] = {}  # label -> whether the unit names it (a word of its own)

        def names(label: str) -> bool:
            if label not in named:
                named[label] = _norm(label) in low and bool(_word(label).search(low))
            return named[label]

        for metric in metrics:
            cells, by_number, forms = self.by_metric[metric]
            for i in sorted({i for n in nums for i in by_number.get(n, ())}):
                cell = cells[i]
                if cell.group and not names(cell.group):
                    continue
                if cell.dimension and named_dims and _norm(cell.dimension) not in named_dims:
                    continue  # the row names another breakdown (e.g. "Unknown" race, not gender)
                if cell.who and not names(cell.who):
                    continue
                if not cell.who and names_other:
                    continue  # a row about another provider
                if not cell.group and names_group:
                    continue  # a row about a group, not the overall value
                if mentioned:
                    if not mentioned & forms[i]:
                        continue
                elif not cell.current:
                    continue
                key = ("suppressed_value", f"{cell.metric}|{cell.group}|{cell.who}|{cell.period}")
                where = " / ".join(x for x in (cell.metric, cell.group, cell.who, cell.period) if x)
                findings.setdefault(
                    key,
                    Finding(
                        "suppressed_value",
                        file,
                        # the manifest and index are read by staff: name the cell, never its numbers
                        f"the suppressed cell {where} is shown with its true number(s)",
                        NUMBER.sub("#", unit[:200]),
                    ),
                )


def _by_number(cells: list[SuppressedCell]) -> dict[str, list[int]]:
    """Each printed number of the cells, to the positions of the cells that carry it."""
    out: dict[str, list[int]] = {}
    for i, cell in enumerate(cells):
        for n in cell.numbers:
            out.setdefault(n, []).append(i)
    return out


def _names_any(labels: list[tuple[str, re.Pattern]], low: str) -> bool:
    """Whether the unit names any of the labels as a word (the substring test first: cheap)."""
    return any(norm in low and pattern.search(low) for norm, pattern in labels)


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
        return (
            period.lower(),
            f"q{n} {y}",
            f"{first:%B}–{last:%B} {y}".lower(),
            f"{first:%b}–{last:%b} {y}".lower(),
        )
    return (period.lower(),)


MONTHS = "january|february|march|april|may|june|july|august|september|october|november|december"
PERIOD_TEXT = re.compile(
    r"\b\d{4}-(?:q[1-4]|\d{2})(?:-\d{2})?\b|\bq[1-4] \d{4}\b"
    rf"|\b(?:{MONTHS}|jan|feb|mar|apr|jun|jul|aug|sep|oct|nov|dec)(?:–\w+)? \d{{4}}\b"
)


# The suppression rule itself ("fewer than 11 cases") is not a value.
RULE_TEXT = re.compile(r"(?:fewer|less) than \d+ cases|threshold of \d+|under \d+ cases")
# A window ending in a month ("in the 12 months to Oct 2026") is about the window, not the month.
WINDOW_TEXT = re.compile(
    rf"\b\d+ months (?:to|up to|ending|ending in|through) (?:{MONTHS}|jan|feb|mar|apr|jun|jul|aug|sep|oct|nov|dec)\.? \d{{4}}\b"
)


def _mask(secret: str) -> str:
    return secret[:2] + "…" + secret[-2:] if len(secret) > 5 else "…"


def _excerpt(unit: str, secret: str) -> str:
    return unit[:200].replace(secret, _mask(secret))


def _vocabulary(facts: PrivacyFacts) -> tuple[audit_diff.Vocabulary, dict[str, str]]:
    """The labels the output uses (lower case) and their printed forms, from the facts."""
    labels: dict[str, str] = {}
    for text in (
        *(m for m, _ in facts.metric_kinds),
        *facts.dimension_labels,
        *facts.group_labels,
        *facts.other_labels,
        *facts.own_labels,
    ):
        labels.setdefault(_norm(text), text)
    vocab = audit_diff.Vocabulary(
        metrics={_norm(m): k for m, k in facts.metric_kinds},
        dimensions=frozenset(_norm(d) for d in facts.dimension_labels),
        groups=frozenset(_norm(g) for g in (*facts.group_labels, *facts.labels_with_digits)),
        own=frozenset(_norm(o) for o in facts.own_labels),
        peers=frozenset(_norm(o) for o in facts.other_labels) - audit_diff.ALL_WORDS,
        undated_period=facts.undated_period,
        share_groups=frozenset((_norm(d), _norm(g)) for d, g in facts.share_groups),
    )
    return vocab, labels


def _published(tables: Iterable[Table], vocab: audit_diff.Vocabulary) -> list:
    return [c for i, t in enumerate(tables) for c in audit_diff.table_cells(t, vocab, i)]


def check_differencing(tables: Iterable[Table], facts: PrivacyFacts) -> list[Finding]:
    """Differencing check over all the tables of one output (HTML tables and XLSX sheets
    together): no suppressed cell may be recovered, or narrowed under the threshold, by
    subtracting shown numbers from a shown total (or from the total a share and its cases give).
    One finding per leak, naming the cell(s)."""
    vocab, labels = _vocabulary(facts)
    tables = list(tables)
    cells = _published(tables, vocab)
    leaks = audit_diff.check_cells(cells, facts.hidden, facts.threshold, labels)
    files = sorted({t.file for t in tables})
    return [
        Finding(
            "suppressed_value",
            " + ".join(files),
            f"the suppressed cell{'s' if len(leak.cells) > 1 else ''} "
            f"{'; '.join(leak.cells)} can be worked out by subtraction: {leak.how}",
        )
        for leak in leaks
    ]


def check_small_counts(tables: Iterable[Table], facts: PrivacyFacts) -> list[Finding]:
    """Counts of 1 to threshold - 1 printed in a table (a count, a rate's numerator, cases)."""
    vocab, labels = _vocabulary(facts)
    findings: dict[tuple, Finding] = {}
    for cell, role in audit_diff.small_counts(
        _published(tables, vocab), vocab.metrics, facts.threshold
    ):
        what = audit_diff.describe(cell, labels)
        findings.setdefault(
            (cell.where, what, role),
            Finding(
                "small_count",
                cell.where.split(" (")[0],
                f"{what}: its {role} is a count of fewer than {facts.threshold}, printed "
                f"({cell.where})",
            ),
        )
    return list(findings.values())


def check_small_count_text(units: Iterable[str], facts: PrivacyFacts, file: str) -> list[Finding]:
    """Counts of 1 to threshold - 1 printed in front of a count's label in a sentence
    ("4 exits to permanent housing / 12 leavers = 33%")."""
    from acm_helpers.metrics.privacy import is_small_count

    labels = sorted({_norm(x) for x in facts.count_labels if x.strip()}, key=len, reverse=True)
    if not labels:
        return []
    pattern = re.compile(
        r"(?<![\w.,$/-])(\d[\d,]*)\s+(" + "|".join(re.escape(x) for x in labels) + r")(?![\w-])"
    )
    findings: dict[tuple, Finding] = {}
    for unit in units:
        for m in pattern.finditer(_norm(unit)):
            if is_small_count(float(m.group(1).replace(",", "")), facts.threshold)[0]:
                findings.setdefault(
                    (file, m.group(2)),
                    Finding(
                        "small_count",
                        file,
                        f"a count of fewer than {facts.threshold} {m.group(2)} is printed",
                        NUMBER.sub("#", unit[:200]),
                    ),
                )
    return list(findings.values())


def check_files(files: Mapping[str, Path] | Iterable[Path], facts: PrivacyFacts) -> list[Finding]:
    """Audit every file of a packet; an empty list means the packet may be published.

    Each file's text units are checked on their own (leaks and small counts in sentences); the
    differencing and small-count checks read the tables of all the files together (a total in
    the HTML and its parts in the XLSX count)."""
    paths = [Path(p) for p in (files.values() if isinstance(files, Mapping) else files)]
    findings = []
    tables = []
    matcher = Matcher(facts)
    for path in paths:
        units, file_tabs = read_file(path)  # each file parsed once for both readings
        findings += matcher.check(units, path.name)
        findings += check_small_count_text(units, facts, path.name)
        tables += file_tabs
    findings += check_differencing(tables, facts)
    findings += check_small_counts(tables, facts)
    return findings
