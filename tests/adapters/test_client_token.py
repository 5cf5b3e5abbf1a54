"""AWS's ClientToken rule, as `launcher.sandbox.moto` models it on the moto server (over HTTP)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from launcher.adapters.ec2 import EC2
from launcher.sandbox import clock
from launcher.sandbox.moto import BUILTIN_AMIS

AMI = BUILTIN_AMIS["x86_64"]


@pytest.fixture
def client(moto_server: Any) -> Iterator[Any]:
    yield EC2().client("us-east-1")
    clock.CLOCK.reset()


def run(client: Any, token: str, instance_type: str = "t3.micro", count: int = 2) -> list[str]:
    answer = client.run_instances(
        ImageId=AMI, InstanceType=instance_type, MinCount=count, MaxCount=count, ClientToken=token
    )
    return [i["InstanceId"] for i in answer["Instances"]]


def live(client: Any) -> list[str]:
    pages = client.describe_instances(
        Filters=[{"Name": "instance-state-name", "Values": ["pending", "running"]}]
    )
    return [i["InstanceId"] for r in pages["Reservations"] for i in r["Instances"]]


def test_same_token_and_parameters_return_the_original_reservation(client: Any) -> None:
    first = run(client, "tok-1")
    assert run(client, "tok-1") == first
    assert sorted(live(client)) == sorted(first)  # nothing new launched


def test_same_token_other_parameters_is_a_mismatch(client: Any) -> None:
    run(client, "tok-2")
    with pytest.raises(ClientError) as error:
        run(client, "tok-2", instance_type="t3.small")
    assert error.value.response["Error"]["Code"] == "IdempotentParameterMismatch"
    assert len(live(client)) == 2


def test_tokens_are_per_region(client: Any) -> None:
    run(client, "tok-3")
    west = EC2().client("us-west-2")
    assert len(run(west, "tok-3", instance_type="t3.small")) == 2


def test_a_token_stays_taken_24_hours_after_termination(client: Any) -> None:
    first = run(client, "tok-4")
    client.terminate_instances(InstanceIds=first)
    clock.CLOCK.advance(timedelta(hours=23))
    assert run(client, "tok-4") == first  # still the original (terminated) reservation
    assert live(client) == []
    clock.CLOCK.advance(timedelta(hours=2))
    again = run(client, "tok-4")
    assert set(again).isdisjoint(first) and len(live(client)) == 2


def test_instances_are_found_by_their_client_token(client: Any) -> None:
    first = run(client, "tok-5")
    run(client, "other")
    found = client.describe_instances(Filters=[{"Name": "client-token", "Values": ["tok-5"]}])
    assert sorted(i["InstanceId"] for r in found["Reservations"] for i in r["Instances"]) == sorted(
        first
    )
