"""A production start refuses to be unsafe: secrets from the environment only, never shown."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hotline.settings import REQUIRED_SECRETS, SECRET_FIELDS, SettingsError, load_settings

ROOT = Path(__file__).resolve().parents[1]
MASTER = b"\xfe\x01" * 16  # not UTF-8: a dump must not choke on it, nor show it
OLD_MASTER = b"\x80\x7f" * 16
SECRETS = {
    "TWILIO_AUTH_TOKEN": "tok-e1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6",
    "HOTLINE_MASTER_KEY": base64.b64encode(MASTER).decode(),
    "HOTLINE_OLD_MASTER_KEYS": base64.b64encode(OLD_MASTER).decode(),
    "HOTLINE_SECRET_KEY": "sess-9f8e7d6c5b4a39281706f5e4d3c2b1a0",
    "HOTLINE_AUDIT_KEY": "audit-0a1b2c3d4e5f60718293a4b5c6d7e8f9",
    "HOTLINE_WEBHOOK_SECRET": "hook-5a5a5a5a5a5a5a5a5a5a",
    "HOTLINE_SMTP_PASSWORD": "smtp-pw-correct-horse",
    "TWILIO_API_KEY": "SK" + "ab" * 16,
    "TWILIO_API_SECRET": "apisecret-77777777777777",
}
REQUIRED = ("TWILIO_AUTH_TOKEN", "HOTLINE_MASTER_KEY", "HOTLINE_SECRET_KEY", "HOTLINE_AUDIT_KEY")


def _production(tmp_path: Path, **env: str) -> dict[str, str]:
    return {"HOTLINE_ENV": "production", "HOTLINE_INSTANCE_PATH": str(tmp_path / "instance"), **env}


def test_every_required_secret_is_named_in_one_message(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(ROOT / "config.yaml", environ=_production(tmp_path))
    message = str(info.value)
    for name in REQUIRED:
        assert name in message
    assert "HOTLINE_ENV" in message
    assert not (tmp_path / "instance" / "dev-secrets").exists()  # nothing generated outside development
    assert {SECRET_FIELDS[key] for key in REQUIRED_SECRETS} == set(REQUIRED)


@pytest.mark.parametrize("missing", REQUIRED)
def test_one_missing_secret_is_named_alone(tmp_path: Path, missing: str) -> None:
    env = _production(tmp_path, **{k: v for k, v in SECRETS.items() if k in REQUIRED and k != missing})
    with pytest.raises(SettingsError) as info:
        load_settings(ROOT / "config.yaml", environ=env)
    named = [name for name in REQUIRED if name in str(info.value)]
    assert named == [missing]


@pytest.mark.parametrize("env_name", ["production", "staging", "prod"])
def test_any_environment_but_development_is_production(tmp_path: Path, env_name: str) -> None:
    with pytest.raises(SettingsError, match="TWILIO_AUTH_TOKEN"):
        load_settings(ROOT / "config.yaml", environ={**_production(tmp_path), "HOTLINE_ENV": env_name})
    settings = load_settings(
        ROOT / "config.yaml", environ={**_production(tmp_path, **SECRETS), "HOTLINE_ENV": env_name}
    )
    assert settings.environment == env_name and not settings.development
    assert settings.twilio_auth_token == SECRETS["TWILIO_AUTH_TOKEN"] and settings.master_key == MASTER
    # No development fallback either: the real Twilio API, not the simulator's stand-in.
    assert settings.twilio_rest_url() == "https://api.twilio.com"
    assert not (tmp_path / "instance" / "dev-secrets").exists()


def test_development_stays_the_default_and_generates_its_secrets(tmp_path: Path) -> None:
    for environ in ({}, {"HOTLINE_ENV": "development"}):
        settings = load_settings(ROOT / "config.yaml", environ=environ, overrides={"instance_path": str(tmp_path)})
        assert settings.development and settings.environment == "development"
        assert settings.twilio_auth_token == (tmp_path / "dev-secrets" / "TWILIO_AUTH_TOKEN").read_text()


def _config_with(tmp_path: Path, change) -> Path:  # type: ignore[no-untyped-def]
    data = yaml.safe_load((ROOT / "config.yaml").read_text())
    change(data)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    ("change", "key", "variable"),
    [
        (lambda d: d.update(twilio_auth_token="leaked-in-file-1"), "twilio_auth_token", "TWILIO_AUTH_TOKEN"),
        (lambda d: d.update(master_key="leaked-in-file-1"), "master_key", "HOTLINE_MASTER_KEY"),
        (lambda d: d.update(audit_key="leaked-in-file-1"), "audit_key", "HOTLINE_AUDIT_KEY"),
        (
            lambda d: d["notifications"].update(smtp={"host": "h", "sender": "s", "password": "leaked-in-file-1"}),
            "notifications.smtp.password",
            None,
        ),
        (lambda d: d.update(metrics_token="leaked-in-file-1"), "metrics_token", None),
    ],
)
@pytest.mark.parametrize("env_name", ["development", "production"])
def test_a_secret_in_config_yaml_is_refused(
    tmp_path: Path, change, key: str, variable: str | None, env_name: str
) -> None:  # type: ignore[no-untyped-def]
    path = _config_with(tmp_path, change)
    with pytest.raises(SettingsError) as info:
        load_settings(path, environ={**_production(tmp_path, **SECRETS), "HOTLINE_ENV": env_name})
    message = str(info.value)
    assert str(path) in message and key in message and "never read from the configuration file" in message
    if variable:
        assert variable in message
    assert "leaked-in-file-1" not in message


def test_the_environment_is_not_a_file_key(tmp_path: Path) -> None:
    path = _config_with(tmp_path, lambda d: d.update(environment="development"))
    with pytest.raises(SettingsError, match="HOTLINE_ENV"):
        load_settings(path, environ=_production(tmp_path, **SECRETS))


def test_the_shipped_config_has_no_secret() -> None:
    load_settings(ROOT / "config.yaml", environ={"HOTLINE_ENV": "production", **SECRETS})


def _secret_texts() -> list[str]:
    """Every form in which a secret could leak: the values, and the keys' bytes and base64."""
    texts = [value for name, value in SECRETS.items() if name != "TWILIO_API_KEY"]
    for raw in (MASTER, OLD_MASTER):
        texts += [repr(raw)[2:-1], raw.hex(), base64.b64encode(raw).decode()]
    return texts


