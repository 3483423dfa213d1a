"""Differencing check: can a suppressed cell be worked out by subtraction from what is published?

Why a check of its own: the text check (:mod:`acm_helpers.packets.audit`) finds a suppressed
cell's true number printed next to it. A reader can also subtract: a published total minus the
shown parts of a breakdown leaves the hidden part; the all-providers row minus the providers
shown leaves the hidden provider; a quarter minus its shown months leaves the hidden month. The
engine's complementary suppression (:func:`acm_helpers.metrics.privacy.suppress`) is meant to
prevent this; this module checks the finished output, across all its tables at once (the HTML
page's tables and every XLSX sheet), because a total in one table and its parts in another is
as good as one table with both.

How: every table row is read as a published cell (metric, provider, period, breakdown, group)
with its numerator and denominator (or "suppressed"), recognising the labels the packet uses
(:class:`~acm_helpers.packets.audit.PrivacyFacts`). Cells are then put in the engine's sets of
siblings: the groups of one breakdown (total: the overall value, or the sum of another
breakdown whose groups are all shown), the providers of one cell (total: all providers), and
the months (or quarters) inside a longer period (total: that period). In each set with hidden
parts, the residual (total minus the shown parts) is compared with the hidden cells' true
numbers from the store's ``suppressed_truth``:

* one hidden part whose true numerator or denominator equals the residual is *recovered*;
* several hidden parts whose true cases add up to the residual, fewer than the suppression
  threshold, are *narrowed* (each is known to be under the threshold);
* a hidden total whose parts are all shown is recovered the same way.

Shares are totals too: a group's published share of those served and its published cases give
the share's denominator (cases / share, to within the rounding of the printed decimals; every
group's share narrows it further). That denominator is read as the breakdown's total (the
engine's rule: shares are over the overall cell), and, where some groups print no population
share, also as the total of the groups that do, so the overall total minus it leaves the groups
without one (how "Unknown" was recovered when shares were over listed groups only). A hidden
overall total that a share pins down is recovered as well.

Where the truth of a hidden cell is not in the store (a deep dive's own window, for example),
the check is conservative for groups and providers (sets that always partition their total): one
hidden part with a published total, or a residual under the threshold, fails.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from acm_helpers.metrics.privacy import COUNT_NUMERATOR_KINDS, is_small_count
from acm_helpers.packets.audit_text import Table

ALL_PROVIDERS = "__all__"
OTHERS = "__others__"  # "Peers (all other providers)": the sum of every provider but the own
OWN = ""
NUMERATOR, DENOMINATOR = "numerator", "denominator"
# column headings that hold a cell's counts
NUMERATOR_HEADERS = {"numerator", "count"}
DENOMINATOR_HEADERS = {"denominator", "cases", "n", "enrollments", "leavers"}
VALUE_HEADERS = {"value", "this month", "term value"}
# a group's share of those served (its cases over the breakdown's total), and the population share
SHARE_HEADERS = {"share of people served", "share served", "share"}
POPULATION_SHARE_HEADERS = {"population share", "reference share", "share of the population"}
SHARE_BASE = "groups with a population share"
ALL_WORDS = {"all providers", "__all__"}
OTHERS_WORDS = {"peers (all other providers)", "all other providers", "peers"}
NUMBER = re.compile(r"^-?\d[\d,]*(?:\.\d+)?$")
MONTH_NAMES = {
    **{datetime(2000, m, 1).strftime("%B").lower(): m for m in range(1, 13)},
    **{datetime(2000, m, 1).strftime("%b").lower(): m for m in range(1, 13)},
}
_MON = "|".join(sorted(MONTH_NAMES, key=len, reverse=True))
_RANGE = re.compile(rf"\b({_MON})\.? (\d{{4}}) ?[–-] ?({_MON})\.? (\d{{4}})\b", re.I)
_SPAN = re.compile(rf"\b({_MON})\.?[–-]({_MON})\.? (\d{{4}})\b", re.I)
_MONTH = re.compile(rf"\b({_MON})\.? (\d{{4}})\b", re.I)
_ISO_MONTH = re.compile(r"\b(\d{4})-(\d{2})\b")
_QUARTER = re.compile(r"\b(\d{4})-q([1-4])\b|\bq([1-4]) (\d{4})\b", re.I)


@dataclass(frozen=True)
class HiddenCell:
    """A suppressed cell's true counts, labelled as the output labels it."""

    metric: str
    who: str  # OWN, a peer's label, or ALL_PROVIDERS
    period: str  # a canonical period (see :func:`period_key`)
    dimension: str  # the breakdown's label ("" for an overall value)
    group: str
    numerator: float | None
    denominator: float | None
    size_role: str = DENOMINATOR  # which count suppression is judged on (numerator for counts)


