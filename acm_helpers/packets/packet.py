"""The data behind a provider's packet, in the audience's view, and the HTML pieces every section
uses. :func:`load` reads the engine's tables once per packet (one DuckDB connection) and applies
``privacy.for_audience`` before any section sees a row; :func:`appendix` turns the same rows into
the XLSX appendix (aggregates only).

Only reads: the store's ``metric_values``, ``equity`` and ``quality`` tables, action items and
meetings.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from acm_helpers.core import stages, text
from acm_helpers.core.calendar import equity_quarter, month_name, shift_period
from acm_helpers.core.config import Program
from acm_helpers.core.errors import AcmError
from acm_helpers.core.schema import ALL
from acm_helpers.packets import memo, xlsx
from acm_helpers.store import quality_rank
from acm_helpers.store.store import Store, open_store
from acm_helpers.views import charts

TREND_MONTHS = 13
esc = html.escape


class Block:
    """A section's HTML. Shown as HTML in notebooks and packets; its text repr is one line (the
    section's name and, for headline sections, the numbers shown), so notebook tests can check
    the headline values without comparing markup."""

    def __init__(self, title: str, body: str, summary: str = ""):
        self.title, self.body, self.summary = title, body, summary
        self.stages: list[dict] = []  # the cell's stage timings (core.stages), for the profile

    def _repr_html_(self) -> str:
        return self.body

    def _repr_mimebundle_(self, include=None, exclude=None) -> tuple[dict, dict] | None:
        """The HTML with the cell's stage timings in the output's metadata (IPython asks this
        first); the batch worker takes them out before the HTML export, so no page shows them."""
        if not self.stages:
            return None  # IPython falls back to _repr_html_
        return {"text/html": self.body}, {"text/html": {stages.METADATA_KEY: self.stages}}

    def __repr__(self) -> str:
        return f"<{self.title}: {self.summary}>" if self.summary else f"<{self.title}>"


@dataclass
class Packet:
    """Everything one provider's packet shows, already in the audience's view.

    Attributes:
        values: ``metric_values`` rows at month grain (every provider, peers anonymized for a
            provider audience, suppressed cells nulled) up to the period.
        equity: this provider's ``equity`` rows for the equity quarter.
        quality: this provider's data-quality rows (every period up to this one).
        history: this provider's own ``metric_values`` rows at month grain, overall, every
            month up to the period, as stored (what the agenda compares since the last
            meeting: :func:`acm_helpers.meetings.agenda.agenda_for` reads the same rows).
        actions, meetings: the store's action items and meetings (every section that needs
            them reads these, not the store again).
    """

    program: Program
    store: Store
    provider: str
    period: str
    audience: str
    topic: str
    values: pd.DataFrame
    equity: pd.DataFrame
    quality: pd.DataFrame
    equity_period: str
    version: str
    history: pd.DataFrame
    actions: pd.DataFrame
    meetings: pd.DataFrame

    @property
    def provider_name(self) -> str:
        """The provider's display name."""
        return self.program.provider(self.provider).name

    def own(self, period: str | None = None) -> pd.DataFrame:
        """This provider's overall rows (one per metric) for a period (default: the packet's).

        Selected once per period and packet (most sections ask for this month's), each caller
        getting its own copy (copy-on-write: nothing is copied unless a caller writes)."""
        key, memo = ("own", period or self.period), _memo(self)
        if key not in memo:
            v = self.values
            sel = v[v["is_self"] & (v["dimension"] == "") & (v["period"] == key[1])]
            memo[key] = sel.set_index("metric_id")
        return memo[key].copy()

    def quality_problems(self) -> pd.DataFrame:
        """This month's data-quality problems, worst first
        (:func:`acm_helpers.store.quality_rank.rank_problems`), ranked once per packet: the
        brief's talking point and the quality section show the same list."""
        memo = _memo(self)
        if "problems" not in memo:
            q = self.quality
            memo["problems"] = (
                pd.DataFrame(columns=quality_rank.PROBLEM_COLUMNS)
                if q.empty
                else quality_rank.rank_problems(q, self.program, self.period)
            )
        return memo["problems"].copy()

    def key_metrics(self) -> list[str]:
        """Headline metrics, in program order."""
        return [mid for mid, m in self.program.metrics.items() if m.key]


