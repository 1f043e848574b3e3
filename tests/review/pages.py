"""Every page of the review app, rendered through the test client as each role sees it.

Shared by the HTML validity test; the browser tests walk the same pages over HTTP.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from hotline.auth.models import User
from hotline.extensions import db
from hotline.models import utcnow
from hotline.review.models import Note
from tests.auth.conftest import Clock, create_account, password_step, submit
from tests.conftest import AUTH_TOKEN, SAFE_SCHOOLS, TwilioClient
from tests.review.conftest import Login, add_report
from tests.review.seed import TINY_PDF, TINY_PNG, add_attachment, add_message, seed_web_report, set_pin
from tests.voice.driver import VoiceCall


def answered_call(app: Flask) -> None:
    """A call transferred to a dispatcher who took it: the console offers a note box for it."""
    call = VoiceCall(TwilioClient(app.test_client(), AUTH_TOKEN), SAFE_SCHOOLS)
    call.start()
    call.press("1")
    call.press("0")
    call.dial_result("completed")
    call.hang_up()


def boom() -> str:
    raise RuntimeError("a fault inside a view, for the 500 page")


def _ok(client: FlaskClient, path: str, status: int = 200) -> str:
    response = client.get(path)
    assert response.status_code == status, (path, response.status_code)
    return response.get_data(as_text=True)


def _user_id(app: Flask, email: str) -> int:
    with app.app_context():
        found = db.session.scalar(select(User.id).where(User.email == email))
        assert found is not None
        return found


def tour(app: Flask, login: Login, clock: Clock, report_id: int) -> dict[str, str]:
    """Name -> HTML of every page: signed out, as investigator, dispatcher and administrator,
    with forms showing their errors, and the 403, 404 and 500 pages."""
    pages: dict[str, str] = {}
    add_report(app, ["riverbend_sd"], urgency="high", acknowledged=True)
    add_report(app, ["riverbend_sd"], urgency="normal", due_in=-timedelta(hours=2))
    answered_call(app)
    answered_call(app)

    # --- Signed out: sign-in, its error, enrolment, the TOTP step.
    anon = app.test_client()
    pages["login"] = _ok(anon, "/login")
    pages["404-signed-out"] = _ok(anon, "/no-such-page", 404)
    expired = anon.post("/login", data={"email": "x@example.org", "password": "x"})  # no CSRF token
    assert expired.status_code == 400, expired.status_code
    pages["form-expired"] = expired.get_data(as_text=True)
    fresh = create_account(app, "fresh@riverbend.example.org", "investigator", ("riverbend_sd",))
    wrong = password_step(anon, fresh, password="not the password")
    pages["login-error"] = wrong.get_data(as_text=True)
    step = password_step(anon, fresh)
    assert step.headers["Location"].endswith("/enrol")
    pages["enrol"] = _ok(anon, "/enrol")
    pages["enrol-error"] = submit(anon, "/enrol", {"code": "000000"}).get_data(as_text=True)
    enrolled = login("enrolled@riverbend.example.org")
    submit(enrolled.client, "/logout", {}, form_page="/home")
    again = app.test_client()
    assert password_step(again, enrolled.account).headers["Location"].endswith("/login/totp")
    pages["totp"] = _ok(again, "/login/totp")
    pages["totp-error"] = submit(again, "/login/totp", {"code": "000000"}).get_data(as_text=True)

    # --- An investigator: queue, report (with its actions done), a note, 403 and 404.
    ann = login("ann@riverbend.example.org")
    page = f"/reports/{report_id}"
    ann.post(f"{page}/acknowledge", {}, form_page=page)
    ann.post(f"{page}/notes", {"note": "Called the school back."}, form_page=page)
    ann.post(f"{page}/links", {"reference": "R-1999-00001"}, form_page=page)
    pages["home"] = _ok(ann.client, "/home")
    pages["queue"] = _ok(ann.client, "/queue")
    pages["queue-all"] = _ok(ann.client, "/queue?status=all&urgency=critical")
    pages["report"] = _ok(ann.client, page)
    with app.app_context():
        note_id = db.session.scalar(select(Note.id).where(Note.report_id == report_id))
    pages["note"] = _ok(ann.client, f"{page}/notes/{note_id}")
    pages["403"] = _ok(ann.client, "/dispatch", 403)
    pages["404"] = _ok(ann.client, "/reports/999999", 404)

    # --- A dispatcher: the console with two taken calls (two note boxes).
    dan = login("dan@dispatch.example.org", "dispatcher", ("dispatch",))
    pages["dispatch"] = _ok(dan.client, "/dispatch")

    # --- An administrator: users, a user, creating and resetting accounts, audit, agencies.
    root = login("root@riverbend.example.org", "admin")
    ann_id = _user_id(app, ann.account.email)
    pages["report-admin"] = _ok(root.client, page)
    pages["users"] = _ok(root.client, "/admin/users")
    bad = root.post("/admin/users", {"email": "not an address", "role": "investigator"}, "/admin/users")
    pages["users-error"] = bad.get_data(as_text=True)
    made = root.post(
        "/admin/users",
        {"email": "new@riverbend.example.org", "role": "investigator", "agencies": "riverbend_sd"},
        "/admin/users",
    )
    assert made.status_code == 200, made.status_code
    pages["user-created"] = made.get_data(as_text=True)
    pages["user"] = _ok(root.client, f"/admin/users/{ann_id}")
    pages["user-self"] = _ok(root.client, f"/admin/users/{_user_id(app, root.account.email)}")
    edit_error = root.post(f"/admin/users/{ann_id}", {"role": "nobody"}, f"/admin/users/{ann_id}")
    pages["user-error"] = edit_error.get_data(as_text=True)
    reset = root.post(f"/admin/users/{ann_id}/reset-password", {}, f"/admin/users/{ann_id}")
    assert reset.status_code == 200, reset.status_code
    pages["user-password"] = reset.get_data(as_text=True)
    pages["audit"] = _ok(root.client, "/admin/audit")
    pages["audit-filtered"] = _ok(root.client, "/admin/audit?action=report.&user=ann")
    pages["agencies"] = _ok(root.client, "/admin/agencies")

    # --- A fault inside a view: the 500 page (exceptions are not propagated to the test).
    propagate = app.config.get("PROPAGATE_EXCEPTIONS")
    view = app.view_functions["auth.home"]
    app.config["PROPAGATE_EXCEPTIONS"] = False
    app.view_functions["auth.home"] = boom
    try:
        pages["500"] = _ok(root.client, "/home", 500)
    finally:
        app.view_functions["auth.home"] = view
        app.config["PROPAGATE_EXCEPTIONS"] = propagate
    return pages


def tipster_tour(app: Flask, login: Login, report_id: int) -> dict[str, str]:
    """Name -> HTML of the report page's follow-up states (issue 10): the thread in every state
    with a reply and its files, a refused message on each field, no PIN, and a web tip."""
    pages: dict[str, str] = {}
    ann = login("ann@riverbend.example.org")
    page = f"/reports/{report_id}"
    pages["report-no-pin"] = _ok(ann.client, page)
    set_pin(app, report_id)
    now = utcnow()
    add_message(app, report_id, "Was anyone hurt?", heard_at=now - timedelta(hours=2))
    reply = add_message(app, report_id, "Nobody.\nHe left at noon <b>by car</b>.", from_tipster=True)
    add_attachment(app, report_id, TINY_PNG, "image/png", message_id=reply)
    add_attachment(app, report_id, TINY_PDF, "application/pdf", message_id=reply, shredded=True)
    add_message(app, report_id, "¿Qué coche era?", language="es", read_at=now - timedelta(hours=1))
    sent = ann.post(f"{page}/messages", {"body": "Thank you, we are on it.", "language": "en"}, form_page=page)
    assert sent.status_code == 302, sent.status_code
    pages["report-messages"] = _ok(ann.client, page)
    empty = ann.post(f"{page}/messages", {"body": " ", "language": "en"}, form_page=page)
    assert empty.status_code == 400, empty.status_code
    pages["report-message-error"] = empty.get_data(as_text=True)
    language = ann.post(f"{page}/messages", {"body": "x" * 501, "language": "fr"}, form_page=page)
    assert language.status_code == 400, language.status_code
    pages["report-message-errors"] = language.get_data(as_text=True)

    web = seed_web_report(app, {"problem": "Pills sold behind the gym.", "where": "Gym door", "extra": "Mornings"})
    add_attachment(app, web, TINY_PNG, "image/png")
    add_attachment(app, web, TINY_PDF, "application/pdf", shredded=True)
    pages["report-web"] = _ok(ann.client, f"/reports/{web}")
    return pages
