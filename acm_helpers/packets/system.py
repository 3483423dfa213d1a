"""Sections of the internal, system-wide packet (``notebooks/06_system.ipynb``): every provider
side by side for one month, for agency staff preparing the cycle's meetings.

Internal audience only: providers are named, and it is never sent to a provider (the batch run
builds it with ``audience="internal"`` and skips the provider leak check for it). Small cells are
still suppressed, because the engine suppresses once for everyone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from acm_helpers.core import stages, text
from acm_helpers.core.calendar import (
    equity_quarter,
    month_name,
    month_range,
    quarter_name,
    shift_period,
)
from acm_helpers.core.config import Program
from acm_helpers.core.errors import AcmError
from acm_helpers.meetings.tiles import FLAG_NAMES, good_news
from acm_helpers.packets import memo, xlsx
from acm_helpers.packets.packet import (
    ALL,
    TREND_MONTHS,
    Block,
    chart_html,
    esc,
    html_table,
)
from acm_helpers.store import quality as store_quality
from acm_helpers.store import quality_rank
from acm_helpers.store.store import Store, open_store
from acm_helpers.views import charts, spc_icons


@dataclass
class SystemPacket:
    """All providers' month-grain overall values (named), the quarter's equity flags and the
    month's data-quality rows."""

    program: Program
    store: Store
    period: str
    values: pd.DataFrame
    equity: pd.DataFrame
    quality: pd.DataFrame
    equity_period: str
    version: str

    def key_metrics(self) -> list[str]:
        """Headline metrics, in program order."""
        return [mid for mid, m in self.program.metrics.items() if m.key]

    def month(self) -> pd.DataFrame:
        """Every provider's overall row this month (no program-wide row)."""
        v = self.values
        return v[(v["period"] == self.period) & (v["provider_id"] != ALL)]


def load_system(program_path: str | Path, data_dir: str | Path, period: str) -> SystemPacket:
    """Read the engine's tables once for the system packet (internal view)."""
    with stages.stage("data load"):
        return _load_system(program_path, data_dir, period)


SYSTEM_TABLES = ("metric_values", "equity", "quality")
"""The store tables a :class:`SystemPacket` is read from."""


def loaded_system(program_path: str | Path, data_dir: str | Path, period: str) -> SystemPacket:
    """The system packet :func:`load_system` returned last in this process for exactly these
    arguments, when its program file and tables are unchanged since (see
    :mod:`acm_helpers.packets.memo`); else a fresh :func:`load_system`."""
    key = memo.load_key("system", program_path, data_dir, period)
    program, store = open_store(program_path, data_dir or None)
    hit = memo.recall(key, memo.fingerprint(program, store, SYSTEM_TABLES))
    return hit if hit is not None else load_system(program_path, data_dir, period)


def _load_system(program_path: str | Path, data_dir: str | Path, period: str) -> SystemPacket:
    from acm_helpers.metrics import privacy

    program, store = open_store(program_path, data_dir or None)  # the one path rule
    program.check_period(period)
    if not store.has_table("metric_values"):
        raise AcmError(
            f"{store}: no metric_values table. Compute metrics first (`acm metrics` or `acm demo`)."
        )
    stamp = memo.fingerprint(program, store, SYSTEM_TABLES)  # before the read
    first = max(shift_period(period, -(TREND_MONTHS - 1)), program.first_period)
    mv = store.query(
        "SELECT * FROM metric_values WHERE grain = 'month' AND dimension = '' "
        "AND period BETWEEN $first AND $period",
        {"first": first, "period": period},
    )
    if mv.empty:
        raise AcmError(
            f"No metric values for {period} in {store}. Run `acm metrics` after the latest intake."
        )
    q = equity_quarter(period)
    eq = (
        store.query(
            "SELECT * FROM equity WHERE grain = 'quarter' AND period = $q AND provider_id <> '__all__' "
            "AND (flag_disparity OR flag_disproportionality)",
            {"q": q},
        )
        if store.has_table("equity")
        else pd.DataFrame()
    )
    quality = (
        store.query("SELECT * FROM quality WHERE period = $period", {"period": period})
        if store.has_table("quality")
        else pd.DataFrame()
    )
    values = privacy.for_audience(mv, program, "internal")
    equity = privacy.for_audience(eq, program, "internal") if not eq.empty else eq
    s = SystemPacket(program, store, period, values, equity, quality, q, str(mv["version"].iloc[0]))
    memo.remember(memo.load_key("system", program_path, data_dir, period), stamp, s)
    return s