def _memo(p: object) -> dict:
    """The frames a packet derives once from its own rows (on the packet object, so they go
    with it: no module cache that could outlive the kernel reset)."""
    return vars(p).setdefault("_derived", {})


PACKET_TABLES = ("metric_values", "equity", "quality", "action_items", "meetings")
"""The store tables a :class:`Packet` is read from (its memo is stamped with their files)."""


def load(
    program_path: str | Path,
    data_dir: str | Path,
    provider: str,
    period: str,
    audience: str = "provider",
    topic: str = "",
) -> Packet:
    """Read the engine's tables once and put them in the audience's view.

    Always reads the store (an analyst who calls it again gets fresh rows); :func:`loaded` is
    the one that reuses this process's last packet.

    Raises:
        AcmError: unknown provider or period, or the metric tables are missing (run
            ``acm metrics`` / ``acm demo`` first).
    """
    with stages.stage("data load"):
        return _load(program_path, data_dir, provider, period, audience, topic)


def loaded(
    program_path: str | Path,
    data_dir: str | Path,
    provider: str,
    period: str,
    audience: str = "provider",
    topic: str = "",
) -> Packet:
    """The packet :func:`load` returned last in this process for exactly these arguments, when
    its program file and tables are unchanged since; else a fresh :func:`load`.

    Raises:
        AcmError: as :func:`load`.
    """
    key = memo.load_key("packet", program_path, data_dir, provider, period, audience, topic)
    if memo.has(key):
        program, store = open_store(program_path, data_dir or None)
        hit = memo.recall(key, memo.fingerprint(program, store, PACKET_TABLES))
        if hit is not None:
            return hit
    return load(program_path, data_dir, provider, period, audience, topic)


def _load(
    program_path: str | Path,
    data_dir: str | Path,
    provider: str,
    period: str,
    audience: str,
    topic: str,
) -> Packet:
    from acm_helpers.meetings import actions
    from acm_helpers.metrics import privacy

    program, store = open_store(program_path, data_dir or None)  # the one path rule
    program.provider(provider)
    program.check_period(period)
    if not store.has_table("metric_values"):
        raise AcmError(
            f"{store}: no metric_values table. Compute metrics first (`acm metrics` or `acm demo`)."
        )
    stamp = memo.fingerprint(program, store, PACKET_TABLES)  # before the read: never newer
    first = shift_period(period, -(TREND_MONTHS - 1))
    # its quality partitions only, when it has any: a view of the whole partitioned table reads
    # every partition's schema as it is made (2,000 files at 200 providers: 0.13 s a packet)
    own = store.part_source("quality", provider)
    tables = "metric_values equity" if own else "metric_values equity quality"
    with store.connect(only=tables) as con:  # one for the packet
        mv = store.query(
            "SELECT * FROM metric_values WHERE grain = 'month' AND period BETWEEN $first AND $period "
            "AND (dimension = '' OR provider_id = $provider)",
            {"first": max(first, program.first_period), "period": period, "provider": provider},
            con,
        )
        if mv.empty:
            raise AcmError(
                f"No metric values for {period} in {store}. Was the metric table computed after "
                "the latest intake? Run `acm metrics`."
            )
        history = store.query(
            "SELECT * FROM metric_values WHERE grain = 'month' AND dimension = '' "
            "AND provider_id = $provider AND period <= $period",
            {"provider": provider, "period": period},
            con,
        )
        eq_period = equity_quarter(period)
        eq = (
            store.query(
                "SELECT * FROM equity WHERE provider_id = $provider AND grain = 'quarter' "
                "AND period = $q",
                {"provider": provider, "q": eq_period},
                con,
            )
            if store.has_table("equity")
            else pd.DataFrame()
        )
        quality = (
            store.query(
                f"SELECT * FROM {own or 'quality'} WHERE provider_id = $provider "
                "AND period <= $period",
                {"provider": provider, "period": period},
                con,
            )
            if store.has_table("quality")
            else pd.DataFrame()
        )
    values = privacy.for_audience(mv, program, audience, provider)
    equity_rows = privacy.for_audience(eq, program, audience, provider) if not eq.empty else eq
    p = Packet(
        program,
        store,
        provider,
        period,
        audience,
        topic,
        values,
        equity_rows,
        quality,
        eq_period,
        str(mv["version"].iloc[0]),
        history,
        actions.read_actions(store),
        actions.read_meetings(store),
    )
    key = memo.load_key("packet", program_path, data_dir, provider, period, audience, topic)
    memo.remember(key, stamp, p)
    return p


