"""`launcher demo --serve`: the gate answered by `launcher serve` instead of gate.yml.

The service runs as its own process, configured only by environment variables (app id, key
file, webhook secret, the stand-in's API URL) and on the sandbox clock (libfaketime, like the
runner's jobs, so the app's JWTs and tokens agree with the stand-in's time when the demo moves
it); the stand-in delivers the app's webhooks to it, signed. Launch and sweep stay in GitHub
Actions (they hold the AWS role): the runner gets every workflow but gate.yml and review.yml.
"""

from __future__ import annotations

import secrets
import shutil
from pathlib import Path
from typing import Any

from launcher.sandbox import clock
from launcher.sandbox.serve_process import ServeProcess

SERVED_ELSEWHERE = ("gate.yml", "review.yml")  # what launcher serve answers instead


def actions_workflows(workflows: Path, into: Path) -> Path:
    """A copy of `workflows` without the gate's two (the service is the gate)."""
    into.mkdir(parents=True, exist_ok=True)
    for path in sorted(workflows.glob("*.y*ml")):
        if path.name not in SERVED_ELSEWHERE:
            shutil.copy(path, into / path.name)
    return into


def start_service(api_url: str, app: Any, tmp: Path) -> tuple[ServeProcess, str]:
    """Start `launcher serve` on the sandbox clock; returns it and its webhook secret."""
    secret = secrets.token_hex(16)
    return ServeProcess.start(api_url, app, tmp, secret, clock.CLOCK.faketime_env()), secret
