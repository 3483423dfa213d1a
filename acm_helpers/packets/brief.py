"""The meeting brief: the one page at the front of every provider packet.

What a contract manager reads minutes before the meeting, in order: the talking points (ranked by
:mod:`acm_helpers.meetings.talking_points`: concerns, disparities with the group and breakdown
named, data-quality declines, overdue actions, targets missed), the improvements kept apart
with their Making Data Count icon, the roadmap question of the month answered with a test, and
the open and overdue action items. Every number comes from rows already in the audience's view
(:func:`acm_helpers.packets.packet.load`) or from the engine over a longer window
(:func:`acm_helpers.metrics.windows.window_cells`, suppressed for the audience), so the brief
shows nothing the rest of the packet could not.
"""

from __future__ import annotations

import pandas as pd

from acm_helpers.core import stages, text
from acm_helpers.core.calendar import (
    equity_quarter,
    month_name,
    period_bounds,
    quarter_name,
    shift_period,
)
from acm_helpers.meetings import agenda as agenda_mod
from acm_helpers.meetings import disparities as disp
from acm_helpers.meetings import talking_points as tp
from acm_helpers.meetings import voice
from acm_helpers.packets.detail import equity_metric
from acm_helpers.packets.packet import Block, Packet, esc
from acm_helpers.views import spc_icons

WINDOWS = (6, 12, 24)  # longer windows tried, in months, when a quarter's groups are too small


# -- the roadmap question --------------------------------------------------------------------------------
def _equity_rows(p: Packet, quarter: str, metric: str, dimension: str) -> pd.DataFrame:
    """This provider's equity rows of one quarter, metric and breakdown, in the audience's view."""
    if quarter == p.equity_period:
        e = p.equity
    elif p.store.has_table("equity"):
        from acm_helpers.metrics import privacy

        e = p.store.query(
            "SELECT * FROM equity WHERE provider_id = $provider AND grain = 'quarter' "
            "AND period = $q AND metric_id = $m AND dimension = $d",
            {"provider": p.provider, "q": quarter, "m": metric, "d": dimension},
        )
        e = privacy.for_audience(e, p.program, p.audience, p.provider) if not e.empty else e
    else:
        return pd.DataFrame()
    if e.empty:
        return e
    return e[(e["metric_id"] == metric) & (e["dimension"] == dimension)]


def longer_window(p: Packet, metric: str, dimension: str) -> tuple[str, str] | None:
    """The shortest of :data:`WINDOWS` (months ending with the equity quarter) in which the
    breakdown's groups can be compared (:func:`talking_points.groups_shown`), as
    ``(length, span)`` ("12 months", "October 2025–September 2026"); None when none is long
    enough. The engine evaluates the windows with the audience's suppression."""
    from acm_helpers.metrics import windows as em

    end = period_bounds_month(p.equity_period)
    wins = []
    for n in WINDOWS:
        first = shift_period(end, -(n - 1))
        if first < p.program.first_period:
            continue
        wins.append((f"{n}", period_bounds(first)[0], period_bounds(end)[1]))
    if not wins:
        return None
    cells = em.window_cells(
        p.program,
        p.store,
        em.windows(wins),
        [metric],
        providers=[p.provider],
        dimensions=[dimension],
        audience=p.audience,
    )
    dim = p.program.dimension(dimension)
    t = p.program.suppression.threshold
    for label, *_ in wins:
        rows = cells[(cells["window"] == label) & (cells["dimension"] == dimension)]
        if disp.groups_shown(rows, dim, t):
            n = int(label)
            first = shift_period(end, -(n - 1))
            return f"{n} months", f"{month_name(first)}–{month_name(end)}"
    return None


def period_bounds_month(quarter: str) -> str:
    """The last month of a quarter label ("2026-Q3" -> "2026-09")."""
    y, q = quarter.split("-Q")
    return f"{y}-{3 * int(q):02d}"


def small_groups_note(p: Packet, metric: str, dimension: str) -> str:
    """ "" when the equity quarter's groups can be compared; otherwise the sentence that says
    they are too small and names the shortest longer window in which they are not."""
    dim = p.program.dimension(dimension)
    rows = _equity_rows(p, p.equity_period, metric, dimension)
    t = p.program.suppression.threshold
    if disp.groups_shown(rows, dim, t):
        return ""
    when = quarter_name(p.equity_period)
    ref = rows[rows["group"] == dim.reference_group] if dim.reference_group else rows.iloc[0:0]
    hidden_ref = (
        len(ref)
        and bool(ref["suppressed"].iloc[0])
        and str(ref["suppression_reason"].iloc[0]).startswith("complementary")
    )
    hidden_ref = bool(hidden_ref and disp.comparable_groups(rows, dim, t))
    if hidden_ref:
        lead = (
            f"{text.possessive(p.provider_name)} groups by {text.lower_first(dim.label)} cannot "
            f"be compared for {when}: the reference group ({dim.reference_group}) is hidden to "
            f"protect groups with fewer than {t} cases, so no gap can be tested."
        )
    else:
        lead = (
            f"{text.possessive(p.provider_name)} groups by {text.lower_first(dim.label)} are too "
            f"small to show for {when}: groups with fewer than {t} cases are suppressed, so no "
            "gap can be tested."
        )
    found = longer_window(p, metric, dimension)
    if found is None:
        return lead + f" Even over {WINDOWS[-1]} months they stay too small to compare."
    length, span = found
    reach = "can be compared" if hidden_ref else f"reach {t} cases"
    window = length.replace(" months", "-month")
    return f"{lead} Over {length} ({span}) the groups {reach}: use a {window} window for this breakdown."


