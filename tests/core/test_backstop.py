"""The expiry backstop's pure decisions: names, times, which role, which instances."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from launcher.core.backstop import (
    backstop_at,
    backstop_name,
    ended_by_backstop,
    fleet_backstops,
    provider_backstop,
)
from launcher.core.fleet import Fleet, FleetInstance
from launcher.core.lifecycle import Record, RequestState, Version
from launcher.core.matching import Location
from launcher.core.model import Policy, Pool, Provider
from launcher.core.record import PlacementRecord

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
ROLE = "arn:aws:iam::123456789012:role/launcher-scheduler"
AWS_NAME = re.compile(r"[0-9a-zA-Z_.-]{1,64}")


def test_names_are_deterministic_distinct_and_within_aws_rules() -> None:
    name = backstop_name("dev/web-frontend", "a" * 40)
    assert name == backstop_name("dev/web-frontend", "a" * 40)
    assert name.startswith("launcher-dev.web-frontend-")
    assert name != backstop_name("dev/web-frontend", "b" * 40)
    assert name != backstop_name("dev/web.frontend", "a" * 40)  # same readable part
    for key in ("p/" + "x" * 200, "p/ünïcode", "/", "a/b"):
        assert AWS_NAME.fullmatch(backstop_name(key, "c" * 40)), key


def test_time_is_never_early_and_never_in_the_past() -> None:
    assert backstop_at(NOW + timedelta(hours=8), NOW) == NOW + timedelta(hours=8)
    rounded = backstop_at(NOW + timedelta(hours=8, microseconds=1), NOW)
    assert rounded == NOW + timedelta(hours=8, seconds=1)
    assert backstop_at(NOW - timedelta(hours=1), NOW) == NOW + timedelta(minutes=1)


def test_no_backstop_without_expiry_or_role() -> None:
    with_role = Provider("p", "us-east-1", scheduler_role=ROLE)
    assert provider_backstop(with_role, "dev/web", "c", ["i-2", "i-1"], None, NOW) is None
    without = Provider("p", "us-east-1")
    assert provider_backstop(without, "dev/web", "c", ["i-1"], NOW, NOW) is None
    found = provider_backstop(with_role, "dev/web", "c", ["i-2", "i-1"], NOW + timedelta(1), NOW)
    assert found is not None
    assert found.instance_ids == ("i-1", "i-2") and found.role_arn == ROLE


def test_a_fleet_gets_one_backstop_per_location_with_its_providers_role() -> None:
    west = Location("us-west-2", "arn:aws:iam::111111111111:role/launcher")
    policy = Policy(
        pools={
            "dev": Pool(
                name="dev",
                providers=(
                    Provider("east", "us-east-1", scheduler_role=ROLE),
                    Provider("west", "us-west-2", role_arn=west.role_arn),  # no role: reported
                ),
            )
        }
    )

    def instance(i: str, region: str, role: str | None = None) -> FleetInstance:
        return FleetInstance(
            instance_id=i,
            key="dev/web",
            pool="dev",
            commit="c",
            state="running",
            region=region,
            role_arn=role,
        )

    fleet = Fleet(
        "dev/web",
        "c",
        (instance("i-1", "us-east-1"), instance("i-2", "us-west-2", west.role_arn)),
    )
    wanted, missing = fleet_backstops(policy, fleet, NOW + timedelta(hours=1), NOW)
    assert [(b.location, b.instance_ids, b.role_arn) for b in wanted] == [
        (Location("us-east-1"), ("i-1",), ROLE)
    ]
    assert missing == [west]
    assert fleet_backstops(policy, fleet, None, NOW) == ([], [])


def _record(
    deployment_id: int,
    key: str,
    state: RequestState,
    expires: datetime | None,
    region: str = "us-east-1",
) -> Record:
    return Record(
        deployment_id=deployment_id,
        key=key,
        version=Version("s", "r"),
        commit="c",
        state=state,
        placement=PlacementRecord(region=region),
        expires_at=expires,
    )


def test_ends_worth_checking_are_recent_newest_and_at_a_provider_with_a_backstop() -> None:
    policy = Policy(
        pools={
            "dev": Pool(
                name="dev",
                providers=(
                    Provider("east", "us-east-1", scheduler_role=ROLE),
                    Provider("west", "us-west-2"),  # no backstop: only the sweep ends them
                ),
            )
        }
    )
    hour_ago, week_ago = NOW - timedelta(hours=1), NOW - timedelta(days=7)
    records = [
        _record(1, "dev/web", RequestState.EXPIRED, hour_ago),
        _record(2, "dev/web", RequestState.FAILED, None),  # a failed newer version
        _record(3, "dev/old", RequestState.EXPIRED, week_ago),  # long past: not re-read
        _record(4, "dev/west", RequestState.EXPIRED, hour_ago, "us-west-2"),
        _record(5, "dev/replaced", RequestState.EXPIRED, hour_ago),
        _record(6, "dev/replaced", RequestState.RUNNING, NOW + timedelta(hours=1)),
        _record(7, "dev/soon", RequestState.RUNNING, NOW + timedelta(minutes=1)),
    ]
    found = ended_by_backstop(policy, records, NOW, timedelta(days=1))
    assert [r.deployment_id for r in found] == [1]
    assert ended_by_backstop(policy, records, NOW, timedelta(days=8))[-1].key == "dev/old"
