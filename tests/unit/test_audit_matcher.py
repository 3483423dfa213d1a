"""The indexed matcher (issue 17) finds exactly what checking every suppressed cell against
every text unit finds: a reference copy of the per-cell check, fed random units and cells."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from acm_helpers.packets import audit
from acm_helpers.packets.audit import (
    NUMBER,
    PERIOD_TEXT,
    RULE_TEXT,
    WINDOW_TEXT,
    Finding,
    SuppressedCell,
    _norm,
    _numbers,
    _word,
    period_forms,
)

METRICS = ["Exits to permanent housing", "Returns within 12 months", "Clients served"]
GROUPS = ["", "White", "18-24", "Unknown", "98101", "65+"]
DIMENSIONS = ["", "Race and ethnicity", "Age at entry", "Gender"]
WHO = ["", "Peer A", "All providers"]
PERIODS = ["2026-10", "2026-09", "2026-Q3", "2025-10"]
NUMBERS = ["3", "7", "12", "43%", "42.9%", "0.43", "1,200", "18", "24"]
WORDS = [
    *METRICS,
    *[g for g in GROUPS if g],
    *[d for d in DIMENSIONS if d],
    *[w for w in WHO if w],
    "Oct 2026",
    "september 2026",
    "Q3 2026",
    "2026-10",
    "in the 12 months to Oct 2026",
    "fewer than 11 cases",
    "|",
    "leavers",
    "Peer B",
    *NUMBERS,
]


def _reference(units, facts: audit.PrivacyFacts, file: str) -> list[Finding]:
    """The per-cell check as it was before the index (suppressed values only)."""
    findings: dict = {}
    by_metric: dict[str, list[SuppressedCell]] = {}
    for cell in facts.suppressed:
        by_metric.setdefault(_norm(cell.metric), []).append(cell)
    digit_labels = sorted(
        {c.group for c in facts.suppressed if any(ch.isdigit() for ch in c.group)}
        | set(facts.labels_with_digits),
        key=len,
        reverse=True,
    )
    for unit in units:
        low = _norm(unit)
        nums = None
        for metric_norm, cells in by_metric.items():
            if metric_norm not in low:
                continue
            if nums is None:
                unwindowed = WINDOW_TEXT.sub(" a window ", low)
                mentioned = set(PERIOD_TEXT.findall(unwindowed)) | (
                    {"a window"} if unwindowed != low else set()
                )
                clean = RULE_TEXT.sub(" ", PERIOD_TEXT.sub(" ", unwindowed))
                for label in digit_labels:
                    clean = _word(label).sub(" ", clean)
                nums = _numbers(clean)
                names_other = any(_word(lab).search(low) for lab in facts.other_labels)
                names_group = any(_word(g).search(low) for g in facts.group_labels)
                named_dims = {_norm(d) for d in facts.dimension_labels if _norm(d) in low}
            if not nums:
                break
            for cell in cells:
                if not nums & cell.numbers:
                    continue
                if cell.group and not _word(cell.group).search(low):
                    continue
                if cell.dimension and named_dims and _norm(cell.dimension) not in named_dims:
                    continue
                if cell.who and not _word(cell.who).search(low):
                    continue
                if not cell.who and names_other:
                    continue
                if not cell.group and names_group:
                    continue
                if mentioned:
                    if not mentioned & set(period_forms(cell.period)):
                        continue
                elif not cell.current:
                    continue
                key = ("suppressed_value", f"{cell.metric}|{cell.group}|{cell.who}|{cell.period}")
                where = " / ".join(x for x in (cell.metric, cell.group, cell.who, cell.period) if x)
                findings.setdefault(
                    key,
                    Finding(
                        "suppressed_value",
                        file,
                        f"the suppressed cell {where} is shown with its true number(s)",
                        NUMBER.sub("#", unit[:200]),
                    ),
                )
    return list(findings.values())


cells = st.builds(
    SuppressedCell,
    metric=st.sampled_from(METRICS),
    group=st.sampled_from(GROUPS),
    numbers=st.frozensets(st.sampled_from([n.replace(",", "") for n in NUMBERS]), max_size=4),
    period=st.sampled_from(PERIODS),
    who=st.sampled_from(WHO),
    dimension=st.sampled_from(DIMENSIONS),
    current=st.booleans(),
)
units = st.lists(st.sampled_from(WORDS), min_size=1, max_size=9).map(" ".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    suppressed=st.lists(cells, max_size=25),
    units=st.lists(units, min_size=1, max_size=12),
    digit_labels=st.lists(st.sampled_from(["Returns within 12 months", "18-24", "98101"])),
)
def test_indexed_matcher_finds_what_the_per_cell_check_finds(suppressed, units, digit_labels):
    facts = audit.PrivacyFacts(
        provider="harbor",
        suppressed=tuple(suppressed),
        labels_with_digits=tuple(digit_labels),
        other_labels=("Peer A", "Peer B", "All providers"),
        group_labels=tuple(g for g in GROUPS if g),
        dimension_labels=tuple(d for d in DIMENSIONS if d),
    )
    assert audit.check_units(units, facts, "f") == _reference(units, facts, "f")
