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
labelling needs triage, statuses/merge/deployments need write.

Sandbox-only HTTP endpoints (not GitHub's): ``GET /_sandbox/events?since=&event=``,
``GET|DELETE /_sandbox/requests``, ``GET|POST|DELETE /_sandbox/faults``,
``GET /_sandbox/repos/{owner}/{repo}``, ``POST /_sandbox/repos/{owner}/{repo}/push``.

Not modelled: forks, branch protection, GraphQL, webhooks delivery over HTTP
(payloads are recorded instead), pushes made with ``git push`` straight into the
bare repository (no events; use ``push_files`` or the REST API), rebase merges.
"""

from launcher.sandbox.github.events import Event
from launcher.sandbox.github.observe import Fault, LoggedRequest
from launcher.sandbox.github.sandbox import GitHubSandbox

__all__ = ["Event", "Fault", "GitHubSandbox", "LoggedRequest"]
