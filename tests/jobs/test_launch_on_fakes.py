"""`launcher launch` on the in-memory fakes (GitHub and Compute): cases the reconcile model
found, each kept as a plain test. A launch whose record could not be written leaves instances
no record names; the request is then removed and added back between two runs."""

from __future__ import annotations

import io
from datetime import datetime, timedelta

from launcher.core.lifecycle import RequestState
from launcher.core.record import EventKind
from launcher.core.status import RequestStatus
from launcher.jobs.launch import LaunchOptions, LaunchReport, run_launch
from launcher.jobs.status import gather
from launcher.testing.github import FakeGitHub
from tests.fakes import FakeCompute
from tests.jobs.conftest import APP_BOT
from tests.jobs.test_launch import AMI, NOW, POOLS, request

WEB = "deployments/dev/web.yaml"


class Repo:
    def __init__(self) -> None:
        self.now: datetime = NOW
        self.gh = FakeGitHub(now=lambda: self.now, bot=APP_BOT)
        self.gh.push("main", {"pools.yaml": POOLS}, "pat")
        self.ec2 = FakeCompute(now=lambda: self.now, images={AMI: "x86_64"})

    def launch(self, *, failing: frozenset[str] = frozenset()) -> LaunchReport:
        self.gh.failing = set(failing)
        try:
            return run_launch(self.gh, self.ec2, LaunchOptions(now=self.now), io.StringIO())
        finally:
            self.gh.failing = set()

    def state(self, key: str = "dev/web") -> RequestState:
        report = self.launch()
        assert report.planned == [] and report.errors == [], (report.planned, report.errors)
        return [r for r in report.records if r.key == key][-1].state

    def instances(self) -> list[tuple[str, str]]:
        return sorted((i.commit, i.instance_id) for i in self.ec2.running("dev/web"))

    def status(self, key: str = "dev/web") -> RequestStatus:
        """The request's row in `launcher status`."""
        overview = gather(self.gh, self.ec2, self.now).overview  # type: ignore[arg-type]
        [row] = [r for r in overview.requests if r.key == key]
        return row


def test_a_failed_request_readded_identically_with_approval_launches() -> None:
    """bob's request FAILED (merged without approval); alice's edit launched but was never
    recorded; the request was removed, then bob's same content came back approved."""
    repo = Repo()
    repo.gh.merged("bob", {WEB: request(count=2)})
    repo.launch()
    assert repo.state() is RequestState.FAILED
    repo.gh.merged("alice", {WEB: request(count=1)})
    report = repo.launch(failing=frozenset({"create_deployment"}))  # launched, unrecorded
    assert report.errors and len(repo.instances()) == 1
    repo.gh.merged("alice", {WEB: None})
    repo.launch()
    assert repo.instances() == []
    repo.gh.merged("bob", {WEB: request(count=2)}, approver="dave")
    repo.launch()
    assert repo.state() is RequestState.RUNNING
    assert len(repo.instances()) == 2


def test_an_unrecorded_launch_is_ended_when_the_next_version_fails() -> None:
    """alice's request runs (2 instances); her edit to 1 launched but was never recorded; bob
    reworded that 1-instance version without the approval he needs, before the next run. The
    failed replacement leaves alice's 2 running; the unrecorded one ends. (The model found it
    with the request removed and added back: that removal, alice's own, now ends everything:
    `test_a_removed_request_readded_identically_without_approval_fails`.)"""
    repo = Repo()
    repo.gh.merged("alice", {WEB: request(count=2)})
    repo.launch()
    running = repo.instances()
    assert len(running) == 2
    repo.gh.merged("alice", {WEB: request(count=1)})
    repo.launch(failing=frozenset({"create_deployment"}))
    assert len(repo.instances()) == 3
    reworded = request(count=1).replace("description: test", "description: bob's")
    repo.gh.merged("bob", {WEB: reworded})
    repo.launch()  # FAILED: not approved
    repo.launch()  # the instances of no record end
    assert repo.state() is RequestState.FAILED
    assert repo.instances() == running


def test_a_failed_content_brought_back_through_an_approved_pull_request_launches() -> None:
    """bob's 1-instance request FAILED (merged without approval); dave approved his change
    to 2, but before any run alice (who may launch alone) set it back to bob's exact content:
    the file's last change is now alice's, so it launches, though its blob was recorded as
    failed."""
    repo = Repo()
    repo.gh.merged("bob", {WEB: request(count=1)})
    repo.launch()
    assert repo.state() is RequestState.FAILED
    repo.gh.merged("bob", {WEB: request(count=2)}, approver="dave")
    repo.gh.merged("alice", {WEB: request(count=1)})
    repo.launch()
    assert repo.state() is RequestState.RUNNING
    assert len(repo.instances()) == 1


