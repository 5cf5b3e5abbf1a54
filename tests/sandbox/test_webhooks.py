"""The stand-in delivers an app's webhooks over HTTP, signed like GitHub, and records them."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.openapi.conformance import check_event
from tests.sandbox.conftest import World
from tests.sandbox.test_http import call

SECRET = "sandbox-webhook-secret"


class Receiver:
    """A webhook endpoint answering each delivery with the next status of `answers`."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.answers: list[int] = []
        self.before: Any = None  # called before answering
        self.after: Any = None  # called after answering
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - stdlib name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers), body))
                status = receiver.answers.pop(0) if receiver.answers else 202
                if receiver.before:
                    receiver.before()
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
                self.wfile.flush()
                if receiver.after:
                    receiver.after()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


def test_subscribed_events_are_posted_signed_with_the_installation(
    world: World, receiver: Receiver
) -> None:
    sb = world.sb
    app = sb.create_app("gate", "acme", events=["pull_request"])
    inst = sb.install_app(app, "acme")
    sb.set_app_webhook(app, receiver.url, SECRET)
    sb.push_files("acme/infra", "feature", {"a.txt": "a"}, "a", "alice", base="main")
    world.repo("alice").create_pull(title="t", body="b", head="feature", base="main")
    assert sb.webhooks.wait(30)
    # the push is not subscribed: only the pull request is delivered
    ((headers, body),) = receiver.received
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert headers["X-Hub-Signature-256"] == expected
    assert headers["X-GitHub-Event"] == "pull_request"
    assert headers["X-GitHub-Hook-Installation-Target-ID"] == str(app.id)
    assert headers["X-GitHub-Hook-Installation-Target-Type"] == "integration"
    assert headers["User-Agent"].startswith("GitHub-Hookshot/")
    payload = json.loads(body)
    assert payload["installation"]["id"] == inst.id and payload["action"] == "opened"
    assert check_event("pull_request", "opened", payload) == []
    event = sb.last_event("pull_request", "opened")
    assert headers["X-GitHub-Delivery"] == event.delivery  # the event's guid


def test_an_app_hears_nothing_of_repositories_it_is_not_installed_on(
    world: World, receiver: Receiver
) -> None:
    sb = world.sb
    sb.create_repo("acme", "other", {"README.md": b"x"}, collaborators={"alice": "write"})
    app = sb.create_app("gate", "acme", events=["push"])
    sb.install_app(app, "acme", repositories=["acme/other"])
    sb.set_app_webhook(app, receiver.url, SECRET)
    sb.push_files("acme/infra", "main", {"a.txt": "a"}, "a", "alice")
    sb.push_files("acme/other", "main", {"a.txt": "a"}, "a", "alice")
    assert sb.webhooks.wait(30)
    assert [json.loads(b)["repository"]["full_name"] for _, b in receiver.received] == [
        "acme/other"
    ]


def test_failed_deliveries_are_listed_and_redelivered_on_request(
    world: World, receiver: Receiver
) -> None:
    sb = world.sb
    app = sb.create_app("gate", "acme", events=["push"])
    sb.install_app(app, "acme")
    receiver.answers = [503]
    sb.set_app_webhook(app, receiver.url, SECRET)
    sb.push_files("acme/infra", "main", {"a.txt": "a"}, "a", "alice")
    assert sb.webhooks.wait(30)
    jwt = sb.app_jwt(app)
    status, _, listed = call(sb, "GET", "/app/hook/deliveries", jwt)
    assert status == 200
    (failed,) = listed
    assert (failed["status"], failed["status_code"], failed["redelivery"]) == (
        "Invalid HTTP Response: 503",
        503,
        False,
    )
    status, _, one = call(sb, "GET", f"/app/hook/deliveries/{failed['id']}", jwt)
    assert status == 200 and one["request"]["payload"]["ref"] == "refs/heads/main"
    assert one["url"] == receiver.url
    status, _, _ = call(sb, "POST", f"/app/hook/deliveries/{failed['id']}/attempts", jwt)
    assert status == 202
    assert sb.webhooks.wait(30)
    _, _, listed = call(sb, "GET", "/app/hook/deliveries", jwt)
    assert [(d["guid"], d["status_code"], d["redelivery"]) for d in listed] == [
        (failed["guid"], 202, True),
        (failed["guid"], 503, False),
    ]
    _, _, failures = call(sb, "GET", "/app/hook/deliveries?status=failure", jwt)
    assert [d["id"] for d in failures] == [failed["id"]]
    assert len(receiver.received) == 2 and receiver.received[0][1] == receiver.received[1][1]
    # only with the app's JWT
    assert call(sb, "GET", "/app/hook/deliveries", world.tokens["alice"])[0] == 401


def test_an_unreachable_url_is_recorded_as_failed_to_connect(world: World) -> None:
    sb = world.sb
    app = sb.create_app("gate", "acme", events=["push"])
    sb.install_app(app, "acme")
    sb.set_app_webhook(app, "http://127.0.0.1:9/hook", SECRET)
    sb.push_files("acme/infra", "main", {"a.txt": "a"}, "a", "alice")
    assert sb.webhooks.wait(30)
    (d,) = sb.webhooks.deliveries
    assert (d.status, d.status_code) == ("failed to connect", 0)
    assert [r.key for r in sb.requests() if r.method == "DELIVERY"] == ["DELIVERY webhook"]


def test_the_webhook_config_is_read_and_set_with_the_apps_jwt(world: World) -> None:
    sb = world.sb
    app = sb.create_app("gate", "acme")
    jwt = sb.app_jwt(app)
    status, _, config = call(
        sb, "PATCH", "/app/hook/config", jwt, {"url": "https://x.example/hook", "secret": "s3"}
    )
    assert status == 200 and config["url"] == "https://x.example/hook"
    status, _, config = call(sb, "GET", "/app/hook/config", jwt)
    assert config["secret"] == "********" and config["content_type"] == "json"


@pytest.mark.parametrize("calls", ["after answering", "before answering"])
def test_the_request_log_orders_an_acknowledgement_and_the_calls_it_causes(
    world: World, receiver: Receiver, calls: str
) -> None:
    """The order tests rely on: a receiver that calls the API only once it has answered is
    logged answering first; one that calls before answering is logged calling first."""
    sb = world.sb
    app = sb.create_app("gate", "acme", events=["push"])
    sb.install_app(app, "acme")
    sb.set_app_webhook(app, receiver.url, SECRET)
    token = world.tokens["bob"]
    called = threading.Event()

    def api_call() -> None:
        assert call(sb, "GET", "/repos/acme/infra", token)[0] == 200
        called.set()

    if calls == "after answering":
        receiver.after = api_call
    else:
        receiver.before = api_call
    sb.push_files("acme/infra", "main", {"a.txt": "a"}, "a", "alice")
    assert sb.webhooks.wait(30) and called.wait(30)
    order = [r.method for r in sb.requests() if r.method == "DELIVERY" or r.user == "bob"]
    assert order == (["DELIVERY", "GET"] if calls == "after answering" else ["GET", "DELIVERY"])
