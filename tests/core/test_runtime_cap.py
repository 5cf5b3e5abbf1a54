"""The pool's max_runtime cap over whatever a record says (launcher.core.runtime_cap)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from launcher.core.lifecycle import Record, RequestState, Version
from launcher.core.runtime_cap import cap_expiry, cap_runtime, capped_record

T = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
WEEK = timedelta(days=7)


def test_an_expiry_is_cut_to_the_earliest_start_plus_the_cap() -> None:
    far = datetime(2099, 1, 1, tzinfo=UTC)
    assert cap_expiry(far, (T, T + timedelta(seconds=9)), WEEK) == T + WEEK
    assert cap_expiry(None, (T,), WEEK) == T + WEEK  # "never" is not within a cap
    assert cap_expiry(T + timedelta(hours=8), (T,), WEEK) == T + timedelta(hours=8)
    assert cap_expiry(far, (T,), None) == far  # a pool without a cap
    assert cap_expiry(far, (None,), WEEK) == far  # no known start: nothing to count from


def test_a_runtime_is_never_longer_than_the_cap() -> None:
    assert cap_runtime(timedelta(days=3650), WEEK) == WEEK
    assert cap_runtime(None, WEEK) == WEEK
    assert cap_runtime(timedelta(hours=8), WEEK) == timedelta(hours=8)
    assert cap_runtime(timedelta(days=30), None) == timedelta(days=30)


def test_a_record_claiming_2099_is_capped_from_ec2s_launch_time() -> None:
    record = Record(
        deployment_id=1,
        key="dev/web",
        version=Version("s", "r"),
        commit="c",
        state=RequestState.RUNNING,
        launched_at=datetime(2099, 1, 1, tzinfo=UTC),  # forged start: LaunchTime wins
        expires_at=datetime(2099, 1, 2, tzinfo=UTC),
    )
    assert capped_record(record, WEEK, T).expires_at == T + WEEK
    honest = Record(
        deployment_id=2,
        key="dev/web",
        version=Version("s", "r"),
        commit="c",
        state=RequestState.RUNNING,
        launched_at=T,
        expires_at=T + timedelta(hours=8),
    )
    assert capped_record(honest, WEEK, T) is honest
