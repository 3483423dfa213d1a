"""Derived numbers: a share, rate or total a provider output prints gives back nothing that
suppression hides, and no count of 1 to threshold - 1 is printed.

The recovery this guards against (issue 13, cascade 2026-Q3): shares served were computed over
the groups that have a population share only, so a group's cases divided by its share gave a
second total (142), and the published total (147) minus it gave the suppressed "Unknown" (5).
Small inline frames (tests/unit/metrics_kit.py) with hand-computed expectations, and one demo
packet built in-process (no kernels) for the printed-count rule.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from metrics_kit import ep, episodes, make_program
from openpyxl import Workbook

from acm_helpers.core import text
from acm_helpers.metrics import engine as metrics
from acm_helpers.metrics import privacy
from acm_helpers.packets import audit
from acm_helpers.packets.audit_diff import DENOMINATOR, OWN, HiddenCell

T = 11
EXITS = "Exits to permanent housing"
SHARES = {"White": 0.6, "Black": 0.25, "Asian": 0.15}  # "Unknown" has no population share
# leavers in January 2026 (exits to permanent housing) per group: Asian (6) and Unknown (5) are
# under the threshold; together they hold 11, so complementary suppression adds no third group
GROUPS = {"White": (61, 26), "Black": (35, 12), "Asian": (6, 2), "Unknown": (5, 1)}


def race_program():
    race = {
        "label": "Race",
        "column": "race_ethnicity",
        "reference_group": "White",
        "reference_shares": SHARES,
        "reference_source": "kit census",
    }
    return make_program(threshold=T, metrics=["exits"], dimensions={"race": race})


def leavers(race: str, n: int, ph: int, provider: str = "a") -> list[dict]:
    return ep(provider, "2026-01-15", race=race, n=ph) + ep(
        provider, "2026-01-15", race=race, dest="temporary", n=n - ph
    )


@pytest.fixture(scope="module")
def cascade_like():
    """Provider a's January 2026 by race (GROUPS), computed by the engine."""
    prog = race_program()
    rows = [r for g, (n, ph) in GROUPS.items() for r in leavers(g, n, ph)]
    mv, eq = metrics.compute_tables(prog, episodes(rows), periods=["2026-01"], grains=("month",))
    return prog, mv, eq


def _race(eq: pd.DataFrame) -> pd.DataFrame:
    sel = eq[(eq["provider_id"] == "a") & (eq["dimension"] == "race")]
    return sel.set_index("group")


def _overall(mv: pd.DataFrame) -> pd.Series:
    sel = mv[(mv["provider_id"] == "a") & (mv["dimension"] == "") & (mv["period"] == "2026-01")]
    assert len(sel) == 1
    return sel.iloc[0]


def old_rule_shares() -> dict[str, float]:
    """The rule before issue 13, computed inline: each listed group's cases over the groups that
    have a population share (the suppressed Asian group's true 6 included)."""
    listed = sum(n for g, (n, _) in GROUPS.items() if g in SHARES)
    return {g: n / listed for g, (n, _) in GROUPS.items() if g in SHARES}


def planted_outputs(tmp_path, race: pd.DataFrame, shares: dict[str, float], overall: float):
    """The packet's equity table (cases, share served, population share) and the XLSX row that
    publishes the month's leavers, as a provider would receive them."""
    rows = ""
    for g in GROUPS:
        r = race.loc[g]
        sup = bool(r["suppressed"])
        share = shares.get(g)
        rows += (
            f"<tr><td>{g}</td><td>{text.value(r['value'], 'percent', suppressed=sup)}</td>"
            f"<td>{text.count(r['denominator'], suppressed=sup)}</td>"
            f"<td>{'suppressed' if sup or share is None else text.value(share, 'percent')}</td>"
            f"<td>{text.value(SHARES[g], 'percent') if g in SHARES else ''}</td></tr>"
        )
    html = (
        f"<html><body><table><caption>{EXITS} by race, January 2026</caption><thead><tr>"
        "<th>Group</th><th>Value</th><th>Cases</th><th>Share served</th><th>Population share</th>"
        f"</tr></thead><tbody>{rows}</tbody></table></body></html>"
    )
    page = tmp_path / "packet.html"
    page.write_text(html, encoding="utf-8")
    wb = Workbook()
    wb.active.title = "Trend"
    wb.active.append(["metric", "month", "value", "denominator"])
    wb.active.append([EXITS, "2026-01", 0.4, overall])
    wb.save(tmp_path / "appendix.xlsx")
    return {"html": page, "xlsx": tmp_path / "appendix.xlsx"}


