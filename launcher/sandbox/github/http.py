"""HTTP plumbing: routing by OpenAPI path template, GitHub's headers, errors and pagination.

Standard library only (``http.server``), HTTP/1.1 with keep-alive because PyGithub
keeps its connection open.
"""

from __future__ import annotations

import base64
import email.utils
import http.client
import itertools
import json
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from launcher.sandbox.github.observe import LoggedRequest

if TYPE_CHECKING:
    from launcher.sandbox.github.apps import Credential
    from launcher.sandbox.github.service import GitHub

_REQUEST_IDS = itertools.count(0xC0DE0000)
DOCS = "https://docs.github.com/rest"

# Path parameters that may contain "/" (GitHub accepts them unescaped).
_GREEDY = {"path", "ref", "basehead", "branch"}
_GREEDY_PART = re.compile(r"\{(?:" + "|".join(sorted(_GREEDY)) + r")\}")


class ApiError(Exception):
    """An error answer with GitHub's body shape."""

    def __init__(
        self,
        status: int,
        message: str,
        errors: list[Any] | None = None,
        headers: dict[str, str] | None = None,
        docs: str = DOCS,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors
        self.headers = headers or {}
        self.docs = docs

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"message": self.message, "documentation_url": self.docs}
        if self.errors is not None:
            out["errors"] = self.errors
        out["status"] = str(self.status)
        return out


def not_found() -> ApiError:
    return ApiError(404, "Not Found")


def validation(message: str = "Validation Failed", /, **error: Any) -> ApiError:
    """422 with one entry in ``errors`` (GitHub's ``validation-error`` shape)."""
    return ApiError(422, message, [error] if error else None)


