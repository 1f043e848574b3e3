"""Whole simulated calls over real HTTP against a throwaway app that checks Twilio signatures."""

from __future__ import annotations

import io
import re
import wave
from pathlib import Path

import numpy as np
import pytest

from hotline.simulator.call import CallResult, SimulatedCall
from hotline.simulator.callers import ScriptedCaller
from hotline.simulator.fake_twilio import FakeTwilio
from tests.simulator.conftest import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    BROKEN,
    DEAD_END,
    DISPATCHER,
    GET_REDIRECT,
    HOTLINE,
    LOOP,
    SECOND_DISPATCHER,
    FakeApp,
)

SID = re.compile(r"^(CA|RE)[0-9a-f]{32}$")


def call(
    app: FakeApp,
    fake: FakeTwilio,
    caller: ScriptedCaller,
    to: str = HOTLINE,
    token: str = AUTH_TOKEN,
    **options: bool,
) -> CallResult:
    return SimulatedCall(app.url, token, ACCOUNT_SID, to, caller, fake, **options).run()  # type: ignore[arg-type]


def test_full_call_is_signed_and_carries_twilio_parameters(fake_app: FakeApp, fake_twilio: FakeTwilio) -> None:
    result = call(fake_app, fake_twilio, ScriptedCaller(keys="1", says=["a student has a knife"]))

    assert result.ok, result.errors
    assert result.ended_by == "hangup"
    assert all(r.signature_ok for r in fake_app.received), [(r.path, r.signature_ok) for r in fake_app.received]
    first = fake_app.received[0]
    assert first.path == "/voice/incoming"
    assert first.params["CallStatus"] == "ringing"
    assert SID.match(first.params["CallSid"]) and first.params["CallSid"] == result.call_sid
    for name, value in {
        "AccountSid": ACCOUNT_SID,
        "To": HOTLINE,
        "Called": HOTLINE,
        "From": "+15555550100",
        "Caller": "+15555550100",
        "Direction": "inbound",
        "ApiVersion": "2010-04-01",
    }.items():
        assert first.params[name] == value, name
    for name in ("FromCity", "FromState", "FromZip", "FromCountry", "ToCity", "ToCountry", "CallerName"):
        assert first.params[name]
    menu = fake_app.one("/voice/menu")
    assert menu.params["Digits"] == "1" and menu.params["CallStatus"] == "in-progress"
    assert "FinishedOnKey" not in menu.params
    assert "[Say en-US] Welcome to the test line." in result.transcript
    assert "[beep]" in result.transcript


