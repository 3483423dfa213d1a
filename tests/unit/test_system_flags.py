"""The system packet's flags table: concerns first, the most serious first, and improvements in
their own table (never listed among the problems)."""

from __future__ import annotations

import re

from acm_helpers.meetings.tiles import good_news
from acm_helpers.packets import system

PERIOD = "2026-10"


def _tables(body: str) -> list[list[tuple[str, str]]]:
    """(provider, metric) of each table's rows, in order."""
    out = []
    for table in re.findall(r"<table.*?</table>", body, flags=re.S):
        rows = re.findall(r"<tr>\s*<td[^>]*>(.*?)</td>\s*<td[^>]*>(.*?)</td>", table, flags=re.S)
        out.append(rows)
    return out


def test_concerns_come_first_by_severity_and_improvements_apart(program_path, demo_store):
    s = system.load_system(program_path, demo_store.root, PERIOD)
    month = s.month()
    raised = month[month[list(system.FLAG_NAMES)].any(axis=1)]
    records = {(r["provider_label"], r["label"]): r for r in raised.to_dict("records")}
    body = system.flags(s).body
    tables = _tables(body)
    concerns = tables[0]
    improvements = tables[1] if "<h3>Improvements" in body else []
    assert len(concerns) + len(improvements) == len(raised)
    # every improvement row is good news; no concern row is
    assert all(good_news(records[k]) for k in improvements)
    assert not any(good_news(records[k]) for k in concerns)
    # concerns in the severity order (special cause for concern, worse change, target, peers)
    ranks = [system._severity(records[k]) for k in concerns]
    assert ranks == sorted(ranks)
    assert bool(improvements) == any(good_news(r) for r in records.values())


def test_severity_by_hand():
    base = {c: False for c in system.FLAG_NAMES} | {"direction": "up", "spc_signal": "common"}
    concern = base | {"flag_special_cause": True, "spc_signal": "concern"}
    worse = base | {"flag_significant_change": True, "value": 0.4, "previous_value": 0.5}
    better = base | {"flag_significant_change": True, "value": 0.5, "previous_value": 0.4}
    target = base | {"flag_below_target": True, "flag_worse_than_peers": True}
    peers = base | {"flag_worse_than_peers": True}
    assert [system._severity(r) for r in (concern, worse, target, peers)] == [0, 1, 2, 3]
    assert good_news(better) and not good_news(worse)
