"""Equity: disparities between groups and disproportionality of those served.

For every provider (and "__all__"), period, metric and dimension, each group is compared with
the dimension's reference group and with all other groups combined (the overall cell minus the
group), as a difference and a ratio with 95% intervals:

- rates: Newcombe hybrid score interval for the difference, Katz log interval for the ratio;
- means: Welch t interval for the difference, delta-method log interval for the ratio;
- medians, counts and ratios of sums: the difference and ratio of values, without an interval
  (and never flagged).

A disparity is flagged only when it is adverse for the group (lower when higher is better, and
vice versa), both groups compared have at least the suppression threshold of cases (and are not
suppressed), and the difference interval excludes zero after a Bonferroni adjustment for the
number of comparisons made in that breakdown (stored intervals are plain 95% intervals, so a
flagged gap's 95% interval always excludes zero too). The engine's "Not recorded" group (blank
values) is never flagged: it is a data-quality finding, not a population group. Disproportionality compares the group's
share of the metric's population (share of clients served for a count metric) with the
dimension's ``reference_shares`` (exact binomial test); it is flagged for count metrics only,
when p < 0.05 and the ratio is outside 0.8 .. 1.25. The share's denominator is the overall
cell (every group, "Unknown" and "Not recorded" included), the one total the output publishes,
so dividing a group's cases by its share gives back nothing suppression hides; it is null when
the overall cell is suppressed (see :func:`_share_base`).
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pandas as pd

from acm_helpers.core import text
from acm_helpers.core.config import Program
from acm_helpers.core.schema import EQUITY_COLUMNS, NOT_RECORDED, conform
from acm_helpers.metrics import intervals as iv
from acm_helpers.metrics.privacy import COMPARISON_COLUMNS, null_suppressed

CELL = ["metric_id", "provider_id", "period", "grain"]
DISPROPORTION_BAND = (0.8, 1.25)
ALPHA = 0.05


def _sums(frame: pd.DataFrame, prefix: str = "") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """n, sum and sum of squares of a mean cell (from n, mean and sd)."""
    n = frame[prefix + "_n"].to_numpy(float)
    s = frame[prefix + "_x"].to_numpy(float)
    sd = np.nan_to_num(frame[prefix + "_sd"].to_numpy(float))
    with np.errstate(all="ignore"):
        ss = (n - 1) * sd**2 + np.where(n > 0, s**2 / n, 0)
    return n, s, ss


def equity_table(cells: pd.DataFrame, program: Program, version: str = "") -> pd.DataFrame:
    """The equity table from the engine's cells (with suppression marked, values not yet nulled).

    Args:
        cells: :func:`metrics.compute_tables`' internal frame: contract columns plus ``_n``,
            ``_x``, ``_sd`` and ``_rows``.
        program: dimensions (reference group and shares), metric kinds and directions, threshold.
        version: copied into the ``version`` column.
    """
    t = program.suppression.threshold
    groups = cells[cells["dimension"] != ""].copy()
    if groups.empty:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in EQUITY_COLUMNS})
    overall = cells[cells["dimension"] == ""][
        [
            *CELL,
            "value",
            "_n",
            "_x",
            "_sd",
            "_rows",
            "numerator",
            "denominator",
            "cell_size",
            "suppressed",
        ]
    ]
    groups = groups.merge(
        overall.rename(columns={c: "tot" + c for c in overall.columns if c not in CELL}),
        on=CELL,
        how="left",
    )
    refs = {d: (dim.reference_group or "") for d, dim in program.dimensions.items()}
    groups["reference_group"] = groups["dimension"].map(refs).fillna("")
    groups["is_reference"] = groups["group"] == groups["reference_group"]
    ref = groups[groups["is_reference"]][
        [*CELL, "dimension", "value", "_n", "_x", "_sd", "cell_size", "suppressed"]
    ]
    groups = groups.merge(
        ref.rename(
            columns={
                "value": "reference_value",
                "_n": "ref_n",
                "_x": "ref_x",
                "_sd": "ref_sd",
                "cell_size": "ref_cell",
                "suppressed": "ref_supp",
            }
        ),
        on=[*CELL, "dimension"],
        how="left",
    )
    kind = groups["metric_id"].map({k: m.kind for k, m in program.metrics.items()})
    up = (
        groups["metric_id"]
        .map({k: m.direction == "up" for k, m in program.metrics.items()})
        .astype(bool)
    )
    _compare(groups, kind)
    ref_ok = groups["ref_supp"].eq(False) & (groups["ref_cell"] >= t) & ~groups["is_reference"]
    for col in [
        c
        for c in groups.columns
        if c.startswith("diff_vs_reference") or c.startswith("ratio_vs_reference")
    ]:
        groups[col] = groups[col].where(groups["ref_supp"].eq(False) & ~groups["is_reference"])
    groups["reference_value"] = groups["reference_value"].where(groups["ref_supp"].eq(False))
    own_ok = ~groups["suppressed"] & (groups["cell_size"] >= t) & (groups["group"] != NOT_RECORDED)
    others_cell = groups["tot_n"].fillna(groups["tot_rows"]) - groups["_n"]
    rated = kind.isin(["rate", "mean"])
    elig_ref = (rated & own_ok & ref_ok).to_numpy()
    elig_oth = (rated & own_ok & (others_cell >= t)).to_numpy()
    flag_ref, flag_oth, k = _adjusted_flags(groups, kind, up, elig_ref, elig_oth)
    groups["flag_disparity"] = flag_ref | flag_oth
    groups["n_comparisons"] = k
    groups["disparity_reason"] = _disparity_reasons(groups, program, flag_ref, flag_oth)
    _disproportionality(groups, program, kind, t)
    groups["version"] = version
    out = null_suppressed(groups)
    return conform(out, EQUITY_COLUMNS).sort_values(
        ["metric_id", "grain", "period", "provider_id", "dimension", "group"], ignore_index=True
    )


def _compare(g: pd.DataFrame, kind: pd.Series) -> None:
    """Fill diff/ratio vs reference and vs others (with intervals where the kind allows)."""
    for col in COMPARISON_COLUMNS:
        g[col] = np.nan
    v, rv = g["value"].to_numpy(float), g["reference_value"].to_numpy(float)
    with np.errstate(all="ignore"):
        g["diff_vs_reference"] = v - rv
        g["ratio_vs_reference"] = np.where(rv != 0, v / rv, np.nan)
        # others = overall minus the group; for ratio-of-sums cells numerator/denominator subtract
        ox = g["totnumerator"] - g["numerator"]
        od = g["totdenominator"] - g["denominator"]
        g["others_value"] = np.where(kind == "sum_ratio", ox / od.where(od != 0), np.nan)
    rate, mean = (kind == "rate").to_numpy(), (kind == "mean").to_numpy()
    x, n = g["_x"].to_numpy(float), g["_n"].to_numpy(float)
    if rate.any():
        rx, rn = g["ref_x"].to_numpy(float), g["ref_n"].to_numpy(float)
        ox, on = g["tot_x"].to_numpy(float) - x, g["tot_n"].to_numpy(float) - n
        d, lo, hi = iv.newcombe_difference(x, n, rx, rn)
        r, rlo, rhi = iv.katz_ratio(x, n, rx, rn)
        _put(g, rate, "vs_reference", d, lo, hi, r, rlo, rhi)
        with np.errstate(all="ignore"):
            g.loc[rate, "others_value"] = (ox / on)[rate]
        d, lo, hi = iv.newcombe_difference(x, n, ox, on)
        r, rlo, rhi = iv.katz_ratio(x, n, ox, on)
        _put(g, rate, "vs_others", d, lo, hi, r, rlo, rhi)
    if mean.any():
        n1, s1, ss1 = _sums(g)
        m1 = s1 / n1
        sd1 = g["_sd"].to_numpy(float)
        rn, rs, _ = _sums(g.rename(columns={"ref_n": "r_n", "ref_x": "r_x", "ref_sd": "r_sd"}), "r")
        rm, rsd = rs / rn, g["ref_sd"].to_numpy(float)
        tn, ts, tss = _sums(g, "tot")
        on, os_, oss = tn - n1, ts - s1, tss - ss1
        with np.errstate(all="ignore"):
            om = os_ / on
            osd = np.sqrt(np.maximum(oss - on * om**2, 0) / (on - 1))
        _put(
            g,
            mean,
            "vs_reference",
            *iv.welch_difference(m1, sd1, n1, rm, rsd, rn),
            *iv.mean_ratio(m1, sd1, n1, rm, rsd, rn),
        )
        g.loc[mean, "others_value"] = om[mean]
        _put(
            g,
            mean,
            "vs_others",
            *iv.welch_difference(m1, sd1, n1, om, osd, on),
            *iv.mean_ratio(m1, sd1, n1, om, osd, on),
        )
    plain = ~(rate | mean)
    with np.errstate(all="ignore"):
        ov = g["others_value"].to_numpy(float)
        g.loc[plain, "diff_vs_others"] = (v - ov)[plain]
        g.loc[plain, "ratio_vs_others"] = np.where(ov != 0, v / ov, np.nan)[plain]


def _adjusted_flags(
    g: pd.DataFrame, kind: pd.Series, up: pd.Series, elig_ref: np.ndarray, elig_oth: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Adverse gaps significant after a Bonferroni adjustment within each breakdown.

    Why adjust: a breakdown compares every group with the reference and with all others, so with
    eight groups a 95% interval would flag a chance gap in about half of the breakdowns where
    there is none. The family of comparisons is one provider x period x metric x dimension; each
    is tested at 0.05 / k, k being the number of comparisons made in it.
    """
    cell = g.groupby([*CELL, "dimension"], sort=False).ngroup().to_numpy()
    per_cell = np.bincount(cell, weights=elig_ref.astype(float) + elig_oth.astype(float))
    k = np.maximum(per_cell[cell], 1)
    flag_ref = np.zeros(len(g), dtype=bool)
    flag_oth = np.zeros(len(g), dtype=bool)
    rate, mean, upv = (kind == "rate").to_numpy(), (kind == "mean").to_numpy(), up.to_numpy()
    x, n = g["_x"].to_numpy(float), g["_n"].to_numpy(float)
    n1, s1, ss1 = _sums(g)
    sd1 = g["_sd"].to_numpy(float)
    tn, ts, tss = _sums(g, "tot")
    on, os_ = tn - n1, ts - s1
    with np.errstate(all="ignore"):
        m1, om = s1 / n1, os_ / on
        osd = np.sqrt(np.maximum(tss - ss1 - on * om**2, 0) / (on - 1))
        rm = g["ref_x"].to_numpy(float) / g["ref_n"].to_numpy(float)
    rx, rn, rsd = (g[c].to_numpy(float) for c in ("ref_x", "ref_n", "ref_sd"))
    ox, onr = g["tot_x"].to_numpy(float) - x, g["tot_n"].to_numpy(float) - n
    for kk in np.unique(k[elig_ref | elig_oth]):
        alpha = ALPHA / kk
        for target, eligible, vs_ref in ((flag_ref, elig_ref, True), (flag_oth, elig_oth, False)):
            i = np.flatnonzero((k == kk) & eligible)
            if not i.size:
                continue
            if vs_ref:
                rd = iv.newcombe_difference(x[i], n[i], rx[i], rn[i], alpha)
                md = iv.welch_difference(m1[i], sd1[i], n1[i], rm[i], rsd[i], rn[i], alpha)
            else:
                rd = iv.newcombe_difference(x[i], n[i], ox[i], onr[i], alpha)
                md = iv.welch_difference(m1[i], sd1[i], n1[i], om[i], osd[i], on[i], alpha)
            lo = np.where(rate[i], rd[1], np.where(mean[i], md[1], np.nan))
            hi = np.where(rate[i], rd[2], np.where(mean[i], md[2], np.nan))
            target[i] = np.where(upv[i], hi < 0, lo > 0)
    return flag_ref, flag_oth, k


