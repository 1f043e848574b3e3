"""The web tip form in a real browser: a tip filed with a photo carrying GPS in its EXIF (gone
from the stored, decrypted copy), a PIN chosen, the tip opened at /tip/check; every page
checked with axe-core; and the round trip with an investigator who writes to the tipster."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from playwright.sync_api import Page, expect
from sqlalchemy import select

from hotline.extensions import db
from hotline.models import Attachment, Report
from hotline.pipeline.services import services_of
from hotline.storage.keys import attachment_aad, attachment_key
from tests.browser.axe import Audit
from tests.browser.conftest import Site, create_user, screenshot
from tests.browser.test_review_flow import sign_in

PIN = "583201"


def photo_with_gps(path: Path) -> bytes:
    """A phone-like photo: noise (so it does not compress to nothing), EXIF camera, time and GPS."""
    image = Image.frombytes("RGB", (1600, 1200), bytes(range(256)) * (1600 * 1200 * 3 // 256))
    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[0x0132] = "PhoneMaker", "Model X", "2026:11:30 08:15:00"
    exif[0x8825] = {1: "N", 2: (38.0, 37.0, 41.0), 3: "W", 4: (90.0, 11.0, 58.0)}
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, quality=92)
    path.write_bytes(out.getvalue())
    return out.getvalue()


def file_tip(page: Page, site: Site, photo: Path | None) -> str:
    """File a Safe Schools tip in the browser, choose a PIN; return the tip number."""
    page.goto(site.url + "/tip")
    page.get_by_role("link", name="Safe Schools hotline").click()
    expect(page).to_have_url(re.compile(r"/tip/safe_schools"))
    page.select_option("#q-topic", "weapons")
    page.fill("#q-problem", "A student showed a gun in the locker room.")
    page.fill("#q-where", "North building, by the gym")
    page.select_option("#q-district", "riverbend")
    if photo is not None:
        page.set_input_files("#q-files", str(photo))
    page.get_by_role("button", name="Send the tip").click()
    expect(page.locator("h1")).to_have_text("Thank you. Your tip was received.")
    tip = page.locator(".tip-number").inner_text().strip()
    assert re.fullmatch(r"[0-9]{8}", tip)
    page.fill("#pin", PIN)
    page.fill("#pin2", PIN)
    page.get_by_role("button", name="Save this PIN").click()
    expect(page.locator("h1")).to_have_text("Your PIN is saved")
    return tip


def open_tip(page: Page, site: Site, tip: str) -> None:
    page.goto(site.url + "/tip/check")
    page.fill("#tip", tip)
    page.fill("#secret", PIN)
    page.get_by_role("button", name="Open").click()
    expect(page.locator(".tip-status")).to_have_text("Your report was received and is being reviewed.")


def report_of(site: Site, tip: str) -> Report:
    with site.app.app_context():
        report = db.session.scalar(select(Report).where(Report.tip_number == tip))
        assert report is not None
        db.session.expunge(report)
        return report


def test_tipster_files_a_web_tip_with_a_photo_and_its_gps_is_gone(site: Site, new_browser: Any, tmp_path: Path) -> None:
    sent = photo_with_gps(tmp_path / "IMG_2041 at Jane's house.jpg")
    with Image.open(io.BytesIO(sent)) as original:
        assert original.getexif().get_ifd(0x8825), "the photo carries a GPS position"
    browser = new_browser()
    page = browser.new_page()
    tip = file_tip(page, site, tmp_path / "IMG_2041 at Jane's house.jpg")
    report = report_of(site, tip)
    assert (report.channel, report.status, report.urgency) == ("web", "new", "critical")
    with site.app.app_context():
        [row] = db.session.scalars(select(Attachment).where(Attachment.report_id == report.id))
        stored = services_of().store.get_decrypted(attachment_key(row), attachment_aad(row))
    with Image.open(io.BytesIO(stored)) as kept:
        assert kept.size == (1600, 1200) and len(kept.getexif()) == 0 and "exif" not in kept.info
    assert b"PhoneMaker" not in stored and b"Exif" not in stored
    print(f"\nphoto sent: {len(sent)} bytes with EXIF+GPS; stored (decrypted): {len(stored)} bytes, no EXIF")
    open_tip(page, site, tip)
    expect(page.get_by_text("There are no messages for you yet.")).to_be_visible()
    # No cookie but the CSRF token's session, and nothing fetched from another site.
    assert {c["name"] for c in browser.cookies()} == {"session"}
    screenshot(page, "web-tip-check.png")


def test_tip_pages_pass_axe(site: Site, new_browser: Any) -> None:
    pytest.importorskip("axe_playwright_python", reason="axe-playwright-python is not installed")
    audit = Audit()
    page = new_browser().new_page()
    page.goto(site.url + "/tip")
    audit.check(page, "/tip")
    audit.check_focus(page, "/tip")
    for lang in ("en", "es"):
        page.goto(site.url + f"/tip/safe_schools?lang={lang}")
        audit.check(page, f"/tip/safe_schools ({lang})")
    page.goto(site.url + "/tip/prea")
    audit.check(page, "/tip/prea")
    page.get_by_role("button", name="Send the tip").click()  # empty: the errors shown
    expect(page.locator("#error-summary")).to_be_visible()
    audit.check(page, "/tip/prea with errors")
    page.fill("#q-summary", "He was threatened in the shower block.")
    page.get_by_role("button", name="Send the tip").click()
    expect(page.locator(".tip-number")).to_be_visible()
    audit.check(page, "the PIN page")
    audit.check_focus(page, "the PIN page")
    page.fill("#pin", PIN)
    page.fill("#pin2", PIN)
    page.get_by_role("button", name="Save this PIN").click()
    page.goto(site.url + "/tip/check")
    audit.check(page, "/tip/check")
    page.fill("#tip", "00000000")
    page.fill("#secret", "1111")
    page.get_by_role("button", name="Open").click()
    audit.check(page, "/tip/check refused")
    assert not audit.found, audit.report()
    assert len(audit.pages) == 8


def test_investigator_writes_and_the_tipster_reads_and_replies(site: Site, new_browser: Any) -> None:
    """Needs the review app's message form (POST /reports/<id>/messages, body, language,
    "Send to the tipster") and finalize routing web tips: both merged from their branches."""
    tipster = new_browser().new_page()
    tip = file_tip(tipster, site, None)
    site.run_jobs()  # finalize classifies the written answers and routes the tip
    report = report_of(site, tip)
    assert "riverbend_sd" in site.agencies_of(report.id)
    ann = create_user(site.app, "ann@riverbend.example", "riverbend_sd")
    investigator = new_browser().new_page()
    sign_in(investigator, site, ann)
    investigator.goto(site.url + f"/reports/{report.id}")
    investigator.fill("textarea[name=body]", "Thank you. Which locker was it?")
    investigator.select_option("select[name=language]", "en")
    investigator.get_by_role("button", name="Send to the tipster").click()
    expect(investigator.get_by_text("Thank you. Which locker was it?")).to_be_visible()

    open_tip(tipster, site, tip)
    expect(tipster.get_by_text("Thank you. Which locker was it?")).to_be_visible()
    expect(tipster.locator(".tip-new")).to_have_count(1)
    tipster.fill("#reply-body", "Locker 214, next to the gym doors.")
    tipster.get_by_role("button", name="Send", exact=True).click()
    expect(tipster.get_by_text("Thank you. What you added was received.")).to_be_visible()
    screenshot(tipster, "web-tip-replied.png")

    investigator.goto(site.url + f"/reports/{report.id}")
    expect(investigator.get_by_text("Locker 214, next to the gym doors.")).to_be_visible()
    screenshot(investigator, "web-tip-report-with-reply.png")
