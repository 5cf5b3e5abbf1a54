"""PyGithub's HTTP transport on urllib3 alone, for the long-running `launcher serve`.

PyGithub sends every request through a `requests.Session`, whose per-request work (merging
the environment's proxy and certificate settings, preparing hooks, cookies and auth) cost the
service about a third of its CPU per verdict, measured with py-spy under `bench/serve.py`: more
than the connection pool doing the actual request. requests itself does the request with
urllib3; this transport calls urllib3's pool directly, with the same retry object PyGithub
builds (`GithubRetry` is a urllib3 `Retry`), the same timeouts, no redirects followed (PyGithub
follows them itself, as it asks requests to), certificates verified against certifi's bundle
(what requests uses). It is installed only when no proxy is configured in the environment
(requests honours HTTP(S)_PROXY; this transport does not), and only if PyGithub still has the
two class attributes it replaces, so a PyGithub upgrade that moves them leaves requests in
place rather than failing.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, ItemsView
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import certifi
import urllib3

from launcher.adapters.priority import PrioritySemaphore

PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy")
_ATTRIBUTES = ("_Requester__httpConnectionClass", "_Requester__httpsConnectionClass")

# Called after each request with (method, status or None when it failed): launcher serve's
# request counter (Prometheus), since requests' adapter, which it wraps, is not used here.
observers: list[Callable[[str, int | None], None]] = []


class _Response:
    """What PyGithub reads from a response (the shape of its `RequestsResponse`)."""

    def __init__(self, response: urllib3.BaseHTTPResponse) -> None:
        self.status = response.status
        self.headers = response.headers
        self._data = response.data

    def getheaders(self) -> ItemsView[str, str]:
        return self.headers.items()  # type: ignore[return-value] # a view of (name, value)

    def read(self) -> str:
        return self._data.decode("utf-8", errors="replace")

    def iter_content(self, chunk_size: int | None = 1) -> Any:
        size = chunk_size or len(self._data) or 1
        return (self._data[i : i + size] for i in range(0, len(self._data), size))


class _Connection:
    """One per PyGithub client, like requests' session it replaces: the pool is shared by
    the client's requests; the request in flight is kept per thread."""

    protocol = "http"

    def __init__(
        self,
        host: str,
        port: int | None = None,
        strict: bool = False,
        timeout: int | None = None,
        retry: Any = None,
        pool_size: int | None = None,
        **kwargs: Any,
    ) -> None:
        self.host = host
        self.port = port or (443 if self.protocol == "https" else 80)
        self.timeout = urllib3.Timeout(connect=timeout, read=timeout)
        self.retry = retry if retry is not None else urllib3.Retry(0, read=False)
        options: dict[str, Any] = {"maxsize": pool_size or 10, "block": False}
        if self.protocol == "https":
            verify = kwargs.get("verify", True)
            if verify is False:
                options["cert_reqs"] = "CERT_NONE"
            else:
                options["cert_reqs"] = "CERT_REQUIRED"
                options["ca_certs"] = verify if isinstance(verify, str) else ca_bundle()
            self.pool: urllib3.HTTPConnectionPool = urllib3.HTTPSConnectionPool(
                host, self.port, **options
            )
        else:
            self.pool = urllib3.HTTPConnectionPool(host, self.port, **options)
        self._request = threading.local()

    def request(
        self, verb: str, url: str, input: Any, headers: dict[str, str], stream: bool = False
    ) -> None:
        self._request.args = (verb, url, input, headers)

    def getresponse(self) -> _Response:
        verb, url, body, headers = self._request.args
        try:
            with _in_flight.slot() if _in_flight is not None else contextlib.nullcontext():
                response = self.pool.urlopen(
                    verb,
                    url,
                    body=body,
                    headers=headers,
                    retries=self.retry,
                    redirect=False,
                    assert_same_host=False,
                    timeout=self.timeout,
                )
        except Exception:
            for observe in observers:
                observe(verb, None)
            raise
        for observe in observers:
            observe(verb, response.status)
        return _Response(response)

    def close(self) -> None:
        self.pool.close()


class _HTTPSConnection(_Connection):
    protocol = "https"


def ca_bundle() -> str:
    """The certificates to trust, as requests finds them: REQUESTS_CA_BUNDLE or
    CURL_CA_BUNDLE (a private CA, GitHub Enterprise Server), else certifi's bundle."""
    return (
        os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or certifi.where()
    )


def proxied(env: dict[str, str] | None = None) -> bool:
    env = dict(os.environ) if env is None else env
    return any(env.get(name) or env.get(name.upper()) for name in PROXY_VARIABLES)


_pool: ThreadPoolExecutor | None = None
# At most `install(concurrency)` requests in flight across the process: the readers' and the
# workers' own requests together (GitHub's secondary rate limit counts every request at once);
# a freed slot goes to the oldest unit's request (`priority`).
_in_flight: PrioritySemaphore | None = None


def reader() -> ThreadPoolExecutor | None:
    """The threads making a process's concurrent reads (`GitHub.prefetch`), when this
    transport is installed (safe to share between threads: requests' connection class keeps
    the request being made in its own attributes) with a concurrency above 1; else None."""
    from github.Requester import Requester

    if getattr(Requester, _ATTRIBUTES[0], None) is not _Connection:
        return None
    return _pool


def install(concurrency: int = 1) -> bool:
    """Use this transport for every PyGithub client made from now on, with at most
    `concurrency` requests at once across the process, reads made together and every other
    request alike (GitHub's secondary rate limits count concurrent requests: at most 100, all
    clients of the app together); False (and nothing changed) when a proxy is configured or
    PyGithub no longer has the attributes."""
    global _pool, _in_flight
    from github.Requester import Requester

    if proxied() or not all(hasattr(Requester, name) for name in _ATTRIBUTES):
        return False
    setattr(Requester, _ATTRIBUTES[0], _Connection)
    setattr(Requester, _ATTRIBUTES[1], _HTTPSConnection)
    if _in_flight is None:
        _in_flight = PrioritySemaphore(max(1, concurrency))
    if concurrency > 1 and _pool is None:
        # more threads than slots: every read made together waits at `_in_flight`, where the
        # oldest unit's go first, not in the pool's queue in the order they were handed over
        _pool = ThreadPoolExecutor(4 * concurrency, thread_name_prefix="github-read")
    return True
