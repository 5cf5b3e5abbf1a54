"""Limits GitHub enforces (each a 422) and behaviours the stand-in used to get wrong."""

from __future__ import annotations

import urllib.request

import pytest
from github import GithubException

from tests.sandbox.conftest import World
from tests.sandbox.test_http import call


def refused(fn, *args, **kwargs) -> int:  # type: ignore[no-untyped-def]
    with pytest.raises(GithubException) as err:
        fn(*args, **kwargs)
    return int(err.value.status)


def open_request(world: World):  # type: ignore[no-untyped-def]
    world.sb.push_files("acme/infra", "req", {"x.txt": "x\n"}, "x", "alice")
    return world.repo("alice").create_pull(title="t", body="", head="req", base="main")


def test_body_and_description_limits(world: World) -> None:
    pr = open_request(world)
    bob = world.repo("bob")
    issue = bob.get_issue(pr.number)
    assert refused(issue.create_comment, "x" * 65537) == 422
    assert issue.create_comment("x" * 65536).body == "x" * 65536
    assert refused(bob.get_pull(pr.number).create_review, body="x" * 65537, event="COMMENT") == 422
    commit = bob.get_commit(pr.head.sha)
    assert refused(commit.create_status, "success", description="d" * 141, context="c") == 422
    assert commit.create_status("success", description="d" * 140, context="c").state == "success"
    ci = world.repo("ci")
    dep = ci.create_deployment(ref="main", environment="dev", required_contexts=[])
    assert refused(dep.create_status, "success", description="d" * 141) == 422
    sha = pr.head.sha
    assert (
        refused(
            ci.create_check_run,
            name="c",
            head_sha=sha,
            output={"title": "t", "summary": "s" * 65536},
        )
        == 422
    )
    note = {
        "path": "x.txt",
        "start_line": 1,
        "end_line": 1,
        "annotation_level": "notice",
        "message": "m",
    }
    output = {"title": "t", "summary": "s", "annotations": [note] * 51}
    assert refused(ci.create_check_run, name="c", head_sha=sha, output=output) == 422
    output["annotations"] = [note] * 50
    assert ci.create_check_run(name="c", head_sha=sha, output=output).output.annotations_count == 50
    # The output object needs title and summary on create, summary on update (OpenAPI).
    token = world.tokens["ci"]
    path = "/repos/acme/infra/check-runs"
    status, _, body = call(
        world.sb, "POST", path, token, {"name": "c", "head_sha": sha, "output": {"summary": "s"}}
    )
    assert (status, body["message"]) == (422, 'Invalid request.\n\n"title" wasn\'t supplied.')
    run = call(world.sb, "POST", path, token, {"name": "c", "head_sha": sha})[2]
    status, _, body = call(
        world.sb, "PATCH", f"{path}/{run['id']}", token, {"output": {"title": "t"}}
    )
    assert (status, body["message"]) == (422, 'Invalid request.\n\n"summary" wasn\'t supplied.')
    status, _, _ = call(
        world.sb, "PATCH", f"{path}/{run['id']}", token, {"output": {"summary": "s"}}
    )
    assert status == 200


def test_body_limit_holds_for_edits_and_submitted_reviews(world: World) -> None:
    """The 65,536-character limit holds however the text arrives: editing a pull request,
    editing a review's summary, or submitting a pending review with a body."""
    sb = world.sb
    pr = open_request(world)
    big, fits = "x" * 65537, "x" * 65536
    path = f"/repos/acme/infra/pulls/{pr.number}"
    status, _, body = call(sb, "PATCH", path, world.tokens["alice"], {"body": big})
    assert (status, body["errors"][0]["field"]) == (422, "body")
    assert call(sb, "PATCH", path, world.tokens["alice"], {"body": fits})[2]["body"] == fits
    bob = world.tokens["bob"]
    pending = call(sb, "POST", f"{path}/reviews", bob, {"body": "draft"})[2]
    status, _, body = call(sb, "PUT", f"{path}/reviews/{pending['id']}", bob, {"body": big})
    assert status == 422 and body["errors"] == ["Body is too long (maximum is 65536 characters)"]
    event = {"event": "COMMENT", "body": big}
    assert call(sb, "POST", f"{path}/reviews/{pending['id']}/events", bob, event)[0] == 422
    event["body"] = fits
    submitted = call(sb, "POST", f"{path}/reviews/{pending['id']}/events", bob, event)
    assert (submitted[0], submitted[2]["state"]) == (200, "COMMENTED")


def test_a_thousand_statuses_per_context(world: World) -> None:
    sb = world.sb
    repo = sb.repo("acme/infra")
    sha = sb.branch_sha("acme/infra", "main")
    for _ in range(1000):
        sb.gh.create_status(repo, "bob", sha, "pending", "busy", None, None)
    commit = world.repo("bob").get_commit(sha)
    with pytest.raises(GithubException) as err:
        commit.create_status("success", context="busy")
    assert err.value.status == 422
    assert err.value.data["errors"][0]["message"] == (
        "This SHA and context has reached the maximum number of statuses."
    )
    assert commit.create_status("success", context="other").state == "success"