def test_printing_the_settings_never_shows_a_secret(tmp_path: Path) -> None:
    settings = load_settings(ROOT / "config.yaml", environ=_production(tmp_path, **SECRETS))
    assert settings.smtp_password == SECRETS["HOTLINE_SMTP_PASSWORD"] and settings.old_master_keys == [OLD_MASTER]
    shown = {
        "repr": repr(settings),
        "str": str(settings),
        "format": f"{settings!r} {settings}",
        "model_dump_json": settings.model_dump_json(),
        "model_dump": str(settings.model_dump()),
        "model_dump_json(indent)": settings.model_dump_json(indent=2),
    }
    for how, text in shown.items():
        for secret in _secret_texts():
            assert secret not in text, f"{how} shows a secret"
        assert "**********" in text  # masked, so a reader still sees that each one is set
        assert "https://api.twilio.com" in text  # and the rest is still there
    assert settings.model_dump()["twilio_auth_token"] == "**********"


def _start(command: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("HOTLINE_", "TWILIO_"))}
    env = {**keep, "HOTLINE_ENV": "production", "HOTLINE_INSTANCE_PATH": str(tmp_path / "instance")}
    env["TWILIO_AUTH_TOKEN"] = SECRETS["TWILIO_AUTH_TOKEN"]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("command", "status"),
    [
        ([sys.executable, "-m", "flask", "--app", "app", "worker", "--burst"], 1),
        ([sys.executable, "-m", "hotline.devserver"], 1),
        # Gunicorn stops on its "app failed to load" (4) rather than restarting workers forever.
        ([sys.executable, "-m", "gunicorn", "app:app", "--bind", "127.0.0.1:0", "--workers", "1"], 4),
    ],
    ids=["worker", "devserver", "gunicorn"],
)
def test_every_entry_point_stops_with_the_same_message(tmp_path: Path, command: list[str], status: int) -> None:
    done = _start(command, tmp_path)
    assert done.returncode == status
    first = next(line for line in done.stderr.splitlines() if "hotline cannot start" in line)
    assert first.startswith("hotline cannot start: HOTLINE_ENV is 'production'")
    if status == 1:  # the CLI says nothing else; gunicorn logs its own lines around it
        assert done.stderr.strip().splitlines()[0] == first
    assert "HOTLINE_MASTER_KEY, HOTLINE_SECRET_KEY, HOTLINE_AUDIT_KEY" in first
    assert "Traceback" not in done.stderr and SECRETS["TWILIO_AUTH_TOKEN"] not in done.stderr + done.stdout
    assert not (tmp_path / "instance" / "dev-secrets").exists()
