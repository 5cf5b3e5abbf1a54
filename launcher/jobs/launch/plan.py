"""The run's plan: a pure function of what it read (`Views`), unit-tested without servers.

`launcher.core.lifecycle.plan` says what is outstanding per request; this adds what the run
does with it: ends first (their instances free quota before anything is placed), the
`max_actions` budget (the rest wait for the next run) and dry runs. The plan accounts for every
instance carrying a request's tags (ended with the request when it left main), so the launch
job reports no orphans: that is the sweep's (`launcher.core.sweep.orphans`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from launcher.core.fleet import FleetInstance, fleets_of
from launcher.core.lifecycle import (
    Action,
    Complete,
    Desired,
    Launch,
    Readd,
    Record,
    Replace,
    Retag,
    Schedule,
    Terminate,
    plan,
)
from launcher.core.model import Policy
from launcher.core.times import utc_iso


@dataclass(frozen=True)
class Views:
    """What one run read, as plain data: the default branch (its name, head commit, policy
    and requests), launcher's records in their inferred states, and the fleet."""

    branch: str
    head: str
    policy: Policy
    desired: tuple[Desired, ...]
    records: tuple[Record, ...]
    fleet: tuple[FleetInstance, ...]
    # the head the last run that recorded something read, and the requests whose files
    # changed on main since (launcher.jobs.launch.readds)
    start: str | None = None
    changed: frozenset[str] = frozenset()
    looked: int = 0  # commits since `start` looked at (a `seen` marker: readds.worth_marking)

    def seen(self, planned: Iterable[Action]) -> str:
        """The head this run's records say it read: its own, unless it plans something for a
        file changed since `start`; then `start`, so a run stopping half-way loses nothing
        (the next looks at the same commits again)."""
        if self.start is not None and any(a.key in self.changed for a in planned):
            return self.start
        return self.head


@dataclass(frozen=True)
class RunPlan:
    planned: tuple[Action, ...]  # everything outstanding, as lifecycle.plan gave it
    apply: tuple[Action, ...] = ()  # to carry out now, in this order
    deferred: tuple[Action, ...] = ()  # beyond max_actions: the next run's
    would: tuple[str, ...] = ()  # a dry run's lines: what it would do


def plan_run(
    views: Views,
    now: datetime,
    retry: tuple[str, ...] = (),
    max_actions: int | None = None,
    dry_run: bool = False,
) -> RunPlan:
    fleets = fleets_of(i for i in views.fleet if i.key)
    planned = plan(list(views.desired), list(views.records), fleets, now, retry=retry)
    # Ends first (a stable sort keeps each request's own order): instances a run terminates
    # free their quota before anything is placed, so a swap within the quota launches.
    ordered = sorted(planned, key=lambda a: 0 if isinstance(a, Terminate) else 1)
    apply: list[Action] = []
    deferred: list[Action] = []
    would: list[str] = []
    budget = max_actions
    for action in ordered:
        if dry_run:
            would.append(f"would {describe(action)}")
        elif budget is not None and budget <= 0:
            deferred.append(action)
        else:
            budget = None if budget is None else budget - 1
            apply.append(action)
    return RunPlan(tuple(planned), tuple(apply), tuple(deferred), tuple(would))


def describe(action: Action) -> str:
    """One line saying what an action does (a dry run's output)."""
    if isinstance(action, Launch):
        d = action.desired
        verb = "replace" if isinstance(action, Replace) else "launch"
        return f"{verb} {d.key} (version {d.version.id}, commit {d.commit[:7]})"
    if isinstance(action, Schedule):
        when = utc_iso(action.desired.launch_at) if action.desired.launch_at else "now"
        return f"schedule {action.key} for {when}"
    if isinstance(action, Retag):
        when = utc_iso(action.expires_at) if action.expires_at else "never"
        return f"retag {action.key}: expires {when}"
    if isinstance(action, Terminate):
        ids = [i for f in action.fleets for i in f.instance_ids]
        return f"terminate {action.key} ({action.reason.value}): {', '.join(ids) or 'no instances'}"
    if isinstance(action, Complete):
        return f"record {action.key} as running: {', '.join(action.fleet.instance_ids)}"
    if isinstance(action, Readd):
        ends = "; ".join(describe(a) for a in action.ends)
        fresh = "; ".join(describe(a) for a in action.fresh) or "nothing"
        return (
            f"judge the removal of {action.key}, which came back: if it passes, {ends}; "
            f"then {fresh}"
        )
    return f"{action.name} {action.key}"