def test_review_requests_need_access(world: World) -> None:
    sb = world.sb
    sb.add_team("acme", "outsiders", members=["mallory"])
    pr = open_request(world)
    assert refused(pr.create_review_request, team_reviewers=["outsiders"]) == 422
    assert refused(pr.create_review_request, reviewers=["mallory"]) == 422
    pr.create_review_request(team_reviewers=["approvers"])


def test_unimplemented_search_qualifiers_are_refused(world: World) -> None:
    gh = world.client("alice")
    with pytest.raises(GithubException) as err:
        list(gh.search_issues("repo:acme/infra is:pr review:approved"))
    assert err.value.status == 422
    assert list(gh.search_issues("repo:acme/infra is:pr")) == []


def test_deleted_head_branch_closes_the_pull_request(world: World) -> None:
    sb = world.sb
    pr = open_request(world)
    head = pr.head.sha
    assert (
        call(sb, "DELETE", "/repos/acme/infra/git/refs/heads/req", world.tokens["alice"])[0] == 204
    )
    again = world.repo("bob").get_pull(pr.number)
    assert again.state == "closed" and not again.merged and again.head.sha == head
    assert [f.filename for f in again.get_files()] == ["x.txt"]
    assert sb.last_event("pull_request", "closed").payload["number"] == pr.number


def test_team_membership_through_the_api(world: World) -> None:
    sb = world.sb
    path = "/orgs/acme/teams/approvers/memberships/alice"
    assert call(sb, "PUT", path, world.tokens["bob"], {"role": "member"})[0] == 403
    sb.gh.state.orgs["acme"].members["carol"] = "admin"  # carol owns the organization
    status, _, body = call(sb, "PUT", path, world.tokens["carol"], {"role": "member"})
    assert status == 200 and body["role"] == "member"
    team = world.client("bob").get_organization("acme").get_team_by_slug("approvers")
    assert "alice" in [m.login for m in team.get_members()]
    assert sb.last_event("membership", "added").payload["member"]["login"] == "alice"
    assert call(sb, "DELETE", path, world.tokens["carol"])[0] == 204
    assert "alice" not in [m.login for m in team.get_members()]


def test_issues_labels_and_raw_contents(world: World) -> None:
    sb = world.sb
    issue = world.repo("mallory").create_issue(title="bug", body="it broke")
    assert issue.number >= 1 and issue.user.login == "mallory"
    assert sb.last_event("issues", "opened").payload["issue"]["title"] == "bug"
    repo = world.repo("bob")
    assert refused(repo.create_label, "bad", "zzzzzz") == 422
    label = repo.create_label("launch:ok", "#0E8A16")
    assert label.color == "0e8a16"
    repo.get_issue(issue.number).add_to_labels("launch:ok")
    label.edit("launch:done", "00ff00", "finished")
    assert [x.name for x in repo.get_issue(issue.number).labels] == ["launch:done"]
    assert refused(label.edit, "launch:done", "blue") == 422
    repo.get_label("launch:done").delete()
    assert refused(repo.get_label, "launch:done") == 404
    assert repo.get_issue(issue.number).labels == []
    req = urllib.request.Request(sb.url + "/repos/acme/infra/contents/pools.yaml")
    req.add_header("Accept", "application/vnd.github.raw+json")
    req.add_header("Authorization", f"token {world.tokens['bob']}")
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.read() == b"pools:\n  gpu: {}\n"


def test_contents_in_the_object_media_type(world: World) -> None:
    """application/vnd.github.object: a directory is one object with its items in entries."""
    sb = world.sb
    sb.push_files("acme/infra", "main", {"deployments/gpu/a.yaml": "n: 1\n"}, "add", "bob")

    def get(path: str, accept: str) -> object:
        req = urllib.request.Request(f"{sb.url}/repos/acme/infra/contents/{path}")
        req.add_header("Accept", accept)
        req.add_header("Authorization", f"token {world.tokens['bob']}")
        with urllib.request.urlopen(req, timeout=10) as resp:
            import json

            return json.loads(resp.read())

    listing = get("deployments/gpu", "application/vnd.github+json")
    assert isinstance(listing, list) and [x["name"] for x in listing] == ["a.yaml"]
    tree = get("deployments/gpu", "application/vnd.github.object")
    assert isinstance(tree, dict)
    assert (tree["type"], tree["path"], tree["name"]) == ("dir", "deployments/gpu", "gpu")
    assert tree["entries"] == listing
    single = get("deployments/gpu/a.yaml", "application/vnd.github.object+json")
    assert isinstance(single, dict) and single["type"] == "file" and "entries" not in single


def test_codeowners_dir_star_owns_direct_children_only(world: World) -> None:
    """GitHub: "docs/*" matches docs/getting-started.md but not docs/build-app/x.md."""
    sb = world.sb
    owners = "* @bob\ndeployments/* @carol\n"
    sb.push_files("acme/infra", "main", {".github/CODEOWNERS": owners}, "owners", "alice")

    def requested(path: str) -> list[str]:
        branch = path.replace("/", "-")
        sb.push_files("acme/infra", branch, {path: "n: 1\n"}, "add", "alice")
        pr = world.repo("alice").create_pull(title=path, body="", head=branch, base="main")
        users, _ = world.repo("alice").get_pull(pr.number).get_review_requests()
        return [u.login for u in users]

    assert requested("deployments/x.yaml") == ["carol"]
    assert requested("deployments/gpu/x.yaml") == ["bob"]
