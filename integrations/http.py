"""The one request pipeline every back-office client uses.

build request -> perform (with timeouts and safe retries) -> process response.

Policy (numbers in ``integrations.settings.Timeouts``):
- explicit connect and read timeouts, and a deadline for a call with all its
  retries, so a resident hears back within 10 s;
- retries only where repeating cannot do a thing twice: idempotent methods,
  or a request that carries an idempotency key, or one the client marks safe;
- retry on timeouts, connection failures, 408, 429 and 5xx, with jittered
  exponential backoff, honouring ``Retry-After`` when it fits the deadline;
- errors translated once into ``integrations.errors``, the cause kept;
- logs name the system, the operation, the status and the time taken: never
  URLs, query strings, bodies, keys or payment links.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ClassVar, TypeVar
from urllib.parse import quote

import httpx

from integrations.errors import (
    AuthFailed,
    IntegrationError,
    NotFound,
    Rejected,
    TimedOut,
    Unavailable,
)
from integrations.settings import Endpoint, Timeouts

logger = logging.getLogger("integrations")

# Methods that HTTP defines as idempotent: repeating them has the same effect.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
# 408: the server timed out waiting for us; 429: rate limited, come back later;
# 5xx: the server failed or a gateway could not reach it.
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})

Sleep = Callable[[float], Awaitable[None]]
T = TypeVar("T")


def segment(value: str) -> str:
    """One URL path segment: user input can never reach another path."""
    return quote(str(value).strip(), safe="")


def retry_after_seconds(response: httpx.Response) -> float | None:
    """Seconds asked for by a ``Retry-After`` header (delta or HTTP date)."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())


def backoff_delay(attempt: int, policy: Timeouts, rng: random.Random | None = None) -> float:
    """Exponential backoff with full jitter between half and all of the step."""
    step = min(policy.backoff_cap, policy.backoff_start * (2**attempt))
    return step * (0.5 + 0.5 * (rng or random).random())


def error_message(response: httpx.Response) -> str:
    """A short reason from a JSON error body, whatever its shape; never the raw text."""
    try:
        body = response.json()
    except ValueError:
        return response.reason_phrase or "error"
    # Koha {"error": "..."}, OS Places {"error": {"message": ...}},
    # Open311 [{"code", "description"}], Pay {"code", "description"},
    # Notify {"errors": [{"error", "message"}]}, OpenActive {"@type": "...Error"}.
    if isinstance(body, list) and body and isinstance(body[0], dict):
        body = body[0]
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            return str(err.get("message") or err)
        if isinstance(err, str):
            return err
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            return str(errors[0].get("message") or errors[0].get("error") or "error")
        for key in ("description", "message", "@type", "detail"):
            if isinstance(body.get(key), str):
                return body[key]
    return response.reason_phrase or "error"


def error_object(response: httpx.Response) -> dict[str, Any]:
    """The ``error`` object of our own contracts' error bodies (``{"error": {"code", ...}}``), or ``{}``."""
    try:
        body = response.json()
    except ValueError:
        return {}
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


def error_code(response: httpx.Response) -> str:
    """The ``code`` of our own contracts' errors: ``{"error": {"status", "code", "message"}}``."""
    error = error_object(response)
    return str(error["code"]) if "code" in error else error_message(response)


def contract_error(response: httpx.Response, op: str, system: str) -> IntegrationError:
    """Our own contracts' errors in the hierarchy; a refusal's ``code`` becomes ``Rejected.reason``."""
    status = response.status_code
    code = error_code(response)
    kwargs: dict[str, Any] = {"system": system, "status": status}
    if status == 401:
        return AuthFailed(f"{op}: credentials refused", **kwargs)
    if status == 404:
        return NotFound(f"{op}: {code}", **kwargs)
    if status in RETRYABLE_STATUSES or status >= 500:
        return Unavailable(f"{op}: system unavailable", **kwargs)
    return Rejected(f"{op}: {code}", reason=code, **kwargs)


