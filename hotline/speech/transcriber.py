"""Offline speech-to-text with pocketsphinx's bundled US English model.

No audio leaves the machine and nothing is downloaded at run time. Accuracy on phone audio
is modest (see bench/transcription.py and bench/README.md), so transcripts help a call-taker
triage; they never replace listening to the recording.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from pocketsphinx import Decoder

from hotline.speech.audio import DEFAULT_MAX_SECONDS, TARGET_RATE, Audio, Samples, load_wav

SUPPORTED_LANGUAGES = frozenset({"en"})
# pocketsphinx reports times in 10 ms feature frames.
FRAMES_PER_SECOND = 100
# Longer utterances cost memory in the search and drift in cepstral normalisation, so long
# recordings are cut into pieces of at most this length, at their quietest moment.
MAX_CHUNK_SECONDS = 30.0
# The window, before a chunk's hard end, in which to look for that quiet moment.
SPLIT_SEARCH_SECONDS = 5.0
# Standard deviation (in int16 units, about -56 dBFS) of the noise laid above a
# narrow-band recording's Nyquist frequency: see fill_empty_band.
DEFAULT_NOISE_FILL = 50.0


@dataclass(frozen=True)
class Word:
    """One recognised word and where it lies in the recording."""

    text: str
    start: float
    end: float


@dataclass(frozen=True)
class Transcript:
    """What the recogniser heard, and what it cost."""

    text: str
    words: tuple[Word, ...]
    audio_seconds: float
    cpu_seconds: float
    language: str
    unsupported_language: bool = False

    @property
    def real_time_factor(self) -> float:
        """Return CPU seconds spent per second of audio (below 1 is faster than real time)."""
        return self.cpu_seconds / self.audio_seconds if self.audio_seconds else 0.0


def base_language(language: str) -> str:
    """Return the primary subtag of a language tag: "en-US" -> "en"."""
    return language.strip().replace("_", "-").split("-", 1)[0].lower()


class Transcriber:
    """A loaded pocketsphinx decoder, to be created once per process and reused."""

    def __init__(
        self,
        *,
        max_seconds: float = DEFAULT_MAX_SECONDS,
        noise_fill: float = DEFAULT_NOISE_FILL,
        chunk_seconds: float = MAX_CHUNK_SECONDS,
        **decoder_options: Any,
    ) -> None:
        """Load the bundled en-US model (a fraction of a second, but keep the instance)."""
        options: dict[str, Any] = {"samprate": TARGET_RATE, "loglevel": "FATAL"}
        options.update(decoder_options)
        self.max_seconds = max_seconds
        self.noise_fill = noise_fill
        self.chunk_seconds = chunk_seconds
        self._decoder = Decoder(**options)
        # A decoder holds one utterance's search state: concurrent calls would corrupt it.
        self._lock = threading.Lock()

    def transcribe(self, wav_bytes: bytes, *, language: str = "en") -> Transcript:
        """Transcribe a WAV recording; raise InvalidAudio when it is not one."""
        started = time.thread_time()
        # Validate even when the language is unsupported, so garbage fails the same way.
        audio = load_wav(wav_bytes, max_seconds=self.max_seconds)
        lang = base_language(language)
        if lang not in SUPPORTED_LANGUAGES:
            return Transcript(
                text="",
                words=(),
                audio_seconds=audio.seconds,
                cpu_seconds=time.thread_time() - started,
                language=lang,
                unsupported_language=True,
            )
        words = self._decode(audio)
        return Transcript(
            text=" ".join(w.text for w in words),
            words=tuple(words),
            audio_seconds=audio.seconds,
            # thread_time, not process_time: other threads (a web server, another job) must
            # not be billed to this transcription.
            cpu_seconds=time.thread_time() - started,
            language=lang,
        )

    def _decode(self, audio: Audio) -> list[Word]:
        """Run the decoder over each chunk of the audio and collect its words."""
        samples = audio.samples
        if self.noise_fill and audio.source_rate < TARGET_RATE:
            samples = fill_empty_band(samples, audio.source_rate / 2, self.noise_fill)
        words: list[Word] = []
        with self._lock:
            for offset, chunk in split_chunks(samples, max_seconds=self.chunk_seconds):
                # The feature front end keeps noise estimates from the previous utterance;
                # without this reset a clip's transcript depends on what was decoded before.
                self._decoder.reinit_feat()
                self._decoder.start_utt()
                self._decoder.process_raw(chunk.astype("<i2", copy=False).tobytes(), full_utt=True)
                self._decoder.end_utt()
                shift = offset / TARGET_RATE
                for seg in self._decoder.seg():
                    text = _clean_word(seg.word)
                    if text:
                        words.append(
                            Word(
                                text=text,
                                start=shift + seg.start_frame / FRAMES_PER_SECOND,
                                # end_frame is inclusive.
                                end=shift + (seg.end_frame + 1) / FRAMES_PER_SECOND,
                            )
                        )
        return words


def _clean_word(word: str) -> str:
    """Drop fillers (<s>, <sil>, [NOISE]) and alternate-pronunciation marks (word(2))."""
    if word.startswith(("<", "[")):
        return ""
    return word.split("(", 1)[0]


def fill_empty_band(samples: Samples, cutoff_hz: float, level: float) -> Samples:
    """Add faint noise above cutoff_hz, where upsampled phone audio has no energy at all.

    The bundled model's filter bank reaches 6.8 kHz: on 8 kHz audio its top filters see
    digital silence, whose log energies are far below anything in its training data. Faint
    noise there cut the word error rate on the phone-channel test clips from about 0.45 to
    about 0.31 (bench/transcription.py --noise-fill 0 compares). The seed is fixed so a
    recording always gives the same transcript.
    """
    rng = np.random.default_rng(0)
    spectrum = np.fft.rfft(rng.standard_normal(len(samples)).astype(np.float32) * level)
    spectrum[np.fft.rfftfreq(len(samples), 1 / TARGET_RATE) < cutoff_hz] = 0
    noisy = samples.astype(np.float32) + np.fft.irfft(spectrum, len(samples))
    return np.clip(np.rint(noisy), -32768, 32767).astype(np.int16)


def split_chunks(
    samples: Samples, rate: int = TARGET_RATE, max_seconds: float = MAX_CHUNK_SECONDS
) -> list[tuple[int, Samples]]:
    """Cut audio into pieces of at most max_seconds, each at the quietest 10 ms nearby."""
    limit = int(max_seconds * rate)
    search = min(int(SPLIT_SEARCH_SECONDS * rate), limit // 2)
    frame = rate // FRAMES_PER_SECOND
    chunks: list[tuple[int, Samples]] = []
    start = 0
    while len(samples) - start > limit:
        window = samples[start + limit - search : start + limit].astype(np.float32)
        energy = (window[: len(window) // frame * frame].reshape(-1, frame) ** 2).sum(axis=1)
        cut = start + limit - search + int(np.argmin(energy)) * frame
        chunks.append((start, samples[start:cut]))
        start = cut
    chunks.append((start, samples[start:]))
    return chunks


def word_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """Return (substitutions + deletions + insertions, reference word count)."""
    ref = reference.lower().split()
    hyp = hypothesis.lower().split()
    # Levenshtein distance over words, one row at a time.
    row = list(range(len(hyp) + 1))
    for i, ref_word in enumerate(ref, 1):
        previous, row = row, [i] + [0] * len(hyp)
        for j, hyp_word in enumerate(hyp, 1):
            row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (ref_word != hyp_word))
    return row[-1], len(ref)
