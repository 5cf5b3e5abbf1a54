"""`launcher launch` end to end: the GitHub stand-in (PyGithub over HTTP) and a moto EC2 server."""

from __future__ import annotations

import functools
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from launcher.adapters.ec2 import EC2
from launcher.adapters.github import GitHub
from launcher.core.lifecycle import Category, RequestState
from launcher.jobs.launch import LaunchOptions, LaunchReport, run_launch
from launcher.sandbox.moto import BUILTIN_AMIS, inject_ec2_error
from tests.jobs.conftest import APP_BOT, World

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
AMI = BUILTIN_AMIS["x86_64"]  # one of moto's built-in AMIs, in every region
WEB = "deployments/dev/web.yaml"
POOLS = f"""\
version: 1
admins: ["@acme/platform"]
groups:
  dev-owners: [dave, erin]
pools:
  dev:
    permissions:
      create: [alice]
      create_with_approval: [bob, carol]
      modify: ["group:dev-owners"]
    quota: {{instances: 6}}
    max_runtime: 7d
    providers:
      - {{name: dev-use1, region: us-east-1, priority: 1, instance_types: ["t3.*"]}}
    images: {{rhel9: {{us-east-1: {AMI}, us-west-2: {AMI}}}}}
    hardware_profiles:
      small: {{vcpus: 2, memory_gib: 4}}
      huge: {{vcpus: 448, memory_gib: 12288}}
"""


def request(
    name: str = "web",
    count: int = 1,
    *,
    profile: str = "small",
    groups: int = 1,
    max_runtime: str | None = None,
    launch_at: str | None = None,
) -> str:
    text = f"name: {name}\npool: dev\ndescription: test\ninstances:\n"
    for index in range(groups):
        text += (
            f"  - name: g{index}\n    image: rhel9\n    hardware_profile: {profile}\n"
            f"    count: {count}\n"
        )
    if max_runtime:
        text += f"max_runtime: {max_runtime}\n"
    if launch_at:
        text += f"launch_at: {launch_at}\n"
    return text


def merged(world: World, author: str, files: dict[str, str | None], approver: str = "") -> int:
    number = world.open_pr(author, files)
    if approver:
        world.review(approver, number)
    world.repo(author).get_pull(number).merge()
    return number


@functools.cache
def _session(endpoint: str) -> Any:
    """One boto3 session per moto server: creating clients from it is cheap after the first."""
    import boto3

    return boto3.Session()


def new_ec2() -> EC2:
    import os

    return EC2(_session(os.environ["AWS_ENDPOINT_URL"]))


def launch(world: World, ec2: EC2 | None = None, now: datetime = NOW, **kw: Any) -> LaunchReport:
    options = LaunchOptions(now=now, **kw)
    return run_launch(GitHub(world.settings()), ec2 or new_ec2(), options, io.StringIO())


def instances(region: str = "us-east-1", key: str | None = None) -> list[dict[str, Any]]:
    filters = [{"Name": "instance-state-name", "Values": ["pending", "running"]}]
    if key:
        filters.append({"Name": "tag:launcher:deployment", "Values": [key]})
    found = []
    for r in new_ec2().client(region).describe_instances(Filters=filters)["Reservations"]:
        found.extend(r["Instances"])
    return found


def tags(instance: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in instance.get("Tags", [])}


def statuses(world: World, key: str) -> list[list[tuple[str, str]]]:
    """Per deployment of `key` (oldest first): its statuses, oldest first."""
    repo = world.repo("alice")
    out = []
    for d in sorted(repo.get_deployments(environment=key), key=lambda d: d.id):
        out.append([(s.state, s.description) for s in reversed(list(d.get_statuses()))])
    return out


def comment_bodies(world: World, number: int) -> list[str]:
    return [c.body for c in world.comments(number) if c.user.login == APP_BOT]


