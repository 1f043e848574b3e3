"""A local HTTP server playing Twilio's REST API: recordings (media, list, deletion), calls, SMS.

It answers the way api.twilio.com does (paths, basic auth, status codes, JSON error bodies),
so the app's Twilio adapter runs unchanged against it. Tests inject failures with
`fail_next` (an error answer, or a connection dropped before or after the work was done),
refuse connections by `stop()`ping it (a later `start()` serves the same port again), and
assert on `requests_log`, `deleted` and `messages`.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime, formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from hotline.simulator import audio

_PREFIX = "/2010-04-01/Accounts/"
_RECORDING = re.compile(r"^/2010-04-01/Accounts/(?P<account>[^/]+)/Recordings/(?P<sid>[^/.]+)(?P<ext>\.wav|\.json)?$")
_RECORDINGS = re.compile(r"^/2010-04-01/Accounts/(?P<account>[^/]+)/Recordings\.json$")
_CALL = re.compile(r"^/2010-04-01/Accounts/(?P<account>[^/]+)/Calls/(?P<sid>CA[0-9a-fA-F]{32})\.json$")
_MESSAGES = re.compile(r"^/2010-04-01/Accounts/(?P<account>[^/]+)/Messages\.json$")
_ACCOUNT = re.compile(r"^/2010-04-01/Accounts/(?P<account>[^/]+)\.json$")
# Fault kinds: answer `status` instead of doing the work ("before"); read the request and
# close the connection without doing anything ("drop"); do the work, then answer `status`
# ("after") or close without answering ("drop_after"): the client cannot tell what happened.
_EARLY, _LATE = ("before", "drop"), ("after", "drop_after")


class DropConnection(Exception):
    """Raised by `FakeTwilio.handle` to close the connection without an answer."""


@dataclass
class _Fault:
    substring: str
    remaining: int
    status: int
    kind: str = "before"
    method: str | None = None


@dataclass
class _Recording:
    account_sid: str
    wav: bytes
    call_sid: str | None = None
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def created(self) -> str:
        return format_datetime(self.created_at, usegmt=True)


@dataclass
class _Call:
    """A call as Twilio's Call resource describes it (numbers included, as Twilio does)."""

    to: str
    from_: str
    status: str = "in-progress"
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))


# Twilio's documented magic "To" numbers, which fail the way a real bad number does.
_BAD_TO = {
    "+15005550001": (21211, "Invalid 'To' Phone Number"),
    "+15005550002": (21612, "The 'To' phone number is not currently reachable via SMS."),
    "+15005550004": (21610, "Attempt to send to unsubscribed recipient"),
    "+15005550009": (21614, "'To' number is not a valid mobile number"),
}


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def _error(status: int, code: int, message: str) -> dict[str, Any]:
    """Twilio's JSON error body."""
    more_info = f"https://www.twilio.com/docs/errors/{code}"
    return {"code": code, "message": message, "more_info": more_info, "status": status}


