"""Intake of provider submissions: one test per bad-input case of issue 2, plus the happy paths.

Every test uses a tmp_path store and small inline files written here; expected values are
counted by hand from the rows below.
"""

from __future__ import annotations

import csv
import os
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from acm_helpers.core.errors import IntakeError
from acm_helpers.core.schema import neutralize_formula
from acm_helpers.intake import intake
from acm_helpers.store import quality as store_quality
from acm_helpers.store.store import Store, sha256_file

RECEIVED = date(2026, 11, 10)
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
    "age_at_entry",
    "zip",
    "cost",
]
WOMAN, MAN = "Woman (Girl, if child)", "Man (Boy, if child)"


def row(i: int, **over) -> dict:
    """A valid harbor row for October 2026 (episode E<i>, client C<i>)."""
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
        "age_at_entry": "34",
        "zip": "98101",
        "cost": "1200.50",
    }
    base.update(over)
    return base


def line(values: dict | list, delimiter: str = ",") -> str:
    """One CSV line (quoted where needed), newline included."""
    import io

    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter, lineterminator="\n").writerow(
        list(values.values()) if isinstance(values, dict) else values
    )
    return buf.getvalue()


def write_csv(
    path: Path,
    rows: list[dict],
    header: list[str] | None = None,
    delimiter: str = ",",
    encoding: str = "utf-8",
) -> Path:
    header = header or list(rows[0]) if rows else header or HEADER
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding=encoding) as fh:
        w = csv.DictWriter(fh, fieldnames=header, delimiter=delimiter, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    return path


@pytest.fixture
def store(tmp_path) -> Store:
    return Store(tmp_path / "store")


@pytest.fixture
def sub(tmp_path) -> Path:
    """The submissions folder for October 2026 (period taken from the folder name)."""
    return tmp_path / "in" / "2026-10"


def load(path, program, store, **kw):
    kw.setdefault("received", RECEIVED)
    return intake.intake_file(path, program, store, **kw)


def quarantine(store) -> list[tuple[int, str, str]]:
    q = store_quality.quarantine_rows(store)
    return sorted(zip(q["row"].astype(int), q["field"], q["reason"], strict=True))


def episode_count(store) -> int:
    return int(store.query("SELECT count(*) AS n FROM episodes")["n"].iloc[0])


# -- happy path --------------------------------------------------------------------------------
def test_good_file_loads_keeps_raw_and_logs(program, store, sub):
    path = write_csv(
        sub / "harbor.csv",
        [row(1), row(2, exit_date="", exit_destination=""), row(3, exit_destination="101")],
    )
    result = load(path, program, store)
    assert (result.status, result.provider_id, result.period) == ("loaded", "harbor", "2026-10")
    assert (result.rows_total, result.rows_accepted, result.rows_rejected) == (3, 3, 0)
    eps = store.episodes().set_index("episode_id")
    assert eps.loc["E1", "destination_class"] == "permanent"  # derived from code 410
    assert eps.loc["E3", "destination_class"] == "temporary"  # 101 = emergency shelter
    assert pd.isna(eps.loc["E2", "destination_class"])
    assert eps.loc["E1", "cost"] == 1200.50 and eps.loc["E1", "age_at_entry"] == 34
    assert eps.loc["E1", "days_referral_to_enrollment"] == 14  # derive.py ran
    raw = store.root / "raw" / "2026-10" / "harbor" / f"{sha256_file(path)}.csv"
    assert raw.read_bytes() == path.read_bytes()
    log = store.read_table("submissions")
    assert log[["file", "status", "rows_accepted", "schema_version"]].values.tolist() == [
        ["harbor.csv", "current", 3, "1"]
    ]


def test_same_file_twice_is_a_noop(program, store, sub):
    path = write_csv(sub / "harbor.csv", [row(1), row(2)])
    load(path, program, store)
    again = load(path, program, store)
    assert again.status == "already loaded" and "nothing to do" in again.message
    assert len(store.read_table("submissions")) == 1
    assert episode_count(store) == 2


def test_corrected_resubmission_supersedes_and_log_keeps_both(program, store, sub):
    first = load(write_csv(sub / "harbor.csv", [row(1), row(2), row(3)]), program, store)
    fixed = load(
        write_csv(sub / "harbor_v2.csv", [row(1, race_ethnicity="Multiracial"), row(2)]),
        program,
        store,
    )
    assert fixed.supersedes == first.sha256
    log = store.read_table("submissions").set_index("file")
    assert log.loc["harbor.csv", "status"] == "superseded"
    assert log.loc["harbor.csv", "superseded_by"] == fixed.sha256
    assert log.loc["harbor_v2.csv", "status"] == "current"
    eps = store.episodes().set_index("episode_id")
    assert sorted(eps.index) == ["E1", "E2"]  # E3 was only in the superseded file
    assert eps.loc["E1", "race_ethnicity"] == "Multiracial"


def test_rebuild_keeps_latest_period_per_episode(program, store, tmp_path):
    sept = write_csv(
        tmp_path / "in" / "2026-09" / "harbor.csv",
        [row(1, exit_date="", exit_destination=""), row(2, exit_date="", exit_destination="")],
    )
    octo = write_csv(tmp_path / "in" / "2026-10" / "harbor.csv", [row(1)])
    results = intake.intake_files([tmp_path / "in"], program, store, received=RECEIVED)
    assert [r.period for r in results] == ["2026-09", "2026-10"]
    eps = store.episodes().set_index("episode_id")
    assert eps.loc["E1", "exit_date"] == pd.Timestamp("2026-10-05")  # October's row wins
    assert pd.isna(eps.loc["E2", "exit_date"])  # only reported in September
    assert eps.loc["E1", "_period"] == "2026-10" and sept.exists() and octo.exists()


@pytest.mark.parametrize(
    ("delimiter", "encoding"),
    [
        pytest.param(";", "utf-8", id="semicolon"),
        pytest.param("\t", "utf-8", id="tab"),
        pytest.param("|", "utf-8", id="pipe"),
        pytest.param(",", "utf-8-sig", id="utf8-bom"),
        pytest.param(";", "utf-16", id="utf16-bom"),
    ],
)
def test_delimiters_and_bom(program, store, sub, delimiter, encoding):
    path = write_csv(
        sub / "harbor.csv", [row(1), row(2, gender=MAN)], delimiter=delimiter, encoding=encoding
    )
    result = load(path, program, store)
    assert (result.rows_accepted, result.rows_rejected) == (2, 0)
    assert sorted(store.episodes()["gender"]) == [MAN, WOMAN]


def test_latin1_file(program, store, sub):
    """Not UTF-8: refused with the byte and the likely code page, loaded once it is declared
    (issue 13: intake never guesses a code page)."""
    rows = [row(1, program="Café Peña"), row(2, program="Résidence")]
    path = write_csv(sub / "harbor.csv", rows, delimiter=";", encoding="latin-1")
    with pytest.raises(
        IntakeError, match=r"byte \d+ \(0xe9, on line 2\) is not valid utf-8.*cp1252"
    ):
        load(path, program, store)
    assert load(path, program, store, encoding="latin-1").rows_accepted == 2
    assert sorted(store.episodes()["program"]) == ["Café Peña", "Résidence"]


def test_utf8_file_with_late_non_ascii_text(program, store, sub):
    """UTF-8 that only turns non-ASCII past the sniffed sample still decodes as UTF-8."""
    rows = [row(i) for i in range(1, 40)] + [row(40, program="Zoë")]
    path = write_csv(sub / "harbor.csv", rows)
    assert load(path, program, store).rows_accepted == 40
    assert "Zoë" in set(store.episodes()["program"])


def test_xlsx_submission(program, store, sub):
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(HEADER)
    sheet.append(
        [
            "E1",
            "C1",
            "harbor",
            "rrh",
            date(2026, 9, 3),
            date(2026, 8, 20),
            date(2026, 10, 5),
            410,
            "White",
            WOMAN,
            34,
            98101,
            1200.5,
        ]
    )
    sheet.append([None] * len(HEADER))  # blank row, skipped
    sheet.append(
        [
            "E2",
            "C2",
            "harbor",
            "rrh",
            "2026-09-10",
            None,
            None,
            None,
            "white",
            MAN,
            20.0,
            "98104",
            None,
        ]
    )
    sheet.append(
        [
            "E3",
            "C3",
            "harbor",
            "rrh",
            date(2026, 9, 10),
            None,
            date(2026, 9, 1),
            410,
            "White",
            MAN,
            20,
            "98104",
            1,
        ]
    )
    sub.mkdir(parents=True)
    book.save(sub / "harbor.xlsx")
    result = load(sub / "harbor.xlsx", program, store)
    assert (result.rows_total, result.rows_accepted, result.rows_rejected) == (3, 2, 1)
    eps = store.episodes().set_index("episode_id")
    assert eps.loc["E1", "exit_destination"] == "410" and eps.loc["E1", "zip"] == "98101"
    assert (
        eps.loc["E2", "race_ethnicity"] == "White"
    )  # case variant mapped to the program's spelling
    # spreadsheet row 5 = data row 4 (the blank row counts)
    assert quarantine(store) == [(4, "exit_date", "exit date is before the enrollment date")]


# -- whole-file errors: IntakeError, logged as rejected, store unchanged -----------------------
def test_empty_file(program, store, sub):
    sub.mkdir(parents=True)
    (sub / "harbor.csv").write_bytes(b"")
    with pytest.raises(IntakeError, match=r"harbor\.csv: the file is empty"):
        load(sub / "harbor.csv", program, store)
    log = store.read_table("submissions")
    assert log[["file", "status"]].values.tolist() == [["harbor.csv", "rejected"]]
    assert not store.has_table("episodes")


def test_header_only(program, store, sub):
    path = write_csv(sub / "harbor.csv", [], header=HEADER)
    with pytest.raises(IntakeError, match="a header but no data rows"):
        load(path, program, store)


def test_missing_required_column(program, store, sub):
    path = write_csv(sub / "harbor.csv", [row(1)], header=[c for c in HEADER if c != "client_id"])
    with pytest.raises(
        IntakeError,
        match=r"harbor\.csv: missing required column\(s\) client_id\. Found: episode_id",
    ):
        load(path, program, store)


def test_unknown_provider_names_known_ids(program, store, sub):
    path = write_csv(sub / "x.csv", [row(1, provider_id="harbour")])
    with pytest.raises(
        IntakeError, match=r"x\.csv: unknown provider 'harbour'\. Known providers: harbor, cascade"
    ):
        load(path, program, store)
    assert store.read_table("submissions")["provider_id"].tolist() == [""]


def test_two_providers_in_one_file(program, store, sub):
    path = write_csv(sub / "mixed.csv", [row(1), row(2, provider_id="cascade")])
    with pytest.raises(
        IntakeError, match="rows for both 'harbor' and 'cascade'; send one file per provider"
    ):
        load(path, program, store)


def test_no_period(program, store, tmp_path):
    path = write_csv(tmp_path / "loose" / "harbor.csv", [row(1)])
    with pytest.raises(IntakeError, match=r"which month is this\? Pass --period YYYY-MM"):
        load(path, program, store)
    with pytest.raises(IntakeError, match=r"Unknown period '2030-01'"):
        load(path, program, store, period="2030-01")
    assert load(path, program, store, period="2026-10").period == "2026-10"


@pytest.mark.parametrize(
    "tail",
    [
        pytest.param("E9,C9,harbor,rrh,2026-09", id="cut-mid-row"),
        pytest.param('E9,C9,harbor,"rrh', id="unclosed-quote"),
    ],
)
def test_truncated_csv(program, store, sub, tail):
    path = write_csv(sub / "harbor.csv", [row(1), row(2)])
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(tail)
    with pytest.raises(IntakeError, match="truncated"):
        load(path, program, store)
    assert not store.has_table("episodes_submitted")


def test_truncated_xlsx(program, store, sub):
    from openpyxl import Workbook

    book = Workbook()
    book.active.append(HEADER)
    for i in range(50):
        book.active.append(list(row(i).values()))
    sub.mkdir(parents=True)
    book.save(sub / "full.xlsx")
    data = (sub / "full.xlsx").read_bytes()
    (sub / "harbor.xlsx").write_bytes(data[: len(data) // 2])
    with pytest.raises(IntakeError, match=r"harbor\.xlsx: .*(truncated|damaged)"):
        load(sub / "harbor.xlsx", program, store)


def test_binary_file_renamed_csv(program, store, sub):
    sub.mkdir(parents=True)
    (sub / "harbor.csv").write_bytes(b"PK\x03\x04\x00\x00binary\x00stuff")
    with pytest.raises(IntakeError, match="not a text file"):
        load(sub / "harbor.csv", program, store)


def test_too_large_is_refused_and_store_intact(program, store, sub):
    load(write_csv(sub / "harbor.csv", [row(1), row(2)]), program, store)
    query = "SELECT episode_id, exit_date FROM episodes ORDER BY episode_id"
    before = store.query(query)
    big = sub / "cascade.csv"
    with open(big, "wb") as fh:  # sparse: 3 GiB on paper, nothing written
        fh.write(b"episode_id,client_id\n")
    os.truncate(big, 3 * 1024**3)
    with pytest.raises(
        IntakeError, match=r"cascade\.csv: 3\.0 GiB is over the intake limit of 2\.0 GiB"
    ):
        load(big, program, store)
    small = write_csv(sub / "elliott.csv", [row(i, provider_id="elliott") for i in range(200)])
    with pytest.raises(IntakeError, match="over the intake limit of 1.0 KiB"):
        load(small, program, store, max_bytes=1024)
    pd.testing.assert_frame_equal(store.query(query), before)
    assert store.read_table("submissions")["status"].tolist() == ["current", "rejected", "rejected"]


def test_all_rows_bad_rejects_file_but_keeps_reasons(program, store, sub):
    path = write_csv(sub / "harbor.csv", [row(1, enrollment_date="soon"), row(2, client_id="")])
    with pytest.raises(IntakeError, match="none of the 2 rows could be loaded"):
        load(path, program, store)
    assert quarantine(store) == [
        (1, "enrollment_date", "not a date; write YYYY-MM-DD"),
        (2, "client_id", "required value is missing"),
    ]
    assert not store.has_table("episodes_submitted")


# -- row-level problems: quarantined with row, field, reason; good rows load ----------------
def test_unknown_extra_columns_kept_in_raw_and_reported(program, store, sub):
    rows = [
        dict(row(1), client_name="Ann", shoe_size="7"),
        dict(row(2), client_name="Bo", shoe_size="9"),
    ]
    path = write_csv(sub / "harbor.csv", rows)
    result = load(path, program, store)
    assert result.unknown_columns == ("client_name", "shoe_size")
    assert "client_name" not in store.episodes().columns
    raw = next((store.root / "raw").rglob("*.csv"))
    assert "client_name" in raw.read_text() and "Ann" in raw.read_text()
    q = store_quality.quality_summary(store, "harbor", "2026-10")
    assert q.loc[q["check"] == "unknown_column", "field"].tolist() == ["client_name", "shoe_size"]


def test_wrong_types(program, store, sub):
    rows = [
        row(1),
        row(2, age_at_entry="forty"),
        row(3, cost="a lot"),
        row(4, age_at_entry="34.5"),
        row(5, cost="$1,200.00"),
        row(6, age_at_entry="130"),
    ]
    result = load(write_csv(sub / "harbor.csv", rows), program, store)
    assert (result.rows_accepted, result.rows_rejected) == (2, 4)
    assert quarantine(store) == [
        (2, "age_at_entry", "not a whole number"),
        (3, "cost", "not a number"),
        (4, "age_at_entry", "not a whole number"),
        (6, "age_at_entry", "age outside 0-120"),
    ]
    assert store.episodes().set_index("episode_id").loc["E5", "cost"] == 1200.0


def test_unparseable_dates(program, store, sub):
    rows = [
        row(1),
        row(2, enrollment_date="2026-02-30"),
        row(3, exit_date="yesterday"),
        row(4, referral_date="08/20/2026"),
        row(5, enrollment_date="2026-13-01"),
    ]
    result = load(write_csv(sub / "harbor.csv", rows), program, store)
    assert (result.rows_accepted, result.rows_rejected) == (2, 3)  # row 4: US format accepted
    bad = "not a date; write YYYY-MM-DD"
    assert quarantine(store) == [
        (2, "enrollment_date", bad),
        (3, "exit_date", bad),
        (5, "enrollment_date", bad),
    ]
    q = store_quality.quarantine_rows(store).set_index("row")
    assert q.loc[2, "value"] == "2026-02-30" and q.loc[3, "file"] == "harbor.csv"


def test_impossible_dates(program, store, sub):
    rows = [
        row(1),
        row(2, exit_date="2026-09-01"),
        row(3, referral_date="2026-09-10"),
        row(4, exit_date="2026-11-20"),
        row(5, enrollment_date="2027-01-01", exit_date="", referral_date=""),
    ]
    result = load(write_csv(sub / "harbor.csv", rows), program, store)
    assert (result.rows_accepted, result.rows_rejected) == (1, 4)
    future = "date is after the file was received (2026-11-10)"
    assert quarantine(store) == [
        (2, "exit_date", "exit date is before the enrollment date"),
        (3, "referral_date", "referral date is after the enrollment date"),
        (4, "exit_date", future),
        (5, "enrollment_date", future),
    ]
    q = store_quality.quality_summary(store, "harbor", "2026-10")
    order = q[q["check"] == "dates_out_of_order"]
    assert order[["field", "value"]].values.tolist() == [["exit_date", 1.0], ["referral_date", 1.0]]


def test_duplicate_episode_ids_keep_first(program, store, sub):
    rows = [row(1), row(2), row(1, client_id="C99"), row(3), row(1, client_id="C98"), row(2)]
    result = intake.intake_file(
        write_csv(sub / "harbor.csv", rows), program, store, received=RECEIVED, chunk_rows=2
    )
    assert (result.rows_accepted, result.rows_rejected) == (3, 3)
    q = store_quality.quarantine_rows(store)
    assert q[["row", "reason"]].values.tolist() == [
        [3, "duplicate episode_id (first at row 1; later rows are not loaded)"],
        [5, "duplicate episode_id (first at row 1; later rows are not loaded)"],
        [6, "duplicate episode_id (first at row 2; later rows are not loaded)"],
    ]
    assert store.episodes().set_index("episode_id").loc["E1", "client_id"] == "C1"


def test_unknown_codes(program, store, sub):
    rows = [
        row(1),
        row(2, race_ethnicity="Martian"),
        row(3, gender="?"),
        row(4, exit_destination="999"),
        row(5, race_ethnicity="  black or african american "),
    ]
    result = load(write_csv(sub / "harbor.csv", rows), program, store)
    assert (result.rows_accepted, result.rows_rejected) == (2, 3)
    assert quarantine(store) == [
        (2, "race_ethnicity", "not one of the program's race_ethnicity codes"),
        (3, "gender", "not one of the program's gender codes"),
        (4, "exit_destination", "unknown exit destination code"),
    ]
    assert "Black or African American" in set(store.episodes()["race_ethnicity"])


def test_ten_percent_garbage_rows(program, store, sub):
    garbage = {
        7: {"enrollment_date": "n/a?"},
        15: {"client_id": ""},
        23: {"race_ethnicity": "Purple"},
        31: {"exit_date": "2020-01-01"},
        42: {"age_at_entry": "-3"},
        50: {"exit_destination": "4100"},
        61: {"cost": "twelve"},
        77: {"episode_id": "E1"},
        88: {"gender": "M"},
        99: {"referral_date": "2027-01-01"},
    }
    rows = [row(i, **garbage.get(i, {})) for i in range(1, 101)]
    path = write_csv(sub / "harbor.csv", rows)
    with open(path, "a", encoding="utf-8") as fh:  # and one line with too many fields, as row 101
        fh.write(line(list(row(101).values()) + ["extra", "fields"]))
        fh.write(line(row(102)))
    result = intake.intake_file(path, program, store, received=RECEIVED, chunk_rows=16)
    assert (result.rows_total, result.rows_accepted, result.rows_rejected) == (102, 91, 11)
    assert sorted(store_quality.quarantine_rows(store)["row"].unique()) == sorted(garbage) + [101]
    assert episode_count(store) == 91
    reasons = dict(
        zip(
            store_quality.quarantine_rows(store)["row"],
            store_quality.quarantine_rows(store)["reason"],
            strict=True,
        )
    )
    assert (
        reasons[101]
        == "row has 15 fields but the header has 13 (an unquoted delimiter inside a value?)"
    )
    assert reasons[77].startswith("duplicate episode_id (first at row 1")
    assert "E102" in set(
        store.episodes()["episode_id"]
    )  # row after the malformed line keeps its number


def test_blank_lines_are_skipped_and_counted(program, store, sub):
    path = write_csv(sub / "harbor.csv", [row(1)])
    with open(path, "a", encoding="utf-8") as fh:
        fh.write("\n\n" + line(row(2, exit_date="bad")))
    result = load(path, program, store)
    assert (result.rows_total, result.rows_accepted) == (2, 1)
    assert quarantine(store) == [(4, "exit_date", "not a date; write YYYY-MM-DD")]
    q = store_quality.quality_summary(store, "harbor", "2026-10").set_index("check")
    assert q.loc["blank_rows", "value"] == 2


def test_formula_text_stored_as_text_and_reported(program, store, sub):
    link = '=HYPERLINK("http://evil.example","click")'
    rows = [
        dict(row(1), client_name=link),
        dict(row(2, household_id="@SUM(A1)"), client_name="Bo"),
        row(3),
    ]
    result = load(
        write_csv(sub / "harbor.csv", rows, header=HEADER + ["household_id", "client_name"]),
        program,
        store,
    )
    assert result.rows_accepted == 3 and "2 formula-like values stored as text" in result.message
    assert store.episodes().set_index("episode_id").loc["E2", "household_id"] == "@SUM(A1)"
    q = store_quality.quality_summary(store, "harbor", "2026-10")
    formula = q[q["check"] == "formula_text"].set_index("field")
    assert formula["value"].to_dict() == {"client_name": 1.0, "household_id": 1.0}
    assert neutralize_formula(link) == "'" + link
    assert (
        neutralize_formula("-5") == "'-5"
        and neutralize_formula("Ann") == "Ann"
        and neutralize_formula(3) == 3
    )


def test_quality_report_completeness_and_lateness(program, store, sub):
    rows = [row(1), row(2, zip=""), row(3, zip="", race_ethnicity=""), row(4)]
    load(write_csv(sub / "harbor.csv", rows), program, store, received=date(2026, 11, 20))
    q = store_quality.quality_summary(store, "harbor", "2026-10")
    comp = q[q["check"] == "completeness"].set_index("field")["value"]
    assert comp["zip"] == 0.5 and comp["race_ethnicity"] == 0.75 and comp["episode_id"] == 1.0
    assert comp["move_in_date"] == 0.0  # column not in the file
    late = q[q["check"] == "timeliness"].iloc[0]
    assert (
        late["value"] == 5.0
        and late["detail"] == "received 2026-11-20, due 2026-11-15: 5 days late"
    )


def test_intake_files_continues_after_a_rejected_file(program, store, sub):
    write_csv(sub / "a_bad.csv", [row(1)], header=["episode_id"])
    write_csv(sub / "harbor.csv", [row(1)])
    results = intake.intake_files([sub], program, store, received={"harbor.csv": "2026-11-01"})
    assert [(r.file, r.status) for r in results] == [
        ("a_bad.csv", "rejected"),
        ("harbor.csv", "loaded"),
    ]
    assert "missing required column" in results[0].message
    assert episode_count(store) == 1


def test_a_rejected_file_is_kept_byte_for_byte(program, store, sub):
    """Nothing is lost: the refused file's bytes are kept and the log says where."""
    path = write_csv(sub / "harbor.csv", [row(1)], header=["episode_id"])
    with pytest.raises(IntakeError, match="missing required column"):
        load(path, program, store, received="2026-11-03")
    log = store.read_table("submissions").iloc[0]
    assert log["status"] == "rejected" and log["raw_path"].startswith("raw/rejected/2026-11-03/")
    kept = store.root / log["raw_path"]
    assert kept.read_bytes() == path.read_bytes()


# -- load_canonical ------------------------------------------------------------------------------
def test_load_canonical_partitions_by_enrollment_month(program, store):
    frame = pd.DataFrame(
        {
            "episode_id": ["A", "B", "A"],
            "client_id": ["c1", "c2", "c3"],
            "provider_id": ["harbor", "harbor", "puget"],
            "program": "x",
            "enrollment_date": pd.to_datetime(["2026-09-03", "2026-10-01", "2026-10-02"]),
            "exit_destination": ["410", None, "204"],
        }
    )
    eps = intake.load_canonical(store, program, frame)
    assert sorted(
        p.relative_to(store.tables_dir / "episodes_submitted").as_posix()
        for p in (store.tables_dir / "episodes_submitted").rglob("*.parquet")
    ) == ["harbor/2026-09.parquet", "harbor/2026-10.parquet", "puget/2026-10.parquet"]
    got = eps.set_index(["provider_id", "episode_id"])["destination_class"]
    assert got[("harbor", "A")] == "permanent" and got[("puget", "A")] == "institutional"
    assert pd.isna(got[("harbor", "B")])
    assert store.read_table("submissions")["status"].tolist() == ["current"] * 3


def test_load_canonical_rejects_a_bad_frame(program, store):
    frame = pd.DataFrame(
        {
            "episode_id": ["A"],
            "client_id": ["c1"],
            "provider_id": ["nobody"],
            "program": "x",
            "enrollment_date": pd.to_datetime(["2026-09-03"]),
            "race_ethnicity": ["Martian"],
        }
    )
    with pytest.raises(
        IntakeError,
        match=r"1 rows of the canonical frame break the episode schema .*unknown provider id",
    ):
        intake.load_canonical(store, program, frame)
    assert not store.has_table("episodes")


def test_load_canonical_demo_episodes(program, demo_episodes, store):
    eps = intake.load_canonical(store, program, demo_episodes)
    assert len(eps) == demo_episodes.drop_duplicates(["provider_id", "episode_id"]).shape[0]
    assert (
        len(store.read_table("submissions"))
        == demo_episodes.groupby(["provider_id", "_period"]).ngroups
    )
    assert {"return_12m", "length_of_stay_days"} <= set(eps.columns)


def test_demo_submission_and_a_corrupted_copy(program, demo_episodes, store, sub):
    """A demo provider-month loads whole; a corrupted copy quarantines exactly the damaged rows."""
    month = demo_episodes[
        (demo_episodes["provider_id"] == "harbor") & (demo_episodes["_period"] == "2026-10")
    ]
    text = month.drop(columns="_period").copy()
    for col in ("enrollment_date", "referral_date", "exit_date", "birth_date", "move_in_date"):
        text[col] = text[col].dt.strftime("%Y-%m-%d")
    sub.mkdir(parents=True)
    text.to_csv(sub / "harbor.csv", index=False)
    first = load(sub / "harbor.csv", program, store)
    assert (first.rows_total, first.rows_accepted, first.rows_rejected) == (
        len(month),
        len(month),
        0,
    )
    bad = text.copy()
    bad.iloc[4, bad.columns.get_loc("enrollment_date")] = "31/31/2026"
    bad.iloc[9, bad.columns.get_loc("race_ethnicity")] = "Purple"
    bad.iloc[20, bad.columns.get_loc("client_id")] = None
    bad.to_csv(sub / "harbor_corrupted.csv", index=False)
    second = load(sub / "harbor_corrupted.csv", program, store)
    assert (second.rows_accepted, second.rows_rejected, second.supersedes) == (
        len(month) - 3,
        3,
        first.sha256,
    )
    assert quarantine(store) == [
        (5, "enrollment_date", "not a date; write YYYY-MM-DD"),
        (10, "race_ethnicity", "not one of the program's race_ethnicity codes"),
        (21, "client_id", "required value is missing"),
    ]
    n = store.query(
        "SELECT count(*) AS n FROM episodes WHERE provider_id = 'harbor' AND _period = '2026-10'"
    )
    assert int(n["n"].iloc[0]) == len(month) - 3


def test_quality_counts_of_all_parts_at_once_equal_part_by_part(program, demo_episodes):
    """load_canonical counts every provider x month part in one pass (qc.stats_by_part); the
    counts are those of FileStats.update on each part, formula-like text included."""
    from acm_helpers.core.schema import episode_columns
    from acm_helpers.intake import quality as qc

    frame = intake.conform_episodes(demo_episodes.head(3000), program)
    frame.index = pd.RangeIndex(1, len(frame) + 1)
    frame.loc[[5, 9, 2500], "zip"] = ["=HYPERLINK(1)", "+1", "@x"]
    frame.loc[[7], "household_id"] = "-2"
    fields = list(episode_columns(program))
    together = qc.stats_by_part(frame, fields, fields, ["provider_id", "_period"])
    for (provider, period), part in frame.groupby(["provider_id", "_period"]):
        alone = qc.FileStats(fields=fields, columns_in_file=fields)
        alone.update(part[fields])
        got = together[(provider, period)]
        assert (got.rows, dict(got.filled), dict(got.formula), got.formula_rows) == (
            alone.rows,
            dict(alone.filled),
            dict(alone.formula),
            alone.formula_rows,
        ), (provider, period)
    assert sum(s.formula["zip"] for s in together.values()) == 3
