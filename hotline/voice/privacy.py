"""Caller identity fields that must never be stored or logged on anonymous lines."""

from __future__ import annotations

from collections.abc import Mapping

IDENTITY_FIELDS = frozenset(
    {
        "From",
        "Caller",
        "CallerName",
        "CallerCity",
        "CallerState",
        "CallerZip",
        "CallerCountry",
        "FromCity",
        "FromState",
        "FromZip",
        "FromCountry",
        "ForwardedFrom",
        "CallToken",
        "StirVerstat",
        "StirPassportToken",
    }
)


def scrub(params: Mapping[str, str]) -> dict[str, str]:
    """Drop every caller identity field; what remains is safe to keep or log."""
    return {k: v for k, v in params.items() if k not in IDENTITY_FIELDS}