def facts() -> audit.PrivacyFacts:
    hidden = tuple(
        HiddenCell(EXITS.lower(), OWN, "2026-01", "race", g.lower(), ph, n, DENOMINATOR)
        for g, (n, ph) in GROUPS.items()
        if n < T
    )
    return audit.PrivacyFacts(
        provider="a",
        own_labels=("Alpha House",),
        other_labels=("All providers",),
        group_labels=tuple(GROUPS),
        dimension_labels=("Race",),
        metric_kinds=((EXITS, "rate"),),
        threshold=T,
        hidden=hidden,
        share_groups=tuple(("Race", g) for g in SHARES),
    )


def test_the_old_share_rule_recovers_the_unknown_group(cascade_like):
    """35 Black leavers / their old share (35 / 102) = 102 leavers over the listed groups; the
    published 107 leavers minus 102 = 5, the suppressed Unknown group."""
    _, mv, eq = cascade_like
    race, overall = _race(eq), _overall(mv)
    assert race.loc["Asian", "suppressed"] and race.loc["Unknown", "suppressed"]
    assert not race.loc["Black", "suppressed"] and not overall["suppressed"]
    old = old_rule_shares()
    printed = text.value(old["Black"], "percent")  # as the packet prints it
    assert printed == "34.3%"
    base = round(race.loc["Black", "denominator"] / (float(printed.rstrip("%")) / 100))
    assert base == 102
    assert overall["denominator"] - base == GROUPS["Unknown"][0]


def test_the_new_shares_are_over_the_published_total(cascade_like):
    """Shares now divide by the overall cell: cases / share is the published 107 again, and the
    shares of the groups with a population share no longer add up to 1 (Unknown holds 5/107)."""
    _, mv, eq = cascade_like
    race, overall = _race(eq), _overall(mv)
    total = overall["denominator"]
    assert race.loc["Black", "share_served"] == pytest.approx(35 / total)
    assert race.loc["White", "share_served"] == pytest.approx(61 / total)
    assert race.loc["Black", "denominator"] / race.loc["Black", "share_served"] == pytest.approx(
        total
    )
    assert np.isnan(race.loc["Unknown", "share_served"])  # no population share, no share
    assert np.isnan(race.loc["Asian", "share_served"])  # suppressed
    assert race.loc["Black", "disproportionality"] == pytest.approx(35 / total / 0.25)


def test_the_audit_catches_the_old_rule_and_passes_the_new(cascade_like, tmp_path):
    _, mv, eq = cascade_like
    race, total = _race(eq), _overall(mv)["denominator"]
    (tmp_path / "old").mkdir()
    (tmp_path / "new").mkdir()
    leaked = audit.check_files(
        planted_outputs(tmp_path / "old", race, old_rule_shares(), total), facts()
    )
    # both hidden groups come back: 107 - 102 = 5 (Unknown, no population share) and
    # 102 - 61 - 35 = 6 (Asian, the only hidden group with one)
    by_group = {g: [f.message for f in leaked if f"Race / {g} " in f.message] for g in GROUPS}
    assert len(leaked) == 2 and len(by_group["Unknown"]) == 1 and len(by_group["Asian"]) == 1
    for msg in (by_group["Unknown"][0], by_group["Asian"][0]):
        assert "worked out by subtraction" in msg and "cases / share" in msg
        assert "packet.html" in msg and "appendix.xlsx" in msg
    assert "without a population share" in by_group["Unknown"][0]
    new = {g: race.loc[g, "share_served"] for g in SHARES if not race.loc[g, "suppressed"]}
    assert audit.check_files(planted_outputs(tmp_path / "new", race, new, total), facts()) == []


def test_no_share_when_the_overall_cell_is_suppressed():
    """Provider a's overall leavers are suppressed to protect provider b (5 leavers) among the
    providers; a share of a's groups would give that total back (cases / share), so it is null."""
    prog = race_program()
    rows = leavers("White", 12, 6) + leavers("Black", 12, 6)
    rows += leavers("White", 5, 2, provider="b") + leavers("White", 30, 15, provider="c")
    rows += leavers("Black", 30, 15, provider="c")
    mv, eq = metrics.compute_tables(prog, episodes(rows), periods=["2026-01"], grains=("month",))
    assert _overall(mv)["suppressed"]
    race = _race(eq)
    assert race["share_served"].isna().all()
    assert race["disproportionality"].isna().all()


