"""`flask worker`: run RQ workers inside the app context."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext
from rq import SimpleWorker

from hotline.extensions import queues
from hotline.queueing import QUEUE_NAMES


@click.command("worker")
@click.option("--burst", is_flag=True, help="Drain the queues, then exit.")
@click.option("--name", default=None, help="Worker name (default: RQ's).")
@with_appcontext
def worker_command(burst: bool, name: str | None) -> None:
    """Process jobs from the critical, recordings and default queues until stopped."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    # SimpleWorker runs jobs in this process: the app, its engine and the speech model are
    # loaded once instead of once per job (see MEASURED.md: 4x more jobs per second).
    worker = SimpleWorker([queues.queue(n) for n in QUEUE_NAMES], connection=queues.redis, name=name)
    with app.app_context():
        worker.work(burst=burst, with_scheduler=True)
