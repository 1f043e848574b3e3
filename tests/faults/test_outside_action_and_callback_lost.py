"""From the outside attack: the first answer's <Record> action AND its status callback both fail
(database locked), while the call row exists; the caller is then offered the error path
and leaves a message once the database is back."""

from __future__ import annotations

from typing import Any

import requests
from sqlalchemy import select

from hotline.extensions import db
from hotline.models import Recording
from tests.faults.conftest import Hotline
from tests.faults.harness import place_safe_schools_call, tally
from tests.faults.test_fault_suite import database_down, recover


class LockFirstRecording(requests.Session):
    def __init__(self, line: Hotline) -> None:
        super().__init__()
        self.line = line
        self.first: str | None = None
        self.lock: Any = None

    def request(self, method: Any, url: Any, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        sid = (kwargs.get("data") or {}).get("RecordingSid")
        if sid and self.first is None:
            self.first = sid
            self.lock = database_down(self.line)
            self.lock.__enter__()
        elif sid and sid != self.first and self.lock is not None:
            self.lock.__exit__(None, None, None)
            self.lock = None
        return super().request(method, url, *args, **kwargs)


def test_answer_whose_action_and_callback_failed_reaches_the_report(hotline: Hotline) -> None:
    http = LockFirstRecording(hotline)
    result = place_safe_schools_call(hotline.url, hotline.fake, answers=2, http=http)
    if http.lock is not None:
        http.lock.__exit__(None, None, None)
    db.dispose()
    heard = " ".join(result.transcript)
    assert "technical problem" in heard, heard
    recover(hotline)
    found = tally(hotline.app, "action and callback of one answer lost", [result])
    with hotline.app.app_context():
        questions = {r.recording_sid: r.question for r in db.session.scalars(select(Recording))}
    assert found.lost == 0 and found.duplicated == 0 and found.complete == 1, (found.notes, questions, heard)
