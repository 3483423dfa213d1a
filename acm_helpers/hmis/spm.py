"""HUD System Performance Measures (SPM) tables from an HMIS CSV export, by HUD's rules.

:func:`spm_tables` computes Measures 1a/1b, 2 (2a and 2b), 3.2, 5.1/5.2 and 7a.1/7b.1/7b.2 for a
report period over a set of projects (system-wide: the CoC's projects, or any group of them) and
returns each table in HUD's table shell layout: row 0 holds the column headers, column ``A`` the
row labels, so cell ``B2`` of the frame (``cell(frame, "B2")``) is cell B2 of HUD's shell.

Sources: HUD "System Performance Measures (SPM) HMIS Programming Specifications" FY2024 and
FY2026 (sections cited as "SPM spec, Measure N ..."), the HMIS Standard Reporting Terminology
Glossary (active clients, "Identifying Clients Experiencing Literal Homelessness at Project
Entry") and the HMIS CSV Format Specifications (Services.csv RecordType 200 = bed night). The
specification PDF itself is not in this machine's reference library; the steps and shells were
taken from the spec's text as quoted step by step in a public open-source implementation of the
FY2024/FY2026 SPM (Green River's hmis-warehouse ``hud_spm_report`` driver). Points that text did
not settle are marked "not confirmed" below.

The report is internal (agencies submit SPM counts as they are): nothing is suppressed. The
"Previous FY" and "Difference" columns of HUD's shells are filled by HUD's HDX from the prior
year's submission; they are left blank here (run the previous year's period for its figures).
"""

from __future__ import annotations

import re
from datetime import date

import numpy as np
import pandas as pd

from acm_helpers.core import hud
from acm_helpers.core.errors import HmisError
from acm_helpers.hmis.export import HmisTables

# -- project-type groups (CSV spec list 2.02.6, HUD short names as in core.hud) -----------------
ES = frozenset({"ES-EE", "ES-NbN"})
SH = frozenset({"SH"})
TH = frozenset({"TH"})
SO = frozenset({"SO"})
PH = hud.PH_PROGRAMS  # PSH (3), PH-HO (9), PH-HS (10), RRH (13)
PH_NOT_RRH = PH - {"RRH"}
# Glossary, "Identifying Clients Experiencing Literal Homelessness at Project Entry": ES, SH and SO
# stays always qualify; TH and PH qualify by 3.917 (prior living situation and its conditions).
ALWAYS_LITERAL = ES | SH | SO
BED_NIGHT = "200"  # CSV spec, Services.csv RecordType 200 "Bed Night" (ES night-by-night)
# SPM spec FY2024/FY2026, Measure 1: [lookback stop date] = report start - 7 years (FY2023 and
# earlier used a fixed 10/1/2012); data before an export's start simply is not there.
LOOKBACK_YEARS = 7
M2_WINDOW_DAYS = 730  # SPM spec, Measure 2: exits 730 days before the report period
M5_LOOKBACK_DAYS = 730  # SPM spec, Measure 5: no enrollment in the 24 months before the start
M1_CLIENT_WINDOW_DAYS = 365  # SPM spec, Measure 1 step 4: [client start date] = end date - 365

# SPM spec, Measure 7 destination table (FY2024 code space, = APR Appendix A's SO and other lists):
# 7a.1 excludes hospital (206), halfway house (329) and deceased (24); 7b.1/7b.2 exclude foster
# care (215), hospital (206), long-term care (225) and deceased (24).
M7A_EXCLUDED = hud.APR_EXCLUDED_SO
M7B_EXCLUDED = hud.APR_EXCLUDED
M7A_TEMPORARY = hud.APR_POSITIVE_SO - hud.APR_PERMANENT  # homeless, temporary, institutional rows
PERMANENT = hud.APR_PERMANENT  # 410, 411, 421, 422, 423, 426, 435

CURRENT_COLUMNS = {"B": "Previous FY", "C": "Current FY", "D": "Difference"}
M1_COLUMNS = {
    "B": "Current FY Universe (Persons)",
    "C": "Previous FY Average LOT Experiencing Homelessness",
    "D": "Current FY Average LOT Experiencing Homelessness",
    "E": "Difference",
    "F": "Previous FY Median LOT Experiencing Homelessness",
    "G": "Current FY Median LOT Experiencing Homelessness",
    "H": "Difference",
}
M2_COLUMNS = {
    "B": "Total Number of Persons who Exited to a Permanent Housing Destination (2 Years Prior)",
    "C": "Number Returning to Homelessness in Less than 6 Months (0 - 180 days)",
    "D": "Percentage of Returns in Less than 6 Months (0 - 180 days)",
    "E": "Number Returning to Homelessness from 6 to 12 Months (181 - 365 days)",
    "F": "Percentage of Returns from 6 to 12 Months (181 - 365 days)",
    "G": "Number Returning to Homelessness from 13 to 24 Months (366 - 730 days)",
    "H": "Percentage of Returns from 13 to 24 Months (366 - 730 days)",
    "I": "Number of Returns in 2 Years",
    "J": "Percentage of Returns in 2 Years",
}
# SPM spec, Measure 2: the return buckets in days after the exit (column -> inclusive range).
M2_BUCKETS = {"C": (0, 180), "E": (181, 365), "G": (366, 730), "I": (0, 730)}
M2_ROWS = {
    2: ("Exit was from SO", SO),
    3: ("Exit was from ES", ES),
    4: ("Exit was from TH", TH),
    5: ("Exit was from SH", SH),
    6: ("Exit was from PH", PH),
}
# The export files the SPM reads: read_export(path, files=spm.FILES) (Services for the bed nights).
FILES = ("Export", "Organization", "Project", "Client", "Enrollment", "Exit", "Services")
TABLES = ("1a", "1b", "2a and 2b", "3.2", "5.1", "5.2", "7a.1", "7b.1", "7b.2")


