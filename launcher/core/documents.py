"""From bytes to model objects: pools.yaml and launch requests, with every check they need.

Each loader returns `(object or None, problems)`: None whenever there is an error, so callers
cannot act on a half-checked file (fail closed). Checks run in order: safe YAML loading, the
JSON Schema, then the rules a schema cannot say (names agreeing with paths, references to the
pool's images and profiles, caps).
"""

from __future__ import annotations

import functools
import re
from datetime import datetime, timedelta
from typing import Any

from launcher.core import schemas
from launcher.core.backstop import scheduler_role_problem
from launcher.core.durations import DurationError, format_duration, parse_duration
from launcher.core.model import (
    Hardware,
    InstanceGroup,
    LaunchRequest,
    Permissions,
    Policy,
    Pool,
    Provider,
    Quota,
)
from launcher.core.permissions import is_group, is_team
from launcher.core.problems import Problem
from launcher.core.times import InstantError, parse_instant
from launcher.core.yamlsafe import Document, YamlError, load

# Path parts are plain names: no whitespace or control characters can reach a message or a tag.
REQUEST_PATH = re.compile(
    r"deployments/(?P<pool>[A-Za-z0-9_.-]+)/(?P<name>[A-Za-z0-9_.-]+)\.yaml\Z"
)
PATH_HINT = "launch requests live at deployments/<pool>/<name>.yaml"


def request_key(path: str) -> str | None:
    """`<pool>/<name>`, a request's identity across its life, for a request path; else None."""
    match = REQUEST_PATH.fullmatch(path)
    return f"{match['pool']}/{match['name']}" if match else None


def request_path(key: str) -> str:
    """The file of the request `<pool>/<name>`."""
    pool, _, name = key.partition("/")
    return f"deployments/{pool}/{name}.yaml"


def parse_yaml(raw: bytes, path: str) -> tuple[Document | None, list[Problem]]:
    try:
        return load(raw), []
    except YamlError as exc:
        return None, [Problem(path, exc.line, exc.column, exc.message)]


# --- pools.yaml ---------------------------------------------------------------------------


def load_policy(raw: bytes, path: str = "pools.yaml") -> tuple[Policy | None, list[Problem]]:
    """Parse and check pools.yaml; the Policy is None if anything is wrong."""
    policy, problems = _load_policy(raw, path)
    return policy, list(problems)


@functools.lru_cache(maxsize=16)
def _load_policy(raw: bytes, path: str) -> tuple[Policy | None, tuple[Problem, ...]]:
    """Kept by content: every pull request on one base has the same pools.yaml, and
    launcher serve decides hundreds of them in a burst (its parse was a tenth of a
    decision's CPU). The result is frozen; the caller gets its own list of problems."""
    doc, problems = parse_yaml(raw, path)
    if doc is None:
        return None, tuple(problems)
    problems = schemas.check("pools", doc, path)
    if problems:
        return None, tuple(problems)
    policy, problems = _build_policy(doc, path)
    return (None if problems else policy), tuple(problems)


def _duration(
    doc: Document, path: str, where: list[str | int], value: Any, problems: list[Problem]
) -> timedelta | None:
    if value is None:
        return None
    try:
        return parse_duration(value)
    except DurationError as exc:
        problems.append(Problem(path, *doc.locate(where), f"{schemas.dotted(where)}: {exc}"))
        return None


def _whole(value: Any) -> int | None:
    """JSON Schema's "integer" accepts 2.0; the model (and EC2) take ints."""
    return None if value is None else int(value)


def _hardware(data: dict[str, Any]) -> Hardware:
    return Hardware(
        vcpus=int(data["vcpus"]),
        memory_gib=float(data["memory_gib"]),
        architecture=data.get("architecture", "x86_64"),
        storage_gib=_whole(data.get("storage_gib")),
    )


