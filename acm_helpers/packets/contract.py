"""End-of-contract report content: the whole term, in the sections a contract manager needs.

``notebooks/04_end_of_contract.ipynb`` opens the term with :func:`contract_term.open_report` and
calls one function per section (this module, :mod:`acm_helpers.packets.contract_summary` and
:mod:`acm_helpers.packets.contract_trends`); ``acm report --provider X`` (or ``--contract ID``)
runs that notebook through :func:`acm_helpers.packets.render.render_notebook` and writes offline
HTML and PDF (:func:`render_report`).

Sections: the summary and recommendation (first), the manager's narrative, performance over the term against targets and peers; trends (first half of the term
against the second, and quarter by quarter against peers); disparities found and how they
changed; action items and their resolution; roadmap topics covered (before/after); the
performance-improvement sprints (before/during); data quality over the term.

Term: the contract's start month to its end month, clipped to the months the program has data
for (and to ``through`` when the report is drafted before the end). Every value is pooled over
its window by the metrics engine (:func:`acm_helpers.meetings.context.engine_cells`: the
declared metric SQL, the engine's intervals and its suppression), never an average of monthly
rates.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pandas as pd

from acm_helpers.core import text
from acm_helpers.core.calendar import month_label, month_range
from acm_helpers.core.config import load_program
from acm_helpers.core.errors import ConfigError
from acm_helpers.meetings import actions, roadmap
from acm_helpers.meetings.context import Section, cases, engine_cells
from acm_helpers.packets.contract_term import ContractReport, find_provider, term_months
from acm_helpers.packets.contract_trends import window


# -- sections --------------------------------------------------------------------------------------------
def header(rep: ContractReport) -> Section:
    """Who, which contract, which months, for whom."""
    p = rep.provider
    value = text.value(p.contract_value, "currency") if p.contract_value else "not recorded"
    return Section(
        f"End-of-contract report: {p.name}",
        [
            f"Contract {p.contract_id}, {p.start.day} {p.start:%B %Y} to {p.end.day} {p.end:%B %Y}, "
            f"value {value}.",
            f"Data: {month_label(rep.first)} to {month_label(rep.last)} ({len(month_range(rep.first, rep.last))} months).",
            f"Program: {rep.program.name}. Audience: {'agency (internal)' if rep.ctx.audience == 'internal' else 'provider'}.",
            *(
                [
                    "Procurement input (internal): every provider side by side over the term "
                    f"to {month_label(rep.last)}, written by the acm procurement command to "
                    "outputs/procurement/."
                ]
                if rep.ctx.audience == "internal"
                else []
            ),
        ],
        level=1,
    )


def performance(rep: ContractReport) -> Section:
    """Each key metric over the whole term: value, target, peer median, rank."""
    ctx, rows = rep.ctx, []
    key = [mid for mid, m in rep.program.metrics.items() if m.key]
    cells = engine_cells(
        ctx, window(rep.first, rep.last, "term"), key, providers=rep.program.provider_ids
    )
    cells = cells[cells["dimension"] == ""]
    for mid in key:
        m = rep.program.metric(mid)
        s = cells[cells["metric_id"] == mid].reset_index(drop=True)
        rankable = s["value"].where(s["cell_size"] >= ctx.threshold)
        s["rank"] = rankable.rank(ascending=m.direction == "down", method="min")
        own = s[s["provider_id"] == rep.provider.id]
        peers = s[s["provider_id"] != rep.provider.id]["value"].dropna()
        o = (
            own.iloc[0]
            if len(own)
            else pd.Series(
                {
                    "value": np.nan,
                    "denominator": np.nan,
                    "ci_low": np.nan,
                    "ci_high": np.nan,
                    "cell_size": np.nan,
                    "rank": np.nan,
                    "suppressed": False,
                }
            )
        )
        v = o["value"]
        met = (
            "–"
            if m.target is None or pd.isna(v)
            else ("met" if (v >= m.target if m.direction == "up" else v <= m.target) else "not met")
        )
        shown = (
            "suppressed"
            if bool(o["suppressed"])
            else "no cases"
            if pd.isna(v)
            else text.value(v, m.format, m.unit)
        )
        n = cases(o)
        rows.append(
            {
                "metric_id": mid,
                "Metric": m.label,
                "Term value": shown,
                "Cases": text.count(n),
                "Target": text.value(m.target, m.format, m.unit) if m.target is not None else "–",
                "Target met": met,
                "Peer median": text.value(peers.median(), m.format, m.unit) if len(peers) else "–",
                "Rank": "–"
                if pd.isna(o["rank"])
                else f"{o['rank']:.0f} of {int(s['rank'].notna().sum())}",
                "value": v,
                "ci_low": o["ci_low"],
                "ci_high": o["ci_high"],
            }
        )
    table = pd.DataFrame(rows)
    met = table[table["Target met"] == "met"]["Metric"].tolist()
    missed = table[table["Target met"] == "not met"]["Metric"].tolist()
    sentences = [
        f"Over {month_label(rep.first)} to {month_label(rep.last)}, targets met: "
        f"{', '.join(met) or 'none'}; not met: {', '.join(missed) or 'none'}."
    ]
    return Section(
        "Performance over the term",
        sentences,
        [table.drop(columns=["metric_id", "value", "ci_low", "ci_high"])],
        intro="Each key metric pooled over the whole term, against its target and the other providers.",
        note="Values are pooled over the whole term; rank 1 is the best among providers with "
        f"at least {ctx.threshold} cases.",
        data=table,
    )


def action_items(rep: ContractReport) -> Section:
    """Every action item of the term with its resolution, and the counts."""
    items = rep.items[rep.items["provider_id"] == rep.provider.id].copy()
    summary = actions.resolution_summary(items, actions.meeting_date_for(rep.program, rep.last))
    n_meet = int((rep.meetings["provider_id"] == rep.provider.id).sum())
    sentences = [
        f"{text.plural(n_meet, 'meeting')} recorded; {text.plural(summary['recorded'], 'action item')}: "
        f"{summary['closed_on_time']} closed on time, {summary['closed_late']} closed late, "
        f"{summary['open']} still open ({summary['open_overdue']} overdue)."
    ]
    if items.empty:
        return Section("Action items and their resolution", sentences, data=items)
    labels = {k: m.label for k, m in rep.program.metrics.items()}
    show = pd.DataFrame(
        {
            "Item": items["item_id"],
            "Agreed": items["meeting_date"].dt.strftime("%Y-%m-%d"),
            "Action": items["text"],
            "Owner": items["owner"],
            "Metric": items["metric_id"].map(labels).fillna(""),
            "Due": items["due_date"].dt.strftime("%Y-%m-%d"),
            "Status": items["status"],
            "Closed": items["closed_date"].dt.strftime("%Y-%m-%d").fillna(""),
            "Resolution": items["resolution"],
        }
    )
    return Section("Action items and their resolution", sentences, [show], data=items)


def lessons_and_exit_interview(rep: ContractReport) -> Section:
    """The lessons learned over the term (the provider's and the program's) and the exit
    interview: each of the program's questions with the provider's recorded answer, or
    "not yet recorded" (answers go in the meetings file's ``exit_interviews:``)."""
    sentences = [
        f"{text.plural(len(rep.lessons), 'lesson')} recorded over the term."
        if len(rep.lessons)
        else "No lesson recorded over the term."
    ]
    tables = []
    if len(rep.lessons):
        tables.append(
            pd.DataFrame(
                {
                    "Date": rep.lessons["date"].dt.strftime("%Y-%m-%d"),
                    "Lesson": rep.lessons["text"],
                    "For": np.where(rep.lessons["provider_id"] == "", "program", rep.provider.name),
                }
            )
        )
    answers = dict(
        zip(rep.exit_answers.get("question", []), rep.exit_answers.get("answer", []), strict=True)
    )
    questions = list(rep.program.exit_interview.questions)
    questions += [q for q in answers if q not in questions]
    tables.append(
        pd.DataFrame(
            {
                "Exit interview question": questions,
                "Provider's answer": [answers.get(q, "not yet recorded") for q in questions],
            }
        )
    )
    if not len(rep.exit_answers):
        sentences.append(
            "The exit interview is not recorded yet: ask the questions below and record the "
            "answers under exit_interviews: in the meetings file."
        )
    return Section("Lessons learned and exit interview", sentences, tables, data=rep.lessons)


def roadmap_topics(rep: ContractReport) -> Section:
    """Each roadmap topic covered during the term, with its metric before and after."""
    review = roadmap.roadmap_review(rep.ctx)
    review = review[(review["month"] >= rep.first)]
    counts = review["verdict"].value_counts()
    sentences = [
        f"{text.plural(len(review), 'roadmap topic')} covered; afterwards the metric was better in "
        f"{counts.get('better', 0)}, worse in {counts.get('worse', 0)}, with no clear change in "
        f"{counts.get('no clear change', 0)}."
    ]
    return Section(
        "Roadmap topics covered",
        sentences,
        [roadmap.review_display(review, rep.program)],
        intro="Each deep-dive topic of the term, with its metric before and after the meeting.",
        note="Before: the 6 months up to the topic's month; after: up to 6 months since.",
        data=review,
    )


def sprints(rep: ContractReport) -> Section:
    """The performance-improvement sprints of the term this provider took part in: the focus
    metric before and during each, with the engine's intervals
    (:func:`acm_helpers.meetings.sprints.sprint_results`, over the term's episodes)."""
    from acm_helpers.meetings import sprints as sprints_mod

    results = sprints_mod.sprint_results(rep.program, rep.ctx.episodes, rep.last)
    own = results[
        (results["provider_id"] == rep.provider.id)
        & (results["start"] <= rep.last)
        & (results["end"] >= rep.first)
    ]
    if own.empty:
        return Section(
            "Performance-improvement sprints",
            [f"{rep.provider.name} took part in no sprint during the term."],
        )
    table = pd.DataFrame(
        {
            "sprint": own["title"],
            "months": own["during_months"],
            "metric": own["label"],
            "question": own["question"],
            "before": [
                text.interval(r.before_value, r.before_low, r.before_high, r.format, r.unit)
                for r in own.itertuples()
            ],
            "during": [
                text.interval(r.during_value, r.during_low, r.during_high, r.format, r.unit)
                for r in own.itertuples()
            ],
            "change (95% interval)": [
                text.signed(r.difference, r.format, r.unit)
                + (
                    f" ({text.signed_range(r.difference_low, r.difference_high, r.format, r.unit)})"
                    if pd.notna(r.difference_low)
                    else ""
                )
                for r in own.itertuples()
            ],
        }
    )
    return Section(
        "Performance-improvement sprints",
        list(own["sentence"]),
        [table],
        intro="Each sprint of the term: its focus metric over the sprint's months against as "
        "many months before it.",
        data=own.reset_index(drop=True),
    )


def narrative(text: str | None = None, path: str | Path | None = None):
    """The contract manager's narrative: a parameter, a Markdown file, or a placeholder."""
    from IPython.display import Markdown

    heading = "## The contract manager's narrative\n\n"
    if path:
        p = Path(path)
        if not p.exists():
            raise ConfigError(
                f"Narrative file {p} not found; pass --narrative FILE with an existing Markdown file."
            )
        return Markdown(heading + p.read_text(encoding="utf-8"))
    if text:
        return Markdown(heading + text)
    return Markdown(
        heading + "*No narrative yet: the contract manager's account of the term (what went "
        "well, what did not, and why the recommendation above) goes here.*"
    )


# -- rendering (the CLI's entry) ---------------------------------------------------------------------------
TEMPLATE = "contract"  # a registered notebook template (acm_helpers.core.resources.TEMPLATES)


def render_report(
    program_path: str | Path,
    *,
    provider: str | None = None,
    contract: str | None = None,
    data_dir: str | Path | None = None,
    out_dir: str | Path | None = None,
    audience: str = "internal",
    narrative_path: str | Path | None = None,
    through: str | None = None,
    recommendation: str = "",
    conditions: str = "",
    pdf: bool = True,
    template: str | Path | None = None,
):
    """Run the end-of-contract notebook and write ``report.html`` (and ``report.pdf``), offline.

    Relative paths are taken from the working directory, as in the rest of the CLI; the default
    output folder is ``outputs/contracts/<contract id>/``. Returns the packets helper's
    ``RenderResult`` (paths and timings).

    A provider-audience report leaves the agency like a packet: it is rendered into a staging
    folder, leak-checked (:func:`acm_helpers.packets.render.publish_audited`: client ids, other
    providers' names, suppressed values and the differencing check) against the store's
    ``suppressed_truth``, and published only when clean.

    Raises:
        PrivacyError: the provider-audience report would leak (the message names the cells).
    """
    from acm_helpers.packets import render as report

    program_path = Path(program_path).resolve()
    program = load_program(program_path)
    prov = find_provider(program, provider, contract)
    term_months(program, prov, through)  # fail early, before starting a kernel
    from acm_helpers.packets.contract_summary import recommendation_choice

    recommendation = recommendation_choice(recommendation)
    if narrative_path is not None and not Path(narrative_path).exists():
        raise ConfigError(f"Narrative file {narrative_path} not found.")
    here = Path.cwd()
    data = Path(data_dir).resolve() if data_dir else program.data_path(here).resolve()
    out = Path(out_dir) if out_dir else here / "outputs" / "contracts" / prov.contract_id
    params = {
        "program_path": str(program_path),
        "data_dir": str(data),
        "provider": prov.id,
        "audience": audience,
        "through": through or "",
        "narrative_path": str(Path(narrative_path).resolve()) if narrative_path else "",
        "recommendation": recommendation,
        "conditions": conditions or "",
    }
    provider_audience = audience == "provider"  # goes outside the agency: audited first
    staging = (
        out.parent / f".staging-{out.name}-{uuid.uuid4().hex[:8]}" if provider_audience else out
    )
    result = report.render_notebook(
        template or TEMPLATE,
        params,
        staging,
        stem="report",
        pdf=pdf,
        cwd=here,
        title=f"End-of-contract report: {prov.name} ({prov.contract_id})",
        footer=f"{prov.name} · contract {prov.contract_id} · end-of-contract report",
    )
    if not provider_audience:
        return result
    from acm_helpers.metrics import engine
    from acm_helpers.packets import audit_facts
    from acm_helpers.store.store import Store

    store = Store(data)
    engine.refresh(program, store)  # the audit's truth is current (a no-op when it is)
    last = term_months(program, prov, through)[1]
    facts = audit_facts.facts_for(program, store, prov.id, last, output="contract")
    return report.publish_audited(result, out, facts)
