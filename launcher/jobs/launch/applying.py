"""Applying the plan: each action (launch, replace, schedule, retag, complete, terminate), one
request's failure never stopping the others.

Each step is a function of its action and the run's collaborators (`Act`): the views read at
the start, the lookups made on demand, the provider, the placer and its ledger of usage, the
recorder and the notifier. Everywhere the comment comes before the record: a run that stops in
between repeats the action, whose comment is found again by its marker; a record never hides
a missing comment.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from launcher.adapters.github import GitHubError
from launcher.core.compute import Compute, ComputeError
from launcher.core.fleet import Fleet, by_location
from launcher.core.gate_report import untrusted
from launcher.core.lifecycle import (
    LIVE,
    Action,
    Complete,
    Desired,
    LastError,
    Launch,
    Readd,
    Reason,
    Record,
    Replace,
    RequestState,
    Retag,
    Schedule,
    Terminate,
    expires_at,
)
from launcher.core.matching import location_of
from launcher.core.record import Event, EventKind, GroupRecord, Kind, PlacementRecord
from launcher.core.runtime_cap import cap_expiry
from launcher.core.text import plural
from launcher.core.times import utc_iso
from launcher.jobs import backstops
from launcher.jobs.launch.approval import check_approval
from launcher.jobs.launch.common import Approval, LaunchReport, Refused, Transient
from launcher.jobs.launch.notifying import Notifier, running_text
from launcher.jobs.launch.placement import Ledger, Placer, started
from launcher.jobs.launch.plan import Views
from launcher.jobs.launch.rechecks import removal_allowed
from launcher.jobs.launch.recording import Recorder, payload, placement_record
from launcher.jobs.launch.views import Lookups


@dataclass(frozen=True)
class Act:
    """What the steps act with. Nothing here is the run's mutable state but the ledger (usage
    as the run changes it) and the report (what the run did)."""

    now: datetime
    as_of: bool  # `now` was given (a rehearsal or an in-process test), not read from the clock
    views: Views
    lookups: Lookups
    ec2: Compute
    ledger: Ledger
    placer: Placer
    recorder: Recorder
    notifier: Notifier
    report: LaunchReport
    seen: str = ""  # the head its records say this run read (Views.seen)


def apply(act: Act, actions: Iterable[Action]) -> None:
    """Carry out each action; an error is the action's, reported, and the next one runs."""
    for action in actions:
        try:
            _act(act, action)
        except Transient as exc:
            act.report.errors.append(f"{action.key}: {exc}")
        except (GitHubError, ComputeError) as exc:
            act.report.errors.append(f"{action.key}: {action.name}: {exc}")


def _act(act: Act, action: Action) -> None:
    if isinstance(action, Launch):  # Replace included
        launch(act, action)
    elif isinstance(action, Schedule):
        schedule(act, action)
    elif isinstance(action, Retag):
        retag(act, action)
    elif isinstance(action, Terminate):
        terminate(act, action)
    elif isinstance(action, Complete):
        complete(act, action)
    elif isinstance(action, Readd):
        readd(act, action)


# launch -------------------------------------------------------------------------------------


