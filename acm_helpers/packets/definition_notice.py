"""The packet's notice of changed metric definitions (shown in the definitions section).

Why in the packet: a provider compares this month's number with last year's packets; when the
program changed what a metric counts, the packet must say so, from which month, and what the
old and new definitions were (with their versions), or the comparison misleads. The changes
come from the store's definitions history (:mod:`acm_helpers.metrics.definitions`).
"""

from __future__ import annotations

from acm_helpers.core.calendar import month_name
from acm_helpers.metrics.definitions import FIELD_NAMES, DefinitionChange, definition_changes
from acm_helpers.packets.packet import Packet, esc, html_table


def change_html(change: DefinitionChange) -> str:
    """One change: what changed from which month, the versions, and the old and new text of
    each field that differs."""
    month = month_name(change.from_period)
    method = (
        f"engine method {esc(change.new_method)}"
        if change.old_method == change.new_method
        else f"engine method {esc(change.old_method)} → {esc(change.new_method)}"
    )
    rows = [
        [
            esc(FIELD_NAMES.get(f, f)),
            esc(change.old.get(f) or "–"),
            esc(change.new.get(f) or "–"),
        ]
        for f in change.changed_fields
    ]
    return (
        f'<div class="acm-definition-change" data-metric="{esc(change.metric_id)}">'
        f"<p><strong>{esc(change.label)}</strong>: definition changed from {esc(month)} "
        f"(version {esc(change.old_hash)} → {esc(change.new_hash)}; {method}). "
        "Every month shown in this packet is computed with the definition in force now.</p>"
        + html_table(
            rows,
            ["", "Before", f"From {month}"],
            caption=f"{change.label}: definition before and from {month}",
        )
        + "</div>"
    )


def definition_notice(p: Packet) -> str:
    """HTML of every recorded definition change of the program's metrics, latest first; empty
    when no definition ever changed."""
    changes = definition_changes(p.program, p.store, p.period)
    if not changes:
        return ""
    return (
        '<section class="acm-definition-changes"><h3>Changed definitions</h3>'
        + "".join(change_html(c) for c in changes)
        + "</section>"
    )
