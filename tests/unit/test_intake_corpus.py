"""The bad-input corpus of issue 13: every kind, its expected outcome, and a property test.

Each case writes one small submission and states what intake must do with it: refuse it with
a message (logged, raw bytes kept), quarantine exactly these rows for these reasons, or load
it with these values unchanged. Whatever the outcome, the file's bytes are kept and, when it
loads, accepted plus quarantined rows add up to every data row.

The property test (hypothesis) feeds random bytes and random mutations of a good file to
intake and asserts the same promise: loaded or an ``IntakeError``, never another exception
and never intake's own "bug" error.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from acm_helpers.cli import app
from acm_helpers.core.errors import IntakeError
from acm_helpers.intake import intake
from acm_helpers.store import quality as store_quality
from acm_helpers.store.store import Store, sha256_file

ROOT = Path(__file__).resolve().parents[2]
PROGRAM = str(ROOT / "parameters" / "program.yaml")
RECEIVED = "2026-11-10"
HEADER = [
    "episode_id",
    "client_id",
    "provider_id",
    "program",
    "enrollment_date",
    "referral_date",
    "exit_date",
    "exit_destination",
    "race_ethnicity",
    "gender",
    "birth_date",
    "age_at_entry",
    "zip",
    "cost",
]
WOMAN = "Woman (Girl, if child)"


def row(i: int, **over: str) -> list[str]:
    """A valid harbor row for October 2026 (episode E<i>)."""
    base = {
        "episode_id": f"E{i}",
        "client_id": f"C{i}",
        "provider_id": "harbor",
        "program": "rapid_rehousing",
        "enrollment_date": "2026-09-03",
        "referral_date": "2026-08-20",
        "exit_date": "2026-10-05",
        "exit_destination": "410",
        "race_ethnicity": "White",
        "gender": WOMAN,
        "birth_date": "1990-05-01",
        "age_at_entry": "36",
        "zip": "98101",
        "cost": "1200.50",
    }
    base.update(over)
    return [base[c] for c in HEADER]


def text(rows: list[list[str]], delimiter: str = ",", header: list[str] = HEADER) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter, lineterminator="\n")
    writer.writerows([header, *rows])
    return buf.getvalue()


def good(n: int = 4, delimiter: str = ",", **over: dict[int, dict[str, str]]) -> str:
    """``n`` good rows; ``over`` maps a row number (as ``r<i>``) to changed fields."""
    return text([row(i, **over.get(f"r{i}", {})) for i in range(1, n + 1)], delimiter)


def xlsx_bytes(sheets: dict[str, list[list]], formulas: bool = False) -> bytes:
    """A workbook written by xlsxwriter; with ``formulas`` the cost cells are formulas whose
    cached value Excel would show (``=1000+200.5`` cached as 1200.5)."""
    import xlsxwriter

    buf = io.BytesIO()
    book = xlsxwriter.Workbook(buf, {"in_memory": True})
    for name, rows in sheets.items():
        sheet = book.add_worksheet(name)
        for r, values in enumerate(rows):
            for c, value in enumerate(values):
                if formulas and r > 0 and rows[0][c] == "cost":
                    sheet.write_formula(r, c, f"=1000+{float(value) - 1000}", None, float(value))
                else:
                    sheet.write(r, c, value)
    book.close()
    return buf.getvalue()


def zip_bytes(members: dict[str, bytes]) -> bytes:
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504
ENCRYPTED = OLE2 + "EncryptionInfo".encode("utf-16-le") + b"\x00" * 2000


@dataclass(frozen=True)
class Case:
    """One corpus entry: the file, how it is declared, and the outcome intake must give."""

    name: str
    data: bytes
    suffix: str = ".csv"
    encoding: str | None = None  # declared by the user
    decimal: str | None = None  # declared for harbor in the program file
    rejected: str | None = None  # regex the IntakeError must match
    quarantined: list[tuple[int, str, str]] = field(default_factory=list)  # row, field, reason
    values: dict[tuple[str, str], object] = field(default_factory=dict)  # (episode, field) -> value
    loaded: int | None = None  # rows accepted


def _late_nul_file() -> bytes:
    rows = [row(i) for i in range(1, 9001)]  # > 1 MiB, so the NUL is past the sniffed sample
    rows[0][3] = "rapid\x00rehousing"
    rows[8999][3] = "rapid\x00rehousing"
    return text(rows).encode()


def _short_row() -> bytes:
    lines = good(3).splitlines(keepends=True)
    cut = ",".join(row(2)[:5]) + "\n"  # cut after enrollment_date: a leaver would become a stayer
    return "".join([lines[0], lines[1], cut, lines[3]]).encode()


def _openpyxl_formula_book() -> bytes:
    """openpyxl writes formulas without cached values (nothing recalculated the workbook)."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "episodes"
    sheet.append(HEADER)
    for i in (1, 2, 3):
        values = row(i)
        values[HEADER.index("cost")] = "=1000+200.5" if i == 2 else 1200.5
        sheet.append(values)
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


