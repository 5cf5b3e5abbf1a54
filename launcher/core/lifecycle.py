"""A launch request's life after merge, and the reconcile's plan: pure, no I/O.

Three views of the world come in as plain data: the requests on the default branch
(`Desired`), what launcher recorded as GitHub deployments (`Record`), and what runs on EC2 by
launcher's tags (`Fleet`). `plan()` compares them and returns the actions that bring EC2 and
the records in line. The launch job runs it on every push; the sweep runs it on a schedule to
launch what became due and end what expired. Because EC2 tags are read as well as records, a
run that crashed between RunInstances and recording is finished (`Complete`), never repeated.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import Enum
from typing import TYPE_CHECKING, Any

from launcher.core.fleet import Fleet
from launcher.core.model import LaunchRequest
from launcher.core.text import clip
from launcher.core.times import utc_iso

if TYPE_CHECKING:
    from launcher.core.record import PlacementRecord


class RequestState(Enum):
    """Conductor's deployment states, as launcher uses them."""

    PENDING_APPROVAL = "pending_approval"  # an open pull request (the gate's side)
    REJECTED = "rejected"  # an open pull request with a change request (the gate's side)
    SCHEDULED = "scheduled"  # approved and merged, launch_at in the future
    LAUNCHING = "launching"  # instances requested, not yet recorded as running
    RUNNING = "running"
    FAILED = "failed"  # see LastError.category
    TERMINATED = "terminated"  # removed from main, replaced, or superseded
    EXPIRED = "expired"  # ended by max_runtime


LIVE = frozenset({RequestState.SCHEDULED, RequestState.LAUNCHING, RequestState.RUNNING})


class Category(Enum):
    """Why a request FAILED; the first word of its deployment status description."""

    REJECTED = "rejected"  # an approver requested changes
    NOT_APPROVED = "not_approved"  # reached main without the gate's conditions
    NO_MATCH = "no_match"  # no provider can place it now
    QUOTA = "quota"  # the pool's quota would be exceeded
    LAUNCH_ERROR = "launch_error"  # EC2 refused (limits, bad AMI, ...)
    AUTO_REJECTED = "auto_rejected"  # not approved before launch_at (the sweep)
    EXPIRED = "expired"  # max_runtime reached (the sweep; a record is EXPIRED, not FAILED)
    STALE = "stale"  # pending longer than the pool's request_ttl (the sweep)


@dataclass(frozen=True)
class LastError:
    category: Category
    message: str

    def describe(self) -> str:
        return clip(f"{self.category.value}: {self.message}")


_ERROR = re.compile(r"^(?P<category>[a-z_]+): (?P<message>.*)\Z", re.S)


def error_of(description: str) -> LastError:
    """The LastError a failure description says; one without a known category is a
    launch_error with the description as its message."""
    return parse_error(description) or LastError(Category.LAUNCH_ERROR, description)


def state_of(status: str, description: str) -> tuple[RequestState, LastError | None]:
    """What a deployment status (state, description) launcher posted says of the request."""
    if status in ("queued", "pending"):
        return RequestState.SCHEDULED, None
    if status == "in_progress":
        return RequestState.LAUNCHING, None
    if status == "success":
        return RequestState.RUNNING, None
    if status in ("failure", "error"):
        return RequestState.FAILED, error_of(description)
    if description.startswith("expired"):
        return RequestState.EXPIRED, None
    return RequestState.TERMINATED, None


def parse_error(description: str) -> LastError | None:
    """The LastError a failure description carries, if it starts with a known category."""
    match = _ERROR.match(description or "")
    if not match:
        return None
    try:
        return LastError(Category(match["category"]), match["message"])
    except ValueError:
        return None


# --- versions ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Version:
    """What a request asks for: `spec` (everything but max_runtime) and `runtime`.

    Two versions with the same spec differ only in max_runtime: running instances are kept and
    retagged. The description is left out: rewording a request changes nothing.
    """

    spec: str
    runtime: str

    @property
    def id(self) -> str:
        return f"{self.spec[:12]}.{self.runtime[:6]}"

    def to_json(self) -> dict[str, str]:
        return {"spec": self.spec, "runtime": self.runtime}

    @classmethod
    def from_json(cls, data: Any) -> Version | None:
        if isinstance(data, dict) and all(
            isinstance(data.get(k), str) for k in ("spec", "runtime")
        ):
            return cls(data["spec"], data["runtime"])
        return None


