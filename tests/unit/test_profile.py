"""A packet's cost breakdown: the stage records of the kernel and the worker become one profile,
and the run's table sums them by stage (acm_helpers.batch.profile, acm_helpers.core.stages)."""

from __future__ import annotations

import pytest

from acm_helpers.batch import profile
from acm_helpers.core import stages
from acm_helpers.packets.packet import Block


def test_a_section_records_its_own_compute_and_each_chart_apart():
    @stages.section("demo")
    def section() -> Block:
        with stages.chart_stage("Chart A"):
            sum(range(20000))
        return Block("demo", "<p>x</p>")

    stages.drain()
    block = section()
    names = [r["stage"] for r in block.stages]
    assert names == ["chart: demo · Chart A", "section: demo"]
    assert all(r["wall"] >= 0 and r["cpu"] >= 0 for r in block.stages)
    assert stages.drain() == []  # the block took them
    data, meta = block._repr_mimebundle_()
    assert data == {"text/html": "<p>x</p>"}  # the page is the body, the timings ride beside it
    assert meta["text/html"][stages.METADATA_KEY] == block.stages


def test_collect_takes_the_timings_out_of_the_notebook():
    records = [{"stage": "section: tiles", "wall": 0.5, "cpu": 0.25}]
    nb = {
        "cells": [
            {"outputs": [{"data": {}, "metadata": {"text/html": {stages.METADATA_KEY: records}}}]},
            {"outputs": [{"data": {}, "metadata": {}}]},
        ]
    }
    assert stages.collect(nb) == records
    assert nb["cells"][0]["outputs"][0]["metadata"] == {}  # nothing left for the HTML export


def _packet():
    host = [
        {"stage": "notebook execution", "wall": 3.0, "cpu": 0.4},
        {"stage": "data load", "wall": 0.1, "cpu": 0.1},  # nested inside XLSX: not counted twice
        {"stage": "XLSX", "wall": 0.6, "cpu": 0.5},
        {"stage": "HTML export", "wall": 0.3, "cpu": 0.3},
        {"stage": "audit", "wall": 0.7, "cpu": 0.6},
    ]
    kernel = [
        {"stage": "data load", "wall": 0.2, "cpu": 0.2},
        {"stage": "section: trends", "wall": 0.5, "cpu": 0.4},
        {"stage": "chart: trends · Exits", "wall": 1.0, "cpu": 0.9},
    ]
    reset = {"reset_wall": 0.2, "reset_cpu": 0.1, "notebook_cpu": 1.8}
    return profile.packet_profile(host, kernel, reset)


def test_packet_profile_accounts_for_every_second_once():
    p = _packet()
    by = {r["stage"]: r for r in p["stages"]}
    assert list(by) == [
        "kernel reset",
        "notebook overhead",
        "data load",
        "section: trends",
        "chart: trends · Exits",
        "HTML export",
        "XLSX",
        "audit",
    ]
    # overhead: the execute call minus the notebook's stages and the reset inside it; its CPU is
    # the worker's plus the kernel's CPU outside the recorded stages
    assert by["notebook overhead"]["wall"] == pytest.approx(3.0 - 1.7 - 0.2)
    assert by["notebook overhead"]["cpu"] == pytest.approx(0.4 + 1.8 - 1.5)
    assert by["XLSX"]["cpu"] == 0.5
    assert p["cpu"] == pytest.approx(sum(r["cpu"] for r in p["stages"]), abs=1e-3)


def test_profile_table_groups_the_charts_and_totals_per_packet():
    entries = [
        {"key": "harbor", "profile": _packet()},
        {"key": "cascade", "profile": _packet()},
        {"key": "skipped", "timings": {"total": 0.0}},  # not built: left out
    ]
    table = profile.profile_table(entries)
    assert "cost per packet, 2 packets" in table
    line = next(x for x in table.splitlines() if x.startswith("chart rendering"))
    assert line.split()[-4:] == ["2", "1.000", "0.900", "1.80"]
    assert "  trends · Exits" in table
    assert (
        "harbor 3.70 s CPU / 4.60 s wall" in table
    )  # 0.1 + 0.7 + 0.2 + 0.4 + 0.9 + 0.3 + 0.5 + 0.6
    assert profile.profile_table([{"key": "x"}]).startswith("no packet was built")
