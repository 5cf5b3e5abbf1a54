"""Validate stand-in responses and event payloads against GitHub's vendored schemas.

``rest-operations.json`` and ``webhooks.json`` are produced by ``extract.py`` from
``@octokit/openapi`` and ``@octokit/openapi-webhooks``. A response is checked against
the schema the operation documents for that status; error statuses an operation does
not document are checked against GitHub's generic ``basic-error`` /
``validation-error`` bodies. An operation or event with no vendored schema fails.
"""

from __future__ import annotations

import json
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

HERE = Path(__file__).resolve().parent


@lru_cache(maxsize=1)
def rest_spec() -> dict[str, Any]:
    return json.loads((HERE / "rest-operations.json").read_text())


@lru_cache(maxsize=1)
def webhook_spec() -> dict[str, Any]:
    return json.loads((HERE / "webhooks.json").read_text())


def _pointer(*parts: str) -> str:
    return "#/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


@cache
def _validator(kind: str, pointer: str) -> Draft202012Validator:
    doc = rest_spec() if kind == "rest" else webhook_spec()
    return Draft202012Validator({**doc, "$ref": pointer})


def _errors(kind: str, pointer: str, instance: Any) -> list[str]:
    validator = _validator(kind, pointer)
    out = []
    for err in sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path)):
        where = "/".join(str(p) for p in err.absolute_path) or "<root>"
        out.append(f"{where}: {err.message[:300]}")
    return out


def check_response(operation: str | None, status: int, body: Any) -> list[str]:
    """Problems with one response body; empty when it conforms."""
    ops = rest_spec()["operations"]
    if operation is None:  # no route matched: GitHub answers a basic 404
        return _errors("rest", _pointer("components", "schemas", "basic-error"), body)
    if operation not in ops:
        return [f"{operation}: no vendored schema (add it to tests/openapi/extract.py)"]
    responses = ops[operation]["responses"]
    key = str(status)
    if key in responses and responses[key] is not None:
        return [
            f"{operation} {status} {e}"
            for e in _errors("rest", _pointer("operations", operation, "responses", key), body)
        ]
    if status >= 400:
        name = "validation-error" if status == 422 else "basic-error"
        if body is None:
            return [f"{operation} {status}: error without a body"]
        return [
            f"{operation} {status} {e}"
            for e in _errors("rest", _pointer("components", "schemas", name), body)
        ]
    if key in responses:  # documented without a body (204, ...)
        return [] if body is None else [f"{operation} {status}: body where none is documented"]
    return [f"{operation} answered undocumented status {status}"]


def webhook_name(event: str, action: str | None) -> str:
    name = event.replace("_", "-")
    return f"{name}-{action.replace('_', '-')}" if action else name


def check_event(event: str, action: str | None, payload: Any) -> list[str]:
    name = webhook_name(event, action)
    if name not in webhook_spec()["webhooks"]:
        return [f"{name}: no vendored webhook schema (add it to tests/openapi/extract.py)"]
    return [f"{name} {e}" for e in _errors("webhook", _pointer("webhooks", name), payload)]


def check_sandbox(sandbox: Any) -> list[str]:
    """All conformance problems of a ``GitHubSandbox`` run with ``record_responses=True``."""
    problems: list[str] = []
    seen: set[str] = set()
    for operation, status, body, _fault in sandbox.responses:
        for p in check_response(operation, status, body):
            if p not in seen:
                seen.add(p)
                problems.append(p)
    for ev in sandbox.events():
        for p in check_event(ev.event, ev.action, ev.payload):
            if p not in seen:
                seen.add(p)
                problems.append(p)
    return problems
