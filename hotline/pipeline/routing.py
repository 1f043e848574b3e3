"""Decide which agencies receive a report, from the routing rules in config.yaml."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from hotline.settings import Settings


def route(settings: Settings, hotline_id: str, choices: Mapping[str, str], categories: Iterable[str]) -> list[str]:
    """Return the agency ids for a report, in rule order, each once."""
    hotline = settings.hotline(hotline_id)
    if hotline is not None and hotline.exclusive_agencies:
        # PREA: exactly these agencies, whatever else the rules say.
        return list(hotline.exclusive_agencies)
    cats = set(categories)
    agencies: list[str] = []
    for rule in settings.routing:
        if rule.hotline != hotline_id:
            continue
        if any(choices.get(name) != value for name, value in rule.choice.items()):
            continue
        if rule.category and not cats.intersection(rule.category):
            continue
        agencies.extend(a for a in rule.agencies if a not in agencies)
    return agencies
