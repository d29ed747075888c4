"""Council tax: our own contract, ``/council-tax/v1`` (``integrations/contracts/council_tax.md``).

A resident is verified once (account reference + the property's postcode) and
the short-lived ``Verification`` it returns is passed to every account call.
Bank details never go through this client: a new direct debit is set up on
the secure form behind ``direct_debit_setup_link``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import httpx

from integrations.errors import IntegrationError, Rejected
from integrations.http import ApiClient, contract_error, error_code, segment
from integrations.values import iso_datetime, optional_date, pounds

T = TypeVar("T")

DIRECT_DEBIT_DAYS = (1, 8, 15, 22, 28)
RequestType = Literal["moving_home", "single_person_discount", "direct_debit_change", "direct_debit_setup"]
RequestState = Literal["received", "in_progress", "completed", "rejected"]


class NotVerified(Rejected):
    """The account reference and postcode do not match (or too many attempts: ``reason``)."""


class VerificationExpired(Rejected):
    """The verification has lapsed (15 minutes unused) or was never made: verify again."""


@dataclass(frozen=True)
class Verification:
    """Proof that the resident gave matching details; valid 15 minutes after its last use."""

    account_reference: str
    token: str = field(repr=False)
    expires_at: dt.datetime | None = None


@dataclass(frozen=True)
class Instalment:
    number: int
    due_date: dt.date
    amount_pence: int
    outstanding_pence: int
    status: Literal["paid", "part_paid", "due", "overdue"]


@dataclass(frozen=True)
class NextPayment:
    due_date: dt.date
    amount_pence: int

    @property
    def amount(self) -> str:
        return pounds(self.amount_pence)

    @classmethod
    def from_api(cls, item: dict[str, Any] | None) -> NextPayment | None:
        return cls(dt.date.fromisoformat(item["dueDate"]), int(item["amountPence"])) if item else None


@dataclass(frozen=True)
class Account:
    account_reference: str
    address: str
    postcode: str
    band: str
    financial_year: str
    gross_charge_pence: int
    single_person_discount: bool
    annual_charge_pence: int
    paid_to_date_pence: int
    due_to_date_pence: int
    balance_pence: int
    arrears_pence: int
    in_arrears: bool
    in_credit: bool
    next_instalment: NextPayment | None
    payment_method: Literal["direct_debit", "cash", "card"]
    direct_debit_day: int | None
    moving_out_date: dt.date | None
    instalments: tuple[Instalment, ...]

    @property
    def balance(self) -> str:
        return pounds(abs(self.balance_pence)) + (" in credit" if self.in_credit else "")

    @classmethod
    def from_api(cls, body: dict[str, Any]) -> Account:
        return cls(
            account_reference=body["accountReference"],
            address=body["address"],
            postcode=body["postcode"],
            band=body["band"],
            financial_year=body["financialYear"],
            gross_charge_pence=int(body["grossChargePence"]),
            single_person_discount=bool(body["singlePersonDiscount"]),
            annual_charge_pence=int(body["annualChargePence"]),
            paid_to_date_pence=int(body["paidToDatePence"]),
            due_to_date_pence=int(body["dueToDatePence"]),
            balance_pence=int(body["balancePence"]),
            arrears_pence=int(body["arrearsPence"]),
            in_arrears=bool(body["inArrears"]),
            in_credit=bool(body["inCredit"]),
            next_instalment=NextPayment.from_api(body.get("nextInstalment")),
            payment_method=body["paymentMethod"],
            direct_debit_day=body.get("directDebitDay"),
            moving_out_date=optional_date(body.get("movingOutDate")),
            instalments=tuple(
                Instalment(
                    int(i["number"]),
                    dt.date.fromisoformat(i["dueDate"]),
                    int(i["amountPence"]),
                    int(i["outstandingPence"]),
                    i["status"],
                )
                for i in body["instalments"]
            ),
        )


@dataclass(frozen=True)
class PaymentRecorded:
    payment_id: str
    account_reference: str
    amount_pence: int
    recorded_at: dt.datetime
    balance_pence: int

    @classmethod
    def from_api(cls, body: dict[str, Any]) -> PaymentRecorded:
        return cls(
            body["paymentId"],
            body["accountReference"],
            int(body["amountPence"]),
            iso_datetime(body["recordedAt"]),
            int(body["balancePence"]),
        )


@dataclass(frozen=True)
class CouncilTaxRequest:
    """A request with a ``CT-`` reference: as made, or as looked up later."""

    reference: str
    type: RequestType
    status: RequestState
    status_notes: str
    received_at: dt.datetime
    updated_at: dt.datetime
    expected_by: dt.date | None

    @classmethod
    def from_api(cls, body: dict[str, Any]) -> CouncilTaxRequest:
        return cls(
            reference=body["reference"],
            type=body["type"],
            status=body["status"],
            status_notes=body.get("statusNotes") or "",
            received_at=iso_datetime(body["receivedAt"]),
            updated_at=iso_datetime(body["updatedAt"]),
            expected_by=optional_date(body.get("expectedBy")),
        )


@dataclass(frozen=True)
class DirectDebit:
    active: bool
    payment_day: int | None
    allowed_days: tuple[int, ...]
    next_collection: NextPayment | None

    @classmethod
    def from_api(cls, body: dict[str, Any]) -> DirectDebit:
        return cls(
            active=bool(body["active"]),
            payment_day=body.get("paymentDay"),
            allowed_days=tuple(body.get("allowedDays") or DIRECT_DEBIT_DAYS),
            next_collection=NextPayment.from_api(body.get("nextCollection")),
        )


@dataclass(frozen=True)
class DirectDebitChange:
    payment_day: int
    changed: bool
    effective_from: dt.date | None
    reference: str | None

    @classmethod
    def from_api(cls, body: dict[str, Any]) -> DirectDebitChange:
        return cls(
            int(body["paymentDay"]),
            bool(body["changed"]),
            optional_date(body.get("effectiveFrom")),
            body.get("reference"),
        )


@dataclass(frozen=True)
class SetupLink:
    """A one-use link to the secure direct debit form: a secret, never logged or stored."""

    url: str = field(repr=False)
    expires_at: dt.datetime

    @classmethod
    def from_api(cls, body: dict[str, Any]) -> SetupLink:
        return cls(body["url"], iso_datetime(body["expiresAt"]))


class CouncilTaxClient(ApiClient):
    system = "council_tax"

    async def auth_headers(self) -> dict[str, str]:
        return {"X-Api-Key": self.endpoint.key}

    def translate_error(self, response: httpx.Response, op: str) -> IntegrationError:
        code, status = error_code(response), response.status_code
        if status == 401 and code in ("verification_required", "verification_expired"):
            return VerificationExpired(f"{op}: {code}", reason=code, system=self.system, status=status)
        if status == 422 and code in ("not_verified", "too_many_attempts"):
            return NotVerified(f"{op}: {code}", reason=code, system=self.system, status=status)
        return contract_error(response, op, self.system)

    async def _call(
        self,
        method: str,
        path: str,
        op: str,
        build: Callable[[Any], T],
        verification: Verification | None = None,
        **kwargs: Any,
    ) -> T:
        """``ApiClient._call``, carrying the verification token when there is one."""
        headers = {"X-Verification-Token": verification.token} if verification else None
        return await super()._call(method, path, op, build, headers=headers, **kwargs)

    @staticmethod
    def _account(verification: Verification, tail: str = "") -> str:
        return f"/accounts/{segment(verification.account_reference)}{tail}"

    async def verify(self, account_reference: str, postcode: str) -> Verification:
        """``NotVerified`` if the pair does not match; it never says which half was wrong."""
        return await self._call(
            "POST",
            "/verifications",
            "council_tax.verify",
            lambda b: Verification(b["accountReference"], b["token"], iso_datetime(b["expiresAt"])),
            json={"accountReference": account_reference.strip(), "postcode": postcode.strip()},
            safe_to_retry=True,  # verifying twice changes nothing but the token
        )

    async def account(self, verification: Verification) -> Account:
        """Band, charge, paid to date, balance, arrears and instalments for this year."""
        return await self._call(
            "GET", self._account(verification), "council_tax.account", Account.from_api, verification
        )

    async def record_payment(
        self, account_reference: str, *, payment_id: str, amount_pence: int
    ) -> PaymentRecorded:
        """Record a successful GOV.UK Pay payment; idempotent by payment id, so safe to retry.

        No verification is needed: the successful payment itself is the authority
        (the resident may come back from the payment page after the token lapsed).
        """
        return await self._call(
            "POST",
            f"/accounts/{segment(account_reference)}/payments",
            "council_tax.record_payment",
            PaymentRecorded.from_api,
            json={"paymentId": payment_id, "amountPence": amount_pence},
            idempotency_key=payment_id,
        )

    async def report_moving_home(
        self,
        verification: Verification,
        *,
        moving_out_date: dt.date,
        within_area: bool,
        new_uprn: str | None = None,
        new_address: str | None = None,
        forwarding_address: str | None = None,
        idempotency_key: str,
    ) -> CouncilTaxRequest:
        body = {
            "movingOutDate": moving_out_date.isoformat(),
            "movingWithinArea": within_area,
            "newUprn": new_uprn,
            "newAddress": new_address,
            "forwardingAddress": forwarding_address,
        }
        return await self._call(
            "POST",
            self._account(verification, "/moving-home"),
            "council_tax.moving_home",
            CouncilTaxRequest.from_api,
            verification,
            json=body,
            idempotency_key=idempotency_key,
        )

    async def apply_single_person_discount(
        self, verification: Verification, *, living_alone_from: dt.date, idempotency_key: str
    ) -> CouncilTaxRequest:
        """``Rejected`` with reason ``already_receiving_discount`` or ``application_pending`` when refused."""
        return await self._call(
            "POST",
            self._account(verification, "/single-person-discount"),
            "council_tax.single_person_discount",
            CouncilTaxRequest.from_api,
            verification,
            json={"livingAloneFrom": living_alone_from.isoformat()},
            idempotency_key=idempotency_key,
        )

    async def direct_debit(self, verification: Verification) -> DirectDebit:
        return await self._call(
            "GET",
            self._account(verification, "/direct-debit"),
            "council_tax.direct_debit",
            DirectDebit.from_api,
            verification,
        )

    async def change_direct_debit_day(self, verification: Verification, day: int) -> DirectDebitChange:
        """Move collections to the 1st, 8th, 15th, 22nd or 28th (a PUT: safe to repeat)."""
        return await self._call(
            "PUT",
            self._account(verification, "/direct-debit"),
            "council_tax.change_direct_debit_day",
            DirectDebitChange.from_api,
            verification,
            json={"paymentDay": day},
        )

    async def direct_debit_setup_link(self, verification: Verification) -> SetupLink:
        """A one-use link to the secure form; the resident gives bank details there, never in chat."""
        return await self._call(
            "POST",
            self._account(verification, "/direct-debit/setup-links"),
            "council_tax.direct_debit_setup_link",
            SetupLink.from_api,
            verification,
            safe_to_retry=True,  # a second link is harmless; the first is never used
        )

    async def request_status(self, reference: str) -> CouncilTaxRequest:
        """A request by its ``CT-`` reference; ``NotFound`` if there is none."""
        return await self._call(
            "GET",
            f"/requests/{segment(reference.upper())}",
            "council_tax.request_status",
            CouncilTaxRequest.from_api,
        )
