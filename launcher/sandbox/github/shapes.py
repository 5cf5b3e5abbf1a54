"""Render model objects as the JSON shapes GitHub's REST API and webhooks use.

Field names, required keys and nullability follow GitHub's OpenAPI description
(components such as ``simple-user``, ``repository``, ``pull-request``); the
conformance tests validate every rendered body against it.
"""

from __future__ import annotations

import base64
import functools
from typing import Any
from urllib.parse import quote

from launcher.sandbox.github.gitrepo import CommitInfo, FileChange, Person
from launcher.sandbox.github.state import (
    PERMISSIONS,
    CheckRun,
    Comment,
    Deployment,
    DeploymentStatus,
    Issue,
    Label,
    Org,
    Repo,
    Review,
    State,
    Status,
    Team,
    User,
    iso,
)

# GitHub's merge-strategy of the stand-in's own "web-flow" committer.
WEB_FLOW = Person("GitHub", "noreply@github.com", 0)


@functools.lru_cache(maxsize=65536)
def node_id(kind: str, ident: int | str) -> str:
    """Opaque global node id, GitHub style (``PR_kwDO...``); remembered, as every payload
    names the same accounts and repositories again."""
    return f"{kind}_kwDO" + base64.b64encode(str(ident).encode()).decode().rstrip("=")


def git_user(p: Person) -> dict[str, Any]:
    return {"name": p.name, "email": p.email, "date": iso(p.timestamp)}


def simple_commit(r: Repo, sha: str) -> dict[str, Any] | None:
    """GitHub's ``simple-commit`` (a check suite's, workflow run's or merge group's
    ``head_commit``); None when the commit is not in the repository."""
    c = r.git.commit(sha)
    if c is None:
        return None
    return {
        "id": c.sha,
        "tree_id": c.tree,
        "message": c.message.rstrip("\n"),
        "timestamp": iso(c.committer.timestamp),
        "author": {"name": c.author.name, "email": c.author.email},
        "committer": {"name": c.committer.name, "email": c.committer.email},
    }


_REPO_CONSTANTS: dict[str, Any] = {
    "fork": False,
    "homepage": None,
    "size": 0,
    "stargazers_count": 0,
    "watchers_count": 0,
    "language": None,
    "has_issues": True,
    "has_projects": False,
    "has_downloads": True,
    "has_wiki": False,
    "has_pages": False,
    "has_discussions": False,
    "forks_count": 0,
    "mirror_url": None,
    "archived": False,
    "disabled": False,
    "license": None,
    "allow_forking": True,
    "is_template": False,
    "web_commit_signoff_required": False,
    "forks": 0,
    "watchers": 0,
}