@stages.section("system header")
def header(s: SystemPacket) -> Block:
    """Title block of the internal packet."""
    n = len(s.program.providers)
    return Block(
        "header",
        (
            f'<div class="acm-header"><h1>{esc(s.program.name)}: all providers</h1>'
            f'<div class="meta"><span class="acm-badge internal">internal</span>System packet · '
            f"{esc(month_name(s.period))} · {n} providers</div>"
            "<p>For agency staff only: providers are named. Do not send this packet to a provider.</p></div>"
        ),
    )


def status_frame(s: SystemPacket) -> pd.DataFrame:
    """Provider x key metric: the formatted value and whether it meets its target."""
    rows = []
    month = s.month()
    for p in s.program.providers:
        for mid in s.key_metrics():
            r = month[(month["provider_id"] == p.id) & (month["metric_id"] == mid)]
            if r.empty:
                continue
            r = r.iloc[0]
            if r["suppressed"]:
                status = "suppressed"
            elif pd.isna(r["target"]):
                status = "no target"
            else:
                status = "below target" if r["flag_below_target"] else "meets target"
            signal = "" if r["suppressed"] else str(r.get("spc_signal", "") or "")
            letter, _, variation = spc_icons.variation(signal, str(r["direction"]))
            rows.append(
                {
                    "provider": p.name,
                    "metric": r["label"],
                    "text": text.cell(r),
                    "status": status,
                    "signal": signal,
                    "letter": "" if signal == "common" else letter,
                    "variation": variation,
                }
            )
    cols = ["provider", "metric", "text", "status", "signal", "letter", "variation"]
    return pd.DataFrame(rows, columns=cols)


@stages.section("system status")
def status(s: SystemPacket) -> Block:
    """One grid: every provider against every key metric's target this month."""
    frame = status_frame(s)
    body = f"<h2>Every provider at a glance, {esc(month_name(s.period))}</h2>"
    body += chart_html(
        charts.status_grid(
            frame,
            title=(
                "Value this month: green meets target, red below; H / L a special cause "
                "(blue an improvement, orange a concern)"
            ),
            width=760,
        )
    )
    summary = "; ".join(
        f"{prov}: " + ", ".join(g["text"]) for prov, g in frame.groupby("provider", sort=False)
    )
    return Block("status", body, f"{s.period}: {summary}")


def _on(r: dict, col: str) -> bool:
    v = r.get(col)
    return not text.is_missing(v) and bool(v)


def _severity(r: dict) -> int:
    """How serious a raised row is, for the order of the concerns table (0 first): a special
    cause for concern, a significant change for the worse, below target, behind peers."""
    if _on(r, "flag_special_cause") and r.get("spc_signal") == "concern":
        return 0
    if _on(r, "flag_significant_change") and not good_news(
        {
            **r,
            "flag_below_target": False,
            "flag_worse_than_peers": False,
            "flag_special_cause": False,
        }
    ):
        return 1
    if _on(r, "flag_below_target"):
        return 2
    if _on(r, "flag_worse_than_peers"):
        return 3
    return 4


def _flag_rows(frame: pd.DataFrame) -> list[list[str]]:
    rows = []
    for r in frame.itertuples(index=False):
        names = ", ".join(n for c, n in FLAG_NAMES.items() if getattr(r, c))
        icon = spc_icons.variation_icon(str(getattr(r, "spc_signal", "") or ""), str(r.direction))
        rows.append(
            [
                esc(r.provider_label),
                esc(r.label),
                esc(text.value(r.value, text.kind_of(r.format, r.kind), r.unit)),
                (icon if r.flag_special_cause else "") + esc(names),
                esc(r.flag_reasons),
            ]
        )
    return rows


