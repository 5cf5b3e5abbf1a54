"""`launcher gate` end to end: PyGithub over HTTP against the GitHub stand-in."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from launcher.sandbox.clock import CLOCK
from tests.conftest import run_cli
from tests.jobs.conftest import APP_BOT, BOT, POOLS, World, request

WEB = "deployments/dev/web.yaml"
WRITES = ("POST", "PATCH", "PUT", "DELETE")


def test_create_tier_author_passes_without_review(world: World) -> None:
    number = world.open_pr("alice", {WEB: request()})
    outcome, out = world.gate(number)
    assert outcome.exit_code == 0
    assert world.status(number) == ("success", "1 request may launch")
    assert world.labels(number) == ["launch:approved"]
    assert world.requested(number) == ([], [])
    (comment,) = world.comments(number)
    assert comment.user.login == APP_BOT
    assert "alice has create on pool dev: may launch without approval" in comment.body
    assert "launcher/approval: success: 1 request may launch" in out


def test_approval_tier_waits_then_an_approver_passes_it(world: World) -> None:
    number = world.open_pr("bob", {WEB: request()})
    world.gate(number)
    assert world.status(number) == ("pending", "waiting for 1 approval from dev approvers")
    assert world.labels(number) == ["launch:pending-approval"]
    assert world.requested(number) == (["dave", "erin"], ["dev-leads"])

    world.review("alice", number)  # not an approver of dev
    world.gate(number)
    assert world.status(number)[0] == "pending"

    world.review("dave", number, body="fine for the load test")
    outcome, _ = world.gate(number)
    assert outcome.exit_code == 0
    assert world.status(number) == ("success", "1 request may launch")
    assert world.labels(number) == ["launch:approved"]
    assert "approved by @dave" in world.comments(number)[0].body


def test_team_approver_counts(world: World) -> None:
    number = world.open_pr("bob", {WEB: request()})
    world.review("lea", number)
    world.gate(number)
    assert world.status(number)[0] == "success"


def test_approval_then_push_is_stale(world: World) -> None:
    number = world.open_pr("bob", {WEB: request()})
    world.review("dave", number)
    world.gate(number)
    assert world.status(number)[0] == "success"
    world.push(number, {WEB: request(count=5)}, "bob")
    world.gate(number)
    assert world.status(number) == ("pending", "waiting for 1 approval from dev approvers")
    assert "stale: @dave" in world.comments(number)[0].body


def test_request_changes_rejects_with_the_reason_until_approved(world: World) -> None:
    number = world.open_pr("bob", {WEB: request(count=8)})
    world.review("erin", number, "REQUEST_CHANGES", "Eight is too many for dev; use two.")
    outcome, _ = world.gate(number)
    assert outcome.exit_code == 1
    assert world.status(number) == (
        "failure",
        "rejected by @erin: Eight is too many for dev; use two.",
    )
    assert world.labels(number) == ["launch:rejected"]
    assert "Eight is too many for dev; use two." in world.comments(number)[0].body
    world.review("erin", number)
    world.gate(number)
    assert world.status(number)[0] == "success"
    assert world.labels(number) == ["launch:approved"]


def test_pr_adding_its_author_to_create_needs_an_admin(world: World) -> None:
    widened = POOLS.replace("create: [alice]", "create: [alice, bob]")
    number = world.open_pr("bob", {"pools.yaml": widened, WEB: request()})
    world.gate(number)
    assert world.status(number) == (
        "pending",
        "waiting for 1 approval from dev approvers, 1 approval from admins",
    )
    assert world.requested(number) == (["dave", "erin"], ["dev-leads", "platform"])
    world.review("dave", number)
    world.gate(number)
    assert world.status(number) == ("pending", "waiting for 1 approval from admins")
    world.review("pat", number)
    world.gate(number)
    assert world.status(number)[0] == "success"


def test_two_pools_need_both_pools_approvers(world: World) -> None:
    number = world.open_pr(
        "bob", {WEB: request(), "deployments/gpu/train.yaml": request("train", "gpu")}
    )
    world.review("dave", number)
    world.gate(number)
    assert world.status(number) == ("pending", "waiting for 1 approval from gpu approvers")
    world.review("frank", number)
    world.gate(number)
    assert world.status(number) == ("success", "2 requests may launch")


def test_invalid_yaml_fails_with_its_line_annotated(world: World) -> None:
    number = world.open_pr("alice", {WEB: request().replace("count: 1", "count: [1")})
    outcome, out = world.gate(number)
    assert outcome.exit_code == 1
    state, description = world.status(number)
    assert state == "failure" and description.startswith("invalid YAML")
    assert world.labels(number) == ["launch:invalid"]
    assert f"::error file={WEB},line=9,col=1::invalid YAML" in out


def test_refused_author_fails_with_the_reason(world: World) -> None:
    number = world.open_pr("mallory", {WEB: request()})
    world.gate(number)
    state, description = world.status(number)
    assert state == "failure"
    assert description.startswith("mallory has no permission on pool dev: ask an admin")


@pytest.mark.parametrize("kind", ["error", "rate_limit"])
def test_github_failures_give_error_never_success(world: World, kind: str) -> None:
    number = world.open_pr("alice", {WEB: request()})
    world.sb.inject_fault(
        "GET", "/repos/{owner}/{repo}/pulls/{pull_number}/files", kind=kind, times=10
    )
    outcome, _ = world.gate(number)
    assert outcome.exit_code == 1
    state, description = world.status(number)
    assert state == "error"
    assert description.startswith("could not decide: listing the pull request's files")


def test_rerun_on_an_unchanged_pr_changes_nothing(world: World) -> None:
    number = world.open_pr("bob", {WEB: request()})
    first, _ = world.gate(number)
    assert first.writes and not first.skipped
    world.sb.reset_requests()
    again, out = world.gate(number)
    assert again.skipped and again.writes == []
    assert "nothing changed since the last run" in out
    # Only the job's own installation token is minted: nothing on the repository is written.
    writes = [
        key
        for key in world.sb.request_counts()
        if key.startswith(WRITES) and not key.startswith("POST /app/")
    ]
    assert writes == []
    assert len(world.comments(number)) == 1


def test_rerun_after_someone_removed_the_label_restores_it(world: World) -> None:
    number = world.open_pr("alice", {WEB: request()})
    world.gate(number)
    world.repo("alice").get_issue(number).remove_from_labels("launch:approved")
    outcome, _ = world.gate(number)
    assert not outcome.skipped
    assert world.labels(number) == ["launch:approved"]
    assert len(world.comments(number)) == 1


def test_a_copied_marker_from_someone_else_is_ignored(world: World) -> None:
    number = world.open_pr("bob", {WEB: request()})
    forged = "<!-- launcher:gate -->\n<!-- launcher:meta e30= -->\nall good"
    world.repo("bob").get_issue(number).create_comment(forged)
    world.gate(number)
    bots = [c for c in world.comments(number) if c.user.login == APP_BOT]
    assert len(bots) == 1
    assert world.status(number)[0] == "pending"


def test_gate_command_runs_from_the_actions_event(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    number = world.open_pr("bob", {WEB: request()})
    world.review("dave", number)
    event = world.sb.last_event("pull_request_review")
    env = event.env(tmp_path / "event.json")
    env.update(
        GITHUB_REPOSITORY="acme/infra",
        GITHUB_API_URL=world.sb.url,
        LAUNCHER_GITHUB_THROTTLE="0",
        **world.app_env(),  # app mode: no GITHUB_TOKEN needed
    )
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    result = run_cli(tmp_path, "gate", "--no-match")
    assert result.code == 0, result.err
    assert world.status(number) == ("success", "1 request may launch")
    assert "changed on GitHub: check success; comment; label launch:approved" in result.out
    assert "trial mode" not in world.comments(number)[0].body


def test_trial_mode_says_its_verdict_and_comments_are_forgeable(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    number = world.open_pr("alice", {WEB: request()})
    event = world.sb.last_event("pull_request")
    env = event.env(tmp_path / "event.json")
    env.update(
        GITHUB_REPOSITORY="acme/infra",
        GITHUB_TOKEN=world.tokens[BOT],
        GITHUB_API_URL=world.sb.url,
        LAUNCHER_BOT_LOGIN=BOT,
        LAUNCHER_GITHUB_THROTTLE="0",
    )
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    result = run_cli(tmp_path, "gate", "--no-match")
    assert result.code == 0, result.err
    prefix = "trial mode (forgeable by any writer): "
    assert world.status(number, app=BOT) == ("success", prefix + "1 request may launch")
    assert world.status(number) is None  # nothing from launcher's app
    (comment,) = world.comments(number)
    assert comment.user.login == BOT and comment.body.startswith(prefix)
    # The re-run recognises its own prefixed verdict: nothing is written again.
    again = run_cli(tmp_path, "gate", "--no-match")
    assert again.code == 0 and "changed on GitHub" not in again.out
    assert "changed on GitHub: check success" in result.out


def test_half_an_app_configuration_is_refused_not_trial_mode(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    number = world.open_pr("alice", {WEB: request()})
    env = world.sb.last_event("pull_request").env(tmp_path / "event.json")
    env.update(
        GITHUB_REPOSITORY="acme/infra",
        GITHUB_TOKEN=world.tokens[BOT],
        GITHUB_API_URL=world.sb.url,
        LAUNCHER_APP_ID=str(world.app.id),
    )
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    result = run_cli(tmp_path, "gate", "--no-match")
    assert result.code == 2
    assert "LAUNCHER_APP_ID is set but LAUNCHER_APP_PRIVATE_KEY is not" in result.err
    assert world.status(number, app=BOT) is None and world.comments(number) == []


def test_a_pull_request_from_a_fork_fails(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    # The stand-in has no forks: the pull request is read as GitHub would show a fork's.
    import dataclasses

    from launcher.adapters.github import GitHub

    number = world.open_pr("alice", {WEB: request()})
    real = GitHub.pull

    def from_fork(self: GitHub, n: int) -> object:
        return dataclasses.replace(real(self, n), head_repo="mallory/infra")

    monkeypatch.setattr(GitHub, "pull", from_fork)
    outcome, out = world.gate(number)
    assert outcome.exit_code == 1
    assert world.status(number) == ("failure", "pull requests from forks are not supported")
    assert "launcher/approval: failure: pull requests from forks are not supported" in out


def test_gate_command_without_event_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in ("GITHUB_EVENT_PATH", "GITHUB_REPOSITORY", "GITHUB_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    result = run_cli(tmp_path, "gate")
    assert result.code == 2
    assert "GITHUB_EVENT_PATH is not set" in result.err


def test_scheduled_request_waiting_for_approval_carries_its_launch_time(world: World) -> None:
    CLOCK.set(datetime(2026, 12, 1, 7, 0, tzinfo=UTC))  # approved before its launch_at
    scheduled = request() + "launch_at: 2026-12-01T09:00:00+01:00\n"
    number = world.open_pr("bob", {WEB: scheduled})
    world.gate(number)
    assert sorted(world.labels(number)) == [
        "launch:at 2026-12-01 08:00 UTC",
        "launch:pending-approval",
    ]
    world.review("dave", number)
    world.gate(number)
    assert world.labels(number) == ["launch:approved"]  # approved: nothing left to auto-reject


TEAM_MEMBERS = "/orgs/{org}/teams/{team_slug}/members"


def test_team_lookup_failure_on_a_rerun_replaces_the_old_status_with_an_error(
    world: World,
) -> None:
    # An approver rejects after an earlier success; if the team API then fails, the old
    # success must not stay on the head commit (the re-run re-reads the team on its fast path).
    number = world.open_pr("bob", {WEB: request()})
    world.review("lea", number)  # lea approves through the team acme/dev-leads
    world.gate(number)
    assert world.status(number)[0] == "success"
    world.review("erin", number, "REQUEST_CHANGES", "not this week")
    world.sb.inject_fault("GET", TEAM_MEMBERS, times=50)
    outcome, _ = world.gate(number)
    assert outcome.exit_code == 1
    state, description = world.status(number)
    assert state == "error"
    assert "acme/dev-leads" in description


def test_an_error_is_not_reused_by_the_fast_path(world: World) -> None:
    number = world.open_pr("bob", {WEB: request()})
    world.review("lea", number)
    world.sb.inject_fault("GET", TEAM_MEMBERS, times=50)
    world.gate(number)
    assert world.status(number)[0] == "error"
    world.sb.clear_faults()
    outcome, _ = world.gate(number)  # "Re-run the job", as the comment says
    assert not outcome.skipped
    assert world.status(number) == ("success", "1 request may launch")


def test_a_pull_request_into_another_branch_cannot_pass_the_head_commit(world: World) -> None:
    # The status is per commit: a pull request of the same head into a branch of the author's
    # (here with an empty diff, so nothing to approve) must not turn the check green for the
    # pull request into main.
    world.sb.push_files(world.repo_name, "bob/base", {WEB: request()}, "base", "bob", base="main")
    world.sb.push_files(world.repo_name, "bob/head", {}, "empty", "bob", base="bob/base")
    repo = world.repo("bob")
    into_main = repo.create_pull(title="launch", body="", head="bob/head", base="main").number
    into_own = repo.create_pull(title="noop", body="", head="bob/head", base="bob/base").number
    world.gate(into_main)
    assert world.status(into_main) == ("pending", "waiting for 1 approval from dev approvers")
    outcome, out = world.gate(into_own)
    assert outcome.exit_code == 0 and not outcome.writes
    assert "launcher gates pull requests into main" in out
    assert world.status(into_main) == ("pending", "waiting for 1 approval from dev approvers")


def test_a_file_list_cut_at_3000_files_is_an_error(world: World) -> None:
    # GitHub lists at most 3000 files of a pull request: a pools.yaml change sorted after
    # 3000 removals alice may make must not pass unseen.
    many = {f"deployments/dev/r{i:04}.yaml": request(f"r{i:04}") for i in range(3000)}
    world.sb.push_files(world.repo_name, "main", many, "many requests", "pat")
    widened = POOLS.replace("create: [alice]", "create: [alice, bob]")
    files: dict[str, str | None] = {path: None for path in many}
    files["pools.yaml"] = widened
    number = world.open_pr("alice", files)
    outcome, _ = world.gate(number)
    assert outcome.exit_code == 1
    state, description = world.status(number)
    assert state == "error"
    assert "3000 files or more" in description


def test_the_review_hand_over_is_a_pointer_the_gate_reads_again(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    number = world.open_pr("bob", {WEB: request()})
    world.review("dave", number)
    # What the workflow_run payload says about the run is not trusted: only the numbers.
    event = {
        "action": "completed",
        "workflow_run": {
            "name": "launcher review",
            "conclusion": "failure",
            "head_sha": "0" * 40,
            "pull_requests": [{"number": number, "head": {"sha": "f" * 40}}],
        },
    }
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event))
    for key, value in {
        "GITHUB_EVENT_NAME": "workflow_run",
        "GITHUB_EVENT_PATH": str(path),
        "GITHUB_REPOSITORY": "acme/infra",
        "GITHUB_API_URL": world.sb.url,
        "LAUNCHER_GITHUB_THROTTLE": "0",
        **world.app_env(),
    }.items():
        monkeypatch.setenv(key, value)
    result = run_cli(tmp_path, "gate", "--no-match")
    assert result.code == 0, result.err
    assert world.status(number) == ("success", "1 request may launch")
    # A run GitHub lists no pull request for (another branch, a fork): nothing to gate.
    event["workflow_run"]["pull_requests"] = []  # type: ignore[index]
    path.write_text(json.dumps(event))
    result = run_cli(tmp_path, "gate", "--no-match")
    assert result.code == 0 and "names no pull request of this repository" in result.out
