"""Caller strategies: who presses what and says what when the simulated call asks.

`SimulatedCall` interprets the TwiML; a strategy only answers its questions. `ScriptedCaller`
answers from lists (tests, `--keys/--say`), `InteractiveCaller` asks a person at a terminal.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from hotline.simulator.twiml import Gather, Record

# Returned instead of keys when the caller hangs up while a <Gather> waits.
HANGUP = "hangup"
SILENCE = "-"
_KEYS = re.compile(r"^[0-9*#]+$")


@dataclass(frozen=True)
class Answer:
    """One recorded answer: text to synthesise or a WAV file, and how the recording ends.

    `finish` is the key pressed to end it, "hangup" when the caller hangs up while recording,
    or "" when the caller just stops talking (Twilio's silence timeout ends it).
    """

    text: str | None = None
    wav: Path | None = None
    finish: str = "#"


class Caller(Protocol):
    """What a simulated call asks of the people on the line."""

    def hear(self, line: str) -> None:
        """Take note of what the caller hears ("[Say en-US] ...", "[beep]")."""

    def press(self, gather: Gather, question: bool) -> str | None:
        """Keys pressed in a <Gather> (None: silence, HANGUP: hang up); `question` = a <Record> follows."""

    def speak(self, record: Record) -> Answer | None:
        """What the caller records (None: nothing, an empty recording)."""

    def answers_transfer(self, number: str) -> bool:
        """Whether the phone at `number` picks up (a person, or its voicemail)."""

    def is_voicemail(self, number: str) -> bool:
        """Whether what picks up at `number` is a voicemail: it hears the whisper, presses nothing."""

    def dispatcher_hears(self, line: str) -> None:
        """Take note of what the dispatcher hears in the whisper."""

    def dispatcher_press(self, gather: Gather) -> str | None:
        """Keys the dispatcher presses in a whisper <Gather> (None: nothing)."""


def parse_keys(spec: str | Iterable[str]) -> list[str]:
    """Split "1,1,2 9 #" (or a list) into key tokens, checking each is keys, "-" or "hangup"."""
    tokens = re.split(r"[,\s]+", spec.strip()) if isinstance(spec, str) else [t.strip() for t in spec]
    if isinstance(spec, str) and not spec.strip():
        tokens = []
    for token in tokens:
        if token not in ("", SILENCE, HANGUP) and not _KEYS.match(token):
            raise ValueError(f"key token {token!r} is not keys (0-9 * #), '-' for silence, or 'hangup'")
    return tokens


def parse_say(item: str | Path) -> Answer | str:
    """Read one `says` item: "#" or "0" are keys for the question's <Gather>, anything else an Answer.

    "0:text" records text and ends the recording with 0 (ask for a dispatcher); "hangup:text"
    records text and hangs up; a path to an existing .wav file records that file.
    """
    if isinstance(item, Path):
        return Answer(wav=item)
    text = item.strip()
    if text in ("#", "0"):
        return text
    finish = "#"
    for prefix, key in (("0:", "0"), ("hangup:", HANGUP)):
        if text.startswith(prefix):
            text, finish = text[len(prefix) :].strip(), key
            break
    path = Path(text)
    if text.lower().endswith(".wav") and path.is_file():
        return Answer(wav=path, finish=finish)
    return Answer(text=text or None, finish=finish)


class ScriptedCaller:
    """Answer from lists, following the README's rules for scripted calls.

    - Each plain <Gather> takes the next `keys` token ("-" or "" = silence, "hangup" = hang up);
      when `keys` runs out, Gathers get silence.
    - A question (a <Gather> directly followed by a <Record>) takes the next `says` item: its
      Gather gets silence and its Record records the item, ended with '#'. "#" presses # in
      the Gather (skip), "0" presses 0 (dispatcher), "0:text" records text and ends with 0.
      When `says` runs out, questions are skipped with '#'.
    - A dispatcher answers a transfer when `dispatcher_answers`, and presses `dispatcher_keys`.
      The phones in `voicemail` are picked up by their voicemail, which presses nothing.
    """

    def __init__(
        self,
        keys: str | Iterable[str] = (),
        says: Iterable[str | Path] = (),
        dispatcher_answers: bool = True,
        dispatcher_keys: str = "1",
        echo: Callable[[str], None] | None = None,
        voicemail: Iterable[str] = (),
    ) -> None:
        self.keys: deque[str] = deque(parse_keys(keys))
        self.says: deque[Answer | str] = deque(parse_say(item) for item in says)
        self.dispatcher_answers = dispatcher_answers
        self.dispatcher_keys = dispatcher_keys
        self.voicemail = frozenset(voicemail)
        self.echo = echo
        self._pending: Answer | None = None

    def hear(self, line: str) -> None:
        """Print what the caller hears when echoing, else ignore it."""
        if self.echo is not None:
            self.echo(line)

    def press(self, gather: Gather, question: bool) -> str | None:
        """Take the next key token, or at a question the next `says` item."""
        if question:
            if not self.says:
                return "#"
            item = self.says.popleft()
            if isinstance(item, str):
                return item
            # Silence in the Gather lets the call fall through to the Record that follows.
            self._pending = item
            return None
        if not self.keys:
            return None
        token = self.keys.popleft()
        return None if token in ("", SILENCE) else token

    def speak(self, record: Record) -> Answer | None:
        """Record the answer chosen at the question, or the next `says` item for a bare Record."""
        if self._pending is not None:
            answer, self._pending = self._pending, None
            return answer
        if not self.says:
            return None
        item = self.says.popleft()
        # "#" or "0" before a bare Record: the finish key at once, which is an empty recording.
        return None if isinstance(item, str) else item

    def answers_transfer(self, number: str) -> bool:
        """Answer every dispatcher phone, or none; a voicemail always picks up."""
        return self.dispatcher_answers or number in self.voicemail

    def is_voicemail(self, number: str) -> bool:
        """Whether `number` is one of the phones whose voicemail picks up."""
        return number in self.voicemail

    def dispatcher_hears(self, line: str) -> None:
        """Print the whisper when echoing."""
        if self.echo is not None:
            self.echo(f"    (dispatcher) {line}")

    def dispatcher_press(self, gather: Gather) -> str | None:
        """Press the configured keys to accept the call."""
        return self.dispatcher_keys or None


class InteractiveCaller:
    """A person at a terminal: prints what the caller hears and asks what to do at each input."""

    def __init__(self, input_fn: Callable[[str], str] = input, output_fn: Callable[[str], None] = print) -> None:
        self.input_fn = input_fn
        self.output_fn = output_fn
        self._pending: Answer | None = None
        self._voicemail: set[str] = set()

    def _ask(self, prompt: str) -> str | None:
        """Read a line; None when input ends (Ctrl-D), which the caller takes as hanging up."""
        try:
            return self.input_fn(prompt).strip()
        except EOFError:
            return None

    def hear(self, line: str) -> None:
        """Print what the caller hears."""
        self.output_fn(line)

    def press(self, gather: Gather, question: bool) -> str | None:
        """Ask for keys; at a question, text to record is also accepted."""
        while True:
            if question:
                line = self._ask(
                    "  > your answer: text (or a .wav path) to record after the beep, "
                    "# to skip, 0 for a dispatcher, Enter for silence: "
                )
            else:
                limit = f"{gather.num_digits} key(s)" if gather.num_digits else "keys"
                finish = f", end with {gather.finish_on_key}" if gather.finish_on_key else ""
                line = self._ask(f"  > press {limit}{finish} (Enter = silence, 'hangup' to hang up): ")
            if line is None or line.lower() == HANGUP:
                return HANGUP
            if line in ("", SILENCE):
                return None
            if _KEYS.match(line):
                return line
            if question:
                parsed = parse_say(line)
                if isinstance(parsed, Answer):
                    self._pending = parsed
                    return None
            self.output_fn("  (keys are 0-9, * and #)")

    def speak(self, record: Record) -> Answer | None:
        """Record the answer typed at the question, or ask for one now."""
        if self._pending is not None:
            answer, self._pending = self._pending, None
            return answer
        line = self._ask("  > say after the beep (text or a .wav path; '0:text' ends with 0; Enter = nothing): ")
        if line is None:
            return Answer(finish=HANGUP)
        parsed = parse_say(line) if line else None
        return parsed if isinstance(parsed, Answer) else None

    def answers_transfer(self, number: str) -> bool:
        """Ask whether the dispatcher at `number` picks up, or their voicemail does."""
        line = self._ask(f"  > dispatcher phone {number} rings. Answer? [Y/n, v = its voicemail picks up]: ")
        if line is not None and line.lower() == "v":
            self._voicemail.add(number)
            return True
        return line is not None and line.lower() in ("", "y", "yes")

    def is_voicemail(self, number: str) -> bool:
        """Whether the person at the terminal chose the voicemail for `number`."""
        return number in self._voicemail

    def dispatcher_hears(self, line: str) -> None:
        """Print the whisper, marked as the dispatcher's."""
        self.output_fn(f"    (dispatcher) {line}")

    def dispatcher_press(self, gather: Gather) -> str | None:
        """Ask what the dispatcher presses."""
        line = self._ask("  > dispatcher presses (Enter = nothing): ")
        return line if line and _KEYS.match(line) else None
