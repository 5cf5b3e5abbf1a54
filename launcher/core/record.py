"""The typed record launcher keeps of each request's life, and the one reading of it.

Every decision launcher takes on a request is written once, as a GitHub deployment whose payload
is `encode(RequestRecord)`, and read back only through `decode`: the launch job, the sweep and
the status views never look into a payload themselves. A record is immutable: a new state is a
new deployment, so a request's state is inferred from the list of its records and the fleet
(`infer`), with no deployment-status read.

Format 2 carries the failure's category as a field and typed events; format 1 (written before)
is still read: its `error` text is split into category and message once, here, and nowhere else.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from launcher.core.lifecycle import Category, LastError, RequestState, Version, parse_error
from launcher.core.matching import Location
from launcher.core.times import instant_or_none, utc_iso

FORMAT = 2  # written; every format up to this one is read
READABLE = frozenset({1, 2})


class Kind(Enum):
    """What a record says happened to the request version."""

    SCHEDULE = "schedule"  # approved, waits for launch_at
    LAUNCH = "launch"  # instances launched (or retagged): `placement` says where
    FAILURE = "failure"  # FAILED: `failure` says why
    ENDED = "ended"  # removed from main with nothing running: later identical re-adds are new
    SEEN = "seen"  # no request's: a run that recorded nothing saw main at `seen` (SEEN_ENVIRONMENT)


# The environment of launcher's `seen` markers: no "/", so never a request's <pool>/<name>.
SEEN_ENVIRONMENT = "launcher-seen"


class EventKind(Enum):
    """One decision on a request, kept in its record as its history."""

    APPROVED = "approved"
    REJECTED = "rejected"
    AUTO_REJECTED = "auto_rejected"
    STALE = "stale"
    SCHEDULED = "scheduled"
    LAUNCHED = "launched"
    FAILED = "failed"
    ENDED = "ended"


@dataclass(frozen=True)
class Event:
    kind: EventKind
    at: datetime | None = None
    by: str = ""  # who decided (an approver, a rejecting reviewer), or "" for launcher
    commit: str = ""  # the commit decided on
    text: str = ""  # the review's text, a failure's reason, how it ended

    def describe(self) -> str:
        when = f"{utc_iso(self.at)} " if self.at else ""
        who = f" by @{self.by}" if self.by else ""
        on = f" on {self.commit[:7]}" if self.commit else ""
        text = f": {self.text}" if self.text else ""
        return f"{when}{self.kind.value}{who}{on}{text}"


@dataclass(frozen=True)
class GroupRecord:
    name: str
    instance_type: str
    count: int = 0
    image_id: str = ""
    zone: str | None = None
    instance_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class PlacementRecord:
    """Where a version's instances were placed (one shape, whichever path launched them)."""

    region: str
    provider: str = ""
    role_arn: str | None = None
    groups: tuple[GroupRecord, ...] = ()

    @property
    def location(self) -> Location:
        return Location(self.region, self.role_arn or None)

    def describe(self) -> str:
        where = f"{self.provider} ({self.region})" if self.provider else self.region
        sizes = [
            f"{g.count or len(g.instance_ids)} × {g.instance_type or '?'}" for g in self.groups
        ]
        return f"{where}: {', '.join(sizes)}" if sizes else where


@dataclass(frozen=True, kw_only=True)
class RequestRecord:
    """One record of a request version: what was decided, with the facts of that decision."""

    kind: Kind
    key: str  # <pool>/<name>
    path: str = ""
    version: Version | None = None  # None only for the sweep's records of unmerged requests
    blob: str = ""  # the request file's git blob this record is about
    pr: int | None = None
    requested_by: str = ""
    approved_by: tuple[str, ...] = ()
    launch_at: datetime | None = None
    max_runtime: timedelta | None = None  # effective: the request's, else the pool's cap
    launched_at: datetime | None = None
    expires_at: datetime | None = None
    attempt: int = 0
    launch_commit: str = ""  # the commit the instances are tagged with
    placement: PlacementRecord | None = None
    instance_ids: tuple[str, ...] = ()
    failure: LastError | None = None
    events: tuple[Event, ...] = ()
    # the head of the default branch the run that wrote it had read: the newest one is where
    # the next run's look at the commits since starts (launcher.jobs.launch.readds)
    seen: str = ""

    @property
    def category(self) -> Category | None:
        return self.failure.category if self.failure else None


