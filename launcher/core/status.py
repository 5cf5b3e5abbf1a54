"""Where every launch request stands: the view behind `launcher status`, `pending` and `report`.

Pure. The job hands in what list calls return (open pull requests, launcher's deployments with
their payloads, the EC2 fleet, main's tree and pools.yaml) and this infers each request's state
from them, so the cost of a run grows with pages of lists, not with the number of requests:

- an open pull request labelled `launch:pending-approval` is PENDING_APPROVAL, one labelled
  `launch:rejected` is REJECTED (the gate keeps those labels current);
- the newest deployment of a request decides the rest: a `launch` whose instances are on EC2 is
  RUNNING; whose instances are gone is EXPIRED when its `expires_at` has passed, else
  TERMINATED (removed from main, or replaced); a `failure` is FAILED with its payload's
  `error`, unless main's file is again that of the version a failed replacement left running
  (the failed change reverted): then that version's row, RUNNING, the failure in its history;
  a `schedule` whose `launch_at` is ahead is SCHEDULED;
- a `schedule` that is still the newest record waits (a launch or a failure is always a
  newer record), so no deployment status is ever read;
- a request on main that no deployment records yet is LAUNCHING (the launch job has not
  recorded it, or instances are up and the record is missing).

The gate's decisions, when a command paid for them (one `decide_pull` per waiting pull request),
add the pool, the request and the approvals counted to pending rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal

from launcher.core.deployments import LAUNCH_TASK, REQUEST_TASK, Deployment, newest
from launcher.core.documents import request_key, request_path
from launcher.core.fleet import FleetInstance
from launcher.core.gate import LABELS, Decision, ItemKind, State
from launcher.core.lifecycle import LastError, RequestState
from launcher.core.model import Policy, Quota
from launcher.core.permissions import TeamResolver, approvers, display_principals
from launcher.core.pulls import Pull
from launcher.core.quota import Usage, count_usage
from launcher.core.record import Event, Inferred, history, infer
from launcher.core.sweep import KEEP_OPEN

# Display order: what needs someone first, what is over last.
ORDER = (
    RequestState.PENDING_APPROVAL,
    RequestState.REJECTED,
    RequestState.SCHEDULED,
    RequestState.LAUNCHING,
    RequestState.RUNNING,
    RequestState.FAILED,
    RequestState.EXPIRED,
    RequestState.TERMINATED,
)
WAITING = frozenset({RequestState.PENDING_APPROVAL, RequestState.REJECTED})

# What a row's state was read from: the gate's labels, the gate's decision, EC2, launcher's
# deployment payload, a deployment status, or main's tree.
Source = Literal["labels", "gate", "ec2", "payload", "status", "tree", ""]
# Which deadline closes a waiting request: its launch time, or its pool's request_ttl.
Deadline = Literal["launch_at", "request_ttl", ""]


@dataclass(frozen=True)
class Approvals:
    """The gate's count for one waiting request."""

    approved_by: tuple[str, ...]
    missing: int
    required: int
    stale: tuple[str, ...] = ()
    rejected_by: tuple[str, ...] = ()
    reason: str = ""  # the rejecting review's text, or the gate's summary


@dataclass(frozen=True)
class RequestStatus:
    """One row: a request (or an open pull request whose files were not read)."""

    key: str  # <pool>/<name>; "#N" for a pull request listed only
    state: RequestState
    pool: str | None
    requester: str = ""
    approvers: tuple[str, ...] = ()  # @login and @org/team mentions
    pr: int | None = None
    pr_url: str = ""
    deployment_id: int | None = None
    environment: str = ""
    placement: str = ""
    instances: int = 0  # launcher's instances of this request on EC2 now
    created_at: datetime | None = None  # pull request opened, or deployment recorded
    launch_at: datetime | None = None
    expires_at: datetime | None = None
    rejects_at: datetime | None = None  # when the sweep auto-rejects or closes it
    rejects_why: Deadline = ""
    last_error: LastError | None = None
    approvals: Approvals | None = None
    source: Source = ""
    note: str = ""
    history: tuple[Event, ...] = ()  # every decision launcher recorded, oldest first

    @property
    def waiting(self) -> bool:
        return self.state in WAITING

    @property
    def deadline(self) -> datetime | None:
        """The next time this row changes by itself: auto-rejection, launch, or expiry."""
        if self.waiting:
            return self.rejects_at
        if self.state is RequestState.SCHEDULED:
            return self.launch_at
        if self.state in (RequestState.RUNNING, RequestState.LAUNCHING):
            return self.expires_at
        return None

    def time_left(self, now: datetime) -> timedelta | None:
        deadline = self.deadline
        return None if deadline is None else deadline - now


