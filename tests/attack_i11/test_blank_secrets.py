"""Production refuses a secret that is only whitespace (an env file's `KEY= `) as if it were unset."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotline.settings import SettingsError, load_settings
from tests.test_production_start import REQUIRED, ROOT, SECRETS, _production


@pytest.mark.parametrize("name", [n for n in REQUIRED if n != "HOTLINE_MASTER_KEY"])
@pytest.mark.parametrize("blank", [" ", "\t", " " * 40])
def test_a_blank_secret_is_a_missing_secret(tmp_path: Path, name: str, blank: str) -> None:
    env = _production(tmp_path, **{k: v for k, v in SECRETS.items() if k in REQUIRED})
    env[name] = blank
    with pytest.raises(SettingsError) as info:
        load_settings(ROOT / "config.yaml", environ=env)
    assert name in str(info.value) and "HOTLINE_ENV" in str(info.value)