# -- the report ---------------------------------------------------------------------------------
def spm_tables(
    tables: HmisTables, start: date, end: date, projects: list[str] | None = None
) -> dict[str, pd.DataFrame]:
    """Every SPM table this workbench produces, by HUD's rules, for one period and project set.

    Why system-wide: the SPM measures a CoC's system, so a person is counted once across all the
    projects given (e.g. a return to a shelter of another provider is a return).

    Args:
        tables: from :func:`acm_helpers.hmis.export.read_export`, read with ``files=FILES``
            (or ``"all"``): night-by-night shelters' nights are Services.csv bed nights.
        start, end: the report period (HUD's federal fiscal year, Oct 1 - Sep 30, or any span).
        projects: ProjectIDs to report on; ``None`` means every project in Project.csv.

    Returns:
        ``{"1a", "1b", "2a and 2b", "3.2", "5.1", "5.2", "7a.1", "7b.1", "7b.2"}`` -> table shell
        frame (columns ``A``, ``B``...; row 0 the headers; values are ints, floats or None).
        Measure 2 is one table in HUD's shell ("2a and 2b"), as its key says.

    Raises:
        HmisError: a project id is not in Project.csv, the period ends before it starts, or night-by-night
            shelter stays are reported and Services.csv was not read.
    """
    start_ts, end_ts = pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize()
    if end_ts < start_ts:
        raise HmisError(f"SPM report period {start}..{end} ends before it starts; swap the dates.")
    enr = spm_enrollments(tables, end_ts, projects)
    nights = bed_nights(tables, enr, end_ts)
    return {
        "1a": measure_1a(enr, nights, start_ts, end_ts),
        "1b": measure_1b(enr, nights, start_ts, end_ts),
        "2a and 2b": measure_2(enr, start_ts, end_ts),
        "3.2": measure_3_2(enr, nights, start_ts, end_ts),
        "5.1": measure_5(enr, start_ts, end_ts, ES | SH | TH, "5.1"),
        "5.2": measure_5(enr, start_ts, end_ts, ES | SH | TH | PH, "5.2"),
        "7a.1": measure_7a1(enr, start_ts, end_ts),
        "7b.1": measure_7b1(enr, start_ts, end_ts),
        "7b.2": measure_7b2(enr, start_ts, end_ts),
    }


def cell(frame: pd.DataFrame, ref: str):
    """The value of a shell cell by its spreadsheet reference (``"B2"``: column B, HUD row 2)."""
    match = re.fullmatch(r"([A-Z]+)(\d+)", ref)
    if (
        not match
        or match.group(1) not in frame.columns
        or not 1 <= int(match.group(2)) <= len(frame)
    ):
        raise HmisError(
            f"cell {ref!r} is not in this table (columns {', '.join(frame.columns)}, "
            f"rows 1-{len(frame)})."
        )
    return frame.at[int(match.group(2)) - 1, match.group(1)]


def _shell(label: str, columns: dict[str, str], rows: dict[int, str], cells: dict) -> pd.DataFrame:
    """HUD's table shell: row 1 headers (``label`` over the row labels), column A row labels."""
    data = [[label, *columns.values()]]
    for row, text in rows.items():
        data.append([text, *(cells.get(f"{col}{row}") for col in columns)])
    return pd.DataFrame(data, columns=["A", *columns], dtype=object)


def _pct(num: int, den: int) -> float:
    """A percentage with two decimals, 0 for an empty universe (as HUD's shells print it)."""
    return round(100.0 * num / den, 2) if den else 0.0


