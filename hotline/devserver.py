"""`make run`: migrate, start the embedded Redis, a worker and the web app; stop them on Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

from hotline.cli.database import upgrade
from hotline.embedded_redis import ensure_embedded_redis, stop_embedded_redis
from hotline.flows.loader import FlowError, load_hotline_flows
from hotline.settings import SettingsError, hide_password, load_settings


def main() -> int:
    try:
        settings = load_settings()
        # The flows too, before anything starts: a broken one would only show in the children.
        load_hotline_flows(Path(settings.flows_dir), settings.hotlines)
    except (SettingsError, FlowError) as exc:
        print(f"hotline cannot start: {exc}", file=sys.stderr)
        return 1
    instance = Path(settings.instance_path)
    env = dict(os.environ)
    embedded = settings.redis_url == "embedded"
    if embedded:
        env["REDIS_URL"] = ensure_embedded_redis(instance / "redis")
    upgrade(settings.database_url, settings=settings)
    if embedded and settings.database_url.startswith("sqlite:"):
        # Demo accounts for trying the review app on the embedded default (SQLite and the
        # embedded Redis), never on a deployment's database.
        from hotline.auth import create_demo_users

        for email, role, password, secret in create_demo_users(settings):
            print(f"demo {role}: {email}  password: {password}  TOTP secret: {secret}", flush=True)
    bind = os.environ.get("HOTLINE_BIND") or urlparse(settings.public_url).netloc or "127.0.0.1:5000"
    python = sys.executable
    web = [
        python,
        "-m",
        "gunicorn",
        "app:app",
        "--bind",
        bind,
        "--workers",
        "2",
        "--worker-class",
        "gthread",
        "--threads",
        "2",
        # Each worker gets its own listening socket: the kernel spreads connections.
        "--reuse-port",
        "--access-logfile",
        "-",
        # No address, user agent or referrer in the access log for the anonymous /tip pages.
        "--logger-class",
        "hotline.tipweb.accesslog.TipPrivacyLogger",
    ]
    group = Supervisor(env)
    group.start("worker", [python, "-m", "flask", "--app", "app", "worker"], restart=True)
    group.start("web", web, restart=False)
    print(
        f"\nhotline is running: web on http://{bind}, one worker, "
        f"Redis at {hide_password(env.get('REDIS_URL', settings.redis_url))}\n"
        f"Database: {hide_password(settings.database_url)}\n"
        "Place a simulated call from another terminal:\n"
        "    .venv/bin/flask --app app simulate safe_schools            (interactive)\n"
        "    .venv/bin/flask --app app simulate prea --keys 1,-,1,1,1 --say 'someone hurt my friend'\n"
        f"Review reports at http://{bind}/ : sign in with a demo account printed above (first run only;\n"
        "    `flask --app app users reset-password EMAIL` makes a new password). For the code, add the\n"
        "    TOTP secret to an authenticator app, or run:\n"
        "    .venv/bin/python -c \"import pyotp; print(pyotp.TOTP('SECRET').now())\"\n"
        "Press Ctrl-C to stop.\n",
        flush=True,
    )
    stopping = False

    def stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        while not stopping and group.poll():
            time.sleep(0.5)
    finally:
        group.stop()
        if embedded:
            stop_embedded_redis(instance / "redis")
    return 1 if group.failed and not stopping else 0


class Supervisor:
    """The dev server's child processes: one that may be restarted (the worker), others not.

    A worker that dies (a crash, the OOM killer, a Redis fault it did not survive) is started
    again after a growing, capped delay, and the web app keeps answering calls meanwhile:
    recordings wait in the database and Redis for the next worker. The web app dying ends
    everything, as before.
    """

    FIRST_WAIT, MAX_WAIT, HEALTHY_AFTER = 1.0, 30.0, 60.0

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.argv: dict[str, list[str]] = {}
        self.restartable: set[str] = set()
        self.started: dict[str, float] = {}
        self.waits: dict[str, float] = {}
        self.due: dict[str, float] = {}  # name -> when to start it again
        self.restarts: dict[str, int] = {}
        self.failed = False

    def start(self, name: str, argv: list[str], restart: bool) -> None:
        self.argv[name] = argv
        if restart:
            self.restartable.add(name)
        self._spawn(name)

    def _spawn(self, name: str) -> None:
        self.procs[name] = subprocess.Popen(self.argv[name], env=self.env)
        self.started[name] = time.monotonic()

    def poll(self) -> bool:
        """Restart what may be restarted; return False once a process that may not has ended."""
        now = time.monotonic()
        for name, proc in list(self.procs.items()):
            if name in self.due:
                if now >= self.due[name]:
                    del self.due[name]
                    self.restarts[name] = self.restarts.get(name, 0) + 1
                    self._spawn(name)
                continue
            code = proc.poll()
            if code is None:
                continue
            if name not in self.restartable:
                self.failed = code not in (0, -signal.SIGTERM)
                return False
            wait = self.waits.get(name, self.FIRST_WAIT)
            if now - self.started[name] > self.HEALTHY_AFTER:
                wait = self.FIRST_WAIT  # it had been running well: a new fault
            self.waits[name] = min(wait * 2, self.MAX_WAIT)
            self.due[name] = now + wait
            print(f"{name} exited with status {code}; starting it again in {wait:.1f} s", flush=True)
        return True

    def stop(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is None and name not in self.due:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


if __name__ == "__main__":
    sys.exit(main())
