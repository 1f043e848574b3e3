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
from hotline.settings import load_settings


def main() -> int:
    settings = load_settings()
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
    procs = [
        subprocess.Popen([python, "-m", "flask", "--app", "app", "worker"], env=env),
        subprocess.Popen(
            [
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
            ],
            env=env,
        ),
    ]
    print(
        f"\nhotline is running: web on http://{bind}, one worker, "
        f"Redis at {env.get('REDIS_URL', settings.redis_url)}\n"
        f"Database: {settings.database_url}\n"
        "Place a simulated call from another terminal:\n"
        "    .venv/bin/flask --app app simulate safe_schools            (interactive)\n"
        "    .venv/bin/flask --app app simulate prea --keys 1,1,1,1 --say 'someone hurt my friend'\n"
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
        while not stopping and all(p.poll() is None for p in procs):
            time.sleep(0.5)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        if embedded:
            stop_embedded_redis(instance / "redis")
    failed = [p.args for p in procs if p.returncode not in (0, -signal.SIGTERM, None)]
    return 1 if failed and not stopping else 0


if __name__ == "__main__":
    sys.exit(main())
