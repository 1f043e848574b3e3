"""Fixtures for browser tests: the real app served over HTTP with real reports in it, users
made through the CLI, and Debian's chromium driven by Playwright.

Nothing is stubbed: calls are placed through the signed voice webhooks over HTTP, Twilio's
REST API is played by `fake_twilio`, the RQ jobs run for real (download, encryption,
transcription, classification, routing), and the browser talks to a real HTTP server.

Chromium is the distribution's (`apt-get install chromium`, done by `make test`), launched
through `executable_path`; Playwright's own browser download does not work on these
machines and is never used. Without chromium the tests are skipped, saying why.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyotp
import pytest
import redis
import requests
from flask import Flask
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from hotline import create_app
from hotline.extensions import db
from hotline.models import Assignment, Call, Report
from tests.conftest import AUTH_TOKEN, ROOT, SAFE_SCHOOLS, LiveServer, RedisServer, _clean, free_port, make_settings
from tests.pipeline.conftest import UTTERANCES, run_jobs
from tests.voice.driver import VoiceCall

SCREENSHOTS = ROOT / "test-output" / "screenshots"

# As root, chromium needs --no-sandbox; the rest keep it from reaching for the internet
# (this machine refuses outside connections) and from doing work no test needs.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_executable() -> str | None:
    """The distribution's chromium, or CHROMIUM_PATH when set; None when there is none."""
    candidates = [os.environ.get("CHROMIUM_PATH"), shutil.which("chromium"), "/usr/bin/chromium"]
    for path in candidates:
        if path and os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = chromium_executable()
    if path is None:
        pytest.skip(
            "browser tests need Debian's chromium (`apt-get install chromium`, which `make test` "
            "runs as root); it is not installed here, or set CHROMIUM_PATH"
        )
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed (requirements-dev.txt)")
    return path


@pytest.fixture
def new_browser(chromium_path: str) -> Iterator[Callable[[], Any]]:
    """A factory of browser contexts, each a separate chromium with its own fresh profile
    (cookies, cache): one per person in a test. All are closed at the end, also on failure."""
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    contexts: list[Any] = []
    profiles: list[str] = []

    def launch() -> Any:
        profile = tempfile.mkdtemp(prefix="hotline-chromium-")
        profiles.append(profile)
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=chromium_path,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900},
        )
        contexts.append(context)
        context.set_default_timeout(15_000)
        return context

    try:
        yield launch
    finally:
        for context in contexts:
            try:
                context.close()  # ends that chromium and its child processes
            except Exception as exc:  # keep closing the others
                print(f"closing a browser failed: {exc}")
        playwright.stop()  # ends Playwright's driver process
        leftovers = [pid for profile in profiles for pid in _processes_using(profile)]
        for profile in profiles:
            shutil.rmtree(profile, ignore_errors=True)
        assert not leftovers, f"chromium processes still running after close: {leftovers}"


def _processes_using(profile: str, wait: float = 5.0) -> list[int]:
    """Live (not zombie) processes whose command line names this profile directory: the
    chromium we started and its helpers. Waits for them to exit, then kills any left."""
    deadline = time.monotonic() + wait
    while True:
        found = []
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                    cmdline = f.read()
                with open(f"/proc/{entry.name}/stat", "rb") as f:
                    state = f.read().rsplit(b")", 1)[1].split()[0]
            except OSError:
                continue  # exited meanwhile
            if profile.encode() in cmdline and state != b"Z":
                found.append(int(entry.name))
        if not found or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    for pid in found:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return found


@dataclass
class HttpResponse:
    """What VoiceCall reads from a response."""

    status_code: int
    mimetype: str
    data: bytes


