"""The sandbox app: every back-office system at its real paths, state in SQLite."""

from __future__ import annotations

import datetime as dt
import importlib
import logging
import pkgutil
from types import ModuleType
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from integrations.sandbox import systems as systems_package
from integrations.sandbox.db import Database
from integrations.sandbox.faults import Fault, FaultRules, admin_router, fault_middleware
from integrations.sandbox.settings import SandboxSettings
from integrations.sandbox.world import build_world

logger = logging.getLogger("integrations.sandbox")


def discover_systems() -> list[ModuleType]:
    """Every system module in ``integrations.sandbox.systems``, in name order."""
    modules = []
    for info in sorted(pkgutil.iter_modules(systems_package.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{systems_package.__name__}.{info.name}")
        if hasattr(module, "router"):
            modules.append(module)
    return modules


def reset_state(app: FastAPI, today: dt.date | None = None) -> None:
    """Drop every table and seed the demo council again (for ``today``, default the configured day)."""
    db: Database = app.state.db
    world = build_world(today or app.state.settings.today)
    with db.write_lock:
        conn = db.connect()
        try:
            # Tables go in any order, so references between them must not block the drop.
            conn.execute("PRAGMA foreign_keys=OFF")
            for table in db.tables():
                conn.execute(f'DROP TABLE IF EXISTS "{table}"')
            conn.execute("PRAGMA foreign_keys=ON")
            for module in app.state.systems:
                conn.executescript(getattr(module, "SCHEMA", ""))
            for module in app.state.systems:
                seed = getattr(module, "seed", None)
                if seed is not None:
                    seed(conn, world)
            conn.execute("CREATE TABLE sandbox_meta (key TEXT PRIMARY KEY, value TEXT)")
            conn.execute("INSERT INTO sandbox_meta VALUES ('today', ?)", (world.today.isoformat(),))
            conn.commit()
        finally:
            conn.close()
    app.state.world = world
    app.state.faults.clear()
    for hook in app.state.reset_hooks:
        hook(app)


def create_app(settings: SandboxSettings | None = None) -> FastAPI:
    settings = settings or SandboxSettings.from_env()
    app = FastAPI(
        title="Council back-office sandbox",
        description=(
            "Imitates the council's back-office systems at their real API paths "
            "(OS Places, OpenActive, Koha, Open311, GOV.UK Pay and Notify) and "
            "documents our own contracts (waste, council tax, contact centre). "
            "State in SQLite; `/_admin` resets it and injects faults."
        ),
        version="1.0",
    )
    app.state.settings = settings
    app.state.db = Database(settings.db_path)
    app.state.faults = FaultRules()
    app.state.systems = discover_systems()
    app.state.reset_hooks = []

    def error_body(path: str, status: int, message: str) -> Any:
        for module in app.state.systems:
            for prefix in getattr(module, "PATH_PREFIXES", ()):
                if path.startswith(prefix):
                    return module.error_body(status, message)
        return {"error": message}

    app.middleware("http")(fault_middleware(app.state.faults, error_body))

    @app.exception_handler(RequestValidationError)
    async def on_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        message = f"{where}: {first.get('msg', 'invalid')}" if where else "invalid request"
        return JSONResponse(error_body(request.url.path, 400, message), status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail
        if isinstance(detail, (dict, list)):
            body = detail  # the route already built the system's own shape
        else:
            body = error_body(request.url.path, exc.status_code, str(detail))
        return JSONResponse(body, status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("sandbox error on %s %s", request.method, request.url.path)
        return JSONResponse(error_body(request.url.path, 503, "temporarily unavailable"), status_code=503)

    @app.get("/health", tags=["admin"])
    def health() -> dict[str, Any]:
        return {"status": "ok", "systems": [m.__name__.rsplit(".", 1)[-1] for m in app.state.systems]}

    admin = APIRouter(prefix="/_admin", tags=["admin"])

    @admin.post("/reset")
    def reset(today: dt.date | None = None) -> dict[str, Any]:
        """Seed the demo council again; ``?today=YYYY-MM-DD`` builds it for another day (tests, demos)."""
        reset_state(app, today)
        return {"status": "reset", "today": app.state.world.today.isoformat()}

    @admin.get("/state/{table}")
    def table_rows(table: str, limit: int = 1000) -> list[dict[str, Any]]:
        """Read-only view of one table, for tests and demos."""
        if table not in app.state.db.tables():
            raise HTTPException(404, f"no table {table}")
        conn = app.state.db.connect()
        try:
            rows = conn.execute(f'SELECT * FROM "{table}" LIMIT ?', (limit,)).fetchall()
        finally:
            conn.close()
        return [dict(r) for r in rows]

    app.include_router(admin)
    app.include_router(admin_router(app.state.faults))
    for module in app.state.systems:
        app.include_router(module.router)

    seeded_for = _seeded_day(app.state.db)
    wanted = settings.today or build_world().today
    if seeded_for != wanted.isoformat():
        reset_state(app)  # fresh file, or demo data built for another day
    else:
        app.state.world = build_world(wanted)
    app.state.faults.set([Fault(**f) for f in settings.faults])
    return app


def _seeded_day(db: Database) -> str | None:
    if "sandbox_meta" not in db.tables():
        return None
    conn = db.connect()
    try:
        row = conn.execute("SELECT value FROM sandbox_meta WHERE key = 'today'").fetchone()
    finally:
        conn.close()
    return row[0] if row else None
