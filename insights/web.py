"""The demand reports app (port 8000): dashboard, JSON API, CSV, and the demo council page.

    python -m insights.web        # REPORTS_PORT (8000), settings from the environment (insights.settings)

Public: ``/health``, the sign-in page, styles, and the demo council page
(``insights.demo``, when that module exists). Everything else needs a bearer
token or a signed-in user: pages redirect to ``/login``, the API answers 401.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import logging
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from insights import auth, themes
from insights.routes import router
from insights.routes.deps import SignInRequired
from insights.settings import Settings
from insights.store import DemandStore

logger = logging.getLogger(__name__)
STATIC = Path(__file__).resolve().parent / "static"
#: Our pages run no script and load nothing from elsewhere.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'none'; style-src 'self'; "
    "img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}
OWN_PATHS = ("/reports", "/login", "/logout", "/api")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.store.create()  # an empty store answers with empty reports
        warm = asyncio.create_task(asyncio.to_thread(themes.warm_up))
        ingesting = asyncio.create_task(_ingest_forever(app)) if settings.ingest_seconds else None
        yield
        for task in (warm, ingesting):
            if task is not None:
                task.cancel()
        app.state.store.engine.dispose()

    app = FastAPI(
        title="Council Assistant: demand reports",
        version="1.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        description="Demand reports for service designers. Every endpoint needs "
        "`Authorization: Bearer <REPORTS_TOKEN>` or a signed-in session. Days are UK days.",
    )
    app.state.settings = settings
    app.state.store = DemandStore.from_settings(settings)
    app.state.throttle = auth.SignInThrottle()

    @app.get("/health", tags=["health"])
    def health() -> dict[str, str]:
        return {"status": "ok"}

    app.mount("/reports/static", StaticFiles(directory=STATIC), name="static")
    if settings.assets_dir.is_dir():
        app.mount("/reports/assets", StaticFiles(directory=settings.assets_dir), name="govuk-assets")
    else:
        logger.warning("GOV.UK Frontend assets not found at %s: run `make setup`", settings.assets_dir)

    if settings.css_path.is_file():
        app.mount("/reports/govuk", StaticFiles(directory=settings.css_path.parent), name="govuk-css")
    else:
        logger.warning("GOV.UK Frontend styles not built at %s: run `make setup`", settings.css_path)
    app.state.govuk_css = f"/reports/govuk/{settings.css_path.name}" if settings.css_path.is_file() else None

    app.include_router(router)
    if importlib.util.find_spec("insights.demo"):  # the demo council page with the chat widget
        app.include_router(importlib.import_module("insights.demo").router)
    else:

        @app.get("/", include_in_schema=False)
        def home() -> RedirectResponse:
            return RedirectResponse("/reports", status_code=303)

    _handlers(app)
    return app


async def _ingest_forever(app: FastAPI) -> None:
    """Ingest Rasa's events every ``DEMAND_INGEST_SECONDS``, and apply retention once a day. A failure is
    logged and the events wait in the broker table for the next round."""
    from insights import retention
    from insights.ingest import ingest_sql

    settings: Settings = app.state.settings
    last_retention = 0.0
    while True:
        try:
            result = await asyncio.to_thread(ingest_sql, app.state.store, settings)
            if result.events:
                logger.info("ingest: %s", result)
            if time.time() - last_retention > 86_400:
                logger.info(
                    "retention: %s", await asyncio.to_thread(retention.apply, app.state.store, settings)
                )
                last_retention = time.time()
        except Exception:
            logger.exception("ingest failed; the events wait in the broker table for the next round")
        await asyncio.sleep(settings.ingest_seconds)


def _handlers(app: FastAPI) -> None:
    @app.exception_handler(SignInRequired)
    async def sign_in(request: Request, exc: SignInRequired) -> Response:
        return RedirectResponse(f"/login?{_next(exc.next_path)}", status_code=303)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(e["loc"][:2] == ("path", "name") for e in errors):
            return JSONResponse({"detail": f"no report {request.path_params.get('name')!r}"}, status_code=404)
        return JSONResponse({"detail": "; ".join(_explain(e) for e in errors)}, status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        if request.url.path.startswith(OWN_PATHS):
            response.headers.update(SECURITY_HEADERS)
            if not request.url.path.startswith(("/reports/static", "/reports/assets")):
                response.headers["Cache-Control"] = "no-store"
        return response


def _next(path: str) -> str:
    from urllib.parse import urlencode

    return urlencode({"next": auth.safe_next(path)})


def _explain(error: dict[str, Any]) -> str:
    name = str(error["loc"][-1])
    hint = "; use YYYY-MM-DD" if "date" in error.get("type", "") else ""
    return f"{name}: {error['msg']}{hint}"


def main() -> None:
    uvicorn.run(
        "insights.web:create_app",
        factory=True,
        host=os.environ.get("REPORTS_HOST", "127.0.0.1"),
        port=int(os.environ.get("REPORTS_PORT", "8000")),
        log_level=os.environ.get("LOG_LEVEL", "warning").lower(),
    )


if __name__ == "__main__":
    main()
