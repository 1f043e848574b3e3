"""The benchmarks start as the README says (`python bench/<name>.py`), from the project root.

Running a script puts bench/ first on sys.path, where bench/queue.py would shadow the stdlib
`queue` that redis imports; each script must take itself out of the way before importing.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from hotline.extensions import db
from hotline.models import Call, Report
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, PUBLIC_URL

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted(p.name for p in (ROOT / "bench").glob("*.py") if "argparse" in p.read_text())


@pytest.mark.bench
@pytest.mark.parametrize("script", SCRIPTS)
def test_bench_script_starts_and_explains_itself(script: str) -> None:
    done = subprocess.run(
        [sys.executable, f"bench/{script}", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("usage:")


def test_every_benchmark_is_checked() -> None:
    assert {"webhooks.py", "pipeline.py", "queue.py", "transcription.py"} <= set(SCRIPTS)


def test_the_pipeline_benchmark_places_calls_with_the_simulators_driver(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """bench/pipeline.py drives its calls in process with the simulator's driver: one whole
    Safe Schools call (every question skipped) ends as a report, as a caller's would."""
    from bench import pipeline

    monkeypatch.setattr(pipeline, "AUTH_TOKEN", AUTH_TOKEN)
    monkeypatch.setattr(pipeline, "ACCOUNT_SID", ACCOUNT_SID)
    monkeypatch.setattr(pipeline, "PUBLIC_URL", PUBLIC_URL)
    placed = pipeline.Twilio(app, "http://127.0.0.1:9").place_call([], [], topic="6", district="3", hang_up=True)
    with app.app_context():
        call = db.session.scalar(select(Call).where(Call.call_sid == placed.call_sid))
        assert call is not None and call.status == "completed"
        report = db.session.get(Report, call.report_id)
        assert report is not None and report.keypad == {"district": "riverbend", "topic": "other"}
