"""Load ivr_flows/*.yaml into immutable Flow objects, rejecting anything a call could trip on."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from hotline.flows.model import Flow, Option, Prompt, Step, Voice
from hotline.flows.voices import check_voice
from hotline.settings import Hotline

STEP_TYPES = frozenset({"language", "say", "menu", "record", "digits", "tip_number", "transfer", "goto", "hangup"})
# Steps that speak and then move on by themselves, without waiting for the caller.
PASS_THROUGH = frozenset({"say", "goto"})
# Prompts the engine itself speaks (re-prompts, transfers, errors) in every flow.
SHARED_PROMPTS = (
    "invalid",
    "no_input",
    "transfer_connecting",
    "transfer_unavailable",
    "transfer_completed",
    "whisper",
    "whisper_timeout",
    "confirm_secret",
    "secret_mismatch",
    "goodbye",
)
_ALLOWED_FIELDS: dict[str, set[str]] = {
    "language": {"prompt", "options", "default", "next"},
    "say": {"prompt", "next"},
    "menu": {"prompt", "key", "options", "options_from", "option_prompt", "default", "next"},
    "record": {"prompt", "key", "next"},
    "digits": {
        "prompt",
        "key",
        "min_digits",
        "max_digits",
        "confirm",
        "secret",
        "confirm_prompt",
        "next",
        "skip",
    },
    "tip_number": {"prompt", "next"},
    "transfer": {"prompt", "next"},
    "goto": {"next"},
    "hangup": {"prompt"},
}
_REQUIRED_FIELDS: dict[str, set[str]] = {
    "language": {"prompt", "options", "next"},
    "say": {"prompt", "next"},
    "menu": {"prompt", "key", "default"},
    "record": {"prompt", "key", "next"},
    "digits": {"prompt", "key", "next"},
    "tip_number": {"prompt", "next"},
    "transfer": {"next"},
    "goto": {"next"},
    "hangup": set(),
}
_KEY = re.compile(r"^[0-9*#]$")
_IDENT = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


class FlowError(Exception):
    """A flow file is invalid; the message names the file and the step."""


class _Ctx:
    """Where we are in a file, so every error names it."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, message: str) -> FlowError:
        return FlowError(f"{self.source}: {where}: {message}")


def _prompt(ctx: _Ctx, where: str, raw: Any, languages: Iterable[str]) -> Prompt:
    if isinstance(raw, str):
        raise ctx.fail(where, "a prompt needs one text per language, e.g. {en: ..., es: ...}")
    if not isinstance(raw, dict):
        raise ctx.fail(where, "a prompt must be a mapping of language to text")
    missing = [code for code in languages if not isinstance(raw.get(code), str) or not raw[code]]
    if missing:
        raise ctx.fail(where, f"missing prompt for language {', '.join(missing)}")
    return MappingProxyType({str(k): str(v) for k, v in raw.items()})


def _options(ctx: _Ctx, where: str, raw: Any, languages: list[str], default_next: str | None) -> tuple[Option, ...]:
    if not isinstance(raw, dict) or not raw:
        raise ctx.fail(where, "options must be a non-empty mapping of key to choice")
    options = []
    for key, spec in raw.items():
        key = str(key)
        if not _KEY.match(key):
            raise ctx.fail(where, f"option key {key!r} is not a single keypad key")
        if isinstance(spec, str):
            spec = {"value": spec}
        if not isinstance(spec, dict):
            raise ctx.fail(where, f"option {key} must be a value or a mapping")
        unknown = set(spec) - {"value", "next", "set", "label"}
        if unknown:
            raise ctx.fail(where, f"option {key} has unknown field(s) {sorted(unknown)}")
        target = spec.get("next", default_next)
        if not target:
            raise ctx.fail(where, f"option {key} has no next step and the step has no next")
        sets = spec.get("set", {})
        if not isinstance(sets, dict):
            raise ctx.fail(where, f"option {key}: set must be a mapping")
        label = (
            _prompt(ctx, f"{where}.{key}.label", spec["label"], languages) if "label" in spec else MappingProxyType({})
        )
        options.append(
            Option(
                key=key,
                value=str(spec.get("value", key)),
                next=str(target),
                sets=MappingProxyType({str(k): str(v) for k, v in sets.items()}),
                label=label,
            )
        )
    return tuple(options)


