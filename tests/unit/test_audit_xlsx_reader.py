"""The audit reads workbooks with calamine (acm_helpers.packets.audit_text._read_xlsx): the same
units and tables openpyxl's values give, on a workbook written as the appendix is (xlsxwriter)."""

from __future__ import annotations

import datetime

import xlsxwriter
from openpyxl import load_workbook

from acm_helpers.packets import audit_text


def _openpyxl_reading(path):
    """What the audit read before: openpyxl's values, empty cells (and empty texts) left out."""
    wb = load_workbook(path, read_only=True, data_only=True)
    units, tables = [], []
    for ws in wb.worksheets:
        rows = [tuple(None if v == "" else v for v in r) for r in ws.iter_rows(values_only=True)]
        for row in rows:
            cells = [audit_text._cell_text(v) for v in row if v is not None]
            if cells:
                units.append(" | ".join(cells))
        texts = [tuple("" if v is None else audit_text._cell_text(v) for v in r) for r in rows]
        texts = [r for r in texts if any(r)]
        if len(texts) > 1:
            tables.append(audit_text.Table(path.name, ws.title, texts[0], tuple(texts[1:])))
    wb.close()
    return units, tables


def test_calamine_reads_what_openpyxl_reads(tmp_path):
    path = tmp_path / "appendix.xlsx"
    book = xlsxwriter.Workbook(str(path))
    month = book.add_format({"num_format": "mmm yyyy"})
    day = book.add_format({"num_format": "yyyy-mm-dd"})
    stamp = book.add_format({"num_format": "yyyy-mm-dd hh:mm"})
    values = book.add_worksheet("Values (rates)")
    values.write_row(0, 0, ["provider", "period", "value", "numerator", "flag", "ok"])
    values.write_row(1, 0, ["Harbor Light Housing", None, 0.4927536231884058, 68, "", True])
    values.write_datetime(1, 1, datetime.datetime(2026, 10, 1), month)
    values.write_row(2, 0, ["Cascade", None, 910759.3499999999, 3.0, "suppressed: fewer than 11"])
    values.write_datetime(2, 1, datetime.datetime(2026, 10, 15), day)
    values.write_row(4, 0, ["after a blank row", None, -1.5e-7, 12345678901])
    values.write_datetime(4, 1, datetime.datetime(2026, 11, 2, 8, 30), stamp)
    notes = book.add_worksheet("Read me")
    notes.write_column(0, 0, ["Program", "Period"])
    notes.write_column(0, 2, ["Homelessness (demo)", "October 2026"])
    book.add_worksheet("Empty")
    book.close()

    units, tables = audit_text._read_xlsx(path)

    assert (units, tables) == _openpyxl_reading(path)
    assert "Harbor Light Housing | 2026-10 | 0.4927536231884058 | 68 | True" in units
    assert "Cascade | 2026-10-15 | 910759.3499999999 | 3 | suppressed: fewer than 11" in units
    assert units[-3:] == [
        "after a blank row | 2026-11-02 08:30:00 | -1.5e-07 | 12345678901",
        "Program | Homelessness (demo)",
        "Period | October 2026",
    ]
    assert [t.name for t in tables] == ["Values (rates)", "Read me"]
    assert audit_text.xlsx_units(path) == units and audit_text.xlsx_tables(path) == tables
