"""The demo's stage: servers, people, the repository, and an event pump that runs workflows."""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from launcher.sandbox import clock
from launcher.sandbox.actions import ActionsRunner, JobResult
from launcher.sandbox.github import GitHubSandbox
from launcher.sandbox.moto import MotoServer, moto_server, patched_env

REPO = "acme/infra"
APP = "launcher"  # launcher's GitHub App, played by the stand-in: the demo runs in app mode
BOT = f"{APP}[bot]"
AWS_ROLE = "arn:aws:iam::123456789012:role/launcher"
AWS_READ_ROLE = "arn:aws:iam::123456789012:role/launcher-read"  # report.yml's
LAUNCH_ENVIRONMENT = "launcher-launch"
PEOPLE = ("alice", "bob", "carol", "dave", "erin", "frank", "mallory", "pat")
TEAMS = {
    "platform": ["pat"],
    "interns": [],
    "engineering": ["alice", "bob", "carol"],
    "ml-leads": ["frank"],
}


LAUNCHER_STEPS = ("Gate", "Launch", "Sweep")  # the workflows' steps that run launcher


class DemoError(Exception):
    """Something did not happen as it should: the demo fails (exit 1)."""


def project_root() -> Path:
    """This repository (the demo seeds from its own pools.yaml and workflows)."""
    return Path(__file__).resolve().parents[2]