def _build_policy(doc: Document, path: str) -> tuple[Policy, list[Problem]]:
    data = doc.data
    problems: list[Problem] = []
    groups = {name: tuple(members) for name, members in (data.get("groups") or {}).items()}

    def check_principals(where: list[str | int], principals: list[str]) -> None:
        for index, principal in enumerate(principals):
            if is_group(principal) and principal[6:] not in groups:
                known = ", ".join(sorted(groups)) or "none defined"
                problems.append(
                    Problem(
                        path,
                        *doc.locate([*where, index]),
                        f"{schemas.dotted([*where, index])}: unknown group {principal[6:]!r} "
                        f"(groups: {known})",
                    )
                )

    check_principals(["admins"], data["admins"])
    pools: dict[str, Pool] = {}
    for name, spec in data["pools"].items():
        here: list[str | int] = ["pools", name]
        perms = spec.get("permissions") or {}
        for tier in ("create", "create_with_approval", "modify"):
            check_principals([*here, "permissions", tier], perms.get(tier, []))
        providers = []
        seen: dict[str, int] = {}
        for index, p in enumerate(spec.get("providers", [])):
            if p["name"] in seen:
                problems.append(
                    Problem(
                        path,
                        *doc.locate([*here, "providers", index, "name"]),
                        f"pool {name}: provider name {p['name']!r} is used twice",
                    )
                )
            seen[p["name"]] = index
            providers.append(
                Provider(
                    name=p["name"],
                    region=p["region"],
                    priority=int(p.get("priority", 100)),
                    instance_types=tuple(p.get("instance_types", ["*"])),
                    role_arn=p.get("role_arn"),
                    subnet_ids=tuple(p.get("subnet_ids", [])),
                    security_group_ids=tuple(p.get("security_group_ids", [])),
                    scheduler_role=p.get("scheduler_role"),
                )
            )
            problem = scheduler_role_problem(name, providers[-1])
            if problem:
                where = doc.locate([*here, "providers", index, "scheduler_role"])
                problems.append(Problem(path, *where, problem))
        quota = spec.get("quota")
        pool = Pool(
            name=name,
            description=spec.get("description", ""),
            permissions=Permissions(
                create=tuple(perms.get("create", [])),
                create_with_approval=tuple(perms.get("create_with_approval", [])),
                modify=tuple(perms.get("modify", [])),
            ),
            approvals_required=int(spec.get("approvals_required", 1)),
            quota=Quota(_whole(quota.get("instances")), _whole(quota.get("vcpus")))
            if quota
            else None,
            max_runtime=_duration(
                doc, path, [*here, "max_runtime"], spec.get("max_runtime"), problems
            ),
            request_ttl=_duration(
                doc, path, [*here, "request_ttl"], spec.get("request_ttl"), problems
            ),
            providers=tuple(providers),
            images={alias: dict(regions) for alias, regions in spec.get("images", {}).items()},
            hardware_profiles={
                profile: _hardware(hw) for profile, hw in spec.get("hardware_profiles", {}).items()
            },
        )
        if not problems:  # an unknown group would make the approver count meaningless
            problems.extend(_approver_problems(doc, path, pool, groups))
        pools[name] = pool
    policy = Policy(
        admins=tuple(data["admins"]), groups=groups, pools=pools, version=data["version"]
    )
    return policy, problems


def _approver_problems(
    doc: Document, path: str, pool: Pool, groups: dict[str, tuple[str, ...]]
) -> list[Problem]:
    """A pool whose requests could never be approved is a mistake worth stopping at."""
    modify = pool.permissions.modify
    logins: set[str] = set()
    has_team = False
    for principal in modify:
        for member in groups.get(principal[6:], ()) if is_group(principal) else (principal,):
            if is_team(member):
                has_team = True
            else:
                logins.add(member.casefold())
    where: list[str | int] = ["pools", pool.name, "permissions"]
    if pool.permissions.create_with_approval and not modify:
        return [
            Problem(
                path,
                *doc.locate(where, key=True),
                f"pool {pool.name}: has create_with_approval users but no approvers: "
                "list them under permissions.modify",
            )
        ]
    if not has_team and modify and len(logins) < pool.approvals_required:
        return [
            Problem(
                path,
                *doc.locate(["pools", pool.name, "approvals_required"]),
                f"pool {pool.name}: approvals_required is {pool.approvals_required} but only "
                f"{len(logins)} approver(s) are listed under permissions.modify",
            )
        ]
    return []


# --- deployments/<pool>/<name>.yaml -------------------------------------------------------


def request_path_problem(path: str) -> Problem | None:
    """A path under deployments/ that is not `<pool>/<name>.yaml`, as a problem."""
    match = REQUEST_PATH.fullmatch(path)
    if match is None:
        hint = " (use the .yaml extension)" if path.endswith(".yml") else ""
        return Problem(path, 1, 1, f"{path} is not a launch request path{hint}: {PATH_HINT}")
    return None


