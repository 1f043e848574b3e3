"""Fixtures for the web tip form: the app with real Redis, a real database and the encrypted
store, a client that carries the CSRF token like a browser, and image files made with Pillow."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from werkzeug.test import TestResponse

_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
_HIDDEN = re.compile(r'name="token" value="([^"]+)"')
_TIP = re.compile(r'class="tip-number">([0-9]{8})<')
_PHRASE = re.compile(r'name="passphrase" value="([^"]+)"')


@dataclass
class Tipster:
    """A browser without JavaScript: GETs a page, then posts its form with the page's tokens."""

    client: FlaskClient
    csrf: str = ""
    token: str = ""
    remote_addr: str = "203.0.113.77"
    headers: dict[str, str] | None = None

    def _env(self) -> dict[str, Any]:
        return {"REMOTE_ADDR": self.remote_addr}

    def get(self, path: str) -> TestResponse:
        response = self.client.get(path, environ_base=self._env(), headers=self.headers or {})
        self._remember(response)
        return response

    def post(self, path: str, data: dict[str, Any], *, token: bool = False) -> TestResponse:
        form = {"csrf_token": self.csrf, **data}
        if token:
            form["token"] = self.token
        response = self.client.post(
            path, data=form, content_type="multipart/form-data", environ_base=self._env(), headers=self.headers or {}
        )
        self._remember(response)
        return response

    def _remember(self, response: TestResponse) -> None:
        html = response.get_data(as_text=True)
        found = _TOKEN.search(html)
        if found:
            self.csrf = found.group(1)
        hidden = _HIDDEN.search(html)
        if hidden:
            self.token = hidden.group(1)


def tip_number_in(response: TestResponse) -> str:
    found = _TIP.search(response.get_data(as_text=True))
    assert found, response.get_data(as_text=True)[:2000]
    return found.group(1)


def passphrase_in(response: TestResponse) -> str:
    found = _PHRASE.search(response.get_data(as_text=True))
    assert found
    return found.group(1)


@pytest.fixture
def tipster(client: FlaskClient) -> Tipster:
    return Tipster(client)


@pytest.fixture
def tapp(app: Flask) -> Flask:
    return app


def jpeg_with_gps(size: tuple[int, int] = (640, 480)) -> bytes:
    """A JPEG photo carrying EXIF: camera make, a date, and a GPS position."""
    image = Image.new("RGB", size, (200, 120, 40))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x0110] = "Model X"  # Model
    exif[0x0132] = "2026:11:30 08:15:00"  # DateTime
    gps = {1: "N", 2: (38.0, 37.0, 41.0), 3: "W", 4: (90.0, 11.0, 58.0)}
    exif[0x8825] = gps  # GPSInfo
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, quality=95)
    return out.getvalue()


def png_with_text() -> bytes:
    """A PNG with text chunks (tEXt and iTXt) naming an author and a place."""
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Author", "Jane Tipster")
    info.add_itxt("Location", "123 Elm Street, Riverbend")
    out = io.BytesIO()
    Image.new("RGBA", (200, 100), (0, 90, 200, 255)).save(out, "PNG", pnginfo=info)
    return out.getvalue()


def decompression_bomb() -> bytes:
    """A small PNG file that decodes to 400 million pixels."""
    out = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(out, "PNG")
    return out.getvalue()
