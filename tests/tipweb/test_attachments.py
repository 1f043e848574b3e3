"""Attachments: sniffed from their bytes, images re-encoded without any metadata, bombs and
other files refused with a clear message, stored encrypted and bound to their row."""

from __future__ import annotations

import io

from flask import Flask
from PIL import Image
from sqlalchemy import func, select

from hotline.extensions import db
from hotline.models import Attachment, Event, Report
from hotline.pipeline.services import services_of
from hotline.states import EventKind
from hotline.storage.keys import attachment_aad, attachment_key
from hotline.tipweb import uploads
from tests.tipweb.conftest import Tipster, decompression_bomb, jpeg_with_gps, png_with_text, tip_number_in
from tests.tipweb.test_submit import WEAPON_TIP, the_report

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def upload(name: str, data: bytes, content_type: str = "application/octet-stream") -> tuple[io.BytesIO, str, str]:
    return (io.BytesIO(data), name, content_type)


def send(tipster: Tipster, *files: tuple[io.BytesIO, str, str]) -> tuple[int, str]:
    tipster.get("/tip/safe_schools")
    response = tipster.post("/tip/safe_schools", {**WEAPON_TIP, "files": list(files)})
    return response.status_code, response.get_data(as_text=True)


def stored_files(app: Flask, report_id: int) -> list[tuple[Attachment, bytes]]:
    with app.app_context():
        store = services_of().store
        rows = list(db.session.scalars(select(Attachment).where(Attachment.report_id == report_id)))
        return [(row, store.get_decrypted(attachment_key(row), attachment_aad(row))) for row in rows]


def test_jpeg_exif_and_gps_are_gone_from_the_stored_copy(app: Flask, tipster: Tipster) -> None:
    original = jpeg_with_gps()
    with Image.open(io.BytesIO(original)) as before:
        exif = before.getexif()
        assert exif.get(0x010F) == "PhoneMaker" and exif.get_ifd(0x8825)
    # The browser's name and type lie: the bytes say JPEG.
    status, html = send(tipster, upload("Jane at 12 Elm St.pdf", original, "application/pdf"))
    assert status == 200, html[:2000]
    report = the_report(app, tip_number_in_html(html))
    [(row, clean)] = stored_files(app, report.id)
    print(f"JPEG with EXIF+GPS: {len(original)} bytes sent, {len(clean)} bytes stored after re-encoding")
    assert row.content_type == "image/jpeg" and row.size == len(clean) and row.filename == f"attachment-{row.id}.jpg"
    with Image.open(io.BytesIO(clean)) as after:
        assert after.format == "JPEG" and after.size == (640, 480)
        assert len(after.getexif()) == 0
        assert "exif" not in after.info and "icc_profile" not in after.info
    assert b"Exif" not in clean and b"PhoneMaker" not in clean and b"GPS" not in clean
    # Encrypted at rest: the blob store holds no JPEG.
    with app.app_context():
        raw = services_of().store.blobs.get(attachment_key(row))
    assert b"\xff\xd8\xff" not in raw[:16]
    kinds = {e.kind: e.detail for e in events(app, report.id)}
    assert kinds[EventKind.ATTACHMENT_ADDED] == {"count": 1, "attachments": [row.id]}


def tip_number_in_html(html: str) -> str:
    class R:
        def get_data(self, as_text: bool = True) -> str:
            return html

    return tip_number_in(R())  # type: ignore[arg-type]


def events(app: Flask, report_id: int) -> list[Event]:
    with app.app_context():
        found = list(db.session.scalars(select(Event).where(Event.report_id == report_id)))
        db.session.expunge_all()
        return found


