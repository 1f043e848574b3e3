"""Twilio API keys for REST calls, and Twilio's regional hosts for the REST API and recordings."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest

from hotline.settings import Settings, SettingsError, load_settings
from hotline.simulator import audio
from hotline.simulator.fake_twilio import FakeTwilio
from hotline.twilio_api import ForbiddenUrl, TwilioApi, TwilioError
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN

ROOT = Path(__file__).resolve().parents[2]
API_KEY = "SK" + "2" * 32
API_SECRET = "s3cret-of-the-key-0123456789abcd"
RECORDING = "RE" + "3" * 32
PATH = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{RECORDING}"


def _settings(environ: dict[str, str] | None = None, **overrides: object) -> Settings:
    secrets = {"twilio_auth_token": AUTH_TOKEN, "secret_key": "x", "audit_key": "a" * 32, "master_key": b"k" * 32}
    return load_settings(ROOT / "config.yaml", environ=environ or {}, overrides={**secrets, **overrides})


@pytest.fixture
def keyed_twilio() -> Iterator[FakeTwilio]:
    with FakeTwilio(ACCOUNT_SID, AUTH_TOKEN, api_key=API_KEY, api_secret=API_SECRET) as fake:
        yield fake


# --- API keys ---------------------------------------------------------------------------


def test_the_environment_sets_the_api_key_and_the_services_use_it() -> None:
    from hotline.pipeline.services import Services

    settings = _settings({"TWILIO_API_KEY": API_KEY, "TWILIO_API_SECRET": API_SECRET})
    assert (settings.twilio_api_key, settings.twilio_api_secret) == (API_KEY, API_SECRET)
    api = Services(settings).twilio
    assert (api.api_key, api.api_secret, api.account_sid) == (API_KEY, API_SECRET, settings.twilio_account_sid)
    assert api.auth_token == AUTH_TOKEN  # still there: it checks webhook signatures


def test_a_key_without_its_secret_or_not_a_key_sid_is_refused() -> None:
    with pytest.raises(SettingsError, match="TWILIO_API_KEY and TWILIO_API_SECRET together"):
        _settings({"TWILIO_API_KEY": API_KEY})
    with pytest.raises(SettingsError, match="twilio_api_key"):
        _settings({"TWILIO_API_KEY": ACCOUNT_SID, "TWILIO_API_SECRET": API_SECRET})


def test_rest_calls_authenticate_with_the_key_and_keep_the_account_in_the_path(keyed_twilio: FakeTwilio) -> None:
    wav = audio.tone(0.2)
    keyed_twilio.add_recording(ACCOUNT_SID, RECORDING, wav, call_sid="CA" + "4" * 32)
    # A wrong auth token proves the key, not the token, authenticated the calls.
    api = TwilioApi(keyed_twilio.base_url, ACCOUNT_SID, "not-the-token", api_key=API_KEY, api_secret=API_SECRET)
    assert api.fetch_recording(keyed_twilio.base_url + PATH) == wav
    assert [r.sid for r in api.list_recordings(date.today() - timedelta(days=1))] == [RECORDING]
    assert api.send_sms("+15005550006", "+15005550006", "hello").startswith("SM")
    assert api.credentials_accepted()
    assert api.delete_recording(keyed_twilio.base_url + PATH)
    assert all(path.startswith(f"/2010-04-01/Accounts/{ACCOUNT_SID}") for _, path in keyed_twilio.requests_log)


def test_a_wrong_key_secret_is_refused(keyed_twilio: FakeTwilio) -> None:
    keyed_twilio.add_recording(ACCOUNT_SID, RECORDING, audio.tone(0.2))
    wrong = TwilioApi(keyed_twilio.base_url, ACCOUNT_SID, AUTH_TOKEN, api_key=API_KEY, api_secret="wrong", backoff=0)
    with pytest.raises(TwilioError) as info:
        wrong.fetch_recording(keyed_twilio.base_url + PATH)
    assert info.value.status == 401 and not info.value.retryable
    assert not wrong.credentials_accepted()
    other_key = TwilioApi(
        keyed_twilio.base_url, ACCOUNT_SID, AUTH_TOKEN, api_key="SK" + "9" * 32, api_secret=API_SECRET, backoff=0
    )
    assert not other_key.credentials_accepted()
    # The account's own token still works, as it does at Twilio.
    assert TwilioApi(keyed_twilio.base_url, ACCOUNT_SID, AUTH_TOKEN).credentials_accepted()


def test_a_fake_without_a_key_refuses_any_key(fake_twilio: FakeTwilio) -> None:
    api = TwilioApi(fake_twilio.base_url, ACCOUNT_SID, AUTH_TOKEN, api_key=API_KEY, api_secret=API_SECRET)
    assert not api.credentials_accepted()


# --- regions and edges ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, "https://api.twilio.com"),
        ({"TWILIO_REGION": "ie1", "TWILIO_EDGE": "dublin"}, "https://api.dublin.ie1.twilio.com"),
        ({"TWILIO_REGION": "au1"}, "https://api.sydney.au1.twilio.com"),
        ({"TWILIO_EDGE": "sydney"}, "https://api.sydney.us1.twilio.com"),
        ({"TWILIO_REGION": "us1"}, "https://api.twilio.com"),
        # A local stand-in for Twilio (the simulator, tests) is used as it is.
        ({"TWILIO_REGION": "ie1", "TWILIO_API_BASE_URL": "http://127.0.0.1:5099"}, "http://127.0.0.1:5099"),
    ],
)
def test_the_rest_base_url_follows_the_region_and_edge(environ: dict[str, str], expected: str) -> None:
    from hotline.pipeline.services import Services

    settings = _settings(environ)
    assert settings.twilio_rest_url() == expected
    assert Services(settings).twilio.base_url == expected


@pytest.mark.parametrize(
    ("environ", "field"),
    [
        ({"TWILIO_REGION": "de1"}, "twilio_edge: region 'de1' needs an edge location"),
        ({"TWILIO_REGION": "evil.com/x"}, "twilio_region"),
        ({"TWILIO_REGION": "ie1", "TWILIO_EDGE": "dublin.evil.com"}, "twilio_edge"),
    ],
)
def test_a_region_or_edge_that_is_no_host_name_part_is_refused(environ: dict[str, str], field: str) -> None:
    with pytest.raises(SettingsError, match=field):
        _settings(environ)


def _regional(base: str = "https://api.dublin.ie1.twilio.com") -> TwilioApi:
    return TwilioApi(base, ACCOUNT_SID, AUTH_TOKEN)


@pytest.mark.parametrize("host", ["api.dublin.ie1.twilio.com", "api.ie1.twilio.com"])
def test_recordings_on_the_configured_region_are_fetched_from_our_base(host: str) -> None:
    assert _regional().recording_media_url(f"https://{host}{PATH}") == f"https://api.dublin.ie1.twilio.com{PATH}.wav"


@pytest.mark.parametrize(
    "url",
    [
        f"https://api.twilio.com{PATH}",  # US1: another region's data
        f"https://api.sydney.au1.twilio.com{PATH}",
        f"https://api.au1.twilio.com{PATH}",
        f"https://api.sydney.ie1.twilio.com{PATH}",  # the right region through another edge
        f"https://api.dublin.ie1.twilio.com.evil.example{PATH}",
        f"https://evil-api.dublin.ie1.twilio.com{PATH}",
        f"https://api.dublin.ie1.twilio.com:8443{PATH}",
        f"https://api.dublin.ie1.twilio.com@evil.example{PATH}",
        f"https://user@api.dublin.ie1.twilio.com{PATH}",
        f"http://api.dublin.ie1.twilio.com{PATH}",
        f"https://API.DUBLIN.IE1.TWILIO.COM{PATH}",
        f"https://api.dublin.ie1.twilio.co{PATH}",
        f"https://api.ie1.twilio.com.evil.example{PATH}",
    ],
)
def test_look_alike_and_other_region_hosts_are_refused(url: str) -> None:
    with pytest.raises(ForbiddenUrl):
        _regional().recording_media_url(url)


def test_without_a_region_only_api_twilio_com_is_accepted() -> None:
    api = _regional("https://api.twilio.com")
    assert api.recording_media_url(f"https://api.twilio.com{PATH}") == f"https://api.twilio.com{PATH}.wav"
    for host in ("api.us1.twilio.com", "api.ie1.twilio.com", "api.dublin.ie1.twilio.com"):
        with pytest.raises(ForbiddenUrl):
            api.recording_media_url(f"https://{host}{PATH}")


def test_us1_through_an_edge_accepts_us1_names() -> None:
    api = _regional("https://api.sydney.us1.twilio.com")
    for host in ("api.sydney.us1.twilio.com", "api.us1.twilio.com", "api.twilio.com"):
        assert api.recording_media_url(f"https://{host}{PATH}") == f"https://api.sydney.us1.twilio.com{PATH}.wav"
    with pytest.raises(ForbiddenUrl):
        api.recording_media_url(f"https://api.sydney.au1.twilio.com{PATH}")