def encode(record: RequestRecord) -> dict[str, Any]:
    """The deployment payload (JSON) of a record: the only writer of launcher's payloads."""
    placement = record.placement
    return {
        "launcher": FORMAT,
        "kind": record.kind.value,
        "request": {"key": record.key, "path": record.path},
        "version": record.version.to_json() if record.version else None,
        "blob": record.blob,
        "pr": record.pr,
        "requested_by": record.requested_by or None,
        "approved_by": list(record.approved_by),
        "launch_at": utc_iso(record.launch_at) if record.launch_at else None,
        "max_runtime": record.max_runtime.total_seconds() if record.max_runtime else None,
        "launched_at": utc_iso(record.launched_at) if record.launched_at else None,
        "expires_at": utc_iso(record.expires_at) if record.expires_at else None,
        "attempt": record.attempt,
        "launch_commit": record.launch_commit or None,
        "placement": None
        if placement is None
        else {
            "provider": placement.provider,
            "region": placement.region,
            "role_arn": placement.role_arn,
            "groups": [
                {
                    "name": g.name,
                    "count": g.count,
                    "instance_type": g.instance_type,
                    "image_id": g.image_id,
                    "zone": g.zone,
                    "instance_ids": list(g.instance_ids),
                }
                for g in placement.groups
            ],
        },
        "instance_ids": list(record.instance_ids),
        "failure": None
        if record.failure is None
        else {"category": record.failure.category.value, "message": record.failure.message},
        "events": [
            {
                "kind": e.kind.value,
                "at": utc_iso(e.at) if e.at else None,
                "by": e.by,
                "commit": e.commit,
                "text": e.text,
            }
            for e in record.events
        ],
        "seen": record.seen or None,
    }


def decode(payload: Mapping[str, Any], environment: str) -> RequestRecord | None:
    """The record a payload holds, or None when it is not one of launcher's records for this
    environment (another format, another request, a broken shape). Untrusted shape-wise:
    every field is checked, nothing is guessed."""
    if payload.get("launcher") not in READABLE:
        return None
    request = payload.get("request")
    if not isinstance(request, dict) or request.get("key") != environment:
        return None
    kind = next((k for k in Kind if k.value == payload.get("kind")), None)
    if kind is None or kind is Kind.SEEN:  # a marker is no request's record (`seen_of`)
        return None
    version = Version.from_json(payload.get("version"))
    seconds = payload.get("max_runtime")
    return RequestRecord(
        kind=kind,
        key=environment,
        path=_text(request.get("path")),
        version=version,
        blob=_text(payload.get("blob")),
        pr=_int(payload.get("pr")),
        requested_by=_text(payload.get("requested_by")),
        approved_by=_strings(payload.get("approved_by")),
        launch_at=instant_or_none(payload.get("launch_at")),
        max_runtime=timedelta(seconds=seconds)
        if isinstance(seconds, int | float) and not isinstance(seconds, bool) and seconds > 0
        else None,
        launched_at=instant_or_none(payload.get("launched_at")),
        expires_at=instant_or_none(payload.get("expires_at")),
        attempt=_int(payload.get("attempt")) or 0,
        launch_commit=_text(payload.get("launch_commit")),
        placement=_placement(payload.get("placement")),
        instance_ids=_strings(payload.get("instance_ids")),
        failure=_failure(payload) if kind is Kind.FAILURE else None,
        events=_events(payload.get("events")),
        seen=_text(payload.get("seen")),
    )


def seen_marker(head: str) -> RequestRecord:
    """The marker a launch run writes when it looked at main's commits since the last seen
    head and planned nothing to record (launcher.jobs.launch.readds): the next run starts at
    `head`. Written through `encode` like every record; read only through `seen_of`."""
    return RequestRecord(kind=Kind.SEEN, key=SEEN_ENVIRONMENT, seen=head)


def seen_of(payload: Mapping[str, Any], environment: str) -> str:
    """The head a `seen` marker holds, or "" when the payload is not one."""
    if environment != SEEN_ENVIRONMENT or payload.get("launcher") not in READABLE:
        return ""
    request = payload.get("request")
    if not isinstance(request, dict) or request.get("key") != SEEN_ENVIRONMENT:
        return ""
    return _text(payload.get("seen")) if payload.get("kind") == Kind.SEEN.value else ""


def _failure(payload: Mapping[str, Any]) -> LastError:
    failure = payload.get("failure")
    if isinstance(failure, dict):
        category = next((c for c in Category if c.value == failure.get("category")), None)
        if category is not None:
            return LastError(category, _text(failure.get("message")))
    # format 1: "category: message" in `error`, split here once
    error = _text(payload.get("error"))
    return parse_error(error) or LastError(Category.LAUNCH_ERROR, error)


