"""The request id: taken from X-Request-Id when sane, else made up; carried into jobs and log lines."""

from __future__ import annotations

import re
import secrets
from typing import TYPE_CHECKING

import structlog

if TYPE_CHECKING:
    from rq.job import Job

HEADER = "X-Request-Id"
KEY = "request_id"
# What a proxy or load balancer sends (nginx's $request_id, a UUID, an AWS trace id); anything
# else, say a header long enough to flood the logs or with spaces, is replaced by our own.
_SANE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:=-]{7,127}$")


def choose(header: str | None) -> str:
    """The id to use for a request whose X-Request-Id header is `header`."""
    if header and _SANE.fullmatch(header):
        return header
    return secrets.token_hex(16)  # as random as a UUID4, a quarter of its cost


def bind(request_id: str | None, **more: object) -> None:
    """Start a fresh logging context with this request id: every log line of the thread carries it."""
    structlog.contextvars.clear_contextvars()
    if request_id:
        structlog.contextvars.bind_contextvars(**{KEY: request_id}, **more)
    elif more:
        structlog.contextvars.bind_contextvars(**more)


def clear() -> None:
    structlog.contextvars.clear_contextvars()


def current() -> str | None:
    """The request id bound to this thread (a request's, or the job's that it was carried into)."""
    value = structlog.contextvars.get_contextvars().get(KEY)
    return value if isinstance(value, str) else None


def job_meta() -> dict[str, object] | None:
    """RQ job meta carrying the current request id to the job (None outside a request or job)."""
    rid = current()
    return {KEY: rid} if rid else None


def job_context(job: Job | None, name: str | None = None) -> dict[str, object]:
    """What a job's log lines carry: the request id its meta holds, the job's id and name."""
    if job is None:
        return {}
    found: dict[str, object] = {"job_id": job.id}
    if name:
        found["job"] = name
    rid = job.meta.get(KEY) if isinstance(job.meta, dict) else None
    if isinstance(rid, str):
        found[KEY] = rid
    return found
