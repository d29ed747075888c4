"""The demand reports app (port 8000): dashboard, JSON API, CSV, and the demo council page."""

from __future__ import annotations

import os

import uvicorn
from fastapi import FastAPI


def create_app() -> FastAPI:
    app = FastAPI(title="Council Assistant: demand reports", version="0.1")

    @app.get("/health", tags=["health"])
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


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
