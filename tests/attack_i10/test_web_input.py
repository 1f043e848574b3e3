"""Attacks on the web form's input: keys that look like digits but are not ASCII digits."""

from __future__ import annotations

import re

from flask import Flask
from sqlalchemy import func, select

from hotline.extensions import db
from hotline.models import TipsterMessage
from tests.tipweb.conftest import Tipster
from tests.tipweb.test_followup import PIN, REFUSED, check, tip_with_pin
from tests.tipweb.test_submit import file_tip, the_report


def test_a_full_width_pin_opens_the_tip_it_was_chosen_for(app: Flask, tipster: Tipster) -> None:
    """A phone keyboard in a CJK layout types "１２３４": the PIN kept must be the one /tip/check
    (and the phone's keypad) can enter again, not a hash of characters nobody can retype."""
    tip = file_tip(tipster)
    saved = tipster.post("/tip/pin", {"choice": "pin", "pin": "１２３４", "pin2": "１２３４"}, token=True)
    assert saved.status_code == 200
    for typed in ("1234", "１２３４"):
        status, page = check(tipster, tip, typed)
        assert status == 200 and REFUSED not in page
    wide = tip.translate({ord(d): ord(d) - ord("0") + ord("０") for d in "0123456789"})
    status, page = check(tipster, wide, "1234")  # the tip number typed on the same keyboard
    assert status == 200 and REFUSED not in page


def test_a_pin_of_other_digits_is_refused_not_kept(app: Flask, tipster: Tipster) -> None:
    """Arabic-Indic or Persian "digits" pass str.isdigit() but no keypad can type them."""
    tip = file_tip(tipster)
    for pin in ("٤٥٦٧", "۱۲۳۴"):
        response = tipster.post("/tip/pin", {"choice": "pin", "pin": pin, "pin2": pin}, token=True)
        assert response.status_code == 400
    assert the_report(app, tip).pin_hash is None


def _prea_form(tipster: Tipster, inmate_number: str) -> dict[str, str]:
    page = tipster.get("/tip/prea").get_data(as_text=True)
    data: dict[str, str] = {}
    for name in re.findall(r'<select[^>]*name="([a-z_]+)"', page):
        first = re.search(rf'<select[^>]*name="{name}".*?<option value="([^"]*)"', page, re.S)
        assert first is not None
        data[name] = first.group(1)
    data["summary"] = "An officer threatened my brother."
    data["inmate_number"] = inmate_number
    return data


def test_a_digits_answer_is_ascii_digits_only(app: Flask, tipster: Tipster) -> None:
    """The inmate number is a keypad answer: "٣٤٥٦" (str.isdigit() says yes) is not one."""
    for odd in ("٣٤٥٦", "۱۲۳۴"):
        response = tipster.post("/tip/prea", _prea_form(tipster, odd))
        assert response.status_code == 400, odd
    # Full-width digits are digits typed on another keyboard: kept as the ASCII they mean.
    response = tipster.post("/tip/prea", _prea_form(tipster, "１２３４５"))
    assert response.status_code == 200
    tip = re.search(r'class="tip-number">([0-9]{8})<', response.get_data(as_text=True))
    assert tip is not None
    assert the_report(app, tip.group(1)).keypad["inmate_number"] == "12345"


def test_a_reply_of_control_characters_only_is_an_empty_reply(app: Flask, tipster: Tipster) -> None:
    tip = tip_with_pin(tipster)
    assert check(tipster, tip, PIN)[0] == 200
    response = tipster.post("/tip/check/reply", {"body": "\x00\x0b\x1b \x7f"}, token=True)
    assert response.status_code == 400
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(TipsterMessage)) == 0
