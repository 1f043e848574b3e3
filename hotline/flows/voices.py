"""The text-to-speech voices a flow may name, with the languages Twilio lets each one speak.

Twilio refuses a `<Say>` whose voice it does not know, or whose `language` the voice does not
speak, and the caller hears "an application error has occurred". The loader checks every
flow's voices against this table at start-up and in `flask flows check`, so a typo such as
`Polly.Joana` is found before a caller finds it.

Amazon Polly voices are written `Polly.<Name>` (standard engine), `Polly.<Name>-Neural` or
`Polly.<Name>-Generative`. The table lists each voice's language codes, from Amazon Polly's
list of available voices; which engines a voice is offered on is not checked (Amazon keeps
adding them). A voice Amazon adds later is one line here. Google voices
(`Google.<language>-<model>-<variant>`) carry their language in their name, which must match.
"""

from __future__ import annotations

import difflib
import re

# Voice name: the languages it speaks. Bilingual voices list both.
POLLY: dict[str, tuple[str, ...]] = {
    # English (US)
    "Danielle": ("en-US",),
    "Gregory": ("en-US",),
    "Ivy": ("en-US",),
    "Joanna": ("en-US",),
    "Joey": ("en-US",),
    "Justin": ("en-US",),
    "Kendra": ("en-US",),
    "Kevin": ("en-US",),
    "Kimberly": ("en-US",),
    "Matthew": ("en-US",),
    "Ruth": ("en-US",),
    "Salli": ("en-US",),
    "Stephen": ("en-US",),
    # Spanish (US, Mexico, Spain)
    "Lupe": ("es-US",),
    "Penelope": ("es-US",),
    "Miguel": ("es-US",),
    "Pedro": ("es-US",),
    "Mia": ("es-MX",),
    "Andres": ("es-MX",),
    "Conchita": ("es-ES",),
    "Lucia": ("es-ES",),
    "Enrique": ("es-ES",),
    "Sergio": ("es-ES",),
    # Other English
    "Amy": ("en-GB",),
    "Emma": ("en-GB",),
    "Brian": ("en-GB",),
    "Arthur": ("en-GB",),
    "Nicole": ("en-AU",),
    "Russell": ("en-AU",),
    "Olivia": ("en-AU",),
    "Aditi": ("en-IN", "hi-IN"),
    "Raveena": ("en-IN",),
    "Kajal": ("en-IN", "hi-IN"),
    "Niamh": ("en-IE",),
    "Aria": ("en-NZ",),
    "Ayanda": ("en-ZA",),
    "Geraint": ("en-GB-WLS",),
    # French, German, Italian, Portuguese
    "Celine": ("fr-FR",),
    "Lea": ("fr-FR",),
    "Mathieu": ("fr-FR",),
    "Remi": ("fr-FR",),
    "Chantal": ("fr-CA",),
    "Gabrielle": ("fr-CA",),
    "Liam": ("fr-CA",),
    "Marlene": ("de-DE",),
    "Vicki": ("de-DE",),
    "Hans": ("de-DE",),
    "Daniel": ("de-DE",),
    "Carla": ("it-IT",),
    "Bianca": ("it-IT",),
    "Giorgio": ("it-IT",),
    "Adriano": ("it-IT",),
    "Camila": ("pt-BR",),
    "Vitoria": ("pt-BR",),
    "Ricardo": ("pt-BR",),
    "Thiago": ("pt-BR",),
    "Ines": ("pt-PT",),
    "Cristiano": ("pt-PT",),
    # Asian and Arabic languages
    "Zhiyu": ("cmn-CN",),
    "Mizuki": ("ja-JP",),
    "Takumi": ("ja-JP",),
    "Kazuha": ("ja-JP",),
    "Tomoko": ("ja-JP",),
    "Seoyeon": ("ko-KR",),
    "Zeina": ("arb",),
    "Hala": ("ar-AE",),
    "Zayd": ("ar-AE",),
    # Other European languages
    "Tatyana": ("ru-RU",),
    "Maxim": ("ru-RU",),
    "Ewa": ("pl-PL",),
    "Maja": ("pl-PL",),
    "Jacek": ("pl-PL",),
    "Jan": ("pl-PL",),
    "Ola": ("pl-PL",),
    "Lotte": ("nl-NL",),
    "Ruben": ("nl-NL",),
    "Laura": ("nl-NL",),
    "Naja": ("da-DK",),
    "Mads": ("da-DK",),
    "Sofie": ("da-DK",),
    "Liv": ("nb-NO",),
    "Ida": ("nb-NO",),
    "Astrid": ("sv-SE",),
    "Elin": ("sv-SE",),
    "Filiz": ("tr-TR",),
    "Burcu": ("tr-TR",),
    "Carmen": ("ro-RO",),
    "Gwyneth": ("cy-GB",),
    "Dora": ("is-IS",),
    "Karl": ("is-IS",),
}
_POLLY = re.compile(r"^Polly\.([A-Za-z]+)(-Neural|-Generative)?$")
_GOOGLE = re.compile(r"^Google\.([a-z]{2,3}-[A-Z]{2})-[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*-[A-Z0-9]+$")


def _names() -> list[str]:
    return [f"Polly.{name}" for name in POLLY]


def check_voice(voice: str, language: str) -> str | None:
    """Return what is wrong with speaking `language` in `voice`, or None if Twilio accepts it."""
    google = _GOOGLE.match(voice)
    if google:
        if google.group(1) != language:
            return f"voice {voice!r} speaks {google.group(1)}, not {language}"
        return None
    polly = _POLLY.match(voice)
    entry = POLLY.get(polly.group(1)) if polly else None
    if polly is None or entry is None:
        close = difflib.get_close_matches(voice.split("-")[0], _names(), n=1, cutoff=0.75)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return (
            f"voice {voice!r} is not a known Twilio voice{hint}; use Polly.<Name>[-Neural|-Generative] "
            "or Google.<language>-<model>-<variant> (known Polly voices: hotline/flows/voices.py)"
        )
    if language not in entry:
        speakers = ", ".join(f"Polly.{n}" for n, langs in POLLY.items() if language in langs)
        hint = f"; {language} voices: {speakers}" if speakers else ""
        return f"voice {voice!r} speaks {', '.join(entry)}, not {language}{hint}"
    return None
