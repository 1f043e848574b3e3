"""Fixtures for the review app: real encrypted reports seeded as the pipeline leaves them,
users made with `flask users create`, and a signed-in browser-like client."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from hotline.auth import totp
from hotline.auth.models import AuditEntry
from hotline.extensions import db, runtime
from hotline.models import Assignment, Recording, Report, utcnow
from hotline.pipeline.assign import deadline
from tests.auth.conftest import Account, Clock, create_account, sign_in

# The pipeline's fixtures, shared here: an app with real storage and a worker, and calls
# (for the few review tests that follow a call through the pipeline).
from tests.pipeline.conftest import papp as papp
from tests.pipeline.conftest import place_call as place_call
from tests.pipeline.conftest import run_jobs as run_jobs
from tests.review.seed import seed_report

_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
# Tip numbers are unique; real ones are random 8-digit numbers, these are simply counted.
_tips = itertools.count(20_000_000)


@pytest.fixture
def rapp(papp: Flask) -> Flask:
    """The pipeline's app (real storage, real worker), review pages included."""
    assert "review" in papp.blueprints
    return papp


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    """TOTP time steps on demand, so signing in several users never waits 30 seconds."""
    c = Clock(1_800_000_000.0)
    monkeypatch.setattr(totp, "clock", c)
    yield c


@dataclass
class Browser:
    """A signed-in user's browser: GETs pages and submits forms with the page's CSRF token."""

    client: FlaskClient
    account: Account

    def get(self, path: str, **kwargs: Any) -> TestResponse:
        return self.client.get(path, **kwargs)

    def token(self, page: str) -> str:
        found = _TOKEN.search(self.client.get(page).get_data(as_text=True))
        assert found, f"no CSRF token on {page}"
        return found.group(1)

    def post(self, path: str, data: dict[str, str], form_page: str = "/queue") -> TestResponse:
        return self.client.post(path, data={**data, "csrf_token": self.token(form_page)})


Login = Callable[..., Browser]


@pytest.fixture
def login(rapp: Flask, clock: Clock) -> Login:
    """Create a user through the CLI and sign them in with password and TOTP."""

    def make(email: str, role: str = "investigator", agencies: tuple[str, ...] = ("riverbend_sd",)) -> Browser:
        account = create_account(rapp, email, role, agencies)
        client = rapp.test_client()
        done = sign_in(client, account, clock)
        assert done.status_code == 302, done.get_data(as_text=True)
        return Browser(client, account)

    return make


@pytest.fixture
def report_id(rapp: Flask) -> int:
    """One report as a call answering u01 then u11 leaves it: "gun" in the first answer
    (critical), district 3 (Riverbend), so routed to riverbend_sd, precinct_2_central and
    safe_schools_unit. Seeded directly (see seed.py); tests/pipeline runs such calls for real."""
    return seed_report(rapp)


def add_report(
    app: Flask,
    agencies: list[str],
    *,
    hotline: str = "safe_schools",
    urgency: str = "normal",
    categories: list[str] | None = None,
    status: str = "new",
    created_at: datetime | None = None,
    due_in: timedelta = timedelta(hours=1),
    acknowledged: bool = False,
    escalated: int = 0,
) -> int:
    """A routed report without recordings, written directly: for queue tests that need many.

    `due_in` is when acknowledgement is due; the assignment is dated so that routing time
    plus the urgency's deadline lands there. `escalated` levels move the next escalation
    step (`due_at`) on by a deadline each, as the sweep does.
    """
    with app.app_context():
        window = deadline(runtime.get(app).settings, urgency)
        due = utcnow() + due_in
        report = Report(
            hotline_id=hotline,
            tip_number=str(next(_tips)),
            status=status,
            urgency=urgency,
            categories=categories or ["other"],
            keypad={},
            language="en",
            created_at=created_at or utcnow(),
            routed_at=utcnow(),
        )
        db.session.add(report)
        db.session.flush()
        for agency in agencies:
            db.session.add(
                Assignment(
                    report_id=report.id,
                    agency_id=agency,
                    created_at=due - window,
                    level=escalated,
                    due_at=due + escalated * window,
                    acknowledged_at=utcnow() if acknowledged else None,
                    acknowledged_by="someone@example.org" if acknowledged else None,
                )
            )
        db.session.commit()
        return report.id


def audit_entries(app: Flask, action: str | None = None) -> list[AuditEntry]:
    with app.app_context():
        query = select(AuditEntry).order_by(AuditEntry.seq)
        if action:
            query = query.where(AuditEntry.action == action)
        rows = list(db.session.scalars(query))
        for row in rows:
            db.session.expunge(row)
        return rows


@pytest.fixture
def ann(login: Login) -> Browser:
    """Ann, an investigator of the Riverbend school district, signed in."""
    return login("ann@riverbend.example.org")


def first_audio_url(app: Flask, report_id: int) -> tuple[str, str]:
    """The audio URL of a report's first recording, and that recording's sid."""
    with app.app_context():
        rec = db.session.scalars(select(Recording).where(Recording.report_id == report_id).order_by(Recording.id))
        sid = next(iter(rec)).recording_sid
    return f"/reports/{report_id}/recordings/{sid}/audio", sid
