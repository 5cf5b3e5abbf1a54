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
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TextIO

from launcher.adapters.ec2 import EC2, EC2Error
from launcher.adapters.github import DeploymentInfo, GitHub, GitHubError, PullInfo
from launcher.core.documents import REQUEST_PATH, load_policy
from launcher.core.durations import format_duration
from launcher.core.gate import CONTEXT, POLICY_PATH, Decision, ItemKind, State
from launcher.core.lifecycle import FleetInstance, fleets_of
from launcher.core.matching import Location, location_of
from launcher.core.model import Policy
from launcher.core.sweep import (
    AUTO_REJECTED,
    OpenPull,
    Recorded,
    Running,
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
from launcher.core.times import instant_or_none, utc_text
from launcher.jobs.gate import decide_pull, is_managed_label
from launcher.jobs.launch import TASK, LaunchOptions, run_launch

SWEEP_MARKER = "<!-- launcher:sweep:{kind} -->"
REQUEST_TASK = "launcher-request"  # records of pull requests the sweep closed before merge


@dataclass
class SweepOptions:
    now: datetime
    dry_run: bool = False
    max_actions: int = 50
    stale_warning: timedelta = timedelta(hours=24)
    expiry_warnings: tuple[timedelta, ...] = (timedelta(hours=24), timedelta(hours=1))
    reap_orphans: bool = False


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
    gh: GitHub, options: SweepOptions, out: TextIO, ec2: EC2 | None = None
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
        return _finish(report, out)
    _sweep_pulls(gh, pulls, policy, options, report)
    if ec2 is not None and policy is not None:
        try:
            _sweep_deployments(gh, ec2, files, policy, options, report)
        except (GitHubError, EC2Error) as exc:
            report.errors.append(str(exc))
    elif ec2 is not None:
        report.errors.append(f"{POLICY_PATH} on {branch} is missing or invalid: nothing launched")
    return _finish(report, out)


def _sweep_deployments(
    gh: GitHub,
    ec2: EC2,
    files: dict[str, str],
    policy: Policy,
    options: SweepOptions,
    report: SweepReport,
) -> None:
    """Steps 3 to 5: launch what is due, end what expired (warning ahead), report orphans.

    Cheap views first (the deployment list, one DescribeInstances per region); the full
    reconcile, `launcher launch`, runs only when one of them shows something to do.
    """
    now = options.now
    infos = gh.deployments(TASK)
    recorded = _latest_records(infos)
    known_blobs = {
        (str((i.payload.get("request") or {}).get("key")), str(i.payload.get("blob")))
        for i in infos
        if isinstance(i.payload.get("request"), dict)
    }
    locations = {location_of(p) for pool in policy.pools.values() for p in pool.providers}
    for info in infos:
        placement = info.payload.get("placement")
        if isinstance(placement, dict) and isinstance(placement.get("region"), str):
            locations.add(Location(placement["region"], placement.get("role_arn") or None))
    fleet = [i for i in ec2.fleet(locations) if i.key]
    running = [Running(f.key, f.commit, f.expires_at, f.instance_ids) for f in fleets_of(fleet)]
    reasons, maybe_due = reconcile_reasons(
        files, list(recorded.values()), known_blobs, running, now
    )
    for record in maybe_due:
        status = gh.deployment_status(record.deployment_id)
        if status is None or status[0] in ("queued", "pending"):
            due = utc_text(record.launch_at) if record.launch_at else "now"
            reasons.append(f"{record.key}: scheduled launch due since {due}")
    _warn_expiries(gh, running, recorded, options, report)
    _orphans(ec2, fleet, orphans(files, set(recorded), running), options, report)
    if reasons:
        _reconcile(gh, ec2, reasons, options, report)
    for record in recorded.values():
        if record.kind == "schedule" and record.launch_at and record.launch_at > now:
            report.upcoming.append(f"{record.key} launches at {utc_text(record.launch_at)}")
    for f in sorted(running, key=lambda f: f.expires_at or now):
        if f.expires_at and f.expires_at > now:
            report.upcoming.append(f"{f.key} expires at {utc_text(f.expires_at)}")


def _latest_records(infos: list[DeploymentInfo]) -> dict[str, Recorded]:
    latest: dict[str, Recorded] = {}
    launched: dict[str, str] = {}
    for info in sorted(infos, key=lambda i: i.id):  # the newest deployment of a request wins
        p = info.payload
        request = p.get("request")
        if p.get("launcher") != 1 or not isinstance(request, dict):
            continue
        if p.get("kind") == "launch":
            launched[info.environment] = str(p.get("launch_commit") or info.sha)
        latest[info.environment] = Recorded(
            deployment_id=info.id,
            key=info.environment,
            blob=str(p.get("blob") or ""),
            kind=str(p.get("kind") or ""),
            launch_at=instant_or_none(p.get("launch_at")),
            pr=p.get("pr") if isinstance(p.get("pr"), int) else None,
            requested_by=str(p.get("requested_by") or ""),
            running_commit=launched.get(info.environment, ""),
        )
    return latest


def _warn_expiries(
    gh: GitHub,
    running: list[Running],
    recorded: dict[str, Recorded],
    options: SweepOptions,
    report: SweepReport,
) -> None:
    """A comment on the original pull request ahead of expiry, once per window."""
    for f in running:
        window = expiry_warning(f.expires_at, options.expiry_warnings, options.now)
        record = recorded.get(f.key)
        if window is None or record is None or record.pr is None or f.expires_at is None:
            continue
        marker = SWEEP_MARKER.format(kind=f"expiry {f.key} {f.commit} {format_duration(window)}")
        if gh.find_comment(record.pr, marker) is not None:
            continue
        who = f"@{record.requested_by} " if record.requested_by else ""
        body = (
            f"{marker}\n{who}the instances of `{f.key}` reach their maximum runtime at "
            f"{utc_text(f.expires_at)} and will be terminated then. To keep them longer, change "
            "`max_runtime` (within the pool's cap) in a new pull request."
        )
        pr = record.pr
        report.budget.spend(
            f"warn #{pr}: {f.key} expires at {utc_text(f.expires_at)}",
            functools.partial(gh.comment, pr, body),
        )


def _orphans(
    ec2: EC2,
    fleet: list[FleetInstance],
    found: list[Running],
    options: SweepOptions,
    report: SweepReport,
) -> None:
    for orphan in found:
        ids = ", ".join(orphan.instance_ids)
        report.orphans.append(f"{orphan.key} (commit {orphan.commit[:12]}): {ids}")
        if not options.reap_orphans:
            continue
        mine = [i for i in fleet if i.instance_id in orphan.instance_ids]
        for location in {Location(i.region, i.role_arn) for i in mine}:
            ids_here = [i.instance_id for i in mine if (i.region, i.role_arn) == location]
            report.budget.spend(
                f"terminate orphans of {orphan.key} in {location.region}: {', '.join(ids_here)}",
                functools.partial(ec2.terminate, location, ids_here),
            )


def _reconcile(
    gh: GitHub, ec2: EC2, reasons: list[str], options: SweepOptions, report: SweepReport
) -> None:
    """The launch job's reconcile, within what is left of this run's budget."""
    budget = report.budget
    left = max(0, budget.limit - len(budget.done))
    launch = run_launch(
        gh,
        ec2,
        LaunchOptions(now=options.now, dry_run=options.dry_run, max_actions=left),
        io.StringIO(),
    )
    (budget.would if options.dry_run else budget.done).extend(
        line.removeprefix("would ") for line in launch.done
    )
    budget.deferred.extend(f"{action.name} {action.key}" for action in launch.deferred)
    report.errors.extend(f"{key}: {error.describe()}" for key, error in launch.failed)
    report.errors.extend(launch.errors)
    report.reconciled = reasons


def _sweep_pulls(
    gh: GitHub,
    pulls: list[OpenPull],
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


def _auto_reject(gh: GitHub, pull: OpenPull, options: SweepOptions, report: SweepReport) -> None:
    """Verify against the pull request itself (labels are only a hint), then close it."""
    info = gh.pull(pull.number)
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
    gh: GitHub, pull: OpenPull, policy: Policy, options: SweepOptions, report: SweepReport
) -> None:
    info = gh.pull(pull.number)
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
        marker = SWEEP_MARKER.format(kind="stale-warning")
        if gh.find_comment(pull.number, marker) is None:
            body = (
                f"{marker}\n@{info.author} this request has been waiting since "
                f"{utc_text(pull.created_at)}. It will be closed at {utc_text(closes_at)} "
                f"({reason}) unless it is approved. {_mentions(decision)}\n"
                "Add the label `launch:keep-open` to keep it open."
            )
            report.budget.spend(
                f"warn #{pull.number}: closes at {utc_text(closes_at)}",
                lambda: gh.comment(pull.number, body),
            )
        report.upcoming.append(f"#{pull.number} is closed as stale at {utc_text(closes_at)}")


def _mentions(decision: Decision) -> str:
    who: list[str] = []
    for item in decision.items:
        who += [m for m in item.approvers if m not in who]
    return ("Approvers: " + ", ".join(who) + ".") if who else ""


def _close(
    gh: GitHub,
    info: PullInfo,
    decision: Decision,
    category: str,
    reason: str,
    report: SweepReport,
) -> None:
    """Comment, fail the check, label, record, close: in that order, so a crash before the
    end leaves the pull request open and findable by the next run."""
    n = info.number
    spend = report.budget.spend
    marker = SWEEP_MARKER.format(kind=category)
    if gh.find_comment(n, marker) is None:
        body = (
            f"{marker}\n@{info.author} this launch request was closed automatically: "
            f"{reason}. {_mentions(decision)}\n\nThe branch is kept: push a fix (for example a "
            "later `launch_at`) and reopen the pull request, or open a new one."
        )
        spend(f"comment on #{n}: {reason}", lambda: gh.comment(n, body))
    description = clip(f"{category.replace('_', '-')}: {reason}")
    spend(
        f"status {CONTEXT} failure on #{n}",
        lambda: gh.set_status(info.head_sha, CONTEXT, "failure", description, info.html_url),
    )
    spend(
        f"label #{n} {AUTO_REJECTED}",
        lambda: gh.sync_labels(n, info.labels, is_managed_label, {AUTO_REJECTED}),
    )
    _record_closed(gh, info, decision, category, reason, report)
    spend(f"close #{n} ({category})", lambda: gh.close_pull(n))


def _record_closed(
    gh: GitHub,
    info: PullInfo,
    decision: Decision,
    category: str,
    reason: str,
    report: SweepReport,
) -> None:
    """Record each waiting request as FAILED (`auto_rejected` or `stale`) with a deployment of
    the pull request's head, under its own task so the launch reconcile never acts on it."""
    keys = []
    for item in decision.items:
        match = REQUEST_PATH.fullmatch(item.path)
        if item.kind is ItemKind.REQUEST and match and item.state in (State.PENDING, State.FAILURE):
            keys.append((f"{match['pool']}/{match['name']}", item.path))
    if not keys:
        return
    done = {(d.environment, d.sha) for d in gh.deployments(REQUEST_TASK)}
    error = f"{category}: {reason}"
    for key, path in keys:
        if (key, info.head_sha) in done:
            continue
        payload = {
            "launcher": 1,
            "kind": "failure",
            "request": {"key": key, "path": path},
            "pr": info.number,
            "requested_by": info.author,
            "error": error,
        }

        def record(key: str = key, payload: dict[str, object] = payload) -> None:
            deployment = gh.create_deployment(info.head_sha, key, payload, error, REQUEST_TASK)
            gh.set_deployment_status(deployment, "failure", error, current=None)

        report.budget.spend(f"record {key} as FAILED ({category})", record)


def _finish(report: SweepReport, out: TextIO) -> SweepReport:
    text = report.summary()
    out.write(text)
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if path:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(text)
    return report
