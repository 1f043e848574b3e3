"""A SIGKILLed worker's job is run again by another worker in seconds, not after the job timeout.

The settings (tests/worker/conftest.py PIPELINE) keep the job timeout at 600 s and make the
liveness TTL 5 s: each test waits at most 120 s for the report, so passing shows the job was
taken over because its worker was seen dead, not because the timeout ran out. Nothing here
deletes a lock or shortens `stale_after` by hand.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from rq.job import Job

from hotline.extensions import queues, runtime
from hotline.jobs.locks import Busy, exclusive
from tests.worker.conftest import Workers, clip, long_wav, one_recording_call, recording, wait_for


def _routed(app: Flask) -> bool:
    return recording(app)[1].routed_at is not None


def _stored_files(app: Flask) -> list[Path]:
    return list(Path(runtime.get(app).settings.storage_path).rglob("*.wav"))


def test_a_worker_killed_mid_fetch_is_taken_over(wapp: Flask, workers: Workers, fake_twilio: Any) -> None:
    fake_twilio.delay_next("/Recordings/", seconds=60)  # the first worker's download hangs
    one_recording_call(wapp, fake_twilio, clip())
    first = workers.start()
    wait_for("the download starts", lambda: any("/Recordings/" in p for m, p in fake_twilio.requests_log))
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    rec, _ = recording(wapp)
    assert rec.fetch_state != "stored"
    with wapp.app_context():  # the dead worker still "runs" the job, as far as RQ can tell
        job = Job.fetch(f"fetch-{rec.recording_sid}", connection=queues.redis)
        assert job.get_status() == "started"
        assert queues.redis.exists(f"lock:fetch-{rec.recording_sid}")
    fake_twilio.clear_faults()
    workers.start()
    wait_for("the report is routed", lambda: _routed(wapp), within=120)
    rec, _ = recording(wapp)
    assert rec.fetch_state == "stored" and rec.transcript_state == "done"
    assert len(_stored_files(wapp)) == 1


def test_a_worker_killed_mid_transcription_is_taken_over(wapp: Flask, workers: Workers, fake_twilio: Any) -> None:
    one_recording_call(wapp, fake_twilio, long_wav(15))  # several seconds of decoding
    first = workers.start()
    # transcript_attempts is committed just before the recogniser starts.
    wait_for("the transcription starts", lambda: recording(wapp)[0].transcript_attempts == 1)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    rec, _ = recording(wapp)
    assert rec.transcript_state == "none"  # killed before it finished
    workers.start()
    wait_for("the report is routed", lambda: _routed(wapp), within=120)
    rec, _ = recording(wapp)
    # Taken over: the killed attempt counted, then at least one more. On a loaded machine a
    # slow recogniser can also meet the job's timeout once more (a third attempt): harmless,
    # the transcript is written once either way.
    assert rec.transcript_state == "done" and rec.transcript_attempts >= 2


def test_a_lapsed_lock_is_taken_back_unless_a_twin_took_it(wapp: Flask) -> None:
    with wapp.app_context(), exclusive("fetch-RE0") as held:
        held.check()  # renewed: still ours
        queues.redis.delete("lock:fetch-RE0")  # lapsed while the worker was stalled
        held.check()  # nobody took it: taken back, the run goes on
        assert held.lock.owned()
        queues.redis.set("lock:fetch-RE0", "a twin's token")  # lapsed, and a twin took it
        with pytest.raises(Busy):
            held.check()  # so this run writes nothing
        queues.redis.delete("lock:fetch-RE0")


def test_a_live_workers_lock_outlives_its_ttl(wapp: Flask) -> None:
    with wapp.app_context(), exclusive("fetch-RE1") as held:
        time.sleep(queues.liveness + 2)  # past the TTL: only the renewals keep it
        assert held.lock.owned()
        with pytest.raises(Busy):  # a twin still cannot take it
            with exclusive("fetch-RE1"):
                pass
