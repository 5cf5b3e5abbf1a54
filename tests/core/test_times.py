"""One set of rules for times: requests, options, payloads and tags read them alike."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta, timezone

import pytest

from launcher.commands.arguments import instant
from launcher.core.times import (
    InstantError,
    instant_or_none,
    parse_instant,
    parse_utc_text,
    utc_iso,
    utc_text,
)

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def test_times_round_trip_in_utc() -> None:
    assert utc_iso(NOW) == "2026-12-01T09:00:00Z"
    assert instant_or_none("2026-12-01T09:00:00Z") == NOW
    assert instant_or_none("2026-12-01T10:00:00+01:00") == NOW
    assert instant_or_none("2026-12-01T09:00:00") is None  # no zone: not trusted
    assert instant_or_none("soon") is None and instant_or_none(None) is None
    assert utc_text(NOW.astimezone(timezone(timedelta(hours=-5)))) == "2026-12-01 09:00 UTC"
    assert parse_utc_text(utc_text(NOW)) == NOW
    assert parse_utc_text("tomorrow") is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2026-12-01T09:00:00", "has no time zone"),
        ("2026-12-01", "has no time zone"),
        ("2026-12-01 09:00:00Z", "has no time zone"),
        ("next tuesday", "is not an ISO 8601 date and time"),
    ],
)
def test_a_time_without_a_zone_or_not_iso_is_refused(text: str, message: str) -> None:
    with pytest.raises(InstantError, match=message):
        parse_instant(text)
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        instant(text)  # every command's --now: the same rule and message


def test_the_option_type_reads_what_requests_may_say() -> None:
    assert instant("2026-12-01T09:00:00Z") == NOW
    assert instant("2026-12-01T04:00:00-05:00") == NOW
