"""The one adapter for Twilio's REST API: fetch and delete recordings, send SMS.

Everything that talks to Twilio goes through here, so tests point `TWILIO_API_BASE_URL` at a
local server playing Twilio's part, and so a forged callback can never make us fetch an
arbitrary URL: only URLs on the configured API host (or, for a regional host, the other
names of the same Twilio region) are accepted, and the download always goes to our own base.

Authentication: an API key (SID and secret, which Twilio recommends for production) when
one is configured, else the account SID and auth token; the account SID stays in every
path either way. The auth token alone signs webhooks, so it is needed in both cases.

Retries: GET and DELETE are repeated on network errors, 5xx and 429. A POST creates
something (an SMS), so it is repeated only when it certainly never reached Twilio (the
connection was refused or never opened) or Twilio refused it with 429; any other failure
after the request may have been read raises `OutcomeUnknown`, never a blind resend.
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
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

log = logging.getLogger(__name__)

_SID = re.compile(r"^[A-Z]{2}[0-9a-fA-F]{32}$")
# api.<edge>.<region>.twilio.com, and the legacy api.<region>.twilio.com (see regional_base_url).
_REGIONAL_HOST = re.compile(r"^api\.(?:(?P<edge>[a-z]+(?:-[a-z]+)*)\.)?(?P<region>[a-z]{2}[0-9])\.twilio\.com$")
DEFAULT_HOST = "api.twilio.com"
_RECORDING_PATH = re.compile(r"^/2010-04-01/Accounts/(AC[0-9a-zA-Z]+)/Recordings/(RE[0-9a-fA-F]{32})$")


class TwilioError(Exception):
    """Twilio refused or failed a request; `retryable` says whether trying again may help.

    `status` is the HTTP status (None for a network error); `code` and `twilio_message` are
    Twilio's error code and message from its JSON error body (e.g. 21211, "Invalid 'To'
    Phone Number"), kept so an admin sees why.
    """

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        status: int | None = None,
        code: int | None = None,
        twilio_message: str | None = None,
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status = status
        self.code = code
        self.twilio_message = twilio_message


class OutcomeUnknown(TwilioError):
    """A POST that may have reached Twilio (read timeout, dropped connection, 5xx).

    Sending it again could create a second message: look it up first (`find_message`).
    """

    def __init__(self, message: str, *, status: int | None = None, code: int | None = None) -> None:
        super().__init__(message, retryable=True, status=status, code=code)


class TooLarge(TwilioError):
    """A download past the size cap: aborted, never held in memory whole."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)


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


def same_region_hosts(host: str) -> frozenset[str]:
    """Every name of the Twilio API host `host` that serves the same processing region.

    A regional host api.<edge>.<region>.twilio.com also answers, for a recording callback
    written before Twilio's domain change, as api.<region>.twilio.com; US1's own region is
    also plain api.twilio.com. Any other host (a look-alike, another region) is not ours.
    """
    match = _REGIONAL_HOST.match(host)
    if match is None:
        return frozenset({host})
    region = match["region"]
    return frozenset({host, f"api.{region}.twilio.com"} | ({DEFAULT_HOST} if region == "us1" else set()))


