"""A round-robin HTTP load balancer in its own process, for bench/serve.py.

tests/serve/conftest.py's `Balancer` runs in the test's process; in the benchmark that
process is also the GitHub stand-in, so forwarding 600 deliveries there would take the
stand-in's interpreter lock from it: a real load balancer (nginx, an ALB) runs elsewhere.
Connections to the replicas are kept alive, one per thread and replica.

    python bench/balancer.py PORT_FILE URL [URL ...]

writes the port it listens on to PORT_FILE once it accepts connections.
"""

from __future__ import annotations

import http.client
import itertools
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


def main() -> None:
    port_file, urls = Path(sys.argv[1]), sys.argv[2:]
    targets = [urlsplit(u) for u in urls]
    turn = itertools.count()
    lock = threading.Lock()
    local = threading.local()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 - stdlib name
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with lock:
                index = next(turn) % len(targets)
            conns = local.__dict__.setdefault("conns", {})
            headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
            for attempt in range(2):  # a kept-alive connection the replica closed: reopen
                conn = conns.get(index)
                if conn is None:
                    target = targets[index]
                    conn = conns[index] = http.client.HTTPConnection(
                        target.hostname, target.port, timeout=10
                    )
                try:
                    conn.request("POST", self.path, body, headers)
                    response = conn.getresponse()
                    data = response.read()
                    break
                except (OSError, http.client.HTTPException):
                    conn.close()
                    conns.pop(index, None)
                    if attempt:
                        self.send_response(502)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
            self.send_response(response.status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    ThreadingHTTPServer.request_queue_size = 1024  # many deliveries connect at once
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port_file.write_text(str(server.server_address[1]))
    server.serve_forever()


if __name__ == "__main__":
    main()
