"""CODEOWNERS as GitHub reads it: the last matching pattern of the base branch's file wins
(``dir/*`` owns that directory's files only, not deeper ones, unlike gitignore).

Why a copy of its own (not ``launcher.core.codeowners``): the stand-in models GitHub,
and the code under test must not be able to agree with itself through a shared parser.
GitHub looks for ``.github/CODEOWNERS``, then ``CODEOWNERS``, then ``docs/CODEOWNERS``.
"""

from __future__ import annotations

import re
from functools import lru_cache

LOCATIONS = (".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS")


@lru_cache(maxsize=512)
def _regex(pattern: str) -> re.Pattern[str]:
    anchored = pattern.startswith("/") or "/" in pattern.rstrip("/")
    body = pattern.strip("/")
    directory = pattern.endswith("/")
    out = ""
    i = 0
    while i < len(body):
        if body.startswith("**", i):
            out += ".*"
            i += 2
        elif body[i] == "*":
            out += "[^/]*"
            i += 1
        elif body[i] == "?":
            out += "[^/]"
            i += 1
        else:
            out += re.escape(body[i])
            i += 1
    prefix = "^" if anchored else "^(?:.*/)?"
    suffix = "/.*$" if directory else "(?:/.*)?$"
    if not directory and body.endswith("/*"):
        # GitHub departs from gitignore: "docs/*" matches docs/getting-started.md "but not
        # further nested files like docs/build-app/troubleshooting.md".
        suffix = "$"
    return re.compile(prefix + out + suffix)


def parse(text: str) -> list[tuple[str, list[str]]]:
    """(pattern, owners) per rule line, in file order; owners keep their ``@``."""
    rules = []
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        rules.append((parts[0], [o for o in parts[1:] if o.startswith("@")]))
    return rules


def owners_of(rules: list[tuple[str, list[str]]], path: str) -> list[str]:
    """Owners of ``path``: those of the last rule matching it (empty: nobody)."""
    found: list[str] = []
    for pattern, owners in rules:
        if pattern == "*" or _regex(pattern).match(path):
            found = owners
    return found