@pytest.mark.parametrize(
    ("n", "small"),
    [
        pytest.param(0, False, id="zero-is-printed"),
        pytest.param(1, True, id="one"),
        pytest.param(10, True, id="ten"),
        pytest.param(11, False, id="threshold"),
        pytest.param(np.nan, False, id="blank"),
    ],
)
def test_is_small_count(n, small):
    assert bool(privacy.is_small_count(n, T)[0]) is small


@pytest.mark.parametrize(
    "n",
    [0, 1, 10, 11, 0.5, 1.5, 10.99, -3, np.nan, np.int64(4), np.float32(12.0), True, False],
    ids=repr,
)
def test_is_small_count_of_one_number_answers_as_for_a_column(n):
    """One number takes a short path (the audit asks about each printed cell); it answers as
    the column path does."""
    one = privacy.is_small_count(n, T)
    column = privacy.is_small_count(pd.Series([n], dtype=object), T)
    assert one.tolist() == column.tolist()


def test_a_provider_view_never_prints_a_small_numerator():
    """4 exits of 12 leavers: the rate is shown (12 cases), its numerator of 4 is not; an
    internal view keeps it; a numerator of 0 is printed."""
    prog = make_program(threshold=T, metrics=["exits"])
    rows = leavers("White", 12, 4) + leavers("White", 20, 0, provider="b")
    rows += leavers("White", 30, 15, provider="c")
    mv, _ = metrics.compute_tables(prog, episodes(rows), periods=["2026-01"], grains=("month",))
    mv = mv[mv["dimension"] == ""].set_index("provider_id")
    inside = privacy.for_audience(mv.reset_index(), prog, "internal").set_index("provider_id")
    outside = privacy.for_audience(mv.reset_index(), prog, "provider", "a").set_index("provider_id")
    assert inside.loc["a", "numerator"] == 4 and inside.loc["a", "math"].startswith("4 exits")
    assert np.isnan(outside.loc["a", "numerator"])
    assert outside.loc["a", "math"] == (
        "fewer than 11 exits to permanent housing / 12 leavers = 33.3%"
    )
    assert outside.loc["a", "value"] == pytest.approx(4 / 12)  # the rate itself is kept
    peer = outside[outside["provider_label"] != "Alpha House"]
    assert 0 in set(peer["numerator"])  # zero is not a small cell
    assert 15 in set(peer["numerator"])


# -- the demo: no count of 1..10 in a provider packet ----------------------------------------------
SECTIONS = (
    "header",
    "brief",
    "tiles",
    "what_changed",
    "sprints",
    "trends",
    "peers",
    "equity",
    "quality",
    "definitions",
    "footer",
)


def demo_packet(demo_store, program_path, program, provider, out, audience="provider"):
    """The dashboard notebook's sections (provider audience only) and the XLSX appendix, built
    in-process."""
    from acm_helpers.packets import dashboard, packet
    from acm_helpers.packets.xlsx import write_xlsx

    files = {}
    if audience == "provider":
        p = packet.load(program_path, demo_store.root, provider, "2026-10", audience)
        files["html"] = out / "packet.html"
        files["html"].write_text(
            "<html><body>"
            + "".join(getattr(dashboard, s)(p)._repr_html_() for s in SECTIONS)
            + "</body></html>",
            encoding="utf-8",
        )
    params = {
        "program_path": program_path,
        "data_dir": demo_store.root,
        "provider": provider,
        "period": "2026-10",
        "audience": audience,
    }
    sheets, notes = packet.appendix(program, demo_store, params)
    files["xlsx"] = write_xlsx(out / "appendix.xlsx", sheets, notes=notes)
    return files


@pytest.mark.slow
def test_a_demo_provider_packet_prints_no_small_count_and_passes_the_audit(
    demo_store, program_path, program, tmp_path
):
    """The packet the issue measured (cascade, equity quarter 2026-Q3, with its trend months) is
    audited whole: no printed count of 1..10, and nothing recovered through shares or totals.
    The same appendix for an internal audience does print small counts (the check is not idle)."""
    from acm_helpers.core.calendar import equity_quarter
    from acm_helpers.packets import audit_facts

    facts = audit_facts.facts_for(
        program, demo_store, "cascade", "2026-10", equity_period=equity_quarter("2026-10")
    )
    (tmp_path / "provider").mkdir()
    files = demo_packet(demo_store, program_path, program, "cascade", tmp_path / "provider")
    findings = audit.check_files(files, facts)
    assert findings == [], [f.message for f in findings]
    (tmp_path / "internal").mkdir()
    inside = demo_packet(
        demo_store, program_path, program, "cascade", tmp_path / "internal", "internal"
    )
    assert any(f.kind == "small_count" for f in audit.check_files(inside, facts))
