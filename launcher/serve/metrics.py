"""Prometheus metrics of one replica (`/metrics`), on a registry of its own."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from launcher.adapters import github_transport

REGISTRY = CollectorRegistry()
EVENTS = Counter(
    "launcher_webhook_events",
    "Deliveries received, by event and outcome (accepted, refused, duplicate, full).",
    ["event", "outcome"],
    registry=REGISTRY,
)
VERDICTS = Counter(
    "launcher_verdicts", "Decisions made, by verdict state.", ["state"], registry=REGISTRY
)
GITHUB_REQUESTS = Counter(
    "launcher_github_requests",
    "Requests to GitHub's API, by method and status class.",
    ["method", "status"],
    registry=REGISTRY,
)
QUEUE_DEPTH = Gauge(
    "launcher_queue_depth",
    "Pull requests waiting or being decided.",
    ["kind"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "launcher_delivery_to_verdict_seconds",
    "From the oldest delivery a decision answers to its verdict being on GitHub.",
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120),
    registry=REGISTRY,
)
MATCH_PREVIEWS = Counter(
    "launcher_match_previews",
    "Instance-match previews, by outcome (answered; skipped: AWS could not be read; slow: "
    "not answered within LAUNCHER_SERVE_MATCH_SECONDS).",
    ["outcome"],
    registry=REGISTRY,
)
REDELIVERIES = Counter(
    "launcher_redeliveries", "Failed deliveries the service asked GitHub to redeliver.",
    registry=REGISTRY,
)  # fmt: skip


def render() -> bytes:
    return generate_latest(REGISTRY)


_counting = False


def count_github_requests() -> None:
    """Count every HTTP request this process makes (they all go to GitHub): the app client's
    and PyGithub's through `requests` by wrapping its transport adapter once, PyGithub's
    through `launcher.adapters.github_transport` when that is installed."""
    global _counting
    if _counting:
        return
    from requests.adapters import HTTPAdapter

    original = HTTPAdapter.send

    def send(self: HTTPAdapter, request: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            response = original(self, request, *args, **kwargs)
        except Exception:
            GITHUB_REQUESTS.labels(request.method, "error").inc()
            raise
        GITHUB_REQUESTS.labels(request.method, f"{response.status_code // 100}xx").inc()
        return response

    HTTPAdapter.send = send  # type: ignore[method-assign]

    def observe(method: str, status: int | None) -> None:
        GITHUB_REQUESTS.labels(method, "error" if status is None else f"{status // 100}xx").inc()

    github_transport.observers.append(observe)  # PyGithub's requests, when on urllib3 alone
    _counting = True
