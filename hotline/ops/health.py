"""Readiness checks: can this node reach its database, Redis and object store right now?

Each check answers ok or the error's class and first line (never a URL with its password,
nor any setting), and how long it took.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import text

DATABASE_SECONDS = 3.0
# user:password@ in any URL an error message may quote.
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]+@")
_SECRETISH = re.compile(r"(?i)(password|passwd|secret|token|key)=\S+")


def describe(exc: BaseException) -> str:
    """The error in one short line, with anything that looks like a credential removed."""
    first = (str(exc).strip().splitlines() or [""])[0]
    first = _SECRETISH.sub(r"\1=***", _USERINFO.sub(r"\1***@", first))[:200]
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def timed(check: Callable[[], None]) -> dict[str, Any]:
    """Run one check: {"ok": bool, "ms": latency, "error": only when it failed}."""
    started = time.perf_counter()
    try:
        check()
        result: dict[str, Any] = {"ok": True}
    except Exception as exc:  # noqa: BLE001 - every failure is a "not ready" answer
        result = {"ok": False, "error": describe(exc)}
    result["ms"] = round((time.perf_counter() - started) * 1000, 1)
    return result


def check_database() -> None:
    from hotline.extensions import db

    # Bounded like a webhook's database time: a hung server makes the check fail, not hang.
    with db.deadline(DATABASE_SECONDS), db.engine.connect() as conn:
        conn.execute(text("SELECT 1"))


def check_redis() -> None:
    from hotline.extensions import queues

    if not queues.redis.ping():
        raise ConnectionError("PING was not answered")


def check_storage() -> None:
    """The blob store's own check (an S3 bucket listed, the local directory writable)."""
    from hotline.pipeline.services import services_of
    from hotline.storage.base import StorageUnavailable

    # check() answers a reason rather than raising: a reason is a failed check.
    reason = services_of().store.blobs.check()
    if reason:
        raise StorageUnavailable(reason)


CHECKS: dict[str, Callable[[], None]] = {"database": check_database, "redis": check_redis, "storage": check_storage}


def readiness() -> tuple[bool, dict[str, dict[str, Any]]]:
    """Run every check; ready only if all passed."""
    results = {name: timed(check) for name, check in CHECKS.items()}
    return all(r["ok"] for r in results.values()), results
