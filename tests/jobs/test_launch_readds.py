"""Which request files left main and came back since the last run (`launcher.jobs.launch.readds`),
on the in-memory GitHub: what it reads is what changed since, never one read per request."""

from __future__ import annotations

import io
from typing import Any

from launcher.jobs.launch.readds import since
from launcher.testing.github import FakeGitHub

WEB = "deployments/dev/web.yaml"
API = "deployments/dev/api.yaml"


class Counting(FakeGitHub):
    """The fake, counting the reads the look at the commits makes."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.reads = 0

    def commit_facts(self, sha: str) -> Any:
        self.reads += 1
        return super().commit_facts(sha)

    def tree(self, sha: str) -> dict[str, str]:
        self.reads += 1
        return super().tree(sha)


def test_a_file_removed_and_added_back_since_the_last_run_is_found() -> None:
    gh = Counting()
    seen = gh.push("main", {WEB: "a\n", API: "b\n"}, "alice")
    removed = gh.push("main", {WEB: None}, "alice")
    gh.push("main", {WEB: "a\n"}, "bob")
    head = gh.push("main", {"README.md": "x\n"}, "carol")
    gh.reads = 0
    assert since(gh, seen, head, gh.tree(head)).absent == {WEB: removed}
    assert gh.reads == 1 + 2 * 3  # main's tree here, then each commit since: parent and tree


def test_nothing_is_read_when_main_is_where_the_last_run_saw_it() -> None:
    gh = Counting()
    head = gh.push("main", {WEB: "a\n"}, "alice")
    files = gh.tree(head)
    gh.reads = 0
    assert since(gh, head, head, files).absent == {} and gh.reads == 0
    assert since(gh, None, head, files).absent == {} and gh.reads == 0  # nothing recorded yet


def test_an_edit_and_its_revert_are_no_return_but_a_change() -> None:
    gh = Counting()
    seen = gh.push("main", {WEB: "a\n"}, "alice")
    gh.push("main", {WEB: "b\n"}, "bob")
    head = gh.push("main", {WEB: "a\n"}, "alice")
    changes = since(gh, seen, head, gh.tree(head))
    assert changes.absent == {} and changes.touched == {WEB}  # read again, as a changed file


def test_a_launch_run_looks_only_at_the_commits_since_the_last_record() -> None:
    """Each record carries the head its run read; the next run starts there: at that head it
    reads no commit; after alice rewords her request (nothing to record) it reads that merge's
    parent only."""
    from launcher.jobs.launch import TASK, LaunchOptions, run_launch
    from tests.fakes import FakeCompute
    from tests.jobs.conftest import APP_BOT
    from tests.jobs.test_launch import AMI, NOW, POOLS, request

    gh = Counting(now=lambda: NOW, bot=APP_BOT)
    gh.push("main", {"pools.yaml": POOLS}, "pat")
    ec2 = FakeCompute(now=lambda: NOW, images={AMI: "x86_64"})
    gh.merged("alice", {WEB: request()})

    def launch() -> int:
        gh.reads = 0
        report = run_launch(gh, ec2, LaunchOptions(now=NOW), io.StringIO())
        assert report.errors == [] and report.failed == [], report
        return gh.reads - 1  # main's tree, read by every run

    launch()
    [record] = [d.record for d in gh.deployments(TASK) if d.record and d.record.version]
    assert record is not None and record.seen == gh.branches["main"]
    assert launch() == 0
    gh.merged("alice", {WEB: request().replace("description: test", "description: web")})
    assert launch() == 2  # the merge's parent, and its tree


class Reads(FakeGitHub):
    """The fake, counting the reads a request file's provenance and content cost."""

    READS = ("blob", "last_commit", "commit_pulls", "reached")

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.reads: list[str] = []

    def __getattribute__(self, name: str) -> Any:
        if name in Reads.READS:
            object.__getattribute__(self, "reads").append(name)
        return object.__getattribute__(self, name)


