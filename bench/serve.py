"""`launcher serve` under a burst: N pull requests receiving events at once, on 2 replicas.

N open pull requests (each one request file by bob, who needs an approval) get an approving
review each from several threads at once; the stand-in delivers each `pull_request_review`
(and the events the decisions cause) signed, through a round-robin balancer (HAProxy when
installed, else bench/balancer.py), to two `launcher serve` processes started with
environment variables only; with --burst-latency every GitHub request takes that much longer
(GitHub's round trip from a service outside it). Measured: from the delivery being sent (and
from the review being recorded) to launcher's check run on the head carrying `success`,
median and 99th percentile; the CPU each process spent, in all and until the last verdict;
GitHub requests the replicas made per verdict
(the stand-in's log: the app's JWT and installation-token requests); peak memory (VmHWM) of
each replica. Beside it, the Actions mode on the local runner for a smaller sample: the same
review run through review.yml and its workflow_run hand-over to gate.yml, one at a time (the
local runner starts jobs at once: GitHub's runner queueing and start-up are not in it).

    python bench/serve.py [--prs 200] [--actions-sample 5] [--latency 0.1] [--burst-latency 0]
                          [--workers N] [--github-concurrency N]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from launcher.sandbox.github import GitHubSandbox  # noqa: E402
from launcher.sandbox.serve_process import free_port  # noqa: E402
from launcher.serve.config import ServeConfig  # noqa: E402
from tests.jobs.conftest import World, app_runner, request  # noqa: E402
from tests.serve.conftest import (  # noqa: E402
    EVENTS,
    SECRET,
    Served,
    seed_world,
    start_replica,
)


class Clock:
    """Times, from the stand-in's events: review recorded, success check on the head."""

    def __init__(self, heads: dict[str, int], last: Any = None, expect: int = 0) -> None:
        self.heads = heads  # head sha -> pull request number
        self.reviewed: dict[int, float] = {}
        self.verdict: dict[int, float] = {}
        self.lock = threading.Lock()
        self.last = last  # called once `expect` heads have their verdict
        self.expect = expect

    def __call__(self, event: Any) -> None:
        at = time.perf_counter()
        p = event.payload
        with self.lock:
            if event.event == "pull_request_review" and event.action == "submitted":
                self.reviewed.setdefault(p["pull_request"]["number"], at)
            elif event.event == "check_run" and p["check_run"]["name"] == "launcher/approval":
                number = self.heads.get(p["check_run"]["head_sha"])
                if number is not None and p["check_run"].get("external_id") == "success":
                    self.verdict.setdefault(number, at)
                    if self.last is not None and len(self.verdict) == self.expect:
                        self.last()

    def latencies(self) -> list[float]:
        return sorted(
            self.verdict[n] - self.reviewed[n] for n in self.verdict if n in self.reviewed
        )


def percentile(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, max(0, round(q * (len(values) - 1))))]


def open_prs(w: World, n: int) -> dict[str, int]:
    heads = {}
    for i in range(n):
        number = w.open_pr("bob", {f"deployments/dev/r{i}.yaml": request(f"r{i}")})
        heads[w.sb.branch_sha("acme/infra", w.branches[number])] = number
    return heads


