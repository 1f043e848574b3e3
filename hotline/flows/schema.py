"""The shape of a flow file (ivr_flows/*.yaml), declared as pydantic models.

Each step type is its own model, so the fields a type allows and needs are read off its
class, not a table of rules. What one step can check alone (a prompt in every language,
a default among the options, digits bounds) is checked here; what needs the whole flow
or its hotline (targets, reachability, configured choices) is the loader's.

Prompts must cover the flow's languages: validate with `context={"languages": [...]}`.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    model_validator,
)

from hotline.flows.voices import check_voice

_KEY = re.compile(r"^[0-9*#]$")
_IDENT = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


class _Doc(BaseModel):
    # Unknown fields are typos in a hand-edited file; `1` and `"1"` are the same key.
    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)


def _prompt_shape(raw: Any) -> Any:
    if isinstance(raw, str):
        raise ValueError("a prompt needs one text per language, e.g. {en: ..., es: ...}")
    if not isinstance(raw, dict):
        raise ValueError("a prompt must be a mapping of language to text")
    return raw


def _in_every_language(texts: dict[str, str], info: ValidationInfo) -> dict[str, str]:
    languages = (info.context or {}).get("languages", ())
    # str(): a language key YAML read as something else (`no:` is false) is named, not a crash.
    missing = [str(code) for code in languages if not texts.get(code)]
    if missing:
        raise ValueError(f"missing prompt for language {', '.join(missing)}")
    return texts


def _keypad_key(key: str) -> str:
    if not _KEY.match(key):
        raise ValueError(f"{key!r} is not a single keypad key")
    return key


def _step_id(step_id: str) -> str:
    if not _IDENT.match(step_id):
        raise ValueError("step ids are lower-case letters, digits and underscores")
    return step_id


def _answer_key(key: str) -> str:
    if not _IDENT.match(key):
        raise ValueError(f"answer key {key!r} must be lower-case letters, digits, underscores")
    return key


def _option_shorthand(raw: Any) -> Any:
    return {"value": raw} if isinstance(raw, str | int) else raw


# A sentence in every language of the flow, keyed by language code.
Prompt = Annotated[dict[str, str], BeforeValidator(_prompt_shape), AfterValidator(_in_every_language)]
KeypadKey = Annotated[str, AfterValidator(_keypad_key)]
StepId = Annotated[str, AfterValidator(_step_id)]
AnswerKey = Annotated[str, AfterValidator(_answer_key)]


class OptionDoc(_Doc):
    """One key of a menu: `"1": weapons` is short for `"1": {value: weapons}`."""

    value: str | None = None
    next: str | None = None
    set: dict[str, str] = Field(default_factory=dict)
    label: Prompt | None = None


Options = dict[KeypadKey, Annotated[OptionDoc, BeforeValidator(_option_shorthand)]]


def _every_option_goes_somewhere(options: Options | None, step_next: str | None) -> None:
    for key, option in (options or {}).items():
        if not (option.next or step_next):
            raise ValueError(f"option {key} has no next step and the step has no next")


class LanguageStep(_Doc):
    """The caller picks a language; `default` is an option key or a language code."""

    type: Literal["language"]
    prompt: Prompt
    options: Options = Field(min_length=1)
    default: str | None = None
    next: str

    @model_validator(mode="after")
    def _options_pick_languages(self, info: ValidationInfo) -> LanguageStep:
        # No languages when the flow's own `languages` is broken: that error is reported alone.
        languages = (info.context or {}).get("languages", ())
        for key, option in self.options.items():
            if languages and (option.value or key) not in languages:
                raise ValueError(f"option {key} picks unknown language {option.value or key!r}")
        if self.default_key() not in self.options:
            raise ValueError(f"default {self.default!r} is not one of the option keys")
        return self

    def default_key(self) -> str:
        """The key of the default option, whether `default` names a key or a language."""
        by_language = {option.value: key for key, option in self.options.items()}
        default = self.default if self.default is not None else next(iter(self.options))
        return by_language.get(default, default)


class SayStep(_Doc):
    type: Literal["say"]
    prompt: Prompt
    next: str


class MenuStep(_Doc):
    """A keypad menu: its own options, choices from the hotline's config, or both."""

    type: Literal["menu"]
    prompt: Prompt
    key: AnswerKey
    options: Annotated[Options, Field(min_length=1)] | None = None
    options_from: str | None = None
    option_prompt: Prompt | None = None
    default: str
    next: str | None = None

    @model_validator(mode="after")
    def _has_options(self) -> MenuStep:
        if self.options is None and self.options_from is None:
            raise ValueError("a menu step needs options or options_from")
        if self.options_from is not None and self.option_prompt is None:
            raise ValueError("a menu built from choices needs option_prompt (it speaks each choice's name)")
        if self.options_from is not None and not self.next:
            raise ValueError("a menu built from choices needs next")
        _every_option_goes_somewhere(self.options, self.next)
        return self


class RecordStep(_Doc):
    type: Literal["record"]
    prompt: Prompt
    key: AnswerKey
    next: str