def test_create_tier_request_launches_count_with_tags(launch_world: World) -> None:
    number = merged(launch_world, "alice", {WEB: request(count=2)})
    merge_sha = launch_world.repo("alice").get_pull(number).merge_commit_sha
    report = launch(launch_world)
    assert report.exit_code == 0, report.errors
    found = instances(key="dev/web")
    assert len(found) == 2
    expected = {
        "launcher:deployment": "dev/web",
        "launcher:pool": "dev",
        "launcher:requested-by": "alice",
        "launcher:commit": merge_sha,
        "launcher:pr": str(number),
        "launcher:expires-at": "2026-12-08T09:00:00Z",  # the pool's 7d cap
    }
    for instance in found:
        assert expected.items() <= tags(instance).items()
        assert "launcher:approved-by" not in tags(instance)
        assert instance["InstanceType"] == "t3.medium"
        assert instance["MetadataOptions"]["HttpTokens"] == "required"
        [mapping] = instance["BlockDeviceMappings"]
        volume_id = mapping["Ebs"]["VolumeId"]
        [volume] = new_ec2().client("us-east-1").describe_volumes(VolumeIds=[volume_id])["Volumes"]
        assert volume["Encrypted"] is True
        assert expected.items() <= tags(volume).items()
    [history] = statuses(launch_world, "dev/web")
    assert [s for s, _ in history] == ["in_progress", "success"]
    assert (
        history[-1][1] == "running 2 instances on dev-use1 (us-east-1) until 2026-12-08T09:00:00Z"
    )
    [body] = comment_bodies(launch_world, number)
    assert body.splitlines()[1].startswith("@alice your launch request `dev/web` is running")
    assert all(i["InstanceId"] in body for i in found)


def test_approved_request_launches_with_approved_by(launch_world: World) -> None:
    number = merged(launch_world, "bob", {WEB: request()}, approver="dave")
    report = launch(launch_world)
    assert report.exit_code == 0, report.errors
    [instance] = instances(key="dev/web")
    assert tags(instance)["launcher:approved-by"] == "dave"
    assert tags(instance)["launcher:requested-by"] == "bob"
    [body] = comment_bodies(launch_world, number)
    assert "@bob" in body and "cc @dave" in body


def test_second_run_changes_nothing(launch_world: World) -> None:
    merged(launch_world, "alice", {WEB: request(count=2)})
    launch(launch_world)
    launch_world.sb.reset_requests()
    report = launch(launch_world)
    assert report.exit_code == 0 and report.planned == [] and report.done == []
    assert len(instances(key="dev/web")) == 2
    writes = {
        k: n
        for k, n in launch_world.sb.request_counts().items()
        if not k.startswith(("GET", "POST /app/"))
    }
    assert writes == {}


@pytest.mark.parametrize(
    "path",
    [
        "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses",
        "/repos/{owner}/{repo}/deployments",
    ],
)
def test_crash_after_run_instances_then_rerun_launches_once(launch_world: World, path: str) -> None:
    number = merged(launch_world, "alice", {WEB: request(count=2)})
    launch_world.sb.inject_fault("POST", path, status=502)
    first = launch(launch_world)
    assert first.exit_code == 1 and first.errors
    launched = sorted(i["InstanceId"] for i in instances(key="dev/web"))
    assert len(launched) == 2
    second = launch(launch_world)
    assert second.exit_code == 0, second.errors
    assert sorted(i["InstanceId"] for i in instances(key="dev/web")) == launched
    # the record (the list) says RUNNING; the comment naming the instances was posted once
    [running] = [r for r in second.records + launch(launch_world).records if r.key == "dev/web"][
        -1:
    ]
    assert running.state is RequestState.RUNNING
    assert len(comment_bodies(launch_world, number)) == 1
    assert launch(launch_world).done == []