class Reviewer:
    """Approving reviews submitted as one POST each over a kept-alive connection per thread
    (what a person's browser does): the burst's events come from GitHub, not from a client
    library's extra reads."""

    def __init__(self, w: World, login: str) -> None:
        self.url = urlsplit(w.sb.url)
        self.token = w.tokens[login]
        self.repo = w.repo_name
        self.local = threading.local()

    def __call__(self, number: int) -> None:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = http.client.HTTPConnection(
                self.url.hostname, self.url.port, timeout=30
            )
        body = json.dumps({"event": "APPROVE", "body": ""})
        conn.request(
            "POST",
            f"{self.url.path}/repos/{self.repo}/pulls/{number}/reviews",
            body,
            {"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"review of #{number}: {response.status}")


@dataclass
class ProcessBalancer:
    url: str
    process: subprocess.Popen[bytes]
    name: str

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


HAPROXY = """global
    maxconn 4096
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend deliveries
    bind 127.0.0.1:{port}
    default_backend replicas
backend replicas
    balance roundrobin
    http-reuse always
{servers}
"""


def start_haproxy(replicas: list[Any], tmp: Path) -> ProcessBalancer | None:
    """HAProxy (Debian's haproxy; `./dev bench` installs it), round robin per delivery, with
    kept-alive connections to the replicas: a load balancer costing next to no CPU, as one
    running elsewhere (an ALB, nginx on its own machine) costs the replicas' machine none."""
    binary = shutil.which("haproxy")
    if binary is None:
        return None
    port = free_port()
    servers = "\n".join(
        f"    server r{i} {urlsplit(r.url).hostname}:{urlsplit(r.url).port}"
        for i, r in enumerate(replicas)
    )
    config = tmp / "haproxy.cfg"
    config.write_text(HAPROXY.format(port=port, servers=servers))
    process = subprocess.Popen([binary, "-db", "-f", str(config)], stdout=subprocess.DEVNULL)
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return ProcessBalancer(f"http://127.0.0.1:{port}", process, "haproxy")
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("haproxy did not start")


def start_balancer(replicas: list[Any], tmp: Path) -> ProcessBalancer:
    """HAProxy when installed, else bench/balancer.py, each in its own process (not in the
    stand-in's interpreter)."""
    found = start_haproxy(replicas, tmp)
    if found is not None:
        return found
    port_file = tmp / "balancer.port"
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "balancer.py"), str(port_file)]
        + [r.url for r in replicas]
    )
    for _ in range(300):
        if port_file.exists() and port_file.read_text():
            return ProcessBalancer(
                f"http://127.0.0.1:{port_file.read_text()}", process, "bench/balancer.py"
            )
        time.sleep(0.05)
    process.kill()
    raise RuntimeError("the balancer did not start")


