"""The whole pipeline once with its objects on S3 (SeaweedFS): fetched, encrypted, stored,
transcribed, classified, routed and notified, with nothing plaintext in the bucket."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from sqlalchemy import select

from hotline import create_app
from hotline.extensions import db, runtime
from hotline.models import Assignment, Notification, Recording, Report
from hotline.pipeline.services import services_for
from hotline.storage.s3 import S3BlobStore
from tests.conftest import RedisServer, _clean, make_settings
from tests.pipeline.conftest import UTTERANCES, place_call, run_jobs
from tests.seaweed import SeaweedServer
from tests.storage.conftest import BUCKET

__all__ = ["place_call"]  # the pipeline's fixture, placing calls into this module's `papp`


@pytest.fixture
def papp(
    tmp_path: Path,
    database_url: str,
    redis_server: RedisServer,
    fake_twilio: Any,
    s3_env: SeaweedServer,
    s3_prefix: str,
) -> Iterator[Flask]:
    """The pipeline's app with HOTLINE_STORAGE_URL on SeaweedFS instead of a directory."""
    yield from _s3_app(tmp_path, database_url, redis_server, fake_twilio, s3_prefix, fetch_attempts=4)


def _s3_app(
    tmp_path: Path, database_url: str, redis_server: RedisServer, fake_twilio: Any, prefix: str, *, fetch_attempts: int
) -> Iterator[Flask]:
    """An app storing on S3 under `prefix` (wherever AWS_ENDPOINT_URL points), cleaned up after."""
    settings = make_settings(
        tmp_path,
        database_url,
        redis_server.url,
        twilio_api_base_url=fake_twilio.base_url,
        storage_url=f"s3://{BUCKET}/{prefix}",
        pipeline={"fetch_attempts": fetch_attempts, "reconcile_seconds": 1, "job_timeout_seconds": 60},
    )
    redis.Redis.from_url(redis_server.url).flushall()
    _clean(database_url)
    application = create_app(settings)  # an unreachable store is logged, not fatal
    yield application
    db.dispose()
    _clean(database_url)
    redis.Redis.from_url(redis_server.url).flushall()


@pytest.mark.slow
def test_a_call_is_stored_on_s3_transcribed_and_routed(
    papp: Flask, place_call: Any, fake_twilio: Any, s3_prefix: str, raw_s3: Any
) -> None:
    place_call("u01.wav", "u11.wav", topic="6", district="3")
    run_jobs(papp)

    with papp.app_context():
        recs = list(db.session.scalars(select(Recording).order_by(Recording.id)))
        report = db.session.scalars(select(Report)).one()
        store = services_for(runtime.get(papp).settings).store
        assert isinstance(store.blobs, S3BlobStore)
        assert [r.fetch_state for r in recs] == ["stored", "stored"]
        assert [r.transcript_state for r in recs] == ["done", "done"]
        assert all(r.deleted_from_twilio for r in recs)  # only once S3 held a verified copy
        for rec, clip in zip(recs, ("u01.wav", "u11.wav"), strict=True):
            assert store.get_decrypted(str(rec.blob_key), f"recording:{rec.recording_sid}".encode()) == (
                (UTTERANCES / clip).read_bytes()
            )
        # Keypad said "anything else"; the transcript said "gun": critical, weapons.
        assert report.urgency == "critical" and "weapons" in report.categories
        assert report.routed_at is not None
        agencies = sorted(db.session.scalars(select(Assignment.agency_id)))
        sent = list(db.session.scalars(select(Notification).where(Notification.status == "sent")))
        assert agencies == ["precinct_2_central", "riverbend_sd", "safe_schools_unit"]
        assert len(sent) == 3
        expected = {k for r in recs for k in (r.blob_key, r.transcript_key)}

    # In the bucket itself: each recording and transcript with its wrapped key, all ciphertext.
    listed = raw_s3.list_objects_v2(Bucket=BUCKET, Prefix=s3_prefix + "/")["Contents"]
    names = sorted(o["Key"][len(s3_prefix) + 1 :] for o in listed)
    assert names == sorted([*expected, *(f"{k}.dek" for k in expected)])
    for name in names:
        raw = raw_s3.get_object(Bucket=BUCKET, Key=f"{s3_prefix}/{name}")["Body"].read()
        assert b"RIFF" not in raw and b"WAVE" not in raw and b"gun" not in raw.lower()


@pytest.fixture
def dead_s3_app(
    tmp_path: Path,
    database_url: str,
    redis_server: RedisServer,
    fake_twilio: Any,
    s3_env: SeaweedServer,
    s3_prefix: str,
) -> Iterator[Flask]:
    """The pipeline's app with its object store unreachable (nothing listens on its port)."""
    from tests.conftest import free_port

    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
        yield from _s3_app(tmp_path, database_url, redis_server, fake_twilio, s3_prefix, fetch_attempts=2)


@pytest.mark.slow
def test_an_object_store_outage_is_waited_out_not_counted_towards_dead_letters(
    dead_s3_app: Flask, fake_twilio: Any
) -> None:
    from tests.conftest import AUTH_TOKEN, SAFE_SCHOOLS, TwilioClient
    from tests.voice.driver import VoiceCall
    from workers.recordings import fetch_recording

    call = VoiceCall(TwilioClient(dead_s3_app.test_client(), AUTH_TOKEN), SAFE_SCHOOLS, media_base=fake_twilio.base_url)
    call.on_record = lambda sid: fake_twilio.add_recording(
        fake_twilio.account_sid, sid, (UTTERANCES / "u01.wav").read_bytes()
    )
    call.start()
    call.press("1")
    call.press("6")
    call.answer("#")
    for _ in range(4):
        call.press("#")
    call.press("3")
    call.press("9")
    call.press("", "#")
    call.hang_up()
    with dead_s3_app.app_context():
        sid = db.session.scalars(select(Recording.recording_sid)).one()
    for _ in range(3):  # more runs than fetch_attempts: none of them may dead-letter it
        with dead_s3_app.app_context(), pytest.raises(Exception, match="object store"):
            fetch_recording(sid)
    with dead_s3_app.app_context():
        rec = db.session.scalars(select(Recording)).one()
        assert rec.fetch_state == "retrying" and rec.attempts == 0
        assert rec.transient_failures == 3 and rec.failing_since is not None and rec.next_fetch_at is not None
        assert fake_twilio.has_recording(sid)  # Twilio's copy stays until ours is stored
