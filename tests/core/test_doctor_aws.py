"""doctor's AWS lines: providers without subnets, and the pools' vCPU quotas against EC2's."""

from __future__ import annotations

from launcher.core.doctor_aws import (
    backstop_lines,
    classes_of,
    quota_lines,
    subnet_lines,
    wanted,
)
from launcher.core.documents import load_policy
from launcher.core.model import Policy

POOLS = b"""
version: 1
admins: ["@acme/platform"]
pools:
  dev:
    permissions: {create: [alice]}
    quota: {vcpus: 64}
    providers:
      - {name: dev-use1, region: us-east-1, instance_types: ["t3.*", "m6i.*"],
         subnet_ids: [subnet-0aaa]}
      - {name: dev-euw1, region: eu-west-1, instance_types: ["t3.*"]}
  gpu:
    permissions: {create: [alice]}
    quota: {vcpus: 96}
    providers:
      - {name: gpu-use1, region: us-east-1, instance_types: ["g5.*", "m6i.*"],
         subnet_ids: [subnet-0bbb]}
  prod:
    permissions: {create: [carol]}
    providers:
      - name: prod-use1
        region: us-east-1
        instance_types: ["c6i.*"]
        role_arn: arn:aws:iam::210987654321:role/launcher
        subnet_ids: [subnet-0ccc]
"""
STANDARD, GVT = "L-1216C47A", "L-DB2E81BA"
PROD = "arn:aws:iam::210987654321:role/launcher"


def policy() -> Policy:
    loaded, problems = load_policy(POOLS)
    assert loaded is not None, problems
    return loaded


def test_instance_type_globs_count_against_their_familys_quota() -> None:
    def codes(glob: str) -> list[str]:
        return [q.code for q in classes_of(glob)]

    assert codes("t3.*") == [STANDARD]
    assert codes("m6i.large") == [STANDARD]
    assert codes("g4dn.*") == [GVT]
    assert codes("vt1.*") == [GVT]
    assert codes("inf2.*") == ["L-1945791B"]
    assert codes("p5.48xlarge") == ["L-417A185B"]
    assert codes("[gp]5.*") == [GVT, "L-417A185B"]
    assert len(codes("*")) == 10  # any type: every vCPU quota


def test_every_family_of_the_ec2_user_guide_counts_against_its_own_quota() -> None:
    """Codes as the EC2 User Guide's "On-Demand Instance quotas" table lists them."""

    def codes(glob: str) -> list[str]:
        return [q.code for q in classes_of(glob)]

    assert codes("f2.*") == ["L-74FC7D96"]
    assert codes("x2iedn.*") == ["L-7295265B"]
    assert codes("inf1.xlarge") == ["L-1945791B"]
    assert codes("dl1.24xlarge") == ["L-6E869C2A"]
    assert codes("trn1n.*") == ["L-2C3B7624"]
    assert codes("hpc7g.*") == ["L-F7808C92"]  # not the Standard quota of H
    assert codes("u-6tb1.metal") == codes("u7i-12tb.224xlarge") == ["L-43DA4232"]
    assert codes("im4gn.*") == codes("is4gen.*") == [STANDARD]  # I family
    assert codes("gr6.*") == [GVT]
    assert codes("h*") == [STANDARD, "L-F7808C92"]  # h1 or hpc: both could
    assert codes("mac2.metal") == []  # Dedicated Hosts: no vCPU quota


def test_pools_are_summed_per_account_region_and_quota() -> None:
    assert wanted(policy()) == {
        (None, "us-east-1"): {STANDARD: [("dev", 64), ("gpu", 96)], GVT: [("gpu", 96)]},
        (None, "eu-west-1"): {STANDARD: [("dev", 64)]},
        (PROD, "us-east-1"): {STANDARD: [("prod", None)]},
    }


