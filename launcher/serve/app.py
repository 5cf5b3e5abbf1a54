"""The HTTP side of `launcher serve` (Starlette on uvicorn) and its background threads.

The request path does only what must happen before GitHub's 10-second timeout, and nothing
that talks to GitHub: check the signature, parse, work out which pull requests the event is a
hint about, and answer 202. The units are queued by a background task that Starlette runs
after the response is sent, so the acknowledgement always precedes any GitHub request the
delivery causes. Worker threads take units off the queue and decide them with the gate job's
code; two loops redeliver failed deliveries and recheck open pull requests without a verdict.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from launcher.adapters import github, github_transport
from launcher.adapters.github import GitHubError
from launcher.adapters.priority import priority
from launcher.serve import metrics, signature
from launcher.serve.appclient import AppClient
from launcher.serve.config import ServeConfig
from launcher.serve.decide import decide, stale_pulls
from launcher.serve.logs import log
from launcher.serve.routing import Work, route
from launcher.serve.work import QueueFull, WorkQueue

if TYPE_CHECKING:
    from launcher.serve.match import ServeMatcher

MAX_BODY = 25 * 1024 * 1024  # GitHub caps payloads at 25 MB
# A body is read whole before its signature can be checked, so anyone reaching the service
# could make it hold bodies in memory: a large one (most of GitHub's payloads are a few tens
# of kilobytes) takes one of LARGE_BODIES slots, and a body not received within GitHub's own
# delivery timeout (LAUNCHER_SERVE_BODY_SECONDS) is dropped: at most LARGE_BODIES x 25 MB,
# plus 256 KiB per connection sending a body. No cap on connections: one that sends nothing
# would hold its place in it for ever (uvicorn times out only idle kept-alive connections);
# a buffering proxy in front (docs/serve.md) takes slow clients off the service.
LARGE_BODY = 256 * 1024
LARGE_BODIES = 4
MAX_RETRIES = 5  # a decision GitHub kept failing to start: 2, 4, 8, 16, 32 s apart
SEEN_DELIVERIES = 10_000  # per-replica de-duplication: an optimisation only
# At shutdown (SIGTERM) the acknowledged work is finished for up to this long: give the
# container at least uvicorn's 20 s for open connections plus this before killing it.
DRAIN_SECONDS = 15.0


class _Busy(Exception):
    """Every slot for a large body is taken."""


def _refused(event: str, message: str, status: int) -> Response:
    """A delivery answered with an error: counted under its event (`?` when it has none)."""
    metrics.EVENTS.labels(event or "?", "refused").inc()
    return JSONResponse({"message": message}, status)


class Service:
    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self.app_client = AppClient(config)
        self.queue = WorkQueue(config.queue_limit)
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._seen_lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._matcher: ServeMatcher | None = None  # while previewing instance matches
        self._large = threading.BoundedSemaphore(LARGE_BODIES)  # taken without waiting
        # units whose retries ran out while nothing could be written: the recheck re-queues
        # them (it otherwise looks only at missing and `error` verdicts)
        self._unsettled: dict[tuple[int, str, int, str], Work] = {}
        self._unsettled_lock = threading.Lock()

    # -- HTTP ---------------------------------------------------------------------------
    async def webhook(self, request: Request) -> Response:
        event = request.headers.get("x-github-event", "")
        delivery = request.headers.get("x-github-delivery", "")
        try:
            async with asyncio.timeout(self.config.body_seconds):
                body = await self._body(request)
        except TimeoutError:
            return _refused(event, "body not received in time", 408)
        except _Busy:
            log("large body refused: others are being read", "warning", delivery=delivery)
            return _refused(event, "busy, redeliver later", 503)
        if body is None:
            return _refused(event, "payload too large", 413)
        if not signature.valid(
            self.config.webhook_secret, body, request.headers.get("x-hub-signature-256")
        ):
            log("refused: missing or bad signature", "warning", delivery=delivery, event=event)
            return _refused(event, "bad signature", 401)
        try:
            payload = json.loads(body)
        except ValueError:
            return _refused(event, "not JSON", 400)
        if not isinstance(payload, dict) or not event:
            return _refused(event, "not a webhook", 400)
        if self._duplicate(delivery):
            metrics.EVENTS.labels(event, "duplicate").inc()
            log("duplicate delivery: already queued here", delivery=delivery, event=event)
            return JSONResponse({"queued": 0, "duplicate": True}, 202)
        routed = route(event, payload, self.app_client.bot_login)
        if routed.forget is not None:
            # No GitHub request here: the next decision for it mints a token that GitHub
            # checks against the installation's access now.
            self.app_client.forget(routed.forget)
            log("forgot the installation's token", delivery=delivery, event=event,
                installation=routed.forget)  # fmt: skip
        if routed.work:
            if self.queue.fresh() + len(routed.work) > self.queue.limit:
                self._forget(delivery)
                metrics.EVENTS.labels(event, "full").inc()
                log("queue full: refused", "warning", delivery=delivery, event=event)
                return JSONResponse({"message": "queue full, redeliver later"}, 503)
        metrics.EVENTS.labels(event, "accepted").inc()
        log(routed.note, delivery=delivery, event=event, units=len(routed.work))
        task = BackgroundTask(self._enqueue, routed.work, delivery)
        return JSONResponse({"queued": len(routed.work)}, 202, background=task)

    async def _body(self, request: Request) -> bytes | None:
        """The body, read up to GitHub's 25 MB cap (None beyond: not read into memory);
        past LARGE_BODY only while one of the LARGE_BODIES slots is free (_Busy if none)."""
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_BODY:
            return None
        chunks, size, large = [], 0, False
        try:
            async for chunk in request.stream():
                size += len(chunk)
                if size > MAX_BODY:
                    return None
                if size > LARGE_BODY and not large:
                    if not self._large.acquire(blocking=False):
                        raise _Busy
                    large = True
                chunks.append(chunk)
            return b"".join(chunks)
        finally:
            if large:
                self._large.release()

    async def _enqueue(self, work: tuple[Work, ...], delivery: str) -> None:
        """Runs after the response is sent (Starlette's background task)."""
        if not work:
            return
        try:
            self.queue.put(work, delivery)
        except QueueFull:  # filled since the check: the recheck loop will catch up
            log("queue full after acknowledging", "warning", delivery=delivery)
        self._gauge()

    def _duplicate(self, delivery: str) -> bool:
        if not delivery:
            return False
        with self._seen_lock:
            if delivery in self._seen:
                return True
            self._seen[delivery] = None
            while len(self._seen) > SEEN_DELIVERIES:
                self._seen.popitem(last=False)
            return False

    def _forget(self, delivery: str) -> None:
        with self._seen_lock:
            self._seen.pop(delivery, None)

    async def healthz(self, request: Request) -> Response:
        waiting, busy = self.queue.depth()
        alive = all(t.is_alive() for t in self._threads)
        return JSONResponse(
            {"status": "ok" if alive else "degraded", "waiting": waiting, "busy": busy},
            200 if alive else 503,
        )

    async def metrics_page(self, request: Request) -> Response:
        self._gauge()
        return PlainTextResponse(
            metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8"
        )

    def _gauge(self) -> None:
        waiting, busy = self.queue.depth()
        metrics.QUEUE_DEPTH.labels("waiting").set(waiting)
        metrics.QUEUE_DEPTH.labels("busy").set(busy)

    # -- background ---------------------------------------------------------------------
    def start(self) -> None:
        github.AT_COMMIT.enabled = True  # files at a commit sha, kept across decisions
        if github_transport.install(self.config.github_concurrency):
            log("PyGithub on urllib3 directly (no proxy configured)")
        metrics.count_github_requests()
        # not one of the threads /healthz watches: it ends at once
        threading.Thread(target=self._warm_up, name="warm-up", daemon=True).start()
        self._start_match()
        for n in range(self.config.workers):
            self._spawn(self._worker, f"worker-{n}")
        if self.config.redeliver_seconds > 0:
            self._spawn(self._every(self.config.redeliver_seconds, self._redeliver), "redeliver")
        if self.config.recheck_seconds > 0:
            self._spawn(self._every(self.config.recheck_seconds, self._recheck), "recheck")

    def stop(self) -> None:
        """Finish the work already acknowledged (GitHub will not send it again) for up to
        DRAIN_SECONDS, then stop; what is left is logged (the recheck of a running replica
        decides again pull requests left without a verdict)."""
        left = self.queue.drain(DRAIN_SECONDS)
        if left:
            log("stopping with units not decided", "warning", units=left)
        self._stop.set()
        self.queue.close()
        for thread in self._threads:
            thread.join(timeout=30)
        self._stop_match()

    def _start_match(self) -> None:
        """The gate's instance-match preview through one cached, time-bounded reader for the
        process (launcher.serve.match), when LAUNCHER_SERVE_MATCH is on."""
        if not self.config.match:
            return
        from launcher.jobs import match_preview
        from launcher.serve.match import ServeMatcher

        self._matcher = ServeMatcher(
            budget_seconds=self.config.match_seconds,
            catalogue_seconds=self.config.match_cache_seconds,
            observe=lambda outcome: metrics.MATCH_PREVIEWS.labels(outcome).inc(),
        )
        self._matcher.warm()
        match_preview.install(self._matcher)

    def _stop_match(self) -> None:
        if self._matcher is not None:
            from launcher.jobs import match_preview

            match_preview.install(None)
            self._matcher.close()
            self._matcher = None

    def _spawn(self, target: Any, name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _worker(self) -> None:
        while not self._stop.is_set():
            taken = self.queue.take(timeout=1.0)
            if taken is None:
                continue
            work, deliveries = taken.work, taken.deliveries
            try:
                # its GitHub requests go before younger units' (adapters.priority)
                priority.set(taken.since)
                result = decide(self.app_client, work, deliveries, taken.confirming)
                if result.more:
                    try:
                        self.queue.put(result.more, deliveries[-1] if deliveries else "")
                    except QueueFull:
                        log("queue full: the recheck will catch up", "warning", repo=work.repo)
                if work.number and result.outcome is not None and not taken.confirming:
                    metrics.LATENCY.observe(time.monotonic() - taken.since)
                if work.number and result.confirm:
                    self.queue.confirm(work)
                if result.retry and taken.attempts < MAX_RETRIES:
                    self.queue.confirm(work, taken.attempts + 1, 2.0 ** (taken.attempts + 1))
                elif result.retry:
                    # the recheck decides it again (its previous verdict may still stand)
                    with self._unsettled_lock:
                        self._unsettled[work.key] = replace(work, rerun=False)
                    log("gave up after retries: the recheck decides it again", "error",
                        repo=work.repo, pr=work.number)  # fmt: skip
                elif result.outcome is not None or result.more:
                    with self._unsettled_lock:
                        self._unsettled.pop(work.key, None)
            except Exception as exc:  # noqa: BLE001 - a worker must survive any one unit
                log("unit failed", "error", repo=work.repo, pr=work.number,
                    error=f"{type(exc).__name__}: {exc}")  # fmt: skip
            finally:
                self.queue.done(work)
                self._gauge()

    def _warm_up(self) -> None:
        """Sign the app's first JWT now (loading the RSA key costs a tenth of a second) and
        compile the schema checks, rather than in the first deliveries' decisions; a key that
        cannot sign is logged at start."""
        from launcher.core import schemas

        schemas.warm()
        try:
            self.app_client.sign()
        except Exception as exc:  # noqa: BLE001 - the first decision will report it again
            log("the app's private key cannot sign a JWT", "error",
                error=f"{type(exc).__name__}: {exc}")  # fmt: skip

    def _every(self, seconds: float, job: Any) -> Any:
        def loop() -> None:
            while not self._stop.wait(seconds):
                try:
                    job()
                except Exception as exc:  # noqa: BLE001 - the next round tries again
                    log(f"{job.__name__} failed", "error", error=f"{type(exc).__name__}: {exc}")

        return loop

    def _redeliver(self) -> None:
        ids = self.app_client.redeliver_failed(self.config.redeliver_window_seconds)
        metrics.REDELIVERIES.inc(len(ids))
        if ids:
            log("redelivered failed deliveries", deliveries=ids)

    def _recheck(self) -> None:
        with self._unsettled_lock:
            unsettled = tuple(self._unsettled.values())
        if unsettled:
            log("recheck: units that could not be decided", units=len(unsettled))
            try:
                self.queue.put(unsettled, "recheck")
            except QueueFull:
                return
        for installation in self.app_client.installations():
            try:
                repos = self.app_client.repositories(installation)
            except GitHubError as exc:  # suspended, or uninstalled since the listing
                self.app_client.forget(installation)
                log("recheck: installation skipped", "warning", installation=installation,
                    error=str(exc))  # fmt: skip
                continue
            for repo in repos:
                try:
                    stale = stale_pulls(self.app_client, installation, repo)
                except GitHubError as exc:  # e.g. removed from the installation meanwhile
                    log("recheck: repository skipped", "warning", repo=repo, error=str(exc))
                    continue
                if stale:
                    log("recheck: pull requests without a verdict on their head",
                        repo=repo, prs=[w.number for w in stale])  # fmt: skip
                    try:
                        self.queue.put(stale, "recheck")
                    except QueueFull:
                        return

    # -- the ASGI application -------------------------------------------------------------
    def asgi(self) -> Starlette:
        @contextlib.asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            self.start()
            try:
                yield
            finally:
                self.stop()

        return Starlette(
            routes=[
                Route("/webhook", self.webhook, methods=["POST"]),
                Route("/", self.webhook, methods=["POST"]),
                Route("/healthz", self.healthz, methods=["GET"]),
                Route("/metrics", self.metrics_page, methods=["GET"]),
            ],
            lifespan=lifespan,
        )


def serve(config: ServeConfig) -> None:
    import uvicorn

    service = Service(config)
    log("launcher serve starting", host=config.host, port=config.port, api=config.api_url,
        app_id=config.app_id, workers=config.workers)  # fmt: skip
    uvicorn.run(
        service.asgi(),
        host=config.host,
        port=config.port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=20,
    )
