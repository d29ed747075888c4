"""Missed bins, bin deliveries and complaints through Open311 GeoReport v2.

Standard paths and fields (``services.json``, ``requests.json``, form-encoded
POST, errors as ``[{code, description}]``), plus one extension of ours:
``attribute[idempotency_key]``, a client-generated key the server honours, so
that a create retried after a timeout returns the same request instead of
making a second one. Without that key a POST is never retried.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from integrations.http import ApiClient, segment
from integrations.values import optional_datetime

MISSED_BIN = "missed_bin"
BIN_DELIVERY = "bin_delivery"
COMPLAINT = "complaint"


@dataclass(frozen=True)
class Service:
    code: str
    name: str
    description: str
    group: str
    keywords: tuple[str, ...]
    metadata: bool
    type: str

    @classmethod
    def from_api(cls, item: dict[str, Any]) -> Service:
        keywords = item.get("keywords") or ""
        if isinstance(keywords, str):
            keywords = [k.strip() for k in keywords.split(",") if k.strip()]
        return cls(
            code=item["service_code"],
            name=item["service_name"],
            description=item.get("description") or "",
            group=item.get("group") or "",
            keywords=tuple(keywords),
            metadata=bool(item.get("metadata")),
            type=item.get("type") or "realtime",
        )


@dataclass(frozen=True)
class ServiceAttribute:
    code: str
    datatype: str
    required: bool
    description: str
    order: int
    variable: bool
    values: tuple[tuple[str, str], ...]

    @classmethod
    def from_api(cls, item: dict[str, Any]) -> ServiceAttribute:
        return cls(
            code=item["code"],
            datatype=item["datatype"],
            required=bool(item.get("required")),
            description=item.get("description") or "",
            order=int(item.get("order") or 0),
            variable=bool(item.get("variable", True)),
            values=tuple((str(v["key"]), str(v["name"])) for v in item.get("values") or ()),
        )


@dataclass(frozen=True)
class ServiceDefinition:
    service_code: str
    attributes: tuple[ServiceAttribute, ...]

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(a.code for a in self.attributes if a.required)

    @classmethod
    def from_api(cls, body: dict[str, Any]) -> ServiceDefinition:
        attributes = sorted(
            (ServiceAttribute.from_api(a) for a in body.get("attributes") or ()), key=lambda a: a.order
        )
        return cls(service_code=body["service_code"], attributes=tuple(attributes))


@dataclass(frozen=True)
class CreatedRequest:
    service_request_id: str
    service_notice: str | None
    account_id: str | None

    @classmethod
    def from_api(cls, body: list[dict[str, Any]]) -> CreatedRequest:
        item = body[0]
        if "service_request_id" not in item:  # a "batch" service answers with a token only
            raise KeyError("service_request_id")
        return cls(str(item["service_request_id"]), item.get("service_notice"), item.get("account_id"))


@dataclass(frozen=True)
class ServiceRequest:
    service_request_id: str
    status: Literal["open", "closed"]
    status_notes: str | None
    service_name: str
    service_code: str
    description: str | None
    agency_responsible: str | None
    service_notice: str | None
    requested_datetime: dt.datetime
    updated_datetime: dt.datetime | None
    expected_datetime: dt.datetime | None
    address: str | None
    address_id: str | None
    postcode: str | None
    lat: float | None
    long: float | None

    @property
    def is_open(self) -> bool:
        return self.status == "open"

    @classmethod
    def from_api(cls, item: dict[str, Any]) -> ServiceRequest:
        return cls(
            service_request_id=str(item["service_request_id"]),
            status=item["status"],
            status_notes=item.get("status_notes"),
            service_name=item.get("service_name") or item["service_code"],
            service_code=item["service_code"],
            description=item.get("description"),
            agency_responsible=item.get("agency_responsible"),
            service_notice=item.get("service_notice"),
            requested_datetime=optional_datetime(item["requested_datetime"]),  # type: ignore[arg-type]
            updated_datetime=optional_datetime(item.get("updated_datetime")),
            expected_datetime=optional_datetime(item.get("expected_datetime")),
            address=item.get("address"),
            address_id=item.get("address_id"),
            postcode=item.get("zipcode"),
            lat=item.get("lat"),
            long=item.get("long"),
        )


class ReportsClient(ApiClient):
    """Open311 GeoReport v2. The ``api_key`` goes in the POST body, as the standard says."""

    system = "open311"
    # Open311 answers a single request as a one-item list: an empty one is no answer either.
    shape_errors = (KeyError, TypeError, ValueError, IndexError)

    async def services(self) -> list[Service]:
        return await self._get(
            "/services.json", "open311.services", lambda body: [Service.from_api(s) for s in body]
        )

    async def service_definition(self, service_code: str) -> ServiceDefinition:
        return await self._get(
            f"/services/{segment(service_code)}.json",
            "open311.service_definition",
            ServiceDefinition.from_api,
        )

    async def create_request(
        self,
        service_code: str,
        *,
        idempotency_key: str | None = None,
        uprn: str | None = None,
        bin_type: str | None = None,
        attributes: Mapping[str, str] | None = None,
        address_id: str | None = None,
        lat: float | None = None,
        long: float | None = None,
        address_string: str | None = None,
        description: str | None = None,
        email: str | None = None,
        phone: str | None = None,
        first_name: str | None = None,
        last_name: str | None = None,
    ) -> CreatedRequest:
        """Open a service request; a property's UPRN doubles as its ``address_id``.

        Pass an ``idempotency_key`` that is stable for this one request (for
        example derived from the conversation and the form), so that the
        action itself can be re-run without a second report. Without one a
        fresh key still makes this call's own retries safe.
        """
        fields: dict[str, Any] = {
            "api_key": self.endpoint.key,
            "service_code": service_code,
            "address_id": address_id or uprn,
            "lat": lat,
            "long": long,
            "address_string": address_string,
            "description": description,
            "email": email,
            "phone": phone,
            "first_name": first_name,
            "last_name": last_name,
            "attribute[uprn]": uprn,
            "attribute[bin_type]": bin_type,
            "attribute[idempotency_key]": idempotency_key or str(uuid.uuid4()),
        }
        fields.update({f"attribute[{code}]": value for code, value in (attributes or {}).items()})
        return await self._call(
            "POST",
            "/requests.json",
            f"open311.create.{service_code}",
            CreatedRequest.from_api,
            data={k: v for k, v in fields.items() if v is not None and v != ""},
            safe_to_retry=True,  # the idempotency key makes a repeat return the same request
            authenticate=False,
        )

    async def report_missed_bin(
        self, uprn: str, bin_type: str, *, idempotency_key: str | None = None, **contact: str | None
    ) -> CreatedRequest:
        """Report a missed collection (``MB-`` reference). Check ``WasteClient.missed_bin_check`` first."""
        return await self.create_request(
            MISSED_BIN, idempotency_key=idempotency_key, uprn=uprn, bin_type=bin_type, **contact
        )

    async def get_request(self, service_request_id: str) -> ServiceRequest:
        """One request by its id (``MB-123456``); ``NotFound`` if there is none."""
        return await self._get(
            f"/requests/{segment(service_request_id)}.json",
            "open311.get_request",
            lambda body: ServiceRequest.from_api(body[0]),
        )

    async def find_requests(
        self,
        *,
        ids: Iterable[str] = (),
        service_code: str | None = None,
        status: Literal["open", "closed"] | None = None,
        start: dt.datetime | None = None,
        end: dt.datetime | None = None,
    ) -> list[ServiceRequest]:
        """Requests by ids (which override the other filters), or by service, status and dates."""
        params: dict[str, str] = {}
        id_list = ",".join(ids)
        if id_list:
            params["service_request_id"] = id_list
        for name, value in (("service_code", service_code), ("status", status)):
            if value:
                params[name] = value
        for name, moment in (("start_date", start), ("end_date", end)):
            if moment:
                params[name] = moment.isoformat()
        return await self._get(
            "/requests.json",
            "open311.find_requests",
            lambda body: [ServiceRequest.from_api(r) for r in body],
            params,
        )
