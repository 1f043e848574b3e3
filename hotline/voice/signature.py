"""Check X-Twilio-Signature against the public URL Twilio actually called."""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from flask import Request
from twilio.request_validator import RequestValidator


def public_url_of(request: Request, public_base: str) -> str:
    """Rebuild the URL Twilio signed: our public base URL plus the path and query string."""
    query = request.query_string.decode("latin-1")
    return f"{public_base}{request.path}" + (f"?{query}" if query else "")


def is_signed(
    validator: RequestValidator, url: str, params: Mapping[str, str], signature: str, fragment: str = ""
) -> bool:
    """Return whether the request carries a valid Twilio signature.

    A URL we gave Twilio with connection overrides in its fragment (`#rc=..`) reaches us
    without the fragment; the signature is accepted over the URL with or without it, since
    Twilio's documentation does not settle which one it signs.
    """
    if not signature:
        return False
    if _signed(validator, url, params, signature):
        return True
    return bool(fragment) and _signed(validator, url + fragment, params, signature)


def _signed(validator: RequestValidator, url: str, params: Mapping[str, str], signature: str) -> bool:
    # One HMAC over the exact public URL is the common case; validate() tries the URL with
    # and without a default port, which covers numbers configured with an explicit :443.
    expected = validator.compute_signature(url, dict(params))
    if hmac.compare_digest(expected, signature):
        return True
    return bool(validator.validate(url, dict(params), signature))