def launch(act: Act, action: Launch) -> None:
    d = action.desired
    try:
        approval = check_approval(act.lookups, d)
    except Refused as refused:
        fail(act, d, action.record, refused.error, None, refused.events)
        return
    try:
        request = act.lookups.request(d)
        placed = act.placer.place(action, request, approval)
    except Refused as refused:
        fail(act, d, action.record, refused.error, approval, refused.events)
        return
    placement, ids = placed.placement, placed.ids
    pool = act.views.policy.pools[request.pool]
    launched_at = started(act.now, act.as_of, placed.launched_at)
    until = expires_at(launched_at, request.max_runtime, pool.max_runtime)
    # the expiry after launch, from LaunchTime: never a parameter of the launch call
    all_ids = placed.instance_ids
    act.ec2.set_expiry(location_of(placement.provider), [*all_ids, *placed.volume_ids], until)
    _backstop(
        act,
        d.key,
        lambda: backstops.after_launch(
            act.ec2, placement.provider, d.key, d.commit, all_ids, until, act.now
        ),
    )
    where = f"{placement.provider.name} ({placement.region})"
    record = payload(
        d,
        Kind.LAUNCH,
        approval,
        launched_at,
        until,
        action.attempt,
        seen=act.seen,
        launch_commit=d.commit,
        placement=placement_record(placement, ids),
        instance_ids=tuple(all_ids),
        events=(
            Event(EventKind.LAUNCHED, launched_at, "", d.commit, f"{len(all_ids)} on {where}"),
        ),
    )
    # The comment first, the record last: a run that stops in between is finished by the
    # next (Complete), whose comment is the same one (found by its marker).
    act.notifier.comment(approval, d, "running", running_text(placement, ids, until))
    deployment = act.recorder.create(d.commit, d.key, record, f"launch {d.key}")
    count = len(all_ids)
    launching = f"launching {count} instances on {where}"
    act.recorder.launching(deployment, launching)
    running = act.recorder.running(
        deployment,
        d.key,
        f"{plural(count, 'instance')} on {where}",
        placement.region,
        until,
        current=("in_progress", launching),
    )
    act.report.done.append(f"launched {d.key}: {running}")
    if action.record is not None:
        act.recorder.inactive(action.record, f"launched as deployment {deployment}")
    if isinstance(action, Replace):
        _end_old(act, action.old, action.old_records, d)


def _end_old(act: Act, fleets: Iterable[Fleet], records: Iterable[Record], d: Desired) -> None:
    """After a replacement runs: terminate the old instances, mark old records inactive."""
    terminate_fleets(act, fleets)
    for record in records:
        act.recorder.inactive(record, f"replaced by version {d.version.id}")


# schedule, retag, complete --------------------------------------------------------------------


def schedule(act: Act, action: Schedule) -> None:
    d = action.desired
    try:
        approval = check_approval(act.lookups, d)
        act.lookups.request(d)
    except Refused as refused:
        fail(act, d, None, refused.error, None, refused.events)
        return
    when = utc_iso(d.launch_at) if d.launch_at else "now"
    scheduled = Event(EventKind.SCHEDULED, act.now, "", d.commit, f"launches at {when}")
    record = payload(
        d,
        Kind.SCHEDULE,
        approval,
        None,
        None,
        action.attempt,
        events=(scheduled,),
        seen=act.seen,
    )
    act.notifier.comment(
        approval, d, "scheduled", f"is approved and scheduled to launch at {when}."
    )
    deployment = act.recorder.create(d.commit, d.key, record, f"schedule {d.key}")
    act.recorder.queued(deployment, f"scheduled: launches at {when}")
    if action.supersedes is not None:
        act.recorder.inactive(action.supersedes, f"rescheduled as deployment {deployment}")
    act.report.done.append(f"scheduled {d.key} for {when}")


def retag(act: Act, action: Retag) -> None:
    d, running = action.desired, action.running
    try:
        approval = check_approval(act.lookups, d)
    except Refused as refused:
        fail(act, d, None, refused.error, None, refused.events)
        return
    # a record never extends a run past its pool's max_runtime (launcher.core.runtime_cap)
    pool = act.views.policy.pools.get(d.key.split("/", 1)[0])
    fleet_start = action.fleet.launched_at if action.fleet is not None else None
    until = cap_expiry(
        action.expires_at,
        (running.launched_at, fleet_start),
        pool.max_runtime if pool else None,
    )
    value = utc_iso(until) if until else ""
    if action.fleet is not None:  # the backstop first: never earlier than the record says
        act.report.done.extend(
            backstops.for_fleet(act.ec2, act.views.policy, action.fleet, until, act.now)
        )
        for location, here in by_location(action.fleet.instances).items():
            ids = [r for i in here for r in (i.instance_id, *i.volume_ids)]
            act.ec2.set_expiry(location, ids, until)
    record = payload(
        d,
        Kind.LAUNCH,
        approval,
        running.launched_at,
        until,
        0,
        seen=act.seen,
        launch_commit=running.launch_commit or running.commit,
        placement=running.placement,
        instance_ids=running.instance_ids,
    )
    act.notifier.comment(
        approval,
        d,
        "retagged",
        f"keeps its instances; its max_runtime changed, so it now expires at "
        f"{value or 'no set time'}.",
    )
    deployment = act.recorder.create(d.commit, d.key, record, f"retag {d.key}")
    text = f"running; max_runtime changed: expires {value or 'never'}"
    act.recorder.retagged(
        deployment, text, running.placement.region if running.placement else "", d.key
    )
    act.recorder.inactive(running, f"max_runtime changed: see deployment {deployment}")
    act.report.done.append(f"retagged {d.key}: expires {value or 'never'}")


