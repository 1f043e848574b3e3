"""The hotline platform: Twilio call flows, a secure report queue, and its reviewers."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask

    from hotline.settings import Settings


def create_app(settings: Settings | None = None, overrides: Mapping[str, object] | None = None) -> Flask:
    """Build the app: settings, database, queues, flows, blueprints, commands."""
    # Imported here, not above: `import hotline.models` (a migration, a script) must not
    # import the web app, and every module under hotline imports this package first.
    from flask import Flask
    from werkzeug.middleware.proxy_fix import ProxyFix

    from hotline import extensions, retention
    from hotline.auth import init_auth
    from hotline.errors import init_errors
    from hotline.review import init_review
    from hotline.settings import load_settings

    settings = settings or load_settings(overrides=overrides)
    from hotline.pipeline.services import check_storage_at_startup

    check_storage_at_startup(settings)  # wrong S3 credentials or no bucket: stop, saying which
    app = Flask(__name__, instance_path=str(Path(settings.instance_path).resolve()))
    app.config["SECRET_KEY"] = settings.secret_key or secrets.token_hex(32)
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024  # Twilio's webhooks are a few KB

    if settings.trusted_proxies:
        # Only the client address: signature checks rebuild URLs from public_url instead.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxies)  # type: ignore[method-assign]
    extensions.init_app(app, settings)  # the app's own database, queues and services
    from hotline.ops.wiring import init_ops

    init_ops(app, settings)  # logs, request id, probes, metrics: first, so its hooks run first
    retention.install()  # every new report is stamped with its hotline's retention

    from hotline.voice import bp as voice_bp

    app.register_blueprint(voice_bp)
    init_auth(app)  # after the voice blueprint: it exempts the signed webhooks from CSRF
    init_review(app)  # after sign-in: every review page relies on its guard and CSRF
    from hotline.tipweb import init_tipweb

    init_tipweb(app)  # the anonymous web tip form (/tip): CSRF, its own limits and error pages
    init_errors(app)  # the app's own 403/404/500 pages; the voice webhooks keep theirs

    from hotline.cli import register_commands

    register_commands(app)
    return app
