"""Dependencies shared by the reports app's routers: settings, the store, who is asking, the filters."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import jinja2
from fastapi import Depends, HTTPException, Request
from fastapi.templating import Jinja2Templates
from sqlalchemy.engine import Connection

from insights import auth, filters
from insights.settings import Settings
from insights.store import DemandStore

TEMPLATES = Jinja2Templates(
    env=jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).resolve().parents[1] / "templates"),
        autoescape=True,  # everything residents typed is escaped; only our chart SVG is marked safe
        undefined=jinja2.StrictUndefined,
    )
)


class SignInRequired(Exception):
    """Raised by pages (not the API) when nobody is signed in: the app redirects to the sign-in page."""

    def __init__(self, next_path: str) -> None:
        self.next_path = next_path


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_store(request: Request) -> DemandStore:
    return request.app.state.store


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[DemandStore, Depends(get_store)]


def get_connection(store: StoreDep) -> Iterator[Connection]:
    with store.engine.connect() as conn:
        yield conn


ConnectionDep = Annotated[Connection, Depends(get_connection)]


def who(request: Request, settings: SettingsDep) -> str | None:
    """``"token"`` for a valid bearer token, the user's name for a valid session, else ``None``."""
    if auth.token_ok(settings, request.headers.get("authorization")):
        return "token"
    return auth.session_user(settings, request.cookies.get(auth.COOKIE))


def require_api_user(user: Annotated[str | None, Depends(who)]) -> str:
    if user is None:
        raise HTTPException(
            401,
            "Not signed in: send 'Authorization: Bearer <REPORTS_TOKEN>' or sign in at /login",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return user


def require_page_user(request: Request, user: Annotated[str | None, Depends(who)]) -> str:
    if user is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(target)
    return user


#: The services and channels a filter may name change only with new demand: looked up once a minute.
KNOWN_SECONDS = 60.0


def known(request: Request, conn: ConnectionDep) -> filters.Known:
    cached = getattr(request.app.state, "known", None)
    if cached is None or time.monotonic() - cached[0] > KNOWN_SECONDS:
        cached = (time.monotonic(), filters.known(conn))
        request.app.state.known = cached
    return cached[1]


KnownDep = Annotated[filters.Known, Depends(known)]