@dataclass
class Published:
    """One cell as an output publishes it: shown counts, or hidden."""

    metric: str
    who: str
    period: str
    dimension: str
    group: str
    where: str  # file and table, for the message
    numbers: dict[str, float]
    hidden: set[str]
    share: tuple[float, float] | None = None  # the printed share served, as an interval
    share_role: str = DENOMINATOR  # the count the share divides (numerator for counts)
    population_share: bool = False  # the row prints a population share


# -- periods --------------------------------------------------------------------------------------
def _ym(year: int, month: int) -> int:
    return year * 12 + month - 1


def _label(first: int, last: int) -> str:
    a, b = divmod(first, 12), divmod(last, 12)
    if first == last:
        return f"{a[0]}-{a[1] + 1:02d}"
    if a[0] == b[0] and a[1] % 3 == 0 and b[1] == a[1] + 2:
        return f"{a[0]}-Q{a[1] // 3 + 1}"
    if a[0] == b[0] and a[1] == 0 and b[1] == 11:
        return str(a[0])
    return f"{a[0]}-{a[1] + 1:02d}..{b[0]}-{b[1] + 1:02d}"


def period_key(text: str) -> str:
    """A period written in an output, canonical: "2026-10", "2026-Q3", "2026", or a window
    "2024-11..2025-10"; "" when the text names none. "October 2026", "Oct 2026", "Q3 2026",
    "July–September 2026" and "Nov 2024 – Oct 2025" are all understood."""
    span = period_months(text)
    return _label(*span) if span else ""


def period_months(text: str) -> tuple[int, int] | None:
    """First and last month (as year * 12 + month - 1) of the period a text names, or None."""
    low = text.lower()
    if m := _RANGE.search(low):
        first = _ym(int(m.group(2)), MONTH_NAMES[m.group(1).lower()])
        return first, _ym(int(m.group(4)), MONTH_NAMES[m.group(3).lower()])
    if m := _SPAN.search(low):
        y = int(m.group(3))
        return _ym(y, MONTH_NAMES[m.group(1).lower()]), _ym(y, MONTH_NAMES[m.group(2).lower()])
    if m := _QUARTER.search(low):
        y, q = (m.group(1), m.group(2)) if m.group(1) else (m.group(4), m.group(3))
        first = _ym(int(y), 3 * int(q) - 2)
        return first, first + 2
    if m := _ISO_MONTH.search(low):
        if 1 <= int(m.group(2)) <= 12:
            first = _ym(int(m.group(1)), int(m.group(2)))
            return first, first
    if m := _MONTH.search(low):
        first = _ym(int(m.group(2)), MONTH_NAMES[m.group(1).lower()])
        return first, first
    return None


def _months(period: str) -> tuple[int, int] | None:
    if ".." in period:
        a, b = (period_months(p) for p in period.split(".."))
        return (a[0], b[1]) if a and b else None
    if re.fullmatch(r"\d{4}", period):
        return _ym(int(period), 1), _ym(int(period), 12)
    return period_months(period)


# -- reading tables as cells ------------------------------------------------------------------------
def _norm(text: str) -> str:
    return " ".join(str(text).split()).strip().lower()


def _number(text: str) -> float | None:
    t = text.strip()
    return float(t.replace(",", "")) if NUMBER.match(t) else None


