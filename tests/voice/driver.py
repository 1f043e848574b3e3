"""Drive one call through the app with signed requests, reading the TwiML like Twilio would."""

from __future__ import annotations

import itertools
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.conftest import ACCOUNT_SID, PUBLIC_URL, TwilioClient

CALLER = "+13145550123"
_counter = itertools.count(1)


def sid(prefix: str) -> str:
    return prefix + uuid.uuid4().hex


def assert_no_dead_end(root: ET.Element) -> None:
    """A <Gather> or <Record> must never be the last thing Twilio can run."""
    tags = [child.tag for child in root]
    for i, tag in enumerate(tags):
        if tag in ("Gather", "Record"):
            assert any(t in ("Redirect", "Hangup", "Record") for t in tags[i + 1 :]), tags


@dataclass
class Doc:
    """A parsed TwiML response."""

    root: ET.Element
    status: int

    @property
    def verbs(self) -> list[str]:
        return [child.tag for child in self.root]

    def says(self) -> list[str]:
        return [el.text or "" for el in self.root.iter("Say")]

    def text(self) -> str:
        return " ".join(self.says())

    def first(self, tag: str) -> ET.Element:
        found = self.root.find(tag)
        assert found is not None, f"no <{tag}> in {self.verbs}"
        return found

    def has(self, tag: str) -> bool:
        return self.root.find(tag) is not None


@dataclass
class VoiceCall:
    """One simulated caller. Every request carries the full set of Twilio call parameters."""

    twilio: TwilioClient
    to: str
    call_sid: str = field(default_factory=lambda: sid("CA"))
    doc: Doc | None = None
    recordings: list[str] = field(default_factory=list)
    # Where recordings "live" (a FakeTwilio's base URL) and a hook that stores their audio there.
    media_base: str = "http://127.0.0.1:9"
    on_record: Callable[[str], None] | None = None

    def base(self) -> dict[str, str]:
        return {
            "CallSid": self.call_sid,
            "AccountSid": ACCOUNT_SID,
            "From": CALLER,
            "To": self.to,
            "Caller": CALLER,
            "Called": self.to,
            "CallStatus": "in-progress",
            "Direction": "inbound",
            "ApiVersion": "2010-04-01",
            "FromCity": "CLAYTON",
            "FromState": "MO",
            "FromZip": "63105",
            "FromCountry": "US",
            "CallerName": "JANE DOE",
        }

    def post(self, url: str, extra: dict[str, str] | None = None) -> Doc:
        response = self.twilio.post(url, {**self.base(), **(extra or {})})
        assert response.status_code == 200, (url, response.status_code, response.data)
        assert response.mimetype == "text/xml"
        root = ET.fromstring(response.data)
        assert root.tag == "Response"
        assert_no_dead_end(root)
        self.doc = Doc(root, response.status_code)
        return self.doc

    def start(self) -> Doc:
        return self.post("/voice/incoming", {"CallStatus": "ringing"})

    def _action(self, tag: str) -> str:
        assert self.doc is not None
        return self.doc.first(tag).attrib["action"]

    def press(self, digits: str, finished_on_key: str | None = None) -> Doc:
        """Press keys in the current <Gather>."""
        extra = {"Digits": digits}
        if finished_on_key:
            extra["FinishedOnKey"] = finished_on_key
        return self.post(self._action("Gather"), extra)

    def silence(self) -> Doc:
        """Say nothing: the <Gather> falls through, Twilio follows the <Redirect>."""
        assert self.doc is not None
        redirect = self.doc.root.findall("Redirect")
        assert redirect, f"a Gather without a fallback: {self.doc.verbs}"
        return self.post(redirect[-1].text or "")

    def answer(self, digits: str = "#", duration: int = 7, callback: bool = True) -> Doc:
        """Record an answer after the beep, ended by `digits`; then send its status callback."""
        assert self.doc is not None
        record = self.doc.first("Record")
        recording_sid = sid("RE")
        self.recordings.append(recording_sid)
        url = f"{self.media_base}/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{recording_sid}"
        if self.on_record is not None:
            self.on_record(recording_sid)
        params = {
            "RecordingSid": recording_sid,
            "RecordingUrl": url,
            "RecordingDuration": str(duration),
            "Digits": digits,
        }
        callback_url = record.attrib["recordingStatusCallback"]
        doc = self.post(record.attrib["action"], params)
        if callback:
            self.recording_status(callback_url, recording_sid, url, duration)
        return doc

    def recording_status(
        self, callback_url: str, recording_sid: str, url: str, duration: int, status: str = "completed"
    ) -> int:
        params = {
            "AccountSid": ACCOUNT_SID,
            "CallSid": self.call_sid,
            "RecordingSid": recording_sid,
            "RecordingUrl": url,
            "RecordingStatus": status,
            "RecordingDuration": str(duration),
            "RecordingChannels": "1",
            "RecordingSource": "RecordVerb",
        }
        return self.twilio.post(callback_url, params).status_code

    def dial_result(self, status: str) -> Doc:
        return self.post(
            self._action("Dial"),
            {
                "DialCallStatus": status,
                "DialCallSid": sid("CA"),
                "DialCallDuration": "30",
            },
        )

    def hang_up(self, duration: int = 95) -> int:
        params = {
            **self.base(),
            "CallStatus": "completed",
            "CallDuration": str(duration),
            "SequenceNumber": str(next(_counter)),
        }
        return self.twilio.post("/voice/status", params).status_code

    @property
    def action_path(self) -> str:
        return self._action("Gather")[len(PUBLIC_URL) :]
