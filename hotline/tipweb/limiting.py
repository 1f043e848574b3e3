"""Abuse limits for the web form without identifying anyone.

Flask-Limiter counts in the app's Redis, per client, under a key that is an HMAC-SHA256 of
the client's address with a key derived from the app's secret and today's UTC date: the
address is never stored, and tomorrow's keys cannot be linked to today's. Each counter
expires with its window.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import Flask, Response, current_app, request
from flask_limiter import Limiter

from hotline.settings import Settings

log = logging.getLogger(__name__)

LIMITER = "hotline.tipweb.limiter"
TIP, CHECK = "tip", "tip-check"


def day_key(secret: str, day: str) -> bytes:
    """The HMAC key of one UTC day, derived from the app's secret."""
    return hmac.new(secret.encode(), f"tip-rate-limit:{day}".encode(), hashlib.sha256).digest()


def client_key() -> str:
    """The limiter's key for this request's client: an HMAC of its address, never the address."""
    day = datetime.now(UTC).strftime("%Y-%m-%d")
    key = day_key(str(current_app.config["SECRET_KEY"]), day)
    address = (request.remote_addr or "unknown").encode()
    return hmac.new(key, address, hashlib.sha256).hexdigest()


def storage_uri(settings: Settings) -> str:
    """The app's Redis for the counters; the embedded one by its socket (started by the queues)."""
    url = settings.redis_url
    if url == "embedded":
        from hotline.embedded_redis import _socket_path

        url = f"unix://{_socket_path((Path(settings.instance_path) / 'redis').resolve())}"
    # The limits library names a Redis socket redis+unix:// (redis-py says unix://).
    return "redis+" + url if url.startswith("unix://") else url


def init_limiter(app: Flask, settings: Settings) -> Limiter:
    """One limiter per app, only ever consulted on /tip pages."""
    limiter = Limiter(
        key_func=client_key,
        app=app,
        storage_uri=storage_uri(settings),
        strategy="fixed-window",
        key_prefix="tip",
        # A Redis outage must not stop someone reporting a weapon: the request goes through.
        swallow_errors=True,
        headers_enabled=False,
    )
    limiter.request_filter(lambda: not request.path.startswith("/tip"))
    app.extensions[LIMITER] = limiter
    return limiter


def limited(
    app: Flask,
    limiter: Limiter,
    endpoint: str,
    scope: str,
    limit: Callable[[], str],
    counts: Callable[[Response], bool] | None = None,
) -> None:
    """Put a POST limit on one of the app's own view functions (views are shared, limiters are
    not). `counts`: which responses count against it (default: every one)."""
    view = app.view_functions[endpoint]
    wrapped: Any = limiter.shared_limit(limit, scope=scope, methods=["POST"], deduct_when=counts)(view)
    app.view_functions[endpoint] = wrapped
