"""HUD's person rules counted straight from an HMIS CSV export's rows, for tests that check the
metrics engine against them (no acm_helpers code: plain Python over ``csv`` rows).

CoC APR / ESG CAPER HMIS Programming Specifications FY2024: the report universe is each
client's latest enrollment in the report's projects active in the period (project start on or
before the end, no exit before the start; street outreach clients whether engaged or not: the
engagement filter is the data-quality questions' only); that enrollment decides leaver (exit in the period) or stayer. Q23c: leavers'
destinations, the excluded destinations (Appendix A) left out of the percentage's base, and
the permanent destinations (4xx) its subtotal.
"""

from __future__ import annotations

from collections import Counter

SO = "4"  # FY2024+ list 2.02.6 ProjectType: Street Outreach
EXCLUDED = {"215", "206", "225", "24"}  # APR Q23c, every project type but street outreach
EXCLUDED_SO = {"206", "329", "24"}


def exits_to_ph(
    raw: dict[str, list[dict]], start: str, end: str, group_of
) -> tuple[Counter, Counter]:
    """(leavers not excluded, of them exits to a permanent destination) per report group.

    Args:
        raw: live rows of each CSV (``Enrollment``, ``Exit``, ``Project``), ISO dates.
        start, end: the report period, ``YYYY-MM-DD`` (inclusive).
        group_of: ProjectID -> report group (e.g. the provider id), None to leave out.
    """
    ptype = {p["ProjectID"]: p["ProjectType"] for p in raw["Project"]}
    exit_of: dict[str, dict] = {}
    for x in raw["Exit"]:  # one exit per enrollment: the latest exit date
        if (
            x["EnrollmentID"] not in exit_of
            or x["ExitDate"] > exit_of[x["EnrollmentID"]]["ExitDate"]
        ):
            exit_of[x["EnrollmentID"]] = x
    latest: dict[tuple, tuple] = {}
    for e in raw["Enrollment"]:
        group = group_of(e["ProjectID"])
        x = exit_of.get(e["EnrollmentID"])
        left = x["ExitDate"] if x else ""
        if group is None or not e["EntryDate"] or e["EntryDate"] > end or (left and left < start):
            continue
        if left and left < e["EntryDate"]:
            continue  # exit before the start: not a valid stay
        so = ptype.get(e["ProjectID"]) == SO
        # latest start; same day: an open stay, then the later exit; then the enrollment id
        rank = (e["EntryDate"][:10], left[:10] or "9999", e["EnrollmentID"])
        key = (group, e["PersonalID"])
        if key not in latest or rank > latest[key][0]:
            latest[key] = (rank, left[:10], x["Destination"] if x else "", so)
    leavers, ph = Counter(), Counter()
    for (group, _), (_, left, dest, so) in latest.items():
        if not left or not start <= left <= end:
            continue  # a stayer
        if dest in (EXCLUDED_SO if so else EXCLUDED):
            continue
        leavers[group] += 1
        ph[group] += len(dest) == 3 and dest.startswith("4")
    return leavers, ph
