"""Request log and fault injection: what tests and benchmarks use to watch and break the API.

The request log counts calls per ``METHOD /openapi/path/{template}`` so a test can
assert how many API calls a job made; fault injection makes chosen endpoints fail
the way GitHub fails (5xx, primary rate limit, slow responses) for the next N calls.
"""

from __future__ import annotations

import fnmatch
import threading
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from launcher.sandbox import clock

FAULT_KINDS = ("error", "rate_limit", "hang")


@dataclass
class LoggedRequest:
    method: str
    path: str  # concrete path, without query
    template: str | None  # OpenAPI path template, None when no route matched
    operation: str | None  # OpenAPI operationId
    status: int
    user: str | None
    duration_ms: float
    fault: str | None = None

    @property
    def key(self) -> str:
        return f"{self.method} {self.template or self.path}"


@dataclass
class RequestLog:
    """Thread-safe log of every API request the stand-in answered."""

    entries: list[LoggedRequest] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, entry: LoggedRequest) -> None:
        with self._lock:
            self.entries.append(entry)

    def counts(self) -> Counter[str]:
        """Calls per ``"METHOD /path/{template}"``."""
        with self._lock:
            return Counter(e.key for e in self.entries)

    def total(self) -> int:
        with self._lock:
            return len(self.entries)

    def reset(self) -> None:
        with self._lock:
            self.entries.clear()

    def to_json(self) -> dict[str, Any]:
        with self._lock:
            entries = [asdict(e) for e in self.entries]
        return {
            "total": len(entries),
            "counts": dict(Counter(f"{e['method']} {e['template'] or e['path']}" for e in entries)),
            "requests": entries,
        }


@dataclass
class Fault:
    """Make requests matching ``method`` + ``path`` misbehave for the next ``times`` calls.

    ``path`` is either an OpenAPI template (``/repos/{owner}/{repo}/pulls/{pull_number}``)
    or a glob over the concrete path (``/repos/acme/*/pulls*``).
    """

    method: str = "*"
    path: str = "*"
    kind: str = "error"  # error | rate_limit | hang
    status: int = 500
    seconds: float = 0.0
    times: int = 1
    id: int = 0

    def matches(self, method: str, path: str, template: str | None) -> bool:
        if self.method != "*" and self.method.upper() != method:
            return False
        return self.path == template or fnmatch.fnmatchcase(path, self.path)


@dataclass
class Faults:
    """The active faults; each match consumes one of its ``times``."""

    active: list[Fault] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _next: int = 1

    def add(self, fault: Fault) -> Fault:
        if fault.kind not in FAULT_KINDS:
            raise ValueError(f"fault kind must be one of {FAULT_KINDS}")
        with self._lock:
            fault.id = self._next
            self._next += 1
            self.active.append(fault)
        return fault

    def take(self, method: str, path: str, template: str | None) -> Fault | None:
        with self._lock:
            for fault in self.active:
                if fault.times > 0 and fault.matches(method, path, template):
                    fault.times -= 1
                    if fault.times == 0:
                        self.active.remove(fault)
                    return fault
        return None

    def clear(self) -> None:
        with self._lock:
            self.active.clear()

    def to_json(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(f) for f in self.active]


@dataclass
class RateLimits:
    """Per-account primary rate limit bookkeeping, for GitHub's ``X-RateLimit-*`` headers."""

    limit: int = 5000
    anonymous_limit: int = 60
    window: int = 3600
    _used: Counter[tuple[str | None, str]] = field(default_factory=Counter)
    _reset: dict[tuple[str | None, str], int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def limit_for(self, user: str | None, resource: str) -> int:
        if resource == "search":
            return 30 if user else 10
        return self.limit if user else self.anonymous_limit

    def hit(self, user: str | None, resource: str, count: bool = True) -> tuple[int, int, int]:
        """Record one request; return (limit, used, reset epoch)."""
        key = (user, resource)
        with self._lock:
            now = int(clock.now())
            reset = self._reset.get(key)
            if reset is None or reset <= now:
                reset = self._reset[key] = now + self.window
                self._used[key] = 0
            if count:
                self._used[key] += 1
            return self.limit_for(user, resource), self._used[key], reset
