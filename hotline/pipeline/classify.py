"""Derive urgency and categories from keypad choices and transcripts."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from hotline.states import URGENCY_RANK as URGENCY_RANK
from hotline.states import Urgency


@dataclass(frozen=True)
class Classification:
    urgency: str
    categories: tuple[str, ...]
    matched: Mapping[str, tuple[str, ...]]  # category -> the keywords heard


def _words(text: str) -> str:
    return " " + " ".join(re.findall(r"[\w']+", text.lower())) + " "


def classify(
    keypad_categories: Iterable[str],
    keypad_urgency: str,
    transcripts: Iterable[tuple[str, str]],
    keywords: Mapping[str, Mapping[str, list[str]]],
    urgency_of: Mapping[str, str],
) -> Classification:
    """Combine keypad choices with keyword matches in each (language, transcript)."""
    categories = list(dict.fromkeys(keypad_categories))
    matched: dict[str, list[str]] = {}
    for language, text in transcripts:
        haystack = _words(text)
        for category, by_language in keywords.items():
            for keyword in by_language.get(language, []):
                # Whole words or phrases only: "gun" must not match "begun".
                if f" {keyword.lower()} " in haystack:
                    matched.setdefault(category, []).append(keyword)
    for category in matched:
        if category not in categories:
            categories.append(category)
    if len(categories) > 1 and "other" in categories:
        categories.remove("other")
    urgency = keypad_urgency if keypad_urgency in URGENCY_RANK else Urgency.NORMAL
    for category in categories:
        level = urgency_of.get(category, Urgency.NORMAL)
        if URGENCY_RANK[level] > URGENCY_RANK[urgency]:
            urgency = level
    return Classification(urgency, tuple(categories), {k: tuple(dict.fromkeys(v)) for k, v in matched.items()})
