"""Benchmarks, flags and the plain "math" sentence of every metric value.

Why in the engine: a flag is only trustworthy when it is computed once, from the same unsuppressed
numbers, with the same rules for every provider; packets and the explorer just show it. A flag is
raised only when the cell's ``cell_size`` reaches the suppression threshold (and, for a change,
the previous cell's too): small cells swing by chance and are suppressed anyway. Every raised
flag adds one sentence to ``flag_reasons`` saying what was compared with what.

Benchmarks (see ``schema.METRIC_VALUE_COLUMNS``): previous period, own trailing 12 months (from
the engine's 12-month windows), same month last year, peer median and quartiles and rank among
providers (only unsuppressed cells count as peers), target and national value.
"""

from __future__ import annotations

import math
from functools import partial

import numpy as np
import pandas as pd

from acm_helpers.core import text
from acm_helpers.core.calendar import SUB_MONTH_GRAINS, previous_label, same_period_last_year
from acm_helpers.core.config import Metric, Program
from acm_helpers.core.schema import ALL
from acm_helpers.metrics import intervals as iv
from acm_helpers.metrics import spc

SERIES = ["metric_id", "provider_id", "dimension", "group"]
MIN_PEERS = 3  # peer comparisons need at least this many providers with a value
SPC_MIN_POINTS = 8  # control limits need this many months of history (including the current)
RUN_LENGTH = spc.RUN_LENGTH  # shift: this many consecutive months on one side of the centre line
TREND_LENGTH = spc.TREND_LENGTH  # trend: this many consecutive months each rising (or falling)
SPC_RULES = spc.Rules(run_length=RUN_LENGTH, trend_length=TREND_LENGTH, min_points=SPC_MIN_POINTS)
ALPHA = 0.05


# -- formatting ------------------------------------------------------------------------------------
def math_sentence(m: Metric, numerator: float, denominator: float, value: float) -> str:
    """ "12 exits to permanent housing / 20 leavers = 60%" (or the kind's equivalent)."""
    v = text.value(value, m.format, m.unit)
    num_l = m.numerator_label or "meeting the definition"
    den_l = m.denominator_label or "cases"
    if m.kind == "rate":
        return f"{text.count(numerator)} {num_l} / {text.count(denominator)} {den_l} = {v}"
    if m.kind == "count":
        return f"{text.count(numerator)} {m.numerator_label or m.label.lower()}"
    if m.kind == "median":
        return f"median of {text.count(denominator)} {den_l} = {v}"
    if m.kind == "mean":
        return f"mean of {text.count(denominator)} {den_l} = {v}"
    num = text.value(numerator, m.format) if m.format == "currency" else text.count(numerator)
    return f"{num} {num_l} / {text.count(denominator)} {den_l} = {v}"


def math_strings(frame: pd.DataFrame, program: Program) -> list[str]:
    """The math sentence of every row (suppressed rows are rewritten by privacy.null_suppressed)."""
    out = []
    for mid, num, den, val in zip(
        frame["metric_id"], frame["numerator"], frame["denominator"], frame["value"], strict=True
    ):
        if val is None or (isinstance(val, float) and math.isnan(val)):
            out.append("no cases")
        else:
            out.append(math_sentence(program.metrics[mid], num, den, val))
    return out


# -- benchmarks ------------------------------------------------------------------------------------
def _lookup(cells: pd.DataFrame, label_fn, name: str, cols: dict[str, str]) -> pd.DataFrame:
    """Attach the columns of the cell at ``label_fn(period, grain)`` of the same series."""
    pairs = cells[["period", "grain"]].drop_duplicates()
    pairs["_target"] = [
        label_fn(p, g) for p, g in zip(pairs["period"], pairs["grain"], strict=True)
    ]
    keyed = cells.merge(pairs, on=["period", "grain"], how="left")
    src = cells.loc[~cells["suppressed"], [*SERIES, "grain", "period", *cols]].rename(
        columns={"period": "_target", **cols}
    )
    return keyed.merge(src, on=[*SERIES, "grain", "_target"], how="left").drop(columns="_target")


