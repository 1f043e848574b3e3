"""`flask worker`: run an RQ worker inside the app context, plus the periodic sweep."""

from __future__ import annotations

import logging
import threading
import time

import click
import redis
from flask import current_app
from flask.cli import with_appcontext
from rq import SimpleWorker

from hotline.extensions import queues, runtime
from hotline.queueing import QUEUE_NAMES

log = logging.getLogger(__name__)
SWEEP = "workers.sweeps.sweep"


def enqueue_sweep(interval: int) -> None:
    """Queue one sweep per interval; the id is the interval's number, so workers don't double it."""
    slot = int(time.time()) // interval
    queues.try_enqueue_once("default", SWEEP, f"sweep-{slot}")


def _ticker(interval: int, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            enqueue_sweep(interval)
        except (redis.RedisError, OSError) as exc:  # Redis down: try again next time
            log.warning("could not queue the sweep: %s", exc)
        stop.wait(interval)


@click.command("worker")
@click.option("--burst", is_flag=True, help="Drain the queues (after one sweep), then exit.")
@click.option("--name", default=None, help="Worker name (default: RQ's).")
@with_appcontext
def worker_command(burst: bool, name: str | None) -> None:
    """Process jobs from the critical, recordings and default queues until stopped."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    interval = runtime.get(app).settings.pipeline.reconcile_seconds
    # SimpleWorker runs jobs in this process: the app, its engine and the speech model are
    # loaded once instead of once per job (MEASURED.md: about 4x the jobs per second).
    worker = SimpleWorker([queues.queue(n) for n in QUEUE_NAMES], connection=queues.redis, name=name)
    stop = threading.Event()
    if burst:
        enqueue_sweep(interval)
    else:
        threading.Thread(target=_ticker, args=(interval, stop), daemon=True, name="sweep-ticker").start()
    try:
        with app.app_context():
            worker.work(burst=burst, with_scheduler=True)
    finally:
        stop.set()
