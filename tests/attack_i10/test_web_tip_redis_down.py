"""Attack: file a web tip while Redis is down. The page says it was received (rightly: it is in
the database), but its FINALIZE job could not be queued; a web tip has no call end, so the
sweep must pick up unrouted web tips by themselves, or no investigator would ever see it."""

from __future__ import annotations

from pathlib import Path

from rq import Queue
from sqlalchemy import select

from hotline import create_app
from hotline.extensions import db, queues
from hotline.models import Report
from hotline.pipeline import sweep
from hotline.queueing import DEFAULT
from tests.conftest import RedisServer, free_port, make_settings
from tests.tipweb.conftest import Tipster, tip_number_in
from tests.tipweb.test_submit import WEAPON_TIP


def test_a_web_tip_filed_while_redis_is_down_is_finalized_by_the_sweep(
    tmp_path: Path, database_url: str, redis_server: RedisServer
) -> None:
    down = create_app(make_settings(tmp_path / "down", database_url, f"redis://127.0.0.1:{free_port()}/0"))
    try:
        tipster = Tipster(down.test_client())
        tipster.get("/tip/safe_schools")
        tip = tip_number_in(tipster.post("/tip/safe_schools", WEAPON_TIP))
    finally:
        db.dispose()
    nowhere = f"http://127.0.0.1:{free_port()}"  # Twilio's API, for the sweep's recording check
    up = create_app(make_settings(tmp_path / "up", database_url, redis_server.url, twilio_api_base_url=nowhere))
    try:
        with up.app_context():
            rid = db.session.scalar(select(Report.id).where(Report.tip_number == tip))
            sweep.reconcile()
            jobs = Queue(DEFAULT, connection=queues.redis).job_ids
        assert any(job.startswith(f"finalize-{rid}-") for job in jobs), jobs
    finally:
        db.dispose()
