"""What the contract tests (the real clients against the running sandbox) share.

Answers checked against the JSON Schemas in ``schemas/`` (one file a system), and a
GOV.UK Pay payment made and paid in the sandbox for the services that take one.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path

import httpx
import jsonschema

SCHEMAS = Path(__file__).parent / "schemas"

AssertSchema = Callable[[object, str], None]


def _definitions(system: str) -> dict:
    return json.loads((SCHEMAS / f"{system}.json").read_text())["definitions"]


def schema_assert(system: str) -> AssertSchema:
    """``assert_schema(instance, definition)`` for ``schemas/{system}.json``, by ``jsonschema.validate``."""
    definitions = _definitions(system)

    def assert_schema(instance: object, definition: str) -> None:
        jsonschema.validate(instance, {"$ref": f"#/definitions/{definition}", "definitions": definitions})

    return assert_schema


def draft7_schema_assert(system: str) -> AssertSchema:
    """The same with a Draft 7 validator, the schema checked and the validator built once a definition."""
    definitions = _definitions(system)

    @functools.cache
    def validator(definition: str) -> jsonschema.Draft7Validator:
        schema = {"$ref": f"#/definitions/{definition}", "definitions": definitions}
        jsonschema.Draft7Validator.check_schema(schema)
        return jsonschema.Draft7Validator(schema)

    def assert_schema(instance: object, definition: str) -> None:
        validator(definition).validate(instance)

    return assert_schema


def paid_payment(
    sandbox, amount: int, action: str | None = "pay", *, reference: str, description: str
) -> str:
    """A payment made in the GOV.UK Pay sandbox, paid on its payment page (or left unfinished)."""
    created = httpx.post(
        sandbox.url + "/v1/payments",
        headers={"Authorization": "Bearer api_test_sandbox-pay-key"},
        json={
            "amount": amount,
            "reference": reference,
            "description": description,
            "return_url": "https://127.0.0.1:8000/payments/return",
        },
        timeout=10,
    )
    assert created.status_code == 201, created.text
    payment = created.json()
    if action:
        with httpx.Client(timeout=10) as browser:
            opened = browser.get(payment["_links"]["next_url"]["href"])
            assert (
                browser.post(sandbox.url + opened.headers["location"], data={"action": action}).status_code
                == 303
            )
    return payment["payment_id"]
