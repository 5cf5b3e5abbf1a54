"""Recording: launcher's typed record of each request (launcher.core.record) written as
GitHub deployments and their statuses."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from launcher.core.gate_report import untrusted
from launcher.core.lifecycle import LIVE, Desired, LastError, Record, RequestState
from launcher.core.matching import Placement
from launcher.core.record import (
    Event,
    EventKind,
    GroupRecord,
    Kind,
    PlacementRecord,
    RequestRecord,
    encode,
)
from launcher.core.text import clip
from launcher.core.times import utc_iso
from launcher.jobs.launch.common import TASK, Approval
from launcher.jobs.launch.notifying import _Notifying


class _Recording(_Notifying):
    """Records as deployments and deployment statuses."""

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
