"""Small-cell suppression (in the engine, once) and audience views of engine output.

Suppression rules (``program.suppression``, threshold ``t``, default 11):

1. *Primary*: a cell whose ``cell_size`` (cases behind a rate, mean or median; the count itself;
   for a ratio of sums the smaller of rows and denominator) is under ``t`` is suppressed.
2. *Complementary*: cells that add up to a shown total form a set of siblings. In each set, while
   exactly one sibling is suppressed, or the suppressed siblings together hold fewer than ``t``
   cases, the smallest unsuppressed sibling is suppressed too, so no suppressed cell can be
   recovered (or narrowed to fewer than ``t``) by subtracting the shown siblings from the total.
   Sets: the groups of one dimension (total: the overall row); the providers of one group
   (total: "__all__"); and, for metrics whose populations partition time (checked on the
   data: month counts add up to the quarter's), the months of a quarter, of a year and of the
   term, and the quarters of a year. Rules are applied until nothing changes, because a cell
   suppressed for one set can leave another set with a single suppressed cell.
3. *Linked*: metrics that print the same count (by their declared numerator/denominator labels:
   exits to permanent housing is the numerator of one metric and the denominator of cost per
   exit) are suppressed together in a cell when the rate or count that holds it is suppressed,
   so a hidden count cannot come back through another metric. Applied inside the same loop, so
   complementary suppression then protects the newly hidden cells too.

4. *Small counts* (provider audience only, :func:`mask_small_counts`): a count of 1 to ``t - 1``
   is never printed, whether it is a count or the numerator of a rate that is shown (its cases
   are at least ``t``, so rule 1 keeps it): the numerator is blanked and the math sentence reads
   "fewer than 11 ...". Zero is printed (it is not a small cell). The rate itself stays: a reader
   can still multiply it by the cases, which only suppressing the rate would prevent.

Audience views (:func:`for_audience`): "internal" keeps provider ids and names (and every
count); "provider" keeps the provider's own rows, shows other providers only as stable
anonymous labels ("Peer A" ...) unless ``program.peers.display == "named"``, marks system-wide
metrics and masks small counts (rule 4). Both re-null every suppressed cell, so a frame that
skipped the engine cannot leak through a view.
"""

from __future__ import annotations

import hashlib
import re

import numpy as np
import pandas as pd

from acm_helpers.core.calendar import quarter_of, year_of
from acm_helpers.core.config import Program
from acm_helpers.core.errors import PrivacyError, UnknownIdError
from acm_helpers.core.schema import ALL

AUDIENCES = ("internal", "provider")
# Equity comparisons of a group with the reference group and with all others.
COMPARISON_COLUMNS = [
    "diff_vs_reference",
    "diff_vs_reference_low",
    "diff_vs_reference_high",
    "ratio_vs_reference",
    "ratio_vs_reference_low",
    "ratio_vs_reference_high",
    "others_value",
    "diff_vs_others",
    "diff_vs_others_low",
    "diff_vs_others_high",
    "ratio_vs_others",
    "ratio_vs_others_low",
    "ratio_vs_others_high",
]
# Columns computed from a cell's own numbers: nulled when the cell is suppressed.
CELL_COLUMNS = [
    "numerator",
    "denominator",
    "value",
    "ci_low",
    "ci_high",
    "cell_size",
    "previous_value",
    "trailing_12m",
    "same_month_last_year",
    "change_p_value",
    "centre_line",
    "control_low",
    "control_high",
    "peer_rank",
    "_rows",
    "_n",
    "_x",
    "_sd",
    "_se",
    # equity
    "reference_value",
    *COMPARISON_COLUMNS,
    "share_served",
    "disproportionality",
    "disproportionality_p",
]
KEY = ["metric_id", "provider_id", "period", "grain", "dimension", "group"]
SYSTEM_WIDE_NOTE = (
    "Agency view: computed from every provider's records (e.g. returns to any provider), "
    "which no single provider's data can show."
)


def primary(cells: pd.DataFrame, threshold: int) -> pd.DataFrame:
    """Mark cells under the threshold (rule 1); adds ``suppressed`` and ``suppression_reason``."""
    out = cells.copy()
    small = ~(out["cell_size"].fillna(0) >= threshold)
    out["suppressed"] = small.to_numpy()
    out["suppression_reason"] = np.where(small, f"fewer than {threshold} cases", "")
    return out


def _time_parents(cells: pd.DataFrame) -> dict[str, pd.Series]:
    """Parent labels for the time sets (month->quarter/year/term, quarter->year); null elsewhere."""
    month = (cells["grain"] == "month").to_numpy()
    quarter = (cells["grain"] == "quarter").to_numpy()
    period = cells["period"].astype("str")

    def only(mask: np.ndarray, fn) -> pd.Series:
        out = pd.Series(pd.NA, index=cells.index, dtype="object")
        out[mask] = period[mask].map(fn)
        return out

    return {
        "month in quarter": only(month, quarter_of),
        "month in year": only(month, year_of),
        "month in term": only(month, lambda p: "term"),
        "quarter in year": only(quarter, lambda p: p[:4]),
    }


