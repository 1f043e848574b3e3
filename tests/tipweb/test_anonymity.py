"""Nothing about the web tipster is kept: no address, user agent or referrer in any row or in
the access log; no cookie but the CSRF token's session. Abuse is held back without knowing
who anyone is: rate limits keyed by a daily-rotating HMAC, and a honeypot."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from flask import Flask
from sqlalchemy import func, select, text

from hotline import create_app
from hotline.extensions import db
from hotline.models import Base, Report
from hotline.tipweb.accesslog import TipPrivacyLogger
from hotline.tipweb.limiting import day_key
from tests.conftest import LiveServer, RedisServer, free_port, make_settings
from tests.tipweb.conftest import Tipster, tip_number_in
from tests.tipweb.test_submit import WEAPON_TIP

ADDRESS = "203.0.113.77"
AGENT = "UniqueAgent/9.9 (tipster-phone)"
REFERRER = "https://referrer.example/secret-page"


def test_no_address_agent_or_referrer_in_any_row(app: Flask, client: Any) -> None:
    tipster = Tipster(client, remote_addr=ADDRESS, headers={"User-Agent": AGENT, "Referer": REFERRER})
    tipster.get("/tip/safe_schools")
    filed = tipster.post("/tip/safe_schools", WEAPON_TIP)
    tip = tip_number_in(filed)
    tipster.post("/tip/pin", {"choice": "pin", "pin": "4321", "pin2": "4321"}, token=True)
    tipster.get("/tip/check")
    tipster.post("/tip/check", {"tip": tip, "secret": "9999"})
    tipster.post("/tip/check", {"tip": tip, "secret": "4321"})
    tipster.post("/tip/check/reply", {"body": "more details"}, token=True)
    with app.app_context():
        dump = []
        for table in Base.metadata.sorted_tables:
            for row in db.session.execute(table.select()):
                dump.append(repr(tuple(row)))
        everything = "\n".join(dump)
        audits = db.session.execute(text("SELECT action, ip FROM audit_log")).all()
    assert tip in everything  # the dump is real
    for secret in (ADDRESS, "UniqueAgent", "referrer.example"):
        assert secret not in everything
    assert {a for a, _ in audits} >= {
        "tip.web_received",
        "tip.pin_set",
        "followup.refused",
        "followup.opened",
        "tip.reply",
    }
    assert all(ip is None for _, ip in audits)


def test_no_cookie_but_the_session_and_no_referrer(client: Any) -> None:
    tipster = Tipster(client)
    responses = [tipster.get("/tip"), tipster.get("/tip/prea?lang=es"), tipster.get("/tip/check")]
    responses.append(tipster.post("/tip/prea?lang=es", {"summary": "algo pasó"}))
    responses.append(tipster.post("/tip/pin", {"choice": "pin", "pin": "1234", "pin2": "1234"}, token=True))
    cookies = [c for r in responses for c in r.headers.getlist("Set-Cookie")]
    assert cookies, "the CSRF token's session cookie"
    for cookie in cookies:
        assert cookie.startswith("session="), cookie
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    for response in responses:
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert response.headers["Cache-Control"] == "no-store"
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        html = response.get_data(as_text=True)
        assert "<script" not in html and "style=" not in html and "http://" not in html and "https://" not in html


def test_honeypot_shows_thanks_and_stores_nothing(app: Flask, tipster: Tipster) -> None:
    tipster.get("/tip/safe_schools")
    response = tipster.post("/tip/safe_schools", {**WEAPON_TIP, "website": "http://spam.example"})
    assert response.status_code == 200
    assert "Thank you. Your tip was received." in response.get_data(as_text=True)
    tip_number_in(response)
    saved = tipster.post("/tip/pin", {"choice": "pin", "pin": "1234", "pin2": "1234"}, token=True)
    assert saved.status_code == 200 and "Your PIN is saved" in saved.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Report)) == 0
        assert db.session.execute(text("SELECT count(*) FROM audit_log")).scalar() == 0


@pytest.fixture
def strict_app(tmp_path: Path, database_url: str, redis_server: RedisServer) -> Iterator[Flask]:
    redis.Redis.from_url(redis_server.url).flushall()
    settings = make_settings(
        tmp_path, database_url, redis_server.url, web={"tip_limit": "2 per hour", "check_limit": "3 per hour"}
    )
    application = create_app(settings)
    yield application
    db.dispose()
    redis.Redis.from_url(redis_server.url).flushall()


def test_rate_limit_gives_a_clear_429_page_and_keys_that_expire(strict_app: Flask, redis_server: RedisServer) -> None:
    tipster = Tipster(strict_app.test_client(), remote_addr=ADDRESS)
    tipster.get("/tip/safe_schools")
    statuses = [tipster.post("/tip/safe_schools?lang=es", {"problem": "x"}).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    page = tipster.post("/tip/safe_schools?lang=es", {"problem": "x"})
    assert page.status_code == 429
    html = page.get_data(as_text=True)
    assert "Espere un momento, por favor" in html and "llame al 911" in html and '<html lang="es">' in html
    # Another client (another address) is not held back.
    other = Tipster(strict_app.test_client(), remote_addr="198.51.100.9")
    other.get("/tip/safe_schools")
    assert other.post("/tip/safe_schools", {"problem": "y"}).status_code == 200
    # Checks have their own limit, and the GET pages none.
    for _ in range(3):
        assert tipster.post("/tip/check", {"tip": "12345678", "secret": "1111"}).status_code == 400
    assert tipster.post("/tip/check", {"tip": "12345678", "secret": "1111"}).status_code == 429
    assert tipster.get("/tip/check").status_code == 200
    server = redis.Redis.from_url(redis_server.url)
    keys = [k.decode() for k in server.scan_iter("LIMITS*")]
    assert keys
    for key in keys:
        assert ADDRESS not in key and "198.51.100.9" not in key
        assert 0 < server.ttl(key) <= 3600
    # The key is an HMAC under a key of the day: it changes at midnight UTC.
    assert day_key("s", "2026-12-01") != day_key("s", "2026-12-02")


def test_werkzeug_request_log_leaves_out_tip_clients(
    tmp_path: Path, database_url: str, redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    settings = make_settings(tmp_path, database_url, redis_server.url, public_url=f"http://127.0.0.1:{port}")
    app = create_app(settings)
    caplog.set_level(logging.INFO, logger="werkzeug")
    with LiveServer(app, port) as server:
        for path in ("/tip", "/tip/safe_schools?lang=es", "/tip/check", "/static/tip.css", "/login"):
            assert requests.get(server.url + path, headers={"User-Agent": AGENT, "Referer": REFERRER}, timeout=10).ok
    db.dispose()
    lines = [r.getMessage() for r in caplog.records if r.name == "werkzeug" and '"GET ' in r.getMessage()]
    tip_lines = [line for line in lines if '"GET /tip' in line or '"GET /static' in line]
    print("\n".join(lines))
    assert len(tip_lines) == 4
    for line in tip_lines:
        assert line.startswith("- - - [") and "127.0.0.1" not in line
    assert any(line.startswith("127.0.0.1") and "/login" in line for line in lines)  # the filter is only for /tip


class _Response:
    status = "200 OK"
    sent = 1234
    headers: tuple[tuple[str, str], ...] = ()
    response_length = 1234


class _Request:
    def __init__(self, path: str) -> None:
        self.path, self.query, self.method, self.uri = path, "lang=es", "GET", path + "?lang=es"
        self.version = (1, 1)
        self.headers = [("USER-AGENT", AGENT), ("REFERER", REFERRER), ("X-FORWARDED-FOR", ADDRESS)]


def test_gunicorn_access_log_leaves_out_tip_clients(capsys: pytest.CaptureFixture[str]) -> None:
    from gunicorn.config import Config  # type: ignore[import-untyped]

    cfg = Config()
    cfg.set("accesslog", "-")
    cfg.set("access_log_format", '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %({x-forwarded-for}i)s')
    logger = TipPrivacyLogger(cfg)
    for path in ("/tip/safe_schools", "/queue"):
        environ = {
            "REMOTE_ADDR": ADDRESS,
            "PATH_INFO": path,
            "HTTP_USER_AGENT": AGENT,
            "HTTP_REFERER": REFERRER,
            "RAW_URI": path,
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REQUEST_METHOD": "GET",
            "QUERY_STRING": "",
        }
        logger.access(_Response(), _Request(path), environ, timedelta(seconds=0.01))
    out = capsys.readouterr().out.strip().splitlines()
    tip_line, other = out
    assert "/tip/safe_schools" in tip_line and ADDRESS not in tip_line and "UniqueAgent" not in tip_line
    assert "referrer.example" not in tip_line
    assert other.startswith(ADDRESS) and "UniqueAgent" in other


def test_a_tip_gets_through_when_redis_is_down(tmp_path: Path, database_url: str, redis_server: RedisServer) -> None:
    """The limits live in Redis; without it they are skipped, and the tip is still filed."""
    dead = f"redis://127.0.0.1:{free_port()}/0"
    app = create_app(make_settings(tmp_path, database_url, dead))
    try:
        tipster = Tipster(app.test_client())
        tipster.get("/tip/safe_schools")
        response = tipster.post("/tip/safe_schools", WEAPON_TIP)
        assert response.status_code == 200
        tip = tip_number_in(response)
        with app.app_context():
            assert db.session.scalar(select(Report.channel).where(Report.tip_number == tip)) == "web"
    finally:
        db.dispose()


def test_the_limits_use_the_embedded_redis_socket(tmp_path: Path) -> None:
    from hotline.tipweb.limiting import storage_uri

    settings = make_settings(tmp_path, "sqlite://", "embedded")
    assert storage_uri(settings).startswith("redis+unix:///") and storage_uri(settings).endswith(".sock")
    assert storage_uri(make_settings(tmp_path, "sqlite://", "unix:///run/r.sock")) == "redis+unix:///run/r.sock"
    assert storage_uri(make_settings(tmp_path, "sqlite://", "redis://r:6379/0")) == "redis://r:6379/0"


def test_a_decoy_tip_number_opens_nothing(app: Flask, tipster: Tipster) -> None:
    """The honeypot's PIN page names no tip: even a decoy number equal to a real one is safe."""
    tipster.get("/tip/safe_schools")
    real = tip_number_in(tipster.post("/tip/safe_schools", WEAPON_TIP))
    tipster.post("/tip/safe_schools", {**WEAPON_TIP, "website": "x"})
    saved = tipster.post("/tip/pin", {"choice": "pin", "pin": "1234", "pin2": "1234"}, token=True)
    assert saved.status_code == 200
    with app.app_context():
        assert db.session.scalar(select(Report.pin_hash).where(Report.tip_number == real)) is None
        assert db.session.scalar(select(func.count()).select_from(Report)) == 1


def test_forms_sent_back_with_errors_do_not_use_up_the_tip_limit(strict_app: Flask) -> None:
    tipster = Tipster(strict_app.test_client())
    tipster.get("/tip/safe_schools")
    assert [tipster.post("/tip/safe_schools", {"problem": ""}).status_code for _ in range(4)] == [400] * 4
    assert [tipster.post("/tip/safe_schools", {"problem": "x"}).status_code for _ in range(3)] == [200, 200, 429]
