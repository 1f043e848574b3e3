"""Readiness checks: can this node reach its database, Redis and object store right now?

Each check answers ok or the error's class and first line (never a URL with its password,
nor any setting), and how long it took.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from flask import Flask, current_app
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


# The whole answer's bound: a check without an answer by then has failed. Anyone may call
# /readyz: a dependency that accepts connections and then hangs must not hold a web thread
# for as long as its client's retries last (S3's take over 10 s).
DEADLINE_SECONDS = 4.0
# One round of checks serves every probe for this long: hammering /readyz costs the
# database, Redis and the object store one round a second per process, not one per request.
CACHE_SECONDS = 1.0
_STATE = "hotline.ops.readiness"
_STATE_LOCK = threading.Lock()


class _Rounds:
    """One app's rounds of checks: one at a time, each check on its own thread, at most one each."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pool = ThreadPoolExecutor(max_workers=len(CHECKS), thread_name_prefix="readyz")
        self.running: dict[str, Future[dict[str, Any]]] = {}
        self.last: tuple[float, bool, dict[str, dict[str, Any]]] | None = None


def _in_context(app: Flask, check: Callable[[], None]) -> dict[str, Any]:
    with app.app_context():
        return timed(check)


def readiness() -> tuple[bool, dict[str, dict[str, Any]]]:
    """Run every check (or reuse a round under CACHE_SECONDS old); ready only if all passed."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    with _STATE_LOCK:
        rounds: _Rounds = app.extensions.setdefault(_STATE, _Rounds())
    # Callers arriving during a round wait for it (at most DEADLINE_SECONDS) and share it.
    with rounds.lock:
        if rounds.last and time.monotonic() - rounds.last[0] < CACHE_SECONDS:
            return rounds.last[1], rounds.last[2]
        for name, check in CHECKS.items():
            previous = rounds.running.get(name)
            if previous is None or previous.done():  # a check still hung is waited on, not run twice
                rounds.running[name] = rounds.pool.submit(_in_context, app, check)
        deadline = time.monotonic() + DEADLINE_SECONDS
        results: dict[str, dict[str, Any]] = {}
        for name, future in rounds.running.items():
            try:
                results[name] = future.result(timeout=max(0.0, deadline - time.monotonic()))
            except FutureTimeout:
                results[name] = {
                    "ok": False,
                    "error": f"no answer within {DEADLINE_SECONDS:g} s",
                    "ms": DEADLINE_SECONDS * 1000,
                }
        ready = all(r["ok"] for r in results.values())
        rounds.last = (time.monotonic(), ready, results)
        return ready, results