def add_benchmarks(cells: pd.DataFrame, trailing: pd.DataFrame, program: Program) -> pd.DataFrame:
    """previous_value, trailing_12m, same_month_last_year and the peer_* columns."""
    prev_cols = {
        "value": "previous_value",
        "_x": "_px",
        "_n": "_pn",
        "_sd": "_psd",
        "_se": "_pse",
        "cell_size": "_pcell",
        "ci_low": "_plo",
        "ci_high": "_phi",
    }
    out = _lookup(cells, previous_label, "previous", prev_cols)
    out = _lookup(out, same_period_last_year, "last_year", {"value": "same_month_last_year"})
    trailing = pd.concat(
        [
            trailing.loc[~trailing["suppressed"], [*SERIES, "period", "value"]],
            _count_trailing(cells, program),
        ],
        ignore_index=True,
    )
    t12 = trailing[[*SERIES, "period", "value"]].rename(
        columns={"period": "end_month", "value": "trailing_12m"}
    )
    out = out.merge(t12, on=[*SERIES, "end_month"], how="left")
    # a week's count is not comparable with a month's average count: no trailing benchmark
    counts = [k for k, m in program.metrics.items() if m.kind == "count"]
    weekly = out["grain"].isin(SUB_MONTH_GRAINS) & out["metric_id"].isin(counts)
    out.loc[weekly, "trailing_12m"] = np.nan
    direction = out["metric_id"].map({k: m.direction for k, m in program.metrics.items()})
    peers = out[(out["provider_id"] != ALL) & ~out["suppressed"] & out["value"].notna()]
    by = ["metric_id", "period", "grain", "dimension", "group"]
    g = peers.groupby(by)["value"]
    stats = pd.DataFrame(
        {
            "peer_median": g.median(),
            "peer_q1": g.quantile(0.25),
            "peer_q3": g.quantile(0.75),
            "peer_n": g.size(),
        }
    ).reset_index()
    out = out.merge(stats, on=by, how="left")
    score = peers["value"].where(direction.loc[peers.index] == "up", -peers["value"])
    rank = score.groupby([peers[c] for c in by]).rank(method="min", ascending=False)
    out["peer_rank"] = rank.reindex(out.index)
    out["peer_n"] = out["peer_n"].where(out["provider_id"] != ALL)
    return out


def _count_trailing(cells: pd.DataFrame, program: Program) -> pd.DataFrame:
    """Trailing 12-month benchmark of count metrics: the mean of the 12 monthly counts.

    Why not a count over the 12-month window: a distinct count over a year (every client served
    in the year) is not comparable with a month's count; the monthly average is. Needs all 12
    months unsuppressed, so it never reveals a hidden month.
    """
    counts = [k for k, m in program.metrics.items() if m.kind == "count"]
    sel = cells[
        (cells["grain"] == "month") & cells["metric_id"].isin(counts) & ~cells["suppressed"]
    ]
    if sel.empty:
        return pd.DataFrame(columns=[*SERIES, "period", "value"])
    idx = (
        sel["period"].str.slice(0, 4).astype(int) * 12
        + sel["period"].str.slice(5, 7).astype(int)
        - 1
    )
    wide = sel.assign(_m=idx.to_numpy()).pivot_table(
        index=SERIES, columns="_m", values="value", aggfunc="first"
    )
    wide = wide.reindex(columns=range(int(idx.min()), int(idx.max()) + 1))
    rolled = wide.T.rolling(12, min_periods=12).mean().T.stack().rename("value").reset_index()
    rolled["period"] = [f"{m // 12:04d}-{m % 12 + 1:02d}" for m in rolled["_m"]]
    return rolled.drop(columns="_m")


# -- flags -----------------------------------------------------------------------------------------
def add_flags(cells: pd.DataFrame, program: Program) -> pd.DataFrame:
    """flag_* columns, change_p_value, control chart columns and flag_reasons."""
    t = program.suppression.threshold
    out = cells.copy()
    metrics = program.metrics
    kind = out["metric_id"].map({k: m.kind for k, m in metrics.items()})
    up = out["metric_id"].map({k: m.direction == "up" for k, m in metrics.items()}).astype(bool)
    target = out["metric_id"].map({k: m.target for k, m in metrics.items()}).astype(float)
    value = out["value"].astype(float)
    ok = (~out["suppressed"]) & (out["cell_size"] >= t) & value.notna()
    ok_prev = ok & (out["_pcell"] >= t) & out["previous_value"].notna()

    worse = lambda a, b: np.where(up, a < b, a > b)  # noqa: E731 - direction-aware "a is worse than b"
    out["flag_below_target"] = ok & target.notna() & worse(value, target)
    out["flag_worse_than_peers"] = (
        ok
        & (out["provider_id"] != ALL)
        & (out["peer_n"] >= MIN_PEERS)
        & worse(value, out["peer_median"])
    )
    out["change_p_value"] = _change_p(out, kind).where(ok_prev)
    median_change = (
        (kind == "median")
        & ok_prev
        & ((out["ci_low"] > out["_phi"]) | (out["ci_high"] < out["_plo"]))
    )
    out["flag_significant_change"] = (ok_prev & (out["change_p_value"] < ALPHA)) | median_change
    out = _control_chart(out, ok, program)
    out["flag_reasons"] = _reasons(out, program, up, target)
    return out.drop(
        columns=[c for c in out.columns if c.startswith("_p") or c in ("spc_rule_", "spc_side_")]
    )