SEMI_COMMA = good(3, ";", r1={"cost": "28220,76"}, r2={"cost": "1.200,50"}, r3={"cost": "0,5"})
ZOE = good(3, r2={"program": "Zoë"})
HEADER_TWICE = text([row(1) + ["98102"], row(2) + ["98103"]], header=HEADER + ["zip"])

CASES = [
    # -- silent corruption (numbers) -----------------------------------------------------------
    Case(
        "decimal-comma-declared",
        SEMI_COMMA.encode(),
        decimal=",",
        values={("E1", "cost"): 28220.76, ("E2", "cost"): 1200.50, ("E3", "cost"): 0.5},
        loaded=3,
    ),
    Case(
        "decimal-comma-detected",
        SEMI_COMMA.encode(),
        values={("E1", "cost"): 28220.76, ("E2", "cost"): 1200.50},
        loaded=3,
    ),
    Case(
        "decimal-ambiguous-undeclared",
        good(3, r1={"cost": ""}, r2={"cost": "1,234"}, r3={"cost": ""}).encode(),
        quarantined=[(2, "cost", "ambiguous number")],
        loaded=2,
    ),
    Case(
        "decimal-ambiguous-declared-comma",
        good(2, ";", r1={"cost": "1,234"}, r2={"cost": ""}).encode(),
        decimal=",",
        values={("E1", "cost"): 1.234},
        loaded=2,
    ),
    Case(
        "decimal-ambiguous-declared-point",
        good(2, r1={"cost": "1,234"}, r2={"cost": ""}).encode(),
        decimal=".",
        values={("E1", "cost"): 1234.0},
        loaded=2,
    ),
    Case(
        "decimal-mixed-in-one-file",
        good(4, ";", r4={"cost": "28220,76"}).encode(),
        quarantined=[(4, "cost", "written with ',' as the decimal separator")],
        values={("E1", "cost"): 1200.50},
        loaded=3,
    ),
    Case(
        "decimal-comma-against-declared-point",
        SEMI_COMMA.encode(),
        decimal=".",
        quarantined=[(i, "cost", "written with ','") for i in (1, 2, 3)],
        rejected="none of the 3 rows could be loaded",
    ),
    Case(
        "malformed-grouping",
        good(3, r2={"cost": "1,2,3"}, r3={"cost": "1.2.3"}).encode(),
        quarantined=[(2, "cost", "not a number"), (3, "cost", "not a number")],
        loaded=1,
    ),
    Case(
        "non-finite-numbers",
        text(
            [row(1)]
            + [
                row(i, cost=v)
                for i, v in enumerate(["inf", "Infinity", "1e400", "nan", "-inf"], start=2)
            ]
            + [row(7, age_at_entry="1e400")]
        ).encode(),
        quarantined=[(i, "cost", "not a finite number") for i in range(2, 7)]
        + [(7, "age_at_entry", "not a finite number")],
        loaded=1,
    ),
    # -- silent corruption (text) --------------------------------------------------------------
    Case(
        "utf8-accents-load-unchanged",
        ZOE.encode(),
        values={("E2", "program"): "Zoë"},
        loaded=3,
    ),
    Case(
        "utf8-one-invalid-byte",
        ZOE.encode().replace(b"E3,C3", b"E3,C\xff3"),
        rejected=r"byte \d+ \(0xff, on line 4\) is not valid utf-8 text\. The rest of the text "
        r"is UTF-8, so this byte is damage",
    ),
    Case(
        "cp1252-undeclared",
        ZOE.encode("cp1252"),
        rejected=r"\(0xeb, on line 3\) is not valid utf-8 .*it may be cp1252.*--encoding cp1252",
    ),
    Case(
        "cp1252-declared",
        ZOE.encode("cp1252"),
        encoding="cp1252",
        values={("E2", "program"): "Zoë"},
        loaded=3,
    ),
    Case(
        "declared-encoding-does-not-fit",
        ZOE.encode("cp1252").replace(b"E3,C3", b"E3,C\x813"),
        encoding="cp1252",
        rejected=r"\(0x81, on line 4\) is not valid cp1252 text\. The declared encoding cp1252",
    ),
    Case(
        "short-row",
        _short_row(),
        quarantined=[(2, "", "row has 5 fields but the header has 14")],
        loaded=2,
    ),
    Case(
        "partial-dates",
        good(3, r2={"enrollment_date": "2026-09"}, r3={"birth_date": "2025"}).encode(),
        quarantined=[
            (2, "enrollment_date", "partial date"),
            (3, "birth_date", "partial date"),
        ],
        loaded=1,
    ),
    Case(
        "implausible-dates",
        good(3, r2={"birth_date": "1850-03-01"}, r3={"referral_date": "0001-01-01"}).encode(),
        quarantined=[
            (2, "birth_date", "implausible date (before 1900-01-01"),
            (3, "referral_date", "implausible date"),
        ],
        loaded=1,
    ),
    Case(
        "field-over-the-length-limit",
        good(2, r2={"zip": "9" * 10_001}).encode(),
        quarantined=[(2, "zip", "value is 10,001 characters long, over the limit of 10,000")],
        loaded=1,
    ),
    Case(
        "nul-byte-early-and-after-1-mib",
        _late_nul_file(),
        quarantined=[(1, "program", "contains a NUL byte"), (9000, "program", "NUL byte")],
        loaded=8998,
    ),
    Case(
        "xlsx-formulas-read-as-cached-values",
        xlsx_bytes({"episodes": [HEADER, row(1), row(2, cost="310.25")]}, formulas=True),
        suffix=".xlsx",
        values={("E1", "cost"): 1200.5, ("E2", "cost"): 310.25},
        loaded=2,
    ),
    Case(
        "xlsx-formula-without-a-saved-value",
        _openpyxl_formula_book(),
        suffix=".xlsx",
        quarantined=[(2, "cost", "a formula with no saved value")],
        values={("E1", "cost"): 1200.5},
        loaded=2,
    ),
    Case(
        "xlsx-number-cells-are-not-ambiguous",
        xlsx_bytes({"episodes": [HEADER, row(1, cost=1.234), row(2, cost="1,234")]}),
        suffix=".xlsx",
        # the number cell shows '.' as the decimal separator, so the text "1,234" is grouped
        values={("E1", "cost"): 1.234, ("E2", "cost"): 1234.0},
        loaded=2,
    ),
    # -- crashes -------------------------------------------------------------------------------
    Case(
        "iso-timestamps-with-offset-or-z",
        good(
            2,
            r1={"enrollment_date": "2026-09-03T10:00:00+05:00", "exit_date": "2026-10-05T23:30Z"},
            r2={"enrollment_date": "2026-09-03T22:15:00-0800"},
        ).encode(),
        values={
            ("E1", "enrollment_date"): pd.Timestamp("2026-09-03"),
            ("E1", "exit_date"): pd.Timestamp("2026-10-05"),
            ("E2", "enrollment_date"): pd.Timestamp("2026-09-03"),
        },
        loaded=2,
    ),
    Case(
        "excel-sep-line-comma",
        ("sep=,\n" + good(3)).encode(),
        values={("E3", "cost"): 1200.50},
        loaded=3,
    ),
    Case(
        "excel-sep-line-semicolon-with-bom",
        ("sep=;\r\n" + good(3, ";").replace("\n", "\r\n")).encode("utf-8-sig"),
        values={("E1", "zip"): "98101"},
        loaded=3,
    ),
    # -- misleading messages -------------------------------------------------------------------
    Case(
        "utf16-without-bom",
        ZOE.encode("utf-16-le"),
        rejected=r"UTF-16 \(LE\) without a byte-order mark.*--encoding utf-16-le",
    ),
    Case(
        "utf16-without-bom-declared",
        ZOE.encode("utf-16-le"),
        encoding="utf-16-le",
        values={("E2", "program"): "Zoë"},
        loaded=3,
    ),
    Case(
        "zip-inside-a-csv",
        zip_bytes({"data.csv": good(2).encode()}),
        rejected=r"not a text file: it is a zip archive of CSV files",
    ),
    Case(
        "xlsx-renamed-csv",
        xlsx_bytes({"episodes": [HEADER, row(1)]}),
        rejected=r"it is an Excel workbook \(\.xlsx\) with another name; rename it to \.xlsx",
    ),
    Case(
        "encrypted-xlsx",
        ENCRYPTED,
        suffix=".xlsx",
        rejected=r"password-protected \(encrypted\) Excel workbook",
    ),
    Case(
        "xls-renamed-xlsx",
        OLE2 + b"\x00" * 2000,
        suffix=".xlsx",
        rejected=r"Excel 97-2003 workbook \(\.xls\)",
    ),
    Case(
        "binary-content",
        b"\x01\x00\x00\x00\x02\x00\x00\x00" * 1000,
        rejected=r"not a text file: \d[\d,]* NUL bytes",
    ),
    Case(
        "sheet-name-any-case",
        xlsx_bytes({"Summary": [["total", 2]], " EPISODES ": [HEADER, row(1), row(2)]}),
        suffix=".xlsx",
        loaded=2,
    ),
    Case(
        "no-data-sheet-lists-the-sheets",
        xlsx_bytes({"Summary": [["total", 2]], "Notes": [["see email"]]}),
        suffix=".xlsx",
        rejected=r"Sheets in the workbook: 'Summary', 'Notes'\. Rename the data sheet",
    ),
    Case(
        "duplicated-header-fast-reader",
        HEADER_TWICE.encode(),
        rejected=r"column\(s\) zip appear more than once",
    ),
    Case(
        "duplicated-header-exact-reader",
        (HEADER_TWICE + "\n").encode(),  # a blank line sends the file to the exact reader
        rejected=r"column\(s\) zip appear more than once",
    ),
    Case(
        "duplicated-header-xlsx",
        xlsx_bytes({"episodes": [HEADER + ["zip"], row(1) + ["98102"]]}),
        suffix=".xlsx",
        rejected=r"column\(s\) zip appear more than once",
    ),
]


