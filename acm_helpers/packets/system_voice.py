"""The internal system packet's client-voice part: common frontline issues across providers and
survey results side by side.

Why a module of its own: the system packet (:mod:`acm_helpers.packets.system`) reads the
episode engine's tables; this part reads the survey and frontline evaluations
(:mod:`acm_helpers.metrics.voice`), internal view, providers named. Free text is not shown here
either: the internal packet lists the report and response ids an analyst may read in the store
and clear (`acm comment clear`).
"""

from __future__ import annotations

import pandas as pd

from acm_helpers.core import stages, text
from acm_helpers.core.calendar import month_name
from acm_helpers.core.schema import ALL
from acm_helpers.metrics import voice as mv
from acm_helpers.packets.packet import Block, esc, html_table
from acm_helpers.packets.system import SystemPacket


def issues_frame(s: SystemPacket) -> pd.DataFrame:
    """One row per frontline category this month: reports across providers, how many providers
    had any, and the providers whose count is a special cause for concern (rising)."""
    fl = mv.stored_frontline_values(s.program, s.store)
    if fl.empty:
        return pd.DataFrame()
    month = fl[(fl["grain"] == "month") & (fl["period"] == s.period) & (fl["dimension"] == "")]
    names = {p.id: p.name for p in s.program.providers}
    rows = []
    for cat, label in s.program.frontline.categories.items():
        g = month[month["metric_id"] == mv.frontline_metric_id(cat)]
        own = g[g["provider_id"] != ALL]
        rising = own[own["spc_signal"] == "concern"]
        rows.append(
            {
                "category": label,
                "reports": float(own["numerator"].sum()),
                "providers_reporting": int((own["numerator"] > 0).sum()),
                "rising_at": ", ".join(names[p] for p in rising["provider_id"]),
            }
        )
    out = pd.DataFrame(rows)
    return out.sort_values(["providers_reporting", "reports"], ascending=False, ignore_index=True)


@stages.section("system client voice")
def common_issues(s: SystemPacket) -> Block:
    """Frontline reports across providers this month, the most widespread first, with the
    providers where a category is rising; and each provider's survey satisfaction."""
    out = [
        f"<h2>Client voice and frontline reports, {esc(month_name(s.period))}</h2>",
        "<p>Frontline caseworkers' reports this month across all providers, the most widespread "
        "issue first; <em>rising at</em> names the providers where the category's monthly count "
        "is a special cause for concern. Then each provider's survey results. Free-text "
        "comments are not shown: read them in the store and clear one for a provider's packet "
        "with <code>acm comment clear</code>.</p>",
    ]
    issues = issues_frame(s)
    if issues.empty:
        out.append("<p>No frontline report loaded.</p>")
    else:
        n = len(s.program.providers)
        out.append(
            html_table(
                [
                    [
                        r.category,
                        text.count(r.reports),
                        f"{r.providers_reporting} of {n}",
                        r.rising_at or "none",
                    ]
                    for r in issues.itertuples()
                ],
                ["Frontline category", "Reports", "Providers with reports", "Rising at"],
                num={1},
            )
        )
    sv, _ = mv.stored_survey_tables(s.program, s.store)
    if not sv.empty:
        out.append(survey_table(s, sv))
    summary = (
        "; ".join(
            f"{r.category}: rising at {r.rising_at}" for r in issues.itertuples() if r.rising_at
        )
        if not issues.empty
        else ""
    )
    return Block("client voice", "\n".join(out), summary)


def survey_table(s: SystemPacket, sv: pd.DataFrame) -> str:
    """Providers (rows, the program last) x survey measures (columns) this month; a special
    cause is marked beside its value."""
    cv = s.program.client_voice
    mids = [*cv.metrics, *cv.response_rate]
    month = sv[(sv["grain"] == "month") & (sv["period"] == s.period) & (sv["dimension"] == "")]
    cells = {(r.provider_id, r.metric_id): r for r in month.itertuples()}
    labels = [next((r.label for r in month.itertuples() if r.metric_id == m), m) for m in mids]
    marks = {"concern": " (special cause for concern)", "improvement": " (improvement)"}
    rows = []
    for pid, name in [(p.id, p.name) for p in s.program.providers] + [(ALL, "All providers")]:
        row = [name]
        for mid in mids:
            r = cells.get((pid, mid))
            if r is None:
                row.append("–")
            elif r.suppressed:
                row.append("suppressed")
            else:
                row.append(text.value(r.value, r.format, r.unit) + marks.get(r.spc_signal, ""))
        rows.append(row)
    return html_table(rows, ["Provider", *labels], num=set(range(1, len(mids) + 1)))
