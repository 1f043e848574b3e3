"""The README's first command: the dev server runs web + worker on embedded defaults, and a
simulated call placed with `flask simulate` becomes a stored, routed report."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests
import yaml

from tests.conftest import ROOT, free_port


def test_make_run_serves_calls_and_the_worker_routes_them(tmp_path: Path) -> None:
    port, api_port = free_port(), free_port()
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    config.update(
        flows_dir=str(ROOT / "ivr_flows"),
        public_url=f"http://127.0.0.1:{port}",
        instance_path=str(tmp_path / "instance"),
        storage_path=str(tmp_path / "instance" / "storage"),
        database_url=f"sqlite:///{tmp_path / 'instance' / 'hotline.db'}",
    )
    config["pipeline"]["reconcile_seconds"] = 1
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOTLINE_", "TWILIO_", "DATABASE_", "REDIS_"))}
    env.update(HOTLINE_CONFIG=str(tmp_path / "config.yaml"), TWILIO_API_BASE_URL=f"http://127.0.0.1:{api_port}")
    server = subprocess.Popen(
        [sys.executable, "-m", "hotline.devserver"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.post(f"http://127.0.0.1:{port}/voice/incoming", timeout=2).status_code == 403:
                    break  # up, and refusing unsigned requests
            except (requests.ConnectionError, requests.Timeout):
                pass  # not listening yet, or its workers are still starting (a cold first run)
            assert server.poll() is None, server.stdout.read() if server.stdout else ""
            assert time.monotonic() < deadline, "the dev server did not start"
            time.sleep(0.3)
        simulate = subprocess.run(
            [
                sys.executable,
                "-m",
                "flask",
                "--app",
                "app",
                "simulate",
                "safe_schools",
                "--keys",
                "1,-,1,3,9,#",
                "--say",
                str(ROOT / "tests" / "data" / "utterances" / "u01.wav"),
                "--wait",
                "60",
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert simulate.returncode == 0, simulate.stdout + simulate.stderr
        assert "fetched by the app: 1" in simulate.stdout
        routed = None
        while time.monotonic() < deadline + 60:
            export = subprocess.run(
                [sys.executable, "-m", "flask", "--app", "app", "reports", "export"],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            reports = json.loads(export.stdout)
            if reports and any(e["event"] == "notified" for e in reports[0]["timeline"]):
                routed = reports[0]
                break
            time.sleep(0.5)
        assert routed is not None, "the worker never routed the report"
        assert routed["urgency"] == "critical" and routed["questions"][0]["pipeline"] == "stored"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        output, _ = server.communicate(timeout=30)
    assert "demo investigator" in output and "TOTP secret" in output
    assert server.returncode == 0
    # Everything it started is gone: gunicorn, the worker and the embedded Redis.
    assert subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True).returncode == 1
