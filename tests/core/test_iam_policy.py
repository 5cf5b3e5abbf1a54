# ruff: noqa: E501 - the table reads best one request per line
"""The generated IAM documents, judged request by request by a hand-written table.

Every row below was written by hand from pools.yaml's meaning (which types, regions, images,
subnets and security groups each pool allows; only launcher-tagged instances are launched,
retagged or ended), not from the generator's code; `tests/iam_eval.py` evaluates each
request's authorization checks against the generated statements as AWS documents it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import pytest

from launcher.core.documents import load_policy
from launcher.core.iam import IamError, Settings, documents, expand_glob, subjects
from tests.iam_eval import (
    Check,
    allows_all,
    assume,
    create_tags,
    describe,
    run_instances,
    terminate,
)
from tests.iam_lint import lint_documents

POOLS = b"""
version: 1
admins: ["@acme/platform"]
pools:
  dev:
    permissions: {create: [alice]}
    providers:
      - name: dev-use1
        region: us-east-1
        instance_types: ["t3.*", "m[56]i.large"]
        subnet_ids: [subnet-0aaa]
        security_group_ids: [sg-0aaa]
      - name: dev-euw1
        region: eu-west-1
        instance_types: ["t3.*"]
    images:
      rhel9: {us-east-1: ami-0000000000000aaaa, eu-west-1: ami-0000000000000bbbb}
  prod:
    permissions: {create: ["@acme/platform"]}
    providers:
      - name: prod-use1
        region: us-east-1
        instance_types: ["c6i.*"]
        role_arn: arn:aws:iam::210987654321:role/launcher-prod
        subnet_ids: [subnet-0ccc]
        security_group_ids: [sg-0ccc]
    images:
      amzn2: {us-east-1: ami-0000000000000cccc}