def _change_p(out: pd.DataFrame, kind: pd.Series) -> pd.Series:
    x, n, sd, se = (out[c].astype(float).to_numpy() for c in ("_x", "_n", "_sd", "_se"))
    px, pn, psd, pse = (out[c].astype(float).to_numpy() for c in ("_px", "_pn", "_psd", "_pse"))
    v, pv = out["value"].to_numpy(float), out["previous_value"].to_numpy(float)
    k = kind.to_numpy()
    p = np.full(len(out), np.nan)
    # each test runs on its own kind's rows only (the exact Poisson test is costly per element)
    for name, fn in {
        "rate": lambda s: iv.two_proportion_z(x[s], n[s], px[s], pn[s]),
        "mean": lambda s: iv.welch_p(x[s] / n[s], sd[s], n[s], px[s] / pn[s], psd[s], pn[s]),
        "count": lambda s: iv.poisson_p(x[s], px[s]),
        "sum_ratio": lambda s: iv.z_p(v[s] - pv[s], np.sqrt(se[s] ** 2 + pse[s] ** 2)),
    }.items():
        sel = k == name
        if sel.any():
            with np.errstate(all="ignore"):
                p[sel] = fn(sel)
    return pd.Series(p, index=out.index)


def change_months(program: Program) -> dict[str, list[str]]:
    """Declared practice changes per metric: the roadmap's ``change_month`` of each topic.

    Why the roadmap: a practice change is the one reason to rebase control limits that the
    program file records; the roadmap is program-wide, so the change rebases the metric's
    series of every provider.
    """
    out: dict[str, list[str]] = {}
    for item in program.roadmap.values():
        if item.change_month and item.metric in program.metrics:
            out.setdefault(item.metric, [])
            if item.change_month not in out[item.metric]:
                out[item.metric].append(item.change_month)
    return {k: sorted(v) for k, v in out.items()}


def _control_chart(out: pd.DataFrame, ok: pd.Series, program: Program) -> pd.DataFrame:
    """XmR control chart of each monthly series, up to each month (:func:`spc.as_of`).

    The Making Data Count rules (NHSRplotthedots) for every kind, rates included: XmR limits
    come from the series' own month-to-month variation, so they stay honest when months vary by
    more than binomial chance (a p-chart's limits from a large denominator flag every wobble),
    and NHSRplotthedots charts percentages the same way. Limits use only the provider's own
    unsuppressed months up to and including the period (a month's packet never changes when
    later months arrive) and need ``SPC_MIN_POINTS`` of them; a roadmap ``change_month``
    rebases them once the new segment has that many months. Signals: a point outside the
    limits, ``RUN_LENGTH`` months on one side of the centre line, ``TREND_LENGTH`` months each
    rising or each falling, or two of three months beyond two sigma on one side; each read as an
    improvement or a concern by the metric's direction (``spc_signal``), with the assurance
    against the target (``spc_assurance``).
    """
    for col in ("centre_line", "control_low", "control_high"):
        out[col] = np.nan
    out["flag_special_cause"] = False
    out["spc_signal"] = ""
    out["spc_assurance"] = ""
    out["spc_rule_"] = ""
    out["spc_side_"] = 0
    # the series a meeting reads period after period: months, and weeks or fortnights for a
    # weekly or biweekly program (each grain its own series, limits from its own variation)
    sel = out["grain"].isin(("month", *SUB_MONTH_GRAINS)) & ok
    if not sel.any():
        return out
    metrics = program.metrics
    d = out.loc[sel, [*SERIES, "grain", "period", "start", "value"]].copy()
    d["_dir"] = d["metric_id"].map({k: m.direction for k, m in metrics.items()})
    d["_target"] = d["metric_id"].map({k: m.target for k, m in metrics.items()}).astype(float)
    changes = change_months(program)
    # a week or fortnight is after a change month when it starts in or after that month
    month_of = [
        p if g == "month" else f"{pd.Timestamp(s):%Y-%m}"
        for p, g, s in zip(d["period"], d["grain"], d["start"], strict=True)
    ]
    d["_seg"] = [
        sum(c <= period for c in changes.get(mid, ()))
        for mid, period in zip(d["metric_id"], month_of, strict=True)
    ]
    d = d.drop(columns="start")
    res = spc.as_of(
        d, [*SERIES, "grain"], direction="_dir", target="_target", segment="_seg", rules=SPC_RULES
    )
    idx = res.index
    out.loc[idx, "centre_line"] = res["spc_mean"]
    out.loc[idx, "control_low"] = res["spc_lpl"]
    out.loc[idx, "control_high"] = res["spc_upl"]
    out.loc[idx, "flag_special_cause"] = (res["spc_rule"] != "").to_numpy()
    out.loc[idx, "spc_signal"] = res["spc_signal"]
    out.loc[idx, "spc_assurance"] = res["spc_assurance"]
    out.loc[idx, "spc_rule_"] = res["spc_rule"]
    out.loc[idx, "spc_side_"] = res["spc_side"]
    return out


