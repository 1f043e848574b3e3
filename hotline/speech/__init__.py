"""Offline transcription of recordings."""

from hotline.speech.audio import Audio, InvalidAudio, load_wav
from hotline.speech.transcriber import Transcriber, Transcript, Word

__all__ = ["Audio", "InvalidAudio", "Transcriber", "Transcript", "Word", "load_wav"]