def _step(ctx: _Ctx, step_id: str, raw: Any, languages: list[str], hotline: Hotline | None) -> Step:
    where = f"step {step_id!r}"
    if not _IDENT.match(step_id):
        raise ctx.fail(where, "step ids are lower-case letters, digits and underscores")
    if not isinstance(raw, dict):
        raise ctx.fail(where, "a step must be a mapping")
    kind = raw.get("type")
    if kind not in STEP_TYPES:
        raise ctx.fail(where, f"unknown step type {kind!r} (known: {', '.join(sorted(STEP_TYPES))})")
    fields = set(raw) - {"type"}
    unknown = fields - _ALLOWED_FIELDS[kind]
    if unknown:
        raise ctx.fail(where, f"field(s) {sorted(unknown)} are not allowed in a {kind} step")
    missing = _REQUIRED_FIELDS[kind] - fields
    if kind == "menu" and "options" not in fields and "options_from" not in fields:
        missing.add("options or options_from")
    if missing:
        raise ctx.fail(where, f"a {kind} step needs {', '.join(sorted(missing))}")
    key = raw.get("key")
    if key is not None and not _IDENT.match(str(key)):
        raise ctx.fail(where, f"answer key {key!r} must be lower-case letters, digits, underscores")
    prompt = _prompt(ctx, f"{where}.prompt", raw["prompt"], languages) if "prompt" in raw else MappingProxyType({})
    nxt = raw.get("next")
    options: tuple[Option, ...] = ()
    option_prompt: Prompt = MappingProxyType({})
    if kind == "language":
        options = _options(ctx, where, raw["options"], languages, nxt)
        for option in options:
            if option.value not in languages:
                raise ctx.fail(where, f"option {option.key} picks unknown language {option.value!r}")
    elif kind == "menu":
        if "options_from" in raw:
            options = _choice_options(ctx, where, raw, languages, hotline, nxt)
        if "options" in raw:
            options += _options(ctx, where, raw["options"], languages, nxt)
        if "options_from" in raw:
            option_prompt = _prompt(ctx, f"{where}.option_prompt", raw.get("option_prompt"), languages)
        keys = [o.key for o in options]
        if len(keys) != len(set(keys)):
            raise ctx.fail(where, "two options use the same key")
    default = raw.get("default")
    if kind in ("language", "menu"):
        default = str(default) if default is not None else options[0].key
        if kind == "language" and default in languages:
            default = next(o.key for o in options if o.value == default)
        if not any(o.key == default for o in options):
            raise ctx.fail(where, f"default {default!r} is not one of the option keys")
    min_digits, max_digits = int(raw.get("min_digits", 1)), int(raw.get("max_digits", 20))
    if not 1 <= min_digits <= max_digits <= 30:
        raise ctx.fail(where, "digits need 1 <= min_digits <= max_digits <= 30")
    confirm, secret = bool(raw.get("confirm", False)), bool(raw.get("secret", False))
    confirm_prompt: Prompt = MappingProxyType({})
    if kind == "digits" and confirm and not secret:
        if "confirm_prompt" not in raw:
            raise ctx.fail(where, "a confirmed digits step needs confirm_prompt (with {digits})")
        confirm_prompt = _prompt(ctx, f"{where}.confirm_prompt", raw["confirm_prompt"], languages)
    if kind == "tip_number" and any("{tip}" not in text for text in prompt.values()):
        raise ctx.fail(where, "the tip_number prompt must say {tip} in every language")
    return Step(
        id=step_id,
        type=kind,
        prompt=prompt,
        next=str(nxt) if nxt else None,
        key=str(key) if key else None,
        options=options,
        options_from=raw.get("options_from"),
        option_prompt=option_prompt,
        default=default,
        min_digits=min_digits,
        max_digits=max_digits,
        confirm=confirm,
        secret=secret,
        confirm_prompt=confirm_prompt,
        skip=str(raw["skip"]) if raw.get("skip") else None,
    )


def _choice_options(
    ctx: _Ctx,
    where: str,
    raw: dict[str, Any],
    languages: list[str],
    hotline: Hotline | None,
    nxt: str | None,
) -> tuple[Option, ...]:
    name = str(raw["options_from"])
    if hotline is None:
        # Checked without a hotline (a syntax check): the choices are unknown, so trust them.
        return ()
    choices = hotline.choices.get(name)
    if not choices:
        raise ctx.fail(where, f"options_from {name!r}: hotline {hotline.id!r} defines no such choices")
    if not nxt:
        raise ctx.fail(where, "a menu built from choices needs next")
    for choice in choices:
        missing = [code for code in languages if code not in choice.name]
        if missing:
            raise ctx.fail(where, f"choice {choice.id!r} has no name in {', '.join(missing)}")
    return tuple(
        Option(key=c.key, value=c.id, next=nxt, label=MappingProxyType(dict(c.name)), named=True) for c in choices
    )


def _check_graph(ctx: _Ctx, start: str, steps: Mapping[str, Step]) -> None:
    if start not in steps:
        raise ctx.fail("start", f"start step {start!r} does not exist")
    for step in steps.values():
        for target in step.targets():
            if target not in steps:
                raise ctx.fail(f"step {step.id!r}", f"goes to missing step {target!r}")
    seen, todo = {start}, [start]
    while todo:
        for target in steps[todo.pop()].targets():
            if target not in seen:
                seen.add(target)
                todo.append(target)
    unreachable = sorted(set(steps) - seen)
    if unreachable:
        raise ctx.fail(f"step {unreachable[0]!r}", "is unreachable from the start step")
    # A chain of say/goto steps is rendered in one response: it must end at a step that waits.
    for step in steps.values():
        current, hops = step, 0
        while current.type in PASS_THROUGH:
            hops += 1
            if hops > len(steps):
                raise ctx.fail(f"step {step.id!r}", "say/goto steps loop without waiting for input")
            current = steps[current.next or ""]


