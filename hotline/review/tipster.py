"""Investigators and the anonymous tipster: write a message for them, download what they sent.

A message is written for one of the writer's agencies that the report went to, audited
(never its words) and put on the report's timeline; the tipster hears it on a call back or
reads it at /tip/check. An attachment is decrypted into memory and sent as a download, never
shown inline; every download is audited and on the timeline.
"""

from __future__ import annotations

import logging

from flask import flash, redirect, url_for
from werkzeug.wrappers import Response

from hotline.auth import audit, login_required
from hotline.crypto.envelope import DecryptionError
from hotline.extensions import db
from hotline.followup import messages
from hotline.models import Attachment
from hotline.pipeline.services import services_of
from hotline.reports import events
from hotline.review import bp
from hotline.review.access import deny, report_or_404, signed_in, user_agencies_of
from hotline.review.forms import TipsterMessageForm
from hotline.review.report import NO_PIN, render_report
from hotline.states import EventKind
from hotline.storage.base import BlobNotFound
from hotline.storage.keys import attachment_aad, attachment_key

log = logging.getLogger(__name__)


@bp.post("/reports/<int:report_id>/messages")
@login_required
def write_message(report_id: int) -> Response | tuple[str, int]:
    """Write a message for the tipster; a refused one shows the page again, the text kept."""
    user = signed_in()
    report = report_or_404(report_id)
    # Scoping already asked for one; the message is written for the first, in a fixed order,
    # so who wrote for which agency never depends on the order agencies were ticked.
    agencies = user_agencies_of(user, report.id)
    if not agencies:  # unreachable through report_or_404; fail closed all the same
        deny(user, "report", report.id, "not_assigned")
    form = TipsterMessageForm()
    if report.pin_hash is None:
        form.refuse("body", NO_PIN)
        return render_report(report, form, 409)
    if not form.validate():
        return render_report(report, form, 400)
    try:
        message = messages.write(
            db.session,
            report.id,
            form.text("body"),
            form.text("language"),
            author_email=user.email,
            agency_id=agencies[0],
        )
    except ValueError as exc:  # the form checks the same rules; kept in case they part
        db.session.rollback()
        text = str(exc)
        form.refuse("body", text[:1].upper() + text[1:] + ".")
        return render_report(report, form, 400)
    events.record(
        db.session,
        report.id,
        EventKind.MESSAGE_WRITTEN,
        by=user.email,
        message_id=message.id,
        language=message.language,
        agency=message.agency_id,
    )
    # Who wrote, for which agency and in which language; the words stay sealed in their row.
    audit.record(
        "report.message",
        user=user,
        target_type="report",
        target_id=report.id,
        detail={"message_id": message.id, "language": message.language, "agency": message.agency_id},
    )
    db.session.commit()
    flash("Message saved. The tipster hears it when they call back, or reads it on the web.", "info")
    return redirect(url_for("review.report", report_id=report.id, _anchor="tipster-messages"))


@bp.get("/reports/<int:report_id>/attachments/<int:attachment_id>")
@login_required
def attachment_download(report_id: int, attachment_id: int) -> Response:
    """A file the tipster sent, decrypted, as a download with its stored content type."""
    user = signed_in()
    report = report_or_404(report_id, target_type="attachment", target_id=attachment_id)
    att = db.session.get(Attachment, attachment_id)
    if att is None or att.report_id != report.id:
        # Another report's file, or a made-up id: both are guesses.
        deny(user, "attachment", attachment_id, "missing")
    if att.shredded_at is not None:
        return Response("This attachment was deleted.", status=404, mimetype="text/plain")
    store = services_of().store
    try:
        data = store.get_decrypted(att.blob_key or attachment_key(att), attachment_aad(att))
    except (BlobNotFound, DecryptionError) as exc:
        log.error("attachment %s unreadable: %s", att.id, type(exc).__name__)
        return Response("This attachment could not be read.", status=404, mimetype="text/plain")
    response = Response(data, status=200, mimetype=att.content_type)
    # Never rendered by the browser as the page's own content, nor kept in any cache.
    response.headers["Content-Disposition"] = f'attachment; filename="{att.filename}"'
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    events.record(db.session, report.id, EventKind.ATTACHMENT_DOWNLOADED, by=user.email, attachment_id=att.id)
    audit.record(
        "attachment.download",
        user=user,
        target_type="attachment",
        target_id=att.id,
        detail={"report_id": report.id},
    )
    db.session.commit()
    return response
