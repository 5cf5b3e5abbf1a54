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

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TextIO

from launcher.adapters.github import GitHub, GitHubError, PullInfo
from launcher.core.documents import load_policy
from launcher.core.durations import format_duration
from launcher.core.gate import CONTEXT, POLICY_PATH, Decision, State
from launcher.core.model import Policy
from launcher.core.sweep import (
    AUTO_REJECTED,
    OpenPull,
    is_late,
    late_reason,
    stale_candidate,
    stale_reason,
    stale_stage,
    utc_text,
)
from launcher.jobs.gate import decide_pull, is_managed_label

SWEEP_MARKER = "<!-- launcher:sweep:{kind} -->"


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


def run_sweep(gh: GitHub, options: SweepOptions, out: TextIO) -> SweepReport:
    report = SweepReport(Budget(options.max_actions, options.dry_run))
    try:
        branch = gh.default_branch()
        policy_raw = gh.read_file(POLICY_PATH, branch)
        policy, _ = load_policy(policy_raw) if policy_raw is not None else (None, [])
        pulls = gh.open_pulls(branch)
    except GitHubError as exc:
        report.errors.append(str(exc))
        return _finish(report, out)
    _sweep_pulls(gh, pulls, policy, options, report)
    return _finish(report, out)


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
    waiting = [
        item
        for item in decision.items
        if item.state in (State.PENDING, State.FAILURE)
        and item.pool in policy.pools
        and policy.pools[item.pool].request_ttl
    ]
    if not waiting:
        return
    ttl = min(policy.pools[item.pool].request_ttl for item in waiting)  # type: ignore[index, type-var]
    pools = sorted({item.pool for item in waiting if policy.pools[item.pool].request_ttl == ttl})  # type: ignore[index]
    stage = stale_stage(pull.created_at, ttl, options.stale_warning, options.now)
    reason = stale_reason(format_duration(ttl), pools)  # type: ignore[arg-type]
    closes_at = pull.created_at + ttl
    if stage == "close":
        _close(gh, info, decision, "stale", reason, report)
    elif stage == "warn":
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
    """Comment, fail the check, label, close: in that order, so a crash leaves it findable."""
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
    description = f"{category.replace('_', '-')}: {reason}"
    description = description if len(description) < 140 else description[:138] + "…"
    spend(
        f"status {CONTEXT} failure on #{n}",
        lambda: gh.set_status(info.head_sha, CONTEXT, "failure", description, info.html_url),
    )
    spend(
        f"label #{n} {AUTO_REJECTED}",
        lambda: gh.sync_labels(n, info.labels, is_managed_label, {AUTO_REJECTED}),
    )
    spend(f"close #{n} ({category})", lambda: gh.close_pull(n))


def _finish(report: SweepReport, out: TextIO) -> SweepReport:
    text = report.summary()
    out.write(text)
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if path:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(text)
    return report
