"""What every job shares: a clean session per run.

The jobs' logic lives in hotline.pipeline, their declarations in hotline.jobs.declarations
and their locks in hotline.jobs.locks.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from hotline.extensions import db

__all__ = ["job"]

P = ParamSpec("P")
R = TypeVar("R")


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
