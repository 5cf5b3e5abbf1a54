"""The IAM documents launcher's roles need, generated from pools.yaml (`launcher iam-policy`).

Why: launcher's rules (which types, regions, images and subnets a pool may use; only tagged
instances are launched or ended) are enforced by launcher's own code, which runs on GitHub.
If GitHub misbehaves (a workflow changed, a token leaked), AWS should still refuse anything
pools.yaml does not allow. So each role's policy names exactly what pools.yaml names:

- RunInstances is authorized once per resource it touches (instance, volume, network
  interface, subnet, security group, image), so each gets its own statement: the instance
  only of the pools' instance types (`StringLike` on their globs) with launcher's tags and
  IMDSv2, the volume only encrypted and tagged, the image only the pools' AMIs of that
  region, the subnets and security groups the providers name (any in the region when a
  provider names none: `launcher doctor` warns);
- CreateTags only as part of RunInstances (`ec2:CreateAction`), or to move
  `launcher:expires-at` on instances and volumes already tagged with a pool;
- TerminateInstances only on instances tagged with one of the pools;
- the launch role may assume exactly the provider roles the pools name, each provider role
  trusts only the launch role, and the read-only role (status, the dashboard, doctor) can
  only describe, through each provider account's read role;
- where a provider names a `scheduler_role` (the expiry backstop), its launching role may
  manage launcher's schedules there and pass only that role, only to EventBridge Scheduler;
  the scheduler role trusts Scheduler of its own account and may only terminate instances
  tagged with a pool.

Pure: `documents(policy, settings)` returns file name -> JSON document; the command writes
or checks them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from launcher.core.model import Policy, Provider

VERSION = "2012-10-17"
LAUNCH_ROLE = "launcher-launch"
READ_ROLE = "launcher-read"
LAUNCH_ENVIRONMENT = "launcher-launch"
OIDC_HOST = "token.actions.githubusercontent.com"
POOL_TAG = "launcher:pool"
REQUIRED_TAGS = ("launcher:deployment", "launcher:commit")
EXPIRES_TAG = "launcher:expires-at"
# What launcher's EC2 adapter reads: the catalogue, the fleet, subnets' zones.
DESCRIBE = (
    "ec2:DescribeAvailabilityZones",
    "ec2:DescribeImages",
    "ec2:DescribeInstanceTypeOfferings",
    "ec2:DescribeInstanceTypes",
    "ec2:DescribeInstances",
    "ec2:DescribeSubnets",
)
# doctor compares the pools' quotas with the accounts' (Service Quotas API).
QUOTAS = ("servicequotas:GetServiceQuota",)
# The workflows whose jobs get the launch role, and the one that gets the read-only role,
# when the OIDC subject includes job_workflow_ref.
LAUNCH_WORKFLOWS = ("launch.yml", "sweep.yml")
READ_WORKFLOWS = ("report.yml",)
MAX_GLOB_EXPANSION = 200  # instance-type patterns one glob may expand to
# The expiry backstop (launcher.core.backstop): one-time EventBridge Scheduler schedules
# named launcher-* in the default group, run as the provider's scheduler_role.
SCHEDULER_SERVICE = "scheduler.amazonaws.com"
SCHEDULE_GROUP = "default"
SCHEDULE_PREFIX = "launcher-"
SCHEDULE_ACTIONS = ("CreateSchedule", "DeleteSchedule", "GetSchedule", "UpdateSchedule")


class IamError(ValueError):
    """pools.yaml names something an IAM policy cannot express without widening it."""


@dataclass(frozen=True)
class Settings:
    """What the documents need beyond pools.yaml: the account of the launch and read-only
    roles, and the OIDC subject's repository part in the form the repository uses
    (``repo:OWNER/REPO`` or the immutable ``repo:OWNER@OWNER_ID/REPO@REPO_ID``; `launcher
    doctor` prints it). Placeholders by default, for the committed, reviewable copy."""

    account: str = "ACCOUNT_ID"
    subject_prefix: str = "repo:OWNER/REPO"
    job_workflow_ref: bool = False  # the subject also carries job_workflow_ref
    branch: str = "main"
    partition: str = "aws"


@dataclass
class _Place:
    """Everything pools.yaml allows in one account (role) and region."""

    pools: set[str] = field(default_factory=set)
    types: set[str] = field(default_factory=set)
    images: set[str] = field(default_factory=set)
    subnets: set[str] | None = field(default_factory=set)  # None: any in the region
    groups: set[str] | None = field(default_factory=set)
    schedulers: set[str] = field(default_factory=set)  # the expiry backstop's roles here


def read_role_arn(role_arn: str) -> str:
    """A provider account's read-only role: the provider role's name + ``-read``."""
    return f"{role_arn}-read"


def expand_glob(pattern: str) -> list[str]:
    """A pools.yaml instance-type glob as IAM `StringLike` patterns (`*` and `?` only).
    Character classes (`[56]`, `[a-c]`, `[!x]`) become one pattern per character, so the
    policy allows exactly what the glob matches, never more."""
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789.-"
    out = [""]
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "[":
            end = pattern.find("]", i + 2)
            if end < 0:
                raise IamError(f"instance type glob {pattern!r}: unclosed [")
            body = pattern[i + 1 : end]
            negate = body.startswith("!")
            body = body[1:] if negate else body
            chosen: set[str] = set()
            j = 0
            while j < len(body):
                if j + 2 < len(body) and body[j + 1] == "-":
                    chosen.update(chr(c) for c in range(ord(body[j]), ord(body[j + 2]) + 1))
                    j += 3
                else:
                    chosen.add(body[j])
                    j += 1
            options = sorted(set(alphabet) - chosen) if negate else sorted(chosen)
            out = [prefix + option for prefix in out for option in options]
            i = end + 1
        else:
            out = [prefix + char for prefix in out]
            i += 1
        if len(out) > MAX_GLOB_EXPANSION:
            raise IamError(f"instance type glob {pattern!r} expands to too many patterns")
    return out


def _camel(text: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", text) if part)


def _places(policy: Policy) -> dict[str | None, dict[str, _Place]]:
    """role ARN (None: the launch role itself) -> region -> what pools.yaml allows there."""
    places: dict[str | None, dict[str, _Place]] = {}
    for pool in policy.pools.values():
        for provider in pool.providers:
            place = places.setdefault(provider.role_arn, {}).setdefault(provider.region, _Place())
            place.pools.add(pool.name)
            for glob in provider.instance_types:
                place.types.update(expand_glob(glob))
            for regions in pool.images.values():
                if provider.region in regions:
                    place.images.add(regions[provider.region])
            place.subnets = _union(place.subnets, provider.subnet_ids)
            place.groups = _union(place.groups, provider.security_group_ids)
            scheduler = scheduler_role_of(provider)
            if scheduler:
                place.schedulers.add(scheduler)
    return places


def scheduler_role_of(provider: Provider) -> str | None:
    """The provider's `scheduler_role` (the expiry backstop's role, in its account), when
    pools.yaml names one."""
    role = getattr(provider, "scheduler_role", None)
    return role if isinstance(role, str) and role else None


def _union(known: set[str] | None, named: tuple[str, ...]) -> set[str] | None:
    return None if known is None or not named else known | set(named)


def unpinned_subnets(policy: Policy) -> list[tuple[str, Provider]]:
    """(pool, provider) whose launches may use any subnet of the region (no subnet_ids)."""
    return [
        (pool.name, provider)
        for pool in policy.pools.values()
        for provider in pool.providers
        if not provider.subnet_ids
    ]


def _ec2(s: Settings, region: str, resource: str) -> str:
    return f"arn:{s.partition}:ec2:{region}:*:{resource}"


def _one(values: Iterable[str]) -> str | list[str]:
    items = sorted(set(values))
    return items[0] if len(items) == 1 else items


def _region_statements(s: Settings, region: str, place: _Place) -> list[dict[str, Any]]:
    sid = _camel(region)
    pools = _one(place.pools)
    tagged = {f"aws:RequestTag/{tag}": "false" for tag in REQUIRED_TAGS}
    statements: list[dict[str, Any]] = [
        {
            "Sid": f"RunInstance{sid}",
            "Effect": "Allow",
            "Action": "ec2:RunInstances",
            "Resource": _ec2(s, region, "instance/*"),
            "Condition": {
                "StringLike": {"ec2:InstanceType": _one(place.types)},
                "StringEquals": {
                    f"aws:RequestTag/{POOL_TAG}": pools,
                    "ec2:MetadataHttpTokens": "required",
                },
                "Null": tagged,
            },
        },
        {
            "Sid": f"RunVolume{sid}",
            "Effect": "Allow",
            "Action": "ec2:RunInstances",
            "Resource": _ec2(s, region, "volume/*"),
            "Condition": {
                "Bool": {"ec2:Encrypted": "true"},
                "StringEquals": {f"aws:RequestTag/{POOL_TAG}": pools},
                "Null": tagged,
            },
        },
        {
            "Sid": f"RunNetworkInterface{sid}",
            "Effect": "Allow",
            "Action": "ec2:RunInstances",
            "Resource": _ec2(s, region, "network-interface/*"),
        },
        {
            "Sid": f"RunSubnet{sid}",
            "Effect": "Allow",
            "Action": "ec2:RunInstances",
            "Resource": _one(
                [_ec2(s, region, "subnet/*")]
                if place.subnets is None
                else [_ec2(s, region, f"subnet/{subnet}") for subnet in place.subnets]
            ),
        },
        {
            "Sid": f"RunSecurityGroup{sid}",
            "Effect": "Allow",
            "Action": "ec2:RunInstances",
            "Resource": _one(
                [_ec2(s, region, "security-group/*")]
                if place.groups is None
                else [_ec2(s, region, f"security-group/{group}") for group in place.groups]
            ),
        },
    ]
    if place.images:
        statements.append(
            {
                "Sid": f"RunImage{sid}",
                "Effect": "Allow",
                "Action": "ec2:RunInstances",
                "Resource": _one(
                    f"arn:{s.partition}:ec2:{region}::image/{image}" for image in place.images
                ),
            }
        )
    tagged_resources = [_ec2(s, region, "instance/*"), _ec2(s, region, "volume/*")]
    statements += [
        {
            "Sid": f"TagOnlyWhileLaunching{sid}",
            "Effect": "Allow",
            "Action": "ec2:CreateTags",
            "Resource": tagged_resources,
            "Condition": {"StringEquals": {"ec2:CreateAction": "RunInstances"}},
        },
        {
            "Sid": f"MoveExpiryOfLauncherResources{sid}",
            "Effect": "Allow",
            "Action": "ec2:CreateTags",
            "Resource": tagged_resources,
            "Condition": {
                "StringEquals": {f"aws:ResourceTag/{POOL_TAG}": pools},
                "ForAllValues:StringEquals": {"aws:TagKeys": [EXPIRES_TAG]},
                "Null": {"aws:TagKeys": "false"},
            },
        },
        {
            "Sid": f"TerminateOnlyLauncherInstances{sid}",
            "Effect": "Allow",
            "Action": "ec2:TerminateInstances",
            "Resource": _ec2(s, region, "instance/*"),
            "Condition": {"StringEquals": {f"aws:ResourceTag/{POOL_TAG}": pools}},
        },
    ]
    if place.schedulers:
        statements.append(
            {
                "Sid": f"ExpiryBackstopSchedules{sid}",
                "Effect": "Allow",
                "Action": [f"scheduler:{action}" for action in SCHEDULE_ACTIONS],
                "Resource": f"arn:{s.partition}:scheduler:{region}:*:schedule/"
                f"{SCHEDULE_GROUP}/{SCHEDULE_PREFIX}*",
            }
        )
    return statements


def _pass_schedulers(regions: Mapping[str, _Place]) -> list[dict[str, Any]]:
    roles = {role for place in regions.values() for role in place.schedulers}
    if not roles:
        return []
    return [
        {
            "Sid": "PassOnlyTheSchedulerRoleToScheduler",
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": _one(roles),
            "Condition": {"StringEquals": {"iam:PassedToService": SCHEDULER_SERVICE}},
        }
    ]


def _scheduler_documents(
    s: Settings, places: Mapping[str | None, Mapping[str, _Place]]
) -> dict[str, dict[str, Any]]:
    """Each scheduler role: trusted by EventBridge Scheduler of its own account only, allowed
    only to terminate instances tagged with a pool that launches there."""
    pools: dict[str, set[str]] = {}
    regions: dict[str, set[str]] = {}
    for per in places.values():
        for region, place in per.items():
            for role in place.schedulers:
                pools.setdefault(role, set()).update(place.pools)
                regions.setdefault(role, set()).add(region)
    out: dict[str, dict[str, Any]] = {}
    for role in sorted(pools):
        account = role.split(":")[4]
        stem = provider_file(role).replace("provider-", "scheduler-", 1)
        out[f"{stem}.json"] = _policy(
            [
                {
                    "Sid": "TerminateOnlyLauncherInstances",
                    "Effect": "Allow",
                    "Action": "ec2:TerminateInstances",
                    "Resource": _one(_ec2(s, r, "instance/*") for r in regions[role]),
                    "Condition": {
                        "StringEquals": {f"aws:ResourceTag/{POOL_TAG}": _one(pools[role])}
                    },
                }
            ]
        )
        out[f"{stem}.trust.json"] = _policy(
            [
                {
                    "Sid": "EventBridgeSchedulerOfThisAccount",
                    "Effect": "Allow",
                    "Principal": {"Service": SCHEDULER_SERVICE},
                    "Action": "sts:AssumeRole",
                    "Condition": {"StringEquals": {"aws:SourceAccount": account}},
                }
            ]
        )
    return out


def _describe(regions: Iterable[str], actions: Iterable[str] = DESCRIBE) -> dict[str, Any]:
    return {
        "Sid": "DescribeInPoolRegions",
        "Effect": "Allow",
        "Action": sorted(actions),
        "Resource": "*",
        "Condition": {"StringEquals": {"aws:RequestedRegion": _one(regions)}},
    }


def _policy(statements: list[dict[str, Any]]) -> dict[str, Any]:
    return {"Version": VERSION, "Statement": statements}


def _write_policy(s: Settings, regions: Mapping[str, _Place]) -> dict[str, Any]:
    statements = [_describe(regions)] if regions else []
    for region in sorted(regions):
        statements += _region_statements(s, region, regions[region])
    return _policy(statements + _pass_schedulers(regions))


def _home_role(s: Settings, name: str) -> str:
    return f"arn:{s.partition}:iam::{s.account}:role/{name}"


def subjects(s: Settings, workflows: Iterable[str]) -> list[str]:
    """The OIDC `sub` values a role trusts: the environment launcher-launch (which only the
    default branch may use), with the workflow file when the subject carries it."""
    base = f"{s.subject_prefix}:environment:{LAUNCH_ENVIRONMENT}"
    if not s.job_workflow_ref:
        return [base]
    repository = re.sub(r"@\d+", "", s.subject_prefix.removeprefix("repo:"))
    return [
        f"{base}:job_workflow_ref:{repository}/.github/workflows/{name}@refs/heads/{s.branch}"
        for name in workflows
    ]


def _oidc_trust(s: Settings, workflows: Iterable[str]) -> dict[str, Any]:
    return _policy(
        [
            {
                "Sid": "GitHubActionsLauncherLaunchEnvironment",
                "Effect": "Allow",
                "Principal": {
                    "Federated": f"arn:{s.partition}:iam::{s.account}:oidc-provider/{OIDC_HOST}"
                },
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        f"{OIDC_HOST}:aud": "sts.amazonaws.com",
                        f"{OIDC_HOST}:sub": _one(subjects(s, workflows)),
                    }
                },
            }
        ]
    )


def _role_trust(principal: str, sid: str) -> dict[str, Any]:
    return _policy(
        [
            {
                "Sid": sid,
                "Effect": "Allow",
                "Principal": {"AWS": principal},
                "Action": "sts:AssumeRole",
            }
        ]
    )


def provider_file(role_arn: str) -> str:
    """``provider-<account>-<role name>``: one file stem per provider role."""
    account = role_arn.split(":")[4]
    name = role_arn.split(":role/", 1)[1].replace("/", "-")
    return f"provider-{account}-{name}"


def documents(policy: Policy, s: Settings | None = None) -> dict[str, dict[str, Any]]:
    """File name -> IAM document, for every role pools.yaml needs (`*.trust.json` are the
    trust policies, the others the roles' permission policies)."""
    s = s or Settings()
    places = _places(policy)
    provider_roles = sorted(arn for arn in places if arn is not None)
    launch = _write_policy(s, places.get(None, {}))
    if provider_roles:
        launch["Statement"].append(
            {
                "Sid": "AssumeTheProviderRolesThePoolsName",
                "Effect": "Allow",
                "Action": "sts:AssumeRole",
                "Resource": _one(provider_roles),
            }
        )
    home_regions = sorted(places.get(None, {}))
    read_statements = [_describe(home_regions, DESCRIBE + QUOTAS)] if home_regions else []
    if provider_roles:
        read_statements.append(
            {
                "Sid": "AssumeTheProviderReadRoles",
                "Effect": "Allow",
                "Action": "sts:AssumeRole",
                "Resource": _one(read_role_arn(arn) for arn in provider_roles),
            }
        )
    out: dict[str, dict[str, Any]] = {
        "launch-role.json": launch,
        "launch-role.trust.json": _oidc_trust(s, LAUNCH_WORKFLOWS),
        "read-role.json": _policy(read_statements),
        "read-role.trust.json": _oidc_trust(s, READ_WORKFLOWS),
    }
    for arn in provider_roles:
        stem = provider_file(arn)
        regions = places[arn]
        out[f"{stem}.json"] = _write_policy(s, regions)
        out[f"{stem}.trust.json"] = _role_trust(_home_role(s, LAUNCH_ROLE), "TheLaunchRole")
        out[f"{stem}-read.json"] = _policy([_describe(regions, DESCRIBE + QUOTAS)])
        out[f"{stem}-read.trust.json"] = _role_trust(_home_role(s, READ_ROLE), "TheReadRole")
    out.update(_scheduler_documents(s, places))
    return dict(sorted(out.items()))


def render(document: Mapping[str, Any]) -> str:
    """One document as committed: indented JSON, a final newline."""
    return json.dumps(document, indent=2) + "\n"