def load_request(
    raw: bytes, path: str, policy: Policy | None
) -> tuple[LaunchRequest | None, list[Problem]]:
    """Parse and check one request at its repository path against the policy.

    With policy None (pools.yaml itself is broken) the request cannot be judged: that is an
    error, not a pass.
    """
    bad_path = request_path_problem(path)
    if bad_path:
        return None, [bad_path]
    doc, problems = parse_yaml(raw, path)
    if doc is None:
        return None, problems
    problems = schemas.check("deployment", doc, path)
    if problems:
        return None, problems
    return _build_request(doc, path, policy)


def _build_request(
    doc: Document, path: str, policy: Policy | None
) -> tuple[LaunchRequest | None, list[Problem]]:
    data = doc.data
    problems: list[Problem] = []

    def add(where: list[str | int], message: str) -> None:
        problems.append(Problem(path, *doc.locate(where), message))

    match = REQUEST_PATH.fullmatch(path)
    assert match is not None
    if data["name"] != match["name"]:
        add(
            ["name"],
            f"name {data['name']!r} does not match the file name {match['name']}.yaml: "
            "make them the same",
        )
    if data["pool"] != match["pool"]:
        add(
            ["pool"],
            f"pool {data['pool']!r} does not match the folder deployments/{match['pool']}/: "
            "move the file or fix the pool",
        )
    launch_at = _launch_at(data.get("launch_at"), add)
    max_runtime = None
    if "max_runtime" in data:
        try:
            max_runtime = parse_duration(data["max_runtime"])
        except DurationError as exc:
            add(["max_runtime"], f"max_runtime: {exc}")
    names: dict[str, int] = {}
    for index, group in enumerate(data["instances"]):
        if group["name"] in names:
            add(
                ["instances", index, "name"],
                f"instances[{index}].name: instance group {group['name']!r} is already "
                f"defined at instances[{names[group['name']]}]",
            )
        names.setdefault(group["name"], index)

    pool = None
    if policy is None:
        add([], "pools.yaml has errors, so this request cannot be checked: fix pools.yaml first")
    else:
        pool = policy.pools.get(data["pool"])
        if pool is None:
            known = ", ".join(sorted(policy.pools)) or "none"
            add(["pool"], f"pool {data['pool']!r} is not defined in pools.yaml (pools: {known})")
    if pool is None:
        return None, problems

    if max_runtime and pool.max_runtime and max_runtime > pool.max_runtime:
        add(
            ["max_runtime"],
            f"max_runtime {data['max_runtime']} is over pool {pool.name}'s cap of "
            f"{format_duration(pool.max_runtime)}",
        )
    groups = []
    for index, group in enumerate(data["instances"]):
        here: list[str | int] = ["instances", index]
        if group["image"] not in pool.images:
            known = ", ".join(sorted(pool.images)) or "none"
            add(
                [*here, "image"],
                f"instances[{index}].image: pool {pool.name} has no image {group['image']!r} "
                f"(images: {known})",
            )
        hardware = None
        if "hardware" in group:
            hardware = _hardware(group["hardware"])
        elif group["hardware_profile"] in pool.hardware_profiles:
            hardware = pool.hardware_profiles[group["hardware_profile"]]
        else:
            known = ", ".join(sorted(pool.hardware_profiles)) or "none"
            add(
                [*here, "hardware_profile"],
                f"instances[{index}].hardware_profile: pool {pool.name} has no hardware "
                f"profile {group['hardware_profile']!r} (profiles: {known})",
            )
        if hardware is not None:
            groups.append(
                InstanceGroup(
                    name=group["name"],
                    image=group["image"],
                    count=int(group["count"]),
                    hardware=hardware,
                    hardware_profile=group.get("hardware_profile"),
                    realm=group.get("realm"),
                )
            )
    if problems:
        return None, problems
    request = LaunchRequest(
        name=data["name"],
        pool=data["pool"],
        path=path,
        instances=tuple(groups),
        description=data.get("description", ""),
        launch_at=launch_at,
        max_runtime=max_runtime,
    )
    return request, []


def _launch_at(value: Any, add: Any) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_instant(value)
    except InstantError as exc:
        add(["launch_at"], f"launch_at {exc}")
        return None
