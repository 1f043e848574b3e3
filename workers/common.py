"""What every job shares: a clean session per run, its request id in its log lines, its metrics.

The jobs' logic lives in hotline.pipeline, their declarations in hotline.jobs.declarations
and their locks in hotline.jobs.locks.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import structlog
from rq import get_current_job

from hotline.extensions import db
from hotline.ops import requestid
from hotline.ops.metrics import JOB_FAILURES, JOB_SECONDS

__all__ = ["job"]

P = ParamSpec("P")
R = TypeVar("R")


def job(fn: Callable[P, R]) -> Callable[P, R]:
    """Run a job with a fresh session, rolled back and closed whatever happens; time and log it."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        current = get_current_job()
        # Called directly (a command, a test) rather than by a worker: no queue to speak of.
        queue = current.origin if current is not None else "direct"
        started = time.perf_counter()
        # The request id of the webhook that queued it (job meta): the job's log lines carry
        # it, and so does every job it queues in turn. Restored as it was afterwards.
        with structlog.contextvars.bound_contextvars(**requestid.job_context(current, fn.__name__)):
            try:
                return fn(*args, **kwargs)
            except Exception:
                JOB_FAILURES.labels(queue, fn.__name__).inc()
                db.session.rollback()
                raise
            finally:
                JOB_SECONDS.labels(queue, fn.__name__).observe(time.perf_counter() - started)
                db.remove()

    return wrapper
