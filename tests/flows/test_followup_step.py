"""The call-back step (`type: followup`): what the flow checker refuses, and every phase renders."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from hotline.flows.engine import CallState
from hotline.flows.followup import CB_ADDED
from hotline.flows.schema import FOLLOWUP_TEXTS
from hotline.flows.twiml import FOLLOWUP_PHASES
from tests.flows.test_loader import FLOW_FILES, _base, _engine, _error
from tests.voice.driver import assert_no_dead_end


def test_both_flows_offer_the_call_back_after_the_notices_and_before_the_questions() -> None:
    doc = _base()
    assert doc["steps"]["operator"]["next"] == "callback"
    step = doc["steps"]["callback"]
    assert step["type"] == "followup" and step["press"] == "9" and step["next"] == "topic"


@pytest.mark.parametrize("field", FOLLOWUP_TEXTS)
def test_a_missing_spanish_sentence_is_refused(field: str) -> None:
    doc = _base()
    del doc["steps"]["callback"][field]["es"]
    message = _error(doc)
    assert f"step 'callback'.{field}" in message and "missing prompt for language es" in message


def test_a_missing_sentence_is_named() -> None:
    doc = _base()
    del doc["steps"]["callback"]["refused_final"]
    assert "a followup step needs refused_final" in _error(doc)


def test_the_messages_sentence_must_count_them() -> None:
    doc = _base()
    doc["steps"]["callback"]["messages"]["es"] = "Tiene mensajes."
    assert "{count}" in _error(doc)


def test_the_offer_key_cannot_be_the_dispatcher_key() -> None:
    doc = _base()
    doc["steps"]["callback"]["press"] = "0"
    assert "call-back step" in _error(doc)
    doc = _base()
    doc["dispatcher_key"] = "#"
    assert "call-back step" in _error(doc)


def test_other_mistakes_are_refused() -> None:
    doc = _base()
    doc["steps"]["callback"]["press"] = "99"
    assert "not a single keypad key" in _error(doc)
    doc = _base()
    doc["steps"]["callback"]["tries"] = 0
    assert "step 'callback'.tries" in _error(doc)
    doc = _base()
    doc["steps"]["callback"]["next"] = "nowhere"
    assert "missing step 'nowhere'" in _error(doc)
    doc = _base()
    doc["steps"]["callback"]["colour"] = "blue"
    assert "'colour'" in _error(doc)


@pytest.mark.parametrize("path", FLOW_FILES, ids=lambda p: p.name)
def test_every_phase_renders_in_every_language(path: Path) -> None:
    engine = _engine(path)
    flow = engine.flow
    steps = [s for s in flow.steps.values() if s.type == "followup"]
    assert steps
    for step in steps:
        for voice in flow.languages:
            for phase in FOLLOWUP_PHASES:
                state = CallState(step=step.id, language=voice.code, phase=phase, flags={CB_ADDED: "1"})
                root = ET.fromstring(engine.current(state).to_xml())
                assert_no_dead_end(root)
                says = list(root.iter("Say"))
                assert says and all(s.attrib["language"] == voice.language for s in says), (phase, voice.code)
                assert all("{" not in (s.text or "") for s in says)
                if phase == "record":
                    callback = root.find("Record").attrib["recordingStatusCallback"]  # type: ignore[union-attr]
                    assert f"/{step.id}.added_2#" in callback