# -- the enrollments of the report --------------------------------------------------------------
def spm_enrollments(
    tables: HmisTables, end: pd.Timestamp, projects: list[str] | None = None
) -> pd.DataFrame:
    """One row per enrollment of the report's projects, as the SPM sees it on the report end.

    Why: every measure reads the same facts (project type, dates, destination in the FY2024 code
    space, household move-in, 3.917 answers); the report never sees data after its end date, so
    an exit after the end is no exit (the client is a stayer) and a later entry does not exist.

    Columns: ``client`` (int code of PersonalID), ``personal_id``, ``enrollment_id``,
    ``project_id``, ``ptype`` (``hud.PROJECT_TYPES`` short name), ``entry``, ``exit``,
    ``destination`` (FY2024 code, float), ``move_in`` (household move-in, Glossary "Housing
    Move-in Date"), ``living`` (3.917.1 in FY2024 codes), ``los_under``, ``prev_street`` (bool),
    ``date_to_street`` (3.917.3).
    """
    end = pd.Timestamp(end).normalize()
    project = tables["Project"]
    known = project["ProjectID"].dropna().astype("str")
    if projects is not None:
        wanted = [str(p) for p in projects]
        unknown = sorted(set(wanted) - set(known))
        if unknown:
            raise HmisError(
                f"SPM: project id(s) {', '.join(unknown)} are not in Project.csv "
                f"(known: {', '.join(sorted(known)[:20])}{'...' if len(known) > 20 else ''}). "
                "Pass ProjectIDs of this export."
            )
        project = project[project["ProjectID"].astype("str").isin(wanted)]
    ptype = pd.Series(pd.NA, index=project.index, dtype="object")
    for version, part in project.groupby(_versions(project)):
        ptype.loc[part.index] = hud.project_type_slug(
            part["ProjectType"], str(version), part.get("TrackingMethod")
        )
    types = dict(zip(project["ProjectID"], ptype, strict=True))
    enr = tables["Enrollment"]
    enr = enr[enr["ProjectID"].isin(list(types)) & enr["EntryDate"].notna()]
    enr = enr[hud.member(enr["PersonalID"], tables["Client"]["PersonalID"])]
    enr = enr[enr["EntryDate"] <= end].copy()
    ex = tables["Exit"].sort_values("ExitDate", kind="stable", na_position="first")
    ex = ex.drop_duplicates("EnrollmentID", keep="last").set_index("EnrollmentID")
    exit_date = hud.lookup(enr["EnrollmentID"], ex["ExitDate"])
    future = exit_date > end  # data after the report end is not seen: an open stay on the end date
    exit_date = exit_date.where(~future)
    dest_raw = hud.lookup(enr["EnrollmentID"], ex["Destination"].astype("object")).where(~future)
    version = _versions(enr)
    out = pd.DataFrame(
        {
            "personal_id": enr["PersonalID"].astype("str"),
            "enrollment_id": enr["EnrollmentID"].astype("str"),
            "project_id": enr["ProjectID"].astype("str"),
            "ptype": enr["ProjectID"].map(types).astype("object"),
            "entry": enr["EntryDate"].astype("datetime64[us]"),
            "exit": exit_date.astype("datetime64[us]"),
            "destination": _codes(dest_raw, version),
            "living": _codes(_col(enr, "LivingSituation"), version),
            "los_under": _col(enr, "LOSUnderThreshold").astype("str").eq("1"),
            "prev_street": _col(enr, "PreviousStreetESSH").astype("str").eq("1"),
            "date_to_street": _dates(_col(enr, "DateToStreetESSH")),
        },
        index=enr.index,
    )
    # Glossary "Housing Move-in Date": members share the head of household's move-in date.
    hh = pd.DataFrame(
        {
            "move_in_date": _dates(_col(enr, "MoveInDate")),
            "enrollment_date": out["entry"],
            "exit_date": out["exit"],
            "household_id": _col(enr, "HouseholdID").astype("object"),
            "is_head": _col(enr, "RelationshipToHoH").astype("str").eq("1"),
        }
    )
    move_in = hud.household_move_in(hh)
    out["move_in"] = move_in.where(move_in <= end).astype("datetime64[us]")
    out["client"] = pd.factorize(out["personal_id"])[0]
    return out.reset_index(drop=True)


def _versions(frame: pd.DataFrame) -> pd.Series:
    if "_version" in frame:
        return frame["_version"].fillna("2026").astype("str")
    return pd.Series("2026", index=frame.index)


def _col(frame: pd.DataFrame, name: str) -> pd.Series:
    return frame[name] if name in frame else pd.Series(pd.NA, index=frame.index, dtype="object")


def _codes(raw: pd.Series, version: pd.Series) -> pd.Series:
    """Living situation / destination codes in the FY2024 space (floats; NaN blank or unknown)."""
    out = pd.Series(np.nan, index=raw.index, dtype="float64")
    for ver, idx in raw.groupby(version).groups.items():
        code, _, _ = hud.normalize_destinations(raw.loc[idx].astype("object"), str(ver))
        out.loc[idx] = pd.to_numeric(code, errors="coerce")
    return out


