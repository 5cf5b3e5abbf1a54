"""Wire-level behaviour: errors, pagination, rate-limit headers, faults, request log, events."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
from github import GithubException, GithubRetry, RateLimitExceededException

from launcher.sandbox.github import GitHubSandbox
from tests.sandbox.conftest import World


def call(
    sb: GitHubSandbox, method: str, path: str, token: str | None = None, body: Any = None
) -> tuple[int, dict[str, str], Any]:
    """A plain urllib request, as a non-PyGithub client would make it."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(sb.url + path, data=data, method=method)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    req.add_header("Accept", "application/vnd.github+json")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            raw = resp.read()
            return resp.status, dict(resp.headers), json.loads(raw) if raw else None
    except urllib.error.HTTPError as err:
        raw = err.read()
        return err.code, dict(err.headers), json.loads(raw) if raw else None


def test_error_bodies(world: World) -> None:
    sb = world.sb
    status, _, body = call(sb, "GET", "/user", token="ghp_wrong")
    assert status == 401
    assert body == {
        "message": "Bad credentials",
        "documentation_url": "https://docs.github.com/rest",
        "status": "401",
    }
    status, _, body = call(sb, "GET", "/user")
    assert status == 401 and body["message"] == "Requires authentication"
    status, _, body = call(sb, "GET", "/repos/acme/nope", token=world.tokens["alice"])
    assert status == 404 and body["message"] == "Not Found" and body["status"] == "404"
    status, _, body = call(sb, "GET", "/no/such/endpoint")
    assert status == 404
    status, _, body = call(
        sb,
        "POST",
        "/repos/acme/infra/pulls",
        token=world.tokens["alice"],
        body={"title": "x", "head": "nope", "base": "main"},
    )
    assert status == 422 and body["message"] == "Validation Failed"
    assert body["errors"] == [{"resource": "PullRequest", "field": "head", "code": "invalid"}]
    status, _, body = call(
        sb,
        "POST",
        "/repos/acme/infra/statuses/" + "0" * 40,
        token=world.tokens["mallory"],
        body={"state": "success"},
    )
    assert status == 403


def test_private_repo_is_invisible_to_outsiders(github_sandbox: GitHubSandbox) -> None:
    sb = github_sandbox
    owner, outsider = sb.add_user("owner"), sb.add_user("outsider")
    sb.create_repo("owner", "secret", {"a.txt": "x"}, private=True)
    assert call(sb, "GET", "/repos/owner/secret", token=owner)[0] == 200
    assert call(sb, "GET", "/repos/owner/secret", token=outsider)[0] == 404
    assert call(sb, "GET", "/repos/owner/secret")[0] == 404


def test_pagination_links(world: World) -> None:
    sb = world.sb
    sha = sb.branch_sha("acme/infra", "main")
    for i in range(7):
        sb.gh.create_status(sb.repo("acme/infra"), "bob", sha, "success", f"ctx{i}", None, None)
    path = f"/repos/acme/infra/commits/{sha}/statuses"
    status, headers, body = call(sb, "GET", f"{path}?per_page=3", world.tokens["bob"])
    assert status == 200 and len(body) == 3
    base = f"{sb.url}{path}"
    assert headers["Link"] == (
        f'<{base}?per_page=3&page=2>; rel="next", <{base}?per_page=3&page=3>; rel="last"'
    )
    _, headers, body = call(sb, "GET", f"{path}?per_page=3&page=2", world.tokens["bob"])
    assert headers["Link"] == (
        f'<{base}?per_page=3&page=1>; rel="prev", <{base}?per_page=3&page=3>; rel="next", '
        f'<{base}?per_page=3&page=3>; rel="last", <{base}?per_page=3&page=1>; rel="first"'
    )
    _, headers, body = call(sb, "GET", f"{path}?per_page=3&page=3", world.tokens["bob"])
    assert len(body) == 1
    assert headers["Link"] == (
        f'<{base}?per_page=3&page=2>; rel="prev", <{base}?per_page=3&page=1>; rel="first"'
    )
    _, headers, body = call(sb, "GET", path, world.tokens["bob"])
    assert len(body) == 7 and "Link" not in headers
    _, _, body = call(sb, "GET", f"{path}?per_page=500", world.tokens["bob"])
    assert len(body) == 7  # capped at 100, all fit
    # PyGithub follows the links transparently.
    gh = world.sb.client(world.tokens["bob"], per_page=2)
    statuses = gh.get_repo("acme/infra").get_commit(sha).get_statuses()
    assert len(list(statuses)) == 7


def test_rate_limit_headers(world: World) -> None:
    sb = world.sb
    _, h1, _ = call(sb, "GET", "/repos/acme/infra", world.tokens["alice"])
    _, h2, _ = call(sb, "GET", "/repos/acme/infra", world.tokens["alice"])
    assert h1["X-RateLimit-Limit"] == "5000" and h1["X-RateLimit-Resource"] == "core"
    assert int(h2["X-RateLimit-Used"]) == int(h1["X-RateLimit-Used"]) + 1
    assert int(h2["X-RateLimit-Remaining"]) == 5000 - int(h2["X-RateLimit-Used"])
    assert int(h2["X-RateLimit-Reset"]) > time.time()
    _, anon, _ = call(sb, "GET", "/repos/acme/infra")
    assert anon["X-RateLimit-Limit"] == "60"


