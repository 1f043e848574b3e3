"""Word error rate and real-time factor of the offline transcriber on the test utterances.

    .venv/bin/python bench/transcription.py [--noise-fill 50] [--repeat 3]

Pinned to one CPU core: the real-time factor is CPU seconds per audio second on that core,
so below 1.0 means one worker keeps up with one concurrent call's recordings.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Run as a script: the project root (which holds `hotline`, not installed in the venv) is not
# on sys.path yet, and bench/ itself is, where bench/queue.py would shadow the stdlib `queue`.
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from hotline.speech.transcriber import DEFAULT_NOISE_FILL, Transcriber, word_errors  # noqa: E402

UTTERANCES = ROOT / "tests" / "data" / "utterances"


def main() -> None:
    """Transcribe every test clip and print per-clip and overall WER and speed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--noise-fill", type=float, default=DEFAULT_NOISE_FILL, help="0 disables it")
    parser.add_argument("--repeat", type=int, default=3, help="passes over the clips, for timing")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

    started = time.perf_counter()
    transcriber = Transcriber(noise_fill=args.noise_fill)
    print(f"model load: {time.perf_counter() - started:.2f} s wall")

    rows = [line.split("\t") for line in (UTTERANCES / "expected.tsv").read_text().splitlines()[1:]]
    errors = words = 0
    cpu = audio = 0.0
    print(f"{'clip':8} {'WER':>5}  {'RTF':>5}  reference / hypothesis")
    for name, reference in rows:
        data = (UTTERANCES / name).read_bytes()
        runs = [transcriber.transcribe(data) for _ in range(args.repeat)]
        result = runs[0]
        clip_errors, clip_words = word_errors(reference, result.text)
        errors += clip_errors
        words += clip_words
        clip_cpu = sum(r.cpu_seconds for r in runs)
        cpu += clip_cpu
        audio += result.audio_seconds * len(runs)
        rtf = clip_cpu / (result.audio_seconds * len(runs))
        print(f"{name:8} {clip_errors / clip_words:5.2f}  {rtf:5.2f}  {reference}")
        print(f"{'':8} {'':5}  {'':5}  {result.text}")
    print(f"overall WER: {errors / words:.3f} ({errors} errors / {words} words, {len(rows)} clips)")
    print(f"real-time factor: {cpu / audio:.3f} ({cpu:.2f} s CPU for {audio:.2f} s audio, one core)")


if __name__ == "__main__":
    main()
