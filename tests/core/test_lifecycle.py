"""The reconcile's pure parts: versions, expiry, failure descriptions, the plan, fallbacks."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from launcher.core.fallback import Exhausted, next_placement
from launcher.core.fleet import Fleet, FleetInstance, fleets_of
from launcher.core.lifecycle import (
    Category,
    Complete,
    Desired,
    LastError,
    Launch,
    Reason,
    Record,
    Replace,
    RequestState,
    Retag,
    Schedule,
    Terminate,
    expired,
    expires_at,
    launch_due,
    parse_error,
    plan,
    version_of,
)
from launcher.core.matching import ImageInfo, InstanceTypeInfo, Location, RegionCatalogue
from launcher.core.model import Hardware, InstanceGroup, LaunchRequest, Pool, Provider

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
KEY = "dev/web"
SMALL = Hardware(2, 4)


def req(count: int = 1, **changes: object) -> LaunchRequest:
    group = InstanceGroup("a", "rhel9", count, SMALL, hardware_profile="small")
    base = LaunchRequest("web", "dev", "deployments/dev/web.yaml", (group,))
    return replace(base, **changes)


def desired(request: LaunchRequest | None = None, commit: str = "c1", **kw: object) -> Desired:
    request = request or req()
    return Desired(
        key=KEY,
        path=request.path,
        version=version_of(request),
        commit=commit,
        launch_at=request.launch_at,
        max_runtime=request.max_runtime,
        **kw,  # type: ignore[arg-type]
    )


def record(d: Desired, state: RequestState, deployment_id: int = 1, **kw: object) -> Record:
    return Record(
        deployment_id=deployment_id,
        key=d.key,
        version=d.version,
        commit=d.commit,
        state=state,
        **kw,  # type: ignore[arg-type]
    )


def fleet(commit: str = "c1", n: int = 1, key: str = KEY) -> Fleet:
    return Fleet(
        key,
        commit,
        tuple(
            FleetInstance(
                instance_id=f"i-{commit}{i}",
                key=key,
                pool="dev",
                commit=commit,
                state="running",
                region="us-east-1",
                group="a",
            )
            for i in range(n)
        ),
    )


# --- versions, times, errors ------------------------------------------------------------------


def test_max_runtime_only_changes_the_runtime_part() -> None:
    a, b = version_of(req()), version_of(req(max_runtime=timedelta(hours=8)))
    assert a.spec == b.spec and a.runtime != b.runtime and a != b


def test_other_changes_change_the_spec() -> None:
    base = version_of(req())
    assert version_of(req(count=2)).spec != base.spec
    assert version_of(req(launch_at=NOW)).spec != base.spec
    assert version_of(req(description="reworded")) == base  # wording changes nothing


def test_profile_by_name_not_content() -> None:
    bigger = req(instances=(InstanceGroup("a", "rhel9", 1, Hardware(8, 32), "small"),))
    assert version_of(bigger) == version_of(req())


def test_launch_at_in_another_zone_is_the_same_version() -> None:
    other = NOW.astimezone(__import__("datetime").timezone(timedelta(hours=2)))
    assert version_of(req(launch_at=NOW)) == version_of(req(launch_at=other))


def test_expires_at_uses_the_request_then_the_pool_cap() -> None:
    assert expires_at(NOW, timedelta(hours=8), timedelta(days=7)) == NOW + timedelta(hours=8)
    assert expires_at(NOW, None, timedelta(days=7)) == NOW + timedelta(days=7)
    assert expires_at(NOW, None, None) is None


def test_failure_descriptions_carry_the_category() -> None:
    error = LastError(Category.NO_MATCH, "no allowed instance type " + "x" * 200)
    text = error.describe()
    assert len(text) == 140 and text.startswith("no_match: ")
    assert parse_error(text).category is Category.NO_MATCH  # type: ignore[union-attr]
    assert parse_error("bogus: x") is None and parse_error("no colon") is None


def test_launch_due_and_expired_compare_with_now() -> None:
    d = desired()
    scheduled = record(d, RequestState.SCHEDULED, launch_at=NOW)
    assert launch_due(scheduled, NOW) and not launch_due(scheduled, NOW - timedelta(seconds=1))
    assert not launch_due(replace(scheduled, state=RequestState.RUNNING), NOW)
    running = record(d, RequestState.RUNNING, expires_at=NOW)
    assert expired(running, NOW) and not expired(running, NOW - timedelta(minutes=1))
    assert not expired(replace(running, expires_at=None), NOW)
    assert not expired(replace(running, state=RequestState.SCHEDULED), NOW)


def test_fleets_group_by_request_and_commit_once_per_instance() -> None:
    one = fleet("c1").instances[0]
    other = replace(one, instance_id="i-2", commit="c2")
    assert [(f.key, f.commit, f.instance_ids) for f in fleets_of([one, other, one])] == [
        (KEY, "c1", (one.instance_id,)),
        (KEY, "c2", ("i-2",)),
    ]


# --- plan ---------------------------------------------------------------------------------------


def test_a_new_request_launches() -> None:
    d = desired()
    assert plan([d], [], [], NOW) == [Launch(KEY, d)]


def test_a_future_request_is_scheduled() -> None:
    d = desired(req(launch_at=NOW + timedelta(hours=1)))
    assert plan([d], [], [], NOW) == [Schedule(KEY, d)]


def test_instances_without_a_record_are_completed_not_relaunched() -> None:
    d, f = desired(), fleet("c1")
    assert plan([d], [], [f], NOW) == [Complete(KEY, d, f)]


def test_launching_record_with_instances_is_completed() -> None:
    d, f = desired(), fleet("c1")
    r = record(d, RequestState.LAUNCHING, launch_commit="c1")
    assert plan([d], [r], [f], NOW) == [Complete(KEY, d, f, r)]


def test_launching_record_without_instances_launches_with_the_same_tokens() -> None:
    d = desired()
    r = record(d, RequestState.LAUNCHING, attempt=2)
    assert plan([d], [r], [], NOW) == [Launch(KEY, d, 2, r)]


def test_scheduled_waits_until_due() -> None:
    d = desired(req(launch_at=NOW + timedelta(hours=1)))
    r = record(d, RequestState.SCHEDULED, launch_at=d.launch_at)
    assert plan([d], [r], [], NOW) == []
    later = NOW + timedelta(hours=1)
    assert plan([d], [r], [], later) == [Launch(KEY, d, 0, r)]


def test_running_and_unchanged_does_nothing() -> None:
    d = desired()
    r = record(d, RequestState.RUNNING, launch_commit="c1")
    assert plan([d], [r], [fleet("c1")], NOW) == []


def test_max_runtime_change_retags() -> None:
    old = desired()
    running = record(old, RequestState.RUNNING, launch_commit="c1", launched_at=NOW)
    new = desired(req(max_runtime=timedelta(hours=8)), commit="c2")
    f = fleet("c1")
    assert plan([new], [running], [f], NOW) == [
        Retag(KEY, new, running, f, NOW + timedelta(hours=8))
    ]


def test_other_change_replaces() -> None:
    old = desired()
    running = record(old, RequestState.RUNNING, launch_commit="c1")
    new = desired(req(count=2), commit="c2")
    f = fleet("c1")
    assert plan([new], [running], [f], NOW) == [Replace(KEY, new, 0, None, (f,), (running,))]


def test_a_replacement_running_ends_the_old_instances() -> None:
    old, new = desired(), desired(req(count=2), commit="c2")
    r1 = record(old, RequestState.RUNNING, 1, launch_commit="c1")
    r2 = record(new, RequestState.RUNNING, 2, launch_commit="c2")
    f1 = fleet("c1")
    assert plan([new], [r1, r2], [f1, fleet("c2")], NOW) == [
        Terminate(KEY, Reason.REPLACED, (r1,), (f1,))
    ]


def test_scheduled_new_version_keeps_the_old_running() -> None:
    old = desired()
    running = record(old, RequestState.RUNNING, launch_commit="c1")
    new = desired(req(count=2, launch_at=NOW + timedelta(days=1)), commit="c2")
    assert plan([new], [running], [fleet("c1")], NOW) == [Schedule(KEY, new)]


def test_failed_new_version_keeps_the_old_running() -> None:
    old, new = desired(), desired(req(count=2), commit="c2")
    running = record(old, RequestState.RUNNING, 1, launch_commit="c1")
    failed = record(new, RequestState.FAILED, 2)
    assert plan([new], [running, failed], [fleet("c1")], NOW) == []


def test_failed_is_final_unless_retried() -> None:
    d = desired()
    r = record(d, RequestState.FAILED, attempt=0)
    assert plan([d], [r], [], NOW) == []
    assert plan([d], [r], [], NOW, retry=[KEY]) == [Launch(KEY, d, 1, None)]


def test_ended_is_never_launched_again_but_leftovers_end() -> None:
    d = desired()
    r = record(d, RequestState.EXPIRED, launch_commit="c1")
    assert plan([d], [r], [], NOW) == []
    f = fleet("c1")
    assert plan([d], [r], [f], NOW) == [Terminate(KEY, Reason.EXPIRED, (), (f,))]
    # a version ended by a newer record of itself (a scheduled launch) stays ended
    ended = record(d, RequestState.TERMINATED, 1)
    running = record(d, RequestState.RUNNING, 2, launch_commit="c1")
    assert plan([d], [ended, running], [f], NOW) == []


def test_removed_then_readded_identically_is_a_new_request() -> None:
    """Only a removal ends the newest record of a request while main still holds it (one
    writer at a time): the request was re-added. It launches with fresh client tokens."""
    d = desired()
    r = record(d, RequestState.TERMINATED, launch_commit="c1", attempt=0)
    assert plan([d], [r], [], NOW) == [Launch(KEY, d, 1, None)]
    later = desired(req(launch_at=NOW + timedelta(hours=1)))
    r = record(later, RequestState.TERMINATED)
    assert plan([later], [r], [], NOW) == [Schedule(KEY, later, None, 1)]


def test_a_revert_to_an_earlier_version_is_a_new_change() -> None:
    v1, v2 = desired(), desired(req(count=2), commit="c2")
    r1 = record(v1, RequestState.TERMINATED, 1, launch_commit="c1")
    r2 = record(v2, RequestState.RUNNING, 2, launch_commit="c2")
    f2 = fleet("c2", 2)
    assert plan([v1], [r1, r2], [f2], NOW) == [Replace(KEY, v1, 1, None, (f2,), (r2,))]


def test_a_revert_of_a_max_runtime_change_retags_back() -> None:
    v1 = desired(req(max_runtime=timedelta(hours=8)))
    v2 = desired(req(max_runtime=timedelta(hours=24)), commit="c2")
    r1 = record(v1, RequestState.TERMINATED, 1, launch_commit="c1", launched_at=NOW)
    r2 = record(v2, RequestState.RUNNING, 2, launch_commit="c1", launched_at=NOW)
    f = fleet("c1")
    assert plan([v1], [r1, r2], [f], NOW) == [Retag(KEY, v1, r2, f, NOW + timedelta(hours=8))]


def test_reverting_after_a_failed_version_keeps_the_old_one() -> None:
    old, new = desired(), desired(req(count=2), commit="c2")
    running = record(old, RequestState.RUNNING, 1, launch_commit="c1")
    failed = record(new, RequestState.FAILED, 2)
    assert plan([old], [running, failed], [fleet("c1")], NOW) == []


def test_an_expired_version_left_on_main_stays_expired() -> None:
    old, new = desired(), desired(req(count=2, launch_at=NOW + timedelta(days=1)), commit="c2")
    # v2 was scheduled, v1 came back (the schedule is dropped), then v1 expired
    r1 = record(old, RequestState.EXPIRED, 1, launch_commit="c1")
    r2 = record(new, RequestState.TERMINATED, 2)
    r3 = record(old, RequestState.EXPIRED, 3, launch_commit="c1")
    assert plan([old], [r1, r2, r3], [], NOW) == []


def test_expired_running_is_terminated() -> None:
    d = desired()
    r = record(d, RequestState.RUNNING, launch_commit="c1", expires_at=NOW)
    f = fleet("c1")
    assert plan([d], [r], [f], NOW) == [Terminate(KEY, Reason.EXPIRED, (r,), (f,))]


def test_removed_request_is_terminated() -> None:
    d = desired()
    r = record(d, RequestState.RUNNING, launch_commit="c1")
    f = fleet("c1")
    assert plan([], [r], [f], NOW) == [Terminate(KEY, Reason.REMOVED, (r,), (f,))]


def test_removed_scheduled_request_is_marked_inactive() -> None:
    d = desired()
    r = record(d, RequestState.SCHEDULED)
    assert plan([], [r], [], NOW) == [Terminate(KEY, Reason.REMOVED, (r,), ())]


def test_removed_and_done_is_quiet() -> None:
    d = desired()
    for state in (RequestState.TERMINATED, RequestState.EXPIRED):
        assert plan([], [record(d, state)], [], NOW) == []


def test_a_removed_failed_request_is_marked_ended_so_a_readd_is_new() -> None:
    failed = record(desired(), RequestState.FAILED)
    assert plan([], [failed], [], NOW) == [Terminate("dev/web", Reason.REMOVED, (failed,), ())]


def test_tagged_instances_of_a_removed_request_are_ended_not_orphans() -> None:
    f = fleet("c9", key="dev/ghost")
    assert plan([], [], [f], NOW) == [Terminate("dev/ghost", Reason.REMOVED, (), (f,))]


def test_plan_orders_by_key() -> None:
    a = replace(desired(), key="dev/a")
    b = replace(desired(), key="dev/b")
    assert [x.key for x in plan([b, a], [], [], NOW)] == ["dev/a", "dev/b"]


# --- fallback -----------------------------------------------------------------------------------

USE1 = Location("us-east-1")
USW2 = Location("us-west-2")
AMI = "ami-0123456789abcdef0"


def _catalogue(region: str) -> RegionCatalogue:
    types = {
        "t3.medium": InstanceTypeInfo("t3.medium", 2, 4.0, ("x86_64",)),
        "t3.large": InstanceTypeInfo("t3.large", 2, 8.0, ("x86_64",)),
    }
    zones = {f"{region}a": frozenset(types), f"{region}b": frozenset(types)}
    return RegionCatalogue(
        region,
        types,
        frozenset(types),
        zones,
        {AMI: ImageInfo(AMI, "x86_64")},
    )


POOL = Pool(
    "dev",
    providers=(
        Provider("east", "us-east-1", 1, ("t3.*",)),
        Provider("west", "us-west-2", 2, ("t3.*",)),
    ),
    images={"rhel9": {"us-east-1": AMI, "us-west-2": AMI}},
)
CATALOGUES = {USE1: _catalogue("us-east-1"), USW2: _catalogue("us-west-2")}


def _first(exhausted: list[Exhausted]) -> tuple[str, str, str | None] | None:
    placement, _ = next_placement(req(), POOL, CATALOGUES, {}, exhausted)
    if placement is None:
        return None
    [g] = placement.groups
    return placement.provider.name, g.instance_type, g.zone


def test_fallback_order_zone_then_type_then_provider() -> None:
    tried: list[Exhausted] = []
    seen = []
    while (step := _first(tried)) is not None:
        seen.append(step)
        provider, instance_type, zone = step
        tried.append(Exhausted(USE1 if provider == "east" else USW2, instance_type, zone))
        assert len(seen) < 20
    assert seen[:6] == [
        ("east", "t3.medium", None),
        ("east", "t3.medium", "us-east-1a"),
        ("east", "t3.medium", "us-east-1b"),
        ("east", "t3.large", None),
        ("east", "t3.large", "us-east-1a"),
        ("east", "t3.large", "us-east-1b"),
    ]
    assert seen[6] == ("west", "t3.medium", None)
    assert len(seen) == 12


def test_fallback_keeps_a_requested_zone() -> None:
    pinned = req(instances=(InstanceGroup("a", "rhel9", 1, SMALL, "small", "us-east-1b"),))
    placement, _ = next_placement(
        pinned, POOL, CATALOGUES, {}, [Exhausted(USE1, "t3.medium", "us-east-1b")]
    )
    assert placement is not None
    assert [(g.instance_type, g.zone) for g in placement.groups] == [("t3.large", "us-east-1b")]


@pytest.mark.parametrize("allowed", [frozenset({"us-east-1b"})])
def test_fallback_pins_only_to_allowed_zones(allowed: frozenset[str]) -> None:
    placement, _ = next_placement(
        req(), POOL, CATALOGUES, {}, [Exhausted(USE1, "t3.medium", None)], {USE1: allowed}
    )
    assert placement is not None and placement.groups[0].zone == "us-east-1b"
