"""A merge queue on a repository's default branch: merge groups, their checks, merged or removed.

Why: with a merge queue, what reaches the default branch is the merge group's commit (the
queued pull request merged onto the branch and the groups ahead of it), built on a
``gh-readonly-queue/<branch>/pr-<N>-<base sha>`` branch, and the required checks must pass on
that commit, not on the pull request's head. A gate that only judged the head would be
checking a commit that never lands; workflows run on ``merge_group`` to check the group.

Modelled as GitHub does: only a pull request that meets the branch's rules (reviews,
required checks on its head; the queue's own rule aside) may be enqueued; enqueueing
announces ``pull_request`` ``enqueued`` and ``merge_group`` ``checks_requested`` (and a
``push`` creating the queue branch); when every
required check (`required_checks`) succeeds on the group's commit, the branch fast-forwards
to it, the pull request is ``dequeued`` (reason MERGE) and ``closed`` as merged, and the group
is ``destroyed`` (reason merged), and so are the groups ahead of it; a failing required
check removes the pull request (``dequeued`` CI_FAILURE, group ``destroyed`` dequeued) and
rebuilds the groups behind it (``destroyed`` invalidated, then new ``checks_requested``).
Removing by hand: ``dequeued`` MANUAL; a push to a queued pull request's branch removes it
too, and a push to the base branch rebuilds every group on it. The ruleset's ``merge_method``
says how a group's commit is made: MERGE (a merge commit of the pull request's head) or
SQUASH (one commit of its changes titled ``<title> (#N)``); REBASE is not modelled.

Enqueueing has no REST endpoint on GitHub (it is GraphQL ``enqueuePullRequest`` or the UI), so
the stand-in offers a sandbox-only one, ``POST|DELETE
/_sandbox/repos/{o}/{r}/pulls/{n}/merge-queue``, and `GitHubSandbox.enqueue_pull` /
`dequeue_pull`. The required checks are those of the branch's protection and rulesets
(``Rules.required_checks``: a check pinned to an app counts only from that app) plus any named
in `enable_merge_queue(required_checks=...)`. The queue is GitHub itself: its branches and
the fast-forward of the base are not subject to push rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from launcher.sandbox.github.events import Event
from launcher.sandbox.github.http import ApiError, Request, Response, Router, not_found
from launcher.sandbox.github.shapes import simple_commit
from launcher.sandbox.github.state import Issue, Repo, now

if TYPE_CHECKING:
    from launcher.sandbox.github.service import GitHub

QUEUE_PREFIX = "gh-readonly-queue"


@dataclass
class Entry:
    number: int
    actor: str
    base_sha: str = ""
    head_sha: str = ""
    branch: str = ""  # gh-readonly-queue/<base>/pr-<N>-<base sha>


@dataclass
class Queue:
    branch: str
    required: list[str]
    entries: list[Entry] = field(default_factory=list)
    moving: bool = False  # the queue itself is moving a branch (its own pushes)


@dataclass
class MergeQueues:
    """Every repository's merge queue, keyed by lower(full name)."""

    queues: dict[str, Queue] = field(default_factory=dict)

    def of(self, repo: Repo) -> Queue | None:
        return self.queues.get(repo.full_name.lower())


def enable(gh: GitHub, repo: Repo, required_checks: list[str]) -> Queue:
    queue = Queue(repo.default_branch, list(required_checks))
    gh.merge_queues.queues[repo.full_name.lower()] = queue
    return queue


def required(gh: GitHub, repo: Repo, queue: Queue) -> list[tuple[str, int | None]]:
    """(check name, app id or None) pairs every merge group must pass."""
    checks: list[tuple[str, int | None]] = [(name, None) for name in queue.required]
    for check in gh.rules.required_checks(repo, queue.branch):
        if check not in checks:
            checks.append(check)
    return checks


def _move(gh: GitHub, repo: Repo, branch: str, sha: str | None, actor: str) -> None:
    """Move a branch as the queue (GitHub itself) does: no push rules apply, events do."""
    queue = gh.merge_queues.of(repo)
    before = repo.branches.get(branch)
    if queue is not None:
        queue.moving = True
    try:
        if queue is not None and branch == queue.branch:
            # The base branch's fast-forward is recorded as GitHub records it
            # (``merge_queue_merge`` in the activity log); push checks skip queue merges.
            gh.update_branch(repo, branch, sha, actor, merge="queue")
            return
        if sha is None:
            repo.git.delete_ref(f"refs/heads/{branch}")
        else:
            repo.git.update_ref(f"refs/heads/{branch}", sha, before)
        gh._moved(repo, branch, before, sha, actor, forced=False)
    finally:
        if queue is not None:
            queue.moving = False


def _group(repo: Repo, queue: Queue, entry: Entry) -> dict[str, Any]:
    return {
        "head_sha": entry.head_sha,
        "head_ref": f"refs/heads/{entry.branch}",
        "base_sha": entry.base_sha,
        "base_ref": f"refs/heads/{queue.branch}",
        "head_commit": simple_commit(repo, entry.head_sha),
    }