def _digest(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def version_of(request: LaunchRequest) -> Version:
    """The version identity of a parsed request (hardware profiles by name, not by content,
    so an admin editing a profile in pools.yaml does not replace running instances)."""
    groups = [
        {
            "name": g.name,
            "image": g.image,
            "count": g.count,
            "profile": g.hardware_profile,
            "hardware": None
            if g.hardware_profile
            else [
                g.hardware.vcpus,
                g.hardware.memory_gib,
                g.hardware.architecture,
                g.hardware.storage_gib,
            ],
            "realm": g.realm,
        }
        for g in request.instances
    ]
    launch_at = utc_iso(request.launch_at) if request.launch_at else None
    spec = {"pool": request.pool, "name": request.name, "groups": groups, "launch_at": launch_at}
    runtime = request.max_runtime.total_seconds() if request.max_runtime else None
    return Version(_digest(spec), _digest({"max_runtime": runtime}))


def invalid_version(blob: str) -> Version:
    """A version for a file that does not load: its content identifies it."""
    return Version(_digest({"invalid": blob}), _digest({"max_runtime": None}))


def expires_at(
    launched_at: datetime, max_runtime: timedelta | None, pool_cap: timedelta | None
) -> datetime | None:
    """Launch time plus the request's max_runtime, or the pool's cap when it names none."""
    runtime = max_runtime or pool_cap
    return launched_at + runtime if runtime else None


# --- the three views --------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Desired:
    """A request on the default branch, as the reconcile wants it."""

    key: str  # <pool>/<name>
    path: str
    version: Version
    commit: str  # the commit this version reached main in (a PR's merge commit, or a push)
    blob: str = ""
    launch_at: datetime | None = None
    max_runtime: timedelta | None = None  # effective: the request's, else the pool's cap
    problem: str | None = None  # the file does not load against pools.yaml
    # a commit of main after the last run's where the file was absent: it left main and came
    # back before any run saw it gone (launcher.jobs.launch.readds)
    absent_at: str = ""


@dataclass(frozen=True, kw_only=True)
class Record:
    """What one GitHub deployment (and its latest status) says about a request version."""

    deployment_id: int
    key: str
    version: Version
    commit: str
    state: RequestState
    path: str = ""
    blob: str = ""
    launch_commit: str | None = None  # the commit the instances are tagged with
    instance_ids: tuple[str, ...] = ()
    placement: PlacementRecord | None = None
    expires_at: datetime | None = None
    launch_at: datetime | None = None
    launched_at: datetime | None = None
    last_error: LastError | None = None
    pr: int | None = None
    requested_by: str = ""
    approved_by: tuple[str, ...] = ()
    attempt: int = 0
    ended: bool = False  # an `ended` record: the request left main with nothing running


# --- predicates the sweep reuses -------------------------------------------------------------


def launch_due(record: Record, now: datetime) -> bool:
    """A SCHEDULED record whose launch_at has come (compared with now, never "the hour")."""
    return (
        record.state is RequestState.SCHEDULED
        and record.launch_at is not None
        and record.launch_at <= now
    )


def expired(record: Record, now: datetime) -> bool:
    """A RUNNING record past its expires_at."""
    return (
        record.state is RequestState.RUNNING
        and record.expires_at is not None
        and record.expires_at <= now
    )


# --- actions ---------------------------------------------------------------------------------


class Reason(Enum):
    """Why instances end."""

    REMOVED = "removed"  # the request left main: the job applies the removal rule first
    EXPIRED = "expired"  # max_runtime reached
    REPLACED = "replaced"  # a new version of the request runs
    # instances of a request still on main that no live record keeps (a launch that stopped
    # before recording, a termination that did not finish): no removal to judge
    LEFTOVER = "leftover"


@dataclass(frozen=True)
class Action:
    key: str

    @property
    def name(self) -> str:
        return type(self).__name__.lower()


@dataclass(frozen=True)
class Launch(Action):
    """Launch `desired` now. `attempt` makes fresh ClientTokens for a retry of a failed
    version; `record` is the version's SCHEDULED or LAUNCHING record, if any."""

    desired: Desired
    attempt: int = 0
    record: Record | None = None


@dataclass(frozen=True)
class Replace(Launch):
    """Launch the new version, then terminate `old` (never before the new one runs)."""

    old: tuple[Fleet, ...] = ()
    old_records: tuple[Record, ...] = ()


@dataclass(frozen=True)
class Schedule(Action):
    desired: Desired
    supersedes: Record | None = None
    attempt: int = 0  # carried to the launch when due (fresh tokens for a version back on main)


@dataclass(frozen=True)
class Retag(Action):
    """Only max_runtime changed: move `launcher:expires-at`, keep the instances."""

    desired: Desired
    running: Record
    fleet: Fleet | None
    expires_at: datetime | None


@dataclass(frozen=True)
class Terminate(Action):
    reason: Reason
    records: tuple[Record, ...] = ()  # to mark inactive
    fleets: tuple[Fleet, ...] = ()  # to terminate
    absent_at: str = ""  # a removal of a request since re-added: judged at this commit


@dataclass(frozen=True)
class Readd(Action):
    """The request left main and came back before any run saw it gone (`desired.absent_at`),
    and nothing is recorded of its return yet. When its removal passes the removal rule
    (judged at `absent_at`), `ends` end what ran and `fresh` takes the file as a new ask,
    re-verified like any other; otherwise the removal never took effect and `kept` is the plan
    as if the file had stayed (an edit of what runs)."""

    desired: Desired
    ends: tuple[Terminate, ...] = ()
    fresh: tuple[Action, ...] = ()
    kept: tuple[Action, ...] = ()


@dataclass(frozen=True)
class Complete(Action):
    """Instances tagged for this request and commit exist, but no record says RUNNING:
    a run crashed after RunInstances. Record them instead of launching again."""

    desired: Desired
    fleet: Fleet
    record: Record | None = None
    old: tuple[Fleet, ...] = ()  # an interrupted replacement: ended once this one is recorded
    old_records: tuple[Record, ...] = ()


@dataclass
class _Key:
    records: list[Record] = field(default_factory=list)
    fleets: list[Fleet] = field(default_factory=list)


def plan(
    desired: Iterable[Desired],
    records: Iterable[Record],
    fleets: Iterable[Fleet],
    now: datetime,
    *,
    retry: Iterable[str] = (),
) -> list[Action]:
    """Everything outstanding, in request-key order. `retry` names keys whose FAILED version
    should be attempted again (a workflow_dispatch retry)."""
    wanted = {d.key: d for d in desired}
    per: dict[str, _Key] = {}
    for record in sorted(records, key=lambda r: r.deployment_id):
        per.setdefault(record.key, _Key()).records.append(record)
    for fleet in fleets:
        per.setdefault(fleet.key, _Key()).fleets.append(fleet)
    retry_keys = set(retry)
    actions: list[Action] = []
    for key in sorted(set(wanted) | set(per)):
        seen = per.get(key, _Key())
        if key in wanted:
            actions.extend(_for_desired(wanted[key], seen, now, key in retry_keys))
        else:
            actions.extend(_for_removed(key, seen, now))
    return actions


def _for_removed(key: str, seen: _Key, now: datetime) -> list[Action]:
    """A request that left main: its live records end and every instance carrying its tags is
    terminated (a launch that stopped before recording included: they are not orphans). A
    request whose newest record is not an end (a FAILED version) gets an `ended` mark, so the
    same content added again later is a new request, not the old failure.

    The job applies a REMOVED end only when the removal passes the removal rule
    (launcher.core.removal); otherwise the instances keep running, so a RUNNING record past its
    expiry ends as EXPIRED here first, whatever became of the removal."""
    live = tuple(r for r in seen.records if r.state in LIVE)
    actions: list[Action] = []
    ended = tuple(r for r in live if expired(r, now))
    if ended:
        commits = {r.launch_commit or r.commit for r in ended}
        fleets = tuple(f for f in seen.fleets if f.commit in commits)
        actions.append(Terminate(key, Reason.EXPIRED, ended, fleets))
        live = tuple(r for r in live if r not in ended)
        seen = _Key(seen.records, [f for f in seen.fleets if f not in fleets])
    if live:
        return [*actions, Terminate(key, Reason.REMOVED, live, tuple(seen.fleets))]
    newest = seen.records[-1] if seen.records else None
    if newest is not None and newest.state is RequestState.FAILED:
        # instances of a launch that was never recorded may be ended with it: the failure
        # still gets its end, or the same content added back would be taken for it
        return [*actions, Terminate(key, Reason.REMOVED, (newest,), tuple(seen.fleets))]
    if seen.fleets:
        return [*actions, Terminate(key, Reason.REMOVED, (), tuple(seen.fleets))]
    return actions


def _latest(records: Iterable[Record], **match: Any) -> Record | None:
    found = None
    for record in records:  # sorted by deployment id
        if all(getattr(record, name) == value for name, value in match.items()):
            found = record
    return found


def _back_on_main(d: Desired, records: list[Record]) -> Record | None:
    """The newest record of `d`'s version, unless main has left that version and come back to
    it since: launcher acted on another version after it (a revert), or it was ended as
    removed from main (re-added identically). Then it is a new change: None.

    The anchor is the newest record that is not FAILED (a failed newer version leaves the old
    one running and current). EXPIRED stays final: an expired request left on main is never
    launched again."""
    current = _latest(records, version=d.version)
    anchor = next((r for r in reversed(records) if r.state is not RequestState.FAILED), None)
    if current is None or anchor is None:
        return current
    if current.deployment_id < anchor.deployment_id:
        return None
    if current is anchor and current.state is RequestState.TERMINATED:
        return None
    return current


def _readded(d: Desired, seen: _Key, now: datetime, retry: bool) -> list[Action]:
    """The request left main and came back before any run saw it gone (`d.absent_at`), and
    nothing was recorded of its return yet: what ran ends as a removal (judged at the commit
    without the file), then the file is a new ask; or, when the removal does not pass, the
    plan as if it had stayed (`Readd`). With nothing to end, it is simply a new ask."""
    ends = tuple(
        replace(a, absent_at=d.absent_at) if a.reason is Reason.REMOVED else a
        for a in _for_removed(d.key, seen, now)
        if isinstance(a, Terminate)
    )
    back = replace(d, absent_at="")
    fresh = tuple(_for_desired(back, _Key(), now, False))
    if not ends:
        return list(fresh)
    kept = tuple(_for_desired(back, seen, now, retry))
    return [Readd(d.key, d, ends, fresh, kept)]


def _for_desired(d: Desired, seen: _Key, now: datetime, retry: bool) -> list[Action]:
    if d.absent_at and seen.records and all(r.commit != d.commit for r in seen.records):
        return _readded(d, seen, now, retry)
    fleets = {f.commit: f for f in seen.fleets}
    running = _latest(seen.records, state=RequestState.RUNNING)
    current = _back_on_main(d, seen.records)
    # A version back on main launches with new client tokens: its earlier ones are spent.
    fresh = 1 + max((r.attempt for r in seen.records if r.version == d.version), default=-1)
    actions: list[Action] = []

    if running is not None and expired(running, now):
        launched = fleets.pop(running.launch_commit or running.commit, None)
        actions.append(
            Terminate(d.key, Reason.EXPIRED, (running,), (launched,) if launched else ())
        )
        if current is running:
            # main still asks for the expired version: nothing of it runs again, and instances
            # of a launch no record names (a crash before recording) end with it, in this run
            leftovers = tuple(f for _, f in sorted(fleets.items()))
            if leftovers:
                actions.append(Terminate(d.key, Reason.EXPIRED, (), leftovers))
            return actions
        seen = _Key([r for r in seen.records if r is not running], seen.fleets)
        running = None

    if current is None:
        here = fleets.get(d.commit)
        same_spec = running is not None and running.version.spec == d.version.spec
        running_commit = (running.launch_commit or running.commit) if running else None
        if here is not None and not (same_spec and here.commit == running_commit):
            return [*actions, _complete(d, seen, fleets, here, None)]
        if running is not None and same_spec:
            fleet = fleets.get(running_commit or "")
            when = (
                expires_at(running.launched_at, d.max_runtime, None)
                if running.launched_at
                else None
            )
            return [*actions, Retag(d.key, d, running, fleet, when)]
        if d.launch_at is not None and d.launch_at > now:
            return [
                *actions,
                Schedule(d.key, d, _latest(seen.records, state=RequestState.SCHEDULED), fresh),
            ]
        return [*actions, _launch(d, seen, fleets, running, attempt=fresh, record=None)]

    launch_commit = current.launch_commit or current.commit
    state = current.state
    if state is RequestState.LAUNCHING:
        here = fleets.get(launch_commit) or fleets.get(d.commit)
        if here is not None:
            return [*actions, _complete(d, seen, fleets, here, current)]
        return [*actions, _launch(d, seen, fleets, running, current.attempt, current)]
    if state is RequestState.SCHEDULED:
        here = fleets.get(d.commit)
        if here is not None:
            return [*actions, _complete(d, seen, fleets, here, current)]
        if launch_due(current, now) or d.launch_at is None or d.launch_at <= now:
            return [*actions, _launch(d, seen, fleets, running, current.attempt, current)]
        return actions
    if state is RequestState.RUNNING:
        old = tuple(f for commit, f in sorted(fleets.items()) if commit != launch_commit)
        stale = tuple(
            r for r in seen.records if r.state in LIVE and r.deployment_id != current.deployment_id
        )
        if old or stale:
            actions.append(Terminate(d.key, Reason.REPLACED, stale, old))
        # a retag whose record was never written (a crash) left another expiry on the
        # instances than the record shows, and main came back to the record's: the record wins
        fleet = fleets.get(launch_commit)
        if (
            fleet is not None
            and current.expires_at is not None
            and any(i.expires_at != current.expires_at for i in fleet.instances)
        ):
            actions.append(Retag(d.key, d, current, fleet, current.expires_at))
        return actions
    if state is RequestState.FAILED and (retry or d.commit != current.commit):
        # retried by hand, or asked again through another commit (a new approved pull request)
        return [*actions, _launch(d, seen, fleets, running, current.attempt + 1, None)]
    # FAILED, TERMINATED, EXPIRED: final for this version; instances still tagged with its
    # commit (a termination that did not finish) are ended again, and so are those of a
    # launch no record names (it stopped before recording, and main has moved on since): only
    # a live record's instances stay (the version a failed replacement left running).
    kept = {r.launch_commit or r.commit for r in seen.records if r.state in LIVE}
    leftovers = tuple(f for commit, f in sorted(fleets.items()) if commit not in kept)
    if leftovers:
        reason = Reason.EXPIRED if state is RequestState.EXPIRED else Reason.LEFTOVER
        actions.append(Terminate(d.key, reason, (), leftovers))
    return actions


def _complete(
    d: Desired, seen: _Key, fleets: Mapping[str, Fleet], here: Fleet, record: Record | None
) -> Complete:
    old = tuple(f for commit, f in sorted(fleets.items()) if commit != here.commit)
    old_records = tuple(
        r
        for r in seen.records
        if r.state in (RequestState.RUNNING, RequestState.LAUNCHING) and r is not record
    )
    return Complete(d.key, d, here, record, old, old_records)


def _launch(
    d: Desired,
    seen: _Key,
    fleets: Mapping[str, Fleet],
    running: Record | None,
    attempt: int,
    record: Record | None,
) -> Launch:
    old = tuple(f for commit, f in sorted(fleets.items()) if commit != d.commit)
    old_records = tuple(
        r
        for r in seen.records
        if r.state in (RequestState.RUNNING, RequestState.LAUNCHING) and r is not record
    )
    if old or old_records:
        return Replace(d.key, d, attempt, record, old, old_records)
    return Launch(d.key, d, attempt, record)
