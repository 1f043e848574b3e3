"""An investigator's day in a real browser: sign in with password and TOTP, find a critical
report in the queue, listen to it, acknowledge it, close it; and someone of another agency
cannot see it at all.

Screenshots of the queue and of the report are saved to test-output/screenshots/.
"""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import Page, expect
from sqlalchemy import select

from hotline.extensions import db
from hotline.models import Assignment, Report
from tests.browser.conftest import Account, Site, create_user, screenshot
from tests.pipeline.conftest import UTTERANCES

# u01.wav: "there is a kid with a gun in the parking lot"; 16-bit mono PCM at 8 kHz.
CRITICAL_CLIP = "u01.wav"
# u13.wav: "the lights in the parking lot are broken": nothing urgent in it.
NORMAL_CLIP = "u13.wav"
# Flash messages: the review pages promised `div.flash`; the shared layout (base.html) shows
# them as `p.notice`. Either is accepted.
FLASH = "div.flash, p.notice"


def wav_seconds(name: str) -> float:
    data = (UTTERANCES / name).read_bytes()
    return (len(data) - 44) / (8000 * 2)


def sign_in(page: Page, site: Site, account: Account) -> None:
    """Password, then the code from the authenticator app (enrolling first if asked)."""
    page.goto(site.url + "/")
    expect(page).to_have_url(re.compile(r"/login"))
    page.fill("#email", account.email)
    page.fill("#password", account.password)
    page.get_by_role("button", name="Continue").click()
    # First sign-in enrols the authenticator; later ones just ask for a code. Both end the same.
    expect(page).to_have_url(re.compile(r"/(enrol|login/totp)$"))
    if page.url.endswith("/enrol"):
        expect(page.locator("svg.qr")).to_be_visible()
    page.fill("#code", account.code())
    page.locator("form:has(#code) button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/queue(\?.*)?$"))


