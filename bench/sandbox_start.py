"""Start-up time of the GitHub stand-in, against a bare ``ThreadingHTTPServer``.

Every test that uses GitHub starts a stand-in, so its start-up is paid hundreds of times
per suite run. Measured, median of N starts each (fresh object, loopback port 0):

- ``import``: a fresh interpreter importing ``launcher.sandbox.github`` vs ``http.server``;
- ``start``: construct + start + first answered request (``GET /rate_limit`` vs ``GET /``),
  then stop (not timed), in this process;
- ``start + seed``: the same plus one user, one org and a repository (a real
  ``git init`` and first commit): what a typical test fixture does.

    .venv/bin/python bench/sandbox_start.py            # --starts 10
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from launcher.sandbox.github import GitHubSandbox  # noqa: E402


class _Ok(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        body = b"{}"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


def _get(url: str) -> None:
    with urllib.request.urlopen(url, timeout=10) as resp:
        resp.read()


def bare_start() -> float:
    t = time.perf_counter()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    _get(f"http://127.0.0.1:{server.server_address[1]}/")
    elapsed = time.perf_counter() - t
    server.shutdown()
    server.server_close()
    thread.join()
    return elapsed


def sandbox_start(seed: bool) -> float:
    t = time.perf_counter()
    sb = GitHubSandbox().start()
    if seed:
        sb.add_user("alice")
        sb.add_org("acme", members=["alice"])
        sb.create_repo("acme", "infra", {"README.md": "hi\n"}, collaborators={"alice": "write"})
    _get(f"{sb.url}/rate_limit")
    elapsed = time.perf_counter() - t
    sb.stop()
    return elapsed


def import_time(module: str) -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", f"import {module}"], check=True, cwd=ROOT)
    return time.perf_counter() - t


def median(fn, starts: int) -> float:  # type: ignore[no-untyped-def]
    fn()  # warm-up: first-touch of caches and the page cache
    return statistics.median(fn() for _ in range(starts))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--starts", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory():
        rows = [
            (
                "import",
                median(lambda: import_time("launcher.sandbox.github"), args.starts),
                median(lambda: import_time("http.server"), args.starts),
            ),
            (
                "start",
                median(lambda: sandbox_start(False), args.starts),
                median(bare_start, args.starts),
            ),
            (
                "start + seed",
                median(lambda: sandbox_start(True), args.starts),
                median(bare_start, args.starts),
            ),
        ]
    print(f"median of {args.starts} starts (ms)")
    print(f"{'what':>14} | {'stand-in':>9} | {'bare http.server':>16} | ratio")
    for name, ours, ref in rows:
        print(f"{name:>14} | {ours * 1000:9.1f} | {ref * 1000:16.1f} | {ours / ref:6.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
