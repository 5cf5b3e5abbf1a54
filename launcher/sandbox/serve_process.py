"""`launcher serve` as its own process, for the demo (`demo --serve`) and the service's tests.

It is started as an operator would: with nothing but environment variables (the app id, a
key file, the webhook secret, the stand-in's API URL and the LAUNCHER_SERVE_* the caller
chooses), on a free loopback port, its output in a log file; `start` returns once /healthz
answers "ok". One way to start it, so the demo and the tests run the service the same way.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get_json(url: str) -> Any:
    """GET `url` (http://host:port/path): (status, the JSON body or None)."""
    host, _, rest = url.removeprefix("http://").partition("/")
    name, _, port = host.partition(":")
    conn = http.client.HTTPConnection(name, int(port), timeout=10)
    try:
        conn.request("GET", "/" + rest)
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        conn.close()


@dataclass
class ServeProcess:
    """One `launcher serve` process."""

    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @classmethod
    def start(
        cls,
        api_url: str,
        app: Any,
        tmp: Path,
        secret: str,
        settings: Mapping[str, str] | None = None,
        command: Sequence[str] = (sys.executable, "-m", "launcher", "serve"),
    ) -> ServeProcess:
        """Start it for `app` (the stand-in's app: its id and private key) against `api_url`;
        `settings` are added to (or override) its environment; `command` runs it (another
        interpreter's, say: the container image's steps in tests/serve/test_image.py). Waits up
        to a minute (a loaded machine) for /healthz; raises RuntimeError with its log when it
        exits or never answers.
        """
        port = free_port()
        key = tmp / f"app-key-{port}.pem"
        key.write_bytes(app.private_key_pem())
        key.chmod(0o600)
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
            **(settings or {}),
        }
        log_path = tmp / f"serve-{port}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                list(command),
                env=env,
                cwd=tmp,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        served = cls(f"http://127.0.0.1:{port}", process, log_path)
        for _ in range(600):
            if process.poll() is not None:
                raise RuntimeError(f"launcher serve exited:\n{log_path.read_text()}")
            try:
                if served.health().get("status") == "ok":
                    return served
            except OSError:
                pass
            time.sleep(0.1)
        served.stop()
        raise RuntimeError(f"launcher serve did not start:\n{log_path.read_text()}")

    def health(self) -> dict[str, Any]:
        _, body = get_json(self.url + "/healthz")
        return dict(body)

    def idle(self) -> bool:
        """No delivery waiting and none being worked on."""
        health = self.health()
        return bool(health["waiting"] == 0 and health["busy"] == 0)

    def log(self) -> list[dict[str, Any]]:
        """Its structured log lines (one JSON object a line; other lines are skipped)."""
        out = []
        for line in self.log_path.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out

    def metrics(self) -> str:
        """/metrics, as Prometheus text."""
        host, _, port = self.url.removeprefix("http://").partition(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        try:
            conn.request("GET", "/metrics")
            return conn.getresponse().read().decode()
        finally:
            conn.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