class Shapes:
    """Renders objects with absolute URLs rooted at ``base`` (the server URL)."""

    def __init__(self, state: State, base: str) -> None:
        self.state = state
        self.base = base.rstrip("/")
        self._urls: dict[tuple[int, str, str], dict[str, Any]] = {}

    def via_app(self, login: str | None) -> dict[str, Any] | None:
        """The ``integration`` an app's bot account acts for (None for people)."""
        apps = self.state.apps
        app = apps.of_login(login) if apps is not None else None
        return apps.integration(app, self.base, self) if app is not None else None

    # -- accounts -----------------------------------------------------------
    def simple_user(self, login: str) -> dict[str, Any]:
        u = self.state.user(login)
        if u is None:  # a deleted/unknown account, GitHub's "ghost"
            u = User(id=10137, login="ghost", token="")
        api = f"{self.base}/users/{u.login}"
        return {
            "login": u.login,
            "id": u.id,
            "node_id": node_id("U" if u.type != "Organization" else "O", u.id),
            "avatar_url": f"{self.base}/avatars/u/{u.id}?v=4",
            "gravatar_id": "",
            "url": api,
            "html_url": f"{self.base}/apps/{u.login.removesuffix('[bot]')}"
            if u.type == "Bot"
            else f"{self.base}/{u.login}",
            "followers_url": f"{api}/followers",
            "following_url": f"{api}/following{{/other_user}}",
            "gists_url": f"{api}/gists{{/gist_id}}",
            "starred_url": f"{api}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{api}/subscriptions",
            "organizations_url": f"{api}/orgs",
            "repos_url": f"{api}/repos",
            "events_url": f"{api}/events{{/privacy}}",
            "received_events_url": f"{api}/received_events",
            "type": u.type,
            "user_view_type": "public",
            "site_admin": False,
        }

    def public_user(self, u: User) -> dict[str, Any]:
        owned = [r for r in self.state.repos.values() if r.owner.lower() == u.login.lower()]
        return {
            **self.simple_user(u.login),
            "name": u.name,
            "company": None,
            "blog": "",
            "location": None,
            "email": u.email,
            "hireable": None,
            "bio": None,
            "twitter_username": None,
            "public_repos": sum(1 for r in owned if not r.private),
            "public_gists": 0,
            "followers": 0,
            "following": 0,
            "created_at": iso(u.created_at),
            "updated_at": iso(u.created_at),
        }

    def private_user(self, u: User) -> dict[str, Any]:
        owned = [r for r in self.state.repos.values() if r.owner.lower() == u.login.lower()]
        return {
            **self.public_user(u),
            "private_gists": 0,
            "total_private_repos": sum(1 for r in owned if r.private),
            "owned_private_repos": sum(1 for r in owned if r.private),
            "disk_usage": 0,
            "collaborators": 0,
            "two_factor_authentication": True,
            "plan": {
                "name": "free",
                "space": 976562499,
                "private_repos": 10000,
                "collaborators": 0,
            },
        }

    def org_full(self, org: Org) -> dict[str, Any]:
        u = org.user
        api = f"{self.base}/orgs/{u.login}"
        owned = [r for r in self.state.repos.values() if r.owner.lower() == u.login.lower()]
        return {
            "login": u.login,
            "id": u.id,
            "node_id": node_id("O", u.id),
            "url": api,
            "repos_url": f"{api}/repos",
            "events_url": f"{api}/events",
            "hooks_url": f"{api}/hooks",
            "issues_url": f"{api}/issues",
            "members_url": f"{api}/members{{/member}}",
            "public_members_url": f"{api}/public_members{{/member}}",
            "avatar_url": f"{self.base}/avatars/u/{u.id}?v=4",
            "description": None,
            "name": u.name or u.login,
            "blog": "",
            "is_verified": False,
            "has_organization_projects": True,
            "has_repository_projects": True,
            "public_repos": sum(1 for r in owned if not r.private),
            "public_gists": 0,
            "followers": 0,
            "following": 0,
            "html_url": f"{self.base}/{u.login}",
            "type": "Organization",
            "created_at": iso(u.created_at),
            "updated_at": iso(u.created_at),
            "archived_at": None,
        }

    def org_simple(self, org: Org) -> dict[str, Any]:
        full = self.org_full(org)
        keys = (
            "login",
            "id",
            "node_id",
            "url",
            "repos_url",
            "events_url",
            "hooks_url",
            "issues_url",
            "members_url",
            "public_members_url",
            "avatar_url",
            "description",
        )
        return {k: full[k] for k in keys}

    def team(self, team: Team) -> dict[str, Any]:
        api = (
            f"{self.base}/organizations/{self.state.orgs[team.org.lower()].user.id}/team/{team.id}"
        )
        return {
            "id": team.id,
            "node_id": node_id("T", team.id),
            "url": api,
            "html_url": f"{self.base}/orgs/{team.org}/teams/{team.slug}",
            "name": team.name,
            "slug": team.slug,
            "description": team.description,
            "privacy": "closed",
            "notification_setting": "notifications_enabled",
            "permission": "pull",
            "members_url": f"{api}/members{{/member}}",
            "repositories_url": f"{api}/repos",
            "type": "organization",
            "organization_id": self.state.orgs[team.org.lower()].user.id,
            "parent": None,
        }

    def team_full(self, team: Team) -> dict[str, Any]:
        out = self.team(team)
        out.update(
            members_count=len(team.members),
            repos_count=len(team.repos),
            created_at=iso(team.created_at),
            updated_at=iso(team.created_at),
            organization=self.org_full(self.state.orgs[team.org.lower()]),
        )
        return out

    def team_simple(self, team: Team) -> dict[str, Any]:
        out = self.team(team)
        del out["parent"]
        return out

    # -- repositories ---------------------------------------------------------
    def repo(self, r: Repo, viewer: str | None = None, full: bool = False) -> dict[str, Any]:
        open_issues = sum(1 for i in r.issues.values() if i.state == "open")
        out: dict[str, Any] = {
            "id": r.id,
            "node_id": node_id("R", r.id),
            "name": r.name,
            "full_name": r.full_name,
            "private": r.private,
            "owner": self.simple_user(r.owner),
            "description": r.description,
            **self._repo_urls(r),
            "created_at": iso(r.created_at),
            "updated_at": iso(r.updated_at),
            "pushed_at": iso(r.pushed_at),
            **_REPO_CONSTANTS,
            "open_issues_count": open_issues,
            "visibility": "private" if r.private else "public",
            "open_issues": open_issues,
            "default_branch": r.default_branch,
            "topics": [],
        }
        if viewer is not None:
            perm = self.state.permission(r, viewer)
            rank = PERMISSIONS.index(perm) if perm else (0 if not r.private else -1)
            out["permissions"] = {
                "admin": rank >= 4,
                "maintain": rank >= 3,
                "push": rank >= 2,
                "triage": rank >= 1,
                "pull": rank >= 0,
            }
        if full:
            org = self.state.orgs.get(r.owner.lower())
            out.update(
                allow_squash_merge=True,
                allow_merge_commit=True,
                allow_rebase_merge=True,
                allow_auto_merge=False,
                delete_branch_on_merge=False,
                allow_update_branch=False,
                use_squash_pr_title_as_default=False,
                squash_merge_commit_title="COMMIT_OR_PR_TITLE",
                squash_merge_commit_message="COMMIT_MESSAGES",
                merge_commit_title="MERGE_MESSAGE",
                merge_commit_message="PR_TITLE",
                network_count=0,
                subscribers_count=0,
            )
            if org is not None:
                out["organization"] = self.simple_user(r.owner)
        return out

    def _repo_urls(self, r: Repo) -> dict[str, Any]:
        """A repository's URLs (the same until it is renamed): built once, not per shape."""
        key = (r.id, r.owner, r.name)
        found = self._urls.get(key)
        if found is None:
            api = f"{self.base}/repos/{r.owner}/{r.name}"
            html = f"{self.base}/{r.owner}/{r.name}"
            # The stand-in's clone URL is the bare repository itself: `git clone` works.
            clone = r.git.path.as_uri()
            found = {
                "html_url": html,
                "url": api,
                "forks_url": f"{api}/forks",
                "keys_url": f"{api}/keys{{/key_id}}",
                "collaborators_url": f"{api}/collaborators{{/collaborator}}",
                "teams_url": f"{api}/teams",
                "hooks_url": f"{api}/hooks",
                "issue_events_url": f"{api}/issues/events{{/number}}",
                "events_url": f"{api}/events",
                "assignees_url": f"{api}/assignees{{/user}}",
                "branches_url": f"{api}/branches{{/branch}}",
                "tags_url": f"{api}/tags",
                "blobs_url": f"{api}/git/blobs{{/sha}}",
                "git_tags_url": f"{api}/git/tags{{/sha}}",
                "git_refs_url": f"{api}/git/refs{{/sha}}",
                "trees_url": f"{api}/git/trees{{/sha}}",
                "statuses_url": f"{api}/statuses/{{sha}}",
                "languages_url": f"{api}/languages",
                "stargazers_url": f"{api}/stargazers",
                "contributors_url": f"{api}/contributors",
                "subscribers_url": f"{api}/subscribers",
                "subscription_url": f"{api}/subscription",
                "commits_url": f"{api}/commits{{/sha}}",
                "git_commits_url": f"{api}/git/commits{{/sha}}",
                "comments_url": f"{api}/comments{{/number}}",
                "issue_comment_url": f"{api}/issues/comments{{/number}}",
                "contents_url": f"{api}/contents/{{+path}}",
                "compare_url": f"{api}/compare/{{base}}...{{head}}",
                "merges_url": f"{api}/merges",
                "archive_url": f"{api}/{{archive_format}}{{/ref}}",
                "downloads_url": f"{api}/downloads",
                "issues_url": f"{api}/issues{{/number}}",
                "pulls_url": f"{api}/pulls{{/number}}",
                "milestones_url": f"{api}/milestones{{/number}}",
                "notifications_url": f"{api}/notifications{{?since,all,participating}}",
                "labels_url": f"{api}/labels{{/name}}",
                "releases_url": f"{api}/releases{{/id}}",
                "deployments_url": f"{api}/deployments",
                "git_url": clone,
                "ssh_url": clone,
                "clone_url": clone,
                "svn_url": html,
            }
            self._urls[key] = found
        return found

    def label(self, r: Repo, label: Label) -> dict[str, Any]:
        return {
            "id": label.id,
            "node_id": node_id("LA", label.id),
            "url": f"{self.base}/repos/{r.owner}/{r.name}/labels/{quote(label.name, safe='')}",
            "name": label.name,
            "color": label.color,
            "default": label.default,
            "description": label.description,
        }

    # -- git --------------------------------------------------------------------
    def git_ref(self, r: Repo, ref: str, sha: str) -> dict[str, Any]:
        api = f"{self.base}/repos/{r.owner}/{r.name}"
        return {
            "ref": ref,
            "node_id": node_id("REF", f"{r.id}:{ref}"),
            "url": f"{api}/git/{ref}",
            "object": {"type": "commit", "sha": sha, "url": f"{api}/git/commits/{sha}"},
        }

    def git_commit(self, r: Repo, c: CommitInfo) -> dict[str, Any]:
        api = f"{self.base}/repos/{r.owner}/{r.name}"
        return {
            "sha": c.sha,
            "node_id": node_id("C", c.sha),
            "url": f"{api}/git/commits/{c.sha}",
            "html_url": f"{self.base}/{r.full_name}/commit/{c.sha}",
            "author": git_user(c.author),
            "committer": git_user(c.committer),
            "tree": {"sha": c.tree, "url": f"{api}/git/trees/{c.tree}"},
            "message": c.message.rstrip("\n"),
            "parents": [
                {
                    "sha": p,
                    "url": f"{api}/git/commits/{p}",
                    "html_url": f"{self.base}/{r.full_name}/commit/{p}",
                }
                for p in c.parents
            ],
            "verification": self.verification(),
        }

    @staticmethod
    def verification() -> dict[str, Any]:
        return {
            "verified": False,
            "reason": "unsigned",
            "signature": None,
            "payload": None,
            "verified_at": None,
        }

    def _account_for(self, p: Person) -> dict[str, Any] | None:
        for u in self.state.users.values():
            if u.commit_email.lower() == p.email.lower():
                return self.simple_user(u.login)
        return None

    def commit(
        self, r: Repo, c: CommitInfo, files: list[FileChange] | None = None
    ) -> dict[str, Any]:
        api = f"{self.base}/repos/{r.owner}/{r.name}"
        out: dict[str, Any] = {
            "url": f"{api}/commits/{c.sha}",
            "sha": c.sha,
            "node_id": node_id("C", c.sha),
            "html_url": f"{self.base}/{r.full_name}/commit/{c.sha}",
            "comments_url": f"{api}/commits/{c.sha}/comments",
            "commit": {
                "url": f"{api}/git/commits/{c.sha}",
                "author": git_user(c.author),
                "committer": git_user(c.committer),
                "message": c.message.rstrip("\n"),
                "tree": {"sha": c.tree, "url": f"{api}/git/trees/{c.tree}"},
                "comment_count": 0,
                "verification": self.verification(),
            },
            "author": self._account_for(c.author),
            "committer": self._account_for(c.committer),
            "parents": [
                {
                    "sha": p,
                    "url": f"{api}/commits/{p}",
                    "html_url": f"{self.base}/{r.full_name}/commit/{p}",
                }
                for p in c.parents
            ],
        }
        if files is not None:
            adds = sum(f.additions for f in files)
            dels = sum(f.deletions for f in files)
            out["stats"] = {"total": adds + dels, "additions": adds, "deletions": dels}
            out["files"] = [self.diff_entry(r, c.sha, f) for f in files]
        return out

    def diff_entry(self, r: Repo, sha: str, f: FileChange) -> dict[str, Any]:
        path = quote(f.filename)
        out: dict[str, Any] = {
            "sha": f.sha or "0" * 40,
            "filename": f.filename,
            "status": f.status,
            "additions": f.additions,
            "deletions": f.deletions,
            "changes": f.additions + f.deletions,
            "blob_url": f"{self.base}/{r.full_name}/blob/{sha}/{path}",
            "raw_url": f"{self.base}/{r.full_name}/raw/{sha}/{path}",
            "contents_url": f"{self.base}/repos/{r.full_name}/contents/{path}?ref={sha}",
        }
        if f.patch:
            out["patch"] = f.patch
        if f.previous_filename is not None:
            out["previous_filename"] = f.previous_filename
        return out

    def content_file(
        self, r: Repo, path: str, sha: str, size: int, ref: str, content: bytes | None
    ) -> dict[str, Any]:
        api = f"{self.base}/repos/{r.full_name}"
        self_url = f"{api}/contents/{quote(path)}?ref={quote(ref, safe='')}"
        git_url = f"{api}/git/blobs/{sha}"
        html_url = f"{self.base}/{r.full_name}/blob/{ref}/{quote(path)}"
        out: dict[str, Any] = {
            "type": "file",
            "name": path.rsplit("/", 1)[-1],
            "path": path,
            "sha": sha,
            "size": size,
            "url": self_url,
            "html_url": html_url,
            "git_url": git_url,
            "download_url": f"{self.base}/{r.full_name}/raw/{ref}/{quote(path)}",
            "_links": {"self": self_url, "git": git_url, "html": html_url},
        }
        if content is not None:
            encoded = base64.encodebytes(content).decode()
            out.update(content=encoded, encoding="base64")
        return out

    def content_dir_entry(
        self, r: Repo, path: str, otype: str, sha: str, size: int, ref: str
    ) -> dict[str, Any]:
        out = self.content_file(r, path, sha, size, ref, None)
        if otype == "tree":
            out["type"] = "dir"
            out["download_url"] = None
            out["git_url"] = f"{self.base}/repos/{r.full_name}/git/trees/{sha}"
            out["_links"]["git"] = out["git_url"]
        return out

    # -- issues and pull requests ---------------------------------------------
    def author_association(self, r: Repo, login: str) -> str:
        if r.owner.lower() == login.lower():
            return "OWNER"
        org = self.state.orgs.get(r.owner.lower())
        if org is not None and login.lower() in org.members:
            return "MEMBER"
        if self.state.permission(r, login) is not None:
            return "COLLABORATOR"
        return "NONE"

    def _reactions(self, url: str) -> dict[str, Any]:
        return {
            "url": f"{url}/reactions",
            "total_count": 0,
            "+1": 0,
            "-1": 0,
            "laugh": 0,
            "hooray": 0,
            "confused": 0,
            "heart": 0,
            "rocket": 0,
            "eyes": 0,
        }

    def issue(self, r: Repo, i: Issue) -> dict[str, Any]:
        api = f"{self.base}/repos/{r.full_name}"
        url = f"{api}/issues/{i.number}"
        out: dict[str, Any] = {
            "url": url,
            "repository_url": api,
            "labels_url": f"{url}/labels{{/name}}",
            "comments_url": f"{url}/comments",
            "events_url": f"{url}/events",
            "html_url": f"{self.base}/{r.full_name}/{'pull' if i.pull else 'issues'}/{i.number}",
            "id": i.id,
            "node_id": node_id("I", i.id),
            "number": i.number,
            "title": i.title,
            "user": self.simple_user(i.user),
            "labels": [self.label(r, r.labels[n.lower()]) for n in i.labels],
            "state": i.state,
            "locked": False,
            "assignee": None,
            "assignees": [],
            "milestone": None,
            "comments": i.comments,
            "created_at": iso(i.created_at),
            "updated_at": iso(i.updated_at),
            "closed_at": iso(i.closed_at) if i.closed_at else None,
            "author_association": self.author_association(r, i.user),
            "active_lock_reason": None,
            "body": i.body,
            "reactions": self._reactions(url),
            "timeline_url": f"{url}/timeline",
            "performed_via_github_app": self.via_app(i.user),
            "state_reason": i.state_reason,
        }
        if i.pull is not None:
            pr = i.pull
            out["draft"] = pr.draft
            out["pull_request"] = {
                "url": f"{api}/pulls/{i.number}",
                "html_url": f"{self.base}/{r.full_name}/pull/{i.number}",
                "diff_url": f"{self.base}/{r.full_name}/pull/{i.number}.diff",
                "patch_url": f"{self.base}/{r.full_name}/pull/{i.number}.patch",
                "merged_at": iso(pr.merged_at) if pr.merged_at else None,
            }
        return out

    def _branch_end(self, r: Repo, ref: str, sha: str) -> dict[str, Any]:
        return {
            "label": f"{r.owner}:{ref}",
            "ref": ref,
            "sha": sha,
            "user": self.simple_user(r.owner),
            "repo": self.repo(r),
        }

    def pull(self, r: Repo, i: Issue, full: bool = True) -> dict[str, Any]:
        """``pull-request`` (full=True) or ``pull-request-simple`` (list endpoints)."""
        pr = i.pull
        assert pr is not None
        api = f"{self.base}/repos/{r.full_name}"
        url = f"{api}/pulls/{i.number}"
        html = f"{self.base}/{r.full_name}/pull/{i.number}"
        issue_url = f"{api}/issues/{i.number}"
        head_sha = r.head_sha(i)
        out: dict[str, Any] = {
            "url": url,
            "id": pr.id,
            "node_id": node_id("PR", pr.id),
            "html_url": html,
            "diff_url": f"{html}.diff",
            "patch_url": f"{html}.patch",
            "issue_url": issue_url,
            "commits_url": f"{url}/commits",
            "review_comments_url": f"{url}/comments",
            "review_comment_url": f"{api}/pulls/comments{{/number}}",
            "comments_url": f"{issue_url}/comments",
            "statuses_url": f"{api}/statuses/{head_sha}",
            "number": i.number,
            "state": i.state,
            "locked": False,
            "title": i.title,
            "user": self.simple_user(i.user),
            "body": i.body,
            "labels": [self.label(r, r.labels[n.lower()]) for n in i.labels],
            "milestone": None,
            "active_lock_reason": None,
            "created_at": iso(i.created_at),
            "updated_at": iso(i.updated_at),
            "closed_at": iso(i.closed_at) if i.closed_at else None,
            "merged_at": iso(pr.merged_at) if pr.merged_at else None,
            "merge_commit_sha": pr.merge_commit_sha,
            "assignee": None,
            "assignees": [],
            "requested_reviewers": [self.simple_user(u) for u in pr.requested_users],
            "requested_teams": [
                self.team(self.state.orgs[r.owner.lower()].teams[t]) for t in pr.requested_teams
            ],
            "head": self._branch_end(r, pr.head_ref, head_sha),
            "base": self._branch_end(r, pr.base_ref, r.base_sha(i)),
            "_links": {
                "self": {"href": url},
                "html": {"href": html},
                "issue": {"href": issue_url},
                "comments": {"href": f"{issue_url}/comments"},
                "review_comments": {"href": f"{url}/comments"},
                "review_comment": {"href": f"{api}/pulls/comments{{/number}}"},
                "commits": {"href": f"{url}/commits"},
                "statuses": {"href": f"{api}/statuses/{head_sha}"},
            },
            "author_association": self.author_association(r, i.user),
            "auto_merge": None,
            "draft": pr.draft,
        }
        return out

    def pull_full_extra(
        self, r: Repo, i: Issue, mergeable: bool | None, commits: int, files: list[FileChange]
    ) -> dict[str, Any]:
        """Fields only the single-PR endpoint (and webhooks) carry."""
        pr = i.pull
        assert pr is not None
        if pr.merged:
            state = "unknown"
        elif mergeable is None:
            state = "unknown"
        else:
            state = "clean" if mergeable else "dirty"
        return {
            "merged": pr.merged,
            "mergeable": None if pr.merged or i.state == "closed" else mergeable,
            "rebaseable": None if pr.merged else mergeable,
            "mergeable_state": state,
            "merged_by": self.simple_user(pr.merged_by) if pr.merged_by else None,
            "comments": i.comments,
            "review_comments": 0,
            "maintainer_can_modify": pr.maintainer_can_modify,
            "commits": commits,
            "additions": sum(f.additions for f in files),
            "deletions": sum(f.deletions for f in files),
            "changed_files": len(files),
        }

    def review(self, r: Repo, rv: Review) -> dict[str, Any]:
        pr_url = f"{self.base}/repos/{r.full_name}/pulls/{rv.pull_number}"
        html = f"{self.base}/{r.full_name}/pull/{rv.pull_number}#pullrequestreview-{rv.id}"
        out: dict[str, Any] = {
            "id": rv.id,
            "node_id": node_id("PRR", rv.id),
            "user": self.simple_user(rv.user),
            "body": rv.body,
            "state": rv.state,
            "html_url": html,
            "pull_request_url": pr_url,
            "author_association": self.author_association(r, rv.user),
            "_links": {"html": {"href": html}, "pull_request": {"href": pr_url}},
            "commit_id": rv.commit_id,
        }
        if rv.state != "PENDING":
            out["submitted_at"] = iso(rv.submitted_at)
        return out

    def comment(self, r: Repo, c: Comment) -> dict[str, Any]:
        api = f"{self.base}/repos/{r.full_name}"
        url = f"{api}/issues/comments/{c.id}"
        issue = r.issues[c.issue_number]
        kind = "pull" if issue.pull else "issues"
        return {
            "id": c.id,
            "node_id": node_id("IC", c.id),
            "url": url,
            "html_url": f"{self.base}/{r.full_name}/{kind}/{c.issue_number}#issuecomment-{c.id}",
            "body": c.body,
            "user": self.simple_user(c.user),
            "created_at": iso(c.created_at),
            "updated_at": iso(c.updated_at),
            "issue_url": f"{api}/issues/{c.issue_number}",
            "author_association": self.author_association(r, c.user),
            "performed_via_github_app": self.via_app(c.user),
            "reactions": self._reactions(url),
        }

    # -- statuses, checks, deployments -----------------------------------------
    def status(self, r: Repo, s: Status) -> dict[str, Any]:
        creator = self.simple_user(s.creator)
        return {
            "url": f"{self.base}/repos/{r.full_name}/statuses/{s.sha}",
            "avatar_url": creator["avatar_url"],
            "id": s.id,
            "node_id": node_id("SC", s.id),
            "state": s.state,
            "description": s.description,
            "target_url": s.target_url,
            "context": s.context,
            "created_at": iso(s.created_at),
            "updated_at": iso(s.updated_at),
            "creator": creator,
        }

    def check_run(self, r: Repo, c: CheckRun) -> dict[str, Any]:
        api = f"{self.base}/repos/{r.full_name}"
        out = dict(c.output)
        return {
            "id": c.id,
            "head_sha": c.head_sha,
            "node_id": node_id("CR", c.id),
            "external_id": c.external_id,
            "url": f"{api}/check-runs/{c.id}",
            "html_url": f"{self.base}/{r.full_name}/runs/{c.id}",
            "details_url": c.details_url or f"{self.base}/{r.full_name}/runs/{c.id}",
            "status": c.status,
            "conclusion": c.conclusion,
            "started_at": iso(c.started_at) if c.started_at else None,
            "completed_at": iso(c.completed_at) if c.completed_at else None,
            "output": {
                "title": out.get("title"),
                "summary": out.get("summary"),
                "text": out.get("text"),
                "annotations_count": len(out.get("annotations") or []),
                "annotations_url": f"{api}/check-runs/{c.id}/annotations",
            },
            "name": c.name,
            "check_suite": {"id": c.id},
            "app": self.via_app(c.creator),
            "pull_requests": [
                {
                    "id": pr.id,
                    "number": i.number,
                    "url": f"{api}/pulls/{i.number}",
                    "head": {
                        "ref": pr.head_ref,
                        "sha": c.head_sha,
                        "repo": {"id": r.id, "url": api, "name": r.name},
                    },
                    "base": {
                        "ref": pr.base_ref,
                        "sha": r.base_sha(i),
                        "repo": {"id": r.id, "url": api, "name": r.name},
                    },
                }
                for i, pr in r.open_pulls_at(c.head_sha)
            ],
        }

    def deployment(self, r: Repo, d: Deployment) -> dict[str, Any]:
        api = f"{self.base}/repos/{r.full_name}"
        return {
            "url": f"{api}/deployments/{d.id}",
            "id": d.id,
            "node_id": node_id("DE", d.id),
            "sha": d.sha,
            "ref": d.ref,
            "task": d.task,
            "payload": d.payload,
            "original_environment": d.original_environment,
            "environment": d.environment,
            "description": d.description,
            "creator": self.simple_user(d.creator),
            "created_at": iso(d.created_at),
            "updated_at": iso(d.statuses[-1].created_at if d.statuses else d.created_at),
            "statuses_url": f"{api}/deployments/{d.id}/statuses",
            "repository_url": api,
            "transient_environment": d.transient_environment,
            "production_environment": d.production_environment,
            "performed_via_github_app": self.via_app(d.creator),
        }

    def deployment_status(self, r: Repo, s: DeploymentStatus) -> dict[str, Any]:
        api = f"{self.base}/repos/{r.full_name}"
        return {
            "url": f"{api}/deployments/{s.deployment_id}/statuses/{s.id}",
            "id": s.id,
            "node_id": node_id("DES", s.id),
            "state": s.state,
            "creator": self.simple_user(s.creator),
            "description": s.description,
            "environment": s.environment,
            "target_url": s.target_url,
            "created_at": iso(s.created_at),
            "updated_at": iso(s.created_at),
            "deployment_url": f"{api}/deployments/{s.deployment_id}",
            "repository_url": api,
            "environment_url": s.environment_url,
            "log_url": s.log_url,
            "performed_via_github_app": self.via_app(s.creator),
        }
