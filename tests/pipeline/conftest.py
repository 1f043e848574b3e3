"""Fixtures for the pipeline: the app wired to a local stand-in for Twilio, and a worker."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from rq import Queue, SimpleWorker

from hotline import create_app
from hotline.extensions import db, queues
from hotline.queueing import QUEUE_NAMES
from tests.conftest import AUTH_TOKEN, SAFE_SCHOOLS, RedisServer, TwilioClient, _clean, make_settings
from tests.voice.driver import VoiceCall

UTTERANCES = Path(__file__).resolve().parents[1] / "data" / "utterances"


@pytest.fixture
def papp(tmp_path: Path, database_url: str, redis_server: RedisServer, fake_twilio: Any) -> Iterator[Flask]:
    """The app, fetching recordings from `fake_twilio`, with fast retries for tests."""
    settings = make_settings(
        tmp_path,
        database_url,
        redis_server.url,
        twilio_api_base_url=fake_twilio.base_url,
        pipeline={"fetch_attempts": 4, "reconcile_seconds": 1, "job_timeout_seconds": 60},
    )
    redis.Redis.from_url(redis_server.url).flushall()
    _clean(database_url)
    application = create_app(settings)
    yield application
    db.dispose()
    _clean(database_url)
    redis.Redis.from_url(redis_server.url).flushall()


def run_jobs(app: Flask, rounds: int = 10) -> None:
    """Drain every queue in this process (jobs retried with a delay are run at once)."""
    with app.app_context():
        conn = queues.redis
        worker = SimpleWorker([Queue(n, connection=conn) for n in QUEUE_NAMES], connection=conn)
        for _ in range(rounds):
            worker.work(burst=True)
            moved = 0
            for name in QUEUE_NAMES:
                q = Queue(name, connection=conn)
                # Scheduled retries wait for real time; a test needs them now.
                for job_id in q.scheduled_job_registry.get_job_ids():
                    q.scheduled_job_registry.remove(job_id)
                    job = q.fetch_job(job_id)
                    if job is not None:
                        q.enqueue_job(job)
                        moved += 1
            if not moved and not any(Queue(n, connection=conn).count for n in QUEUE_NAMES):
                return


@pytest.fixture
def place_call(papp: Flask, fake_twilio: Any) -> Callable[..., VoiceCall]:
    """Place a Safe Schools call whose answers are the given utterance files."""

    def place(*clips: str, topic: str = "6", district: str = "3", hang_up: bool = True) -> VoiceCall:
        audio = iter(clips)
        call = VoiceCall(TwilioClient(papp.test_client(), AUTH_TOKEN), SAFE_SCHOOLS, media_base=fake_twilio.base_url)
        call.on_record = lambda sid: fake_twilio.add_recording(
            fake_twilio.account_sid, sid, (UTTERANCES / next(audio)).read_bytes()
        )
        call.start()
        call.press("1")
        call.press(topic)
        for _ in clips:
            call.answer("#")
        for _ in range(5 - len(clips)):
            call.press("#")
        call.press(district)
        call.press("9")
        call.press("", "#")
        if hang_up:
            call.hang_up()
        return call

    return place
