"""What a caller hears when something inside the hotline fails: never Twilio's error message."""

from __future__ import annotations

from twilio.twiml.voice_response import VoiceResponse

from hotline.flows.twiml import CALLBACK_OVERRIDES

# Deliberately not from the flow files: this must work when flows or the database do not.
_APOLOGY = (
    (
        "We are sorry, the hotline is having a technical problem. If this is an emergency, "
        "hang up and dial 9 1 1 now. Otherwise, please leave your message after the tone, "
        "and press pound when you are finished.",
        "Polly.Joanna",
        "en-US",
    ),
    (
        "Lo sentimos, la línea tiene un problema técnico. Si es una emergencia, cuelgue y "
        "marque el 9 1 1. Si no, deje su mensaje después del tono y oprima la tecla de número.",
        "Polly.Lupe",
        "es-US",
    ),
)
# When the hotline itself is unknown there is nowhere to file a message.
_CALL_AGAIN = (
    (
        "We are sorry, the hotline is having a technical problem. If this is an emergency, "
        "hang up and dial 9 1 1 now. Otherwise, please call again in a few minutes. Goodbye.",
        "Polly.Joanna",
        "en-US",
    ),
    (
        "Lo sentimos, la línea tiene un problema técnico. Si es una emergencia, cuelgue y "
        "marque el 9 1 1. Si no, vuelva a llamar en unos minutos. Adiós.",
        "Polly.Lupe",
        "es-US",
    ),
)
_THANKS = (
    ("Thank you. Your message was received. Goodbye.", "Polly.Joanna", "en-US"),
    ("Gracias. Recibimos su mensaje. Adiós.", "Polly.Lupe", "es-US"),
)
# When we could not store the message ourselves: Twilio holds the recording and the
# reconciler will adopt it, so "recorded" is true; "received" would not be yet.
_RECORDED = (
    ("Thank you. Your message was recorded. Goodbye.", "Polly.Joanna", "en-US"),
    ("Gracias. Su mensaje quedó grabado. Adiós.", "Polly.Lupe", "es-US"),
)
_GOODBYE = (
    ("Thank you for calling. If this is an emergency, hang up and dial 9 1 1. Goodbye.", "Polly.Joanna", "en-US"),
    ("Gracias por llamar. Si es una emergencia, cuelgue y marque el 9 1 1. Adiós.", "Polly.Lupe", "es-US"),
)
# Reached only when <Record> heard nothing: Twilio then skips the action and runs on.
_NO_MESSAGE = (
    (
        "We did not hear a message. If this is an emergency, hang up and dial 9 1 1. "
        "You can call this hotline again at any time. Goodbye.",
        "Polly.Joanna",
        "en-US",
    ),
    (
        "No escuchamos ningún mensaje. Si es una emergencia, cuelgue y marque el 9 1 1. "
        "Puede volver a llamar a esta línea cuando quiera. Adiós.",
        "Polly.Lupe",
        "es-US",
    ),
)


def _say_all(response: VoiceResponse, lines: tuple[tuple[str, str, str], ...]) -> None:
    for text, voice, language in lines:
        response.say(text, voice=voice, language=language)


def salvage_twiml(base_url: str, hotline_id: str | None) -> VoiceResponse:
    """Apologise, give the 911 advice and still take a message when we know the hotline."""
    if not hotline_id:
        return _closing(_CALL_AGAIN)
    response = VoiceResponse()
    _say_all(response, _APOLOGY)
    response.record(
        action=f"{base_url}/voice/salvage/{hotline_id}",
        method="POST",
        finish_on_key="#",
        max_length=300,
        timeout=8,
        play_beep=True,
        recording_status_callback=f"{base_url}/voice/recording/{hotline_id}/message{CALLBACK_OVERRIDES}",
        recording_status_callback_method="POST",
        recording_status_callback_event="completed absent",
    )
    _say_all(response, _NO_MESSAGE)
    response.hangup()
    return response


def _closing(lines: tuple[tuple[str, str, str], ...]) -> VoiceResponse:
    """Say the lines in both languages, then hang up."""
    response = VoiceResponse()
    _say_all(response, lines)
    response.hangup()
    return response


def thanks_twiml() -> VoiceResponse:
    """End a salvaged call whose message is stored."""
    return _closing(_THANKS)


def unconfirmed_twiml() -> VoiceResponse:
    """End a salvaged call whose message Twilio holds but we could not store yet."""
    return _closing(_RECORDED)


def goodbye_twiml() -> VoiceResponse:
    """End a call we know nothing about (its state is gone): no claim that anything was kept."""
    return _closing(_GOODBYE)


def not_in_service_twiml() -> VoiceResponse:
    """Answer a number we do not run: tell the caller, with the 911 advice."""
    response = VoiceResponse()
    response.say(
        "This number is not a hotline in service. If this is an emergency, hang up and dial 9 1 1.",
        voice="Polly.Joanna",
        language="en-US",
    )
    response.hangup()
    return response
