"""Recording the ends the expiry backstop carried out before any run did.

The backstop (launcher.core.backstop) terminates a launch's instances at their expiry itself,
so it usually gets there before the next sweep. The records then read EXPIRED (no instance
left, the expiry passed: launcher.core.record.infer), but nobody told the requester and the
GitHub deployment still says `success`. Each launch run, the sweep's reconcile included,
finishes such an end exactly as the sweep's own expiry does: the plan's
`Terminate(EXPIRED)` for that record, applied by the same step (`applying.terminate`: the
"reached its max_runtime" comment under the same marker, then the deployment inactive), with
nothing left to terminate. Idempotent: the comment is found again by its marker, and a record
already inactive is not a candidate.

The records alone cannot tell an end already recorded from one that is not (both read
EXPIRED), so each candidate costs one deployment-status read; candidates are few by
construction (`ended_by_backstop`): only a request's newest record, only at a provider with
a backstop, only for `recheck_expired` after its expiry.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from launcher.adapters.github import GitHubError
from launcher.core.backstop import ended_by_backstop
from launcher.core.lifecycle import Reason, Record, Terminate
from launcher.core.model import Policy
from launcher.core.times import utc_iso
from launcher.jobs.launch.applying import Act, apply
from launcher.jobs.launch.common import RECHECK_EXPIRED, LaunchOptions
from launcher.jobs.ports import GitHubPort


def unrecorded(
    gh: GitHubPort,
    policy: Policy,
    records: list[Record] | tuple[Record, ...],
    now: datetime,
    within: timedelta = RECHECK_EXPIRED,
) -> list[Record]:
    """The launches the backstop ended whose deployment still says `success` (one status read
    per candidate). Raises GitHubError."""
    found = []
    for record in ended_by_backstop(policy, records, now, within):
        status = gh.deployment_status(record.deployment_id)
        if status is not None and status[0] == "success":
            found.append(record)
    return found


def why(record: Record) -> str:
    """The line saying why a run must record this end (the sweep's reason to reconcile)."""
    when = utc_iso(record.expires_at) if record.expires_at else "its expiry"
    return f"{record.key}: ended by its expiry backstop at {when}, not yet recorded"


def finish(gh: GitHubPort, act: Act, options: LaunchOptions, spent: int) -> None:
    """Record each end the backstop carried out as the sweep's own expiry would, within what
    is left of `max_actions` after the plan's `spent` actions (the rest: the next run's)."""
    try:
        views = act.views
        pending = unrecorded(gh, views.policy, views.records, act.now, options.recheck_expired)
    except GitHubError as exc:  # reported; the next run retries
        act.report.errors.append(f"checking ends carried out by expiry backstops: {exc}")
        return
    left = None if options.max_actions is None else max(0, options.max_actions - spent)
    todo: list[Terminate] = []
    for record in pending:
        action = Terminate(record.key, Reason.EXPIRED, (record,), ())
        if options.dry_run:
            act.report.done.append(f"would record {why(record)}")
        elif left is not None and left <= 0:
            act.report.deferred.append(action)
        else:
            left = None if left is None else left - 1
            todo.append(action)
    apply(act, todo)
