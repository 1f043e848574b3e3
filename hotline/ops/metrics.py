"""Prometheus metrics: what each process counts, what the database and Redis say at scrape time.

Counters and histograms live in the process that counts (a web worker timing a webhook, an
RQ worker timing a job). With several processes on a node (gunicorn's workers, RQ workers)
set PROMETHEUS_MULTIPROC_DIR to a directory they share, emptied at each start: every process
then writes its values there and any one /metrics adds them up (prometheus_client's
multiprocess mode). Without it, each process reports only its own.

Gauges about the system as a whole (calls in progress, recordings per state, queue depth,
notices, escalations, the oldest unacknowledged critical report) are read from the database
and Redis when scraped, by `StateCollector`, at most once per `CACHE_SECONDS` per process,
with a few aggregate queries, so scraping every node every 15 s stays cheap.
"""

from __future__ import annotations

import hmac
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from rq.registry import FailedJobRegistry
from sqlalchemy import func, select

from hotline.models import Assignment, Call, Notification, Recording, Report
from hotline.queueing import QUEUE_NAMES
from hotline.states import SETTLED_STATUSES, CallStatus, FetchState, ReportStatus, Urgency

if TYPE_CHECKING:
    from flask import Flask

log = logging.getLogger(__name__)

CACHE_SECONDS = 5.0
# Twilio gives a webhook 15 s; the interesting part is the first few hundred milliseconds.
WEBHOOK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0)
JOB_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)

WEBHOOK_SECONDS = Histogram(
    "hotline_webhook_duration_seconds",
    "Time to answer a Twilio webhook, by route (the URL rule, not the path)",
    ["route"],
    buckets=WEBHOOK_BUCKETS,
)
TWIML_ERRORS = Counter(
    "hotline_twiml_errors",
    "Callers answered by the error path's TwiML: kind=error (a webhook failed), fallback (Twilio's fallback URL)",
    ["kind"],
)
JOB_SECONDS = Histogram(
    "hotline_job_duration_seconds",
    "Time a job ran in a worker, by queue and job",
    ["queue", "job"],
    buckets=JOB_BUCKETS,
)
JOB_FAILURES = Counter(
    "hotline_job_failures", "Job runs that raised (RQ retries them), by queue and job", ["queue", "job"]
)


