"""Applying the plan: each action (launch, replace, schedule, retag, complete, terminate)
within the run's budget, one request's failure never stopping the others."""

from __future__ import annotations

from collections.abc import Iterable

from launcher.adapters.ec2 import EXPIRES_TAG
from launcher.adapters.github import GitHubError
from launcher.core.compute import ComputeError
from launcher.core.fleet import Fleet, FleetInstance, by_location
from launcher.core.lifecycle import (
    LIVE,
    Action,
    Complete,
    Desired,
    Launch,
    Orphan,
    Reason,
    Record,
    Replace,
    Retag,
    Schedule,
    Terminate,
    expires_at,
)
from launcher.core.matching import location_of
from launcher.core.quota import COUNTED_STATES, Usage
from launcher.core.record import Event, EventKind, GroupRecord, Kind, PlacementRecord
from launcher.core.text import plural
from launcher.core.times import utc_iso
from launcher.jobs.launch.common import TASK, Refused, Transient
from launcher.jobs.launch.notifying import _running_text
from launcher.jobs.launch.placement import _started
from launcher.jobs.launch.rechecks import removal_allowed
from launcher.jobs.launch.recording import _placement_record, _Recording


class _Applying(_Recording):
    """Each planned action carried out."""

    # --- acting ----------------------------------------------------------------

    def _execute(self, actions: list[Action]) -> None:
        budget = self.options.max_actions
        # Ends first (a stable sort keeps each request's own order): instances a run terminates
        # free their quota before anything is placed, so a swap within the quota launches.
        actions = sorted(actions, key=lambda a: 0 if isinstance(a, Terminate) else 1)
        for action in actions:
            if isinstance(action, Orphan):
                self.report.orphans.extend(action.fleets)
                continue
            if self.options.dry_run:
                self.report.done.append(f"would {_describe(action)}")
                continue
            if budget is not None and budget <= 0:
                self.report.deferred.append(action)
                continue
            if budget is not None:
                budget -= 1
            try:
                self._act(action)
            except Transient as exc:
                self.report.errors.append(f"{action.key}: {exc}")
            except (GitHubError, ComputeError) as exc:
                self.report.errors.append(f"{action.key}: {action.name}: {exc}")

    def _act(self, action: Action) -> None:
        if isinstance(action, Launch):  # Replace included
            self._launch(action)
        elif isinstance(action, Schedule):
            self._schedule(action)
        elif isinstance(action, Retag):
            self._retag(action)
        elif isinstance(action, Terminate):
            self._terminate(action)
        elif isinstance(action, Complete):
            self._complete(action)

    # launch -----------------------------------------------------------------------------------

    def _launch(self, action: Launch) -> None:
        d = action.desired
        try:
            approval = self._approval(d)
        except Refused as refused:
            self._fail(d, action.record, refused.error, None, refused.events)
            return
        try:
            request = self._request(d)
            placement, ids = self._run_groups(action, request, approval)
        except Refused as refused:
            self._fail(d, action.record, refused.error, approval, refused.events)
            return
        pool = self.policy.pools[request.pool]
        launched_at = _started(self.now, self._launched_at)
        until = expires_at(launched_at, request.max_runtime, pool.max_runtime)
        # the expiry tag after launch, from LaunchTime: never a RunInstances parameter
        all_ids = [i for group in ids.values() for i in group]
        self.ec2.retag(
            location_of(placement.provider),
            [*all_ids, *self._volumes],
            {EXPIRES_TAG: utc_iso(until) if until else ""},
        )
        payload = self._payload(
            d,
            Kind.LAUNCH,
            approval,
            launched_at,
            until,
            action.attempt,
            launch_commit=d.commit,
            placement=_placement_record(placement, ids),
            instance_ids=tuple(all_ids),
            events=(
                Event(
                    EventKind.LAUNCHED,
                    launched_at,
                    "",
                    d.commit,
                    f"{len(all_ids)} on {placement.provider.name} ({placement.region})",
                ),
            ),
        )
        # The comment first, the record last: a run that stops in between is finished by the
        # next (Complete), whose comment is the same one (found by its marker).
        self._comment(approval, d, "running", _running_text(request, placement, ids, until))
        deployment = self.gh.create_deployment(d.commit, d.key, payload, f"launch {d.key}", TASK)
        count = sum(len(v) for v in ids.values())
        where = f"{placement.provider.name} ({placement.region})"
        self.gh.set_deployment_status(
            deployment,
            "in_progress",
            f"launching {count} instances on {where}",
            log_url=self.options.log_url,
            current=None,
        )
        running = self._running(
            deployment,
            d.key,
            f"{plural(count, 'instance')} on {where}",
            placement.region,
            until,
            current=("in_progress", f"launching {count} instances on {where}"),
        )
        self.report.done.append(f"launched {d.key}: {running}")
        if action.record is not None:
            self._inactive(action.record, f"launched as deployment {deployment}")
        if isinstance(action, Replace):
            self._end_old(action.old, action.old_records, d)

    def _end_old(self, fleets: Iterable[Fleet], records: Iterable[Record], d: Desired) -> None:
        """After a replacement runs: terminate the old instances, mark old records inactive."""
        self._terminate_fleets(fleets)
        for record in records:
            self._inactive(record, f"replaced by version {d.version.id}")

    # schedule, retag, complete ------------------------------------------------------------------

    def _schedule(self, action: Schedule) -> None:
        d = action.desired
        try:
            approval = self._approval(d)
            self._request(d)
        except Refused as refused:
            self._fail(d, None, refused.error, None, refused.events)
            return
        when = utc_iso(d.launch_at) if d.launch_at else "now"
        scheduled = Event(EventKind.SCHEDULED, self.now, "", d.commit, f"launches at {when}")
        payload = self._payload(
            d, Kind.SCHEDULE, approval, None, None, action.attempt, events=(scheduled,)
        )
        # the comment before the record, as everywhere: a stop in between repeats the action,
        # whose comment is found by its marker; a record never hides a missing comment
        self._comment(approval, d, "scheduled", f"is approved and scheduled to launch at {when}.")
        deployment = self.gh.create_deployment(d.commit, d.key, payload, f"schedule {d.key}", TASK)
        self.gh.set_deployment_status(
            deployment, "queued", f"scheduled: launches at {when}", current=None
        )
        if action.supersedes is not None:
            self._inactive(action.supersedes, f"rescheduled as deployment {deployment}")
        self.report.done.append(f"scheduled {d.key} for {when}")

    def _retag(self, action: Retag) -> None:
        d, running = action.desired, action.running
        try:
            approval = self._approval(d)
        except Refused as refused:
            self._fail(d, None, refused.error, None, refused.events)
            return
        value = utc_iso(action.expires_at) if action.expires_at else ""
        if action.fleet is not None:
            for location, here in by_location(action.fleet.instances).items():
                ids = [r for i in here for r in (i.instance_id, *i.volume_ids)]
                self.ec2.retag(location, ids, {"launcher:expires-at": value})
        payload = self._payload(
            d,
            Kind.LAUNCH,
            approval,
            running.launched_at,
            action.expires_at,
            0,
            launch_commit=running.launch_commit or running.commit,
            placement=running.placement,
            instance_ids=running.instance_ids,
        )
        self._comment(
            approval,
            d,
            "retagged",
            f"keeps its instances; its max_runtime changed, so it now expires at "
            f"{value or 'no set time'}.",
        )
        deployment = self.gh.create_deployment(d.commit, d.key, payload, f"retag {d.key}", TASK)
        text = f"running; max_runtime changed: expires {value or 'never'}"
        self.gh.set_deployment_status(
            deployment,
            "success",
            text,
            log_url=self.options.log_url,
            environment_url=self.ec2.console_url(
                running.placement.region if running.placement else "", d.key
            ),
            current=None,
        )
        self._inactive(running, f"max_runtime changed: see deployment {deployment}")
        self.report.done.append(f"retagged {d.key}: expires {value or 'never'}")

    def _complete(self, action: Complete) -> None:
        """Record instances a crashed run launched, if they are the whole request; otherwise
        end them and launch again with fresh client tokens."""
        d, fleet = action.desired, action.fleet
        try:
            approval = self._approval(d)
            request = self._request(d)
        except Refused as refused:
            self._terminate_fleets([fleet])
            self._fail(d, action.record, refused.error, None, refused.events)
            return
        wanted = {g.name: g.count for g in request.instances}
        attempt = action.record.attempt if action.record else 0
        if fleet.counts() != wanted:
            self._terminate_fleets([fleet])
            self._launch(Launch(d.key, d, attempt + 1, action.record))
            return
        record = action.record
        first = fleet.instances[0]
        launched_at = _started(self.now, fleet.launched_at)
        until = fleet.expires_at
        if until is None:  # stopped before the expiry tag: written now, from LaunchTime
            pool = self.policy.pools[request.pool]
            until = expires_at(launched_at, request.max_runtime, pool.max_runtime)
            if until is not None:
                for location, here in by_location(fleet.instances).items():
                    ids_here = [r for i in here for r in (i.instance_id, *i.volume_ids)]
                    self.ec2.retag(location, ids_here, {EXPIRES_TAG: utc_iso(until)})
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
        payload = self._payload(
            d,
            Kind.LAUNCH,
            approval,
            launched_at,
            until,
            attempt,
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
        self._comment(approval, d, "running", f"is running: instances {ids} in {first.region}.")
        deployment = self.gh.create_deployment(d.commit, d.key, payload, f"launch {d.key}", TASK)
        if record is not None:
            self._inactive(record, f"launched as deployment {deployment}")
        running = self._running(
            deployment,
            d.key,
            f"{plural(len(fleet.instances), 'instance')} in {first.region}",
            first.region,
            until,
        )
        self.report.done.append(f"recorded {d.key} (launched by an earlier run): {running}")
        if action.old or action.old_records:  # a replacement that stopped before its end
            self._end_old(action.old, action.old_records, d)

    # terminate ------------------------------------------------------------------------------------

    def _terminate(self, action: Terminate) -> None:
        ids = [i for f in action.fleets for i in f.instance_ids]
        if action.reason is Reason.REMOVED and (
            ids or any(r.state in LIVE for r in action.records)
        ):
            if not removal_allowed(self, action, ids):
                return  # kept until its expiry; the requester and approvers were told
        text = {
            Reason.REMOVED: f"terminated: removed from {self.branch}",
            Reason.EXPIRED: "expired: max_runtime reached",
            Reason.REPLACED: "terminated: replaced by a newer version",
        }[action.reason]
        shown = ", ".join(ids) if ids else "no instances"
        if action.reason is not Reason.REPLACED:
            # the comments first: once the instances are gone, nothing would repeat them
            for record in action.records:
                if record.pr:
                    outcome = "expired" if action.reason is Reason.EXPIRED else "terminated"
                    sentence = (
                        "reached its max_runtime"
                        if action.reason is Reason.EXPIRED
                        else f"was removed from {self.branch}"
                    )
                    body = f"{sentence}; terminated {shown}."
                    self._post_comment(record.pr, record, outcome, body)
        self._terminate_fleets(action.fleets)
        for record in action.records:
            self._inactive(record, text)
        self.report.done.append(f"{action.reason.value} {action.key}: {shown}")
        if action.reason is Reason.REMOVED and action.records:
            self._record_ended(action.records[-1], text)

    def _terminate_fleets(self, fleets: Iterable[Fleet]) -> None:
        for location, ended in by_location(i for f in fleets for i in f.instances).items():
            self.ec2.terminate(location, [i.instance_id for i in ended])
            self._free(ended)

    def _free(self, ended: Iterable[FleetInstance]) -> None:
        """Terminated instances no longer count against their pool's quota in this run (each
        once: the run's usage was counted from the same fleet)."""
        for i in ended:
            if i.state in COUNTED_STATES and i.instance_id not in self._freed:
                self._freed.add(i.instance_id)
                used = self.usage.get(i.pool, Usage())
                self.usage[i.pool] = Usage(max(0, used.instances - 1), max(0, used.vcpus - i.vcpus))


def _describe(action: Action) -> str:
    if isinstance(action, Launch):
        d = action.desired
        verb = "replace" if isinstance(action, Replace) else "launch"
        return f"{verb} {d.key} (version {d.version.id}, commit {d.commit[:7]})"
    if isinstance(action, Schedule):
        when = utc_iso(action.desired.launch_at) if action.desired.launch_at else "now"
        return f"schedule {action.key} for {when}"
    if isinstance(action, Retag):
        when = utc_iso(action.expires_at) if action.expires_at else "never"
        return f"retag {action.key}: expires {when}"
    if isinstance(action, Terminate):
        ids = [i for f in action.fleets for i in f.instance_ids]
        return f"terminate {action.key} ({action.reason.value}): {', '.join(ids) or 'no instances'}"
    if isinstance(action, Complete):
        return f"record {action.key} as running: {', '.join(action.fleet.instance_ids)}"
    return f"{action.name} {action.key}"
