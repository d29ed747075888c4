"""Every channel setting, read from the environment in one place.

The connectors read their secrets from here, so ``bot/credentials.yml``
names the connectors without holding a secret, and a running assistant
never fails to start because a channel it does not use has no variable set.
A key given in ``bot/credentials.yml`` (with Rasa's ``${VAR}`` substitution)
overrides the value read here: see ``ChannelSettings.with_overrides``.

By default the outbound APIs point at the back-office sandbox with its test
credentials, as every back-office system does (``integrations.settings``),
so the whole loop runs locally. A warning is logged at start-up for every
secret still at its sandbox value.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from integrations.settings import Settings, Timeouts

logger = logging.getLogger("integrations.channels")

#: Sandbox values: fine for a laptop, never for a council's live numbers.
SANDBOX_SECRETS = {
    "id_key": "sandbox-channel-id-key",
    "webchat_secret": "sandbox-webchat-secret-not-for-live-use",
    "twilio_auth_token": "sandbox-twilio-auth-token",
    "meta_app_secret": "sandbox-meta-app-secret",
    "meta_verify_token": "sandbox-meta-verify-token",
    "meta_access_token": "sandbox-meta-access-token",
    "notify_callback_token": "sandbox-notify-callback-token",
}
SANDBOX_TWILIO_ACCOUNT_SID = "AC0000000000000000000000000000c0de"
SANDBOX_META_PHONE_NUMBER_ID = "100000000000001"


@dataclass(frozen=True)
class RetryPolicy:
    """How the delivery queue retries a reply a provider did not take.

    Eight attempts, waiting 5 s doubling to a 5 min cap (with jitter, half to
    all of each wait) between them, span five to ten minutes: long enough to
    ride out a provider's brief outage, short enough that a late reply still
    makes sense to the resident.
    """

    max_attempts: int = 8
    backoff_start: float = 5.0
    backoff_cap: float = 300.0


@dataclass(frozen=True)
class ChannelSettings:
    #: Key for the keyed hash that turns phone numbers into conversation ids (32 bytes or more).
    id_key: str = field(repr=False)
    #: Where the channel store lives (recipients, offered options, outbox, opt-outs).
    db_url: str
    #: The public base URL providers call (``https://chat.council.example``), for
    #: checking signatures behind a proxy; empty: the URL the request arrived at.
    public_url: str
    council_name: str
    council_phone: str
    council_website: str
    office_hours: str
    #: Most SMS segments one text may use (see ``rendering.SMS_MAX_SEGMENTS``).
    sms_max_segments: int
    #: Addresses, delivered replies and seen message ids are deleted after this.
    retention_days: int
    retry: RetryPolicy
    timeouts: Timeouts
    # Website chat.
    #: Signs the website's conversation tokens (32 bytes or more).
    webchat_secret: str = field(repr=False)
    webchat_origins: tuple[str, ...]
    webchat_session_hours: float
    # Twilio (SMS and WhatsApp).
    twilio_account_sid: str
    twilio_auth_token: str = field(repr=False)
    twilio_sms_number: str
    twilio_whatsapp_number: str
    twilio_api_url: str
    # WhatsApp Cloud API (Meta).
    meta_app_secret: str = field(repr=False)
    meta_verify_token: str = field(repr=False)
    meta_access_token: str = field(repr=False)
    meta_phone_number_id: str
    meta_graph_url: str
    meta_graph_version: str
    # GOV.UK Notify inbound SMS: the bearer token we gave Notify for its callbacks.
    notify_callback_token: str = field(repr=False)
    #: The back-office settings (Notify's API key and URL for replies).
    backoffice: Settings = field(repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ChannelSettings:
        env = os.environ if env is None else env
        backoffice = Settings.from_env(env)
        sandbox = backoffice.sandbox_url
        reports_port = env.get("REPORTS_PORT", "8000")
        origins = env.get(
            "WEBCHAT_ORIGINS", f"http://127.0.0.1:{reports_port},http://localhost:{reports_port}"
        )

        def secret(name: str, variable: str) -> str:
            return env.get(variable, SANDBOX_SECRETS[name])

        return cls(
            id_key=secret("id_key", "CHANNEL_ID_KEY"),
            db_url=env.get("CHANNEL_DB_URL", "sqlite:///var/channels.db"),
            public_url=env.get("CHANNELS_PUBLIC_URL", "").rstrip("/"),
            council_name=env.get("COUNCIL_NAME", "the council"),
            council_phone=env.get("COUNCIL_PHONE", "0300 456 0100"),
            council_website=env.get("COUNCIL_WEBSITE", "https://www.council.example").rstrip("/"),
            office_hours=env.get("COUNCIL_OFFICE_HOURS", "Monday to Friday, 8:30am to 5pm"),
            sms_max_segments=int(env.get("SMS_MAX_SEGMENTS", "3")),
            retention_days=int(env.get("CHANNEL_RETENTION_DAYS", "30")),
            retry=RetryPolicy(
                max_attempts=int(env.get("CHANNEL_SEND_MAX_ATTEMPTS", RetryPolicy.max_attempts)),
                backoff_start=float(env.get("CHANNEL_SEND_BACKOFF_START", RetryPolicy.backoff_start)),
                backoff_cap=float(env.get("CHANNEL_SEND_BACKOFF_CAP", RetryPolicy.backoff_cap)),
            ),
            timeouts=backoffice.timeouts,
            webchat_secret=secret("webchat_secret", "WEBCHAT_SECRET"),
            webchat_origins=tuple(o.strip().rstrip("/") for o in origins.split(",") if o.strip()),
            webchat_session_hours=float(env.get("WEBCHAT_SESSION_HOURS", "12")),
            twilio_account_sid=env.get("TWILIO_ACCOUNT_SID", SANDBOX_TWILIO_ACCOUNT_SID),
            twilio_auth_token=secret("twilio_auth_token", "TWILIO_AUTH_TOKEN"),
            twilio_sms_number=env.get("TWILIO_SMS_NUMBER", "+447700900000"),
            twilio_whatsapp_number=env.get("TWILIO_WHATSAPP_NUMBER", "+447700900001"),
            twilio_api_url=env.get("TWILIO_API_URL", sandbox).rstrip("/"),
            meta_app_secret=secret("meta_app_secret", "META_APP_SECRET"),
            meta_verify_token=secret("meta_verify_token", "META_VERIFY_TOKEN"),
            meta_access_token=secret("meta_access_token", "META_ACCESS_TOKEN"),
            meta_phone_number_id=env.get("META_PHONE_NUMBER_ID", SANDBOX_META_PHONE_NUMBER_ID),
            meta_graph_url=env.get("META_GRAPH_URL", sandbox).rstrip("/"),
            meta_graph_version=env.get("META_GRAPH_VERSION", "v21.0"),
            notify_callback_token=env.get("NOTIFY_CALLBACK_TOKEN", backoffice.notify.secret),
            backoffice=backoffice,
        )

    def with_overrides(self, credentials: Mapping[str, Any] | None) -> ChannelSettings:
        """These settings with any field given in a connector's credentials replaced."""
        known = {f.name for f in dataclasses.fields(self)}
        given = {k: v for k, v in (credentials or {}).items() if v not in (None, "")}
        unknown = set(given) - known
        if unknown:
            raise ValueError(f"unknown channel settings in credentials: {', '.join(sorted(unknown))}")
        return dataclasses.replace(self, **given) if given else self

    def warn_about_sandbox_secrets(self, names: tuple[str, ...]) -> None:
        """Log (without values) every one of ``names`` still at its sandbox value."""
        for name in names:
            if getattr(self, name) == SANDBOX_SECRETS[name]:
                logger.warning("channels: %s is the sandbox value; set it before going live", name)
