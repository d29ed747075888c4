"""Typed dependencies every system router uses."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request

from integrations.sandbox.settings import SandboxSettings
from integrations.sandbox.world import World


def get_db(request: Request) -> Iterator[sqlite3.Connection]:
    """A connection for this request, committed when the route returns."""
    yield from request.app.state.db.session()


def get_world(request: Request) -> World:
    return request.app.state.world


def get_settings(request: Request) -> SandboxSettings:
    return request.app.state.settings


# scope="function": commit when the route returns, before the response is sent, so a
# client never reads ahead of its own write (the default scope commits after sending).
DbDep = Annotated[sqlite3.Connection, Depends(get_db, scope="function")]
WorldDep = Annotated[World, Depends(get_world)]
SettingsDep = Annotated[SandboxSettings, Depends(get_settings)]
