"""The record of requests whose pull request closed unmerged: FAILED `auto_rejected` or
`stale` when the sweep closes it, FAILED `rejected` (with who rejected it and why) whenever an
approver's rejection stands at the close, whoever closed it (the sweep, or the requester, seen
by the gate on `closed`). One writer for both jobs, through the one encoder (core/record.py),
under launcher's own identity: only its own deployments are read back, so a writer's copy is
never taken for launcher's record.
"""

from __future__ import annotations

from collections.abc import Callable

from launcher.core.deployments import REQUEST_TASK
from launcher.core.documents import request_key
from launcher.core.gate import Decision, ItemKind, State
from launcher.core.lifecycle import Category, LastError
from launcher.core.pulls import Pull
from launcher.core.record import Event, EventKind, Kind, RequestRecord, encode
from launcher.core.text import clip
from launcher.jobs.ports import GitHubPort


def closed_records(
    gh: GitHubPort,
    info: Pull,
    decision: Decision,
    category: str,
    reason: str,
    *,
    rejected_only: bool = False,
) -> list[tuple[str, Callable[[], None]]]:
    """(what, write) for each waiting request of the closed pull request `info` not yet
    recorded at its head. A request an approver rejected is FAILED `rejected` with the
    rejections as events; the others FAILED `category` (`auto_rejected` or `stale`) with
    `reason`, unless `rejected_only` (the requester closed it: nothing else to record)."""
    items = []
    for item in decision.items:
        key = request_key(item.path)
        if item.kind is ItemKind.REQUEST and key and item.state in (State.PENDING, State.FAILURE):
            rejected = bool(item.tally and item.tally.rejected_by)
            if rejected or not rejected_only:
                items.append((key, item))
    if not items:
        return []
    done = {(d.environment, d.sha) for d in gh.deployments(REQUEST_TASK)}
    writes: list[tuple[str, Callable[[], None]]] = []
    for key, item in items:
        if (key, info.head_sha) in done:
            continue
        rejections = item.tally.rejected_by if item.tally else ()
        events: tuple[Event, ...]
        if rejections:
            failure = LastError(Category.REJECTED, f"#{info.number}: {item.summary}")
            events = tuple(
                Event(EventKind.REJECTED, None, r.user, r.commit_id, clip(r.body.strip(), 500))
                for r in rejections
            )
        else:
            failure = LastError(Category(category), reason)
            kind = EventKind.STALE if category == Category.STALE.value else EventKind.AUTO_REJECTED
            events = (Event(kind, None, "", info.head_sha, reason),)
        error = failure.describe()
        payload = encode(
            RequestRecord(
                kind=Kind.FAILURE,
                key=key,
                path=item.path,
                pr=info.number,
                requested_by=info.author,
                failure=failure,
                events=events,
            )
        )

        def record(
            key: str = key, payload: dict[str, object] = payload, error: str = error
        ) -> None:
            deployment = gh.create_deployment(info.head_sha, key, payload, error, REQUEST_TASK)
            gh.set_deployment_status(deployment, "failure", error, current=None)

        writes.append((f"record {key} as FAILED ({failure.category.value})", record))
    return writes