def _program(program, decimal: str | None):
    if decimal is None:
        return program
    providers = [
        p.model_copy(update={"decimal": decimal}) if p.id == "harbor" else p
        for p in program.providers
    ]
    return program.model_copy(update={"providers": providers})


def _run(case: Case, program, tmp_path: Path):
    store = Store(tmp_path / "store")
    path = tmp_path / "in" / "2026-10" / f"harbor{case.suffix}"
    path.parent.mkdir(parents=True)
    path.write_bytes(case.data)
    prog = _program(program, case.decimal)
    try:
        result = intake.intake_file(
            path, prog, store, received=RECEIVED, encoding=case.encoding, chunk_rows=4000
        )
    except IntakeError as exc:
        return store, path, None, exc
    return store, path, result, None


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name) for c in CASES])
def test_corpus(case: Case, program, tmp_path):
    store, path, result, error = _run(case, program, tmp_path)
    log = store.read_table("submissions")
    assert len(log) == 1  # every outcome is logged
    kept = store.root / log["raw_path"].iloc[0]
    assert kept.read_bytes() == path.read_bytes()  # and the bytes are kept, as they arrived
    if case.rejected:
        assert error is not None, f"expected a refusal, got {result}"
        assert intake.INTERNAL not in str(error)
        assert pd.Series([str(error)]).str.contains(case.rejected, regex=True).iloc[0], str(error)
        assert str(error).startswith(path.name)  # the message names the file
        assert log["status"].iloc[0] == "rejected" and log["reason"].iloc[0] == str(error)
    else:
        assert error is None, str(error)
        assert result.status == "loaded" and result.sha256 == sha256_file(path)
        assert result.rows_accepted + result.rows_rejected == result.rows_total
        assert result.rows_accepted == case.loaded
        eps = store.episodes().set_index("episode_id")
        assert len(eps) == case.loaded
        for (episode, fld), want in case.values.items():
            assert eps.loc[episode, fld] == want, (episode, fld, eps.loc[episode, fld])
    got = (
        store_quality.quarantine_rows(store)
        if store.has_table("quarantine")
        else pd.DataFrame(columns=["row", "field", "reason", "value"])
    )
    found = sorted(zip(got["row"].astype(int), got["field"], got["reason"], strict=True))
    assert len(found) == len(case.quarantined), found
    for (want_row, want_field, want_reason), (r, f, reason) in zip(
        sorted(case.quarantined), found, strict=True
    ):
        assert (r, f) == (want_row, want_field) and want_reason in reason, (r, f, reason)
    assert all(len(v) <= 260 for v in got["value"])  # quarantined values are shown capped


