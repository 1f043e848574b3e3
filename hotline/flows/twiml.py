"""Render TwiML for a flow step: a pure function of the step, the call state and the URLs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from twilio.twiml.voice_response import Dial, Gather, VoiceResponse

from hotline.flows.model import Flow, Prompt, Step, Voice


@dataclass(frozen=True)
class Spoken:
    """One sentence to speak, already resolved to a language."""

    text: str
    voice: Voice


# Twilio's webhook connection overrides, in the URL fragment: retry a recording status
# callback up to 5 times (Twilio's maximum) when we answer 5xx or do not answer at all, so a
# short database outage does not drop it. The reconciler catches what still gets lost.
CALLBACK_OVERRIDES = "#rc=5&rp=5xx,ct,rt"


@dataclass(frozen=True)
class Urls:
    """Absolute URLs the TwiML points Twilio at."""

    base: str
    hotline_id: str

    def input(self, turn: int) -> str:
        return f"{self.base}/voice/input/{turn}"

    def dial(self, turn: int) -> str:
        return f"{self.base}/voice/dial/{turn}"

    def recording(self, step_id: str) -> str:
        return f"{self.base}/voice/recording/{self.hotline_id}/{step_id}{CALLBACK_OVERRIDES}"

    def whisper(self, turn: int | None = None, phone: int | None = None) -> str:
        # The turn names the wave of the transfer the dispatcher is accepting, and `phone`
        # the position of their number in the group (never the number itself). Only Twilio
        # requests these URLs, signed, so the caller cannot forge one.
        url = f"{self.base}/voice/whisper/{self.hotline_id}"
        if turn is not None:
            url += f"/{turn}" + (f"/{phone}" if phone is not None else "")
        return url

    def whisper_answer(self, turn: int | None = None, phone: int | None = None) -> str:
        return self.whisper(turn, phone) + "/answer"


@dataclass(frozen=True)
class Timing:
    """Timeouts and limits from config."""

    gather_timeout: int = 6
    record_max_seconds: int = 180
    record_silence_timeout: int = 6


# Twilio rings at most this many <Number>s in one <Dial>.
MAX_DIAL_NUMBERS = 10


@dataclass(frozen=True)
class Transfer:
    """Who to ring when the caller asks for a dispatcher, and for how long.

    `timeout` is one wave's ringing; `max_wait` the whole transfer's, across waves.
    """

    caller_id: str
    numbers: tuple[str, ...]
    timeout: int
    max_wait: int = 60
    machine_detection: bool = False


@dataclass(frozen=True)
class Wave:
    """The phones (positions in Transfer.numbers) one <Dial> rings, and for how long."""

    phones: tuple[int, ...]
    timeout: int
    retry: bool = False


def spoken(flow: Flow, prompt: Prompt, language: str | None, **values: str) -> Spoken:
    """Pick a prompt's text in the caller's language and fill in its placeholders."""
    voice = flow.voice(language)
    text = prompt.get(voice.code) or prompt[flow.default_language]
    return Spoken(text.format(**values) if values else text, voice)


def say_digits(digits: str) -> str:
    """Spell digits one by one so text-to-speech never reads them as a large number."""
    names = {"*": "star", "#": "pound"}
    return ", ".join(names.get(d, d) for d in digits)


def _say(target: VoiceResponse | Gather, line: Spoken) -> None:
    target.say(line.text, voice=line.voice.voice, language=line.voice.language)


def _gather(
    response: VoiceResponse,
    action: str,
    lines: Sequence[Spoken],
    *,
    num_digits: int,
    timeout: int,
    finish_on_key: str,
    on_empty: bool = False,
) -> None:
    gather = response.gather(
        input="dtmf",
        action=action,
        method="POST",
        num_digits=num_digits,
        timeout=timeout,
        finish_on_key=finish_on_key,
        # For digit entry, '#' alone means "I don't know / skip": Twilio must tell us.
        action_on_empty_result=on_empty,
    )
    for line in lines:
        _say(gather, line)
    # Silence falls through a <Gather>: come back to us rather than end the call.
    response.redirect(action, method="POST")


def menu_lines(flow: Flow, step: Step, language: str | None) -> list[Spoken]:
    """Say a menu's prompt and then, for menus built from config, each choice."""
    lines = [spoken(flow, step.prompt, language)]
    voice = flow.voice(language)
    for option in step.options:
        if not option.label:
            continue
        label = option.label.get(voice.code) or option.label[flow.default_language]
        if option.named:
            lines.append(spoken(flow, step.option_prompt, language, name=label, key=option.key))
        else:
            lines.append(Spoken(label, voice))
    return lines


