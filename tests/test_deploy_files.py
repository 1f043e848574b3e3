"""The deployment files say what the README says they do (Docker is not run here: see README)."""

from __future__ import annotations

import http.server
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml
from rq import Queue, Worker

from tests.conftest import RedisServer

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
UNITS = DEPLOY / "systemd"
REQUIRED = ("TWILIO_AUTH_TOKEN", "HOTLINE_MASTER_KEY", "HOTLINE_SECRET_KEY", "HOTLINE_AUDIT_KEY")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    assert isinstance(data, dict)
    return data


def _gunicorn_args(command: list[str]) -> list[str]:
    """The command's gunicorn options, without those each place sets its own way."""
    args = command[command.index("gunicorn") + 1 :]
    out: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg in ("--bind", "--workers"):
            skip = True
        else:
            out.append(arg)
    return out


def _readme_command() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Deploy in production") : readme.index("## How it works")]
    found = re.search(r"\*\*Web\*\*: `(gunicorn app:app[^`]+)`", section)
    assert found, "the README's production command"
    return shlex.split(found.group(1))


def _dockerfile_cmd() -> list[str]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    (cmd,) = re.findall(r"^CMD (\[.*\])\s*$", text, re.MULTILINE)
    command = json.loads(cmd)
    assert isinstance(command, list)
    return command


def test_the_image_is_slim_non_root_with_the_readmes_command_and_a_health_check() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert re.findall(r"^FROM (\S+)", text, re.MULTILINE) == ["python:3.11-slim", "python:3.11-slim"]
    users = re.findall(r"^USER (\S+)", text, re.MULTILINE)
    assert users == ["hotline"]  # set once, before the command: never root at run time
    assert text.index("USER hotline") < text.index("CMD [")
    assert "HOTLINE_ENV=production" in text
    assert re.search(r'HEALTHCHECK .*\n\s+CMD \["python", "deploy/healthcheck.py", "web"\]', text)
    assert "pocketsphinx.get_model_path()" in text and "en-us.lm.bin" in text
    assert _gunicorn_args(_dockerfile_cmd()) == _gunicorn_args(_readme_command())
    for source in re.findall(r"^COPY (?!--from)(.+) \S+$", text, re.MULTILINE):
        for path in source.split():
            assert (ROOT / path).exists(), f"COPY {path}: missing"
    ignored = (ROOT / ".dockerignore").read_text().split()
    for secret_or_state in (".venv", "instance", "deploy/hotline.env", ".git"):
        assert secret_or_state in ignored


def test_compose_runs_two_web_nodes_two_workers_and_every_backing_service(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"proxy", "web1", "web2", "worker1", "worker2", "postgres", "redis", "seaweedfs"} <= set(services)
    one_shots = {name for name, svc in services.items() if svc.get("restart") == "no"}
    assert one_shots == {"migrate", "seaweedfs-bucket"}
    for name, svc in services.items():
        check = svc.get("healthcheck", {})
        if name in one_shots:
            continue
        assert check.get("test") and not check.get("disable"), f"{name} has no health check"
    assert services["web1"]["healthcheck"]["test"][-2:] == ["deploy/healthcheck.py", "web"]
    for worker in ("worker1", "worker2"):
        command = services[worker]["command"]
        assert command[:4] == ["flask", "--app", "app", "worker"]
        named = command[command.index("--name") + 1]
        assert services[worker]["healthcheck"]["test"][-2:] == ["worker", named]
    for name in ("web1", "web2", "worker1", "worker2", "migrate"):
        svc = services[name]
        assert svc["env_file"] == ["hotline.env"] and svc["build"]["dockerfile"] == "Dockerfile"
    for name in ("web1", "web2", "worker1", "worker2"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy"
    redis_command = services["redis"]["command"]
    assert redis_command[redis_command.index("--appendonly") + 1] == "yes"
    assert "-s3" in services["seaweedfs"]["command"]
    assert "443:443" in services["proxy"]["ports"] and services["proxy"]["image"].startswith("caddy:")
    caddyfile = (DEPLOY / "Caddyfile").read_text()
    assert "reverse_proxy web1:8000 web2:8000" in caddyfile and "health_uri /healthz" in caddyfile
    assert not re.search(r"^\s*log\b", caddyfile, re.MULTILINE)  # no access log of tipsters' addresses


def test_the_environment_example_names_every_required_secret_and_no_value() -> None:
    lines = (DEPLOY / "hotline.env.example").read_text().splitlines()
    values = dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))
    assert values["HOTLINE_ENV"] == "production"
    for name in REQUIRED:
        assert values[name] == "", f"{name} must be left for the operator to fill in"
    assert values["HOTLINE_STORAGE_URL"].startswith("s3://hotline/")
    assert "hotline.env" in (DEPLOY / ".gitignore").read_text().split()


