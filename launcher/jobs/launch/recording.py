"""Recording: launcher's typed record of each request (launcher.core.record) written as GitHub
deployments, with statuses for GitHub's own pages (never read back)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from launcher.core.lifecycle import Desired, LastError, Record
from launcher.core.matching import Placement
from launcher.core.record import (
    SEEN_ENVIRONMENT,
    Event,
    EventKind,
    GroupRecord,
    Kind,
    PlacementRecord,
    RequestRecord,
    encode,
    seen_marker,
)
from launcher.core.text import clip
from launcher.core.times import utc_iso
from launcher.jobs.launch.common import TASK, Approval
from launcher.jobs.ports import GitHubPort


class Recorder:
    """Writes records as deployments of the run's task, and their statuses."""

    def __init__(
        self,
        gh: GitHubPort,
        console_url: Callable[[str, str], str | None],
        log_url: str | None,
    ) -> None:
        self.gh, self.console_url, self.log_url = gh, console_url, log_url

    def create(self, commit: str, key: str, payload: dict[str, Any], description: str) -> int:
        return self.gh.create_deployment(commit, key, payload, description, TASK)

    def launching(self, deployment: int, description: str) -> None:
        """`in_progress` (LAUNCHING), on a deployment just created (no status to read)."""
        self.gh.set_deployment_status(
            deployment, "in_progress", description, log_url=self.log_url, current=None
        )

    def queued(self, deployment: int, description: str) -> None:
        """`queued` (SCHEDULED), on a deployment just created."""
        self.gh.set_deployment_status(deployment, "queued", description, current=None)

    def retagged(self, deployment: int, description: str, region: str, key: str) -> None:
        """`success` on the record of a new expiry, linking the instances in the console."""
        self.gh.set_deployment_status(
            deployment,
            "success",
            description,
            log_url=self.log_url,
            environment_url=self.console_url(region, key),
            current=None,
        )

    def failed(self, deployment: int, error: LastError) -> None:
        self.gh.set_deployment_status(deployment, "failure", error.describe(), log_url=self.log_url)

    def running(
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
            log_url=self.log_url,
            environment_url=self.console_url(region, key),
            current=current,
        )
        return running

    def inactive(self, record: Record, description: str) -> None:
        self.gh.set_deployment_status(record.deployment_id, "inactive", description)

    def ended(self, last: Record, text: str, now: datetime, head: str, seen: str = "") -> None:
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
            events=(Event(EventKind.ENDED, now, "", head, text),),
            seen=seen or head,
        )
        deployment = self.create(last.commit, last.key, encode(record), f"ended {last.key}")
        self.gh.set_deployment_status(deployment, "inactive", text, current=None)

    def seen(self, head: str) -> None:
        """A `seen` marker of `head` (launcher.jobs.launch.readds): one deployment, no status
        (nothing reads it back but the next run's listing)."""
        self.gh.create_deployment(
            head, SEEN_ENVIRONMENT, encode(seen_marker(head)), f"seen {head[:7]}", TASK
        )


def payload(
    d: Desired,
    kind: Kind,
    approval: Approval | None,
    launched_at: datetime | None,
    until: datetime | None,
    attempt: int,
    **facts: Any,
) -> dict[str, Any]:
    """The deployment payload of a record of `d` (launcher.core.record.encode); its events
    are the approvals it rests on and what happened (`events` in `facts`)."""
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


def placement_record(placement: Placement, ids: dict[str, list[str]]) -> PlacementRecord:
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
