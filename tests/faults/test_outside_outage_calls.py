"""From the outside attack: calls placed while the database fails in ways the fault suite does not try."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import select

from hotline.extensions import db
from hotline.models import Assignment, Report
from hotline.simulator.call import CallResult, SimulatedCall
from hotline.simulator.callers import ScriptedCaller
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, PREA
from tests.faults.conftest import Hotline
from tests.faults.harness import UTTERANCES, place_safe_schools_call, tally
from tests.faults.test_fault_suite import FaultySession, database_down, recover


def place(
    line: Hotline, to: str, keys: list[str], clips: list[Path], http: requests.Session | None = None
) -> CallResult:
    caller = ScriptedCaller(keys=keys, says=clips)
    call = SimulatedCall(line.url, AUTH_TOKEN, ACCOUNT_SID, to, caller, line.fake, http=http)
    call.callback_retry_delay = 0.2
    return call.run()


def test_prea_message_salvaged_in_outage_goes_only_to_prea_agencies(hotline: Hotline) -> None:
    with database_down(hotline):
        result = place(hotline, PREA, ["1"], [UTTERANCES / "u01.wav"])
    db.dispose()
    heard = " ".join(result.transcript)
    assert "technical problem" in heard and result.recordings, heard
    recover(hotline)
    found = tally(hotline.app, "PREA salvaged in outage", [result])
    assert found.lost == 0 and found.duplicated == 0, found.notes
    with hotline.app.app_context():
        report = db.session.scalars(select(Report)).one()
        assert report.hotline_id == "prea"
        agencies = set(db.session.scalars(select(Assignment.agency_id)))
        assert agencies == {"prea_unit", "dhs_outside"}, agencies
        assert report.retain_until is not None
        assert (report.retain_until - report.created_at).days >= 3653


def test_two_calls_at_once_during_an_outage(hotline: Hotline) -> None:
    results: list[Any] = [None, None]

    def run(i: int) -> None:
        results[i] = place_safe_schools_call(hotline.url, hotline.fake, answers=1)

    with database_down(hotline):
        threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    db.dispose()
    recover(hotline)
    found = tally(hotline.app, "two calls at once in an outage", results)
    assert found.lost == 0 and found.duplicated == 0 and found.complete == 2, found.notes


def test_database_down_from_mid_call_to_past_the_end(hotline: Hotline) -> None:
    """Down from the 2nd recording's callback until after the call's final status (all retries)."""
    state: dict[str, Any] = {"n": 0, "lock": None}

    def before(method: str, url: str) -> None:
        if "/voice/recording/" in url:
            state["n"] += 1
            if state["n"] == 2 and state["lock"] is None:
                state["lock"] = database_down(hotline)
                state["lock"].__enter__()

    result = place_safe_schools_call(hotline.url, hotline.fake, answers=3, http=FaultySession(before))
    if state["lock"] is not None:
        state["lock"].__exit__(None, None, None)
    db.dispose()
    assert state["lock"] is not None
    recover(hotline)
    found = tally(hotline.app, "down from mid-call past the end", [result])
    assert found.lost == 0 and found.duplicated == 0 and found.complete == 1, (found.notes, result.transcript)


def test_prea_message_salvaged_in_outage_keeps_prea_urgency(hotline: Hotline) -> None:
    """Every PREA call through the flow is `high` (1 h to acknowledge): each caller-type
    option sets sexual_abuse/high. A PREA message taken by the error path must not drop to
    `normal` (24 h) because the keypad step never ran."""
    with database_down(hotline):
        result = place(hotline, PREA, ["1"], [UTTERANCES / "u11.wav"])  # "report a broken window"
    db.dispose()
    assert result.recordings
    recover(hotline)
    with hotline.app.app_context():
        report = db.session.scalars(select(Report)).one()
        due = [a.due_at - report.call_ended_at for a in db.session.scalars(select(Assignment))]
        assert report.routed_at is not None
        assert report.urgency in ("high", "critical"), (report.urgency, report.categories, due)
