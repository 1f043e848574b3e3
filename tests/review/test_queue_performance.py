"""The queue at scale: 100,000 reports across 20 agencies, on SQLite and on PostgreSQL
(whichever the suite runs on). Every filter and page renders, lists only the user's
agency's reports, and the visibility check is answered from an index.

How fast it is (p95 < 150 ms is the target) is measured by bench/queue.py, which prints the
figures: a wall-clock threshold here would fail on a busy machine and prove nothing on an
idle one.
"""

from __future__ import annotations

import random
import re
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, insert, select, text

from hotline.extensions import db
from hotline.models import Assignment, Report, utcnow
from tests.review.conftest import Browser, Login

pytestmark = pytest.mark.bench

REPORTS = 100_000
BATCH = 10_000
# The configured agencies plus made-up ones up to 20: only the spread matters here.
AGENCIES = [
    "riverbend_sd",
    "north_valley_sd",
    "central_county_sd",
    "south_county_sd",
    "precinct_1_north",
    "precinct_2_central",
    "precinct_4_south",
    "safe_schools_unit",
    "drug_task_force",
    "prea_unit",
    "dhs_outside",
    "dispatch",
    *[f"bench_agency_{i}" for i in range(8)],
]
BUSIEST = "safe_schools_unit"
CATEGORIES = [["other"]] * 6 + [["drugs"], ["bullying"], ["gangs"], ["weapons", "violence_threat"]]
URGENCIES = ["normal"] * 7 + ["high"] * 2 + ["critical"]
STATUSES = ["new"] * 5 + ["acknowledged", "investigating", "referred", "closed", "closed"]


def _seed(app: Flask) -> None:
    """Insert the reports and their assignments with plain multi-row inserts."""
    rng = random.Random(42)
    now = utcnow()
    with app.app_context():
        session = db.session
        for start in range(0, REPORTS, BATCH):
            reports = []
            for i in range(start, start + BATCH):
                created = now - timedelta(minutes=REPORTS - i)
                reports.append(
                    {
                        "id": i + 1,
                        "hotline_id": "safe_schools",
                        "tip_number": str(30_000_000 + i),
                        "created_at": created,
                        "status": rng.choice(STATUSES),
                        "urgency": rng.choice(URGENCIES),
                        "categories": rng.choice(CATEGORIES),
                        "language": "en",
                        "keypad": {},
                        "legal_hold": False,
                        "routed_at": created,
                    }
                )
            session.execute(insert(Report), reports)
            assignments = []
            for report in reports:
                # One or two agencies each, like a school district plus its precinct; and, as
                # with every Safe Schools report, most also go to one county-wide unit.
                agencies = set(rng.sample(AGENCIES, rng.choice((1, 1, 2))))
                if rng.random() < 0.6:
                    agencies.add(BUSIEST)
                for agency in sorted(agencies):
                    assignments.append(
                        {
                            "report_id": report["id"],
                            "agency_id": agency,
                            "created_at": report["created_at"],
                            "due_at": report["created_at"] + timedelta(hours=1),
                            "level": 0,
                        }
                    )
            session.execute(insert(Assignment), assignments)
        session.commit()
        if db.engine.dialect.name == "postgresql":
            # Explicit ids were inserted: move the sequence past them for later inserts.
            session.execute(text("SELECT setval('reports_id_seq', (SELECT max(id) FROM reports))"))
            session.execute(text("ANALYZE reports"))
            session.execute(text("ANALYZE assignments"))
        else:
            session.execute(text("ANALYZE"))
        session.commit()


URLS = [
    "/queue",
    "/queue?page=2",
    "/queue?page=40",
    "/queue?status=all",
    "/queue?urgency=critical",
    "/queue?status=closed&category=other",
    "/queue?status=all&category=weapons",
    "/queue/rows",
]
_ROW = re.compile(r'data-report-id="(\d+)"')


def _listed(user: Browser, url: str) -> list[int]:
    response = user.get(url)
    assert response.status_code == 200, url
    return [int(i) for i in _ROW.findall(response.get_data(as_text=True))]


def _visible(app: Flask, agency: str, ids: list[int]) -> set[int]:
    with app.app_context():
        found = db.session.scalars(
            select(Assignment.report_id).where(Assignment.agency_id == agency, Assignment.report_id.in_(ids))
        )
        return set(found)


def _queue_statement(app: Flask, user: Browser) -> tuple[str, Any]:
    """The SQL the queue page lists its reports with, and its parameters, as the driver got them."""
    seen: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        seen.append((statement, parameters))

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        assert user.get("/queue").status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", record)
    [found] = [(s, p) for s, p in seen if re.search(r"FROM reports\b", s) and "EXISTS" in s.upper()]
    return found


def _plan(app: Flask, statement: str, parameters: Any) -> str:
    with app.app_context():
        dialect = db.engine.dialect.name
        prefix = "EXPLAIN QUERY PLAN " if dialect == "sqlite" else "EXPLAIN "
        rows = db.session.connection().exec_driver_sql(prefix + statement, parameters).all()
        return "\n".join(str(row[-1]) for row in rows)


def test_the_queue_lists_the_right_reports_from_an_index_with_100k_reports(rapp: Flask, login: Login) -> None:
    _seed(rapp)
    with rapp.app_context():
        assert db.session.scalar(select(Report.id).order_by(Report.id.desc()).limit(1)) == REPORTS
    # A school district's investigator (about 7% of the reports) and one of the county-wide
    # unit that gets most of them.
    users = {
        "riverbend_sd": login("ann@riverbend.example.org", "investigator", ("riverbend_sd",)),
        BUSIEST: login("sam@schools.example.org", "investigator", (BUSIEST,)),
    }
    for agency, user in users.items():
        for url in URLS:
            listed = _listed(user, url)
            assert listed, f"{agency}: {url} listed no reports"
            assert _visible(rapp, agency, listed) == set(listed), f"{agency}: {url} lists another agency's reports"
        # Pages follow on without overlap.
        assert not set(_listed(user, "/queue")) & set(_listed(user, "/queue?page=2"))
    # Which reports a user may see is found through the assignments' indexes, not by
    # reading every assignment for every report.
    statement, parameters = _queue_statement(rapp, users["riverbend_sd"])
    plan = _plan(rapp, statement, parameters)
    with rapp.app_context():
        sqlite = db.engine.dialect.name == "sqlite"
    if sqlite:
        assert re.search(r"SEARCH assignments USING (COVERING )?INDEX", plan), plan
        assert "SCAN assignments" not in plan, plan
    else:
        assert "Seq Scan on assignments" not in plan, plan
        assert re.search(r"Index[^\n]* on assignments", plan), plan
