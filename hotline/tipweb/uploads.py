"""Attachments from the web form: sniffed from their bytes, images re-encoded without any
metadata, and stored encrypted like audio.

The browser's file name and content type are never trusted or kept (a name can carry a
person's name or a place). JPEG and PNG images are decoded and written again from their
pixels alone, which leaves EXIF (GPS position, camera, time), XMP, ICC profiles and PNG text
chunks behind. PDF files are kept as they are (the form tells the tipster so).
"""

from __future__ import annotations

import hashlib
import io
import warnings
from collections.abc import Iterable
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy.orm import Session

from hotline.models import Attachment
from hotline.storage.encrypted import EncryptedStore
from hotline.storage.keys import attachment_aad, attachment_key

JPEG, PNG, PDF = "image/jpeg", "image/png", "application/pdf"
_PILLOW_FORMAT = {JPEG: "JPEG", PNG: "PNG"}
# PNG modes written as they are; anything else is converted to RGB(A) first.
_PNG_MODES = {"1", "L", "LA", "RGB", "RGBA", "I;16"}


class Refused(ValueError):
    """A file the form does not accept; `reason` names a sentence of hotline.tipweb.texts."""

    def __init__(self, reason: str, **values: object) -> None:
        super().__init__(reason)
        self.reason = reason
        self.values = values


@dataclass(frozen=True)
class CleanFile:
    """An attachment ready to store: what it is and its sanitized bytes."""

    content_type: str
    data: bytes


def sniff(data: bytes) -> str | None:
    """The content type the bytes themselves say, among those accepted; None otherwise."""
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if data.startswith(b"%PDF-"):
        return PDF
    return None


def clean(data: bytes, *, max_pixels: int) -> CleanFile:
    """Check one file and strip an image's metadata; raise Refused when it is not accepted."""
    kind = sniff(data)
    if kind is None:
        raise Refused("error_file_type")
    if kind == PDF:
        return CleanFile(PDF, data)
    return CleanFile(kind, _reencode(data, kind, max_pixels))


def _reencode(data: bytes, kind: str, max_pixels: int) -> bytes:
    try:
        with warnings.catch_warnings():
            # Pillow warns of a likely decompression bomb and raises past twice its limit:
            # both refuse the file here.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[_PILLOW_FORMAT[kind]]) as image:
                width, height = image.size
                if width * height > max_pixels:
                    raise Refused("error_file_pixels", pixels=max_pixels // 1_000_000)
                image.load()
                # A phone stores "turn me" in EXIF; apply it before the EXIF goes.
                upright = ImageOps.exif_transpose(image)
                return _pixels_only(upright, kind)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise Refused("error_file_pixels", pixels=max_pixels // 1_000_000) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        if isinstance(exc, Refused):
            raise
        raise Refused("error_file_image") from None


def _pixels_only(image: Image.Image, kind: str) -> bytes:
    """Write the image again from its pixels: a new image object carries no `info` at all."""
    if kind == JPEG:
        target = "L" if image.mode in ("1", "L") else "RGB"
    elif image.mode in _PNG_MODES:
        target = image.mode
    else:
        has_alpha = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info
        target = "RGBA" if has_alpha else "RGB"
    source = image if image.mode == target else image.convert(target)
    fresh = Image.frombytes(target, source.size, source.tobytes())
    out = io.BytesIO()
    if kind == JPEG:
        fresh.save(out, "JPEG", quality=90, optimize=True)
    else:
        fresh.save(out, "PNG", optimize=True)
    return out.getvalue()


def store(
    session: Session,
    blobs: EncryptedStore,
    report_id: int,
    files: Iterable[CleanFile],
    message_id: int | None = None,
) -> list[Attachment]:
    """Add each file to the report, encrypted in the blob store; the caller commits.

    On a failure the objects already written are shredded, so none is left without its row.
    """
    stored: list[Attachment] = []
    try:
        for f in files:
            row = Attachment(
                report_id=report_id,
                message_id=message_id,
                content_type=f.content_type,
                size=len(f.data),
                sha256=hashlib.sha256(f.data).hexdigest(),
            )
            session.add(row)
            session.flush()  # its id names the object
            stored.append(row)
            row.sha256 = blobs.put_and_verify(attachment_key(row), f.data, attachment_aad(row))
            row.blob_key = attachment_key(row)
    except Exception:
        for row in stored:
            blobs.shred(attachment_key(row))
        raise
    return stored
