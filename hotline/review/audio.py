"""Stream a decrypted recording to the browser's <audio> element, with HTTP Range support.

The recording is decrypted into memory for each request and the requested slice is sent;
nothing decrypted is written to disk, and `Cache-Control: no-store` keeps browsers and
proxies from keeping a copy. Every download request is audited. Browsers fetch audio for
playback in several range requests: a playback is audited unless the same user's playback
of the same recording already was within the last few minutes, whatever range is asked
for, so seeking does not flood the log and no range escapes it.
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta

from flask import request
from sqlalchemy import select
from werkzeug.exceptions import RequestedRangeNotSatisfiable
from werkzeug.wrappers import Response

from hotline.auth import audit, login_required
from hotline.auth.models import AuditEntry
from hotline.crypto.envelope import DecryptionError
from hotline.extensions import db, runtime
from hotline.models import Recording, utcnow
from hotline.pipeline.services import services_for
from hotline.reports import events
from hotline.review import bp
from hotline.review.access import deny, report_or_404, signed_in
from hotline.states import EventKind
from hotline.storage.base import BlobNotFound
from hotline.storage.keys import audio_aad

log = logging.getLogger(__name__)

_SAFE_NAME = re.compile(r"[^A-Za-z0-9_-]+")
# Range requests for one playback (seeks, the browser's own re-fetches) within this window
# count as that playback.
PLAYBACK_WINDOW = timedelta(minutes=10)


def _answered_in_part(length: int) -> bool:
    """Whether werkzeug should answer the Range header: one byte range only.

    A malformed header, another unit or several ranges get the whole file, which RFC 9110
    allows (werkzeug would answer them 416); so does a suffix range longer than the file,
    which RFC 9110 says means all of it (werkzeug would refuse it too)."""
    parsed = request.range
    if parsed is None or parsed.units != "bytes" or len(parsed.ranges) != 1:
        return False
    start, _ = parsed.ranges[0]
    return start >= -length


@bp.get("/reports/<int:report_id>/recordings/<recording_sid>/audio")
@login_required
def recording_audio(report_id: int, recording_sid: str) -> Response:
    """The recording as audio/wav; `?download=1` makes it an audited attachment."""
    user = signed_in()
    report = report_or_404(report_id, target_type="recording", target_id=recording_sid)
    rec = db.session.scalar(
        select(Recording).where(Recording.recording_sid == recording_sid, Recording.report_id == report.id)
    )
    if rec is None:
        # A real recording of another report, or a made-up sid: both are guesses.
        deny(user, "recording", recording_sid, "missing")
    if rec.fetch_state != "stored" or rec.blob_key is None or rec.shredded_at is not None:
        return Response("This recording is not available.", status=404, mimetype="text/plain")
    store = services_for(runtime.get().settings).store
    try:
        audio = store.get_decrypted(rec.blob_key, audio_aad(rec))
    except (BlobNotFound, DecryptionError) as exc:
        log.error("recording %s unreadable: %s", rec.recording_sid, type(exc).__name__)
        return Response("This recording could not be read.", status=404, mimetype="text/plain")
    download = request.args.get("download") == "1"
    # werkzeug answers the Range header: 206 with Content-Range, or 416 past the end.
    response = Response(audio, status=200, mimetype="audio/wav")
    try:
        response.make_conditional(
            request.environ, accept_ranges=True, complete_length=len(audio) if _answered_in_part(len(audio)) else None
        )
    except RequestedRangeNotSatisfiable as exc:
        response = exc.get_response(request.environ)
        response.headers["Accept-Ranges"] = "bytes"
    response.headers["Cache-Control"] = "no-store"
    if download:
        name = _SAFE_NAME.sub("-", f"{report.reference}-{rec.question}")
        response.headers["Content-Disposition"] = f'attachment; filename="{name}.wav"'

    if download or not _playback_audited(user.id, rec.recording_sid):
        if download:
            events.record(
                db.session,
                report.id,
                EventKind.RECORDING_DOWNLOADED,
                by=user.email,
                recording_sid=rec.recording_sid,
                question=rec.question,
            )
        audit.record(
            "recording.download" if download else "recording.play",
            user=user,
            target_type="recording",
            target_id=rec.recording_sid,
            detail={"report_id": report.id},
        )
        db.session.commit()
    return response


def _playback_audited(user_id: int, recording_sid: str) -> bool:
    """Whether this user's playback of this recording was audited within the window."""
    since = utcnow() - PLAYBACK_WINDOW
    found = db.session.scalar(
        select(AuditEntry.id)
        .where(
            AuditEntry.user_id == user_id,
            AuditEntry.action == "recording.play",
            AuditEntry.target_id == recording_sid,
            AuditEntry.at >= since,
        )
        .limit(1)
    )
    return found is not None
