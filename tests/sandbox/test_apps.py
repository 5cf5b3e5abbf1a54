"""GitHub Apps: JWTs, installation tokens, scoped permissions and the identity apps leave."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from github import Auth, Github, GithubException, GithubIntegration

from tests.sandbox.conftest import World
from tests.sandbox.test_http import call


@pytest.fixture
def gate_app(world: World):  # type: ignore[no-untyped-def]
    app = world.sb.create_app("gate", "acme", events=["pull_request"])
    world.sb.install_app(app, "acme")
    return app


def test_app_authenticates_with_a_jwt_and_mints_an_hour_long_token(world: World, gate_app) -> None:  # type: ignore[no-untyped-def]
    sb = world.sb
    # PyGithub's own app flow: it signs the JWT with the app's private key.
    auth = Auth.AppAuth(gate_app.id, gate_app.private_key_pem().decode())
    integration = GithubIntegration(base_url=sb.url, auth=auth)
    installation = integration.get_repo_installation("acme", "infra")
    assert installation.app_id == gate_app.id
    assert [i.id for i in integration.get_installations()] == [installation.id]
    minted = integration.get_access_token(installation.id, permissions={"statuses": "write"})
    assert minted.permissions == {"statuses": "write", "metadata": "read"}
    status, _, app_json = call(sb, "GET", "/app", sb.app_jwt(gate_app))
    assert status == 200 and app_json["slug"] == "gate" and app_json["owner"]["login"] == "acme"
    status, _, token = call(
        sb,
        "POST",
        f"/app/installations/{installation.id}/access_tokens",
        sb.app_jwt(gate_app),
        {"repositories": ["infra"], "permissions": {"checks": "write"}},
    )
    assert status == 201
    expires = datetime.strptime(token["expires_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert 3500 < expires.timestamp() - time.time() <= 3600
    assert token["permissions"] == {"checks": "write", "metadata": "read"}
    assert [r["full_name"] for r in token["repositories"]] == ["acme/infra"]
    gh = sb.client(token["token"])
    sha = sb.branch_sha("acme/infra", "main")
    run = gh.get_repo("acme/infra").create_check_run(name="gate", head_sha=sha)
    assert run.app.id == gate_app.id and run.app.slug == "gate"
    # The token carries checks only: a status (statuses permission) is refused.
    with pytest.raises(GithubException) as refused:
        gh.get_repo("acme/infra").get_commit(sha).create_status("success", context="x")
    assert refused.value.status == 403
    assert refused.value.data["message"] == "Resource not accessible by integration"
    # More than the installation has is GitHub's 422.
    status, _, _ = call(
        sb,
        "POST",
        f"/app/installations/{installation.id}/access_tokens",
        sb.app_jwt(gate_app),
        {"permissions": {"administration": "write"}},
    )
    assert status == 422


def test_bad_jwts_and_expired_tokens_are_refused(world: World, gate_app) -> None:  # type: ignore[no-untyped-def]
    sb = world.sb
    now = int(time.time())
    too_far = sb.app_jwt(gate_app, iat=now - 30, exp=now + 660)
    status, _, body = call(sb, "GET", "/app", too_far)
    assert (status, body["message"]) == (
        401,
        "'Expiration time' claim ('exp') is too far in the future",
    )
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    status, _, body = call(sb, "GET", "/app", sb.app_jwt(gate_app, key=other_key))
    assert (status, body["message"]) == (401, "A JSON web token could not be decoded")
    expired_jwt = sb.app_jwt(gate_app, iat=now - 700, exp=now - 100)
    assert call(sb, "GET", "/app", expired_jwt)[0] == 401
    # A JWT is for the /app endpoints only; a user token cannot reach them.
    assert call(sb, "GET", "/repos/acme/infra", sb.app_jwt(gate_app))[0] == 401
    assert call(sb, "GET", "/app", world.tokens["alice"])[0] == 401
    expired = sb.installation_token("gate", "acme/infra", ttl=0)
    status, _, body = call(sb, "GET", "/repos/acme/infra", expired)
    assert (status, body["message"]) == (401, "Bad credentials")
    fresh = sb.installation_token("gate", "acme/infra")
    assert call(sb, "GET", "/repos/acme/infra", fresh)[0] == 200


def test_jwt_exp_is_measured_from_now_not_from_iat(world: World, gate_app) -> None:  # type: ignore[no-untyped-def]
    """GitHub's documented recipe: iat 60 s in the past, exp 10 minutes in the future."""
    sb = world.sb
    now = int(time.time())
    status, _, body = call(sb, "GET", "/app", sb.app_jwt(gate_app, iat=now - 60, exp=now + 600))
    assert (status, body["slug"]) == (200, "gate")
    status, _, body = call(sb, "GET", "/app", sb.app_jwt(gate_app, iat=now, exp=now + 630))
    assert (status, body["message"]) == (
        401,
        "'Expiration time' claim ('exp') is too far in the future",
    )
    # iat a little ahead (clock drift) is tolerated; far ahead is not.
    assert call(sb, "GET", "/app", sb.app_jwt(gate_app, iat=now + 30, exp=now + 300))[0] == 200
    assert call(sb, "GET", "/app", sb.app_jwt(gate_app, iat=now + 300, exp=now + 500))[0] == 401
    # A JWT must be passed as "Authorization: Bearer", not "token".
    req = urllib.request.Request(sb.url + "/app")
    req.add_header("Authorization", f"token {sb.app_jwt(gate_app)}")
    with pytest.raises(urllib.error.HTTPError) as as_token:
        urllib.request.urlopen(req, timeout=10)
    assert as_token.value.code == 401
    # iss may be the client ID instead of the app ID.
    import jwt

    by_client_id = jwt.encode(
        {"iat": now - 60, "exp": now + 540, "iss": gate_app.client_id},
        gate_app.private_key,
        algorithm="RS256",
    )
    assert call(sb, "GET", "/app", by_client_id)[0] == 200


