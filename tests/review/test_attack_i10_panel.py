"""Attacks on the "Messages to the tipster" panel and attachment downloads from outside the
report's agencies: a disabled account, an admin with no agency, an id swapped between reports.
(Held: regression tests.)"""

from __future__ import annotations

from flask import Flask
from sqlalchemy import func, select

from hotline.auth.models import User
from hotline.extensions import db
from hotline.models import Report, TipsterMessage
from tests.review.conftest import Browser, Login
from tests.review.seed import TINY_PNG, add_attachment, set_pin


def _message_count(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(TipsterMessage)) or 0


def test_a_disabled_account_can_neither_write_nor_download(rapp: Flask, report_id: int, ann: Browser) -> None:
    set_pin(rapp, report_id)
    att = add_attachment(rapp, report_id, TINY_PNG, "image/png")
    page = f"/reports/{report_id}"
    token = ann.token(page)
    with rapp.app_context():
        user = db.session.scalar(select(User).where(User.email == ann.account.email))
        assert user is not None
        user.disabled = True
        db.session.commit()
    posted = ann.client.post(f"{page}/messages", data={"body": "hello", "language": "en", "csrf_token": token})
    download = ann.get(f"{page}/attachments/{att}")
    for response in (posted, download):
        assert response.status_code in (302, 303, 401, 404)
        assert TINY_PNG not in response.data
    assert _message_count(rapp) == 0


def test_an_admin_without_agencies_and_a_swapped_attachment_id_get_nothing(
    rapp: Flask, report_id: int, login: Login, ann: Browser
) -> None:
    set_pin(rapp, report_id)
    with rapp.app_context():  # a report of another agency, with its own file
        other = Report(hotline_id="safe_schools", tip_number="99887766", status="new", language="en", keypad={})
        db.session.add(other)
        db.session.commit()
        other_id = other.id
    foreign = add_attachment(rapp, other_id, TINY_PNG, "image/png")
    # Ann sees report_id: the other report's file through her report's URL is a miss.
    assert ann.get(f"/reports/{report_id}/attachments/{foreign}").status_code == 404
    root = login("root@county.example.org", "admin", ())
    page = f"/reports/{report_id}"
    assert root.get(page).status_code == 404
    posted = root.client.post(
        f"{page}/messages", data={"body": "hello", "language": "en", "csrf_token": root.token("/queue")}
    )
    assert posted.status_code == 404
    assert root.get(f"/reports/{other_id}/attachments/{foreign}").status_code == 404
    assert _message_count(rapp) == 0
