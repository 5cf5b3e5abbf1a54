"""The GitHub fake and the adapter keep one contract: each test below runs the same operations
of `launcher.jobs.ports.GitHubPort` on the in-memory `FakeGitHub` and on the adapter over HTTP
against the stand-in (app mode), and asserts what the jobs depend on. A change of behaviour on
either side that the jobs would notice fails here, so the fast job tests on the fake cannot
drift silently from the real thing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

import pytest

from launcher.adapters.github import GitHub
from launcher.core.deployments import LAUNCH_TASK, REQUEST_TASK
from launcher.core.gate import ItemKind, State
from launcher.jobs.gate import decide_pull
from launcher.jobs.ports import GitHubPort
from launcher.testing.github import FakeGitHub, blob_sha
from tests.jobs.conftest import APP_BOT, POOLS, World

PATH = "deployments/dev/web.yaml"
TEXT = (
    "name: web\npool: dev\ndescription: test\ninstances:\n  - name: a\n    image: rhel9\n"
    "    hardware_profile: small\n    count: 1\n"
)


class Side(Protocol):
    """One implementation with the few set-up steps a test needs around it."""

    gh: GitHubPort

    def open_pull(self, author: str, files: dict[str, str | None]) -> int: ...
    def approve(self, login: str, number: int) -> None: ...
    def merge(self, number: int) -> None: ...
    def comment_as(self, login: str, number: int, body: str) -> None: ...
    def deploy_as(self, login: str, environment: str, task: str) -> None: ...
    def fresh(self) -> GitHubPort:
        """The view of a new job run (the adapter keeps a pull request as a run first read
        it; the fake has no such cache)."""
        ...


@dataclass
class FakeSide:
    fake: FakeGitHub

    @property
    def gh(self) -> GitHubPort:
        return self.fake

    def open_pull(self, author: str, files: dict[str, str | None]) -> int:
        return self.fake.open_pull(author, files)

    def approve(self, login: str, number: int) -> None:
        self.fake.review(login, number)

    def merge(self, number: int) -> None:
        self.fake.merge(number)

    def comment_as(self, login: str, number: int, body: str) -> None:
        self.fake.comment_as(login, number, body)

    def deploy_as(self, login: str, environment: str, task: str) -> None:
        self.fake.deploy_as(login, environment, {"launcher": 1}, task)

    def fresh(self) -> GitHubPort:
        return self.fake


@dataclass
class HTTPSide:
    world: World
    gh: GitHubPort

    def open_pull(self, author: str, files: dict[str, str | None]) -> int:
        return self.world.open_pr(author, files)

    def approve(self, login: str, number: int) -> None:
        self.world.review(login, number)

    def merge(self, number: int) -> None:
        self.world.repo("alice").get_pull(number).merge()

    def comment_as(self, login: str, number: int, body: str) -> None:
        self.world.repo(login).get_issue(number).create_comment(body)

    def deploy_as(self, login: str, environment: str, task: str) -> None:
        self.world.repo(login).create_deployment(
            ref="main",
            task=task,
            environment=environment,
            payload={"launcher": 1},
            required_contexts=[],
            auto_merge=False,
        )

    def fresh(self) -> GitHubPort:
        return GitHub(self.world.settings())


@pytest.fixture(params=["fake", "http"])
def side(request: pytest.FixtureRequest) -> Iterator[Side]:
    if request.param == "fake":
        fake = FakeGitHub(bot=APP_BOT)
        fake.teams = {"@acme/platform": frozenset({"pat"}), "@acme/dev-leads": frozenset({"lea"})}
        fake.teams["@acme/interns"] = frozenset({"ivy"})
        fake.push("main", {"README.md": "# infra\n", "pools.yaml": POOLS}, "pat")
        yield FakeSide(fake)
    else:
        world: World = request.getfixturevalue("world")
        yield HTTPSide(world, GitHub(world.settings()))


def test_deployments_are_the_bots_own_newest_first_by_task(side: Side) -> None:
    gh = side.gh
    _, head = gh.default_head()
    first = gh.create_deployment(head, "dev/web", {"kind": "launch", "n": [1]}, "one", LAUNCH_TASK)
    closed = gh.create_deployment(head, "dev/api", {"kind": "failure"}, "two", REQUEST_TASK)
    second = gh.create_deployment(head, "dev/web", {"kind": "launch"}, "three", LAUNCH_TASK)
    side.deploy_as("alice", "dev/web", LAUNCH_TASK)  # anyone may: never launcher's record

    listed = gh.deployments(LAUNCH_TASK)
    assert [d.id for d in listed] == [second, first]  # newest first, the bot's only
    assert listed[1].payload == {"kind": "launch", "n": [1]}  # the payload as written
    assert (listed[1].environment, listed[1].sha, listed[1].task) == ("dev/web", head, "launcher")
    assert [d.id for d in gh.deployments(REQUEST_TASK)] == [closed]
    both = gh.deployments_of((LAUNCH_TASK, REQUEST_TASK))  # one listing, split by task
    assert {task: [d.id for d in ds] for task, ds in both.items()} == {
        LAUNCH_TASK: [second, first],
        REQUEST_TASK: [closed],
    }
    created = listed[0].created_at
    assert created is not None and created.tzinfo is not None
    assert [d.id for d in gh.recent_deployments(LAUNCH_TASK, created - timedelta(days=1))] == [
        second,
        first,
    ]
    assert gh.recent_deployments(LAUNCH_TASK, created + timedelta(days=1)) == []


def test_a_deployment_status_is_written_only_when_it_changes(side: Side) -> None:
    gh = side.gh
    _, head = gh.default_head()
    deployment = gh.create_deployment(head, "dev/web", {}, "launch", LAUNCH_TASK)
    assert gh.deployment_status(deployment) is None
    assert gh.set_deployment_status(deployment, "in_progress", "launching") is True
    assert gh.set_deployment_status(deployment, "in_progress", "launching") is False
    assert gh.deployment_status(deployment) == ("in_progress", "launching")
    long = "x" * 200
    assert gh.set_deployment_status(deployment, "success", long) is True
    assert gh.deployment_status(deployment) == ("success", "x" * 140)  # GitHub's limit
    assert gh.set_deployment_status(deployment, "success", long) is False


def test_comments_are_the_bots_own_oldest_first(side: Side) -> None:
    gh = side.gh
    number = side.open_pull("alice", {PATH: TEXT})
    marker = "<!-- launcher:test one -->"
    side.comment_as("alice", number, f"{marker}\na writer's copy")  # never launcher's
    assert gh.find_comments(number, marker) == [] and gh.find_comment(number, marker) is None
    gh.comment(number, f"{marker}\nfirst")
    gh.comment(number, f"{marker}\nsecond")  # a racing run's copy
    found = gh.find_comments(number, marker)
    assert [c.body.splitlines()[1] for c in found] == ["first", "second"]
    assert found[0].id < found[1].id and found[0].author == APP_BOT
    assert gh.find_comment(number, marker) == found[0]
    gh.delete_comment(number, found[1].id)
    assert gh.find_comments(number, marker) == [found[0]]
    assert gh.upsert_comment(number, marker, found[0].body, found[0]) is False
    assert gh.upsert_comment(number, marker, f"{marker}\nedited", found[0]) is True
    assert [c.body for c in gh.find_comments(number, marker)] == [f"{marker}\nedited"]


def test_a_merged_request_traces_back_to_its_pull_request(side: Side) -> None:
    gh = side.gh
    number = side.open_pull("alice", {PATH: TEXT})
    assert [(f.path, f.status) for f in gh.changed_files(number)] == [(PATH, "added")]
    assert number in [p.number for p in gh.open_pulls("main")]
    side.merge(number)
    branch, head = gh.default_head()
    assert (branch, gh.default_branch()) == ("main", "main")
    files = gh.tree(head)
    assert files[PATH] == blob_sha(TEXT.encode())
    assert gh.blob(files[PATH]) == TEXT.encode() == gh.read_file(PATH, head)
    assert gh.read_file("deployments/dev/none.yaml", head) is None
    assert gh.modes(head)[PATH] == "100644"
    commit = gh.last_commit(PATH, head)
    assert commit is not None
    (pull,) = [p for p in gh.commit_pulls(commit) if p.merged]
    assert (pull.number, pull.base_ref, pull.merge_commit_sha) == (number, "main", head)
    gh = side.fresh()
    assert number not in [p.number for p in gh.open_pulls("main")]
    assert gh.pull(number).merged and gh.pull(number).state == "closed"

    removal = side.open_pull("alice", {PATH: None})
    side.merge(removal)
    _, head = gh.default_head()
    assert PATH not in gh.tree(head) and gh.read_file(PATH, head) is None
    commit = gh.last_commit(PATH, head)
    assert commit is not None
    assert removal in [p.number for p in gh.commit_pulls(commit) if p.merged]


def test_the_gate_decides_alike_on_both(side: Side) -> None:
    """What the launch job's approval re-check reads: reviews on the head commit, history,
    modes, the base's pools.yaml."""
    gh = side.gh
    number = side.open_pull("bob", {PATH: TEXT})
    info = gh.pull(number)
    (item,) = [i for i in decide_pull(gh, info, gh.reviews(number)).items if i.path == PATH]
    assert (item.kind, item.state) == (ItemKind.REQUEST, State.PENDING)
    side.approve("dave", number)
    (review,) = gh.reviews(number)
    assert (review.user, review.state, review.commit_id) == ("dave", "APPROVED", info.head_sha)
    (item,) = [i for i in decide_pull(gh, info, gh.reviews(number)).items if i.path == PATH]
    assert item.state is State.SUCCESS
    assert gh.close_pull(number) is True and gh.close_pull(number) is False
    gh = side.fresh()
    assert gh.pull(number).state == "closed" and not gh.pull(number).merged
    assert gh.close_pull(number) is False


