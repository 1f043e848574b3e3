"""Play one inbound call against the app over HTTP, exactly as Twilio would.

Every request is signed with X-Twilio-Signature over the URL it is sent to, carries the
parameters Twilio sends, and the TwiML in each answer is run verb by verb with Twilio's
defaults. What Twilio would have turned into "an application error has occurred" (a non-2xx
answer, TwiML that does not parse) ends the call and is listed in `CallResult.errors`.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Literal
from urllib.parse import parse_qs, urldefrag, urljoin

import requests

from hotline.simulator import audio
from hotline.simulator.callers import HANGUP, Answer, Caller
from hotline.simulator.fake_twilio import FakeTwilio
from hotline.simulator.twiml import (
    Dial,
    Gather,
    Hangup,
    Number,
    Pause,
    Play,
    Record,
    Redirect,
    Reject,
    Say,
    TwimlError,
    Verb,
    parse,
)
from hotline.simulator.webhooks import (
    REQUEST_TIMEOUT,
    HttpTransport,
    Line,
    Place,
    Transport,
    Twilio,
    new_sid,
    recording_params,
    recording_url,
)

EndedBy = Literal["hangup", "reject", "end", "caller", "error", "limit"]
Leg = Literal["caller", "dispatcher", "callback"]

__all__ = ["REQUEST_TIMEOUT", "CallResult", "Exchange", "SimulatedCall", "gather_result", "new_sid"]

# Where the simulated caller and the hotline's number are, as Twilio reports them.
CALLER_PLACE = Place("SAINT LOUIS", "MO", "63101")
CALLED_PLACE = Place("CLAYTON", "MO", "63105")
# Seconds a bridged caller and dispatcher talk, for DialCallDuration and CallDuration.
CONVERSATION_SECONDS = 45


@dataclass
class Exchange:
    """One request the simulator made and what came back."""

    leg: Leg
    method: str
    url: str
    params: dict[str, str]
    status: int | None
    body: str


@dataclass
class CallResult:
    """Everything a test or a person wants to know about a simulated call."""

    call_sid: str
    transcript: list[str] = field(default_factory=list)
    requests: list[Exchange] = field(default_factory=list)
    recordings: list[str] = field(default_factory=list)
    child_calls: list[str] = field(default_factory=list)
    fell_through: bool = False
    errors: list[str] = field(default_factory=list)
    ended_by: EndedBy = "end"
    duration: int = 0

    @property
    def ok(self) -> bool:
        """True when the app never errored and no Gather/Record was left without a fallback."""
        return not self.errors and not self.fell_through and self.ended_by != "limit"


class _End(Exception):
    """Stop the leg: raised from deep inside verb handling."""

    def __init__(self, how: EndedBy) -> None:
        super().__init__(how)
        self.how = how


@dataclass
class _Next:
    """Fetch another TwiML document (an action or a Redirect)."""

    url: str
    method: str
    extra: dict[str, str]
    after: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)


@dataclass
class _LegState:
    """One call leg: the caller's inbound call, or a dispatcher's child call for the whisper."""

    leg: Leg
    params: dict[str, str]
    url: str = ""
    language: str | None = None
    # A dispatcher's leg picked up by their voicemail: it hears everything, presses nothing.
    machine: bool = False


class SimulatedCall:
    """Run one inbound call against `app_url`, with `fake_twilio` hosting the recordings.

    Requests go over HTTP (`http`, or a session of its own) unless a `transport` is given,
    such as `WsgiTransport` for an app in the same process.
    """

    def __init__(
        self,
        app_url: str,
        auth_token: str,
        account_sid: str,
        to: str,
        caller: Caller,
        fake_twilio: FakeTwilio,
        from_: str = "+15555550100",
        http: requests.Session | None = None,
        *,
        incoming_path: str = "/voice/incoming",
        status_path: str = "/voice/status",
        max_steps: int = 200,
        duplicate_callbacks: bool = False,
        late_recording_callbacks: bool = False,
        caller_name: str = "SIMULATED CALLER",
        transport: Transport | None = None,
    ) -> None:
        self.app_url = app_url.rstrip("/")
        self.account_sid = account_sid
        self.to = to
        self.from_ = from_
        self.caller = caller
        self.fake_twilio = fake_twilio
        self._own_transport = transport is None and http is None
        self.transport = transport or HttpTransport(http)
        self.twilio = Twilio(auth_token, self.transport)
        self.incoming_path = incoming_path
        self.status_path = status_path
        self.max_steps = max_steps
        self.duplicate_callbacks = duplicate_callbacks
        self.late_recording_callbacks = late_recording_callbacks
        self.caller_name = caller_name
        # Twilio retries a failed callback within seconds; tests may shorten the wait.
        self.callback_retry_delay = 1.0
        self.call_sid = new_sid("CA")
        self.result = CallResult(self.call_sid)
        self._steps = 0
        self._clock = 0.0
        self._start = 0.0
        self._deferred: list[tuple[str, str, dict[str, str]]] = []
        # <Reject> only refuses a call Twilio has not answered yet (it is the first verb).
        self._answered = False
        self._reject_reason = "rejected"

    # -- parameters ---------------------------------------------------------------------

    def base_params(self) -> dict[str, str]:
        """The parameters Twilio sends with every request about the inbound call."""
        line = Line(self.account_sid, self.from_, self.to, self.caller_name, CALLER_PLACE, CALLED_PLACE)
        return line.params(self.call_sid)

    def _child_params(self, dial: Dial, number: str, child_sid: str) -> dict[str, str]:
        """Parameters of a dispatcher's leg: Twilio's outbound call placed by <Dial>."""
        caller_id = dial.caller_id or self.from_
        return {
            "CallSid": child_sid,
            "ParentCallSid": self.call_sid,
            "AccountSid": self.account_sid,
            "From": caller_id,
            "To": number,
            "Caller": caller_id,
            "Called": number,
            "CallStatus": "in-progress",
            # Twilio labels the legs <Dial> places "outbound-dial".
            "Direction": "outbound-dial",
            "ApiVersion": "2010-04-01",
        }

    def _timestamp(self) -> str:
        """Format the simulated 'now' as Twilio does (RFC 2822, +0000)."""
        return formatdate(self._start + self._clock, usegmt=False).replace("-0000", "+0000")

    # -- HTTP ----------------------------------------------------------------------------

    def _send(self, leg: Leg, method: str, url: str, params: dict[str, str], token: str | None = None) -> Exchange:
        """Send one signed request the way Twilio does; never raises for HTTP trouble."""
        url, reply = self.twilio.send(method, url, params, token)
        exchange = Exchange(leg, method, url, dict(params), reply.status, reply.body)
        self.result.requests.append(exchange)
        return exchange

    def _callback(self, url: str, method: str, params: dict[str, str]) -> None:
        """Post a status callback (twice when simulating Twilio's retries); its body is ignored.

        Honours the connection overrides a URL may carry in its fragment the way Twilio does:
        `rc` retries (at most 5) for the failures `rp` names (5xx, 4xx, ct/rt: no answer).
        """
        token = str(uuid.uuid4())
        retries, policy = _overrides(url)
        for _ in range(2 if self.duplicate_callbacks else 1):
            for attempt in range(retries + 1):
                exchange = self._send("callback", method, url, params, token)
                if exchange.status is not None and 200 <= exchange.status < 300:
                    break
                self.result.errors.append(f"callback {method} {url} -> {exchange.status}: {exchange.body[:200]}")
                if attempt == retries or not _retried(exchange.status, policy):
                    break
                time.sleep(self.callback_retry_delay)

    def _fetch_twiml(self, state: _LegState, url: str, method: str, extra: dict[str, str]) -> list[Verb]:
        """Request a TwiML document; an HTTP failure or bad TwiML ends the call as Twilio would."""
        state.url = url
        exchange = self._send(state.leg, method, url, {**state.params, **extra})
        if exchange.status is None or not 200 <= exchange.status < 300:
            self.result.errors.append(f"{method} {url} -> {exchange.status}: {exchange.body[:200]}")
            self._hear(state, "[Say] We are sorry, an application error has occurred. Goodbye.")
            raise _End("error")
        try:
            return parse(exchange.body)
        except TwimlError as exc:
            self.result.errors.append(f"{method} {url}: {exc}")
            self._hear(state, "[Say] We are sorry, an application error has occurred. Goodbye.")
            raise _End("error") from None

    # -- what the people on the line hear ---------------------------------------------------

    def _hear(self, state: _LegState, line: str) -> None:
        """Add a line to the transcript and tell whoever is on this leg."""
        if state.leg == "dispatcher":
            self.result.transcript.append(f"({'voicemail' if state.machine else 'dispatcher'}) {line}")
            self.caller.dispatcher_hears(line)
        else:
            self.result.transcript.append(line)
            self.caller.hear(line)

    def _prompt(self, state: _LegState, verb: Say | Play | Pause) -> None:
        """Play a Say, Play or Pause, advancing the simulated clock."""
        if isinstance(verb, Say):
            state.language = verb.language or state.language
            self._hear(state, f"[Say {verb.language or 'en-US'}] {verb.text}")
            # About 150 words a minute.
            self._clock += max(1.0, len(verb.text.split()) / 2.5)
        elif isinstance(verb, Play):
            self._hear(state, f"[Play] {verb.url}")
            self._clock += 3.0 * max(1, verb.loop)
        else:
            self._clock += verb.length

    # -- the call ------------------------------------------------------------------------

    def run(self) -> CallResult:
        """Place the call, play it to the end, send the final status callback; return the result."""
        self._start = time.time()
        # Twilio's Call resource knows the call (the reconciler looks its `To` up there).
        self.fake_twilio.add_call(self.call_sid, self.to, self.from_)
        state = _LegState("caller", self.base_params())
        url = f"{self.app_url}{self.incoming_path}"
        try:
            self.result.ended_by = self._run_leg(state, url, "POST", {"CallStatus": "ringing"})
        finally:
            self._finish()
        return self.result

    def _finish(self) -> None:
        """Send the call's final status, then any deferred recording callbacks."""
        rejected = self.result.ended_by == "reject"
        self.result.duration = 0 if rejected else max(1, round(self._clock))
        status = ("busy" if self._reject_reason == "busy" else "no-answer") if rejected else "completed"
        self.fake_twilio.set_call_status(self.call_sid, status)
        params = {
            **self.base_params(),
            "CallStatus": status,
            "CallDuration": str(self.result.duration),
            "Timestamp": self._timestamp(),
            "SequenceNumber": "0",
            "CallbackSource": "call-progress-events",
        }
        self._callback(f"{self.app_url}{self.status_path}", "POST", params)
        deferred, self._deferred = self._deferred, []
        for url, method, callback_params in deferred:
            self._callback(url, method, callback_params)
        if self._own_transport and isinstance(self.transport, HttpTransport):
            self.transport.close()

    def _run_leg(self, state: _LegState, url: str, method: str, extra: dict[str, str]) -> EndedBy:
        """Fetch and run documents on one leg until it ends."""
        try:
            verbs = self._fetch_twiml(state, url, method, extra)
            while True:
                step = self._run_document(state, verbs)
                if step is None:
                    return "end"
                try:
                    verbs = self._fetch_twiml(state, step.url, step.method, step.extra)
                finally:
                    # The recording exists whatever the action answered: its callback still comes.
                    for callback in step.after:
                        self._recording_callback(*callback)
        except _End as end:
            return end.how

    def _tick(self) -> None:
        """Count one verb; past the limit the call is looping."""
        self._steps += 1
        if self._steps > self.max_steps:
            self.result.errors.append(f"more than {self.max_steps} verbs: the call loops")
            raise _End("limit")

    def _run_document(self, state: _LegState, verbs: list[Verb]) -> _Next | None:
        """Run one document's verbs; return the next document to fetch, or None at its end."""
        for index, verb in enumerate(verbs):
            self._tick()
            last = index == len(verbs) - 1
            following = verbs[index + 1] if not last else None
            if state.leg == "caller" and not isinstance(verb, Reject):
                self._answered = True
            if isinstance(verb, Say | Play | Pause):
                self._prompt(state, verb)
            elif isinstance(verb, Gather):
                step = self._gather(state, verb, question=isinstance(following, Record))
                if step is not None:
                    return step
                if last and state.leg == "caller":
                    self.result.fell_through = True
                    self.result.errors.append(f"<Gather> at {state.url} fell through with nothing after it")
            elif isinstance(verb, Record):
                step = self._record(state, verb)
                if step is not None:
                    return step
                if last and state.leg == "caller":
                    self.result.fell_through = True
                    self.result.errors.append(f"empty <Record> at {state.url} fell through with nothing after it")
            elif isinstance(verb, Redirect):
                return _Next(self._resolve(state, verb.url), verb.method, {})
            elif isinstance(verb, Dial):
                step = self._dial(state, verb)
                if step is not None:
                    return step
            elif isinstance(verb, Hangup):
                raise _End("hangup")
            elif isinstance(verb, Reject):
                if state.leg == "caller" and not self._answered:
                    self._reject_reason = verb.reason
                    raise _End("reject")
                raise _End("hangup")
        return None

    def _resolve(self, state: _LegState, url: str | None) -> str:
        """Resolve a TwiML URL like Twilio: relative to the current document; absent = the document."""
        return urljoin(state.url, url) if url else state.url

    # -- verbs ---------------------------------------------------------------------------

    def _gather(self, state: _LegState, verb: Gather, question: bool) -> _Next | None:
        """Play the prompts, take the keys; return the action to post, or None to fall through."""
        for prompt in verb.prompts:
            self._prompt(state, prompt)
        if state.leg == "dispatcher":
            keys = None if state.machine else self.caller.dispatcher_press(verb)
        else:
            keys = self.caller.press(verb, question)
        if keys == HANGUP:
            self._hear(state, "[caller hangs up]")
            raise _End("caller")
        if keys:
            self._hear(state, f"[presses {keys}]")
        outcome = gather_result(verb, keys or "")
        if outcome is None:
            self._clock += verb.timeout
            return None
        self._clock += 0.5 * len(keys or "") + (0 if keys else verb.timeout)
        return _Next(self._resolve(state, verb.action), verb.method, outcome)

    def _record(self, state: _LegState, verb: Record) -> _Next | None:
        """Record an answer and return the action to post; None when the recording is empty."""
        if verb.play_beep:
            self._hear(state, "[beep]")
        answer = self.caller.speak(verb)
        started = self._timestamp()
        if answer is None or (answer.text is None and answer.wav is None):
            # Nothing said: Twilio skips the action and runs the next verb.
            self._clock += verb.timeout
            if answer is not None and answer.finish == HANGUP:
                raise _End("caller")
            self._empty_recording(state, verb, started)
            return None
        media = self._media(answer, state.language)
        length = audio.duration(media)
        finish = answer.finish
        if length > verb.max_length:
            media, length, finish = audio.truncate(media, verb.max_length), float(verb.max_length), ""
        elif finish not in (HANGUP, "") and finish not in verb.finish_on_key:
            # A key the Record does not listen to: the recording ends on its silence timeout.
            finish = ""
        recording_sid = new_sid("RE")
        self.fake_twilio.add_recording(self.account_sid, recording_sid, media, call_sid=self.call_sid)
        self.result.recordings.append(recording_sid)
        media_url = recording_url(self.fake_twilio.base_url, self.account_sid, recording_sid)
        seconds = str(max(1, round(length)))
        label = answer.wav.name if answer.wav is not None else answer.text
        self._hear(state, f"[records {seconds}s: {label}]" + (f" [presses {finish}]" if len(finish) == 1 else ""))
        self._clock += length + (verb.timeout if finish == "" else 0)
        if "in-progress" in verb.recording_status_callback_event:
            self._status_event(state, verb, recording_sid, media_url, "in-progress", "0", started)
        extra = {"RecordingUrl": media_url, "RecordingSid": recording_sid, "RecordingDuration": seconds}
        if finish:
            extra["Digits"] = finish
        after: list[tuple[str, str, dict[str, str]]] = []
        if verb.recording_status_callback and "completed" in verb.recording_status_callback_event:
            params = self._recording_params(recording_sid, media_url, "completed", seconds, started)
            callback_url = self._resolve(state, verb.recording_status_callback)
            after.append((callback_url, verb.recording_status_callback_method, params))
        action = self._resolve(state, verb.action)
        if finish == HANGUP:
            # Twilio still requests the action after a hang-up, but runs none of its TwiML.
            self._send(state.leg, verb.method, action, {**state.params, **extra})
            for pending in after:
                self._recording_callback(*pending)
            raise _End("caller")
        return _Next(action, verb.method, extra, after)

    def _media(self, answer: Answer, language: str | None) -> bytes:
        """Produce the answer's phone audio."""
        try:
            return audio.phone_audio(answer.text, answer.wav, language)
        except (OSError, audio.AudioError) as exc:
            # A bad file is the script's fault, not the app's: say so and record a tone instead.
            self.result.errors.append(f"could not read {answer.wav}: {exc}; recorded a tone instead")
            return audio.tone()

    def _recording_params(self, sid: str, url: str, status: str, seconds: str, started: str) -> dict[str, str]:
        """Build the parameters of a recording status callback (no caller identity, as Twilio)."""
        return recording_params(self.account_sid, self.call_sid, sid, url, status, seconds, started)

    def _status_event(
        self, state: _LegState, verb: Record, sid: str, url: str, status: str, seconds: str, started: str
    ) -> None:
        if verb.recording_status_callback:
            params = self._recording_params(sid, url, status, seconds, started)
            self._recording_callback(
                self._resolve(state, verb.recording_status_callback), verb.recording_status_callback_method, params
            )

    def _empty_recording(self, state: _LegState, verb: Record, started: str) -> None:
        """Tell the app, if it asked for 'absent', that no recording was made."""
        if "absent" in verb.recording_status_callback_event:
            sid = new_sid("RE")
            url = recording_url(self.fake_twilio.base_url, self.account_sid, sid)
            self._status_event(state, verb, sid, url, "absent", "0", started)

    def _recording_callback(self, url: str, method: str, params: dict[str, str]) -> None:
        """Post a recording status callback now, or after the call when simulating late delivery."""
        if self.late_recording_callbacks:
            self._deferred.append((url, method, params))
        else:
            self._callback(url, method, params)

    def _dial(self, state: _LegState, verb: Dial) -> _Next | None:
        """Ring the numbers at once; the first to pick up wins; return the Dial action to post.

        As at Twilio, the first phone to pick up (a person or a voicemail) ends the ringing
        of all the others, before its whisper runs; hanging up in the whisper (or never
        pressing the key it asks for) counts as not answered.
        """
        self._hear(state, f"[Dial {len(verb.numbers)} number(s), timeout {verb.timeout}s]")
        status, child_sid, talked = "no-answer", "", 0
        winner: Number | None = None
        for number in verb.numbers:
            sid = new_sid("CA")
            self.result.child_calls.append(sid)
            child_sid = sid if winner is None else child_sid
            if winner is None and self.caller.answers_transfer(number.number):
                winner = number
        if winner is not None and winner.url is None:
            status = "completed"
        elif winner is not None:
            machine = self.caller.is_voicemail(winner.number)
            params = self._child_params(verb, winner.number, child_sid)
            if winner.machine_detection:
                params["AnsweredBy"] = "machine_start" if machine else "human"
            if machine:
                self._hear(state, "[a dispatcher's voicemail picks up]")
            child = _LegState("dispatcher", params, machine=machine)
            how = self._run_leg(child, self._resolve(state, winner.url), winner.method, {})
            if how == "limit":
                raise _End("limit")
            if how == "end":
                status = "completed"
        if status == "completed":
            talked = CONVERSATION_SECONDS
            self._hear(state, f"[connected to a dispatcher for {talked}s]")
        else:
            self._hear(state, "[nobody answered]")
        self._clock += talked or verb.timeout
        if verb.action is None:
            return None
        extra = {"DialCallStatus": status, "DialCallSid": child_sid, "DialCallDuration": str(talked)}
        return _Next(self._resolve(state, verb.action), verb.method, extra)


def _overrides(url: str) -> tuple[int, set[str]]:
    """Twilio's retry count and policy from a URL fragment; by default, one retry on 'ct'."""
    fragment = {k: v[0] for k, v in parse_qs(urldefrag(url).fragment).items()}
    try:
        retries = min(5, max(0, int(fragment.get("rc", "1"))))
    except ValueError:
        retries = 1
    return retries, set(fragment.get("rp", "ct").split(","))


def _retried(status: int | None, policy: set[str]) -> bool:
    if "all" in policy:
        return True
    if status is None:
        return bool(policy & {"ct", "rt"})
    return (status >= 500 and "5xx" in policy) or (400 <= status < 500 and "4xx" in policy)


def gather_result(verb: Gather, keys: str) -> dict[str, str] | None:
    """The parameters Twilio posts to a Gather's action for `keys`, or None when it falls through."""
    digits, finished = "", ""
    for key in keys:
        if verb.finish_on_key and key == verb.finish_on_key:
            finished = key
            break
        digits += key
        if verb.num_digits is not None and len(digits) >= verb.num_digits:
            break
    if not digits and not verb.action_on_empty_result:
        return None
    params = {"Digits": digits}
    if finished:
        params["FinishedOnKey"] = finished
    return params
