"""The metric definitions history: a definition is recorded once with its first month, a change
is announced with the old and new definitions, their versions and the month it took effect."""

from __future__ import annotations

import json

import pytest

from acm_helpers.metrics import definitions as defs
from acm_helpers.store.store import Store

METRIC = "exits_to_permanent_housing"


def _changed(program, **fields):
    """The program with one metric's fields changed (as an edited program file would be)."""
    metric = program.metrics[METRIC].model_copy(update=fields)
    return program.model_copy(update={"metrics": {**program.metrics, METRIC: metric}})


def test_a_definition_is_recorded_once_with_its_first_month(program, tmp_path):
    store = Store(tmp_path)
    added = defs.record_definitions(program, store, "2026-08")
    assert sorted(added["metric_id"]) == sorted(program.metrics)
    assert set(added["first_period"]) == {"2026-08"}
    assert set(added["method_hash"]) == {defs.method_hash()}
    assert defs.record_definitions(program, store, "2026-09").empty  # unchanged: nothing new
    row = defs.history(store, program.id).set_index("metric_id").loc[METRIC]
    assert json.loads(row["definition"])["numerator"] == "destination_class = 'permanent'"
    assert row["definition_hash"] == defs.definition_hash(program.metrics[METRIC])
    assert defs.definition_changes(program, store, "2026-09") == []


@pytest.mark.parametrize(
    "fields, changed",
    [
        pytest.param({"target": 0.5, "label": "Exits to PH"}, [], id="target-and-label-are-not"),
        pytest.param(
            {"numerator": "destination_class IN ('permanent', 'temporary')"},
            ["numerator"],
            id="numerator",
        ),
        pytest.param(
            {"definition": "Share of leavers housed.", "per": "person"},
            ["definition", "per"],
            id="text-and-per",
        ),
    ],
)
def test_what_counts_as_a_change_of_definition(program, tmp_path, fields, changed):
    store = Store(tmp_path)
    defs.record_definitions(program, store, "2026-09")
    edited = _changed(program, **fields)
    defs.record_definitions(edited, store, "2026-10")
    found = defs.definition_changes(edited, store, "2026-10")
    assert [c.changed_fields for c in found] == ([changed] if changed else [])


def test_a_change_names_old_and_new_the_versions_and_the_month(program, tmp_path):
    store = Store(tmp_path)
    defs.record_definitions(program, store, "2026-07")
    new_numerator = "destination_class IN ('permanent', 'temporary')"
    edited = _changed(program, numerator=new_numerator)
    defs.record_definitions(edited, store, "2026-09")
    (change,) = defs.definition_changes(edited, store, "2026-09")
    assert change.metric_id == METRIC and change.from_period == "2026-09"
    assert change.old["numerator"] == "destination_class = 'permanent'"
    assert change.new["numerator"] == new_numerator
    assert change.old_hash == defs.definition_hash(program.metrics[METRIC])
    assert change.new_hash == defs.definition_hash(edited.metrics[METRIC]) != change.old_hash
    assert change.old_method == change.new_method == defs.method_hash()
    # a packet rebuilt for an earlier month still says so: its numbers use the new definition
    assert defs.definition_changes(edited, store, "2026-08") == [change]
    # going back to the first definition is a second change, from the month it is used again
    defs.record_definitions(program, store, "2026-10")
    back = defs.definition_changes(program, store, "2026-10")
    assert [(c.from_period, c.new["numerator"]) for c in back] == [
        ("2026-10", "destination_class = 'permanent'"),
        ("2026-09", new_numerator),
    ]


def test_an_edit_no_run_recorded_yet_takes_effect_in_the_packets_month(program, tmp_path):
    """A packet built from the notebook right after the program file was edited."""
    store = Store(tmp_path)
    defs.record_definitions(program, store, "2026-09")
    edited = _changed(program, population="exit_date BETWEEN :start AND :end AND cost > 0")
    (change,) = defs.definition_changes(edited, store, "2026-10")
    assert change.from_period == "2026-10" and change.changed_fields == ["population"]
    assert defs.history(store, program.id)["first_period"].unique().tolist() == ["2026-09"]


def test_the_method_hash_is_the_engines_not_the_programs(program, family_program):
    assert len(defs.method_hash()) == 12
    assert defs.definition_hash(program.metrics[METRIC]) != defs.method_hash()


def test_an_earlier_month_run_later_moves_the_first_month_back(program, tmp_path):
    """A backfill (October run first, then September) dates the definition from September, and
    a change made in October is still announced from October."""
    store = Store(tmp_path)
    defs.record_definitions(program, store, "2026-10")
    assert not defs.record_definitions(program, store, "2026-09").empty
    first = defs.history(store, program.id).set_index("metric_id").loc[METRIC, "first_period"]
    assert first == "2026-09"
    edited = _changed(program, numerator="destination_class IN ('permanent', 'temporary')")
    defs.record_definitions(edited, store, "2026-10")
    mine = defs.history(store, program.id)
    assert mine.loc[mine["metric_id"] == METRIC, "first_period"].tolist() == ["2026-09", "2026-10"]
    (change,) = defs.definition_changes(edited, store, "2026-10")
    assert change.from_period == "2026-10" and change.changed_fields == ["numerator"]