def test_three_merged_back_to_back_one_run_launches_all(launch_world: World) -> None:
    for name in ("a", "b", "c"):
        merged(launch_world, "alice", {f"deployments/dev/{name}.yaml": request(name)})
    report = launch(launch_world)
    assert report.exit_code == 0, report.errors
    for name in ("a", "b", "c"):
        assert len(instances(key=f"dev/{name}")) == 1
        assert statuses(launch_world, f"dev/{name}")[-1][-1][0] == "success"


def test_direct_push_is_not_approved(launch_world: World) -> None:
    launch_world.sb.push_files(launch_world.repo_name, "main", {WEB: request()}, "sneak", "bob")
    report = launch(launch_world)
    assert report.exit_code == 1
    [(key, error)] = report.failed
    assert key == "dev/web" and error.category is Category.NOT_APPROVED
    assert instances() == []
    [history] = statuses(launch_world, "dev/web")
    assert history[-1][0] == "failure" and history[-1][1].startswith("not_approved: ")
    assert launch(launch_world).failed == []  # recorded once, not failed again on every run


def test_pending_pr_merged_without_approval_is_not_approved(launch_world: World) -> None:
    number = merged(launch_world, "bob", {WEB: request()})  # an admin bypass: no review
    report = launch(launch_world)
    [(_, error)] = report.failed
    assert error.category is Category.NOT_APPROVED
    assert instances() == []
    [body] = comment_bodies(launch_world, number)
    assert "not_approved" in body and "@bob" in body


def test_no_match_at_launch(launch_world: World) -> None:
    number = merged(launch_world, "alice", {WEB: request(profile="huge")})
    report = launch(launch_world)
    [(_, error)] = report.failed
    assert error.category is Category.NO_MATCH
    assert statuses(launch_world, "dev/web")[-1][-1][1].startswith("no_match: ")
    assert "no_match" in comment_bodies(launch_world, number)[0]


def test_quota_exceeded(launch_world: World) -> None:
    number = merged(launch_world, "alice", {WEB: request(count=7)})
    report = launch(launch_world)
    [(_, error)] = report.failed
    assert error.category is Category.QUOTA, error
    assert instances() == []
    assert "quota" in comment_bodies(launch_world, number)[0]


def test_insufficient_capacity_falls_back_to_the_next_placement(launch_world: World) -> None:
    merged(launch_world, "alice", {WEB: request()})
    ec2 = new_ec2()
    client = ec2.client("us-east-1")
    with inject_ec2_error(
        client, "RunInstances", "InsufficientInstanceCapacity", "no t3.medium"
    ) as calls:
        report = launch(launch_world, ec2)
    assert report.exit_code == 0, report.errors
    [instance] = instances(key="dev/web")
    first = calls[0]["body"]
    assert first["InstanceType"] == "t3.medium" and "Placement.AvailabilityZone" not in first
    assert instance["Placement"]["AvailabilityZone"] == "us-east-1a"  # the next zone
    assert len(first["ClientToken"]) <= 64


def _fail_nth_run_instances(client: Any, n: int, code: str) -> list[int]:
    """Make the n-th RunInstances call (1-based) answer `code`; the others go through."""
    from launcher.sandbox.moto import _ErrorResponse

    seen: list[int] = []

    def handler(**_: Any) -> Any:
        seen.append(1)
        if len(seen) != n:
            return None
        error = {"Error": {"Code": code, "Message": "limit"}, "ResponseMetadata": {}}
        error["ResponseMetadata"] = {"HTTPStatusCode": 400, "RequestId": "x"}
        return _ErrorResponse(400), error

    client.meta.events.register("before-call.ec2.RunInstances", handler)
    return seen


def test_partial_multi_group_failure_leaves_nothing_running(launch_world: World) -> None:
    number = merged(launch_world, "alice", {WEB: request(groups=2)})
    ec2 = new_ec2()
    calls = _fail_nth_run_instances(ec2.client("us-east-1"), 2, "VcpuLimitExceeded")
    report = launch(launch_world, ec2)
    assert len(calls) == 2
    [(_, error)] = report.failed
    assert error.category is Category.LAUNCH_ERROR and "VcpuLimitExceeded" in error.message
    assert instances() == []
    assert "launch_error" in comment_bodies(launch_world, number)[0]


