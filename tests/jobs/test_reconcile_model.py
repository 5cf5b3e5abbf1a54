"""A stateful property-based model of the launch reconcile (Hypothesis), over the in-memory
GitHub fake (`launcher.testing.github.FakeGitHub`) and Compute fake (`tests.fakes.FakeCompute`):
random merges (new requests, edits of the count or of max_runtime, removals), approvals, runs,
clock steps, a write GitHub refuses, and crashes after any write (GitHub's or EC2's: the run
stops there). Once the runs settle:

- every launcher-tagged instance belongs to a request on main that is RUNNING, from the commit
  its record names (nothing orphaned, nothing of an old version left), or to the version a
  FAILED replacement left running;
- each RUNNING request has exactly its requested count;
- a request on main that is due and unexpired is RUNNING;
- no notification is doubled, and each RUNNING request's comment exists;
- a request merged without the approval its requester needs is not RUNNING and has no
  instances; once approved in a later pull request (which changes the file) it is RUNNING
  like any other;
- a removal by someone who is neither the request's recorded requester nor an approver,
  merged without the pool's approval, ends nothing: what ran keeps running (never more than at
  the removal), nothing new launches, and each run reports it `not_approved` (issue 18's
  removal rule); removed by its requester, or with an approver's approval, it ends.

Two runs interleave too: run A reads (GitHub and the fleet), run B runs to completion at A's
first fleet write, then A applies what it planned from its stale read.

On the fakes a run takes milliseconds, so the model runs many examples; the same machine runs a
few examples end to end on the HTTP stand-in (real PyGithub requests, the stand-in's faults),
which `tests/jobs/test_github_contract.py` ties to the fake. Both are derandomized, so the suite
stays deterministic.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule, run_state_machine_as_test

from launcher.adapters.github import GitHub
from launcher.core.lifecycle import Category, Readd, Reason, RequestState, Terminate
from launcher.jobs.launch import LaunchOptions, LaunchReport, run_launch
from launcher.jobs.ports import GitHubPort
from launcher.jobs.status import gather
from launcher.sandbox.github import GitHubSandbox
from launcher.testing.github import FakeGitHub
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
FAKE_WRITES = dict(
    zip(WRITES, ("create_deployment", "set_deployment_status", "comment"), strict=True)
)
_repos = itertools.count()


class Crash(BaseException):
    """The job's process dies here (not an error any job handles: nothing after it runs)."""


def path(name: str) -> str:
    return f"deployments/dev/{name}.yaml"