def _unit(name: str) -> dict[str, list[str]]:
    """A unit's keys (continuation lines joined), each with every value it is given."""
    keys: dict[str, list[str]] = {}
    for line in (UNITS / name).read_text().replace("\\\n", " ").splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            keys.setdefault(key, []).append(value)
    return keys


@pytest.mark.parametrize("name", ["hotline-web.service", "hotline-worker@.service", "hotline-migrate.service"])
def test_the_systemd_units_run_production_unprivileged(name: str) -> None:
    unit = _unit(name)
    assert "HOTLINE_ENV=production" in unit["Environment"]
    assert unit["User"] == ["hotline"] and unit["EnvironmentFile"] == ["/etc/hotline/hotline.env"]
    assert unit["ProtectSystem"] == ["strict"] and unit["ReadWritePaths"] == ["/var/lib/hotline"]


def test_the_web_unit_runs_the_readmes_command() -> None:
    (exec_start,) = _unit("hotline-web.service")["ExecStart"]
    command = shlex.split(exec_start)
    assert command[0].endswith("/gunicorn")
    command[0] = "gunicorn"
    assert _gunicorn_args(command) == _gunicorn_args(_readme_command())


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_analyze_verifies_the_units(tmp_path: Path) -> None:
    # Pointed at this checkout's virtualenv: verify insists that the commands exist.
    venv = Path(sys.executable).parent.parent
    for unit in UNITS.glob("*.service"):
        text = unit.read_text().replace("/opt/hotline/.venv", str(venv)).replace("/opt/hotline", str(ROOT))
        (tmp_path / unit.name).write_text(text)
    done = subprocess.run(
        ["systemd-analyze", "verify", *sorted(str(p) for p in tmp_path.glob("*.service"))],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    # An unknown key or bad value is only a warning (exit status 0): any line about ours fails.
    problems = [line for line in done.stderr.splitlines() if "hotline" in line]
    assert done.returncode == 0 and not problems, done.stderr


def _check(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(DEPLOY / "healthcheck.py"), *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def healthz() -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/healthz" else 404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_the_web_health_check(healthz: str) -> None:
    assert _check("web", HOTLINE_HEALTH_URL=healthz + "/healthz").returncode == 0
    assert _check("web", HOTLINE_HEALTH_URL=healthz + "/nothing").returncode == 1
    assert _check("web", HOTLINE_HEALTH_URL="http://127.0.0.1:9/healthz").returncode == 1


def test_the_worker_health_check_wants_a_recent_heartbeat_of_that_worker(redis_server: RedisServer) -> None:
    connection = redis.Redis.from_url(redis_server.url)
    connection.flushall()
    worker = Worker([Queue("default", connection=connection)], connection=connection, name="worker1.ab12cd34")
    worker.register_birth()
    worker.heartbeat()
    try:
        assert _check("worker", "worker1", REDIS_URL=redis_server.url).returncode == 0
        missing = _check("worker", "worker2", REDIS_URL=redis_server.url)
        assert missing.returncode == 1 and "worker2" in missing.stdout
        stale = _check("worker", "worker1", REDIS_URL=redis_server.url, HOTLINE_WORKER_STALE_SECONDS="0")
        assert stale.returncode == 1
    finally:
        worker.register_death()
        connection.flushall()
