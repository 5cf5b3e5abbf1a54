"""A stateful property-based model of the launch reconcile (Hypothesis), over the GitHub
stand-in and the in-memory Compute fake: random merges (new requests, edits of the count or of
max_runtime, removals), runs, clock steps and crashes after a write. Once the runs settle:

- every launcher-tagged instance belongs to a request on main that is RUNNING, from the commit
  its record names (nothing orphaned, nothing of an old version left);
- each RUNNING request has exactly its requested count;
- a request on main that is due and unexpired is RUNNING;
- no notification is doubled, and each RUNNING request's comment exists.

The example count is kept small (each step is real HTTP to the stand-in) and derandomized, so
the suite stays fast and deterministic.
"""

from __future__ import annotations

import io
import itertools
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule, run_state_machine_as_test

from launcher.adapters.github import GitHub
from launcher.core.lifecycle import RequestState
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
        self.world = World(base.sb, base.tokens, base.tmp, base.app)
        self.world.repo_name = f"acme/model{n}"
        self.now = NOW
        self.compute = FakeCompute(now=lambda: self.now, images={AMI: "x86_64"})
        self.main: dict[str, tuple[int, bool]] = {}  # name -> (count, has max_runtime)
        self.spec_since: dict[str, datetime] = {}  # when its count last changed or it came

    def run(self) -> LaunchReport:
        gh = GitHub(self.world.settings())
        return run_launch(gh, self.compute, LaunchOptions(now=self.now), io.StringIO())

    @rule(name=st.sampled_from(NAMES), count=st.integers(1, 2), runtime=st.booleans())
    def merge(self, name: str, count: int, runtime: bool) -> None:
        text = request(name, count, max_runtime="8h" if runtime else None)
        if self.main.get(name) == (count, runtime):
            return
        merged(self.world, "alice", {path(name): text})
        if self.main.get(name, (None, None))[0] != count:
            self.spec_since[name] = self.now
        self.main[name] = (count, runtime)

    @precondition(lambda self: bool(self.main))
    @rule(data=st.data())
    def remove(self, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(sorted(self.main)))
        merged(self.world, "alice", {path(name): None})
        del self.main[name]

    @rule()
    def launch(self) -> None:
        self.run()

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
            merged(self.world, "alice", {path(name): None})
            del self.main[name]

    def teardown(self) -> None:
        try:
            self.settle_and_check()
        finally:
            self.world.sb.clear_faults()

    def settle_and_check(self) -> None:
        for _ in range(2):
            self.run()
        report = self.run()
        assert report.planned == [], report.planned  # settled
        assert report.errors == [] and report.failed == [], (report.errors, report.failed)
        newest = {r.key: r for r in report.records}  # sorted by deployment id
        running = {k: r for k, r in newest.items() if r.state is RequestState.RUNNING}
        for instance in self.compute.running():
            record = running.get(instance.key)
            assert record is not None, f"{instance.instance_id} of {instance.key} left running"
            assert instance.commit == record.launch_commit, (instance, record)
        for key in running:
            name = key.split("/", 1)[1]
            assert name in self.main, f"{key} RUNNING but not on main"
            assert len(self.compute.running(key)) == self.main[name][0]
        for name, (_, has_runtime) in self.main.items():
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
                if c.user.login != APP_BOT:
                    continue
                marker = c.body.splitlines()[0]
                seen[(pull.number, marker)] = seen.get((pull.number, marker), 0) + 1
        doubled = {m: n for m, n in seen.items() if n > 1}
        assert not doubled, doubled
        for key, record in running.items():
            version = record.version.id  # type: ignore[attr-defined]
            wanted = (f"launcher:launch {key} {version} running", f"{key} {version} retagged")
            assert any(w in m for _, m in seen for w in wanted), (key, sorted(seen))


@pytest.fixture
def model_world(world: World) -> World:
    return world


def test_the_reconcile_settles_to_what_main_asks(model_world: World) -> None:
    Reconcile.world = model_world
    run_state_machine_as_test(
        Reconcile,
        settings=settings(
            max_examples=8,
            stateful_step_count=10,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )


_ = GitHubSandbox  # the stand-in behind `world`
