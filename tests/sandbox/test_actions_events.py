"""The local runner with the GitHub stand-in: which workflow file, ref and secrets a job gets
(pull_request_target, workflow_run, environments) and the OIDC subject it can present."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests

from launcher.sandbox import clock
from launcher.sandbox.actions import ActionsRunner, JobResult
from launcher.sandbox.github import GitHubSandbox
from launcher.sandbox.github.http import ApiError

VENV_BIN = Path(sys.executable).parent
CHECKOUT = "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2"
SETUP_PYTHON = "actions/setup-python@a26af69be951a213d495a4c3e4e4022e16d87065 # v5.6.0"
CONFIGURE_AWS = (
    "aws-actions/configure-aws-credentials@e3dd6a429d7300a6a4c196c26e071d42e0343502 # v4.0.2"
)


def workflow(text: str) -> str:
    text = textwrap.dedent(text).replace("CHECKOUT", CHECKOUT)
    return text.replace("SETUP_PYTHON", SETUP_PYTHON).replace("CONFIGURE_AWS", CONFIGURE_AWS)


TARGET = workflow(
    """\
    name: target
    on: pull_request_target
    permissions: {}
    jobs:
      show:
        runs-on: ubuntu-latest
        steps:
          - uses: CHECKOUT
            with: {persist-credentials: false}
          - run: |
              echo "workflow: WHOSE"
              echo "ref=$GITHUB_REF sha=$GITHUB_SHA"
              echo "checked out: $(cat marker.txt)"
    """
)
PR_CHECK = workflow(
    """\
    name: ci
    on: pull_request
    permissions: {}
    jobs:
      test:
        runs-on: ubuntu-latest
        steps:
          - run: |
              echo "workflow: WHOSE"
              echo "ref=$GITHUB_REF"
    """
)
AFTER_CI = workflow(
    """\
    name: after ci
    on:
      workflow_run:
        workflows: [ci]
        types: [completed]
    permissions: {}
    jobs:
      report:
        runs-on: ubuntu-latest
        steps:
          - env:
              HEAD_BRANCH: ${{ github.event.workflow_run.head_branch }}
              CONCLUSION: ${{ github.event.workflow_run.conclusion }}
              TRIGGER: ${{ github.event.workflow_run.event }}
            run: |
              echo "workflow: WHOSE"
              echo "ref=$GITHUB_REF after $TRIGGER on $HEAD_BRANCH: $CONCLUSION"
    """
)
DEPLOY = workflow(
    """\
    name: deploy
    on: [push, pull_request, pull_request_review, pull_request_target, workflow_dispatch]
    permissions: {}
    jobs:
      deploy:
        runs-on: ubuntu-latest
        environment: production
        steps:
          - env:
              KEY: ${{ secrets.AWS_KEY }}
            run: |
              if [ -n "$KEY" ]; then echo "key: $KEY (${#KEY} characters)"; else echo "no key"; fi
      other:
        runs-on: ubuntu-latest
        steps:
          - env:
              KEY: ${{ secrets.AWS_KEY }}
            run: if [ -n "$KEY" ]; then echo "key"; else echo "no key"; fi
    """
)
OIDC = workflow(
    """\
    name: oidc
    on: [push, pull_request, pull_request_target, workflow_dispatch]
    permissions:
      id-token: write
    jobs:
      plain:
        runs-on: ubuntu-latest
        steps:
          - uses: SETUP_PYTHON
            with: {python-version: "3.11"}
          - run: |
              python - <<'PY'
              import json, os, urllib.request
              url = os.environ["ACTIONS_ID_TOKEN_REQUEST_URL"] + "&audience=sts.amazonaws.com"
              token = os.environ["ACTIONS_ID_TOKEN_REQUEST_TOKEN"]
              req = urllib.request.Request(url, headers={"Authorization": f"bearer {token}"})
              print("jwt=" + json.load(urllib.request.urlopen(req))["value"])
              PY
      staged:
        runs-on: ubuntu-latest
        environment: staging
        steps:
          - run: test -n "$ACTIONS_ID_TOKEN_REQUEST_URL"
      none:
        runs-on: ubuntu-latest
        permissions: {contents: read}
        steps:
          - run: test -z "${ACTIONS_ID_TOKEN_REQUEST_URL:-}" && echo "no id token"
    """
)


@dataclass
class Repo:
    sb: GitHubSandbox
    tokens: dict[str, str]
    name: str = "acme/infra"

    def runner(self) -> ActionsRunner:
        return ActionsRunner.for_sandbox(
            self.sb, self.name, token=self.tokens["ci[bot]"], python_bin_dir=VENV_BIN
        )

    def open_pr(self, files: dict[str, str], branch: str = "change", base: str = "main") -> int:
        self.sb.push_files(self.name, branch, files, "change", "alice", base=base)
        repo = self.sb.client(self.tokens["alice"]).get_repo(self.name)
        return int(repo.create_pull(title="change", body="", head=branch, base=base).number)

    def api(self, method: str, path: str, who: str = "pat", **body: Any) -> requests.Response:
        return requests.request(
            method,
            f"{self.sb.url}/repos/{self.name}{path}",
            headers={"Authorization": f"token {self.tokens[who]}"},
            json=body or None,
            timeout=10,
        )


def make_repo(sb: GitHubSandbox, files: dict[str, str]) -> Repo:
    tokens = {n: sb.add_user(n) for n in ("alice", "pat")}
    tokens["ci[bot]"] = sb.add_user("ci[bot]", bot=True)
    sb.add_org("acme", members=["alice"], admins=["pat"])
    sb.create_repo("acme", "infra", files, collaborators={"alice": "write"})
    return Repo(sb, tokens)


def stdout(job: JobResult) -> str:
    return "".join(step.stdout + step.stderr for step in job.steps)


def only(jobs: list[JobResult], workflow: str, job_id: str | None = None) -> JobResult:
    found = [j for j in jobs if j.workflow == workflow and (job_id is None or j.job_id == job_id)]
    assert len(found) == 1, [(j.workflow, j.job_id) for j in jobs]
    return found[0]


# -- pull_request_target and workflow_run: the default branch's workflow and ref -------------
def test_pull_request_target_runs_the_default_branchs_workflow_even_when_the_pr_edits_it(
    github_sandbox: GitHubSandbox,
) -> None:
    repo = make_repo(
        github_sandbox,
        {
            ".github/workflows/target.yml": TARGET.replace("WHOSE", "main's"),
            ".github/workflows/ci.yml": PR_CHECK.replace("WHOSE", "main's"),
            "marker.txt": "main",
        },
    )
    main = github_sandbox.branch_sha("acme/infra", "main")
    number = repo.open_pr(
        {
            ".github/workflows/target.yml": TARGET.replace("WHOSE", "the pull request's"),
            ".github/workflows/ci.yml": PR_CHECK.replace("WHOSE", "the pull request's"),
            "marker.txt": "pull request",
        }
    )
    payload = github_sandbox.last_event("pull_request", "opened").payload
    jobs = repo.runner().run_webhook("pull_request", payload)

    target = only(jobs, "target.yml")
    assert target.ok, target.log()
    assert "workflow: main's" in stdout(target)
    assert f"ref=refs/heads/main sha={main}" in stdout(target)
    assert "checked out: main" in stdout(target)
    # The pull_request workflow is the pull request's own, on its merge ref.
    ci = only(jobs, "ci.yml")
    assert "workflow: the pull request's" in stdout(ci)
    assert f"ref=refs/pull/{number}/merge" in stdout(ci)


def test_a_pull_request_run_is_on_the_test_merge_commit(github_sandbox: GitHubSandbox) -> None:
    """GitHub: GITHUB_SHA for pull_request is the "last merge commit on the GITHUB_REF branch"
    (refs/pull/N/merge): the head merged into the base branch's tip."""
    sb = github_sandbox
    repo = make_repo(
        sb,
        {
            ".github/workflows/show.yml": TARGET.replace(
                "pull_request_target", "pull_request"
            ).replace("WHOSE", "ci"),
            "marker.txt": "main",
        },
    )
    number = repo.open_pr({"marker.txt": "pull request"})
    sb.push_files("acme/infra", "main", {"later.txt": "later"}, "main moves on", "pat")
    payload = sb.last_event("pull_request", "opened").payload
    (job,) = repo.runner().run_event("pull_request", payload)
    assert job.ok, job.log()
    merge = sb.repo("acme/infra").git.ref(f"refs/pull/{number}/merge")
    assert merge is not None
    assert f"ref=refs/pull/{number}/merge sha={merge}" in stdout(job)
    commit = sb.repo("acme/infra").git.commit(merge)
    assert commit is not None and list(commit.parents) == [
        sb.branch_sha("acme/infra", "main"),
        payload["pull_request"]["head"]["sha"],
    ]
    assert "checked out: pull request" in stdout(job)


