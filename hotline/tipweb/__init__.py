"""The anonymous web tip form: /tip lists the hotlines that take web tips, /tip/<hotline>
is a form generated from the hotline's flow, /tip/check opens a tip with its number and PIN.

questions  the form's fields, from the flow (wording for a page, not a keypad)
forms      reading and checking what was sent
uploads    attachments: sniffed, images re-encoded without metadata, stored encrypted
intake     the reports, events and audit entries the pages make (never an address)
tokens     the tipster's short-lived rights, in signed hidden fields instead of cookies
passphrase four random words, offered instead of a PIN
limiting   per-client limits (Flask-Limiter on the app's Redis) keyed by a daily-rotating HMAC
accesslog  keeping addresses, user agents and referrers out of the access logs for /tip
"""

from __future__ import annotations

import io
from typing import IO

from flask import Flask, Response, request
from flask.wrappers import Request

from hotline.tipweb import forms, limiting
from hotline.tipweb.accesslog import install_dev_filter, is_tip_path
from hotline.tipweb.views import bp

__all__ = ["bp", "init_tipweb"]

# Room for the text fields next to the files.
_FORM_ROOM = 1024 * 1024


class TipRequest(Request):
    """The app's request: /tip may send files (up to their limit), kept in memory only."""

    @property
    def max_content_length(self) -> int | None:
        if is_tip_path(self.path):
            from hotline.extensions import runtime

            web = runtime.get().settings.web
            return web.max_files * web.max_file_mb * 1024 * 1024 + _FORM_ROOM
        return super().max_content_length

    @max_content_length.setter
    def max_content_length(self, value: int | None) -> None:
        Request.max_content_length.fset(self, value)  # type: ignore[attr-defined]

    def _get_file_stream(
        self,
        total_content_length: int | None,
        content_type: str | None,
        filename: str | None = None,
        content_length: int | None = None,
    ) -> IO[bytes]:
        # Werkzeug spools uploads over 500 KB to a temporary file: a tipster's photo, in
        # clear, on disk. Memory instead (bounded by max_content_length).
        return io.BytesIO()


def _filed_or_files(response: Response) -> bool:
    """Whether a POST of the form counts against the tip limit: filed, or its files decoded."""
    if response.status_code == 200:
        return True
    try:
        return any(f.filename for f in request.files.getlist(forms.FILES_FIELD))
    except Exception:  # noqa: BLE001 - a body that could not be read (413) decoded nothing
        return False


def init_tipweb(app: Flask) -> None:
    """Register the pages, their limits and the access-log filter; call after init_auth (CSRF)."""
    from hotline.extensions import runtime

    settings = runtime.get(app).settings
    app.request_class = TipRequest
    app.register_blueprint(bp)
    limiter = limiting.init_limiter(app, settings)
    if settings.redis_url == "embedded":
        from hotline.extensions import queues

        def start_embedded_redis() -> None:
            # The limits are checked in the view: the embedded Redis must be up by then. The
            # queues start it on first use; this asks them (a ping when it is running).
            assert queues.url

        # This app's pages only (the blueprint is shared by every app in the process).
        app.before_request_funcs.setdefault(bp.name, []).append(start_embedded_redis)

    def tip_limit() -> str:
        return runtime.get().settings.web.tip_limit

    def check_limit() -> str:
        return runtime.get().settings.web.check_limit

    # Tips filed count; a form sent back with an error does not, unless it carried files: they
    # were decoded all the same (a big image costs a second of CPU). Every check counts.
    limiting.limited(app, limiter, "tip.submit", limiting.TIP, tip_limit, counts=_filed_or_files)
    for endpoint in ("tip.check", "tip.reply", "tip.set_pin"):
        limiting.limited(app, limiter, endpoint, limiting.CHECK, check_limit)
    install_dev_filter()
