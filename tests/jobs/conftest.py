"""A seeded GitHub stand-in for job tests: org acme, repo acme/infra, people in every role."""

from __future__ import annotations

import io
import json
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

# launcher's app gets exactly what the shipped manifest asks for, so these tests show it is enough.
APP_PERMISSIONS = json.loads((Path(__file__).parents[2] / "app-manifest.json").read_text())[
    "default_permissions"
]
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
BOT = "launcher-bot"  # a plain bot token: trial mode (what GITHUB_TOKEN gives)
APP = "launcher"  # launcher's GitHub App: app mode, the default in these tests
APP_BOT = f"{APP}[bot]"


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
    app: Any = None
    branches: dict[int, str] = field(default_factory=dict)
    # LAUNCHER_TRUSTED_COMMIT as an admin set it; None: main's head whenever settings() is
    # called (an admin re-anchoring before every run: tests not about the anchor)
    trusted: str | None = None

    repo_name = "acme/infra"

    def client(self, login: str) -> Any:
        return self.sb.client(self.tokens[login])

    def repo(self, login: str) -> Any:
        return self.client(login).get_repo(self.repo_name)

    def settings(self, *, trial: bool = False) -> Settings:
        """App mode (launcher's app, key and id), or with `trial` the plain bot token."""
        app = {} if trial else self.app_env()
        return Settings(
            repository=self.repo_name,
            token=self.tokens[BOT],
            api_url=self.sb.url,
            bot_login=BOT,
            timeout=5,
            throttle=False,
            backoff=0.01,
            app_id=app.get("LAUNCHER_APP_ID", ""),
            app_private_key=app.get("LAUNCHER_APP_PRIVATE_KEY", ""),
            trusted_commit=self.trusted
            if self.trusted is not None
            else self.sb.branch_sha(self.repo_name, "main"),
        )

    def app_env(self) -> dict[str, str]:
        """The two settings of app mode, as the workflows pass them."""
        return {
            "LAUNCHER_APP_ID": str(self.app.id),
            "LAUNCHER_APP_PRIVATE_KEY": self.app.private_key_pem().decode(),
        }

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

    def status(self, number: int, app: str = APP) -> tuple[str, str] | None:
        """The verdict on the pull request's head: the latest check run `launcher/approval`
        of `app` (its external_id is the state), as (state, title)."""
        repo = self.repo("alice")
        return verdict_of(repo, repo.get_pull(number).head.sha, app)

    def labels(self, number: int) -> list[str]:
        return [label.name for label in self.repo("alice").get_issue(number).get_labels()]

    def comments(self, number: int) -> list[Any]:
        return list(self.repo("alice").get_issue(number).get_comments())

    def requested(self, number: int) -> tuple[list[str], list[str]]:
        users, teams = self.repo("alice").get_pull(number).get_review_requests()
        return sorted(u.login for u in users), sorted(t.slug for t in teams)


def verdict_of(repo: Any, sha: str, app: str = APP) -> tuple[str, str] | None:
    """(state, title) of `app`'s latest `launcher/approval` check run on `sha` (read through
    the PyGithub repository `repo`), if any."""
    for run in repo.get_commit(sha).get_check_runs(check_name="launcher/approval"):
        if run.app.slug == app:
            return run.external_id, run.output.title
    return None


@pytest.fixture
def world(github_sandbox: GitHubSandbox, tmp_path: Path) -> World:  # noqa: F811
    return seed_world(github_sandbox, tmp_path)


def seed_world(sb: GitHubSandbox, tmp: Path) -> World:
    """Org acme (its teams), repo acme/infra with POOLS, every person, the bot, launcher's app
    installed: the `world` fixture's set-up, for a stand-in started elsewhere (tests/serve)."""
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
    app = sb.create_app(APP, "acme", permissions=APP_PERMISSIONS)
    sb.install_app(app, "acme")
    return World(sb, tokens, tmp, app)


ENVIRONMENTS = ("launcher-gate", "launcher-launch")


def app_runner(world: World, workflows: Path | None = None, **kwargs: Any) -> Any:
    """A local Actions runner for acme/infra set up as docs/adopting.md says: launcher's code
    on the default branch, the app's key only in the two environments (default branch only),
    LAUNCHER_APP_ID as a variable. `workflows`: run these files instead of the repository's."""
    import sys

    from launcher.demo.stage import launcher_code
    from launcher.sandbox.actions import ActionsRunner

    sb = world.sb
    root = Path(__file__).parents[2]
    sb.push_files(world.repo_name, "main", launcher_code(root), "launcher's code", "pat")
    key = world.app.private_key_pem().decode()
    for name in ENVIRONMENTS:
        if sb.gh.actions_environments.get(sb.repo(world.repo_name), name) is None:
            sb.create_environment(
                world.repo_name, name, branches=["main"], secrets={"LAUNCHER_APP_PRIVATE_KEY": key}
            )
    kwargs.setdefault("extra_env", {"LAUNCHER_GITHUB_THROTTLE": "0"})
    return ActionsRunner.for_sandbox(
        sb,
        world.repo_name,
        workflows_dir=workflows,
        vars={
            "LAUNCHER_APP_ID": str(world.app.id),
            "LAUNCHER_TRUSTED_COMMIT": sb.branch_sha(world.repo_name, "main"),
            **kwargs.pop("vars", {}),
        },
        python_bin_dir=Path(sys.executable).parent,
        workdir=world.tmp,
        **kwargs,
    )


@pytest.fixture
def launch_world(world: World, moto_server: Any) -> World:
    """The seeded stand-in plus a moto EC2 server, with pools that launch into it."""
    from tests.jobs.test_launch import POOLS as LAUNCH_POOLS

    world.sb.push_files(
        world.repo_name, "main", {"pools.yaml": LAUNCH_POOLS}, "launch pools", "pat"
    )
    return world
