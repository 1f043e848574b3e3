"""The scheme of HOTLINE_STORAGE_URL is case-insensitive everywhere, its start-up check included."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotline.pipeline.services import check_storage_at_startup
from hotline.settings import SettingsError
from tests.conftest import RedisServer, make_settings
from tests.seaweed import SeaweedServer


def test_a_missing_bucket_stops_the_start_whatever_the_schemes_case(
    tmp_path: Path, database_url: str, redis_server: RedisServer, s3_env: SeaweedServer
) -> None:
    settings = make_settings(tmp_path, database_url, redis_server.url, storage_url="S3://no-such-bucket/x")
    with pytest.raises(SettingsError, match="does not exist"):
        check_storage_at_startup(settings)


def test_a_file_url_in_capitals_names_the_same_directory(tmp_path: Path, database_url: str) -> None:
    store = tmp_path / "elsewhere"
    settings = make_settings(tmp_path, database_url, "redis://127.0.0.1:1/0", storage_url=f"FILE://{store}")
    assert Path(settings.storage_path) == store
