"""A seeded GitHub stand-in for job tests: org acme, repo acme/infra, people in every role."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from launcher.adapters.github import GitHub, Settings
from launcher.jobs.gate import Outcome, run_gate
from launcher.sandbox.github import GitHubSandbox
from launcher.sandbox.pytest_plugin import github_sandbox  # noqa: F401
from tests.openapi.conformance import check_sandbox

POOLS = """\
version: 1
admins: ["@acme/platform"]
groups:
  dev-owners: [dave, erin]
pools:
  dev:
    permissions:
      create: [alice]
      create_with_approval: [bob, carol, "@acme/interns"]
      modify: ["group:dev-owners", "@acme/dev-leads"]
    request_ttl: 14d
    images: {rhel9: {us-east-1: ami-0123456789abcdef0}}
    hardware_profiles: {small: {vcpus: 2, memory_gib: 4}}
  gpu:
    permissions:
      create_with_approval: [bob]
      modify: [frank]
    images: {dlami: {us-east-1: ami-0123456789abcdef0}}
    hardware_profiles: {gpu: {vcpus: 4, memory_gib: 16}}
"""
PEOPLE = ("alice", "bob", "carol", "dave", "erin", "frank", "ivy", "lea", "pat", "mallory")
BOT = "launcher-bot"


def request(name: str = "web", pool: str = "dev", count: int = 1) -> str:
    image, profile = ("rhel9", "small") if pool == "dev" else ("dlami", "gpu")
    return (
        f"name: {name}\npool: {pool}\ndescription: test\ninstances:\n  - name: a\n"
        f"    image: {image}\n    hardware_profile: {profile}\n    count: {count}\n"
    )


@pytest.fixture
def github_sandbox_checks() -> list[Any]:
    return [check_sandbox]  # every response the jobs saw must match GitHub's published schemas


@dataclass
class World:
    sb: GitHubSandbox
    tokens: dict[str, str]
    tmp: Path
    branches: dict[int, str] = field(default_factory=dict)

    repo_name = "acme/infra"

    def client(self, login: str) -> Any:
        return self.sb.client(self.tokens[login])

    def repo(self, login: str) -> Any:
        return self.client(login).get_repo(self.repo_name)

    def settings(self) -> Settings:
        return Settings(
            repository=self.repo_name,
            token=self.tokens[BOT],
            api_url=self.sb.url,
            bot_login=BOT,
            timeout=5,
            throttle=False,
            backoff=0.01,
        )

    def open_pr(self, author: str, files: dict[str, str | None], title: str = "launch") -> int:
        branch = f"{author}/{len(self.branches) + 1}"
        self.sb.push_files(self.repo_name, branch, files, title, author, base="main")
        pull = self.repo(author).create_pull(title=title, body="why", head=branch, base="main")
        self.branches[pull.number] = branch
        return pull.number

    def push(self, number: int, files: dict[str, str | None], author: str) -> str:
        return self.sb.push_files(self.repo_name, self.branches[number], files, "more", author)

    def review(self, login: str, number: int, event: str = "APPROVE", body: str = "") -> None:
        self.repo(login).get_pull(number).create_review(body=body, event=event)

    def gate(self, number: int) -> tuple[Outcome, str]:
        out = io.StringIO()
        outcome = run_gate(GitHub(self.settings()), number, out=out, match=False)
        return outcome, out.getvalue()

    def sweep(self, now: str, *args: str) -> tuple[Any, str]:
        """Run `launcher sweep --now NOW ARGS` as the scheduled workflow would."""
        from launcher.jobs.sweep import SweepOptions, run_sweep

        options = SweepOptions(now=datetime.fromisoformat(now))
        for arg in args:
            if arg == "--dry-run":
                options.dry_run = True
            elif arg.startswith("--max-actions="):
                options.max_actions = int(arg.split("=", 1)[1])
        out = io.StringIO()
        report = run_sweep(GitHub(self.settings()), options, out)
        return report, out.getvalue()

    def pull_state(self, number: int) -> str:
        return self.repo("alice").get_pull(number).state

    def status(self, number: int) -> tuple[str, str] | None:
        pull = self.repo("alice").get_pull(number)
        for s in self.repo("alice").get_commit(pull.head.sha).get_statuses():
            if s.context == "launcher/approval":
                return s.state, s.description
        return None

    def labels(self, number: int) -> list[str]:
        return [label.name for label in self.repo("alice").get_issue(number).get_labels()]

    def comments(self, number: int) -> list[Any]:
        return list(self.repo("alice").get_issue(number).get_comments())

    def requested(self, number: int) -> tuple[list[str], list[str]]:
        users, teams = self.repo("alice").get_pull(number).get_review_requests()
        return sorted(u.login for u in users), sorted(t.slug for t in teams)


@pytest.fixture
def world(github_sandbox: GitHubSandbox, tmp_path: Path) -> World:  # noqa: F811
    sb = github_sandbox
    tokens = {name: sb.add_user(name) for name in PEOPLE}
    tokens[BOT] = sb.add_user(BOT, bot=True)
    sb.add_org("acme", members=list(PEOPLE))
    sb.add_team("acme", "platform", members=["pat"])
    sb.add_team("acme", "dev-leads", members=["lea"])
    sb.add_team("acme", "interns", members=["ivy"])
    sb.create_repo(
        "acme",
        "infra",
        {"README.md": b"# infra\n", "pools.yaml": POOLS.encode()},
        collaborators={name: "write" for name in PEOPLE},
        # GitHub requests reviews only from teams with access to the repository.
        teams={"platform": "push", "dev-leads": "push", "interns": "pull"},
    )
    return World(sb, tokens, tmp_path)


@pytest.fixture
def launch_world(world: World, moto_server: Any) -> World:
    """The seeded stand-in plus a moto EC2 server, with pools that launch into it."""
    from tests.jobs.test_launch import POOLS as LAUNCH_POOLS

    world.sb.push_files(
        world.repo_name, "main", {"pools.yaml": LAUNCH_POOLS}, "launch pools", "pat"
    )
    return world