@dataclass(frozen=True)
class TwilioApi:
    base_url: str
    account_sid: str
    auth_token: str
    timeout: float = 20.0
    attempts: int = 3
    backoff: float = 0.5
    # An API key (SK...) and its secret: when set, REST calls authenticate with them.
    api_key: str = ""
    api_secret: str = ""

    def _session(self) -> requests.Session:
        session = requests.Session()
        session.auth = (self.api_key, self.api_secret) if self.api_key else (self.account_sid, self.auth_token)
        return session

    def recording_media_url(self, recording_url: str) -> str:
        """Check a RecordingUrl points at our Twilio API host and account; return its .wav URL."""
        base, given = urlsplit(self.base_url), urlsplit(recording_url)
        if given.scheme != base.scheme or given.netloc not in same_region_hosts(base.netloc):
            raise ForbiddenUrl(f"recording URL host {given.netloc!r} is not the Twilio API host")
        path = given.path.removesuffix(".wav").removesuffix(".mp3")
        match = _RECORDING_PATH.match(path)
        if match is None or match.group(1) != self.account_sid:
            raise ForbiddenUrl("recording URL is not a recording of this account")
        return f"{self.base_url}{path}.wav"

    def _pause(self, attempt: int) -> None:
        if attempt + 1 < self.attempts:
            time.sleep(self.backoff * 2**attempt)

    def _request(self, method: str, url: str, **kwargs: object) -> requests.Response:
        """Send a request, retrying what is safe to retry (see the module's docstring)."""
        last: Exception | None = None
        status: int | None = None
        for attempt in range(self.attempts):
            try:
                with self._session() as session:
                    response = session.request(method, url, timeout=self.timeout, **kwargs)  # type: ignore[arg-type]
            except requests.RequestException as exc:
                if method == "POST" and not never_sent(exc):
                    raise OutcomeUnknown(f"POST {urlsplit(url).path}: {type(exc).__name__}") from exc
                last = exc
            else:
                status = response.status_code
                if not _transient(status):
                    return response
                if method == "POST" and status != 429:  # 429: refused, nothing was created
                    raise OutcomeUnknown(f"POST {urlsplit(url).path}: HTTP {status}", status=status)
                last = error_from(response, f"{method} {urlsplit(url).path}")
            self._pause(attempt)
        raise TwilioError(f"{method} failed after {self.attempts} attempts: {last}", retryable=True, status=status)

    def fetch_recording(self, recording_url: str, max_bytes: int = 200 * 1024 * 1024) -> bytes:
        """Download a recording as WAV bytes (kept in memory; nothing touches disk).

        Streamed and aborted past `max_bytes`, so a huge or endless body never fills memory.
        A 404 or 401/403 raises a non-retryable TwilioError carrying the status: whether it
        is permanent is the caller's call (see hotline.pipeline.fetching).
        """
        url = self.recording_media_url(recording_url)
        last: Exception | None = None
        for attempt in range(self.attempts):
            try:
                with self._session() as session, session.get(url, timeout=self.timeout, stream=True) as response:
                    if response.status_code == 200:
                        return _read_capped(response, max_bytes)
                    if not _transient(response.status_code):
                        raise error_from(response, "recording download", retryable=False)
                    last = error_from(response, "recording download")
            except requests.RequestException as exc:  # refused, timed out, cut off mid-body
                last = exc
            self._pause(attempt)
        status = last.status if isinstance(last, TwilioError) else None
        what = f"{type(last).__name__}: {last}"  # e.g. "ConnectionError: ... Connection refused"
        raise TwilioError(f"download failed after {self.attempts} attempts: {what}", retryable=True, status=status)

    def credentials_accepted(self) -> bool:
        """Whether Twilio accepts our credentials (GET the Account resource, or with an API
        key one recording of the list: a Standard key may not read the Account resource).

        Tells a recording Twilio refuses us (401/403 with working credentials: permanent)
        from a wrong or rotated auth token or key (a misconfiguration an admin must fix).
        """
        account = f"{self.base_url}/2010-04-01/Accounts/{self.account_sid}"
        if self.api_key:
            response = self._request("GET", f"{account}/Recordings.json", params={"PageSize": "1"})
        else:
            response = self._request("GET", f"{account}.json")
        if response.status_code == 200:
            return True
        if response.status_code in (401, 403):
            return False
        raise error_from(response, "account check")

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
        if not call_sid.startswith("CA"):
            return None  # a conference's or another product's recording: not a hotline call
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
        """Send an SMS through the Messages API; return the message SID.

        Raises OutcomeUnknown when Twilio may have created the message, and a TwilioError
        (with Twilio's code) when it refused it: not retryable for e.g. 400 21211, a bad `To`.
        """
        url = f"{self.base_url}/2010-04-01/Accounts/{self.account_sid}/Messages.json"
        response = self._request("POST", url, data={"To": to, "From": from_, "Body": body})
        if response.status_code not in (200, 201):
            # Nothing was created. A 401 is our auth token, which an admin fixes: try again
            # then. Any other 4xx (21211 bad number, 21610 opted out...) is for good.
            raise error_from(response, "SMS", retryable=response.status_code == 401)
        return str(response.json().get("sid", ""))

    def find_message(
        self, to: str, from_: str, body: str, exclude: set[str] | frozenset[str] = frozenset()
    ) -> str | None:
        """The SID of a message already created with this To, From and body, if Twilio has one.

        Used before resending a message whose POST had an unknown outcome. `exclude` lists
        SIDs already claimed by other notices with the same text. Looks at the newest page
        only (Twilio lists newest first), which is where a message of minutes ago is.
        """
        url = f"{self.base_url}/2010-04-01/Accounts/{self.account_sid}/Messages.json"
        response = self._request("GET", url, params={"To": to, "From": from_, "PageSize": 100})
        if response.status_code != 200:
            raise error_from(response, "message lookup")
        for message in response.json().get("messages", []):
            sid = str(message.get("sid", ""))
            if message.get("body") == body and sid and sid not in exclude:
                return sid
        return None


def _transient(status: int) -> bool:
    return status >= 500 or status == 429


def never_sent(exc: requests.RequestException) -> bool:
    """Whether a request certainly never reached the server: no connection was made.

    requests wraps urllib3's reason in its ConnectionError; a refused connection, a failed
    name lookup and a connect timeout are the only cases where no byte of the request left.
    """
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(exc, requests.exceptions.ConnectionError):
        reason = getattr(exc.args[0], "reason", None) if exc.args else None
        return isinstance(reason, NewConnectionError | ConnectTimeoutError)
    return False


def error_from(response: requests.Response, what: str, *, retryable: bool | None = None) -> TwilioError:
    """A TwilioError from an error response, with Twilio's code and message if it sent them."""
    code: int | None = None
    message: str | None = None
    try:
        payload = response.json()
    except ValueError:
        payload = None
    if isinstance(payload, dict):
        raw_code = payload.get("code")
        code = raw_code if isinstance(raw_code, int) else None
        message = str(payload["message"])[:200] if payload.get("message") else None
    status = response.status_code
    detail = f"{what}: HTTP {status}" + (f" {code}" if code else "") + (f" {message}" if message else "")
    return TwilioError(
        detail,
        retryable=_transient(status) if retryable is None else retryable,
        status=status,
        code=code,
        twilio_message=message,
    )


def _read_capped(response: requests.Response, max_bytes: int) -> bytes:
    """Read a streamed body, aborting as soon as it passes `max_bytes`."""
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise TooLarge(f"recording larger than allowed ({declared} bytes)")
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(chunk_size=64 * 1024):
        size += len(chunk)
        if size > max_bytes:
            raise TooLarge(f"recording larger than allowed (over {max_bytes} bytes)")
        chunks.append(chunk)
    return b"".join(chunks)
