"""Publishing pieces: the offline check, the HTML export template and the XLSX appendix."""

from __future__ import annotations

import nbformat
import pandas as pd
import pytest
from openpyxl import load_workbook

from acm_helpers.core import errors, text
from acm_helpers.packets import render as report


@pytest.mark.parametrize(
    "tag",
    [
        pytest.param(
            '<script src="https://cdn.jsdelivr.net/npm/vega@5"></script>', id="cdn-script"
        ),
        pytest.param('<link rel="stylesheet" href="http://example.org/a.css">', id="remote-css"),
        pytest.param(
            '<script src="//cdnjs.cloudflare.com/require.js"></script>', id="protocol-relative"
        ),
        pytest.param("<style>@import url(https://fonts.example/x.css);</style>", id="css-import"),
        pytest.param('<img src="https://example.org/logo.png">', id="remote-image"),
    ],
)
def test_check_offline_refuses_network_assets(tag):
    with pytest.raises(errors.OfflineError, match="would fetch from the network"):
        report.check_offline(f"<html><head>{tag}</head></html>")


def test_check_offline_allows_inline_svg_and_local_links():
    page = (
        '<svg xmlns="http://www.w3.org/2000/svg"><a href="#x"></a></svg>'
        '<a href="harbor/packet.html">packet</a><a href="https://agency.example/policy">policy</a>'
    )
    report.check_offline(page)  # a namespace and an ordinary link fetch nothing


def test_export_hides_code_and_loads_no_script():
    nb = nbformat.v4.new_notebook()
    code = nbformat.v4.new_code_cell("secret_code_line = 1")
    code.outputs = [
        nbformat.v4.new_output("display_data", data={"text/html": "<p>Shown output</p>"}),
        nbformat.v4.new_output("stream", name="stderr", text="a warning\n"),
    ]
    nb.cells = [nbformat.v4.new_markdown_cell("## Narrative"), code]
    html = report.export_html(nb, title="T")
    assert "Shown output" in html and "Narrative" in html
    assert "secret_code_line" not in html and "a warning" not in html
    assert "<script" not in html and "require.js" not in html and "MathJax" not in html
    assert "acm-packet" in html  # the house stylesheet and body class


def test_exporter_warm_up_exports_once_and_leaves_packets_as_they_were():
    """warm_exporter exports a tiny notebook once per process (so the first packet does not
    pay nbconvert's first conversion); the packets exported after it are the same bytes."""
    chart = (
        '<svg xmlns="http://www.w3.org/2000/svg" width="20" height="10"><g class="mark-text">'
        '<text aria-label="value: 12">12</text></g></svg>'
    )
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("## Trends"),
        nbformat.v4.new_code_cell(
            "x", outputs=[nbformat.v4.new_output("display_data", data={"text/html": chart})]
        ),
    ]
    before = report.export_html(nb, title="Harbor Light Housing — October 2026")
    report._warmed.cache_clear()
    report.warm_exporter()
    report.warm_exporter()
    assert report._warmed.cache_info().misses == 1 and report._warmed.cache_info().hits == 1
    after = report.export_html(nb, title="Harbor Light Housing — October 2026")
    assert after == before
    assert "warm-up" not in after and "A <em>short</em> text" not in after


def test_xlsx_marks_suppressed_rows_and_neutralizes_formulas(tmp_path):
    frame = pd.DataFrame(
        {
            "group": ['=HYPERLINK("http://x","click")', "White", "+cmd"],
            "value": [0.5, None, 0.25],
            "cases": [20.0, 7.0, 40.0],
            "suppressed": [False, True, False],
        }
    )
    path = report.write_xlsx(
        tmp_path / "a.xlsx", {"Equity": frame}, notes=[("Provider", "@Harbor")]
    )
    wb = load_workbook(path)
    rows = list(wb["Equity"].iter_rows(values_only=True))
    assert rows[0] == ("group", "value", "cases")  # the suppressed flag itself is not a column
    assert rows[1] == ('\'=HYPERLINK("http://x","click")', 0.5, 20)
    assert rows[2] == ("White", "suppressed", "suppressed")  # no number for a suppressed row
    assert rows[3][0] == "'+cmd"
    assert wb["Read me"]["B1"].value == "'@Harbor"
    assert all(
        c.data_type != "f" for row in wb["Equity"].iter_rows() for c in row
    )  # no formulas at all
    assert not list(tmp_path.glob(".*tmp*"))  # written atomically: no temp file left


def test_xlsx_cells_keep_the_number_and_show_the_packets_digits(tmp_path):
    """A row's metric format sets its value cells' number format (core.text), not their value."""
    frame = pd.DataFrame(
        {
            "metric": ["Exits", "Length of stay", "Cost"],
            "value": [0.60549, 41.25, 13733.3],
            "95% interval from": [0.52, 35.0, 12000.0],
            "cases": [120.0, 80.0, 30.0],
            "format": ["percent", "days", "currency"],
            "suppressed": [False, False, False],
        }
    )
    path = report.write_xlsx(tmp_path / "f.xlsx", {"Key metrics": frame})
    ws = load_workbook(path)["Key metrics"]
    assert [c.value for c in ws[1]] == ["metric", "value", "95% interval from", "cases"]
    assert ws["B2"].value == 0.60549 and ws["B2"].number_format == text.xlsx_format("percent")
    assert ws["C2"].number_format == "0%"  # 52%, as the packet writes it (not "52.0%")
    assert ws.auto_filter.ref == "A1:D4" and ws.freeze_panes == "A2"
    assert ws["B3"].number_format == text.xlsx_format("days")
    assert ws["B4"].number_format == text.xlsx_format("currency")
    assert {ws[f"D{r}"].number_format for r in (2, 3, 4)} == {text.xlsx_format("count")}
    assert ws["A2"].number_format == "General"
