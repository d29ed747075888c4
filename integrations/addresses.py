"""Address lookup through the OS Places API (Ordnance Survey)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from integrations.errors import Rejected
from integrations.http import ApiClient, json_of

PAGE_SIZE = 100


@dataclass(frozen=True)
class Address:
    uprn: str
    address: str
    postcode: str
    building_number: str = ""
    street: str = ""
    town: str = ""
    x: float | None = None
    y: float | None = None

    @property
    def short(self) -> str:
        """The first line, for a button: ``12 Market Place``."""
        if self.building_number and self.street:
            return f"{self.building_number} {self.street.title()}"
        return self.address.split(",")[0].title()

    @classmethod
    def from_dpa(cls, dpa: dict[str, Any]) -> Address:
        return cls(
            uprn=str(dpa["UPRN"]),
            address=str(dpa.get("ADDRESS", "")),
            postcode=str(dpa.get("POSTCODE", "")),
            building_number=str(dpa.get("BUILDING_NUMBER") or dpa.get("BUILDING_NAME") or ""),
            street=str(dpa.get("THOROUGHFARE_NAME") or dpa.get("DEPENDENT_THOROUGHFARE_NAME") or ""),
            town=str(dpa.get("POST_TOWN", "")),
            x=dpa.get("X_COORDINATE"),
            y=dpa.get("Y_COORDINATE"),
        )


def normalise_postcode(text: str) -> str:
    """``sn151er`` -> ``SN15 1ER`` (no validation: that is the NLU's and the API's job)."""
    compact = re.sub(r"\s+", "", text).upper()
    return f"{compact[:-3]} {compact[-3:]}" if len(compact) > 3 else compact


class AddressClient(ApiClient):
    system = "os_places"

    async def auth_headers(self) -> dict[str, str]:
        return {"key": self.endpoint.key}

    async def find_by_postcode(self, postcode: str) -> list[Address]:
        """All delivery addresses at a postcode, in the API's order; ``[]`` if none."""
        addresses: list[Address] = []
        offset = 0
        while True:
            response = await self.request(
                "GET",
                "/search/places/v1/postcode",
                op="postcode",
                params={
                    "postcode": normalise_postcode(postcode),
                    "dataset": "DPA",
                    "maxresults": PAGE_SIZE,
                    "offset": offset,
                },
            )
            body = json_of(response, "postcode", self.system)
            # No match: the real API leaves out ``results`` rather than sending [].
            results = body.get("results") or []
            addresses.extend(Address.from_dpa(r["DPA"]) for r in results if "DPA" in r)
            total = int(body.get("header", {}).get("totalresults", 0))
            offset += PAGE_SIZE
            if not results or offset >= total:
                return addresses

    async def get_by_uprn(self, uprn: str) -> Address | None:
        try:
            response = await self.request(
                "GET", "/search/places/v1/uprn", op="uprn", params={"uprn": uprn, "dataset": "DPA"}
            )
        except Rejected:
            return None
        results = json_of(response, "uprn", self.system).get("results") or []
        return Address.from_dpa(results[0]["DPA"]) if results else None
