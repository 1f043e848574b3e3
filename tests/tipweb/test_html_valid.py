"""Every web tip page is valid HTML (the Nu HTML Checker, as for the review app), in both
languages, with and without errors shown."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from hotline.extensions import db
from hotline.followup import messages
from tests.review.test_html_valid import validate, vnu_jar
from tests.tipweb.conftest import Tipster, tip_number_in
from tests.tipweb.test_submit import WEAPON_TIP, the_report


def test_every_tip_page_is_valid_html(app: Flask, tipster: Tipster, tmp_path: Path) -> None:
    assert vnu_jar().is_file()
    pages = {}
    for lang in ("en", "es"):
        pages[f"index-{lang}"] = tipster.get(f"/tip?lang={lang}")
        pages[f"prea-{lang}"] = tipster.get(f"/tip/prea?lang={lang}")
        pages[f"schools-{lang}"] = tipster.get(f"/tip/safe_schools?lang={lang}")
        pages[f"check-{lang}"] = tipster.get(f"/tip/check?lang={lang}")
    pages["errors"] = tipster.post("/tip/prea", {"inmate_number": "1", "facility": "x", "files": []})
    pages["filed"] = tipster.post("/tip/safe_schools", WEAPON_TIP)
    tip = tip_number_in(pages["filed"])
    pages["pin-errors"] = tipster.post("/tip/pin", {"choice": "pin", "pin": "12", "pin2": "1"}, token=True)
    pages["pin-saved"] = tipster.post("/tip/pin", {"choice": "pin", "pin": "1234", "pin2": "1234"}, token=True)
    pages["check-refused"] = tipster.post("/tip/check", {"tip": tip, "secret": "0000"})
    with app.app_context():
        messages.write(
            db.session,
            the_report(app, tip).id,
            "Which locker?",
            "en",
            author_email="a@x.example",
            agency_id="riverbend_sd",
        )
        db.session.commit()
    pages["conversation"] = tipster.post("/tip/check", {"tip": tip, "secret": "1234"})
    pages["reply-error"] = tipster.post("/tip/check/reply", {"body": ""}, token=True)
    pages["replied"] = tipster.post("/tip/check/reply", {"body": "Locker 214"}, token=True)
    pages["not-found"] = tipster.get("/tip/nowhere")
    for name, response in pages.items():
        html = response.get_data(as_text=True)
        assert html.lstrip().lower().startswith("<!doctype html>"), name
        (tmp_path / f"{name}.html").write_text(html, encoding="utf-8")
    errors = validate(tmp_path)
    assert errors == [], "\n".join(errors)
