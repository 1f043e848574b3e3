"""Content-free notices to agency contacts: log, e-mail (SMTP), SMS (Twilio), signed webhook.

A notice says that a report is waiting and where: never what the caller said.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import smtplib
import time
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol

import requests

from hotline.settings import Contact, Settings
from hotline.twilio_api import TwilioApi

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Notice:
    reference: str
    urgency: str
    hotline: str
    link: str
    level: int = 0
    text_override: str | None = None
    # 0: the report itself; n > 0: the n-th time the tipster added information to it.
    round: int = 0

    def text(self) -> str:
        if self.text_override:
            return self.text_override
        prefix = f"ESCALATION {self.level}: still unacknowledged. " if self.level else ""
        if self.round:
            # Content-free like the first notice: that there is more, never what.
            return f"{prefix}New information on report {self.reference} ({self.hotline}, {self.urgency}): {self.link}"
        return f"{prefix}New {self.urgency} {self.hotline} report {self.reference} is waiting: {self.link}"


class Channel(Protocol):
    name: str

    def send(self, target: str, notice: Notice) -> str | None:
        """Send; return the provider's id for the message (Twilio's MessageSid) if it has one."""
        ...


class LogChannel:
    name = "log"

    def send(self, target: str, notice: Notice) -> None:
        log.info("notify %s: %s", target, notice.text())


class EmailChannel:
    name = "email"

    def __init__(self, settings: Settings) -> None:
        smtp = settings.notifications.smtp
        if smtp is None:
            raise ValueError("notifications.email is on but notifications.smtp is not configured")
        self.smtp = smtp
        self.password = settings.smtp_password

    def send(self, target: str, notice: Notice) -> None:
        message = EmailMessage()
        message["From"] = self.smtp.sender
        message["To"] = target
        what = "New information on " if notice.round else ""
        message["Subject"] = (
            f"[{notice.urgency.upper()}] {what}{notice.hotline} report {notice.reference}"
            if notice.reference
            else f"[{notice.urgency.upper()}] {notice.hotline}"  # an alert to admins, about no report
        )
        message.set_content(notice.text() + "\n\nSign in to review it. Do not reply to this message.\n")
        with smtplib.SMTP(self.smtp.host, self.smtp.port, timeout=20) as client:
            if self.smtp.starttls:
                client.starttls()
            if self.smtp.username:
                client.login(self.smtp.username, self.password)
            client.send_message(message)


class SmsChannel:
    name = "sms"

    def __init__(self, settings: Settings, api: TwilioApi) -> None:
        if settings.notifications.sms_from is None:
            raise ValueError("notifications.sms is on but notifications.sms_from is not set")
        self.sender = settings.notifications.sms_from
        self.api = api

    def send(self, target: str, notice: Notice) -> str:
        """Send once: the adapter never repeats a POST that may have reached Twilio."""
        return self.api.send_sms(target, self.sender, notice.text())

    def find(self, target: str, notice: Notice, exclude: set[str]) -> str | None:
        """The MessageSid of this notice if Twilio already has it (after an unknown outcome)."""
        return self.api.find_message(target, self.sender, notice.text(), exclude)


class WebhookChannel:
    name = "webhook"

    def __init__(self, settings: Settings) -> None:
        if not settings.webhook_secret:
            raise ValueError("notifications.webhook is on but HOTLINE_WEBHOOK_SECRET is not set")
        self.secret = settings.webhook_secret.encode()

    def send(self, target: str, notice: Notice) -> None:
        body = json.dumps(
            {
                "event": "report.escalated"
                if notice.level
                else ("report.new_information" if notice.round else "report.waiting"),
                "report": notice.reference,
                "urgency": notice.urgency,
                "hotline": notice.hotline,
                "link": notice.link,
                "level": notice.level,
                # Only on news: a receiver written for the first notices sees the body it knows.
                **({"round": notice.round} if notice.round else {}),
            },
            sort_keys=True,
        ).encode()
        timestamp = str(int(time.time()))
        # Signed over timestamp and body so a receiver can reject forgeries and replays.
        digest = hmac.new(self.secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        response = requests.post(
            target,
            data=body,
            timeout=10,
            headers={
                "Content-Type": "application/json",
                "X-Hotline-Timestamp": timestamp,
                "X-Hotline-Signature": f"sha256={digest}",
            },
        )
        response.raise_for_status()


def channels(settings: Settings, api: TwilioApi) -> dict[str, Channel]:
    """Build the enabled channels; the log channel is always there."""
    enabled: dict[str, Channel] = {"log": LogChannel()}
    if settings.notifications.email:
        enabled["email"] = EmailChannel(settings)
    if settings.notifications.sms:
        enabled["sms"] = SmsChannel(settings, api)
    if settings.notifications.webhook:
        enabled["webhook"] = WebhookChannel(settings)
    return enabled


def targets(contact: Contact, enabled: dict[str, Channel]) -> list[tuple[str, str]]:
    """List (channel, address) pairs for a contact over the enabled channels."""
    found = [("log", contact.name)]
    for channel, address in (("email", contact.email), ("sms", contact.sms), ("webhook", contact.webhook)):
        if address and channel in enabled:
            found.append((channel, address))
    return found
