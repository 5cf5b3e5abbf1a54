"""Count the GitHub requests of a `launcher launch` run with nothing to do, and how many of
them read deployment statuses, against the previous rule (every deployment's status read).

A repository with R requests running on main, each with a history of 3 deployments (a
`schedule` superseded by a `launch`, a `launch` superseded by the current one, the current
`launch` with its instance on EC2). Both rules run on the same seeded state in the same
invocation; the budget is 10 + ceil(D/100) GitHub requests, D the number of deployments.

    python bench/launch_calls.py [--running 50 5000] [--pushes 10]

`--pushes N` then pushes N commits that record nothing (a note under deployments/, neither a
request nor a control file), one launch run after each, and prints each run's GitHub requests
(the look at main's commits since the last seen head, and its `seen` markers).

Starts the GitHub stand-in and a moto server on loopback, stops both at the end. Deployments
are seeded through the stand-in's service (not over HTTP) and instances in one RunInstances
per 500, so seeding 5,000 requests takes seconds, not an hour.
"""

from __future__ import annotations

import argparse
import io
import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from launcher.adapters.ec2 import EC2
from launcher.adapters.github import GitHub, Settings
from launcher.core.documents import load_policy, load_request
from launcher.core.lifecycle import version_of
from launcher.core.quota import DEPLOYMENT_TAG, POOL_TAG
from launcher.core.record import Kind, PlacementRecord, RequestRecord, encode
from launcher.core.times import utc_iso
from launcher.jobs.launch import TASK, LaunchOptions, git_blob_sha, run_launch
from launcher.jobs.launch import views as launch_views
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


def _read_every_status(gh: GitHub) -> Any:
    """The previous rule, for reference: one status read per launcher deployment (the
    states are then inferred as now, so both rules plan the same)."""

    def records_of(listed: list[Any], fleet: Any, now: datetime) -> list[Any]:
        for d in listed:
            if d.key is not None:
                gh.deployment_status(d.id)
        return ORIGINAL_RECORDS(listed, fleet, now)

    return records_of


ORIGINAL_RECORDS = launch_views.records_of


def scenario(n_running: int, pushes: int = 0) -> dict[str, dict[str, float]]:
    with moto_server() as moto, patched_env(moto.env()):
        moto.reset()  # moto keeps its state per process: start each scenario empty
        with GitHubSandbox() as sb:
            return _measure(sb, n_running, pushes)


