"""The portfolio triage as HTML: the ranked list, the rule, the tiers, sprints and rotation.

Why in views: the internal system packet and the staff explorer show the same table, and
neither may import the other (ARCHITECTURE.md, import rule); both hand this module the frames
:mod:`acm_helpers.meetings.triage` and :mod:`acm_helpers.meetings.sprints` computed. Every text
from a frame is escaped here; nothing is computed but layout.
"""

from __future__ import annotations

from html import escape

import pandas as pd

CSS = """<style>
.acm-triage {font-size:13px;color:#1f2933;}
.acm-triage table {border-collapse:collapse;width:100%;margin:6px 0 12px 0;}
.acm-triage th {text-align:left;background:#f5f7fa;border-bottom:2px solid #cbd2d9;padding:4px 8px;
  font-size:12px;vertical-align:bottom;}
.acm-triage td {border-bottom:1px solid #e4e7eb;padding:5px 8px;vertical-align:top;}
.acm-triage td.num {text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums;}
.acm-triage .score {font-size:16px;font-weight:600;}
.acm-triage .tier {display:inline-block;padding:1px 8px;border-radius:10px;font-weight:600;
  white-space:nowrap;}
.acm-triage .tier-0 {background:#fde8e8;color:#8a1c1c;border:1px solid #f3b4b4;}
.acm-triage .tier-1 {background:#fdf1e7;color:#8a4500;border:1px solid #f0c9a3;}
.acm-triage .tier-2 {background:#eef2f6;color:#3e4c59;border:1px solid #cbd2d9;}
.acm-triage .sub {color:#52606d;font-size:12px;}
.acm-triage .move-up {color:#8a1c1c;font-weight:600;} .acm-triage .move-down {color:#1f7a4d;font-weight:600;}
.acm-triage .move-same, .acm-triage .move-new {color:#52606d;}
.acm-triage ul {margin:0;padding-left:16px;} .acm-triage li {margin:1px 0;}
.acm-triage .pts {font-weight:600;white-space:nowrap;}
.acm-triage .rule {color:#6b7785;font-size:11px;}
.acm-triage .good {color:#1f7a4d;font-weight:600;} .acm-triage .plain {color:#52606d;}
</style>"""
MOVE_WORDS = {
    "up": "▲ up a tier",
    "down": "▼ down a tier",
    "same": "same tier",
    "new": "first review",
}


def _pts(x: float) -> str:
    x = round(float(x), 1)
    return f"{x:g}"


def ranked_table(review: pd.DataFrame, tier_order: list[str], previous_name: str | None) -> str:
    """The ranked list: rank, contract, score, tier and cadence, move, and each criterion's
    points with what was found and how the points follow (the rule beside the score)."""
    level = {t: i for i, t in enumerate(tier_order)}
    points = review.attrs.get("points")
    labels = dict(zip(review["tier"], review["tier_label"], strict=False))
    head = (
        "<tr><th>#</th><th>Contract</th><th>Points</th><th>Tier</th>"
        f"<th>Since {escape(previous_name) if previous_name else 'last quarter'}</th>"
        "<th>Why: each criterion's points</th></tr>"
    )
    body = []
    for r in review.itertuples():
        tier_cls = f"tier-{min(level.get(r.tier, 2), 2)}"
        crit = ""
        if points is not None:
            mine = points[(points["provider_id"] == r.provider_id) & (points["points"] > 0)]
            mine = mine.sort_values("points", ascending=False, kind="stable")
            crit = "".join(
                f'<li><span class="pts">{_pts(p.points)}</span> {escape(p.heading)}: '
                f'{escape(str(p.found))} <span class="rule">({escape(p.rule)})</span></li>'
                for p in mine.itertuples()
            )
        move = getattr(r, "move", "new")
        prev = getattr(r, "previous_tier", "")
        score_before = getattr(r, "previous_score", None)
        was = ""
        if prev:
            tier_before = escape(labels.get(prev, prev))
            then = f"{_pts(score_before)} points" if pd.notna(score_before) else ""
            was = (
                f'<div class="sub">was {tier_before}, {then}</div>'
                if move != "same"
                else f'<div class="sub">{then} then</div>'
            )
        why = getattr(r, "why", "")
        reason = why.split(": ", 1)[1] if move in ("up", "down") and ": " in why else ""
        body.append(
            "<tr>"
            f'<td class="num">{r.rank}</td>'
            f'<td><b>{escape(r.provider)}</b><div class="sub">{escape(r.contract_id)}</div></td>'
            f'<td class="num"><span class="score">{_pts(r.score)}</span></td>'
            f'<td><span class="tier {tier_cls}">{escape(r.tier_label)}</span>'
            f'<div class="sub">{escape(CADENCE.get(r.cadence, r.cadence))}</div></td>'
            f'<td><span class="move-{move}">{escape(MOVE_WORDS.get(move, move))}</span>{was}'
            + (f'<div class="sub">{escape(reason)}</div>' if reason else "")
            + f"</td><td><ul>{crit or '<li>nothing scored</li>'}</ul></td></tr>"
        )
    return f"<table><thead>{head}</thead><tbody>{''.join(body)}</tbody></table>"


