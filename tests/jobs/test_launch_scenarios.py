"""The scenarios of issue 15, end to end: the GitHub stand-in and a moto EC2 server (over HTTP)
that keeps AWS's ClientToken rule (launcher.sandbox.moto.patch_client_tokens)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from launcher.adapters import ec2 as ec2_adapter
from launcher.adapters.github import GitHub
from launcher.core.lifecycle import Category, RequestState
from launcher.jobs.launch import LaunchReport
from tests.conftest import run_cli
from tests.jobs.conftest import World
from tests.jobs.test_launch import (
    AMI,
    NOW,
    POOLS,
    WEB,
    comment_bodies,
    instances,
    launch,
    merged,
    request,
    tags,
)

DEPLOYMENTS = "/repos/{owner}/{repo}/deployments"


def state(report: LaunchReport, key: str = "dev/web") -> RequestState | None:
    """The request's newest record's state as the next run reads it."""
    found = [r for r in report.records if r.key == key]
    return found[-1].state if found else None


def crash_before_recording(world: World) -> None:
    """The next POST of a deployment fails: the run stops after RunInstances."""
    world.sb.inject_fault("POST", DEPLOYMENTS, status=502)


def test_two_runs_a_second_apart_launch_the_request_once(launch_world: World) -> None:
    """Same ClientToken, same parameters (nothing from the clock): EC2 hands the second run
    the first run's reservation, which it records; 2 instances, not 0."""
    merged(launch_world, "alice", {WEB: request(count=2)})
    crash_before_recording(launch_world)
    assert launch(launch_world).errors
    first = sorted(i["InstanceId"] for i in instances(key="dev/web"))
    second = launch(launch_world, now=NOW + timedelta(seconds=1))
    assert second.exit_code == 0, (second.failed, second.errors)
    assert sorted(i["InstanceId"] for i in instances(key="dev/web")) == first
    assert len(first) == 2
    assert state(launch(launch_world, now=NOW + timedelta(seconds=2))) is RequestState.RUNNING


