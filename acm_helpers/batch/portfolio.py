"""The period's portfolio: one row per provider saying where attention is needed, for the index.

Why: the index page is the first thing a contract manager opens after a run. A list of packets
with build times does not say which provider to read first; a grid of concerns, improvements,
overdue action items, late or incomplete files and assurance against target does. Every number
comes from the tables the packets read (the engine's ``metric_values`` signals, the
``action_items`` table, the store's quality report), computed once per period here, never by
reading packet HTML back.
"""

from __future__ import annotations

from html import escape

import pandas as pd

from acm_helpers.core import text
from acm_helpers.core.calendar import month_name
from acm_helpers.core.config import Program
from acm_helpers.meetings import actions
from acm_helpers.store import quality_rank
from acm_helpers.store.quality import quality_overview, quality_summaries
from acm_helpers.store.store import Store

COMPLETE_ENOUGH = 0.95  # default of the program file's quality.completeness_min
ASSURANCE = {
    "consistent_pass": "passing",
    "consistent_fail": "failing",
    "inconsistent": "hit and miss",
}
COLUMNS = [
    "provider_id",
    "provider",
    "concerns",
    "concern_metrics",
    "improvements",
    "improvement_metrics",
    "overdue",
    "open_items",
    "file_problems",
    "file_note",
    "passing",
    "failing",
    "hit_and_miss",
]


def portfolio_status(program: Program, store: Store, period: str) -> pd.DataFrame:
    """One row per provider for ``period``: what needs attention, counted from the store.

    Columns: ``concerns`` / ``improvements`` (metrics whose month shows a special-cause signal
    of that direction, ``metric_values.spc_signal``) with the metrics' labels; ``overdue`` and
    ``open_items`` (action items open at the period's meeting, :func:`actions.open_items`);
    ``file_problems`` (0-3: no file, late, incomplete or rejected rows) with a plain
    ``file_note``; and the count of metrics ``passing`` / ``failing`` / ``hit_and_miss``
    against their target (``metric_values.spc_assurance``).
    """
    program.check_period(period)
    values = _month_values(store, period)
    meeting = actions.meeting_date_for(program, period)
    # every table is read and filtered once for all providers, then looked up per provider
    # (a query or a full-table filter per provider made the grid take minutes at 1,000)
    open_now = _by_provider(actions.open_items(actions.read_actions(store), meeting))
    own_values = _by_provider(values)
    reports = quality_summaries(store, program.provider_ids, period)
    quality = quality_overview(store, program, period, reports=reports).set_index("provider_id")
    key_fields = _key_field_completeness(program, reports)
    rows = []
    for provider in program.providers:
        pid = provider.id
        own = own_values.get(pid, values.iloc[:0])
        signal = own["spc_signal"].fillna("").astype(str)
        assurance = own["spc_assurance"].fillna("").astype(str)
        items = open_now.get(pid)
        problems, note = _file_problems(
            quality.loc[pid] if pid in quality.index else None,
            key_fields.get(pid),
            minimum=program.quality.completeness_min,
            label=lambda f: text.lower_first(quality_rank.field_label(f, program)),
        )
        rows.append(
            {
                "provider_id": pid,
                "provider": provider.name,
                "concerns": int((signal == "concern").sum()),
                "concern_metrics": ", ".join(own.loc[signal == "concern", "label"]),
                "improvements": int((signal == "improvement").sum()),
                "improvement_metrics": ", ".join(own.loc[signal == "improvement", "label"]),
                "overdue": int(items["overdue"].sum()) if items is not None else 0,
                "open_items": len(items) if items is not None else 0,
                "file_problems": problems,
                "file_note": note,
                "passing": int((assurance == "consistent_pass").sum()),
                "failing": int((assurance == "consistent_fail").sum()),
                "hit_and_miss": int((assurance == "inconsistent").sum()),
            }
        )
    frame = attention_order(pd.DataFrame(rows, columns=COLUMNS))
    frame.attrs["program_name"] = program.name  # the index's heading names the program
    return frame


def attention_order(frame: pd.DataFrame) -> pd.DataFrame:
    """Most in need of attention first: concerns, overdue items, file problems, failing
    targets; then by name (the order the grid opens in, before anyone sorts it)."""
    return frame.sort_values(
        ["concerns", "overdue", "file_problems", "failing", "provider"],
        ascending=[False, False, False, False, True],
        ignore_index=True,
    )


def _month_values(store: Store, period: str) -> pd.DataFrame:
    cols = ["provider_id", "metric_id", "label", "spc_signal", "spc_assurance"]
    if not store.has_table("metric_values"):
        return pd.DataFrame(columns=cols)
    return store.query(
        "SELECT provider_id, metric_id, label, spc_signal, spc_assurance FROM metric_values "
        "WHERE grain = 'month' AND period = $period AND dimension = '' ORDER BY metric_id",
        {"period": period},
    )


