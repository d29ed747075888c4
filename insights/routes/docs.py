"""The API's OpenAPI document and a readable page of it, both behind sign-in like everything else."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse

from insights.routes.deps import TEMPLATES, require_api_user, require_page_user

router = APIRouter(prefix="/api", tags=["documentation"], include_in_schema=False)


@router.get("/openapi.json", dependencies=[Depends(require_api_user)])
def openapi(request: Request) -> JSONResponse:
    return JSONResponse(request.app.openapi())


@router.get("/docs", response_class=HTMLResponse)
def docs(request: Request, user: str = Depends(require_page_user)) -> HTMLResponse:
    spec = request.app.openapi()
    operations: list[dict[str, Any]] = []
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            parameters = [
                {
                    "name": p["name"],
                    "where": p["in"],
                    "required": p.get("required", False),
                    "description": p.get("description") or p.get("schema", {}).get("description", ""),
                    "values": ", ".join(p.get("schema", {}).get("enum", [])),
                }
                for p in operation.get("parameters", [])
            ]
            operations.append(
                {
                    "method": method.upper(),
                    "path": path,
                    "summary": operation.get("summary", ""),
                    "parameters": parameters,
                }
            )
    return TEMPLATES.TemplateResponse(
        request,
        "docs.html",
        {
            "user_name": user,
            "signed_in": True,
            "operations": operations,
            "title": spec["info"]["title"],
            "version": spec["info"]["version"],
            "path": request.url.path,
            "all_reports": {},
        },
    )