class Reconcile(RuleBasedStateMachine):
    """The model; a subclass says where GitHub is (`gh`, `merge_files`, `fail_write`,
    `bot_comments`)."""

    def __init__(self) -> None:
        super().__init__()
        self.now = NOW
        self.compute = FakeCompute(now=lambda: self.now, images={AMI: "x86_64"})
        self.main: dict[str, tuple[int, bool]] = {}  # name -> (count, has max_runtime)
        self.unapproved: set[str] = set()  # on main, merged without the approval it needs
        # When main first held each request with each count: its instances of that count
        # cannot have launched earlier, so they cannot expire before this + max_runtime (a
        # removal and re-add, or an edit and its revert, between two runs is no change to the
        # reconcile: the instances launched the first time run on).
        self.first_held: dict[tuple[str, int], datetime] = {}

        # names bob requested since a clean run ended their last approved removal: launcher
        # may have recorded bob as the requester, so alice's removal without approval may be
        # refused
        self.bobs: set[str] = set()
        self.kept: dict[str, int] = {}  # removed perhaps without a valid verdict: at most this
        # bob's requests removed with approval, not yet ended by a run that finished cleanly:
        # until one does, launcher's newest record of them still names bob (re-added and
        # removed again before that, the recorded requester is still bob)
        self.ending: set[str] = set()

    # --- where GitHub is -------------------------------------------------------------------

    def gh(self) -> GitHubPort:
        """GitHub as one run sees it."""
        raise NotImplementedError

    def merge_files(self, author: str, files: dict[str, str | None], approver: str = "") -> None:
        raise NotImplementedError

    def fail_write(self, write: str, during: Callable[[], object]) -> None:
        """Run `during` while GitHub refuses the write `write` (one of WRITES)."""
        raise NotImplementedError

    def bot_comments(self) -> list[tuple[int, str]]:
        """(pull request, first line) of each comment launcher's app wrote."""
        raise NotImplementedError

    # --- the rules ----------------------------------------------------------------------------

    def run(self, compute: Any = None) -> LaunchReport:
        options = LaunchOptions(now=self.now)
        report = run_launch(self.gh(), compute or self.compute, options, io.StringIO())
        if not report.errors:  # it ended what left main with approval: recorded as ended
            self.bobs -= self.ending - set(self.main)
            self.ending &= set(self.main)
        return report

    @rule(name=st.sampled_from(NAMES), count=st.integers(1, 2), runtime=st.booleans())
    def merge(self, name: str, count: int, runtime: bool) -> None:
        text = request(name, count, max_runtime="8h" if runtime else None)
        if self.main.get(name) == (count, runtime):
            return
        self.merge_files("alice", {path(name): text})
        self.first_held.setdefault((name, count), self.now)
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
        if self.main.get(name, (None, None))[0] == count:
            # A pull request that does not change the file does not approve it: the file's
            # last change is still the unapproved one (launcher rightly keeps it FAILED).
            count = 3 - count
        self.merge_files("bob", {path(name): request(name, count)}, "dave" if approved else "")
        self.first_held.setdefault((name, count), self.now)
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
        self.merge_files("alice", {path(name): None}, "dave" if approved else "")
        if approved:
            self.ending.add(name)  # bob's no more once a run has ended it (see `run`)
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

        self.run(compute=_BeforeWrites(self.compute, lambda _name: race()))
        race()  # A wrote nothing to the fleet: B runs after it

    @rule(hours=st.sampled_from((1, 5)))
    def clock(self, hours: int) -> None:
        self.now += timedelta(hours=hours)

    @rule(write=st.sampled_from(WRITES))
    def crash_after_a_write(self, write: str) -> None:
        """GitHub refuses every write of one kind during a run (a 502): the run goes on
        without it, and the next run must make up for it."""
        self.fail_write(write, self.run)

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
        self.settle_and_check()

    def settle_and_check(self) -> None:
        for _ in range(2):
            self.run()
        report = self.run()
        refused = {f"dev/{name}" for name in self.kept}
        # settled, but for removals not approved: planned again each run, and refused again;
        # and a request removed without a valid verdict and added back as it runs: its removal
        # is judged again (quietly: it never took effect) until a run records something
        assert all(
            (isinstance(a, Terminate) and a.reason is Reason.REMOVED and a.key in refused)
            or (isinstance(a, Readd) and not a.kept)
            for a in report.planned
        ), report.planned
        assert report.errors == [], report.errors
        assert all(
            key in refused and error.category is Category.NOT_APPROVED
            for key, error in report.failed
        ), report.failed
        newest = {r.key: r for r in report.records}  # sorted by deployment id
        running = {k: r for k, r in newest.items() if r.state is RequestState.RUNNING}
        # A replacement that FAILED (not approved, say) leaves the version before it running:
        # its instances belong to that RUNNING record, under the newest one, FAILED.
        kept = {r.key: r for r in report.records if r.state is RequestState.RUNNING}
        for instance in self.compute.running():
            if instance.key in refused:  # launched before the refused removal, perhaps unrecorded
                continue
            record = kept.get(instance.key)
            assert record is not None, f"{instance.instance_id} of {instance.key} left running"
            assert instance.commit == record.launch_commit, (instance, record)
            top = newest[instance.key]
            assert top is record or top.state is RequestState.FAILED, (instance, top)
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
        for name, (_, has_runtime) in self.main.items():
            if name in self.unapproved:
                continue
            count = self.main[name][0]
            due = not has_runtime or self.now < self.first_held[(name, count)] + RUNTIME
            state = newest.get(f"dev/{name}")
            if due and state is not None and _reverted_after_failure(state, kept, self.compute):
                self.check_shown_running(kept[state.key])
                continue
            if due and state is not None and _over_quota(state):
                continue  # not placeable when it was tried (see _over_quota)
            if due:
                assert state is not None and state.state is RequestState.RUNNING, (name, state)
            elif state is not None and state.state is RequestState.EXPIRED:
                assert has_runtime
        self.check_comments(running)

    def check_shown_running(self, record: Any) -> None:
        """A failed replacement left `record`'s version running: when main's file is that
        version's again, `launcher status` shows the request RUNNING (not the failure)."""
        gh = self.gh()
        _, head = gh.default_head()
        if gh.tree(head).get(record.path) != record.blob:
            return  # main holds the failed version (or another file of it): FAILED is right
        overview = gather(gh, self.compute, self.now).overview  # type: ignore[arg-type]
        [row] = [r for r in overview.requests if r.key == record.key]
        assert row.state is RequestState.RUNNING, row

    def check_comments(self, running: dict[str, object]) -> None:
        seen: dict[tuple[int, str], int] = {}  # (pull request, marker) -> comments
        for found in self.bot_comments():  # launcher's app's comments only
            seen[found] = seen.get(found, 0) + 1
        doubled = {m: n for m, n in seen.items() if n > 1}
        assert not doubled, doubled
        for key, record in running.items():
            version = record.version.id  # type: ignore[attr-defined]
            wanted = (f"launcher:launch {key} {version} running", f"{key} {version} retagged")
            assert any(w in m for _, m in seen for w in wanted), (key, sorted(seen))