def _placement(data: Any) -> PlacementRecord | None:
    if not isinstance(data, dict) or not isinstance(data.get("region"), str):
        return None
    groups = []
    for g in data.get("groups") or ():
        if isinstance(g, dict) and isinstance(g.get("name"), str):
            groups.append(
                GroupRecord(
                    name=g["name"],
                    instance_type=_text(g.get("instance_type")),
                    count=_int(g.get("count")) or len(_strings(g.get("instance_ids"))),
                    image_id=_text(g.get("image_id")),
                    zone=g.get("zone") if isinstance(g.get("zone"), str) else None,
                    instance_ids=_strings(g.get("instance_ids")),
                )
            )
    return PlacementRecord(
        region=data["region"],
        provider=_text(data.get("provider")),
        role_arn=data.get("role_arn") if isinstance(data.get("role_arn"), str) else None,
        groups=tuple(groups),
    )


def _events(data: Any) -> tuple[Event, ...]:
    events = []
    for e in data if isinstance(data, list) else ():
        if not isinstance(e, dict):
            continue
        kind = next((k for k in EventKind if k.value == e.get("kind")), None)
        if kind is None:
            continue
        events.append(
            Event(
                kind,
                instant_or_none(e.get("at")),
                _text(e.get("by")),
                _text(e.get("commit")),
                _text(e.get("text")),
            )
        )
    return tuple(events)


def _text(value: object) -> str:
    return str(value) if value else ""


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _strings(value: object) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list | tuple) else ()


# --- the one inference of state ----------------------------------------------------------------


@dataclass(frozen=True)
class Inferred:
    """A record in the state the lists and the fleet show."""

    id: int  # the deployment
    commit: str  # the deployment's ref
    record: RequestRecord
    state: RequestState
    live: tuple[str, ...] = ()  # its instances on EC2 now
    superseded: bool = False  # a newer record of the request took its place


@dataclass(frozen=True)
class Listed:
    """A record as listed: the deployment id and ref it came with."""

    id: int
    commit: str
    record: RequestRecord
    created_at: datetime | None = field(default=None, compare=False)


def infer(
    records: Iterable[Listed],
    live_ids: Iterable[str],
    live_commits: Iterable[tuple[str, str]],
    now: datetime,
) -> list[Inferred]:
    """Every record's state, from the records and the fleet alone (no status read).

    Per request, newest first: a `failure` is FAILED; the newest record that is not a failure
    is the request's anchor (what runs or waits now, or how it ended); a `launch` with instances
    on EC2 (its ids; for the anchor, its launch commit's tag too) is RUNNING, one with none
    left is EXPIRED past its `expires_at`, else TERMINATED (instances a newer record names, as
    a retag does, are the newer record's); a `schedule` anchor is SCHEDULED, an older one
    TERMINATED; an `ended` record is TERMINATED. Used by the launch reconcile, the sweep and
    the status views, so they cannot disagree.
    """
    ids = set(live_ids)
    commits = set(live_commits)
    per_key: dict[str, list[Listed]] = {}
    for item in sorted(records, key=lambda r: r.id):
        per_key.setdefault(item.record.key, []).append(item)
    found: list[Inferred] = []
    for key, items in per_key.items():
        anchored = False
        claimed: set[str] = set()  # instance ids a newer record of the request names
        for item in reversed(items):
            r = item.record
            live = tuple(i for i in r.instance_ids if i in ids and i not in claimed)
            claimed.update(r.instance_ids)
            tagged = (key, r.launch_commit or item.commit) in commits
            if r.kind is Kind.FAILURE:
                state = RequestState.FAILED
            elif r.kind is Kind.LAUNCH and (live or (tagged and not anchored)):
                state = RequestState.RUNNING
            elif r.kind is Kind.LAUNCH:
                ended = r.expires_at is not None and r.expires_at <= now
                state = RequestState.EXPIRED if ended else RequestState.TERMINATED
            elif r.kind is Kind.SCHEDULE and not anchored:
                state = RequestState.SCHEDULED
            else:
                state = RequestState.TERMINATED
            found.append(Inferred(item.id, item.commit, r, state, live, anchored))
            if r.kind is not Kind.FAILURE:
                anchored = True
    return sorted(found, key=lambda i: i.id)


def history(records: Iterable[Listed]) -> dict[str, tuple[Event, ...]]:
    """Each request's events, oldest first, across its records: its history."""
    found: dict[str, list[Event]] = {}
    for item in sorted(records, key=lambda r: r.id):
        found.setdefault(item.record.key, []).extend(item.record.events)
    return {key: tuple(events) for key, events in found.items()}


def with_events(record: RequestRecord, *events: Event) -> RequestRecord:
    return replace(record, events=record.events + events)