def test_pull_request_target_on_another_base_branch_still_runs_the_default_branchs_workflow(
    github_sandbox: GitHubSandbox,
) -> None:
    repo = make_repo(
        github_sandbox,
        {".github/workflows/target.yml": TARGET.replace("WHOSE", "main's"), "marker.txt": "main"},
    )
    # An old branch with an outdated (say, vulnerable) copy of the workflow.
    github_sandbox.push_files(
        "acme/infra",
        "release",
        {".github/workflows/target.yml": TARGET.replace("WHOSE", "release's old")},
        "old",
        "pat",
        base="main",
    )
    repo.open_pr({"marker.txt": "pull request"}, base="release")
    payload = github_sandbox.last_event("pull_request", "opened").payload
    (job,) = repo.runner().run_event("pull_request_target", payload)
    assert "workflow: main's" in stdout(job) and "ref=refs/heads/main" in stdout(job)


def test_workflow_run_runs_the_default_branchs_workflow_after_the_named_one_completes(
    github_sandbox: GitHubSandbox,
) -> None:
    repo = make_repo(
        github_sandbox,
        {
            ".github/workflows/ci.yml": PR_CHECK.replace("WHOSE", "main's"),
            ".github/workflows/after.yml": AFTER_CI.replace("WHOSE", "main's"),
        },
    )
    repo.open_pr(
        {
            ".github/workflows/ci.yml": PR_CHECK.replace("WHOSE", "pr's"),
            ".github/workflows/after.yml": AFTER_CI.replace("WHOSE", "pr's"),
        }
    )
    payload = github_sandbox.last_event("pull_request", "opened").payload
    jobs = repo.runner().run_event("pull_request", payload)
    assert [j.workflow for j in jobs] == ["ci.yml", "after.yml"]
    after = only(jobs, "after.yml")
    assert "workflow: main's" in stdout(after)
    assert "ref=refs/heads/main after pull_request on change: success" in stdout(after)
    # GitHub announces every run's completion, the workflow_run workflow's own included.
    runs = [e.payload["workflow_run"] for e in github_sandbox.events(0, "workflow_run")]
    assert [(r["name"], r["event"], r["conclusion"]) for r in runs] == [
        ("ci", "pull_request", "success"),
        ("after ci", "workflow_run", "success"),
    ]
    assert runs[0]["pull_requests"][0]["number"] == 1


