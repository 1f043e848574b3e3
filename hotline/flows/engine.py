"""Move a call through its flow: apply what the caller did, decide what they hear next.

The engine is pure: it reads and changes a CallState and returns TwiML plus a list of
effects (events, a recording, an answer) that the view writes to the database. A call back
asks its Context's FollowupPort (checks and reads the view implements) and nothing else.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from twilio.twiml.voice_response import VoiceResponse

from hotline.flows.followup import (
    CB_ADDED,
    CB_HEARD,
    CB_MODE,
    CB_REPORT,
    CB_TRIES,
    FollowupPort,
    NoFollowup,
    Note,
    Opened,
)
from hotline.flows.loader import PASS_THROUGH
from hotline.flows.model import Flow, Step
from hotline.flows.twiml import (
    MAX_DIAL_NUMBERS,
    Spoken,
    Timing,
    Transfer,
    Urls,
    Wave,
    render_goodbye,
    render_input,
    render_transfer,
    render_whisper,
    spoken,
)

TRANSFER = "transfer"  # CallState.mode while a <Dial> to the dispatchers is ringing
DIGITS_OK = re.compile(r"^[0-9*#]{0,30}$")
# A transfer's progress between its waves, in CallState.flags. Phones are positions in the
# dispatcher group, never numbers.
DIAL_SINCE = "dial_since"  # when the caller asked (epoch seconds): the start of max_wait
DIAL_TRIED = "dial_tried"  # phones done with: picked up without accepting, or rang a wave out
DIAL_WAVE = "dial_wave"  # phones the current <Dial> rings
DIAL_RING = "dial_ring"  # and for how many seconds
DIAL_WAVES = "dial_waves"  # waves rung so far
_DIAL_FLAGS = (DIAL_SINCE, DIAL_TRIED, DIAL_WAVE, DIAL_RING, DIAL_WAVES)
# No wave shorter than this is started: Twilio's shortest <Dial> timeout.
MIN_RING = 5
BRIDGED = frozenset({"completed", "answered"})


@dataclass
class CallState:
    """What the server remembers about a call between webhooks."""

    step: str
    turn: int = 0
    language: str | None = None
    retries: int = 0
    mode: str = ""
    phase: str = ""
    return_step: str | None = None
    pending: str = ""
    tip_number: str = ""
    answers: dict[str, str] = field(default_factory=dict)
    flags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Effect:
    """Something the view must record: an event on the report's timeline, or data."""

    kind: str
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class Outcome:
    response: VoiceResponse
    effects: list[Effect] = field(default_factory=list)


@dataclass(frozen=True)
class Context:
    """Per-hotline facts the engine needs besides the flow."""

    flow: Flow
    urls: Urls
    timing: Timing
    transfer: Transfer | None
    reprompts: int
    # Wall-clock seconds, for a transfer's max_wait; tests pass their own.
    clock: Callable[[], float] = time.time
    # The database side of a call back (hotline.voice.callback implements it).
    followup: FollowupPort = field(default_factory=NoFollowup)


