"""End-of-contract report content: the whole term, in the sections a contract manager needs.

``notebooks/04_end_of_contract.ipynb`` calls one function per section; ``acm report --provider X``
(or ``--contract ID``) runs that notebook through :func:`acm_helpers.report.render_notebook` and
writes offline HTML and PDF (:func:`render_report`).

Sections: performance over the term against targets and peers; trends (first half of the term
against the second, and quarter by quarter against peers); disparities found and how they
changed; action items and their resolution; roadmap topics covered (before/after); data quality
over the term; and the manager's narrative (a parameter or a Markdown file).

Term: the contract's start month to its end month, clipped to the months the program has data
for (and to ``through`` when the report is drafted before the end). Every value is pooled over
its window from episodes with the declared metric SQL, never an average of monthly rates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from acm_helpers import actions, charts, deepdive, roadmap
from acm_helpers import episode_metrics as em
from acm_helpers.config import Program, Provider, load_program, month_range, period_bounds
from acm_helpers.deepdive_base import (
    DeepDiveContext,
    Section,
    finish,
    fmt,
    month_label,
    signed_points,
    signed_value,
)
from acm_helpers.exceptions import ConfigError, UnknownIdError

QUALITY_FIELDS = ("race_ethnicity", "zip", "referral_date", "exit_destination")


@dataclass(frozen=True)
class ContractReport:
    """What every section reads: the deep-dive context at the end of the term, the term's
    months, and the meeting-cycle tables."""

    ctx: DeepDiveContext
    provider: Provider
    first: str
    last: str
    items: pd.DataFrame = field(repr=False)
    meetings: pd.DataFrame = field(repr=False)
    quality: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def program(self) -> Program:
        return self.ctx.program

    @property
    def halves(self) -> tuple[tuple[str, str], tuple[str, str]]:
        """(first, mid) and (mid+1, last): the two halves of the term compared for trends."""
        months = month_range(self.first, self.last)
        mid = len(months) // 2
        return (months[0], months[mid - 1]), (months[mid], months[-1])


def find_provider(program: Program, provider_id: str | None = None, contract_id: str | None = None) -> Provider:
    """The provider named by id or by contract id (exactly one of the two)."""
    if (provider_id is None) == (contract_id is None):
        raise ConfigError("Give exactly one of --provider ID or --contract ID.")
    if provider_id is not None:
        return program.provider(provider_id)
    for p in program.providers:
        if p.contract_id == contract_id:
            return p
    raise UnknownIdError("contract", contract_id, [p.contract_id for p in program.providers])


def term_months(program: Program, provider: Provider, through: str | None = None) -> tuple[str, str]:
    """First and last month of the contract term that the program has data for."""
    first = max(f"{provider.start:%Y-%m}", program.first_period)
    last = min(f"{provider.end:%Y-%m}", program.last_period, through or program.last_period)
    if first > last:
        raise ConfigError(f"Contract {provider.contract_id} ({provider.start} to {provider.end}) has no months "
                          f"with data in {program.first_period}..{program.last_period}.")
    return first, last


def make_report(program: Program, episodes: pd.DataFrame, provider_id: str, *, items: pd.DataFrame,
                meetings: pd.DataFrame, quality: pd.DataFrame | None = None, audience: str = "internal",
                through: str | None = None) -> ContractReport:
    """Assemble the report's inputs from frames (pure; tests use this)."""
    provider = program.provider(provider_id)
    first, last = term_months(program, provider, through)
    ctx = deepdive.make_context(program, episodes, provider_id, last, audience)
    return ContractReport(ctx, provider, first, last, items, meetings, quality)


def open_report(program_path: str | Path, data_dir: str | Path | None, provider: str | None = None,
                contract: str | None = None, audience: str = "internal",
                through: str | None = None) -> ContractReport:
    """Load the program and the store: the end-of-contract notebook's first call (paths resolve
    as in the intake notebook, :func:`acm_helpers.intake.open_store`)."""
    from acm_helpers.intake import open_store

    program, store = open_store(program_path, data_dir or None)
    prov = find_provider(program, provider or None, contract or None)
    quality = store.read_table("quality") if store.has_table("quality") else None
    return make_report(program, store.episodes(), prov.id, items=actions.read_actions(store),
                       meetings=actions.read_meetings(store), quality=quality, audience=audience,
                       through=through or None)


