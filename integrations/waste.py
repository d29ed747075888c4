"""Waste collections and garden waste subscriptions: our own contract, ``/waste/v1``.

The contract is documented in ``integrations/contracts/waste.md`` (and in the
sandbox's OpenAPI). Missed bins are *reported* through Open311
(``integrations.reports``); this client answers the questions before and after:
when is my bin day, was the round done, can I report it, where is my request.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import httpx

from integrations.errors import IntegrationError
from integrations.http import ApiClient

# Still importable from here, where they were first written: they now live in the shared modules.
from integrations.http import contract_error as contract_error
from integrations.http import error_code as error_code
from integrations.http import segment as segment
from integrations.values import optional_date, optional_datetime
from integrations.values import pounds as pounds

BinType = Literal["general_waste", "recycling", "glass", "food", "garden"]
BIN_TYPES: tuple[str, ...] = ("general_waste", "recycling", "glass", "food", "garden")
CheckStatus = Literal[
    "eligible", "not_due", "already_reported", "not_out", "too_late", "round_delayed", "no_service"
]


@dataclass(frozen=True)
class WasteService:
    bin_type: BinType
    name: str
    round: str
    day: str
    frequency_weeks: int


@dataclass(frozen=True)
class WasteProperty:
    uprn: str
    address: str
    postcode: str
    services: tuple[WasteService, ...]

    @classmethod
    def from_api(cls, body: dict[str, Any]) -> WasteProperty:
        return cls(
            uprn=body["uprn"],
            address=body["address"],
            postcode=body["postcode"],
            services=tuple(
                WasteService(s["type"], s["name"], s["round"], s["day"], int(s["frequencyWeeks"]))
                for s in body["services"]
            ),
        )


@dataclass(frozen=True)
class Collection:
    bin_type: BinType
    date: dt.date
    round: str
    scheduled_date: dt.date

    @property
    def moved(self) -> bool:
        """Moved from its usual day by a bank holiday."""
        return self.date != self.scheduled_date

    @classmethod
    def from_api(cls, item: dict[str, Any]) -> Collection:
        date = dt.date.fromisoformat(item["collectionDate"])
        return cls(item["type"], date, item["round"], optional_date(item.get("scheduledDate")) or date)


@dataclass(frozen=True)
class RoundStatus:
    bin_type: BinType
    round: str
    collection_date: dt.date
    status: Literal["scheduled", "in_progress", "completed", "delayed"]
    completed_at: str | None
    catch_up_date: dt.date | None
    bin_not_out: bool
    missed_report_reference: str | None
    missed_report_status: str | None

    @classmethod
    def from_api(cls, item: dict[str, Any]) -> RoundStatus:
        report = item.get("missedReport") or {}
        return cls(
            bin_type=item["type"],
            round=item["round"],
            collection_date=dt.date.fromisoformat(item["collectionDate"]),
            status=item["roundStatus"],
            completed_at=item.get("completedAt"),
            catch_up_date=optional_date(item.get("catchUpDate")),
            bin_not_out=bool(item["binNotOut"]),
            missed_report_reference=report.get("reference"),
            missed_report_status=report.get("status"),
        )


@dataclass(frozen=True)
class MissedBinCheck:
    """Whether a missed collection can be reported today, and why not."""

    uprn: str
    bin_type: BinType
    status: CheckStatus
    eligible: bool
    round: str
    last_collection: dt.date | None
    next_collection: dt.date | None
    report_by: dt.date | None
    round_status: str | None
    catch_up_date: dt.date | None
    existing_reference: str | None
    message: str

    @classmethod
    def from_api(cls, body: dict[str, Any]) -> MissedBinCheck:
        return cls(
            uprn=body["uprn"],
            bin_type=body["type"],
            status=body["status"],
            eligible=bool(body["eligible"]),
            round=body["round"],
            last_collection=optional_date(body.get("lastCollectionDate")),
            next_collection=optional_date(body.get("nextCollectionDate")),
            report_by=optional_date(body.get("reportBy")),
            round_status=body.get("roundStatus"),
            catch_up_date=optional_date(body.get("catchUpDate")),
            existing_reference=body.get("existingReference"),
            message=body.get("message", ""),
        )


@dataclass(frozen=True)
class PropertyRequest:
    """A missed-bin report or bin delivery at a property ("where is my new bin?")."""

    reference: str
    service: Literal["missed_bin", "bin_delivery"]
    bin_type: str | None
    status: Literal["open", "closed"]
    status_notes: str | None
    requested_at: dt.datetime
    expected_by: dt.datetime | None

    @classmethod
    def from_api(cls, item: dict[str, Any]) -> PropertyRequest:
        return cls(
            reference=item["reference"],
            service=item["service"],
            bin_type=item.get("binType"),
            status=item["status"],
            status_notes=item.get("statusNotes"),
            requested_at=optional_datetime(item["requestedAt"]),  # type: ignore[arg-type]
            expected_by=optional_datetime(item.get("expectedBy")),
        )


@dataclass(frozen=True)
class GardenWaste:
    """A property's garden waste subscription: ``none``, ``current`` or ``lapsed``."""

    uprn: str
    status: Literal["none", "current", "lapsed"]
    reference: str | None
    bins: int | None
    start_date: dt.date | None
    expiry_date: dt.date | None
    renewal_window_opens: dt.date | None
    can_renew: bool

    @classmethod
    def from_api(cls, body: dict[str, Any]) -> GardenWaste:
        return cls(
            uprn=body["uprn"],
            status=body["status"],
            reference=body.get("reference"),
            bins=body.get("bins"),
            start_date=optional_date(body.get("startDate")),
            expiry_date=optional_date(body.get("expiryDate")),
            renewal_window_opens=optional_date(body.get("renewalWindowOpens")),
            can_renew=bool(body["canRenew"]),
        )


