"""The one adapter for Twilio's REST API: fetch and delete recordings, send SMS.

Everything that talks to Twilio goes through here, so tests point `TWILIO_API_BASE_URL` at a
local server playing Twilio's part, and so a forged callback can never make us fetch an
arbitrary URL: only URLs on the configured API host are accepted.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests

log = logging.getLogger(__name__)

_RECORDING_PATH = re.compile(r"^/2010-04-01/Accounts/(AC[0-9a-zA-Z]+)/Recordings/(RE[0-9a-fA-F]{32})$")


class TwilioError(Exception):
    """Twilio refused or failed a request; `retryable` says whether trying again may help."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class ForbiddenUrl(TwilioError):
    """A URL that is not on the configured Twilio API host: never fetched."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)


@dataclass(frozen=True)
class TwilioApi:
    base_url: str
    account_sid: str
    auth_token: str
    timeout: float = 20.0
    attempts: int = 3
    backoff: float = 0.5

    def _session(self) -> requests.Session:
        session = requests.Session()
        session.auth = (self.account_sid, self.auth_token)
        return session

    def recording_media_url(self, recording_url: str) -> str:
        """Check a RecordingUrl points at our Twilio API host and account; return its .wav URL."""
        base, given = urlsplit(self.base_url), urlsplit(recording_url)
        if (given.scheme, given.netloc) != (base.scheme, base.netloc):
            raise ForbiddenUrl(f"recording URL host {given.netloc!r} is not the Twilio API host")
        path = given.path.removesuffix(".wav").removesuffix(".mp3")
        match = _RECORDING_PATH.match(path)
        if match is None or match.group(1) != self.account_sid:
            raise ForbiddenUrl("recording URL is not a recording of this account")
        return f"{self.base_url}{path}.wav"

    def _request(self, method: str, url: str, **kwargs: object) -> requests.Response:
        """Send a request, retrying connection errors and 5xx/429 with exponential backoff."""
        last: Exception | None = None
        for attempt in range(self.attempts):
            try:
                with self._session() as session:
                    response = session.request(method, url, timeout=self.timeout, **kwargs)  # type: ignore[arg-type]
            except requests.RequestException as exc:
                last = exc
            else:
                if response.status_code < 500 and response.status_code != 429:
                    return response
                last = TwilioError(f"{method} {urlsplit(url).path}: HTTP {response.status_code}", retryable=True)
            if attempt + 1 < self.attempts:
                time.sleep(self.backoff * 2**attempt)
        raise TwilioError(f"{method} failed after {self.attempts} attempts: {last}", retryable=True)

    def fetch_recording(self, recording_url: str, max_bytes: int = 200 * 1024 * 1024) -> bytes:
        """Download a recording as WAV bytes (kept in memory; nothing touches disk)."""
        url = self.recording_media_url(recording_url)
        response = self._request("GET", url)
        if response.status_code == 404:
            raise TwilioError("recording not found at Twilio", retryable=False)
        if response.status_code != 200:
            raise TwilioError(f"recording download: HTTP {response.status_code}", retryable=False)
        if len(response.content) > max_bytes:
            raise TwilioError("recording larger than allowed", retryable=False)
        return response.content

    def delete_recording(self, recording_url: str) -> bool:
        """Delete a recording from Twilio; True if deleted or already gone."""
        url = self.recording_media_url(recording_url).removesuffix(".wav") + ".json"
        response = self._request("DELETE", url)
        if response.status_code in (204, 404):
            return True
        raise TwilioError(f"recording delete: HTTP {response.status_code}", retryable=False)

    def send_sms(self, to: str, from_: str, body: str) -> str:
        """Send an SMS through the Messages API; return the message SID."""
        url = f"{self.base_url}/2010-04-01/Accounts/{self.account_sid}/Messages.json"
        response = self._request("POST", url, data={"To": to, "From": from_, "Body": body})
        if response.status_code not in (200, 201):
            raise TwilioError(f"SMS: HTTP {response.status_code}", retryable=False)
        return str(response.json().get("sid", ""))
