"""The gate job: read a pull request, decide with the core, and say so on GitHub.

The verdict is the check run `launcher/approval`, written by launcher's GitHub App (in trial
mode, by GITHUB_TOKEN's github-actions app, and it says it is forgeable). Re-runs are cheap and
silent: the check run's summary carries a fingerprint of everything the decision depended on
(head and base commits, author, reviews, the teams consulted, who pushed, the latest change of
base, the dismissals, the foreign verdicts reported), so when nothing changed the job only
confirms launcher's check run still says the same; the editable comment carries nothing a
re-run relies on. Only launcher's own check run is read as the verdict: statuses or check runs
anyone else sets are ignored, reported on the pull request with who set them and recorded for
`launcher status` (the ruleset requires the check from the app). Any error while deciding
publishes an `error` verdict (fail closed) and exits non-zero.
"""

from __future__ import annotations

import hashlib
import json
import sys
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TextIO

from launcher.adapters.github import CheckRun, Comment, GitHubError
from launcher.adapters.github_verdicts import Verdict
from launcher.core.approvals import Review
from launcher.core.deployments import LAUNCH_TASK
from launcher.core.documents import REQUEST_PATH, load_policy, load_request, request_key
from launcher.core.gate import (
    CONTEXT,
    LABELS,
    LAUNCH_AT_PREFIX,
    POLICY_PATH,
    REGULAR,
    ChangedFile,
    Decision,
    GateInput,
    State,
    decide,
    launch_at_label,
)
from launcher.core.gate_report import MARKER, details, read_meta, render
from launcher.core.permissions import MembershipUnknown
from launcher.core.provenance import History
from launcher.core.pulls import Pull
from launcher.core.removal import recorded_requester
from launcher.core.text import clip
from launcher.core.workflow_commands import workflow_command
from launcher.jobs import foreign_verdicts
from launcher.jobs.closed_records import closed_records
from launcher.jobs.foreign_verdicts import foreign_notes
from launcher.jobs.ports import GitHubPort

MAX_REQUEST_FILES = 300  # per pull request; a larger one is refused rather than half-read
MANAGED_LABELS = set(LABELS.values())
FORK_REFUSAL = "pull requests from forks are not supported"


@dataclass
class Outcome:
    state: State
    description: str
    writes: list[str] = field(default_factory=list)  # what was changed on GitHub
    skipped: bool = False  # nothing changed since the last run
    # an error because GitHub refused access (GitHubError.refused): deciding again at once
    # changes nothing (the service does not retry it; the next event, or access, will)
    refused: bool = False
    # an error whose `error` verdict stands on the head commit (written now, or already
    # there): what the service's recheck revisits; False: the previous verdict may stand
    recorded: bool = False

    @property
    def exit_code(self) -> int:
        return 0 if self.state in (State.SUCCESS, State.PENDING) else 1


