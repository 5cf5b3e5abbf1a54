"""The scheduled sweep: act on deadlines that passed since the last run.

Each run: auto-reject open pull requests still waiting for approval past their launch time;
warn, then close, pull requests pending longer than their pool's request_ttl; launch scheduled
requests that are due; end deployments past their maximum runtime (with warnings ahead); report
orphaned instances. Every write goes through one budget (`--max-actions`), so a run stays
bounded and whatever is left waits for the next run; `--dry-run` spends nothing and says what
it would do. Writes are idempotent (markers, compare-before-write), so a second run at the same
time does nothing.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TextIO

from launcher.adapters.github import GitHubError
from launcher.core.backstop import backstop_name
from launcher.core.compute import Compute, ComputeError
from launcher.core.deployments import REQUEST_TASK, Deployment, newest
from launcher.core.documents import load_policy
from launcher.core.durations import format_duration
from launcher.core.fleet import Fleet, by_location, fleet_locations, fleets_of
from launcher.core.gate import CONTEXT, POLICY_PATH, Decision, State
from launcher.core.matching import Location
from launcher.core.model import Policy
from launcher.core.pulls import Pull
from launcher.core.record import Kind
from launcher.core.sweep import (
    AUTO_REJECTED,
    StaleStage,
    expiry_warning,
    is_late,
    late_reason,
    orphans,
    reconcile_reasons,
    stale_candidate,
    stale_reason,
    stale_stage,
)
from launcher.core.text import clip
from launcher.core.times import utc_text
from launcher.jobs import backstops
from launcher.jobs.closed_records import closed_records
from launcher.jobs.comments import comment_once, remove_duplicates
from launcher.jobs.gate import decide_pull, is_managed_label
from launcher.jobs.launch import TASK, LaunchOptions, run_launch
from launcher.jobs.launch.common import RECHECK_EXPIRED
from launcher.jobs.launch.expired import unrecorded, why
from launcher.jobs.launch.views import records_of
from launcher.jobs.ports import GitHubPort

SWEEP_MARKER = "<!-- launcher:sweep:{kind} -->"


@dataclass
class SweepOptions:
    now: datetime
    dry_run: bool = False
    max_actions: int = 50
    # False: `now` is the clock (every real run), and the reconcile reads it itself, so
    # expiries start at EC2's LaunchTime; True: an "as of" time (--now --dry-run, tests)
    as_of: bool = True
    stale_warning: timedelta = timedelta(hours=24)
    expiry_warnings: tuple[timedelta, ...] = (timedelta(hours=24), timedelta(hours=1))
    reap_orphans: bool = False
    # how far back closed pull requests are checked for comments a race doubled
    recheck_closed: timedelta = timedelta(days=1)
    # how long after an expiry an end the expiry backstop carried out is checked for being
    # recorded (launcher.jobs.launch.expired)
    recheck_expired: timedelta = RECHECK_EXPIRED


@dataclass
class Budget:
    """Every write asks first: within the limit it is done, past it deferred, in a dry run only
    described."""

    limit: int
    dry_run: bool
    done: list[str] = field(default_factory=list)
    would: list[str] = field(default_factory=list)
    deferred: list[str] = field(default_factory=list)

    def spend(self, what: str, write: Callable[[], object]) -> bool:
        if self.dry_run:
            self.would.append(what)
            return False
        if len(self.done) >= self.limit:
            self.deferred.append(what)
            return False
        result = write()
        if result is not False:  # adapters answer False when nothing needed changing
            self.done.append(what)
        return True

    def spender(self, what: str) -> Callable[[Callable[[], object]], bool]:
        """`spend` with `what` filled in, for helpers that decide whether to write at all."""
        return functools.partial(self.spend, what)


@dataclass
class SweepReport:
    budget: Budget
    upcoming: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)
    reconciled: list[str] = field(default_factory=list)  # why the full reconcile ran
    errors: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 1 if self.errors else 0

    def summary(self) -> str:
        b = self.budget
        lines = ["## launcher sweep", ""]
        sections = [
            ("Done", b.done),
            ("Would do (dry run)", b.would),
            (f"Left for the next run (--max-actions {b.limit} reached)", b.deferred),
            ("Coming next", self.upcoming),
            ("Orphaned instances (no request on the default branch)", self.orphans),
            ("Errors", self.errors),
        ]
        for title, items in sections:
            if items:
                lines += [f"**{title}**", ""] + [f"- {item}" for item in items] + [""]
        if len(lines) == 2:
            lines.append("Nothing to do.")
        return "\n".join(lines) + "\n"


def run_sweep(
    gh: GitHubPort, options: SweepOptions, out: TextIO, ec2: Compute | None = None
) -> SweepReport:
    """One sweep. Without `ec2` only the pull request rules run (no AWS access needed)."""
    report = SweepReport(Budget(options.max_actions, options.dry_run))
    try:
        branch, head = gh.default_head()
        files = gh.tree(head)
        policy_blob = files.get(POLICY_PATH)
        policy = load_policy(gh.blob(policy_blob))[0] if policy_blob else None
        pulls = gh.open_pulls(branch)
    except GitHubError as exc:
        report.errors.append(str(exc))
        return _finish(gh, report, out)
    _sweep_pulls(gh, pulls, policy, options, report)
    if ec2 is not None and policy is not None:
        # One listing for both of launcher's tasks the sweep reads (after the pull requests,
        # so the records this run wrote are in it): the launch records and the closed ones.
        try:
            listed = gh.deployments_of((TASK, REQUEST_TASK))
        except GitHubError as exc:
            report.errors.append(str(exc))
            return _finish(gh, report, out)
        _tidy_closed(gh, options, report, listed[REQUEST_TASK])
        try:
            _sweep_deployments(gh, ec2, files, policy, options, report, listed[TASK])
        except (GitHubError, ComputeError) as exc:
            report.errors.append(str(exc))
        return _finish(gh, report, out)
    _tidy_closed(gh, options, report)
    if ec2 is not None:
        report.errors.append(f"{POLICY_PATH} on {branch} is missing or invalid: nothing launched")
    return _finish(gh, report, out)


def _sweep_deployments(
    gh: GitHubPort,
    ec2: Compute,
    files: dict[str, str],
    policy: Policy,
    options: SweepOptions,
    report: SweepReport,
    listed: list[Deployment],
) -> None:
    """Steps 3 to 5: launch what is due, end what expired (warning ahead), report orphans.

    Cheap views first (the deployment list `listed`, one DescribeInstances per region); the
    full reconcile, `launcher launch`, runs only when one of them shows something to do.
    """
    now = options.now
    latest = newest(listed)
    fleets = fleets_of(i for i in ec2.fleet(fleet_locations(policy, listed)) if i.key)
    reasons, maybe_due = reconcile_reasons(files, listed, fleets, now)
    for d in maybe_due:  # the newest record: a launch or a failure would be a newer one
        due = utc_text(d.launch_at) if d.launch_at else "now"
        reasons.append(f"{d.key}: scheduled launch due since {due}")
    reasons.extend(_ended_by_backstops(gh, policy, listed, fleets, options, report))
    _warn_expiries(gh, fleets, latest, options, report)
    _orphans(ec2, orphans(files, listed, fleets), options, report)
    _repair_backstops(ec2, policy, files, listed, fleets, options, report)
    if reasons:
        _reconcile(gh, ec2, reasons, options, report)
    for key, d in latest.items():
        if d.kind == "schedule" and d.launch_at and d.launch_at > now:
            report.upcoming.append(f"{key} launches at {utc_text(d.launch_at)}")
    for f in sorted(fleets, key=lambda f: f.expires_at or now):
        if f.expires_at and f.expires_at > now:
            report.upcoming.append(f"{f.key} expires at {utc_text(f.expires_at)}")


def _ended_by_backstops(
    gh: GitHubPort,
    policy: Policy,
    listed: list[Deployment],
    fleets: list[Fleet],
    options: SweepOptions,
    report: SweepReport,
) -> list[str]:
    """Instances the expiry backstop ended before this run, whose end no run has recorded
    yet: the reconcile records them as its own expiry would (launcher.jobs.launch.expired)."""
    records = records_of(listed, (i for f in fleets for i in f.instances), options.now)
    try:
        pending = unrecorded(gh, policy, records, options.now, options.recheck_expired)
    except GitHubError as exc:
        report.errors.append(f"checking ends carried out by expiry backstops: {exc}")
        return []
    return [why(record) for record in pending]


def _warn_expiries(
    gh: GitHubPort,
    fleets: list[Fleet],
    latest: dict[str, Deployment],
    options: SweepOptions,
    report: SweepReport,
) -> None:
    """A comment on the original pull request ahead of expiry, once per window."""
    for f in fleets:
        window = expiry_warning(f.expires_at, options.expiry_warnings, options.now)
        record = latest.get(f.key)
        if window is None or record is None or record.pr is None or f.expires_at is None:
            continue
        marker = SWEEP_MARKER.format(kind=f"expiry {f.key} {f.commit} {format_duration(window)}")
        who = f"@{record.requested_by} " if record.requested_by else ""
        text = (
            f"{who}the instances of `{f.key}` reach their maximum runtime at "
            f"{utc_text(f.expires_at)} and will be terminated then. To keep them longer, change "
            "`max_runtime` (within the pool's cap) in a new pull request."
        )
        what = f"warn #{record.pr}: {f.key} expires at {utc_text(f.expires_at)}"
        comment_once(gh, record.pr, marker, text, write=report.budget.spender(what))


def _orphans(ec2: Compute, found: list[Fleet], options: SweepOptions, report: SweepReport) -> None:
    budget = report.budget
    for orphan in found:
        ids = ", ".join(orphan.instance_ids)
        report.orphans.append(f"{orphan.key} (commit {orphan.commit[:12]}): {ids}")
        if not options.reap_orphans:
            continue
        for location, here in by_location(orphan.instances).items():
            ids_here = [i.instance_id for i in here]
            ended = budget.spend(
                f"terminate orphans of {orphan.key} in {location.region}: {', '.join(ids_here)}",
                functools.partial(ec2.terminate, location, ids_here),
            )
            if ended or budget.dry_run:  # a deferred end keeps its backstop
                _drop_orphan_backstop(ec2, orphan, location, report)


def _drop_orphan_backstop(
    ec2: Compute, orphan: Fleet, location: Location, report: SweepReport
) -> None:
    """The reaped instances' expiry backstop, found by its name (their request and commit
    tags), deleted as the launch job deletes those of instances it ends: part of the end
    the budget allowed, not a second write to defer. None there is fine; a failed delete is
    reported and leaves a schedule that ends only ended instances, then deletes itself."""
    name = backstop_name(orphan.key, orphan.commit)
    what = f"delete expiry backstop {name} of orphans of {orphan.key} in {location.region}"
    if report.budget.dry_run:
        report.budget.would.append(f"{what} (if there is one)")
        return
    try:
        if ec2.drop_backstop(location, name):
            report.budget.done.append(what)
    except ComputeError as exc:
        report.errors.append(f"{orphan.key}: {backstops.NOT_DROPPED}: {exc}")


def _repair_backstops(
    ec2: Compute,
    policy: Policy,
    files: dict[str, str],
    listed: list[Deployment],
    fleets: list[Fleet],
    options: SweepOptions,
    report: SweepReport,
) -> None:
    """Each running request's expiry backstop exists and is right, or is created or moved
    (launcher.jobs.backstops). Before the reconcile, whose retags and ends move or drop them."""
    try:
        wanted = backstops.to_repair(policy, files, listed, fleets, options.now)
        backstops.repair(ec2, wanted, report.budget.spend)
    except ComputeError as exc:
        report.errors.append(f"checking expiry backstops: {exc}")


def _reconcile(
    gh: GitHubPort, ec2: Compute, reasons: list[str], options: SweepOptions, report: SweepReport
) -> None:
    """The launch job's reconcile, within what is left of this run's budget."""
    budget = report.budget
    left = max(0, budget.limit - len(budget.done))
    launch = run_launch(
        gh,
        ec2,
        LaunchOptions(
            now=options.now if options.as_of else None,
            dry_run=options.dry_run,
            max_actions=left,
            recheck_expired=options.recheck_expired,
        ),
        io.StringIO(),
    )
    (budget.would if options.dry_run else budget.done).extend(
        line.removeprefix("would ") for line in launch.done
    )
    budget.deferred.extend(f"{action.name} {action.key}" for action in launch.deferred)
    report.errors.extend(f"{key}: {error.describe()}" for key, error in launch.failed)
    report.errors.extend(launch.errors)
    if launch.blocked:
        report.errors.append(launch.blocked)
    report.reconciled = reasons


def _sweep_pulls(
    gh: GitHubPort,
    pulls: list[Pull],
    policy: Policy | None,
    options: SweepOptions,
    report: SweepReport,
) -> None:
    now = options.now
    ttls = [p.request_ttl for p in (policy.pools.values() if policy else []) if p.request_ttl]
    shortest = min(ttls) if ttls else None
    for pull in sorted(pulls, key=lambda p: p.number):
        try:
            if is_late(pull, now):
                _auto_reject(gh, pull, options, report)
            elif stale_candidate(pull, shortest, options.stale_warning, now) and policy:
                _stale(gh, pull, policy, options, report)
            elif pull.waiting and pull.launch_at:
                report.upcoming.append(
                    f"#{pull.number} is auto-rejected at {utc_text(pull.launch_at)} unless approved"
                )
        except GitHubError as exc:
            report.errors.append(f"#{pull.number}: {exc}")


def _tidy_closed(
    gh: GitHubPort,
    options: SweepOptions,
    report: SweepReport,
    closed: list[Deployment] | None = None,
) -> None:
    """Two sweeps at once may both comment before either closes the pull request; closed, it
    is not listed again. Launcher's own FAILED records of the last `recheck_closed` name the
    few pull requests the sweep closed, the one it closed this run included: the later copy of
    each of its comments there is deleted, so one stays. `closed`: the records of pull
    requests closed unmerged as the run already listed them (with the launch records, one
    listing); without it (no EC2), one listing of its own, newest first, usually one page."""
    since = options.now - options.recheck_closed
    try:
        if closed is None:
            recent = gh.recent_deployments(REQUEST_TASK, since)
        else:
            recent = [d for d in closed if d.created_at is None or d.created_at >= since]
        numbers = sorted(
            {
                d.record.pr
                for d in recent
                if d.record is not None
                and d.record.kind is Kind.FAILURE
                and d.record.pr is not None
            }
        )
        for number in numbers:
            remove_duplicates(gh, number, SWEEP_MARKER.split("{")[0], write=report.budget.spend)
    except GitHubError as exc:
        report.errors.append(f"checking closed pull requests for doubled comments: {exc}")


def _auto_reject(gh: GitHubPort, pull: Pull, options: SweepOptions, report: SweepReport) -> None:
    """Verify against the pull request itself (labels are only a hint), then close it."""
    info = gh.pull(pull.number)
    if info.state != "open":
        return  # closed or merged since the listing: nothing left to reject
    decision = decide_pull(gh, info, gh.reviews(pull.number))
    late = [
        item
        for item in decision.items
        if item.launch_at
        and item.launch_at <= options.now
        and item.state in (State.PENDING, State.FAILURE)
    ]
    if not late:
        return  # approved meanwhile, or no longer scheduled: the gate will fix the labels
    reason = late_reason(min(item.launch_at for item in late if item.launch_at))
    _close(gh, info, decision, "auto_rejected", reason, report)


def _stale(
    gh: GitHubPort, pull: Pull, policy: Policy, options: SweepOptions, report: SweepReport
) -> None:
    info = gh.pull(pull.number)
    if info.state != "open":
        return  # closed or merged since the listing: nothing left to warn about
    decision = decide_pull(gh, info, gh.reviews(pull.number))
    ttls: dict[str, timedelta] = {}  # pool -> request_ttl, for the pools still waiting
    for item in decision.items:
        pool = policy.pools.get(item.pool or "")
        if item.state in (State.PENDING, State.FAILURE) and pool and pool.request_ttl:
            ttls[pool.name] = pool.request_ttl
    if not ttls:
        return
    ttl = min(ttls.values())
    pools = sorted(name for name, pool_ttl in ttls.items() if pool_ttl == ttl)
    stage = stale_stage(pull.created_at, ttl, options.stale_warning, options.now)
    reason = stale_reason(format_duration(ttl), pools)
    closes_at = pull.created_at + ttl
    if stage is StaleStage.CLOSE:
        _close(gh, info, decision, "stale", reason, report)
    elif stage is StaleStage.WARN:
        text = (
            f"@{info.author} this request has been waiting since "
            f"{utc_text(pull.created_at)}. It will be closed at {utc_text(closes_at)} "
            f"({reason}) unless it is approved. {_mentions(decision)}\n"
            "Add the label `launch:keep-open` to keep it open."
        )
        what = f"warn #{pull.number}: closes at {utc_text(closes_at)}"
        marker = SWEEP_MARKER.format(kind="stale-warning")
        comment_once(gh, pull.number, marker, text, write=report.budget.spender(what))
        report.upcoming.append(f"#{pull.number} is closed as stale at {utc_text(closes_at)}")


def _mentions(decision: Decision) -> str:
    who: list[str] = []
    for item in decision.items:
        who += [m for m in item.approvers if m not in who]
    return ("Approvers: " + ", ".join(who) + ".") if who else ""


def _close(
    gh: GitHubPort,
    info: Pull,
    decision: Decision,
    category: str,
    reason: str,
    report: SweepReport,
) -> None:
    """Comment, fail the check, label, record, close: in that order, so a crash before the
    end leaves the pull request open and findable by the next run."""
    n = info.number
    spend = report.budget.spend
    text = (
        f"@{info.author} this launch request was closed automatically: "
        f"{reason}. {_mentions(decision)}\n\nThe branch is kept: push a fix (for example a "
        "later `launch_at`) and reopen the pull request, or open a new one."
    )
    marker = SWEEP_MARKER.format(kind=category)
    comment_once(gh, n, marker, text, write=report.budget.spender(f"comment on #{n}: {reason}"))
    description = clip(f"{category.replace('_', '-')}: {reason}")
    spend(
        f"check {CONTEXT} failure on #{n}",
        lambda: gh.set_verdict(
            info.head_sha, CONTEXT, "failure", description, details_url=info.html_url
        ),
    )
    spend(
        f"label #{n} {AUTO_REJECTED}",
        lambda: gh.sync_labels(n, info.labels, is_managed_label, {AUTO_REJECTED}),
    )
    _record_closed(gh, info, decision, category, reason, report)
    spend(f"close #{n} ({category})", lambda: gh.close_pull(n))


def _record_closed(
    gh: GitHubPort,
    info: Pull,
    decision: Decision,
    category: str,
    reason: str,
    report: SweepReport,
) -> None:
    """Record each waiting request as FAILED (`auto_rejected` or `stale`, or `rejected` with
    who and why when an approver's rejection stands), under its own task so the launch
    reconcile never acts on it (launcher.jobs.closed_records)."""
    for what, write in closed_records(gh, info, decision, category, reason):
        report.budget.spend(what, write)


def _finish(gh: GitHubPort, report: SweepReport, out: TextIO) -> SweepReport:
    text = report.summary()
    out.write(text)
    gh.settings.append_summary(text)
    return report