def render_input(
    flow: Flow,
    step: Step,
    *,
    language: str | None,
    turn: int,
    urls: Urls,
    timing: Timing,
    prefix: Sequence[Spoken] = (),
    phase: str | None = None,
    tip_number: str = "",
    pending_digits: str = "",
    question: str = "",
) -> VoiceResponse:
    """Render a step that waits for the caller (every type but say, goto and transfer)."""
    response = VoiceResponse()
    action = urls.input(turn)
    lines = list(prefix)
    if step.type == "language":
        # The caller has not chosen yet: each language's sentence is spoken in its own voice.
        lines += [Spoken(step.prompt[v.code], v) for v in flow.languages]
        _gather(response, action, lines, num_digits=1, timeout=timing.gather_timeout, finish_on_key="")
    elif step.type == "menu":
        lines += menu_lines(flow, step, language)
        _gather(response, action, lines, num_digits=1, timeout=timing.gather_timeout, finish_on_key="")
    elif step.type == "record":
        lines.append(spoken(flow, step.prompt, language))
        _record(response, flow, action, lines, timing, urls.recording(step.id))
    elif step.type == "followup":
        _followup(response, flow, step, language, action, lines, timing, urls, phase or "", question)
    elif step.type == "digits" and phase == "confirm":
        lines.append(spoken(flow, step.confirm_prompt, language, digits=say_digits(pending_digits)))
        _gather(response, action, lines, num_digits=1, timeout=timing.gather_timeout, finish_on_key="")
    elif step.type == "digits":
        text = flow.prompts["confirm_secret"] if phase == "confirm_secret" else step.prompt
        lines.append(spoken(flow, text, language))
        _gather(
            response,
            action,
            lines,
            num_digits=step.max_digits,
            timeout=timing.gather_timeout,
            finish_on_key="#",
            on_empty=True,
        )
    elif step.type == "tip_number":
        lines.append(spoken(flow, step.prompt, language, tip=say_digits(tip_number)))
        _gather(response, action, lines, num_digits=1, timeout=3, finish_on_key="")
    elif step.type == "hangup":
        for line in lines:
            _say(response, line)
        if step.prompt:
            _say(response, spoken(flow, step.prompt, language))
        response.hangup()
    else:  # pragma: no cover - the loader only lets known types through
        raise ValueError(f"step type {step.type} does not wait for input")
    return response


def _record(
    response: VoiceResponse, flow: Flow, action: str, lines: Sequence[Spoken], timing: Timing, callback: str
) -> None:
    """A question: its prompt in a one-key <Gather>, then <Record> until '#' (or 0)."""
    # The prompt sits in a one-key <Gather> so '#' (skip) and '0' work before the beep;
    # with no key it falls through to <Record>, which is the point.
    gather = response.gather(input="dtmf", action=action, method="POST", num_digits=1, timeout=1, finish_on_key="")
    for line in lines:
        _say(gather, line)
    finish = "#" + (flow.dispatcher_key or "")
    response.record(
        action=action,
        method="POST",
        finish_on_key=finish,
        max_length=timing.record_max_seconds,
        timeout=timing.record_silence_timeout,
        play_beep=True,
        recording_status_callback=callback,
        recording_status_callback_method="POST",
        recording_status_callback_event="completed absent",
    )
    # An empty recording skips the action: treat it as a skipped question.
    response.redirect(action, method="POST")