def test_an_expired_request_ends_an_unrecorded_launch_in_the_same_run() -> None:
    """alice's request with an 8h max_runtime runs; her edit to 2 instances launched but was
    never recorded, and she set it back to 1 before the next run. Once the 8h pass, the run
    that expires the recorded instances ends the unrecorded ones too: the next run has
    nothing left to do (it used to take one more run, so the jobs did not settle)."""
    repo = Repo()
    repo.gh.merged("alice", {WEB: request(count=1, max_runtime="8h")})
    repo.launch()
    first = repo.instances()
    assert len(first) == 1
    repo.gh.merged("alice", {WEB: request(count=2, max_runtime="8h")})
    repo.launch(failing=frozenset({"create_deployment"}))  # launched, unrecorded
    assert len(repo.instances()) == 3
    repo.gh.merged("alice", {WEB: request(count=1, max_runtime="8h")})
    repo.now += timedelta(hours=9)
    report = repo.launch()
    assert report.errors == [], report.errors
    assert repo.instances() == []
    assert repo.state() is RequestState.EXPIRED


def test_a_removed_request_readded_identically_without_approval_fails() -> None:
    """alice's request runs; she removes it (her own: the removal passes) and, before any run,
    bob adds the same content back without the approval he needs. The removal should end
    alice's instances and bob's file be FAILED not_approved."""
    repo = Repo()
    repo.gh.merged("alice", {WEB: request(count=1)})
    repo.launch()
    assert len(repo.instances()) == 1
    repo.gh.merged("alice", {WEB: None})
    repo.gh.merged("bob", {WEB: request(count=1)})
    repo.launch()
    assert repo.state() is RequestState.FAILED
    assert repo.instances() == []


def test_a_removal_approved_but_not_yet_applied_leaves_bob_the_requester() -> None:
    """bob's approved request runs; dave approves alice's removal of it, but before any run
    alice adds it back (2 instances) and removes it again without approval. No run ended
    bob's record, so the recorded requester is still bob: the second removal is refused
    (not_approved) and bob's instance keeps running (issue 18's removal rule)."""
    repo = Repo()
    repo.gh.merged("bob", {WEB: request(count=1)}, approver="dave")
    repo.launch()
    running = repo.instances()
    assert len(running) == 1
    repo.gh.merged("alice", {WEB: None}, approver="dave")
    repo.gh.merged("alice", {WEB: request(count=2)})
    repo.gh.merged("alice", {WEB: None})
    report = repo.launch()
    assert [(key, e.category.value) for key, e in report.failed] == [("dev/web", "not_approved")]
    assert "requester (@bob)" in report.failed[0][1].message
    assert repo.instances() == running


def test_a_retag_never_recorded_is_undone_when_main_returns_to_the_record() -> None:
    """alice's request runs with an 8h max_runtime; her edit dropping it was retagged to the
    pool's cap but the record was never written, and she set 8h back before the next run.
    The record shows 8h from launch: the instances' expiry follows it again."""
    repo = Repo()
    repo.gh.merged("alice", {WEB: request(count=1, max_runtime="8h")})
    repo.launch()
    repo.gh.merged("alice", {WEB: request(count=1)})
    repo.launch(failing=frozenset({"create_deployment"}))  # retagged, unrecorded
    repo.gh.merged("alice", {WEB: request(count=1, max_runtime="8h")})
    repo.launch()
    report = repo.launch()
    [record] = [r for r in report.records if r.state is RequestState.RUNNING]
    assert record.expires_at == NOW + timedelta(hours=8)
    assert {i.expires_at for i in repo.ec2.running("dev/web")} == {record.expires_at}


def test_main_back_to_the_running_version_after_a_failed_replacement_shows_running() -> None:
    """alice's request runs; bob's edit to 2 instances reached main without the approval he
    needs (FAILED not_approved: alice's instance keeps running); alice sets her content back.
    `launcher status` shows what runs, RUNNING, with bob's failure in the request's history
    and named in its detail (it showed FAILED, though nothing had failed for main's file)."""
    repo = Repo()
    repo.gh.merged("alice", {WEB: request(count=1)})
    repo.launch()
    running = repo.instances()
    repo.gh.merged("bob", {WEB: request(count=2)})
    repo.launch()
    assert repo.state() is RequestState.FAILED
    assert repo.status().state is RequestState.FAILED  # what main asks for failed
    repo.gh.merged("alice", {WEB: request(count=1)})
    assert repo.launch().planned == []
    assert repo.instances() == running
    row = repo.status()
    assert row.state is RequestState.RUNNING and row.instances == 1
    assert row.last_error is None and "a later version failed (not_approved: " in row.note
    assert [e.kind for e in row.history if e.kind is EventKind.FAILED] == [EventKind.FAILED]


def test_a_request_removed_without_a_valid_verdict_and_added_back_runs_on() -> None:
    """bob's approved request runs; alice (not its requester, not an approver) removes it
    without approval and, before any run, adds the same content back. The removal never took
    effect (the removal rule refuses it), so nothing ends, nothing is reported, and bob's
    instance runs on as the request main holds."""
    repo = Repo()
    repo.gh.merged("bob", {WEB: request(count=1)}, approver="dave")
    repo.launch()
    running = repo.instances()
    repo.gh.merged("alice", {WEB: None})
    repo.gh.merged("alice", {WEB: request(count=1)})
    report = repo.launch()
    assert report.failed == [] and report.errors == [], (report.failed, report.errors)
    assert repo.instances() == running
    assert repo.status().state is RequestState.RUNNING
