"""`flask reports export` and the Alembic migrations."""

from __future__ import annotations

import json

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask

from hotline.cli.database import alembic_config
from hotline.db import make_engine
from hotline.models import Base
from tests.conftest import SAFE_SCHOOLS, TwilioClient
from tests.voice.driver import CALLER, VoiceCall


def test_export_lists_reports_without_identity(app: Flask, twilio: TwilioClient) -> None:
    call = VoiceCall(twilio, SAFE_SCHOOLS)
    call.start()
    call.press("1")
    call.press("2")
    call.answer("#", duration=11)
    call.hang_up()
    result = app.test_cli_runner().invoke(args=["reports", "export", "--format", "json"])
    assert result.exit_code == 0, result.output
    reports = json.loads(result.output)
    assert len(reports) == 1
    report = reports[0]
    assert report["id"].startswith("R-20") and report["hotline"] == "safe_schools"
    assert (report["status"], report["urgency"], report["language"]) == ("new", "high", "en")
    assert report["keypad"] == {"topic": "drugs"}
    [question] = report["questions"]
    assert question["key"] == "problem" and question["duration"] == 11 and question["state"] == "completed"
    assert question["recording_sid"] == call.recordings[0]
    assert report["timeline"][0]["event"] == "call_started"
    assert CALLER not in result.output and "JANE" not in result.output


def test_migrations_have_one_head_and_match_the_models(database_url: str) -> None:
    script = ScriptDirectory.from_config(alembic_config(database_url))
    assert len(script.get_heads()) == 1
    engine = make_engine(database_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == []
