"""End to end on the stand-in as docs/adopting.md sets a repository up: this project's
workflows and launcher's code on the default branch, launcher's app with the manifest's
permissions, its key only in the environments launcher-gate and launcher-launch (default branch
only), the AWS role trusting launcher-launch only, and the documented ruleset
(docs/ruleset.json) requiring launcher's check from launcher's app. Every event runs the
workflows GitHub Actions would run, from the files GitHub would take them from.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from github import GithubException

from launcher.core.codeowners import render as render_codeowners
from launcher.core.documents import load_policy
from launcher.demo.stage import aws_trust_policy, launcher_code
from launcher.sandbox.actions import ActionsRunner, JobResult
from tests.jobs.conftest import World, request

ROOT = Path(__file__).parents[2]
REPO = "acme/infra"
WEB = "deployments/dev/web.yaml"
ENVIRONMENTS = ("launcher-gate", "launcher-launch")
AWS_ROLE = "arn:aws:iam::123456789012:role/launcher"


@dataclass
class Adopted:
    world: World
    runner: ActionsRunner
    key: str
    seen: int = 0
    jobs: list[JobResult] = field(default_factory=list)

    def pump(self) -> list[JobResult]:
        """Run what every new event triggers (GITHUB_TOKEN's own writes trigger nothing)."""
        ran: list[JobResult] = []
        while True:
            events = self.world.sb.events(since=self.seen)
            if not events:
                self.jobs += ran
                return ran
            for event in events:
                self.seen = max(self.seen, event.id)
                if (event.payload.get("sender") or {}).get("login") == "github-actions[bot]":
                    continue
                ran += self.runner.run_webhook(event.event, event.payload)


def documented_ruleset(app_id: int) -> dict[str, Any]:
    ruleset: dict[str, Any] = json.loads((ROOT / "docs" / "ruleset.json").read_text())
    for rule in ruleset["rules"]:
        for check in (rule.get("parameters") or {}).get("required_status_checks", []):
            check["integration_id"] = app_id  # "your app's id", as the docs say
    return ruleset


@pytest.fixture
def adopted(launch_world: World, moto_server: Any) -> Adopted:
    world = launch_world
    sb = world.sb
    pools = sb.client(world.tokens["pat"]).get_repo(REPO).get_contents("pools.yaml")
    policy, _ = load_policy(pools.decoded_content)
    assert policy is not None
    files: dict[str, str | bytes] = {
        f".github/workflows/{p.name}": p.read_bytes()
        for p in sorted((ROOT / ".github" / "workflows").glob("*.yml"))
    }
    files.update(launcher_code(ROOT))
    files[".github/CODEOWNERS"] = render_codeowners(policy)
    sb.push_files(REPO, "main", files, "adopt launcher", "pat")
    key = world.app.private_key_pem().decode()
    for name in ENVIRONMENTS:
        sb.create_environment(
            REPO, name, branches=["main"], secrets={"LAUNCHER_APP_PRIVATE_KEY": key}
        )
    sb.create_ruleset(REPO, documented_ruleset(world.app.id))
    runner = ActionsRunner.for_sandbox(
        sb,
        REPO,
        vars={
            "LAUNCHER_APP_ID": str(world.app.id),
            "LAUNCHER_AWS_ROLE_ARN": AWS_ROLE,
            "LAUNCHER_AWS_READ_ROLE_ARN": AWS_ROLE + "-read",
            "LAUNCHER_TRUSTED_COMMIT": sb.branch_sha(REPO, "main"),
        },
        python_bin_dir=Path(sys.executable).parent,
        extra_env={"LAUNCHER_GITHUB_THROTTLE": "0", "LAUNCHER_GITHUB_TIMEOUT": "10"},
        aws_env=moto_server.env("us-east-1"),
        aws_role_trust=aws_trust_policy,
        workdir=world.tmp,
    )
    return Adopted(world, runner, key, sb.last_event_id())


def by_workflow(jobs: list[JobResult]) -> dict[str, list[JobResult]]:
    out: dict[str, list[JobResult]] = {}
    for job in jobs:
        out.setdefault(job.workflow, []).append(job)
    return out


def test_a_requesters_status_or_another_workflows_check_run_cannot_make_it_mergeable(
    adopted: Adopted,
) -> None:
    a, world = adopted, adopted.world
    number = world.open_pr("bob", {WEB: request()})
    jobs = a.pump()
    assert [j.workflow for j in jobs] == ["gate.yml"]
    assert jobs[0].environment == "launcher-gate" and jobs[0].ok, jobs[0].log()
    waiting = ("pending", "waiting for 1 approval from dev approvers")
    assert world.status(number) == waiting
    repo = world.repo("bob")
    sha = repo.get_pull(number).head.sha
    # bob's own token: a commit status of that name, and no check run at all (apps only)
    repo.get_commit(sha).create_status(
        "success", description="approved", context="launcher/approval"
    )
    with pytest.raises(GithubException) as refused:
        repo.create_check_run(name="launcher/approval", head_sha=sha, conclusion="success")
    assert refused.value.status == 403
    # another workflow's GITHUB_TOKEN (the github-actions app) writes a passing check run
    other = world.sb.client(
        world.sb.installation_token("github-actions", REPO, {"checks": "write"})
    )
    other.get_repo(REPO).create_check_run(
        name="launcher/approval", head_sha=sha, status="completed", conclusion="success"
    )
    pull = repo.get_pull(number)
    assert pull.mergeable_state == "blocked"
    with pytest.raises(GithubException) as blocked:
        pull.merge()
    assert blocked.value.status == 405
    assert "launcher/approval" in blocked.value.data["message"]
    # The gate's own check is unaffected: a review by a non-approver goes through the
    # unprivileged hand-over, and the gate re-reads everything.
    world.review("alice", number, "COMMENT", "the forged ones say success")
    jobs = a.pump()
    flows = by_workflow(jobs)
    assert set(flows) == {"review.yml", "gate.yml"}
    (review,) = flows["review.yml"]
    assert review.environment is None and set(review.permissions.values()) == {"none"}
    assert world.status(number) == waiting
    # A real approval passes it, through the same hand-over, and then it merges.
    world.review("dave", number)
    a.pump()
    assert world.status(number) == ("success", "1 request may launch")
    assert world.repo("bob").get_pull(number).merge().merged


def marker_code(folder: Path, name: str) -> str:
    """Python that leaves a file named `name` (with the app key, if it can read one)."""
    target = str(folder / name)
    return (
        f"import os\nopen({target!r}, 'w').write(os.environ.get('LAUNCHER_APP_PRIVATE_KEY', ''))\n"
    )


def stealing_workflow(
    folder: Path, name: str, on: str, environment: str | None, title: str = "steal"
) -> str:
    env = f"    environment: {environment}\n" if environment else ""
    return (
        f"name: {title}\non: {on}\npermissions: write-all\njobs:\n  steal:\n"
        f"    runs-on: ubuntu-latest\n{env}    steps:\n"
        "      - env:\n          KEY: ${{ secrets.LAUNCHER_APP_PRIVATE_KEY }}\n"
        f'        run: printf %s "$KEY" > {folder / name}\n'
    )


def test_pull_request_files_never_run_in_a_privileged_job_before_or_after_merge(
    adopted: Adopted, tmp_path: Path
) -> None:
    a, world = adopted, adopted.world
    ran = tmp_path / "ran"
    ran.mkdir()
    # One pull request edits the workflows: nothing of it may run privileged before merge
    # (once an admin approves and merges a workflow, it is the repository's own).
    workflows: Mapping[str, str] = {
        # the privileged gate, replaced by one that would hand out the app's key
        ".github/workflows/gate.yml": stealing_workflow(
            ran, "gate.yml", "[pull_request_target, push]", "launcher-gate"
        ),
        # a workflow the pull request adds, asking for the environment holding the key
        ".github/workflows/steal.yml": stealing_workflow(
            ran, "steal.yml", "[pull_request, pull_request_review]", "launcher-gate"
        ),
        # the unprivileged hand-over, changed (it may be: it holds nothing); it keeps its name,
        # or the gate would not hear of the pull request's reviews (its own loss only)
        ".github/workflows/review.yml": stealing_workflow(
            ran, "review.yml", "pull_request_review", None, title="launcher review"
        ),
    }
    edits = world.open_pr("carol", dict(workflows))
    a.pump()
    world.review("pat", edits, "COMMENT", "looking")
    a.pump()
    assert world.status(edits) == ("pending", "waiting for 1 approval from admins")
    # The other adds what tools execute implicitly, and is merged.
    files: Mapping[str, str] = {
        WEB: request(),
        "setup.py": marker_code(ran, "setup.py"),
        "pip/__init__.py": marker_code(ran, "pip"),
        "pip/__main__.py": marker_code(ran, "pip-main"),
        "setuptools/__init__.py": marker_code(ran, "setuptools"),
        "sitecustomize.py": marker_code(ran, "sitecustomize"),
    }
    number = world.open_pr("carol", dict(files))
    a.pump()
    assert world.status(number)[0] == "pending"  # control changes wait for an admin
    world.review("pat", number)  # an admin (and code owner) approves the control changes
    world.review("dave", number)  # a dev approver approves the request
    a.pump()
    assert world.status(number) == ("success", "1 request may launch"), _log(a)
    assert world.repo("pat").get_pull(number).merge().merged
    a.pump()  # the push to main: launch.yml, then report.yml on its completion
    a.jobs += a.runner.run_workflow("sweep.yml", "workflow_dispatch")
    a.pump()
    flows = by_workflow(a.jobs)
    in_environment = [j for j in a.jobs if j.environment in ENVIRONMENTS]
    refused = [j for j in in_environment if j.steps[0].name == "Set up job"]
    privileged = [j for j in in_environment if j not in refused]
    assert {j.workflow for j in privileged} >= {"gate.yml", "launch.yml", "sweep.yml"}
    assert {j.job_id for j in privileged} == {"gate", "launch", "sweep", "build"}
    for job in privileged:
        assert job.ok, job.log()
    # The dashboard's job holds the read-only role; the launch and sweep jobs the launch role.
    roles = {j.job_id: re.findall(r"assumed (\S+) with OIDC", j.log()) for j in privileged}
    assert set(roles["build"]) == {AWS_ROLE + "-read"}
    assert set(roles["launch"]) == set(roles["sweep"]) == {AWS_ROLE}
    # The pull request's own workflows (its gate.yml on its branch's push, steal.yml on its
    # events) were refused the environment before any step: no key.
    assert refused and {j.job_id for j in refused} == {"steal"}
    assert all(not j.ok for j in refused) and flows["steal.yml"]
    assert sorted(p.name for p in ran.iterdir()) == ["review.yml"]
    assert (ran / "review.yml").read_text() == ""
    # What merged is on main now, and launcher ran from there without executing it.
    assert len(world.sb.client(world.tokens["pat"]).get_repo(REPO).get_contents("pip")) == 2


def _log(a: Adopted) -> str:
    return "\n".join(j.log() for j in a.jobs)


def test_a_review_hand_over_and_a_pull_request_event_share_one_gate_queue(
    adopted: Adopted,
) -> None:
    """Two gate runs for one pull request at once race: one that read the reviews before an
    approver requested changes can write its success after the run that wrote the failure,
    and GitHub judges the latest check run. The author can start such runs at will (edit the
    title: pull_request_target `edited`) while a review starts the hand-over (workflow_run),
    so both triggers must fall into one concurrency group per pull request, where the newer
    run cancels the older."""
    a, world = adopted, adopted.world
    number = world.open_pr("bob", {WEB: request()})
    opened = by_workflow(a.pump())["gate.yml"]
    world.review("dave", number, "REQUEST_CHANGES", "no")
    handed = by_workflow(a.pump())["gate.yml"]
    world.repo("bob").get_pull(number).edit(title="launch, please")
    edited = by_workflow(a.pump())["gate.yml"]
    groups = {j.concurrency for j in (*opened, *handed, *edited)}
    assert groups == {f"launcher-gate-{number}"}, groups


IMPOSTOR = """name: launcher review
on: [pull_request]
permissions: {}
jobs:
  hand-over:
    runs-on: ubuntu-latest
    steps:
      - run: echo "the requester's own 'launcher review', completing on their branch"
"""


def test_a_workflow_named_like_the_hand_over_only_makes_the_gate_read_again(
    adopted: Adopted,
) -> None:
    """A requester adds a workflow named `launcher review` on their branch: its completion
    starts the privileged gate (workflow_run matches workflows by name), but the hand-over is a
    pointer only, so the gate reads the pull request again and its verdict does not move."""
    a, world = adopted, adopted.world
    number = world.open_pr("bob", {WEB: request(), ".github/workflows/impostor.yml": IMPOSTOR})
    flows = by_workflow(a.pump())
    assert "impostor.yml" in flows
    # the pull request's opening, and the impostor's completion (among others)
    assert len(flows["gate.yml"]) >= 2 and all(j.ok for j in flows["gate.yml"])
    assert {j.concurrency for j in flows["gate.yml"]} == {f"launcher-gate-{number}"}
    assert world.status(number) == (
        "pending",
        "waiting for 1 approval from dev approvers, 1 approval from admins",
    )
    with pytest.raises(GithubException) as blocked:
        world.repo("bob").get_pull(number).merge()
    assert blocked.value.status == 405


def test_a_change_to_launchers_own_code_cannot_merge_without_an_admin(adopted: Adopted) -> None:
    """launcher's code runs in the privileged jobs, so the launch job's trust anchor could not
    stop a change to it after merge: GitHub stops it before, by the ruleset's code-owner
    review (admins own everything but deployments/) and the app's check (the gate waits for
    an admin). docs/security.md, "The trust anchor"."""
    a, world = adopted, adopted.world
    number = world.open_pr("bob", {"launcher/jobs/anchor.py": "ANCHOR = 'whatever I say'\n"})
    a.pump()
    world.review("dave", number)  # an approver of dev, neither an admin nor a code owner
    a.pump()
    assert world.status(number) == ("pending", "waiting for 1 approval from admins")
    with pytest.raises(GithubException) as refused:
        world.repo("dave").get_pull(number).merge()
    assert refused.value.status == 405
    message = refused.value.data["message"]
    assert "code owner" in message and "launcher/approval" in message, message
