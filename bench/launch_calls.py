"""Count the GitHub requests of a `launcher launch` run with nothing to do, and how many of
them read deployment statuses, against the previous rule (every deployment's status read).

A repository with R requests running on main, each with a history of 3 deployments (a
`schedule` superseded by a `launch`, a `launch` superseded by the current one, the current
`launch` with its instances on EC2), plus F requests whose newest deployment is a `failure`.
Both rules run on the same seeded state in the same invocation.

    python bench/launch_calls.py [--running 50 150] [--failed 20]

Starts the GitHub stand-in and a moto server on loopback, stops both at the end.
"""

from __future__ import annotations

import argparse
import io
from datetime import UTC, datetime, timedelta
from typing import Any

from launcher.adapters.ec2 import EC2
from launcher.adapters.github import GitHub, Settings
from launcher.core.documents import load_policy, load_request
from launcher.core.lifecycle import version_of
from launcher.core.quota import DEPLOYMENT_TAG, POOL_TAG
from launcher.core.times import utc_iso
from launcher.jobs import launch as launch_job
from launcher.jobs.launch import TASK, LaunchOptions, git_blob_sha, run_launch
from launcher.sandbox.github import GitHubSandbox
from launcher.sandbox.moto import BUILTIN_AMIS, moto_server, patched_env

AMI = BUILTIN_AMIS["x86_64"]
POOLS = f"""\
version: 1
admins: [admin]
pools:
  dev:
    permissions: {{create: [requester]}}
    providers: [{{name: p, region: us-east-1, instance_types: ['t3.*']}}]
    images: {{rhel9: {{us-east-1: {AMI}}}}}
    hardware_profiles: {{small: {{vcpus: 2, memory_gib: 4}}}}
"""


def request(name: str) -> str:
    return (
        f"name: {name}\npool: dev\ninstances:\n  - name: a\n    image: rhel9\n"
        "    hardware_profile: small\n    count: 1\nmax_runtime: 30d\n"
    )


def _read_every_status(self: Any, infos: list[Any]) -> list[Any]:
    """The previous rule, for reference: one status read per launcher deployment."""
    records = [
        self._record(info, *self._read_state(info))
        for info in infos
        if launch_job._is_launchers(info)
    ]
    return sorted(records, key=lambda r: r.deployment_id)


def scenario(n_running: int, n_failed: int) -> dict[str, dict[str, float]]:
    with moto_server() as moto, patched_env(moto.env()):
        moto.reset()  # moto keeps its state per process: start each scenario empty
        with GitHubSandbox() as sb:
            return _measure(sb, n_running, n_failed)


def _measure(sb: GitHubSandbox, n_running: int, n_failed: int) -> dict[str, dict[str, float]]:
    import boto3

    now = datetime.now(UTC).replace(microsecond=0)
    sb.add_user("admin")
    bot = sb.add_user("launcher-bot", bot=True)
    sb.add_org("acme", members=["admin"])
    sb.create_repo("acme", "infra", {"pools.yaml": POOLS}, collaborators=["admin"])
    names = [f"run-{i:04d}" for i in range(n_running)] + [f"bad-{i:04d}" for i in range(n_failed)]
    files = {f"deployments/dev/{n}.yaml": request(n) for n in names}
    earlier = sb.push_files("acme/infra", "main", {"README.md": "x\n"}, "earlier", "admin")
    main = sb.push_files("acme/infra", "main", files, "requests", "admin")
    policy = load_policy(POOLS.encode())[0]
    assert policy is not None
    repo = sb.client(bot).get_repo("acme/infra")
    client = boto3.client("ec2", region_name="us-east-1")
    expires = utc_iso(now + timedelta(days=30))

    def record(key: str, path: str, text: str, kind: str, ref: str = main, **extra: Any) -> Any:
        parsed = load_request(text.encode(), path, policy)[0]
        assert parsed is not None
        payload = {
            "launcher": 1,
            "kind": kind,
            "request": {"key": key, "path": path},
            "version": version_of(parsed).to_json(),
            "blob": git_blob_sha(text.encode()),
            "max_runtime": 30 * 86400,
            **extra,
        }
        return repo.create_deployment(
            ref=ref,
            task=TASK,
            environment=key,
            payload=payload,
            required_contexts=[],
            auto_merge=False,
            transient_environment=True,
            production_environment=False,
        )

    for path, text in sorted(files.items()):
        key = f"dev/{path.rsplit('/', 1)[1][:-5]}"
        if key.startswith("dev/bad-"):
            error = "no_match: no provider can place it"
            record(key, path, text, "failure", error=error).create_status(
                "failure", description=error, auto_inactive=False
            )
            continue
        record(key, path, text, "schedule", earlier).create_status(
            "inactive", description="launched as deployment 0", auto_inactive=False
        )
        record(
            key, path, text, "launch", earlier, instance_ids=["i-0gone"], launch_commit=earlier
        ).create_status("inactive", description="replaced by version x", auto_inactive=False)
        tags = {
            POOL_TAG: "dev",
            DEPLOYMENT_TAG: key,
            "launcher:commit": main,
            "launcher:group": "a",
            "launcher:expires-at": expires,
        }
        [instance] = client.run_instances(
            ImageId=AMI,
            InstanceType="t3.micro",
            MinCount=1,
            MaxCount=1,
            TagSpecifications=[
                {
                    "ResourceType": "instance",
                    "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
                }
            ],
        )["Instances"]
        record(
            key,
            path,
            text,
            "launch",
            instance_ids=[instance["InstanceId"]],
            launch_commit=main,
            expires_at=expires,
            placement={"region": "us-east-1"},
        ).create_status("success", description="running", auto_inactive=False)
    settings = Settings("acme/infra", bot, sb.url, "launcher-bot", throttle=False)
    result = {}
    for rule in ("every status (before)", "as needed (after)"):
        original = launch_job._Run._records
        if rule.startswith("every"):
            launch_job._Run._records = _read_every_status  # type: ignore[method-assign]
        try:
            sb.reset_requests()
            report = run_launch(GitHub(settings), EC2(), LaunchOptions(now=now), io.StringIO())
        finally:
            launch_job._Run._records = original  # type: ignore[method-assign]
        assert not report.errors and report.planned == [], (report.errors, report.planned)
        counts = sb.request_counts()
        result[rule] = {
            "github": sum(counts.values()),
            "status reads": sum(n for k, n in counts.items() if k.endswith("/statuses")),
            "deployments": len(report.records),
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--running", type=int, nargs="+", default=[50, 150])
    parser.add_argument("--failed", type=int, default=20)
    args = parser.parse_args()
    print("requests | deployments | rule | GitHub requests (status reads)")
    for n in args.running:
        f = scenario(n, args.failed)
        before, after = f["every status (before)"], f["as needed (after)"]
        for rule, row in f.items():
            print(
                f"{n + args.failed:8d} | {row['deployments']:11.0f} | {rule} | "
                f"{row['github']:.0f} ({row['status reads']:.0f})"
            )
        print(
            f"after / before: GitHub requests {after['github'] / before['github']:.3f}x, "
            f"status reads {after['status reads'] / max(1, before['status reads']):.3f}x"
        )


if __name__ == "__main__":
    main()
