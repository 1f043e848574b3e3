"""Decode and validate WAV recordings into 16 kHz mono int16 samples for the recogniser.

Everything happens in memory: recordings are sensitive, and the only copy on disk is the
encrypted one in the blob store.
"""

from __future__ import annotations

import io
import wave
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

TARGET_RATE = 16000
MIN_RATE = 8000
MAX_RATE = 48000
MIN_SECONDS = 0.1
DEFAULT_MAX_SECONDS = 15 * 60.0

Samples = npt.NDArray[np.int16]


class InvalidAudio(ValueError):
    """The bytes are not a recording we can transcribe."""


@dataclass(frozen=True)
class Audio:
    """Mono 16-bit samples at TARGET_RATE, plus what the original file looked like."""

    samples: Samples
    source_rate: int
    source_channels: int

    @property
    def sample_rate(self) -> int:
        """Return the rate of `samples` (always TARGET_RATE)."""
        return TARGET_RATE

    @property
    def seconds(self) -> float:
        """Return the duration in seconds."""
        return len(self.samples) / TARGET_RATE

    def pcm_bytes(self) -> bytes:
        """Return the samples as little-endian 16-bit PCM, the layout pocketsphinx reads."""
        return self.samples.astype("<i2", copy=False).tobytes()


@dataclass(frozen=True)
class WavInfo:
    """What a valid WAV holds, read from its header and frames without decoding them."""

    rate: int
    channels: int
    width: int
    frames: int

    @property
    def seconds(self) -> float:
        """Return the duration in seconds."""
        return self.frames / self.rate


def check_wav(data: bytes, *, max_seconds: float = DEFAULT_MAX_SECONDS) -> WavInfo:
    """Validate WAV bytes (format, plausible length) without decoding or resampling them.

    This is what storing a recording needs; transcription then decodes with load_wav.
    """
    info, _raw = _read_pcm(data, max_seconds)
    return info


def load_wav(data: bytes, *, max_seconds: float = DEFAULT_MAX_SECONDS) -> Audio:
    """Validate WAV bytes and return them as 16 kHz mono int16 samples."""
    info, raw = _read_pcm(data, max_seconds)
    samples = _to_mono_int16(raw, info.width, info.channels)
    return Audio(samples=resample(samples, info.rate), source_rate=info.rate, source_channels=info.channels)


def _read_pcm(data: bytes, max_seconds: float) -> tuple[WavInfo, bytes]:
    """Check the container, format and length; return the header facts and the PCM frames."""
    # wave's own errors for non-WAV input are cryptic ("file does not start with RIFF id"
    # only for some inputs, struct errors for others), so check the container first.
    if len(data) < 44 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise InvalidAudio("not a RIFF/WAVE file")
    try:
        with wave.open(io.BytesIO(data), "rb") as reader:
            channels = reader.getnchannels()
            width = reader.getsampwidth()
            rate = reader.getframerate()
            _check_format(channels, width, rate)
            # Read at most one frame more than allowed: the header's frame count can be
            # bogus (streamed WAVs say 0xFFFFFFFF), so it must not size the read.
            limit = int(max_seconds * rate)
            raw = reader.readframes(limit + 1)
    except wave.Error as exc:
        # wave in Python 3.11 only reads WAVE_FORMAT_PCM; mu-law and float files land here.
        raise InvalidAudio(f"unsupported or corrupt WAV: {exc}") from exc
    except EOFError as exc:
        raise InvalidAudio("truncated WAV header") from exc
    frames = len(raw) // (width * channels)
    if frames > limit:
        raise InvalidAudio(f"recording is longer than the {max_seconds:g} s limit")
    if frames < MIN_SECONDS * rate:
        raise InvalidAudio(f"recording is shorter than {MIN_SECONDS:g} s ({frames} frames at {rate} Hz)")
    return WavInfo(rate=rate, channels=channels, width=width, frames=frames), raw[: frames * width * channels]


def _check_format(channels: int, width: int, rate: int) -> None:
    """Reject formats a phone recording never has, naming the offending field."""
    if channels not in (1, 2):
        raise InvalidAudio(f"expected mono or stereo, got {channels} channels")
    if width not in (1, 2):
        raise InvalidAudio(f"expected 8- or 16-bit PCM, got {8 * width}-bit samples")
    if not MIN_RATE <= rate <= MAX_RATE:
        raise InvalidAudio(f"sample rate {rate} Hz is outside {MIN_RATE}-{MAX_RATE} Hz")


def _to_mono_int16(raw: bytes, width: int, channels: int) -> Samples:
    """Convert interleaved PCM frames to mono int16."""
    if width == 1:
        # 8-bit WAV is unsigned with 128 as silence.
        wide = (np.frombuffer(raw, dtype=np.uint8).astype(np.int32) - 128) << 8
    else:
        wide = np.frombuffer(raw, dtype="<i2").astype(np.int32)
    if channels == 2:
        # Twilio's dual-channel recordings put each party on one side: mix them rather than
        # pick one, so neither caller nor call-taker is lost.
        wide = wide.reshape(-1, 2).sum(axis=1) // 2
    return wide.astype(np.int16)


def resample(samples: Samples, rate: int, target: int = TARGET_RATE) -> Samples:
    """Resample mono int16 audio to `target` Hz by band-limited (FFT) interpolation."""
    if rate == target or len(samples) == 0:
        return samples
    n_out = round(len(samples) * target / rate)
    # The FFT treats the signal as periodic: pad with silence so the wrap-around from the
    # last sample back to the first is a jump into silence rather than a click that would
    # ring over the start and end of the clip.
    pad = rate // 20
    padded = np.concatenate([samples.astype(np.float32), np.zeros(pad, dtype=np.float32)])
    spectrum = np.fft.rfft(padded)
    n_padded_out = round(len(padded) * target / rate)
    bins = n_padded_out // 2 + 1
    if bins <= len(spectrum):
        # Downsampling: dropping the bins above the new Nyquist is the anti-alias filter.
        spectrum = spectrum[:bins]
    else:
        # Upsampling: zero bins above the old Nyquist add no images (unlike linear
        # interpolation, which leaks the 4-8 kHz mirror of phone speech into the features).
        spectrum = np.concatenate([spectrum, np.zeros(bins - len(spectrum), dtype=spectrum.dtype)])
    out = np.fft.irfft(spectrum, n_padded_out)[:n_out] * (n_padded_out / len(padded))
    return np.clip(np.rint(out), -32768, 32767).astype(np.int16)