def test_warns_when_the_pools_allow_more_than_ec2() -> None:
    readings: dict[tuple[tuple[str | None, str], str], float | str] = {
        ((None, "us-east-1"), STANDARD): 128.0,  # dev 64 + gpu 96 = 160 > 128
        ((None, "us-east-1"), GVT): 96.0,  # gpu 96: within
        ((None, "eu-west-1"), STANDARD): 1152.0,
        ((PROD, "us-east-1"), STANDARD): "AccessDenied: not authorized",
    }
    lines = {line.name: line for line in quota_lines(policy(), readings)}
    over = lines[
        "EC2 vCPU quota in the launch role's account us-east-1: Running On-Demand Standard "
        "(A, C, D, H, I, M, R, T, Z) instances (L-1216C47A)"
    ]
    assert over.ok and over.warning
    assert "the pools allow 160 vCPUs here (dev 64, gpu 96), EC2 allows 128" in over.found
    assert "VcpuLimitExceeded" in over.found
    within = lines[
        "EC2 vCPU quota in the launch role's account us-east-1: Running On-Demand G and VT "
        "instances (L-DB2E81BA)"
    ]
    assert within.ok and not within.warning
    assert within.found.startswith("EC2 allows 96 vCPUs, the pools at most 96 (gpu 96)")
    unread = [line for name, line in lines.items() if name.startswith("EC2 vCPU quota in 2109")]
    assert [line.found for line in unread] == ["cannot read it (AccessDenied: not authorized)"]
    assert unread[0].warning
    rendered = over.render().splitlines()
    assert rendered[0].startswith("warn EC2 vCPU quota") and rendered[1].startswith("     fix: ")


def test_a_pool_without_a_vcpu_quota_is_unlimited_against_any_ec2_quota() -> None:
    readings = {((PROD, "us-east-1"), STANDARD): 10000.0}
    [line] = [
        line
        for line in quota_lines(policy(), readings)
        if line.name.startswith("EC2 vCPU quota in 2109")
    ]
    assert line.warning
    assert line.found.startswith("the pools allow no limit here (prod unlimited), EC2 allows 10000")


def test_a_provider_without_subnet_ids_is_warned() -> None:
    lines = {line.name: line for line in subnet_lines(policy())}
    assert not lines["subnets of dev/dev-use1"].warning
    assert lines["subnets of dev/dev-euw1"].warning
    assert "any subnet in eu-west-1" in lines["subnets of dev/dev-euw1"].found


def test_a_provider_without_a_scheduler_role_is_warned_no_backstop() -> None:
    text = POOLS.replace(
        b'instance_types: ["g5.*", "m6i.*"],',
        b'instance_types: ["g5.*", "m6i.*"],\n'
        b'         scheduler_role: "arn:aws:iam::123456789012:role/launcher-scheduler",',
    )
    loaded, problems = load_policy(text)
    assert loaded is not None, problems
    lines = {line.name: line for line in backstop_lines(loaded, "config/pools.yaml")}
    assert sorted(lines) == [
        "expiry backstop of dev/dev-euw1",
        "expiry backstop of dev/dev-use1",
        "expiry backstop of gpu/gpu-use1",
        "expiry backstop of prod/prod-use1",
    ]
    held = lines["expiry backstop of gpu/gpu-use1"]
    assert held.ok and not held.warning and "role/launcher-scheduler" in held.found
    warned = lines["expiry backstop of prod/prod-use1"]
    assert warned.ok and warned.warning  # a warning: launcher works, the sweep alone ends them
    assert warned.render() == (
        "warn expiry backstop of prod/prod-use1: config/pools.yaml: pool prod, provider "
        "prod-use1 has no scheduler_role: no expiry backstop on AWS, its instances rely on the "
        "sweep alone to end at max_runtime\n"
        "     fix: give provider prod-use1 of pool prod a scheduler_role in config/pools.yaml "
        "(a role in its account that EventBridge Scheduler assumes to terminate instances: "
        'docs/launch.md, "The scheduler role"), then run `launcher iam-policy` and create that '
        "role from the document it writes"
    )
    assert lines["expiry backstop of dev/dev-euw1"].warning
