"""The EC2 adapter turns the launch job's typed `GroupLaunch` into RunInstances' tags and
ClientToken (no server needed): the token and every parameter depend only on the launch, so
a retried or racing run sends the same call; a re-add or a new attempt gets a new token."""

from __future__ import annotations

from dataclasses import replace

from launcher.adapters.ec2 import EXPIRES_TAG, run_spec
from launcher.core.compute import GroupLaunch
from launcher.core.matching import Location

LAUNCH = GroupLaunch(
    location=Location("us-east-1"),
    provider="dev-use1",
    key="dev/web",
    pool="dev",
    version="v1",
    commit="c" * 40,
    attempt=0,
    group="web",
    image_id="ami-0123456789abcdef0",
    instance_type="t3.micro",
    count=2,
    requested_by="alice",
    pr=7,
    approved_by=("dave",),
)


def test_the_same_launch_is_the_same_call() -> None:
    assert run_spec(LAUNCH) == run_spec(replace(LAUNCH))
    assert len(run_spec(LAUNCH).client_token) <= 64  # EC2's limit


def test_another_attempt_commit_or_placement_is_another_token() -> None:
    token = run_spec(LAUNCH).client_token
    for changed in (
        replace(LAUNCH, attempt=1),
        replace(LAUNCH, commit="d" * 40),  # a re-add or a revert: asked by another commit
        replace(LAUNCH, zone="us-east-1b"),
        replace(LAUNCH, instance_type="t3.small"),
        replace(LAUNCH, location=Location("us-west-2")),
    ):
        assert run_spec(changed).client_token != token


def test_tags_say_whose_instances_they_are_and_never_when_they_expire() -> None:
    tags = run_spec(LAUNCH).tags
    assert tags["launcher:deployment"] == "dev/web" and tags["launcher:pool"] == "dev"
    assert tags["launcher:group"] == "web" and tags["launcher:commit"] == "c" * 40
    assert tags["launcher:pr"] == "7" and tags["launcher:approved-by"] == "dave"
    assert EXPIRES_TAG not in tags  # written after launch, from LaunchTime


def test_a_long_approver_list_fits_a_tag_value() -> None:
    many = replace(LAUNCH, approved_by=tuple(f"approver-{i}" for i in range(40)))
    assert len(run_spec(many).tags["launcher:approved-by"]) == 256
