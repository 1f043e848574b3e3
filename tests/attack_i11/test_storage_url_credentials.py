"""A storage URL written with credentials in it (s3://KEY:SECRET@bucket) is refused without echoing them."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask

from hotline.settings import SettingsError, load_settings
from tests.test_production_start import ROOT

SECRET = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY"
URLS = [
    f"s3://AKIAIOSFODNN7EXAMPLE:{SECRET}@hotline/recordings",
    f"s3://AKIAIOSFODNN7EXAMPLE:{SECRET}@hotline/recordings?region=us-east-1",
    f"file://admin:{SECRET}@localhost/srv/store",
    f"https://admin:{SECRET}@example.org/store",
]


@pytest.mark.parametrize("url", URLS)
def test_settings_refuse_it_without_showing_the_secret(tmp_path: Path, url: str) -> None:
    env = {"HOTLINE_STORAGE_URL": url, "HOTLINE_INSTANCE_PATH": str(tmp_path)}
    with pytest.raises(SettingsError) as info:
        load_settings(ROOT / "config.yaml", environ=env)
    assert "storage_url" in str(info.value) or "HOTLINE_STORAGE_URL" in str(info.value)
    assert SECRET not in str(info.value)


@pytest.mark.parametrize("url", URLS)
def test_migrate_refuses_it_without_showing_the_secret(app: Flask, url: str) -> None:
    result = app.test_cli_runner().invoke(args=["storage", "migrate", "--to", url])
    assert result.exit_code != 0 and "--to" in result.output
    assert SECRET not in result.output
