"""The report page's "Messages to the tipster" panel: writing a message (checked, audited,
sealed at rest, on the timeline), who may write, and the thread as investigators see it."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import select, text

from hotline.extensions import db
from hotline.models import Event, TipsterMessage, utcnow
from hotline.states import EventKind, MessageDirection
from tests.review.conftest import Browser, Login, audit_entries
from tests.review.seed import TINY_PNG, add_attachment, add_message, set_pin

SECRET_WORDS = "Please call the front office and ask for the counsellor on duty."


def _messages(app: Flask, report_id: int) -> list[TipsterMessage]:
    with app.app_context():
        rows = list(
            db.session.scalars(
                select(TipsterMessage).where(TipsterMessage.report_id == report_id).order_by(TipsterMessage.id)
            )
        )
        for row in rows:
            db.session.expunge(row)
        return rows


def _events(app: Flask, report_id: int, kind: EventKind) -> list[Event]:
    with app.app_context():
        rows = list(db.session.scalars(select(Event).where(Event.report_id == report_id, Event.kind == kind)))
        for row in rows:
            db.session.expunge(row)
        return rows


def _form(html: str) -> str:
    found = re.search(r'<form id="message-form".*?</form>', html, re.S)
    assert found, "no message form on the page"
    return found.group(0)


def test_the_panel_offers_the_form_with_the_reports_language(rapp: Flask, report_id: int, ann: Browser) -> None:
    set_pin(rapp, report_id)
    html = ann.get(f"/reports/{report_id}").get_data(as_text=True)
    form = _form(html)
    assert '<h2 id="tipster-messages-heading">Messages to the tipster</h2>' in html
    assert f'action="/reports/{report_id}/messages"' in form
    assert re.search(r'<textarea id="message-body" name="body"[^>]* maxlength="500" required', form)
    assert '<label for="message-body">Message to the tipster</label>' in form
    assert "read aloud to the tipster on the phone" in form.lower() and "reveal nothing of the report" in form.lower()
    assert '<option value="en" selected>English</option>' in form
    assert '<option value="es">Spanish</option>' in form
    assert re.search(r'<button type="submit" class="button">Send to the tipster</button>', form)
    assert "No messages yet." in html


def test_writing_a_message_is_audited_on_the_timeline_and_sealed(rapp: Flask, report_id: int, ann: Browser) -> None:
    set_pin(rapp, report_id)
    page = f"/reports/{report_id}"
    done = ann.post(f"{page}/messages", {"body": f"  {SECRET_WORDS}\r\n", "language": "es"}, form_page=page)
    assert done.status_code == 302
    assert done.headers["Location"].endswith(f"{page}#tipster-messages")

    [message] = _messages(rapp, report_id)
    assert message.body == SECRET_WORDS  # trimmed
    assert message.direction == MessageDirection.TO_TIPSTER
    assert (message.language, message.author_email, message.agency_id) == ("es", ann.account.email, "riverbend_sd")
    assert message.heard_at is None and message.read_at is None

    [event] = _events(rapp, report_id, EventKind.MESSAGE_WRITTEN)
    assert event.detail == {
        "by": ann.account.email,
        "message_id": message.id,
        "language": "es",
        "agency": "riverbend_sd",
    }
    [entry] = audit_entries(rapp, "report.message")
    assert (entry.user_email, entry.target_type, entry.target_id) == (ann.account.email, "report", str(report_id))
    assert entry.detail == {"message_id": message.id, "language": "es", "agency": "riverbend_sd"}
    assert "counsellor" not in str(entry.detail)

    # Sealed at rest: the raw column is not the words.
    with rapp.app_context():
        raw = db.session.execute(text("SELECT body FROM tipster_messages WHERE id = :id"), {"id": message.id}).scalar()
    assert raw and "counsellor" not in str(raw) and SECRET_WORDS not in str(raw)

    html = ann.get(page).get_data(as_text=True)
    assert "Message saved." in html
    assert SECRET_WORDS in html
    assert f"by {ann.account.email} for Riverbend School District, in Spanish" in html
    assert "Waiting" in html
    assert f"Message to the tipster written by {ann.account.email}" in html  # the timeline


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"body": "", "language": "en"}, "body", "Write a message of 1 to 500 characters."),
        ({"body": "   \r\n ", "language": "en"}, "body", "Write a message of 1 to 500 characters."),
        ({"body": "x" * 501, "language": "en"}, "body", "Write a message of 1 to 500 characters."),
        ({"body": "Please call back.", "language": "fr"}, "language", "Choose English or Spanish."),
        ({"body": "Please call back."}, "language", "Choose English or Spanish."),
    ],
)
def test_a_refused_message_shows_its_error_on_the_field_and_keeps_the_text(
    rapp: Flask, report_id: int, ann: Browser, data: dict[str, str], field: str, message: str
) -> None:
    set_pin(rapp, report_id)
    page = f"/reports/{report_id}"
    response = ann.post(f"{page}/messages", data, form_page=page)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert html.count(message) == 1
    assert "<title>Error: " in html
    form = _form(html)
    control = "textarea" if field == "body" else "select"
    tag = re.search(rf"<{control} id=\"message-{field}\"[^>]*>", form)
    assert tag, form
    assert 'aria-invalid="true"' in tag.group(0)
    assert f"message-{field}-error" in re.search(r'aria-describedby="([^"]+)"', tag.group(0)).group(1)  # type: ignore[union-attr]
    assert f'<p class="field-error" id="message-{field}-error">{message}</p>' in form
    if data.get("body", "").strip():
        assert f">{data['body']}</textarea>" in form  # kept as typed
    assert _messages(rapp, report_id) == []
    assert _events(rapp, report_id, EventKind.MESSAGE_WRITTEN) == []
    assert audit_entries(rapp, "report.message") == []


def test_a_message_of_exactly_500_characters_with_new_lines_is_accepted(
    rapp: Flask, report_id: int, ann: Browser
) -> None:
    set_pin(rapp, report_id)
    page = f"/reports/{report_id}"
    # Browsers send CR LF but count one character per new line against maxlength.
    body = ("y" * 98 + "\r\n") * 5
    assert len(body.replace("\r\n", "\n")) == 495
    body = body + "zzzzz"
    assert ann.post(f"{page}/messages", {"body": body, "language": "en"}, form_page=page).status_code == 302
    [message] = _messages(rapp, report_id)
    assert len(message.body) == 500 and "\r" not in message.body


def test_the_message_body_is_escaped_on_the_page(rapp: Flask, report_id: int, ann: Browser) -> None:
    set_pin(rapp, report_id)
    add_message(rapp, report_id, "<script>alert(1)</script> & more")
    add_message(rapp, report_id, "<b>bold</b> reply", from_tipster=True)
    html = ann.get(f"/reports/{report_id}").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html and "<b>bold</b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in html
    assert "&lt;b&gt;bold&lt;/b&gt; reply" in html


def test_without_a_pin_the_panel_says_why_and_writing_is_refused(rapp: Flask, report_id: int, ann: Browser) -> None:
    page = f"/reports/{report_id}"  # the seeded call skipped the PIN
    html = ann.get(page).get_data(as_text=True)
    assert "The tipster chose no PIN" in html and "cannot hear or read messages" in html
    form = _form(html)
    assert re.search(r"<textarea [^>]*disabled", form)
    assert re.search(r"<button [^>]*disabled>Send to the tipster</button>", form)
    assert "message-no-pin" in re.search(r'<textarea [^>]*aria-describedby="([^"]+)"', form).group(1)  # type: ignore[union-attr]

    refused = ann.post(f"{page}/messages", {"body": "Please call back.", "language": "en"}, form_page=page)
    assert refused.status_code == 409
    assert "The tipster chose no PIN" in _form(refused.get_data(as_text=True))
    assert _messages(rapp, report_id) == []
    assert audit_entries(rapp, "report.message") == []


@pytest.mark.parametrize("role", ["investigator", "admin"])
def test_another_agency_cannot_see_or_write_and_is_audited(
    rapp: Flask, report_id: int, login: Login, ann: Browser, role: str
) -> None:
    set_pin(rapp, report_id)
    page = f"/reports/{report_id}"
    token = ann.token(page)  # a valid token for the form; the refusal must come from scoping
    # An administrator of South County: the role does not reach a Riverbend report.
    eve = login("eve@southcounty.example.org", role, ("south_county_sd", "precinct_4_south"))
    assert eve.get(page).status_code == 404
    eve_token = eve.token("/queue")
    posted = eve.client.post(f"{page}/messages", data={"body": "hello", "language": "en", "csrf_token": eve_token})
    assert posted.status_code == 404
    assert token  # Ann's page did offer the form
    assert _messages(rapp, report_id) == []
    denied = audit_entries(rapp, "report.denied")
    assert [(d.user_email, d.detail["path"], d.detail["method"]) for d in denied] == [
        (eve.account.email, page, "GET"),
        (eve.account.email, f"{page}/messages", "POST"),
    ]
    assert all(d.detail["reason"] == "not_assigned" for d in denied)


def test_an_admin_of_one_of_the_reports_agencies_writes_for_that_agency(
    rapp: Flask, report_id: int, login: Login
) -> None:
    set_pin(rapp, report_id)
    root = login("root@schools.example.org", "admin", ("south_county_sd", "safe_schools_unit"))
    page = f"/reports/{report_id}"
    assert root.post(f"{page}/messages", {"body": "Thank you.", "language": "en"}, form_page=page).status_code == 302
    [message] = _messages(rapp, report_id)
    assert message.agency_id == "safe_schools_unit"  # theirs among the report's, never South County


def test_the_thread_shows_states_replies_and_their_attachments_oldest_first(
    rapp: Flask, report_id: int, ann: Browser
) -> None:
    set_pin(rapp, report_id)
    heard = utcnow() - timedelta(hours=3)
    read = utcnow() - timedelta(hours=2)
    first = add_message(rapp, report_id, "Was anyone hurt?", heard_at=heard)
    reply = add_message(rapp, report_id, "Nobody was hurt, he left at noon.", from_tipster=True)
    png = add_attachment(rapp, report_id, TINY_PNG, "image/png", message_id=reply)
    second = add_message(rapp, report_id, "¿Qué coche era?", language="es", agency="precinct_2_central", read_at=read)
    third = add_message(rapp, report_id, "Thank you, we are on it.")

    html = ann.get(f"/reports/{report_id}").get_data(as_text=True)
    thread = re.search(r'<ol class="thread" id="thread">.*?</ol>', html, re.S)
    assert thread
    items = re.findall(
        r'<li id="message-(\d+)" class="thread-item (thread-to|thread-from)">(.*?)</li>\s*(?=<li id="message-|</ol>)',
        thread.group(0),
        re.S,
    )
    assert [(int(i), kind) for i, kind, _ in items] == [
        (first, "thread-to"),
        (reply, "thread-from"),
        (second, "thread-to"),
        (third, "thread-to"),
    ]
    bodies = {int(i): body for i, _, body in items}
    assert "Heard on the phone at" in bodies[first] and f"{heard:%Y-%m-%d %H:%M} UTC" in bodies[first]
    assert "in English" in bodies[first] and "ann@riverbend.example.org" in bodies[first]
    assert "From the tipster" in bodies[reply] and "Nobody was hurt, he left at noon." in bodies[reply]
    assert f'href="/reports/{report_id}/attachments/{png}"' in bodies[reply]
    assert f"attachment-{png}.png" in bodies[reply]
    assert "Read on the web at" in bodies[second] and f"{read:%Y-%m-%d %H:%M} UTC" in bodies[second]
    assert "in Spanish" in bodies[second] and "¿Qué coche era?" in bodies[second]
    assert "Waiting" in bodies[third] and "Heard" not in bodies[third] and "Read on" not in bodies[third]
    assert "Waiting" not in bodies[reply]