def parse_flow(text: str, source: str, hotline: Hotline | None = None) -> Flow:
    """Parse and validate one flow document."""
    ctx = _Ctx(source)
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ctx.fail("document", f"not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ctx.fail("document", "the top level must be a mapping")
    unknown = set(raw) - {"id", "start", "languages", "dispatcher_key", "prompts", "steps"}
    if unknown:
        raise ctx.fail("document", f"unknown top-level field(s) {sorted(unknown)}")
    for required in ("id", "start", "languages", "prompts", "steps"):
        if required not in raw:
            raise ctx.fail("document", f"missing {required!r}")
    langs_raw = raw["languages"]
    if not isinstance(langs_raw, dict) or not langs_raw:
        raise ctx.fail("languages", "must map language codes to voice settings")
    voices = []
    for code, spec in langs_raw.items():
        if not isinstance(spec, dict) or not {"voice", "language", "label"} <= set(spec):
            raise ctx.fail(f"languages.{code}", "needs voice, language and label")
        voice = Voice(str(code), str(spec["voice"]), str(spec["language"]), str(spec["label"]))
        # Twilio refuses a <Say> with a voice it does not know or a language the voice does
        # not speak, and the caller hears "an application error": refuse the flow instead.
        problem = check_voice(voice.voice, voice.language)
        if problem:
            raise ctx.fail(f"languages.{code}", problem)
        voices.append(voice)
    languages = [v.code for v in voices]
    prompts_raw = raw["prompts"]
    if not isinstance(prompts_raw, dict):
        raise ctx.fail("prompts", "must be a mapping of prompt name to texts")
    for name in SHARED_PROMPTS:
        if name not in prompts_raw:
            raise ctx.fail(f"prompts.{name}", "is missing")
    prompts = {str(name): _prompt(ctx, f"prompts.{name}", value, languages) for name, value in prompts_raw.items()}
    steps_raw = raw["steps"]
    if not isinstance(steps_raw, dict) or not steps_raw:
        raise ctx.fail("steps", "must be a non-empty mapping of step id to step")
    steps = {str(sid): _step(ctx, str(sid), spec, languages, hotline) for sid, spec in steps_raw.items()}
    _check_graph(ctx, str(raw["start"]), steps)
    dispatcher_key = raw.get("dispatcher_key", "0")
    if dispatcher_key is not None and not _KEY.match(str(dispatcher_key)):
        raise ctx.fail("dispatcher_key", "must be one keypad key or null")
    if dispatcher_key is not None and any(
        s.option(str(dispatcher_key)) for s in steps.values() if s.type in ("menu", "language")
    ):
        raise ctx.fail("dispatcher_key", f"key {dispatcher_key} is also used as a menu option")
    if dispatcher_key is not None and hotline is not None and hotline.dispatcher_group is None:
        # The flow promises callers a dispatcher on this key, and nobody would ever ring.
        raise ctx.fail(
            "dispatcher_key",
            f"hotline {hotline.id!r} has no dispatcher_group, but key {dispatcher_key} offers callers a "
            "dispatcher: give the hotline a dispatcher_group, or set dispatcher_key: null in the flow",
        )
    return Flow(
        id=str(raw["id"]),
        source=source,
        start=str(raw["start"]),
        languages=tuple(voices),
        steps=MappingProxyType(steps),
        prompts=MappingProxyType(prompts),
        dispatcher_key=str(dispatcher_key) if dispatcher_key is not None else None,
    )


def load_flow(path: Path, hotline: Hotline | None = None) -> Flow:
    """Read and validate one flow file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise FlowError(f"{path}: cannot read flow file: {exc}") from exc
    return parse_flow(text, str(path), hotline)


def load_hotline_flows(flows_dir: Path, hotlines: Iterable[Hotline]) -> dict[str, Flow]:
    """Load each hotline's flow, keyed by hotline id."""
    flows = {}
    for hotline in hotlines:
        flow = load_flow(flows_dir / hotline.flow, hotline)
        flows[hotline.id] = flow
    return flows


def check_all(flows_dir: Path, hotlines: Iterable[Hotline]) -> list[str]:
    """Validate every flow file and every hotline binding; return the errors found."""
    errors = []
    for path in sorted(flows_dir.glob("*.yaml")):
        try:
            load_flow(path)
        except FlowError as exc:
            errors.append(str(exc))
    for hotline in hotlines:
        try:
            load_flow(flows_dir / hotline.flow, hotline)
        except FlowError as exc:
            message = str(exc)
            if message not in errors:
                errors.append(f"hotline {hotline.id}: {message}")
    return errors
