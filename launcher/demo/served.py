"""`launcher demo --serve`: the gate answered by `launcher serve` instead of gate.yml.

The service runs as its own process, configured only by environment variables (app id, key
file, webhook secret, the stand-in's API URL) and on the sandbox clock (libfaketime, like the
runner's jobs, so the app's JWTs and tokens agree with the stand-in's time when the demo moves
it); the stand-in delivers the app's webhooks to it, signed. Launch and sweep stay in GitHub
Actions (they hold the AWS role): the runner gets every workflow but gate.yml and review.yml.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from launcher.sandbox import clock

SERVED_ELSEWHERE = ("gate.yml", "review.yml")  # what launcher serve answers instead


def actions_workflows(workflows: Path, into: Path) -> Path:
    """A copy of `workflows` without the gate's two (the service is the gate)."""
    into.mkdir(parents=True, exist_ok=True)
    for path in sorted(workflows.glob("*.y*ml")):
        if path.name not in SERVED_ELSEWHERE:
            shutil.copy(path, into / path.name)
    return into


@dataclass
class ServeProcess:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    @classmethod
    def start(cls, api_url: str, app: Any, tmp: Path) -> tuple[ServeProcess, str]:
        """Start it; returns it and its webhook secret."""
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        key = tmp / "launcher-app-key.pem"
        key.write_bytes(app.private_key_pem())
        key.chmod(0o600)
        secret = secrets.token_hex(16)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LAUNCHER_APP_ID": str(app.id),
            "LAUNCHER_APP_PRIVATE_KEY_FILE": str(key),
            "LAUNCHER_WEBHOOK_SECRET": secret,
            "GITHUB_API_URL": api_url,
            "LAUNCHER_SERVE_HOST": "127.0.0.1",
            "LAUNCHER_SERVE_PORT": str(port),
            "LAUNCHER_SERVE_RECHECK_SECONDS": "0",
            "LAUNCHER_SERVE_REDELIVER_SECONDS": "0",
            **clock.CLOCK.faketime_env(),
        }
        log = tmp / "launcher-serve.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "launcher", "serve"],
                env=env,
                cwd=tmp,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        served = cls(f"http://127.0.0.1:{port}", process, log)
        for _ in range(600):
            if process.poll() is not None:
                raise RuntimeError(f"launcher serve exited:\n{log.read_text()}")
            try:
                if served.health().get("status") == "ok":
                    return served, secret
            except OSError:
                pass
            time.sleep(0.1)
        served.stop()
        raise RuntimeError(f"launcher serve did not start:\n{log.read_text()}")

    def health(self) -> dict[str, Any]:
        conn = http.client.HTTPConnection("127.0.0.1", int(self.url.rsplit(":", 1)[1]), 5)
        try:
            conn.request("GET", "/healthz")
            return dict(json.loads(conn.getresponse().read()))
        finally:
            conn.close()

    def idle(self) -> bool:
        health = self.health()
        return bool(health["waiting"] == 0 and health["busy"] == 0)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