def _dates(values: pd.Series) -> pd.Series:
    """Dates of a column read_export leaves as text (3.917.3 DateToStreetESSH, DateProvided)."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return values.astype("datetime64[us]")
    text = values.astype("object").where(values.notna(), "").astype("str")
    text = text.str.strip().str.replace(r"[T ].*$", "", regex=True)
    iso = pd.to_datetime(text, format="%Y-%m-%d", errors="coerce")
    us = pd.to_datetime(text, format="%m/%d/%Y", errors="coerce")
    return iso.fillna(us).astype("datetime64[us]")


def bed_nights(tables: HmisTables, enr: pd.DataFrame, end: pd.Timestamp) -> pd.DataFrame:
    """ES night-by-night bed nights (``row`` = enrollment row of ``enr``, ``night``).

    SPM spec, Measure 1 (and Glossary active-client method 5): a night-by-night stay's nights are
    its Services.csv bed nights (RecordType 200) dated on or after the project start and before
    the exit date (a bed night on the exit date is a data-entry error) and not after the report
    end.
    """
    end = pd.Timestamp(end).normalize()
    nbn = enr[enr["ptype"].eq("ES-NbN")]
    empty = pd.DataFrame(
        {"row": pd.Series(dtype="int64"), "night": pd.Series(dtype="datetime64[us]")}
    )
    if nbn.empty:
        return empty
    if "Services" not in tables:
        raise HmisError(
            f"SPM: {len(nbn)} night-by-night shelter enrollment(s) need their bed nights from "
            "Services.csv (RecordType 200), which was not read. Read the export with "
            "read_export(path, files=spm.FILES) (or files='all')."
        )
    svc = tables["Services"]
    svc = svc[svc["RecordType"].astype("str").eq(BED_NIGHT)]
    rows = pd.Series(nbn.index, index=nbn["enrollment_id"].to_numpy())
    rows = rows[~rows.index.duplicated()]
    svc = svc[hud.member(svc["EnrollmentID"].astype("str"), rows.index.to_series())]
    out = pd.DataFrame(
        {
            "row": rows.reindex(svc["EnrollmentID"].astype("str").to_numpy()).to_numpy(),
            "night": _dates(svc["DateProvided"]).to_numpy(),
        }
    ).dropna()
    out["row"] = out["row"].astype("int64")
    stay = enr.loc[out["row"]]
    last = stay["exit"].sub(pd.Timedelta(days=1)).fillna(end).clip(upper=end).to_numpy()
    keep = (out["night"].to_numpy() >= stay["entry"].to_numpy()) & (out["night"].to_numpy() <= last)
    return out[keep].drop_duplicates().reset_index(drop=True)


def literally_homeless_at_entry(enr: pd.DataFrame) -> pd.Series:
    """Glossary, "Identifying Clients Experiencing Literal Homelessness at Project Entry".

    ES, SH and SO stays always qualify. TH and PH stays qualify when 3.917.1 (prior living
    situation) is a homeless situation (1xx), or when it is institutional (2xx) or temporary or
    permanent (3xx/4xx) with a stay under the threshold (LOSUnderThreshold = 1) and the client on
    the streets, in ES or SH the night before (PreviousStreetESSH = 1).
    """
    living = enr["living"]
    homeless = living.between(100, 199)
    bridged = enr["prev_street"] & enr["los_under"] & living.between(200, 499)
    th_ph = enr["ptype"].isin(list(TH | PH))
    return enr["ptype"].isin(list(ALWAYS_LITERAL)) | (th_ph & (homeless | bridged))


def _open_during(enr: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.Series:
    """Stays active in the period by dates (Glossary method 1; the exit date is no bed night)."""
    return (enr["entry"] <= end) & (enr["exit"].isna() | (enr["exit"] > start))


def _active_method5(enr, nights, start, end) -> pd.Series:
    """Glossary active-client method 5: entry/exit stays by dates, night-by-night stays by a
    bed night in the period."""
    by_dates = _open_during(enr, start, end) & enr["ptype"].ne("ES-NbN")
    in_period = nights.loc[nights["night"].between(start, end), "row"].unique()
    return by_dates | enr.index.isin(in_period)


# -- Measure 1: length of time homeless ---------------------------------------------------------
_OFFSET = 1 << 20  # day numbers are shifted by this to stay positive inside a (client, night) key
_SHIFT = 1 << 21


def _day(values) -> np.ndarray:
    """Days since 1970-01-01 (int64; NaT -> a very small number, callers mask it)."""
    return np.asarray(
        pd.Series(values).to_numpy(dtype="datetime64[us]").astype("datetime64[D]").astype("int64")
    )


def _keys(client: np.ndarray, first: np.ndarray, last: np.ndarray) -> np.ndarray:
    """(client, night) keys of every night first..last (inclusive) of each interval."""
    n = np.clip(last - first + 1, 0, None)
    if n.sum() == 0:
        return np.empty(0, dtype="int64")
    starts = np.repeat(first, n)
    offs = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
    return np.repeat(client.astype("int64"), n) * _SHIFT + (starts + offs + _OFFSET)


def _uniq(keys: np.ndarray) -> np.ndarray:
    """Sorted distinct keys (by sorting: numpy's hash-based ``unique`` degrades badly on these
    keys, whose low bits repeat for every client)."""
    keys = np.sort(keys)
    return keys[np.r_[True, keys[1:] != keys[:-1]]] if keys.size else keys


def _without(keys: np.ndarray, drop: np.ndarray) -> np.ndarray:
    """``keys`` not in ``drop`` (sorted distinct keys), by binary search."""
    if drop.size == 0 or keys.size == 0:
        return keys
    pos = np.clip(np.searchsorted(drop, keys), 0, drop.size - 1)
    return keys[drop[pos] != keys]


def _split(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return keys // _SHIFT, keys % _SHIFT - _OFFSET


def _episode(keys: np.ndarray, lookback: int | None) -> np.ndarray:
    """SPM spec, Measure 1 steps 3-4: each client's nights in the 365 days up to their latest
    night ([client end date] - 365 = [client start date]), plus the unbroken run of nights that
    reaches back from there (no further back than the [lookback stop date])."""
    keys = _uniq(keys)
    client, night = _split(keys)
    if lookback is not None:
        keep = night >= lookback
        keys, client, night = keys[keep], client[keep], night[keep]
    if keys.size == 0:
        return keys
    new_client = np.r_[True, client[1:] != client[:-1]]
    new_run = new_client | np.r_[True, night[1:] != night[:-1] + 1]
    run = np.cumsum(new_run)
    run_max = pd.Series(night).groupby(run).transform("max").to_numpy()
    client_end = pd.Series(night).groupby(client).transform("max").to_numpy()
    return keys[run_max > client_end - M1_CLIENT_WINDOW_DAYS]


def length_of_time_homeless(
    enr: pd.DataFrame,
    nights: pd.DataFrame,
    start: pd.Timestamp,
    end: pd.Timestamp,
    include: frozenset[str],
    exclude: frozenset[str],
    self_reported: bool,
) -> pd.Series:
    """Nights homeless per client (index ``client``) for one Measure 1 metric.

    SPM spec, Measure 1 (FY2024/FY2026), steps 1-5:

    1. Clients with a night in the period in the ``include`` project types (ES, SH, and TH for
       metric 2); for 1b (``self_reported``) also PH stays that meet the literal-homelessness
       criteria and whose start, move-in or (without a move-in) exit is in the period.
    2. Nights: entry/exit stays every night from the project start to the day before the exit
       (PH: before the move-in), night-by-night stays their bed nights, none after the report end;
       nights a client spent in an ``exclude`` type (TH; PH on and after move-in) are removed.
    3-4. The nights of the 365 days up to the client's latest night plus the unbroken run before
       them, no earlier than the lookback stop date (report start - 7 years).
    5. 1b: each stay's 3.917.3 "Approximate date this episode of homelessness started" adds every
       night from that date to the project start (night-by-night: to the earliest bed night in
       the period), when that start is on or after the lookback stop date; steps 3-4 are applied
       again (FY2026). Not confirmed: which stays count as "relevant" here; this takes the stays
       of the included types (and the qualifying PH stays), not TH stays of metric 1.

    A client counts when a night of the final set is in the report period.
    """
    start, end = pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize()
    s, e = int(_day([start])[0]), int(_day([end])[0])
    lookback = int(_day([start - pd.DateOffset(years=LOOKBACK_YEARS)])[0])
    ph_ok = pd.Series(False, index=enr.index)
    if self_reported:
        move, ex = enr["move_in"], enr["exit"]
        in_period = (
            enr["entry"].between(start, end)
            | move.between(start, end)
            | (move.isna() & ex.between(start, end))
        )
        ph_ok = enr["ptype"].isin(list(PH)) & literally_homeless_at_entry(enr) & in_period
    used = enr["ptype"].isin(list(include)) | ph_ok
    stays = enr[used & enr["ptype"].ne("ES-NbN")]
    stop = stays["exit"].where(
        ~stays["ptype"].isin(list(PH)), stays["move_in"].fillna(stays["exit"])
    )
    last = np.minimum(_day(stop.fillna(end + pd.Timedelta(days=1))) - 1, e)
    # Nights before the lookback stop date never count (step 4), so they are never made.
    first = np.maximum(_day(stays["entry"]), lookback)
    cand = _keys(stays["client"].to_numpy(), first, last)
    nbn = nights if "ES-NbN" in include else nights.iloc[:0]
    nbn_keys = (
        enr.loc[nbn["row"], "client"].to_numpy().astype("int64") * _SHIFT
        + _day(nbn["night"])
        + _OFFSET
    )
    cand = np.concatenate([cand, nbn_keys])
    pre = np.empty(0, dtype="int64")
    if self_reported:
        pre = _self_reported_nights(enr[used], nights, start, end, lookback)
    floor = min(lookback, int(_split(pre)[1].min())) if pre.size else lookback
    clients = pd.unique(_split(np.concatenate([cand, pre]))[0])
    excluded = _excluded_nights(enr[enr["client"].isin(clients)], exclude, end, floor)
    episode = _episode(_without(cand, excluded), lookback)
    if self_reported:
        episode = _episode(np.concatenate([episode, _without(pre, excluded)]), None)
    client, night = _split(episode)
    counts = pd.Series(night).groupby(client).agg(["size", "max"])
    counts = counts[counts["max"] >= s]
    return counts["size"].rename_axis("client").rename("nights")


def _excluded_nights(
    enr: pd.DataFrame, exclude: frozenset[str], end: pd.Timestamp, floor: int
) -> np.ndarray:
    """Measure 1 step 2: nights in TH (whole stay) or in PH on and after the move-in date (from
    day number ``floor`` on: no earlier night is a candidate), sorted and distinct."""
    parts = []
    e = int(_day([end])[0])
    th = enr[enr["ptype"].isin(list(exclude & TH))]
    ph = enr[enr["ptype"].isin(list(exclude & PH)) & enr["move_in"].notna()]
    for frame, first in ((th, th["entry"]), (ph, ph["move_in"])):
        last = np.minimum(_day(frame["exit"].fillna(end + pd.Timedelta(days=1))) - 1, e)
        parts.append(_keys(frame["client"].to_numpy(), np.maximum(_day(first), floor), last))
    return _uniq(np.concatenate(parts))


def _self_reported_nights(stays, nights, start, end, lookback: int) -> np.ndarray:
    """Measure 1b step 5: nights from 3.917.3 to the project start (or earliest bed night)."""
    dts = stays["date_to_street"]
    ee = stays[stays["ptype"].ne("ES-NbN") & dts.notna() & (dts < stays["entry"])]
    ee = ee[_day(ee["entry"]) >= lookback]
    parts = [_keys(ee["client"].to_numpy(), _day(ee["date_to_street"]), _day(ee["entry"]))]
    nbn = stays[stays["ptype"].eq("ES-NbN") & dts.notna() & (dts < stays["entry"])]
    if not nbn.empty:
        bn = nights[nights["row"].isin(nbn.index)]
        bn = bn[bn["night"].between(start, end)]
        earliest = bn.groupby("row")["night"].min()
        nbn = nbn.loc[nbn.index.intersection(earliest.index)]
        first_bn = _day(earliest.reindex(nbn.index))
        ok = first_bn >= lookback
        parts.append(
            _keys(nbn["client"].to_numpy()[ok], _day(nbn["date_to_street"])[ok], first_bn[ok])
        )
    return np.concatenate(parts)


def _m1_row(days: pd.Series) -> tuple[int, float, float]:
    """Persons, average and median nights (two decimals), 0s for an empty universe."""
    if days.empty:
        return 0, 0.0, 0.0
    return int(days.size), round(float(days.mean()), 2), round(float(days.median()), 2)


def _measure_1(
    enr, nights, start, end, self_reported: bool, label: str, rows: dict
) -> pd.DataFrame:
    cells = {}
    metrics = {2: (ES | SH, TH | PH), 3: (ES | SH | TH, PH)}
    for row, (include, exclude) in metrics.items():
        days = length_of_time_homeless(enr, nights, start, end, include, exclude, self_reported)
        cells[f"B{row}"], cells[f"D{row}"], cells[f"G{row}"] = _m1_row(days)
    # HUD's shell has "Previous FY Universe (Persons)" in column A, with the row labels outside
    # the lettered columns; here column A holds the labels so that B..H keep HUD's letters.
    return _shell(label, M1_COLUMNS, rows, cells)


def measure_1a(enr, nights, start, end) -> pd.DataFrame:
    """SPM 1a: metric 1.1 persons in ES-EE, ES-NbN and SH; metric 1.2 adds TH (TH nights count
    as homeless in 1.2 only). PH nights on and after move-in are never homeless nights."""
    rows = {
        2: "1.1 Persons in ES-EE, ES-NbN, and SH",
        3: "1.2 Persons in ES-EE, ES-NbN, SH, and TH",
    }
    return _measure_1(enr, nights, start, end, False, "Measure 1a", rows)


def measure_1b(enr, nights, start, end) -> pd.DataFrame:
    """SPM 1b: as 1a, plus PH stays entered from literal homelessness (nights before move-in) and
    the self-reported start of homelessness (3.917.3)."""
    rows = {
        2: "1.1 Persons in ES-EE, ES-NbN, SH, and PH",
        3: "1.2 Persons in ES-EE, ES-NbN, SH, TH, and PH",
    }
    return _measure_1(enr, nights, start, end, True, "Measure 1b", rows)


# -- Measure 2: returns to homelessness ---------------------------------------------------------
def returns_universe(enr: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """SPM spec, Measure 2: each person's earliest exit to a permanent destination from SO, ES,
    TH, SH or PH dated [report start - 730 days, report end - 730 days], with the days to their
    first return (``days``, null when none within 730 days).

    A return is a later project start in SO, ES, TH or SH on or after the exit date, or in PH more
    than 14 days after the exit and not within 14 days of another PH stay's exit (or during it):
    ``hud.days_to_return``, the one Measure 2 rule shared with the workbench's derived fields,
    run on the report's enrollments (entries up to the report end).
    """
    lo, hi = start - pd.Timedelta(days=M2_WINDOW_DAYS), end - pd.Timedelta(days=M2_WINDOW_DAYS)
    episodes = pd.DataFrame(
        {
            "client_id": enr["client"],
            "program": enr["ptype"].astype("str"),
            "enrollment_date": enr["entry"],
            "exit_date": enr["exit"],
            "destination_class": np.where(
                enr["destination"].isin(list(PERMANENT)), "permanent", "other"
            ),
        }
    )
    exits = episodes[
        episodes["exit_date"].between(lo, hi)
        & episodes["destination_class"].eq("permanent")
        & episodes["program"].isin(list(hud.SPM2_PROGRAMS))
    ]
    exits = exits.sort_values(["client_id", "exit_date", "enrollment_date"], kind="stable")
    exits = exits.drop_duplicates("client_id")
    days = hud.days_to_return(episodes, end)
    return pd.DataFrame({"ptype": exits["program"], "days": days.loc[exits.index]})


def measure_2(enr, start, end) -> pd.DataFrame:
    """SPM 2a and 2b: returns within 0-180, 181-365 and 366-730 days, by the exit's project type."""
    universe = returns_universe(enr, start, end)
    cells: dict[str, object] = {}
    for row, (_, ptypes) in M2_ROWS.items():
        part = universe[universe["ptype"].isin(list(ptypes))]
        cells[f"B{row}"] = len(part)
    cells["B7"] = len(universe)
    for col, (lo, hi) in M2_BUCKETS.items():
        pct_col = chr(ord(col) + 1)
        for row, (_, ptypes) in M2_ROWS.items():
            part = universe[universe["ptype"].isin(list(ptypes))]
            n = int(part["days"].between(lo, hi).sum())
            cells[f"{col}{row}"], cells[f"{pct_col}{row}"] = n, _pct(n, len(part))
        n = int(universe["days"].between(lo, hi).sum())
        cells[f"{col}7"], cells[f"{pct_col}7"] = n, _pct(n, len(universe))
    rows = {row: text for row, (text, _) in M2_ROWS.items()} | {7: "TOTAL Returns to Homelessness"}
    return _shell("Measure 2a and 2b", M2_COLUMNS, rows, cells)


