"""Every back-office setting, read from the environment in one place.

By default every system points at the sandbox (``SANDBOX_URL``, default
``http://127.0.0.1:8081``) with its test credentials, so the embedded default
runs with no configuration. Going live is setting, per system,
``COUNCIL_<SYSTEM>_URL`` and its key variables; nothing else changes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Endpoint:
    """Where one system lives and how we authenticate to it."""

    base_url: str
    key: str = ""
    secret: str = field(default="", repr=False)

    def __repr__(self) -> str:  # never print keys or secrets
        return f"Endpoint(base_url={self.base_url!r})"


@dataclass(frozen=True)
class Timeouts:
    """Network policy numbers; all in seconds.

    A resident must hear back within 10 s whatever happens, well inside
    Rasa's 60 s conversation lock, so one call with its retries gets at most
    ``deadline`` seconds.
    """

    connect: float = 2.0
    read: float = 5.0
    deadline: float = 8.0
    max_retries: int = 2
    backoff_start: float = 0.2
    backoff_cap: float = 2.0


@dataclass(frozen=True)
class Settings:
    sandbox_url: str
    os_places: Endpoint
    openactive: Endpoint
    koha: Endpoint
    open311: Endpoint
    waste: Endpoint
    council_tax: Endpoint
    pay: Endpoint
    notify: Endpoint
    contact_centre: Endpoint
    timeouts: Timeouts
    #: OpenActive seller (the council's leisure operator) and broker identity.
    openactive_seller_id: str = ""
    #: Where GOV.UK Pay sends the resident back after paying.
    pay_return_url: str = ""
    #: Notify template ids by purpose (booking_confirmation, renewal_confirmation, ...).
    notify_templates: Mapping[str, str] = field(default_factory=dict)
    #: A secure form for direct debit set-up: bank details never go through chat.
    direct_debit_form_url: str = ""
    #: When people are in the contact centre, Europe/London (``OfficeHours.parse``), and
    #: whole days it is closed besides bank holidays (comma-separated ISO dates).
    contact_centre_hours: str = "Mon-Fri 08:30-17:00"
    contact_centre_closed_dates: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        sandbox = env.get("SANDBOX_URL", "http://127.0.0.1:8081").rstrip("/")

        def endpoint(system: str, key: str = "", secret: str = "", path: str = "") -> Endpoint:
            name = system.upper()
            return Endpoint(
                base_url=env.get(f"COUNCIL_{name}_URL", sandbox + path).rstrip("/"),
                key=env.get(f"COUNCIL_{name}_KEY", key),
                secret=env.get(f"COUNCIL_{name}_SECRET", secret),
            )

        templates = {
            purpose: env.get(f"NOTIFY_TEMPLATE_{purpose.upper()}", default)
            for purpose, default in DEFAULT_NOTIFY_TEMPLATES.items()
        }
        return cls(
            sandbox_url=sandbox,
            os_places=endpoint("os_places", key="sandbox-os-places-key"),
            openactive=endpoint("openactive", key="sandbox-openactive-key", path="/openactive"),
            koha=endpoint("koha", key="sandbox-koha-client", secret="sandbox-koha-secret"),
            open311=endpoint("open311", key="sandbox-open311-key", path="/open311/v2"),
            waste=endpoint("waste", key="sandbox-waste-key", path="/waste/v1"),
            council_tax=endpoint("council_tax", key="sandbox-council-tax-key", path="/council-tax/v1"),
            pay=endpoint(
                "pay",
                key="api_test_sandbox-pay-key",
                secret="sandbox-pay-webhook-secret",
            ),
            notify=endpoint(
                "notify",
                # {name}-{service_id}-{secret}: service id and secret are UUIDs.
                key="sandbox-4a4ba9b8-1d24-4e2a-9c1e-1d2b0e9c0001-6f1f0b6c-9c7e-4f3e-8a38-3c5d0f0f0002",
                secret="sandbox-notify-callback-token",
            ),
            contact_centre=endpoint("contact_centre", key="sandbox-contact-key", path="/contact-centre/v1"),
            timeouts=Timeouts(
                connect=float(env.get("BACKOFFICE_CONNECT_TIMEOUT", Timeouts.connect)),
                read=float(env.get("BACKOFFICE_READ_TIMEOUT", Timeouts.read)),
                deadline=float(env.get("BACKOFFICE_DEADLINE", Timeouts.deadline)),
                max_retries=int(env.get("BACKOFFICE_MAX_RETRIES", Timeouts.max_retries)),
            ),
            openactive_seller_id=env.get(
                "OPENACTIVE_SELLER_ID", sandbox + "/openactive/api/organisations/council-leisure"
            ),
            pay_return_url=env.get("PAY_RETURN_URL", "https://127.0.0.1:8000/payments/return"),
            notify_templates=templates,
            direct_debit_form_url=env.get(
                "DIRECT_DEBIT_FORM_URL", sandbox + "/council-tax/v1/forms/direct-debit"
            ),
            contact_centre_hours=env.get("CONTACT_CENTRE_HOURS", "Mon-Fri 08:30-17:00"),
            contact_centre_closed_dates=env.get("CONTACT_CENTRE_CLOSED_DATES", ""),
        )


DEFAULT_NOTIFY_TEMPLATES = {
    "booking_confirmation": "b1a1c0de-0000-4000-8000-000000000001",
    "renewal_confirmation": "b1a1c0de-0000-4000-8000-000000000002",
    "report_confirmation": "b1a1c0de-0000-4000-8000-000000000003",
    "payment_receipt": "b1a1c0de-0000-4000-8000-000000000004",
    "council_tax_change": "b1a1c0de-0000-4000-8000-000000000005",
    "callback_confirmation": "b1a1c0de-0000-4000-8000-000000000006",
    "chat_reply": "b1a1c0de-0000-4000-8000-000000000007",
}
