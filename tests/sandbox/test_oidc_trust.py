"""The generated OIDC trust policies against the subjects the GitHub stand-in gives jobs of
launch.yml, sweep.yml and report.yml in the environment launcher-launch, in GitHub's forms:
the trust written for the subject form `launcher doctor` reports is the one that matches, and
with job_workflow_ref in the subject the launch role trusts only launch and sweep, the
read-only role only report."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from launcher.core.documents import load_policy
from launcher.core.iam import Settings, documents
from launcher.sandbox.actions import ActionsRunner
from launcher.sandbox.github import GitHubSandbox
from tests.iam_eval import trusts
from tests.sandbox.test_actions_events import VENV_BIN, workflow

REPO = "acme/infra"
ACCOUNT = "123456789012"
FEDERATED = f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"
POOLS = b"""
version: 1
admins: ["@acme/platform"]
pools:
  dev:
    permissions: {create: [alice]}
    providers: [{name: dev-use1, region: us-east-1}]
"""
JOB = workflow(
    """\
    name: NAME
    on: workflow_dispatch
    permissions:
      id-token: write
    jobs:
      job:
        runs-on: ubuntu-latest
        environment: launcher-launch
        steps:
          - run: echo ok
    """
)
FILES = ("launch.yml", "sweep.yml", "report.yml")


@pytest.fixture
def repo(github_sandbox: GitHubSandbox) -> dict[str, str]:
    sb = github_sandbox
    tokens = {"pat": sb.add_user("pat"), "ci[bot]": sb.add_user("ci[bot]", bot=True)}
    sb.add_org("acme", members=[], admins=["pat"])
    files = {f".github/workflows/{name}": JOB.replace("NAME", name) for name in FILES}
    sb.create_repo("acme", "infra", files)
    sb.create_environment(REPO, "launcher-launch", branches=["main"])
    return tokens


def api(sb: GitHubSandbox, token: str, method: str, body: Any = None) -> Any:
    answer = requests.request(
        method,
        f"{sb.url}/repos/{REPO}/actions/oidc/customization/sub",
        headers={"Authorization": f"token {token}"},
        json=body,
        timeout=10,
    )
    assert answer.ok, answer.text
    return answer.json()


def claims_by_workflow(sb: GitHubSandbox, token: str) -> dict[str, dict[str, str]]:
    runner = ActionsRunner.for_sandbox(sb, REPO, token=token, python_bin_dir=VENV_BIN)
    out = {}
    for name in FILES:
        [job] = runner.run_workflow(name, "workflow_dispatch")
        assert job.ok and job.id_token_claims, job.log()
        out[name] = {**job.id_token_claims, "aud": "sts.amazonaws.com"}
    return out


def trust_documents(prefix: str, job_workflow_ref: bool) -> dict[str, dict[str, Any]]:
    policy, _ = load_policy(POOLS)
    assert policy is not None
    settings = Settings(account=ACCOUNT, subject_prefix=prefix, job_workflow_ref=job_workflow_ref)
    return documents(policy, settings)


def allowed(
    docs: dict[str, dict[str, Any]], role: str, claims: dict[str, dict[str, str]]
) -> set[str]:
    return {name for name, c in claims.items() if trusts(docs[f"{role}.trust.json"], FEDERATED, c)}


def test_the_trust_in_the_reported_subject_form_matches_and_the_other_form_does_not(
    github_sandbox: GitHubSandbox, repo: dict[str, str]
) -> None:
    sb = github_sandbox
    prefix = api(sb, repo["pat"], "GET")["sub_claim_prefix"]  # what doctor prints
    assert prefix.startswith("repo:acme@") and "/infra@" in prefix  # a 2026 repository
    claims = claims_by_workflow(sb, repo["ci[bot]"])
    docs = trust_documents(prefix, job_workflow_ref=False)
    # Without job_workflow_ref every job of the environment gets the same subject: the
    # environment (default branch only) is the boundary, and report.yml could take either.
    assert allowed(docs, "launch-role", claims) == set(FILES)
    assert allowed(docs, "read-role", claims) == set(FILES)
    # The classic form, written for this repository, never matches its immutable subjects.
    classic = trust_documents("repo:acme/infra", job_workflow_ref=False)
    assert allowed(classic, "launch-role", claims) == set()
    # Opted out of immutable subjects: now the classic form is the one.
    api(sb, repo["pat"], "PUT", {"use_default": True, "use_immutable_subject": False})
    claims = claims_by_workflow(sb, repo["ci[bot]"])
    assert allowed(classic, "launch-role", claims) == set(FILES)
    assert allowed(docs, "launch-role", claims) == set()


def test_with_job_workflow_ref_the_launch_role_trusts_launch_and_sweep_the_read_role_report(
    github_sandbox: GitHubSandbox, repo: dict[str, str]
) -> None:
    sb = github_sandbox
    api(
        sb,
        repo["pat"],
        "PUT",
        {"use_default": False, "include_claim_keys": ["repo", "context", "job_workflow_ref"]},
    )
    prefix = api(sb, repo["pat"], "GET")["sub_claim_prefix"]
    claims = claims_by_workflow(sb, repo["ci[bot]"])
    docs = trust_documents(prefix, job_workflow_ref=True)
    assert allowed(docs, "launch-role", claims) == {"launch.yml", "sweep.yml"}
    assert allowed(docs, "read-role", claims) == {"report.yml"}
    # the plain environment subject no longer matches: the roles need the template's form
    assert allowed(trust_documents(prefix, job_workflow_ref=False), "launch-role", claims) == set()