def complete(act: Act, action: Complete) -> None:
    """Record instances a crashed run launched, if they are the whole request; otherwise
    end them and launch again with fresh client tokens."""
    d, fleet = action.desired, action.fleet
    try:
        approval = check_approval(act.lookups, d)
        request = act.lookups.request(d)
    except Refused as refused:
        terminate_fleets(act, [fleet])
        fail(act, d, action.record, refused.error, None, refused.events)
        return
    wanted = {g.name: g.count for g in request.instances}
    attempt = action.record.attempt if action.record else 0
    if fleet.counts() != wanted:
        terminate_fleets(act, [fleet])
        launch(act, Launch(d.key, d, attempt + 1, action.record))
        return
    first = fleet.instances[0]
    launched_at = started(act.now, act.as_of, fleet.launched_at)
    until = fleet.expires_at
    if until is None:  # stopped before the expiry was written: written now, from LaunchTime
        pool = act.views.policy.pools[request.pool]
        until = expires_at(launched_at, request.max_runtime, pool.max_runtime)
        if until is not None:
            for location, here in by_location(fleet.instances).items():
                ids_here = [r for i in here for r in (i.instance_id, *i.volume_ids)]
                act.ec2.set_expiry(location, ids_here, until)
    _backstop(
        act, d.key, lambda: backstops.for_fleet(act.ec2, act.views.policy, fleet, until, act.now)
    )
    placement = PlacementRecord(
        region=first.region,
        role_arn=first.role_arn,
        groups=tuple(
            GroupRecord(
                name=name,
                instance_type=next(i.instance_type for i in fleet.instances if i.group == name),
                count=wanted[name],
                instance_ids=tuple(i.instance_id for i in fleet.instances if i.group == name),
            )
            for name in sorted(wanted)
        ),
    )
    record = payload(
        d,
        Kind.LAUNCH,
        approval,
        launched_at,
        until,
        attempt,
        seen=act.seen,
        launch_commit=fleet.commit,
        placement=placement,
        instance_ids=fleet.instance_ids,
        events=(
            Event(
                EventKind.LAUNCHED,
                launched_at,
                "",
                fleet.commit,
                f"{len(fleet.instances)} in {first.region} (recorded by a later run)",
            ),
        ),
    )
    ids = ", ".join(fleet.instance_ids)
    act.notifier.comment(approval, d, "running", f"is running: instances {ids} in {first.region}.")
    deployment = act.recorder.create(d.commit, d.key, record, f"launch {d.key}")
    if action.record is not None:
        act.recorder.inactive(action.record, f"launched as deployment {deployment}")
    running = act.recorder.running(
        deployment,
        d.key,
        f"{plural(len(fleet.instances), 'instance')} in {first.region}",
        first.region,
        until,
    )
    act.report.done.append(f"recorded {d.key} (launched by an earlier run): {running}")
    if action.old or action.old_records:  # a replacement that stopped before its end
        _end_old(act, action.old, action.old_records, d)


# terminate ----------------------------------------------------------------------------------


def readd(act: Act, action: Readd) -> None:
    """A request that came back: its removal judged first; then either what ran ends and the
    file is a new ask, or (refused) the plan as if it had stayed."""
    judged = [t for t in action.ends if _judged(t)]
    passes = all(
        removal_allowed(
            act.lookups,
            act.views.policy,
            act.report,
            t,
            [i for f in t.fleets for i in f.instance_ids],
            tell=False,
        )
        for t in judged
    )
    if passes:
        for end in action.ends:
            terminate(act, end, judged=True)
    for then in action.fresh if passes else action.kept:
        _act(act, then)