def share_interval(text: str) -> tuple[float, float] | None:
    """A printed share as the fractions it may have been rounded from: "24.6%" is 0.2455 ..
    0.2465, "0.246479" is 0.2464785 .. 0.2464795; None when the text is not a share."""
    t = text.strip()
    percent = t.endswith("%")
    t = t.rstrip("%").strip()
    if not NUMBER.match(t):
        return None
    decimals = len(t.split(".", 1)[1]) if "." in t else 0
    v, half = float(t.replace(",", "")), 0.5 * 10.0**-decimals
    if percent:
        v, half = v / 100, half / 100
    return (max(v - half, 0.0), v + half) if v <= 1 + half else None


@dataclass(frozen=True)
class Vocabulary:
    """The labels an output uses, lower case: metrics (with their kind), breakdowns, groups,
    providers."""

    metrics: dict[str, str]  # label -> kind
    dimensions: frozenset[str]
    groups: frozenset[str]
    own: frozenset[str]  # the output's own provider as it names it
    peers: frozenset[str]  # other providers as it names them
    undated_period: str = ""  # what a table that names no period is about
    # (breakdown, group) pairs that have a population share (the program's reference shares,
    # public): the groups a share over "groups with a population share" would be taken over
    share_groups: frozenset[tuple[str, str]] = frozenset()


def _find(text: str, labels: Iterable[str]) -> str:
    low = _norm(text)
    best = ""
    for lab in labels:
        if lab and re.search(r"(?<![\w-])" + re.escape(lab) + r"(?![\w-])", low):
            best = lab if len(lab) > len(best) else best
    return best


def table_cells(table: Table, vocab: Vocabulary, index: int) -> list[Published]:
    """The cells a table publishes (rows it cannot place are left out)."""
    header = [_norm(h) for h in table.header]
    context = _norm(table.name)
    table_metric = _find(context, vocab.metrics)
    table_dim = _find(context, vocab.dimensions)
    table_period = period_key(table.name) or vocab.undated_period
    metric_cols = [i for i, h in enumerate(header) if h in vocab.metrics]
    out: list[Published] = []
    where = f"{table.file} ({table.name or f'table {index + 1}'})"
    for row in table.rows:
        cells = [_norm(c) for c in row]
        metric = next((c for c in cells if c in vocab.metrics), table_metric)
        dim = next((c for c in cells if c in vocab.dimensions), table_dim)
        # a metric label with digits ("Returns within 12 months") is the row's metric, not a group
        group = next((c for c in cells if c in vocab.groups and c not in vocab.metrics), "")
        who = OWN
        for c in cells:
            if c in ALL_WORDS:
                who = ALL_PROVIDERS
            elif c in OTHERS_WORDS:
                who = OTHERS
            elif c in vocab.peers:
                who = c
        period = "term" if "term value" in header else table_period
        for i, c in enumerate(cells):
            if i < len(header) and header[i] in ("month", "quarter", "period", "months", "year"):
                period = period_key(c) or (c if re.fullmatch(r"\d{4}", c) else period)
        if group and not dim:
            dim = f"table {index + 1} of {table.file}"
        # one cell per metric the row holds: the row's metric, or one per metric column
        targets = [(metric, None)] if metric and not metric_cols else []
        targets += [(header[i], i) for i in metric_cols]
        for m, col in targets:
            numbers: dict[str, float] = {}
            hidden: set[str] = set()
            kind = vocab.metrics.get(m, "")
            for i, h in enumerate(header[: len(cells)]):
                role = None
                if h in NUMERATOR_HEADERS:
                    role = NUMERATOR
                elif h in DENOMINATOR_HEADERS:
                    # in a row of several metrics, cases belong to the metric column after them
                    if col is not None and next((j for j in metric_cols if j > i), None) != col:
                        continue
                    role = DENOMINATOR
                elif kind == "count" and (i == col or (col is None and h in VALUE_HEADERS)):
                    role = NUMERATOR
                if role is None:
                    continue
                text = cells[i]
                if text == "suppressed" or text.startswith("suppressed"):
                    hidden.add(role)
                elif (v := _number(text)) is not None:
                    numbers[role] = v
            if kind == "count":
                hidden.discard(DENOMINATOR)
                numbers.pop(DENOMINATOR, None)
            share, population = None, False
            if group:
                for i, h in enumerate(header[: len(cells)]):
                    if h in SHARE_HEADERS:
                        share = share_interval(cells[i]) or share
                    elif h in POPULATION_SHARE_HEADERS:
                        population = population or share_interval(cells[i]) is not None
                population = population or (dim, group) in vocab.share_groups
            if numbers or hidden:
                out.append(
                    Published(
                        m,
                        who,
                        period,
                        dim,
                        group,
                        where,
                        numbers,
                        hidden,
                        share,
                        NUMERATOR if kind == "count" else DENOMINATOR,
                        population,
                    )
                )
    return out


