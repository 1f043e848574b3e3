"""The TwiML parser and the Gather rules, against documents the twilio library builds."""

from __future__ import annotations

import pytest
from twilio.twiml.voice_response import Dial as TwilioDial
from twilio.twiml.voice_response import VoiceResponse

from hotline.simulator.call import gather_result
from hotline.simulator.twiml import (
    INVALID_ROOT,
    PARSE_FAILURE,
    Dial,
    Gather,
    Hangup,
    Number,
    Pause,
    Play,
    Record,
    Redirect,
    Reject,
    Say,
    TwimlError,
    parse,
)


def test_every_verb_with_its_attributes() -> None:
    response = VoiceResponse()
    response.say("Hola", voice="Polly.Lupe", language="es-US")
    response.play("https://example.org/a.mp3", loop=2)
    response.pause(length=3)
    gather = response.gather(
        input="dtmf",
        action="/in",
        method="GET",
        num_digits=4,
        finish_on_key="*",
        timeout=7,
        action_on_empty_result=True,
    )
    gather.say("Enter your PIN")
    gather.pause(length=1)
    response.record(
        action="/rec",
        finish_on_key="#0",
        max_length=180,
        timeout=6,
        play_beep=False,
        recording_status_callback="/cb",
        recording_status_callback_event="completed absent",
        recording_status_callback_method="GET",
    )
    response.redirect("/next", method="GET")
    dial = TwilioDial(action="/dial", timeout=20, caller_id="+13145550000", answer_on_bridge=True)
    dial.number("+13145550911", url="/whisper", method="POST")
    dial.number("+13145550912")
    response.append(dial)
    response.hangup()
    response.reject(reason="busy")

    verbs = parse(response.to_xml())

    assert verbs == [
        Say("Hola", "Polly.Lupe", "es-US"),
        Play("https://example.org/a.mp3", 2),
        Pause(3),
        Gather("/in", "GET", 4, "*", 7, "dtmf", True, (Say("Enter your PIN"), Pause(1))),
        Record("/rec", "POST", "#0", 180, 6, False, "/cb", ("completed", "absent"), "GET"),
        Redirect("/next", "GET"),
        verbs[6],
        Hangup(),
        Reject("busy"),
    ]
    assert verbs[6] == Dial(
        "/dial",
        "POST",
        20,
        "+13145550000",
        True,
        (Number("+13145550911", "/whisper", "POST"), Number("+13145550912")),
    )


def test_twilio_defaults() -> None:
    gather, record, dial = parse("<Response><Gather/><Record/><Dial>+13145550911</Dial></Response>")
    assert gather == Gather(action=None, method="POST", num_digits=None, finish_on_key="#", timeout=5, input="dtmf")
    assert record == Record(finish_on_key="1234567890*#", max_length=3600, timeout=5, play_beep=True)
    assert isinstance(dial, Dial) and dial.timeout == 30 and dial.numbers == (Number("+13145550911"),)


def test_say_keeps_ssml_words() -> None:
    (say,) = parse("<Response><Say>Press <emphasis>one</emphasis>  now</Say></Response>")
    assert say == Say("Press one now")


@pytest.mark.parametrize(
    ("document", "code"),
    [
        ("<Html/>", INVALID_ROOT),
        ("<response/>", INVALID_ROOT),
        ("<Response><Dance/></Response>", PARSE_FAILURE),
        ("<Response><Say>unclosed</Response>", PARSE_FAILURE),
        ("", PARSE_FAILURE),
        ("<Response><Gather><Record/></Gather></Response>", PARSE_FAILURE),
        ("<Response><Gather numDigits='one'/></Response>", PARSE_FAILURE),
        ("<Response><Record playBeep='yes'/></Response>", PARSE_FAILURE),
        ("<Response><Redirect/></Response>", PARSE_FAILURE),
        ("<Response><Dial/></Response>", PARSE_FAILURE),
        ("<Response><Redirect method='PUT'>/x</Redirect></Response>", PARSE_FAILURE),
    ],
)
def test_documents_twilio_would_refuse(document: str, code: int) -> None:
    with pytest.raises(TwimlError) as caught:
        parse(document)
    assert caught.value.code == code
    assert str(code) in str(caught.value)


def test_valid_twiml_the_simulator_does_not_play_is_refused_without_blaming_the_app() -> None:
    with pytest.raises(TwimlError) as caught:
        parse("<Response><Enqueue>support</Enqueue></Response>")
    assert caught.value.code is None


def test_a_dial_of_more_than_ten_numbers_is_refused() -> None:
    numbers = "".join(f"<Number>+1314555{n:04d}</Number>" for n in range(11))
    assert len(parse(f"<Response><Dial>{numbers[: numbers.rindex('<Number>')]}</Dial></Response>")[0].numbers) == 10
    with pytest.raises(TwimlError, match="11 <Number>s; Twilio rings at most 10"):
        parse(f"<Response><Dial>{numbers}</Dial></Response>")


def test_empty_response_is_valid() -> None:
    assert parse('<?xml version="1.0" encoding="UTF-8"?><Response />') == []


@pytest.mark.parametrize(
    ("gather", "keys", "posted"),
    [
        (Gather(num_digits=1, finish_on_key=""), "1", {"Digits": "1"}),
        (Gather(num_digits=1, finish_on_key=""), "#", {"Digits": "#"}),
        (Gather(num_digits=1, finish_on_key=""), "", None),
        (Gather(num_digits=1, finish_on_key=""), "12", {"Digits": "1"}),
        (Gather(), "1234#", {"Digits": "1234", "FinishedOnKey": "#"}),
        (Gather(), "1234", {"Digits": "1234"}),
        (Gather(num_digits=3), "12345", {"Digits": "123"}),
        # Only the finish key: nothing entered, so Twilio falls through unless asked not to.
        (Gather(), "#", None),
        (Gather(action_on_empty_result=True), "#", {"Digits": "", "FinishedOnKey": "#"}),
        (Gather(action_on_empty_result=True), "", {"Digits": ""}),
    ],
)
def test_gather_result(gather: Gather, keys: str, posted: dict[str, str] | None) -> None:
    assert gather_result(gather, keys) == posted