class HttpTwilio:
    """Post webhooks to the live server over HTTP, signed over its public URL as Twilio does."""

    def __init__(self, base_url: str, token: str = AUTH_TOKEN) -> None:
        self.base_url = base_url
        self.validator = RequestValidator(token)
        self.http = requests.Session()

    def post(self, path: str, params: dict[str, str], **_: Any) -> HttpResponse:
        url = path if path.startswith("http") else self.base_url + path
        assert url.startswith(self.base_url + "/"), f"a webhook URL outside the app: {url}"
        signature = self.validator.compute_signature(url, params)
        response = self.http.post(url, data=params, headers={"X-Twilio-Signature": signature}, timeout=30)
        mimetype = response.headers.get("Content-Type", "").split(";")[0].strip()
        return HttpResponse(response.status_code, mimetype, response.content)

    def close(self) -> None:
        self.http.close()


@dataclass
class Site:
    """The app and the HTTP server in front of it."""

    app: Flask
    url: str
    fake_twilio: Any
    twilio: HttpTwilio

    def place_call(self, *clips: str, topic: str, district: str = "3") -> VoiceCall:
        """A Safe Schools call in English: topic key, one recorded answer per clip (the other
        questions skipped), district key, tip number heard, no PIN; then the caller hangs up."""
        audio = iter(clips)
        call = VoiceCall(self.twilio, SAFE_SCHOOLS, media_base=self.fake_twilio.base_url)  # type: ignore[arg-type]
        call.on_record = lambda sid: self.fake_twilio.add_recording(
            self.fake_twilio.account_sid, sid, (UTTERANCES / next(audio)).read_bytes()
        )
        call.start()
        call.press("1")
        call.press(topic)
        for _ in clips:
            call.answer("#")
        for _ in range(5 - len(clips)):
            call.press("#")
        call.press(district)
        call.press("9")
        call.press("", "#")
        assert call.hang_up() in (200, 204)
        return call

    def run_jobs(self) -> None:
        run_jobs(self.app, rounds=20)

    def report_of(self, call: VoiceCall) -> Report:
        """The report a call left (detached from the session, for its id and reference)."""
        with self.app.app_context():
            report = db.session.scalar(
                select(Report).join(Call, Call.report_id == Report.id).where(Call.call_sid == call.call_sid)
            )
            assert report is not None
            db.session.expunge(report)
            return report

    def agencies_of(self, report_id: int) -> set[str]:
        with self.app.app_context():
            return set(db.session.scalars(select(Assignment.agency_id).where(Assignment.report_id == report_id)))


@pytest.fixture
def site(tmp_path: Path, database_url: str, redis_server: RedisServer, fake_twilio: Any) -> Iterator[Site]:
    """The real app on a local port; its public URL is that port, so signatures match."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = make_settings(
        tmp_path,
        database_url,
        redis_server.url,
        public_url=url,
        twilio_api_base_url=fake_twilio.base_url,
        pipeline={"fetch_attempts": 4, "reconcile_seconds": 1, "job_timeout_seconds": 60},
    )
    redis.Redis.from_url(redis_server.url).flushall()
    _clean(database_url)
    app = create_app(settings)
    twilio = HttpTwilio(url)
    try:
        with LiveServer(app, port):
            yield Site(app, url, fake_twilio, twilio)
    finally:
        twilio.close()
        db.dispose()
        _clean(database_url)
        redis.Redis.from_url(redis_server.url).flushall()


@dataclass
class Account:
    email: str
    password: str
    secret: str

    def code(self) -> str:
        """The code the user's authenticator app shows now."""
        return pyotp.TOTP(self.secret).now()


def create_user(app: Flask, email: str, agency: str, role: str = "investigator") -> Account:
    """Create a user as an administrator does, with `flask users create`; read what it prints."""
    result = app.test_cli_runner().invoke(
        args=["users", "create", "--email", email, "--role", role, "--agency", agency]
    )
    assert result.exit_code == 0, result.output
    password = re.search(r"^password: (\S+)$", result.output, re.M)
    secret = re.search(r"^TOTP secret: (\S+)$", result.output, re.M)
    assert password and secret, result.output
    return Account(email.lower(), password.group(1), secret.group(1))


def screenshot(page: Any, name: str) -> Path:
    """Save a full-page screenshot under test-output/screenshots/ for a reviewer to look at."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    page.screenshot(path=str(path), full_page=True)
    return path
