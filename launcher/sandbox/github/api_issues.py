"""Issue, comment, label and issue-search endpoints (pull requests are issues too)."""

from __future__ import annotations

import shlex
from typing import Any

from launcher.sandbox.github.api_git import R, repo_of
from launcher.sandbox.github.http import ApiError, Request, Response, Router, not_found, validation
from launcher.sandbox.github.state import Issue, Label, Repo


def _labels_arg(body: Any) -> list[str]:
    """Accept ``["a"]``, ``{"labels": ["a"]}`` or ``{"labels": [{"name": "a"}]}``."""
    labels = body.get("labels") if isinstance(body, dict) else body
    if labels is None:
        return []
    if isinstance(labels, str):
        labels = [labels]
    if not isinstance(labels, list):
        raise validation(resource="Label", field="labels", code="invalid")
    return [x["name"] if isinstance(x, dict) else x for x in labels]


SEARCH_QUALIFIERS = {"is", "type", "state", "label", "-label", "author", "head", "base", "repo"}


def valid_color(color: Any) -> str:
    """A label color: six hex digits, with or without ``#`` (GitHub's 422 otherwise)."""
    value = color.lstrip("#") if isinstance(color, str) else ""
    if len(value) != 6 or any(c not in "0123456789abcdefABCDEF" for c in value):
        raise validation(resource="Label", field="color", code="invalid")
    return value.lower()


def matches(issue: Issue, repo: Repo, quals: dict[str, list[str]], words: list[str]) -> bool:
    pr = issue.pull
    for kind in quals.get("is", []) + quals.get("type", []):
        if kind in ("pr", "pull-request") and pr is None:
            return False
        if kind == "issue" and pr is not None:
            return False
        if kind in ("open", "closed") and issue.state != kind:
            return False
        if kind == "merged" and not (pr and pr.merged):
            return False
        if kind == "unmerged" and (pr is None or pr.merged or issue.state != "closed"):
            return False
        if kind == "draft" and not (pr and pr.draft):
            return False
    for state in quals.get("state", []):
        if issue.state != state:
            return False
    names = {n.lower() for n in issue.labels}
    for label in quals.get("label", []):
        if not any(alt.lower() in names for alt in label.split(",")):
            return False
    for label in quals.get("-label", []):
        if label.lower() in names:
            return False
    for author in quals.get("author", []):
        if issue.user.lower() != author.lower():
            return False
    for head in quals.get("head", []):
        if pr is None or pr.head_ref != head:
            return False
    for base in quals.get("base", []):
        if pr is None or pr.base_ref != base:
            return False
    text = f"{issue.title}\n{issue.body or ''}".lower()
    return all(w.lower() in text for w in words)


