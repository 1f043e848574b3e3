"""From the outside attack: workers run under systemd with a stable `--name` (one per unit). A worker
SIGKILLed mid-download is restarted under the same name: does its job still get re-run in
seconds (issue 8 item 4), or does the new process's heartbeat make the old job look alive
until the job timeout (600 s)?"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import select

from hotline.extensions import db
from hotline.models import Recording
from tests.conftest import ROOT
from tests.faults.conftest import Hotline
from tests.faults.harness import place_safe_schools_call
from tests.worker.conftest import Workers, wait_for


def _stored(line: Hotline) -> bool:
    with line.app.app_context():
        states = set(db.session.scalars(select(Recording.fetch_state)))
        db.session.rollback()
        return states == {"stored"}


def test_named_worker_restarted_after_sigkill_rereuns_its_job_in_seconds(hotline: Hotline, tmp_path: Path) -> None:
    place_safe_schools_call(hotline.url, hotline.fake, answers=1)
    hotline.fake.delay_next("/Recordings/RE", seconds=60)  # the first download hangs
    group = Workers(hotline.app, tmp_path, hotline.fake)

    def start() -> subprocess.Popen[bytes]:
        log = open(tmp_path / f"named-{len(group.procs)}.log", "wb")
        argv = [sys.executable, "-m", "flask", "--app", "app", "worker", "--name", "hotline-worker-1"]
        proc = subprocess.Popen(argv, cwd=ROOT, env=group.env, stdout=log, stderr=log)
        group.procs.append(proc)
        return proc

    try:
        first = start()
        wait_for("a download starts", lambda: any("/Recordings/RE" in p for _, p in hotline.fake.requests_log))
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        killed_at = time.monotonic()
        time.sleep(1)  # systemd: Restart=always, RestartSec=1
        second = start()
        time.sleep(8)
        if second.poll() is not None:  # refused: "an active worker named ... already"
            second = start()  # systemd tries again
        wait_for("the recording is stored", lambda: _stored(hotline), within=120)
        print(f"stored {time.monotonic() - killed_at:.0f}s after the kill")
    finally:
        group.close()
