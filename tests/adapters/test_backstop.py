"""The expiry backstop over HTTP against moto: each EventBridge Scheduler schedule's fields as
AWS keeps them, moves, deletion, and "firing" (moto stores schedules but never runs them:
launcher.sandbox.scheduler calls each due target with its input against moto EC2)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from launcher.adapters.ec2 import EC2
from launcher.core.backstop import Backstop, backstop_name
from launcher.core.compute import BackstopChange
from launcher.core.matching import Location
from launcher.sandbox.moto import MotoServer, default_image, launch_tagged
from launcher.sandbox.scheduler import fire_due

USE1 = Location("us-east-1")
SCHEDULER_ROLE = "arn:aws:iam::123456789012:role/launcher-scheduler"
AT = datetime(2026, 12, 1, 17, 0, tzinfo=UTC)
TARGET = "arn:aws:scheduler:::aws-sdk:ec2:terminateInstances"


@pytest.fixture
def ec2(moto_server: MotoServer) -> EC2:
    return EC2()


def launch(ec2: EC2, key: str, count: int, location: Location = USE1) -> list[str]:
    client = ec2.client(*location)
    pool, name = key.split("/")
    return launch_tagged(client, pool, name, image_id=default_image(client, "x86_64"), count=count)


def backstop(key: str, ids: list[str], at: datetime = AT, location: Location = USE1) -> Backstop:
    role = SCHEDULER_ROLE
    if location.role_arn:  # the scheduler role lives in the provider's account
        role = location.role_arn.rsplit("/", 1)[0] + "/launcher-scheduler"
    return Backstop(location, backstop_name(key, "c0ffee" * 7), at, tuple(sorted(ids)), role, key)


def schedule(ec2: EC2, name: str, location: Location = USE1) -> dict[str, Any]:
    """The schedule as AWS returns it (GetSchedule over HTTP)."""
    return ec2._client("scheduler", *location).get_schedule(Name=name)  # type: ignore[no-any-return]


def live(ec2: EC2, ids: list[str], location: Location = USE1) -> set[str]:
    answer = ec2.client(*location).describe_instances(InstanceIds=ids)
    return {
        i["InstanceId"]
        for r in answer["Reservations"]
        for i in r["Instances"]
        if i["State"]["Name"] != "terminated"
    }


def test_a_launch_gets_a_one_time_schedule_ending_exactly_its_instances(ec2: EC2) -> None:
    ids = launch(ec2, "dev/web", 2)
    wanted = backstop("dev/web", ids)
    assert ec2.set_backstop(wanted) is BackstopChange.CREATED
    found = schedule(ec2, wanted.name)
    assert found["Name"] == wanted.name
    assert found["ScheduleExpression"] == "at(2026-12-01T17:00:00)"
    assert found["ScheduleExpressionTimezone"] == "UTC"
    assert found["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert found["ActionAfterCompletion"] == "DELETE"
    assert found["State"] == "ENABLED"
    assert found["Target"]["Arn"] == TARGET
    assert found["Target"]["RoleArn"] == SCHEDULER_ROLE
    assert json.loads(found["Target"]["Input"]) == {"InstanceIds": sorted(ids)}
    assert found["Arn"].startswith("arn:aws:scheduler:us-east-1:123456789012:schedule/default/")
    # a re-run changes nothing
    assert ec2.set_backstop(wanted) is BackstopChange.KEPT


def test_names_fit_aws_pattern_for_any_request_name(ec2: EC2) -> None:
    key = "a-very-long-pool-name-x/" + "n" * 60
    name = backstop_name(key, "0" * 40)
    assert len(name) <= 64 and name.startswith("launcher-")
    assert name != backstop_name(key, "1" * 40)  # each launch commit its own schedule
    ids = launch(ec2, "dev/x", 1)
    assert ec2.set_backstop(backstop(key, ids)) is BackstopChange.CREATED


def test_a_move_rewrites_the_whole_schedule(ec2: EC2) -> None:
    ids = launch(ec2, "dev/web", 1)
    first = backstop("dev/web", ids)
    ec2.set_backstop(first)
    later = backstop("dev/web", ids, AT + timedelta(days=2))
    assert ec2.set_backstop(later, dry_run=True) is BackstopChange.MOVED  # asks only
    assert schedule(ec2, later.name)["ScheduleExpression"] == "at(2026-12-01T17:00:00)"
    assert ec2.set_backstop(later) is BackstopChange.MOVED
    found = schedule(ec2, later.name)
    assert found["ScheduleExpression"] == "at(2026-12-03T17:00:00)"
    # UpdateSchedule resets what it is not sent: the move sends it all again
    assert found["ActionAfterCompletion"] == "DELETE"
    assert found["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert json.loads(found["Target"]["Input"]) == {"InstanceIds": ids}


def test_firing_due_schedules_ends_exactly_that_launchs_instances(
    ec2: EC2, moto_server: MotoServer
) -> None:
    web = launch(ec2, "dev/web", 2)
    api = launch(ec2, "dev/api", 1)
    other = launch(ec2, "dev/other", 1)  # no backstop
    ec2.set_backstop(backstop("dev/web", web, AT))
    ec2.set_backstop(backstop("dev/api", api, AT + timedelta(hours=1)))
    everything = web + api + other

    assert fire_due(moto_server.url, AT - timedelta(seconds=1)) == []
    fired = fire_due(moto_server.url, AT)
    assert [(f.name, f.input, f.error) for f in fired] == [
        (backstop_name("dev/web", "c0ffee" * 7), {"InstanceIds": sorted(web)}, None)
    ]
    assert live(ec2, everything) == set(api + other)
    with pytest.raises(ClientError, match="ResourceNotFound"):  # DELETE after completion
        schedule(ec2, fired[0].name)

    fire_due(moto_server.url, AT + timedelta(hours=1))
    assert live(ec2, everything) == set(other)


def test_a_dropped_backstop_never_fires(ec2: EC2, moto_server: MotoServer) -> None:
    ids = launch(ec2, "dev/web", 1)
    wanted = backstop("dev/web", ids)
    ec2.set_backstop(wanted)
    assert ec2.drop_backstop(USE1, wanted.name) is True
    assert ec2.drop_backstop(USE1, wanted.name) is False  # already gone: not an error
    assert fire_due(moto_server.url, AT + timedelta(days=30)) == []
    assert live(ec2, ids) == set(ids)


def test_the_schedule_lives_in_the_instances_account_and_region(
    ec2: EC2, moto_server: MotoServer
) -> None:
    elsewhere = Location("us-west-2", "arn:aws:iam::111111111111:role/launcher")
    ids = launch(ec2, "dev/web", 1, elsewhere)
    here = launch(ec2, "dev/web", 1)  # same request tag in the default account: untouched
    wanted = backstop("dev/web", ids, location=elsewhere)
    ec2.set_backstop(wanted)
    assert ":us-west-2:111111111111:" in schedule(ec2, wanted.name, elsewhere)["Arn"]
    with pytest.raises(ClientError, match="ResourceNotFound"):
        schedule(ec2, wanted.name)  # not in the launch role's own account
    [fired] = fire_due(moto_server.url, AT)
    assert (fired.account, fired.region, fired.error) == ("111111111111", "us-west-2", None)
    assert live(ec2, ids, elsewhere) == set()
    assert live(ec2, here) == set(here)


# --- the sandbox keeps AWS's rules moto lacks ------------------------------------------------


def test_sandbox_refuses_names_outside_aws_pattern(ec2: EC2) -> None:
    client = ec2._client("scheduler", "us-east-1", None)
    target = {"Arn": TARGET, "RoleArn": SCHEDULER_ROLE, "Input": "{}"}
    common = {
        "ScheduleExpression": "at(2026-12-01T17:00:00)",
        "FlexibleTimeWindow": {"Mode": "OFF"},
    }
    for name in ("dev:web", "x" * 65, "a b", "é"):
        with pytest.raises(ClientError, match="ValidationException"):
            client.create_schedule(Name=name, Target=target, **common)
    with pytest.raises(ClientError, match="ValidationException"):
        client.create_schedule(
            Name="ok",
            Target=target,
            ScheduleExpression="at(2026-13-01T17:00:00)",
            FlexibleTimeWindow={"Mode": "OFF"},
        )


def test_sandbox_update_resets_what_it_is_not_sent(ec2: EC2) -> None:
    """AWS: UpdateSchedule 'uses all values, including empty values'."""
    client = ec2._client("scheduler", "us-east-1", None)
    target = {"Arn": TARGET, "RoleArn": SCHEDULER_ROLE, "Input": "{}"}
    common = {
        "ScheduleExpression": "at(2026-12-01T17:00:00)",
        "FlexibleTimeWindow": {"Mode": "OFF"},
    }
    client.create_schedule(Name="n", Target=target, ActionAfterCompletion="DELETE", **common)
    client.update_schedule(Name="n", Target=target, **common)
    assert client.get_schedule(Name="n")["ActionAfterCompletion"] == "NONE"
