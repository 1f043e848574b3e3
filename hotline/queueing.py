"""Redis connection and RQ queues; jobs are enqueued only after their rows are committed."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import redis
from flask import Flask
from rq import Queue, Retry, SimpleWorker
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from hotline.embedded_redis import ensure_embedded_redis
from hotline.ops.requestid import job_meta

log = logging.getLogger(__name__)

CRITICAL, RECORDINGS, DEFAULT = "critical", "recordings", "default"
# Every queue a worker listens to, the most urgent first (RQ takes them in this order).
QUEUE_NAMES = (CRITICAL, RECORDINGS, DEFAULT)
_LIVE = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.DEFERRED, JobStatus.SCHEDULED}


class Queues:
    """One app's Redis connection and named queues (kept in `app.extensions`, one per app)."""

    def __init__(self) -> None:
        self._redis: redis.Redis | None = None
        self._configured = ""
        self._data_dir = Path("instance")
        self.stale_after = self.job_timeout = 600
        self.liveness = 30

    def init_app(self, app: Flask, url: str, data_dir: Path, stale_after: int = 600, liveness: int = 30) -> None:
        self._configured, self._data_dir, self._redis = url, data_dir, None
        self.stale_after = self.job_timeout = stale_after
        self.liveness = liveness

    @property
    def url(self) -> str:
        """The Redis URL, starting the embedded server on first use if configured so."""
        if self._configured == "embedded":
            return ensure_embedded_redis(self._data_dir / "redis")
        return self._configured

    @property
    def redis(self) -> redis.Redis:
        if self._redis is None:
            if not self._configured:
                raise RuntimeError("queues are not initialised; call init_app first")
            # A blocking pool waits for a free connection instead of failing under load.
            pool = redis.BlockingConnectionPool.from_url(
                self.url, max_connections=50, timeout=5, socket_timeout=5, socket_connect_timeout=2
            )
            self._redis = redis.Redis(connection_pool=pool)
        return self._redis

    def queue(self, name: str) -> Queue:
        return Queue(name, connection=self.redis)

    def enqueue_once(self, queue: str, func: str, job_id: str, *args: object, retry: Retry | None = None) -> bool:
        """Enqueue a job under a deterministic id unless that job is already waiting or running.

        A job marked started whose worker died (SIGKILL, power loss) would block its id for
        ever: one whose worker is gone (see `worker_alive`), or started longer ago than
        `stale_after` seconds, is taken to be abandoned. Every job is idempotent, so running
        it again is safe.
        """
        q = self.queue(queue)
        # Looked up by id alone: Queue.fetch_job ignores a job of another queue, and the same
        # job may have been queued on "critical" by one path and on "recordings" by another.
        try:
            existing: Job | None = Job.fetch(job_id, connection=self.redis)
        except NoSuchJobError:
            existing = None
        if existing is not None:
            status = existing.get_status(refresh=False)
            abandoned = status == JobStatus.STARTED and self._abandoned(existing)
            if status in _LIVE and not abandoned:
                return False
            # Removes it from whichever queue and registry still lists it.
            existing.delete()
        q.enqueue(
            func,
            *args,
            job_id=job_id,
            retry=retry,
            failure_ttl=30 * 86400,
            job_timeout=self.job_timeout,
            meta=job_meta(),  # the request id of the webhook (or job) that queued it, for its logs
        )
        return True

    def _abandoned(self, job: Job) -> bool:
        """Whether a started job's run is over: its worker is dead, or it outlived the timeout."""
        if job.worker_name and not self.worker_alive(job.worker_name):
            return True
        started = job.started_at
        if started is None:
            return False
        return (datetime.now(UTC) - started.replace(tzinfo=UTC)).total_seconds() > self.stale_after

    def worker_alive(self, name: str) -> bool:
        """Whether the RQ worker `name` still shows signs of life in Redis.

        RQ keeps a hash per worker whose expiry each heartbeat pushes back, and marks it
        `death` on a clean exit. A `SimpleWorker` beats only between jobs, with a TTL of the
        job timeout plus a minute, so our worker (hotline.worker_loop) renews it with a TTL of
        `pipeline.liveness_seconds` from a thread: a killed worker's hash is gone within
        that. A worker that does not do this keeps looking alive until RQ's own TTL runs out,
        which errs on the safe side (the job is not doubled, only re-run later).
        """
        key = SimpleWorker.redis_worker_namespace_prefix + name
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.exists(key)
            pipe.hexists(key, "death")
            exists, dead = pipe.execute()
        return bool(exists) and not dead

    def enqueue_now(self, queue: str, func: str, job_id: str, *args: object, retry: Retry | None = None) -> bool:
        """Enqueue in one Redis round trip, for webhooks; never fails the caller.

        Only called on a state change the database made exactly once (a recording becoming
        completed, a call ending), so no existence check is needed; the reconciler uses
        `enqueue_once` for everything else.
        """
        try:
            q = self.queue(queue)
            job = q.create_job(
                func,
                args=args,
                job_id=job_id,
                failure_ttl=30 * 86400,
                timeout=self.job_timeout,
                retry=retry,
                meta=job_meta(),  # the webhook's request id, for the job's log lines
            )
            with self.redis.pipeline() as pipe:
                q.enqueue_job(job, pipeline=pipe)
                pipe.execute()
            return True
        except (redis.RedisError, OSError):
            log.warning("Redis unavailable; job %s left pending for the reconciler", job_id)
            return False

    def try_enqueue_once(self, queue: str, func: str, job_id: str, *args: object, retry: Retry | None = None) -> bool:
        """Enqueue, but never fail the caller if Redis is down: the reconciler catches up."""
        try:
            return self.enqueue_once(queue, func, job_id, *args, retry=retry)
        except (redis.RedisError, OSError):
            log.warning("Redis unavailable; job %s left pending for the reconciler", job_id)
            return False
