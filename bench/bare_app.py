"""The baseline for bench/webhooks.py: Flask under the same gunicorn settings, no work at all.

One POST route answers every request with the same TwiML document, built once at import, so
the measured cost is only gunicorn, Werkzeug's request/response cycle and Flask's routing.
"""

from __future__ import annotations

from flask import Flask, Response
from twilio.twiml.voice_response import Gather, VoiceResponse


def _document() -> bytes:
    # About the size and shape of the hotline's menus: a Gather with a spoken prompt and the
    # Redirect a real flow always puts after it.
    response = VoiceResponse()
    gather = Gather(action="http://127.0.0.1/voice/input/1", method="POST", num_digits=1, timeout=6)
    gather.say(
        "Thank you for calling the Safe Schools Hotline. For English, press 1.",
        voice="Polly.Joanna",
        language="en-US",
    )
    gather.say(
        "Gracias por llamar a la línea de Escuelas Seguras. Para español, oprima 2.",
        voice="Polly.Lupe",
        language="es-US",
    )
    response.append(gather)
    response.redirect("http://127.0.0.1/voice/input/1", method="POST")
    return response.to_xml().encode("utf-8")


TWIML = _document()

app = Flask(__name__)


@app.post("/twiml")
def twiml() -> Response:
    # The form is deliberately left unread: reading it is part of what the hotline pays for.
    return Response(TWIML, mimetype="text/xml")
