"""Typed settings: config.yaml (structure) plus environment variables (secrets and URLs)."""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from hotline import yamlfile

E164 = Annotated[str, Field(pattern=r"^\+[1-9][0-9]{6,14}$")]
Slug = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]


class SettingsError(Exception):
    """Raised when the configuration is invalid; the message names the bad key."""


class _Strict(BaseModel):
    # Unknown keys are almost always typos in a hand-edited YAML file: reject them. A
    # validation error never quotes the value it refused: it may be a secret.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


class DispatcherGroup(_Strict):
    """Phones rung when a caller asks for a dispatcher.

    Twilio rings at most ten numbers in one <Dial>, and the first phone to pick up (a
    voicemail too) ends the ringing of the others. So the numbers are rung in waves of at
    most ten, in this order: after a wave that nobody accepted, the phones not yet tried
    ring, each wave for `timeout` seconds, until `max_wait` seconds have passed since the
    caller asked. Then the caller returns to the flow and `on_call` is alerted.
    """

    name: str
    numbers: list[E164] = Field(min_length=1, max_length=100)
    timeout: int = Field(default=20, ge=5, le=60)
    max_wait: int = Field(default=60, ge=5, le=600)
    # Twilio's answering-machine detection on each phone: a voicemail is hung up on at once
    # instead of hearing the announcement. Off by default: it delays every human answer by
    # the detection time and may take a person with a long greeting for a machine.
    machine_detection: bool = False
    on_call: E164 | None = None

    @model_validator(mode="after")
    def _consistent(self) -> DispatcherGroup:
        if len(set(self.numbers)) != len(self.numbers):
            raise ValueError("numbers: a number is listed twice")
        if self.max_wait < self.timeout:
            raise ValueError(f"max_wait ({self.max_wait} s) is shorter than one wave's timeout ({self.timeout} s)")
        return self


class Choice(_Strict):
    """One keypad choice offered by a hotline menu built from config (a district, a facility)."""

    key: Annotated[str, Field(pattern=r"^[1-9]$")]
    id: Slug
    name: dict[str, str] = Field(min_length=1)


# 28 CFR 115.89(d): sexual abuse data "for at least 10 years after the date of the initial
# collection". Ten calendar years hold up to three leap days: 10 * 365 + 3.
PREA_MIN_RETENTION_DAYS = 3653


class Hotline(_Strict):
    id: Slug
    number: E164
    name: dict[str, str] = Field(min_length=1)
    # "prea": a PREA hotline, whose reports must be kept ten years (see Settings.prea_reason:
    # a hotline whose reports reach a PREA unit is one too, whatever it says here).
    kind: Literal["general", "prea"] = "general"
    flow: str
    # Days its reports' recordings and transcripts are kept; default retention.recordings_days.
    retention_days: int | None = Field(default=None, ge=1)
    # Every line is anonymous by construction: the caller's number and caller-ID fields are
    # dropped before anything can store them (hotline/voice/privacy.py), whatever this says.
    # Kept so a configuration can state it; `false` is refused rather than silently ignored.
    anonymous: bool = True
    dispatcher_group: Slug | None = None
    choices: dict[Slug, list[Choice]] = Field(default_factory=dict)
    # When set, every report goes to exactly these agencies (PREA: the PREA unit and an
    # outside agency) and routing rules may not add anyone else.
    exclusive_agencies: list[Slug] = Field(default_factory=list)
    # Whether /tip offers this hotline's web form (generated from its flow). Off unless said:
    # a new line is phone-only until someone decides its questions also suit a web page.
    web_tips: bool = False

    @field_validator("anonymous")
    @classmethod
    def _only_anonymous(cls, value: bool) -> bool:
        if not value:
            raise ValueError(
                "non-anonymous lines are not supported: the caller's number is never stored, "
                "on any line; remove the key or set it to true"
            )
        return value

    @field_validator("choices")
    @classmethod
    def _unique_keys(cls, value: dict[str, list[Choice]]) -> dict[str, list[Choice]]:
        for name, options in value.items():
            keys = [c.key for c in options]
            if len(keys) != len(set(keys)):
                raise ValueError(f"choices.{name} uses a key twice")
        return value


