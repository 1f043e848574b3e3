"""Helpers shared by the jobs: settings, services, a clean session per job.

Enqueueing goes through hotline.jobs.declarations and job locks live in hotline.jobs.locks
(Busy and exclusive are re-exported here for the jobs).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from flask import current_app

from hotline.extensions import db, runtime
from hotline.jobs.locks import Busy, Held, exclusive
from hotline.pipeline.services import Services, services_of
from hotline.settings import Settings

__all__ = ["Busy", "Held", "exclusive", "job", "log", "services", "settings"]

log = logging.getLogger("workers")
P = ParamSpec("P")
R = TypeVar("R")


def settings() -> Settings:
    return runtime.get(current_app).settings


def services() -> Services:
    return services_of()


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
