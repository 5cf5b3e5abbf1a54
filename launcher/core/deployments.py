"""launcher's GitHub deployments, as the list call returns them: the record every job reads.

The launch job writes one deployment per request version and outcome (`kind`: schedule, launch
or failure) under the task `launcher`, with the facts in its payload; the sweep records pull
requests it closed unmerged under `launcher-request`. Only the bot's own deployments are ever
listed (the adapter drops anyone else's), and a payload is untrusted shape-wise: every accessor
here checks types and answers "absent" rather than guessing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from launcher.core.lifecycle import Version
from launcher.core.matching import Location
from launcher.core.times import instant_or_none

LAUNCH_TASK = "launcher"  # the launch job's deployments
REQUEST_TASK = "launcher-request"  # the sweep's records of pull requests closed unmerged

Kind = Literal["schedule", "launch", "failure"]
KINDS: tuple[Kind, ...] = ("schedule", "launch", "failure")


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

    @property
    def key(self) -> str | None:
        """The request (`<pool>/<name>`) of a deployment launcher recorded: marked, with a
        request for its own environment. None for anything else."""
        request = self.payload.get("request")
        if self.payload.get("launcher") != 1 or not isinstance(request, dict):
            return None
        return self.environment if request.get("key") == self.environment else None

    @property
    def kind(self) -> Kind | None:
        kind = self.payload.get("kind")
        return next((k for k in KINDS if k == kind), None)

    @property
    def request_key(self) -> str:
        """The request the payload names (checked against the environment by `key`)."""
        request = self.payload.get("request")
        return str(request.get("key")) if isinstance(request, dict) else ""

    @property
    def path(self) -> str:
        request = self.payload.get("request")
        return str(request.get("path") or "") if isinstance(request, dict) else ""

    @property
    def blob(self) -> str:
        """The git blob of the request file this deployment is about."""
        return _text(self.payload.get("blob"))

    @property
    def pr(self) -> int | None:
        """The pull request that brought the request to the default branch."""
        pr = self.payload.get("pr")
        return pr if isinstance(pr, int) and not isinstance(pr, bool) else None

    @property
    def requested_by(self) -> str:
        return _text(self.payload.get("requested_by"))

    @property
    def approved_by(self) -> tuple[str, ...]:
        return tuple(str(a) for a in self.payload.get("approved_by") or ())

    @property
    def error(self) -> str:
        """A `failure` deployment's error, `category: message`."""
        return _text(self.payload.get("error"))

    @property
    def launch_commit(self) -> str:
        """The commit a `launch` deployment's instances are tagged with."""
        return _text(self.payload.get("launch_commit")) or self.sha

    @property
    def instance_ids(self) -> tuple[str, ...]:
        return tuple(str(i) for i in self.payload.get("instance_ids") or ())

    @property
    def placement(self) -> Mapping[str, Any] | None:
        placement = self.payload.get("placement")
        return placement if isinstance(placement, dict) else None

    @property
    def location(self) -> Location | None:
        """Where the payload says the instances were placed, if it says."""
        placement = self.placement
        if placement is None or not isinstance(placement.get("region"), str):
            return None
        return Location(placement["region"], placement.get("role_arn") or None)

    @property
    def launch_at(self) -> datetime | None:
        return instant_or_none(self.payload.get("launch_at"))

    @property
    def launched_at(self) -> datetime | None:
        return instant_or_none(self.payload.get("launched_at"))

    @property
    def expires_at(self) -> datetime | None:
        return instant_or_none(self.payload.get("expires_at"))

    @property
    def max_runtime(self) -> timedelta | None:
        """The effective max_runtime the version was recorded with."""
        seconds = self.payload.get("max_runtime")
        if isinstance(seconds, int | float) and not isinstance(seconds, bool) and seconds > 0:
            return timedelta(seconds=seconds)
        return None

    @property
    def version(self) -> Version | None:
        return Version.from_json(self.payload.get("version"))

    @property
    def attempt(self) -> int:
        attempt = self.payload.get("attempt")
        return attempt if isinstance(attempt, int) and not isinstance(attempt, bool) else 0


def newest(deployments: Iterable[Deployment]) -> dict[str, Deployment]:
    """The newest deployment launcher recorded per request key (ids only grow)."""
    found: dict[str, Deployment] = {}
    for d in sorted(deployments, key=lambda d: d.id):
        key = d.key
        if key is not None:
            found[key] = d
    return found


def _text(value: object) -> str:
    return str(value) if value else ""
