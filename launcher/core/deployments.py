"""launcher's GitHub deployments, as the list call returns them: the record every job reads.

The launch job writes one deployment per request version and outcome (`kind`: schedule, launch
or failure) under the task `launcher`, with the facts in its payload; the sweep records pull
requests it closed unmerged under `launcher-request`. Only the bot's own deployments are ever
listed (the adapter drops anyone else's), and a payload is untrusted shape-wise: every accessor
here reads through `launcher.core.record.decode`, which checks types and answers "absent"
rather than guessing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any, Literal

from launcher.core.lifecycle import LastError, Version
from launcher.core.matching import Location
from launcher.core.record import Listed, PlacementRecord, RequestRecord, decode

LAUNCH_TASK = "launcher"  # the launch job's deployments
REQUEST_TASK = "launcher-request"  # the sweep's records of pull requests closed unmerged

Kind = Literal["schedule", "launch", "failure", "ended", "seen"]  # "seen": never decoded


@dataclass(frozen=True)
class Deployment:
    """One deployment launcher created: its task, environment (`<pool>/<name>`), commit and
    payload, as listed (no status)."""

    id: int
    task: str
    environment: str
    sha: str
    payload: Mapping[str, Any]
    created_at: datetime | None = None

    @cached_property
    def record(self) -> RequestRecord | None:
        """The payload decoded (`launcher.core.record.decode`, the only reader): None when it
        is not launcher's record for this environment."""
        return decode(self.payload, self.environment)

    def listed(self) -> Listed | None:
        record = self.record
        return None if record is None else Listed(self.id, self.sha, record, self.created_at)

    @property
    def key(self) -> str | None:
        """The request (`<pool>/<name>`) of a deployment launcher recorded. None for anything
        else."""
        return self.record.key if self.record else None

    @property
    def kind(self) -> Kind | None:
        return self.record.kind.value if self.record else None

    @property
    def request_key(self) -> str:
        return self.record.key if self.record else ""

    @property
    def path(self) -> str:
        return self.record.path if self.record else ""

    @property
    def blob(self) -> str:
        """The git blob of the request file this deployment is about."""
        return self.record.blob if self.record else ""

    @property
    def pr(self) -> int | None:
        """The pull request that brought the request to the default branch."""
        return self.record.pr if self.record else None

    @property
    def requested_by(self) -> str:
        return self.record.requested_by if self.record else ""

    @property
    def approved_by(self) -> tuple[str, ...]:
        return self.record.approved_by if self.record else ()

    @property
    def failure(self) -> LastError | None:
        return self.record.failure if self.record else None

    @property
    def launch_commit(self) -> str:
        """The commit a `launch` deployment's instances are tagged with."""
        return (self.record.launch_commit if self.record else "") or self.sha

    @property
    def instance_ids(self) -> tuple[str, ...]:
        return self.record.instance_ids if self.record else ()

    @property
    def placement(self) -> PlacementRecord | None:
        return self.record.placement if self.record else None

    @property
    def location(self) -> Location | None:
        """Where the payload says the instances were placed, if it says."""
        return self.placement.location if self.placement else None

    @property
    def launch_at(self) -> datetime | None:
        return self.record.launch_at if self.record else None

    @property
    def launched_at(self) -> datetime | None:
        return self.record.launched_at if self.record else None

    @property
    def expires_at(self) -> datetime | None:
        return self.record.expires_at if self.record else None

    @property
    def max_runtime(self) -> timedelta | None:
        """The effective max_runtime the version was recorded with."""
        return self.record.max_runtime if self.record else None

    @property
    def version(self) -> Version | None:
        return self.record.version if self.record else None

    @property
    def attempt(self) -> int:
        return self.record.attempt if self.record else 0


def newest(deployments: Iterable[Deployment]) -> dict[str, Deployment]:
    """The newest deployment launcher recorded per request key (ids only grow)."""
    found: dict[str, Deployment] = {}
    for d in sorted(deployments, key=lambda d: d.id):
        key = d.key
        if key is not None:
            found[key] = d
    return found
