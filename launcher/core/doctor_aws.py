"""`launcher doctor`'s AWS lines: what pools.yaml leaves open, and the accounts' vCPU quotas.

Why: the generated IAM policy (`launcher.core.iam`) holds even when GitHub misbehaves, but
only as tight as pools.yaml: a provider without `subnet_ids` may launch into any subnet of its
region. And the pools' vCPU quotas are enforced by launcher's code; EC2's own vCPU service
quota per account and region is the ceiling AWS keeps whatever runs launcher. When the pools
together allow more than that ceiling, launches fail with `VcpuLimitExceeded` before the pools'
quotas are reached: doctor warns, with the numbers. (Service control policies, which could
cap regions and types organization-wide, cannot be read from a member account: they are
documented, not checked.)

Pure: the command reads the quotas (`launcher.adapters.service_quotas`) and passes them in.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from dataclasses import dataclass

from launcher.core.doctor import Line
from launcher.core.model import Policy

SERVICE_CODE = "ec2"


@dataclass(frozen=True)
class QuotaClass:
    """One EC2 vCPU quota: its Service Quotas code and the instance families it counts."""

    code: str
    name: str
    families: tuple[str, ...]


# EC2's On-Demand vCPU quotas (Service Quotas, service code ec2), by instance family prefix:
# names and codes as the Amazon EC2 User Guide lists them ("On-Demand Instance quotas",
# https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ec2-on-demand-instances.html
# #ec2-on-demand-instances-limits), every class there included.
QUOTA_CLASSES = (
    QuotaClass(
        "L-1216C47A",
        "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances",
        ("a", "c", "d", "h", "i", "m", "r", "t", "z"),
    ),
    QuotaClass("L-DB2E81BA", "Running On-Demand G and VT instances", ("g", "vt")),
    QuotaClass("L-417A185B", "Running On-Demand P instances", ("p",)),
    QuotaClass("L-7295265B", "Running On-Demand X instances", ("x",)),
    QuotaClass("L-74FC7D96", "Running On-Demand F instances", ("f",)),
    QuotaClass("L-1945791B", "Running On-Demand Inf instances", ("inf",)),
    QuotaClass("L-6E869C2A", "Running On-Demand DL instances", ("dl",)),
    QuotaClass("L-2C3B7624", "Running On-Demand Trn instances", ("trn",)),
    QuotaClass("L-F7808C92", "Running On-Demand HPC instances", ("hpc",)),
    QuotaClass("L-43DA4232", "Running On-Demand High Memory instances", ("u",)),
)

Where = tuple[str | None, str]  # (provider role ARN, None for the launch role's account; region)
Reading = float | str  # a quota's value, or why it could not be read


def where_name(where: Where) -> str:
    role, region = where
    account = role.split(":")[4] if role else "the launch role's account"
    return f"{account} {region}"


def classes_of(glob: str) -> list[QuotaClass]:
    """The quotas instance types matching a pools.yaml glob count against. A type's family is
    the longest known family its leading letters start with (`m` of m6i.large, `inf` of
    inf2.xlarge, `vt` of vt1.3xlarge, `hpc` of hpc7g.16xlarge, `i` of im4gn.large, `u` of
    u-6tb1.metal); a glob whose family part has a wildcard (`*`, `m*`, `?3.*`) counts against
    every quota it could."""
    head = re.split(r"[0-9]", glob, maxsplit=1)[0]
    if head == "mac":  # Mac instances run on Dedicated Hosts: host quotas, not vCPU ones
        return []
    if not any(c in head for c in "*?["):
        known = [(f, q) for q in QUOTA_CLASSES for f in q.families if head.startswith(f)]
        return [max(known, key=lambda fq: len(fq[0]))[1]] if known else []
    found = []
    for quota in QUOTA_CLASSES:
        for family in quota.families:
            if "*" in head:
                could = family.startswith(head.split("*", 1)[0].split("?", 1)[0].split("[")[0])
            else:
                could = fnmatch.fnmatchcase(family, head)
            if could:
                found.append(quota)
                break
    return found


def wanted(policy: Policy) -> dict[Where, dict[str, list[tuple[str, int | None]]]]:
    """(account, region) -> quota code -> the pools (and their vCPU quotas, None for none)
    whose providers may launch instances counted by that quota there."""
    out: dict[Where, dict[str, list[tuple[str, int | None]]]] = {}
    for pool in policy.pools.values():
        vcpus = pool.quota.vcpus if pool.quota else None
        for provider in pool.providers:
            codes = {q.code for glob in provider.instance_types for q in classes_of(glob)}
            per = out.setdefault((provider.role_arn, provider.region), {})
            for code in sorted(codes):
                entry = per.setdefault(code, [])
                if (pool.name, vcpus) not in entry:
                    entry.append((pool.name, vcpus))
    return out


def quota_lines(policy: Policy, readings: Mapping[tuple[Where, str], Reading]) -> list[Line]:
    """One line per account, region and quota the pools use: a warning when the pools may
    together run more vCPUs there than EC2's quota allows, or when it could not be read."""
    names = {q.code: q.name for q in QUOTA_CLASSES}
    lines = []
    for where, per in sorted(wanted(policy).items(), key=lambda i: (i[0][0] or "", i[0][1])):
        for code, pools in per.items():
            name = f"EC2 vCPU quota in {where_name(where)}: {names[code]} ({code})"
            reading = readings.get((where, code), "not read")
            if isinstance(reading, str):
                lines.append(
                    Line(
                        name,
                        True,
                        f"cannot read it ({reading})",
                        "run doctor with the read-only role's credentials "
                        "(servicequotas:GetServiceQuota), or pass --no-aws",
                        warning=True,
                    )
                )
                continue
            unlimited = sorted(p for p, v in pools if v is None)
            allowed = sum(v for _, v in pools if v is not None)
            listed = ", ".join(f"{p} {v if v is not None else 'unlimited'}" for p, v in pools)
            if unlimited or allowed > reading:
                total = "no limit" if unlimited else f"{allowed} vCPUs"
                lines.append(
                    Line(
                        name,
                        True,
                        f"the pools allow {total} here ({listed}), EC2 allows {reading:g}: "
                        "launches past it fail with VcpuLimitExceeded before the pools' "
                        "quotas are reached",
                        "give every pool launching here a vcpus quota within EC2's, or "
                        "request a higher EC2 quota (Service Quotas console)",
                        warning=True,
                    )
                )
            else:
                lines.append(
                    Line(
                        name,
                        True,
                        f"EC2 allows {reading:g} vCPUs, the pools at most {allowed} "
                        f"({listed}): EC2's quota is the ceiling even if GitHub misbehaves",
                    )
                )
    return lines


