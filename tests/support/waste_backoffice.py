"""A small fake of the systems the waste, payment and request journeys use, for action unit tests.

OS Places, the waste contract, GOV.UK Pay, Open311 and Notify, at the paths and
in the shapes the typed clients expect, on ``httpx.MockTransport``. It keeps
what was made (payments, subscriptions, reports, messages) so a test can
assert on it, honours idempotency keys the way the real systems do, and can
be told to fail (``down``) or to refuse (``refuse``).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import httpx

SN15_1ER = [
    {
        "DPA": {
            "UPRN": str(100 + i),
            "ADDRESS": f"{i}, MARKET PLACE, CHIPPENHAM, SN15 1ER",
            "BUILDING_NUMBER": str(i),
            "THOROUGHFARE_NAME": "MARKET PLACE",
            "POST_TOWN": "CHIPPENHAM",
            "POSTCODE": "SN15 1ER",
        }
    }
    for i in range(1, 4)
]
TODAY = dt.date(2026, 11, 27)


def pay_json(payment: dict[str, Any]) -> dict[str, Any]:
    finished = payment["status"] not in ("created", "started", "submitted")
    state: dict[str, Any] = {"status": payment["status"], "finished": finished}
    if payment.get("code"):
        state["code"] = payment["code"]
    body = {
        "payment_id": payment["payment_id"],
        "amount": payment["amount"],
        "reference": payment["reference"],
        "description": payment["description"],
        "state": state,
        "return_url": payment["return_url"],
        "metadata": payment["metadata"],
        "created_date": "2026-11-27T10:00:00.000Z",
    }
    if payment.get("email"):
        body["email"] = payment["email"]
    if not finished:
        body["_links"] = {
            "next_url": {"href": f"https://pay.test/secure/{payment['payment_id']}", "method": "GET"}
        }
    return body


@dataclass
class FakeBackOffice:
    garden: dict[str, Any] = field(
        default_factory=lambda: {
            "status": "current",
            "reference": "GW-446759",
            "bins": 1,
            "startDate": "2025-12-18",
            "expiryDate": "2026-12-17",
            "renewalWindowOpens": "2026-11-05",
            "canRenew": True,
        }
    )
    check: dict[str, Any] = field(
        default_factory=lambda: {
            "status": "eligible",
            "eligible": True,
            "round": "REC-WED",
            "lastCollectionDate": "2026-11-25",
            "nextCollectionDate": "2026-12-09",
            "reportBy": "2026-11-27",
            "roundStatus": "completed",
            "catchUpDate": None,
            "existingReference": None,
            "message": "The missed collection can be reported.",
        }
    )
    #: path prefix -> status to answer with (503: down; 409/400: refused)
    faults: dict[str, int] = field(default_factory=dict)
    payments: dict[str, dict[str, Any]] = field(default_factory=dict)
    subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)
    open311: dict[str, dict[str, Any]] = field(default_factory=dict)
    sent: list[dict[str, Any]] = field(default_factory=list)
    calls: list[tuple[str, str]] = field(default_factory=list)

    def fail(self, prefix: str, status: int = 503) -> None:
        self.faults[prefix] = status

    def heal(self) -> None:
        self.faults.clear()

    def pay(self, payment_id: str, status: str = "success", code: str | None = None) -> None:
        """What the resident did on the payment page."""
        self.payments[payment_id].update(status=status, code=code)

    def created(self, method: str, prefix: str) -> int:
        return sum(1 for m, p in self.calls if m == method and p.startswith(prefix))

    # --- routing ---------------------------------------------------------------------
    def __call__(self, request: httpx.Request) -> httpx.Response:
        path, method = request.url.path, request.method
        self.calls.append((method, path))
        for prefix, status in self.faults.items():
            if path.startswith(prefix):
                return self._fault(path, status)
        for pattern, verb, handler in self.routes():
            match = re.fullmatch(pattern, path)
            if match and verb == method:
                return handler(request, *match.groups())
        return httpx.Response(404, json={"error": {"status": 404, "code": "not_found", "message": path}})

    def _fault(self, path: str, status: int) -> httpx.Response:
        if path.startswith("/waste/"):
            code = {409: "outside_renewal_window", 402: "payment_not_successful"}.get(status, "unavailable")
            return httpx.Response(status, json={"error": {"status": status, "code": code, "message": code}})
        if path.startswith("/open311/"):
            return httpx.Response(status, json=[{"code": status, "description": "refused"}])
        return httpx.Response(status, json={"code": "P0999", "description": "unavailable"})

    def routes(self) -> list[tuple[str, str, Any]]:
        return [
            (r"/search/places/v1/postcode", "GET", self.places),
            (r"/waste/v1/properties/(\d+)/garden-waste", "GET", self.garden_waste),
            (r"/waste/v1/properties/(\d+)/garden-waste/quote", "GET", self.quote),
            (r"/waste/v1/properties/(\d+)/garden-waste/subscriptions", "POST", self.renew),
            (r"/waste/v1/properties/(\d+)/missed-bin-check", "GET", self.missed_bin_check),
            (r"/waste/v1/properties/(\d+)/service-requests", "GET", self.service_requests),
            (r"/waste/v1/garden-waste/subscriptions/([A-Z]{2}-\d+)", "GET", self.subscription),
            (r"/v1/payments", "POST", self.create_payment),
            (r"/v1/payments/(\w+)", "GET", self.get_payment),
            (r"/v1/payments/(\w+)/cancel", "POST", self.cancel_payment),
            (r"/v2/notifications/(sms|email)", "POST", self.notify),
            (r"/open311/v2/requests.json", "POST", self.create_request),
            (r"/open311/v2/requests/([A-Z]{2}-\d+).json", "GET", self.get_request),
        ]

    # --- OS Places ---------------------------------------------------------------
    def places(self, request: httpx.Request) -> httpx.Response:
        if request.url.params.get("postcode") == "SN15 1ER":
            return httpx.Response(200, json={"header": {"totalresults": 3}, "results": SN15_1ER})
        return httpx.Response(200, json={"header": {"totalresults": 0}})

    # --- waste -------------------------------------------------------------------
    def garden_waste(self, request: httpx.Request, uprn: str) -> httpx.Response:
        return httpx.Response(200, json={"uprn": uprn, **self.garden})

    def quote(self, request: httpx.Request, uprn: str) -> httpx.Response:
        bins = int(request.url.params["bins"])
        renewal = self.garden["status"] == "current"
        return httpx.Response(
            200,
            json={
                "uprn": uprn,
                "kind": "renewal" if renewal else "new",
                "bins": bins,
                "firstBinPence": 5200,
                "additionalBinPence": 4000,
                "maxBins": 3,
                "totalPence": 5200 + 4000 * (bins - 1),
                "startDate": "2026-12-18" if renewal else "2026-11-27",
                "expiryDate": "2027-12-17" if renewal else "2027-11-26",
                "canRenew": self.garden["canRenew"],
                "renewalWindowOpens": self.garden.get("renewalWindowOpens"),
            },
        )

    def renew(self, request: httpx.Request, uprn: str) -> httpx.Response:
        key = request.headers["Idempotency-Key"]
        body = json.loads(request.content)
        if key in self.subscriptions:
            return httpx.Response(200, json=self.subscriptions[key])
        payment = self.payments.get(body["paymentId"])
        if payment is None or payment["status"] != "success":
            return httpx.Response(
                402,
                json={
                    "error": {
                        "status": 402,
                        "code": "payment_not_successful",
                        "message": "no successful payment",
                    }
                },
            )
        subscription = {
            "reference": f"GW-{482900 + len(self.subscriptions)}",
            "uprn": uprn,
            "bins": body["bins"],
            "startDate": "2026-12-18",
            "expiryDate": "2027-12-17",
            "status": "current",
            "paymentId": body["paymentId"],
        }
        self.subscriptions[key] = subscription
        return httpx.Response(201, json=subscription)

    def subscription(self, request: httpx.Request, reference: str) -> httpx.Response:
        for sub in self.subscriptions.values():
            if sub["reference"] == reference:
                return httpx.Response(200, json=sub)
        return httpx.Response(
            404, json={"error": {"status": 404, "code": "subscription_not_found", "message": ""}}
        )

    def missed_bin_check(self, request: httpx.Request, uprn: str) -> httpx.Response:
        return httpx.Response(200, json={"uprn": uprn, "type": request.url.params["type"], **self.check})

    def service_requests(self, request: httpx.Request, uprn: str) -> httpx.Response:
        return httpx.Response(
            200,
            json=[
                {
                    "reference": "BD-921533",
                    "service": "bin_delivery",
                    "binType": "recycling",
                    "status": "open",
                    "statusNotes": "Delivery booked with the depot.",
                    "requestedAt": "2026-11-23T10:30:00+00:00",
                    "expectedBy": "2026-12-07T17:00:00+00:00",
                },
            ],
        )

    # --- GOV.UK Pay --------------------------------------------------------------
    def create_payment(self, request: httpx.Request) -> httpx.Response:
        key = request.headers["Idempotency-Key"]
        body = json.loads(request.content)
        for payment in self.payments.values():
            if payment["key"] == key:
                return httpx.Response(200, json=pay_json(payment))
        payment_id = f"pay{len(self.payments) + 1:023d}"
        self.payments[payment_id] = {
            "payment_id": payment_id,
            "key": key,
            "status": "created",
            "code": None,
            "metadata": body.get("metadata") or {},
            "email": body.get("email"),
            **{k: body[k] for k in ("amount", "reference", "description", "return_url")},
        }
        return httpx.Response(201, json=pay_json(self.payments[payment_id]))

    def get_payment(self, request: httpx.Request, payment_id: str) -> httpx.Response:
        if payment_id not in self.payments:
            return httpx.Response(404, json={"code": "P0200", "description": "Not found"})
        return httpx.Response(200, json=pay_json(self.payments[payment_id]))

    def cancel_payment(self, request: httpx.Request, payment_id: str) -> httpx.Response:
        payment = self.payments[payment_id]
        if payment["status"] not in ("created", "started", "submitted"):
            return httpx.Response(
                400, json={"code": "P0501", "description": "Cancellation of payment failed"}
            )
        payment.update(status="cancelled", code="P0040")
        return httpx.Response(204)

    # --- Notify ------------------------------------------------------------------
    def notify(self, request: httpx.Request, kind: str) -> httpx.Response:
        body = json.loads(request.content)
        self.sent.append({"type": kind, **body})
        return httpx.Response(
            201,
            json={
                "id": f"00000000-0000-4000-8000-{len(self.sent):012d}",
                "reference": body.get("reference"),
                "content": {"body": "…"},
                "template": {"id": body["template_id"], "version": 1},
            },
        )

    # --- Open311 -----------------------------------------------------------------
    def create_request(self, request: httpx.Request) -> httpx.Response:
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        key = form.get("attribute[idempotency_key]", "")
        if key not in self.open311:
            prefix = {"missed_bin": "MB", "complaint": "CP", "bin_delivery": "BD"}[form["service_code"]]
            self.open311[key] = {**form, "service_request_id": f"{prefix}-{100001 + len(self.open311)}"}
        return httpx.Response(200, json=[{"service_request_id": self.open311[key]["service_request_id"]}])

    def get_request(self, request: httpx.Request, reference: str) -> httpx.Response:
        for item in self.open311.values():
            if item["service_request_id"] == reference:
                return httpx.Response(200, json=[self.open311_json(item)])
        if reference == "MB-123456":
            return httpx.Response(
                200, json=[self.open311_json({"service_request_id": reference, "service_code": "missed_bin"})]
            )
        return httpx.Response(404, json=[{"code": 404, "description": "Request not found"}])

    @staticmethod
    def open311_json(item: dict[str, Any]) -> dict[str, Any]:
        complaint = item["service_code"] == "complaint"
        return {
            "service_request_id": item["service_request_id"],
            "status": "open",
            "service_code": item["service_code"],
            "service_name": item["service_code"],
            "requested_datetime": "2026-11-27T10:00:00+00:00",
            "expected_datetime": "2026-12-11T17:00:00+00:00" if complaint else "2026-11-30T18:00:00+00:00",
            "agency_responsible": "Waste and Recycling",
            "status_notes": "Passed to the collection crew.",
        }
