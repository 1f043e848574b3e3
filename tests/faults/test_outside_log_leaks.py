"""From the outside attack: what a failing webhook writes to the log on a PREA line."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import requests

from hotline.extensions import db
from hotline.simulator.call import SimulatedCall
from hotline.simulator.callers import ScriptedCaller
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, PREA
from tests.faults.conftest import Hotline
from tests.faults.harness import UTTERANCES, is_postgres
from tests.faults.test_fault_suite import database_down

INMATE = "90817263"


class LockOnDigits(requests.Session):
    """Lock the database for the one request that carries the inmate number."""

    def __init__(self, line: Hotline) -> None:
        super().__init__()
        self.line = line
        self.fired = False

    def request(self, method: Any, url: Any, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        data = kwargs.get("data") or {}
        if not self.fired and data.get("Digits") == INMATE:
            self.fired = True
            with database_down(self.line):
                return super().request(method, url, *args, **kwargs)
        return super().request(method, url, *args, **kwargs)


def test_inmate_number_not_written_to_the_log_when_a_webhook_fails(
    hotline: Hotline, caplog: pytest.LogCaptureFixture
) -> None:
    if is_postgres(hotline.database_url):
        pytest.skip("the proxy refuses connections: no statement, no parameters")
    caplog.set_level(logging.DEBUG)
    http = LockOnDigits(hotline)
    keys = ["1", "-", "1", "1", INMATE, "1", "9", "-", "#"]
    caller = ScriptedCaller(keys=keys, says=[UTTERANCES / "u01.wav"])
    call = SimulatedCall(hotline.url, AUTH_TOKEN, ACCOUNT_SID, PREA, caller, hotline.fake, http=http)
    call.callback_retry_delay = 0.2
    result = call.run()
    db.dispose()
    assert http.fired, result.transcript
    text = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)
    import traceback

    for r in caplog.records:
        if r.exc_info:
            text += "".join(traceback.format_exception(*r.exc_info))
    assert INMATE not in text, [line for line in text.splitlines() if INMATE in line][:5]
