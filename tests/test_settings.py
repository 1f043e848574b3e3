"""Settings fail at start-up with a message naming the bad key."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import yaml

from hotline.settings import SettingsError, load_settings

ROOT = Path(__file__).resolve().parents[1]
KEY = base64.b64encode(b"m" * 32).decode()
ENV = {"TWILIO_AUTH_TOKEN": "t", "HOTLINE_MASTER_KEY": KEY, "HOTLINE_SECRET_KEY": "s", "HOTLINE_AUDIT_KEY": "a" * 32}


def write(tmp_path: Path, change) -> Path:  # type: ignore[no-untyped-def]
    data = yaml.safe_load((ROOT / "config.yaml").read_text())
    change(data)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_shipped_config_loads_with_environment_overrides(tmp_path: Path) -> None:
    env = {
        **ENV,
        "DATABASE_URL": "postgresql+psycopg://db/x",
        "HOTLINE_PUBLIC_URL": "https://tips.example.org/",
    }
    settings = load_settings(ROOT / "config.yaml", environ=env)
    assert settings.database_url == "postgresql+psycopg://db/x"
    assert settings.public_url == "https://tips.example.org"
    assert settings.master_key == b"m" * 32
    assert settings.hotline_by_number("+13148897233").id == "safe_schools"  # type: ignore[union-attr]
    assert settings.hotline_by_number("+13146155055").id == "prea"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d.update(databse_url="x"), "databse_url: Extra inputs are not permitted"),
        (lambda d: d["hotlines"][0].update(number="555-1234"), "hotlines.0.number"),
        (lambda d: d["hotlines"][0].update(dispatcher_group="nobody"), "unknown group 'nobody'"),
        (lambda d: d["routing"][0].update(agencies=["ghost"]), "unknown agency 'ghost'"),
        (lambda d: d["voice"].update(reprompts=99), "voice.reprompts"),
        (lambda d: d["hotlines"][1].update(number=d["hotlines"][0]["number"]), "share a number"),
        (lambda d: d.update(public_url="tips.example.org"), "public_url"),
        # Every line is anonymous by construction: a line that says otherwise is refused,
        # not quietly run as an anonymous one.
        (lambda d: d["hotlines"][1].update(anonymous=False), "hotlines.1.anonymous"),
        (lambda d: d["hotlines"][1].update(anonymous=False), "non-anonymous lines are not supported"),
        (lambda d: d["pipeline"].update(liveness_seconds=1), "pipeline.liveness_seconds"),
        # Routed by district only: a report with no keypad choices would reach nobody.
        (
            lambda d: d.update(routing=[r for r in d["routing"] if r.get("choice") or r.get("category")]),
            "hotline safe_schools has no rule without `choice` and `category`",
        ),
    ],
)
def test_bad_keys_are_named(tmp_path: Path, change, expected: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SettingsError) as info:
        load_settings(write(tmp_path, change), environ=ENV)
    assert expected in str(info.value)
    assert str(tmp_path / "config.yaml") in str(info.value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("not base64!", "not valid base64"), (base64.b64encode(b"short").decode(), "32 bytes, not 5")],
)
def test_bad_master_key(value: str, expected: str) -> None:
    with pytest.raises(SettingsError, match=expected):
        load_settings(ROOT / "config.yaml", environ={**ENV, "HOTLINE_MASTER_KEY": value})


def test_missing_and_unparsable_files(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="not found"):
        load_settings(tmp_path / "nope.yaml", environ=ENV)
    bad = tmp_path / "bad.yaml"
    bad.write_text("hotlines: [unclosed")
    with pytest.raises(SettingsError, match="not valid YAML"):
        load_settings(bad, environ=ENV)


def test_development_secrets_are_generated_privately(tmp_path: Path) -> None:
    settings = load_settings(ROOT / "config.yaml", environ={}, overrides={"instance_path": str(tmp_path)})
    token_file = tmp_path / "dev-secrets" / "TWILIO_AUTH_TOKEN"
    assert settings.twilio_auth_token == token_file.read_text()
    assert token_file.stat().st_mode & 0o077 == 0
    again = load_settings(ROOT / "config.yaml", environ={}, overrides={"instance_path": str(tmp_path)})
    assert again.master_key == settings.master_key and len(settings.master_key) == 32


def test_retention_is_per_hotline_with_the_global_default() -> None:
    settings = load_settings(ROOT / "config.yaml", environ=ENV)
    assert settings.retention_days("safe_schools") == 365  # retention.recordings_days
    assert settings.retention_days("prea") == 3653
    assert settings.retention_days("a_retired_line") == 3653  # unknown: the longest, never less than PREA's
    assert settings.prea_reason(settings.hotline("prea")) == "kind: prea"  # type: ignore[arg-type]


def _prea(data) -> dict:  # type: ignore[no-untyped-def,type-arg]
    return next(h for h in data["hotlines"] if h["id"] == "prea")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        # One year, as the global default had it: refused, naming the key, the law and both figures.
        (
            lambda d: _prea(d).update(retention_days=365),
            "hotlines.prea.retention_days: prea is a PREA hotline (kind: prea), so 28 CFR 115.89 requires "
            "its reports be kept at least 10 years (3653 days), not 365 days",
        ),
        # No retention of its own: the global default applies, and is too short.
        (lambda d: _prea(d).pop("retention_days"), "hotlines.prea.retention_days (unset: retention.recordings_days)"),
        # Without `kind: prea`, a hotline whose reports reach a PREA unit is still recognised.
        (
            lambda d: (_prea(d).pop("kind"), _prea(d).update(retention_days=3000)),
            "(its reports go to the PREA unit 'prea_unit'), so 28 CFR 115.89 requires",
        ),
        (lambda d: d["hotlines"][0].update(retention_days=0), "hotlines.0.retention_days"),
        (lambda d: d["hotlines"][0].update(kind="jail"), "hotlines.0.kind"),
    ],
)
def test_a_prea_hotline_keeping_reports_under_ten_years_is_refused(tmp_path: Path, change, expected: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SettingsError) as info:
        load_settings(write(tmp_path, change), environ=ENV)
    assert expected in str(info.value)


def test_a_short_retention_is_fine_for_other_hotlines(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, lambda d: d["hotlines"][0].update(retention_days=30)), environ=ENV)
    assert settings.retention_days("safe_schools") == 30