@stages.section("system flags")
def flags(s: SystemPacket) -> Block:
    """Every flag raised this month with the engine's reason: concerns first, the most serious
    first (:func:`_severity`, then the rows raising most flags), and improvements apart.

    Why not by provider: the agency reads this table to decide where its support goes first; an
    improvement listed among the problems reads as one (``meetings.tiles.good_news``, the rule
    the packets' tiles and brief use).
    """
    month = s.month()
    raised = month[month[list(FLAG_NAMES)].any(axis=1)]
    body = f"<h2>Flags to discuss, {esc(month_name(s.period))}</h2>"
    if raised.empty:
        return Block("flags", body + "<p>No flags this month.</p>")
    records = raised.to_dict("records")
    good = pd.Series([good_news(r) for r in records], index=raised.index, dtype=bool)
    concerns = raised[~good].assign(
        _severity=[_severity(r) for r, g in zip(records, good, strict=True) if not g],
        _flags=raised.loc[~good, list(FLAG_NAMES)].sum(axis=1),
    )
    concerns = concerns.sort_values(
        ["_severity", "_flags", "provider_label", "metric_id"], ascending=[True, False, True, True]
    )
    head = ["Provider", "Metric", "Value", "Flags", "Why"]
    if concerns.empty:
        body += "<p>No concerns this month.</p>"
    else:
        body += (
            "<p>Concerns, the most serious first: a special cause for concern, a significant "
            "change for the worse, below target, behind peers.</p>"
            + html_table(_flag_rows(concerns), head, num={2})
        )
    improved = raised[good].sort_values(["provider_label", "metric_id"])
    if not improved.empty:
        body += f"<h3>Improvements, {esc(month_name(s.period))}</h3>" + html_table(
            _flag_rows(improved), head, num={2}
        )
    return Block("flags", body)


@stages.section("system comparisons")
def comparisons(s: SystemPacket) -> Block:
    """Each key metric across providers (named), with the program-wide trend."""
    parts = [f"<h2>Providers compared, {esc(month_name(s.period))}</h2>"]
    month = s.month()
    v = s.values
    for mid in s.key_metrics():
        m = s.program.metric(mid)
        rows = month[month["metric_id"] == mid]
        frame = pd.DataFrame(
            {
                "provider": rows["provider_label"],
                "value": rows["value"],
                "ci_low": rows["ci_low"],
                "ci_high": rows["ci_high"],
                "is_self": True,
            }
        )
        parts.append(
            chart_html(
                charts.peer_chart(
                    frame,
                    title=m.label,
                    fmt=text.kind_of(m.format, m.kind),
                    target=m.target,
                    unit=text.axis_title(m),
                )
            )
        )
        trend = v[(v["provider_id"] == ALL) & (v["metric_id"] == mid)]
        months = (
            pd.DataFrame({"period": month_range(trend["period"].min(), s.period)})
            if len(trend)
            else None
        )
        if months is not None:
            frame = months.merge(
                trend[
                    ["period", "value", "ci_low", "ci_high", "peer_q1", "peer_median", "peer_q3"]
                ],
                on="period",
                how="left",
            )
            parts.append(
                chart_html(
                    charts.trend_chart(
                        frame,
                        title=f"{m.label}: all providers combined",
                        fmt=text.kind_of(m.format, m.kind),
                        unit=text.axis_title(m),
                        target=m.target,
                        height=160,
                        series="All providers",
                    )
                )
            )
    return Block("comparisons", "".join(parts))


