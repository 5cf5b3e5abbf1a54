"""Sandbox-only: read and move the sandbox clock over HTTP (``/_sandbox/clock``).

For a stand-in started by ``launcher demo --keep`` or the sandbox CLI, where the caller is
another process: the clock is the process's (launcher.sandbox.clock), shared with its moto
server and the jobs its runner starts. Never part of GitHub's API.
"""

from __future__ import annotations

from datetime import datetime

from launcher.sandbox import clock
from launcher.sandbox.github.http import ApiError, Request, Response, Router


def _state() -> dict[str, object]:
    now = clock.CLOCK.now().strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"now": now, "offset_seconds": round(clock.CLOCK.offset, 3)}


def register_sandbox(router: Router) -> None:
    @router.add("GET", "/_sandbox/clock", "_sandbox/clock")
    def get(req: Request) -> Response:
        return Response(200, _state())

    @router.add("POST", "/_sandbox/clock", "_sandbox/set-clock")
    def move(req: Request) -> Response:
        body = req.json()
        if "now" in body:
            try:
                when = datetime.fromisoformat(str(body["now"]).replace("Z", "+00:00"))
            except ValueError:
                raise ApiError(422, "now: an ISO 8601 time with a zone") from None
            if when.tzinfo is None:
                raise ApiError(422, "now: an ISO 8601 time with a zone")
            clock.CLOCK.set(when)
        elif "advance_seconds" in body and isinstance(body["advance_seconds"], int | float):
            clock.CLOCK.advance(float(body["advance_seconds"]))
        elif body.get("reset") is True:
            clock.CLOCK.reset()
        else:
            raise ApiError(422, "give now, advance_seconds or reset: true")
        return Response(200, _state())