def _build(gh: GitHub, repo: Repo, queue: Queue, entry: Entry, base_sha: str) -> bool:
    """Make the entry's merge group on ``base_sha``; False when it does not merge cleanly."""
    issue = repo.issues[entry.number]
    head = repo.head_sha(issue)
    tree = repo.git.merge_tree(base_sha, head)
    if tree is None:
        return False
    pr = issue.pull
    assert pr is not None
    method = gh.rules.merge_queue_method(repo, queue.branch)
    if method == "SQUASH":  # one commit with the pull request's changes, its number in the title
        text, parents = f"{issue.title} (#{issue.number})\n", [base_sha]
    elif method == "MERGE":
        text = f"Merge pull request #{issue.number} from {repo.owner}/{pr.head_ref}\n\n"
        text += f"{issue.title}\n"
        parents = [base_sha, head]
    else:
        raise ApiError(422, f"the stand-in's merge queue does not model {method}")
    entry.base_sha = base_sha
    entry.head_sha = repo.git.commit_tree(tree, parents, text, gh._person(entry.actor))
    entry.branch = f"{QUEUE_PREFIX}/{queue.branch}/pr-{issue.number}-{base_sha}"
    _move(gh, repo, entry.branch, entry.head_sha, entry.actor)
    gh._emit("merge_group", repo, entry.actor, action="checks_requested",
             merge_group=_group(repo, queue, entry))  # fmt: skip
    return True


def _destroy(gh: GitHub, repo: Repo, queue: Queue, entry: Entry, reason: str) -> None:
    gh._emit("merge_group", repo, entry.actor, action="destroyed", reason=reason,
             merge_group=_group(repo, queue, entry))  # fmt: skip
    _move(gh, repo, entry.branch, None, entry.actor)


def _dequeue_event(gh: GitHub, repo: Repo, issue: Issue, actor: str, reason: str) -> None:
    gh._emit_pr(repo, issue, "dequeued", actor, reason=reason)


def _rebuild_from(gh: GitHub, repo: Repo, queue: Queue, start: int) -> None:
    """Rebuild the groups from position ``start`` on (the ones ahead changed)."""
    base = queue.entries[start - 1].head_sha if start else repo.branches[queue.branch]
    for entry in list(queue.entries[start:]):
        _destroy(gh, repo, queue, entry, "invalidated")
        if _build(gh, repo, queue, entry, base):
            base = entry.head_sha
        else:
            queue.entries.remove(entry)
            _dequeue_event(gh, repo, repo.issues[entry.number], entry.actor, "MERGE_CONFLICT")


def enqueue(gh: GitHub, repo: Repo, issue: Issue, actor: str) -> Entry:
    with gh.state.lock:
        gh.require(repo, actor, "write")
        queue = gh.merge_queues.of(repo)
        pr = issue.pull
        if pr is None or issue.state != "open" or pr.merged:
            raise ApiError(422, "Pull request is not open")
        if queue is None or pr.base_ref != queue.branch:
            raise ApiError(422, f"{pr.base_ref} has no merge queue")
        if pr.draft:
            raise ApiError(422, "Pull request is still a draft")
        if any(e.number == issue.number for e in queue.entries):
            raise ApiError(422, "Pull request is already queued")
        # GitHub: "Once a pull request has passed all required branch protection checks, a
        # user with write access to the repository can add the pull request to the queue."
        violations = gh.rules.merge_violations(repo, issue, actor)
        if violations:
            problems = "; ".join(p for _, found in violations for p in found)
            raise ApiError(422, f"Pull request is not mergeable: {problems}")
        entry = Entry(issue.number, actor)
        base = queue.entries[-1].head_sha if queue.entries else repo.branches[queue.branch]
        issue.updated_at = now()
        gh._emit_pr(repo, issue, "enqueued", actor)
        if not _build(gh, repo, queue, entry, base):
            _dequeue_event(gh, repo, issue, actor, "MERGE_CONFLICT")
            raise ApiError(422, "Pull request has merge conflicts with the queue")
        queue.entries.append(entry)
        return entry


def dequeue(gh: GitHub, repo: Repo, issue: Issue, actor: str) -> None:
    with gh.state.lock:
        gh.require(repo, actor, "write")
        queue = gh.merge_queues.of(repo)
        found = [e for e in (queue.entries if queue else []) if e.number == issue.number]
        if queue is None or not found:
            raise not_found()
        position = queue.entries.index(found[0])
        queue.entries.remove(found[0])
        _destroy(gh, repo, queue, found[0], "dequeued")
        _dequeue_event(gh, repo, issue, actor, "MANUAL")
        _rebuild_from(gh, repo, queue, position)


def _verdict(gh: GitHub, repo: Repo, sha: str, checks: list[tuple[str, int | None]]) -> str:
    """success when every required check passed on ``sha``, failure when one failed."""
    states = [gh.rules.check_state(repo, sha, name, app) for name, app in checks]
    if "failing" in states:
        return "failure"
    return "pending" if "expected" in states else "success"


