"""The gate's memory lives only where launcher's app writes; others' verdicts are reported.

The sticky comment is editable by any writer, so a re-run never relies on it: the fingerprint it
skips on is in launcher's own check run. A `launcher/approval` status (or another app's check
run of that name) is ignored, reported on the pull request with who set it, and recorded as
launcher's own deployment, which `launcher status` lists (issue 17, items 4 and 5).
"""

from __future__ import annotations

import base64
import json

import pytest

from launcher.adapters.github import GitHub
from launcher.adapters.github_history import pull_history
from launcher.jobs.gate import fingerprint
from tests.conftest import run_cli
from tests.jobs.conftest import APP_BOT, World, request
from tests.jobs.test_gate_provenance import refused_merge, ruled  # noqa: F401

WEB = "deployments/dev/web.yaml"


def forge_comment(world: World, number: int, by: str) -> None:
    """What an attacker with write access can do: recompute the fingerprint of the pull
    request as it is now (all of it is public) and write it, with a passing verdict, into the
    gate's own comment, where the gate before issues 16 and 17 kept its memory."""
    settings = world.settings(trial=True)
    settings.token = world.tokens[by]
    gh = GitHub(settings)
    info = gh.pull(number)
    for team in ("@acme/dev-leads", "@acme/platform"):
        gh.team_members(team)
    forged = {
        "fingerprint": fingerprint(info, gh.reviews(number), gh.teams_read, pull_history(gh, info)),
        "teams": sorted(gh.teams_read),
        "status": ["success", "1 request may launch"],
        "labels": ["launch:approved"],
    }
    encoded = base64.b64encode(json.dumps(forged, sort_keys=True).encode()).decode()
    (comment,) = [c for c in world.comments(number) if c.user.login == APP_BOT]
    body = comment.body.replace(
        "<!-- launcher:gate -->", f"<!-- launcher:gate -->\n<!-- launcher:meta {encoded} -->"
    )
    world.repo(by).get_issue(number).get_comment(comment.id).edit(body)


def test_an_edited_comment_cannot_make_a_re_run_skip(ruled: World) -> None:  # noqa: F811
    world = ruled
    number = world.open_pr("bob", {WEB: request(count=8)})
    world.review("dave", number)
    world.gate(number)
    assert world.status(number) == ("success", "1 request may launch")
    world.review("erin", number, "REQUEST_CHANGES", "Eight is too many")
    forge_comment(world, number, "bob")
    outcome, out = world.gate(number)
    assert "nothing changed since the last run" not in out
    assert outcome.exit_code == 1
    assert world.status(number) == ("failure", "rejected by @erin: Eight is too many")
    refused_merge(world, "bob", number)


def test_a_re_run_with_nothing_changed_still_skips(world: World) -> None:
    number = world.open_pr("alice", {WEB: request()})
    world.gate(number)
    outcome, out = world.gate(number)
    assert outcome.skipped and "nothing changed since the last run: success" in out


def test_a_status_set_by_someone_else_is_ignored_and_reported(ruled: World) -> None:  # noqa: F811
    world = ruled
    number = world.open_pr("bob", {WEB: request(count=8)})
    world.gate(number)
    assert world.status(number) == ("pending", "waiting for 1 approval from dev approvers")
    head = world.repo("bob").get_pull(number).head.sha
    world.repo("mallory").get_commit(head).create_status(
        state="success", description="1 request may launch", context="launcher/approval"
    )
    world.review("alice", number, "COMMENT", "any news?")  # a new event: the gate runs again
    outcome, _ = world.gate(number)
    assert not outcome.skipped
    assert world.status(number) == ("pending", "waiting for 1 approval from dev approvers")
    body = world.comments(number)[0].body
    assert "a launcher/approval status was also set by mallory (success" in body
    assert "launcher ignores it" in body
    refused_merge(world, "bob", number)  # the ruleset wants the check from launcher's app
    refused_merge(world, "mallory", number)
    outcome, _ = world.gate(number)  # reported once: the next run has nothing new
    assert outcome.skipped


def test_launcher_status_lists_foreign_verdicts_from_launcher_s_own_record(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    number = world.open_pr("bob", {WEB: request(count=8)})
    head = world.repo("bob").get_pull(number).head.sha
    world.repo("mallory").get_commit(head).create_status(
        state="success", description="looks fine", context="launcher/approval"
    )
    outcome, _ = world.gate(number)
    assert "recorded foreign verdicts by mallory" in outcome.writes
    # Someone else's deployment under launcher's task is not launcher's record.
    world.repo("carol").create_deployment(
        head, task="launcher-foreign-verdict", environment="launcher-foreign-verdicts",
        payload={"pr": number, "creator": "nobody", "state": "success"},
        required_contexts=[], auto_merge=False,
    )  # fmt: skip
    for name, value in {
        "GITHUB_REPOSITORY": world.repo_name,
        "GITHUB_API_URL": world.sb.url,
        "LAUNCHER_GITHUB_THROTTLE": "0",
        **world.app_env(),
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    result = run_cli(world.tmp, "status")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    at = lines.index(
        "launcher/approval verdicts set by others (ignored; the ruleset requires launcher's)"
    )
    assert lines[at + 1 :] == [f"#{number}  {head[:7]}  mallory  success: looks fine"]
    world.gate(number)  # the next run records nothing twice
    result = run_cli(world.tmp, "status", "--format", "json")
    assert json.loads(result.out)["foreign_verdicts"] == [
        {"pr": number, "sha": head, "creator": "mallory", "state": "success",
         "description": "looks fine"}
    ]  # fmt: skip
