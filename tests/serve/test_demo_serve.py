"""`launcher demo --serve`: the six stories with the gate answered by `launcher serve`."""

from __future__ import annotations

from tests.test_demo import demo


def test_demo_serve_tells_the_same_six_stories_answered_by_the_service() -> None:
    result = demo("--serve", timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "the gate is launcher serve at http://127.0.0.1:" in out
    for line in (
        "   PR #1 opened → launcher/approval success: 1 request may launch",
        "   PR #2 opened → launcher/approval pending: waiting for 1 approval from dev approvers",
        "   reviews requested from @dave, @erin",
        '   dave approves: "OK for the QA cycle" → launcher/approval success: 1 request may launch',
        "   PR #3 → launcher/approval failure: rejected by @erin: Eight is too many for dev: use "
        "two, or ask in the perf pool.",
        "   merged → recorded as SCHEDULED, nothing runs yet",
        "   PR #6 → launcher/approval failure: mallory has no permission on pool dev: ask an admin "
        "(@acme/platform) to add them to create or create_with_approval in pools.yaml",
    ):
        assert line in out, out
    table = out.split("request           PR  state")[1]
    for state in ("RUNNING", "REJECTED", "FAILED", "EXPIRED", "REFUSED"):
        assert state in table