def test_long_field_quarantined_value_is_capped(program, tmp_path):
    """A 10 MiB field neither loads nor grows the quarantine table: the value is cut to 200
    characters with its full length."""
    case = Case("huge", good(2, r1={"program": "x" * (10 << 20)}).encode())
    store, _, result, error = _run(case, program, tmp_path)
    assert error is None and (result.rows_accepted, result.rows_rejected) == (1, 1)
    value = store_quality.quarantine_rows(store)["value"].iloc[0]
    assert value == "x" * 200 + "… (10,485,760 characters)"


def test_field_limit_is_a_program_setting(program, tmp_path):
    tight = program.model_copy(
        update={"intake": program.intake.model_copy(update={"max_field_chars": 30})}
    )
    store = Store(tmp_path / "store")
    path = tmp_path / "in" / "2026-10" / "harbor.csv"
    path.parent.mkdir(parents=True)
    path.write_text(good(2, r2={"zip": "98101-0000-0000-0000-0000-0000-0"}), encoding="utf-8")
    result = intake.intake_file(path, tight, store, received=RECEIVED)
    assert (result.rows_accepted, result.rows_rejected) == (1, 1)
    reason = store_quality.quarantine_rows(store)["reason"].iloc[0]
    assert reason.startswith("value is 32 characters long, over the limit of 30")