class Contact(_Strict):
    name: str
    email: str | None = None
    sms: E164 | None = None
    webhook: str | None = None


class Agency(_Strict):
    id: Slug
    name: str
    kind: Literal["school_district", "police", "prea_unit", "outside_agency", "dispatch", "other"]
    contacts: list[Contact] = Field(default_factory=list)


class RoutingRule(_Strict):
    """Send a report to agencies when every given condition matches."""

    hotline: Slug
    agencies: list[Slug] = Field(min_length=1)
    choice: dict[Slug, Slug] = Field(default_factory=dict)
    category: list[Slug] = Field(default_factory=list)


class VoiceSettings(_Strict):
    reprompts: int = Field(default=2, ge=0, le=5)
    gather_timeout: int = Field(default=6, ge=1, le=30)
    record_max_seconds: int = Field(default=180, ge=10, le=3600)
    record_silence_timeout: int = Field(default=6, ge=1, le=60)
    # Total seconds one webhook may spend waiting on the database (locks, connecting)
    # before it gives up and answers with the error path. Twilio hangs up on the caller
    # with "an application error has occurred" at 15 s; the budget, plus a connect
    # timeout rounded up to libpq's 2 s and the error answer itself, must stay inside it.
    db_budget_seconds: float = Field(default=6, ge=1, le=10)


class SmtpSettings(_Strict):
    host: str
    port: int = Field(default=25, ge=1, le=65535)
    sender: str
    starttls: bool = False
    username: str | None = None  # the password comes from HOTLINE_SMTP_PASSWORD


class NotificationSettings(_Strict):
    """How agencies are told a report is waiting. Messages never carry report content."""

    email: bool = False
    sms: bool = False
    webhook: bool = False
    smtp: SmtpSettings | None = None
    sms_from: E164 | None = None


class PipelineSettings(_Strict):
    delete_from_twilio: bool = True
    # Counted download failures (404 after the call, 401/403 with working credentials, an
    # invalid WAV, storage errors) before a recording is dead-lettered.
    fetch_attempts: int = Field(default=5, ge=1, le=20)
    # Transient failures (network, timeouts, 5xx, 429, a rejected auth token) are not
    # counted: they are retried with growing backoff (up to an hour apart) for this many
    # days from the first failure, then dead-lettered.
    fetch_retry_days: int = Field(default=7, ge=1, le=365)
    # Administrators are alerted (once per outage) when downloads have failed this long.
    fetch_alert_minutes: int = Field(default=15, ge=1, le=1440)
    max_recording_seconds: int = Field(default=3600, ge=10)
    reconcile_seconds: int = Field(default=30, ge=1, le=3600)
    # A job still "started" after this long is presumed abandoned by a dead worker and may
    # be run again (every job is idempotent). Also the jobs' time limit.
    job_timeout_seconds: int = Field(default=600, ge=1, le=86400)
    # A worker proves it is alive by renewing its RQ heartbeat and each running job's lock,
    # both of which expire after this many seconds: a killed worker's jobs are run again
    # within about this long plus `reconcile_seconds`, not after the job timeout. Longer
    # than the longest stall of a live worker (the recogniser holds Python's GIL for about
    # a quarter of each 30 s piece of audio it decodes).
    liveness_seconds: int = Field(default=30, ge=5, le=600)
    transcribe_attempts: int = Field(default=3, ge=1, le=20)
    # Twilio may send a recording's callback after the call's final status: a report waits
    # this long after the call ended for recordings still in progress, then routes on what
    # it has (a recording arriving later re-classifies it).
    recording_grace_seconds: int = Field(default=600, ge=0, le=86400)
    # The backstop for lost callbacks: a recording whose <Record> action gave its URL is
    # fetched anyway when its completed callback has not come after this long, and Twilio
    # recordings younger than this are left to their own callbacks by the reconciler.
    recording_callback_grace_seconds: int = Field(default=120, ge=1, le=86400)
    # How often the sweep lists the account's recordings at Twilio to adopt any the database
    # does not know (0: never; `flask reports recover` still can), and how far back it looks.
    twilio_reconcile_seconds: int = Field(default=300, ge=0, le=86400)
    twilio_lookback_days: int = Field(default=7, ge=1, le=400)