def _flagged_elsewhere(p: Packet, dimension: str, when: str) -> str:
    """ " In <quarter> a gap is flagged by <other breakdowns> instead." when this quarter's
    equity rows (the audience's view) flag a disparity in a breakdown other than the roadmap's,
    so a "no gap" answer does not read as contradicting a disparity talking point."""
    e = p.equity
    if e is None or e.empty or "flag_disparity" not in e.columns:
        return ""
    rows = e[e["flag_disparity"].astype(bool) & (e["dimension"] != dimension)]
    if rows.empty:
        return ""
    labels = [
        text.lower_first(p.program.dimension(d).label) for d in dict.fromkeys(rows["dimension"])
    ]
    return f" In {when} a gap is flagged by {text.series(labels)} instead."


def roadmap_answer(p: Packet) -> str:
    """The roadmap question of the month answered with a test ("" without a topic).

    Disparity topics: when an earlier month's topic asked about the same metric and breakdown,
    the gap of each group flagged then (else flagged now) is compared with this quarter's
    (:func:`disparities.row_gap_change`): "narrowed" or "widened" only when the 95% interval of
    the change excludes no change. Otherwise: whether a gap is flagged now. Other topics are
    answered in the month's deep dive, and the brief says so.
    """
    topic = p.program.roadmap.get(p.period)
    if topic is None:
        return ""
    if topic.topic != "disparity" or topic.dimension is None:
        return "This month's deep dive looks at this question with the data."
    m, dim = p.program.metric(topic.metric), p.program.dimension(topic.dimension)
    note = small_groups_note(p, topic.metric, topic.dimension)
    if note:
        return note
    now = _equity_rows(p, p.equity_period, topic.metric, topic.dimension)
    when = quarter_name(p.equity_period)
    earlier = [
        month
        for month, t in p.program.roadmap.items()
        if month < p.period
        and t.topic == "disparity"
        and t.metric == topic.metric
        and t.dimension == topic.dimension
    ]
    flagged_now = now.loc[now["flag_disparity"].astype(bool), "group"].tolist()
    if not earlier:
        if not flagged_now:
            ref = disp.group_phrase(dim, dim.reference_group) if dim.reference_group else ""
            against = f"that of {ref}" if ref else "all other groups'"
            return (
                f"No gap found: in {when} no group's {text.lower_first(m.label)} differs from "
                f"{against} by a gap that is unlikely to be chance (95% interval, adjusted for "
                "the comparisons in the breakdown)." + _flagged_elsewhere(p, topic.dimension, when)
            )
        return "Yes: " + " ".join(
            disp.disparity_sentence(r, p.program, when)
            for r in now[now["group"].isin(flagged_now)].itertuples(index=False)
        )
    then_q = equity_quarter(max(earlier))
    then = _equity_rows(p, then_q, topic.metric, topic.dimension)
    then_when = quarter_name(then_q)
    groups = then.loc[then["flag_disparity"].astype(bool), "group"].tolist() or flagged_now
    if not groups:
        by = f"{text.lower_first(m.label)} by {text.lower_first(dim.label)}"
        return (
            f"No group's gap in {by} was flagged in {then_when} or in {when}, so there is no "
            "disparity to follow in this breakdown." + _flagged_elsewhere(p, topic.dimension, when)
        )
    out = []
    f = lambda d: text.gap(d, m.format, m.unit)  # noqa: E731
    for g in groups:
        a, b = then[then["group"] == g], now[now["group"] == g]
        if a.empty or b.empty:
            continue
        res = disp.row_gap_change(next(a.itertuples(index=False)), next(b.itertuples(index=False)))
        who = disp.group_phrase(dim, g)
        if res is None:
            out.append(f"For {who} the gap cannot be compared (a quarter is suppressed).")
            continue
        ci = text.signed_range(res.low, res.high, m.format, m.unit)
        verdict = (
            f"the gap has {res.verdict}, since the interval excludes no change"
            if res.verdict != "cannot tell"
            else "the interval includes no change, so it cannot tell whether the gap narrowed "
            "or widened"
        )
        out.append(
            f"For {who}, the gap in {text.lower_first(m.label)} against "
            f"{disp.group_phrase(dim, dim.reference_group or 'other')} was {f(res.then)} in "
            f"{then_when} and {f(res.now)} in {when}: {f(res.change)} "
            f"{'wider' if res.change > 0 else 'narrower'} (95% CI of the change in its size "
            f"{ci}); {verdict}."
        )
    return " ".join(out) or f"The groups flagged in {then_when} cannot be compared with {when}."


