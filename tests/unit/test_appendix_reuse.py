"""The XLSX appendix reuses the packet its notebook loaded (issue 17), and never a stale one.

``packet.loaded`` / ``system.loaded_system`` return this process's last load when the arguments,
the program file's text and the tables' files are unchanged; the batch worker asks a warm kernel
to build the appendix right after the notebook, so the appendix is built from that packet.
"""

from __future__ import annotations

import json
import os
import shutil

import pandas as pd
import pytest

from acm_helpers.packets import memo, packet, system

PERIOD = "2026-10"


@pytest.fixture()
def clean_memo():
    memo._LOADED.clear()
    yield
    memo._LOADED.clear()


@pytest.fixture()
def store_copy(tmp_path, demo_store, program_path):
    """A private copy of the demo store and program file (the tests replace their files)."""
    root = tmp_path / "store"
    shutil.copytree(demo_store.root, root)
    prog = tmp_path / "program.yaml"
    shutil.copy2(program_path, prog)
    return prog, root


def _params(program_path, root, provider="cascade", **kw) -> dict:
    return {
        "program_path": str(program_path),
        "data_dir": str(root),
        "provider": provider,
        "period": PERIOD,
        **kw,
    }


def _same_sheets(a, b) -> None:
    (sa, na), (sb, nb) = a, b
    assert list(sa) == list(sb)
    for name in sa:
        pd.testing.assert_frame_equal(sa[name], sb[name], check_dtype=True)
    strip = [(k, v) for k, v in na if k != "Generated"]
    assert strip == [(k, v) for k, v in nb if k != "Generated"]


def test_loaded_is_the_packet_load_returned(clean_memo, program_path, demo_store):
    p = packet.load(program_path, demo_store.root, "cascade", PERIOD, "provider", "")
    assert packet.loaded(program_path, demo_store.root, "cascade", PERIOD) is p
    # other arguments: another packet, read from the store
    other = packet.loaded(program_path, demo_store.root, "harbor", PERIOD)
    assert other is not p and other.provider == "harbor"
    internal = packet.loaded(program_path, demo_store.root, "harbor", PERIOD, "internal")
    assert internal is not other and internal.audience == "internal"


def test_load_itself_always_reads_again(clean_memo, program_path, demo_store):
    p = packet.load(program_path, demo_store.root, "cascade", PERIOD)
    assert packet.load(program_path, demo_store.root, "cascade", PERIOD) is not p


def test_appendix_from_the_loaded_packet_has_the_sheets_of_a_fresh_read(
    clean_memo, program, program_path, demo_store
):
    params = _params(program_path, demo_store.root)
    packet.load(program_path, demo_store.root, "cascade", PERIOD)  # as the notebook does
    reused = packet.appendix(program, demo_store, params)
    memo._LOADED.clear()
    fresh = packet.appendix(program, demo_store, params)
    _same_sheets(reused, fresh)


def test_a_replaced_table_is_read_again(clean_memo, store_copy):
    prog, root = store_copy
    p = packet.load(prog, root, "cascade", PERIOD)
    assert packet.loaded(prog, root, "cascade", PERIOD) is p
    table = root / "tables" / "metric_values.parquet"
    # same bytes, same modification time, same size: only the file (its inode) is new, as
    # after any atomic rewrite of the table
    tmp = table.with_suffix(".tmp")
    shutil.copy2(table, tmp)
    os.replace(tmp, table)
    again = packet.loaded(prog, root, "cascade", PERIOD)
    assert again is not p
    assert packet.loaded(prog, root, "cascade", PERIOD) is again


