"""The engine's transfer waves, on a clock the test moves: which phones ring, and for how long."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from hotline.flows.engine import CallState, Context, Engine
from hotline.flows.loader import load_flow
from hotline.flows.twiml import Timing, Transfer, Urls

ROOT = Path(__file__).resolve().parents[2]
NUMBERS = tuple(f"+1314555{n:04d}" for n in range(23))


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _engine(clock: Clock, numbers: tuple[str, ...] = NUMBERS, max_wait: int = 45) -> Engine:
    flow = load_flow(ROOT / "ivr_flows" / "safe_schools.yaml")
    transfer = Transfer("+13140000000", numbers, 20, max_wait)
    return Engine(Context(flow, Urls("https://h.test", "x"), Timing(), transfer, reprompts=2, clock=clock))


def _dial(xml: str) -> tuple[list[str], int, list[str]]:
    dial = ET.fromstring(xml).find("Dial")
    assert dial is not None
    numbers = list(dial.iter("Number"))
    return [n.text or "" for n in numbers], int(dial.attrib["timeout"]), [n.attrib["url"] for n in numbers]


def _ringing(engine: Engine) -> tuple[CallState, str]:
    state = CallState(step="welcome", language="en")
    engine.enter(state, "topic")
    return state, engine.handle_input(state, {"Digits": "0"}).response.to_xml()


def test_waves_of_ten_each_for_the_time_left() -> None:
    clock = Clock()
    engine = _engine(clock)
    state, xml = _ringing(engine)
    numbers, timeout, urls = _dial(xml)
    assert numbers == list(NUMBERS[:10]) and timeout == 20
    assert urls[3] == f"https://h.test/voice/whisper/x/{state.turn}/3"  # its position, never its number
    clock.now += 21
    outcome = engine.handle_dial(state, "no-answer")
    numbers, timeout, _ = _dial(outcome.response.to_xml())
    assert numbers == list(NUMBERS[10:20]) and timeout == 20
    assert [e.kind for e in outcome.effects] == ["transfer_retried"]
    clock.now += 21  # 42 of 45 seconds gone: too little for the last three phones
    outcome = engine.handle_dial(state, "no-answer")
    assert [e.kind for e in outcome.effects] == ["transfer_failed"]
    assert ET.fromstring(outcome.response.to_xml()).find("Dial") is None
    assert not any(name.startswith("dial_") for name in state.flags)


def test_a_phone_that_picked_up_is_not_rung_again_but_the_rest_of_its_wave_is() -> None:
    clock = Clock()
    engine = _engine(clock, NUMBERS[:3])
    state, _ = _ringing(engine)
    clock.now += 10
    outcome = engine.handle_dial(state, "no-answer", picked_up={1})  # its voicemail
    numbers, timeout, _ = _dial(outcome.response.to_xml())
    assert numbers == [NUMBERS[0], NUMBERS[2]] and timeout == 20
    clock.now += 10
    outcome = engine.handle_dial(state, "completed", picked_up={0}, accepted=True)
    assert [e.kind for e in outcome.effects] == ["transfer_completed"]


def test_a_caller_who_hung_up_is_not_rung_for() -> None:
    engine = _engine(Clock(), NUMBERS[:3])
    state, _ = _ringing(engine)
    outcome = engine.handle_dial(state, "no-answer", picked_up={0}, caller_gone=True)
    assert [e.kind for e in outcome.effects] == ["transfer_failed"]
