"""Count the GitHub and EC2 requests of a `launcher sweep` run when nothing is due.

A repository with R requests running on main (each recorded as a launch deployment, with 4
tagged instances spread over 3 regions) and P open pull requests waiting for approval (none
late, none stale). Goal: GitHub requests grow with pages of open pull requests (and of
deployments), one list call per 100, not per pull request; EC2 requests are one
DescribeInstances per region (plus pages), whatever the number of deployments.

    python bench/sweep_calls.py [--pulls 100 500] [--running 125 500]

Starts the GitHub stand-in and a moto server on loopback, stops both at the end.
"""

from __future__ import annotations

import argparse
import io
import time
from datetime import UTC, datetime, timedelta

from launcher.adapters.ec2 import EC2
from launcher.adapters.github import GitHub, Settings
from launcher.core.quota import DEPLOYMENT_TAG, POOL_TAG
from launcher.core.times import utc_iso
from launcher.jobs.launch import TASK, git_blob_sha
from launcher.jobs.sweep import SweepOptions, run_sweep
from launcher.sandbox.github import GitHubSandbox
from launcher.sandbox.moto import BUILTIN_AMIS, moto_server, patched_env

REGIONS = ("us-east-1", "eu-west-1", "us-west-2")
AMI = BUILTIN_AMIS["x86_64"]
POOLS = f"""\
version: 1
admins: [admin]
pools:
  dev:
    permissions: {{create_with_approval: [requester], modify: [approver]}}
    request_ttl: 14d
    providers:
{chr(10).join(f"      - {{name: p-{r}, region: {r}, instance_types: ['t3.*']}}" for r in REGIONS)}
    images: {{rhel9: {{{", ".join(f"{r}: {AMI}" for r in REGIONS)}}}}}
    hardware_profiles: {{small: {{vcpus: 2, memory_gib: 4}}}}
"""


def request(name: str) -> str:
    return (
        f"name: {name}\npool: dev\ninstances:\n  - name: a\n    image: rhel9\n"
        "    hardware_profile: small\n    count: 4\nmax_runtime: 30d\n"
    )


def scenario(n_pulls: int, n_running: int) -> dict[str, float]:
    with moto_server() as moto, patched_env(moto.env()):
        moto.reset()  # moto keeps its state per process: start each scenario empty
        with GitHubSandbox() as sb:
            return _measure(sb, n_pulls, n_running)


def _measure(sb: GitHubSandbox, n_pulls: int, n_running: int) -> dict[str, float]:
    import boto3

    now = datetime.now(UTC).replace(microsecond=0)
    tokens = {u: sb.add_user(u) for u in ("requester", "approver", "admin")}
    bot = sb.add_user("launcher-bot", bot=True)
    sb.add_org("acme", members=list(tokens))
    sb.create_repo("acme", "infra", {"pools.yaml": POOLS}, collaborators=list(tokens))
    files = {f"deployments/dev/run-{i:04d}.yaml": request(f"run-{i:04d}") for i in range(n_running)}
    main = sb.push_files("acme/infra", "main", files, "running requests", "admin")
    gh_bot = sb.client(bot).get_repo("acme/infra")
    clients = {r: boto3.client("ec2", region_name=r) for r in REGIONS}
    expires = utc_iso(now + timedelta(days=30))
    for i, (path, text) in enumerate(sorted(files.items())):
        key = f"dev/{path.rsplit('/', 1)[1][:-5]}"
        region = REGIONS[i % len(REGIONS)]
        payload = {
            "launcher": 1,
            "kind": "launch",
            "request": {"key": key, "path": path},
            "blob": git_blob_sha(text.encode()),
            "pr": None,
            "placement": {"region": region},
            "expires_at": expires,
        }
        deployment = gh_bot.create_deployment(
            ref=main,
            task=TASK,
            environment=key,
            payload=payload,
            required_contexts=[],
            auto_merge=False,
            transient_environment=True,
            production_environment=False,
        )
        deployment.create_status("success", description="running", auto_inactive=False)
        tags = {
            POOL_TAG: "dev",
            DEPLOYMENT_TAG: key,
            "launcher:commit": main,
            "launcher:expires-at": expires,
        }
        clients[region].run_instances(
            ImageId=AMI,
            InstanceType="t3.micro",
            MinCount=4,
            MaxCount=4,
            TagSpecifications=[
                {
                    "ResourceType": "instance",
                    "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
                }
            ],
        )
    requester = sb.client(tokens["requester"]).get_repo("acme/infra")
    for i in range(n_pulls):
        branch = f"req/{i}"
        sb.push_files(
            "acme/infra",
            branch,
            {f"deployments/dev/new-{i:04d}.yaml": request(f"new-{i:04d}")},
            "request",
            "requester",
            base="main",
        )
        pull = requester.create_pull(title=f"request {i}", body="why", head=branch, base="main")
        gh_bot.get_issue(pull.number).add_to_labels("launch:pending-approval")
    sb.reset_requests()
    ec2 = EC2()
    settings = Settings("acme/infra", bot, sb.url, "launcher-bot", throttle=False)
    start = time.perf_counter()
    report = run_sweep(GitHub(settings), SweepOptions(now=now), io.StringIO(), ec2)
    seconds = time.perf_counter() - start
    counts = sb.request_counts()
    assert not report.errors, report.errors
    assert not report.budget.done and not report.reconciled, (report.budget.done, report.reconciled)
    return {
        "github": sum(counts.values()),
        "github pulls list": counts.get("GET /repos/{owner}/{repo}/pulls", 0),
        "github deployments list": counts.get("GET /repos/{owner}/{repo}/deployments", 0),
        "github status reads": sum(n for k, n in counts.items() if k.endswith("/statuses")),
        "ec2": ec2.ec2_calls,
        "ec2 DescribeInstances": ec2.calls.get("ec2.DescribeInstances", 0),
        "instances": n_running * 4,
        "seconds": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pulls", type=int, nargs="+", default=[100, 500])
    parser.add_argument("--running", type=int, nargs="+", default=[125, 500])
    args = parser.parse_args()
    print(
        "open PRs | deployments | instances | GitHub (PR lists, deployment lists, "
        "status reads) | EC2 (DescribeInstances) | s"
    )
    for n_pulls in args.pulls:
        for n_running in args.running:
            f = scenario(n_pulls, n_running)
            lists = f"{f['github pulls list']:.0f}, {f['github deployments list']:.0f}"
            ec2 = f"{f['ec2']:3.0f} ({f['ec2 DescribeInstances']:.0f})"
            print(
                f"{n_pulls:8d} | {n_running:11d} | {f['instances']:9.0f} | "
                f"{f['github']:6.0f} ({lists}, {f['github status reads']:.0f}) | {ec2} | "
                f"{f['seconds']:.2f}"
            )


if __name__ == "__main__":
    main()
