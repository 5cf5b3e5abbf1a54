"""Refusing deliveries GitHub did not sign: `X-Hub-Signature-256` is `sha256=` and the
HMAC-SHA256 of the exact body under the webhook secret, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac


def valid(secret: bytes, body: bytes, header: str | None) -> bool:
    if not header or not header.startswith("sha256="):
        return False
    expected = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), header.strip().encode())


def sign(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
