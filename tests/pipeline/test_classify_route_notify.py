"""Classification, routing rules and the notification channels (against real local servers)."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import pytest

from hotline.pipeline.classify import classify
from hotline.pipeline.notify import EmailChannel, Notice, WebhookChannel
from hotline.pipeline.routing import route
from hotline.settings import SettingsError, load_settings
from tests.pipeline.servers import http_receiver, smtp_server

ROOT = Path(__file__).resolve().parents[2]
BASE = {"twilio_auth_token": "t", "secret_key": "s", "audit_key": "a" * 32, "master_key": b"k" * 32}
SETTINGS = load_settings(ROOT / "config.yaml", environ={}, overrides=BASE)
CFG = SETTINGS.classification


def test_keywords_raise_urgency_and_add_categories() -> None:
    result = classify(["other"], "normal", [("en", "A boy said he has a GUN in his bag.")], CFG.keywords, CFG.urgency)
    assert result.urgency == "critical" and result.categories == ("weapons",)
    assert result.matched == {"weapons": ("gun",)}


def test_whole_words_only_and_keypad_wins_when_higher() -> None:
    result = classify(["self_harm"], "critical", [("en", "it had begun at lunch")], CFG.keywords, CFG.urgency)
    assert result.categories == ("self_harm",) and result.urgency == "critical"
    assert result.matched == {}


def test_spanish_keywords_and_phrases() -> None:
    result = classify(
        [], "normal", [("es", "Dijo que quiere matar a alguien con un cuchillo")], CFG.keywords, CFG.urgency
    )
    assert set(result.categories) == {"weapons", "violence_threat"} and result.urgency == "critical"
    english_rules_on_spanish = classify([], "normal", [("en", "matar")], CFG.keywords, CFG.urgency)
    assert english_rules_on_spanish.categories == ()


def test_routing_by_district_and_category() -> None:
    assert route(SETTINGS, "safe_schools", {"district": "riverbend"}, ["drugs"]) == [
        "safe_schools_unit",
        "riverbend_sd",
        "precinct_2_central",
        "drug_task_force",
    ]
    assert route(SETTINGS, "safe_schools", {"district": "unknown"}, ["weapons"]) == ["safe_schools_unit"]


def test_prea_goes_to_the_prea_unit_and_the_outside_agency_only() -> None:
    assert route(SETTINGS, "prea", {"facility": "justice_center"}, ["sexual_abuse", "weapons"]) == [
        "prea_unit",
        "dhs_outside",
    ]


def test_config_cannot_route_prea_to_jail_staff(tmp_path: Path) -> None:
    text = (ROOT / "config.yaml").read_text()
    text = text.replace(
        "- {hotline: prea, agencies: [prea_unit, dhs_outside]}",
        "- {hotline: prea, agencies: [prea_unit, dhs_outside, precinct_1_north]}",
    )
    path = tmp_path / "config.yaml"
    path.write_text(text)
    with pytest.raises(SettingsError, match="may only go to"):
        load_settings(path, environ={}, overrides=BASE)


NOTICE = Notice("R-2026-00042", "critical", "Safe Schools hotline", "https://h.test/reports/42")


def test_email_notice_carries_no_content() -> None:
    with smtp_server() as (port, inbox):
        settings = load_settings(
            ROOT / "config.yaml",
            environ={},
            overrides={
                **BASE,
                "notifications": {
                    "email": True,
                    "smtp": {"host": "127.0.0.1", "port": port, "sender": "hotline@h.test"},
                },
            },
        )
        EmailChannel(settings).send("desk@school.test", NOTICE)
    [message] = inbox
    assert message["To"] == "desk@school.test" and "R-2026-00042" in message["Subject"]
    body = message.get_payload(decode=True).decode()
    assert "New critical Safe Schools hotline report R-2026-00042 is waiting" in body
    assert "https://h.test/reports/42" in body


def test_webhook_notice_is_hmac_signed() -> None:
    settings = load_settings(ROOT / "config.yaml", environ={}, overrides={**BASE, "webhook_secret": "shh"})
    with http_receiver() as (url, received):
        WebhookChannel(settings).send(url, NOTICE)
    [(headers, body)] = received
    expected = hmac.new(b"shh", headers["X-Hotline-Timestamp"].encode() + b"." + body, hashlib.sha256).hexdigest()
    assert headers["X-Hotline-Signature"] == f"sha256={expected}"
    assert json.loads(body) == {
        "event": "report.waiting",
        "report": "R-2026-00042",
        "urgency": "critical",
        "hotline": "Safe Schools hotline",
        "link": "https://h.test/reports/42",
        "level": 0,
    }


def test_webhook_failure_raises_for_a_retry() -> None:
    settings = load_settings(ROOT / "config.yaml", environ={}, overrides={**BASE, "webhook_secret": "shh"})
    with http_receiver(status=503) as (url, _), pytest.raises(Exception, match="503"):
        WebhookChannel(settings).send(url, NOTICE)


def test_enabling_a_channel_without_its_settings_is_an_error() -> None:
    settings = load_settings(ROOT / "config.yaml", environ={}, overrides={**BASE, "notifications": {"email": True}})
    with pytest.raises(ValueError, match="smtp is not configured"):
        EmailChannel(settings)


def test_sms_notice_goes_through_the_twilio_adapter(fake_twilio) -> None:  # type: ignore[no-untyped-def]
    from hotline.pipeline.notify import SmsChannel
    from hotline.twilio_api import TwilioApi
    from tests.conftest import ACCOUNT_SID, AUTH_TOKEN

    settings = load_settings(
        ROOT / "config.yaml", environ={}, overrides={**BASE, "notifications": {"sms": True, "sms_from": "+13148897233"}}
    )
    api = TwilioApi(fake_twilio.base_url, ACCOUNT_SID, AUTH_TOKEN)
    SmsChannel(settings, api).send("+13146150101", NOTICE)
    [message] = fake_twilio.messages
    assert message["to"] == "+13146150101" and message["from"] == "+13148897233"
    assert message["body"] == NOTICE.text()
    wrong = TwilioApi(fake_twilio.base_url, ACCOUNT_SID, "wrong-token")
    with pytest.raises(Exception, match="401"):
        SmsChannel(settings, wrong).send("+13146150101", NOTICE)