def _put(g: pd.DataFrame, sel: np.ndarray, what: str, d, lo, hi, r, rlo, rhi) -> None:
    for name, arr in (
        (f"diff_{what}", d),
        (f"diff_{what}_low", lo),
        (f"diff_{what}_high", hi),
        (f"ratio_{what}", r),
        (f"ratio_{what}_low", rlo),
        (f"ratio_{what}_high", rhi),
    ):
        g.loc[sel, name] = np.asarray(arr, dtype=float)[sel]


def _disparity_reasons(
    g: pd.DataFrame, program: Program, flag_ref: pd.Series, flag_oth: pd.Series
) -> list[str]:
    cols = [
        "metric_id",
        "dimension",
        "group",
        "value",
        "reference_group",
        "reference_value",
        "others_value",
        "diff_vs_reference_low",
        "diff_vs_reference_high",
        "diff_vs_others_low",
        "diff_vs_others_high",
        "n_comparisons",
    ]
    flag_ref, flag_oth = np.asarray(flag_ref, dtype=bool), np.asarray(flag_oth, dtype=bool)
    out = [""] * len(g)
    rows = np.flatnonzero(flag_ref | flag_oth)  # sentences for flagged rows only
    for pos, row in zip(rows, g.iloc[rows][cols].itertuples(index=False), strict=True):
        fr, fo = flag_ref[pos], flag_oth[pos]
        m = program.metrics[row.metric_id]
        f = partial(text.value, fmt=m.format, unit=m.unit)
        pp = partial(text.signed_range, fmt=m.format, unit=m.unit)
        parts = []
        if fr:
            parts.append(
                f"{f(row.reference_value)} for {row.reference_group} (difference 95% CI "
                f"{pp(row.diff_vs_reference_low, row.diff_vs_reference_high)})"
            )
        if fo:
            parts.append(
                f"{f(row.others_value)} for all other groups (95% CI "
                f"{pp(row.diff_vs_others_low, row.diff_vs_others_high)})"
            )
        adj = (
            f" Significant after adjusting for the {int(row.n_comparisons)} comparisons in this breakdown."
            if row.n_comparisons > 1
            else ""
        )
        out[pos] = (
            f"{m.label} for {row.group} was {f(row.value)}, worse than "
            + " and ".join(parts)
            + "."
            + adj
        )
    return out


