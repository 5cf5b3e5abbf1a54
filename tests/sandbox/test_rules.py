"""Rulesets and classic branch protection: each rule alone refuses a merge or push with
GitHub's code and message, and lets it through once met."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from github import GithubException

from launcher.sandbox.github import GitHubSandbox
from tests.sandbox.conftest import World
from tests.sandbox.test_http import call

REPO = "acme/prod"
REVIEWS_1 = "At least 1 approving review is required by reviewers with write access."


def violation(*messages: str) -> str:
    return "Repository rule violations found\n\n" + "".join(f"{m}\n\n" for m in messages)


@dataclass
class Prod:
    """acme/prod: alice, bob, carol write; root admin; mallory outsider; ci a bot."""

    sb: GitHubSandbox
    tokens: dict[str, str]

    def repo(self, login: str) -> Any:
        return self.sb.client(self.tokens[login]).get_repo(REPO)

    def open(self, author: str = "alice", branch: str = "req", path: str = "a.txt") -> Any:
        self.sb.push_files(REPO, branch, {path: f"{branch}\n"}, "change", author)
        return self.repo(author).create_pull(title="t", body="", head=branch, base="main")

    def merge_error(self, login: str, number: int) -> tuple[int, str]:
        with pytest.raises(GithubException) as err:
            self.repo(login).get_pull(number).merge()
        return err.value.status, err.value.data["message"]

    def state(self, number: int) -> str:
        return str(self.repo("alice").get_pull(number).mergeable_state)


@pytest.fixture
def prod(world: World) -> Prod:
    sb = world.sb
    tokens = dict(world.tokens)
    tokens["root"] = sb.add_user("root")
    sb.create_repo(
        "acme",
        "prod",
        {"README.md": "# prod\n", ".github/CODEOWNERS": "deployments/ @carol\n"},
        collaborators={"alice": "write", "bob": "write", "carol": "write", "root": "admin"},
    )
    return Prod(sb, tokens)


def test_required_approvals_classic(prod: Prod) -> None:
    prod.sb.protect_branch(
        REPO,
        "main",
        {
            "required_status_checks": None,
            "enforce_admins": True,
            "required_pull_request_reviews": {"required_approving_review_count": 1},
            "restrictions": None,
        },
    )
    pr = prod.open()
    assert prod.state(pr.number) == "blocked"
    assert prod.merge_error("bob", pr.number) == (405, REVIEWS_1)
    # An outsider's approval is recorded but does not count (no write access).
    prod.repo("mallory").get_pull(pr.number).create_review(event="APPROVE")
    assert prod.merge_error("bob", pr.number) == (405, REVIEWS_1)
    prod.repo("bob").get_pull(pr.number).create_review(event="APPROVE")
    assert prod.state(pr.number) == "clean"
    assert prod.repo("carol").get_pull(pr.number).merge().merged


def test_required_check_pinned_to_an_app(prod: Prod) -> None:
    sb = prod.sb
    gate = sb.create_app("gate", "acme")
    sb.install_app(gate, "acme")
    sb.create_ruleset(
        REPO,
        {
            "name": "gate",
            "enforcement": "active",
            "conditions": {"ref_name": {"include": ["~DEFAULT_BRANCH"], "exclude": []}},
            "rules": [
                {
                    "type": "required_status_checks",
                    "parameters": {
                        "strict_required_status_checks_policy": False,
                        "required_status_checks": [{"context": "gate", "integration_id": gate.id}],
                    },
                }
            ],
        },
    )
    assert sb.required_checks(REPO, "main") == [("gate", gate.id)]
    pr = prod.open()
    head = pr.head.sha
    expected = (405, violation('Required status check "gate" is expected.'))
    # A requester forges the context as a status, another app as a check run: not enough.
    prod.repo("alice").get_commit(head).create_status("success", context="gate")
    prod.repo("ci").create_check_run(name="gate", head_sha=head, conclusion="success")
    assert prod.merge_error("bob", pr.number) == expected
    assert prod.state(pr.number) == "blocked"
    as_gate = sb.client(sb.installation_token("gate", REPO)).get_repo(REPO)
    run = as_gate.create_check_run(name="gate", head_sha=head, conclusion="failure")
    assert prod.merge_error("bob", pr.number) == (
        405,
        violation('Required status check "gate" is failing.'),
    )
    run.edit(conclusion="success")
    assert prod.repo("bob").get_pull(pr.number).merge().merged


def test_required_check_classic_app_id(prod: Prod) -> None:
    sb = prod.sb
    gate = sb.create_app("gate", "acme")
    sb.install_app(gate, "acme", ["prod"])
    sb.protect_branch(
        REPO,
        "main",
        {
            "required_status_checks": {
                "strict": False,
                "checks": [{"context": "launcher/approval", "app_id": gate.id}],
            },
            "enforce_admins": False,
            "required_pull_request_reviews": None,
            "restrictions": None,
        },
    )
    pr = prod.open()
    prod.repo("bob").get_commit(pr.head.sha).create_status("success", context="launcher/approval")
    assert prod.merge_error("bob", pr.number) == (
        405,
        'Required status check "launcher/approval" is expected.',
    )
    as_gate = sb.client(sb.installation_token("gate", REPO)).get_repo(REPO)
    as_gate.get_commit(pr.head.sha).create_status("success", context="launcher/approval")
    branch = prod.repo("bob").get_branch("main")
    assert branch.protected
    assert prod.repo("bob").get_pull(pr.number).merge().merged


def pr_rule(**params: Any) -> dict[str, Any]:
    base = {
        "required_approving_review_count": 1,
        "dismiss_stale_reviews_on_push": False,
        "require_code_owner_review": False,
        "require_last_push_approval": False,
        "required_review_thread_resolution": False,
    }
    return {"type": "pull_request", "parameters": {**base, **params}}


def ruleset(
    sb: GitHubSandbox, *rules: dict[str, Any], bypass: Any = (), branches: Any = None
) -> int:
    return sb.create_ruleset(
        REPO,
        {
            "name": "main",
            "target": "branch",
            "enforcement": "active",
            "bypass_actors": list(bypass),
            "conditions": {"ref_name": {"include": branches or ["~DEFAULT_BRANCH"]}},
            "rules": list(rules),
        },
    )


def test_code_owner_review_and_automatic_requests(prod: Prod) -> None:
    ruleset(prod.sb, pr_rule(require_code_owner_review=True))
    pr = prod.open(path="deployments/dev/x.yaml")
    # Opening the pull request asked the code owner for a review, as GitHub does.
    users, _ = prod.repo("alice").get_pull(pr.number).get_review_requests()
    assert [u.login for u in users] == ["carol"]
    requested = prod.sb.last_event("pull_request", "review_requested").payload
    assert requested["requested_reviewer"]["login"] == "carol"
    prod.repo("bob").get_pull(pr.number).create_review(event="APPROVE")
    assert prod.merge_error("bob", pr.number) == (
        405,
        violation("Waiting on code owner review from @carol."),
    )
    prod.repo("carol").get_pull(pr.number).create_review(event="APPROVE")
    assert prod.repo("bob").get_pull(pr.number).merge().merged


def test_stale_approvals_dismissed_on_push(prod: Prod) -> None:
    ruleset(prod.sb, pr_rule(dismiss_stale_reviews_on_push=True))
    pr = prod.open()
    review = prod.repo("bob").get_pull(pr.number).create_review(event="APPROVE")
    prod.sb.push_files(REPO, "req", {"b.txt": "more\n"}, "more", "alice")
    assert prod.repo("alice").get_pull(pr.number).get_review(review.id).state == "DISMISSED"
    assert prod.sb.last_event("pull_request_review", "dismissed").payload["review"]["id"] == (
        review.id
    )
    assert prod.merge_error("carol", pr.number) == (405, violation(REVIEWS_1))
    prod.repo("bob").get_pull(pr.number).create_review(event="APPROVE")
    assert prod.repo("carol").get_pull(pr.number).merge().merged


def test_merging_keeps_the_pull_requests_approvals(prod: Prod) -> None:
    # The base moves to contain the head as the merge happens: not a stale approval.
    ruleset(prod.sb, pr_rule(dismiss_stale_reviews_on_push=True))
    pr = prod.open()
    review = prod.repo("bob").get_pull(pr.number).create_review(event="APPROVE")
    assert prod.repo("carol").get_pull(pr.number).merge(merge_method="merge").merged
    assert prod.repo("alice").get_pull(pr.number).get_review(review.id).state == "APPROVED"
    assert not prod.sb.events(event="pull_request_review", action="dismissed")


def test_stale_approvals_dismissed_when_the_merge_base_changes(prod: Prod) -> None:
    sb = prod.sb
    first = sb.branch_sha(REPO, "main")
    sb.push_files(REPO, "main", {"m.txt": "1\n"}, "main moves", "root")
    sb.gh.set_branch(sb.repo(REPO), "release", first, "root")
    ruleset(sb, pr_rule(dismiss_stale_reviews_on_push=True), branches=["~ALL"])
    pr = prod.open()
    review = prod.repo("bob").get_pull(pr.number).create_review(event="APPROVE")
    # Retargeting the base changes what the approval covered.
    prod.repo("alice").get_pull(pr.number).edit(base="release")
    assert prod.repo("alice").get_pull(pr.number).get_review(review.id).state == "DISMISSED"
    assert prod.merge_error("carol", pr.number) == (405, violation(REVIEWS_1))


def test_last_push_needs_someone_elses_approval(prod: Prod) -> None:
    ruleset(prod.sb, pr_rule(require_last_push_approval=True))
    pr = prod.open()
    # bob pushes onto alice's branch, then approves his own push.
    prod.sb.push_files(REPO, "req", {"b.txt": "bob's\n"}, "sneaky", "bob")
    prod.repo("bob").get_pull(pr.number).create_review(event="APPROVE")
    assert prod.merge_error("bob", pr.number) == (
        405,
        violation("The most recent push must be approved by someone other than the last pusher."),
    )
    prod.repo("carol").get_pull(pr.number).create_review(event="APPROVE")
    assert prod.repo("bob").get_pull(pr.number).merge().merged


def test_bypass_actors(prod: Prod) -> None:
    sb = prod.sb
    ci = sb.gh.apps.of_login("launcher-ci[bot]")
    assert ci is not None
    ruleset(
        sb,
        pr_rule(),
        bypass=[
            {"actor_id": 5, "actor_type": "RepositoryRole", "bypass_mode": "always"},
            {"actor_id": ci.id, "actor_type": "Integration", "bypass_mode": "pull_request"},
        ],
    )
    first, second = prod.open(), prod.open(branch="req2", path="b.txt")
    assert prod.merge_error("bob", first.number) == (405, violation(REVIEWS_1))
    assert prod.repo("root").get_pull(first.number).merge().merged  # admin role: always
    assert prod.repo("ci").get_pull(second.number).merge().merged  # app: pull requests
    with pytest.raises(GithubException) as push:
        prod.repo("ci").create_file("c.txt", "direct", "x", branch="main")
    assert (push.value.status, push.value.data["message"]) == (
        409,
        violation("Changes must be made through a pull request."),
    )
    prod.repo("root").create_file("c.txt", "direct", "x", branch="main")


def test_pushes_to_a_protected_branch(prod: Prod) -> None:
    sb = prod.sb
    sb.push_files(REPO, "other", {"o.txt": "x\n"}, "side", "root")
    base = {"required_status_checks": None, "restrictions": None, "enforce_admins": False}
    sb.protect_branch(REPO, "main", {**base, "required_pull_request_reviews": {}})
    main = sb.branch_sha(REPO, "main")
    ahead = sb.push_files(REPO, "ahead", {"n.txt": "n\n"}, "next", "bob")
    status, _, body = call(
        sb, "PATCH", f"/repos/{REPO}/git/refs/heads/main", prod.tokens["bob"], {"sha": ahead}
    )
    assert (status, body["message"]) == (422, "Changes must be made through a pull request.")
    with pytest.raises(GithubException) as contents:
        prod.repo("bob").create_file("c.txt", "direct", "x", branch="main")
    assert (contents.value.status, contents.value.data["message"]) == (
        409,
        "Could not update file: Changes must be made through a pull request.",
    )
    assert sb.branch_sha(REPO, "main") == main
    # Only force pushes and deletions guarded: a fast-forward passes, the rest does not.
    sb.protect_branch(REPO, "main", {**base, "required_pull_request_reviews": None})
    assert (
        call(sb, "PATCH", f"/repos/{REPO}/git/refs/heads/main", prod.tokens["bob"], {"sha": ahead})[
            0
        ]
        == 200
    )
    other = sb.branch_sha(REPO, "other")
    status, _, body = call(
        sb,
        "PATCH",
        f"/repos/{REPO}/git/refs/heads/main",
        prod.tokens["bob"],
        {"sha": other, "force": True},
    )
    assert (status, body["message"]) == (422, "Cannot force-push to this branch")
    status, _, body = call(sb, "DELETE", f"/repos/{REPO}/git/refs/heads/main", prod.tokens["bob"])
    assert (status, body["message"]) == (422, "Cannot delete this protected branch")
    sb.protect_branch(
        REPO, "main", {**base, "required_pull_request_reviews": None, "allow_deletions": True}
    )
    sb.push_files(REPO, "doomed", {"d.txt": "d\n"}, "d", "bob")
    sb.protect_branch(
        REPO, "doomed", {**base, "required_pull_request_reviews": None, "allow_deletions": True}
    )
    assert call(sb, "DELETE", f"/repos/{REPO}/git/refs/heads/doomed", prod.tokens["bob"])[0] == 204
    # enforce_admins off: an admin is not bound.
    assert (
        call(
            sb,
            "PATCH",
            f"/repos/{REPO}/git/refs/heads/main",
            prod.tokens["root"],
            {"sha": other, "force": True},
        )[0]
        == 200
    )


def test_unstable_when_an_optional_check_fails(prod: Prod) -> None:
    pr = prod.open()
    assert prod.state(pr.number) == "clean"
    prod.repo("bob").get_commit(pr.head.sha).create_status("failure", context="lint")
    assert prod.state(pr.number) == "unstable"
    assert prod.repo("bob").get_pull(pr.number).merge().merged  # nothing requires it


def test_merge_queue_rule_is_kept_and_rules_are_listed(prod: Prod) -> None:
    sb = prod.sb
    queue = {
        "type": "merge_queue",
        "parameters": {
            "check_response_timeout_minutes": 60,
            "grouping_strategy": "ALLGREEN",
            "max_entries_to_build": 5,
            "max_entries_to_merge": 5,
            "merge_method": "MERGE",
            "min_entries_to_merge": 1,
            "min_entries_to_merge_wait_minutes": 5,
        },
    }
    status, _, created = call(
        sb,
        "POST",
        f"/repos/{REPO}/rulesets",
        prod.tokens["root"],
        {
            "name": "queue",
            "enforcement": "active",
            "conditions": {"ref_name": {"include": ["refs/heads/main"], "exclude": []}},
            "rules": [queue, pr_rule(required_approving_review_count=2)],
        },
    )
    assert status == 201 and created["rules"][0] == queue
    assert call(sb, "POST", f"/repos/{REPO}/rulesets", prod.tokens["bob"], created)[0] == 403
    status, _, listed = call(sb, "GET", f"/repos/{REPO}/rules/branches/main", prod.tokens["bob"])
    assert [r["type"] for r in listed] == ["merge_queue", "pull_request"]
    assert listed[0]["ruleset_id"] == created["id"]
    assert call(sb, "GET", f"/repos/{REPO}/rules/branches/other", prod.tokens["bob"])[2] == []
    status, _, got = call(sb, "GET", f"/repos/{REPO}/rulesets/{created['id']}", prod.tokens["root"])
    assert got["rules"] == created["rules"]
    created["enforcement"] = "disabled"
    assert (
        call(sb, "PUT", f"/repos/{REPO}/rulesets/{created['id']}", prod.tokens["root"], created)[2][
            "enforcement"
        ]
        == "disabled"
    )
    pr = prod.open()
    assert prod.repo("bob").get_pull(pr.number).merge().merged  # the ruleset is off now
    assert (
        call(sb, "DELETE", f"/repos/{REPO}/rulesets/{created['id']}", prod.tokens["root"])[0] == 204
    )
    assert (
        sb.last_event("repository_ruleset", "deleted").payload["repository_ruleset"]["id"]
        == (created["id"])
    )


def test_branch_protection_endpoints(prod: Prod) -> None:
    sb = prod.sb
    body = {
        "required_status_checks": {"strict": True, "contexts": ["launcher/approval"]},
        "enforce_admins": True,
        "required_pull_request_reviews": {
            "dismiss_stale_reviews": True,
            "require_code_owner_reviews": True,
            "required_approving_review_count": 2,
            "require_last_push_approval": True,
        },
        "restrictions": None,
    }
    path = f"/repos/{REPO}/branches/main/protection"
    assert call(sb, "PUT", path, prod.tokens["bob"], body)[0] == 403
    assert call(sb, "PUT", path, prod.tokens["root"], {"enforce_admins": True})[0] == 422
    status, _, put = call(sb, "PUT", path, prod.tokens["root"], body)
    assert status == 200 and put["required_status_checks"]["contexts"] == ["launcher/approval"]
    status, _, got = call(sb, "GET", path, prod.tokens["root"])
    assert got["required_pull_request_reviews"]["required_approving_review_count"] == 2
    assert got["enforce_admins"]["enabled"] is True
    assert sb.last_event("branch_protection_rule", "created").payload["rule"]["name"] == "main"
    assert call(sb, "DELETE", path, prod.tokens["root"])[0] == 204
    assert call(sb, "GET", path, prod.tokens["root"])[0] == 404
    assert not prod.repo("bob").get_branch("main").protected


def test_ruleset_pushes_need_checks_and_creations_are_restricted(prod: Prod) -> None:
    sb = prod.sb
    ci = sb.gh.apps.of_login("launcher-ci[bot]")
    assert ci is not None
    checks = {
        "type": "required_status_checks",
        "parameters": {
            "strict_required_status_checks_policy": False,
            "required_status_checks": [{"context": "ci", "integration_id": ci.id}],
        },
    }
    ruleset(sb, checks)
    sb.create_ruleset(
        REPO,
        {
            "name": "releases",
            "enforcement": "active",
            "conditions": {"ref_name": {"include": ["refs/heads/release/*"], "exclude": []}},
            "rules": [{"type": "creation"}],
        },
    )
    ahead = sb.push_files(REPO, "ahead", {"n.txt": "n\n"}, "next", "bob")
    patch = f"/repos/{REPO}/git/refs/heads/main"
    status, _, body = call(sb, "PATCH", patch, prod.tokens["bob"], {"sha": ahead})
    assert (status, body["message"]) == (422, violation('Required status check "ci" is expected.'))
    prod.repo("ci").create_check_run(name="ci", head_sha=ahead, conclusion="success")
    assert call(sb, "PATCH", patch, prod.tokens["bob"], {"sha": ahead})[0] == 200
    create = {"ref": "refs/heads/release/1", "sha": ahead}
    status, _, body = call(sb, "POST", f"/repos/{REPO}/git/refs", prod.tokens["bob"], create)
    assert (status, body["message"]) == (
        422,
        violation("Cannot create ref due to creations being restricted."),
    )
    create["ref"] = "refs/heads/feature/1"
    assert call(sb, "POST", f"/repos/{REPO}/git/refs", prod.tokens["bob"], create)[0] == 201


def test_classic_push_restrictions_and_pull_request_allowances(prod: Prod) -> None:
    sb = prod.sb
    sb.protect_branch(
        REPO,
        "main",
        {
            "required_status_checks": None,
            "enforce_admins": True,
            "required_pull_request_reviews": {
                "required_approving_review_count": 1,
                "bypass_pull_request_allowances": {"users": ["carol"]},
            },
            "restrictions": {"users": ["carol", "bob"], "teams": []},
        },
    )
    first = prod.open()
    assert prod.merge_error("alice", first.number) == (
        405,
        "You're not authorized to push to this branch. Visit "
        "https://docs.github.com/articles/about-protected-branches/ for more information.",
    )
    assert prod.merge_error("bob", first.number) == (405, REVIEWS_1)  # may push, needs reviews
    assert prod.repo("carol").get_pull(first.number).merge().merged  # allowed to skip them
    with pytest.raises(GithubException) as bob_push:
        prod.repo("bob").create_file("c.txt", "direct", "x", branch="main")
    assert bob_push.value.data["message"] == (
        "Could not update file: Changes must be made through a pull request."
    )
    prod.repo("carol").create_file("c.txt", "direct", "x", branch="main")


def test_linear_history_and_allowed_merge_methods(prod: Prod) -> None:
    sb = prod.sb
    ruleset(
        sb,
        {"type": "required_linear_history"},
        pr_rule(required_approving_review_count=0, allowed_merge_methods=["squash", "rebase"]),
    )
    pr = prod.open()
    assert prod.merge_error("bob", pr.number) == (
        405,
        violation("This branch must not contain merge commits."),
    )
    assert prod.repo("bob").get_pull(pr.number).merge(merge_method="squash").merged


def test_strict_checks_need_an_up_to_date_head(prod: Prod) -> None:
    sb = prod.sb
    ci = sb.gh.apps.of_login("launcher-ci[bot]")
    assert ci is not None
    checks = {
        "type": "required_status_checks",
        "parameters": {
            "strict_required_status_checks_policy": True,
            "required_status_checks": [{"context": "ci", "integration_id": ci.id}],
        },
    }
    ruleset(sb, checks, bypass=[{"actor_id": 5, "actor_type": "RepositoryRole"}])
    # An "evaluate" ruleset is reported, not enforced.
    sb.create_ruleset(
        REPO,
        {
            "name": "trial",
            "enforcement": "evaluate",
            "conditions": {"ref_name": {"include": ["~ALL"]}},
            "rules": [pr_rule(required_approving_review_count=2)],
        },
    )
    pr = prod.open()
    prod.repo("ci").create_check_run(name="ci", head_sha=pr.head.sha, conclusion="success")
    assert prod.state(pr.number) == "clean"
    sb.push_files(REPO, "main", {"m.txt": "m\n"}, "main moves", "root")
    assert prod.state(pr.number) == "behind"
    assert prod.merge_error("bob", pr.number) == (
        405,
        violation("Head branch is not up to date with the base branch."),
    )
    rebased = sb.push_files(REPO, "rebased", {"a.txt": "req\n"}, "rebased", "alice", base="main")
    sb.gh.set_branch(sb.repo(REPO), "req", rebased, "alice", force=True)
    prod.repo("ci").create_check_run(name="ci", head_sha=rebased, conclusion="success")
    assert prod.repo("bob").get_pull(pr.number).merge().merged
