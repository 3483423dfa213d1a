"""Case-file sampler: a reproducible, stratified sample of episodes for file review.

Numbers say *what* happened; reading a handful of case files says *why*. Before a meeting an
agency analyst pulls a few episodes with a good outcome and a few with a poor one for the
provider's files, so both sides discuss real cases. The sample must be reproducible (the same
seed and data give the same episodes, so the list can be re-created and audited) and it lists
client-level rows, so it is for the **internal audience only**: asking for a provider-audience
sample raises :class:`PrivacyError`, and :func:`section` returns a note instead of rows when the
deep-dive notebook runs for a provider.

The strata's sizes are the engine's cells of the outcome metric for the window (numerator and
denominator by group, :func:`acm_helpers.metrics.windows.window_cells`); the episodes drawn come
from the same declared SQL row by row (:func:`acm_helpers.metrics.windows.metric_rows`), and a
sample whose strata do not add up to the engine's counts is refused.

The rule, stated in every sample: take the provider's population of the outcome metric over the
window (e.g. leavers in the last 12 months), sort it by episode id, split it into strata by
outcome (good / poor) and optionally by one dimension, and draw ``n`` episodes from each stratum
uniformly at random without replacement with a ``numpy`` generator seeded with ``seed``.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import numpy as np
import pandas as pd

from acm_helpers.core import text
from acm_helpers.core.calendar import month_label
from acm_helpers.core.config import Program
from acm_helpers.core.errors import MetricError, PrivacyError
from acm_helpers.core.schema import NOT_RECORDED
from acm_helpers.meetings.context import DeepDiveContext, table_box
from acm_helpers.metrics import windows as em

DEFAULT_SEED = 20261023
SHOWN_COLUMNS = [
    "episode_id",
    "client_id",
    "household_id",
    "enrollment_date",
    "exit_date",
    "destination_class",
    "length_of_stay_days",
    "race_ethnicity",
    "gender",
    "age_at_entry",
]

CASE_HEADERS = {  # the case table's headers as a file reviewer reads them
    "outcome": "Outcome",
    "episode_id": "Episode",
    "client_id": "Client",
    "household_id": "Household",
    "enrollment_date": "Enrolled",
    "exit_date": "Exited",
    "destination_class": "Destination",
    "length_of_stay_days": "Days enrolled",
    "race_ethnicity": "Race and ethnicity",
    "gender": "Gender",
    "age_at_entry": "Age at entry",
}


@dataclass
class CaseSample:
    """The sampled episodes, the strata they came from, and the sampling rule in words."""

    sample: pd.DataFrame
    strata: pd.DataFrame
    rule: str
    provider_id: str
    seed: int
    title: str = "Case files for review"

    def to_html(self) -> str:
        """HTML with an "internal only" banner, for the internal deep-dive notebook."""
        banner = (
            '<p style="background:#fdecea;border-left:4px solid #c0392b;padding:6px 10px">'
            "<strong>Internal only.</strong> Client-level episodes for file review; never "
            "include them in a provider packet.</p>"
        )
        return (
            f'<section class="acm-cases"><h2>{html.escape(self.title)}</h2>{banner}<p>{html.escape(self.rule)}</p>'
            + self.strata.to_html(index=False, border=0, classes="acm-table")
            + table_box(
                self.sample.drop(columns=["outcome_label"], errors="ignore")
                .rename(columns=CASE_HEADERS)
                .to_html(index=False, border=0, na_rep="–", classes="acm-table")
            )
            + "</section>"
        )

    def __repr__(self) -> str:  # short: the HTML is the display; keep notebooks and logs tidy
        return f"<CaseSample {self.provider_id}: {len(self.sample)} episodes, seed {self.seed}>"

    def _repr_html_(self) -> str:
        return self.to_html()


def outcome_labels(program: Program, metric_id: str) -> tuple[str, str]:
    """Plain labels for the good and the poor outcome of a rate metric, by its direction."""
    m = program.metric(metric_id)
    what = m.numerator_label or m.label.lower()
    yes, no = f"{what}: yes", f"{what}: no"
    return (yes, no) if m.direction == "up" else (no, yes)


def sample_cases(
    program: Program,
    episodes: pd.DataFrame,
    provider_id: str,
    period: str,
    *,
    audience: str = "internal",
    metric: str | None = None,
    n_per_stratum: int = 5,
    months: int = 12,
    by: str | None = None,
    seed: int = DEFAULT_SEED,
) -> CaseSample:
    """Draw a stratified random sample of a provider's episodes by outcome (and ``by``).

    Args:
        program: the program (metrics, dimensions, providers).
        episodes: every episode with derived columns (the store's ``episodes``).
        provider_id: whose files to pull.
        period: last month of the window (YYYY-MM).
        audience: must be ``internal``; ``provider`` raises PrivacyError.
        metric: a rate metric defining the outcome (default: the first key rate metric).
        n_per_stratum: episodes per stratum (fewer when a stratum is smaller).
        months: window length, ending with ``period``.
        by: optional dimension id to stratify within each outcome (e.g. ``race_ethnicity``).
        seed: generator seed; the same seed and data give the same sample.

    Raises:
        PrivacyError: for a provider audience.
        MetricError: the metric is not a rate, or the provider has no episodes in the window.
    """
    if audience != "internal":
        raise PrivacyError(
            f"The case-file sampler lists client-level episodes of {provider_id}; it is for internal "
            f"file review only and cannot run for audience {audience!r}. Use audience='internal' and "
            "keep the list out of provider packets."
        )
    program.provider(provider_id)
    program.check_period(period)
    if n_per_stratum < 1:
        raise MetricError(f"n_per_stratum must be at least 1, got {n_per_stratum}.")
    mid = metric or next(k for k, m in program.metrics.items() if m.kind == "rate" and m.key)
    m = program.metric(mid)
    if m.kind != "rate":
        raise MetricError(
            f"The sampler needs a rate metric to tell good from poor outcomes; {mid!r} is a {m.kind}."
        )
    eps = em.with_dimensions(episodes, program)
    win = em.trailing_window(period, months, "window")
    rows = em.metric_rows(eps, m, win, provider_id)
    name = program.provider(provider_id).name
    if rows.empty:
        raise MetricError(
            f"{name}: no {m.denominator_label or 'cases'} in the {months} months to {period}; "
            "nothing to sample."
        )
    good, poor = outcome_labels(program, mid)
    is_good = (rows["_num"] == 1) if m.direction == "up" else (rows["_num"] == 0)
    rows = rows.assign(
        outcome=np.where(is_good, "good", "poor"), outcome_label=np.where(is_good, good, poor)
    )
    keys = ["outcome"]
    if by is not None:
        col = program.dimension(by).column
        label = rows[col].astype("string").str.strip()
        rows[col] = label.mask(label == "").fillna(NOT_RECORDED).astype("object")
        keys.append(col)
    rows = rows.sort_values(["episode_id"], kind="mergesort").reset_index(drop=True)
    strata = engine_strata(program, eps, provider_id, mid, win, by)
    drawn = rows.groupby(keys, sort=True).size()
    if drawn.to_dict() != strata.set_index(keys)["episodes"].to_dict():
        raise MetricError(
            f"{name}: the case list's strata ({drawn.to_dict()}) do not match the engine's counts "
            f"for {m.label} ({strata.set_index(keys)['episodes'].to_dict()}); the rows and the "
            "metric disagree, so no sample is drawn. Report this as a bug."
        )
    rng = np.random.default_rng(seed)
    picked, taken = [], {}
    for key, g in rows.groupby(keys, sort=True):
        take = min(n_per_stratum, len(g))
        idx = np.sort(rng.choice(len(g), size=take, replace=False))
        picked.append(g.iloc[idx])
        taken[key if len(keys) > 1 else key[0]] = take
    strata["sampled"] = strata.set_index(keys).index.map(taken).astype(int)
    sample = pd.concat(picked, ignore_index=True)
    cols = [
        "outcome",
        "outcome_label",
        *keys[1:],
        *[c for c in SHOWN_COLUMNS if c in sample.columns],
    ]
    sample = sample[list(dict.fromkeys(cols))]
    window = f"the {months} months to {month_label(period)}"
    counts = strata.groupby("outcome")["episodes"].sum()
    rule = (
        f"From {text.possessive(name)} {text.count(counts.sum())} {m.denominator_label or 'cases'} in {window}, sorted by episode id "
        f"and split by outcome (good, {good}: {text.count(counts.get('good', 0))} episodes; poor, {poor}: "
        f"{text.count(counts.get('poor', 0))})"
        + (f" and by {program.dimension(by).label.lower()}" if by else "")
        + f", {n_per_stratum} episodes were drawn from each stratum at random without replacement "
        f"(numpy generator, seed {seed}); strata smaller than {n_per_stratum} are taken whole. "
        "The same seed and data give the same sample."
    )
    return CaseSample(sample, strata, rule, provider_id, seed)


def spot_check(
    program: Program,
    episodes: pd.DataFrame,
    provider_id: str,
    period: str,
    *,
    audience: str = "internal",
    n: int = 10,
    months: int = 3,
    seed: int = DEFAULT_SEED,
) -> CaseSample:
    """A simple random sample of the provider's episodes for compliance review.

    Why beside the outcome-stratified pull: that one looks for *why* outcomes differ; a
    compliance spot check must give every episode the same chance, whatever its outcome, so
    that what the review finds can be read as the share of all files. The rule, stated in the
    result: the provider's episodes open at any time in the ``months`` months to ``period``,
    sorted by episode id, ``n`` drawn uniformly at random without replacement (numpy
    generator seeded with ``seed``; the same seed and data give the same episodes).

    Raises:
        PrivacyError: for a provider audience (client-level rows).
        MetricError: ``n`` under 1, or the provider has no episode in the window.
    """
    if audience != "internal":
        raise PrivacyError(
            f"The spot-check sample lists client-level episodes of {provider_id}; it is for "
            f"internal compliance review only and cannot run for audience {audience!r}."
        )
    program.provider(provider_id)
    program.check_period(period)
    if n < 1:
        raise MetricError(f"A spot check needs n of at least 1, got {n}.")
    from acm_helpers.core.calendar import period_bounds, shift_period

    first = shift_period(period, -(months - 1))
    start, end = pd.Timestamp(period_bounds(first)[0]), pd.Timestamp(period_bounds(period)[1])
    enrol = pd.to_datetime(episodes["enrollment_date"])
    exits = pd.to_datetime(episodes["exit_date"])
    pool = episodes[
        (episodes["provider_id"] == provider_id)
        & (enrol <= end)
        & (exits.isna() | (exits >= start))
    ].sort_values("episode_id", kind="mergesort", ignore_index=True)
    name = program.provider(provider_id).name
    if pool.empty:
        raise MetricError(f"{name}: no episode open in the {months} months to {period}.")
    rng = np.random.default_rng(seed)
    take = min(n, len(pool))
    sample = pool.iloc[np.sort(rng.choice(len(pool), size=take, replace=False))]
    sample = sample[[c for c in SHOWN_COLUMNS if c in sample.columns]].reset_index(drop=True)
    strata = pd.DataFrame({"outcome": ["any"], "episodes": [len(pool)], "sampled": [take]})
    window = f"the {months} months to {month_label(period)}"
    rule = (
        f"Spot check for compliance review: from {text.possessive(name)} "
        f"{text.count(len(pool))} episodes open at any time in {window}, sorted by episode id, "
        f"{take} were drawn at random without replacement, every episode with the same chance "
        f"whatever its outcome (numpy generator, seed {seed}). The same seed and data give the "
        "same sample."
    )
    return CaseSample(sample, strata, rule, provider_id, seed, "Spot check for compliance review")


def spot_check_section(ctx: DeepDiveContext, *, n: int = 10, seed: int = DEFAULT_SEED):
    """The deep dive's spot-check section: the sample for internal audiences, a note otherwise."""
    from IPython.display import Markdown

    if ctx.audience != "internal":
        return Markdown(
            "## Spot check\n\n*The compliance spot check is an internal step; no client-level "
            "records appear in this packet.*"
        )
    out = spot_check(ctx.program, ctx.episodes, ctx.provider_id, ctx.period, n=n, seed=seed)
    return out


def engine_strata(
    program: Program,
    episodes: pd.DataFrame,
    provider_id: str,
    metric_id: str,
    win: pd.DataFrame,
    by: str | None = None,
) -> pd.DataFrame:
    """Episodes per stratum (outcome, and the ``by`` group) from the engine's cells of the rate
    metric: a good outcome is the numerator when higher is better, the rest of the denominator
    otherwise. Strata with no episode are left out, as they have nothing to draw."""
    m = program.metric(metric_id)
    cells = em.window_cells(
        program, episodes, win, [metric_id], providers=[provider_id], dimensions=[by] if by else []
    )
    cells = cells[cells["dimension"] == (by or "")]
    x, n = cells["numerator"].to_numpy(float), cells["denominator"].to_numpy(float)
    good, poor = (x, n - x) if m.direction == "up" else (n - x, x)
    keys = {} if by is None else {program.dimension(by).column: cells["group"].to_numpy()}
    out = pd.concat(
        [
            pd.DataFrame({"outcome": "good", **keys, "episodes": good}),
            pd.DataFrame({"outcome": "poor", **keys, "episodes": poor}),
        ],
        ignore_index=True,
    )
    out["episodes"] = out["episodes"].round().astype(int)
    order = ["outcome", *keys]
    return out[out["episodes"] > 0].sort_values(order).reset_index(drop=True)


def section(
    ctx: DeepDiveContext,
    *,
    metric: str | None = None,
    n_per_stratum: int = 5,
    by: str | None = None,
    seed: int = DEFAULT_SEED,
):
    """The deep-dive notebook's case-file section: the sample for internal audiences, a one-line
    note for provider audiences (so the same notebook serves both without leaking rows)."""
    from IPython.display import Markdown

    if ctx.audience != "internal":
        return Markdown(
            "## Case files for review\n\n*Case-file review is an internal step; no client-level "
            "records appear in this packet.*"
        )
    return sample_cases(
        ctx.program,
        ctx.episodes,
        ctx.provider_id,
        ctx.period,
        audience="internal",
        metric=metric,
        n_per_stratum=n_per_stratum,
        by=by,
        seed=seed,
    )