def test_removing_a_request_terminates_it(launch_world: World) -> None:
    number = merged(launch_world, "alice", {WEB: request(count=2)})
    launch(launch_world)
    assert len(instances(key="dev/web")) == 2
    merged(launch_world, "alice", {WEB: None})
    report = launch(launch_world)
    assert report.exit_code == 0, report.errors
    assert instances(key="dev/web") == []
    assert statuses(launch_world, "dev/web")[-1][-1] == (
        "inactive",
        "terminated: removed from main",
    )
    assert any("was removed from main" in b for b in comment_bodies(launch_world, number))
    assert launch(launch_world).done == []


def test_max_runtime_edit_only_retags(launch_world: World) -> None:
    merged(launch_world, "alice", {WEB: request(count=2, max_runtime="8h")})
    launch(launch_world)
    before = sorted(i["InstanceId"] for i in instances(key="dev/web"))
    number = merged(launch_world, "alice", {WEB: request(count=2, max_runtime="24h")})
    report = launch(launch_world, now=NOW + timedelta(hours=1))
    assert report.exit_code == 0, report.errors
    found = instances(key="dev/web")
    assert sorted(i["InstanceId"] for i in found) == before
    assert {tags(i)["launcher:expires-at"] for i in found} == {"2026-12-02T09:00:00Z"}
    old, new = statuses(launch_world, "dev/web")
    assert old[-1][0] == "inactive" and new[-1][0] == "success"
    assert any("2026-12-02T09:00:00Z" in b for b in comment_bodies(launch_world, number))


def test_other_change_replaces_after_the_new_version_runs(launch_world: World) -> None:
    merged(launch_world, "alice", {WEB: request(count=1)})
    launch(launch_world)
    [old] = instances(key="dev/web")
    merged(launch_world, "alice", {WEB: request(count=2)})
    report = launch(launch_world)
    assert report.exit_code == 0, report.errors
    found = instances(key="dev/web")
    assert len(found) == 2 and old["InstanceId"] not in {i["InstanceId"] for i in found}
    first, second = statuses(launch_world, "dev/web")
    assert first[-1][0] == "inactive" and second[-1][0] == "success"


def test_scheduled_request_is_queued_then_launched_when_due(launch_world: World) -> None:
    merged(launch_world, "alice", {WEB: request(launch_at="2026-12-02T09:00:00Z")})
    report = launch(launch_world)
    assert report.exit_code == 0 and instances() == []
    assert statuses(launch_world, "dev/web")[-1][-1][0] == "queued"
    assert launch(launch_world, now=NOW + timedelta(hours=2)).done == []
    due = launch(launch_world, now=datetime(2026, 12, 2, 9, 5, tzinfo=UTC))
    assert due.exit_code == 0, due.errors
    assert len(instances(key="dev/web")) == 1
    queued, running = statuses(launch_world, "dev/web")
    assert queued[-1][0] == "inactive" and running[-1][0] == "success"


def test_dry_run_changes_nothing(launch_world: World) -> None:
    merged(launch_world, "alice", {WEB: request()})
    launch_world.sb.reset_requests()
    report = launch(launch_world, dry_run=True)
    assert report.done == ["would launch dev/web" + report.done[0][len("would launch dev/web") :]]
    assert instances() == [] and statuses(launch_world, "dev/web") == []


def test_a_swap_within_quota_launches_in_the_same_run(launch_world: World) -> None:
    """Removing one request and adding another in one merge: the ended instances free their
    quota before the new request is placed (a false `quota` failure would be final)."""
    merged(launch_world, "alice", {"deployments/dev/a.yaml": request("a", count=4)})
    assert launch(launch_world).exit_code == 0
    merged(
        launch_world,
        "alice",
        {"deployments/dev/a.yaml": None, "deployments/dev/b.yaml": request("b", count=4)},
    )
    report = launch(launch_world)
    assert report.exit_code == 0, (report.failed, report.errors)
    assert instances(key="dev/a") == [] and len(instances(key="dev/b")) == 4