@dataclass
class Response:
    status: int
    body: Any = None  # JSON-serializable, None for no body
    headers: dict[str, str] = field(default_factory=dict)
    # An answer in a media type with its own schema ("<operationId>@<media type>", see
    # tests/openapi/extract.py MEDIA_VARIANTS) is recorded under that name.
    operation: str | None = None


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    raw_query: list[tuple[str, str]]
    params: dict[str, str]
    body: Any
    user: str | None
    gh: GitHub
    base_url: str
    credential: Any = None  # apps.Credential: the token or app JWT that authenticated
    headers: Any = None  # the request's headers (``Accept`` picks raw media types)

    def int_param(self, name: str) -> int:
        try:
            return int(self.params[name])
        except ValueError:
            raise not_found() from None

    def json(self) -> dict[str, Any]:
        if self.body is None:
            return {}
        if not isinstance(self.body, dict):
            raise ApiError(400, "Problems parsing JSON")
        return self.body

    def require_user(self) -> str:
        if self.user is None:
            raise ApiError(401, "Requires authentication")
        return self.user

    def paginate(
        self, items: list[Any], wrap: Callable[[list[Any]], Any] | None = None
    ) -> Response:
        """Slice ``items`` by ``page``/``per_page`` and add GitHub's ``Link`` header."""
        try:
            per_page = max(1, min(100, int(self.query.get("per_page", 30))))
            page = max(1, int(self.query.get("page", 1)))
        except ValueError:
            per_page, page = 30, 1
        last = max(1, -(-len(items) // per_page))
        chunk = items[(page - 1) * per_page : page * per_page]
        headers: dict[str, str] = {}
        links = []

        def url(n: int) -> str:
            q = [(k, v) for k, v in self.raw_query if k != "page"] + [("page", str(n))]
            return f"<{self.base_url}{self.path}?{urlencode(q)}>"

        if page > 1:
            links.append(f'{url(min(page - 1, last))}; rel="prev"')
        if page < last:
            links.append(f'{url(page + 1)}; rel="next"')
            links.append(f'{url(last)}; rel="last"')
        if page > 1:
            links.append(f'{url(1)}; rel="first"')
        if links:
            headers["Link"] = ", ".join(links)
        return Response(200, wrap(chunk) if wrap else chunk, headers)


Handler = Callable[[Request], Response]


@dataclass
class Route:
    method: str
    template: str
    operation: str
    handler: Handler
    regex: re.Pattern[str] = field(init=False)

    def __post_init__(self) -> None:
        pattern = ""
        for part in re.split(r"(\{[a-z_]+\})", self.template):
            if part.startswith("{"):
                name = part[1:-1]
                pattern += f"(?P<{name}>.+?)" if name in _GREEDY else f"(?P<{name}>[^/]+)"
            else:
                pattern += re.escape(part)
        self.regex = re.compile(f"^{pattern}$")

    @property
    def literal_len(self) -> int:
        return len(re.sub(r"\{[a-z_]+\}", "", self.template))


class Router:
    """Routes tried longest literal first. A path is only tried against the routes that can
    match its number of segments (a greedy parameter's routes are tried with every path):
    one request used to run a few hundred regular expressions."""

    def __init__(self) -> None:
        self.routes: list[Route] = []
        self._by_segments: dict[int, list[Route]] = {}

    def add(self, method: str, template: str, operation: str) -> Callable[[Handler], Handler]:
        def deco(fn: Handler) -> Handler:
            self.routes.append(Route(method, template, operation, fn))
            self.routes.sort(key=lambda r: -r.literal_len)
            self._by_segments.clear()
            return fn

        return deco

    def _candidates(self, path: str) -> list[Route]:
        segments = path.count("/")
        found = self._by_segments.get(segments)
        if found is None:
            found = [
                r
                for r in self.routes
                if r.template.count("/") == segments
                or (r.template.count("/") < segments and _GREEDY_PART.search(r.template))
            ]
            self._by_segments[segments] = found
        return found

    def match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
        """(route, params, path_known). path_known without route means 404 vs 405-ish."""
        known = False
        for route in self._candidates(path):
            m = route.regex.match(path)
            if m is None:
                continue
            known = True
            if route.method == method:
                return route, {k: unquote(v) for k, v in m.groupdict().items()}, True
        return None, {}, known


_MAX_LINE = 65536  # http.client's limits on a header line and on the number of headers
_MAX_HEADERS = 100
_HEADER_LINE = re.compile(r"^(From |[\041-\071\073-\176]*:|[\t ])")  # email.feedparser's
_VERSIONS = ("HTTP/1.1", "HTTP/1.0")


class _Headers(http.client.HTTPMessage):
    """A request's headers, read without the email package's parser (which cost the stand-in
    more CPU per request than most handlers in a burst); looked up by lower-cased name, the
    first of a repeated one as `Message.get` does."""

    def __init__(self) -> None:
        super().__init__()
        self._first: dict[str, str] = {}

    def set_raw(self, name: str, value: str) -> None:
        super().set_raw(name, value)
        self._first.setdefault(name.lower(), value)

    def _reindex(self) -> None:
        self._first = {}
        for name, value in self._headers:  # type: ignore[attr-defined]
            self._first.setdefault(name.lower(), value)

    def __setitem__(self, name: str, value: Any) -> None:
        super().__setitem__(name, value)
        self._reindex()

    def __delitem__(self, name: str) -> None:
        super().__delitem__(name)
        self._reindex()

    def replace_header(self, name: str, value: Any) -> None:
        super().replace_header(name, value)
        self._reindex()

    def get(self, name: str, failobj: Any = None) -> Any:
        return self._first.get(name.lower(), failobj)


_date_cache: tuple[int, str] = (0, "")


def _http_date() -> str:
    """The Date header, formatted once a second."""
    global _date_cache
    second = int(time.time())
    if _date_cache[0] != second:
        _date_cache = (second, email.utils.formatdate(second, usegmt=True))
    return _date_cache[1]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # The listen backlog (socketserver's default is 5): past it the kernel drops new
    # connections' SYNs and clients wait out TCP's retransmission (1, 3, 7 s...), stalls GitHub
    # does not cause; many clients connecting at once (a service's concurrent reads) need more.
    request_queue_size = 1024
    gh: GitHub

    def __init__(self, addr: tuple[str, int], gh: GitHub) -> None:
        self.gh = gh
        self.conns: set[socket.socket] = set()
        self.conns_lock = threading.Lock()
        super().__init__(addr, _Handler)

    def shutdown_connections(self) -> None:
        with self.conns_lock:
            for conn in list(self.conns):
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self.conns.clear()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    raw_requestline: bytes  # set by handle_one_request before parse_request
    server_version = "GitHub.com"
    sys_version = ""

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without this Nagle + delayed ACK
        # add ~40-200 ms to every keep-alive request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.conns_lock:
            self.server.conns.add(self.connection)

    def finish(self) -> None:
        with self.server.conns_lock:
            self.server.conns.discard(self.connection)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def parse_request(self) -> bool:
        """`BaseHTTPRequestHandler.parse_request` for the usual request (`METHOD path
        HTTP/1.x`), its headers read line by line under http.client's limits; anything else
        goes to the standard library's, which answers it as it always has."""
        requestline = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        words = requestline.split()
        version = words[2] if len(words) == 3 and words[2] in _VERSIONS else None
        if version is None or words[1].startswith("//"):
            return super().parse_request()
        self.command, self.path = words[0], words[1]
        self.request_version = version
        self.requestline = requestline
        self.close_connection = version == "HTTP/1.0"
        fields: list[list[str]] = []
        in_headers = True  # email's parser ends the headers at a line that is not one
        for _ in range(_MAX_HEADERS):  # the blank line counts, as in http.client
            line = self.rfile.readline(_MAX_LINE + 1)
            if len(line) > _MAX_LINE:
                self.send_error(431, "Line too long", "header line")
                return False
            if line in (b"\r\n", b"\n", b""):
                break
            text = line.decode("iso-8859-1")
            if not in_headers or not _HEADER_LINE.match(text):
                in_headers = False
            elif text[0] in " \t":
                if fields:
                    fields[-1].append(text)  # an obsolete folded continuation
            elif not text.startswith("From "):
                fields.append([text])
        else:
            self.send_error(431, "Too many headers", f"got more than {_MAX_HEADERS} headers")
            return False
        headers = _Headers()
        for first, *rest in fields:
            name, _, value = first.partition(":")
            headers.set_raw(name, (value.lstrip(" \t") + "".join(rest)).rstrip("\r\n"))
        self.headers = headers
        connection = (headers.get("Connection") or "").lower()
        if connection == "close":
            self.close_connection = True
        elif connection == "keep-alive":
            self.close_connection = False
        expect = (headers.get("Expect") or "").lower()
        if expect == "100-continue" and version == "HTTP/1.1":
            return self.handle_expect_100()
        return True

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET

    def _dispatch(self) -> None:
        gh = self.server.gh
        started = time.perf_counter()
        split = urlsplit(self.path)
        path = split.path.rstrip("/") or "/"
        raw_query = parse_qsl(split.query, keep_blank_values=True)
        length = int(self.headers.get("Content-Length") or 0)
        raw_body = self.rfile.read(length) if length else b""
        method = self.command

        route, params, known = gh.router.match(method, path)
        template = route.template if route else None
        operation = route.operation if route else None
        user: str | None = None
        fault_kind: str | None = None
        resource = "search" if path.startswith("/search/") else "core"
        try:
            credential = self._authenticate()
            user = credential.login if credential else None
            fault = None if path.startswith("/_sandbox") else gh.faults.take(method, path, template)
            if fault is not None:
                fault_kind = fault.kind
                if fault.kind == "hang":
                    time.sleep(fault.seconds)
                elif fault.kind == "rate_limit":
                    _, _, reset = gh.rate_limits.hit(user, resource, count=False)
                    limit = gh.rate_limits.limit_for(user, resource)
                    raise ApiError(
                        403,
                        f"API rate limit exceeded for user ID {account.id}."
                        if user and (account := gh.state.user(user))
                        else "API rate limit exceeded for 127.0.0.1. (But here's the good news: "
                        "Authenticated requests get a higher rate limit. Check out the "
                        "documentation for more details.)",
                        headers={
                            "X-RateLimit-Limit": str(limit),
                            "X-RateLimit-Remaining": "0",
                            "X-RateLimit-Reset": str(reset),
                            "X-RateLimit-Used": str(limit),
                            "X-RateLimit-Resource": resource,
                        },
                        docs="https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
                    )
                else:
                    raise ApiError(
                        fault.status,
                        "Server Error"
                        if fault.status == 500
                        else "Bad Gateway"
                        if fault.status == 502
                        else "Service Unavailable",
                    )
            if route is None:
                raise not_found()
            try:
                body = json.loads(raw_body) if raw_body.strip() else None
            except ValueError:
                raise ApiError(400, "Problems parsing JSON") from None
            request = Request(
                method,
                path,
                dict(raw_query),
                raw_query,
                params,
                body,
                user,
                gh,
                gh.base_url,
                credential,
                self.headers,
            )
            with gh.concurrency:
                if gh.latency and not path.startswith("/_sandbox"):
                    time.sleep(gh.latency)  # the round trip, outside the lock: they overlap
            with gh.state.lock:  # handlers see a consistent state; git reads are cached
                scope = (
                    gh.state.repo(params["owner"], params["repo"])
                    if "owner" in params and "repo" in params
                    else None
                )
                if not route.operation.startswith("_sandbox"):
                    gh.apps.authorize(credential, route.operation, scope, method)
                response = route.handler(request)
        except ApiError as err:
            response = Response(err.status, err.body(), dict(err.headers))
        except Exception as exc:  # noqa: BLE001 - a server must answer
            gh.errors.append(exc)
            response = Response(
                500,
                {"message": f"Server Error: {exc!r}", "documentation_url": DOCS, "status": "500"},
            )
        entry = LoggedRequest(
            method,
            path,
            template,
            operation,
            response.status,
            user,
            (time.perf_counter() - started) * 1000,
            fault_kind,
        )
        if not path.startswith("/_sandbox"):
            # Logged before answering, so a client that got its answer sees it counted.
            gh.request_log.add(entry)
            if not isinstance(response.body, bytes):  # raw media types are not JSON
                recorded = response.operation or operation
                gh.record_response(recorded, response.status, response.body, fault_kind)
        self._send(response, user, resource, method, fault_kind)

    def _authenticate(self) -> Credential | None:
        gh = self.server.gh
        header = self.headers.get("Authorization")
        if not header:
            return None
        scheme, _, cred = header.partition(" ")
        token = cred.strip()
        if scheme.lower() == "basic":
            try:
                _, _, token = base64.b64decode(token).decode().partition(":")
            except ValueError:
                token = ""
        elif scheme.lower() not in ("token", "bearer"):
            token = ""
        elif scheme.lower() == "token" and token.count(".") == 2:
            token = ""  # GitHub: "if you are passing a JWT, you must use Authorization: Bearer"
        return gh.apps.authenticate(token)

    def _send(
        self, response: Response, user: str | None, resource: str, method: str, fault: str | None
    ) -> None:
        gh = self.server.gh
        payload = b""
        if isinstance(response.body, bytes):
            payload = response.body
        elif response.body is not None:
            payload = json.dumps(response.body, separators=(",", ":")).encode()
        headers = {
            "Server": self.version_string(),
            "Date": _http_date(),
            "Content-Type": "application/json; charset=utf-8",
            "X-GitHub-Media-Type": "github.v3; format=json",
            "X-GitHub-Api-Version-Selected": "2022-11-28",
            "X-GitHub-Request-Id": f"{next(_REQUEST_IDS):020X}",  # unique, and cheap
            "Cache-Control": "private, max-age=60, s-maxage=60",
            "Vary": "Accept, Authorization, Cookie, X-GitHub-OTP",
        }
        if fault != "rate_limit" and not self.path.startswith("/_sandbox"):
            limit, used, reset = gh.rate_limits.hit(user, resource)
            headers.update(
                {
                    "X-RateLimit-Limit": str(limit),
                    "X-RateLimit-Remaining": str(max(0, limit - used)),
                    "X-RateLimit-Reset": str(reset),
                    "X-RateLimit-Used": str(used),
                    "X-RateLimit-Resource": resource,
                }
            )
        if user is not None:
            headers["X-OAuth-Scopes"] = "repo, read:org"
            headers["X-Accepted-OAuth-Scopes"] = ""
        headers.update(response.headers)
        headers["Content-Length"] = str(len(payload))
        connection = headers.get("Connection", "").lower()
        if connection == "close":
            self.close_connection = True
        elif connection == "keep-alive":
            self.close_connection = False
        elif self.close_connection:
            headers["Connection"] = "close"  # closing (asked, or HTTP/1.0): say so
        reason = self.responses[response.status][0] if response.status in self.responses else ""
        # status line, headers and body in one write (send_header's per-line work and a
        # second send per response were a fifth of the stand-in's CPU in a burst)
        head = f"{self.protocol_version} {response.status} {reason}\r\n" + "".join(
            f"{key}: {value}\r\n" for key, value in headers.items()
        )
        out = head.encode("latin-1") + b"\r\n"
        if payload and method != "HEAD":
            out += payload
        self.wfile.write(out)


class HttpServer:
    """Runs the routed API on a loopback port in a background thread."""

    def __init__(self, gh: GitHub, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = _Server((host, port), gh)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"github-sandbox:{self.port}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.shutdown_connections()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