# -- Measure 3.2: sheltered persons -------------------------------------------------------------
def measure_3_2(enr, nights, start, end) -> pd.DataFrame:
    """SPM 3.2: unduplicated persons active in the period in ES (entry/exit by dates,
    night-by-night by a bed night in the period: Glossary method 5), SH and TH.

    The total counts each person once, so it can be less than the sum of the rows."""
    active = _active_method5(enr, nights, start, end)

    def persons(ptypes) -> int:
        return int(enr.loc[active & enr["ptype"].isin(list(ptypes)), "client"].nunique())

    cells = {"C2": persons(ES | SH | TH), "C3": persons(ES), "C4": persons(SH), "C5": persons(TH)}
    rows = {
        2: "Universe: Unduplicated Total sheltered persons",
        3: "Emergency Shelter Total",
        4: "Safe Haven Total",
        5: "Transitional Housing Total",
    }
    return _shell("Metric 3.2", CURRENT_COLUMNS, rows, cells)


# -- Measure 5: first-time homeless -------------------------------------------------------------
def first_time_homeless(
    enr: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp, ptypes: frozenset[str]
) -> pd.DataFrame:
    """SPM spec, Measure 5: persons with a project start in the period in ``ptypes`` (5.1: ES, SH,
    TH; 5.2 adds PH), their earliest such start, and whether they had an earlier stay in ES, SH,
    TH or PH active in the 730 days before it (``prior``): a stay that started before that date
    and was not exited more than 730 days before it.
    """
    entering = enr[enr["ptype"].isin(list(ptypes)) & enr["entry"].between(start, end)]
    first = entering.sort_values(["client", "entry"], kind="stable").drop_duplicates("client")
    first = first[["client", "entry"]].rename(columns={"entry": "start"})
    lookback = enr[enr["ptype"].isin(list(ES | SH | TH | PH))][["client", "entry", "exit"]]
    pairs = first.merge(lookback, on="client")
    window = pairs["start"] - pd.Timedelta(days=M5_LOOKBACK_DAYS)
    hit = (pairs["entry"] < pairs["start"]) & (pairs["exit"].isna() | (pairs["exit"] >= window))
    prior = set(pairs.loc[hit, "client"])
    return first.assign(prior=first["client"].isin(prior))