def additive_metrics(cells: pd.DataFrame) -> set[str]:
    """Metrics whose monthly cell sizes add up to their quarter's (populations partition time).

    Why check on data: a population such as "exits in the period" partitions time, so a hidden
    month can be recovered from its quarter; "clients open in the period" does not (a client
    counts in every month they were open), so months of it need no time-complementary rule.
    """
    base = cells[(cells["provider_id"] == ALL) & (cells["dimension"] == "")]
    months = base[base["grain"] == "month"].assign(q=lambda f: f["period"].map(quarter_of))
    sums = months.groupby(["metric_id", "q"])["cell_size"].sum()
    quarters = base[base["grain"] == "quarter"].set_index(["metric_id", "period"])["cell_size"]
    quarters.index = quarters.index.set_names(["metric_id", "q"])
    both = pd.concat([sums.rename("m"), quarters.rename("q")], axis=1).dropna()
    if both.empty:
        return set(months["metric_id"])  # nothing to check against: be conservative
    ok = (both["m"] - both["q"]).abs().groupby(level="metric_id").max() < 1e-9
    return set(ok[ok].index) | (set(months["metric_id"]) - set(ok.index))


def suppress(cells: pd.DataFrame, program: Program, max_rounds: int = 50) -> pd.DataFrame:
    """Primary then complementary suppression (rules 1 and 2 of the module docstring).

    Returns the frame with ``suppressed`` and ``suppression_reason``; values are not nulled here
    (benchmarks and equity need to know which cells to skip first), see :func:`null_suppressed`.
    """
    t = program.suppression.threshold
    out = primary(cells, t).reset_index(drop=True)
    if not program.suppression.complementary or out.empty:
        return out
    grouped = (out["dimension"] != "").to_numpy()
    codes = [
        (
            "group",
            _codes(out, ["metric_id", "provider_id", "period", "grain", "dimension"], grouped),
        ),
        (
            "provider",
            _codes(
                out,
                ["metric_id", "period", "grain", "dimension", "group"],
                (out["provider_id"] != ALL).to_numpy(),
            ),
        ),
    ]
    link_code, link_source = _linked_codes(out, program)
    additive = out["metric_id"].isin(additive_metrics(out)).to_numpy()
    grains = set(out["grain"])
    for name, parent in _time_parents(out).items():
        if name.split()[-1] not in grains:  # no parent rows of that grain: nothing to subtract from
            continue
        keyed = out[["metric_id", "provider_id", "dimension", "group"]].assign(
            _parent=parent.fillna("")
        )
        codes.append((name, _codes(keyed, [*keyed.columns], parent.notna().to_numpy() & additive)))
    size = out["cell_size"].fillna(0).to_numpy(float)
    supp = out["suppressed"].to_numpy(bool).copy()
    reason = out["suppression_reason"].to_numpy(object).copy()
    for _ in range(max_rounds):
        changed = False
        for name, code in codes:
            new = _complement_once(code, size, supp, t)
            if new.size:
                supp[new] = True
                reason[new] = (
                    f"complementary: protects a suppressed cell among its {_SET_WORDS[name]}"
                )
                changed = True
        linked = np.flatnonzero(
            (link_code >= 0)
            & ~supp
            & np.isin(link_code, link_code[(link_code >= 0) & supp & link_source])
        )
        if linked.size:
            supp[linked] = True
            reason[linked] = "linked: shares a count with a suppressed metric in this cell"
            changed = True
        if not changed:
            break
    out["suppressed"] = supp
    out["suppression_reason"] = reason
    return out


_SET_WORDS = {
    "group": "groups",
    "provider": "providers",
    "month in quarter": "months of the quarter",
    "month in year": "months of the year",
    "month in term": "months of the term",
    "quarter in year": "quarters of the year",
}


def linked_sets(program: Program) -> list[set[str]]:
    """Metrics that share a count, by their declared labels (e.g. exits to permanent housing is
    the numerator of one metric and the denominator of cost per exit; leavers is the denominator
    of exits and of length of stay)."""
    by_label: dict[str, set[str]] = {}
    for mid, m in program.metrics.items():
        for lab in (m.numerator_label, m.denominator_label):
            if lab.strip():
                by_label.setdefault(lab.strip().lower(), set()).add(mid)
    sets: list[set[str]] = []
    for group in by_label.values():
        merged = set(group)
        for other in [s for s in sets if s & merged]:
            merged |= other
            sets.remove(other)
        sets.append(merged)
    return [s for s in sets if len(s) > 1]


