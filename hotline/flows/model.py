"""Immutable call-flow objects, built from ivr_flows/*.yaml by the loader."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

# A prompt: the same sentence in every language the flow offers, keyed by language code.
Prompt = Mapping[str, str]

EMPTY: Prompt = MappingProxyType({})


def _empty() -> Prompt:
    return EMPTY


def _empty_texts() -> Mapping[str, Prompt]:
    return MappingProxyType({})


@dataclass(frozen=True)
class Voice:
    """How Twilio's <Say> speaks one language."""

    code: str
    voice: str
    language: str
    label: str


@dataclass(frozen=True)
class Option:
    """One key of a keypad menu."""

    key: str
    value: str
    next: str
    sets: Mapping[str, str] = field(default_factory=_empty)
    label: Prompt = field(default_factory=_empty)
    # True for choices from config: their label is a name spoken through option_prompt.
    named: bool = False


@dataclass(frozen=True)
class Step:
    """A step of a flow; which fields matter depends on `type`."""

    id: str
    type: str
    prompt: Prompt = field(default_factory=_empty)
    next: str | None = None
    key: str | None = None
    options: tuple[Option, ...] = ()
    options_from: str | None = None
    option_prompt: Prompt = field(default_factory=_empty)
    default: str | None = None
    min_digits: int = 1
    max_digits: int = 20
    confirm: bool = False
    secret: bool = False
    confirm_prompt: Prompt = field(default_factory=_empty)
    skip: str | None = None
    # A followup step's offer key, its other sentences (by name), tries and PIN length.
    press: str | None = None
    texts: Mapping[str, Prompt] = field(default_factory=_empty_texts)
    timeout: int | None = None
    tries: int = 3
    pin_digits: int = 4

    def text(self, name: str) -> Prompt:
        """One of a followup step's sentences."""
        return self.texts[name]

    def option(self, key: str) -> Option | None:
        """Return the option bound to a key, if any."""
        return next((o for o in self.options if o.key == key), None)

    def targets(self) -> list[str]:
        """List every step this one can lead to."""
        found = [t for t in (self.next, self.skip) if t]
        found.extend(o.next for o in self.options)
        return found


@dataclass(frozen=True)
class Flow:
    """A whole call flow: languages, shared prompts, steps, and where it starts."""

    id: str
    source: str
    start: str
    languages: tuple[Voice, ...]
    steps: Mapping[str, Step]
    prompts: Mapping[str, Prompt]
    dispatcher_key: str | None = "0"
    choices: Mapping[str, tuple[Option, ...]] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def default_language(self) -> str:
        return self.languages[0].code

    def voice(self, code: str | None) -> Voice:
        """Return the voice for a language code, or the flow's first language."""
        return next((v for v in self.languages if v.code == code), self.languages[0])

    def step(self, step_id: str) -> Step:
        return self.steps[step_id]
