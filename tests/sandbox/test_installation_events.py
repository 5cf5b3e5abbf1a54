"""Installation events: GitHub sends `installation` and `installation_repositories` to every
app's webhook, subscribed or not, with payloads of GitHub's webhook schema, and each change
takes effect on the installation's tokens as on GitHub."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from tests.openapi.conformance import check_event
from tests.sandbox.conftest import World
from tests.sandbox.test_http import call
from tests.sandbox.test_webhooks import SECRET, Receiver, receiver  # noqa: F401 - fixture


def received(r: Receiver, app: Any, sb: Any) -> list[tuple[str, dict[str, Any]]]:
    """(event, payload) of each signed delivery `r` received for `app`, in the order the
    stand-in sent them (they arrive concurrently, as GitHub's do, so not necessarily so)."""
    by_guid = {}
    for headers, body in r.received:
        expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert headers["X-Hub-Signature-256"] == expected
        if headers["X-GitHub-Hook-Installation-Target-ID"] == str(app.id):
            by_guid[headers["X-GitHub-Delivery"]] = (headers["X-GitHub-Event"], json.loads(body))
    sent = [d.guid for d in sb.webhooks.of_app(app.id)]
    assert sorted(sent) == sorted(by_guid)  # every one sent was received, once
    return [by_guid[guid] for guid in sent]


def test_every_installation_change_reaches_the_app_unsubscribed_and_schema_valid(
    world: World,
    receiver: Receiver,  # noqa: F811
) -> None:
    sb = world.sb
    sb.create_repo("acme", "tools", {"README.md": b"t"}, private=True)
    app = sb.create_app("gate", "acme", events=["pull_request"])  # not subscribed to them
    other = sb.create_app("other", "acme")
    sb.set_app_webhook(app, receiver.url, SECRET)
    sb.set_app_webhook(other, receiver.url + "-other", SECRET)
    sb.install_app(other, "acme")  # another app's installation: not this app's business
    inst = sb.install_app(app, "acme", repositories=["infra"], sender="alice")
    assert [r.full_name for r in sb.add_installation_repositories(inst, ["tools"])] == [
        "acme/tools"
    ]
    assert sb.add_installation_repositories(inst, ["acme/tools"]) == []  # nothing new: silent
    sb.remove_installation_repositories(inst, ["infra"], sender="bob")
    sb.accept_installation_permissions(inst, {**inst.permissions, "issues": "read"})
    sb.suspend_installation(inst)
    sb.unsuspend_installation(inst)
    sb.uninstall_app(inst)
    assert sb.webhooks.wait(30)

    got = [(e, p["action"]) for e, p in received(receiver, app, sb)]
    assert got == [
        ("installation", "created"),
        ("installation_repositories", "added"),
        ("installation_repositories", "removed"),
        ("installation", "new_permissions_accepted"),
        ("installation", "suspend"),
        ("installation", "unsuspend"),
        ("installation", "deleted"),
    ]
    # the other app's installation went to the other app only
    ((event, theirs),) = received(receiver, other, sb)
    assert (event, theirs["action"], theirs["installation"]["app_id"]) == (
        "installation",
        "created",
        other.id,
    )
    payloads = [p for _, p in received(receiver, app, sb)]
    for (event, action), payload in zip(got, payloads, strict=True):
        assert check_event(event, action, payload) == []
        assert "repository" not in payload  # installation-level: no single repository
        assert payload["installation"]["app_id"] == app.id
        assert payload["organization"]["login"] == "acme"
    created, added, removed, _, suspended, unsuspended, deleted = payloads
    assert created["sender"]["login"] == "alice"
    assert [r["full_name"] for r in created["repositories"]] == ["acme/infra"]
    assert created["installation"]["repository_selection"] == "selected"
    assert added["repositories_added"] == [
        {
            "id": sb.repo("acme/tools").id,
            "node_id": added["repositories_added"][0]["node_id"],
            "name": "tools",
            "full_name": "acme/tools",
            "private": True,
        }
    ]
    assert added["repositories_removed"] == [] and added["repository_selection"] == "selected"
    assert [r["full_name"] for r in removed["repositories_removed"]] == ["acme/infra"]
    assert removed["sender"]["login"] == "bob"
    assert suspended["installation"]["suspended_at"] is not None
    assert suspended["installation"]["suspended_by"]["login"] == suspended["sender"]["login"]
    assert unsuspended["installation"]["suspended_at"] is None
    assert [r["full_name"] for r in deleted["repositories"]] == ["acme/tools"]
    ids = [d.installation_id for d in sb.webhooks.of_app(app.id)]
    assert ids == [inst.id] * len(got)
    assert {d.repository_id for d in sb.webhooks.of_app(app.id)} == {None}


def test_uninstalling_revokes_the_installations_tokens(world: World) -> None:
    sb = world.sb
    app = sb.create_app("gate", "acme")
    inst = sb.install_app(app, "acme")
    token = sb.installation_token(app, "acme/infra")
    assert call(sb, "GET", "/repos/acme/infra/pulls", token)[0] == 200
    sb.uninstall_app(inst)
    status, _, body = call(sb, "GET", "/repos/acme/infra/pulls", token)
    assert (status, body["message"]) == (401, "Bad credentials")
    jwt = sb.app_jwt(app)
    assert call(sb, "POST", f"/app/installations/{inst.id}/access_tokens", jwt, {})[0] == 404
    assert call(sb, "GET", "/app/installations", jwt)[2] == []


def test_a_suspended_installation_gets_no_access_and_no_repository_events(
    world: World,
    receiver: Receiver,  # noqa: F811
) -> None:
    sb = world.sb
    app = sb.create_app("gate", "acme", events=["push"])
    inst = sb.install_app(app, "acme")
    sb.set_app_webhook(app, receiver.url, SECRET)
    token = sb.installation_token(app, "acme/infra")
    jwt = sb.app_jwt(app)
    sb.suspend_installation(inst)
    status, _, body = call(sb, "GET", "/repos/acme/infra", token)
    assert (status, body["message"]) == (403, "This installation has been suspended")
    status, _, body = call(sb, "POST", f"/app/installations/{inst.id}/access_tokens", jwt, {})
    assert (status, body["message"]) == (403, "This installation has been suspended")
    _, _, listed = call(sb, "GET", f"/app/installations/{inst.id}", jwt)
    assert listed["suspended_at"] is not None
    sb.push_files("acme/infra", "main", {"a.txt": "a"}, "while suspended", "alice")
    sb.unsuspend_installation(inst)
    sb.push_files("acme/infra", "main", {"b.txt": "b"}, "after", "alice")
    assert sb.webhooks.wait(30)
    got = [
        (e, p.get("action") or p["head_commit"]["message"]) for e, p in received(receiver, app, sb)
    ]
    assert got == [("installation", "suspend"), ("installation", "unsuspend"), ("push", "after")]
    assert call(sb, "GET", "/repos/acme/infra", token)[0] == 200  # the token works again


def test_a_removed_repository_is_out_of_reach_of_tokens_minted_before(world: World) -> None:
    sb = world.sb
    sb.create_repo("acme", "secret", {"README.md": b"s"}, private=True)
    app = sb.create_app("gate", "acme")
    inst = sb.install_app(app, "acme")  # all repositories
    jwt = sb.app_jwt(app)
    _, _, minted = call(sb, "POST", f"/app/installations/{inst.id}/access_tokens", jwt, {})
    token = minted["token"]
    assert call(sb, "GET", "/repos/acme/secret", token)[0] == 200
    assert call(sb, "POST", "/repos/acme/infra/issues", token, {"title": "x"})[0] == 201
    sb.remove_installation_repositories(inst, ["acme/secret", "acme/infra"])
    assert inst.repositories == set()  # "all" became the remaining selection: none
    assert call(sb, "GET", "/repos/acme/secret", token)[0] == 404  # private: not found
    assert call(sb, "GET", "/repos/acme/infra", token)[0] == 200  # public: readable
    status, _, body = call(sb, "POST", "/repos/acme/infra/issues", token, {"title": "y"})
    assert (status, body["message"]) == (403, "Resource not accessible by integration")
    status, _, _ = call(
        sb, "POST", "/repos/acme/infra/git/refs", token, {"ref": "refs/heads/x", "sha": "0" * 40}
    )
    assert status == 403  # any write, listed or not
    _, _, repos = call(sb, "GET", "/installation/repositories", token)
    assert repos["repositories"] == []


def test_the_rest_endpoints_change_installations_as_the_sandbox_methods_do(
    world: World,
    receiver: Receiver,  # noqa: F811
) -> None:
    """The app suspends, unsuspends and deletes an installation with its JWT; a person with
    admin access adds or removes a repository with their token (not an app's)."""
    sb = world.sb
    tools = sb.create_repo("acme", "tools", {"README.md": b"t"}, collaborators={"carol": "admin"})
    app = sb.create_app("gate", "acme")
    sb.set_app_webhook(app, receiver.url, SECRET)
    everywhere = sb.install_app(app, "acme")
    jwt = sb.app_jwt(app)
    carol, alice = world.tokens["carol"], world.tokens["alice"]
    path = f"/user/installations/{everywhere.id}/repositories/{tools.id}"
    assert call(sb, "DELETE", path, carol)[0] == 422  # on all repositories: nothing to remove
    assert call(sb, "DELETE", f"/app/installations/{everywhere.id}", jwt)[0] == 204
    assert call(sb, "DELETE", f"/app/installations/{everywhere.id}", jwt)[0] == 404

    inst = sb.install_app(app, "acme", repositories=["infra"])
    path = f"/user/installations/{inst.id}/repositories/{tools.id}"
    assert call(sb, "PUT", path, alice)[0] == 403  # write access is not enough
    token = sb.installation_token(app, "acme/infra")
    assert call(sb, "PUT", path, token)[0] == 403  # an app cannot widen its own reach
    assert call(sb, "PUT", path, carol)[0] == 204
    assert call(sb, "PUT", path, carol)[0] == 304
    assert inst.repositories == {"acme/infra", "acme/tools"}
    assert call(sb, "DELETE", path, carol)[0] == 204
    assert call(sb, "PUT", f"/user/installations/{inst.id}/repositories/999999", carol)[0] == 404
    for method in ("PUT", "DELETE"):
        assert call(sb, method, f"/app/installations/{inst.id}/suspended", jwt)[0] == 204
    assert call(sb, "PUT", f"/app/installations/{inst.id}/suspended", carol)[0] == 401
    assert sb.webhooks.wait(30)

    got = [(e, p["action"], p["sender"]["login"]) for e, p in received(receiver, app, sb)]
    assert got == [
        ("installation", "created", "acme"),
        ("installation", "deleted", "acme"),  # the app's owner
        ("installation", "created", "acme"),
        ("installation_repositories", "added", "carol"),
        ("installation_repositories", "removed", "carol"),
        ("installation", "suspend", "acme"),
        ("installation", "unsuspend", "acme"),
    ]
