"""The launch job: reconcile the requests on the default branch with EC2 and with the record.

Each run reads three views (the default branch's tree, launcher's GitHub deployments, and
launcher-tagged EC2 instances), asks `launcher.core.lifecycle.plan` what is outstanding and
does it: launch (after re-checking the approval at launch time), schedule, retag, replace,
terminate, or finish what a crashed run started. It is a reconcile, not an event handler, so a
run dropped by the concurrency group is made up by the next one. One request's failure never
stops the others; the run exits 1 when any request failed or could not be handled.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

from launcher.adapters.ec2 import EXPIRES_TAG
from launcher.adapters.github import GitHub, GitHubError
from launcher.core.approvals import Review, latest_deciding
from launcher.core.compute import Compute, ComputeError, Launched, LaunchError, RunSpec
from launcher.core.deployments import LAUNCH_TASK, Deployment
from launcher.core.documents import load_policy, load_request, request_key
from launcher.core.fallback import MAX_ATTEMPTS, Exhausted, next_placement
from launcher.core.fleet import Fleet, FleetInstance, by_location, fleet_locations, fleets_of
from launcher.core.gate import POLICY_PATH, Decision, ItemKind, State
from launcher.core.gate_report import untrusted
from launcher.core.lifecycle import (
    LIVE,
    Action,
    Category,
    Complete,
    Desired,
    LastError,
    Launch,
    Orphan,
    Reason,
    Record,
    Replace,
    RequestState,
    Retag,
    Schedule,
    Terminate,
    expires_at,
    invalid_version,
    plan,
    version_of,
)
from launcher.core.matching import (
    Catalogues,
    GroupPlacement,
    Location,
    MatchResult,
    Placement,
    location_of,
)
from launcher.core.model import LaunchRequest, Policy
from launcher.core.pulls import Pull
from launcher.core.quota import COUNTED_STATES, DEPLOYMENT_TAG, POOL_TAG, Usage, count_usage
from launcher.core.reasons import ReasonKind, all_quota, kind_of
from launcher.core.record import (
    Event,
    EventKind,
    GroupRecord,
    Inferred,
    Kind,
    PlacementRecord,
    RequestRecord,
    encode,
    infer,
)
from launcher.core.runtime_cap import cap_expiry, cap_runtime, capped_record
from launcher.core.text import clip, plural
from launcher.core.times import utc_iso
from launcher.jobs.comments import comment_once

TASK = LAUNCH_TASK  # the deployments' task: launcher lists only its own
COMMENT_MARKER = "<!-- launcher:launch {key} {version} {outcome} -->"


class Refused(Exception):
    """The request cannot launch: recorded as FAILED with this category."""

    def __init__(self, category: Category, message: str, events: tuple[Event, ...] = ()) -> None:
        super().__init__(message)
        self.error = LastError(category, message)
        self.events = events  # the decisions behind it (a rejecting review: who, why)


class Transient(Exception):
    """Could not decide or act now (an API error, an unreadable team): not recorded; the next
    run tries again."""


@dataclass
class LaunchOptions:
    # None (every real run): the clock, and expiries from EC2's LaunchTime. A time here is an
    # "as of" time: `--now` with `--dry-run`, or an in-process test.
    now: datetime | None = None
    dry_run: bool = False
    retry: tuple[str, ...] = ()  # request keys whose FAILED version to try again
    max_actions: int | None = None  # actions executed per run; the rest wait
    log_url: str | None = None  # the workflow run, linked from deployment statuses


@dataclass
class LaunchReport:
    planned: list[Action] = field(default_factory=list)
    done: list[str] = field(default_factory=list)  # what changed, one line each
    failed: list[tuple[str, LastError]] = field(default_factory=list)  # FAILED in this run
    errors: list[str] = field(default_factory=list)  # not handled; retried next run
    deferred: list[Action] = field(default_factory=list)  # beyond max_actions
    orphans: list[Fleet] = field(default_factory=list)
    records: list[Record] = field(default_factory=list)  # as read at the start
    blocked: str | None = None  # control files not trusted: nothing done (jobs/anchor)

    @property
    def exit_code(self) -> int:
        return 1 if self.failed or self.errors or self.blocked else 0

    def summary(self) -> str:
        lines = ["## launcher launch", ""]
        if self.blocked:
            lines.append(f"- **{self.blocked}**: nothing launched or terminated")
        lines += [f"- {line}" for line in self.done] or ["- nothing to do"]
        for key, error in self.failed:
            lines.append(f"- **{key}** failed: {error.describe()}")
        for problem in self.errors:
            lines.append(f"- error (retried next run): {problem}")
        for action in self.deferred:
            lines.append(f"- deferred to the next run: {action.name} {action.key}")
        for fleet in self.orphans:
            ids = ", ".join(fleet.instance_ids)
            lines.append(f"- orphan instances of {fleet.key} (no record): {ids}")
        return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Approval:
    pr: Pull
    requested_by: str
    approved_by: tuple[str, ...]
    events: tuple[Event, ...] = ()  # each counted approval: who, on which commit, its text


def run_launch(
    gh: GitHub, ec2: Compute, options: LaunchOptions, out: TextIO = sys.stdout
) -> LaunchReport:
    """One reconcile. The sweep calls this with its `now` to launch due SCHEDULED requests
    and terminate expired ones (both are part of the plan)."""
    report = LaunchReport()
    try:
        _Run(gh, ec2, options, report, out).run()
    except (GitHubError, ComputeError, Transient) as exc:
        report.errors.append(str(exc))  # nothing could be planned: fail closed, act on nothing
    for line in report.done:
        out.write(f"{line}\n")
    for key, error in report.failed:
        out.write(f"::error::{key}: {error.describe()}\n")
    for problem in report.errors:
        out.write(f"::error::{clip(problem, 1000)}\n")
    if report.blocked:
        out.write(f"::error::{clip(report.blocked, 1000)}\n")
    if not options.dry_run:
        gh.settings.append_summary(report.summary())
    return report


def git_blob_sha(content: bytes) -> str:
    """Git's object id of a blob, to compare a pull request's file with main's without
    reading main's."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content, usedforsecurity=False).hexdigest()


