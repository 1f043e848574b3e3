"""A worker outlives a Redis outage: it waits, reconnects and carries on, logging it once."""

from __future__ import annotations

import time
from typing import Any

from flask import Flask
from rq import Queue

from hotline.extensions import queues
from hotline.jobs.declarations import SWEEP
from tests.conftest import RedisServer
from tests.worker.conftest import Workers, clip, one_recording_call, recording, wait_for

UNAVAILABLE = "Redis is unavailable"
BACK = "Redis is back"


def test_redis_killed_mid_job_then_restarted(
    wapp: Flask, workers: Workers, own_redis: RedisServer, fake_twilio: Any
) -> None:
    fake_twilio.delay_next("/Recordings/", seconds=3)  # Redis dies while the download runs
    one_recording_call(wapp, fake_twilio, clip())
    worker = workers.start()
    wait_for("the download starts", lambda: any("/Recordings/" in p for m, p in fake_twilio.requests_log))
    own_redis.stop()  # no persistence: every queued job goes with it; the database keeps the work
    # The download ends during the outage; the job cannot confirm its lock, so it stores
    # nothing (a twin might be writing), and RQ cannot record the job's end.
    rec, _ = recording(wapp)
    wait_for("the download ends", lambda: rec.recording_sid in fake_twilio.fetched)
    time.sleep(4)  # an outage long enough for several reconnection attempts
    assert worker.poll() is None, workers.log(0)  # still there, waiting for Redis
    own_redis.start()  # same port
    # The sweep ticker carries on, and its sweep queues again what was lost with Redis.
    wait_for("the report is routed", lambda: recording(wapp)[1].routed_at is not None, within=90)
    rec, _ = recording(wapp)
    assert rec.fetch_state == "stored" and rec.transcript_state == "done"
    # And a job queued now, from outside, is run.
    with wapp.app_context():
        job = Queue(SWEEP.queue_for(), connection=queues.redis).enqueue(SWEEP.func)
    wait_for("a new job runs", lambda: job.get_status(refresh=True) == "finished", within=60)
    assert workers.stop(worker) == 0
    log = workers.log(0)
    assert log.count(UNAVAILABLE) == 1, log  # once per outage, not per retry
    assert log.count(BACK) == 1, log
    assert "could not connect to Redis instance" not in log  # RQ's line per retry
    assert "quitting" not in log


def test_redis_down_while_idle_is_logged_once(wapp: Flask, workers: Workers, own_redis: RedisServer) -> None:
    worker = workers.start()
    wait_for("the worker is listening", lambda: "Listening on" in workers.log(0), within=60)
    own_redis.stop()
    time.sleep(4)  # RQ's own idle loop retries, with its own log line each time
    own_redis.start()
    with wapp.app_context():
        job = Queue(SWEEP.queue_for(), connection=queues.redis).enqueue(SWEEP.func)
    wait_for("a job runs after the outage", lambda: job.get_status(refresh=True) == "finished", within=60)
    assert workers.stop(worker) == 0
    log = workers.log(0)
    assert log.count(UNAVAILABLE) == 1 and log.count(BACK) == 1, log
    assert "could not connect to Redis instance" not in log