# -- sections --------------------------------------------------------------------------------------------
def header(rep: ContractReport) -> Section:
    """Who, which contract, which months, for whom."""
    p = rep.provider
    value = f"${p.contract_value:,.0f}" if p.contract_value else "not recorded"
    return Section(f"End-of-contract report: {p.name}", [
        f"Contract {p.contract_id}, {p.start:%d %B %Y} to {p.end:%d %B %Y}, value {value}.",
        f"Data: {month_label(rep.first)} to {month_label(rep.last)} ({len(month_range(rep.first, rep.last))} months).",
        f"Program: {rep.program.name}. Audience: {'agency (internal)' if rep.ctx.audience == 'internal' else 'provider'}."])


def _window(first: str, last: str, label: str) -> pd.DataFrame:
    return em.windows([(label, period_bounds(first)[0], period_bounds(last)[1])])


def performance(rep: ContractReport) -> Section:
    """Each key metric over the whole term: value, target, peer median, rank."""
    ctx, rows = rep.ctx, []
    for mid, m in rep.program.metrics.items():
        if not m.key:
            continue
        s = em.summarize(em.metric_rows(ctx.episodes, m, _window(rep.first, rep.last, "term")), m, ["provider_id"])
        s = finish(ctx, s, None)
        rankable = s["value"].where(s["denominator"] >= ctx.threshold)
        s["rank"] = rankable.rank(ascending=m.direction == "down", method="min")
        own = s[s["provider_id"] == rep.provider.id]
        peers = s[s["provider_id"] != rep.provider.id]["value"].dropna()
        o = own.iloc[0] if len(own) else pd.Series({"value": np.nan, "denominator": np.nan, "rank": np.nan,
                                                     "suppressed": False})
        v = o["value"]
        met = "–" if m.target is None or pd.isna(v) else (
            "met" if (v >= m.target if m.direction == "up" else v <= m.target) else "not met")
        shown = "suppressed" if bool(o["suppressed"]) else "no cases" if pd.isna(v) else fmt(v, m)
        rows.append({"metric_id": mid, "Metric": m.label, "Term value": shown,
                     "Cases": "–" if pd.isna(o["denominator"]) else f"{o['denominator']:,.0f}",
                     "Target": fmt(m.target, m) if m.target is not None else "–", "Target met": met,
                     "Peer median": fmt(peers.median(), m) if len(peers) else "–",
                     "Rank": "–" if pd.isna(o["rank"]) else f"{o['rank']:.0f} of {int(s['rank'].notna().sum())}"})
    table = pd.DataFrame(rows)
    met = table[table["Target met"] == "met"]["Metric"].tolist()
    missed = table[table["Target met"] == "not met"]["Metric"].tolist()
    sentences = [f"Over {month_label(rep.first)} to {month_label(rep.last)}, targets met: "
                 f"{', '.join(met) or 'none'}; not met: {', '.join(missed) or 'none'}."]
    return Section("Performance over the term", sentences, [table.drop(columns="metric_id")],
                   intro="Each key metric pooled over the whole term, against its target and the other providers.",
                   note="Values are pooled over the whole term; rank 1 is the best among providers with "
                        f"at least {ctx.threshold} cases.", data=table)


def trends(rep: ContractReport) -> Section:
    """First half of the term against the second, and each key metric by quarter with peers."""
    ctx = rep.ctx
    (a1, a2), (b1, b2) = rep.halves
    sentences, out_rows, chart_list = [], [], []
    quarters = _quarters(rep.first, rep.last)
    for mid, m in rep.program.metrics.items():
        if not m.key:
            continue
        wins = pd.concat([_window(a1, a2, "first"), _window(b1, b2, "second")], ignore_index=True)
        s = finish(ctx, em.summarize(em.metric_rows(ctx.episodes, m, wins, rep.provider.id), m, ["window"]),
                   ["window"]).set_index("window").reindex(["first", "second"])
        if s["suppressed"].fillna(True).any() or s["value"].isna().any():
            sentences.append(f"{m.label}: too few cases in one half of the term to compare.")
            continue
        f_, s_ = s.loc["first"], s.loc["second"]
        verdict, ci = "no clear change", ""
        if m.kind == "rate":
            c = em.compare_rates(s_["value"] * s_["denominator"], s_["denominator"],
                                 f_["value"] * f_["denominator"], f_["denominator"])
            ci = f" (95% interval {signed_points(c['diff_low'], unit=False)} to {signed_points(c['diff_high'])})"
            if c["diff_low"] > 0 or c["diff_high"] < 0:
                verdict = "improved" if (c["difference"] > 0) == (m.direction == "up") else "worsened"
        d = s_["value"] - f_["value"]
        diff = signed_value(d, m)
        sentences.append(f"{m.label}: {fmt(f_['value'], m)} in {month_label(a1)}–{month_label(a2)}, "
                         f"{fmt(s_['value'], m)} in {month_label(b1)}–{month_label(b2)}: {diff}{ci}; {verdict}.")
        out_rows.append({"metric_id": mid, "first": f_["value"], "second": s_["value"], "change": d, "verdict": verdict})
        if m.kind in ("rate", "median"):
            chart_list.append(charts.trend_chart(_quarterly(ctx, m, quarters), title=f"{m.label}, by quarter",
                                                 fmt=m.format, target=m.target, height=160))
    return Section("Trends over the term", sentences, charts=chart_list,
                   intro="The first half of the term against the second, and each metric by quarter.",
                   note="Quarterly values are pooled over each quarter; the band is the other providers' middle half.",
                   data=pd.DataFrame(out_rows, columns=["metric_id", "first", "second", "change", "verdict"]))