def measure_5(enr, start, end, ptypes: frozenset[str], name: str) -> pd.DataFrame:
    """SPM 5.1 / 5.2: persons entering, those with a stay in the prior 24 months, first-timers."""
    persons = first_time_homeless(enr, start, end, ptypes)
    n, prior = len(persons), int(persons["prior"].sum())
    types = "ES-EE, ES-NbN, SH, or TH" if name == "5.1" else "ES-EE, ES-NbN, SH, TH or PH"
    rows = {
        2: f"Universe: Person with entries into {types} during the reporting period.",
        3: "Of persons above, count those who were in ES-EE, ES-NbN, SH, TH, or any PH within "
        "24 months prior to their start during the reporting year.",
        4: "Of persons above, count those who did not have entries in ES-EE, ES-NbN, SH, TH or "
        "PH in the previous 24 months. (i.e. number of persons experiencing homelessness for "
        "the first time)",
    }
    return _shell(f"Metric {name}", CURRENT_COLUMNS, rows, {"C2": n, "C3": prior, "C4": n - prior})


# -- Measure 7: successful placement and retention ----------------------------------------------
def _latest_exits(enr: pd.DataFrame, ptypes, start, end) -> pd.DataFrame:
    """SPM spec, Measure 7: stays in ``ptypes`` active in the period; persons still enrolled in
    one of them on the report end are left out; of the others, each person's latest exit.

    A leaver's exit is in the period, its first day included (Glossary, "Leavers"; whether an
    exit on the report start counts was not confirmed against the spec's own text)."""
    in_period = (enr["entry"] <= end) & (enr["exit"].isna() | (enr["exit"] >= start))
    stays = enr[enr["ptype"].isin(list(ptypes)) & in_period]
    stayers = set(stays.loc[stays["exit"].isna(), "client"])
    leavers = stays[stays["exit"].notna() & ~stays["client"].isin(stayers)]
    order = ["client", "exit", "entry", "enrollment_id"]
    return leavers.sort_values(order, kind="stable").drop_duplicates("client", keep="last")


