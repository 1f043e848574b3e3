"""Attack: guess a tip's PIN with many requests at once. Each check counted the failures
committed before it, so parallel guesses all passed as "one of the first five" and the lock
never held them back (12 parallel guesses: 12 unlocked tries, on SQLite 7 locks)."""

from __future__ import annotations

import threading

from flask import Flask
from sqlalchemy import select

from hotline.extensions import db
from hotline.models import Event
from hotline.states import EventKind
from tests.tipweb.conftest import Tipster
from tests.tipweb.test_followup import PIN, tip_with_pin
from tests.tipweb.test_submit import the_report

GUESSES = 12


def test_parallel_guesses_get_five_tries_then_the_lock(app: Flask, tipster: Tipster) -> None:
    tip = tip_with_pin(tipster)
    rid = the_report(app, tip).id
    barrier = threading.Barrier(GUESSES)
    answers: list[int] = []

    def guess(number: int) -> None:
        browser = Tipster(app.test_client())
        browser.get("/tip/check")
        barrier.wait()
        # The last guess is the right PIN: it must not open a tip that is locked by then.
        secret = PIN if number == GUESSES - 1 else f"{1000 + number}"
        answers.append(browser.post("/tip/check", {"tip": tip, "secret": secret}).status_code)

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(GUESSES)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with app.app_context():
        timeline = [(e.kind, e.detail) for e in db.session.scalars(select(Event).where(Event.report_id == rid))]
    unlocked = [d for k, d in timeline if k == EventKind.CALLBACK_FAILED and not d["locked"]]
    assert len(unlocked) <= 5
    assert [k for k, _ in timeline].count(EventKind.CALLBACK_LOCKED) == 1
    opened = [k for k, _ in timeline].count(EventKind.CALLED_BACK)
    # The right PIN opens the tip only if it came before the lock.
    assert answers.count(200) == opened <= 1
    assert the_report(app, tip).followup_locked_until is not None
