"""Webhook events: what GitHub would deliver, recorded so jobs can replay them.

Each event is kept as ``{"id", "event", "action", "delivery", "payload"}``; the payload
is the JSON GitHub would POST (validated against ``@octokit/openapi-webhooks`` in
tests), so a job can run with ``GITHUB_EVENT_NAME`` / ``GITHUB_EVENT_PATH`` as in Actions.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Event:
    id: int
    event: str  # X-GitHub-Event, e.g. "pull_request"
    action: str | None
    payload: dict[str, Any]
    delivery: str = field(default_factory=lambda: str(uuid.uuid4()))

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "event": self.event,
            "action": self.action,
            "delivery": self.delivery,
            "payload": self.payload,
        }

    def write(self, path: str | Path) -> Path:
        """Write the payload where ``GITHUB_EVENT_PATH`` would point; return the path."""
        target = Path(path)
        target.write_text(json.dumps(self.payload, indent=2))
        return target

    def env(self, path: str | Path) -> dict[str, str]:
        """``GITHUB_EVENT_NAME``/``GITHUB_EVENT_PATH`` for running a job on this event."""
        return {"GITHUB_EVENT_NAME": self.event, "GITHUB_EVENT_PATH": str(self.write(path))}


@dataclass
class EventLog:
    events: list[Event] = field(default_factory=list)
    # Called with each event after it is recorded (e.g. the merge queue watching checks).
    listeners: list[Callable[[Event], None]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def emit(self, event: str, payload: dict[str, Any]) -> Event:
        with self._lock:
            ev = Event(len(self.events) + 1, event, payload.get("action"), payload)
            self.events.append(ev)
        for listener in list(self.listeners):
            listener(ev)
        return ev

    def since(
        self, since: int = 0, event: str | None = None, action: str | None = None
    ) -> list[Event]:
        with self._lock:
            return [
                e
                for e in self.events
                if e.id > since
                and (event is None or e.event == event)
                and (action is None or e.action == action)
            ]

    def last_id(self) -> int:
        with self._lock:
            return len(self.events)
