"""The action server, as Rasa alone may call it: ``python -m actions.server``.

rasa-sdk's own server (``rasa run actions``) has no authentication, listens
on every interface, and answers an action that raised with a 500 holding the
whole tracker (the resident's messages and slots) in ``request_body``. This
entry point runs the same ``ActionExecutor`` with:

- a bearer token on ``/webhook`` and ``/actions`` (``ACTION_SERVER_TOKEN``,
  compared in constant time; Rasa sends it as ``Authorization: Bearer …``
  from ``action_endpoint.headers`` in ``endpoints.yml``); the server refuses
  to start without one. ``/health`` stays open for the load balancer;
- a call that is not an action call (bad JSON, wrong shape, an oversized or
  over-compressed body) answered 400 or 413, never run;
- an action that raises answered with a safe reply the resident sees
  (``FALLBACK_TEXT``), its form stopped and the outcome marked, so Rasa keeps
  the conversation's events; the error and traceback go to the log only;
- every other error a short JSON ``{"error": …}``, no stack trace, no tracker;
- bound to 127.0.0.1 unless ``ACTION_HOST`` says otherwise.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import sys
import zlib
from typing import Any

from rasa_sdk.executor import ActionExecutor
from rasa_sdk.interfaces import ActionExecutionRejection, ActionNotFoundException
from sanic import Sanic, response
from sanic.exceptions import SanicException
from sanic.request import Request
from sanic.response import HTTPResponse

logger = logging.getLogger("actions.server")

#: Biggest action call accepted (a long conversation's tracker), before and after decompression.
MAX_BODY_BYTES = 4 * 1024 * 1024
FALLBACK_TEXT = (
    "Sorry, something went wrong on our side and I couldn't finish that. "
    "Please try again in a few minutes, or talk to a person."
)
PERSON_BUTTON = {"title": "Talk to a person", "payload": "/request_human"}


class BadCall(Exception):
    """The request is not an action call we will run."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def fallback_result(action_call: dict[str, Any]) -> dict[str, Any]:
    """What Rasa gets when an action raised: a reply, the form stopped, the outcome marked."""
    tracker = action_call.get("tracker") or {}
    intent = ((tracker.get("latest_message") or {}).get("intent") or {}).get("name") or ""
    events: list[dict[str, Any]] = []
    if (tracker.get("active_loop") or {}).get("name"):
        events += [
            {"event": "active_loop", "name": None},
            {"event": "slot", "name": "requested_slot", "value": None},
        ]
    events.append(
        {
            "event": "slot",
            "name": "outcome",
            "value": {"outcome": "integration_failed", "intent": intent, "system": "assistant"},
        }
    )
    return {"events": events, "responses": [{"text": FALLBACK_TEXT, "buttons": [PERSON_BUTTON]}]}


def read_call(request: Request) -> dict[str, Any]:
    """The action call in the body, checked for size and shape; ``BadCall`` if it isn't one."""
    body = request.body or b""
    if len(body) > MAX_BODY_BYTES:
        raise BadCall(413, "body too large")
    if request.headers.get("Content-Encoding", "").lower() == "deflate":
        inflater = zlib.decompressobj()
        try:
            body = inflater.decompress(body, MAX_BODY_BYTES + 1)
        except zlib.error:
            raise BadCall(400, "body is not deflate data") from None
        if len(body) > MAX_BODY_BYTES or inflater.unconsumed_tail:
            raise BadCall(413, "body too large")
    try:
        call = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise BadCall(400, "body is not JSON") from None
    if not isinstance(call, dict):
        raise BadCall(400, "an action call is a JSON object")
    if not isinstance(call.get("next_action"), str) or not call["next_action"]:
        raise BadCall(400, "next_action is missing")
    tracker = call.get("tracker")
    if not isinstance(tracker, dict) or not isinstance(tracker.get("sender_id"), str):
        raise BadCall(400, "tracker is missing")
    if not isinstance(tracker.get("events", []), list) or not isinstance(tracker.get("slots", {}), dict):
        raise BadCall(400, "tracker is malformed")
    if not isinstance(call.get("domain", {}), dict):
        raise BadCall(400, "domain is malformed")
    return call


def token_ok(request: Request, token: str) -> bool:
    scheme, _, given = (request.headers.get("Authorization") or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def create_app(token: str, package: str = "actions") -> Sanic:
    if not token:
        raise ValueError("ACTION_SERVER_TOKEN is not set: the action server only serves authenticated calls")
    app = Sanic("council_actions", configure_logging=False)
    app.config.REQUEST_MAX_SIZE = MAX_BODY_BYTES
    app.config.FALLBACK_ERROR_FORMAT = "json"
    executor = ActionExecutor()
    executor.register_package(package)

    def refused() -> HTTPResponse:
        return response.json({"error": "unauthorised"}, status=401, headers={"WWW-Authenticate": "Bearer"})

    @app.get("/health")
    async def health(_: Request) -> HTTPResponse:
        return response.json({"status": "ok"})

    @app.get("/actions")
    async def actions(request: Request) -> HTTPResponse:
        if not token_ok(request, token):
            return refused()
        return response.json([{"name": name} for name in executor.actions])

    @app.post("/webhook")
    async def webhook(request: Request) -> HTTPResponse:
        if not token_ok(request, token):
            return refused()
        try:
            call = read_call(request)
        except BadCall as bad:
            return response.json({"error": bad.reason}, status=bad.status)
        name = call["next_action"]
        try:
            result = await executor.run(call)
        except ActionExecutionRejection as rejection:  # a form's "not this one": Rasa expects a 400
            body = {"error": rejection.message, "action_name": rejection.action_name}
            return response.json(body, status=400)
        except ActionNotFoundException as missing:
            logger.error("action server: no action %r", missing.action_name)
            return response.json({"error": "no such action", "action_name": missing.action_name}, status=404)
        except Exception:
            logger.exception("action server: action %s failed; answering with the safe reply", name)
            return response.json(fallback_result(call))
        return response.json(result)

    @app.exception(Exception)
    async def on_error(request: Request, error: Exception) -> HTTPResponse:
        if isinstance(error, SanicException):
            status = getattr(error, "status_code", 500) or 500
            return response.json({"error": str(error.args[0]) if error.args else "error"}, status=status)
        logger.error("action server: unexpected %s on %s", type(error).__name__, request.path)
        return response.json({"error": "internal error"}, status=500)

    return app


def main() -> None:
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO"), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    token = os.environ.get("ACTION_SERVER_TOKEN", "")
    if not token:
        print(
            "error: set ACTION_SERVER_TOKEN: the action server serves authenticated calls only",
            file=sys.stderr,
        )
        sys.exit(2)
    host = os.environ.get("ACTION_HOST", "127.0.0.1")
    port = int(os.environ.get("ACTION_PORT", "5055"))
    app = create_app(token)
    logger.info("action server on http://%s:%d", host, port)
    app.run(host=host, port=port, workers=1, access_log=False, motd=False)


if __name__ == "__main__":
    main()
