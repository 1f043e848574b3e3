"""Attack: choose a tip's PIN twice at once with the one token the filed page gave (a double
click after changing one's mind, or anyone holding the page). Both requests read "no PIN yet",
both said "Your PIN is saved", and the last one written won: the tipster may remember the other."""

from __future__ import annotations

import threading

from flask import Flask

from hotline.security import pins
from tests.tipweb.conftest import Tipster
from tests.tipweb.test_submit import file_tip, the_report

TRIES = 6


def test_only_one_of_two_parallel_pin_choices_is_kept_and_said_saved(app: Flask, tipster: Tipster) -> None:
    tip = file_tip(tipster)
    barrier = threading.Barrier(TRIES)
    saved: list[str] = []

    def choose(pin: str) -> None:
        browser = Tipster(app.test_client(), csrf=tipster.csrf, token=tipster.token)
        browser.client.set_cookie("session", tipster.client.get_cookie("session").value)  # type: ignore[union-attr]
        barrier.wait()
        response = browser.post("/tip/pin", {"choice": "pin", "pin": pin, "pin2": pin}, token=True)
        if response.status_code == 200:
            saved.append(pin)

    threads = [threading.Thread(target=choose, args=(f"{1111 * (n + 1)}",)) for n in range(TRIES)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(saved) == 1, saved
    stored = the_report(app, tip).pin_hash
    assert stored is not None and pins.pin_matches(stored, saved[0])