class Escalation(_Strict):
    """Seconds each urgency may wait for an acknowledgement before escalating."""

    critical: int = Field(default=300, ge=30)
    high: int = Field(default=3600, ge=30)
    normal: int = Field(default=86400, ge=30)


class Classification(_Strict):
    keywords: dict[Slug, dict[str, list[str]]] = Field(default_factory=dict)
    urgency: dict[Slug, Literal["critical", "high", "normal"]] = Field(default_factory=dict)


def _rate_limit(value: str) -> str:
    from limits import parse_many

    try:
        parse_many(value)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a rate limit such as '10 per hour': {exc}") from exc
    return value


RateLimit = Annotated[str, AfterValidator(_rate_limit)]


class WebTipSettings(_Strict):
    """The anonymous web form (/tip): abuse limits and upload sizes.

    Limits count per client, keyed by an HMAC of its address under a key that changes every
    UTC day (the address itself is never stored); Flask-Limiter syntax, e.g. "10 per hour".
    """

    tip_limit: RateLimit = "10 per hour"  # tips filed from one client
    check_limit: RateLimit = "30 per hour"  # tip number + PIN checks, replies and PIN choices
    max_files: int = Field(default=5, ge=0, le=10)
    max_file_mb: int = Field(default=10, ge=1, le=50)
    # Images larger than this (width x height) are refused before they are decoded.
    max_image_pixels: int = Field(default=40_000_000, ge=1_000_000, le=89_000_000)


class Retention(_Strict):
    recordings_days: int = Field(default=365, ge=1)


DEVELOPMENT = "development"
# Fields holding secrets: masked in repr, str and every dump of the settings, refused in
# config.yaml, and only ever read from the environment variable named here.
SECRET_FIELDS = {
    "twilio_auth_token": "TWILIO_AUTH_TOKEN",
    "twilio_api_secret": "TWILIO_API_SECRET",
    "master_key": "HOTLINE_MASTER_KEY",
    "old_master_keys": "HOTLINE_OLD_MASTER_KEYS",
    "secret_key": "HOTLINE_SECRET_KEY",
    "audit_key": "HOTLINE_AUDIT_KEY",
    "webhook_secret": "HOTLINE_WEBHOOK_SECRET",
    "smtp_password": "HOTLINE_SMTP_PASSWORD",
    "metrics_token": "HOTLINE_METRICS_TOKEN",
}
# Secrets production cannot start without (development generates them under instance/).
REQUIRED_SECRETS = ("twilio_auth_token", "master_key", "secret_key", "audit_key")


def _masked(value: object) -> object:
    """What a secret looks like when the settings are shown: whether it is set, never what it is."""
    return "**********" if value else value


# Settings that are URLs and may carry a password (DATABASE_URL, REDIS_URL): shown without it.
URL_FIELDS = ("database_url", "redis_url")
_URL_PASSWORD = re.compile(r"(://[^/@\s]*?:)[^/@\s]*@")


def _shown(name: str, value: object) -> object:
    """A setting as printed: secrets masked, a URL's password replaced by ***."""
    if name in SECRET_FIELDS:
        return _masked(value)
    if name in URL_FIELDS and isinstance(value, str):
        return hide_password(value)
    return value


def hide_password(url: str) -> str:
    """The URL with the password of its user:password@ replaced by ***, for printing."""
    return _URL_PASSWORD.sub(r"\1***@", url)


DEFAULT_TWILIO_API = "https://api.twilio.com"
# Each non-US processing region's own edge location, for a region configured without one.
TWILIO_REGION_EDGES = {"au1": "sydney", "ie1": "dublin", "jp1": "tokyo"}


