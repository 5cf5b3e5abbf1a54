"""What the launch job's modules share: its options and report, the errors that stop one
request's action, and an approval as the launch-time re-check found it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from launcher.core.deployments import LAUNCH_TASK
from launcher.core.lifecycle import Action, Category, LastError, Record
from launcher.core.pulls import Pull
from launcher.core.record import Event

TASK = LAUNCH_TASK  # the deployments' task: launcher lists only its own
COMMENT_MARKER = "<!-- launcher:launch {key} {version} {outcome} -->"
# how long after an expiry a run still checks whether the end the expiry backstop carried out
# is recorded (launcher.jobs.launch.expired)
RECHECK_EXPIRED = timedelta(days=1)


class Refused(Exception):
    """The request cannot launch: recorded as FAILED with this category."""

    def __init__(self, category: Category, message: str, events: tuple[Event, ...] = ()) -> None:
        super().__init__(message)
        self.error = LastError(category, message)
        self.events = events  # the decisions behind it (a rejecting review: who, why)


class Transient(Exception):
    """Could not decide or act now (an API error, an unreadable team): not recorded; the next
    run tries again."""


@dataclass
class LaunchOptions:
    # None (every real run): the clock, and expiries from EC2's LaunchTime. A time here is an
    # "as of" time: `--now` with `--dry-run`, or an in-process test.
    now: datetime | None = None
    dry_run: bool = False
    retry: tuple[str, ...] = ()  # request keys whose FAILED version to try again
    max_actions: int | None = None  # actions executed per run; the rest wait
    log_url: str | None = None  # the workflow run, linked from deployment statuses
    recheck_expired: timedelta = RECHECK_EXPIRED


@dataclass
class LaunchReport:
    planned: list[Action] = field(default_factory=list)
    done: list[str] = field(default_factory=list)  # what changed, one line each
    failed: list[tuple[str, LastError]] = field(default_factory=list)  # FAILED in this run
    errors: list[str] = field(default_factory=list)  # not handled; retried next run
    deferred: list[Action] = field(default_factory=list)  # beyond max_actions
    records: list[Record] = field(default_factory=list)  # as read at the start
    blocked: str | None = None  # control files not trusted: nothing done (jobs/anchor)

    @property
    def exit_code(self) -> int:
        return 1 if self.failed or self.errors or self.blocked else 0

    def summary(self) -> str:
        lines = ["## launcher launch", ""]
        if self.blocked:
            lines.append(f"- **{self.blocked}**: nothing launched or terminated")
        lines += [f"- {line}" for line in self.done] or ["- nothing to do"]
        for key, error in self.failed:
            lines.append(f"- **{key}** failed: {error.describe()}")
        for problem in self.errors:
            lines.append(f"- error (retried next run): {problem}")
        for action in self.deferred:
            lines.append(f"- deferred to the next run: {action.name} {action.key}")
        return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Approval:
    pr: Pull
    requested_by: str
    approved_by: tuple[str, ...]
    events: tuple[Event, ...] = ()  # each counted approval: who, on which commit, its text


def git_blob_sha(content: bytes) -> str:
    """Git's object id of a blob, to compare a pull request's file with main's without
    reading main's."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content, usedforsecurity=False).hexdigest()
