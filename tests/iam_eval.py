"""A small IAM policy evaluator for tests: does an identity policy allow one request?

Written from AWS's documented evaluation logic, independently of launcher's generator, so the
generated policies are judged by rules the generator does not share: an explicit Deny wins,
else any Allow whose Action, Resource and every Condition match, else an implicit deny.
Actions match case-insensitively, resources case-sensitively, both with `*` and `?`.
Condition operators: StringEquals, StringLike, Bool, Null and ForAllValues:StringEquals (the
ones launcher's documents use); anything else raises, so a new operator cannot pass unjudged.

EC2 authorizes RunInstances once per resource it touches (instance, volume, network
interface, subnet, security group, image), and the CreateTags its TagSpecifications imply:
`run_instances` builds those checks, and the request is allowed only when all of them are.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

ACCOUNT = "111111111111"

Context = Mapping[str, str | Sequence[str]]


@dataclass(frozen=True)
class Check:
    action: str
    resource: str
    context: Context = field(default_factory=dict)


def _wildcard(pattern: str, value: str, *, case: bool = True) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, 0 if case else re.IGNORECASE) is not None


def _list(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _condition(operator: str, key: str, wanted: Any, context: Context) -> bool:
    present = key in context
    values = _list(context[key]) if present else []
    wanted_values = _list(wanted)
    if operator == "Null":
        # "true": the key must be absent; "false": present.
        return (not present) if wanted_values == ["true"] else present
    if operator == "ForAllValues:StringEquals":
        return all(v in wanted_values for v in values)  # true when absent, as in AWS
    if not present:
        return False
    if operator == "StringEquals":
        return any(v == w for v in values for w in wanted_values)
    if operator == "StringLike":
        return any(_wildcard(w, v) for v in values for w in wanted_values)
    if operator == "Bool":
        return any(v.lower() == w.lower() for v in values for w in wanted_values)
    raise NotImplementedError(f"condition operator {operator}")


def _matches(statement: Mapping[str, Any], check: Check) -> bool:
    if not any(_wildcard(a, check.action, case=False) for a in _list(statement.get("Action", []))):
        return False
    if not any(_wildcard(r, check.resource) for r in _list(statement.get("Resource", []))):
        return False
    for operator, keys in (statement.get("Condition") or {}).items():
        for key, wanted in keys.items():
            if not _condition(operator, key, wanted, check.context):
                return False
    return True


def allowed(policy: Mapping[str, Any], check: Check) -> bool:
    statements = policy["Statement"]
    if any(s["Effect"] == "Deny" and _matches(s, check) for s in statements):
        return False
    return any(s["Effect"] == "Allow" and _matches(s, check) for s in statements)


def allows_all(policy: Mapping[str, Any], checks: Sequence[Check]) -> bool:
    return all(allowed(policy, check) for check in checks)


def _region_context(region: str) -> dict[str, str]:
    return {"ec2:Region": region, "aws:RequestedRegion": region}


def run_instances(
    region: str,
    *,
    instance_type: str,
    image: str,
    subnet: str | None,
    security_groups: Sequence[str],
    tags: Mapping[str, str],
    encrypted: bool = True,
    http_tokens: str = "required",
    account: str = ACCOUNT,
) -> list[Check]:
    """The authorization checks of one RunInstances call with tags on instance and volume."""
    base = _region_context(region)
    request_tags: dict[str, str | Sequence[str]] = {
        f"aws:RequestTag/{k}": v for k, v in tags.items()
    }
    if tags:
        request_tags["aws:TagKeys"] = list(tags)
    ec2 = f"arn:aws:ec2:{region}:{account}"
    checks = [
        Check(
            "ec2:RunInstances",
            f"{ec2}:instance/*",
            {
                **base,
                **request_tags,
                "ec2:InstanceType": instance_type,
                "ec2:MetadataHttpTokens": http_tokens,
            },
        ),
        Check(
            "ec2:RunInstances",
            f"{ec2}:volume/*",
            {**base, **request_tags, "ec2:Encrypted": "true" if encrypted else "false"},
        ),
        Check("ec2:RunInstances", f"{ec2}:network-interface/*", base),
        Check("ec2:RunInstances", f"arn:aws:ec2:{region}::image/{image}", base),
        *(Check("ec2:RunInstances", f"{ec2}:security-group/{sg}", base) for sg in security_groups),
    ]
    # Without a subnet EC2 picks the default VPC's subnet in the zone: still a subnet check.
    checks.append(Check("ec2:RunInstances", f"{ec2}:subnet/{subnet or 'subnet-default'}", base))
    if tags:
        tagging = {**base, **request_tags, "ec2:CreateAction": "RunInstances"}
        checks += [
            Check("ec2:CreateTags", f"{ec2}:instance/*", tagging),
            Check("ec2:CreateTags", f"{ec2}:volume/*", tagging),
        ]
    return checks


def create_tags(
    region: str,
    instance_id: str,
    tags: Mapping[str, str],
    resource_tags: Mapping[str, str],
    account: str = ACCOUNT,
) -> list[Check]:
    """CreateTags on an existing instance (no ec2:CreateAction: not part of a launch)."""
    context: dict[str, str | Sequence[str]] = {
        **_region_context(region),
        **{f"aws:RequestTag/{k}": v for k, v in tags.items()},
        **{f"aws:ResourceTag/{k}": v for k, v in resource_tags.items()},
        **{f"ec2:ResourceTag/{k}": v for k, v in resource_tags.items()},
        "aws:TagKeys": list(tags),
    }
    arn = f"arn:aws:ec2:{region}:{account}:instance/{instance_id}"
    return [Check("ec2:CreateTags", arn, context)]


def terminate(
    region: str, instance_id: str, resource_tags: Mapping[str, str], account: str = ACCOUNT
) -> list[Check]:
    context: dict[str, str | Sequence[str]] = {
        **_region_context(region),
        **{f"aws:ResourceTag/{k}": v for k, v in resource_tags.items()},
        **{f"ec2:ResourceTag/{k}": v for k, v in resource_tags.items()},
    }
    arn = f"arn:aws:ec2:{region}:{account}:instance/{instance_id}"
    return [Check("ec2:TerminateInstances", arn, context)]


def describe(action: str, region: str) -> list[Check]:
    return [Check(action, "*", _region_context(region))]


def assume(role_arn: str) -> list[Check]:
    return [Check("sts:AssumeRole", role_arn, {})]


def trusts(trust_policy: Mapping[str, Any], federated: str, claims: Mapping[str, str]) -> bool:
    """Whether a role's trust policy lets a web identity (an OIDC token with `claims`, from
    the provider `federated`) assume it: AssumeRoleWithWebIdentity, the Principal, and every
    Condition on the token's `aud` and `sub`, as `<issuer host>:aud` and `<issuer host>:sub`."""
    host = "token.actions.githubusercontent.com"
    context = {f"{host}:{key}": value for key, value in claims.items() if key in ("aud", "sub")}
    for statement in trust_policy["Statement"]:
        if statement["Effect"] != "Allow":
            continue
        if statement.get("Principal", {}).get("Federated") != federated:
            continue
        if "sts:AssumeRoleWithWebIdentity" not in _list(statement.get("Action", [])):
            continue
        conditions = statement.get("Condition") or {}
        if all(
            _condition(operator, key, wanted, context)
            for operator, keys in conditions.items()
            for key, wanted in keys.items()
        ):
            return True
    return False
