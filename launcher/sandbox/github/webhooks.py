"""Webhook delivery over HTTP to a GitHub App's configured URL, as GitHub does it.

Why: `launcher serve` answers the app's webhooks; testing it honestly needs deliveries that
arrive the way GitHub sends them: POSTed to the app's webhook URL, signed with the app's
webhook secret (``X-Hub-Signature-256: sha256=<HMAC-SHA256 of the body>``), with
``X-GitHub-Event``, ``X-GitHub-Delivery`` (the event's guid, shared by its redeliveries),
``X-GitHub-Hook-ID``, ``X-GitHub-Hook-Installation-Target-ID`` and ``-Type: integration``,
``User-Agent: GitHub-Hookshot/…``; the payload is the one the stand-in records for the Actions
runner (``events.py``, validated against the vendored webhook schemas) plus the
``installation`` that covers the repository. Only the events the app subscribes to are
delivered, and only for repositories it is installed on (and not suspended); an
installation's own events (``installation``, ``installation_repositories``: see
``installations.py``) go to its app whatever it subscribes to.

Each attempt is recorded (``GET /app/hook/deliveries``, ``GET /app/hook/deliveries/{id}``):
its status code, ``status`` ("OK", "Invalid HTTP Response: 503", "timed out",
"failed to connect"), duration, and the request and response. GitHub does not retry a failed
delivery by itself; ``POST /app/hook/deliveries/{id}/attempts`` redelivers it (a new
delivery of the same guid, ``redelivery: true``). A delivery is given 10 seconds, GitHub's
timeout. Deliveries go out from a small pool of threads, so they arrive concurrently and not
necessarily in order, as GitHub's do.

Each answer also goes into the request log (method ``DELIVERY``, path the guid, template
``webhook``, operation ``<event>.<action>``) the moment it is acknowledged: tests read from
that log that a service acknowledged a delivery before making any GitHub request for it. To
make that order exact rather than a race between threads, an acknowledgement is recorded
either by the delivering thread (peeking at the answer's first bytes before reading them) or,
whichever comes first, when any API request arrives while the answer's bytes are already
waiting on the delivery's socket: a service that answered before calling GitHub has its
answer there (loopback TCP delivers in the order things were sent) before its call arrives.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import http.client
import json
import queue
import select
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from launcher.sandbox.github.apps import App
from launcher.sandbox.github.http import ApiError, Request, Response, Router, not_found, validation
from launcher.sandbox.github.observe import LoggedRequest
from launcher.sandbox.github.state import iso, now

if TYPE_CHECKING:
    from launcher.sandbox.github.events import Event
    from launcher.sandbox.github.service import GitHub

TIMEOUT = 10.0  # GitHub gives a delivery 10 seconds
USER_AGENT = "GitHub-Hookshot/sandbox"
WORKERS = 4
ALWAYS = ("installation", "installation_repositories")  # delivered to every app
# The repository permission an installation needs (read at least) to receive each event, as
# GitHub's "Webhook events and payloads" says for each ("To subscribe to this event, a GitHub
# App must have at least read-level access for the … permission"); an event not listed here
# needs only metadata, which every installation has.
EVENT_PERMISSIONS = {
    "check_run": "checks",
    "check_suite": "checks",
    "commit_comment": "contents",
    "create": "contents",
    "delete": "contents",
    "deployment": "deployments",
    "deployment_status": "deployments",
    "issue_comment": "issues",
    "issues": "issues",
    "merge_group": "merge_queues",
    "pull_request": "pull_requests",
    "pull_request_review": "pull_requests",
    "pull_request_review_comment": "pull_requests",
    "pull_request_review_thread": "pull_requests",
    "push": "contents",
    "status": "statuses",
    "workflow_dispatch": "contents",
    "workflow_job": "actions",
    "workflow_run": "actions",
}
# "To receive the rerequested and requested_action event types, the app must have at least
# write-level access for the Checks permission", and "only the GitHub App that someone
# requests to re-run the check will receive the rerequested payload".
OWN_CHECK_ACTIONS = ("rerequested", "requested_action")


@dataclass
class HookConfig:
    url: str = ""
    secret: str = ""
    content_type: str = "json"
    insecure_ssl: str = "0"
    active: bool = True
    events: list[str] | None = None  # None: the app's subscribed events

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "url": self.url,
            "content_type": self.content_type,
            "insecure_ssl": self.insecure_ssl,
        }
        if self.secret:
            out["secret"] = "********"  # GitHub never returns the secret
        return out


@dataclass
class Delivery:
    id: int
    guid: str
    app_id: int
    hook_id: int
    event: str
    action: str | None
    installation_id: int | None
    repository_id: int | None
    url: str
    body: bytes = b""  # the payload as sent (serialised once)
    redelivery: bool = False
    delivered_at: float = 0.0
    duration: float = 0.0
    status: str = "pending"
    status_code: int = 0
    request_headers: dict[str, str] = field(default_factory=dict)
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: str | None = None
    done: threading.Event = field(default_factory=threading.Event)
    sock: Any = None  # the connection's socket while the answer is awaited
    acked: LoggedRequest | None = None  # its request-log entry, once acknowledged
    started: float = 0.0

    @functools.cached_property
    def payload(self) -> dict[str, Any]:
        """The payload as sent, decoded from `body` when first asked for: a snapshot untouched
        by later edits, and no decoding in the delivery's path (most are never read back)."""
        payload: dict[str, Any] = json.loads(self.body)
        return payload

    @property
    def ok(self) -> bool:
        return 200 <= self.status_code < 300

    def item(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "guid": self.guid,
            "delivered_at": iso(self.delivered_at),
            "redelivery": self.redelivery,
            "duration": round(self.duration, 3),
            "status": self.status,
            "status_code": self.status_code,
            "event": self.event,
            "action": self.action,
            "installation_id": self.installation_id,
            "repository_id": self.repository_id,
            "throttled_at": None,
        }

    def full(self) -> dict[str, Any]:
        return {
            **self.item(),
            "url": self.url,
            "request": {"headers": dict(self.request_headers), "payload": self.payload},
            "response": {"headers": dict(self.response_headers), "payload": self.response_body},
        }