def multiprocess_dir() -> str | None:
    """PROMETHEUS_MULTIPROC_DIR when set: the processes of this node share their metrics there."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or os.environ.get("prometheus_multiproc_dir") or None


def authorized(expected: str, header: str | None) -> bool:
    """Whether an Authorization header carries the bearer token (compared in constant time)."""
    scheme, _, given = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not given:
        return False
    return hmac.compare_digest(given.strip().encode(), expected.encode())


def render_process_metrics() -> bytes:
    """This process's metrics, or every process's of the node in multiprocess mode."""
    path = multiprocess_dir()
    if path is None:
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=path)  # type: ignore[no-untyped-call]
    return generate_latest(registry)


class StateCollector(Collector):
    """Gauges read from the app's database and Redis when scraped, cached for CACHE_SECONDS."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self._lock = threading.Lock()
        self._at = -CACHE_SECONDS
        self._families: list[Metric] = []

    def collect(self) -> Iterable[Metric]:
        with self._lock:
            if time.monotonic() - self._at >= CACHE_SECONDS:
                self._families = list(self._read())
                self._at = time.monotonic()
            return list(self._families)

    def _read(self) -> Iterator[Metric]:
        # The app's own engine and Redis connection, not the `db`/`queues` proxies: no app
        # context is pushed (popping one would end the scraping request's session).
        up = GaugeMetricFamily("hotline_state_source_up", "1 if the source answered this scrape", labels=["source"])
        try:
            yield from self._database()
            up.add_metric(["database"], 1)
        except Exception as exc:  # noqa: BLE001 - a scrape must not fail because one source did
            log.warning("metrics: the database did not answer: %s", type(exc).__name__)
            up.add_metric(["database"], 0)
        try:
            yield from self._redis()
            up.add_metric(["redis"], 1)
        except Exception as exc:  # noqa: BLE001
            log.warning("metrics: Redis did not answer: %s", type(exc).__name__)
            up.add_metric(["redis"], 0)
        yield up

    def _database(self) -> list[Metric]:
        from hotline.appstate import state_of
        from hotline.extensions import DATABASE

        found: list[Metric] = []
        with state_of(DATABASE, self.app).engine.connect() as conn:
            calls = conn.scalar(select(func.count()).select_from(Call).where(Call.status == CallStatus.IN_PROGRESS))
            gauge = GaugeMetricFamily("hotline_calls_in_progress", "Calls whose final status has not come yet")
            gauge.add_metric([], float(calls or 0))
            found.append(gauge)

            recordings = GaugeMetricFamily(
                "hotline_recordings", "Recordings per pipeline stage and state", labels=["stage", "state"]
            )
            dead = 0
            for state, count in conn.execute(
                select(Recording.fetch_state, func.count()).group_by(Recording.fetch_state)
            ):
                recordings.add_metric(["fetch", state], count)
                dead += count if state == FetchState.DEAD else 0
            transcripts = select(Recording.transcript_state, func.count()).where(
                Recording.fetch_state == FetchState.STORED
            )
            for state, count in conn.execute(transcripts.group_by(Recording.transcript_state)):
                recordings.add_metric(["transcribe", state], count)
            found.append(recordings)
            letters = GaugeMetricFamily("hotline_dead_letters", "Recordings given up on (see `flask reports dead`)")
            letters.add_metric([], dead)
            found.append(letters)

            # Gauges, not counters: a failed notice that the sweep sends later moves from
            # "failed" to "sent", and retention deletes old rows.
            notices = GaugeMetricFamily(
                "hotline_notices",
                "Notices to agencies' contacts in the database, by channel and status",
                labels=["channel", "status"],
            )
            grouped = select(Notification.channel, Notification.status, func.count())
            for channel, status, count in conn.execute(grouped.group_by(Notification.channel, Notification.status)):
                notices.add_metric([channel, status], count)
            found.append(notices)

            escalations = GaugeMetricFamily(
                "hotline_escalations",
                "Escalations in the database: steps down agencies' contact chains for want of an acknowledgement",
            )
            escalations.add_metric([], float(conn.scalar(select(func.coalesce(func.sum(Assignment.level), 0))) or 0))
            found.append(escalations)

            oldest = conn.scalar(
                select(func.min(Assignment.created_at))
                .join(Report, Report.id == Assignment.report_id)
                .where(
                    Report.urgency == Urgency.CRITICAL,
                    Assignment.acknowledged_at.is_(None),
                    Report.status.not_in([*SETTLED_STATUSES, ReportStatus.IN_CALL]),
                )
            )
            age = GaugeMetricFamily(
                "hotline_oldest_unacknowledged_critical_seconds",
                "Age of the oldest critical report an agency has not acknowledged (0: none)",
            )
            age.add_metric([], _age(oldest))
            found.append(age)
        return found

    def _redis(self) -> list[Metric]:
        from hotline.extensions import queues_of

        redis = queues_of(self.app).redis
        depth = GaugeMetricFamily("hotline_queue_depth", "Jobs waiting in each queue", labels=["queue"])
        failed = GaugeMetricFamily(
            "hotline_queue_failed_jobs", "Jobs that failed for good (RQ's retries spent), per queue", labels=["queue"]
        )
        with redis.pipeline(transaction=False) as pipe:
            for name in QUEUE_NAMES:
                pipe.llen(f"rq:queue:{name}")
                pipe.zcard(FailedJobRegistry(name, connection=redis).key)
            answers = pipe.execute()
        for i, name in enumerate(QUEUE_NAMES):
            depth.add_metric([name], answers[2 * i])
            failed.add_metric([name], answers[2 * i + 1])
        return [depth, failed]


def _age(oldest: datetime | None) -> float:
    if oldest is None:
        return 0.0
    aware = oldest if oldest.tzinfo else oldest.replace(tzinfo=UTC)
    return max(0.0, (datetime.now(UTC) - aware).total_seconds())


def state_registry(app: Flask) -> CollectorRegistry:
    """A registry of the app's own, holding only its StateCollector (built once per app)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StateCollector(app))
    return registry


def worker_metrics_app(token: str) -> Callable[[dict[str, Any], Any], Iterable[bytes]]:
    """A WSGI app serving this process's (or node's) metrics at /metrics behind the bearer token."""

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != "/metrics":
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found\n"]
        if not authorized(token, environ.get("HTTP_AUTHORIZATION")):
            start_response("401 Unauthorized", [("Content-Type", "text/plain"), ("WWW-Authenticate", "Bearer")])
            return [b"a bearer token is required\n"]
        start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST)])
        return [render_process_metrics()]

    return app


class _QuietHandler(WSGIRequestHandler):
    timeout = 10  # a connection that sends nothing is dropped, not kept for ever

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per scrape every 15 s is noise


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("worker metrics: a connection from %s failed", client_address[0], exc_info=True)


def serve_worker_metrics(port: int, token: str, host: str = "0.0.0.0") -> WSGIServer | None:  # noqa: S104
    """Serve /metrics from a daemon thread of a worker (HOTLINE_WORKER_METRICS_PORT); None without a token."""
    if not token:
        log.warning("HOTLINE_WORKER_METRICS_PORT is set but HOTLINE_METRICS_TOKEN is not: no metrics port")
        return None
    # A thread per connection: one idle client (the port may face a whole network) must not
    # stop Prometheus's scrapes, as it would on wsgiref's one-at-a-time server.
    server = make_server(
        host, port, worker_metrics_app(token), server_class=_ThreadingServer, handler_class=_QuietHandler
    )
    threading.Thread(target=server.serve_forever, daemon=True, name="worker-metrics").start()
    log.info("worker metrics on port %s", port)
    return server