# A call back's phases (CallState.phase on a followup step) and the sentence each asks with.
FOLLOWUP_PHASES = {
    "": "prompt",
    "tip": "tip_prompt",
    "pin": "pin_prompt",
    "menu": "menu",
    "menu_add": "menu_without_messages",
    "record": "record_prompt",
    "more": "more",
}
# Longest tip number a caller may key (ours have 8 digits; '#' ends it sooner).
TIP_DIGITS = 16


def _followup(
    response: VoiceResponse,
    flow: Flow,
    step: Step,
    language: str | None,
    action: str,
    prefix: Sequence[Spoken],
    timing: Timing,
    urls: Urls,
    phase: str,
    question: str,
) -> None:
    """The call-back branch: the offer, the tip number, the PIN, the menus, a recording."""
    prompt = step.prompt if phase == "" else step.text(FOLLOWUP_PHASES[phase])
    lines = [*prefix, spoken(flow, prompt, language)]
    if phase == "record":
        # The recording's question rides in its callback URL: the callback may come first.
        _record(response, flow, action, lines, timing, urls.recording(f"{step.id}.{question}"))
    elif phase in ("tip", "pin"):
        digits = TIP_DIGITS if phase == "tip" else step.pin_digits
        _gather(
            response,
            action,
            lines,
            num_digits=digits,
            timeout=timing.gather_timeout,
            finish_on_key="#",
            on_empty=True,
        )
    else:
        timeout = (step.timeout or timing.gather_timeout) if phase == "" else timing.gather_timeout
        _gather(response, action, lines, num_digits=1, timeout=timeout, finish_on_key="")


def render_transfer(
    flow: Flow,
    *,
    language: str | None,
    turn: int,
    urls: Urls,
    transfer: Transfer,
    wave: Wave,
    prefix: Sequence[Spoken] = (),
) -> VoiceResponse:
    """Ring one wave of dispatchers at once; the <Dial> action tells us how it went."""
    response = VoiceResponse()
    # Between waves the caller hears that we are still trying (the flow may word it).
    name = "transfer_retrying" if wave.retry and "transfer_retrying" in flow.prompts else "transfer_connecting"
    for line in [*prefix, spoken(flow, flow.prompts[name], language)]:
        _say(response, line)
    # callerId is the hotline's own number: a dispatcher's phone must not show the caller's.
    dial = Dial(
        action=urls.dial(turn),
        method="POST",
        timeout=wave.timeout,
        caller_id=transfer.caller_id,
        answer_on_bridge=True,
    )
    for phone in wave.phones[:MAX_DIAL_NUMBERS]:
        dial.number(
            transfer.numbers[phone],
            url=urls.whisper(turn, phone),
            method="POST",
            machine_detection="Enable" if transfer.machine_detection else None,
        )
    response.append(dial)
    return response


def render_whisper(
    flow: Flow, urls: Urls, hotline_name: str, turn: int | None = None, phone: int | None = None
) -> VoiceResponse:
    """Tell the dispatcher which hotline is calling, never who; ask them to press 1."""
    response = VoiceResponse()
    line = spoken(flow, flow.prompts["whisper"], None, hotline=hotline_name)
    gather = response.gather(
        input="dtmf",
        action=urls.whisper_answer(turn, phone),
        method="POST",
        num_digits=1,
        timeout=8,
        finish_on_key="",
    )
    _say(gather, line)
    _say(response, spoken(flow, flow.prompts["whisper_timeout"], None))
    response.hangup()
    return response


def render_goodbye(flow: Flow, language: str | None, lines: Sequence[Spoken]) -> VoiceResponse:
    """Say the last words and hang up."""
    response = VoiceResponse()
    for line in [*lines, spoken(flow, flow.prompts["goodbye"], language)]:
        _say(response, line)
    response.hangup()
    return response
