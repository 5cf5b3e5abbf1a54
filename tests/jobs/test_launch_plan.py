"""The launch run's plan is a pure function of what it read (`Views`): no server, no clock
but the one given. What a user sees: ends go first (so a swap within the quota launches),
`--max-actions` leaves the rest to the next run, `--dry-run` only says what it would do; and
the quota a run frees and takes as it applies the plan."""

from __future__ import annotations

from dataclasses import replace

from launcher.core.fleet import Fleet
from launcher.core.lifecycle import (
    Desired,
    Launch,
    Readd,
    Reason,
    Record,
    RequestState,
    Terminate,
)
from launcher.core.model import Policy
from launcher.core.quota import Usage, count_usage
from launcher.jobs.launch.placement import Ledger
from launcher.jobs.launch.plan import Views, plan_run
from tests.core.test_lifecycle import NOW, desired, fleet, record


def views(
    desired_: tuple[Desired, ...] = (),
    records: tuple[Record, ...] = (),
    fleets: tuple[Fleet, ...] = (),
) -> Views:
    instances = tuple(i for f in fleets for i in f.instances)
    return Views("main", "h1", Policy(), desired_, records, instances)


def swap() -> Views:
    """dev/old removed from main (running), dev/new added: one end, one launch."""
    new = replace(desired(), key="dev/new")
    old = replace(desired(), key="dev/old")
    running = record(old, RequestState.RUNNING, launch_commit="c1")
    return views((new,), (running,), (fleet("c1", key="dev/old"),))


def test_ends_come_before_launches() -> None:
    work = plan_run(swap(), NOW)
    assert [type(a) for a in work.planned] == [Launch, Terminate]  # by key: new, old
    assert [type(a) for a in work.apply] == [Terminate, Launch]
    [end] = [a for a in work.apply if isinstance(a, Terminate)]
    assert end.reason is Reason.REMOVED and end.key == "dev/old"


def test_max_actions_defers_the_rest_to_the_next_run() -> None:
    work = plan_run(swap(), NOW, max_actions=1)
    assert [a.key for a in work.apply] == ["dev/old"]
    assert [a.key for a in work.deferred] == ["dev/new"]


def test_a_dry_run_applies_nothing_and_says_what_it_would_do() -> None:
    work = plan_run(swap(), NOW, dry_run=True)
    assert work.apply == () and work.deferred == ()
    assert work.would[0].startswith("would terminate dev/old (removed): i-c10")
    assert work.would[1].startswith("would launch dev/new (version ")


def test_nothing_to_do_plans_nothing() -> None:
    d = desired()
    running = record(d, RequestState.RUNNING, launch_commit="c1")
    work = plan_run(views((d,), (running,), (fleet("c1"),)), NOW)
    assert work.planned == () and work.apply == ()


# --- the quota ledger a run keeps while it applies its plan -----------------------------------


def test_what_a_run_ends_frees_quota_once_and_what_it_launches_takes_it() -> None:
    running = [replace(i, vcpus=2) for i in fleet("c1", n=2).instances]
    stopped = replace(running[0], instance_id="i-stopped", state="stopped", vcpus=0)
    ledger = Ledger(count_usage([*running, stopped]))
    assert ledger.now()["dev"] == Usage(2, 4)
    ledger.free([running[0], running[0], stopped])  # twice, and a stopped one: counted once
    assert ledger.now()["dev"] == Usage(1, 2)
    ledger.add("dev", 3, 6)
    assert ledger.now()["dev"] == Usage(4, 8)


# --- what ends, and why ---------------------------------------------------------------------


def test_leftovers_of_a_request_still_on_main_end_as_leftovers_not_removals() -> None:
    """dev/web FAILED and stays on main; instances of a launch no record names (it stopped
    before recording) end. The plan says they are leftovers: no removal for the job to judge
    (the removal rule is for requests that left main), and a dry run says so."""
    d = desired()
    failed = record(d, RequestState.FAILED)
    stray = fleet("c0")
    work = plan_run(views((d,), (failed,), (stray,)), NOW)
    assert work.apply == (Terminate("dev/web", Reason.LEFTOVER, (), (stray,)),)
    rehearsal = plan_run(views((d,), (failed,), (stray,)), NOW, dry_run=True)
    assert rehearsal.would == ("would terminate dev/web (leftover): i-c00",)


def test_a_request_that_left_main_ends_as_removed() -> None:
    old = replace(desired(), key="dev/old")
    failed = record(old, RequestState.FAILED)
    stray = fleet("c0", key="dev/old")
    work = plan_run(views((), (failed,), (stray,)), NOW)
    assert work.apply == (Terminate("dev/old", Reason.REMOVED, (failed,), (stray,)),)


def test_a_request_that_came_back_ends_what_ran_and_is_asked_again() -> None:
    """dev/web ran from c1; it left main (absent at c2) and came back in c3 before any run saw
    it gone: what ran ends as a removal, judged at c2 (where the file was absent), and the file
    is a new ask (re-verified when it launches), not the version that ran. Should the removal
    not pass, it never took effect: the plan as if the file had stayed (here: nothing)."""
    d = replace(desired(), commit="c3", absent_at="c2")
    running = record(replace(d, commit="c1"), RequestState.RUNNING, launch_commit="c1")
    ran = fleet("c1")
    work = plan_run(views((d,), (running,), (ran,)), NOW)
    back = replace(d, absent_at="")
    assert work.apply == (
        Readd(
            "dev/web",
            d,
            ends=(Terminate("dev/web", Reason.REMOVED, (running,), (ran,), absent_at="c2"),),
            fresh=(Launch("dev/web", back),),
            kept=(),
        ),
    )
    rehearsal = plan_run(views((d,), (running,), (ran,)), NOW, dry_run=True).would
    assert rehearsal[0].startswith("would judge the removal of dev/web, which came back: if it")
    # with nothing left to end, it is simply a new ask
    ended = replace(running, state=RequestState.TERMINATED)
    assert plan_run(views((d,), (ended,), ()), NOW).apply == (Launch("dev/web", back),)
    # once a record of its return exists (its commit), it is planned as usual
    failed = record(d, RequestState.FAILED, deployment_id=2)
    assert plan_run(views((d,), (running, failed), (ran,)), NOW).apply == ()