def _by_provider(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """``frame``'s rows per ``provider_id`` (in their order), one pass over the frame."""
    return {str(k): g for k, g in frame.groupby("provider_id", sort=False)}


def _key_field_completeness(
    program: Program, reports: dict[str, pd.DataFrame]
) -> dict[str, pd.Series]:
    """Per provider, the share of rows with each of the program's required fields filled in
    (``store.quality_rank.required_fields``: the same fields the packet's data-quality section
    and brief judge), from the store's quality report (``reports``: per provider, the
    period's rows, :func:`quality_summaries`)."""
    fields = quality_rank.required_fields(program)
    out = {}
    for pid in program.provider_ids:
        q = reports[pid]
        rows = q[(q["check"] == "completeness") & q["field"].isin(fields)]
        out[pid] = pd.Series(rows["value"].to_numpy(dtype=float), index=rows["field"].astype(str))
    return out


def _file_problems(
    row: pd.Series | None,
    fields: pd.Series | None,
    minimum: float = COMPLETE_ENOUGH,
    label=None,
) -> tuple[int, str]:
    """Count and describe what is wrong with a provider's file for the month: not received,
    late, key fields under :data:`COMPLETE_ENOUGH` filled in (the emptiest named), rows
    rejected."""
    if row is None or int(row["rows_total"]) == 0:
        return 1, "no file received"
    notes = []
    late = row["days_late"]
    if pd.notna(late) and late > 0:
        notes.append(f"{int(late)} day{'s' if int(late) != 1 else ''} late")
    name = label or (lambda f: text.lower_first(text.field_label(f)))
    if fields is not None and len(fields) and fields.min() < minimum:
        short = fields[fields < minimum].sort_values()
        names = ", ".join(f"{name(f)} {round(100 * v)}%" for f, v in short.items())
        notes.append(f"filled in: {names}")
    if int(row["rejected"]) > 0:
        n = int(row["rejected"])
        notes.append(f"{n:,} row{'s' if n != 1 else ''} rejected")
    return len(notes), "; ".join(notes) or "on time, complete"


# -- the grid, as HTML ----------------------------------------------------------------------------
GRID_HEAD = [
    ("Provider", "text"),
    ("Concerns", "num"),
    ("Improvements", "num"),
    ("Overdue action items", "num"),
    ("Files", "num"),
    ("Against target", "num"),
    ("Packet", ""),
]

SORT_SCRIPT = """<script>
/* Click a column heading to sort the grid by it (again: the other way). No libraries. */
document.querySelectorAll('table.acm-grid').forEach(function (table) {
  table.querySelectorAll('th[data-kind]').forEach(function (th, col) {
    th.tabIndex = 0;
    function sort() {
      var body = table.tBodies[0], rows = Array.from(body.rows);
      var num = th.dataset.kind === 'num', was = th.getAttribute('aria-sort');
      var down = was ? was !== 'descending' : num;  /* first click: most first, or A to Z */
      rows.sort(function (a, b) {
        var x = a.cells[col].dataset.sort, y = b.cells[col].dataset.sort;
        var d = num ? parseFloat(x) - parseFloat(y) : x.localeCompare(y);
        return down ? -d : d;
      });
      table.querySelectorAll('th[data-kind]').forEach(function (h) { h.removeAttribute('aria-sort'); });
      th.setAttribute('aria-sort', down ? 'descending' : 'ascending');
      rows.forEach(function (r) { body.appendChild(r); });
    }
    th.addEventListener('click', sort);
    th.addEventListener('keydown', function (e) { if (e.key === 'Enter') sort(); });
  });
});
</script>"""


def grid_html(status: pd.DataFrame, files: dict[str, dict[str, str]], period: str) -> str:
    """The provider-by-status grid: one row per provider, sortable by any column, linking to
    each provider's packet files.

    Args:
        status: :func:`portfolio_status` (rows in the order to show first).
        files: per provider id, the packet's files (``{"html": "harbor/packet.html", ...}``)
            from the manifest; a provider without files shows "not produced".
        period: YYYY-MM, for the caption.
    """
    head = "".join(
        "<th"
        + (f' data-kind="{kind}" title="Click to sort"' if kind else "")
        + f">{escape(name)}</th>"
        for name, kind in GRID_HEAD
    )
    body = []
    for r in status.itertuples(index=False):
        links = (
            " · ".join(
                f'<a href="{escape(path)}">{escape(kind.upper())}</a>'
                for kind, path in sorted(files.get(r.provider_id, {}).items())
            )
            or '<span class="acm-flag">not produced</span>'
        )
        target = (
            ", ".join(
                f"{n} {label}"
                for n, label in (
                    (r.failing, "failing"),
                    (r.hit_and_miss, "hit and miss"),
                    (r.passing, "passing"),
                )
                if n
            )
            or "–"
        )
        cells = [
            (r.provider, escape(r.provider)),
            (r.concerns, _count(r.concerns, r.concern_metrics, "concern")),
            (r.improvements, _count(r.improvements, r.improvement_metrics, "good")),
            (
                r.overdue,
                _count(r.overdue, "", "concern")
                + (f' <span class="sub">of {r.open_items} open</span>' if r.open_items else ""),
            ),
            (r.file_problems, _note(r.file_problems, r.file_note)),
            # sort by failing first, then hit and miss
            (r.failing * 100 + r.hit_and_miss, escape(target)),
            ("", links),
        ]
        body.append(
            "<tr>"
            + "".join(f'<td data-sort="{escape(str(key))}">{html}</td>' for key, html in cells)
            + "</tr>"
        )
    caption = (
        f"Providers, {escape(month_name(period))}: most in need of attention first. Concerns and "
        "improvements are special-cause signals this month; against target counts the metrics "
        "whose control limits say the target is consistently met, missed, or hit and miss."
    )
    return (
        f'<table class="acm-grid"><caption>{caption}</caption><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>{SORT_SCRIPT}"
    )


def _count(n: int, what: str, cls: str) -> str:
    if not n:
        return '<span class="sub">0</span>'
    shown = f'<strong class="acm-{cls}">{n}</strong>'
    return shown + (f'<br><span class="sub">{escape(what)}</span>' if what else "")


def _note(n: int, note: str) -> str:
    cls = "acm-concern" if n else "sub"
    return f'<span class="{cls}">{escape(note)}</span>'


def duration(seconds: float) -> str:
    """12.3 -> "12 s"; 75 -> "1 min 15 s"; 3725 -> "1 h 2 min" (the build log's times)."""
    s = round(float(seconds or 0))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    return f"{s // 3600} h {s % 3600 // 60} min"
