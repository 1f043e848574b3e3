"""What a caller hears when something inside the hotline fails: never Twilio's error message."""

from __future__ import annotations

from twilio.twiml.voice_response import VoiceResponse

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
_THANKS = (
    ("Thank you. Your message was received. Goodbye.", "Polly.Joanna", "en-US"),
    ("Gracias. Recibimos su mensaje. Adiós.", "Polly.Lupe", "es-US"),
)


def salvage_twiml(base_url: str, hotline_id: str | None) -> VoiceResponse:
    """Apologise, give the 911 advice and still take a message when we know the hotline."""
    response = VoiceResponse()
    for text, voice, language in _APOLOGY:
        response.say(text, voice=voice, language=language)
    if hotline_id:
        response.record(
            action=f"{base_url}/voice/salvage/{hotline_id}",
            method="POST",
            finish_on_key="#",
            max_length=300,
            timeout=8,
            play_beep=True,
            recording_status_callback=f"{base_url}/voice/recording/{hotline_id}/message",
            recording_status_callback_method="POST",
            recording_status_callback_event="completed absent",
        )
    for text, voice, language in _THANKS:
        response.say(text, voice=voice, language=language)
    response.hangup()
    return response


def thanks_twiml() -> VoiceResponse:
    """End a salvaged call politely."""
    response = VoiceResponse()
    for text, voice, language in _THANKS:
        response.say(text, voice=voice, language=language)
    response.hangup()
    return response


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
