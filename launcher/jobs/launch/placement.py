"""Placement with fallback and rollback: each group on the first placement that holds,
moving on when there is no capacity, terminating what was started on any other error. The
job hands the provider typed launches (`launcher.core.compute.GroupLaunch`); tags and client
tokens are the adapter's."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from launcher.core.compute import Compute, ComputeError, GroupLaunch, Launched, LaunchError
from launcher.core.fallback import MAX_ATTEMPTS, Exhausted, next_placement
from launcher.core.fleet import FleetInstance
from launcher.core.lifecycle import Category, Desired, Launch, Replace
from launcher.core.matching import (
    Catalogues,
    GroupPlacement,
    Location,
    MatchResult,
    Placement,
    location_of,
)
from launcher.core.model import LaunchRequest, Policy, Provider
from launcher.core.quota import COUNTED_STATES, Usage
from launcher.core.reasons import ReasonKind, all_quota, kind_of
from launcher.jobs.launch.common import Approval, LaunchReport, Refused, Transient


@dataclass(frozen=True)
class Placed:
    """A request launched whole: where, its instances per group, and what the provider said."""

    placement: Placement
    ids: dict[str, list[str]]  # group -> instance ids
    launched_at: datetime | None  # the earliest LaunchTime
    volume_ids: tuple[str, ...]

    @property
    def instance_ids(self) -> list[str]:
        return [i for group in self.ids.values() for i in group]


class Ledger:
    """The pools' usage as this run changes it: counted from the fleet once, lowered by what
    the run terminates (each instance once), raised by what it launches."""

    def __init__(self, usage: dict[str, Usage]) -> None:
        self._usage = dict(usage)
        self._freed: set[str] = set()

    def now(self) -> dict[str, Usage]:
        return dict(self._usage)

    def free(self, ended: Iterable[FleetInstance]) -> None:
        for i in ended:
            if i.state in COUNTED_STATES and i.instance_id not in self._freed:
                self._freed.add(i.instance_id)
                used = self._usage.get(i.pool, Usage())
                self._usage[i.pool] = Usage(
                    max(0, used.instances - 1), max(0, used.vcpus - i.vcpus)
                )

    def add(self, pool: str, instances: int, vcpus: int) -> None:
        self._usage[pool] = self._usage.get(pool, Usage()).plus(instances, vcpus)


class Placer:
    """Launches requests' groups for one run; reads the catalogues once, when first needed."""

    def __init__(self, ec2: Compute, policy: Policy, ledger: Ledger, report: LaunchReport) -> None:
        self.ec2, self.policy, self.ledger, self.report = ec2, policy, ledger, report
        self._catalogues: Catalogues | None = None

    def place(self, action: Launch, request: LaunchRequest, approval: Approval) -> Placed:
        """Launch every group on the first placement that holds; on no capacity move on (a
        bounded number of times); on any other error terminate what was launched. Raises
        Refused (recorded FAILED) or Transient (left to the next run)."""
        d = action.desired
        pool = self.policy.pools[request.pool]
        usage = self.ledger.now()
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
                raise Refused(*no_placement(result, exhausted))
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
                    spec = self._group_launch(d, request, approval, placement, group, action)
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
            except (ComputeError, Refused):
                self._rollback(launched)
                raise
            break
        self.ledger.add(pool.name, placement.instances, placement.vcpus)
        kept = [a for n, a in answers.items() if n in launched]
        times = [a.launched_at for a in kept if a.launched_at]
        return Placed(
            placement,
            {name: ids for name, (_, _, ids) in launched.items()},
            min(times, default=None),
            tuple(v for a in kept for v in a.volume_ids),
        )

    def _rollback(self, launched: dict[str, tuple[GroupPlacement, Location, list[str]]]) -> None:
        """No half-launched request: terminate every group already started."""
        for group, location, ids in launched.values():
            self.ec2.terminate(location, ids)
            self.report.done.append(f"rolled back {group.group}: terminated {', '.join(ids)}")
        launched.clear()

    def _group_launch(
        self,
        d: Desired,
        request: LaunchRequest,
        approval: Approval,
        placement: Placement,
        group: GroupPlacement,
        action: Launch,
    ) -> GroupLaunch:
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
        return GroupLaunch(
            location=location_of(provider),
            provider=provider.name,
            key=d.key,
            pool=request.pool,
            version=d.version.id,
            commit=d.commit,
            attempt=action.attempt,
            group=group.group,
            image_id=group.image_id,
            instance_type=group.instance_type,
            count=group.count,
            requested_by=approval.requested_by,
            pr=approval.pr.number,
            approved_by=approval.approved_by,
            zone=group.zone,
            subnet_id=subnet,
            security_group_ids=provider.security_group_ids,
        )

    def _catalogues_now(self) -> Catalogues:
        if self._catalogues is None:
            self._catalogues = self.ec2.catalogues(self.policy.pools.values())
        return self._catalogues

    def _allowed_zones(self, providers: Iterable[Provider]) -> dict[Location, frozenset[str]]:
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


def no_placement(result: MatchResult, exhausted: list[Exhausted]) -> tuple[Category, str]:
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


def started(now: datetime, as_of: bool, launch_time: datetime | None) -> datetime:
    """When a request's runtime starts: the provider's LaunchTime (the instances' own record,
    later than the run's start). Only a run given an "as of" time (`--now` with `--dry-run`, an
    in-process test) starts it at that time when it is earlier."""
    if launch_time is None:
        return now
    return min(now, launch_time) if as_of else launch_time
