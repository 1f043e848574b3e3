"""The long-running worker: RQ's SimpleWorker kept alive through Redis outages, proving it lives.

RQ's own loop retries a lost connection only while it waits for a job; an error while a job
runs, or while it records the job's result, ends `work()`, and its scheduler process dies
with the connection. So the worker here is restarted by a supervising loop (waiting for
Redis with a growing, capped delay), the scheduler and the sweep ticker run in a thread that
shrugs off Redis errors, and the outage is logged once when it starts and once when it ends.

That thread also renews the worker's RQ heartbeat with a short TTL
(`pipeline.liveness_seconds`): a SimpleWorker otherwise beats only between jobs, with a
TTL of the job timeout, so a killed worker would look alive for ten minutes and its jobs
would not be run again until then (see Queues.worker_alive).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from typing import Any

import redis
import structlog
from flask import Flask
from rq import Queue, SimpleWorker
from rq.exceptions import StopRequested
from rq.job import Job
from rq.scheduler import RQScheduler

from hotline.extensions import queues_of, runtime
from hotline.jobs.declarations import SWEEP, check_all
from hotline.ops import requestid
from hotline.ops.metrics import serve_worker_metrics
from hotline.queueing import QUEUE_NAMES, Queues

log = logging.getLogger("hotline.worker")
# Waits between attempts to reach Redis again: growing, then capped.
FIRST_WAIT, MAX_WAIT = 0.5, 15.0
REDIS_ERRORS = (redis.RedisError, OSError)


class Outage:
    """Log a Redis outage once when first noticed and once when Redis answers again."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._since: float | None = None

    @property
    def down(self) -> bool:
        return self._since is not None

    def failed(self, error: object) -> None:
        with self._lock:
            if self._since is None:
                self._since = time.monotonic()
                log.warning("Redis is unavailable (%s): waiting for it; work resumes when it is back", error)

    def recovered(self) -> None:
        with self._lock:
            if self._since is not None:
                log.warning("Redis is back after %.0f s: processing resumes", time.monotonic() - self._since)
                self._since = None


class QuietRedisRetries(logging.Filter):
    """Turn RQ's log lines about a lost connection (one per retry) into the one Outage line."""

    def __init__(self, outage: Outage) -> None:
        super().__init__()
        self.outage = outage

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        message = record.getMessage()
        if isinstance(error, REDIS_ERRORS) or "connect to Redis" in message or "Redis connection timeout" in message:
            # RQ's line: "Worker W: could not connect to Redis instance: ERROR retrying in N seconds..."
            self.outage.failed(error or message.split("instance: ", 1)[-1].split(" retrying in ", 1)[0])
            return False
        return True


class TracedWorker(SimpleWorker):
    """A SimpleWorker whose log lines about a job (RQ's "Job OK" too) carry the job's request id."""

    def execute_job(self, job: Job, queue: Queue) -> None:
        with structlog.contextvars.bound_contextvars(**requestid.job_context(job)):
            super().execute_job(job, queue)


class LiveWorker(TracedWorker):
    """A SimpleWorker whose heartbeat expires after `liveness` seconds instead of minutes."""

    liveness = 30
    # RQ's own wait between reconnection attempts while idle (60 s by default).
    max_connection_wait_time = MAX_WAIT

    def heartbeat(self, timeout: int | None = None, pipeline: Any = None) -> None:
        # Every heartbeat RQ sends, including the one at the start of a job (TTL: the job
        # timeout plus a minute), gets the short TTL; Housekeeper renews it during jobs.
        super().heartbeat(self.liveness, pipeline=pipeline)


class Housekeeper(threading.Thread):
    """Renew the worker's heartbeat, move due retries onto their queues, queue the sweep.

    Runs every second and survives any Redis error, so all three resume by themselves
    after an outage.
    """

    def __init__(self, queues: Queues, worker: LiveWorker, sweep_every: int, outage: Outage) -> None:
        super().__init__(daemon=True, name="worker-housekeeper")
        # This thread has no app context: it is given the app's queues.
        self.queues, self.worker, self.sweep_every, self.outage = queues, worker, sweep_every, outage
        self.stop = threading.Event()
        # RQ's scheduler (retries with a delay, enqueue_in), run here rather than in the
        # separate process `work(with_scheduler=True)` starts, which dies with the connection.
        self.scheduler = RQScheduler(list(QUEUE_NAMES), connection=queues.redis)
        self._swept_slot = -1

    def run(self) -> None:
        while True:
            try:
                self.tick()
                self.outage.recovered()
            except REDIS_ERRORS as exc:
                self.outage.failed(exc)
            if self.stop.wait(1.0):
                return

    def tick(self) -> None:
        # EXPIRE, not RQ's heartbeat (HSET): it never re-creates the hash of a worker that
        # has registered its death.
        self.queues.redis.expire(self.worker.key, self.worker.liveness)
        scheduler = self.scheduler
        if not scheduler.acquired_locks or scheduler.should_reacquire_locks:
            scheduler.acquire_locks()  # type: ignore[no-untyped-call]
        if scheduler.acquired_locks:
            scheduler.heartbeat()  # type: ignore[no-untyped-call]
            scheduler.enqueue_scheduled_jobs()  # type: ignore[no-untyped-call]
        # The periodic sweep is queued here rather than by RQ's CronScheduler (rq.cron): that
        # runs as a process of its own whose loop ends at the first Redis error, keeps its
        # timing in memory, and gives each run a random job id, so every worker's scheduler
        # would queue its own sweep. Ours survives outages with this thread, and the id
        # `sweep-<interval number>` makes one sweep per interval however many workers run.
        slot = int(time.time()) // self.sweep_every
        if slot != self._swept_slot:
            enqueue_sweep(self.queues, self.sweep_every)
            self._swept_slot = slot

    def close(self) -> None:
        self.stop.set()
        self.join()
        try:
            self.scheduler.release_locks()  # type: ignore[no-untyped-call]
            self.scheduler.register_death()
        except REDIS_ERRORS:
            pass  # the locks expire by themselves


