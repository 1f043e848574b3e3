"""Production refuses a session key or metrics token short enough to guess.

The session key signs every cookie: a short one is found offline from any cookie the
sign-in page hands out, and then any session (an administrator's) can be forged. The
metrics token is tried online, as often as anyone likes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hotline.settings import SettingsError, load_settings
from tests.test_production_start import REQUIRED, ROOT, SECRETS, _production


@pytest.mark.parametrize(
    ("name", "value"),
    [("HOTLINE_SECRET_KEY", "changeme"), ("HOTLINE_SECRET_KEY", "x" * 31), ("HOTLINE_METRICS_TOKEN", "metrics")],
)
def test_a_guessable_secret_stops_a_production_start(tmp_path: Path, name: str, value: str) -> None:
    env = _production(tmp_path, **{k: v for k, v in SECRETS.items() if k in REQUIRED})
    env[name] = value
    with pytest.raises(SettingsError) as info:
        load_settings(ROOT / "config.yaml", environ=env)
    assert name in str(info.value) and value not in str(info.value)


def test_long_enough_secrets_start(tmp_path: Path) -> None:
    env = _production(tmp_path, **{k: v for k, v in SECRETS.items() if k in REQUIRED})
    env.update(HOTLINE_SECRET_KEY="s" * 32, HOTLINE_METRICS_TOKEN="m" * 16)
    assert load_settings(ROOT / "config.yaml", environ=env).secret_key == "s" * 32
