"""Outside attack on issue 9's regional Twilio hosts: a forged RecordingUrl on any host but the
configured region's own names is refused, whatever trick spells it; the download always goes
to the configured base, and API-key settings never weaken the account check."""

from __future__ import annotations

import pytest

from hotline.twilio_api import ForbiddenUrl, TwilioApi

ACCOUNT = "AC" + "1" * 32
RECORDING = "RE" + "3" * 32
PATH = f"/2010-04-01/Accounts/{ACCOUNT}/Recordings/{RECORDING}"
REGIONAL = TwilioApi("https://api.dublin.ie1.twilio.com", ACCOUNT, "token", api_key="SK" + "2" * 32, api_secret="s")
US1_EDGE = TwilioApi("https://api.ashburn.us1.twilio.com", ACCOUNT, "token")

SPOOFS = [
    "https://evil.example/{p}",
    "https://api.dublin.ie1.twilio.com.evil.example{p}",
    "https://api.dublin.ie1.twilio.com.{p}",
    "https://API.DUBLIN.IE1.TWILIO.COM{p}",
    "https://api.dublin.ie1.twilio.com:443{p}",
    "https://api.dublin.ie1.twilio.com:8443{p}",
    "https://user@api.dublin.ie1.twilio.com{p}",
    "https://api.dublin.ie1.twilio.com@evil.example{p}",
    "https://evil.example#@api.dublin.ie1.twilio.com{p}",
    "https://evil.example\\@api.dublin.ie1.twilio.com{p}",
    "http://api.dublin.ie1.twilio.com{p}",
    "https://api%2Edublin.ie1.twilio.com{p}",
    "https://api.dublin.ie1.twilio.com%00.evil.example{p}",
    "https://аpi.dublin.ie1.twilio.com{p}",  # Cyrillic a
    "https://xn--pi-7kc.dublin.ie1.twilio.com{p}",
    "https://api.sydney.au1.twilio.com{p}",  # another region of Twilio's
    "https://api.au1.twilio.com{p}",
    "https://api.twilio.com{p}",  # US1 is not this account's region
    "https://api.dublin.ie1.twilio.com.{p}",
    "https://api.twilio.com@api.dublin.ie1.twilio.com{p}",
    "//api.dublin.ie1.twilio.com{p}",
    "https://api.dublin.ie1.twilio.com/2010-04-01/Accounts/AC" + "9" * 32 + "/Recordings/" + RECORDING,
    "https://api.dublin.ie1.twilio.com{p}/../../Calls",
    "https://api.dublin.ie1.twilio.com{p}%2F..%2FCalls",
    "https://api.dublin.ie1.twilio.com/2010-04-01/Accounts/" + ACCOUNT + "/Recordings/RE" + "3" * 33,
]


@pytest.mark.parametrize("url", SPOOFS)
def test_a_forged_recording_url_is_refused(url: str) -> None:
    with pytest.raises(ForbiddenUrl):
        REGIONAL.recording_media_url(url.format(p=PATH))


@pytest.mark.parametrize(
    "url",
    [
        f"https://api.dublin.ie1.twilio.com{PATH}",
        f"https://api.ie1.twilio.com{PATH}.wav",
        f"https://api.ie1.twilio.com{PATH}?x=1#y",
    ],
)
def test_the_regions_own_names_are_fetched_from_the_configured_base(url: str) -> None:
    assert REGIONAL.recording_media_url(url) == f"https://api.dublin.ie1.twilio.com{PATH}.wav"


def test_us1_edge_accepts_plain_api_twilio_com_and_nothing_else() -> None:
    assert (
        US1_EDGE.recording_media_url(f"https://api.twilio.com{PATH}") == f"https://api.ashburn.us1.twilio.com{PATH}.wav"
    )
    for url in SPOOFS:
        if "api.twilio.com{p}" in url and "@" not in url:
            continue
        with pytest.raises(ForbiddenUrl):
            US1_EDGE.recording_media_url(url.format(p=PATH).replace("dublin.ie1", "ashburn.us1"))