def rss_peak_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def calibrate() -> float:
    """Milliseconds of CPU a fixed piece of pure Python takes here, now: this machine's vCPUs
    are shared, and the same burst costs up to half as much CPU again when the host is busy,
    so each run says how fast its CPU was."""
    started = time.process_time()
    total = 0
    for i in range(2_000_000):
        total += i % 7
    return (time.process_time() - started) * 1000


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (/proc/<pid>/stat, clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_serve(
    prs: int, workers: int, tmp: Path, concurrency: int = 0, latency: float = 0.0
) -> dict[str, Any]:
    tmp.mkdir(parents=True, exist_ok=True)
    with GitHubSandbox() as sb:
        w = seed_world(sb, tmp)
        heads = open_prs(w, prs)
        alone = open_prs(w, 5)  # reviewed one at a time afterwards: the unloaded reference
        # the service's default unless asked (start_replica's own default is the tests' 4)
        env = {"LAUNCHER_SERVE_WORKERS": str(workers or ServeConfig.workers)}
        if concurrency:
            env["LAUNCHER_SERVE_GITHUB_CONCURRENCY"] = str(concurrency)
        replicas = [start_replica(w, w.app, tmp, **env) for _ in range(2)]
        balancer = start_balancer(replicas, tmp)
        served = Served(w, replicas)
        try:
            sb.set_app_webhook(w.app, balancer.url + "/webhook", SECRET, events=EVENTS)
            speed = calibrate()
            pids = [os.getpid(), *(r.process.pid for r in replicas), balancer.process.pid]
            at_last: list[float] = []  # CPU when the burst's last verdict is written
            all_in = threading.Event()

            def last_verdict() -> None:
                at_last.extend(cpu_seconds(p) for p in pids)
                all_in.set()

            clock = Clock(heads | alone, last_verdict, len(heads))
            sb.gh.events.listeners.append(clock)
            sb.reset_requests()
            sb.set_latency(latency)  # GitHub's round trip, when asked for (0: loopback)
            cpu_before = [cpu_seconds(p) for p in pids]
            started = time.perf_counter()
            with ThreadPoolExecutor(8) as pool:
                list(pool.map(Reviewer(w, "dave"), heads.values()))
            # the replicas' /healthz is polled only once every verdict is in: polling it (and
            # walking the deliveries) during the burst took CPU from the stand-in and replicas
            all_in.wait(300)
            served.settle(rounds=6000)
            wall = time.perf_counter() - started
            sb.set_latency(0)
            cpu = [cpu_seconds(p) - b for p, b in zip(pids, cpu_before, strict=True)]
            first = [a - b for a, b in zip(at_last, cpu_before, strict=True)]
            log = sb.requests()
            deliveries = len(sb.webhooks.deliveries)
            failed = sum(1 for d in sb.webhooks.deliveries if not d.ok)
            # the installation token's requests, and the app's JWT ones (logged without a user)
            service_requests = sum(
                1 for r in log if r.method != "DELIVERY" and r.user in ("launcher[bot]", None)
            )
            burst = set(heads.values())
            latencies = sorted(
                clock.verdict[n] - clock.reviewed[n] for n in clock.verdict if n in burst
            )
            # GitHub's side ends when it sends the delivery: from there to the verdict is the
            # service's (and the balancer's) time, the figure the issue asks for
            sent = {
                d.payload["pull_request"]["number"]: d.started
                for d in sb.webhooks.deliveries
                if d.event == "pull_request_review" and d.payload["pull_request"]["number"] in burst
            }
            from_delivery = sorted(clock.verdict[n] - sent[n] for n in clock.verdict if n in sent)
            # the burst's shape: when its reviews were delivered and its last verdict written,
            # from the first delivery (a p99 near the spread means the deliveries came late)
            first_sent = min(sent.values())
            spread = max(sent.values()) - first_sent
            last_verdict = max(clock.verdict[n] for n in burst if n in clock.verdict) - first_sent
            for number in alone.values():
                w.review("dave", number)
                served.settle()
            single = sorted(
                clock.verdict[n] - clock.reviewed[n] for n in alone.values() if n in clock.verdict
            )
            # the stand-in's request durations summed (handlers take one lock, so this counts
            # waiting for it too): how far the stand-in, not the service, sets the pace
            busy = sum(r.duration_ms for r in log if r.method != "DELIVERY") / 1000
            return {
                "busy": busy,
                "single": statistics.median(single),
                "prs": prs,
                "verdicts": len(latencies),
                "delivery_median": statistics.median(from_delivery),
                "delivery_p99": percentile(from_delivery, 0.99),
                "spread": spread,
                "last_verdict": last_verdict,
                "median": statistics.median(latencies),
                "p99": percentile(latencies, 0.99),
                "max": latencies[-1],
                "wall": wall,
                "requests_per_verdict": service_requests / max(1, len(latencies)),
                "deliveries": deliveries,
                "failed": failed,
                "cpu": cpu,
                "cpu_first": first,
                "calibration_ms": speed,
                "balancer": balancer.name,
                "rss_mib": [rss_peak_mib(r.process.pid) for r in replicas],
            }
        finally:
            balancer.stop()
            served.stop()


def bench_round_trips(latency: float, sample: int, tmp: Path) -> dict[int, float]:
    """One review at a time with every GitHub request taking `latency` more (the round trip
    from a service outside GitHub): delivery-to-verdict median, reads made together (the
    default) and one after another (LAUNCHER_SERVE_GITHUB_CONCURRENCY=1), same run."""
    tmp.mkdir(parents=True, exist_ok=True)
    medians: dict[int, float] = {}
    with GitHubSandbox() as sb:
        w = seed_world(sb, tmp)
        for concurrency in (16, 1):
            heads = open_prs(w, sample)
            replica = start_replica(
                w, w.app, tmp, LAUNCHER_SERVE_GITHUB_CONCURRENCY=str(concurrency)
            )
            served = Served(w, [replica])
            try:
                sb.set_app_webhook(w.app, replica.url + "/webhook", SECRET, events=EVENTS)
                served.settle()  # nothing to decide yet: the reviews come next
                clock = Clock(heads)
                sb.gh.events.listeners.append(clock)
                sb.set_latency(latency)
                for number in heads.values():
                    first = len(sb.webhooks.deliveries)
                    Reviewer(w, "dave")(number)
                    served.settle()
                    sent = next(
                        d.started
                        for d in sb.webhooks.deliveries[first:]
                        if d.event == "pull_request_review"
                    )
                    clock.reviewed[number] = sent  # measured from the delivery here
                sb.set_latency(0)
                sb.gh.events.listeners.remove(clock)
                medians[concurrency] = statistics.median(clock.latencies())
            finally:
                served.stop()
    return medians


def bench_actions(sample: int, tmp: Path) -> dict[str, Any]:
    tmp.mkdir(parents=True, exist_ok=True)
    with GitHubSandbox() as sb:
        w = seed_world(sb, tmp)
        runner = app_runner(w)  # launcher's code and workflows on main, as adopted
        files = {
            f".github/workflows/{p.name}": p.read_bytes()
            for p in sorted((ROOT / ".github" / "workflows").glob("*.yml"))
        }
        sb.push_files("acme/infra", "main", files, "workflows", "pat")
        heads = open_prs(w, sample)
        clock = Clock(heads)
        sb.gh.events.listeners.append(clock)
        seen = sb.last_event_id()
        for number in heads.values():
            w.review("dave", number)
            while True:  # run what each new event triggers, as GitHub Actions would
                events = sb.events(since=seen)
                if not events:
                    break
                for event in events:
                    seen = max(seen, event.id)
                    if (event.payload.get("sender") or {}).get("login") == "github-actions[bot]":
                        continue
                    runner.run_webhook(event.event, event.payload)
        latencies = clock.latencies()
        return {
            "prs": sample,
            "verdicts": len(latencies),
            "median": statistics.median(latencies) if latencies else float("nan"),
            "p99": percentile(latencies, 0.99) if latencies else float("nan"),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prs", type=int, default=200)
    parser.add_argument("--actions-sample", type=int, default=5)
    parser.add_argument(
        "--workers", type=int, default=0, help="LAUNCHER_SERVE_WORKERS (0: the default)"
    )
    parser.add_argument(
        "--github-concurrency",
        type=int,
        default=0,
        help="LAUNCHER_SERVE_GITHUB_CONCURRENCY of the burst's replicas (0: the default)",
    )
    parser.add_argument(
        "--latency", type=float, default=0.1, help="seconds added to each GitHub request"
    )
    parser.add_argument(
        "--burst-latency",
        type=float,
        default=0.0,
        help="seconds added to each GitHub request during the burst too (default: loopback)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        s = bench_serve(
            args.prs,
            args.workers,
            Path(tmp) / "serve",
            args.github_concurrency,
            args.burst_latency,
        )
        print(
            f"launcher serve, 2 replicas x {args.workers or ServeConfig.workers} workers: "
            f"{s['verdicts']}/{s['prs']} "
            f"verdicts; delivery to verdict median {s['delivery_median']:.2f} s, "
            f"p99 {s['delivery_p99']:.2f} s; review to verdict median {s['median']:.2f} s, "
            f"p99 {s['p99']:.2f} s, "
            f"max {s['max']:.2f} s; reviews delivered over {s['spread']:.2f} s, last verdict "
            f"{s['last_verdict']:.2f} s after the first delivery; "
            f"all settled in {s['wall']:.1f} s; "
            f"{s['requests_per_verdict']:.1f} GitHub requests per verdict; "
            f"{s['deliveries']} deliveries ({s['failed']} failed); "
            "one review at a time (5, nothing else queued): "
            f"median {s['single']:.2f} s; stand-in request durations summed: {s['busy']:.0f} s; "
            "peak RSS per replica "
            + ", ".join(f"{m:.0f} MiB" for m in s["rss_mib"])
            + "; CPU during the burst: stand-in and reviewers "
            + f"{s['cpu'][0]:.1f} s, replicas "
            + ", ".join(f"{c:.1f} s" for c in s["cpu"][1:-1])
            + f", balancer ({s['balancer']}) {s['cpu'][-1]:.1f} s"
            + "; of which until the last verdict: "
            + ", ".join(f"{c:.1f} s" for c in s["cpu_first"])
            + f"; calibration loop {s['calibration_ms']:.0f} ms of CPU"
        )
        if args.latency:
            r = bench_round_trips(args.latency, 5, Path(tmp) / "latency")
            print(
                f"one review at a time (5), every GitHub request {args.latency * 1000:.0f} ms "
                f"longer: delivery to verdict median {r[16]:.2f} s with reads made together, "
                f"{r[1]:.2f} s one after another ({r[1] / r[16]:.2f}x)"
            )
        if args.actions_sample:
            a = bench_actions(args.actions_sample, Path(tmp) / "actions")
            print(
                f"Actions mode (local runner, review.yml -> workflow_run -> gate.yml, one at a "
                f"time): {a['verdicts']}/{a['prs']} verdicts; review to verdict median "
                f"{a['median']:.2f} s, p99 {a['p99']:.2f} s"
            )


if __name__ == "__main__":
    main()
