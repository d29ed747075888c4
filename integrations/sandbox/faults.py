"""Fault injection: latency, an error status, or a hang, per route.

A fault matches requests whose path starts with ``path`` (and, if given,
whose method is ``method``). It can apply a fixed number of ``times`` and
then disappear. Faults are switched on and off through ``/_admin/faults`` or
from settings (``SANDBOX_FAULTS``).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, validator

#: A hang lasts this long at most, so that a forgotten fault cannot stall a test run.
MAX_HANG_SECONDS = 120.0


class Fault(BaseModel):
    path: str = Field(..., description="path prefix, e.g. /api/v1/checkouts")
    method: str | None = Field(None, description="only this HTTP method")
    latency_ms: int = Field(0, ge=0, le=120_000)
    status: int | None = Field(None, ge=400, le=599, description="answer with this status")
    hang: bool = Field(False, description="never answer (until MAX_HANG_SECONDS)")
    times: int | None = Field(None, ge=1, description="apply this many times, then remove")
    body: Any = Field(None, description="JSON body for the error status")
    retry_after: int | None = Field(None, ge=0, description="Retry-After header with the status")

    @validator("path")
    def _path_is_absolute(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("path must start with /")
        return value

    @validator("method")
    def _upper(cls, value: str | None) -> str | None:
        return value.upper() if value else value

    def matches(self, method: str, path: str) -> bool:
        return path.startswith(self.path) and (self.method is None or self.method == method)


class FaultRules:
    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def set(self, faults: list[Fault]) -> None:
        with self._lock:
            self._faults = list(faults)

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults = []

    def list(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def take(self, method: str, path: str) -> Fault | None:
        """The first fault matching this request, counting one use of it."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times <= 0:
                            self._faults.remove(fault)
                    return fault
        return None


def fault_middleware(rules: FaultRules, error_body: Callable[[str, int, str], Any]):
    """An HTTP middleware applying the first matching fault; admin paths never fault."""

    async def middleware(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        path = request.url.path
        if path.startswith("/_admin") or path == "/health":
            return await call_next(request)
        fault = rules.take(request.method, path)
        if fault is None:
            return await call_next(request)
        if fault.latency_ms:
            await asyncio.sleep(fault.latency_ms / 1000)
        if fault.hang:
            await asyncio.sleep(MAX_HANG_SECONDS)
        if fault.status:
            body = fault.body if fault.body is not None else error_body(path, fault.status, "injected fault")
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else None
            return JSONResponse(body, status_code=fault.status, headers=headers)
        return await call_next(request)

    return middleware


def admin_router(rules: FaultRules) -> APIRouter:
    router = APIRouter(prefix="/_admin/faults", tags=["admin"])

    @router.get("")
    def list_faults() -> list[Fault]:
        return rules.list()

    @router.post("", status_code=201)
    def add_fault(fault: Fault) -> Fault:
        rules.add(fault)
        return fault

    @router.put("")
    def replace_faults(faults: list[Fault]) -> list[Fault]:
        rules.set(faults)
        return faults

    @router.delete("", status_code=204)
    def clear_faults() -> Response:
        rules.clear()
        return Response(status_code=204)

    return router