def advance(gh: GitHub, repo: Repo) -> None:
    """Merge every group up to the last one whose checks passed with no failed group ahead
    of it (a later group contains the earlier ones' changes, so GitHub merges them all);
    remove a failed group at the front and rebuild the groups behind it."""
    queue = gh.merge_queues.of(repo)
    while queue is not None and queue.entries:
        names = required(gh, repo, queue)
        verdicts = [_verdict(gh, repo, e.head_sha, names) for e in queue.entries]
        last_passed = -1
        for i, verdict in enumerate(verdicts):
            if verdict == "failure":
                break
            if verdict == "success":
                last_passed = i
        if last_passed >= 0:
            for _ in range(last_passed + 1):
                entry = queue.entries.pop(0)
                _merge(gh, repo, queue, entry, repo.issues[entry.number])
            continue
        if verdicts[0] != "failure":
            return
        entry = queue.entries.pop(0)
        _destroy(gh, repo, queue, entry, "dequeued")
        _dequeue_event(gh, repo, repo.issues[entry.number], entry.actor, "CI_FAILURE")
        _rebuild_from(gh, repo, queue, 0)


def _merge(gh: GitHub, repo: Repo, queue: Queue, entry: Entry, issue: Issue) -> None:
    pr = issue.pull
    assert pr is not None
    pr.merged, pr.merged_at, pr.merged_by = True, now(), entry.actor
    pr.merge_commit_sha = entry.head_sha
    head = repo.head_sha(issue)
    _dequeue_event(gh, repo, issue, entry.actor, "MERGE")
    gh._close(repo, issue, entry.actor)
    pr.head_sha_final, pr.base_sha_final = head, entry.base_sha
    _move(gh, repo, queue.branch, entry.head_sha, entry.actor)
    gh.record(repo, issue, "merged", entry.actor, commit_id=entry.head_sha)
    gh.record(repo, issue, "closed", entry.actor, commit_id=entry.head_sha)
    gh._emit_pr(repo, issue, "closed", entry.actor)
    _destroy(gh, repo, queue, entry, "merged")


def on_event(gh: GitHub, event: Event) -> None:
    """Event listener: a status or a completed check run may decide a group; a push to a
    queued pull request removes it; a push to the base branch (not the queue's own)
    invalidates every group, which are rebuilt on the new base."""
    if not gh.merge_queues.queues or event.event not in ("status", "check_run", "push"):
        return
    # A check run created already completed decides too (GitHub's queue reads the check's
    # state, not which webhook announced it).
    run = event.payload.get("check_run") or {}
    if event.event == "check_run" and run.get("status") != "completed":
        return
    full = str((event.payload.get("repository") or {}).get("full_name") or "")
    owner, _, name = full.partition("/")
    repo = gh.state.repo(owner, name)
    queue = gh.merge_queues.of(repo) if repo else None
    if repo is None or queue is None or not queue.entries or queue.moving:
        return
    with gh.state.lock:
        if event.event == "push":
            _on_push(gh, repo, queue, event.payload)
            return
        sha = event.payload.get("sha") or (event.payload.get("check_run") or {}).get("head_sha")
        if any(e.head_sha == sha for e in queue.entries):
            advance(gh, repo)


def _on_push(gh: GitHub, repo: Repo, queue: Queue, payload: dict[str, Any]) -> None:
    branch = str(payload.get("ref", "")).removeprefix("refs/heads/")
    actor = str((payload.get("sender") or {}).get("login") or "")
    if branch == queue.branch:
        _rebuild_from(gh, repo, queue, 0)
        return
    for position, entry in enumerate(queue.entries):
        pr = repo.issues[entry.number].pull
        if pr is not None and pr.head_ref == branch:
            queue.entries.remove(entry)
            _destroy(gh, repo, queue, entry, "dequeued")
            _dequeue_event(gh, repo, repo.issues[entry.number], actor, "UNKNOWN_REMOVAL_REASON")
            _rebuild_from(gh, repo, queue, position)
            return


def register_sandbox(router: Router) -> None:
    path = "/_sandbox/repos/{owner}/{repo}/pulls/{pull_number}/merge-queue"

    def pull_of(req: Request) -> tuple[Repo, Issue]:
        repo = req.gh.get_repo(req.params["owner"], req.params["repo"], req.user)
        return repo, req.gh.get_pull(repo, req.int_param("pull_number"))

    @router.add("POST", path, "_sandbox/enqueue-pull")
    def add(req: Request) -> Response:
        repo, issue = pull_of(req)
        entry = enqueue(req.gh, repo, issue, req.require_user())
        return Response(201, {"merge_group": {"head_sha": entry.head_sha, "branch": entry.branch}})

    @router.add("DELETE", path, "_sandbox/dequeue-pull")
    def remove(req: Request) -> Response:
        repo, issue = pull_of(req)
        dequeue(req.gh, repo, issue, req.require_user())
        return Response(204)