# -- sets and residuals --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Leak:
    """A suppressed cell (or cells) that subtraction recovers or narrows."""

    cells: tuple[str, ...]  # "metric / group / provider / period" of each hidden cell
    how: str  # a sentence: which total minus which parts


def describe(p: Published, labels: dict[str, str]) -> str:
    """ "metric / breakdown / group / provider / period" of a cell, as the output labels it."""
    who = {OWN: "", ALL_PROVIDERS: "all providers", OTHERS: "all other providers"}.get(
        p.who, labels.get(p.who, p.who)
    )
    return " / ".join(
        x
        for x in (
            labels.get(p.metric, p.metric),
            labels.get(p.dimension, "") if p.group else "",
            labels.get(p.group, p.group),
            who,
            p.period,
        )
        if x
    )


def _merge(cells: list[Published]) -> dict[tuple, Published]:
    """One record per cell across tables: a number shown anywhere counts as shown."""
    out: dict[tuple, Published] = {}
    for c in cells:
        key = (c.metric, c.who, c.period, c.dimension if c.group else "", c.group)
        if key not in out:
            out[key] = Published(
                *key[:3],
                key[3],
                key[4],
                c.where,
                dict(c.numbers),
                set(c.hidden),
                c.share,
                c.share_role,
                c.population_share,
            )
            continue
        have = out[key]
        for role, v in c.numbers.items():
            have.numbers.setdefault(role, v)
        have.hidden |= c.hidden
        have.hidden -= set(have.numbers)
        if c.share is not None:
            lo, hi = have.share or c.share
            have.share = (max(lo, c.share[0]), min(hi, c.share[1]))
        have.population_share = have.population_share or c.population_share
    return out


def _sets(cells: dict[tuple, Published]) -> list[tuple[str, Published | None, list[Published]]]:
    """(kind, total, parts) for every set of siblings whose total is published or implied."""
    out = []
    by = {}
    for c in cells.values():
        if c.group:
            by.setdefault(("group", c.metric, c.who, c.period), {}).setdefault(
                c.dimension, []
            ).append(c)
    for (_, metric, who, period), dims in by.items():
        total = cells.get((metric, who, period, "", ""))
        for parts in dims.values():
            out.append(("groups of a breakdown", total, parts))
        if total is None:
            # a breakdown whose groups are all shown publishes the total: it checks the others
            full = [ps for ps in dims.values() if len(ps) > 1 and all(not p.hidden for p in ps)]
            for ps in full:
                implied = Published(
                    metric,
                    who,
                    period,
                    "",
                    "",
                    "the sum of a fully shown breakdown",
                    {
                        r: sum(p.numbers.get(r, 0.0) for p in ps)
                        for r in (NUMERATOR, DENOMINATOR)
                        if all(r in p.numbers for p in ps)
                    },
                    set(),
                )
                for parts in dims.values():
                    if parts is not ps:
                        out.append(("groups of a breakdown", implied, parts))
    out += _share_sets(cells, by)
    provs = {}
    for c in cells.values():
        if c.who != ALL_PROVIDERS:
            provs.setdefault((c.metric, c.period, c.dimension, c.group), []).append(c)
    for (metric, period, dim, group), parts in provs.items():
        total = cells.get((metric, ALL_PROVIDERS, period, dim, group))
        if total is not None and len(parts) > 1:
            if {p.who for p in parts} >= {OWN, OTHERS}:
                parts = [p for p in parts if p.who in (OWN, OTHERS)]
            else:
                parts = [p for p in parts if p.who != OTHERS]
            out.append(("providers", total, parts))
    spans = {}
    for c in cells.values():
        if c.period and (span := _months(c.period)):
            spans.setdefault((c.metric, c.who, c.dimension, c.group), []).append((span, c))
    for items in spans.values():
        for span, total in items:
            inside = [
                (s, c)
                for s, c in items
                if c is not total and span[0] <= s[0] and s[1] <= span[1] and s != span
            ]
            for width in sorted({s[1] - s[0] for s, _ in inside}):
                parts = [c for s, c in inside if s[1] - s[0] == width]
                if len(parts) > 1 or width < span[1] - span[0]:
                    out.append(("periods inside " + total.period, total, parts))
    return out