def _quarters(first: str, last: str) -> list[tuple[str, str, str]]:
    out: dict[str, list[str]] = {}
    for p in month_range(first, last):
        y, mo = map(int, p.split("-"))
        out.setdefault(f"{y}-Q{(mo - 1) // 3 + 1}", []).append(p)
    return [(q, ms[0], ms[-1]) for q, ms in out.items()]


def _quarterly(ctx: DeepDiveContext, m, quarters) -> pd.DataFrame:
    wins = em.windows([(q, period_bounds(a)[0], period_bounds(b)[1]) for q, a, b in quarters])
    s = em.summarize(em.metric_rows(ctx.episodes, m, wins), m, ["window", "provider_id"])
    own = finish(ctx, s[s["provider_id"] == ctx.provider_id], None)
    peers = finish(ctx, s[s["provider_id"] != ctx.provider_id], ["window"]).groupby("window")["value"]
    q = pd.DataFrame({"peer_q1": peers.quantile(0.25), "peer_median": peers.median(), "peer_q3": peers.quantile(0.75)})
    out = pd.DataFrame({"period": [q_ for q_, _, _ in quarters]})
    return out.merge(own.rename(columns={"window": "period"})[["period", "value", "ci_low", "ci_high"]],
                     on="period", how="left").merge(q, left_on="period", right_index=True, how="left")


def disparities(rep: ContractReport) -> Section:
    """Gaps flagged in either half of the term, for each key rate metric and each dimension with a
    reference group, and whether they narrowed, widened or held."""
    ctx = rep.ctx
    (a1, a2), (b1, b2) = rep.halves
    wins = pd.concat([_window(a1, a2, "first"), _window(b1, b2, "recent")], ignore_index=True)
    rows = []
    for m in rep.program.metrics.values():
        if not (m.key and m.kind == "rate"):
            continue
        for dim in rep.program.dimensions.values():
            if dim.reference_group is None or dim.column not in ctx.episodes.columns:
                continue
            r = em.metric_rows(ctx.episodes, m, wins, rep.provider.id)
            if r.empty:
                continue
            r[dim.column] = r[dim.column].fillna("Not recorded")
            t = em.summarize(r, m, ["window", dim.column]).rename(columns={dim.column: "group"})
            ref, _ = deepdive.reference_group(t, dim.reference_group, ctx.threshold)
            t = deepdive.with_gaps(finish(ctx, t, ["window"]), m, ref, ctx.threshold)
            wide = t.pivot_table(index="group", columns="window", values=["difference", "flagged"], aggfunc="first")
            for group in wide.index:
                flags = {w: bool(wide.loc[group, ("flagged", w)]) if ("flagged", w) in wide.columns else False
                         for w in ("first", "recent")}
                if not any(flags.values()):
                    continue
                d1 = wide.loc[group].get(("difference", "first"), np.nan)
                d2 = wide.loc[group].get(("difference", "recent"), np.nan)
                change = ("only one half has a gap" if pd.isna(d1) or pd.isna(d2)
                          else "held" if abs(d2 - d1) < 0.02 else "reversed" if np.sign(d1) != np.sign(d2)
                          else "narrowed" if abs(d2) < abs(d1) else "widened")
                rows.append({"Metric": m.label, "Breakdown": dim.label, "Group": group, "Reference": ref,
                             f"Gap {month_label(a1)}–{month_label(a2)}": signed_points(d1),
                             f"Gap {month_label(b1)}–{month_label(b2)}": signed_points(d2),
                             "Flagged in": ("both halves" if all(flags.values()) else
                                            "first half" if flags["first"] else "second half"),
                             "Change": change})
    table = pd.DataFrame(rows)
    if not table.empty:  # gaps flagged in both halves first: they are the ones to trust
        table = table.assign(_both=table["Flagged in"] == "both halves").sort_values(
            "_both", ascending=False, kind="mergesort").drop(columns="_both").reset_index(drop=True)
    if table.empty:
        sentences = ["No disparity was flagged in either half of the term (a gap is flagged when both groups "
                     f"have at least {ctx.threshold} cases and its 95% interval excludes zero)."]
    else:
        g1, g2 = table.columns[4], table.columns[5]
        sentences = [f"{r['Metric']}, {r['Group']} against {r['Reference']}: {r[g1]} then {r[g2]} "
                     f"(flagged in {'the ' if r['Flagged in'] != 'both halves' else ''}{r['Flagged in']}; "
                     f"{'the gap ' if r['Change'] != 'only one half has a gap' else ''}{r['Change']})."
                     for _, r in table.iterrows()]
    return Section("Disparities found and how they changed", sentences, [table] if not table.empty else [],
                   intro="Gaps between groups flagged in either half of the term, and what happened to them.",
                   note="Gap = group's rate minus the reference group's, in percentage points. Many groups "
                        "are compared, so a few gaps are flagged by chance alone; a gap flagged in both "
                        "halves of the term is the one to trust. Not recorded and Unknown are never flagged.",
                   data=table)


