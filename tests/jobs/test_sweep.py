"""`launcher sweep` for open pull requests: auto-reject at launch time, stale warning and close."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from launcher.adapters.github import GitHub
from launcher.sandbox.clock import CLOCK
from tests.conftest import run_cli
from tests.jobs.conftest import APP_BOT, World, request

WEB = "deployments/dev/web.yaml"
WRITES = ("POST", "PATCH", "PUT", "DELETE")
LAUNCH_AT = "2026-12-01T09:00:00Z"


def scheduled(name: str = "web") -> str:
    return request(name) + f"launch_at: {LAUNCH_AT}\n"


def open_scheduled(world: World, name: str = "web") -> int:
    number = world.open_pr("bob", {f"deployments/dev/{name}.yaml": scheduled(name)})
    world.gate(number)
    return number


def writes(world: World) -> list[str]:
    # Minting the job's installation token is not a write to the repository.
    return [
        key
        for key in world.sb.request_counts()
        if key.startswith(WRITES) and not key.startswith("POST /app/")
    ]


def test_not_approved_by_launch_time_is_auto_rejected(world: World) -> None:
    number = open_scheduled(world)
    report, out = world.sweep("2026-12-01T08:59:00Z")
    assert report.budget.done == []
    assert f"#{number} is auto-rejected at 2026-12-01 09:00 UTC unless approved" in out
    assert world.pull_state(number) == "open"

    report, out = world.sweep("2026-12-01T09:00:00Z")
    assert world.pull_state(number) == "closed"
    assert world.status(number) == (
        "failure",
        "auto-rejected: not approved before the scheduled launch time 2026-12-01 09:00 UTC",
    )
    assert world.labels(number) == ["launch:auto-rejected"]
    notice = [c.body for c in world.comments(number) if "launcher:sweep:auto_rejected" in c.body]
    assert len(notice) == 1
    assert (
        "@bob this launch request was closed automatically: not approved before the " in notice[0]
    )
    assert "Approvers: @dave, @erin, @acme/dev-leads." in notice[0]
    branch = world.repo("bob").get_branch(world.branches[number])  # the branch is kept
    assert branch.name == world.branches[number]
    (record,) = world.repo("alice").get_deployments(environment="dev/web")
    assert record.task == "launcher-request" and record.payload["pr"] == number
    assert [(s.state, s.description) for s in record.get_statuses()] == [
        (
            "failure",
            "auto_rejected: not approved before the scheduled launch time 2026-12-01 09:00 UTC",
        )
    ]


def test_approved_before_launch_time_is_left_alone(world: World) -> None:
    CLOCK.set(datetime(2026, 12, 1, 8, 0, tzinfo=UTC))  # the approval comes before launch_at
    number = open_scheduled(world)
    world.review("dave", number)
    world.gate(number)
    report, _ = world.sweep("2026-12-01T10:00:00Z")
    assert report.budget.done == []
    assert world.pull_state(number) == "open"


def test_a_skipped_run_catches_up(world: World) -> None:
    number = open_scheduled(world)
    world.sweep("2026-12-04T17:30:00Z")  # three days late: deadlines are compared with now
    assert world.pull_state(number) == "closed"


def test_a_second_run_at_the_same_time_does_nothing(world: World) -> None:
    number = open_scheduled(world)
    world.sweep("2026-12-01T09:15:00Z")
    world.sb.reset_requests()
    report, out = world.sweep("2026-12-01T09:15:00Z")
    assert report.budget.done == [] and writes(world) == []
    assert "Nothing to do." in out
    assert world.pull_state(number) == "closed"


def test_dry_run_changes_nothing(world: World) -> None:
    number = open_scheduled(world)
    world.sb.reset_requests()
    report, out = world.sweep("2026-12-01T09:00:00Z", "--dry-run")
    assert writes(world) == []
    assert world.pull_state(number) == "open"
    assert report.budget.would == [
        f"comment on #{number}: not approved before the scheduled launch time 2026-12-01 09:00 UTC",
        f"check launcher/approval failure on #{number}",
        f"label #{number} launch:auto-rejected",
        "record dev/web as FAILED (auto_rejected)",
        f"close #{number} (auto_rejected)",
    ]
    assert "**Would do (dry run)**" in out


def test_max_actions_defers_the_rest_to_the_next_run(world: World) -> None:
    first = open_scheduled(world, "web")
    second = open_scheduled(world, "api")
    report, out = world.sweep("2026-12-01T09:00:00Z", "--max-actions=5")
    assert len(report.budget.done) == 5 and len(report.budget.deferred) == 5
    assert "--max-actions 5 reached" in out
    assert world.pull_state(first) == "closed" and world.pull_state(second) == "open"
    world.sweep("2026-12-01T09:15:00Z", "--max-actions=5")
    assert world.pull_state(second) == "closed"


def created(world: World, number: int):  # type: ignore[no-untyped-def]
    return world.repo("alice").get_pull(number).created_at


def test_stale_request_is_warned_once_then_closed(world: World) -> None:
    number = world.open_pr("bob", {WEB: request()})
    world.gate(number)
    opened = created(world, number)
    iso = lambda delta: (opened + delta).isoformat()  # noqa: E731

    world.sweep(iso(timedelta(days=12)))
    assert [c for c in world.comments(number) if "stale-warning" in c.body] == []

    report, out = world.sweep(iso(timedelta(days=13, hours=1)))
    warnings = [c.body for c in world.comments(number) if "stale-warning" in c.body]
    assert len(warnings) == 1
    assert "pending longer than 2w (request_ttl of pool dev)" in warnings[0]
    assert f"#{number} is closed as stale at" in out

    world.sweep(iso(timedelta(days=13, hours=2)))  # never twice
    assert len([c for c in world.comments(number) if "stale-warning" in c.body]) == 1

    world.sweep(iso(timedelta(days=14)))
    assert world.pull_state(number) == "closed"
    assert world.status(number) == (
        "failure",
        "stale: pending longer than 2w (request_ttl of pool dev)",
    )


def test_keep_open_label_exempts_from_stale(world: World) -> None:
    number = world.open_pr("bob", {WEB: request()})
    world.gate(number)
    world.repo("bob").get_issue(number).add_to_labels("launch:keep-open")
    world.sweep((created(world, number) + timedelta(days=30)).isoformat())
    assert world.pull_state(number) == "open"


def test_sweep_command_rejects_a_naive_now(tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = run_cli(tmp_path, "sweep", "--now", "2026-12-01T09:00:00")
    assert result.code == 2
    assert "has no time zone" in result.err


def test_a_rejected_request_closed_as_stale_is_recorded_failed_rejected(world: World) -> None:
    """The audit trail keeps who rejected it and why once the pull request is closed."""
    from launcher.adapters.github import GitHub
    from launcher.jobs.status import gather
    from launcher.report.text import status_json

    number = world.open_pr("bob", {WEB: request()})
    world.review("dave", number, "REQUEST_CHANGES", "Too big for dev")
    world.gate(number)
    opened = created(world, number)
    world.sweep((opened + timedelta(days=14)).isoformat())
    assert world.pull_state(number) == "closed"
    overview = gather(GitHub(world.settings()), None, opened + timedelta(days=15)).overview
    [row] = [r for r in status_json(overview)["requests"] if r["request"] == "dev/web"]
    assert (row["state"], row["category"]) == ("FAILED", "rejected")
    assert [(e["event"], e["by"], e["text"]) for e in row["history"]] == [
        ("rejected", "dave", "Too big for dev")
    ]


def auto_reject_notices(world: World, number: int) -> list[Any]:
    """launcher's app's auto-reject comments on the pull request, oldest first."""
    return [
        c
        for c in world.comments(number)
        if "launcher:sweep:auto_rejected" in c.body and c.user.login == APP_BOT
    ]


def test_two_sweeps_at_once_leave_one_auto_reject_comment(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run A reads the comments (none), run B runs to completion (comments, closes), then A
    posts its copy: once both are done, one comment stays, the older (B's)."""
    number = open_scheduled(world)
    read = GitHub.find_comments
    raced: list[int] = []

    def racing(self: GitHub, n: int, marker: str) -> Any:
        found = read(self, n, marker)
        if not raced and marker.endswith("auto_rejected -->"):
            raced.append(n)
            report, _ = world.sweep("2026-12-01T09:00:00Z")  # run B, between A's read and post
            assert report.exit_code == 0, report.errors
            assert len(auto_reject_notices(world, number)) == 1
        return found

    monkeypatch.setattr(GitHub, "find_comments", racing)
    report, _ = world.sweep("2026-12-01T09:00:00Z")  # run A
    monkeypatch.undo()
    assert raced == [number] and report.exit_code == 0, report.errors
    assert world.pull_state(number) == "closed"
    notices = auto_reject_notices(world, number)
    assert len(notices) == 1
    assert (
        report.budget.done.count(
            f"delete a doubled comment <!-- launcher:sweep:auto_rejected --> on #{number}"
        )
        == 1
    )