# -- environments --------------------------------------------------------------------------------
@pytest.fixture
def deploy_repo(github_sandbox: GitHubSandbox) -> Repo:
    repo = make_repo(github_sandbox, {".github/workflows/deploy.yml": DEPLOY})
    github_sandbox.create_environment(
        "acme/infra", "production", branches=["main"], secrets={"AWS_KEY": "AKIAPROD"}
    )
    return repo


def test_an_environment_secret_is_absent_for_a_job_on_another_ref(deploy_repo: Repo) -> None:
    sb = deploy_repo.sb
    number = deploy_repo.open_pr({"deployments/x.yaml": "x"})
    payload = sb.last_event("pull_request", "opened").payload
    runner = deploy_repo.runner()

    deploy = only(runner.run_event("pull_request", payload), "deploy.yml", "deploy")
    assert deploy.result == "failure" and deploy.environment == "production"
    assert [s.name for s in deploy.steps] == ["Set up job"]  # no step ran
    assert (
        f'Branch "refs/pull/{number}/merge" is not allowed to deploy to production due to '
        "environment protection rules."
    ) in stdout(deploy)

    # A review event runs on the merge ref too, even when an admin approves.
    pat = sb.client(deploy_repo.tokens["pat"]).get_repo("acme/infra")
    pat.get_pull(number).create_review(body="ok", event="APPROVE")
    review = sb.last_event("pull_request_review", "submitted").payload
    reviewed = only(runner.run_event("pull_request_review", review), "deploy.yml", "deploy")
    assert reviewed.result == "failure" and "not allowed to deploy" in stdout(reviewed)

    dispatched = runner.run_workflow("deploy.yml", "workflow_dispatch", ref="refs/heads/change")
    assert only(dispatched, "deploy.yml", "deploy").result == "failure"


def test_an_environment_secret_is_present_on_the_default_branch(deploy_repo: Repo) -> None:
    sb = deploy_repo.sb
    deploy_repo.open_pr({"deployments/x.yaml": "x"})
    payload = sb.last_event("pull_request", "opened").payload
    runner = deploy_repo.runner()
    for jobs in (
        runner.run_event("pull_request_target", payload),  # evaluated against main
        runner.run_workflow("deploy.yml", "workflow_dispatch"),
    ):
        deploy = only(jobs, "deploy.yml", "deploy")
        assert deploy.ok, deploy.log()
        assert "key: *** (8 characters)" in stdout(deploy)  # present, and masked in logs
        assert "no key" in stdout(only(jobs, "deploy.yml", "other"))  # no environment: none


def test_environments_and_branch_policies_over_rest(github_sandbox: GitHubSandbox) -> None:
    repo = make_repo(github_sandbox, {"README.md": "hi"})
    answer = repo.api(
        "PUT",
        "/environments/production",
        deployment_branch_policy={"protected_branches": False, "custom_branch_policies": True},
    )
    assert answer.status_code == 200
    assert answer.json()["deployment_branch_policy"] == {
        "protected_branches": False,
        "custom_branch_policies": True,
    }
    created = repo.api(
        "POST", "/environments/production/deployment-branch-policies", name="release/*"
    )
    assert created.status_code == 200 and created.json()["type"] == "branch"
    listed = repo.api("GET", "/environments/production/deployment-branch-policies").json()
    assert [p["name"] for p in listed["branch_policies"]] == ["release/*"]
    env = repo.api("GET", "/environments/production").json()
    assert [r["type"] for r in env["protection_rules"]] == ["branch_policy"]
    assert repo.api("GET", "/environments").json()["total_count"] == 1
    # Only admins change environments; alice (write) may read them.
    assert repo.api("PUT", "/environments/other", who="alice").status_code == 403
    both = {"protected_branches": True, "custom_branch_policies": True}
    assert repo.api("PUT", "/environments/x", deployment_branch_policy=both).status_code == 422
    policy_id = created.json()["id"]
    path = f"/environments/production/deployment-branch-policies/{policy_id}"
    assert repo.api("PUT", path, name="main").json()["name"] == "main"
    assert repo.api("DELETE", path).status_code == 204
    assert repo.api("GET", path).status_code == 404
    assert repo.api("DELETE", "/environments/production").status_code == 204
    assert repo.api("GET", "/environments/production").status_code == 404


def test_a_policy_pattern_star_stops_at_a_slash(github_sandbox: GitHubSandbox) -> None:
    from launcher.sandbox.github.environments import allows

    make_repo(github_sandbox, {"README.md": "hi"})
    env = github_sandbox.create_environment("acme/infra", "prod", branches=["release/*"])
    repo = github_sandbox.repo("acme/infra")
    gh = github_sandbox.gh
    assert allows(gh, repo, env, "refs/heads/release/1.0") is None
    assert allows(gh, repo, env, "refs/heads/release/1.0/hotfix") is not None
    assert allows(gh, repo, env, "refs/tags/release/1.0") is not None