# sets judged only against the stored truth (their total rests on how the output computed a share)
WITHOUT_SHARE = "groups without a population share, after the shares' denominator (cases / share)"
TRUTH_ONLY = {"groups with a population share", WITHOUT_SHARE}
SHARE_TOTAL = "shares served (cases / share)"


def share_total(parts: list[Published]) -> tuple[str, float, list[Published]] | None:
    """The denominator that one breakdown's printed shares pin down: (role, total, groups used).

    Each group with a share and its count bounds the denominator to ``count / share`` over the
    share's rounding; the bounds of every group together must leave exactly one whole number."""
    lo, hi, used, role = 0.0, math.inf, [], DENOMINATOR
    for p in parts:
        if p.share is None or p.share_role not in p.numbers:
            continue
        n, (s_lo, s_hi) = p.numbers[p.share_role], p.share
        if n <= 0 or s_hi <= 0:
            continue
        lo, hi = max(lo, n / s_hi), min(hi, n / s_lo if s_lo > 0 else math.inf)
        role = p.share_role
        used.append(p)
    if not used or not math.isfinite(hi) or hi - lo > 1:
        return None
    whole = list(range(math.ceil(lo - 1e-9), math.floor(hi + 1e-9) + 1))
    return (role, float(whole[0]), used) if len(whole) == 1 else None


def _overall(cells: dict[tuple, Published], metric: str, who: str, period: str, role: str):
    """A published overall number of a period: its own cell, or the sum of all its months."""
    own = cells.get((metric, who, period, "", ""))
    if own is not None and role in own.numbers:
        return own
    span = _months(period)
    if not span or span[0] == span[1]:
        return None
    months = [cells.get((metric, who, _label(m, m), "", "")) for m in range(span[0], span[1] + 1)]
    if not all(m is not None and role in m.numbers for m in months):
        return None
    return Published(
        metric,
        who,
        period,
        "",
        "",
        f"the sum of its months ({', '.join(sorted({m.where for m in months}))})",
        {role: sum(m.numbers[role] for m in months)},
        set(),
    )


def _share_sets(cells: dict[tuple, Published], by: dict) -> list:
    """Sets whose total is the denominator a breakdown's printed shares pin down (see the module
    docstring): the breakdown's groups (when no overall number is published; a hidden overall
    number is itself recovered), and, where some groups print no population share, the groups
    that do and the overall total minus them."""
    out = []
    for (_, metric, who, period), dims in by.items():
        total = cells.get((metric, who, period, "", ""))
        for parts in dims.values():
            found = share_total(parts)
            if found is None:
                continue
            role, value, used = found
            where = f"{used[0].where}: cases / share served"
            implied = Published(metric, who, period, "", "", where, {role: value}, set())
            if total is None or (role not in total.numbers and role not in total.hidden):
                out += [("groups of a breakdown", implied, other) for other in dims.values()]
            elif role in total.hidden:
                out.append((SHARE_TOTAL, total, [implied]))
            base = [p for p in parts if p.population_share]
            rest = [p for p in parts if not p.population_share]
            if base and rest:
                out.append(("groups with a population share", implied, base))
                overall = _overall(cells, metric, who, period, role)
                if overall is not None:
                    part = Published(
                        metric,
                        who,
                        period,
                        parts[0].dimension,
                        SHARE_BASE,
                        where,
                        {role: value},
                        set(),
                    )
                    out.append((WITHOUT_SHARE, overall, [part, *rest]))
    return out


