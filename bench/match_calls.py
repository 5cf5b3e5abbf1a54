"""How many EC2 calls does matching cost? Depends on locations and catalogue pages, not requests.

Starts a moto server on loopback, seeds AMIs and launcher-tagged instances, then matches 10,
100 and 1,000 requests against a pool of 5 providers over 3 regions with a fresh adapter each
time, counting API calls with botocore's `before-call` events (EC2.calls). A second table
varies the number of regions for 1,000 requests.

    python bench/match_calls.py
"""

from __future__ import annotations

import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from launcher.core.matching import match_all  # noqa: E402
from launcher.core.model import (  # noqa: E402
    Hardware,
    InstanceGroup,
    LaunchRequest,
    Policy,
    Pool,
    Provider,
    Quota,
)
from launcher.sandbox.moto import (  # noqa: E402
    create_image,
    default_image,
    launch_tagged,
    patched_env,
    start_server,
)

REGIONS = ("us-east-1", "eu-west-1", "us-west-2")
PROVIDERS = (
    Provider("use1-general", "us-east-1", 1, ("t3.*", "m6i.*")),
    Provider("use1-arm", "us-east-1", 2, ("m7g.*", "c7g.*")),
    Provider("euw1", "eu-west-1", 3, ("t3.*", "m6i.*", "m7g.*")),
    Provider("usw2", "us-west-2", 4, ("t3.*", "r6i.*")),
    Provider("usw2-big", "us-west-2", 5, ("m6i.*", "c6i.*", "r6i.*")),
)
HARDWARE = (
    Hardware(2, 4),
    Hardware(4, 16),
    Hardware(8, 32),
    Hardware(2, 8, "arm64"),
    Hardware(16, 128),
    Hardware(96, 768),  # fits nowhere allowed: every provider gets tried
)


def seed() -> dict[str, dict[str, str]]:
    """Per-region AMIs: rhel9 everywhere, legacy only in us-west-2, arm built-in."""
    from launcher.adapters.ec2 import EC2

    ec2 = EC2()
    images: dict[str, dict[str, str]] = {"rhel9": {}, "legacy": {}, "arm": {}}
    for region in REGIONS:
        client = ec2.client(region)
        images["rhel9"][region] = create_image(client, f"rhel9-{region}")
        images["arm"][region] = default_image(client, "arm64")
        launch_tagged(client, "bench", "older", image_id=images["rhel9"][region], count=2)
    images["legacy"]["us-west-2"] = create_image(ec2.client("us-west-2"), "legacy")
    return images


def requests(count: int) -> list[LaunchRequest]:
    made = []
    for i in range(count):
        hardware = HARDWARE[i % len(HARDWARE)]
        image = "arm" if hardware.architecture == "arm64" else ("legacy", "rhel9")[i % 7 != 0]
        realm = "us-east-1b" if i % 5 == 0 else None
        group = InstanceGroup("app", image, 1 + i % 3, hardware, realm=realm)
        made.append(LaunchRequest(f"r{i}", "bench", f"deployments/bench/r{i}.yaml", (group,)))
    return made


def run(policy: Policy, count: int) -> tuple[dict[str, int], int, float]:
    from launcher.adapters.ec2 import EC2

    ec2 = EC2()
    pools = list(policy.pools.values())
    catalogues = ec2.catalogues(pools)
    usage = ec2.usage(pools)
    batch = requests(count)
    start = time.perf_counter()
    results = match_all(batch, policy, catalogues, usage, reserve=False)
    elapsed = time.perf_counter() - start
    matched = sum(1 for r in results if r.chosen)
    return dict(ec2.calls), matched, elapsed


OPS = (
    "DescribeAvailabilityZones",
    "DescribeInstanceTypes",
    "DescribeInstanceTypeOfferings",
    "DescribeImages",
    "DescribeInstances",
)


def table(rows: list[tuple[str, dict[str, int], int, int, float]]) -> None:
    head = ["requests", "regions", *OPS, "total EC2", "matched", "matching s"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for label, calls, regions, matched, seconds in rows:
        counts = [calls.get(f"ec2.{op}", 0) for op in OPS]
        total = sum(n for name, n in calls.items() if name.startswith("ec2."))
        cells = [label, str(regions), *map(str, counts), str(total), str(matched)]
        print("| " + " | ".join(cells) + f" | {seconds:.3f} |")


def main() -> None:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    import os

    print(f"machine: nproc={os.cpu_count()}, cpu={cpu}, python {platform.python_version()}")
    server = start_server()
    try:
        with patched_env(server.env()):
            images = seed()
            pool = Pool(
                "bench",
                quota=Quota(instances=10_000, vcpus=100_000),
                providers=PROVIDERS,
                images=images,
            )
            policy = Policy(pools={"bench": pool})
            print(f"\n5 providers over {len(REGIONS)} regions, fresh adapter per run:\n")
            rows = []
            for count in (10, 100, 1000):
                calls, matched, seconds = run(policy, count)
                rows.append((str(count), calls, len(REGIONS), matched, seconds))
            table(rows)
            print("\n1,000 requests, providers limited to the first N regions:\n")
            rows = []
            for n in (1, 2, 3):
                providers = tuple(p for p in PROVIDERS if p.region in REGIONS[:n])
                limited = Policy(
                    pools={
                        "bench": Pool("bench", quota=pool.quota, providers=providers, images=images)
                    }
                )
                calls, matched, seconds = run(limited, 1000)
                rows.append(("1000", calls, n, matched, seconds))
            table(rows)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