def test_reverting_a_change_brings_the_old_version_back(launch_world: World) -> None:
    merged(launch_world, "alice", {WEB: request(count=1)})
    launch(launch_world)
    merged(launch_world, "alice", {WEB: request(count=2)})
    launch(launch_world)
    assert len(instances(key="dev/web")) == 2
    merged(launch_world, "alice", {WEB: request(count=1)})  # back to the first content
    report = launch(launch_world)
    assert report.exit_code == 0, (report.failed, report.errors)
    assert len(instances(key="dev/web")) == 1
    assert launch(launch_world).done == []


def test_reverting_a_max_runtime_change_retags_back(launch_world: World) -> None:
    merged(launch_world, "alice", {WEB: request(max_runtime="8h")})
    launch(launch_world)
    merged(launch_world, "alice", {WEB: request(max_runtime="24h")})
    launch(launch_world)
    merged(launch_world, "alice", {WEB: request(max_runtime="8h")})
    report = launch(launch_world)
    assert report.exit_code == 0, (report.failed, report.errors)
    [instance] = instances(key="dev/web")
    assert tags(instance)["launcher:expires-at"] == "2026-12-01T17:00:00Z"
    assert launch(launch_world).done == []


def test_removed_then_readded_identically_launches_again(launch_world: World) -> None:
    merged(launch_world, "alice", {WEB: request()})
    launch(launch_world)
    [first] = instances(key="dev/web")
    merged(launch_world, "alice", {WEB: None})
    launch(launch_world)
    assert instances(key="dev/web") == []
    merged(launch_world, "alice", {WEB: request()})  # the same bytes, a new approved PR
    report = launch(launch_world)
    assert report.exit_code == 0, (report.failed, report.errors)
    [again] = instances(key="dev/web")
    assert again["InstanceId"] != first["InstanceId"]
    assert launch(launch_world).done == []


def test_expired_request_left_on_main_is_never_launched_again(launch_world: World) -> None:
    merged(launch_world, "alice", {WEB: request(max_runtime="1h")})
    launch(launch_world)
    launch(launch_world, now=NOW + timedelta(hours=2))
    assert instances(key="dev/web") == []
    assert launch(launch_world, now=NOW + timedelta(hours=3)).done == []
    assert instances(key="dev/web") == []


def test_a_run_reads_no_deployment_status(launch_world: World) -> None:
    """Every state is inferred from the records and the fleet (launcher.core.record.infer)."""
    world = launch_world
    merged(world, "alice", {WEB: request(launch_at="2026-12-01T10:00:00Z")})
    launch(world)  # schedule
    later = NOW + timedelta(hours=2)
    launch(world, now=later)  # launch (the schedule is now superseded)
    merged(world, "alice", {WEB: request(count=2, launch_at="2026-12-01T10:00:00Z")})
    launch(world, now=later)  # replace: the first launch is superseded, its instances gone
    merged(world, "alice", {"deployments/dev/big.yaml": request("big", profile="huge")})
    merged(world, "alice", {"deployments/dev/gone.yaml": request("gone")})
    launch(world, now=later)  # big: a failure deployment; gone: launched
    merged(world, "alice", {"deployments/dev/gone.yaml": None})
    launch(world, now=later)  # gone: terminated
    world.sb.reset_requests()
    report = launch(world, now=later)
    assert report.planned == [] and report.done == [], report.planned
    assert len(report.records) == 6  # web: schedule, launch, replacement; big; gone, ended
    reads = {k: n for k, n in world.sb.request_counts().items() if k.endswith("/statuses")}
    assert sum(reads.values()) == 0, reads