# -- OIDC ----------------------------------------------------------------------------------------
@pytest.fixture
def oidc_repo(github_sandbox: GitHubSandbox) -> Repo:
    repo = make_repo(github_sandbox, {".github/workflows/oidc.yml": OIDC})
    github_sandbox.create_environment("acme/infra", "staging")
    return repo


def subjects(jobs: list[JobResult]) -> dict[str, str | None]:
    return {j.job_id: (j.id_token_claims or {}).get("sub") for j in jobs}


def test_the_oidc_sub_takes_githubs_forms(oidc_repo: Repo) -> None:
    sb = oidc_repo.sb
    repo = sb.repo("acme/infra")
    org_id = sb.gh.state.user("acme").id  # type: ignore[union-attr]
    runner = oidc_repo.runner()
    # A repository created after 2026-07-15: the immutable form by default.
    immutable = f"repo:acme@{org_id}/infra@{repo.id}"
    on_main = runner.run_workflow("oidc.yml", "workflow_dispatch")
    assert subjects(on_main) == {
        "plain": f"{immutable}:ref:refs/heads/main",
        "staged": f"{immutable}:environment:staging",
        "none": None,
    }
    assert all(j.ok for j in on_main), [j.log() for j in on_main]
    assert "no id token" in stdout(only(on_main, "oidc.yml", "none"))

    # The token a step fetches is signed by the stand-in and carries the same claims.
    line = next(
        x for x in stdout(only(on_main, "oidc.yml", "plain")).split() if x.startswith("jwt=")
    )
    keys = requests.get(f"{sb.url}/_sandbox/actions/oidc/jwks", timeout=10).json()["keys"]
    public = jwt.PyJWK(keys[0]).key
    claims = jwt.decode(line[4:], public, algorithms=["RS256"], audience="sts.amazonaws.com")
    assert claims["sub"] == f"{immutable}:ref:refs/heads/main"
    assert claims["iss"] == "https://token.actions.githubusercontent.com"
    assert claims["repository_id"] == str(repo.id) and claims["job_workflow_ref"] == (
        "acme/infra/.github/workflows/oidc.yml@refs/heads/main"
    )

    # Opting out per repository, as GET .../oidc/customization/sub then reports.
    assert (
        oidc_repo.api(
            "PUT", "/actions/oidc/customization/sub", use_default=True, use_immutable_subject=False
        ).status_code
        == 201
    )
    reported = oidc_repo.api("GET", "/actions/oidc/customization/sub").json()
    assert reported == {
        "use_default": True,
        "use_immutable_subject": False,
        "sub_claim_prefix": "repo:acme/infra",
    }
    oidc_repo.open_pr({"x.txt": "x"})
    payload = sb.last_event("pull_request", "opened").payload
    assert subjects(runner.run_event("pull_request", payload))["plain"] == (
        "repo:acme/infra:pull_request"
    )
    assert subjects(runner.run_event("pull_request_target", payload)) == {
        "plain": "repo:acme/infra:pull_request",
        "staged": "repo:acme/infra:environment:staging",
        "none": None,
    }
    tag = runner.run_workflow("oidc.yml", "workflow_dispatch", ref="refs/heads/change")
    assert subjects(tag)["plain"] == "repo:acme/infra:ref:refs/heads/change"


def test_the_ref_protected_claim_follows_branch_protection(oidc_repo: Repo) -> None:
    sb = oidc_repo.sb
    runner = oidc_repo.runner()

    def claim() -> str:
        jobs = runner.run_workflow("oidc.yml", "workflow_dispatch")
        return str((only(jobs, "oidc.yml", "plain").id_token_claims or {})["ref_protected"])

    assert claim() == "false"
    sb.protect_branch(
        "acme/infra",
        "main",
        {
            "required_status_checks": None,
            "enforce_admins": True,
            "required_pull_request_reviews": None,
            "restrictions": None,
        },
    )
    assert claim() == "true"


def test_a_custom_oidc_sub_template(oidc_repo: Repo) -> None:
    keys = ["repo", "context", "job_workflow_ref"]
    answer = oidc_repo.api(
        "PUT",
        "/actions/oidc/customization/sub",
        use_default=False,
        include_claim_keys=keys,
        use_immutable_subject=False,
    )
    assert answer.status_code == 201
    assert (
        oidc_repo.api("GET", "/actions/oidc/customization/sub").json()["include_claim_keys"] == keys
    )
    jobs = oidc_repo.runner().run_workflow("oidc.yml", "workflow_dispatch")
    assert subjects(jobs)["plain"] == (
        "repo:acme/infra:ref:refs/heads/main:job_workflow_ref:"
        "acme/infra/.github/workflows/oidc.yml@refs/heads/main"
    )
    bad_keys = ["repo", "not-a-key"]
    bad = oidc_repo.api(
        "PUT", "/actions/oidc/customization/sub", use_default=False, include_claim_keys=bad_keys
    )
    assert bad.status_code == 422
    assert (
        oidc_repo.api(
            "PUT", "/actions/oidc/customization/sub", who="alice", use_default=True
        ).status_code
        == 403
    )


