"""Ids too large for the database's integers: every review endpoint answers an audited 404,
like any other miss, and the webhooks carrying a turn number still answer TwiML. Run on
SQLite and on PostgreSQL (DATABASE_URL), as the whole suite is."""

from __future__ import annotations

from flask import Flask

from tests.conftest import SAFE_SCHOOLS, TwilioClient
from tests.review.conftest import Login, add_report, audit_entries
from tests.voice.driver import VoiceCall

HUGE = "99999999999999999999999"
# Just past PostgreSQL's 32-bit INTEGER, still a 64-bit integer for SQLite and psycopg.
PAST_INT4 = str(2**31)


def _routes(report: int, huge: str) -> list[tuple[str, str, dict[str, str], str]]:
    """Every review route with an integer in its path (grep '<int:' hotline/review), with the
    huge number in each integer position in turn, and the audit target it names."""
    base = f"/reports/{huge}"
    return [
        ("GET", base, {}, "report"),
        ("GET", f"{base}/notes/1", {}, "report"),
        ("GET", f"/reports/{report}/notes/{huge}", {}, "note"),
        ("GET", f"{base}/recordings/RE{'a' * 32}/audio", {}, "report"),
        ("POST", f"{base}/acknowledge", {}, "report"),
        ("POST", f"{base}/assign", {"assignee": ""}, "report"),
        ("POST", f"{base}/status", {"status": "closed", "disposition": "prank"}, "report"),
        ("POST", f"{base}/notes", {"note": "x"}, "report"),
        ("POST", f"{base}/links", {"reference": "1"}, "report"),
        ("POST", f"{base}/hold", {"hold": "place"}, "report"),
        ("POST", f"/dispatch/calls/{huge}/notes", {"note": "x"}, "call"),
        ("GET", f"/admin/users/{huge}", {}, "user"),
        ("POST", f"/admin/users/{huge}", {"role": "investigator", "agencies": "riverbend_sd"}, "user"),
        ("POST", f"/admin/users/{huge}/disable", {}, "user"),
        ("POST", f"/admin/users/{huge}/enable", {}, "user"),
        ("POST", f"/admin/users/{huge}/reset-password", {}, "user"),
        ("POST", f"/admin/users/{huge}/reset-totp", {}, "user"),
        ("POST", f"/admin/users/{huge}/unlock", {}, "user"),
    ]


def test_huge_ids_are_audited_404s(rapp: Flask, login: Login) -> None:
    report = add_report(rapp, ["riverbend_sd"])
    root = login("root@riverbend.example.org", "admin", ("riverbend_sd",))
    for huge in (HUGE, PAST_INT4):
        routes = _routes(report, huge)
        before = len(audit_entries(rapp, "report.denied"))
        for method, path, data, _target in routes:
            response = root.get(path) if method == "GET" else root.post(path, data)
            assert response.status_code == 404, (method, path, response.status_code)
            assert b"Traceback" not in response.data
        denied = audit_entries(rapp, "report.denied")[before:]
        assert [(d.target_type, d.target_id, d.detail["reason"], d.detail["path"]) for d in denied] == [
            (target, huge, "missing", path.split("?")[0]) for _, path, _, target in routes
        ]
    # The ordinary pages still work for the same user.
    assert root.get(f"/reports/{report}").status_code == 200
    assert root.get("/admin/users").status_code == 200


def test_anonymous_huge_ids_go_to_sign_in(rapp: Flask) -> None:
    response = rapp.test_client().get(f"/reports/{HUGE}")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert audit_entries(rapp, "report.denied") == []


def test_webhooks_with_a_huge_turn_still_answer_twiml(rapp: Flask) -> None:
    twilio = TwilioClient(rapp.test_client())
    call = VoiceCall(twilio, SAFE_SCHOOLS)
    call.start()
    # Stale turns: the app repeats what it last said, whatever the number.
    for path in (f"/voice/input/{HUGE}", f"/voice/dial/{HUGE}"):
        call.post(path, {"Digits": "1", "DialCallStatus": "completed"})
    leg = {**call.base(), "CallSid": "CA" + "d" * 32, "ParentCallSid": call.call_sid, "Digits": "1"}
    for path in (f"/voice/whisper/safe_schools/{HUGE}", f"/voice/whisper/safe_schools/{HUGE}/answer"):
        response = twilio.post(path, leg)
        assert response.status_code == 200 and response.mimetype == "text/xml", path