# -- small HTML helpers ------------------------------------------------------------------------------
def html_table(
    rows: list[list[str]], head: list[str], num: set[int] | None = None, caption: str = ""
) -> str:
    """A plain table; cells are already-escaped HTML. The caption names what every row is about
    (metric, breakdown, period), for readers and for the leak check."""
    num = num or set()
    th = "".join(f"<th{' class=num' if i in num else ''}>{esc(h)}</th>" for i, h in enumerate(head))
    body = "".join(
        "<tr>"
        + "".join(f"<td{' class=num' if i in num else ''}>{c}</td>" for i, c in enumerate(r))
        + "</tr>"
        for r in rows
    )
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    return f"<table>{cap}<thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def chart_html(chart) -> str:
    """A chart as inline SVG in the packet's chart frame (its rendering timed as a stage)."""
    with stages.chart_stage(charts.title_of(chart)):
        return f'<div class="acm-chart">{charts.to_svg(chart)}</div>'


# -- the XLSX appendix -----------------------------------------------------------------------------------
VALUE_SHEET_COLUMNS = {
    "label": "metric",
    "period": "month",
    "value": "value",
    "numerator": "numerator",
    "denominator": "denominator",
    "ci_low": "95% interval from",
    "ci_high": "95% interval to",
    "target": "target",
    "peer_median": "peer median",
    "peer_rank": "rank among providers",
    "peer_n": "providers ranked",
    "math": "how it was computed",
    "flag_reasons": "flags",
    "suppressed": "suppressed",
    "format": "format",  # not written: sets the number format of the value cells (packets.xlsx)
    "kind": "kind",  # not written: a count metric's cells are whole numbers
}
EQUITY_SHEET_COLUMNS = {
    "metric": "metric",
    "dimension_label": "breakdown",
    "group": "group",
    "value": "value",
    "numerator": "numerator",
    "denominator": "cases",
    "ci_low": "95% interval from",
    "ci_high": "95% interval to",
    "diff_vs_reference": "difference vs reference",
    "disparity_reason": "disparity flag",
    "share_served": "share of people served",
    "reference_share": "population share",
    "disproportionality_reason": "disproportionality flag",
    "suppressed": "suppressed",
    "format": "format",
    "kind": "kind",
}
PEER_SHEET_COLUMNS = {
    "provider": "provider",
    "label": "metric",
    "value": "value",
    "ci_low": "95% interval from",
    "ci_high": "95% interval to",
    "suppressed": "suppressed",
    "format": "format",
    "kind": "kind",
}
QUALITY_CHECKS = {"rows": "rows", "completeness": "share filled in"}