def test_use_default_false_alone_takes_the_organizations_template(oidc_repo: Repo) -> None:
    """GitHub's docs: a repository uses its organization's template with
    {"use_default": false} and no include_claim_keys."""
    sb = oidc_repo.sb
    org_path = f"{sb.url}/orgs/acme/actions/oidc/customization/sub"

    def as_(who: str) -> dict[str, str]:
        return {"Authorization": f"token {oidc_repo.tokens[who]}"}

    keys = {"include_claim_keys": ["repository_owner", "context"]}
    refused = requests.put(org_path, json=keys, headers=as_("alice"), timeout=10)
    assert refused.status_code == 403  # a member, not an owner
    assert requests.put(org_path, json=keys, headers=as_("pat"), timeout=10).status_code == 201
    got = requests.get(org_path, headers=as_("alice"), timeout=10).json()
    assert got["include_claim_keys"] == ["repository_owner", "context"]
    # Repositories keep the default until they opt in.
    runner = oidc_repo.runner()
    assert subjects(runner.run_workflow("oidc.yml", "workflow_dispatch"))["plain"].endswith(
        ":ref:refs/heads/main"
    )
    opt_in = {"use_default": False, "use_immutable_subject": False}
    assert oidc_repo.api("PUT", "/actions/oidc/customization/sub", **opt_in).status_code == 201
    reported = oidc_repo.api("GET", "/actions/oidc/customization/sub").json()
    assert reported["use_default"] is False
    assert reported["include_claim_keys"] == ["repository_owner", "context"]
    jobs = runner.run_workflow("oidc.yml", "workflow_dispatch")
    assert subjects(jobs)["plain"] == "repository_owner:acme:ref:refs/heads/main"


@pytest.fixture
def old_clock() -> Iterator[None]:
    clock.CLOCK.set(datetime(2026, 1, 5, 12, 0, tzinfo=UTC))
    yield
    clock.CLOCK.reset()


def test_an_older_repository_gets_the_immutable_form_when_its_organization_opts_in(
    github_sandbox: GitHubSandbox, old_clock: None
) -> None:
    repo = make_repo(github_sandbox, {".github/workflows/oidc.yml": OIDC})
    clock.CLOCK.reset()
    runner = repo.runner()
    assert subjects(runner.run_workflow("oidc.yml", "workflow_dispatch"))["plain"] == (
        "repo:acme/infra:ref:refs/heads/main"
    )
    github_sandbox.set_org_immutable_subject("acme", True)
    r = github_sandbox.repo("acme/infra")
    org_id = github_sandbox.gh.state.user("acme").id  # type: ignore[union-attr]
    assert subjects(runner.run_workflow("oidc.yml", "workflow_dispatch"))["plain"] == (
        f"repo:acme@{org_id}/infra@{r.id}:ref:refs/heads/main"
    )
    assert repo.api("GET", "/actions/oidc/customization/sub").json()["sub_claim_prefix"] == (
        f"repo:acme@{org_id}/infra@{r.id}"
    )


# -- check_run / check_suite rerequested -----------------------------------------------------
RERUN = workflow(
    """\
    name: rerun
    on:
      check_run:
        types: [rerequested]
      check_suite:
        types: [rerequested]
    permissions: {}
    jobs:
      again:
        runs-on: ubuntu-latest
        steps:
          - env:
              WHO: ${{ github.event.sender.login }}
            run: echo "rerun of $GITHUB_EVENT_NAME asked by $WHO on $GITHUB_REF"
    """
)


def test_rerequesting_a_check_announces_who_asked_and_runs_the_default_branchs_workflow(
    github_sandbox: GitHubSandbox,
) -> None:
    sb = github_sandbox
    repo = make_repo(sb, {".github/workflows/rerun.yml": RERUN})
    other_bot = sb.add_user("other[bot]", bot=True)
    sha = sb.branch_sha("acme/infra", "main")
    bot = sb.client(repo.tokens["ci[bot]"]).get_repo("acme/infra")
    run = bot.create_check_run("tests", sha, status="completed", conclusion="failure")

    assert repo.api("POST", f"/check-runs/{run.id}/rerequest", who="alice").status_code == 201
    event = sb.last_event("check_run", "rerequested")
    assert event.payload["sender"]["login"] == "alice"
    assert event.payload["check_run"]["id"] == run.id
    (job,) = repo.runner().run_event("check_run", event.payload)
    assert "rerun of check_run asked by alice on refs/heads/main" in stdout(job)

    assert repo.api("POST", f"/check-suites/{run.id}/rerequest", who="alice").status_code == 201
    suite = sb.last_event("check_suite", "rerequested").payload["check_suite"]
    assert (suite["status"], suite["conclusion"], suite["head_sha"]) == ("queued", None, sha)

    # Another app may not re-request this app's check; nor may someone without write access.
    mallory = sb.add_user("mallory")
    url = f"{sb.url}/repos/acme/infra/check-runs/{run.id}/rerequest"
    for token in (other_bot, mallory):
        answer = requests.post(url, headers={"Authorization": f"token {token}"}, timeout=10)
        assert answer.status_code == 403
    assert repo.api("POST", "/check-runs/999999/rerequest", who="alice").status_code == 404


# -- merge queue -------------------------------------------------------------------------------
QUEUE = workflow(
    """\
    name: queue
    on:
      merge_group:
        types: [checks_requested]
        branches: [main]
    permissions: {}
    jobs:
      check:
        runs-on: ubuntu-latest
        steps:
          - uses: CHECKOUT
            with: {persist-credentials: false}
          - run: echo "ref=$GITHUB_REF sha=$GITHUB_SHA files=$(ls | tr '\\n' ' ')"
    """
)