def register(router: Router) -> None:  # noqa: C901 - a flat list of routes
    I = f"{R}/issues/{{issue_number}}"  # noqa: E741

    def issue_of(req: Request, repo: Repo) -> Issue:
        return req.gh.get_issue(repo, req.int_param("issue_number"))

    def label_of(req: Request, repo: Repo) -> Label:
        """The label named in the path (case-insensitively), or 404."""
        label = repo.labels.get(req.params["name"].lower())
        if label is None:
            raise not_found()
        return label

    @router.add("GET", f"{R}/issues", "issues/list-for-repo")
    def list_issues(req: Request) -> Response:
        repo = repo_of(req)
        q = req.query
        state = q.get("state", "open")
        wanted = [x.strip().lower() for x in q.get("labels", "").split(",") if x.strip()]
        items = []
        for issue in repo.issues.values():
            if state != "all" and issue.state != state:
                continue
            names = {n.lower() for n in issue.labels}
            if any(w not in names for w in wanted):
                continue
            if q.get("creator") and issue.user.lower() != q["creator"].lower():
                continue
            items.append(issue)
        sort = q.get("sort", "created")
        key = {"updated": lambda i: i.updated_at, "comments": lambda i: i.comments}.get(
            sort, lambda i: (i.created_at, i.number)
        )
        items.sort(key=key, reverse=q.get("direction", "desc") == "desc")
        shapes = req.gh.shapes
        return req.paginate(items, lambda chunk: [shapes.issue(repo, i) for i in chunk])

    @router.add("POST", f"{R}/issues", "issues/create")
    def create_issue(req: Request) -> Response:
        repo = repo_of(req)
        body = req.json()
        issue = req.gh.create_issue(
            repo,
            req.require_user(),
            body.get("title") or "",
            body.get("body"),
            _labels_arg(body) if body.get("labels") else [],
        )
        out = req.gh.shapes.issue(repo, issue)
        return Response(201, out, {"Location": out["url"]})

    @router.add("GET", I, "issues/get")
    def get_issue(req: Request) -> Response:
        repo = repo_of(req)
        return Response(200, req.gh.shapes.issue(repo, issue_of(req, repo)))

    @router.add("PATCH", I, "issues/update")
    def update_issue(req: Request) -> Response:
        repo = repo_of(req)
        issue = issue_of(req, repo)
        req.gh.update_issue(repo, issue, req.require_user(), req.json())
        return Response(200, req.gh.shapes.issue(repo, issue))

    # -- comments ---------------------------------------------------------------------------
    @router.add("GET", f"{I}/comments", "issues/list-comments")
    def list_comments(req: Request) -> Response:
        repo = repo_of(req)
        issue = issue_of(req, repo)
        comments = [c for c in repo.comments.values() if c.issue_number == issue.number]
        comments.sort(key=lambda c: c.id)
        shapes = req.gh.shapes
        return req.paginate(comments, lambda chunk: [shapes.comment(repo, c) for c in chunk])

    @router.add("POST", f"{I}/comments", "issues/create-comment")
    def create_comment(req: Request) -> Response:
        repo = repo_of(req)
        issue = issue_of(req, repo)
        body = req.json().get("body")
        comment = req.gh.add_comment(repo, issue, req.require_user(), body or "")
        out = req.gh.shapes.comment(repo, comment)
        return Response(201, out, {"Location": out["url"]})

    @router.add("GET", f"{R}/issues/comments/{{comment_id}}", "issues/get-comment")
    def get_comment(req: Request) -> Response:
        repo = repo_of(req)
        comment = req.gh.get_comment(repo, req.int_param("comment_id"))
        return Response(200, req.gh.shapes.comment(repo, comment))

    @router.add("PATCH", f"{R}/issues/comments/{{comment_id}}", "issues/update-comment")
    def update_comment(req: Request) -> Response:
        repo = repo_of(req)
        comment = req.gh.get_comment(repo, req.int_param("comment_id"))
        req.gh.edit_comment(repo, comment, req.require_user(), req.json().get("body") or "")
        return Response(200, req.gh.shapes.comment(repo, comment))

    @router.add("DELETE", f"{R}/issues/comments/{{comment_id}}", "issues/delete-comment")
    def delete_comment(req: Request) -> Response:
        repo = repo_of(req)
        comment = req.gh.get_comment(repo, req.int_param("comment_id"))
        req.gh.delete_comment(repo, comment, req.require_user())
        return Response(204)

    # -- labels ------------------------------------------------------------------------------
    def issue_labels(req: Request, repo: Repo, issue: Issue) -> list[dict[str, Any]]:
        return [req.gh.shapes.label(repo, repo.labels[n.lower()]) for n in issue.labels]

    @router.add("GET", f"{I}/labels", "issues/list-labels-on-issue")
    def list_issue_labels(req: Request) -> Response:
        repo = repo_of(req)
        return req.paginate(issue_labels(req, repo, issue_of(req, repo)))

    @router.add("POST", f"{I}/labels", "issues/add-labels")
    def add_labels(req: Request) -> Response:
        repo = repo_of(req)
        issue = issue_of(req, repo)
        req.gh.set_labels(repo, issue, req.require_user(), _labels_arg(req.body), [])
        return Response(200, issue_labels(req, repo, issue))

    @router.add("PUT", f"{I}/labels", "issues/set-labels")
    def set_labels(req: Request) -> Response:
        repo = repo_of(req)
        issue = issue_of(req, repo)
        req.gh.set_labels(repo, issue, req.require_user(), _labels_arg(req.body), [], replace=True)
        return Response(200, issue_labels(req, repo, issue))

    @router.add("DELETE", f"{I}/labels/{{name}}", "issues/remove-label")
    def remove_label(req: Request) -> Response:
        repo = repo_of(req)
        issue = issue_of(req, repo)
        name = req.params["name"]
        if name.lower() not in {n.lower() for n in issue.labels}:
            raise ApiError(404, "Label does not exist")
        req.gh.set_labels(repo, issue, req.require_user(), [], [name])
        return Response(200, issue_labels(req, repo, issue))

    @router.add("DELETE", f"{I}/labels", "issues/remove-all-labels")
    def remove_all_labels(req: Request) -> Response:
        repo = repo_of(req)
        issue = issue_of(req, repo)
        req.gh.set_labels(repo, issue, req.require_user(), [], list(issue.labels))
        return Response(204)

    @router.add("GET", f"{R}/labels", "issues/list-labels-for-repo")
    def list_repo_labels(req: Request) -> Response:
        repo = repo_of(req)
        labels = sorted(repo.labels.values(), key=lambda x: x.name.lower())
        return req.paginate([req.gh.shapes.label(repo, x) for x in labels])

    @router.add("POST", f"{R}/labels", "issues/create-label")
    def create_label(req: Request) -> Response:
        repo = repo_of(req)
        req.gh.require(repo, req.user, "write")
        body = req.json()
        name = body.get("name")
        if not name:
            raise validation(resource="Label", field="name", code="missing_field")
        if name.lower() in repo.labels:
            raise validation(resource="Label", field="name", code="already_exists")
        color = valid_color(body.get("color") or "ededed")
        label = req.gh.ensure_label(repo, name, color, body.get("description"))
        req.gh._emit(
            "label", repo, req.user or "", action="created", label=req.gh.shapes.label(repo, label)
        )
        out = req.gh.shapes.label(repo, label)
        return Response(201, out, {"Location": out["url"]})

    @router.add("PATCH", f"{R}/labels/{{name}}", "issues/update-label")
    def update_label(req: Request) -> Response:
        repo = repo_of(req)
        actor = req.gh.require(repo, req.user, "write")
        label = label_of(req, repo)
        body = req.json()
        changes: dict[str, Any] = {}
        new_name = body.get("new_name")
        if new_name is not None:
            if not isinstance(new_name, str) or not new_name:
                raise validation(resource="Label", field="name", code="invalid")
            if new_name.lower() != label.name.lower() and new_name.lower() in repo.labels:
                raise validation(resource="Label", field="name", code="already_exists")
        if "color" in body:
            color = valid_color(body["color"])
            if color != label.color:
                changes["color"] = {"from": label.color}
                label.color = color
        if "description" in body and body["description"] != label.description:
            changes["description"] = {"from": label.description or ""}
            label.description = body["description"]
        if new_name is not None and new_name != label.name:
            changes["name"] = {"from": label.name}
            old = label.name
            del repo.labels[old.lower()]
            label.name = new_name
            repo.labels[new_name.lower()] = label
            for issue in repo.issues.values():
                issue.labels = [new_name if n.lower() == old.lower() else n for n in issue.labels]
        out = req.gh.shapes.label(repo, label)
        req.gh._emit("label", repo, actor, action="edited", label=out, changes=changes)
        return Response(200, out)

    @router.add("DELETE", f"{R}/labels/{{name}}", "issues/delete-label")
    def delete_label(req: Request) -> Response:
        repo = repo_of(req)
        actor = req.gh.require(repo, req.user, "write")
        label = label_of(req, repo)
        out = req.gh.shapes.label(repo, label)
        del repo.labels[label.name.lower()]
        for issue in repo.issues.values():
            issue.labels = [n for n in issue.labels if n.lower() != label.name.lower()]
        req.gh._emit("label", repo, actor, action="deleted", label=out)
        return Response(204)

    @router.add("GET", f"{R}/labels/{{name}}", "issues/get-label")
    def get_label(req: Request) -> Response:
        repo = repo_of(req)
        label = label_of(req, repo)
        return Response(200, req.gh.shapes.label(repo, label))

    # -- search ---------------------------------------------------------------------------
    @router.add("GET", "/search/issues", "search/issues-and-pull-requests")
    def search_issues(req: Request) -> Response:
        q = req.query.get("q", "")
        if not q.strip():
            raise validation(resource="Search", field="q", code="missing")
        try:
            tokens = shlex.split(q)
        except ValueError:
            tokens = q.split()
        quals: dict[str, list[str]] = {}
        words: list[str] = []
        for tok in tokens:
            key, sep, value = tok.partition(":")
            if sep and key and value:
                if key.lower() not in SEARCH_QUALIFIERS:
                    # Refused rather than ignored: a query the stand-in cannot answer
                    # faithfully must not look like one that matched everything.
                    raise validation(
                        resource="Search",
                        field="q",
                        code="invalid",
                        message=f"The search qualifier {key}: is not implemented by the "
                        "GitHub stand-in (supported: "
                        + ", ".join(sorted(SEARCH_QUALIFIERS))
                        + ").",
                    )
                quals.setdefault(key.lower(), []).append(value.strip('"'))
            else:
                words.append(tok)
        repos = []
        for full in quals.get("repo", []):
            owner, _, name = full.partition("/")
            repo = req.gh.state.repo(owner, name)
            if repo is None or not req.gh.state.can_read(repo, req.user):
                raise validation(
                    "Validation Failed",
                    resource="Search",
                    field="q",
                    code="invalid",
                    message="The listed users and repositories cannot be searched either "
                    "because the resources do not exist or you do not have "
                    "permission to view them.",
                )
            repos.append(repo)
        if not repos:
            repos = [r for r in req.gh.state.repos.values() if req.gh.state.can_read(r, req.user)]
        hits = [
            (repo, i)
            for repo in repos
            for i in repo.issues.values()
            if matches(i, repo, quals, words)
        ]
        sort = req.query.get("sort")
        if sort == "updated":
            hits.sort(key=lambda h: h[1].updated_at, reverse=req.query.get("order") != "asc")
        else:
            hits.sort(key=lambda h: h[1].created_at, reverse=req.query.get("order") != "asc")
        shapes = req.gh.shapes

        def wrap(chunk: list[tuple[Repo, Issue]]) -> dict[str, Any]:
            return {
                "total_count": len(hits),
                "incomplete_results": False,
                "search_type": "lexical",
                "items": [{**shapes.issue(r, i), "score": 1.0} for r, i in chunk],
            }

        return req.paginate(hits[:1000], wrap)