class Engine:
    """Run one hotline's flow."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.flow = ctx.flow

    # -- entering steps -------------------------------------------------------------------

    def start(self, state: CallState) -> Outcome:
        """Answer a new call."""
        return Outcome(self.enter(state, self.flow.start), [Effect("call_started")])

    def enter(self, state: CallState, step_id: str, prefix: list[Spoken] | None = None) -> VoiceResponse:
        """Move to a step, speaking any say/goto steps on the way, and render it."""
        lines = list(prefix or [])
        step = self.flow.step(step_id)
        while step.type in PASS_THROUGH:
            if step.type == "say":
                lines.append(spoken(self.flow, step.prompt, state.language))
            step = self.flow.step(step.next or "")
        state.step, state.retries, state.phase, state.pending = step.id, 0, "", ""
        state.mode, state.return_step = "", None
        if step.type == "transfer":
            return self._transfer(state, step.next or self.flow.start, lines)
        return self._render(state, step, lines)

    def current(self, state: CallState) -> VoiceResponse:
        """Render what the caller should be hearing now (for a repeated request)."""
        if state.mode == TRANSFER:
            return self._transfer(state, state.return_step or self.flow.start, [], bump=False)
        if state.mode == "ended":
            response = VoiceResponse()
            response.hangup()
            return response
        return self._render(state, self.flow.step(state.step), [], bump=False)

    def _render(self, state: CallState, step: Step, prefix: list[Spoken], bump: bool = True) -> VoiceResponse:
        if bump:
            state.turn += 1
        return render_input(
            self.flow,
            step,
            language=state.language,
            turn=state.turn,
            urls=self.ctx.urls,
            timing=self.ctx.timing,
            prefix=prefix,
            phase=state.phase or None,
            tip_number=state.tip_number,
            pending_digits=state.pending,
            question=_added_key(state) if step.type == "followup" else "",
        )

    def _transfer(self, state: CallState, return_step: str, prefix: list[Spoken], bump: bool = True) -> VoiceResponse:
        if self.ctx.transfer is None:
            # No dispatcher group on this hotline: say so and carry on with the flow.
            line = spoken(self.flow, self.flow.prompts["transfer_unavailable"], state.language)
            return self.enter(state, return_step, [*prefix, line])
        if bump:
            # A new transfer: nobody tried yet, and its max_wait starts now.
            _clear_dial(state)
            state.flags[DIAL_SINCE] = str(int(self.ctx.clock()))
            wave = self._next_wave(state) or self._wave(state)
            state.turn += 1
        else:
            wave = self._wave(state)
        state.mode, state.return_step = TRANSFER, return_step
        return self._render_wave(state, wave, prefix)

    def _render_wave(self, state: CallState, wave: Wave, prefix: list[Spoken]) -> VoiceResponse:
        assert self.ctx.transfer is not None
        return render_transfer(
            self.flow,
            language=state.language,
            turn=state.turn,
            urls=self.ctx.urls,
            transfer=self.ctx.transfer,
            wave=wave,
            prefix=prefix,
        )

    def _wave(self, state: CallState) -> Wave:
        """The wave now ringing, as recorded in the flags (the first ten for a call without)."""
        assert self.ctx.transfer is not None
        transfer = self.ctx.transfer
        phones = tuple(sorted(p for p in _phones(state.flags.get(DIAL_WAVE)) if p < len(transfer.numbers)))
        ring = _int(state.flags.get(DIAL_RING))
        waves = _int(state.flags.get(DIAL_WAVES)) or 1
        return Wave(
            phones or tuple(range(min(len(transfer.numbers), MAX_DIAL_NUMBERS))),
            ring if ring and ring >= MIN_RING else transfer.timeout,
            retry=waves > 1,
        )

    def _next_wave(self, state: CallState) -> Wave | None:
        """Choose the next wave: up to ten phones not yet tried, within the transfer's max_wait."""
        assert self.ctx.transfer is not None
        transfer = self.ctx.transfer
        tried = _phones(state.flags.get(DIAL_TRIED))
        left = tuple(p for p in range(len(transfer.numbers)) if p not in tried)
        now = self.ctx.clock()
        since = _int(state.flags.get(DIAL_SINCE))
        remaining = transfer.max_wait - (now - since if since is not None else 0)
        if not left or remaining < MIN_RING:
            return None
        waves = _int(state.flags.get(DIAL_WAVES)) or 0
        wave = Wave(left[:MAX_DIAL_NUMBERS], int(min(transfer.timeout, remaining)), retry=waves > 0)
        state.flags[DIAL_WAVE] = ",".join(str(p) for p in wave.phones)
        state.flags[DIAL_RING] = str(wave.timeout)
        state.flags[DIAL_WAVES] = str(waves + 1)
        return wave

    # -- handling input -------------------------------------------------------------------

    def handle_input(self, state: CallState, params: dict[str, str]) -> Outcome:
        """Apply a <Gather>/<Record> action or a fall-through <Redirect> for the current turn."""
        if state.mode:
            return Outcome(self.current(state))
        step = self.flow.step(state.step)
        digits = params.get("Digits")
        if digits is not None and not DIGITS_OK.match(digits) and digits != "hangup":
            digits = "?"  # absurd input is treated as an invalid key, never trusted
        if step.type == "record":
            return self._record(state, step, params, digits)
        if step.type == "followup" and state.phase == "record":
            return self._add_recording(state, step, params, digits)
        if digits == "hangup":
            return Outcome(VoiceResponse())
        # 0 works in every menu and digit entry, the read-back confirmation included.
        wants_dispatcher = digits is not None and digits == self.flow.dispatcher_key
        if wants_dispatcher and step.type != "hangup":
            effects = [Effect("dispatcher_requested", {"step": step.id})]
            return Outcome(self._transfer(state, step.id, []), effects)
        if step.type in ("language", "menu"):
            return self._menu(state, step, digits)
        if step.type == "digits":
            return self._digits(state, step, digits, params.get("FinishedOnKey") == "#")
        if step.type == "followup":
            return self._followup(state, step, digits, params.get("FinishedOnKey") == "#")
        if step.type == "tip_number":
            if digits == "1":
                return Outcome(self._render(state, step, []))
            return Outcome(self.enter(state, step.next or ""))
        # A hangup step has already hung up; anything arriving for it is late.
        return Outcome(self.current(state))

    def _retry(self, state: CallState, step: Step, silent: bool) -> tuple[bool, list[Spoken]]:
        """Count a failed attempt; return whether to re-prompt and what to say first."""
        state.retries += 1
        if state.retries > self.ctx.reprompts:
            return False, []
        name = "no_input" if silent else "invalid"
        return True, [spoken(self.flow, self.flow.prompts[name], state.language)]

    def _menu(self, state: CallState, step: Step, digits: str | None) -> Outcome:
        option = step.option(digits) if digits else None
        effects: list[Effect] = []
        if option is None:
            again, prefix = self._retry(state, step, silent=not digits)
            if again:
                return Outcome(self._render(state, step, prefix))
            option = step.option(step.default or "")
            assert option is not None  # the loader guarantees the default is an option
            effects.append(Effect("default_choice", {"step": step.id, "key": option.key}))
        if step.type == "language":
            state.language = option.value
        else:
            state.answers[step.key or step.id] = option.value
            for name, value in option.sets.items():
                state.flags[name] = value
        effects.append(Effect("keypad", {"step": step.id, "value": option.value}))
        return Outcome(self.enter(state, option.next), effects)

    def _digits(self, state: CallState, step: Step, digits: str | None, by_pound: bool) -> Outcome:
        if state.phase == "confirm":
            if digits == "1":
                return self._accept(state, step, state.pending)
            if digits == "2":
                state.phase, state.pending = "", ""
                return Outcome(self._render(state, step, []))
            again, prefix = self._retry(state, step, silent=not digits)
            if again:
                return Outcome(self._render(state, step, prefix))
            # Nobody confirmed or denied: keep what was typed, marked as unconfirmed.
            return self._accept(state, step, state.pending, confirmed=False)
        entered = (digits or "").rstrip("#")
        if not entered and (by_pound or digits == "#"):
            # Pound alone: the caller doesn't know the number or wants no PIN.
            return Outcome(self.enter(state, step.skip or step.next or ""), [Effect("skipped", {"step": step.id})])
        if not entered or not entered.isdigit() or not step.min_digits <= len(entered) <= step.max_digits:
            again, prefix = self._retry(state, step, silent=not entered)
            if again:
                return Outcome(self._render(state, step, prefix))
            return Outcome(self.enter(state, step.skip or step.next or ""), [Effect("skipped", {"step": step.id})])
        if step.secret:
            return self._secret(state, step, entered)
        if step.confirm:
            state.phase, state.pending, state.retries = "confirm", entered, 0
            return Outcome(self._render(state, step, []))
        return self._accept(state, step, entered)

    def _secret(self, state: CallState, step: Step, entered: str) -> Outcome:
        """Take a PIN twice instead of reading it aloud; only its hash is ever kept."""
        from hotline.security.pins import hash_pin, pin_matches

        if state.phase != "confirm_secret":
            state.phase, state.pending, state.retries = "confirm_secret", hash_pin(entered), 0
            return Outcome(self._render(state, step, []))
        if pin_matches(state.pending, entered):
            effect = Effect("secret", {"key": step.key or step.id, "hash": state.pending})
            return Outcome(self.enter(state, step.next or ""), [effect])
        state.phase, state.pending = "", ""
        line = spoken(self.flow, self.flow.prompts["secret_mismatch"], state.language)
        return Outcome(self._render(state, step, [line]))

    def _accept(self, state: CallState, step: Step, value: str, confirmed: bool = True) -> Outcome:
        state.answers[step.key or step.id] = value
        detail: dict[str, Any] = {"step": step.id}
        if not confirmed:
            state.answers[f"{step.key or step.id}_unconfirmed"] = "true"
            detail["unconfirmed"] = True
        return Outcome(self.enter(state, step.next or ""), [Effect("keypad", detail)])

    def _record(self, state: CallState, step: Step, params: dict[str, str], digits: str | None) -> Outcome:
        sid = params.get("RecordingSid")
        if sid:
            effects = [Effect("recording", {"step": step.id, "key": step.key or step.id})]
            if digits == "hangup":
                return Outcome(VoiceResponse(), effects)
            if digits is not None and digits == self.flow.dispatcher_key:
                # Keep what was said so far; after the transfer the caller returns here.
                effects.append(Effect("dispatcher_requested", {"step": step.id}))
                return Outcome(self._transfer(state, step.id, []), effects)
            return Outcome(self.enter(state, step.next or ""), effects)
        if digits is None or digits == "#":
            # '#' during the prompt, or an empty recording: the caller skipped this question.
            return Outcome(self.enter(state, step.next or ""), [Effect("skipped", {"step": step.id})])
        if digits == "hangup":
            return Outcome(VoiceResponse())
        if digits == self.flow.dispatcher_key:
            effects = [Effect("dispatcher_requested", {"step": step.id})]
            return Outcome(self._transfer(state, step.id, []), effects)
        # Another key during the prompt: ask the question again (then move on).
        again, prefix = self._retry(state, step, silent=False)
        if again:
            return Outcome(self._render(state, step, prefix))
        return Outcome(self.enter(state, step.next or ""), [Effect("skipped", {"step": step.id})])

    # -- the call back (a followup step) -------------------------------------------------------

    def _followup(self, state: CallState, step: Step, digits: str | None, by_pound: bool) -> Outcome:
        """The offer, the tip number, the PIN and the menus of a call back."""
        if state.phase == "":
            if digits == step.press:
                state.phase, state.retries = "tip", 0
                return Outcome(self._render(state, step, []))
            # Silence or another key: an ordinary call, on to the questions.
            return Outcome(self.enter(state, step.next or ""))
        if state.phase == "tip":
            entered = (digits or "").rstrip("#")
            if entered.isdigit():
                state.phase, state.pending, state.retries = "pin", entered, 0
                return Outcome(self._render(state, step, []))
            if not entered and (by_pound or digits == "#"):
                return Outcome(self.enter(state, step.next or ""))  # no tip number after all
            # Silence or a wrong key: ask again, then go on as a new tip.
            again, prefix = self._retry(state, step, silent=not entered)
            if again:
                return Outcome(self._render(state, step, prefix))
            return Outcome(self.enter(state, step.next or ""))
        if state.phase == "pin":
            return self._check(state, step, digits, by_pound)
        return self._menu_key(state, step, digits)

    def _check(self, state: CallState, step: Step, digits: str | None, by_pound: bool) -> Outcome:
        """Check the tip number and PIN; the answer sounds the same whatever went wrong."""
        entered = (digits or "").rstrip("#")
        no_pin = not entered and (by_pound or digits == "#")
        if not no_pin and not entered.isdigit():
            again, prefix = self._retry(state, step, silent=not entered)
            if again:
                return Outcome(self._render(state, step, prefix))
            entered = "?"  # nothing usable typed: a PIN that cannot match
        tip_number, state.pending = state.pending, ""
        opened = self.ctx.followup.check(tip_number, None if no_pin else entered)
        if no_pin:
            # Everyone who skips the PIN hears the same menu without messages: only a report
            # without a PIN takes the information; otherwise it stays on this call's report.
            state.phase, state.retries = "menu_add", 0
            state.flags[CB_MODE] = "add" if opened is not None else "blind"
            if opened is None:
                return Outcome(self._render(state, step, []), [Effect("callback_unmatched", {"pin": False})])
            state.flags[CB_REPORT] = str(opened.report_id)
            return Outcome(self._render(state, step, []), [_called_back(opened)])
        if opened is None or not opened.messages:
            return self._refused(state, step)
        state.flags[CB_REPORT], state.flags[CB_MODE] = str(opened.report_id), "messages"
        closed = self.ctx.followup.closed(opened.report_id)
        notes = self.ctx.followup.unheard(opened.report_id)
        status = step.text("status_closed" if closed else "status_open")
        lines = [spoken(self.flow, status, state.language)]
        lines.append(spoken(self.flow, step.text("messages"), state.language, count=str(len(notes))))
        lines += self._read(notes)
        state.flags[CB_HEARD] = ",".join(str(n.id) for n in notes)
        state.phase, state.retries = "menu", 0
        effects = [_called_back(opened)]
        if notes:
            effects.append(Effect("messages_heard", {"ids": [n.id for n in notes], "count": len(notes)}))
        return Outcome(self._render(state, step, lines), effects)

    def _refused(self, state: CallState, step: Step) -> Outcome:
        tries = (_int(state.flags.get(CB_TRIES)) or 0) + 1
        state.flags[CB_TRIES] = str(tries)
        line = spoken(self.flow, step.text("refused"), state.language)
        if tries < step.tries:
            state.phase, state.retries = "tip", 0
            return Outcome(self._render(state, step, [line]))
        final = spoken(self.flow, step.text("refused_final"), state.language)
        effect = Effect("callback_unmatched", {"pin": True})
        return Outcome(self.enter(state, step.next or "", [line, final]), [effect])

    def _read(self, notes: list[Note]) -> list[Spoken]:
        """Each message in the voice of the language the investigator wrote it in."""
        return [Spoken(note.body, self.flow.voice(note.language)) for note in notes]

    def _menu_key(self, state: CallState, step: Step, digits: str | None) -> Outcome:
        """1 adds information, 2 hears the messages again (with a PIN), # hangs up."""
        if digits == "1":
            state.phase, state.retries = "record", 0
            return Outcome(self._render(state, step, []))
        if digits == "2" and state.flags.get(CB_MODE) == "messages":
            report_id = _int(state.flags.get(CB_REPORT))
            ids = sorted(_numbers(state.flags.get(CB_HEARD)))
            notes = self.ctx.followup.messages(report_id, ids) if report_id is not None and ids else []
            line = spoken(self.flow, step.text("messages"), state.language, count=str(len(notes)))
            state.retries = 0
            return Outcome(self._render(state, step, [line, *self._read(notes)]))
        if digits == "#":
            return Outcome(self._goodbye(state))
        again, prefix = self._retry(state, step, silent=not digits)
        if again:
            return Outcome(self._render(state, step, prefix))
        return Outcome(self._goodbye(state))

    def _goodbye(self, state: CallState) -> VoiceResponse:
        state.mode = "ended"
        return render_goodbye(self.flow, state.language, [])

    def _add_recording(self, state: CallState, step: Step, params: dict[str, str], digits: str | None) -> Outcome:
        """A recording of added information: kept, then "add more or hang up"."""
        effects: list[Effect] = []
        if params.get("RecordingSid"):
            key = _added_key(state)
            state.flags[CB_ADDED] = str((_int(state.flags.get(CB_ADDED)) or 0) + 1)
            effects.append(Effect("recording", {"step": step.id, "key": key}))
            state.phase, state.retries = "more", 0
            if digits == "hangup":
                return Outcome(VoiceResponse(), effects)
            if digits is not None and digits == self.flow.dispatcher_key:
                effects.append(Effect("dispatcher_requested", {"step": step.id}))
                return Outcome(self._transfer(state, step.id, []), effects)
            return Outcome(self._render(state, step, []), effects)
        if digits == "hangup":
            return Outcome(VoiceResponse())
        if digits is not None and digits == self.flow.dispatcher_key:
            state.phase = "more" if state.flags.get(CB_ADDED) else _menu_phase(state)
            effects = [Effect("dispatcher_requested", {"step": step.id})]
            return Outcome(self._transfer(state, step.id, []), effects)
        # '#' before the beep, an empty recording or another key: back to the menu.
        state.phase = "more" if state.flags.get(CB_ADDED) else _menu_phase(state)
        state.retries = 0
        return Outcome(self._render(state, step, []))

    def handle_dial(
        self,
        state: CallState,
        status: str,
        picked_up: Collection[int] = (),
        accepted: bool = False,
        caller_gone: bool = False,
    ) -> Outcome:
        """Branch once a wave of dispatchers' phones stops ringing.

        `picked_up` are the phones of this wave whose whisper ran (Twilio hangs up the others
        at the first pick-up), `accepted` whether a dispatcher pressed 1. Twilio's status
        alone cannot tell a bridged dispatcher from a voicemail that heard the whisper: a
        phone picked up without accepting is not a bridged call, whatever the status says.
        """
        if state.mode != TRANSFER:
            return Outcome(self.current(state))
        if status in BRIDGED and (accepted or not picked_up):
            _clear_dial(state)
            state.mode = "ended"
            effect = Effect("transfer_completed", {"status": status})
            line = spoken(self.flow, self.flow.prompts["transfer_completed"], state.language)
            return Outcome(render_goodbye(self.flow, state.language, [line]), [effect])
        # The phone that picked up is done with; with no pick-up, the whole wave rang out.
        done = set(picked_up) if picked_up else set(self._wave(state).phones)
        tried = _phones(state.flags.get(DIAL_TRIED)) | done
        state.flags[DIAL_TRIED] = ",".join(str(p) for p in sorted(tried))
        # "canceled": the <Dial> was cut short (the caller hung up): no point ringing on.
        wave = None if caller_gone or status == "canceled" else self._next_wave(state)
        if wave is not None:
            state.turn += 1
            detail = {"status": status or "unknown", "picked_up": bool(picked_up)}
            return Outcome(self._render_wave(state, wave, []), [Effect("transfer_retried", detail)])
        _clear_dial(state)
        effect = Effect("transfer_failed", {"status": status or "unknown"})
        line = spoken(self.flow, self.flow.prompts["transfer_unavailable"], state.language)
        returning_to_followup = self.flow.step(state.step).type == "followup" and bool(state.phase)
        if (state.phase == "confirm" or returning_to_followup) and state.return_step == state.step:
            # 0 during a read-back: the digits typed are kept, so read them back again. A call
            # back goes on where it was (its tip number typed, its report opened).
            state.mode, state.return_step, state.retries = "", None, 0
            return Outcome(self._render(state, self.flow.step(state.step), [line]), [effect])
        return Outcome(self.enter(state, state.return_step or self.flow.start, [line]), [effect])

    def whisper(self, hotline_name: str, turn: int | None = None, phone: int | None = None) -> VoiceResponse:
        """Render the dispatcher's private announcement for the transfer wave of `turn`."""
        return render_whisper(self.flow, self.ctx.urls, hotline_name, turn, phone)


def _called_back(opened: Opened) -> Effect:
    return Effect("called_back", {"report_id": opened.report_id, "messages": opened.messages})


def _menu_phase(state: CallState) -> str:
    return "menu" if state.flags.get(CB_MODE) == "messages" else "menu_add"


def _added_key(state: CallState) -> str:
    """The question key of the next recording added on a call back: added_1, added_2, ..."""
    return f"added_{(_int(state.flags.get(CB_ADDED)) or 0) + 1}"


def _numbers(value: str | None) -> set[int]:
    """Parse a comma-separated list of numbers from the flags."""
    return {int(p) for p in (value or "").split(",") if p.isdigit()}


def _phones(value: str | None) -> set[int]:
    """Parse a comma-separated list of phone positions from the flags."""
    return _numbers(value)


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def _clear_dial(state: CallState) -> None:
    for name in _DIAL_FLAGS:
        state.flags.pop(name, None)
