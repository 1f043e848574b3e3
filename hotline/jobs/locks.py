"""Job locks: one run at a time of a given job, even when a presumed-dead run is still alive."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from redis.exceptions import LockError, RedisError
from redis.lock import Lock

from hotline.extensions import queues

log = logging.getLogger("workers")


class Busy(RuntimeError):
    """Another run of the same job holds its lock; raised so RQ (or the sweep) retries later."""


class Held:
    """A job lock kept alive by a thread for as long as the job runs.

    The lock expires after `pipeline.liveness_seconds`, so a SIGKILLed worker frees its
    recording within seconds instead of the job timeout; a live run renews it four times per
    period. A renewal can miss (the recogniser holds Python's GIL while it decodes a piece of
    audio; Redis unreachable for longer than the TTL), and then a twin may take the lock:
    `check`, called just before writing, re-takes a lock nobody else took and otherwise
    stops this run, so two runs never write the same objects at once.
    """

    def __init__(self, lock: Lock, ttl: int) -> None:
        self.lock, self.ttl = lock, ttl
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew, daemon=True, name=f"renew-{lock.name}")

    def _renew(self) -> None:
        warned = False
        while not self._stop.wait(max(1.0, self.ttl / 4)):
            try:
                self.lock.reacquire()  # back to the full TTL, only if the token is still ours
                warned = False
            except LockError:  # it lapsed: take it back if nobody else has (see check)
                if not self._retake() and not warned:
                    log.warning("lock %s lapsed and was taken by another run", self.lock.name)
                    warned = True
            except (RedisError, OSError) as exc:  # keep trying: the TTL may not have run out yet
                if not warned:
                    log.warning("could not renew lock %s: %s", self.lock.name, exc)
                    warned = True

    def _retake(self) -> bool:
        token = self.lock.local.token
        return token is not None and self.lock.acquire(blocking=False, token=token)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def check(self) -> None:
        """Raise Busy unless this run holds the lock now (re-taking it if it lapsed unclaimed)."""
        try:
            held = self.lock.owned() or self._retake()
        except (RedisError, OSError) as exc:  # unknowable: a twin may hold it; write nothing
            raise Busy(f"{self.lock.name} cannot be confirmed: {exc}") from exc
        if not held:
            raise Busy(f"{self.lock.name} was taken over by another run")


@contextmanager
def exclusive(name: str) -> Iterator[Held]:
    """Hold a Redis lock on `name` for the length of a job, or raise Busy.

    A job presumed abandoned is queued again (see Queues.enqueue_once) while its first run
    may still be alive; two runs writing the same encrypted object could leave a payload
    sealed under the other run's data key. The lock is short-lived and renewed while the
    job runs (see Held), so a killed worker never blocks its job for long.
    """
    # Not thread-local: the renewing thread must see the token the job's thread acquired.
    lock = queues.redis.lock(f"lock:{name}", timeout=queues.liveness, blocking=False, thread_local=False)
    if not lock.acquire():
        raise Busy(f"{name} is being run by another worker")
    held = Held(lock, queues.liveness)
    held.start()
    try:
        yield held
    finally:
        held.stop()
        try:
            lock.release()
        except (LockError, RedisError) as exc:  # expired, or Redis went away: the work is done
            log.warning("lock %s not released cleanly: %s", name, exc)
