"""What does the instance-match preview cost a verdict, in the Actions gate and in `launcher serve`?

The Actions gate previews once per run, reading afresh: the credential chain, then each
account and region's catalogue and usage. `launcher serve` decides many pull requests in one
process and keeps those (launcher.serve.match). Against a moto server on loopback, for one
pull request with two requests on a pool of 3 providers over 2 regions:

- the Actions gate's preview (launcher.jobs.match_preview, nothing installed), per verdict;
- the service's preview when its caches are warm, per verdict;
- the service's first preview (cold), and 200 previews asked at once by 8 threads, cold:
  how many EC2 calls they cost together (one read serves them all);
- without credentials (instance metadata probe enabled, as off EC2): the credential chain per
  verdict, against the service's cached answer.

    python bench/serve_match.py
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from launcher.adapters.ec2 import EC2  # noqa: E402
from launcher.core.documents import load_policy, load_request  # noqa: E402
from launcher.core.model import LaunchRequest, Policy  # noqa: E402
from launcher.jobs import match_preview  # noqa: E402
from launcher.sandbox.moto import default_image, patched_env, start_server  # noqa: E402
from launcher.serve.match import ServeMatcher  # noqa: E402

POOLS = """\
version: 1
admins: [pat]
pools:
  dev:
    permissions: {{create: [alice]}}
    quota: {{instances: 50}}
    images: {{rhel9: {{us-east-1: {ami}, eu-west-1: {ami_eu}}}}}
    hardware_profiles: {{small: {{vcpus: 2, memory_gib: 4}}}}
    providers:
      - {{name: use1, region: us-east-1, instance_types: ['t3.*', 'm6i.*']}}
      - {{name: use1-big, region: us-east-1, instance_types: ['c6i.*']}}
      - {{name: euw1, region: eu-west-1, instance_types: ['t3.*']}}
"""
REQUEST = """\
name: {name}
pool: dev
description: bench
instances:
  - name: a
    image: rhel9
    {hardware}
    count: 1
"""


def requests_and_policy(ami: str, ami_eu: str) -> tuple[list[LaunchRequest], Policy]:
    policy, problems = load_policy(POOLS.format(ami=ami, ami_eu=ami_eu).encode())
    assert policy is not None, problems
    out = []
    for name, hardware in (
        ("web", "hardware_profile: small"),
        ("huge", "hardware: {vcpus: 512, memory_gib: 4096}"),
    ):
        raw = REQUEST.format(name=name, hardware=hardware).encode()
        request, problems = load_request(raw, f"deployments/dev/{name}.yaml", policy)
        assert request is not None, problems
        out.append(request)
    return out, policy


def timed(call: object, runs: int) -> list[float]:
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        call()  # type: ignore[operator]
        seconds.append(time.perf_counter() - started)
    return seconds


def ms(values: list[float]) -> str:
    median = statistics.median(values)
    return f"{median * 1000:.1f} ms" if median >= 0.001 else f"{median * 1e6:.0f} µs"


def main() -> None:
    import boto3

    server = start_server("127.0.0.1", 0)
    rows: list[tuple[str, str, str]] = []
    try:
        with patched_env(server.env("us-east-1")):
            ami = default_image(boto3.client("ec2", region_name="us-east-1"), "x86_64")
            ami_eu = default_image(boto3.client("ec2", region_name="eu-west-1"), "x86_64")
            requests, policy = requests_and_policy(ami, ami_eu)

            actions = timed(lambda: match_preview.preview_matches(requests, policy), 20)
            fresh = EC2(max_attempts=2, connect_timeout=3, read_timeout=20)
            match_preview.match_live(requests, policy, ec2=fresh)
            rows.append(
                ("Actions gate, per verdict (reads afresh)", ms(actions), str(fresh.ec2_calls))
            )

            matcher = ServeMatcher(budget_seconds=60)
            cold = timed(lambda: matcher(requests, policy), 1)
            cold_calls = sum(matcher.calls.values())
            rows.append(("service, first verdict (cold)", ms(cold), str(cold_calls)))
            warm = timed(lambda: matcher(requests, policy), 200)
            rows.append(
                (
                    "service, per verdict (warm)",
                    ms(warm),
                    str(sum(matcher.calls.values()) - cold_calls),
                )
            )
            matcher.close()

            burst = ServeMatcher(budget_seconds=60)
            started = time.perf_counter()
            with ThreadPoolExecutor(8) as pool:
                answers = list(pool.map(lambda _: burst(requests, policy), range(200)))
            took = time.perf_counter() - started
            assert all(isinstance(a, dict) for a in answers)
            rows.append(
                (
                    "service, 200 verdicts at once, cold (all of them)",
                    f"{took * 1000:.0f} ms",
                    str(sum(burst.calls.values())),
                )
            )
            burst.close()
            assert answers[0] == match_preview.preview_matches(requests, policy)

        no_aws = {
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        removed = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                   "AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_EC2_METADATA_DISABLED")  # fmt: skip
        with patched_env(no_aws, remove=removed):
            probe = timed(lambda: match_preview.preview_matches(requests, policy), 3)
            rows.append(("no credentials: Actions gate, per verdict", ms(probe), "0"))
            matcher = ServeMatcher(budget_seconds=60)
            matcher.warm()
            matcher.drain()
            cached = timed(lambda: matcher(requests, policy), 200)
            rows.append(("no credentials: service, per verdict (cached)", ms(cached), "0"))
            matcher.close()
    finally:
        server.stop()

    print(f"python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs")
    print("| preview | time (median) | EC2 calls |")
    print("| --- | --- | --- |")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
