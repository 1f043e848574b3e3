"""Filing a web tip makes one web report, routed like a call; the tipster then picks a PIN or
a passphrase, which opens the tip at /tip/check."""

from __future__ import annotations

from flask import Flask
from rq import Queue
from sqlalchemy import func, select

from hotline.extensions import db, queues
from hotline.models import Event, Report
from hotline.queueing import DEFAULT
from hotline.security import pins
from hotline.states import EventKind
from tests.tipweb.conftest import Tipster, passphrase_in, tip_number_in

WEAPON_TIP = {
    "topic": "weapons",
    "problem": "A student has a gun in his locker.",
    "where": "North building, second floor",
    "who": "",
    "district": "riverbend",
}


def file_tip(tipster: Tipster, data: dict[str, str] | None = None, hotline: str = "safe_schools") -> str:
    tipster.get(f"/tip/{hotline}")
    response = tipster.post(f"/tip/{hotline}", data or WEAPON_TIP)
    assert response.status_code == 200, response.get_data(as_text=True)[:3000]
    return tip_number_in(response)


def the_report(app: Flask, tip: str) -> Report:
    with app.app_context():
        report = db.session.scalar(select(Report).where(Report.tip_number == tip))
        assert report is not None
        db.session.expunge(report)
        return report


def test_submission_makes_one_web_report_and_queues_finalize(app: Flask, tipster: Tipster) -> None:
    tip = file_tip(tipster)
    report = the_report(app, tip)
    assert report.channel == "web"
    assert report.status == "new"
    assert report.call_ended_at is None
    assert report.language == "en"
    assert report.written == {"problem": "A student has a gun in his locker.", "where": "North building, second floor"}
    assert report.keypad == {"topic": "weapons", "district": "riverbend"}
    assert report.urgency == "critical" and report.categories == ["weapons"]
    assert report.pin_hash is None
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Report)) == 1
        kinds = list(db.session.scalars(select(Event.kind).where(Event.report_id == report.id)))
        assert kinds == [EventKind.WEB_TIP_RECEIVED]
        job_ids = Queue(DEFAULT, connection=queues.redis).job_ids
    assert job_ids == [f"finalize-{report.id}-web"]


def test_spanish_tip_keeps_its_language_and_menu_urgency(app: Flask, tipster: Tipster) -> None:
    tipster.get("/tip/prea?lang=es")
    response = tipster.post(
        "/tip/prea?lang=es",
        {
            "caller_type": "family_or_friend",
            "anonymous": "yes",
            "summary": "Un guardia acosa a mi hermano.",
            "inmate_number": "4455",
            "facility": "justice_center",
        },
    )
    assert response.status_code == 200
    assert '<html lang="es">' in response.get_data(as_text=True)
    report = the_report(app, tip_number_in(response))
    assert report.language == "es" and report.hotline_id == "prea"
    assert report.urgency == "high" and report.categories == ["sexual_abuse"]
    assert report.keypad == {
        "caller_type": "family_or_friend",
        "anonymous": "yes",
        "inmate_number": "4455",
        "facility": "justice_center",
    }


def test_errors_are_tied_to_fields_and_nothing_typed_is_lost(app: Flask, tipster: Tipster) -> None:
    tipster.get("/tip/prea")
    response = tipster.post(
        "/tip/prea",
        {"summary": "It happened on Tuesday <b>night</b>", "inmate_number": "12", "facility": "nowhere"},
    )
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert 'aria-describedby="q-inmate_number-hint q-inmate_number-error" aria-invalid="true"' in html
    assert 'id="q-inmate_number-error">Use digits only, 3 to 12 of them.<' in html
    assert 'id="q-facility-error">Choose one of the answers listed.<' in html
    assert '<a href="#q-facility">' in html
    # What was typed comes back, escaped.
    assert ">It happened on Tuesday &lt;b&gt;night&lt;/b&gt;</textarea>" in html
    assert 'value="12"' in html
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Report)) == 0


def test_an_empty_tip_is_refused(app: Flask, tipster: Tipster) -> None:
    tipster.get("/tip/safe_schools")
    response = tipster.post("/tip/safe_schools", {"topic": "other", "problem": "   "})
    assert response.status_code == 400
    assert "Tell us something: answer at least one question or attach a file." in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Report)) == 0


def test_pin_is_set_once_hashed_and_opens_the_tip(app: Flask, tipster: Tipster) -> None:
    tip = file_tip(tipster)
    mismatch = tipster.post("/tip/pin", {"choice": "pin", "pin": "482913", "pin2": "482910"}, token=True)
    assert mismatch.status_code == 400 and "The two PINs are not the same." in mismatch.get_data(as_text=True)
    short = tipster.post("/tip/pin", {"choice": "pin", "pin": "12", "pin2": "12"}, token=True)
    assert "A PIN is 4 to 8 digits." in short.get_data(as_text=True)
    saved = tipster.post("/tip/pin", {"choice": "pin", "pin": "482913", "pin2": "482913"}, token=True)
    assert saved.status_code == 200 and "Your PIN is saved" in saved.get_data(as_text=True)
    report = the_report(app, tip)
    assert report.pin_hash is not None and "482913" not in report.pin_hash
    assert pins.pin_matches(report.pin_hash, "482913")
    again = tipster.post("/tip/pin", {"choice": "pin", "pin": "111111", "pin2": "111111"}, token=True)
    assert "A PIN was already chosen for this tip." in again.get_data(as_text=True)
    tipster.get("/tip/check")
    opened = tipster.post("/tip/check", {"tip": tip, "secret": "482913"})
    assert opened.status_code == 200
    assert "Your report was received and is being reviewed." in opened.get_data(as_text=True)


def test_passphrase_is_normalized_and_opens_the_tip(app: Flask, tipster: Tipster) -> None:
    tipster.get("/tip/safe_schools")
    filed = tipster.post("/tip/safe_schools", WEAPON_TIP)
    tip = tip_number_in(filed)
    phrase = passphrase_in(filed)
    assert len(phrase.split(" ")) == 4
    saved = tipster.post("/tip/pin", {"choice": "passphrase", "passphrase": phrase}, token=True)
    assert saved.status_code == 200
    tipster.get("/tip/check")
    typed = "  " + "   ".join(w.upper() for w in phrase.split(" ")) + " "
    opened = tipster.post("/tip/check", {"tip": tip, "secret": typed})
    assert opened.status_code == 200, opened.get_data(as_text=True)[:3000]
    assert "Messages from the investigators" in opened.get_data(as_text=True)


def test_an_expired_form_comes_back_with_its_answers(app: Flask, tipster: Tipster) -> None:
    tipster.get("/tip/safe_schools?lang=es")
    tipster.csrf = "expired-token"
    response = tipster.post("/tip/safe_schools?lang=es", {**WEAPON_TIP, "problem": "Vi un arma en la mochila."})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "Formulario caducado" in html and ">Vi un arma en la mochila.</textarea>" in html
    assert '<option value="riverbend" selected>' in html
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Report)) == 0
    # Sent again with the fresh token of that page, it is filed.
    again = tipster.post("/tip/safe_schools?lang=es", {**WEAPON_TIP, "problem": "Vi un arma en la mochila."})
    assert again.status_code == 200 and tip_number_in(again)
