"""The generated read-only role on moto with IAM authorization on: launching and terminating
are refused by AWS itself, not by launcher's code.

moto judges actions only (every EC2 request is checked against resource `*`, conditions are
not evaluated), so this shows what the read-only role's actions allow; the conditions are
judged by the hand-written table in tests/core/test_iam_policy.py. (For the same reason the
launch role's statements, which name resource ARNs, are all refused by moto: it is not tried
here, and no policy is widened to make it pass.) DescribeInstances going through shows the
refusals come from the document, not from authorization refusing everything.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from launcher.sandbox.moto import MotoServer, default_image, launch_tagged

IAM_DIR = Path(__file__).resolve().parents[2] / "iam"
ACCOUNT = "123456789012"  # moto's default account


def role_client(role: str, policy_file: str) -> Any:
    """An EC2 client holding the credentials of a role whose permissions are the committed
    document `policy_file`, exactly as generated (never widened for the test)."""
    iam = boto3.client("iam", region_name="us-east-1")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(trust))
    iam.put_role_policy(
        RoleName=role,
        PolicyName=policy_file,
        PolicyDocument=(IAM_DIR / policy_file).read_text(),
    )
    creds = boto3.client("sts", region_name="us-east-1").assume_role(
        RoleArn=f"arn:aws:iam::{ACCOUNT}:role/{role}", RoleSessionName="test"
    )["Credentials"]
    return boto3.client(
        "ec2",
        region_name="us-east-1",
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )


def refused(call: Any, **kwargs: Any) -> str:
    with pytest.raises(ClientError) as error:
        call(**kwargs)
    code = str(error.value.response["Error"]["Code"])
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403, code
    return code


def test_the_read_only_role_cannot_launch_or_terminate(moto_server: MotoServer) -> None:
    ec2 = boto3.client("ec2", region_name="us-east-1")
    image = default_image(ec2, "x86_64")
    [instance] = launch_tagged(ec2, "dev", "web", image_id=image)
    read = role_client("launcher-read", "read-role.json")
    import moto.settings

    saved = moto.settings.INITIAL_NO_AUTH_ACTION_COUNT
    moto.settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
    try:
        # what it is for still works: the fleet view
        listed = read.describe_instances(InstanceIds=[instance])["Reservations"]
        assert [i["InstanceId"] for r in listed for i in r["Instances"]] == [instance]
        assert "AccessDenied" in refused(
            read.run_instances, ImageId=image, InstanceType="t3.micro", MinCount=1, MaxCount=1
        )
        assert "AccessDenied" in refused(read.terminate_instances, InstanceIds=[instance])
        assert "AccessDenied" in refused(
            read.create_tags,
            Resources=[instance],
            Tags=[{"Key": "launcher:expires-at", "Value": "x"}],
        )
    finally:
        moto.settings.INITIAL_NO_AUTH_ACTION_COUNT = saved
    state = ec2.describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0]
    assert state["State"]["Name"] == "running"


def test_reading_only_reaches_provider_accounts_through_their_read_roles(
    moto_server: MotoServer,
) -> None:
    """status and the dashboard (LAUNCHER_AWS_READ_ROLES=true in report.yml) assume a
    provider's `-read` role, which the read-only role may assume, never the launching one."""
    from launcher.adapters.ec2 import EC2

    role = "arn:aws:iam::210987654321:role/launcher"
    for read_roles, name in ((True, "launcher-read"), (False, "launcher")):
        who = EC2(read_roles=read_roles).session(role).client("sts", region_name="us-east-1")
        arn = who.get_caller_identity()["Arn"]
        assert arn.startswith(f"arn:aws:sts::210987654321:assumed-role/{name}/"), arn