def _judged(action: Terminate) -> bool:
    """A removal that ends something: the removal rule decides it."""
    return action.reason is Reason.REMOVED and (
        any(f.instance_ids for f in action.fleets) or any(r.state in LIVE for r in action.records)
    )


def terminate(act: Act, action: Terminate, *, judged: bool = False) -> None:
    ids = [i for f in action.fleets for i in f.instance_ids]
    branch = act.views.branch
    if not judged and _judged(action):
        if not removal_allowed(
            act.lookups, act.views.policy, act.report, action, ids
        ):  # kept until its expiry; the requester and approvers were told
            return
    text = {
        Reason.REMOVED: f"terminated: removed from {branch}",
        Reason.EXPIRED: "expired: max_runtime reached",
        Reason.REPLACED: "terminated: replaced by a newer version",
        Reason.LEFTOVER: "terminated: no record keeps them",
    }[action.reason]
    if not ids and action.reason is Reason.EXPIRED:  # the expiry backstop ended them first
        ids = [i for r in action.records for i in r.instance_ids]
    shown = ", ".join(ids) if ids else "no instances"
    if action.reason in (Reason.REMOVED, Reason.EXPIRED):
        # the comments first: once the instances are gone, nothing would repeat them
        for record in action.records:
            if record.pr:
                outcome = "expired" if action.reason is Reason.EXPIRED else "terminated"
                sentence = (
                    "reached its max_runtime"
                    if action.reason is Reason.EXPIRED
                    else f"was removed from {branch}"
                )
                act.notifier.post(record.pr, record, outcome, f"{sentence}; terminated {shown}.")
    terminate_fleets(act, action.fleets)
    for record in action.records:
        act.recorder.inactive(record, text)
    act.report.done.append(f"{action.reason.value} {action.key}: {shown}")
    if action.reason is Reason.REMOVED and action.records:
        act.recorder.ended(action.records[-1], text, act.now, act.views.head, act.seen)


def terminate_fleets(act: Act, fleets: Iterable[Fleet]) -> None:
    """Terminate, and stop counting the instances against their pool's quota in this run;
    then drop their expiry backstops."""
    fleets = list(fleets)
    for location, ended in by_location(i for f in fleets for i in f.instances).items():
        act.ec2.terminate(location, [i.instance_id for i in ended])
        act.ledger.free(ended)
    _backstop(
        act,
        fleets[0].key if fleets else "",
        lambda: backstops.drop(act.ec2, fleets),
        backstops.NOT_DROPPED,
    )


def _backstop(
    act: Act, key: str, change: Callable[[], list[str]], failed: str = backstops.NOT_SET
) -> None:
    """Set or drop an expiry backstop (launcher.jobs.backstops): what changed goes in the
    report; a failure is reported (the run exits 1) and never undoes the launch or the end it
    follows."""
    try:
        act.report.done.extend(change())
    except ComputeError as exc:
        act.report.errors.append(f"{key}: {failed}: {exc}")


# failing ------------------------------------------------------------------------------------


def fail(
    act: Act,
    d: Desired,
    record: Record | None,
    error: LastError,
    approval: Approval | None,
    events: tuple[Event, ...] = (),
) -> None:
    """FAILED: always a new `failure` record (its category a field), so the state is read
    from the list; a SCHEDULED record it replaces is marked inactive."""
    failure = payload(
        d,
        Kind.FAILURE,
        approval,
        None,
        None,
        record.attempt if record else 0,
        seen=act.seen,
        failure=error,
        events=(*events, Event(EventKind.FAILED, act.now, "", d.commit, error.describe())),
    )
    pr = approval.pr if approval else act.lookups.known_pull(d.path)
    if pr is not None:  # the comment first: the record must never hide a missing one
        body = f"could not launch: **{error.category.value}**: {untrusted(error.message)}"
        asked = Approval(pr, pr.author, approval.approved_by if approval else ())
        act.notifier.comment(asked, d, "failed", body)
    deployment = act.recorder.create(d.commit, d.key, failure, f"failed {d.key}")
    if record is not None and record.state in LIVE - {RequestState.RUNNING}:
        act.recorder.inactive(record, f"failed: see deployment {deployment}")
    act.recorder.failed(deployment, error)
    act.report.failed.append((d.key, error))
