"""Parse a TwiML voice document into frozen verb objects, rejecting what Twilio would reject.

Only the verbs and attributes a hotline uses are modelled. A document Twilio could not run
raises `TwimlError` with the error code Twilio would report, so a test sees "application
error" exactly where a real call would hear it.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass

# Twilio's codes: 12100 document parse failure (bad XML, unknown verb), 12102 bad root.
PARSE_FAILURE = 12100
INVALID_ROOT = 12102

# Verbs Twilio accepts but this simulator does not play: refusing them loudly beats
# pretending a <Conference> or <Pay> happened.
_VALID_BUT_UNSUPPORTED = frozenset(
    {"Connect", "Echo", "Enqueue", "Leave", "Message", "Pay", "Prompt", "Queue", "Refer", "Sms", "Start", "Stop"}
)
# Twilio rings at most ten <Number>s in one <Dial>.
MAX_NUMBERS = 10
_DIAL_NOUNS_UNSUPPORTED = frozenset({"Client", "Conference", "Queue", "Sip", "Application", "WhatsApp"})


class TwimlError(ValueError):
    """A TwiML document Twilio would not run; `code` is Twilio's error code (None: simulator limit)."""

    def __init__(self, message: str, code: int | None = PARSE_FAILURE) -> None:
        super().__init__(f"{message} (Twilio error {code})" if code else message)
        self.code = code


@dataclass(frozen=True)
class Say:
    """Speak text to the caller."""

    text: str
    voice: str | None = None
    language: str | None = None


@dataclass(frozen=True)
class Play:
    """Play an audio file."""

    url: str
    loop: int = 1


@dataclass(frozen=True)
class Pause:
    """Wait in silence."""

    length: int = 1


@dataclass(frozen=True)
class Gather:
    """Collect keys; nested prompts are interrupted by the first key."""

    action: str | None = None
    method: str = "POST"
    num_digits: int | None = None
    finish_on_key: str = "#"
    timeout: int = 5
    input: str = "dtmf"
    action_on_empty_result: bool = False
    prompts: tuple[Say | Play | Pause, ...] = ()


@dataclass(frozen=True)
class Record:
    """Record the caller until a finish key, silence or maxLength."""

    action: str | None = None
    method: str = "POST"
    finish_on_key: str = "1234567890*#"
    max_length: int = 3600
    timeout: int = 5
    play_beep: bool = True
    recording_status_callback: str | None = None
    recording_status_callback_event: tuple[str, ...] = ("completed",)
    recording_status_callback_method: str = "POST"


@dataclass(frozen=True)
class Redirect:
    """Fetch the next document from another URL."""

    url: str
    method: str = "POST"


@dataclass(frozen=True)
class Number:
    """One phone number in a <Dial>, with its optional whisper URL and machine detection."""

    number: str
    url: str | None = None
    method: str = "POST"
    machine_detection: str | None = None


@dataclass(frozen=True)
class Dial:
    """Ring numbers at once and bridge the first that answers."""

    action: str | None = None
    method: str = "POST"
    timeout: int = 30
    caller_id: str | None = None
    answer_on_bridge: bool = False
    numbers: tuple[Number, ...] = ()


@dataclass(frozen=True)
class Hangup:
    """End the call."""


@dataclass(frozen=True)
class Reject:
    """Refuse an unanswered call (busy or not in service)."""

    reason: str = "rejected"


Verb = Say | Play | Pause | Gather | Record | Redirect | Dial | Hangup | Reject


def _int(el: ET.Element, name: str, default: int) -> int:
    raw = el.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise TwimlError(f"<{el.tag}> attribute {name}={raw!r} is not a whole number") from None


def _bool(el: ET.Element, name: str, default: bool) -> bool:
    raw = el.get(name)
    if raw is None:
        return default
    if raw.lower() not in ("true", "false"):
        raise TwimlError(f"<{el.tag}> attribute {name}={raw!r} is not true or false")
    return raw.lower() == "true"


def _method(el: ET.Element, name: str = "method") -> str:
    method = (el.get(name) or "POST").upper()
    if method not in ("GET", "POST"):
        raise TwimlError(f"<{el.tag}> {name}={method!r} must be GET or POST")
    return method


def _text(el: ET.Element) -> str:
    # itertext keeps the words inside SSML children such as <prosody> or <emphasis>.
    return " ".join("".join(el.itertext()).split())


def _say(el: ET.Element) -> Say:
    return Say(_text(el), el.get("voice"), el.get("language"))


def _play(el: ET.Element) -> Play:
    return Play(_text(el), _int(el, "loop", 1))