class DigitsStep(_Doc):
    """Keyed-in digits: confirmed by reading them back, or (secret) by typing them twice."""

    type: Literal["digits"]
    prompt: Prompt
    key: AnswerKey
    min_digits: int = 1
    max_digits: int = 20
    confirm: bool = False
    secret: bool = False
    confirm_prompt: Prompt | None = None
    next: str
    skip: str | None = None

    @model_validator(mode="after")
    def _bounds_and_confirmation(self) -> DigitsStep:
        if not 1 <= self.min_digits <= self.max_digits <= 30:
            raise ValueError("digits need 1 <= min_digits <= max_digits <= 30")
        if self.confirm and not self.secret and self.confirm_prompt is None:
            raise ValueError("a confirmed digits step needs confirm_prompt (with {digits})")
        return self


class TipNumberStep(_Doc):
    type: Literal["tip_number"]
    prompt: Prompt
    next: str

    @model_validator(mode="after")
    def _says_the_number(self) -> TipNumberStep:
        if any("{tip}" not in text for text in self.prompt.values()):
            raise ValueError("the tip_number prompt must say {tip} in every language")
        return self


class FollowupStep(_Doc):
    """The call-back offer: a caller with an earlier tip number (and PIN) hears the
    investigators' messages and adds information to that report instead of making a new one.

    Every sentence is the flow's (no wording in code); pressing nothing or another key at
    the offer goes on to `next` (the questions), and so does the caller after `tries`
    refusals, as a new tip.
    """

    type: Literal["followup"]
    press: KeypadKey = "9"
    # Seconds the offer waits for a key: short, since most callers are not calling back.
    timeout: int = Field(default=3, ge=1, le=10)
    tries: int = Field(default=3, ge=1, le=5)
    pin_digits: int = Field(default=4, ge=1, le=12)
    prompt: Prompt
    tip_prompt: Prompt
    pin_prompt: Prompt
    refused: Prompt
    refused_final: Prompt
    status_open: Prompt
    status_closed: Prompt
    messages: Prompt
    menu: Prompt
    menu_without_messages: Prompt
    record_prompt: Prompt
    more: Prompt
    next: str

    @model_validator(mode="after")
    def _counts_messages(self) -> FollowupStep:
        if any("{count}" not in text for text in self.messages.values()):
            raise ValueError("the followup messages prompt must say {count} in every language")
        return self


# The sentences of a followup step besides its offer (`prompt`), as the model keeps them.
FOLLOWUP_TEXTS = (
    "tip_prompt",
    "pin_prompt",
    "refused",
    "refused_final",
    "status_open",
    "status_closed",
    "messages",
    "menu",
    "menu_without_messages",
    "record_prompt",
    "more",
)


class TransferStep(_Doc):
    type: Literal["transfer"]
    prompt: Prompt | None = None
    next: str


class GotoStep(_Doc):
    type: Literal["goto"]
    next: str


class HangupStep(_Doc):
    type: Literal["hangup"]
    prompt: Prompt | None = None


def _step_type(raw: Any) -> str | None:
    kind = raw.get("type") if isinstance(raw, dict) else getattr(raw, "type", None)
    return kind if isinstance(kind, str) else None


StepDoc = Annotated[
    Annotated[LanguageStep, Tag("language")]
    | Annotated[SayStep, Tag("say")]
    | Annotated[MenuStep, Tag("menu")]
    | Annotated[RecordStep, Tag("record")]
    | Annotated[DigitsStep, Tag("digits")]
    | Annotated[TipNumberStep, Tag("tip_number")]
    | Annotated[FollowupStep, Tag("followup")]
    | Annotated[TransferStep, Tag("transfer")]
    | Annotated[GotoStep, Tag("goto")]
    | Annotated[HangupStep, Tag("hangup")],
    Discriminator(_step_type),
]
STEP_TYPES = (
    "language",
    "say",
    "menu",
    "record",
    "digits",
    "tip_number",
    "followup",
    "transfer",
    "goto",
    "hangup",
)


class VoiceDoc(_Doc):
    """How Twilio's <Say> speaks one language of the flow."""

    voice: str
    language: str
    label: str

    @model_validator(mode="after")
    def _twilio_speaks_it(self) -> VoiceDoc:
        # Twilio refuses a <Say> with a voice it does not know or a language the voice does
        # not speak, and the caller hears "an application error": refuse the flow instead.
        problem = check_voice(self.voice, self.language)
        if problem:
            raise ValueError(problem)
        return self


class PromptsDoc(_Doc):
    """Prompts the engine itself speaks (re-prompts, transfers, errors), and any others."""

    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[str, Prompt] = Field(init=False)

    invalid: Prompt
    no_input: Prompt
    transfer_connecting: Prompt
    transfer_unavailable: Prompt
    transfer_completed: Prompt
    whisper: Prompt
    whisper_timeout: Prompt
    confirm_secret: Prompt
    secret_mismatch: Prompt
    goodbye: Prompt

    def all(self) -> dict[str, dict[str, str]]:
        return {name: texts for name, texts in self if texts is not None}


SHARED_PROMPTS = tuple(PromptsDoc.model_fields)


class FlowDoc(_Doc):
    """A whole flow file."""

    id: str
    start: str
    languages: dict[str, VoiceDoc] = Field(min_length=1)
    dispatcher_key: KeypadKey | None = "0"
    prompts: PromptsDoc
    steps: dict[StepId, StepDoc] = Field(min_length=1)