@pytest.fixture
def queued(github_sandbox: GitHubSandbox) -> Repo:
    repo = make_repo(github_sandbox, {".github/workflows/queue.yml": QUEUE})
    github_sandbox.enable_merge_queue("acme/infra", required_checks=["ci"])
    repo.open_pr({"one.txt": "1"}, branch="one")
    repo.open_pr({"two.txt": "2"}, branch="two")
    return repo


def set_ci(repo: Repo, sha: str, state: str) -> None:
    bot = repo.sb.client(repo.tokens["ci[bot]"]).get_repo("acme/infra")
    bot.get_commit(sha).create_status(state, context="ci")


def groups(sb: GitHubSandbox) -> list[tuple[str | None, str, str]]:
    return [
        (e.action, e.payload["merge_group"]["head_ref"], e.payload.get("reason", ""))
        for e in sb.events(0, "merge_group")
    ]


def test_merge_groups_are_checked_on_their_own_commit_and_merged(queued: Repo) -> None:
    sb = queued.sb
    main = sb.branch_sha("acme/infra", "main")
    first = sb.enqueue_pull("acme/infra", 1, "alice")
    second = sb.enqueue_pull("acme/infra", 2, "alice")
    ref1 = f"refs/heads/gh-readonly-queue/main/pr-1-{main}"
    ref2 = f"refs/heads/gh-readonly-queue/main/pr-2-{first}"
    assert groups(sb) == [("checks_requested", ref1, ""), ("checks_requested", ref2, "")]
    assert [e.action for e in sb.events(0, "pull_request")][-2:] == ["enqueued", "enqueued"]

    # The merge_group workflow runs on the group's commit: main with the queued changes.
    event = sb.events(0, "merge_group")[1]
    (job,) = queued.runner().run_event("merge_group", event.payload)
    assert f"ref={ref2} sha={second} files=one.txt two.txt" in stdout(job).replace("  ", " ")

    # `branches` filters on the branch the group merges into
    other = {**event.payload, "merge_group": {**event.payload["merge_group"], "base_ref": "x"}}
    assert queued.runner().run_event("merge_group", other) == []
    # A passing check on the pull request's own head does not merge it.
    set_ci(queued, sb.branch_sha("acme/infra", "one"), "success")
    assert sb.branch_sha("acme/infra", "main") == main
    # The second group passing merges both (it contains the first one's changes).
    set_ci(queued, second, "success")
    assert sb.branch_sha("acme/infra", "main") == second
    pulls = [sb.pull("acme/infra", n).pull for n in (1, 2)]
    assert all(p is not None and p.merged and p.merged_by == "alice" for p in pulls)
    assert groups(sb)[2:] == [("destroyed", ref1, "merged"), ("destroyed", ref2, "merged")]
    dequeued = [e.payload["reason"] for e in sb.events(0, "pull_request", "dequeued")]
    assert dequeued == ["MERGE", "MERGE"]
    assert not [b for b in sb.repo("acme/infra").branches if b.startswith("gh-readonly-queue/")]


def test_a_failing_group_is_removed_and_the_groups_behind_it_rebuilt(queued: Repo) -> None:
    sb = queued.sb
    main = sb.branch_sha("acme/infra", "main")
    first = sb.enqueue_pull("acme/infra", 1, "alice")
    sb.enqueue_pull("acme/infra", 2, "alice")
    set_ci(queued, first, "failure")
    assert sb.branch_sha("acme/infra", "main") == main
    (dequeued,) = sb.events(0, "pull_request", "dequeued")
    assert (dequeued.payload["number"], dequeued.payload["reason"]) == (1, "CI_FAILURE")
    rebuilt = f"refs/heads/gh-readonly-queue/main/pr-2-{main}"
    assert [g[0::2] for g in groups(sb)[2:4]] == [
        ("destroyed", "dequeued"),
        ("destroyed", "invalidated"),
    ]
    assert groups(sb)[4] == ("checks_requested", rebuilt, "")
    new_head = sb.events(0, "merge_group")[4].payload["merge_group"]["head_sha"]
    set_ci(queued, new_head, "success")
    assert sb.branch_sha("acme/infra", "main") == new_head
    assert sb.pull("acme/infra", 2).state == "closed" and sb.pull("acme/infra", 1).state == "open"


def test_enqueueing_through_the_sandbox_endpoint_needs_write_access(queued: Repo) -> None:
    sb = queued.sb
    mallory = sb.add_user("mallory")
    url = f"{sb.url}/_sandbox/repos/acme/infra/pulls/1/merge-queue"
    refused = requests.post(url, headers={"Authorization": f"token {mallory}"}, timeout=10)
    assert refused.status_code == 403
    alice = {"Authorization": f"token {queued.tokens['alice']}"}
    added = requests.post(url, headers=alice, timeout=10)
    assert added.status_code == 201 and added.json()["merge_group"]["branch"].startswith(
        "gh-readonly-queue/main/pr-1-"
    )
    assert requests.delete(url, headers=alice, timeout=10).status_code == 204
    assert sb.last_event("pull_request", "dequeued").payload["reason"] == "MANUAL"
    assert groups(sb)[-1][0::2] == ("destroyed", "dequeued")