@dataclass(frozen=True)
class PoolStatus:
    name: str
    description: str
    approvers: tuple[str, ...]
    approvals_required: int
    quota: Quota | None
    used: Usage | None  # None: EC2 was not read
    request_ttl: timedelta | None = None
    max_runtime: timedelta | None = None


@dataclass(frozen=True)
class Overview:
    now: datetime
    requests: tuple[RequestStatus, ...]
    pools: tuple[PoolStatus, ...]
    notes: tuple[str, ...] = ()
    ec2_read: bool = True

    def only_pool(self, pool: str) -> Overview:
        return replace(
            self,
            requests=tuple(r for r in self.requests if r.pool == pool),
            pools=tuple(p for p in self.pools if p.name == pool),
        )

    def by_state(self, *states: RequestState) -> list[RequestStatus]:
        return [r for r in self.requests if r.state in states]


# --- deployments ---------------------------------------------------------------------------


# --- the overview --------------------------------------------------------------------------


@dataclass
class _Inputs:
    policy: Policy
    now: datetime
    fleet: list[FleetInstance] | None
    files: Mapping[str, str] | None
    open_numbers: set[int] = field(default_factory=set)
    inferred: Mapping[int, Inferred] = field(default_factory=dict)  # per deployment id
    # per key, the newest record that is not a failure: what runs or waits (or how it ended)
    anchors: Mapping[str, Deployment] = field(default_factory=dict)
    history: Mapping[str, tuple[Event, ...]] = field(default_factory=dict)


def build(
    policy: Policy,
    now: datetime,
    *,
    pulls: Sequence[Pull] = (),
    decisions: Mapping[int, Decision] | None = None,
    deployments: Iterable[Deployment] = (),
    fleet: Sequence[FleetInstance] | None = None,
    files: Mapping[str, str] | None = None,
    notes: Iterable[str] = (),
) -> Overview:
    """Every request's state, and each pool's quota use.

    `fleet` None means EC2 was not read: RUNNING, TERMINATED and EXPIRED then come from the
    records and main's tree alone (said in the notes). `decisions` holds the gate's decisions
    per pull request number. Records are read through `launcher.core.record.infer`, the one
    inference the launch job and the sweep use too.
    """
    inputs = _Inputs(
        policy,
        now,
        list(fleet) if fleet is not None else None,
        files,
        {p.number for p in pulls},
    )
    rows: list[RequestStatus] = []
    for pull in sorted(pulls, key=lambda p: p.number):
        if not pull.waiting:
            continue
        decision = (decisions or {}).get(pull.number)
        if decision is not None and decision.state is not State.ERROR:
            rows.extend(_decided_rows(pull, decision, inputs))
        else:
            note = f"the gate could not decide: {decision.error}" if decision else ""
            rows.append(_listed_row(pull, inputs, note))
    listed = list(deployments)
    latest = newest(listed)
    records = [i for d in listed if (i := d.listed()) is not None]
    inputs.history = history(records)
    if inputs.fleet is not None:
        launch_records = [i for i in records if i.record.version is not None]
        inputs.inferred = {
            i.id: i
            for i in infer(
                launch_records,
                (i.instance_id for i in inputs.fleet),
                ((i.key, i.commit) for i in inputs.fleet),
                now,
            )
        }
    inputs.anchors = _anchors(listed)
    for key, d in sorted(latest.items()):
        row = _deployed_row(key, d, inputs)
        if row is not None:
            rows.append(row)
    rows.extend(_unrecorded_rows(latest, inputs))
    all_notes = list(notes)
    if inputs.fleet is None:
        all_notes.append(
            "EC2 was not read: instance counts and quota use are unknown; RUNNING, TERMINATED "
            "and EXPIRED are inferred from launcher's records and the default branch"
        )
    else:
        all_notes.extend(_orphan_notes(latest, inputs))
    rows.sort(key=lambda r: (ORDER.index(r.state), r.pool or "", r.key, r.pr or 0))
    return Overview(now, tuple(rows), _pools(inputs), tuple(all_notes), inputs.fleet is not None)


