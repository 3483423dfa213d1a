"""Client voice and frontline reports through the one engine.

Why no second engine: survey and frontline metrics are declared in the program file like
episode metrics (``client_voice.metrics``, ``frontline.categories``) and evaluated by
:func:`acm_helpers.metrics.engine.evaluate_tables` over their own rows, so their values carry
the same intervals, benchmarks, flags, SPC signals, equity table and suppression as every other
number. Each kind is a *view program*: the program with its metrics replaced by the kind's.

- Surveys: one row per response, with the equity columns of the episode it refers to (a
  response naming only a respondent gets them from that client's latest episode with the
  provider; otherwise "Not recorded"). ``client_id`` is the respondent (``respondent_id``, else
  the episode's client), so a count metric with ``value: client_id`` counts respondents.
- Response rate: respondents (a survey count metric) over clients served (an episode metric),
  cell by cell (provider, period, grain, group), each already through the engine's
  suppression; a cell is suppressed when either count is, or the served count is under the
  threshold. The interval is Wilson's, as for any rate.
- Frontline: per category a ``sum_ratio`` metric ``frontline_<category>``: reports of the
  category over provider-months, i.e. reports per month, so a month with no report is a 0 (the
  engine only sees months that have rows: each provider gets one placeholder row per month).
  Reports describe the provider's service, not clients, so small counts are not suppressed
  unless ``frontline.suppress`` says so.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from acm_helpers.core import text
from acm_helpers.core.calendar import period_bounds
from acm_helpers.core.config import Metric, Program
from acm_helpers.core.errors import MetricError
from acm_helpers.core.schema import (
    CELL_KEYS,
    FRONTLINE,
    METRIC_VALUE_COLUMNS,
    SUPPRESSED_TRUTH_COLUMNS,
    SURVEYS,
    conform,
)
from acm_helpers.metrics import intervals as iv
from acm_helpers.store.store import EPISODES, Store

MONTH_ROW = "__month"  # the placeholder category: one row per provider and month
FRONTLINE_PREFIX = "frontline_"


# -- the view programs ---------------------------------------------------------------------------
def survey_program(program: Program) -> Program:
    """The program with ``client_voice.metrics`` as its metrics (same dimensions, suppression)."""
    if program.client_voice is None or not program.client_voice.metrics:
        raise MetricError(f"Program {program.id} declares no client_voice.metrics.")
    return program.model_copy(update={"metrics": dict(program.client_voice.metrics)})


def frontline_metric_id(category: str) -> str:
    """``frontline_<category>``: the metric id of one frontline category."""
    return FRONTLINE_PREFIX + category


def frontline_program(program: Program) -> Program:
    """The program with one reports-per-month metric per frontline category, no breakdowns."""
    fl = program.frontline
    if fl is None:
        raise MetricError(f"Program {program.id} declares no frontline: block.")
    metrics = {}
    for cat, label in fl.categories.items():
        quoted = "'" + cat.replace("'", "''") + "'"
        metrics[frontline_metric_id(cat)] = Metric(
            label=f"Frontline reports: {label}",
            definition=(
                f"Reports by frontline caseworkers of {label.lower()} problems with the provider, "
                "per month (a quarter's value is its monthly average)."
            ),
            kind="sum_ratio",
            population="report_date BETWEEN :start AND :end",
            numerator=f"CASE WHEN category = {quoted} THEN 1 ELSE 0 END",
            denominator=f"CASE WHEN category = '{MONTH_ROW}' THEN 1 ELSE 0 END",
            numerator_label=f"{label.lower()} reports",
            denominator_label="months",
            direction="down",
            format="number",
            unit="reports",
            key=False,
        )
    update: dict = {"metrics": metrics, "dimensions": {}}
    if not fl.suppress:
        update["suppression"] = program.suppression.model_copy(
            update={"threshold": 1, "complementary": False}
        )
    return program.model_copy(update=update)


# -- the rows ------------------------------------------------------------------------------------
def survey_frame(program: Program, responses: pd.DataFrame, episodes: pd.DataFrame) -> pd.DataFrame:
    """Responses with ``client_id`` and the equity columns of their episode (see the module)."""
    if responses.empty:
        raise MetricError(
            f"Program {program.id}: no survey responses loaded; `acm intake --kind survey FILES`."
        )
    dims = program.dimensions.values()
    wanted = sorted({d.source or d.column for d in dims if d.expression is None})
    ep_cols = ["provider_id", "episode_id", "client_id", "enrollment_date", *wanted]
    ep = episodes[[c for c in ep_cols if c in episodes.columns]].copy()
    ep["episode_id"] = ep["episode_id"].astype("str")
    out = responses.drop(columns=[c for c in wanted if c in responses.columns]).copy()
    out["episode_id"] = out["episode_id"].astype("str")
    by_episode = out.merge(ep, on=["provider_id", "episode_id"], how="left")
    # respondents without an episode reference: their latest episode with the provider
    latest = ep.sort_values("enrollment_date").drop_duplicates(
        ["provider_id", "client_id"], keep="last"
    )
    fill = out[["provider_id", "respondent_id"]].merge(
        latest.rename(columns={"client_id": "respondent_id"}),
        on=["provider_id", "respondent_id"],
        how="left",
    )
    for col in wanted:
        if col in by_episode:
            by_episode[col] = by_episode[col].where(by_episode[col].notna(), fill[col].to_numpy())
    by_episode["client_id"] = by_episode["respondent_id"].where(
        by_episode["respondent_id"].notna(), by_episode["client_id"]
    )
    return by_episode.drop(columns=["enrollment_date"], errors="ignore").astype(
        {"client_id": "str"}
    )


def frontline_frame(program: Program, reports: pd.DataFrame) -> pd.DataFrame:
    """Reports plus one placeholder row per provider and month (see the module docstring)."""
    months = program.periods()
    starts = [pd.Timestamp(period_bounds(m)[0]) for m in months]
    filler = pd.DataFrame(
        [
            {
                "provider_id": p,
                "report_date": s,
                "category": MONTH_ROW,
                "report_id": f"{p}-{s:%Y%m}",
            }
            for p in program.provider_ids
            for s in starts
        ]
    )
    cols = ["provider_id", "report_date", "category", "report_id"]
    rows = reports[cols] if not reports.empty else reports.reindex(columns=cols)
    out = pd.concat([rows, filler], ignore_index=True)
    out["report_date"] = pd.to_datetime(out["report_date"]).astype("datetime64[us]")
    return out.astype({"provider_id": "str", "category": "str", "report_id": "str"})


# -- evaluation ----------------------------------------------------------------------------------
def survey_tables(
    program: Program,
    responses: pd.DataFrame,
    episodes: pd.DataFrame,
    served: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``metric_values`` and ``equity`` of the survey metrics, plus the response rates.

    Args:
        served: the episode engine's ``metric_values`` rows of the response rates' ``served``
            metrics (suppressed as stored); None: computed here from ``episodes``.
    """
    values, equity, _ = survey_evaluation(program, responses, episodes, served)
    return values, equity