def _pause(el: ET.Element) -> Pause:
    return Pause(_int(el, "length", 1))


def _gather(el: ET.Element) -> Gather:
    nested: list[Say | Play | Pause] = []
    parsers: dict[str, Callable[[ET.Element], Say | Play | Pause]] = {"Say": _say, "Play": _play, "Pause": _pause}
    for child in el:
        parse = parsers.get(child.tag)
        if parse is None:
            raise TwimlError(f"<{child.tag}> is not allowed inside <Gather>")
        nested.append(parse(child))
    num_digits = _int(el, "numDigits", 0)
    return Gather(
        action=el.get("action"),
        method=_method(el),
        num_digits=num_digits if num_digits > 0 else None,
        finish_on_key=el.get("finishOnKey", "#"),
        timeout=_int(el, "timeout", 5),
        input=el.get("input", "dtmf"),
        action_on_empty_result=_bool(el, "actionOnEmptyResult", False),
        prompts=tuple(nested),
    )


def _record(el: ET.Element) -> Record:
    events = tuple((el.get("recordingStatusCallbackEvent") or "completed").replace(",", " ").split())
    return Record(
        action=el.get("action"),
        method=_method(el),
        finish_on_key=el.get("finishOnKey", "1234567890*#"),
        max_length=_int(el, "maxLength", 3600),
        timeout=_int(el, "timeout", 5),
        play_beep=_bool(el, "playBeep", True),
        recording_status_callback=el.get("recordingStatusCallback"),
        recording_status_callback_event=events,
        recording_status_callback_method=_method(el, "recordingStatusCallbackMethod"),
    )


def _redirect(el: ET.Element) -> Redirect:
    url = _text(el)
    if not url:
        raise TwimlError("<Redirect> has no URL")
    return Redirect(url, _method(el))


def _dial(el: ET.Element) -> Dial:
    numbers: list[Number] = []
    for child in el:
        if child.tag == "Number":
            numbers.append(Number(_text(child), child.get("url"), _method(child), child.get("machineDetection")))
        elif child.tag in _DIAL_NOUNS_UNSUPPORTED:
            raise TwimlError(f"<Dial><{child.tag}> is valid TwiML but the simulator does not play it", code=None)
        else:
            raise TwimlError(f"<{child.tag}> is not allowed inside <Dial>")
    # <Dial>+15551234567</Dial> is shorthand for a single <Number>.
    bare = (el.text or "").strip()
    if bare:
        numbers.insert(0, Number(bare))
    if not numbers:
        raise TwimlError("<Dial> has nothing to dial")
    if len(numbers) > MAX_NUMBERS:
        # Twilio documents at most ten; it does not say what it does with more, so refuse.
        raise TwimlError(f"<Dial> has {len(numbers)} <Number>s; Twilio rings at most {MAX_NUMBERS}", code=None)
    return Dial(
        action=el.get("action"),
        method=_method(el),
        timeout=_int(el, "timeout", 30),
        caller_id=el.get("callerId"),
        answer_on_bridge=_bool(el, "answerOnBridge", False),
        numbers=tuple(numbers),
    )


def _hangup(el: ET.Element) -> Hangup:
    return Hangup()


def _reject(el: ET.Element) -> Reject:
    return Reject(el.get("reason", "rejected"))


_PARSERS: dict[str, Callable[[ET.Element], Verb]] = {
    "Say": _say,
    "Play": _play,
    "Pause": _pause,
    "Gather": _gather,
    "Record": _record,
    "Redirect": _redirect,
    "Dial": _dial,
    "Hangup": _hangup,
    "Reject": _reject,
}


def parse(document: str | bytes) -> list[Verb]:
    """Parse a TwiML voice document into its verbs, in order."""
    if not document or not document.strip():
        raise TwimlError("the response body is empty, not TwiML")
    try:
        root = ET.fromstring(document)
    except ET.ParseError as exc:
        raise TwimlError(f"the response is not well-formed XML: {exc}") from None
    if root.tag != "Response":
        raise TwimlError(f"the root element is <{root.tag}>, not <Response>", code=INVALID_ROOT)
    verbs: list[Verb] = []
    for el in root:
        parser = _PARSERS.get(el.tag)
        if parser is not None:
            verbs.append(parser(el))
        elif el.tag in _VALID_BUT_UNSUPPORTED:
            raise TwimlError(f"<{el.tag}> is valid TwiML but the simulator does not play it", code=None)
        else:
            raise TwimlError(f"unknown verb <{el.tag}>")
    return verbs