class FakeTwilio:
    """Twilio's REST API for one account, on a local port, in a background thread."""

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        api_key: str = "",
        api_secret: str = "",
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        # An API key of the account (SK...): accepted, like the auth token, with its secret.
        self.api_key = api_key
        self.api_secret = api_secret
        self.host = host
        self.port = port
        self.messages: list[dict[str, Any]] = []
        self.requests_log: list[tuple[str, str]] = []
        self.deleted: set[str] = set()
        self.fetched: list[str] = []
        self._recordings: dict[str, _Recording] = {}
        self._calls: dict[str, _Call] = {}
        self._faults: list[_Fault] = []
        self._delays: list[list[Any]] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """The API base URL, like https://api.twilio.com; valid once started."""
        if self._server is None:
            raise RuntimeError("FakeTwilio is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeTwilio:
        """Start serving in a daemon thread."""
        if self._server is not None:
            return self
        server = ThreadingHTTPServer((self.host, self.port), _handler_for(self))
        server.daemon_threads = True
        self._server = server
        # Remembered so that stop() then start() (Twilio unreachable, then back) keeps the URL.
        self.port = int(server.server_address[1])
        # A short poll interval makes stop() prompt: tests start and stop many of these.
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-twilio", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        server, thread = self._server, self._thread
        self._server, self._thread = None, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> FakeTwilio:
        """Start serving for the block."""
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Stop serving at the end of the block."""
        self.stop()

    def add_recording(
        self,
        account_sid: str,
        recording_sid: str,
        wav_bytes: bytes,
        call_sid: str | None = None,
        created_at: datetime | None = None,
    ) -> None:
        """Store a recording's media, served at .../Recordings/{recording_sid}(.wav) and listed."""
        with self._lock:
            recording = _Recording(account_sid, wav_bytes, call_sid)
            if created_at is not None:
                recording.created_at = created_at
            self._recordings[recording_sid] = recording
            self.deleted.discard(recording_sid)

    def add_call(self, call_sid: str, to: str, from_: str, status: str = "in-progress") -> None:
        """Know a call, served at .../Calls/{call_sid}.json."""
        with self._lock:
            self._calls[call_sid] = _Call(to, from_, status)

    def set_call_status(self, call_sid: str, status: str) -> None:
        with self._lock:
            if call_sid in self._calls:
                self._calls[call_sid].status = status

    def backdate(self, seconds: float) -> None:
        """Make every stored recording look `seconds` older (the reconciler waits for a grace)."""
        with self._lock:
            for recording in self._recordings.values():
                recording.created_at -= timedelta(seconds=seconds)

    def has_recording(self, recording_sid: str) -> bool:
        """Whether a recording is stored and not deleted."""
        with self._lock:
            return recording_sid in self._recordings

    def fail_next(
        self, path_substring: str, times: int = 1, status: int = 500, kind: str = "before", method: str | None = None
    ) -> None:
        """Make the next `times` requests whose path contains `path_substring` (and whose
        method is `method`, when given) fail.

        `kind` "before" answers `status` without doing anything; "drop" closes the connection
        after reading the request; "after" does the work (sends the SMS, serves or deletes the
        recording) and then answers `status`; "drop_after" does it and closes unanswered.
        """
        if kind not in _EARLY + _LATE:
            raise ValueError(f"unknown fault kind {kind!r}")
        with self._lock:
            self._faults.append(_Fault(path_substring, times, status, kind, method))

    def delay_next(self, path_substring: str, seconds: float, times: int = 1) -> None:
        """Make the next `times` matching requests wait `seconds` before answering (a slow Twilio)."""
        with self._lock:
            self._delays.append([path_substring, times, seconds])

    def clear_faults(self) -> None:
        """Forget every injected failure that has not fired yet."""
        with self._lock:
            self._faults.clear()
            self._delays.clear()

    def _injected_fault(self, method: str, path: str, kinds: tuple[str, ...] = _EARLY) -> _Fault | None:
        """Consume a matching injected failure of one of `kinds` and return it."""
        with self._lock:
            for fault in self._faults:
                matches = fault.substring in path and fault.method in (None, method)
                if fault.remaining > 0 and matches and fault.kind in kinds:
                    fault.remaining -= 1
                    return _Fault(fault.substring, fault.remaining, fault.status, fault.kind, fault.method)
            return None

    def _authorized(self, header: str | None) -> str | None:
        """Check HTTP basic auth: "account" for the account SID and auth token, "key" for the
        API key and its secret, None for anything else."""
        if not header or not header.startswith("Basic "):
            return None
        try:
            user, _, password = base64.b64decode(header[6:], validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        # Constant-time, like any credential check that a test might copy; both pairs are checked.
        account = _same(user, self.account_sid) & _same(password, self.auth_token)
        key = bool(self.api_key) & _same(user, self.api_key) & _same(password, self.api_secret)
        return "account" if account else "key" if key else None

    def handle(
        self, method: str, raw_path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        """Answer one request: (status, headers, body). Public so it can be tested without sockets.

        Raises DropConnection where an injected fault closes the connection unanswered.
        """
        answer = self._handle(method, raw_path, headers, body)
        late = self._injected_fault(method, urlsplit(raw_path).path, _LATE)
        if late is None:
            return answer
        if late.kind == "drop_after":
            raise DropConnection()
        return _json(late.status, _error(late.status, 20500, "Injected failure"))

    def _handle(
        self, method: str, raw_path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        path = urlsplit(raw_path).path
        with self._lock:
            self.requests_log.append((method, path))
        delay = 0.0
        with self._lock:
            for entry in self._delays:
                if entry[1] > 0 and entry[0] in path:
                    entry[1] -= 1
                    delay = float(entry[2])
                    break
        if delay:
            time.sleep(delay)
        fault = self._injected_fault(method, path)
        if fault is not None and fault.kind == "drop":
            raise DropConnection()
        if fault is not None:
            return _json(fault.status, _error(fault.status, 20500, "Injected failure"))
        if not path.startswith(_PREFIX):
            return _json(404, _error(404, 20404, f"The requested resource {path} was not found"))
        credential = self._authorized(headers.get("authorization"))
        if credential is None:
            status, head, payload = _json(401, _error(401, 20003, "Authenticate"))
            head["WWW-Authenticate"] = 'Basic realm="Twilio API"'
            return status, head, payload
        match = _RECORDING.match(path)
        if match and match["account"] == self.account_sid:
            return self._recording(method, match["sid"], match["ext"] or "", path)
        match = _RECORDINGS.match(path)
        if match and match["account"] == self.account_sid and method == "GET":
            return self._recording_list(path, parse_qs(urlsplit(raw_path).query))
        match = _CALL.match(path)
        if match and match["account"] == self.account_sid and method == "GET":
            return self._call(match["sid"], path)
        match = _MESSAGES.match(path)
        if match and match["account"] == self.account_sid:
            if method == "GET":
                return self._message_list(parse_qs(urlsplit(raw_path).query))
            if method != "POST":
                return _json(405, _error(405, 20004, "Method not allowed"))
            return self._message(body)
        match = _ACCOUNT.match(path)
        if match and match["account"] == self.account_sid and method == "GET":
            if credential == "key":  # a Standard API key may not read the Account resource
                return _json(403, _error(403, 20003, "Permission Denied"))
            return _json(200, self._account_json())
        return _json(404, _error(404, 20404, f"The requested resource {path} was not found"))

    def _recording(self, method: str, sid: str, ext: str, path: str) -> tuple[int, dict[str, str], bytes]:
        """Serve, describe or delete one recording."""
        with self._lock:
            recording = self._recordings.get(sid)
            if recording is None or recording.account_sid != self.account_sid:
                return _json(404, _error(404, 20404, f"The requested resource {path} was not found"))
            if method == "DELETE" and ext in ("", ".json"):
                del self._recordings[sid]
                self.deleted.add(sid)
                return 204, {}, b""
            if method != "GET":
                return _json(405, _error(405, 20004, "Method not allowed"))
            if ext == ".json":
                return _json(200, self._recording_json(sid, recording))
            self.fetched.append(sid)
            return 200, {"Content-Type": "audio/x-wav"}, recording.wav

    def _recording_json(self, sid: str, recording: _Recording) -> dict[str, Any]:
        """Describe a recording like Twilio's Recording resource."""
        return {
            "sid": sid,
            "account_sid": recording.account_sid,
            "call_sid": recording.call_sid,
            "conference_sid": None,
            "date_created": recording.created,
            "date_updated": recording.created,
            "start_time": recording.created,
            "duration": str(max(1, round(audio.duration(recording.wav)))),
            "channels": 1,
            "status": "completed",
            "source": "RecordVerb",
            "error_code": None,
            "price": None,
            "price_unit": "USD",
            "api_version": "2010-04-01",
            "uri": f"{_PREFIX}{recording.account_sid}/Recordings/{sid}.json",
            "media_url": f"https://api.twilio.com{_PREFIX}{recording.account_sid}/Recordings/{sid}",
        }

    def _recording_list(self, path: str, query: dict[str, list[str]]) -> tuple[int, dict[str, str], bytes]:
        """List recordings newest first, filtered and paged like Twilio's Recordings list.

        Filters: `DateCreated`, `DateCreated>` (on or after) and `DateCreated<` (on or before)
        take a YYYY-MM-DD date in UTC; `CallSid`. Paging: `PageSize` (1-1000, default 50),
        `Page`, and `PageToken` (the SID the next page starts after).
        """
        one = {name: values[0] for name, values in query.items()}
        try:
            size = min(1000, max(1, int(one.get("PageSize", "50"))))
            page = max(0, int(one.get("Page", "0")))
            bounds = [(name, date.fromisoformat(one[name][:10])) for name in _DATE_FILTERS if name in one]
        except ValueError:
            return _json(400, _error(400, 20001, "Invalid filter or paging parameter"))
        with self._lock:
            rows = sorted(self._recordings.items(), key=lambda item: item[1].created_at, reverse=True)
            entries = [
                self._recording_json(sid, rec)
                for sid, rec in rows
                if rec.account_sid == self.account_sid
                and (not one.get("CallSid") or rec.call_sid == one["CallSid"])
                and all(_DATE_FILTERS[name](rec.created_at.date(), day) for name, day in bounds)
            ]
        start = 0
        token = one.get("PageToken", "")
        if token:
            after = [i for i, entry in enumerate(entries) if "PA" + entry["sid"] == token]
            start = after[0] + 1 if after else len(entries)
        chunk = entries[start : start + size]
        keep = {name: value for name, value in one.items() if name not in ("Page", "PageToken", "PageSize")}
        base = f"{path}?" + urlencode({**keep, "PageSize": size})
        next_uri = None
        if start + size < len(entries) and chunk:
            next_uri = base + "&" + urlencode({"Page": page + 1, "PageToken": "PA" + chunk[-1]["sid"]})
        body = {
            "recordings": chunk,
            "start": start,
            "end": start + max(0, len(chunk) - 1),
            "page": page,
            "page_size": size,
            "uri": base + f"&Page={page}",
            "first_page_uri": base + "&Page=0",
            "next_page_uri": next_uri,
            "previous_page_uri": None,
        }
        return _json(200, body)

    def _call(self, sid: str, path: str) -> tuple[int, dict[str, str], bytes]:
        """Describe a call like Twilio's Call resource."""
        with self._lock:
            call = self._calls.get(sid)
            if call is None:
                return _json(404, _error(404, 20404, f"The requested resource {path} was not found"))
            body = {
                "sid": sid,
                "account_sid": self.account_sid,
                "parent_call_sid": None,
                "to": call.to,
                "to_formatted": call.to,
                "from": call.from_,
                "from_formatted": call.from_,
                "status": call.status,
                "direction": "inbound",
                "date_created": format_datetime(call.created_at, usegmt=True),
                "api_version": "2010-04-01",
                "uri": f"{_PREFIX}{self.account_sid}/Calls/{sid}.json",
            }
        return _json(200, body)

    def _account_json(self) -> dict[str, Any]:
        """The Account resource (what a credentials check reads); no auth token in it."""
        return {
            "sid": self.account_sid,
            "friendly_name": "FakeTwilio",
            "status": "active",
            "type": "Full",
            "uri": f"{_PREFIX}{self.account_sid}.json",
        }

    def _message_list(self, query: dict[str, list[str]]) -> tuple[int, dict[str, str], bytes]:
        """List messages newest first, filtered by To and From, one page of PageSize (max 1000)."""
        to, sender = query.get("To", [None])[0], query.get("From", [None])[0]
        size = min(1000, max(1, int(query.get("PageSize", ["50"])[0] or 50)))
        with self._lock:
            found = [
                m
                for m in reversed(self.messages)
                if (to is None or m["to"] == to) and (sender is None or m["from"] == sender)
            ][:size]
        uri = f"{_PREFIX}{self.account_sid}/Messages.json"
        return _json(
            200,
            {
                "messages": found,
                "page": 0,
                "page_size": size,
                "start": 0,
                "end": max(0, len(found) - 1),
                "uri": f"{uri}?PageSize={size}&Page=0",
                "first_page_uri": f"{uri}?PageSize={size}&Page=0",
                "next_page_uri": None,
                "previous_page_uri": None,
            },
        )

    def _message(self, body: bytes) -> tuple[int, dict[str, str], bytes]:
        """Accept an outgoing SMS like the Messages API."""
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}
        to, sender, text = form.get("To", ""), form.get("From", ""), form.get("Body", "")
        service = form.get("MessagingServiceSid", "")
        if not to:
            return _json(400, _error(400, 21604, "A 'To' phone number is required."))
        if not sender and not service:
            return _json(400, _error(400, 21603, "A 'From' phone number is required."))
        if not text and "MediaUrl" not in form:
            return _json(400, _error(400, 21602, "Message body is required."))
        if to in _BAD_TO:
            return _json(400, _error(400, *_BAD_TO[to]))
        sid = "SM" + uuid.uuid4().hex
        now = formatdate(usegmt=True)
        message: dict[str, Any] = {
            "sid": sid,
            "account_sid": self.account_sid,
            "messaging_service_sid": service or None,
            "to": to,
            "from": sender or None,
            "body": text,
            "status": "queued",
            "direction": "outbound-api",
            "num_segments": str(max(1, -(-len(text) // 160))),
            "num_media": "0",
            "date_created": now,
            "date_updated": now,
            "date_sent": None,
            "price": None,
            "price_unit": "USD",
            "error_code": None,
            "error_message": None,
            "api_version": "2010-04-01",
            "uri": f"{_PREFIX}{self.account_sid}/Messages/{sid}.json",
        }
        with self._lock:
            self.messages.append(message)
        return _json(201, message)


_DATE_FILTERS = {
    "DateCreated": lambda day, bound: day == bound,
    "DateCreated>": lambda day, bound: day >= bound,
    "DateCreated<": lambda day, bound: day <= bound,
}


def _json(status: int, payload: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps(payload).encode()


def _handler_for(fake: FakeTwilio) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "FakeTwilio/1.0"

        def _serve(self) -> None:
            """Hand the request to FakeTwilio.handle and write its answer."""
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length > 0 else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                status, head, payload = fake.handle(self.command, self.path, headers, body)
            except DropConnection:
                self.close_connection = True  # the request was read; no answer is written
                return
            self.send_response(status)
            for name, value in head.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_DELETE = do_PUT = _serve

        def log_message(self, format: str, *args: Any) -> None:
            # Quiet: request lines would clutter test output and the simulator's transcript.
            return

    return Handler