def test_investigator_reviews_a_critical_report_and_other_agencies_cannot_see_it(site: Site, new_browser: Any) -> None:
    # Two real calls through the signed webhooks; the jobs download, encrypt, transcribe,
    # classify and route them.
    critical_call = site.place_call(CRITICAL_CLIP, topic="1")  # keypad: weapons
    normal_call = site.place_call(NORMAL_CLIP, topic="6")  # keypad: something else
    site.run_jobs()
    critical = site.report_of(critical_call)
    normal = site.report_of(normal_call)
    assert (critical.urgency, normal.urgency) == ("critical", "normal")
    assert "safe_schools_unit" in site.agencies_of(critical.id)
    assert "prea_unit" not in site.agencies_of(critical.id) | site.agencies_of(normal.id)

    investigator = create_user(site.app, "Ivy.Investigator@example.org", "safe_schools_unit")
    outsider = create_user(site.app, "pat.prea@example.org", "prea_unit")

    # --- The investigator signs in and sees the queue, critical first.
    page = new_browser().new_page()
    sign_in(page, site, investigator)
    expect(page.locator("table#queue")).to_be_visible()
    rows = page.locator("table#queue tr.report-row")
    expect(rows).to_have_count(2)
    assert rows.first.get_attribute("data-report-id") == str(critical.id)
    critical_row = page.locator(f'tr.report-row[data-report-id="{critical.id}"]')
    expect(critical_row.locator("span.badge.badge-critical")).to_be_visible()
    expect(page.locator(f'tr.report-row[data-report-id="{normal.id}"] span.badge.badge-normal')).to_be_visible()
    screenshot(page, "queue.png")

    # --- Open the critical report from its row. (Audio requests are watched from here on.)
    audio_responses: list[tuple[int, str, str]] = []

    def watch(response: Any) -> None:
        if "/recordings/" in response.url and response.url.endswith("/audio"):
            asked = response.request.headers.get("range", "")
            audio_responses.append((response.status, response.headers.get("content-type", ""), asked))

    page.on("response", watch)
    page.locator("tr.report-row:has(span.badge-critical) a.report-link").first.click()
    expect(page).to_have_url(f"{site.url}/reports/{critical.id}")
    expect(page.locator("h1#report-ref")).to_contain_text(critical.reference)
    question = page.locator("section.question:has(audio.recording)")
    expect(question).to_have_count(1)
    # The transcript was decrypted for this page: pocketsphinx heard the word that matters.
    expect(question.locator("div.transcript")).to_contain_text("gun")

    # --- Play the recording: the browser fetches it (in ranges) and reports its length.
    audio = question.locator("audio.recording").element_handle()
    assert audio is not None
    page.evaluate("el => el.play()", audio)
    page.wait_for_function("el => Number.isFinite(el.duration) && el.duration > 0", arg=audio)
    duration = page.evaluate("el => el.duration", audio)
    assert abs(duration - wav_seconds(CRITICAL_CLIP)) < 0.2, duration
    assert page.evaluate("el => el.error", audio) is None
    assert audio_responses, "the browser never fetched the recording"
    assert all(status in (200, 206) and kind.startswith("audio/wav") for status, kind, _ in audio_responses), (
        audio_responses
    )
    # Media elements ask for ranges; the endpoint answers them with 206 Partial Content.
    assert any(status == 206 and asked.startswith("bytes=") for status, _, asked in audio_responses), audio_responses

    # --- Acknowledge: the escalation stops, the timeline says who did it.
    page.locator("form#ack-form").get_by_role("button", name="Acknowledge").click()
    expect(page).to_have_url(f"{site.url}/reports/{critical.id}")
    expect(page.locator(FLASH)).to_contain_text("Acknowledged")
    timeline = page.locator("ol#timeline li")
    expect(timeline.filter(has_text=f"Acknowledged by {investigator.email}")).to_have_count(1)

    # --- Close it as founded.
    form = page.locator("form#status-form")
    form.locator("select[name=status]").select_option("closed")
    form.locator("select[name=disposition]").select_option("founded")
    form.get_by_role("button", name="Update status").click()
    expect(page.locator(FLASH)).to_contain_text("Closed")
    closed = timeline.filter(has_text="Closed").filter(has_text="Founded")
    expect(closed).to_have_count(1)
    expect(closed).to_contain_text(investigator.email)
    screenshot(page, "report.png")

    with site.app.app_context():
        stored = db.session.get(Report, critical.id)
        assert stored is not None
        assert (stored.status, stored.disposition) == ("closed", "founded")
        assert stored.closed_at is not None
        mine = db.session.scalar(
            select(Assignment).where(Assignment.report_id == critical.id, Assignment.agency_id == "safe_schools_unit")
        )
        assert mine is not None and mine.acknowledged_by == investigator.email

    # Closed reports leave the default (open) queue but are still found with the filter.
    page.goto(site.url + "/queue")
    expect(page.locator(f'tr.report-row[data-report-id="{normal.id}"]')).to_have_count(1)
    expect(page.locator(f'tr.report-row[data-report-id="{critical.id}"]')).to_have_count(0)
    page.goto(site.url + "/queue?status=closed")
    expect(page.locator(f'tr.report-row[data-report-id="{critical.id}"]')).to_have_count(1)

    # --- Someone of another agency, in their own browser: nothing of it, anywhere.
    other = new_browser().new_page()
    sign_in(other, site, outsider)
    for query in ("", "?status=all"):
        other.goto(site.url + "/queue" + query)
        expect(other.locator("tr.report-row")).to_have_count(0)
    for report in (critical, normal):
        response = other.goto(f"{site.url}/reports/{report.id}")
        assert response is not None and response.status == 404, report.id
        assert critical.reference not in other.content()
    recording_sid = critical_call.recordings[0]
    response = other.goto(f"{site.url}/reports/{critical.id}/recordings/{recording_sid}/audio")
    assert response is not None and response.status == 404