def _pool_approvers(policy: Policy, pool: str | None) -> tuple[str, ...]:
    if pool is None or pool not in policy.pools:
        return ()
    return tuple(display_principals(policy.pools[pool].permissions.modify, policy))


def _deadline(
    pull: Pull, launch_at: datetime | None, pool: str | None, policy: Policy
) -> tuple[datetime | None, Deadline]:
    """When the sweep auto-rejects (launch_at) or closes (request_ttl) this pull request."""
    options: list[tuple[datetime, Deadline]] = []
    if launch_at is not None:
        options.append((launch_at, "launch_at"))
    ttl = policy.pools[pool].request_ttl if pool is not None and pool in policy.pools else None
    if ttl is not None and KEEP_OPEN not in pull.labels:
        options.append((pull.created_at + ttl, "request_ttl"))
    return min(options) if options else (None, "")


def _label_state(pull: Pull) -> RequestState:
    if LABELS["rejected"] in pull.labels:
        return RequestState.REJECTED
    return RequestState.PENDING_APPROVAL


def _listed_row(pull: Pull, inputs: _Inputs, note: str) -> RequestStatus:
    """A waiting pull request known only from the list: its files were not read, so its pool
    is unknown; the reviewers the gate asked stand for its approvers."""
    rejects_at, why = _deadline(pull, pull.launch_at, None, inputs.policy)
    return RequestStatus(
        key=f"#{pull.number}",
        state=_label_state(pull),
        pool=None,
        requester=pull.author,
        approvers=pull.requested,
        pr=pull.number,
        pr_url=pull.html_url,
        created_at=pull.created_at,
        launch_at=pull.launch_at,
        rejects_at=rejects_at,
        rejects_why=why,
        source="labels",
        note=note or "files not read: `launcher pending` shows its pool and approvals",
    )


def _decided_rows(pull: Pull, decision: Decision, inputs: _Inputs) -> list[RequestStatus]:
    rows = []
    for item in decision.items:
        key = request_key(item.path)
        if item.kind is not ItemKind.REQUEST or key is None:
            continue
        rejected = bool(item.tally and item.tally.rejected_by)
        if item.state is State.PENDING:
            state = RequestState.PENDING_APPROVAL
        elif item.state is State.FAILURE and rejected:
            state = RequestState.REJECTED
        else:
            continue  # approved, invalid or refused: not waiting for an approver
        counted = None
        if item.tally is not None:
            t = item.tally
            counted = Approvals(
                t.approved_by,
                t.missing,
                t.required,
                t.stale,
                tuple(r.user for r in t.rejected_by),
                t.rejected_by[0].body.strip() if t.rejected_by else "",
            )
        rejects_at, why = _deadline(pull, item.launch_at, item.pool, inputs.policy)
        rows.append(
            RequestStatus(
                key=key,
                state=state,
                pool=item.pool,
                requester=pull.author,
                approvers=item.approvers or _pool_approvers(inputs.policy, item.pool),
                pr=pull.number,
                pr_url=pull.html_url,
                created_at=pull.created_at,
                launch_at=item.launch_at,
                rejects_at=rejects_at,
                rejects_why=why,
                approvals=counted,
                source="gate",
            )
        )
    return rows


def _on_main(key: str, files: Mapping[str, str] | None) -> bool | None:
    return None if files is None else request_path(key) in files


def _live(inputs: _Inputs, key: str) -> list[FleetInstance]:
    return [i for i in inputs.fleet or () if i.key == key]