def check_cells(
    cells: list[Published], truth: Iterable[HiddenCell], threshold: int, labels: dict[str, str]
) -> list[Leak]:
    """The leaks subtraction opens among published cells, judged against the hidden truth."""
    merged = _merge(cells)
    known = {(h.metric, h.who, h.period, h.dimension if h.group else "", h.group): h for h in truth}
    leaks: dict[tuple, Leak] = {}

    def true(p: Published, role: str) -> float | None:
        h = known.get((p.metric, p.who, p.period, p.dimension if p.group else "", p.group))
        return None if h is None else getattr(h, role)

    def size_role(p: Published) -> str:
        h = known.get((p.metric, p.who, p.period, p.dimension if p.group else "", p.group))
        return (
            h.size_role
            if h is not None
            else (
                NUMERATOR
                if DENOMINATOR not in p.numbers and DENOMINATOR not in p.hidden
                else DENOMINATOR
            )
        )

    for kind, total, parts in _sets(merged):
        partition = kind not in TRUTH_ONLY and not kind.startswith("periods")
        for role in (NUMERATOR, DENOMINATOR):
            hidden = [p for p in parts if role in p.hidden]
            shown = [p for p in parts if role in p.numbers]
            if len(hidden) + len(shown) < len(parts):
                continue  # a part publishes no such number: the residual is not known
            if total is not None and role in total.hidden and not hidden and shown:
                value, t = sum(p.numbers[role] for p in shown), true(total, role)
                if (t is not None and abs(value - t) < 0.5) or (t is None and partition):
                    key = (describe(total, labels), role)
                    leaks.setdefault(
                        key,
                        Leak(
                            (key[0],),
                            f"its {role} is the sum of its shown {kind} ({', '.join(sorted({p.where for p in shown}))})",
                        ),
                    )
                continue
            if total is None or role not in total.numbers or not hidden:
                continue
            residual = total.numbers[role] - sum(p.numbers[role] for p in shown)
            truths = [true(p, role) for p in hidden]
            source = f"{total.where}: the total minus the shown {kind}"
            if len(hidden) == 1:
                t = truths[0]
                if (t is not None and abs(residual - t) < 0.5) or (
                    t is None and partition and residual >= 0
                ):
                    key = (describe(hidden[0], labels), role)
                    leaks.setdefault(key, Leak((key[0],), f"its {role} is {source}"))
            elif all(size_role(p) == role for p in hidden):
                if all(t is not None for t in truths):
                    narrowed = abs(residual - sum(truths)) < 0.5 and residual < threshold
                else:
                    narrowed = partition and 0 <= residual < threshold
                if narrowed:
                    names = tuple(sorted(describe(p, labels) for p in hidden))
                    leaks.setdefault(
                        (names, role),
                        Leak(names, f"together they hold fewer than {threshold} cases: {source}"),
                    )
    return list(leaks.values())


def small_counts(
    cells: Iterable[Published], kinds: dict[str, str], threshold: int
) -> list[tuple[Published, str]]:
    """Published counts of 1 to threshold - 1 (``metrics.privacy.is_small_count``): numerators
    of rates and counts, and cases of every kind; (cell, role) for each."""
    out = []
    for c in cells:
        for role, v in c.numbers.items():
            if role == NUMERATOR and kinds.get(c.metric) not in COUNT_NUMERATOR_KINDS:
                continue  # a ratio of sums' numerator is money, not a count
            if is_small_count(v, threshold)[0]:
                out.append((c, role))
    return out
