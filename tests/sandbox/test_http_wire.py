"""The stand-in's own reading of requests and writing of answers (it reads headers without the
email package and writes each answer in one send): what any HTTP/1.1 client sees is what
`http.server` gave it, keep-alive, folded and repeated headers, limits and errors included."""

from __future__ import annotations

import http.client
import json
import socket

from launcher.sandbox.github import GitHubSandbox
from tests.sandbox.conftest import World


def _connect(sb: GitHubSandbox) -> socket.socket:
    host, _, port = sb.url.removeprefix("http://").partition(":")
    return socket.create_connection((host, int(port.split("/")[0])), timeout=10)


def _exchange(sb: GitHubSandbox, *requests: bytes) -> list[http.client.HTTPResponse]:
    """Send raw requests on one connection; read an answer to each (until one closes it)."""
    sock = _connect(sb)
    answers = []
    try:
        for raw in requests:
            sock.sendall(raw)
            response = http.client.HTTPResponse(sock, method="GET")
            response.begin()
            response.read()
            answers.append(response)
            if response.will_close:
                break
    finally:
        sock.close()
    return answers


def _get(path: str, *headers: str, version: str = "HTTP/1.1") -> bytes:
    lines = [f"GET {path} {version}", "Host: github.test", *headers, "", ""]
    return "\r\n".join(lines).encode("latin-1")


def test_headers_are_read_whatever_their_case_and_the_first_of_a_repeated_one_counts(
    world: World,
) -> None:
    token = world.sb.add_user("wire")
    answers = _exchange(
        world.sb,
        _get("/user", f"aUtHoRiZaTiOn:   token {token}"),
        _get("/user", f"Authorization: token {token}", "Authorization: token wrong"),
        _get("/user", "Authorization: token wrong", f"Authorization: token {token}"),
    )
    assert [a.status for a in answers] == [200, 200, 401]


def test_a_folded_header_continues_the_one_before(world: World) -> None:
    token = world.sb.add_user("wire")
    [answer] = _exchange(world.sb, _get("/user", "Authorization: token", f"  {token}"))
    # the value is "token\r\n  <token>", as the email package read it: not a valid credential
    assert answer.status == 401


def test_keep_alive_and_closing_as_http_1_1_and_1_0_ask(world: World) -> None:
    token = world.sb.add_user("wire")
    auth = f"Authorization: token {token}"
    kept = _exchange(world.sb, _get("/user", auth), _get("/user", auth))
    assert [(a.status, a.will_close) for a in kept] == [(200, False), (200, False)]
    # asked to close, it says so (`Connection: close`) and closes
    closed = _exchange(world.sb, _get("/user", auth, "Connection: close"), _get("/user", auth))
    assert [(a.status, a.will_close) for a in closed] == [(200, True)]
    assert closed[0].getheader("Connection") == "close"
    old = _exchange(world.sb, _get("/user", auth, version="HTTP/1.0"), _get("/user", auth))
    assert [(a.status, a.will_close) for a in old] == [(200, True)]
    old_kept = _exchange(
        world.sb,
        _get("/user", auth, "Connection: keep-alive", version="HTTP/1.0"),
        _get("/user", auth),
    )
    assert [a.status for a in old_kept] == [200, 200]


def test_an_answer_carries_github_s_headers_and_its_length(world: World) -> None:
    token = world.sb.add_user("wire")
    [answer] = _exchange(world.sb, _get("/user", f"Authorization: token {token}"))
    assert answer.status == 200 and answer.reason == "OK"
    assert answer.getheader("Server", "").startswith("GitHub.com")
    assert answer.getheader("Date", "").endswith(" GMT")
    assert answer.getheader("Content-Type") == "application/json; charset=utf-8"
    assert answer.getheader("X-RateLimit-Remaining") is not None
    assert answer.getheader("X-GitHub-Request-Id")
    assert int(answer.getheader("Content-Length", "0")) > 0


def test_limits_and_malformed_requests_are_answered_as_http_server_answers_them(
    world: World,
) -> None:
    token = world.sb.add_user("wire")
    # http.client's limit: at most 100 lines, the blank one that ends them included
    fill = [f"X-Header-{i}: {i}" for i in range(97)]
    auth = f"Authorization: token {token}"
    assert _exchange(world.sb, _get("/user", auth, *fill))[0].status == 200  # 99 headers
    assert _exchange(world.sb, _get("/user", auth, *fill, "X-One-More: 1"))[0].status == 431
    assert _exchange(world.sb, _get("/user", "X-Long: " + "a" * 70_000))[0].status == 431
    assert b"505" in _raw(world.sb, b"GET /user HTTP/2.0\r\n\r\n")
    # a request line http.server cannot read is answered as it answers it: an error page
    for line in (b"GET /user HTTP/1.1 extra", b"GET /user HTTP/x.y", b"BREW"):
        assert b"400" in _raw(world.sb, line + b"\r\n\r\n")


def _raw(sb: GitHubSandbox, data: bytes) -> bytes:
    with _connect(sb) as sock:
        sock.sendall(data)
        out = b""
        while chunk := sock.recv(65536):
            out += chunk
        return out


def test_expect_100_continue_is_answered_before_the_body(world: World) -> None:
    token = world.sb.add_user("wire")
    body = json.dumps({"name": "new-repo"}).encode()
    head = (
        f"POST /user/repos HTTP/1.1\r\nAuthorization: token {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        "Expect: 100-continue\r\n\r\n"
    ).encode()
    with _connect(world.sb) as sock:
        sock.sendall(head)
        assert sock.recv(64).startswith(b"HTTP/1.1 100 Continue")
        sock.sendall(body)
        answer = http.client.HTTPResponse(sock, method="POST")
        answer.begin()
        assert answer.status in (201, 404, 422, 403)  # answered, whatever the route says
        assert answer.read()


def test_request_headers_read_again_after_a_change() -> None:
    """The stand-in's headers look up by name from an index: one changed or removed is
    looked up as it now is, as the email package's message would answer."""
    from launcher.sandbox.github.http import _Headers

    headers = _Headers()
    headers.set_raw("Accept", "a")
    headers.set_raw("accept", "b")
    assert headers.get("ACCEPT") == "a" and headers["accept"] == "a"
    del headers["Accept"]
    assert headers.get("accept") is None
    headers["X-Custom"] = "1"
    headers.replace_header("x-custom", "2")
    assert headers.get("x-CUSTOM") == "2" and headers.get("missing", "none") == "none"
