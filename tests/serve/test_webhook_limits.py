"""What anyone who can reach the webhook URL, without the secret, can make the service hold:
a body is read whole before its signature can be checked, so large bodies take one of a few
slots and a body that does not arrive in time is refused."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from tests.jobs.conftest import World
from tests.serve.conftest import Served, serve_world

STALLED = 300 * 1024  # past the 256 KiB a body may use without a slot


@pytest.fixture
def served_quickly(world: World) -> Iterator[Served]:
    s = serve_world(world, LAUNCHER_SERVE_BODY_SECONDS="2")
    try:
        yield s
    finally:
        s.stop()


def start_post(url: str, declared: int, sent: int) -> socket.socket:
    """A POST to /webhook declaring `declared` bytes of body and sending `sent` of them."""
    host, _, port = url.removeprefix("http://").partition(":")
    conn = socket.create_connection((host, int(port)), timeout=30)
    head = (
        f"POST /webhook HTTP/1.1\r\nHost: {host}\r\nX-GitHub-Event: push\r\n"
        f"X-GitHub-Delivery: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {declared}\r\n\r\n"
    )
    conn.sendall(head.encode() + b" " * sent)
    return conn


def status_of(conn: socket.socket) -> int:
    line = conn.makefile("rb").readline()
    conn.close()
    return int(line.split()[1])


def test_large_bodies_take_a_slot_and_a_stalled_body_is_refused_in_time(
    served_quickly: Served,
) -> None:
    url = served_quickly.replicas[0].url
    stalled = [start_post(url, 1_000_000, STALLED) for _ in range(4)]
    time.sleep(0.5)  # all four are being read: every slot is taken
    assert status_of(start_post(url, 1_000_000, STALLED)) == 503
    # small deliveries are still read (and, unsigned, refused as always)
    assert status_of(start_post(url, 2, 2)) == 401
    started = time.monotonic()
    assert [status_of(conn) for conn in stalled] == [408] * 4
    assert time.monotonic() - started < 10
    # the slots are free again: a whole large body is read (and refused: unsigned)
    assert status_of(start_post(url, STALLED, STALLED)) == 401
    assert served_quickly.replicas[0].health()["status"] == "ok"