CADENCE = {
    "monthly": "meets monthly",
    "quarterly": "meets quarterly",
    "semiannual": "meets twice a year",
    "annual": "meets once a year",
}


def rule_table(rule: list[tuple[str, str, str]], tiers: list[tuple[str, str, str, str]]) -> str:
    """The rule as declared in the program file, and the tiers with their cadence."""
    rows = "".join(
        f"<tr><td>{escape(area)}</td><td>{escape(h)}</td><td>{escape(how)}</td></tr>"
        for area, h, how in rule
    )
    tier_rows = "".join(
        f"<tr><td><b>{escape(label)}</b></td><td>{escape(span)} points</td><td>{escape(cad)}</td>"
        f"<td>{escape(desc)}</td></tr>"
        for label, span, cad, desc in tiers
    )
    return (
        "<h3>How the score is built</h3>"
        "<table><thead><tr><th>Area</th><th>Criterion</th><th>Points</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
        "<table><thead><tr><th>Tier</th><th>Score</th><th>Cadence</th><th>What it means</th>"
        f"</tr></thead><tbody>{tier_rows}</tbody></table>"
    )


def sprint_table(
    results: pd.DataFrame, title: str = "Performance-improvement sprints", standalone: bool = True
) -> str:
    """Each sprint and provider: question, months, before and during with intervals, verdict.

    ``standalone``: with this module's style around it (a packet section of its own); False
    inside :func:`portfolio_html`, which carries the style once."""
    if results is None or results.empty:
        return ""
    rows = []
    for r in results.itertuples():
        verdict = (
            '<span class="good">improved beyond chance</span>'
            if r.improved is True or (isinstance(r.improved, bool) and r.improved)
            else '<span class="plain">'
            + ("planned" if r.status == "planned" else "not clearly beyond chance")
            + "</span>"
        )
        rows.append(
            f"<tr><td><b>{escape(r.title)}</b><div class='sub'>{escape(r.provider)} · "
            f"{escape(r.label)} · {escape(r.status)}</div><div class='sub'>{escape(r.question)}</div></td>"
            f"<td>{escape(r.sentence)}</td><td>{verdict}</td></tr>"
        )
    table = (
        f"<h3>{escape(title)}</h3><table><thead><tr><th>Sprint</th><th>Before and during "
        "(the engine's values, 95% intervals)</th><th>Result</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )
    return f'{CSS}<div class="acm-triage">{table}</div>' if standalone else table


def rotation_list(plan: pd.DataFrame) -> str:
    """Next quarter's proposed sprint providers, each with why."""
    name = plan.attrs.get("quarter_name", "next quarter")
    resting = plan.attrs.get("resting", {})
    items = "".join(
        f"<li><b>{escape(r.provider)}</b> ({escape(r.tier)}): {escape(r.why)}</li>"
        for r in plan.itertuples()
    )
    rest = (
        f'<div class="sub">Not proposed, resting after a sprint: {escape(", ".join(sorted(resting)))}.</div>'
        if resting
        else ""
    )
    return (
        f"<h3>Proposed sprints for {escape(name)}</h3>"
        f"<ul>{items or '<li>none: no sprint slots are declared</li>'}</ul>{rest}"
    )


def portfolio_html(
    review: pd.DataFrame,
    rule: list[tuple[str, str, str]],
    tiers: list[tuple[str, str, str, str]],
    tier_order: list[str],
    results: pd.DataFrame,
    plan: pd.DataFrame,
    *,
    heading: str,
    previous_name: str | None,
) -> str:
    """The whole portfolio view, as one HTML fragment (its own scoped style)."""
    return (
        f'{CSS}<div class="acm-triage"><h2>{escape(heading)}</h2>'
        '<p class="sub">Highest score first. Each contract\'s points are listed beside its score; '
        "the tier sets how often the agency meets the provider.</p>"
        f"{ranked_table(review, tier_order, previous_name)}"
        f"{sprint_table(results, standalone=False)}{rotation_list(plan)}{rule_table(rule, tiers)}</div>"
    )
