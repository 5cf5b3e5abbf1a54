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
statuses, check runs and deployments live in memory. Permissions follow GitHub:
owner/org admins are admins, collaborators and team grants give their level, anyone
may read, comment on, open issues in and review a public repository (only reviews by
people with write access count towards rules); labelling needs triage; statuses,
merges, deployments, pushes to any unprotected branch (someone else's pull request
branch too), dismissing reviews and editing or deleting anyone's comments or review
text need write.

Credentials (``apps.py``): ``Authorization: token|Bearer <token>``. A token record
carries its account, permissions (None: the account's full rights), repositories and
expiry. GitHub Apps (``sb.create_app``/``install_app``) have an RSA key; their JWT
(RS256, ``exp`` at most 10 minutes ahead, ``iat`` not over 60 s ahead) is accepted on
the ``/app`` endpoints only, and ``POST /app/installations/{id}/access_tokens`` mints one-hour
tokens limited to the installation's permissions and repositories (403 "Resource not
accessible by integration" beyond them). ``sb.installation_token(app, repo,
permissions)`` mints one from Python (``"github-actions"``, id 15368, is GITHUB_TOKEN).
``bot=True`` accounts are apps installed everywhere with a non-expiring full token.
Check runs need an app and only their app may update them; check runs report
``app``, comments/deployments ``performed_via_github_app``, statuses ``creator``.