def test_declared_encoding_in_the_program_file(program, tmp_path):
    """A provider's ``encoding`` in the program file is used for its files, found from the
    file's (ASCII) provider_id; the demo's cascade provider declares latin-1 this way."""
    assert program.provider("cascade").encoding == "latin-1"
    store = Store(tmp_path / "store")
    path = tmp_path / "in" / "2026-10" / "cascade.csv"
    path.parent.mkdir(parents=True)
    rows = [row(i, provider_id="cascade", program="Résidence Zoë") for i in (1, 2)]
    path.write_bytes(text(rows, ";").encode("latin-1"))
    result = intake.intake_file(path, program, store, received=RECEIVED)
    assert result.rows_accepted == 2
    assert set(store.episodes()["program"]) == {"Résidence Zoë"}
    # the same provider sending UTF-8 later: valid UTF-8 is read as UTF-8, not garbled
    later = tmp_path / "in" / "2026-10" / "cascade_v2.csv"
    later.write_bytes(text(rows, ";").replace("Zoë", "Zoë bis").encode("utf-8"))
    intake.intake_file(later, program, store, received=RECEIVED)
    assert set(store.episodes()["program"]) == {"Résidence Zoë bis"}


# -- folders: refused with exit 1 ---------------------------------------------------------------
def _cli(*args: str):
    return CliRunner().invoke(app, ["intake", *args, "--program", PROGRAM, "--received", RECEIVED])


