"""A web tip on the report page: its channel, its written answers under the flow's questions,
and the files sent with it, downloaded decrypted, audited and on the timeline."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import select

from hotline.extensions import db
from hotline.models import Event
from hotline.states import EventKind
from tests.review.conftest import Browser, Login, audit_entries
from tests.review.seed import TINY_PDF, TINY_PNG, add_attachment, add_message, seed_web_report

ANSWERS = {"problem": "Someone sells pills behind the gym.", "where": "Riverbend High, gym door", "extra": "Mornings"}


def _downloads(app: Flask, report_id: int) -> list[Event]:
    with app.app_context():
        rows = list(
            db.session.scalars(
                select(Event).where(Event.report_id == report_id, Event.kind == EventKind.ATTACHMENT_DOWNLOADED)
            )
        )
        for row in rows:
            db.session.expunge(row)
        return rows


def test_a_web_tip_shows_its_channel_written_answers_and_files(rapp: Flask, ann: Browser) -> None:
    report_id = seed_web_report(rapp, ANSWERS)
    png = add_attachment(rapp, report_id, TINY_PNG, "image/png")
    gone = add_attachment(rapp, report_id, TINY_PDF, "application/pdf", shredded=True)
    html = ann.get(f"/reports/{report_id}").get_data(as_text=True)
    assert '<dd id="report-channel">Web form</dd>' in html
    assert "Call length" not in html and "What the caller said" not in html
    assert '<h2 id="written-answers">Written answers</h2>' in html
    # Each answer under the question the flow asks for its key; an unknown key as itself.
    assert "<h3>After the tone, tell us what the problem is" in html
    for key, answer in ANSWERS.items():
        assert f'id="written-{key}"' in html and answer in html
    assert "<h3>extra</h3>" in html
    assert f'href="/reports/{report_id}/attachments/{png}">Download attachment-{png}.png</a>' in html
    assert f'attachment-{gone}.pdf: <span class="hint">deleted at the end of the retention period</span>' in html
    assert f'/attachments/{gone}"' not in html
    assert "Tip received through the web form" in html


def test_a_phone_report_shows_its_channel_and_no_written_answers(rapp: Flask, report_id: int, ann: Browser) -> None:
    html = ann.get(f"/reports/{report_id}").get_data(as_text=True)
    assert '<dd id="report-channel">Phone</dd>' in html
    assert "Written answers" not in html and "What the caller said" in html


def test_a_download_returns_the_exact_bytes_and_is_audited(rapp: Flask, ann: Browser) -> None:
    report_id = seed_web_report(rapp, ANSWERS)
    reply = add_message(rapp, report_id, "Here is the receipt.", from_tipster=True)
    pdf = add_attachment(rapp, report_id, TINY_PDF, "application/pdf", message_id=reply)
    response = ann.get(f"/reports/{report_id}/attachments/{pdf}")
    assert response.status_code == 200
    assert response.data == TINY_PDF
    assert response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"] == f'attachment; filename="attachment-{pdf}.pdf"'
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"
    [event] = _downloads(rapp, report_id)
    assert event.detail == {"by": ann.account.email, "attachment_id": pdf}
    [entry] = audit_entries(rapp, "attachment.download")
    assert (entry.user_email, entry.target_type, entry.target_id) == (ann.account.email, "attachment", str(pdf))
    assert entry.detail == {"report_id": report_id}
    html = ann.get(f"/reports/{report_id}").get_data(as_text=True)
    assert f"Attachment downloaded by {ann.account.email}" in html


def test_a_shredded_or_foreign_attachment_is_not_served(rapp: Flask, ann: Browser) -> None:
    report_id = seed_web_report(rapp, ANSWERS)
    other = seed_web_report(rapp, {"problem": "another tip"})
    gone = add_attachment(rapp, report_id, TINY_PNG, "image/png", shredded=True)
    elsewhere = add_attachment(rapp, other, TINY_PNG, "image/png")
    deleted = ann.get(f"/reports/{report_id}/attachments/{gone}")
    assert deleted.status_code == 404 and TINY_PNG not in deleted.data
    # Another report's file through this report's URL: a guess, audited like one.
    assert ann.get(f"/reports/{report_id}/attachments/{elsewhere}").status_code == 404
    assert ann.get(f"/reports/{report_id}/attachments/999999").status_code == 404
    denied = audit_entries(rapp, "report.denied")
    assert [(d.target_type, d.target_id, d.detail["reason"]) for d in denied] == [
        ("attachment", str(elsewhere), "missing"),
        ("attachment", "999999", "missing"),
    ]
    assert _downloads(rapp, report_id) == [] and audit_entries(rapp, "attachment.download") == []


def test_another_agency_cannot_download(rapp: Flask, login: Login) -> None:
    report_id = seed_web_report(rapp, ANSWERS)
    png = add_attachment(rapp, report_id, TINY_PNG, "image/png")
    for role in ("investigator", "admin"):
        eve = login(f"eve-{role}@southcounty.example.org", role, ("south_county_sd",))
        response = eve.get(f"/reports/{report_id}/attachments/{png}")
        assert response.status_code == 404 and TINY_PNG not in response.data
    denied = audit_entries(rapp, "report.denied")
    assert [(d.target_type, d.target_id, d.detail["reason"]) for d in denied] == [
        ("attachment", str(png), "not_assigned")
    ] * 2
    assert _downloads(rapp, report_id) == []
