"""Fixtures for the GitHub stand-in tests: every test's traffic is checked for conformance."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from launcher.sandbox.github import GitHubSandbox
from launcher.sandbox.pytest_plugin import SandboxCheck, github_sandbox  # noqa: F401
from tests.openapi.conformance import check_sandbox


@pytest.fixture
def github_sandbox_checks() -> list[SandboxCheck]:
    """Every response and event payload must validate against GitHub's published schemas."""
    return [check_sandbox]


@dataclass
class World:
    """A seeded sandbox: org ``acme`` with repo ``acme/infra`` and a few people.

    alice: requester (write), bob and carol: approvers (team ``approvers``, write),
    mallory: not a collaborator, ci: a bot account (app installation token).
    """

    sb: GitHubSandbox
    tokens: dict[str, str]

    def client(self, login: str):  # type: ignore[no-untyped-def]
        return self.sb.client(self.tokens[login])

    def repo(self, login: str):  # type: ignore[no-untyped-def]
        return self.client(login).get_repo("acme/infra")


@pytest.fixture
def world(github_sandbox: GitHubSandbox) -> World:  # noqa: F811 - the plugin fixture
    sb = github_sandbox
    tokens = {
        name: sb.add_user(name, email=f"{name}@example.com")
        for name in ("alice", "bob", "carol", "mallory")
    }
    tokens["ci"] = sb.add_user("launcher-ci[bot]", bot=True)
    sb.add_org("acme", members=["alice", "bob", "carol"])
    sb.add_team("acme", "approvers", members=["bob", "carol"])
    sb.create_repo(
        "acme",
        "infra",
        {"README.md": b"# infra\n", "pools.yaml": b"pools:\n  gpu: {}\n"},
        collaborators={"alice": "write"},
        teams={"approvers": "push"},
    )
    return World(sb, tokens)
