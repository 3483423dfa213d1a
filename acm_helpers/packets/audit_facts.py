"""The facts a provider packet is checked against, gathered from the store and the program: client
ids, the other providers' names and labels, and the true numbers of the cells the engine
suppressed (which must never appear next to those cells).
"""

from __future__ import annotations

import functools
from collections import namedtuple

import pandas as pd

from acm_helpers.packets.audit import HiddenCell, PrivacyFacts, SuppressedCell

OUTPUTS = ("packet", "deep_dive", "contract")
OUTPUT_OF_STEM = {"packet": "packet", "deep_dive": "deep_dive", "report": "contract"}


def output_for(stem: str) -> str:
    """What kind of output a rendered file is, by its stem (``deep_dive.html`` is a deep dive)."""
    return OUTPUT_OF_STEM.get(stem, "packet")


@functools.lru_cache(maxsize=4)
def _client_ids(root: str, stamp: float) -> frozenset[str]:
    from acm_helpers.store.store import Store

    return Store(root).client_ids()


def client_ids(store) -> frozenset[str]:
    """Every client id in the store (cached per process until episodes change)."""
    stamp = store.table_stamp("episodes")
    if stamp is None:
        return frozenset()
    return _client_ids(str(store.root), stamp)


def printed_forms(value: float | None, fmt: str) -> set[str]:
    """The ways a number can be printed in a packet ("7", "43%", "42.9%", "0.43", "$1,200")."""
    if value is None or pd.isna(value):
        return set()
    return set(_printed_forms(float(value), fmt))


@functools.lru_cache(maxsize=65536)
def _printed_forms(v: float, fmt: str) -> frozenset[str]:
    """:func:`printed_forms` of a number, computed once per value (a packet's thousands of
    suppressed cells share few values)."""
    out = {f"{v:.0f}" if v.is_integer() else f"{v:g}"}
    if fmt == "percent":
        out |= {f"{v * 100:.0f}%", f"{v * 100:.1f}%", f"{v:.2f}", f"{v:.3f}"}
    else:
        out |= {f"{v:.0f}", f"{v:.1f}"}
    return frozenset(s.replace(",", "") for s in out)


def facts_for(
    program,
    store,
    provider: str | None,
    period: str,
    truth: pd.DataFrame | None = None,
    equity_period: str = "",
    output: str = "packet",
) -> PrivacyFacts:
    """Build the facts for one provider's output from the store and the program.

    Args:
        truth: the engine's true numbers of the suppressed cells (the store's
            ``suppressed_truth``, written by ``metrics.refresh``); read from the store when None.
        equity_period: the quarter the packet's equity section shows (its cells are "current").
        output: what is checked, which decides what an undated row is about: ``packet`` (the
            month, and the equity quarter's groups), ``deep_dive`` (the topic's own window: no
            stored cell is undated there) or ``contract`` (the contract term).
    """
    if output not in OUTPUTS:
        raise ValueError(f"output {output!r}: use one of {', '.join(OUTPUTS)}")
    others = [p for p in program.providers if p.id != provider]
    anonymized = program.peers.display == "anonymized"
    if provider and truth is None:
        truth = store.suppressed_truth()
    cells = (
        suppressed_truth(program, truth, provider, period, equity_period, output)
        if provider
        else []
    )
    voice = voice_truth(program, store) if provider else None
    if voice is not None and len(voice):
        cells += suppressed_truth(
            program, voice, provider, period, equity_period, output, voice_labels(program)
        )
    own = next((p.name for p in program.providers if p.id == provider), provider or "")
    return PrivacyFacts(
        own_labels=(own,) if provider else (),
        metric_kinds=tuple((m.label, m.kind) for m in program.metrics.values()),
        count_labels=count_labels(program),
        share_groups=tuple(
            (d.label, g) for d in program.dimensions.values() for g in d.reference_shares
        ),
        threshold=program.suppression.threshold,
        undated_period={"packet": period, "deep_dive": "", "contract": "term"}[output],
        hidden=hidden_cells(program, truth, provider) if provider else (),
        labels_with_digits=digit_labels(program, truth, voice),
        other_labels=shown_labels(program, provider) if provider else (),
        group_labels=tuple(
            sorted(
                {
                    str(g)
                    for t in (truth, voice)
                    if t is not None and len(t)
                    for g in t["group"].unique()
                }
                - {""}
            )
        ),
        dimension_labels=tuple(d.label for d in program.dimensions.values()),
        provider=provider or "",
        client_ids=client_ids(store),
        forbidden_names=tuple(p.name for p in others) if anonymized else (),
        forbidden_ids=frozenset(p.id.lower() for p in others) if anonymized else frozenset(),
        suppressed=tuple(cells),
    )