def equity_dimension(p: Packet) -> str | None:
    """The breakdown the brief checks for small groups when the roadmap names none: the first
    dimension with a reference group."""
    topic = p.program.roadmap.get(p.period)
    if topic is not None and topic.dimension:
        return topic.dimension
    return next((d for d, dim in p.program.dimensions.items() if dim.reference_group), None)


# -- the brief ------------------------------------------------------------------------------------------------
def packet_agenda(p: Packet) -> agenda_mod.Agenda:
    """The meeting's agenda from the rows the packet already read (no second read of the store
    for values, action items or meetings)."""
    return agenda_mod.agenda_for(
        p.program, p.store, p.provider, p.period, p.history, p.actions, p.meetings
    )


def talking_points(p: Packet, agenda: agenda_mod.Agenda | None = None) -> list[tp.Point]:
    """The brief's ranked talking points for this packet (:func:`talking_points.rank`)."""
    agenda = agenda or packet_agenda(p)
    topic = p.program.roadmap.get(p.period)
    problems = p.quality_problems()
    points = [
        *tp.concern_points(p.own(), p.program),
        *disp.disparity_points(
            p.equity,
            p.program,
            quarter_name(p.equity_period),
            topic.metric if topic else "",
            (topic.dimension or "") if topic else "",
        ),
        *voice.voice_points(p.program, p.store, p.provider, p.period, p.audience),
        *tp.quality_points(problems),
        *tp.overdue_points(agenda.open_items),
    ]
    return tp.rank(points)


@stages.section("brief")
def brief(p: Packet) -> Block:
    """The meeting brief (see the module docstring): one page, before the headline tiles."""
    agenda = packet_agenda(p)
    points = talking_points(p, agenda)
    own = p.own()
    last = (
        f"last meeting {agenda.last_meeting:%-d %B %Y}"
        if agenda.last_meeting
        else "no earlier meeting recorded"
    )
    out = [
        '<section class="acm-brief acm-agenda">',
        f"<h2>Meeting brief: meeting of {agenda.meeting_date:%-d %B %Y}</h2>",
        f'<p class="meta">{esc(p.provider_name)} · data through {esc(month_name(p.period))} · '
        f"{esc(last)}</p>",
        "<h3>Talking points</h3>",
    ]
    if points:
        out.append(
            '<ol class="acm-points">'
            + "".join(
                f'<li class="acm-point {pt.kind}"><strong>{esc(pt.label)}.</strong> {esc(pt.text)}</li>'
                for pt in points
            )
            + "</ol>"
        )
    else:
        out.append(
            "<p>No concern, disparity, data-quality decline, overdue action or missed target "
            "this month.</p>"
        )
    goods = tp.improvements(own, p.program)
    out.append("<h3>Improvements</h3>")
    if goods:
        items = []
        for mid, signal, sentence in goods:
            icon = (
                spc_icons.variation_icon(signal, p.program.metric(mid).direction) if signal else ""
            )
            items.append(f'<li class="acm-improvement">{icon}{esc(sentence)}</li>')
        out.append(f'<ul class="acm-improvements">{"".join(items)}</ul>')
    else:
        out.append("<p>No improvement beyond normal variation this month.</p>")
    topic = p.program.roadmap.get(p.period)
    if topic is not None:
        out.append(f"<h3>Roadmap question: {esc(topic.title)}</h3>")
        out.append(
            f'<p><em>{esc(topic.question)}</em></p><p class="acm-answer">{esc(roadmap_answer(p))}</p>'
        )
    if (
        (topic is None or topic.topic != "disparity")
        and ((dim := equity_dimension(p)) is not None)
        and (note := small_groups_note(p, equity_metric(p), dim))
    ):
        out.append(f'<h3>Equity</h3><p class="acm-answer">{esc(note)}</p>')
    out.append(voice.voice_section(p.program, p.store, p.provider, p.period, p.audience))
    out.append("<h3>Action items</h3>")
    out.append(agenda.actions_html())
    out.append("<h3>Lessons learned to date</h3>")
    out.append(voice.lessons_html(agenda.lessons))
    out.append("</section>")
    summary = f"{p.provider} {p.period}: " + " | ".join(f"{pt.kind}: {pt.text}" for pt in points)
    return Block("brief", "\n".join(out), summary)