def enqueue_sweep(queues: Queues, interval: int) -> None:
    """Queue one sweep per interval; the id is the interval's number, so workers don't double it."""
    slot = int(time.time()) // interval
    SWEEP.enqueue_once(SWEEP.id(slot), on=queues)


def new_worker(queues: Queues, name: str | None, liveness: int) -> LiveWorker:
    # A given name gets a suffix of its own per worker: a worker killed and restarted under
    # the same name (a systemd unit's --name) would otherwise look alive to its old jobs,
    # which would then wait out the job timeout, and RQ refuses a second live worker's name.
    unique = f"{name}.{uuid.uuid4().hex[:8]}" if name else None
    worker = LiveWorker([queues.queue(n) for n in QUEUE_NAMES], connection=queues.redis, name=unique)
    worker.liveness = liveness
    return worker


def run_burst(app: Flask, sweep_every: int) -> None:
    """Drain the queues after one sweep, then return (no supervision: the caller re-runs it).

    A plain SimpleWorker: nothing renews a short heartbeat here, so it keeps RQ's long one
    (its jobs look alive until the job timeout, as before; their locks are still renewed).
    """
    check_all()  # a renamed job function fails here, not when its first job runs
    queues = queues_of(app)
    enqueue_sweep(queues, sweep_every)
    with app.app_context():
        TracedWorker([queues.queue(n) for n in QUEUE_NAMES], connection=queues.redis).work(
            burst=True, with_scheduler=True
        )


def run_forever(app: Flask, name: str | None, sweep_every: int, liveness: int) -> None:
    """Process jobs until SIGINT/SIGTERM, outliving any Redis outage."""
    check_all()  # a renamed job function fails here, not when its first job runs
    queues = queues_of(app)
    outage = Outage()
    quiet = QuietRedisRetries(outage)
    logging.getLogger("rq.worker").addFilter(quiet)
    settings = runtime.get(app).settings
    if settings.worker_metrics_port:
        serve_worker_metrics(settings.worker_metrics_port, settings.metrics_token)
    worker = new_worker(queues, name, liveness)
    housekeeper = Housekeeper(queues, worker, sweep_every, outage)
    housekeeper.start()
    wait = FIRST_WAIT
    try:
        while True:
            started = time.monotonic()
            try:
                with app.app_context():
                    worker.work()
            except REDIS_ERRORS as exc:  # RQ's clean-up (register_death) when Redis is down
                outage.failed(exc)
            except StopRequested:
                return
            if getattr(worker, "_shutdown_requested_date", None) is not None:
                return  # SIGINT/SIGTERM: RQ finished the current job and stopped
            if time.monotonic() - started > 60:
                wait = FIRST_WAIT  # it ran well for a while: this is a new problem
            # RQ gave up (it logged why, or Outage did): wait for Redis, then a fresh worker.
            try:
                wait = _wait_for_redis(queues, outage, wait)
            except StopRequested:  # RQ's signal handler, still installed, when idle
                return
            _forget(worker)
            worker = new_worker(queues, name, liveness)
            housekeeper.worker = worker
    finally:
        housekeeper.close()
        logging.getLogger("rq.worker").removeFilter(quiet)


def _wait_for_redis(queues: Queues, outage: Outage, wait: float) -> float:
    """Sleep, then ping until Redis answers, the delay doubling up to MAX_WAIT; return the next."""
    while True:
        time.sleep(wait)
        wait = min(wait * 2, MAX_WAIT)
        try:
            queues.redis.ping()
        except REDIS_ERRORS as exc:
            outage.failed(exc)
            continue
        outage.recovered()
        return wait


def _forget(worker: LiveWorker) -> None:
    """Mark a worker that quit dead, so that its jobs count as abandoned and its name is free."""
    try:
        worker.register_death()  # type: ignore[no-untyped-call]
    except REDIS_ERRORS:
        pass  # its heartbeat expires within `liveness` seconds anyway