class ApiClient:
    """Base of every back-office client.

    Subclasses set ``system``, add typed operations, and may override
    ``auth_headers`` and ``translate_error`` for their system's specifics.
    """

    system: ClassVar[str] = "backoffice"
    #: What ``_typed`` says, and which errors of a builder it catches, when a success body
    #: is not the shape the system promised.
    unexpected_shape: ClassVar[str] = "unexpected response"
    shape_errors: ClassVar[tuple[type[Exception], ...]] = (KeyError, TypeError, ValueError)

    def __init__(
        self,
        http: httpx.AsyncClient,
        endpoint: Endpoint,
        timeouts: Timeouts | None = None,
        *,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.http = http
        self.endpoint = endpoint
        self.timeouts = timeouts or Timeouts()
        self._sleep = sleep
        self._rng = rng

    # --- hooks -----------------------------------------------------------
    async def auth_headers(self) -> dict[str, str]:
        """Headers that authenticate us; by default none."""
        return {}

    def translate_error(self, response: httpx.Response, op: str) -> IntegrationError:
        """Turn a non-success response into the error hierarchy."""
        status = response.status_code
        message = error_message(response)
        kwargs: dict[str, Any] = {"system": self.system, "status": status}
        if status in (401, 403):
            return AuthFailed(f"{op}: credentials refused", **kwargs)
        if status == 404:
            return NotFound(f"{op}: not found", **kwargs)
        if status in RETRYABLE_STATUSES or status >= 500:
            return Unavailable(f"{op}: system unavailable", **kwargs)
        return Rejected(f"{op}: {message}", reason=message, **kwargs)

    # --- the pipeline ----------------------------------------------------
    def url(self, path: str) -> str:
        return self.endpoint.base_url + path

    async def request(
        self,
        method: str,
        path: str,
        *,
        op: str,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        idempotency_header: str = "Idempotency-Key",
        safe_to_retry: bool | None = None,
        ok: tuple[int, ...] = (200, 201, 202, 204),
        authenticate: bool = True,
    ) -> httpx.Response:
        """Perform one operation; return the response or raise an ``IntegrationError``.

        ``op`` names the operation in logs (``koha.renew``), in place of the URL.
        ``safe_to_retry`` overrides the method-based rule for calls that are
        idempotent by design (an OpenActive ``PUT`` is anyway; a cancel
        ``PATCH`` setting a final status is, and may say so).
        """
        method = method.upper()
        all_headers: dict[str, str] = {}
        if authenticate:
            all_headers.update(await self.auth_headers())
        if headers:
            all_headers.update(headers)
        if idempotency_key:
            all_headers[idempotency_header] = idempotency_key
        if safe_to_retry is None:
            safe_to_retry = method in IDEMPOTENT_METHODS or bool(idempotency_key)

        policy = self.timeouts
        started = time.monotonic()
        attempt = 0
        while True:
            remaining = policy.deadline - (time.monotonic() - started)
            timeout = httpx.Timeout(
                max(0.05, min(policy.read, remaining)),
                connect=max(0.05, min(policy.connect, remaining)),
            )
            t0 = time.monotonic()
            wait: float | None = None
            try:
                response = await self.http.request(
                    method,
                    self.url(path),
                    params=params,
                    json=json,
                    data=data,
                    headers=all_headers,
                    timeout=timeout,
                )
            except httpx.ConnectError as exc:
                # Nothing reached the server, so a retry is always safe.
                failure: IntegrationError = Unavailable(f"{op}: cannot connect", system=self.system)
                failure.__cause__ = exc
                can_retry = True
                self._log(op, method, "connect-error", t0, attempt)
            except httpx.ConnectTimeout as exc:
                failure = TimedOut(f"{op}: connect timed out", system=self.system)
                failure.__cause__ = exc
                can_retry = True
                self._log(op, method, "connect-timeout", t0, attempt)
            except httpx.TimeoutException as exc:
                failure = TimedOut(f"{op}: timed out", system=self.system)
                failure.__cause__ = exc
                can_retry = safe_to_retry
                self._log(op, method, "timeout", t0, attempt)
            except httpx.TransportError as exc:
                failure = Unavailable(f"{op}: connection failed", system=self.system)
                failure.__cause__ = exc
                can_retry = safe_to_retry
                self._log(op, method, "transport-error", t0, attempt)
            else:
                self._log(op, method, response.status_code, t0, attempt)
                if response.status_code in ok:
                    return response
                failure = self.translate_error(response, op)
                # A system may say a 5xx is final (OpenActive OrderAlreadyExistsError is a 500).
                can_retry = safe_to_retry and response.status_code in RETRYABLE_STATUSES and failure.retryable
                wait = retry_after_seconds(response) if can_retry else None

            if not can_retry or attempt >= policy.max_retries:
                raise failure
            delay = wait if wait is not None else backoff_delay(attempt, policy, self._rng)
            remaining = policy.deadline - (time.monotonic() - started)
            # Leave time for the next attempt to do something useful.
            if delay + 0.1 >= remaining:
                raise failure
            await self._sleep(delay)
            attempt += 1

    # --- typed results ---------------------------------------------------------------
    def _typed(self, response: httpx.Response, op: str, build: Callable[[Any], T]) -> T:
        """``build`` applied to a success response's JSON; ``Unavailable`` if it is not that shape."""
        body = json_of(response, op, self.system)
        try:
            return build(body)
        except self.shape_errors as exc:
            raise Unavailable(f"{op}: {self.unexpected_shape}", system=self.system) from exc

    async def _call(self, method: str, path: str, op: str, build: Callable[[Any], T], **kwargs: Any) -> T:
        """One operation (``request``), its success body typed by ``build`` (``_typed``)."""
        return self._typed(await self.request(method, path, op=op, **kwargs), op, build)

    async def _get(
        self, path: str, op: str, build: Callable[[Any], T], params: Mapping[str, Any] | None = None
    ) -> T:
        return await self._call("GET", path, op, build, params=params)

    def _log(self, op: str, method: str, outcome: object, t0: float, attempt: int) -> None:
        logger.info(
            "%s %s %s -> %s in %.0f ms (attempt %d)",
            self.system,
            op,
            method,
            outcome,
            (time.monotonic() - t0) * 1000,
            attempt + 1,
        )


def json_of(response: httpx.Response, op: str, system: str) -> Any:
    """The JSON body of a success response, or ``Unavailable`` if it is not JSON."""
    try:
        return response.json()
    except ValueError as exc:
        raise Unavailable(f"{op}: response was not JSON", system=system) from exc


def new_http_client(timeouts: Timeouts | None = None, **kwargs: Any) -> httpx.AsyncClient:
    """The shared ``httpx.AsyncClient`` the action server injects into every client."""
    timeouts = timeouts or Timeouts()
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeouts.read, connect=timeouts.connect),
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
        headers={"User-Agent": "council-assistant/0.1"},
        **kwargs,
    )