def _deployed_row(key: str, d: Deployment, inputs: _Inputs) -> RequestStatus | None:
    if d.task == REQUEST_TASK and d.pr in inputs.open_numbers:
        return None  # the closed pull request was reopened: its open row says where it is
    pool = key.partition("/")[0]
    live_all = _live(inputs, key)
    row = RequestStatus(
        key=key,
        state=RequestState.FAILED,
        pool=pool,
        requester=d.requested_by,
        approvers=_pool_approvers(inputs.policy, pool),
        pr=d.pr,
        deployment_id=d.id,
        environment=d.environment,
        placement=d.placement.describe() if d.placement else "",
        created_at=d.created_at,
        launch_at=d.launch_at,
        expires_at=d.expires_at,
        source="payload",
        history=inputs.history.get(key, ()),
    )
    on_main = _on_main(key, inputs.files)
    if d.kind == "failure":
        back = _back_to_running(key, d, inputs)
        if back is not None:
            return back
        running = len(live_all)
        note = f"the previous version keeps running ({running} instances)" if running else ""
        return replace(row, last_error=d.failure, instances=running, note=note)
    if d.kind == "schedule":
        return _scheduled(row, on_main, inputs)
    if d.kind == "ended":
        return replace(
            row, state=RequestState.TERMINATED, source="payload", note="removed from main"
        )
    if d.kind != "launch":
        return None
    inferred = inputs.inferred.get(d.id)
    return _launched(row, inferred, live_all, on_main, inputs)


def _anchors(listed: Iterable[Deployment]) -> dict[str, Deployment]:
    """Per request, launcher's newest record that is not a failure."""
    found: dict[str, Deployment] = {}
    for d in sorted(listed, key=lambda d: d.id):
        if d.task == LAUNCH_TASK and d.key is not None and d.kind != "failure":
            found[d.key] = d
    return found


def _back_to_running(key: str, failure: Deployment, inputs: _Inputs) -> RequestStatus | None:
    """A failed replacement leaves the version before it running; when main holds that
    version's file again (the failed change reverted), the request is what runs: RUNNING, the
    failure a past attempt (in its history, and named in the note). None otherwise: the
    failure is what main asks for."""
    anchor = inputs.anchors.get(key)
    if anchor is None or anchor.kind != "launch" or not anchor.blob or inputs.files is None:
        return None
    if inputs.files.get(request_path(key)) != anchor.blob:
        return None
    row = _deployed_row(key, anchor, inputs)
    if row is None or row.state is not RequestState.RUNNING:
        return None
    error = failure.failure.describe() if failure.failure else "failed"
    note = f"a later version failed ({error}); the default branch is back to this one"
    return replace(row, note=f"{row.note}; {note}" if row.note else note)


def _ended(
    row: RequestStatus, on_main: bool | None, now: datetime, source: Source
) -> RequestStatus:
    if row.expires_at is not None and row.expires_at <= now:
        return replace(row, state=RequestState.EXPIRED, source=source, note="max_runtime reached")
    note = "removed from main" if on_main is False else "replaced or ended"
    return replace(row, state=RequestState.TERMINATED, source=source, note=note)


def _launched(
    row: RequestStatus,
    inferred: Inferred | None,
    live_all: list[FleetInstance],
    on_main: bool | None,
    inputs: _Inputs,
) -> RequestStatus:
    now = inputs.now
    if inputs.fleet is None or inferred is None:  # no EC2: the record and main's tree only
        if on_main is False or (row.expires_at is not None and row.expires_at <= now):
            return _ended(row, on_main, now, "payload")
        return replace(row, state=RequestState.RUNNING, note="EC2 not read")
    ids = set(inferred.live)
    live = [
        i for i in live_all if i.instance_id in ids or i.commit == inferred.record.launch_commit
    ]
    if inferred.state is not RequestState.RUNNING or not live:
        return _ended(row, on_main, now, "ec2")
    expires = min((i.expires_at for i in live if i.expires_at), default=row.expires_at)
    note = ""
    if expires is not None and expires <= now:
        note = "past its max_runtime: the next sweep ends it"
    elif on_main is False:
        note = "removed from main: the next launch run ends it"
    return replace(
        row,
        state=RequestState.RUNNING,
        instances=len(live),
        expires_at=expires,
        source="ec2",
        note=note,
    )