def test_a_token_used_with_other_parameters_adopts_the_instances(
    launch_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An earlier run sent the token with other parameters (as launcher did when the expiry
    tag came from its clock): EC2 answers IdempotentParameterMismatch; the instances found by
    client token are adopted, none terminated, none launched twice."""
    merged(launch_world, "alice", {WEB: request(count=2)})
    spec = ec2_adapter.run_spec

    def older_spec(launch: Any) -> Any:
        made = spec(launch)
        made.tags["launcher:expires-at"] = "2026-12-08T09:00:00Z"
        return made

    monkeypatch.setattr(ec2_adapter, "run_spec", older_spec)
    crash_before_recording(launch_world)
    launch(launch_world)
    monkeypatch.setattr(ec2_adapter, "run_spec", spec)
    first = sorted(i["InstanceId"] for i in instances(key="dev/web"))
    report = launch(launch_world, now=NOW + timedelta(minutes=5))
    assert report.exit_code == 0, (report.failed, report.errors)
    assert sorted(i["InstanceId"] for i in instances(key="dev/web")) == first
    assert len(first) == 2


def test_the_expiry_tag_is_written_after_launch_from_launch_time(launch_world: World) -> None:
    merged(launch_world, "alice", {WEB: request(max_runtime="8h")})
    launch(launch_world)
    [instance] = instances(key="dev/web")
    assert tags(instance)["launcher:expires-at"] == "2026-12-01T17:00:00Z"  # the run's now + 8h


def shown_by_status(world: World, monkeypatch: pytest.MonkeyPatch, key: str) -> dict[str, Any]:
    """The request as `launcher status --format json` shows it (app mode, as the jobs ran)."""
    env = {
        "GITHUB_REPOSITORY": world.repo_name,
        "GITHUB_API_URL": world.sb.url,
        "LAUNCHER_GITHUB_THROTTLE": "0",
        **world.app_env(),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    shown = run_cli(world.tmp, "status", "--now", NOW.isoformat(), "--format", "json")
    assert shown.code == 0, shown.err
    [found] = [r for r in json.loads(shown.out)["requests"] if r["request"] == key]
    return dict(found)


def test_failed_then_approved_in_a_new_pull_request_launches(
    launch_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    merged(launch_world, "bob", {WEB: request()})  # merged without the approval bob needs
    [(_, error)] = launch(launch_world).failed
    assert error.category is Category.NOT_APPROVED
    before = shown_by_status(launch_world, monkeypatch, "dev/web")
    assert (before["state"], before["category"]) == ("FAILED", "not_approved")
    again = request().replace("description: test", "description: approved this time")
    merged(launch_world, "bob", {WEB: again}, approver="dave")
    report = launch(launch_world)
    assert report.exit_code == 0, (report.failed, report.errors)
    assert len(instances(key="dev/web")) == 1
    assert state(launch(launch_world)) is RequestState.RUNNING
    # and `launcher status` shows the new version RUNNING, not the old failure
    web = shown_by_status(launch_world, monkeypatch, "dev/web")
    assert (web["state"], web["instances"], web["category"]) == ("RUNNING", 1, None)


def test_failed_removed_and_added_again_through_approved_pull_requests_launches(
    launch_world: World,
) -> None:
    merged(launch_world, "bob", {WEB: request()})
    assert launch(launch_world).failed
    merged(launch_world, "alice", {WEB: None})
    assert launch(launch_world).exit_code == 0
    merged(launch_world, "bob", {WEB: request()}, approver="dave")  # identical content
    report = launch(launch_world)
    assert report.exit_code == 0, (report.failed, report.errors)
    assert len(instances(key="dev/web")) == 1


def test_an_interrupted_replacement_ends_the_old_version_next_run(launch_world: World) -> None:
    merged(launch_world, "alice", {WEB: request(count=1)})
    launch(launch_world)
    [old] = instances(key="dev/web")
    merged(launch_world, "alice", {WEB: request(count=2)})
    crash_before_recording(launch_world)
    assert launch(launch_world).errors
    assert len(instances(key="dev/web")) == 3  # both versions, for now
    report = launch(launch_world)
    assert report.exit_code == 0, (report.failed, report.errors)
    now_running = instances(key="dev/web")
    assert len(now_running) == 2 and old["InstanceId"] not in {i["InstanceId"] for i in now_running}


def test_instances_of_a_request_removed_after_a_crash_are_ended_not_orphans(
    launch_world: World,
) -> None:
    merged(launch_world, "alice", {WEB: request(count=2)})
    crash_before_recording(launch_world)
    launch(launch_world)
    assert len(instances(key="dev/web")) == 2
    merged(launch_world, "alice", {WEB: None})
    report = launch(launch_world)
    assert report.exit_code == 0, report.errors
    assert instances(key="dev/web") == []


def test_a_comment_doubled_by_a_race_is_removed_by_the_next_run(launch_world: World) -> None:
    number = merged(launch_world, "alice", {WEB: request()})
    crash_before_recording(launch_world)
    launch(launch_world)  # the comment is posted, the record is not
    [body] = comment_bodies(launch_world, number)
    # a second run racing the first posted the same comment again
    GitHub(launch_world.settings()).comment(number, body)  # as launcher's app
    assert len(comment_bodies(launch_world, number)) == 2
    report = launch(launch_world)
    assert report.exit_code == 0, report.errors
    assert comment_bodies(launch_world, number) == [body]


def test_an_image_alias_named_like_quota_without_an_ami_is_no_match(launch_world: World) -> None:
    pools = POOLS.replace(
        "images: {{rhel9:".replace("{{", "{"),
        f"images: {{quota-team: {{us-west-2: {AMI}}}, rhel9:",
    )
    launch_world.sb.push_files(launch_world.repo_name, "main", {"pools.yaml": pools}, "p", "pat")
    text = request().replace("image: rhel9", "image: quota-team")
    merged(launch_world, "alice", {WEB: text})
    [(_, error)] = launch(launch_world).failed
    assert error.category is Category.NO_MATCH, error
    assert "quota-team has no AMI in us-east-1" in error.message


def _history(world: World, key: str = "dev/web") -> list[str]:
    from launcher.adapters.github import GitHub
    from launcher.jobs.status import gather
    from launcher.report.text import status_json, status_lines
    from tests.jobs.test_launch import new_ec2

    overview = gather(GitHub(world.settings()), new_ec2(), NOW + timedelta(minutes=1)).overview
    text = status_lines(overview, history=True)  # `launcher status --history`
    assert f"history of {key}:" in text and f"history of {key}:" not in status_lines(overview)
    [row] = [r for r in status_json(overview)["requests"] if r["request"] == key]
    return [" ".join(filter(None, (e["event"], e["by"], e["text"]))) for e in row["history"]]


def test_status_shows_who_approved_and_the_launch_as_history(launch_world: World) -> None:
    number = launch_world.open_pr("bob", {WEB: request()})
    launch_world.review("dave", number, body="OK for the QA cycle")
    launch_world.repo("bob").get_pull(number).merge()
    launch(launch_world)
    history = _history(launch_world)
    assert history[0] == "approved dave OK for the QA cycle"
    assert history[1].startswith("launched ") and "1 on dev-use1 (us-east-1)" in history[1]


def test_a_rejection_merged_anyway_is_failed_rejected_with_who_and_why(
    launch_world: World,
) -> None:
    number = launch_world.open_pr("bob", {WEB: request()})
    launch_world.review("dave", number, "REQUEST_CHANGES", "Too big for dev")
    launch_world.repo("bob").get_pull(number).merge()  # an admin bypass
    [(_, error)] = launch(launch_world).failed
    assert error.category is Category.REJECTED
    history = _history(launch_world)
    assert history[0] == "rejected dave Too big for dev"
    assert history[1].startswith("failed rejected: ")
