"""Real `flask worker` processes against a Redis server of the test's own, which it may kill."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
import wave
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask import Flask
from sqlalchemy import select

from hotline import create_app
from hotline.extensions import db, runtime
from hotline.models import Recording, Report
from tests.conftest import AUTH_TOKEN, ROOT, SAFE_SCHOOLS, RedisServer, TwilioClient, _clean, make_settings
from tests.pipeline.conftest import UTTERANCES
from tests.voice.driver import VoiceCall

# Short enough that a dead worker is noticed in seconds; the job timeout stays long, so a
# test that passes shows the job was not merely waited out.
PIPELINE = {"reconcile_seconds": 1, "liveness_seconds": 5, "job_timeout_seconds": 600, "fetch_attempts": 4}


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def wapp(tmp_path: Path, database_url: str, own_redis: RedisServer, fake_twilio: Any) -> Iterator[Flask]:
    settings = make_settings(
        tmp_path, database_url, own_redis.url, twilio_api_base_url=fake_twilio.base_url, pipeline=PIPELINE
    )
    _clean(database_url)
    yield create_app(settings)
    db.dispose()
    _clean(database_url)


class Workers:
    """`flask --app app worker` processes configured like the test's app; all killed at the end."""

    def __init__(self, app: Flask, tmp_path: Path, fake: Any) -> None:
        settings = runtime.get(app).settings
        config = yaml.safe_load((ROOT / "config.yaml").read_text())
        config["flows_dir"] = str(ROOT / "ivr_flows")
        config["pipeline"].update(PIPELINE)
        path = tmp_path / "worker-config.yaml"
        path.write_text(yaml.safe_dump(config))
        self.env = {
            **os.environ,
            "HOTLINE_CONFIG": str(path),
            "DATABASE_URL": settings.database_url,
            "REDIS_URL": settings.redis_url,
            "HOTLINE_PUBLIC_URL": settings.public_url,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "TWILIO_ACCOUNT_SID": settings.twilio_account_sid,
            "TWILIO_API_BASE_URL": fake.base_url,
            "HOTLINE_INSTANCE_PATH": settings.instance_path,
            "HOTLINE_STORAGE_PATH": settings.storage_path,
            "HOTLINE_SECRET_KEY": "x",
        }
        self.tmp_path = tmp_path
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        with open(self.tmp_path / f"worker-{len(self.procs)}.log", "wb") as log:  # the child keeps its copy
            argv = [sys.executable, "-m", "flask", "--app", "app", "worker"]
            proc = subprocess.Popen(argv, cwd=ROOT, env=self.env, stdout=log, stderr=log)
        self.procs.append(proc)
        return proc

    def log(self, index: int) -> str:
        return (self.tmp_path / f"worker-{index}.log").read_text(errors="replace")

    def stop(self, proc: subprocess.Popen[bytes]) -> int:
        """SIGTERM (warm shutdown), as systemd or Ctrl-C would; return the exit status."""
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


@pytest.fixture
def workers(wapp: Flask, tmp_path: Path, fake_twilio: Any) -> Iterator[Workers]:
    group = Workers(wapp, tmp_path, fake_twilio)
    yield group
    group.close()


def long_wav(seconds: float) -> bytes:
    """Utterances one after another, for a recording that takes the recogniser a while."""
    frames, params, total = b"", None, 0.0
    for path in sorted(UTTERANCES.glob("u*.wav")) * 4:
        with wave.open(str(path)) as w:
            params = w.getparams()
            frames += w.readframes(w.getnframes())
            total += w.getnframes() / w.getframerate()
        if total >= seconds:
            break
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        assert params is not None
        w.setparams(params)
        w.writeframes(frames)
    return out.getvalue()


def one_recording_call(app: Flask, fake: Any, audio: bytes) -> VoiceCall:
    """A Safe Schools call (drugs) with one recorded answer, hung up."""
    call = VoiceCall(TwilioClient(app.test_client(), AUTH_TOKEN), SAFE_SCHOOLS, media_base=fake.base_url)
    call.on_record = lambda sid: fake.add_recording(fake.account_sid, sid, audio)
    call.start()
    call.press("1")
    call.press("2")
    call.answer("#")
    call.hang_up()
    return call


def clip(name: str = "u03.wav") -> bytes:
    return (UTTERANCES / name).read_bytes()


def recording(app: Flask) -> tuple[Recording, Report]:
    with app.app_context():
        rec = db.session.scalars(select(Recording)).one()
        report = db.session.scalars(select(Report)).one()
        db.session.expunge_all()
        return rec, report


def wait_for(what: str, done: Callable[[], bool], within: float = 120) -> None:
    """Poll state until `done`; the bound only keeps a broken run from hanging the suite."""
    deadline = time.monotonic() + within
    while not done():
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.2)