def test_a_copy_left_on_a_closed_pull_request_is_removed_by_the_next_sweep(world: World) -> None:
    """A racing run posted its copy after the first run closed the pull request and tidied up
    (or crashed before tidying): the next sweep finds it through launcher's own record."""
    number = open_scheduled(world)
    world.sweep("2026-12-01T09:00:00Z")
    [kept] = auto_reject_notices(world, number)
    GitHub(world.settings()).comment(number, kept.body)  # the racing run's copy, as the app
    assert len(auto_reject_notices(world, number)) == 2
    report, _ = world.sweep("2026-12-01T09:30:00Z")
    assert report.exit_code == 0, report.errors
    assert [c.id for c in auto_reject_notices(world, number)] == [kept.id]
    world.sb.reset_requests()
    again, _ = world.sweep("2026-12-01T09:45:00Z")
    assert again.budget.done == [] and writes(world) == []


def test_a_copy_by_anyone_else_is_not_launcher_s_and_stays(world: World) -> None:
    """Only the app's own comments are read: a writer's copy of the marker is neither counted
    nor deleted (nobody can make launcher delete its own notice by posting a copy first)."""
    number = open_scheduled(world)
    world.sweep("2026-12-01T09:00:00Z")
    [kept] = auto_reject_notices(world, number)
    world.repo("bob").get_issue(number).create_comment(kept.body)
    world.sweep("2026-12-01T09:30:00Z")
    assert [c.id for c in auto_reject_notices(world, number)] == [kept.id]
    assert sum("launcher:sweep:auto_rejected" in c.body for c in world.comments(number)) == 2


def test_a_request_withdrawn_after_the_sweep_listed_it_is_not_rejected_too(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A listing is a snapshot: the sweep verifies against the pull request itself, so one its
    author closed in between gets no auto-rejection (comment, label, failed check)."""
    number = open_scheduled(world)
    before = world.status(number)
    listed = GitHub.open_pulls

    def then_withdrawn(self: GitHub, base: str) -> Any:
        found = listed(self, base)
        world.repo("bob").get_pull(number).edit(state="closed")
        return found

    monkeypatch.setattr(GitHub, "open_pulls", then_withdrawn)
    world.sweep("2026-12-01T09:00:00Z")
    assert world.pull_state(number) == "closed"
    assert not [c for c in world.comments(number) if "launcher:sweep:auto_rejected" in c.body]
    assert "launch:auto-rejected" not in world.labels(number)
    assert world.status(number) == before
