"""`launcher serve` on installation events, end to end: the stand-in sends `installation` and
`installation_repositories` to the app's webhook (every app gets them, subscribed or not),
signed, to `launcher serve` running as a separate process.

Installing the app, or adding a repository to it, gives the open pull requests into the
default branch their verdict with no pull request event; uninstalling, suspending or removing
a repository makes the service drop the installation's token, and a delivery naming a
repository the installation no longer covers is only a hint: GitHub refuses, nothing is
written (fail closed), and the service says so in its log."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from launcher.sandbox.github import GitHubSandbox
from tests.jobs.conftest import (
    APP,
    APP_BOT,
    APP_PERMISSIONS,
    BOT,
    PEOPLE,
    POOLS,
    World,
    request,
)
from tests.serve.conftest import EVENTS, SECRET, Served, start_replica
from tests.serve.test_serve_e2e import WEB, post

TOOLS = "acme/tools"


@dataclass
class Setup:
    served: Served
    tools: World  # the same world, on the second repository

    @property
    def world(self) -> World:
        return self.served.world

    @property
    def sb(self) -> GitHubSandbox:
        return self.served.sb


@pytest.fixture
def setup(github_sandbox: GitHubSandbox, tmp_path: Path) -> Iterator[Setup]:
    """acme/infra and acme/tools, each with pools.yaml and the people of the job tests;
    launcher's app registered, its webhook pointed at `launcher serve`, installed nowhere."""
    sb = github_sandbox
    tokens = {name: sb.add_user(name) for name in PEOPLE}
    tokens[BOT] = sb.add_user(BOT, bot=True)
    sb.add_org("acme", members=list(PEOPLE), admins=["pat"])
    sb.add_team("acme", "platform", members=["pat"])
    sb.add_team("acme", "dev-leads", members=["lea"])
    for name in ("infra", "tools"):
        sb.create_repo(
            "acme",
            name,
            {"README.md": b"# r\n", "pools.yaml": POOLS.encode()},
            collaborators={name: "write" for name in PEOPLE},
            teams={"platform": "push", "dev-leads": "push"},
        )
    app = sb.create_app(APP, "acme", permissions=APP_PERMISSIONS)
    world = World(sb, tokens, tmp_path, app)
    tools = World(sb, tokens, tmp_path, app)
    tools.repo_name = TOOLS  # type: ignore[misc]
    replica = start_replica(world, app, tmp_path)
    served = Served(world, [replica])
    sb.set_app_webhook(app, replica.url + "/webhook", SECRET, events=EVENTS)
    try:
        yield Setup(served, tools)
    finally:
        served.stop()


def open_into(w: World, author: str, base: str, files: dict[str, str]) -> int:
    """A pull request into `base` (another branch than main, made from main)."""
    w.sb.push_files(w.repo_name, base, {"NOTES.md": "notes"}, "a branch", "pat", base="main")
    head = f"{author}/into-{base}"
    w.sb.push_files(w.repo_name, head, files, "launch", author, base=base)
    return int(w.repo(author).create_pull(title="t", body="b", head=head, base=base).number)


def sent_by_others(sb: GitHubSandbox) -> set[str]:
    """The events delivered that someone other than launcher's own app caused."""
    return {d.event for d in sb.webhooks.deliveries if d.payload["sender"]["login"] != APP_BOT}


def service_log(served: Served, delivery: str) -> list[dict[str, Any]]:
    return [e for e in served.replicas[0].log() if e.get("delivery") == delivery]


def mints(sb: GitHubSandbox) -> int:
    return sum(1 for r in sb.requests() if r.path.endswith("/access_tokens"))


def replay(served: Served, delivery: Any) -> str:
    """POST a recorded delivery's body again, exactly as GitHub signed it, under a new
    delivery id (the signature covers the body only; the replica's de-duplication of
    delivery ids is an optimisation, not a defence). Returns the id it was sent under."""
    body = json.dumps(delivery.payload, separators=(",", ":")).encode()
    guid = f"replayed-{uuid.uuid4()}"
    headers = {**delivery.request_headers, "X-GitHub-Delivery": guid}
    assert post(served.replicas[0].url, body, headers) == 202
    return guid


