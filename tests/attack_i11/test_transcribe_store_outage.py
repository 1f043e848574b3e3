"""An object-store outage never ends a stored recording's transcription as failed.

Downloads already wait such an outage out uncounted; the transcription of a recording
stored just before the store went away counted each attempt (3 by default, the third about
35 s after the first), then gave up for good: the report went on without its transcript.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from hotline import create_app
from hotline.extensions import db
from hotline.models import Recording
from hotline.states import TranscriptState
from hotline.storage.base import StorageUnavailable
from tests.conftest import RedisServer, make_settings
from tests.review.seed import seed_report
from tests.storage.conftest import BUCKET


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_transcription_waits_out_an_object_store_outage(
    app: Flask,
    tmp_path: Path,
    database_url: str,
    redis_server: RedisServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    report_id = seed_report(app)
    with app.app_context():
        rec = db.session.scalars(select(Recording).where(Recording.report_id == report_id)).first()
        assert rec is not None
        rec.transcript_state, rec.transcript_attempts, rec.transcript_key = TranscriptState.NONE, 0, None
        db.session.commit()
        sid = rec.recording_sid
    # Another node of the same database, whose object store refuses every connection.
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{_closed_port()}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret")
    down = create_app(make_settings(tmp_path, database_url, redis_server.url, storage_url=f"s3://{BUCKET}/outage"))
    from workers.recordings import transcribe_recording

    limit = 3  # pipeline.transcribe_attempts, the default
    try:
        for _ in range(limit + 1):
            with down.app_context(), pytest.raises(StorageUnavailable):
                transcribe_recording(sid)
    finally:
        with down.app_context():
            db.dispose()
    with app.app_context():
        after = db.session.get(Recording, rec.id)
        assert after is not None
        assert after.transcript_state == TranscriptState.NONE  # still to do, not failed
        assert after.transcript_attempts == 0
        assert "StorageUnavailable" in (after.last_error or "")
