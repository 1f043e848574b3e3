"""How Twilio talks to a voice app: the parameters it sends, how it signs them, and the wire.

Every caller the project simulates goes through here: the simulator (`SimulatedCall`, over
HTTP), the step-by-step driver the tests use (`CallDriver`, in process or over HTTP) and the
benchmarks. What changes between them is only the transport: a real HTTP client against a
served app, or a WSGI test client against the app in the same process.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urldefrag, urlencode, urlsplit

import requests
from twilio.request_validator import RequestValidator

# Twilio gives a webhook about 15 s in total before giving up on it.
REQUEST_TIMEOUT = 15.0


def new_sid(prefix: str) -> str:
    """A Twilio-shaped SID: two letters and 32 hex digits."""
    return prefix + uuid.uuid4().hex


@dataclass(frozen=True)
class Place:
    """Where Twilio places a phone number (from the number's records)."""

    city: str
    state: str
    zip: str
    country: str = "US"


@dataclass(frozen=True)
class Line:
    """Who calls which number: the identity Twilio sends with every request about the call."""

    account_sid: str
    from_: str
    to: str
    caller_name: str | None = None
    caller_place: Place | None = None
    called_place: Place | None = None

    def params(self, call_sid: str) -> dict[str, str]:
        """The parameters Twilio sends with every request about an inbound call."""
        params = {
            "CallSid": call_sid,
            "AccountSid": self.account_sid,
            "From": self.from_,
            "To": self.to,
            "Caller": self.from_,
            "Called": self.to,
            "CallStatus": "in-progress",
            "Direction": "inbound",
            "ApiVersion": "2010-04-01",
        }
        if self.caller_name is not None:
            params["CallerName"] = self.caller_name
        if self.caller_place is not None:
            params |= _place("From", self.caller_place) | _place("Caller", self.caller_place)
        if self.called_place is not None:
            params |= _place("To", self.called_place) | _place("Called", self.called_place)
        return params


def _place(prefix: str, place: Place) -> dict[str, str]:
    return {
        f"{prefix}City": place.city,
        f"{prefix}State": place.state,
        f"{prefix}Zip": place.zip,
        f"{prefix}Country": place.country,
    }


def recording_params(
    account_sid: str,
    call_sid: str,
    recording_sid: str,
    url: str,
    status: str,
    seconds: int | str,
    started: str | None = None,
) -> dict[str, str]:
    """A recording status callback's parameters (no caller identity, as at Twilio)."""
    params = {
        "AccountSid": account_sid,
        "CallSid": call_sid,
        "RecordingSid": recording_sid,
        "RecordingUrl": url,
        "RecordingStatus": status,
        "RecordingDuration": str(seconds),
        "RecordingChannels": "1",
        "RecordingSource": "RecordVerb",
    }
    if started is not None:
        params["RecordingStartTime"] = started
    return params


def recording_url(media_base: str, account_sid: str, recording_sid: str) -> str:
    """Where Twilio (or a stand-in at `media_base`) keeps a recording."""
    return f"{media_base}/2010-04-01/Accounts/{account_sid}/Recordings/{recording_sid}"


def signed(validator: RequestValidator, method: str, url: str, params: dict[str, str]) -> tuple[str, str]:
    """The URL Twilio requests and its X-Twilio-Signature.

    For POST the signature covers the URL and the form; for GET Twilio puts the parameters in
    the query string and signs that URL alone.
    """
    if method == "GET":
        full = url + ("&" if "?" in url else "?") + urlencode(params)
        return full, validator.compute_signature(full, {})
    return url, validator.compute_signature(url, params)


@dataclass
class Reply:
    """What the app answered; `status` is None when the request never got an answer."""

    status: int | None
    body: str
    content_type: str = ""
    raw: Any = None  # the transport's own response object, for callers that inspect more


class Transport(Protocol):
    """Delivers one request, already signed, to the app."""

    def request(self, method: str, url: str, params: dict[str, str], headers: dict[str, str]) -> Reply: ...


class HttpTransport:
    """A real HTTP client: the app served on a port, as Twilio reaches it."""

    def __init__(self, http: requests.Session | None = None, timeout: float = REQUEST_TIMEOUT) -> None:
        self.http = http or requests.Session()
        self.timeout = timeout

    def request(self, method: str, url: str, params: dict[str, str], headers: dict[str, str]) -> Reply:
        try:
            response = self.http.request(
                method, url, data=params if method == "POST" else None, headers=headers, timeout=self.timeout
            )
        except requests.RequestException as exc:
            return Reply(None, f"{type(exc).__name__}: {exc}")
        content_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        return Reply(response.status_code, response.text, content_type, response)

    def close(self) -> None:
        self.http.close()


class WsgiTransport:
    """The app in this process, through its test client: no port, no threads.

    `client` is a Flask (werkzeug) test client; the URLs are the app's public ones, whose
    path and query are what the client is given.
    """

    def __init__(self, client: Any) -> None:
        self.client = client

    def request(self, method: str, url: str, params: dict[str, str], headers: dict[str, str]) -> Reply:
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        base = f"{parts.scheme}://{parts.netloc}" if parts.netloc else "http://localhost"
        response = self.client.open(
            path, method=method, data=params if method == "POST" else None, headers=headers, base_url=base
        )
        return Reply(response.status_code, response.get_data(as_text=True), response.mimetype, response)


class Twilio:
    """Sends requests to the app exactly as Twilio does: signed, with Twilio's headers."""

    def __init__(self, auth_token: str, transport: Transport) -> None:
        self.validator = RequestValidator(auth_token)
        self.transport = transport

    def send(self, method: str, url: str, params: dict[str, str], token: str | None = None) -> tuple[str, Reply]:
        """Send one request; return the URL it went to (fragment dropped) and the reply."""
        # Connection overrides (#rc=..&rp=..) are Twilio's, never sent to the app.
        url = urldefrag(url).url
        full, signature = signed(self.validator, method, url, params)
        headers = {
            "X-Twilio-Signature": signature,
            "User-Agent": "TwilioProxy/1.1",
            # A retried delivery carries the same token as the first one.
            "I-Twilio-Idempotency-Token": token or str(uuid.uuid4()),
        }
        return url, self.transport.request(method, full, params, headers)