def test_recording_is_posted_then_fetched_with_basic_auth(fake_app: FakeApp, fake_twilio: FakeTwilio) -> None:
    result = call(fake_app, fake_twilio, ScriptedCaller(keys="1", says=["a student has a knife"]))

    assert len(result.recordings) == 1
    sid = result.recordings[0]
    action = fake_app.one("/voice/recorded")
    assert action.params["RecordingSid"] == sid
    assert action.params["RecordingUrl"] == f"{fake_twilio.base_url}/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{sid}"
    assert action.params["Digits"] == "#"
    assert int(action.params["RecordingDuration"]) >= 1
    status = fake_app.one("/voice/recording")
    assert status.params["RecordingStatus"] == "completed"
    assert status.params["RecordingSource"] == "RecordVerb" and status.params["RecordingChannels"] == "1"
    assert status.params["RecordingStartTime"].endswith("+0000")
    assert status.params["CallSid"] == result.call_sid
    # The callback comes after the Record action, and never carries the caller's number.
    paths = [r.path for r in fake_app.received]
    assert paths.index("/voice/recording") > paths.index("/voice/recorded")
    assert "From" not in status.params
    media = fake_app.fetched[sid]
    assert media.status_code == 200
    assert media.content[:4] == b"RIFF" and media.content[8:12] == b"WAVE"
    with wave.open(io.BytesIO(media.content)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
        assert w.getnframes() > 0
    assert sid in fake_twilio.fetched


def test_transfer_runs_the_whisper_as_a_child_leg(fake_app: FakeApp, fake_twilio: FakeTwilio) -> None:
    result = call(fake_app, fake_twilio, ScriptedCaller(keys="1", says=["help"]))

    whisper = fake_app.one("/voice/whisper")
    assert whisper.params["To"] == DISPATCHER
    assert whisper.params["From"] == HOTLINE  # the Dial's callerId, never the caller's number
    assert whisper.params["ParentCallSid"] == result.call_sid
    assert whisper.params["CallSid"] != result.call_sid and SID.match(whisper.params["CallSid"])
    assert whisper.params["Direction"].startswith("outbound")
    assert fake_app.one("/voice/whisper/answer").params["Digits"] == "1"
    done = fake_app.one("/voice/dial-done")
    assert done.params["DialCallStatus"] == "completed"
    assert done.params["DialCallSid"] == whisper.params["CallSid"]
    assert int(done.params["DialCallDuration"]) > 0
    assert done.params["CallSid"] == result.call_sid
    assert "[Say en-US] Dial completed." in result.transcript
    assert any(line.startswith("(dispatcher) [Say en-US] A call from the test line") for line in result.transcript)


def test_nobody_answers(fake_app: FakeApp, fake_twilio: FakeTwilio) -> None:
    result = call(fake_app, fake_twilio, ScriptedCaller(keys="1", says=["help"], dispatcher_answers=False))

    assert result.ok
    assert not fake_app.at("/voice/whisper")
    assert fake_app.one("/voice/dial-done").params["DialCallStatus"] == "no-answer"


def test_dispatcher_who_does_not_press_1_has_not_answered(fake_app: FakeApp, fake_twilio: FakeTwilio) -> None:
    result = call(fake_app, fake_twilio, ScriptedCaller(keys="1", says=["help"], dispatcher_keys=""))

    assert result.ok, result.errors  # the whisper's Gather falling through is not the caller's problem
    assert fake_app.one("/voice/whisper")
    assert not fake_app.at("/voice/whisper/answer")
    assert fake_app.one("/voice/dial-done").params["DialCallStatus"] == "no-answer"


def test_the_first_phone_to_pick_up_ends_the_ringing_even_a_voicemail(
    fake_app: FakeApp, fake_twilio: FakeTwilio
) -> None:
    caller = ScriptedCaller(keys="1", says=["0"], voicemail=[DISPATCHER])
    result = call(fake_app, fake_twilio, caller)

    assert result.ok, result.errors
    whisper = fake_app.one("/voice/whisper")  # the second phone was hung up on, never announced
    assert whisper.params["To"] == DISPATCHER and "AnsweredBy" not in whisper.params
    assert not fake_app.at("/voice/whisper/answer")  # a voicemail presses nothing
    assert fake_app.one("/voice/dial-done").params["DialCallStatus"] == "no-answer"
    assert any(line.startswith("(voicemail) [Say en-US] A call from the test line") for line in result.transcript)


class _SecondPhoneOnly(ScriptedCaller):
    def answers_transfer(self, number: str) -> bool:
        return number == SECOND_DISPATCHER


@pytest.mark.parametrize(("voicemail", "answered_by"), [((), "human"), ((SECOND_DISPATCHER,), "machine_start")])
def test_machine_detection_tells_the_whisper_who_answered(
    fake_app: FakeApp, fake_twilio: FakeTwilio, voicemail: tuple[str, ...], answered_by: str
) -> None:
    call(fake_app, fake_twilio, _SecondPhoneOnly(keys="1", says=["0"], voicemail=voicemail))

    whisper = fake_app.one("/voice/whisper")
    assert whisper.params["To"] == SECOND_DISPATCHER and whisper.params["AnsweredBy"] == answered_by


def test_skip_and_dispatcher_keys_at_a_question(fake_app: FakeApp, fake_twilio: FakeTwilio) -> None:
    skipped = call(fake_app, fake_twilio, ScriptedCaller(keys="1", says=["#"]))
    assert fake_app.one("/voice/question").params["Digits"] == "#"
    assert skipped.recordings == [] and "[Say en-US] Skipped." in skipped.transcript

    fake_app.received.clear()
    call(fake_app, fake_twilio, ScriptedCaller(keys="1", says=["0"]))
    assert fake_app.one("/voice/question").params["Digits"] == "0"
    assert fake_app.one("/voice/dial-done").params["DialCallStatus"] == "completed"


def test_questions_are_skipped_when_says_run_out(fake_app: FakeApp, fake_twilio: FakeTwilio) -> None:
    call(fake_app, fake_twilio, ScriptedCaller(keys="1"))

    assert fake_app.one("/voice/question").params["Digits"] == "#"


def test_recording_ended_with_zero(fake_app: FakeApp, fake_twilio: FakeTwilio) -> None:
    result = call(fake_app, fake_twilio, ScriptedCaller(keys="1", says=["0:there is a fight"]))

    assert fake_app.one("/voice/recorded").params["Digits"] == "0"
    assert len(result.recordings) == 1


def test_empty_recording_skips_the_action_and_reports_absent(fake_app: FakeApp, fake_twilio: FakeTwilio) -> None:
    result = call(fake_app, fake_twilio, ScriptedCaller(keys="1", says=[""]))

    assert result.ok and result.recordings == []
    # Twilio skips the action and runs the next verb: the app's <Redirect> without recording params.
    recorded = fake_app.one("/voice/recorded")
    assert "RecordingSid" not in recorded.params
    assert fake_app.one("/voice/recording").params["RecordingStatus"] == "absent"
    assert "[Say en-US] Nothing recorded." in result.transcript


def test_hanging_up_while_recording(fake_app: FakeApp, fake_twilio: FakeTwilio) -> None:
    result = call(fake_app, fake_twilio, ScriptedCaller(keys="1", says=["hangup:I have to go"]))

    assert result.ended_by == "caller"
    assert fake_app.one("/voice/recorded").params["Digits"] == "hangup"
    assert not fake_app.at("/voice/whisper")  # the action's TwiML is not run after a hang-up
    assert fake_app.one("/voice/recording").params["RecordingStatus"] == "completed"
    assert fake_app.one("/voice/status").params["CallStatus"] == "completed"


def test_wav_file_answer_is_converted_to_phone_audio(
    fake_app: FakeApp, fake_twilio: FakeTwilio, tmp_path: Path
) -> None:
    path = tmp_path / "answer.wav"
    t = np.arange(44100 * 2) / 44100
    stereo = (np.stack([np.sin(2 * np.pi * 300 * t)] * 2, axis=1) * 12000).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(44100)
        w.writeframes(stereo.tobytes())

    result = call(fake_app, fake_twilio, ScriptedCaller(keys="1", says=[path]))

    assert fake_app.one("/voice/recorded").params["RecordingDuration"] == "2"
    with wave.open(io.BytesIO(fake_app.fetched[result.recordings[0]].content)) as w:
        assert (w.getframerate(), w.getnchannels()) == (8000, 1)
        assert abs(w.getnframes() - 16000) <= 1


def test_final_status_callback(fake_app: FakeApp, fake_twilio: FakeTwilio) -> None:
    result = call(fake_app, fake_twilio, ScriptedCaller(keys="1", says=["help"]))

    status = fake_app.one("/voice/status")
    assert status.params["CallStatus"] == "completed"
    assert status.params["CallSid"] == result.call_sid
    assert int(status.params["CallDuration"]) == result.duration > 0
    assert status.params["SequenceNumber"] == "0" and status.params["Timestamp"]
    assert fake_app.received[-1].path == "/voice/status"


def test_duplicate_callbacks(fake_app: FakeApp, fake_twilio: FakeTwilio) -> None:
    call(fake_app, fake_twilio, ScriptedCaller(keys="1", says=["help"]), duplicate_callbacks=True)

    recordings = fake_app.at("/voice/recording")
    statuses = fake_app.at("/voice/status")
    assert len(recordings) == 2 and recordings[0].params == recordings[1].params
    assert len(statuses) == 2 and statuses[0].params == statuses[1].params
    # A retry is the same delivery: same idempotency token.
    token = "I-Twilio-Idempotency-Token"
    assert statuses[0].headers[token] == statuses[1].headers[token]
    assert len(fake_app.at("/voice/recorded")) == 1  # TwiML requests are never duplicated


def test_late_recording_callbacks(fake_app: FakeApp, fake_twilio: FakeTwilio) -> None:
    call(fake_app, fake_twilio, ScriptedCaller(keys="1", says=["help"]), late_recording_callbacks=True)

    paths = [r.path for r in fake_app.received]
    assert paths[-2:] == ["/voice/status", "/voice/recording"]


def test_silence_at_a_gather_follows_the_fallback(fake_app: FakeApp, fake_twilio: FakeTwilio) -> None:
    result = call(fake_app, fake_twilio, ScriptedCaller(keys="-,2"))

    assert [r.path for r in fake_app.received][:3] == ["/voice/incoming", "/voice/incoming", "/voice/menu"]
    assert fake_app.one("/voice/menu").params["Digits"] == "2"
    assert result.ok and result.ended_by == "hangup"


def test_gather_without_fallback_is_reported(fake_app: FakeApp, fake_twilio: FakeTwilio) -> None:
    result = call(fake_app, fake_twilio, ScriptedCaller(keys="-"), to=DEAD_END)

    assert result.fell_through and not result.ok
    assert result.ended_by == "end"
    assert fake_app.one("/voice/status").params["CallStatus"] == "completed"


def test_application_error_ends_the_call(fake_app: FakeApp, fake_twilio: FakeTwilio) -> None:
    result = call(fake_app, fake_twilio, ScriptedCaller(), to=BROKEN)

    assert result.ended_by == "error"
    assert any("500" in error for error in result.errors)
    assert "application error" in result.transcript[-1]
    assert fake_app.one("/voice/status")


def test_wrong_token_is_refused_by_the_app(fake_app: FakeApp, fake_twilio: FakeTwilio) -> None:
    result = call(fake_app, fake_twilio, ScriptedCaller(), token="0" * 32)

    assert result.ended_by == "error"
    assert any("403" in error for error in result.errors)
    assert not any(r.signature_ok for r in fake_app.received)


def test_loops_hit_the_step_limit(fake_app: FakeApp, fake_twilio: FakeTwilio) -> None:
    result = SimulatedCall(
        fake_app.url, AUTH_TOKEN, ACCOUNT_SID, LOOP, ScriptedCaller(), fake_twilio, max_steps=20
    ).run()

    assert result.ended_by == "limit" and not result.ok
    assert 15 <= len(fake_app.at("/voice/incoming")) <= 21


def test_get_redirect_is_signed_over_the_query_string(fake_app: FakeApp, fake_twilio: FakeTwilio) -> None:
    result = call(fake_app, fake_twilio, ScriptedCaller(), to=GET_REDIRECT)

    got = fake_app.one("/voice/got")
    assert got.method == "GET" and got.signature_ok
    assert got.params["step"] == "2" and got.params["CallSid"] == result.call_sid
    assert "[Say en-US] step 2" in result.transcript