def _measure(sb: GitHubSandbox, n_running: int, pushes: int = 0) -> dict[str, dict[str, float]]:
    import boto3

    now = datetime.now(UTC).replace(microsecond=0)
    sb.add_user("admin")
    sb.add_org("acme", members=["admin"])
    # app mode, as launcher runs in production: its records are its app's (trial mode reads
    # every request file again, one request each: its records are forgeable there)
    app = sb.create_app(
        "launcher",
        "acme",
        permissions={
            "contents": "read",
            "deployments": "write",
            "pull_requests": "read",
            "checks": "write",
            "issues": "write",
            "statuses": "read",
            "metadata": "read",
        },
    )
    sb.install_app(app, "acme")
    bot = "launcher[bot]"
    sb.create_repo("acme", "infra", {"pools.yaml": POOLS}, collaborators=["admin"])
    names = [f"run-{i:05d}" for i in range(n_running)]
    files = {f"deployments/dev/{n}.yaml": request(n) for n in names}
    earlier = sb.push_files("acme/infra", "main", {"README.md": "x\n"}, "earlier", "admin")
    main = sb.push_files("acme/infra", "main", files, "requests", "admin")
    policy = load_policy(POOLS.encode())[0]
    assert policy is not None
    service = sb.gh
    repo = service.state.repo("acme", "infra")
    assert repo is not None
    client = boto3.client("ec2", region_name="us-east-1")
    expires = now + timedelta(days=30)
    ids: list[str] = []
    for start in range(0, len(names), 500):  # one RunInstances per 500, tagged per request below
        n = min(500, len(names) - start)
        answer = client.run_instances(ImageId=AMI, InstanceType="t3.micro", MinCount=n, MaxCount=n)[
            "Instances"
        ]
        ids.extend(i["InstanceId"] for i in answer)

    def record(ref: str, status: str, rec: RequestRecord) -> None:
        body = {
            "ref": ref,
            "task": TASK,
            "environment": rec.key,
            "payload": encode(rec),
            "required_contexts": [],
            "auto_merge": False,
            "transient_environment": True,
            "production_environment": False,
        }
        dep = service.create_deployment(repo, bot, body)
        service.create_deployment_status(repo, bot, dep, {"state": status, "auto_inactive": False})

    for (path, text), instance_id in zip(sorted(files.items()), ids, strict=True):
        key = f"dev/{path.rsplit('/', 1)[1][:-5]}"
        parsed = load_request(text.encode(), path, policy)[0]
        assert parsed is not None
        base = RequestRecord(
            kind=Kind.SCHEDULE,
            key=key,
            path=path,
            version=version_of(parsed),
            blob=git_blob_sha(text.encode()),
            max_runtime=timedelta(days=30),
        )
        record(earlier, "inactive", base)
        gone = replace(base, kind=Kind.LAUNCH, instance_ids=("i-0gone",), launch_commit=earlier)
        record(earlier, "inactive", gone)
        running = replace(
            base,
            kind=Kind.LAUNCH,
            instance_ids=(instance_id,),
            launch_commit=main,
            launched_at=now,
            expires_at=expires,
            placement=PlacementRecord(region="us-east-1"),
        )
        record(main, "success", running)
        tags = {
            POOL_TAG: "dev",
            DEPLOYMENT_TAG: key,
            "launcher:commit": main,
            "launcher:group": "a",
            "launcher:expires-at": utc_iso(expires),
        }
        client.create_tags(
            Resources=[instance_id], Tags=[{"Key": k, "Value": v} for k, v in tags.items()]
        )
    # main is the trust anchor (LAUNCHER_TRUSTED_COMMIT): checking it reads nothing more
    settings = Settings(
        "acme/infra",
        "",
        sb.url,
        bot,
        throttle=False,
        trusted_commit=main,
        app_id=str(app.id),
        app_private_key=app.private_key_pem().decode(),
    )
    result = {}
    for rule in ("every status (before)", "inferred (after)"):
        gh = GitHub(settings)
        if rule.startswith("every"):
            launch_views.records_of = _read_every_status(gh)
        try:
            sb.reset_requests()
            ec2 = EC2(read_timeout=900)  # moto filters 5,000 instances slowly: not EC2 itself
            report = run_launch(gh, ec2, LaunchOptions(now=now), io.StringIO())
        finally:
            launch_views.records_of = ORIGINAL_RECORDS
        assert not report.errors and report.planned == [], (report.errors, report.planned)
        assert report.blocked is None, report.blocked
        counts = sb.request_counts()
        result[rule] = {
            "github": sum(counts.values()),
            "status reads": sum(n for k, n in counts.items() if k.endswith("/statuses")),
            "deployments": len(report.records),
        }
    for i in range(pushes):
        sb.push_files("acme/infra", "main", {"deployments/NOTES.md": f"{i}\n"}, "notes", "admin")
        gh, ec2 = GitHub(settings), EC2(read_timeout=900)  # its token, as above: not counted
        sb.reset_requests()
        report = run_launch(gh, ec2, LaunchOptions(now=now), io.StringIO())
        assert not report.errors and report.planned == [], (report.errors, report.planned)
        counts = sb.request_counts()
        result[f"push {i + 1}"] = {
            "github": sum(counts.values()),
            "status reads": sum(n for k, n in counts.items() if k.endswith("/statuses")),
            "deployments": len(report.records),
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--running", type=int, nargs="+", default=[50, 5000])
    parser.add_argument("--pushes", type=int, default=0)
    args = parser.parse_args()
    print("requests | deployments | rule | GitHub requests (status reads) | budget")
    for n in args.running:
        f = scenario(n, args.pushes)
        before, after = f["every status (before)"], f["inferred (after)"]
        budget = 10 + math.ceil(after["deployments"] / 100)
        for rule, row in f.items():
            if rule.startswith("push "):
                continue
            print(
                f"{n:8d} | {row['deployments']:11.0f} | {rule} | "
                f"{row['github']:.0f} ({row['status reads']:.0f}) | {budget}"
            )
        print(
            f"after / before: GitHub requests {after['github'] / before['github']:.4f}x; "
            f"within budget: {after['github'] <= budget and after['status reads'] == 0}"
        )
        runs = [row["github"] for rule, row in f.items() if rule.startswith("push ")]
        if runs:
            print(
                f"after each of {len(runs)} pushes recording nothing: "
                f"{', '.join(f'{r:.0f}' for r in runs)} GitHub requests; "
                f"within budget: {max(runs) <= budget}"
            )


if __name__ == "__main__":
    main()