@dataclass
class Stage:
    out: TextIO
    verbose: bool = False
    workflows: Path = field(default_factory=lambda: project_root() / ".github" / "workflows")
    sb: GitHubSandbox | None = None
    moto: MotoServer | None = None
    runner: ActionsRunner | None = None
    tokens: dict[str, str] = field(default_factory=dict)
    branches: dict[int, str] = field(default_factory=dict)
    seen_event: int = 0
    tmp: Path | None = None
    serve: bool = False  # the gate answered by launcher serve (demo --serve)
    service: Any = None  # its process (launcher.sandbox.serve_process.ServeProcess)
    _resources: ExitStack = field(default_factory=ExitStack)

    # --- life cycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Servers and temp files, each undone by `stop()` even if a later one fails."""
        enter = self._resources.enter_context
        self._resources.callback(clock.CLOCK.reset)  # the demo moves it: put it back after
        self.tmp = Path(enter(tempfile.TemporaryDirectory(prefix="launcher-demo-")))
        self.moto = enter(moto_server())
        enter(patched_env(self.moto.env()))  # boto3 in this process: the final table
        self.sb = enter(GitHubSandbox(state_dir=self.tmp / "github"))
        self._seed()

    def stop(self) -> None:
        self.sb = self.moto = None
        self._resources.close()

    def _seed(self) -> None:
        sb = self.sb
        assert sb is not None and self.moto is not None and self.tmp is not None
        root = project_root()
        self.tokens = {login: sb.add_user(login) for login in PEOPLE}
        sb.add_org("acme", members=list(PEOPLE))
        for slug, members in TEAMS.items():
            sb.add_team("acme", slug, members=members)
        files: dict[str, bytes | str] = {"pools.yaml": (root / "pools.yaml").read_bytes()}
        for path in sorted(self.workflows.glob("*.y*ml")):
            files[f".github/workflows/{path.name}"] = path.read_bytes()
        files.update(launcher_code(root))  # the workflows run launcher from the default branch
        sb.create_repo("acme", "infra", files, collaborators={p: "write" for p in PEOPLE})
        # launcher's app, with the manifest's permissions; its key only in the two
        # environments, which deploy from the default branch only.
        manifest = json.loads((root / "app-manifest.json").read_text())
        app = sb.create_app(APP, "acme", permissions=manifest["default_permissions"])
        sb.install_app(app, "acme")
        key = app.private_key_pem().decode()
        for environment in ("launcher-gate", LAUNCH_ENVIRONMENT):
            sb.create_environment(
                REPO, environment, branches=["main"], secrets={"LAUNCHER_APP_PRIVATE_KEY": key}
            )
        workflows = self.workflows
        if self.serve:
            from launcher.demo.served import actions_workflows, start_service

            workflows = actions_workflows(self.workflows, self.tmp / "actions-workflows")
            self.service, secret = start_service(sb.url, app, self.tmp)
            self._resources.callback(self.service.stop)
            sb.set_app_webhook(
                app, self.service.url + "/webhook", secret, events=manifest["default_events"]
            )
        self.seen_event = sb.last_event_id()
        workdir = self.tmp / "runner"
        workdir.mkdir()
        self.runner = ActionsRunner.for_sandbox(
            sb,
            REPO,
            workflows_dir=workflows,
            vars={
                "LAUNCHER_APP_ID": str(app.id),
                "LAUNCHER_AWS_ROLE_ARN": AWS_ROLE,
                "LAUNCHER_AWS_READ_ROLE_ARN": AWS_READ_ROLE,
                # the first trust anchor, as adopting.md has an admin set it (core/anchor)
                "LAUNCHER_TRUSTED_COMMIT": sb.branch_sha(REPO, "main"),
            },
            python_bin_dir=Path(sys.executable).parent,
            extra_env={"LAUNCHER_GITHUB_THROTTLE": "0", "LAUNCHER_GITHUB_TIMEOUT": "10"},
            aws_env=self.moto.env(),
            aws_role_trust=aws_trust_policy,
            workdir=workdir,
        )

    # --- people act -----------------------------------------------------------------------

    def repo(self, login: str) -> Any:
        assert self.sb is not None
        return self.sb.client(self.tokens[login]).get_repo(REPO)

    def open_pr(self, author: str, path: str, content: str, title: str, body: str) -> int:
        assert self.sb is not None
        branch = f"{author}/{Path(path).stem}"
        self.sb.push_files(REPO, branch, {path: content}, title, author, base="main")
        number = self.repo(author).create_pull(title=title, body=body, head=branch, base="main")
        self.branches[number.number] = branch
        return int(number.number)

    def review(self, login: str, number: int, event: str, body: str = "") -> None:
        self.repo(login).get_pull(number).create_review(body=body, event=event)

    def merge(self, login: str, number: int) -> None:
        self.repo(login).get_pull(number).merge(merge_method="merge")

    # --- GitHub Actions ----------------------------------------------------------------------

    def pump(self) -> list[JobResult]:
        """Run the workflows every new event triggers, as GitHub Actions would."""
        assert self.sb is not None and self.runner is not None
        jobs: list[JobResult] = []
        while True:
            events = self.sb.events(since=self.seen_event)
            if not events and self.serve and not self._service_settled():
                continue
            if not events:
                return jobs
            for event in events:
                self.seen_event = max(self.seen_event, event.id)
                sender = (event.payload.get("sender") or {}).get("login")
                if sender == "github-actions[bot]":
                    continue  # GITHUB_TOKEN's writes trigger no workflow (the app's do)
                jobs += self._ran(self.runner.run_webhook(event.event, event.payload))

    def _service_settled(self) -> bool:
        """With --serve: every delivery answered and the service idle (False: wait on)."""
        assert self.sb is not None and self.service is not None
        if not self.sb.webhooks.wait(60):
            raise DemoError("the stand-in could not deliver the webhooks")
        for _ in range(1200):
            if self.service.process.poll() is not None:
                raise DemoError(f"launcher serve exited:\n{self.service.log_path.read_text()}")
            if self.service.idle():
                break
            time.sleep(0.05)
        else:
            raise DemoError("launcher serve did not finish its work in a minute")
        return self.sb.events(since=self.seen_event) == [] and all(
            d.done.is_set() for d in self.sb.webhooks.deliveries
        )

    def dispatch(self, workflow: str, **inputs: Any) -> list[JobResult]:
        assert self.runner is not None
        jobs = self._ran(self.runner.run_workflow(workflow, "workflow_dispatch", inputs=inputs))
        self.pump()
        return jobs

    def _ran(self, jobs: list[JobResult]) -> list[JobResult]:
        """A launcher step may say "no" (exit 1: a refused request fails the job); any other
        failing step means a broken workflow, and the demo fails."""
        for job in jobs:
            if self.verbose:
                self.out.write(job.log() + "\n")
            broken = [
                s for s in job.steps if s.outcome == "failure" and s.name not in LAUNCHER_STEPS
            ]
            if broken:
                raise DemoError(f"{job.workflow} failed before launcher ran:\n{job.log()}")
        return jobs

    def status(self, number: int) -> tuple[str, str]:
        """The verdict: launcher's app's latest check run `launcher/approval` on the head."""
        repo = self.repo("alice")
        sha = repo.get_pull(number).head.sha
        runs = [
            run
            for run in repo.get_commit(sha).get_check_runs(check_name="launcher/approval")
            if run.app.slug == APP
        ]
        if not runs:
            raise DemoError(f"PR #{number} has no launcher/approval check run: did gate.yml run?")
        latest = max(runs, key=lambda run: run.id)
        return latest.external_id, latest.output.title


def launcher_code(root: Path) -> dict[str, bytes | str]:
    """launcher's package as committed (what the workflows copy out and run with python -I)."""
    files: dict[str, bytes | str] = {}
    for path in sorted((root / "launcher").rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix in (".py", ".json"):
            files[path.relative_to(root).as_posix()] = path.read_bytes()
    return files


def aws_trust_policy(role: str, claims: Mapping[str, Any]) -> str | None:
    """The AWS role's trust policy: only jobs of this repository in the environment
    launcher-launch (which deploys from the default branch only) may assume it."""
    sub = str(claims.get("sub", ""))
    if claims.get("repository") != REPO or not sub.endswith(f":environment:{LAUNCH_ENVIRONMENT}"):
        return f"Not authorized to perform sts:AssumeRoleWithWebIdentity ({sub})"
    return None


def now_utc() -> datetime:
    """The sandbox clock's time, to the minute (what the stand-ins and the jobs see)."""
    return clock.now_datetime().replace(second=0, microsecond=0)


def set_clock(when: datetime) -> None:
    """Move the clock the GitHub stand-in, moto and every job share (never a workflow input:
    launcher reads the time from its OS clock, which on GitHub is GitHub's)."""
    clock.CLOCK.set(when)