def test_folder_that_is_not_a_month_exits_1(tmp_path):
    (tmp_path / "subs" / "2026-13").mkdir(parents=True)
    (tmp_path / "subs" / "2026-13" / "harbor.csv").write_text(good(2), encoding="utf-8")
    res = _cli(str(tmp_path / "subs"), "--data-dir", str(tmp_path / "data"))
    assert res.exit_code == 1, res.output
    assert "its folder '2026-13' is not a month (YYYY-MM, month 01 to 12" in res.output
    log = Store(tmp_path / "data").read_table("submissions")
    assert log[["file", "status"]].values.tolist() == [["harbor.csv", "rejected"]]


def test_folder_with_no_readable_file_exits_1(tmp_path):
    month = tmp_path / "subs" / "2026-10"
    month.mkdir(parents=True)
    (month / "harbor.xls").write_bytes(OLE2)
    (month / "cascade.csv.gz").write_bytes(b"\x1f\x8b\x08\x00")
    res = _cli(str(tmp_path / "subs"), "--data-dir", str(tmp_path / "data"))
    assert res.exit_code == 1, res.output
    assert "cascade.csv.gz: unsupported file type .gz: it is compressed (gzip)" in res.output
    assert "harbor.xls: unsupported file type .xls: it is an Excel 97-2003 workbook" in res.output
    log = Store(tmp_path / "data").read_table("submissions")
    assert sorted(log["status"]) == ["rejected", "rejected"]
    assert all((tmp_path / "data" / p).is_file() for p in log["raw_path"])  # both kept


def test_notes_beside_the_month_folders_are_not_taken(program, tmp_path):
    """Only a month folder with no readable file has its other files refused; a README next
    to the month folders is not a submission, with or without a period."""
    subs = tmp_path / "subs"
    (subs / "2026-10").mkdir(parents=True)
    (subs / "2026-10" / "harbor.csv").write_text(good(2), encoding="utf-8")
    (subs / "2026-10" / "notes.pdf").write_bytes(b"%PDF-1.4")
    (subs / "README.md").write_text("notes", encoding="utf-8")
    for period in (None, "2026-10"):
        store = Store(tmp_path / f"store-{period}")
        got = intake.intake_files([subs], program, store, period=period, received=RECEIVED)
        assert [(r.file, r.status) for r in got] == [("harbor.csv", "loaded")]


def test_empty_folder_exits_1(tmp_path):
    (tmp_path / "subs" / "notes").mkdir(parents=True)
    (tmp_path / "subs" / "notes" / "readme.csv").write_text("x\n", encoding="utf-8")
    res = _cli(str(tmp_path / "subs"), "--data-dir", str(tmp_path / "data"))
    assert res.exit_code == 1, res.output
    assert "no submission to take (found: notes/readme.csv)" in res.output


def test_encoding_option_on_the_command_line(tmp_path):
    month = tmp_path / "subs" / "2026-10"
    month.mkdir(parents=True)
    (month / "harbor.csv").write_bytes(ZOE.encode("cp1252"))
    data = str(tmp_path / "data")
    assert _cli(str(month), "--data-dir", data).exit_code == 1
    res = _cli(str(month), "--data-dir", data, "--encoding", "cp1252")
    assert res.exit_code == 0, res.output
    assert "Zoë" in set(Store(tmp_path / "data").episodes()["program"])


# -- the property: loaded or IntakeError, nothing lost -----------------------------------------
GOOD = good(6, r3={"program": "Zoë", "cost": "28,50"}, r5={"exit_date": ""}).encode()


def _mutate(data: bytes, edits: list[tuple[int, int, bytes]]) -> bytes:
    out = bytearray(data)
    for kind, at, chunk in edits:
        at = at % (len(out) + 1)
        if kind == 0:
            out[at:at] = chunk  # insert
        elif kind == 1:
            del out[at : at + len(chunk) + 1]  # delete
        else:
            out[at : at + len(chunk)] = chunk  # overwrite
    return bytes(out)