def _linked_codes(out: pd.DataFrame, program: Program) -> tuple[np.ndarray, np.ndarray]:
    """Per row: id of its (linked set, cell) or -1, and whether a suppression of this row hides a
    count (rates and counts do; a ratio or median suppressed for its own small base hides its
    value, not a count that a rate may show under its own rule)."""
    set_of = {mid: i for i, members in enumerate(linked_sets(program)) for mid in members}
    member = out["metric_id"].map(set_of)
    keyed = out[["provider_id", "period", "grain", "dimension", "group"]].assign(_set=member)
    code = _codes(keyed, [*keyed.columns], member.notna().to_numpy())
    counts = [mid for mid, m in program.metrics.items() if m.kind in ("rate", "count")]
    return code, out["metric_id"].isin(counts).to_numpy()


def _codes(frame: pd.DataFrame, cols: list[str], mask: np.ndarray) -> np.ndarray:
    """Integer id of each row's sibling set (-1 where the row is in no set of this kind)."""
    code = frame.groupby(cols, sort=False, dropna=False).ngroup().to_numpy()
    return np.where(mask, code, -1)


def _complement_once(code: np.ndarray, size: np.ndarray, supp: np.ndarray, t: int) -> np.ndarray:
    """Indices of the cells to add, one per set that still exposes a suppressed cell."""
    valid = code >= 0
    if not valid.any():
        return np.array([], dtype=int)
    idx = np.flatnonzero(valid)
    c = code[idx]
    ns = np.bincount(c, weights=supp[idx].astype(float))
    ss = np.bincount(c, weights=np.where(supp[idx], size[idx], 0.0))
    nu = np.bincount(c, weights=(~supp[idx]).astype(float))
    need = (ns >= 1) & ((ns == 1) | (ss < t)) & (nu >= 1)
    if not need.any():
        return np.array([], dtype=int)
    cand = idx[need[c] & ~supp[idx]]
    order = np.lexsort((cand, size[cand], code[cand]))  # smallest cell first within each set
    cand = cand[order]
    first = np.r_[True, code[cand][1:] != code[cand][:-1]]
    return cand[first]


def null_suppressed(frame: pd.DataFrame) -> pd.DataFrame:
    """Null the numbers of suppressed cells (and set their flags False); math says why.

    Whole columns are replaced at once, not set row by row: every packet runs this on its
    tables, and the row-wise setitem (a dtype check and a copy per column) was most of its cost."""
    out = frame.copy()
    s = out["suppressed"].fillna(False).astype(bool).to_numpy()
    if not s.any():
        return out
    hide = pd.Series(s, index=out.index)
    blank = {col: _numbers(out[col], s) for col in CELL_COLUMNS if col in out}
    for col in [c for c in out.columns if c.startswith("flag_") and not c.endswith("reasons")]:
        flags = out[col]
        blank[col] = flags & ~s if flags.dtype == bool else flags.mask(hide, False)
    for col in ("flag_reasons", "disparity_reason", "disproportionality_reason"):
        if col in out:
            blank[col] = out[col].mask(hide, "")
    if "math" in out:
        why = "suppressed: " + out["suppression_reason"].astype("str")
        blank["math"] = out["math"].mask(hide, why)
    return out.assign(**blank)


def _numbers(col: pd.Series, hide: np.ndarray) -> pd.Series:
    """A numeric column with the ``hide`` rows nulled: nullable integers stay so (``<NA>``),
    the rest become float (NaN)."""
    if str(col.dtype) == "Int64":
        return col.mask(pd.Series(hide, index=col.index))
    return pd.Series(np.where(hide, np.nan, col.to_numpy(float, na_value=np.nan)), index=col.index)


# Columns that hold counts of people or cases (a ratio of sums' numerator is money, not a count).
COUNT_COLUMNS = ("numerator", "denominator", "cell_size")
COUNT_NUMERATOR_KINDS = ("rate", "count")
_LEADING_COUNT = re.compile(r"^\d[\d,]*(?:\.\d+)?(?= )")


def is_small_count(n: object, threshold: int) -> np.ndarray:
    """Whether each count is one that may not be printed to a provider: 1 to ``threshold - 1``.

    The one test every provider-facing output and the packet audit use (zero and blanks are not
    small counts)."""
    if isinstance(n, (int, float, np.integer, np.floating)):  # one number: no Series to build
        v = np.array([float(n)])  # (the audit asks about thousands of cells one at a time)
    else:
        v = pd.to_numeric(pd.Series(np.atleast_1d(n)), errors="coerce").to_numpy(float)
    with np.errstate(invalid="ignore"):
        return (v >= 1) & (v < threshold)