def _scheduled(row: RequestStatus, on_main: bool | None, inputs: _Inputs) -> RequestStatus:
    """The newest record is a `schedule`: a launch or a failure would be a newer record, so it
    still waits (for its time, or for the next sweep)."""
    if on_main is False:
        return replace(row, state=RequestState.TERMINATED, source="tree", note="removed from main")
    if row.launch_at is not None and row.launch_at > inputs.now:
        return replace(row, state=RequestState.SCHEDULED)
    return replace(row, state=RequestState.SCHEDULED, note="launch due: the next sweep launches it")


def _unrecorded_rows(latest: Mapping[str, Deployment], inputs: _Inputs) -> list[RequestStatus]:
    """Requests on main that launcher has not recorded (any task) yet."""
    rows = []
    for path in sorted(inputs.files or {}):
        key = request_key(path)
        if key is None:
            continue
        pool = key.partition("/")[0]
        d = latest.get(key)
        if d is not None and d.task == LAUNCH_TASK:
            continue
        live = _live(inputs, key)
        note = (
            "instances are up but not recorded: the next launch run records them"
            if live
            else "on main, not yet handled by the launch job"
        )
        rows.append(
            RequestStatus(
                key=key,
                state=RequestState.LAUNCHING,
                pool=pool,
                approvers=_pool_approvers(inputs.policy, pool),
                instances=len(live),
                expires_at=min((i.expires_at for i in live if i.expires_at), default=None),
                source="ec2" if live else "tree",
                note=note,
            )
        )
    return rows


def _orphan_notes(latest: Mapping[str, Deployment], inputs: _Inputs) -> list[str]:
    known = set(latest)
    known.update(key for key in map(request_key, inputs.files or {}) if key is not None)
    orphans: dict[str, int] = {}
    for i in inputs.fleet or ():
        if i.key not in known:
            orphans[i.key or "(untagged)"] = orphans.get(i.key or "(untagged)", 0) + 1
    return [
        f"orphaned instances of {key} ({n}): no request or record; see `launcher sweep`"
        for key, n in sorted(orphans.items())
    ]


def _pools(inputs: _Inputs) -> tuple[PoolStatus, ...]:
    usage = count_usage(inputs.fleet) if inputs.fleet is not None else None
    return tuple(
        PoolStatus(
            name=name,
            description=pool.description,
            approvers=_pool_approvers(inputs.policy, name),
            approvals_required=pool.approvals_required,
            quota=pool.quota,
            used=usage.get(name, Usage()) if usage is not None else None,
            request_ttl=pool.request_ttl,
            max_runtime=pool.max_runtime,
        )
        for name, pool in sorted(inputs.policy.pools.items())
    )


# --- filters for `launcher pending` ------------------------------------------------------


def can_approve(row: RequestStatus, login: str, policy: Policy, teams: TeamResolver) -> bool:
    """Whether `login` can still approve `row`: an approver of its pool (teams and groups
    expanded), not its requester, and not already counted. Raises MembershipUnknown when a
    team that could decide it cannot be read."""
    if row.pool is None or row.pool not in policy.pools:
        return False
    who = login.casefold()
    if who == row.requester.casefold():
        return False
    if row.approvals and who in {a.casefold() for a in row.approvals.approved_by}:
        return False
    return who in approvers(policy.pools[row.pool], policy, teams)


def soonest(rows: Iterable[RequestStatus]) -> list[RequestStatus]:
    """Waiting requests by their auto-rejection time (none last), then by request."""
    return sorted(rows, key=lambda r: (r.rejects_at is None, r.rejects_at or datetime.min, r.key))


# --- formatting helpers shared by the text, JSON and HTML views ----------------------------


def short_duration(value: timedelta | None) -> str:
    """`3d 4h`, `5h 10m`, `12m`: the two largest units, rounded down; negatives as `overdue`."""
    if value is None:
        return ""
    seconds = int(value.total_seconds())
    if seconds < 0:
        return "overdue"
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    return f"{minutes}m"


def state_label(row: RequestStatus) -> str:
    """`RUNNING`, or `FAILED (quota)` with the failure's category."""
    name = row.state.name
    if row.state is RequestState.FAILED and row.last_error is not None:
        return f"{name} ({row.last_error.category.value})"
    return name