def action_items(rep: ContractReport) -> Section:
    """Every action item of the term with its resolution, and the counts."""
    items = rep.items[rep.items["provider_id"] == rep.provider.id].copy()
    summary = actions.resolution_summary(items, actions.meeting_date_for(rep.program, rep.last))
    n_meet = int((rep.meetings["provider_id"] == rep.provider.id).sum())
    sentences = [f"{n_meet} meeting(s) recorded; {summary['recorded']} action item(s): "
                 f"{summary['closed_on_time']} closed on time, {summary['closed_late']} closed late, "
                 f"{summary['open']} still open ({summary['open_overdue']} overdue)."]
    if items.empty:
        return Section("Action items and their resolution", sentences, data=items)
    labels = {k: m.label for k, m in rep.program.metrics.items()}
    show = pd.DataFrame({"Item": items["item_id"], "Agreed": items["meeting_date"].dt.strftime("%Y-%m-%d"),
                         "Action": items["text"], "Owner": items["owner"], "Metric": items["metric_id"].map(labels).fillna(""),
                         "Due": items["due_date"].dt.strftime("%Y-%m-%d"), "Status": items["status"],
                         "Closed": items["closed_date"].dt.strftime("%Y-%m-%d").fillna(""),
                         "Resolution": items["resolution"]})
    return Section("Action items and their resolution", sentences, [show], data=items)


def roadmap_topics(rep: ContractReport) -> Section:
    """Each roadmap topic covered during the term, with its metric before and after."""
    review = roadmap.roadmap_review(rep.ctx)
    review = review[(review["month"] >= rep.first)]
    counts = review["verdict"].value_counts()
    sentences = [f"{len(review)} roadmap topic(s) covered; afterwards the metric was better in "
                 f"{counts.get('better', 0)}, worse in {counts.get('worse', 0)}, with no clear change in "
                 f"{counts.get('no clear change', 0)}."]
    return Section("Roadmap topics covered", sentences, [roadmap.review_display(review, rep.program)],
                   intro="Each deep-dive topic of the term, with its metric before and after the meeting.",
                   note="Before: the 6 months up to the topic's month; after: up to 6 months since.", data=review)