@dataclass(frozen=True)
class GardenWasteQuote:
    uprn: str
    kind: Literal["renewal", "new"]
    bins: int
    total_pence: int
    first_bin_pence: int
    additional_bin_pence: int
    max_bins: int
    start_date: dt.date
    expiry_date: dt.date
    can_renew: bool
    renewal_window_opens: dt.date | None

    @property
    def total(self) -> str:
        return pounds(self.total_pence)

    @classmethod
    def from_api(cls, body: dict[str, Any]) -> GardenWasteQuote:
        return cls(
            uprn=body["uprn"],
            kind=body["kind"],
            bins=int(body["bins"]),
            total_pence=int(body["totalPence"]),
            first_bin_pence=int(body["firstBinPence"]),
            additional_bin_pence=int(body["additionalBinPence"]),
            max_bins=int(body["maxBins"]),
            start_date=dt.date.fromisoformat(body["startDate"]),
            expiry_date=dt.date.fromisoformat(body["expiryDate"]),
            can_renew=bool(body["canRenew"]),
            renewal_window_opens=optional_date(body.get("renewalWindowOpens")),
        )


@dataclass(frozen=True)
class GardenWasteSubscription:
    reference: str
    uprn: str
    bins: int
    start_date: dt.date
    expiry_date: dt.date
    status: Literal["current", "lapsed"]
    payment_id: str | None
    #: Whether this call made it (201), rather than answering a repeat with it (200).
    created: bool = field(default=False, compare=False)

    @classmethod
    def from_api(cls, body: dict[str, Any]) -> GardenWasteSubscription:
        return cls(
            reference=body["reference"],
            uprn=body["uprn"],
            bins=int(body["bins"]),
            start_date=dt.date.fromisoformat(body["startDate"]),
            expiry_date=dt.date.fromisoformat(body["expiryDate"]),
            status=body["status"],
            payment_id=body.get("paymentId"),
        )


