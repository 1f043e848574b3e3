"""Flows are data checked at load: every shipped flow renders every step; bad flows name the problem."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask import Flask

from hotline.flows.engine import CallState, Context, Engine
from hotline.flows.loader import FlowError, check_all, load_flow, parse_flow
from hotline.flows.twiml import Timing, Transfer, Urls
from hotline.settings import load_settings
from tests.voice.driver import assert_no_dead_end

ROOT = Path(__file__).resolve().parents[2]
FLOW_FILES = sorted((ROOT / "ivr_flows").glob("*.yaml"))
SETTINGS = load_settings(
    ROOT / "config.yaml",
    environ={},
    overrides={"twilio_auth_token": "x", "secret_key": "x", "audit_key": "a" * 32, "master_key": b"k" * 32},
)


def test_there_are_flows() -> None:
    assert {p.name for p in FLOW_FILES} >= {"safe_schools.yaml", "prea.yaml"}


def _engine(path: Path) -> Engine:
    hotline = next((h for h in SETTINGS.hotlines if h.flow == path.name), None)
    flow = load_flow(path, hotline)
    transfer = Transfer("+13140000000", ("+13140000001",), 20)
    return Engine(Context(flow, Urls("https://h.test", "x"), Timing(), transfer, reprompts=2))


@pytest.mark.parametrize("path", FLOW_FILES, ids=lambda p: p.name)
def test_every_step_of_every_flow_renders_in_every_language(path: Path) -> None:
    engine = _engine(path)
    flow = engine.flow
    for step_id, step in flow.steps.items():
        for voice in flow.languages:
            state = CallState(step=flow.start, language=voice.code, tip_number="12345678")
            phases = (
                [""]
                + (["confirm"] if step.confirm and not step.secret else [])
                + (["confirm_secret"] if step.secret else [])
            )
            for phase in phases:
                response = engine.enter(state, step_id)
                state.phase, state.pending = phase, "4321" if phase == "confirm" else ""
                root = ET.fromstring(engine.current(state).to_xml() if phase else response.to_xml())
                assert root.tag == "Response"
                assert_no_dead_end(root)
                says = list(root.iter("Say"))
                assert says or root.find("Dial") is not None, (path.name, step_id)
                if step.type != "language":
                    assert all(s.attrib["language"] == voice.language for s in says), (step_id, voice.code)
                assert all("{" not in (s.text or "") for s in says), f"unfilled placeholder in {step_id}"
        # Every step's transfer and whisper render too.
    state = CallState(step=flow.start, language=flow.default_language)
    engine.enter(state, flow.start)
    dial = ET.fromstring(engine.handle_input(state, {"Digits": flow.dispatcher_key or "0"}).response.to_xml())
    assert dial.find("Dial") is not None
    whisper = ET.fromstring(engine.whisper("Test line").to_xml())
    assert "Test line" in "".join(s.text or "" for s in whisper.iter("Say"))


def _base() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load((ROOT / "ivr_flows" / "safe_schools.yaml").read_text())


def _error(doc: dict) -> str:  # type: ignore[type-arg]
    with pytest.raises(FlowError) as info:
        parse_flow(yaml.safe_dump(doc), "broken.yaml", SETTINGS.hotline("safe_schools"))
    message = str(info.value)
    assert message.startswith("broken.yaml: ")
    return message


def test_unknown_step_type_is_named() -> None:
    doc = _base()
    doc["steps"]["where"]["type"] = "dance"
    message = _error(doc)
    assert "step 'where'" in message and "unknown step type 'dance'" in message


def test_missing_target_is_named() -> None:
    doc = _base()
    doc["steps"]["who"]["next"] = "nowhere"
    message = _error(doc)
    assert "step 'who'" in message and "missing step 'nowhere'" in message


def test_unreachable_step_is_named() -> None:
    doc = _base()
    doc["steps"]["orphan"] = {"type": "hangup"}
    assert "step 'orphan'" in _error(doc) and "unreachable" in _error(doc)


def test_missing_spanish_prompt_is_named() -> None:
    doc = _base()
    del doc["steps"]["when"]["prompt"]["es"]
    message = _error(doc)
    assert "step 'when'.prompt" in message and "missing prompt for language es" in message


def test_missing_shared_prompt_is_named() -> None:
    doc = _base()
    del doc["prompts"]["goodbye"]
    assert "prompts.goodbye" in _error(doc)


def test_other_mistakes_are_rejected() -> None:
    doc = _base()
    doc["steps"]["topic"]["default"] = "7"
    assert "default '7' is not one of the option keys" in _error(doc)
    doc = _base()
    doc["steps"]["topic"]["options"]["0"] = {"value": "x"}
    assert "dispatcher_key" in _error(doc)
    doc = _base()
    doc["steps"]["tip"]["prompt"]["en"] = "no number here"
    assert "{tip}" in _error(doc)
    doc = _base()
    doc["steps"]["emergency"]["next"] = "operator"
    doc["steps"]["operator"]["next"] = "emergency"
    doc["steps"]["operator"]["type"] = "goto"
    del doc["steps"]["operator"]["prompt"]
    assert "loop" in _error(doc) or "unreachable" in _error(doc)
    doc = _base()
    doc["steps"]["district"]["options_from"] = "county"
    assert "defines no such choices" in _error(doc)
    doc = _base()
    doc["steps"]["who"]["colour"] = "blue"
    assert "'colour'" in _error(doc)
    doc = _base()
    doc["start"] = "nope"
    assert "start step 'nope' does not exist" in _error(doc)
    with pytest.raises(FlowError, match="not valid YAML"):
        parse_flow("steps: [unclosed", "broken.yaml")


def test_flows_check_command(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["flows", "check"])
    assert result.exit_code == 0, result.output
    assert "prea.yaml" in result.output and "safe_schools.yaml" in result.output


def test_flows_check_command_reports_a_broken_file(app: Flask, tmp_path: Path) -> None:
    from hotline import create_app
    from hotline.extensions import runtime

    for path in FLOW_FILES:
        (tmp_path / path.name).write_text(path.read_text())
    broken = _base()
    broken["steps"]["who"]["next"] = "nowhere"
    # A flow no hotline uses yet: the app starts, but the check must still catch it.
    (tmp_path / "drug_tips.yaml").write_text(yaml.safe_dump(broken))
    settings = runtime.get(app).settings.model_copy(update={"flows_dir": str(tmp_path)})
    checked = create_app(settings)
    result = checked.test_cli_runner().invoke(args=["flows", "check"])
    assert result.exit_code == 1
    assert "drug_tips.yaml: step 'who': goes to missing step 'nowhere'" in result.output
    (tmp_path / "safe_schools.yaml").write_text(yaml.safe_dump(broken))
    with pytest.raises(FlowError, match="nowhere"):
        create_app(settings)  # a hotline's own flow broken: the app refuses to start


@pytest.mark.parametrize(
    ("code", "voice", "language", "expected"),
    [
        ("en", "Polly.Joana", "en-US", "'Polly.Joana' is not a known Twilio voice (did you mean 'Polly.Joanna'?)"),
        ("es", "Polly.Lupe", "en-US", "voice 'Polly.Lupe' speaks es-US, not en-US"),
        ("en", "Polly.Joanna", "es-US", "voice 'Polly.Joanna' speaks en-US, not es-US; es-US voices: Polly.Lupe"),
        ("es", "Google.en-US-Neural2-A", "es-US", "speaks en-US, not es-US"),
        ("en", "alice", "en-US", "voice 'alice' is not a known Twilio voice"),
    ],
)
def test_a_voice_twilio_would_refuse_is_named(code: str, voice: str, language: str, expected: str) -> None:
    doc = _base()
    doc["languages"][code] = {**doc["languages"][code], "voice": voice, "language": language}
    message = _error(doc)
    assert message.startswith(f"broken.yaml: languages.{code}: ") and expected in message


@pytest.mark.parametrize(
    ("voice", "language"),
    [("Polly.Joanna-Neural", "en-US"), ("Polly.Mia", "es-MX"), ("Google.es-US-Neural2-B", "es-US")],
)
def test_voices_twilio_speaks_are_accepted(voice: str, language: str) -> None:
    doc = _base()
    doc["languages"]["es"] = {**doc["languages"]["es"], "voice": voice, "language": language}
    parse_flow(yaml.safe_dump(doc), "ok.yaml", SETTINGS.hotline("safe_schools"))


def test_a_hotline_without_dispatchers_may_not_offer_press_0() -> None:
    hotline = SETTINGS.hotline("safe_schools")
    assert hotline is not None
    alone = hotline.model_copy(update={"dispatcher_group": None})
    with pytest.raises(FlowError) as info:
        parse_flow(yaml.safe_dump(_base()), "broken.yaml", alone)
    assert str(info.value).startswith("broken.yaml: dispatcher_key: hotline 'safe_schools' has no dispatcher_group")
    doc = _base()
    doc["dispatcher_key"] = None  # a flow that offers no dispatcher is fine without one
    assert parse_flow(yaml.safe_dump(doc), "ok.yaml", alone).dispatcher_key is None


def test_flows_check_and_start_up_refuse_a_misspelt_voice(app: Flask, tmp_path: Path) -> None:
    from hotline import create_app
    from hotline.extensions import runtime

    for path in FLOW_FILES:
        (tmp_path / path.name).write_text(path.read_text())
    flow = _base()
    flow["languages"]["en"]["voice"] = "Polly.Joana"
    (tmp_path / "crime_tips.yaml").write_text(yaml.safe_dump(flow, allow_unicode=True))
    settings = runtime.get(app).settings.model_copy(update={"flows_dir": str(tmp_path)})
    result = create_app(settings).test_cli_runner().invoke(args=["flows", "check"])
    assert result.exit_code == 1
    assert "crime_tips.yaml: languages.en: voice 'Polly.Joana' is not a known Twilio voice" in result.output
    (tmp_path / "safe_schools.yaml").write_text(yaml.safe_dump(flow, allow_unicode=True))
    with pytest.raises(FlowError, match=r"Polly\.Joana"):
        create_app(settings)


def test_flows_check_and_start_up_refuse_press_0_without_dispatchers(app: Flask, tmp_path: Path) -> None:
    from hotline import create_app
    from hotline.extensions import runtime

    for path in FLOW_FILES:
        (tmp_path / path.name).write_text(path.read_text())
    base = runtime.get(app).settings
    hotlines = [h.model_copy(update={"dispatcher_group": None}) if h.id == "prea" else h for h in base.hotlines]
    settings = base.model_copy(update={"flows_dir": str(tmp_path), "hotlines": hotlines})
    errors = check_all(tmp_path, hotlines)
    assert len(errors) == 1 and errors[0].startswith(f"hotline prea: {tmp_path / 'prea.yaml'}: dispatcher_key: ")
    assert "hotline 'prea' has no dispatcher_group" in errors[0]
    with pytest.raises(FlowError, match="hotline 'prea' has no dispatcher_group"):
        create_app(settings)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d["steps"]["who"].pop("key"), "broken.yaml: step 'who': a record step needs key"),
        (lambda d: d["steps"]["who"].update(key="Who"), "broken.yaml: step 'who'.key: answer key 'Who' must be"),
        (lambda d: d["steps"].update({"Bad-Id": {"type": "hangup"}}), "broken.yaml: step 'Bad-Id': step ids are"),
        (lambda d: d["steps"].update(where="hello"), "broken.yaml: step 'where': a step must be a mapping with a type"),
        (lambda d: d["steps"]["pin"].update(min_digits="four"), "broken.yaml: step 'pin'.min_digits: must be a whole"),
        (lambda d: d["steps"]["who"].update(next=None), "broken.yaml: step 'who'.next: must be text"),
        (lambda d: d["steps"]["topic"]["options"].update({"12": "x"}), "step 'topic'.options.12: '12' is not a single"),
        (lambda d: d["steps"]["topic"]["options"].update({"7": {"colour": "y"}}), "options.7: unknown field 'colour'"),
        (lambda d: d["steps"]["topic"].update(options={}), "broken.yaml: step 'topic'.options: must not be empty"),
        (lambda d: d["steps"]["district"].pop("option_prompt"), "step 'district': a menu built from choices needs"),
        (lambda d: d["steps"]["welcome"]["options"].update({"3": "fr"}), "option 3 picks unknown language 'fr'"),
        (lambda d: d["languages"]["en"].pop("voice"), "broken.yaml: languages.en.voice: is missing"),
        (lambda d: d.update(dispatcher_key="00"), "broken.yaml: dispatcher_key: '00' is not a single keypad key"),
        (lambda d: d.update(colour="blue"), "broken.yaml: document: unknown top-level field 'colour'"),
        (lambda d: d.pop("id"), "broken.yaml: document: missing 'id'"),
    ],
)
def test_each_mistake_names_the_file_step_and_field(change: Any, expected: str) -> None:
    doc = _base()
    change(doc)
    assert expected in _error(doc)


def test_every_mistake_of_the_file_is_named_at_once() -> None:
    doc = _base()
    doc["steps"]["who"]["colour"] = "blue"
    del doc["steps"]["when"]["prompt"]["es"]
    doc["languages"] = "en"
    lines = _error(doc).splitlines()
    assert all(line.startswith("broken.yaml: ") for line in lines)
    assert {line.removeprefix("broken.yaml: ") for line in lines} == {
        "languages: must be a mapping",
        "step 'who': field 'colour' is not allowed in a record step",
    }  # without languages, no prompt can be missing one: the cascade is not reported
    doc["languages"] = _base()["languages"]
    assert "step 'when'.prompt: missing prompt for language es" in _error(doc).splitlines()[0]


@pytest.mark.parametrize("path", FLOW_FILES, ids=lambda p: p.name)
def test_a_flow_loads_the_same_with_and_without_its_hotline_apart_from_choices(path: Path) -> None:
    hotline = next(h for h in SETTINGS.hotlines if h.flow == path.name)
    alone, bound = load_flow(path), load_flow(path, hotline)
    assert alone.steps.keys() == bound.steps.keys() and alone.prompts == bound.prompts
    for step_id, step in bound.steps.items():
        assert [o for o in step.options if not o.named] == list(alone.steps[step_id].options)
