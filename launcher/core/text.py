"""Short text: for places with a length limit (commit and deployment status descriptions),
and counted words."""

from __future__ import annotations


def clip(text: str, limit: int = 140) -> str:
    """One line of at most `limit` characters (GitHub limits status descriptions to 140)."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def plural(count: int, word: str) -> str:
    """`1 file`, `3 files`."""
    return f"{count} {word}" + ("" if count == 1 else "s")
