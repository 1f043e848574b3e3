"""Attack: send a web tip, a PIN or a reply while the database is locked (a backup, a long
migration). The tipster got the site's generic English "Something went wrong" page: their
answers gone, and after filing, the tip number they had not written down yet."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask

from hotline.settings import Settings
from tests.conftest import RedisServer, make_settings
from tests.faults.harness import is_postgres, sqlite_write_lock
from tests.tipweb.conftest import Tipster, tip_number_in
from tests.tipweb.test_followup import PIN, tip_with_pin
from tests.tipweb.test_submit import WEAPON_TIP, file_tip, the_report

NOT_SAVED = "We could not save what you sent"


@pytest.fixture
def settings(tmp_path: Path, database_url: str, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch) -> Settings:
    if is_postgres(database_url):
        pytest.skip("holds SQLite's write lock")
    monkeypatch.setattr("hotline.db.DEFAULT_BUSY_SECONDS", 1)  # give up on the lock after 1 s, not 10
    return make_settings(tmp_path, database_url, redis_server.url)


def test_a_tip_sent_while_the_database_is_locked_comes_back_with_its_answers(
    app: Flask, tipster: Tipster, settings: Settings
) -> None:
    tipster.get("/tip/safe_schools?lang=es")
    with sqlite_write_lock(settings.database_url):
        response = tipster.post("/tip/safe_schools?lang=es", WEAPON_TIP)
    page = response.get_data(as_text=True)
    assert response.status_code == 503
    assert "No pudimos guardar lo que envió" in page and "911" in page
    assert "A student has a gun in his locker." in page and "North building, second floor" in page
    again = tipster.post("/tip/safe_schools?lang=es", WEAPON_TIP)  # the lock is gone: sent again
    assert again.status_code == 200 and tip_number_in(again)


def test_a_pin_sent_while_the_database_is_locked_keeps_the_tip_number_on_screen(
    app: Flask, tipster: Tipster, settings: Settings
) -> None:
    tip = file_tip(tipster)
    with sqlite_write_lock(settings.database_url):
        response = tipster.post("/tip/pin", {"choice": "pin", "pin": PIN, "pin2": PIN}, token=True)
    assert response.status_code == 503 and NOT_SAVED in response.get_data(as_text=True)
    assert tip_number_in(response) == tip
    saved = tipster.post("/tip/pin", {"choice": "pin", "pin": PIN, "pin2": PIN}, token=True)
    assert saved.status_code == 200 and the_report(app, tip).pin_hash is not None


def test_a_check_or_reply_while_the_database_is_locked_says_so(
    app: Flask, tipster: Tipster, settings: Settings
) -> None:
    tip = tip_with_pin(tipster)
    tipster.get("/tip/check")
    opened = tipster.post("/tip/check", {"tip": tip, "secret": PIN})
    assert opened.status_code == 200
    with sqlite_write_lock(settings.database_url):
        reply = tipster.post("/tip/check/reply", {"body": "He keeps it in locker 12."}, token=True)
        check = tipster.post("/tip/check", {"tip": tip, "secret": PIN})
    for response in (reply, check):
        page = response.get_data(as_text=True)
        assert response.status_code == 503 and NOT_SAVED in page
    assert "He keeps it in locker 12." in reply.get_data(as_text=True)
