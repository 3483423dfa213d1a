"""Every output a reader opens, scanned for the slips one formatter prevents (issue 15): no raw
id (``birth_date``, ``ci_low``, ``metric_id``), no number printed with more decimals than its
metric shows, no "1 rows" / "2 row", no YYYY-MM month in a packet's text.

Built in-process from the session demo store (no kernel): every provider's packet and the
system packet (their notebooks call these section functions, one per cell), the end-of-contract
report, the XLSX appendices (each numeric cell read as its number format displays it) and the
dashboard's CSV download. Charts are scanned as rendered SVG: titles, axis and legend labels,
and each mark's screen-reader description.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest

from acm_helpers.core.schema import EPISODE_COLUMNS
from acm_helpers.packets import appendices, dashboard, packet, system, xlsx

PERIOD = "2026-10"
PROVIDERS = ["harbor", "cascade", "rainier", "northgate", "elliott", "puget"]
PACKET_SECTIONS = [
    dashboard.header,
    dashboard.brief,
    dashboard.tiles,
    dashboard.what_changed,
    dashboard.trends,
    dashboard.sprints,
    dashboard.peers,
    dashboard.equity,
    dashboard.quality,
    dashboard.definitions,
    dashboard.footer,
]
SYSTEM_SECTIONS = [
    system.header,
    system.status,
    system.flags,
    system.comparisons,
    system.equity,
    system.quality,
    system.triage,
    system.footer,
]

pytestmark = pytest.mark.slow

# -- what a reader sees ---------------------------------------------------------------------------


class _Visible(HTMLParser):
    """Text nodes (SVG <text> included) and screen-reader labels, one unit per block."""

    BLOCKS = {"p", "li", "tr", "h1", "h2", "h3", "h4", "div", "text", "caption", "span", "td", "th"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.units: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("style", "script"):
            self._skip += 1
        for name, value in attrs:
            if name in ("aria-label", "title", "alt") and value:
                self.units.append(value)

    def handle_endtag(self, tag):
        if tag in ("style", "script"):
            self._skip = max(0, self._skip - 1)

    def handle_data(self, data):
        if not self._skip and data.strip():
            self.units.append(" ".join(data.split()))


def html_text(html: str) -> list[str]:
    parser = _Visible()
    parser.feed(html)
    parser.close()
    return parser.units


def shown(value, number_format: str) -> str:
    """A cell as a spreadsheet displays it under its number format (the formats
    :mod:`acm_helpers.core.text` writes; anything else as General would show it)."""
    if isinstance(value, datetime):
        return value.strftime("%B %Y") if number_format == "mmmm yyyy" else value.isoformat()
    if not isinstance(value, int | float) or isinstance(value, bool):
        return str(value)
    known = {
        "0.0%": lambda v: f"{v * 100:.1f}%",
        "0%": lambda v: f"{v * 100:.0f}%",
        "#,##0.0": lambda v: f"{v:,.1f}",
        "#,##0": lambda v: f"{v:,.0f}",
        '"$"#,##0': lambda v: f"${v:,.0f}",
    }
    if number_format in known:
        return known[number_format](value)
    return repr(value)  # General: the full stored number, as Excel would show it


def xlsx_text(path: Path) -> list[str]:
    from openpyxl import load_workbook

    wb = load_workbook(path)
    units = [ws.title for ws in wb.worksheets]
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            cells = [shown(c.value, c.number_format) for c in row if c.value is not None]
            if cells:
                units.append(" | ".join(cells))
    return units


# -- the slips ----------------------------------------------------------------------------------------
SNAKE = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")
# (a p-value is not a metric's value: "p = 0.025" keeps its digits)
LONG_DECIMALS = re.compile(r"(?<!p = )(?<!p < )(?<![\d.])\d+\.\d{3,}")
# two decimals on a value with its unit: only text.distinct writes them, beside the limit,
# target or median they would otherwise read the same as
TWO_DECIMALS = re.compile(r"\d\.\d{2}(?:%| days?\b)|\$[\d,]+\.\d")
DISTINCT_CONTEXT = re.compile(r"control limit|target|median", re.I)
NOUNS = r"rows?|clients?|days?|cases?|leavers?|providers?|months?|items?|files?|records?|groups?"
ONE_PLURAL = re.compile(rf"(?<![\d.,]) ?\b1 ({NOUNS.replace('?', '')}s)\b")
MANY_SINGULAR = re.compile(r"\b(?:0|[2-9]|[1-9]\d+) (row|client|leaver|record|file|item)\b(?!-)")
ISO_MONTH = re.compile(r"\b\d{4}-(?:0[1-9]|1[0-2])\b(?!-\d)")


def raw_ids(program) -> set[str]:
    """Every id the program and the canonical record declare that is not also an English word
    (those with an underscore): metric, dimension and field ids."""
    ids = set(program.metrics) | set(program.dimensions) | set(EPISODE_COLUMNS)
    ids |= {d.column for d in program.dimensions.values()}
    return {i for i in ids if "_" in i}


def slips(units: list[str], program, *, months: bool, decimals: bool = True) -> list[str]:
    """Each unit that shows a slip, with what it is (``decimals=False``: the caller checks
    decimals per column, as for a CSV's stored fractions)."""
    ids = raw_ids(program)
    out = []
    for u in units:
        words = set(SNAKE.findall(u))
        if words:
            out.append(f"raw id {sorted(words & ids) or sorted(words)}: {u[:160]}")
        if decimals and LONG_DECIMALS.search(u):
            out.append(f"long decimals: {u[:160]}")
        if TWO_DECIMALS.search(u) and not DISTINCT_CONTEXT.search(u):
            out.append(f"two decimals: {u[:160]}")
        if ONE_PLURAL.search(u) or MANY_SINGULAR.search(u):
            out.append(f"plural: {u[:160]}")
        if months and ISO_MONTH.search(u):
            out.append(f"YYYY-MM month: {u[:160]}")
    return out


# -- the outputs ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("provider", PROVIDERS)
def test_provider_packet_text(provider, demo_store, program, program_path):
    p = packet.load(program_path, demo_store.root, provider, PERIOD, "provider")
    html = "".join(section(p).body for section in PACKET_SECTIONS)
    units = html_text(html)
    assert any("Headline metrics" in u for u in units)  # the packet was built, not empty
    assert slips(units, program, months=True) == []


def test_system_packet_text(demo_store, program, program_path):
    s = system.load_system(program_path, demo_store.root, PERIOD)
    units = html_text("".join(section(s).body for section in SYSTEM_SECTIONS))
    assert any("Every provider at a glance" in u for u in units)
    assert slips(units, program, months=True) == []


@pytest.mark.parametrize("name", ["provider", "system"])
def test_xlsx_appendix_text(name, demo_store, program, program_path, tmp_path):
    params = {"program_path": program_path, "data_dir": demo_store.root, "period": PERIOD}
    if name == "provider":
        params["provider"] = "harbor"
    sheets, notes = appendices.appendix_builder(name)(program, demo_store, params)
    path = xlsx.write_xlsx(tmp_path / "appendix.xlsx", sheets, notes=notes)
    units = xlsx_text(path)
    # one sheet per metric kind: a rate sheet and a days sheet, never one mixed "value" column
    assert any(u.endswith("(rates)") for u in units) and any(u.endswith("(days)") for u in units)
    assert slips(units, program, months=True) == []


def test_dashboard_csv_text(program, demo_store):
    from acm_helpers.explorer import data as explorer

    data = explorer.load_data(program, demo_store)
    ok = explorer.allowed(data)
    sel = explorer.make_selection(
        ok, "harbor", "exits_to_permanent_housing", "2025-11", PERIOD, "race_ethnicity"
    )
    rows = list(csv.reader(io.StringIO(explorer.view_csv(data, sel))))
    head, body = rows[0], rows[1:]
    assert head == explorer.CSV_COLUMNS
    assert any("suppressed" in r for r in body)  # suppressed cells are present, marked
    # the CSV keeps YYYY-MM periods (sortable in any spreadsheet); everything else is held
    assert slips([" | ".join(r) for r in rows], program, months=False, decimals=False) == []
    # a rate is stored as a fraction: 3 decimals are one of a percent (core.text.CSV_DECIMALS)
    most = {"numerator": 0, "denominator": 0, "value": 3, "95% interval from": 3}
    most["95% interval to"] = 3
    for r in body:
        for col, cell in zip(head, r, strict=True):
            if col in most and cell not in ("", "suppressed"):
                assert len(cell.partition(".")[2]) <= most[col], (col, cell, r)


def test_contract_report_text(demo_store, program, program_path):
    from acm_helpers.packets import contract, contract_summary, contract_term, contract_trends

    rep = contract_term.open_report(program_path, demo_store.root, "harbor", "", "internal", "")
    parts = [
        contract.header(rep),
        contract_summary.summary(rep, "", ""),
        contract.performance(rep),
        contract_trends.trends(rep),
        contract_trends.disparities(rep),
        contract.action_items(rep),
        contract.roadmap_topics(rep),
        contract.sprints(rep),
        contract_trends.data_quality(rep),
    ]
    units = html_text("".join(b.body if hasattr(b, "body") else b.to_html() for b in parts))
    assert units
    assert slips(units, program, months=True) == []


def test_the_scan_sees_each_slip(program):
    """The scan itself, on units with one planted slip each (and their fixed forms)."""
    bad = [
        "Completeness of birth_date",
        "value: 0.341346153846",
        "7.04 days this month",
        "1 rows received",
        "12 row received",
        "Trend, 2026-10",
    ]
    assert [s.split(":")[0] for s in slips(bad, program, months=True)] == [
        "raw id ['birth_date']",
        "long decimals",
        "two decimals",
        "plural",
        "plural",
        "YYYY-MM month",
    ]
    good = [
        "Completeness of Date of birth",
        "value: 34.1%",
        "7 days is below the control limit of 7.04 days",
        "1 row received; 12 rows loaded",
        "Trend, October 2026",
        "Generated 2026-12-02 01:42 UTC",
        "rank 1 of 4 providers",
        "significant change, p = 0.025",
    ]
    assert slips(good, program, months=True) == []
