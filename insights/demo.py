"""The demo council page with the chat widget, and the widget's files.

- ``GET /`` and ``GET /demo``: a council page (GOV.UK Frontend design) that
  embeds the widget with its one script tag.
- ``GET /static/widget/{name}``: the widget (``widget.js``, ``widget.css``)
  and the demo page's stylesheet, from ``insights/static/widget/``. A council
  embeds the widget on its own site with the same script tag.

Settings, from the environment: ``RASA_PUBLIC_URL`` (where browsers reach the
assistant's webchat channel; default ``http://127.0.0.1:$RASA_PORT``),
``COUNCIL_NAME``, ``COUNCIL_PHONE``, ``WIDGET_TITLE``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import FileResponse, HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

HERE = Path(__file__).parent
WIDGET_DIR = HERE / "static" / "widget"
STATIC_PATH = "/static/widget"
MEDIA_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}

router = APIRouter(tags=["demo"])


@dataclass(frozen=True)
class DemoSettings:
    assistant_url: str
    council: str
    phone: str
    title: str

    @classmethod
    def from_env(cls) -> DemoSettings:
        rasa = f"http://127.0.0.1:{os.environ.get('RASA_PORT', '5005')}"
        return cls(
            assistant_url=os.environ.get("RASA_PUBLIC_URL", rasa).rstrip("/"),
            council=os.environ.get("COUNCIL_NAME", "Example Council"),
            phone=os.environ.get("COUNCIL_PHONE", "0300 456 0100"),
            title=os.environ.get("WIDGET_TITLE", "Ask the council"),
        )


def get_settings() -> DemoSettings:
    return DemoSettings.from_env()


def get_templates() -> Environment:
    return Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]))


SettingsDep = Annotated[DemoSettings, Depends(get_settings)]
TemplatesDep = Annotated[Environment, Depends(get_templates)]


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
@router.get("/demo", response_class=HTMLResponse, summary="The demo council page with the chat widget")
def demo_page(settings: SettingsDep, templates: TemplatesDep) -> HTMLResponse:
    page = templates.get_template("demo.html").render(
        council=settings.council,
        phone=settings.phone,
        title=settings.title,
        assistant_url=settings.assistant_url,
        static=STATIC_PATH,
    )
    return HTMLResponse(page)


@router.get(STATIC_PATH + "/{name}", summary="The chat widget's files")
def widget_file(name: str) -> FileResponse:
    path = WIDGET_DIR / name
    # Only files directly in the widget folder, of the kinds it holds.
    if path.suffix not in MEDIA_TYPES or path.parent != WIDGET_DIR or not path.is_file():
        raise HTTPException(404, "Not found")
    return FileResponse(path, media_type=MEDIA_TYPES[path.suffix], headers={"Cache-Control": "no-cache"})
