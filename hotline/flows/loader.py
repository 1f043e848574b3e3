"""Load ivr_flows/*.yaml into immutable Flow objects, rejecting anything a call could trip on.

The file's shape is declared in `hotline.flows.schema` (pydantic models, one per step
type); here its errors become one line each naming the file, the step and the field, and
what needs the whole flow or its hotline is checked: targets, reachability, say/goto loops,
configured choices and the dispatcher key.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from hotline import yamlfile
from hotline.flows.model import Flow, Option, Prompt, Step, Voice
from hotline.flows.schema import (
    FOLLOWUP_TEXTS,
    SHARED_PROMPTS,
    STEP_TYPES,
    FlowDoc,
    FollowupStep,
    LanguageStep,
    MenuStep,
    OptionDoc,
    StepDoc,
)
from hotline.settings import Hotline

__all__ = ["PASS_THROUGH", "SHARED_PROMPTS", "STEP_TYPES", "FlowError", "check_all", "load_flow", "parse_flow"]

# Steps that speak and then move on by themselves, without waiting for the caller.
PASS_THROUGH = frozenset({"say", "goto"})
# The keys of a call back's own menus: add information, hear the messages again, hang up.
FOLLOWUP_KEYS = ("1", "2", "#")


class FlowError(Exception):
    """A flow file is invalid; the message names the file and the step."""


class _Ctx:
    """Where we are in a file, so every error names it."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, message: str) -> FlowError:
        return FlowError(f"{self.source}: {where}: {message}")


# pydantic's words for a wrong type, in a flow author's.
_PLAIN = {
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping",
    "too_short": "must not be empty",
    "string_type": "must be text",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
}


def _where(loc: tuple[int | str, ...]) -> str:
    """`steps.who.record.prompt.es` -> "step 'who'.prompt.es"; `languages.en` as it is."""
    parts = [str(p) for p in loc if p != "[key]"]
    if len(parts) >= 2 and parts[0] == "steps":
        # parts[2] is the step's type, which pydantic puts in the path of a tagged union.
        return ".".join([f"step {parts[1]!r}", *parts[3:]])
    return ".".join(parts) or "document"


def _describe(error: ErrorDetails) -> tuple[str, str]:
    """(where, message) for one pydantic error, in the words of a flow's author."""
    loc, kind, ctx = error["loc"], error["type"], error.get("ctx") or {}
    if kind in ("value_error", "assertion_error"):
        return _where(loc), str(ctx.get("error", error["msg"]))
    if kind == "union_tag_invalid":
        return _where(loc), f"unknown step type {ctx.get('tag')!r} (known: {', '.join(sorted(STEP_TYPES))})"
    if kind == "union_tag_not_found":
        return _where(loc), f"a step must be a mapping with a type (one of {', '.join(sorted(STEP_TYPES))})"
    if kind in ("missing", "extra_forbidden"):
        return _field_error(loc, kind)
    return _where(loc), _PLAIN.get(kind, error["msg"])


def _field_error(loc: tuple[int | str, ...], kind: str) -> tuple[str, str]:
    """A missing or unknown field: said of its step (or option, or document)."""
    owner, field = loc[:-1], loc[-1]
    if len(owner) == 3 and owner[0] == "steps":
        step_type = owner[2]
        if kind == "missing":
            return _where(owner), f"a {step_type} step needs {field}"
        return _where(owner), f"field {field!r} is not allowed in a {step_type} step"
    if kind == "missing":
        return (_where(loc), "is missing") if owner else ("document", f"missing {field!r}")
    return _where(owner), f"unknown field {field!r}" if owner else f"unknown top-level field {field!r}"


def _validated(ctx: _Ctx, raw: dict[str, Any]) -> FlowDoc:
    """The document checked against the schema, or every problem in it, one line each."""
    languages = list(raw["languages"]) if isinstance(raw.get("languages"), dict) else []
    try:
        return FlowDoc.model_validate(raw, context={"languages": languages})
    except ValidationError as exc:
        lines = [str(ctx.fail(*_describe(error))) for error in exc.errors()]
        raise FlowError("\n".join(lines)) from None


def _frozen(texts: Mapping[str, str] | None) -> Prompt:
    return MappingProxyType(dict(texts or {}))


def _own_options(options: Mapping[str, OptionDoc] | None, step_next: str | None) -> tuple[Option, ...]:
    return tuple(
        Option(
            key=key,
            value=spec.value or key,
            next=str(spec.next or step_next),
            sets=MappingProxyType(dict(spec.set)),
            label=_frozen(spec.label),
        )
        for key, spec in (options or {}).items()
    )


def _choice_options(
    ctx: _Ctx, where: str, doc: MenuStep, languages: list[str], hotline: Hotline | None
) -> tuple[Option, ...]:
    """A menu's options built from the hotline's configured choices (`options_from`)."""
    if doc.options_from is None or hotline is None:
        # Checked without a hotline (a syntax check): the choices are unknown, so trust them.
        return ()
    choices = hotline.choices.get(doc.options_from)
    if not choices:
        raise ctx.fail(where, f"options_from {doc.options_from!r}: hotline {hotline.id!r} defines no such choices")
    for choice in choices:
        missing = [code for code in languages if code not in choice.name]
        if missing:
            raise ctx.fail(where, f"choice {choice.id!r} has no name in {', '.join(missing)}")
    return tuple(
        Option(key=c.key, value=c.id, next=str(doc.next), label=MappingProxyType(dict(c.name)), named=True)
        for c in choices
    )