def fingerprint(
    info: Pull,
    reviews: list[Review],
    teams: dict[str, frozenset[str]],
    history: History | None = None,
    foreign: tuple[Verdict, ...] = (),
) -> str:
    """Everything a decision depends on, as one hash."""
    data = {
        "v": 2,
        "history": (history or History()).fingerprint(),
        "foreign": sorted([v.kind, v.creator.casefold(), v.state] for v in foreign),
        "head": info.head_sha,
        "base": info.base_sha,
        "author": info.author.casefold(),
        "reviews": [
            [
                r.id,
                r.user.casefold(),
                r.state,
                r.commit_id,
                hashlib.sha256(r.body.encode()).hexdigest(),
            ]
            for r in sorted(reviews, key=lambda r: r.id)
        ],
        "teams": {team: sorted(members) for team, members in sorted(teams.items())},
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def run_gate(
    gh: GitHubPort,
    number: int,
    *,
    out: TextIO = sys.stdout,
    fallback_sha: str | None = None,
    match: bool = True,
    rerun: bool = False,
) -> Outcome:
    """Decide pull request `number` and publish the verdict. `rerun`: someone asked GitHub to
    re-run launcher's check (check_run or check_suite `rerequested`), which GitHub answers
    by expecting a new check run: decide in full and write one even when nothing changed."""
    seen: dict[str, str] = {}
    try:
        return _run(gh, number, out, match, seen, rerun)
    except (GitHubError, MembershipUnknown) as exc:
        refused = isinstance(exc, GitHubError) and exc.refused
        return _fail_closed(gh, str(exc), seen.get("head") or fallback_sha, out, refused)
    except Exception as exc:  # a bug must not leave an earlier success on the head commit
        traceback.print_exc()
        reason = f"internal error: {type(exc).__name__}: {exc}"
        return _fail_closed(gh, reason, seen.get("head") or fallback_sha, out)


def _run(
    gh: GitHubPort, number: int, out: TextIO, match: bool, seen: dict[str, str], rerun: bool
) -> Outcome:
    info = gh.pull(number)
    seen["head"] = info.head_sha
    if info.state != "open":
        if not info.merged:
            return _closed_unmerged(gh, info, out)
        out.write(f"pull request #{number} is {info.state}: nothing to gate\n")
        return Outcome(State.SUCCESS, "closed", skipped=True)
    default = info.default_branch or gh.default_branch()  # the pull request carries it
    if info.base_ref != default:
        # Only the default branch launches, and the status belongs to the head commit, which
        # a pull request into main may share: a decision made against another base (its
        # pools.yaml, its diff) must never be written there.
        out.write(
            f"pull request #{number} is into {info.base_ref}: launcher gates pull requests "
            f"into {default}; nothing to gate\n"
        )
        return Outcome(State.SUCCESS, "not into the default branch", skipped=True)
    if info.head_repo is not None and info.head_repo.lower() != gh.settings.repository.lower():
        # A fork's workflows get no secrets and launcher's privileged jobs never run its code;
        # a refusal, not a silent pass, tells its author to push a branch here instead.
        decision = Decision(State.FAILURE, FORK_REFUSAL, (), None)
        writes = []
        current = None if rerun else False  # None: a new check run whatever the last says
        if gh.set_verdict(
            info.head_sha, CONTEXT, "failure", FORK_REFUSAL, FORK_REFUSAL, current=current
        ):
            writes.append("check failure")
        _report(gh, decision, out)
        return Outcome(State.FAILURE, FORK_REFUSAL, writes)
    # What every run reads, at once where the adapter can (launcher serve): one round trip.
    every_run: list[tuple[Callable[..., object], tuple[object, ...]]] = [
        (gh.reviews, (number,)),
        (gh.history, (info,)),
        (gh.verdict, (info.head_sha, CONTEXT)),
    ]
    gh.prefetch(every_run)
    reviews = gh.reviews(number)
    history = gh.history(info)  # who pushed, base changes, dismissals (GitHub's record)
    check = gh.verdict(info.head_sha, CONTEXT)  # launcher's own: nobody else can write it
    meta = read_meta(check.summary) if check else None
    # Other apps' check runs of launcher's name come with the same list: ignored, reported.
    foreign = gh.foreign_checks(info.head_sha, CONTEXT)

    if check is not None and meta and isinstance(meta.get("teams"), list) and not rerun:
        for team in meta["teams"]:
            if isinstance(team, str):
                gh.team_members(team)  # re-read: membership may have changed
        status = meta.get("status")
        known = _known_statuses(meta)
        if (
            meta.get("fingerprint")
            == fingerprint(info, reviews, gh.teams_read, history, (*foreign, *known))
            and isinstance(status, list)
            and status[:1] != [State.ERROR.value]  # an error is never reused: decide again
            and check.state == status[0]
            and _labels_ok(info, meta.get("labels"))
        ):
            state = State(status[0])
            out.write(f"nothing changed since the last run: {state.value}: {status[1]}\n")
            return Outcome(state, status[1], skipped=True)

    # Deciding: the reads that do not depend on each other, at once where the adapter can.
    gh.prefetch(
        [
            (gh.changed_files, (number,)),
            (gh.read_file, (POLICY_PATH, info.base_sha)),
            (gh.modes, (info.head_sha,)),
            (gh.find_comment, (number, MARKER)),
            (gh.foreign_statuses, (info.head_sha, CONTEXT)),
        ]
    )
    decision = decide_pull(gh, info, reviews, match=match, history=history)
    # Commit statuses of launcher's name (launcher writes none): read when deciding only, so
    # a re-run with nothing changed stays within its budget; the next decision reports any.
    unread: list[str] = []
    try:
        foreign = (*foreign, *gh.foreign_statuses(info.head_sha, CONTEXT))
    except GitHubError as exc:  # a report, not the decision (a token without statuses: read)
        unread.append(f"could not read others' {CONTEXT} statuses: {exc}")
    statuses = [v for v in foreign if v.kind == "status"]
    meta = {
        "fingerprint": fingerprint(info, reviews, gh.teams_read, history, foreign),
        "teams": sorted(gh.teams_read),
        "status": [decision.state.value, decision.description],
        "labels": sorted(wanted_labels(decision)) if decision.label else None,
        "statuses": [[v.creator, v.state] for v in statuses],
    }
    existing = gh.find_comment(number, MARKER)
    # a re-run asked for writes a new check run even when launcher's last one says the same
    last = None if rerun else check
    writes = _apply(gh, info, reviews, decision, meta, existing, last, foreign, unread)
    _report(gh, decision, out)
    return Outcome(decision.state, decision.description, writes)


def _known_statuses(meta: dict[str, object]) -> tuple[Verdict, ...]:
    """The foreign statuses the last decision saw (kept in launcher's own check run)."""
    known = meta.get("statuses")
    if not isinstance(known, list):
        return ()
    return tuple(
        Verdict("status", str(v[0]), str(v[1]))
        for v in known
        if isinstance(v, list) and len(v) == 2
    )


def is_managed_label(label: str) -> bool:
    return label in MANAGED_LABELS or label.startswith(LAUNCH_AT_PREFIX)


def wanted_labels(decision: Decision) -> set[str]:
    """One state label, plus `launch:at …` while a scheduled request waits (for the sweep)."""
    wanted = {decision.label} if decision.label else set()
    if decision.launch_at is not None:
        wanted.add(launch_at_label(decision.launch_at))
    return wanted


def _labels_ok(info: Pull, wanted: object) -> bool:
    if not isinstance(wanted, list):
        return wanted is None
    return sorted(label for label in info.labels if is_managed_label(label)) == sorted(wanted)


def _closed_unmerged(gh: GitHubPort, info: Pull, out: TextIO) -> Outcome:
    """Closed unmerged (by its requester, or by the sweep): each request an approver rejected
    is recorded FAILED `rejected` with who rejected it and why, so the audit trail keeps
    "admin disallowed" after the pull request is gone. The rejections are reviews as GitHub
    records them (identity and commit), the record is written under launcher's identity through
    the one encoder; nothing else is written on a closed pull request."""
    if info.base_ref != (info.default_branch or gh.default_branch()):
        out.write(f"pull request #{info.number} is closed: nothing to gate\n")
        return Outcome(State.SUCCESS, "closed", skipped=True)
    decision = decide_pull(gh, info, gh.reviews(info.number))
    writes = []
    for what, write in closed_records(gh, info, decision, "", "", rejected_only=True):
        write()
        writes.append(what)
        out.write(f"{what}\n")
    if not writes:
        out.write(f"pull request #{info.number} is closed: nothing to gate or record\n")
    return Outcome(State.SUCCESS, "closed", writes, skipped=not writes)


def decide_pull(
    gh: GitHubPort,
    info: Pull,
    reviews: list[Review],
    *,
    match: bool = False,
    history: History | None = None,
) -> Decision:
    """The gate's decision for a pull request as GitHub shows it now, without writing anything.

    The launch job calls this for a merged pull request to re-check, at launch time, that its
    requests were allowed at its merged head (reviews and the base's pools.yaml of that time,
    and who pushed onto it, read here when not handed in).
    """
    return decide(pull_input(gh, info, reviews, match=match, history=history), gh)


def pull_input(
    gh: GitHubPort,
    info: Pull,
    reviews: list[Review],
    *,
    match: bool = False,
    history: History | None = None,
    requesters: Mapping[str, str] | None = None,
) -> GateInput:
    """What the gate decides a pull request from, read from GitHub: the launch job decides it
    a second time against main's current pools.yaml (permissions revoked since). The launch
    job hands in `requesters` from the records it acts on; the gate reads them here."""
    if history is None:
        history = gh.history(info)
    files = gh.changed_files(info.number)
    wanted = [
        f.path
        for f in files
        if f.status != "removed"
        and f.path.startswith("deployments/")
        and REQUEST_PATH.fullmatch(f.path)
    ]
    if len(wanted) > MAX_REQUEST_FILES:
        raise GitHubError(
            f"the pull request changes {len(wanted)} request files; at most "
            f"{MAX_REQUEST_FILES} are checked in one pull request: split it"
        )
    policy_raw = gh.read_file(POLICY_PATH, info.base_sha)  # policy: always the base commit
    # Modes from the git tree: the contents API reads a symlink as its target.
    modes = gh.modes(info.head_sha) if wanted else {}
    regular = [path for path in wanted if modes.get(path) == REGULAR]
    gh.prefetch([(gh.read_file, (path, info.head_sha)) for path in regular])
    contents = {}
    for path in wanted:
        if modes.get(path) != REGULAR:
            continue  # a symlink, submodule or executable is invalid: never read as a request
        raw = gh.read_file(path, info.head_sha)  # requests: the head commit, as data
        if raw is not None:
            contents[path] = raw
    data = GateInput(
        info.author, info.head_sha, files, reviews, policy_raw, contents, history=history
    )
    data.modes = modes
    data.requesters = removal_requesters(gh, files) if requesters is None else requesters
    if match and policy_raw is not None:
        data.match_warnings = _match_warnings(policy_raw, contents)
    return data


def removal_requesters(gh: GitHubPort, files: list[ChangedFile]) -> dict[str, str]:
    """The recorded requester of each request the pull request removes (or renames away),
    from launcher's own deployments of it (one listing per removed request); a request with
    no record is left out (launcher.core.removal)."""
    removed = [
        f.previous_path if f.status == "renamed" else f.path
        for f in files
        if f.status in ("removed", "renamed")
    ]
    found: dict[str, str] = {}
    for path in removed[:MAX_REQUEST_FILES]:
        key = request_key(path or "")
        if path is None or key is None:
            continue
        listed = gh.environment_deployments(LAUNCH_TASK, key)
        requester = recorded_requester(d.requested_by for d in listed)
        if requester is not None:
            found[path] = requester
    return found


def _match_warnings(policy_raw: bytes, contents: dict[str, bytes]) -> dict[str, list[str]]:
    """No instance match is a warning at request time (it fails only at launch)."""
    policy, _ = load_policy(policy_raw)
    if policy is None:
        return {}
    requests = []
    for path, raw in contents.items():
        request, _ = load_request(raw, path, policy)
        if request is not None:
            requests.append(request)
    if not requests:
        return {}
    from launcher.jobs.match_preview import preview_matches

    preview = preview_matches(requests, policy)
    if isinstance(preview, str):
        return {request.path: [preview] for request in requests}
    return {path: reasons for path, reasons in preview.items() if reasons}


def _apply(
    gh: GitHubPort,
    info: Pull,
    reviews: list[Review],
    decision: Decision,
    meta: dict[str, object],
    existing: Comment | None,
    check: CheckRun | None,
    foreign: tuple[Verdict, ...],
    notes: list[str],
) -> list[str]:
    writes: list[str] = []
    notes = [*foreign_notes(foreign, CONTEXT), *notes]
    try:
        who = foreign_verdicts.record(gh, info, foreign)
        if who:
            writes.append("recorded foreign verdicts by " + ", ".join(who))
    except GitHubError as exc:  # a report, not the decision: never an error
        notes.append(f"could not record the foreign verdicts for `launcher status`: {exc}")
    reviewed = {r.user.casefold() for r in reviews}
    asked = {u.casefold() for u in info.requested_users}
    users = [
        u
        for u in decision.request_users
        if u.casefold() not in asked | reviewed and u.casefold() != info.author.casefold()
    ]
    asked_teams = {t.casefold() for t in info.requested_teams}
    teams = [t for t in decision.request_teams if t.casefold() not in asked_teams]
    try:
        if gh.request_reviews(info.number, users, teams):
            writes.append("review requests " + ", ".join([*users, *(f"@{t}" for t in teams)]))
    except GitHubError as exc:
        # Asking for reviews is a courtesy, not part of the decision: GitHub refuses it for a
        # team without access to the repository, and that must not end the run in `error`.
        asked_for = ", ".join([*users, *(f"@{t}" for t in teams)])
        notes.append(f"could not request reviews from {asked_for}: {exc}")
    if gh.set_verdict(
        info.head_sha,
        CONTEXT,
        decision.state.value,
        decision.description,
        render(decision, meta, notes),
        info.html_url,
        current=check,
        text=details(decision),
        annotations=decision.annotations,
    ):
        writes.append(f"check {decision.state.value}")
    if gh.upsert_comment(info.number, MARKER, render(decision, None, notes), existing):
        writes.append("comment")
    if decision.label is not None:  # None: undecided, leave the labels as they are
        wanted = wanted_labels(decision)
        if gh.sync_labels(info.number, info.labels, is_managed_label, wanted):
            writes.append("label " + ", ".join(sorted(wanted)))
    return writes


def _report(gh: GitHubPort, decision: Decision, out: TextIO) -> None:
    """Annotations on the changed files' lines, and the job summary."""
    for problem in decision.annotations:
        out.write(
            workflow_command(
                "error", problem.message, file=problem.path, line=problem.line, col=problem.column
            )
            + "\n"
        )
    for item in decision.items:
        for warning in item.warnings:
            out.write(workflow_command("warning", warning, file=item.path) + "\n")
    out.write(f"{CONTEXT}: {decision.state.value}: {decision.description}\n")
    # The full list (every file), capped below GitHub's check-run text limit: the job summary
    # until the verdict is a check run, whose details then carry it.
    gh.settings.append_summary(
        f"**{CONTEXT}**: {decision.state.value}: {decision.description}\n\n{details(decision)}"
    )


def _fail_closed(
    gh: GitHubPort, reason: str, sha: str | None, out: TextIO, refused: bool = False
) -> Outcome:
    description = clip(f"could not decide: {reason}")
    out.write(workflow_command("error", description) + "\n")
    recorded = False
    if sha:
        try:
            gh.set_verdict(sha, CONTEXT, "error", description)
            recorded = True
        except GitHubError as exc:
            out.write(workflow_command("error", f"could not set the check either: {exc}") + "\n")
    return Outcome(State.ERROR, description, refused=refused, recorded=recorded)
