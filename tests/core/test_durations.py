from __future__ import annotations

from datetime import timedelta

import pytest

from launcher.core.durations import DurationError, format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("30m", timedelta(minutes=30)),
        ("8h", timedelta(hours=8)),
        ("7d", timedelta(days=7)),
        ("2w", timedelta(weeks=2)),
        ("PT8H", timedelta(hours=8)),
        ("P1DT2H", timedelta(days=1, hours=2)),
        ("pt90m", timedelta(minutes=90)),
    ],
)
def test_accepted_forms(text: str, value: timedelta) -> None:
    assert parse_duration(text) == value


@pytest.mark.parametrize("text", ["8 hours", "P", "PT", "P1DT", "0h", "-1h", "", 8])
def test_refused_forms(text: object) -> None:
    with pytest.raises(DurationError):
        parse_duration(text)


def test_format_round_trips() -> None:
    for text in ("30m", "8h", "36h", "3d", "2w"):
        assert format_duration(parse_duration(text)) == text
