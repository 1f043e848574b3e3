"""From the outside attack: the reconciler asks Twilio about every open call inside one database
transaction; on SQLite its first UPDATE takes the write lock, held across the HTTP calls
that follow. A slow Twilio API then starves the webhooks of live calls."""

from __future__ import annotations

import threading
import time
from typing import Any

import requests
from twilio.request_validator import RequestValidator

from hotline.extensions import db
from hotline.jobs.recover import recover_recordings
from hotline.simulator.call import new_sid
from tests.conftest import AUTH_TOKEN, SAFE_SCHOOLS
from tests.faults.conftest import Hotline
from tests.faults.harness import is_postgres, place_safe_schools_call
from tests.faults.test_fault_suite import FaultySession, database_down


def _post(line: Hotline, path: str, params: dict[str, str]) -> requests.Response:
    url = line.url + path
    signature = RequestValidator(AUTH_TOKEN).compute_signature(url, params)
    return requests.post(url, data=params, headers={"X-Twilio-Signature": signature}, timeout=15)


def test_live_call_keeps_working_while_the_reconciler_asks_a_slow_twilio(hotline: Hotline) -> None:
    # Call A: its final status callback is lost (database locked just then).
    outage: dict[str, Any] = {"lock": None}

    def around_status(method: str, url: str) -> None:
        if url.endswith("/voice/status") and outage["lock"] is None:
            outage["lock"] = database_down(hotline)
            outage["lock"].__enter__()

    place_safe_schools_call(hotline.url, hotline.fake, answers=1, http=FaultySession(around_status))
    if outage["lock"] is not None:
        outage["lock"].__exit__(None, None, None)
    db.dispose()

    # Call B: live, on its first menu, older than the callback grace (1 s here).
    sid_b = new_sid("CA")
    base = {"CallSid": sid_b, "AccountSid": hotline.fake.account_sid, "To": SAFE_SCHOOLS, "CallStatus": "in-progress"}
    hotline.fake.add_call(sid_b, SAFE_SCHOOLS, "+15555550199")
    first = _post(hotline, "/voice/incoming", base)
    assert first.status_code == 200 and "technical problem" not in first.text
    time.sleep(1.5)

    # Twilio's API answers the lookup of call B slowly (10 s), as it does under load.
    hotline.fake.delay_next(f"/Calls/{sid_b}", seconds=10)
    done = threading.Event()

    def sweep_now() -> None:
        with hotline.app.app_context():
            try:
                recover_recordings(force=True)
            finally:
                db.remove()
        done.set()

    threading.Thread(target=sweep_now, daemon=True).start()
    time.sleep(3)  # the reconciler is now waiting on Twilio for call B
    assert not done.is_set()
    # The caller of B presses 1 (English) while that happens.
    answer = _post(hotline, "/voice/input/1", {**base, "Digits": "1"})
    assert done.wait(30), "the reconciler never finished"
    db.dispose()
    backend = "PostgreSQL" if is_postgres(hotline.database_url) else "SQLite"
    assert "technical problem" not in answer.text, f"{backend}: caller B got the error path:\n{answer.text[:300]}"