def test_a_failed_request_left_on_main_costs_no_read_per_run() -> None:
    """bob's request FAILED (merged without the approval he needs) and stays on main: once
    recorded, each launch run takes the failure from its record (nothing changed since), and
    reads the file again only when it changes: then an approved change launches."""
    from launcher.core.lifecycle import RequestState
    from launcher.jobs.launch import LaunchOptions, run_launch
    from tests.fakes import FakeCompute
    from tests.jobs.conftest import APP_BOT
    from tests.jobs.test_launch import AMI, NOW, POOLS, request

    gh = Reads(now=lambda: NOW, bot=APP_BOT)
    gh.push("main", {"pools.yaml": POOLS}, "pat")
    ec2 = FakeCompute(now=lambda: NOW, images={AMI: "x86_64"})

    def launch() -> tuple[list[str], RequestState | None]:
        gh.reads = []
        report = run_launch(gh, ec2, LaunchOptions(now=NOW), io.StringIO())
        assert report.errors == [], report.errors
        mine = [r.state for r in report.records if r.key == "dev/web"]
        return gh.reads, mine[-1] if mine else None

    gh.merged("bob", {WEB: request()})
    launch()
    launch()  # the first run that reads its record
    reads, state = launch()
    assert state is RequestState.FAILED
    assert reads == ["blob"]  # pools.yaml, read by every run
    gh.merged("bob", {WEB: request(count=2)}, approver="dave")
    assert "last_commit" in launch()[0]
    assert launch()[1] is RequestState.RUNNING


def test_a_file_first_added_since_or_whose_return_is_recorded_is_no_return() -> None:
    gh = Counting()
    start = gh.push("main", {API: "b\n"}, "alice")
    added = gh.push("main", {WEB: "a\n"}, "alice")  # new since: its record is at `added`
    head = gh.push("main", {WEB: "c\n"}, "alice")
    changes = since(gh, start, head, gh.tree(head))
    assert changes.complete and changes.touched == {WEB}
    assert changes.absent_after(WEB, [added]) == ""
    assert changes.absent_after(WEB, ["older"]) == start  # what ran reached main before


