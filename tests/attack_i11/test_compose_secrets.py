"""The app's secrets reach only the app's containers, never the internet-facing proxy nor the stores."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
APP_SECRETS = (
    "TWILIO_AUTH_TOKEN",
    "HOTLINE_MASTER_KEY",
    "HOTLINE_SECRET_KEY",
    "HOTLINE_AUDIT_KEY",
    "TWILIO_API_SECRET",
)
# What each third-party container needs of deploy/hotline.env, and nothing more.
NEEDS = {
    "proxy": {"HOTLINE_DOMAIN"},
    "postgres": {"POSTGRES_USER", "POSTGRES_DB", "POSTGRES_PASSWORD"},
    "seaweedfs": {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"},
    "redis": set(),
    "seaweedfs-bucket": set(),
}


def _services() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())
    return dict(data["services"])


def test_only_the_app_containers_read_the_whole_env_file() -> None:
    services = _services()
    for name, needs in NEEDS.items():
        svc = services[name]
        assert "env_file" not in svc, f"{name} gets every secret of hotline.env"
        given = svc.get("environment", {})
        assert set(given) == needs, name
        for variable, value in given.items():
            # Each is interpolated by compose (--env-file deploy/hotline.env) and required.
            assert re.fullmatch(rf"\$\{{{variable}:\?[^}}]+\}}", str(value)), (name, value)
        assert not set(given) & set(APP_SECRETS)


def test_the_readme_passes_the_env_file_to_every_compose_command() -> None:
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"^docker compose .*$", readme, re.MULTILINE)
    assert commands
    for command in commands:
        assert "--env-file deploy/hotline.env" in command, command