# -- permissions: the job token -----------------------------------------------------------------
STATUS = workflow(
    """\
    name: status
    on: workflow_dispatch
    permissions: {contents: read}
    jobs:
      reader:
        runs-on: ubuntu-latest
        steps: &post
          - uses: SETUP_PYTHON
            with: {python-version: "3.11"}
          - env:
              TOKEN: ${{ github.token }}
            run: |
              python - <<'PY'
              import os, json, urllib.error, urllib.request
              url = f"{os.environ['GITHUB_API_URL']}/repos/{os.environ['GITHUB_REPOSITORY']}"
              body = json.dumps({"state": "success", "context": os.environ["GITHUB_JOB"]})
              req = urllib.request.Request(
                  f"{url}/statuses/{os.environ['GITHUB_SHA']}", data=body.encode(),
                  headers={"Authorization": f"token {os.environ['TOKEN']}"}, method="POST")
              try:
                  print("status:", urllib.request.urlopen(req).status)
              except urllib.error.HTTPError as err:
                  print("status:", err.code, json.load(err)["message"])
              PY
      writer:
        runs-on: ubuntu-latest
        permissions: {statuses: write}
        steps: *post
    """
)


def test_permissions_limit_the_job_token(github_sandbox: GitHubSandbox) -> None:
    make_repo(github_sandbox, {".github/workflows/status.yml": STATUS})
    runner = ActionsRunner.for_sandbox(github_sandbox, "acme/infra", python_bin_dir=VENV_BIN)
    reader, writer = runner.run_workflow("status.yml", "workflow_dispatch")
    assert reader.permissions["contents"] == "read" and reader.permissions["statuses"] == "none"
    assert "status: 403 Resource not accessible by integration" in stdout(reader)
    assert writer.permissions == {**{k: "none" for k in writer.permissions}, "statuses": "write"}
    assert "status: 201" in stdout(writer)
    sha = github_sandbox.branch_sha("acme/infra", "main")
    (status,) = github_sandbox.repo("acme/infra").statuses
    assert (status.sha, status.context, status.creator) == (sha, "writer", "github-actions[bot]")


def test_the_queue_requires_the_branch_protections_checks_from_their_app(
    github_sandbox: GitHubSandbox,
) -> None:
    sb = github_sandbox
    repo = make_repo(sb, {"README.md": "hi"})
    ci_app = sb.gh.apps.of_login("ci[bot]")
    assert ci_app is not None
    sb.protect_branch(
        "acme/infra",
        "main",
        {
            "required_status_checks": {
                "strict": False,
                "checks": [{"context": "ci", "app_id": ci_app.id}],
            },
            "enforce_admins": True,
            "required_pull_request_reviews": None,
            "restrictions": None,
        },
    )
    sb.enable_merge_queue("acme/infra")
    repo.open_pr({"one.txt": "1"}, branch="one")
    main = sb.branch_sha("acme/infra", "main")
    # Only a pull request meeting the branch's rules may join the queue: ci on its own head.
    with pytest.raises(ApiError) as refused:
        sb.enqueue_pull("acme/infra", 1, "alice")
    assert refused.value.status == 422 and "ci" in refused.value.message
    assert sb.events(0, "merge_group") == []
    set_ci(repo, sb.branch_sha("acme/infra", "one"), "success")
    group = sb.enqueue_pull("acme/infra", 1, "alice")
    # alice (write access) sets the required context herself: not from the pinned app.
    alice = sb.client(repo.tokens["alice"]).get_repo("acme/infra")
    alice.get_commit(group).create_status("success", context="ci")
    assert sb.branch_sha("acme/infra", "main") == main
    set_ci(repo, group, "success")
    assert sb.branch_sha("acme/infra", "main") == group


def test_an_environment_for_protected_branches_only(github_sandbox: GitHubSandbox) -> None:
    repo = make_repo(github_sandbox, {".github/workflows/deploy.yml": DEPLOY})
    github_sandbox.create_environment(
        "acme/infra", "production", protected_branches=True, secrets={"AWS_KEY": "AKIAPROD"}
    )
    runner = repo.runner()
    # GitHub: "If no branch protection rules are defined for any branch in the repository,
    # then all branches can deploy."
    nothing_protected = only(
        runner.run_workflow("deploy.yml", "workflow_dispatch"), "deploy.yml", "deploy"
    )
    assert "key: *** (8 characters)" in stdout(nothing_protected)
    github_sandbox.push_files("acme/infra", "release", {"r.txt": "r"}, "release", "alice")
    github_sandbox.protect_branch(
        "acme/infra",
        "release",
        {
            "required_status_checks": None,
            "enforce_admins": True,
            "required_pull_request_reviews": None,
            "restrictions": None,
        },
    )
    refused = only(runner.run_workflow("deploy.yml", "workflow_dispatch"), "deploy.yml", "deploy")
    assert 'Branch "main" is not allowed to deploy to production' in stdout(refused)
    github_sandbox.protect_branch(
        "acme/infra",
        "main",
        {
            "required_status_checks": None,
            "enforce_admins": True,
            "required_pull_request_reviews": None,
            "restrictions": None,
        },
    )
    allowed = only(runner.run_workflow("deploy.yml", "workflow_dispatch"), "deploy.yml", "deploy")
    assert "key: *** (8 characters)" in stdout(allowed)