def test_installation_tokens_reach_only_their_repositories(world: World, gate_app) -> None:  # type: ignore[no-untyped-def]
    sb = world.sb
    sb.create_repo("acme", "secret", private=True)
    sb.create_repo("alice", "own")
    token = sb.installation_token("gate", "acme/infra")
    assert call(sb, "GET", "/repos/acme/secret", token)[0] == 404
    # Not installed on alice: her public repository reads, writes are refused.
    client = sb.client(token).get_repo("alice/own")
    with pytest.raises(GithubException) as refused:
        client.get_commit("main").create_status("success", context="x")
    assert refused.value.status == 403
    status, _, listing = call(sb, "GET", "/installation/repositories", token)
    assert status == 200 and [r["full_name"] for r in listing["repositories"]] == ["acme/infra"]


def test_only_the_creating_app_updates_its_check_run(world: World, gate_app) -> None:  # type: ignore[no-untyped-def]
    sb = world.sb
    sha = sb.branch_sha("acme/infra", "main")
    run = sb.client(sb.installation_token("gate", "acme/infra")).get_repo("acme/infra")
    created = run.create_check_run(name="gate", head_sha=sha, status="in_progress")
    forger = sb.client(world.tokens["ci"]).get_repo("acme/infra").get_check_run(created.id)
    with pytest.raises(GithubException) as refused:
        forger.edit(conclusion="success")
    assert refused.value.status == 403
    assert run.get_check_run(created.id).conclusion is None


def test_app_identity_on_comments_deployments_and_statuses(world: World) -> None:
    sb = world.sb
    repo = world.repo("ci")
    sha = sb.branch_sha("acme/infra", "main")
    issue_number = world.sb.gh.create_issue(sb.repo("acme/infra"), "alice", "hello", None).number
    comment = repo.get_issue(issue_number).create_comment("from the bot")
    assert comment.performed_via_github_app.slug == "launcher-ci"
    dep = repo.create_deployment(ref="main", environment="gpu", required_contexts=[])
    assert dep.creator.login == "launcher-ci[bot]" and dep.creator.type == "Bot"
    assert dep.raw_data["performed_via_github_app"]["slug"] == "launcher-ci"
    status = repo.get_commit(sha).create_status("success", context="launcher/approval")
    assert status.creator.login == "launcher-ci[bot]"
    human = world.repo("alice").get_issue(issue_number).create_comment("by hand")
    assert human.performed_via_github_app is None
    # GITHUB_TOKEN: the github-actions app, limited by the workflow's permissions.
    actions = Github(
        base_url=sb.url,
        auth=Auth.Token(sb.installation_token("github-actions", "acme/infra", {"checks": "write"})),
    )
    run = actions.get_repo("acme/infra").create_check_run(name="ci", head_sha=sha)
    assert (run.app.slug, run.app.id) == ("github-actions", 15368)
    repo.create_check_run(name="ci", head_sha=sha)  # the same name from another app
    status, _, listed = call(
        sb, "GET", f"/repos/acme/infra/commits/{sha}/check-runs?app_id=15368", world.tokens["alice"]
    )
    assert status == 200 and [r["id"] for r in listed["check_runs"]] == [run.id]
    # A workflow's `permissions:` spelling ("pull-requests") is accepted.
    pr_token = sb.installation_token("github-actions", "acme/infra", {"pull-requests": "write"})
    note = sb.client(pr_token).get_repo("acme/infra").get_issue(issue_number).create_comment("hi")
    assert note.performed_via_github_app.slug == "github-actions"
    with pytest.raises(GithubException) as no_checks:
        sb.client(pr_token).get_repo("acme/infra").create_check_run(name="x", head_sha=sha)
    assert no_checks.value.status == 403


def test_installation_lookups(world: World, gate_app) -> None:  # type: ignore[no-untyped-def]
    sb = world.sb
    jwt = sb.app_jwt(gate_app)
    status, _, by_org = call(sb, "GET", "/orgs/acme/installation", jwt)
    assert status == 200 and by_org["app_slug"] == "gate"
    assert by_org["repository_selection"] == "all"
    status, _, by_id = call(sb, "GET", f"/app/installations/{by_org['id']}", jwt)
    assert status == 200 and by_id["account"]["login"] == "acme"
    assert call(sb, "GET", "/app/installations/999999", jwt)[0] == 404
    assert call(sb, "GET", "/orgs/nobody/installation", jwt)[0] == 404
    status, _, public = call(sb, "GET", "/apps/gate", world.tokens["mallory"])
    assert status == 200 and public["id"] == gate_app.id
    assert call(sb, "GET", "/apps/nope", world.tokens["mallory"])[0] == 404
    # An installation on selected repositories mints tokens for those only.
    other = sb.create_app("narrow", "acme")
    sb.install_app(other, "acme", ["infra"], {"contents": "read"})
    token = sb.installation_token("narrow", "acme/infra")
    assert call(sb, "GET", "/repos/acme/infra/contents/README.md", token)[0] == 200
    narrow = sb.client(token).get_repo("acme/infra")  # metadata: read, always granted
    with pytest.raises(GithubException) as refused:
        narrow.create_file("x", "m", "x")
    assert refused.value.status == 403
    writer = sb.installation_token("gate", "acme/infra", {"contents": "write"})
    sb.client(writer).get_repo("acme/infra").create_file("x", "m", "x")
