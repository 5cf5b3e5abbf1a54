"""One run: read the three views, plan (launcher.core.lifecycle.plan), apply."""

from __future__ import annotations

import sys
from typing import TextIO

from launcher.adapters.github import GitHub, GitHubError
from launcher.core.compute import Compute, ComputeError
from launcher.core.documents import load_policy
from launcher.core.fleet import fleet_locations, fleets_of
from launcher.core.gate import POLICY_PATH
from launcher.core.lifecycle import plan
from launcher.core.quota import count_usage
from launcher.core.text import clip
from launcher.jobs.launch.applying import _Applying
from launcher.jobs.launch.common import TASK, LaunchOptions, LaunchReport, Transient
from launcher.jobs.launch.rechecks import PullDecisions


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
    if not options.dry_run:
        gh.settings.append_summary(report.summary())
    return report


class _Run(_Applying):
    """One reconcile: read, plan, apply."""

    # --- reading the three views ----------------------------------------------------------------

    def run(self) -> None:
        self.branch, self.head = self.gh.default_head()
        self.files = self.gh.tree(self.head)
        policy_blob = self.files.get(POLICY_PATH)
        policy_raw = self.gh.blob(policy_blob) if policy_blob else b""
        policy = load_policy(policy_raw)[0] if policy_blob else None
        self.checks = PullDecisions.new(self.gh, policy_raw)  # judged again under main's
        if policy is None:
            raise Transient(f"{POLICY_PATH} on {self.branch} is missing or invalid: no action")
        self.policy = policy
        listed = self.gh.deployments(TASK)
        desired = self._desired(listed)
        self.fleet = self.ec2.fleet(fleet_locations(policy, listed))
        self.records = self._records(listed)
        self.report.records = list(self.records)
        self.usage = count_usage(self.fleet)
        fleets = fleets_of(i for i in self.fleet if i.key)
        actions = plan(desired, self.records, fleets, self.now, retry=self.options.retry)
        self.report.planned = actions
        self._execute(actions)