def signature(secret: str, body: bytes) -> str:
    """GitHub's X-Hub-Signature-256 value for `body`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class Webhooks:
    """The apps' webhook configurations, the delivery queue and every attempt's record."""

    def __init__(self, gh: GitHub) -> None:
        self.gh = gh
        self.configs: dict[int, HookConfig] = {}  # app id -> its webhook
        self.deliveries: list[Delivery] = []
        self._lock = threading.Lock()
        self._queue: queue.Queue[Delivery | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._in_flight: set[int] = set()  # ids of deliveries awaiting their answer
        gh.events.listeners.append(self._on_event)
        match = gh.router.match

        def arrival(method: str, path: str) -> Any:  # every request's first step in http.py
            self._acknowledged_before_arrival()
            return match(method, path)

        gh.router.match = arrival  # type: ignore[method-assign]

    # -- configuration ----------------------------------------------------------------
    def configure(
        self,
        app: App,
        url: str,
        secret: str = "",
        events: list[str] | None = None,
        active: bool = True,
    ) -> HookConfig:
        with self._lock:
            config = self.configs.setdefault(app.id, HookConfig())
            config.url, config.secret, config.active = url, secret, active
            if events is not None:
                config.events = list(events)
            return config

    def hook_id(self, app: App) -> int:
        return 400_000_000 + app.id  # one hook per app, a stable id

    # -- delivering ---------------------------------------------------------------------
    def _on_event(self, event: Event) -> None:
        """Called with each recorded event (often under the state lock): only queue."""
        if event.event in ALWAYS:
            self._on_installation_event(event)
            return
        repo_json = event.payload.get("repository")
        full_name = repo_json.get("full_name") if isinstance(repo_json, dict) else None
        repo = None
        if isinstance(full_name, str):
            owner, _, name = full_name.partition("/")
            repo = self.gh.state.repo(owner, name)
        for app_id, config in list(self.configs.items()):
            if not (config.active and config.url):
                continue
            app = self.gh.apps.apps.get(app_id)
            if app is None:
                continue
            subscribed = config.events if config.events is not None else app.events
            if event.event not in subscribed:
                continue
            inst = self.gh.apps.installation_for(app, repo) if repo is not None else None
            if inst is None or inst.suspended_at is not None:
                continue  # an app hears only about repositories it is installed on
            if not _may_receive(app, inst.permissions, event):
                continue
            installation = {
                "id": inst.id,
                "node_id": f"MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9u{inst.id}",
            }
            self._enqueue(
                app,
                config,
                event.delivery,
                event.event,
                event.action,
                inst.id,
                repo.id if repo is not None else None,
                {**event.payload, "installation": installation},
            )

    def _on_installation_event(self, event: Event) -> None:
        """An installation's own events go to its app alone, subscribed or not, with the
        full ``installation`` object the payload already carries (``installations.py``)."""
        inst_json = event.payload.get("installation") or {}
        app = self.gh.apps.apps.get(inst_json.get("app_id") or 0)
        config = self.configs.get(app.id) if app is not None else None
        if app is None or config is None or not (config.active and config.url):
            return
        self._enqueue(
            app,
            config,
            event.delivery,
            event.event,
            event.action,
            inst_json.get("id"),
            None,
            event.payload,
        )

    def _enqueue(
        self,
        app: App,
        config: HookConfig,
        guid: str,
        event: str,
        action: str | None,
        installation_id: int | None,
        repository_id: int | None,
        payload: dict[str, Any],
        redelivery: bool = False,
        body: bytes | None = None,
    ) -> Delivery:
        """Queue a delivery of `payload`, serialised once here (or `body`, a redelivery's):
        what is sent, and what the recorded payload is decoded from (a snapshot, untouched by
        later edits of `payload`)."""
        if body is None:
            body = json.dumps(payload, separators=(",", ":")).encode()
        with self._lock:
            delivery = Delivery(
                id=len(self.deliveries) + 1,
                guid=guid,
                app_id=app.id,
                hook_id=self.hook_id(app),
                event=event,
                action=action,
                installation_id=installation_id,
                repository_id=repository_id,
                url=config.url,
                body=body,
                redelivery=redelivery,
            )
            self.deliveries.append(delivery)
            if not self._threads:
                for n in range(WORKERS):
                    thread = threading.Thread(
                        target=self._work, name=f"webhook-delivery-{n}", daemon=True
                    )
                    thread.start()
                    self._threads.append(thread)
        self._queue.put(delivery)
        return delivery

    def _work(self) -> None:
        while True:
            delivery = self._queue.get()
            if delivery is None:
                return
            try:
                self._send(delivery)
            finally:
                delivery.done.set()

    def _send(self, d: Delivery) -> None:
        config = self.configs.get(d.app_id) or HookConfig()
        body = d.body
        headers = {
            "Accept": "*/*",
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-GitHub-Delivery": d.guid,
            "X-GitHub-Event": d.event,
            "X-GitHub-Hook-ID": str(d.hook_id),
            "X-GitHub-Hook-Installation-Target-ID": str(d.app_id),
            "X-GitHub-Hook-Installation-Target-Type": "integration",
        }
        if config.secret:
            headers["X-Hub-Signature"] = (
                "sha1=" + hmac.new(config.secret.encode(), body, hashlib.sha1).hexdigest()
            )
            headers["X-Hub-Signature-256"] = signature(config.secret, body)
        d.request_headers = headers
        d.delivered_at = now()
        d.started = time.perf_counter()
        split = urlsplit(d.url)
        conn = http.client.HTTPConnection(split.hostname or "127.0.0.1", split.port, TIMEOUT)
        try:
            conn.request("POST", split.path or "/", body, headers)
            with self._lock:
                d.sock = conn.sock
                self._in_flight.add(d.id)
            first = conn.sock.recv(16, socket.MSG_PEEK)  # blocks until the answer starts
            self._ack(d, first)
            response = conn.getresponse()
            d.status_code = response.status
            d.status = "OK" if d.ok else f"Invalid HTTP Response: {response.status}"
            d.response_headers = dict(response.getheaders())
            d.response_body = response.read(65536).decode("utf-8", "replace")
        except TimeoutError:
            d.status, d.status_code = "timed out", 0
        except OSError:
            d.status, d.status_code = "failed to connect", 0
        finally:
            with self._lock:
                d.sock = None
                self._in_flight.discard(d.id)
            conn.close()
            d.duration = time.perf_counter() - d.started
            self._ack(d, b"")
            assert d.acked is not None
            d.acked.status = d.status_code  # the status line, now read in full

    def _acknowledged_before_arrival(self) -> None:
        """Record the acknowledgement of every delivery whose answer is already waiting on its
        socket, before the request that is arriving is handled (and logged). Never raises: it
        runs ahead of every API request."""
        with self._lock:
            if not self._in_flight:
                return
            waiting = [
                (d, d.sock)
                for d in (self.deliveries[i - 1] for i in self._in_flight)
                if d.sock is not None and d.acked is None
            ]
        for d, sock in waiting:
            try:
                ready, _, _ = select.select([sock], [], [], 0)
                first = _peek(sock) if ready else b""
            except (OSError, ValueError, TypeError):  # closed meanwhile: its thread records it
                continue
            if first:
                self._ack(d, first)

    def _ack(self, d: Delivery, first: bytes) -> None:
        """Log the acknowledgement once (status from the status line's first bytes)."""
        with self._lock:
            if d.acked is not None:
                return
            parts = first.split(b" ", 2)
            status = int(parts[1]) if len(parts) > 2 and parts[1].isdigit() else d.status_code
            d.acked = LoggedRequest(
                "DELIVERY",
                d.guid,
                "webhook",
                f"{d.event}.{d.action}" if d.action else d.event,
                status,
                None,
                (time.perf_counter() - d.started) * 1000,
            )
            self.gh.request_log.add(d.acked)

    def redeliver(self, original: Delivery) -> Delivery:
        app = self.gh.apps.apps[original.app_id]
        config = self.configs.get(app.id) or HookConfig()
        return self._enqueue(
            app,
            config,
            original.guid,
            original.event,
            original.action,
            original.installation_id,
            original.repository_id,
            original.payload,
            redelivery=True,
            body=original.body,
        )

    def wait(self, timeout: float = 30.0) -> bool:
        """Wait until every delivery queued so far has been answered (or failed)."""
        with self._lock:
            pending = [d for d in self.deliveries if not d.done.is_set()]
        deadline = time.monotonic() + timeout
        return all(d.done.wait(max(0.0, deadline - time.monotonic())) for d in pending)

    def of_app(self, app_id: int) -> list[Delivery]:
        with self._lock:
            return [d for d in self.deliveries if d.app_id == app_id]

    def stop(self) -> None:
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join(timeout=TIMEOUT + 1)
        self._threads.clear()


def _peek(sock: socket.socket) -> bytes:
    """The answer's first bytes if they are there, without waiting: the delivery's own thread
    may read them between the caller's select and this peek, and a peek on the socket itself
    would then wait out its 10 s timeout (a socket with a timeout polls before it receives,
    whatever the flags) while the request arriving at the stand-in waited with it."""
    with sock.dup() as peek:
        peek.settimeout(0)
        try:
            return peek.recv(16, socket.MSG_PEEK)
        except BlockingIOError:
            return b""


def new_guid() -> str:
    return str(uuid.uuid4())


def register(router: Router, hooks: Webhooks) -> None:
    def app_of(req: Request) -> App:
        cred = req.credential
        if cred is None or cred.app is None:
            raise ApiError(
                401,
                "A JSON web token is required to access this endpoint; authenticate as the app.",
            )
        app: App = cred.app
        return app

    @router.add("GET", "/app/hook/config", "apps/get-webhook-config-for-app")
    def get_config(req: Request) -> Response:
        app = app_of(req)
        return Response(200, (hooks.configs.get(app.id) or HookConfig()).to_json())

    @router.add("PATCH", "/app/hook/config", "apps/update-webhook-config-for-app")
    def patch_config(req: Request) -> Response:
        app = app_of(req)
        body = req.json()
        config = hooks.configs.setdefault(app.id, HookConfig())
        for key in ("url", "secret", "content_type", "insecure_ssl"):
            value = body.get(key)
            if value is not None:
                if not isinstance(value, str):
                    raise validation(resource="Hook", field=key, code="invalid")
                setattr(config, key, value)
        return Response(200, config.to_json())

    @router.add("GET", "/app/hook/deliveries", "apps/list-webhook-deliveries")
    def list_deliveries(req: Request) -> Response:
        """Newest first, cursor pagination (``cursor``: the id to continue below), and
        ``status=success|failure`` as GitHub filters."""
        app = app_of(req)
        try:
            per_page = max(1, min(100, int(req.query.get("per_page", 30))))
            cursor = int(req.query["cursor"]) if req.query.get("cursor") else None
        except ValueError:
            raise validation(resource="Hook", field="cursor", code="invalid") from None
        wanted = req.query.get("status")
        items = [
            d
            for d in reversed(hooks.of_app(app.id))
            if d.done.is_set()
            and (cursor is None or d.id < cursor)
            and (wanted is None or (wanted == "success") == d.ok)
        ]
        page = items[:per_page]
        headers = {}
        if len(items) > per_page:
            query = urlencode({"per_page": per_page, "cursor": page[-1].id})
            headers["Link"] = f'<{req.base_url}{req.path}?{query}>; rel="next"'
        return Response(200, [d.item() for d in page], headers)

    def find(req: Request) -> Delivery:
        app = app_of(req)
        wanted = req.int_param("delivery_id")
        for d in hooks.of_app(app.id):
            if d.id == wanted and d.done.is_set():
                return d
        raise not_found()

    @router.add("GET", "/app/hook/deliveries/{delivery_id}", "apps/get-webhook-delivery")
    def get_delivery(req: Request) -> Response:
        return Response(200, find(req).full())

    @router.add(
        "POST",
        "/app/hook/deliveries/{delivery_id}/attempts",
        "apps/redeliver-webhook-delivery",
    )
    def redeliver(req: Request) -> Response:
        hooks.redeliver(find(req))
        return Response(202, {})


def _may_receive(app: App, permissions: dict[str, str], event: Event) -> bool:
    """Whether an installation with `permissions` of `app` is sent `event` (see
    EVENT_PERMISSIONS and OWN_CHECK_ACTIONS)."""
    needed = EVENT_PERMISSIONS.get(event.event)
    if needed is not None and permissions.get(needed) not in ("read", "write", "admin"):
        return False
    if event.event in ("check_run", "check_suite") and event.action in OWN_CHECK_ACTIONS:
        owner = (event.payload.get(event.event) or {}).get("app") or {}
        return permissions.get("checks") == "write" and owner.get("id") == app.id
    return True
