"""Passphrases offered instead of a PIN: four words drawn at random from a list written here.

About 33 bits for the English list (310 words), 32 for the Spanish one (261): with the
lockout (five wrong tries in 24 hours) nobody can guess one online, and each is hashed with
argon2 like a PIN.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from functools import cache
from pathlib import Path

WORDS = 4
_HERE = Path(__file__).resolve().parent


@cache
def word_list(language: str) -> tuple[str, ...]:
    """The words of a language's list (English unless it is Spanish)."""
    name = "words_es.txt" if language == "es" else "words_en.txt"
    return tuple(sorted(set((_HERE / name).read_text(encoding="utf-8").split())))


def generate(language: str) -> str:
    """Four random words, separated by single spaces."""
    words = word_list(language)
    return " ".join(secrets.choice(words) for _ in range(WORDS))


def normalize(secret: str) -> str:
    """What is hashed and compared: lower case, accents dropped, single spaces; a PIN unchanged."""
    folded = unicodedata.normalize("NFKD", secret.strip().lower())
    plain = "".join(c for c in folded if not unicodedata.combining(c))
    return re.sub(r"\s+", " ", plain)


def is_pin(secret: str) -> bool:
    """Four to eight ASCII digits (str.isdigit() also takes "٤" and "²", which no keypad types)."""
    return re.fullmatch(r"[0-9]{4,8}", secret) is not None


def is_passphrase(secret: str, language: str | None = None) -> bool:
    """Four words of one of the lists (the one offered, or either)."""
    words = normalize(secret).split(" ")
    lists = [word_list(language)] if language else [word_list("en"), word_list("es")]
    return len(words) == WORDS and any(all(w in wl for w in words) for wl in lists)