def _reasons(out: pd.DataFrame, program: Program, up: pd.Series, target: pd.Series) -> list[str]:
    reasons = []
    cols = [
        "metric_id",
        "grain",
        "period",
        "value",
        "previous_value",
        "peer_median",
        "peer_rank",
        "peer_n",
        "change_p_value",
        "centre_line",
        "control_low",
        "control_high",
        "spc_rule_",
        "spc_side_",
        "spc_signal",
        "flag_below_target",
        "flag_worse_than_peers",
        "flag_significant_change",
        "flag_special_cause",
    ]
    raised = (
        out["flag_below_target"].to_numpy(bool)
        | out["flag_worse_than_peers"].to_numpy(bool)
        | out["flag_significant_change"].to_numpy(bool)
        | out["flag_special_cause"].to_numpy(bool)
    )
    result = np.full(len(out), "", dtype=object)
    rows = out.loc[raised, cols].itertuples(index=False)  # sentences only where a flag is raised
    for row, is_up, tgt in zip(rows, up.to_numpy()[raised], target.to_numpy()[raised], strict=True):
        m = program.metrics[row.metric_id]
        f = partial(text.metric_value, metric=m)  # a count metric in whole numbers
        said = []
        if row.flag_below_target:
            rel = "below" if is_up else "above"
            val, goal = text.pair(row.value, tgt, text.kind_of(m.format, m.kind), m.unit)
            said.append(
                f"{m.label} of {val} is {rel} the target of {goal}"
                f"{'' if is_up else ' (lower is better)'}."
            )
        if row.flag_worse_than_peers:
            rel = "below" if is_up else "above"
            said.append(
                f"{f(row.value)} is {rel} the peer median of {f(row.peer_median)} "
                f"(rank {int(row.peer_rank)} of {int(row.peer_n)} providers)."
            )
        if row.flag_significant_change:
            moved = "rose" if row.value > row.previous_value else "fell"
            better = (row.value > row.previous_value) == is_up
            p = "" if np.isnan(row.change_p_value) else f", p = {row.change_p_value:.3f}"
            test = "95% intervals do not overlap" if m.kind == "median" else "significant change"
            said.append(
                f"{m.label} {moved} from {f(row.previous_value)} to {f(row.value)} since the previous "
                f"period ({'better' if better else 'worse'}; {test}{p})."
            )
        if row.flag_special_cause:
            said.append(_spc_sentence(row, m, f))
        reasons.append(" ".join(said))
    result[raised] = reasons
    return result.tolist()


def _spc_sentence(row, m: Metric, f) -> str:
    """The special-cause sentence: what the signal means first (improvement or concern), then
    the rule that raised it, with the limit written so that it never reads as the value."""
    lead = spc.SIGNAL_LEADS.get(row.spc_signal, "Special cause")
    high = row.spc_side_ > 0
    side = "above" if high else "below"
    centre = f(row.centre_line)
    if row.spc_rule_ == "astronomical":
        limit = row.control_high if high else row.control_low
        # both to the digits that make the sentence true ("7.04 days ... limit of 7.01 days")
        val, shown = text.pair(row.value, limit, text.kind_of(m.format, m.kind), m.unit)
        return (
            f"{lead}: {val} is {side} the {'upper' if high else 'lower'} control limit "
            f"of {shown} (centre line {centre})."
        )
    unit, one = SPC_UNITS.get(row.grain, SPC_UNITS["month"])
    if row.spc_rule_ == "trend":
        return (
            f"{lead}: {TREND_LENGTH} {unit} in a row each {'higher' if high else 'lower'} than "
            f"the {one} before, to {f(row.value)}."
        )
    if row.spc_rule_ == "two_of_three":
        limit = row.control_high if high else row.control_low
        shown = text.distinct(limit, row.value, m.format, m.unit)
        return (
            f"{lead}: 2 of the last 3 {unit} beyond two sigma {side} the centre line of {centre} "
            f"(control limit {shown}), {f(row.value)} this {one}."
        )
    return f"{lead}: {RUN_LENGTH} {unit} in a row {side} the centre line of {centre}."


# the words of a control-chart sentence per grain: (plural, singular)
SPC_UNITS = {
    "month": ("months", "month"),
    "week": ("weeks", "week"),
    "biweek": ("fortnights", "fortnight"),
}