def measure_7a1(enr, start, end) -> pd.DataFrame:
    """SPM 7a.1: persons exiting street outreach (latest exit; stayers and hospital, halfway
    house and deceased exits left out), those to homeless/temporary/institutional destinations,
    those to permanent destinations, and the share of both."""
    latest = _latest_exits(enr, SO, start, end)
    universe = latest[~latest["destination"].isin(list(M7A_EXCLUDED))]
    temporary = int(universe["destination"].isin(list(M7A_TEMPORARY)).sum())
    permanent = int(universe["destination"].isin(list(PERMANENT)).sum())
    cells = {
        "C2": len(universe),
        "C3": temporary,
        "C4": permanent,
        "C5": _pct(temporary + permanent, len(universe)),
    }
    rows = {
        2: "Universe: Persons who exit Street Outreach",
        3: "Of persons above, those who exited to specific homeless, temporary, and "
        "institutional destinations",
        4: "Of the persons above, those who exited to permanent housing destinations",
        5: "% Successful exits",
    }
    return _shell("Metric 7a.1", CURRENT_COLUMNS, rows, cells)


def measure_7b1(enr, start, end) -> pd.DataFrame:
    """SPM 7b.1: persons exiting ES, SH, TH and PH-RRH, and other PH without moving in (latest
    exit per person across ES, SH, TH and PH; stayers and the excluded destinations left out;
    a latest exit from PH other than RRH after a move-in belongs to 7b.2), and those to PH."""
    latest = _latest_exits(enr, ES | SH | TH | PH, start, end)
    moved_in = latest["ptype"].isin(list(PH_NOT_RRH)) & latest["move_in"].notna()
    universe = latest[~moved_in & ~latest["destination"].isin(list(M7B_EXCLUDED))]
    permanent = int(universe["destination"].isin(list(PERMANENT)).sum())
    cells = {"C2": len(universe), "C3": permanent, "C4": _pct(permanent, len(universe))}
    rows = {
        2: "Universe: Persons in ES-EE, ES-NbN, SH, TH, and PH-RRH who exited, plus persons in "
        "other PH projects who exited without moving into housing",
        3: "Of the persons above, those who exited to permanent housing destinations",
        4: "% Successful exits",
    }
    return _shell("Metric 7b.1", CURRENT_COLUMNS, rows, cells)


