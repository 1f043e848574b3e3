"""FakeTwilio over real HTTP: auth, recordings, deletion, SMS, fault injection."""

from __future__ import annotations

import requests

from hotline.simulator import audio
from hotline.simulator.fake_twilio import FakeTwilio
from tests.simulator.conftest import ACCOUNT_SID, AUTH_TOKEN

AUTH = (ACCOUNT_SID, AUTH_TOKEN)
SID = "RE" + "1" * 32


def recording_url(fake: FakeTwilio, sid: str = SID, account: str = ACCOUNT_SID) -> str:
    return f"{fake.base_url}/2010-04-01/Accounts/{account}/Recordings/{sid}"


def test_recording_needs_basic_auth(fake_twilio: FakeTwilio) -> None:
    wav = audio.tone(0.5)
    fake_twilio.add_recording(ACCOUNT_SID, SID, wav)

    anonymous = requests.get(recording_url(fake_twilio) + ".wav", timeout=5)
    wrong = requests.get(recording_url(fake_twilio) + ".wav", auth=(ACCOUNT_SID, "x" * 32), timeout=5)
    assert anonymous.status_code == wrong.status_code == 401
    assert anonymous.json()["code"] == 20003
    assert "Basic" in anonymous.headers["WWW-Authenticate"]

    for suffix in (".wav", ""):
        ok = requests.get(recording_url(fake_twilio) + suffix, auth=AUTH, timeout=5)
        assert ok.status_code == 200 and ok.content == wav
        assert ok.headers["Content-Type"] == "audio/x-wav"
    meta = requests.get(recording_url(fake_twilio) + ".json", auth=AUTH, timeout=5)
    assert meta.json()["sid"] == SID and meta.json()["account_sid"] == ACCOUNT_SID
    assert fake_twilio.fetched == [SID, SID]


def test_unknown_recording_and_other_accounts_are_404(fake_twilio: FakeTwilio) -> None:
    fake_twilio.add_recording(ACCOUNT_SID, SID, audio.tone(0.2))
    other = "AC" + "b" * 32

    assert requests.get(recording_url(fake_twilio, "RE" + "2" * 32) + ".wav", auth=AUTH, timeout=5).status_code == 404
    assert requests.get(recording_url(fake_twilio, account=other) + ".wav", auth=AUTH, timeout=5).status_code == 404
    assert requests.get(f"{fake_twilio.base_url}/nothing", timeout=5).status_code == 404


def test_delete_recording(fake_twilio: FakeTwilio) -> None:
    fake_twilio.add_recording(ACCOUNT_SID, SID, audio.tone(0.2))

    assert requests.delete(recording_url(fake_twilio) + ".json", timeout=5).status_code == 401
    assert fake_twilio.has_recording(SID)
    deleted = requests.delete(recording_url(fake_twilio) + ".json", auth=AUTH, timeout=5)
    assert deleted.status_code == 204 and deleted.content == b""
    assert fake_twilio.deleted == {SID} and not fake_twilio.has_recording(SID)
    assert requests.delete(recording_url(fake_twilio) + ".json", auth=AUTH, timeout=5).status_code == 404
    assert requests.get(recording_url(fake_twilio) + ".wav", auth=AUTH, timeout=5).status_code == 404


def test_send_sms(fake_twilio: FakeTwilio) -> None:
    url = f"{fake_twilio.base_url}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    form = {"To": "+13145550123", "From": "+13145550000", "Body": "New critical tip"}

    assert requests.post(url, data=form, timeout=5).status_code == 401
    sent = requests.post(url, data=form, auth=AUTH, timeout=5)

    assert sent.status_code == 201
    body = sent.json()
    assert body["sid"].startswith("SM") and len(body["sid"]) == 34
    assert (body["to"], body["from"], body["body"], body["status"]) == (*form.values(), "queued")
    assert fake_twilio.messages == [body]
    missing = requests.post(url, data={"From": "+13145550000", "Body": "x"}, auth=AUTH, timeout=5)
    assert missing.status_code == 400 and missing.json()["code"] == 21604


def test_fail_next(fake_twilio: FakeTwilio) -> None:
    fake_twilio.add_recording(ACCOUNT_SID, SID, audio.tone(0.2))
    fake_twilio.fail_next("/Recordings/", times=2, status=503)
    fake_twilio.fail_next("Messages", times=1)

    statuses = [requests.get(recording_url(fake_twilio) + ".wav", auth=AUTH, timeout=5).status_code for _ in range(3)]
    assert statuses == [503, 503, 200]
    url = f"{fake_twilio.base_url}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    form = {"To": "+1", "From": "+2", "Body": "x"}
    assert requests.post(url, data=form, auth=AUTH, timeout=5).status_code == 500
    assert requests.post(url, data=form, auth=AUTH, timeout=5).status_code == 201
    assert len(fake_twilio.messages) == 1
    assert fake_twilio.requests_log[0] == ("GET", f"/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{SID}.wav")
    assert [m for m, _ in fake_twilio.requests_log] == ["GET"] * 3 + ["POST"] * 2