AWS = workflow(
    """\
    name: aws
    on: [pull_request, workflow_dispatch]
    permissions: {id-token: write}
    jobs:
      launch:
        runs-on: ubuntu-latest
        environment: ${{ github.event_name == 'workflow_dispatch' && 'production' || '' }}
        steps:
          - uses: CONFIGURE_AWS
            with:
              role-to-assume: arn:aws:iam::123456789012:role/launcher
              aws-region: us-east-1
      forgot:
        runs-on: ubuntu-latest
        permissions: {contents: read}
        steps:
          - uses: CONFIGURE_AWS
            with:
              role-to-assume: arn:aws:iam::123456789012:role/launcher
              aws-region: us-east-1
    """
)


def test_the_aws_role_trusts_the_oidc_subject_not_the_workflow(
    github_sandbox: GitHubSandbox,
) -> None:
    repo = make_repo(github_sandbox, {".github/workflows/aws.yml": AWS})
    github_sandbox.create_environment("acme/infra", "production", branches=["main"])
    oidc_setting = {"use_default": True, "use_immutable_subject": False}
    assert repo.api("PUT", "/actions/oidc/customization/sub", **oidc_setting).status_code == 201
    trusted = "repo:acme/infra:environment:production"
    runner = ActionsRunner.for_sandbox(
        github_sandbox,
        "acme/infra",
        aws_env={"AWS_ENDPOINT_URL": "http://127.0.0.1:9"},
        aws_role_trust=lambda role, claims: (
            None if claims["sub"] == trusted else f"Not authorized: {claims['sub']}"
        ),
    )
    launch, forgot = runner.run_workflow("aws.yml", "workflow_dispatch")
    assert launch.ok, launch.log()
    assert f"with OIDC subject {trusted}" in stdout(launch)
    assert forgot.result == "failure" and "Did you mean to set the `id-token` permission?" in (
        stdout(forgot)
    )
    repo.open_pr({"x.txt": "x"})
    payload = github_sandbox.last_event("pull_request", "opened").payload
    launch = only(runner.run_event("pull_request", payload), "aws.yml", "launch")
    assert "Not authorized: repo:acme/infra:pull_request" in stdout(launch)


def test_a_workflow_without_permissions_gets_the_repositorys_default(
    github_sandbox: GitHubSandbox,
) -> None:
    text = STATUS.replace("permissions: {contents: read}\n", "").replace(
        "        permissions: {statuses: write}\n", ""
    )
    make_repo(github_sandbox, {".github/workflows/status.yml": text})
    restricted = ActionsRunner.for_sandbox(github_sandbox, "acme/infra", python_bin_dir=VENV_BIN)
    reader, _ = restricted.run_workflow("status.yml", "workflow_dispatch")
    assert "status: 403 Resource not accessible by integration" in stdout(reader)
    permissive = ActionsRunner.for_sandbox(
        github_sandbox, "acme/infra", python_bin_dir=VENV_BIN, default_permissions="permissive"
    )
    writer, _ = permissive.run_workflow("status.yml", "workflow_dispatch")
    assert "status: 201" in stdout(writer)


def test_pushing_to_a_queued_pull_request_or_its_base_changes_the_queue(queued: Repo) -> None:
    sb = queued.sb
    first = sb.enqueue_pull("acme/infra", 1, "alice")
    sb.enqueue_pull("acme/infra", 2, "alice")
    # A direct push to main (an admin): both groups are rebuilt on the new main.
    main = sb.push_files("acme/infra", "main", {"hotfix.txt": "x"}, "hotfix", "pat")
    after = sb.events(0, "merge_group")[2:]
    assert [(e.action, e.payload.get("reason")) for e in after] == [
        ("destroyed", "invalidated"),
        ("checks_requested", None),
        ("destroyed", "invalidated"),
        ("checks_requested", None),
    ]
    one, two = after[1].payload["merge_group"], after[3].payload["merge_group"]
    assert one["head_ref"] == f"refs/heads/gh-readonly-queue/main/pr-1-{main}"
    assert one["head_sha"] != first and two["base_sha"] == one["head_sha"]
    # alice pushes to pull request #1: it leaves the queue, #2 is rebuilt on main.
    sb.push_files("acme/infra", "one", {"one.txt": "changed"}, "more", "alice")
    dequeued = sb.last_event("pull_request", "dequeued").payload
    assert dequeued["number"] == 1 and dequeued["sender"]["login"] == "alice"
    assert groups(sb)[-1][:2] == (
        "checks_requested",
        f"refs/heads/gh-readonly-queue/main/pr-2-{main}",
    )
    set_ci(queued, sb.events(0, "merge_group")[-1].payload["merge_group"]["head_sha"], "success")
    assert sb.pull("acme/infra", 2).state == "closed" and sb.pull("acme/infra", 1).state == "open"


def test_a_deployment_to_a_new_environment_creates_it(github_sandbox: GitHubSandbox) -> None:
    repo = make_repo(github_sandbox, {"README.md": "hi"})
    bot = github_sandbox.client(repo.tokens["ci[bot]"]).get_repo("acme/infra")
    bot.create_deployment("main", environment="dev/web", auto_merge=False, required_contexts=[])
    listed = repo.api("GET", "/environments").json()
    assert [e["name"] for e in listed["environments"]] == ["dev/web"]
    assert listed["environments"][0]["protection_rules"] == []
    assert repo.api("GET", "/environments/dev%2Fweb").json()["deployment_branch_policy"] is None
