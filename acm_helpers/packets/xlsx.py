"""The XLSX appendix writer: aggregates only, suppressed rows marked, no formula ever.

Every text cell goes through ``schema.neutralize_formula`` and is written as a string, so no
provider-supplied text is evaluated by a spreadsheet; the workbook is written atomically.
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
    {"numerator", "denominator", "cases", "rank among providers", "providers ranked"}
)
SHARE_COLUMNS = frozenset({"share of people served", "population share"})


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
    cols = [c for c in frame.columns if c not in ("suppressed", FORMAT_COLUMN)]
    row_formats = frame[FORMAT_COLUMN].tolist() if FORMAT_COLUMN in frame else [None] * len(frame)
    styles: dict[str, object] = {}

    def style(col: str, fmt: str | None):
        """The xlsxwriter format of a numeric cell (None: the spreadsheet's general format)."""
        kind = (
            "count"
            if col in COUNT_COLUMNS
            else "percent"
            if col in SHARE_COLUMNS
            else fmt
            if col in VALUE_COLUMNS and fmt in text.FORMATS
            else None
        )
        if kind is None:
            return None
        if kind not in styles:
            styles[kind] = wb.add_format({"num_format": text.xlsx_format(kind)})
        return styles[kind]

    suppressed = (
        frame["suppressed"].fillna(False).astype(bool).tolist()
        if "suppressed" in frame
        else [False] * len(frame)
    )
    for c, col in enumerate(cols):
        ws.write_string(0, c, str(neutralize_formula(str(col))), bold)
        width = max([len(str(col))] + [len(str(v)) for v in frame[col].head(200).tolist()]) + 2
        ws.set_column(c, c, min(max(width, 8), 60))
    ws.freeze_panes(1, 0)
    numeric = {
        col: pd.api.types.is_numeric_dtype(frame[col])
        and not pd.api.types.is_bool_dtype(frame[col])
        for col in cols
    }
    for r, (row, is_suppressed, fmt) in enumerate(
        zip(frame[cols].itertuples(index=False), suppressed, row_formats, strict=True), start=1
    ):
        for c, (col, value) in enumerate(zip(cols, row, strict=True)):
            if is_suppressed and numeric[col]:
                ws.write_string(r, c, SUPPRESSED, muted)
            elif value is None or (not isinstance(value, str) and pd.isna(value)):
                ws.write_blank(r, c, None)
            elif numeric[col]:
                ws.write_number(r, c, float(value), style(col, fmt))
            elif isinstance(value, bool):
                ws.write_string(r, c, "yes" if value else "no")
            else:
                ws.write_string(r, c, str(neutralize_formula(str(value))))
