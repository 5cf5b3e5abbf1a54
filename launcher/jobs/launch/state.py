"""What one launch run holds while it reads, checks, places and records (see `_Run`)."""

from __future__ import annotations

from datetime import datetime
from typing import TextIO

from launcher.adapters.github import GitHub
from launcher.core.compute import Compute
from launcher.core.fleet import FleetInstance
from launcher.core.lifecycle import Record
from launcher.core.matching import Catalogues
from launcher.core.model import LaunchRequest, Policy
from launcher.core.pulls import Pull
from launcher.core.quota import Usage
from launcher.jobs.launch.common import LaunchOptions, LaunchReport
from launcher.jobs.launch.rechecks import PullDecisions


class _State:
    """The run's inputs and what it has read or changed so far; each concern below is one
    layer of `_Run` (views, approval, placement, notifying, recording, applying)."""

    def __init__(
        self, gh: GitHub, ec2: Compute, options: LaunchOptions, report: LaunchReport, out: TextIO
    ) -> None:
        self.gh, self.ec2, self.options, self.report, self.out = gh, ec2, options, report, out
        self.now = options.now
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
        self.checks = PullDecisions.new(gh, b"")  # main's pools.yaml: set by run()
        self._freed: set[str] = set()  # instance ids terminated (and uncounted) in this run
        self._launched_at: datetime | None = None  # LaunchTime of the last _run_groups
        self._volumes: tuple[str, ...] = ()