def quality_sheet(quality: pd.DataFrame) -> pd.DataFrame:
    """The data-quality rows as a reader reads them: field labels, shares as percents, row
    counts as whole numbers (for the XLSX appendices)."""
    if quality.empty:
        return pd.DataFrame()
    fields = quality["field"].astype(str)
    return pd.DataFrame(
        {
            "check": quality["check"].map(lambda c: QUALITY_CHECKS.get(c, c)),
            "field": [
                f if c == "rows" else text.field_label(f)
                for c, f in zip(quality["check"], fields, strict=True)
            ],
            "value": quality["value"],
            "detail": quality["detail"],
            "format": ["percent" if c == "completeness" else "count" for c in quality["check"]],
        }
    ).reset_index(drop=True)


def _sheet(frame: pd.DataFrame, columns: dict[str, str]) -> pd.DataFrame:
    out = frame[[c for c in columns if c in frame.columns]].rename(columns=columns)
    return out.reset_index(drop=True)


def appendix(
    program: Program, store: Store, params: dict
) -> tuple[dict[str, pd.DataFrame], list[tuple[str, str]]]:
    """The XLSX appendix of a provider's packet: the same aggregates the packet shows.

    Sheets: key metrics this month, the monthly trend, peers this month (as the audience may see
    them), the equity breakdown of the quarter, and the data-quality report. Suppressed rows stay
    (marked), their numbers blank. Returns ``(sheets, read-me notes)`` for ``report.write_xlsx``.
    """
    p = loaded(  # the notebook's own packet when built in its kernel (batch.worker)
        params["program_path"],
        params["data_dir"],
        params["provider"],
        params["period"],
        params.get("audience", "provider"),
        params.get("topic", ""),
    )
    v = p.values
    own = v[v["is_self"] & (v["dimension"] == "")].sort_values(["metric_id", "period"])
    now = own[own["period"] == p.period]
    peers = v[(v["period"] == p.period) & (v["dimension"] == "") & (v["provider_id"] != ALL)]
    peers = peers.assign(provider=peers["provider_label"])
    eq = p.equity
    if not eq.empty:
        eq = eq.assign(
            metric=eq["metric_id"].map(lambda m: program.metric(m).label),
            format=eq["metric_id"].map(lambda m: program.metric(m).format),
            kind=eq["metric_id"].map(lambda m: program.metric(m).kind),
            dimension_label=eq["dimension"].map(lambda d: program.dimension(d).label),
        )
    quality = p.quality[p.quality["period"] == p.period] if not p.quality.empty else p.quality
    equity_name = f"Equity {xlsx.quarter_label(p.equity_period)}"
    # one sheet per table and metric kind: no column mixes rates, days and dollars
    sheets = {
        **xlsx.by_kind("Key metrics", _sheet(now, VALUE_SHEET_COLUMNS)),
        **xlsx.by_kind("Trend", _sheet(own, VALUE_SHEET_COLUMNS)),
        **xlsx.by_kind("Peers", _sheet(peers, PEER_SHEET_COLUMNS)),
        **(
            xlsx.by_kind(equity_name, _sheet(eq, EQUITY_SHEET_COLUMNS))
            if not eq.empty
            else {equity_name: pd.DataFrame()}
        ),
        "Data quality": quality_sheet(quality),
    }
    anon = p.audience == "provider" and program.peers.display == "anonymized"
    notes = [
        ("Provider", p.provider_name),
        ("Period", month_name(p.period)),
        ("Program", program.name),
        ("Audience", p.audience + (" (other providers anonymized)" if anon else "")),
        ("Metric table version", p.version),
        (
            "Suppression",
            f"Cells with fewer than {program.suppression.threshold} cases, and cells that would "
            "let someone work one out, read 'suppressed' and have no numbers.",
        ),
        ("Contents", "Aggregates only: no client-level records."),
        (
            "Reference groups",
            "; ".join(
                f"{d.label}: {d.reference_group}"
                for d in program.dimensions.values()
                if d.reference_group
            )
            or "none",
        ),
        ("Generated", datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")),
    ]
    return sheets, notes
