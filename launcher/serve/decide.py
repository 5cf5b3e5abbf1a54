"""One unit of work: one decision with the gate job's own code.

Replicas share nothing, so two of them may decide one pull request at the same time from
different states, and the slower one's write may land last with the older verdict. Each
decision that wrote is therefore followed by a confirmation: the gate run again on a fresh
read, which (by the fingerprint launcher's check run carries) changes nothing when the verdict
on GitHub is the one of the current state, and decides again otherwise. Every write is followed
by its writer's confirmation, so the last write is confirmed against the latest state: replicas
converge on the verdict of the pull request's latest state. The confirmation is queued in the
work queue's second lane (`launcher.serve.work`), so under a burst it does not hold back other
pull requests' first verdicts.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass

from launcher.adapters.github import GitHubError
from launcher.core.gate import State
from launcher.jobs.gate import Outcome, run_gate
from launcher.jobs.merge_group import Group, run_merge_group
from launcher.serve import metrics
from launcher.serve.appclient import AppClient
from launcher.serve.logs import log
from launcher.serve.routing import Work


@dataclass
class Result:
    outcome: Outcome | None
    confirm: bool  # decide once more on a fresh read (the work queue's confirmation lane)
    more: tuple[Work, ...] = ()  # the pull requests a repository-wide unit expands to
    retry: bool = False  # the decision could not start (GitHub failing): try again later


def decide(app: AppClient, work: Work, deliveries: list[str], confirming: bool = False) -> Result:
    if work.group_ref:
        return _merge_group(app, work, deliveries[-1] if deliveries else None)
    if work.number == 0:
        try:
            return Result(None, False, _expand(app, work))
        except GitHubError as exc:  # the pull requests could not be listed: later, again
            return _failed(app, work, exc, "cannot list the pull requests to re-decide", None)
    delivery = deliveries[-1] if deliveries else None
    try:
        gh = app.gate_adapter(work.installation, work.repo)
    except GitHubError as exc:
        return _failed(app, work, exc, "cannot authenticate", delivery)
    started = time.monotonic()
    rerun = work.rerun and not confirming  # a confirmation only checks the verdict stands
    outcome = run_gate(gh, work.number, out=io.StringIO(), match=app.config.match, rerun=rerun)
    log(
        "decided" if not outcome.skipped else "unchanged",
        delivery=delivery,
        repo=work.repo,
        pr=work.number,
        confirming=confirming or None,
        state=outcome.state.value,
        description=outcome.description,
        writes=outcome.writes or None,
        seconds=round(time.monotonic() - started, 3),
    )
    if outcome.skipped:
        return Result(outcome, False)
    if not confirming:
        metrics.VERDICTS.labels(outcome.state.value).inc()
    if outcome.state is State.ERROR:
        # Fail closed. With its `error` verdict on the head, the periodic recheck decides it
        # again (every LAUNCHER_SERVE_RECHECK_SECONDS, as for an error that will recur: a
        # pull request too large, say). Without it (a failed first read leaves no head to
        # write on, a refused write leaves the previous verdict, a `success` perhaps, which
        # the recheck would not look at), decide again soon, with backoff; unless GitHub
        # refused access (the repository left the installation), which asking again does not
        # change. The token may be what failed (revoked, permissions changed): mint a new
        # one next time.
        app.forget(work.installation)
        return Result(outcome, False, retry=not outcome.recorded and not outcome.refused)
    # A decision that wrote nothing cannot have left a stale verdict: nothing to confirm (and
    # a verdict that stays the same, a fork's refusal say, does not go round for ever).
    return Result(outcome, bool(outcome.writes))


def _failed(
    app: AppClient, work: Work, exc: GitHubError, what: str, delivery: str | None
) -> Result:
    """A unit that could not start (no token, or its pull requests unlisted). Refused
    (`GitHubError.refused`, from the app's requests or the adapter's: uninstalled, suspended,
    no access): settled, asking again changes nothing until the
    installation's own event. Anything else (a timeout, a 5xx) must not drop the event, which
    GitHub will not redeliver once acknowledged: retried, with backoff. The token is
    forgotten either way: the next attempt mints one GitHub checks against today's access."""
    app.forget(work.installation)
    log(what, "error", delivery=delivery, repo=work.repo, pr=work.number or None,
        sha=work.sha or None, error=str(exc))  # fmt: skip
    return Result(None, False, retry=not exc.refused)


def _merge_group(app: AppClient, work: Work, delivery: str | None) -> Result:
    """A merge queue's group, judged by the gate's merge-group entry (a group's head never
    changes, so there is nothing to confirm). Nothing re-checks a group later (the recheck
    lists pull requests), so a group that could not be judged is retried, with backoff."""
    try:
        gh = app.gate_adapter(work.installation, work.repo)
    except GitHubError as exc:
        return _failed(app, work, exc, "cannot authenticate", delivery)
    judged = run_merge_group(gh, Group(work.sha, work.group_ref), out=io.StringIO())
    log("merge group judged", delivery=delivery, repo=work.repo, sha=work.sha,
        state=judged.state.value, description=judged.description)  # fmt: skip
    metrics.VERDICTS.labels(judged.state.value).inc()
    if judged.state is State.ERROR:
        app.forget(work.installation)
        return Result(None, False, retry=True)
    return Result(None, False)


def _expand(app: AppClient, work: Work) -> tuple[Work, ...]:
    """The open pull requests into the default branch (or those whose head is `work.sha`)."""
    gh = app.gate_adapter(work.installation, work.repo)
    if work.sha:
        pulls = [p for p in gh.commit_pulls(work.sha) if p.state == "open"]
    else:
        pulls = gh.open_pulls(gh.default_branch())
    return tuple(Work(work.installation, work.repo, p.number, rerun=work.rerun) for p in pulls)


def stale_pulls(app: AppClient, installation: int, repo: str) -> tuple[Work, ...]:
    """Open pull requests whose head has no verdict of launcher's (a missed delivery, a
    check older than the head) or an `error` one (GitHub failed while deciding): what the
    periodic recheck re-decides."""
    gh = app.gate_adapter(installation, repo)
    out = []
    for pull in gh.open_pulls(gh.default_branch()):
        check = gh.verdict(pull.head_sha, "launcher/approval")
        if check is None or check.state == "error":  # missing, or a failure to decide
            out.append(Work(installation, repo, pull.number))
    return tuple(out)