def _reverted_after_failure(state: Any, kept: dict[str, Any], compute: FakeCompute) -> bool:
    """A replacement FAILED (a failed newer version leaves the old one running) and main may
    have gone back to the version still running: the reconcile rightly does nothing, and the
    newest record is the failure. The model accepts exactly that (newest FAILED, and every
    instance of the request is the older RUNNING record's); `check_shown_running` then checks
    `launcher status` shows RUNNING when main's file is the running version's again."""
    older = kept.get(state.key)
    if state.state is not RequestState.FAILED or older is None:
        return False
    mine = compute.running(state.key)
    return bool(mine) and all(i.commit == older.launch_commit for i in mine)


def _over_quota(state: Any) -> bool:
    """FAILED quota: the pool (6 instances) was full when the version was tried, which
    crashes and interleaved runs can cause (instances of a replacement, of a launch not yet
    recorded, still counted). The issue's invariant asks RUNNING of placeable requests only;
    that such a failure stays final for the version once the extra instances are gone is
    reported as a gap, not modelled."""
    error = state.last_error
    return (
        state.state is RequestState.FAILED and error is not None and error.category.value == "quota"
    )


class _BeforeWrites:
    """The Compute fake with `hook` called before each of its writes (launch, terminate,
    retag): run B racing in at A's first write, or a crash."""

    WRITES = ("run_instances", "terminate", "set_expiry")

    def __init__(self, inner: FakeCompute, hook: Callable[[str], None]) -> None:
        self._inner = inner
        self._hook = hook

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name not in self.WRITES:
            return attr

        def write(*args: Any, **kwargs: Any) -> Any:
            self._hook(name)
            return attr(*args, **kwargs)

        return write


class ReconcileOnFakes(Reconcile):
    """The model on the in-memory fakes: fast, so many examples, and crashes anywhere."""

    def __init__(self) -> None:
        super().__init__()
        self.github = FakeGitHub(now=lambda: self.now, repository="acme/model", bot=APP_BOT)
        self.github.push("main", {"README.md": "model\n", "pools.yaml": POOLS}, "pat")

    def gh(self) -> GitHubPort:
        return self.github

    def merge_files(self, author: str, files: dict[str, str | None], approver: str = "") -> None:
        self.github.merged(author, files, approver)

    def fail_write(self, write: str, during: Callable[[], object]) -> None:
        self.github.failing = {FAKE_WRITES[write]}
        try:
            during()
        finally:
            self.github.failing = set()

    def bot_comments(self) -> list[tuple[int, str]]:
        return [
            (c.number, c.body.splitlines()[0]) for c in self.github.comments if c.author == APP_BOT
        ]

    @rule(writes=st.integers(0, 8))
    def crash_after_writes(self, writes: int) -> None:
        """The run's process dies after `writes` writes, GitHub's and EC2's counted together
        (0: before its first): what was written stays, nothing after it happens."""
        left = [writes]

        def before(name: str) -> None:
            if left[0] == 0:
                raise Crash(name)
            left[0] -= 1

        self.github.before_write = before
        try:
            self.run(compute=_BeforeWrites(self.compute, before))
        except Crash:
            pass
        finally:
            self.github.before_write = None


class ReconcileOverHTTP(Reconcile):
    """The model end to end: PyGithub over HTTP against the stand-in (one fresh repository
    per example), faults injected by the stand-in."""

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

    def gh(self) -> GitHubPort:
        return GitHub(self.world.settings())

    def merge_files(self, author: str, files: dict[str, str | None], approver: str = "") -> None:
        merged(self.world, author, files, approver)

    def fail_write(self, write: str, during: Callable[[], object]) -> None:
        self.world.sb.inject_fault("POST", write, status=502)
        try:
            during()
        finally:
            self.world.sb.clear_faults()

    def bot_comments(self) -> list[tuple[int, str]]:
        repo = self.world.repo("alice")
        return [
            (pull.number, c.body.splitlines()[0])
            for pull in repo.get_pulls(state="closed")
            for c in pull.get_issue_comments()
            if c.user.login == APP_BOT
        ]


def model_settings(examples: int, steps: int) -> settings:
    return settings(
        max_examples=examples,
        stateful_step_count=steps,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )


def test_the_reconcile_settles_to_what_main_asks() -> None:
    run_state_machine_as_test(ReconcileOnFakes, settings=model_settings(300, 25))


def test_the_reconcile_settles_end_to_end_over_http(world: World) -> None:
    ReconcileOverHTTP.world = world
    run_state_machine_as_test(ReconcileOverHTTP, settings=model_settings(4, 12))


_ = GitHubSandbox  # the stand-in behind `world`
