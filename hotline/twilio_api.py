"""The one adapter for Twilio's REST API: fetch and delete recordings, send SMS.

Everything that talks to Twilio goes through here, so tests point `TWILIO_API_BASE_URL` at a
local server playing Twilio's part, and so a forged callback can never make us fetch an
arbitrary URL: only URLs on the configured API host are accepted.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import requests

log = logging.getLogger(__name__)

_SID = re.compile(r"^[A-Z]{2}[0-9a-fA-F]{32}$")
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
class TwilioRecording:
    """What the reconciler needs of one entry in Twilio's Recordings list."""

    sid: str
    call_sid: str
    status: str
    source: str
    duration: int | None
    media_url: str  # without extension, like a callback's RecordingUrl
    created: datetime | None  # naive UTC, like the database's timestamps


@dataclass(frozen=True)
class TwilioCall:
    """The one fact we read about a call: the number dialled. `from` is never read."""

    sid: str
    to: str
    status: str


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

    def list_recordings(self, since: date, page_size: int = 100) -> Iterator[TwilioRecording]:
        """Yield every recording of the account created on or after `since` (UTC), page by page.

        Follows `next_page_uri`, which Twilio gives relative to its API host; a next page on
        another host is refused like a forged recording URL.
        """
        url: str | None = f"{self.base_url}/2010-04-01/Accounts/{self.account_sid}/Recordings.json"
        params: dict[str, str] | None = {"DateCreated>": since.isoformat(), "PageSize": str(page_size)}
        while url is not None:
            response = self._request("GET", url, params=params)
            if response.status_code != 200:
                raise TwilioError(f"recordings list: HTTP {response.status_code}", retryable=False)
            page = response.json()
            for item in page.get("recordings") or []:
                recording = self._recording_entry(item)
                if recording is not None:
                    yield recording
            next_uri = page.get("next_page_uri")
            url, params = (self._api_url(next_uri), None) if next_uri else (None, None)

    def _api_url(self, uri: str) -> str:
        if not uri.startswith("/2010-04-01/Accounts/"):
            raise ForbiddenUrl(f"next page {uri!r} is not on the Twilio API host")
        return f"{self.base_url}{uri}"

    def _recording_entry(self, item: dict[str, Any]) -> TwilioRecording | None:
        """One list entry, or None when it is not a recording of this account we could fetch."""
        sid, call_sid = str(item.get("sid") or ""), str(item.get("call_sid") or "")
        if item.get("account_sid") != self.account_sid or not _SID.match(sid) or not _SID.match(call_sid):
            return None
        try:
            duration: int | None = int(item.get("duration") or "")
        except ValueError:
            duration = None
        try:
            created: datetime | None = parsedate_to_datetime(str(item.get("date_created") or ""))
        except (TypeError, ValueError):
            created = None
        if created is not None and created.tzinfo is not None:
            created = created.astimezone(UTC).replace(tzinfo=None)
        return TwilioRecording(
            created=created,
            sid=sid,
            call_sid=call_sid,
            status=str(item.get("status") or ""),
            source=str(item.get("source") or ""),
            duration=duration,
            media_url=f"{self.base_url}/2010-04-01/Accounts/{self.account_sid}/Recordings/{sid}",
        )

    def fetch_call(self, call_sid: str) -> TwilioCall | None:
        """The dialled number and status of a call; None if Twilio does not know it."""
        if not _SID.match(call_sid) or not call_sid.startswith("CA"):
            raise ValueError("not a CallSid")
        url = f"{self.base_url}/2010-04-01/Accounts/{self.account_sid}/Calls/{call_sid}.json"
        response = self._request("GET", url)
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise TwilioError(f"call lookup: HTTP {response.status_code}", retryable=False)
        body = response.json()
        # Only `to` and `status` leave this function: the caller's number stays in the response.
        return TwilioCall(sid=call_sid, to=str(body.get("to") or ""), status=str(body.get("status") or ""))

    def send_sms(self, to: str, from_: str, body: str) -> str:
        """Send an SMS through the Messages API; return the message SID."""
        url = f"{self.base_url}/2010-04-01/Accounts/{self.account_sid}/Messages.json"
        response = self._request("POST", url, data={"To": to, "From": from_, "Body": body})
        if response.status_code not in (200, 201):
            raise TwilioError(f"SMS: HTTP {response.status_code}", retryable=False)
        return str(response.json().get("sid", ""))
