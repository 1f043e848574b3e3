"""Helpers shared by the jobs: settings, services, a clean session per job, enqueueing."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

from flask import current_app
from redis.exceptions import LockError, RedisError

from hotline.extensions import db, queues, runtime
from hotline.models import Event
from hotline.pipeline.services import Services, services_for
from hotline.settings import Settings

log = logging.getLogger("workers")
P = ParamSpec("P")
R = TypeVar("R")


def settings() -> Settings:
    return runtime.get(current_app).settings


def services() -> Services:
    return services_for(settings())


def job(fn: Callable[P, R]) -> Callable[P, R]:
    """Run a job with a fresh session, rolled back and closed whatever happens."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except Exception:
            db.session.rollback()
            raise
        finally:
            db.remove()

    return wrapper


def event(report_id: int, kind: str, **detail: object) -> None:
    db.session.add(Event(report_id=report_id, kind=kind, detail=detail))


def queue_for(urgency: str) -> str:
    """Critical reports jump the queue."""
    return "critical" if urgency == "critical" else "recordings"


def enqueue(queue: str, func: str, job_id: str, *args: object) -> bool:
    """Enqueue after the caller committed; if Redis is down the reconciler catches up."""
    return queues.try_enqueue_once(queue, func, job_id, *args)


class Busy(RuntimeError):
    """Another run of the same job holds its lock; raised so RQ (or the sweep) retries later."""


@contextmanager
def exclusive(name: str) -> Iterator[None]:
    """Hold a Redis lock on `name` for the length of a job, or raise Busy.

    A job presumed abandoned is queued again (see Queues.enqueue_once) while its first run
    may still be alive; two runs writing the same encrypted object could leave a payload
    sealed under the other run's data key. The lock expires after the job timeout, the
    longest RQ lets a run live, so a killed worker never blocks its job for longer.
    """
    lock = queues.redis.lock(f"lock:{name}", timeout=queues.job_timeout, blocking=False)
    if not lock.acquire():
        raise Busy(f"{name} is being run by another worker")
    try:
        yield
    finally:
        try:
            lock.release()
        except (LockError, RedisError) as exc:  # expired, or Redis went away: the work is done
            log.warning("lock %s not released cleanly: %s", name, exc)