class Requests(FakeGitHub):
    """The fake, counting every GitHubPort call as one GitHub request (the deployment listing
    as its pages, 100 a page), as bench/launch_calls.py counts the stand-in's."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.requests = 0

    def __getattribute__(self, name: str) -> Any:
        from launcher.jobs.ports import GitHubPort

        found = object.__getattribute__(self, name)
        if name.startswith("_") or not callable(found) or not hasattr(GitHubPort, name):
            return found

        def counted(*args: Any, **kw: Any) -> Any:
            answer = found(*args, **kw)
            pages = -(-len(answer) // 100) if name == "deployments" else 1
            object.__setattr__(self, "requests", self.requests + max(pages, 1))
            return answer

        return counted


def test_commits_that_record_nothing_keep_every_run_within_the_no_op_budget() -> None:
    """Ten pushes that record nothing (README changes), a launch run after each, then runs
    with nothing new: every run stays within 10 + ceil(D/100) GitHub requests, because a run
    that looked at a few commits and planned nothing leaves a `seen` marker where the next
    run starts. After a burst of ten pushes with no run between, one run catches up and the
    next ones are back within the budget. A request removed and added back afterwards is
    still found."""
    import math

    from launcher.core.lifecycle import Readd
    from launcher.core.record import SEEN_ENVIRONMENT
    from launcher.jobs.launch import TASK, LaunchOptions, run_launch
    from tests.fakes import FakeCompute
    from tests.jobs.conftest import APP_BOT
    from tests.jobs.test_launch import AMI, NOW, POOLS, request

    gh = Requests(now=lambda: NOW, bot=APP_BOT)
    gh.push("main", {"pools.yaml": POOLS}, "pat")
    ec2 = FakeCompute(now=lambda: NOW, images={AMI: "x86_64"})
    gh.merged("alice", {WEB: request()}, approver="dave")

    def launch() -> tuple[int, int]:
        before = gh.requests
        report = run_launch(gh, ec2, LaunchOptions(now=NOW), io.StringIO())
        assert report.errors == [] and report.failed == [], report
        used = gh.requests - before
        return used, 10 + math.ceil(len(FakeGitHub.deployments(gh, TASK)) / 100)

    launch()
    for i in range(10):
        gh.push("main", {"README.md": f"readme {i}\n"}, "carol")
        used, budget = launch()
        assert used <= budget, (i, used, budget)
    for _ in range(3):
        used, budget = launch()
        assert used <= budget
    for i in range(10):
        gh.push("main", {"README.md": f"again {i}\n"}, "carol")
    launch()  # catches up: reads the ten commits once, leaves a marker
    for _ in range(3):
        used, budget = launch()
        assert used <= budget
    markers = [d for d in FakeGitHub.deployments(gh, TASK) if d.environment == SEEN_ENVIRONMENT]
    assert 1 <= len(markers) <= 6  # one per two commits at most, never one per run

    # the look at the commits still finds a request removed and added back between runs
    gh.push("main", {WEB: None}, "carol")
    gh.push("main", {WEB: request()}, "carol")
    report = run_launch(gh, ec2, LaunchOptions(now=NOW), io.StringIO())
    assert [a.key for a in report.planned if isinstance(a, Readd)] == ["dev/web"], report.planned


def test_a_seen_marker_is_no_request_and_the_newest_of_records_and_markers_wins() -> None:
    """A marker is read only as where the next run starts: never as a request's record (so
    `launcher status`, the sweep and the plan never see it); the newest of records and
    markers wins (two runs at once: one may leave an older head, then more commits are looked
    at, never fewer); a marker's payload under a request's environment is nothing."""
    from launcher.core.deployments import Deployment
    from launcher.core.lifecycle import Version
    from launcher.core.record import SEEN_ENVIRONMENT, Kind, RequestRecord, encode, seen_marker
    from launcher.jobs.launch.readds import last_seen

    marker = encode(seen_marker("h2"))
    record = encode(
        RequestRecord(
            kind=Kind.ENDED, key="dev/web", path=WEB, version=Version("s", "r"), seen="h1"
        )
    )
    mark = Deployment(2, "launcher", SEEN_ENVIRONMENT, "h2", marker)
    assert mark.record is None and mark.key is None
    assert last_seen([mark]) == "h2"
    assert last_seen([mark, Deployment(1, "launcher", "dev/web", "c", record)]) == "h2"
    assert last_seen([mark, Deployment(3, "launcher", "dev/web", "c", record)]) == "h1"
    forged = {**marker, "request": {"key": "dev/web"}}
    assert Deployment(4, "launcher", "dev/web", "x", forged).record is None
    assert last_seen([Deployment(4, "launcher", "dev/web", "x", forged)]) is None


def test_a_readd_found_past_the_look_back_is_stamped_with_where_the_last_run_stopped() -> None:
    """More commits since the last recording run than one run looks at: a run that plans for
    a file changed in those it did look at (a valid removal and re-add) stamps what it
    records with where the last recording run stopped, not main's head, so a run stopping
    half-way loses nothing: the next one looks at the same commits again."""
    from launcher.jobs.launch import TASK, LaunchOptions, run_launch
    from launcher.jobs.launch.readds import LIMIT
    from tests.fakes import FakeCompute
    from tests.jobs.conftest import APP_BOT
    from tests.jobs.test_launch import AMI, NOW, POOLS, request

    gh = FakeGitHub(now=lambda: NOW, bot=APP_BOT)
    gh.push("main", {"pools.yaml": POOLS}, "pat")
    ec2 = FakeCompute(now=lambda: NOW, images={AMI: "x86_64"})
    gh.merged("alice", {WEB: request()})
    first = run_launch(gh, ec2, LaunchOptions(now=NOW), io.StringIO())
    assert first.errors == [] and first.failed == []
    start = gh.branches["main"]
    before = {d.id for d in gh.deployments(TASK)}
    for n in range(LIMIT + 1):
        gh.push("main", {"README.md": f"{n}\n"}, "carol")
    gh.merged("alice", {WEB: None})  # her own removal: valid
    gh.merged("alice", {WEB: request()})  # and the same file again, a new ask
    readd = run_launch(gh, ec2, LaunchOptions(now=NOW), io.StringIO())
    assert [type(a).__name__ for a in readd.planned] == ["Readd"] and readd.errors == []
    written = [d.record for d in gh.deployments(TASK) if d.id not in before and d.record]
    assert written and all(r.seen == start for r in written)  # not main's head