def subnet_lines(policy: Policy) -> list[Line]:
    """A warning per provider without subnet_ids: its launches (and the IAM policy that
    `launcher iam-policy` generates) may use any subnet of its region."""
    lines = []
    for pool in policy.pools.values():
        for provider in pool.providers:
            name = f"subnets of {pool.name}/{provider.name}"
            if provider.subnet_ids:
                lines.append(Line(name, True, f"pinned to {', '.join(provider.subnet_ids)}"))
            else:
                lines.append(
                    Line(
                        name,
                        True,
                        f"no subnet_ids: launches, and the generated IAM policy, allow any "
                        f"subnet in {provider.region} (the default VPC's, if any)",
                        "name the provider's subnet_ids in pools.yaml, then run "
                        "`launcher iam-policy`",
                        warning=True,
                    )
                )
    return lines


def backstop_lines(policy: Policy, path: str = "pools.yaml") -> list[Line]:
    """A warning per provider without `scheduler_role`: no expiry backstop there, so its
    instances end at their max_runtime only when the sweep (a scheduled GitHub Actions
    workflow, which GitHub may delay, skip or disable) runs."""
    lines = []
    for pool in policy.pools.values():
        for provider in pool.providers:
            name = f"expiry backstop of {pool.name}/{provider.name}"
            if provider.scheduler_role:
                lines.append(Line(name, True, f"scheduler_role {provider.scheduler_role}"))
                continue
            lines.append(
                Line(
                    name,
                    True,
                    f"{path}: pool {pool.name}, provider {provider.name} has no scheduler_role: "
                    "no expiry backstop on AWS, its instances rely on the sweep alone to end "
                    "at max_runtime",
                    f"give provider {provider.name} of pool {pool.name} a scheduler_role in "
                    f"{path} (a role in its account that EventBridge Scheduler assumes to "
                    'terminate instances: docs/launch.md, "The scheduler role"), then run '
                    "`launcher iam-policy` and create that role from the document it writes",
                    warning=True,
                )
            )
    return lines