"""
PROVIDER = "arn:aws:iam::210987654321:role/launcher-prod"
PROD_ACCOUNT = "210987654321"
DEV_TAGS = {
    "launcher:pool": "dev",
    "launcher:deployment": "dev/web",
    "launcher:commit": "0123abc",
    "launcher:group": "web",
}
PROD_TAGS = {**DEV_TAGS, "launcher:pool": "prod", "launcher:deployment": "prod/api"}


@pytest.fixture(scope="module")
def docs() -> dict[str, dict[str, Any]]:
    policy, problems = load_policy(POOLS)
    assert policy is not None, problems
    return documents(policy)


def use1(**changes: Any) -> list[Check]:
    """An allowed dev launch in us-east-1, with `changes`."""
    args: dict[str, Any] = {
        "instance_type": "t3.medium",
        "image": "ami-0000000000000aaaa",
        "subnet": "subnet-0aaa",
        "security_groups": ["sg-0aaa"],
        "tags": DEV_TAGS,
    }
    args.update(changes)
    region = args.pop("region", "us-east-1")
    return run_instances(region, **args)


def euw1(**changes: Any) -> list[Check]:
    args: dict[str, Any] = {
        "instance_type": "t3.small",
        "image": "ami-0000000000000bbbb",
        "subnet": "subnet-0e1e1e1e",
        "security_groups": [],
        "tags": DEV_TAGS,
    }
    args.update(changes)
    return run_instances("eu-west-1", **args)


def prod(**changes: Any) -> list[Check]:
    args: dict[str, Any] = {
        "instance_type": "c6i.large",
        "image": "ami-0000000000000cccc",
        "subnet": "subnet-0ccc",
        "security_groups": ["sg-0ccc"],
        "tags": PROD_TAGS,
        "account": PROD_ACCOUNT,
    }
    args.update(changes)
    return run_instances("us-east-1", **args)


LAUNCH = "launch-role.json"
PROD_ROLE = "provider-210987654321-launcher-prod.json"
READ = "read-role.json"
PROD_READ = "provider-210987654321-launcher-prod-read.json"

# (what, role document, request checks, allowed?)
TABLE: Sequence[tuple[str, str, Callable[[], list[Check]], bool]] = [
    ("dev launch as pools.yaml allows", LAUNCH, lambda: use1(), True),
    ("type matching a character class m[56]i", LAUNCH, lambda: use1(instance_type="m5i.large"), True),
    ("type outside the class (m7i)", LAUNCH, lambda: use1(instance_type="m7i.large"), False),
    ("m6i.xlarge: the glob is m[56]i.large only", LAUNCH, lambda: use1(instance_type="m6i.xlarge"), False),
    ("a GPU type no dev provider names", LAUNCH, lambda: use1(instance_type="g5.xlarge"), False),
    ("a region no provider names", LAUNCH, lambda: use1(region="ap-south-1", image="ami-0000000000000aaaa", subnet=None, security_groups=[]), False),
    ("eu-west-1 with its own AMI, any subnet (no subnet_ids)", LAUNCH, lambda: euw1(), True),
    ("eu-west-1 with us-east-1's AMI", LAUNCH, lambda: euw1(image="ami-0000000000000aaaa"), False),
    ("us-east-1 with eu-west-1's AMI", LAUNCH, lambda: use1(image="ami-0000000000000bbbb"), False),
    ("an AMI no pool names", LAUNCH, lambda: use1(image="ami-0deadbeefdeadbeef"), False),
    ("a subnet the provider does not name", LAUNCH, lambda: use1(subnet="subnet-0bbb"), False),
    ("a security group the provider does not name", LAUNCH, lambda: use1(security_groups=["sg-0aaa", "sg-0bbb"]), False),
    ("an untagged launch", LAUNCH, lambda: use1(tags={}), False),
    ("tagged with a pool but no deployment tag", LAUNCH, lambda: use1(tags={"launcher:pool": "dev", "launcher:commit": "0123abc"}), False),
    ("tagged for a pool this account does not serve", LAUNCH, lambda: use1(tags={**DEV_TAGS, "launcher:pool": "prod"}), False),
    ("an unencrypted volume", LAUNCH, lambda: use1(encrypted=False), False),
    ("IMDSv1 allowed", LAUNCH, lambda: use1(http_tokens="optional"), False),
    ("prod's type in the launch role's own account", LAUNCH, lambda: use1(instance_type="c6i.large"), False),
    ("CreateTags outside RunInstances", LAUNCH, lambda: create_tags("us-east-1", "i-0123", {"Name": "x"}, DEV_TAGS), False),
    ("CreateTags a pool tag onto an untagged instance", LAUNCH, lambda: create_tags("us-east-1", "i-0123", {"launcher:pool": "dev"}, {}), False),
    ("moving launcher:expires-at on a launcher instance", LAUNCH, lambda: create_tags("us-east-1", "i-0123", {"launcher:expires-at": "2026-12-01T00:00:00Z"}, DEV_TAGS), True),
    ("expires-at together with another tag", LAUNCH, lambda: create_tags("us-east-1", "i-0123", {"launcher:expires-at": "x", "launcher:pool": "prod"}, DEV_TAGS), False),
    ("expires-at on an untagged instance", LAUNCH, lambda: create_tags("us-east-1", "i-0123", {"launcher:expires-at": "x"}, {}), False),
    ("terminating a launcher instance", LAUNCH, lambda: terminate("eu-west-1", "i-0123", DEV_TAGS), True),
    ("terminating an untagged instance", LAUNCH, lambda: terminate("us-east-1", "i-0123", {}), False),
    ("terminating another pool's tag value", LAUNCH, lambda: terminate("us-east-1", "i-0123", {"launcher:pool": "qa"}), False),
    ("terminating in a region no provider names", LAUNCH, lambda: terminate("ap-south-1", "i-0123", DEV_TAGS), False),
    ("assuming the provider role pools.yaml names", LAUNCH, lambda: assume(PROVIDER), True),
    ("assuming that role name in another account", LAUNCH, lambda: assume("arn:aws:iam::999999999999:role/launcher-prod"), False),
    ("assuming any other launcher-provider-* role", LAUNCH, lambda: assume("arn:aws:iam::210987654321:role/launcher-provider-x"), False),
    ("prod launch through its provider role", PROD_ROLE, lambda: prod(), True),
    ("a dev type through prod's provider role", PROD_ROLE, lambda: prod(instance_type="t3.micro"), False),
    ("dev's tags through prod's provider role", PROD_ROLE, lambda: prod(tags=DEV_TAGS), False),
    ("the read-only role describes instances", READ, lambda: describe("ec2:DescribeInstances", "us-east-1"), True),
    ("the read-only role outside the pools' regions", READ, lambda: describe("ec2:DescribeInstances", "ap-south-1"), False),
    ("the read-only role launching", READ, lambda: use1(), False),
    ("the read-only role terminating", READ, lambda: terminate("us-east-1", "i-0123", DEV_TAGS), False),
    ("the read-only role retagging expiry", READ, lambda: create_tags("us-east-1", "i-0123", {"launcher:expires-at": "x"}, DEV_TAGS), False),
    ("the read-only role assuming the writing provider role", READ, lambda: assume(PROVIDER), False),
    ("the read-only role assuming the provider's read role", READ, lambda: assume(PROVIDER + "-read"), True),
    ("a provider read role terminating", PROD_READ, lambda: terminate("us-east-1", "i-0123", PROD_TAGS, PROD_ACCOUNT), False),
    ("a provider read role reading the vCPU quota", PROD_READ, lambda: describe("servicequotas:GetServiceQuota", "us-east-1"), True),
]  # fmt: skip


@pytest.mark.parametrize(("what", "role", "request_", "expected"), TABLE, ids=[r[0] for r in TABLE])
def test_each_request_is_allowed_or_denied_as_pools_yaml_says(
    docs: dict[str, dict[str, Any]],
    what: str,
    role: str,
    request_: Callable[[], list[Check]],
    expected: bool,
) -> None:
    assert allows_all(docs[role], request_()) is expected, what


@pytest.mark.parametrize(
    "resource",
    ["instance/", "volume/", "network-interface/", "subnet/", "security-group/", "image/"],
)
def test_run_instances_needs_each_of_its_resources_allowed_on_its_own(
    docs: dict[str, dict[str, Any]], resource: str
) -> None:
    """Without the statements allowing one resource type, the allowed launch is refused:
    no statement lets a resource through on another's behalf."""
    launch = docs[LAUNCH]
    assert allows_all(launch, use1())

    def names(statement: dict[str, Any]) -> bool:
        resources = statement["Resource"]
        resources = [resources] if isinstance(resources, str) else resources
        return statement["Action"] == "ec2:RunInstances" and any(
            f":{resource}" in r for r in resources
        )

    kept = [s for s in launch["Statement"] if not names(s)]
    assert len(kept) < len(launch["Statement"])
    assert not allows_all({**launch, "Statement": kept}, use1())


