"""A throwaway Twilio-style Flask app on a real port, and a FakeTwilio, for the simulator's tests.

The app checks every request's X-Twilio-Signature, plays a tiny hotline (menu, one recorded
question, a transfer with a whisper, goodbye) and fetches each recording from the URL in its
status callback with basic auth, the way the real app's worker does.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import requests
from flask import Flask, Response, request
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import Dial, VoiceResponse
from werkzeug.serving import make_server

from hotline.simulator.fake_twilio import FakeTwilio

ACCOUNT_SID = "AC" + "a" * 32
AUTH_TOKEN = "f" * 32
HOTLINE = "+13145550000"
DEAD_END = "+13145550001"  # a Gather with no fallback after it
BROKEN = "+13145550002"  # answers 500
LOOP = "+13145550003"  # redirects to itself forever
GET_REDIRECT = "+13145550004"  # a Redirect with method GET
DISPATCHER = "+13145550911"
# Rung with DISPATCHER, with Twilio's answering-machine detection on.
SECOND_DISPATCHER = "+13145550912"


@dataclass
class Received:
    """One request the fake app received."""

    method: str
    path: str
    params: dict[str, str]
    signature_ok: bool
    headers: dict[str, str]


@dataclass
class FakeApp:
    """The running app: its URL, what it received, and the media it fetched."""

    url: str
    received: list[Received] = field(default_factory=list)
    fetched: dict[str, requests.Response] = field(default_factory=dict)

    def at(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]

    def one(self, path: str) -> Received:
        found = self.at(path)
        assert len(found) == 1, (path, [r.path for r in self.received])
        return found[0]


def twiml(response: VoiceResponse) -> Response:
    return Response(response.to_xml(), mimetype="text/xml")


def build_app(state: FakeApp) -> Flask:
    app = Flask("simulator-test-app")
    validator = RequestValidator(AUTH_TOKEN)

    @app.before_request
    def check_signature() -> Response | None:
        params = request.form.to_dict(flat=True) if request.method == "POST" else {}
        ok = validator.validate(request.url, params, request.headers.get("X-Twilio-Signature", ""))
        merged = {**request.args.to_dict(flat=True), **params}
        state.received.append(Received(request.method, request.path, merged, ok, dict(request.headers)))
        if not ok:
            return Response("invalid signature", status=403)
        return None

    @app.post("/voice/incoming")
    def incoming() -> Response:
        to = request.form["To"]
        response = VoiceResponse()
        if to == BROKEN:
            return Response("boom", status=500)
        if to == LOOP:
            response.redirect("/voice/incoming")
            return twiml(response)
        if to == GET_REDIRECT:
            response.redirect("/voice/got?step=2", method="GET")
            return twiml(response)
        response.say("Welcome to the test line.", voice="Polly.Joanna", language="en-US")
        gather = response.gather(input="dtmf", action="/voice/menu", num_digits=1, timeout=5, finish_on_key="")
        gather.say("Press 1 to leave a tip.", language="en-US")
        if to != DEAD_END:
            response.redirect("/voice/incoming")
        return twiml(response)

    @app.get("/voice/got")
    def got() -> Response:
        response = VoiceResponse()
        response.say(f"step {request.args.get('step')}")
        response.hangup()
        return twiml(response)

    @app.post("/voice/menu")
    def menu() -> Response:
        response = VoiceResponse()
        if request.form.get("Digits") != "1":
            response.say("Goodbye.")
            response.hangup()
            return twiml(response)
        # The question point: a one-key Gather around the prompt, then the Record.
        gather = response.gather(input="dtmf", action="/voice/question", num_digits=1, timeout=1, finish_on_key="")
        gather.say("What happened? Press pound to skip, zero for a dispatcher.")
        response.record(
            action="/voice/recorded",
            method="POST",
            finish_on_key="#0",
            max_length=60,
            timeout=5,
            play_beep=True,
            recording_status_callback="/voice/recording",
            recording_status_callback_event="completed absent",
        )
        response.redirect("/voice/recorded")
        return twiml(response)

    def transfer() -> Response:
        response = VoiceResponse()
        response.say("Connecting you to a dispatcher.")
        dial = Dial(action="/voice/dial-done", caller_id=HOTLINE, timeout=20, answer_on_bridge=True)
        dial.number(DISPATCHER, url="/voice/whisper", method="POST")
        dial.number(SECOND_DISPATCHER, url="/voice/whisper", method="POST", machine_detection="Enable")
        response.append(dial)
        return twiml(response)

    @app.post("/voice/question")
    def question() -> Response:
        if request.form.get("Digits") == "0":
            return transfer()
        response = VoiceResponse()
        response.say("Skipped.")
        response.hangup()
        return twiml(response)

    @app.post("/voice/recorded")
    def recorded() -> Response:
        if request.form.get("Digits") == "0" or "RecordingSid" in request.form:
            return transfer()
        response = VoiceResponse()
        response.say("Nothing recorded.")
        response.hangup()
        return twiml(response)

    @app.post("/voice/whisper")
    def whisper() -> Response:
        response = VoiceResponse()
        gather = response.gather(action="/voice/whisper/answer", num_digits=1, timeout=8, finish_on_key="")
        gather.say("A call from the test line. Press 1 to accept.")
        response.say("No answer. Goodbye.")
        response.hangup()
        return twiml(response)

    @app.post("/voice/whisper/answer")
    def whisper_answer() -> Response:
        response = VoiceResponse()
        if request.form.get("Digits") != "1":
            response.hangup()
        return twiml(response)

    @app.post("/voice/dial-done")
    def dial_done() -> Response:
        response = VoiceResponse()
        response.say(f"Dial {request.form.get('DialCallStatus')}.")
        response.hangup()
        return twiml(response)

    @app.post("/voice/recording")
    def recording() -> Response:
        if request.form.get("RecordingStatus") == "completed":
            sid = request.form["RecordingSid"]
            media = requests.get(request.form["RecordingUrl"] + ".wav", auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=5)
            state.fetched[sid] = media
        return Response(status=204)

    @app.post("/voice/status")
    def status() -> Response:
        return Response(status=204)

    return app


@pytest.fixture
def fake_app() -> Iterator[FakeApp]:
    """The fake hotline app, served on a free local port for the test's duration."""
    state = FakeApp(url="")
    server = make_server("127.0.0.1", 0, build_app(state), threaded=True)
    state.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def fake_twilio() -> Iterator[FakeTwilio]:
    """A FakeTwilio for the test account, stopped afterwards."""
    with FakeTwilio(ACCOUNT_SID, AUTH_TOKEN) as fake:
        yield fake
