"""The `simulate` click command, against the throwaway app."""

from __future__ import annotations

import socket

from click.testing import CliRunner

from hotline.simulator.cli import make_simulate_command, media_address
from tests.simulator.conftest import ACCOUNT_SID, AUTH_TOKEN, DEAD_END, DISPATCHER, HOTLINE, FakeApp

NUMBERS = {"test_line": HOTLINE, "dead_end": DEAD_END}


def resolve(hotline: str) -> tuple[str, str, str]:
    if hotline not in NUMBERS:
        raise ValueError(f"unknown hotline {hotline!r}")
    return NUMBERS[hotline], ACCOUNT_SID, AUTH_TOKEN


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_scripted_call(fake_app: FakeApp) -> None:
    twilio_url = f"http://127.0.0.1:{free_port()}"
    command = make_simulate_command(resolve, lambda: twilio_url)

    result = CliRunner().invoke(
        command, ["test_line", "--url", fake_app.url, "--keys", "1", "--say", "a fight", "--wait", "5"]
    )

    assert result.exit_code == 0, result.output
    assert "[Say en-US] Welcome to the test line." in result.output
    assert "recordings sent: 1 (fetched by the app: 1" in result.output
    assert "errors: none" in result.output
    recorded = fake_app.one("/voice/recorded")
    assert recorded.params["RecordingUrl"].startswith(twilio_url + "/2010-04-01/")
    assert all(r.signature_ok for r in fake_app.received)


def test_problems_exit_non_zero(fake_app: FakeApp) -> None:
    command = make_simulate_command(resolve)

    result = CliRunner().invoke(command, ["dead_end", "--url", fake_app.url, "--keys", "-"])

    assert result.exit_code == 1, result.output
    assert "PROBLEM" in result.output


def test_interactive_call(fake_app: FakeApp) -> None:
    command = make_simulate_command(resolve)

    # Menu: 1; question: an answer; the dispatcher answers and presses 1.
    result = CliRunner().invoke(
        command, ["test_line", "--url", fake_app.url, "--wait", "0"], input="1\nsomeone is hurt\ny\n1\n"
    )

    assert result.exit_code == 0, result.output
    assert "Press 1 to leave a tip." in result.output
    assert fake_app.one("/voice/dial-done").params["DialCallStatus"] == "completed"


def test_a_dispatcher_voicemail_picks_up(fake_app: FakeApp) -> None:
    command = make_simulate_command(resolve)

    args = ["test_line", "--url", fake_app.url, "--keys", "1", "--say", "0", "--voicemail", DISPATCHER, "--wait", "0"]
    result = CliRunner().invoke(command, args)

    assert result.exit_code == 0, result.output
    assert "voicemail picks up" in result.output and "A call from the test line" in result.output
    assert fake_app.one("/voice/dial-done").params["DialCallStatus"] == "no-answer"
    # Interactively, "v" chooses the voicemail.
    fake_app.received.clear()
    result = CliRunner().invoke(command, ["test_line", "--url", fake_app.url, "--wait", "0"], input="1\n0\nv\n")
    assert result.exit_code == 0, result.output
    assert fake_app.one("/voice/dial-done").params["DialCallStatus"] == "no-answer"


def test_unknown_hotline_and_bad_keys(fake_app: FakeApp) -> None:
    command = make_simulate_command(resolve)

    assert CliRunner().invoke(command, ["nope", "--url", fake_app.url]).exit_code == 2
    bad = CliRunner().invoke(command, ["test_line", "--url", fake_app.url, "--keys", "1,x"])
    assert bad.exit_code == 2 and "--keys" in bad.output
    assert not fake_app.received


def test_media_address() -> None:
    assert media_address("http://127.0.0.1:8901") == ("127.0.0.1", 8901)
    assert media_address("http://localhost:8901/") == ("127.0.0.1", 8901)
    assert media_address("https://api.twilio.com") is None
    assert media_address("http://127.0.0.1") is None
    assert media_address(None) is None