@pytest.mark.parametrize("name", packet.PACKET_TABLES)
def test_every_table_the_packet_reads_stamps_it(clean_memo, store_copy, name):
    """A table rewritten or written for the first time: the packet is read again."""
    prog, root = store_copy
    p = packet.load(prog, root, "cascade", PERIOD)
    table = root / "tables" / f"{name}.parquet"
    if table.exists():
        tmp = table.with_suffix(".tmp")
        shutil.copy2(table, tmp)
        os.replace(tmp, table)
        assert packet.loaded(prog, root, "cascade", PERIOD) is not p
    else:  # not in the demo store: its first file changes the stamp
        from acm_helpers.store.store import Store

        before = Store(root).tables_stamp([name])
        table.write_bytes(b"")
        assert Store(root).tables_stamp([name]) != before


def test_an_edited_program_file_is_read_again(clean_memo, store_copy):
    prog, root = store_copy
    p = packet.load(prog, root, "cascade", PERIOD)
    prog.write_text(prog.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    assert packet.loaded(prog, root, "cascade", PERIOD) is not p


def test_load_program_parses_a_text_once(tmp_path, program_path):
    from acm_helpers.core.config import load_program

    prog = tmp_path / "program.yaml"
    shutil.copy2(program_path, prog)
    first = load_program(prog)
    assert load_program(prog) is first
    prog.write_text(prog.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    edited = load_program(prog)
    assert edited is not first and edited == first


def test_system_appendix_reuses_the_system_packet(clean_memo, program, program_path, demo_store):
    s = system.load_system(program_path, demo_store.root, PERIOD)
    assert system.loaded_system(program_path, demo_store.root, PERIOD) is s
    params = {"program_path": str(program_path), "data_dir": str(demo_store.root), "period": PERIOD}
    reused = system.system_appendix(program, demo_store, params)
    memo._LOADED.clear()
    fresh = system.system_appendix(program, demo_store, params)
    _same_sheets(reused, fresh)


def test_worker_asks_a_warm_kernel_to_write_the_appendix(
    clean_memo, tmp_path, program, program_path, demo_store
):
    """The call the worker sends to the kernel, evaluated here after the notebook's load: it
    writes the appendix from the loaded packet and reports the XLSX step."""
    from acm_helpers.batch import worker
    from acm_helpers.batch.kernels import WarmExecutor
    from acm_helpers.packets import xlsx

    params = _params(program_path, demo_store.root, audience="provider", topic="")
    job = worker.Job.make(tmp_path / "t.ipynb", "cascade", params, appendix="provider")
    executor, in_kernel = worker._appendix_in_kernel(job, WarmExecutor(), tmp_path)
    assert in_kernel and executor.after and executor.spec == WarmExecutor().spec
    p = packet.load(program_path, demo_store.root, "cascade", PERIOD, "provider", "")
    report = json.loads(eval(executor.after))  # noqa: S307 - the worker's own expression
    assert packet.loaded(program_path, demo_store.root, "cascade", PERIOD) is p
    assert report["path"] == str(tmp_path / "appendix.xlsx")
    assert [r["stage"] for r in report["stages"]] == ["XLSX"]
    sheets, notes = packet.appendix(program, demo_store, params)
    expected = xlsx.write_xlsx(tmp_path / "expected.xlsx", sheets, notes=notes)
    got = pd.read_excel(report["path"], sheet_name=None)
    want = pd.read_excel(expected, sheet_name=None)
    assert list(got) == list(want)
    for name in got:
        if name != "Read me":
            pd.testing.assert_frame_equal(got[name], want[name])


@pytest.mark.parametrize(
    "executor, appendix",
    [
        pytest.param(None, "provider", id="fresh-kernel"),
        pytest.param("warm", None, id="no-appendix"),
    ],
)
def test_worker_builds_the_appendix_itself_without_a_warm_kernel(tmp_path, executor, appendix):
    from acm_helpers.batch import worker
    from acm_helpers.batch.kernels import WarmExecutor

    ex = WarmExecutor() if executor == "warm" else None
    job = worker.Job.make(tmp_path / "t.ipynb", "cascade", {"period": PERIOD}, appendix=appendix)
    assert worker._appendix_in_kernel(job, ex, tmp_path) == (ex, False)