def test_every_statement_has_a_unique_id(docs: dict[str, dict[str, Any]]) -> None:
    for name, doc in docs.items():
        sids = [s["Sid"] for s in doc["Statement"]]
        assert len(sids) == len(set(sids)), name
        assert all(sid.isalnum() for sid in sids), name


def test_each_provider_role_trusts_only_the_launch_role_and_its_read_role_only_the_read_role(
    docs: dict[str, dict[str, Any]],
) -> None:
    assert set(docs) == {
        "launch-role.json",
        "launch-role.trust.json",
        "read-role.json",
        "read-role.trust.json",
        "provider-210987654321-launcher-prod.json",
        "provider-210987654321-launcher-prod.trust.json",
        "provider-210987654321-launcher-prod-read.json",
        "provider-210987654321-launcher-prod-read.trust.json",
    }
    [trust] = docs["provider-210987654321-launcher-prod.trust.json"]["Statement"]
    assert trust["Principal"] == {"AWS": "arn:aws:iam::ACCOUNT_ID:role/launcher-launch"}
    [trust] = docs["provider-210987654321-launcher-prod-read.trust.json"]["Statement"]
    assert trust["Principal"] == {"AWS": "arn:aws:iam::ACCOUNT_ID:role/launcher-read"}


def test_the_oidc_trust_pins_the_launch_environment_in_either_subject_form() -> None:
    policy, _ = load_policy(POOLS)
    assert policy is not None
    classic = documents(policy, Settings(account="123456789012", subject_prefix="repo:acme/infra"))
    [statement] = classic["launch-role.trust.json"]["Statement"]
    assert statement["Principal"]["Federated"] == (
        "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
    )
    assert statement["Condition"]["StringEquals"] == {
        "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
        "token.actions.githubusercontent.com:sub": "repo:acme/infra:environment:launcher-launch",
    }
    immutable = Settings(subject_prefix="repo:acme@1001/infra@2002", job_workflow_ref=True)
    assert subjects(immutable, ["launch.yml"]) == [
        "repo:acme@1001/infra@2002:environment:launcher-launch:job_workflow_ref:"
        "acme/infra/.github/workflows/launch.yml@refs/heads/main"
    ]
    docs = documents(policy, immutable)
    launch_subs = docs["launch-role.trust.json"]["Statement"][0]["Condition"]["StringEquals"]
    read_subs = docs["read-role.trust.json"]["Statement"][0]["Condition"]["StringEquals"]
    key = "token.actions.githubusercontent.com:sub"
    assert [s.split("/.github/workflows/")[1] for s in launch_subs[key]] == [
        "launch.yml@refs/heads/main",
        "sweep.yml@refs/heads/main",
    ]
    assert read_subs[key].endswith("/report.yml@refs/heads/main")