class Settings(_Strict):
    """Everything the app needs, validated once at start-up."""

    # Random master keys are not UTF-8: a JSON dump (masked, see _mask_secrets) needs base64.
    model_config = ConfigDict(extra="forbid", frozen=True, ser_json_bytes="base64", hide_input_in_errors=True)

    # HOTLINE_ENV: "development" (the default) or anything else, which is production.
    environment: str = DEVELOPMENT
    database_url: str = "sqlite:///instance/hotline.db"
    redis_url: str = "embedded"
    public_url: str = "http://127.0.0.1:5000"
    # How many reverse proxies in front of the app to trust for X-Forwarded-For (the client
    # address the audit log records). 0: none, use the connection's address.
    trusted_proxies: int = Field(default=0, ge=0, le=5)
    twilio_account_sid: str = "AC00000000000000000000000000000000"
    twilio_auth_token: str = ""
    twilio_api_base_url: str = DEFAULT_TWILIO_API
    # An API key (SK...) and its secret, which Twilio recommends for production: when set,
    # REST calls authenticate with them. The auth token still checks webhook signatures.
    twilio_api_key: str = Field(default="", pattern=r"^(SK[0-9a-fA-F]{32})?$")
    twilio_api_secret: str = ""
    # A Twilio processing region ("ie1", "au1") and edge location ("dublin", "sydney"): REST
    # calls and recording downloads then go to api.<edge>.<region>.twilio.com.
    twilio_region: str | None = Field(default=None, pattern=r"^[a-z]{2}[0-9]$")
    twilio_edge: str | None = Field(default=None, pattern=r"^[a-z]+(-[a-z]+)*$")
    master_key: bytes = b""
    # Retired master keys, still accepted for unwrapping until `flask keys rotate` has run.
    old_master_keys: list[bytes] = Field(default_factory=list)
    storage_path: str = "instance/storage"
    # Where the encrypted objects live: `file:///abs/path` (the local store, the default:
    # storage_path) or `s3://bucket/prefix` with boto3's own AWS_* variables for the rest.
    storage_url: str = ""
    instance_path: str = "instance"
    secret_key: str = ""
    # HMAC key of the audit log's chain: without it nobody can recompute an altered chain.
    audit_key: str = Field(default="", min_length=32)
    flows_dir: str = "ivr_flows"
    voice: VoiceSettings = VoiceSettings()
    dispatcher_groups: dict[Slug, DispatcherGroup] = Field(default_factory=dict)
    hotlines: list[Hotline] = Field(min_length=1)
    agencies: list[Agency] = Field(default_factory=list)
    routing: list[RoutingRule] = Field(default_factory=list)
    notifications: NotificationSettings = NotificationSettings()
    pipeline: PipelineSettings = PipelineSettings()
    escalation: Escalation = Escalation()
    classification: Classification = Classification()
    retention: Retention = Retention()
    web: WebTipSettings = WebTipSettings()
    webhook_secret: str = ""
    smtp_password: str = ""
    # Bearer token for /metrics (HOTLINE_METRICS_TOKEN); unset, /metrics answers 404.
    metrics_token: str = ""
    # auto: JSON lines unless HOTLINE_ENV is development (or unset); json or console to force.
    log_format: Literal["auto", "json", "console"] = "auto"
    # A port on which `flask worker` serves its own /metrics (same token), for a worker node
    # without a web app sharing PROMETHEUS_MULTIPROC_DIR; unset: none.
    worker_metrics_port: int | None = Field(default=None, ge=1, le=65535)

    @field_validator("public_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        if not re.match(r"^https?://[^/]+", value):
            raise ValueError("must be an absolute http(s) URL")
        return value.rstrip("/")

    @field_validator("storage_url")
    @classmethod
    def _storage_url(cls, value: str) -> str:
        from hotline.storage.urls import parse_storage_url

        if value:
            parse_storage_url(value)  # raises ValueError naming what is wrong
        return value

    def blob_store_url(self) -> str:
        """The storage URL in force: HOTLINE_STORAGE_URL, or the local store at storage_path."""
        return self.storage_url or Path(self.storage_path).resolve().as_uri()

    @model_validator(mode="after")
    def _twilio_credentials_and_region(self) -> Settings:
        if bool(self.twilio_api_key) != bool(self.twilio_api_secret):
            raise ValueError("twilio_api_key: set TWILIO_API_KEY and TWILIO_API_SECRET together, or neither")
        region = self.twilio_region
        if region and not self.twilio_edge and region != "us1" and region not in TWILIO_REGION_EDGES:
            raise ValueError(f"twilio_edge: region {region!r} needs an edge location (TWILIO_EDGE)")
        return self

    def __repr_args__(self) -> Iterator[tuple[str | None, object]]:
        # repr() and str() of the settings end up in logs and tracebacks: never a secret.
        for name, value in super().__repr_args__():
            yield name, _shown(str(name), value)

    def __iter__(self) -> Iterator[tuple[str, object]]:  # type: ignore[override]
        # dict(settings) too.
        for name, value in super().__iter__():
            yield name, _shown(name, value)

    @model_serializer(mode="wrap")
    def _mask_secrets(self, handler: SerializerFunctionWrapHandler) -> dict[str, object]:
        # model_dump() and model_dump_json() neither: whoever prints them sees only that a secret is set.
        data: dict[str, object] = handler(self)
        for name in (*SECRET_FIELDS, *URL_FIELDS):
            if name in data:
                data[name] = _shown(name, data[name])
        return data

    @property
    def development(self) -> bool:
        """Whether this is a development run (HOTLINE_ENV unset or "development")."""
        return self.environment == DEVELOPMENT

    def twilio_rest_url(self) -> str:
        """The REST API base URL: Twilio's host for the configured region and edge.

        Region without edge takes the region's own edge; edge without region is in US1, as
        Twilio's SDKs do. A TWILIO_API_BASE_URL other than Twilio's (the simulator, a test)
        is used as it is. api.<region>.twilio.com alone is no longer served by Twilio.
        """
        base = self.twilio_api_base_url.rstrip("/")
        if base != DEFAULT_TWILIO_API or not (self.twilio_region or self.twilio_edge):
            return base
        region = self.twilio_region or "us1"
        edge = self.twilio_edge or TWILIO_REGION_EDGES.get(region)
        return f"https://api.{edge}.{region}.twilio.com" if edge else base

    @model_validator(mode="after")
    def _cross_references(self) -> Settings:
        ids = [h.id for h in self.hotlines]
        numbers = [h.number for h in self.hotlines]
        if len(set(ids)) != len(ids):
            raise ValueError("hotlines: two hotlines share an id")
        if len(set(numbers)) != len(numbers):
            raise ValueError("hotlines: two hotlines share a number")
        agency_ids = {a.id for a in self.agencies}
        for h in self.hotlines:
            if h.dispatcher_group and h.dispatcher_group not in self.dispatcher_groups:
                raise ValueError(f"hotlines.{h.id}.dispatcher_group: unknown group {h.dispatcher_group!r}")
        exclusive = {h.id: set(h.exclusive_agencies) for h in self.hotlines if h.exclusive_agencies}
        for h in self.hotlines:
            for agency in h.exclusive_agencies:
                if agency not in agency_ids:
                    raise ValueError(f"hotlines.{h.id}.exclusive_agencies: unknown agency {agency!r}")
        for i, rule in enumerate(self.routing):
            if rule.hotline not in ids:
                raise ValueError(f"routing[{i}].hotline: unknown hotline {rule.hotline!r}")
            for agency in rule.agencies:
                if agency not in agency_ids:
                    raise ValueError(f"routing[{i}].agencies: unknown agency {agency!r}")
                if rule.hotline in exclusive and agency not in exclusive[rule.hotline]:
                    raise ValueError(
                        f"routing[{i}].agencies: {rule.hotline} reports may only go to "
                        f"{sorted(exclusive[rule.hotline])}, not {agency!r}"
                    )
        for h in self.hotlines:
            reason = self.prea_reason(h)
            days = self.retention_days(h.id)
            if reason and days < PREA_MIN_RETENTION_DAYS:
                where = (
                    "retention_days"
                    if h.retention_days is not None
                    else "retention_days (unset: retention.recordings_days)"
                )
                raise ValueError(
                    f"hotlines.{h.id}.{where}: {h.id} is a PREA hotline ({reason}), so 28 CFR 115.89 requires "
                    f"its reports be kept at least 10 years ({PREA_MIN_RETENTION_DAYS} days), not {days} days"
                )
        for h in self.hotlines:
            # A message left through the error path, or a recording recovered from Twilio, has
            # no keypad choices: some rule must still send it somewhere, or nobody sees it.
            catch_all = any(r.hotline == h.id and not r.choice and not r.category for r in self.routing)
            if not h.exclusive_agencies and not catch_all:
                raise ValueError(
                    f"routing: hotline {h.id} has no rule without `choice` and `category`, so a report "
                    "with no keypad choices (a message taken after a technical problem, a recording "
                    "recovered from Twilio) would reach no agency; add one, e.g. "
                    f"{{hotline: {h.id}, agencies: [...]}}"
                )
        return self

    def prea_reason(self, hotline: Hotline) -> str | None:
        """Why this hotline is a PREA hotline, or None.

        Either it says `kind: prea`, or its reports can reach an agency of kind prea_unit
        (its exclusive agencies or a routing rule): a PREA unit's reports are PREA data, so
        forgetting `kind: prea` cannot shorten their retention.
        """
        if hotline.kind == "prea":
            return "kind: prea"
        units = {a.id for a in self.agencies if a.kind == "prea_unit"}
        reached = set(hotline.exclusive_agencies)
        reached.update(agency for rule in self.routing if rule.hotline == hotline.id for agency in rule.agencies)
        found = sorted(reached & units)
        return f"its reports go to the PREA unit {found[0]!r}" if found else None

    def retention_days(self, hotline_id: str) -> int:
        """Days a report of this hotline is kept; a hotline no longer configured gets the longest."""
        hotline = self.hotline(hotline_id)
        if hotline is None:
            return self.longest_retention_days()
        return hotline.retention_days or self.retention.recordings_days

    def longest_retention_days(self) -> int:
        """The safe default for a report whose hotline is unknown: never shorter than PREA's."""
        days = [h.retention_days or self.retention.recordings_days for h in self.hotlines]
        return max([PREA_MIN_RETENTION_DAYS, self.retention.recordings_days, *days])

    def hotline_by_number(self, number: str) -> Hotline | None:
        """Return the hotline answering on this phone number."""
        return next((h for h in self.hotlines if h.number == number), None)

    def hotline(self, hotline_id: str) -> Hotline | None:
        """Return the hotline with this id."""
        return next((h for h in self.hotlines if h.id == hotline_id), None)


# Environment variables override the file; secrets only ever come from here.
ENV_KEYS = {
    "DATABASE_URL": "database_url",
    "REDIS_URL": "redis_url",
    "HOTLINE_PUBLIC_URL": "public_url",
    "HOTLINE_TRUSTED_PROXIES": "trusted_proxies",
    "TWILIO_ACCOUNT_SID": "twilio_account_sid",
    "TWILIO_AUTH_TOKEN": "twilio_auth_token",
    "TWILIO_API_BASE_URL": "twilio_api_base_url",
    "TWILIO_API_KEY": "twilio_api_key",
    "TWILIO_API_SECRET": "twilio_api_secret",
    "TWILIO_REGION": "twilio_region",
    "TWILIO_EDGE": "twilio_edge",
    "HOTLINE_STORAGE_PATH": "storage_path",
    "HOTLINE_STORAGE_URL": "storage_url",
    "HOTLINE_INSTANCE_PATH": "instance_path",
    "HOTLINE_SECRET_KEY": "secret_key",
    "HOTLINE_AUDIT_KEY": "audit_key",
    "HOTLINE_WEBHOOK_SECRET": "webhook_secret",
    "HOTLINE_SMTP_PASSWORD": "smtp_password",
    "HOTLINE_METRICS_TOKEN": "metrics_token",
    "HOTLINE_LOG_FORMAT": "log_format",
    "HOTLINE_WORKER_METRICS_PORT": "worker_metrics_port",
}


def decode_master_key(value: str, name: str = "HOTLINE_MASTER_KEY") -> bytes:
    """Decode a master key (base64 of 32 bytes)."""
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SettingsError(f"{name} is not valid base64") from exc
    if len(raw) != 32:
        raise SettingsError(f"{name} must decode to 32 bytes, not {len(raw)}")
    return raw


def _format_error(path: Path, exc: ValidationError) -> str:
    lines = [f"{path}: invalid configuration"]
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        lines.append(f"  {where}: {err['msg']}")
    return "\n".join(lines)


DEV_TWILIO_API = "http://127.0.0.1:5099"


def _fill_dev_secrets(raw: dict[str, object], config_path: Path) -> None:
    """Generate development secrets under instance/ for whatever the environment left unset."""
    from hotline.devsecrets import dev_secret

    instance = Path(str(raw["instance_path"]))
    if not raw.get("twilio_auth_token"):
        raw["twilio_auth_token"] = dev_secret(instance, "TWILIO_AUTH_TOKEN")
        # Without a real token there is no real Twilio: recordings come from the simulator's
        # stand-in for Twilio's API, which `flask simulate` serves on this address.
        raw.setdefault("twilio_api_base_url", DEV_TWILIO_API)
    if not raw.get("master_key"):
        raw["master_key"] = decode_master_key(dev_secret(instance, "HOTLINE_MASTER_KEY"))
    if not raw.get("secret_key"):
        raw["secret_key"] = dev_secret(instance, "HOTLINE_SECRET_KEY")
    if not raw.get("audit_key"):
        raw["audit_key"] = dev_secret(instance, "HOTLINE_AUDIT_KEY")


def environment(env: Mapping[str, str]) -> str:
    """HOTLINE_ENV: development when unset (`make run`, the tests); any other value is production."""
    return env.get("HOTLINE_ENV", "").strip() or DEVELOPMENT


# Key names that hold a secret, at any depth of the file (smtp.password, an api_token, ...).
_SECRET_NAME = re.compile(r"token|secret|passw(or)?d|master_key|audit_key|private_key|credential", re.IGNORECASE)


def _secret_keys(data: object, where: str = "") -> list[str]:
    """Paths of the keys in the file's data whose names say they hold a secret."""
    found: list[str] = []
    if isinstance(data, dict):
        for key, value in data.items():
            path = f"{where}.{key}" if where else str(key)
            if not where and key == "classification":
                continue  # its keys are category names and languages, chosen by the county
            if key in SECRET_FIELDS or _SECRET_NAME.search(str(key)):
                found.append(path)
            else:
                found.extend(_secret_keys(value, path))
    elif isinstance(data, list):
        for i, item in enumerate(data):
            found.extend(_secret_keys(item, f"{where}[{i}]"))
    return found


def refuse_secrets_in_file(raw: Mapping[str, object], config_path: Path) -> None:
    """Stop when config.yaml holds a secret: files get committed, copied and backed up."""
    found = _secret_keys(dict(raw))
    if found:
        names = sorted({SECRET_FIELDS[key] for key in found if key in SECRET_FIELDS})
        where = f" ({', '.join(names)})" if names else ""
        raise SettingsError(
            f"{config_path}: secrets are never read from the configuration file: remove "
            f"{', '.join(found)} and set it in the environment instead{where}"
        )


# Shortest production value of secrets someone could guess: the session key signs every
# cookie (a short one is found offline from any cookie, then sessions are forged); the
# metrics token may be tried online without limit. (The audit key's 32 is a field rule.)
MIN_SECRET_LENGTHS = {"secret_key": 32, "metrics_token": 16}


def require_production_secrets(raw: Mapping[str, object], env_name: str) -> None:
    """Outside development, stop unless the environment gave every secret the app needs."""
    missing = [SECRET_FIELDS[key] for key in REQUIRED_SECRETS if not raw.get(key)]
    if missing:
        raise SettingsError(
            f"HOTLINE_ENV is {env_name!r} (production) and the environment does not set "
            f"{', '.join(missing)}; development values are generated only with HOTLINE_ENV=development"
        )
    for key, shortest in MIN_SECRET_LENGTHS.items():
        value = raw.get(key)
        if value and len(str(value)) < shortest:
            raise SettingsError(
                f"{SECRET_FIELDS[key]} is shorter than {shortest} characters, short enough to guess: make one "
                'with python -c "import secrets; print(secrets.token_hex(32))"'
            )


def load_settings(
    path: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, object] | None = None,
) -> Settings:
    """Read config.yaml and the environment into a validated Settings object."""
    env = os.environ if environ is None else environ
    config_path = Path(path or env.get("HOTLINE_CONFIG", "config.yaml"))
    try:
        raw = yamlfile.load(config_path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError as exc:
        raise SettingsError(f"{config_path}: configuration file not found") from exc
    except yaml.YAMLError as exc:
        raise SettingsError(f"{config_path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise SettingsError(f"{config_path}: the top level must be a mapping")
    refuse_secrets_in_file(raw, config_path)
    if "environment" in raw:
        raise SettingsError(f"{config_path}: environment: set HOTLINE_ENV in the environment instead")
    for env_name, key in ENV_KEYS.items():
        # A blank value (an env file's `TWILIO_AUTH_TOKEN= `) is no value: production then
        # refuses to start naming it, instead of signing sessions with a space.
        if env.get(env_name, "").strip():
            raw[key] = env[env_name]
    if env.get("HOTLINE_MASTER_KEY"):
        raw["master_key"] = decode_master_key(env["HOTLINE_MASTER_KEY"])
    if env.get("HOTLINE_OLD_MASTER_KEYS"):
        raw["old_master_keys"] = [
            decode_master_key(item.strip(), "HOTLINE_OLD_MASTER_KEYS")
            for item in env["HOTLINE_OLD_MASTER_KEYS"].split(",")
            if item.strip()
        ]
    raw.update(overrides or {})
    base = config_path.parent.resolve()
    # Relative paths in the file are relative to the file, not to wherever we were started.
    for key, default in (
        ("flows_dir", "ivr_flows"),
        ("instance_path", "instance"),
        ("storage_path", "instance/storage"),
    ):
        value = Path(str(raw.get(key, default)))
        raw[key] = str(value if value.is_absolute() else base / value)
    storage_url = str(raw.get("storage_url") or "")
    if storage_url.lower().startswith("file:"):  # a URL's scheme is case-insensitive
        # One local store, whichever way it was named: whatever reads storage_path (the
        # benchmarks, the tests) sees the directory the URL names.
        from hotline.storage.urls import parse_storage_url

        try:
            raw["storage_path"] = parse_storage_url(storage_url).path
        except ValueError as exc:
            raise SettingsError(f"HOTLINE_STORAGE_URL: {exc}") from None
    db_url = str(raw.get("database_url", "sqlite:///instance/hotline.db"))
    if db_url.startswith("sqlite:///") and not db_url.startswith("sqlite:////") and ":memory:" not in db_url:
        raw["database_url"] = f"sqlite:///{base / db_url[len('sqlite:///') :]}"
    raw["environment"] = str((overrides or {}).get("environment") or environment(env))
    if raw["environment"] == DEVELOPMENT:
        _fill_dev_secrets(raw, config_path)
    else:
        require_production_secrets(raw, str(raw["environment"]))
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        raise SettingsError(_format_error(config_path, exc)) from exc
