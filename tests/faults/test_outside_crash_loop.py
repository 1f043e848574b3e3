"""From the outside attack: a recording whose transcription kills the worker every time (a decoder
crash or the OOM killer), not just once as in the fault suite."""

from __future__ import annotations

import signal
from pathlib import Path

from sqlalchemy import select

from hotline.extensions import db
from hotline.models import Recording, Report
from tests.faults.conftest import Hotline
from tests.faults.harness import place_safe_schools_call
from tests.worker.conftest import Workers, long_wav, wait_for


def _attempts(line: Hotline) -> int:
    with line.app.app_context():
        n = db.session.scalar(select(Recording.transcript_attempts)) or 0
        db.session.rollback()
        return int(n)


def _state(line: Hotline) -> tuple[str, bool]:
    with line.app.app_context():
        rec = db.session.scalars(select(Recording)).one()
        report = db.session.scalars(select(Report)).one()
        out = (rec.transcript_state, report.routed_at is not None)
        db.session.rollback()
        return out


def test_transcription_that_kills_every_worker_is_given_up(hotline: Hotline, tmp_path: Path) -> None:
    clip = tmp_path / "answer.wav"
    clip.write_bytes(long_wav(20))
    place_safe_schools_call(hotline.url, hotline.fake, clips=[clip])
    limit = 3  # pipeline.transcribe_attempts (default)
    group = Workers(hotline.app, tmp_path, hotline.fake)
    try:
        for k in range(1, limit + 1):
            proc = group.start()
            wait_for(f"transcription attempt {k} starts", lambda k=k: _attempts(hotline) >= k, within=90)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
        # Every allowed attempt died with its worker. A fresh worker must not decode it again
        # (the next crash would follow): mark it failed and route the report.
        group.start()
        wait_for(
            "the recording is given up or decoded again",
            lambda: _attempts(hotline) > limit or _state(hotline)[0] != "none",
            within=90,
        )
        state, routed = _state(hotline)
        assert _attempts(hotline) <= limit, f"decoding started again: attempt {_attempts(hotline)} of {limit}"
        assert state == "failed" and routed
    finally:
        group.close()


def _fetch_attempts(line: Hotline) -> int:
    with line.app.app_context():
        n = db.session.scalar(select(Recording.attempts)) or 0
        db.session.rollback()
        return int(n)


def test_download_that_kills_every_worker_is_given_up(hotline: Hotline, tmp_path: Path) -> None:
    """The same with the download (an OOM kill on a huge body, say): a report whose recording
    can never be fetched must still be routed, not held for ever."""
    place_safe_schools_call(hotline.url, hotline.fake, answers=1)
    limit = 4  # pipeline.fetch_attempts in the fault suite's settings
    hotline.fake.delay_next("/Recordings/RE", seconds=120, times=limit + 2)
    group = Workers(hotline.app, tmp_path, hotline.fake)
    try:
        for k in range(1, limit + 1):
            proc = group.start()
            wait_for(f"download attempt {k} starts", lambda k=k: _fetch_attempts(hotline) >= k, within=90)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
        group.start()
        wait_for(
            "the recording is given up or fetched again",
            lambda: _fetch_attempts(hotline) > limit or _state(hotline)[1],
            within=90,
        )
        assert _fetch_attempts(hotline) <= limit, (
            f"download started again: attempt {_fetch_attempts(hotline)} of {limit}"
        )
    finally:
        group.close()