def mask_small_counts(frame: pd.DataFrame, program: Program) -> pd.DataFrame:
    """Blank every count of 1 to threshold - 1 in shown cells, and say so in the math sentence.

    Why (rule 4 of the module docstring): suppression judges a rate by its cases, so "1 return
    / 40 leavers" is shown, and the 1 is a cell of one person. Cost per exit is suppressed for
    fewer than 11 exits while the exits rate printed the same 6 as its numerator. The numerator
    (of rates and counts; a ratio of sums' numerator is money), the denominator and the cell
    size are blanked when they hold such a count; the math sentence's count reads
    "fewer than 11". Suppressed cells are already blank (:func:`null_suppressed`).
    """
    out = frame.copy()
    if "metric_id" not in out or out.empty:
        return out
    t = program.suppression.threshold
    kinds = out["metric_id"].map({k: m.kind for k, m in program.metrics.items()})
    shown = ~out["suppressed"].fillna(False).astype(bool) if "suppressed" in out else True
    for col in COUNT_COLUMNS:
        if col not in out:
            continue
        small = is_small_count(out[col], t) & np.asarray(shown)
        if col == "numerator":
            small &= kinds.isin(COUNT_NUMERATOR_KINDS).to_numpy()
            if "math" in out and small.any():
                out.loc[small, "math"] = [
                    _LEADING_COUNT.sub(f"fewer than {t}", str(m), count=1)
                    for m in out.loc[small, "math"]
                ]
        if small.any():
            out[col] = _numbers(out[col], small)
    return out


def peer_labels(program: Program, viewer: str) -> dict[str, str]:
    """Stable anonymous labels of the other providers, as seen by ``viewer``.

    Why hashed: letters in program order or by size would let a provider guess who is who; the
    order comes from a hash of program id, viewer and peer, so it is stable from month to month
    (the same peer is "Peer C" in every packet a provider receives) but reveals nothing.
    """
    peers = [p.id for p in program.providers if p.id != viewer]
    order = sorted(
        peers, key=lambda pid: hashlib.sha256(f"{program.id}|{viewer}|{pid}".encode()).hexdigest()
    )
    return {pid: f"Peer {_letters(i)}" for i, pid in enumerate(order)}


def _letters(i: int) -> str:
    s = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        s = chr(65 + r) + s
    return s


def for_audience(
    frame: pd.DataFrame, program: Program, audience: str, provider_id: str | None = None
) -> pd.DataFrame:
    """The engine's output (``metric_values`` or ``equity``) as one audience may see it.

    Args:
        frame: rows with ``provider_id`` (and ``suppressed``).
        program: for provider names, peer display and which metrics are system-wide.
        audience: "internal" (agency staff: names kept) or "provider" (a provider's packet).
        provider_id: the provider the output is for; required for "provider".

    Returns:
        The frame with ``provider_label`` (display name, "Peer A" ..., or "All providers"),
        ``is_self`` and ``note`` (system-wide metrics) added; for a provider audience with
        anonymized peers the peers' ``provider_id`` is replaced by their label, and counts of
        1 to threshold - 1 are blanked (:func:`mask_small_counts`). Suppressed cells are nulled
        in every case.
    """
    if audience not in AUDIENCES:
        raise PrivacyError(f"Unknown audience {audience!r}; use one of: {', '.join(AUDIENCES)}.")
    if audience == "provider" and provider_id is None:
        raise PrivacyError("A provider-audience view needs provider_id (whose packet is this?).")
    if provider_id is not None and provider_id != ALL and provider_id not in program.provider_ids:
        raise UnknownIdError("provider", provider_id, program.provider_ids)
    out = null_suppressed(frame) if "suppressed" in frame else frame.copy()
    if audience == "provider":
        out = mask_small_counts(out, program)
    names = {p.id: p.name for p in program.providers} | {ALL: "All providers"}
    pid = out["provider_id"].astype("str")
    out["is_self"] = (pid == provider_id).to_numpy() if provider_id else False
    if audience == "provider" and program.peers.display == "anonymized":
        labels = peer_labels(program, provider_id) | {
            provider_id: names[provider_id],
            ALL: names[ALL],
        }
        unknown = set(pid.unique()) - set(labels)
        if unknown:
            raise PrivacyError(
                f"Rows for providers not in program {program.id}: {sorted(unknown)}; "
                "they cannot be labelled safely."
            )
        out["provider_label"] = pid.map(labels)
        out["provider_id"] = np.where(pid.isin([provider_id, ALL]), pid, out["provider_label"])
    else:
        out["provider_label"] = pid.map(names).fillna(pid)
    if "metric_id" in out:
        wide = {k for k, m in program.metrics.items() if m.system_wide}
        out["note"] = np.where(out["metric_id"].isin(wide), SYSTEM_WIDE_NOTE, "")
    return out.reset_index(drop=True)