def data_quality(rep: ContractReport) -> Section:
    """Completeness of key fields by quarter (from the episodes) and, when intake logged them,
    rejected rows and late submissions."""
    eps = rep.ctx.episodes[rep.ctx.episodes["provider_id"] == rep.provider.id]
    rows = []
    for q, a, b in _quarters(rep.first, rep.last):
        start, end = pd.Timestamp(period_bounds(a)[0]), pd.Timestamp(period_bounds(b)[1])
        e = eps[(eps["enrollment_date"] >= start) & (eps["enrollment_date"] <= end)]
        for f in QUALITY_FIELDS:
            if f not in e.columns or e.empty:
                continue
            base = e[e["exit_date"].notna()] if f == "exit_destination" else e
            if len(base):
                rows.append({"period": q, "field": f, "completeness": float(base[f].notna().mean()), "n": len(base)})
    comp = pd.DataFrame(rows, columns=["period", "field", "completeness", "n"])
    sentences = []
    for f, g in comp.groupby("field", sort=False):
        first, last = g.iloc[0], g.iloc[-1]
        drop = first["completeness"] - last["completeness"]
        trend = "fell" if drop > 0.05 else "rose" if drop < -0.05 else "held"
        sentences.append(f"{f}: {first['completeness']:.0%} filled in {first['period']}, "
                         f"{last['completeness']:.0%} in {last['period']} ({trend}).")
    wide = comp.pivot(index="period", columns="field", values="completeness")
    wide.columns.name = None
    tables = [wide.map(lambda v: "–" if pd.isna(v) else f"{v:.0%}").reset_index().rename(columns={"period": "Quarter"})]
    if rep.quality is not None and not rep.quality.empty:
        qt = rep.quality[(rep.quality["provider_id"] == rep.provider.id)
                         & rep.quality["period"].between(rep.first, rep.last)]
        qt = qt.drop_duplicates(["period", "check", "field"], keep="last")
        rejected = qt[(qt["check"] == "rows") & (qt["field"] == "rejected")]["value"].sum()
        late = qt[(qt["check"] == "timeliness")]["value"]
        sentences.append(f"Intake: {rejected:,.0f} row(s) rejected over the term; {int((late > 0).sum())} of "
                         f"{late.notna().sum()} submissions late (at most {late.max():.0f} days)."
                         if late.notna().any() else f"Intake: {rejected:,.0f} row(s) rejected over the term.")
    chart = charts.completeness_chart(comp, title="Share of episodes with each field filled in, by quarter")
    return Section("Data quality over the term", sentences, tables, [chart], data=comp,
                   intro="How complete the provider's records were, quarter by quarter.")


def narrative(text: str | None = None, path: str | Path | None = None):
    """The contract manager's narrative: a parameter, a Markdown file, or a placeholder."""
    from IPython.display import Markdown

    heading = "## The contract manager's narrative\n\n"
    if path:
        p = Path(path)
        if not p.exists():
            raise ConfigError(f"Narrative file {p} not found; pass --narrative FILE with an existing Markdown file.")
        return Markdown(heading + p.read_text(encoding="utf-8"))
    if text:
        return Markdown(heading + text)
    return Markdown(heading + "*No narrative provided. The contract manager adds it with "
                    "`acm report --provider ID --narrative FILE.md`.*")


# -- rendering (the CLI's entry) ---------------------------------------------------------------------------
TEMPLATE = Path(__file__).resolve().parents[1] / "notebooks" / "04_end_of_contract.ipynb"


def render_report(program_path: str | Path, *, provider: str | None = None, contract: str | None = None,
                  data_dir: str | Path | None = None, out_dir: str | Path | None = None,
                  audience: str = "internal", narrative_path: str | Path | None = None,
                  through: str | None = None, pdf: bool = True, template: str | Path | None = None):
    """Run the end-of-contract notebook and write ``report.html`` (and ``report.pdf``), offline.

    Relative paths are taken from the working directory, as in the rest of the CLI; the default
    output folder is ``outputs/contracts/<contract id>/``. Returns the packets helper's
    ``RenderResult`` (paths and timings).
    """
    from acm_helpers import report

    program_path = Path(program_path).resolve()
    program = load_program(program_path)
    prov = find_provider(program, provider, contract)
    term_months(program, prov, through)  # fail early, before starting a kernel
    if narrative_path is not None and not Path(narrative_path).exists():
        raise ConfigError(f"Narrative file {narrative_path} not found.")
    here = Path.cwd()
    data = Path(data_dir).resolve() if data_dir else program.data_path(here).resolve()
    out = Path(out_dir) if out_dir else here / "outputs" / "contracts" / prov.contract_id
    params = {"program_path": str(program_path), "data_dir": str(data), "provider": prov.id,
              "audience": audience, "through": through or "",
              "narrative_path": str(Path(narrative_path).resolve()) if narrative_path else ""}
    return report.render_notebook(template or TEMPLATE, params, out, stem="report", pdf=pdf, cwd=here,
                                  title=f"End-of-contract report: {prov.name} ({prov.contract_id})",
                                  footer=f"{prov.name} · contract {prov.contract_id} · end-of-contract report")
