"""Phone audio conversion and the caller strategies' rules."""

from __future__ import annotations

import io
import shutil
import struct
import wave
from pathlib import Path

import numpy as np
import pytest

from hotline.simulator import audio
from hotline.simulator.callers import HANGUP, Answer, InteractiveCaller, ScriptedCaller, parse_keys, parse_say
from hotline.simulator.twiml import Gather, Record

MENU = Gather(num_digits=1, finish_on_key="")
RECORD = Record()


def params(data: bytes) -> tuple[int, int, int, int]:
    with wave.open(io.BytesIO(data)) as w:
        return w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getnframes()


def raw_wav(tag: int, channels: int, rate: int, width: int, frames: bytes, data_size: int | None = None) -> bytes:
    """A WAV built by hand, for encodings the wave module cannot write."""
    fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * channels * width, channels * width, width * 8)
    size = len(frames) if data_size is None else data_size
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", size) + frames
    return b"RIFF" + struct.pack("<I", len(body)) + body


def test_tone_is_phone_audio() -> None:
    assert params(audio.tone()) == (8000, 1, 2, 12000)
    assert audio.duration(audio.tone(2.0)) == 2.0


def test_resampling_keeps_the_tone_and_filters_aliases() -> None:
    t = np.arange(48000) / 48000
    low, high = np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 6000 * t)
    for signal, expect_loud in ((low, True), (high, False)):
        out = audio.resample(signal, 48000)
        assert out.size == 8000
        rms = float(np.sqrt(np.mean(out[200:-200] ** 2)))
        # 440 Hz passes (RMS of a unit sine is 0.707); 6 kHz is above 4 kHz and must not alias through.
        assert (rms > 0.6) if expect_loud else (rms < 0.05), rms


def test_float_24bit_and_mulaw_wavs_are_read() -> None:
    samples = (np.sin(np.linspace(0, 20, 1600)) * 0.5).astype("<f4")
    converted = audio.to_phone(raw_wav(3, 1, 16000, 4, samples.tobytes()))
    assert params(converted)[:3] == (8000, 1, 2) and abs(params(converted)[3] - 800) <= 1

    pcm24 = b"".join(int(v * 2**23).to_bytes(3, "little", signed=True) for v in samples[:100])
    decoded, rate = audio.decode(raw_wav(1, 1, 8000, 3, pcm24))
    assert rate == 8000 and np.allclose(decoded, samples[:100], atol=1e-5)

    # mu-law 0xFF is silence, 0x80 the loudest positive sample.
    decoded, _ = audio.decode(raw_wav(7, 1, 8000, 1, bytes([0xFF, 0x80, 0x00])))
    assert decoded[0] == 0 and decoded[1] > 0.9 and decoded[2] < -0.9


def test_streamed_wav_with_bogus_sizes_is_read() -> None:
    """espeak-ng --stdout cannot seek back: its header claims a huge data chunk."""
    frames = (np.zeros(2205, dtype="<i2")).tobytes()
    decoded, rate = audio.decode(raw_wav(1, 1, 22050, 2, frames, data_size=0xFFFFFFFF))
    assert rate == 22050 and decoded.size == 2205


def test_not_a_wav() -> None:
    with pytest.raises(audio.AudioError):
        audio.to_phone(b"ID3 this is an mp3")


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
def test_speech_with_espeak() -> None:
    spoken = audio.speech("there is a fight in the cafeteria", "en-US")
    assert spoken is not None
    rate, channels, width, frames = params(spoken)
    assert (rate, channels, width) == (8000, 1, 2) and frames > 8000


def test_without_espeak_a_tone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert audio.phone_audio("hello") == audio.tone()


def test_espeak_voices() -> None:
    assert audio.espeak_voice("en-US") == "en-us"
    assert audio.espeak_voice("es-US") == "es-419"
    assert audio.espeak_voice("fr-FR") == "fr"


def test_parse_keys() -> None:
    assert parse_keys("1,1, 2 9 #") == ["1", "1", "2", "9", "#"]
    assert parse_keys("") == []
    assert parse_keys(["1", "-", "hangup", "12#"]) == ["1", "-", "hangup", "12#"]
    with pytest.raises(ValueError, match="not keys"):
        parse_keys("1,a")


def test_parse_say(tmp_path: Path) -> None:
    wav = tmp_path / "a.wav"
    wav.write_bytes(audio.tone(0.1))
    assert parse_say("#") == "#" and parse_say("0") == "0"
    assert parse_say("a fight") == Answer("a fight")
    assert parse_say("0:a fight") == Answer("a fight", finish="0")
    assert parse_say("hangup:bye") == Answer("bye", finish=HANGUP)
    assert parse_say(str(wav)) == Answer(wav=wav)
    assert parse_say(wav) == Answer(wav=wav)
    assert parse_say(str(tmp_path / "missing.wav")) == Answer(str(tmp_path / "missing.wav"))


def test_scripted_caller_rules() -> None:
    caller = ScriptedCaller(keys="1,-,2", says=["first answer", "#", "0", "0:last"])

    assert caller.press(MENU, question=False) == "1"
    # A question with an answer: silence in its Gather, then the Record takes the answer.
    assert caller.press(MENU, question=True) is None
    assert caller.speak(RECORD) == Answer("first answer")
    assert caller.press(MENU, question=True) == "#"
    assert caller.press(MENU, question=False) is None  # "-"
    assert caller.press(MENU, question=True) == "0"
    assert caller.press(MENU, question=True) is None
    assert caller.speak(RECORD) == Answer("last", finish="0")
    assert caller.press(MENU, question=False) == "2"
    # Keys exhausted: silence; says exhausted: questions skipped, bare Records empty.
    assert caller.press(MENU, question=False) is None
    assert caller.press(MENU, question=True) == "#"
    assert caller.speak(RECORD) is None
    assert caller.answers_transfer("+1") and caller.dispatcher_press(MENU) == "1"
    assert not ScriptedCaller(dispatcher_answers=False).answers_transfer("+1")


def test_interactive_caller() -> None:
    lines = iter(["", "12", "hello?", "2", "a man with a gun", "n", "y", "1"])
    printed: list[str] = []

    def ask(prompt: str) -> str:
        return next(lines)

    caller = InteractiveCaller(input_fn=ask, output_fn=printed.append)
    caller.hear("[Say en-US] Welcome")
    assert printed == ["[Say en-US] Welcome"]
    assert caller.press(MENU, question=False) is None
    assert caller.press(MENU, question=False) == "12"
    assert caller.press(MENU, question=False) == "2"  # "hello?" is not keys: asked again
    assert "keys are" in printed[-1]
    assert caller.press(MENU, question=True) is None
    assert caller.speak(RECORD) == Answer("a man with a gun")
    assert caller.answers_transfer("+1") is False
    assert caller.answers_transfer("+1") is True
    assert caller.dispatcher_press(MENU) == "1"


def test_interactive_end_of_input_hangs_up() -> None:
    def eof(prompt: str) -> str:
        raise EOFError

    caller = InteractiveCaller(input_fn=eof, output_fn=lambda line: None)
    assert caller.press(MENU, question=False) == HANGUP
    assert caller.speak(RECORD) == Answer(finish=HANGUP)