def voice_truth(program, store) -> pd.DataFrame | None:
    """The suppressed survey, response-rate and frontline cells' true numbers (computed at
    packet-build time, so not in the store's ``suppressed_truth``), from the same cached
    evaluation as the packet's client-voice tables; None when the program declares neither."""
    if program.client_voice is None and program.frontline is None:
        return None
    from acm_helpers.metrics import voice as mv

    return mv.stored_voice_truth(program, store)


def voice_labels(program) -> dict[str, tuple[str, str]]:
    """Metric id to (label, format) of the client-voice and frontline metrics."""
    from acm_helpers.metrics import voice as mv

    return mv.voice_metric_labels(program)


def _voice_texts(program) -> set[str]:
    """The client-voice and frontline metrics' labels and definitions ("4 or 5 of 5")."""
    out: set[str] = set()
    if program.client_voice is not None:
        for m in program.client_voice.metrics.values():
            out |= {m.label, m.numerator_label, m.denominator_label, m.definition or ""}
        for rr in program.client_voice.response_rate.values():
            out |= {rr.label, rr.definition}
    if program.frontline is not None:
        out |= set(program.frontline.categories.values())
    return out


def count_labels(program) -> tuple[str, ...]:
    """What a count is printed in front of: rates' and counts' numerator labels, every
    denominator label (a ratio of sums' numerator is money, not a count)."""
    from acm_helpers.metrics.privacy import COUNT_NUMERATOR_KINDS

    out = {m.denominator_label for m in program.metrics.values()}
    out |= {m.numerator_label for m in program.metrics.values() if m.kind in COUNT_NUMERATOR_KINDS}
    return tuple(sorted(x for x in out if x.strip()))


def shown_labels(program, provider: str) -> tuple[str, ...]:
    """Other providers as this provider's packet names them (anonymous labels or names)."""
    from acm_helpers.metrics.privacy import peer_labels

    if program.peers.display == "anonymized":
        labels = list(peer_labels(program, provider).values())
    else:
        labels = [p.name for p in program.providers if p.id != provider]
    return (*labels, "All providers")


def digit_labels(
    program, truth: pd.DataFrame | None, voice: pd.DataFrame | None = None
) -> tuple[str, ...]:
    """Labels that contain digits (age bands, ZIP codes, "within 12 months") and metric
    definitions that do ("... exited 12 months before the period"): never values. Longest
    first, so a definition is removed whole before a label inside it."""
    from acm_helpers.metrics.inputs import band_labels

    labels = {
        lab for dim in program.dimensions.values() if dim.bins for lab in band_labels(dim.bins)
    }
    texts = set(_voice_texts(program))
    for m in program.metrics.values():
        texts |= {m.label, m.numerator_label, m.denominator_label, m.definition or ""}
    labels |= {t for t in texts if any(ch.isdigit() for ch in t)}
    for t in (truth, voice):
        if t is not None and not t.empty:
            labels |= {g for g in t["group"].astype(str).unique() if any(ch.isdigit() for ch in g)}
    return tuple(sorted(labels, key=lambda t: (-len(t), t)))


