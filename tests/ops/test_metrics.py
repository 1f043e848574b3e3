"""/metrics: hidden without a token, refused with a wrong one; webhook, error and state metrics."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import requests
from flask import Flask
from flask.testing import FlaskClient

from hotline import create_app
from hotline.extensions import db, runtime
from tests.conftest import RedisServer, _clean, free_port, make_settings
from tests.ops.conftest import TOKEN, call_params, new_call_sid, post_signed, scrape

EXPECTED = (
    "hotline_webhook_duration_seconds",
    "hotline_twiml_errors_total",
    "hotline_job_duration_seconds",
    "hotline_job_failures_total",
    "hotline_calls_in_progress",
    "hotline_recordings",
    "hotline_dead_letters",
    "hotline_queue_depth",
    "hotline_queue_failed_jobs",
    "hotline_notices",
    "hotline_escalations",
    "hotline_oldest_unacknowledged_critical_seconds",
    "hotline_state_source_up",
)


@pytest.fixture
def mapp(tmp_path: Path, database_url: str, redis_server: RedisServer) -> Iterator[Flask]:
    """The test app with a metrics token."""
    redis.Redis.from_url(redis_server.url).flushall()
    _clean(database_url)
    application = create_app(make_settings(tmp_path, database_url, redis_server.url, metrics_token=TOKEN))
    yield application
    with application.app_context():
        db.dispose()
    _clean(database_url)


@pytest.fixture
def mclient(mapp: Flask) -> FlaskClient:
    return mapp.test_client()


def test_metrics_is_404_without_a_configured_token(client: FlaskClient) -> None:
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 404


def test_metrics_refuses_a_missing_or_wrong_token(mclient: FlaskClient) -> None:
    for header in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
        response = mclient.get("/metrics", headers=header)
        assert response.status_code == 401, header
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert b"hotline_" not in response.data


def test_metrics_lists_every_family(mclient: FlaskClient) -> None:
    response = mclient.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    text = response.get_data(as_text=True)
    for name in EXPECTED:
        assert f"# TYPE {name} " in text, name
    samples = scrape(mclient)
    assert samples[("hotline_state_source_up", (("source", "database"),))] == 1
    assert samples[("hotline_state_source_up", (("source", "redis"),))] == 1
    for queue in ("critical", "recordings", "default"):
        assert ("hotline_queue_depth", (("queue", queue),)) in samples


def test_a_signed_webhook_raises_its_routes_histogram_count(mclient: FlaskClient) -> None:
    key = ("hotline_webhook_duration_seconds_count", (("route", "/voice/incoming"),))
    before = scrape(mclient).get(key, 0.0)
    response = post_signed(mclient, "/voice/incoming", call_params(new_call_sid()))
    assert response.status_code == 200 and response.mimetype == "text/xml"
    after = scrape(mclient)
    assert after[key] == before + 1
    # The URL rule, not the path: a route with a parameter is one series.
    assert not any(name.startswith("hotline_webhook") and "/voice/input/1" in str(lbl) for name, lbl in after)


def test_a_fallback_answer_counts_as_a_twiml_error(mclient: FlaskClient) -> None:
    key = ("hotline_twiml_errors_total", (("kind", "fallback"),))
    before = scrape(mclient).get(key, 0.0)
    params = call_params(new_call_sid(), ErrorCode="11200", ErrorUrl="https://hotline.test/voice/incoming")
    response = post_signed(mclient, "/voice/fallback", params)
    assert response.status_code == 200 and b"<Record" in response.data
    assert scrape(mclient)[key] == before + 1


def test_calls_in_progress_and_queue_depth_come_from_the_database_and_redis(mapp: Flask) -> None:
    client = mapp.test_client()
    sid = new_call_sid()
    post_signed(client, "/voice/incoming", call_params(sid))
    samples = scrape(client)  # the first scrape of this app: nothing cached yet
    assert samples[("hotline_calls_in_progress", ())] == 1
    assert samples[("hotline_oldest_unacknowledged_critical_seconds", ())] == 0
    # The call ends: its report is queued for finalizing on the default queue.
    post_signed(client, "/voice/status", call_params(sid, CallStatus="completed", CallDuration="30"))
    # Scrapes are cached for a few seconds: a fresh app (a fresh collector) reads again.
    settings = runtime.get(mapp).settings
    fresh = create_app(
        make_settings(Path(mapp.instance_path).parent, settings.database_url, settings.redis_url, metrics_token=TOKEN)
    )
    later = scrape(fresh.test_client())
    assert later[("hotline_calls_in_progress", ())] == 0
    assert later[("hotline_queue_depth", (("queue", "default"),))] == 1
    with fresh.app_context():
        db.dispose()


def test_a_failing_webhook_counts_as_a_twiml_error(mclient: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from hotline.voice import calls

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("the database went away")  # an injected fault, not the code under test

    monkeypatch.setattr(calls, "create_call", broken)
    key = ("hotline_twiml_errors_total", (("kind", "error"),))
    before = scrape(mclient).get(key, 0.0)
    response = post_signed(mclient, "/voice/incoming", call_params(new_call_sid()))
    assert response.status_code == 200 and b"<Record" in response.data  # the caller still leaves a message
    assert scrape(mclient)[key] == before + 1


def test_a_workers_metrics_port_needs_the_token() -> None:
    from hotline.ops.metrics import JOB_SECONDS, serve_worker_metrics

    assert serve_worker_metrics(free_port(), "") is None  # no token: no port
    port = free_port()
    server = serve_worker_metrics(port, TOKEN, host="127.0.0.1")
    assert server is not None
    try:
        JOB_SECONDS.labels("default", "port_test_job").observe(0.2)
        url = f"http://127.0.0.1:{port}/metrics"
        assert requests.get(url, timeout=5).status_code == 401
        assert requests.get(url, headers={"Authorization": "Bearer nope"}, timeout=5).status_code == 401
        assert requests.get(f"http://127.0.0.1:{port}/other", timeout=5).status_code == 404
        good = requests.get(url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
        assert good.status_code == 200
        assert 'hotline_job_duration_seconds_count{job="port_test_job",queue="default"} 1.0' in good.text
    finally:
        server.shutdown()
        server.server_close()


def test_notices_escalations_and_the_oldest_unacknowledged_critical_report(mapp: Flask) -> None:
    from datetime import timedelta

    from hotline.models import Assignment, Notification, Report, utcnow

    with mapp.app_context():
        session = db.session
        long_ago = utcnow() - timedelta(minutes=10)
        critical = Report(hotline_id="safe_schools", tip_number="11112222", status="new", urgency="critical")
        normal = Report(hotline_id="safe_schools", tip_number="33334444", status="new", urgency="normal")
        session.add_all([critical, normal])
        session.flush()
        waiting = Assignment(
            report_id=critical.id, agency_id="riverbend_sd", created_at=long_ago, level=2, due_at=long_ago
        )
        acked = Assignment(
            report_id=normal.id, agency_id="riverbend_sd", level=1, due_at=long_ago, acknowledged_at=utcnow()
        )
        session.add_all([waiting, acked])
        session.flush()
        for channel, status, target in (("sms", "failed", "a"), ("sms", "sent", "b"), ("email", "sent", "c")):
            session.add(Notification(assignment_id=waiting.id, level=0, channel=channel, status=status, target=target))
        session.commit()
    samples = scrape(mapp.test_client())
    assert samples[("hotline_notices", (("channel", "sms"), ("status", "failed")))] == 1
    assert samples[("hotline_notices", (("channel", "sms"), ("status", "sent")))] == 1
    assert samples[("hotline_notices", (("channel", "email"), ("status", "sent")))] == 1
    assert samples[("hotline_escalations", ())] == 3
    assert 590 < samples[("hotline_oldest_unacknowledged_critical_seconds", ())] < 900