Rules (``rules.py``): classic branch protection and repository rulesets (``ref_name``
conditions, ``active``/``evaluate``/``disabled``) refuse ``PUT pulls/N/merge`` (405)
and pushes (422) with GitHub's messages: N approvals from writers, code owners,
stale approvals dismissed when the head or merge base changes, approval of the last
push by someone else, required checks pinned to an app, strict checks, linear
history, allowed merge methods, force pushes, deletions, creations, updates, classic
push restrictions; bypass actors, pull-request allowances and non-enforced admins.
``mergeable_state`` is ``clean``/``unstable``/``blocked``/``behind``/``dirty``/``draft``.
A ``merge_queue`` rule refuses the REST merge and pushes ("Changes must be made through
the merge queue"); other rule types are stored and returned, not enforced.
``gh.rules.check_push(repo, ref, actor, old, new)`` is the one push check and
``sb.required_checks(repo, branch)`` lists (context, app id) pairs.
Limits (``limits.py``): bodies 65,536 characters, status descriptions 140,
check-run text 65,535 and 50 annotations per request (updates append them), 1,000 statuses per
commit and context (bodies also on edits and review submissions); unknown search
qualifiers are refused. Opening a pull request requests its CODEOWNERS (``dir/*`` owns
direct files only; each request is a ``review_requested`` issue event); deleting its head
(or base) branch closes it. ``PATCH /issues/{n}`` edits, closes (``state_reason``) and
reopens issues, with their issue events and ``issues`` webhooks.

Who did what, as GitHub records it: every branch movement (``push_files``, the
contents API, the refs API, merges) goes through ``GitHub.update_branch``, which runs
``GitHub.push_checks`` (callables taking an ``activity.RefUpdate``; raise ``ApiError``
to refuse, e.g. branch protection) and records it in the activity log
(``GET /repos/{o}/{r}/activity``: push, force_push, branch_creation, branch_deletion,
pr_merge, with actor, before/after, the documented filters and cursor pagination).
Issue events (``/issues/{n}/events``, ``/issues/events``, ``/issues/events/{id}``) and
the timeline (``/issues/{n}/timeline``) record labeled/unlabeled, renamed,
review_requested/review_request_removed, review_dismissed (``dismissed_review``; a
stale approval dismissed by a push too, by the pusher, without message),
base_ref_changed (issue events only), head_ref_force_pushed, head_ref_deleted (an
open pull request is closed with it) / head_ref_restored, closed, reopened, merged,
and on the timeline only committed, reviewed and commented, each with its actor.

Git Database writes: blobs, trees (modes 100644, 100755, 120000 symlink, 160000
submodule; ``base_tree``; ``sha: null`` deletes), commits (author/committer/date) and
refs (create, update with ``force``, delete; ``git/matching-refs``). The contents API
answers ``application/vnd.github.object`` with one object (``entries``), a symlink to a
file in the repository with that file, any other symlink with a ``symlink`` object,
a submodule with a ``submodule`` object (``type: "file"`` in directory listings).
Reviews: pending reviews (no ``event``; one per user, visible only to their author),
update (``pull_request_review.edited`` with ``changes.body.from`` once submitted),
submit and delete a pending review.

GitHub Actions' side (with ``launcher.sandbox.actions``): environments with deployment
branch policies and secrets (``environments.py``; REST as documented, secret values from
``sb.create_environment``/``set_environment_secret``), the OIDC provider (``oidc.py``:
GitHub's ``sub`` forms, immutable subjects, ``GET|PUT .../actions/oidc/customization/sub``
for repositories and organizations, ``ref_protected``; ``environments.allows``: a
protected-branches-only environment admits every branch while no branch is protected),
``workflow_run`` completion events (``workflow_runs.py``), re-requested check runs and suites
(``checks_rerequest.py``) and a merge queue on the default branch (``merge_queue.py``:
``gh-readonly-queue`` groups, ``merge_group`` events, the branch's required checks).

Webhook delivery (``webhooks.py``): an app given a webhook URL (``sb.set_app_webhook`` or
``PATCH /app/hook/config``) gets each event it subscribes to, on repositories it is installed
on, POSTed there signed like GitHub (``X-Hub-Signature-256``, ``X-GitHub-Event``/``-Delivery``/
``-Hook-ID``/``-Hook-Installation-Target-ID``/``-Type``; the recorded payload plus its
``installation``); each attempt is recorded (``GET /app/hook/deliveries[/{id}]``) and
redelivered on ``POST /app/hook/deliveries/{id}/attempts``; answers go in the request log.
Installation changes (``installations.py``: ``sb.install_app``, ``uninstall_app``,
``suspend_installation``/``unsuspend_installation``, ``add_installation_repositories``/
``remove_installation_repositories``, ``accept_installation_permissions``; or over REST:
``DELETE /app/installations/{id}``, ``PUT|DELETE .../suspended`` with the app's JWT,
``PUT|DELETE /user/installations/{id}/repositories/{repository_id}`` for a repository admin)
send ``installation`` and ``installation_repositories`` to the app whatever it subscribes to,
and take effect on its tokens as on GitHub (revoked on uninstall; 403 while suspended; a
removed repository is out of reach of tokens minted before).

Time (``launcher.sandbox.clock``): every record is stamped from the sandbox clock, which the
in-process moto server and the runner's jobs (libfaketime) share; tests and the demo move it
(``clock.CLOCK.set``/``advance``, or ``POST /_sandbox/clock``), never a workflow input.

Sandbox-only HTTP endpoints (not GitHub's): ``GET /_sandbox/events?since=&event=``,
``GET|DELETE /_sandbox/requests``, ``GET|POST|DELETE /_sandbox/faults``,
``GET /_sandbox/repos/{owner}/{repo}``, ``POST /_sandbox/repos/{owner}/{repo}/push``.
Also ``GET|POST /_sandbox/clock``, ``POST|DELETE
/_sandbox/repos/{owner}/{repo}/pulls/{n}/merge-queue`` (GitHub enqueues only through
GraphQL or the UI), ``GET /_sandbox/actions/id-token/{request}`` (a job's
ACTIONS_ID_TOKEN_REQUEST_URL) and ``GET /_sandbox/actions/oidc/jwks``.

Not modelled: forks, review comments on lines, organization rulesets, rule types
beyond those above (stored only: deployments, signatures, file/commit patterns), review threads
(conversation resolution), fine-grained and OAuth token scopes, GraphQL, pushes made with
``git push`` straight
into the bare repository (no events and no rules; use ``push_files`` or the REST
API), rebase merges.
"""

from launcher.sandbox.github.events import Event
from launcher.sandbox.github.observe import Fault, LoggedRequest
from launcher.sandbox.github.sandbox import GitHubSandbox

__all__ = ["Event", "Fault", "GitHubSandbox", "LoggedRequest"]
