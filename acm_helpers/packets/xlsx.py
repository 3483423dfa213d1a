"""The XLSX appendix writer: aggregates only, suppressed rows marked, no formula ever.

Every text cell goes through ``schema.neutralize_formula`` and is written as a string, so no
provider-supplied text is evaluated by a spreadsheet; the workbook is written atomically.

What an analyst opens (issue 15): label headers (never ``ci_low`` or ``metric_id``), each value
cell in its metric's number format from :mod:`acm_helpers.core.text` (percent, days, dollars,
whole counts: the cell keeps the full number), months as dates shown "October 2026", a filter
on every header and the header row frozen. :func:`by_kind` splits a table of mixed metrics into
one sheet per kind, so no column mixes rates, days and dollars.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from acm_helpers.core import text
from acm_helpers.core.schema import neutralize_formula
from acm_helpers.store.store import atomic_write

SUPPRESSED = text.SUPPRESSED
# A sheet's "format" column (the metric's format, per row) is not written: it sets the number
# format of the row's value-like cells, so the spreadsheet shows the packet's digits
# (core.text) while each cell keeps the full number.
FORMAT_COLUMN = "format"
# A sheet's "kind" column (the metric's kind) is not written either: a count metric's cells are
# whole numbers (text.kind_of).
KIND_COLUMN = "kind"
HIDDEN_COLUMNS = frozenset({"suppressed", FORMAT_COLUMN, KIND_COLUMN})
MONTH_COLUMN = "month"
KINDS = (*text.FORMATS, "count")
# The sheet-name suffix of each kind's sheet (:func:`by_kind`).
KIND_SHEETS = {
    "percent": "rates",
    "days": "days",
    "currency": "dollars",
    "count": "counts",
    "number": "numbers",
}
VALUE_COLUMNS = frozenset(
    {
        "value",
        "95% interval from",
        "95% interval to",
        "target",
        "peer median",
        "difference vs reference",
    }
)
COUNT_COLUMNS = frozenset(
    {
        "numerator",
        "denominator",
        "cases",
        "rank among providers",
        "providers ranked",
        "rows",
        "rejected",
        "days late",
    }
)
SHARE_COLUMNS = frozenset({"share of people served", "population share", "mean completeness"})


def header(col: str) -> str:
    """A column's heading: the column as the builder named it, or a raw id's label
    (``ci_low`` -> "95% interval from", ``metric_id`` -> "Metric")."""
    return text.field_label(col) if "_" in col else col


def quarter_label(quarter: str) -> str:
    """A quarter in a sheet name, short enough to leave room for a kind: "2026-Q3" -> "Q3 2026"."""
    return f"{quarter[5:]} {quarter[:4]}" if re.fullmatch(r"\d{4}-Q[1-4]", quarter) else quarter


def by_kind(name: str, frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """One sheet per display kind of a table of mixed metrics: "Trend (rates)", "Trend
    (days)" ... (a single kind keeps the plain name).

    Why: a "value" column holding 0.65 for a rate, 41 for days and 13,733 for dollars cannot be
    filtered, summed or charted as one column; a sheet per kind can.
    """
    if frame.empty or FORMAT_COLUMN not in frame:
        return {name: frame}
    kinds = [
        text.kind_of(f, k)
        for f, k in zip(
            frame[FORMAT_COLUMN],
            frame[KIND_COLUMN] if KIND_COLUMN in frame else [""] * len(frame),
            strict=True,
        )
    ]
    order = [k for k in KINDS if k in set(kinds)]
    if len(order) == 1:
        return {name: frame}
    col = pd.Series(kinds, index=frame.index)
    return {f"{name} ({KIND_SHEETS[k]})": frame[col == k].reset_index(drop=True) for k in order}


def write_xlsx(
    path: str | Path,
    sheets: Mapping[str, pd.DataFrame],
    *,
    notes: list[tuple[str, str]] | None = None,
) -> Path:
    """Write an appendix workbook: a "Read me" sheet, then one sheet per aggregate table.

    Every text cell goes through ``schema.neutralize_formula`` and is written as a string, so no
    provider-supplied text is ever evaluated by a spreadsheet. A row with ``suppressed == True``
    has its numeric cells left blank and reads "suppressed", never a number.
    """
    import xlsxwriter

    def write(tmp: Path) -> None:
        wb = xlsxwriter.Workbook(
            str(tmp),
            {"strings_to_formulas": False, "strings_to_urls": False, "nan_inf_to_errors": False},
        )
        bold = wb.add_format({"bold": True, "bg_color": "#eef1f4", "bottom": 1})
        muted = wb.add_format({"italic": True, "font_color": "#6b7785"})
        wrap = wb.add_format({"text_wrap": True, "valign": "top"})
        ws = wb.add_worksheet("Read me")
        ws.set_column(0, 0, 28)
        ws.set_column(1, 1, 90)
        for r, (key, value) in enumerate(notes or []):
            ws.write_string(r, 0, str(neutralize_formula(key)), bold)
            ws.write_string(r, 1, str(neutralize_formula(value)), wrap)
        for name, frame in sheets.items():
            _write_sheet(wb, _sheet_name(name), frame, bold, muted)
        wb.close()

    return atomic_write(Path(path), write)


def _sheet_name(name: str) -> str:
    clean = re.sub(r"[\[\]:*?/\\]", " ", name).strip() or "Sheet"
    return clean[:31]


def _write_sheet(wb, name: str, frame: pd.DataFrame, bold, muted) -> None:
    ws = wb.add_worksheet(name)
    cols = [c for c in frame.columns if c not in HIDDEN_COLUMNS]
    row_formats = frame[FORMAT_COLUMN].tolist() if FORMAT_COLUMN in frame else [None] * len(frame)
    if KIND_COLUMN in frame:
        row_formats = [
            "count" if k == "count" else f
            for f, k in zip(row_formats, frame[KIND_COLUMN], strict=True)
        ]
    styles: dict[str, object] = {}

    def style(col: str, fmt: str | None, x: float):
        """The xlsxwriter format of a numeric cell (None: the spreadsheet's general format)."""
        kind = (
            "currency"  # a dollar metric's numerator is the dollars summed
            if col == "numerator" and fmt == "currency"
            else "count"
            if col in COUNT_COLUMNS
            else "percent"
            if col in SHARE_COLUMNS
            else fmt
            if col in VALUE_COLUMNS and fmt in KINDS
            else None
        )
        if kind is None:
            return None
        num_format = text.xlsx_cell_format(x, kind)  # the digits the packet shows
        if num_format not in styles:
            styles[num_format] = wb.add_format({"num_format": num_format})
        return styles[num_format]

    month_style = wb.add_format({"num_format": "mmmm yyyy", "align": "left"})

    # each column as a list of plain values, once: indexing a frame (and iterating its Arrow
    # string columns) per cell cost most of the write (issue 17)
    values = {col: frame[col].tolist() for col in cols}
    suppressed = (
        frame["suppressed"].fillna(False).astype(bool).tolist()
        if "suppressed" in frame
        else [False] * len(frame)
    )
    for c, col in enumerate(cols):
        ws.write_string(0, c, str(neutralize_formula(header(str(col)))), bold)
        width = max([len(str(col))] + [len(str(v)) for v in values[col][:200]]) + 2
        ws.set_column(c, c, min(max(width, 8), 60))
    ws.freeze_panes(1, 0)
    if not cols:
        return
    ws.autofilter(0, 0, max(len(frame), 1), len(cols) - 1)
    numeric = {
        col: pd.api.types.is_numeric_dtype(frame[col])
        and not pd.api.types.is_bool_dtype(frame[col])
        for col in cols
    }
    rows = zip(*(values[col] for col in cols), strict=True)
    for r, (row, is_suppressed, fmt) in enumerate(
        zip(rows, suppressed, row_formats, strict=True), start=1
    ):
        for c, (col, value) in enumerate(zip(cols, row, strict=True)):
            if is_suppressed and numeric[col]:
                ws.write_string(r, c, SUPPRESSED, muted)
            elif value is None or (not isinstance(value, str) and pd.isna(value)):
                ws.write_blank(r, c, None)
            elif numeric[col]:
                ws.write_number(r, c, float(value), style(col, fmt, float(value)))
            elif col == MONTH_COLUMN and _is_month(value):
                ws.write_datetime(r, c, _first_day(value), month_style)
            elif isinstance(value, bool):
                ws.write_string(r, c, "yes" if value else "no")
            else:
                ws.write_string(r, c, str(neutralize_formula(str(value))))


def _is_month(value: object) -> bool:
    return isinstance(value, str) and bool(re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", value))


def _first_day(month: str):
    """A YYYY-MM month as the date of its first day (the cell shows "October 2026")."""
    from datetime import datetime

    return datetime(int(month[:4]), int(month[5:7]), 1)
