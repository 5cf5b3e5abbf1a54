"""A stateful property-based model of the launch reconcile (Hypothesis), over the GitHub
stand-in and the in-memory Compute fake: random merges (new requests, edits of the count or of
max_runtime, removals), runs, clock steps and crashes after a write. Once the runs settle:

- every launcher-tagged instance belongs to a request on main that is RUNNING, from the commit
  its record names (nothing orphaned, nothing of an old version left);
- each RUNNING request has exactly its requested count;
- a request on main that is due and unexpired is RUNNING;
- no notification is doubled, and each RUNNING request's comment exists;
- a request merged without the approval its requester needs is not RUNNING and has no
  instances; once approved in a later pull request it is RUNNING like any other;
- a removal by someone who is neither the request's recorded requester nor an approver,
  merged without the pool's approval, ends nothing: what ran keeps running (never more than at
  the removal), nothing new launches, and each run reports it `not_approved` (issue 18's
  removal rule); removed by its requester, or with an approver's approval, it ends.

Two runs interleave too: run A reads (GitHub and the fleet), run B runs to completion at A's
first fleet write, then A applies what it planned from its stale read.

The example count is kept small (each step is real HTTP to the stand-in) and derandomized, so
the suite stays fast and deterministic.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule, run_state_machine_as_test

from launcher.adapters.github import GitHub
from launcher.core.lifecycle import Category, Reason, RequestState, Terminate
from launcher.jobs.launch import LaunchOptions, LaunchReport, run_launch
from launcher.sandbox.github import GitHubSandbox
from tests.fakes import FakeCompute
from tests.jobs.conftest import APP_BOT, PEOPLE, World
from tests.jobs.test_launch import AMI, NOW, POOLS, merged, request

NAMES = ("a", "b")
RUNTIME = timedelta(hours=8)
WRITES = (
    "/repos/{owner}/{repo}/deployments",
    "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses",
    "/repos/{owner}/{repo}/issues/{issue_number}/comments",
)
_repos = itertools.count()


def path(name: str) -> str:
    return f"deployments/dev/{name}.yaml"


class Reconcile(RuleBasedStateMachine):
    world: World  # set by the test: one stand-in, a fresh repository per example

    def __init__(self) -> None:
        super().__init__()
        base = type(self).world
        n = next(_repos)
        base.sb.create_repo(
            "acme",
            f"model{n}",
            {"README.md": b"model\n", "pools.yaml": POOLS.encode()},
            collaborators={name: "write" for name in PEOPLE},
        )
        self.world = World(base.sb, base.tokens, base.tmp, base.app)  # app mode, as the jobs run
        self.world.repo_name = f"acme/model{n}"
        self.now = NOW
        self.compute = FakeCompute(now=lambda: self.now, images={AMI: "x86_64"})
        self.main: dict[str, tuple[int, bool]] = {}  # name -> (count, has max_runtime)
        self.unapproved: set[str] = set()  # on main, merged without the approval it needs
        self.spec_since: dict[str, datetime] = {}  # when its count last changed or it came
        # names bob requested since their last approved removal: launcher may have recorded
        # bob as the requester, so alice's removal without approval may be refused
        self.bobs: set[str] = set()
        self.kept: dict[str, int] = {}  # removed perhaps without a valid verdict: at most this

    def run(self, compute: Any = None) -> LaunchReport:
        gh = GitHub(self.world.settings())
        options = LaunchOptions(now=self.now)
        return run_launch(gh, compute or self.compute, options, io.StringIO())

    @rule(name=st.sampled_from(NAMES), count=st.integers(1, 2), runtime=st.booleans())
    def merge(self, name: str, count: int, runtime: bool) -> None:
        text = request(name, count, max_runtime="8h" if runtime else None)
        if self.main.get(name) == (count, runtime):
            return
        merged(self.world, "alice", {path(name): text})
        if self.main.get(name, (None, None))[0] != count or name in self.unapproved:
            self.spec_since[name] = self.now
        self.main[name] = (count, runtime)
        self.unapproved.discard(name)
        self.kept.pop(name, None)

    @rule(name=st.sampled_from(NAMES), count=st.integers(1, 2), approved=st.booleans())
    def merge_by_bob(self, name: str, count: int, approved: bool) -> None:
        """bob may only create with approval: dave approves, or bob merges without it (an
        admin bypass) and the request is FAILED not_approved until approved in a later PR."""
        if name in self.main and not (approved and name in self.unapproved):
            return  # a new request of bob's, or the approved fix of one that failed
        if name in self.kept:
            return  # its refused removal left the approved version running: not a new request
        if name in self.main and self.main[name][0] == count:
            return  # the same file again changes nothing on main: no fix to approve
        merged(self.world, "bob", {path(name): request(name, count)}, "dave" if approved else "")
        self.spec_since[name] = self.now
        self.main[name] = (count, False)
        self.bobs.add(name)
        self.kept.pop(name, None)
        if approved:
            self.unapproved.discard(name)
        else:
            self.unapproved.add(name)

    @precondition(lambda self: bool(self.main))
    @rule(data=st.data())
    def remove(self, data: st.DataObject) -> None:
        """alice removes a request: her own alone; bob's needs dave's approval, and without it
        whatever of bob's runs keeps running."""
        name = data.draw(st.sampled_from(sorted(self.main)))
        self.alice_removes(name, name in self.bobs and data.draw(st.booleans()))

    def alice_removes(self, name: str, approved: bool) -> None:
        """Her own request ends; one launcher recorded as bob's ends only with dave's
        approval, and otherwise keeps at most what runs now (nothing new launches)."""
        merged(self.world, "alice", {path(name): None}, "dave" if approved else "")
        if approved:
            self.bobs.discard(name)
        elif name in self.bobs:
            self.kept[name] = len(self.compute.running(f"dev/{name}"))
        del self.main[name]
        self.unapproved.discard(name)

    @rule(name=st.sampled_from(NAMES), count=st.integers(1, 2))
    def someone_elses_removed_without_approval(self, name: str, count: int) -> None:
        """bob's approved request runs; alice (create, not an approver) removes it and the
        removal is merged without the pool's approval."""
        if name in self.main or name in self.kept:
            return
        self.merge_by_bob(name, count, True)
        self.run()
        self.alice_removes(name, approved=False)

    @rule()
    def launch(self) -> None:
        self.run()

    @rule()
    def two_runs_interleaved(self) -> None:
        """Run A reads; at its first fleet write, run B runs to completion; A then applies."""
        raced: list[LaunchReport] = []

        def race() -> None:
            if not raced:
                raced.append(self.run())

        self.run(compute=_RaceAtFirstWrite(self.compute, race))
        race()  # A wrote nothing to the fleet: B runs after it

    @rule(hours=st.sampled_from((1, 5)))
    def clock(self, hours: int) -> None:
        self.now += timedelta(hours=hours)

    @rule(write=st.sampled_from(WRITES))
    def crash_after_a_write(self, write: str) -> None:
        """The run stops at a write (the one before it went through)."""
        self.world.sb.inject_fault("POST", write, status=502)
        try:
            self.run()
        finally:
            self.world.sb.clear_faults()

    @rule(
        name=st.sampled_from(NAMES),
        count=st.integers(1, 2),
        write=st.sampled_from(WRITES),
        remove=st.booleans(),
    )
    def merge_then_crash(self, name: str, count: int, write: str, remove: bool) -> None:
        """A push whose launch run stops at a write; then, perhaps, the request is removed."""
        self.merge(name, count, False)
        self.crash_after_a_write(write)
        if remove and name in self.main:
            self.alice_removes(name, approved=False)

    def teardown(self) -> None:
        try:
            self.settle_and_check()
        finally:
            self.world.sb.clear_faults()

    def settle_and_check(self) -> None:
        for _ in range(2):
            self.run()
        report = self.run()
        kept = {f"dev/{name}" for name in self.kept}
        # settled, but for removals not approved: planned again each run, and refused again
        assert all(
            isinstance(a, Terminate) and a.reason is Reason.REMOVED and a.key in kept
            for a in report.planned
        ), report.planned
        assert report.errors == [], report.errors
        assert all(
            key in kept and error.category is Category.NOT_APPROVED for key, error in report.failed
        ), report.failed
        newest = {r.key: r for r in report.records}  # sorted by deployment id
        running = {k: r for k, r in newest.items() if r.state is RequestState.RUNNING}
        for instance in self.compute.running():
            if instance.key in kept:  # launched before the refused removal, perhaps unrecorded
                continue
            record = running.get(instance.key)
            assert record is not None, f"{instance.instance_id} of {instance.key} left running"
            assert instance.commit == record.launch_commit, (instance, record)
        for key in running:
            name = key.split("/", 1)[1]
            if name in self.kept:  # what ran before the refused removal, never more
                continue
            assert name in self.main, f"{key} RUNNING but not on main"
            assert name not in self.unapproved, f"{key} RUNNING without its approval"
            assert len(self.compute.running(key)) == self.main[name][0]
        for name, count in self.kept.items():
            key = f"dev/{name}"
            assert len(self.compute.running(key)) <= count, key
            if self.compute.running(key):
                assert key in {k for k, _ in report.failed}, (key, report.failed)
        for name in self.unapproved:
            state = newest.get(f"dev/{name}")
            assert state is not None and state.state is RequestState.FAILED, (name, state)
            assert self.compute.running(f"dev/{name}") == []
        for name, (_, has_runtime) in self.main.items():
            if name in self.unapproved:
                continue
            due = not has_runtime or self.now < self.spec_since[name] + RUNTIME
            state = newest.get(f"dev/{name}")
            if due:
                assert state is not None and state.state is RequestState.RUNNING, (name, state)
            elif state is not None and state.state is RequestState.EXPIRED:
                assert has_runtime
        self.check_comments(running)

    def check_comments(self, running: dict[str, object]) -> None:
        repo = self.world.repo("alice")
        seen: dict[tuple[int, str], int] = {}  # (pull request, marker) -> comments
        for pull in repo.get_pulls(state="closed"):
            for c in pull.get_issue_comments():
                if c.user.login != APP_BOT:  # launcher's app's comments only
                    continue
                marker = c.body.splitlines()[0]
                seen[(pull.number, marker)] = seen.get((pull.number, marker), 0) + 1
        doubled = {m: n for m, n in seen.items() if n > 1}
        assert not doubled, doubled
        for key, record in running.items():
            version = record.version.id  # type: ignore[attr-defined]
            wanted = (f"launcher:launch {key} {version} running", f"{key} {version} retagged")
            assert any(w in m for _, m in seen for w in wanted), (key, sorted(seen))


class _RaceAtFirstWrite:
    """The Compute fake as run A sees it: its first write (launch, terminate, retag) lets
    run B run to completion first, so A applies a plan made from what it read before B."""

    WRITES = ("run_instances", "terminate", "retag")

    def __init__(self, inner: FakeCompute, race: Callable[[], None]) -> None:
        self._inner = inner
        self._race = race

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name not in self.WRITES:
            return attr

        def write(*args: Any, **kwargs: Any) -> Any:
            self._race()
            return attr(*args, **kwargs)

        return write


@pytest.fixture
def model_world(world: World) -> World:
    return world


def test_the_reconcile_settles_to_what_main_asks(model_world: World) -> None:
    Reconcile.world = model_world
    run_state_machine_as_test(
        Reconcile,
        settings=settings(
            max_examples=10,
            stateful_step_count=12,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )


_ = GitHubSandbox  # the stand-in behind `world`
