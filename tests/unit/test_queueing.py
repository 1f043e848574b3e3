"""Deterministic job ids on a real Redis: one live job per id, whichever queue holds it."""

from __future__ import annotations

from flask import Flask
from rq.job import Job

from hotline.extensions import queues

JOB = "workers.recordings.transcribe_recording"


def test_a_live_job_is_not_doubled_from_another_queue(app: Flask) -> None:
    with app.app_context():
        # The fetch job queues a critical report's transcription on "critical"; the sweep
        # must see that job even when it looks from "recordings".
        assert queues.enqueue_once("critical", JOB, "transcribe-RE1", "RE1") is True
        assert queues.enqueue_once("recordings", JOB, "transcribe-RE1", "RE1") is False
        assert queues.enqueue_once("critical", JOB, "transcribe-RE1", "RE1") is False
        assert queues.queue("critical").job_ids == ["transcribe-RE1"]
        assert queues.queue("recordings").job_ids == []


def test_a_finished_job_id_can_run_again(app: Flask) -> None:
    with app.app_context():
        assert queues.enqueue_once("critical", JOB, "transcribe-RE2", "RE2") is True
        job = Job.fetch("transcribe-RE2", connection=queues.redis)
        # As a worker would leave it: done, out of the queue.
        queues.queue("critical").remove(job)
        job.set_status("finished")
        assert queues.enqueue_once("recordings", JOB, "transcribe-RE2", "RE2") is True
        assert queues.queue("recordings").job_ids == ["transcribe-RE2"]
        assert queues.queue("critical").job_ids == []
