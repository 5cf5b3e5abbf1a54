"""The conformance machinery itself: coverage of vendored schemas, and that it bites.

Every test using the ``github_sandbox`` fixture is checked at teardown (see
``conftest.py``); these tests make sure that check is complete and not vacuous.
"""

from __future__ import annotations

import copy
import time

from launcher.sandbox.github import GitHubSandbox
from launcher.sandbox.github.shapes import Shapes
from tests.openapi import conformance
from tests.sandbox.conftest import World


def test_every_served_operation_has_a_vendored_schema() -> None:
    with GitHubSandbox() as sb:
        routes = sb.routes()
    vendored = conformance.rest_spec()["operations"]
    missing = sorted({op for _, _, op in routes} - set(vendored))
    assert missing == []
    # Each route answers for the method and path GitHub documents for the operation
    # (legacy aliases PyGithub follows are the only extra templates).
    legacy = {
        "/repos/{owner}/{repo}/statuses/{ref}",
        "/organizations/{org_id}/team/{team_id}",
        "/organizations/{org_id}/team/{team_id}/members",
        "/organizations/{org_id}/team/{team_id}/memberships/{username}",
        "/organizations/{org_id}/team/{team_id}/members/{username}",
    }
    for method, template, op in routes:
        spec = vendored[op]
        assert method == spec["method"], op
        assert template == spec["path"] or template in legacy, (op, template)


def test_git_data_and_commit_lists(world: World) -> None:
    repo = world.repo("alice")
    sha = world.sb.push_files("acme/infra", "x", {"a.txt": "1\n"}, "one", "alice")
    world.sb.push_files("acme/infra", "x", {"a.txt": "2\n"}, "two", "alice")
    pr = repo.create_pull(title="t", body="", head="x", base="main")
    assert [c.commit.message for c in pr.get_commits()] == ["one", "two"]
    assert [c.sha for c in repo.get_commits(sha="x")][1] == sha
    assert [c.sha for c in repo.get_commits(sha="x", path="a.txt")][-1] == sha
    git_commit = repo.get_git_commit(sha)
    assert git_commit.message == "one" and git_commit.author.email == "alice@example.com"
    blob_sha = repo.get_contents("a.txt", ref=sha).sha
    assert repo.get_git_blob(blob_sha).size == 2


def test_conformance_rejects_a_response_missing_a_required_field(world: World) -> None:
    pr = world.sb.push_files("acme/infra", "x", {"a.txt": "1"}, "a", "alice")
    assert pr
    world.repo("alice").create_pull(title="t", body="", head="x", base="main")
    recorded = [(op, st, body) for op, st, body, _ in world.sb.responses if op == "pulls/create"]
    op, status, body = recorded[-1]
    assert conformance.check_response(op, status, body) == []
    broken = copy.deepcopy(body)
    del broken["merge_commit_sha"]
    problems = conformance.check_response(op, status, broken)
    assert problems == ["pulls/create 201 <root>: 'merge_commit_sha' is a required property"]
    nested = copy.deepcopy(body)
    del nested["head"]["sha"]
    assert conformance.check_response(op, status, nested)
    wrong_type = copy.deepcopy(body)
    wrong_type["number"] = "1"
    assert conformance.check_response(op, status, wrong_type)


def test_conformance_rejects_a_broken_server(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Break the stand-in itself (drop a required field) and the sandbox-wide check fails."""
    original = Shapes.review

    def without_commit_id(self, repo, review):  # type: ignore[no-untyped-def]
        out = original(self, repo, review)
        del out["commit_id"]
        return out

    monkeypatch.setattr(Shapes, "review", without_commit_id)
    with GitHubSandbox(record_responses=True) as sb:
        a, b = sb.add_user("a"), sb.add_user("b")
        sb.create_repo("a", "r", {"x": "1"}, collaborators=["b"])
        sb.push_files("a/r", "f", {"x": "2"}, "change", "a")
        number = (
            sb.client(a)
            .get_repo("a/r")
            .create_pull(title="t", body="", head="f", base="main")
            .number
        )
        sb.client(b).get_repo("a/r").get_pull(number).create_review(body="ok", event="APPROVE")
        problems = conformance.check_sandbox(sb)
    assert "pulls/create-review 200 <root>: 'commit_id' is a required property" in problems
    assert any(p.startswith("pull-request-review-submitted review") for p in problems)


def test_conformance_rejects_a_broken_event(world: World) -> None:
    world.sb.push_files("acme/infra", "x", {"a.txt": "1"}, "a", "alice")
    event = world.sb.last_event("push")
    assert conformance.check_event(event.event, event.action, event.payload) == []
    broken = copy.deepcopy(event.payload)
    del broken["pusher"]
    assert conformance.check_event("push", None, broken) == [
        "push <root>: 'pusher' is a required property"
    ]
    assert conformance.check_event("pull_request", "teleported", {}) == [
        "pull-request-teleported: no vendored webhook schema (add it to tests/openapi/extract.py)"
    ]
    assert conformance.check_response("repos/teleport", 200, {}) == [
        "repos/teleport: no vendored schema (add it to tests/openapi/extract.py)"
    ]


def test_gate_sized_pull_request_is_cheap(world: World) -> None:
    """A PR with 100 files and 50 reviews: what a gate run reads, timed and counted."""
    sb = world.sb
    files = {f"deployments/gpu/req{i:03}.yaml": f"count: {i}\n" for i in range(100)}
    sb.push_files("acme/infra", "big", files, "100 requests", "alice")
    number = world.repo("alice").create_pull(title="big", body="", head="big", base="main").number
    repo = sb.repo("acme/infra")
    issue = sb.pull("acme/infra", number)
    for i in range(50):
        sb.gh.submit_review(repo, issue, ("bob", "carol")[i % 2], "COMMENT", f"r{i}")
    sb.reset_requests()
    started = time.perf_counter()
    gh = world.repo("ci")
    pr = gh.get_pull(number)
    changed = [f.filename for f in pr.get_files()]
    reviews = list(pr.get_reviews())
    contents = [gh.get_contents(name, ref=pr.head.sha).decoded_content for name in changed]
    elapsed = time.perf_counter() - started
    assert len(changed) == 100 and len(reviews) == 50 and len(contents) == 100
    counts = sb.request_counts()
    assert counts["GET /repos/{owner}/{repo}/pulls/{pull_number}/files"] == 4  # 30 per page
    assert counts["GET /repos/{owner}/{repo}/pulls/{pull_number}/reviews"] == 2
    assert counts["GET /repos/{owner}/{repo}/contents/{path}"] == 100
    assert elapsed < 3.0, elapsed