def test_works_with_the_twilio_adapter_contract(fake_twilio: FakeTwilio) -> None:
    """The calls hotline.twilio_api makes: fetch .wav then DELETE .json, both with basic auth."""
    fake_twilio.add_recording(ACCOUNT_SID, SID, audio.tone(0.2))
    with requests.Session() as session:
        session.auth = AUTH
        assert session.get(recording_url(fake_twilio) + ".wav", timeout=5).content[:4] == b"RIFF"
        assert session.delete(recording_url(fake_twilio) + ".json", timeout=5).status_code == 204


def test_start_stop_releases_the_port() -> None:
    fake = FakeTwilio(ACCOUNT_SID, AUTH_TOKEN).start()
    base = fake.base_url
    fake.stop()
    try:
        requests.get(base, timeout=1)
        raise AssertionError("still serving after stop()")
    except requests.ConnectionError:
        pass


def test_faults_after_the_work_and_dropped_connections(fake_twilio: FakeTwilio) -> None:
    url = f"{fake_twilio.base_url}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    form = {"To": "+13145550123", "From": "+13145550000", "Body": "x"}
    fake_twilio.fail_next("Messages", kind="after", status=500)
    assert requests.post(url, data=form, auth=AUTH, timeout=5).status_code == 500
    assert len(fake_twilio.messages) == 1  # sent, though the answer says otherwise
    fake_twilio.fail_next("Messages", kind="drop_after")
    fake_twilio.fail_next("Messages", kind="drop")
    for _ in range(2):
        try:
            requests.post(url, data=form, auth=AUTH, timeout=5)
            raise AssertionError("answered despite a dropped connection")
        except requests.ConnectionError:
            pass
    assert len(fake_twilio.messages) == 2  # drop_after sent it; drop did not


def test_message_list_and_account(fake_twilio: FakeTwilio) -> None:
    url = f"{fake_twilio.base_url}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    for to in ("+13145550001", "+13145550002", "+13145550001"):
        requests.post(url, data={"To": to, "From": "+13145550000", "Body": to}, auth=AUTH, timeout=5)
    listed = requests.get(url, params={"To": "+13145550001", "PageSize": 1}, auth=AUTH, timeout=5).json()
    assert [m["to"] for m in listed["messages"]] == ["+13145550001"]
    assert listed["messages"][0]["sid"] == fake_twilio.messages[2]["sid"]  # newest first
    assert listed["page_size"] == 1 and listed["next_page_uri"] is None
    bad = requests.post(url, data={"To": "+15005550001", "From": "+13145550000", "Body": "x"}, auth=AUTH, timeout=5)
    assert bad.status_code == 400 and bad.json()["code"] == 21211
    account = f"{fake_twilio.base_url}/2010-04-01/Accounts/{ACCOUNT_SID}.json"
    assert requests.get(account, auth=AUTH, timeout=5).json()["status"] == "active"
    assert requests.get(account, auth=(ACCOUNT_SID, "x" * 32), timeout=5).status_code == 401


def test_a_restart_serves_the_same_url() -> None:
    fake = FakeTwilio(ACCOUNT_SID, AUTH_TOKEN).start()
    base = fake.base_url
    fake.add_recording(ACCOUNT_SID, SID, audio.tone(0.2))
    fake.stop()
    try:
        fake.start()
        assert fake.base_url == base
        assert requests.get(recording_url(fake) + ".wav", auth=AUTH, timeout=5).status_code == 200
    finally:
        fake.stop()


def test_an_api_key_of_the_account_is_accepted_as_twilio_does() -> None:
    key, secret = "SK" + "5" * 32, "the-key-secret"
    with FakeTwilio(ACCOUNT_SID, AUTH_TOKEN, api_key=key, api_secret=secret) as fake:
        fake.add_recording(ACCOUNT_SID, SID, audio.tone(0.2))
        wav = recording_url(fake) + ".wav"
        assert requests.get(wav, auth=(key, secret), timeout=5).status_code == 200
        assert requests.get(wav, auth=AUTH, timeout=5).status_code == 200  # the auth token still works
        for wrong in ((key, "x"), (key, AUTH_TOKEN), ("SK" + "6" * 32, secret), (ACCOUNT_SID, secret)):
            assert requests.get(wav, auth=wrong, timeout=5).status_code == 401, wrong
        # The account SID stays in the path: a key does not open another account's recordings.
        other = recording_url(fake, account="AC" + "b" * 32) + ".wav"
        assert requests.get(other, auth=(key, secret), timeout=5).status_code == 404
        # Like a Standard key, it may not read the Account resource itself.
        account = f"{fake.base_url}/2010-04-01/Accounts/{ACCOUNT_SID}.json"
        assert requests.get(account, auth=(key, secret), timeout=5).status_code == 403
        assert requests.get(account, auth=AUTH, timeout=5).status_code == 200


def test_without_a_key_configured_no_key_is_accepted(fake_twilio: FakeTwilio) -> None:
    fake_twilio.add_recording(ACCOUNT_SID, SID, audio.tone(0.2))
    assert requests.get(recording_url(fake_twilio) + ".wav", auth=("", ""), timeout=5).status_code == 401
    assert requests.get(recording_url(fake_twilio) + ".wav", auth=("SK" + "5" * 32, ""), timeout=5).status_code == 401
