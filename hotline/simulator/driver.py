"""One inbound call driven a step at a time, following the TwiML the app answers.

`SimulatedCall` plays a whole call from a caller's script; tests and benchmarks often need
the opposite: to say what the caller does next (press these keys, record an answer, stay
silent, hang up) and look at each answer. `CallDriver` is that, on the same wire as the
simulator (`webhooks`): each step posts the parameters Twilio would, signed, to the URL the
last TwiML named (a <Gather>'s or <Record>'s action, the last <Redirect>), and sends the
recording status callback a <Record> asked for.
"""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Protocol
from urllib.parse import urljoin

from hotline.simulator.webhooks import Line, Reply, Twilio, new_sid, recording_params, recording_url

INCOMING_PATH = "/voice/incoming"
STATUS_PATH = "/voice/status"
# Status callbacks carry a sequence number; one counter for the process keeps them distinct.
_sequence = itertools.count(1)


class Poster(Protocol):
    """Posts one signed, form-encoded webhook to the app (a path or the app's full URL)."""

    def post(self, url: str, params: dict[str, str]) -> Reply: ...


class AppTwilio:
    """Twilio posting to one app: paths are resolved against the app's public URL."""

    def __init__(self, twilio: Twilio, app_url: str) -> None:
        self.twilio = twilio
        self.app_url = app_url.rstrip("/")

    def post(self, url: str, params: dict[str, str]) -> Reply:
        return self.twilio.send("POST", urljoin(self.app_url + "/", url), params)[1]


def twiml(reply: Reply) -> ET.Element | None:
    """The TwiML document of a reply, or None when it is not one (an error, a 204)."""
    if reply.status != 200 or not reply.body.lstrip().startswith("<"):
        return None
    try:
        root = ET.fromstring(reply.body)
    except ET.ParseError:
        return None
    return root if root.tag == "Response" else None


class CallDriver:
    """One caller on `line`, stepping through the call; `root` is the last TwiML received."""

    def __init__(
        self,
        poster: Poster,
        line: Line,
        *,
        call_sid: str | None = None,
        media_base: str = "http://127.0.0.1:9",
        on_record: Callable[[str], None] | None = None,
    ) -> None:
        self.poster = poster
        self.line = line
        self.call_sid = call_sid or new_sid("CA")
        # Where recordings "live" (a FakeTwilio's base URL) and a hook that stores their audio there.
        self.media_base = media_base
        self.on_record = on_record
        self.root: ET.Element | None = None
        self.reply: Reply | None = None
        self.url = ""  # where the last step posted
        self.recordings: list[str] = []
        # What the app answered the last recording status callback `answer` sent.
        self.callback_reply: Reply | None = None

    def params(self) -> dict[str, str]:
        """What Twilio sends with every request about this call."""
        return self.line.params(self.call_sid)

    def post(self, url: str, extra: dict[str, str] | None = None) -> Reply:
        """Post the call's parameters (and `extra`) to `url`; keep the TwiML it answers."""
        self.url = url
        self.reply = self.poster.post(url, {**self.params(), **(extra or {})})
        self.root = twiml(self.reply)
        return self.reply

    def verb(self, tag: str) -> ET.Element:
        """The current document's first <tag>; a missing one is the app's fault."""
        found = None if self.root is None else self.root.find(tag)
        if found is None:
            verbs = [] if self.root is None else [child.tag for child in self.root]
            raise AssertionError(f"no <{tag}> in {verbs}")
        return found

    def action(self, tag: str) -> str:
        return self.verb(tag).attrib["action"]

    def start(self) -> Reply:
        """The call rings: Twilio asks the app what to do."""
        return self.post(INCOMING_PATH, {"CallStatus": "ringing"})

    def press(self, digits: str, finished_on_key: str | None = None) -> Reply:
        """Press keys in the current <Gather>."""
        extra = {"Digits": digits}
        if finished_on_key:
            extra["FinishedOnKey"] = finished_on_key
        return self.post(self.action("Gather"), extra)

    def silence(self) -> Reply:
        """Say nothing: the <Gather> falls through, Twilio follows the <Redirect>."""
        redirects = [] if self.root is None else self.root.findall("Redirect")
        if not redirects:
            raise AssertionError(f"a Gather without a fallback: {[] if self.root is None else list(self.root)}")
        return self.post(redirects[-1].text or "")

    def answer(
        self, digits: str = "#", duration: int = 7, callback: bool = True, recording_sid: str | None = None
    ) -> Reply:
        """Record an answer after the beep, ended by `digits`; then send its status callback.

        `recording_sid` names a recording already at `media_base` (a benchmark's); by default
        the recording is new, and `on_record` is told its SID to put audio there.
        """
        record = self.verb("Record")
        recording_sid = recording_sid or new_sid("RE")
        self.recordings.append(recording_sid)
        url = recording_url(self.media_base, self.line.account_sid, recording_sid)
        if self.on_record is not None:
            self.on_record(recording_sid)
        params = {
            "RecordingSid": recording_sid,
            "RecordingUrl": url,
            "RecordingDuration": str(duration),
            "Digits": digits,
        }
        callback_url = record.attrib["recordingStatusCallback"]
        reply = self.post(record.attrib["action"], params)
        if callback:
            self.callback_reply = self.recording_status(callback_url, recording_sid, url, duration)
        return reply

    def recording_status(
        self, callback_url: str, recording_sid: str, url: str, duration: int, status: str = "completed"
    ) -> Reply:
        """Twilio's recording status callback (it carries no caller identity)."""
        params = recording_params(self.line.account_sid, self.call_sid, recording_sid, url, status, duration)
        return self.poster.post(callback_url, params)

    def dial_result(self, status: str, duration: int = 30) -> Reply:
        """The <Dial> ended: post its outcome to the Dial's action."""
        extra = {"DialCallStatus": status, "DialCallSid": new_sid("CA"), "DialCallDuration": str(duration)}
        return self.post(self.action("Dial"), extra)

    def hang_up(self, duration: int = 95) -> Reply:
        """The call is over: Twilio's final status callback."""
        params = {
            **self.params(),
            "CallStatus": "completed",
            "CallDuration": str(duration),
            "SequenceNumber": str(next(_sequence)),
        }
        return self.poster.post(STATUS_PATH, params)