class WasteClient(ApiClient):
    system = "waste"

    async def auth_headers(self) -> dict[str, str]:
        return {"X-Api-Key": self.endpoint.key}

    def translate_error(self, response: httpx.Response, op: str) -> IntegrationError:
        return contract_error(response, op, self.system)

    # --- collections --------------------------------------------------------------
    async def property(self, uprn: str) -> WasteProperty:
        """The property's round, day and frequency per bin type."""
        return await self._get(f"/properties/{segment(uprn)}", "waste.property", WasteProperty.from_api)

    async def collections(
        self, uprn: str, start: dt.date | None = None, end: dt.date | None = None
    ) -> list[Collection]:
        """Collections from ``start`` (default today) to ``end`` (default four weeks), in date order."""
        params = {k: v.isoformat() for k, v in (("from", start), ("to", end)) if v}
        return await self._get(
            f"/properties/{segment(uprn)}/collections",
            "waste.collections",
            lambda body: [Collection.from_api(c) for c in body],
            params,
        )

    async def next_collections(self, uprn: str, after: dt.date | None = None) -> list[Collection]:
        """The next collection of each bin type (after ``after`` if given), soonest first."""
        return soonest_of_each(await self.collections(uprn), after)

    async def round_status(self, uprn: str, on: dt.date | None = None) -> list[RoundStatus]:
        """The rounds due at this property on a day (default today): done? bin out? reported?"""
        params = {"date": on.isoformat()} if on else None
        return await self._get(
            f"/properties/{segment(uprn)}/round-status",
            "waste.round_status",
            lambda body: [RoundStatus.from_api(r) for r in body],
            params,
        )

    async def missed_bin_check(self, uprn: str, bin_type: str) -> MissedBinCheck:
        """Can a missed collection of this bin be reported now? Ask before opening a report."""
        return await self._get(
            f"/properties/{segment(uprn)}/missed-bin-check",
            "waste.missed_bin_check",
            MissedBinCheck.from_api,
            {"type": bin_type},
        )

    async def service_requests(self, uprn: str) -> list[PropertyRequest]:
        """Missed-bin reports and bin deliveries at this property, newest first."""
        return await self._get(
            f"/properties/{segment(uprn)}/service-requests",
            "waste.service_requests",
            lambda body: [PropertyRequest.from_api(r) for r in body],
        )

    # --- garden waste -------------------------------------------------------------
    async def garden_waste(self, uprn: str) -> GardenWaste:
        return await self._get(
            f"/properties/{segment(uprn)}/garden-waste", "waste.garden_waste", GardenWaste.from_api
        )

    async def garden_waste_quote(self, uprn: str, bins: int) -> GardenWasteQuote:
        """Price for ``bins`` bins (1-3) and the period a renewal or new subscription would cover."""
        return await self._get(
            f"/properties/{segment(uprn)}/garden-waste/quote",
            "waste.quote",
            GardenWasteQuote.from_api,
            {"bins": bins},
        )

    async def renew_garden_waste(
        self, uprn: str, *, bins: int, payment_id: str, renewal_key: str | None = None
    ) -> GardenWasteSubscription:
        """Renew or start a subscription after a successful GOV.UK Pay payment.

        ``renewal_key`` (default: the payment id, since one payment pays for one
        renewal) makes the call idempotent, so it is retried safely on timeouts.
        Refusals come as ``Rejected`` with the contract's code as ``reason``:
        ``payment_not_successful``, ``outside_renewal_window``, ...
        """
        op = "waste.renew_garden_waste"
        response = await self.request(
            "POST",
            f"/properties/{segment(uprn)}/garden-waste/subscriptions",
            op=op,
            json={"bins": bins, "paymentId": payment_id},
            idempotency_key=renewal_key or payment_id,
        )
        subscription = self._typed(response, op, GardenWasteSubscription.from_api)
        return replace(subscription, created=response.status_code == 201)

    async def garden_waste_subscription(self, reference: str) -> GardenWasteSubscription:
        """A subscription by its ``GW-`` reference ("has my renewal gone through?")."""
        return await self._get(
            f"/garden-waste/subscriptions/{segment(reference)}",
            "waste.subscription",
            GardenWasteSubscription.from_api,
        )


def soonest_of_each(collections: Iterable[Collection], after: dt.date | None = None) -> list[Collection]:
    """The first collection of each bin type (only those after ``after``), soonest first."""
    found: dict[str, Collection] = {}
    for c in sorted(collections, key=lambda c: c.date):
        if after is None or c.date > after:
            found.setdefault(c.bin_type, c)
    return sorted(found.values(), key=lambda c: c.date)
