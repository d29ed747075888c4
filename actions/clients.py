"""The back-office clients the actions use: one set per action-server process.

Built on first use (never at import time), sharing one ``httpx.AsyncClient``
so connections are reused. Tests replace them with ``use_clients``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cached_property

import httpx

from integrations.addresses import AddressClient
from integrations.contact_centre import ContactCentreClient
from integrations.council_tax import CouncilTaxClient
from integrations.http import new_http_client
from integrations.leisure import LeisureClient
from integrations.libraries import LibraryClient
from integrations.notify import NotifyClient
from integrations.payments import PaymentsClient
from integrations.reports import ReportsClient
from integrations.settings import Settings
from integrations.waste import WasteClient

# httpx logs whole URLs (with UPRNs, references) at INFO: keep it to warnings.
logging.getLogger("httpx").setLevel(logging.WARNING)


@dataclass
class Clients:
    settings: Settings = field(default_factory=Settings.from_env)
    http: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        if self.http is None:
            self.http = new_http_client(self.settings.timeouts)
        return self.http

    @cached_property
    def addresses(self) -> AddressClient:
        return AddressClient(self._http(), self.settings.os_places, self.settings.timeouts)

    @cached_property
    def waste(self) -> WasteClient:
        return WasteClient(self._http(), self.settings.waste, self.settings.timeouts)

    @cached_property
    def council_tax(self) -> CouncilTaxClient:
        return CouncilTaxClient(self._http(), self.settings.council_tax, self.settings.timeouts)

    @cached_property
    def reports(self) -> ReportsClient:
        return ReportsClient(self._http(), self.settings.open311, self.settings.timeouts)

    @cached_property
    def leisure(self) -> LeisureClient:
        return LeisureClient(
            self._http(),
            self.settings.openactive,
            self.settings.timeouts,
            seller_id=self.settings.openactive_seller_id,
        )

    @cached_property
    def libraries(self) -> LibraryClient:
        return LibraryClient(self._http(), self.settings.koha, self.settings.timeouts)

    @cached_property
    def payments(self) -> PaymentsClient:
        return PaymentsClient(self._http(), self.settings.pay, self.settings.timeouts)

    @cached_property
    def notify(self) -> NotifyClient:
        return NotifyClient(
            self._http(),
            self.settings.notify,
            self.settings.timeouts,
            templates=self.settings.notify_templates,
        )

    @cached_property
    def contact(self) -> ContactCentreClient:
        return ContactCentreClient(self._http(), self.settings.contact_centre, self.settings.timeouts)


_clients: Clients | None = None


def clients() -> Clients:
    global _clients
    if _clients is None:
        _clients = Clients()
    return _clients


def use_clients(replacement: Clients | None) -> None:
    """Swap the process's clients (tests); ``None`` goes back to building from settings."""
    global _clients
    _clients = replacement
