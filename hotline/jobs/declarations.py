"""Every background job, declared once: its function, queue rule, retry policy and job ids.

Callers enqueue through these declarations (`FETCH.enqueue(FETCH.id(sid), sid, urgency=u)`)
and never spell a job's function path or id scheme themselves. The function is named by
its dotted path, not imported: the functions live in `workers/`, which imports `hotline`,
so importing them here would bring back the cycle. `check_all` imports every one of them;
the worker runs it when it starts and a test runs it, so a renamed or missing job function
fails there instead of when a job reaches it.

Job ids and queue names are part of running systems (jobs waiting in Redis across a
deploy, locks named after them): they stay as they are.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rq import Retry

from hotline.extensions import queues
from hotline.queueing import CRITICAL, DEFAULT, RECORDINGS, Queues
from hotline.states import Urgency


def jumps_the_queue(urgency: str | None, usual: str) -> str:
    """Critical reports jump the queue: their jobs go on `critical`, ahead of everything."""
    return CRITICAL if urgency == Urgency.CRITICAL else usual


@dataclass(frozen=True)
class RetryPolicy:
    """RQ's retries for a job that raises: how many, and the waits between them (seconds)."""

    max: int
    intervals: tuple[int, ...]

    def rq(self) -> Retry:
        return Retry(max=self.max, interval=list(self.intervals))


# A job that raises is retried by RQ, then by the sweep: enough to ride out a short outage.
STANDARD_RETRY = RetryPolicy(5, (5, 30, 120, 600, 1800))


@dataclass(frozen=True)
class JobDeclaration:
    """One job: `func` is the dotted path RQ imports; `id_scheme` formats the job id.

    `queue` is where the job goes; with `by_urgency`, a critical report's job goes on the
    critical queue instead (see jumps_the_queue). `retry` is None for a job that must not
    be retried by RQ (the sweep: the next one comes anyway).
    """

    func: str
    id_scheme: str
    queue: str = DEFAULT
    by_urgency: bool = False
    retry: RetryPolicy | None = STANDARD_RETRY

    def id(self, *parts: object) -> str:
        """The job id for these parts, e.g. FETCH.id("RE1") == "fetch-RE1"."""
        return self.id_scheme.format(*parts)

    def queue_for(self, urgency: str | None = None) -> str:
        return jumps_the_queue(urgency, self.queue) if self.by_urgency else self.queue

    def enqueue(self, job_id: str, *args: object, urgency: str | None = None) -> bool:
        """Queue it unless that id is already waiting or running; never fails the caller.

        Called after the caller committed its rows; if Redis is down the sweep catches up.
        """
        return queues.try_enqueue_once(self.queue_for(urgency), self.func, job_id, *args, retry=self._rq_retry())

    def enqueue_once(self, job_id: str, *args: object, urgency: str | None = None, on: Queues | None = None) -> bool:
        """As `enqueue`, but a Redis error reaches the caller (who has its own way to retry).

        `on`: the app's queues, for a thread with no app context (the worker's housekeeper).
        """
        target = on if on is not None else queues
        return target.enqueue_once(self.queue_for(urgency), self.func, job_id, *args, retry=self._rq_retry())

    def enqueue_now(self, job_id: str, *args: object, urgency: str | None = None) -> bool:
        """Queue it in one Redis round trip, for webhooks (see Queues.enqueue_now)."""
        return queues.enqueue_now(self.queue_for(urgency), self.func, job_id, *args, retry=self._rq_retry())

    def resolve(self) -> Callable[..., Any]:
        """Import the job's function (what RQ does when it runs the job)."""
        module, _, name = self.func.rpartition(".")
        fn = getattr(importlib.import_module(module), name, None)
        if not callable(fn):
            raise ImportError(f"job function {self.func} does not exist")
        return fn  # type: ignore[no-any-return]

    def _rq_retry(self) -> Retry | None:
        return self.retry.rq() if self.retry else None


FETCH = JobDeclaration("workers.recordings.fetch_recording", "fetch-{}", RECORDINGS, by_urgency=True)
TRANSCRIBE = JobDeclaration("workers.recordings.transcribe_recording", "transcribe-{}", RECORDINGS, by_urgency=True)
# Finalize ids carry what queued it ("call", "sweep" or a recording sid): one live job per cause.
FINALIZE = JobDeclaration("workers.reports.finalize_report", "finalize-{}-{}")
NOTIFY = JobDeclaration("workers.reports.notify_assignment", "notify-{}-{}", RECORDINGS, by_urgency=True)
# The webhook's alert is per unanswered transfer ("oncall-<call>-<turn>"), the sweep's per
# report ("oncall-sweep-<report>"): the job itself makes sure each transfer is alerted once.
ON_CALL = JobDeclaration("workers.reports.alert_on_call", "oncall-{}-{}", CRITICAL)
# One sweep per interval: the id is the interval's number, so several workers never double it.
SWEEP = JobDeclaration("workers.sweeps.sweep", "sweep-{}", retry=None)

ALL = (FETCH, TRANSCRIBE, FINALIZE, NOTIFY, ON_CALL, SWEEP)


def check_all() -> None:
    """Import every declared job function; raises ImportError naming the first one missing."""
    for declared in ALL:
        declared.resolve()
