"""Installation events: installing, uninstalling, suspending an app, and changing which
repositories an installation covers, each announced as GitHub announces it.

Why: GitHub sends ``installation`` (created, deleted, suspend, unsuspend,
new_permissions_accepted) and ``installation_repositories`` (added, removed) to every GitHub
App's webhook whether or not it subscribes to them, and a service such as ``launcher serve``
acts on them: it decides the open pull requests of repositories it just gained, and stops
using the token of an installation that is gone. The payloads follow GitHub's webhook schema
(validated in tests): the full ``installation`` object, the repositories concerned as
``{id, node_id, name, full_name, private}``, ``requester`` (null unless someone asked an
owner to install), ``sender`` (who did it), ``organization`` for an organization's
installation, and no ``repository``.

What each change does to access, as on GitHub: an uninstalled installation's tokens stop
working at once (401 Bad credentials) and no token can be minted for it (404); a suspended
one answers 403 "This installation has been suspended" to its tokens and to minting, and
no webhook about its repositories is delivered until it is unsuspended; a repository removed
from an installation is out of reach of the installation's tokens minted before
(``apps.Apps.authorize`` checks the installation's coverage on each request).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from launcher.sandbox.github.apps import App, Installation
from launcher.sandbox.github.shapes import node_id
from launcher.sandbox.github.state import now

if TYPE_CHECKING:
    from launcher.sandbox.github.service import GitHub
    from launcher.sandbox.github.state import Repo


def _sender(gh: GitHub, account: str, sender: str | None) -> str:
    """Who acted: ``sender``, else an organization's first admin (an owner installs an app),
    else the account itself."""
    if sender:
        user = gh.state.user(sender)
        if user is None:
            raise ValueError(f"no account {sender}")
        return user.login
    org = gh.state.orgs.get(account.lower())
    if org is not None:
        admins = sorted(login for login, role in org.members.items() if role == "admin")
        if admins:
            user = gh.state.user(admins[0])
            if user is not None:
                return user.login
    return account


def mini_repo(repo: Repo) -> dict[str, Any]:
    """A repository as installation payloads list it."""
    return {
        "id": repo.id,
        "node_id": node_id("R", repo.id),
        "name": repo.name,
        "full_name": repo.full_name,
        "private": repo.private,
    }


def covered(gh: GitHub, inst: Installation) -> list[Repo]:
    """The repositories `inst` covers now, by name."""
    return sorted(
        (r for r in gh.state.repos.values() if inst.covers(r)), key=lambda r: r.full_name.lower()
    )


def _emit(
    gh: GitHub, event: str, action: str, inst: Installation, sender: str, **fields: Any
) -> None:
    payload: dict[str, Any] = {"action": action}
    payload["installation"] = gh.apps.installation_json(inst, gh.base_url, gh.shapes)
    payload.update(fields)
    org = gh.state.orgs.get(inst.account.lower())
    if org is not None:
        payload["organization"] = gh.shapes.org_simple(org)
    payload["sender"] = gh.shapes.simple_user(sender)
    gh.events.emit(event, payload)


def install(
    gh: GitHub,
    app: App,
    account: str,
    repositories: list[str] | None = None,
    permissions: dict[str, str] | None = None,
    sender: str | None = None,
) -> Installation:
    """Install `app` on `account` (all its repositories, or the named ones): ``created``."""
    with gh.state.lock:
        inst = gh.apps.install(app, account, repositories, permissions)
        who = _sender(gh, inst.account, sender)
        repos = [mini_repo(r) for r in covered(gh, inst)]
    _emit(gh, "installation", "created", inst, who, repositories=repos, requester=None)
    return inst


def uninstall(gh: GitHub, inst: Installation, sender: str | None = None) -> None:
    """Remove the installation: its tokens are revoked at once: ``deleted``."""
    with gh.state.lock:
        who = _sender(gh, inst.account, sender)
        repos = [mini_repo(r) for r in covered(gh, inst)]
        gh.apps.uninstall(inst)
    _emit(gh, "installation", "deleted", inst, who, repositories=repos, requester=None)


def suspend(gh: GitHub, inst: Installation, sender: str | None = None) -> None:
    """Block the app from the account's resources and events: ``suspend``."""
    with gh.state.lock:
        who = _sender(gh, inst.account, sender)
        inst.suspended_by, inst.suspended_at = who, now()
        repos = [mini_repo(r) for r in covered(gh, inst)]
    _emit(gh, "installation", "suspend", inst, who, repositories=repos, requester=None)


def unsuspend(gh: GitHub, inst: Installation, sender: str | None = None) -> None:
    """Give the app its access back: ``unsuspend``."""
    with gh.state.lock:
        who = _sender(gh, inst.account, sender)
        inst.suspended_by, inst.suspended_at = None, None
        repos = [mini_repo(r) for r in covered(gh, inst)]
    _emit(gh, "installation", "unsuspend", inst, who, repositories=repos, requester=None)


def accept_permissions(
    gh: GitHub, inst: Installation, permissions: dict[str, str], sender: str | None = None
) -> None:
    """The account accepts the app's new permissions: ``new_permissions_accepted``."""
    with gh.state.lock:
        who = _sender(gh, inst.account, sender)
        inst.permissions = {**permissions, "metadata": permissions.get("metadata", "read")}
        repos = [mini_repo(r) for r in covered(gh, inst)]
    _emit(
        gh, "installation", "new_permissions_accepted", inst, who,
        repositories=repos, requester=None,
    )  # fmt: skip


def _repos(gh: GitHub, inst: Installation, names: Iterable[str]) -> list[Repo]:
    out = []
    for name in names:
        full = name if "/" in name else f"{inst.account}/{name}"
        owner, _, short = full.partition("/")
        repo = gh.state.repo(owner, short)
        if repo is None or repo.owner.lower() != inst.account.lower():
            raise ValueError(f"{full} is not a repository of {inst.account}")
        out.append(repo)
    return out


def add_repositories(
    gh: GitHub, inst: Installation, names: Iterable[str], sender: str | None = None
) -> list[Repo]:
    """Give a selected-repositories installation more repositories: ``added`` (those it did
    not cover already; nothing is announced when there are none)."""
    with gh.state.lock:
        if inst.repositories is None:
            raise ValueError("the installation covers all repositories already")
        added = [r for r in _repos(gh, inst, names) if not inst.covers(r)]
        inst.repositories |= {r.full_name.lower() for r in added}
        who = _sender(gh, inst.account, sender)
    if added:
        _emit(
            gh, "installation_repositories", "added", inst, who,
            repository_selection="selected",
            repositories_added=[mini_repo(r) for r in added],
            repositories_removed=[],
            requester=None,
        )  # fmt: skip
    return added


def remove_repositories(
    gh: GitHub, inst: Installation, names: Iterable[str], sender: str | None = None
) -> list[Repo]:
    """Take repositories from the installation: ``removed``. An installation on all
    repositories becomes one on the others (selected), as the settings page does it."""
    with gh.state.lock:
        removed = [r for r in _repos(gh, inst, names) if inst.covers(r)]
        if inst.repositories is None:
            inst.repositories = {r.full_name.lower() for r in covered(gh, inst)}
        inst.repositories -= {r.full_name.lower() for r in removed}
        who = _sender(gh, inst.account, sender)
    if removed:
        _emit(
            gh, "installation_repositories", "removed", inst, who,
            repository_selection="selected",
            repositories_added=[],
            repositories_removed=[mini_repo(r) for r in removed],
            requester=None,
        )  # fmt: skip
    return removed
