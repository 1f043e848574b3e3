"""A real worker: the request id of the webhook reaches its JSON log lines, its job durations
reach /metrics through the multiprocess directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from hotline import create_app
from hotline.extensions import db, runtime
from hotline.models import Call
from tests.conftest import AUDIT_KEY, AUTH_TOKEN, PUBLIC_URL, ROOT, make_settings
from tests.ops.conftest import CALLER, TOKEN, call_params, new_call_sid, post_signed, scrape

pytestmark = pytest.mark.slow
REQUEST_ID = "webhook-req-000042"


def run_worker(app: Flask, tmp_path: Path, fake: Any, metrics_dir: Path) -> str:
    """`flask worker --burst` in a process of its own, configured like `app`; its log output."""
    settings = runtime.get(app).settings
    env = {
        **os.environ,
        "HOTLINE_CONFIG": str(ROOT / "config.yaml"),
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "HOTLINE_PUBLIC_URL": PUBLIC_URL,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_ACCOUNT_SID": settings.twilio_account_sid,
        "TWILIO_API_BASE_URL": fake.base_url,
        "HOTLINE_INSTANCE_PATH": settings.instance_path,
        "HOTLINE_STORAGE_PATH": settings.storage_path,
        "HOTLINE_SECRET_KEY": "x",
        "HOTLINE_AUDIT_KEY": AUDIT_KEY,
        "HOTLINE_LOG_FORMAT": "json",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }
    argv = [sys.executable, "-m", "flask", "--app", "app", "worker", "--burst"]
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stderr + done.stdout


def test_a_webhooks_request_id_and_job_durations_reach_the_worker(
    app: Flask, tmp_path: Path, fake_twilio: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = app.test_client()
    sid = new_call_sid()
    post_signed(client, "/voice/incoming", call_params(sid))
    ended = call_params(sid, CallStatus="completed", CallDuration="40")
    assert post_signed(client, "/voice/status", ended, request_id=REQUEST_ID).status_code == 204
    with app.app_context():
        report_id = db.session.query(Call).one().report_id
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()

    output = run_worker(app, tmp_path, fake_twilio, metrics_dir)

    lines = []
    for raw in output.splitlines():
        try:
            lines.append(json.loads(raw))
        except ValueError:
            continue
    assert lines, output[-2000:]
    job_id = f"finalize-{report_id}-call"
    traced = [line for line in lines if line.get("request_id") == REQUEST_ID]
    assert any(line.get("job_id") == job_id for line in traced), [line.get("event") for line in lines]
    # RQ's own line about the job's end carries it too (bound around the whole job).
    assert any("Job OK" in str(line.get("event")) and job_id in str(line.get("event")) for line in traced)
    assert CALLER not in output and CALLER[1:] not in output

    # The worker wrote its measurements to the shared directory: any process reads them.
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(metrics_dir))  # type: ignore[no-untyped-call]
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(generate_latest(registry).decode())
        for s in family.samples
    }
    assert samples[("hotline_job_duration_seconds_count", (("job", "finalize_report"), ("queue", "default")))] == 1
    assert samples[("hotline_job_duration_seconds_count", (("job", "sweep"), ("queue", "default")))] >= 1

    # And the web app's /metrics adds them up in multiprocess mode.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(metrics_dir))
    web = create_app(
        make_settings(
            tmp_path, runtime.get(app).settings.database_url, runtime.get(app).settings.redis_url, metrics_token=TOKEN
        )
    )
    scraped = scrape(web.test_client())
    assert scraped[("hotline_job_duration_seconds_count", (("job", "finalize_report"), ("queue", "default")))] == 1
    with web.app_context():
        db.dispose()