def test_png_text_chunks_are_stripped_and_pdf_kept(app: Flask, tipster: Tipster) -> None:
    original = png_with_text()
    with Image.open(io.BytesIO(original)) as before:
        assert before.info.get("Author") == "Jane Tipster"
    status, html = send(tipster, upload("a.png", original, "image/png"), upload("b.pdf", PDF, "application/pdf"))
    assert status == 200
    report = the_report(app, tip_number_in_html(html))
    stored = stored_files(app, report.id)
    assert [row.content_type for row, _ in stored] == ["image/png", "application/pdf"]
    png = stored[0][1]
    print(f"PNG with text chunks: {len(original)} bytes sent, {len(png)} bytes stored")
    with Image.open(io.BytesIO(png)) as after:
        assert after.info == {} or set(after.info) <= {"dpi"}
        assert after.mode == "RGBA"
    assert b"Jane Tipster" not in png and b"Elm Street" not in png and b"tEXt" not in png and b"iTXt" not in png
    assert stored[1][1] == PDF


def test_other_files_are_refused_with_a_clear_message(app: Flask, tipster: Tipster) -> None:
    status, html = send(tipster, upload("photo.jpg", b"GIF89a" + b"\x00" * 100, "image/jpeg"))
    assert status == 400
    assert "File 1 is not a JPEG, PNG or PDF file." in html
    assert "Attach your files again" in html
    assert "A student has a gun in his locker." in html  # the answers are kept
    assert 'aria-describedby="q-files-hint q-files-error q-files-again" aria-invalid="true"' in html
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Report)) == 0


def test_a_broken_image_is_refused(tipster: Tipster) -> None:
    status, html = send(tipster, upload("x.jpg", b"\xff\xd8\xff\xe0" + b"garbage" * 20))
    assert status == 400 and "File 1 could not be read as an image." in html


def test_a_decompression_bomb_is_refused(app: Flask, tipster: Tipster) -> None:
    bomb = decompression_bomb()
    print(f"decompression bomb: {len(bomb)} bytes for 20000 x 20000 pixels")
    status, html = send(tipster, upload("bomb.png", bomb))
    assert status == 400
    assert "File 1 is too large an image (more than 40 million pixels)." in html
    # Under Pillow's own limit but over ours: refused before decoding too.
    big = io.BytesIO()
    Image.new("1", (8000, 6000)).save(big, "PNG")
    try:
        uploads.clean(big.getvalue(), max_pixels=40_000_000)
    except uploads.Refused as refused:
        assert refused.reason == "error_file_pixels"
    else:
        raise AssertionError("a 48-megapixel image was accepted")


def test_six_files_are_refused(app: Flask, tipster: Tipster) -> None:
    files = [upload(f"{i}.pdf", PDF) for i in range(6)]
    status, html = send(tipster, *files)
    assert status == 400 and "Attach at most 5 files." in html
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Attachment)) == 0


def test_an_oversize_file_is_refused(app: Flask, tipster: Tipster) -> None:
    big = PDF + b"0" * (10 * 1024 * 1024)
    status, html = send(tipster, upload("big.pdf", big))
    assert status == 400 and "File 1 is larger than 10 MB." in html


def test_a_request_over_the_total_limit_gets_a_413_page(app: Flask, tipster: Tipster) -> None:
    files = [upload(f"{i}.pdf", PDF + b"0" * (11 * 1024 * 1024)) for i in range(5)]
    status, html = send(tipster, *files)
    assert status == 413
    assert "Too much to send at once" in html and "51 MB in all, 10 MB per file" in html


def test_reply_attachments_are_bound_to_their_message(app: Flask, tipster: Tipster) -> None:
    from tests.tipweb.test_followup import PIN, check, tip_with_pin

    tip = tip_with_pin(tipster)
    check(tipster, tip, PIN)
    sent = tipster.post("/tip/check/reply", {"body": "", "files": [upload("p.jpg", jpeg_with_gps())]}, token=True)
    assert sent.status_code == 200, sent.get_data(as_text=True)[:2000]
    report = the_report(app, tip)
    [(row, clean)] = stored_files(app, report.id)
    assert row.message_id is not None
    with Image.open(io.BytesIO(clean)) as after:
        assert len(after.getexif()) == 0
    kinds = {e.kind: e.detail for e in events(app, report.id)}
    assert kinds[EventKind.INFORMATION_ADDED]["attachments"] == 1
    assert kinds[EventKind.ATTACHMENT_ADDED]["message"] == row.message_id
