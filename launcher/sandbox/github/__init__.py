"""Local stand-in for the parts of GitHub's REST API that launcher's jobs use.

Why: the gate and launch jobs talk to GitHub through PyGithub. Tests, benchmarks and
``launcher demo`` need the real wire protocol (URLs, pagination, errors, rate-limit
headers) and real git objects without reaching github.com.

Use from Python::

    from launcher.sandbox.github import GitHubSandbox

    with GitHubSandbox() as sb:                       # own temp dir, random port
        alice = sb.add_user("alice")                  # -> token
        sb.add_org("acme", members=["alice", "bob"])
        sb.add_team("acme", "approvers", members=["bob"])
        sb.create_repo("acme", "infra", {"README.md": b"hi"},
                       collaborators={"alice": "write"}, teams={"approvers": "push"})
        gh = sb.client(alice)                         # Github(base_url=sb.url, ...)
        sb.push_files("acme/infra", "req/x", {"deployments/p/x.yaml": "..."}, "msg", "alice")
        sb.events(event="pull_request")               # webhook payloads, as GitHub sends
        sb.request_counts()                           # Counter("GET /repos/{owner}/{repo}": n)
        sb.inject_fault("GET", "/repos/{owner}/{repo}/pulls", kind="rate_limit")

From a shell: ``python -m launcher.sandbox.cli github --port 8080 --seed seed.yaml``.
In pytest: ``from launcher.sandbox.pytest_plugin import github_sandbox``.

Model: repositories are real bare git repositories (``clone_url`` is a ``file://``
URL, ``refs/pull/N/head`` is kept up to date); pull requests, reviews, labels,
statuses, check runs and deployments live in memory. Accounts authenticate with
``Authorization: token|Bearer <token>``; ``bot=True`` accounts act like app
installation tokens (write everywhere, may create check runs). Permissions follow
GitHub: owner/org admins are admins, collaborators and team grants give their
level, anyone may read a public repository and comment; reviewing needs a grant,
labelling needs triage; statuses, merges, deployments, pushes to any unprotected
branch (someone else's pull request branch too), dismissing reviews and editing or
deleting anyone's comments or review text need write.

Who did what, as GitHub records it: every branch movement (``push_files``, the
contents API, the refs API, merges) goes through ``GitHub.update_branch``, which runs
``GitHub.push_checks`` (callables taking an ``activity.RefUpdate``; raise ``ApiError``
to refuse, e.g. branch protection) and records it in the activity log
(``GET /repos/{o}/{r}/activity``: push, force_push, branch_creation, branch_deletion,
pr_merge, with actor, before/after, the documented filters and cursor pagination).
Issue events (``/issues/{n}/events``, ``/issues/events``, ``/issues/events/{id}``) and
the timeline (``/issues/{n}/timeline``) record labeled/unlabeled, renamed,
review_requested/review_request_removed, review_dismissed (``dismissed_review``),
base_ref_changed (issue events only), head_ref_force_pushed, head_ref_deleted (an
open pull request is closed with it) / head_ref_restored, closed, reopened, merged,
and on the timeline only committed, reviewed and commented, each with its actor.

Git Database writes: blobs, trees (modes 100644, 100755, 120000 symlink, 160000
submodule; ``base_tree``; ``sha: null`` deletes), commits (author/committer/date) and
refs (create, update with ``force``, delete). The contents API answers a symlink to a
file in the repository with that file, any other symlink with a ``symlink`` object,
a submodule with a ``submodule`` object (``type: "file"`` in directory listings).
Reviews: pending reviews (no ``event``; one per user, visible only to their author),
update (``pull_request_review.edited`` with ``changes.body.from`` once submitted),
submit and delete a pending review.

Sandbox-only HTTP endpoints (not GitHub's): ``GET /_sandbox/events?since=&event=``,
``GET|DELETE /_sandbox/requests``, ``GET|POST|DELETE /_sandbox/faults``,
``GET /_sandbox/repos/{owner}/{repo}``, ``POST /_sandbox/repos/{owner}/{repo}/push``.

Not modelled: forks, branch protection, GraphQL, webhooks delivery over HTTP,
merge queue activity (``merge_queue_merge``), review comments on lines
(payloads are recorded instead), pushes made with ``git push`` straight into the
bare repository (no events; use ``push_files`` or the REST API), rebase merges.
"""

from launcher.sandbox.github.events import Event
from launcher.sandbox.github.observe import Fault, LoggedRequest
from launcher.sandbox.github.sandbox import GitHubSandbox

__all__ = ["Event", "Fault", "GitHubSandbox", "LoggedRequest"]