def survey_evaluation(
    program: Program,
    responses: pd.DataFrame,
    episodes: pd.DataFrame,
    served: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """:func:`survey_tables` plus the true numbers of the cells suppressed (survey metrics and
    response rates, ``SUPPRESSED_TRUTH_COLUMNS``): the packet audit's reference."""
    from acm_helpers.metrics import engine

    view = survey_program(program)
    frame = survey_frame(program, responses, episodes)
    values, equity, truth = engine.evaluate_tables(view, frame)
    rates = program.client_voice.response_rate
    if rates:
        if served is None:
            need = {rr.served: program.metrics[rr.served] for rr in rates.values()}
            served = engine.compute(program.model_copy(update={"metrics": need}), episodes)
        parts = [_response_rate(program, rid, values, served) for rid in rates]
        values = pd.concat([values, *(v for v, _ in parts)], ignore_index=True)
        truth = pd.concat([truth, *(t for _, t in parts)], ignore_index=True)
    return values, equity, truth


def response_rate(
    program: Program, rate_id: str, survey_values: pd.DataFrame, served: pd.DataFrame
) -> pd.DataFrame:
    """One declared response rate, cell by cell (see the module docstring)."""
    return _response_rate(program, rate_id, survey_values, served)[0]


def _response_rate(
    program: Program, rate_id: str, survey_values: pd.DataFrame, served: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One response rate's ``metric_values`` and the true numbers of its suppressed cells."""
    rr = program.client_voice.response_rate[rate_id]
    threshold = program.suppression.threshold
    keys = [k for k in CELL_KEYS if k != "metric_id"]
    x = survey_values[survey_values["metric_id"] == rr.respondents]
    n = served[served["metric_id"] == rr.served]
    cols = [*keys, "numerator", "suppressed", "period_start", "period_end", "version"]
    both = n[cols].merge(
        x[[*keys, "numerator", "suppressed"]], on=keys, how="left", suffixes=("_n", "_x")
    )
    num = both["numerator_x"].fillna(0.0).to_numpy(float)
    den = both["numerator_n"].to_numpy(float)
    hidden = (
        both["suppressed_n"].fillna(False).astype(bool).to_numpy()
        | both["suppressed_x"].fillna(False).astype(bool).to_numpy()
        | ~(den >= threshold)
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        val = num / den
    lo, hi = iv.wilson(num, den)
    reason = np.where(
        both["suppressed_n"].fillna(False).astype(bool) | ~(den >= threshold),
        f"fewer than {threshold} clients served, or that count is suppressed",
        "the respondents' count is suppressed",
    )
    out = both[keys + ["period_start", "period_end", "version"]].assign(
        metric_id=rate_id,
        numerator=num,
        denominator=den,
        value=val,
        ci_low=lo,
        ci_high=hi,
        cell_size=den,
        suppressed=hidden,
        suppression_reason=np.where(hidden, reason, ""),
        label=rr.label,
        format="percent",
        unit="",
        direction="up",
        kind="rate",
        system_wide=False,
        key=False,
        target=rr.target,
        benchmarks="{}",
    )
    out["flag_below_target"] = (~hidden) & (rr.target is not None) & (val < (rr.target or 0))
    out["math"] = [
        f"{text.count(a)} respondents / {text.count(b)} clients served = "
        f"{text.value(v, 'percent', '')}"
        if not h
        else "suppressed"
        for a, b, v, h in zip(num, den, val, hidden, strict=True)
    ]
    truth = conform(out[hidden], SUPPRESSED_TRUTH_COLUMNS)
    for col in ("numerator", "denominator", "value", "ci_low", "ci_high", "cell_size"):
        out.loc[hidden, col] = np.nan
    return conform(out, METRIC_VALUE_COLUMNS), truth


def frontline_values(program: Program, reports: pd.DataFrame) -> pd.DataFrame:
    """``metric_values`` of the frontline categories (reports per month, with signals)."""
    return frontline_evaluation(program, reports)[0]


def frontline_evaluation(
    program: Program, reports: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`frontline_values` plus the true numbers of the cells suppressed (only with
    ``frontline.suppress``): the packet audit's reference."""
    from acm_helpers.metrics import engine

    out, _, truth = engine.evaluate_tables(
        frontline_program(program), frontline_frame(program, reports), equity=False
    )
    shown = ~out["suppressed"].astype(bool)
    labels = {
        frontline_metric_id(c): lab.lower() for c, lab in program.frontline.categories.items()
    }
    out.loc[shown, "math"] = [
        f"{text.count(x)} {labels.get(m, m)} report{'' if x == 1 else 's'}"
        + ("" if g == "month" else f" in {text.count(n)} months")
        for m, x, n, g in zip(
            out.loc[shown, "metric_id"],
            out.loc[shown, "numerator"],
            out.loc[shown, "denominator"],
            out.loc[shown, "grain"],
            strict=True,
        )
    ]
    return out, truth


# -- from the store, once per input state ----------------------------------------------------------
STORED = {  # kind -> its stored tables (values last: written last, the build record names it)
    SURVEYS: {"equity": "survey_equity", "truth": "survey_truth", "values": "survey_values"},
    FRONTLINE: {"truth": "frontline_truth", "values": "frontline_values"},
}
_INPUTS = {SURVEYS: (SURVEYS, EPISODES, "metric_values"), FRONTLINE: (FRONTLINE,)}


def _file_stamp(store: Store, name: str) -> str:
    """Size and modification time of a single-file table ("" when absent)."""
    path = store.table_path(name)
    if not path.exists():
        return ""
    st = path.stat()
    return f"{st.st_size}:{st.st_mtime_ns}"


def input_stamp(program: Program, store: Store, kind: str) -> str:
    """What a kind's evaluation reads, as it is now: the program (who receives a packet
    aside), this module's and the engine's source, and the stat of every input file.

    Why stat, not content (unlike the metrics version): every packet's kernel asks, so the
    question must cost milliseconds; every table write is a rename of a new file, so a new
    survey or frontline load, new episodes or refreshed metrics give a new stamp
    (:meth:`Store.inputs_stamp`). A store copied without its modification times is
    re-evaluated once."""
    from acm_helpers.metrics import engine

    h = hashlib.sha256(kind.encode())
    spec = program.model_dump_json(
        exclude={"providers": {"__all__": {"recipients", "attach_xlsx"}}}
    )
    h.update(spec.encode())
    engine.add_engine_code(h, "voice")
    for name in _INPUTS[kind]:
        h.update(f"\0{name}\0{store.inputs_stamp(name)}\0{_file_stamp(store, name)}".encode())
    return h.hexdigest()


def _evaluate(program: Program, store: Store, kind: str) -> tuple:
    """(values, equity or None, truth) of one kind from the store's inputs."""
    if kind == SURVEYS:
        served = None
        if store.has_table("metric_values") and program.client_voice.response_rate:
            ids = sorted({rr.served for rr in program.client_voice.response_rate.values()})
            served = store.query(
                "SELECT * FROM metric_values WHERE list_contains($ids, metric_id)", {"ids": ids}
            )
        return survey_evaluation(program, store.read_table(SURVEYS), store.episodes(), served)
    values, truth = frontline_evaluation(program, store.read_table(FRONTLINE))
    return values, None, truth


def _kinds(program: Program, store: Store) -> list[str]:
    """The kinds the program declares and the store has rows for."""
    out = []
    if program.client_voice is not None and program.client_voice.metrics:
        out += [SURVEYS] if store.has_table(SURVEYS) else []
    if program.frontline is not None and store.has_table(FRONTLINE):
        out.append(FRONTLINE)
    return out


def _read_stored(store: Store, kind: str, stamp: str) -> tuple | None:
    """The kind's stored tables when :func:`refresh_voice` wrote them from inputs as they are
    now (``stamp``), every table file as it wrote them; None otherwise."""
    names = STORED[kind]
    record = store.build_record(names["values"])
    files = {k: _file_stamp(store, n) for k, n in names.items() if k != "values"}
    if not record.get("matches") or record.get("inputs") != {"stamp": stamp, **files}:
        return None
    tables = {k: store.read_table(n) for k, n in names.items()}
    return tables["values"], tables.get("equity"), tables["truth"]


def refresh_voice(program: Program, store: Store, force: bool = False) -> list[str]:
    """Evaluate and store the survey and frontline tables unless current; the kinds evaluated.

    Why in the store: every packet's brief and sections, the system packet and the packet
    audit read these tables, each in a kernel or worker whose caches are cleared between
    notebooks; evaluated here once per input state (:func:`input_stamp`), they only read.
    Called by :func:`acm_helpers.metrics.engine.refresh` (which holds the writer lock), after
    ``metric_values`` (the response rates' served counts) is current. Each table is written
    atomically, values last, then the build record naming the others' files: a refresh killed
    in between leaves a record that does not match, and readers evaluate instead.
    """
    done = []
    for kind in _kinds(program, store):
        stamp = input_stamp(program, store, kind)
        if not force and _read_stored(store, kind, stamp) is not None:
            continue
        values, equity, truth = _evaluate(program, store, kind)
        tables = {"equity": equity, "truth": truth, "values": values}
        names = STORED[kind]
        for key, name in names.items():
            store.write_table(name, tables[key])
        files = {k: _file_stamp(store, n) for k, n in names.items() if k != "values"}
        store.record_build(names["values"], {"stamp": stamp, **files})
        done.append(kind)
    return done


_CACHE: dict[tuple[str, str, str], tuple] = {}  # a few input states, newest last
CACHE_SIZE = 8


def _cached(program: Program, store: Store, kind: str) -> tuple:
    """A kind's tables: the store's when current (:func:`refresh_voice`), else evaluated here
    (voice files loaded since the last refresh); once per input state per process, since a
    packet's brief and sections ask for the same tables several times."""
    stamp = input_stamp(program, store, kind)
    key = (str(store.root), stamp, kind)
    if key in _CACHE:
        return _CACHE[key]
    out = _read_stored(store, kind, stamp) or _evaluate(program, store, kind)
    while len(_CACHE) >= CACHE_SIZE:
        _CACHE.pop(next(iter(_CACHE)))
    _CACHE[key] = out
    return out


def stored_survey_tables(program: Program, store: Store) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Survey ``metric_values`` and ``equity`` for the store's responses; empty frames when the
    program has no survey metrics or no response is loaded. Stored by the refresh."""
    if SURVEYS not in _kinds(program, store):
        return pd.DataFrame(), pd.DataFrame()
    values, equity, _ = _cached(program, store, SURVEYS)
    return values.copy(), equity.copy()


def stored_frontline_values(program: Program, store: Store) -> pd.DataFrame:
    """Frontline ``metric_values`` for the store's reports (empty without frontline:)."""
    if FRONTLINE not in _kinds(program, store):
        return pd.DataFrame()
    return _cached(program, store, FRONTLINE)[0].copy()


def stored_voice_truth(program: Program, store: Store) -> pd.DataFrame:
    """The true numbers of the suppressed survey, response-rate and frontline cells for the
    store's inputs (``SUPPRESSED_TRUTH_COLUMNS``), from the very evaluation the packet's tables
    come from (stored by the refresh with them)."""
    parts = [_cached(program, store, kind)[2] for kind in _kinds(program, store)]
    parts = [p for p in parts if p is not None and len(p)]
    if not parts:
        return conform(
            pd.DataFrame(columns=list(SUPPRESSED_TRUTH_COLUMNS)), SUPPRESSED_TRUTH_COLUMNS
        )
    return pd.concat(parts, ignore_index=True)


def voice_metric_labels(program: Program) -> dict[str, tuple[str, str]]:
    """Metric id to (label, format) of every survey metric, response rate and frontline
    category, as packets print them."""
    out: dict[str, tuple[str, str]] = {}
    if program.client_voice is not None:
        out |= {k: (m.label, m.format) for k, m in program.client_voice.metrics.items()}
        out |= {k: (rr.label, "percent") for k, rr in program.client_voice.response_rate.items()}
    if program.frontline is not None:
        out |= {k: (m.label, m.format) for k, m in frontline_program(program).metrics.items()}
    return out