def _share_base(g: pd.DataFrame) -> pd.Series:
    """The denominator of each group's share served: the overall cell's size, never a sum over
    some of the groups; null when the overall cell is suppressed.

    Why: a share is a published fraction, and a reader who also sees the group's cases can
    divide them by it (35 / 0.2465 = 142). That quotient must be a number the output may
    publish: the overall total, which complementary suppression already treats as published.
    A base over the groups that have a population share only would be a second total that
    differs from the overall one by the groups without a share ("Unknown", "Not recorded"),
    and subtracting the two recovers those groups even when they are suppressed. The overall
    size is all of the breakdown's groups together (the engine's "Not recorded" group holds the
    blanks); where the overall cell is not in the frame, the sum over all groups is used.
    """
    keys = [g[c] for c in [*CELL, "dimension"]]
    summed = g["cell_size"].fillna(0).groupby(keys).transform("sum")
    total = g["totcell_size"].where(g["totcell_size"].notna(), summed)
    return total.where(~g["totsuppressed"].fillna(False).astype(bool))


def _disproportionality(g: pd.DataFrame, program: Program, kind: pd.Series, t: int) -> None:
    shares = {
        (d, grp): s
        for d, dim in program.dimensions.items()
        for grp, s in dim.reference_shares.items()
    }
    g["reference_share"] = (
        pd.Series(shares, dtype="float64")
        .reindex(pd.MultiIndex.from_arrays([g["dimension"], g["group"]]))
        .to_numpy()
        if shares
        else np.nan
    )
    listed = g["reference_share"].notna()
    total = _share_base(g)
    has_ref = (
        g["dimension"]
        .map({d: bool(dim.reference_shares) for d, dim in program.dimensions.items()})
        .fillna(False)
    )
    with np.errstate(all="ignore"):
        g["share_served"] = np.where(has_ref & listed & (total > 0), g["cell_size"] / total, np.nan)
        g["disproportionality"] = g["share_served"] / g["reference_share"]
    g["disproportionality_p"] = iv.binomial_two_sided(
        g["cell_size"].fillna(0), total.fillna(0), g["reference_share"].fillna(0)
    )
    g["disproportionality_p"] = g["disproportionality_p"].where(g["share_served"].notna())
    lo, hi = DISPROPORTION_BAND
    ratio = g["disproportionality"]
    flag = (
        (kind == "count")
        & ~g["suppressed"]
        & (total >= t)
        & (g["disproportionality_p"] < ALPHA)
        & ((ratio < lo) | (ratio > hi))
    )
    g["flag_disproportionality"] = flag.fillna(False).astype(bool)
    reasons = [""] * len(g)
    rows = np.flatnonzero(flag.fillna(False).to_numpy(bool))  # sentences for flagged rows only
    picked = g.iloc[rows]
    for pos, grp, d, sh, rs, r, mid in zip(
        rows,
        picked["group"],
        picked["dimension"],
        picked["share_served"],
        picked["reference_share"],
        ratio.iloc[rows],
        picked["metric_id"],
        strict=True,
    ):
        dim, m = program.dimensions[d], program.metrics[mid]
        word = "over-represented" if r > 1 else "under-represented"
        src = f" ({dim.reference_source})" if dim.reference_source else ""
        reasons[pos] = (
            f"{grp} are {word}: {text.value(sh, 'percent')} of {m.numerator_label or m.label.lower()} "
            f"vs {text.value(rs, 'percent')} of the "
            f"reference population{src}; ratio {r:.2f}."
        )
    g["disproportionality_reason"] = reasons