@stages.section("system equity")
def equity(s: SystemPacket) -> Block:
    """Disparity and disproportionality flags of every provider for the last complete quarter."""
    body = f"<h2>Equity flags, {esc(quarter_name(s.equity_period))}</h2>"
    if s.equity.empty:
        return Block(
            "equity", body + "<p>No disparity or disproportionality was flagged this quarter.</p>"
        )
    rows = []
    for r in s.equity.sort_values(["provider_label", "metric_id", "dimension", "group"]).itertuples(
        index=False
    ):
        kind = " and ".join(
            k
            for k, f in (
                ("disparity", r.flag_disparity),
                ("disproportionality", r.flag_disproportionality),
            )
            if f
        )
        why = " ".join(t for t in (r.disparity_reason, r.disproportionality_reason) if t)
        rows.append(
            [
                esc(r.provider_label),
                esc(s.program.metric(r.metric_id).label),
                esc(s.program.dimension(r.dimension).label),
                esc(r.group),
                esc(kind),
                esc(why),
            ]
        )
    return Block(
        "equity",
        body + html_table(rows, ["Provider", "Metric", "Breakdown", "Group", "Flag", "Why"]),
    )


def quality_frame(s: SystemPacket) -> pd.DataFrame:
    """One row per provider: this month's submission in numbers (completeness of the program's
    required fields, as the provider packets judge it)."""
    rows, fields = [], quality_rank.required_fields(s.program)
    for p in s.program.providers:
        q = s.quality[s.quality["provider_id"] == p.id] if not s.quality.empty else s.quality
        summ = store_quality.summarize(q, fields)
        comp = q[(q["check"] == "completeness") & q["field"].isin(fields)] if not q.empty else q
        worst = comp.sort_values("value").iloc[0] if len(comp) else None
        rows.append(
            {
                "provider": p.name,
                "submitted": "yes" if len(q) else "no",
                "rows": summ["rows_total"],
                "rejected": summ["rows_rejected"],
                "days late": summ["days_late"],
                "mean completeness": summ["completeness"],
                "least complete field": f"{text.field_label(worst['field'])} ({text.value(worst['value'], 'percent')})"
                if worst is not None
                else "",
            }
        )
    return pd.DataFrame(rows)


@stages.section("system quality")
def quality(s: SystemPacket) -> Block:
    """Data quality of every provider's submission this month."""
    frame = quality_frame(s)
    rows = [
        [
            esc(r["provider"]),
            esc(r["submitted"]),
            text.count(r["rows"]),
            text.count(r["rejected"]),
            text.MISSING
            if pd.isna(r["days late"])
            else ("on time" if r["days late"] <= 0 else f"{int(r['days late'])}"),
            text.value(r["mean completeness"], "percent"),
            esc(r["least complete field"]),
        ]
        for r in frame.to_dict("records")
    ]
    return Block(
        "quality",
        f"<h2>Data quality, {esc(month_name(s.period))}</h2>"
        + html_table(
            rows,
            [
                "Provider",
                "Submitted",
                "Rows",
                "Rejected",
                "Days late",
                "Completeness",
                "Least complete field",
            ],
            num={2, 3, 4, 5},
        ),
    )


@stages.section("system triage")
def triage(s: SystemPacket) -> Block:
    """Portfolio triage: which contracts get full ACM this quarter, by the program file's rule
    (:func:`acm_helpers.meetings.triage_review.portfolio_view`); nothing when the program declares
    no ``triage:`` block."""
    from acm_helpers.meetings import triage_review

    if s.program.triage is None:
        return Block("triage", "", "")
    body = triage_review.portfolio_view(s.program, s.store, s.period)
    return Block("triage", body, f"{s.period}: portfolio triage")


@stages.section("system payments")
def payments(s: SystemPacket) -> Block:
    """The month's outcome payment statements (internal: true counts), for the providers with a
    rate card (:mod:`acm_helpers.packets.payments`); a note when the program has none."""
    from acm_helpers.meetings import payments as pay
    from acm_helpers.packets import payments as pay_out

    if not s.program.rate_cards:
        return Block("payments", "")
    block = pay_out.payments_section(
        s.program, pay.program_statements(s.program, s.store, s.period)
    )
    title = f"<h2>Outcome payments, {esc(month_name(s.period))}</h2>"
    return Block("payments", title + block.body, block.summary)


