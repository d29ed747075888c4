"""Signing in and out of the dashboard."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from insights import auth
from insights.routes.deps import TEMPLATES, SettingsDep

router = APIRouter(tags=["sign in"], include_in_schema=False)


def _page(
    request: Request, *, next_path: str, error: str | None = None, status: int = 200, user: str = ""
) -> HTMLResponse:
    return TEMPLATES.TemplateResponse(
        request,
        "login.html",
        {
            "next_path": auth.safe_next(next_path),
            "error": error,
            "user_name": user,
            "signed_in": False,
        },
        status_code=status,
    )


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/reports") -> HTMLResponse:  # noqa: A002 - the query name
    return _page(request, next_path=next)


@router.post("/login")
def login(
    request: Request,
    settings: SettingsDep,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/reports",  # noqa: A002
) -> Response:
    throttle: auth.SignInThrottle = request.app.state.throttle
    client = request.client.host if request.client else "unknown"
    if throttle.blocked(client):
        return _page(
            request,
            next_path=next,
            status=429,
            user=username,
            error="Too many attempts to sign in. Wait 5 minutes and try again.",
        )
    if not auth.password_ok(settings, username, password):
        throttle.failed(client)
        error = (
            "Enter your user name"
            if not username
            else "Enter your password"
            if not password
            else "The user name or password is not right"
        )
        return _page(request, next_path=next, status=401, user=username, error=error)
    throttle.succeeded(client)
    response = RedirectResponse(auth.safe_next(next), status_code=303)
    response.set_cookie(
        auth.COOKIE,
        auth.session_cookie(settings, username),
        max_age=auth.SESSION_SECONDS,
        httponly=True,
        samesite="strict",
        secure=settings.cookie_secure,
        path="/",
    )
    return response


@router.post("/logout")
def logout() -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(auth.COOKIE, path="/")
    return response