SPECIAL = st.sampled_from(
    [
        b",",
        b";",
        b'"',
        b"\n",
        b"\r",
        b"\x00",
        b"\xff",
        b"\xc3",
        b"inf",
        b"1,234",
        b"sep=;\n",
        b"2026-09",
        b"0001-01-01",
        b"\xef\xbb\xbf",
        b"PK\x03\x04",
        b"T10:00+05:00",
        b"E1",
    ]
)
TEXTISH = st.text(alphabet=',;"\n\r\t0123456789-.:+TZeë $', min_size=1, max_size=6).map(
    lambda t: t.encode()
)
EDITS = st.lists(
    st.tuples(
        st.integers(0, 2),
        st.integers(0, len(GOOD)),
        st.one_of(SPECIAL, TEXTISH, st.binary(min_size=1, max_size=4)),
    ),
    min_size=1,
    max_size=3,
)
VALUES = st.one_of(
    st.text(max_size=12),  # any unicode, NUL and quotes included
    st.sampled_from(["inf", "1e400", "nan", "1,234", "28220,76", "2026-09", "1850-01-01"]),
    st.sampled_from(["2025-04-03T10:00:00+05:00", "2026-10-05Z", "$1,200.00", " ", "NULL"]),
)
CELLS = st.lists(st.tuples(st.integers(1, 6), st.sampled_from(HEADER), VALUES), max_size=8)
XCELLS = st.lists(
    st.tuples(
        st.sampled_from(HEADER),
        st.one_of(
            VALUES,
            st.floats(),  # inf and nan included
            st.integers(-(10**20), 10**20),
            st.none(),
            st.dates(),
        ),
    ),
    max_size=6,
)


def _cells(edits: list[tuple[int, str, str]]) -> bytes:
    """Six rows with changed cells, every field quoted: a bare ``\r`` is a line break in CSV,
    so only quoting keeps the file at six records whatever the cells hold."""
    rows = [row(i) for i in range(1, 7)]
    for r, col, value in edits:
        rows[r - 1][HEADER.index(col)] = value
    buf = io.StringIO()
    csv.writer(buf, quoting=csv.QUOTE_ALL, lineterminator="\n").writerows([HEADER, *rows])
    return buf.getvalue().encode()


def _xcells(edits: list[tuple[str, object]]) -> bytes:
    second = list(row(2))
    for col, value in edits:
        second[HEADER.index(col)] = value
    return xlsx_bytes({"episodes": [HEADER, row(1), second]})


# (bytes, suffix, data rows when known independently of intake: well-formed files whose cells
# were changed keep their 6 CSV / 2 XLSX rows, whatever the cells now hold)
FILES = st.one_of(
    st.binary(max_size=400).map(lambda b: (b, ".csv", None)),
    EDITS.map(lambda e: (_mutate(GOOD, e), ".csv", None)),
    CELLS.map(lambda e: (_cells(e), ".csv", 6)),
    XCELLS.map(lambda e: (_xcells(e), ".xlsx", 2)),
    EDITS.map(lambda e: (_mutate(xlsx_bytes({"episodes": [HEADER, row(1)]}), e), ".xlsx", None)),
)


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,  # the same examples on every run, so CI is stable
    database=None,  # nothing written to .hypothesis/
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(FILES)
def test_any_bytes_load_or_are_refused_and_nothing_is_lost(program, tmp_path_factory, sample):
    data, suffix, rows = sample
    tmp = tmp_path_factory.mktemp("fuzz")
    store = Store(tmp / "store")
    path = tmp / "2026-10" / f"harbor{suffix}"
    path.parent.mkdir()
    path.write_bytes(data)
    try:
        result = intake.intake_file(path, program, store, received=RECEIVED)
    except IntakeError as exc:
        assert intake.INTERNAL not in str(exc), str(exc)
        log = store.read_table("submissions")
        assert log["status"].tolist() == ["rejected"]
        if len(data):
            assert (store.root / log["raw_path"].iloc[0]).read_bytes() == data
        return
    assert result.status == "loaded"
    assert result.rows_accepted + result.rows_rejected == result.rows_total
    if rows is not None:
        assert result.rows_total == rows  # every row of the file is accounted for
    raw = store.root / store.read_table("submissions")["raw_path"].iloc[0]
    assert raw.read_bytes() == data
    quarantined = (
        store_quality.quarantine_rows(store)["row"].nunique()
        if store.has_table("quarantine")
        else 0
    )
    assert quarantined == result.rows_rejected
    assert len(store.episodes()) == result.rows_accepted
