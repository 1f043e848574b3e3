"""A secret shows in no form of the settings, nor in the traceback of a refused configuration."""

from __future__ import annotations

import traceback
from pathlib import Path

import pytest

from hotline.settings import SettingsError, load_settings
from tests.test_production_start import REQUIRED, ROOT, SECRETS, _production

TOO_SHORT_AUDIT_KEY = "audit-SHORT-7f3e9a"  # under 32 characters: refused by validation


def test_a_refused_secret_is_not_in_the_whole_traceback(tmp_path: Path) -> None:
    env = _production(tmp_path, **{k: v for k, v in SECRETS.items() if k in REQUIRED})
    env["HOTLINE_AUDIT_KEY"] = TOO_SHORT_AUDIT_KEY
    with pytest.raises(SettingsError) as info:
        load_settings(ROOT / "config.yaml", environ=env)
    assert "audit_key" in str(info.value)
    # What `flask --app hotline` or any caller without app.py's handler prints: the chain too.
    shown = "".join(traceback.format_exception(info.value))
    assert TOO_SHORT_AUDIT_KEY not in shown


def test_dict_of_the_settings_masks_the_secrets(tmp_path: Path) -> None:
    settings = load_settings(ROOT / "config.yaml", environ=_production(tmp_path, **SECRETS))
    shown = str(dict(settings))
    for name, value in SECRETS.items():
        if name not in ("TWILIO_API_KEY", "HOTLINE_MASTER_KEY", "HOTLINE_OLD_MASTER_KEYS"):
            assert value not in shown, name
    assert settings.master_key not in dict(settings).values()
    assert dict(settings)["twilio_auth_token"] == "**********"
    assert settings.twilio_auth_token == SECRETS["TWILIO_AUTH_TOKEN"]  # the attribute still holds it
