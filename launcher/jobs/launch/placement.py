"""Placement with fallback and rollback: each group on the first placement that holds,
moving on when there is no capacity, terminating what was started on any other error; the
RunInstances spec of a group and its client token."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from launcher.core.compute import ComputeError, Launched, LaunchError, RunSpec
from launcher.core.fallback import MAX_ATTEMPTS, Exhausted, next_placement
from launcher.core.lifecycle import Category, Desired, Launch, Replace
from launcher.core.matching import (
    Catalogues,
    GroupPlacement,
    Location,
    MatchResult,
    Placement,
    location_of,
)
from launcher.core.model import LaunchRequest
from launcher.core.quota import DEPLOYMENT_TAG, POOL_TAG, Usage
from launcher.core.reasons import ReasonKind, all_quota, kind_of
from launcher.jobs.launch.approval import _ApprovalCheck
from launcher.jobs.launch.common import Approval, Refused, Transient


def client_token(
    key: str, version: str, commit: str, placement: Placement, group: GroupPlacement, n: int
) -> str:
    """Same request, version, asking commit, placement, group and attempt -> same token (≤ 64
    characters): EC2 returns the first call's instances to a retried call instead of
    launching more. Nothing else goes in, and nothing in the call depends on anything else
    (no clock), so two runs racing send identical calls."""
    parts = [key, version, commit, placement.provider.name, placement.region, group.group]
    parts += [group.instance_type, group.zone or "", str(n)]
    return "launcher-" + hashlib.sha256("\n".join(parts).encode()).hexdigest()[:40]


class _Placing(_ApprovalCheck):
    """Launching a request's groups on the first placement that holds."""

    def _run_groups(
        self, action: Launch, request: LaunchRequest, approval: Approval
    ) -> tuple[Placement, dict[str, list[str]]]:
        """Launch every group on the first placement that holds; on no capacity move on (a
        bounded number of times); on any other error terminate what was launched."""
        d = action.desired
        pool = self.policy.pools[request.pool]
        usage = dict(self.usage)
        if isinstance(action, Replace):  # the old instances end once the new ones run
            freed = [
                i for f in action.old for i in f.instances if i.state in ("pending", "running")
            ]
            old = usage.get(pool.name, Usage())
            usage[pool.name] = Usage(
                max(0, old.instances - len(freed)), max(0, old.vcpus - sum(i.vcpus for i in freed))
            )
        catalogues = self._catalogues_now()
        allowed = self._allowed_zones(pool.providers)
        exhausted: list[Exhausted] = []
        launched: dict[str, tuple[GroupPlacement, Location, list[str]]] = {}
        answers: dict[str, Launched] = {}
        tries = 0
        while True:
            placement, result = next_placement(request, pool, catalogues, usage, exhausted, allowed)
            if placement is None:
                self._rollback(launched)
                raise Refused(*_no_placement(result, exhausted))
            location = location_of(placement.provider)
            wanted = {g.group: g for g in placement.groups}
            for name, (group, where, ids) in list(launched.items()):
                if where != location or wanted.get(name) != group:
                    self.ec2.terminate(where, ids)
                    del launched[name]
            try:
                for group in placement.groups:
                    if group.group in launched:
                        continue
                    tries += 1
                    spec = self._spec(d, request, approval, placement, group, action.attempt)
                    answer = self.ec2.run_instances(spec)
                    answers[group.group] = answer
                    launched[group.group] = (group, location, answer.ids)
            except LaunchError as exc:
                if exc.capacity and tries < MAX_ATTEMPTS:
                    exhausted.append(Exhausted(location, group.instance_type, group.zone))
                    continue
                self._rollback(launched)
                if exc.transient:
                    raise Transient(str(exc)) from exc
                if exc.capacity:
                    raise Refused(
                        Category.LAUNCH_ERROR, f"no capacity after {tries} tries: {exc}"
                    ) from exc
                raise Refused(Category.LAUNCH_ERROR, str(exc)) from exc
            except ComputeError:
                self._rollback(launched)
                raise
            break
        self.usage[pool.name] = self.usage.get(pool.name, Usage()).plus(
            placement.instances, placement.vcpus
        )
        times = [a.launched_at for n, a in answers.items() if n in launched and a.launched_at]
        self._launched_at = min(times, default=None)
        self._volumes = tuple(v for n, a in answers.items() if n in launched for v in a.volume_ids)
        return placement, {name: ids for name, (_, _, ids) in launched.items()}

    def _rollback(self, launched: dict[str, tuple[GroupPlacement, Location, list[str]]]) -> None:
        """No half-launched request: terminate every group already started."""
        for group, location, ids in launched.values():
            self.ec2.terminate(location, ids)
            self.report.done.append(f"rolled back {group.group}: terminated {', '.join(ids)}")
        launched.clear()

    def _spec(
        self,
        d: Desired,
        request: LaunchRequest,
        approval: Approval,
        placement: Placement,
        group: GroupPlacement,
        attempt: int,
    ) -> RunSpec:
        tags = {
            "Name": f"{d.key}/{group.group}",
            DEPLOYMENT_TAG: d.key,
            POOL_TAG: request.pool,
            "launcher:group": group.group,
            "launcher:requested-by": approval.requested_by,
            "launcher:commit": d.commit,
            "launcher:pr": str(approval.pr.number),
        }
        if approval.approved_by:
            tags["launcher:approved-by"] = _tag_value(",".join(approval.approved_by))
        provider = placement.provider
        subnet = None
        if provider.subnet_ids:
            zones = self.ec2.subnet_zones(location_of(provider), provider.subnet_ids)
            subnet = next(
                (s for s in provider.subnet_ids if group.zone in (None, zones.get(s))), None
            )
            if subnet is None:
                raise Refused(
                    Category.LAUNCH_ERROR,
                    f"{provider.name} has no subnet in {group.zone}",
                )
        return RunSpec(
            location=location_of(provider),
            image_id=group.image_id,
            instance_type=group.instance_type,
            count=group.count,
            client_token=client_token(d.key, d.version.id, d.commit, placement, group, attempt),
            tags=tags,
            zone=group.zone,
            subnet_id=subnet,
            security_group_ids=provider.security_group_ids,
        )

    def _catalogues_now(self) -> Catalogues:
        if self._catalogues is None:
            self._catalogues = self.ec2.catalogues(self.policy.pools.values())
        return self._catalogues

    def _allowed_zones(self, providers: Iterable[Any]) -> dict[Location, frozenset[str]]:
        """Zones a group may be pinned to: where the provider has a subnet, if it lists any."""
        allowed = {}
        for provider in providers:
            if provider.subnet_ids:
                try:
                    zones = self.ec2.subnet_zones(location_of(provider), provider.subnet_ids)
                except LaunchError:
                    zones = {}
                allowed[location_of(provider)] = frozenset(zones.values())
        return allowed


def _no_placement(result: MatchResult, exhausted: list[Exhausted]) -> tuple[Category, str]:
    """The failure category of a request no placement holds, from the reasons' kinds (never
    their words): QUOTA when the pool's quota, or on every provider tried only the quota,
    stands in the way."""
    quota = [r for r in result.reasons if kind_of(r) is ReasonKind.QUOTA]
    if any(kind_of(r) is ReasonKind.QUOTA for r in result.pool_reasons):
        return Category.QUOTA, quota[0]
    tried = [m.reasons for m in result.providers if m.reasons]
    if tried and all(all_quota(reasons) for reasons in tried):
        return Category.QUOTA, quota[0]
    if exhausted:
        return Category.LAUNCH_ERROR, (
            "no capacity: InsufficientInstanceCapacity on every matching placement"
        )
    return Category.NO_MATCH, "; ".join(result.reasons) or "no placement"


def _started(now: datetime, launch_time: datetime | None) -> datetime:
    """When a request's runtime starts: EC2's LaunchTime, or the run's clock if that is
    earlier (a run given a `now` in the past)."""
    return min(now, launch_time) if launch_time else now


def _tag_value(text: str) -> str:
    return text if len(text) <= 256 else text[:255] + "…"