def suppressed_truth(
    program,
    truth: pd.DataFrame,
    provider: str,
    period: str,
    equity_period: str = "",
    output: str = "packet",
    metric_labels: dict[str, tuple[str, str]] | None = None,
) -> list[SuppressedCell]:
    """The suppressed cells a provider's output could show, each with its true numbers.

    ``metric_labels`` (metric id to label and format) names metrics that are not the program's
    own (client voice, frontline); default: the program's metrics.

    Packet: own cells are every month up to the period and the equity quarter; peers' cells this
    month's overall values, named as the packet names that peer. A cell is "current" (rows need
    not name its period) only where the packet shows that kind of cell without a date: this
    month's overall values (tiles) and the equity quarter's groups (equity tables). Deep dive:
    the same cells, none current (its undated rows are about the topic's window). Contract
    report: own cells of every grain up to the period; only the term's cells are current, and
    peers' term values.
    """
    from acm_helpers.metrics.privacy import ALL, peer_labels

    if truth is None or truth.empty:
        return []
    labels = (
        peer_labels(program, provider)
        if program.peers.display == "anonymized"
        else {p.id: p.name for p in program.providers}
    )
    labels[ALL] = "All providers"
    t = truth
    if output == "contract":
        own = t[(t["provider_id"] == provider) & ((t["grain"] == "term") | (t["period"] <= period))]
        peers = t[(t["provider_id"] != provider) & (t["grain"] == "term") & (t["dimension"] == "")]
    else:
        own = t[
            (t["provider_id"] == provider)
            & (
                ((t["grain"] == "month") & (t["period"] <= period))
                | ((t["grain"] == "quarter") & (t["period"] == equity_period))
            )
        ]
        peers = t[
            (t["provider_id"] != provider)
            & (t["grain"] == "month")
            & (t["period"] == period)
            & (t["dimension"] == "")
        ]
    cells = []
    for rows, is_own in ((own, True), (peers, False)):
        for row in _rows(rows):
            if metric_labels is None:
                metric = program.metric(row.metric_id)
                label, fmt = metric.label, metric.format
            else:
                label, fmt = metric_labels[row.metric_id]
            nums = (
                printed_forms(row.numerator, "number")
                | printed_forms(row.denominator, "number")
                | printed_forms(row.value, fmt)
            )
            cells.append(
                SuppressedCell(
                    metric=label,
                    metric_id=row.metric_id,
                    group=str(row.group or ""),
                    numbers=frozenset(nums),
                    dimension=program.dimension(row.dimension).label if row.dimension else "",
                    period=str(row.period),
                    who="" if is_own else labels.get(row.provider_id, row.provider_id),
                    current=_current(row, output, period, equity_period),
                )
            )
    return cells


def _rows(frame: pd.DataFrame) -> list:
    """The rows of a truth table as named tuples of plain Python values.

    Why not ``itertuples``: the store's string columns are Arrow-backed, and iterating them
    element by element costs most of the facts (issue 17); ``tolist`` converts each column at
    once (a missing value reads None, as ``pd.isna`` and the checks here expect).
    """
    Row = namedtuple("Row", frame.columns)
    return [Row._make(r) for r in zip(*(frame[c].tolist() for c in frame.columns), strict=True)]


def _number(v) -> float | None:
    """A stored count as a float, None where it is missing (``pd.isna`` of one value, without
    its dispatch: the hidden cells call it twice a row, 20,000 rows at 200 providers)."""
    if v is None or v is pd.NA:
        return None
    f = float(v)
    return None if f != f else f  # NaN


def _current(row, output: str, period: str, equity_period: str) -> bool:
    """Whether an output shows this kind of cell without naming its period."""
    if output == "deep_dive":
        return False
    if output == "contract":
        return row.grain == "term"
    return (row.grain == "month" and row.period == period and not row.dimension) or (
        row.grain == "quarter" and row.period == equity_period and bool(row.dimension)
    )


def hidden_cells(program, truth: pd.DataFrame | None, provider: str) -> tuple[HiddenCell, ...]:
    """The suppressed cells a provider's output could publish siblings of, labelled as outputs
    label them (for the differencing check): every own cell, every all-providers cell and the
    other providers' overall values, at every grain."""
    from acm_helpers.metrics.privacy import ALL, peer_labels
    from acm_helpers.packets.audit_diff import ALL_PROVIDERS, DENOMINATOR, NUMERATOR, OWN

    if truth is None or truth.empty:
        return ()
    names = (
        peer_labels(program, provider)
        if program.peers.display == "anonymized"
        else {p.id: p.name for p in program.providers}
    )
    t = truth[
        (truth["provider_id"].isin([provider, ALL]))
        | ((truth["provider_id"] != provider) & (truth["dimension"] == ""))
    ]
    metrics = {mid: (m.label.lower(), m.kind) for mid, m in program.metrics.items()}
    dims = {did: d.label.lower() for did, d in program.dimensions.items()}
    out = []
    for row in _rows(t):
        label, kind = metrics[row.metric_id]
        who = (
            OWN
            if row.provider_id == provider
            else ALL_PROVIDERS
            if row.provider_id == ALL
            else str(names.get(row.provider_id, row.provider_id)).lower()
        )
        out.append(
            HiddenCell(
                metric=label,
                who=who,
                period=str(row.period),
                dimension=dims.get(row.dimension, "") if row.dimension else "",
                group=str(row.group or "").lower(),
                numerator=_number(row.numerator),
                denominator=_number(row.denominator),
                size_role=NUMERATOR if kind == "count" else DENOMINATOR,
            )
        )
    return tuple(out)
