"""Never lose a report: a worker killed mid-job, Redis down during a call."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import redis
import yaml
from flask import Flask
from sqlalchemy import select

from hotline import create_app
from hotline.extensions import db, queues, runtime
from hotline.models import Assignment, Recording, Report
from tests.conftest import AUTH_TOKEN, ROOT, SAFE_SCHOOLS, RedisServer, TwilioClient, _clean, make_settings
from tests.pipeline.conftest import UTTERANCES, run_jobs
from tests.voice.driver import VoiceCall
from workers.sweeps import sweep


def worker_process(app: Flask, tmp_path: Path, fake: Any) -> subprocess.Popen[bytes]:
    """Start `flask --app app worker` as its own process, configured like `app`."""
    settings = runtime.get(app).settings
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    config["flows_dir"] = str(ROOT / "ivr_flows")
    config["pipeline"]["reconcile_seconds"] = 3600  # the test runs the sweep itself
    path = tmp_path / "worker-config.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {
        **os.environ,
        "HOTLINE_CONFIG": str(path),
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": queues.url,
        "HOTLINE_PUBLIC_URL": settings.public_url,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_ACCOUNT_SID": settings.twilio_account_sid,
        "TWILIO_API_BASE_URL": fake.base_url,
        "HOTLINE_INSTANCE_PATH": settings.instance_path,
        "HOTLINE_STORAGE_PATH": settings.storage_path,
        "HOTLINE_SECRET_KEY": "x",
        "HOTLINE_AUDIT_KEY": "a" * 32,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "app", "worker"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def one_recording_call(app: Flask, fake: Any, clip: str = "u03.wav") -> VoiceCall:
    call = VoiceCall(TwilioClient(app.test_client(), AUTH_TOKEN), SAFE_SCHOOLS, media_base=fake.base_url)
    call.on_record = lambda sid: fake.add_recording(fake.account_sid, sid, (UTTERANCES / clip).read_bytes())
    call.start()
    call.press("1")
    call.press("2")
    call.answer("#")
    call.hang_up()
    return call


def test_a_worker_killed_mid_job_leaves_one_stored_recording(papp: Flask, fake_twilio: Any, tmp_path: Path) -> None:
    fake_twilio.delay_next("/Recordings/", seconds=30)
    one_recording_call(papp, fake_twilio)
    worker = worker_process(papp, tmp_path, fake_twilio)
    try:
        deadline = time.monotonic() + 60
        while not any(m == "GET" and "/Recordings/" in p for m, p in fake_twilio.requests_log):
            assert time.monotonic() < deadline, "the worker never started the download"
            time.sleep(0.1)
        worker.send_signal(signal.SIGKILL)  # in the middle of the download
        worker.wait(timeout=10)
    finally:
        if worker.poll() is None:
            worker.kill()
    fake_twilio.clear_faults()
    with papp.app_context():
        rec = db.session.scalars(select(Recording)).one()
        assert rec.fetch_state != "stored"
    queues.stale_after = 0  # the dead worker's job counts as abandoned at once
    # ...and its lock, which would expire after the same time (the job timeout), goes too.
    with papp.app_context():
        lock = f"lock:fetch-{rec.recording_sid}"
        assert queues.redis.exists(lock)  # the killed run held it: a twin could not interleave
        queues.redis.delete(lock)
    with papp.app_context():
        assert sweep()["enqueued"] >= 1
    run_jobs(papp)
    with papp.app_context():
        [rec] = db.session.scalars(select(Recording)).all()
        assert rec.fetch_state == "stored" and rec.transcript_state == "done"
        agencies = sorted(db.session.scalars(select(Assignment.agency_id)))
        assert agencies == ["drug_task_force", "safe_schools_unit"]  # drugs, no district chosen
    stored = [p for p in Path(runtime.get(papp).settings.storage_path).rglob("*.wav")]
    assert len(stored) == 1


def test_redis_down_during_calls_then_back(tmp_path: Path, database_url: str, fake_twilio: Any) -> None:
    server = RedisServer(tmp_path)
    server.start()
    settings = make_settings(tmp_path, database_url, server.url, twilio_api_base_url=fake_twilio.base_url)
    _clean(database_url)
    app = create_app(settings)
    try:
        one_recording_call(app, fake_twilio, "u01.wav")  # queued while Redis is up
        server.stop()  # Redis dies, taking its queue with it (no persistence in this test)
        call = one_recording_call(app, fake_twilio, "u02.wav")  # the call still works
        with app.app_context():
            states = sorted(db.session.scalars(select(Recording.fetch_state)))
            assert states == ["pending", "pending"]
        server.start()
        with app.app_context():
            assert sweep()["enqueued"] >= 2
        run_jobs(app)
        with app.app_context():
            assert sorted(db.session.scalars(select(Recording.fetch_state))) == ["stored", "stored"]
            assert all(r.routed_at for r in db.session.scalars(select(Report)))
        assert call.call_sid
    finally:
        db.dispose()
        _clean(database_url)
        if server.proc is not None:
            redis.Redis.from_url(server.url).flushall()
        server.stop()
