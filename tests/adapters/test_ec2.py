"""The EC2 adapter over HTTP against a local moto server: catalogue, usage, roles, errors."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import pytest
from botocore.exceptions import ClientError

from launcher.adapters.ec2 import EC2, NO_CREDENTIALS, EC2Error, credentials_problem
from launcher.core.matching import Location, match_all
from launcher.core.model import (
    Hardware,
    InstanceGroup,
    LaunchRequest,
    Policy,
    Pool,
    Provider,
    Quota,
)
from launcher.core.quota import Usage
from launcher.jobs.match_preview import Skipped, match_live, preview_matches
from launcher.sandbox.moto import create_image, default_image, inject_ec2_error, launch_tagged

SMALL = Hardware(2, 4)
ROLE = "arn:aws:iam::123456789012:role/launcher"
USE1 = Location("us-east-1")


def request(name: str, *groups: InstanceGroup, pool: str = "dev") -> LaunchRequest:
    return LaunchRequest(
        name=name, pool=pool, path=f"deployments/{pool}/{name}.yaml", instances=groups
    )


def group(
    image: str = "rhel9",
    hardware: Hardware = SMALL,
    count: int = 1,
    realm: str | None = None,
) -> InstanceGroup:
    return InstanceGroup(name="web", image=image, count=count, hardware=hardware, realm=realm)


@pytest.fixture
def ec2(moto_server) -> EC2:
    return EC2()


@pytest.fixture
def dev_pool(ec2: EC2) -> Pool:
    """rhel9 exists only in us-east-1 (made there); arm exists in both regions (built-in)."""
    east, west = ec2.client("us-east-1"), ec2.client("eu-west-1")
    return Pool(
        name="dev",
        quota=Quota(instances=5, vcpus=200),
        providers=(
            Provider("dev-use1", "us-east-1", 1, ("t3.*", "m7g.*")),
            Provider("dev-euw1", "eu-west-1", 2, ("t3.*", "m7g.*")),
        ),
        images={
            "rhel9": {"us-east-1": create_image(east, "rhel9")},
            "west-only": {"eu-west-1": create_image(west, "west-only")},
            "arm": {
                "us-east-1": default_image(east, "arm64"),
                "eu-west-1": default_image(west, "arm64"),
            },
        },
    )


def test_catalogue_is_read_once_per_location_and_only_what_is_new(ec2: EC2, dev_pool: Pool):
    ec2.calls.clear()
    rhel9 = dev_pool.images["rhel9"]["us-east-1"]
    arm = dev_pool.images["arm"]["us-east-1"]
    cat = ec2.catalogue(USE1, [rhel9, arm, "ami-00000000000000000"], ["t3.*"])
    t3 = cat.instance_types["t3.medium"]
    assert (t3.vcpus, t3.memory_gib, t3.architectures) == (2, 4.0, ("x86_64",))
    assert "t3.medium" in cat.offered
    assert {"us-east-1a", "us-east-1b"} <= set(cat.zones)
    assert "t3.medium" in cat.zones["us-east-1a"]
    assert cat.images[rhel9].architecture == "x86_64"
    assert cat.images[arm].architecture == "arm64"
    assert "ami-00000000000000000" not in cat.images  # unknown ids are absent, not an error
    assert "m7g.large" not in cat.instance_types  # only the globs asked for were read
    assert dict(ec2.calls) == {
        "ec2.DescribeAvailabilityZones": 1,
        "ec2.DescribeInstanceTypes": 1,
        "ec2.DescribeInstanceTypeOfferings": 2,  # region and availability-zone
        "ec2.DescribeImages": 1,
    }
    ec2.catalogue(USE1, [rhel9], ["t3.*", "t3.micro"])
    assert ec2.ec2_calls == 5  # nothing new (t3.micro is inside t3.*): no calls
    cat = ec2.catalogue(USE1, [rhel9], ["t3.*", "m7g.*"])
    assert cat.instance_types["m7g.large"].architectures == ("arm64",)
    # Only the new glob's types, and only where those are offered.
    assert ec2.calls["ec2.DescribeInstanceTypes"] == 2
    assert ec2.calls["ec2.DescribeInstanceTypeOfferings"] == 4
    assert ec2.ec2_calls == 8


def test_instance_storage_is_read(ec2: EC2):
    cat = ec2.catalogue(USE1, [], ["i3.large"])
    assert cat.instance_types["i3.large"].storage_gib == 475


def test_match_falls_through_to_the_region_that_has_the_image(ec2: EC2, dev_pool: Pool):
    policy = Policy(pools={"dev": dev_pool})
    requests = [
        request("east", group("rhel9", realm="us-east-1b")),
        request("west", group("west-only")),
        request("arm", group("arm", Hardware(2, 8, "arm64"))),
        request("big", group("rhel9", Hardware(64, 1024))),
    ]
    catalogues = ec2.catalogues([dev_pool])
    assert set(catalogues) == {Location("us-east-1"), Location("eu-west-1")}
    results = match_all(requests, policy, catalogues, ec2.usage([dev_pool]))
    east, west, arm, big = results
    g = east.chosen.groups[0]
    assert (east.chosen.provider.name, g.instance_type, g.zone) == (
        "dev-use1",
        "t3.medium",
        "us-east-1b",
    )
    assert g.image_id == dev_pool.images["rhel9"]["us-east-1"]
    assert west.chosen.provider.name == "dev-euw1"
    assert west.providers[0].reasons == ("dev-use1: image west-only has no AMI in us-east-1",)
    assert arm.chosen.groups[0].instance_type == "m7g.large"
    assert big.chosen is None
    assert big.reasons == [
        "dev-use1: no allowed instance type offers 64 vCPU / 1024 GiB / x86_64",
        "dev-euw1: image rhel9 has no AMI in eu-west-1",
        "dev-euw1: no allowed instance type offers 64 vCPU / 1024 GiB / x86_64",
    ]


def test_usage_counts_launcher_instances_pending_or_running(ec2: EC2, dev_pool: Pool):
    east = ec2.client("us-east-1")
    ami = dev_pool.images["rhel9"]["us-east-1"]
    launch_tagged(east, "dev", "web", image_id=ami, instance_type="t3.large", count=3)
    launch_tagged(east, "dev", "old", image_id=ami, count=2, state="stopped")
    launch_tagged(east, "dev", "gone", image_id=ami, count=1, state="terminated")
    launch_tagged(east, "gpu", "train", image_id=ami, instance_type="m6i.xlarge")
    east.run_instances(ImageId=ami, InstanceType="t3.micro", MinCount=1, MaxCount=1)  # not ours
    ec2.calls.clear()
    gpu = Pool("gpu", quota=Quota(instances=4), providers=(Provider("gpu", "us-east-1"),))
    usage = ec2.usage([dev_pool, gpu])
    assert usage == {"dev": Usage(instances=3, vcpus=6), "gpu": Usage(instances=1, vcpus=4)}
    # One DescribeInstances per location, whatever the number of pools.
    assert ec2.calls["ec2.DescribeInstances"] == 2

    policy = Policy(pools={"dev": dev_pool})
    [result] = match_all(
        [request("more", group(count=3))], policy, ec2.catalogues([dev_pool]), usage
    )
    assert result.pool_reasons == (
        "pool dev: quota reached (3 running + 3 requested > 5 instances)",
    )


def test_usage_of_pools_without_quota_reads_nothing(ec2: EC2):
    ec2.calls.clear()
    assert ec2.usage([Pool("free", providers=(Provider("p", "us-east-1"),))]) == {}
    assert ec2.ec2_calls == 0


def test_role_is_assumed_once_per_role(ec2: EC2, dev_pool: Pool):
    pool = replace(
        dev_pool,
        providers=tuple(replace(p, role_arn=ROLE) for p in dev_pool.providers),
        images={"arm": dev_pool.images["arm"]},
    )
    ec2.calls.clear()
    catalogues = ec2.catalogues([pool])
    assert set(catalogues) == {Location("us-east-1", ROLE), Location("eu-west-1", ROLE)}
    assert all(c.error is None for c in catalogues.values())
    ec2.usage([pool])
    assert ec2.calls["sts.AssumeRole"] == 1
    creds = ec2.session(ROLE).get_credentials()
    assert creds.access_key != "testing"  # the assumed role's, not the default chain's


def test_clients_use_the_endpoint_and_standard_retries(ec2: EC2, moto_server):
    client = ec2.client("eu-west-1")
    assert client.meta.endpoint_url == moto_server.url
    assert client.meta.config.retries == {"mode": "standard", "total_max_attempts": 5}
    assert ec2.client("eu-west-1") is client


def test_aws_errors_become_reasons_not_crashes(ec2: EC2, dev_pool: Pool):
    client = ec2.client("us-east-1")
    with inject_ec2_error(
        client,
        "DescribeInstanceTypeOfferings",
        "UnauthorizedOperation",
        "You are not authorized to perform this operation.",
    ):
        catalogues = ec2.catalogues([dev_pool])
    assert catalogues[USE1].error == (
        "reading the EC2 catalogue of us-east-1 failed: UnauthorizedOperation: "
        "You are not authorized to perform this operation."
    )
    [result] = match_all([request("web", group())], Policy(pools={"dev": dev_pool}), catalogues, {})
    assert result.reasons[0].startswith("dev-use1: cannot read the EC2 catalogue of us-east-1: ")
    with inject_ec2_error(client, "DescribeInstances", "RequestLimitExceeded", "slow down"):
        with pytest.raises(
            EC2Error,
            match="counting launcher instances in us-east-1 failed: "
            "RequestLimitExceeded: slow down",
        ):
            ec2.usage([dev_pool])


def test_inject_ec2_error_gives_the_real_error_shape_then_stops(ec2: EC2, dev_pool: Pool):
    client = ec2.client("us-east-1")
    ami = dev_pool.images["rhel9"]["us-east-1"]
    message = "We currently do not have sufficient t3.large capacity in the Availability Zone."
    with inject_ec2_error(
        client, "RunInstances", "InsufficientInstanceCapacity", message, times=1, status=500
    ) as seen:
        with pytest.raises(ClientError) as caught:
            client.run_instances(
                ImageId=ami,
                InstanceType="t3.large",
                MinCount=1,
                MaxCount=1,
                ClientToken="launcher-dev-web-1",
            )
        error = caught.value.response["Error"]
        assert (error["Code"], error["Message"]) == ("InsufficientInstanceCapacity", message)
        assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
        assert seen[0]["body"]["ClientToken"] == "launcher-dev-web-1"
        # times=1: the next call reaches moto.
        client.run_instances(ImageId=ami, InstanceType="t3.large", MinCount=1, MaxCount=1)
    assert len(seen) == 1


def test_moto_validates_instance_types_and_amis(ec2: EC2, dev_pool: Pool):
    client = ec2.client("us-east-1")
    ami = dev_pool.images["rhel9"]["us-east-1"]
    with pytest.raises(ClientError, match="InvalidInstanceType"):
        client.run_instances(ImageId=ami, InstanceType="t3.huge", MinCount=1, MaxCount=1)
    with pytest.raises(ClientError, match="InvalidAMIID"):
        client.run_instances(
            ImageId="ami-00000000000000000", InstanceType="t3.micro", MinCount=1, MaxCount=1
        )


def test_preview_matches_reports_per_path(moto_server, dev_pool: Pool):
    policy = Policy(pools={"dev": dev_pool})
    ok = request("ok", group())
    bad = request("bad", group(count=9))
    assert preview_matches([ok, bad], policy) == {
        "deployments/dev/ok.yaml": [],
        "deployments/dev/bad.yaml": [
            "pool dev: quota reached (1 running + 9 requested > 5 instances)",
            "dev-euw1: image rhel9 has no AMI in eu-west-1",
        ],
    }


def test_preview_without_credentials_is_skipped(no_aws):
    pool = Pool("dev", providers=(Provider("p", "us-east-1"),), images={"x": {}})
    assert credentials_problem() == NO_CREDENTIALS
    assert preview_matches([request("web", group("x"))], Policy(pools={"dev": pool})) == (
        "instance match skipped: no AWS credentials or endpoint "
        "(set AWS_ENDPOINT_URL or AWS credentials)"
    )


def test_preview_with_unreachable_endpoint_is_skipped(moto_server, monkeypatch):
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    pool = Pool("dev", providers=(Provider("p", "us-east-1"),), images={"x": {}})
    result = match_live([request("web", group("x"))], Policy(pools={"dev": pool}))
    assert isinstance(result, Skipped)
    assert "reading the EC2 catalogue of us-east-1 failed: Could not connect" in result.reason


def test_boto3_is_not_imported_until_needed():
    code = (
        "import sys, launcher.cli, launcher.commands.match, launcher.jobs.match_preview, "
        "launcher.adapters.ec2, launcher.sandbox.moto;"
        "launcher.cli.build_parser();"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