@stages.section("system footer")
def footer(s: SystemPacket) -> Block:
    """Provenance line."""
    return Block(
        "footer",
        (
            f'<div class="acm-footer">Internal. Generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC from metric table '
            f"version {esc(s.version)}. Cells with fewer than {s.program.suppression.threshold} cases are suppressed.</div>"
        ),
    )


TRIAGE_SHEET_COLUMNS = {
    "rank": "rank",
    "provider": "provider",
    "contract_id": "contract",
    "score": "points",
    "tier_label": "tier",
    "cadence": "cadence",
    "move": "since three months earlier",
    "why": "why it moved",
    "rule": "each criterion's points",
}


def _triage_sheet(s: SystemPacket) -> dict[str, pd.DataFrame]:
    """The portfolio triage's ranked list as a sheet (none without a ``triage:`` block)."""
    from acm_helpers.meetings import triage_review

    if s.program.triage is None:
        return {}
    review = triage_review.quarter_review(s.program, s.store, s.period)
    sheet = review[list(TRIAGE_SHEET_COLUMNS)].rename(columns=TRIAGE_SHEET_COLUMNS)
    sheet["each criterion's points"] = sheet["each criterion's points"].str.replace("\n", "; ")
    return {"Portfolio triage": sheet}


SYSTEM_VALUE_HEADERS = {
    "label": "metric",
    "ci_low": "95% interval from",
    "ci_high": "95% interval to",
    "peer_median": "peer median",
    "peer_rank": "rank among providers",
    "math": "how it was computed",
    "flag_reasons": "flags",
}


def system_appendix(
    program: Program, store: Store, params: dict
) -> tuple[dict[str, pd.DataFrame], list[tuple[str, str]]]:
    """XLSX appendix of the system packet: every provider's values, flags, equity flags, quality."""
    s = loaded_system(params["program_path"], params["data_dir"], params["period"])
    month = s.month()
    values = month.assign(provider=month["provider_label"])[
        [
            "provider",
            "label",
            "value",
            "numerator",
            "denominator",
            "ci_low",
            "ci_high",
            "target",
            "peer_median",
            "peer_rank",
            "math",
            "flag_reasons",
            "suppressed",
            "format",
            "kind",
        ]
    ].rename(columns=SYSTEM_VALUE_HEADERS)
    eq = s.equity
    equity_sheet = (
        eq.assign(
            provider=eq["provider_label"],
            metric=eq["metric_id"].map(lambda m: program.metric(m).label),
            breakdown=eq["dimension"].map(lambda d: program.dimension(d).label),
            format=eq["metric_id"].map(lambda m: program.metric(m).format),
            kind=eq["metric_id"].map(lambda m: program.metric(m).kind),
        )[
            [
                "provider",
                "metric",
                "breakdown",
                "group",
                "value",
                "disparity_reason",
                "disproportionality_reason",
                "suppressed",
                "format",
                "kind",
            ]
        ].rename(
            columns={
                "disparity_reason": "disparity flag",
                "disproportionality_reason": "disproportionality flag",
            }
        )
        if not eq.empty
        else pd.DataFrame()
    )
    # one sheet per metric kind: no column mixes rates, days and dollars
    sheets = {
        **xlsx.by_kind("Values", values.reset_index(drop=True)),
        **xlsx.by_kind(f"Equity flags {xlsx.quarter_label(s.equity_period)}", equity_sheet),
        "Data quality": quality_frame(s),
        **_triage_sheet(s),
    }
    notes = [
        ("Program", program.name),
        ("Period", month_name(s.period)),
        ("Audience", "internal (providers named)"),
        ("Metric table version", s.version),
        ("Generated", datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")),
    ]
    return sheets, notes