def bot_writes(sb: GitHubSandbox) -> list[str]:
    """Writes launcher's app made that GitHub accepted, since the request log was reset."""
    return [
        r.key
        for r in sb.requests()
        if r.user == APP_BOT and r.method in ("POST", "PATCH", "PUT", "DELETE") and r.status < 400
    ]


def test_installing_decides_the_open_pull_requests_into_the_default_branch(
    setup: Setup,
) -> None:
    w, tools, sb = setup.world, setup.tools, setup.sb
    alice = w.open_pr("alice", {WEB: request()})
    bob = w.open_pr("bob", {"deployments/dev/api.yaml": request("api")})
    elsewhere = open_into(w, "alice", "release", {"deployments/dev/rel.yaml": request("rel")})
    in_tools = tools.open_pr("alice", {WEB: request()})
    assert sb.webhooks.deliveries == []  # not installed: the app hears nothing

    inst = sb.install_app(setup.served.world.app, "acme", repositories=["infra"])
    setup.served.settle()
    assert w.status(alice) == ("success", "1 request may launch")
    assert w.status(bob) == ("pending", "waiting for 1 approval from dev approvers")
    assert w.status(elsewhere) is None  # not into the default branch
    assert tools.status(in_tools) is None  # not installed there
    assert sent_by_others(sb) == {"installation"}  # no pull request event: the installation's
    created = sb.webhooks.deliveries[0]
    assert (created.event, created.action, created.status_code) == ("installation", "created", 202)
    logged = {e["msg"] for e in service_log(setup.served, created.guid)}
    assert "forgot the installation's token" in logged
    assert "installation created: re-decide open pull requests of 1 repositories" in logged
    assert "decided" in logged  # the decisions carry the installation's delivery id

    # a repository added later: its open pull requests are decided the same way
    sb.add_installation_repositories(inst, ["tools"])
    setup.served.settle()
    assert tools.status(in_tools) == ("success", "1 request may launch")
    assert sent_by_others(sb) == {"installation", "installation_repositories"}
    assert w.status(elsewhere) is None

    # new permissions accepted: the next decision runs on a token minted with them
    sb.reset_requests()
    sb.accept_installation_permissions(inst, APP_PERMISSIONS)
    setup.served.settle()
    accepted = sb.webhooks.deliveries[-1]
    assert (accepted.event, accepted.action) == ("installation", "new_permissions_accepted")
    assert "forgot the installation's token" in {
        e["msg"] for e in service_log(setup.served, accepted.guid)
    }
    assert mints(sb) >= 1  # (one per worker that needed it first: minting is not shared)
    assert w.status(alice) == ("success", "1 request may launch")


def test_a_removed_repository_is_forgotten_and_a_replayed_hint_writes_nothing(
    setup: Setup,
) -> None:
    w, sb, served = setup.world, setup.sb, setup.served
    inst = sb.install_app(w.app, "acme", repositories=["infra", "tools"])
    served.settle()
    number = w.open_pr("bob", {WEB: request()})
    served.settle()
    assert w.status(number) == ("pending", "waiting for 1 approval from dev approvers")
    opened = next(d for d in sb.webhooks.deliveries if d.action == "opened")
    sb.reset_requests()

    sb.remove_installation_repositories(inst, ["infra"])
    served.settle()
    removed = sb.webhooks.deliveries[-1]
    assert (removed.event, removed.action) == ("installation_repositories", "removed")
    assert "forgot the installation's token" in {
        e["msg"] for e in service_log(served, removed.guid)
    }
    assert mints(sb) == 0  # forgetting needs no request

    w.review("dave", number)  # the app no longer hears about acme/infra
    served.settle()
    assert [d.event for d in sb.webhooks.deliveries if d.event == "pull_request_review"] == []
    # A signed delivery about it, replayed: only a hint. The service mints a new token (the
    # old one is forgotten), re-reads, and GitHub refuses the verdict it would write.
    again = replay(served, opened)
    served.settle()
    assert mints(sb) == 1
    assert w.status(number) == ("pending", "waiting for 1 approval from dev approvers")
    assert bot_writes(sb) == []
    logged = service_log(served, again)
    refused = [e for e in logged if e["msg"] == "decided" and e.get("state") == "error"]
    assert refused and "403" in refused[0]["description"]