def _menu_options(
    ctx: _Ctx, where: str, doc: MenuStep, languages: list[str], hotline: Hotline | None
) -> tuple[Option, ...]:
    options = _choice_options(ctx, where, doc, languages, hotline) + _own_options(doc.options, doc.next)
    keys = [o.key for o in options]
    if len(keys) != len(set(keys)):
        raise ctx.fail(where, "two options use the same key")
    if doc.default not in keys:
        raise ctx.fail(where, f"default {doc.default!r} is not one of the option keys")
    return options


def _step(ctx: _Ctx, step_id: str, doc: StepDoc, languages: list[str], hotline: Hotline | None) -> Step:
    """The engine's Step for one validated step document."""
    fields: dict[str, Any] = dict(doc)
    options: tuple[Option, ...] = ()
    default = None
    if isinstance(doc, MenuStep):
        options, default = _menu_options(ctx, f"step {step_id!r}", doc, languages, hotline), doc.default
    elif isinstance(doc, LanguageStep):
        options, default = _own_options(doc.options, doc.next), doc.default_key()
    return Step(
        id=step_id,
        type=doc.type,
        prompt=_frozen(fields.get("prompt")),
        next=fields.get("next") or None,
        key=fields.get("key") or None,
        options=options,
        options_from=fields.get("options_from"),
        option_prompt=_frozen(fields.get("option_prompt")),
        default=default,
        min_digits=fields.get("min_digits", 1),
        max_digits=fields.get("max_digits", 20),
        confirm=fields.get("confirm", False),
        secret=fields.get("secret", False),
        confirm_prompt=_frozen(fields.get("confirm_prompt"))
        if doc.type == "digits" and fields["confirm"] and not fields["secret"]
        else MappingProxyType({}),
        skip=fields.get("skip") or None,
        **(_followup(doc) if isinstance(doc, FollowupStep) else {}),
    )


def _followup(doc: FollowupStep) -> dict[str, Any]:
    """A followup step's own fields, for the engine's Step."""
    texts = {name: _frozen(getattr(doc, name)) for name in FOLLOWUP_TEXTS}
    return {
        "press": doc.press,
        "texts": MappingProxyType(texts),
        "timeout": doc.timeout,
        "tries": doc.tries,
        "pin_digits": doc.pin_digits,
    }


def _check_graph(ctx: _Ctx, start: str, steps: Mapping[str, Step]) -> None:
    """Every target exists, every step is reachable, and no say/goto chain loops."""
    if start not in steps:
        raise ctx.fail("start", f"start step {start!r} does not exist")
    for step in steps.values():
        missing = [target for target in step.targets() if target not in steps]
        if missing:
            raise ctx.fail(f"step {step.id!r}", f"goes to missing step {missing[0]!r}")
    unreachable = sorted(set(steps) - _reachable(start, steps))
    if unreachable:
        raise ctx.fail(f"step {unreachable[0]!r}", "is unreachable from the start step")
    for step in steps.values():
        _check_ends_waiting(ctx, step, steps)


def _reachable(start: str, steps: Mapping[str, Step]) -> set[str]:
    seen, todo = {start}, [start]
    while todo:
        fresh = [target for target in steps[todo.pop()].targets() if target not in seen]
        seen.update(fresh)
        todo.extend(fresh)
    return seen


def _check_ends_waiting(ctx: _Ctx, step: Step, steps: Mapping[str, Step]) -> None:
    """A chain of say/goto steps is rendered in one response: it must end at a step that waits."""
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
        raw = yamlfile.load(text)
    except yaml.YAMLError as exc:
        raise ctx.fail("document", f"not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ctx.fail("document", "the top level must be a mapping")
    doc = _validated(ctx, raw)
    languages = list(doc.languages)
    steps = {sid: _step(ctx, sid, spec, languages, hotline) for sid, spec in doc.steps.items()}
    _check_graph(ctx, doc.start, steps)
    _check_dispatcher_key(ctx, doc.dispatcher_key, steps, hotline)
    return Flow(
        id=doc.id,
        source=source,
        start=doc.start,
        languages=tuple(Voice(code, v.voice, v.language, v.label) for code, v in doc.languages.items()),
        steps=MappingProxyType(steps),
        prompts=MappingProxyType({name: _frozen(texts) for name, texts in doc.prompts.all().items()}),
        dispatcher_key=doc.dispatcher_key,
    )


def _check_dispatcher_key(ctx: _Ctx, key: str | None, steps: Mapping[str, Step], hotline: Hotline | None) -> None:
    if key is None:
        return
    if any(s.option(key) for s in steps.values() if s.type in ("menu", "language")):
        raise ctx.fail("dispatcher_key", f"key {key} is also used as a menu option")
    if any(key in (s.press, *FOLLOWUP_KEYS) for s in steps.values() if s.type == "followup"):
        raise ctx.fail("dispatcher_key", f"key {key} is also a key of the call-back step (its offer, 1, 2 or #)")
    if hotline is not None and hotline.dispatcher_group is None:
        # The flow promises callers a dispatcher on this key, and nobody would ever ring.
        raise ctx.fail(
            "dispatcher_key",
            f"hotline {hotline.id!r} has no dispatcher_group, but key {key} offers callers a "
            "dispatcher: give the hotline a dispatcher_group, or set dispatcher_key: null in the flow",
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
                # One line per problem (a file may have several), each naming the hotline.
                errors.append("\n".join(f"hotline {hotline.id}: {line}" for line in message.splitlines()))
    return errors
