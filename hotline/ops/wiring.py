"""Wire the ops package into an app: its request hooks, its routes, the log set-up.

`init_ops(app)` runs first in create_app, so that its request hooks run before any other:
every log line of a request, the voice signature check's included, carries its id.
"""

from __future__ import annotations

import time

from flask import Flask, Response, g, request
from prometheus_client import Histogram

from hotline.ops import logs, metrics, requestid
from hotline.settings import Settings

__all__ = ["init_ops"]

# Each route's histogram, looked up once: labels() takes a lock and builds a key per call.
_TIMERS: dict[str, Histogram] = {}


def init_ops(app: Flask, settings: Settings) -> None:
    """Set up logging, the request id, webhook timing and the /healthz, /readyz, /metrics routes."""
    from hotline.auth import csrf
    from hotline.ops.views import STATE_REGISTRY, bp

    logs.configure(settings.log_format)
    app.extensions[STATE_REGISTRY] = metrics.state_registry(app)
    app.before_request(_start)
    app.after_request(_finish)
    app.teardown_request(_forget)
    app.register_blueprint(bp)
    # Probes and Prometheus carry no session and no form: no sign-in (none of the views asks
    # for it) and no CSRF token.
    csrf.exempt(bp)


def _start() -> None:
    g.ops_started = time.perf_counter()
    g.request_id = rid = requestid.choose(request.headers.get(requestid.HEADER))
    requestid.bind(rid)


def _finish(response: Response) -> Response:
    rid = g.get("request_id")
    if rid:
        response.headers[requestid.HEADER] = rid
    rule = request.url_rule
    if rule is not None and request.blueprint == "voice":
        # The URL rule ("/voice/input/<int:turn>"), never the path: one series per route.
        timer = _TIMERS.get(rule.rule)
        if timer is None:
            timer = _TIMERS[rule.rule] = metrics.WEBHOOK_SECONDS.labels(rule.rule)
        timer.observe(time.perf_counter() - g.ops_started)
    return response


def _forget(_exc: BaseException | None = None) -> None:
    requestid.clear()
