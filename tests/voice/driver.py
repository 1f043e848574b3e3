"""Drive one call through the app with signed requests, reading the TwiML like Twilio would.

The driving is the simulator's (`hotline.simulator.driver.CallDriver`: Twilio's parameters,
its signature, following each answer's actions); this adapter runs it over the tests'
client (`TwilioClient`, or anything with its `post`) and asserts, at every step, what Twilio
needs from an answer: a 200 with a TwiML document that never leaves a caller at a dead end.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from hotline.simulator.driver import CallDriver
from hotline.simulator.webhooks import Line, Place, Reply, new_sid
from tests.conftest import ACCOUNT_SID, PUBLIC_URL, TwilioClient

CALLER = "+13145550123"
# The identity the tests' caller has at Twilio: the privacy tests look for it in logs and pages.
CALLER_NAME = "JANE DOE"
CALLER_PLACE = Place("CLAYTON", "MO", "63105")


def sid(prefix: str) -> str:
    return new_sid(prefix)


def assert_no_dead_end(root: ET.Element) -> None:
    """A <Gather> or <Record> must never be the last thing Twilio can run."""
    tags = [child.tag for child in root]
    for i, tag in enumerate(tags):
        if tag in ("Gather", "Record"):
            assert any(t in ("Redirect", "Hangup", "Record") for t in tags[i + 1 :]), tags


# The call-back offer of the shipped flows (ivr_flows/*.yaml, step `callback`).
OFFER_WORDS = ("If you are calling back about an earlier report", "Si llama otra vez por")


def is_offer(doc: Doc) -> bool:
    return doc.has("Gather") and any(word in doc.text() for word in OFFER_WORDS)


def _heard_then(before: ET.Element, after: ET.Element) -> ET.Element:
    """`after` with the sentences of `before` (minus the offer) said first, in its first Gather."""
    merged = ET.fromstring(ET.tostring(after))
    lines = [say for say in before.iter("Say") if not any(w in (say.text or "") for w in OFFER_WORDS)]
    target = merged.find("Gather")
    if target is None:
        target = merged
    for i, say in enumerate(lines):
        target.insert(i, say)
    return merged


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


class _Client(Protocol):
    """What the tests post webhooks with: `TwilioClient`, an HTTP stand-in with its `post`, or
    the simulator's own `AppTwilio` (which answers with a `Reply`)."""

    def post(self, path: str, params: dict[str, str]) -> Any: ...


class _ClientPoster:
    """The driver's transport over a test client; the client's response rides along in `raw`."""

    def __init__(self, client: _Client) -> None:
        self.client = client

    def post(self, url: str, params: dict[str, str]) -> Reply:
        response = self.client.post(url, params)
        if isinstance(response, Reply):
            return response
        return Reply(response.status_code, response.data.decode("utf-8", "replace"), response.mimetype, response)


@dataclass
class VoiceCall:
    """One simulated caller. Every request carries the full set of Twilio call parameters."""

    twilio: TwilioClient | _Client
    to: str
    call_sid: str = field(default_factory=lambda: sid("CA"))
    doc: Doc | None = None
    recordings: list[str] = field(default_factory=list)
    # Where recordings "live" (a FakeTwilio's base URL) and a hook that stores their audio there.
    media_base: str = "http://127.0.0.1:9"
    on_record: Callable[[str], None] | None = None
    # Walk past the call-back offer in silence (what a caller without a tip number does), so
    # tests of the questions press their keys as before; the call-back tests turn it off.
    skip_offer: bool = True

    @property
    def driver(self) -> CallDriver:
        """The simulator's driver for this call, with this call's current settings."""
        line = Line(ACCOUNT_SID, CALLER, self.to, CALLER_NAME, CALLER_PLACE)
        driver = CallDriver(_ClientPoster(self.twilio), line, call_sid=self.call_sid, media_base=self.media_base)
        driver.on_record, driver.recordings = self.on_record, self.recordings
        if self.doc is not None:
            driver.root = self.doc.root
        return driver

    def base(self) -> dict[str, str]:
        return self.driver.params()

    def _doc(self, url: str, reply: Reply) -> Doc:
        """Check an answer is TwiML Twilio can run, and make it the current document."""
        assert reply.status == 200, (url, reply.status, reply.body)
        assert reply.content_type == "text/xml"
        root = ET.fromstring(reply.body)
        assert root.tag == "Response"
        assert_no_dead_end(root)
        self.doc = Doc(root, reply.status)
        if self.skip_offer and is_offer(self.doc):
            offered = self.doc
            self.silence()
            assert self.doc is not None
            # What the caller heard before the offer (the notices) comes first.
            self.doc = Doc(_heard_then(offered.root, self.doc.root), self.doc.status)
        return self.doc

    def _step(self, step: Callable[[CallDriver], Reply]) -> Doc:
        driver = self.driver
        reply = step(driver)
        return self._doc(driver.url, reply)

    def post(self, url: str, extra: dict[str, str] | None = None) -> Doc:
        return self._doc(url, self.driver.post(url, extra))

    def start(self) -> Doc:
        return self._step(CallDriver.start)

    def _action(self, tag: str) -> str:
        assert self.doc is not None
        return self.doc.first(tag).attrib["action"]

    def press(self, digits: str, finished_on_key: str | None = None) -> Doc:
        """Press keys in the current <Gather>."""
        return self._step(lambda d: d.press(digits, finished_on_key))

    def silence(self) -> Doc:
        """Say nothing: the <Gather> falls through, Twilio follows the <Redirect>."""
        return self._step(CallDriver.silence)

    def answer(self, digits: str = "#", duration: int = 7, callback: bool = True) -> Doc:
        """Record an answer after the beep, ended by `digits`; then send its status callback."""
        return self._step(lambda d: d.answer(digits, duration, callback))

    def recording_status(
        self, callback_url: str, recording_sid: str, url: str, duration: int, status: str = "completed"
    ) -> int:
        reply = self.driver.recording_status(callback_url, recording_sid, url, duration, status)
        assert reply.status is not None
        return reply.status

    def dial_result(self, status: str) -> Doc:
        return self._step(lambda d: d.dial_result(status))

    def hang_up(self, duration: int = 95) -> int:
        reply = self.driver.hang_up(duration)
        assert reply.status is not None
        return reply.status

    @property
    def action_path(self) -> str:
        return self._action("Gather")[len(PUBLIC_URL) :]