def test_the_verdict_is_the_bots_latest_check_run(side: Side) -> None:
    gh = side.gh
    number = side.open_pull("alice", {PATH: TEXT})
    sha = gh.pull(number).head_sha
    assert gh.verdict(sha, "launcher/approval") is None
    assert gh.set_verdict(sha, "launcher/approval", "pending", "waiting") is True
    assert gh.set_verdict(sha, "launcher/approval", "pending", "waiting") is False
    assert gh.set_verdict(sha, "launcher/approval", "success", "ok") is True
    found = gh.verdict(sha, "launcher/approval")
    assert found is not None and (found.state, found.title, found.summary) == (
        "success",
        "ok",
        "ok",
    )


def test_labels_and_review_requests(side: Side) -> None:
    gh = side.gh
    number = side.open_pull("bob", {PATH: TEXT})

    def managed(label: str) -> bool:
        return label.startswith("launch:")

    assert gh.sync_labels(number, (), managed, {"launch:pending-approval"}) is True
    labels = side.fresh().pull(number).labels
    assert labels == ("launch:pending-approval",)
    assert gh.sync_labels(number, labels, managed, {"launch:pending-approval"}) is False
    assert gh.sync_labels(number, labels, managed, {"launch:approved"}) is True
    assert side.fresh().pull(number).labels == ("launch:approved",)
    # from a stale reading: the label another run removed meanwhile is gone, as wanted (no
    # error); the one added meanwhile was not read, so it stays for the next run
    assert gh.sync_labels(number, labels, managed, set()) is True
    assert side.fresh().pull(number).labels == ("launch:approved",)
    assert gh.request_reviews(number, [], []) is False
    assert gh.request_reviews(number, ["dave"], []) is True
    assert side.fresh().pull(number).requested_users == ("dave",)
    assert gh.team_members("@acme/platform") == frozenset({"pat"})
    assert gh.teams_read == {"@acme/platform": frozenset({"pat"})}