def test_fault_injection(world: World) -> None:
    sb = world.sb
    gh = world.client("alice")  # retry=None: faults surface directly
    sb.inject_fault("GET", "/repos/{owner}/{repo}/pulls", status=502, times=1)
    with pytest.raises(GithubException) as bad_gateway:
        list(gh.get_repo("acme/infra").get_pulls())
    assert bad_gateway.value.status == 502
    assert list(gh.get_repo("acme/infra").get_pulls()) == []  # only the next call failed

    sb.inject_fault("GET", "/repos/acme/*", kind="rate_limit")
    with pytest.raises(RateLimitExceededException) as limited:
        gh.get_repo("acme/infra")
    assert limited.value.headers["x-ratelimit-remaining"] == "0"
    assert int(limited.value.headers["x-ratelimit-reset"]) > time.time()
    assert limited.value.data["message"].startswith("API rate limit exceeded for user ID")

    # PyGithub's own retry rides out two 500s.
    sb.inject_fault("GET", "/repos/{owner}/{repo}", status=500, times=2)
    retrying = sb.client(world.tokens["alice"], retry=GithubRetry(total=3, backoff_factor=0.01))
    sb.reset_requests()
    assert retrying.get_repo("acme/infra").name == "infra"
    assert sb.request_counts()["GET /repos/{owner}/{repo}"] == 3

    sb.inject_fault("GET", "/user", kind="hang", seconds=0.3)
    started = time.monotonic()
    assert gh.get_user().login == "alice"
    assert time.monotonic() - started >= 0.3
    # A client whose timeout is shorter than the hang sees a timeout.
    sb.inject_fault("GET", "/user", kind="hang", seconds=0.5)
    req = urllib.request.Request(
        sb.url + "/user", headers={"Authorization": f"token {world.tokens['alice']}"}
    )
    with pytest.raises(TimeoutError):
        urllib.request.urlopen(req, timeout=0.1)

    # Over HTTP as well.
    status, _, fault = call(
        sb, "POST", "/_sandbox/faults", body={"method": "GET", "path": "/rate_limit", "status": 503}
    )
    assert status == 201 and fault["times"] == 1
    assert call(sb, "GET", "/rate_limit", world.tokens["alice"])[0] == 503
    assert call(sb, "GET", "/rate_limit", world.tokens["alice"])[0] == 200


def test_request_log(world: World) -> None:
    sb = world.sb
    sb.push_files("acme/infra", "x", {"a.txt": "1"}, "a", "alice")
    pr = world.repo("alice").create_pull(title="t", body="", head="x", base="main")
    sb.reset_requests()
    bob = world.repo("bob")
    bob_pr = bob.get_pull(pr.number)
    list(bob_pr.get_reviews())
    list(bob_pr.get_reviews())
    counts = sb.request_counts()
    assert counts == {
        "GET /repos/{owner}/{repo}": 1,
        "GET /repos/{owner}/{repo}/pulls/{pull_number}": 1,
        "GET /repos/{owner}/{repo}/pulls/{pull_number}/reviews": 2,
    }
    status, _, log = call(sb, "GET", "/_sandbox/requests")
    assert status == 200 and log["total"] == 4 and log["counts"] == dict(counts)
    assert log["requests"][0]["user"] == "bob"
    assert call(sb, "DELETE", "/_sandbox/requests")[0] == 204
    assert sb.request_counts() == {}


def test_events_over_http(world: World, tmp_path) -> None:  # type: ignore[no-untyped-def]
    sb = world.sb
    mark = sb.last_event_id()
    head = sb.push_files("acme/infra", "x", {"a.txt": "1"}, "a", "alice")
    pr = world.repo("alice").create_pull(title="t", body="", head="x", base="main")
    sb.push_files("acme/infra", "x", {"a.txt": "2"}, "b", "alice")
    status, _, events = call(sb, "GET", f"/_sandbox/events?since={mark}")
    assert status == 200
    assert [(e["event"], e["action"]) for e in events] == [
        ("push", None),
        ("pull_request", "opened"),
        ("push", None),
        ("pull_request", "synchronize"),
    ]
    push = events[0]["payload"]
    assert push["ref"] == "refs/heads/x" and push["after"] == head and push["created"] is True
    assert push["head_commit"]["added"] == ["a.txt"]
    sync = events[3]["payload"]
    assert sync["before"] == head and sync["number"] == pr.number
    assert sync["pull_request"]["head"]["sha"] == sync["after"]
    _, _, only = call(sb, "GET", f"/_sandbox/events?since={mark}&event=pull_request")
    assert len(only) == 2
    env = sb.last_event("pull_request", "synchronize").env(tmp_path / "event.json")
    assert env["GITHUB_EVENT_NAME"] == "pull_request"
    assert json.loads((tmp_path / "event.json").read_text())["action"] == "synchronize"


def test_http_push_endpoint(world: World) -> None:
    status, _, body = call(
        world.sb,
        "POST",
        "/_sandbox/repos/acme/infra/push",
        body={"branch": "y", "files": {"b.txt": "hi"}, "author": "alice"},
    )
    assert status == 201
    assert world.repo("alice").get_branch("y").commit.sha == body["sha"]
    _, _, info = call(world.sb, "GET", "/_sandbox/repos/acme/infra")
    assert info["branches"]["y"] == body["sha"] and info["git_dir"].endswith("infra.git")


def test_start_stop_is_fast() -> None:
    started = time.monotonic()
    with GitHubSandbox() as sb:
        token = sb.add_user("u")
        assert call(sb, "GET", "/user", token)[0] == 200
        state_dir = sb.state_dir
    assert time.monotonic() - started < 1.0
    assert not state_dir.exists()
