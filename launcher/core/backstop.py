"""The expiry backstop: the cloud itself ends a request's instances at their expiry.

`max_runtime` is enforced by the sweep, a scheduled GitHub Actions workflow that GitHub may
delay, drop under concurrency or disable in an idle repository. So at launch the provider is
also given a one-time job (on AWS an EventBridge Scheduler schedule in the instances' own
account and region) that terminates exactly that launch's instances at their expiry. It is
moved when the expiry is retagged, deleted when the request ends, and re-created by the
sweep when it is missing. This module decides what the backstop of a launch is (its name, its
time, its instances, the role it acts as); the adapters own how a provider keeps one.

A backstop is named after the request and the commit its instances were launched from (the
`launcher:deployment` and `launcher:commit` tags, which every instance carries), so any run
finds the same one again without a record of it: a re-run creates nothing twice.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from launcher.core.fleet import Fleet, by_location
from launcher.core.lifecycle import Record, RequestState
from launcher.core.matching import Location, location_of
from launcher.core.model import Policy, Provider

PREFIX = "launcher-"
NAME_MAX = 64  # EventBridge Scheduler: 1 to 64 of [0-9a-zA-Z-_.]
_NAME = re.compile(r"[0-9A-Za-z_.-]{1,64}")
_UNSAFE = re.compile(r"[^0-9A-Za-z_.-]+")
_HASH = 16
# A one-time schedule is never asked for a moment already past: what a provider does then is
# not something to rest on. An expiry moved into the past fires this long after "now" (the
# reconcile that moved it ends the instances first anyway).
MIN_LEAD = timedelta(minutes=1)


@dataclass(frozen=True)
class Backstop:
    """At `at` (UTC, whole seconds), the provider ends `instance_ids` at `location`, acting
    as `role_arn` (the provider's `scheduler_role` in pools.yaml)."""

    location: Location
    name: str
    at: datetime
    instance_ids: tuple[str, ...]
    role_arn: str
    key: str = ""  # the request, for the description a person sees in the console


def backstop_name(key: str, commit: str) -> str:
    """`launcher-<pool>.<name>-<hash>`: readable, unique per request and launch commit, and
    within the provider's pattern and 64 characters whatever the request's name."""
    digest = hashlib.sha256(f"{key}\n{commit}".encode()).hexdigest()[:_HASH]
    readable = _UNSAFE.sub(".", key).strip(".")[: NAME_MAX - len(PREFIX) - _HASH - 1]
    name = f"{PREFIX}{readable}-{digest}" if readable else f"{PREFIX}{digest}"
    assert _NAME.fullmatch(name), name
    return name


def backstop_at(expires_at: datetime, now: datetime) -> datetime:
    """When the backstop fires: the expiry, rounded up to a whole second (never early), and
    at least MIN_LEAD after `now`."""
    at = expires_at.astimezone(UTC)
    if at.microsecond:
        at = at.replace(microsecond=0) + timedelta(seconds=1)
    floor = (now.astimezone(UTC) + MIN_LEAD).replace(microsecond=0)
    return max(at, floor)


def scheduler_role(policy: Policy, pool: str, location: Location) -> str | None:
    """The scheduler role pools.yaml gives the pool's provider at `location` (None: that
    provider has no backstop)."""
    found = policy.pools.get(pool)
    for provider in found.providers if found else ():
        if location_of(provider) == location and provider.scheduler_role:
            return provider.scheduler_role
    return None


def provider_backstop(
    provider: Provider,
    key: str,
    commit: str,
    instance_ids: list[str] | tuple[str, ...],
    expires_at: datetime | None,
    now: datetime,
) -> Backstop | None:
    """The backstop of one launch on `provider`, or None (no expiry, or no scheduler role)."""
    if expires_at is None or not provider.scheduler_role or not instance_ids:
        return None
    return Backstop(
        location=location_of(provider),
        name=backstop_name(key, commit),
        at=backstop_at(expires_at, now),
        instance_ids=tuple(sorted(instance_ids)),
        role_arn=provider.scheduler_role,
        key=key,
    )


def fleet_backstops(
    policy: Policy, fleet: Fleet, expires_at: datetime | None, now: datetime
) -> tuple[list[Backstop], list[Location]]:
    """The backstops a running fleet should have (one per location), and the locations whose
    provider has no scheduler role (no backstop possible there: reported, not guessed)."""
    wanted: list[Backstop] = []
    missing_role: list[Location] = []
    if expires_at is None:
        return wanted, missing_role
    for location, here in by_location(fleet.instances).items():
        pool = here[0].pool
        role = scheduler_role(policy, pool, location)
        if role is None:
            missing_role.append(location)
            continue
        wanted.append(
            Backstop(
                location=location,
                name=backstop_name(fleet.key, fleet.commit),
                at=backstop_at(expires_at, now),
                instance_ids=tuple(sorted(i.instance_id for i in here)),
                role_arn=role,
                key=fleet.key,
            )
        )
    return wanted, missing_role


def _account(arn: str | None) -> str | None:
    parts = (arn or "").split(":")
    return parts[4] if len(parts) > 5 and parts[4] else None


def scheduler_role_problem(pool: str, provider: Provider) -> str | None:
    """Why a provider's scheduler role cannot work, or None. EventBridge Scheduler passes only
    a role of the schedule's own account, and the schedule lives where the instances do: in
    the account of the provider's `role_arn` when it has one."""
    role = provider.scheduler_role
    if not role or not provider.role_arn:
        return None
    if _account(role) != _account(provider.role_arn):
        return (
            f"pool {pool}: provider {provider.name}: scheduler_role must be in the account of "
            f"role_arn ({_account(provider.role_arn)}), not {_account(role)}"
        )
    return None


def ended_by_backstop(
    policy: Policy, records: Iterable[Record], now: datetime, within: timedelta
) -> list[Record]:
    """The launches whose end a run may not have recorded yet: each request's newest record
    that is not a failure, when it reads EXPIRED (no instance left, its expiry passed) at a
    location whose provider has a backstop, and its expiry passed less than `within` ago.

    The backstop fires at the expiry itself, so it usually ends the instances before the next
    sweep does; the records alone cannot tell whether a run has recorded that end since (the
    deployment's status says, one read each): these are the ones worth that read."""
    anchors: dict[str, Record] = {}
    for record in sorted(records, key=lambda r: r.deployment_id):
        if record.state is not RequestState.FAILED:
            anchors[record.key] = record
    found = []
    for record in anchors.values():
        if record.state is not RequestState.EXPIRED or record.placement is None:
            continue
        if record.expires_at is None or not now - within <= record.expires_at <= now:
            continue
        pool = record.key.split("/", 1)[0]
        if scheduler_role(policy, pool, record.placement.location) is not None:
            found.append(record)
    return found
