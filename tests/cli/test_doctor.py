"""`launcher doctor` against the GitHub stand-in: one line per guarantee, exit 0 only when all
hold. For each guarantee, a repository missing only that setting prints that line and exits 1,
and applying the fix through the API clears it."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from launcher.sandbox.github import GitHubSandbox
from launcher.sandbox.pytest_plugin import github_sandbox  # noqa: F401
from tests.conftest import Result, run_cli
from tests.openapi.conformance import check_sandbox

REPO = "acme/infra"
GATE_YML = b"name: gate\non: pull_request_target\njobs:\n  gate:\n    environment: launcher-gate\n"
LAUNCH_YML = b"name: launch\non: push\njobs:\n  launch:\n    environment: launcher-launch\n"
CODEOWNERS = "* @acme/platform\n/deployments/\n"


def ruleset_body(app_id: int) -> dict[str, Any]:
    """The documented ruleset (docs/ruleset.json) with the app's id, plus an admin bypass so
    these tests can push the fixes straight to main."""
    body = json.loads((Path(__file__).parents[2] / "docs" / "ruleset.json").read_text())
    for rule in body["rules"]:
        if rule["type"] == "required_status_checks":
            for check in rule["parameters"]["required_status_checks"]:
                check["integration_id"] = app_id
    body["bypass_actors"] = [
        {"actor_id": 5, "actor_type": "RepositoryRole", "bypass_mode": "always"}
    ]
    return dict(body)


@dataclass
class Repo:
    sb: GitHubSandbox
    admin: str  # token
    app_id: int
    ruleset_id: int
    workflows: Path
    monkeypatch: pytest.MonkeyPatch
    tmp: Path

    def doctor(self, *extra: str) -> Result:
        self.monkeypatch.setenv("GITHUB_REPOSITORY", REPO)
        self.monkeypatch.setenv("GITHUB_TOKEN", self.admin)
        self.monkeypatch.setenv("GITHUB_API_URL", self.sb.url)
        self.monkeypatch.setenv("LAUNCHER_GITHUB_THROTTLE", "0")
        return run_cli(
            self.tmp,
            "doctor",
            "--app-id",
            str(self.app_id),
            "--workflows",
            str(self.workflows),
            *extra,
        )

    def api(self) -> Any:
        return self.sb.client(self.admin).get_repo(REPO)

    def ruleset(self) -> dict[str, Any]:
        _, data = self.api()._requester.requestJsonAndCheck(
            "GET", f"{self.api().url}/rulesets/{self.ruleset_id}"
        )
        return dict(data)

    def put_ruleset(self, change: Callable[[dict[str, Any]], None]) -> None:
        body = copy.deepcopy(self.ruleset())
        change(body)
        self.api()._requester.requestJsonAndCheck(
            "PUT",
            f"{self.api().url}/rulesets/{self.ruleset_id}",
            input={k: body[k] for k in ("name", "enforcement", "conditions", "rules")},
        )

    def write(self, path: str, content: bytes | str) -> None:
        repo = self.api()
        try:
            current = repo.get_contents(path, ref="main")
        except Exception:  # noqa: BLE001 - absent
            repo.create_file(path, "doctor fix", content, branch="main")
            return
        repo.update_file(path, "doctor fix", content, current.sha, branch="main")

    def delete(self, path: str) -> None:
        repo = self.api()
        repo.delete_file(path, "doctor fix", repo.get_contents(path, ref="main").sha, branch="main")

    def environment(self, name: str, branches: list[str] | None) -> None:
        """PUT .../environments/NAME (and its branch policies), as the printed fix says."""
        requester, url = self.api()._requester, f"{self.api().url}/environments/{name}"
        policy = {"protected_branches": False, "custom_branch_policies": True}
        requester.requestJsonAndCheck(
            "PUT", url, input={"deployment_branch_policy": policy if branches else None}
        )
        for branch in branches or []:
            requester.requestJsonAndCheck(
                "POST",
                f"{url}/deployment-branch-policies",
                input={"name": branch, "type": "branch"},
            )


@pytest.fixture
def github_sandbox_checks() -> list[Any]:
    return [check_sandbox]  # every answer doctor read must match GitHub's published schemas


@pytest.fixture
def complete(
    github_sandbox: GitHubSandbox,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Repo:
    sb = github_sandbox
    admin = sb.add_user("root")
    sb.add_user("alice")
    sb.add_org("acme", members=["root", "alice"], admins=["root"])
    app = sb.create_app("launcher", "acme")
    workflows = tmp_path / "workflows"
    workflows.mkdir()
    (workflows / "gate.yml").write_bytes(GATE_YML)
    (workflows / "launch.yml").write_bytes(LAUNCH_YML)
    sb.create_repo(
        "acme",
        "infra",
        {
            "pools.yaml": b"version: 1\n",
            ".github/workflows/gate.yml": GATE_YML,
            ".github/workflows/launch.yml": LAUNCH_YML,
            ".github/CODEOWNERS": CODEOWNERS.encode(),
        },
        collaborators={"alice": "write"},
        private=True,
    )
    ruleset_id = sb.create_ruleset(REPO, ruleset_body(app.id))
    sb.create_environment(REPO, "launcher-gate", branches=["main"])
    sb.create_environment(REPO, "launcher-launch", branches=["main"])
    return Repo(sb, admin, app.id, ruleset_id, workflows, monkeypatch, tmp_path)


def failing(result: Result) -> list[str]:
    return [line[5:].split(":")[0] for line in result.out.splitlines() if line.startswith("FAIL")]


def test_a_complete_repository_passes_every_line(complete: Repo) -> None:
    """The documented ruleset, environments and CODEOWNERS: every line holds."""
    result = complete.doctor()
    assert result.code == 0, result.out + result.err
    assert failing(result) == []
    assert "acme/infra: every guarantee holds" in result.out
    # a repository created after 2026-07-15 gets GitHub's immutable subject form
    assert re.search(
        r"^ok   OIDC subject of the launch jobs: "
        r"repo:acme@\d+/infra@\d+:environment:launcher-launch \(the AWS role",
        result.out,
        re.M,
    ), result.out


def _no_pull_request_rule(r: Repo) -> None:
    r.put_ruleset(lambda b: b.update(rules=[x for x in b["rules"] if x["type"] != "pull_request"]))


def _restore_pull_request_rule(r: Repo) -> None:
    (rule,) = [x for x in ruleset_body(r.app_id)["rules"] if x["type"] == "pull_request"]
    r.put_ruleset(lambda b: b["rules"].append(rule))


def _pr_param(name: str, value: bool) -> Callable[[Repo], None]:
    def change(r: Repo) -> None:
        def edit(body: dict[str, Any]) -> None:
            for rule in body["rules"]:
                if rule["type"] == "pull_request":
                    rule["parameters"][name] = value

        r.put_ruleset(edit)

    return change


def _check_source(app_id: int | None) -> Callable[[Repo], None]:
    def change(r: Repo) -> None:
        def edit(body: dict[str, Any]) -> None:
            for rule in body["rules"]:
                if rule["type"] == "required_status_checks":
                    check: dict[str, Any] = {"context": "launcher/approval"}
                    if app_id is not None:
                        check["integration_id"] = r.app_id
                    rule["parameters"]["required_status_checks"] = [check]

        r.put_ruleset(edit)

    return change


def _merge_queue(method: str | None) -> Callable[[Repo], None]:
    queue = {
        "type": "merge_queue",
        "parameters": {
            "check_response_timeout_minutes": 60,
            "grouping_strategy": "ALLGREEN",
            "max_entries_to_build": 5,
            "max_entries_to_merge": 5,
            "merge_method": method,
            "min_entries_to_merge": 1,
            "min_entries_to_merge_wait_minutes": 5,
        },
    }

    def change(r: Repo) -> None:
        def edit(body: dict[str, Any]) -> None:
            body["rules"] = [x for x in body["rules"] if x["type"] != "merge_queue"]
            if method:
                body["rules"].append(queue)

        r.put_ruleset(edit)

    return change


CASES: dict[str, tuple[Callable[[Repo], None], Callable[[Repo], None], set[str]]] = {
    # the pull request rule carries code-owner review and stale dismissal: all three go
    "pull requests required": (
        _no_pull_request_rule,
        _restore_pull_request_rule,
        {"pull requests required", "code-owner review", "stale approvals dismissed"},
    ),
    "launcher's check required from its app": (_check_source(None), _check_source(1), set()),
    "code-owner review": (
        _pr_param("require_code_owner_review", False),
        _pr_param("require_code_owner_review", True),
        set(),
    ),
    "stale approvals dismissed": (
        _pr_param("dismiss_stale_reviews_on_push", False),
        _pr_param("dismiss_stale_reviews_on_push", True),
        set(),
    ),
    "deployments/ without code owners": (
        lambda r: r.write(".github/CODEOWNERS", CODEOWNERS + "/deployments/dev/ @alice\n"),
        lambda r: r.write(".github/CODEOWNERS", CODEOWNERS),
        set(),
    ),
    "environment launcher-gate": (
        lambda r: r.api()._requester.requestJsonAndCheck(
            "DELETE", f"{r.api().url}/environments/launcher-gate"
        ),
        lambda r: r.environment("launcher-gate", ["main"]),
        set(),
    ),
    "environment launcher-launch": (
        lambda r: r.environment("launcher-launch", None),  # any branch may deploy
        lambda r: r.environment("launcher-launch", ["main"]),
        set(),
    ),
    "only launcher's workflows use launcher-launch": (
        lambda r: r.write(".github/workflows/mine.yml", LAUNCH_YML + b"# mine\n"),
        lambda r: r.delete(".github/workflows/mine.yml"),
        set(),
    ),
    "launcher's workflows are the pinned ones": (
        lambda r: r.write(".github/workflows/gate.yml", GATE_YML + b"# edited\n"),
        lambda r: r.write(".github/workflows/gate.yml", GATE_YML),
        set(),
    ),
    # a merge queue is judged group by group; one that rebases hides where commits came from
    "merge queue": (_merge_queue("REBASE"), _merge_queue("MERGE"), set()),
}


@pytest.mark.parametrize("guarantee", sorted(CASES))
def test_a_missing_setting_prints_its_line_and_its_fix_clears_it(
    complete: Repo, guarantee: str
) -> None:
    breaks, fixes, also = CASES[guarantee]
    breaks(complete)
    result = complete.doctor()
    assert result.code == 1
    assert set(failing(result)) == {guarantee} | also, result.out
    line = next(x for x in result.out.splitlines() if x.startswith(f"FAIL {guarantee}:"))
    fix = result.out.splitlines()[result.out.splitlines().index(line) + 1]
    assert fix.startswith("     fix: ")
    fixes(complete)
    after = complete.doctor()
    assert after.code == 0, after.out
    assert failing(after) == []


def test_the_oidc_line_reports_a_custom_subject_template(complete: Repo) -> None:
    complete.api()._requester.requestJsonAndCheck(
        "PUT",
        f"{complete.api().url}/actions/oidc/customization/sub",
        input={"use_default": False, "include_claim_keys": ["repo", "context", "job_workflow_ref"]},
    )
    result = complete.doctor()
    assert re.search(
        r"^ok   OIDC subject of the launch jobs: "
        r"repo:acme@\d+/infra@\d+:environment:launcher-launch:job_workflow_ref:\* ",
        result.out,
        re.M,
    ), result.out


def test_a_private_repository_on_github_free_is_told_so(complete: Repo) -> None:
    complete.sb.set_plan("acme", "free")
    result = complete.doctor()
    assert result.code == 1
    assert failing(result) == ["plan"]
    assert "Upgrade to GitHub Pro" in result.out
    assert "GitHub Pro, Team or Enterprise" in result.out
