"""Deterministic job ids on a real Redis: one live job per id, whichever queue holds it."""

from __future__ import annotations

from flask import Flask
from rq.job import Job

from hotline.extensions import queues
from hotline.jobs.declarations import FETCH, NOTIFY, SWEEP

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


def test_declared_jobs_go_where_their_rule_says_with_their_retries(app: Flask) -> None:
    with app.app_context():
        assert FETCH.enqueue(FETCH.id("RE3"), "RE3", urgency="critical") is True  # critical jumps the queue
        assert FETCH.enqueue(FETCH.id("RE3"), "RE3", urgency="normal") is False  # one live job per id
        assert NOTIFY.enqueue_now(NOTIFY.id(4, 0), 4, 0, urgency="high") is True
        assert SWEEP.enqueue_once(SWEEP.id(9)) is True
        assert queues.queue("critical").job_ids == ["fetch-RE3"]
        assert queues.queue("recordings").job_ids == ["notify-4-0"]
        assert queues.queue("default").job_ids == ["sweep-9"]
        fetch, sweep = (Job.fetch(job_id, connection=queues.redis) for job_id in ("fetch-RE3", "sweep-9"))
        assert fetch.func_name == "workers.recordings.fetch_recording" and fetch.args == ("RE3",)
        assert fetch.retries_left == 5 and fetch.retry_intervals == [5, 30, 120, 600, 1800]
        assert sweep.func_name == "workers.sweeps.sweep" and not sweep.retries_left
