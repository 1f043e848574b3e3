"""/healthz, /readyz and /metrics: open to probes without signing in; /metrics needs its token."""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from hotline.extensions import runtime
from hotline.ops import health, metrics

bp = Blueprint("ops", __name__)
STATE_REGISTRY = "hotline.ops.state_registry"


@bp.get("/healthz")
def healthz() -> Response:
    """The process is up and serving: no database, no Redis (a liveness probe)."""
    return _no_store(jsonify(status="ok"))


@bp.get("/readyz")
def readyz() -> Response:
    """Database, Redis and storage reachable: 200, else 503 naming what failed (a readiness probe)."""
    ready, checks = health.readiness()
    response = jsonify(status="ready" if ready else "unavailable", checks=checks)
    response.status_code = 200 if ready else 503
    return _no_store(response)


@bp.get("/metrics")
def metrics_page() -> Response:
    """Prometheus exposition; 404 unless HOTLINE_METRICS_TOKEN is set, 401 without that bearer token."""
    token = runtime.get().settings.metrics_token
    if not token:
        abort(404)
    if not metrics.authorized(token, request.headers.get("Authorization")):
        response = Response("a bearer token is required\n", status=401, mimetype="text/plain")
        response.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    body = metrics.render_process_metrics() + generate_latest(current_app.extensions[STATE_REGISTRY])
    return _no_store(Response(body, content_type=CONTENT_TYPE_LATEST))


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response