def test_uninstalled_or_suspended_the_service_decides_nothing_there_until_unsuspended(
    setup: Setup,
) -> None:
    w, sb, served = setup.world, setup.sb, setup.served
    inst = sb.install_app(w.app, "acme")  # all repositories
    number = w.open_pr("bob", {WEB: request()})
    served.settle()
    assert w.status(number) == ("pending", "waiting for 1 approval from dev approvers")
    opened = next(d for d in sb.webhooks.deliveries if d.action == "opened")
    sb.reset_requests()

    sb.suspend_installation(inst)
    served.settle()
    suspended = sb.webhooks.deliveries[-1]
    assert (suspended.event, suspended.action) == ("installation", "suspend")
    w.review("dave", number)  # GitHub blocks the app's events while suspended
    served.settle()
    assert sb.webhooks.deliveries[-1] is suspended
    again = replay(served, opened)
    served.settle()
    assert w.status(number) == ("pending", "waiting for 1 approval from dev approvers")
    assert bot_writes(sb) == []
    assert any(
        e["msg"] == "cannot authenticate" and "403" in e["error"]
        for e in service_log(served, again)
    )

    # unsuspended: the open pull requests of its repositories are decided again
    sb.unsuspend_installation(inst)
    served.settle()
    assert w.status(number) == ("success", "1 request may launch")

    sb.uninstall_app(inst)
    served.settle()
    deleted = sb.webhooks.deliveries[-1]
    assert (deleted.event, deleted.action) == ("installation", "deleted")
    assert "forgot the installation's token" in {
        e["msg"] for e in service_log(served, deleted.guid)
    }
    sb.reset_requests()
    w.push(number, {"deployments/dev/more.yaml": request("more")}, "bob")
    again = replay(served, opened)
    served.settle()
    assert w.status(number) is None  # the new head has no verdict: nobody may write one
    assert bot_writes(sb) == []
    assert any(
        e["msg"] == "cannot authenticate" and "404" in e["error"]
        for e in service_log(served, again)
    )


def test_the_recheck_passes_over_a_suspended_installation_to_the_others(
    github_sandbox: GitHubSandbox, tmp_path: Path
) -> None:
    """The periodic recheck walks every installation: one it cannot use (suspended, here
    listed first) is skipped, the others' pull requests without a verdict still get one."""
    sb = github_sandbox
    tokens = {name: sb.add_user(name) for name in PEOPLE}
    tokens[BOT] = sb.add_user(BOT, bot=True)
    for org in ("acme", "beta"):
        sb.add_org(org, members=list(PEOPLE))
        sb.add_team(org, "platform", members=["pat"])
        sb.add_team(org, "dev-leads", members=["lea"])
        sb.create_repo(
            org,
            "infra",
            {"README.md": b"# r\n", "pools.yaml": POOLS.replace("@acme/", f"@{org}/").encode()},
            collaborators={name: "write" for name in PEOPLE},
            teams={"platform": "push", "dev-leads": "push"},
        )
    app = sb.create_app(APP, "acme", permissions=APP_PERMISSIONS)
    acme, beta = World(sb, tokens, tmp_path, app), World(sb, tokens, tmp_path, app)
    beta.repo_name = "beta/infra"  # type: ignore[misc]
    sb.suspend_installation(sb.install_app(app, "acme"))
    sb.install_app(app, "beta")
    in_acme = acme.open_pr("alice", {WEB: request()})  # no webhook: both missed
    in_beta = beta.open_pr("alice", {WEB: request()})
    replica = start_replica(acme, app, tmp_path, LAUNCHER_SERVE_RECHECK_SECONDS="0.3")
    try:
        for _ in range(600):
            if beta.status(in_beta) is not None:
                break
            time.sleep(0.1)
        assert beta.status(in_beta) == ("success", "1 request may launch")
        assert acme.status(in_acme) is None
        assert any(e["msg"] == "recheck: installation skipped" for e in replica.log())
        Served(acme, [replica]).settle()
    finally:
        replica.stop()
