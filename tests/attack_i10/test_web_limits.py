"""Attack: make the server decode big images for free. A form sent back with an error did not
count against the tip limit (a typo must not use it up), but its files were decoded all the
same: a 620 KB JPEG of 40 megapixels costs about a second of CPU and 700 MB of memory, five per
request, as often as a client likes with one invalid menu value."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from flask import Flask
from PIL import Image

from hotline import create_app
from hotline.extensions import db
from tests.conftest import RedisServer, make_settings
from tests.tipweb.conftest import Tipster
from tests.tipweb.test_submit import WEAPON_TIP


@pytest.fixture
def strict_app(tmp_path: Path, database_url: str, redis_server: RedisServer) -> Iterator[Flask]:
    redis.Redis.from_url(redis_server.url).flushall()
    application = create_app(make_settings(tmp_path, database_url, redis_server.url, web={"tip_limit": "2 per hour"}))
    yield application
    db.dispose()
    redis.Redis.from_url(redis_server.url).flushall()


def _photo() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (400, 300), (10, 200, 30)).save(out, "JPEG")
    return out.getvalue()


def test_forms_sent_back_with_files_count_against_the_tip_limit(strict_app: Flask) -> None:
    tipster = Tipster(strict_app.test_client())
    tipster.get("/tip/safe_schools")
    statuses = []
    for _ in range(3):
        form = {**WEAPON_TIP, "topic": "not-an-option", "files": [(io.BytesIO(_photo()), "a.jpg") for _ in range(5)]}
        statuses.append(tipster.post("/tip/safe_schools", form).status_code)
    assert statuses == [400, 400, 429]
    # Without files, a form sent back still costs nothing (another client: this one is held).
    other = Tipster(strict_app.test_client(), remote_addr="198.51.100.23")
    other.get("/tip/safe_schools")
    assert [other.post("/tip/safe_schools", {"problem": ""}).status_code for _ in range(3)] == [400] * 3
