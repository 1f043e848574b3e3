"""Phone-quality audio for simulated recordings: 8 kHz, mono, 16-bit PCM WAV bytes.

Everything happens in memory. A caller's WAV file is read and converted without writing a
copy anywhere; espeak-ng writes its speech to a pipe, so no temporary file exists at all.
"""

from __future__ import annotations

import io
import logging
import shutil
import struct
import subprocess
import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt

log = logging.getLogger(__name__)

RATE = 8000
Samples = npt.NDArray[np.float64]

# WAVE format tags: the ones a phone or an editor plausibly produces.
_PCM, _FLOAT, _ALAW, _MULAW, _EXTENSIBLE = 0x0001, 0x0003, 0x0006, 0x0007, 0xFFFE


class AudioError(ValueError):
    """Audio this module cannot read."""


def _chunks(data: bytes) -> tuple[bytes, bytes]:
    """Return the fmt and data chunks of a RIFF/WAVE file."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise AudioError("not a RIFF/WAVE file")
    fmt: bytes | None = None
    pos = 12
    while pos + 8 <= len(data):
        chunk_id, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        body = data[pos + 8 : pos + 8 + size]
        if chunk_id == b"fmt ":
            fmt = body
        elif chunk_id == b"data":
            if fmt is None:
                raise AudioError("data chunk before fmt chunk")
            # A WAV streamed to a pipe (espeak-ng --stdout) cannot fix its sizes afterwards and
            # claims ~4 GB; slicing keeps what is really there.
            return fmt, body
        pos += 8 + size + (size & 1)
    raise AudioError("no fmt or data chunk")


def _mulaw(raw: npt.NDArray[np.uint8]) -> Samples:
    u = ~raw.astype(np.int32) & 0xFF
    sign, exponent, mantissa = u & 0x80, (u >> 4) & 0x07, u & 0x0F
    magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return np.where(sign != 0, -magnitude, magnitude).astype(np.float64) / 32768.0


def _alaw(raw: npt.NDArray[np.uint8]) -> Samples:
    a = raw.astype(np.int32) ^ 0x55
    sign, exponent, mantissa = a & 0x80, (a >> 4) & 0x07, a & 0x0F
    magnitude = np.where(exponent == 0, (mantissa << 4) + 8, ((mantissa << 4) + 0x108) << np.maximum(exponent - 1, 0))
    return np.where(sign != 0, magnitude, -magnitude).astype(np.float64) / 32768.0


def decode(data: bytes) -> tuple[Samples, int]:
    """Decode WAV bytes to mono float samples in [-1, 1] and their sample rate."""
    fmt, body = _chunks(data)
    if len(fmt) < 16:
        raise AudioError("fmt chunk too short")
    tag, channels, rate, _, block_align, bits = struct.unpack("<HHIIHH", fmt[:16])
    if tag == _EXTENSIBLE and len(fmt) >= 26:
        tag = struct.unpack("<H", fmt[24:26])[0]
    if channels < 1 or rate < 1 or block_align < 1:
        raise AudioError("invalid fmt chunk")
    width = block_align // channels
    body = body[: len(body) - len(body) % block_align]
    raw = np.frombuffer(body, dtype=np.uint8)
    samples: Samples
    if tag == _PCM and width == 1:
        samples = (raw.astype(np.float64) - 128.0) / 128.0
    elif tag == _PCM and width in (2, 3, 4):
        # Widen every sample to 32 bits, little-endian, left-aligned, so one path reads them all.
        frames = raw.reshape(-1, width)
        padded = np.zeros((frames.shape[0], 4), dtype=np.uint8)
        padded[:, 4 - width :] = frames
        samples = padded.view("<i4").reshape(-1).astype(np.float64) / 2147483648.0
    elif tag == _FLOAT and width in (4, 8):
        samples = np.frombuffer(body, dtype="<f4" if width == 4 else "<f8").astype(np.float64)
    elif tag == _MULAW and width == 1:
        samples = _mulaw(raw)
    elif tag == _ALAW and width == 1:
        samples = _alaw(raw)
    else:
        raise AudioError(f"unsupported WAV encoding (format {tag:#06x}, {bits} bits)")
    mono = samples.reshape(-1, channels).mean(axis=1)
    return np.clip(mono, -1.0, 1.0), int(rate)


def _lowpass(samples: Samples, cutoff: float) -> Samples:
    """Windowed-sinc low-pass; `cutoff` is a fraction of the sample rate."""
    taps = 101
    n = np.arange(taps) - (taps - 1) / 2
    kernel = 2 * cutoff * np.sinc(2 * cutoff * n) * np.hamming(taps)
    kernel /= kernel.sum()
    return np.convolve(samples, kernel, mode="same")


def resample(samples: Samples, rate: int, target: int = RATE) -> Samples:
    """Resample mono samples to `target` Hz (filtering first when going down, to avoid aliasing)."""
    if rate == target or samples.size == 0:
        return samples
    if rate > target:
        # Keep a margin under the new Nyquist frequency (target/2).
        samples = _lowpass(samples, 0.45 * target / rate)
    count = max(1, round(samples.size * target / rate))
    positions = np.arange(count) * (rate / target)
    resampled: Samples = np.interp(positions, np.arange(samples.size), samples)
    return resampled


def encode(samples: Samples, rate: int = RATE) -> bytes:
    """Encode mono float samples as 16-bit PCM WAV bytes."""
    pcm = (np.clip(samples, -1.0, 1.0) * 32767.0).round().astype("<i2")
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return out.getvalue()


def to_phone(data: bytes) -> bytes:
    """Convert any readable WAV to 8 kHz mono 16-bit PCM."""
    samples, rate = decode(data)
    return encode(resample(samples, rate))


def from_wav_file(path: str | Path) -> bytes:
    """Read a WAV file into phone audio (in memory: nothing is written)."""
    return to_phone(Path(path).read_bytes())


def tone(seconds: float = 1.5, frequency: float = 440.0) -> bytes:
    """A sine tone with soft edges, so a recording is never empty even without a speech engine."""
    t = np.arange(int(RATE * seconds)) / RATE
    envelope = np.minimum(1.0, np.minimum(t, seconds - t) / 0.05)
    return encode(0.5 * envelope * np.sin(2 * np.pi * frequency * t))


def espeak_voice(language: str | None) -> str:
    """Map a TwiML language (en-US, es-US, ...) to an espeak-ng voice name."""
    code = (language or "en-US").lower()
    if code.startswith("en"):
        return "en-us" if code in ("en-us", "en") else code
    # espeak-ng has no es-us; its Latin American Spanish is es-419, others by base language.
    if code.startswith("es") and code != "es-es":
        return "es-419"
    return code.split("-")[0]


def speech(text: str, language: str | None = None) -> bytes | None:
    """Synthesise `text` with espeak-ng as phone audio; None when espeak-ng is unavailable or fails."""
    binary = shutil.which("espeak-ng")
    if binary is None:
        return None
    for voice in (espeak_voice(language), None):
        command = [binary, "--stdout"] + (["-v", voice] if voice else [])
        try:
            # The text goes through stdin, so nothing in it can be taken for a command-line option.
            done = subprocess.run(command, input=text.encode(), capture_output=True, timeout=60, check=False)
        except (OSError, subprocess.SubprocessError) as exc:
            log.warning("espeak-ng failed: %s", exc)
            return None
        if done.returncode == 0 and done.stdout:
            try:
                return to_phone(done.stdout)
            except AudioError as exc:
                log.warning("espeak-ng produced unreadable audio: %s", exc)
                return None
    return None


def phone_audio(text: str | None = None, wav: str | Path | None = None, language: str | None = None) -> bytes:
    """Produce the audio a caller records: a WAV file, else synthesised speech, else a tone."""
    if wav is not None:
        return from_wav_file(wav)
    if text:
        spoken = speech(text, language)
        if spoken is not None:
            return spoken
    return tone()


def duration(data: bytes) -> float:
    """Length of WAV audio in seconds."""
    with wave.open(io.BytesIO(data), "rb") as w:
        return w.getnframes() / float(w.getframerate())


def truncate(data: bytes, seconds: float) -> bytes:
    """Cut phone audio to at most `seconds` (Twilio stops recording at maxLength)."""
    samples, rate = decode(data)
    return encode(samples[: int(seconds * rate)], rate)
