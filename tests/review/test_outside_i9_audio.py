"""Outside attack on issue 9's werkzeug Range handling for recordings: odd ranges and
conditional headers never give a 500, a 304/412 (which would skip or hide content), a cached
copy, or an unaudited playback."""

from __future__ import annotations

from flask import Flask

from tests.pipeline.conftest import UTTERANCES
from tests.review.conftest import Browser, Login, audit_entries, first_audio_url

HEADERS = [
    {"Range": "bytes=-0"},
    {"Range": "bytes=0-0"},
    {"Range": "bytes=1-0"},
    {"Range": "bytes= 0-1"},
    {"Range": "bytes=-"},
    {"Range": "bytes=0-1,"},
    {"Range": "bytes=0-99999999999999999999999999999"},
    {"Range": "bytes=-99999999999999999999999999999"},
    {"Range": "bytes=99999999999999999999999999999-"},
    {"Range": "BYTES=0-9"},
    {"Range": "bytes=0-9", "If-Range": "garbage"},
    {"Range": "bytes=0-9", "If-Range": '"etag"'},
    {"Range": "bytes=0-9", "If-Range": "Wed, 21 Oct 2099 07:28:00 GMT"},
    {"If-None-Match": "*"},
    {"If-None-Match": '"x", W/"y"'},
    {"If-Match": '"nope"'},
    {"If-Match": "*"},
    {"If-Modified-Since": "Wed, 21 Oct 2099 07:28:00 GMT"},
    {"If-Unmodified-Since": "Wed, 21 Oct 1970 07:28:00 GMT"},
    {"Range": "bytes=0-9", "If-None-Match": "*"},
]


def test_odd_ranges_and_conditional_headers(rapp: Flask, report_id: int, ann: Browser) -> None:
    audio = (UTTERANCES / "u01.wav").read_bytes()
    url, sid = first_audio_url(rapp, report_id)
    for headers in HEADERS:
        for method in ("GET", "HEAD"):
            got = ann.client.open(url, method=method, headers=headers)
            assert got.status_code in (200, 206, 416), (method, headers, got.status_code)
            assert got.headers["Cache-Control"] == "no-store", headers
            if method == "GET" and got.status_code == 200:
                assert got.data == audio, headers
            if method == "GET" and got.status_code == 206:
                assert got.data and audio.find(got.data) >= 0, headers
    assert [p.target_id for p in audit_entries(rapp, "recording.play")] == [sid]


def test_each_download_is_audited_whatever_its_conditional_headers(rapp: Flask, report_id: int, ann: Browser) -> None:
    url, _sid = first_audio_url(rapp, report_id)
    for headers in HEADERS:
        got = ann.get(url + "?download=1", headers=headers)
        assert got.status_code in (200, 206, 416), (headers, got.status_code)
        assert got.headers["Content-Disposition"].startswith("attachment"), headers
    assert len(audit_entries(rapp, "recording.download")) == len(HEADERS)


def test_another_agencys_recording_is_a_404_whatever_the_range(rapp: Flask, report_id: int, login: Login) -> None:
    zed = login("zed@southcounty.example.org", "investigator", ("south_county_sd",))
    url, _sid = first_audio_url(rapp, report_id)
    for headers in ({"Range": "bytes=0-9"}, {"If-None-Match": "*"}, {"Range": "bytes=99999999-"}):
        got = zed.get(url, headers=headers)
        assert got.status_code == 404 and b"RIFF" not in got.data, headers
    assert not audit_entries(rapp, "recording.play")
    assert len(audit_entries(rapp, "report.denied")) == 3


def test_a_made_up_recording_sid_longer_than_the_audit_column_is_an_audited_404(
    rapp: Flask, report_id: int, ann: Browser
) -> None:
    # The audit entry's target_id holds 128 characters (PostgreSQL enforces it).
    for made_up in ("RE" + "f" * 300, "x" * 2000):
        got = ann.get(f"/reports/{report_id}/recordings/{made_up}/audio")
        assert got.status_code == 404, got.status_code
    denied = audit_entries(rapp, "report.denied")
    assert len(denied) == 2 and all(e.target_id is not None and len(e.target_id) <= 128 for e in denied)
