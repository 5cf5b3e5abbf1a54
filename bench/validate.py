"""Benchmark `launcher validate` against check-jsonschema and a bare PyYAML parse.

Generates 10,000 valid requests across 50 pools in a temporary checkout, then times, on the
same files and in the same invocation:
  1. `launcher validate --author <login>`  (full: YAML safety, schema, semantics, permissions)
  2. `check-jsonschema --schemafile launcher/schemas/deployment.schema.json FILES...`
     (schema only: what a user would otherwise reach for)
  3. a bare PyYAML CSafeLoader parse of every file (the floor for any PyYAML-based tool)
Each is a fresh process, so interpreter start-up and imports count for all three alike.

    python bench/validate.py [--requests 10000] [--pools 50] [--repeat 3]
"""

from __future__ import annotations

import argparse
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCHEMA = REPO / "launcher" / "schemas" / "deployment.schema.json"

BARE_PARSE = """
import sys, yaml
from pathlib import Path
loader = yaml.CSafeLoader
for path in sorted(Path("deployments").rglob("*.yaml")):
    with open(path, "rb") as handle:
        yaml.load(handle.read(), Loader=loader)
"""


def generate(root: Path, n_requests: int, n_pools: int) -> None:
    pools = [
        "version: 1",
        'admins: ["@acme/platform"]',
        "groups:",
        "  owners: [dave, erin]",
        "pools:",
    ]
    for p in range(n_pools):
        pools += [
            f"  pool-{p:02d}:",
            f"    description: Pool number {p}",
            "    permissions:",
            f"      create: [alice, user-{p}]",
            "      create_with_approval: [bob, carol]",
            '      modify: ["group:owners"]',
            "    quota: {instances: 200, vcpus: 800}",
            "    max_runtime: 7d",
            "    providers:",
            f"      - {{name: p{p}-use1, region: us-east-1, instance_types: ['t3.*', 'm6i.*']}}",
            "    images:",
            "      rhel9: {us-east-1: ami-0123456789abcdef0}",
            "      ubuntu: {us-east-1: ami-0fedcba9876543210}",
            "    hardware_profiles:",
            "      small: {vcpus: 2, memory_gib: 4, architecture: x86_64}",
            "      large: {vcpus: 8, memory_gib: 32, architecture: x86_64}",
        ]
    (root / "pools.yaml").write_text("\n".join(pools) + "\n")
    for i in range(n_requests):
        pool = f"pool-{i % n_pools:02d}"
        folder = root / "deployments" / pool
        folder.mkdir(parents=True, exist_ok=True)
        name = f"request-{i:05d}"
        extra = f"launch_at: 2026-12-{1 + i % 28:02d}T09:00:00Z\n" if i % 3 == 0 else ""
        (folder / f"{name}.yaml").write_text(
            f"# yaml-language-server: $schema=../../launcher/schemas/deployment.schema.json\n"
            f"name: {name}\n"
            f"pool: {pool}\n"
            f"description: Benchmark request number {i} for the load test\n"
            "instances:\n"
            "  - name: web\n"
            "    image: rhel9\n"
            "    hardware_profile: small\n"
            f"    count: {1 + i % 4}\n"
            "    realm: us-east-1a\n"
            "  - name: db\n"
            "    image: ubuntu\n"
            "    hardware: {vcpus: 4, memory_gib: 16, architecture: x86_64}\n"
            "    count: 1\n"
            f"{extra}"
            "max_runtime: 8h\n"
        )


def timed(command: list[str], cwd: Path, expect_ok: bool = True) -> float:
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if expect_ok and proc.returncode != 0:
        sys.exit(
            f"{command[0]} failed ({proc.returncode}):\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}"
        )
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--pools", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3, help="best of N runs for each tool")
    args = parser.parse_args()
    bindir = Path(sys.executable).parent
    launcher = [str(bindir / "launcher")]
    checker = shutil.which("check-jsonschema", path=str(bindir)) or shutil.which("check-jsonschema")
    if checker is None:
        sys.exit("check-jsonschema is not installed: pip install -e '.[bench]'")
    with tempfile.TemporaryDirectory(prefix="launcher-bench-") as tmp:
        root = Path(tmp)
        generate(root, args.requests, args.pools)
        files = sorted(str(p.relative_to(root)) for p in (root / "deployments").rglob("*.yaml"))
        runs = {
            # full validation; the EC2 instance match (issue 4) is off: it measures AWS, not us
            "launcher validate (full)": launcher + ["validate", "--author", "bob", "--no-match"],
            "launcher validate (full, 1 process)": launcher
            + ["validate", "--author", "bob", "--no-match", "--jobs", "1"],
            "check-jsonschema (schema only)": [checker, "--schemafile", str(SCHEMA), *files],
            "PyYAML CSafeLoader parse (floor)": [sys.executable, "-c", BARE_PARSE],
        }
        best = {
            name: min(timed(cmd, root) for _ in range(args.repeat)) for name, cmd in runs.items()
        }
    ours, single, cj, floor = best.values()
    python = platform.python_version()
    print(f"machine: {platform.machine()}, {_cpu()}, {_cores()} cores, Python {python}")
    print(
        f"{args.requests:,} requests in {args.pools} pools, best of {args.repeat} runs "
        "(wall time, fresh process)"
    )
    for name, seconds in best.items():
        print(f"  {name:34s} {seconds:7.2f} s")
    print(f"ratio launcher / check-jsonschema: {ours / cj:.3f}x (goal <= 0.2x)")
    print(f"ratio launcher / bare parse:       {ours / floor:.3f}x (goal <= 1.5x)")
    print(f"ratio launcher 1 process / bare parse: {single / floor:.3f}x (for reference)")


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _cores() -> int:
    import os

    return os.cpu_count() or 1


if __name__ == "__main__":
    main()