def test_globs_become_iam_patterns_that_match_no_more_than_the_glob() -> None:
    assert expand_glob("t3.*") == ["t3.*"]
    assert expand_glob("m[56]i.?large") == ["m5i.?large", "m6i.?large"]
    assert expand_glob("c[5-7].large") == ["c5.large", "c6.large", "c7.large"]
    with pytest.raises(IamError):
        expand_glob("[a-z][a-z][a-z].large")


# -- the expiry backstop's scheduler role ----------------------------------------------------
SCHEDULER = "arn:aws:iam::210987654321:role/launcher-scheduler"


@pytest.fixture(scope="module")
def backstopped() -> dict[str, dict[str, Any]]:
    policy, _ = load_policy(POOLS)
    assert policy is not None
    prod_pool = policy.pools["prod"]
    [provider] = prod_pool.providers
    pools = {
        **policy.pools,
        "prod": replace(prod_pool, providers=(replace(provider, scheduler_role=SCHEDULER),)),
    }
    return documents(replace(policy, pools=pools))


def schedule(region: str, name: str, group: str = "default") -> list[Check]:
    arn = f"arn:aws:scheduler:{region}:{PROD_ACCOUNT}:schedule/{group}/{name}"
    return [Check("scheduler:CreateSchedule", arn, {"aws:RequestedRegion": region})]


def pass_role(role: str, service: str) -> list[Check]:
    return [Check("iam:PassRole", role, {"iam:PassedToService": service})]


SCHEDULER_DOC = "scheduler-210987654321-launcher-scheduler.json"
SCHEDULER_TABLE: Sequence[tuple[str, str, Callable[[], list[Check]], bool]] = [
    ("a launcher schedule where prod launches", PROD_ROLE, lambda: schedule("us-east-1", "launcher-prod.api-0123456789abcdef"), True),
    ("a schedule not named launcher-*", PROD_ROLE, lambda: schedule("us-east-1", "nightly-cleanup"), False),
    ("a launcher schedule in another group", PROD_ROLE, lambda: schedule("us-east-1", "launcher-x", group="ops"), False),
    ("a launcher schedule in a region prod does not use", PROD_ROLE, lambda: schedule("eu-west-1", "launcher-x"), False),
    ("passing the scheduler role to Scheduler", PROD_ROLE, lambda: pass_role(SCHEDULER, "scheduler.amazonaws.com"), True),
    ("passing the scheduler role to EC2", PROD_ROLE, lambda: pass_role(SCHEDULER, "ec2.amazonaws.com"), False),
    ("passing another role to Scheduler", PROD_ROLE, lambda: pass_role("arn:aws:iam::210987654321:role/admin", "scheduler.amazonaws.com"), False),
    ("the launch role's own account has no scheduler role", LAUNCH, lambda: pass_role(SCHEDULER, "scheduler.amazonaws.com"), False),
    ("the scheduler role ends a prod instance", SCHEDULER_DOC, lambda: terminate("us-east-1", "i-0123", PROD_TAGS, PROD_ACCOUNT), True),
    ("the scheduler role ends an untagged instance", SCHEDULER_DOC, lambda: terminate("us-east-1", "i-0123", {}, PROD_ACCOUNT), False),
    ("the scheduler role ends another pool's instance", SCHEDULER_DOC, lambda: terminate("us-east-1", "i-0123", DEV_TAGS, PROD_ACCOUNT), False),
    ("the scheduler role launching", SCHEDULER_DOC, lambda: prod(), False),
]  # fmt: skip


@pytest.mark.parametrize(
    ("what", "role", "request_", "expected"), SCHEDULER_TABLE, ids=[r[0] for r in SCHEDULER_TABLE]
)
def test_the_backstops_requests_are_allowed_or_denied_as_pools_yaml_says(
    backstopped: dict[str, dict[str, Any]],
    what: str,
    role: str,
    request_: Callable[[], list[Check]],
    expected: bool,
) -> None:
    assert allows_all(backstopped[role], request_()) is expected, what


def test_the_scheduler_role_trusts_only_scheduler_of_its_own_account(
    backstopped: dict[str, dict[str, Any]],
) -> None:
    [trust] = backstopped["scheduler-210987654321-launcher-scheduler.trust.json"]["Statement"]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": PROD_ACCOUNT}}


def test_parliament_finds_nothing_in_the_backstops_documents(
    backstopped: dict[str, dict[str, Any]],
) -> None:
    pytest.importorskip("parliament")
    assert lint_documents(backstopped) == []