def client_token(
    key: str, version: str, commit: str, placement: Placement, group: GroupPlacement, n: int
) -> str:
    """Same request, version, asking commit, placement, group and attempt -> same token (≤ 64
    characters): EC2 returns the first call's instances to a retried call instead of
    launching more. Nothing else goes in, and nothing in the call depends on anything else
    (no clock), so two runs racing send identical calls."""
    parts = [key, version, commit, placement.provider.name, placement.region, group.group]
    parts += [group.instance_type, group.zone or "", str(n)]
    return "launcher-" + hashlib.sha256("\n".join(parts).encode()).hexdigest()[:40]


class _Run:
    def __init__(
        self, gh: GitHub, ec2: Compute, options: LaunchOptions, report: LaunchReport, out: TextIO
    ) -> None:
        self.gh, self.ec2, self.options, self.report, self.out = gh, ec2, options, report, out
        self.now = options.now or datetime.now(UTC)
        self.as_of = options.now is not None  # runtimes start at LaunchTime unless rehearsing
        self.branch = ""
        self.head = ""
        self.files: dict[str, str] = {}
        self.policy = Policy()
        self.records: list[Record] = []
        self.requests: dict[str, LaunchRequest] = {}
        self.fleet: list[FleetInstance] = []
        self.usage: dict[str, Usage] = {}
        self._catalogues: Catalogues | None = None
        self._provenance: dict[str, tuple[str, Pull | None]] = {}
        self._decisions: dict[int, Decision] = {}
        self._freed: set[str] = set()  # instance ids terminated (and uncounted) in this run
        self._reviews: dict[int, list[Review]] = {}
        self._launched_at: datetime | None = None  # LaunchTime of the last _run_groups
        self._volumes: tuple[str, ...] = ()

    # --- reading the three views ----------------------------------------------------------------

    def run(self) -> None:
        self.branch, self.head = self.gh.default_head()
        self.files = self.gh.tree(self.head)
        policy_blob = self.files.get(POLICY_PATH)
        policy = load_policy(self.gh.blob(policy_blob))[0] if policy_blob else None
        if policy is None:
            raise Transient(f"{POLICY_PATH} on {self.branch} is missing or invalid: no action")
        self.policy = policy
        listed = self.gh.deployments(TASK)
        if self._blocked(listed):
            return
        desired = self._desired(listed)
        self.fleet = self.ec2.fleet(fleet_locations(policy, listed))
        self.records = self._records(listed)
        self.report.records = list(self.records)
        self.usage = count_usage(self.fleet)
        fleets = fleets_of(i for i in self.fleet if i.key)
        actions = plan(desired, self.records, fleets, self.now, retry=self.options.retry)
        self.report.planned = actions
        self._execute(actions)

    def _blocked(self, listed: list[Deployment]) -> bool:
        """The trust anchor (launcher.jobs.anchor): main's files outside deployments/ must have
        arrived through admin-approved pull requests, or the run does nothing."""
        from launcher.jobs.anchor import AnchorError, check_anchor

        try:
            check = check_anchor(
                self.gh,
                TASK,
                self.branch,
                self.head,
                self.files,
                listed,
                self.gh.settings.trusted_commit,
                dry_run=self.options.dry_run,
            )
        except AnchorError as exc:
            raise Transient(str(exc)) from exc
        self.report.done.extend(check.recorded)
        self.report.blocked = check.blocked
        return check.blocked is not None

    def _desired(self, listed: list[Deployment]) -> list[Desired]:
        """The requests on the default branch. A file whose blob a deployment recorded costs
        no read; a new or changed one is read and its provenance looked up."""
        by_blob: dict[tuple[str, str], Deployment] = {}
        for d in reversed(listed):  # oldest first: the newest wins
            if d.request_key and d.blob:
                by_blob[(d.request_key, d.blob)] = d
        desired = []
        for path, blob in sorted(self.files.items()):
            key = request_key(path)
            if key is None:
                continue
            known = by_blob.get((key, blob))
            version = known.version if known else None
            if known is not None and version is not None:
                pool = self.policy.pools.get(key.split("/", 1)[0])
                desired.append(
                    Desired(
                        key=key,
                        path=path,
                        version=version,
                        commit=known.sha,
                        blob=blob,
                        launch_at=known.launch_at,
                        # the record's effective runtime, within the pool's cap as it is now
                        max_runtime=cap_runtime(
                            known.max_runtime, pool.max_runtime if pool else None
                        ),
                    )
                )
                continue
            desired.append(self._read_desired(key, path, blob, listed))
        return desired

    def _read_desired(self, key: str, path: str, blob: str, listed: list[Deployment]) -> Desired:
        request, problems = load_request(self.gh.blob(blob), path, self.policy)
        if request is None:
            problem = problems[0].message if problems else "invalid"
            commit = self._provenance_of(path)[0]
            return Desired(
                key=key,
                path=path,
                version=invalid_version(blob),
                commit=commit,
                blob=blob,
                problem=problem,
            )
        self.requests[key] = request
        version = version_of(request)
        same = next((i for i in listed if i.environment == key and i.version == version), None)
        # A new file content of a version that FAILED is asked for again (a new pull request,
        # approved this time): its own commit, so the plan sees a new ask.
        asked = same is not None and same.kind != "failure"
        commit = same.sha if same is not None and asked else self._provenance_of(path)[0]
        pool = self.policy.pools[request.pool]
        runtime = request.max_runtime or pool.max_runtime
        return Desired(
            key=key,
            path=path,
            version=version,
            commit=commit,
            blob=blob,
            launch_at=request.launch_at,
            max_runtime=runtime,
        )

    def _provenance_of(self, path: str) -> tuple[str, Pull | None]:
        """(commit, pull request) through which the file's current content reached the default
        branch: the pull request's merge commit, or the pushed commit when there is none."""
        if path not in self._provenance:
            commit = self.gh.last_commit(path, self.head)
            if commit is None:
                raise Transient(f"no commit on {self.branch} changed {path}")
            merged = [
                p
                for p in self.gh.commit_pulls(commit)
                if p.merged and p.base_ref == self.branch and p.merge_commit_sha
            ]
            pr = max(merged, key=lambda p: p.number) if merged else None
            self._provenance[path] = (pr.merge_commit_sha if pr else commit) or commit, pr
        return self._provenance[path]

    def _records(self, listed: list[Deployment]) -> list[Record]:
        """launcher's deployments as the plan's Records, in the states `infer` reads from the
        records and the fleet (no deployment-status read: see launcher.core.record)."""
        items = [i for d in listed if (i := d.listed()) is not None and i.record.version]
        inferred = infer(
            items,
            (i.instance_id for i in self.fleet),
            ((i.key, i.commit) for i in self.fleet),
            self.now,
        )
        return [self._capped(_record(i)) for i in inferred]

    def _capped(self, record: Record) -> Record:
        """The record's expiry within its pool's max_runtime from EC2's LaunchTime
        (launcher.core.runtime_cap): a record never extends a run past the cap."""
        pool = self.policy.pools.get(record.key.split("/", 1)[0])
        commit = record.launch_commit or record.commit
        times = [
            i.launched_at
            for i in self.fleet
            if i.key == record.key and i.commit == commit and i.launched_at
        ]
        return capped_record(record, pool.max_runtime if pool else None, min(times, default=None))

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

    # approval at launch time ----------------------------------------------------------------

    def _approval(self, d: Desired) -> Approval:
        """The seed's launch-time check: the content on main came through a merged pull
        request whose gate item for this path held at its merged head."""
        commit, pr = self._provenance_of(d.path)
        if pr is None:
            raise Refused(
                Category.NOT_APPROVED,
                f"{d.path} reached {self.branch} in {commit[:7]} without a merged pull request",
            )
        if pr.number not in self._decisions:
            from launcher.jobs.gate import decide_pull

            reviews = self.gh.reviews(pr.number)
            self._reviews[pr.number] = reviews
            self._decisions[pr.number] = decide_pull(self.gh, pr, reviews)
        decision = self._decisions[pr.number]
        if decision.state is State.ERROR:
            raise Transient(f"could not re-check #{pr.number}: {decision.description}")
        item = next(
            (
                i
                for i in decision.items
                if i.path == d.path and i.kind is ItemKind.REQUEST and i.change not in ("removed",)
            ),
            None,
        )
        if item is None:
            raise Refused(
                Category.NOT_APPROVED, f"pull request #{pr.number} did not ask for {d.path}"
            )
        approved_content = self.gh.read_file(d.path, pr.head_sha)
        if approved_content is None or git_blob_sha(approved_content) != d.blob:
            raise Refused(
                Category.NOT_APPROVED,
                f"{d.path} on {self.branch} differs from what #{pr.number} had approved",
            )
        if item.state is State.SUCCESS:
            approved = item.tally.approved_by if item.tally else ()
            latest = latest_deciding(self._reviews.get(pr.number, ()))
            events = tuple(
                Event(
                    EventKind.APPROVED,
                    None,
                    login,
                    latest[login.casefold()].commit_id if login.casefold() in latest else "",
                    clip(latest[login.casefold()].body.strip(), 500)
                    if login.casefold() in latest
                    else "",
                )
                for login in approved
            )
            return Approval(pr, pr.author, tuple(approved), events)
        if item.tally and item.tally.rejected_by:
            rejected = tuple(
                Event(EventKind.REJECTED, None, r.user, r.commit_id, clip(r.body.strip(), 500))
                for r in item.tally.rejected_by
            )
            raise Refused(Category.REJECTED, f"#{pr.number}: {item.summary}", rejected)
        raise Refused(
            Category.NOT_APPROVED,
            f"#{pr.number} was merged without the gate's approval ({item.summary})",
        )

    def _request(self, d: Desired) -> LaunchRequest:
        if d.problem is not None:
            raise Refused(Category.NO_MATCH, f"the request does not fit pools.yaml: {d.problem}")
        if d.key not in self.requests:
            request, problems = load_request(self.gh.blob(d.blob), d.path, self.policy)
            if request is None:
                first = problems[0].message if problems else "invalid"
                raise Refused(Category.NO_MATCH, f"the request does not fit pools.yaml: {first}")
            self.requests[d.key] = request
        return self.requests[d.key]

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
        launched_at = _started(self.now, self.as_of, self._launched_at)
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

    def _run_groups(
        self, action: Launch, request: LaunchRequest, approval: Approval
    ) -> tuple[Placement, dict[str, list[str]]]:
        """Launch every group on the first placement that holds; on no capacity move on (a
        bounded number of times); on any other error terminate what was launched."""
        d = action.desired
        pool = self.policy.pools[request.pool]
        usage = dict(self.usage)
        if isinstance(action, Replace):  # the old instances end once the new ones run
            freed = [
                i for f in action.old for i in f.instances if i.state in ("pending", "running")
            ]
            old = usage.get(pool.name, Usage())
            usage[pool.name] = Usage(
                max(0, old.instances - len(freed)), max(0, old.vcpus - sum(i.vcpus for i in freed))
            )
        catalogues = self._catalogues_now()
        allowed = self._allowed_zones(pool.providers)
        exhausted: list[Exhausted] = []
        launched: dict[str, tuple[GroupPlacement, Location, list[str]]] = {}
        answers: dict[str, Launched] = {}
        tries = 0
        while True:
            placement, result = next_placement(request, pool, catalogues, usage, exhausted, allowed)
            if placement is None:
                self._rollback(launched)
                raise Refused(*_no_placement(result, exhausted))
            location = location_of(placement.provider)
            wanted = {g.group: g for g in placement.groups}
            for name, (group, where, ids) in list(launched.items()):
                if where != location or wanted.get(name) != group:
                    self.ec2.terminate(where, ids)
                    del launched[name]
            try:
                for group in placement.groups:
                    if group.group in launched:
                        continue
                    tries += 1
                    spec = self._spec(d, request, approval, placement, group, action.attempt)
                    answer = self.ec2.run_instances(spec)
                    answers[group.group] = answer
                    launched[group.group] = (group, location, answer.ids)
            except LaunchError as exc:
                if exc.capacity and tries < MAX_ATTEMPTS:
                    exhausted.append(Exhausted(location, group.instance_type, group.zone))
                    continue
                self._rollback(launched)
                if exc.transient:
                    raise Transient(str(exc)) from exc
                if exc.capacity:
                    raise Refused(
                        Category.LAUNCH_ERROR, f"no capacity after {tries} tries: {exc}"
                    ) from exc
                raise Refused(Category.LAUNCH_ERROR, str(exc)) from exc
            except ComputeError:
                self._rollback(launched)
                raise
            break
        self.usage[pool.name] = self.usage.get(pool.name, Usage()).plus(
            placement.instances, placement.vcpus
        )
        times = [a.launched_at for n, a in answers.items() if n in launched and a.launched_at]
        self._launched_at = min(times, default=None)
        self._volumes = tuple(v for n, a in answers.items() if n in launched for v in a.volume_ids)
        return placement, {name: ids for name, (_, _, ids) in launched.items()}

    def _rollback(self, launched: dict[str, tuple[GroupPlacement, Location, list[str]]]) -> None:
        """No half-launched request: terminate every group already started."""
        for group, location, ids in launched.values():
            self.ec2.terminate(location, ids)
            self.report.done.append(f"rolled back {group.group}: terminated {', '.join(ids)}")
        launched.clear()

    def _spec(
        self,
        d: Desired,
        request: LaunchRequest,
        approval: Approval,
        placement: Placement,
        group: GroupPlacement,
        attempt: int,
    ) -> RunSpec:
        tags = {
            "Name": f"{d.key}/{group.group}",
            DEPLOYMENT_TAG: d.key,
            POOL_TAG: request.pool,
            "launcher:group": group.group,
            "launcher:requested-by": approval.requested_by,
            "launcher:commit": d.commit,
            "launcher:pr": str(approval.pr.number),
        }
        if approval.approved_by:
            tags["launcher:approved-by"] = _tag_value(",".join(approval.approved_by))
        provider = placement.provider
        subnet = None
        if provider.subnet_ids:
            zones = self.ec2.subnet_zones(location_of(provider), provider.subnet_ids)
            subnet = next(
                (s for s in provider.subnet_ids if group.zone in (None, zones.get(s))), None
            )
            if subnet is None:
                raise Refused(
                    Category.LAUNCH_ERROR,
                    f"{provider.name} has no subnet in {group.zone}",
                )
        return RunSpec(
            location=location_of(provider),
            image_id=group.image_id,
            instance_type=group.instance_type,
            count=group.count,
            client_token=client_token(d.key, d.version.id, d.commit, placement, group, attempt),
            tags=tags,
            zone=group.zone,
            subnet_id=subnet,
            security_group_ids=provider.security_group_ids,
        )

    def _catalogues_now(self) -> Catalogues:
        if self._catalogues is None:
            self._catalogues = self.ec2.catalogues(self.policy.pools.values())
        return self._catalogues

    def _allowed_zones(self, providers: Iterable[Any]) -> dict[Location, frozenset[str]]:
        """Zones a group may be pinned to: where the provider has a subnet, if it lists any."""
        allowed = {}
        for provider in providers:
            if provider.subnet_ids:
                try:
                    zones = self.ec2.subnet_zones(location_of(provider), provider.subnet_ids)
                except LaunchError:
                    zones = {}
                allowed[location_of(provider)] = frozenset(zones.values())
        return allowed

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
        pool = self.policy.pools.get(d.key.split("/", 1)[0])
        fleet_start = action.fleet.launched_at if action.fleet is not None else None
        until = cap_expiry(
            action.expires_at,
            (running.launched_at, fleet_start),
            pool.max_runtime if pool else None,
        )
        value = utc_iso(until) if until else ""
        if action.fleet is not None:
            for location, here in by_location(action.fleet.instances).items():
                ids = [r for i in here for r in (i.instance_id, *i.volume_ids)]
                self.ec2.retag(location, ids, {"launcher:expires-at": value})
        payload = self._payload(
            d,
            Kind.LAUNCH,
            approval,
            running.launched_at,
            until,
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
        launched_at = _started(self.now, self.as_of, fleet.launched_at)
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

    def _record_ended(self, last: Record, text: str) -> None:
        """An `ended` record: the request left main. The same content added back later is a
        new request (launched afresh), not the version that ran or failed before."""
        record = RequestRecord(
            kind=Kind.ENDED,
            key=last.key,
            path=last.path,
            version=last.version,
            blob=last.blob,
            pr=last.pr,
            requested_by=last.requested_by,
            attempt=last.attempt,
            events=(Event(EventKind.ENDED, self.now, "", self.head, text),),
        )
        deployment = self.gh.create_deployment(
            last.commit, last.key, encode(record), f"ended {last.key}", TASK
        )
        self.gh.set_deployment_status(deployment, "inactive", text, current=None)

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

    # recording ------------------------------------------------------------------------------------

    def _payload(
        self,
        d: Desired,
        kind: Kind,
        approval: Approval | None,
        launched_at: datetime | None,
        until: datetime | None,
        attempt: int,
        **facts: Any,
    ) -> dict[str, Any]:
        """The deployment payload of a record of `d` (launcher.core.record.encode); its
        events are the approvals it rests on and what happened (`events` in `facts`)."""
        facts["events"] = (*(approval.events if approval else ()), *facts.get("events", ()))
        record = RequestRecord(
            kind=kind,
            key=d.key,
            path=d.path,
            version=d.version,
            blob=d.blob,
            pr=approval.pr.number if approval else None,
            requested_by=approval.requested_by if approval else "",
            approved_by=approval.approved_by if approval else (),
            launch_at=d.launch_at,
            max_runtime=d.max_runtime,
            launched_at=launched_at,
            expires_at=until,
            attempt=attempt,
            **facts,
        )
        return encode(record)

    def _fail(
        self,
        d: Desired,
        record: Record | None,
        error: LastError,
        approval: Approval | None,
        events: tuple[Event, ...] = (),
    ) -> None:
        """FAILED: always a new `failure` record (its category a field), so the state is read
        from the list; a SCHEDULED record it replaces is marked inactive."""
        payload = self._payload(
            d,
            Kind.FAILURE,
            approval,
            None,
            None,
            record.attempt if record else 0,
            failure=error,
            events=(*events, Event(EventKind.FAILED, self.now, "", d.commit, error.describe())),
        )
        pr = approval.pr if approval else self._provenance.get(d.path, ("", None))[1]
        if pr is not None:  # the comment first: the record must never hide a missing one
            body = f"could not launch: **{error.category.value}**: {untrusted(error.message)}"
            self._comment(
                Approval(pr, pr.author, approval.approved_by if approval else ()), d, "failed", body
            )
        deployment = self.gh.create_deployment(d.commit, d.key, payload, f"failed {d.key}", TASK)
        if record is not None and record.state in LIVE - {RequestState.RUNNING}:
            self._inactive(record, f"failed: see deployment {deployment}")
        self.gh.set_deployment_status(
            deployment, "failure", error.describe(), log_url=self.options.log_url
        )
        self.report.failed.append((d.key, error))

    def _running(
        self,
        deployment: int,
        key: str,
        what: str,
        region: str,
        until: datetime | None,
        current: tuple[str, str] | None | bool = False,
    ) -> str:
        """Mark the deployment `success` (RUNNING), linking the instances in the console; the
        status text (`running 2 instances on … until …`) is returned for the run's report."""
        running = f"running {what}" + (f" until {utc_iso(until)}" if until else "")
        self.gh.set_deployment_status(
            deployment,
            "success",
            clip(running),
            log_url=self.options.log_url,
            environment_url=self.ec2.console_url(region, key),
            current=current,
        )
        return running

    def _inactive(self, record: Record, description: str) -> None:
        self.gh.set_deployment_status(record.deployment_id, "inactive", description)

    def _comment(self, approval: Approval, d: Desired, outcome: str, text: str) -> None:
        """One comment per request version and outcome on the merged pull request, found
        again by its hidden marker: a re-run edits nothing and posts nothing twice."""
        marker = COMMENT_MARKER.format(key=d.key, version=d.version.id, outcome=outcome)
        cc = [
            f"@{a}"
            for a in approval.approved_by
            if a.casefold() != approval.requested_by.casefold()
        ]
        body = (
            f"@{approval.requested_by} your launch request `{d.key}` {text}"
            + (f"\n\ncc {' '.join(cc)} (approved)" if cc else "")
            + (f"\n\n[workflow run]({self.options.log_url})" if self.options.log_url else "")
        )
        comment_once(self.gh, approval.pr.number, marker, body)

    def _post_comment(self, pr: int, record: Record, outcome: str, text: str) -> None:
        marker = COMMENT_MARKER.format(key=record.key, version=record.version.id, outcome=outcome)
        who = f"@{record.requested_by} " if record.requested_by else ""
        comment_once(self.gh, pr, marker, f"{who}your launch request `{record.key}` {text}")


# --- small helpers ----------------------------------------------------------------------


def _record(item: Inferred) -> Record:
    """A record in its inferred state, as the plan's Record."""
    r = item.record
    assert r.version is not None  # only versioned records are kept
    return Record(
        deployment_id=item.id,
        key=r.key,
        version=r.version,
        commit=item.commit,
        state=item.state,
        path=r.path,
        blob=r.blob,
        launch_commit=r.launch_commit or item.commit,
        instance_ids=r.instance_ids,
        placement=r.placement,
        expires_at=r.expires_at,
        launch_at=r.launch_at,
        launched_at=r.launched_at,
        last_error=r.failure,
        pr=r.pr,
        requested_by=r.requested_by,
        approved_by=r.approved_by,
        attempt=r.attempt,
        ended=r.kind is Kind.ENDED,
    )


def _no_placement(result: MatchResult, exhausted: list[Exhausted]) -> tuple[Category, str]:
    """The failure category of a request no placement holds, from the reasons' kinds (never
    their words): QUOTA when the pool's quota, or on every provider tried only the quota,
    stands in the way."""
    quota = [r for r in result.reasons if kind_of(r) is ReasonKind.QUOTA]
    if any(kind_of(r) is ReasonKind.QUOTA for r in result.pool_reasons):
        return Category.QUOTA, quota[0]
    tried = [m.reasons for m in result.providers if m.reasons]
    if tried and all(all_quota(reasons) for reasons in tried):
        return Category.QUOTA, quota[0]
    if exhausted:
        return Category.LAUNCH_ERROR, (
            "no capacity: InsufficientInstanceCapacity on every matching placement"
        )
    return Category.NO_MATCH, "; ".join(result.reasons) or "no placement"


def _placement_record(placement: Placement, ids: dict[str, list[str]]) -> PlacementRecord:
    return PlacementRecord(
        provider=placement.provider.name,
        region=placement.region,
        role_arn=placement.provider.role_arn,
        groups=tuple(
            GroupRecord(
                name=g.group,
                count=g.count,
                instance_type=g.instance_type,
                image_id=g.image_id,
                zone=g.zone,
                instance_ids=tuple(ids.get(g.group, [])),
            )
            for g in placement.groups
        ),
    )


def _running_text(
    request: LaunchRequest,
    placement: Placement,
    ids: dict[str, list[str]],
    until: datetime | None,
) -> str:
    lines = [f"is running on {placement.provider.name} ({placement.region}):", ""]
    for g in placement.groups:
        zone = f" in {g.zone}" if g.zone else ""
        lines.append(
            f"- `{g.group}`: {g.count} × {g.instance_type}{zone} ({g.image_id}): "
            + ", ".join(ids.get(g.group, []))
        )
    lines.append("")
    lines.append(f"It expires at {utc_iso(until)}." if until else "It has no expiry time.")
    return "\n".join(lines)


def _started(now: datetime, as_of: bool, launch_time: datetime | None) -> datetime:
    """When a request's runtime starts: EC2's LaunchTime (the instances' own record, later
    than the run's start). Only a run given an "as of" time (an in-process test) starts it
    at that time when it is earlier."""
    if launch_time is None:
        return now
    return min(now, launch_time) if as_of else launch_time


def _tag_value(text: str) -> str:
    return text if len(text) <= 256 else text[:255] + "…"


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
