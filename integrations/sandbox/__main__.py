"""Run the sandbox: ``python -m integrations.sandbox`` (port from SANDBOX_PORT, default 8081)."""

import os

import uvicorn

if __name__ == "__main__":
    uvicorn.run(
        "integrations.sandbox.main:create_app",
        factory=True,
        host=os.environ.get("SANDBOX_HOST", "127.0.0.1"),
        port=int(os.environ.get("SANDBOX_PORT", "8081")),
        log_level=os.environ.get("LOG_LEVEL", "warning").lower(),
    )
