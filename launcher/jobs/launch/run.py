"""One run: read the three views, plan (a pure function of them), apply."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import TextIO

from launcher.adapters.github import GitHubError
from launcher.core.compute import Compute, ComputeError
from launcher.core.deployments import Deployment
from launcher.core.quota import count_usage
from launcher.core.text import clip
from launcher.jobs.anchor import AnchorError, check_anchor
from launcher.jobs.launch.applying import Act, apply
from launcher.jobs.launch.common import TASK, LaunchOptions, LaunchReport, Transient
from launcher.jobs.launch.expired import finish
from launcher.jobs.launch.notifying import Notifier
from launcher.jobs.launch.placement import Ledger, Placer
from launcher.jobs.launch.plan import plan_run
from launcher.jobs.launch.readds import worth_marking
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
    if report.blocked:
        out.write(f"::error::{clip(report.blocked, 1000)}\n")
    if not options.dry_run:
        gh.settings.append_summary(report.summary())
    return report


def reconcile(gh: GitHubPort, ec2: Compute, options: LaunchOptions, report: LaunchReport) -> None:
    """Read, plan, apply; what happened goes into `report`. A run reads the clock itself;
    `options.now` is an "as of" time only for a rehearsal (`--now` with `--dry-run`) or an
    in-process test, and then runtimes may start at it rather than at LaunchTime."""
    now = options.now or datetime.now(UTC)

    def trust(branch: str, head: str, files: dict[str, str], listed: list[Deployment]) -> None:
        """The trust anchor (launcher.jobs.anchor): main's files outside deployments/ must
        have arrived through admin-approved pull requests, or the run does nothing."""
        try:
            check = check_anchor(
                gh,
                TASK,
                branch,
                head,
                files,
                listed,
                gh.settings.trusted_commit,
                dry_run=options.dry_run,
            )
        except AnchorError as exc:
            raise Transient(str(exc)) from exc
        report.done.extend(check.recorded)
        if check.blocked is not None:
            report.blocked = check.blocked
            raise _Blocked

    try:
        views, lookups = read_views(gh, ec2, now, trust)
    except _Blocked:
        return
    report.records = list(views.records)
    work = plan_run(views, now, options.retry, options.max_actions, options.dry_run)
    report.planned = list(work.planned)
    report.done.extend(work.would)
    report.deferred.extend(work.deferred)
    recorder = Recorder(gh, ec2.console_url, options.log_url)
    if not options.dry_run and worth_marking(views.looked, work.planned):
        # nothing to record would carry this head: a marker does, so the commits looked at
        # are not read again by every later run (launcher.jobs.launch.readds)
        recorder.seen(views.head)
    ledger = Ledger(count_usage(views.fleet))
    act = Act(
        now=now,
        as_of=options.now is not None,
        views=views,
        lookups=lookups,
        ec2=ec2,
        ledger=ledger,
        placer=Placer(ec2, views.policy, ledger, report),
        recorder=recorder,
        notifier=Notifier(gh, options.log_url),
        report=report,
        seen=views.seen(work.planned),
    )
    apply(act, work.apply)
    finish(gh, act, options, len(work.apply))  # ends the expiry backstops carried out


class _Blocked(Exception):
    """The trust anchor stopped the run (report.blocked says why): nothing is planned."""