def measure_7b2(enr, start, end) -> pd.DataFrame:
    """SPM 7b.2: persons in PH other than RRH who moved in, still enrolled on the report end
    (retained; their latest stay) or exited (their latest exit), and of them those retained or
    exited to a permanent destination.

    Left out: a stayer whose latest stay has no move-in by the report end, a leaver whose latest
    exit has no move-in (reported in 7b.1), and leavers to the excluded destinations (foster care,
    hospital, long-term care, deceased).
    """
    stays = enr[enr["ptype"].isin(list(PH_NOT_RRH)) & _open_during(enr, start, end)]
    open_ = stays[stays["exit"].isna()]
    latest_stay = open_.sort_values(["client", "entry", "enrollment_id"], kind="stable")
    latest_stay = latest_stay.drop_duplicates("client", keep="last")
    stayers = latest_stay[latest_stay["move_in"].notna()]
    leavers = _latest_exits(enr, PH_NOT_RRH, start, end)
    leavers = leavers[leavers["move_in"].notna() & ~leavers["destination"].isin(list(M7B_EXCLUDED))]
    n = len(stayers) + len(leavers)
    success = len(stayers) + int(leavers["destination"].isin(list(PERMANENT)).sum())
    cells = {"C2": n, "C3": success, "C4": _pct(success, n)}
    rows = {
        2: "Universe: Persons in all PH projects except PH-RRH who exited after moving into "
        "housing, or who moved into housing and remained in the PH project",
        3: "Of persons above, those who remained in applicable PH projects and those who exited "
        "to permanent housing destinations",
        4: "% Successful exits/retention",
    }
    return _shell("Metric 7b.2", CURRENT_COLUMNS, rows, cells)
