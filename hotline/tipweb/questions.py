"""The web form of a hotline, generated from its call flow: one field per question the caller
is asked, worded for a page instead of a keypad.

Recorded questions become text areas, menus become selects (the default option chosen) and
non-secret digit entries become numeric text fields with the step's bounds. What only makes
sense on a call is left out: the language choice, spoken notices, the tip number, transfers,
hang-ups, the PIN (chosen on the page after filing) and the call-back branch.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from hotline.flows.model import Flow, Option, Step

# A step or answer key naming the call-back branch (a caller who has a tip number already).
_FOLLOWUP = re.compile(r"call_?back|follow_?up|lookup|returning")
MAX_ANSWER_CHARS = 5000

# Phone words: a sentence still holding one after the clean-up below is about the keypad.
_PHONE_WORDS = {
    "en": re.compile(r"\b(pound|press|tone|keypad|hang up|dial)\b", re.I),
    "es": re.compile(r"\b(oprima|oprímala|tecla|tono|teclado|cuelgue|marque el 9)\b", re.I),
}
# Leading phrases that only make sense on a call, and what a spoken verb becomes on a page.
_PREFIXES = {
    "en": ("after the tone, ", "using your keypad, "),
    "es": ("después del tono, ", "con el teclado, "),
}
_CLAUSES = {
    "en": (", then press pound", " and then press pound"),
    "es": (" y luego oprima la tecla de número",),
}
_VERBS = {
    "en": {"say ": "give ", "enter ": "enter "},
    "es": {"diga ": "indique ", "díganos ": "indíquenos ", "marque ": "escriba "},
}
# "For weapons, press 1." / "Para drogas, oprima 2.": an option spoken in a menu's prompt.
_SPOKEN_OPTION = {
    "en": re.compile(r"^(?P<text>.+?),?\s+press (?P<key>[0-9*#])\.?$", re.I),
    "es": re.compile(r"^(?P<text>.+?),?\s+oprima (?:el |la )?(?P<key>[0-9*#])\.?$", re.I),
}
_LEADING_FOR = {"en": ("for ", "to "), "es": ("para ",)}
_SENTENCES = re.compile(r"(?<=[.?!])\s+")


@dataclass(frozen=True)
class Choice:
    value: str
    text: str


@dataclass(frozen=True)
class Question:
    """One field of the form. `kind`: "text" (a text area), "choice" (a select), "digits"."""

    key: str
    kind: str
    label: str
    choices: tuple[Choice, ...] = ()
    default: str | None = None
    min_digits: int = 1
    max_digits: int = 20
    # The options' `set` (category, urgency), by value, for a choice.
    sets: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def field_id(self) -> str:
        return f"q-{self.key}"


def _lang(language: str) -> str:
    return language if language in _PHONE_WORDS else "en"


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text


def page_wording(text: str, language: str) -> str:
    """A spoken prompt, shortened for a page: keypad and tone instructions taken out."""
    lang = _lang(language)
    kept = []
    for sentence in _SENTENCES.split(text.strip()):
        s = sentence.strip()
        lowered = s.lower()
        for prefix in _PREFIXES[lang]:
            if lowered.startswith(prefix):
                s = s[len(prefix) :]
                lowered = s.lower()
        for clause in _CLAUSES[lang]:
            at = lowered.find(clause)
            if at >= 0:
                s = s[:at] + s[at + len(clause) :]
                lowered = s.lower()
        for spoken, written in _VERBS[lang].items():
            if lowered.startswith(spoken):
                s = written + s[len(spoken) :]
                break
        if s and not _PHONE_WORDS[lang].search(s):
            kept.append(_cap(s))
    return " ".join(kept)


def _option_text(text: str, language: str) -> str:
    """An option's words without its key: "For weapons, press 1." -> "Weapons"."""
    lang = _lang(language)
    s = text.strip()
    match = _SPOKEN_OPTION[lang].match(s)
    if match:
        s = match.group("text")
    s = s.rstrip(".,;: ")
    for lead in _LEADING_FOR[lang]:
        if s.lower().startswith(lead):
            s = s[len(lead) :]
            break
    return _cap(s)


def _spoken_options(prompt: str, language: str) -> dict[str, str]:
    """Options read out in a menu's prompt, by key."""
    lang = _lang(language)
    found = {}
    for sentence in _SENTENCES.split(prompt.strip()):
        match = _SPOKEN_OPTION[lang].match(sentence.strip())
        if match:
            found[match.group("key")] = _option_text(sentence, lang)
    return found


def _text(texts: Mapping[str, str], language: str, flow: Flow) -> str:
    return texts.get(language) or texts.get(flow.default_language) or ""


def _choice_text(option: Option, spoken: dict[str, str], language: str, flow: Flow) -> str:
    if option.label:
        label = _text(option.label, language, flow)
        return _cap(label) if option.named else _option_text(label, language)
    return spoken.get(option.key) or _cap(option.value.replace("_", " "))


def is_followup(step: Step) -> bool:
    """Whether a step belongs to the call-back branch (tip number and PIN of an earlier report)."""
    return bool(_FOLLOWUP.search(step.id) or (step.key and _FOLLOWUP.search(step.key)))


def _reachable(flow: Flow) -> set[str]:
    """Steps a first-time caller can reach: the call-back branch only through its default."""
    seen, todo = {flow.start}, [flow.start]
    while todo:
        step = flow.steps[todo.pop()]
        if step.type in ("menu", "language") and not is_followup(step):
            # Not an option that leads into the call-back branch ("press 9 if you are calling back").
            targets = [o.next for o in step.options if not _FOLLOWUP.search(f"{o.value} {o.next}")]
            targets += [t for t in (step.next, step.skip) if t]
        elif step.type == "menu":
            default = step.option(step.default or "")
            targets = [default.next] if default else []
        else:
            # Unknown or call-back steps: only their plain way on, never a branch of their own.
            targets = [t for t in (step.next, step.skip) if t]
        for target in targets:
            if target in flow.steps and target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def questions_of(flow: Flow, language: str) -> list[Question]:
    """The form's fields for a flow, in the flow file's order, worded in `language`."""
    reachable = _reachable(flow)
    found: list[Question] = []
    for step in flow.steps.values():
        if step.id not in reachable or is_followup(step) or not step.key:
            continue
        prompt = _text(step.prompt, language, flow)
        if step.type == "record":
            found.append(Question(step.key, "text", page_wording(prompt, language) or _cap(step.key)))
        elif step.type == "menu":
            spoken = _spoken_options(prompt, language)
            choices = tuple(Choice(o.value, _choice_text(o, spoken, language, flow)) for o in step.options)
            default = step.option(step.default or "")
            found.append(
                Question(
                    step.key,
                    "choice",
                    page_wording(prompt, language),
                    choices=choices,
                    default=default.value if default else None,
                    sets={o.value: dict(o.sets) for o in step.options},
                )
            )
        elif step.type == "digits" and not step.secret:
            found.append(
                Question(
                    step.key,
                    "digits",
                    page_wording(prompt, language) or _cap(step.key),
                    min_digits=step.min_digits,
                    max_digits=step.max_digits,
                )
            )
    return found
