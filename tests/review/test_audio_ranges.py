"""Range requests werkzeug answers for the audio endpoint, beyond one plain byte range."""

from __future__ import annotations

from flask import Flask

from tests.pipeline.conftest import UTTERANCES
from tests.review.conftest import Browser, audit_entries, first_audio_url


def test_ranges_we_may_ignore_get_the_whole_file_and_past_the_end_is_416(
    rapp: Flask, report_id: int, ann: Browser
) -> None:
    audio = (UTTERANCES / "u01.wav").read_bytes()
    url, sid = first_audio_url(rapp, report_id)
    # Several ranges, another unit, a malformed header: RFC 9110 lets us send it all.
    for header in ("bytes=0-9,20-29", "items=0-9", "bytes=nonsense"):
        got = ann.get(url, headers={"Range": header})
        assert got.status_code == 200 and got.data == audio, header
        assert got.headers["Accept-Ranges"] == "bytes" and got.headers["Cache-Control"] == "no-store"
    # A range ending past the end is cut to the end; one starting past it cannot be met.
    end = ann.get(url, headers={"Range": f"bytes=10-{len(audio) + 100}"})
    assert end.status_code == 206 and end.data == audio[10:]
    assert end.headers["Content-Range"] == f"bytes 10-{len(audio) - 1}/{len(audio)}"
    assert end.headers["Content-Length"] == str(len(audio) - 10)
    # A suffix longer than the file is all of it (RFC 9110): sent whole.
    longer = ann.get(url, headers={"Range": f"bytes=-{len(audio) + 100}"})
    assert longer.status_code in (200, 206) and longer.data == audio
    beyond = ann.get(url, headers={"Range": f"bytes={len(audio)}-"})
    assert beyond.status_code == 416 and beyond.headers["Content-Range"] == f"bytes */{len(audio)}"
    assert beyond.headers["Cache-Control"] == "no-store" and audio[:4] not in beyond.data
    # However many requests and whatever they asked for: one playback in the audit log.
    assert [p.target_id for p in audit_entries(rapp, "recording.play")] == [sid]


def test_a_download_past_the_end_is_still_audited(rapp: Flask, report_id: int, ann: Browser) -> None:
    url, _ = first_audio_url(rapp, report_id)
    got = ann.get(url + "?download=1", headers={"Range": "bytes=999999999-"})
    assert got.status_code == 416
    assert len(audit_entries(rapp, "recording.download")) == 1
