"""The program file: every kind of mistake gives a clear ConfigError naming the key and the fix.

Each case edits a copy of parameters/program.yaml (the real demo program), so the tests follow
the file as it grows.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import yaml

from acm_helpers.core.calendar import month_range, period_bounds, shift_period
from acm_helpers.core.config import load_program
from acm_helpers.core.errors import ConfigError, UnknownIdError

ROOT = Path(__file__).resolve().parents[2]
PROGRAM = ROOT / "parameters" / "program.yaml"


def edited(tmp_path: Path, edit) -> Path:
    """Write a copy of the demo program file with ``edit(raw_dict)`` applied."""
    raw = yaml.safe_load(PROGRAM.read_text(encoding="utf-8"))
    edit(raw)
    path = tmp_path / "program.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def test_demo_program_loads():
    prog = load_program(PROGRAM)
    assert prog.id == "homeless_demo" and len(prog.providers) == 6
    assert (
        prog.periods()[0] == "2024-11"
        and prog.periods()[-1] == "2026-10"
        and len(prog.periods()) == 24
    )
    assert prog.destinations["410"] == "permanent"


def _unknown_top_key(raw):
    raw["colour"] = "blue"


def _unknown_provider_key(raw):
    raw["providers"][0]["budget"] = 1


def _bad_date(raw):
    raw["providers"][0]["start"] = "2024-02-30"


def _end_before_start(raw):
    raw["providers"][1]["end"] = "2024-01-01"


def _unknown_metric_in_roadmap(raw):
    raw["roadmap"]["2026-10"]["metric"] = "happiness"


def _unknown_dimension_in_roadmap(raw):
    raw["roadmap"]["2026-10"]["dimension"] = "shoe_size"


def _bad_period(raw):
    raw["last_period"] = "2026-13"


def _periods_reversed(raw):
    raw["first_period"] = "2027-01"


def _duplicate_provider(raw):
    raw["providers"].append(dict(raw["providers"][0]))


def _bad_metric_kind(raw):
    raw["metrics"]["clients_served"]["kind"] = "average"


def _rate_without_numerator(raw):
    del raw["metrics"]["exits_to_permanent_housing"]["numerator"]


def _shares_not_one(raw):
    raw["dimensions"]["race_ethnicity"]["reference_shares"]["White"] = 0.9


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        pytest.param(
            _unknown_top_key,
            r"colour: unknown key; remove it or check its spelling",
            id="unknown-key",
        ),
        pytest.param(
            _unknown_provider_key, r"providers\.0\.budget: unknown key", id="unknown-provider-key"
        ),
        pytest.param(_bad_date, r"providers\.0\.start: .*(date|day)", id="bad-date"),
        pytest.param(
            _end_before_start,
            r"provider cascade: contract end 2024-01-01 is not after start 2024-11-01",
            id="end-before-start",
        ),
        pytest.param(
            _unknown_metric_in_roadmap,
            r"roadmap 2026-10: unknown metric 'happiness'; known: exits_to_permanent_housing",
            id="roadmap-metric",
        ),
        pytest.param(
            _unknown_dimension_in_roadmap,
            r"roadmap 2026-10: unknown dimension 'shoe_size'",
            id="roadmap-dimension",
        ),
        pytest.param(
            _bad_period, r"last_period: .*'2026-13' is not a period; write YYYY-MM", id="bad-period"
        ),
        pytest.param(
            _periods_reversed, r"first_period is after last_period", id="periods-reversed"
        ),
        pytest.param(
            _duplicate_provider, r"provider ids appear twice: harbor", id="duplicate-provider"
        ),
        pytest.param(_bad_metric_kind, r"metrics\.clients_served\.kind", id="bad-metric-kind"),
        pytest.param(
            _rate_without_numerator, r"a rate metric needs numerator", id="rate-without-numerator"
        ),
        pytest.param(
            _shares_not_one, r"reference_shares add up to 1\.320, not 1", id="shares-not-one"
        ),
    ],
)
def test_program_file_errors(tmp_path, edit, message):
    path = edited(tmp_path, edit)
    with pytest.raises(ConfigError, match=message) as info:
        load_program(path)
    assert str(path) in str(info.value)  # the message names the file


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="not found. Pass --program PATH"):
        load_program(tmp_path / "nope.yaml")
    (tmp_path / "bad.yaml").write_text("id: [unclosed", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_program(tmp_path / "bad.yaml")
    (tmp_path / "list.yaml").write_text("- a\n- b\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_program(tmp_path / "list.yaml")


def test_lookups_list_known_ids(program):
    with pytest.raises(
        UnknownIdError,
        match=r"Unknown provider 'harbour'\. Known providers: harbor, cascade, rainier, northgate, elliott, puget\.",
    ):
        program.provider("harbour")
    with pytest.raises(
        UnknownIdError, match=r"Unknown metric 'x'\. Known metrics: exits_to_permanent_housing"
    ):
        program.metric("x")
    with pytest.raises(
        UnknownIdError, match=r"Unknown dimension 'x'\. Known dimensions: race_ethnicity"
    ):
        program.dimension("x")
    assert program.provider("puget").contract_id == "HRA-2024-016"


@pytest.mark.parametrize(
    ("period", "message"),
    [
        pytest.param("2026-13", r"Period '2026-13' is not YYYY-MM", id="bad-month"),
        pytest.param("26-10", r"Period '26-10' is not YYYY-MM", id="short-year"),
        pytest.param(
            "2030-01",
            r"Unknown period '2030-01'\. Known periods: 2024-11 … 2026-10",
            id="outside-program",
        ),
    ],
)
def test_check_period(program, period, message):
    with pytest.raises(ConfigError, match=message):
        program.check_period(period)


def test_program_is_frozen(program):
    with pytest.raises(Exception, match="frozen"):
        program.name = "changed"


def test_period_helpers():
    assert period_bounds("2024-02") == (date(2024, 2, 1), date(2024, 2, 29))
    assert shift_period("2026-01", -1) == "2025-12" and shift_period("2025-12", 13) == "2027-01"
    assert month_range("2025-11", "2026-02") == ["2025-11", "2025-12", "2026-01", "2026-02"]
    with pytest.raises(ConfigError, match="not YYYY-MM"):
        period_bounds("2025-1")
