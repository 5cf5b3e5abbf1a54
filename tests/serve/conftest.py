"""`launcher serve` as a separate process, configured only by environment variables, answering
the stand-in's signed webhook deliveries; a round-robin balancer for several replicas."""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from launcher.sandbox.github import GitHubSandbox
from launcher.sandbox.serve_process import (  # noqa: F401 - free_port, get_json: re-exported
    ServeProcess,
    free_port,
    get_json,
)
from tests.jobs.conftest import (  # noqa: F401 - fixtures used by the tests here; seed_world
    World,
    github_sandbox,
    seed_world,
    world,
)
from tests.openapi.conformance import check_event, check_sandbox

ROOT = Path(__file__).parents[2]
SECRET = "a-webhook-secret-of-32-characters"
EVENTS = json.loads((ROOT / "app-manifest.json").read_text())["default_events"]


def check_deliveries(sb: GitHubSandbox) -> list[str]:
    """Every payload the stand-in delivered matches GitHub's published webhook schema."""
    problems: list[str] = []
    for d in sb.webhooks.deliveries:
        problems += check_event(d.event, d.action, d.payload)
    return sorted(set(problems))


@pytest.fixture
def github_sandbox_checks() -> list[Any]:
    return [check_sandbox, check_deliveries]


Replica = ServeProcess  # one `launcher serve` process


def start_replica(world_or_sb: Any, app: Any, tmp: Path, **settings: str) -> Replica:
    """`launcher serve` with nothing but its environment: the app id, the key file, the
    webhook secret and the API URL (and the few LAUNCHER_SERVE_* the test chooses)."""
    sb = world_or_sb.sb if isinstance(world_or_sb, World) else world_or_sb
    return ServeProcess.start(sb.url, app, tmp, SECRET, {"LAUNCHER_SERVE_WORKERS": "4", **settings})


class Balancer:
    """A round-robin load balancer in front of replicas (each delivery to the next one)."""

    def __init__(self, replicas: list[Replica]) -> None:
        self.replicas = replicas
        self._next = 0
        self._lock = threading.Lock()
        balancer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - stdlib name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with balancer._lock:
                    target = balancer.replicas[balancer._next % len(balancer.replicas)]
                    balancer._next += 1
                host, _, port = target.url.removeprefix("http://").partition(":")
                conn = http.client.HTTPConnection(host, int(port), timeout=10)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                conn.request("POST", self.path, body, headers)
                response = conn.getresponse()
                data = response.read()
                conn.close()
                self.send_response(response.status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Served:
    """The world of the job tests, its app's webhook pointed at launcher serve replicas."""

    world: World
    replicas: list[Replica]
    balancer: Balancer | None = None
    extra: list[Replica] = field(default_factory=list)

    @property
    def sb(self) -> GitHubSandbox:
        return self.world.sb

    def settle(self, rounds: int = 600) -> None:
        """Wait until every delivery is answered and every replica is idle, twice running
        with no new delivery in between (decisions cause events: labels, for instance)."""
        quiet = 0
        for _ in range(rounds):
            before = len(self.sb.webhooks.deliveries)
            assert self.sb.webhooks.wait(60)
            idle = all(
                (h := r.health())["waiting"] == 0 and h["busy"] == 0
                for r in [*self.replicas, *self.extra]
            )
            if idle and len(self.sb.webhooks.deliveries) == before:
                quiet += 1
                if quiet >= 2:
                    return
            else:
                quiet = 0
            time.sleep(0.05)
        raise AssertionError("launcher serve did not settle")

    def stop(self) -> None:
        if self.balancer:
            self.balancer.stop()
        for r in [*self.replicas, *self.extra]:
            r.stop()


def serve_world(w: World, replicas: int = 1, **settings: str) -> Served:
    started = [start_replica(w, w.app, w.tmp, **settings) for _ in range(replicas)]
    balancer = Balancer(started) if replicas > 1 else None
    url = (balancer.url if balancer else started[0].url) + "/webhook"
    w.sb.set_app_webhook(w.app, url, SECRET, events=EVENTS)
    return Served(w, started, balancer)


@pytest.fixture
def served(world: World) -> Iterator[Served]:  # noqa: F811
    s = serve_world(world)
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture
def served2(world: World) -> Iterator[Served]:  # noqa: F811
    s = serve_world(world, replicas=2)
    try:
        yield s
    finally:
        s.stop()
