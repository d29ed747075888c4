"""The reports app's routers, one per file; this module only gathers them."""

from __future__ import annotations

from fastapi import APIRouter

from insights.routes import api, auth, dashboard, docs

router = APIRouter()
router.include_router(auth.router)
router.include_router(dashboard.router)
router.include_router(api.router)
router.include_router(docs.router)
