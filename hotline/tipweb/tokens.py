"""Short-lived rights of an anonymous tipster, carried in a signed hidden field, not a cookie.

After filing, the tipster may choose a PIN for that tip; after opening a tip with its number
and PIN, they may reply without typing the PIN again. Each right is a token signed with the
app's secret (itsdangerous) that names the tip and the right, and expires.
"""

from __future__ import annotations

from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer

SET_PIN, REPLY = "set-pin", "reply"
MAX_AGE = {SET_PIN: 60 * 60, REPLY: 60 * 60}


def _serializer(right: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(str(current_app.config["SECRET_KEY"]), salt=f"tip-{right}")


def issue(right: str, tip_number: str) -> str:
    """A token granting `right` on the tip with this number."""
    return _serializer(right).dumps({"tip": tip_number})


def redeem(right: str, token: str) -> str | None:
    """The tip number a valid, unexpired token grants `right` on; None otherwise."""
    try:
        payload = _serializer(right).loads(token, max_age=MAX_AGE[right])
    except BadSignature:  # SignatureExpired is one
        return None
    tip = payload.get("tip") if isinstance(payload, dict) else None
    return tip if isinstance(tip, str) else None
