"""One run: read the three views, plan (a pure function of them), apply."""

from __future__ import annotations

import sys
from typing import TextIO

from launcher.adapters.github import GitHubError
from launcher.core.compute import Compute, ComputeError
from launcher.core.quota import count_usage
from launcher.core.text import clip
from launcher.jobs.launch.applying import Act, apply
from launcher.jobs.launch.common import LaunchOptions, LaunchReport, Transient
from launcher.jobs.launch.notifying import Notifier
from launcher.jobs.launch.placement import Ledger, Placer
from launcher.jobs.launch.plan import plan_run
from launcher.jobs.launch.recording import Recorder
from launcher.jobs.launch.views import read_views
from launcher.jobs.ports import GitHubPort


def run_launch(
    gh: GitHubPort, ec2: Compute, options: LaunchOptions, out: TextIO = sys.stdout
) -> LaunchReport:
    """One reconcile. The sweep calls this with its `now` to launch due SCHEDULED requests
    and terminate expired ones (both are part of the plan)."""
    report = LaunchReport()
    try:
        reconcile(gh, ec2, options, report)
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


def reconcile(gh: GitHubPort, ec2: Compute, options: LaunchOptions, report: LaunchReport) -> None:
    """Read, plan, apply; what happened goes into `report`."""
    views, lookups = read_views(gh, ec2, options.now)
    report.records = list(views.records)
    work = plan_run(views, options.now, options.retry, options.max_actions, options.dry_run)
    report.planned = list(work.planned)
    report.orphans.extend(work.orphans)
    report.done.extend(work.would)
    report.deferred.extend(work.deferred)
    ledger = Ledger(count_usage(views.fleet))
    act = Act(
        now=options.now,
        views=views,
        lookups=lookups,
        ec2=ec2,
        ledger=ledger,
        placer=Placer(ec2, views.policy, ledger, report),
        recorder=Recorder(gh, ec2.console_url, options.log_url),
        notifier=Notifier(gh, options.log_url),
        report=report,
    )
    apply(act, work.apply)
